/* SPDX-License-Identifier: ISC */
/*
 * cli_queue.c - relais queue list [--site|--cluster]|show|flush|delete|
 * hold|release|suspend|resume: read and steer the spool, also while the
 * daemon runs (SQLite WAL lets this process read beside the spool
 * thread; its few writes wait their turn through the busy timeout);
 * list --cluster is cli_queue_cluster.c's. The daemon's
 * scheduler sees a change at its next tick, within a second; a site
 * suspended or resumed bumps meta sites_gen, which the daemon's queue
 * manager looks at every two seconds to tell the outbound agent.
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_daemon.h"
#include "cli/cli_queue_cluster.h"
#include "conf/conf.h"
#include "core/id.h"
#include "queue/sites.h"
#include "spool/spool.h"

/* the options of some commands, besides -c FILE */
struct cli_queue_opts {
	bool		 site;		/* list --site */
	bool		 cluster;	/* list --cluster */
	const char	*dur;		/* suspend --for */
	const char	*reason;	/* suspend --reason */
};

static const char *
cli_queue_status(int status, int leased)
{
	switch (status) {
	case SPOOL_RCPT_QUEUED:
		return leased ? "active" : "queued";
	case SPOOL_RCPT_DELIVERED:
		return "delivered";
	case SPOOL_RCPT_BOUNCED:
		return "bounced";
	case SPOOL_RCPT_HELD:
		return "held";
	default:
		return "?";
	}
}

static void
cli_queue_time(char *out, size_t n, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0) {
		snprintf(out, n, "-");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *
cli_queue_text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s ? s : "";
}

/* cli_queue_has - the spool has the column (a spool made before it has
   it once relais serve opened it): "site FROM recipients" */
static bool
cli_queue_has(sqlite3 *db, const char *column_from)
{
	sqlite3_stmt *st;
	char sql[128];
	bool ok;

	snprintf(sql, sizeof(sql), "SELECT %s LIMIT 0", column_from);
	ok = sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK;
	sqlite3_finalize(st);
	return ok;
}

/* cli_queue_has_site - the spool has recipients.site */
static bool
cli_queue_has_site(sqlite3 *db)
{
	return cli_queue_has(db, "site FROM recipients");
}

/* cli_queue_site - " site=NAME" when the recipient's site is known */
static void
cli_queue_site(char *out, size_t n, sqlite3_stmt *st, int i)
{
	const char *site = cli_queue_text(st, i);

	snprintf(out, n, "%s%s", site[0] ? " site=" : "", site);
}

static int
cli_queue_list(sqlite3 *db)
{
	sqlite3_stmt *st;
	char next[32], arrival[32], site[160], sql[512];
	int n = 0;

	snprintf(sql, sizeof(sql), "SELECT m.qid, m.sender, m.arrival, m.size,"
	    " r.addr, r.status, r.leased, r.attempts, r.next_attempt,"
	    " r.last_reply, %s FROM recipients r JOIN messages m"
	    " ON m.id = r.msg_id WHERE r.status IN (0, 3)"
	    " ORDER BY m.arrival, m.id, r.id", cli_queue_has_site(db) ?
	    "r.site" : "NULL");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "relais: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	printf("%-16s %-9s %8s %-20s %-20s %s -> %s  %s\n", "ID", "STATUS",
	    "ATTEMPTS", "ARRIVAL", "NEXT", "SENDER", "RECIPIENT",
	    "LAST [site=SITE]");
	while (sqlite3_step(st) == SQLITE_ROW) {
		cli_queue_time(arrival, sizeof(arrival),
		    sqlite3_column_int64(st, 2));
		cli_queue_time(next, sizeof(next), sqlite3_column_int64(st, 8));
		cli_queue_site(site, sizeof(site), st, 10);
		printf("%-16s %-9s %8d %-20s %-20s <%s> -> <%s>  %s%s\n",
		    cli_queue_text(st, 0),
		    cli_queue_status(sqlite3_column_int(st, 5),
		    sqlite3_column_int(st, 6)), sqlite3_column_int(st, 7),
		    arrival, next, cli_queue_text(st, 1), cli_queue_text(st, 4),
		    cli_queue_text(st, 9), site);
		n++;
	}
	sqlite3_finalize(st);
	printf("%d recipient%s queued\n", n, n == 1 ? "" : "s");
	return 0;
}

