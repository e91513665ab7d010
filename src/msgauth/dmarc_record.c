/* SPDX-License-Identifier: ISC */
/*
 * dmarc_record.c - the DMARC policy record (RFC 7489 6.3) into a struct
 * dmarc_record. Pure; fuzzed through tests/fuzz/fuzz_dmarc_record.c.
 *
 * The record uses DKIM's tag=value syntax, but is read leniently, as
 * 6.3 and 6.6.3 ask: v=DMARC1 must come first and match exactly (tag
 * names and "DMARC1" are case-sensitive, policy and alignment values are
 * not: ABNF literals); an unknown tag, or an invalid adkim, aspf, pct or
 * np (RFC 9091 3.2) value, is skipped ("syntax errors in the remainder of
 * the record SHOULD be discarded in favor of default values"). p= is
 * different (6.6.3 step 6): without a valid p=, or with an sp= that is
 * present but invalid, the record counts only if its rua= holds a
 * syntactically valid URI, and then as a record saying just p=none (so
 * sp and np are none too); otherwise it is unusable.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "msgauth/dmarc.h"

static const char *const dmarc_policy_names[] = {
	[DMARC_POLICY_NONE] = "none",
	[DMARC_POLICY_QUARANTINE] = "quarantine",
	[DMARC_POLICY_REJECT] = "reject",
};

static const char *const dmarc_result_names[] = {
	[DMARC_RESULT_NONE] = "none",
	[DMARC_RESULT_PASS] = "pass",
	[DMARC_RESULT_FAIL] = "fail",
	[DMARC_RESULT_TEMPERROR] = "temperror",
	[DMARC_RESULT_PERMERROR] = "permerror",
};

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	if ((size_t)p >= sizeof(dmarc_policy_names) /
	    sizeof(dmarc_policy_names[0]))
		return "none";
	return dmarc_policy_names[p];
}

const char *
dmarc_result_name(enum dmarc_result r)
{
	if ((size_t)r >= sizeof(dmarc_result_names) /
	    sizeof(dmarc_result_names[0]))
		return "permerror";
	return dmarc_result_names[r];
}

static struct str
dmarc_record_trim(struct str s)
{
	while (s.len && isspace((unsigned char)s.p[0]))
		s.p++, s.len--;
	while (s.len && isspace((unsigned char)s.p[s.len - 1]))
		s.len--;
	return s;
}

/* dmarc_record_next - the next "name=value" of the list, trimmed */
static bool
dmarc_record_next(struct str *rest, struct str *name, struct str *value)
{
	struct str spec;
	const char *eq;

	if (rest->p == NULL)
		return false;
	spec = str_cut(rest, ';');
	if (rest->len == 0 && spec.p + spec.len == rest->p)
		rest->p = NULL;		/* that was the last one */
	spec = dmarc_record_trim(spec);
	eq = spec.len ? memchr(spec.p, '=', spec.len) : NULL;
	if (eq == NULL) {
		*name = spec;
		*value = STR_NULL;
		return true;
	}
	*name = dmarc_record_trim(str_make(spec.p, (size_t)(eq - spec.p)));
	*value = dmarc_record_trim(str_make(eq + 1,
	    spec.len - (size_t)(eq + 1 - spec.p)));
	return true;
}

bool
dmarc_record_is_dmarc(struct str txt)
{
	struct str name, value;

	if (!dmarc_record_next(&txt, &name, &value))
		return false;
	return str_eq(name, STR("v")) && str_eq(value, STR("DMARC1"));
}

static int
dmarc_record_policy(struct str v, enum dmarc_policy *out)
{
	for (size_t i = 0; i < sizeof(dmarc_policy_names) /
	    sizeof(dmarc_policy_names[0]); i++) {
		if (str_eq_nocase(v, str_cstr(dmarc_policy_names[i]))) {
			*out = (enum dmarc_policy)i;
			return 0;
		}
	}
	return -1;
}

static int
dmarc_record_align(struct str v, enum dmarc_align *out)
{
	if (str_eq_nocase(v, STR("r")))
		*out = DMARC_ALIGN_RELAXED;
	else if (str_eq_nocase(v, STR("s")))
		*out = DMARC_ALIGN_STRICT;
	else
		return -1;
	return 0;
}

/* dmarc_record_uri_ok - at least one "scheme:..." URI in a rua/ruf list */
static bool
dmarc_record_uri_ok(struct str v)
{
	while (v.len) {
		struct str uri = dmarc_record_trim(str_cut(&v, ','));
		size_t i = 0;

		while (i < uri.len && (isalnum((unsigned char)uri.p[i]) ||
		    uri.p[i] == '+' || uri.p[i] == '-' || uri.p[i] == '.'))
			i++;
		if (i > 0 && isalpha((unsigned char)uri.p[0]) &&
		    i + 1 < uri.len && uri.p[i] == ':')
			return true;
	}
	return false;
}

int
dmarc_record_parse(struct str txt, struct dmarc_record *out, struct err *err)
{
	struct str rest = txt, name, value;
	bool have_p = false, bad_sp = false, first = true;

	memset(out, 0, sizeof(*out));
	out->pct = 100;
	while (dmarc_record_next(&rest, &name, &value)) {
		if (first) {
			if (!str_eq(name, STR("v")) ||
			    !str_eq(value, STR("DMARC1")))
				return err_set(err, EINVAL, "not a v=DMARC1 "
				    "record");
			first = false;
			continue;
		}
		if (name.len == 0 && value.p == NULL)
			continue;		/* empty spec, trailing ';' */
		if (str_eq(name, STR("p"))) {
			if (dmarc_record_policy(value, &out->p) == 0)
				have_p = true;
		} else if (str_eq(name, STR("sp"))) {
			if (dmarc_record_policy(value, &out->sp) == 0)
				out->has_sp = true;
			else
				bad_sp = true;
		} else if (str_eq(name, STR("np"))) {
			if (dmarc_record_policy(value, &out->np) == 0)
				out->has_np = true;
		} else if (str_eq(name, STR("adkim"))) {
			if (dmarc_record_align(value, &out->adkim) == -1)
				out->adkim = DMARC_ALIGN_RELAXED;
		} else if (str_eq(name, STR("aspf"))) {
			if (dmarc_record_align(value, &out->aspf) == -1)
				out->aspf = DMARC_ALIGN_RELAXED;
		} else if (str_eq(name, STR("pct"))) {
			unsigned v = 0;
			size_t i;

			for (i = 0; i < value.len && i < 4 &&
			    isdigit((unsigned char)value.p[i]); i++)
				v = v * 10 + (unsigned)(value.p[i] - '0');
			if (value.len > 0 && i == value.len && v <= 100)
				out->pct = v;
		} else if (str_eq(name, STR("rua"))) {
			out->has_rua = dmarc_record_uri_ok(value);
		} else if (str_eq(name, STR("ruf"))) {
			out->has_ruf = dmarc_record_uri_ok(value);
		}
		/* fo, rf, ri and unknown tags: nothing to do here */
	}
	if (first)
		return err_set(err, EINVAL, "empty record");
	if (!have_p || bad_sp) {
		/* 6.6.3 step 6: as if "v=DMARC1; p=none", or not at all */
		if (!out->has_rua)
			return err_set(err, EINVAL, "%s and no valid rua=",
			    have_p ? "invalid sp=" : "no valid p=");
		out->p = out->sp = out->np = DMARC_POLICY_NONE;
		out->has_sp = out->has_np = false;
		out->none_by_rua = true;
		return 0;
	}
	if (!out->has_sp)
		out->sp = out->p;
	if (!out->has_np)
		out->np = out->sp;
	return 0;
}
