/* SPDX-License-Identifier: ISC */
/*
 * test_tlsrpt.c - TLS-RPT (RFC 8460): the outcome counts
 * (tlspol/tlsrpt.c: keys, what a success keeps, threads, the daily
 * bound, drain), the policy record parser (tlspol/tlsrpt_record.c),
 * the report (tlspol/tlsrpt_report.c: JSON, gzip, file name, mail), the
 * days of queue/tlsrpt_send.c and the spool's tables
 * (spool/spool_tlsrpt.c).
 */
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "core/base64.h"
#include "core/log.h"
#include "live/conf_live.h"
#include "queue/qmgr.h"
#include "queue/tlsrpt_send.h"
#include "spool/spool.h"
#include "tlspol/tlsrpt.h"
#include "tlspol/tlsrpt_record.h"
#include "tlspol/tlsrpt_report.h"

/*
 * net/dane.c gives tls_result_name; until it is in the tree this weak
 * copy lets the test link (the real one wins once it is)
 */
__attribute__((weak)) const char *
tls_result_name(enum tls_result r)
{
	static const char *const names[] = {
		"success", "starttls-not-supported",
		"certificate-host-mismatch", "certificate-expired",
		"certificate-not-trusted", "validation-failure",
		"tlsa-invalid", "dnssec-invalid", "dane-required",
		"sts-policy-fetch-error", "sts-policy-invalid",
		"sts-webpki-invalid",
	};

	return (unsigned)r < TLS_R_COUNT ? names[r] : "validation-failure";
}

static const char *const sts_lines[] = {
	"version: STSv1", "mode: enforce", "mx: mx1.example.com",
	"mx: *.backup.example.com", "max_age: 86400",
};

static struct tlsrpt_outcome
outcome(const char *domain, enum tlsrpt_policy type, enum tls_result r)
{
	struct tlsrpt_outcome o;

	memset(&o, 0, sizeof(o));
	o.policy_domain = domain;
	o.policy_type = type;
	if (type == TLSRPT_POLICY_STS) {
		o.policy_strings = sts_lines;
		o.npolicy_strings = 5;
	}
	o.mx_host = "mx1.example.com";
	o.sending_ip = "192.0.2.1";
	o.receiving_ip = "198.51.100.7";
	o.result = r;
	o.detail = r == TLS_R_OK ? "fine" : "certificate has expired";
	return o;
}

static const struct tlsrpt_count *
find(const struct tlsrpt_count *c, size_t n, const char *domain,
    enum tls_result r)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].policy_domain, domain) == 0 &&
		    c[i].result == r)
			return &c[i];
	return NULL;
}

