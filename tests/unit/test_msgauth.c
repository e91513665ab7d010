/* SPDX-License-Identifier: ISC */
/*
 * test_msgauth.c - the combined inbound check (msgauth.c) against a fake
 * resolver: SPF + DKIM + DMARC into one Authentication-Results field and
 * a disposition; zero, several and multi-address From: fields; the
 * deadline; deferral through the event loop; cancellation. And the
 * Authentication-Results helpers (arh.c): formatting, folding, reading
 * an authserv-id, removing forged fields.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "msgauth/msgauth.h"
#include "fake_dns.h"

#define NOW	1700000000

static EVP_PKEY *key;
static char key_txt[1024];

static const char body_part[] = "\r\nHello\r\n";

static struct fake_dns_rec zone[] = {
	{ "example.com", DNS_T_TXT, "v=spf1 ip4:192.0.2.0/24 -all" },
	{ "_dmarc.example.com", DNS_T_TXT, "v=DMARC1; p=reject" },
	{ "one._domainkey.example.com", DNS_T_TXT, key_txt },
	{ "example.net", DNS_T_TXT, "v=spf1 -all" },
	{ "_dmarc.example.net", DNS_T_TXT, "v=DMARC1; p=quarantine" },
	{ "example.org", DNS_T_TXT, "v=spf1 +all" },
	{ "_dmarc.broken.example", 0, "SERVFAIL" },
};

static int
setup(void **state)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	struct buf b;

	(void)state;
	EVP_PKEY_keygen_init(ctx);
	EVP_PKEY_keygen(ctx, &key);
	EVP_PKEY_CTX_free(ctx);
	buf_init(&b, 0);
	dkim_sign_txt_record(key, &b, NULL);
	snprintf(key_txt, sizeof(key_txt), "%s", buf_cstr(&b));
	buf_fini(&b);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	return 0;
}

/* a message with the given header lines, signed by example.com if asked */
static char *
message(const char *headers, bool signed_)
{
	struct buf b, m;

	buf_init(&m, 0);
	buf_puts(&m, headers);
	buf_puts(&m, body_part);
	if (!signed_)
		return buf_steal(&m, NULL);
	buf_init(&b, 0);
	struct dkim_sign_conf c = {
		.domain = "example.com", .nkeys = 1, .now = NOW,
		.hcanon = DKIM_CANON_RELAXED, .bcanon = DKIM_CANON_RELAXED,
		.keys = { { "one", key, DKIM_ALG_ED25519_SHA256 } },
	};
	assert_int_equal(dkim_sign_message(&c, m.data, m.len, &b, NULL), 0);
	buf_append(&b, m.data, m.len);
	buf_fini(&m);
	return buf_steal(&b, NULL);
}

struct out {
	int			calls;
	char			value[2048];
	char			field[2048];
	enum dmarc_result	dmarc;
	enum dmarc_policy	disposition;
	enum spf_result		spf;
	size_t			ndkim;
	struct event_base	*base;
};

static void
done(void *arg, const struct msgauth_result *r)
{
	struct out *o = arg;

	o->calls++;
	snprintf(o->value, sizeof(o->value), "%s", r->arh_value);
	snprintf(o->field, sizeof(o->field), "%s", r->arh_field);
	o->dmarc = r->dmarc_result;
	o->disposition = r->disposition;
	o->spf = r->spf.result;
	o->ndkim = r->ndkim;
	if (o->base)
		event_base_loopbreak(o->base);
}

static void
check(const char *ip, const char *mail_from, const char *msg, bool deferred,
    struct out *o)
{
	struct event_base *base = deferred ? event_base_new() : NULL;
	struct msgauth_input in;
	struct fake_dns f;
	struct msgauth_check *c;

