/* SPDX-License-Identifier: ISC */
/*
 * test_dane.c - TLSA records (parse, usable for SMTP, presentation text),
 * the RFC 8460 result names, and real handshakes in memory (a client and
 * a server SSL over a BIO pair, certificates made here) checked by DANE
 * and WebPKI: DANE-EE(3) ignores expiry and names, a wrong digest is a
 * "TLSA mismatch", DANE-TA(2) checks the chain's names and dates, WebPKI
 * tells a good certificate from an expired, misnamed or untrusted one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/dane.h"

#define DAY	(24 * 3600L)

/* --- pure functions ------------------------------------------------- */

static void
test_tlsa_parse(void **state)
{
	struct dane_tlsa t;
	uint8_t wire[3 + DANE_DATA_MAX + 1];

	memset(wire, 0xab, sizeof(wire));
	wire[0] = 3;
	wire[1] = 1;
	wire[2] = 1;
	assert_int_equal(dane_tlsa_parse(wire, 35, &t), 0);
	assert_int_equal(t.usage, 3);
	assert_int_equal(t.selector, 1);
	assert_int_equal(t.mtype, 1);
	assert_int_equal(t.len, 32);
	assert_int_equal(t.data[31], 0xab);
	/* shortest: one octet of data */
	assert_int_equal(dane_tlsa_parse(wire, 4, &t), 0);
	assert_int_equal(t.len, 1);
	assert_int_equal(dane_tlsa_parse(wire, 3, &t), -1);
	assert_int_equal(dane_tlsa_parse(wire, 0, &t), -1);
	assert_int_equal(dane_tlsa_parse(wire, 3 + DANE_DATA_MAX, &t), 0);
	assert_int_equal(t.len, DANE_DATA_MAX);
	assert_int_equal(dane_tlsa_parse(wire, 3 + DANE_DATA_MAX + 1, &t),
	    -1);
}

static struct dane_tlsa
tlsa(uint8_t u, uint8_t s, uint8_t m, size_t len)
{
	struct dane_tlsa t;

	memset(&t, 0, sizeof(t));
	t.usage = u;
	t.selector = s;
	t.mtype = m;
	t.len = len;
	for (size_t i = 0; i < len; i++)
		t.data[i] = (uint8_t)i;
	return t;
}

static void
test_tlsa_usable(void **state)
{
	struct dane_tlsa t;

	t = tlsa(3, 1, 1, 32);
	assert_true(dane_tlsa_usable(&t));
	t = tlsa(2, 0, 1, 32);
	assert_true(dane_tlsa_usable(&t));
	t = tlsa(3, 0, 2, 64);
	assert_true(dane_tlsa_usable(&t));
	t = tlsa(2, 1, 0, 91);
	assert_true(dane_tlsa_usable(&t));
	/* PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (RFC 7672
	   3.1.3), as are unknown usages, selectors, matching types */
	t = tlsa(0, 0, 1, 32);
	assert_false(dane_tlsa_usable(&t));
	t = tlsa(1, 1, 1, 32);
	assert_false(dane_tlsa_usable(&t));
	t = tlsa(4, 1, 1, 32);
	assert_false(dane_tlsa_usable(&t));
	t = tlsa(3, 2, 1, 32);
	assert_false(dane_tlsa_usable(&t));
	t = tlsa(3, 1, 3, 32);
	assert_false(dane_tlsa_usable(&t));
	/* digest lengths */
	t = tlsa(3, 1, 1, 31);
	assert_false(dane_tlsa_usable(&t));
	t = tlsa(3, 1, 1, 64);
	assert_false(dane_tlsa_usable(&t));
	t = tlsa(3, 1, 2, 32);
	assert_false(dane_tlsa_usable(&t));
	t = tlsa(3, 1, 0, 0);
	assert_false(dane_tlsa_usable(&t));
}

static void
test_tlsa_text(void **state)
{
	struct dane_tlsa t = tlsa(3, 1, 1, 4);
	char out[64];

	t.data[0] = 0xab;
	t.data[1] = 0x12;
	t.data[2] = 0x00;
	t.data[3] = 0xff;
	dane_tlsa_text(&t, out, sizeof(out));
	assert_string_equal(out, "3 1 1 ab1200ff");
	/* cut to the size given, never a half octet */
	dane_tlsa_text(&t, out, 11);
	assert_string_equal(out, "3 1 1 ab12");
	dane_tlsa_text(&t, out, 12);
	assert_string_equal(out, "3 1 1 ab12");
	dane_tlsa_text(&t, out, 4);
	assert_int_equal(strlen(out), 3);
	t = tlsa(2, 0, 2, 64);
	dane_tlsa_text(&t, out, sizeof(out));
	assert_int_equal(strlen(out), 62);
	assert_memory_equal(out, "2 0 2 000102", 12);
}

