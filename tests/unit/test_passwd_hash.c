/* SPDX-License-Identifier: ISC */
/*
 * test_passwd_hash.c - passwd_hash.c: scheme dispatch over every
 * supported {SCHEME} prefix and crypt id (and the refused ones), checks
 * against hashes made here with libcrypt for each algorithm, and
 * passwd_hash_make's yescrypt output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <crypt.h>

#include "auth/passwd_hash.h"

static const struct {
	const char		*stored;
	enum passwd_hash_scheme	 scheme;
	size_t			 skip;	/* octets of prefix */
} scheme_cases[] = {
	{ "$y$j9T$salt$hash", PASSWD_HASH_YESCRYPT, 0 },
	{ "{CRYPT}$y$j9T$salt$hash", PASSWD_HASH_YESCRYPT, 7 },
	{ "{crypt}$y$j9T$salt$hash", PASSWD_HASH_YESCRYPT, 7 },
	{ "{YESCRYPT}$y$j9T$salt$hash", PASSWD_HASH_YESCRYPT, 10 },
	{ "$2b$05$abcdefghijklmnopqrstuu", PASSWD_HASH_BCRYPT, 0 },
	{ "{BLF-CRYPT}$2y$05$abcdefghijklmnopqrstuu", PASSWD_HASH_BCRYPT, 11 },
	{ "{CRYPT}$2a$05$abcdefghijklmnopqrstuu", PASSWD_HASH_BCRYPT, 7 },
	{ "$6$salt$hash", PASSWD_HASH_SHA512, 0 },
	{ "{SHA512-CRYPT}$6$salt$hash", PASSWD_HASH_SHA512, 14 },
	{ "{SHA512-CRYPT}$6$rounds=5000$salt$hash", PASSWD_HASH_SHA512, 14 },
	{ "$5$salt$hash", PASSWD_HASH_SHA256, 0 },
	{ "{SHA256-CRYPT}$5$salt$hash", PASSWD_HASH_SHA256, 14 },
	/* refused */
	{ "", PASSWD_HASH_NONE, 0 },
	{ "{PLAIN}secret", PASSWD_HASH_NONE, 0 },
	{ "{MD5-CRYPT}$1$salt$hash", PASSWD_HASH_NONE, 0 },
	{ "$1$salt$hash", PASSWD_HASH_NONE, 0 },
	{ "abDES0123456", PASSWD_HASH_NONE, 0 },
	{ "{SHA256-CRYPT}$6$salt$hash", PASSWD_HASH_NONE, 0 },
	{ "{BLF-CRYPT}$y$j9T$salt$hash", PASSWD_HASH_NONE, 0 },
	{ "{SHA512-CRYPT}", PASSWD_HASH_NONE, 0 },
	{ "$6$", PASSWD_HASH_NONE, 0 },
	{ "{CRYPT", PASSWD_HASH_NONE, 0 },
	{ "{UNKNOWN}$6$salt$hash", PASSWD_HASH_NONE, 0 },
};

static void
test_scheme(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scheme_cases) / sizeof(scheme_cases[0]);
	    i++) {
		const char *h = NULL;
		enum passwd_hash_scheme s = passwd_hash_scheme(
		    scheme_cases[i].stored, &h);

		if (s != scheme_cases[i].scheme)
			fail_msg("case %zu '%s': scheme %d, want %d", i,
			    scheme_cases[i].stored, s, scheme_cases[i].scheme);
		if (s != PASSWD_HASH_NONE)
			assert_ptr_equal(h, scheme_cases[i].stored +
			    scheme_cases[i].skip);
	}
	assert_string_equal(passwd_hash_scheme_name(PASSWD_HASH_YESCRYPT),
	    "yescrypt");
	assert_string_equal(passwd_hash_scheme_name(PASSWD_HASH_NONE),
	    "unsupported");
}

/* hash_of - libcrypt hash of pw with a fresh salt of prefix */
static void
hash_of(const char *prefix, unsigned long cost, const char *pw, char *out,
    size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;
	const char *h;

	memset(&cd, 0, sizeof(cd));
	assert_non_null(crypt_gensalt_rn(prefix, cost, NULL, 0, salt,
	    sizeof(salt)));
	h = crypt_r(pw, salt, &cd);
	assert_non_null(h);
	assert_true(h[0] == '$');
	snprintf(out, outlen, "%s", h);
}

static void
test_verify_each_algorithm(void **state)
{
	static const struct {
		const char	*prefix;
		unsigned long	 cost;
		const char	*scheme;	/* Dovecot prefix to try too */
	} algs[] = {
		{ "$y$", 0, "{CRYPT}" },
		{ "$2b$", 5, "{BLF-CRYPT}" },
		{ "$6$", 1000, "{SHA512-CRYPT}" },
		{ "$5$", 1000, "{SHA256-CRYPT}" },
	};
	char h[256], stored[300];

	(void)state;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		hash_of(algs[i].prefix, algs[i].cost, "s3cret", h, sizeof(h));
		assert_true(passwd_hash_verify(h, "s3cret"));
		assert_false(passwd_hash_verify(h, "s3cre"));
		assert_false(passwd_hash_verify(h, "s3cret "));
		assert_false(passwd_hash_verify(h, ""));
		snprintf(stored, sizeof(stored), "%s%s", algs[i].scheme, h);
		assert_true(passwd_hash_verify(stored, "s3cret"));
		assert_false(passwd_hash_verify(stored, "S3cret"));
	}
	/* a hash cut short never matches */
	hash_of("$6$", 1000, "s3cret", h, sizeof(h));
	h[strlen(h) - 3] = '\0';
	assert_false(passwd_hash_verify(h, "s3cret"));
	assert_false(passwd_hash_verify("{PLAIN}s3cret", "s3cret"));
	assert_false(passwd_hash_verify("", ""));
}

static void
test_make(void **state)
{
	char h[256];
	struct err err;
	const char *c;

	(void)state;
	assert_int_equal(passwd_hash_make("correct horse", h, sizeof(h),
	    &err), 0);
	assert_memory_equal(h, "$y$", 3);
	assert_int_equal(passwd_hash_scheme(h, &c), PASSWD_HASH_YESCRYPT);
	assert_true(passwd_hash_verify(h, "correct horse"));
	assert_false(passwd_hash_verify(h, "correct horsE"));
	assert_int_equal(passwd_hash_make("x", h, 8, &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scheme),
		cmocka_unit_test(test_verify_each_algorithm),
		cmocka_unit_test(test_make),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