static void
test_counts(void **state)
{
	struct tlsrpt *t = tlsrpt_new();
	struct tlsrpt_outcome o;
	struct tlsrpt_count *c;
	const struct tlsrpt_count *k;
	size_t n;

	(void)state;
	o = outcome("Example.COM", TLSRPT_POLICY_STS, TLS_R_OK);
	tlsrpt_record(t, &o);
	tlsrpt_record(t, &o);
	o.mx_host = "mx2.example.com";	/* a success forgets the MX */
	o.receiving_ip = "203.0.113.9";
	tlsrpt_record(t, &o);
	o = outcome("example.com", TLSRPT_POLICY_STS, TLS_R_CERT_EXPIRED);
	tlsrpt_record(t, &o);
	o = outcome("other.test", TLSRPT_POLICY_NONE,
	    TLS_R_STARTTLS_NOT_SUPPORTED);
	o.detail = "line\r\nbreak\x01\xc3\xa9";
	tlsrpt_record(t, &o);
	o = outcome("other.test", TLSRPT_POLICY_NONE, TLS_R_COUNT);
	tlsrpt_record(t, &o);			/* no such result: ignored */
	o.policy_domain = "";
	o.result = TLS_R_OK;
	tlsrpt_record(t, &o);			/* no domain: ignored */
	tlsrpt_record(NULL, &o);		/* no table: fine */

	c = tlsrpt_drain(t, &n);
	assert_int_equal(n, 3);
	k = find(c, n, "example.com", TLS_R_OK);
	assert_non_null(k);
	assert_int_equal(k->count, 3);
	assert_int_equal(strlen(k->day), 10);
	assert_int_equal(k->policy_type, TLSRPT_POLICY_STS);
	assert_string_equal(k->policy, "version: STSv1\nmode: enforce\n"
	    "mx: mx1.example.com\nmx: *.backup.example.com\nmax_age: 86400");
	assert_string_equal(k->mx_host, "");
	assert_string_equal(k->sending_ip, "");
	assert_string_equal(k->receiving_ip, "");
	assert_string_equal(k->detail, "");
	k = find(c, n, "example.com", TLS_R_CERT_EXPIRED);
	assert_non_null(k);
	assert_int_equal(k->count, 1);
	assert_string_equal(k->mx_host, "mx1.example.com");
	assert_string_equal(k->sending_ip, "192.0.2.1");
	assert_string_equal(k->receiving_ip, "198.51.100.7");
	assert_string_equal(k->detail, "certificate has expired");
	k = find(c, n, "other.test", TLS_R_STARTTLS_NOT_SUPPORTED);
	assert_non_null(k);
	assert_string_equal(k->policy, "");
	assert_string_equal(k->detail, "line??break???");
	tlsrpt_counts_free(c, n);

	/* drained: empty until the next outcome */
	assert_null(tlsrpt_drain(t, &n));
	assert_int_equal(n, 0);
	/* TLSA: a success keeps the MX host its records are for */
	o = outcome("dane.test", TLSRPT_POLICY_TLSA, TLS_R_OK);
	o.policy_strings = (const char *const[]){ "3 1 1 abcd" };
	o.npolicy_strings = 1;
	tlsrpt_record(t, &o);
	o.mx_host = "mx2.dane.test";
	tlsrpt_record(t, &o);
	c = tlsrpt_drain(t, &n);
	assert_int_equal(n, 2);
	assert_string_not_equal(c[0].mx_host, c[1].mx_host);
	assert_string_equal(c[0].policy, "3 1 1 abcd");
	tlsrpt_counts_free(c, n);
	tlsrpt_free(t);
	tlsrpt_free(NULL);
}

struct thread_arg {
	struct tlsrpt	*t;
	int		 id;
};

static void *
recorder(void *arg)
{
	struct thread_arg *a = arg;
	char dom[32];

	for (int i = 0; i < 2000; i++) {
		struct tlsrpt_outcome o = outcome(dom, TLSRPT_POLICY_NONE,
		    i % 2 ? TLS_R_OK : TLS_R_STARTTLS_NOT_SUPPORTED);

		snprintf(dom, sizeof(dom), "d%d.test", i % 7);
		tlsrpt_record(a->t, &o);
	}
	return NULL;
}

/* four threads record while a fifth drains: nothing lost or doubled */
static void
test_threads(void **state)
{
	struct tlsrpt *t = tlsrpt_new();
	pthread_t th[4];
	struct thread_arg a[4];
	uint64_t total = 0;
	struct tlsrpt_count *c;
	size_t n;

	(void)state;
	for (int i = 0; i < 4; i++) {
		a[i].t = t;
		a[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, recorder, &a[i]),
		    0);
	}
	for (int i = 0; i < 50; i++) {
		c = tlsrpt_drain(t, &n);
		for (size_t k = 0; k < n; k++)
			total += c[k].count;
		tlsrpt_counts_free(c, n);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	c = tlsrpt_drain(t, &n);
	for (size_t k = 0; k < n; k++)
		total += c[k].count;
	tlsrpt_counts_free(c, n);
	assert_int_equal(total, 4 * 2000);
	tlsrpt_free(t);
}

/* at most TLSRPT_MAX_ENTRIES keys a day, drains or not; a key of the
   day still counts once it was drained */
