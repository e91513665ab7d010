/* SPDX-License-Identifier: ISC */
/*
 * bufout.c - writing a plain socket bufferevent's output ourselves; see
 * bufout.h.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/bufferevent.h>

#include "net/bufout.h"

void
bufout_take(struct bufferevent *bev)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

void
bufout_flush(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	if (evbuffer_get_length(out) == 0 ||
	    (bufferevent_get_enabled(bev) & EV_WRITE))
		return;
	/* the bufferevent keeps its output's start frozen but for itself */
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(bev, EV_WRITE);
}

void
bufout_drained(struct bufferevent *bev)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}
