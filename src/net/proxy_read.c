/* SPDX-License-Identifier: ISC */
/*
 * proxy_read.c - the PROXY header off a socket; see proxy_read.h.
 *
 * Each readiness: peek at what the kernel holds (at most what is left of
 * PROXY_HDR_MAX), parse the octets so far plus the peeked ones. While the
 * header is incomplete, every peeked octet is part of it and is taken;
 * once complete, only the rest of the header is taken. A proxy sends the
 * header in one segment, so that is two system calls per connection.
 * The deadline is absolute: trickling octets does not extend it.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/xalloc.h"
#include "net/proxy_read.h"

struct proxy_read {
	struct event	*ev;
	int		 fd;
	struct timespec	 deadline;	/* CLOCK_MONOTONIC */
	proxy_read_fn	*done;
	void		*arg;
	size_t		 have;		/* octets taken, all of the header */
	uint8_t		 buf[PROXY_HDR_MAX];
};

/* proxy_read_wait - wait for more until the deadline; false when over */
static bool
proxy_read_wait(struct proxy_read *r)
{
	struct timespec now;
	struct timeval tv;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(r->deadline.tv_sec - now.tv_sec) * 1000 +
	    (r->deadline.tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return false;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return event_add(r->ev, &tv) == 0;
}

/* proxy_read_take - take n octets already peeked into buf[have..] */
static bool
proxy_read_take(struct proxy_read *r, size_t n)
{
	while (n > 0) {
		ssize_t got = recv(r->fd, r->buf + r->have, n, 0);

		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			return false;	/* the peeked octets are there */
		r->have += (size_t)got;
		n -= (size_t)got;
	}
	return true;
}

static void
proxy_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_read *r = arg;
	struct proxy_hdr h;
	const char *why = NULL;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		r->done(r->arg, PROXY_READ_TIMEOUT, NULL, "timeout");
		return;
	}
	do
		n = recv(fd, r->buf + r->have, sizeof(r->buf) - r->have,
		    MSG_PEEK);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		if (!proxy_read_wait(r))
			r->done(r->arg, PROXY_READ_TIMEOUT, NULL, "timeout");
		return;
	}
	if (n == -1) {
		r->done(r->arg, PROXY_READ_ERROR, NULL, strerror(errno));
		return;
	}
	if (n == 0) {
		r->done(r->arg, PROXY_READ_CLOSED, NULL, r->have > 0 ?
		    "closed within the header" : NULL);
		return;
	}
	switch (proxy_parse(r->buf, r->have + (size_t)n, &h, &why)) {
	case PROXY_MORE:
		if (!proxy_read_take(r, (size_t)n))
			r->done(r->arg, PROXY_READ_ERROR, NULL,
			    "recv failed after peek");
		else if (!proxy_read_wait(r))
			r->done(r->arg, PROXY_READ_TIMEOUT, NULL, "timeout");
		return;
	case PROXY_BAD:
		r->done(r->arg, PROXY_READ_BAD, NULL, why);
		return;
	case PROXY_DONE:
		if (!proxy_read_take(r, h.len - r->have))
			r->done(r->arg, PROXY_READ_ERROR, NULL,
			    "recv failed after peek");
		else
			r->done(r->arg, PROXY_READ_DONE, &h, NULL);
		return;
	}
}

struct proxy_read *
proxy_read_start(struct event_base *base, int fd, unsigned timeout_sec,
    proxy_read_fn *done, void *arg)
{
	struct proxy_read *r = xcalloc(1, sizeof(*r));

	r->fd = fd;
	r->done = done;
	r->arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &r->deadline);
	r->deadline.tv_sec += timeout_sec;
	r->ev = event_new(base, fd, EV_READ, proxy_read_cb, r);
	if (r->ev == NULL || !proxy_read_wait(r)) {
		proxy_read_free(r);
		return NULL;
	}
	return r;
}

void
proxy_read_free(struct proxy_read *r)
{
	if (r == NULL)
		return;
	if (r->ev != NULL)
		event_free(r->ev);
	free(r);
}
