/* SPDX-License-Identifier: ISC */
/*
 * sched.c - due recipients to delivery jobs; see sched.h.
 *
 * Runs on the spool thread, inside the batch transaction: each selected
 * recipient is leased (leased = 1) in the same commit as the batch, so it
 * is not selected again while its delivery runs. Spool recovery clears
 * every lease at start. Recipients whose destination backs off (what the
 * spool learnt from remote results, struct spool_backoff) are not leased:
 * they get the deferral their worker would have given them, in place.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "deliver/deliver.h"
#include "queue/sched.h"
#include "spool/spool_int.h"

int64_t
sched_retry_delay(int64_t attempts, int64_t min, int64_t max)
{
	int64_t d = min;

	while (attempts-- > 1 && d < max)
		d *= 2;
	return d < max ? d : max;
}

static const char *
sched_text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s ? s : "";
}

/* sched_domain - the domain part of addr (after the last '@') */
static const char *
sched_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

/* sched_load_body - prefix and text of the row into job->body */
static void
sched_load_body(sqlite3_stmt *st, struct deliver_job *job)
{
	size_t plen = (size_t)sqlite3_column_bytes(st, 18);
	const void *prefix = sqlite3_column_blob(st, 18);
	size_t blen = (size_t)sqlite3_column_bytes(st, 19);
	const void *body = sqlite3_column_blob(st, 19);

	job->body.data = xmalloc(plen + blen + 1);
	if (plen > 0)
		memcpy(job->body.data, prefix, plen);
	if (blen > 0)
		memcpy(job->body.data + plen, body, blen);
	job->body.data[plen + blen] = '\0';
	job->body.len = plen + blen;
}

/* sched_job_for - the job this row joins: same message, same transport
   and, for remote mail, the same domain; or a new one */
static struct deliver_job *
sched_job_for(struct deliver_job *head, sqlite3_stmt *st, int64_t msg_id,
    enum spool_transport transport, const char *addr)
{
	for (struct deliver_job *j = head; j; j = j->next)
		if (j->msg_id == msg_id && j->transport == transport &&
		    (transport == SPOOL_TRANSPORT_LOCAL ||
		    strcasecmp(j->domain, sched_domain(addr)) == 0))
			return j;
	return NULL;
}

int
sched_select(struct spool *sp, int64_t now, size_t max,
    struct deliver_job **jobs_out, struct err *err)
{
	struct spool_req *deferred = NULL;
	bool more;

	return sched__select(sp, now, max, 0, false, jobs_out, &deferred,
	    &more, err);
}

/* sched_backoff_req - the result the destination's worker would give a
   job that reaches it while it backs off (remote_dest_kick) */
static struct spool_req *
sched_backoff_req(sqlite3_stmt *st, const char *addr, int64_t until)
{
	struct spool_req *req = xcalloc(1, sizeof(*req));
	struct spool_result *res = &req->res;

	req->type = SPOOL_REQ_RESULT;
	req->backoff = true;
	res->rcpt_id = (uint64_t)sqlite3_column_int64(st, 0);
	res->msg_id = sqlite3_column_int64(st, 1);
	snprintf(res->qid, sizeof(res->qid), "%s", sched_text(st, 6));
	snprintf(res->addr, sizeof(res->addr), "%s", addr);
	res->arrival = sqlite3_column_int64(st, 8);
	res->outcome = SPOOL_OUTCOME_DEFERRED;
	snprintf(res->status, sizeof(res->status), "4.4.1");
	snprintf(res->reply, sizeof(res->reply), "destination is backing"
	    " off after failed connections");
	snprintf(res->relay, sizeof(res->relay), "none");
	res->retry_at = until;
	return req;
}

