/* SPDX-License-Identifier: ISC */
/*
 * smtp_param.c - ESMTP parameters of MAIL and RCPT (RFC 5321 4.1.2
 * Mail-parameters / Rcpt-parameters).
 *
 * Pure: no I/O, no globals, no allocation; string results point into the
 * caller's parameter text. Understood: SIZE (RFC 1870), BODY=7BIT|8BITMIME
 * (RFC 6152; BINARYMIME of RFC 3030 is refused as unsupported), SMTPUTF8
 * (RFC 6531), RET, ENVID, NOTIFY, ORCPT (RFC 3461, ORCPT utf-8 type of
 * RFC 6533), AUTH (RFC 4954) and REQUIRETLS (RFC 8689 2: no value).
 *
 * Organisation: one keyword table per command, each row naming whether a
 * value is required and the function that checks it; smtp_param_parse()
 * is the engine that splits the list, finds rows, refuses repeats and
 * checks the generic esmtp-value syntax. Fuzzed by
 * tests/fuzz/fuzz_smtp_param.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"
#include "smtp/smtp_param.h"

#define SMTP_PARAM_SIZE_DIGITS	20	/* UINT64_MAX has 20 digits */
#define SMTP_PARAM_ENVID_MAX	100	/* RFC 3461 4.4 */
#define SMTP_PARAM_ORCPT_MAX	500	/* RFC 3461 4.2 */

typedef enum smtp_param_result smtp_param_fn(struct str value, void *out,
    const char **why_out);

struct smtp_param_kw {
	const char	*name;
	bool		 has_value;	/* "KW=value", else a bare "KW" */
	smtp_param_fn	*check;		/* checks value, stores it in out */
};

static enum smtp_param_result smtp_param_parse(struct str params,
    const struct smtp_param_kw *kws, size_t nkws, void *out,
    const char **why_out);
static enum smtp_param_result smtp_param_fail(enum smtp_param_result r,
    const char *why, const char **why_out);
static bool smtp_param_keyword_valid(struct str kw);
static bool smtp_param_value_valid(struct str value);
static bool smtp_param_atom_valid(struct str s);
static bool smtp_param_utf8_xtext_valid(struct str s);
static bool smtp_param_hex(char c, bool upper_only);
static smtp_param_fn smtp_param_size;
static smtp_param_fn smtp_param_body;
static smtp_param_fn smtp_param_smtputf8;
static smtp_param_fn smtp_param_ret;
static smtp_param_fn smtp_param_envid;
static smtp_param_fn smtp_param_auth;
static smtp_param_fn smtp_param_requiretls;
static smtp_param_fn smtp_param_notify;
static smtp_param_fn smtp_param_orcpt;

static const struct smtp_param_kw smtp_param_mail_kws[] = {
	{ "SIZE",	true,	smtp_param_size },
	{ "BODY",	true,	smtp_param_body },
	{ "SMTPUTF8",	false,	smtp_param_smtputf8 },
	{ "RET",	true,	smtp_param_ret },
	{ "ENVID",	true,	smtp_param_envid },
	{ "AUTH",	true,	smtp_param_auth },
	{ "REQUIRETLS",	false,	smtp_param_requiretls },
};

static const struct smtp_param_kw smtp_param_rcpt_kws[] = {
	{ "NOTIFY",	true,	smtp_param_notify },
	{ "ORCPT",	true,	smtp_param_orcpt },
};

/* smtp_param_parse_mail - MAIL parameters; see smtp_param.h */
enum smtp_param_result
smtp_param_parse_mail(struct str params, struct smtp_mail_params *out,
    const char **why_out)
{
	*out = (struct smtp_mail_params){ .has_size = false };
	return smtp_param_parse(params, smtp_param_mail_kws,
	    sizeof(smtp_param_mail_kws) / sizeof(smtp_param_mail_kws[0]),
	    out, why_out);
}

/* smtp_param_parse_rcpt - RCPT parameters; see smtp_param.h */
enum smtp_param_result
smtp_param_parse_rcpt(struct str params, struct smtp_rcpt_params *out,
    const char **why_out)
{
	*out = (struct smtp_rcpt_params){ .notify = 0 };
	return smtp_param_parse(params, smtp_param_rcpt_kws,
	    sizeof(smtp_param_rcpt_kws) / sizeof(smtp_param_rcpt_kws[0]),
	    out, why_out);
}

