/* SPDX-License-Identifier: ISC */
/*
 * deliver.c - the delivery thread pool and agent dispatch; see deliver.h.
 *
 * Each pool thread has its own spool reader (a read-only connection: WAL
 * lets it read while the queue manager writes) to fetch bodies, and its
 * own LMTP client for [local] transport = lmtp, whose connection stays
 * open between jobs: a thread holding one waits for work only until the
 * connection has been idle long enough, then closes it. The outcome of
 * every job goes back through the pool's report function (the queue
 * manager's qmgr_report), which logs it once it is committed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "live/conf_live.h"
#include "core/log.h"
#include "core/sys.h"
#include "core/xalloc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_lmtp.h"

struct deliver_pool {
	char			*data_dir;
	unsigned		 nthreads;
	pthread_t		*threads;
	unsigned		 started;
	struct conf_live	*live;
	deliver_report_fn	*report;
	void			*report_arg;
	deliver_remote_fn	*remote;
	void			*remote_arg;

	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct deliver_job	*head, **tail;
	bool			 stopping;
	atomic_bool		 stop_io;	/* stopping, for the agents'
						   waits (no lock) */
};

void
deliver_job_free(struct deliver_job *job)
{
	if (job == NULL)
		return;
	for (size_t i = 0; i < job->nrcpts; i++) {
		free(job->rcpts[i].addr);
		free(job->rcpts[i].orig);
		free(job->rcpts[i].orcpt);
	}
	free(job->rcpts);
	free(job->sender);
	free(job->domain);
	free(job->envid);
	free(job->pool);
	free(job->site);
	free(job->body.data);
	free(job);
}

void
deliver_job_add_rcpt(struct deliver_job *job, uint64_t rcpt_id,
    const char *addr, const char *orig, const char *orcpt, unsigned notify,
    int attempts)
{
	struct deliver_rcpt *r;

	job->rcpts = xreallocarray(job->rcpts, job->nrcpts + 1,
	    sizeof(*job->rcpts));
	r = &job->rcpts[job->nrcpts++];
	r->rcpt_id = rcpt_id;
	r->addr = xstrdup(addr);
	r->orig = xstrdup(orig);
	r->orcpt = orcpt ? xstrdup(orcpt) : NULL;
	r->notify = notify;
	r->attempts = attempts;
}

void
deliver_result_init(struct spool_result *res, const struct deliver_job *job,
    size_t i)
{
	memset(res, 0, sizeof(*res));
	res->rcpt_id = job->rcpts[i].rcpt_id;
	res->msg_id = job->msg_id;
	res->arrival = job->arrival;
	snprintf(res->qid, sizeof(res->qid), "%s", job->qid);
	snprintf(res->addr, sizeof(res->addr), "%s", job->rcpts[i].addr);
	if (job->site != NULL)
		snprintf(res->site, sizeof(res->site), "%s", job->site);
}

/* deliver_cond_init - a condition whose timed waits use CLOCK_MONOTONIC */
static void
deliver_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

struct deliver_pool *
deliver_pool_new(const char *data_dir, unsigned nthreads,
    struct conf_live *live)
{
	struct deliver_pool *pool = xcalloc(1, sizeof(*pool));

	pool->data_dir = xstrdup(data_dir);
	pool->nthreads = nthreads ? nthreads : 1;
	pool->threads = xcalloc(pool->nthreads, sizeof(*pool->threads));
	pool->live = live;
	pool->tail = &pool->head;
	pthread_mutex_init(&pool->lock, NULL);
	deliver_cond_init(&pool->cond);
	return pool;
}

/* deliver_fail_all - every recipient of job deferred for the same reason */
static void
deliver_fail_all(struct deliver_pool *pool, const struct deliver_job *job,
    const char *status, const char *why)
{
	struct spool_result *res = xcalloc(job->nrcpts, sizeof(*res));

	for (size_t i = 0; i < job->nrcpts; i++) {
		deliver_result_init(&res[i], job, i);
		res[i].outcome = SPOOL_OUTCOME_DEFERRED;
		snprintf(res[i].status, sizeof(res[i].status), "%s", status);
		snprintf(res[i].reply, sizeof(res[i].reply), "%s", why);
		snprintf(res[i].relay, sizeof(res[i].relay), "none");
	}
	pool->report(pool->report_arg, res, job->nrcpts);
	free(res);
}

/* deliver_run - one job: read the body, run the agent or hand it over */
static void
deliver_run(struct deliver_pool *pool, struct spool_reader *rd,
    struct lmtp_client *lmtp, struct deliver_job *job)
{
	struct spool_result *res;
	struct conf_snap *snap;
	struct err err;

