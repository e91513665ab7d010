/* SPDX-License-Identifier: ISC */
/*
 * test_dmarc_record.c - the DMARC policy record parser (RFC 7489 6.3,
 * with malformed and lenient cases), organizational domains (libpsl),
 * alignment in both modes, and dmarc_evaluate(): aligned and unaligned
 * SPF and DKIM, p/sp, pct sampling.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msgauth/dmarc.h"

#define N	DMARC_POLICY_NONE
#define Q	DMARC_POLICY_QUARANTINE
#define R	DMARC_POLICY_REJECT
#define RLX	DMARC_ALIGN_RELAXED
#define STR_	DMARC_ALIGN_STRICT

struct rec_case {
	const char		*in;
	int			 want;
	enum dmarc_policy	 p, sp, np;
	enum dmarc_align	 adkim, aspf;
	unsigned		 pct;
	bool			 none_by_rua;
};

static const struct rec_case rec_cases[] = {
	{ "v=DMARC1; p=none", 0, N, N, N, RLX, RLX, 100, false },
	{ "v=DMARC1; p=reject", 0, R, R, R, RLX, RLX, 100, false },
	{ "v=DMARC1;p=quarantine;", 0, Q, Q, Q, RLX, RLX, 100, false },
	/* 6.4: policy values are ABNF literals, case-insensitive */
	{ "v=DMARC1; p=REJECT; sp=none", 0, R, N, N, RLX, RLX, 100, false },
	{ "v=DMARC1; p=reject; adkim=s; aspf=s; pct=25", 0, R, R, R, STR_,
	  STR_, 25, false },
	{ "v=DMARC1; p=reject; adkim=S; aspf=S", 0, R, R, R, STR_, STR_, 100,
	  false },
	/* 6.4: *WSP around '=' and ';' */
	{ "v=DMARC1 ; p = quarantine ; pct = 0", 0, Q, Q, Q, RLX, RLX, 0,
	  false },
	{ "v=DMARC1; p=none; rua=mailto:d@example.com; ruf=mailto:f@x.org; "
	  "fo=1; rf=afrf; ri=3600", 0, N, N, N, RLX, RLX, 100, false },
	/* 6.3: unknown tags are ignored */
	{ "v=DMARC1; p=reject; unknown=tag; another", 0, R, R, R, RLX, RLX,
	  100, false },
	{ "v=DMARC1; p=reject; P=none", 0, R, R, R, RLX, RLX, 100, false },
	/* 6.3: invalid adkim/aspf/pct fall back to their defaults */
	{ "v=DMARC1; p=reject; adkim=x; aspf=", 0, R, R, R, RLX, RLX, 100,
	  false },
	{ "v=DMARC1; p=reject; pct=101", 0, R, R, R, RLX, RLX, 100, false },
	{ "v=DMARC1; p=reject; pct=-5", 0, R, R, R, RLX, RLX, 100, false },
	{ "v=DMARC1; p=reject; pct=abc", 0, R, R, R, RLX, RLX, 100, false },
	{ "v=DMARC1; p=reject; pct=", 0, R, R, R, RLX, RLX, 100, false },
	/* 6.3: sp absent -> p; RFC 9091 3.2: np absent -> sp, then p */
	{ "v=DMARC1; p=quarantine; sp=none", 0, Q, N, N, RLX, RLX, 100,
	  false },
	{ "v=DMARC1; p=none; np=reject", 0, N, N, R, RLX, RLX, 100, false },
	{ "v=DMARC1; p=none; sp=quarantine; np=reject", 0, N, Q, R, RLX, RLX,
	  100, false },
	{ "v=DMARC1; p=reject; np=none", 0, R, R, N, RLX, RLX, 100, false },
	/* RFC 9091 3.2 (np= has p='s syntax), 6.3: an invalid np= is
	   discarded in favour of its default */
	{ "v=DMARC1; p=reject; sp=none; np=bogus", 0, R, N, N, RLX, RLX, 100,
	  false },
	/* 6.6.3 step 6.1: no valid p= but a valid rua=: as if p=none */
	{ "v=DMARC1; rua=mailto:d@example.com", 0, N, N, N, RLX, RLX, 100,
	  true },
	{ "v=DMARC1; p=bogus; rua=mailto:d@example.com", 0, N, N, N, RLX, RLX,
	  100, true },
	{ "v=DMARC1; p=; rua=mailto:d@example.com", 0, N, N, N, RLX, RLX,
	  100, true },
	/* ... a record saying only p=none: its sp= and np= are not used */
	{ "v=DMARC1; p=bogus; sp=reject; np=reject; "
	  "rua=mailto:d@example.com", 0, N, N, N, RLX, RLX, 100, true },
	/* 6.6.3 step 6: an invalid sp= is treated like an invalid p= */
	{ "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.com", 0, N, N,
	  N, RLX, RLX, 100, true },
	{ "v=DMARC1; p=reject; sp=; rua=mailto:d@example.com, "
	  "bad", 0, N, N, N, RLX, RLX, 100, true },
	/* 6.6.3 step 6.2: ... and without a valid rua=: not usable */
	{ "v=DMARC1; p=reject; sp=bogus", -1, 0, 0, 0, 0, 0, 0, false },
	{ "v=DMARC1; p=reject; sp=bogus; rua=nothing", -1, 0, 0, 0, 0, 0, 0,
	  false },
	{ "v=DMARC1", -1, 0, 0, 0, 0, 0, 0, false },
	{ "v=DMARC1; p=bogus", -1, 0, 0, 0, 0, 0, 0, false },
	{ "v=DMARC1; p=bogus; rua=nothing", -1, 0, 0, 0, 0, 0, 0, false },
	{ "v=DMARC1; p=bogus; rua=", -1, 0, 0, 0, 0, 0, 0, false },
	{ "v=DMARC1; sp=reject", -1, 0, 0, 0, 0, 0, 0, false },
	{ "v=DMARC1; np=reject", -1, 0, 0, 0, 0, 0, 0, false },
	/* 6.3: v=DMARC1 first, exact and case-sensitive, or discarded */
	{ "v=dmarc1; p=reject", -1, 0, 0, 0, 0, 0, 0, false },
	{ "V=DMARC1; p=reject", -1, 0, 0, 0, 0, 0, 0, false },
	{ "v=DMARC2; p=reject", -1, 0, 0, 0, 0, 0, 0, false },
	{ "v=DMARC10; p=reject", -1, 0, 0, 0, 0, 0, 0, false },
	{ "p=reject; v=DMARC1", -1, 0, 0, 0, 0, 0, 0, false },
	{ "v=DMARC1 p=reject", -1, 0, 0, 0, 0, 0, 0, false },
	{ "v=spf1 -all", -1, 0, 0, 0, 0, 0, 0, false },
	{ "", -1, 0, 0, 0, 0, 0, 0, false },
	{ ";;;", -1, 0, 0, 0, 0, 0, 0, false },
};

