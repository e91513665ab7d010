/* SPDX-License-Identifier: ISC */
/*
 * test_dkim_verify.c - DKIM signing and verifying against a fake
 * resolver (fake_dns.h): the RFC 8463 appendix A vector (Ed25519 and
 * RSA), our own signatures (RSA and Ed25519, relaxed and simple, dual),
 * tampering (body, signed header, an added From: thanks to over-signing),
 * l=, t=/x=, key records with t=y, t=s, h=, s=, k= mismatch, revoked
 * keys, missing keys, DNS failures, rsa-sha1 and RSA keys under 1024
 * bits; synchronous and deferred answers, and cancellation.
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
#include <openssl/rsa.h>

#include "msgauth/dkim.h"
#include "fake_dns.h"

/* RFC 8463 appendix A.3, with its keys (A.2) */
static const char rfc8463_msg[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";

static const struct fake_dns_rec rfc8463_zone[] = {
	{ "brisbane._domainkey.football.example.com", DNS_T_TXT,
	  "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=" },
	{ "test._domainkey.football.example.com", DNS_T_TXT,
	  "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
	  "iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
	  "DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"
	  "Ip3G+2kryOTIKT+l/K4w3QIDAQAB" },
};

static const char plain_msg[] =
    "From: Joe <joe@example.com>\r\n"
    "To: bob@example.org\r\n"
    "Subject: a  test\r\n"
    "\twith folding\r\n"
    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    "Message-ID: <1@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "\r\n"
    "Hello  world \r\n"
    "second line\r\n"
    "\r\n";

#define NOW	1700000000

struct out {
	size_t			n;
	struct dkim_verdict	v[DKIM_VERIFY_MAX];
	int			calls;
	struct event_base	*base;
};

static void
done(void *arg, const struct dkim_verdict *v, size_t n)
{
	struct out *o = arg;

	o->calls++;
	o->n = n;
	memcpy(o->v, v, n * sizeof(*v));
	if (o->base)
		event_base_loopbreak(o->base);
}

static void
verify(const struct fake_dns_rec *zone, size_t nzone, const char *msg,
    size_t len, time_t now, bool deferred, struct out *o)
{
	struct event_base *base = deferred ? event_base_new() : NULL;
	struct fake_dns f;
	struct dkim_verify *v;

	memset(o, 0, sizeof(*o));
	o->base = base;
	fake_dns_init(&f, zone, nzone, base);
	v = dkim_verify_start(fake_dns_resolver(&f), msg, len, now, done, o);
	if (v != NULL && deferred)
		event_base_dispatch(base);
	assert_int_equal(o->calls, 1);
	assert_int_equal(fake_dns_fini(&f), 0);
	if (base)
		event_base_free(base);
}

static void
test_rfc8463(void **state)
{
	struct out o;

	(void)state;
	for (int d = 0; d < 2; d++) {
		verify(rfc8463_zone, 2, rfc8463_msg, sizeof(rfc8463_msg) - 1,
		    NOW, d, &o);
		assert_int_equal(o.n, 2);
		assert_int_equal(o.v[0].result, DKIM_PASS);
		assert_string_equal(o.v[0].a, "ed25519-sha256");
		assert_string_equal(o.v[0].s, "brisbane");
		assert_string_equal(o.v[0].d, "football.example.com");
		assert_string_equal(o.v[0].b, "/gCrinpc");
		assert_int_equal(o.v[1].result, DKIM_PASS);
		assert_string_equal(o.v[1].a, "rsa-sha256");
	}
}

/* one octet changed anywhere signed: both fail; a key missing: permerror */
static void
test_rfc8463_tampered(void **state)
{
	char msg[sizeof(rfc8463_msg)];
	struct out o;
	char *p;

	(void)state;
	memcpy(msg, rfc8463_msg, sizeof(msg));
	p = strstr(msg, "hungry");
	p[0] = 'H';
	verify(rfc8463_zone, 2, msg, sizeof(msg) - 1, NOW, false, &o);
	assert_int_equal(o.v[0].result, DKIM_FAIL);
	assert_string_equal(o.v[0].reason, "body hash did not verify");
	assert_int_equal(o.v[1].result, DKIM_FAIL);

	memcpy(msg, rfc8463_msg, sizeof(msg));
	p = strstr(msg, "Is dinner");
	p[0] = 'I', p[1] = 'S';
	verify(rfc8463_zone, 2, msg, sizeof(msg) - 1, NOW, false, &o);
	assert_int_equal(o.v[0].result, DKIM_FAIL);
	assert_string_equal(o.v[0].reason, "signature did not verify");
	assert_int_equal(o.v[1].result, DKIM_FAIL);

	verify(rfc8463_zone, 1, rfc8463_msg, sizeof(rfc8463_msg) - 1, NOW,
	    false, &o);
	assert_int_equal(o.v[0].result, DKIM_PASS);
	assert_int_equal(o.v[1].result, DKIM_PERMERROR);
	assert_string_equal(o.v[1].reason, "no key for signature");
}

/* ------------------------------------------------------------------ */

static EVP_PKEY *
genkey(int type, int bits)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *k = NULL;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	if (type == EVP_PKEY_RSA)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits),
		    1);
	assert_int_equal(EVP_PKEY_keygen(ctx, &k), 1);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static EVP_PKEY *rsa_key, *ed_key, *weak_key;
