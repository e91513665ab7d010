/* SPDX-License-Identifier: ISC */
/*
 * test_conf.c - conf.c: every error message with its FILE:LINE, every
 * default, each value parser at and past its limits, CIDR matching,
 * the embedded default and conf_find.
 *
 * Config texts are written to a temporary file (mkstemp under $TMPDIR or
 * /tmp) and loaded with conf_load, so the FILE in messages is real; in
 * the tables "FILE" stands for that path.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
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
#include "core/buf.h"
#include "core/log.h"

#define LISTENER	"[listener a]\naddress = 127.0.0.1:25\n"

struct tmpfile {
	char	path[PATH_MAX];
};

/* tmp_write - len bytes of text into a fresh temporary file */
static void
tmp_write(struct tmpfile *t, const char *text, size_t len)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	snprintf(t->path, sizeof(t->path), "%s/test_conf.XXXXXX", dir);
	fd = mkstemp(t->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* load - text through a file and conf_load; the file is removed again */
static int
load(const char *text, size_t len, struct conf **conf, struct err *err,
    char *path_out, size_t path_len)
{
	struct tmpfile t;
	int rc;

	tmp_write(&t, text, len);
	rc = conf_load(t.path, conf, err);
	unlink(t.path);
	if (path_out)
		snprintf(path_out, path_len, "%s", t.path);
	return rc;
}

/* load_ok - text must load; fails the test with the message if not */
static struct conf *
load_ok(const char *text)
{
	struct conf *conf = NULL;
	struct err err;

	if (load(text, strlen(text), &conf, &err, NULL, 0) == -1)
		fail_msg("load failed: %s\n--- text:\n%s", err.msg, text);
	assert_non_null(conf);
	return conf;
}

/* expect_error - want is "FILE..." with FILE standing for the path */
static void
expect_error(const char *name, const char *text, size_t len,
    const char *want)
{
	char path[PATH_MAX], full[sizeof(path) + 300];
	struct conf *conf = (struct conf *)1;
	struct err err;

	memset(&err, 0, sizeof(err));
	if (load(text, len, &conf, &err, path, sizeof(path)) != -1) {
		conf_unref(conf);
		fail_msg("%s: loaded, want error \"%s\"", name, want);
	}
	assert_null(conf);
	assert_true(strncmp(want, "FILE", 4) == 0);
	snprintf(full, sizeof(full), "%s%s", path, want + 4);
	if (strcmp(err.msg, full) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", name, err.msg, full);
}

/* ------------------------------------------------------------------ */

static const struct {
	const char	*name;
	const char	*text;
	const char	*want;
} error_cases[] = {
	/* files and sections */
	{ "empty file", "", "FILE: no [listener] section" },
	{ "no listener", "[server]\nthreads = 2\n",
	  "FILE: no [listener] section" },
	{ "comments only", "# hello\n; there\n\n",
	  "FILE: no [listener] section" },
	{ "unknown key", "[server]\nthreads = 1\n\n\n\n\nfoo = bar\n" LISTENER,
	  "FILE:7: unknown key 'foo' in [server]" },
	{ "unknown key in listener", LISTENER "port = 25\n",
	  "FILE:3: unknown key 'port' in [listener a]" },
	{ "key is case-sensitive", "[server]\nThreads = 2\n" LISTENER,
	  "FILE:2: unknown key 'Threads' in [server]" },
	{ "unknown section", LISTENER "[bogus]\nx = 1\n",
	  "FILE:3: unknown section [bogus]" },
	{ "unknown empty section", LISTENER "[bogus]\n",
	  "FILE:3: unknown section [bogus]" },
	{ "unknown named section", "[bogus thing]\n" LISTENER,
	  "FILE:1: unknown section [bogus]" },
	{ "section is case-sensitive", "[Server]\n" LISTENER,
	  "FILE:1: unknown section [Server]" },
	{ "empty brackets", "[]\n" LISTENER,
	  "FILE:1: empty section name" },
	{ "blank brackets", "[   ]\n" LISTENER,
	  "FILE:1: empty section name" },
	{ "missing bracket", "[server\n" LISTENER,
	  "FILE:1: missing ']' in section header" },
	{ "text after header", "[server] x\n" LISTENER,
	  "FILE:1: text after ']' in section header" },
	{ "singleton with name", "[server main]\n" LISTENER,
	  "FILE:1: [server] takes no name" },
	{ "listener without name", "[listener]\naddress = 127.0.0.1:25\n",
	  "FILE:1: [listener] needs a name: [listener NAME]" },
	{ "listener blank name", "[listener  ]\naddress = 127.0.0.1:25\n",
	  "FILE:1: [listener] needs a name: [listener NAME]" },
	{ "listener name with space", "[listener a b]\n",
	  "FILE:1: bad name 'a b' in [listener] (letters, digits, '.', '_', "
	  "'-'; at most 64)" },
	{ "listener name bad char", "[listener a/b]\n",
	  "FILE:1: bad name 'a/b' in [listener] (letters, digits, '.', '_', "
	  "'-'; at most 64)" },
	{ "listener name too long", "[listener "
	  "x123456789x123456789x123456789x123456789x123456789x123456789abcde]\n",
	  "FILE:1: bad name 'x123456789x123456789x123456789x123456789x1234567"
	  "89x123456789abcde' in [listener] (letters, digits, '.', '_', '-'; "
	  "at most 64)" },
	{ "duplicate listener", LISTENER "[listener a]\n"
	  "address = 127.0.0.1:26\n", "FILE:3: duplicate section [listener a]" },
	{ "duplicate singleton", "[server]\n" LISTENER "[server]\n",
	  "FILE:4: duplicate section [server]" },
	{ "key outside section", "threads = 1\n" LISTENER,
	  "FILE:1: key 'threads' outside any section" },
	{ "duplicate key", "[server]\nthreads = 1\nthreads = 2\n" LISTENER,
	  "FILE:3: duplicate key 'threads' in [server]" },
	{ "duplicate key in listener", LISTENER "role = mx\nrole = mx\n",
	  "FILE:4: duplicate key 'role' in [listener a]" },
	{ "proxy_protocol without proxy_from", LISTENER
	  "proxy_protocol = yes\n", "FILE:3: [listener a]: proxy_protocol ="
	  " yes needs proxy_from (the addresses of the proxies, CIDR)" },
	{ "bad proxy_from", LISTENER "proxy_protocol = yes\n"
	  "proxy_from = 10.0.0.0/33\n", "FILE:4: proxy_from: bad network"
	  " '10.0.0.0/33' (address or address/prefix)" },
	{ "duplicate list key", LISTENER "address = 127.0.0.1:26\n",
	  "FILE:3: duplicate key 'address' in [listener a]" },
	{ "missing address", "[listener a]\nrole = mx\n",
	  "FILE: [listener a]: missing 'address'" },
	{ "missing address, next section", "[listener a]\n[server]\n",
	  "FILE: [listener a]: missing 'address'" },
	{ "empty address", "[listener a]\naddress =\n",
	  "FILE: [listener a]: 'address' is empty" },
	{ "syntax", "[server]\njunk\n" LISTENER,
	  "FILE:2: expected 'key = value', '[section]' or a comment" },
	{ "syntax before key error", "[server]\njunk\nfoo = 1\n" LISTENER,
	  "FILE:2: expected 'key = value', '[section]' or a comment" },
	{ "key error before syntax", "[server]\nfoo = 1\njunk\n" LISTENER,
	  "FILE:2: unknown key 'foo' in [server]" },
	{ "continuation of one value", "[server]\nhostname = a\n  b\n"
	  LISTENER, "FILE:3: hostname takes one value; an indented line "
	  "continues the previous key" },
	{ "bad value in continuation", "[local]\ndomains = a.example\n"
	  "  b.example\n  bad!\n" LISTENER, "FILE:4: domains: bad domain "
	  "'bad!'" },

	/* [server] values */
	{ "bad hostname", "[server]\nhostname = mx_1.example\n" LISTENER,
	  "FILE:2: hostname: bad host name 'mx_1.example'" },
	{ "hostname with dot at end", "[server]\nhostname = mx.\n" LISTENER,
	  "FILE:2: hostname: bad host name 'mx.'" },
	{ "empty hostname", "[server]\nhostname =\n" LISTENER,
	  "FILE:2: hostname: missing value" },
	{ "empty data_dir", "[server]\ndata_dir =\n" LISTENER,
	  "FILE:2: data_dir: missing value" },
	{ "threads word", "[server]\nthreads = many\n" LISTENER,
	  "FILE:2: threads: bad number 'many'" },
	{ "threads negative", "[server]\nthreads = -1\n" LISTENER,
	  "FILE:2: threads: bad number '-1'" },
	{ "threads past max", "[server]\nthreads = 257\n" LISTENER,
	  "FILE:2: threads: '257' is out of range 0..256" },
	{ "threads overflow", "[server]\nthreads = 99999999999999999999\n"
	  LISTENER, "FILE:2: threads: bad number '99999999999999999999'" },
	{ "log level", "[server]\nlog_level = loud\n" LISTENER,
	  "FILE:2: log_level: bad level 'loud' (debug, info, warning, "
	  "error)" },
	{ "log level case", "[server]\nlog_level = INFO\n" LISTENER,
	  "FILE:2: log_level: bad level 'INFO' (debug, info, warning, "
	  "error)" },

	/* [listener] values */
	{ "role", LISTENER "role = relay\n",
	  "FILE:3: role: bad value 'relay' (mx, submission, submissions)" },
	{ "tls", LISTENER "tls = yes\n",
	  "FILE:3: tls: bad value 'yes' (none, optional, required, "
	  "implicit)" },
	{ "auth backend", "[auth]\nbackend = ldap\n" LISTENER,
	  "FILE:2: backend: bad value 'ldap' (passwd-file, dovecot)" },
	{ "dovecot socket relative", "[auth]\ndovecot_socket = run/auth\n"
	  LISTENER, "FILE:2: dovecot_socket: 'run/auth' is not an absolute "
	  "path" },
	{ "dovecot socket long", "[auth]\ndovecot_socket = /"
	  "123456789x123456789x123456789x123456789x123456789x"
	  "123456789x123456789x123456789x123456789x123456789x12345678\n"
	  LISTENER, "FILE:2: dovecot_socket: '/"
	  "123456789x123456789x123456789x123456789x123456789x"
	  "123456789x123456789x123456789x123456789x123456789x12345678' is "
	  "too long for a unix socket (limit 107 bytes)" },
	{ "dovecot timeout", "[auth]\ndovecot_timeout = 0\n" LISTENER,
	  "FILE:2: dovecot_timeout: '0' is out of range 1s..5m" },
	{ "address no port", "[listener a]\naddress = 127.0.0.1\n",
	  "FILE:2: address: bad address '127.0.0.1' (host:port or "
	  "[v6]:port)" },
	{ "address name", "[listener a]\naddress = localhost:25\n",
	  "FILE:2: address: bad address 'localhost:25' (numeric IP "
	  "addresses only)" },
	{ "address bare v6", "[listener a]\naddress = ::1:25\n",
	  "FILE:2: address: bad address '::1:25' (an IPv6 address goes in "
	  "brackets: [::1]:25)" },
	{ "address port 0", "[listener a]\naddress = 127.0.0.1:0\n",
	  "FILE:2: address: bad port in '127.0.0.1:0' (1-65535)" },
	{ "address second bad", "[listener a]\naddress = 127.0.0.1:25 "
	  "[::1]:x\n", "FILE:2: address: bad port in '[::1]:x' (1-65535)" },
	{ "address twice", "[listener a]\naddress = 127.0.0.1:25 "
	  "127.0.0.1:25\n", "FILE:2: address: 127.0.0.1:25 is listed twice" },
	{ "address twice, spelt apart", "[listener a]\naddress = [::1]:25 "
	  "[0::1]:25\n", "FILE:2: address: [::1]:25 is listed twice" },
	{ "address in two listeners", LISTENER "[listener b]\n"
	  "address = 127.0.0.1:25\n", "FILE:4: address: 127.0.0.1:25 is "
	  "already used by [listener a]" },
	{ "address too long", "[listener a]\naddress = "
	  "[1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc]:25\n",
	  "FILE:2: address: bad address '[1111:2222:3333:4444:5555:6666:7777"
	  ":8888:9999:aaaa:bbbb:cccc]:25' (host:port or [v6]:port)" },
	{ "continued key with colon", LISTENER "[relay]\n"
	  "trusted_networks = ::1\n  fe80::/10\n  fe80:1/10\n",
	  "FILE:6: trusted_networks: bad network 'fe80:1/10' (address or "
	  "address/prefix)" },

	/* [local] values */
	{ "bad domain", "[local]\ndomains = example.com exa mple..com\n"
	  LISTENER, "FILE:2: domains: bad domain 'mple..com'" },
	{ "domain with at", "[local]\ndomains = user@example.com\n" LISTENER,
	  "FILE:2: domains: bad domain 'user@example.com'" },
	{ "mailboxes unknown escape", "[local]\nmailboxes = /m/%d/%x\n"
	  LISTENER, "FILE:2: mailboxes: unknown '%x' in '/m/%d/%x' (use %d, "
	  "%u or %%)" },
	{ "mailboxes trailing percent", "[local]\nmailboxes = /m/%u%\n"
	  LISTENER, "FILE:2: mailboxes: '%' at the end of '/m/%u%' (write %% "
	  "for a '%')" },
	{ "mailboxes empty", "[local]\nmailboxes =\n" LISTENER,
	  "FILE:2: mailboxes: missing value" },

	/* [relay] values */
	{ "host bits", "[relay]\ntrusted_networks = 10.0.0.1/8\n" LISTENER,
	  "FILE:2: trusted_networks: host bits set in '10.0.0.1/8' (the "
	  "network is 10.0.0.0/8)" },
	{ "host bits v6", "[relay]\ntrusted_networks = ::1 fe80::1/10\n"
	  LISTENER, "FILE:2: trusted_networks: host bits set in 'fe80::1/10' "
	  "(the network is fe80::/10)" },
	{ "prefix too long", "[relay]\ntrusted_networks = 10.0.0.0/33\n"
	  LISTENER, "FILE:2: trusted_networks: bad network '10.0.0.0/33' "
	  "(address or address/prefix)" },
	{ "network name", "[relay]\ntrusted_networks = localhost\n" LISTENER,
	  "FILE:2: trusted_networks: bad network 'localhost' (address or "
	  "address/prefix)" },

	/* [limits] values */
	{ "size word", "[limits]\nmax_message_size = abc\n" LISTENER,
	  "FILE:2: max_message_size: bad size 'abc'" },
	{ "size suffix", "[limits]\nmax_message_size = 10MB\n" LISTENER,
	  "FILE:2: max_message_size: bad size '10MB'" },
	{ "duration suffix", "[limits]\ncommand_timeout = 1w\n" LISTENER,
	  "FILE:2: command_timeout: bad duration '1w'" },
	{ "duration empty", "[limits]\ndata_timeout =\n" LISTENER,
	  "FILE:2: data_timeout: bad duration ''" },
	{ "recipients empty", "[limits]\nmax_recipients =\n" LISTENER,
	  "FILE:2: max_recipients: bad number ''" },
	{ "tlsrpt from", "[tlsrpt]\nenabled = yes\nfrom = nobody\n" LISTENER,
	  "FILE:3: from: 'nobody' is not an address (local@domain)" },
	{ "tlsrpt contact", "[tlsrpt]\ncontact = <a@b.test>\n" LISTENER,
	  "FILE:2: contact: '<a@b.test>' is not an address (local@domain)" },
};

static void
test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]);
	    i++)
		expect_error(error_cases[i].name, error_cases[i].text,
		    strlen(error_cases[i].text), error_cases[i].want);
}

