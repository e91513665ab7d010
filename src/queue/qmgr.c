/* SPDX-License-Identifier: ISC */
/*
 * qmgr.c - the queue manager's thread and its group commit; see qmgr.h.
 *
 * The thread loops: take every waiting request, fsync the body files
 * they name (and their directory, once), open one spool transaction,
 * store the messages, apply the outcomes (queue/retry.c), let the
 * scheduler lease due recipients (queue/sched.c), queue the reports
 * (queue/bounce.c), remove finished messages, COMMIT, and only then call
 * the done callbacks, unlink finished bodies and hand the leased jobs to
 * the delivery pool.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/idmap.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/xalloc.h"
#include "deliver/deliver.h"
#include "live/conf_live.h"
#include "policy/quota.h"
#include "policy/suppress.h"
#include "queue/backoff.h"
#include "queue/bounce.h"
#include "queue/qmgr.h"
#include "queue/retry.h"
#include "queue/sched.h"
#include "spool/spool.h"

/* recipients handed to the delivery agents and not yet reported */
#define QMGR_INFLIGHT_MAX	1024
/* recipients of backing-off destinations deferred in place per batch:
   bounds the batch (and so the wait of a 250) to a few milliseconds */
#define QMGR_DEFER_MAX		1024
/* event=spool.stats at most this often (and at stop) */
#define QMGR_STATS_INTERVAL	60
/* the queue's size counted for the metrics at most this often: more
   seldom when counting takes long (a huge queue), see qmgr_queue_gauges */
#define QMGR_GAUGES_INTERVAL	10
/* a batch slower than this is logged at info */
#define QMGR_SLOW_BATCH_MS	500
/*
 * Outcomes alone wait this long for a message to share their commit.
 * Under load a message is always waiting and nothing lingers; with one
 * client the outcome of the last message rides with the next message's
 * commit instead of a transaction, a wakeup and (for a delivery) an
 * fsync of its own. It only widens, by at most this much, the window in
 * which a crash makes a delivery happen twice.
 */
#define QMGR_RESULT_LINGER_US	2000
/* after a batch that could not commit (a failing disk): the pause before
   the next attempt, unless a new message comes first */
#define QMGR_FAIL_PAUSE_US	200000

/* how often the thread looks for a changed suppression list (relais
   suppress) and prunes old events */
#define QMGR_HOUSEKEEPING_INTERVAL	2
#define QMGR_PRUNE_INTERVAL		600
/* a site's row not changed for this long, and not suspended, goes */
#define QMGR_SITE_RETENTION		(30 * 86400)

enum qmgr_req_type {
	QMGR_REQ_MSG,
	QMGR_REQ_RESULT,
	QMGR_REQ_CALL,
};

struct qmgr_req {
	struct qmgr_req		*next;
	enum qmgr_req_type	 type;
	struct spool_msg	*msg;		/* MSG */
	qmgr_done_fn		*done;
	void			*arg;
	uint64_t		 tag;
	int			 status;	/* 0 stored, -1 failed */
	bool			 backoff;	/* RESULT made by the scheduler */
	struct spool_result	 res;		/* RESULT */
	qmgr_call_fn		*call;		/* CALL */
	qmgr_call_done_fn	*call_done;
	bool			 lazy;		/* CALL: no fsync of its own */
};

/* what a qmgr_call function sees */
struct qmgr_txn {
	struct qmgr		*q;
	const struct conf	*conf;		/* or NULL */
	int64_t			 now;
	struct bounce_batch	*bb;
	struct qmgr_req		**tail;		/* results it adds */
};

struct qmgr {
	struct spool		*sp;
	struct deliver_pool	*pool;
	struct conf_live	*live;

	pthread_t		 thread;
	bool			 running;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct qmgr_req		*head, **tail;	/* waiting requests */
	bool			 msgs_waiting;	/* a message among them */
	int64_t			 results_since;	/* monotonic us of the oldest
						   waiting outcome, 0: none */
	bool			 stopping;
	bool			 kicked;
	atomic_bool		 paused;	/* qmgr_pause: no scheduling */

	/* the thread's own */
	struct idmap		 inflight;	/* rcpt id -> (void *)1 */
	size_t			 inflight_max;
	bool			 more;		/* due work left: no wait */
	struct backoff_table	 backoff;

	pthread_mutex_t		 stats_lock;
	struct qmgr_stats	 stats;

	int64_t			 suppress_gen;	/* as last loaded */
	bool			 suppress_loaded;
	int64_t			 next_prune;	/* unix time */

	/* the operator's suspensions, for the agent */
	qmgr_site_hook_fn	*site_hook;
	void			*site_hook_arg;
	int64_t			 sites_gen;	/* as last applied */
	bool			 sites_loaded;
	bool			 sites_dirty;	/* a call changed them */
};

static void	*qmgr_thread(void *arg);

