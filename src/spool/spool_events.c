/* SPDX-License-Identifier: ISC */
/*
 * spool_events.c - the rows that the HTTP API and the webhooks read: the
 * events of every recipient's life, the metadata an API sender attached
 * to a message, the first answer to an idempotent request, the
 * suppression list, and a few named integers (meta). Write side: the
 * queue manager's connection, inside its transactions. See spool.h.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xalloc.h"
#include "spool/spool.h"
#include "spool/spool_int.h"

int
spool_event_add(struct spool *sp, const struct spool_event *ev,
    struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_EVENT_INSERT];

	sqlite3_bind_int64(st, 1, ev->ts);
	sqlite3_bind_text(st, 2, ev->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ev->qid, -1, SQLITE_STATIC);
	spool_bind_text(st, 4, ev->rcpt);
	spool_bind_text(st, 5, ev->sender);
	spool_bind_text(st, 6, ev->status);
	spool_bind_text(st, 7, ev->reply);
	spool_bind_text(st, 8, ev->relay);
	return spool_step_done(sp, st, err);
}

int
spool_store_api(struct spool *sp, const struct spool_msg *msg,
    struct err *err)
{
	sqlite3_stmt *st;

	if (msg->tags != NULL || msg->metadata != NULL) {
		st = sp->stmt[SPOOL_STMT_META_INSERT];
		sqlite3_bind_text(st, 1, msg->qid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, msg->arrival);
		spool_bind_text(st, 3, msg->tags);
		spool_bind_text(st, 4, msg->metadata);
		if (spool_step_done(sp, st, err) == -1)
			return -1;
	}
	if (msg->idem_key != NULL && msg->idem_answer != NULL) {
		st = sp->stmt[SPOOL_STMT_IDEM_INSERT];
		sqlite3_bind_text(st, 1, msg->idem_key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, msg->arrival);
		sqlite3_bind_int(st, 3, msg->idem_status);
		sqlite3_bind_text(st, 4, msg->idem_answer, -1, SQLITE_STATIC);
		if (spool_step_done(sp, st, err) == -1)
			return -1;
	}
	for (size_t i = 0; msg->events && i < msg->nrcpts; i++) {
		struct spool_event ev = {
			.ts = msg->arrival, .type = "received", .qid = msg->qid,
			.rcpt = msg->rcpts[i].addr, .sender = msg->sender,
			.relay = msg->listener,
		};

		if (spool_event_add(sp, &ev, err) == -1)
			return -1;
	}
	for (size_t i = 0; msg->events && i < msg->nsuppressed; i++) {
		struct spool_event ev = {
			.ts = msg->arrival, .type = "suppressed",
			.qid = msg->qid, .rcpt = msg->suppressed[i],
			.sender = msg->sender, .status = "5.1.1",
			.reply = "not sent: the address is on the suppression"
			    " list", .relay = msg->listener,
		};

		if (spool_event_add(sp, &ev, err) == -1)
			return -1;
	}
	return 0;
}

int
spool_suppress_set(struct spool *sp, const char *addr, bool add, int64_t now,
    const char *reason, const char *source, bool *changed, struct err *err)
{
	sqlite3_stmt *st;

	*changed = false;
	if (add) {
		st = sp->stmt[SPOOL_STMT_SUPPRESS_ADD];
		sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		spool_bind_text(st, 3, reason);
		sqlite3_bind_text(st, 4, source ? source : "", -1,
		    SQLITE_STATIC);
	} else {
		st = sp->stmt[SPOOL_STMT_SUPPRESS_DEL];
		sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	}
	if (spool_step_done(sp, st, err) == -1)
		return -1;
	*changed = sqlite3_changes(sp->db) > 0;
	return 0;
}

int
spool_suppress_load(struct spool *sp, void (*fn)(void *, const char *),
    void *arg, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(sp->db, "SELECT addr FROM suppressions", -1,
	    &st, NULL) != SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(sp->db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, spool_col_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	return 0;
}

int
spool_var_get(struct spool *sp, const char *name, int64_t *value,
    struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_VAR_GET];
	int rc;

	*value = 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*value = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	return 0;
}

int
spool_var_set(struct spool *sp, const char *name, int64_t value,
    struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_VAR_SET];

	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, value);
	return spool_step_done(sp, st, err);
}

/* spool_run - one statement: integers ?1 ?2 and text ?3 (SQLite numbers
   parameters by the highest used, so unused ones bind harmlessly) */
static int
spool_run(struct spool *sp, const char *sql, int64_t a, int64_t b,
    const char *text, int64_t *changes, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(sp->db, sql, -1, &st, NULL) != SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(sp->db));
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	spool_bind_text(st, 3, text);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	if (changes != NULL)
		*changes += sqlite3_changes(sp->db);
	return 0;
}

