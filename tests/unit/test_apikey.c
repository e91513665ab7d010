/* SPDX-License-Identifier: ISC */
/*
 * test_apikey.c - auth/apikey.c and apikey_set.c: the line parser's
 * table, formatting that parses back, the token's form, checks (ok,
 * bad, revoked, missing), the domain rule, the skipped lines of a
 * hostile file, the re-read after the file changes, a cache that never
 * takes a token for one it resembles, and checks from several threads
 * while the file is replaced.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/apikey.h"
#include "auth/passwd_hash.h"
#include "conf/conf.h"
#include "core/xalloc.h"

#define H	"{CRYPT}$y$j9T$abcdefghijklmnop$0123456789abcdef"

static const struct {
	const char	*line;
	int		 rc;
	/* rc 1: the fields; rc -1: want is the message */
	const char	*name, *keyid, *domains;
	bool		 any, revoked;
	int64_t		 created, revoked_at;
	const char	*want;
} line_cases[] = {
	{ "web:0123abcd:" H ":domains=a.example,B.example:created=1700000000",
	  1, "web", "0123abcd", "a.example,B.example", false, false,
	  1700000000, 0, NULL },
	{ "ci-2.x_Y:ffffffff:" H ":domains=*:created=1", 1, "ci-2.x_Y",
	  "ffffffff", "*", true, false, 1, 0, NULL },
	{ "old:00000000:" H ":revoked=1700000100:domains=a.example:"
	  "created=1700000000\r", 1, "old", "00000000", "a.example", false,
	  true, 1700000000, 1700000100, NULL },
	{ "nc:0123abcd:{SHA512-CRYPT}$6$s$h:domains=x", 1, "nc", "0123abcd",
	  "x", false, false, 0, 0, NULL },
	{ "", 0, NULL, NULL, NULL, false, false, 0, 0, NULL },
	{ "\r", 0, NULL, NULL, NULL, false, false, 0, 0, NULL },
	{ " \t ", 0, NULL, NULL, NULL, false, false, 0, 0, NULL },
	{ "# web:0123abcd:x", 0, NULL, NULL, NULL, false, false, 0, 0, NULL },
	{ "  # indented", 0, NULL, NULL, NULL, false, false, 0, 0, NULL },
	{ "web", -1, NULL, NULL, NULL, false, false, 0, 0,
	  "missing ':' after the key name" },
	{ "web:0123abcd", -1, NULL, NULL, NULL, false, false, 0, 0,
	  "missing ':' after the key id" },
	{ "web:0123abcd:" H, -1, NULL, NULL, NULL, false, false, 0, 0,
	  "no domains= attribute" },
	{ "web:0123abcd:" H ":", -1, NULL, NULL, NULL, false, false, 0, 0,
	  "expected NAME=VALUE after the hash, got ''" },
	{ "web:0123abcd:" H ":created=1", -1, NULL, NULL, NULL, false, false,
	  0, 0, "no domains= attribute" },
	{ ":0123abcd:" H ":domains=a", -1, NULL, NULL, NULL, false, false, 0,
	  0, "bad key name '' (want [A-Za-z0-9._-], 1 to 63 characters)" },
	{ "we b:0123abcd:" H ":domains=a", -1, NULL, NULL, NULL, false, false,
	  0, 0, "bad key name 'we b' (want [A-Za-z0-9._-], 1 to 63 "
	  "characters)" },
	{ " web:0123abcd:" H ":domains=a", -1, NULL, NULL, NULL, false, false,
	  0, 0, "bad key name ' web' (want [A-Za-z0-9._-], 1 to 63 "
	  "characters)" },
	{ "web@x:0123abcd:" H ":domains=a", -1, NULL, NULL, NULL, false,
	  false, 0, 0, "bad key name 'web@x' (want [A-Za-z0-9._-], 1 to 63 "
	  "characters)" },
	{ "web:0123ABCD:" H ":domains=a", -1, NULL, NULL, NULL, false, false,
	  0, 0, "bad key id (want 8 lower-case hex digits)" },
	{ "web:0123abc:" H ":domains=a", -1, NULL, NULL, NULL, false, false,
	  0, 0, "bad key id (want 8 lower-case hex digits)" },
	{ "web:0123abcde:" H ":domains=a", -1, NULL, NULL, NULL, false, false,
	  0, 0, "bad key id (want 8 lower-case hex digits)" },
	{ "web:0123abcd::domains=a", -1, NULL, NULL, NULL, false, false, 0, 0,
	  "bad or unsupported hash" },
	{ "web:0123abcd:{PLAIN}secret:domains=a", -1, NULL, NULL, NULL, false,
	  false, 0, 0, "bad or unsupported hash" },
	{ "web:0123abcd:$1$md5$x:domains=a", -1, NULL, NULL, NULL, false,
	  false, 0, 0, "bad or unsupported hash" },
	{ "web:0123abcd:$y$ a$b:domains=a", -1, NULL, NULL, NULL, false,
	  false, 0, 0, "bad or unsupported hash" },
	{ "web:0123abcd:" H ":domains=a:domains=b", -1, NULL, NULL, NULL,
	  false, false, 0, 0, "attribute 'domains' given twice" },
	{ "web:0123abcd:" H ":domains=a:revoked=1:revoked=2", -1, NULL, NULL,
	  NULL, false, false, 0, 0, "attribute 'revoked' given twice" },
	{ "web:0123abcd:" H ":domains=a:owner=me", -1, NULL, NULL, NULL,
	  false, false, 0, 0, "unknown attribute 'owner'" },
	{ "web:0123abcd:" H ":domains=a:revoked", -1, NULL, NULL, NULL, false,
	  false, 0, 0, "expected NAME=VALUE after the hash, got 'revoked'" },
	{ "web:0123abcd:" H ":domains=a:revoked=", -1, NULL, NULL, NULL,
	  false, false, 0, 0, "bad revoked= time (want seconds since 1970)" },
	{ "web:0123abcd:" H ":domains=a:revoked=-1", -1, NULL, NULL, NULL,
	  false, false, 0, 0, "bad revoked= time (want seconds since 1970)" },
	{ "web:0123abcd:" H ":domains=a:created=1234567890123456789", -1,
	  NULL, NULL, NULL, false, false, 0, 0,
	  "bad created= time (want seconds since 1970)" },
	{ "web:0123abcd:" H ":domains=", -1, NULL, NULL, NULL, false, false,
	  0, 0, "bad domain ''" },
	{ "web:0123abcd:" H ":domains=a,,b", -1, NULL, NULL, NULL, false,
	  false, 0, 0, "bad domain ''" },
	{ "web:0123abcd:" H ":domains=a,", -1, NULL, NULL, NULL, false, false,
	  0, 0, "bad domain ''" },
	{ "web:0123abcd:" H ":domains=a..b", -1, NULL, NULL, NULL, false,
	  false, 0, 0, "bad domain 'a..b'" },
	{ "web:0123abcd:" H ":domains=*.example", -1, NULL, NULL, NULL, false,
	  false, 0, 0, "bad domain '*.example'" },
	{ "web:0123abcd:" H ":domains=a b", -1, NULL, NULL, NULL, false,
	  false, 0, 0, "bad domain 'a b'" },
	{ "web:0123abcd:" H ":domains=a.example.", -1, NULL, NULL, NULL,
	  false, false, 0, 0, "bad domain 'a.example.'" },
};

