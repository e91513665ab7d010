/* SPDX-License-Identifier: ISC */
/*
 * test_sasl.c - sasl.c: strict base64 both ways, PLAIN messages, the
 * PLAIN and LOGIN exchanges with and without initial responses,
 * cancellation, and everything that must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/sasl.h"

static void
test_b64_roundtrip(void **state)
{
	static const char *const in[] = { "", "f", "fo", "foo", "foob",
	    "fooba", "foobar", "\0a\0b" };
	static const char *const out[] = { "", "Zg==", "Zm8=", "Zm9v",
	    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy", "AGEAYg==" };
	static const size_t len[] = { 0, 1, 2, 3, 4, 5, 6, 4 };
	char enc[64], dec[64];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		assert_int_equal(sasl_b64_encode(in[i], len[i], enc,
		    sizeof(enc)), 0);
		assert_string_equal(enc, out[i]);
		assert_int_equal(sasl_b64_decode(str_cstr(out[i]), dec,
		    sizeof(dec), &n), 0);
		assert_int_equal(n, len[i]);
		assert_memory_equal(dec, in[i], n);
	}
	assert_int_equal(sasl_b64_encode("foobar", 6, enc, 8), -1);
}

static void
test_b64_strict(void **state)
{
	static const char *const bad[] = { "Zg", "Zg=", "Z===", "Zm9v\r\n",
	    "Zm 9v", "Zm9v====", "Zh==", "Zm9=", "Zg==Zg==", "=Zg=", "Zm*v",
	    "Zm9vY", "====" };
	char dec[64];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sasl_b64_decode(str_cstr(bad[i]), dec,
		    sizeof(dec), &n), -1);
	/* output bound */
	assert_int_equal(sasl_b64_decode(STR("Zm9vYmFy"), dec, 5, &n), -1);
}

static void
test_plain_parse(void **state)
{
	char user[SASL_FIELD_MAX + 1], pass[SASL_FIELD_MAX + 1];
	char big[SASL_FIELD_MAX + 8];

	(void)state;
	assert_int_equal(sasl_plain_parse("\0alice\0pw", 9, user, pass), 0);
	assert_string_equal(user, "alice");
	assert_string_equal(pass, "pw");
	assert_int_equal(sasl_plain_parse("alice\0alice\0pw", 14, user,
	    pass), 0);
	assert_int_equal(sasl_plain_parse("ALICE\0alice\0pw", 14, user,
	    pass), 0);
	/* acting for somebody else */
	assert_int_equal(sasl_plain_parse("bob\0alice\0pw", 12, user, pass),
	    -1);
	assert_int_equal(sasl_plain_parse("\0alice\0", 7, user, pass), -1);
	assert_int_equal(sasl_plain_parse("\0\0pw", 4, user, pass), -1);
	assert_int_equal(sasl_plain_parse("alice\0pw", 8, user, pass), -1);
	assert_int_equal(sasl_plain_parse("\0alice\0p\0w", 10, user, pass),
	    -1);
	assert_int_equal(sasl_plain_parse("", 0, user, pass), -1);
	memset(big, 'a', sizeof(big));
	big[0] = '\0';
	big[2] = '\0';
	/* a password over SASL_FIELD_MAX */
	assert_int_equal(sasl_plain_parse(big, sizeof(big), user, pass), -1);
}

static void
test_plain_initial(void **state)
{
	struct sasl sa;
	const char *ch = NULL;

	(void)state;
	/* "\0alice@example.test\0alice-secret" */
	assert_int_equal(sasl_start(&sa, STR("PLAIN "
	    "AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1zZWNyZXQ="), &ch),
	    SASL_STEP_DONE);
	assert_string_equal(sa.user, "alice@example.test");
	assert_string_equal(sa.pass, "alice-secret");
	sasl_wipe(&sa);
	assert_string_equal(sa.pass, "");
	assert_int_equal(sasl_start(&sa, STR("plain "
	    "AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1zZWNyZXQ="), &ch),
	    SASL_STEP_DONE);
	assert_int_equal(sasl_start(&sa, STR("PLAIN not-base64!"), &ch),
	    SASL_STEP_SYNTAX);
	assert_int_equal(sasl_start(&sa, STR("PLAIN ="), &ch),
	    SASL_STEP_SYNTAX);
	assert_int_equal(sasl_start(&sa, STR("PLAIN *"), &ch),
	    SASL_STEP_CANCEL);
}

