/* SPDX-License-Identifier: ISC */
/*
 * sched.c - due recipients to delivery jobs; see sched.h.
 *
 * Runs on the spool thread, inside the batch transaction: each selected
 * recipient is leased (leased = 1) in the same commit as the batch, so it
 * is not selected again while its delivery runs. Spool recovery clears
 * every lease at start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "deliver/deliver.h"
#include "queue/sched.h"
#include "spool/spool_int.h"

int64_t
sched_retry_delay(int64_t attempts)
{
	int64_t d = SCHED_RETRY_MIN;

	while (attempts-- > 1 && d < SCHED_RETRY_MAX)
		d *= 2;
	return d < SCHED_RETRY_MAX ? d : SCHED_RETRY_MAX;
}

static char *
sched_col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return xstrdup(s ? s : "");
}

int
sched_select(struct spool *sp, int64_t now, size_t max,
    struct deliver_job **jobs_out, struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_DUE];
	sqlite3_stmt *lease = sp->stmt[SPOOL_STMT_LEASE];
	struct deliver_job *head = NULL, **tail = &head, *job;
	int rc;

	*jobs_out = NULL;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		job = xcalloc(1, sizeof(*job));
		job->rcpt_id = (uint64_t)sqlite3_column_int64(st, 0);
		job->msg_id = sqlite3_column_int64(st, 1);
		job->addr = sched_col(st, 2);
		job->orig = sched_col(st, 3);
		job->transport = (enum spool_transport)sqlite3_column_int(st, 4);
		snprintf(job->qid, sizeof(job->qid), "%s",
		    (const char *)sqlite3_column_text(st, 6));
		job->sender = sched_col(st, 7);
		job->arrival = sqlite3_column_int64(st, 8);
		job->body_file = sqlite3_column_int(st, 9) != 0;
		/* a copy may exist already: made before a crash, or by an
		   attempt whose directory fsync failed */
		job->recovered = job->arrival <= sp->started ||
		    sqlite3_column_int(st, 5) > 0;
		*tail = job;
		tail = &job->next;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
		goto fail;
	}
	for (job = head; job; job = job->next) {
		sqlite3_bind_int64(lease, 1, (int64_t)job->rcpt_id);
		rc = sqlite3_step(lease);
		sqlite3_reset(lease);
		if (rc != SQLITE_DONE) {
			err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
			goto fail;
		}
	}
	*jobs_out = head;
	return 0;
fail:
	while ((job = head) != NULL) {
		head = job->next;
		deliver_job_free(job);
	}
	return -1;
}
