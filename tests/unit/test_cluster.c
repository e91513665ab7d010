/* SPDX-License-Identifier: ISC */
/*
 * test_cluster.c - the pure parts of the cluster's shared state: key
 * building, the suppression channel's messages, Redis addresses, the
 * TLS name and context of [cluster] tls, script SHA-1s, the suppression list's hook and the quota denial of a limit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "conf/conf.h"
#include "core/err.h"
#include "net/redis.h"
#include "net/redis_tls.h"
#include "policy/cluster.h"
#include "policy/quota.h"
#include "policy/suppress.h"

static void
test_key(void **state)
{
	char k[64];

	(void)state;
	cluster_key("relais:", "user", "Alice@Example.TEST", true, k,
	    sizeof(k));
	assert_string_equal(k, "relais:user:alice@example.test");
	cluster_key("p:", "ban", "127.0.0.1", false, k, sizeof(k));
	assert_string_equal(k, "p:ban:127.0.0.1");
	cluster_key("Big:", "quota", "Shop", false, k, sizeof(k));
	assert_string_equal(k, "Big:quota:Shop");
	cluster_key("relais:", "user", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    true, k, 20);
	assert_string_equal(k, "relais:user:aaaaaaa");
}

static void
test_suppress_parse(void **state)
{
	char a[32];
	bool add;

	(void)state;
	assert_int_equal(cluster_suppress_parse("+x@y", 4, &add, a,
	    sizeof(a)), 0);
	assert_true(add);
	assert_string_equal(a, "x@y");
	assert_int_equal(cluster_suppress_parse("-x@y", 4, &add, a,
	    sizeof(a)), 0);
	assert_false(add);
	assert_int_equal(cluster_suppress_parse("x@y", 3, &add, a,
	    sizeof(a)), -1);
	assert_int_equal(cluster_suppress_parse("+", 1, &add, a, sizeof(a)),
	    -1);
	assert_int_equal(cluster_suppress_parse("+a\0b", 4, &add, a,
	    sizeof(a)), -1);
	assert_int_equal(cluster_suppress_parse("+abcdef", 7, &add, a, 4),
	    -1);
}

static void
test_addr(void **state)
{
	char h[64];
	int port;
	bool ux;

	(void)state;
	assert_int_equal(redis_addr_parse("127.0.0.1:6379", h, sizeof(h),
	    &port, &ux), 0);
	assert_string_equal(h, "127.0.0.1");
	assert_int_equal(port, 6379);
	assert_false(ux);
	assert_int_equal(redis_addr_parse("[::1]:7000", h, sizeof(h), &port,
	    &ux), 0);
	assert_string_equal(h, "::1");
	assert_int_equal(port, 7000);
	assert_int_equal(redis_addr_parse("unix:/run/redis.sock", h,
	    sizeof(h), &port, &ux), 0);
	assert_true(ux);
	assert_string_equal(h, "/run/redis.sock");
	assert_int_equal(redis_addr_parse("host", h, sizeof(h), &port, &ux),
	    -1);
	assert_int_equal(redis_addr_parse("host:0", h, sizeof(h), &port,
	    &ux), -1);
	assert_int_equal(redis_addr_parse("host:99999", h, sizeof(h), &port,
	    &ux), -1);
	assert_int_equal(redis_addr_parse("unix:rel", h, sizeof(h), &port,
	    &ux), -1);
}

static void
test_tls_name(void **state)
{
	struct conf c;
	char n[64];

	(void)state;
	memset(&c, 0, sizeof(c));
	c.cluster.redis = "127.0.0.1:6379";
	redis_tls_name(&c, n, sizeof(n));
	assert_string_equal(n, "127.0.0.1");
	c.cluster.redis = "[::1]:6380";
	redis_tls_name(&c, n, sizeof(n));
	assert_string_equal(n, "::1");
	c.cluster.redis = "redis.example.net:6380";
	redis_tls_name(&c, n, sizeof(n));
	assert_string_equal(n, "redis.example.net");
	c.cluster.tls_name = "other.example.net";
	redis_tls_name(&c, n, sizeof(n));
	assert_string_equal(n, "other.example.net");
	c.cluster.tls_name = NULL;
	c.cluster.redis = "unix:/run/redis.sock";
	redis_tls_name(&c, n, sizeof(n));
	assert_string_equal(n, "");
}

static void
test_tls_ctx(void **state)
{
	struct conf c;
	struct ssl_ctx_st *ctx = (struct ssl_ctx_st *)&c;
	struct err err;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.cluster.redis = "127.0.0.1:6379";
	/* tls = no: no context, no error */
	assert_int_equal(redis_tls_ctx(&c, &ctx, &err), 0);
	assert_null(ctx);
	/* a CA file that is not there: the key and the path named */
	c.cluster.tls = true;
	c.cluster.tls_ca_file = "/nonexistent/ca.pem";
	assert_int_equal(redis_tls_ctx(&c, &ctx, &err), -1);
	assert_null(ctx);
	assert_non_null(strstr(err.msg, "[cluster] tls_ca_file"));
	assert_non_null(strstr(err.msg, "/nonexistent/ca.pem"));
}

