/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_path.c - table-driven tests of smtp_path_parse() and
 * smtp_path_format(): dot-atoms, quoted local parts, UTF-8 with and
 * without SMTPUTF8, source routes, address literals, every length limit
 * at and past it, the null path, postmaster, and relay tricks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "smtp/smtp_path.h"

#define N	SMTP_PATH_ALLOW_NULL
#define PM	SMTP_PATH_ALLOW_POSTMASTER
#define U8	SMTP_PATH_ALLOW_UTF8
#define ALL	(N | PM | U8)

struct path_case {
	const char	*in;
	unsigned	 flags;
	int		 want;		/* 0 or -1 */
	const char	*why;		/* expected reason on -1; NULL: any */
	bool		 null;
	bool		 postmaster;
	bool		 utf8;
	const char	*local;
	const char	*domain;
	const char	*fmt;		/* smtp_path_format() output */
};

#define OK(i, f, l, d, o) \
	{ .in = (i), .flags = (f), .local = (l), .domain = (d), .fmt = (o) }
#define OK8(i, f, l, d, o) \
	{ .in = (i), .flags = (f), .utf8 = true, .local = (l), \
	  .domain = (d), .fmt = (o) }
#define NULLPATH(i, f) \
	{ .in = (i), .flags = (f), .null = true, .local = "", .domain = "", \
	  .fmt = "" }
#define POSTMASTER(i, f, l) \
	{ .in = (i), .flags = (f), .postmaster = true, .local = (l), \
	  .domain = "", .fmt = "postmaster" }
#define BAD(i, f, w) \
	{ .in = (i), .flags = (f), .want = -1, .why = (w) }

#define W_BRACKETS	"Path must be enclosed in <>"
#define W_NODOMAIN	"Address lacks a domain"
#define W_8BIT		"8-bit address requires SMTPUTF8"
#define W_BADUTF8	"Invalid UTF-8 in address"
#define W_LOCALCHAR	"Invalid character in local part"
#define W_ATOM		"Empty atom in local part"
#define W_QCHAR		"Invalid character in quoted string"
#define W_DOMCHAR	"Invalid character in domain"
#define W_LABEL		"Empty label in domain"
#define W_HYPHEN	"Domain label begins or ends with a hyphen"
#define W_LITERAL	"Invalid address literal"
#define W_ROUTE		"Invalid source route"