static char rsa_txt[1024], ed_txt[256], weak_txt[512];

static int
setup_keys(void **state)
{
	struct buf b;

	(void)state;
	rsa_key = genkey(EVP_PKEY_RSA, 1024);
	ed_key = genkey(EVP_PKEY_ED25519, 0);
	weak_key = genkey(EVP_PKEY_RSA, 512);
	buf_init(&b, 0);
	assert_int_equal(dkim_sign_txt_record(rsa_key, &b, NULL), 0);
	snprintf(rsa_txt, sizeof(rsa_txt), "%s", buf_cstr(&b));
	buf_reset(&b);
	assert_int_equal(dkim_sign_txt_record(ed_key, &b, NULL), 0);
	snprintf(ed_txt, sizeof(ed_txt), "%s", buf_cstr(&b));
	buf_reset(&b);
	assert_int_equal(dkim_sign_txt_record(weak_key, &b, NULL), 0);
	snprintf(weak_txt, sizeof(weak_txt), "%s", buf_cstr(&b));
	buf_fini(&b);
	return 0;
}

static int
teardown_keys(void **state)
{
	(void)state;
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ed_key);
	EVP_PKEY_free(weak_key);
	return 0;
}

/* sign plain_msg (or msg) and return signature fields + message */
static char *
sign(const char *msg, EVP_PKEY *k1, EVP_PKEY *k2, enum dkim_canon hc,
    enum dkim_canon bc, unsigned expire, bool l, size_t *len_out)
{
	struct dkim_sign_conf conf;
	struct buf b;
	struct err err;
	EVP_PKEY *keys[2] = { k1, k2 };
	const char *sels[2] = { "one", "two" };

	memset(&conf, 0, sizeof(conf));
	conf.domain = "example.com";
	conf.hcanon = hc;
	conf.bcanon = bc;
	conf.now = NOW;
	conf.expire = expire;
	conf.body_length = l;
	for (int i = 0; i < 2 && keys[i]; i++) {
		conf.keys[i].selector = sels[i];
		conf.keys[i].pkey = keys[i];
		conf.keys[i].alg = EVP_PKEY_get_base_id(keys[i]) ==
		    EVP_PKEY_ED25519 ? DKIM_ALG_ED25519_SHA256 :
		    DKIM_ALG_RSA_SHA256;
		conf.nkeys++;
	}
	buf_init(&b, 0);
	if (dkim_sign_message(&conf, msg, strlen(msg), &b, &err) == -1)
		fail_msg("sign: %s", err.msg);
	buf_puts(&b, msg);
	return buf_steal(&b, len_out);
}

