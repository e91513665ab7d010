/* SPDX-License-Identifier: ISC */
/*
 * test_metrics.c - core/metrics.c: counts from several threads add up,
 * label values are escaped, histogram buckets are cumulative, the label
 * tables overflow into "other", and every line of the rendering is one
 * of the three forms of the text format 0.0.4 (checked with regular
 * expressions, and each series' family announced by # TYPE first).
 *
 * With RELAIS_METRICS_DUMP=FILE in the environment, test_dump also writes
 * a rendering with every kind of series (awkward label values included)
 * to FILE, which tests/integration/test_metrics_format.py parses with the
 * Prometheus client library's own parser.
 */
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/metrics.h"

#define THREADS		4
#define PER_THREAD	20000

/* test_render - the whole text, in a buf the caller frees */
static void
test_render(struct buf *b)
{
	buf_init(b, 0);
	assert_int_equal(metrics_render(b), 0);
}

/* test_value - the value on the line that starts with series + " ", or
   -1 (the line is absent) */
static long long
test_value(const struct buf *b, const char *series)
{
	size_t n = strlen(series);
	const char *p = buf_cstr(b);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return -1;
}

/* test_has - the text holds this exact line */
static bool
test_has(const struct buf *b, const char *line)
{
	size_t n = strlen(line);
	const char *p = buf_cstr(b);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return false;
}

static void *
test_thread(void *arg)
{
	const char *domain = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		metrics_count(METRIC_RECEIVED, "mx");
		metrics_count(METRIC_DELIVERED, domain);
		metrics_gauge_add(METRIC_SESSIONS_OPEN, "mx", 1);
		metrics_observe(METRIC_H_SPOOL_COMMIT, 0.002);
		metrics_gauge_add(METRIC_SESSIONS_OPEN, "mx", -1);
	}
	return NULL;
}

static void
test_threads_add_up(void **state)
{
	/* every thread a domain of its own but one shared, so that slots
	   are claimed concurrently too */
	static const char *const domains[THREADS] = {
		"a@one.test", "b@two.test", "c@ONE.test", "d@three.test",
	};
	pthread_t t[THREADS];
	struct buf b;

	(void)state;
	metrics_reset();
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, test_thread,
		    (void *)domains[i]), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	test_render(&b);
	assert_int_equal(test_value(&b,
	    "relais_messages_received_total{listener=\"mx\"}"),
	    THREADS * PER_THREAD);
	assert_int_equal(test_value(&b,
	    "relais_recipients_delivered_total{domain=\"one.test\"}"),
	    2 * PER_THREAD);
	assert_int_equal(test_value(&b,
	    "relais_recipients_delivered_total{domain=\"two.test\"}"),
	    PER_THREAD);
	assert_int_equal(test_value(&b,
	    "relais_recipients_delivered_total{domain=\"three.test\"}"),
	    PER_THREAD);
	assert_int_equal(test_value(&b, "relais_metrics_domains"), 3);
	assert_int_equal(test_value(&b,
	    "relais_smtp_sessions_open{listener=\"mx\"}"), 0);
	assert_int_equal(test_value(&b, "relais_spool_commit_seconds_count"),
	    THREADS * PER_THREAD);
	assert_int_equal(test_value(&b,
	    "relais_spool_commit_seconds_bucket{le=\"0.0025\"}"),
	    THREADS * PER_THREAD);
	assert_int_equal(test_value(&b,
	    "relais_spool_commit_seconds_bucket{le=\"0.001\"}"), 0);
	/* 80000 x 2 ms */
	assert_true(test_has(&b, "relais_spool_commit_seconds_sum"
	    " 160.000000000"));
	buf_fini(&b);
}

static void
test_label_escaping(void **state)
{
	struct buf b;

	(void)state;
	metrics_reset();
	metrics_count(METRIC_RECEIVED, "a\\b\"c\nd");
	metrics_count(METRIC_RECEIVED, "a\\b\"c\nd");
	metrics_count(METRIC_DELIVERED, "x@quote\"d.test");
	test_render(&b);
	assert_int_equal(test_value(&b,
	    "relais_messages_received_total{listener=\"a\\\\b\\\"c\\nd\"}"), 2);
	assert_int_equal(test_value(&b,
	    "relais_recipients_delivered_total{domain=\"quote\\\"d.test\"}"),
	    1);
	buf_fini(&b);
}

