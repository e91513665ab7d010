/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt_send.c - the TLS-RPT thread: counts to the spool, the days to
 * report and the operator's requests; see tlsrpt_send.h. The report of
 * one domain goes out in tlsrpt_out.c.
 *
 * Everything here runs on the thread "relais-tlsrpt", which may block:
 * on the queue manager's answers (a condition variable; the queue
 * manager always answers, so the thread is stopped before it), on DNS
 * (its own event_base and resolver, made for each pass, so that a
 * reload's [dns] applies) and on HTTPS POSTs. It never writes the spool
 * itself: the queue manager does, through qmgr_call.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "live/conf_live.h"
#include "queue/qmgr.h"
#include "queue/tlsrpt_int.h"
#include "queue/tlsrpt_send.h"
#include "spool/spool.h"
#include "tlspol/tlsrpt_report.h"

#define TLSRPT_RESULT_MAX	2048	/* a request's answer text */

/* one call to the queue manager the thread waits for */
struct tlsrpt_call {
	struct tlsrpt_sender	*s;
	bool			 done;
	int			 status;
	/* what the call does */
	const struct spool_tlsrpt *rows;
	size_t			 nrows;
	const char		*day;
	const char		*domain;
	int64_t			 asked;
	const char		*result;
};

/* ------------------------------------------------------------ days */

void
tlsrpt_day_of(int64_t t, char day[11])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(day, 11, "%Y-%m-%d", &tm);
}

