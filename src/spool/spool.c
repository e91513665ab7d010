/* SPDX-License-Identifier: ISC */
/*
 * spool.c - the spool thread and its group commit; see spool.h.
 *
 * Organisation: spool_open() creates the directories and the database,
 * prepares every statement and recovers from a crash (leases reset,
 * finished messages and orphan body files removed). The thread then loops:
 * take every waiting request, fsync the body files they name (and their
 * directory, once), run them all in one transaction together with the
 * scheduler's leases, COMMIT, and only then call the done callbacks and
 * hand the leased jobs to the delivery pool.
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
#include "deliver/deliver.h"
#include "conf/conf_live.h"
#include "queue/bounce.h"
#include "queue/sched.h"
#include "smtp/smtp_param.h"
#include "spool/spool_int.h"
#include "spool/spool_vfs.h"

#define SPOOL_INFLIGHT_MAX	256
/* recipients of backing-off destinations deferred in place per batch:
   bounds the batch (and so the wait of a 250) to a few milliseconds */
#define SPOOL_DEFER_MAX		1024
/* event=spool.stats at most this often (and at stop) */
#define SPOOL_STATS_INTERVAL	60
/* a batch slower than this is logged at info */
#define SPOOL_SLOW_BATCH_MS	500
/*
 * Outcomes alone wait this long for a message to share their commit.
 * Under load a message is always waiting and nothing lingers; with one
 * client the outcome of the last message rides with the next message's
 * commit instead of a transaction, a wakeup and (for a delivery) an
 * fsync of its own. It only widens, by at most this much, the window in
 * which a crash makes a delivery happen twice.
 */
#define SPOOL_RESULT_LINGER_US	2000
/* after a batch that could not commit (a failing disk): the pause before
   the next attempt, unless a new message comes first */
#define SPOOL_FAIL_PAUSE_US	200000

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
    " junk INTEGER NOT NULL DEFAULT 0);"
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
    " last_reply TEXT);"
    "CREATE INDEX IF NOT EXISTS recipients_msg ON recipients(msg_id);"
    "CREATE INDEX IF NOT EXISTS recipients_due ON recipients(next_attempt)"
    " WHERE status = 0 AND leased = 0;"
    /* small partial indexes: recovery and counts without a table scan */
    "CREATE INDEX IF NOT EXISTS recipients_leased ON recipients(leased)"
    " WHERE leased = 1;"
    "CREATE INDEX IF NOT EXISTS recipients_held ON recipients(msg_id)"
    " WHERE status = 3;"
    /* relais queue list: arrival order without sorting the queue */
    "CREATE INDEX IF NOT EXISTS messages_arrival ON messages(arrival);";

static const char *const spool_sql[SPOOL_STMT__COUNT] = {
	[SPOOL_STMT_MSG_INSERT] =
	    "INSERT INTO messages(qid, sender, arrival, size, body, body_file,"
	    " client, helo, listener, envid, ret, smtputf8, body8, prefix,"
	    " junk) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
	    " ?13, ?14, ?15)",
	[SPOOL_STMT_RCPT_INSERT] =
	    "INSERT INTO recipients(msg_id, addr, orig, orcpt, notify,"
	    " transport, next_attempt) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[SPOOL_STMT_RCPT_DONE] =
	    "UPDATE recipients SET status = ?2, leased = 0,"
	    " attempts = attempts + 1, last_attempt = ?3, last_reply = ?4"
	    " WHERE id = ?1",
	[SPOOL_STMT_RCPT_DEFER] =
	    "UPDATE recipients SET leased = 0, attempts = attempts + 1,"
	    " last_attempt = ?2, last_reply = ?3, warned = max(warned, ?7),"
	    " next_attempt = CASE WHEN ?6 > 0 THEN ?6"
	    " ELSE ?2 + min(?4 * (1 << min(attempts, 20)), ?5) END"
	    " WHERE id = ?1",
	[SPOOL_STMT_RCPT_GET] =
	    "SELECT warned, notify, orig, orcpt FROM recipients WHERE id = ?1",
	[SPOOL_STMT_MSG_BODY] =
	    "SELECT sender, envid, ret, arrival, body_file, body, smtputf8,"
	    " prefix FROM messages WHERE id = ?1",
	[SPOOL_STMT_MSG_PENDING] =
	    "SELECT 1 FROM recipients WHERE msg_id = ?1 AND status IN (0, 3)"
	    " LIMIT 1",
	[SPOOL_STMT_MSG_GET] =
	    "SELECT qid, body_file FROM messages WHERE id = ?1",
	[SPOOL_STMT_MSG_DELETE] = "DELETE FROM messages WHERE id = ?1",
	[SPOOL_STMT_RCPTS_DELETE] = "DELETE FROM recipients WHERE msg_id = ?1",
	[SPOOL_STMT_DUE] =
	    "SELECT r.id, r.msg_id, r.addr, r.orig, r.transport, r.attempts,"
	    " m.qid, m.sender, m.arrival, m.body_file, r.orcpt, r.notify,"
	    " m.envid, m.ret, m.smtputf8, m.body8, m.size, m.junk, m.prefix,"
	    " m.body"
	    " FROM recipients r JOIN messages m ON m.id = r.msg_id"
	    " WHERE r.status = 0 AND r.leased = 0 AND r.next_attempt <= ?1"
	    " ORDER BY r.next_attempt LIMIT ?2",
	[SPOOL_STMT_LEASE] = "UPDATE recipients SET leased = 1 WHERE id = ?1",
	[SPOOL_STMT_BEGIN] = "BEGIN IMMEDIATE",
	[SPOOL_STMT_COMMIT] = "COMMIT",
	[SPOOL_STMT_SAVEPOINT] = "SAVEPOINT msg",
	[SPOOL_STMT_RELEASE] = "RELEASE msg",
	[SPOOL_STMT_ROLLBACK_TO] = "ROLLBACK TO msg",
};

