/* SPDX-License-Identifier: ISC */
/*
 * arh.c - Authentication-Results (RFC 8601): formatting our field and
 * removing forged ones. Pure.
 *
 * Property values are written as RFC 8601 2.2 allows: a token, an
 * addr-spec ("local@domain" with a dot-atom local part), or else a
 * quoted-string. Reasons go in comments, with '(' ')' '\' escaped.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "msgauth/arh.h"
#include "msgauth/msgauth_hdr.h"

#define ARH_TSPECIALS	"()<>@,;:\\\"/[]?="

static bool
arh_is_token(struct str s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c <= 0x20 || c >= 0x7f || strchr(ARH_TSPECIALS, c))
			return false;
	}
	return true;
}

/* arh_is_dot_atom - atext runs separated by single dots */
static bool
arh_is_dot_atom(struct str s)
{
	if (s.len == 0 || s.p[0] == '.' || s.p[s.len - 1] == '.')
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c == '.') {
			if (s.p[i - 1] == '.')
				return false;
			continue;
		}
		if (!isalnum(c) && strchr("!#$%&'*+-/=?^_`{|}~", c) == NULL)
			return false;
	}
	return true;
}

/* arh_value - a property value: token, local@domain, or quoted-string */
static void
arh_value(struct buf *b, const char *v)
{
	struct str s = str_cstr(v);
	const char *at = strrchr(v, '@');

	if (arh_is_token(s) || (at != NULL && (at == v ||
	    arh_is_dot_atom(str_make(v, (size_t)(at - v)))) &&
	    arh_is_token(str_cstr(at + 1)))) {
		buf_append_str(b, s);
		return;
	}
	buf_append(b, "\"", 1);
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c < 0x20 || c == 0x7f)
			continue;
		if (c == '"' || c == '\\')
			buf_append(b, "\\", 1);
		buf_append(b, &s.p[i], 1);
	}
	buf_append(b, "\"", 1);
}

/* arh_comment - " (text)" with the specials escaped; nothing if empty */
static void
arh_comment(struct buf *b, const char *text)
{
	if (text == NULL || text[0] == '\0')
		return;
	buf_puts(b, " (");
	for (const char *p = text; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			continue;
		if (c == '(' || c == ')' || c == '\\')
			buf_append(b, "\\", 1);
		buf_append(b, p, 1);
	}
	buf_append(b, ")", 1);
}

static void
arh_prop(struct buf *b, const char *name, const char *value)
{
	buf_appendf(b, " %s=", name);
	arh_value(b, value);
}

/* one resinfo per piece, so the field can fold between them */
struct arh_pieces {
	struct buf	 parts[2 + DKIM_VERIFY_MAX + 8];
	size_t		 n;
};

static struct buf *
arh_piece(struct arh_pieces *p)
{
	struct buf *b = &p->parts[p->n++];

	buf_init(b, 0);
	return b;
}

static void
arh_spf(struct arh_pieces *p, const struct spf_answer *spf)
{
	struct buf *b = arh_piece(p);
	bool helo = spf->identity && strcmp(spf->identity, "helo") == 0;

	buf_appendf(b, "spf=%s", spf_result_name(spf->result));
	if (spf->result != SPF_PASS)
		arh_comment(b, spf->problem);
	if (helo)
		arh_prop(b, "smtp.helo", spf->domain ? spf->domain : "");
	else
		arh_prop(b, "smtp.mailfrom", spf->sender ? spf->sender : "");
}

static void
arh_dkim(struct arh_pieces *p, const struct dkim_verdict *v)
{
	struct buf *b = arh_piece(p);

	buf_appendf(b, "dkim=%s", dkim_result_name(v->result));
	if (v->result != DKIM_PASS)
		arh_comment(b, v->reason);
	else if (v->testing)
		arh_comment(b, "key in testing mode");
	if (v->d[0])
		arh_prop(b, "header.d", v->d);
	if (v->s[0])
		arh_prop(b, "header.s", v->s);
	if (v->i[0] && v->result == DKIM_PASS)
		arh_prop(b, "header.i", v->i);
	if (v->b[0])
		arh_prop(b, "header.b", v->b);
}

static void
arh_dmarc(struct arh_pieces *p, const struct dmarc_verdict *v)
{
	struct buf *b = arh_piece(p);
	char why[160];

	buf_appendf(b, "dmarc=%s", dmarc_result_name(v->result));
	if (v->result == DMARC_RESULT_PASS || v->result == DMARC_RESULT_FAIL) {
		snprintf(why, sizeof(why), "p=%s sp=%s%s%s pct=%u%s%s%s",
		    dmarc_policy_name(v->rec.p), dmarc_policy_name(v->rec.sp),
		    v->rec.has_np ? " np=" : "",
		    v->rec.has_np ? dmarc_policy_name(v->rec.np) : "",
		    v->rec.pct, v->rec.none_by_rua ?
		    " (invalid policy, rua: none)" : "",
		    v->sampled_out ? " sampled out" : "",
		    v->result == DMARC_RESULT_FAIL && v->reason[0] ? "; " : "");
		if (v->result == DMARC_RESULT_FAIL)
			strncat(why, v->reason, sizeof(why) - strlen(why) - 1);
		arh_comment(b, why);
		arh_prop(b, "policy.dmarc", dmarc_policy_name(v->disposition));
	} else {
		arh_comment(b, v->reason);
	}
	if (v->from[0])
		arh_prop(b, "header.from", v->from);
}

