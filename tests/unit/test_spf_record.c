/* SPDX-License-Identifier: ISC */
/*
 * test_spf_record.c - table-driven tests of the pure SPF layers:
 * spf_record_parse() (every mechanism, qualifiers, CIDR lengths and their
 * limits, modifiers, and malformed records of every kind), the domain-spec
 * rule, spf_macro_expand() against the examples of RFC 7208 7.4, and
 * spf_macro_domain() (trailing dot, 253-octet truncation, bad labels).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "core/buf.h"
#include "msgauth/spf.h"

struct rec_case {
	const char	*in;
	int		 want;		/* 0 or -1 */
	size_t		 nterms;
	/* the first term, when there is one */
	enum spf_mech	 mech;
	enum spf_result	 qual;
	const char	*domain;
	unsigned	 cidr4, cidr6;
	const char	*redirect, *exp;
};

#define OK(i, n, m, q, d, c4, c6) \
	{ .in = (i), .nterms = (n), .mech = (m), .qual = (q), .domain = (d), \
	  .cidr4 = (c4), .cidr6 = (c6) }
#define OKMOD(i, n, r, e) \
	{ .in = (i), .nterms = (n), .redirect = (r), .exp = (e), \
	  .cidr4 = 32, .cidr6 = 128 }
#define BAD(i)	{ .in = (i), .want = -1 }