static void
test_sign_verify(void **state)
{
	const struct fake_dns_rec zone[] = {
		{ "one._domainkey.example.com", DNS_T_TXT, rsa_txt },
		{ "two._domainkey.example.com", DNS_T_TXT, ed_txt },
	};
	struct out o;

	(void)state;
	for (int hc = 0; hc < 2; hc++) {
		for (int bc = 0; bc < 2; bc++) {
			size_t len;
			char *m = sign(plain_msg, rsa_key, ed_key, hc, bc, 0,
			    false, &len);

			verify(zone, 2, m, len, NOW + 10, hc ^ bc, &o);
			assert_int_equal(o.n, 2);
			if (o.v[0].result != DKIM_PASS ||
			    o.v[1].result != DKIM_PASS)
				fail_msg("c=%d/%d: %s (%s), %s (%s)", hc, bc,
				    dkim_result_name(o.v[0].result),
				    o.v[0].reason,
				    dkim_result_name(o.v[1].result),
				    o.v[1].reason);
			assert_string_equal(o.v[0].a, "rsa-sha256");
			assert_string_equal(o.v[1].a, "ed25519-sha256");
			free(m);
		}
	}
}

/* over-signing: a From: added above (or below) breaks the signature */
static void
test_tamper(void **state)
{
	const struct fake_dns_rec zone[] = {
		{ "one._domainkey.example.com", DNS_T_TXT, rsa_txt },
	};
	static const char *edits[][2] = {
		{ "Hello  world", "Hello  World" },
		{ "Subject: a  test", "Subject: a  best" },
		{ "Date: Mon", "Date: Tue" },
		{ "\r\n\r\nHello", "\r\nFrom: evil@example.net\r\n\r\nHello" },
	};
	struct out o;

	(void)state;
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		size_t len;
		char *m = sign(plain_msg, rsa_key, NULL, DKIM_CANON_RELAXED,
		    DKIM_CANON_RELAXED, 0, false, &len);
		char *at = strstr(m, edits[i][0]);
		struct buf b;

		assert_non_null(at);
		buf_init(&b, 0);
		buf_append(&b, m, (size_t)(at - m));
		buf_puts(&b, edits[i][1]);
		buf_puts(&b, at + strlen(edits[i][0]));
		verify(zone, 1, b.data, b.len, NOW, false, &o);
		if (o.v[0].result != DKIM_FAIL)
			fail_msg("edit %zu: %s", i,
			    dkim_result_name(o.v[0].result));
		buf_fini(&b);
		free(m);
	}
}

/* l= lets text be appended; x= expires; t= in the future fails */
static void
test_length_and_time(void **state)
{
	const struct fake_dns_rec zone[] = {
		{ "one._domainkey.example.com", DNS_T_TXT, rsa_txt },
	};
	struct buf b;
	struct out o;
	size_t len;
	char *m;

	(void)state;
	m = sign(plain_msg, rsa_key, NULL, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, 0, true, &len);
	assert_non_null(strstr(m, " l="));
	buf_init(&b, 0);
	buf_puts(&b, m);
	buf_puts(&b, "appended by a list\r\n");
	verify(zone, 1, b.data, b.len, NOW, false, &o);
	assert_int_equal(o.v[0].result, DKIM_PASS);
	/* a body shorter than l= fails */
	b.len = len - 10;
	verify(zone, 1, b.data, b.len, NOW, false, &o);
	assert_int_equal(o.v[0].result, DKIM_FAIL);
	buf_fini(&b);
	free(m);

	m = sign(plain_msg, rsa_key, NULL, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, 3600, false, &len);
	verify(zone, 1, m, len, NOW + 3599, false, &o);
	assert_int_equal(o.v[0].result, DKIM_PASS);
	verify(zone, 1, m, len, NOW + 3601, false, &o);
	assert_int_equal(o.v[0].result, DKIM_FAIL);
	assert_string_equal(o.v[0].reason, "signature expired (x=)");
	verify(zone, 1, m, len, NOW - 3600, false, &o);
	assert_int_equal(o.v[0].result, DKIM_FAIL);
	free(m);
}

struct key_variant {
	const char	*record;	/* %s: the p= value */
	enum dkim_result want;
	bool		 testing;
};

