/* SPDX-License-Identifier: ISC */
/*
 * test_passwd_file.c - passwd_file.c: the line parser's table, loading
 * with its FILE:LINE errors, case-insensitive lookups, and a 100k-user
 * file looked up in full.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/passwd_file.h"

#define YESCRYPT	"{CRYPT}$y$j9T$abcdefghijklmnop$0123456789abcdef"

static const struct {
	const char	*line;
	int		 rc;
	const char	*user;		/* rc 1 */
	const char	*hash;		/* rc 1; rc -1: the message */
} line_cases[] = {
	{ "alice@example.com:" YESCRYPT "::::::", 1, "alice@example.com",
	  YESCRYPT },
	{ "Bob@Example.COM:{PLAIN}secret", 1, "Bob@Example.COM",
	  "{PLAIN}secret" },
	{ "carol@example.com:{SHA512-CRYPT}$6$x$y:1000:1000::/home/c::",
	  1, "carol@example.com", "{SHA512-CRYPT}$6$x$y" },
	{ "dave@example.com:{PLAIN}pw\r", 1, "dave@example.com",
	  "{PLAIN}pw" },
	{ "erin@example.com:", 1, "erin@example.com", "" },
	{ "erin@example.com::1000", 1, "erin@example.com", "" },
	{ "local:{PLAIN}x", 1, "local", "{PLAIN}x" },
	{ "u:{PLAIN}with space ", 1, "u", "{PLAIN}with space " },
	{ "", 0, NULL, NULL },
	{ "\r", 0, NULL, NULL },
	{ "   \t ", 0, NULL, NULL },
	{ "# a comment", 0, NULL, NULL },
	{ "  # indented comment", 0, NULL, NULL },
	{ "#alice@example.com:{PLAIN}x", 0, NULL, NULL },
	{ "alice@example.com", -1, NULL, "missing ':' after the user name" },
	{ "alice@example.com {PLAIN}x", -1, NULL,
	  "missing ':' after the user name" },
	{ ":{PLAIN}x", -1, NULL, "empty user name" },
	{ " alice@example.com:{PLAIN}x", -1, NULL,
	  "bad user name ' alice@example.com' (blank or control character)" },
	{ "al ice@example.com:{PLAIN}x", -1, NULL,
	  "bad user name 'al ice@example.com' (blank or control character)" },
	{ "al\tice:x", -1, NULL,
	  "bad user name 'al\tice' (blank or control character)" },
	{ "al\x7f" "ice:x", -1, NULL,
	  "bad user name 'al\x7f" "ice' (blank or control character)" },
};

static void
test_parse_line(void **state)
{
	struct str user, hash;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]);
	    i++) {
		struct str line = str_cstr(line_cases[i].line);
		int rc = passwd_file_parse_line(line, &user, &hash, &err);

		if (rc != line_cases[i].rc)
			fail_msg("'%s': got rc %d, want %d", line_cases[i].line,
			    rc, line_cases[i].rc);
		if (rc == 1) {
			if (!str_eq(user, str_cstr(line_cases[i].user)) ||
			    !str_eq(hash, str_cstr(line_cases[i].hash)))
				fail_msg("'%s': got '%.*s' '%.*s', want '%s' "
				    "'%s'", line_cases[i].line, STR_FMT(user),
				    STR_FMT(hash), line_cases[i].user,
				    line_cases[i].hash);
		} else if (rc == -1) {
			assert_string_equal(err.msg, line_cases[i].hash);
		}
	}
	/* a NUL inside the line is not the end of it */
	assert_int_equal(passwd_file_parse_line(str_make("a\0b:x", 5), &user,
	    &hash, &err), -1);
	assert_string_equal(err.msg, "NUL byte in line");
}