static const struct rec_case rec_cases[] = {
	/* version */
	OKMOD("v=spf1", 0, NULL, NULL),
	OKMOD("V=SpF1", 0, NULL, NULL),
	OKMOD("v=spf1 ", 0, NULL, NULL),
	OKMOD("v=spf1    ", 0, NULL, NULL),
	BAD("v=spf10"),
	BAD("v=spf1mx"),
	BAD("spf1 -all"),
	BAD(""),
	/* every mechanism and qualifier */
	OK("v=spf1 all", 1, SPF_MECH_ALL, SPF_PASS, "", 32, 128),
	OK("v=spf1 +all", 1, SPF_MECH_ALL, SPF_PASS, "", 32, 128),
	OK("v=spf1 -all", 1, SPF_MECH_ALL, SPF_FAIL, "", 32, 128),
	OK("v=spf1 ~all", 1, SPF_MECH_ALL, SPF_SOFTFAIL, "", 32, 128),
	OK("v=spf1 ?all", 1, SPF_MECH_ALL, SPF_NEUTRAL, "", 32, 128),
	OK("v=spf1 ALL", 1, SPF_MECH_ALL, SPF_PASS, "", 32, 128),
	OK("v=spf1 include:_spf.example.com", 1, SPF_MECH_INCLUDE, SPF_PASS,
	    "_spf.example.com", 32, 128),
	OK("v=spf1 a", 1, SPF_MECH_A, SPF_PASS, "", 32, 128),
	OK("v=spf1 a/24", 1, SPF_MECH_A, SPF_PASS, "", 24, 128),
	OK("v=spf1 a//64", 1, SPF_MECH_A, SPF_PASS, "", 32, 64),
	OK("v=spf1 a/24//64", 1, SPF_MECH_A, SPF_PASS, "", 24, 64),
	OK("v=spf1 a/0//0", 1, SPF_MECH_A, SPF_PASS, "", 0, 0),
	OK("v=spf1 a:mail.example.com/32//128", 1, SPF_MECH_A, SPF_PASS,
	    "mail.example.com", 32, 128),
	OK("v=spf1 -a:foo:bar/baz.example.com", 1, SPF_MECH_A, SPF_FAIL,
	    "foo:bar/baz.example.com", 32, 128),
	OK("v=spf1 mx", 1, SPF_MECH_MX, SPF_PASS, "", 32, 128),
	OK("v=spf1 mx:example.org/30", 1, SPF_MECH_MX, SPF_PASS, "example.org",
	    30, 128),
	OK("v=spf1 ~mx//48", 1, SPF_MECH_MX, SPF_SOFTFAIL, "", 32, 48),
	OK("v=spf1 ptr", 1, SPF_MECH_PTR, SPF_PASS, "", 32, 128),
	OK("v=spf1 ?ptr:example.com", 1, SPF_MECH_PTR, SPF_NEUTRAL,
	    "example.com", 32, 128),
	OK("v=spf1 ip4:192.0.2.0/24", 1, SPF_MECH_IP4, SPF_PASS, "", 24, 128),
	OK("v=spf1 ip4:192.0.2.1", 1, SPF_MECH_IP4, SPF_PASS, "", 32, 128),
	OK("v=spf1 ip4:0.0.0.0/0", 1, SPF_MECH_IP4, SPF_PASS, "", 0, 128),
	OK("v=spf1 ip6:2001:db8::/32", 1, SPF_MECH_IP6, SPF_PASS, "", 32, 32),
	OK("v=spf1 ip6:::1.1.1.1/0", 1, SPF_MECH_IP6, SPF_PASS, "", 32, 0),
	OK("v=spf1 -ip6:2001:db8::1", 1, SPF_MECH_IP6, SPF_FAIL, "", 32, 128),
	OK("v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d}", 1, SPF_MECH_EXISTS,
	    SPF_PASS, "%{ir}.%{l1r+-}._spf.%{d}", 32, 128),
	OK("v=spf1  mx   -all", 2, SPF_MECH_MX, SPF_PASS, "", 32, 128),
	OK("v=spf1 a:foo.example.xn--zckzah", 1, SPF_MECH_A, SPF_PASS,
	    "foo.example.xn--zckzah", 32, 128),
	OK("v=spf1 a:example.com.", 1, SPF_MECH_A, SPF_PASS, "example.com.",
	    32, 128),
	OK("v=spf1 a:%{d}", 1, SPF_MECH_A, SPF_PASS, "%{d}", 32, 128),
	OK("v=spf1 a:x%%", 1, SPF_MECH_A, SPF_PASS, "x%%", 32, 128),
	/* modifiers */
	OKMOD("v=spf1 redirect=_spf.example.com", 0, "_spf.example.com", NULL),
	OKMOD("v=spf1 exp=explain.%{d}", 0, NULL, "explain.%{d}"),
	OKMOD("v=spf1 REDIRECT=a.example.com EXP=b.example.com", 0,
	    "a.example.com", "b.example.com"),
	OKMOD("v=spf1 moo.cow-far_out=man:dog/cat", 0, NULL, NULL),
	OKMOD("v=spf1 default=+", 0, NULL, NULL),
	OKMOD("v=spf1 foo=", 0, NULL, NULL),
	/* malformed: unknown or misspelt terms */
	BAD("v=spf1 moo"),
	BAD("v=spf1 ip4:1.2.3.4 -all moo"),
	BAD("v=spf1 redirect:example.com"),
	BAD("v=spf1 =all"),
	BAD("v=spf1 1up=foo"),
	BAD("v=spf1 -foo=bar"),
	BAD("v=spf1 moo.cow/far_out=man:dog/cat"),
	BAD("v=spf1 moo.cow:far_out=man:dog/cat"),
	BAD("v=spf1 +"),
	BAD("v=spf1 -"),
	BAD("v=spf1 +-all"),
	/* malformed: arguments */
	BAD("v=spf1 -all."),
	BAD("v=spf1 -all:foobar"),
	BAD("v=spf1 -all/8"),
	BAD("v=spf1 include"),
	BAD("v=spf1 include:"),
	BAD("v=spf1 include:ip5.example.com/24"),
	BAD("v=spf1 exists"),
	BAD("v=spf1 exists:"),
	BAD("v=spf1 exists:mail.example.com/24"),
	BAD("v=spf1 ptr/0"),
	BAD("v=spf1 ptr:"),
	BAD("v=spf1 a:"),
	BAD("v=spf1 mx:"),
	BAD("v=spf1 a/33"),
	BAD("v=spf1 a//129"),
	BAD("v=spf1 a/032"),
	BAD("v=spf1 a/08"),
	BAD("v=spf1 a/24/64"),
	BAD("v=spf1 a//"),
	BAD("v=spf1 a/"),
	BAD("v=spf1 mx/33"),
	BAD("v=spf1 mx//129"),
	BAD("v=spf1 ip4"),
	BAD("v=spf1 ip4:"),
	BAD("v=spf1 ip4:1.2.3"),
	BAD("v=spf1 ip4:1.2.3.4.5"),
	BAD("v=spf1 ip4:1.2.3.256"),
	BAD("v=spf1 ip4:01.2.3.4"),
	BAD("v=spf1 ip4:1.2.3.4:8080"),
	BAD("v=spf1 ip4:1.2.3.4/33"),
	BAD("v=spf1 ip4:1.2.3.4/032"),
	BAD("v=spf1 ip4:1.2.3.4//32"),
	BAD("v=spf1 ip4:1.2.3.4/"),
	BAD("v=spf1 ip6"),
	BAD("v=spf1 ip6::CAFE::BABE"),
	BAD("v=spf1 ip6:::1.1.1.1/129"),
	BAD("v=spf1 ip6:::1.1.1.1//33"),
	BAD("v=spf1 ip6:1.2.3.4"),
	/* malformed: domain-spec */
	BAD("v=spf1 a:foo-bar"),
	BAD("v=spf1 a:museum"),
	BAD("v=spf1 a:museum."),
	BAD("v=spf1 a:111.222.33.44"),
	BAD("v=spf1 a:abc.123"),
	BAD("v=spf1 a:example.-com"),
	BAD("v=spf1 a:example.com-"),
	BAD("v=spf1 a:example.com:8080"),
	BAD("v=spf1 mx:abc.123"),
	BAD("v=spf1 exp="),
	BAD("v=spf1 exp=-all"),
	BAD("v=spf1 redirect="),
	BAD("v=spf1 redirect=-all ?all"),
	/* malformed: macros */
	BAD("v=spf1 -exists:%(ir).sbl.example.com"),
	BAD("v=spf1 exists:foo%.sbl.example.com"),
	BAD("v=spf1 exists:foo%"),
	BAD("v=spf1 a:%{a}.example.com"),
	BAD("v=spf1 a:%{r}.example.com"),
	BAD("v=spf1 a:%{c}.example.com"),
	BAD("v=spf1 a:%{t}.example.com"),
	BAD("v=spf1 a:%{d0}.example.com"),
	BAD("v=spf1 a:%{d2x}.example.com"),
	BAD("v=spf1 a:%{d.example.com"),
	BAD("v=spf1 -all foo=%abc"),
	BAD("v=spf1 exp=%{r}.example.com"),
	/* malformed: modifiers twice */
	BAD("v=spf1 exp=a.example.com exp=b.example.com"),
	BAD("v=spf1 redirect=a.example.com redirect=a.example.com"),
	/* malformed: octets */
	BAD("v=spf1 \x80" "a:example.net -all"),
	BAD("v=spf1 a:\xef\xbb\xbfgarbage.example.net -all"),
	BAD("v=spf1 a:ctrl.example.com\rptr -all"),
	BAD("v=spf1 a:ctrl.example.com\tptr"),
	BAD("v=spf1 -all\n"),
};