static void
test_site_messages(void **state)
{
	struct cluster_site_msg m;
	char out[600], big[200];

	(void)state;
	assert_int_equal(cluster_site_format(out, sizeof(out),
	    "mx.example.net", 1800000000, true, "maintenance window"), 0);
	assert_string_equal(out,
	    "S\t1800000000\t1\tmx.example.net\tmaintenance window");
	assert_int_equal(cluster_site_parse(out, strlen(out), &m), 0);
	assert_string_equal(m.site, "mx.example.net");
	assert_true(m.until == 1800000000);
	assert_true(m.manual);
	assert_string_equal(m.reason, "maintenance window");
	assert_int_equal(cluster_site_format(out, sizeof(out), "busy", 5,
	    false, ""), 0);
	assert_int_equal(cluster_site_parse(out, strlen(out), &m), 0);
	assert_false(m.manual);
	assert_string_equal(m.reason, "");
	/* a reply's TAB and line breaks become spaces */
	assert_int_equal(cluster_site_format(out, sizeof(out), "busy", 9,
	    false, "421\ttoo busy\r\nlater"), 0);
	assert_int_equal(cluster_site_parse(out, strlen(out), &m), 0);
	assert_string_equal(m.reason, "421 too busy  later");
	/* a resume */
	assert_int_equal(cluster_site_format(out, sizeof(out), "a,b", 0,
	    false, "x"), 0);
	assert_string_equal(out, "R\ta,b");
	assert_int_equal(cluster_site_parse(out, strlen(out), &m), 0);
	assert_true(m.until == 0);
	assert_string_equal(m.site, "a,b");
	/* names that cannot be told */
	assert_int_equal(cluster_site_format(out, sizeof(out), "", 5, false,
	    ""), -1);
	assert_int_equal(cluster_site_format(out, sizeof(out), "a b", 5,
	    false, ""), -1);
	assert_int_equal(cluster_site_format(out, sizeof(out), "a\tb", 5,
	    false, ""), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cluster_site_format(out, sizeof(out), big, 5, false,
	    ""), -1);
	assert_int_equal(cluster_site_format(out, 8, "mx.example.net", 5,
	    false, ""), -1);
	/* malformed messages */
	static const char *const bad[] = {
		"", "S", "R", "R\t", "X\tsite", "S\t5\t1\tsite",
		"S\t0\t1\tsite\tr", "S\t-3\t1\tsite\tr",
		"S\t5x\t1\tsite\tr", "S\t5\t2\tsite\tr",
		"S\t5\t1\t\tr", "S\t5\t1\ta b\tr", "S\t5\t1\ts\tr\tmore",
		"S\t99999999999999999999999\t1\ts\tr", "R\tsite\textra",
		"R\ta\001b",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cluster_site_parse(bad[i], strlen(bad[i]),
		    &m), -1);
	/* a NUL inside */
	assert_int_equal(cluster_site_parse("R\tab\0c", 6, &m), -1);
}

static void
test_script_sha(void **state)
{
	struct redis_script s;

	(void)state;
	redis_script_init(&s, "return 1");
	/* sha1("return 1"), as SCRIPT LOAD answers it */
	assert_string_equal(s.sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

static int hook_adds, hook_removes;
static char hook_last[64];

static void
hook(bool add, const char *key)
{
	if (add)
		hook_adds++;
	else
		hook_removes++;
	snprintf(hook_last, sizeof(hook_last), "%s", key);
}

static void
test_suppress_hook(void **state)
{
	char *first[] = { "a@x.test", "b@x.test" };
	char *second[] = { "b@x.test", "c@x.test" };

	(void)state;
	suppress_clear();
	suppress_set_hook(hook);
	suppress_replace(first, 2);		/* the first load: quiet */
	assert_int_equal(hook_adds + hook_removes, 0);
	suppress_add_shared("s@x.test");	/* from the cluster: quiet */
	assert_int_equal(hook_adds, 0);
	suppress_replace(second, 2);		/* a reload: a goes, c comes */
	assert_int_equal(hook_adds, 1);
	assert_int_equal(hook_removes, 1);
	assert_true(suppress_contains("s@X.test"));	/* shared stays */
	assert_false(suppress_contains("a@x.test"));
	suppress_add("D@X.TEST");
	assert_int_equal(hook_adds, 2);
	assert_string_equal(hook_last, "D@x.test");
	suppress_add("D@x.test");		/* known: no change */
	assert_int_equal(hook_adds, 2);
	suppress_remove("c@x.test");
	assert_int_equal(hook_removes, 2);
	suppress_remove_shared("s@x.test");
	assert_int_equal(hook_removes, 2);
	assert_false(suppress_contains("s@x.test"));
	suppress_set_hook(NULL);
	suppress_clear();
}

static void
test_denial_fill(void **state)
{
	struct conf_tenant t = { .name = "shop", .messages_per_hour = 5,
	    .messages_per_day = 50, .recipients_per_hour = 7,
	    .recipients_per_day = 70 };
	struct quota_denial d;

	(void)state;
	quota_denial_fill(&t, 1, 86400 * 10 + 100, &d);
	assert_int_equal(d.kind, QUOTA_MESSAGES);
	assert_int_equal(d.period, QUOTA_DAY);
	assert_int_equal(d.limit, 50);
	assert_int_equal(d.retry_after, 86400 - 100);
	assert_string_equal(d.key, "messages_per_day");
	quota_denial_fill(&t, 2, 3600 * 3 + 600, &d);
	assert_int_equal(d.kind, QUOTA_RECIPIENTS);
	assert_int_equal(d.period, QUOTA_HOUR);
	assert_int_equal(d.limit, 7);
	assert_int_equal(d.retry_after, 3000);
	assert_string_equal(d.key, "recipients_per_hour");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_suppress_parse),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_tls_name),
		cmocka_unit_test(test_tls_ctx),
		cmocka_unit_test(test_site_messages),
		cmocka_unit_test(test_script_sha),
		cmocka_unit_test(test_suppress_hook),
		cmocka_unit_test(test_denial_fill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