/* errors inih's line handling could hide: NUL bytes, long lines */
static void
test_errors_lines(void **state)
{
	static const char nul[] = "[server]\nthreads = 1\0 2\n" LISTENER;
	char longline[400];

	(void)state;
	expect_error("NUL byte", nul, sizeof(nul) - 1,
	    "FILE:2: NUL byte in line");
	/* 199 bytes fit inih's 200-byte buffer, 200 do not */
	snprintf(longline, sizeof(longline), "[server]\nuser = %0*d\n"
	    LISTENER, 199 - 7, 0);
	conf_unref(load_ok(longline));
	snprintf(longline, sizeof(longline), "[server]\nuser = %0*d\n"
	    LISTENER, 200 - 7, 0);
	expect_error("long line", longline, strlen(longline),
	    "FILE:2: line too long (limit 199 bytes; continue a list on "
	    "indented lines)");
}

static void
test_errors_files(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], want[PATH_MAX + 64];
	const char *tmp = getenv("TMPDIR");
	struct conf *conf;
	struct err err;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/test_conf.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	assert_int_equal(conf_load(path, &conf, &err), -1);
	assert_null(conf);
	snprintf(want, sizeof(want), "%s: cannot open: %s", path,
	    strerror(ENOENT));
	assert_string_equal(err.msg, want);

	assert_int_equal(conf_load(dir, &conf, &err), -1);
	snprintf(want, sizeof(want), "%s: cannot open: %s", dir,
	    strerror(EISDIR));
	assert_string_equal(err.msg, want);
	rmdir(dir);

	/* conf_load_string names the text as told */
	assert_int_equal(conf_load_string("relais.conf", "[server]\nfoo=1\n",
	    15, &conf, &err), -1);
	assert_string_equal(err.msg,
	    "relais.conf:2: unknown key 'foo' in [server]");
	/* len, not the NUL, ends the text */
	assert_int_equal(conf_load_string("x", LISTENER "junk", sizeof(LISTENER)
	    - 1, &conf, &err), 0);
	conf_unref(conf);
}