static int
check_rec(size_t i, const struct rec_case *c, size_t len)
{
	struct spf_record rec;
	struct err err;
	int r;

	r = spf_record_parse(str_make(c->in, len), &rec, &err);
	if (r != c->want) {
		print_error("case %zu '%s': got %d, want %d (%s)\n", i, c->in,
		    r, c->want, r == -1 ? err.msg : "");
		if (r == 0)
			spf_record_fini(&rec);
		return 1;
	}
	if (r == -1)
		return err.msg[0] == '\0';	/* an error says why */
	r = 0;
	if (rec.nterms != c->nterms) {
		print_error("case %zu '%s': got %zu terms, want %zu\n", i,
		    c->in, rec.nterms, c->nterms);
		r = 1;
	} else if (rec.nterms > 0) {
		const struct spf_term *t = &rec.terms[0];

		if (t->mech != c->mech || t->qual != c->qual ||
		    !str_eq(t->domain, str_cstr(c->domain)) ||
		    t->cidr4 != c->cidr4 || t->cidr6 != c->cidr6) {
			print_error("case %zu '%s': got mech %d qual %s "
			    "domain '%.*s' /%u //%u\n", i, c->in, t->mech,
			    spf_result_name(t->qual), STR_FMT(t->domain),
			    t->cidr4, t->cidr6);
			r = 1;
		}
	}
	if ((c->redirect == NULL) != (rec.redirect.p == NULL) ||
	    (c->redirect && !str_eq(rec.redirect, str_cstr(c->redirect))) ||
	    (c->exp == NULL) != (rec.exp.p == NULL) ||
	    (c->exp && !str_eq(rec.exp, str_cstr(c->exp)))) {
		print_error("case %zu '%s': redirect/exp '%.*s' '%.*s'\n", i,
		    c->in, STR_FMT(rec.redirect), STR_FMT(rec.exp));
		r = 1;
	}
	spf_record_fini(&rec);
	return r;
}

