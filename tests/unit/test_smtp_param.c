/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_param.c - table-driven tests of the MAIL and RCPT parameter
 * parsers and of smtp_param_xtext_valid(): every keyword, its values at
 * and past each limit, repeats, unknown keywords and malformed lists.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_param.h"

#define OK	SMTP_PARAM_OK
#define SYNTAX	SMTP_PARAM_SYNTAX
#define UNKNOWN	SMTP_PARAM_UNKNOWN

struct mail_case {
	const char		*in;
	enum smtp_param_result	 want;
	bool			 has_size;
	uint64_t		 size;
	enum smtp_body		 body;
	bool			 smtputf8;
	enum smtp_ret		 ret;
	const char		*envid;		/* NULL means "" */
	const char		*auth;
	bool			 requiretls;
};

struct rcpt_case {
	const char		*in;
	enum smtp_param_result	 want;
	unsigned		 notify;
	const char		*orcpt;		/* NULL means "" */
};

#define M(i, w, ...)	{ .in = (i), .want = (w), __VA_ARGS__ }
#define R(i, w, ...)	{ .in = (i), .want = (w), __VA_ARGS__ }
#define SZ(n)		.has_size = true, .size = (n)

static const struct mail_case mail_cases[] = {
	/* nothing at all */
	M("", OK, .body = SMTP_BODY_UNSPEC),
	M("   ", OK, .body = SMTP_BODY_UNSPEC),

	/* SIZE (RFC 1870): up to 20 digits, must fit in 64 bits */
	M("SIZE=0", OK, SZ(0)),
	M("SIZE=1000", OK, SZ(1000)),
	M("size=1000", OK, SZ(1000)),
	M("SiZe=42", OK, SZ(42)),
	M("SIZE=18446744073709551615", OK, SZ(UINT64_MAX)),
	M("SIZE=00000000000000000001", OK, SZ(1)),
	M("SIZE=18446744073709551616", SYNTAX, SZ(0)),
	M("SIZE=99999999999999999999", SYNTAX, SZ(0)),
	M("SIZE=000000000000000000001", SYNTAX, SZ(0)),
	M("SIZE=100000000000000000000", SYNTAX, SZ(0)),
	M("SIZE=", SYNTAX, SZ(0)),
	M("SIZE", SYNTAX, SZ(0)),
	M("SIZE= 1", SYNTAX, SZ(0)),
	M("SIZE=-1", SYNTAX, SZ(0)),
	M("SIZE=+1", SYNTAX, SZ(0)),
	M("SIZE=1k", SYNTAX, SZ(0)),
	M("SIZE=0x10", SYNTAX, SZ(0)),
	M("SIZE=1.5", SYNTAX, SZ(0)),
	M("SIZE==1", SYNTAX, SZ(0)),

	/* BODY (RFC 6152); BINARYMIME is known but unsupported */
	M("BODY=7BIT", OK, .body = SMTP_BODY_7BIT),
	M("BODY=8BITMIME", OK, .body = SMTP_BODY_8BITMIME),
	M("body=8bitmime", OK, .body = SMTP_BODY_8BITMIME),
	M("BODY=BINARYMIME", UNKNOWN, .body = SMTP_BODY_UNSPEC),
	M("BODY=binarymime", UNKNOWN, .body = SMTP_BODY_UNSPEC),
	M("BODY=8BIT", SYNTAX, .body = SMTP_BODY_UNSPEC),
	M("BODY=7BITS", SYNTAX, .body = SMTP_BODY_UNSPEC),
	M("BODY=", SYNTAX, .body = SMTP_BODY_UNSPEC),
	M("BODY", SYNTAX, .body = SMTP_BODY_UNSPEC),

	/* SMTPUTF8 (RFC 6531): no value */
	M("SMTPUTF8", OK, .smtputf8 = true),
	M("smtputf8", OK, .smtputf8 = true),
	M("SMTPUTF8=", SYNTAX, .smtputf8 = false),
	M("SMTPUTF8=yes", SYNTAX, .smtputf8 = false),

	/* REQUIRETLS (RFC 8689 2): no value, once */
	M("REQUIRETLS", OK, .requiretls = true),
	M("requiretls", OK, .requiretls = true),
	M("RequireTLS SMTPUTF8", OK, .requiretls = true, .smtputf8 = true),
	M("SIZE=10 BODY=8BITMIME REQUIRETLS RET=HDRS", OK, SZ(10),
	    .body = SMTP_BODY_8BITMIME, .requiretls = true,
	    .ret = SMTP_RET_HDRS),
	M("  REQUIRETLS  ", OK, .requiretls = true),
	M("REQUIRETLS=", SYNTAX),
	M("REQUIRETLS=YES", SYNTAX),
	M("REQUIRETLS REQUIRETLS", SYNTAX),
	M("REQUIRETLS requiretls", SYNTAX),
	M("REQUIRE-TLS", UNKNOWN),
	M("REQUIRETLSX", UNKNOWN),
	M("TLS-REQUIRED", UNKNOWN),

	/* RET (RFC 3461 4.3) */
	M("RET=FULL", OK, .ret = SMTP_RET_FULL),
	M("RET=HDRS", OK, .ret = SMTP_RET_HDRS),
	M("ret=hdrs", OK, .ret = SMTP_RET_HDRS),
	M("RET=NONE", SYNTAX, .ret = SMTP_RET_UNSPEC),
	M("RET=", SYNTAX, .ret = SMTP_RET_UNSPEC),
	M("RET", SYNTAX, .ret = SMTP_RET_UNSPEC),

	/* ENVID (RFC 3461 4.4): xtext (length limit in test_param_limits) */
	M("ENVID=QQ314159", OK, .envid = "QQ314159"),
	M("envid=abc+2Bdef+3D", OK, .envid = "abc+2Bdef+3D"),
	M("ENVID=<id@host>", OK, .envid = "<id@host>"),
	M("ENVID=a+2b", SYNTAX, .envid = NULL),
	M("ENVID=a+2", SYNTAX, .envid = NULL),
	M("ENVID=a+", SYNTAX, .envid = NULL),
	M("ENVID=a+GG", SYNTAX, .envid = NULL),
	M("ENVID=a=b", SYNTAX, .envid = NULL),
	M("ENVID=", SYNTAX, .envid = NULL),
	M("ENVID", SYNTAX, .envid = NULL),
	M("ENVID=j\xc3\xb6rg", SYNTAX, .envid = NULL),

	/* AUTH (RFC 4954 5): xtext or <> */
	M("AUTH=<>", OK, .auth = "<>"),
	M("AUTH=user+40example.com", OK, .auth = "user+40example.com"),
	M("auth=e+3Dmc2@example.com", OK, .auth = "e+3Dmc2@example.com"),
	M("AUTH=a=b", SYNTAX, .auth = NULL),
	M("AUTH=a+zz", SYNTAX, .auth = NULL),
	M("AUTH=", SYNTAX, .auth = NULL),
	M("AUTH", SYNTAX, .auth = NULL),

	/* lists */
	M("SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x AUTH=<>", OK,
	    SZ(1000), .body = SMTP_BODY_8BITMIME, .smtputf8 = true,
	    .ret = SMTP_RET_HDRS, .envid = "x", .auth = "<>"),
	M("  SIZE=1   BODY=7BIT  ", OK, SZ(1), .body = SMTP_BODY_7BIT),
	M("SMTPUTF8 SIZE=5", OK, SZ(5), .smtputf8 = true),
	M("SIZE=1\tBODY=7BIT", SYNTAX, SZ(0)),
	M("SIZE=1,BODY=7BIT", SYNTAX, SZ(0)),

	/* repeats */
	M("SIZE=1 SIZE=2", SYNTAX, SZ(0)),
	M("SIZE=1 size=1", SYNTAX, SZ(0)),
	M("SMTPUTF8 smtputf8", SYNTAX, SZ(0)),
	M("BODY=7BIT BODY=8BITMIME", SYNTAX, SZ(0)),
	M("RET=FULL RET=FULL", SYNTAX, SZ(0)),
	M("ENVID=a ENVID=b", SYNTAX, SZ(0)),
	M("AUTH=<> AUTH=<>", SYNTAX, SZ(0)),

	/* unknown keywords, including RCPT's */
	M("FOO=bar", UNKNOWN, SZ(0)),
	M("XYZ", UNKNOWN, SZ(0)),
	M("X-FOO=1", UNKNOWN, SZ(0)),
	M("NOTIFY=NEVER", UNKNOWN, SZ(0)),
	M("ORCPT=rfc822;a@b", UNKNOWN, SZ(0)),
	M("SIZE=1 FOO", UNKNOWN, SZ(0)),
	M("FOO FOO", UNKNOWN, SZ(0)),
	M("SIZES=1", UNKNOWN, SZ(0)),

	/* malformed keywords */
	M("=1", SYNTAX, SZ(0)),
	M("=", SYNTAX, SZ(0)),
	M("-X=1", SYNTAX, SZ(0)),
	M("S_ZE=1", SYNTAX, SZ(0)),
	M("SIZE\t=1", SYNTAX, SZ(0)),
	M("S\xc3\xb6=1", SYNTAX, SZ(0)),
	M("<a@b>", SYNTAX, SZ(0)),
};