static void
test_parse_line(void **state)
{
	struct apikey_line l;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]);
	    i++) {
		int rc;

		err.msg[0] = '\0';
		rc = apikey_parse_line(str_cstr(line_cases[i].line), &l, &err);
		if (rc != line_cases[i].rc)
			fail_msg("'%s': got rc %d (%s), want %d",
			    line_cases[i].line, rc, err.msg,
			    line_cases[i].rc);
		if (rc == -1 && strcmp(err.msg, line_cases[i].want) != 0)
			fail_msg("'%s': got '%s', want '%s'",
			    line_cases[i].line, err.msg, line_cases[i].want);
		if (rc != 1)
			continue;
		if (!str_eq(l.name, str_cstr(line_cases[i].name)) ||
		    !str_eq(l.keyid, str_cstr(line_cases[i].keyid)) ||
		    !str_eq(l.domains, str_cstr(line_cases[i].domains)))
			fail_msg("'%s': got '%.*s' '%.*s' '%.*s'",
			    line_cases[i].line, STR_FMT(l.name),
			    STR_FMT(l.keyid), STR_FMT(l.domains));
		assert_int_equal(l.any_domain, line_cases[i].any);
		assert_int_equal(l.revoked, line_cases[i].revoked);
		assert_int_equal(l.created, line_cases[i].created);
		assert_int_equal(l.revoked_at, line_cases[i].revoked_at);
	}
}