static void
test_bound(void **state)
{
	struct tlsrpt *t = tlsrpt_new();
	struct tlsrpt_count *c;
	size_t n, total = 0;
	char dom[32];

	(void)state;
	for (int i = 0; i < TLSRPT_MAX_ENTRIES + 50; i++) {
		struct tlsrpt_outcome o = outcome(dom, TLSRPT_POLICY_NONE,
		    TLS_R_OK);

		snprintf(dom, sizeof(dom), "d%d.test", i);
		tlsrpt_record(t, &o);
		if (i % 30000 == 0) {
			c = tlsrpt_drain(t, &n);
			total += n;
			tlsrpt_counts_free(c, n);
		}
	}
	c = tlsrpt_drain(t, &n);
	total += n;
	tlsrpt_counts_free(c, n);
	assert_int_equal(total, TLSRPT_MAX_ENTRIES);
	{
		struct tlsrpt_outcome o = outcome("d7.test",
		    TLSRPT_POLICY_NONE, TLS_R_OK);

		tlsrpt_record(t, &o);
		o.policy_domain = "new.test";
		tlsrpt_record(t, &o);
	}
	c = tlsrpt_drain(t, &n);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].policy_domain, "d7.test");
	tlsrpt_counts_free(c, n);
	tlsrpt_free(t);
}

/* ------------------------------------------------------------ record */

static int
parse(const char *txt, struct tlsrpt_policy_record *r)
{
	struct err err;

	return tlsrpt_record_parse(txt, strlen(txt), r, &err);
}

static void
test_record(void **state)
{
	struct tlsrpt_policy_record r;
	struct err err;

	(void)state;
	assert_int_equal(parse("v=TLSRPTv1; rua=mailto:tlsrpt@reports.test",
	    &r), 0);
	assert_int_equal(r.nrua, 1);
	assert_int_equal(r.rua[0].kind, TLSRPT_RUA_MAILTO);
	assert_string_equal(r.rua[0].addr, "tlsrpt@reports.test");
	assert_string_equal(r.rua[0].uri, "mailto:tlsrpt@reports.test");

	assert_int_equal(parse("v=TLSRPTv1 ;rua=mailto:a%2Bb@r.test?subject=x"
	    " , https://r.test/v1/tlsrpt,ftp://x.test/ ;ext=1;", &r), 0);
	assert_int_equal(r.nrua, 2);
	assert_string_equal(r.rua[0].addr, "a+b@r.test");
	assert_int_equal(r.rua[1].kind, TLSRPT_RUA_HTTPS);
	assert_string_equal(r.rua[1].uri, "https://r.test/v1/tlsrpt");
	assert_int_equal(r.ignored, 1);
	/* the field may come anywhere, schemes in any case */
	assert_int_equal(parse("v=TLSRPTv1;x-y.z=a:b;rua=HTTPS://h.test", &r),
	    0);
	assert_int_equal(r.nrua, 1);
	/* a record with only other schemes is valid, with nothing to use */
	assert_int_equal(parse("v=TLSRPTv1;rua=foo:bar", &r), 0);
	assert_int_equal(r.nrua, 0);

	/* not valid */
	static const char *const bad[] = {
		"", "v=TLSRPTv1", "v=TLSRPTv1;", "v=TLSRPTv2; rua=mailto:a@b.c",
		"v=tlsrptv1; rua=mailto:a@b.c", "v=TLSRPTv10; rua=mailto:a@b.c",
		" v=TLSRPTv1; rua=mailto:a@b.c",
		"v=TLSRPTv1; rua=", "v=TLSRPTv1; rua=mailto:",
		"v=TLSRPTv1; rua=mailto:nobody", "v=TLSRPTv1; rua=mailto:a@b",
		"v=TLSRPTv1; rua=mailto:a@-b.test",
		"v=TLSRPTv1; rua=mailto:a b@c.test",
		"v=TLSRPTv1; rua=mailto:a%0a@c.test",
		"v=TLSRPTv1; rua=mailto:a%zz@c.test",
		"v=TLSRPTv1; rua=https:/path", "v=TLSRPTv1; rua=https:///x",
		"v=TLSRPTv1; rua=nocolon",
		"v=TLSRPTv1; rua=mailto:a@b.test; rua=mailto:c@d.test",
		"v=TLSRPTv1; rua=mailto:a@b.test,", "v=TLSRPTv1;; rua=mailto:a@b.test",
		"v=TLSRPTv1; rua=mailto:a@b.test; x=", "v=TLSRPTv1; _x=1; rua=mailto:a@b.test",
		"v=TLSRPTv1 rua=mailto:a@b.test", "v=TLSRPTv1; other=1",
		"v=TLSRPTv1; rua=mailto:a@b.test; x=a=b",
		"v=TLSRPTv1; rua=https://a.test/<x>",
		"v=TLSRPTv1; aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1; rua=mailto:a@b.test",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &r) != -1)
			fail_msg("accepted: %s", bad[i]);
	/* a name of 32 is fine; a NUL is not */
	assert_int_equal(parse("v=TLSRPTv1; aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1;"
	    " rua=mailto:a@b.test", &r), 0);
	assert_int_equal(tlsrpt_record_parse("v=TLSRPTv1; rua=mailto:a@b.test\0x",
	    strlen("v=TLSRPTv1; rua=mailto:a@b.test") + 2, &r, &err), -1);
	/* more than TLSRPT_RUA_MAX: the rest ignored */
	assert_int_equal(parse("v=TLSRPTv1; rua=mailto:a@b.test,mailto:a@b.test,"
	    "mailto:a@b.test,mailto:a@b.test,mailto:a@b.test,mailto:a@b.test,"
	    "mailto:a@b.test,mailto:a@b.test,mailto:a@b.test", &r), 0);
	assert_int_equal(r.nrua, TLSRPT_RUA_MAX);
	assert_int_equal(r.ignored, 1);
}