/* ------------------------------------------------------------------ */

static void
check_defaults_limits(const struct conf *conf)
{
	assert_int_equal(conf->server.threads, 0);
	assert_int_equal(conf->server.log_level, LOG_LEVEL_INFO);
	assert_int_equal(conf->relay.ntrusted_networks, 2);
	assert_int_equal(conf->limits.max_message_size, 25 * 1024 * 1024);
	assert_int_equal(conf->limits.max_recipients, 100);
	assert_int_equal(conf->limits.max_connections, 1000);
	assert_int_equal(conf->limits.max_connections_per_ip, 20);
	assert_int_equal(conf->limits.command_timeout, 300);
	assert_int_equal(conf->limits.data_timeout, 600);
}

static void
check_defaults(const struct conf *conf, const char *data_dir)
{
	char host[256], mbox[PATH_MAX];

	memset(host, 0, sizeof(host));
	gethostname(host, sizeof(host) - 1);
	assert_string_equal(conf->server.hostname, host);
	assert_string_equal(conf->server.data_dir, data_dir);
	assert_null(conf->server.user);
	assert_int_equal(conf->server.threads, 0);
	assert_int_equal(conf->server.log_level, LOG_LEVEL_INFO);
	assert_true(conf->server.sandbox);
	snprintf(mbox, sizeof(mbox), "%s/mail/%%d/%%u", data_dir);
	assert_string_equal(conf->local.mailboxes, mbox);
	assert_null(conf->local.users);
	assert_null(conf->local.aliases);
	assert_int_equal(conf->auth.backend, CONF_AUTH_PASSWD_FILE);
	assert_string_equal(conf->auth.dovecot_socket,
	    "/run/dovecot/auth-client");
	assert_int_equal(conf->auth.dovecot_timeout, 10);
	assert_int_equal(conf->relay.ntrusted_networks, 2);
	assert_int_equal(conf->relay.trusted_networks[0].family, AF_INET);
	assert_int_equal(conf->relay.trusted_networks[0].prefix, 8);
	assert_int_equal(conf->relay.trusted_networks[0].addr[0], 127);
	assert_int_equal(conf->relay.trusted_networks[1].family, AF_INET6);
	assert_int_equal(conf->relay.trusted_networks[1].prefix, 128);
	assert_int_equal(conf->relay.trusted_networks[1].addr[15], 1);
	check_defaults_limits(conf);
}

static void
test_defaults(void **state)
{
	struct conf *conf;
	char path[PATH_MAX];
	struct err err;
	const char *text = "[listener mx]\naddress = 0.0.0.0:25\n";

	(void)state;
	assert_int_equal(load(text, strlen(text), &conf, &err, path,
	    sizeof(path)), 0);
	assert_string_equal(conf->path, path);
	check_defaults(conf, "/var/lib/relais");
	assert_int_equal(conf->nlisteners, 1);
	assert_string_equal(conf->listeners[0].name, "mx");
	assert_int_equal(conf->listeners[0].naddrs, 1);
	assert_string_equal(conf->listeners[0].addrs[0].text, "0.0.0.0:25");
	assert_int_equal(conf->listeners[0].role, CONF_ROLE_MX);
	assert_int_equal(conf->listeners[0].tls, CONF_TLS_NONE);
	assert_int_equal(conf->local.ndomains, 0);
	conf_unref(conf);
}

static void
test_embedded_default(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char cwd[PATH_MAX], dir[PATH_MAX + 16];
	struct conf *conf;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(dir, sizeof(dir), "%s%srelais-data", cwd,
	    strcmp(cwd, "/") ? "/" : "");
	conf = conf_default();
	assert_null(conf->path);
	check_defaults(conf, dir);
	assert_int_equal(conf->nlisteners, 1);
	assert_string_equal(conf->listeners[0].name, "default");
	assert_int_equal(conf->listeners[0].naddrs, 1);
	assert_string_equal(conf->listeners[0].addrs[0].text,
	    "127.0.0.1:2525");
	assert_int_equal(conf->listeners[0].addrs[0].ss.ss_family, AF_INET);
	memcpy(&sin, &conf->listeners[0].addrs[0].ss, sizeof(sin));
	assert_int_equal(ntohs(sin.sin_port), 2525);
	assert_int_equal(conf->listeners[0].role, CONF_ROLE_MX);
	assert_int_equal(conf->listeners[0].tls, CONF_TLS_NONE);
	assert_int_equal(conf->local.ndomains, 1);
	assert_string_equal(conf->local.domains[0], "localhost");
	assert_true(conf_is_local_domain(conf, STR("LocalHost")));
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	assert_true(conf_is_trusted(conf, (struct sockaddr *)&sin));
	conf_unref(conf);
}