static int	spool_recover(struct spool *sp, struct err *err);
static void	*spool_thread(void *arg);
static int64_t	spool_mono_us(void);
static int	spool_step_done(struct spool *sp, sqlite3_stmt *st,
		    struct err *err);

int
spool__exec(struct spool *sp, const char *sql, struct err *err)
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
	sp->inflight_max = SPOOL_INFLIGHT_MAX;
	sp->tail = &sp->head;
	idmap_init(&sp->inflight);
	pthread_mutex_init(&sp->lock, NULL);
	{
		/* waits are timed on the monotonic clock: a step of the wall
		   clock neither stalls nor hurries the spool thread */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&sp->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	pthread_mutex_init(&sp->stats_lock, NULL);

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
	if (spool__exec(sp, "PRAGMA journal_mode = WAL", err) == -1 ||
	    spool__exec(sp, "PRAGMA synchronous = FULL", err) == -1 ||
	    spool__exec(sp, spool_schema, err) == -1)
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
	if (spool__exec(sp, "BEGIN IMMEDIATE", err) == -1)
		return -1;
	if (spool__exec(sp, "UPDATE recipients SET leased = 0 WHERE leased = 1",
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
	if (spool__exec(sp, "COMMIT", err) == -1)
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

int
spool_start(struct spool *sp, struct deliver_pool *pool,
    struct conf_live *live)
{
	int r;

	sp->pool = pool;
	sp->live = live;
	if ((r = pthread_create(&sp->thread, NULL, spool_thread, sp)) != 0) {
		errno = r;
		log_warn("event=spool.start");
		return -1;
	}
	sp->running = true;
	(void)pthread_setname_np(sp->thread, "relais-spool");
	return 0;
}

void
spool_stop(struct spool *sp)
{
	if (!sp->running)
		return;
	pthread_mutex_lock(&sp->lock);
	sp->stopping = true;
	pthread_cond_signal(&sp->cond);
	pthread_mutex_unlock(&sp->lock);
	pthread_join(sp->thread, NULL);
	sp->running = false;
}

void
spool_free(struct spool *sp)
{
	if (sp == NULL)
		return;
	spool_stop(sp);
	for (int i = 0; i < SPOOL_STMT__COUNT; i++)
		sqlite3_finalize(sp->stmt[i]);
	if (sp->db)
		sqlite3_close(sp->db);
	if (sp->body_dirfd != -1)
		close(sp->body_dirfd);
	idmap_fini(&sp->inflight);
	pthread_mutex_destroy(&sp->lock);
	pthread_cond_destroy(&sp->cond);
	pthread_mutex_destroy(&sp->stats_lock);
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

/*
 * spool_push - append the requests head..*tail (all of head's type) under
 * one lock, so that they land in the same batch. The thread needs waking
 * for a message, and for the first outcome only (see spool_wait).
 */
static void
spool_push(struct spool *sp, struct spool_req *head, struct spool_req **tail)
{
	pthread_mutex_lock(&sp->lock);
	*sp->tail = head;
	sp->tail = tail;
	if (head->type == SPOOL_REQ_MSG) {
		sp->msgs_waiting = true;
		pthread_cond_signal(&sp->cond);
	} else if (sp->results_since == 0) {
		sp->results_since = spool_mono_us();
		pthread_cond_signal(&sp->cond);
	}
	pthread_mutex_unlock(&sp->lock);
}

static void
spool_enqueue(struct spool *sp, struct spool_req *req)
{
	req->next = NULL;
	spool_push(sp, req, &req->next);
}

void
spool_submit_msg(struct spool *sp, struct spool_msg *msg, spool_done_fn *done,
    void *arg, uint64_t tag)
{
	struct spool_req *req = xcalloc(1, sizeof(*req));

	req->type = SPOOL_REQ_MSG;
	req->msg = msg;
	req->done = done;
	req->arg = arg;
	req->tag = tag;
	spool_enqueue(sp, req);
}

void
spool_submit_result(struct spool *sp, const struct spool_result *res)
{
	spool_submit_results(sp, res, 1);
}

void
spool_submit_results(struct spool *sp, const struct spool_result *res,
    size_t n)
{
	struct spool_req *head = NULL, **tail = &head;

	for (size_t i = 0; i < n; i++) {
		struct spool_req *req = xcalloc(1, sizeof(*req));

		req->type = SPOOL_REQ_RESULT;
		req->res = res[i];
		*tail = req;
		tail = &req->next;
	}
	if (head != NULL)
		spool_push(sp, head, tail);
}

void
spool_kick(struct spool *sp)
{
	pthread_mutex_lock(&sp->lock);
	sp->kicked = true;
	pthread_cond_signal(&sp->cond);
	pthread_mutex_unlock(&sp->lock);
}

void
spool_get_stats(struct spool *sp, struct spool_stats *out)
{
	pthread_mutex_lock(&sp->stats_lock);
	*out = sp->stats;
	pthread_mutex_unlock(&sp->stats_lock);
}

/* --- destinations backing off (see struct spool_backoff) -------------- */

static unsigned
spool_backoff_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)(*s | 0x20)) * 16777619u;
	return h % SPOOL_BACKOFF_BUCKETS;
}

const char *
spool__backoff_key(bool smarthost, const char *addr)
{
	const char *at;

	if (smarthost)
		return "[smarthost]";
	at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

int64_t
spool__backoff_until(struct spool *sp, const char *dest, int64_t now)
{
	if (sp->nbackoff == 0)
		return 0;
	for (struct spool_backoff *b = sp->backoff[spool_backoff_hash(dest)];
	    b; b = b->next)
		if (strcasecmp(b->dest, dest) == 0)
			return b->until > now ? b->until : 0;
	return 0;
}

/* spool_backoff_set - dest backs off until then; 0 forgets it */
static void
spool_backoff_set(struct spool *sp, const char *dest, int64_t until)
{
	struct spool_backoff **pp = &sp->backoff[spool_backoff_hash(dest)], *b;
	size_t n;

	for (; (b = *pp) != NULL; pp = &b->next)
		if (strcasecmp(b->dest, dest) == 0)
			break;
	if (b != NULL) {
		if (until > 0) {
			b->until = until;
			return;
		}
		*pp = b->next;
		free(b);
		sp->nbackoff--;
		return;
	}
	if (until <= 0)
		return;
	n = strlen(dest) + 1;
	b = xmalloc(sizeof(*b) + n);
	memcpy(b->dest, dest, n);
	b->until = until;
	b->next = NULL;
	*pp = b;
	sp->nbackoff++;
}

/* spool_backoff_expire - drop entries past their time, or every entry
   (all: relais queue flush forgets every backoff) */
static void
spool_backoff_expire(struct spool *sp, int64_t now, bool all)
{
	for (size_t i = 0; sp->nbackoff > 0 && i < SPOOL_BACKOFF_BUCKETS; i++) {
		struct spool_backoff **pp = &sp->backoff[i], *b;

		while ((b = *pp) != NULL) {
			if (all || b->until <= now) {
				*pp = b->next;
				free(b);
				sp->nbackoff--;
			} else
				pp = &b->next;
		}
	}
}

/* spool_backoff_learn - what the remote results of a batch say */
static void
spool_backoff_learn(struct spool *sp, const struct spool_req *list,
    bool smarthost, int64_t now)
{
	for (const struct spool_req *req = list; req; req = req->next) {
		const struct spool_result *res = &req->res;

		if (req->type != SPOOL_REQ_RESULT || req->backoff ||
		    req->status != 0 || strcmp(res->relay, "local") == 0)
			continue;
		/* only a backing-off destination answers with a retry time */
		if (res->retry_at > now)
			spool_backoff_set(sp,
			    spool__backoff_key(smarthost, res->addr),
			    res->retry_at);
		else if (res->outcome == SPOOL_OUTCOME_DELIVERED)
			spool_backoff_set(sp,
			    spool__backoff_key(smarthost, res->addr), 0);
	}
}

/* spool_bind_text_or_null - bind a C string, NULL as SQL NULL */
static void
spool_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static int
spool_step_done(struct spool *sp, sqlite3_stmt *st, struct err *err)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	return 0;
}

/* spool__insert_msg - the rows of one message, inside the batch */
int
spool__insert_msg(struct spool *sp, struct spool_msg *msg, struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_MSG_INSERT];
	int64_t msg_id;
	bool file = msg->body.fd != -1;

	sqlite3_bind_text(st, 1, msg->qid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, msg->sender ? msg->sender : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, msg->arrival);
	sqlite3_bind_int64(st, 4, (int64_t)msg->body.size);
	if (file)
		sqlite3_bind_null(st, 5);
	else
		sqlite3_bind_blob64(st, 5, msg->body.mem.data ?
		    msg->body.mem.data : "", msg->body.mem.len, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, file);
	spool_bind_text(st, 7, msg->client);
	spool_bind_text(st, 8, msg->helo);
	spool_bind_text(st, 9, msg->listener);
	spool_bind_text(st, 10, msg->envid);
	sqlite3_bind_int(st, 11, msg->ret);
	sqlite3_bind_int(st, 12, msg->smtputf8);
	sqlite3_bind_int(st, 13, msg->body8);
	if (msg->prefix.len > 0)
		sqlite3_bind_blob64(st, 14, msg->prefix.data, msg->prefix.len,
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 14);
	sqlite3_bind_int(st, 15, msg->junk);
	if (spool_step_done(sp, st, err) == -1)
		return -1;
	msg_id = sqlite3_last_insert_rowid(sp->db);

	st = sp->stmt[SPOOL_STMT_RCPT_INSERT];
	for (size_t i = 0; i < msg->nrcpts; i++) {
		struct spool_rcpt *r = &msg->rcpts[i];

		sqlite3_bind_int64(st, 1, msg_id);
		sqlite3_bind_text(st, 2, r->addr, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, r->orig, -1, SQLITE_STATIC);
		spool_bind_text(st, 4, r->orcpt);
		sqlite3_bind_int(st, 5, (int)r->notify);
		sqlite3_bind_int(st, 6, (int)r->transport);
		sqlite3_bind_int64(st, 7, msg->arrival);
		if (spool_step_done(sp, st, err) == -1)
			return -1;
	}
	return 0;
}