static void
test_result_names(void **state)
{
	assert_string_equal(tls_result_name(TLS_R_OK), "success");
	assert_string_equal(tls_result_name(TLS_R_STARTTLS_NOT_SUPPORTED),
	    "starttls-not-supported");
	assert_string_equal(tls_result_name(TLS_R_CERT_HOST_MISMATCH),
	    "certificate-host-mismatch");
	assert_string_equal(tls_result_name(TLS_R_CERT_EXPIRED),
	    "certificate-expired");
	assert_string_equal(tls_result_name(TLS_R_CERT_NOT_TRUSTED),
	    "certificate-not-trusted");
	assert_string_equal(tls_result_name(TLS_R_VALIDATION_FAILURE),
	    "validation-failure");
	assert_string_equal(tls_result_name(TLS_R_TLSA_INVALID),
	    "tlsa-invalid");
	assert_string_equal(tls_result_name(TLS_R_DNSSEC_INVALID),
	    "dnssec-invalid");
	assert_string_equal(tls_result_name(TLS_R_DANE_REQUIRED),
	    "dane-required");
	assert_string_equal(tls_result_name(TLS_R_STS_POLICY_FETCH_ERROR),
	    "sts-policy-fetch-error");
	assert_string_equal(tls_result_name(TLS_R_STS_POLICY_INVALID),
	    "sts-policy-invalid");
	assert_string_equal(tls_result_name(TLS_R_STS_WEBPKI_INVALID),
	    "sts-webpki-invalid");
	for (int r = 0; r < TLS_R_COUNT; r++)
		assert_non_null(tls_result_name((enum tls_result)r));
	assert_string_equal(tls_result_name(TLS_R_COUNT),
	    "validation-failure");
}

/* --- certificates --------------------------------------------------- */

struct cert {
	EVP_PKEY	*key;
	X509		*x;
};

static void
cert_free(struct cert *c)
{
	EVP_PKEY_free(c->key);
	X509_free(c->x);
}

/*
 * make_cert - a P-256 key and a certificate for it: subject CN cn, a
 * SAN dNSName san (or none), valid from now+from to now+to seconds,
 * signed by issuer (NULL: self-signed), a CA when ca.
 */
static struct cert
make_cert(const char *cn, const char *san, long from, long to,
    const struct cert *issuer, bool ca)
{
	struct cert c;
	X509_NAME *name;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	char buf[300];
	static long serial = 1;

	c.key = EVP_EC_gen("P-256");
	assert_non_null(c.key);
	c.x = X509_new();
	assert_non_null(c.x);
	assert_int_equal(X509_set_version(c.x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(c.x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(c.x), from);
	X509_gmtime_adj(X509_getm_notAfter(c.x), to);
	assert_int_equal(X509_set_pubkey(c.x, c.key), 1);
	name = X509_get_subject_name(c.x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c.x, issuer ? X509_get_subject_name(issuer->x) :
	    name);
	X509V3_set_ctx(&v3, issuer ? issuer->x : c.x, c.x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "CA:FALSE");
	assert_non_null(ext);
	X509_add_ext(c.x, ext, -1);
	X509_EXTENSION_free(ext);
	if (ca) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
		assert_non_null(ext);
		X509_add_ext(c.x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier,
	    "hash");
	X509_add_ext(c.x, ext, -1);
	X509_EXTENSION_free(ext);
	if (san != NULL) {
		snprintf(buf, sizeof(buf), "DNS:%s", san);
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, buf);
		assert_non_null(ext);
		X509_add_ext(c.x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(c.x, issuer ? issuer->key : c.key,
	    EVP_sha256()) > 0);
	return c;
}

/* tlsa_of - the TLSA record usage sel 1 (SHA-256) for c: of its
   SubjectPublicKeyInfo (sel 1) or whole certificate (sel 0) */
static struct dane_tlsa
tlsa_of(const struct cert *c, uint8_t usage, uint8_t sel)
{
	struct dane_tlsa t;
	unsigned char *der = NULL;
	unsigned int mdlen = 0;
	int len;

	memset(&t, 0, sizeof(t));
	t.usage = usage;
	t.selector = sel;
	t.mtype = 1;
	len = sel == 1 ? i2d_PUBKEY(c->key, &der) : i2d_X509(c->x, &der);
	assert_true(len > 0);
	assert_int_equal(EVP_Digest(der, (size_t)len, t.data, &mdlen,
	    EVP_sha256(), NULL), 1);
	t.len = mdlen;
	OPENSSL_free(der);
	return t;
}

/* --- handshakes ----------------------------------------------------- */

/* server_ctx - a server presenting leaf (and chain, when not NULL) */
static SSL_CTX *
server_ctx(const struct cert *leaf, const struct cert *chain)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, leaf->x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, leaf->key), 1);
	if (chain != NULL)
		assert_int_equal(SSL_CTX_add1_chain_cert(ctx, chain->x), 1);
	return ctx;
}