/* every key set to something other than its default */
static void
test_all_keys(void **state)
{
	struct conf *conf;
	struct sockaddr_in6 sin6;

	(void)state;
	conf = load_ok(
	    "\xef\xbb\xbf# relais.conf with every key\r\n"
	    "[server]\r\n"
	    "hostname = MX.Example.COM\r\n"
	    "data_dir = /srv/relais\n"
	    "user = relais\n"
	    "threads = 8 ; inline comment\n"
	    "log_level = debug\n"
	    "sandbox = no\n"
	    "\n"
	    "[listener mx]\n"
	    "address = 0.0.0.0:25 [::]:25\n"
	    "[listener submission]\n"
	    "  address =\n"
	    "      127.0.0.1:587,\n"
	    "      [::1]:587\n"
	    "  role = submission\n"
	    "  tls = required\n"
	    "[ listener\tsmtps ]\n"
	    "address = 127.0.0.1:465\n"
	    "role = submissions\n"
	    "tls: implicit\n"
	    "[listener x.y-z_1] # comment\n"
	    "address = 127.0.0.2:25\n"
	    "tls = optional\n"
	    "proxy_protocol = yes\n"
	    "proxy_from = 10.1.2.3 2001:db8::/64\n"
	    "[local]\n"
	    "domains = Example.COM, example.org\n"
	    "    EXAMPLE.com example.net\n"
	    "mailboxes = /home/vmail/%d/%u/Maildir\n"
	    "users = /etc/relais/users\n"
	    "aliases = /etc/relais/aliases\n"
	    "[relay]\n"
	    "trusted_networks = 10.0.0.0/8\n"
	    "  192.168.1.1 2001:db8::/32\n"
	    "[limits]\n"
	    "max_message_size = 50M\n"
	    "max_recipients = 500\n"
	    "max_connections = 2000\n"
	    "max_connections_per_ip = 5\n"
	    "command_timeout = 2m\n"
	    "data_timeout = 1h\n"
	    "[auth]\n"
	    "backend = dovecot\n"
	    "dovecot_socket = /var/spool/postfix/private/auth\n"
	    "dovecot_timeout = 5s\n");
	assert_int_equal(conf->auth.backend, CONF_AUTH_DOVECOT);
	assert_string_equal(conf->auth.dovecot_socket,
	    "/var/spool/postfix/private/auth");
	assert_int_equal(conf->auth.dovecot_timeout, 5);
	assert_string_equal(conf->server.hostname, "MX.Example.COM");
	assert_string_equal(conf->server.data_dir, "/srv/relais");
	assert_string_equal(conf->server.user, "relais");
	assert_int_equal(conf->server.threads, 8);
	assert_int_equal(conf->server.log_level, LOG_LEVEL_DEBUG);
	assert_false(conf->server.sandbox);

	assert_int_equal(conf->nlisteners, 4);
	assert_string_equal(conf->listeners[0].name, "mx");
	assert_int_equal(conf->listeners[0].naddrs, 2);
	assert_string_equal(conf->listeners[0].addrs[0].text, "0.0.0.0:25");
	assert_string_equal(conf->listeners[0].addrs[1].text, "[::]:25");
	assert_int_equal(conf->listeners[0].addrs[1].sslen, sizeof(sin6));
	assert_string_equal(conf->listeners[1].name, "submission");
	assert_int_equal(conf->listeners[1].naddrs, 2);
	assert_string_equal(conf->listeners[1].addrs[0].text,
	    "127.0.0.1:587");
	assert_string_equal(conf->listeners[1].addrs[1].text, "[::1]:587");
	memcpy(&sin6, &conf->listeners[1].addrs[1].ss, sizeof(sin6));
	assert_int_equal(sin6.sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6.sin6_port), 587);
	assert_int_equal(conf->listeners[1].role, CONF_ROLE_SUBMISSION);
	assert_int_equal(conf->listeners[1].tls, CONF_TLS_REQUIRED);
	assert_string_equal(conf->listeners[2].name, "smtps");
	assert_int_equal(conf->listeners[2].role, CONF_ROLE_SUBMISSIONS);
	assert_int_equal(conf->listeners[2].tls, CONF_TLS_IMPLICIT);
	assert_string_equal(conf->listeners[3].name, "x.y-z_1");
	assert_int_equal(conf->listeners[3].role, CONF_ROLE_MX);
	assert_int_equal(conf->listeners[3].tls, CONF_TLS_OPTIONAL);
	assert_false(conf->listeners[0].proxy_protocol);
	assert_int_equal(conf->listeners[0].nproxy_from, 0);
	assert_true(conf->listeners[3].proxy_protocol);
	assert_int_equal(conf->listeners[3].nproxy_from, 2);
	assert_int_equal(conf->listeners[3].proxy_from[1].prefix, 64);

	/* lower-cased, duplicates dropped, continuation appended */
	assert_int_equal(conf->local.ndomains, 3);
	assert_string_equal(conf->local.domains[0], "example.com");
	assert_string_equal(conf->local.domains[1], "example.org");
	assert_string_equal(conf->local.domains[2], "example.net");
	assert_string_equal(conf->local.mailboxes,
	    "/home/vmail/%d/%u/Maildir");
	assert_string_equal(conf->local.users, "/etc/relais/users");
	assert_string_equal(conf->local.aliases, "/etc/relais/aliases");

	assert_int_equal(conf->relay.ntrusted_networks, 3);
	assert_int_equal(conf->relay.trusted_networks[0].prefix, 8);
	assert_int_equal(conf->relay.trusted_networks[1].prefix, 32);
	assert_int_equal(conf->relay.trusted_networks[2].prefix, 32);
	assert_int_equal(conf->relay.trusted_networks[2].family, AF_INET6);

	assert_int_equal(conf->limits.max_message_size, 50 * 1024 * 1024);
	assert_int_equal(conf->limits.max_recipients, 500);
	assert_int_equal(conf->limits.max_connections, 2000);
	assert_int_equal(conf->limits.max_connections_per_ip, 5);
	assert_int_equal(conf->limits.command_timeout, 120);
	assert_int_equal(conf->limits.data_timeout, 3600);
	conf_unref(conf);
}

/* the computed defaults and the keys that may be emptied */
static void
test_computed(void **state)
{
	static const struct {
		const char	*data_dir;
		const char	*mailboxes;
	} cases[] = {
		{ "/srv/relais", "/srv/relais/mail/%d/%u" },
		{ "/srv/relais/", "/srv/relais/mail/%d/%u" },
		{ "/srv/50%", "/srv/50%%/mail/%d/%u" },
		{ "/", "/mail/%d/%u" },
		{ "data", "data/mail/%d/%u" },
	};
	char text[512];
	struct conf *conf;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[server]\ndata_dir = %s\n"
		    LISTENER, cases[i].data_dir);
		conf = load_ok(text);
		if (strcmp(conf->local.mailboxes, cases[i].mailboxes) != 0)
			fail_msg("data_dir %s: got %s, want %s",
			    cases[i].data_dir, conf->local.mailboxes,
			    cases[i].mailboxes);
		conf_unref(conf);
	}
	/* an explicit template is kept; "" clears optional keys */
	conf = load_ok("[server]\ndata_dir = /d\nuser =\n[local]\n"
	    "mailboxes = /m/%%/%u\nusers =\naliases =\ndomains =\n"
	    "[relay]\ntrusted_networks =\n" LISTENER);
	assert_string_equal(conf->local.mailboxes, "/m/%%/%u");
	assert_null(conf->server.user);
	assert_null(conf->local.users);
	assert_null(conf->local.aliases);
	assert_int_equal(conf->local.ndomains, 0);
	assert_int_equal(conf->relay.ntrusted_networks, 0);
	conf_unref(conf);
}

