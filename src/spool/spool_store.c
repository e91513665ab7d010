/* SPDX-License-Identifier: ISC */
/*
 * spool_store.c - the statements the queue manager runs inside its
 * transactions: messages stored, recipients deferred, settled and
 * leased, finished messages removed, due recipients scanned. See spool.h.
 *
 * Every statement is prepared once at spool_open (spool_int.h); these
 * functions bind, step and reset them, and turn rows into plain structs,
 * so that no SQL or sqlite3 type leaves src/spool/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sys.h"
#include "core/xalloc.h"
#include "spool/spool_int.h"

int
spool_sync_body_dir(struct spool *sp, struct err *err)
{
	if (sys_fsync(sp->body_dirfd) == -1)
		return err_set(err, errno, "fsync %s: %s", sp->body_dir,
		    strerror(errno));
	return 0;
}

int
spool_begin(struct spool *sp, bool durable, struct err *err)
{
	if (durable != sp->sync_full) {
		if (spool_exec(sp, durable ? "PRAGMA synchronous = FULL" :
		    "PRAGMA synchronous = NORMAL", err) == -1)
			return -1;
		sp->sync_full = durable;
	}
	return spool_step_done(sp, sp->stmt[SPOOL_STMT_BEGIN], err);
}

int
spool_commit(struct spool *sp, struct err *err)
{
	return spool_step_done(sp, sp->stmt[SPOOL_STMT_COMMIT], err);
}

void
spool_rollback(struct spool *sp)
{
	if (!sqlite3_get_autocommit(sp->db))
		(void)spool_exec(sp, "ROLLBACK", NULL);
}

bool
spool_txn_lost(struct spool *sp)
{
	return sqlite3_get_autocommit(sp->db) != 0;
}

void
spool_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* spool_bind_site - a result's site; NULL or "" (local, or not known)
   as SQL NULL, which keeps the site a recipient had */
static void
spool_bind_site(sqlite3_stmt *st, int i, const char *site)
{
	if (site == NULL || site[0] == '\0')
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, site, -1, SQLITE_TRANSIENT);
}

const char *
spool_col_text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s ? s : "";
}

/* spool_usage_add - count msg in its tenant's hour and day windows */
static int
spool_usage_add(struct spool *sp, const struct spool_msg *msg,
    struct err *err)
{
	static const int64_t periods[] = { 3600, 86400 };
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_USAGE_ADD];

	for (size_t i = 0; i < sizeof(periods) / sizeof(periods[0]); i++) {
		sqlite3_bind_text(st, 1, msg->tenant, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, periods[i]);
		sqlite3_bind_int64(st, 3, msg->arrival - msg->arrival %
		    periods[i]);
		sqlite3_bind_int64(st, 4, (int64_t)msg->nrcpts);
		if (spool_step_done(sp, st, err) == -1)
			return -1;
	}
	return 0;
}

int
spool_usage_load(struct spool *sp, int64_t since,
    void (*fn)(void *, const struct spool_usage *), void *arg,
    struct err *err)
{
	sqlite3_stmt *st;
	struct spool_usage u;
	int rc;

	if (sqlite3_prepare_v2(sp->db, "SELECT tenant, period, window_start,"
	    " messages, recipients FROM tenant_usage WHERE window_start >= ?1",
	    -1, &st, NULL) != SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(sp->db));
	sqlite3_bind_int64(st, 1, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		u.tenant = spool_col_text(st, 0);
		u.period = sqlite3_column_int64(st, 1);
		u.window_start = sqlite3_column_int64(st, 2);
		u.messages = sqlite3_column_int64(st, 3);
		u.recipients = sqlite3_column_int64(st, 4);
		fn(arg, &u);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	return 0;
}

/* spool_insert_msg - the rows of one message, in the open transaction */
static int
spool_insert_msg(struct spool *sp, const struct spool_msg *msg,
    struct err *err)
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
	spool_bind_text(st, 16, msg->tenant);
	spool_bind_text(st, 17, msg->pool);
	sqlite3_bind_int(st, 18, msg->priority);
	sqlite3_bind_int(st, 19, msg->requiretls);
	/* REQUIRETLS wins: the field is then ignored (RFC 8689 4.1) */
	sqlite3_bind_int(st, 20, msg->tls_optional && !msg->requiretls);
	if (spool_step_done(sp, st, err) == -1)
		return -1;
	msg_id = sqlite3_last_insert_rowid(sp->db);

	st = sp->stmt[SPOOL_STMT_RCPT_INSERT];
	for (size_t i = 0; i < msg->nrcpts; i++) {
		const struct spool_rcpt *r = &msg->rcpts[i];

		sqlite3_bind_int64(st, 1, msg_id);
		sqlite3_bind_text(st, 2, r->addr, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, r->orig, -1, SQLITE_STATIC);
		spool_bind_text(st, 4, r->orcpt);
		sqlite3_bind_int(st, 5, (int)r->notify);
		sqlite3_bind_int(st, 6, (int)r->transport);
		sqlite3_bind_int64(st, 7, msg->arrival);
		sqlite3_bind_int(st, 8, msg->priority);
		sqlite3_bind_int(st, 9, msg->held ? SPOOL_RCPT_HELD :
		    SPOOL_RCPT_QUEUED);
		if (spool_step_done(sp, st, err) == -1)
			return -1;
	}
	if (msg->tenant != NULL && spool_usage_add(sp, msg, err) == -1)
		return -1;
	return spool_store_api(sp, msg, err);
}