/*
 * smtp_param_xtext_valid - RFC 3461 4: xchar is "!".."~" but "+" and
 * "="; hexchar is "+" and two upper-case hex digits.
 */
bool
smtp_param_xtext_valid(struct str s)
{
	size_t i;

	for (i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c == '+') {
			if (s.len - i < 3 ||
			    !smtp_param_hex(s.p[i + 1], true) ||
			    !smtp_param_hex(s.p[i + 2], true))
				return false;
			i += 2;
		} else if (c < '!' || c > '~' || c == '=')
			return false;
	}
	return true;
}

/*
 * smtp_param_parse - the engine: split params at spaces, look each
 * keyword up in kws, refuse repeats, check and store the value.
 */
static enum smtp_param_result
smtp_param_parse(struct str params, const struct smtp_param_kw *kws,
    size_t nkws, void *out, const char **why_out)
{
	const struct smtp_param_kw *kw;
	struct str tok, key, value;
	enum smtp_param_result r;
	unsigned seen = 0;
	bool has_eq;
	size_t i;

	if (why_out != NULL)
		*why_out = NULL;
	while (params.len > 0) {
		tok = str_cut(&params, ' ');
		if (tok.len == 0)
			continue;
		value = tok;
		key = str_cut(&value, '=');
		has_eq = key.len != tok.len;
		if (!smtp_param_keyword_valid(key))
			return smtp_param_fail(SMTP_PARAM_SYNTAX,
			    "Invalid parameter keyword", why_out);
		for (i = 0; i < nkws; i++)
			if (str_eq_nocase(key, str_cstr(kws[i].name)))
				break;
		if (i == nkws)
			return smtp_param_fail(SMTP_PARAM_UNKNOWN,
			    "Unsupported parameter", why_out);
		kw = &kws[i];
		if (seen & (1u << i))
			return smtp_param_fail(SMTP_PARAM_SYNTAX,
			    "Repeated parameter", why_out);
		seen |= 1u << i;
		if (kw->has_value && (!has_eq || value.len == 0))
			return smtp_param_fail(SMTP_PARAM_SYNTAX,
			    "Parameter requires a value", why_out);
		if (!kw->has_value && has_eq)
			return smtp_param_fail(SMTP_PARAM_SYNTAX,
			    "Parameter takes no value", why_out);
		if (kw->has_value && !smtp_param_value_valid(value))
			return smtp_param_fail(SMTP_PARAM_SYNTAX,
			    "Invalid character in parameter value", why_out);
		if ((r = kw->check(value, out, why_out)) != SMTP_PARAM_OK)
			return r;
	}
	return SMTP_PARAM_OK;
}

static enum smtp_param_result
smtp_param_fail(enum smtp_param_result r, const char *why,
    const char **why_out)
{
	if (why_out != NULL)
		*why_out = why;
	return r;
}

/* smtp_param_keyword_valid - esmtp-keyword: (ALPHA / DIGIT) *(... / "-") */
static bool
smtp_param_keyword_valid(struct str kw)
{
	size_t i;

	if (kw.len == 0 || kw.p[0] == '-')
		return false;
	for (i = 0; i < kw.len; i++) {
		char c = kw.p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/*
 * smtp_param_value_valid - esmtp-value: %d33-60 / %d62-126, and
 * UTF8-non-ascii (RFC 6531 3.3); the keyword's check narrows it further.
 */
static bool
smtp_param_value_valid(struct str value)
{
	size_t i;

	for (i = 0; i < value.len; i++) {
		unsigned char c = (unsigned char)value.p[i];

		if ((c < 33 || c > 126 || c == '=') && c < 0x80)
			return false;
	}
	return true;
}

/* smtp_param_atom_valid - RFC 5322 atom (atext only), for addr-type */
static bool
smtp_param_atom_valid(struct str s)
{
	static const char specials[] = "!#$%&'*+-/=?^_`{|}~";
	size_t i;

	if (s.len == 0)
		return false;
	for (i = 0; i < s.len; i++) {
		char c = s.p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') ||
		    (c != '\0' && strchr(specials, c) != NULL)))
			return false;
	}
	return true;
}

