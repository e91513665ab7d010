/* SPDX-License-Identifier: ISC */
/*
 * sts_policy.c - the pure parts of MTA-STS (RFC 8461): the _mta-sts TXT
 * record (3.1), the policy file (3.2), MX host matching (4.1) and the
 * policy as RFC 8460's policy-string lines. See sts.h; fuzzed through
 * tests/fuzz/fuzz_sts.c.
 *
 * Both grammars are read as their ABNF says, case-sensitively ("%s"
 * literals): a record or policy that does not match is invalid, and RFC
 * 8461 then has the sender act as if the domain published nothing.
 * Within that:
 *  - TXT: v=STSv1 first, then fields separated by *WSP ";" *WSP, an
 *    optional separator at the end, nothing else (no trailing blank
 *    without a ';'); id= is 1 to 32 letters and digits and required;
 *    other fields must be well-formed extensions and are ignored; a
 *    field named "id" whose value is not a valid id makes the record
 *    invalid; a second id= is ignored.
 *  - Policy: "key:" *WSP value lines ended by LF or CRLF; version,
 *    mode and max_age required (mx too unless the mode is none);
 *    unknown keys ignored; a key other than mx given twice: the first
 *    one counts, the others are ignored (3.2). The one leniency: empty
 *    lines are skipped (the ABNF has none, files often end with one).
 *    max_age above 31557600 is invalid. An mx value is ["*."] Domain
 *    (RFC 5321: letters, digits and hyphens, no trailing dot); past
 *    STS_MX_MAX patterns the others are dropped.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tlspol/sts.h"
#include "tlspol/sts_int.h"

#define STS_WSP(c)	((c) == ' ' || (c) == '\t')
#define STS_ALNUM(c)	(((c) >= 'a' && (c) <= 'z') || \
			 ((c) >= 'A' && (c) <= 'Z') || \
			 ((c) >= '0' && (c) <= '9'))
#define STS_LOWER(c)	((c) >= 'A' && (c) <= 'Z' ? (c) - 'A' + 'a' : (c))

/* sts_ext_name - (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
static bool
sts_ext_name(const char *p, size_t len)
{
	if (len == 0 || len > 32 || !STS_ALNUM(p[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!STS_ALNUM(p[i]) && p[i] != '_' && p[i] != '-' &&
		    p[i] != '.')
			return false;
	return true;
}

/* --- the TXT record (3.1) ------------------------------------------------ */

int
sts_txt_parse(const char *txt, size_t len, char *id)
{
	static const char v[] = "v=STSv1";
	size_t i = sizeof(v) - 1, fields = 0;
	bool have_id = false;

	if (txt == NULL || len < i || memcmp(txt, v, i) != 0)
		return -1;
	for (;;) {
		size_t name, nlen, val, vlen;

		/* sts-sep = *WSP ";" *WSP */
		while (i < len && STS_WSP(txt[i]))
			i++;
		if (i >= len || txt[i] != ';')
			return -1;
		i++;
		while (i < len && STS_WSP(txt[i]))
			i++;
		if (i == len)
			break;		/* the optional separator at the end */
		/* a field: NAME "=" VALUE */
		name = i;
		while (i < len && txt[i] != '=' && txt[i] != ';' &&
		    !STS_WSP(txt[i]))
			i++;
		nlen = i - name;
		if (i >= len || txt[i] != '=')
			return -1;
		val = ++i;
		/* ext-value: %x21-3A / %x3C / %x3E-7E (no "=", ";", SP) */
		while (i < len && (unsigned char)txt[i] >= 0x21 &&
		    (unsigned char)txt[i] <= 0x7e && txt[i] != '=' &&
		    txt[i] != ';')
			i++;
		vlen = i - val;
		if (vlen == 0 || !sts_ext_name(txt + name, nlen))
			return -1;
		if (nlen == 2 && memcmp(txt + name, "id", 2) == 0) {
			/* sts-id = %s"id=" 1*32(ALPHA / DIGIT) */
			if (vlen > STS_ID_MAX)
				return -1;
			for (size_t k = 0; k < vlen; k++)
				if (!STS_ALNUM(txt[val + k]))
					return -1;
			if (!have_id) {
				memcpy(id, txt + val, vlen);
				id[vlen] = '\0';
				have_id = true;
			}
		}
		fields++;
		if (i == len)
			break;
	}
	return fields > 0 && have_id ? 0 : -1;
}

