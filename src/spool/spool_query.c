/* SPDX-License-Identifier: ISC */
/*
 * spool_query.c - what the HTTP API reads from the spool, on a read-only
 * connection of its own (struct spool_reader): events after a cursor
 * and the newest event's id, named integers, stored idempotent answers,
 * the suppression list, one message with its recipients, and the queue
 * page by page. WAL lets these run beside the queue manager's writes.
 * See spool.h.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "spool/spool.h"
#include "spool/spool_int.h"

static int
spool_query_prepare(struct spool_reader *rd, const char *sql,
    sqlite3_stmt **st, struct err *err)
{
	if (sqlite3_prepare_v2(rd->db, sql, -1, st, NULL) != SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(rd->db));
	return 0;
}

static int
spool_query_end(struct spool_reader *rd, sqlite3_stmt *st, int rc,
    struct err *err)
{
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return err_set(err, rc, "%s", sqlite3_errmsg(rd->db));
	return 0;
}

static const char *
spool_query_text_or_null(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int
spool_reader_events(struct spool_reader *rd, int64_t since, size_t limit,
    int (*fn)(void *, const struct spool_event *), void *arg,
    struct err *err)
{
	sqlite3_stmt *st;
	struct spool_event ev;
	int rc;

	if (spool_query_prepare(rd, "SELECT e.id, e.ts, e.type, e.qid,"
	    " e.rcpt, e.sender, e.status, e.reply, e.relay, m.tags,"
	    " m.metadata FROM events e LEFT JOIN msg_meta m ON m.qid = e.qid"
	    " WHERE e.id > ?1 ORDER BY e.id LIMIT ?2", &st, err) == -1)
		return -1;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, (int64_t)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ev.id = sqlite3_column_int64(st, 0);
		ev.ts = sqlite3_column_int64(st, 1);
		ev.type = spool_col_text(st, 2);
		ev.qid = spool_col_text(st, 3);
		ev.rcpt = spool_query_text_or_null(st, 4);
		ev.sender = spool_query_text_or_null(st, 5);
		ev.status = spool_query_text_or_null(st, 6);
		ev.reply = spool_query_text_or_null(st, 7);
		ev.relay = spool_query_text_or_null(st, 8);
		ev.tags = spool_query_text_or_null(st, 9);
		ev.metadata = spool_query_text_or_null(st, 10);
		if (fn(arg, &ev) == -1) {
			rc = SQLITE_DONE;
			break;
		}
	}
	return spool_query_end(rd, st, rc, err);
}

int
spool_reader_events_last(struct spool_reader *rd, int64_t *id_out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	*id_out = 0;
	if (spool_query_prepare(rd, "SELECT max(id) FROM events", &st,
	    err) == -1)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*id_out = sqlite3_column_int64(st, 0);
	return spool_query_end(rd, st, rc, err);
}

int
spool_reader_var(struct spool_reader *rd, const char *name, int64_t *value,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	*value = 0;
	if (spool_query_prepare(rd, "SELECT value FROM meta WHERE name = ?1",
	    &st, err) == -1)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*value = sqlite3_column_int64(st, 0);
	return spool_query_end(rd, st, rc, err);
}

int
spool_reader_count(struct spool_reader *rd, int64_t *queued, int64_t *held,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	*queued = *held = 0;
	if (spool_query_prepare(rd, "SELECT count(*) FILTER (WHERE status = 0),"
	    " count(*) FILTER (WHERE status = 3) FROM recipients"
	    " WHERE status IN (0, 3)", &st, err) == -1)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*queued = sqlite3_column_int64(st, 0);
		*held = sqlite3_column_int64(st, 1);
	}
	return spool_query_end(rd, st, rc, err);
}

int
spool_reader_idem(struct spool_reader *rd, const char *key, int *status,
    char **answer, struct err *err)
{
	sqlite3_stmt *st;
	int rc, found = 0;

	*answer = NULL;
	if (spool_query_prepare(rd, "SELECT status, answer FROM idempotency"
	    " WHERE key = ?1", &st, err) == -1)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*status = sqlite3_column_int(st, 0);
		*answer = xstrdup(spool_col_text(st, 1));
		found = 1;
	}
	if (spool_query_end(rd, st, rc, err) == -1) {
		free(*answer);
		*answer = NULL;
		return -1;
	}
	return found;
}

int
spool_reader_suppressed(struct spool_reader *rd, const char *addr, bool *out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	*out = false;
	if (spool_query_prepare(rd, "SELECT 1 FROM suppressions WHERE"
	    " addr = ?1", &st, err) == -1)
		return -1;
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*out = true;
	return spool_query_end(rd, st, rc, err);
}

int
spool_reader_suppressions(struct spool_reader *rd, const char *after,
    size_t limit, int (*fn)(void *, const struct spool_suppression *),
    void *arg, struct err *err)
{
	sqlite3_stmt *st;
	struct spool_suppression s;
	int rc;

	if (spool_query_prepare(rd, "SELECT addr, ts, reason, source FROM"
	    " suppressions WHERE addr > ?1 ORDER BY addr LIMIT ?2", &st,
	    err) == -1)
		return -1;
	sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		s.addr = spool_col_text(st, 0);
		s.ts = sqlite3_column_int64(st, 1);
		s.reason = spool_col_text(st, 2);
		s.source = spool_col_text(st, 3);
		if (fn(arg, &s) == -1) {
			rc = SQLITE_DONE;
			break;
		}
	}
	return spool_query_end(rd, st, rc, err);
}

static const char *
spool_query_state(int status, int leased)
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
		return "unknown";
	}
}

static void
spool_query_msg_row(sqlite3_stmt *st, int c, struct spool_qmsg *m)
{
	m->id = sqlite3_column_int64(st, c);
	m->qid = spool_col_text(st, c + 1);
	m->sender = spool_col_text(st, c + 2);
	m->arrival = sqlite3_column_int64(st, c + 3);
	m->size = sqlite3_column_int64(st, c + 4);
	m->client = spool_col_text(st, c + 5);
	m->listener = spool_col_text(st, c + 6);
	m->requiretls = sqlite3_column_int(st, c + 7) != 0;
	m->tls_optional = sqlite3_column_int(st, c + 8) != 0;
}

static void
spool_query_rcpt_row(sqlite3_stmt *st, int c, struct spool_qrcpt *r)
{
	r->addr = spool_col_text(st, c);
	r->state = spool_query_state(sqlite3_column_int(st, c + 1),
	    sqlite3_column_int(st, c + 2));
	r->attempts = sqlite3_column_int(st, c + 3);
	r->next_attempt = sqlite3_column_int64(st, c + 4);
	r->last_attempt = sqlite3_column_int64(st, c + 5);
	r->last_reply = spool_query_text_or_null(st, c + 6);
	r->site = spool_query_text_or_null(st, c + 7);
}

int
spool_reader_message(struct spool_reader *rd, const char *qid,
    void (*msg_fn)(void *, const struct spool_qmsg *),
    void (*rcpt_fn)(void *, const struct spool_qrcpt *), void *arg,
    struct err *err)
{
	sqlite3_stmt *st;
	struct spool_qmsg m;
	struct spool_qrcpt r;
	int rc, found = 0;

	if (spool_query_prepare(rd, "SELECT m.id, m.qid, m.sender, m.arrival,"
	    " m.size, m.client, m.listener, m.requiretls, m.tls_optional,"
	    " r.addr, r.status, r.leased,"
	    " r.attempts, r.next_attempt, r.last_attempt, r.last_reply,"
	    " r.site FROM messages m LEFT JOIN recipients r ON r.msg_id = m.id"
	    " WHERE m.qid = ?1 ORDER BY r.id", &st, err) == -1)
		return -1;
	sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!found) {
			spool_query_msg_row(st, 0, &m);
			if (msg_fn != NULL)
				msg_fn(arg, &m);
			found = 1;
		}
		if (rcpt_fn == NULL || sqlite3_column_type(st, 9) ==
		    SQLITE_NULL)
			continue;
		spool_query_rcpt_row(st, 9, &r);
		rcpt_fn(arg, &r);
	}
	if (spool_query_end(rd, st, rc, err) == -1)
		return -1;
	return found;
}

int
spool_reader_queue(struct spool_reader *rd, int64_t after, size_t limit,
    void (*fn)(void *, const struct spool_qmsg *, const struct spool_qrcpt *),
    void *arg, int64_t *next, struct err *err)
{
	sqlite3_stmt *st;
	struct spool_qmsg m;
	struct spool_qrcpt r;
	int64_t last = 0;
	size_t nmsgs = 0;
	int rc;

	/* a page of messages by row id (arrival order: ids grow with
	   time), then their recipients still to deliver */
	*next = 0;
	if (spool_query_prepare(rd, "SELECT m.id, m.qid, m.sender, m.arrival,"
	    " m.size, m.client, m.listener, m.requiretls, m.tls_optional,"
	    " r.addr, r.status, r.leased,"
	    " r.attempts, r.next_attempt, r.last_attempt, r.last_reply,"
	    " r.site FROM (SELECT * FROM messages WHERE id > ?1 AND EXISTS (SELECT 1"
	    " FROM recipients x WHERE x.msg_id = messages.id AND x.status IN"
	    " (0, 3)) ORDER BY id LIMIT ?2) m JOIN recipients r ON"
	    " r.msg_id = m.id WHERE r.status IN (0, 3) ORDER BY m.id, r.id",
	    &st, err) == -1)
		return -1;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, (int64_t)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		spool_query_msg_row(st, 0, &m);
		spool_query_rcpt_row(st, 9, &r);
		if (m.id != last) {
			nmsgs++;
			last = m.id;
		}
		fn(arg, &m, &r);
	}
	if (spool_query_end(rd, st, rc, err) == -1)
		return -1;
	if (nmsgs == limit)
		*next = last;
	return 0;
}