/* the limits: name length, line length, domain count, NUL */
static void
test_parse_limits(void **state)
{
	struct apikey_line l;
	struct err err;
	struct buf b;
	char name[80];

	(void)state;
	memset(name, 'n', sizeof(name));
	name[63] = '\0';
	buf_init(&b, 0);
	buf_appendf(&b, "%s:0123abcd:" H ":domains=a", name);
	assert_int_equal(apikey_parse_line(buf_str(&b), &l, &err), 1);
	buf_reset(&b);
	name[63] = 'n';
	name[64] = '\0';
	buf_appendf(&b, "%s:0123abcd:" H ":domains=a", name);
	assert_int_equal(apikey_parse_line(buf_str(&b), &l, &err), -1);

	/* 256 domains: fine; 257: too many */
	buf_reset(&b);
	buf_puts(&b, "w:0123abcd:" H ":domains=d0");
	for (int i = 1; i < APIKEY_DOMAINS_MAX; i++)
		buf_appendf(&b, ",d%d", i);
	assert_int_equal(apikey_parse_line(buf_str(&b), &l, &err), 1);
	buf_puts(&b, ",one.more");
	assert_int_equal(apikey_parse_line(buf_str(&b), &l, &err), -1);
	assert_string_equal(err.msg, "more than 256 domains");

	/* a good line of APIKEY_LINE_MAX octets, then one more */
	buf_reset(&b);
	buf_puts(&b, "w:0123abcd:" H ":domains=d");
	while (b.len + 17 <= APIKEY_LINE_MAX)
		buf_puts(&b, ",aaaaaaaaaaaaaaaa");
	while (b.len < APIKEY_LINE_MAX)
		buf_puts(&b, "a");
	assert_int_equal(b.len, APIKEY_LINE_MAX);
	assert_int_equal(apikey_parse_line(buf_str(&b), &l, &err), 1);
	buf_puts(&b, "a");
	assert_int_equal(apikey_parse_line(buf_str(&b), &l, &err), -1);
	assert_string_equal(err.msg, "line longer than 4096 octets");
	buf_fini(&b);

	assert_int_equal(apikey_parse_line(str_make("w:0123abcd:" H
	    ":domains=a\0b", sizeof("w:0123abcd:" H ":domains=a\0b") - 1),
	    &l, &err), -1);
	assert_string_equal(err.msg, "NUL byte in line");
}

