/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_header.c - smtp_header.c: the end of the header section found
 * in one piece and octet by octet, and field presence in any case, with
 * blanks before the colon, and not inside other fields or folded lines;
 * the RFC 8689 "TLS-Required: No" field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_header.h"

static void
test_end(void **state)
{
	static const struct {
		const char	*text;
		ssize_t		 end;
	} cases[] = {
		{ "Subject: x\r\n\r\nbody\r\n", 12 },
		{ "\r\nbody\r\n", 0 },
		{ "Subject: x\r\nFrom: a\r\n\r\n", 21 },
		{ "Subject: x\r\n", -1 },
		{ "Subject: x\r\n\r", -1 },
		{ "Subject: x\r\n folded\r\n\r\n", 21 },
		{ "a\r\r\n\r\n", 4 },
		{ "", -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = cases[i].text;
		size_t len = strlen(t), resume = 0;
		ssize_t got = -1;

		assert_int_equal(smtp_header_end(t, len, &resume),
		    cases[i].end);
		/* the same, growing one octet at a time */
		resume = 0;
		for (size_t n = 1; n <= len && got < 0; n++)
			got = smtp_header_end(t, n, &resume);
		assert_int_equal(got, cases[i].end);
	}
}

static void
test_has(void **state)
{
	const char *h = "From: a@b\r\nX-Date: no\r\nSubject: Date: no\r\n"
	    "message-id  : <x@y>\r\nReceived: x\r\n Date: folded\r\n";

	(void)state;
	assert_true(smtp_header_has(h, strlen(h), "From"));
	assert_true(smtp_header_has(h, strlen(h), "Message-ID"));
	assert_false(smtp_header_has(h, strlen(h), "Date"));
	assert_false(smtp_header_has(h, strlen(h), "Subject: "));
	assert_true(smtp_header_has("DATE:x\r\n", 8, "Date"));
	assert_false(smtp_header_has("Dates: x\r\n", 10, "Date"));
	assert_false(smtp_header_has("Date", 4, "Date"));
	assert_false(smtp_header_has("", 0, "Date"));
}

static void
test_take(void **state)
{
	char h[256], v[16];
	size_t n;
	bool found;

	(void)state;
	snprintf(h, sizeof(h), "From: a@b\r\nX-Relais-Pool:  warm \r\n"
	    "Subject: hi\r\nx-relais-pool : cold\r\n\tfolded\r\n"
	    "X-Relais-Poolish: keep\r\n");
	n = smtp_header_take(h, strlen(h), "X-Relais-Pool", v, sizeof(v),
	    &found);
	assert_true(found);
	assert_string_equal(v, "warm");
	h[n] = '\0';
	assert_string_equal(h, "From: a@b\r\nSubject: hi\r\n"
	    "X-Relais-Poolish: keep\r\n");
	/* none: unchanged */
	n = smtp_header_take(h, strlen(h), "X-Relais-Priority", v, sizeof(v),
	    &found);
	assert_false(found);
	assert_string_equal(v, "");
	assert_int_equal(n, strlen(h));
	/* folded value, unfolded; cut to the buffer */
	snprintf(h, sizeof(h), "X-Relais-Priority: hi\r\n gh\r\nA: b\r\n");
	n = smtp_header_take(h, strlen(h), "X-Relais-Priority", v, sizeof(v),
	    &found);
	h[n] = '\0';
	assert_string_equal(v, "hi gh");
	assert_string_equal(h, "A: b\r\n");
	snprintf(h, sizeof(h), "X-Relais-Pool: 0123456789abcdefghij\r\n");
	n = smtp_header_take(h, strlen(h), "X-Relais-Pool", v, sizeof(v),
	    &found);
	assert_int_equal(n, 0);
	assert_string_equal(v, "0123456789abcde");
	/* a last line without CRLF */
	snprintf(h, sizeof(h), "A: b\r\nX-Relais-Pool: p");
	n = smtp_header_take(h, strlen(h), "X-Relais-Pool", v, sizeof(v),
	    &found);
	assert_int_equal(n, 6);
	assert_string_equal(v, "p");
}

static void
test_tls_optional(void **state)
{
	static const struct {
		const char	*hdr;
		bool		 want;
	} cases[] = {
		{ "TLS-Required: No\r\n", true },
		{ "From: a@b\r\nTLS-Required: No\r\nSubject: x\r\n", true },
		{ "tls-required: no\r\n", true },
		{ "TLS-REQUIRED:NO\r\n", true },
		{ "TLS-Required :  No  \r\n", true },
		{ "TLS-Required:\r\n No\r\n", true },
		{ "TLS-Required: No\r\n \r\nX: y\r\n", true },
		{ "TLS-Required: No", true },		/* no CRLF yet */
		{ "TLS-Required: Yes\r\nTLS-Required: No\r\n", true },
		{ "TLS-Required: Yes\r\n", false },
		{ "TLS-Required: No thanks\r\n", false },
		{ "TLS-Required: No\r\n thanks\r\n", false },
		{ "TLS-Required: None\r\n", false },
		{ "TLS-Required: N\r\n", false },
		{ "TLS-Required: \"No\"\r\n", false },
		{ "TLS-Required: No (please)\r\n", false },
		{ "TLS-Required:\r\n", false },
		{ "TLS-Required\r\n", false },
		{ "TLS-Required-X: No\r\n", false },
		{ "X-TLS-Required: No\r\n", false },
		{ "Subject: a\r\n TLS-Required: No\r\n", false },
		{ "Subject: TLS-Required: No\r\n", false },
		{ "", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = smtp_header_tls_optional(cases[i].hdr,
		    strlen(cases[i].hdr));

		if (got != cases[i].want)
			print_error("case %zu \"%s\": got %d\n", i,
			    cases[i].hdr, got);
		assert_int_equal(got, cases[i].want);
	}
	/* only the length given is looked at */
	assert_false(smtp_header_tls_optional("TLS-Required: No\r\n", 15));
	assert_true(smtp_header_tls_optional("TLS-Required: No\r\n", 16));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_end),
		cmocka_unit_test(test_has),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_tls_optional),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
