/* SPDX-License-Identifier: ISC */
/*
 * spf_macro.c - RFC 7208 section 7: macro-string syntax and expansion.
 * Pure: the values come in a struct spf_macro_ctx, the output goes into
 * the caller's capped buffer; fuzzed through tests/fuzz/fuzz_spf_record.c.
 *
 * One tokenizer (spf_macro_next) serves the syntax check, the expansion
 * and the domain-spec rule "ends in a macro-expand or in a toplabel"
 * (section 12, domain-end), so the three cannot disagree.
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "msgauth/spf.h"

enum spf_macro_tok_kind {
	SPF_MTOK_LITERAL,	/* a run of literal octets */
	SPF_MTOK_ESCAPE,	/* %% %_ %-: text holds the replacement */
	SPF_MTOK_EXPAND,	/* %{...} */
};

struct spf_macro_tok {
	enum spf_macro_tok_kind	 kind;
	struct str		 text;		/* literal / escape replacement */
	char			 letter;	/* lower case */
	bool			 upper;		/* URL-escape the result */
	unsigned		 keep;		/* right-hand parts; 0 = all */
	bool			 reverse;
	char			 delims[8];	/* NUL-terminated; "" = "." */
};

#define SPF_MACRO_KEEP_MAX	1000	/* larger DIGIT values mean "all" */

static int	spf_macro_next(struct str *, unsigned, struct spf_macro_tok *,
		    struct err *);
static int	spf_macro_value(const struct spf_macro_tok *,
		    const struct spf_macro_ctx *, struct buf *);
static int	spf_macro_transform(const struct spf_macro_tok *, struct str,
		    struct buf *);
static bool	spf_macro_toplabel(struct str);

/* spf_macro_literal - macro-literal (7.1): visible ASCII but '%'; SP in exp */
static bool
spf_macro_literal(unsigned char c, unsigned flags)
{
	if (c == ' ')
		return (flags & SPF_MACRO_EXP) != 0;
	return c >= 0x21 && c <= 0x7e && c != '%';
}

/*
 * spf_macro_next - the next token of *s; s advances past it. 0, or -1 on
 * a syntax error: a '%' not followed by '{', '%', '_' or '-', an unknown
 * letter (c, r, t only with SPF_MACRO_EXP), a zero DIGIT, an unknown
 * delimiter, a missing '}', or an octet outside macro-literal.
 */
static int
spf_macro_next(struct str *s, unsigned flags, struct spf_macro_tok *tok,
    struct err *err)
{
	const char *p = s->p, *end = s->p + s->len;
	size_t nd = 0;

	memset(tok, 0, sizeof(*tok));
	if (*p != '%') {
		while (p < end && *p != '%') {
			if (!spf_macro_literal((unsigned char)*p, flags))
				return err_set(err, EINVAL, "invalid character "
				    "0x%02x in macro-string", (unsigned char)*p);
			p++;
		}
		tok->kind = SPF_MTOK_LITERAL;
		tok->text = str_make(s->p, (size_t)(p - s->p));
		goto done;
	}
	if (++p >= end)
		return err_set(err, EINVAL, "'%%' at the end of a macro-string");
	switch (*p) {
	case '%':
		tok->kind = SPF_MTOK_ESCAPE;
		tok->text = STR("%");
		p++;
		goto done;
	case '_':
		tok->kind = SPF_MTOK_ESCAPE;
		tok->text = STR(" ");
		p++;
		goto done;
	case '-':
		tok->kind = SPF_MTOK_ESCAPE;
		tok->text = STR("%20");
		p++;
		goto done;
	case '{':
		break;
	default:
		return err_set(err, EINVAL, "'%%%c' is not a macro",
		    isprint((unsigned char)*p) ? *p : '?');
	}
	if (++p >= end)
		return err_set(err, EINVAL, "unterminated macro");
	tok->kind = SPF_MTOK_EXPAND;
	tok->upper = isupper((unsigned char)*p) != 0;
	tok->letter = (char)tolower((unsigned char)*p);
	if (strchr("slodiphv", tok->letter) == NULL &&
	    !((flags & SPF_MACRO_EXP) && strchr("crt", tok->letter) != NULL))
		return err_set(err, EINVAL, "unknown macro letter '%c'",
		    isprint((unsigned char)*p) ? *p : '?');
	p++;
	if (p < end && *p >= '0' && *p <= '9') {
		unsigned v = 0;

		while (p < end && *p >= '0' && *p <= '9') {
			if (v < SPF_MACRO_KEEP_MAX)
				v = v * 10 + (unsigned)(*p - '0');
			p++;
		}
		if (v == 0)
			return err_set(err, EINVAL, "macro part count 0");
		tok->keep = v > SPF_MACRO_KEEP_MAX ? 0 : v;
	}
	if (p < end && (*p == 'r' || *p == 'R')) {
		tok->reverse = true;
		p++;
	}
	while (p < end && *p != '}') {
		if (strchr(".-+,/_=", *p) == NULL || *p == '\0')
			return err_set(err, EINVAL, "invalid macro delimiter "
			    "'%c'", isprint((unsigned char)*p) ? *p : '?');
		if (memchr(tok->delims, *p, nd) == NULL &&
		    nd < sizeof(tok->delims) - 1)
			tok->delims[nd++] = *p;
		p++;
	}
	if (p >= end)
		return err_set(err, EINVAL, "unterminated macro");
	p++;
done:
	s->len -= (size_t)(p - s->p);
	s->p = p;
	return 0;
}