int
arh_format(const struct arh_input *in, struct buf *value_out,
    struct buf *field_out)
{
	struct arh_pieces p;
	size_t col;
	int rc = 0;

	p.n = 0;
	arh_value(arh_piece(&p), in->authserv_id ? in->authserv_id : "");
	if (in->spf != NULL)
		arh_spf(&p, in->spf);
	if (in->ndkim == 0)
		buf_puts(arh_piece(&p), "dkim=none");
	for (size_t i = 0; i < in->ndkim && i < DKIM_VERIFY_MAX; i++)
		arh_dkim(&p, &in->dkim[i]);
	for (size_t i = 0; i < in->ndmarc && i < 8; i++)
		arh_dmarc(&p, &in->dmarc[i]);

	for (size_t i = 0; i < p.n; i++) {
		if (i > 0 && buf_puts(value_out, "; ") == -1)
			rc = -1;
		if (buf_append_str(value_out, buf_str(&p.parts[i])) == -1)
			rc = -1;
	}
	if (field_out != NULL) {
		buf_puts(field_out, "Authentication-Results:");
		col = 23;
		for (size_t i = 0; i < p.n; i++) {
			struct str piece = buf_str(&p.parts[i]);
			const char *sep = i + 1 < p.n ? ";" : "";

			/* one resinfo per line; long ones fold at spaces */
			if (i > 0) {
				buf_puts(field_out, "\r\n\t");
				col = 8;
			} else {
				buf_puts(field_out, " ");
				col++;
			}
			while (piece.len) {
				struct str word = str_cut(&piece, ' ');

				if (col + word.len > ARH_WIDTH && col > 8) {
					buf_puts(field_out, "\r\n\t");
					col = 8;
				} else if (word.p != p.parts[i].data) {
					buf_puts(field_out, " ");
					col++;
				}
				buf_append_str(field_out, word);
				col += word.len;
			}
			if (buf_puts(field_out, sep) == -1)
				rc = -1;
		}
		if (buf_puts(field_out, "\r\n") == -1)
			rc = -1;
	}
	for (size_t i = 0; i < p.n; i++)
		buf_fini(&p.parts[i]);
	return rc;
}

/* ---------------------------------------------------------------------
 * Reading an authserv-id
 */

/* arh_cfws - skip blanks, folding and (nested) comments */
static size_t
arh_cfws(struct str s, size_t i)
{
	int depth = 0;

	for (; i < s.len; i++) {
		char c = s.p[i];

		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (c == '(')
			depth++;
		else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			break;
	}
	return i;
}

int
arh_authserv_id(struct str value, char *tmp, size_t tmplen,
    struct str *id_out)
{
	size_t i = arh_cfws(value, 0), start = i, o = 0;

	if (i >= value.len)
		return -1;
	if (value.p[i] == '"') {
		for (i++; i < value.len && value.p[i] != '"'; i++) {
			if (value.p[i] == '\\' && i + 1 < value.len)
				i++;
			if (o + 1 >= tmplen)
				return -1;
			tmp[o++] = value.p[i];
		}
		if (i >= value.len || o == 0)
			return -1;
		tmp[o] = '\0';
		*id_out = str_make(tmp, o);
		return 0;
	}
	while (i < value.len) {
		unsigned char c = (unsigned char)value.p[i];

		if (c <= 0x20 || c >= 0x7f || c == ';' || c == '(' ||
		    c == '"')
			break;
		i++;
	}
	if (i == start)
		return -1;
	*id_out = str_make(value.p + start, i - start);
	return 0;
}

int
arh_strip(const char *msg, size_t len, const char *authserv_id,
    struct buf *out)
{
	struct msgauth_hdr h;
	const char *from = msg;
	int removed = 0;

	msgauth_hdr_parse(msg, len, &h);
	for (size_t i = 0; i < h.n; i++) {
		const struct msgauth_field *f = &h.f[i];
		const char *end;
		char tmp[256];
		struct str id;

		if (!str_eq_nocase(f->name, STR("Authentication-Results")) ||
		    arh_authserv_id(f->value, tmp, sizeof(tmp), &id) == -1 ||
		    !str_eq_nocase(id, str_cstr(authserv_id)))
			continue;
		/* the field and its CRLF go; keep what came before */
		end = f->raw.p + f->raw.len;
		if (end + 2 <= msg + len && end[0] == '\r' && end[1] == '\n')
			end += 2;
		if (buf_append(out, from, (size_t)(f->raw.p - from)) == -1)
			goto fail;
		from = end;
		removed++;
	}
	if (buf_append(out, from, (size_t)(msg + len - from)) == -1)
		goto fail;
	msgauth_hdr_fini(&h);
	return removed;
fail:
	msgauth_hdr_fini(&h);
	return -1;
}