static void
test_format_line(void **state)
{
	const char *doms[] = { "A.Example", "b.example" };
	const char *bad[] = { "a.example", "b example" };
	struct apikey_line l;
	struct err err;
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(apikey_format_line(&b, "web", "0123abcd", H, doms, 2,
	    false, 1700000000, &err), 0);
	assert_string_equal(b.data, "web:0123abcd:" H ":domains=a.example,"
	    "b.example:created=1700000000\n");
	assert_int_equal(apikey_parse_line(str_make(b.data, b.len - 1), &l,
	    &err), 1);
	assert_true(str_eq(l.domains, STR("a.example,b.example")));
	assert_int_equal(apikey_format_line(&b, "ci", "ffffffff", H, NULL, 0,
	    true, 5, &err), 0);
	assert_string_equal(b.data, "web:0123abcd:" H ":domains=a.example,"
	    "b.example:created=1700000000\nci:ffffffff:" H
	    ":domains=*:created=5\n");

	/* what would not parse back is not written */
	buf_reset(&b);
	assert_int_equal(apikey_format_line(&b, "a:b", "0123abcd", H, doms, 2,
	    false, 1, &err), -1);
	assert_int_equal(apikey_format_line(&b, "web", "0123abcd", H, NULL, 0,
	    false, 1, &err), -1);
	assert_string_equal(err.msg, "no domain");
	assert_int_equal(apikey_format_line(&b, "web", "0123abcd", H, bad, 2,
	    false, 1, &err), -1);
	assert_string_equal(err.msg, "bad domain 'b example'");
	assert_int_equal(apikey_format_line(&b, "web", "0123ABCD", H, doms, 2,
	    false, 1, &err), -1);
	assert_int_equal(apikey_format_line(&b, "web", "0123abcd", "{PLAIN}x",
	    doms, 2, false, 1, &err), -1);
	assert_int_equal(b.len, 0);
	buf_fini(&b);
}

static void
test_token(void **state)
{
	char t1[APIKEY_TOKEN_LEN + 1], t2[APIKEY_TOKEN_LEN + 1];
	char id1[APIKEY_KEYID_LEN + 1], id2[APIKEY_KEYID_LEN + 1];
	char bad[APIKEY_TOKEN_LEN + 2];
	struct err err;
	struct str id;

	(void)state;
	assert_int_equal(apikey_token_new(t1, id1, &err), 0);
	assert_int_equal(apikey_token_new(t2, id2, &err), 0);
	assert_int_equal(strlen(t1), 59);
	assert_memory_equal(t1, "relais_", 7);
	assert_memory_equal(t1 + 7, id1, 8);
	assert_int_equal(t1[15], '_');
	assert_int_equal(strspn(t1 + 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
	    "klmnopqrstuvwxyz0123456789-_"), 43);
	assert_string_not_equal(t1, t2);
	id = apikey_token_keyid(t1);
	assert_true(str_eq(id, str_cstr(id1)));

	/* the form, and only the form */
	assert_null(apikey_token_keyid(NULL).p);
	assert_null(apikey_token_keyid("").p);
	memcpy(bad, t1, sizeof(t1));
	bad[58] = '\0';
	assert_null(apikey_token_keyid(bad).p);			/* short */
	memcpy(bad, t1, sizeof(t1));
	bad[59] = 'A';
	bad[60] = '\0';
	assert_null(apikey_token_keyid(bad).p);			/* long */
	memcpy(bad, t1, sizeof(t1));
	bad[0] = 'R';
	assert_null(apikey_token_keyid(bad).p);			/* prefix */
	memcpy(bad, t1, sizeof(t1));
	bad[8] = 'G';
	assert_null(apikey_token_keyid(bad).p);			/* keyid */
	memcpy(bad, t1, sizeof(t1));
	bad[15] = '-';
	assert_null(apikey_token_keyid(bad).p);			/* separator */
	memcpy(bad, t1, sizeof(t1));
	bad[30] = '+';
	assert_null(apikey_token_keyid(bad).p);			/* base64url */
	memcpy(bad, t1, sizeof(t1));
	bad[30] = '=';
	assert_null(apikey_token_keyid(bad).p);
}

static void
test_conf_path(void **state)
{
	static const char base[] = "[server]\ndata_dir = /var/lib/x/\n"
	    "[listener a]\naddress = 127.0.0.1:25\n";
	static const char keys[] = "[server]\ndata_dir = /var/lib/x\n"
	    "[listener a]\naddress = 127.0.0.1:25\n[http]\nkeys = /etc/k\n";
	struct conf *conf;
	struct err err;
	char *p;

	(void)state;
	assert_int_equal(conf_load_string("t", base, sizeof(base) - 1, &conf,
	    &err), 0);
	assert_null(conf->http.keys);
	p = apikey_conf_path(conf);
	assert_string_equal(p, "/var/lib/x/api-keys");
	free(p);
	conf_unref(conf);
	assert_int_equal(conf_load_string("t", keys, sizeof(keys) - 1, &conf,
	    &err), 0);
	p = apikey_conf_path(conf);
	assert_string_equal(p, "/etc/k");
	free(p);
	conf_unref(conf);
}