static void
test_record_select(void **state)
{
	struct tlsrpt_policy_record r;
	struct err err;
	const char *one[] = { "v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@b.test" };
	const char *two[] = { "v=TLSRPTv1; rua=mailto:a@b.test",
	    "v=TLSRPTv1;rua=mailto:c@d.test" };
	const char *none[] = { "v=spf1 -all", "v=TLSRPTv12; rua=x:y" };
	const char *bad[] = { "v=TLSRPTv1; rua=oops" };
	size_t len[2];

	(void)state;
	len[0] = strlen(one[0]);
	len[1] = strlen(one[1]);
	assert_int_equal(tlsrpt_record_select(one, len, 2, &r, &err), 1);
	assert_string_equal(r.rua[0].addr, "a@b.test");
	len[0] = strlen(two[0]);
	len[1] = strlen(two[1]);
	assert_int_equal(tlsrpt_record_select(two, len, 2, &r, &err), -1);
	len[0] = strlen(none[0]);
	len[1] = strlen(none[1]);
	assert_int_equal(tlsrpt_record_select(none, len, 2, &r, &err), 0);
	assert_int_equal(tlsrpt_record_select(none, len, 0, &r, &err), 0);
	len[0] = strlen(bad[0]);
	assert_int_equal(tlsrpt_record_select(bad, len, 1, &r, &err), -1);
}

/* ------------------------------------------------------------ report */

static struct tlsrpt_count
count(const char *domain, enum tlsrpt_policy type, const char *policy,
    const char *mx, enum tls_result r, const char *detail, uint64_t n)
{
	struct tlsrpt_count c;

	memset(&c, 0, sizeof(c));
	snprintf(c.day, sizeof(c.day), "2026-01-02");
	c.policy_domain = (char *)domain;
	c.policy_type = type;
	c.policy = (char *)policy;
	c.mx_host = (char *)mx;
	c.sending_ip = (char *)(r == TLS_R_OK ? "" : "192.0.2.1");
	c.receiving_ip = (char *)(r == TLS_R_OK ? "" : "198.51.100.7");
	c.result = r;
	c.detail = (char *)detail;
	c.count = n;
	return c;
}

static const struct tlsrpt_report_info info = {
	.organization = "Relais Test", .contact = "postmaster@mx.test",
	.submitter = "mx.test", .policy_domain = "example.com",
	.uid = "0123456789abcdef", .start = 1767312000,	/* 2026-01-02 */
	.end = 1767312000 + 86399,
};

static json_t *
policy_of(json_t *root, const char *type)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(root, "policies"), i, p) {
		const char *t = json_string_value(json_object_get(
		    json_object_get(p, "policy"), "policy-type"));

		if (strcmp(t, type) == 0)
			return p;
	}
	return NULL;
}

static json_int_t
num(json_t *o, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(o, a), b));
}