int
tlsrpt_day_bounds(const char *day, int64_t now, int64_t *start,
    int64_t *end)
{
	struct tm tm;
	int y, m, d, used = 0;
	char back[11];

	if (day == NULL || strlen(day) != 10 ||
	    sscanf(day, "%4d-%2d-%2d%n", &y, &m, &d, &used) != 3 ||
	    used != 10 || y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	*start = (int64_t)timegm(&tm);
	/* 2026-02-31 is no day */
	tlsrpt_day_of(*start, back);
	if (strcmp(back, day) != 0)
		return -1;
	*end = *start + 86399;
	if (now >= *start && now < *end)
		*end = now;
	return 0;
}

static int
tlsrpt_policy_of(const char *name, enum tlsrpt_policy *out)
{
	static const enum tlsrpt_policy all[] = { TLSRPT_POLICY_NONE,
	    TLSRPT_POLICY_STS, TLSRPT_POLICY_TLSA };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(name, tlsrpt_policy_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return -1;
}

static int
tlsrpt_result_of(const char *name, enum tls_result *out)
{
	for (int r = 0; r < TLS_R_COUNT; r++)
		if (strcmp(name, tls_result_name((enum tls_result)r)) == 0) {
			*out = (enum tls_result)r;
			return 0;
		}
	return -1;
}

struct tlsrpt_load {
	struct tlsrpt_count	*v;
	size_t			 n;
};

static int
tlsrpt_load_row(void *arg, const struct spool_tlsrpt *r)
{
	struct tlsrpt_load *l = arg;
	struct tlsrpt_count *c;
	enum tlsrpt_policy p;
	enum tls_result res;

	if (tlsrpt_policy_of(r->policy_type, &p) == -1 ||
	    tlsrpt_result_of(r->result, &res) == -1)
		return 0;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	c = &l->v[l->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->day, sizeof(c->day), "%s", r->day);
	c->policy_domain = xstrdup(r->domain);
	c->policy_type = p;
	c->policy = xstrdup(r->policy);
	c->mx_host = xstrdup(r->mx_host);
	c->sending_ip = xstrdup(r->sending_ip);
	c->receiving_ip = xstrdup(r->receiving_ip);
	c->result = res;
	c->detail = xstrdup(r->detail);
	c->count = r->count;
	return 0;
}

int
tlsrpt_day_load(struct spool_reader *rd, const char *day,
    struct tlsrpt_count **out, size_t *n, struct err *err)
{
	struct tlsrpt_load l = { NULL, 0 };

	*out = NULL;
	*n = 0;
	if (spool_reader_tlsrpt_day(rd, day, tlsrpt_load_row, &l, err) == -1) {
		tlsrpt_counts_free(l.v, l.n);
		return -1;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

/* ------------------------------------------- the queue manager's calls */

static void
tlsrpt_call_done(void *arg, int status)
{
	struct tlsrpt_call *c = arg;

	pthread_mutex_lock(&c->s->lock);
	c->done = true;
	c->status = status;
	pthread_cond_broadcast(&c->s->cond);
	pthread_mutex_unlock(&c->s->lock);
}

/* tlsrpt_call_run - fn in the queue manager's next batch; its status
   once committed (the queue manager always answers) */
static int
tlsrpt_call_run(struct tlsrpt_sender *s, struct tlsrpt_call *c,
    qmgr_call_fn *fn, bool lazy)
{
	c->s = s;
	c->done = false;
	if (lazy)
		qmgr_call_lazy(s->q, fn, tlsrpt_call_done, c);
	else
		qmgr_call(s->q, fn, tlsrpt_call_done, c);
	pthread_mutex_lock(&s->lock);
	while (!c->done)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	return c->status;
}

static int
tlsrpt_store_fn(struct qmgr_txn *t, void *arg, struct err *err)
{
	struct tlsrpt_call *c = arg;

	return spool_tlsrpt_add(qmgr_txn_spool(t), c->rows, c->nrows, err);
}

static int
tlsrpt_delete_fn(struct qmgr_txn *t, void *arg, struct err *err)
{
	struct tlsrpt_call *c = arg;

	return spool_tlsrpt_delete(qmgr_txn_spool(t), c->day, c->domain, err);
}

static int
tlsrpt_prune_fn(struct qmgr_txn *t, void *arg, struct err *err)
{
	struct tlsrpt_call *c = arg;

	return spool_tlsrpt_prune(qmgr_txn_spool(t), c->day, c->asked, err);
}

static int
tlsrpt_answer_fn(struct qmgr_txn *t, void *arg, struct err *err)
{
	struct tlsrpt_call *c = arg;

	return spool_tlsrpt_answer(qmgr_txn_spool(t), c->day, c->asked,
	    c->result, err);
}

/*
 * tlsrpt_store - what the agent counted since the last time, added to
 * the spool; kept for the next time when the batch fails (up to the
 * daily bound of keys)
 */
static void
tlsrpt_store(struct tlsrpt_sender *s)
{
	struct tlsrpt_count *c;
	struct spool_tlsrpt *rows;
	struct tlsrpt_call call;
	size_t n, keep;

	c = tlsrpt_drain(s->counts, &n);
	if (n > 0) {
		keep = s->npending + n > TLSRPT_MAX_ENTRIES ?
		    TLSRPT_MAX_ENTRIES - s->npending : n;
		if (keep < n) {
			log_warnx("event=tlsrpt.dropped keys=%zu reason=\"the"
			    " spool took none for a while\"", n - keep);
			for (size_t i = keep; i < n; i++) {
				free(c[i].policy_domain);
				free(c[i].policy);
				free(c[i].mx_host);
				free(c[i].sending_ip);
				free(c[i].receiving_ip);
				free(c[i].detail);
			}
		}
		s->pending = xreallocarray(s->pending, s->npending + keep + 1,
		    sizeof(*s->pending));
		memcpy(s->pending + s->npending, c, keep * sizeof(*c));
		s->npending += keep;
		free(c);
	}
	if (s->npending == 0)
		return;
	rows = xcalloc(s->npending, sizeof(*rows));
	for (size_t i = 0; i < s->npending; i++) {
		const struct tlsrpt_count *k = &s->pending[i];

		rows[i].day = k->day;
		rows[i].domain = k->policy_domain;
		rows[i].policy_type = tlsrpt_policy_name(k->policy_type);
		rows[i].policy = k->policy;
		rows[i].mx_host = k->mx_host;
		rows[i].sending_ip = k->sending_ip;
		rows[i].receiving_ip = k->receiving_ip;
		rows[i].result = tls_result_name(k->result);
		rows[i].detail = k->detail;
		rows[i].count = k->count;
	}
	memset(&call, 0, sizeof(call));
	call.rows = rows;
	call.nrows = s->npending;
	if (tlsrpt_call_run(s, &call, tlsrpt_store_fn, true) == 0) {
		log_debug("event=tlsrpt.stored keys=%zu", s->npending);
		tlsrpt_counts_free(s->pending, s->npending);
		s->pending = NULL;
		s->npending = 0;
	} else {
		log_warnx("event=tlsrpt.store keys=%zu error=\"not stored,"
		    " kept for the next try\"", s->npending);
	}
	free(rows);
}

/*
 * tlsrpt_day - the reports of day (each domain with counts); keep:
 * the counts stay (today's, asked for); else a domain's counts go once
 * reported or found to want no report. Returns how many domains are
 * left to try again; what happened onto out when not NULL.
 */
static int
tlsrpt_day(struct tlsrpt_sender *s, struct tlsrpt_pass *p, const char *day,
    bool keep, struct buf *out)
{
	struct tlsrpt_count *c;
	struct buf local;
	struct err err;
	int64_t start, end;
	size_t n, i = 0;
	int again = 0;

	if (tlsrpt_day_bounds(day, time(NULL), &start, &end) == -1)
		return 0;
	if (tlsrpt_day_load(s->rd, day, &c, &n, &err) == -1) {
		log_error("event=tlsrpt.read day=%s error=\"%s\"", day,
		    err.msg);
		return 1;
	}
	buf_init(&local, TLSRPT_RESULT_MAX);
	if (out == NULL)
		out = &local;
	if (n == 0)
		buf_appendf(out, "no TLS sessions counted on %s", day);
	while (i < n && !atomic_load(&s->stopping)) {
		const char *domain = c[i].policy_domain;
		size_t j = i;
		int rc;

		while (j < n && strcmp(c[j].policy_domain, domain) == 0)
			j++;
		rc = tlsrpt_domain(s, p, domain, c + i, j - i, start, end, out);
		if (rc == -1)
			again++;
		else if (!keep) {
			struct tlsrpt_call call;

			memset(&call, 0, sizeof(call));
			call.day = day;
			call.domain = domain;
			if (tlsrpt_call_run(s, &call, tlsrpt_delete_fn,
			    false) != 0) {
				log_warnx("event=tlsrpt.delete day=%s domain=%s"
				    " error=\"not deleted\"", day, domain);
				again++;
			}
		}
		i = j;
	}
	tlsrpt_counts_free(c, n);
	buf_fini(&local);
	return again;
}

static int
tlsrpt_day_add(void *arg, const char *day)
{
	char ***days = arg;
	size_t n = 0;

	while ((*days)[n] != NULL)
		n++;
	*days = xreallocarray(*days, n + 2, sizeof(**days));
	(*days)[n] = xstrdup(day);
	(*days)[n + 1] = NULL;
	return 0;
}

/*
 * tlsrpt_pass - at start, after each day, each TLSRPT_RETRY_INTERVAL:
 * report the days before `today` that have counts, and prune
 */
static void
tlsrpt_pass(struct tlsrpt_sender *s, const char *today)
{
	struct tlsrpt_pass p;
	struct tlsrpt_call call;
	char **days = xcalloc(1, sizeof(*days)), oldest[11];
	struct conf_snap *snap;
	struct err err;
	size_t ndays;
	bool enabled;
	int again = 0;
	int64_t now = time(NULL);

	tlsrpt_store(s);
	/* counts past TLSRPT_KEEP_DAYS go, reported or not */
	tlsrpt_day_of(now - TLSRPT_GRACE - (int64_t)TLSRPT_KEEP_DAYS * 86400,
	    oldest);
	memset(&call, 0, sizeof(call));
	call.day = oldest;
	call.asked = now - 7 * 86400;
	if (tlsrpt_call_run(s, &call, tlsrpt_prune_fn, true) != 0)
		log_warnx("event=tlsrpt.prune error=\"not pruned\"");
	if (spool_reader_tlsrpt_days(s->rd, today, tlsrpt_day_add, &days,
	    &err) == -1) {
		log_error("event=tlsrpt.read error=\"%s\"", err.msg);
		again = 1;
	}
	/* reports off: the counts stay until pruned (relais tls report) */
	snap = conf_live_get(s->live);
	enabled = snap->conf->tlsrpt.enabled;
	conf_snap_unref(snap);
	if (days[0] != NULL && enabled) {
		if (tlsrpt_pass_open(&p, s->live) == -1)
			again = 1;
		else
			for (size_t i = 0; days[i] != NULL &&
			    !atomic_load(&s->stopping); i++)
				again += tlsrpt_day(s, &p, days[i], false,
				    NULL);
		tlsrpt_pass_close(&p);
	}
	for (ndays = 0; days[ndays] != NULL; ndays++)
		free(days[ndays]);
	free(days);
	s->next_pass = now + TLSRPT_RETRY_INTERVAL;
	if (again > 0)
		log_info("event=tlsrpt.pass days=%zu retry_in=%ds domains=%d",
		    ndays, TLSRPT_RETRY_INTERVAL, again);
	else
		log_debug("event=tlsrpt.pass days=%zu", ndays);
}

/* ---------------------------------------------------------- requests */

struct tlsrpt_req {
	char	 day[16];
	int64_t	 asked;
};

struct tlsrpt_reqs {
	struct tlsrpt_req	*v;
	size_t			 n;
};

static int
tlsrpt_req_add(void *arg, const char *day, int64_t asked)
{
	struct tlsrpt_reqs *r = arg;

	if (r->n >= 16)
		return -1;	/* the rest at the next look */
	r->v = xreallocarray(r->v, r->n + 1, sizeof(*r->v));
	snprintf(r->v[r->n].day, sizeof(r->v[r->n].day), "%s", day);
	r->v[r->n++].asked = asked;
	return 0;
}

/* tlsrpt_requests - relais tls report --send: each request served and
   answered */
static void
tlsrpt_requests(struct tlsrpt_sender *s)
{
	struct tlsrpt_reqs r = { NULL, 0 };
	struct err err;

	if (spool_reader_tlsrpt_requests(s->rd, tlsrpt_req_add, &r,
	    &err) == -1) {
		log_error("event=tlsrpt.requests error=\"%s\"", err.msg);
		return;
	}
	for (size_t i = 0; i < r.n && !atomic_load(&s->stopping); i++) {
		const struct tlsrpt_req *q = &r.v[i];
		struct tlsrpt_pass p;
		struct tlsrpt_call call;
		struct buf out;
		char today[11], lq[TLSRPT_RESULT_MAX + 64];
		int64_t start, end, now = time(NULL);

		buf_init(&out, TLSRPT_RESULT_MAX);
		tlsrpt_day_of(now, today);
		if (tlsrpt_day_bounds(q->day, now, &start, &end) == -1 ||
		    start > now) {
			buf_appendf(&out, "error: %s is not a day up to today",
			    q->day);
		} else if (tlsrpt_pass_open(&p, s->live) == -1) {
			buf_appendf(&out, "error: cannot start DNS lookups");
			tlsrpt_pass_close(&p);
		} else {
			if (!p.snap->conf->tlsrpt.enabled) {
				buf_appendf(&out, "error: reports are off"
				    " ([tlsrpt] enabled = no)");
			} else {
				tlsrpt_store(s);
				/* today's counts stay for the day's report */
				tlsrpt_day(s, &p, q->day,
				    strcmp(q->day, today) == 0, &out);
			}
			tlsrpt_pass_close(&p);
		}
		log_info("event=tlsrpt.request day=%s result=%s", q->day,
		    log_quote(lq, sizeof(lq), buf_cstr(&out), out.len));
		memset(&call, 0, sizeof(call));
		call.day = q->day;
		call.asked = q->asked;
		call.result = buf_cstr(&out);
		if (tlsrpt_call_run(s, &call, tlsrpt_answer_fn, false) != 0)
			log_warnx("event=tlsrpt.request day=%s error=\"answer"
			    " not stored\"", q->day);
		buf_fini(&out);
	}
	free(r.v);
}

/* ------------------------------------------------------------ thread */

static int64_t
tlsrpt_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static void *
tlsrpt_thread(void *arg)
{
	struct tlsrpt_sender *s = arg;
	int64_t next_store = tlsrpt_mono() + TLSRPT_STORE_INTERVAL;
	int64_t next_poll = 0;
	struct err err;

	for (;;) {
		struct timespec ts;
		char day[11];
		int64_t now;

		pthread_mutex_lock(&s->lock);
		if (!atomic_load(&s->stopping)) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		}
		pthread_mutex_unlock(&s->lock);
		if (atomic_load(&s->stopping))
			break;
		if (tlsrpt_mono() >= next_store) {
			tlsrpt_store(s);
			next_store = tlsrpt_mono() + TLSRPT_STORE_INTERVAL;
		}
		if (s->rd == NULL && (s->rd = spool_reader_open(s->data_dir,
		    &err)) == NULL) {
			log_error("event=tlsrpt.read error=\"%s\"", err.msg);
			continue;
		}
		if (tlsrpt_mono() >= next_poll) {
			tlsrpt_requests(s);
			next_poll = tlsrpt_mono() + TLSRPT_POLL_INTERVAL;
		}
		/* the day before ends TLSRPT_GRACE after 00:00 UTC */
		now = time(NULL);
		tlsrpt_day_of(now - TLSRPT_GRACE, day);
		if (strcmp(day, s->reported) != 0 || now >= s->next_pass) {
			tlsrpt_pass(s, day);
			memcpy(s->reported, day, sizeof(day));
		}
	}
	/* the last counts, while the queue manager still runs */
	tlsrpt_store(s);
	return NULL;
}

struct tlsrpt_sender *
tlsrpt_sender_start(const char *data_dir, struct conf_live *live,
    struct qmgr *q, struct tlsrpt *counts, struct err *err)
{
	struct tlsrpt_sender *s = xcalloc(1, sizeof(*s));
	pthread_condattr_t ca;
	int r;

	s->data_dir = xstrdup(data_dir);
	s->live = live;
	s->q = q;
	s->counts = counts;
	atomic_init(&s->stopping, false);
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((r = pthread_create(&s->thread, NULL, tlsrpt_thread, s)) != 0) {
		err_set(err, r, "pthread_create: %s", strerror(r));
		tlsrpt_sender_free(s);
		return NULL;
	}
	s->running = true;
	(void)pthread_setname_np(s->thread, "relais-tlsrpt");
	return s;
}

void
tlsrpt_sender_stop(struct tlsrpt_sender *s)
{
	if (s == NULL || !s->running)
		return;
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->stopping, true);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	s->running = false;
}

void
tlsrpt_sender_free(struct tlsrpt_sender *s)
{
	if (s == NULL)
		return;
	tlsrpt_sender_stop(s);
	spool_reader_close(s->rd);
	tlsrpt_counts_free(s->pending, s->npending);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s->data_dir);
	free(s);
}
