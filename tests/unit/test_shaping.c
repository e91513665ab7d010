/* SPDX-License-Identifier: ISC */
/*
 * test_shaping.c - deliver/shaping.c and deliver/warmup.c: a site's name
 * (first matching [site] by domain or MX host, wildcards, else the sorted
 * host set, so two domains on the same hosts share it), the limits that
 * apply, [backoff] rules over a reply, AIMD cut and lift, the warm-up
 * allowance and the per-address daily counts.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "deliver/shaping.h"
#include "deliver/warmup.h"

static char *gmail_match[] = { "gmail.com", "*.google.com" };
static char *yahoo_match[] = { "*.yahoodns.net" };

/* test_conf - two [site] rules and a [site default], by hand */
static void
test_conf(struct conf *c, struct conf_site *sites)
{
	memset(c, 0, sizeof(*c));
	memset(sites, 0, 3 * sizeof(*sites));
	c->relay.max_connections_per_domain = 20;
	sites[0].name = "gmail";
	sites[0].match = gmail_match;
	sites[0].nmatch = 2;
	sites[0].connection_limit = 5;
	sites[0].max_message_rate.count = 120;
	sites[0].max_message_rate.period = 60;
	sites[0].max_recipients_per_message = 50;
	sites[1].name = "default";
	sites[1].max_deliveries_per_connection = 7;
	sites[2].name = "yahoo";
	sites[2].match = yahoo_match;
	sites[2].nmatch = 1;
	sites[2].idle_timeout = 30;
	c->sites = sites;
	c->nsites = 3;
}

static void
test_site_name(void **state)
{
	struct conf c;
	struct conf_site sites[3];
	const char *g[] = { "alt1.aspmx.l.google.com", "aspmx.l.google.com" };
	const char *y[] = { "mta5.am0.yahoodns.net" };
	const char *a[] = { "mx2.hoster.test", "MX1.hoster.test",
	    "mx2.hoster.test" };
	const char *b[] = { "mx1.hoster.test", "mx2.hoster.test" };
	char n1[SHAPING_SITE_MAX], n2[SHAPING_SITE_MAX];

	test_conf(&c, sites);
	/* by domain, by a host below a wildcard */
	shaping_site_name(&c, "gmail.com", NULL, 0, n1, sizeof(n1));
	assert_string_equal(n1, "gmail");
	shaping_site_name(&c, "company.test", g, 2, n1, sizeof(n1));
	assert_string_equal(n1, "gmail");
	shaping_site_name(&c, "yahoo.test", y, 1, n1, sizeof(n1));
	assert_string_equal(n1, "yahoo");
	/* no rule: the host set, sorted, lower-case, each host once */
	shaping_site_name(&c, "a.test", a, 3, n1, sizeof(n1));
	shaping_site_name(&c, "b.test", b, 2, n2, sizeof(n2));
	assert_string_equal(n1, "mx1.hoster.test,mx2.hoster.test");
	assert_string_equal(n1, n2);
	/* "*.google.com" is below google.com only, not google.com.evil */
	{
		const char *e[] = { "mx.google.com.evil.test" };

		shaping_site_name(&c, "x.test", e, 1, n1, sizeof(n1));
		assert_string_equal(n1, "mx.google.com.evil.test");
	}
	/* no hosts (implicit MX of a literal): the domain */
	shaping_site_name(&c, "[127.0.0.1]", NULL, 0, n1, sizeof(n1));
	assert_string_equal(n1, "[127.0.0.1]");
}

static void
test_limits(void **state)
{
	struct conf c;
	struct conf_site sites[3];
	struct shaping_limits l;

	test_conf(&c, sites);
	shaping_limits(&c, "gmail", &l);
	assert_int_equal(l.connection_limit, 5);
	assert_true(l.rate > 1.99 && l.rate < 2.01);
	assert_int_equal(l.max_rcpts, 50);
	assert_int_equal(l.max_deliveries, 0);
	assert_int_equal(l.idle_timeout, 5);
	assert_string_equal(l.rule, "gmail");
	/* any other site: [site default], connections from [relay] */
	shaping_limits(&c, "mx1.hoster.test", &l);
	assert_int_equal(l.connection_limit, 20);
	assert_true(l.rate == 0);
	assert_int_equal(l.max_deliveries, 7);
	shaping_limits(&c, "yahoo", &l);
	assert_int_equal(l.idle_timeout, 30);
	/* without [site default]: built in */
	c.nsites = 1;
	shaping_limits(&c, "other", &l);
	assert_int_equal(l.connection_limit, 20);
	assert_int_equal(l.max_deliveries, 0);
	assert_null(l.rule);
}

