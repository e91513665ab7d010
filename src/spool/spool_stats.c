/* SPDX-License-Identifier: ISC */
/*
 * spool_stats.c - the size of the queue, for the metrics: recipients not
 * settled and the arrival of the oldest message that has one. See
 * spool.h (spool_queue_stats).
 *
 * One statement, prepared at each call (the queue manager asks every ten
 * seconds or less often, so keeping it prepared buys nothing). Each part
 * follows an index: the recipients waiting are counted on the partial
 * index recipients_due (a scan of the index alone, the largest part of
 * the cost: about 36 ms for 1,000,000 waiting recipients), the leased
 * ones on recipients_leased (as many as are in delivery), the held ones
 * on recipients_held; the oldest message walks messages_arrival and
 * stops at the first with a recipient left (recipients_msg).
 */
#include <sqlite3.h>

#include "spool/spool_int.h"

static const char spool_stats_sql[] =
    "SELECT"
    " (SELECT count(*) FROM recipients WHERE status = 0 AND leased = 0)"
    " + (SELECT count(*) FROM recipients WHERE leased = 1 AND status = 0)"
    " + (SELECT count(*) FROM recipients WHERE status = 3),"
    " (SELECT arrival FROM messages m WHERE EXISTS (SELECT 1 FROM"
    " recipients r WHERE r.msg_id = m.id AND r.status IN (0, 3))"
    " ORDER BY arrival LIMIT 1)";

int
spool_queue_stats(struct spool *sp, struct spool_queue_stats *out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	out->rcpts = 0;
	out->oldest_arrival = 0;
	if ((rc = sqlite3_prepare_v2(sp->db, spool_stats_sql, -1, &st,
	    NULL)) != SQLITE_OK)
		return err_set(err, rc, "prepare: %s", sqlite3_errmsg(sp->db));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		out->rcpts = (uint64_t)sqlite3_column_int64(st, 0);
		out->oldest_arrival = sqlite3_column_int64(st, 1);
		rc = SQLITE_OK;
	} else {
		err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : -1;
}
