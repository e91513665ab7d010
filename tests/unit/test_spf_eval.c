/* SPDX-License-Identifier: ISC */
/*
 * test_spf_eval.c - check_host() (spf_eval.c) against a fake resolver
 * (fake_dns.h): every mechanism, include/redirect semantics, exp= and
 * %{p}, the lookup, void-lookup, MX and PTR limits, DNS errors, the null
 * sender and the HELO identity. Each scenario runs twice: with answers
 * given inside query() (synchronous) and deferred through an event loop,
 * and must give the same result. Cancelling an evaluation in flight
 * calls nothing and leaks nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "msgauth/spf.h"
#include "fake_dns.h"

static const struct fake_dns_rec zone[] = {
	{ "example.com", DNS_T_TXT, "v=spf1 ip4:192.0.2.0/24 mx a:mail.%{d} "
	    "include:_inc.example.com -all exp=exp.example.com" },
	{ "example.com", DNS_T_TXT, "not an spf record" },
	{ "example.com", DNS_T_MX, "10 mx1.example.com" },
	{ "example.com", DNS_T_MX, "20 mx2.example.com" },
	{ "mx1.example.com", DNS_T_A, "198.51.100.1" },
	{ "mx2.example.com", DNS_T_A, "198.51.100.2" },
	{ "mx2.example.com", DNS_T_AAAA, "2001:db8::2" },
	{ "mail.example.com", DNS_T_A, "203.0.113.9" },
	{ "_inc.example.com", DNS_T_TXT, "v=spf1 ip6:2001:db8:1::/48 ~all" },
	{ "exp.example.com", DNS_T_TXT, "%{i} may not send for %{d} (%{l})" },
	/* redirect, and exp= of the redirect target */
	{ "redir.example", DNS_T_TXT, "v=spf1 exp=nope.example "
	    "redirect=example.com" },
	{ "redir-none.example", DNS_T_TXT, "v=spf1 redirect=nothing.example" },
	/* qualifiers */
	{ "soft.example", DNS_T_TXT, "v=spf1 ~all" },
	{ "neutral.example", DNS_T_TXT, "v=spf1 ?all" },
	{ "plain.example", DNS_T_TXT, "v=spf1" },
	{ "pass.example", DNS_T_TXT, "v=spf1 +all" },
	/* syntax and selection */
	{ "bad.example", DNS_T_TXT, "v=spf1 moo -all" },
	{ "two.example", DNS_T_TXT, "v=spf1 -all" },
	{ "two.example", DNS_T_TXT, "v=spf1 +all" },
	{ "nospf.example", DNS_T_A, "192.0.2.1" },
	/* include results */
	{ "inc-fail.example", DNS_T_TXT, "v=spf1 include:two.example ?all" },
	{ "inc-none.example", DNS_T_TXT, "v=spf1 include:nospf.example -all" },
	{ "inc-temp.example", DNS_T_TXT, "v=spf1 include:servfail.example "
	    "-all" },
	{ "servfail.example", 0, "SERVFAIL" },
	{ "timeout.example", DNS_T_TXT, "TIMEOUT" },
	/* exists, ptr, %{p} */
	{ "exists.example", DNS_T_TXT, "v=spf1 exists:%{ir}.list.example "
	    "-all" },
	{ "1.2.0.192.list.example", DNS_T_A, "127.0.0.2" },
	{ "ptr.example", DNS_T_TXT, "v=spf1 ptr -all" },
	{ "ptr2.example", DNS_T_TXT, "v=spf1 ptr:host.ptr.example -all" },
	{ "5.2.0.192.in-addr.arpa", DNS_T_PTR, "good.host.ptr.example" },
	{ "5.2.0.192.in-addr.arpa", DNS_T_PTR, "liar.ptr.example" },
	{ "good.host.ptr.example", DNS_T_A, "192.0.2.5" },
	{ "liar.ptr.example", DNS_T_A, "192.0.2.99" },
	{ "pmacro.example", DNS_T_TXT, "v=spf1 -all exp=pexp.example" },
	{ "pexp.example", DNS_T_TXT, "from %{p}" },
	/* limits */
	{ "many.example", DNS_T_TXT, "v=spf1 a a a a a a a a a a -all" },
	{ "toomany.example", DNS_T_TXT, "v=spf1 a a a a a a a a a a a -all" },
	{ "many.example", DNS_T_A, "192.0.2.200" },
	{ "toomany.example", DNS_T_A, "192.0.2.200" },
	{ "void2.example", DNS_T_TXT, "v=spf1 a:n1.example a:n2.example "
	    "?all" },
	{ "void3.example", DNS_T_TXT, "v=spf1 a:n1.example a:n2.example "
	    "a:n3.example ?all" },
	{ "mx11.example", DNS_T_TXT, "v=spf1 mx -all" },
	{ "mx11.example", DNS_T_MX, "1 a.mx11.example" },
	{ "mx11.example", DNS_T_MX, "2 a.mx11.example" },
	{ "mx11.example", DNS_T_MX, "3 a.mx11.example" },
	{ "mx11.example", DNS_T_MX, "4 a.mx11.example" },
	{ "mx11.example", DNS_T_MX, "5 a.mx11.example" },
	{ "mx11.example", DNS_T_MX, "6 a.mx11.example" },
	{ "mx11.example", DNS_T_MX, "7 a.mx11.example" },
	{ "mx11.example", DNS_T_MX, "8 a.mx11.example" },
	{ "mx11.example", DNS_T_MX, "9 a.mx11.example" },
	{ "mx11.example", DNS_T_MX, "10 a.mx11.example" },
	{ "mx11.example", DNS_T_MX, "11 a.mx11.example" },
	{ "a.mx11.example", DNS_T_A, "192.0.2.1" },
	{ "nullmx.example", DNS_T_TXT, "v=spf1 mx ?all" },
	{ "nullmx.example", DNS_T_MX, "0 ." },
	{ "loop.example", DNS_T_TXT, "v=spf1 include:loop.example -all" },
	/* HELO identity */
	{ "helo.example", DNS_T_TXT, "v=spf1 a -all" },
	{ "helo.example", DNS_T_A, "192.0.2.77" },
	/* dual cidr and ip6 */
	{ "cidr.example", DNS_T_TXT, "v=spf1 a:host.cidr.example/24//64 "
	    "-all" },
	{ "host.cidr.example", DNS_T_A, "198.51.100.200" },
	{ "host.cidr.example", DNS_T_AAAA, "2001:db8:5:5::1" },
};