/* write_tmp - text into a temporary file; path_out gets its name */
static void
write_tmp(const char *text, size_t len, char *path_out, size_t path_len)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path_out, path_len, "%s/test_passwd_file.XXXXXX",
	    dir && *dir ? dir : "/tmp");
	assert_true((fd = mkstemp(path_out)) >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static void
test_load(void **state)
{
	static const char text[] =
	    "# users of example.com\n"
	    "\n"
	    "alice@example.com:" YESCRYPT ":1000:1000::/home/alice::\n"
	    "Bob@Example.COM:{PLAIN}secret\r\n"
	    "  # disabled: no password\n"
	    "nopw@example.com:\n"
	    "last@example.org:{PLAIN}no newline";
	char path[PATH_MAX];
	struct passwd_file *pf;
	struct err err;

	(void)state;
	write_tmp(text, sizeof(text) - 1, path, sizeof(path));
	assert_int_equal(passwd_file_load(path, &pf, &err), 0);
	unlink(path);
	assert_int_equal(passwd_file_count(pf), 4);

	assert_true(passwd_file_has(pf, STR("alice@example.com")));
	assert_true(passwd_file_has(pf, STR("ALICE@Example.Com")));
	assert_string_equal(passwd_file_hash(pf, STR("alice@example.com")),
	    YESCRYPT);
	assert_true(passwd_file_has(pf, STR("bob@example.com")));
	assert_string_equal(passwd_file_hash(pf, STR("BOB@EXAMPLE.COM")),
	    "{PLAIN}secret");
	assert_string_equal(passwd_file_hash(pf, STR("nopw@example.com")), "");
	assert_string_equal(passwd_file_hash(pf, STR("last@example.org")),
	    "{PLAIN}no newline");

	assert_false(passwd_file_has(pf, STR("alice@example.co")));
	assert_false(passwd_file_has(pf, STR("alice@example.comm")));
	assert_false(passwd_file_has(pf, STR("lice@example.com")));
	assert_false(passwd_file_has(pf, STR("alice")));
	assert_false(passwd_file_has(pf, STR("")));
	assert_null(passwd_file_hash(pf, STR("carol@example.com")));
	/* the key is a slice: bytes past len do not count */
	assert_true(passwd_file_has(pf, str_make("alice@example.comXYZ", 17)));
	passwd_file_free(pf);

	/* empty and comment-only files are empty tables */
	write_tmp("# nobody\n\n", 10, path, sizeof(path));
	assert_int_equal(passwd_file_load(path, &pf, &err), 0);
	unlink(path);
	assert_int_equal(passwd_file_count(pf), 0);
	assert_false(passwd_file_has(pf, STR("a@b")));
	passwd_file_free(pf);
	write_tmp("", 0, path, sizeof(path));
	assert_int_equal(passwd_file_load(path, &pf, &err), 0);
	unlink(path);
	assert_null(passwd_file_hash(pf, STR("a@b")));
	passwd_file_free(pf);
	passwd_file_free(NULL);
	assert_false(passwd_file_has(NULL, STR("a@b")));
}

static const struct {
	const char	*name;
	const char	*text;
	const char	*want;		/* after "FILE" */
} error_cases[] = {
	{ "no colon", "a@x:{PLAIN}1\n\nb@x {PLAIN}2\n",
	  ":3: missing ':' after the user name" },
	{ "empty user", "# c\n:{PLAIN}1\n", ":2: empty user name" },
	{ "blank in user", "a b@x:1\n",
	  ":1: bad user name 'a b@x' (blank or control character)" },
	{ "duplicate", "a@x:1\nb@x:2\na@x:3\n",
	  ":3: duplicate user 'a@x' (first on line 1)" },
	{ "duplicate in another case", "b@x:2\nA@X:1\nc@x:2\na@x:3\n",
	  ":4: duplicate user 'a@x' (first on line 2)" },
	{ "first duplicate reported", "z@x:1\na@x:1\nz@x:2\na@x:2\nz@x:3\n",
	  ":3: duplicate user 'z@x' (first on line 1)" },
	{ "error before duplicate", "a@x:1\na@x:2\nbad\n",
	  ":3: missing ':' after the user name" },
};

static void
test_load_errors(void **state)
{
	char path[PATH_MAX], want[PATH_MAX + 128];
	struct passwd_file *pf;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]);
	    i++) {
		write_tmp(error_cases[i].text, strlen(error_cases[i].text),
		    path, sizeof(path));
		pf = (struct passwd_file *)1;
		if (passwd_file_load(path, &pf, &err) != -1)
			fail_msg("%s: loaded, want error", error_cases[i].name);
		unlink(path);
		assert_null(pf);
		snprintf(want, sizeof(want), "%s%s", path, error_cases[i].want);
		if (strcmp(err.msg, want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"",
			    error_cases[i].name, err.msg, want);
	}
	write_tmp("a@x:1\nb\0@x:2\n", 13, path, sizeof(path));
	assert_int_equal(passwd_file_load(path, &pf, &err), -1);
	unlink(path);
	snprintf(want, sizeof(want), "%s:2: NUL byte in line", path);
	assert_string_equal(err.msg, want);

	assert_int_equal(passwd_file_load("/nonexistent/users", &pf, &err),
	    -1);
	assert_null(pf);
	snprintf(want, sizeof(want), "/nonexistent/users: cannot open: %s",
	    strerror(ENOENT));
	assert_string_equal(err.msg, want);
}

/* 100k users: every one found by a differently-cased key, fast */
static void
test_many(void **state)
{
	enum { N = 100000 };
	char path[PATH_MAX], key[64], want[64];
	struct passwd_file *pf;
	struct err err;
	struct timespec t0, t1;
	char *text;
	size_t len = 0;
	double ms;

	(void)state;
	text = malloc((size_t)N * 64);
	assert_non_null(text);
	/* written in descending order so sorting has work to do */
	for (int i = N - 1; i >= 0; i--)
		len += (size_t)sprintf(text + len,
		    "user%06d@example.com:{PLAIN}pw%d\n", i, i);
	write_tmp(text, len, path, sizeof(path));
	free(text);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(passwd_file_load(path, &pf, &err), 0);
	unlink(path);
	assert_int_equal(passwd_file_count(pf), N);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "USER%06d@Example.com", i);
		snprintf(want, sizeof(want), "{PLAIN}pw%d", i);
		const char *h = passwd_file_hash(pf, str_cstr(key));

		if (h == NULL || strcmp(h, want) != 0)
			fail_msg("%s: got %s, want %s", key, h ? h : "NULL",
			    want);
	}
	assert_false(passwd_file_has(pf, STR("user100000@example.com")));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* generous for sanitizer builds; a linear scan would take minutes */
	if (ms > 10000)
		fail_msg("100k load + lookups took %.0f ms", ms);
	passwd_file_free(pf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
