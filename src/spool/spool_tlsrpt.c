/* SPDX-License-Identifier: ISC */
/*
 * spool_tlsrpt.c - the TLS-RPT counts of the daily reports (RFC 8460)
 * and the operator's requests to send one now; see spool.h.
 *
 * Table tlsrpt_counts holds one row per day and key (what a report
 * groups by: policy domain, type and strings, MX host, addresses,
 * result, reason) with its count; the queue manager adds what the
 * outbound agent counted in memory every few seconds, and removes a
 * domain's rows of a day once its report went out. The policy type and
 * the result are kept as RFC 8460 names ("sts", "certificate-expired"),
 * so rows keep their meaning whatever the code numbers them.
 *
 * Table tlsrpt_requests holds `relais tls report --send` asks (day,
 * asked: the unix time of the ask); the daemon answers each with done =
 * 1 and a line of text the command prints.
 *
 * Statements are prepared per call: each call handles a batch, every
 * few seconds at most.
 */
#include <sqlite3.h>
#include <string.h>

#include "spool/spool.h"
#include "spool/spool_int.h"

static const char spool_tlsrpt_sql[] =
    "CREATE TABLE IF NOT EXISTS tlsrpt_counts("
    " day TEXT NOT NULL, domain TEXT NOT NULL, policy_type TEXT NOT NULL,"
    " policy TEXT NOT NULL, mx_host TEXT NOT NULL,"
    " sending_ip TEXT NOT NULL, receiving_ip TEXT NOT NULL,"
    " result TEXT NOT NULL, detail TEXT NOT NULL, count INTEGER NOT NULL,"
    " PRIMARY KEY(day, domain, policy_type, policy, mx_host, sending_ip,"
    " receiving_ip, result, detail)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS tlsrpt_requests("
    " day TEXT PRIMARY KEY, asked INTEGER NOT NULL,"
    " done INTEGER NOT NULL DEFAULT 0, result TEXT) WITHOUT ROWID;";

int
spool_tlsrpt_schema(struct spool *sp, struct err *err)
{
	return spool_exec(sp, spool_tlsrpt_sql, err);
}

static int
spool_tlsrpt_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st,
    struct err *err)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(db));
	return 0;
}

static int
spool_tlsrpt_done(sqlite3 *db, sqlite3_stmt *st, int rc, struct err *err)
{
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(db));
	return 0;
}

