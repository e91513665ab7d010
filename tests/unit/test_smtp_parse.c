/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_parse.c - table-driven tests of smtp_parse_command(): every
 * verb, case, arguments, the 512-octet limit at and past it, control
 * octets, MAIL/RCPT path delimiting and BDAT forms.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_parse.h"

struct parse_case {
	const char		*line;
	enum smtp_parse_result	 want;
	enum smtp_verb		 verb;
	const char		*arg;		/* NULL means "" */
	const char		*path;
	const char		*params;
	uint64_t		 bdat_size;
	bool			 bdat_last;
};

#define OK	SMTP_PARSE_OK
#define UNKNOWN	SMTP_PARSE_UNKNOWN
#define SYNTAX	SMTP_PARSE_SYNTAX
#define TOOLONG	SMTP_PARSE_TOOLONG
#define BADCHAR	SMTP_PARSE_BADCHAR

#define OK_ARG(l, v, a) \
	{ .line = (l), .want = OK, .verb = (v), .arg = (a) }
#define OK_PATH(l, v, p, pa) \
	{ .line = (l), .want = OK, .verb = (v), .path = (p), .params = (pa) }
#define OK_BDAT(l, n, last) \
	{ .line = (l), .want = OK, .verb = SMTP_CMD_BDAT, .bdat_size = (n), \
	  .bdat_last = (last) }
#define BAD(l, r, v) \
	{ .line = (l), .want = (r), .verb = (v) }