static const struct rcpt_case rcpt_cases[] = {
	R("", OK, .notify = 0),
	R("  ", OK, .notify = 0),

	/* NOTIFY (RFC 3461 4.1) */
	R("NOTIFY=NEVER", OK, .notify = SMTP_NOTIFY_NEVER),
	R("notify=never", OK, .notify = SMTP_NOTIFY_NEVER),
	R("NOTIFY=SUCCESS", OK, .notify = SMTP_NOTIFY_SUCCESS),
	R("NOTIFY=FAILURE", OK, .notify = SMTP_NOTIFY_FAILURE),
	R("NOTIFY=DELAY", OK, .notify = SMTP_NOTIFY_DELAY),
	R("NOTIFY=SUCCESS,FAILURE", OK,
	    .notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE),
	R("NOTIFY=delay,Success,FAILURE", OK, .notify = SMTP_NOTIFY_SUCCESS |
	    SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY),
	R("NOTIFY=SUCCESS,SUCCESS", OK, .notify = SMTP_NOTIFY_SUCCESS),
	R("NOTIFY=NEVER,NEVER", OK, .notify = SMTP_NOTIFY_NEVER),
	R("NOTIFY=NEVER,SUCCESS", SYNTAX, .notify = 0),
	R("NOTIFY=FAILURE,NEVER", SYNTAX, .notify = 0),
	R("NOTIFY=", SYNTAX, .notify = 0),
	R("NOTIFY", SYNTAX, .notify = 0),
	R("NOTIFY=SUCCESS,", SYNTAX, .notify = 0),
	R("NOTIFY=,SUCCESS", SYNTAX, .notify = 0),
	R("NOTIFY=SUCCESS,,DELAY", SYNTAX, .notify = 0),
	R("NOTIFY=,", SYNTAX, .notify = 0),
	R("NOTIFY=ALWAYS", SYNTAX, .notify = 0),
	R("NOTIFY=SUCCESS;FAILURE", SYNTAX, .notify = 0),
	R("NOTIFY=SUCCESS FAILURE", UNKNOWN, .notify = 0),

	/* ORCPT (RFC 3461 4.2, RFC 6533 utf-8 type) */
	R("ORCPT=rfc822;user@example.org", OK,
	    .orcpt = "rfc822;user@example.org"),
	R("orcpt=RFC822;user+40example.org", OK,
	    .orcpt = "RFC822;user+40example.org"),
	R("ORCPT=rfc822;a+2Bb@x", OK, .orcpt = "rfc822;a+2Bb@x"),
	R("ORCPT=rfc822;a;b", OK, .orcpt = "rfc822;a;b"),
	R("ORCPT=x-type;abc", OK, .orcpt = "x-type;abc"),
	R("ORCPT=utf-8;j\xc3\xb6rg@example.org", OK,
	    .orcpt = "utf-8;j\xc3\xb6rg@example.org"),
	R("ORCPT=UTF-8;a\\x{E9}@x", OK, .orcpt = "UTF-8;a\\x{E9}@x"),
	R("ORCPT=utf-8;\\x{1F4E7}@x", OK, .orcpt = "utf-8;\\x{1F4E7}@x"),
	R("ORCPT=utf-8;a\\x{Z}@x", SYNTAX, .orcpt = NULL),
	R("ORCPT=utf-8;a\\x{E}@x", SYNTAX, .orcpt = NULL),
	R("ORCPT=utf-8;a\\x{1234567}@x", SYNTAX, .orcpt = NULL),
	R("ORCPT=utf-8;a\\x{E9@x", SYNTAX, .orcpt = NULL),
	R("ORCPT=utf-8;a\\x", SYNTAX, .orcpt = NULL),
	R("ORCPT=utf-8;a\\b", SYNTAX, .orcpt = NULL),
	R("ORCPT=utf-8;a+2B@x", SYNTAX, .orcpt = NULL),
	R("ORCPT=utf-8;\xc0\x80@x", SYNTAX, .orcpt = NULL),
	R("ORCPT=utf-8;\xed\xa0\x80@x", SYNTAX, .orcpt = NULL),
	R("ORCPT=utf-8;\xc3", SYNTAX, .orcpt = NULL),
	R("ORCPT=rfc822;j\xc3\xb6rg@x", SYNTAX, .orcpt = NULL),
	R("ORCPT=rfc822", SYNTAX, .orcpt = NULL),
	R("ORCPT=;a@b", SYNTAX, .orcpt = NULL),
	R("ORCPT=rfc822;", SYNTAX, .orcpt = NULL),
	R("ORCPT=r(f)c;abc", SYNTAX, .orcpt = NULL),
	R("ORCPT=rfc822;a+zz", SYNTAX, .orcpt = NULL),
	R("ORCPT=rfc822;a+2b", SYNTAX, .orcpt = NULL),
	R("ORCPT=rfc 822;a", SYNTAX, .orcpt = NULL),
	R("ORCPT=", SYNTAX, .orcpt = NULL),
	R("ORCPT", SYNTAX, .orcpt = NULL),

	/* lists, repeats, unknown keywords */
	R("NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a@b", OK,
	    .notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY,
	    .orcpt = "rfc822;a@b"),
	R("ORCPT=rfc822;a@b  NOTIFY=NEVER", OK, .notify = SMTP_NOTIFY_NEVER,
	    .orcpt = "rfc822;a@b"),
	R("NOTIFY=NEVER NOTIFY=NEVER", SYNTAX, .notify = 0),
	R("ORCPT=a;b orcpt=a;b", SYNTAX, .notify = 0),
	R("SIZE=1", UNKNOWN, .notify = 0),
	R("SMTPUTF8", UNKNOWN, .notify = 0),
	R("FOO", UNKNOWN, .notify = 0),
	R("NOTIFY=NEVER FOO=1", UNKNOWN, .notify = 0),
	R("=NEVER", SYNTAX, .notify = 0),
};