int
spf_macro_check(struct str spec, unsigned flags, struct err *err)
{
	struct spf_macro_tok tok;

	while (spec.len)
		if (spf_macro_next(&spec, flags, &tok, err) == -1)
			return -1;
	return 0;
}

bool
spf_macro_uses_p(struct str spec)
{
	struct spf_macro_tok tok;

	while (spec.len) {
		if (spf_macro_next(&spec, SPF_MACRO_EXP, &tok, NULL) == -1)
			return false;
		if (tok.kind == SPF_MTOK_EXPAND && tok.letter == 'p')
			return true;
	}
	return false;
}

/*
 * spf_macro_toplabel - RFC 7208 toplabel: alphanumerics and '-', starting
 * and ending alphanumeric, not all digits (it has a letter or a '-').
 */
static bool
spf_macro_toplabel(struct str l)
{
	bool alpha = false, dash = false;

	if (l.len == 0 || !isalnum((unsigned char)l.p[0]) ||
	    !isalnum((unsigned char)l.p[l.len - 1]))
		return false;
	for (size_t i = 0; i < l.len; i++) {
		unsigned char c = (unsigned char)l.p[i];

		if (isalpha(c))
			alpha = true;
		else if (c == '-')
			dash = true;
		else if (!isdigit(c))
			return false;
	}
	return alpha || dash;
}

/*
 * spf_domain_spec_valid - domain-spec = macro-string domain-end, and
 * domain-end = ( "." toplabel [ "." ] ) / macro-expand. Checked on the
 * record's text, never after expansion (the test suite insists).
 */
bool
spf_domain_spec_valid(struct str spec)
{
	struct spf_macro_tok tok;
	struct str s = spec, tail;
	bool last_expand = false;
	const char *dot;

	if (spec.len == 0)
		return false;
	while (s.len) {
		if (spf_macro_next(&s, 0, &tok, NULL) == -1)
			return false;
		last_expand = tok.kind != SPF_MTOK_LITERAL;
	}
	if (last_expand)
		return true;
	tail = spec;
	if (tail.p[tail.len - 1] == '.')
		tail.len--;
	for (dot = tail.p + tail.len; dot > tail.p && dot[-1] != '.'; dot--)
		;
	if (dot == tail.p)
		return false;		/* no "." before the toplabel */
	/* the toplabel must be plain literal text, not the tail of a macro */
	if (memchr(dot, '%', (size_t)(tail.p + tail.len - dot)) != NULL)
		return false;
	return spf_macro_toplabel(str_make(dot,
	    (size_t)(tail.p + tail.len - dot)));
}

/* spf_macro_ip_text - %{i}: dotted quad, or 32 dot-separated nibbles */
static void
spf_macro_ip_text(const struct spf_macro_ctx *ctx, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (ctx->family != AF_INET6) {
		snprintf(out, outlen, "%u.%u.%u.%u", ctx->ip[0], ctx->ip[1],
		    ctx->ip[2], ctx->ip[3]);
		return;
	}
	for (int i = 0; i < 16 && o + 4 < outlen; i++) {
		out[o++] = hex[ctx->ip[i] >> 4];
		out[o++] = '.';
		out[o++] = hex[ctx->ip[i] & 0xf];
		out[o++] = '.';
	}
	out[o ? o - 1 : 0] = '\0';
}

/* spf_macro_value - the raw value of one %{x}, transformed, into out */
static int
spf_macro_value(const struct spf_macro_tok *tok,
    const struct spf_macro_ctx *ctx, struct buf *out)
{
	char tmp[INET6_ADDRSTRLEN + 80];
	struct str v = STR_NULL;

	switch (tok->letter) {
	case 's':
		v = ctx->sender;
		break;
	case 'l':
		v = ctx->local;
		break;
	case 'o':
		v = ctx->sender_domain;
		break;
	case 'd':
		v = ctx->domain;
		break;
	case 'i':
		spf_macro_ip_text(ctx, tmp, sizeof(tmp));
		v = str_cstr(tmp);
		break;
	case 'c':
		if (inet_ntop(ctx->family == AF_INET6 ? AF_INET6 : AF_INET,
		    ctx->ip, tmp, sizeof(tmp)) == NULL)
			tmp[0] = '\0';
		v = str_cstr(tmp);
		break;
	case 'p':
		v = ctx->ptr.len ? ctx->ptr : STR("unknown");
		break;
	case 'h':
		v = ctx->helo;
		break;
	case 'r':
		v = ctx->receiver.len ? ctx->receiver : STR("unknown");
		break;
	case 't':
		snprintf(tmp, sizeof(tmp), "%" PRIu64, ctx->now);
		v = str_cstr(tmp);
		break;
	case 'v':
		v = ctx->family == AF_INET6 ? STR("ip6") : STR("in-addr");
		break;
	}
	if (v.p == NULL)
		v = STR("");
	return spf_macro_transform(tok, v, out);
}