	memset(o, 0, sizeof(*o));
	o->base = base;
	fake_dns_init(&f, zone, sizeof(zone) / sizeof(zone[0]), base);
	memset(&in, 0, sizeof(in));
	in.client_ip = ip;
	in.helo = "mx.example.com";
	in.mail_from = mail_from;
	in.authserv_id = "mx.relais.example";
	in.msg = msg;
	in.len = strlen(msg);
	in.base = base;
	in.now = NOW;
	in.pct_sample = 0;
	c = msgauth_check_start(fake_dns_resolver(&f), &in, done, o);
	if (deferred) {
		assert_non_null(c);
		assert_int_equal(o->calls, 0);	/* never inside start */
		event_base_dispatch(base);
	}
	assert_int_equal(o->calls, 1);
	assert_int_equal(fake_dns_fini(&f), 0);
	if (base)
		event_base_free(base);
}

static void
test_all_pass(void **state)
{
	char *m = message("From: Joe <joe@example.com>\r\nSubject: hi\r\n",
	    true);
	struct out o;

	(void)state;
	for (int d = 0; d < 2; d++) {
		check("192.0.2.10", "joe@example.com", m, d, &o);
		assert_int_equal(o.spf, SPF_PASS);
		assert_int_equal(o.ndkim, 1);
		assert_int_equal(o.dmarc, DMARC_RESULT_PASS);
		assert_int_equal(o.disposition, DMARC_POLICY_NONE);
		assert_true(strncmp(o.value, "mx.relais.example; spf=pass "
		    "smtp.mailfrom=joe@example.com; dkim=pass "
		    "header.d=example.com header.s=one header.i=@example.com "
		    "header.b=", 112) == 0);
		assert_non_null(strstr(o.value, "; dmarc=pass (p=reject "
		    "sp=reject pct=100) policy.dmarc=none "
		    "header.from=example.com"));
		assert_true(strncmp(o.field, "Authentication-Results: "
		    "mx.relais.example;\r\n\tspf=pass", 47) == 0);
	}
	free(m);
}

/* DKIM alone carries DMARC when SPF fails; neither: the policy */
static void
test_dmarc_outcomes(void **state)
{
	char *signed_ = message("From: joe@example.com\r\n", true);
	char *plain = message("From: joe@example.com\r\n", false);
	struct out o;

	(void)state;
	check("198.51.100.1", "joe@example.com", signed_, false, &o);
	assert_int_equal(o.spf, SPF_FAIL);
	assert_int_equal(o.dmarc, DMARC_RESULT_PASS);
	check("198.51.100.1", "joe@example.com", plain, false, &o);
	assert_int_equal(o.dmarc, DMARC_RESULT_FAIL);
	assert_int_equal(o.disposition, DMARC_POLICY_REJECT);
	assert_non_null(strstr(o.value, "dkim=none"));
	assert_non_null(strstr(o.value, "policy.dmarc=reject"));
	/* SPF passes for example.org: not aligned with example.com */
	check("198.51.100.1", "x@example.org", plain, true, &o);
	assert_int_equal(o.spf, SPF_PASS);
	assert_int_equal(o.dmarc, DMARC_RESULT_FAIL);
	free(signed_);
	free(plain);
}

static void
test_from_cases(void **state)
{
	char *none = message("Subject: no from\r\n", false);
	char *two = message("From: a@example.com\r\nFrom: b@example.com\r\n",
	    false);
	char *multi = message("From: a@example.com, b@example.net\r\n", false);
	char *nodom = message("From: undisclosed:;\r\n", false);
	char *temp = message("From: x@broken.example\r\n", false);
	struct out o;

	(void)state;
	check("192.0.2.10", "joe@example.com", none, true, &o);
	assert_int_equal(o.dmarc, DMARC_RESULT_PERMERROR);
	assert_int_equal(o.disposition, DMARC_POLICY_REJECT);
	assert_non_null(strstr(o.value, "dmarc=permerror (no From field)"));
	check("192.0.2.10", "joe@example.com", two, false, &o);
	assert_int_equal(o.dmarc, DMARC_RESULT_PERMERROR);
	assert_non_null(strstr(o.value, "several From fields"));
	check("192.0.2.10", "joe@example.com", nodom, false, &o);
	assert_int_equal(o.dmarc, DMARC_RESULT_PERMERROR);
	/* one From, two domains: each evaluated, the strictest applies */
	check("192.0.2.10", "joe@example.com", multi, false, &o);
	assert_int_equal(o.dmarc, DMARC_RESULT_FAIL);
	assert_int_equal(o.disposition, DMARC_POLICY_QUARANTINE);
	assert_non_null(strstr(o.value, "dmarc=pass"));
	assert_non_null(strstr(o.value, "header.from=example.net"));
	check("192.0.2.10", "joe@example.com", temp, false, &o);
	assert_int_equal(o.dmarc, DMARC_RESULT_TEMPERROR);
	assert_int_equal(o.disposition, DMARC_POLICY_NONE);
	free(none);
	free(two);
	free(multi);
	free(nodom);
	free(temp);
}