static const char *
result_name(enum smtp_param_result r)
{
	switch (r) {
	case SMTP_PARAM_OK:	return "OK";
	case SMTP_PARAM_SYNTAX:	return "SYNTAX";
	case SMTP_PARAM_UNKNOWN: return "UNKNOWN";
	}
	return "?";
}

static int
check_str(size_t n, const char *in, const char *field, struct str got,
    const char *want)
{
	if (want == NULL)
		want = "";
	if (str_eq(got, str_cstr(want)))
		return 0;
	print_error("case %zu \"%s\": %s got \"%.*s\", want \"%s\"\n", n, in,
	    field, STR_FMT(got), want);
	return 1;
}

static int
check_u64(size_t n, const char *in, const char *field, uint64_t got,
    uint64_t want)
{
	if (got == want)
		return 0;
	print_error("case %zu \"%s\": %s got %llu, want %llu\n", n, in, field,
	    (unsigned long long)got, (unsigned long long)want);
	return 1;
}

/* check_result - result and why_out agree with the expected result */
static int
check_result(size_t n, const char *in, enum smtp_param_result got,
    enum smtp_param_result want, const char *why)
{
	if (got != want) {
		print_error("case %zu \"%s\": result got %s (%s), want %s\n",
		    n, in, result_name(got), why ? why : "", result_name(want));
		return 1;
	}
	if ((got == SMTP_PARAM_OK) != (why == NULL)) {
		print_error("case %zu \"%s\": why got %s, want %s\n", n, in,
		    why ? why : "NULL", got == SMTP_PARAM_OK ? "NULL" :
		    "a reason");
		return 1;
	}
	return 0;
}

