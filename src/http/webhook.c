/* SPDX-License-Identifier: ISC */
/*
 * webhook.c - the webhook thread ("relais-hook"): delivery events from
 * the spool POSTed in batches to [webhooks] url; see webhook.h.
 *
 * The thread has its own event_base and one libcurl multi handle driven
 * by it (libcurl's "multi-socket" interface: CURLMOPT_SOCKETFUNCTION asks
 * for an event per socket, CURLMOPT_TIMERFUNCTION for one timer). At
 * most one POST is in flight, so the events reach the receiver in order.
 *
 *   IDLE --tick--> read events after the cursor; none: tick in 1 s
 *        --------> POST ---- 2xx ----> COMMIT (qmgr_call) --done--> IDLE, tick now
 *                       \--- other --> IDLE, the same batch after the back-off
 *
 * The commit's done callback runs on the queue manager's thread: it only
 * records the answer and makes the wake event active (libevent with
 * pthreads locking), whose callback runs here. webhook_stop uses the same
 * event. The thread never ends while a commit is in flight, because the
 * commit's done callback points at this struct.
 *
 * libcurl: no redirects followed, http and https only, TLS verification
 * on (the system CA store), no proxy (the environment's *_proxy is
 * ignored), no signals (threaded resolver), [webhooks] timeout for the
 * whole POST. The answer's body is not used beyond the first bytes,
 * which go to the log of a failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "core/log.h"
#include "core/version.h"
#include "core/xalloc.h"
#include "http/event_json.h"
#include "http/webhook.h"
#include "live/conf_live.h"
#include "queue/qmgr.h"
#include "spool/spool.h"

#define WEBHOOK_POLL_SEC	1	/* look for new events this often */
#define WEBHOOK_ANSWER_MAX	200	/* bytes of an answer kept for the log */
#define WEBHOOK_CURSOR		"webhook_cursor"

enum webhook_state {
	WEBHOOK_IDLE,		/* waiting for the tick */
	WEBHOOK_POST,		/* a POST in flight */
	WEBHOOK_COMMIT,		/* its cursor commit in flight */
};

struct webhook {
	struct conf_live	*live;
	struct qmgr		*q;
	struct spool_reader	*rd;
	struct event_base	*base;
	CURLM			*multi;
	struct event		*curl_timer;	/* libcurl's timeout */
	struct event		*tick;		/* next read or retry */
	struct event		*wake;		/* from other threads */
	pthread_t		 thread;
	bool			 running;

	/* from other threads, under lock */
	pthread_mutex_t		 lock;
	bool			 stop;		/* webhook_stop asked */
	bool			 call_done;	/* the commit answered */
	int			 call_status;

	/* the thread's own */
	enum webhook_state	 state;
	bool			 stopping;
	int64_t			 cursor;	/* last event id delivered */
	char			*body;		/* the batch (kept for retries) */
	size_t			 len;
	size_t			 count;		/* events in it */
	int64_t			 first, last;	/* their ids */
	unsigned		 backoff;	/* seconds; 0 after a success */
	CURL			*easy;		/* the POST in flight */
	struct curl_slist	*headers;
	struct timespec		 posted;
	char			 errbuf[CURL_ERROR_SIZE];
	char			 answer[WEBHOOK_ANSWER_MAX + 1];
	size_t			 answer_len;
};

static void	webhook_next(struct webhook *w);
static void	webhook_check(struct webhook *w);

int
webhook_global_init(struct err *err)
{
	CURLcode rc;

	if ((rc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK)
		return err_set(err, (int)rc, "curl_global_init: %s",
		    curl_easy_strerror(rc));
	return 0;
}

void
webhook_global_cleanup(void)
{
	curl_global_cleanup();
}

/* webhook_tick_in - the next read (or retry) in sec seconds */
static void
webhook_tick_in(struct webhook *w, unsigned sec)
{
	struct timeval tv = { .tv_sec = sec, .tv_usec = 0 };

	evtimer_add(w->tick, &tv);
}

static int64_t
webhook_ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - t0->tv_sec) * 1000 +
	    (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* --- libcurl on the event base ---------------------------------------- */

/* webhook_curl_event_cb - a socket libcurl waits on is ready */
static void
webhook_curl_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;
	int running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(w->multi, fd, action, &running);
	webhook_check(w);
}