/* [tlsrpt]: off by default, addresses and names from the host name */
static void
test_tlsrpt(void **state)
{
	struct conf *conf;

	(void)state;
	conf = load_ok("[server]\nhostname = mx.example.net\n" LISTENER);
	assert_false(conf->tlsrpt.enabled);
	assert_string_equal(conf->tlsrpt.from, "postmaster@mx.example.net");
	assert_string_equal(conf->tlsrpt.organization, "mx.example.net");
	assert_string_equal(conf->tlsrpt.contact, "postmaster@mx.example.net");
	conf_unref(conf);
	conf = load_ok("[server]\nhostname = mx.example.net\n[tlsrpt]\n"
	    "enabled = yes\nfrom = tls-reports@example.net\n"
	    "organization = Example Networks\n" LISTENER);
	assert_true(conf->tlsrpt.enabled);
	assert_string_equal(conf->tlsrpt.from, "tls-reports@example.net");
	assert_string_equal(conf->tlsrpt.organization, "Example Networks");
	assert_string_equal(conf->tlsrpt.contact, "tls-reports@example.net");
	conf_unref(conf);
}

/* each numeric key at its limits and one past */
static const struct {
	const char	*section;
	const char	*line;
	const char	*want;		/* NULL: loads */
} bound_cases[] = {
	{ "server", "threads = 0", NULL },
	{ "server", "threads = 256", NULL },
	{ "server", "threads = 257", "threads: '257' is out of range 0..256" },
	{ "limits", "max_message_size = 1K", NULL },
	{ "limits", "max_message_size = 1024", NULL },
	{ "limits", "max_message_size = 1023",
	  "max_message_size: '1023' is out of range 1K..4G" },
	{ "limits", "max_message_size = 0",
	  "max_message_size: '0' is out of range 1K..4G" },
	{ "limits", "max_message_size = 4G", NULL },
	{ "limits", "max_message_size = 4194304K", NULL },
	{ "limits", "max_message_size = 4194305K",
	  "max_message_size: '4194305K' is out of range 1K..4G" },
	{ "limits", "max_recipients = 1", NULL },
	{ "limits", "max_recipients = 0",
	  "max_recipients: '0' is out of range 1..100000" },
	{ "limits", "max_recipients = 100000", NULL },
	{ "limits", "max_recipients = 100001",
	  "max_recipients: '100001' is out of range 1..100000" },
	{ "limits", "max_connections = 1", NULL },
	{ "limits", "max_connections = 0",
	  "max_connections: '0' is out of range 1..1000000" },
	{ "limits", "max_connections = 1000000", NULL },
	{ "limits", "max_connections = 1000001",
	  "max_connections: '1000001' is out of range 1..1000000" },
	{ "limits", "max_connections_per_ip = 1", NULL },
	{ "limits", "max_connections_per_ip = 0",
	  "max_connections_per_ip: '0' is out of range 1..1000000" },
	{ "limits", "max_connections_per_ip = 1000000", NULL },
	{ "limits", "max_connections_per_ip = 1000001",
	  "max_connections_per_ip: '1000001' is out of range 1..1000000" },
	{ "limits", "command_timeout = 1", NULL },
	{ "limits", "command_timeout = 1s", NULL },
	{ "limits", "command_timeout = 0",
	  "command_timeout: '0' is out of range 1s..1d" },
	{ "limits", "command_timeout = 1d", NULL },
	{ "limits", "command_timeout = 24h", NULL },
	{ "limits", "command_timeout = 86401",
	  "command_timeout: '86401' is out of range 1s..1d" },
	{ "limits", "data_timeout = 1s", NULL },
	{ "limits", "data_timeout = 0s",
	  "data_timeout: '0s' is out of range 1s..1d" },
	{ "limits", "data_timeout = 1440m", NULL },
	{ "limits", "data_timeout = 1441m",
	  "data_timeout: '1441m' is out of range 1s..1d" },
};

static void
test_bounds(void **state)
{
	char text[256], want[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bound_cases) / sizeof(bound_cases[0]);
	    i++) {
		snprintf(text, sizeof(text), "[%s]\n%s\n" LISTENER,
		    bound_cases[i].section, bound_cases[i].line);
		if (bound_cases[i].want == NULL) {
			conf_unref(load_ok(text));
			continue;
		}
		snprintf(want, sizeof(want), "FILE:2: %s", bound_cases[i].want);
		expect_error(bound_cases[i].line, text, strlen(text), want);
	}
}

/* ------------------------------------------------------------------ */

static const struct {
	const char	*in;
	int		 ok;
	uint64_t	 want;
} size_cases[] = {
	{ "0", 1, 0 },
	{ "1", 1, 1 },
	{ "1K", 1, 1024 },
	{ "1k", 1, 1024 },
	{ "25M", 1, 25ull << 20 },
	{ "25m", 1, 25ull << 20 },
	{ "1G", 1, 1ull << 30 },
	{ "007", 1, 7 },
	{ "18446744073709551615", 1, UINT64_MAX },
	{ "18446744073709551616", 0, 0 },
	{ "17179869183G", 1, 17179869183ull << 30 },
	{ "17179869184G", 0, 0 },
	{ "18014398509481983K", 1, 18014398509481983ull << 10 },
	{ "18014398509481984K", 0, 0 },
	{ "1T", 0, 0 },
	{ "", 0, 0 },
	{ "K", 0, 0 },
	{ "abc", 0, 0 },
	{ "-1", 0, 0 },
	{ "+1", 0, 0 },
	{ " 1", 0, 0 },
	{ "1 ", 0, 0 },
	{ "1KB", 0, 0 },
	{ "1.5M", 0, 0 },
	{ "0x10", 0, 0 },
};

static void
test_parse_size(void **state)
{
	char want[64];
	struct err err;
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]);
	    i++) {
		int rc = conf_parse_size(size_cases[i].in, &v, &err);

		if (size_cases[i].ok) {
			if (rc != 0 || v != size_cases[i].want)
				fail_msg("size '%s': got rc %d v %llu, want "
				    "%llu", size_cases[i].in, rc,
				    (unsigned long long)v,
				    (unsigned long long)size_cases[i].want);
		} else {
			if (rc != -1)
				fail_msg("size '%s': got %llu, want error",
				    size_cases[i].in, (unsigned long long)v);
			snprintf(want, sizeof(want), "bad size '%s'",
			    size_cases[i].in);
			assert_string_equal(err.msg, want);
		}
	}
}

