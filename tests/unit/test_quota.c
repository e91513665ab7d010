/* SPDX-License-Identifier: ISC */
/*
 * test_quota.c - quota.c: fixed UTC windows, the four limits, the
 * reservation model (reserved counts against the limit; release gives
 * back, commit makes used), windows rolling over, seeding from the
 * spool, the refusal's text, and exactness under concurrency: threads
 * racing for a limit of 10 get exactly 10.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "policy/quota.h"

/* 2026-12-05 05:30:00 UTC */
#define T0	((int64_t)1796448600)

static struct conf_tenant
tenant(const char *name, unsigned mh, unsigned md, unsigned rh, unsigned rd)
{
	struct conf_tenant t;

	memset(&t, 0, sizeof(t));
	t.name = (char *)name;
	t.messages_per_hour = mh;
	t.messages_per_day = md;
	t.recipients_per_hour = rh;
	t.recipients_per_day = rd;
	return t;
}

static void
test_window(void **state)
{
	(void)state;
	assert_int_equal(quota_window(QUOTA_HOUR, T0), T0 - 1800);
	assert_int_equal(quota_window(QUOTA_DAY, T0), T0 - 5 * 3600 - 1800);
	assert_int_equal(quota_window(QUOTA_HOUR, 7200), 7200);
	assert_int_equal(quota_window(QUOTA_HOUR, 7199), 3600);
}

static void
test_messages_per_day(void **state)
{
	struct conf_tenant t = tenant("shop", 0, 3, 0, 0);
	struct quota_denial d;
	struct quota_usage u;
	char text[256];

	(void)state;
	quota_reset();
	for (int i = 0; i < 3; i++) {
		assert_int_equal(quota_reserve(&t, 1, 2, T0, &d), 0);
		quota_commit("shop", 1, 2, T0);
	}
	assert_int_equal(quota_reserve(&t, 1, 1, T0, &d), -1);
	assert_int_equal(d.kind, QUOTA_MESSAGES);
	assert_int_equal(d.period, QUOTA_DAY);
	assert_int_equal(d.limit, 3);
	assert_string_equal(d.key, "messages_per_day");
	/* to 00:00 UTC the next day */
	assert_int_equal(d.retry_after, 18 * 3600 + 1800);
	quota_text("shop", &d, text, sizeof(text));
	assert_string_equal(text, "tenant shop has reached its limit of 3"
	    " messages per day; try again later");
	/* recipients alone are not a message */
	assert_int_equal(quota_reserve(&t, 0, 5, T0, &d), 0);
	quota_release("shop", 0, 5);
	quota_get("shop", T0, &u);
	assert_int_equal(u.messages[0], 3);
	assert_int_equal(u.messages[1], 3);
	assert_int_equal(u.recipients[1], 6);
	assert_int_equal(u.reserved_messages, 0);
	assert_int_equal(u.reserved_recipients, 0);
	/* the next day, all again */
	assert_int_equal(quota_reserve(&t, 1, 1, T0 + 86400, &d), 0);
	quota_get("shop", T0 + 86400, &u);
	assert_int_equal(u.messages[1], 0);
	assert_int_equal(u.reserved_messages, 1);
	quota_reset();
}

static void
test_recipients_per_hour(void **state)
{
	struct conf_tenant t = tenant("Shop", 0, 0, 5, 0);
	struct quota_denial d;
	char text[256];

	(void)state;
	quota_reset();
	assert_int_equal(quota_reserve(&t, 1, 3, T0, &d), 0);
	assert_int_equal(quota_reserve(&t, 0, 2, T0, &d), 0);
	/* reserved counts: the sixth is refused before any commit */
	assert_int_equal(quota_reserve(&t, 0, 1, T0, &d), -1);
	assert_int_equal(d.kind, QUOTA_RECIPIENTS);
	assert_int_equal(d.period, QUOTA_HOUR);
	assert_int_equal(d.retry_after, 1800);
	assert_string_equal(d.key, "recipients_per_hour");
	quota_text("Shop", &d, text, sizeof(text));
	assert_string_equal(text, "tenant Shop has reached its limit of 5"
	    " recipients per hour; try again later");
	/* a message not stored gives its recipients back (any case) */
	quota_release("shop", 1, 5);
	assert_int_equal(quota_reserve(&t, 1, 5, T0, &d), 0);
	quota_commit("SHOP", 1, 5, T0);
	assert_int_equal(quota_reserve(&t, 1, 1, T0 + 1799, &d), -1);
	assert_int_equal(d.retry_after, 1);
	/* the next hour */
	assert_int_equal(quota_reserve(&t, 1, 5, T0 + 1800, &d), 0);
	quota_reset();
}