static const struct path_case path_cases[] = {
	/* plain mailboxes */
	OK("<user@example.org>", 0, "user", "example.org",
	    "user@example.org"),
	OK("<a@b>", 0, "a", "b", "a@b"),
	OK("<User.Name+tag@Example.ORG>", 0, "User.Name+tag", "Example.ORG",
	    "User.Name+tag@example.org"),
	OK("<!#$%&'*+-/=?^_`{|}~@example.org>", 0, "!#$%&'*+-/=?^_`{|}~",
	    "example.org", "!#$%&'*+-/=?^_`{|}~@example.org"),
	OK("<a.b.c@x.y.z>", 0, "a.b.c", "x.y.z", "a.b.c@x.y.z"),
	OK("<a@e-x.org>", 0, "a", "e-x.org", "a@e-x.org"),
	OK("<a@xn--bcher-kva.example>", 0, "a", "xn--bcher-kva.example",
	    "a@xn--bcher-kva.example"),
	OK("<a@123.example>", 0, "a", "123.example", "a@123.example"),
	OK("<a@localhost>", 0, "a", "localhost", "a@localhost"),
	OK("<user@example.org>", ALL, "user", "example.org",
	    "user@example.org"),

	/* relay tricks: the domain is always what follows the last hop */
	OK("<user%other@local>", 0, "user%other", "local",
	    "user%other@local"),
	OK("<user!other@local>", 0, "user!other", "local",
	    "user!other@local"),
	OK("<other!user@local>", 0, "other!user", "local",
	    "other!user@local"),
	OK("<\"user@other\"@local>", 0, "\"user@other\"", "local",
	    "\"user@other\"@local"),
	OK("<@local:user@other>", 0, "user", "other", "user@other"),
	OK("<@a,@b.example:user@c>", 0, "user", "c", "user@c"),
	OK("<@a,@b,@c:user%d@e>", 0, "user%d", "e", "user%d@e"),
	BAD("<user@other@local>", 0, W_DOMCHAR),
	BAD("<@local>", 0, W_ROUTE),
	BAD("<@local:>", 0, "Empty mailbox"),
	BAD("<@local,user@other>", 0, W_ROUTE),
	BAD("<@local,:user@other>", 0, W_ROUTE),
	BAD("<@:user@other>", 0, "Empty domain"),
	BAD("<@,@b:user@other>", 0, "Empty domain"),
	BAD("<@a,b:user@other>", 0, W_ROUTE),
	BAD("<@[192.0.2.1]:user@other>", 0, W_DOMCHAR),
	BAD("<@a.:user@other>", 0, "Trailing dot in domain"),
	BAD("<@b\xc3\xbc" "cher:user@other>", 0, W_8BIT),
	OK("<@b\xc3\xbc" "cher:user@other>", U8, "user", "other",
	    "user@other"),

	/* quoted local parts */
	OK("<\"john doe\"@example.org>", 0, "\"john doe\"", "example.org",
	    "\"john doe\"@example.org"),
	OK("<\"a\\\"b\"@x>", 0, "\"a\\\"b\"", "x", "\"a\\\"b\"@x"),
	OK("<\"a\\\\b\"@x>", 0, "\"a\\\\b\"", "x", "\"a\\\\b\"@x"),
	OK("<\"\\ \"@x>", 0, "\"\\ \"", "x", "\"\\ \"@x"),
	OK("<\"a..b.\"@x>", 0, "\"a..b.\"", "x", "\"a..b.\"@x"),
	OK("<\"<>()[]:;,@\"@x>", 0, "\"<>()[]:;,@\"", "x",
	    "\"<>()[]:;,@\"@x"),
	OK("<\"user\"@x>", 0, "\"user\"", "x", "\"user\"@x"),
	BAD("<\"\"@x>", 0, "Empty local part"),
	BAD("<\"abc@x>", 0, "Unterminated quoted string"),
	BAD("<\"abc\\\">", 0, "Unterminated quoted string"),
	BAD("<\"a\"b@x>", 0, W_LOCALCHAR),
	BAD("<\"a\".b@x>", 0, W_LOCALCHAR),
	BAD("<a.\"b\"@x>", 0, W_LOCALCHAR),
	BAD("<\"a\tb\"@x>", 0, W_QCHAR),
	BAD("<\"a\\\tb\"@x>", 0, W_QCHAR),
	BAD("<\"a\x01\"@x>", 0, W_QCHAR),
	BAD("<\"a\\\x7f\"@x>", 0, W_QCHAR),
	BAD("<\"a\x7f\"@x>", 0, W_QCHAR),
	BAD("<\"a\"@>", 0, "Empty domain"),
	BAD("<\"a\">", ALL, W_NODOMAIN),

	/* dot-atom errors */
	BAD("<.a@b>", 0, W_ATOM),
	BAD("<a.@b>", 0, W_ATOM),
	BAD("<a..b@b>", 0, W_ATOM),
	BAD("<a b@c>", 0, W_LOCALCHAR),
	BAD("<a(b)@c>", 0, W_LOCALCHAR),
	BAD("<a,b@c>", 0, W_LOCALCHAR),
	BAD("<a\"b@c>", 0, W_LOCALCHAR),
	BAD("<a[b@c>", 0, W_LOCALCHAR),
	BAD("<a\\b@c>", 0, W_LOCALCHAR),
	BAD("<a:b@c>", 0, W_LOCALCHAR),
	BAD("<a<b@c>", 0, W_LOCALCHAR),
	BAD("<a>b@c>", 0, W_LOCALCHAR),
	BAD("<a\x01@c>", 0, W_LOCALCHAR),
	BAD("<a\x7f@c>", 0, W_LOCALCHAR),
	BAD("<(comment)a@c>", 0, W_LOCALCHAR),

	/* a mailbox needs a domain */
	BAD("<user>", ALL, W_NODOMAIN),
	BAD("<user@>", 0, "Empty domain"),
	BAD("<@>", 0, W_ROUTE),

	/* domains */
	BAD("<a@example.org.>", 0, "Trailing dot in domain"),
	BAD("<a@.>", 0, W_LABEL),
	BAD("<a@.example.org>", 0, W_LABEL),
	BAD("<a@ex..org>", 0, W_LABEL),
	BAD("<a@-ex.org>", 0, W_HYPHEN),
	BAD("<a@ex-.org>", 0, W_HYPHEN),
	BAD("<a@ex.org->", 0, W_HYPHEN),
	BAD("<a@->", 0, W_HYPHEN),
	BAD("<a@ex_ample.org>", 0, W_DOMCHAR),
	BAD("<a@ex ample.org>", 0, W_DOMCHAR),
	BAD("<a@example.org >", 0, W_DOMCHAR),
	BAD("<a@exa\x7fmple.org>", 0, W_DOMCHAR),
	BAD("<a@example.org:25>", 0, W_DOMCHAR),
	BAD("<a@*.example.org>", 0, W_DOMCHAR),

	/* address literals */
	OK("<a@[192.0.2.1]>", 0, "a", "[192.0.2.1]", "a@[192.0.2.1]"),
	OK("<a@[0.0.0.0]>", 0, "a", "[0.0.0.0]", "a@[0.0.0.0]"),
	OK("<a@[255.255.255.255]>", 0, "a", "[255.255.255.255]",
	    "a@[255.255.255.255]"),
	OK("<a@[IPv6:2001:db8::1]>", 0, "a", "[IPv6:2001:db8::1]",
	    "a@[ipv6:2001:db8::1]"),
	OK("<a@[ipv6:2001:DB8::1]>", 0, "a", "[ipv6:2001:DB8::1]",
	    "a@[ipv6:2001:db8::1]"),
	OK("<a@[IPv6:::1]>", 0, "a", "[IPv6:::1]", "a@[ipv6:::1]"),
	OK("<a@[IPv6:::]>", 0, "a", "[IPv6:::]", "a@[ipv6:::]"),
	OK("<a@[IPv6:::ffff:192.0.2.1]>", 0, "a", "[IPv6:::ffff:192.0.2.1]",
	    "a@[ipv6:::ffff:192.0.2.1]"),
	OK("<a@[IPv6:1:2:3:4:5:6:7:8]>", 0, "a", "[IPv6:1:2:3:4:5:6:7:8]",
	    "a@[ipv6:1:2:3:4:5:6:7:8]"),
	OK("<a@[IPv6:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]>", 0, "a",
	    "[IPv6:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]",
	    "a@[ipv6:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]"),
	OK("<\"x y\"@[192.0.2.1]>", 0, "\"x y\"", "[192.0.2.1]",
	    "\"x y\"@[192.0.2.1]"),
	BAD("<a@[256.1.1.1]>", 0, W_LITERAL),
	BAD("<a@[1.2.3]>", 0, W_LITERAL),
	BAD("<a@[1.2.3.4.5]>", 0, W_LITERAL),
	BAD("<a@[01.2.3.4]>", 0, W_LITERAL),
	BAD("<a@[1.2.3.4 ]>", 0, W_LITERAL),
	BAD("<a@[ 1.2.3.4]>", 0, W_LITERAL),
	BAD("<a@[]>", 0, W_LITERAL),
	BAD("<a@[IPv6:]>", 0, W_LITERAL),
	BAD("<a@[IPv6:2001:db8::g]>", 0, W_LITERAL),
	BAD("<a@[IPv6:1.2.3.4]>", 0, W_LITERAL),
	BAD("<a@[IPv6:1::2::3]>", 0, W_LITERAL),
	BAD("<a@[IPv6:1:2:3:4:5:6:7:8:9]>", 0, W_LITERAL),
	BAD("<a@[IPv6:12345::1]>", 0, W_LITERAL),
	BAD("<a@[IPv6:fe80::1%eth0]>", 0, W_LITERAL),
	BAD("<a@[IPv6:ffff:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]>",
	    0, W_LITERAL),
	BAD("<a@[IPv4:1.2.3.4]>", 0, "Unsupported address literal"),
	BAD("<a@[2001:db8::1]>", 0, "Unsupported address literal"),
	BAD("<a@[x-tag:anything]>", 0, "Unsupported address literal"),
	BAD("<a@[192.0.2.1>", 0, "Unterminated address literal"),
	BAD("<a@[192.0.2.1]x>", 0, "Unterminated address literal"),
	BAD("<a@[>", 0, "Unterminated address literal"),
	BAD("<a@192.0.2.1]>", 0, W_DOMCHAR),
	BAD("<a@x.[192.0.2.1]>", 0, W_DOMCHAR),

	/* the angle brackets */
	BAD("user@example.org", ALL, W_BRACKETS),
	BAD("<user@example.org", ALL, W_BRACKETS),
	BAD("user@example.org>", ALL, W_BRACKETS),
	BAD(" <a@b>", ALL, W_BRACKETS),
	BAD("<a@b> ", ALL, W_BRACKETS),
	BAD("", ALL, W_BRACKETS),
	BAD("<", ALL, W_BRACKETS),
	BAD(">", ALL, W_BRACKETS),
	BAD("<<a@b>>", ALL, W_LOCALCHAR),

	/* null path */
	NULLPATH("<>", N),
	NULLPATH("<>", ALL),
	BAD("<>", 0, "Null path not allowed here"),
	BAD("<>", PM | U8, "Null path not allowed here"),
	BAD("< >", ALL, W_LOCALCHAR),

	/* postmaster */
	POSTMASTER("<postmaster>", PM, "postmaster"),
	POSTMASTER("<Postmaster>", PM, "Postmaster"),
	POSTMASTER("<POSTMASTER>", ALL, "POSTMASTER"),
	POSTMASTER("<pOsTmAsTeR>", PM, "pOsTmAsTeR"),
	BAD("<postmaster>", 0, "Bare postmaster not allowed here"),
	BAD("<postmaster>", N | U8, "Bare postmaster not allowed here"),
	BAD("<@a:postmaster>", PM, W_NODOMAIN),
	BAD("<\"postmaster\">", PM, W_NODOMAIN),
	BAD("<postmaster2>", PM, W_NODOMAIN),
	BAD("<post.master>", PM, W_NODOMAIN),
	OK("<postmaster@example.org>", 0, "postmaster", "example.org",
	    "postmaster@example.org"),
	OK("<Postmaster@Example.Org>", PM, "Postmaster", "Example.Org",
	    "Postmaster@example.org"),

	/* UTF-8 (RFC 6531) */
	BAD("<j\xc3\xb6rg@example.org>", 0, W_8BIT),
	BAD("<j\xc3\xb6rg@example.org>", N | PM, W_8BIT),
	OK8("<j\xc3\xb6rg@example.org>", U8, "j\xc3\xb6rg", "example.org",
	    "j\xc3\xb6rg@example.org"),
	BAD("<user@b\xc3\xbc" "cher.example>", 0, W_8BIT),
	OK8("<user@B\xc3\xbc" "CHER.Example>", U8, "user",
	    "B\xc3\xbc" "CHER.Example", "user@b\xc3\xbc" "cher.example"),
	OK8("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85\xac"
	    "\xe5\x8f\xb8>", U8, "\xe7\x94\xa8\xe6\x88\xb7",
	    "\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85\xac\xe5\x8f\xb8",
	    "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85\xac"
	    "\xe5\x8f\xb8"),
	OK8("<\"j\xc3\xb6rg doe\"@x>", U8, "\"j\xc3\xb6rg doe\"", "x",
	    "\"j\xc3\xb6rg doe\"@x"),
	BAD("<\"j\xc3\xb6rg\"@x>", 0, W_8BIT),
	BAD("<\"a\\\xc3\xb6\"@x>", U8, W_QCHAR),
	OK8("<\xc2\x80@x>", U8, "\xc2\x80", "x", "\xc2\x80@x"),
	OK8("<\xdf\xbf@x>", U8, "\xdf\xbf", "x", "\xdf\xbf@x"),
	OK8("<\xe0\xa0\x80@x>", U8, "\xe0\xa0\x80", "x", "\xe0\xa0\x80@x"),
	OK8("<\xed\x9f\xbf@x>", U8, "\xed\x9f\xbf", "x", "\xed\x9f\xbf@x"),
	OK8("<\xee\x80\x80@x>", U8, "\xee\x80\x80", "x", "\xee\x80\x80@x"),
	OK8("<\xef\xbf\xbf@x>", U8, "\xef\xbf\xbf", "x", "\xef\xbf\xbf@x"),
	OK8("<\xf0\x90\x80\x80@x>", U8, "\xf0\x90\x80\x80", "x",
	    "\xf0\x90\x80\x80@x"),
	OK8("<\xf0\x9f\x93\xa7@x>", U8, "\xf0\x9f\x93\xa7", "x",
	    "\xf0\x9f\x93\xa7@x"),
	OK8("<\xf4\x8f\xbf\xbf@x>", U8, "\xf4\x8f\xbf\xbf", "x",
	    "\xf4\x8f\xbf\xbf@x"),
	OK8("<a@x\xf0\x9f\x93\xa7y>", U8, "a", "x\xf0\x9f\x93\xa7y",
	    "a@x\xf0\x9f\x93\xa7y"),
	BAD("<\x80@x>", U8, W_BADUTF8),
	BAD("<a\xbf@x>", U8, W_BADUTF8),
	BAD("<\xc0\xaf@x>", U8, W_BADUTF8),
	BAD("<\xc1\xbf@x>", U8, W_BADUTF8),
	BAD("<\xe0\x80\xaf@x>", U8, W_BADUTF8),
	BAD("<\xe0\x9f\xbf@x>", U8, W_BADUTF8),
	BAD("<\xf0\x80\x80\xaf@x>", U8, W_BADUTF8),
	BAD("<\xf0\x8f\xbf\xbf@x>", U8, W_BADUTF8),
	BAD("<\xed\xa0\x80@x>", U8, W_BADUTF8),
	BAD("<\xed\xbf\xbf@x>", U8, W_BADUTF8),
	BAD("<\xf4\x90\x80\x80@x>", U8, W_BADUTF8),
	BAD("<\xf5\x80\x80\x80@x>", U8, W_BADUTF8),
	BAD("<\xf8\x88\x80\x80\x80@x>", U8, W_BADUTF8),
	BAD("<\xfe@x>", U8, W_BADUTF8),
	BAD("<\xff@x>", U8, W_BADUTF8),
	BAD("<\xc3@x>", U8, W_BADUTF8),
	BAD("<\xe2\x82@x>", U8, W_BADUTF8),
	BAD("<\xf0\x9f\x93@x>", U8, W_BADUTF8),
	BAD("<\xc3\xc3\xb6@x>", U8, W_BADUTF8),
	BAD("<a@x\xc3>", U8, W_BADUTF8),
	BAD("<a@x\xed\xa0\x80>", U8, W_BADUTF8),
	BAD("<\"\xc0\x80\"@x>", U8, W_BADUTF8),
	BAD("<a@[\xc3\xb6]>", U8, W_LITERAL),
};

