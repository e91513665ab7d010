/* SPDX-License-Identifier: ISC */
/*
 * spool.c - opening the store and recovering it after a crash; the
 * messages sessions build. See spool.h; the statements inside a
 * transaction are in spool_store.c.
 *
 * spool_open() creates the directories and the database, prepares every
 * statement once and recovers from a crash: leases reset (deliveries in
 * flight run again), finished messages and orphan body files removed.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sys.h"
#include "core/xalloc.h"
#include "spool/spool_int.h"
#include "spool/spool_vfs.h"

static const char *const spool_schema =
    "CREATE TABLE IF NOT EXISTS messages("
    " id INTEGER PRIMARY KEY,"
    " qid TEXT NOT NULL UNIQUE,"
    " sender TEXT NOT NULL,"
    " arrival INTEGER NOT NULL,"
    " size INTEGER NOT NULL,"
    " body BLOB,"
    " body_file INTEGER NOT NULL DEFAULT 0,"
    " client TEXT, helo TEXT, listener TEXT, envid TEXT,"
    " ret INTEGER NOT NULL DEFAULT 0,"
    " smtputf8 INTEGER NOT NULL DEFAULT 0,"
    " body8 INTEGER NOT NULL DEFAULT 0,"
    " prefix BLOB,"
    " junk INTEGER NOT NULL DEFAULT 0,"
    " tenant TEXT, pool TEXT,"
    " priority INTEGER NOT NULL DEFAULT 0,"
    " requiretls INTEGER NOT NULL DEFAULT 0,"
    " tls_optional INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS recipients("
    " id INTEGER PRIMARY KEY,"
    " msg_id INTEGER NOT NULL,"
    " addr TEXT NOT NULL,"
    " orig TEXT NOT NULL,"
    " orcpt TEXT,"
    " notify INTEGER NOT NULL DEFAULT 0,"
    " transport INTEGER NOT NULL,"
    " status INTEGER NOT NULL DEFAULT 0,"
    " leased INTEGER NOT NULL DEFAULT 0,"
    " warned INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt INTEGER NOT NULL,"
    " last_attempt INTEGER,"
    " last_reply TEXT,"
    " site TEXT,"
    " priority INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS recipients_msg ON recipients(msg_id);"
    "CREATE INDEX IF NOT EXISTS recipients_due ON recipients(next_attempt)"
    " WHERE status = 0 AND leased = 0;"
    /* small partial indexes: recovery and counts without a table scan */
    "CREATE INDEX IF NOT EXISTS recipients_leased ON recipients(leased)"
    " WHERE leased = 1;"
    "CREATE INDEX IF NOT EXISTS recipients_held ON recipients(msg_id)"
    " WHERE status = 3;"
    /* relais queue list: arrival order without sorting the queue */
    "CREATE INDEX IF NOT EXISTS messages_arrival ON messages(arrival);"
    /* the life of every recipient, for webhooks and GET /v1/events; the
       id is the consumers' cursor (AUTOINCREMENT: never reused, even
       after pruning) */
    "CREATE TABLE IF NOT EXISTS events("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " ts INTEGER NOT NULL,"
    " type TEXT NOT NULL,"
    " qid TEXT NOT NULL,"
    " rcpt TEXT, sender TEXT, status TEXT, reply TEXT, relay TEXT);"
    "CREATE INDEX IF NOT EXISTS events_ts ON events(ts);"
    /* what an API sender attached to a message, for its events */
    "CREATE TABLE IF NOT EXISTS msg_meta("
    " qid TEXT PRIMARY KEY, ts INTEGER NOT NULL, tags TEXT,"
    " metadata TEXT) WITHOUT ROWID;"
    /* addresses that bounced for good: not attempted again */
    "CREATE TABLE IF NOT EXISTS suppressions("
    " addr TEXT PRIMARY KEY, ts INTEGER NOT NULL, reason TEXT,"
    " source TEXT NOT NULL) WITHOUT ROWID;"
    /* the first answer to an API request with an Idempotency-Key */
    "CREATE TABLE IF NOT EXISTS idempotency("
    " key TEXT PRIMARY KEY, ts INTEGER NOT NULL, status INTEGER NOT NULL,"
    " answer TEXT NOT NULL) WITHOUT ROWID;"
    /* destination sites (docs/shaping.md): the agent's last word on
       each, and the operator's suspensions (op: the sites_gen of the
       operator's last change, 0 if none) */
    "CREATE TABLE IF NOT EXISTS sites("
    " site TEXT PRIMARY KEY,"
    " suspended_until INTEGER NOT NULL DEFAULT 0,"
    " manual INTEGER NOT NULL DEFAULT 0,"
    " reason TEXT,"
    " rate REAL NOT NULL DEFAULT 0,"
    " rate_max REAL NOT NULL DEFAULT 0,"
    " updated INTEGER NOT NULL,"
    " op INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    /* small named counters: webhook cursor, suppression and sites
       generations */
    "CREATE TABLE IF NOT EXISTS meta("
    " name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    /* what each tenant sent per window (period 3600 or 86400 seconds,
       window_start UTC): the quotas' counters survive a restart */
    "CREATE TABLE IF NOT EXISTS tenant_usage("
    " tenant TEXT NOT NULL, period INTEGER NOT NULL,"
    " window_start INTEGER NOT NULL, messages INTEGER NOT NULL,"
    " recipients INTEGER NOT NULL,"
    " PRIMARY KEY(tenant, period, window_start)) WITHOUT ROWID;";

