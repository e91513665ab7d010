/* SPDX-License-Identifier: ISC */
/*
 * test_tlsreq.c - deliver/tlsreq.c: a domain's TLS requirements from its
 * [tls_policy] line, DNSSEC and MTA-STS (precedence, REQUIRETLS,
 * "TLS-Required: No"), what each MX host's connection does with its TLSA
 * answer, and conf_tls_policy_find over [tls_policy] lines as loaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "deliver/tlsreq.h"

static const struct conf_tls_policy p_none = { "a", CONF_TLSP_NONE };
static const struct conf_tls_policy p_may = { "a", CONF_TLSP_MAY };
static const struct conf_tls_policy p_encrypt = { "a", CONF_TLSP_ENCRYPT };
static const struct conf_tls_policy p_verify = { "a", CONF_TLSP_VERIFY };
static const struct conf_tls_policy p_dane = { "a", CONF_TLSP_DANE };

static unsigned
route(const struct conf_tls_policy *o, bool validating, bool secure,
    enum tlsreq_sts sts)
{
	unsigned f = 0xffff;
	char why[200];

	assert_int_equal(tlsreq_route(o, validating, secure, sts, &f, why,
	    sizeof(why)), 0);
	return f;
}

static void
test_route_default(void **state)
{
	(void)state;
	/* nothing published: opportunistic */
	assert_int_equal(route(NULL, true, false, TS_NONE), 0);
	/* secure MX: DANE per host */
	assert_int_equal(route(NULL, true, true, TS_NONE), TF_DANE);
	/* no trust anchor: a "secure" flag cannot be believed */
	assert_int_equal(route(NULL, false, true, TS_NONE), 0);
	/* MTA-STS enforce: WebPKI, TLS required */
	assert_int_equal(route(NULL, true, false, TS_ENFORCE),
	    TF_WEBPKI | TF_STS | TF_ENCRYPT);
	/* both: DANE for hosts with TLSA, MTA-STS for the others */
	assert_int_equal(route(NULL, true, true, TS_ENFORCE),
	    TF_DANE | TF_WEBPKI | TF_STS | TF_ENCRYPT);
	assert_int_equal(route(NULL, true, false, TS_TESTING), TF_STS_TESTING);
	assert_true(tlsreq_sts_wanted(NULL));
	assert_false(tlsreq_sts_wanted(&p_may));
}

static void
test_route_override(void **state)
{
	unsigned f;
	char why[200] = "";

	(void)state;
	/* a line wins over what DNS publishes */
	assert_int_equal(route(&p_none, true, true, TS_ENFORCE), TF_NOTLS);
	assert_int_equal(route(&p_may, true, true, TS_ENFORCE), 0);
	assert_int_equal(route(&p_encrypt, true, true, TS_NONE), TF_ENCRYPT);
	assert_int_equal(route(&p_verify, true, false, TS_NONE),
	    TF_ENCRYPT | TF_WEBPKI);
	assert_int_equal(route(&p_dane, true, true, TS_NONE),
	    TF_DANE | TF_DANE_ONLY | TF_ENCRYPT);
	/* dane with an insecure MX: no mail */
	assert_int_equal(tlsreq_route(&p_dane, true, false, TS_NONE, &f, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "DANE is required"));
	assert_non_null(strstr(why, "insecure"));
	assert_int_equal(tlsreq_route(&p_dane, false, true, TS_NONE, &f, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "trust anchor"));
}

static void
test_job_and_requiretls(void **state)
{
	unsigned dane = TF_DANE, sts = TF_WEBPKI | TF_STS | TF_ENCRYPT;

	(void)state;
	assert_int_equal(tlsreq_job(dane, false), dane);
	/* TLS-Required: No drops policies, not a "none" line */
	assert_int_equal(tlsreq_job(dane, true), 0);
	assert_int_equal(tlsreq_job(sts, true), 0);
	assert_int_equal(tlsreq_job(TF_NOTLS, true), TF_NOTLS);
	assert_true(tlsreq_requiretls_ok(dane));
	assert_true(tlsreq_requiretls_ok(sts));
	assert_false(tlsreq_requiretls_ok(0));
	assert_false(tlsreq_requiretls_ok(TF_STS_TESTING));
	/* verify is WebPKI without a published policy: not enough */
	assert_false(tlsreq_requiretls_ok(TF_ENCRYPT | TF_WEBPKI));
	assert_false(tlsreq_requiretls_ok(TF_NOTLS));
}

static enum tlsreq_mode
host(unsigned flags, enum tlsreq_tlsa t, int outbound)
{
	char why[200];

	return tlsreq_host(flags, t, outbound, why, sizeof(why));
}