/* check_str - compare a slice with a C string, reported as got/want */
static int
check_str(size_t n, const char *in, const char *field, struct str got,
    const char *want)
{
	if (str_eq(got, str_cstr(want)))
		return 0;
	print_error("case %zu \"%s\": %s got \"%.*s\", want \"%s\"\n", n, in,
	    field, STR_FMT(got), want);
	return 1;
}

static int
check_bool(size_t n, const char *in, const char *field, bool got, bool want)
{
	if (got == want)
		return 0;
	print_error("case %zu \"%s\": %s got %d, want %d\n", n, in, field,
	    got, want);
	return 1;
}

static int
check_case(size_t n, const struct path_case *c, size_t len)
{
	struct smtp_path p;
	const char *why = NULL;
	struct buf b;
	int r, bad = 0;

	r = smtp_path_parse(str_make(c->in, len), c->flags, &p, &why);
	if (r != c->want) {
		print_error("case %zu \"%s\" flags %u: result got %d (%s), "
		    "want %d\n", n, c->in, c->flags, r, why ? why : "",
		    c->want);
		return 1;
	}
	if (r == -1) {
		if (why == NULL) {
			print_error("case %zu \"%s\": why got NULL, "
			    "want a reason\n", n, c->in);
			return 1;
		}
		if (c->why != NULL && strcmp(why, c->why) != 0) {
			print_error("case %zu \"%s\": why got \"%s\", "
			    "want \"%s\"\n", n, c->in, why, c->why);
			return 1;
		}
		return 0;
	}
	bad += check_bool(n, c->in, "null", p.null, c->null);
	bad += check_bool(n, c->in, "postmaster", p.postmaster,
	    c->postmaster);
	bad += check_bool(n, c->in, "utf8", p.utf8, c->utf8);
	bad += check_str(n, c->in, "local", p.local, c->local);
	bad += check_str(n, c->in, "domain", p.domain, c->domain);
	if (why != NULL) {
		print_error("case %zu \"%s\": why got \"%s\", want NULL\n", n,
		    c->in, why);
		bad++;
	}
	buf_init(&b, 1024);
	if (smtp_path_format(&p, &b) == -1) {
		print_error("case %zu \"%s\": format got -1, want 0\n", n,
		    c->in);
		bad++;
	} else
		bad += check_str(n, c->in, "format", buf_str(&b), c->fmt);
	buf_fini(&b);
	return bad;
}