/* ---------------------------------------------------------------------
 * A keys file on disk
 */

struct key {
	char	token[APIKEY_TOKEN_LEN + 1];
	char	keyid[APIKEY_KEYID_LEN + 1];
	char	line[600];
};

static char	dir[PATH_MAX], path[PATH_MAX + 32];

/* key_make - a new token and its file line */
static void
key_make(struct key *k, const char *name, const char *domains,
    bool revoked)
{
	char hash[512];
	struct err err;

	assert_int_equal(apikey_token_new(k->token, k->keyid, &err), 0);
	assert_int_equal(passwd_hash_make(k->token, hash, sizeof(hash), &err),
	    0);
	snprintf(k->line, sizeof(k->line), "%s:%s:{CRYPT}%s:domains=%s:"
	    "created=1700000000%s\n", name, k->keyid, hash, domains,
	    revoked ? ":revoked=1700000001" : "");
}

/* file_put_n - len octets replace the keys file, by rename as the CLI
   does */
static void
file_put_n(const char *text, size_t len)
{
	char tmp[PATH_MAX + 64];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	assert_non_null(f = fopen(tmp, "w"));
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static void
file_put(const char *text)
{
	file_put_n(text, strlen(text));
}

static int
setup_dir(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/test_apikey.XXXXXX", t && *t ? t :
	    "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/api-keys", dir);
	return 0;
}

static int
teardown_dir(void **state)
{
	char tmp[PATH_MAX + 64];

	(void)state;
	unlink(path);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	return rmdir(dir);
}

static struct key web, ci, old;

/* the three keys the tests share, made once (yescrypt is slow) */
static void
keys_init(void)
{
	static bool done;

	if (done)
		return;
	key_make(&web, "web", "a.example,B.Example", false);
	key_make(&ci, "ci", "*", false);
	key_make(&old, "old", "a.example", true);
	done = true;
}

static void
test_check(void **state)
{
	struct apikey_set *s;
	struct err err;
	char text[4096], name[64], tok[APIKEY_TOKEN_LEN + 1];
	size_t active;

	(void)state;
	keys_init();
	snprintf(text, sizeof(text), "# keys\n\n%s%s%s", web.line, ci.line,
	    old.line);
	file_put(text);
	assert_non_null(s = apikey_set_open(path, &err));
	assert_int_equal(apikey_set_count(s, &active), 3);
	assert_int_equal(active, 2);

	assert_int_equal(apikey_check(s, web.token, name), APIKEY_OK);
	assert_string_equal(name, "web");
	assert_int_equal(apikey_check(s, ci.token, name), APIKEY_OK);
	assert_string_equal(name, "ci");
	assert_int_equal(apikey_check(s, old.token, name), APIKEY_REVOKED);
	assert_string_equal(name, "old");
	assert_int_equal(apikey_check(s, NULL, name), APIKEY_MISSING);
	assert_string_equal(name, "");
	assert_int_equal(apikey_check(s, "", name), APIKEY_MISSING);
	assert_int_equal(apikey_check(s, "Bearer", name), APIKEY_BAD);
	assert_string_equal(name, "");

	/* web's KEYID with ci's secret; an unknown KEYID */
	memcpy(tok, web.token, sizeof(tok));
	memcpy(tok + 16, ci.token + 16, 43);
	assert_int_equal(apikey_check(s, tok, name), APIKEY_BAD);
	assert_string_equal(name, "");
	memcpy(tok, web.token, sizeof(tok));
	memcpy(tok + 7, "00000000", 8);
	if (strcmp(ci.keyid, "00000000") != 0 &&
	    strcmp(old.keyid, "00000000") != 0)
		assert_int_equal(apikey_check(s, tok, name), APIKEY_BAD);

	/* the second time comes from the cache, same answers */
	assert_int_equal(apikey_check(s, web.token, name), APIKEY_OK);
	assert_string_equal(name, "web");
	assert_int_equal(apikey_check(s, old.token, name), APIKEY_REVOKED);
	assert_string_equal(apikey_verdict_name(APIKEY_OK), "ok");
	assert_string_equal(apikey_verdict_name(APIKEY_MISSING), "missing");
	assert_string_equal(apikey_verdict_name(APIKEY_BAD), "bad");
	assert_string_equal(apikey_verdict_name(APIKEY_REVOKED), "revoked");
	apikey_set_free(s);
	apikey_set_free(NULL);
}

