/* SPDX-License-Identifier: ISC */
/*
 * worker.c - event-loop threads; see worker.h. What runs on them (SMTP
 * sessions, outbound deliveries) comes through struct worker_ops: this
 * file knows neither the server nor the outbound agent.
 *
 * Stopping (SIGTERM): the worker closes its listeners, tells every session
 * to stop (idle ones get 421 at once, those in DATA or waiting for the
 * spool may finish for a bounded time), and leaves its loop when no
 * session is left or the grace period is over.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "net/worker.h"

#define WORKER_STOP_GRACE	30	/* seconds for sessions to finish */
#define WORKER_SCRATCH		(64 * 1024)

static void
worker_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listen_sock *sock = arg;
	struct worker *w = sock->worker;

	w->ctx->ops->accept(w, fd, sa, sock);
}

static void
worker_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	errno = e;
	log_warn("event=smtp.accept.error");
}

static void
worker_inbox_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_msg *m, *next;

	pthread_mutex_lock(&w->lock);
	m = w->inbox;
	w->inbox = NULL;
	pthread_mutex_unlock(&w->lock);
	/* the inbox is LIFO; answer in arrival order */
	struct worker_msg *rev = NULL;
	for (; m; m = next) {
		next = m->next;
		m->next = rev;
		rev = m;
	}
	for (m = rev; m; m = next) {
		struct smtp_session *s;

		next = m->next;
		if (m->call != NULL) {
			m->call(w, m->data);
		} else {
			s = idmap_get(&w->sessions, m->session_id);
			m->fn(s, m->status, m->data);
		}
		free(m);
	}
}

static void
worker_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	log_info("event=worker.stop.forced worker=%u sessions=%zu", w->index,
	    w->sessions.len);
	event_base_loopbreak(w->base);
}

void
worker_check_done(struct worker *w)
{
	if (w->stopping && w->sessions.len == 0)
		event_base_loopbreak(w->base);
}

static void
worker_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval tv = { WORKER_STOP_GRACE, 0 };
	uint64_t *ids;
	size_t n = 0;

	if (w->stopping)
		return;
	w->stopping = true;
	/* outbound connections close; their jobs stay leased */
	if (w->ctx->ops->outbound_stop != NULL)
		w->ctx->ops->outbound_stop(w);
	for (size_t i = 0; i < w->nsocks; i++) {
		if (w->levs[i] != NULL)
			evconnlistener_free(w->levs[i]);
		w->levs[i] = NULL;
		w->socks[i].fd = -1;	/* closed with the listener */
	}
	/* shutting a session down may free it: collect the ids first */
	ids = xcalloc(w->sessions.len + 1, sizeof(*ids));
	for (size_t i = 0; i < w->sessions.cap; i++) {
		uint64_t id = w->sessions.slots[i].id;

		if (id != 0 && id != UINT64_MAX)
			ids[n++] = id;
	}
	for (size_t i = 0; i < n; i++) {
		struct smtp_session *s = idmap_get(&w->sessions, ids[i]);

		if (s != NULL)
			w->ctx->ops->session_shutdown(s);
	}
	free(ids);
	w->stop_timer = evtimer_new(w->base, worker_grace_cb, w);
	evtimer_add(w->stop_timer, &tv);
	worker_check_done(w);
}