/* client_ctx - the agent's client context: DANE on, verification not
   fatal, the CAs of ca_file */
static SSL_CTX *
client_ctx(const char *ca_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct err err;

	assert_non_null(ctx);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	assert_int_equal(dane_ctx_enable(ctx, &err), 0);
	assert_int_equal(dane_ctx_load_ca(ctx, ca_file, &err), 0);
	return ctx;
}

/* handshake - client and server over a BIO pair until both are done;
   true when they both finished */
static bool
handshake(SSL *c, SSL *s)
{
	BIO *bc, *bs;
	bool cdone = false, sdone = false;
	int r;

	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 100 && !(cdone && sdone); i++) {
		if (!cdone) {
			r = SSL_do_handshake(c);
			if (r == 1)
				cdone = true;
			else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
				return false;
		}
		if (!sdone) {
			r = SSL_do_handshake(s);
			if (r == 1)
				sdone = true;
			else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
				return false;
		}
	}
	return cdone && sdone;
}

struct outcome {
	bool		 ok;
	int		 added;		/* dane_ssl_setup's count */
	char		 why[200];
	enum tls_result	 result;
};

/*
 * dane_run - a handshake with server (leaf, chain) authenticated by the
 * records t[0..n) for MX host `host`
 */
static struct outcome
dane_run(const struct cert *leaf, const struct cert *chain, const char *host,
    const struct dane_tlsa *t, size_t n)
{
	SSL_CTX *sctx = server_ctx(leaf, chain), *cctx = client_ctx(NULL);
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	struct outcome o;
	struct err err;

	memset(&o, 0, sizeof(o));
	SSL_set_tlsext_host_name(c, host);
	o.added = dane_ssl_setup(c, host, t, n, &err);
	assert_true(o.added >= 0);
	/* the handshake completes whatever the peer shows */
	assert_true(handshake(c, s));
	if (o.added > 0)
		o.ok = dane_ssl_check(c, o.why, sizeof(o.why), &o.result);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	ERR_clear_error();
	return o;
}

static void
test_dane_ee_expired_match(void **state)
{
	/* self-signed, expired a day ago, named nothing like the MX */
	struct cert leaf = make_cert("other.invalid", "other.invalid",
	    -30 * DAY, -DAY, NULL, false);
	struct dane_tlsa t[2];
	struct outcome o;

	t[0] = tlsa(3, 1, 1, 32);		/* a mismatch beside it */
	t[1] = tlsa_of(&leaf, 3, 1);
	o = dane_run(&leaf, NULL, "mx.dane.example", t, 2);
	assert_int_equal(o.added, 2);
	assert_true(o.ok);
	assert_string_equal(o.why, "DANE-EE(3) 1 1");
	assert_int_equal(o.result, TLS_R_OK);
	/* 3 0 1: the whole certificate */
	t[0] = tlsa_of(&leaf, 3, 0);
	o = dane_run(&leaf, NULL, "mx.dane.example", t, 1);
	assert_true(o.ok);
	assert_string_equal(o.why, "DANE-EE(3) 0 1");
	cert_free(&leaf);
}