static void
test_histogram_cumulative(void **state)
{
	/* observation -> index of the first bucket that holds it */
	static const struct {
		double	 seconds;
		int	 bucket;	/* 14: +Inf only */
	} obs[] = {
		{ 0.0001, 0 }, { 0.0005, 0 },	/* le is inclusive */
		{ 0.0006, 1 }, { 0.003, 3 }, { 0.7, 10 }, { 10, 13 },
		{ 11, 14 }, { -1, 0 },		/* negative: 0 */
	};
	static const char *const le[] = {
		"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
		"0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
	};
	struct buf b;
	char series[128];
	long long prev = 0;

	(void)state;
	metrics_reset();
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		metrics_observe(METRIC_H_DNS_MX, obs[i].seconds);
	metrics_observe(METRIC_H_DNS_MX, NAN);	/* as 0 */
	test_render(&b);
	for (int j = 0; j < 15; j++) {
		long long want = 1, got;	/* the NaN */

		for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
			want += obs[i].bucket <= j;
		snprintf(series, sizeof(series), "relais_dns_query_seconds_bucket"
		    "{type=\"MX\",le=\"%s\"}", le[j]);
		got = test_value(&b, series);
		if (got != want)
			fail_msg("%s: got %lld, want %lld", series, got, want);
		assert_true(got >= prev);
		prev = got;
	}
	assert_int_equal(test_value(&b,
	    "relais_dns_query_seconds_count{type=\"MX\"}"), 9);
	/* 0.0001 + 0.0005 + 0.0006 + 0.003 + 0.7 + 10 + 11 */
	assert_true(test_has(&b, "relais_dns_query_seconds_sum{type=\"MX\"}"
	    " 21.704200000"));
	/* the other types are there, empty */
	assert_int_equal(test_value(&b,
	    "relais_dns_query_seconds_count{type=\"A\"}"), 0);
	assert_int_equal(test_value(&b,
	    "relais_dns_query_seconds_bucket{type=\"TLSA\",le=\"+Inf\"}"), 0);
	buf_fini(&b);
}

static void
test_domain_overflow(void **state)
{
	struct buf b;
	char addr[64], series[128];

	(void)state;
	metrics_reset();
	for (int i = 0; i < METRICS_DOMAINS_MAX + 6; i++) {
		snprintf(addr, sizeof(addr), "user%d@D%d.Example", i, i);
		metrics_count(METRIC_DEFERRED, addr);
		metrics_count(METRIC_DEFERRED, addr);
	}
	/* known domains keep their label once the table is full */
	metrics_count(METRIC_DEFERRED, "again@d0.example.");
	metrics_count(METRIC_DEFERRED, "d1.example");
	/* never a label: empty, too long, not UTF-8, control characters */
	metrics_count(METRIC_DEFERRED, "nobody@");
	metrics_count(METRIC_DEFERRED, NULL);
	test_render(&b);
	assert_int_equal(test_value(&b, "relais_metrics_domains"),
	    METRICS_DOMAINS_MAX);
	for (int i = 0; i < METRICS_DOMAINS_MAX + 6; i++) {
		snprintf(series, sizeof(series),
		    "relais_recipients_deferred_total{domain=\"d%d.example\"}",
		    i);
		assert_int_equal(test_value(&b, series), i <
		    METRICS_DOMAINS_MAX ? 2 + (i < 2) : -1);
	}
	assert_int_equal(test_value(&b,
	    "relais_recipients_deferred_total{domain=\"other\"}"), 6 * 2 + 2);
	/* a domain's series appear once they count something */
	assert_int_equal(test_value(&b,
	    "relais_recipients_bounced_total{domain=\"other\"}"), -1);
	assert_int_equal(test_value(&b,
	    "relais_recipients_bounced_total{domain=\"d5.example\"}"), -1);
	buf_fini(&b);

	metrics_reset();
	metrics_count(METRIC_BOUNCED, "a@\xff\xfe.test");
	metrics_count(METRIC_BOUNCED, "a@tab\there.test");
	metrics_count(METRIC_BOUNCED, "a@b\xc3\xa9.test");	/* U+00E9 */
	test_render(&b);
	assert_int_equal(test_value(&b, "relais_metrics_domains"), 1);
	assert_int_equal(test_value(&b,
	    "relais_recipients_bounced_total{domain=\"other\"}"), 2);
	assert_int_equal(test_value(&b,
	    "relais_recipients_bounced_total{domain=\"b\xc3\xa9.test\"}"), 1);
	buf_fini(&b);
}