static const struct parse_case parse_cases[] = {
	/* HELO / EHLO: argument required */
	OK_ARG("HELO mx.example.org", SMTP_CMD_HELO, "mx.example.org"),
	OK_ARG("helo mx.example.org", SMTP_CMD_HELO, "mx.example.org"),
	OK_ARG("EHLO mx.example.org", SMTP_CMD_EHLO, "mx.example.org"),
	OK_ARG("eHlO [192.0.2.1]", SMTP_CMD_EHLO, "[192.0.2.1]"),
	OK_ARG("EHLO   spaced.example  ", SMTP_CMD_EHLO, "spaced.example"),
	OK_ARG("EHLO\tmx.example.org", SMTP_CMD_EHLO, "mx.example.org"),
	OK_ARG("EHLO two words", SMTP_CMD_EHLO, "two words"),
	BAD("EHLO", SYNTAX, SMTP_CMD_EHLO),
	BAD("EHLO ", SYNTAX, SMTP_CMD_EHLO),
	BAD("EHLO \t ", SYNTAX, SMTP_CMD_EHLO),
	BAD("HELO", SYNTAX, SMTP_CMD_HELO),
	OK_ARG("EHLO b\xc3\xbc" "cher.example", SMTP_CMD_EHLO,
	    "b\xc3\xbc" "cher.example"),

	/* MAIL */
	OK_PATH("MAIL FROM:<user@example.org>", SMTP_CMD_MAIL,
	    "<user@example.org>", ""),
	OK_PATH("mail from:<user@example.org>", SMTP_CMD_MAIL,
	    "<user@example.org>", ""),
	OK_PATH("MaIl FrOm:<>", SMTP_CMD_MAIL, "<>", ""),
	OK_PATH("MAIL FROM: <user@example.org>", SMTP_CMD_MAIL,
	    "<user@example.org>", ""),
	OK_PATH("MAIL FROM:   <a@b>", SMTP_CMD_MAIL, "<a@b>", ""),
	OK_PATH("MAIL  FROM:<a@b>", SMTP_CMD_MAIL, "<a@b>", ""),
	OK_PATH("MAIL FROM:<a@b> SIZE=1000 BODY=8BITMIME", SMTP_CMD_MAIL,
	    "<a@b>", "SIZE=1000 BODY=8BITMIME"),
	OK_PATH("MAIL FROM:<a@b>   SMTPUTF8   ", SMTP_CMD_MAIL, "<a@b>",
	    "SMTPUTF8"),
	OK_PATH("MAIL FROM:<a@b> ", SMTP_CMD_MAIL, "<a@b>", ""),
	OK_PATH("MAIL FROM:<\"a>b\"@example.org> SIZE=1", SMTP_CMD_MAIL,
	    "<\"a>b\"@example.org>", "SIZE=1"),
	OK_PATH("MAIL FROM:<\"a\\\"> x\"@b>", SMTP_CMD_MAIL, "<\"a\\\"> x\"@b>",
	    ""),
	OK_PATH("MAIL FROM:<@relay.example:user@example.org>", SMTP_CMD_MAIL,
	    "<@relay.example:user@example.org>", ""),
	OK_PATH("MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8", SMTP_CMD_MAIL,
	    "<j\xc3\xb6rg@example.org>", "SMTPUTF8"),
	OK_PATH("MAIL FROM:<a b@c>", SMTP_CMD_MAIL, "<a b@c>", ""),
	BAD("MAIL FROM:user@example.org", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAIL FROM: user@example.org", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAIL FROM:", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAIL FROM: ", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAIL FROM:<a@b", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAIL FROM:<\"a>@b", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAIL FROM:<a@b>SIZE=1", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAIL FROM:<a@b>>", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAIL FROM :<a@b>", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAIL FROM<a@b>", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAIL TO:<a@b>", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAIL <a@b>", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAIL", SYNTAX, SMTP_CMD_MAIL),
	BAD("MAILFROM:<a@b>", UNKNOWN, SMTP_CMD_UNKNOWN),

	/* RCPT */
	OK_PATH("RCPT TO:<user@example.org>", SMTP_CMD_RCPT,
	    "<user@example.org>", ""),
	OK_PATH("rcpt to:<Postmaster>", SMTP_CMD_RCPT, "<Postmaster>", ""),
	OK_PATH("RCPT TO: <a@b> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b",
	    SMTP_CMD_RCPT, "<a@b>", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b"),
	OK_PATH("RCPT TO:<>", SMTP_CMD_RCPT, "<>", ""),
	BAD("RCPT TO:a@b", SYNTAX, SMTP_CMD_RCPT),
	BAD("RCPT FROM:<a@b>", SYNTAX, SMTP_CMD_RCPT),
	BAD("RCPT TO:", SYNTAX, SMTP_CMD_RCPT),
	BAD("RCPT", SYNTAX, SMTP_CMD_RCPT),
	BAD("RCPT TO:<a@b", SYNTAX, SMTP_CMD_RCPT),

	/* no-argument verbs */
	OK_ARG("DATA", SMTP_CMD_DATA, ""),
	OK_ARG("data", SMTP_CMD_DATA, ""),
	OK_ARG("DATA ", SMTP_CMD_DATA, ""),
	BAD("DATA x", SYNTAX, SMTP_CMD_DATA),
	OK_ARG("RSET", SMTP_CMD_RSET, ""),
	OK_ARG("rset\t", SMTP_CMD_RSET, ""),
	BAD("RSET now", SYNTAX, SMTP_CMD_RSET),
	OK_ARG("QUIT", SMTP_CMD_QUIT, ""),
	OK_ARG("Quit", SMTP_CMD_QUIT, ""),
	BAD("QUIT bye", SYNTAX, SMTP_CMD_QUIT),
	OK_ARG("STARTTLS", SMTP_CMD_STARTTLS, ""),
	OK_ARG("starttls", SMTP_CMD_STARTTLS, ""),
	BAD("STARTTLS x", SYNTAX, SMTP_CMD_STARTTLS),

	/* optional-argument verbs */
	OK_ARG("NOOP", SMTP_CMD_NOOP, ""),
	OK_ARG("NOOP hello there", SMTP_CMD_NOOP, "hello there"),
	OK_ARG("noop  x  ", SMTP_CMD_NOOP, "x"),
	OK_ARG("HELP", SMTP_CMD_HELP, ""),
	OK_ARG("HELP MAIL", SMTP_CMD_HELP, "MAIL"),

	/* required-argument verbs */
	OK_ARG("VRFY postmaster", SMTP_CMD_VRFY, "postmaster"),
	OK_ARG("vrfy <a@b>", SMTP_CMD_VRFY, "<a@b>"),
	BAD("VRFY", SYNTAX, SMTP_CMD_VRFY),
	BAD("VRFY  ", SYNTAX, SMTP_CMD_VRFY),
	OK_ARG("EXPN staff", SMTP_CMD_EXPN, "staff"),
	BAD("EXPN", SYNTAX, SMTP_CMD_EXPN),

	/* AUTH */
	OK_ARG("AUTH PLAIN", SMTP_CMD_AUTH, "PLAIN"),
	OK_ARG("auth login", SMTP_CMD_AUTH, "login"),
	OK_ARG("AUTH PLAIN AHVzZXIAcGFzcw==", SMTP_CMD_AUTH,
	    "PLAIN AHVzZXIAcGFzcw=="),
	OK_ARG("AUTH PLAIN =", SMTP_CMD_AUTH, "PLAIN ="),
	OK_ARG("AUTH SCRAM-SHA-256", SMTP_CMD_AUTH, "SCRAM-SHA-256"),
	OK_ARG("AUTH X_TOKEN_12345678901", SMTP_CMD_AUTH,
	    "X_TOKEN_12345678901"),
	OK_ARG("AUTH ABCDEFGHIJKLMNOPQRST", SMTP_CMD_AUTH,
	    "ABCDEFGHIJKLMNOPQRST"),
	BAD("AUTH ABCDEFGHIJKLMNOPQRSTU", SYNTAX, SMTP_CMD_AUTH),
	BAD("AUTH", SYNTAX, SMTP_CMD_AUTH),
	BAD("AUTH ", SYNTAX, SMTP_CMD_AUTH),
	BAD("AUTH PL@IN", SYNTAX, SMTP_CMD_AUTH),
	BAD("AUTH PLAIN a b", SYNTAX, SMTP_CMD_AUTH),

	/* BDAT (RFC 3030) */
	OK_BDAT("BDAT 0", 0, false),
	OK_BDAT("BDAT 1000", 1000, false),
	OK_BDAT("BDAT 1000 LAST", 1000, true),
	OK_BDAT("bdat 86 last", 86, true),
	OK_BDAT("BDAT 0 LAST", 0, true),
	OK_BDAT("BDAT  42   LAST ", 42, true),
	OK_BDAT("BDAT 007", 7, false),
	OK_BDAT("BDAT 999999999999999999", 999999999999999999ULL, false),
	BAD("BDAT 1000000000000000000", SYNTAX, SMTP_CMD_BDAT),
	BAD("BDAT 18446744073709551616", SYNTAX, SMTP_CMD_BDAT),
	BAD("BDAT", SYNTAX, SMTP_CMD_BDAT),
	BAD("BDAT LAST", SYNTAX, SMTP_CMD_BDAT),
	BAD("BDAT -1", SYNTAX, SMTP_CMD_BDAT),
	BAD("BDAT +1", SYNTAX, SMTP_CMD_BDAT),
	BAD("BDAT 1x", SYNTAX, SMTP_CMD_BDAT),
	BAD("BDAT 0x10", SYNTAX, SMTP_CMD_BDAT),
	BAD("BDAT 10 FIRST", SYNTAX, SMTP_CMD_BDAT),
	BAD("BDAT 10 LAST x", SYNTAX, SMTP_CMD_BDAT),
	BAD("BDAT 10 LASTX", SYNTAX, SMTP_CMD_BDAT),

	/* unknown verbs and malformed lines */
	BAD("", UNKNOWN, SMTP_CMD_UNKNOWN),
	BAD(" ", UNKNOWN, SMTP_CMD_UNKNOWN),
	BAD(" NOOP", UNKNOWN, SMTP_CMD_UNKNOWN),
	BAD("\tQUIT", UNKNOWN, SMTP_CMD_UNKNOWN),
	BAD("FOO", UNKNOWN, SMTP_CMD_UNKNOWN),
	BAD("XCLIENT ADDR=1.2.3.4", UNKNOWN, SMTP_CMD_UNKNOWN),
	BAD("HELOX foo", UNKNOWN, SMTP_CMD_UNKNOWN),
	BAD("HEL", UNKNOWN, SMTP_CMD_UNKNOWN),
	BAD("QUIT:", UNKNOWN, SMTP_CMD_UNKNOWN),
	BAD("MAIL:<a@b>", UNKNOWN, SMTP_CMD_UNKNOWN),
	BAD("GET / HTTP/1.1", UNKNOWN, SMTP_CMD_UNKNOWN),
	BAD("Q\xc3\x9cIT", UNKNOWN, SMTP_CMD_UNKNOWN),
	BAD("UNKNOWN", UNKNOWN, SMTP_CMD_UNKNOWN),

	/* control octets (more in test_parse_octets) */
	BAD("QUIT\r", BADCHAR, SMTP_CMD_UNKNOWN),
	BAD("QUIT\n", BADCHAR, SMTP_CMD_UNKNOWN),
	BAD("NOOP \x1b[0m", BADCHAR, SMTP_CMD_UNKNOWN),
	BAD("NOOP \x7f", BADCHAR, SMTP_CMD_UNKNOWN),
	BAD("MAIL FROM:<a\x01@b>", BADCHAR, SMTP_CMD_UNKNOWN),
	BAD("\x04", BADCHAR, SMTP_CMD_UNKNOWN),
};

static const char *
result_name(enum smtp_parse_result r)
{
	switch (r) {
	case SMTP_PARSE_OK:		return "OK";
	case SMTP_PARSE_UNKNOWN:	return "UNKNOWN";
	case SMTP_PARSE_SYNTAX:		return "SYNTAX";
	case SMTP_PARSE_TOOLONG:	return "TOOLONG";
	case SMTP_PARSE_BADCHAR:	return "BADCHAR";
	}
	return "?";
}

/* check_str - compare a slice with an expected C string ("" for NULL) */
static int
check_str(size_t n, const char *line, const char *field, struct str got,
    const char *want)
{
	if (want == NULL)
		want = "";
	if (str_eq(got, str_cstr(want)))
		return 0;
	print_error("case %zu \"%s\": %s got \"%.*s\", want \"%s\"\n", n,
	    line, field, STR_FMT(got), want);
	return 1;
}

/* check_case - run one case on a line of len octets; returns failures */
static int
check_case(size_t n, const struct parse_case *c, size_t len)
{
	struct smtp_cmd cmd;
	enum smtp_parse_result r;
	const char *why = NULL;
	int bad = 0;

	r = smtp_parse_command(str_make(c->line, len), &cmd, &why);
	if (r != c->want) {
		print_error("case %zu \"%s\": result got %s, want %s\n", n,
		    c->line, result_name(r), result_name(c->want));
		return 1;
	}
	if (cmd.verb != c->verb) {
		print_error("case %zu \"%s\": verb got %s, want %s\n", n,
		    c->line, smtp_parse_verb_name(cmd.verb),
		    smtp_parse_verb_name(c->verb));
		bad++;
	}
	if ((r == SMTP_PARSE_OK) != (why == NULL)) {
		print_error("case %zu \"%s\": why got %s, want %s\n", n,
		    c->line, why ? why : "NULL",
		    r == SMTP_PARSE_OK ? "NULL" : "a reason");
		bad++;
	}
	if (r != SMTP_PARSE_OK)
		return bad;
	bad += check_str(n, c->line, "arg", cmd.arg, c->arg);
	bad += check_str(n, c->line, "path", cmd.path, c->path);
	bad += check_str(n, c->line, "params", cmd.params, c->params);
	if (cmd.bdat_size != c->bdat_size) {
		print_error("case %zu \"%s\": bdat_size got %llu, want %llu\n",
		    n, c->line, (unsigned long long)cmd.bdat_size,
		    (unsigned long long)c->bdat_size);
		bad++;
	}
	if (cmd.bdat_last != c->bdat_last) {
		print_error("case %zu \"%s\": bdat_last got %d, want %d\n", n,
		    c->line, cmd.bdat_last, c->bdat_last);
		bad++;
	}
	return bad;
}

static void
test_parse_table(void **state)
{
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++)
		bad += check_case(i, &parse_cases[i],
		    strlen(parse_cases[i].line));
	assert_int_equal(bad, 0);
}

/* NUL octets cannot sit in the table's C strings: give lengths by hand */
static void
test_parse_nul(void **state)
{
	static const struct {
		const char	*line;
		size_t		 len;
	} cases[] = {
		{ "\0", 1 },
		{ "QUIT\0", 5 },
		{ "\0QUIT", 5 },
		{ "NOOP a\0b", 8 },
		{ "MAIL FROM:<a\0@b>", 16 },
		{ "HELO x\0", 7 },
	};
	struct parse_case c = { .want = BADCHAR, .verb = SMTP_CMD_UNKNOWN };
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c.line = cases[i].line;
		bad += check_case(i, &c, cases[i].len);
	}
	assert_int_equal(bad, 0);
}