static void
test_plain_challenge(void **state)
{
	struct sasl sa;
	const char *ch = NULL;

	(void)state;
	assert_int_equal(sasl_start(&sa, STR("PLAIN"), &ch),
	    SASL_STEP_CHALLENGE);
	assert_string_equal(ch, "");
	assert_int_equal(sasl_next(&sa, STR("AGJvYgBwdw=="), &ch),
	    SASL_STEP_DONE);
	assert_string_equal(sa.user, "bob");
	assert_string_equal(sa.pass, "pw");
	assert_int_equal(sasl_start(&sa, STR("PLAIN"), &ch),
	    SASL_STEP_CHALLENGE);
	assert_int_equal(sasl_next(&sa, STR("*"), &ch), SASL_STEP_CANCEL);
}

static void
test_login(void **state)
{
	struct sasl sa;
	const char *ch = NULL;

	(void)state;
	assert_int_equal(sasl_start(&sa, STR("LOGIN"), &ch),
	    SASL_STEP_CHALLENGE);
	assert_string_equal(ch, "VXNlcm5hbWU6");
	assert_int_equal(sasl_next(&sa, STR("Ym9i"), &ch),
	    SASL_STEP_CHALLENGE);
	assert_string_equal(ch, "UGFzc3dvcmQ6");
	assert_int_equal(sasl_next(&sa, STR("cHc="), &ch), SASL_STEP_DONE);
	assert_string_equal(sa.user, "bob");
	assert_string_equal(sa.pass, "pw");
	/* initial response: the user name */
	assert_int_equal(sasl_start(&sa, STR("Login Ym9i"), &ch),
	    SASL_STEP_CHALLENGE);
	assert_string_equal(ch, "UGFzc3dvcmQ6");
	assert_int_equal(sasl_next(&sa, STR("*"), &ch), SASL_STEP_CANCEL);
	/* empty user, empty password, NUL inside */
	assert_int_equal(sasl_start(&sa, STR("LOGIN ="), &ch),
	    SASL_STEP_SYNTAX);
	assert_int_equal(sasl_start(&sa, STR("LOGIN Ym9i"), &ch),
	    SASL_STEP_CHALLENGE);
	assert_int_equal(sasl_next(&sa, STR("="), &ch), SASL_STEP_SYNTAX);
	assert_int_equal(sasl_start(&sa, STR("LOGIN AGJvYg=="), &ch),
	    SASL_STEP_SYNTAX);
}

static void
test_bad_mech(void **state)
{
	struct sasl sa;
	const char *ch = NULL;

	(void)state;
	assert_int_equal(sasl_start(&sa, STR("CRAM-MD5"), &ch),
	    SASL_STEP_BAD_MECH);
	assert_int_equal(sasl_start(&sa, STR(""), &ch), SASL_STEP_BAD_MECH);
	assert_int_equal(sasl_start(&sa, STR("PLAINX AAAA"), &ch),
	    SASL_STEP_BAD_MECH);
	assert_int_equal(sasl_start(&sa, STR("XOAUTH2 abc"), &ch),
	    SASL_STEP_BAD_MECH);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_roundtrip),
		cmocka_unit_test(test_b64_strict),
		cmocka_unit_test(test_plain_parse),
		cmocka_unit_test(test_plain_initial),
		cmocka_unit_test(test_plain_challenge),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_bad_mech),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