/*
 * smtp_param_utf8_xtext_valid - RFC 6533 3: utf-8-addr-xtext and
 * utf-8-addr-unitext; QCHAR is "!".."~" but "+", "=" and "\", plus
 * UTF-8 beyond ASCII, and "\x{HEX}" escapes (2 to 6 hex digits).
 */
static bool
smtp_param_utf8_xtext_valid(struct str s)
{
	size_t i, j, n;

	for (i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c >= 0x80) {
			n = utf8_seq_len((const unsigned char *)s.p + i,
			    s.len - i);
			if (n == 0)
				return false;
			i += n - 1;
		} else if (c == '\\') {
			if (s.len - i < 4 || s.p[i + 1] != 'x' ||
			    s.p[i + 2] != '{')
				return false;
			for (j = i + 3; j < s.len && smtp_param_hex(s.p[j],
			    false); j++)
				;
			if (j == s.len || s.p[j] != '}' || j - (i + 3) < 2 ||
			    j - (i + 3) > 6)
				return false;
			i = j;
		} else if (c < '!' || c > '~' || c == '+' || c == '=')
			return false;
	}
	return true;
}

static bool
smtp_param_hex(char c, bool upper_only)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') ||
	    (!upper_only && c >= 'a' && c <= 'f');
}

/* smtp_param_size - RFC 1870: SIZE=1*20DIGIT, must fit in 64 bits */
static enum smtp_param_result
smtp_param_size(struct str value, void *out, const char **why_out)
{
	struct smtp_mail_params *mp = out;
	uint64_t n = 0, d;
	size_t i;

	if (value.len > SMTP_PARAM_SIZE_DIGITS)
		return smtp_param_fail(SMTP_PARAM_SYNTAX, "SIZE too large",
		    why_out);
	for (i = 0; i < value.len; i++) {
		if (value.p[i] < '0' || value.p[i] > '9')
			return smtp_param_fail(SMTP_PARAM_SYNTAX,
			    "SIZE must be a number", why_out);
		d = (uint64_t)(value.p[i] - '0');
		if (n > (UINT64_MAX - d) / 10)
			return smtp_param_fail(SMTP_PARAM_SYNTAX,
			    "SIZE too large", why_out);
		n = n * 10 + d;
	}
	mp->has_size = true;
	mp->size = n;
	return SMTP_PARAM_OK;
}

/* smtp_param_body - RFC 6152: BODY=7BIT / 8BITMIME */
static enum smtp_param_result
smtp_param_body(struct str value, void *out, const char **why_out)
{
	struct smtp_mail_params *mp = out;

	if (str_eq_nocase(value, STR("7BIT")))
		mp->body = SMTP_BODY_7BIT;
	else if (str_eq_nocase(value, STR("8BITMIME")))
		mp->body = SMTP_BODY_8BITMIME;
	else if (str_eq_nocase(value, STR("BINARYMIME")))
		return smtp_param_fail(SMTP_PARAM_UNKNOWN,
		    "BODY=BINARYMIME not supported", why_out);
	else
		return smtp_param_fail(SMTP_PARAM_SYNTAX,
		    "BODY must be 7BIT or 8BITMIME", why_out);
	return SMTP_PARAM_OK;
}

/* smtp_param_smtputf8 - RFC 6531 3.4: bare SMTPUTF8 */
static enum smtp_param_result
smtp_param_smtputf8(struct str value, void *out, const char **why_out)
{
	struct smtp_mail_params *mp = out;

	(void)value;
	(void)why_out;
	mp->smtputf8 = true;
	return SMTP_PARAM_OK;
}

/* smtp_param_ret - RFC 3461 4.3: RET=FULL / HDRS */
static enum smtp_param_result
smtp_param_ret(struct str value, void *out, const char **why_out)
{
	struct smtp_mail_params *mp = out;

	if (str_eq_nocase(value, STR("FULL")))
		mp->ret = SMTP_RET_FULL;
	else if (str_eq_nocase(value, STR("HDRS")))
		mp->ret = SMTP_RET_HDRS;
	else
		return smtp_param_fail(SMTP_PARAM_SYNTAX,
		    "RET must be FULL or HDRS", why_out);
	return SMTP_PARAM_OK;
}