static int
cli_queue_show(sqlite3 *db, const char *qid)
{
	sqlite3_stmt *st;
	char arrival[32], next[32], site[160], sql[256];
	int64_t id;

	/* requiretls and tls_optional: RFC 8689 (0 on an older spool) */
	snprintf(sql, sizeof(sql), "SELECT id, sender, arrival, size, client,"
	    " helo, listener, envid, body_file, body, prefix, %s FROM messages"
	    " WHERE qid = ?1", cli_queue_has(db, "requiretls FROM messages") ?
	    "requiretls, tls_optional" : "0, 0");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "relais: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		fprintf(stderr, "relais: no message %s in the queue\n", qid);
		return 1;
	}
	id = sqlite3_column_int64(st, 0);
	cli_queue_time(arrival, sizeof(arrival), sqlite3_column_int64(st, 2));
	printf("id: %s\nfrom: <%s>\narrival: %s\nsize: %lld\nclient: %s\n"
	    "helo: %s\nlistener: %s\nenvid: %s\nbody: %s\n", qid,
	    cli_queue_text(st, 1), arrival,
	    (long long)sqlite3_column_int64(st, 3), cli_queue_text(st, 4),
	    cli_queue_text(st, 5), cli_queue_text(st, 6),
	    cli_queue_text(st, 7),
	    sqlite3_column_int(st, 8) ? "file" : "inline");
	if (sqlite3_column_int(st, 11))
		printf("requiretls: yes\n");
	if (sqlite3_column_int(st, 12))
		printf("tls-required: no\n");
	printf("headers:\n");
	if (sqlite3_column_type(st, 10) != SQLITE_NULL)
		printf("%.*s", sqlite3_column_bytes(st, 10),
		    (const char *)sqlite3_column_blob(st, 10));
	if (!sqlite3_column_int(st, 8)) {
		/* the header section, up to the first empty line */
		const char *b = sqlite3_column_blob(st, 9);
		int n = sqlite3_column_bytes(st, 9);
		const char *end = b ? memmem(b, (size_t)n, "\r\n\r\n", 4) : NULL;

		if (b != NULL)
			printf("%.*s\n", (int)(end ? end - b : n), b);
	}
	sqlite3_finalize(st);
	snprintf(sql, sizeof(sql), "SELECT addr, orig, status, leased,"
	    " attempts, next_attempt, last_reply, %s FROM recipients"
	    " WHERE msg_id = ?1 ORDER BY id", cli_queue_has_site(db) ?
	    "site" : "NULL");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return 1;
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		cli_queue_time(next, sizeof(next), sqlite3_column_int64(st, 5));
		cli_queue_site(site, sizeof(site), st, 7);
		printf("recipient: <%s> (rcpt to <%s>) status=%s attempts=%d"
		    " next=%s last=\"%s\"%s\n", cli_queue_text(st, 0),
		    cli_queue_text(st, 1), cli_queue_status(
		    sqlite3_column_int(st, 2), sqlite3_column_int(st, 3)),
		    sqlite3_column_int(st, 4), next, cli_queue_text(st, 6),
		    site);
	}
	sqlite3_finalize(st);
	return 0;
}

static int
cli_queue_site_row(void *arg, const struct spool_site *s)
{
	int64_t now = *(const int64_t *)arg;
	char age[32], state[512];

	if (s->queued > 0)
		snprintf(age, sizeof(age), "%llds", (long long)(s->oldest_arrival
		    < now ? now - s->oldest_arrival : 0));
	else
		snprintf(age, sizeof(age), "-");
	sites_state(s, now, state, sizeof(state));
	printf("%-40s %7llu %9s  %s\n", s->site, (unsigned long long)s->queued,
	    age, state);
	return 0;
}

/* cli_queue_sites - relais queue list --site: one line per site */
static int
cli_queue_sites(const char *data_dir)
{
	struct spool_reader *rd;
	struct err err;
	int64_t now = time(NULL);

	if ((rd = spool_reader_open(data_dir, &err)) == NULL) {
		fprintf(stderr, "relais: %s\n", err.msg);
		return 1;
	}
	printf("%-40s %7s %9s  %s\n", "SITE", "QUEUED", "OLDEST", "STATE");
	if (spool_reader_sites(rd, cli_queue_site_row, &now, &err) == -1) {
		fprintf(stderr, "relais: %s (a spool made before sites: start"
		    " relais serve once)\n", err.msg);
		spool_reader_close(rd);
		return 1;
	}
	spool_reader_close(rd);
	return 0;
}

/*
 * cli_queue_suspend - relais queue suspend SITE [--for D] [--reason T]
 * and resume SITE (until 0): the site's row (manual) and meta sites_gen
 * bumped, stamped on the row, in one transaction, as spool_site_operator
 * does in the daemon
 */