static const struct {
	const char	*in;
	int		 ok;
	unsigned	 want;
} duration_cases[] = {
	{ "0", 1, 0 },
	{ "1", 1, 1 },
	{ "1s", 1, 1 },
	{ "90S", 1, 90 },
	{ "5m", 1, 300 },
	{ "1h", 1, 3600 },
	{ "1d", 1, 86400 },
	{ "4294967295", 1, UINT_MAX },
	{ "4294967296", 0, 0 },
	{ "71582788m", 1, 71582788u * 60 },
	{ "71582789m", 0, 0 },
	{ "1193046h", 1, 1193046u * 3600 },
	{ "1193047h", 0, 0 },
	{ "49710d", 1, 49710u * 86400 },
	{ "49711d", 0, 0 },
	{ "1w", 0, 0 },
	{ "1ms", 0, 0 },
	{ "m", 0, 0 },
	{ "", 0, 0 },
	{ "-5", 0, 0 },
	{ "5 m", 0, 0 },
};

static void
test_parse_duration(void **state)
{
	char want[64];
	struct err err;
	unsigned v;

	(void)state;
	for (size_t i = 0;
	    i < sizeof(duration_cases) / sizeof(duration_cases[0]); i++) {
		int rc = conf_parse_duration(duration_cases[i].in, &v, &err);

		if (duration_cases[i].ok) {
			if (rc != 0 || v != duration_cases[i].want)
				fail_msg("duration '%s': got rc %d v %u, want "
				    "%u", duration_cases[i].in, rc, v,
				    duration_cases[i].want);
		} else {
			if (rc != -1)
				fail_msg("duration '%s': got %u, want error",
				    duration_cases[i].in, v);
			snprintf(want, sizeof(want), "bad duration '%s'",
			    duration_cases[i].in);
			assert_string_equal(err.msg, want);
		}
	}
}

static void
test_parse_bool(void **state)
{
	static const char *const yes[] = { "yes", "YES", "true", "On", "1" };
	static const char *const no[] = { "no", "No", "false", "OFF", "0" };
	static const char *const bad[] = { "", "y", "2", "yess", "nope" };
	char want[64];
	struct err err;
	bool v;

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		v = false;
		assert_int_equal(conf_parse_bool(yes[i], &v, &err), 0);
		assert_true(v);
		assert_int_equal(conf_parse_bool(no[i], &v, &err), 0);
		assert_false(v);
		assert_int_equal(conf_parse_bool(bad[i], &v, &err), -1);
		snprintf(want, sizeof(want), "bad boolean '%s' (yes or no)",
		    bad[i]);
		assert_string_equal(err.msg, want);
	}
}

static const struct {
	const char	*in;
	const char	*text;		/* NULL: error */
	const char	*err;
	int		 family;
	unsigned	 port;
} addr_cases[] = {
	{ "127.0.0.1:25", "127.0.0.1:25", NULL, AF_INET, 25 },
	{ "0.0.0.0:1", "0.0.0.0:1", NULL, AF_INET, 1 },
	{ "255.255.255.255:65535", "255.255.255.255:65535", NULL, AF_INET,
	  65535 },
	{ "[::1]:587", "[::1]:587", NULL, AF_INET6, 587 },
	{ "[::]:25", "[::]:25", NULL, AF_INET6, 25 },
	{ "[0:0:0:0:0:0:0:1]:25", "[::1]:25", NULL, AF_INET6, 25 },
	{ "[::FFFF:1.2.3.4]:25", "[::ffff:1.2.3.4]:25", NULL, AF_INET6, 25 },
	{ "127.0.0.1:025", "127.0.0.1:25", NULL, AF_INET, 25 },
	{ "127.0.0.1:0", NULL, "bad port in '127.0.0.1:0' (1-65535)", 0, 0 },
	{ "127.0.0.1:65536", NULL, "bad port in '127.0.0.1:65536' (1-65535)",
	  0, 0 },
	{ "127.0.0.1:", NULL, "bad port in '127.0.0.1:' (1-65535)", 0, 0 },
	{ "127.0.0.1:25x", NULL, "bad port in '127.0.0.1:25x' (1-65535)", 0,
	  0 },
	{ "127.0.0.1:-1", NULL, "bad port in '127.0.0.1:-1' (1-65535)", 0,
	  0 },
	{ "127.0.0.1", NULL, "bad address '127.0.0.1' (host:port or "
	  "[v6]:port)", 0, 0 },
	{ ":25", NULL, "bad address ':25' (host:port or [v6]:port)", 0, 0 },
	{ "", NULL, "bad address '' (host:port or [v6]:port)", 0, 0 },
	{ "[::1]", NULL, "bad address '[::1]' (host:port or [v6]:port)", 0,
	  0 },
	{ "[::1]25", NULL, "bad address '[::1]25' (host:port or [v6]:port)",
	  0, 0 },
	{ "[]:25", NULL, "bad address '[]:25' (host:port or [v6]:port)", 0,
	  0 },
	{ "::1:25", NULL, "bad address '::1:25' (an IPv6 address goes in "
	  "brackets: [::1]:25)", 0, 0 },
	{ "localhost:25", NULL, "bad address 'localhost:25' (numeric IP "
	  "addresses only)", 0, 0 },
	{ "1.2.3:25", NULL, "bad address '1.2.3:25' (numeric IP addresses "
	  "only)", 0, 0 },
	{ "[1.2.3.4]:25", NULL, "bad address '[1.2.3.4]:25' (numeric IP "
	  "addresses only)", 0, 0 },
	{ "[fe80::1%eth0]:25", NULL, "bad address '[fe80::1%eth0]:25' "
	  "(numeric IP addresses only)", 0, 0 },
};

static void
test_parse_addr(void **state)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct conf_addr a;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]);
	    i++) {
		int rc = conf_parse_addr(addr_cases[i].in, &a, &err);

		if (addr_cases[i].text == NULL) {
			if (rc != -1)
				fail_msg("addr '%s': got %s, want error",
				    addr_cases[i].in, a.text);
			if (strcmp(err.msg, addr_cases[i].err) != 0)
				fail_msg("addr '%s': got \"%s\", want \"%s\"",
				    addr_cases[i].in, err.msg,
				    addr_cases[i].err);
			continue;
		}
		if (rc != 0)
			fail_msg("addr '%s': got error %s", addr_cases[i].in,
			    err.msg);
		assert_string_equal(a.text, addr_cases[i].text);
		assert_int_equal(a.ss.ss_family, addr_cases[i].family);
		if (addr_cases[i].family == AF_INET) {
			assert_int_equal(a.sslen, sizeof(sin));
			memcpy(&sin, &a.ss, sizeof(sin));
			assert_int_equal(ntohs(sin.sin_port),
			    addr_cases[i].port);
		} else {
			assert_int_equal(a.sslen, sizeof(sin6));
			memcpy(&sin6, &a.ss, sizeof(sin6));
			assert_int_equal(ntohs(sin6.sin6_port),
			    addr_cases[i].port);
		}
	}
}

