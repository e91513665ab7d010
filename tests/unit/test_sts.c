/* SPDX-License-Identifier: ISC */
/*
 * test_sts.c - the pure MTA-STS functions (RFC 8461): the _mta-sts TXT
 * record (3.1), the policy file (3.2) with the RFC's examples and
 * malformed bodies, MX matching (4.1) and RFC 8460 policy-string lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tlspol/sts.h"

/* --- TXT ------------------------------------------------------------------ */

struct txt_case {
	const char	*in;
	const char	*id;	/* NULL: invalid */
};

static const struct txt_case txt_cases[] = {
	/* RFC 8461 3.1's example */
	{ "v=STSv1; id=20160831085700Z;", "20160831085700Z" },
	{ "v=STSv1;id=abc", "abc" },
	{ "v=STSv1; id=abc", "abc" },
	{ "v=STSv1 ; id=abc ;", "abc" },
	{ "v=STSv1\t;\tid=abc;\t", "abc" },
	{ "v=STSv1; id=abc; ", "abc" },
	/* extensions are ignored, before or after the id */
	{ "v=STSv1; foo=bar; id=X1", "X1" },
	{ "v=STSv1; id=X1; ext_1.a-b=!\"#$%&'()*+,-./0123456789:<>?@~",
	  "X1" },
	/* 32 characters at most */
	{ "v=STSv1; id=0123456789abcdef0123456789ABCDEF;",
	  "0123456789abcdef0123456789ABCDEF" },
	{ "v=STSv1; id=0123456789abcdef0123456789ABCDEF0;", NULL },
	/* a second id: the first counts */
	{ "v=STSv1; id=first; id=second", "first" },
	/* v first, exactly (%s: case-sensitive) */
	{ "id=abc; v=STSv1", NULL },
	{ "v=stsv1; id=abc", NULL },
	{ "V=STSv1; id=abc", NULL },
	{ "v=STSv2; id=abc", NULL },
	{ "v=STSv10; id=abc", NULL },
	{ " v=STSv1; id=abc", NULL },
	/* id required, valid */
	{ "v=STSv1", NULL },
	{ "v=STSv1;", NULL },
	{ "v=STSv1; ", NULL },
	{ "v=STSv1; foo=bar", NULL },
	{ "v=STSv1; id=", NULL },
	{ "v=STSv1; id=a-b", NULL },
	{ "v=STSv1; id=a_b", NULL },
	{ "v=STSv1; ID=abc", NULL },
	{ "v=STSv1; id =abc", NULL },
	{ "v=STSv1; id= abc", NULL },
	/* separators */
	{ "v=STSv1 id=abc", NULL },
	{ "v=STSv1;; id=abc", NULL },
	{ "v=STSv1; id=abc;;", NULL },
	{ "v=STSv1; id=abc ", NULL },
	{ "v=STSv1; id=abc def", NULL },
	{ "v=STSv1, id=abc", NULL },
	{ "v=STSv1; id=abc\r\n", NULL },
	/* malformed extensions make the record invalid */
	{ "v=STSv1; id=abc; foo", NULL },
	{ "v=STSv1; id=abc; =bar", NULL },
	{ "v=STSv1; id=abc; foo=", NULL },
	{ "v=STSv1; id=abc; _foo=bar", NULL },
	{ "v=STSv1; id=abc; foo=a=b", NULL },
	{ "v=STSv1; id=abc; f!o=bar", NULL },
	{ "v=STSv1; id=abc; x23456789012345678901234567890123=1", NULL },
	{ "", NULL },
};

static void
test_txt(void **state)
{
	char id[STS_ID_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(txt_cases) / sizeof(txt_cases[0]); i++) {
		const struct txt_case *c = &txt_cases[i];
		int r;

		memset(id, 'Z', sizeof(id));
		r = sts_txt_parse(c->in, strlen(c->in), id);
		if ((c->id != NULL) != (r == 0))
			fail_msg("case %zu \"%s\": got %d", i, c->in, r);
		if (c->id != NULL)
			assert_string_equal(id, c->id);
	}
	/* a NUL inside is not a character of the record */
	assert_int_equal(sts_txt_parse("v=STSv1; id=a\0b", 15, id), -1);
	assert_int_equal(sts_txt_parse(NULL, 0, id), -1);
	/* the length counts, not a NUL */
	assert_int_equal(sts_txt_parse("v=STSv1; id=abcdef", 15, id), 0);
	assert_string_equal(id, "abc");
}

