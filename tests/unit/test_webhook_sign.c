/* SPDX-License-Identifier: ISC */
/*
 * test_webhook_sign.c - the Relais-Signature header value: known
 * HMAC-SHA256 vectors (computed independently with Python's hmac module
 * and `openssl dgst -sha256 -hmac`) over "TS." + body, and the format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/webhook.h"

static const struct {
	const char	*secret;
	int64_t		 ts;
	const char	*body;
	const char	*want;
} vectors[] = {
	{ "whsec_test", 1700000000, "{\"events\":[]}",
	  "t=1700000000, v1=4f6f9b7a41398ad124e52a1320534f97"
	  "8e522923f3f2b2724e31d7a9dbf78a7f" },
	{ "Jefe", 1, "what do ya want for nothing?",
	  "t=1, v1=a9049465ce89cfb8e9aac62333abda66"
	  "f80e3403f51f57f6bae3c3a4485eca38" },
	{ "k", 0, "",
	  "t=0, v1=6b4a4b8b3c40f1e8f53a3d36682e5f99"
	  "f7ad2ac1df1c93dfe336f329167641e7" },
};

static void
test_webhook_sign_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		char out[WEBHOOK_SIGN_MAX];
		struct err err;

		assert_int_equal(webhook_sign(vectors[i].secret, vectors[i].ts,
		    vectors[i].body, strlen(vectors[i].body), out, &err), 0);
		if (strcmp(out, vectors[i].want) != 0)
			fail_msg("vector %zu: got %s, want %s", i, out,
			    vectors[i].want);
	}
}

/* the body is signed as bytes: its length counts, not a NUL */
static void
test_webhook_sign_binary_body(void **state)
{
	char a[WEBHOOK_SIGN_MAX], b[WEBHOOK_SIGN_MAX];
	struct err err;

	assert_int_equal(webhook_sign("k", 5, "ab\0cd", 5, a, &err), 0);
	assert_int_equal(webhook_sign("k", 5, "ab", 2, b, &err), 0);
	assert_string_not_equal(a, b);
	/* another time, another signature over the same body */
	assert_int_equal(webhook_sign("k", 6, "ab", 2, a, &err), 0);
	assert_string_not_equal(a + 5, b + 5);
}

/* the longest time fits */
static void
test_webhook_sign_bounds(void **state)
{
	char out[WEBHOOK_SIGN_MAX];
	struct err err;

	assert_int_equal(webhook_sign("k", INT64_MIN, "x", 1, out, &err), 0);
	assert_int_equal(strlen(out), WEBHOOK_SIGN_MAX - 1);
	assert_memory_equal(out, "t=-9223372036854775808, v1=", 27);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_webhook_sign_vectors),
		cmocka_unit_test(test_webhook_sign_binary_body),
		cmocka_unit_test(test_webhook_sign_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