static void
test_path_table(void **state)
{
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++)
		bad += check_case(i, &path_cases[i], strlen(path_cases[i].in));
	assert_int_equal(bad, 0);
}

/* NUL and other octets that cannot sit in a C string literal row */
static void
test_path_nul(void **state)
{
	static const struct {
		const char	*in;
		size_t		 len;
	} cases[] = {
		{ "<\0@x>", 5 },
		{ "<a\0b@x>", 7 },
		{ "<a@x\0>", 6 },
		{ "<a@x\0y>", 7 },
		{ "<\"a\0\"@x>", 8 },
		{ "<a@[1.2.3.4\0]>", 14 },
		{ "<a@[1.2.3.4]\0>", 14 },
		{ "<a@[IPv6:::1\0]>", 15 },
		{ "<@a\0:b@c>", 9 },
		{ "\0", 1 },
		{ "<\0>", 3 },
	};
	struct path_case c = { .flags = ALL, .want = -1 };
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c.in = cases[i].in;
		bad += check_case(i, &c, cases[i].len);
	}
	assert_int_equal(bad, 0);
}

/*
 * make_path - "<" local "@" domain ">" with a local part of llen octets
 * and a domain of dlen octets in labels of at most lab octets
 */
static size_t
make_path(char *out, size_t llen, size_t dlen, size_t lab)
{
	size_t i, n = 0, run = 0;

	out[n++] = '<';
	for (i = 0; i < llen; i++)
		out[n++] = 'l';
	out[n++] = '@';
	for (i = 0; i < dlen; i++) {
		/* a dot never first, last, or next to another dot */
		if (run == lab && i + 1 < dlen) {
			out[n++] = '.';
			run = 0;
		} else {
			out[n++] = 'd';
			run++;
		}
	}
	out[n++] = '>';
	out[n] = '\0';
	return n;
}