/* a token remembered never vouches for one that resembles it */
static void
test_cache(void **state)
{
	struct apikey_set *s;
	struct err err;
	enum apikey_verdict v;
	char text[4096], name[64], tok[APIKEY_TOKEN_LEN + 2];

	(void)state;
	keys_init();
	snprintf(text, sizeof(text), "%s%s", web.line, ci.line);
	file_put(text);
	assert_non_null(s = apikey_set_open(path, &err));

	/* not checked yet: quick cannot tell, apikey_check can */
	assert_false(apikey_check_quick(s, web.token, &v, name));
	assert_int_equal(apikey_check(s, web.token, name), APIKEY_OK);
	assert_true(apikey_check_quick(s, web.token, &v, name));
	assert_int_equal(v, APIKEY_OK);
	assert_string_equal(name, "web");

	/* the same but for the last character, for one in the middle */
	for (int pos = 58; pos >= 16; pos -= 21) {
		memcpy(tok, web.token, APIKEY_TOKEN_LEN + 1);
		tok[pos] = tok[pos] == 'A' ? 'B' : 'A';
		assert_false(apikey_check_quick(s, tok, &v, name));
		assert_int_equal(apikey_check(s, tok, name), APIKEY_BAD);
		assert_string_equal(name, "");
	}
	/* a prefix, and the token with more after it */
	memcpy(tok, web.token, APIKEY_TOKEN_LEN + 1);
	tok[APIKEY_TOKEN_LEN - 1] = '\0';
	assert_true(apikey_check_quick(s, tok, &v, name));
	assert_int_equal(v, APIKEY_BAD);
	memcpy(tok, web.token, APIKEY_TOKEN_LEN);
	tok[APIKEY_TOKEN_LEN] = 'x';
	tok[APIKEY_TOKEN_LEN + 1] = '\0';
	assert_int_equal(apikey_check(s, tok, name), APIKEY_BAD);
	/* missing, malformed and unknown need no hash */
	assert_true(apikey_check_quick(s, NULL, &v, name));
	assert_int_equal(v, APIKEY_MISSING);
	assert_true(apikey_check_quick(s, "relais_x", &v, name));
	assert_int_equal(v, APIKEY_BAD);
	memcpy(tok, web.token, APIKEY_TOKEN_LEN + 1);
	memcpy(tok + 7, strcmp(ci.keyid, "fedcba98") ? "fedcba98" : "fedcba97",
	    8);
	if (strcmp(web.keyid, tok + 7) != 0) {
		tok[APIKEY_TOKEN_LEN] = '\0';
		assert_true(apikey_check_quick(s, tok, &v, name));
		assert_int_equal(v, APIKEY_BAD);
	}
	/* the real one still passes */
	assert_int_equal(apikey_check(s, web.token, name), APIKEY_OK);
	apikey_set_free(s);
}

