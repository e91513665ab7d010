/* SPDX-License-Identifier: ISC */
/*
 * test_dkim_canon.c - the pure canonicalizations of RFC 6376 3.4 (the
 * examples of 3.4.5, empty bodies and their known hashes, WSP and
 * trailing-line rules), the bottom-up header selection of 5.4.2, the
 * header splitter (msgauth_hdr.c) and the From: domain reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "msgauth/dkim.h"
#include "msgauth/msgauth_hdr.h"

static void
sink_buf(void *arg, const void *p, size_t n)
{
	buf_append(arg, p, n);
}

static char *
body(enum dkim_canon c, const char *in, struct buf *b)
{
	buf_reset(b);
	dkim_canon_body(c, str_cstr(in), sink_buf, b);
	return (char *)buf_cstr(b);
}

static void
test_body(void **state)
{
	static const struct {
		const char	*in;
		const char	*simple;
		const char	*relaxed;
	} cases[] = {
		{ "", "\r\n", "" },
		{ "\r\n", "\r\n", "" },
		{ "\r\n\r\n\r\n", "\r\n", "" },
		{ "a", "a\r\n", "a\r\n" },
		{ "a\r\n", "a\r\n", "a\r\n" },
		{ "a\r\n\r\n\r\n", "a\r\n", "a\r\n" },
		{ "a \r\n", "a \r\n", "a\r\n" },
		{ "a\r\n\r\nb", "a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n" },
		{ " a  b \r\n\t\r\nc\t\r\n\r\n", " a  b \r\n\t\r\nc\t\r\n",
		  " a b\r\n\r\nc\r\n" },
		{ "a\t \tb", "a\t \tb\r\n", "a b\r\n" },
		{ " \r\n \r\n", " \r\n \r\n", "" },
		{ "x\r\n \r\n", "x\r\n \r\n", "x\r\n" },
		/* bare CR and LF are plain octets */
		{ "a\nb\rc", "a\nb\rc\r\n", "a\nb\rc\r\n" },
		/* RFC 6376 3.4.5 */
		{ " C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n",
		  " C\r\nD E\r\n" },
	};
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(body(DKIM_CANON_SIMPLE, cases[i].in, &b),
		    cases[i].simple) != 0)
			fail_msg("simple %zu: got '%s'", i, buf_cstr(&b));
		if (strcmp(body(DKIM_CANON_RELAXED, cases[i].in, &b),
		    cases[i].relaxed) != 0)
			fail_msg("relaxed %zu: got '%s'", i, buf_cstr(&b));
	}
	buf_fini(&b);
}

/* bodies longer than the sink's chunk come out whole */
static void
test_body_long(void **state)
{
	struct buf in, out;

	(void)state;
	buf_init(&in, 0);
	buf_init(&out, 0);
	for (int i = 0; i < 5000; i++)
		buf_puts(&in, "line  of\ttext \r\n");
	dkim_canon_body(DKIM_CANON_RELAXED, buf_str(&in), sink_buf, &out);
	assert_int_equal(out.len, 5000 * strlen("line of text\r\n"));
	buf_reset(&out);
	dkim_canon_body(DKIM_CANON_SIMPLE, buf_str(&in), sink_buf, &out);
	assert_int_equal(out.len, in.len);
	assert_memory_equal(out.data, in.data, in.len);
	buf_fini(&in);
	buf_fini(&out);
}

static void
sink_sha(void *arg, const void *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
}

/* the body hashes of an empty body, as every implementation has them */
static void
test_empty_body_hash(void **state)
{
	static const char *want[2] = {
		"frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=",
		"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
	};
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hl;
	struct buf b;

	(void)state;
	for (int c = 0; c < 2; c++) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		dkim_canon_body(c ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE,
		    STR(""), sink_sha, ctx);
		EVP_DigestFinal_ex(ctx, h, &hl);
		EVP_MD_CTX_free(ctx);
		buf_init(&b, 0);
		dkim_b64_encode(h, hl, &b);
		assert_string_equal(buf_cstr(&b), want[c]);
		buf_fini(&b);
	}
}

static void
test_header(void **state)
{
	static const struct {
		const char	*in;
		const char	*relaxed;
	} cases[] = {
		/* RFC 6376 3.4.5 */
		{ "A: X", "a:X" },
		{ "B : Y\t\r\n\tZ  ", "b:Y Z" },
		{ "Subject:  Hello   World", "subject:Hello World" },
		{ "SUBJECT:\r\n x", "subject:x" },
		{ "To:a,\r\n\tb", "to:a, b" },
		{ "X-Empty:", "x-empty:" },
		{ "X-Empty: \t ", "x-empty:" },
		{ "no colon here", "nocolonhere" },
	};
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		assert_int_equal(dkim_canon_header(DKIM_CANON_RELAXED,
		    str_cstr(cases[i].in), &b), 0);
		if (strcmp(buf_cstr(&b), cases[i].relaxed) != 0)
			fail_msg("relaxed %zu: got '%s'", i, buf_cstr(&b));
		buf_reset(&b);
		assert_int_equal(dkim_canon_header(DKIM_CANON_SIMPLE,
		    str_cstr(cases[i].in), &b), 0);
		assert_string_equal(buf_cstr(&b), cases[i].in);
	}
	buf_fini(&b);
}