static int
cli_queue_suspend(sqlite3 *db, const char *site, int64_t until,
    const char *reason)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "INSERT INTO meta(name, value) VALUES"
	    " ('" SPOOL_SITES_GEN "', 1) ON CONFLICT(name) DO UPDATE SET"
	    " value = value + 1", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO sites(site, suspended_until,"
	    " manual, reason, updated, op) VALUES(?1, ?2, 1, ?3, ?4, (SELECT"
	    " value FROM meta WHERE name = '" SPOOL_SITES_GEN "'))"
	    " ON CONFLICT(site) DO UPDATE SET"
	    " suspended_until = excluded.suspended_until, manual = 1,"
	    " reason = excluded.reason, updated = excluded.updated,"
	    " op = excluded.op", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, until);
	if (reason[0] != '\0')
		sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (until > 0) {
		char when[32];

		cli_queue_time(when, sizeof(when), until);
		printf("%s: suspended until %s\n", site, when);
	} else
		printf("%s: resumed\n", site);
	return 0;
fail:
	fprintf(stderr, "relais: %s%s\n", sqlite3_errmsg(db),
	    strstr(sqlite3_errmsg(db), "no such table") ? " (a spool made"
	    " before sites: start relais serve once)" : "");
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return 1;
}

/* cli_queue_opts - take the options out of argv (kept: -c FILE and the
   positional arguments); -1 on a bad one */
static int
cli_queue_opts(int argc, char **argv, char **kept, int *nkept,
    struct cli_queue_opts *o)
{
	int n = 0;

	memset(o, 0, sizeof(*o));
	for (int i = 0; i < argc; i++) {
		if (i > 0 && strcmp(argv[i], "--site") == 0)
			o->site = true;
		else if (i > 0 && strcmp(argv[i], "--cluster") == 0)
			o->cluster = true;
		else if (i > 0 && strcmp(argv[i], "--for") == 0 &&
		    i + 1 < argc)
			o->dur = argv[++i];
		else if (i > 0 && strcmp(argv[i], "--reason") == 0 &&
		    i + 1 < argc)
			o->reason = argv[++i];
		else if (i > 0 && strncmp(argv[i], "--", 2) == 0 &&
		    strcmp(argv[i], "--config") != 0)
			return -1;
		else
			kept[n++] = argv[i];
	}
	kept[n] = NULL;
	*nkept = n;
	return 0;
}

