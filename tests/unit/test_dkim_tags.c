/* SPDX-License-Identifier: ISC */
/*
 * test_dkim_tags.c - table-driven tests of the pure DKIM parsers: the
 * tag-list (RFC 6376 3.2) with FWS and malformed lists, base64 with
 * folding, DKIM-Signature values (3.5: required tags, a=, c=, q=, i= in
 * d=, From in h=, numbers) and key records (3.6.1: v= first, k=, h=, s=,
 * t=, revoked keys), each with malformed input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msgauth/dkim.h"

struct tags_case {
	const char	*in;
	int		 want;
	size_t		 n;
	const char	*last_name;
	const char	*last_value;
};

static const struct tags_case tags_cases[] = {
	{ "v=1", 0, 1, "v", "1" },
	{ "v=1;", 0, 1, "v", "1" },
	{ "v=1; ", 0, 1, "v", "1" },
	{ " v = 1 ; a = b ", 0, 2, "a", "b" },
	{ "a=;b=", 0, 2, "b", "" },
	{ "a=b c", 0, 1, "a", "b c" },
	{ "a=b\r\n c;", 0, 1, "a", "b\r\n c" },
	{ "\r\n\ta=b;\r\n c=d\r\n\t;", 0, 2, "c", "d" },
	{ "x_1=y", 0, 1, "x_1", "y" },
	{ "A=1; a=2", 0, 2, "a", "2" },		/* names are case-sensitive */
	{ "h=from : to", 0, 1, "h", "from : to" },
	{ "p=", 0, 1, "p", "" },
	/* malformed */
	{ "", -1, 0, NULL, NULL },
	{ " ", -1, 0, NULL, NULL },
	{ ";", -1, 0, NULL, NULL },
	{ "a=1;;b=2", -1, 0, NULL, NULL },
	{ "a=1;;", -1, 0, NULL, NULL },
	{ "=1", -1, 0, NULL, NULL },
	{ "1a=1", -1, 0, NULL, NULL },
	{ "_a=1", -1, 0, NULL, NULL },
	{ "a", -1, 0, NULL, NULL },
	{ "a:1", -1, 0, NULL, NULL },
	{ "a-b=1", -1, 0, NULL, NULL },
	{ "a=1; a=2", -1, 0, NULL, NULL },
	{ "a=b\rc", -1, 0, NULL, NULL },
	{ "a=b\nc", -1, 0, NULL, NULL },
	{ "a=b\r\nc", -1, 0, NULL, NULL },
	{ "a=b\x7f", -1, 0, NULL, NULL },
	{ "a=\xc3\xa9", -1, 0, NULL, NULL },
};

static void
test_tags_table(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(tags_cases) / sizeof(tags_cases[0]);
	    i++) {
		const struct tags_case *c = &tags_cases[i];
		struct dkim_tags t;
		struct err err;
		int r = dkim_tags_parse(str_cstr(c->in), &t, &err);

		if (r != c->want) {
			print_error("tags %zu '%s': got %d, want %d\n", i,
			    c->in, r, c->want);
			bad++;
			continue;
		}
		if (r == -1)
			continue;
		if (t.n != c->n ||
		    !str_eq(t.tag[t.n - 1].name, str_cstr(c->last_name)) ||
		    !str_eq(t.tag[t.n - 1].value, str_cstr(c->last_value))) {
			print_error("tags %zu '%s': got %zu, last '%.*s'='%.*s'"
			    "\n", i, c->in, t.n, STR_FMT(t.tag[t.n - 1].name),
			    STR_FMT(t.tag[t.n - 1].value));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void
test_tags_limit(void **state)
{
	char in[2048];
	size_t o = 0;
	struct dkim_tags t;

	(void)state;
	for (int i = 0; i < DKIM_TAGS_MAX; i++)
		o += (size_t)snprintf(in + o, sizeof(in) - o, "t%d=x;", i);
	assert_int_equal(dkim_tags_parse(str_cstr(in), &t, NULL), 0);
	assert_int_equal(t.n, DKIM_TAGS_MAX);
	snprintf(in + o, sizeof(in) - o, "one=more");
	assert_int_equal(dkim_tags_parse(str_cstr(in), &t, NULL), -1);
}

static void
test_b64(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;	/* NULL: malformed */
	} cases[] = {
		{ "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" },
		{ "Zm9vYg==", "foob" }, { "Zm 9v\r\n Yg ==", "foob" },
		{ "Zm9vYg", "foob" }, { "Zg", "f" },
		{ "Z", NULL }, { "Zm9v=", NULL }, { "Zg===", NULL },
		{ "Zg=a", NULL }, { "Zm9v!", NULL }, { "Zm-v", NULL },
	};
	uint8_t out[64];
	size_t n;
	struct buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = dkim_b64_decode(str_cstr(cases[i].in), out,
		    sizeof(out), &n);

		if (cases[i].out == NULL) {
			if (r != -1)
				fail_msg("b64 '%s': accepted", cases[i].in);
			continue;
		}
		if (r != 0 || n != strlen(cases[i].out) ||
		    memcmp(out, cases[i].out, n) != 0)
			fail_msg("b64 '%s': got %d", cases[i].in, r);
	}
	assert_int_equal(dkim_b64_decode(STR("Zm9vYmFy"), out, 5, &n), -1);
	buf_init(&b, 0);
	assert_int_equal(dkim_b64_encode("foob", 4, &b), 0);
	assert_string_equal(buf_cstr(&b), "Zm9vYg==");
	buf_reset(&b);
	assert_int_equal(dkim_b64_encode("fooba", 5, &b), 0);
	assert_string_equal(buf_cstr(&b), "Zm9vYmE=");
	buf_fini(&b);
}