/* key records: flags, hashes, services, revocation, type, version */
static void
test_key_records(void **state)
{
	static const struct key_variant variants[] = {
		{ "v=DKIM1; k=rsa; p=%s", DKIM_PASS, false },
		{ "p=%s", DKIM_PASS, false },
		{ "v=DKIM1; t=y; p=%s", DKIM_PASS, true },
		{ "v=DKIM1; t=s; p=%s", DKIM_PASS, false },
		{ "v=DKIM1; h=sha256; p=%s", DKIM_PASS, false },
		{ "v=DKIM1; h=sha1; p=%s", DKIM_PERMERROR, false },
		{ "v=DKIM1; s=email; p=%s", DKIM_PASS, false },
		{ "v=DKIM1; s=other; p=%s", DKIM_PERMERROR, false },
		{ "v=DKIM1; k=ed25519; p=%s", DKIM_PERMERROR, false },
		{ "v=DKIM1; p=", DKIM_PERMERROR, false },
		{ "v=DKIM1; p=AAAA%s", DKIM_PERMERROR, false },
		{ "k=rsa; v=DKIM1; p=%s", DKIM_PERMERROR, false },
		{ "not a key", DKIM_PERMERROR, false },
	};
	const char *p = strstr(rsa_txt, "p=") + 2;
	struct out o;
	size_t len;
	char *m = sign(plain_msg, rsa_key, NULL, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, 0, false, &len);

	(void)state;
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		char rec[1200];
		struct fake_dns_rec zone[1] = {
			{ "one._domainkey.example.com", DNS_T_TXT, rec },
		};

		snprintf(rec, sizeof(rec), variants[i].record, p);
		verify(zone, 1, m, len, NOW, false, &o);
		if (o.v[0].result != variants[i].want ||
		    o.v[0].testing != variants[i].testing)
			fail_msg("key '%s': %s (%s)", variants[i].record,
			    dkim_result_name(o.v[0].result), o.v[0].reason);
	}
	free(m);
}

/* t=s: an i= in a subdomain of d= is refused */
static void
test_key_strict(void **state)
{
	char rec[1200], msg[4096];
	struct fake_dns_rec zone[1] = {
		{ "one._domainkey.example.com", DNS_T_TXT, rec },
	};
	struct out o;
	size_t len;
	char *m = sign(plain_msg, rsa_key, NULL, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, 0, false, &len);
	char *d = strstr(m, "d=example.com;");

	(void)state;
	/* the i= sits in the signature field: it is signed too, so only
	   the key check can tell; a broken signature still shows it */
	snprintf(msg, sizeof(msg), "%.*si=@sub.example.com; %s",
	    (int)(d - m), m, d);
	snprintf(rec, sizeof(rec), "v=DKIM1; t=s; %s", strstr(rsa_txt, "p="));
	verify(zone, 1, msg, strlen(msg), NOW, false, &o);
	assert_int_equal(o.v[0].result, DKIM_PERMERROR);
	assert_string_equal(o.v[0].reason, "key t=s forbids an i= subdomain");
	free(m);
}

/* RFC 8301: rsa-sha1 never passes; RSA keys under 1024 bits fail */
static void
test_rfc8301(void **state)
{
	char rec[600];
	struct fake_dns_rec zone[1] = {
		{ "one._domainkey.example.com", DNS_T_TXT, rec },
	};
	struct out o;
	size_t len;
	char *m, *a;

	(void)state;
	snprintf(rec, sizeof(rec), "%s", weak_txt);
	m = sign(plain_msg, weak_key, NULL, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, 0, false, &len);
	verify(zone, 1, m, len, NOW, false, &o);
	assert_int_equal(o.v[0].result, DKIM_FAIL);
	assert_non_null(strstr(o.v[0].reason, "512-bit"));
	free(m);

	snprintf(rec, sizeof(rec), "%s", rsa_txt);
	m = sign(plain_msg, rsa_key, NULL, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, 0, false, &len);
	a = strstr(m, "a=rsa-sha256");
	memcpy(a, "a=rsa-sha1  ", 12);
	verify(zone, 1, m, len, NOW, false, &o);
	assert_int_equal(o.v[0].result, DKIM_PERMERROR);
	assert_string_equal(o.v[0].reason, "rsa-sha1 is not accepted "
	    "(RFC 8301)");
	free(m);
}