/* each limit at and one past: local 64, label 63, path 256 */
static void
test_path_limits(void **state)
{
	static const struct {
		size_t		 llen, dlen, lab;
		int		 want;
		const char	*why;
	} cases[] = {
		{ 64, 1, 63, 0, NULL },
		{ 65, 1, 63, -1, "Local part too long" },
		{ 200, 1, 63, -1, "Local part too long" },
		{ 1, 63, 63, 0, NULL },
		{ 1, 64, 64, -1, "Domain label too long" },
		{ 1, 100, 64, -1, "Domain label too long" },
		/* 2 + 64 + 1 + 189 = 256 */
		{ 64, 189, 63, 0, NULL },
		{ 64, 190, 63, -1, "Path too long" },
		{ 1, 252, 63, 0, NULL },
		{ 1, 253, 63, -1, "Path too long" },
		{ 1, 252, 1, 0, NULL },
		{ 1, 600, 63, -1, "Path too long" },
	};
	char in[1024];
	struct path_case c = { .flags = 0 };
	size_t i, len;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = make_path(in, cases[i].llen, cases[i].dlen,
		    cases[i].lab);
		c.in = in;
		c.want = cases[i].want;
		c.why = cases[i].why;
		if (c.want == 0) {
			/* the expected fields are the halves of the input */
			char local[128], domain[1024], fmt[1024];

			memcpy(local, in + 1, cases[i].llen);
			local[cases[i].llen] = '\0';
			memcpy(domain, in + 2 + cases[i].llen, len - 3 -
			    cases[i].llen);
			domain[len - 3 - cases[i].llen] = '\0';
			memcpy(fmt, in + 1, len - 2);
			fmt[len - 2] = '\0';
			c.local = local;
			c.domain = domain;
			c.fmt = fmt;
			bad += check_case(i, &c, len);
		} else
			bad += check_case(i, &c, len);
	}

	/* a quoted local part counts its quotes: 64 with them, then 65 */
	memset(in, 'q', sizeof(in));
	in[0] = '<';
	in[1] = '"';
	in[64] = '"';
	memcpy(in + 65, "@x>", 4);
	c = (struct path_case){ .in = in, .want = 0 };
	{
		char local[80], fmt[80];

		memcpy(local, in + 1, 64);
		local[64] = '\0';
		memcpy(fmt, in + 1, 66);
		fmt[66] = '\0';
		c.local = local;
		c.domain = "x";
		c.fmt = fmt;
		bad += check_case(100, &c, strlen(in));
	}
	memset(in, 'q', sizeof(in));
	in[0] = '<';
	in[1] = '"';
	in[65] = '"';
	memcpy(in + 66, "@x>", 4);
	c = (struct path_case){ .in = in, .want = -1,
	    .why = "Local part too long" };
	bad += check_case(101, &c, strlen(in));

	/* a source route counts toward the 256 octets */
	len = make_path(in, 1, 252, 63);
	assert_int_equal(len, 256);
	memmove(in + 4, in + 1, len);
	memcpy(in, "<@r:", 4);
	c = (struct path_case){ .in = in, .want = -1, .why = "Path too long" };
	bad += check_case(102, &c, len + 3);
	assert_int_equal(bad, 0);
}