struct eval_case {
	const char	*ip;
	const char	*sender;
	const char	*helo;
	enum spf_result	 want;
	const char	*exp;		/* expected explanation, or NULL */
};

static const struct eval_case cases[] = {
	/* ip4, mx (both hosts), a with a macro, include, -all, exp= */
	{ "192.0.2.44", "joe@example.com", "h.example", SPF_PASS, NULL },
	{ "198.51.100.2", "joe@example.com", "h.example", SPF_PASS, NULL },
	{ "2001:db8::2", "joe@example.com", "h.example", SPF_PASS, NULL },
	{ "203.0.113.9", "joe@example.com", "h.example", SPF_PASS, NULL },
	{ "2001:db8:1:2::3", "joe@example.com", "h.example", SPF_PASS, NULL },
	{ "::ffff:192.0.2.44", "joe@example.com", "h.example", SPF_PASS, NULL },
	{ "203.0.113.10", "joe@example.com", "h.example", SPF_FAIL,
	  "203.0.113.10 may not send for example.com (joe)" },
	{ "203.0.113.10", "@example.com", "h.example", SPF_FAIL,
	  "203.0.113.10 may not send for example.com (postmaster)" },
	{ "203.0.113.10", "JOE@EXAMPLE.COM", "h.example", SPF_FAIL,
	  "203.0.113.10 may not send for EXAMPLE.COM (JOE)" },
	/* redirect: the target's exp=, not the original's */
	{ "203.0.113.10", "a@redir.example", "h.example", SPF_FAIL,
	  "203.0.113.10 may not send for example.com (a)" },
	{ "192.0.2.44", "a@redir.example", "h.example", SPF_PASS, NULL },
	{ "192.0.2.1", "a@redir-none.example", "h.example", SPF_PERMERROR,
	  NULL },
	/* qualifiers and defaults */
	{ "192.0.2.1", "a@soft.example", "h", SPF_SOFTFAIL, NULL },
	{ "192.0.2.1", "a@neutral.example", "h", SPF_NEUTRAL, NULL },
	{ "192.0.2.1", "a@plain.example", "h", SPF_NEUTRAL, NULL },
	{ "192.0.2.1", "a@pass.example", "h", SPF_PASS, NULL },
	/* records */
	{ "192.0.2.1", "a@bad.example", "h", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@two.example", "h", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@nospf.example", "h", SPF_NONE, NULL },
	{ "192.0.2.1", "a@nxdomain.example", "h", SPF_NONE, NULL },
	{ "192.0.2.1", "a@servfail.example", "h", SPF_TEMPERROR, NULL },
	{ "192.0.2.1", "a@timeout.example", "h", SPF_TEMPERROR, NULL },
	{ "192.0.2.1", "a@single-label", "h", SPF_NONE, NULL },
	{ "192.0.2.1", "a@[192.0.2.1]", "h", SPF_NONE, NULL },
	{ "192.0.2.1", "a@x..example", "h", SPF_NONE, NULL },
	/* include: a permerror inside is a permerror; none is permerror */
	{ "192.0.2.1", "a@inc-fail.example", "h", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@inc-none.example", "h", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@inc-temp.example", "h", SPF_TEMPERROR, NULL },
	{ "192.0.2.1", "a@loop.example", "h", SPF_PERMERROR, NULL },
	/* exists and ptr, with validated names only */
	{ "192.0.2.1", "a@exists.example", "h", SPF_PASS, NULL },
	{ "192.0.2.2", "a@exists.example", "h", SPF_FAIL, NULL },
	{ "192.0.2.5", "a@ptr.example", "h", SPF_PASS, NULL },
	{ "192.0.2.5", "a@ptr2.example", "h", SPF_PASS, NULL },
	{ "192.0.2.6", "a@ptr.example", "h", SPF_FAIL, NULL },
	{ "192.0.2.5", "a@pmacro.example", "h", SPF_FAIL,
	  "from good.host.ptr.example" },
	{ "192.0.2.6", "a@pmacro.example", "h", SPF_FAIL, "from unknown" },
	/* limits */
	{ "192.0.2.1", "a@many.example", "h", SPF_FAIL, NULL },
	{ "192.0.2.1", "a@toomany.example", "h", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@void2.example", "h", SPF_NEUTRAL, NULL },
	{ "192.0.2.1", "a@void3.example", "h", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@mx11.example", "h", SPF_PERMERROR, NULL },
	{ "192.0.2.1", "a@nullmx.example", "h", SPF_NEUTRAL, NULL },
	/* the null sender: postmaster@HELO */
	{ "192.0.2.77", "", "helo.example", SPF_PASS, NULL },
	{ "192.0.2.78", "", "helo.example", SPF_FAIL, NULL },
	{ "192.0.2.78", "", "[192.0.2.78]", SPF_NONE, NULL },
	/* dual CIDR */
	{ "198.51.100.1", "a@cidr.example", "h", SPF_PASS, NULL },
	{ "198.51.101.1", "a@cidr.example", "h", SPF_FAIL, NULL },
	{ "2001:db8:5:5::ffff", "a@cidr.example", "h", SPF_PASS, NULL },
	{ "2001:db8:5:6::1", "a@cidr.example", "h", SPF_FAIL, NULL },
};

struct eval_out {
	int		 calls;
	enum spf_result	 result;
	char		 exp[256];
	char		 problem[256];
	struct event_base *base;
};

static void
eval_done(void *arg, const struct spf_answer *ans)
{
	struct eval_out *o = arg;

	o->calls++;
	o->result = ans->result;
	snprintf(o->exp, sizeof(o->exp), "%s",
	    ans->explanation ? ans->explanation : "");
	snprintf(o->problem, sizeof(o->problem), "%s",
	    ans->problem ? ans->problem : "");
	if (o->base)
		event_base_loopbreak(o->base);
}

static int
run_case(size_t i, const struct eval_case *c, bool deferred)
{
	struct event_base *base = deferred ? event_base_new() : NULL;
	struct spf_request req;
	struct eval_out out;
	struct fake_dns f;
	struct spf_eval *ev;
	int bad = 0;

	fake_dns_init(&f, zone, sizeof(zone) / sizeof(zone[0]), base);
	memset(&req, 0, sizeof(req));
	assert_int_equal(spf_request_set_ip(&req, c->ip), 0);
	req.sender = c->sender;
	req.helo = c->helo;
	memset(&out, 0, sizeof(out));
	out.base = base;
	ev = spf_eval_start(fake_dns_resolver(&f), &req, eval_done, &out);
	if (deferred && ev != NULL)
		event_base_dispatch(base);
	if (!deferred && ev != NULL) {
		print_error("case %zu: synchronous answers left it running\n",
		    i);
		bad = 1;
	}
	if (out.calls != 1 || out.result != c->want ||
	    strcmp(out.exp, c->exp ? c->exp : "") != 0) {
		print_error("case %zu (%s, %s %s): got %d calls, %s '%s' (%s); "
		    "want %s '%s'\n", i, deferred ? "deferred" : "sync",
		    c->ip, c->sender, out.calls, spf_result_name(out.result),
		    out.exp, out.problem, spf_result_name(c->want),
		    c->exp ? c->exp : "");
		bad = 1;
	}
	if (fake_dns_fini(&f) != 0)
		bad = 1;
	if (base)
		event_base_free(base);
	return bad;
}

static void
test_eval_sync(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		bad += run_case(i, &cases[i], false);
	assert_int_equal(bad, 0);
}

static void
test_eval_deferred(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		bad += run_case(i, &cases[i], true);
	assert_int_equal(bad, 0);
}

/* cancelled in flight: no callback, the pending answers are withdrawn */
static void
test_eval_cancel(void **state)
{
	struct event_base *base = event_base_new();
	struct spf_request req;
	struct eval_out out;
	struct fake_dns f;
	struct spf_eval *ev;

	(void)state;
	fake_dns_init(&f, zone, sizeof(zone) / sizeof(zone[0]), base);
	memset(&req, 0, sizeof(req));
	spf_request_set_ip(&req, "198.51.100.2");
	req.sender = "joe@example.com";
	req.helo = "h.example";
	memset(&out, 0, sizeof(out));
	ev = spf_eval_start(fake_dns_resolver(&f), &req, eval_done, &out);
	assert_non_null(ev);
	/* run until two answers are due at once (the MX hosts), cancel */
	for (int i = 0; i < 20 && out.calls == 0; i++) {
		size_t n = 0;

		for (struct fake_dns_pending *p = f.pending; p; p = p->next)
			n++;
		if (n >= 2)
			break;
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	assert_int_equal(out.calls, 0);
	assert_non_null(f.pending);
	spf_eval_cancel(ev);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(out.calls, 0);
	assert_int_equal(fake_dns_fini(&f), 0);
	assert_true(f.cancels > 0);
	event_base_free(base);
}

/* lookups are counted and reported; so is the identity checked */
struct fields_out {
	unsigned	lookups, voids;
	char		identity[16], sender[64], domain[64];
};

static void
fields_done(void *arg, const struct spf_answer *ans)
{
	struct fields_out *o = arg;

	o->lookups = ans->lookups;
	o->voids = ans->void_lookups;
	snprintf(o->identity, sizeof(o->identity), "%s", ans->identity);
	snprintf(o->sender, sizeof(o->sender), "%s", ans->sender);
	snprintf(o->domain, sizeof(o->domain), "%s", ans->domain);
}

static void
test_eval_answer_fields(void **state)
{
	struct spf_request req;
	struct fields_out o;
	struct fake_dns f;

	(void)state;
	fake_dns_init(&f, zone, sizeof(zone) / sizeof(zone[0]), NULL);
	memset(&req, 0, sizeof(req));
	spf_request_set_ip(&req, "192.0.2.1");
	req.sender = NULL;
	req.helo = "many.example";
	memset(&o, 0, sizeof(o));
	assert_null(spf_eval_start(fake_dns_resolver(&f), &req, fields_done,
	    &o));
	assert_int_equal(o.lookups, 10);
	assert_string_equal(o.identity, "helo");
	assert_string_equal(o.sender, "postmaster@many.example");
	assert_string_equal(o.domain, "many.example");

	req.sender = "x@void2.example";
	assert_null(spf_eval_start(fake_dns_resolver(&f), &req, fields_done,
	    &o));
	assert_int_equal(o.voids, 2);
	assert_string_equal(o.identity, "mailfrom");
	assert_string_equal(o.sender, "x@void2.example");
	assert_int_equal(fake_dns_fini(&f), 0);
}

/* ---------------------------------------------------------------------
 * TXT answer shapes (RFC 7208 3.3 and 4.5): rdatas given octet by octet
 * through fake_dns's "rdata:HEX" rows, so the answer goes through the
 * resolver's own dns_answer_from_rdata() exactly as a libunbound answer
 * does. Every client sends 192.0.2.1.
 */

struct wire {
	uint8_t	 b[65536];
	size_t	 n;
};

static void
wire_raw(struct wire *w, const void *p, size_t len)
{
	assert_true(w->n + len <= sizeof(w->b));
	memcpy(w->b + w->n, p, len);
	w->n += len;
}

/* wire_str - one character-string: a length octet, then the octets */
static void
wire_str(struct wire *w, const char *s, size_t len)
{
	uint8_t l = (uint8_t)len;

	assert_true(len <= 255);
	wire_raw(w, &l, 1);
	wire_raw(w, s, len);
}

/* wire_fill - a character-string of len octets: text, padded with spaces
   (1*SP between terms, *SP at the end: RFC 7208 12) */
static void
wire_fill(struct wire *w, const char *head, size_t len, const char *tail)
{
	char s[256];

	assert_true(strlen(head) + strlen(tail) <= len && len <= 255);
	memset(s, ' ', len);
	memcpy(s, head, strlen(head));
	memcpy(s + len - strlen(tail), tail, strlen(tail));
	wire_str(w, s, len);
}

struct shapes {
	struct fake_dns_rec	 rec[64];
	char			*owned[64];
	size_t			 n;
};

/* shapes_add - one TXT record of name: the rdata in w, then w is reset */
static void
shapes_add(struct shapes *z, const char *name, struct wire *w)
{
	char *hex = malloc(6 + 2 * w->n + 1);

	assert_true(z->n < 64);
	memcpy(hex, "rdata:", 6);
	for (size_t i = 0; i < w->n; i++)
		sprintf(hex + 6 + 2 * i, "%02x", w->b[i]);
	hex[6 + 2 * w->n] = '\0';
	z->owned[z->n] = hex;
	z->rec[z->n++] = (struct fake_dns_rec){ name, DNS_T_TXT, hex };
	w->n = 0;
}

/* shapes_txt - one TXT record holding one character-string */
static void
shapes_txt(struct shapes *z, const char *name, const char *text)
{
	struct wire *w = calloc(1, sizeof(*w));

	wire_str(w, text, strlen(text));
	shapes_add(z, name, w);
	free(w);
}

static void
shapes_build(struct shapes *z)
{
	struct wire *w = calloc(1, sizeof(*w));
	static const uint8_t overrun[] = { 10, 'a', 'b', 'c' };
	static const uint8_t spf_overrun[] = { 11, 'v', '=', 's', 'p', 'f',
	    '1', ' ', '+', 'a', 'l', 'l', 5, 'x' };
	static const uint8_t pointer[] = { 4, 'x', 0xc0, 0x0c, 'y' };
	static const uint8_t nul_spf[] = { 12, 'v', '=', 's', 'p', 'f', '1',
	    ' ', '+', 'a', 'l', 'l', 0 };
	static const uint8_t nul_other[] = { 6, 'h', 'e', 'l', 'l', 'o', 0 };

	memset(z, 0, sizeof(*z));
	/* 3.3: strings joined with nothing between them, even mid-token */
	wire_str(w, "v=spf1 ip4:192.0.2.", 19);
	wire_str(w, "1 -all", 6);
	shapes_add(z, "split.example", w);
	wire_str(w, "v=sp", 4);
	wire_str(w, "f1 +all", 7);
	shapes_add(z, "split-version.example", w);
	wire_str(w, "v=spf1", 6);
	wire_str(w, "+all", 4);
	shapes_add(z, "split-nospace.example", w);
	/* 3.3 and RFC 1035 3.3.14: empty character-strings add nothing */
	wire_str(w, "", 0);
	wire_str(w, "v=spf1 +all", 11);
	wire_str(w, "", 0);
	wire_str(w, "", 0);
	shapes_add(z, "empty-strings.example", w);
	wire_str(w, "", 0);
	shapes_add(z, "zero-only.example", w);
	/* an empty rdata (no string at all) is no record, not an error */
	shapes_add(z, "empty-rdata.example", w);
	shapes_txt(z, "empty-rdata.example", "v=spf1 +all");
	shapes_add(z, "empty-rdata-only.example", w);
	/* strings of 255 octets, the longest there is */
	wire_fill(w, "v=spf1", 255, "+all");
	shapes_add(z, "s255.example", w);
	wire_fill(w, "v=spf1", 255, "");
	wire_fill(w, "", 255, "+all");
	wire_fill(w, "", 1, "");
	shapes_add(z, "s255x2.example", w);
	/* strings of every length 0..255 in one record */
	wire_str(w, "", 0);
	wire_str(w, "v=spf1", 6);
	for (size_t len = 1; len <= 255; len++)
		if (len != 6)
			wire_fill(w, "", len, len == 255 ? "+all" : "");
	shapes_add(z, "lengths.example", w);
	/* 2000 one-octet strings */
	for (size_t i = 0; i < 2000; i++) {
		static const char text[] = "v=spf1 -all";

		wire_str(w, i < 6 ? &text[i] : i < 1996 ? " " :
		    &text[7 + i - 1996], 1);
	}
	shapes_add(z, "many.example", w);
	/* the largest rdata: 65535 octets, 255 strings of 255 and one of
	   254, ip4 terms all the way and the client's address last */
	for (size_t i = 0; i < 256; i++) {
		char head[32];

		snprintf(head, sizeof(head), "%sip4:198.51.100.%zu",
		    i == 0 ? "v=spf1 " : "", i % 250);
		wire_fill(w, head, i < 255 ? 255 : 254, i < 255 ? " " :
		    "ip4:192.0.2.1 -all");
	}
	assert_int_equal(w->n, 65535);
	shapes_add(z, "max.example", w);
	/* 4.5: "v=spf1" then SP or the end, any case; others discarded */
	shapes_txt(z, "spf10.example", "v=spf10 +all");
	shapes_txt(z, "upper.example", "V=SPF1 +all");
	shapes_txt(z, "tab.example", "v=spf1\t+all");
	shapes_txt(z, "leading-space.example", " v=spf1 +all");
	shapes_txt(z, "version-only.example", "v=spf1");
	shapes_txt(z, "mixed.example", "hello");
	shapes_txt(z, "mixed.example", "v=spf10 -all");
	shapes_txt(z, "mixed.example", "v=DMARC1; p=reject");
	shapes_txt(z, "mixed.example", "spf1 -all");
	shapes_txt(z, "mixed.example", "v=spf1 +all");
	/* 4.5: two records, whatever their string split: permerror */
	shapes_txt(z, "two.example", "v=spf1 -all");
	wire_str(w, "v=spf1", 6);
	wire_str(w, " +all", 5);
	shapes_add(z, "two.example", w);
	/* a malformed rdata (length octet past the end) is dropped: the
	   SPF record beside it still counts, and it is no second record */
	wire_raw(w, overrun, sizeof(overrun));
	shapes_add(z, "overrun.example", w);
	shapes_txt(z, "overrun.example", "v=spf1 +all");
	wire_raw(w, spf_overrun, sizeof(spf_overrun));
	shapes_add(z, "overrun-spf.example", w);
	shapes_txt(z, "overrun-spf.example", "v=spf1 -all");
	wire_raw(w, overrun, sizeof(overrun));
	shapes_add(z, "overrun-only.example", w);
	/* octets that look like a compression pointer are just text */
	wire_raw(w, pointer, sizeof(pointer));
	shapes_add(z, "pointer.example", w);
	shapes_txt(z, "pointer.example", "v=spf1 +all");
	/* a NUL in the SPF record is a syntax error (4.6); in another
	   record it does not matter */
	wire_raw(w, nul_spf, sizeof(nul_spf));
	shapes_add(z, "nul-spf.example", w);
	wire_raw(w, nul_other, sizeof(nul_other));
	shapes_add(z, "nul-other.example", w);
	shapes_txt(z, "nul-other.example", "v=spf1 +all");
	free(w);
}

static const struct {
	const char	*domain;
	enum spf_result	 want;
	const char	*why;
} shape_cases[] = {
	{ "split.example", SPF_PASS, "3.3: joined without spaces" },
	{ "split-version.example", SPF_PASS, "3.3: even inside v=spf1" },
	{ "split-nospace.example", SPF_NONE, "3.3, 4.5: v=spf1+all" },
	{ "empty-strings.example", SPF_PASS, "3.3: empty strings" },
	{ "zero-only.example", SPF_NONE, "4.5: one empty string" },
	{ "empty-rdata.example", SPF_PASS, "4.5: empty rdata beside" },
	{ "empty-rdata-only.example", SPF_NONE, "4.5: only empty rdata" },
	{ "s255.example", SPF_PASS, "3.3: a 255-octet string" },
	{ "s255x2.example", SPF_PASS, "3.3: 255+255+1 octets" },
	{ "lengths.example", SPF_PASS, "3.3: every length 0..255" },
	{ "many.example", SPF_FAIL, "3.3: 2000 one-octet strings" },
	{ "max.example", SPF_PASS, "3.3: a 65535-octet rdata" },
	{ "spf10.example", SPF_NONE, "4.5: v=spf10 discarded" },
	{ "upper.example", SPF_PASS, "4.5, 12: V=SPF1 (ABNF: any case)" },
	{ "tab.example", SPF_NONE, "4.5: version ends with SP or end" },
	{ "leading-space.example", SPF_NONE, "4.5: must begin v=spf1" },
	{ "version-only.example", SPF_NEUTRAL, "4.5, 4.7: v=spf1 alone" },
	{ "mixed.example", SPF_PASS, "4.5: non-SPF records discarded" },
	{ "two.example", SPF_PERMERROR, "4.5: two SPF records" },
	{ "overrun.example", SPF_PASS, "malformed rdata beside" },
	{ "overrun-spf.example", SPF_FAIL, "malformed SPF-like rdata" },
	{ "overrun-only.example", SPF_TEMPERROR, "only malformed rdata" },
	{ "pointer.example", SPF_PASS, "0xc0 0x0c inside a TXT string" },
	{ "nul-spf.example", SPF_PERMERROR, "4.6: NUL in the record" },
	{ "nul-other.example", SPF_PASS, "4.5: NUL in another record" },
	{ "nothing.example", SPF_NONE, "4.3: NXDOMAIN" },
};

static void
test_eval_txt_shapes(void **state)
{
	struct shapes *z = calloc(1, sizeof(*z));
	int bad = 0;

	(void)state;
	shapes_build(z);
	for (int deferred = 0; deferred < 2; deferred++) {
		for (size_t i = 0; i < sizeof(shape_cases) /
		    sizeof(shape_cases[0]); i++) {
			struct event_base *base = deferred ?
			    event_base_new() : NULL;
			struct spf_request req;
			struct eval_out out;
			struct fake_dns f;
			char sender[80];
			struct spf_eval *ev;

			fake_dns_init(&f, z->rec, z->n, base);
			memset(&req, 0, sizeof(req));
			spf_request_set_ip(&req, "192.0.2.1");
			snprintf(sender, sizeof(sender), "a@%s",
			    shape_cases[i].domain);
			req.sender = sender;
			req.helo = "h.example";
			memset(&out, 0, sizeof(out));
			out.base = base;
			ev = spf_eval_start(fake_dns_resolver(&f), &req,
			    eval_done, &out);
			if (deferred && ev != NULL)
				event_base_dispatch(base);
			if (out.calls != 1 ||
			    out.result != shape_cases[i].want) {
				print_error("%s (%s, %s): got %d calls, %s "
				    "(%s); want %s\n", shape_cases[i].domain,
				    shape_cases[i].why, deferred ? "deferred" :
				    "sync", out.calls,
				    spf_result_name(out.result), out.problem,
				    spf_result_name(shape_cases[i].want));
				bad++;
			}
			if (fake_dns_fini(&f) != 0)
				bad++;
			if (base)
				event_base_free(base);
		}
	}
	for (size_t i = 0; i < z->n; i++)
		free(z->owned[i]);
	free(z);
	assert_int_equal(bad, 0);
}

/* a malformed address is refused before anything starts */
static void
test_eval_bad_ip(void **state)
{
	struct spf_request req;

	(void)state;
	memset(&req, 0, sizeof(req));
	assert_int_equal(spf_request_set_ip(&req, "192.0.2"), -1);
	assert_int_equal(spf_request_set_ip(&req, "::g"), -1);
	assert_int_equal(spf_request_set_ip(&req, ""), -1);
	assert_int_equal(spf_request_set_ip(&req, "::ffff:10.1.2.3"), 0);
	assert_int_equal(req.family, AF_INET);
	assert_memory_equal(req.ip, "\x0a\x01\x02\x03", 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval_sync),
		cmocka_unit_test(test_eval_deferred),
		cmocka_unit_test(test_eval_cancel),
		cmocka_unit_test(test_eval_answer_fields),
		cmocka_unit_test(test_eval_txt_shapes),
		cmocka_unit_test(test_eval_bad_ip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