static void
test_report_json(void **state)
{
	const char *sts = "version: STSv1\nmode: enforce\nmx: mx1.example.com\n"
	    "mx: *.b.example.com\nmax_age: 86400";
	struct tlsrpt_count c[] = {
		count("example.com", TLSRPT_POLICY_STS, sts, "", TLS_R_OK, "",
		    40),
		count("example.com", TLSRPT_POLICY_STS, sts, "mx1.example.com",
		    TLS_R_CERT_EXPIRED, "certificate has expired", 3),
		count("EXAMPLE.com", TLSRPT_POLICY_STS, sts, "mx1.example.com",
		    TLS_R_CERT_EXPIRED, "certificate has expired", 2),
		count("example.com", TLSRPT_POLICY_STS, sts, "mx1.example.com",
		    TLS_R_STARTTLS_NOT_SUPPORTED, "", 1),
		count("example.com", TLSRPT_POLICY_NONE, "", "", TLS_R_OK, "",
		    7),
		count("example.com", TLSRPT_POLICY_TLSA, "3 1 1 ab", "mx1.e.com",
		    TLS_R_OK, "", 5),
		count("example.com", TLSRPT_POLICY_TLSA, "3 1 1 cd", "mx2.e.com",
		    TLS_R_TLSA_INVALID, "TLSA mismatch", 4),
		count("other.test", TLSRPT_POLICY_NONE, "", "", TLS_R_OK, "",
		    1000),
	};
	struct err err;
	json_error_t jerr;
	json_t *root, *p, *f;
	char *text;

	(void)state;
	text = tlsrpt_report_json(&info, c, sizeof(c) / sizeof(c[0]), false,
	    &err);
	assert_non_null(text);
	root = json_loads(text, 0, &jerr);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root,
	    "organization-name")), "Relais Test");
	assert_string_equal(json_string_value(json_object_get(root,
	    "contact-info")), "postmaster@mx.test");
	assert_string_equal(json_string_value(json_object_get(root,
	    "report-id")), "0123456789abcdef.20260102@mx.test");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    root, "date-range"), "start-datetime")), "2026-01-02T00:00:00Z");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    root, "date-range"), "end-datetime")), "2026-01-02T23:59:59Z");
	/* none, sts, and one tlsa entry per MX host */
	assert_int_equal(json_array_size(json_object_get(root, "policies")),
	    4);

	p = policy_of(root, "sts");
	assert_non_null(p);
	assert_int_equal(num(p, "summary", "total-successful-session-count"),
	    40);
	assert_int_equal(num(p, "summary", "total-failure-session-count"), 6);
	assert_int_equal(json_array_size(json_object_get(json_object_get(p,
	    "policy"), "policy-string")), 5);
	assert_int_equal(json_array_size(json_object_get(json_object_get(p,
	    "policy"), "mx-host")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    json_object_get(p, "policy"), "mx-host"), 1)), "*.b.example.com");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    p, "policy"), "policy-domain")), "example.com");
	/* the two expired rows summed into one detail */
	assert_int_equal(json_array_size(json_object_get(p, "failure-details")),
	    2);
	f = json_array_get(json_object_get(p, "failure-details"), 0);
	assert_string_equal(json_string_value(json_object_get(f,
	    "result-type")), "starttls-not-supported");
	assert_null(json_object_get(f, "failure-reason-code"));
	f = json_array_get(json_object_get(p, "failure-details"), 1);
	assert_string_equal(json_string_value(json_object_get(f,
	    "result-type")), "certificate-expired");
	assert_int_equal(json_integer_value(json_object_get(f,
	    "failed-session-count")), 5);
	assert_string_equal(json_string_value(json_object_get(f,
	    "sending-mta-ip")), "192.0.2.1");
	assert_string_equal(json_string_value(json_object_get(f,
	    "receiving-ip")), "198.51.100.7");
	assert_string_equal(json_string_value(json_object_get(f,
	    "receiving-mx-hostname")), "mx1.example.com");
	assert_string_equal(json_string_value(json_object_get(f,
	    "failure-reason-code")), "certificate has expired");

	p = policy_of(root, "no-policy-found");
	assert_non_null(p);
	assert_int_equal(num(p, "summary", "total-successful-session-count"),
	    7);
	assert_null(json_object_get(json_object_get(p, "policy"),
	    "policy-string"));
	assert_null(json_object_get(json_object_get(p, "policy"), "mx-host"));
	assert_null(json_object_get(p, "failure-details"));
	json_decref(root);
	free(text);

	/* pretty, and a domain without counts: no policies */
	text = tlsrpt_report_json(&info, c, 0, true, &err);
	assert_non_null(strstr(text, "\n  \"policies\": []"));
	free(text);
}