/* format appends, lowercases only the domain, and respects buf.max */
static void
test_path_format(void **state)
{
	struct smtp_path p;
	struct buf b;

	(void)state;
	assert_int_equal(smtp_path_parse(STR("<Mixed.Case@EXAMPLE.Org>"), 0,
	    &p, NULL), 0);

	buf_init(&b, 64);
	assert_int_equal(buf_puts(&b, "to="), 0);
	assert_int_equal(smtp_path_format(&p, &b), 0);
	assert_string_equal(buf_cstr(&b), "to=Mixed.Case@example.org");
	buf_fini(&b);

	/* exactly enough room, then one octet short: all or nothing */
	buf_init(&b, 22);
	assert_int_equal(smtp_path_format(&p, &b), 0);
	assert_int_equal(b.len, 22);
	buf_fini(&b);
	buf_init(&b, 21);
	assert_int_equal(smtp_path_format(&p, &b), -1);
	assert_int_equal(b.len, 0);
	buf_fini(&b);
	buf_init(&b, 4);
	assert_int_equal(buf_puts(&b, "ab"), 0);
	assert_int_equal(smtp_path_format(&p, &b), -1);
	assert_string_equal(buf_cstr(&b), "ab");
	buf_fini(&b);

	/* the null path appends nothing; bare postmaster is lower-cased */
	assert_int_equal(smtp_path_parse(STR("<>"), N, &p, NULL), 0);
	buf_init(&b, 8);
	assert_int_equal(smtp_path_format(&p, &b), 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_fini(&b);
	assert_int_equal(smtp_path_parse(STR("<PostMaster>"), PM, &p, NULL), 0);
	buf_init(&b, 8);
	assert_int_equal(smtp_path_format(&p, &b), -1);
	buf_fini(&b);
	buf_init(&b, 10);
	assert_int_equal(smtp_path_format(&p, &b), 0);
	assert_string_equal(buf_cstr(&b), "postmaster");
	buf_fini(&b);
}

/* the slices point into the input; a NULL why_out is accepted */
static void
test_path_slices(void **state)
{
	const char *in = "<@hop:user@example.org>";
	struct smtp_path p;

	(void)state;
	assert_int_equal(smtp_path_parse(str_cstr(in), 0, &p, NULL), 0);
	assert_ptr_equal(p.local.p, in + 6);
	assert_ptr_equal(p.domain.p, in + 11);
	assert_int_equal(smtp_path_parse(STR("bad"), 0, &p, NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_table),
		cmocka_unit_test(test_path_nul),
		cmocka_unit_test(test_path_limits),
		cmocka_unit_test(test_path_format),
		cmocka_unit_test(test_path_slices),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