/*
 * FWS between "b=" and its value: removed with the value (RFC 6376 3.7,
 * OpenDKIM) or kept (dkimpy); both readings are tried.
 */
static void
test_b_surrounding_fws(void **state)
{
	const struct fake_dns_rec zone[] = {
		{ "one._domainkey.example.com", DNS_T_TXT, rsa_txt },
	};
	struct out o;
	struct buf b;
	size_t len;
	char *m = sign(plain_msg, rsa_key, NULL, DKIM_CANON_SIMPLE,
	    DKIM_CANON_SIMPLE, 0, false, &len);
	char *v = strstr(m, " b=") + 3;

	(void)state;
	assert_true(v[0] != '\r' && v[0] != ' ');	/* never FWS after b= */
	buf_init(&b, 0);
	buf_append(&b, m, (size_t)(v - m));
	buf_puts(&b, "\r\n ");
	buf_puts(&b, v);
	verify(zone, 1, b.data, b.len, NOW, false, &o);
	assert_int_equal(o.v[0].result, DKIM_PASS);
	buf_fini(&b);
	free(m);
}

static void
test_dns_errors(void **state)
{
	const struct fake_dns_rec zone[] = {
		{ "one._domainkey.example.com", 0, "SERVFAIL" },
	};
	const struct fake_dns_rec zone2[] = {
		{ "one._domainkey.example.com", DNS_T_A, "192.0.2.1" },
	};
	struct out o;
	size_t len;
	char *m = sign(plain_msg, rsa_key, NULL, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, 0, false, &len);

	(void)state;
	verify(zone, 1, m, len, NOW, true, &o);
	assert_int_equal(o.v[0].result, DKIM_TEMPERROR);
	verify(zone2, 1, m, len, NOW, true, &o);
	assert_int_equal(o.v[0].result, DKIM_PERMERROR);
	assert_string_equal(o.v[0].reason, "no key for signature");
	free(m);
}

/* malformed signature fields are permerror; none at all is n = 0 */
static void
test_malformed(void **state)
{
	static const char msg[] =
	    "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=one;;\r\n"
	    "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=one; "
	    "h=to; bh=Zm9v; b=YmFy\r\n"
	    "From: joe@example.com\r\n\r\nbody\r\n";
	struct out o;

	(void)state;
	verify(NULL, 0, msg, sizeof(msg) - 1, NOW, false, &o);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.v[0].result, DKIM_PERMERROR);
	assert_string_equal(o.v[0].d, "example.com");	/* read leniently */
	assert_string_equal(o.v[0].s, "one");
	assert_int_equal(o.v[1].result, DKIM_PERMERROR);
	assert_string_equal(o.v[1].d, "example.com");
	assert_string_equal(o.v[1].reason, "From is not signed (h=)");
	verify(NULL, 0, plain_msg, sizeof(plain_msg) - 1, NOW, true, &o);
	assert_int_equal(o.n, 0);
}

static void
test_cancel(void **state)
{
	const struct fake_dns_rec zone[] = {
		{ "one._domainkey.example.com", DNS_T_TXT, rsa_txt },
	};
	struct event_base *base = event_base_new();
	struct fake_dns f;
	struct dkim_verify *v;
	struct out o;
	size_t len;
	char *m = sign(plain_msg, rsa_key, NULL, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, 0, false, &len);

	(void)state;
	memset(&o, 0, sizeof(o));
	fake_dns_init(&f, zone, 1, base);
	v = dkim_verify_start(fake_dns_resolver(&f), m, len, NOW, done, &o);
	assert_non_null(v);
	free(m);		/* the verifier keeps what it needs */
	dkim_verify_cancel(v);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(o.calls, 0);
	assert_int_equal(f.cancels, 1);
	assert_int_equal(fake_dns_fini(&f), 0);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8463),
		cmocka_unit_test(test_rfc8463_tampered),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_length_and_time),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_key_strict),
		cmocka_unit_test(test_rfc8301),
		cmocka_unit_test(test_b_surrounding_fws),
		cmocka_unit_test(test_dns_errors),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_cancel),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