int
spool_store_msg(struct spool *sp, const struct spool_msg *msg,
    struct err *err)
{
	int rc;

	if (spool_step_done(sp, sp->stmt[SPOOL_STMT_SAVEPOINT], err) == -1)
		return -1;
	if ((rc = spool_insert_msg(sp, msg, err)) == -1)
		(void)spool_step_done(sp, sp->stmt[SPOOL_STMT_ROLLBACK_TO],
		    NULL);
	(void)spool_step_done(sp, sp->stmt[SPOOL_STMT_RELEASE], NULL);
	return rc;
}

static char *
spool_col_dup(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL :
	    xstrdup((const char *)sqlite3_column_text(st, i));
}

int
spool_rcpt_get(struct spool *sp, uint64_t rcpt_id,
    struct spool_rcpt_state *out, struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_RCPT_GET];
	int rc;

	memset(out, 0, sizeof(*out));
	sqlite3_bind_int64(st, 1, (int64_t)rcpt_id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : err_set(err, rc, "%s",
		    sqlite3_errmsg(sp->db));
	}
	out->warned = sqlite3_column_int(st, 0) != 0;
	out->notify = (unsigned)sqlite3_column_int(st, 1);
	out->orig = spool_col_dup(st, 2);
	out->orcpt = spool_col_dup(st, 3);
	sqlite3_reset(st);
	return 1;
}

void
spool_rcpt_state_fini(struct spool_rcpt_state *st)
{
	free(st->orig);
	free(st->orcpt);
	st->orig = st->orcpt = NULL;
}

int
spool_rcpt_defer(struct spool *sp, uint64_t rcpt_id, int64_t now,
    const char *reply, int64_t retry_min, int64_t retry_max,
    int64_t retry_at, bool warned, const char *site, bool attempt,
    struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_RCPT_DEFER];

	sqlite3_bind_int64(st, 1, (int64_t)rcpt_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, reply, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, retry_min);
	sqlite3_bind_int64(st, 5, retry_max);
	sqlite3_bind_int64(st, 6, retry_at);
	sqlite3_bind_int(st, 7, warned);
	spool_bind_site(st, 8, site);
	sqlite3_bind_int(st, 9, attempt ? 1 : 0);
	return spool_step_done(sp, st, err);
}

int
spool_rcpt_settle(struct spool *sp, uint64_t rcpt_id,
    enum spool_status status, int64_t now, const char *reply,
    const char *site, struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_RCPT_DONE];

	sqlite3_bind_int64(st, 1, (int64_t)rcpt_id);
	sqlite3_bind_int(st, 2, (int)status);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_text(st, 4, reply, -1, SQLITE_TRANSIENT);
	spool_bind_site(st, 5, site);
	return spool_step_done(sp, st, err);
}

int
spool_rcpt_lease(struct spool *sp, uint64_t rcpt_id, struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_LEASE];

	sqlite3_bind_int64(st, 1, (int64_t)rcpt_id);
	return spool_step_done(sp, st, err);
}

int
spool_msg_finish(struct spool *sp, int64_t msg_id, bool *removed,
    char qid_out[ID_QID_LEN + 1], bool *body_file, struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_MSG_PENDING];
	int rc;

	*removed = false;
	*body_file = false;
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
		snprintf(qid_out, ID_QID_LEN + 1, "%s", spool_col_text(st, 0));
		*body_file = sqlite3_column_int(st, 1) &&
		    id_qid_valid(qid_out);
	}
	sqlite3_reset(st);

	st = sp->stmt[SPOOL_STMT_RCPTS_DELETE];
	sqlite3_bind_int64(st, 1, msg_id);
	if (spool_step_done(sp, st, err) == -1)
		return -1;
	st = sp->stmt[SPOOL_STMT_MSG_DELETE];
	sqlite3_bind_int64(st, 1, msg_id);
	if (spool_step_done(sp, st, err) == -1)
		return -1;
	*removed = qid_out[0] != '\0';
	return 0;
}

void
spool_body_remove(struct spool *sp, const char *qid)
{
	if (!id_qid_valid(qid))
		return;
	if (sys_unlinkat(sp->body_dirfd, qid, 0) == -1 && errno != ENOENT)
		log_warn("event=spool.unlink id=%s", qid);
}