/*
 * Columns added after the first release: a spool made before them gets
 * them at open (ALTER TABLE ADD COLUMN, with the default every older row
 * then reads), and then the indexes over them.
 */
static const struct spool_column {
	const char	*table;
	const char	*name;
	const char	*decl;
} spool_columns[] = {
	{ "messages", "tenant", "TEXT" },
	{ "messages", "pool", "TEXT" },
	{ "messages", "priority", "INTEGER NOT NULL DEFAULT 0" },
	{ "recipients", "priority", "INTEGER NOT NULL DEFAULT 0" },
	{ "recipients", "site", "TEXT" },
	{ "messages", "requiretls", "INTEGER NOT NULL DEFAULT 0" },
	{ "messages", "tls_optional", "INTEGER NOT NULL DEFAULT 0" },
};

static const char *const spool_schema_late =
    /* due high-priority recipients, scanned before the others: empty
       (and so free to look at) while nothing has priority */
    "CREATE INDEX IF NOT EXISTS recipients_due_high ON"
    " recipients(next_attempt) WHERE status = 0 AND leased = 0 AND"
    " priority = 1;";

/* the columns of a due row (spool_due_scan reads them by position) */
#define SPOOL_DUE_COLUMNS \
	"r.id, r.msg_id, r.addr, r.orig, r.transport, r.attempts," \
	" m.qid, m.sender, m.arrival, m.body_file, r.orcpt, r.notify," \
	" m.envid, m.ret, m.smtputf8, m.body8, m.size, m.junk, m.prefix," \
	" m.body, m.pool, r.priority, m.requiretls, m.tls_optional"

/* a sites row holds an operator's suspension still in force that an
   update from the agent (not manual) must keep */
#define SPOOL_SITE_KEEP \
	"(sites.manual = 1 AND excluded.manual = 0 AND" \
	" sites.suspended_until > excluded.updated)"