static void
test_record_table(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rec_cases) / sizeof(rec_cases[0]); i++) {
		const struct rec_case *c = &rec_cases[i];
		struct dmarc_record r;
		struct err err;
		int got = dmarc_record_parse(str_cstr(c->in), &r, &err);

		if (got != c->want) {
			print_error("case %zu '%s': got %d, want %d\n", i,
			    c->in, got, c->want);
			bad++;
			continue;
		}
		if (got == 0 && (r.p != c->p || r.sp != c->sp ||
		    r.np != c->np || r.adkim != c->adkim ||
		    r.aspf != c->aspf || r.pct != c->pct ||
		    r.none_by_rua != c->none_by_rua)) {
			print_error("case %zu '%s': got p=%s sp=%s np=%s "
			    "adkim=%d aspf=%d pct=%u none_by_rua=%d\n", i,
			    c->in, dmarc_policy_name(r.p),
			    dmarc_policy_name(r.sp), dmarc_policy_name(r.np),
			    r.adkim, r.aspf, r.pct, r.none_by_rua);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void
test_is_dmarc(void **state)
{
	(void)state;
	assert_true(dmarc_record_is_dmarc(STR("v=DMARC1; p=none")));
	assert_true(dmarc_record_is_dmarc(STR("v=DMARC1")));
	assert_true(dmarc_record_is_dmarc(STR(" v = DMARC1 ;")));
	assert_false(dmarc_record_is_dmarc(STR("v=DMARC10")));
	assert_false(dmarc_record_is_dmarc(STR("V=DMARC1")));
	assert_false(dmarc_record_is_dmarc(STR("x=1; v=DMARC1")));
	assert_false(dmarc_record_is_dmarc(STR("")));
}

static void
test_org_domain(void **state)
{
	static const struct {
		const char	*in;
		const char	*org;
	} cases[] = {
		{ "example.com", "example.com" },
		{ "mail.example.com", "example.com" },
		{ "A.B.Example.COM.", "example.com" },
		{ "example.co.uk", "example.co.uk" },
		{ "a.b.example.co.uk", "example.co.uk" },
		{ "com", "com" },
		{ "co.uk", "co.uk" },
		{ "host.example.test", "example.test" },
		{ "", "" },
	};
	char out[DMARC_DOMAIN_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dmarc_org_domain(cases[i].in, out, sizeof(out));
		if (strcmp(out, cases[i].org) != 0)
			fail_msg("org of '%s': got '%s', want '%s'",
			    cases[i].in, out, cases[i].org);
	}
}

static void
test_aligned(void **state)
{
	(void)state;
	assert_true(dmarc_aligned("example.com", "EXAMPLE.com.", STR_));
	assert_true(dmarc_aligned("mail.example.com", "example.com", RLX));
	assert_true(dmarc_aligned("a.example.com", "b.example.com", RLX));
	assert_false(dmarc_aligned("a.example.com", "b.example.com", STR_));
	assert_false(dmarc_aligned("mail.example.com", "example.com", STR_));
	assert_false(dmarc_aligned("example.com", "example.net", RLX));
	assert_false(dmarc_aligned("example.co.uk", "other.co.uk", RLX));
	assert_false(dmarc_aligned("", "example.com", RLX));
	assert_false(dmarc_aligned(NULL, "example.com", RLX));
}

/* ------------------------------------------------------------------ */

static void
found(struct dmarc_found *f, const char *from, const char *rec, bool at_org)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->from, sizeof(f->from), "%s", from);
	dmarc_org_domain(from, f->org, sizeof(f->org));
	if (rec == NULL) {
		f->status = DMARC_FOUND_NONE;
		return;
	}
	f->status = DMARC_FOUND_RECORD;
	f->at_org = at_org;
	assert_int_equal(dmarc_record_parse(str_cstr(rec), &f->rec, NULL), 0);
}

