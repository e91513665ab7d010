/* SPDX-License-Identifier: ISC */
/*
 * qmgr.h - the queue manager: one thread ("relais-qmgr") that owns the
 * queue. It group-commits what sessions and delivery agents hand it,
 * applies the retry policy, queues bounces, schedules due recipients and
 * hands them to the delivery agents.
 *
 * Sessions submit finished messages (qmgr_submit_msg); delivery agents
 * report per-recipient outcomes (qmgr_report). The thread runs every
 * request waiting at that moment in ONE spool transaction, together with
 * the reports they call for and the scheduler's leases, commits (one
 * fsync for the batch), and only then calls each message's done callback,
 * so a 250 is given only for a message that would survive kill -9 and
 * power loss; then it hands the leased jobs to the delivery pool.
 */
#ifndef RELAIS_QUEUE_QMGR_H
#define RELAIS_QUEUE_QMGR_H

#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"

/* done callback: runs on the queue manager's thread after the commit
   (status 0) or after a failure (-1, nothing stored); must only hand off
   and return */
typedef void qmgr_done_fn(void *arg, uint64_t tag, int status);

struct qmgr;
struct deliver_pool;
struct conf_live;

/* qmgr_new - a queue manager over sp (not owned: sp must outlive it, so
   spool_free comes after qmgr_free); jobs go to pool (may be
   NULL: nothing is scheduled); the retry policy and reports follow live's
   current configuration (may be NULL: outcomes are counted, not applied) */
struct qmgr *qmgr_new(struct spool *sp, struct deliver_pool *pool,
	    struct conf_live *live);
/* qmgr_start - start the thread */
int	qmgr_start(struct qmgr *q);
/* qmgr_stop - commit what is waiting, stop the thread */
void	qmgr_stop(struct qmgr *q);
void	qmgr_free(struct qmgr *q);

/* qmgr_submit_msg - take ownership of msg; done(arg, tag, status) later */
void	qmgr_submit_msg(struct qmgr *q, struct spool_msg *msg,
	    qmgr_done_fn *done, void *arg, uint64_t tag);
/* qmgr_report - record delivery outcomes (copied); the results of one
   call are applied in the same commit. A deliver_report_fn: arg is the
   struct qmgr. */
void	qmgr_report(void *arg, const struct spool_result *res, size_t n);
/*
 * qmgr_call - run fn inside the next batch's transaction, on the queue
 * manager's thread (the one writer of the spool), then done(arg, status)
 * after the commit (0) or a failure (-1: nothing of fn's stays). For the
 * HTTP API's changes (queue actions, suppressions) and the webhook
 * cursor. fn returns 0 or -1 with err set.
 */
struct qmgr_txn;
typedef int qmgr_call_fn(struct qmgr_txn *t, void *arg, struct err *err);
typedef void qmgr_call_done_fn(void *arg, int status);
void	qmgr_call(struct qmgr *q, qmgr_call_fn *fn, qmgr_call_done_fn *done,
	    void *arg);
/* qmgr_call_lazy - as qmgr_call, but fn's changes need no fsync of
   their own (they are durable with the next batch that has one): for
   state that may be lost with a power cut, such as a site's rate */
void	qmgr_call_lazy(struct qmgr *q, qmgr_call_fn *fn,
	    qmgr_call_done_fn *done, void *arg);
/* what fn may use: the spool, the time of the batch */
struct spool *qmgr_txn_spool(struct qmgr_txn *t);
int64_t	qmgr_txn_now(struct qmgr_txn *t);
/* qmgr_txn_result - apply an outcome as a delivery agent's would be
   (retry policy, reports, events), in the same transaction: 1 applied,
   0 not (logged), -1 when the transaction is lost */
int	qmgr_txn_result(struct qmgr_txn *t, const struct spool_result *res);

/* qmgr_txn_sites_changed - fn changed an operator's suspension (the
   sites table, spool_site_operator): the site hook hears of it right
   after the commit, not at the next housekeeping */
void	qmgr_txn_sites_changed(struct qmgr_txn *t);

/*
 * The operator's suspensions (relais queue suspend|resume, POST
 * /v1/sites/NAME/suspend|resume) go to the outbound agent through the
 * site hook, on the queue manager's thread: at start, every suspension
 * still in force; then, when meta sites_gen moved (checked every two
 * seconds, or right after a qmgr_txn_sites_changed), each site changed.
 * until: unix time, 0 resumes the site; at_start: one still in force at
 * start, no new word of the operator. Set before qmgr_start.
 */
typedef void qmgr_site_hook_fn(void *arg, const char *site, int64_t until,
	    const char *reason, bool at_start);
void	qmgr_set_site_hook(struct qmgr *q, qmgr_site_hook_fn *fn, void *arg);

/* qmgr_kick - schedule now and forget what is known of destinations
   backing off (relais queue flush) */
void	qmgr_kick(struct qmgr *q);

/* qmgr_pause - schedule nothing more for the delivery agents (relais
   drain --to: the hand-off takes the queue over); deliveries in flight
   finish and report as usual. For good. */
void	qmgr_pause(struct qmgr *q);

/* statistics for logs and metrics */
struct qmgr_stats {
	uint64_t	commits;	/* batches that changed something */
	uint64_t	msg_commits;	/* of them, acknowledging messages
					   (fsynced: synchronous = FULL) */
	uint64_t	messages;
	uint64_t	results;	/* outcomes from delivery agents */
	uint64_t	leased;		/* recipients handed to the pool */
	uint64_t	backoff_deferred; /* deferred by the scheduler: their
					   destination backs off */
	uint64_t	batch_us;	/* time in batches, total */
	uint64_t	batch_us_max;
};
void	qmgr_get_stats(struct qmgr *q, struct qmgr_stats *out);

#endif