static const char *const spool_sql[SPOOL_STMT__COUNT] = {
	[SPOOL_STMT_MSG_INSERT] =
	    "INSERT INTO messages(qid, sender, arrival, size, body, body_file,"
	    " client, helo, listener, envid, ret, smtputf8, body8, prefix,"
	    " junk, tenant, pool, priority, requiretls, tls_optional)"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
	    " ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
	[SPOOL_STMT_RCPT_INSERT] =
	    "INSERT INTO recipients(msg_id, addr, orig, orcpt, notify,"
	    " transport, next_attempt, priority, status) VALUES(?1, ?2, ?3,"
	    " ?4, ?5, ?6, ?7, ?8, ?9)",
	[SPOOL_STMT_RCPT_DONE] =
	    "UPDATE recipients SET status = ?2, leased = 0,"
	    " attempts = attempts + 1, last_attempt = ?3, last_reply = ?4,"
	    " site = coalesce(?5, site) WHERE id = ?1",
	[SPOOL_STMT_RCPT_DEFER] =
	    "UPDATE recipients SET leased = 0, attempts = attempts + ?9,"
	    " last_attempt = ?2, last_reply = ?3, warned = max(warned, ?7),"
	    " next_attempt = CASE WHEN ?6 > 0 THEN ?6"
	    " ELSE ?2 + min(?4 * (1 << min(attempts, 20)), ?5) END,"
	    " site = coalesce(?8, site) WHERE id = ?1",
	[SPOOL_STMT_RCPT_GET] =
	    "SELECT warned, notify, orig, orcpt FROM recipients WHERE id = ?1",
	[SPOOL_STMT_MSG_BODY] =
	    "SELECT sender, envid, ret, arrival, body_file, body, smtputf8,"
	    " prefix, requiretls FROM messages WHERE id = ?1",
	[SPOOL_STMT_MSG_PENDING] =
	    "SELECT 1 FROM recipients WHERE msg_id = ?1 AND status IN (0, 3)"
	    " LIMIT 1",
	[SPOOL_STMT_MSG_GET] =
	    "SELECT qid, body_file FROM messages WHERE id = ?1",
	[SPOOL_STMT_MSG_DELETE] = "DELETE FROM messages WHERE id = ?1",
	[SPOOL_STMT_RCPTS_DELETE] = "DELETE FROM recipients WHERE msg_id = ?1",
	/* the due scans: high priority first (recipients_due_high), then
	   the rest (recipients_due; the priority test is on the rows the
	   index gives) */
	[SPOOL_STMT_DUE_HIGH] =
	    "SELECT " SPOOL_DUE_COLUMNS
	    " FROM recipients r JOIN messages m ON m.id = r.msg_id"
	    " WHERE r.status = 0 AND r.leased = 0 AND r.priority = 1"
	    " AND r.next_attempt <= ?1 ORDER BY r.next_attempt LIMIT ?2",
	[SPOOL_STMT_DUE] =
	    "SELECT " SPOOL_DUE_COLUMNS
	    " FROM recipients r JOIN messages m ON m.id = r.msg_id"
	    " WHERE r.status = 0 AND r.leased = 0 AND r.next_attempt <= ?1"
	    " AND r.priority = 0 ORDER BY r.next_attempt LIMIT ?2",
	[SPOOL_STMT_USAGE_ADD] =
	    "INSERT INTO tenant_usage(tenant, period, window_start, messages,"
	    " recipients) VALUES(?1, ?2, ?3, 1, ?4)"
	    " ON CONFLICT(tenant, period, window_start) DO UPDATE SET"
	    " messages = messages + 1,"
	    " recipients = recipients + excluded.recipients",
	[SPOOL_STMT_LEASE] = "UPDATE recipients SET leased = 1 WHERE id = ?1",
	[SPOOL_STMT_EVENT_INSERT] =
	    "INSERT INTO events(ts, type, qid, rcpt, sender, status, reply,"
	    " relay) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[SPOOL_STMT_META_INSERT] =
	    "INSERT OR REPLACE INTO msg_meta(qid, ts, tags, metadata)"
	    " VALUES(?1, ?2, ?3, ?4)",
	[SPOOL_STMT_IDEM_INSERT] =
	    "INSERT OR IGNORE INTO idempotency(key, ts, status, answer)"
	    " VALUES(?1, ?2, ?3, ?4)",
	[SPOOL_STMT_SUPPRESS_ADD] =
	    "INSERT OR IGNORE INTO suppressions(addr, ts, reason, source)"
	    " VALUES(?1, ?2, ?3, ?4)",
	[SPOOL_STMT_SUPPRESS_DEL] = "DELETE FROM suppressions WHERE addr = ?1",
	[SPOOL_STMT_VAR_SET] =
	    "INSERT OR REPLACE INTO meta(name, value) VALUES(?1, ?2)",
	[SPOOL_STMT_VAR_GET] = "SELECT value FROM meta WHERE name = ?1",
	[SPOOL_STMT_SITE_PUT] =
	    "INSERT INTO sites(site, suspended_until, manual, reason, rate,"
	    " rate_max, updated) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	    " ON CONFLICT(site) DO UPDATE SET"
	    /* the agent's word does not undo an operator's suspension in
	       force, which it may not have been handed yet */
	    " suspended_until = CASE WHEN " SPOOL_SITE_KEEP
	    " THEN sites.suspended_until ELSE excluded.suspended_until END,"
	    " reason = CASE WHEN " SPOOL_SITE_KEEP
	    " THEN sites.reason ELSE excluded.reason END,"
	    " manual = CASE WHEN " SPOOL_SITE_KEEP
	    " THEN 1 ELSE excluded.manual END,"
	    " rate = excluded.rate, rate_max = excluded.rate_max,"
	    " updated = excluded.updated",
	[SPOOL_STMT_SITE_OP] =
	    "INSERT INTO sites(site, suspended_until, manual, reason, updated,"
	    " op) VALUES(?1, ?2, 1, ?3, ?4, ?5)"
	    " ON CONFLICT(site) DO UPDATE SET"
	    " suspended_until = excluded.suspended_until, manual = 1,"
	    " reason = excluded.reason, updated = excluded.updated,"
	    " op = excluded.op",
	[SPOOL_STMT_SITE_WAKE] =
	    "UPDATE recipients SET next_attempt = ?2 WHERE site = ?1"
	    " AND status = 0 AND leased = 0 AND next_attempt > ?2",
	[SPOOL_STMT_BEGIN] = "BEGIN IMMEDIATE",
	[SPOOL_STMT_COMMIT] = "COMMIT",
	[SPOOL_STMT_SAVEPOINT] = "SAVEPOINT msg",
	[SPOOL_STMT_RELEASE] = "RELEASE msg",
	[SPOOL_STMT_ROLLBACK_TO] = "ROLLBACK TO msg",
};

