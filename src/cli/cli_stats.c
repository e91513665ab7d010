/* SPDX-License-Identifier: ISC */
/*
 * cli_stats.c - relais stats [-c FILE]: what each [tenant] sent in the
 * current hour and day (UTC windows) against its quotas, read from the
 * spool's tenant_usage table on a read-only connection, also while the
 * daemon runs. The configured tenants come first, in file order, then
 * any other name the spool counted in these windows (a tenant since
 * removed from the configuration).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "core/xalloc.h"

/* one tenant's counts: [0] hour, [1] day */
struct cli_stats_row {
	char		*name;
	int64_t		 messages[2];
	int64_t		 recipients[2];
	const struct conf_tenant *conf;	/* or NULL */
};

struct cli_stats {
	struct cli_stats_row	*rows;
	size_t			 n;
};

static struct cli_stats_row *
cli_stats_row(struct cli_stats *st, const char *name)
{
	struct cli_stats_row *r;

	for (size_t i = 0; i < st->n; i++)
		if (strcasecmp(st->rows[i].name, name) == 0)
			return &st->rows[i];
	st->rows = xreallocarray(st->rows, st->n + 1, sizeof(*st->rows));
	r = &st->rows[st->n++];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	return r;
}

/* cli_stats_read - the rows of the current windows into st */
static int
cli_stats_read(sqlite3 *db, struct cli_stats *st, int64_t hour, int64_t day)
{
	sqlite3_stmt *q;
	int rc;

	/* a spool made before tenants has no such table: nothing counted */
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE"
	    " type = 'table' AND name = 'tenant_usage'", -1, &q,
	    NULL) != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		goto fail;
	if (sqlite3_prepare_v2(db, "SELECT tenant, period, messages, recipients"
	    " FROM tenant_usage WHERE (period = 3600 AND window_start = ?1) OR"
	    " (period = 86400 AND window_start = ?2) ORDER BY tenant", -1, &q,
	    NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(q, 1, hour);
	sqlite3_bind_int64(q, 2, day);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(q, 0);
		struct cli_stats_row *r = cli_stats_row(st, name ? name : "");
		int i = sqlite3_column_int64(q, 1) == 3600 ? 0 : 1;

		r->messages[i] = sqlite3_column_int64(q, 2);
		r->recipients[i] = sqlite3_column_int64(q, 3);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "relais: %s\n", sqlite3_errmsg(db));
	return -1;
}

/* cli_stats_limit - a limit as printed: "-" for none */
static const char *
cli_stats_limit(char *out, size_t n, const struct conf_tenant *t,
    unsigned v)
{
	if (t == NULL || v == 0)
		snprintf(out, n, "-");
	else
		snprintf(out, n, "%u", v);
	return out;
}

static void
cli_stats_print(const struct cli_stats *st, int64_t hour, int64_t day)
{
	char hs[32], ds[32], l1[16], l2[16];
	time_t t;
	struct tm tm;

	t = (time_t)hour;
	gmtime_r(&t, &tm);
	strftime(hs, sizeof(hs), "%Y-%m-%dT%H:%M:%SZ", &tm);
	t = (time_t)day;
	gmtime_r(&t, &tm);
	strftime(ds, sizeof(ds), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%-20s %-6s %-20s %10s %10s %10s %10s\n", "TENANT", "WINDOW",
	    "START", "MESSAGES", "LIMIT", "RECIPIENTS", "LIMIT");
	for (size_t i = 0; i < st->n; i++) {
		const struct cli_stats_row *r = &st->rows[i];
		const struct conf_tenant *c = r->conf;

		printf("%-20s %-6s %-20s %10lld %10s %10lld %10s\n", r->name,
		    "hour", hs, (long long)r->messages[0],
		    cli_stats_limit(l1, sizeof(l1), c, c ?
		    c->messages_per_hour : 0), (long long)r->recipients[0],
		    cli_stats_limit(l2, sizeof(l2), c, c ?
		    c->recipients_per_hour : 0));
		printf("%-20s %-6s %-20s %10lld %10s %10lld %10s\n", r->name,
		    "day", ds, (long long)r->messages[1],
		    cli_stats_limit(l1, sizeof(l1), c, c ?
		    c->messages_per_day : 0), (long long)r->recipients[1],
		    cli_stats_limit(l2, sizeof(l2), c, c ?
		    c->recipients_per_day : 0));
	}
	printf("%zu tenant%s\n", st->n, st->n == 1 ? "" : "s");
}

int
cli_stats(int argc, char **argv)
{
	const char *path;
	struct conf *conf;
	struct err err;
	struct cli_stats st = { NULL, 0 };
	sqlite3 *db = NULL;
	char dbpath[4096];
	int64_t now = (int64_t)time(NULL);
	int64_t hour = now - now % 3600, day = now - now % 86400;
	int npos, rc = 0;

	if (cli_args(argc, argv, &path, NULL, 0, &npos) == -1) {
		fprintf(stderr, "usage: relais stats [-c FILE]\n");
		return 2;
	}
	if (conf_find(path, &conf, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	/* the configured tenants first, in file order, even with nothing
	   sent */
	for (size_t i = 0; i < conf->ntenants; i++)
		cli_stats_row(&st, conf->tenants[i].name);
	snprintf(dbpath, sizeof(dbpath), "%s/spool/queue.db",
	    conf->server.data_dir);
	if (access(dbpath, F_OK) == 0) {
		if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY,
		    NULL) != SQLITE_OK) {
			fprintf(stderr, "relais: %s: %s\n", dbpath,
			    db ? sqlite3_errmsg(db) : "cannot open");
			rc = 1;
		} else {
			sqlite3_busy_timeout(db, 10000);
			if (cli_stats_read(db, &st, hour, day) == -1)
				rc = 1;
		}
		sqlite3_close(db);
	}
	if (rc == 0) {
		for (size_t i = 0; i < st.n; i++)
			st.rows[i].conf = conf_tenant_find(conf,
			    st.rows[i].name);
		cli_stats_print(&st, hour, day);
	}
	for (size_t i = 0; i < st.n; i++)
		free(st.rows[i].name);
	free(st.rows);
	conf_unref(conf);
	return rc;
}