static void
test_listener_overflow(void **state)
{
	struct buf b;
	char name[32], series[128];

	(void)state;
	metrics_reset();
	metrics_listener("mx");
	metrics_listener("submission");
	test_render(&b);
	/* registered: there from the start, at zero, TLS and not */
	assert_int_equal(test_value(&b,
	    "relais_messages_received_total{listener=\"submission\"}"), 0);
	assert_int_equal(test_value(&b,
	    "relais_smtp_sessions_total{listener=\"mx\",tls=\"yes\"}"), 0);
	assert_int_equal(test_value(&b,
	    "relais_smtp_sessions_total{listener=\"mx\",tls=\"no\"}"), 0);
	buf_fini(&b);
	for (int i = 0; i < METRICS_LISTENERS_MAX + 2; i++) {
		snprintf(name, sizeof(name), "l%d", i);
		metrics_count(METRIC_SESSIONS_TLS, name);
	}
	test_render(&b);
	for (int i = 0; i < METRICS_LISTENERS_MAX - 2; i++) {
		snprintf(series, sizeof(series), "relais_smtp_sessions_total"
		    "{listener=\"l%d\",tls=\"yes\"}", i);
		assert_int_equal(test_value(&b, series), 1);
	}
	assert_int_equal(test_value(&b, "relais_smtp_sessions_total"
	    "{listener=\"other\",tls=\"yes\"}"), 4);
	assert_int_equal(test_value(&b, "relais_smtp_sessions_total"
	    "{listener=\"other\",tls=\"no\"}"), -1);
	buf_fini(&b);
}

static void
test_gauges(void **state)
{
	struct buf b;

	(void)state;
	metrics_reset();
	metrics_gauge_set(METRIC_QUEUE_RECIPIENTS, NULL, 1000000);
	metrics_gauge_set(METRIC_QUEUE_RECIPIENTS, NULL, 123);
	metrics_gauge_set(METRIC_QUEUE_OLDEST_AGE, NULL, 3600);
	metrics_gauge_add(METRIC_SESSIONS_OPEN, "mx", 3);
	metrics_gauge_add(METRIC_SESSIONS_OPEN, "mx", -1);
	metrics_gauge_add(METRIC_SESSIONS_OPEN, "submission", -2);
	test_render(&b);
	assert_int_equal(test_value(&b, "relais_queue_recipients"), 123);
	assert_int_equal(test_value(&b, "relais_queue_oldest_age_seconds"),
	    3600);
	assert_int_equal(test_value(&b,
	    "relais_smtp_sessions_open{listener=\"mx\"}"), 2);
	assert_int_equal(test_value(&b,
	    "relais_smtp_sessions_open{listener=\"submission\"}"), -2);
	buf_fini(&b);
	assert_int_equal(metrics_total(METRIC_SESSIONS_OPEN), 0);
	assert_int_equal(metrics_total(METRIC_QUEUE_RECIPIENTS), 123);
}

/* test_total - a counter summed over its labels, "other" included */
static void
test_total(void **state)
{
	char d[32];

	metrics_reset();
	assert_int_equal(metrics_total(METRIC_DELIVERED), 0);
	for (int i = 0; i < METRICS_DOMAINS_MAX + 5; i++) {
		snprintf(d, sizeof(d), "a@d%d.example", i);
		metrics_count(METRIC_DELIVERED, d);
	}
	metrics_count(METRIC_DELIVERED, NULL);
	metrics_count(METRIC_BOUNCED, "x@d1.example");
	assert_int_equal(metrics_total(METRIC_DELIVERED),
	    METRICS_DOMAINS_MAX + 6);
	assert_int_equal(metrics_total(METRIC_BOUNCED), 1);
	assert_int_equal(metrics_total(METRIC_DEFERRED), 0);
	assert_int_equal(metrics_total(METRIC__COUNT), 0);
}