/* --- the policy file (3.2) ---------------------------------------------- */

/* sts_domain_ok - RFC 5321 Domain: sub-domain *("." sub-domain), each
   Let-dig [Ldh-str], at most 63 octets; 253 in all */
static bool
sts_domain_ok(const char *p, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (c == '.') {
			if (label == 0 || p[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!STS_ALNUM(c) && !(c == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && p[len - 1] != '-';
}

bool
sts_domain_valid(const char *domain)
{
	return domain != NULL && sts_domain_ok(domain, strlen(domain));
}

/* sts_mx_pattern - ["*."] Domain, lower-cased into out (256 bytes) */
static bool
sts_mx_pattern(const char *p, size_t len, char *out)
{
	size_t off = len >= 2 && p[0] == '*' && p[1] == '.' ? 2 : 0;

	if (!sts_domain_ok(p + off, len - off))
		return false;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)STS_LOWER(p[i]);
	out[len] = '\0';
	return true;
}

/* sts_value_eq - value is exactly lit */
static bool
sts_value_eq(const char *p, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(p, lit, len) == 0;
}

enum sts_key {
	STS_K_VERSION,
	STS_K_MODE,
	STS_K_MAX_AGE,
	STS_K_MX,
	STS_K_OTHER,
};

static enum sts_key
sts_key(const char *p, size_t len)
{
	if (sts_value_eq(p, len, "version"))
		return STS_K_VERSION;
	if (sts_value_eq(p, len, "mode"))
		return STS_K_MODE;
	if (sts_value_eq(p, len, "max_age"))
		return STS_K_MAX_AGE;
	if (sts_value_eq(p, len, "mx"))
		return STS_K_MX;
	return STS_K_OTHER;
}

/* sts_policy_field - one "key: value" line; -1 with err */
static int
sts_policy_field(const char *p, size_t len, size_t lineno, bool seen[3],
    struct sts_policy *out, struct err *err)
{
	size_t k = 0, v, vlen;
	enum sts_key key;

	while (k < len && p[k] != ':')
		k++;
	if (k == len || !sts_ext_name(p, k))
		return err_set(err, 0, "line %zu: not \"key: value\"", lineno);
	v = k + 1;
	while (v < len && STS_WSP(p[v]))
		v++;
	vlen = len - v;
	while (vlen > 0 && STS_WSP(p[v + vlen - 1]))
		vlen--;
	if (vlen == 0)
		return err_set(err, 0, "line %zu: %.*s: no value", lineno,
		    (int)k, p);
	/* sts-policy-vchar: VCHAR or UTF-8, WSP between them; no CTLs */
	for (size_t i = v; i < v + vlen; i++) {
		unsigned char c = (unsigned char)p[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return err_set(err, 0, "line %zu: control character",
			    lineno);
	}
	key = sts_key(p, k);
	p += v;
	if (key != STS_K_OTHER && key != STS_K_MX) {
		/* 3.2: a field other than mx given again is ignored */
		if (seen[key])
			return 0;
		seen[key] = true;
	}
	switch (key) {
	case STS_K_VERSION:
		if (!sts_value_eq(p, vlen, "STSv1"))
			return err_set(err, 0, "line %zu: version is not"
			    " STSv1", lineno);
		break;
	case STS_K_MODE:
		if (sts_value_eq(p, vlen, "enforce"))
			out->mode = STS_MODE_ENFORCE;
		else if (sts_value_eq(p, vlen, "testing"))
			out->mode = STS_MODE_TESTING;
		else if (sts_value_eq(p, vlen, "none"))
			out->mode = STS_MODE_NONE;
		else
			return err_set(err, 0, "line %zu: mode is not enforce,"
			    " testing or none", lineno);
		break;
	case STS_K_MAX_AGE: {
		uint64_t n = 0;

		if (vlen > 10)
			return err_set(err, 0, "line %zu: max_age: more than"
			    " 10 digits", lineno);
		for (size_t i = 0; i < vlen; i++) {
			if (p[i] < '0' || p[i] > '9')
				return err_set(err, 0, "line %zu: max_age is"
				    " not a number", lineno);
			n = n * 10 + (uint64_t)(p[i] - '0');
		}
		if (n > STS_MAX_AGE)
			return err_set(err, 0, "line %zu: max_age above %u",
			    lineno, STS_MAX_AGE);
		out->max_age = (uint32_t)n;
		break;
	}
	case STS_K_MX: {
		char pat[256];

		if (!sts_mx_pattern(p, vlen, pat))
			return err_set(err, 0, "line %zu: mx is not a host"
			    " name or *.domain", lineno);
		if (out->nmx < STS_MX_MAX)
			memcpy(out->mx[out->nmx++], pat, vlen + 1);
		break;
	}
	case STS_K_OTHER:
		break;
	}
	return 0;
}

int
sts_policy_parse(const char *body, size_t len, struct sts_policy *out,
    struct err *err)
{
	bool seen[3] = { false, false, false };
	size_t i = 0, lineno = 0;

	memset(out, 0, sizeof(*out));
	if (body == NULL)
		len = 0;
	while (i < len) {
		const char *line = body + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t n = nl ? (size_t)(nl - line) : len - i;

		i += n + (nl ? 1 : 0);
		lineno++;
		if (n > 0 && line[n - 1] == '\r')
			n--;		/* CRLF */
		if (n == 0)
			continue;	/* an empty line: skipped */
		if (sts_policy_field(line, n, lineno, seen, out, err) == -1)
			return -1;
	}
	if (!seen[STS_K_VERSION])
		return err_set(err, 0, "no version");
	if (!seen[STS_K_MODE])
		return err_set(err, 0, "no mode");
	if (!seen[STS_K_MAX_AGE])
		return err_set(err, 0, "no max_age");
	if (out->nmx == 0 && out->mode != STS_MODE_NONE)
		return err_set(err, 0, "no mx");
	return 0;
}

/* --- MX matching (4.1) -------------------------------------------------- */

bool
sts_mx_match(const struct sts_policy *p, const char *host)
{
	size_t hlen = host ? strlen(host) : 0;
	const char *rest;

	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	if (hlen == 0)
		return false;
	for (size_t i = 0; i < p->nmx && i < STS_MX_MAX; i++) {
		const char *pat = p->mx[i];

		if (pat[0] == '*' && pat[1] == '.') {
			/* "*." stands for exactly one label */
			if ((rest = memchr(host, '.', hlen)) == NULL ||
			    rest == host)
				continue;
			rest++;
			if (strlen(pat + 2) == hlen - (size_t)(rest - host) &&
			    strncasecmp(rest, pat + 2, strlen(pat + 2)) == 0)
				return true;
		} else if (strlen(pat) == hlen &&
		    strncasecmp(host, pat, hlen) == 0) {
			return true;
		}
	}
	return false;
}

/* --- RFC 8460 policy-string --------------------------------------------- */

const char *
sts_mode_str(enum sts_mode m)
{
	switch (m) {
	case STS_MODE_ENFORCE:
		return "enforce";
	case STS_MODE_TESTING:
		return "testing";
	default:
		return "none";
	}
}

size_t
sts_policy_lines(const struct sts_policy *p, char (*lines)[300], size_t max)
{
	size_t n = 0;

	if (n < max)
		snprintf(lines[n++], 300, "version: STSv1");
	if (n < max)
		snprintf(lines[n++], 300, "mode: %s", sts_mode_str(p->mode));
	for (size_t i = 0; i < p->nmx && i < STS_MX_MAX && n < max; i++)
		snprintf(lines[n++], 300, "mx: %s", p->mx[i]);
	if (n < max)
		snprintf(lines[n++], 300, "max_age: %u", p->max_age);
	return n;
}