static void
test_domains(void **state)
{
	struct apikey_set *s;
	struct err err;
	char text[4096];

	(void)state;
	keys_init();
	snprintf(text, sizeof(text), "%s%s%s", web.line, ci.line, old.line);
	file_put(text);
	assert_non_null(s = apikey_set_open(path, &err));
	assert_true(apikey_may_send_from(s, "web", "a.example"));
	assert_true(apikey_may_send_from(s, "web", "A.EXAMPLE"));
	assert_true(apikey_may_send_from(s, "web", "b.example"));
	assert_false(apikey_may_send_from(s, "web", "c.example"));
	assert_false(apikey_may_send_from(s, "web", "sub.a.example"));
	assert_false(apikey_may_send_from(s, "web", "example"));
	assert_false(apikey_may_send_from(s, "web", "a.example.evil"));
	assert_false(apikey_may_send_from(s, "web", "a.exampl"));
	assert_false(apikey_may_send_from(s, "web", ""));
	assert_false(apikey_may_send_from(s, "web", NULL));
	assert_true(apikey_may_send_from(s, "ci", "anything.example"));
	assert_true(apikey_may_send_from(s, "ci", "x"));
	/* revoked or unknown: nothing */
	assert_false(apikey_may_send_from(s, "old", "a.example"));
	assert_false(apikey_may_send_from(s, "nobody", "a.example"));
	assert_false(apikey_may_send_from(s, "WEB", "a.example"));
	assert_false(apikey_may_send_from(s, NULL, "a.example"));
	apikey_set_free(s);
}

/* hostile or careless files: each bad line skipped, the rest used */
static void
test_bad_lines(void **state)
{
	struct apikey_set *s;
	struct err err;
	struct buf b;
	struct key k2;
	char name[64], *dup;
	size_t active;

	(void)state;
	keys_init();
	key_make(&k2, "web", "z.example", false);
	buf_init(&b, 0);
	buf_puts(&b, "garbage\n");
	buf_puts(&b, web.line);
	/* the same KEYID again: the second is skipped */
	dup = xstrdup(ci.line);
	memcpy(dup + 3, web.keyid, 8);
	buf_puts(&b, dup);
	free(dup);
	/* a second active "web": skipped */
	buf_puts(&b, k2.line);
	buf_puts(&b, old.line);
	/* too long; a NUL */
	for (int i = 0; i < 5000; i++)
		buf_puts(&b, "x");
	buf_append(&b, "\nx\0y\n", 5);
	buf_puts(&b, ci.line);
	file_put_n(b.data, b.len);
	assert_non_null(s = apikey_set_open(path, &err));
	assert_int_equal(apikey_set_count(s, &active), 3);
	assert_int_equal(active, 2);
	assert_int_equal(apikey_check(s, web.token, name), APIKEY_OK);
	assert_int_equal(apikey_check(s, k2.token, name), APIKEY_BAD);
	assert_int_equal(apikey_check(s, ci.token, name), APIKEY_OK);
	assert_true(apikey_may_send_from(s, "web", "a.example"));
	assert_false(apikey_may_send_from(s, "web", "z.example"));
	apikey_set_free(s);

	/* past APIKEY_KEYS_MAX keys the rest is skipped */
	buf_reset(&b);
	for (int i = 0; i < APIKEY_KEYS_MAX + 5; i++)
		buf_appendf(&b, "k%d:%08x:" H ":domains=a\n", i, i);
	file_put(b.data);
	assert_non_null(s = apikey_set_open(path, &err));
	assert_int_equal(apikey_set_count(s, &active), APIKEY_KEYS_MAX);
	apikey_set_free(s);
	buf_fini(&b);
}

static void
test_open(void **state)
{
	struct apikey_set *s;
	struct err err;
	char name[64];
	size_t active;
	FILE *f;

	(void)state;
	keys_init();
	/* missing: an empty set */
	unlink(path);
	assert_non_null(s = apikey_set_open(path, &err));
	assert_int_equal(apikey_set_count(s, &active), 0);
	assert_int_equal(apikey_check(s, web.token, name), APIKEY_BAD);
	assert_int_equal(apikey_check(s, NULL, name), APIKEY_MISSING);
	assert_false(apikey_may_send_from(s, "web", "a.example"));
	apikey_set_free(s);
	/* a directory, a file too large: errors */
	assert_null(apikey_set_open(dir, &err));
	assert_non_null(strstr(err.msg, "not a regular file"));
	assert_non_null(f = fopen(path, "w"));
	for (unsigned i = 0; i <= APIKEY_FILE_MAX / 64; i++)
		fprintf(f, "# %061u\n", i);
	assert_int_equal(fclose(f), 0);
	assert_null(apikey_set_open(path, &err));
	assert_non_null(strstr(err.msg, "file too large"));
	unlink(path);
}