/* a string column bound as text, "" for NULL (the key has no NULLs) */
static void
spool_tlsrpt_bind(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

int
spool_tlsrpt_add(struct spool *sp, const struct spool_tlsrpt *rows, size_t n,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc = SQLITE_DONE;

	if (n == 0)
		return 0;
	if (spool_tlsrpt_prepare(sp->db, "INSERT INTO tlsrpt_counts(day,"
	    " domain, policy_type, policy, mx_host, sending_ip, receiving_ip,"
	    " result, detail, count) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
	    " ?9, ?10) ON CONFLICT DO UPDATE SET"
	    " count = min(count + excluded.count, 9223372036854775807)",
	    &st, err) == -1)
		return -1;
	for (size_t i = 0; i < n && rc == SQLITE_DONE; i++) {
		const struct spool_tlsrpt *r = &rows[i];

		spool_tlsrpt_bind(st, 1, r->day);
		spool_tlsrpt_bind(st, 2, r->domain);
		spool_tlsrpt_bind(st, 3, r->policy_type);
		spool_tlsrpt_bind(st, 4, r->policy);
		spool_tlsrpt_bind(st, 5, r->mx_host);
		spool_tlsrpt_bind(st, 6, r->sending_ip);
		spool_tlsrpt_bind(st, 7, r->receiving_ip);
		spool_tlsrpt_bind(st, 8, r->result);
		spool_tlsrpt_bind(st, 9, r->detail);
		sqlite3_bind_int64(st, 10, r->count > (uint64_t)INT64_MAX ?
		    INT64_MAX : (int64_t)r->count);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
	}
	return spool_tlsrpt_done(sp->db, st, rc, err);
}

int
spool_tlsrpt_delete(struct spool *sp, const char *day, const char *domain,
    struct err *err)
{
	sqlite3_stmt *st;

	if (spool_tlsrpt_prepare(sp->db, domain != NULL ?
	    "DELETE FROM tlsrpt_counts WHERE day = ?1 AND domain = ?2" :
	    "DELETE FROM tlsrpt_counts WHERE day = ?1", &st, err) == -1)
		return -1;
	spool_tlsrpt_bind(st, 1, day);
	if (domain != NULL)
		spool_tlsrpt_bind(st, 2, domain);
	return spool_tlsrpt_done(sp->db, st, sqlite3_step(st), err);
}

int
spool_tlsrpt_prune(struct spool *sp, const char *before, int64_t asked_before,
    struct err *err)
{
	sqlite3_stmt *st;

	if (spool_tlsrpt_prepare(sp->db, "DELETE FROM tlsrpt_counts WHERE"
	    " day < ?1", &st, err) == -1)
		return -1;
	spool_tlsrpt_bind(st, 1, before);
	if (spool_tlsrpt_done(sp->db, st, sqlite3_step(st), err) == -1 ||
	    spool_tlsrpt_prepare(sp->db, "DELETE FROM tlsrpt_requests WHERE"
	    " done = 1 AND asked < ?1", &st, err) == -1)
		return -1;
	sqlite3_bind_int64(st, 1, asked_before);
	return spool_tlsrpt_done(sp->db, st, sqlite3_step(st), err);
}

int
spool_tlsrpt_answer(struct spool *sp, const char *day, int64_t asked,
    const char *result, struct err *err)
{
	sqlite3_stmt *st;

	if (spool_tlsrpt_prepare(sp->db, "UPDATE tlsrpt_requests SET done = 1,"
	    " result = ?3 WHERE day = ?1 AND asked = ?2", &st, err) == -1)
		return -1;
	spool_tlsrpt_bind(st, 1, day);
	sqlite3_bind_int64(st, 2, asked);
	spool_tlsrpt_bind(st, 3, result);
	return spool_tlsrpt_done(sp->db, st, sqlite3_step(st), err);
}

/* --- reading --------------------------------------------------------- */

int
spool_reader_tlsrpt_day(struct spool_reader *rd, const char *day,
    int (*fn)(void *, const struct spool_tlsrpt *), void *arg,
    struct err *err)
{
	sqlite3_stmt *st;
	struct spool_tlsrpt r;
	int rc;

	if (spool_tlsrpt_prepare(rd->db, "SELECT day, domain, policy_type,"
	    " policy, mx_host, sending_ip, receiving_ip, result, detail,"
	    " count FROM tlsrpt_counts WHERE day = ?1 ORDER BY domain", &st,
	    err) == -1)
		return -1;
	spool_tlsrpt_bind(st, 1, day);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t count = sqlite3_column_int64(st, 9);

		r.day = spool_col_text(st, 0);
		r.domain = spool_col_text(st, 1);
		r.policy_type = spool_col_text(st, 2);
		r.policy = spool_col_text(st, 3);
		r.mx_host = spool_col_text(st, 4);
		r.sending_ip = spool_col_text(st, 5);
		r.receiving_ip = spool_col_text(st, 6);
		r.result = spool_col_text(st, 7);
		r.detail = spool_col_text(st, 8);
		r.count = count > 0 ? (uint64_t)count : 0;
		if (fn(arg, &r) == -1) {
			rc = SQLITE_DONE;
			break;
		}
	}
	return spool_tlsrpt_done(rd->db, st, rc, err);
}

int
spool_reader_tlsrpt_days(struct spool_reader *rd, const char *before,
    int (*fn)(void *, const char *), void *arg, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	/* the primary key's order: one step per day */
	if (spool_tlsrpt_prepare(rd->db, "SELECT DISTINCT day FROM"
	    " tlsrpt_counts WHERE day < ?1 ORDER BY day", &st, err) == -1)
		return -1;
	spool_tlsrpt_bind(st, 1, before);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fn(arg, spool_col_text(st, 0)) == -1) {
			rc = SQLITE_DONE;
			break;
		}
	return spool_tlsrpt_done(rd->db, st, rc, err);
}

int
spool_reader_tlsrpt_requests(struct spool_reader *rd,
    int (*fn)(void *, const char *, int64_t), void *arg, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (spool_tlsrpt_prepare(rd->db, "SELECT day, asked FROM"
	    " tlsrpt_requests WHERE done = 0 ORDER BY asked", &st, err) == -1)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fn(arg, spool_col_text(st, 0),
		    sqlite3_column_int64(st, 1)) == -1) {
			rc = SQLITE_DONE;
			break;
		}
	return spool_tlsrpt_done(rd->db, st, rc, err);
}
