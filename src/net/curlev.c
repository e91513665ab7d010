/* SPDX-License-Identifier: ISC */
/*
 * curlev.c - libcurl's multi-socket interface on a libevent base; see
 * curlev.h. The same arrangement as the webhook thread's (one event per
 * socket kept as libcurl's socketp, one timer), for any number of
 * transfers, each with its own done callback.
 */
#include <errno.h>
#include <stdlib.h>

#include <event2/event.h>

#include "core/xalloc.h"
#include "net/curlev.h"

/* what curlev keeps of a running transfer (its CURLOPT_PRIVATE) */
struct curlev_xfer {
	CURL			*easy;
	curlev_done_fn		*done;
	void			*arg;
	struct curlev_xfer	*prev, *next;
};

struct curlev {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	struct curlev_xfer	*xfers;		/* running */
};

static void
curlev_unlink(struct curlev *c, struct curlev_xfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		c->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
}

/* curlev_xfer_of - the transfer of easy, or NULL */
static struct curlev_xfer *
curlev_xfer_of(CURL *easy)
{
	char *p = NULL;

	if (easy == NULL || curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) !=
	    CURLE_OK)
		return NULL;
	return (struct curlev_xfer *)(void *)p;
}

/* curlev_check - call done for every transfer libcurl finished */
static void
curlev_check(struct curlev *c)
{
	struct curlev_xfer *x;
	CURLMsg *m;
	CURL *easy;
	CURLcode rc;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		easy = m->easy_handle;
		rc = m->data.result;
		if ((x = curlev_xfer_of(easy)) == NULL)
			continue;
		curl_multi_remove_handle(c->multi, easy);
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		curlev_unlink(c, x);
		x->done(x->arg, easy, rc);
		free(x);
	}
}

static void
curlev_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct curlev *c = arg;
	int running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, fd, action, &running);
	curlev_check(c);
}

static void
curlev_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct curlev *c = arg;
	int running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curlev_check(c);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what */
static int
curlev_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
	struct curlev *c = userp;
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
		if ((ev = event_new(c->base, s, kind, curlev_event_cb, c)) ==
		    NULL)
			return -1;
		curl_multi_assign(c->multi, s, ev);
	} else {
		event_del(ev);
		event_assign(ev, c->base, s, kind, curlev_event_cb, c);
	}
	return event_add(ev, NULL) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: call back in ms (-1: never) */
static int
curlev_timer(CURLM *multi, long ms, void *userp)
{
	struct curlev *c = userp;
	struct timeval tv;

	if (ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return evtimer_add(c->timer, &tv) == 0 ? 0 : -1;
}

struct curlev *
curlev_new(struct event_base *base, struct err *err)
{
	struct curlev *c = xcalloc(1, sizeof(*c));

	c->base = base;
	if ((c->multi = curl_multi_init()) == NULL ||
	    (c->timer = evtimer_new(base, curlev_timer_cb, c)) == NULL) {
		err_set(err, ENOMEM, "curl multi handle or its timer");
		curlev_free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curlev_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curlev_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return c;
}

void
curlev_free(struct curlev *c)
{
	if (c == NULL)
		return;
	while (c->xfers != NULL)
		curlev_remove(c, c->xfers->easy);
	/* libcurl frees its sockets' events through curlev_socket */
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c);
}

int
curlev_add(struct curlev *c, CURL *easy, curlev_done_fn *done, void *arg,
    struct err *err)
{
	struct curlev_xfer *x = xcalloc(1, sizeof(*x));
	CURLMcode mrc;

	x->easy = easy;
	x->done = done;
	x->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	if ((mrc = curl_multi_add_handle(c->multi, easy)) != CURLM_OK) {
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(x);
		return err_set(err, 0, "%s", curl_multi_strerror(mrc));
	}
	x->next = c->xfers;
	if (c->xfers != NULL)
		c->xfers->prev = x;
	c->xfers = x;
	return 0;
}

void
curlev_remove(struct curlev *c, CURL *easy)
{
	struct curlev_xfer *x = curlev_xfer_of(easy);

	if (x == NULL)
		return;
	curl_multi_remove_handle(c->multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	curlev_unlink(c, x);
	free(x);
}