/* --- the policy file ------------------------------------------------------ */

static const char rfc_policy[] =
    "version: STSv1\r\n"
    "mode: enforce\r\n"
    "mx: mail.example.com\r\n"
    "mx: *.example.net\r\n"
    "mx: backupmx.example.com\r\n"
    "max_age: 604800\r\n";

static void
test_policy_rfc(void **state)
{
	struct sts_policy p;
	struct err err;

	(void)state;
	assert_int_equal(sts_policy_parse(rfc_policy, strlen(rfc_policy), &p,
	    &err), 0);
	assert_int_equal(p.mode, STS_MODE_ENFORCE);
	assert_int_equal(p.max_age, 604800);
	assert_int_equal(p.nmx, 3);
	assert_string_equal(p.mx[0], "mail.example.com");
	assert_string_equal(p.mx[1], "*.example.net");
	assert_string_equal(p.mx[2], "backupmx.example.com");
	assert_string_equal(p.id, "");
	assert_int_equal(p.fetched, 0);
	assert_int_equal(p.expires, 0);
}

struct pol_case {
	const char	*in;
	int		 want;		/* 0 or -1 */
	enum sts_mode	 mode;
	uint32_t	 max_age;
	size_t		 nmx;
	const char	*mx0;
	const char	*err;		/* substring of the error */
};

#define OK(in, mode, age, n, mx0) { in, 0, mode, age, n, mx0, NULL }
#define BAD(in, e) { in, -1, STS_MODE_NONE, 0, 0, NULL, e }
#define E	STS_MODE_ENFORCE
#define T	STS_MODE_TESTING
#define N	STS_MODE_NONE