/* every octet value inside an argument: only controls but TAB, and DEL fail */
static void
test_parse_octets(void **state)
{
	char line[16];
	struct parse_case c = { .line = line, .verb = SMTP_CMD_NOOP };
	char arg[4];
	int oct, bad = 0;

	(void)state;
	for (oct = 0; oct < 256; oct++) {
		memcpy(line, "NOOP a?b", 9);
		line[6] = (char)oct;
		memcpy(arg, "a?b", 4);
		arg[1] = (char)oct;
		if ((oct < 0x20 && oct != '\t') || oct == 0x7f) {
			c.want = BADCHAR;
			c.verb = SMTP_CMD_UNKNOWN;
		} else {
			c.want = OK;
			c.verb = SMTP_CMD_NOOP;
		}
		c.arg = arg;
		bad += check_case((size_t)oct, &c, 8);
	}
	assert_int_equal(bad, 0);
}

/* the limit is 512 octets with CRLF, so 510 without */
static void
test_parse_length(void **state)
{
	static char line[SMTP_CMD_LINE_MAX + 8];
	struct smtp_cmd cmd;
	enum smtp_parse_result r;
	size_t len, want_len;
	int bad = 0;

	(void)state;
	for (len = 505; len <= 513; len++) {
		/* NOOP xxxx...: the whole line is len octets */
		memset(line, 'x', sizeof(line));
		memcpy(line, "NOOP ", 5);
		r = smtp_parse_command(str_make(line, len), &cmd, NULL);
		want_len = SMTP_CMD_LINE_MAX - 2;
		if (r != (len <= want_len ? OK : TOOLONG)) {
			print_error("NOOP len %zu: result got %s, want %s\n",
			    len, result_name(r), result_name(len <= want_len ?
			    OK : TOOLONG));
			bad++;
		} else if (r == OK && cmd.arg.len != len - 5) {
			print_error("NOOP len %zu: arg len got %zu, want %zu\n",
			    len, cmd.arg.len, len - 5);
			bad++;
		}

		/* MAIL FROM:<xxx...@b>: the path runs to the end */
		memset(line, 'x', sizeof(line));
		memcpy(line, "MAIL FROM:<", 11);
		memcpy(line + len - 3, "@b>", 3);
		r = smtp_parse_command(str_make(line, len), &cmd, NULL);
		if (r != (len <= want_len ? OK : TOOLONG)) {
			print_error("MAIL len %zu: result got %s, want %s\n",
			    len, result_name(r), result_name(len <= want_len ?
			    OK : TOOLONG));
			bad++;
		} else if (r == OK && cmd.path.len != len - 10) {
			print_error("MAIL len %zu: path len got %zu, "
			    "want %zu\n", len, cmd.path.len, len - 10);
			bad++;
		}
	}
	/* too long wins over a bad octet: the length is checked first */
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP \r", 6);
	r = smtp_parse_command(str_make(line, 511), &cmd, NULL);
	if (r != TOOLONG) {
		print_error("long with CR: result got %s, want TOOLONG\n",
		    result_name(r));
		bad++;
	}
	r = smtp_parse_command(str_make(line, 510), &cmd, NULL);
	if (r != BADCHAR) {
		print_error("510 with CR: result got %s, want BADCHAR\n",
		    result_name(r));
		bad++;
	}
	assert_int_equal(bad, 0);
}