/* webhook_curl_timer_cb - libcurl's timeout came */
static void
webhook_curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;
	int running;

	curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	webhook_check(w);
}

/* webhook_curl_socket - CURLMOPT_SOCKETFUNCTION: watch s for what (an
   event per socket, kept as libcurl's socketp) */
static int
webhook_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
	struct webhook *w = userp;
	struct event *ev = socketp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ev == NULL) {
		if ((ev = event_new(w->base, s, kind, webhook_curl_event_cb,
		    w)) == NULL)
			return -1;
		curl_multi_assign(w->multi, s, ev);
	} else {
		event_del(ev);
		event_assign(ev, w->base, s, kind, webhook_curl_event_cb, w);
	}
	return event_add(ev, NULL) == 0 ? 0 : -1;
}

/* webhook_curl_timer - CURLMOPT_TIMERFUNCTION: call back in ms (-1:
   never) */
static int
webhook_curl_timer(CURLM *multi, long ms, void *userp)
{
	struct webhook *w = userp;
	struct timeval tv;

	if (ms < 0) {
		evtimer_del(w->curl_timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return evtimer_add(w->curl_timer, &tv) == 0 ? 0 : -1;
}

/* webhook_curl_write - the answer's body: its start kept for the log */
static size_t
webhook_curl_write(char *p, size_t size, size_t n, void *arg)
{
	struct webhook *w = arg;
	size_t len = size * n, room = WEBHOOK_ANSWER_MAX - w->answer_len;

	if (room > len)
		room = len;
	memcpy(w->answer + w->answer_len, p, room);
	w->answer_len += room;
	w->answer[w->answer_len] = '\0';
	return len;
}

/* webhook_curl_end - forget the POST's handle */
static void
webhook_curl_end(struct webhook *w)
{
	if (w->easy != NULL) {
		curl_multi_remove_handle(w->multi, w->easy);
		curl_easy_cleanup(w->easy);
		w->easy = NULL;
	}
	curl_slist_free_all(w->headers);
	w->headers = NULL;
}

/* --- the batch ---------------------------------------------------------- */

static void
webhook_batch_free(struct webhook *w)
{
	free(w->body);
	w->body = NULL;
	w->len = 0;
	w->count = 0;
}

struct webhook_read {
	json_t		*events;
	int64_t		 first, last;
	size_t		 count;
};

static int
webhook_read_one(void *arg, const struct spool_event *ev)
{
	struct webhook_read *r = arg;
	json_t *j;

	if ((j = event_json(ev)) == NULL ||
	    json_array_append_new(r->events, j) == -1)
		return -1;
	if (r->count++ == 0)
		r->first = ev->id;
	r->last = ev->id;
	return 0;
}

/* webhook_batch_read - up to limit events after the cursor into the
   batch; 0 (w->count may be 0) or -1 logged */
static int
webhook_batch_read(struct webhook *w, size_t limit)
{
	struct webhook_read r = { .count = 0 };
	struct err err;

	if ((r.events = json_array()) == NULL)
		goto oom;
	if (spool_reader_events(w->rd, w->cursor, limit, webhook_read_one,
	    &r, &err) == -1) {
		json_decref(r.events);
		log_error("event=webhook.read error=\"%s\"", err.msg);
		return -1;
	}
	if (r.count == 0) {
		json_decref(r.events);
		return 0;
	}
	if (json_array_size(r.events) != r.count ||
	    (w->body = event_json_batch(r.events, &w->len)) == NULL)
		goto oom;
	w->count = r.count;
	w->first = r.first;
	w->last = r.last;
	return 0;
oom:
	log_error("event=webhook.read error=\"out of memory\"");
	return -1;
}

/* --- one POST --------------------------------------------------------- */

/* webhook_log_url - scheme://host[:port]/path of url, without user
   information or query, for the log */
static void
webhook_log_url(const char *url, char *out, size_t n)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;

	snprintf(out, n, "(unparsable)");
	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		(void)curl_url_get(u, CURLUPART_PORT, &port, 0);
		(void)curl_url_get(u, CURLUPART_PATH, &path, 0);
		snprintf(out, n, "%s://%s%s%s%s", scheme, host,
		    port ? ":" : "", port ? port : "", path ? path : "");
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
}

/* webhook_fail - log a failed POST; the same batch after the back-off */
static void
webhook_fail(struct webhook *w, long status, const char *error)
{
	struct conf_snap *snap = conf_live_get(w->live);
	unsigned max = snap->conf->webhooks.retry_max;
	char q[512];

	conf_snap_unref(snap);
	w->backoff = w->backoff == 0 ? 1 : w->backoff * 2;
	if (w->backoff > max)
		w->backoff = max;
	log_warnx("event=webhook.fail status=%ld error=%s events=%zu"
	    " first=%" PRId64 " last=%" PRId64 " retry_in=%us", status,
	    log_quote(q, sizeof(q), error, strlen(error)), w->count, w->first,
	    w->last, w->backoff);
	w->state = WEBHOOK_IDLE;
	webhook_tick_in(w, w->backoff);
}

/* webhook_post_start - POST the batch to the configured url */
static void
webhook_post_start(struct webhook *w)
{
	struct conf_snap *snap = conf_live_get(w->live);
	const struct conf *conf = snap->conf;
	char sig[WEBHOOK_SIGN_MAX], hdr[sizeof("Relais-Signature: ") +
	    WEBHOOK_SIGN_MAX];
	struct curl_slist *h = NULL;
	struct err err;
	CURLMcode mrc;
	long timeout = (long)conf->webhooks.timeout;

	if (conf->webhooks.url == NULL) {
		/* a reload took the url away: wait for one */
		conf_snap_unref(snap);
		w->state = WEBHOOK_IDLE;
		webhook_tick_in(w, WEBHOOK_POLL_SEC);
		return;
	}
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");	/* no 100-continue wait */
	if (conf->webhooks.secret != NULL && conf->webhooks.secret[0]) {
		if (webhook_sign(conf->webhooks.secret, (int64_t)time(NULL),
		    w->body, w->len, sig, &err) == -1) {
			curl_slist_free_all(h);
			conf_snap_unref(snap);
			webhook_fail(w, 0, err.msg);
			return;
		}
		snprintf(hdr, sizeof(hdr), "Relais-Signature: %s", sig);
		h = curl_slist_append(h, hdr);
	}
	if (h == NULL || (w->easy = curl_easy_init()) == NULL) {
		curl_slist_free_all(h);
		conf_snap_unref(snap);
		webhook_fail(w, 0, "out of memory");
		return;
	}
	w->headers = h;
	w->errbuf[0] = '\0';
	w->answer_len = 0;
	w->answer[0] = '\0';
	curl_easy_setopt(w->easy, CURLOPT_URL, conf->webhooks.url);
	curl_easy_setopt(w->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(w->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(w->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(w->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(w->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(w->easy, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(w->easy, CURLOPT_CONNECTTIMEOUT, timeout);
	curl_easy_setopt(w->easy, CURLOPT_USERAGENT, "relais/" RELAIS_VERSION);
	curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(w->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(w->easy, CURLOPT_POSTFIELDS, w->body);
	curl_easy_setopt(w->easy, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)w->len);
	curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, webhook_curl_write);
	curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->easy, CURLOPT_ERRORBUFFER, w->errbuf);
	conf_snap_unref(snap);
	clock_gettime(CLOCK_MONOTONIC, &w->posted);
	if ((mrc = curl_multi_add_handle(w->multi, w->easy)) != CURLM_OK) {
		webhook_curl_end(w);
		webhook_fail(w, 0, curl_multi_strerror(mrc));
		return;
	}
	w->state = WEBHOOK_POST;
	log_debug("event=webhook.post events=%zu first=%" PRId64
	    " last=%" PRId64 " bytes=%zu", w->count, w->first, w->last,
	    w->len);
}

/* webhook_commit - on the queue manager's thread, in its transaction:
   the cursor moves to the batch's last event (never back) */
static int
webhook_commit(struct qmgr_txn *t, void *arg, struct err *err)
{
	struct webhook *w = arg;
	struct spool *sp = qmgr_txn_spool(t);
	int64_t cur;

	if (spool_var_get(sp, WEBHOOK_CURSOR, &cur, err) == -1)
		return -1;
	if (cur >= w->last)
		return 0;
	return spool_var_set(sp, WEBHOOK_CURSOR, w->last, err);
}

/* webhook_commit_done - on the queue manager's thread, after its commit:
   hand the answer over to ours */
static void
webhook_commit_done(void *arg, int status)
{
	struct webhook *w = arg;

	/* under the lock: once webhook_stop has taken it after the join,
	   this thread touches w no more */
	pthread_mutex_lock(&w->lock);
	w->call_done = true;
	w->call_status = status;
	event_active(w->wake, EV_READ, 0);
	pthread_mutex_unlock(&w->lock);
}

/* webhook_post_done - the POST ended */
static void
webhook_post_done(struct webhook *w, CURLcode rc)
{
	long status = 0;
	int64_t ms = webhook_ms_since(&w->posted);

	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
	webhook_curl_end(w);
	if (rc != CURLE_OK) {
		webhook_fail(w, status, w->errbuf[0] ? w->errbuf :
		    curl_easy_strerror(rc));
		return;
	}
	if (status < 200 || status > 299) {
		char what[WEBHOOK_ANSWER_MAX + 64];

		snprintf(what, sizeof(what), "HTTP %ld%s%s", status,
		    w->answer_len ? ": " : "", w->answer);
		webhook_fail(w, status, what);
		return;
	}
	log_info("event=webhook.sent status=%ld events=%zu first=%" PRId64
	    " last=%" PRId64 " bytes=%zu ms=%" PRId64, status, w->count,
	    w->first, w->last, w->len, ms);
	w->backoff = 0;
	w->state = WEBHOOK_COMMIT;
	qmgr_call(w->q, webhook_commit, webhook_commit_done, w);
}

/* webhook_check - what libcurl finished */
static void
webhook_check(struct webhook *w)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(w->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE || m->easy_handle != w->easy)
			continue;
		webhook_post_done(w, m->data.result);
	}
}

/* --- the loop ----------------------------------------------------------- */

/* webhook_next - send the batch waiting, else read one; nothing to send:
   look again in a second */
static void
webhook_next(struct webhook *w)
{
	struct conf_snap *snap;
	size_t limit;

	if (w->stopping || w->state != WEBHOOK_IDLE)
		return;
	if (w->body == NULL) {
		snap = conf_live_get(w->live);
		limit = snap->conf->webhooks.batch_size;
		conf_snap_unref(snap);
		if (webhook_batch_read(w, limit ? limit : 1) == -1) {
			webhook_tick_in(w, WEBHOOK_POLL_SEC);
			return;
		}
		if (w->count == 0) {
			webhook_tick_in(w, WEBHOOK_POLL_SEC);
			return;
		}
	}
	webhook_post_start(w);
}

static void
webhook_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	webhook_next(arg);
}

/* webhook_wake_cb - a commit answered, or webhook_stop asked */
static void
webhook_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;
	bool stop, done;
	int status;

	pthread_mutex_lock(&w->lock);
	stop = w->stop;
	done = w->call_done;
	status = w->call_status;
	w->call_done = false;
	pthread_mutex_unlock(&w->lock);

	if (done && w->state == WEBHOOK_COMMIT) {
		w->state = WEBHOOK_IDLE;
		if (status == 0) {
			w->cursor = w->last;
			log_debug("event=webhook.cursor id=%" PRId64, w->cursor);
		} else {
			/* the events are read again from the stored cursor
			   and sent again: at least once */
			log_error("event=webhook.fail error=\"the cursor was"
			    " not stored\" events=%zu first=%" PRId64
			    " last=%" PRId64, w->count, w->first, w->last);
			w->backoff = 1;
		}
		webhook_batch_free(w);
		if (!stop) {
			if (status == 0)
				webhook_next(w);
			else
				webhook_tick_in(w, w->backoff);
		}
	}
	if (!stop)
		return;
	if (!w->stopping) {
		w->stopping = true;
		evtimer_del(w->tick);
		if (w->state == WEBHOOK_POST) {
			log_info("event=webhook.stop abandoned=%zu first=%"
			    PRId64 " last=%" PRId64 " note=\"sent again at the"
			    " next start\"", w->count, w->first, w->last);
			webhook_curl_end(w);
			w->state = WEBHOOK_IDLE;
		}
	}
	/* a commit in flight: its done callback points here, wait for it */
	if (w->state != WEBHOOK_COMMIT)
		event_base_loopexit(w->base, NULL);
}

static void *
webhook_thread(void *arg)
{
	struct webhook *w = arg;

	event_active(w->tick, EV_TIMEOUT, 0);
	/* between a POST and its commit nothing is pending: only
	   webhook_stop ends the loop */
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

struct webhook *
webhook_start(const char *data_dir, struct conf_live *live, struct qmgr *q,
    struct err *err)
{
	struct conf_snap *snap = conf_live_get(live);
	const struct conf *conf = snap->conf;
	struct webhook *w = NULL;
	char where[512];
	CURLU *u;
	CURLUcode urc;
	int r;

	err->code = 0;
	err->msg[0] = '\0';
	if (conf->webhooks.url == NULL)
		goto out;
	/* a url libcurl cannot parse is a configuration error */
	if ((u = curl_url()) == NULL) {
		err_set(err, ENOMEM, "webhooks: out of memory");
		goto out;
	}
	urc = curl_url_set(u, CURLUPART_URL, conf->webhooks.url, 0);
	curl_url_cleanup(u);
	if (urc != CURLUE_OK ||
	    (strncmp(conf->webhooks.url, "http://", 7) != 0 &&
	    strncmp(conf->webhooks.url, "https://", 8) != 0)) {
		err_set(err, EINVAL, "[webhooks] url: not an http:// or"
		    " https:// URL: %s", urc != CURLUE_OK ?
		    curl_url_strerror(urc) : "other scheme");
		goto out;
	}
	w = xcalloc(1, sizeof(*w));
	w->live = live;
	w->q = q;
	pthread_mutex_init(&w->lock, NULL);
	if ((w->rd = spool_reader_open(data_dir, err)) == NULL)
		goto fail;
	if (spool_reader_var(w->rd, WEBHOOK_CURSOR, &w->cursor, err) == -1)
		goto fail;
	if ((w->base = event_base_new()) == NULL ||
	    (w->multi = curl_multi_init()) == NULL) {
		err_set(err, ENOMEM, "webhooks: event base or curl multi");
		goto fail;
	}
	w->curl_timer = evtimer_new(w->base, webhook_curl_timer_cb, w);
	w->tick = evtimer_new(w->base, webhook_tick_cb, w);
	w->wake = event_new(w->base, -1, 0, webhook_wake_cb, w);
	if (w->curl_timer == NULL || w->tick == NULL || w->wake == NULL) {
		err_set(err, ENOMEM, "webhooks: events");
		goto fail;
	}
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION,
	    webhook_curl_socket);
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, webhook_curl_timer);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
	webhook_log_url(conf->webhooks.url, where, sizeof(where));
	log_info("event=webhook.start url=%s cursor=%" PRId64 " batch_size=%u"
	    " signed=%s", where, w->cursor, conf->webhooks.batch_size,
	    conf->webhooks.secret && conf->webhooks.secret[0] ? "yes" : "no");
	if (conf->webhooks.secret == NULL || conf->webhooks.secret[0] == '\0')
		log_warnx("event=webhook.start warning=\"[webhooks] secret"
		    " unset: POSTs are not signed\"");
	if ((r = pthread_create(&w->thread, NULL, webhook_thread, w)) != 0) {
		err_set(err, r, "webhooks: thread: %s", strerror(r));
		goto fail;
	}
	w->running = true;
	(void)pthread_setname_np(w->thread, "relais-hook");
	goto out;
fail:
	webhook_free(w);
	w = NULL;
	if (err->msg[0] == '\0')
		err_set(err, EINVAL, "webhooks: cannot start");
out:
	conf_snap_unref(snap);
	return w;
}

void
webhook_stop(struct webhook *w)
{
	if (w == NULL || !w->running)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_mutex_unlock(&w->lock);
	event_active(w->wake, EV_READ, 0);
	pthread_join(w->thread, NULL);
	w->running = false;
	/* the commit's done callback may still be inside the lock */
	pthread_mutex_lock(&w->lock);
	pthread_mutex_unlock(&w->lock);
	log_info("event=webhook.stopped cursor=%" PRId64, w->cursor);
}

void
webhook_free(struct webhook *w)
{
	if (w == NULL)
		return;
	webhook_stop(w);
	webhook_curl_end(w);
	webhook_batch_free(w);
	/* libcurl frees its sockets' events through webhook_curl_socket */
	if (w->multi != NULL)
		curl_multi_cleanup(w->multi);
	if (w->curl_timer != NULL)
		event_free(w->curl_timer);
	if (w->tick != NULL)
		event_free(w->tick);
	if (w->wake != NULL)
		event_free(w->wake);
	if (w->base != NULL)
		event_base_free(w->base);
	spool_reader_close(w->rd);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