static void
test_commit_and_release_bounds(void **state)
{
	struct conf_tenant t = tenant("a", 2, 0, 0, 0);
	struct quota_denial d;
	struct quota_usage u;

	(void)state;
	quota_reset();
	/* a release or commit without a reservation never goes below 0 */
	quota_release("a", 5, 5);
	quota_release("unknown", 1, 1);
	quota_commit("a", 1, 1, T0);
	quota_get("a", T0, &u);
	assert_int_equal(u.messages[0], 1);
	assert_int_equal(u.reserved_messages, 0);
	/* a commit for a window already past counts in no current one */
	quota_commit("a", 1, 1, T0 - 7200);
	quota_get("a", T0, &u);
	assert_int_equal(u.messages[0], 1);
	assert_int_equal(u.messages[1], 2);
	assert_int_equal(quota_reserve(&t, 1, 1, T0, &d), 0);
	assert_int_equal(quota_reserve(&t, 1, 1, T0, &d), -1);
	assert_int_equal(d.kind, QUOTA_MESSAGES);
	assert_int_equal(d.period, QUOTA_HOUR);
	quota_reset();
}

static void
test_seed(void **state)
{
	struct conf_tenant t = tenant("shop", 0, 10, 0, 0);
	struct quota_denial d;
	struct quota_usage u;
	int64_t day = quota_window(QUOTA_DAY, T0);
	int64_t hour = quota_window(QUOTA_HOUR, T0);

	(void)state;
	quota_reset();
	/* rows of today as the spool keeps them: old hours, this hour,
	   the day */
	quota_seed("shop", QUOTA_HOUR, hour - 3600, 4, 4);
	quota_seed("shop", QUOTA_HOUR, hour, 6, 7);
	quota_seed("shop", QUOTA_HOUR, hour - 7200, 1, 1);	/* older */
	quota_seed("shop", QUOTA_DAY, day, 10, 11);
	quota_seed("shop", 60, day, 99, 99);			/* ignored */
	quota_get("shop", T0, &u);
	assert_int_equal(u.messages[0], 6);
	assert_int_equal(u.recipients[0], 7);
	assert_int_equal(u.messages[1], 10);
	assert_int_equal(u.recipients[1], 11);
	assert_int_equal(quota_reserve(&t, 1, 1, T0, &d), -1);
	assert_string_equal(d.key, "messages_per_day");
	quota_reset();
}

static void
test_no_limits(void **state)
{
	struct conf_tenant t = tenant("free", 0, 0, 0, 0);
	struct quota_denial d;
	struct quota_usage u;

	(void)state;
	quota_reset();
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(quota_reserve(&t, 1, 100, T0, &d), 0);
		quota_commit("free", 1, 100, T0);
	}
	quota_get("free", T0, &u);
	assert_int_equal(u.messages[1], 1000);
	assert_int_equal(u.recipients[1], 100000);
	quota_reset();
}

static void
test_bounded(void **state)
{
	struct conf_tenant t = tenant("x", 0, 0, 0, 0);
	struct quota_denial d;
	char name[32];

	(void)state;
	quota_reset();
	/* a full table: past windows and no reservation can go */
	for (int i = 0; i < QUOTA_TENANTS_MAX; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		quota_commit(name, 1, 1, 3600);
	}
	t.name = "new";
	assert_int_equal(quota_reserve(&t, 1, 1, T0, &d), 0);
	quota_reset();
	/* ... and when nothing can go, a new tenant is not counted */
	for (int i = 0; i < QUOTA_TENANTS_MAX; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		t.name = name;
		assert_int_equal(quota_reserve(&t, 1, 1, (int64_t)time(NULL),
		    &d), 0);
	}
	t.name = "late";
	t.messages_per_day = 1;
	assert_int_equal(quota_reserve(&t, 2, 1, (int64_t)time(NULL), &d), 0);
	quota_reset();
}

#define RACE_THREADS	8
#define RACE_TRIES	50

static _Atomic int race_ok;

static void *
race(void *arg)
{
	const struct conf_tenant *t = arg;
	struct quota_denial d;

	for (int i = 0; i < RACE_TRIES; i++) {
		if (quota_reserve(t, 1, 1, T0, &d) == 0) {
			atomic_fetch_add(&race_ok, 1);
			/* half commit, half give back and try again */
			if (i % 2 == 0)
				quota_commit(t->name, 1, 1, T0);
			else {
				quota_release(t->name, 1, 1);
				atomic_fetch_sub(&race_ok, 1);
			}
		}
	}
	return NULL;
}

static void
test_concurrent_exact(void **state)
{
	struct conf_tenant t = tenant("race", 0, 10, 0, 0);
	pthread_t th[RACE_THREADS];
	struct quota_usage u;

	(void)state;
	quota_reset();
	atomic_store(&race_ok, 0);
	for (int i = 0; i < RACE_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race, &t), 0);
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	quota_get("race", T0, &u);
	assert_int_equal(u.messages[1], 10);
	assert_int_equal(atomic_load(&race_ok), 10);
	assert_int_equal(u.reserved_messages, 0);
	quota_reset();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_messages_per_day),
		cmocka_unit_test(test_recipients_per_hour),
		cmocka_unit_test(test_commit_and_release_bounds),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_no_limits),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_concurrent_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