static void
test_parse_verb_name(void **state)
{
	struct smtp_cmd cmd;
	const char *name;
	char lower[16];
	int v, bad = 0;
	size_t i;

	(void)state;
	for (v = SMTP_CMD_HELO; v < SMTP_CMD__COUNT; v++) {
		name = smtp_parse_verb_name((enum smtp_verb)v);
		/* the name parses back to its verb, in either case */
		for (i = 0; name[i] != '\0' && i < sizeof(lower) - 1; i++)
			lower[i] = (char)(name[i] | 0x20);
		lower[i] = '\0';
		smtp_parse_command(str_cstr(lower), &cmd, NULL);
		if ((int)cmd.verb != v) {
			print_error("verb %d \"%s\": parsed back got %s, "
			    "want %s\n", v, lower,
			    smtp_parse_verb_name(cmd.verb), name);
			bad++;
		}
		if (!str_eq(cmd.verb_text, str_cstr(lower))) {
			print_error("verb %d: verb_text got \"%.*s\", "
			    "want \"%s\"\n", v, STR_FMT(cmd.verb_text), lower);
			bad++;
		}
	}
	if (strcmp(smtp_parse_verb_name(SMTP_CMD_UNKNOWN), "UNKNOWN") != 0 ||
	    strcmp(smtp_parse_verb_name(SMTP_CMD__COUNT), "UNKNOWN") != 0 ||
	    strcmp(smtp_parse_verb_name((enum smtp_verb)-1), "UNKNOWN") != 0) {
		print_error("out-of-range verb name: got \"%s\", "
		    "want \"UNKNOWN\"\n",
		    smtp_parse_verb_name(SMTP_CMD__COUNT));
		bad++;
	}
	assert_int_equal(bad, 0);
}

