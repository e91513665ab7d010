/* SPDX-License-Identifier: ISC */
/*
 * test_conf_shaping.c - conf.c for traffic shaping and tenants: [site],
 * [backoff], [pool] and [tenant] sections (every key, defaults, errors
 * with FILE:LINE), the rate and date parsers, conf_site_find and the
 * tenant lookups, and the [relay] shaping file (relative path, sections
 * it may not hold, its errors as PATH:LINE), including etc/shaping.conf.
 *
 * Config texts are written to files in a temporary directory and loaded
 * with conf_load, so the FILE in messages is real; in the tables "FILE"
 * stands for the main file's path.
 */
#include <errno.h>
#include <limits.h>
#include <regex.h>
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

#define LISTENER	"[listener a]\naddress = 127.0.0.1:25\n"

static char	dir[PATH_MAX];		/* made by setup, removed by teardown */

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/test_conf_shaping.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

/* put - text into dir/name; path_out gets the path */
static void
put(const char *name, const char *text, char *path_out, size_t len)
{
	FILE *f;

	snprintf(path_out, len, "%s/%s", dir, name);
	assert_non_null(f = fopen(path_out, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* gone - remove dir/name */
static void
gone(const char *name)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static struct conf *
load_ok(const char *text)
{
	char path[PATH_MAX + 64];
	struct conf *conf = NULL;
	struct err err;

	put("main.conf", text, path, sizeof(path));
	if (conf_load(path, &conf, &err) == -1)
		fail_msg("load failed: %s\n--- text:\n%s", err.msg, text);
	gone("main.conf");
	return conf;
}

/* expect_error - want is "FILE..." (the main file) or "DIR..." (dir) */
static void
expect_error(const char *name, const char *text, const char *want)
{
	char path[PATH_MAX + 64], full[PATH_MAX + 400];
	struct conf *conf = (struct conf *)1;
	struct err err;

	put("main.conf", text, path, sizeof(path));
	memset(&err, 0, sizeof(err));
	if (conf_load(path, &conf, &err) != -1) {
		conf_unref(conf);
		fail_msg("%s: loaded, want error \"%s\"", name, want);
	}
	gone("main.conf");
	assert_null(conf);
	if (strncmp(want, "FILE", 4) == 0)
		snprintf(full, sizeof(full), "%s%s", path, want + 4);
	else if (strncmp(want, "DIR", 3) == 0)
		snprintf(full, sizeof(full), "%s%s", dir, want + 3);
	else
		fail_msg("%s: want must start with FILE or DIR", name);
	if (strcmp(err.msg, full) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", name, err.msg, full);
}

/* ------------------------------------------------------------------ */

static const struct {
	const char	*in;
	int		 ok;
	unsigned	 count, period;
} rate_cases[] = {
	{ "0", 1, 0, 1 },
	{ "100/m", 1, 100, 60 },
	{ "100/min", 1, 100, 60 },
	{ "10/s", 1, 10, 1 },
	{ "10/sec", 1, 10, 1 },
	{ "3600/h", 1, 3600, 3600 },
	{ "3600/hour", 1, 3600, 3600 },
	{ "5000/d", 1, 5000, 86400 },
	{ "5000/day", 1, 5000, 86400 },
	{ "7/H", 1, 7, 3600 },
	{ "0/m", 1, 0, 60 },
	{ "4294967295/s", 1, 4294967295u, 1 },
	{ "4294967296/s", 0, 0, 0 },
	{ "10/x", 0, 0, 0 },
	{ "10/", 0, 0, 0 },
	{ "10", 0, 0, 0 },
	{ "/m", 0, 0, 0 },
	{ "", 0, 0, 0 },
	{ "10/m ", 0, 0, 0 },
	{ "10 /m", 0, 0, 0 },
	{ "-1/m", 0, 0, 0 },
	{ "10/minutes", 0, 0, 0 },
	{ "10/m/s", 0, 0, 0 },
};

static void
test_parse_rate(void **state)
{
	struct conf_rate r;
	struct err err;
	char want[128];

	(void)state;
	for (size_t i = 0; i < sizeof(rate_cases) / sizeof(rate_cases[0]);
	    i++) {
		int rc;

		memset(&r, 0, sizeof(r));
		rc = conf_parse_rate(rate_cases[i].in, &r, &err);
		if (!rate_cases[i].ok) {
			if (rc != -1)
				fail_msg("'%s' parsed", rate_cases[i].in);
			snprintf(want, sizeof(want), "bad rate '%s' (0, or "
			    "N/s, N/m, N/h, N/d)", rate_cases[i].in);
			assert_string_equal(err.msg, want);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s': %s", rate_cases[i].in, err.msg);
		assert_int_equal(r.count, rate_cases[i].count);
		assert_int_equal(r.period, rate_cases[i].period);
	}
}

static const struct {
	const char	*in;
	int		 ok;
	int64_t		 want;
} date_cases[] = {
	{ "1970-01-01", 1, 0 },
	{ "1970-01-02", 1, 86400 },
	{ "2000-03-01", 1, 951868800 },
	{ "2024-02-29", 1, 1709164800 },
	{ "2026-12-05", 1, 1796428800 },
	{ "9999-12-31", 1, 253402214400 },
	{ "2023-02-29", 0, 0 },
	{ "1900-02-29", 0, 0 },
	{ "2026-04-31", 0, 0 },
	{ "2026-13-01", 0, 0 },
	{ "2026-00-10", 0, 0 },
	{ "2026-01-00", 0, 0 },
	{ "1969-12-31", 0, 0 },
	{ "2026-1-01", 0, 0 },
	{ "2026/01/01", 0, 0 },
	{ "2026-01-01T00:00", 0, 0 },
	{ "26-01-01", 0, 0 },
	{ "", 0, 0 },
	{ "today", 0, 0 },
};

static void
test_parse_date(void **state)
{
	struct err err;
	int64_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(date_cases) / sizeof(date_cases[0]);
	    i++) {
		int rc = conf_parse_date(date_cases[i].in, &t, &err);

		if (!date_cases[i].ok) {
			if (rc != -1)
				fail_msg("'%s' parsed", date_cases[i].in);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s': %s", date_cases[i].in, err.msg);
		if (t != date_cases[i].want)
			fail_msg("'%s': got %lld, want %lld", date_cases[i].in,
			    (long long)t, (long long)date_cases[i].want);
	}
	assert_int_equal(conf_parse_date("2026-02-30", &t, &err), -1);
	assert_string_equal(err.msg, "bad date '2026-02-30' (YYYY-MM-DD, "
	    "from 1970-01-01)");
}

/* ------------------------------------------------------------------ */

static const struct {
	const char	*name;
	const char	*text;
	const char	*want;
} error_cases[] = {
	/* [site] */
	{ "site without name", LISTENER "[site]\nmatch = a.example\n",
	  "FILE:3: [site] needs a name: [site NAME]" },
	{ "site bad name", LISTENER "[site a/b]\n",
	  "FILE:3: bad name 'a/b' in [site] (letters, digits, '.', '_', '-'; "
	  "at most 64)" },
	{ "site duplicate", LISTENER "[site g]\nmatch = a.example\n"
	  "[site G]\nmatch = b.example\n", "FILE:5: duplicate section [site G]" },
	{ "site missing match", LISTENER "[site g]\nconnection_limit = 2\n",
	  "FILE: [site g]: missing 'match'" },
	{ "site empty match", LISTENER "[site g]\nmatch =\n",
	  "FILE: [site g]: 'match' is empty" },
	{ "site default with match", LISTENER "[site default]\n"
	  "idle_timeout = 1s\nmatch = a.example\n", "FILE:5: match: [site "
	  "default] takes no match (it is for the sites no other [site] "
	  "matches)" },
	{ "site bad pattern", LISTENER "[site g]\nmatch = a.example *.\n",
	  "FILE:4: match: bad pattern '*.' (a domain, or *.domain for the "
	  "names below it)" },
	{ "site inner star", LISTENER "[site g]\nmatch = a.*.example\n",
	  "FILE:4: match: bad pattern 'a.*.example' (a domain, or *.domain "
	  "for the names below it)" },
	{ "site bad rate", LISTENER "[site g]\nmatch = a.example\n"
	  "max_message_rate = 10/x\n", "FILE:5: max_message_rate: bad rate "
	  "'10/x' (0, or N/s, N/m, N/h, N/d)" },
	{ "site rate past max", LISTENER "[site g]\nmatch = a.example\n"
	  "max_message_rate = 100000001/s\n", "FILE:5: max_message_rate: "
	  "'100000001' is out of range 0..100000000" },
	{ "site idle_timeout", LISTENER "[site g]\nmatch = a.example\n"
	  "idle_timeout = 2h\n", "FILE:5: idle_timeout: '2h' is out of range "
	  "0..1h" },
	{ "site unknown pool", LISTENER "[site g]\nmatch = a.example\n"
	  "pool = bulk\n", "FILE:5: pool: no [pool bulk] section (in [site "
	  "g])" },
	{ "site bad pool name", LISTENER "[site g]\nmatch = a.example\n"
	  "pool = a b\n", "FILE:5: pool: bad pool name 'a b'" },
	{ "site unknown key", LISTENER "[site g]\nmatch = a.example\n"
	  "rate = 1/s\n", "FILE:5: unknown key 'rate' in [site g]" },

	/* [backoff] */
	{ "backoff bad regex", LISTENER "[backoff b]\n"
	  "action = suspend\nmatch = ^421 (rate\n",
	  "FILE:5: match: bad regular expression '^421 (rate': "
	  "Unmatched ( or \\(" },
	{ "backoff missing match", LISTENER "[backoff b]\n"
	  "action = suspend\n", "FILE: [backoff b]: missing 'match'" },
	{ "backoff empty match", LISTENER "[backoff b]\nmatch =\n",
	  "FILE:4: match: missing value" },
	{ "backoff action", LISTENER "[backoff b]\nmatch = x\n"
	  "action = stop\n", "FILE:5: action: bad value 'stop' (suspend, "
	  "throttle)" },
	{ "backoff rate_factor 100", LISTENER "[backoff b]\nmatch = x\n"
	  "rate_factor = 100\n", "FILE:5: rate_factor: '100' is out of range "
	  "1..99" },
	{ "backoff rate_factor 0", LISTENER "[backoff b]\nmatch = x\n"
	  "rate_factor = 0\n", "FILE:5: rate_factor: '0' is out of range "
	  "1..99" },
	{ "backoff rate_increase", LISTENER "[backoff b]\nmatch = x\n"
	  "rate_increase = 101\n", "FILE:5: rate_increase: '101' is out of "
	  "range 1..100" },
	{ "backoff suspend_time 0", LISTENER "[backoff b]\nmatch = x\n"
	  "suspend_time = 0\n", "FILE:5: suspend_time: '0' is out of range "
	  "1s..7d" },
	{ "backoff duplicate", LISTENER "[backoff b]\nmatch = x\n"
	  "[backoff b]\nmatch = y\n", "FILE:5: duplicate section [backoff b]" },

	/* [pool] */
	{ "pool no addresses", LISTENER "[pool p]\nwarmup_growth = 50\n",
	  "FILE: [pool p]: missing 'addresses'" },
	{ "pool bad address", LISTENER "[pool p]\n"
	  "addresses = 192.0.2.1 192.0.2.300\n", "FILE:4: addresses: bad "
	  "address '192.0.2.300' (an IPv4 or IPv6 address)" },
	{ "pool host name", LISTENER "[pool p]\naddresses = mail.example\n",
	  "FILE:4: addresses: bad address 'mail.example' (an IPv4 or IPv6 "
	  "address)" },
	{ "pool address with port", LISTENER "[pool p]\n"
	  "addresses = 192.0.2.1:25\n", "FILE:4: addresses: bad address "
	  "'192.0.2.1:25' (an IPv4 or IPv6 address)" },
	{ "pool cidr", LISTENER "[pool p]\naddresses = 192.0.2.0/24\n",
	  "FILE:4: addresses: bad address '192.0.2.0/24' (an IPv4 or IPv6 "
	  "address)" },
	{ "pool address twice", LISTENER "[pool p]\n"
	  "addresses = 2001:db8::1\n  2001:DB8:0::1\n", "FILE:5: addresses: "
	  "2001:db8::1 is listed twice" },
	{ "pool warmup without date", LISTENER "[pool p]\n"
	  "addresses = 192.0.2.1\nwarmup_start = 50\n", "FILE:5: warmup_start: "
	  "a warm-up needs warmup_since (its first day, YYYY-MM-DD)" },
	{ "pool bad date", LISTENER "[pool p]\naddresses = 192.0.2.1\n"
	  "warmup_start = 50\nwarmup_since = 2026-02-30\n",
	  "FILE:6: warmup_since: bad date '2026-02-30' (YYYY-MM-DD, from "
	  "1970-01-01)" },
	{ "pool growth 0", LISTENER "[pool p]\naddresses = 192.0.2.1\n"
	  "warmup_growth = 0\n", "FILE:5: warmup_growth: '0' is out of range "
	  "1..1000" },
	{ "pool duplicate", LISTENER "[pool p]\naddresses = 192.0.2.1\n"
	  "[pool P]\naddresses = 192.0.2.2\n",
	  "FILE:5: duplicate section [pool P]" },

	/* [tenant] */
	{ "tenant user twice", LISTENER "[tenant a]\nusers = alice bob\n"
	  "[tenant b]\nusers = carol\n  bob\n", "FILE:7: users: 'bob' is "
	  "already in [tenant a]" },
	{ "tenant key twice", LISTENER "[tenant a]\napi_keys = web\n"
	  "[tenant b]\napi_keys = web\n", "FILE:6: api_keys: 'web' is "
	  "already in [tenant a]" },
	{ "tenant unknown pool", LISTENER "[pool p]\naddresses = 192.0.2.1\n"
	  "[tenant a]\nusers = alice\npool = q\n", "FILE:7: pool: no [pool q] "
	  "section (in [tenant a])" },
	{ "tenant quota", LISTENER "[tenant a]\nmessages_per_day = lots\n",
	  "FILE:4: messages_per_day: bad number 'lots'" },
	{ "tenant duplicate", LISTENER "[tenant a]\n[tenant A]\n",
	  "FILE:4: duplicate section [tenant A]" },
	{ "tenant control char", LISTENER "[tenant a]\nusers = al\001ce\n",
	  "FILE:4: users: bad name 'al\001ce' (control character)" },

	/* [relay] shaping */
	{ "shaping missing", LISTENER "[relay]\nshaping = nope.conf\n",
	  "DIR/nope.conf: cannot open: No such file or directory" },
	{ "shaping a directory", LISTENER "[relay]\nshaping = .\n",
	  "DIR/.: not a regular file" },
};

static void
test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]);
	    i++)
		expect_error(error_cases[i].name, error_cases[i].text,
		    error_cases[i].want);
}

/* ------------------------------------------------------------------ */

static void
test_defaults(void **state)
{
	struct conf *conf;

	(void)state;
	conf = load_ok(LISTENER
	    "[site default]\n"
	    "[site g]\nmatch = Gmail.COM\n"
	    "[backoff t]\nmatch = rate\n"
	    "[backoff s]\nmatch = ^421\naction = suspend\n"
	    "[pool p]\naddresses = 192.0.2.1\n"
	    "[tenant t]\n");
	assert_int_equal(conf->nsites, 2);
	assert_string_equal(conf->sites[0].name, "default");
	assert_int_equal(conf->sites[0].nmatch, 0);
	for (size_t i = 0; i < 2; i++) {
		const struct conf_site *s = &conf->sites[i];

		assert_int_equal(s->connection_limit, 0);
		assert_int_equal(s->max_message_rate.count, 0);
		assert_int_equal(s->max_deliveries_per_connection, 0);
		assert_int_equal(s->max_recipients_per_message, 0);
		assert_int_equal(s->idle_timeout, 5);
		assert_null(s->pool);
	}
	assert_string_equal(conf->sites[1].match[0], "gmail.com");

	assert_int_equal(conf->nbackoffs, 2);
	assert_int_equal(conf->backoffs[0].action, CONF_BACKOFF_THROTTLE);
	assert_int_equal(conf->backoffs[0].suspend_time, 60);
	assert_int_equal(conf->backoffs[1].action, CONF_BACKOFF_SUSPEND);
	assert_int_equal(conf->backoffs[1].suspend_time, 600);
	for (size_t i = 0; i < 2; i++) {
		assert_true(conf->backoffs[i].re_ok);
		assert_int_equal(conf->backoffs[i].rate_factor, 50);
		assert_int_equal(conf->backoffs[i].rate_increase, 10);
		assert_int_equal(conf->backoffs[i].recover_interval, 60);
	}

	assert_int_equal(conf->npools, 1);
	assert_int_equal(conf->pools[0].warmup_start, 0);
	assert_int_equal(conf->pools[0].warmup_growth, 100);
	assert_null(conf->pools[0].warmup_since);
	assert_int_equal(conf->pools[0].warmup_day0, 0);

	assert_int_equal(conf->ntenants, 1);
	assert_int_equal(conf->tenants[0].nusers, 0);
	assert_int_equal(conf->tenants[0].napi_keys, 0);
	assert_int_equal(conf->tenants[0].messages_per_hour, 0);
	assert_int_equal(conf->tenants[0].messages_per_day, 0);
	assert_int_equal(conf->tenants[0].recipients_per_hour, 0);
	assert_int_equal(conf->tenants[0].recipients_per_day, 0);
	assert_null(conf->tenants[0].pool);
	assert_null(conf->relay.shaping);
	conf_unref(conf);

	/* none of them: empty lists */
	conf = load_ok(LISTENER);
	assert_int_equal(conf->nsites + conf->nbackoffs + conf->npools +
	    conf->ntenants, 0);
	assert_null(conf_site_find(conf, "gmail.com", NULL, 0));
	conf_unref(conf);
}

static void
test_all_keys(void **state)
{
	const struct conf_backoff *b;
	const struct conf_tenant *t;
	const struct conf_pool *p;
	const struct conf_site *s;
	struct conf *conf;

	(void)state;
	conf = load_ok(LISTENER
	    "[site Google]\n"
	    "match = *.Google.com, gmail.com\n"
	    "    googlemail.com gmail.com\n"
	    "connection_limit = 10\n"
	    "max_message_rate = 600/min\n"
	    "max_deliveries_per_connection = 100\n"
	    "max_recipients_per_message = 50\n"
	    "idle_timeout = 0\n"
	    "pool = warm\n"
	    "[backoff yahoo]\n"
	    "match = ^421 .*(TSS04|throttl)\n"
	    "action = suspend\n"
	    "suspend_time = 30m\n"
	    "rate_factor = 25\n"
	    "rate_increase = 100\n"
	    "recover_interval = 5m\n"
	    "[pool warm]\n"
	    "addresses = 192.0.2.10, 2001:DB8::10\n"
	    "warmup_start = 50\n"
	    "warmup_growth = 40\n"
	    "warmup_since = 2026-01-31\n"
	    "[tenant acme]\n"
	    "users = alice@example.com Bob@example.com\n"
	    "api_keys = acme-web acme-crm\n"
	    "messages_per_hour = 1000\n"
	    "messages_per_day = 10000\n"
	    "recipients_per_hour = 5000\n"
	    "recipients_per_day = 50000\n"
	    "pool = WARM\n");
	s = &conf->sites[0];
	assert_string_equal(s->name, "google");
	assert_int_equal(s->nmatch, 3);
	assert_string_equal(s->match[0], "*.google.com");
	assert_string_equal(s->match[1], "gmail.com");
	assert_string_equal(s->match[2], "googlemail.com");
	assert_int_equal(s->connection_limit, 10);
	assert_int_equal(s->max_message_rate.count, 600);
	assert_int_equal(s->max_message_rate.period, 60);
	assert_int_equal(s->max_deliveries_per_connection, 100);
	assert_int_equal(s->max_recipients_per_message, 50);
	assert_int_equal(s->idle_timeout, 0);
	assert_string_equal(s->pool, "warm");

	b = &conf->backoffs[0];
	assert_string_equal(b->name, "yahoo");
	assert_string_equal(b->match, "^421 .*(TSS04|throttl)");
	assert_int_equal(b->action, CONF_BACKOFF_SUSPEND);
	assert_int_equal(b->suspend_time, 1800);
	assert_int_equal(b->rate_factor, 25);
	assert_int_equal(b->rate_increase, 100);
	assert_int_equal(b->recover_interval, 300);
	/* compiled without case, extended, no sub-matches */
	assert_true(b->re_ok);
	assert_int_equal(regexec(&b->re, "421 4.7.0 [TSS04] Messages from "
	    "192.0.2.10 temporarily deferred", 0, NULL, 0), 0);
	assert_int_equal(regexec(&b->re, "421 4.7.0 Throttled", 0, NULL, 0),
	    0);
	assert_int_equal(regexec(&b->re, "451 4.7.0 TSS04", 0, NULL, 0),
	    REG_NOMATCH);

	p = conf_pool_find(conf, "Warm");
	assert_non_null(p);
	assert_int_equal(p->naddresses, 2);
	assert_string_equal(p->addresses[0], "192.0.2.10");
	assert_string_equal(p->addresses[1], "2001:db8::10");
	assert_int_equal(p->warmup_start, 50);
	assert_int_equal(p->warmup_growth, 40);
	assert_string_equal(p->warmup_since, "2026-01-31");
	assert_int_equal(p->warmup_day0, 1769817600);

	t = conf_tenant_find(conf, "ACME");
	assert_non_null(t);
	assert_int_equal(t->nusers, 2);
	assert_string_equal(t->users[1], "Bob@example.com");
	assert_int_equal(t->napi_keys, 2);
	assert_int_equal(t->messages_per_hour, 1000);
	assert_int_equal(t->messages_per_day, 10000);
	assert_int_equal(t->recipients_per_hour, 5000);
	assert_int_equal(t->recipients_per_day, 50000);
	assert_string_equal(t->pool, "WARM");
	assert_ptr_equal(conf_tenant_of_user(conf, "alice@example.com"), t);
	assert_null(conf_tenant_of_user(conf, "bob@example.com"));
	assert_ptr_equal(conf_tenant_of_key(conf, "acme-crm"), t);
	assert_null(conf_tenant_of_key(conf, "other"));
	assert_null(conf_tenant_find(conf, "nobody"));
	conf_unref(conf);
}

/* [site] order is file order: the first match wins; default last */
static void
test_site_find(void **state)
{
	static const char *const google_mx[] = {
		"alt1.gmail-smtp-in.l.google.com", "gmail-smtp-in.l.google.com",
	};
	static const char *const other_mx[] = { "mx.example.net" };
	static const char *const odd_mx[] = { "mx.special.example" };
	struct conf *conf;

	(void)state;
	conf = load_ok(LISTENER
	    "[site default]\nconnection_limit = 2\n"
	    "[site special]\nmatch = special.example mx.special.example\n"
	    "[site google]\nmatch = *.google.com gmail.com\n"
	    "[site catchall]\nmatch = *.example\n");
	assert_int_equal(conf->nsites, 4);
	assert_string_equal(conf->sites[1].name, "special");
	assert_string_equal(conf->sites[2].name, "google");
	assert_string_equal(conf->sites[3].name, "catchall");

	/* by domain, by MX host (any depth below *.), any case */
	assert_string_equal(conf_site_find(conf, "gmail.com", NULL, 0)->name,
	    "google");
	assert_string_equal(conf_site_find(conf, "GMail.Com", NULL, 0)->name,
	    "google");
	assert_string_equal(conf_site_find(conf, "customer.example.org",
	    google_mx, 2)->name, "google");
	/* *.google.com is not google.com itself */
	assert_string_equal(conf_site_find(conf, "google.com", NULL, 0)->name,
	    "default");
	/* special comes before catchall in the file */
	assert_string_equal(conf_site_find(conf, "special.example", NULL,
	    0)->name, "special");
	assert_string_equal(conf_site_find(conf, "x.example.org", odd_mx,
	    1)->name, "special");
	assert_string_equal(conf_site_find(conf, "a.b.example", NULL,
	    0)->name, "catchall");
	/* nothing: [site default] */
	assert_string_equal(conf_site_find(conf, "example.net", other_mx,
	    1)->name, "default");
	assert_int_equal(conf_site_find(conf, NULL, other_mx, 1)
	    ->connection_limit, 2);
	conf_unref(conf);

	/* without [site default]: NULL */
	conf = load_ok(LISTENER "[site google]\nmatch = gmail.com\n");
	assert_null(conf_site_find(conf, "example.net", other_mx, 1));
	assert_non_null(conf_site_find(conf, "gmail.com", other_mx, 1));
	conf_unref(conf);
}

/* ------------------------------------------------------------------ */

/* the shaping file: relative to the main file, read after it, a [pool]
   there may be named from the main file and the other way round */
static void
test_shaping_file(void **state)
{
	char main_path[PATH_MAX + 64], shaping_path[PATH_MAX + 64];
	char want[PATH_MAX + 300];
	struct conf *conf;
	struct err err;

	(void)state;
	put("shaping.conf",
	    "# shaping\n"
	    "[site yahoo]\nmatch = *.yahoodns.net\npool = main-pool\n"
	    "[backoff any]\nmatch = ^421\n"
	    "[pool shaping-pool]\naddresses = 192.0.2.20\n",
	    shaping_path, sizeof(shaping_path));
	put("main.conf", LISTENER
	    "[relay]\nshaping = shaping.conf\n"
	    "[site first]\nmatch = first.example\npool = shaping-pool\n"
	    "[pool main-pool]\naddresses = 192.0.2.10\n",
	    main_path, sizeof(main_path));
	if (conf_load(main_path, &conf, &err) == -1)
		fail_msg("%s", err.msg);
	assert_string_equal(conf->relay.shaping, shaping_path);
	assert_int_equal(conf->nsites, 2);
	assert_string_equal(conf->sites[0].name, "first");
	assert_string_equal(conf->sites[1].name, "yahoo");
	assert_int_equal(conf->nbackoffs, 1);
	assert_int_equal(conf->npools, 2);
	assert_non_null(conf_pool_find(conf, "shaping-pool"));
	conf_unref(conf);

	/* an absolute path is taken as it is */
	snprintf(want, sizeof(want), LISTENER "[relay]\nshaping = %s\n",
	    shaping_path);
	put("main.conf", want, main_path, sizeof(main_path));
	assert_int_equal(conf_load(main_path, &conf, &err), -1);
	snprintf(want, sizeof(want), "%s:4: pool: no [pool main-pool] "
	    "section (in [site yahoo])", shaping_path);
	assert_string_equal(err.msg, want);

	/* sections only the main file may hold: PATH:LINE */
	put("shaping.conf", "[site a]\nmatch = a.example\n\n[tenant t]\n"
	    "users = u\n", shaping_path, sizeof(shaping_path));
	put("main.conf", LISTENER "[relay]\nshaping = shaping.conf\n",
	    main_path, sizeof(main_path));
	assert_int_equal(conf_load(main_path, &conf, &err), -1);
	snprintf(want, sizeof(want), "%s:4: [tenant] is not allowed in the "
	    "shaping file (only [site], [backoff] and [pool])", shaping_path);
	assert_string_equal(err.msg, want);
	put("shaping.conf", "[relay]\nshaping = shaping.conf\n",
	    shaping_path, sizeof(shaping_path));
	assert_int_equal(conf_load(main_path, &conf, &err), -1);
	snprintf(want, sizeof(want), "%s:1: [relay] is not allowed in the "
	    "shaping file (only [site], [backoff] and [pool])", shaping_path);
	assert_string_equal(err.msg, want);
	put("shaping.conf", "[listener b]\naddress = 127.0.0.1:26\n",
	    shaping_path, sizeof(shaping_path));
	assert_int_equal(conf_load(main_path, &conf, &err), -1);
	snprintf(want, sizeof(want), "%s:1: [listener] is not allowed in "
	    "the shaping file (only [site], [backoff] and [pool])",
	    shaping_path);
	assert_string_equal(err.msg, want);

	/* its errors, as PATH:LINE and PATH: */
	put("shaping.conf", "[backoff b]\n\nmatch = (\n", shaping_path,
	    sizeof(shaping_path));
	assert_int_equal(conf_load(main_path, &conf, &err), -1);
	snprintf(want, sizeof(want), "%s:3: match: bad regular expression "
	    "'(': Unmatched ( or \\(", shaping_path);
	assert_string_equal(err.msg, want);
	put("shaping.conf", "[site a]\nidle_timeout = 1s\n", shaping_path,
	    sizeof(shaping_path));
	assert_int_equal(conf_load(main_path, &conf, &err), -1);
	snprintf(want, sizeof(want), "%s: [site a]: missing 'match'",
	    shaping_path);
	assert_string_equal(err.msg, want);
	put("shaping.conf", "junk\n", shaping_path, sizeof(shaping_path));
	assert_int_equal(conf_load(main_path, &conf, &err), -1);
	snprintf(want, sizeof(want), "%s:1: expected 'key = value', "
	    "'[section]' or a comment", shaping_path);
	assert_string_equal(err.msg, want);

	/* a name in both files is a duplicate */
	put("shaping.conf", "[site a]\nmatch = a.example\n", shaping_path,
	    sizeof(shaping_path));
	put("main.conf", LISTENER "[relay]\nshaping = shaping.conf\n"
	    "[site a]\nmatch = b.example\n", main_path, sizeof(main_path));
	assert_int_equal(conf_load(main_path, &conf, &err), -1);
	snprintf(want, sizeof(want), "%s:1: duplicate section [site a]",
	    shaping_path);
	assert_string_equal(err.msg, want);

	/* an empty shaping file is fine */
	put("shaping.conf", "", shaping_path, sizeof(shaping_path));
	assert_int_equal(conf_load(main_path, &conf, &err), 0);
	assert_int_equal(conf->nsites, 1);
	conf_unref(conf);

	gone("main.conf");
	gone("shaping.conf");
}

/*
 * etc/shaping.conf loads through [relay] shaping, and names the big
 * providers. Skipped when not run from the top of the tree.
 */
static void
test_shipped_shaping(void **state)
{
	char cwd[PATH_MAX], text[PATH_MAX + 200], main_path[PATH_MAX + 64];
	static const char *const gmail_mx[] = { "gmail-smtp-in.l.google.com" };
	static const char *const ms_mx[] = {
		"example-com.mail.protection.outlook.com",
	};
	static const char *const yahoo_mx[] = { "mta5.am0.yahoodns.net" };
	const struct conf_site *s;
	struct conf *conf;
	struct err err;
	size_t suspend = 0;

	(void)state;
	if (access("etc/shaping.conf", R_OK) != 0)
		skip();
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(text, sizeof(text), LISTENER "[relay]\nshaping = "
	    "%s/etc/shaping.conf\n", cwd);
	put("main.conf", text, main_path, sizeof(main_path));
	if (conf_load(main_path, &conf, &err) == -1)
		fail_msg("etc/shaping.conf: %s", err.msg);
	gone("main.conf");

	assert_non_null(s = conf_site_find(conf, "gmail.com", NULL, 0));
	assert_string_equal(s->name, "gmail");
	assert_non_null(s = conf_site_find(conf, "example.com", gmail_mx, 1));
	assert_string_equal(s->name, "gmail");
	assert_string_equal(conf_site_find(conf, "example.com", ms_mx,
	    1)->name, "microsoft");
	assert_string_equal(conf_site_find(conf, "hotmail.com", NULL,
	    0)->name, "microsoft");
	assert_string_equal(conf_site_find(conf, "example.com", yahoo_mx,
	    1)->name, "yahoo");
	assert_string_equal(conf_site_find(conf, "aol.com", NULL, 0)->name,
	    "yahoo");
	assert_string_equal(conf_site_find(conf, "wanadoo.fr", NULL, 0)->name,
	    "orange");
	assert_string_equal(conf_site_find(conf, "free.fr", NULL, 0)->name,
	    "free");
	assert_string_equal(conf_site_find(conf, "example.org", NULL, 0)
	    ->name, "default");
	for (size_t i = 0; i < conf->nsites; i++)
		assert_int_not_equal(conf->sites[i].max_message_rate.period, 0);

	/* the rules see the replies they are written for */
	for (size_t i = 0; i < conf->nbackoffs; i++) {
		assert_true(conf->backoffs[i].re_ok);
		suspend += conf->backoffs[i].action == CONF_BACKOFF_SUSPEND;
	}
	assert_true(conf->nbackoffs >= 3);
	{
		static const char *const replies[] = {
			"421 4.7.0 [TSS04] Messages from 192.0.2.1 "
			    "temporarily deferred due to unexpected volume",
			"421 4.7.28 Our system has detected an unusual rate "
			    "of unsolicited mail",
			"451 4.7.650 The mail server [192.0.2.1] has been "
			    "temporarily rate limited due to IP reputation",
			"421 Too many concurrent SMTP connections; please "
			    "try again later",
		};

		for (size_t r = 0; r < sizeof(replies) / sizeof(replies[0]);
		    r++) {
			bool hit = false;

			for (size_t i = 0; i < conf->nbackoffs && !hit; i++)
				hit = regexec(&conf->backoffs[i].re,
				    replies[r], 0, NULL, 0) == 0;
			if (!hit)
				fail_msg("no [backoff] matches '%s'",
				    replies[r]);
		}
		for (size_t i = 0; i < conf->nbackoffs; i++)
			assert_int_not_equal(regexec(&conf->backoffs[i].re,
			    "250 2.0.0 OK", 0, NULL, 0), 0);
	}
	conf_unref(conf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rate),
		cmocka_unit_test(test_parse_date),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_site_find),
		cmocka_unit_test(test_shaping_file),
		cmocka_unit_test(test_shipped_shaping),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