int
worker_init(struct worker *w, unsigned index, struct worker_ctx *ctx,
    struct listen_sock *socks, size_t nsocks)
{
	memset(w, 0, sizeof(*w));
	w->index = index;
	w->ctx = ctx;
	w->socks = socks;
	w->nsocks = nsocks;
	pthread_mutex_init(&w->lock, NULL);
	idmap_init(&w->sessions);
	w->scratch_len = WORKER_SCRATCH;
	w->scratch = xmalloc(WORKER_SCRATCH + 16);
	if ((w->base = event_base_new()) == NULL) {
		log_warnx("event=worker.init error=\"event_base_new failed\"");
		return -1;
	}
	w->levs = xcalloc(nsocks ? nsocks : 1, sizeof(*w->levs));
	for (size_t i = 0; i < nsocks; i++) {
		socks[i].worker = w;
		w->levs[i] = evconnlistener_new(w->base, worker_accept_cb,
		    &socks[i], LEV_OPT_CLOSE_ON_FREE, -1, socks[i].fd);
		if (w->levs[i] == NULL) {
			log_warnx("event=worker.init error=\"listener failed\"");
			return -1;
		}
		evconnlistener_set_error_cb(w->levs[i], worker_accept_error_cb);
	}
	w->inbox_ev = event_new(w->base, -1, 0, worker_inbox_cb, w);
	w->stop_ev = event_new(w->base, -1, 0, worker_stop_cb, w);
	return 0;
}

static void *
worker_thread(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

int
worker_start(struct worker *w)
{
	char name[16];
	int r;

	if ((r = pthread_create(&w->thread, NULL, worker_thread, w)) != 0) {
		errno = r;
		log_warn("event=worker.start");
		return -1;
	}
	w->running = true;
	(void)snprintf(name, sizeof(name), "relais-w%u", w->index);
	(void)pthread_setname_np(w->thread, name);
	return 0;
}

void
worker_stop(struct worker *w)
{
	event_active(w->stop_ev, EV_READ, 0);
}

void
worker_join(struct worker *w)
{
	if (w->running)
		pthread_join(w->thread, NULL);
	w->running = false;
}

void
worker_fini(struct worker *w)
{
	struct worker_msg *m;

	/* sessions left after the grace period: closed without a word */
	while (w->sessions.len > 0) {
		for (size_t i = 0; i < w->sessions.cap; i++) {
			uint64_t id = w->sessions.slots[i].id;

			if (id != 0 && id != UINT64_MAX) {
				w->ctx->ops->session_free(
				    w->sessions.slots[i].val);
				break;
			}
		}
	}
	for (size_t i = 0; w->levs && i < w->nsocks; i++) {
		if (w->levs[i] != NULL) {
			evconnlistener_free(w->levs[i]);	/* closes fd */
			w->socks[i].fd = -1;
		}
	}
	free(w->levs);
	while ((m = w->inbox) != NULL) {
		w->inbox = m->next;
		if (m->call != NULL)
			m->call(w, m->data);
		else
			m->fn(NULL, m->status, m->data);
		free(m);
	}
	if (w->inbox_ev)
		event_free(w->inbox_ev);
	if (w->stop_ev)
		event_free(w->stop_ev);
	if (w->stop_timer)
		event_free(w->stop_timer);
	if (w->ctx->ops->outbound_free != NULL)
		w->ctx->ops->outbound_free(w);
	if (w->base) {
		/* a bufferevent freed with a deferred callback pending keeps
		   a reference until that callback runs: one pass lets it go,
		   and event_base_free runs the finalizers that free it */
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		event_base_free(w->base);
	}
	idmap_fini(&w->sessions);
	pthread_mutex_destroy(&w->lock);
	free(w->scratch);
}

void
worker_call(struct worker *w, worker_call_fn *fn, void *data)
{
	struct worker_msg *m = xcalloc(1, sizeof(*m));

	m->call = fn;
	m->data = data;
	pthread_mutex_lock(&w->lock);
	m->next = w->inbox;
	w->inbox = m;
	pthread_mutex_unlock(&w->lock);
	event_active(w->inbox_ev, EV_READ, 0);
}

void
worker_post(struct worker *w, uint64_t session_id, worker_fn *fn, int status,
    void *data)
{
	struct worker_msg *m = xcalloc(1, sizeof(*m));

	m->session_id = session_id;
	m->fn = fn;
	m->status = status;
	m->data = data;
	pthread_mutex_lock(&w->lock);
	m->next = w->inbox;
	w->inbox = m;
	pthread_mutex_unlock(&w->lock);
	event_active(w->inbox_ev, EV_READ, 0);
}