static void
test_gzip(void **state)
{
	struct buf gz;
	struct err err;
	const char *in = "{\"a\": \"report report report report\"}";
	unsigned char out[256];
	z_stream zs;

	(void)state;
	buf_init(&gz, 0);
	assert_int_equal(tlsrpt_gzip(in, strlen(in), &gz, &err), 0);
	assert_true(gz.len > 18);
	assert_int_equal((unsigned char)gz.data[0], 0x1f);
	assert_int_equal((unsigned char)gz.data[1], 0x8b);
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (unsigned char *)gz.data;
	zs.avail_in = (uInt)gz.len;
	zs.next_out = out;
	zs.avail_out = sizeof(out);
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_int_equal(zs.total_out, strlen(in));
	assert_memory_equal(out, in, strlen(in));
	inflateEnd(&zs);
	buf_fini(&gz);
}

static void
test_mail(void **state)
{
	const char *to[] = { "tlsrpt@reports.test", "other@reports.test" };
	struct tlsrpt_mail m = {
		.ri = &info, .from = "postmaster@mx.test", .to = to,
		.nto = 2, .now = 1767398400, .gz = "\x1f\x8b\x08gzip-bytes",
		.gzlen = 14,
	};
	char fname[512];
	struct buf out, dec;
	struct err err;
	const char *p, *q;
	uint8_t raw[64];
	size_t n;

	(void)state;
	tlsrpt_filename(&info, fname, sizeof(fname));
	assert_string_equal(fname, "mx.test!example.com!1767312000!"
	    "1767398399!0123456789abcdef.json.gz");
	buf_init(&out, 0);
	assert_int_equal(tlsrpt_report_mail(&m, &out, &err), 0);
	p = buf_cstr(&out);
	assert_non_null(strstr(p, "From: <postmaster@mx.test>\r\n"));
	assert_non_null(strstr(p, "To: <tlsrpt@reports.test>,\r\n"
	    " <other@reports.test>\r\n"));
	assert_non_null(strstr(p, "Subject: Report Domain: example.com\r\n"
	    " Submitter: mx.test\r\n Report-ID: <0123456789abcdef.20260102"
	    "@mx.test>\r\n"));
	assert_non_null(strstr(p, "\r\nTLS-Report-Domain: example.com\r\n"));
	assert_non_null(strstr(p, "\r\nTLS-Report-Submitter: mx.test\r\n"));
	assert_non_null(strstr(p, "\r\nTLS-Required: No\r\n"));
	assert_non_null(strstr(p, "Content-Type: multipart/report;"
	    " report-type=\"tlsrpt\";"));
	assert_non_null(strstr(p, "Content-Type: application/tlsrpt+gzip\r\n"));
	assert_non_null(strstr(p, fname));
	/* no bare LF; the attachment decodes back */
	for (size_t i = 0; i < out.len; i++)
		if (p[i] == '\n')
			assert_int_equal(p[i - 1], '\r');
	q = strstr(p, "filename=");
	q = strstr(q, "\r\n\r\n") + 4;
	buf_init(&dec, 0);
	buf_append(&dec, q, (size_t)(strstr(q, "\r\n") - q));
	assert_int_equal(base64_decode(buf_str(&dec), 0, raw, sizeof(raw), &n),
	    0);
	assert_int_equal(n, 14);
	assert_memory_equal(raw, m.gz, 14);
	assert_non_null(strstr(p, "\r\n--=_tlsrpt_0123456789abcdef--\r\n"));
	buf_fini(&dec);
	buf_fini(&out);

	/* a name that would break the header */
	to[1] = "evil@x.test>\r\nBcc: <a@b.test";
	buf_init(&out, 0);
	assert_int_equal(tlsrpt_report_mail(&m, &out, &err), -1);
	buf_fini(&out);
}

