/* SPDX-License-Identifier: ISC */
/*
 * sts.c - the MTA-STS policy service (RFC 8461): a cache of policies
 * that any thread reads without waiting, and one thread ("relais-sts")
 * that looks them up (sts_fetch.c) on its own event_base, resolver and
 * libcurl multi handle. See sts.h.
 *
 * The cache (under one mutex) holds, per domain: the policy (kept until
 * it expires, also when the TXT record or the web server goes away,
 * RFC 8461 3.3 and 5.1), whether a lookup runs and who waits for it,
 * when the next background check is due, and, when nothing usable is
 * known, until when sts_get answers STS_NO without looking again.
 * Bounded: past STS_CACHE_MAX domains the least recently asked for is
 * dropped (never one whose lookup runs). A domain without a policy costs
 * an entry of about a hundred bytes; the policy (8 KB with its mx
 * patterns) is allocated only for the domains that have one.
 *
 *   sts_get: policy in force ---------------------------> STS_GOT
 *              (next check due: a lookup in the background)
 *            lookup running ----------------------------> STS_PENDING
 *            settled without a policy, < STS_NEG_TTL ago -> STS_NO
 *            else: queue a lookup for the thread -------> STS_PENDING
 *
 * A lookup of a domain with a policy in force passes the policy's id:
 * the TXT record naming the same id ends it there (nothing fetched),
 * unless half the policy's max_age has passed, when the policy is
 * fetched again to renew it. The TXT id is checked at least every
 * STS_RECHECK seconds of use, so a new id brings a new policy soon. A
 * failed lookup keeps the cached policy until it expires (another try
 * after STS_RETRY); an expired policy is forgotten by the first lookup
 * that does not renew it.
 *
 * Each fetched policy is logged once (event=sts.policy, or event=sts.fail
 * with the reason) and handed to the store hook, which keeps it in the
 * spool (table sts_policies, through the queue manager); sts_new loads
 * that table, so a restart applies the policies still in force.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "live/conf_live.h"
#include "net/curlev.h"
#include "net/dns.h"
#include "spool/spool.h"
#include "tlspol/sts.h"
#include "tlspol/sts_int.h"

#define STS_CACHE_MAX	100000	/* domains kept in memory */
#define STS_NEG_TTL	300	/* no usable policy: STS_NO this long */
#define STS_SETTLED	5	/* a settled answer stands at least this long */
#define STS_RECHECK	3600	/* the TXT id of a policy in use checked */
#define STS_RETRY	300	/* a failed refresh tried again after */
#define STS_BUCKETS	256	/* first size of the hash table */
#define STS_RUNS_MAX	32	/* lookups at once; the rest wait */

struct sts_waiter {
	struct sts_waiter	*next;
	sts_done_fn		*done;
	void			*arg;
};

struct sts_entry {
	struct sts_entry	*hnext;		/* hash chain */
	struct sts_entry	*older, *newer;	/* by last use */
	uint32_t		 hash;
	char			*domain;
	struct sts_policy	*pol;		/* a policy, maybe expired, or
						   NULL */
	bool			 running;	/* a lookup queued or running */
	int64_t			 next_check;	/* pol: background lookup
						   from then */
	int64_t			 neg_until;	/* nothing usable: STS_NO
						   until then */
	enum tls_result		 fail;		/* of the last lookup */
	struct sts_waiter	*waiters;
};

/* a domain sts_get queued for the thread */
struct sts_req {
	struct sts_req		*next;
	char			 domain[256];
};

/* a lookup running on the thread */
struct sts_run {
	struct sts		*s;
	struct sts_fetch	*f;
	struct sts_run		*prev, *next;
};

struct sts {
	struct conf_live	*live;
	sts_store_fn		*store;
	void			*store_arg;

	/* the thread's */
	struct event_base	*base;
	struct dns		*dns;
	struct curlev		*curl;
	struct event		*wake;
	pthread_t		 thread;
	bool			 running;
	struct sts_run		*runs;
	size_t			 nruns;
	struct sts_req		*wait_head, *wait_tail;	/* past
						   STS_RUNS_MAX, in order */