/* cli_queue_change - run one UPDATE/DELETE for qid (or all with NULL) */
static int
cli_queue_change(sqlite3 *db, const char *sql_one, const char *sql_all,
    const char *qid, const char *what)
{
	sqlite3_stmt *st;
	int n;

	if (sqlite3_prepare_v2(db, qid ? sql_one : sql_all, -1, &st, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "relais: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	if (qid)
		sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE) {
		fprintf(stderr, "relais: %s\n", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return 1;
	}
	n = sqlite3_changes(db);
	sqlite3_finalize(st);
	printf("%s: %d recipient%s\n", what, n, n == 1 ? "" : "s");
	return 0;
}

static int
cli_queue_delete(sqlite3 *db, const char *data_dir, const char *qid)
{
	char path[4096];
	int rc;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	rc = cli_queue_change(db, "DELETE FROM recipients WHERE msg_id IN"
	    " (SELECT id FROM messages WHERE qid = ?1) AND ?2 > 0", NULL, qid,
	    "deleted");
	if (rc != 0)
		goto fail;
	if (cli_queue_change(db, "DELETE FROM messages WHERE qid = ?1 AND"
	    " ?2 > 0", NULL, qid, "messages deleted") != 0)
		goto fail;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	snprintf(path, sizeof(path), "%s/spool/bodies/%s", data_dir, qid);
	unlink(path);
	return 0;
fail:
	fprintf(stderr, "relais: %s\n", sqlite3_errmsg(db));
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return 1;
}

/* cli_queue_signal - tell a running daemon to forget its backoffs */
static void
cli_queue_signal(const char *data_dir)
{
	long pid = cli_daemon_pid(data_dir);

	/* not running: the next start runs it */
	if (pid > 1 && kill((pid_t)pid, SIGUSR1) == 0)
		printf("daemon %ld notified\n", pid);
}

static void
cli_queue_usage(void)
{
	fprintf(stderr, "usage: relais queue list [--site|--cluster]|show ID|flush [ID]|"
	    "delete ID|hold ID|release ID|suspend SITE [--for DURATION]"
	    " [--reason TEXT]|resume SITE [-c FILE]\n");
}

int
cli_queue(int argc, char **argv)
{
	const char *path, *cmd, *qid;
	char *pos[2], **kept, site[SITES_NAME_MAX], reason[SITES_REASON_MAX];
	int npos, nkept, rc, flags;
	unsigned secs = SITES_SUSPEND_DEF;
	struct cli_queue_opts o;
	struct conf *conf;
	struct err err;
	sqlite3 *db = NULL;
	char dbpath[4096];
	bool sites_cmd;

	kept = calloc((size_t)argc + 1, sizeof(*kept));
	if (kept == NULL || cli_queue_opts(argc, argv, kept, &nkept,
	    &o) == -1 || cli_args(nkept, kept, &path, pos, 2, &npos) == -1 ||
	    npos < 1) {
		free(kept);
		cli_queue_usage();
		return 2;
	}
	free(kept);	/* pos and path point into argv */
	cmd = pos[0];
	sites_cmd = strcmp(cmd, "suspend") == 0 || strcmp(cmd, "resume") == 0;
	if (((o.site || o.cluster) && strcmp(cmd, "list") != 0) ||
	    (o.site && o.cluster) || ((o.dur || o.reason) &&
	    strcmp(cmd, "suspend") != 0) || (sites_cmd && npos != 2)) {
		cli_queue_usage();
		return 2;
	}
	if (sites_cmd && !sites_name(pos[1], site, sizeof(site))) {
		fprintf(stderr, "relais: '%s' is not a site name\n", pos[1]);
		return 2;
	}
	if (o.dur != NULL && (conf_parse_duration(o.dur, &secs, &err) == -1 ||
	    secs == 0 || secs > SITES_SUSPEND_MAX)) {
		fprintf(stderr, "relais: --for %s: a duration from 1s to 366d"
		    " (30s, 10m, 2h, 1d)\n", o.dur);
		return 2;
	}
	sites_reason(o.reason ? o.reason : "suspended by relais queue"
	    " suspend", reason, sizeof(reason));
	qid = npos > 1 && !sites_cmd ? pos[1] : NULL;
	if (qid != NULL && !id_qid_valid(qid)) {
		fprintf(stderr, "relais: '%s' is not a queue id\n", qid);
		return 2;
	}
	if (qid == NULL && (strcmp(cmd, "show") == 0 ||
	    strcmp(cmd, "delete") == 0 || strcmp(cmd, "hold") == 0 ||
	    strcmp(cmd, "release") == 0)) {
		fprintf(stderr, "usage: relais queue %s ID [-c FILE]\n", cmd);
		return 2;
	}
	if (conf_find(path, &conf, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	if (o.cluster) {
		rc = cli_queue_cluster(conf);
		conf_unref(conf);
		return rc;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/spool/queue.db",
	    conf->server.data_dir);
	flags = strcmp(cmd, "list") == 0 || strcmp(cmd, "show") == 0 ?
	    SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	if (o.site && access(dbpath, F_OK) == 0) {
		rc = cli_queue_sites(conf->server.data_dir);
		conf_unref(conf);
		return rc;
	}
	if (access(dbpath, F_OK) == -1) {
		if (strcmp(cmd, "list") == 0) {
			printf(o.site ? "no site\n" : "0 recipients queued\n");
			conf_unref(conf);
			return 0;
		}
		fprintf(stderr, "relais: no spool at %s\n", dbpath);
		conf_unref(conf);
		return 1;
	}
	if (sqlite3_open_v2(dbpath, &db, flags, NULL) != SQLITE_OK) {
		fprintf(stderr, "relais: %s: %s\n", dbpath,
		    db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		conf_unref(conf);
		return 1;
	}
	sqlite3_busy_timeout(db, 10000);
	if (strcmp(cmd, "list") == 0)
		rc = cli_queue_list(db);
	else if (strcmp(cmd, "show") == 0)
		rc = cli_queue_show(db, qid);
	else if (strcmp(cmd, "flush") == 0) {
		rc = cli_queue_change(db, "UPDATE recipients SET next_attempt ="
		    " ?2 WHERE status = 0 AND msg_id IN (SELECT id FROM messages"
		    " WHERE qid = ?1)", "UPDATE recipients SET next_attempt = ?2"
		    " WHERE status = 0", qid, "flushed");
		if (rc == 0)
			cli_queue_signal(conf->server.data_dir);
	}
	else if (strcmp(cmd, "hold") == 0)
		rc = cli_queue_change(db, "UPDATE recipients SET status = 3"
		    " WHERE status = 0 AND ?2 > 0 AND msg_id IN (SELECT id FROM"
		    " messages WHERE qid = ?1)", NULL, qid, "held");
	else if (strcmp(cmd, "release") == 0)
		rc = cli_queue_change(db, "UPDATE recipients SET status = 0,"
		    " next_attempt = ?2 WHERE status = 3 AND msg_id IN (SELECT id"
		    " FROM messages WHERE qid = ?1)", NULL, qid, "released");
	else if (strcmp(cmd, "delete") == 0)
		rc = cli_queue_delete(db, conf->server.data_dir, qid);
	else if (strcmp(cmd, "suspend") == 0)
		rc = cli_queue_suspend(db, site, (int64_t)time(NULL) +
		    (int64_t)secs, reason);
	else if (strcmp(cmd, "resume") == 0)
		rc = cli_queue_suspend(db, site, 0, "");
	else {
		fprintf(stderr, "relais: unknown queue command '%s'\n", cmd);
		rc = 2;
	}
	sqlite3_close(db);
	conf_unref(conf);
	return rc;
}