static const struct {
	const char	*in;
	const char	*err;		/* NULL: parses */
	int		 family;
	unsigned	 prefix;
} cidr_cases[] = {
	{ "10.0.0.0/8", NULL, AF_INET, 8 },
	{ "0.0.0.0/0", NULL, AF_INET, 0 },
	{ "192.168.1.1", NULL, AF_INET, 32 },
	{ "192.168.1.1/32", NULL, AF_INET, 32 },
	{ "192.168.1.128/25", NULL, AF_INET, 25 },
	{ "::1", NULL, AF_INET6, 128 },
	{ "::/0", NULL, AF_INET6, 0 },
	{ "fe80::/10", NULL, AF_INET6, 10 },
	{ "2001:db8::/32", NULL, AF_INET6, 32 },
	{ "::ffff:0:0/96", NULL, AF_INET6, 96 },
	{ "10.0.0.1/8", "host bits set in '10.0.0.1/8' (the network is "
	  "10.0.0.0/8)", 0, 0 },
	{ "192.168.1.129/25", "host bits set in '192.168.1.129/25' (the "
	  "network is 192.168.1.128/25)", 0, 0 },
	{ "1.0.0.0/0", "host bits set in '1.0.0.0/0' (the network is "
	  "0.0.0.0/0)", 0, 0 },
	{ "fe80::1/64", "host bits set in 'fe80::1/64' (the network is "
	  "fe80::/64)", 0, 0 },
	{ "10.0.0.0/33", "bad network '10.0.0.0/33' (address or "
	  "address/prefix)", 0, 0 },
	{ "::/129", "bad network '::/129' (address or address/prefix)", 0,
	  0 },
	{ "10.0.0.0/", "bad network '10.0.0.0/' (address or address/prefix)",
	  0, 0 },
	{ "10.0.0.0/-1", "bad network '10.0.0.0/-1' (address or "
	  "address/prefix)", 0, 0 },
	{ "10.0.0.0/8/8", "bad network '10.0.0.0/8/8' (address or "
	  "address/prefix)", 0, 0 },
	{ "/8", "bad network '/8' (address or address/prefix)", 0, 0 },
	{ "", "bad network '' (address or address/prefix)", 0, 0 },
	{ "10.0.0/8", "bad network '10.0.0/8' (address or address/prefix)",
	  0, 0 },
	{ "localhost", "bad network 'localhost' (address or "
	  "address/prefix)", 0, 0 },
};

static void
test_parse_cidr(void **state)
{
	struct conf_cidr c;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(cidr_cases) / sizeof(cidr_cases[0]);
	    i++) {
		int rc = conf_parse_cidr(cidr_cases[i].in, &c, &err);

		if (cidr_cases[i].err != NULL) {
			if (rc != -1)
				fail_msg("cidr '%s': parsed, want error",
				    cidr_cases[i].in);
			if (strcmp(err.msg, cidr_cases[i].err) != 0)
				fail_msg("cidr '%s': got \"%s\", want \"%s\"",
				    cidr_cases[i].in, err.msg,
				    cidr_cases[i].err);
			continue;
		}
		if (rc != 0)
			fail_msg("cidr '%s': got error %s", cidr_cases[i].in,
			    err.msg);
		assert_int_equal(c.family, cidr_cases[i].family);
		assert_int_equal(c.prefix, cidr_cases[i].prefix);
	}
}

/* sockaddr_of - a numeric address as the sockaddr accept() would give */
static void
sockaddr_of(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

		assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
		memcpy(ss, &sin6, sizeof(sin6));
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET };

		assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
		memcpy(ss, &sin, sizeof(sin));
	}
}

static const struct {
	const char	*cidr;
	const char	*ip;
	bool		 want;
} match_cases[] = {
	{ "10.0.0.0/8", "10.1.2.3", true },
	{ "10.0.0.0/8", "10.255.255.255", true },
	{ "10.0.0.0/8", "11.0.0.0", false },
	{ "10.0.0.0/8", "9.255.255.255", false },
	{ "10.0.0.0/8", "::ffff:10.1.2.3", true },
	{ "10.0.0.0/8", "::ffff:11.1.2.3", false },
	{ "10.0.0.0/8", "::a01:203", false },	/* v4-compatible, not mapped */
	{ "10.0.0.0/8", "::1", false },
	{ "0.0.0.0/0", "1.2.3.4", true },
	{ "0.0.0.0/0", "::ffff:1.2.3.4", true },
	{ "0.0.0.0/0", "2001:db8::1", false },
	{ "192.168.1.128/25", "192.168.1.128", true },
	{ "192.168.1.128/25", "192.168.1.255", true },
	{ "192.168.1.128/25", "192.168.1.127", false },
	{ "192.168.1.1", "192.168.1.1", true },
	{ "192.168.1.1", "192.168.1.2", false },
	{ "127.0.0.0/8", "::ffff:127.0.0.1", true },
	{ "::1", "::1", true },
	{ "::1/128", "::2", false },
	{ "::1/128", "127.0.0.1", false },
	{ "2001:db8::/32", "2001:db8:ffff::1", true },
	{ "2001:db8::/32", "2001:db9::", false },
	{ "fe80::/10", "febf:ffff::1", true },
	{ "fe80::/10", "fec0::1", false },
	{ "::/0", "2001:db8::1", true },
	{ "::/0", "1.2.3.4", false },
	{ "::ffff:0:0/96", "::ffff:1.2.3.4", true },
	{ "::ffff:0:0/96", "1.2.3.4", false },
};

static void
test_cidr_match(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct conf_cidr c;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]);
	    i++) {
		assert_int_equal(conf_parse_cidr(match_cases[i].cidr, &c, &err),
		    0);
		sockaddr_of(match_cases[i].ip, &ss);
		if (conf_cidr_match(&c, (struct sockaddr *)&ss) !=
		    match_cases[i].want)
			fail_msg("%s in %s: got %d, want %d", match_cases[i].ip,
			    match_cases[i].cidr, !match_cases[i].want,
			    match_cases[i].want);
	}
	assert_int_equal(conf_parse_cidr("0.0.0.0/0", &c, &err), 0);
	assert_false(conf_cidr_match(&c, (struct sockaddr *)&sun));
	assert_false(conf_cidr_match(&c, NULL));
}

static void
test_lookups(void **state)
{
	static const struct {
		const char	*ip;
		bool		 want;
	} trusted[] = {
		{ "127.0.0.1", true },
		{ "127.255.0.1", true },
		{ "::1", true },
		{ "::ffff:127.0.0.1", true },
		{ "10.0.0.1", false },
		{ "::2", false },
	};
	struct sockaddr_storage ss;
	struct conf *conf;

	(void)state;
	conf = load_ok("[local]\ndomains = Example.COM mail.example.org\n"
	    LISTENER);
	assert_true(conf_is_local_domain(conf, STR("example.com")));
	assert_true(conf_is_local_domain(conf, STR("EXAMPLE.com")));
	assert_true(conf_is_local_domain(conf, STR("Mail.Example.Org")));
	assert_false(conf_is_local_domain(conf, STR("example.co")));
	assert_false(conf_is_local_domain(conf, STR("xample.com")));
	assert_false(conf_is_local_domain(conf, STR("example.org")));
	assert_false(conf_is_local_domain(conf, STR("")));
	assert_false(conf_is_local_domain(conf,
	    str_make("example.comX", 11 + 1)));
	assert_true(conf_is_local_domain(conf, str_make("example.comX", 11)));
	for (size_t i = 0; i < sizeof(trusted) / sizeof(trusted[0]); i++) {
		sockaddr_of(trusted[i].ip, &ss);
		if (conf_is_trusted(conf, (struct sockaddr *)&ss) !=
		    trusted[i].want)
			fail_msg("trusted %s: got %d, want %d", trusted[i].ip,
			    !trusted[i].want, trusted[i].want);
	}
	conf_unref(conf);

	/* no local domains, nobody trusted */
	conf = load_ok("[relay]\ntrusted_networks =\n" LISTENER);
	assert_false(conf_is_local_domain(conf, STR("localhost")));
	sockaddr_of("127.0.0.1", &ss);
	assert_false(conf_is_trusted(conf, (struct sockaddr *)&ss));
	conf_unref(conf);
}