/* spool_due_rows - one due scan's rows to fn; *stop when fn said so */
static int
spool_due_rows(struct spool *sp, sqlite3_stmt *st, int64_t now, size_t limit,
    spool_due_fn *fn, void *arg, size_t *rows, bool *stop, struct err *err)
{
	struct spool_due due;
	int rc;

	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, (int64_t)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		(*rows)++;
		due.rcpt_id = (uint64_t)sqlite3_column_int64(st, 0);
		due.msg_id = sqlite3_column_int64(st, 1);
		due.addr = spool_col_text(st, 2);
		due.orig = spool_col_text(st, 3);
		due.transport = (enum spool_transport)sqlite3_column_int(st, 4);
		due.attempts = sqlite3_column_int(st, 5);
		due.qid = spool_col_text(st, 6);
		due.sender = spool_col_text(st, 7);
		due.arrival = sqlite3_column_int64(st, 8);
		due.body_file = sqlite3_column_int(st, 9) != 0;
		due.orcpt = sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL :
		    spool_col_text(st, 10);
		due.notify = (unsigned)sqlite3_column_int(st, 11);
		due.envid = sqlite3_column_type(st, 12) == SQLITE_NULL ? NULL :
		    spool_col_text(st, 12);
		due.ret = sqlite3_column_int(st, 13);
		due.smtputf8 = sqlite3_column_int(st, 14) != 0;
		due.body8 = sqlite3_column_int(st, 15) != 0;
		due.size = (uint64_t)sqlite3_column_int64(st, 16);
		due.junk = sqlite3_column_int(st, 17) != 0;
		due.pool = sqlite3_column_type(st, 20) == SQLITE_NULL ? NULL :
		    spool_col_text(st, 20);
		due.priority = sqlite3_column_int(st, 21);
		due.requiretls = sqlite3_column_int(st, 22) != 0;
		due.tls_optional = sqlite3_column_int(st, 23) != 0;
		due.row = st;
		if (fn(arg, &due) == -1) {
			*stop = true;
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	return 0;
}

int
spool_due_scan(struct spool *sp, int64_t now, size_t limit,
    spool_due_fn *fn, void *arg, size_t *rows, struct err *err)
{
	bool stop = false;

	*rows = 0;
	if (limit == 0)
		return 0;
	/* high priority first: they take the window before the rest */
	if (spool_due_rows(sp, sp->stmt[SPOOL_STMT_DUE_HIGH], now, limit, fn,
	    arg, rows, &stop, err) == -1)
		return -1;
	if (stop || *rows >= limit)
		return 0;
	return spool_due_rows(sp, sp->stmt[SPOOL_STMT_DUE], now,
	    limit - *rows, fn, arg, rows, &stop, err);
}

char *
spool_due_text(const struct spool_due *due, size_t *len)
{
	sqlite3_stmt *st = due->row;
	size_t plen = (size_t)sqlite3_column_bytes(st, 18);
	const void *prefix = sqlite3_column_blob(st, 18);
	size_t blen = (size_t)sqlite3_column_bytes(st, 19);
	const void *body = sqlite3_column_blob(st, 19);
	char *p = xmalloc(plen + blen + 1);

	if (plen > 0)
		memcpy(p, prefix, plen);
	if (blen > 0)
		memcpy(p + plen, body, blen);
	p[plen + blen] = '\0';
	*len = plen + blen;
	return p;
}

int
spool_msg_read(struct spool *sp, int64_t msg_id, struct spool_stored *out,
    struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_MSG_GET];
	char path[4096];
	bool body_file;
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&out->text, 0);
	sqlite3_bind_int64(st, 1, msg_id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : err_set(err, rc, "%s",
		    sqlite3_errmsg(sp->db));
	}
	snprintf(out->qid, sizeof(out->qid), "%s", spool_col_text(st, 0));
	sqlite3_reset(st);

	st = sp->stmt[SPOOL_STMT_MSG_BODY];
	sqlite3_bind_int64(st, 1, msg_id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : err_set(err, rc, "%s",
		    sqlite3_errmsg(sp->db));
	}
	out->sender = xstrdup(spool_col_text(st, 0));
	out->envid = spool_col_dup(st, 1);
	out->ret = sqlite3_column_int(st, 2);
	out->arrival = sqlite3_column_int64(st, 3);
	body_file = sqlite3_column_int(st, 4) != 0;
	out->requiretls = sqlite3_column_int(st, 8) != 0;
	if (sqlite3_column_type(st, 7) != SQLITE_NULL)
		buf_append(&out->text, sqlite3_column_blob(st, 7),
		    (size_t)sqlite3_column_bytes(st, 7));
	if (!body_file)
		buf_append(&out->text, sqlite3_column_blob(st, 5),
		    (size_t)sqlite3_column_bytes(st, 5));
	sqlite3_reset(st);
	if (body_file && id_qid_valid(out->qid)) {
		/* unreadable: the report goes out with what there is */
		spool_body_path(path, sizeof(path), sp->body_dir, out->qid);
		(void)buf_read_file(&out->text, path, NULL);
	}
	return 1;
}

void
spool_stored_fini(struct spool_stored *st)
{
	free(st->sender);
	free(st->envid);
	buf_fini(&st->text);
	st->sender = st->envid = NULL;
}