static char *
spool_col_dup(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL :
	    xstrdup((const char *)sqlite3_column_text(st, i));
}

/*
 * spool_apply_result - record one delivery outcome, inside the batch:
 * the retry policy ([relay] retry_min, retry_max), expiry after
 * max_queue_lifetime, the one delay warning, and the reports (RFC 3461
 * NOTIFY) that the outcome calls for.
 */
static int
spool_apply_result(struct spool *sp, struct spool_result *res,
    const struct conf *conf, int64_t now, struct bounce_batch *bb,
    struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_RCPT_GET];
	char reply[600], diag[600];
	char *orig, *orcpt;
	unsigned notify;
	int warned, rc;
	bool never;
	const char *diag_type = strcmp(res->relay, "local") == 0 ||
	    strcmp(res->relay, "none") == 0 ? "x-relais" : "smtp";

	sqlite3_bind_int64(st, 1, (int64_t)res->rcpt_id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		/* deleted meanwhile (relais queue delete): nothing to do */
		return rc == SQLITE_DONE ? 0 : err_set(err, rc, "%s",
		    sqlite3_errmsg(sp->db));
	}
	warned = sqlite3_column_int(st, 0);
	notify = (unsigned)sqlite3_column_int(st, 1);
	orig = spool_col_dup(st, 2);
	orcpt = spool_col_dup(st, 3);
	sqlite3_reset(st);
	never = (notify & SMTP_NOTIFY_NEVER) != 0;

	if (res->outcome == SPOOL_OUTCOME_DEFERRED &&
	    now - res->arrival >= (int64_t)conf->relay.max_queue_lifetime) {
		res->outcome = SPOOL_OUTCOME_BOUNCED;
		char last[sizeof(res->reply)];

		memcpy(last, res->reply, sizeof(last));
		last[sizeof(last) - 60] = '\0';
		snprintf(res->reply, sizeof(res->reply), "message expired"
		    " after %lld s in the queue; last error: %.150s",
		    (long long)(now - res->arrival), last);
	}
	snprintf(reply, sizeof(reply), "%s %s", res->status, res->reply);
	snprintf(diag, sizeof(diag), "%s; %s", diag_type, res->reply);

	if (res->outcome == SPOOL_OUTCOME_DEFERRED) {
		if (conf->relay.delay_warning > 0 && !warned && !never &&
		    now - res->arrival >= (int64_t)conf->relay.delay_warning &&
		    (notify == 0 || (notify & SMTP_NOTIFY_DELAY))) {
			bounce_add(bb, res->msg_id, DSN_DELAYED, res->addr, orig,
			    orcpt, "delayed", res->status, res->remote_mta,
			    diag, now, res->arrival +
			    (int64_t)conf->relay.max_queue_lifetime);
			warned = 1;
		}
		st = sp->stmt[SPOOL_STMT_RCPT_DEFER];
		sqlite3_bind_int64(st, 1, (int64_t)res->rcpt_id);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_text(st, 3, reply, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, conf->relay.retry_min);
		sqlite3_bind_int64(st, 5, conf->relay.retry_max);
		sqlite3_bind_int64(st, 6, res->retry_at);
		sqlite3_bind_int(st, 7, warned);
	} else {
		if (res->outcome == SPOOL_OUTCOME_BOUNCED && !never &&
		    (notify == 0 || (notify & SMTP_NOTIFY_FAILURE)))
			bounce_add(bb, res->msg_id, DSN_FAILED, res->addr, orig,
			    orcpt, "failed", res->status, res->remote_mta,
			    diag, now, 0);
		else if (res->outcome == SPOOL_OUTCOME_DELIVERED &&
		    (notify & SMTP_NOTIFY_SUCCESS) && !res->dsn_passed)
			bounce_add(bb, res->msg_id, DSN_DELIVERED, res->addr,
			    orig, orcpt, strcmp(res->relay, "local") == 0 ?
			    "delivered" : "relayed", res->status,
			    res->remote_mta, diag, now, 0);
		st = sp->stmt[SPOOL_STMT_RCPT_DONE];
		sqlite3_bind_int64(st, 1, (int64_t)res->rcpt_id);
		sqlite3_bind_int(st, 2,
		    res->outcome == SPOOL_OUTCOME_DELIVERED ?
		    SPOOL_RCPT_DELIVERED : SPOOL_RCPT_BOUNCED);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_text(st, 4, reply, -1, SQLITE_TRANSIENT);
	}
	free(orig);
	free(orcpt);
	return spool_step_done(sp, st, err);
}