/* new, revoked, removed, edited in place: seen without a restart */
static void
test_reread(void **state)
{
	struct apikey_set *s;
	struct err err;
	char text[4096], name[64];
	enum apikey_verdict v;
	FILE *f;

	(void)state;
	keys_init();
	unlink(path);
	assert_non_null(s = apikey_set_open(path, &err));
	apikey_set_check_interval(s, 0);
	assert_int_equal(apikey_check(s, web.token, name), APIKEY_BAD);

	/* the file appears */
	file_put(web.line);
	assert_int_equal(apikey_check(s, web.token, name), APIKEY_OK);
	assert_true(apikey_check_quick(s, web.token, &v, name));

	/* web revoked: the cache went with the old file */
	snprintf(text, sizeof(text), "%.*s:revoked=1700000002\n",
	    (int)strlen(web.line) - 1, web.line);
	file_put(text);
	assert_false(apikey_check_quick(s, web.token, &v, name));
	assert_int_equal(apikey_check(s, web.token, name), APIKEY_REVOKED);
	assert_false(apikey_may_send_from(s, "web", "a.example"));

	/* a key added */
	snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s",
	    ci.line);
	file_put(text);
	assert_int_equal(apikey_check(s, ci.token, name), APIKEY_OK);
	assert_string_equal(name, "ci");

	/* edited in place (same inode), the size changes */
	assert_non_null(f = fopen(path, "w"));
	fputs(web.line, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(apikey_check(s, ci.token, name), APIKEY_BAD);
	assert_int_equal(apikey_check(s, web.token, name), APIKEY_OK);

	/* removed: no keys */
	unlink(path);
	assert_int_equal(apikey_check(s, web.token, name), APIKEY_BAD);

	/* unreadable after a change: the keys we had stay */
	file_put(web.line);
	assert_int_equal(apikey_check(s, web.token, name), APIKEY_OK);
	if (geteuid() != 0) {
		snprintf(text, sizeof(text), "%s# edited\n", web.line);
		file_put(text);
		chmod(path, 0);
		assert_int_equal(apikey_check(s, web.token, name), APIKEY_OK);
	}
	apikey_set_free(s);
}

/* checks from threads while the file is replaced under them */
struct race {
	struct apikey_set	*s;
	atomic_bool		*stop;
	int			 bad, runs;
};

static void *
race_run(void *arg)
{
	struct race *r = arg;
	char name[64];

	for (r->runs = 0; r->runs < 100000 && !atomic_load(r->stop);
	    r->runs++) {
		enum apikey_verdict v = apikey_check(r->s, ci.token, name);

		/* ci is in every version of the file */
		if (v != APIKEY_OK || strcmp(name, "ci") != 0)
			r->bad++;
		if (apikey_check(r->s, "relais_0", name) != APIKEY_BAD)
			r->bad++;
		if (!apikey_may_send_from(r->s, "ci", "x.example"))
			r->bad++;
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct race r[3];
	pthread_t t[3];
	struct err err;
	struct apikey_set *s;
	atomic_bool stop;
	char text[4096];

	(void)state;
	keys_init();
	file_put(ci.line);
	assert_non_null(s = apikey_set_open(path, &err));
	apikey_set_check_interval(s, 0);
	atomic_init(&stop, false);
	for (int i = 0; i < 3; i++) {
		r[i].s = s;
		r[i].stop = &stop;
		r[i].bad = 0;
		assert_int_equal(pthread_create(&t[i], NULL, race_run, &r[i]),
		    0);
	}
	for (int i = 0; i < 8; i++) {
		snprintf(text, sizeof(text), "# version %d\n%s%s", i, ci.line,
		    i % 2 ? web.line : old.line);
		file_put(text);
		usleep(20000);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].bad, 0);
		assert_true(r[i].runs > 0);
	}
	apikey_set_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_format_line),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_conf_path),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_reread),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