/*
 * spf_macro_transform - split v on the delimiters, reverse if asked, keep
 * the right-most keep parts, join with '.'; then URL-escape if the letter
 * was upper case (7.3). Without transformers the value is copied as is.
 */
static int
spf_macro_transform(const struct spf_macro_tok *tok, struct str v,
    struct buf *out)
{
	const char *delims = tok->delims[0] ? tok->delims : ".";
	size_t nparts = 1, n = 0, first, start = out->len;
	struct str *parts;
	const char *p;
	int r = 0;

	if (tok->keep == 0 && !tok->reverse && tok->delims[0] == '\0') {
		if (buf_append_str(out, v) == -1)
			return -1;
		goto escape;
	}
	for (size_t i = 0; i < v.len; i++)
		if (v.p[i] != '\0' && strchr(delims, v.p[i]) != NULL)
			nparts++;
	parts = xcalloc(nparts, sizeof(*parts));
	p = v.p;
	for (size_t i = 0; i <= v.len; i++) {
		if (i < v.len && (v.p[i] == '\0' || strchr(delims, v.p[i]) ==
		    NULL))
			continue;
		parts[n++] = str_make(p, (size_t)(v.p + i - p));
		p = v.p + i + 1;
	}
	if (tok->reverse) {
		for (size_t i = 0; i < n / 2; i++) {
			struct str t = parts[i];

			parts[i] = parts[n - 1 - i];
			parts[n - 1 - i] = t;
		}
	}
	first = tok->keep && tok->keep < n ? n - tok->keep : 0;
	for (size_t k = first; k < n && r == 0; k++) {
		if (k > first)
			r = buf_append(out, ".", 1);
		if (r == 0)
			r = buf_append_str(out, parts[k]);
	}
	free(parts);
	if (r == -1)
		return -1;
escape:
	if (tok->upper) {
		/* URL-escape what was appended: all but unreserved octets */
		size_t len = out->len - start;
		char *copy = xmalloc(len + 1);

		memcpy(copy, out->data ? out->data + start : "", len);
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		for (size_t i = 0; i < len && r == 0; i++) {
			unsigned char c = (unsigned char)copy[i];

			if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
			    c == '~')
				r = buf_append(out, &copy[i], 1);
			else
				r = buf_appendf(out, "%%%02X", c);
		}
		free(copy);
	}
	return r;
}

int
spf_macro_expand(struct str spec, const struct spf_macro_ctx *ctx,
    unsigned flags, struct buf *out, struct err *err)
{
	struct spf_macro_tok tok;
	int r = 0;

	while (spec.len && r == 0) {
		if (spf_macro_next(&spec, flags, &tok, err) == -1)
			return -1;
		if (tok.kind == SPF_MTOK_EXPAND)
			r = spf_macro_value(&tok, ctx, out);
		else
			r = buf_append_str(out, tok.text);
	}
	if (r == -1)
		return err_set(err, E2BIG, "macro expansion too long");
	return 0;
}

int
spf_macro_domain(struct str spec, const struct spf_macro_ctx *ctx,
    struct buf *out, struct err *err)
{
	struct buf tmp;
	struct str name;
	int rc = 1;

	buf_reset(out);
	buf_init(&tmp, 64 * 1024);
	if (spf_macro_expand(spec, ctx, 0, &tmp, err) == -1) {
		buf_fini(&tmp);
		return -1;
	}
	name = buf_str(&tmp);
	if (name.len && name.p[name.len - 1] == '.')
		name.len--;
	/* 4.8: drop labels on the left until the name fits */
	while (name.len > SPF_DOMAIN_MAX) {
		const char *dot = memchr(name.p, '.', name.len);

		if (dot == NULL)
			goto out;
		name.len -= (size_t)(dot + 1 - name.p);
		name.p = dot + 1;
	}
	if (name.len == 0)
		goto out;
	for (size_t i = 0, l = 0; i <= name.len; i++) {
		if (i < name.len && name.p[i] != '.') {
			if (++l > 63)
				goto out;
			continue;
		}
		if (l == 0)
			goto out;	/* empty label */
		l = 0;
	}
	if (buf_append_str(out, name) == 0)
		rc = 0;
out:
	buf_fini(&tmp);
	return rc;
}