/* ------------------------------------------------------- days, spool */

static void
test_days(void **state)
{
	int64_t start, end;
	char day[11];

	(void)state;
	assert_int_equal(tlsrpt_day_bounds("2026-01-02", 0, &start, &end), 0);
	assert_int_equal(start, 1767312000);
	assert_int_equal(end, 1767312000 + 86399);
	/* today: up to now */
	assert_int_equal(tlsrpt_day_bounds("2026-01-02", 1767312000 + 100,
	    &start, &end), 0);
	assert_int_equal(end, 1767312000 + 100);
	assert_int_equal(tlsrpt_day_bounds("2024-02-29", 0, &start, &end), 0);
	static const char *const bad[] = { "2026-02-29", "2026-13-01",
	    "2026-1-02", "2026-01-02x", "20260102", "", "1969-12-31",
	    "2026-01-00", "yesterday" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tlsrpt_day_bounds(bad[i], 0, &start, &end) != -1)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(tlsrpt_day_bounds(NULL, 0, &start, &end), -1);
	tlsrpt_day_of(1767312000 + 86399, day);
	assert_string_equal(day, "2026-01-02");
	tlsrpt_day_of(1767312000 + 86400, day);
	assert_string_equal(day, "2026-01-03");
}

static int
count_days(void *arg, const char *day)
{
	char *seen = arg;

	strcat(seen, day);
	strcat(seen, " ");
	return 0;
}

static int
count_reqs(void *arg, const char *day, int64_t asked)
{
	int *n = arg;

	assert_string_equal(day, "2026-01-02");
	assert_int_equal(asked, 77);
	(*n)++;
	return 0;
}

/* the spool's side: rows added up per key, read by day (as counts),
   deleted per domain once reported, pruned; requests answered */
