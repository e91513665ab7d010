/* SPDX-License-Identifier: ISC */
/*
 * sched.c - due recipients to delivery jobs; see sched.h.
 *
 * Each selected recipient is leased in the same transaction as the
 * queue manager's batch, so it is not selected again while its delivery
 * runs. Recipients whose destination backs off (queue/backoff.h) are not
 * leased: they get the deferral their worker would have given them, in
 * place.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xalloc.h"
#include "deliver/deliver.h"
#include "queue/backoff.h"
#include "queue/sched.h"

int64_t
sched_retry_delay(int64_t attempts, int64_t min, int64_t max)
{
	int64_t d = min;

	while (attempts-- > 1 && d < max)
		d *= 2;
	return d < max ? d : max;
}

/* sched_domain - the domain part of addr (after the last '@') */
static const char *
sched_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

/* the state of one selection, for sched_row */
struct sched_scan {
	const struct backoff_table *bo;
	int64_t			 now;
	int64_t			 started;	/* spool_started */
	int64_t			 expire;	/* arrived at or before: never
						   deferred in place */
	size_t			 max, defer_max, leased;
	bool			 smarthost;
	struct deliver_job	*head, **tail;	/* jobs in scan order: high
						   priority first */
	struct spool_result	*deferred;
	size_t			 ndeferred;
};

/* sched_job_for - the job this row joins: same message, same transport
   and, for remote mail, the same domain; or NULL */
static struct deliver_job *
sched_job_for(struct deliver_job *head, const struct spool_due *due)
{
	for (struct deliver_job *j = head; j; j = j->next)
		if (j->msg_id == due->msg_id && j->transport == due->transport &&
		    (due->transport == SPOOL_TRANSPORT_LOCAL ||
		    strcasecmp(j->domain, sched_domain(due->addr)) == 0))
			return j;
	return NULL;
}

/* sched_job_new - a job for the message of due */
static struct deliver_job *
sched_job_new(const struct spool_due *due, int64_t started)
{
	struct deliver_job *job = xcalloc(1, sizeof(*job));

	job->msg_id = due->msg_id;
	job->transport = due->transport;
	job->domain = xstrdup(sched_domain(due->addr));
	snprintf(job->qid, sizeof(job->qid), "%s", due->qid);
	job->sender = xstrdup(due->sender);
	job->arrival = due->arrival;
	job->body_file = due->body_file;
	if (due->envid != NULL)
		job->envid = xstrdup(due->envid);
	job->ret = due->ret;
	job->smtputf8 = due->smtputf8;
	job->body8 = due->body8;
	job->size = due->size;
	job->junk = due->junk;
	job->priority = due->priority;
	job->requiretls = due->requiretls;
	job->tls_optional = due->tls_optional;
	if (due->pool != NULL)
		job->pool = xstrdup(due->pool);
	/* a body kept in the row comes along (read only for the rows that
	   become jobs): no second query, and remote jobs skip the pool */
	if (!job->body_file)
		job->body.data = spool_due_text(due, &job->body.len);
	/* a copy may exist already: made before a crash */
	job->recovered = job->arrival <= started;
	return job;
}

/* sched_defer - the result the destination's worker would give a job
   that reaches it while it backs off (remote_dest_kick) */
static void
sched_defer(struct sched_scan *sc, const struct spool_due *due, int64_t until,
    bool throttled, const char *site)
{
	struct spool_result *res;

	sc->deferred = xreallocarray(sc->deferred, sc->ndeferred + 1,
	    sizeof(*sc->deferred));
	res = &sc->deferred[sc->ndeferred++];
	memset(res, 0, sizeof(*res));
	res->rcpt_id = due->rcpt_id;
	res->msg_id = due->msg_id;
	snprintf(res->qid, sizeof(res->qid), "%s", due->qid);
	snprintf(res->addr, sizeof(res->addr), "%s", due->addr);
	res->arrival = due->arrival;
	res->outcome = SPOOL_OUTCOME_DEFERRED;
	res->retry_at = until;
	/* the site, so that resuming it wakes this recipient too */
	snprintf(res->site, sizeof(res->site), "%s", site);
	if (throttled) {
		/* its site is suspended: as the agent's shaping would */
		res->throttled = true;
		res->suspended = true;
		snprintf(res->status, sizeof(res->status), "4.7.0");
		snprintf(res->reply, sizeof(res->reply), "the destination"
		    " site is suspended (back-off rule or operator)");
		snprintf(res->relay, sizeof(res->relay), "site-suspended");
		return;
	}
	snprintf(res->status, sizeof(res->status), "4.4.1");
	snprintf(res->reply, sizeof(res->reply), "destination is backing"
	    " off after failed connections");
	snprintf(res->relay, sizeof(res->relay), "none");
}

/* sched_row - spool_due_fn: one due recipient */
static int
sched_row(void *arg, const struct spool_due *due)
{
	struct sched_scan *sc = arg;
	struct deliver_job *job;
	int64_t until;
	bool throttled;
	const char *site;

	if (due->transport == SPOOL_TRANSPORT_REMOTE &&
	    sc->ndeferred < sc->defer_max && due->arrival > sc->expire &&
	    (until = backoff_until(sc->bo, backoff_key(sc->smarthost,
	    due->addr), sc->now, &throttled, &site)) > 0) {
		sched_defer(sc, due, until, throttled, site);
		return 0;
	}
	if (sc->leased >= sc->max)
		return 0;	/* no room: stays due */
	sc->leased++;
	if ((job = sched_job_for(sc->head, due)) == NULL) {
		/* appended: the delivery pool takes jobs in scan order, so
		   the high-priority rows (scanned first) go first */
		job = sched_job_new(due, sc->started);
		*sc->tail = job;
		sc->tail = &job->next;
	}
	deliver_job_add_rcpt(job, due->rcpt_id, due->addr, due->orig,
	    due->orcpt, due->notify, due->attempts);
	return 0;
}

int
sched_select(struct spool *sp, const struct backoff_table *bo, int64_t now,
    size_t max, size_t defer_max, bool smarthost, int64_t expire,
    struct sched_pick *out, struct err *err)
{
	struct sched_scan sc;
	struct deliver_job *job;
	size_t rows;

	memset(out, 0, sizeof(*out));
	memset(&sc, 0, sizeof(sc));
	sc.tail = &sc.head;
	sc.bo = bo;
	sc.now = now;
	sc.started = spool_started(sp);
	sc.expire = expire;
	sc.max = max;
	sc.defer_max = bo->n == 0 ? 0 : defer_max;
	sc.smarthost = smarthost;
	if (max + sc.defer_max == 0)
		return 0;
	if (spool_due_scan(sp, now, max + sc.defer_max, sched_row, &sc, &rows,
	    err) == -1)
		goto fail;
	for (job = sc.head; job; job = job->next)
		for (size_t i = 0; i < job->nrcpts; i++)
			if (spool_rcpt_lease(sp, job->rcpts[i].rcpt_id,
			    err) == -1)
				goto fail;
	out->jobs = sc.head;
	out->deferred = sc.deferred;
	out->ndeferred = sc.ndeferred;
	/* the window was full and some of it went: there is more to do */
	out->more = rows == max + sc.defer_max && sc.ndeferred > 0;
	return 0;
fail:
	while ((job = sc.head) != NULL) {
		sc.head = job->next;
		deliver_job_free(job);
	}
	free(sc.deferred);
	return -1;
}