static void
test_rules(void **state)
{
	struct conf c;
	struct conf_backoff b[2];

	memset(&c, 0, sizeof(c));
	memset(b, 0, sizeof(b));
	b[0].name = "rate";
	assert_int_equal(regcomp(&b[0].re, "^421 .*(rate|TSS04)",
	    REG_EXTENDED | REG_ICASE | REG_NOSUB), 0);
	b[0].re_ok = true;
	b[1].name = "gmail";
	assert_int_equal(regcomp(&b[1].re, "4\\.7\\.28",
	    REG_EXTENDED | REG_ICASE | REG_NOSUB), 0);
	b[1].re_ok = true;
	c.backoffs = b;
	c.nbackoffs = 2;
	assert_ptr_equal(shaping_rule(&c, 421, "4.7.0", "Rate limited"), &b[0]);
	assert_ptr_equal(shaping_rule(&c, 421, "", "[TSS04] try later"),
	    &b[0]);
	assert_ptr_equal(shaping_rule(&c, 450, "4.7.28", "unusual rate"),
	    &b[1]);
	/* the text of a multi-line reply counts too */
	assert_ptr_equal(shaping_rule(&c, 421, "4.7.0", "busy\nrate limit"),
	    &b[0]);
	assert_null(shaping_rule(&c, 450, "4.2.1", "mailbox busy"));
	regfree(&b[0].re);
	regfree(&b[1].re);
}

static void
test_aimd(void **state)
{
	struct conf_backoff b;
	double r;

	memset(&b, 0, sizeof(b));
	b.rate_factor = 50;
	b.rate_increase = 25;
	/* a configured 10/s cut to 5/s, lifted 2.5/s at a time, back to 10 */
	r = shaping_cut(&b, 10, 0);
	assert_true(r > 4.99 && r < 5.01);
	r = shaping_lift(&b, r, 10, 10);
	assert_true(r > 7.49 && r < 7.51);
	r = shaping_lift(&b, r, 10, 10);
	assert_true(r == 10);
	/* no configured rate: the measured one is cut, and once lifted back
	   the site has no limit again */
	r = shaping_cut(&b, 0, 8);
	assert_true(r > 3.99 && r < 4.01);
	r = shaping_lift(&b, r, 8, 0);
	assert_true(r > 5.99 && r < 6.01);
	r = shaping_lift(&b, r, 8, 0);
	r = shaping_lift(&b, r, 8, 0);
	assert_true(r == 0);
	/* never below a message a minute */
	b.rate_factor = 1;
	r = shaping_cut(&b, 0.001, 0);
	assert_true(r >= 1.0 / 60.0);
}

static void
test_warmup(void **state)
{
	struct conf_pool p;
	int64_t day0 = 1764892800;	/* 2025-12-05 00:00 UTC */

	memset(&p, 0, sizeof(p));
	assert_true(shaping_warmup_allowance(&p, day0) == UINT64_MAX);
	assert_true(shaping_warmup_allowance(NULL, day0) == UINT64_MAX);
	p.warmup_start = 100;
	p.warmup_growth = 100;
	p.warmup_day0 = day0;
	assert_int_equal(shaping_warmup_allowance(&p, day0 - 86400), 100);
	assert_int_equal(shaping_warmup_allowance(&p, day0 + 3600), 100);
	assert_int_equal(shaping_warmup_allowance(&p, day0 + 86400), 200);
	assert_int_equal(shaping_warmup_allowance(&p, day0 + 3 * 86400 + 5),
	    800);
	assert_true(shaping_warmup_allowance(&p, day0 + 400 * 86400) ==
	    UINT64_MAX);

	/* counts per address and day */
	warmup_reset();
	for (int i = 0; i < 3; i++)
		assert_true(warmup_take("192.0.2.1", 3, day0));
	assert_false(warmup_take("192.0.2.1", 3, day0));
	assert_true(warmup_take("192.0.2.2", 3, day0));
	assert_int_equal(warmup_sent("192.0.2.1", day0), 3);
	/* a new day starts again */
	assert_true(warmup_take("192.0.2.1", 3, day0 + 86400));
	assert_int_equal(warmup_sent("192.0.2.1", day0 + 86400), 1);
	/* no allowance: never counted, never refused */
	assert_true(warmup_take("192.0.2.3", UINT64_MAX, day0));
	assert_int_equal(warmup_sent("192.0.2.3", day0), 0);
	warmup_reset();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_site_name),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_aimd),
		cmocka_unit_test(test_warmup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