static void
test_spool(void **state)
{
	char dir[] = "/tmp/relais-test-tlsrpt-XXXXXX", cmd[128], seen[64] = "";
	struct spool_tlsrpt rows[3];
	struct spool_reader *rd;
	struct tlsrpt_count *c;
	struct spool *sp;
	struct err err;
	sqlite3 *db;
	char path[128];
	size_t n;
	int nreq = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	log_set_level(LOG_LEVEL_ERROR);
	assert_non_null(sp = spool_open(dir, &err));
	memset(rows, 0, sizeof(rows));
	rows[0].day = "2026-01-02";
	rows[0].domain = "example.com";
	rows[0].policy_type = "sts";
	rows[0].policy = "version: STSv1\nmode: enforce";
	rows[0].result = "success";
	rows[0].count = 5;
	rows[1] = rows[0];
	rows[1].result = "certificate-expired";
	rows[1].mx_host = "mx.example.com";
	rows[1].detail = "expired";
	rows[1].count = 2;
	rows[2] = rows[0];
	rows[2].day = "2026-01-01";
	rows[2].domain = "old.test";
	rows[2].policy_type = "no-such-policy";	/* read back: skipped */
	assert_int_equal(spool_begin(sp, false, &err), 0);
	assert_int_equal(spool_tlsrpt_add(sp, rows, 3, &err), 0);
	assert_int_equal(spool_tlsrpt_add(sp, rows, 1, &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);

	assert_non_null(rd = spool_reader_open(dir, &err));
	assert_int_equal(tlsrpt_day_load(rd, "2026-01-02", &c, &n, &err), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(c[i].policy_domain, "example.com");
		assert_int_equal(c[i].policy_type, TLSRPT_POLICY_STS);
		assert_string_equal(c[i].policy,
		    "version: STSv1\nmode: enforce");
		if (c[i].result == TLS_R_OK) {
			assert_int_equal(c[i].count, 10);
			assert_string_equal(c[i].mx_host, "");
		} else {
			assert_int_equal(c[i].result, TLS_R_CERT_EXPIRED);
			assert_int_equal(c[i].count, 2);
			assert_string_equal(c[i].detail, "expired");
		}
	}
	tlsrpt_counts_free(c, n);
	assert_int_equal(tlsrpt_day_load(rd, "2026-01-01", &c, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(spool_reader_tlsrpt_days(rd, "2026-01-03", count_days,
	    seen, &err), 0);
	assert_string_equal(seen, "2026-01-01 2026-01-02 ");

	/* a request, as relais tls report --send writes it */
	snprintf(path, sizeof(path), "%s/spool/queue.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO tlsrpt_requests(day,"
	    " asked) VALUES('2026-01-02', 77)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(spool_reader_tlsrpt_requests(rd, count_reqs, &nreq,
	    &err), 0);
	assert_int_equal(nreq, 1);

	assert_int_equal(spool_begin(sp, true, &err), 0);
	assert_int_equal(spool_tlsrpt_delete(sp, "2026-01-02", "example.com",
	    &err), 0);
	assert_int_equal(spool_tlsrpt_prune(sp, "2026-01-02", 100, &err), 0);
	assert_int_equal(spool_tlsrpt_answer(sp, "2026-01-02", 77, "done",
	    &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);
	nreq = 0;
	assert_int_equal(spool_reader_tlsrpt_requests(rd, count_reqs, &nreq,
	    &err), 0);
	assert_int_equal(nreq, 0);
	seen[0] = '\0';
	assert_int_equal(spool_reader_tlsrpt_days(rd, "2026-01-03", count_days,
	    seen, &err), 0);
	assert_string_equal(seen, "");
	spool_reader_close(rd);
	spool_free(sp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* the thread's store: what the agent counted reaches the spool through
   the queue manager, at the latest with the last drain of a stop */
static void
test_sender_store(void **state)
{
	char dir[] = "/tmp/relais-test-tlsrpt-XXXXXX", path[128], cmd[128];
	char today[11];
	struct tlsrpt_outcome o;
	struct tlsrpt_sender *snd;
	struct spool_reader *rd;
	struct tlsrpt_count *c;
	struct conf_live live;
	struct tlsrpt *t;
	struct spool *sp;
	struct qmgr *q;
	struct err err;
	const struct tlsrpt_count *k;
	FILE *f;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	log_set_level(LOG_LEVEL_ERROR);
	snprintf(path, sizeof(path), "%s/relais.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "[server]\nhostname = mx.test\ndata_dir = %s\n"
	    "[listener a]\naddress = 127.0.0.1:25\n", dir);
	fclose(f);
	assert_int_equal(conf_live_init(&live, path, &err), 0);
	assert_non_null(sp = spool_open(dir, &err));
	q = qmgr_new(sp, NULL, &live);
	assert_int_equal(qmgr_start(q), 0);
	t = tlsrpt_new();
	assert_non_null(snd = tlsrpt_sender_start(dir, &live, q, t, &err));
	o = outcome("example.com", TLSRPT_POLICY_STS, TLS_R_OK);
	for (int i = 0; i < 3; i++)
		tlsrpt_record(t, &o);
	o = outcome("example.com", TLSRPT_POLICY_STS, TLS_R_CERT_EXPIRED);
	tlsrpt_record(t, &o);
	tlsrpt_sender_stop(snd);
	tlsrpt_sender_free(snd);
	qmgr_stop(q);
	qmgr_free(q);

	tlsrpt_day_of((int64_t)time(NULL), today);
	assert_non_null(rd = spool_reader_open(dir, &err));
	assert_int_equal(tlsrpt_day_load(rd, today, &c, &n, &err), 0);
	assert_int_equal(n, 2);
	k = find(c, n, "example.com", TLS_R_OK);
	assert_non_null(k);
	assert_int_equal(k->count, 3);
	k = find(c, n, "example.com", TLS_R_CERT_EXPIRED);
	assert_non_null(k);
	assert_int_equal(k->count, 1);
	assert_string_equal(k->receiving_ip, "198.51.100.7");
	tlsrpt_counts_free(c, n);
	spool_reader_close(rd);
	spool_free(sp);
	tlsrpt_free(t);
	conf_live_fini(&live);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_record_select),
		cmocka_unit_test(test_report_json),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_days),
		cmocka_unit_test(test_spool),
		cmocka_unit_test(test_sender_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