static int	spool_recover(struct spool *sp, struct err *err);

/* spool_has_column - does table have the column name */
static int
spool_has_column(struct spool *sp, const char *table, const char *name,
    bool *out, struct err *err)
{
	sqlite3_stmt *st;
	char sql[128];
	int rc;

	*out = false;
	snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
	if (sqlite3_prepare_v2(sp->db, sql, -1, &st, NULL) != SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(sp->db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (strcmp(spool_col_text(st, 1), name) == 0)
			*out = true;
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	return 0;
}

/* spool_migrate - the columns a spool made by an older relais lacks,
   and the indexes over them */
static int
spool_migrate(struct spool *sp, struct err *err)
{
	char sql[256];
	bool has;

	for (size_t i = 0; i < sizeof(spool_columns) /
	    sizeof(spool_columns[0]); i++) {
		const struct spool_column *c = &spool_columns[i];

		if (spool_has_column(sp, c->table, c->name, &has, err) == -1)
			return -1;
		if (has)
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s",
		    c->table, c->name, c->decl);
		if (spool_exec(sp, sql, err) == -1)
			return -1;
		log_info("event=spool.migrate table=%s column=%s", c->table,
		    c->name);
	}
	return spool_exec(sp, spool_schema_late, err);
}

int
spool_exec(struct spool *sp, const char *sql, struct err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(sp->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(err, 0, "%s: %s", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
spool_mkdir(const char *path, struct err *err)
{
	if (sys_mkdir(path, 0700) == -1 && errno != EEXIST)
		return err_set(err, errno, "mkdir %s: %s", path,
		    strerror(errno));
	return 0;
}

static char *
spool_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%s", a, b);
	return p;
}

struct spool *
spool_open(const char *data_dir, struct err *err)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));

	sp->data_dir = xstrdup(data_dir);
	sp->spool_dir = spool_join(data_dir, "spool");
	sp->body_dir = spool_join(sp->spool_dir, "bodies");
	sp->db_path = spool_join(sp->spool_dir, "queue.db");
	sp->body_dirfd = -1;
	sp->started = time(NULL);

	if (spool_mkdir(data_dir, err) == -1 ||
	    spool_mkdir(sp->spool_dir, err) == -1 ||
	    spool_mkdir(sp->body_dir, err) == -1)
		goto fail;
	sp->body_dirfd = sys_open(sp->body_dir,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (sp->body_dirfd == -1) {
		err_set(err, errno, "open %s: %s", sp->body_dir,
		    strerror(errno));
		goto fail;
	}
	/* no global allocation statistics: they cost a mutex per malloc,
	   and every connection of the process is single-threaded (fails
	   harmlessly when SQLite is already initialised) */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	spool_vfs_register();	/* fault tests only (RELAIS_FAULT) */
	if (sqlite3_open_v2(sp->db_path, &sp->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		err_set(err, 0, "open %s: %s", sp->db_path,
		    sp->db ? sqlite3_errmsg(sp->db) : "out of memory");
		goto fail;
	}
	chmod(sp->db_path, 0600);
	sqlite3_busy_timeout(sp->db, 10000);
	if (spool_exec(sp, "PRAGMA journal_mode = WAL", err) == -1 ||
	    spool_exec(sp, "PRAGMA synchronous = FULL", err) == -1 ||
	    spool_exec(sp, spool_schema, err) == -1 ||
	    spool_migrate(sp, err) == -1 ||
	    spool_tlsrpt_schema(sp, err) == -1 || spool_sts_init(sp, err) == -1)
		goto fail;
	sp->sync_full = true;
	for (int i = 0; i < SPOOL_STMT__COUNT; i++) {
		if (sqlite3_prepare_v3(sp->db, spool_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &sp->stmt[i], NULL) != SQLITE_OK) {
			err_set(err, 0, "prepare: %s", sqlite3_errmsg(sp->db));
			goto fail;
		}
	}
	if (spool_recover(sp, err) == -1)
		goto fail;
	return sp;
fail:
	spool_free(sp);
	return NULL;
}

/* spool_recover - after a stop or a crash: leases reset, leftovers gone */
static int
spool_recover(struct spool *sp, struct err *err)
{
	sqlite3_stmt *st;
	DIR *dir;
	struct dirent *de;
	int leases, done = 0, orphans = 0;
	int64_t msgs = 0, rcpts = 0;

	/*
	 * Every statement here follows an index (recipients_leased,
	 * recipients_msg, recipients_due, recipients_held): the cost is in
	 * the leases and messages, not in the size of the queue.
	 */
	if (spool_exec(sp, "BEGIN IMMEDIATE", err) == -1)
		return -1;
	if (spool_exec(sp, "UPDATE recipients SET leased = 0 WHERE leased = 1",
	    err) == -1)
		goto rollback;
	leases = sqlite3_changes(sp->db);
	/* messages whose every recipient is final were about to go: their
	   rows go (recipients first, by index), their body files below */
	if (sqlite3_prepare_v2(sp->db, "SELECT id FROM messages m WHERE NOT"
	    " EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = m.id AND"
	    " r.status IN (0, 3))", -1, &st, NULL) != SQLITE_OK) {
		err_set(err, 0, "prepare: %s", sqlite3_errmsg(sp->db));
		goto rollback;
	}
	{
		int64_t *ids = NULL;
		size_t n = 0;
		int rc;

		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			ids = xreallocarray(ids, n + 1, sizeof(*ids));
			ids[n++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			free(ids);
			err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
			goto rollback;
		}
		for (size_t i = 0; i < n; i++) {
			sqlite3_stmt *d = sp->stmt[SPOOL_STMT_RCPTS_DELETE];

			sqlite3_bind_int64(d, 1, ids[i]);
			if (spool_step_done(sp, d, err) == -1)
				break;
			d = sp->stmt[SPOOL_STMT_MSG_DELETE];
			sqlite3_bind_int64(d, 1, ids[i]);
			if (spool_step_done(sp, d, err) == -1)
				break;
			done++;
		}
		free(ids);
		if ((size_t)done != n)
			goto rollback;
	}
	if (spool_exec(sp, "COMMIT", err) == -1)
		goto rollback;

	/* body files that no committed message names: never acknowledged */
	if (sqlite3_prepare_v2(sp->db, "SELECT 1 FROM messages WHERE qid = ?1"
	    " AND body_file = 1", -1, &st, NULL) != SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(sp->db));
	if ((dir = opendir(sp->body_dir)) == NULL) {
		sqlite3_finalize(st);
		return err_set(err, errno, "opendir %s: %s", sp->body_dir,
		    strerror(errno));
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		sqlite3_bind_text(st, 1, de->d_name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW) {
			if (sys_unlinkat(sp->body_dirfd, de->d_name, 0) == 0)
				orphans++;
		}
		sqlite3_reset(st);
	}
	closedir(dir);
	sqlite3_finalize(st);

	if (sqlite3_prepare_v2(sp->db, "SELECT (SELECT count(*) FROM messages),"
	    " (SELECT count(*) FROM recipients WHERE status = 0 AND leased = 0)"
	    " + (SELECT count(*) FROM recipients WHERE status = 3)", -1,
	    &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			msgs = sqlite3_column_int64(st, 0);
			rcpts = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
	}
	log_info("event=spool.recover messages=%lld recipients=%lld"
	    " leases_reset=%d finished_removed=%d orphan_bodies=%d",
	    (long long)msgs, (long long)rcpts, leases, done, orphans);
	return 0;
rollback:
	sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

void
spool_free(struct spool *sp)
{
	if (sp == NULL)
		return;
	for (int i = 0; i < SPOOL_STMT__COUNT; i++)
		sqlite3_finalize(sp->stmt[i]);
	if (sp->db)
		sqlite3_close(sp->db);
	if (sp->body_dirfd != -1)
		close(sp->body_dirfd);
	free(sp->data_dir);
	free(sp->spool_dir);
	free(sp->body_dir);
	free(sp->db_path);
	free(sp);
}

const char *
spool_body_dir(const struct spool *sp)
{
	return sp->body_dir;
}

int64_t
spool_started(const struct spool *sp)
{
	return sp->started;
}

struct spool_msg *
spool_msg_new(void)
{
	struct spool_msg *msg = xcalloc(1, sizeof(*msg));

	spool_body_init(&msg->body, SPOOL_BLOB_MAX);
	buf_init(&msg->prefix, 0);
	return msg;
}

void
spool_msg_free(struct spool_msg *msg)
{
	if (msg == NULL)
		return;
	for (size_t i = 0; i < msg->nrcpts; i++) {
		free(msg->rcpts[i].addr);
		free(msg->rcpts[i].orig);
		free(msg->rcpts[i].orcpt);
	}
	free(msg->rcpts);
	spool_body_release(&msg->body);
	buf_fini(&msg->prefix);
	free(msg->sender);
	free(msg->client);
	free(msg->helo);
	free(msg->listener);
	free(msg->envid);
	free(msg->tags);
	free(msg->metadata);
	free(msg->idem_key);
	free(msg->idem_answer);
	for (size_t i = 0; i < msg->nsuppressed; i++)
		free(msg->suppressed[i]);
	free(msg->suppressed);
	free(msg->tenant);
	free(msg->pool);
	free(msg);
}

void
spool_msg_add_rcpt(struct spool_msg *msg, const char *addr, const char *orig,
    const char *orcpt, unsigned notify, enum spool_transport transport)
{
	struct spool_rcpt *r;

	msg->rcpts = xreallocarray(msg->rcpts, msg->nrcpts + 1,
	    sizeof(*msg->rcpts));
	r = &msg->rcpts[msg->nrcpts++];
	r->addr = xstrdup(addr);
	r->orig = xstrdup(orig);
	r->orcpt = orcpt ? xstrdup(orcpt) : NULL;
	r->notify = notify;
	r->transport = transport;
}

int
spool_step_done(struct spool *sp, sqlite3_stmt *st, struct err *err)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	return 0;
}