static int64_t
qmgr_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct qmgr *
qmgr_new(struct spool *sp, struct deliver_pool *pool, struct conf_live *live)
{
	struct qmgr *q = xcalloc(1, sizeof(*q));
	pthread_condattr_t ca;

	q->sp = sp;
	q->pool = pool;
	q->live = live;
	q->tail = &q->head;
	q->inflight_max = QMGR_INFLIGHT_MAX;
	idmap_init(&q->inflight);
	pthread_mutex_init(&q->lock, NULL);
	/* waits are timed on the monotonic clock: a step of the wall clock
	   neither stalls nor hurries the thread */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&q->stats_lock, NULL);
	return q;
}

int
qmgr_start(struct qmgr *q)
{
	int r;

	if ((r = pthread_create(&q->thread, NULL, qmgr_thread, q)) != 0) {
		errno = r;
		log_warn("event=qmgr.start");
		return -1;
	}
	q->running = true;
	(void)pthread_setname_np(q->thread, "relais-qmgr");
	return 0;
}

void
qmgr_stop(struct qmgr *q)
{
	if (!q->running)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	q->running = false;
}

/*
 * qmgr_tenant_settle - a message of a tenant came with a reservation of
 * its quota (quota.h: one message and each of its recipients, made by
 * the session or the API request that built it): stored, it is used and
 * counted; else it is given back. Here, after the commit, and not in the
 * session, which may be gone by then.
 */
static void
qmgr_tenant_settle(const struct spool_msg *msg, bool stored)
{
	if (msg->tenant == NULL || msg->nrcpts == 0)
		return;
	if (!stored) {
		quota_release(msg->tenant, 1, (unsigned)msg->nrcpts);
		return;
	}
	quota_commit(msg->tenant, 1, (unsigned)msg->nrcpts, msg->arrival);
	metrics_add(METRIC_TENANT_MESSAGES, msg->tenant, 1);
	metrics_add(METRIC_TENANT_RECIPIENTS, msg->tenant,
	    (uint64_t)msg->nrcpts);
}

void
qmgr_free(struct qmgr *q)
{
	struct qmgr_req *req;

	if (q == NULL)
		return;
	qmgr_stop(q);
	/* requests never taken (the thread never ran): their messages
	   were never acknowledged, and whoever waited is gone */
	while ((req = q->head) != NULL) {
		q->head = req->next;
		if (req->type == QMGR_REQ_MSG) {
			qmgr_tenant_settle(req->msg, false);
			spool_body_discard(&req->msg->body);
			spool_msg_free(req->msg);
		} else if (req->type == QMGR_REQ_CALL)
			req->call_done(req->arg, -1);	/* frees its arg */
		free(req);
	}
	backoff_expire(&q->backoff, 0, true);
	idmap_fini(&q->inflight);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->stats_lock);
	free(q);
}

/*
 * qmgr_push - append the requests head..*tail (all of head's type) under
 * one lock, so that they land in the same batch. The thread needs waking
 * for a message, and for the first outcome only (see qmgr_wait).
 */