static int
check_mail(size_t n, const struct mail_case *c, size_t len)
{
	struct smtp_mail_params p;
	const char *why = NULL;
	enum smtp_param_result r;
	int bad;

	r = smtp_param_parse_mail(str_make(c->in, len), &p, &why);
	if ((bad = check_result(n, c->in, r, c->want, why)) != 0 ||
	    r != SMTP_PARAM_OK)
		return bad;
	bad += check_u64(n, c->in, "has_size", p.has_size, c->has_size);
	bad += check_u64(n, c->in, "size", p.size, c->size);
	bad += check_u64(n, c->in, "body", p.body, c->body);
	bad += check_u64(n, c->in, "smtputf8", p.smtputf8, c->smtputf8);
	bad += check_u64(n, c->in, "ret", p.ret, c->ret);
	bad += check_str(n, c->in, "envid", p.envid, c->envid);
	bad += check_str(n, c->in, "auth", p.auth, c->auth);
	bad += check_u64(n, c->in, "requiretls", p.requiretls,
	    c->requiretls);
	return bad;
}

static int
check_rcpt(size_t n, const struct rcpt_case *c, size_t len)
{
	struct smtp_rcpt_params p;
	const char *why = NULL;
	enum smtp_param_result r;
	int bad;

	r = smtp_param_parse_rcpt(str_make(c->in, len), &p, &why);
	if ((bad = check_result(n, c->in, r, c->want, why)) != 0 ||
	    r != SMTP_PARAM_OK)
		return bad;
	bad += check_u64(n, c->in, "notify", p.notify, c->notify);
	bad += check_str(n, c->in, "orcpt", p.orcpt, c->orcpt);
	return bad;
}