	/* shared, under lock */
	pthread_mutex_t		 lock;
	bool			 stop;		/* sts_stop asked */
	bool			 stopped;	/* no lookup starts any more */
	struct sts_entry	**buckets;
	size_t			 nbuckets;
	size_t			 n;
	struct sts_entry	*oldest, *newest;
	struct sts_req		*req_head, *req_tail;
};

/* --- the cache (under s->lock) ------------------------------------------ */

static uint32_t
sts_hash(const char *d)
{
	uint32_t h = 2166136261u;

	for (; *d; d++)
		h = (h ^ (uint8_t)*d) * 16777619u;
	return h;
}

static struct sts_entry *
sts_find(struct sts *s, const char *domain, uint32_t h)
{
	struct sts_entry *e;

	for (e = s->buckets[h & (s->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && strcmp(e->domain, domain) == 0)
			return e;
	return NULL;
}

/* sts_usable - e holds a policy in force at now */
static bool
sts_usable(const struct sts_entry *e, int64_t now)
{
	return e->pol != NULL && e->pol->expires > now;
}

static void
sts_lru_unlink(struct sts *s, struct sts_entry *e)
{
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		s->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		s->newest = e->older;
	e->older = e->newer = NULL;
}

static void
sts_lru_append(struct sts *s, struct sts_entry *e)
{
	e->older = s->newest;
	e->newer = NULL;
	if (s->newest != NULL)
		s->newest->newer = e;
	else
		s->oldest = e;
	s->newest = e;
}

/* sts_touch - e was just asked for */
static void
sts_touch(struct sts *s, struct sts_entry *e)
{
	if (s->newest != e) {
		sts_lru_unlink(s, e);
		sts_lru_append(s, e);
	}
}

static void
sts_waiters_free(struct sts_waiter *w)
{
	while (w != NULL) {
		struct sts_waiter *next = w->next;

		free(w);
		w = next;
	}
}

static void
sts_entry_remove(struct sts *s, struct sts_entry *e)
{
	struct sts_entry **pp = &s->buckets[e->hash & (s->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	sts_lru_unlink(s, e);
	sts_waiters_free(e->waiters);
	free(e->pol);
	free(e->domain);
	free(e);
	s->n--;
}

static void
sts_grow(struct sts *s)
{
	size_t n = s->nbuckets * 2;
	struct sts_entry **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < s->nbuckets; i++) {
		struct sts_entry *e = s->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

/* sts_entry_add - a new entry for domain, the least recently used ones
   dropped past STS_CACHE_MAX (not those whose lookup runs): first those
   without a policy (dropping an enforced policy would let an attacker
   who blocks its fetch downgrade the domain, RFC 8461 5.1), then, if
   none of the oldest 64 qualifies, any */
static struct sts_entry *
sts_entry_add(struct sts *s, const char *domain, uint32_t h)
{
	struct sts_entry *e, *old, *next;
	size_t looked = 0;

	for (old = s->oldest; s->n >= STS_CACHE_MAX && old != NULL &&
	    looked < 64; old = next, looked++) {
		next = old->newer;
		if (!old->running && old->pol == NULL)
			sts_entry_remove(s, old);
	}
	looked = 0;
	for (old = s->oldest; s->n >= STS_CACHE_MAX && old != NULL &&
	    looked < 64; old = next, looked++) {
		next = old->newer;
		if (!old->running)
			sts_entry_remove(s, old);
	}
	if (s->n >= s->nbuckets)
		sts_grow(s);
	e = xcalloc(1, sizeof(*e));
	e->hash = h;
	e->domain = xstrdup(domain);
	e->fail = TLS_R_OK;
	e->hnext = s->buckets[h & (s->nbuckets - 1)];
	s->buckets[h & (s->nbuckets - 1)] = e;
	sts_lru_append(s, e);
	s->n++;
	return e;
}

static void
sts_wait_add(struct sts_entry *e, sts_done_fn *done, void *arg)
{
	struct sts_waiter *w;

	if (done == NULL)
		return;
	w = xmalloc(sizeof(*w));
	w->done = done;
	w->arg = arg;
	w->next = e->waiters;
	e->waiters = w;
}

/* sts_queue - a lookup of e for the thread; the caller wakes it */
static void
sts_queue(struct sts *s, struct sts_entry *e)
{
	struct sts_req *r = xcalloc(1, sizeof(*r));

	e->running = true;
	snprintf(r->domain, sizeof(r->domain), "%s", e->domain);
	if (s->req_tail != NULL)
		s->req_tail->next = r;
	else
		s->req_head = r;
	s->req_tail = r;
}

/* sts_next_check - when a policy fetched at p->fetched is looked at
   again: at half its max_age, within STS_RECHECK from now */
static int64_t
sts_next_check(const struct sts_policy *p, int64_t now)
{
	int64_t t = p->fetched + (int64_t)p->max_age / 2;

	if (t > now + STS_RECHECK)
		t = now + STS_RECHECK;
	return t > now ? t : now + 1;
}

/* --- sts_get ---------------------------------------------------------- */

enum sts_get_status
sts_get(struct sts *s, const char *domain, struct sts_policy *out,
    enum tls_result *fail, sts_done_fn *done, void *arg)
{
	char d[256];
	struct sts_entry *e;
	int64_t now = (int64_t)time(NULL);
	enum sts_get_status st;
	bool wake = false;
	size_t len = domain ? strlen(domain) : 0;
	uint32_t h;

	if (fail != NULL)
		*fail = TLS_R_OK;
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (s == NULL || len == 0 || len >= sizeof(d))
		return STS_NO;
	for (size_t i = 0; i < len; i++)
		d[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z' ?
		    domain[i] - 'A' + 'a' : domain[i]);
	d[len] = '\0';
	if (!sts_domain_valid(d))
		return STS_NO;
	h = sts_hash(d);

	pthread_mutex_lock(&s->lock);
	e = sts_find(s, d, h);
	if (e != NULL && sts_usable(e, now)) {
		if (out != NULL)
			*out = *e->pol;
		sts_touch(s, e);
		if (!e->running && now >= e->next_check && !s->stopped) {
			sts_queue(s, e);	/* in the background */
			wake = true;
		}
		st = STS_GOT;
	} else if (e != NULL && e->running) {
		sts_wait_add(e, done, arg);
		st = STS_PENDING;
	} else if (e != NULL && (now < e->neg_until || s->stopped)) {
		if (fail != NULL)
			*fail = e->fail;
		sts_touch(s, e);
		st = STS_NO;
	} else if (s->stopped) {
		st = STS_NO;
	} else {
		if (e == NULL)
			e = sts_entry_add(s, d, h);
		else
			sts_touch(s, e);
		sts_wait_add(e, done, arg);
		sts_queue(s, e);
		wake = true;
		st = STS_PENDING;
	}
	pthread_mutex_unlock(&s->lock);
	if (wake)
		event_active(s->wake, EV_READ, 0);
	return st;
}

/* --- the thread ------------------------------------------------------- */

static void
sts_log_result(const char *domain, const struct sts_result *r, bool kept)
{
	char q[600];

	switch (r->outcome) {
	case STS_OUT_POLICY:
		log_info("event=sts.policy domain=%s mode=%s max_age=%u id=%s"
		    " mx=%zu", domain, sts_mode_str(r->policy.mode),
		    r->policy.max_age, r->policy.id, r->policy.nmx);
		break;
	case STS_OUT_FAIL:
		log_info("event=sts.fail domain=%s error=%s%s", domain,
		    log_quote(q, sizeof(q), r->error, strlen(r->error)),
		    kept ? " cached=kept" : "");
		break;
	case STS_OUT_UNCHANGED:
		log_debug("event=sts.unchanged domain=%s id=%s", domain, r->id);
		break;
	case STS_OUT_NONE:
		log_debug("event=sts.none domain=%s%s", domain,
		    kept ? " cached=kept" : "");
		break;
	}
}

/* sts_settle - a lookup of domain ended with r: the cache, the log, the
   store hook, then whoever waited */
static void
sts_settle(struct sts *s, const char *domain, const struct sts_result *r)
{
	int64_t now = (int64_t)time(NULL);
	struct sts_entry *e;
	struct sts_waiter *w;
	struct sts_policy pol;
	bool put = false, forget = false, usable, kept = false;

	memset(&pol, 0, sizeof(pol));

	pthread_mutex_lock(&s->lock);
	if ((e = sts_find(s, domain, sts_hash(domain))) == NULL) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	e->running = false;
	usable = sts_usable(e, now);
	switch (r->outcome) {
	case STS_OUT_POLICY:
		if (e->pol == NULL)
			e->pol = xmalloc(sizeof(*e->pol));
		*e->pol = r->policy;
		e->fail = TLS_R_OK;
		e->next_check = sts_next_check(e->pol, now);
		pol = *e->pol;
		put = true;
		break;
	case STS_OUT_UNCHANGED:
		e->fail = TLS_R_OK;
		if (e->pol != NULL)
			e->next_check = sts_next_check(e->pol, now);
		break;
	case STS_OUT_NONE:
	case STS_OUT_FAIL:
		e->fail = r->outcome == STS_OUT_FAIL ? r->fail : TLS_R_OK;
		if (usable) {
			/* RFC 8461 5.1: the cached policy still applies */
			kept = true;
			e->next_check = now + (r->outcome == STS_OUT_FAIL ?
			    STS_RETRY : STS_RECHECK);
		} else if (e->pol != NULL) {
			free(e->pol);
			e->pol = NULL;
			forget = true;
		}
		break;
	}
	usable = sts_usable(e, now);
	/* settled: the next sts_get answers without looking again (a
	   policy that expires at once, max_age 0, counts as none) */
	e->neg_until = now + (usable ? STS_SETTLED : STS_NEG_TTL);
	w = e->waiters;
	e->waiters = NULL;
	pthread_mutex_unlock(&s->lock);

	sts_log_result(domain, r, kept);
	if (s->store != NULL && put)
		s->store(s->store_arg, domain, &pol);
	else if (s->store != NULL && forget)
		s->store(s->store_arg, domain, NULL);
	for (struct sts_waiter *x = w; x != NULL; x = x->next)
		x->done(x->arg, domain);
	sts_waiters_free(w);
}

static void
sts_run_unlink(struct sts *s, struct sts_run *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		s->runs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
}

static void	sts_run_more(struct sts *s);

static void
sts_run_done(void *arg, const char *domain, const struct sts_result *res)
{
	struct sts_run *r = arg;
	struct sts *s = r->s;

	sts_run_unlink(s, r);
	s->nruns--;
	free(r);
	sts_settle(s, domain, res);
	sts_run_more(s);
}

/* sts_run_start - the lookup of domain, on the thread */
static void
sts_run_start(struct sts *s, const char *domain)
{
	struct sts_fetch_ctx ctx;
	struct sts_result res;
	struct conf_snap *snap;
	struct sts_entry *e;
	struct sts_run *r;
	struct err err;
	char known[STS_ID_MAX + 1] = "";
	int64_t now = (int64_t)time(NULL);
	bool force = true;

	pthread_mutex_lock(&s->lock);
	e = sts_find(s, domain, sts_hash(domain));
	if (e != NULL && sts_usable(e, now)) {
		memcpy(known, e->pol->id, sizeof(known));
		force = now >= e->pol->fetched + (int64_t)e->pol->max_age / 2;
	}
	pthread_mutex_unlock(&s->lock);

	snap = conf_live_get(s->live);
	ctx.base = s->base;
	ctx.dns = dns_resolver(s->dns);
	ctx.curl = s->curl;
	ctx.ca_file = snap->conf->relay.ca_file;
	r = xcalloc(1, sizeof(*r));
	r->s = s;
	r->f = sts_fetch_start(&ctx, domain, known, force, sts_run_done, r,
	    &err);
	conf_snap_unref(snap);
	if (r->f == NULL) {
		free(r);
		memset(&res, 0, sizeof(res));
		res.outcome = STS_OUT_FAIL;
		res.fail = TLS_R_OK;
		snprintf(res.error, sizeof(res.error), "%s", err.msg);
		sts_settle(s, domain, &res);
		return;
	}
	r->next = s->runs;
	if (s->runs != NULL)
		s->runs->prev = r;
	s->runs = r;
	s->nruns++;
}

/* sts_run_more - start waiting lookups while fewer than STS_RUNS_MAX
   run: domains whose policy hosts never answer hold a socket each for
   up to a minute, and must not take the process's descriptors */
static void
sts_run_more(struct sts *s)
{
	struct sts_req *q;

	while (s->nruns < STS_RUNS_MAX && (q = s->wait_head) != NULL) {
		if ((s->wait_head = q->next) == NULL)
			s->wait_tail = NULL;
		sts_run_start(s, q->domain);
		free(q);
	}
}

/* sts_wake_cb - lookups queued by sts_get, or sts_stop */
static void
sts_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sts *s = arg;
	struct sts_req *reqs, *next;
	bool stop;

	pthread_mutex_lock(&s->lock);
	stop = s->stop;
	reqs = s->req_head;
	s->req_head = s->req_tail = NULL;
	pthread_mutex_unlock(&s->lock);
	for (; reqs != NULL; reqs = next) {
		next = reqs->next;
		if (stop) {
			free(reqs);
			continue;
		}
		reqs->next = NULL;
		if (s->wait_tail != NULL)
			s->wait_tail->next = reqs;
		else
			s->wait_head = reqs;
		s->wait_tail = reqs;
	}
	if (!stop) {
		sts_run_more(s);
		return;
	}
	while ((reqs = s->wait_head) != NULL) {
		s->wait_head = reqs->next;
		free(reqs);
	}
	s->wait_tail = NULL;
	while (s->runs != NULL) {
		struct sts_run *r = s->runs;

		sts_run_unlink(s, r);
		sts_fetch_cancel(r->f);
		free(r);
	}
	event_base_loopexit(s->base, NULL);
}

static void *
sts_thread(void *arg)
{
	struct sts *s = arg;

	event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* --- life ------------------------------------------------------------- */

/* sts_load_row - one stored policy into the cache */
static void
sts_load_row(void *arg, const struct spool_sts *row)
{
	struct sts *s = arg;
	struct sts_policy p;
	struct sts_entry *e;
	struct err err;
	int64_t now = (int64_t)time(NULL);

	if (!sts_domain_valid(row->domain) || strlen(row->id) > STS_ID_MAX ||
	    sts_policy_parse(row->policy, strlen(row->policy), &p,
	    &err) == -1) {
		log_warnx("event=sts.load domain=%s error=\"unreadable stored"
		    " policy\"", sts_domain_valid(row->domain) ? row->domain :
		    "(invalid)");
		return;
	}
	snprintf(p.id, sizeof(p.id), "%s", row->id);
	p.fetched = row->fetched;
	p.expires = row->expires;
	if (sts_find(s, row->domain, sts_hash(row->domain)) != NULL ||
	    s->n >= STS_CACHE_MAX)
		return;
	e = sts_entry_add(s, row->domain, sts_hash(row->domain));
	e->pol = xmalloc(sizeof(*e->pol));
	*e->pol = p;
	e->next_check = sts_next_check(&p, now);
}

struct sts *
sts_new(struct conf_live *live, const char *data_dir, struct err *err)
{
	struct sts *s = xcalloc(1, sizeof(*s));
	struct conf_snap *snap = conf_live_get(live);
	struct spool_reader *rd;

	s->live = live;
	pthread_mutex_init(&s->lock, NULL);
	s->nbuckets = STS_BUCKETS;
	s->buckets = xcalloc(s->nbuckets, sizeof(*s->buckets));
	/* the policies kept in the spool; without them (a spool this
	   account cannot open here) relais starts with an empty cache and
	   fetches policies again, which is what a first start does */
	if ((rd = spool_reader_open(data_dir, err)) == NULL ||
	    spool_reader_sts(rd, (int64_t)time(NULL), STS_CACHE_MAX,
	    sts_load_row, s, err) == -1)
		log_warnx("event=sts.load error=\"%s\"", err->msg);
	if (rd != NULL)
		spool_reader_close(rd);
	err->msg[0] = '\0';
	if ((s->base = event_base_new()) == NULL) {
		err_set(err, ENOMEM, "MTA-STS: event base");
		goto fail;
	}
	if ((s->dns = dns_new(s->base, snap->conf->dns.resolver, snap->conf->dns.trust_anchor,
	    snap->conf->dns.timeout, err)) == NULL ||
	    (s->curl = curlev_new(s->base, err)) == NULL)
		goto fail;
	if ((s->wake = event_new(s->base, -1, 0, sts_wake_cb, s)) == NULL) {
		err_set(err, ENOMEM, "MTA-STS: event");
		goto fail;
	}
	log_info("event=sts.load policies=%zu", s->n);
	conf_snap_unref(snap);
	return s;
fail:
	conf_snap_unref(snap);
	sts_free(s);
	return NULL;
}

void
sts_set_store(struct sts *s, sts_store_fn *fn, void *arg)
{
	s->store = fn;
	s->store_arg = arg;
}

int
sts_start(struct sts *s, struct err *err)
{
	int r;

	if ((r = pthread_create(&s->thread, NULL, sts_thread, s)) != 0)
		return err_set(err, r, "MTA-STS: thread: %s", strerror(r));
	s->running = true;
	(void)pthread_setname_np(s->thread, "relais-sts");
	/* what sts_get queued before */
	event_active(s->wake, EV_READ, 0);
	return 0;
}

void
sts_stop(struct sts *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	s->stopped = true;
	pthread_mutex_unlock(&s->lock);
	if (s->running) {
		event_active(s->wake, EV_READ, 0);
		pthread_join(s->thread, NULL);
		s->running = false;
	}
	/* lookups that will not end: nobody waits for them any more */
	pthread_mutex_lock(&s->lock);
	for (struct sts_entry *e = s->oldest; e != NULL; e = e->newer) {
		e->running = false;
		sts_waiters_free(e->waiters);
		e->waiters = NULL;
	}
	pthread_mutex_unlock(&s->lock);
}

void
sts_free(struct sts *s)
{
	struct sts_req *r, *next;

	if (s == NULL)
		return;
	sts_stop(s);
	while (s->oldest != NULL)
		sts_entry_remove(s, s->oldest);
	for (r = s->req_head; r != NULL; r = next) {
		next = r->next;
		free(r);
	}
	if (s->wake != NULL)
		event_free(s->wake);
	curlev_free(s->curl);
	dns_free(s->dns);
	if (s->base != NULL)
		event_base_free(s->base);
	free(s->buckets);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* --- sts_fetch_sync ---------------------------------------------------- */

struct sts_sync {
	bool			 done;
	struct sts_result	 res;
};

static void
sts_sync_done(void *arg, const char *domain, const struct sts_result *r)
{
	struct sts_sync *y = arg;

	y->res = *r;
	y->done = true;
}

int
sts_fetch_sync(struct conf_live *live, const char *domain,
    struct sts_policy *out, struct err *err)
{
	struct conf_snap *snap = conf_live_get(live);
	struct sts_fetch_ctx ctx;
	struct sts_fetch *f;
	struct sts_sync y;
	struct event_base *base;
	struct dns *dns = NULL;
	struct curlev *curl = NULL;
	int rc = -1;

	memset(&y, 0, sizeof(y));
	if ((base = event_base_new()) == NULL) {
		err_set(err, ENOMEM, "event base");
		goto out;
	}
	if ((dns = dns_new(base, snap->conf->dns.resolver, snap->conf->dns.trust_anchor,
	    snap->conf->dns.timeout, err)) == NULL ||
	    (curl = curlev_new(base, err)) == NULL)
		goto out;
	ctx.base = base;
	ctx.dns = dns_resolver(dns);
	ctx.curl = curl;
	ctx.ca_file = snap->conf->relay.ca_file;
	if ((f = sts_fetch_start(&ctx, domain, NULL, true, sts_sync_done, &y,
	    err)) == NULL)
		goto out;
	while (!y.done)
		if (event_base_loop(base, EVLOOP_ONCE) == -1) {
			sts_fetch_cancel(f);
			err_set(err, 0, "event loop failed");
			goto out;
		}
	switch (y.res.outcome) {
	case STS_OUT_POLICY:
		*out = y.res.policy;
		rc = 1;
		break;
	case STS_OUT_FAIL:
		err_set(err, (int)y.res.fail, "%s", y.res.error);
		break;
	default:
		rc = 0;
		break;
	}
out:
	curlev_free(curl);
	dns_free(dns);
	if (base != NULL)
		event_base_free(base);
	conf_snap_unref(snap);
	return rc;
}
