/* SPDX-License-Identifier: ISC */
/*
 * proxy_read.h - read the PROXY protocol header (smtp/proxy_proto.h) of a
 * freshly accepted connection on an event loop, before anything else
 * reads the socket: within a deadline, never more than PROXY_HDR_MAX
 * octets, and never an octet past the header (it looks with MSG_PEEK and
 * takes only the header's octets), so what follows stays in the socket
 * for the session, plain or TLS.
 */
#ifndef RELAIS_NET_PROXY_READ_H
#define RELAIS_NET_PROXY_READ_H

#include <stddef.h>

#include "smtp/proxy_proto.h"

struct event_base;
struct proxy_read;

enum proxy_read_status {
	PROXY_READ_DONE,	/* hdr is the header */
	PROXY_READ_BAD,		/* not a valid header: why */
	PROXY_READ_TIMEOUT,	/* no complete header within the deadline */
	PROXY_READ_CLOSED,	/* the peer closed first (why NULL when it
				   sent nothing) */
	PROXY_READ_ERROR,	/* the socket failed: why */
};

/*
 * The outcome, once: hdr only with PROXY_READ_DONE. The reader has done
 * its work; the callee frees it with proxy_read_free (it may do so in the
 * callback) and owns the socket as before.
 */
typedef void proxy_read_fn(void *arg, enum proxy_read_status st,
    const struct proxy_hdr *hdr, const char *why);

/* proxy_read_start - watch fd (not closed by the reader); NULL when
   libevent cannot */
struct proxy_read *proxy_read_start(struct event_base *base, int fd,
	    unsigned timeout_sec, proxy_read_fn *done, void *arg);
/* proxy_read_free - stop and free (NULL is fine) */
void	proxy_read_free(struct proxy_read *r);

#endif