/* ------------------------------------------------------------------ */

#define SIG_OK	"v=1; a=rsa-sha256; d=example.com; s=sel; h=from:to; " \
		"bh=Zm9v; b=YmFy"

struct sig_case {
	const char	*in;
	int		 want;
	const char	*why;		/* part of the error, or NULL */
};

static const struct sig_case sig_cases[] = {
	{ SIG_OK, 0, NULL },
	{ SIG_OK "; c=relaxed/relaxed; q=dns/txt; i=joe@example.com; "
	  "l=10; t=100; x=200; z=From:joe", 0, NULL },
	{ SIG_OK "; i=@sub.example.com", 0, NULL },
	{ SIG_OK "; i=joe@SUB.Example.COM", 0, NULL },
	{ SIG_OK "; c=simple", 0, NULL },
	{ SIG_OK "; q=other:dns/txt", 0, NULL },
	{ "v=1; a=ed25519-sha256; d=example.com; s=sel; h=From; bh=Zm9v; "
	  "b=YmFy", 0, NULL },
	{ "v=1; a=rsa-sha1; d=example.com; s=sel; h=from; bh=Zm9v; b=YmFy",
	  0, NULL },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=to :\r\n from; bh=Zm9v; "
	  "b=Ym\r\n Fy", 0, NULL },
	/* missing tags */
	{ "a=rsa-sha256; d=example.com; s=sel; h=from; bh=Zm9v; b=YmFy", -1,
	  "missing v=" },
	{ "v=1; d=example.com; s=sel; h=from; bh=Zm9v; b=YmFy", -1,
	  "missing a=" },
	{ "v=1; a=rsa-sha256; s=sel; h=from; bh=Zm9v; b=YmFy", -1,
	  "missing d=" },
	{ "v=1; a=rsa-sha256; d=example.com; h=from; bh=Zm9v; b=YmFy", -1,
	  "missing s=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; bh=Zm9v; b=YmFy", -1,
	  "missing h=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; b=YmFy", -1,
	  "missing bh=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=Zm9v", -1,
	  "missing b=" },
	/* bad values */
	{ "v=2; a=rsa-sha256; d=example.com; s=sel; h=from; bh=Zm9v; b=YmFy",
	  -1, "version" },
	{ "v=1; a=rsa-md5; d=example.com; s=sel; h=from; bh=Zm9v; b=YmFy",
	  -1, "algorithm" },
	{ SIG_OK "; c=fancy", -1, "canonicalization" },
	{ SIG_OK "; c=relaxed/fancy", -1, "canonicalization" },
	{ SIG_OK "; q=http", -1, "dns/txt" },
	{ SIG_OK "; i=joe@other.com", -1, "i=" },
	{ SIG_OK "; i=joe@badexample.com", -1, "i=" },
	{ SIG_OK "; i=joe", -1, "i=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=to:subject; bh=Zm9v; "
	  "b=YmFy", -1, "From" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from::to; bh=Zm9v; "
	  "b=YmFy", -1, "h=" },
	{ SIG_OK "; l=ten", -1, "l=" },
	{ SIG_OK "; l=-1", -1, "l=" },
	{ SIG_OK "; l=99999999999999999999999", -1, "l=" },
	{ SIG_OK "; t=x", -1, "t=" },
	{ SIG_OK "; t=200; x=100", -1, "x=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=Zm9v; b=Y!Fy",
	  -1, "b=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=; b=YmFy",
	  -1, "bh=" },
	{ "v=1; a=rsa-sha256; d=exa mple.com; s=sel; h=from; bh=Zm9v; b=YmFy",
	  -1, "d=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=s/el; h=from; bh=Zm9v; b=YmFy",
	  -1, "s=" },
	{ SIG_OK "; v=1", -1, "duplicate" },
	{ SIG_OK ";;", -1, NULL },
};

