/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_data.c - the DATA/BDAT scanner: dot-unstuffing, the end
 * marker, every bare CR / bare LF smuggling form, line length limits, and
 * the same results whatever way the input is split.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_data.h"

struct data_case {
	const char	*name;
	const char	*in;
	const char	*out;		/* text before the end marker */
	unsigned	 flags;
	int		 ended;		/* 1: end marker found */
	size_t		 rest;		/* octets left after the marker */
};

static const struct data_case data_cases[] = {
	{ "empty", ".\r\n", "", 0, 1, 0 },
	{ "one line", "hello\r\n.\r\n", "hello\r\n", 0, 1, 0 },
	{ "stuffed", "..x\r\n.\r\n", ".x\r\n", 0, 1, 0 },
	{ "lone dot text", ".x\r\n.\r\n", "x\r\n", 0, 1, 0 },
	{ "double dot line", "..\r\n.\r\n", ".\r\n", 0, 1, 0 },
	{ "pipelined after", "a\r\n.\r\nQUIT\r\n", "a\r\n", 0, 1, 6 },
	{ "no end", "a\r\nb\r\n", "a\r\nb\r\n", 0, 0, 0 },
	{ "bare lf end", "a\n.\n", "a\n.\n", SMTP_DATA_BARE_LF, 0, 0 },
	{ "lf dot crlf", "a\n.\r\n", "a\n.\r\n", SMTP_DATA_BARE_LF, 0, 0 },
	{ "cr dot lf", "a\r.\n", "a\r.\n",
	    SMTP_DATA_BARE_CR | SMTP_DATA_BARE_LF, 0, 0 },
	{ "crlf dot lf", "a\r\n.\n", "a\r\n\n", SMTP_DATA_BARE_LF, 0, 0 },
	{ "cr dot crlf", "a\r.\r\n", "a\r.\r\n", SMTP_DATA_BARE_CR, 0, 0 },
	{ "dot cr x", "a\r\n.\rx\r\n", "a\r\n\rx\r\n", SMTP_DATA_BARE_CR, 0, 0 },
	{ "smuggle then real end", "a\n.\nMAIL FROM:<x>\r\n.\r\n",
	    "a\n.\nMAIL FROM:<x>\r\n", SMTP_DATA_BARE_LF, 1, 0 },
	{ "bare cr mid", "a\rb\r\n.\r\n", "a\rb\r\n", SMTP_DATA_BARE_CR, 1, 0 },
	{ "crcrlf", "a\r\r\n.\r\n", "a\r\r\n", SMTP_DATA_BARE_CR, 1, 0 },
};

/* data_run - scan in, split every `step` octets; step 0 = all at once */
static void
data_run(const struct data_case *c, size_t step, char *out, size_t *outlen,
    struct smtp_data *d, size_t *rest)
{
	size_t len = strlen(c->in), off = 0;

	smtp_data_init(d, SMTP_DATA_DOT);
	*outlen = 0;
	while (off < len && !d->ended) {
		size_t n = step ? step : len;

		if (n > len - off)
			n = len - off;
		off += smtp_data_scan(d, c->in + off, n, out, outlen);
	}
	*rest = len - off;
}

static void
test_data_cases(void **state)
{
	char out[256];
	size_t outlen, rest;
	struct smtp_data d;

	for (size_t i = 0; i < sizeof(data_cases) / sizeof(data_cases[0]); i++) {
		const struct data_case *c = &data_cases[i];

		for (size_t step = 0; step <= 3; step++) {
			data_run(c, step, out, &outlen, &d, &rest);
			if (outlen != strlen(c->out) ||
			    memcmp(out, c->out, outlen) != 0)
				fail_msg("%s/%zu: got text '%.*s', want '%s'",
				    c->name, step, (int)outlen, out, c->out);
			if (d.flags != c->flags)
				fail_msg("%s/%zu: got flags %u, want %u",
				    c->name, step, d.flags, c->flags);
			if ((int)d.ended != c->ended)
				fail_msg("%s/%zu: got ended %d, want %d",
				    c->name, step, d.ended, c->ended);
			if (rest != c->rest)
				fail_msg("%s/%zu: got rest %zu, want %zu",
				    c->name, step, rest, c->rest);
		}
	}
}

