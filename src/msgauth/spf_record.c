/* SPDX-License-Identifier: ISC */
/*
 * spf_record.c - RFC 7208 record syntax (sections 4.5, 4.6, 5, 6, 12) to
 * a struct spf_record. Pure: no I/O, no globals; terms are slices of the
 * caller's text. Fuzzed through tests/fuzz/fuzz_spf_record.c.
 *
 * The whole record is checked before anything is evaluated (4.6: "If
 * there are any syntax errors anywhere in the record, check_host()
 * returns immediately with the result permerror"): every octet must be
 * printable ASCII or SP, every term a known mechanism or a well-formed
 * modifier, every domain-spec a valid macro-string ending in a macro or
 * a toplabel, every CIDR length in range and without leading zeros.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "msgauth/spf.h"

struct spf_record_mech {
	const char	*name;
	enum spf_mech	 mech;
};

static const struct spf_record_mech spf_record_mechs[] = {
	{ "all", SPF_MECH_ALL },
	{ "include", SPF_MECH_INCLUDE },
	{ "a", SPF_MECH_A },
	{ "mx", SPF_MECH_MX },
	{ "ptr", SPF_MECH_PTR },
	{ "ip4", SPF_MECH_IP4 },
	{ "ip6", SPF_MECH_IP6 },
	{ "exists", SPF_MECH_EXISTS },
};

static const char *const spf_result_names[] = {
	[SPF_NONE] = "none",
	[SPF_NEUTRAL] = "neutral",
	[SPF_PASS] = "pass",
	[SPF_FAIL] = "fail",
	[SPF_SOFTFAIL] = "softfail",
	[SPF_TEMPERROR] = "temperror",
	[SPF_PERMERROR] = "permerror",
};

static int	spf_record_term(struct str, struct spf_record *, struct err *);
static int	spf_record_modifier(struct str, struct str, struct spf_record *,
		    struct err *);
static int	spf_record_mech(struct str, struct spf_term *, struct err *);
static int	spf_record_cidr(struct str, unsigned, unsigned *);
static int	spf_record_ip4(struct str, uint8_t *);

const char *
spf_result_name(enum spf_result r)
{
	if ((size_t)r >= sizeof(spf_result_names) / sizeof(spf_result_names[0]))
		return "permerror";
	return spf_result_names[r];
}

bool
spf_record_is_spf(struct str txt)
{
	return str_prefix_nocase(txt, STR("v=spf1")) &&
	    (txt.len == 6 || txt.p[6] == ' ');
}

int
spf_record_parse(struct str txt, struct spf_record *out, struct err *err)
{
	struct str rest, term;

	memset(out, 0, sizeof(*out));
	if (!spf_record_is_spf(txt))
		return err_set(err, EINVAL, "not a v=spf1 record");
	for (size_t i = 0; i < txt.len; i++) {
		unsigned char c = (unsigned char)txt.p[i];

		if (c < 0x20 || c > 0x7e)
			return err_set(err, EINVAL, "invalid character 0x%02x "
			    "in record", c);
	}
	rest = str_make(txt.p + 6, txt.len - 6);
	while (rest.len) {
		term = str_cut(&rest, ' ');
		if (term.len == 0)
			continue;	/* 1*SP between terms */
		if (spf_record_term(term, out, err) == -1) {
			spf_record_fini(out);
			return -1;
		}
	}
	return 0;
}

void
spf_record_fini(struct spf_record *rec)
{
	free(rec->terms);
	memset(rec, 0, sizeof(*rec));
}

/*
 * spf_record_term - a modifier is name "=" with name = ALPHA *(ALPHA /
 * DIGIT / "-" / "_" / "."), the '=' before any ':' or '/'; anything else
 * must be a directive.
 */
static int
spf_record_term(struct str term, struct spf_record *rec, struct err *err)
{
	struct spf_term t;
	size_t i = 0;

	if (isalpha((unsigned char)term.p[0])) {
		while (i < term.len && (isalnum((unsigned char)term.p[i]) ||
		    term.p[i] == '-' || term.p[i] == '_' || term.p[i] == '.'))
			i++;
		if (i < term.len && term.p[i] == '=')
			return spf_record_modifier(str_make(term.p, i),
			    str_make(term.p + i + 1, term.len - i - 1), rec,
			    err);
	}
	if (spf_record_mech(term, &t, err) == -1)
		return -1;
	rec->terms = xreallocarray(rec->terms, rec->nterms + 1,
	    sizeof(*rec->terms));
	rec->terms[rec->nterms++] = t;
	return 0;
}

static int
spf_record_modifier(struct str name, struct str value, struct spf_record *rec,
    struct err *err)
{
	struct str *slot = NULL;

	if (str_eq_nocase(name, STR("redirect")))
		slot = &rec->redirect;
	else if (str_eq_nocase(name, STR("exp")))
		slot = &rec->exp;
	if (slot == NULL) {
		/* unknown-modifier = name "=" macro-string: checked, ignored */
		if (spf_macro_check(value, 0, err) == -1)
			return -1;
		return 0;
	}
	if (slot->p != NULL)
		return err_set(err, EINVAL, "%.*s= given twice", STR_FMT(name));
	if (spf_macro_check(value, 0, err) == -1)
		return -1;
	if (!spf_domain_spec_valid(value))
		return err_set(err, EINVAL, "bad domain-spec '%.*s' in %.*s=",
		    STR_FMT(value), STR_FMT(name));
	*slot = value;
	return 0;
}