static void
test_record_table(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rec_cases) / sizeof(rec_cases[0]); i++)
		bad += check_rec(i, &rec_cases[i], strlen(rec_cases[i].in));
	assert_int_equal(bad, 0);
}

/* a NUL inside the record, which no string literal row can carry */
static void
test_record_nul(void **state)
{
	static const char in[] = "v=spf1 a:foo.example.com\0";
	struct rec_case c = { .in = in, .want = -1 };

	(void)state;
	assert_int_equal(check_rec(0, &c, sizeof(in) - 1), 0);
}

static void
test_record_ip(void **state)
{
	struct spf_record rec;
	uint8_t want6[16];

	(void)state;
	assert_int_equal(spf_record_parse(STR("v=spf1 ip4:192.0.2.77/28 "
	    "ip6:2001:DB8::cb01/64 -all"), &rec, NULL), 0);
	assert_int_equal(rec.nterms, 3);
	assert_memory_equal(rec.terms[0].addr, "\xc0\x00\x02\x4d", 4);
	assert_int_equal(rec.terms[0].cidr4, 28);
	inet_pton(AF_INET6, "2001:db8::cb01", want6);
	assert_memory_equal(rec.terms[1].addr, want6, 16);
	assert_int_equal(rec.terms[1].cidr6, 64);
	assert_int_equal(rec.terms[2].qual, SPF_FAIL);
	spf_record_fini(&rec);
}

static void
test_record_is_spf(void **state)
{
	(void)state;
	assert_true(spf_record_is_spf(STR("v=spf1")));
	assert_true(spf_record_is_spf(STR("v=spf1 -all")));
	assert_true(spf_record_is_spf(STR("V=SPF1 -all")));
	assert_false(spf_record_is_spf(STR("v=spf10")));
	assert_false(spf_record_is_spf(STR("v=spf1-all")));
	assert_false(spf_record_is_spf(STR(" v=spf1")));
	assert_false(spf_record_is_spf(STR("v=spf")));
	assert_false(spf_record_is_spf(STR("\x96")));
}

/* ------------------------------------------------------------------ */

struct macro_case {
	const char	*spec;
	unsigned	 flags;
	const char	*want;		/* NULL: syntax error */
};