static const struct pol_case pol_cases[] = {
	/* LF, CRLF, mixed, no final line end, fields in any order */
	OK("version: STSv1\nmode: testing\nmx: mx.a.example\nmax_age: 86400\n",
	    T, 86400, 1, "mx.a.example"),
	OK("version: STSv1\r\nmode: testing\nmx: mx.a.example\r\n"
	    "max_age: 86400", T, 86400, 1, "mx.a.example"),
	OK("mode: enforce\nmx: mx.a.example\nmax_age: 1\nversion: STSv1\n",
	    E, 1, 1, "mx.a.example"),
	/* *WSP after the colon and at the end of a line */
	OK("version:STSv1\nmode:\t enforce \nmx:mx.a.example\t\nmax_age: 0\n",
	    E, 0, 1, "mx.a.example"),
	/* mx lower-cased; a wildcard */
	OK("version: STSv1\nmode: enforce\nmx: MX.A.Example\nmax_age: 5\n",
	    E, 5, 1, "mx.a.example"),
	OK("version: STSv1\nmode: enforce\nmx: *.A.example\nmax_age: 5\n",
	    E, 5, 1, "*.a.example"),
	/* mode none needs no mx */
	OK("version: STSv1\nmode: none\nmax_age: 86400\n", N, 86400, 0, NULL),
	OK("version: STSv1\nmode: none\nmx: a.example\nmax_age: 86400\n",
	    N, 86400, 1, "a.example"),
	/* unknown keys ignored, whatever their value */
	OK("version: STSv1\nmode: enforce\nfoo: bar baz = ;\nmx: m.example\n"
	    "x-1.y_z: \xc3\xa9t\xc3\xa9\nmax_age: 10\n", E, 10, 1, "m.example"),
	/* keys are case-sensitive: Mode is an unknown key */
	OK("version: STSv1\nmode: testing\nMode: enforce\nmx: m.example\n"
	    "max_age: 10\n", T, 10, 1, "m.example"),
	/* duplicates: the first counts, the others ignored */
	OK("version: STSv1\nmode: testing\nmode: enforce\nmx: m.example\n"
	    "max_age: 10\nmax_age: 20\n", T, 10, 1, "m.example"),
	OK("version: STSv1\nmode: testing\nmode: bogus\nmx: m.example\n"
	    "max_age: 10\nmax_age: x\nversion: STSv2\n", T, 10, 1, "m.example"),
	/* empty lines skipped */
	OK("\nversion: STSv1\n\nmode: enforce\r\n\r\nmx: m.example\n"
	    "max_age: 10\n\n\n", E, 10, 1, "m.example"),
	/* the largest max_age; leading zeros */
	OK("version: STSv1\nmode: enforce\nmx: m.example\nmax_age: 31557600\n",
	    E, 31557600, 1, "m.example"),
	OK("version: STSv1\nmode: enforce\nmx: m.example\nmax_age: 0000000042\n",
	    E, 42, 1, "m.example"),
	/* one-label and digit-led names are Domains */
	OK("version: STSv1\nmode: enforce\nmx: localhost\nmax_age: 1\n",
	    E, 1, 1, "localhost"),
	OK("version: STSv1\nmode: enforce\nmx: 1mx.xn--bcher-kva.example\n"
	    "max_age: 1\n", E, 1, 1, "1mx.xn--bcher-kva.example"),

	/* missing fields */
	BAD("", "no version"),
	BAD("mode: enforce\nmx: m.example\nmax_age: 1\n", "no version"),
	BAD("version: STSv1\nmx: m.example\nmax_age: 1\n", "no mode"),
	BAD("version: STSv1\nmode: enforce\nmx: m.example\n", "no max_age"),
	BAD("version: STSv1\nmode: enforce\nmax_age: 1\n", "no mx"),
	BAD("version: STSv1\nmode: testing\nmax_age: 1\n", "no mx"),
	/* wrong values (case-sensitive literals) */
	BAD("version: STSv2\nmode: enforce\nmx: m.example\nmax_age: 1\n",
	    "version"),
	BAD("version: stsv1\nmode: enforce\nmx: m.example\nmax_age: 1\n",
	    "version"),
	BAD("version: STSv1\nmode: Enforce\nmx: m.example\nmax_age: 1\n",
	    "mode"),
	BAD("version: STSv1\nmode: reject\nmx: m.example\nmax_age: 1\n",
	    "mode"),
	BAD("version: STSv1\nmode: enforce\nmx: m.example\nmax_age: -1\n",
	    "max_age"),
	BAD("version: STSv1\nmode: enforce\nmx: m.example\nmax_age: 1d\n",
	    "max_age"),
	BAD("version: STSv1\nmode: enforce\nmx: m.example\nmax_age: 31557601\n",
	    "max_age above"),
	BAD("version: STSv1\nmode: enforce\nmx: m.example\n"
	    "max_age: 99999999999\n", "max_age"),
	BAD("version: STSv1\nmode: enforce\nmx: m.example\nmax_age:\n",
	    "no value"),
	/* mx: ["*."] Domain only */
	BAD("version: STSv1\nmode: enforce\nmx: m.example.\nmax_age: 1\n",
	    "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1\n", "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n",
	    "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: **.example\nmax_age: 1\n",
	    "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: *example\nmax_age: 1\n",
	    "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: -a.example\nmax_age: 1\n",
	    "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: a-.example\nmax_age: 1\n",
	    "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",
	    "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: a_b.example\nmax_age: 1\n",
	    "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: a b.example\nmax_age: 1\n",
	    "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: [192.0.2.1]\nmax_age: 1\n",
	    "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: \xc3\xa9.example\n"
	    "max_age: 1\n", "mx"),
	BAD("version: STSv1\nmode: enforce\nmx: "
	    "a234567890123456789012345678901234567890123456789012345678901234"
	    ".example\nmax_age: 1\n", "mx"),
	/* line syntax */
	BAD("version: STSv1\nmode: enforce\nmx: m.example\nmax_age: 1\n"
	    "garbage\n", "not \"key: value\""),
	BAD("version : STSv1\nmode: enforce\nmx: m.example\nmax_age: 1\n",
	    "not \"key: value\""),
	BAD(" version: STSv1\nmode: enforce\nmx: m.example\nmax_age: 1\n",
	    "not \"key: value\""),
	BAD("version: STSv1\n \nmode: enforce\nmx: m.example\nmax_age: 1\n",
	    "not \"key: value\""),
	BAD("version: STSv1\nmode: enforce\nmx: m.example\nmax_age: 1\n"
	    "_x: y\n", "not \"key: value\""),
	BAD("version: STSv1\nmode: enforce\nmx: m.example\nmax_age: 1\n"
	    "x: a\rb\n", "control"),
	BAD("version: STSv1\rmode: enforce\nmx: m.example\nmax_age: 1\n",
	    "control"),
	BAD("version: STSv1\r\r\nmode: enforce\nmx: m.example\nmax_age: 1\n",
	    "control"),
	/* an ignored field must still be well-formed */
	BAD("version: STSv1\nmode: enforce\nmx: m.example\nmax_age: 1\n"
	    "foo:\n", "no value"),
	/* HTML where the policy should be */
	BAD("<html><body>Not found</body></html>\n", "not \"key: value\""),
};