static void
qmgr_push(struct qmgr *q, struct qmgr_req *head, struct qmgr_req **tail)
{
	pthread_mutex_lock(&q->lock);
	*q->tail = head;
	q->tail = tail;
	if (head->type != QMGR_REQ_RESULT) {
		q->msgs_waiting = true;
		pthread_cond_signal(&q->cond);
	} else if (q->results_since == 0) {
		q->results_since = qmgr_mono_us();
		pthread_cond_signal(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
}

static void
qmgr_enqueue(struct qmgr *q, struct qmgr_req *req)
{
	req->next = NULL;
	qmgr_push(q, req, &req->next);
}

void
qmgr_submit_msg(struct qmgr *q, struct spool_msg *msg, qmgr_done_fn *done,
    void *arg, uint64_t tag)
{
	struct qmgr_req *req = xcalloc(1, sizeof(*req));

	req->type = QMGR_REQ_MSG;
	req->msg = msg;
	req->done = done;
	req->arg = arg;
	req->tag = tag;
	qmgr_enqueue(q, req);
}

void
qmgr_report(void *arg, const struct spool_result *res, size_t n)
{
	struct qmgr *q = arg;
	struct qmgr_req *head = NULL, **tail = &head;

	for (size_t i = 0; i < n; i++) {
		struct qmgr_req *req = xcalloc(1, sizeof(*req));

		req->type = QMGR_REQ_RESULT;
		req->res = res[i];
		*tail = req;
		tail = &req->next;
	}
	if (head != NULL)
		qmgr_push(q, head, tail);
}

static void
qmgr_call_push(struct qmgr *q, qmgr_call_fn *fn, qmgr_call_done_fn *done,
    void *arg, bool lazy)
{
	struct qmgr_req *req = xcalloc(1, sizeof(*req));

	req->type = QMGR_REQ_CALL;
	req->call = fn;
	req->call_done = done;
	req->arg = arg;
	req->lazy = lazy;
	qmgr_enqueue(q, req);
}

void
qmgr_call(struct qmgr *q, qmgr_call_fn *fn, qmgr_call_done_fn *done,
    void *arg)
{
	qmgr_call_push(q, fn, done, arg, false);
}

void
qmgr_call_lazy(struct qmgr *q, qmgr_call_fn *fn, qmgr_call_done_fn *done,
    void *arg)
{
	qmgr_call_push(q, fn, done, arg, true);
}

void
qmgr_txn_sites_changed(struct qmgr_txn *t)
{
	t->q->sites_dirty = true;
}

void
qmgr_set_site_hook(struct qmgr *q, qmgr_site_hook_fn *fn, void *arg)
{
	q->site_hook = fn;
	q->site_hook_arg = arg;
}

struct spool *
qmgr_txn_spool(struct qmgr_txn *t)
{
	return t->q->sp;
}

int64_t
qmgr_txn_now(struct qmgr_txn *t)
{
	return t->now;
}

void
qmgr_kick(struct qmgr *q)
{
	pthread_mutex_lock(&q->lock);
	q->kicked = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void
qmgr_pause(struct qmgr *q)
{
	atomic_store(&q->paused, true);
}

void
qmgr_get_stats(struct qmgr *q, struct qmgr_stats *out)
{
	pthread_mutex_lock(&q->stats_lock);
	*out = q->stats;
	pthread_mutex_unlock(&q->stats_lock);
}

/* qmgr_backoff_learn - what the remote results of a batch say */
static void
qmgr_backoff_learn(struct qmgr *q, const struct qmgr_req *list,
    bool smarthost, int64_t now)
{
	for (const struct qmgr_req *req = list; req; req = req->next) {
		const struct spool_result *res = &req->res;

		if (req->type != QMGR_REQ_RESULT || req->backoff ||
		    req->status != 0 || strcmp(res->relay, "local") == 0)
			continue;
		/* a site's rate spreads its recipients over time, one by
		   one: nothing the rest of its domain should wait for */
		if (res->throttled && !res->suspended)
			continue;
		/* only a backing-off destination (or a suspended site)
		   answers with a retry time */
		if (res->retry_at > now)
			backoff_set(&q->backoff, backoff_key(smarthost,
			    res->addr), res->retry_at, res->suspended,
			    res->site);
		else if (res->outcome == SPOOL_OUTCOME_DELIVERED)
			backoff_set(&q->backoff, backoff_key(smarthost,
			    res->addr), 0, false, NULL);
	}
}

/* the counter of each outcome, by recipient domain */
static const enum metric_id qmgr_metric[] = {
	[SPOOL_OUTCOME_DELIVERED] = METRIC_DELIVERED,
	[SPOOL_OUTCOME_DEFERRED] = METRIC_DEFERRED,
	[SPOOL_OUTCOME_BOUNCED] = METRIC_BOUNCED,
};

static void
qmgr_log_result(const struct spool_result *res, int64_t now)
{
	static const char *const names[] = {
		[SPOOL_OUTCOME_DELIVERED] = "delivered",
		[SPOOL_OUTCOME_DEFERRED] = "deferred",
		[SPOOL_OUTCOME_BOUNCED] = "bounced",
	};
	char reply[600], la[LOG_ADDR_MAX];

	log_info("event=%s id=%s to=%s relay=%s delay=%llds status=%s"
	    " reply=%s", names[res->outcome], res->qid,
	    log_addr(la, sizeof(la), res->addr), res->relay,
	    (long long)(now - res->arrival), res->status,
	    log_quote(reply, sizeof(reply), res->reply, strlen(res->reply)));
}

/* qmgr_sync_bodies - 1. bodies on disk before the rows that name them;
   returns how many messages the list holds */
static size_t
qmgr_sync_bodies(struct qmgr *q, struct qmgr_req *list)
{
	struct qmgr_req *req;
	struct err err;
	bool synced_dir = false;
	size_t nmsgs = 0;

	for (req = list; req; req = req->next) {
		if (req->type != QMGR_REQ_MSG)
			continue;
		nmsgs++;
		if (spool_body_sync(&req->msg->body, &err) == -1) {
			log_warnx("event=spool.fsync id=%s error=\"%s\"",
			    req->msg->qid, err.msg);
			req->status = -1;
			continue;
		}
		if (req->msg->body.fd != -1 && !synced_dir) {
			if (spool_sync_body_dir(q->sp, &err) == -1) {
				log_warnx("event=spool.fsync id=%s"
				    " error=\"%s\"", req->msg->qid, err.msg);
				req->status = -1;
				continue;
			}
			synced_dir = true;
		}
	}
	return nmsgs;
}

/*
 * qmgr_hard_bounce - an outcome that puts its recipient on the
 * suppression list: a permanent failure that the receiving side gave
 * (at RCPT or after DATA, 5.x.x), not an expiry and not a policy or
 * security refusal (5.7.x: the address itself may be fine)
 */
static bool
qmgr_hard_bounce(const struct spool_result *res)
{
	return res->outcome == SPOOL_OUTCOME_BOUNCED && !res->expired &&
	    res->status[0] == '5' && strncmp(res->status, "5.7.", 4) != 0 &&
	    strcmp(res->relay, "suppressed") != 0 &&
	    strcmp(res->relay, "operator") != 0;
}

/* qmgr_record - the event of an applied outcome, and what a hard bounce
   teaches the suppression list */
static int
qmgr_record(struct qmgr *q, struct qmgr_req *req, int64_t now,
    struct err *err)
{
	const struct spool_result *res = &req->res;
	struct spool_event ev;
	char key[512];
	bool changed;

	memset(&ev, 0, sizeof(ev));
	ev.ts = now;
	ev.qid = res->qid;
	ev.rcpt = res->addr;
	ev.status = res->status;
	ev.reply = res->reply;
	ev.relay = res->relay;
	switch (res->outcome) {
	case SPOOL_OUTCOME_DELIVERED:
		ev.type = "delivered";
		break;
	case SPOOL_OUTCOME_DEFERRED:
		/* the scheduler's own deferrals (a destination backing off)
		   and a site's shaping are no attempt: no event */
		if (req->backoff || res->throttled)
			return 0;
		ev.type = "deferred";
		break;
	default:
		ev.type = res->expired ? "expired" :
		    strcmp(res->relay, "suppressed") == 0 ? "suppressed" :
		    "bounced";
		break;
	}
	if (spool_event_add(q->sp, &ev, err) == -1)
		return -1;
	if (!qmgr_hard_bounce(res))
		return 0;
	suppress_key(res->addr, key, sizeof(key));
	if (spool_suppress_set(q->sp, key, true, now, res->reply, "bounce",
	    &changed, err) == -1)
		return -1;
	suppress_add(key);
	if (changed)
		log_info("event=suppress.add id=%s to=%s reason=bounce", res->qid,
		    key);
	return 0;
}

/* qmgr_apply - an outcome applied in the open transaction */
static int
qmgr_apply(struct qmgr *q, struct qmgr_req *req, const struct conf *conf,
    int64_t now, struct bounce_batch *bb)
{
	struct err err;

	if (retry_apply(q->sp, &req->res, conf, now, bb, &err) == -1 ||
	    (conf->events && qmgr_record(q, req, now, &err) == -1)) {
		log_error("event=spool.update id=%s error=\"%s\"",
		    req->res.qid, err.msg);
		req->status = -1;
		return -1;
	}
	return 0;
}

int
qmgr_txn_result(struct qmgr_txn *t, const struct spool_result *res)
{
	struct qmgr_req *req;

	if (t->conf == NULL)
		return 0;
	req = xcalloc(1, sizeof(*req));
	req->type = QMGR_REQ_RESULT;
	req->backoff = true;	/* not a delivery agent's: not in flight */
	req->res = *res;
	*t->tail = req;
	t->tail = &req->next;
	if (qmgr_apply(t->q, req, t->conf, t->now, t->bb) == -1)
		return spool_txn_lost(t->q->sp) ? -1 : 0;
	return 1;
}


/* the messages a batch finished: logged, and their bodies unlinked, once
   the commit is on disk */
struct qmgr_finished {
	char	qid[ID_QID_LEN + 1];
	bool	body_file;
};

/* qmgr_batch - one group commit over every request in list; false if it
   did not commit */
static bool
qmgr_batch(struct qmgr *q, struct qmgr_req *list, bool dispatch)
{
	struct qmgr_req *req, *next, **tail;
	struct sched_pick pick;
	struct deliver_job *job;
	struct err err;
	struct qmgr_finished *done_msgs = NULL;
	size_t ndone = 0, nmsgs, nresults = 0, nbackoff = 0, nleased = 0;
	struct bounce_batch bb = { NULL, 0 };
	struct conf_snap *snap = NULL;
	int64_t now = time(NULL), t0 = qmgr_mono_us(), us, commit_us = 0;
	bool ok = true, smarthost, durable, unsure = false;

	memset(&pick, 0, sizeof(pick));
	nmsgs = qmgr_sync_bodies(q, list);

	/*
	 * 2. one transaction for everything. A batch that acknowledges new
	 * messages, or settles recipients for good (delivered, bounced: it
	 * may finish a message, whose body file is unlinked right after), is
	 * fsynced. One that only records deferrals and leases is not (WAL
	 * order keeps it consistent, and the next durable commit makes it
	 * durable); losing it to a power cut can repeat an attempt, never
	 * lose a message or its body.
	 */
	snap = q->live ? conf_live_get(q->live) : NULL;
	smarthost = snap != NULL && snap->conf->relay.smarthost != NULL;
	durable = nmsgs > 0;
	for (req = list; req && !durable; req = req->next)
		durable = (req->type == QMGR_REQ_CALL && !req->lazy) ||
		    (req->type == QMGR_REQ_RESULT &&
		    (req->res.outcome != SPOOL_OUTCOME_DEFERRED ||
		    (snap != NULL && retry_expires(&req->res, snap->conf,
		    now))));
	if (spool_begin(q->sp, durable, &err) == -1) {
		log_error("event=spool.begin error=\"%s\"", err.msg);
		ok = false;
		goto commit_done;
	}
	for (req = list; req; req = req->next) {
		if (req->type == QMGR_REQ_MSG) {
			if (req->status == -1)
				continue;
			/* "received" events when something reads them */
			if (snap != NULL && snap->conf->events)
				req->msg->events = true;
			if (spool_store_msg(q->sp, req->msg, &err) == -1) {
				log_error("event=spool.insert id=%s error=\"%s\"",
				    req->msg->qid, err.msg);
				req->status = -1;
				if (spool_txn_lost(q->sp))
					goto abort;
			}
		} else if (req->type == QMGR_REQ_CALL) {
			struct qmgr_txn t = {
				.q = q, .conf = snap ? snap->conf : NULL,
				.now = now, .bb = &bb,
			};
			struct qmgr_req *added = NULL, *after = req->next;

			t.tail = &added;
			if (req->call(&t, req->arg, &err) == -1) {
				log_error("event=spool.call error=\"%s\"",
				    err.msg);
				req->status = -1;
			}
			/* outcomes it made join the list after it */
			if (added != NULL) {
				*t.tail = after;
				req->next = added;
				while (req->next != after)
					req = req->next;
			}
			if (spool_txn_lost(q->sp))
				goto abort;
		} else {
			nresults++;
			if (snap == NULL)
				req->status = -1;
			else if (qmgr_apply(q, req, snap->conf, now,
			    &bb) == -1 && spool_txn_lost(q->sp))
				goto abort;
		}
	}
	/*
	 * the scheduler: due recipients leased for the delivery pool, as
	 * many as it has room for; those of destinations that back off
	 * deferred right here, as their worker would have done
	 */
	qmgr_backoff_learn(q, list, smarthost, now);
	backoff_expire(&q->backoff, now, false);
	if (dispatch && q->pool != NULL && snap != NULL &&
	    !atomic_load(&q->paused)) {
		size_t room = q->inflight.len < q->inflight_max ?
		    q->inflight_max - q->inflight.len : 0;

		/* deferring in place what is past its lifetime would bounce
		   it in a batch that may not be durable: such recipients are
		   leased and go the usual way */
		int64_t expire = now -
		    (int64_t)snap->conf->relay.max_queue_lifetime;

		if ((room > 0 || q->backoff.n > 0) && sched_select(q->sp,
		    &q->backoff, now, room, QMGR_DEFER_MAX, smarthost, expire,
		    &pick, &err) == -1) {
			/* leases may have been written: give the batch up */
			log_error("event=sched.select error=\"%s\"", err.msg);
			goto abort;
		}
	}
	for (job = pick.jobs; job; job = job->next)
		nleased += job->nrcpts;
	/* the scheduler's deferrals: settled and logged like the others */
	for (tail = &list; *tail; tail = &(*tail)->next)
		;
	for (size_t i = 0; i < pick.ndeferred; i++) {
		req = xcalloc(1, sizeof(*req));
		req->type = QMGR_REQ_RESULT;
		req->backoff = true;
		req->res = pick.deferred[i];
		*tail = req;
		tail = &req->next;
		nbackoff++;
		if (qmgr_apply(q, req, snap->conf, now, &bb) == -1 &&
		    spool_txn_lost(q->sp))
			goto abort;
	}
	/* reports, in the same commit as the outcomes that called for them;
	   their recipients are leased by the next batch, at once */
	if (bb.n > 0) {
		if (bounce_flush(q->sp, &bb, snap->conf, now, &err) == -1) {
			log_error("event=dsn.queue error=\"%s\"", err.msg);
			if (spool_txn_lost(q->sp))
				goto abort;
		}
		pick.more = true;
	}
	/* messages whose last recipient was just settled */
	for (req = list; req; req = req->next) {
		char qid[ID_QID_LEN + 1];
		bool removed, body_file;

		if (req->type != QMGR_REQ_RESULT || req->status == -1 ||
		    req->res.outcome == SPOOL_OUTCOME_DEFERRED)
			continue;
		if (spool_msg_finish(q->sp, req->res.msg_id, &removed, qid,
		    &body_file, &err) == -1) {
			log_error("event=spool.remove id=%s error=\"%s\"",
			    req->res.qid, err.msg);
			if (spool_txn_lost(q->sp))
				goto abort;
			continue;
		}
		if (removed) {
			done_msgs = xreallocarray(done_msgs, ndone + 1,
			    sizeof(*done_msgs));
			memcpy(done_msgs[ndone].qid, qid, sizeof(qid));
			/*
			 * a body file goes only after a durable commit that
			 * deleted its row; should a batch that is not durable
			 * finish a message, its file stays for the recovery
			 * at the next start, which removes it if the row is
			 * gone and keeps it if the commit was lost
			 */
			if (body_file && !durable)
				log_info("event=spool.unlink_deferred id=%s",
				    qid);
			done_msgs[ndone++].body_file = body_file && durable;
		}
	}
	if (spool_commit(q->sp, &err) == -1) {
		log_error("event=spool.commit error=\"%s\"", err.msg);
		spool_rollback(q->sp);
		/* a failed COMMIT may still be durable: the WAL frames may
		   have reached the disk before the sync failed, and the next
		   start would find them. Keep the body files it names (the
		   next start removes them if the rows did not make it). */
		unsure = true;
		ok = false;
	} else {
		commit_us = qmgr_mono_us() - t0;
	}
	goto commit_done;
abort:
	/* SQLite gave the transaction up by itself (each statement would
	   now commit on its own, behind the answers we give), or leases may
	   be half written: nothing of this batch counts */
	log_error("event=spool.rollback error=\"%s\"", spool_txn_lost(q->sp) ?
	    "transaction rolled back by an error; batch abandoned" :
	    "batch abandoned");
	spool_rollback(q->sp);
	ok = false;
commit_done:
	free(pick.deferred);
	bounce_batch_fini(&bb);
	conf_snap_unref(snap);
	/* 3. answers, only now that the commit is on disk */
	for (req = list; req; req = next) {
		next = req->next;
		if (req->type == QMGR_REQ_CALL) {
			req->call_done(req->arg, ok ? req->status : -1);
			free(req);
		} else if (req->type == QMGR_REQ_MSG) {
			int status = ok ? req->status : -1;

			if (status == 0 || (unsure && req->status == 0))
				spool_body_release(&req->msg->body);
			else
				spool_body_discard(&req->msg->body);
			qmgr_tenant_settle(req->msg, status == 0);
			req->done(req->arg, req->tag, status);
			spool_msg_free(req->msg);
			free(req);
		} else if (!ok) {
			/* not recorded: try again in the next batch (the
			   scheduler's own deferrals are simply made again).
			   When stopping, not: the recipient stays leased and
			   runs again after the next start */
			if (req->backoff || !dispatch)
				free(req);
			else {
				req->status = 0;
				qmgr_enqueue(q, req);
			}
		} else {
			if (req->status == 0) {
				qmgr_log_result(&req->res, now);
				/* shaping's deferrals are no outcome */
				if (!req->res.throttled)
					metrics_count(
					    qmgr_metric[req->res.outcome],
					    req->res.addr);
			}
			if (!req->backoff)
				idmap_del(&q->inflight, req->res.rcpt_id);
			free(req);
		}
	}
	for (size_t i = 0; ok && i < ndone; i++) {
		log_info("event=removed id=%s", done_msgs[i].qid);
		if (done_msgs[i].body_file)
			spool_body_remove(q->sp, done_msgs[i].qid);
	}
	free(done_msgs);
	while ((job = pick.jobs) != NULL) {
		pick.jobs = job->next;
		job->next = NULL;
		if (!ok) {
			deliver_job_free(job);
			continue;
		}
		for (size_t i = 0; i < job->nrcpts; i++)
			idmap_put(&q->inflight, job->rcpts[i].rcpt_id,
			    (void *)1);
		deliver_pool_push(q->pool, job);
	}
	q->more = ok && pick.more;
	if (!ok || (nmsgs == 0 && nresults == 0 && nbackoff == 0 &&
	    nleased == 0))
		return ok;
	us = qmgr_mono_us() - t0;
	metrics_observe(METRIC_H_SPOOL_COMMIT, (double)commit_us / 1e6);
	pthread_mutex_lock(&q->stats_lock);
	q->stats.commits++;
	if (nmsgs > 0)
		q->stats.msg_commits++;
	q->stats.messages += nmsgs;
	q->stats.results += nresults;
	q->stats.leased += nleased;
	q->stats.backoff_deferred += nbackoff;
	q->stats.batch_us += (uint64_t)us;
	if ((uint64_t)us > q->stats.batch_us_max)
		q->stats.batch_us_max = (uint64_t)us;
	pthread_mutex_unlock(&q->stats_lock);
	log_debug("event=spool.batch us=%lld messages=%zu results=%zu"
	    " leased=%zu backoff_deferred=%zu", (long long)us, nmsgs, nresults,
	    nleased, nbackoff);
	if (us >= QMGR_SLOW_BATCH_MS * 1000)
		log_info("event=spool.slow_batch ms=%lld messages=%zu"
		    " results=%zu leased=%zu backoff_deferred=%zu",
		    (long long)(us / 1000), nmsgs, nresults, nleased, nbackoff);
	return true;
}

/* qmgr_log_stats - event=spool.stats: the group commit at work */
static void
qmgr_log_stats(struct qmgr *q, struct qmgr_stats *last)
{
	struct qmgr_stats st;
	char avg[32];

	qmgr_get_stats(q, &st);
	if (last != NULL && memcmp(&st, last, sizeof(st)) == 0)
		return;
	if (st.msg_commits > 0)
		snprintf(avg, sizeof(avg), "%.2f",
		    (double)st.messages / (double)st.msg_commits);
	else
		snprintf(avg, sizeof(avg), "0");
	log_info("event=spool.stats commits=%llu message_commits=%llu"
	    " messages=%llu avg_messages_per_commit=%s results=%llu"
	    " leased=%llu backoff_deferred=%llu batch_ms_avg=%.2f"
	    " batch_ms_max=%.1f", (unsigned long long)st.commits,
	    (unsigned long long)st.msg_commits,
	    (unsigned long long)st.messages, avg,
	    (unsigned long long)st.results, (unsigned long long)st.leased,
	    (unsigned long long)st.backoff_deferred,
	    st.commits ? (double)st.batch_us / (double)st.commits / 1000.0 :
	    0.0, (double)st.batch_us_max / 1000.0);
	if (last != NULL)
		*last = st;
}

/*
 * qmgr_queue_gauges - the queue's size for the metrics, counted in the
 * spool (outside any transaction); returns when to count again: after
 * QMGR_GAUGES_INTERVAL, or 200 times what counting took, whichever is
 * later, so that even a queue of millions costs this thread at most
 * half a percent of its time.
 */
static int64_t
qmgr_queue_gauges(struct qmgr *q)
{
	struct spool_queue_stats st = { 0, 0 };
	struct err err;
	int64_t t0 = qmgr_mono_us(), took, now;

	if (spool_queue_stats(q->sp, &st, &err) == -1) {
		log_warnx("event=spool.stats.count error=\"%s\"", err.msg);
	} else {
		now = time(NULL);
		metrics_gauge_set(METRIC_QUEUE_RECIPIENTS, NULL,
		    (int64_t)st.rcpts);
		metrics_gauge_set(METRIC_QUEUE_OLDEST_AGE, NULL,
		    st.oldest_arrival > 0 && st.oldest_arrival < now ?
		    now - st.oldest_arrival : 0);
	}
	took = qmgr_mono_us() - t0;
	log_debug("event=spool.stats.count rcpts=%llu us=%lld",
	    (unsigned long long)st.rcpts, (long long)took);
	if (took * 200 > QMGR_GAUGES_INTERVAL * 1000000LL)
		return qmgr_mono_us() + took * 200;
	return qmgr_mono_us() + QMGR_GAUGES_INTERVAL * 1000000LL;
}

/* qmgr_deadline - the CLOCK_MONOTONIC time (q->cond's clock) us from now */
static void
qmgr_deadline(struct timespec *ts, int64_t us)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += us / 1000000;
	ts->tv_nsec += (long)(us % 1000000) * 1000;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * qmgr_wait - with q->lock held: until there is work. Nothing waiting:
 * at most a second (the scheduler's tick). Only outcomes waiting: until a
 * message comes to share their commit, or QMGR_RESULT_LINGER_US after
 * the oldest of them. After a batch that failed (its outcomes are waiting
 * again): QMGR_FAIL_PAUSE_US, or until a message comes, so a failing
 * disk does not make the thread spin.
 */
static void
qmgr_wait(struct qmgr *q, bool failed)
{
	struct timespec ts;
	int64_t left;

	if (failed && !q->stopping && !q->msgs_waiting) {
		qmgr_deadline(&ts, QMGR_FAIL_PAUSE_US);
		pthread_cond_timedwait(&q->cond, &q->lock, &ts);
		return;
	}

	if (q->head == NULL && !q->kicked && !q->stopping && !q->more) {
		qmgr_deadline(&ts, 1000000);
		pthread_cond_timedwait(&q->cond, &q->lock, &ts);
	}
	while (q->head != NULL && !q->msgs_waiting && !q->kicked &&
	    !q->stopping && !q->more && q->results_since != 0 &&
	    (left = q->results_since + QMGR_RESULT_LINGER_US -
	    qmgr_mono_us()) > 0) {
		qmgr_deadline(&ts, left);
		pthread_cond_timedwait(&q->cond, &q->lock, &ts);
	}
}

static void
qmgr_suppress_one(void *arg, const char *addr)
{
	struct suppress_list *l = arg;

	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = xstrdup(addr);
}

/* qmgr_site_apply - one operator's change, to the agent */
static void
qmgr_site_apply(void *arg, const struct spool_site *s)
{
	struct qmgr *q = arg;
	int64_t now = time(NULL);
	/* the operator's word, even should the agent have written the
	   row since (manual = 0) */
	int64_t until = s->suspended_until > now ? s->suspended_until : 0;

	log_info("event=site.%s site=%s until=%lld source=operator",
	    until ? "suspend" : "resume", s->site, (long long)until);
	/* resumed: nothing of it waits in place any more (the table
	   knows domains, not sites: forget it all, it is relearnt) */
	if (until == 0) {
		struct err err;

		backoff_expire(&q->backoff, 0, true);
		/* and what the scheduler deferred in place meanwhile */
		if (spool_site_wake(q->sp, s->site, now, &err) == -1)
			log_error("event=site.wake site=%s error=\"%s\"",
			    s->site, err.msg);
	}
	if (q->site_hook != NULL)
		q->site_hook(q->site_hook_arg, s->site, until,
		    s->reason ? s->reason : "", !q->sites_loaded);
}

/*
 * qmgr_sites_reload - the operator's suspensions to the agent: at the
 * first call, those in force; later, the rows changed since the
 * generation last applied, when meta sites_gen moved
 */
static void
qmgr_sites_reload(struct qmgr *q)
{
	struct err err;
	int64_t gen;

	q->sites_dirty = false;
	if (spool_var_get(q->sp, SPOOL_SITES_GEN, &gen, &err) == -1) {
		log_error("event=site.load error=\"%s\"", err.msg);
		return;
	}
	if (q->sites_loaded && gen == q->sites_gen)
		return;
	if (spool_site_changes(q->sp, q->sites_loaded ? q->sites_gen : -1,
	    time(NULL), qmgr_site_apply, q, &err) == -1) {
		log_error("event=site.load error=\"%s\"", err.msg);
		return;
	}
	q->sites_gen = gen;
	q->sites_loaded = true;
}

/*
 * qmgr_housekeeping - between batches: reload the suppression list when
 * relais suppress changed it (it bumps meta suppress_gen), and prune
 * events past [http] event_retention (those the webhooks have not
 * delivered yet stay) and idempotent answers older than a day
 */
static void
qmgr_housekeeping(struct qmgr *q)
{
	struct conf_snap *snap;
	struct err err;
	int64_t gen, cursor, n, now = time(NULL);

	if (spool_var_get(q->sp, "suppress_gen", &gen, &err) == -1) {
		log_error("event=suppress.load error=\"%s\"", err.msg);
		return;
	}
	if (!q->suppress_loaded || gen != q->suppress_gen) {
		struct suppress_list list = { NULL, 0 };

		/* read first, then swap in one step: a lookup meanwhile sees
		   the old list, never a half-loaded one */
		if (spool_suppress_load(q->sp, qmgr_suppress_one, &list,
		    &err) == -1)
			log_error("event=suppress.load error=\"%s\"", err.msg);
		else {
			suppress_replace(list.v, list.n);
			q->suppress_gen = gen;
			q->suppress_loaded = true;
			log_info("event=suppress.loaded count=%zu",
			    suppress_count());
		}
		suppress_list_fini(&list);
	}
	qmgr_sites_reload(q);
	if (now < q->next_prune || q->live == NULL)
		return;
	q->next_prune = now + QMGR_PRUNE_INTERVAL;
	snap = conf_live_get(q->live);
	cursor = INT64_MAX;
	if (snap->conf->webhooks.url != NULL &&
	    spool_var_get(q->sp, "webhook_cursor", &cursor, &err) == -1)
		cursor = 0;
	if (spool_begin(q->sp, false, &err) == -1 ||
	    spool_prune(q->sp, now - (int64_t)snap->conf->http.event_retention,
	    cursor, now - 86400, &n, &err) == -1 ||
	    spool_site_prune(q->sp, now - QMGR_SITE_RETENTION, now,
	    &err) == -1 ||
	    spool_commit(q->sp, &err) == -1) {
		log_error("event=spool.prune error=\"%s\"", err.msg);
		spool_rollback(q->sp);
	} else if (n > 0) {
		log_info("event=spool.pruned rows=%lld", (long long)n);
		/* a backlog goes in bounded steps, one per housekeeping pass */
		if (n >= SPOOL_PRUNE_STEP)
			q->next_prune = now;
	}
	conf_snap_unref(snap);
}

static void *
qmgr_thread(void *arg)
{
	struct qmgr *q = arg;
	struct qmgr_req *list;
	struct qmgr_stats logged;
	int64_t next_stats = qmgr_mono_us() + QMGR_STATS_INTERVAL * 1000000LL;
	int64_t next_house;
	int64_t next_gauges = 0;
	bool stop, flush, failed = false;

	memset(&logged, 0, sizeof(logged));
	qmgr_housekeeping(q);
	next_house = qmgr_mono_us() + QMGR_HOUSEKEEPING_INTERVAL * 1000000LL;
	for (;;) {
		pthread_mutex_lock(&q->lock);
		qmgr_wait(q, failed);
		list = q->head;
		q->head = NULL;
		q->tail = &q->head;
		q->msgs_waiting = false;
		q->results_since = 0;
		flush = q->kicked;
		q->kicked = false;
		stop = q->stopping;
		pthread_mutex_unlock(&q->lock);

		/* relais queue flush: the workers forget their backoffs */
		if (flush)
			backoff_expire(&q->backoff, 0, true);
		if (list != NULL || !stop)
			failed = !qmgr_batch(q, list, !stop);
		/* an operator's change through the API: to the agent now */
		if (q->sites_dirty && !stop)
			qmgr_sites_reload(q);
		if (qmgr_mono_us() >= next_stats) {
			qmgr_log_stats(q, &logged);
			next_stats = qmgr_mono_us() +
			    QMGR_STATS_INTERVAL * 1000000LL;
		}
		if (!stop && qmgr_mono_us() >= next_house) {
			qmgr_housekeeping(q);
			next_house = qmgr_mono_us() +
			    QMGR_HOUSEKEEPING_INTERVAL * 1000000LL;
		}
		if (!stop && qmgr_mono_us() >= next_gauges)
			next_gauges = qmgr_queue_gauges(q);
		if (stop) {
			pthread_mutex_lock(&q->lock);
			list = q->head;
			pthread_mutex_unlock(&q->lock);
			if (list == NULL)
				break;
		}
	}
	qmgr_log_stats(q, NULL);
	backoff_expire(&q->backoff, 0, true);
	return NULL;
}