/* 5.4.2: the last unused instance first; missing ones add nothing */
static void
test_headers_bottom_up(void **state)
{
	static const char msg[] = "X: 1\r\nY: y\r\nx: 2\r\nZ: z\r\n\r\nbody";
	const struct str names[] = { STR("x"), STR("X"), STR("x"), STR("z"),
	    STR("missing"), STR("y") };
	struct msgauth_hdr h;
	struct buf b;

	(void)state;
	msgauth_hdr_parse(msg, sizeof(msg) - 1, &h);
	buf_init(&b, 0);
	assert_int_equal(dkim_canon_headers(&h, names, 6, DKIM_CANON_RELAXED,
	    &b), 0);
	assert_string_equal(buf_cstr(&b), "x:2\r\nx:1\r\nz:z\r\ny:y\r\n");
	buf_reset(&b);
	assert_int_equal(dkim_canon_headers(&h, names, 2, DKIM_CANON_SIMPLE,
	    &b), 0);
	assert_string_equal(buf_cstr(&b), "x: 2\r\nX: 1\r\n");
	buf_fini(&b);
	msgauth_hdr_fini(&h);
}

static void
test_hdr_parse(void **state)
{
	static const char msg[] = "From: a@b.example\r\nSubject: one\r\n"
	    "\ttwo\r\nX-Bad\r\nTo : c@d\r\n\r\nbody\r\n\r\nmore";
	struct msgauth_hdr h;

	(void)state;
	msgauth_hdr_parse(msg, sizeof(msg) - 1, &h);
	assert_int_equal(h.n, 4);
	assert_true(str_eq(h.f[0].name, STR("From")));
	assert_true(str_eq(h.f[0].value, STR(" a@b.example")));
	assert_true(str_eq(h.f[1].raw, STR("Subject: one\r\n\ttwo")));
	assert_true(str_eq(h.f[2].name, STR("X-Bad")));
	assert_true(str_eq(h.f[3].name, STR("To")));
	assert_true(h.has_body);
	assert_true(str_eq(h.body, STR("body\r\n\r\nmore")));
	assert_int_equal(msgauth_hdr_count(&h, "from"), 1);
	assert_int_equal(msgauth_hdr_count(&h, "cc"), 0);
	msgauth_hdr_fini(&h);

	/* no empty line: all header, empty body; nothing at all */
	msgauth_hdr_parse("From: x@y\r\n", 11, &h);
	assert_int_equal(h.n, 1);
	assert_false(h.has_body);
	assert_int_equal(h.body.len, 0);
	msgauth_hdr_fini(&h);
	msgauth_hdr_parse("", 0, &h);
	assert_int_equal(h.n, 0);
	msgauth_hdr_fini(&h);
	msgauth_hdr_parse("\r\nbody", 6, &h);
	assert_int_equal(h.n, 0);
	assert_true(str_eq(h.body, STR("body")));
	msgauth_hdr_fini(&h);
}

static void
test_from_domains(void **state)
{
	static const struct {
		const char	*in;
		int		 n;
		const char	*first;
		const char	*second;
	} cases[] = {
		{ " joe@example.com", 1, "example.com", NULL },
		{ " Joe <joe@example.com>", 1, "example.com", NULL },
		{ " \"Joe @ home\" <joe@Example.COM>", 1, "Example.COM", NULL },
		{ " joe@example.com (Joe, at <home>)", 1, "example.com", NULL },
		{ " (comment) <joe@example.com>", 1, "example.com", NULL },
		{ " a@one.example, B <b@two.example>", 2, "one.example",
		  "two.example" },
		{ " group: a@one.example, b@two.example;", 2, "one.example",
		  "two.example" },
		{ " undisclosed-recipients:;", 0, NULL, NULL },
		{ " \"x@evil.example\" <joe@example.com>", 1, "example.com",
		  NULL },
		{ "\r\n joe@example.com", 1, "example.com", NULL },
		{ " joe", -1, NULL, NULL },
		{ " <joe>", -1, NULL, NULL },
		{ " joe@", -1, NULL, NULL },
		{ " Joe <joe@example.com", -1, NULL, NULL },
		{ " \"unterminated <a@b.c>", -1, NULL, NULL },
		{ " (unterminated a@b.c", -1, NULL, NULL },
		{ "", 0, NULL, NULL },
	};
	struct str d[4];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = msgauth_hdr_domains(str_cstr(cases[i].in), d, 4);

		if (n != cases[i].n)
			fail_msg("from %zu '%s': got %d domains, want %d", i,
			    cases[i].in, n, cases[i].n);
		if (n > 0 && !str_eq(d[0], str_cstr(cases[i].first)))
			fail_msg("from %zu: got '%.*s'", i, STR_FMT(d[0]));
		if (n > 1 && !str_eq(d[1], str_cstr(cases[i].second)))
			fail_msg("from %zu: got '%.*s'", i, STR_FMT(d[1]));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_body_long),
		cmocka_unit_test(test_empty_body_hash),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_headers_bottom_up),
		cmocka_unit_test(test_hdr_parse),
		cmocka_unit_test(test_from_domains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