static void
test_sig_table(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(sig_cases) / sizeof(sig_cases[0]); i++) {
		const struct sig_case *c = &sig_cases[i];
		struct dkim_sig sig;
		struct err err;
		int r;

		err.msg[0] = '\0';
		r = dkim_sig_parse(str_cstr(c->in), &sig, &err);
		if (r != c->want || (c->why && strstr(err.msg, c->why) ==
		    NULL)) {
			print_error("sig %zu '%s': got %d '%s', want %d '%s'\n",
			    i, c->in, r, err.msg, c->want,
			    c->why ? c->why : "");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void
test_sig_fields(void **state)
{
	struct dkim_sig sig;
	const char *in = "v=1; a=ed25519-sha256; c=relaxed; d=Example.com; "
	    "s=2024._sel; h=from : to:from; i=@example.com; l=12; t=5; x=9; "
	    "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=Ym Fy";

	(void)state;
	assert_int_equal(dkim_sig_parse(str_cstr(in), &sig, NULL), 0);
	assert_int_equal(sig.alg, DKIM_ALG_ED25519_SHA256);
	assert_int_equal(sig.hcanon, DKIM_CANON_RELAXED);
	assert_int_equal(sig.bcanon, DKIM_CANON_SIMPLE);
	assert_true(str_eq(sig.d, STR("Example.com")));
	assert_true(str_eq(sig.s, STR("2024._sel")));
	assert_true(str_eq(sig.i, STR("@example.com")));
	assert_int_equal(sig.nhdrs, 3);
	assert_true(str_eq(sig.hdrs[0], STR("from")));
	assert_true(str_eq(sig.hdrs[1], STR("to")));
	assert_true(sig.has_l && sig.l == 12);
	assert_true(sig.has_t && sig.t == 5 && sig.has_x && sig.x == 9);
	assert_int_equal(sig.bh_len, 32);
	assert_int_equal(sig.b_len, 3);
	assert_memory_equal(sig.b, "bar", 3);
	assert_true(str_eq(sig.b_raw, STR("Ym Fy")));
}

/* ------------------------------------------------------------------ */

struct key_case {
	const char	*in;
	int		 want;
	enum dkim_keytype type;
	size_t		 p_len;
	bool		 sha1, sha256, email, testing, strict;
};

#define P32	"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

static const struct key_case key_cases[] = {
	{ "p=" P32, 0, DKIM_KEY_RSA, 32, true, true, true, false, false },
	{ "v=DKIM1; k=ed25519; p=" P32, 0, DKIM_KEY_ED25519, 32, true, true,
	  true, false, false },
	{ "v=DKIM1; k=rsa; h=sha256; p=" P32, 0, DKIM_KEY_RSA, 32, false,
	  true, true, false, false },
	{ "h=sha1:sha256; p=" P32, 0, DKIM_KEY_RSA, 32, true, true, true,
	  false, false },
	{ "h=sha1; p=" P32, 0, DKIM_KEY_RSA, 32, true, false, true, false,
	  false },
	{ "s=email; p=" P32, 0, DKIM_KEY_RSA, 32, true, true, true, false,
	  false },
	{ "s=*; p=" P32, 0, DKIM_KEY_RSA, 32, true, true, true, false, false },
	{ "s=other; p=" P32, 0, DKIM_KEY_RSA, 32, true, true, false, false,
	  false },
	{ "s=other:email; p=" P32, 0, DKIM_KEY_RSA, 32, true, true, true,
	  false, false },
	{ "t=y; p=" P32, 0, DKIM_KEY_RSA, 32, true, true, true, true, false },
	{ "t=s; p=" P32, 0, DKIM_KEY_RSA, 32, true, true, true, false, true },
	{ "t=y:s:unknown; p=" P32, 0, DKIM_KEY_RSA, 32, true, true, true, true,
	  true },
	{ "n=notes here; g=*; p=" P32, 0, DKIM_KEY_RSA, 32, true, true, true,
	  false, false },
	{ "v=DKIM1; p=", 0, DKIM_KEY_RSA, 0, true, true, true, false, false },
	/* malformed or unusable */
	{ "v=DKIM1; k=rsa", -1, 0, 0, 0, 0, 0, 0, 0 },
	{ "k=rsa; v=DKIM1; p=" P32, -1, 0, 0, 0, 0, 0, 0, 0 },
	{ "v=DKIM2; p=" P32, -1, 0, 0, 0, 0, 0, 0, 0 },
	{ "v=dkim1; p=" P32, -1, 0, 0, 0, 0, 0, 0, 0 },
	{ "k=dsa; p=" P32, -1, 0, 0, 0, 0, 0, 0, 0 },
	{ "p=!!!!", -1, 0, 0, 0, 0, 0, 0, 0 },
	{ "p=" P32 "; p=" P32, -1, 0, 0, 0, 0, 0, 0, 0 },
	{ "v=DKIM1; bogus", -1, 0, 0, 0, 0, 0, 0, 0 },
	{ "", -1, 0, 0, 0, 0, 0, 0, 0 },
};

static void
test_key_table(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *c = &key_cases[i];
		struct dkim_key k;
		struct err err;
		int r = dkim_key_parse(str_cstr(c->in), &k, &err);

		if (r != c->want) {
			print_error("key %zu '%s': got %d, want %d\n", i,
			    c->in, r, c->want);
			bad++;
			continue;
		}
		if (r == -1)
			continue;
		if (k.type != c->type || k.p_len != c->p_len ||
		    k.sha1_ok != c->sha1 || k.sha256_ok != c->sha256 ||
		    k.email_ok != c->email || k.testing != c->testing ||
		    k.strict != c->strict) {
			print_error("key %zu '%s': fields differ\n", i, c->in);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void
test_names(void **state)
{
	enum dkim_alg a;
	enum dkim_canon h, b;

	(void)state;
	assert_string_equal(dkim_result_name(DKIM_PERMERROR), "permerror");
	assert_string_equal(dkim_result_name((enum dkim_result)77),
	    "permerror");
	assert_string_equal(dkim_alg_name(DKIM_ALG_ED25519_SHA256),
	    "ed25519-sha256");
	assert_int_equal(dkim_alg_parse(STR("RSA-SHA256"), &a), 0);
	assert_int_equal(a, DKIM_ALG_RSA_SHA256);
	assert_int_equal(dkim_alg_parse(STR("rsa"), &a), -1);
	assert_int_equal(dkim_canon_parse(STR("simple/relaxed"), &h, &b), 0);
	assert_true(h == DKIM_CANON_SIMPLE && b == DKIM_CANON_RELAXED);
	assert_int_equal(dkim_canon_parse(STR("relaxed"), &h, &b), 0);
	assert_true(h == DKIM_CANON_RELAXED && b == DKIM_CANON_SIMPLE);
	assert_int_equal(dkim_canon_parse(STR("relaxed/"), &h, &b), -1);
	assert_int_equal(dkim_canon_parse(STR("/relaxed"), &h, &b), -1);
	assert_int_equal(dkim_canon_parse(STR("relaxed/relaxed/x"), &h, &b),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tags_table),
		cmocka_unit_test(test_tags_limit),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_sig_table),
		cmocka_unit_test(test_sig_fields),
		cmocka_unit_test(test_key_table),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