static void
test_refs(void **state)
{
	struct conf *conf = conf_default();

	(void)state;
	assert_ptr_equal(conf_ref(conf), conf);
	assert_int_equal(atomic_load(&conf->refs), 2);
	conf_unref(conf);
	assert_int_equal(atomic_load(&conf->refs), 1);
	conf_unref(conf);	/* frees: ASan would see a leak otherwise */
	conf_unref(NULL);
}

static void
test_find(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	const char *tmp = getenv("TMPDIR");
	struct conf *conf;
	struct err err;
	FILE *f;
	int cwd;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/test_conf.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	assert_true((cwd = open(".", O_RDONLY | O_DIRECTORY)) >= 0);
	assert_int_equal(chdir(dir), 0);

	/* nothing here: the embedded default */
	assert_int_equal(conf_find(NULL, &conf, &err), 0);
	assert_null(conf->path);
	assert_string_equal(conf->listeners[0].addrs[0].text,
	    "127.0.0.1:2525");
	conf_unref(conf);

	/* ./relais.conf when it exists, with its errors */
	assert_non_null(f = fopen("relais.conf", "w"));
	fputs("[server]\nthreads = 3\n[listener b]\naddress = [::1]:2526\n", f);
	fclose(f);
	assert_int_equal(conf_find(NULL, &conf, &err), 0);
	assert_string_equal(conf->path, "relais.conf");
	assert_int_equal(conf->server.threads, 3);
	conf_unref(conf);
	assert_non_null(f = fopen("relais.conf", "w"));
	fputs("[server]\nthreads = x\n", f);
	fclose(f);
	assert_int_equal(conf_find(NULL, &conf, &err), -1);
	assert_string_equal(err.msg,
	    "relais.conf:2: threads: bad number 'x'");

	/* an explicit path wins, and must exist */
	snprintf(path, sizeof(path), "%s/other.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("[listener c]\naddress = 127.0.0.1:2527\n", f);
	fclose(f);
	assert_int_equal(conf_find(path, &conf, &err), 0);
	assert_string_equal(conf->path, path);
	assert_string_equal(conf->listeners[0].name, "c");
	conf_unref(conf);
	assert_int_equal(conf_find("nope.conf", &conf, &err), -1);
	assert_string_equal(err.msg, "nope.conf: cannot open: "
	    "No such file or directory");

	unlink(path);
	unlink("relais.conf");
	assert_int_equal(fchdir(cwd), 0);
	close(cwd);
	rmdir(dir);
}

/*
 * etc/relais.conf loads, and so does it with every commented-out
 * "#key = value" line enabled: the defaults it shows are the defaults;
 * its shaping key then names etc/shaping.conf, which must load too.
 * Skipped when not run from the top of the tree.
 */
static void
test_example_file(void **state)
{
	static const char path[] = "etc/relais.conf";
	char line[512];
	struct conf *conf;
	struct err err;
	struct buf b;
	FILE *f;
	int rc;

	(void)state;
	if ((f = fopen(path, "r")) == NULL)
		skip();
	assert_int_equal(conf_load(path, &conf, &err), 0);
	assert_int_equal(conf->nlisteners, 3);
	assert_string_equal(conf->listeners[1].addrs[0].text, "0.0.0.0:587");
	assert_int_equal(conf->listeners[1].tls, CONF_TLS_REQUIRED);
	assert_int_equal(conf->listeners[2].tls, CONF_TLS_IMPLICIT);
	assert_string_equal(conf->server.user, "relais");
	conf_unref(conf);

	buf_init(&b, 0);
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strspn(line + 1, "abcdefghijklmnopqrstuvwxyz_");

		/* the shaping file shipped beside it, relative to etc/ */
		if (strncmp(line, "#shaping = ", 11) == 0)
			buf_puts(&b, "shaping = shaping.conf\n");
		else if (line[0] == '#' && n > 0 &&
		    strncmp(line + 1 + n, " = ", 3) == 0)
			buf_puts(&b, line + 1);
		else
			buf_puts(&b, line);
	}
	fclose(f);
	rc = conf_load_string(path, b.data, b.len, &conf, &err);
	buf_fini(&b);
	if (rc == -1)
		fail_msg("uncommented: %s", err.msg);
	check_defaults_limits(conf);
	assert_string_equal(conf->relay.shaping, "etc/shaping.conf");
	assert_true(conf->nsites > 0 && conf->nbackoffs > 0);
	assert_string_equal(conf->server.data_dir, "/var/lib/relais");
	assert_string_equal(conf->local.mailboxes,
	    "/var/lib/relais/mail/%d/%u");
	assert_int_equal(conf->listeners[0].role, CONF_ROLE_MX);
	assert_int_equal(conf->listeners[0].tls, CONF_TLS_NONE);
	conf_unref(conf);
}

/* [milter]: servers, defaults, listeners' own lists and milter = no */
static void
test_milter(void **state)
{
	struct conf *conf;
	const char *const *v;
	size_t n;
	static const char text[] =
	    "[listener mx]\naddress = 127.0.0.1:2525\n"
	    "[listener sub]\naddress = 127.0.0.1:2587\n"
	    "milters = unix:/run/opendkim.sock\n"
	    "[listener off]\naddress = 127.0.0.1:2588\nmilter = no\n"
	    "[milter]\nservers = inet:127.0.0.1:11332, inet:[::1]:8891\n"
	    "default_action = accept\ncommand_timeout = 5s\n";

	(void)state;
	conf = load_ok(text);
	v = conf_listener_milters(conf, "mx", &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "inet:127.0.0.1:11332");
	assert_string_equal(v[1], "inet:[::1]:8891");
	v = conf_listener_milters(conf, "sub", &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "unix:/run/opendkim.sock");
	(void)conf_listener_milters(conf, "off", &n);
	assert_int_equal(n, 0);
	assert_int_equal(conf->milter.default_action, CONF_MILTER_ACCEPT);
	assert_int_equal(conf->milter.command_timeout, 5);
	assert_int_equal(conf->milter.connect_timeout, 30);
	assert_int_equal(conf->milter.content_timeout, 300);
	assert_string_equal(conf->milter.macros[4], "i");
	conf_unref(conf);
	/* none: no milters */
	conf = load_ok("[listener mx]\naddress = 127.0.0.1:2525\n");
	(void)conf_listener_milters(conf, "mx", &n);
	assert_int_equal(n, 0);
	conf_unref(conf);
	expect_error("transport", LISTENER "[milter]\nservers = tcp:1.2.3.4:5\n",
	    sizeof(LISTENER "[milter]\nservers = tcp:1.2.3.4:5\n") - 1,
	    "FILE:4: servers: bad milter 'tcp:1.2.3.4:5' (inet:IP:PORT or"
	    " unix:/path)");
	expect_error("relative", LISTENER "[milter]\nservers = unix:run.sock\n",
	    sizeof(LISTENER "[milter]\nservers = unix:run.sock\n") - 1,
	    "FILE:4: servers: bad milter 'unix:run.sock' (unix:/absolute/path,"
	    " up to 107 octets)");
	expect_error("name", LISTENER "[milter]\nservers = inet:localhost:25\n",
	    sizeof(LISTENER "[milter]\nservers = inet:localhost:25\n") - 1,
	    "FILE:4: servers: bad address 'localhost:25' (numeric IP addresses"
	    " only)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_errors_lines),
		cmocka_unit_test(test_errors_files),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_embedded_default),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_computed),
		cmocka_unit_test(test_tlsrpt),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_parse_cidr),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_milter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