static void
test_param_mail(void **state)
{
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++)
		bad += check_mail(i, &mail_cases[i], strlen(mail_cases[i].in));
	assert_int_equal(bad, 0);
}

static void
test_param_rcpt(void **state)
{
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++)
		bad += check_rcpt(i, &rcpt_cases[i], strlen(rcpt_cases[i].in));
	assert_int_equal(bad, 0);
}

static void
test_param_xtext(void **state)
{
	static const struct {
		const char	*in;
		size_t		 len;		/* 0: strlen */
		bool		 want;
	} cases[] = {
		{ "", 0, true },
		{ "abc", 0, true },
		{ "<>", 0, true },
		{ "!\"#$%&'()*,-./0123456789:;<>?@[\\]^_`{|}~", 0, true },
		{ "+2B", 0, true },
		{ "a+3Db+20", 0, true },
		{ "+00+FF", 0, true },
		{ "+2b", 0, false },
		{ "+", 0, false },
		{ "+2", 0, false },
		{ "a+G0", 0, false },
		{ "a+0G", 0, false },
		{ "+ 2B", 0, false },
		{ "a b", 0, false },
		{ "a=b", 0, false },
		{ "=", 0, false },
		{ "a\tb", 0, false },
		{ "\x7f", 0, false },
		{ "\x80", 0, false },
		{ "\xc3\xb6", 0, false },
		{ "a\0b", 3, false },
		{ "+2\0", 3, false },
	};
	size_t i, len;
	bool got;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		got = smtp_param_xtext_valid(str_make(cases[i].in, len));
		if (got != cases[i].want) {
			print_error("case %zu \"%s\": got %d, want %d\n", i,
			    cases[i].in, got, cases[i].want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* ENVID at 100 and 101 characters, ORCPT at 500 and 501 */
static void
test_param_limits(void **state)
{
	static char in[1024];
	struct mail_case mc = { .in = in };
	struct rcpt_case rc = { .in = in };
	char want[1024];
	size_t n;
	int bad = 0;

	(void)state;
	for (n = 99; n <= 102; n++) {
		memset(in, 'e', sizeof(in));
		memcpy(in, "ENVID=", 6);
		in[6 + n] = '\0';
		mc.want = n <= 100 ? OK : SYNTAX;
		mc.envid = in + 6;
		bad += check_mail(n, &mc, strlen(in));
	}
	/* an encoded octet counts three characters */
	memset(in, 'e', sizeof(in));
	memcpy(in, "ENVID=", 6);
	memcpy(in + 6 + 97, "+2B", 4);
	mc.want = OK;
	mc.envid = in + 6;
	bad += check_mail(200, &mc, strlen(in));
	memset(in, 'e', sizeof(in));
	memcpy(in, "ENVID=", 6);
	memcpy(in + 6 + 98, "+2B", 4);
	mc.want = SYNTAX;
	bad += check_mail(201, &mc, strlen(in));

	for (n = 499; n <= 502; n++) {
		memset(in, 'o', sizeof(in));
		memcpy(in, "ORCPT=rfc822;", 13);
		in[6 + n] = '\0';
		rc.want = n <= 500 ? OK : SYNTAX;
		memcpy(want, in + 6, n + 1);
		rc.orcpt = want;
		bad += check_rcpt(n, &rc, strlen(in));
	}
	assert_int_equal(bad, 0);
}

/* results point into the input; a NULL why_out is accepted */
static void
test_param_slices(void **state)
{
	const char *in = "ENVID=abc AUTH=<>";
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;

	(void)state;
	assert_int_equal(smtp_param_parse_mail(str_cstr(in), &mp, NULL), OK);
	assert_ptr_equal(mp.envid.p, in + 6);
	assert_ptr_equal(mp.auth.p, in + 15);
	assert_int_equal(smtp_param_parse_mail(STR("SIZE=x"), &mp, NULL),
	    SYNTAX);
	assert_int_equal(smtp_param_parse_rcpt(STR("X"), &rp, NULL), UNKNOWN);
}

/* the DSN parameters relais sends, and their parse back */
static void
test_param_dsn_fmt(void **state)
{
	char out[600], x[16];
	size_t o;
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;

	(void)state;
	out[0] = '\0';
	o = smtp_param_dsn_mail(out, sizeof(out), 0, SMTP_RET_HDRS,
	    "QQ314159");
	assert_string_equal(out, " RET=HDRS ENVID=QQ314159");
	assert_int_equal(o, strlen(out));
	assert_int_equal(smtp_param_parse_mail(str_cstr(out + 1), &mp, NULL),
	    SMTP_PARAM_OK);
	assert_int_equal(mp.ret, SMTP_RET_HDRS);
	out[0] = '\0';
	assert_int_equal(smtp_param_dsn_mail(out, sizeof(out), 0,
	    SMTP_RET_UNSPEC, NULL), 0);
	assert_string_equal(out, "");

	out[0] = '\0';
	o = smtp_param_dsn_rcpt(out, sizeof(out), 0, SMTP_NOTIFY_SUCCESS |
	    SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY, NULL, "B+b=c d@x.test");
	assert_string_equal(out, " NOTIFY=SUCCESS,FAILURE,DELAY"
	    " ORCPT=rfc822;B+2Bb+3Dc+20d@x.test");
	assert_int_equal(o, strlen(out));
	assert_int_equal(smtp_param_parse_rcpt(str_cstr(out + 1), &rp, NULL),
	    SMTP_PARAM_OK);
	assert_int_equal(rp.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |
	    SMTP_NOTIFY_DELAY);
	out[0] = '\0';
	smtp_param_dsn_rcpt(out, sizeof(out), 0, SMTP_NOTIFY_NEVER,
	    "utf-8;a@b", "ignored@x");
	assert_string_equal(out, " NOTIFY=NEVER ORCPT=utf-8;a@b");
	out[0] = '\0';
	smtp_param_dsn_rcpt(out, sizeof(out), 0, SMTP_NOTIFY_DELAY, NULL, "");
	assert_string_equal(out, " NOTIFY=DELAY");
	/* no room for ORCPT: left out, never cut */
	out[0] = '\0';
	o = smtp_param_dsn_rcpt(out, 100, 0, 0, NULL, "a@b");
	assert_int_equal(o, 0);
	/* xtext cut to fit, never a half escape */
	smtp_param_xtext("++++++", x, sizeof(x));
	assert_string_equal(x, "+2B+2B+2B+2B");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_param_mail),
		cmocka_unit_test(test_param_rcpt),
		cmocka_unit_test(test_param_xtext),
		cmocka_unit_test(test_param_limits),
		cmocka_unit_test(test_param_slices),
		cmocka_unit_test(test_param_dsn_fmt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