static void
test_policy_table(void **state)
{
	struct sts_policy p;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(pol_cases) / sizeof(pol_cases[0]); i++) {
		const struct pol_case *c = &pol_cases[i];
		int r;

		err.msg[0] = '\0';
		r = sts_policy_parse(c->in, strlen(c->in), &p, &err);
		if (r != c->want)
			fail_msg("case %zu: got %d (%s) for \"%s\"", i, r,
			    err.msg, c->in);
		if (r == -1) {
			if (strstr(err.msg, c->err) == NULL)
				fail_msg("case %zu: error \"%s\", want \"%s\"",
				    i, err.msg, c->err);
			continue;
		}
		assert_int_equal(p.mode, c->mode);
		assert_int_equal(p.max_age, c->max_age);
		assert_int_equal(p.nmx, c->nmx);
		if (c->mx0 != NULL)
			assert_string_equal(p.mx[0], c->mx0);
	}
}

static void
test_policy_limits(void **state)
{
	char body[8192];
	struct sts_policy p;
	struct err err;
	size_t n = 0;

	(void)state;
	/* past STS_MX_MAX patterns the others are dropped */
	n += (size_t)snprintf(body + n, sizeof(body) - n,
	    "version: STSv1\nmode: enforce\nmax_age: 60\n");
	for (int i = 0; i < STS_MX_MAX + 5; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n,
		    "mx: mx%d.example\n", i);
	assert_int_equal(sts_policy_parse(body, n, &p, &err), 0);
	assert_int_equal(p.nmx, STS_MX_MAX);
	assert_string_equal(p.mx[STS_MX_MAX - 1], "mx31.example");
	/* the longest name fits: "*." and 253 octets */
	n = (size_t)snprintf(body, sizeof(body),
	    "version: STSv1\nmode: enforce\nmax_age: 60\nmx: *.");
	for (int i = 0; i < 4; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s%.*s",
		    i ? "." : "", i < 3 ? 63 : 61,
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(sts_policy_parse(body, n, &p, &err), 0);
	assert_int_equal(strlen(p.mx[0]), 255);
	/* one more octet is too long */
	body[n++] = 'a';
	assert_int_equal(sts_policy_parse(body, n, &p, &err), -1);
	/* a NUL is a control character */
	{
		static const char nul[] = "version: STSv1\nmode: none\n"
		    "max_age: 1\nx: a\0b\n";

		assert_int_equal(sts_policy_parse(nul, sizeof(nul) - 1, &p,
		    &err), -1);
	}
	/* the length counts: the rest is not read */
	assert_int_equal(sts_policy_parse("version: STSv1\nmode: none\n"
	    "max_age: 1\ngarbage", 37, &p, &err), 0);
	assert_int_equal(sts_policy_parse(NULL, 0, &p, &err), -1);
}

/* --- MX matching ---------------------------------------------------------- */

static void
test_mx_match(void **state)
{
	struct sts_policy p;

	(void)state;
	memset(&p, 0, sizeof(p));
	snprintf(p.mx[p.nmx++], sizeof(p.mx[0]), "mail.example.com");
	snprintf(p.mx[p.nmx++], sizeof(p.mx[0]), "*.example.net");
	/* exact names, any case, an optional root dot */
	assert_true(sts_mx_match(&p, "mail.example.com"));
	assert_true(sts_mx_match(&p, "MAIL.Example.COM"));
	assert_true(sts_mx_match(&p, "mail.example.com."));
	assert_false(sts_mx_match(&p, "mail.example.co"));
	assert_false(sts_mx_match(&p, "ail.example.com"));
	assert_false(sts_mx_match(&p, "xmail.example.com"));
	assert_false(sts_mx_match(&p, "a.mail.example.com"));
	/* RFC 8461 4.1: "*." is exactly one label */
	assert_true(sts_mx_match(&p, "mx1.example.net"));
	assert_true(sts_mx_match(&p, "MX1.EXAMPLE.NET."));
	assert_false(sts_mx_match(&p, "example.net"));
	assert_false(sts_mx_match(&p, ".example.net"));
	assert_false(sts_mx_match(&p, "a.b.example.net"));
	assert_false(sts_mx_match(&p, "aexample.net"));
	assert_false(sts_mx_match(&p, "mx1.example.net.org"));
	assert_false(sts_mx_match(&p, ""));
	assert_false(sts_mx_match(&p, "."));
	assert_false(sts_mx_match(&p, NULL));
	/* a policy without patterns matches nothing */
	p.nmx = 0;
	assert_false(sts_mx_match(&p, "mail.example.com"));
}

/* --- policy-string lines -------------------------------------------------- */

static void
test_lines(void **state)
{
	struct sts_policy p;
	struct err err;
	char lines[8][300];
	size_t n;

	(void)state;
	assert_int_equal(sts_policy_parse(rfc_policy, strlen(rfc_policy), &p,
	    &err), 0);
	n = sts_policy_lines(&p, lines, 8);
	assert_int_equal(n, 6);
	assert_string_equal(lines[0], "version: STSv1");
	assert_string_equal(lines[1], "mode: enforce");
	assert_string_equal(lines[2], "mx: mail.example.com");
	assert_string_equal(lines[3], "mx: *.example.net");
	assert_string_equal(lines[4], "mx: backupmx.example.com");
	assert_string_equal(lines[5], "max_age: 604800");
	/* cut to max */
	assert_int_equal(sts_policy_lines(&p, lines, 3), 3);
	assert_string_equal(lines[2], "mx: mail.example.com");
	assert_int_equal(sts_policy_lines(&p, lines, 0), 0);
	/* the lines, joined, parse back to the same policy */
	{
		char body[2048];
		struct sts_policy q;
		size_t len = 0;

		n = sts_policy_lines(&p, lines, 8);
		for (size_t i = 0; i < n; i++)
			len += (size_t)snprintf(body + len, sizeof(body) - len,
			    "%s\n", lines[i]);
		assert_int_equal(sts_policy_parse(body, len, &q, &err), 0);
		assert_memory_equal(&p, &q, sizeof(p));
	}
	p.mode = STS_MODE_TESTING;
	p.nmx = 0;
	p.max_age = 0;
	n = sts_policy_lines(&p, lines, 8);
	assert_int_equal(n, 3);
	assert_string_equal(lines[1], "mode: testing");
	assert_string_equal(lines[2], "max_age: 0");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_policy_rfc),
		cmocka_unit_test(test_policy_table),
		cmocka_unit_test(test_policy_limits),
		cmocka_unit_test(test_mx_match),
		cmocka_unit_test(test_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