static void
test_host(void **state)
{
	unsigned sts = TF_WEBPKI | TF_STS | TF_ENCRYPT;
	char why[200] = "";

	(void)state;
	/* no policy: [relay] outbound_tls */
	assert_int_equal(host(0, TT_NONE, CONF_RELAY_TLS_MAY),
	    TM_OPPORTUNISTIC);
	assert_int_equal(host(0, TT_NONE, CONF_RELAY_TLS_NONE), TM_NOTLS);
	assert_int_equal(host(0, TT_NONE, CONF_RELAY_TLS_REQUIRED),
	    TM_ENCRYPT);
	/* DANE route */
	assert_int_equal(host(TF_DANE, TT_USABLE, CONF_RELAY_TLS_MAY),
	    TM_DANE);
	assert_int_equal(host(TF_DANE, TT_NONE, CONF_RELAY_TLS_MAY),
	    TM_OPPORTUNISTIC);
	assert_int_equal(host(TF_DANE, TT_UNUSABLE, CONF_RELAY_TLS_MAY),
	    TM_ENCRYPT);
	assert_int_equal(tlsreq_host(TF_DANE, TT_FAILED, CONF_RELAY_TLS_MAY,
	    why, sizeof(why)), TM_REFUSE);
	assert_non_null(strstr(why, "TLSA lookup failed"));
	/* dane-only: a host without usable records is not used */
	assert_int_equal(host(TF_DANE | TF_DANE_ONLY | TF_ENCRYPT, TT_USABLE,
	    CONF_RELAY_TLS_MAY), TM_DANE);
	assert_int_equal(host(TF_DANE | TF_DANE_ONLY | TF_ENCRYPT, TT_NONE,
	    CONF_RELAY_TLS_MAY), TM_REFUSE);
	assert_int_equal(host(TF_DANE | TF_DANE_ONLY | TF_ENCRYPT, TT_UNUSABLE,
	    CONF_RELAY_TLS_MAY), TM_REFUSE);
	/* MTA-STS, and DANE winning over it where a host has TLSA */
	assert_int_equal(host(sts, TT_NONE, CONF_RELAY_TLS_MAY), TM_WEBPKI);
	assert_int_equal(host(sts | TF_DANE, TT_USABLE, CONF_RELAY_TLS_MAY),
	    TM_DANE);
	assert_int_equal(host(sts | TF_DANE, TT_NONE, CONF_RELAY_TLS_MAY),
	    TM_WEBPKI);
	assert_int_equal(host(sts | TF_DANE, TT_UNUSABLE, CONF_RELAY_TLS_MAY),
	    TM_WEBPKI);
	assert_int_equal(host(TF_STS_TESTING, TT_NONE, CONF_RELAY_TLS_MAY),
	    TM_WEBPKI_TESTING);
	/* testing does not turn STARTTLS on against outbound_tls = none */
	assert_int_equal(host(TF_STS_TESTING, TT_NONE, CONF_RELAY_TLS_NONE),
	    TM_NOTLS);
	/* overrides */
	assert_int_equal(host(TF_NOTLS, TT_USABLE, CONF_RELAY_TLS_MAY),
	    TM_NOTLS);
	assert_int_equal(host(TF_ENCRYPT, TT_NONE, CONF_RELAY_TLS_NONE),
	    TM_ENCRYPT);
	assert_int_equal(host(TF_ENCRYPT | TF_WEBPKI, TT_NONE,
	    CONF_RELAY_TLS_MAY), TM_WEBPKI);
}

static void
test_names(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(tlsreq_mode_name(TM_DANE), "dane");
	assert_string_equal(tlsreq_mode_name(TM_WEBPKI_TESTING), "sts-testing");
	tlsreq_flags_text(0, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	tlsreq_flags_text(TF_DANE | TF_WEBPKI | TF_STS | TF_ENCRYPT, buf,
	    sizeof(buf));
	assert_string_equal(buf, "dane+sts");
	tlsreq_flags_text(TF_ENCRYPT | TF_WEBPKI, buf, sizeof(buf));
	assert_string_equal(buf, "verify");
	tlsreq_flags_text(TF_DANE | TF_DANE_ONLY | TF_ENCRYPT, buf,
	    sizeof(buf));
	assert_string_equal(buf, "dane+dane-only");
}

static void
test_conf_lines(void **state)
{
	static const char text[] =
	    "[server]\ndata_dir = /tmp/x\n"
	    "[listener mx]\naddress = 127.0.0.1:2525\nrole = mx\n"
	    "[tls_policy]\n"
	    "example.com = dane\n"
	    ".bank.example = verify\n"
	    "Legacy.Example = NONE\n"
	    "sub.bank.example = may\n";
	struct conf *c = NULL;
	struct err e;
	const struct conf_tls_policy *p;

	(void)state;
	assert_int_equal(conf_load_string("t.conf", text, sizeof(text) - 1,
	    &c, &e), 0);
	assert_int_equal(c->ntls_policies, 4);
	p = conf_tls_policy_find(c, "EXAMPLE.com");
	assert_non_null(p);
	assert_int_equal(p->level, CONF_TLSP_DANE);
	/* not below example.com: only the exact name was given */
	assert_null(conf_tls_policy_find(c, "mx.example.com"));
	p = conf_tls_policy_find(c, "a.b.bank.example");
	assert_non_null(p);
	assert_int_equal(p->level, CONF_TLSP_VERIFY);
	/* ".bank.example" does not cover bank.example itself */
	assert_null(conf_tls_policy_find(c, "bank.example"));
	/* the exact line beats the parent's */
	p = conf_tls_policy_find(c, "sub.bank.example");
	assert_int_equal(p->level, CONF_TLSP_MAY);
	p = conf_tls_policy_find(c, "legacy.example");
	assert_int_equal(p->level, CONF_TLSP_NONE);
	conf_unref(c);
}

static void
test_conf_errors(void **state)
{
	static const char *const bad[] = {
		"[tls_policy]\nexample.com = strict\n",
		"[tls_policy]\nexa mple.com = dane\n",
		"[tls_policy]\nexample.com = dane\nEXAMPLE.COM = may\n",
	};
	static const char *const words[] = {
		"not one of dane", "not a domain", "duplicate",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct conf *c = NULL;
		struct err e;

		assert_int_equal(conf_load_string("t.conf", bad[i],
		    strlen(bad[i]), &c, &e), -1);
		assert_non_null(strstr(e.msg, words[i]));
		assert_non_null(strstr(e.msg, "t.conf:"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_default),
		cmocka_unit_test(test_route_override),
		cmocka_unit_test(test_job_and_requiretls),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_conf_lines),
		cmocka_unit_test(test_conf_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