/*
 * spool_finish_msg - if no recipient of msg_id is left to deliver, delete
 * it; its body file name goes to *unlink_out (unlinked after the commit).
 */
static int
spool_finish_msg(struct spool *sp, int64_t msg_id, char **unlink_out,
    char qid_out[ID_QID_LEN + 1], struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_MSG_PENDING];
	int rc;

	*unlink_out = NULL;
	qid_out[0] = '\0';
	sqlite3_bind_int64(st, 1, msg_id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));

	st = sp->stmt[SPOOL_STMT_MSG_GET];
	sqlite3_bind_int64(st, 1, msg_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *qid = (const char *)sqlite3_column_text(st, 0);

		snprintf(qid_out, ID_QID_LEN + 1, "%s", qid ? qid : "");
		if (sqlite3_column_int(st, 1) && id_qid_valid(qid_out))
			*unlink_out = xstrdup(qid_out);
	}
	sqlite3_reset(st);

	st = sp->stmt[SPOOL_STMT_RCPTS_DELETE];
	sqlite3_bind_int64(st, 1, msg_id);
	if (spool_step_done(sp, st, err) == -1)
		goto fail;
	st = sp->stmt[SPOOL_STMT_MSG_DELETE];
	sqlite3_bind_int64(st, 1, msg_id);
	if (spool_step_done(sp, st, err) == -1)
		goto fail;
	return 0;