static void
test_dane_ee_mismatch(void **state)
{
	struct cert leaf = make_cert("mx.dane.example", "mx.dane.example",
	    -DAY, 30 * DAY, NULL, false);
	struct cert other = make_cert("mx.dane.example", "mx.dane.example",
	    -DAY, 30 * DAY, NULL, false);
	struct dane_tlsa t = tlsa_of(&other, 3, 1);
	struct outcome o;

	o = dane_run(&leaf, NULL, "mx.dane.example", &t, 1);
	assert_int_equal(o.added, 1);
	assert_false(o.ok);
	assert_string_equal(o.why, "TLSA mismatch");
	assert_int_equal(o.result, TLS_R_TLSA_INVALID);
	cert_free(&leaf);
	cert_free(&other);
}

static void
test_dane_unusable(void **state)
{
	struct cert leaf = make_cert("mx.dane.example", NULL, -DAY, 30 * DAY,
	    NULL, false);
	struct dane_tlsa t[3];
	struct outcome o;

	t[0] = tlsa_of(&leaf, 1, 1);		/* PKIX-EE: not for SMTP */
	t[1] = tlsa(3, 1, 1, 20);		/* wrong digest length */
	t[2] = tlsa(3, 1, 0, 40);		/* no SubjectPublicKeyInfo */
	o = dane_run(&leaf, NULL, "mx.dane.example", t, 3);
	assert_int_equal(o.added, 0);		/* opportunistic TLS */
	cert_free(&leaf);
}

static void
test_dane_ta(void **state)
{
	struct cert ca = make_cert("Test CA", NULL, -DAY, 365 * DAY, NULL,
	    true);
	struct cert leaf = make_cert("mx.dane.example", "mx.dane.example",
	    -DAY, 30 * DAY, &ca, false);
	struct cert old = make_cert("mx.dane.example", "mx.dane.example",
	    -30 * DAY, -DAY, &ca, false);
	struct dane_tlsa t = tlsa_of(&ca, 2, 0);
	struct outcome o;

	o = dane_run(&leaf, &ca, "mx.dane.example", &t, 1);
	assert_true(o.ok);
	assert_string_equal(o.why, "DANE-TA(2) 0 1");
	/* names count for DANE-TA: another MX host */
	o = dane_run(&leaf, &ca, "mx.elsewhere.example", &t, 1);
	assert_false(o.ok);
	assert_int_equal(o.result, TLS_R_CERT_HOST_MISMATCH);
	assert_non_null(strstr(o.why, "TLSA mismatch: "));
	/* and dates */
	o = dane_run(&old, &ca, "mx.dane.example", &t, 1);
	assert_false(o.ok);
	assert_int_equal(o.result, TLS_R_CERT_EXPIRED);
	assert_string_equal(o.why, "TLSA mismatch: certificate has expired");
	/* a CA the server does not send, named by digest, is no anchor */
	o = dane_run(&leaf, NULL, "mx.dane.example", &t, 1);
	assert_false(o.ok);
	assert_int_equal(o.result, TLS_R_TLSA_INVALID);
	/* 2 1 1: the CA's key */
	t = tlsa_of(&ca, 2, 1);
	o = dane_run(&leaf, &ca, "mx.dane.example", &t, 1);
	assert_true(o.ok);
	assert_string_equal(o.why, "DANE-TA(2) 1 1");
	cert_free(&ca);
	cert_free(&leaf);
	cert_free(&old);
}

static void
test_dane_ta_wildcard(void **state)
{
	struct cert ca = make_cert("Test CA", NULL, -DAY, 365 * DAY, NULL,
	    true);
	struct cert wild = make_cert("wild", "*.dane.example", -DAY, 30 * DAY,
	    &ca, false);
	struct cert partial = make_cert("partial", "m*.dane.example", -DAY,
	    30 * DAY, &ca, false);
	struct dane_tlsa t = tlsa_of(&ca, 2, 0);
	struct outcome o;

	o = dane_run(&wild, &ca, "mx.dane.example", &t, 1);
	assert_true(o.ok);
	o = dane_run(&wild, &ca, "a.mx.dane.example", &t, 1);
	assert_false(o.ok);
	o = dane_run(&partial, &ca, "mx.dane.example", &t, 1);
	assert_false(o.ok);
	assert_int_equal(o.result, TLS_R_CERT_HOST_MISMATCH);
	cert_free(&ca);
	cert_free(&wild);
	cert_free(&partial);
}

/* --- WebPKI --------------------------------------------------------- */

static char ca_path[64];

