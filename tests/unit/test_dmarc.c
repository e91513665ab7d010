/* SPDX-License-Identifier: ISC */
/*
 * test_dmarc.c - DMARC policy discovery (dmarc.c) against a fake resolver
 * (fake_dns.h), step by step as RFC 7489 6.6.3 lists them, plus the
 * existence probe of RFC 9091 2.7 that decides whether np= applies. Each
 * case runs with synchronous and with deferred answers and must give the
 * same result, the same number of queries, and leave nothing pending.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "msgauth/dmarc.h"
#include "fake_dns.h"

static const struct fake_dns_rec zone[] = {
	/* step 1: a record at the From domain */
	{ "_dmarc.example.com", DNS_T_TXT, "v=DMARC1; p=reject; sp=quarantine" },
	{ "_dmarc.example.com", DNS_T_TXT, "v=spf1 -all" },
	{ "example.com", DNS_T_A, "192.0.2.1" },
	{ "_dmarc.own.example.com", DNS_T_TXT, "v=DMARC1; p=none" },
	/* step 2: records not starting with v=DMARC1 are dropped (6.3:
	   exact, case-sensitive), then step 3: the org domain */
	{ "_dmarc.junk.example.com", DNS_T_TXT, "hello" },
	{ "_dmarc.junk.example.com", DNS_T_TXT, "v=dmarc1; p=none" },
	{ "_dmarc.junk.example.com", DNS_T_TXT, "p=none; v=DMARC1" },
	{ "_dmarc.junk.example.com", DNS_T_TXT, "" },
	/* step 5: several records, none further down */
	{ "_dmarc.two.example.com", DNS_T_TXT, "v=DMARC1; p=none" },
	{ "_dmarc.two.example.com", DNS_T_TXT, "v=DMARC1; p=none" },
	/* step 6.2: one record without a valid p= or rua= */
	{ "_dmarc.bad.example.com", DNS_T_TXT, "v=DMARC1; p=bogus" },
	{ "_dmarc.badsp.example.com", DNS_T_TXT, "v=DMARC1; p=reject; "
	    "sp=bogus" },
	/* step 6.1: ... with a valid rua=: p=none */
	{ "_dmarc.rua.example.com", DNS_T_TXT, "v=DMARC1; p=bogus; "
	    "rua=mailto:d@example.com" },
	/* DNS errors */
	{ "_dmarc.fail.example.com", DNS_T_TXT, "SERVFAIL" },
	{ "_dmarc.example.net", DNS_T_TXT, "TIMEOUT" },
	/* org domains: example.org has no record; example.info has two */
	{ "example.org", DNS_T_A, "192.0.2.2" },
	{ "_dmarc.example.info", DNS_T_TXT, "v=DMARC1; p=reject" },
	{ "_dmarc.example.info", DNS_T_TXT, "v=DMARC1; p=none" },
	/* RFC 9091: np= differs from sp=, so the From domain is probed */
	{ "_dmarc.example.edu", DNS_T_TXT, "v=DMARC1; p=none; sp=quarantine; "
	    "np=reject" },
	{ "a.example.edu", DNS_T_A, "192.0.2.3" },
	{ "aaaa.example.edu", DNS_T_AAAA, "2001:db8::3" },
	{ "mx.example.edu", DNS_T_MX, "10 mail.example.edu" },
	{ "txt.example.edu", DNS_T_TXT, "something" },	/* NODATA x3 */
	{ "tmp.example.edu", DNS_T_A, "SERVFAIL" },
	{ "_dmarc.example.gov", DNS_T_TXT, "v=DMARC1; p=none; np=none" },
};

enum { NOT_AT_ORG, AT_ORG };
enum { EXISTS, NONEXISTENT };

struct disc_case {
	const char			*why;
	const char			*from;
	enum dmarc_found_status		 status;
	bool				 at_org;
	bool				 nonexistent;
	enum dmarc_policy		 p;
	unsigned			 queries;
};

#define RECORD		DMARC_FOUND_RECORD
#define NONE		DMARC_FOUND_NONE
#define TEMPERROR	DMARC_FOUND_TEMPERROR
#define N		DMARC_POLICY_NONE
#define Q		DMARC_POLICY_QUARANTINE
#define R		DMARC_POLICY_REJECT