fail:
	free(*unlink_out);
	*unlink_out = NULL;
	return -1;
}

static void
spool_log_result(const struct spool_result *res, int64_t now)
{
	static const char *const names[] = {
		[SPOOL_OUTCOME_DELIVERED] = "delivered",
		[SPOOL_OUTCOME_DEFERRED] = "deferred",
		[SPOOL_OUTCOME_BOUNCED] = "bounced",
	};
	char reply[600], la[LOG_ADDR_MAX];

	log_info("event=%s id=%s to=%s relay=%s delay=%llds status=%s"
	    " reply=%s", names[res->outcome], res->qid,
	    log_addr(la, sizeof(la), res->addr), res->relay,
	    (long long)(now - res->arrival), res->status,
	    log_quote(reply, sizeof(reply), res->reply, strlen(res->reply)));
}

static int64_t
spool_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * spool_txn_lost - after a failed statement: did SQLite roll the batch's
 * transaction back by itself (an I/O error, a full disk)? Then nothing
 * more of the batch may run: each statement would commit on its own,
 * outside the group commit, behind the back of the answers we give.
 */
static bool
spool_txn_lost(struct spool *sp)
{
	if (!sqlite3_get_autocommit(sp->db))
		return false;
	log_error("event=spool.rollback error=\"transaction rolled back by"
	    " an error; batch abandoned\"");
	return true;
}

/* spool_batch - one group commit over every request in list; false if it
   did not commit */