static const struct macro_case macro_cases[] = {
	/* RFC 7208 7.4 */
	{ "%{s}", 0, "strong-bad@email.example.com" },
	{ "%{o}", 0, "email.example.com" },
	{ "%{d}", 0, "email.example.com" },
	{ "%{d4}", 0, "email.example.com" },
	{ "%{d3}", 0, "email.example.com" },
	{ "%{d2}", 0, "example.com" },
	{ "%{d1}", 0, "com" },
	{ "%{dr}", 0, "com.example.email" },
	{ "%{d2r}", 0, "example.email" },
	{ "%{l}", 0, "strong-bad" },
	{ "%{l-}", 0, "strong.bad" },
	{ "%{lr}", 0, "strong-bad" },
	{ "%{lr-}", 0, "bad.strong" },
	{ "%{l1r-}", 0, "strong" },
	{ "%{ir}.%{v}._spf.%{d2}", 0, "3.2.0.192.in-addr._spf.example.com" },
	{ "%{lr-}.lp._spf.%{d2}", 0, "bad.strong.lp._spf.example.com" },
	{ "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", 0,
	  "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
	{ "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", 0,
	  "3.2.0.192.in-addr.strong.lp._spf.example.com" },
	{ "%{d2}.trusted-domains.example.net", 0,
	  "example.com.trusted-domains.example.net" },
	/* escapes, upper case, delimiters, big counts */
	{ "%%%_%-", 0, "% %20" },
	{ "%{S}", 0, "strong-bad%40email.example.com" },
	{ "%{L}", 0, "strong-bad" },
	{ "%{D2}", 0, "example.com" },
	{ "%{l+-}", 0, "strong.bad" },
	{ "%{d200}", 0, "email.example.com" },
	{ "%{d99999999999}", 0, "email.example.com" },
	{ "%{h}", 0, "mx.example.org" },
	{ "%{p}", 0, "unknown" },
	{ "%{i}", 0, "192.0.2.3" },
	{ "%{v}", 0, "in-addr" },
	/* exp only */
	{ "%{c} %{r} %{t}", SPF_MACRO_EXP, "192.0.2.3 receiver.example 1234" },
	{ "%{c}", 0, NULL },
	{ "a b", 0, NULL },
	{ "a b", SPF_MACRO_EXP, "a b" },
	/* syntax errors */
	{ "%", 0, NULL },
	{ "%x", 0, NULL },
	{ "%{", 0, NULL },
	{ "%{s", 0, NULL },
	{ "%{x}", 0, NULL },
	{ "%{s0}", 0, NULL },
	{ "%{sr!}", 0, NULL },
	{ "%{s}}", 0, "strong-bad@email.example.com}" },
	{ "\x7f", 0, NULL },
	{ "\xc3\xa9", SPF_MACRO_EXP, NULL },
};

static void
macro_ctx(struct spf_macro_ctx *m, const char *ip)
{
	memset(m, 0, sizeof(*m));
	m->sender = STR("strong-bad@email.example.com");
	m->local = STR("strong-bad");
	m->sender_domain = STR("email.example.com");
	m->domain = STR("email.example.com");
	m->helo = STR("mx.example.org");
	m->receiver = STR("receiver.example");
	m->now = 1234;
	if (strchr(ip, ':')) {
		m->family = AF_INET6;
		inet_pton(AF_INET6, ip, m->ip);
	} else {
		m->family = AF_INET;
		inet_pton(AF_INET, ip, m->ip);
	}
}

static void
test_macro_table(void **state)
{
	struct spf_macro_ctx m;
	struct buf b;
	struct err err;
	int bad = 0;

	(void)state;
	macro_ctx(&m, "192.0.2.3");
	buf_init(&b, 4096);
	for (size_t i = 0; i < sizeof(macro_cases) / sizeof(macro_cases[0]);
	    i++) {
		const struct macro_case *c = &macro_cases[i];
		int r, chk;

		buf_reset(&b);
		r = spf_macro_expand(str_cstr(c->spec), &m, c->flags, &b, &err);
		chk = spf_macro_check(str_cstr(c->spec), c->flags, &err);
		if (r != chk || (c->want == NULL) != (r == -1) ||
		    (c->want != NULL && strcmp(buf_cstr(&b), c->want) != 0)) {
			print_error("macro %zu '%s': got %d '%s', want '%s'\n",
			    i, c->spec, r, buf_cstr(&b),
			    c->want ? c->want : "(error)");
			bad++;
		}
	}
	buf_fini(&b);
	assert_int_equal(bad, 0);
}

static void
test_macro_ipv6(void **state)
{
	struct spf_macro_ctx m;
	struct buf b;

	(void)state;
	macro_ctx(&m, "2001:db8::cb01");
	buf_init(&b, 4096);
	assert_int_equal(spf_macro_expand(STR("%{ir}.%{v}._spf.%{d2}"), &m, 0,
	    &b, NULL), 0);
	/* RFC 7208 7.4 (nibbles are upper case here; DNS does not care) */
	assert_true(strcasecmp(buf_cstr(&b), "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com") == 0);
	buf_reset(&b);
	assert_int_equal(spf_macro_expand(STR("%{c}"), &m, SPF_MACRO_EXP, &b,
	    NULL), 0);
	assert_string_equal(buf_cstr(&b), "2001:db8::cb01");
	buf_fini(&b);
}

/* the output buffer's cap is an error, not an overflow */
static void
test_macro_cap(void **state)
{
	struct spf_macro_ctx m;
	struct buf b;
	struct err err;

	(void)state;
	macro_ctx(&m, "192.0.2.3");
	buf_init(&b, 16);
	assert_int_equal(spf_macro_expand(STR("%{s}%{s}"), &m, 0, &b, &err),
	    -1);
	buf_fini(&b);
}

static void
test_domain_spec(void **state)
{
	static const struct {
		const char	*spec;
		bool		 ok;
	} cases[] = {
		{ "example.com", true }, { "example.com.", true },
		{ "a.b.c.example.com", true }, { ".com", true },
		{ "%{d}", true }, { "x.%{d}", true }, { "%{d}.com", true },
		{ "%{d}%%", true }, { "%{d}%_", true }, { "a.xn--zckzah", true },
		{ "a.123-456", true }, { "a.b-c", true },
		{ "", false }, { "com", false }, { "com.", false },
		{ "a.123", false }, { "a.-com", false }, { "a.com-", false },
		{ "a.co_m", false }, { "a.com:80", false }, { "a.%{x}", false },
		{ "a.com..", false }, { "%{d}com%", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (spf_domain_spec_valid(str_cstr(cases[i].spec)) !=
		    cases[i].ok)
			fail_msg("domain-spec '%s': want %s", cases[i].spec,
			    cases[i].ok ? "valid" : "invalid");
	}
}

static void
test_macro_domain(void **state)
{
	struct spf_macro_ctx m;
	struct buf b;
	char spec[1024];
	size_t n = 0;

	(void)state;
	macro_ctx(&m, "192.0.2.3");
	buf_init(&b, 4096);
	assert_int_equal(spf_macro_domain(STR("%{d}."), &m, &b, NULL), 0);
	assert_string_equal(buf_cstr(&b), "email.example.com");
	/* 4.8: labels dropped from the left until <= 253 octets */
	n += (size_t)snprintf(spec + n, sizeof(spec) - n, "foobar");
	for (int i = 0; i < 8; i++)
		n += (size_t)snprintf(spec + n, sizeof(spec) - n,
		    ".somewhat.long.exp.example.com");
	snprintf(spec + n, sizeof(spec) - n, ".example.com");
	assert_int_equal(spf_macro_domain(str_cstr(spec), &m, &b, NULL), 0);
	assert_true(b.len <= 253);
	assert_true(strncmp(buf_cstr(&b), "somewhat.long.", 14) == 0);
	/* names that cannot be asked: empty or 64-octet labels */
	assert_int_equal(spf_macro_domain(STR("a..example.com"), &m, &b,
	    NULL), 1);
	assert_int_equal(spf_macro_domain(STR("a1234567890123456789012345678"
	    "901234567890123456789012345678901234.example.com"), &m, &b, NULL),
	    1);
	assert_int_equal(spf_macro_domain(STR("."), &m, &b, NULL), 1);
	assert_int_equal(spf_macro_domain(STR("%{x}"), &m, &b, NULL), -1);
	buf_fini(&b);
}

static void
test_result_names(void **state)
{
	(void)state;
	assert_string_equal(spf_result_name(SPF_PASS), "pass");
	assert_string_equal(spf_result_name(SPF_SOFTFAIL), "softfail");
	assert_string_equal(spf_result_name(SPF_TEMPERROR), "temperror");
	assert_string_equal(spf_result_name((enum spf_result)99),
	    "permerror");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_table),
		cmocka_unit_test(test_record_nul),
		cmocka_unit_test(test_record_ip),
		cmocka_unit_test(test_record_is_spf),
		cmocka_unit_test(test_macro_table),
		cmocka_unit_test(test_macro_ipv6),
		cmocka_unit_test(test_macro_cap),
		cmocka_unit_test(test_domain_spec),
		cmocka_unit_test(test_macro_domain),
		cmocka_unit_test(test_result_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
