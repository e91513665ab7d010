/* SPDX-License-Identifier: ISC */
/*
 * spool_sts.c - the MTA-STS policies relais has fetched (RFC 8461 5.1:
 * a policy is used until it expires, also across a restart): table
 * sts_policies, one row per policy domain with the TXT id it was fetched
 * for, the policy as its lines ("version: STSv1", "mode: ...", "mx: ...",
 * "max_age: N", LF-separated, read back by the policy parser) and its
 * fetch and expiry times. Written by the queue manager's connection
 * inside its transactions (the MTA-STS service's store hook), read once
 * at start through a spool_reader. See spool.h.
 *
 * Bounded: every put also deletes the rows that have expired (an index
 * on expires), so the table holds at most the policies still in force.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#include "spool/spool.h"
#include "spool/spool_int.h"

static const char spool_sts_schema[] =
    "CREATE TABLE IF NOT EXISTS sts_policies("
    " domain TEXT PRIMARY KEY,"
    " id TEXT NOT NULL,"
    " policy TEXT NOT NULL,"
    " fetched INTEGER NOT NULL,"
    " expires INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS sts_policies_expires ON"
    " sts_policies(expires);";

int
spool_sts_init(struct spool *sp, struct err *err)
{
	return spool_exec(sp, spool_sts_schema, err);
}

/* spool_sts_run - prepare sql, bind the text parameters t[0..nt) then
   the integers v[0..nv), step once */
static int
spool_sts_run(struct spool *sp, const char *sql, const char *const *t,
    int nt, const int64_t *v, int nv, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(sp->db, sql, -1, &st, NULL) != SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(sp->db));
	for (int i = 0; i < nt; i++)
		sqlite3_bind_text(st, i + 1, t[i], -1, SQLITE_STATIC);
	for (int i = 0; i < nv; i++)
		sqlite3_bind_int64(st, nt + i + 1, v[i]);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	return 0;
}

int
spool_sts_put(struct spool *sp, const struct spool_sts *p, int64_t now,
    struct err *err)
{
	const char *t[3] = { p->domain, p->id, p->policy };
	int64_t v[2] = { p->fetched, p->expires };

	if (spool_sts_run(sp, "DELETE FROM sts_policies WHERE expires <= ?1",
	    NULL, 0, &now, 1, err) == -1)
		return -1;
	return spool_sts_run(sp, "INSERT OR REPLACE INTO sts_policies(domain,"
	    " id, policy, fetched, expires) VALUES(?1, ?2, ?3, ?4, ?5)", t, 3,
	    v, 2, err);
}

int
spool_sts_delete(struct spool *sp, const char *domain, struct err *err)
{
	return spool_sts_run(sp, "DELETE FROM sts_policies WHERE domain = ?1",
	    &domain, 1, NULL, 0, err);
}

int
spool_reader_sts(struct spool_reader *rd, int64_t now, size_t limit,
    void (*fn)(void *, const struct spool_sts *), void *arg,
    struct err *err)
{
	sqlite3_stmt *st;
	struct spool_sts row;
	int rc;

	if (sqlite3_prepare_v2(rd->db, "SELECT domain, id, policy, fetched,"
	    " expires FROM sts_policies WHERE expires > ?1"
	    " ORDER BY fetched DESC LIMIT ?2", -1, &st, NULL) != SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(rd->db));
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, limit > (size_t)INT64_MAX ? INT64_MAX :
	    (int64_t)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&row, 0, sizeof(row));
		row.domain = spool_col_text(st, 0);
		row.id = spool_col_text(st, 1);
		row.policy = spool_col_text(st, 2);
		row.fetched = sqlite3_column_int64(st, 3);
		row.expires = sqlite3_column_int64(st, 4);
		fn(arg, &row);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(rd->db));
	return 0;
}