	if (job->body.data == NULL && (rd == NULL ? err_set(&err, 0,
	    "cannot read the spooled message: no spool connection") :
	    spool_reader_text(rd, job->msg_id, job->qid, job->body_file,
	    &job->body.data, &job->body.len, &err)) == -1) {
		log_error("event=deliver.body id=%s error=\"%s\"", job->qid,
		    err.msg);
		deliver_fail_all(pool, job, "4.3.0", err.msg);
		deliver_job_free(job);
		return;
	}
	if (job->transport == SPOOL_TRANSPORT_REMOTE) {
		if (pool->remote == NULL) {
			deliver_fail_all(pool, job, "4.4.0",
			    "outbound relaying is not available");
			deliver_job_free(job);
			return;
		}
		pool->remote(pool->remote_arg, job);	/* takes the job */
		return;
	}
	res = xcalloc(job->nrcpts, sizeof(*res));
	snap = conf_live_get(pool->live);
	for (size_t i = 0; i < job->nrcpts; i++) {
		deliver_result_init(&res[i], job, i);
		snprintf(res[i].relay, sizeof(res[i].relay), "local");
	}
	if (snap->conf->local.transport == CONF_LOCAL_LMTP) {
		lmtp_deliver(lmtp, snap->conf, job, res);
	} else {
		lmtp_client_close(lmtp);	/* transport changed by reload */
		for (size_t i = 0; i < job->nrcpts; i++)
			deliver_maildir(snap->conf, job, i, &res[i]);
	}
	conf_snap_unref(snap);
	pool->report(pool->report_arg, res, job->nrcpts);
	free(res);
	deliver_job_free(job);
}

/* deliver_wait - wait for a job (pool->lock held); an open LMTP
   connection is closed once it has been idle for LMTP_IDLE_MS */
static void
deliver_wait(struct deliver_pool *pool, struct lmtp_client *lmtp)
{
	struct timespec until;
	int64_t ms;

	while (pool->head == NULL && !pool->stopping) {
		if ((ms = lmtp_client_idle_ms(lmtp)) == -1) {
			pthread_cond_wait(&pool->cond, &pool->lock);
			continue;
		}
		if (ms == 0) {
			/* the QUIT exchange is I/O: not under the lock */
			pthread_mutex_unlock(&pool->lock);
			lmtp_client_close(lmtp);
			pthread_mutex_lock(&pool->lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += ms / 1000;
		until.tv_nsec += (ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		(void)pthread_cond_timedwait(&pool->cond, &pool->lock, &until);
	}
}

static void *
deliver_thread(void *arg)
{
	struct deliver_pool *pool = arg;
	struct deliver_job *job;
	struct spool_reader *rd;
	struct lmtp_client *lmtp = lmtp_client_new(&pool->stop_io);
	struct err err;

	if ((rd = spool_reader_open(pool->data_dir, &err)) == NULL)
		log_error("event=deliver.open error=\"%s\"", err.msg);

	for (;;) {
		pthread_mutex_lock(&pool->lock);
		deliver_wait(pool, lmtp);
		if (pool->stopping) {
			pthread_mutex_unlock(&pool->lock);
			break;
		}
		job = pool->head;
		pool->head = job->next;
		if (pool->head == NULL)
			pool->tail = &pool->head;
		pthread_mutex_unlock(&pool->lock);

		deliver_run(pool, rd, lmtp, job);
	}
	lmtp_client_free(lmtp);
	spool_reader_close(rd);
	return NULL;
}

void
deliver_pool_set_remote(struct deliver_pool *pool, deliver_remote_fn *fn,
    void *arg)
{
	pool->remote = fn;
	pool->remote_arg = arg;
}

int
deliver_pool_start(struct deliver_pool *pool, deliver_report_fn *report,
    void *arg)
{
	char name[16];
	int r;

	pool->report = report;
	pool->report_arg = arg;
	for (unsigned i = 0; i < pool->nthreads; i++) {
		if ((r = pthread_create(&pool->threads[i], NULL, deliver_thread,
		    pool)) != 0) {
			errno = r;
			log_warn("event=deliver.start");
			return -1;
		}
		(void)snprintf(name, sizeof(name), "relais-dlv%u", i);
		(void)pthread_setname_np(pool->threads[i], name);
		pool->started++;
	}
	return 0;
}

void
deliver_pool_push(struct deliver_pool *pool, struct deliver_job *job)
{
	/* a remote job whose body came with it needs no pool thread */
	if (job->transport == SPOOL_TRANSPORT_REMOTE && job->body.data != NULL &&
	    pool->remote != NULL) {
		pool->remote(pool->remote_arg, job);
		return;
	}
	pthread_mutex_lock(&pool->lock);
	if (pool->stopping) {
		pthread_mutex_unlock(&pool->lock);
		deliver_job_free(job);	/* still leased: runs after restart */
		return;
	}
	job->next = NULL;
	*pool->tail = job;
	pool->tail = &job->next;
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
}

void
deliver_pool_stop(struct deliver_pool *pool)
{
	struct deliver_job *job;

	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	atomic_store(&pool->stop_io, true);
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->started; i++)
		pthread_join(pool->threads[i], NULL);
	pool->started = 0;
	while ((job = pool->head) != NULL) {
		pool->head = job->next;
		deliver_job_free(job);
	}
	pool->tail = &pool->head;
}

void
deliver_pool_free(struct deliver_pool *pool)
{
	if (pool == NULL)
		return;
	deliver_pool_stop(pool);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->cond);
	free(pool->threads);
	free(pool->data_dir);
	free(pool);
}