static bool
spool_batch(struct spool *sp, struct spool_req *list, bool dispatch)
{
	struct spool_req *req, *next, *deferred = NULL, **tail;
	struct deliver_job *jobs = NULL, *job;
	struct err err;
	struct {
		char	qid[ID_QID_LEN + 1];
		bool	body_file;
	} *done_msgs = NULL;
	size_t ndone = 0, nmsgs = 0, nresults = 0, nbackoff = 0, nleased = 0;
	struct bounce_batch bb = { NULL, 0 };
	struct conf_snap *snap = NULL;
	int64_t now = time(NULL), t0 = spool_mono_us(), us;
	bool synced_dir = false, ok = true, smarthost, more = false;
	bool lost = false, unsure = false;
	char qid[ID_QID_LEN + 1];

	/* 1. bodies on disk before the rows that name them */
	for (req = list; req; req = req->next) {
		if (req->type != SPOOL_REQ_MSG)
			continue;
		nmsgs++;
		if (spool_body_sync(&req->msg->body, &err) == -1) {
			log_warnx("event=spool.fsync id=%s error=\"%s\"",
			    req->msg->qid, err.msg);
			req->status = -1;
			continue;
		}
		if (req->msg->body.fd != -1 && !synced_dir) {
			if (sys_fsync(sp->body_dirfd) == -1) {
				log_warn("event=spool.fsync dir=%s",
				    sp->body_dir);
				req->status = -1;
				continue;
			}
			synced_dir = true;
		}
	}

	/*
	 * 2. one transaction for everything. A batch that acknowledges new
	 * messages, or settles recipients for good (delivered, bounced: it
	 * may finish a message, whose body file is unlinked right after), is
	 * fsynced (synchronous = FULL). One that only records deferrals and
	 * leases is not (NORMAL: WAL order keeps it consistent, and the next
	 * FULL commit makes it durable); losing it to a power cut can repeat
	 * an attempt, never lose a message or its body.
	 */
	{
		bool full = nmsgs > 0;

		for (req = list; req && !full; req = req->next)
			full = req->type == SPOOL_REQ_RESULT &&
			    req->res.outcome != SPOOL_OUTCOME_DEFERRED;

		if (full != sp->sync_full) {
			spool__exec(sp, full ? "PRAGMA synchronous = FULL" :
			    "PRAGMA synchronous = NORMAL", NULL);
			sp->sync_full = full;
		}
	}
	snap = sp->live ? conf_live_get(sp->live) : NULL;
	smarthost = snap != NULL && snap->conf->relay.smarthost != NULL;
	if (spool_step_done(sp, sp->stmt[SPOOL_STMT_BEGIN], &err) == -1) {
		log_error("event=spool.begin error=\"%s\"", err.msg);
		ok = false;
		goto commit_done;
	}
	for (req = list; req && !lost; req = req->next) {
		if (req->type == SPOOL_REQ_MSG) {
			if (req->status == -1)
				continue;
			(void)spool_step_done(sp,
			    sp->stmt[SPOOL_STMT_SAVEPOINT], NULL);
			if (spool__insert_msg(sp, req->msg, &err) == -1) {
				log_error("event=spool.insert id=%s error=\"%s\"",
				    req->msg->qid, err.msg);
				req->status = -1;
				if ((lost = spool_txn_lost(sp)))
					break;
				(void)spool_step_done(sp,
				    sp->stmt[SPOOL_STMT_ROLLBACK_TO], NULL);
			}
			(void)spool_step_done(sp, sp->stmt[SPOOL_STMT_RELEASE],
			    NULL);
		} else {
			nresults++;
			if (snap == NULL) {
				req->status = -1;
				continue;
			}
			if (spool_apply_result(sp, &req->res, snap->conf, now,
			    &bb, &err) == -1) {
				log_error("event=spool.update id=%s error=\"%s\"",
				    req->res.qid, err.msg);
				req->status = -1;
				lost = spool_txn_lost(sp);
			}
		}
	}
	/*
	 * the scheduler: due recipients leased for the delivery pool, as
	 * many as it has room for; those of destinations that back off
	 * deferred right here, as their worker would have done
	 */
	spool_backoff_learn(sp, list, smarthost, now);
	spool_backoff_expire(sp, now, false);
	if (!lost && dispatch && sp->pool != NULL && snap != NULL) {
		size_t room = sp->inflight.len < sp->inflight_max ?
		    sp->inflight_max - sp->inflight.len : 0;

		if ((room > 0 || sp->nbackoff > 0) && sched__select(sp, now,
		    room, SPOOL_DEFER_MAX, smarthost, &jobs, &deferred, &more,
		    &err) == -1) {
			log_error("event=sched.select error=\"%s\"", err.msg);
			lost = spool_txn_lost(sp);
		}
	}
	for (job = jobs; job; job = job->next)
		nleased += job->nrcpts;
	for (tail = &list; *tail; tail = &(*tail)->next)
		;
	*tail = deferred;	/* settled and logged like the others */
	for (req = deferred; req; req = req->next) {
		nbackoff++;
		if (!lost && spool_apply_result(sp, &req->res, snap->conf, now,
		    &bb, &err) == -1) {
			log_error("event=spool.update id=%s error=\"%s\"",
			    req->res.qid, err.msg);
			req->status = -1;
			lost = spool_txn_lost(sp);
		}
	}
	/* reports, in the same commit as the outcomes that called for them;
	   their recipients are leased by the next batch, at once */
	if (!lost && bb.n > 0) {
		if (bounce_flush(sp, &bb, snap->conf, now, &err) == -1) {
			log_error("event=dsn.queue error=\"%s\"", err.msg);
			lost = spool_txn_lost(sp);
		}
		more = true;
	}
	/* messages whose last recipient was just settled */
	for (req = list; req && !lost; req = req->next) {
		char *path;

		if (req->type != SPOOL_REQ_RESULT || req->status == -1 ||
		    req->res.outcome == SPOOL_OUTCOME_DEFERRED)
			continue;
		if (spool_finish_msg(sp, req->res.msg_id, &path, qid,
		    &err) == -1) {
			log_error("event=spool.remove id=%s error=\"%s\"",
			    req->res.qid, err.msg);
			lost = spool_txn_lost(sp);
			continue;
		}
		if (qid[0] != '\0') {
			/* logged, and its body unlinked, after the commit */
			done_msgs = xreallocarray(done_msgs, ndone + 1,
			    sizeof(*done_msgs));
			memcpy(done_msgs[ndone].qid, qid, sizeof(qid));
			done_msgs[ndone++].body_file = path != NULL;
		}
		free(path);
	}
	if (lost) {
		ok = false;
	} else if (spool_step_done(sp, sp->stmt[SPOOL_STMT_COMMIT],
	    &err) == -1) {
		log_error("event=spool.commit error=\"%s\"", err.msg);
		sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
		/* a failed COMMIT may still be durable: the WAL frames may
		   have reached the disk before the sync failed, and the next
		   start would find them. Keep the body files it names (the
		   next start removes them if the rows did not make it). */
		unsure = true;
		ok = false;
	}
commit_done:
	bounce_batch_fini(&bb);
	conf_snap_unref(snap);
	/* 3. answers, only now that the commit is on disk */
	for (req = list; req; req = next) {
		next = req->next;
		if (req->type == SPOOL_REQ_MSG) {
			int status = ok ? req->status : -1;

			if (status == 0 || (unsure && req->status == 0))
				spool_body_release(&req->msg->body);
			else
				spool_body_discard(&req->msg->body);
			req->done(req->arg, req->tag, status);
			spool_msg_free(req->msg);
			free(req);
		} else if (!ok) {
			/* not recorded: try again in the next batch (the
			   scheduler's own deferrals are simply made again).
			   Stopping, this was the last batch: the recipient
			   stays leased and runs again after the restart. */
			if (req->backoff || !dispatch)
				free(req);
			else {
				req->next = NULL;
				spool_enqueue(sp, req);
			}
		} else {
			if (req->status == 0)
				spool_log_result(&req->res, now);
			if (!req->backoff)
				idmap_del(&sp->inflight, req->res.rcpt_id);
			free(req);
		}
	}
	for (size_t i = 0; ok && i < ndone; i++) {
		log_info("event=removed id=%s", done_msgs[i].qid);
		if (done_msgs[i].body_file &&
		    sys_unlinkat(sp->body_dirfd, done_msgs[i].qid, 0) == -1 &&
		    errno != ENOENT)
			log_warn("event=spool.unlink id=%s", done_msgs[i].qid);
	}
	free(done_msgs);
	for (job = jobs; job; job = jobs) {
		jobs = job->next;
		job->next = NULL;
		if (!ok) {
			deliver_job_free(job);
			continue;
		}
		for (size_t i = 0; i < job->nrcpts; i++)
			idmap_put(&sp->inflight, job->rcpts[i].rcpt_id,
			    (void *)1);
		deliver_pool_push(sp->pool, job);
	}
	sp->more = ok && more;
	if (!ok || (nmsgs == 0 && nresults == 0 && nbackoff == 0 &&
	    nleased == 0))
		return ok;
	us = spool_mono_us() - t0;
	pthread_mutex_lock(&sp->stats_lock);
	sp->stats.commits++;
	if (nmsgs > 0)
		sp->stats.msg_commits++;
	sp->stats.messages += nmsgs;
	sp->stats.results += nresults;
	sp->stats.leased += nleased;
	sp->stats.backoff_deferred += nbackoff;
	sp->stats.batch_us += (uint64_t)us;
	if ((uint64_t)us > sp->stats.batch_us_max)
		sp->stats.batch_us_max = (uint64_t)us;
	pthread_mutex_unlock(&sp->stats_lock);
	log_debug("event=spool.batch us=%lld messages=%zu results=%zu"
	    " leased=%zu backoff_deferred=%zu", (long long)us, nmsgs, nresults,
	    nleased, nbackoff);
	if (us >= SPOOL_SLOW_BATCH_MS * 1000)
		log_info("event=spool.slow_batch ms=%lld messages=%zu"
		    " results=%zu leased=%zu backoff_deferred=%zu",
		    (long long)(us / 1000), nmsgs, nresults, nleased, nbackoff);
	return true;
}

