/* SPDX-License-Identifier: ISC */
/*
 * test_ratelimit.c - ratelimit.c with a simulated clock: token bucket
 * rate and refill, the AUTH-failure window, ban doubling up to its cap
 * and decay, the 24-hour counter's hourly slots; and limits.c's shared
 * tables (connections, bans, daily user counts) as the session uses them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "policy/limits.h"
#include "policy/ratelimit.h"

static void
test_bucket(void **state)
{
	struct ratelimit_bucket b;

	(void)state;
	memset(&b, 0, sizeof(b));
	/* 6 a minute: a burst of 6, then one every 10 s */
	for (int i = 0; i < 6; i++)
		assert_true(ratelimit_bucket_take(&b, 6, 100.0));
	assert_false(ratelimit_bucket_take(&b, 6, 100.0));
	assert_false(ratelimit_bucket_take(&b, 6, 109.0));
	assert_false(ratelimit_bucket_idle(&b, 6, 109.0));
	assert_true(ratelimit_bucket_take(&b, 6, 110.5));
	assert_false(ratelimit_bucket_take(&b, 6, 111.0));
	assert_true(ratelimit_bucket_idle(&b, 6, 200.0));
	/* never more than the burst after a long pause */
	for (int i = 0; i < 6; i++)
		assert_true(ratelimit_bucket_take(&b, 6, 10000.0));
	assert_false(ratelimit_bucket_take(&b, 6, 10000.0));
	/* 0: unlimited */
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 1000; i++)
		assert_true(ratelimit_bucket_take(&b, 0, 1.0));
	assert_true(ratelimit_bucket_idle(&b, 0, 1.0));
}

static void
test_ban_window_and_doubling(void **state)
{
	struct ratelimit_ban b;

	(void)state;
	memset(&b, 0, sizeof(b));
	/* 3 failures in 600 s ban for 10 s, then 20, 40, capped at 60 */
	assert_int_equal(ratelimit_ban_fail(&b, 1000, 3, 600, 10, 60), 0);
	assert_int_equal(ratelimit_ban_fail(&b, 1001, 3, 600, 10, 60), 0);
	assert_int_equal(ratelimit_ban_left(&b, 1001), 0);
	assert_int_equal(ratelimit_ban_fail(&b, 1002, 3, 600, 10, 60), 10);
	assert_int_equal(ratelimit_ban_left(&b, 1002), 10);
	assert_int_equal(ratelimit_ban_left(&b, 1011.5), 1);
	assert_int_equal(ratelimit_ban_left(&b, 1012), 0);
	assert_false(ratelimit_ban_idle(&b, 1011, 600, 60));
	for (int i = 0; i < 2; i++)
		assert_int_equal(ratelimit_ban_fail(&b, 1020 + i, 3, 600, 10,
		    60), 0);
	assert_int_equal(ratelimit_ban_fail(&b, 1022, 3, 600, 10, 60), 20);
	for (int i = 0; i < 2; i++)
		ratelimit_ban_fail(&b, 1050 + i, 3, 600, 10, 60);
	assert_int_equal(ratelimit_ban_fail(&b, 1052, 3, 600, 10, 60), 40);
	for (int i = 0; i < 2; i++)
		ratelimit_ban_fail(&b, 1100 + i, 3, 600, 10, 60);
	assert_int_equal(ratelimit_ban_fail(&b, 1102, 3, 600, 10, 60), 60);
	for (int i = 0; i < 2; i++)
		ratelimit_ban_fail(&b, 1200 + i, 3, 600, 10, 60);
	assert_int_equal(ratelimit_ban_fail(&b, 1202, 3, 600, 10, 60), 60);
	/* after a calm period as long as the cap, back to the first length */
	for (int i = 0; i < 2; i++)
		ratelimit_ban_fail(&b, 5000 + i, 3, 600, 10, 60);
	assert_int_equal(ratelimit_ban_fail(&b, 5002, 3, 600, 10, 60), 10);
	/* failures spread wider than the window never ban */
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 20; i++)
		assert_int_equal(ratelimit_ban_fail(&b, 1000.0 + i * 400, 3,
		    600, 10, 60), 0);
	assert_false(ratelimit_ban_idle(&b, 1000.0 + 19 * 400, 600, 60));
	assert_true(ratelimit_ban_idle(&b, 1000.0 + 21 * 400, 600, 60));
	/* threshold 0: off */
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 100; i++)
		assert_int_equal(ratelimit_ban_fail(&b, 1, 0, 600, 10, 60), 0);
}