int
spool_prune(struct spool *sp, int64_t events_before, int64_t events_upto,
    int64_t idem_before, int64_t *n, struct err *err)
{
	_Static_assert(SPOOL_PRUNE_STEP == 5000, "the LIMIT below");
	*n = 0;
	/* bounded per call: a large backlog goes over several batches */
	if (spool_run(sp, "DELETE FROM events WHERE id IN (SELECT id FROM"
	    " events WHERE ts < ?1 AND id <= ?2 ORDER BY id LIMIT 5000)",
	    events_before, events_upto, NULL, n, err) == -1 ||
	    spool_run(sp, "DELETE FROM idempotency WHERE ts < ?1",
	    idem_before, 0, NULL, n, err) == -1 ||
	    spool_run(sp, "DELETE FROM msg_meta WHERE ts < ?1 AND"
	    " NOT EXISTS (SELECT 1 FROM messages m WHERE m.qid ="
	    " msg_meta.qid)", events_before, 0, NULL, n, err) == -1 ||
	    spool_run(sp, "DELETE FROM tenant_usage WHERE window_start < ?1",
	    (int64_t)time(NULL) - SPOOL_USAGE_KEEP, 0, NULL, n, err) == -1)
		return -1;
	return 0;
}

int
spool_queue_act(struct spool *sp, const char *qid, enum spool_act act,
    int64_t now, int *n, bool *body_file, struct err *err)
{
	static const char *const sql[] = {
		/* parenthesised: clang's -Wstring-concatenation */
		[SPOOL_ACT_FLUSH] = ("UPDATE recipients SET next_attempt = ?1"
		    " WHERE status = 0 AND msg_id IN (SELECT id"
		    " FROM messages WHERE qid = ?3)"),
		[SPOOL_ACT_HOLD] = ("UPDATE recipients SET status = 3"
		    " WHERE status = 0 AND leased = 0"
		    " AND msg_id IN (SELECT id FROM messages WHERE qid = ?3)"),
		[SPOOL_ACT_RELEASE] = ("UPDATE recipients SET status = 0,"
		    " next_attempt = ?1 WHERE status = 3 AND"
		    " msg_id IN (SELECT id FROM messages WHERE qid = ?3)"),
		[SPOOL_ACT_DELETE] = ("DELETE FROM recipients WHERE msg_id IN"
		    " (SELECT id FROM messages WHERE qid = ?3)"),
	};
	sqlite3_stmt *st;
	int64_t changes = 0;
	int rc;

	*n = 0;
	*body_file = false;
	if (act == SPOOL_ACT_DELETE) {
		if (sqlite3_prepare_v2(sp->db, "SELECT body_file FROM messages"
		    " WHERE qid = ?1", -1, &st, NULL) != SQLITE_OK)
			return err_set(err, 0, "prepare: %s",
			    sqlite3_errmsg(sp->db));
		sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*body_file = sqlite3_column_int(st, 0) != 0;
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	}
	if (spool_run(sp, sql[act], now, 0, qid, &changes, err) == -1)
		return -1;
	*n = (int)changes;
	if (act == SPOOL_ACT_DELETE && spool_run(sp, "DELETE FROM messages"
	    " WHERE qid = ?3", 0, 0, qid, NULL,
	    err) == -1)
		return -1;
	return 0;
}

int
spool_pending(struct spool *sp, const char *qid,
    void (*fn)(void *, const struct spool_result *), void *arg,
    struct err *err)
{
	sqlite3_stmt *st;
	struct spool_result *v = NULL, *res;
	size_t n = 0;
	int rc;

	if (sqlite3_prepare_v2(sp->db, "SELECT r.id, r.msg_id, r.addr,"
	    " m.arrival FROM recipients r JOIN messages m ON m.id = r.msg_id"
	    " WHERE m.qid = ?1 AND r.status IN (0, 3) AND r.leased = 0", -1,
	    &st, NULL) != SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(sp->db));
	sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
	/* every row read before fn writes: fn changes these very rows */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xreallocarray(v, n + 1, sizeof(*v));
		res = &v[n++];
		memset(res, 0, sizeof(*res));
		res->rcpt_id = (uint64_t)sqlite3_column_int64(st, 0);
		res->msg_id = sqlite3_column_int64(st, 1);
		snprintf(res->qid, sizeof(res->qid), "%s", qid);
		snprintf(res->addr, sizeof(res->addr), "%s",
		    spool_col_text(st, 2));
		res->arrival = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	}
	for (size_t i = 0; i < n; i++)
		fn(arg, &v[i]);
	free(v);
	return 0;
}