static struct dkim_verdict
dk(enum dkim_result r, const char *d)
{
	struct dkim_verdict v;

	memset(&v, 0, sizeof(v));
	v.result = r;
	snprintf(v.d, sizeof(v.d), "%s", d);
	return v;
}

struct eval_case {
	const char		*from;
	const char		*rec;
	bool			 at_org;
	enum spf_result		 spf;
	const char		*spf_domain;
	enum dkim_result	 dkim;
	const char		*dkim_d;
	unsigned		 sample;
	enum dmarc_result	 want;
	enum dmarc_policy	 policy, disposition;
};

#define PASS	DMARC_RESULT_PASS
#define FAIL	DMARC_RESULT_FAIL

static const struct eval_case eval_cases[] = {
	/* SPF aligned, relaxed and strict */
	{ "example.com", "v=DMARC1; p=reject", false, SPF_PASS, "example.com",
	  DKIM_NONE, "", 0, PASS, R, N },
	{ "example.com", "v=DMARC1; p=reject", false, SPF_PASS,
	  "bounce.example.com", DKIM_NONE, "", 0, PASS, R, N },
	{ "example.com", "v=DMARC1; p=reject; aspf=s", false, SPF_PASS,
	  "bounce.example.com", DKIM_NONE, "", 0, FAIL, R, R },
	/* SPF passing for another domain is not aligned */
	{ "example.com", "v=DMARC1; p=reject", false, SPF_PASS, "example.net",
	  DKIM_NONE, "", 0, FAIL, R, R },
	{ "example.com", "v=DMARC1; p=reject", false, SPF_SOFTFAIL,
	  "example.com", DKIM_NONE, "", 0, FAIL, R, R },
	/* DKIM aligned, relaxed and strict */
	{ "example.com", "v=DMARC1; p=quarantine", false, SPF_FAIL,
	  "example.com", DKIM_PASS, "example.com", 0, PASS, Q, N },
	{ "news.example.com", "v=DMARC1; p=quarantine", false, SPF_NONE, "",
	  DKIM_PASS, "example.com", 0, PASS, Q, N },
	{ "news.example.com", "v=DMARC1; p=quarantine; adkim=s", false,
	  SPF_NONE, "", DKIM_PASS, "example.com", 0, FAIL, Q, Q },
	{ "example.com", "v=DMARC1; p=quarantine", false, SPF_NONE, "",
	  DKIM_PASS, "example.org", 0, FAIL, Q, Q },
	{ "example.com", "v=DMARC1; p=quarantine", false, SPF_NONE, "",
	  DKIM_FAIL, "example.com", 0, FAIL, Q, Q },
	/* sp= for a subdomain whose policy came from the org domain */
	{ "sub.example.com", "v=DMARC1; p=reject; sp=quarantine", true,
	  SPF_FAIL, "x.org", DKIM_NONE, "", 0, FAIL, Q, Q },
	{ "sub.example.com", "v=DMARC1; p=reject; sp=none", true, SPF_FAIL,
	  "x.org", DKIM_NONE, "", 0, FAIL, N, N },
	{ "sub.example.com", "v=DMARC1; p=reject", true, SPF_FAIL, "x.org",
	  DKIM_NONE, "", 0, FAIL, R, R },
	{ "sub.example.com", "v=DMARC1; p=reject; sp=none", false, SPF_FAIL,
	  "x.org", DKIM_NONE, "", 0, FAIL, R, R },
	/* pct: in the sample the policy applies, outside one step less */
	{ "example.com", "v=DMARC1; p=reject; pct=50", false, SPF_FAIL, "",
	  DKIM_NONE, "", 49, FAIL, R, R },
	{ "example.com", "v=DMARC1; p=reject; pct=50", false, SPF_FAIL, "",
	  DKIM_NONE, "", 50, FAIL, R, Q },
	{ "example.com", "v=DMARC1; p=quarantine; pct=0", false, SPF_FAIL, "",
	  DKIM_NONE, "", 0, FAIL, Q, N },
	{ "example.com", "v=DMARC1; p=reject; pct=100", false, SPF_FAIL, "",
	  DKIM_NONE, "", 99, FAIL, R, R },
	/* no record */
	{ "example.com", NULL, false, SPF_FAIL, "", DKIM_NONE, "", 0,
	  DMARC_RESULT_NONE, N, N },
};

