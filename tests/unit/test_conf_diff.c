/* SPDX-License-Identifier: ISC */
/*
 * test_conf_diff.c - conf_diff (the names of what differs between two
 * configurations: single-section keys of every value type, named
 * sections added, removed and changed, [http] coming and going,
 * [tls_policy]) and conf_peek_data_dir (data_dir of a file that does not
 * load, comments, other sections, the default).
 */
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

#include "conf/conf.h"
#include "conf/conf_diff.h"

#define BASE	"[server]\ndata_dir = /srv/r\nhostname = mx.test\n" \
		"[listener mx]\naddress = 127.0.0.1:25\n" \
		"[local]\ndomains = example.test\n"

static char	dir[PATH_MAX];

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/test_conf_diff.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

static void
put(const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/relais.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static struct conf *
load(const char *text)
{
	char path[PATH_MAX + 32];
	struct conf *conf = NULL;
	struct err err;

	put(text, path, sizeof(path));
	if (conf_load(path, &conf, &err) == -1)
		fail_msg("load failed: %s\n--- text:\n%s", err.msg, text);
	unlink(path);
	return conf;
}

static void
collect(void *arg, const char *name)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 1024 - n, "%s%s", n ? " " : "", name);
}

/* diff - the names conf_diff gives for a -> b, space-separated */
static void
expect_diff(const char *a, const char *b, const char *want)
{
	struct conf *ca = load(a), *cb = load(b);
	char got[1024] = "";
	size_t n;

	n = conf_diff(ca, cb, collect, got);
	if (strcmp(got, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", got, want);
	assert_int_equal(n == 0, want[0] == '\0');
	conf_unref(ca);
	conf_unref(cb);
}

static void
test_same(void **state)
{
	(void)state;
	expect_diff(BASE, BASE, "");
	/* a default written out is no change */
	expect_diff(BASE, BASE "[limits]\nmax_recipients = 100\n", "");
}

static void
test_single_keys(void **state)
{
	(void)state;
	expect_diff(BASE "[limits]\nmax_recipients = 5\n",
	    BASE "[limits]\nmax_recipients = 6\nmax_message_size = 1M\n",
	    "limits.max_message_size limits.max_recipients");
	expect_diff(BASE, "[server]\ndata_dir = /srv/other\nhostname = mx.test\n"
	    "threads = 3\n[listener mx]\naddress = 127.0.0.1:25\n"
	    "[local]\ndomains = example.test other.test\n",
	    /* the default mailboxes follows data_dir */
	    "server.data_dir server.threads local.domains local.mailboxes");
	expect_diff(BASE "[relay]\ntrusted_networks = 10.0.0.0/8\n",
	    BASE "[relay]\ntrusted_networks = 10.0.0.0/16\n",
	    "relay.trusted_networks");
	expect_diff(BASE "[auth]\nallow_plaintext_loopback = no\n",
	    BASE "[auth]\nallow_plaintext_loopback = yes\n"
	    "backend = dovecot\n",
	    "auth.allow_plaintext_loopback auth.backend");
	expect_diff(BASE "[dns]\nresolver = 127.0.0.1:53\n",
	    BASE "[dns]\nresolver = 127.0.0.1:5353\n", "dns.resolver");
}

static void
test_named_sections(void **state)
{
	(void)state;
	expect_diff(BASE, BASE "[listener sub]\naddress = 127.0.0.1:587\n"
	    "role = submission\n", "listener[sub]");
	expect_diff(BASE "[listener sub]\naddress = 127.0.0.1:587\n", BASE,
	    "listener[sub]");
	expect_diff(BASE "[listener sub]\naddress = 127.0.0.1:587\n",
	    BASE "[listener sub]\naddress = 127.0.0.1:588\nrole = submission\n",
	    "listener[sub].address listener[sub].role");
	expect_diff(BASE "[site big]\nmatch = big.test\nconnection_limit = 2\n",
	    BASE "[site big]\nmatch = big.test *.big.test\n"
	    "connection_limit = 3\n[backoff slow]\nmatch = ^421\n",
	    "site[big].match site[big].connection_limit backoff[slow]");
	expect_diff(BASE "[tenant a]\nusers = x@example.test\n",
	    BASE "[tenant a]\nusers = x@example.test y@example.test\n",
	    "tenant[a].users");
}

static void
test_http_and_tls_policy(void **state)
{
	(void)state;
	expect_diff(BASE, BASE "[http]\n", "http");
	expect_diff(BASE "[http]\n", BASE "[http]\naddress = 127.0.0.1:9000\n",
	    "http.address");
	expect_diff(BASE "[tls_policy]\nexample.org = verify\n",
	    BASE "[tls_policy]\nexample.org = dane\n", "tls_policy");
	expect_diff(BASE "[tls_policy]\nexample.org = verify\n",
	    BASE "[tls_policy]\nexample.org = verify\n", "");
}

static void
expect_peek(const char *text, const char *want)
{
	char path[PATH_MAX + 32], *got;

	put(text, path, sizeof(path));
	got = conf_peek_data_dir(path);
	unlink(path);
	if (strcmp(got, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", got, want);
	free(got);
}

static void
test_peek(void **state)
{
	char *got;

	(void)state;
	expect_peek(BASE, "/srv/r");
	/* broken elsewhere: found all the same */
	expect_peek("[server]\nbogus\n  data_dir =  /srv/x  ; here\n"
	    "[listener\n", "/srv/x");
	expect_peek("; data_dir = /no\n[local]\ndata_dir = /no\n"
	    "[ server ]\n# data_dir = /no\ndata_dir=/yes\ndata_dir = /no\n",
	    "/yes");
	expect_peek("[listener mx]\naddress = 1\n", "/var/lib/relais");
	expect_peek("[serverx]\ndata_dir = /no\n", "/var/lib/relais");
	got = conf_peek_data_dir("/nonexistent/relais.conf");
	assert_string_equal(got, "/var/lib/relais");
	free(got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same),
		cmocka_unit_test(test_single_keys),
		cmocka_unit_test(test_named_sections),
		cmocka_unit_test(test_http_and_tls_policy),
		cmocka_unit_test(test_peek),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