static void
test_null_sender_and_bad_ip(void **state)
{
	char *m = message("From: joe@example.com\r\n", true);
	struct out o;

	(void)state;
	check("192.0.2.10", "", m, false, &o);
	assert_non_null(strstr(o.value, "spf=none"));
	assert_non_null(strstr(o.value, "smtp.helo=mx.example.com"));
	check("not an ip", "joe@example.com", m, true, &o);
	assert_int_equal(o.spf, SPF_PERMERROR);
	assert_int_equal(o.dmarc, DMARC_RESULT_PASS);
	free(m);
}

/* a resolver that never answers: only the deadline ends the check */
static unsigned silent_cancels;

static uint64_t
silent_query(void *ctx, const char *name, int type, dns_cb *cb, void *arg)
{
	static uint64_t id;

	return ++id;
}

static void
silent_cancel(void *ctx, uint64_t id)
{
	silent_cancels++;
}

static void
test_deadline(void **state)
{
	struct dns_resolver res = { silent_query, silent_cancel, NULL };
	struct event_base *base = event_base_new();
	char *m = message("From: joe@example.com\r\n", true);
	struct msgauth_input in;
	struct out o;

	(void)state;
	memset(&in, 0, sizeof(in));
	memset(&o, 0, sizeof(o));
	o.base = base;
	in.client_ip = "192.0.2.10";
	in.helo = "mx.example.com";
	in.mail_from = "joe@example.com";
	in.authserv_id = "mx";
	in.msg = m;
	in.len = strlen(m);
	in.base = base;
	in.timeout = 1;
	assert_non_null(msgauth_check_start(res, &in, done, &o));
	free(m);
	event_base_dispatch(base);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.spf, SPF_TEMPERROR);
	assert_int_equal(o.dmarc, DMARC_RESULT_TEMPERROR);
	assert_non_null(strstr(o.value, "dkim=temperror (timed out)"));
	assert_int_equal(silent_cancels, 3);
	event_base_free(base);
}

static void
test_cancel(void **state)
{
	struct event_base *base = event_base_new();
	char *m = message("From: joe@example.com\r\n", true);
	struct msgauth_input in;
	struct fake_dns f;
	struct msgauth_check *c;
	struct out o;

	(void)state;
	memset(&in, 0, sizeof(in));
	memset(&o, 0, sizeof(o));
	fake_dns_init(&f, zone, sizeof(zone) / sizeof(zone[0]), base);
	in.client_ip = "192.0.2.10";
	in.helo = "mx.example.com";
	in.mail_from = "joe@example.com";
	in.msg = m;
	in.len = strlen(m);
	in.base = base;
	c = msgauth_check_start(fake_dns_resolver(&f), &in, done, &o);
	assert_non_null(c);
	msgauth_check_cancel(c);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(o.calls, 0);
	assert_int_equal(fake_dns_fini(&f), 0);
	assert_int_equal(f.cancels, 3);
	free(m);
	event_base_free(base);
}

/* ------------------------------------------------------------------ */

