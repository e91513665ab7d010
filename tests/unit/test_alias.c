/* SPDX-License-Identifier: ISC */
/*
 * test_alias.c - alias.c: the line parser's table, loading with its
 * FILE:LINE errors, exact and catch-all lookups in any case.
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
#include <unistd.h>

#include <cmocka.h>

#include "conf/alias.h"

#define MAXT	4

static const struct {
	const char	*line;
	int		 rc;
	const char	*key;		/* rc 1; rc -1: the message */
	const char	*targets[MAXT];	/* rc 1, NULL-terminated */
} line_cases[] = {
	{ "postmaster@example.com: alice@example.com", 1,
	  "postmaster@example.com", { "alice@example.com" } },
	{ "PostMaster@Example.COM: Alice@Example.COM, bob@EXAMPLE.org", 1,
	  "postmaster@example.com", { "Alice@example.com",
	  "bob@example.org" } },
	{ "a@x:b@y,c@z", 1, "a@x", { "b@y", "c@z" } },
	{ "  a@x :  b@y  c@z ,, d@w ,  ", 1, "a@x",
	  { "b@y", "c@z", "d@w" } },
	{ "a@x: b@y\r", 1, "a@x", { "b@y" } },
	{ "@Example.net: catch@example.com", 1, "@example.net",
	  { "catch@example.com" } },
	{ "a@x: \"odd@local\"@Y", 1, "a@x", { "\"odd@local\"@y" } },
	{ "a@x: a@x, b@x", 1, "a@x", { "a@x", "b@x" } },
	{ "a@b\xc3\xa9.example: c@d", 1, "a@b\xc3\xa9.example", { "c@d" } },
	{ "", 0, NULL, { NULL } },
	{ "\r", 0, NULL, { NULL } },
	{ " \t", 0, NULL, { NULL } },
	{ "# a@x: b@y", 0, NULL, { NULL } },
	{ "   # comment", 0, NULL, { NULL } },
	{ "a@x b@y", -1, "missing ':' after the alias", { NULL } },
	{ ": b@y", -1, "empty alias", { NULL } },
	{ "postmaster: b@y", -1, "alias 'postmaster' needs a domain: "
	  "postmaster@domain, or @domain for all of a domain", { NULL } },
	{ "a@: b@y", -1, "bad domain in alias 'a@'", { NULL } },
	{ "a@x y: b@y", -1, "bad domain in alias 'a@x y'", { NULL } },
	{ "a b@x: b@y", -1, "bad alias 'a b@x'", { NULL } },
	{ "a@.x: b@y", -1, "bad domain in alias 'a@.x'", { NULL } },
	{ "a@x:", -1, "alias 'a@x' has no target", { NULL } },
	{ "a@x:  , ,", -1, "alias 'a@x' has no target", { NULL } },
	{ "a@x: bob", -1, "bad target 'bob' in alias 'a@x' (local@domain)",
	  { NULL } },
	{ "a@x: @y", -1, "bad target '@y' in alias 'a@x' (local@domain)",
	  { NULL } },
	{ "a@x: b@", -1, "bad target 'b@' in alias 'a@x' (local@domain)",
	  { NULL } },
	{ "a@x: c@d, |/bin/prog", -1, "bad target '|/bin/prog' in alias "
	  "'a@x' (local@domain)", { NULL } },
	{ "a@x: b@y:z", -1, "bad target 'b@y:z' in alias 'a@x' "
	  "(local@domain)", { NULL } },
};

static void
test_parse_line(void **state)
{
	struct alias_entry e;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]);
	    i++) {
		int rc = alias_parse_line(str_cstr(line_cases[i].line), &e,
		    &err);
		size_t n = 0;

		if (rc != line_cases[i].rc)
			fail_msg("'%s': got rc %d (%s), want %d",
			    line_cases[i].line, rc, rc == -1 ? err.msg : "",
			    line_cases[i].rc);
		if (rc == -1) {
			if (strcmp(err.msg, line_cases[i].key) != 0)
				fail_msg("'%s': got \"%s\", want \"%s\"",
				    line_cases[i].line, err.msg,
				    line_cases[i].key);
			assert_null(e.key);
			continue;
		}
		if (rc == 0) {
			assert_null(e.key);
			continue;
		}
		assert_string_equal(e.key, line_cases[i].key);
		while (n < MAXT && line_cases[i].targets[n] != NULL)
			n++;
		if (e.ntargets != n)
			fail_msg("'%s': got %zu targets, want %zu",
			    line_cases[i].line, e.ntargets, n);
		for (size_t j = 0; j < n; j++)
			assert_string_equal(e.targets[j],
			    line_cases[i].targets[j]);
		alias_entry_fini(&e);
	}
	assert_int_equal(alias_parse_line(str_make("a@x: b\0@y", 9), &e,
	    &err), -1);
	assert_string_equal(err.msg, "NUL byte in line");
}