/* test_fill - one of everything, awkward label values included */
static void
test_fill(void)
{
	metrics_reset();
	metrics_listener("mx");
	metrics_listener("submission");
	metrics_count(METRIC_RECEIVED, "mx");
	metrics_count(METRIC_RECEIVED, "odd \"name\"\\with\nnewline");
	metrics_count(METRIC_SESSIONS_TLS, "submission");
	metrics_count(METRIC_SESSIONS_PLAIN, "mx");
	metrics_count(METRIC_DELIVERED, "a@example.org");
	metrics_count(METRIC_DEFERRED, "b@\xc3\xa9xample.test");
	metrics_count(METRIC_BOUNCED, "c@bounce.test");
	metrics_count(METRIC_OUT_TLS, "example.org");
	metrics_count(METRIC_OUT_PLAIN, "[smarthost]");
	metrics_tenant("shop");
	metrics_add(METRIC_TENANT_MESSAGES, "shop", 1);
	metrics_add(METRIC_TENANT_RECIPIENTS, "shop", 3);
	metrics_add(METRIC_TENANT_MESSAGES, "odd \"tenant\"", 1);
	metrics_gauge_add(METRIC_SESSIONS_OPEN, "mx", 2);
	metrics_gauge_set(METRIC_QUEUE_RECIPIENTS, NULL, 42);
	metrics_gauge_set(METRIC_QUEUE_OLDEST_AGE, NULL, 77);
	metrics_observe(METRIC_H_SPOOL_COMMIT, 0.0042);
	metrics_observe(METRIC_H_SPOOL_COMMIT, 12.5);
	metrics_observe(METRIC_H_DNS_A, 0.03);
	metrics_observe(METRIC_H_DNS_OTHER, 0.0001);
	metrics_site_set("mx.example.org", true, 0);
	metrics_site_set("gmail", false, 2.5);
	metrics_site_set("gmail", false, 0.5);	/* a change, same series */
	metrics_site_set("bad\nsite", true, 1);	/* refused: control */
}

static void
test_render_lines(void **state)
{
	static const char name_re[] = "relais_[a-z_]+";
	static const char value_re[] = "\"([^\"\\\\\n]|\\\\[\\\\\"n])*\"";
	regex_t help, type, sample;
	char re[512], families[64][64], *text, *line, *save = NULL;
	size_t nfam = 0, nlines = 0;
	struct buf b;

	(void)state;
	test_fill();
	test_render(&b);
	snprintf(re, sizeof(re), "^# HELP (%s) [^\n]+$", name_re);
	assert_int_equal(regcomp(&help, re, REG_EXTENDED), 0);
	snprintf(re, sizeof(re), "^# TYPE (%s) (counter|gauge|histogram)$",
	    name_re);
	assert_int_equal(regcomp(&type, re, REG_EXTENDED), 0);
	snprintf(re, sizeof(re), "^(%s)(\\{[a-z_]+=%s(,[a-z_]+=%s)*\\})?"
	    " (-?[0-9]+(\\.[0-9]+)?)$", name_re, value_re, value_re);
	assert_int_equal(regcomp(&sample, re, REG_EXTENDED), 0);

	text = strdup(buf_cstr(&b));
	assert_true(b.len > 0 && b.data[b.len - 1] == '\n');
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		regmatch_t m[2];
		char name[64];
		size_t n;
		bool known = false;

		nlines++;
		if (regexec(&help, line, 2, m, 0) == 0)
			continue;
		if (regexec(&type, line, 2, m, 0) == 0) {
			n = (size_t)(m[1].rm_eo - m[1].rm_so);
			assert_true(n < sizeof(families[0]) && nfam < 64);
			for (size_t i = 0; i < nfam; i++)
				if (strlen(families[i]) == n &&
				    memcmp(families[i], line + m[1].rm_so, n) == 0)
					fail_msg("# TYPE twice: %s", line);
			memcpy(families[nfam], line + m[1].rm_so, n);
			families[nfam++][n] = '\0';
			continue;
		}
		if (regexec(&sample, line, 2, m, 0) != 0)
			fail_msg("not a line of the text format: %s", line);
		/* its family (a histogram's less _bucket/_sum/_count) was
		   announced, and is the latest announced */
		n = (size_t)(m[1].rm_eo - m[1].rm_so);
		assert_true(n < sizeof(name));
		memcpy(name, line + m[1].rm_so, n);
		name[n] = '\0';
		if (nfam > 0) {
			const char *f = families[nfam - 1];
			size_t fl = strlen(f);

			known = strcmp(name, f) == 0 || (strncmp(name, f,
			    fl) == 0 && (strcmp(name + fl, "_bucket") == 0 ||
			    strcmp(name + fl, "_sum") == 0 ||
			    strcmp(name + fl, "_count") == 0));
		}
		if (!known)
			fail_msg("sample outside its family: %s", line);
	}
	/* 16 families; every line was one of the three forms */
	assert_int_equal(nfam, 16);
	assert_true(nlines > 100);
	assert_int_equal(test_value(&b, "relais_messages_received_total"
	    "{listener=\"odd \\\"name\\\"\\\\with\\nnewline\"}"), 1);
	assert_int_equal(test_value(&b,
	    "relais_site_suspended{site=\"mx.example.org\"}"), 1);
	assert_int_equal(test_value(&b,
	    "relais_site_suspended{site=\"gmail\"}"), 0);
	assert_non_null(strstr(buf_cstr(&b),
	    "\nrelais_site_rate{site=\"gmail\"} 0.500\n"));
	assert_null(strstr(buf_cstr(&b), "site=\"bad"));
	free(text);
	regfree(&help);
	regfree(&type);
	regfree(&sample);
	buf_fini(&b);
}

