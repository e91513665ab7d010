/* SPDX-License-Identifier: ISC */
/*
 * test_dkim_sign.c - the daemon's signer built from [dkim DOMAIN]
 * sections (dkim_signer_*): which messages it signs (the From: domain,
 * or its nearest parent with a section; never with several From: fields
 * or domains), dual signatures, the h= list with From over-signed, and
 * the configuration errors it reports (missing or mismatched keys, a
 * selector2 without key2). Also dkim_sign_key_load() on PEM and on
 * dkimpy's raw Ed25519 seed files, and the [msgauth] defaults.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "conf/conf.h"
#include "msgauth/dkim.h"

static char dir[] = "/tmp/relais-test-dkim-XXXXXX";
static char rsa_path[128], ed_path[128], seed_path[128];

static void
write_key(const char *path, int type)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *k = NULL;
	FILE *f;

	EVP_PKEY_keygen_init(ctx);
	if (type == EVP_PKEY_RSA)
		EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 1024);
	EVP_PKEY_keygen(ctx, &k);
	EVP_PKEY_CTX_free(ctx);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL),
	    1);
	fclose(f);
	EVP_PKEY_free(k);
}

static int
setup(void **state)
{
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(rsa_path, sizeof(rsa_path), "%s/rsa.pem", dir);
	snprintf(ed_path, sizeof(ed_path), "%s/ed.pem", dir);
	snprintf(seed_path, sizeof(seed_path), "%s/ed.seed", dir);
	write_key(rsa_path, EVP_PKEY_RSA);
	write_key(ed_path, EVP_PKEY_ED25519);
	/* RFC 8032 7.1 test 1 secret key, base64 */
	f = fopen(seed_path, "w");
	fputs("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n", f);
	fclose(f);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(rsa_path);
	unlink(ed_path);
	unlink(seed_path);
	rmdir(dir);
	return 0;
}

static struct conf *
load(const char *sections)
{
	char text[2048];
	struct conf *conf;
	struct err err;

	snprintf(text, sizeof(text), "[listener mx]\naddress = 127.0.0.1:2525\n"
	    "[server]\nhostname = mx.example.org\n%s", sections);
	if (conf_load_string("t.conf", text, strlen(text), &conf, &err) == -1)
		fail_msg("%s", err.msg);
	return conf;
}

static int
sign(const struct dkim_signer *s, const char *msg, struct buf *out)
{
	struct err err;
	int r;

	buf_reset(out);
	r = dkim_signer_sign(s, msg, strlen(msg), 1700000000, out, &err);
	if (r == -1)
		fail_msg("%s", err.msg);
	return r;
}