static void
test_day(void **state)
{
	struct ratelimit_day d;
	double t0 = 1000 * 3600.0;

	(void)state;
	memset(&d, 0, sizeof(d));
	assert_int_equal(ratelimit_day_count(&d, t0), 0);
	for (int i = 0; i < 5; i++)
		ratelimit_day_add(&d, t0 + i);
	assert_int_equal(ratelimit_day_count(&d, t0 + 10), 5);
	ratelimit_day_add(&d, t0 + 3600 * 5);
	assert_int_equal(ratelimit_day_count(&d, t0 + 3600 * 5), 6);
	/* the first five leave 24 hours later, the last one 5 h after */
	assert_int_equal(ratelimit_day_count(&d, t0 + 3600 * 23), 6);
	assert_int_equal(ratelimit_day_count(&d, t0 + 3600 * 24), 1);
	assert_int_equal(ratelimit_day_count(&d, t0 + 3600 * 29), 0);
	ratelimit_day_add(&d, t0 + 3600 * 100);
	assert_int_equal(ratelimit_day_count(&d, t0 + 3600 * 100), 1);
}

static struct conf *
limits_conf(void)
{
	static const char text[] =
	    "[listener mx]\naddress = 127.0.0.1:2525\n"
	    "[limits]\nmax_connections = 5\nmax_connections_per_ip = 2\n"
	    "connections_per_ip_per_minute = 3\nauth_failures_per_ip = 2\n"
	    "auth_ban_time = 30s\nuser_daily_limit = 2\n";
	struct conf *conf;
	struct err err;

	if (conf_load_string("limits.conf", text, sizeof(text) - 1, &conf,
	    &err) == -1)
		fail_msg("%s", err.msg);
	return conf;
}

static void
test_limits_tables(void **state)
{
	struct conf *conf = limits_conf();
	unsigned left;

	(void)state;
	limits_reset();
	assert_int_equal(limits_connect("192.0.2.1", conf, &left), LIMITS_OK);
	assert_int_equal(limits_connect("192.0.2.1", conf, &left), LIMITS_OK);
	assert_int_equal(limits_connect("192.0.2.1", conf, &left),
	    LIMITS_TOO_MANY_IP);
	limits_disconnect("192.0.2.1");
	/* third connection this minute: still within 3 */
	assert_int_equal(limits_connect("192.0.2.1", conf, &left), LIMITS_OK);
	limits_disconnect("192.0.2.1");
	assert_int_equal(limits_connect("192.0.2.1", conf, &left),
	    LIMITS_RATE);
	assert_string_equal(limits_verdict_name(LIMITS_RATE),
	    "connections_per_ip_per_minute");
	/* others are not affected */
	assert_int_equal(limits_connect("192.0.2.2", conf, &left), LIMITS_OK);
	assert_int_equal(limits_active(), 2);
	/* two AUTH failures ban the address */
	assert_int_equal(limits_auth_failed("192.0.2.3", conf), 0);
	assert_int_equal(limits_auth_failed("192.0.2.3", conf), 30);
	assert_true(limits_banned("192.0.2.3") > 0);
	assert_int_equal(limits_connect("192.0.2.3", conf, &left),
	    LIMITS_BANNED);
	assert_true(left > 0 && left <= 30);
	assert_int_equal(limits_banned("192.0.2.4"), 0);
	/* daily user limit, case-insensitive */
	assert_true(limits_user_allowed("Alice@example.test", conf));
	limits_user_sent("alice@example.test", conf);
	limits_user_sent("ALICE@example.test", conf);
	assert_false(limits_user_allowed("alice@example.test", conf));
	assert_true(limits_user_allowed("bob@example.test", conf));
	limits_reset();
	conf_unref(conf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_ban_window_and_doubling),
		cmocka_unit_test(test_day),
		cmocka_unit_test(test_limits_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