/* spf_record_mech - [qualifier] name [":" ...] [cidr] into t */
static int
spf_record_mech(struct str term, struct spf_term *t, struct err *err)
{
	struct str s = term, name, arg = STR_NULL;
	const struct spf_record_mech *m = NULL;
	bool colon;
	size_t n;

	memset(t, 0, sizeof(*t));
	t->qual = SPF_PASS;
	t->cidr4 = 32;
	t->cidr6 = 128;
	switch (s.p[0]) {
	case '+': t->qual = SPF_PASS; break;
	case '-': t->qual = SPF_FAIL; break;
	case '~': t->qual = SPF_SOFTFAIL; break;
	case '?': t->qual = SPF_NEUTRAL; break;
	default: goto name;
	}
	s.p++, s.len--;
name:
	for (n = 0; n < s.len && s.p[n] != ':' && s.p[n] != '/'; n++)
		;
	name = str_make(s.p, n);
	for (size_t i = 0; i < sizeof(spf_record_mechs) /
	    sizeof(spf_record_mechs[0]); i++)
		if (str_eq_nocase(name, str_cstr(spf_record_mechs[i].name)))
			m = &spf_record_mechs[i];
	if (m == NULL)
		return err_set(err, EINVAL, "unknown mechanism '%.*s'",
		    STR_FMT(term));
	t->mech = m->mech;
	s.p += n, s.len -= n;		/* ":..." and/or "/..." or empty */
	colon = s.len && s.p[0] == ':';

	switch (t->mech) {
	case SPF_MECH_ALL:
		if (s.len)
			goto bad;
		return 0;
	case SPF_MECH_INCLUDE:
	case SPF_MECH_EXISTS:
		if (!colon)
			goto bad;
		t->domain = str_make(s.p + 1, s.len - 1);
		goto domain;
	case SPF_MECH_PTR:
		if (s.len && !colon)
			goto bad;	/* "ptr/0" */
		if (colon) {
			t->domain = str_make(s.p + 1, s.len - 1);
			goto domain;
		}
		return 0;
	case SPF_MECH_A:
	case SPF_MECH_MX:
		/* [ ":" domain-spec ] [ ip4-cidr-length ] [ "//" ip6-cidr ] */
		for (int pass = 0; pass < 2; pass++) {
			size_t d = s.len;

			while (d > 0 && isdigit((unsigned char)s.p[d - 1]))
				d--;
			if (d == s.len || d == 0 || s.p[d - 1] != '/')
				continue;
			if (pass == 0 && d >= 2 && s.p[d - 2] == '/') {
				if (spf_record_cidr(str_make(s.p + d,
				    s.len - d), 128, &t->cidr6) == -1)
					goto bad_cidr;
				s.len = d - 2;
			} else {
				if (spf_record_cidr(str_make(s.p + d,
				    s.len - d), 32, &t->cidr4) == -1)
					goto bad_cidr;
				s.len = d - 1;
				break;
			}
		}
		if (s.len == 0)
			return 0;
		if (s.p[0] != ':')
			goto bad;
		t->domain = str_make(s.p + 1, s.len - 1);
		goto domain;
	case SPF_MECH_IP4:
	case SPF_MECH_IP6:
		if (!colon)
			goto bad;
		arg = str_make(s.p + 1, s.len - 1);
		for (n = arg.len; n > 0 && arg.p[n - 1] != '/'; n--)
			;
		if (n > 0) {
			if (spf_record_cidr(str_make(arg.p + n, arg.len - n),
			    t->mech == SPF_MECH_IP4 ? 32 : 128,
			    t->mech == SPF_MECH_IP4 ? &t->cidr4 : &t->cidr6)
			    == -1)
				goto bad_cidr;
			arg.len = n - 1;
		}
		if (t->mech == SPF_MECH_IP4) {
			if (spf_record_ip4(arg, t->addr) == -1)
				goto bad;
		} else {
			char tmp[64];

			if (arg.len == 0 || arg.len >= sizeof(tmp))
				goto bad;
			memcpy(tmp, arg.p, arg.len);
			tmp[arg.len] = '\0';
			if (inet_pton(AF_INET6, tmp, t->addr) != 1)
				goto bad;
		}
		return 0;
	}
bad:
	return err_set(err, EINVAL, "bad mechanism '%.*s'", STR_FMT(term));
bad_cidr:
	return err_set(err, EINVAL, "bad CIDR length in '%.*s'", STR_FMT(term));
domain:
	if (spf_macro_check(t->domain, 0, err) == -1)
		return -1;
	if (!spf_domain_spec_valid(t->domain))
		return err_set(err, EINVAL, "bad domain-spec in '%.*s'",
		    STR_FMT(term));
	return 0;
}

/* spf_record_cidr - "0" or a number without leading zero, at most max */
static int
spf_record_cidr(struct str s, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (s.len == 0 || s.len > 3 || (s.len > 1 && s.p[0] == '0'))
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		if (!isdigit((unsigned char)s.p[i]))
			return -1;
		v = v * 10 + (unsigned)(s.p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* spf_record_ip4 - ip4-network: four decimal octets, no leading zeros */
static int
spf_record_ip4(struct str s, uint8_t *addr)
{
	size_t i = 0;

	for (int k = 0; k < 4; k++) {
		unsigned v = 0, nd = 0;

		if (k > 0) {
			if (i >= s.len || s.p[i] != '.')
				return -1;
			i++;
		}
		while (i < s.len && isdigit((unsigned char)s.p[i]) && nd < 4) {
			v = v * 10 + (unsigned)(s.p[i] - '0');
			if (nd == 1 && v < 10)
				return -1;	/* "0x" leading zero */
			nd++, i++;
		}
		if (nd == 0 || nd > 3 || v > 255)
			return -1;
		addr[k] = (uint8_t)v;
	}
	return i == s.len ? 0 : -1;
}