static void
test_render_refused(void **state)
{
	struct buf b;

	(void)state;
	test_fill();
	buf_init(&b, 512);	/* far too small */
	assert_int_equal(metrics_render(&b), -1);
	assert_true(b.len <= 512);
	buf_fini(&b);
}

static void
test_tenant_labels(void **state)
{
	struct buf b;
	char name[32], series[128];

	(void)state;
	metrics_reset();
	metrics_tenant("shop");
	test_render(&b);
	/* registered: there from the start, at zero */
	assert_int_equal(test_value(&b,
	    "relais_tenant_messages_total{tenant=\"shop\"}"), 0);
	assert_int_equal(test_value(&b,
	    "relais_tenant_recipients_total{tenant=\"shop\"}"), 0);
	buf_fini(&b);
	metrics_add(METRIC_TENANT_MESSAGES, "shop", 2);
	metrics_add(METRIC_TENANT_RECIPIENTS, "shop", 7);
	for (int i = 0; i < METRICS_TENANTS_MAX + 3; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		metrics_add(METRIC_TENANT_MESSAGES, name, 1);
	}
	test_render(&b);
	assert_int_equal(test_value(&b,
	    "relais_tenant_messages_total{tenant=\"shop\"}"), 2);
	assert_int_equal(test_value(&b,
	    "relais_tenant_recipients_total{tenant=\"shop\"}"), 7);
	snprintf(series, sizeof(series), "relais_tenant_messages_total"
	    "{tenant=\"t%d\"}", METRICS_TENANTS_MAX - 2);
	assert_int_equal(test_value(&b, series), 1);
	snprintf(series, sizeof(series), "relais_tenant_messages_total"
	    "{tenant=\"t%d\"}", METRICS_TENANTS_MAX - 1);
	assert_int_equal(test_value(&b, series), -1);
	/* the rest: one "other" */
	assert_int_equal(test_value(&b,
	    "relais_tenant_messages_total{tenant=\"other\"}"), 4);
	buf_fini(&b);
	metrics_reset();
}

/* test_dump - see the top of the file */
static void
test_dump(void **state)
{
	const char *path = getenv("RELAIS_METRICS_DUMP");
	struct buf b;
	FILE *f;

	(void)state;
	test_fill();
	test_render(&b);
	assert_true(b.len > 0);
	if (path != NULL && path[0] != '\0') {
		assert_non_null(f = fopen(path, "w"));
		assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
		assert_int_equal(fclose(f), 0);
	}
	buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_add_up),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_domain_overflow),
		cmocka_unit_test(test_listener_overflow),
		cmocka_unit_test(test_tenant_labels),
		cmocka_unit_test(test_gauges),
		cmocka_unit_test(test_total),
		cmocka_unit_test(test_render_lines),
		cmocka_unit_test(test_render_refused),
		cmocka_unit_test(test_dump),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