static void
write_tmp(const char *text, size_t len, char *path_out, size_t path_len)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path_out, path_len, "%s/test_alias.XXXXXX",
	    dir && *dir ? dir : "/tmp");
	assert_true((fd = mkstemp(path_out)) >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static const struct {
	const char	*local;
	const char	*domain;
	const char	*key;		/* NULL: no entry */
} lookup_cases[] = {
	{ "postmaster", "example.com", "postmaster@example.com" },
	{ "PostMaster", "EXAMPLE.COM", "postmaster@example.com" },
	{ "sales", "example.com", "sales@example.com" },
	{ "other", "example.com", NULL },
	{ "postmaster", "example.co", NULL },
	{ "postmaste", "example.com", NULL },
	{ "anyone", "example.net", "@example.net" },
	{ "info", "example.net", "info@example.net" },
	{ "INFO", "Example.Net", "info@example.net" },
	{ "", "example.net", "@example.net" },
	{ "anyone", "sub.example.net", NULL },
	{ "anyone", "example.nett", NULL },
	{ "x", "", NULL },
};

static void
test_load_lookup(void **state)
{
	static const char text[] =
	    "# aliases\n"
	    "\n"
	    "postmaster@example.com: alice@example.com\n"
	    "Sales@Example.com: bob@example.com, Carol@Example.ORG\r\n"
	    "@example.net: catch@example.com\n"
	    "info@example.net: alice@example.com\n"
	    "z@example.org: a@example.org";
	const struct alias_entry *e;
	struct alias_table *t;
	char path[PATH_MAX];
	struct err err;

	(void)state;
	write_tmp(text, sizeof(text) - 1, path, sizeof(path));
	assert_int_equal(alias_load(path, &t, &err), 0);
	unlink(path);
	assert_int_equal(alias_count(t), 5);
	for (size_t i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]);
	    i++) {
		e = alias_lookup(t, str_cstr(lookup_cases[i].local),
		    str_cstr(lookup_cases[i].domain));
		if (lookup_cases[i].key == NULL) {
			if (e != NULL)
				fail_msg("%s@%s: got %s, want none",
				    lookup_cases[i].local,
				    lookup_cases[i].domain, e->key);
		} else if (e == NULL ||
		    strcmp(e->key, lookup_cases[i].key) != 0) {
			fail_msg("%s@%s: got %s, want %s",
			    lookup_cases[i].local, lookup_cases[i].domain,
			    e ? e->key : "none", lookup_cases[i].key);
		}
	}
	e = alias_lookup(t, STR("sales"), STR("example.com"));
	assert_int_equal(e->ntargets, 2);
	assert_string_equal(e->targets[0], "bob@example.com");
	assert_string_equal(e->targets[1], "Carol@example.org");
	e = alias_lookup(t, STR("z"), STR("example.org"));
	assert_string_equal(e->targets[0], "a@example.org");
	/* slices: bytes past len do not count */
	assert_non_null(alias_lookup(t, str_make("salesX", 5),
	    str_make("example.comX", 11)));
	alias_free(t);

	write_tmp("", 0, path, sizeof(path));
	assert_int_equal(alias_load(path, &t, &err), 0);
	unlink(path);
	assert_int_equal(alias_count(t), 0);
	assert_null(alias_lookup(t, STR("a"), STR("b")));
	alias_free(t);
	alias_free(NULL);
	assert_null(alias_lookup(NULL, STR("a"), STR("b")));
}

static const struct {
	const char	*name;
	const char	*text;
	const char	*want;		/* after "FILE" */
} error_cases[] = {
	{ "no colon", "a@x: b@y\n\nc@x d@y\n",
	  ":3: missing ':' after the alias" },
	{ "no target", "# c\na@x:\n", ":2: alias 'a@x' has no target" },
	{ "bad target", "a@x: b\n", ":1: bad target 'b' in alias 'a@x' "
	  "(local@domain)" },
	{ "duplicate", "a@x: b@y\nc@x: b@y\na@x: d@y\n",
	  ":3: duplicate alias 'a@x' (first on line 1)" },
	{ "duplicate in another case", "c@x: b@y\nA@X: b@y\na@x: d@y\n",
	  ":3: duplicate alias 'a@x' (first on line 2)" },
	{ "duplicate catch-all", "@x: a@y\n@X: b@y\n",
	  ":2: duplicate alias '@x' (first on line 1)" },
	{ "first duplicate reported", "z@x: a@y\na@x: a@y\nz@x: a@y\n"
	  "a@x: a@y\n", ":3: duplicate alias 'z@x' (first on line 1)" },
};

static void
test_load_errors(void **state)
{
	char path[PATH_MAX], want[PATH_MAX + 128];
	struct alias_table *t;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]);
	    i++) {
		write_tmp(error_cases[i].text, strlen(error_cases[i].text),
		    path, sizeof(path));
		t = (struct alias_table *)1;
		if (alias_load(path, &t, &err) != -1)
			fail_msg("%s: loaded, want error", error_cases[i].name);
		unlink(path);
		assert_null(t);
		snprintf(want, sizeof(want), "%s%s", path, error_cases[i].want);
		if (strcmp(err.msg, want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"",
			    error_cases[i].name, err.msg, want);
	}
	assert_int_equal(alias_load("/nonexistent/aliases", &t, &err), -1);
	assert_null(t);
	snprintf(want, sizeof(want), "/nonexistent/aliases: cannot open: %s",
	    strerror(ENOENT));
	assert_string_equal(err.msg, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test(test_load_lookup),
		cmocka_unit_test(test_load_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
