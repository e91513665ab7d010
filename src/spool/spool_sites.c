/* SPDX-License-Identifier: ISC */
/*
 * spool_sites.c - the destination sites of the queue (docs/shaping.md):
 * table sites holds, per site, what the outbound agent last reported
 * (suspended, its rate) and the operator's suspensions; recipients.site
 * names the site a recipient's last remote result went to. Write side:
 * the queue manager's connection, inside its transactions; read side:
 * a spool_reader (relais queue list --site, GET /v1/sites). See spool.h.
 *
 * An operator's change (relais queue suspend|resume, POST /v1/sites/..)
 * bumps meta sites_gen and stamps the row with it (column op), in one
 * transaction: the queue manager, seeing sites_gen move, reads the rows
 * stamped after the generation it last applied and hands each to the
 * agent. The agent's own reports never stamp a row.
 */
#include <sqlite3.h>
#include <string.h>

#include "spool/spool.h"
#include "spool/spool_int.h"

int
spool_site_put(struct spool *sp, const struct spool_site *s,
    struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_SITE_PUT];

	sqlite3_bind_text(st, 1, s->site, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, s->suspended_until);
	sqlite3_bind_int(st, 3, s->manual);
	spool_bind_text(st, 4, s->reason && s->reason[0] ? s->reason : NULL);
	sqlite3_bind_double(st, 5, s->rate);
	sqlite3_bind_double(st, 6, s->rate_max);
	sqlite3_bind_int64(st, 7, s->updated);
	return spool_step_done(sp, st, err);
}

int
spool_site_operator(struct spool *sp, const char *site, int64_t until,
    const char *reason, int64_t now, struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_SITE_OP];
	int64_t gen;

	if (spool_var_get(sp, SPOOL_SITES_GEN, &gen, err) == -1 ||
	    spool_var_set(sp, SPOOL_SITES_GEN, gen + 1, err) == -1)
		return -1;
	sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, until);
	spool_bind_text(st, 3, reason && reason[0] ? reason : NULL);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, gen + 1);
	if (spool_step_done(sp, st, err) == -1)
		return -1;
	if (until > now)
		return 0;
	/* resumed: what waited for the site is due now */
	return spool_site_wake(sp, site, now, err);
}

int
spool_site_wake(struct spool *sp, const char *site, int64_t now,
    struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_SITE_WAKE];

	sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	return spool_step_done(sp, st, err);
}

static void
spool_site_row(sqlite3_stmt *st, int c, struct spool_site *s)
{
	s->suspended_until = sqlite3_column_int64(st, c);
	s->manual = sqlite3_column_int(st, c + 1) != 0;
	s->reason = (const char *)sqlite3_column_text(st, c + 2);
	s->rate = sqlite3_column_double(st, c + 3);
	s->rate_max = sqlite3_column_double(st, c + 4);
	s->updated = sqlite3_column_int64(st, c + 5);
}

int
spool_site_changes(struct spool *sp, int64_t after, int64_t now,
    void (*fn)(void *, const struct spool_site *), void *arg,
    struct err *err)
{
	sqlite3_stmt *st;
	struct spool_site s;
	int rc;

	if (sqlite3_prepare_v2(sp->db, after < 0 ?
	    "SELECT site, suspended_until, manual, reason, rate, rate_max,"
	    " updated FROM sites WHERE manual = 1 AND suspended_until > ?2" :
	    "SELECT site, suspended_until, manual, reason, rate, rate_max,"
	    " updated FROM sites WHERE op > ?1", -1, &st, NULL) != SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(sp->db));
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&s, 0, sizeof(s));
		s.site = spool_col_text(st, 0);
		spool_site_row(st, 1, &s);
		fn(arg, &s);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	return 0;
}

int
spool_site_prune(struct spool *sp, int64_t before, int64_t now,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(sp->db, "DELETE FROM sites WHERE updated < ?1"
	    " AND suspended_until <= ?2", -1, &st, NULL) != SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(sp->db));
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	return 0;
}

/*
 * The queue by site: every group of recipients still to deliver (by
 * site; those with none yet under SPOOL_SITE_UNKNOWN when remote,
 * SPOOL_SITE_LOCAL when local) with the site's row if it has one, then the rows of sites with
 * nothing queued. A scan of the recipients still to deliver: for the
 * operator, not for a hot path.
 */
static const char spool_sites_sql[] =
    "WITH q AS (SELECT CASE WHEN r.site IS NOT NULL AND r.site <> ''"
    " THEN r.site WHEN r.transport = 0 THEN '" SPOOL_SITE_LOCAL "'"
    " ELSE '" SPOOL_SITE_UNKNOWN "' END AS site, count(*) AS n, min(m.arrival) AS oldest"
    " FROM recipients r JOIN messages m ON m.id = r.msg_id"
    " WHERE r.status IN (0, 3) GROUP BY 1)"
    " SELECT q.site, q.n, q.oldest, s.suspended_until, s.manual, s.reason,"
    " s.rate, s.rate_max, s.updated FROM q LEFT JOIN sites s"
    " ON s.site = q.site"
    " UNION ALL"
    " SELECT s.site, 0, 0, s.suspended_until, s.manual, s.reason, s.rate,"
    " s.rate_max, s.updated FROM sites s"
    " WHERE s.site NOT IN (SELECT site FROM q)"
    " ORDER BY 1";

int
spool_reader_sites(struct spool_reader *rd,
    int (*fn)(void *, const struct spool_site *), void *arg, struct err *err)
{
	sqlite3_stmt *st;
	struct spool_site s;
	int rc;

	if (sqlite3_prepare_v2(rd->db, spool_sites_sql, -1, &st, NULL) !=
	    SQLITE_OK)
		return err_set(err, 0, "prepare: %s", sqlite3_errmsg(rd->db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&s, 0, sizeof(s));
		s.site = spool_col_text(st, 0);
		s.queued = (uint64_t)sqlite3_column_int64(st, 1);
		s.oldest_arrival = sqlite3_column_int64(st, 2);
		s.known = sqlite3_column_type(st, 8) != SQLITE_NULL;
		spool_site_row(st, 3, &s);
		if (fn(arg, &s) == -1) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(err, rc, "%s", sqlite3_errmsg(rd->db));
	return 0;
}