static void
test_signer(void **state)
{
	char sections[1024];
	struct dkim_signer *s;
	struct conf *conf;
	struct buf out;
	struct err err;

	(void)state;
	snprintf(sections, sizeof(sections),
	    "[dkim Example.COM]\nselector = r1\nkey = %s\n"
	    "selector2 = e1\nkey2 = %s\n"
	    "[dkim other.example]\nselector = solo\nkey = %s\n"
	    "algorithm = ed25519-sha256\n", rsa_path, ed_path, seed_path);
	conf = load(sections);
	assert_int_equal(conf->ndkim, 2);
	assert_string_equal(conf->dkim[0].domain, "example.com");
	assert_int_equal(conf->dkim[0].algorithm, CONF_DKIM_RSA_SHA256);
	assert_int_equal(conf->dkim[0].algorithm2, CONF_DKIM_ED25519_SHA256);
	assert_string_equal(conf->msgauth.authserv_id, "mx.example.org");
	assert_false(conf->msgauth.dmarc_enforce);
	s = dkim_signer_new(conf, &err);
	assert_non_null(s);
	assert_int_equal(dkim_signer_domains(s), 2);
	buf_init(&out, 0);

	/* dual signature, From over-signed, only fields present listed */
	assert_int_equal(sign(s, "From: Joe <joe@example.com>\r\nTo: a@b.c\r\n"
	    "Subject: x\r\n\r\nbody\r\n", &out), 1);
	assert_non_null(strstr(buf_cstr(&out), "a=rsa-sha256;"));
	assert_non_null(strstr(buf_cstr(&out), "a=ed25519-sha256;"));
	assert_non_null(strstr(buf_cstr(&out), "s=r1;"));
	assert_non_null(strstr(buf_cstr(&out), "s=e1;"));
	assert_non_null(strstr(buf_cstr(&out), "h=from:from:to:subject;"));
	assert_non_null(strstr(buf_cstr(&out), "c=relaxed/relaxed;"));
	assert_non_null(strstr(buf_cstr(&out), "t=1700000000;"));
	/* a subdomain is signed by the parent's section */
	assert_int_equal(sign(s, "From: a@news.EXAMPLE.com\r\n\r\nx\r\n", &out),
	    1);
	assert_non_null(strstr(buf_cstr(&out), "d=example.com;"));
	assert_int_equal(sign(s, "From: a@other.example\r\n\r\nx\r\n", &out),
	    1);
	assert_non_null(strstr(buf_cstr(&out), "d=other.example;"));
	/* nothing to sign */
	assert_int_equal(sign(s, "From: a@example.net\r\n\r\nx\r\n", &out), 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(sign(s, "From: a@example.com\r\nFrom: b@example.com"
	    "\r\n\r\nx\r\n", &out), 0);
	assert_int_equal(sign(s, "From: a@example.com, b@other.example\r\n"
	    "\r\nx\r\n", &out), 0);
	assert_int_equal(sign(s, "Subject: no from\r\n\r\nx\r\n", &out), 0);
	assert_int_equal(sign(s, "From: a@badexample.com\r\n\r\nx\r\n", &out),
	    0);
	buf_fini(&out);
	dkim_signer_free(s);
	conf_unref(conf);
	assert_int_equal(dkim_signer_sign(NULL, "x", 1, 0, NULL, NULL), 0);
}

static void
test_signer_errors(void **state)
{
	static const char *bad[] = {
		"[dkim example.com]\nselector = s\nkey = /nonexistent/key\n",
		"[dkim example.com]\nselector = s\nkey = %s\n"
		    "algorithm = ed25519-sha256\n",
		"[dkim example.com]\nselector = s\nkey = %s\nselector2 = t\n",
	};
	char sections[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct conf *conf;
		struct err err;

		snprintf(sections, sizeof(sections), bad[i], rsa_path);
		conf = load(sections);
		err.msg[0] = '\0';
		assert_null(dkim_signer_new(conf, &err));
		assert_true(err.msg[0] != '\0');
		conf_unref(conf);
	}
}

static void
test_conf_keys(void **state)
{
	struct conf *conf;
	struct err err;
	static const char *bad[] = {
		"[dkim example.com]\nkey = /k\n",		/* no selector */
		"[dkim example.com]\nselector = s\n",		/* no key */
		"[dkim example.com]\nselector = s\nkey = /k\n"
		    "algorithm = rsa-sha1\n",
		"[dkim example.com]\nselector = s\nkey = /k\n"
		    "[dkim EXAMPLE.com]\nselector = s\nkey = /k\n",
		"[msgauth]\ndmarc_enforce = maybe\n",
		"[msgauth]\nauthserv_id = not a host\n",
		"[msgauth]\nbogus = 1\n",
	};

	(void)state;
	conf = load("[msgauth]\nauthserv_id = mx.example.net\n"
	    "dmarc_enforce = yes\n");
	assert_string_equal(conf->msgauth.authserv_id, "mx.example.net");
	assert_true(conf->msgauth.dmarc_enforce);
	assert_int_equal(conf->ndkim, 0);
	conf_unref(conf);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];

		snprintf(text, sizeof(text), "[listener mx]\naddress = "
		    "127.0.0.1:2525\n%s", bad[i]);
		if (conf_load_string("t.conf", text, strlen(text), &conf,
		    &err) == 0)
			fail_msg("accepted: %s", bad[i]);
	}
}

static void
test_key_load(void **state)
{
	EVP_PKEY *k;
	enum dkim_alg a;
	struct buf txt;
	struct err err;

	(void)state;
	assert_int_equal(dkim_sign_key_load(rsa_path, &k, &a, &err), 0);
	assert_int_equal(a, DKIM_ALG_RSA_SHA256);
	dkim_sign_key_free(k);
	assert_int_equal(dkim_sign_key_load(ed_path, &k, &a, &err), 0);
	assert_int_equal(a, DKIM_ALG_ED25519_SHA256);
	dkim_sign_key_free(k);
	/* the seed of RFC 8032 7.1 test 1 gives its public key */
	assert_int_equal(dkim_sign_key_load(seed_path, &k, &a, &err), 0);
	assert_int_equal(a, DKIM_ALG_ED25519_SHA256);
	buf_init(&txt, 0);
	assert_int_equal(dkim_sign_txt_record(k, &txt, &err), 0);
	assert_string_equal(buf_cstr(&txt), "v=DKIM1; k=ed25519; "
	    "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	buf_fini(&txt);
	dkim_sign_key_free(k);
	assert_int_equal(dkim_sign_key_load("/nonexistent", &k, &a, &err), -1);
	assert_int_equal(dkim_sign_key_load("/etc/hostname", &k, &a, &err),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signer),
		cmocka_unit_test(test_signer_errors),
		cmocka_unit_test(test_conf_keys),
		cmocka_unit_test(test_key_load),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