static void
test_data_line_limit(void **state)
{
	static char in[2100], out[2200];
	size_t outlen = 0;
	struct smtp_data d;

	/* 998 octets + CRLF = 1000: allowed */
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	smtp_data_init(&d, SMTP_DATA_DOT);
	smtp_data_scan(&d, in, 1003, out, &outlen);
	assert_int_equal(d.flags, 0);
	assert_true(d.ended);

	/* 999 + CRLF: refused */
	memset(in, 'x', 999);
	memcpy(in + 999, "\r\n.\r\n", 5);
	outlen = 0;
	smtp_data_init(&d, SMTP_DATA_DOT);
	smtp_data_scan(&d, in, 1004, out, &outlen);
	assert_int_equal(d.flags, SMTP_DATA_LONG_LINE);
	assert_true(d.ended);

	/* a stuffed dot does not count (RFC 5321 4.5.3.1.6) */
	in[0] = '.';
	memset(in + 1, 'x', 998);
	memcpy(in + 999, "\r\n.\r\n", 5);
	outlen = 0;
	smtp_data_init(&d, SMTP_DATA_DOT);
	smtp_data_scan(&d, in, 1004, out, &outlen);
	assert_int_equal(d.flags, 0);
}

/* runs longer than the scanner's look-ahead window, with and without CRs */
static void
test_data_long_run(void **state)
{
	static char in[6000], out[6100];
	size_t outlen = 0, n;
	struct smtp_data d;

	memset(in, 'x', 2500);
	memcpy(in + 2500, "\r\n.\r\n", 5);
	smtp_data_init(&d, SMTP_DATA_DOT);
	n = smtp_data_scan(&d, in, 2505, out, &outlen);
	assert_int_equal(n, 2505);
	assert_true(d.ended);
	assert_int_equal(d.flags, SMTP_DATA_LONG_LINE);
	assert_int_equal(outlen, 2502);
	assert_memory_equal(out, in, 2502);

	/* "ab\n" x 1500: bare LFs (which do not end a line), all text kept */
	for (size_t i = 0; i < 1500; i++)
		memcpy(in + 3 * i, "ab\n", 3);
	outlen = 0;
	smtp_data_init(&d, SMTP_DATA_DOT);
	n = smtp_data_scan(&d, in, 4500, out, &outlen);
	assert_int_equal(n, 4500);
	assert_false(d.ended);
	assert_int_equal(d.flags, SMTP_DATA_BARE_LF | SMTP_DATA_LONG_LINE);
	assert_int_equal(outlen, 4500);
	assert_memory_equal(out, in, 4500);
}

static void
test_data_chunked(void **state)
{
	char out[64];
	size_t outlen = 0;
	struct smtp_data d;

	smtp_data_init(&d, SMTP_DATA_CHUNK);
	/* dots are text in BDAT; no end marker */
	assert_int_equal(smtp_data_scan(&d, ".\r\nab", 5, out, &outlen), 5);
	assert_false(d.ended);
	smtp_data_finish_chunked(&d, out, &outlen);
	assert_int_equal(outlen, 7);
	assert_memory_equal(out, ".\r\nab\r\n", 7);
	assert_int_equal(d.flags, 0);

	outlen = 0;
	smtp_data_init(&d, SMTP_DATA_CHUNK);
	smtp_data_scan(&d, "a\nb\r", 4, out, &outlen);
	smtp_data_finish_chunked(&d, out, &outlen);
	assert_int_equal(d.flags, SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_cases),
		cmocka_unit_test(test_data_line_limit),
		cmocka_unit_test(test_data_long_run),
		cmocka_unit_test(test_data_chunked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