static void
test_arh_format(void **state)
{
	struct spf_answer spf = { .result = SPF_FAIL, .problem = "a (b) c",
	    .identity = "mailfrom", .sender = "\"odd local\"@example.com",
	    .domain = "example.com" };
	struct dkim_verdict d;
	struct arh_input in = { .authserv_id = "mx.example", .spf = &spf,
	    .dkim = &d, .ndkim = 1 };
	struct buf v, f;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.result = DKIM_PASS;
	snprintf(d.d, sizeof(d.d), "example.com");
	snprintf(d.s, sizeof(d.s), "sel");
	snprintf(d.b, sizeof(d.b), "ab/cd+e=");
	buf_init(&v, 0);
	buf_init(&f, 0);
	assert_int_equal(arh_format(&in, &v, &f), 0);
	assert_string_equal(buf_cstr(&v), "mx.example; spf=fail (a \\(b\\) c) "
	    "smtp.mailfrom=\"\\\"odd local\\\"@example.com\"; dkim=pass "
	    "header.d=example.com header.s=sel header.b=\"ab/cd+e=\"");
	/* every line of the field fits */
	for (const char *p = buf_cstr(&f), *nl; *p; p = nl + 2) {
		nl = strstr(p, "\r\n");
		assert_non_null(nl);
		assert_true(nl - p <= ARH_WIDTH);
	}
	buf_fini(&v);
	buf_fini(&f);
}

static void
test_arh_authserv_id(void **state)
{
	static const struct {
		const char	*in;
		const char	*id;
	} cases[] = {
		{ "mx.example.com; spf=pass", "mx.example.com" },
		{ " mx.example.com 1; none", "mx.example.com" },
		{ " (comment (nested)) mx.example.com;", "mx.example.com" },
		{ "\"quoted.example\"; none", "quoted.example" },
		{ "\r\n\tfolded.example;", "folded.example" },
		{ "mx.example.com", "mx.example.com" },
		{ "", NULL }, { " ; spf=pass", NULL }, { "(unterminated", NULL },
		{ "\"\"; none", NULL },
	};
	char tmp[64];
	struct str id;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = arh_authserv_id(str_cstr(cases[i].in), tmp,
		    sizeof(tmp), &id);

		if (cases[i].id == NULL) {
			if (r != -1)
				fail_msg("case %zu: got '%.*s'", i,
				    STR_FMT(id));
		} else if (r != 0 || !str_eq(id, str_cstr(cases[i].id))) {
			fail_msg("case %zu: got %d '%.*s'", i, r,
			    STR_FMT(id));
		}
	}
}

static void
test_arh_strip(void **state)
{
	static const char msg[] =
	    "Authentication-Results: MX.Relais.Example; spf=pass\r\n"
	    "Received: from a\r\n"
	    "Authentication-Results: other.example; dkim=pass\r\n"
	    "Authentication-Results: (forged) mx.relais.example;\r\n"
	    "\tdmarc=pass\r\n"
	    "Authentication-Results: \"mx.relais.example\"; none\r\n"
	    "From: x@example.com\r\n"
	    "\r\n"
	    "Authentication-Results: mx.relais.example; in the body\r\n";
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(msgauth_strip_arh(msg, sizeof(msg) - 1,
	    "mx.relais.example", &out), 3);
	assert_string_equal(buf_cstr(&out),
	    "Received: from a\r\n"
	    "Authentication-Results: other.example; dkim=pass\r\n"
	    "From: x@example.com\r\n"
	    "\r\n"
	    "Authentication-Results: mx.relais.example; in the body\r\n");
	buf_reset(&out);
	assert_int_equal(arh_strip(msg, sizeof(msg) - 1, "nobody", &out), 0);
	assert_int_equal(out.len, sizeof(msg) - 1);
	buf_fini(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_pass),
		cmocka_unit_test(test_dmarc_outcomes),
		cmocka_unit_test(test_from_cases),
		cmocka_unit_test(test_null_sender_and_bad_ip),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_arh_format),
		cmocka_unit_test(test_arh_authserv_id),
		cmocka_unit_test(test_arh_strip),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