static const struct disc_case cases[] = {
	{ "6.6.3 step 1: the From domain's record, non-DMARC TXT dropped",
	  "example.com", RECORD, NOT_AT_ORG, EXISTS, R, 1 },
	{ "6.6.3 step 1: case and a trailing dot do not matter",
	  "EXAMPLE.com.", RECORD, NOT_AT_ORG, EXISTS, R, 1 },
	{ "6.6.3 step 1: a subdomain's own record wins over the org's",
	  "own.example.com", RECORD, NOT_AT_ORG, EXISTS, N, 1 },
	{ "6.6.3 step 3: no record at the subdomain: the org domain's",
	  "deep.sub.example.com", RECORD, AT_ORG, EXISTS, R, 2 },
	{ "6.6.3 steps 2-3: only non-DMARC records: the org domain's",
	  "junk.example.com", RECORD, AT_ORG, EXISTS, R, 2 },
	{ "6.6.3 step 5: two records: no DMARC, no org lookup",
	  "two.example.com", NONE, NOT_AT_ORG, EXISTS, N, 1 },
	{ "6.6.3 step 6.2: no valid p=, no rua=: no DMARC, no org lookup",
	  "bad.example.com", NONE, NOT_AT_ORG, EXISTS, N, 1 },
	{ "6.6.3 step 6.2: invalid sp=, no rua=: no DMARC",
	  "badsp.example.com", NONE, NOT_AT_ORG, EXISTS, N, 1 },
	{ "6.6.3 step 6.1: no valid p= but a rua=: p=none",
	  "rua.example.com", RECORD, NOT_AT_ORG, EXISTS, N, 1 },
	{ "6.6.3 (DNS errors): SERVFAIL at the From domain: temperror",
	  "fail.example.com", TEMPERROR, NOT_AT_ORG, EXISTS, N, 1 },
	{ "6.6.3 (DNS errors): timeout at the org domain: temperror",
	  "sub.example.net", TEMPERROR, NOT_AT_ORG, EXISTS, N, 2 },
	{ "6.6.3 step 5: no record anywhere",
	  "www.example.org", NONE, NOT_AT_ORG, EXISTS, N, 2 },
	{ "6.6.3 step 3: the org domain itself is not asked twice",
	  "example.org", NONE, NOT_AT_ORG, EXISTS, N, 1 },
	{ "6.6.3 step 5: two records at the org domain",
	  "sub.example.info", NONE, NOT_AT_ORG, EXISTS, N, 2 },
	{ "RFC 9091 2.7: NXDOMAIN for A, AAAA and MX: non-existent",
	  "nx.example.edu", RECORD, AT_ORG, NONEXISTENT, N, 5 },
	{ "RFC 9091 2.7: NODATA for all three: non-existent too",
	  "txt.example.edu", RECORD, AT_ORG, NONEXISTENT, N, 5 },
	{ "RFC 9091 2.7: an A record: exists",
	  "a.example.edu", RECORD, AT_ORG, EXISTS, N, 5 },
	{ "RFC 9091 2.7: an AAAA record: exists",
	  "aaaa.example.edu", RECORD, AT_ORG, EXISTS, N, 5 },
	{ "RFC 9091 2.7: an MX record: exists",
	  "mx.example.edu", RECORD, AT_ORG, EXISTS, N, 5 },
	{ "RFC 9091 2.7: SERVFAIL for A is not NXDOMAIN/NODATA: exists",
	  "tmp.example.edu", RECORD, AT_ORG, EXISTS, N, 5 },
	{ "RFC 9091: np= equal to sp=: nothing to probe",
	  "nx.example.gov", RECORD, AT_ORG, EXISTS, N, 2 },
	{ "RFC 9091 3.2: np= of the From domain's own record: no probe",
	  "example.edu", RECORD, NOT_AT_ORG, EXISTS, N, 1 },
};

struct disc_out {
	int			 calls;
	struct dmarc_found	 f;
	struct event_base	*base;
};

static void
disc_done(void *arg, const struct dmarc_found *f)
{
	struct disc_out *o = arg;

	o->calls++;
	o->f = *f;
	if (o->base)
		event_base_loopbreak(o->base);
}

static int
disc_run(size_t i, const struct disc_case *c, bool deferred)
{
	struct event_base *base = deferred ? event_base_new() : NULL;
	struct disc_out out;
	struct fake_dns f;
	struct dmarc_lookup *l;
	int bad = 0;

	fake_dns_init(&f, zone, sizeof(zone) / sizeof(zone[0]), base);
	memset(&out, 0, sizeof(out));
	out.base = base;
	l = dmarc_lookup_start(fake_dns_resolver(&f), c->from, disc_done,
	    &out);
	if (deferred && l != NULL)
		event_base_dispatch(base);
	if (!deferred && l != NULL) {
		print_error("case %zu: synchronous answers left it running\n",
		    i);
		bad = 1;
	}
	if (out.calls != 1 || out.f.status != c->status ||
	    f.queries != c->queries || (c->status == RECORD &&
	    (out.f.at_org != c->at_org ||
	    out.f.nonexistent != c->nonexistent || out.f.rec.p != c->p))) {
		print_error("case %zu (%s, %s): %s\n  got %d calls, status %d "
		    "at_org %d nonexistent %d p=%s, %u queries; want status "
		    "%d at_org %d nonexistent %d p=%s, %u queries\n", i,
		    c->from, deferred ? "deferred" : "sync", c->why,
		    out.calls, out.f.status, out.f.at_org,
		    out.f.nonexistent, dmarc_policy_name(out.f.rec.p),
		    f.queries, c->status, c->at_org, c->nonexistent,
		    dmarc_policy_name(c->p), c->queries);
		bad = 1;
	}
	if (fake_dns_fini(&f) != 0)
		bad = 1;
	if (base)
		event_base_free(base);
	return bad;
}

static void
test_discovery_sync(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		bad += disc_run(i, &cases[i], false);
	assert_int_equal(bad, 0);
}

static void
test_discovery_deferred(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		bad += disc_run(i, &cases[i], true);
	assert_int_equal(bad, 0);
}

/* cancelling while the existence probes are in flight frees everything */
static void
test_discovery_cancel_probing(void **state)
{
	struct event_base *base = event_base_new();
	struct disc_out out;
	struct fake_dns f;
	struct dmarc_lookup *l;

	(void)state;
	fake_dns_init(&f, zone, sizeof(zone) / sizeof(zone[0]), base);
	memset(&out, 0, sizeof(out));
	out.base = base;
	l = dmarc_lookup_start(fake_dns_resolver(&f), "nx.example.edu",
	    disc_done, &out);
	assert_non_null(l);
	/* two answers (_dmarc.nx, _dmarc.example.edu), then 3 probes */
	while (f.queries < 5 &&
	    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK) == 0)
		;
	assert_int_equal(f.queries, 5);
	assert_int_equal(out.calls, 0);
	dmarc_lookup_cancel(l);
	assert_int_equal(f.cancels, 3);
	assert_int_equal(fake_dns_fini(&f), 0);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discovery_sync),
		cmocka_unit_test(test_discovery_deferred),
		cmocka_unit_test(test_discovery_cancel_probing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
