/* SPDX-License-Identifier: ISC */
/*
 * test_base64.c - the shared base64: RFC 4648 test vectors both ways, and
 * the strict (SASL) and blank-skipping (DKIM) decoders on bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/base64.h"

static const struct {
	const char *plain, *enc;
} vectors[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_base64_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct buf b;
		uint8_t out[16];
		size_t n;

		buf_init(&b, 0);
		assert_int_equal(base64_encode(vectors[i].plain,
		    strlen(vectors[i].plain), &b), 0);
		assert_string_equal(buf_cstr(&b), vectors[i].enc);
		buf_fini(&b);
		for (unsigned f = 0; f < 2; f++) {
			assert_int_equal(base64_decode(str_cstr(vectors[i].enc),
			    f ? BASE64_STRICT : BASE64_SKIP_BLANKS, out,
			    sizeof(out), &n), 0);
			assert_int_equal(n, strlen(vectors[i].plain));
			assert_memory_equal(out, vectors[i].plain, n);
		}
	}
}

static void
test_base64_bad(void **state)
{
	uint8_t out[16];
	size_t n;
	static const char *const bad[] = { "Z", "Zg=", "Zg===", "Zg=a", "Z!==",
	    "Zm9v\r\n", "Zh==" /* non-canonical */ };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (base64_decode(str_cstr(bad[i]), BASE64_STRICT, out,
		    sizeof(out), &n) == 0)
			fail_msg("strict decode of '%s': got success, want -1",
			    bad[i]);
	/* blanks and folding are fine for DKIM, and unpadded tails too */
	assert_int_equal(base64_decode(STR("Zm9v\r\n YmFy"), BASE64_SKIP_BLANKS,
	    out, sizeof(out), &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(base64_decode(STR("Zg"), BASE64_SKIP_BLANKS, out,
	    sizeof(out), &n), 0);
	/* the output limit holds */
	assert_int_equal(base64_decode(STR("Zm9vYmFy"), BASE64_STRICT, out, 5,
	    &n), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
