/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_header.c - smtp_header.c: the end of the header section found
 * in one piece and octet by octet, and field presence in any case, with
 * blanks before the colon, and not inside other fields or folded lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_end),
		cmocka_unit_test(test_has),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
