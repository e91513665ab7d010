/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_reply.c - reply parsing as the SMTP client sees it:
 * single and multi-line replies, enhanced status codes, malformed lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_reply.h"

struct reply_case {
	const char	*name;
	const char	*lines[4];	/* NULL-terminated */
	int		 result;	/* of the last line */
	int		 code;
	const char	*status;
	const char	*text;
};

static const struct reply_case reply_cases[] = {
	{ "simple", { "250 ok", NULL }, SMTP_REPLY_DONE, 250, "", "ok" },
	{ "enhanced", { "550 5.1.1 no such user", NULL }, SMTP_REPLY_DONE,
	    550, "5.1.1", "no such user" },
	{ "code only", { "250", NULL }, SMTP_REPLY_DONE, 250, "", "" },
	{ "multi", { "250-mx.example", "250-PIPELINING", "250 SIZE 100",
	    NULL }, SMTP_REPLY_DONE, 250, "", "mx.example\nPIPELINING\nSIZE 100" },
	{ "multi enhanced", { "451-4.3.0 first", "451 4.3.0 second", NULL },
	    SMTP_REPLY_DONE, 451, "4.3.0", "first\nsecond" },
	{ "continuation", { "220-hello", NULL }, SMTP_REPLY_MORE, 220, "",
	    "hello" },
	{ "status class mismatch kept as text", { "250 5.1.1 odd", NULL },
	    SMTP_REPLY_DONE, 250, "", "5.1.1 odd" },
	{ "not a status", { "250 2.0 short", NULL }, SMTP_REPLY_DONE, 250, "",
	    "2.0 short" },
	{ "codes differ", { "250-a", "251 b", NULL }, SMTP_REPLY_BAD, 250, "",
	    "a" },
	{ "bad separator", { "250xok", NULL }, SMTP_REPLY_BAD, 0, "", "" },
	{ "letters", { "abc ok", NULL }, SMTP_REPLY_BAD, 0, "", "" },
	{ "too short", { "25", NULL }, SMTP_REPLY_BAD, 0, "", "" },
	{ "class 6", { "600 no", NULL }, SMTP_REPLY_BAD, 0, "", "" },
};

static void
test_reply_cases(void **state)
{
	for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]);
	    i++) {
		const struct reply_case *c = &reply_cases[i];
		struct smtp_reply r;
		int got = -1;

		smtp_reply_init(&r);
		for (size_t j = 0; c->lines[j] != NULL; j++)
			got = smtp_reply_line(&r, str_cstr(c->lines[j]));
		if (got != c->result)
			fail_msg("%s: got result %d, want %d", c->name, got,
			    c->result);
		if (got == SMTP_REPLY_BAD && c->code == 0)
			continue;
		if (r.code != c->code)
			fail_msg("%s: got code %d, want %d", c->name, r.code,
			    c->code);
		if (strcmp(r.status, c->status) != 0)
			fail_msg("%s: got status '%s', want '%s'", c->name,
			    r.status, c->status);
		if (strcmp(r.text, c->text) != 0)
			fail_msg("%s: got text '%s', want '%s'", c->name,
			    r.text, c->text);
	}
}

static void
test_reply_limits(void **state)
{
	struct smtp_reply r;
	char line[3000];
	char sum[64];

	/* text beyond SMTP_REPLY_TEXT_MAX is cut, not overflowed */
	memset(line, 'x', sizeof(line));
	memcpy(line, "250 ", 4);
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_line(&r, str_make(line, sizeof(line))),
	    SMTP_REPLY_DONE);
	assert_int_equal(r.len, SMTP_REPLY_TEXT_MAX - 1);

	/* too many lines */
	smtp_reply_init(&r);
	for (int i = 0; i < SMTP_REPLY_LINES_MAX; i++)
		assert_int_equal(smtp_reply_line(&r, STR("250-x")),
		    SMTP_REPLY_MORE);
	assert_int_equal(smtp_reply_line(&r, STR("250-x")), SMTP_REPLY_BAD);

	/* the summary is the first line */
	smtp_reply_init(&r);
	smtp_reply_line(&r, STR("550-5.7.1 first line"));
	smtp_reply_line(&r, STR("550 5.7.1 second"));
	smtp_reply_summary(&r, sum, sizeof(sum));
	assert_string_equal(sum, "550 5.7.1 first line");
}

/* feed lines (CRLF-less) into r */
static void
feed(struct smtp_reply *r, const char *const *lines, size_t n)
{
	smtp_reply_init(r);
	for (size_t i = 0; i < n; i++)
		(void)smtp_reply_line(r, str_cstr(lines[i]));
}

static void
test_reply_keywords(void **state)
{
	struct smtp_reply r;
	static const char *const ehlo[] = { "250-mx.example Hello",
	    "250-SIZE 1000", "250-dsn", "250-AUTH=PLAIN LOGIN",
	    "250 STARTTLS" };
	static const char *const bare[] = { "250-", "250-STARTTLS",
	    "250 DSN" };
	static const char *const named[] = { "250-DSN", "250 8BITMIME" };

	(void)state;
	feed(&r, ehlo, 5);
	assert_true(smtp_reply_has_keyword(&r, "SIZE"));
	assert_true(smtp_reply_has_keyword(&r, "DSN"));
	assert_true(smtp_reply_has_keyword(&r, "AUTH"));
	assert_true(smtp_reply_has_keyword(&r, "STARTTLS"));
	assert_false(smtp_reply_has_keyword(&r, "SIZ"));
	assert_false(smtp_reply_has_keyword(&r, "mx.example"));
	assert_false(smtp_reply_has_keyword(&r, "PIPELINING"));
	/* an empty greeting line: its first extension is still one */
	feed(&r, bare, 3);
	assert_true(smtp_reply_has_keyword(&r, "STARTTLS"));
	assert_true(smtp_reply_has_keyword(&r, "DSN"));
	/* a greeting named like an extension is not one */
	feed(&r, named, 2);
	assert_false(smtp_reply_has_keyword(&r, "DSN"));
	assert_true(smtp_reply_has_keyword(&r, "8BITMIME"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_cases),
		cmocka_unit_test(test_reply_limits),
		cmocka_unit_test(test_reply_keywords),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