/* smtp_param_envid - RFC 3461 4.4: ENVID=xtext, at most 100 characters */
static enum smtp_param_result
smtp_param_envid(struct str value, void *out, const char **why_out)
{
	struct smtp_mail_params *mp = out;

	if (value.len > SMTP_PARAM_ENVID_MAX)
		return smtp_param_fail(SMTP_PARAM_SYNTAX, "ENVID too long",
		    why_out);
	if (!smtp_param_xtext_valid(value))
		return smtp_param_fail(SMTP_PARAM_SYNTAX,
		    "ENVID must be xtext", why_out);
	mp->envid = value;
	return SMTP_PARAM_OK;
}

/* smtp_param_auth - RFC 4954 5: AUTH=xtext or AUTH=<> (itself xtext) */
static enum smtp_param_result
smtp_param_auth(struct str value, void *out, const char **why_out)
{
	struct smtp_mail_params *mp = out;

	if (!smtp_param_xtext_valid(value))
		return smtp_param_fail(SMTP_PARAM_SYNTAX,
		    "AUTH must be xtext or <>", why_out);
	mp->auth = value;
	return SMTP_PARAM_OK;
}

/* smtp_param_requiretls - RFC 8689 2: bare REQUIRETLS */
static enum smtp_param_result
smtp_param_requiretls(struct str value, void *out, const char **why_out)
{
	struct smtp_mail_params *mp = out;

	(void)value;
	(void)why_out;
	mp->requiretls = true;
	return SMTP_PARAM_OK;
}

/*
 * smtp_param_notify - RFC 3461 4.1: NOTIFY=NEVER, or a comma list of
 * SUCCESS, FAILURE, DELAY. A list element given twice is harmless and
 * accepted.
 */
static enum smtp_param_result
smtp_param_notify(struct str value, void *out, const char **why_out)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} words[] = {
		{ "NEVER",	SMTP_NOTIFY_NEVER },
		{ "SUCCESS",	SMTP_NOTIFY_SUCCESS },
		{ "FAILURE",	SMTP_NOTIFY_FAILURE },
		{ "DELAY",	SMTP_NOTIFY_DELAY },
	};
	struct smtp_rcpt_params *rp = out;
	struct str item, rest = value;
	unsigned bits = 0;
	bool more;
	size_t i;

	do {
		more = memchr(rest.p, ',', rest.len) != NULL;
		item = str_cut(&rest, ',');
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (str_eq_nocase(item, str_cstr(words[i].name)))
				break;
		if (i == sizeof(words) / sizeof(words[0]))
			return smtp_param_fail(SMTP_PARAM_SYNTAX,
			    "NOTIFY must be NEVER or SUCCESS,FAILURE,DELAY",
			    why_out);
		bits |= words[i].bit;
	} while (more);
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return smtp_param_fail(SMTP_PARAM_SYNTAX,
		    "NOTIFY=NEVER cannot be combined", why_out);
	rp->notify = bits;
	return SMTP_PARAM_OK;
}

/*
 * smtp_param_orcpt - RFC 3461 4.2: ORCPT=addr-type ";" xtext, at most
 * 500 characters; addr-type "utf-8" takes RFC 6533 utf-8-addr-xtext or
 * -unitext instead of xtext.
 */
static enum smtp_param_result
smtp_param_orcpt(struct str value, void *out, const char **why_out)
{
	struct smtp_rcpt_params *rp = out;
	struct str type, addr = value;
	bool ok;

	if (value.len > SMTP_PARAM_ORCPT_MAX)
		return smtp_param_fail(SMTP_PARAM_SYNTAX, "ORCPT too long",
		    why_out);
	type = str_cut(&addr, ';');
	if (type.len == value.len || !smtp_param_atom_valid(type) ||
	    addr.len == 0)
		return smtp_param_fail(SMTP_PARAM_SYNTAX,
		    "ORCPT must be addr-type;address", why_out);
	if (str_eq_nocase(type, STR("utf-8")))
		ok = smtp_param_utf8_xtext_valid(addr);
	else
		ok = smtp_param_xtext_valid(addr);
	if (!ok)
		return smtp_param_fail(SMTP_PARAM_SYNTAX,
		    "ORCPT address must be xtext", why_out);
	rp->orcpt = value;
	return SMTP_PARAM_OK;
}