/* verb_text is the verb as written, even when the verb is unknown */
static void
test_parse_verb_text(void **state)
{
	static const struct {
		const char	*line;
		const char	*verb_text;
	} cases[] = {
		{ "mAiL FROM:<a@b>", "mAiL" },
		{ "FOO bar", "FOO" },
		{ "XYZZY", "XYZZY" },
		{ "QUIT\tnow", "QUIT" },
		{ "", "" },
	};
	struct smtp_cmd cmd;
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		smtp_parse_command(str_cstr(cases[i].line), &cmd, NULL);
		if (!str_eq(cmd.verb_text, str_cstr(cases[i].verb_text))) {
			print_error("case %zu \"%s\": verb_text got \"%.*s\", "
			    "want \"%s\"\n", i, cases[i].line,
			    STR_FMT(cmd.verb_text), cases[i].verb_text);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* the reasons are meant for the reply text after "Syntax error: " */
static void
test_parse_why(void **state)
{
	static const struct {
		const char	*line;
		const char	*why;
	} cases[] = {
		{ "MAIL FROM:a@b",
		    "expected MAIL FROM:<address> [parameters]" },
		{ "RCPT TO:", "expected RCPT TO:<address> [parameters]" },
		{ "EHLO", "EHLO requires a domain" },
		{ "DATA now", "DATA takes no argument" },
		{ "BDAT x", "expected BDAT size [LAST]" },
		{ "BDAT 1000000000000000000", "BDAT chunk size too large" },
		{ "AUTH", "expected AUTH mechanism [initial-response]" },
		{ "XYZZY", "Command unrecognized" },
		{ "QUIT\r", "Invalid character in command" },
	};
	struct smtp_cmd cmd;
	const char *why;
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		smtp_parse_command(str_cstr(cases[i].line), &cmd, &why);
		if (why == NULL || strcmp(why, cases[i].why) != 0) {
			print_error("case %zu \"%s\": why got \"%s\", "
			    "want \"%s\"\n", i, cases[i].line,
			    why ? why : "NULL", cases[i].why);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* the result slices point into the caller's line, nothing is copied */
static void
test_parse_slices(void **state)
{
	const char *line = "RCPT TO:<a@b> NOTIFY=NEVER";
	struct smtp_cmd cmd;

	(void)state;
	assert_int_equal(smtp_parse_command(str_cstr(line), &cmd, NULL), OK);
	assert_ptr_equal(cmd.verb_text.p, line);
	assert_ptr_equal(cmd.path.p, line + 8);
	assert_ptr_equal(cmd.params.p, line + 14);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test(test_parse_octets),
		cmocka_unit_test(test_parse_length),
		cmocka_unit_test(test_parse_verb_name),
		cmocka_unit_test(test_parse_verb_text),
		cmocka_unit_test(test_parse_why),
		cmocka_unit_test(test_parse_slices),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