int
sched__select(struct spool *sp, int64_t now, size_t max, size_t defer_max,
    bool smarthost, struct deliver_job **jobs_out,
    struct spool_req **deferred_out, bool *more, struct err *err)
{
	sqlite3_stmt *st = sp->stmt[SPOOL_STMT_DUE];
	sqlite3_stmt *lease = sp->stmt[SPOOL_STMT_LEASE];
	struct deliver_job *head = NULL, *job;
	struct spool_req *dhead = NULL, **dtail = &dhead, *req;
	size_t rows = 0, leased = 0, ndeferred = 0;
	int rc;

	*jobs_out = NULL;
	*deferred_out = NULL;
	*more = false;
	if (sp->nbackoff == 0)
		defer_max = 0;
	if (max + defer_max == 0)
		return 0;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, (int64_t)(max + defer_max));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t msg_id = sqlite3_column_int64(st, 1);
		const char *addr = sched_text(st, 2);
		enum spool_transport tr =
		    (enum spool_transport)sqlite3_column_int(st, 4);
		int attempts = sqlite3_column_int(st, 5);
		int64_t until;

		rows++;
		if (tr == SPOOL_TRANSPORT_REMOTE && ndeferred < defer_max &&
		    (until = spool__backoff_until(sp,
		    spool__backoff_key(smarthost, addr), now)) > 0) {
			req = sched_backoff_req(st, addr, until);
			*dtail = req;
			dtail = &req->next;
			ndeferred++;
			continue;
		}
		if (leased >= max)
			continue;	/* no room: stays due */
		leased++;
		if ((job = sched_job_for(head, st, msg_id, tr, addr)) == NULL) {
			job = xcalloc(1, sizeof(*job));
			job->msg_id = msg_id;
			job->transport = tr;
			job->domain = xstrdup(sched_domain(addr));
			snprintf(job->qid, sizeof(job->qid), "%s",
			    sched_text(st, 6));
			job->sender = xstrdup(sched_text(st, 7));
			job->arrival = sqlite3_column_int64(st, 8);
			job->body_file = sqlite3_column_int(st, 9) != 0;
			if (sqlite3_column_type(st, 12) != SQLITE_NULL)
				job->envid = xstrdup(sched_text(st, 12));
			job->ret = sqlite3_column_int(st, 13);
			job->smtputf8 = sqlite3_column_int(st, 14) != 0;
			job->body8 = sqlite3_column_int(st, 15) != 0;
			job->size = (uint64_t)sqlite3_column_int64(st, 16);
			job->junk = sqlite3_column_int(st, 17) != 0;
			/* a body kept in the row comes along (read only for
			   the rows that become jobs): no second query, and
			   remote jobs skip the delivery pool */
			if (!job->body_file)
				sched_load_body(st, job);
			/* a copy may exist already: made before a crash */
			job->recovered = job->arrival <= sp->started;
			job->next = head;
			head = job;
		}
		deliver_job_add_rcpt(job, (uint64_t)sqlite3_column_int64(st, 0),
		    addr, sched_text(st, 3),
		    sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL :
		    sched_text(st, 10), (unsigned)sqlite3_column_int(st, 11),
		    attempts);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
		goto fail;
	}
	for (job = head; job; job = job->next) {
		for (size_t i = 0; i < job->nrcpts; i++) {
			sqlite3_bind_int64(lease, 1,
			    (int64_t)job->rcpts[i].rcpt_id);
			rc = sqlite3_step(lease);
			sqlite3_reset(lease);
			if (rc != SQLITE_DONE) {
				err_set(err, rc, "%s", sqlite3_errmsg(sp->db));
				goto fail;
			}
		}
	}
	*jobs_out = head;
	*deferred_out = dhead;
	/* the window was full and some of it went: there is more to do */
	*more = rows == max + defer_max && ndeferred > 0;
	return 0;
fail:
	while ((job = head) != NULL) {
		head = job->next;
		deliver_job_free(job);
	}
	while ((req = dhead) != NULL) {
		dhead = req->next;
		free(req);
	}
	return -1;
}