static void
test_evaluate(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(eval_cases) / sizeof(eval_cases[0]);
	    i++) {
		const struct eval_case *c = &eval_cases[i];
		struct dkim_verdict d = dk(c->dkim, c->dkim_d);
		struct dmarc_found f;
		struct dmarc_verdict v;

		found(&f, c->from, c->rec, c->at_org);
		dmarc_evaluate(&f, c->spf, c->spf_domain, &d,
		    c->dkim == DKIM_NONE ? 0 : 1, c->sample, &v);
		if (v.result != c->want || v.policy != c->policy ||
		    v.disposition != c->disposition) {
			print_error("case %zu (%s '%s'): got %s policy %s "
			    "disposition %s\n", i, c->from, c->rec,
			    dmarc_result_name(v.result),
			    dmarc_policy_name(v.policy),
			    dmarc_policy_name(v.disposition));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/*
 * RFC 9091 3.2: np= applies to a non-existent subdomain whose policy came
 * from the organizational domain; sp= to an existing one; never to the
 * domain that published the record itself (at_org false), np= or not.
 */
static void
test_evaluate_np(void **state)
{
	static const struct {
		const char		*from;
		const char		*rec;
		bool			 at_org, nonexistent;
		enum dmarc_policy	 policy;
	} cases[] = {
		{ "nx.example.com", "v=DMARC1; p=none; sp=quarantine; "
		  "np=reject", true, true, R },
		{ "sub.example.com", "v=DMARC1; p=none; sp=quarantine; "
		  "np=reject", true, false, Q },
		{ "example.com", "v=DMARC1; p=none; sp=quarantine; np=reject",
		  false, false, N },
		/* a subdomain's own record: np= is ignored (9091 3.2) */
		{ "sub.example.com", "v=DMARC1; p=none; np=reject", false,
		  true, N },
		/* np absent: sp, then p (9091 3.2) */
		{ "nx.example.com", "v=DMARC1; p=reject; sp=quarantine", true,
		  true, Q },
		{ "nx.example.com", "v=DMARC1; p=reject", true, true, R },
		/* 7489 6.6.3 step 6.1 record: p=none everywhere */
		{ "nx.example.com", "v=DMARC1; p=bogus; np=reject; "
		  "rua=mailto:a@example.com", true, true, N },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dmarc_found f;
		struct dmarc_verdict v;

		found(&f, cases[i].from, cases[i].rec, cases[i].at_org);
		f.nonexistent = cases[i].nonexistent;
		dmarc_evaluate(&f, SPF_FAIL, "x.org", NULL, 0, 0, &v);
		if (v.result != FAIL || v.policy != cases[i].policy ||
		    v.disposition != cases[i].policy)
			fail_msg("case %zu (%s '%s'): got %s policy %s, want "
			    "fail policy %s", i, cases[i].from, cases[i].rec,
			    dmarc_result_name(v.result),
			    dmarc_policy_name(v.policy),
			    dmarc_policy_name(cases[i].policy));
	}
}

static void
test_evaluate_temperror(void **state)
{
	struct dmarc_found f;
	struct dmarc_verdict v;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.status = DMARC_FOUND_TEMPERROR;
	snprintf(f.from, sizeof(f.from), "example.com");
	dmarc_evaluate(&f, SPF_PASS, "example.com", NULL, 0, 0, &v);
	assert_int_equal(v.result, DMARC_RESULT_TEMPERROR);
	assert_int_equal(v.disposition, DMARC_POLICY_NONE);
	assert_string_equal(v.from, "example.com");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_table),
		cmocka_unit_test(test_is_dmarc),
		cmocka_unit_test(test_org_domain),
		cmocka_unit_test(test_aligned),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_evaluate_np),
		cmocka_unit_test(test_evaluate_temperror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