/* write_ca - ca's PEM into a temporary file (ca_path) */
static void
write_ca(const struct cert *ca)
{
	int fd;
	FILE *f;

	snprintf(ca_path, sizeof(ca_path), "/tmp/test_dane_ca.XXXXXX");
	assert_true((fd = mkstemp(ca_path)) != -1);
	assert_non_null(f = fdopen(fd, "w"));
	assert_int_equal(PEM_write_X509(f, ca->x), 1);
	fclose(f);
}

static struct outcome
webpki_run(const struct cert *leaf, const struct cert *chain,
    const char *host)
{
	SSL_CTX *sctx = server_ctx(leaf, chain), *cctx = client_ctx(ca_path);
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	struct outcome o;
	struct err err;

	memset(&o, 0, sizeof(o));
	SSL_set_tlsext_host_name(c, host);
	assert_int_equal(dane_webpki_setup(c, host, &err), 0);
	assert_true(handshake(c, s));
	o.ok = dane_webpki_check(c, o.why, sizeof(o.why), &o.result);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	ERR_clear_error();
	return o;
}

static void
test_webpki(void **state)
{
	struct cert ca = make_cert("Test CA", NULL, -DAY, 365 * DAY, NULL,
	    true);
	struct cert other_ca = make_cert("Other CA", NULL, -DAY, 365 * DAY,
	    NULL, true);
	struct cert leaf = make_cert("mx.sts.example", "mx.sts.example",
	    -DAY, 30 * DAY, &ca, false);
	struct cert old = make_cert("mx.sts.example", "mx.sts.example",
	    -30 * DAY, -DAY, &ca, false);
	struct cert cn_only = make_cert("mx.sts.example", NULL, -DAY,
	    30 * DAY, &ca, false);
	struct cert stranger = make_cert("mx.sts.example", "mx.sts.example",
	    -DAY, 30 * DAY, &other_ca, false);
	struct cert self = make_cert("mx.sts.example", "mx.sts.example",
	    -DAY, 30 * DAY, NULL, false);
	struct outcome o;
	struct err err;
	SSL_CTX *ctx;

	write_ca(&ca);
	o = webpki_run(&leaf, &ca, "mx.sts.example");
	assert_true(o.ok);
	assert_int_equal(o.result, TLS_R_OK);
	o = webpki_run(&leaf, NULL, "mx.sts.example");	/* leaf alone */
	assert_true(o.ok);
	o = webpki_run(&old, &ca, "mx.sts.example");
	assert_false(o.ok);
	assert_int_equal(o.result, TLS_R_CERT_EXPIRED);
	assert_string_equal(o.why, "certificate has expired");
	o = webpki_run(&leaf, &ca, "mx2.sts.example");
	assert_false(o.ok);
	assert_int_equal(o.result, TLS_R_CERT_HOST_MISMATCH);
	assert_string_equal(o.why, "certificate host name mismatch");
	/* the subject CN is not a name (RFC 6125 6.4.4 for SMTP) */
	o = webpki_run(&cn_only, &ca, "mx.sts.example");
	assert_false(o.ok);
	assert_int_equal(o.result, TLS_R_CERT_HOST_MISMATCH);
	o = webpki_run(&stranger, &other_ca, "mx.sts.example");
	assert_false(o.ok);
	assert_int_equal(o.result, TLS_R_CERT_NOT_TRUSTED);
	assert_string_equal(o.why, "certificate not trusted");
	o = webpki_run(&self, NULL, "mx.sts.example");
	assert_false(o.ok);
	assert_int_equal(o.result, TLS_R_CERT_NOT_TRUSTED);
	unlink(ca_path);

	/* a CA file that cannot be read */
	ctx = SSL_CTX_new(TLS_client_method());
	assert_int_equal(dane_ctx_load_ca(ctx, "/nonexistent/ca.pem", &err),
	    -1);
	assert_non_null(strstr(err.msg, "/nonexistent/ca.pem"));
	SSL_CTX_free(ctx);
	cert_free(&ca);
	cert_free(&other_ca);
	cert_free(&leaf);
	cert_free(&old);
	cert_free(&cn_only);
	cert_free(&stranger);
	cert_free(&self);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tlsa_parse),
		cmocka_unit_test(test_tlsa_usable),
		cmocka_unit_test(test_tlsa_text),
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_dane_ee_expired_match),
		cmocka_unit_test(test_dane_ee_mismatch),
		cmocka_unit_test(test_dane_unusable),
		cmocka_unit_test(test_dane_ta),
		cmocka_unit_test(test_dane_ta_wildcard),
		cmocka_unit_test(test_webpki),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