/* spool_log_stats - event=spool.stats: the group commit at work */
static void
spool_log_stats(struct spool *sp, struct spool_stats *last)
{
	struct spool_stats st;
	char avg[32];

	spool_get_stats(sp, &st);
	if (last != NULL && memcmp(&st, last, sizeof(st)) == 0)
		return;
	if (st.msg_commits > 0)
		snprintf(avg, sizeof(avg), "%.2f",
		    (double)st.messages / (double)st.msg_commits);
	else
		snprintf(avg, sizeof(avg), "0");
	log_info("event=spool.stats commits=%llu message_commits=%llu"
	    " messages=%llu avg_messages_per_commit=%s results=%llu"
	    " leased=%llu backoff_deferred=%llu batch_ms_avg=%.2f"
	    " batch_ms_max=%.1f", (unsigned long long)st.commits,
	    (unsigned long long)st.msg_commits,
	    (unsigned long long)st.messages, avg,
	    (unsigned long long)st.results, (unsigned long long)st.leased,
	    (unsigned long long)st.backoff_deferred,
	    st.commits ? (double)st.batch_us / (double)st.commits / 1000.0 :
	    0.0, (double)st.batch_us_max / 1000.0);
	if (last != NULL)
		*last = st;
}

/* spool_deadline - the CLOCK_MONOTONIC time (sp->cond's clock) us from now */
static void
spool_deadline(struct timespec *ts, int64_t us)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += us / 1000000;
	ts->tv_nsec += (long)(us % 1000000) * 1000;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * spool_wait - with sp->lock held: until there is work. Nothing waiting:
 * at most a second (the scheduler's tick). Only outcomes waiting: until a
 * message comes to share their commit, or SPOOL_RESULT_LINGER_US after
 * the oldest of them. After a batch that failed (its outcomes are waiting
 * again): SPOOL_FAIL_PAUSE_US, or until a message comes, so a failing
 * disk does not make the thread spin.
 */
static void
spool_wait(struct spool *sp, bool failed)
{
	struct timespec ts;
	int64_t left;

	if (failed && !sp->stopping && !sp->msgs_waiting) {
		spool_deadline(&ts, SPOOL_FAIL_PAUSE_US);
		pthread_cond_timedwait(&sp->cond, &sp->lock, &ts);
		return;
	}

	if (sp->head == NULL && !sp->kicked && !sp->stopping && !sp->more) {
		spool_deadline(&ts, 1000000);
		pthread_cond_timedwait(&sp->cond, &sp->lock, &ts);
	}
	while (sp->head != NULL && !sp->msgs_waiting && !sp->kicked &&
	    !sp->stopping && !sp->more && sp->results_since != 0 &&
	    (left = sp->results_since + SPOOL_RESULT_LINGER_US -
	    spool_mono_us()) > 0) {
		spool_deadline(&ts, left);
		pthread_cond_timedwait(&sp->cond, &sp->lock, &ts);
	}
}

static void *
spool_thread(void *arg)
{
	struct spool *sp = arg;
	struct spool_req *list;
	struct spool_stats logged;
	int64_t next_stats = spool_mono_us() + SPOOL_STATS_INTERVAL * 1000000LL;
	bool stop, dispatch, flush, failed = false;

	memset(&logged, 0, sizeof(logged));
	for (;;) {
		pthread_mutex_lock(&sp->lock);
		spool_wait(sp, failed);
		list = sp->head;
		sp->head = NULL;
		sp->tail = &sp->head;
		sp->msgs_waiting = false;
		sp->results_since = 0;
		flush = sp->kicked;
		sp->kicked = false;
		stop = sp->stopping;
		pthread_mutex_unlock(&sp->lock);

		/* relais queue flush: the workers forget their backoffs */
		if (flush)
			spool_backoff_expire(sp, 0, true);
		dispatch = !stop;
		if (list != NULL || dispatch)
			failed = !spool_batch(sp, list, dispatch);
		if (spool_mono_us() >= next_stats) {
			spool_log_stats(sp, &logged);
			next_stats = spool_mono_us() +
			    SPOOL_STATS_INTERVAL * 1000000LL;
		}
		if (stop) {
			pthread_mutex_lock(&sp->lock);
			list = sp->head;
			pthread_mutex_unlock(&sp->lock);
			if (list == NULL)
				break;
		}
	}
	spool_log_stats(sp, NULL);
	spool_backoff_expire(sp, 0, true);
	return NULL;
}
