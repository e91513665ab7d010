/* SPDX-License-Identifier: ISC */
/*
 * handoff.h - relais drain --to HOST:PORT: hand every queued message to
 * another relais over SMTP instead of delivering it.
 *
 * One thread ("relais-handoff") with blocking sockets. The queue manager
 * is paused first (qmgr_pause): it leases nothing more for the delivery
 * agents, and what they already hold finishes as usual. Then, one
 * message at a time: its recipients still to deliver and not in a
 * delivery, local ones included, are leased in a queue-manager
 * transaction (qmgr_call); the message (prefix and text as stored) goes
 * to the peer in one SMTP transaction (on a connection kept between
 * messages while there is work, over STARTTLS when offered), MAIL
 * FROM the original sender with its DSN parameters, one RCPT TO per
 * recipient (its final address, NOTIFY and ORCPT); a REQUIRETLS message
 * only over TLS whose certificate names the target. Only once the peer
 * answered 250 to the data is each recipient it accepted recorded as
 * delivered (relay=handoff), in another transaction. Recipients the peer
 * refused, or all of them when the connection or the data failed, go
 * back to the queue unleased and are tried again a few seconds later:
 * nothing is removed before the peer took it. A stop (SIGTERM) ends the
 * thread between two steps or cuts the connection in flight; leases
 * still held are reset by the next start.
 */
#ifndef RELAIS_QUEUE_HANDOFF_H
#define RELAIS_QUEUE_HANDOFF_H

#include "core/err.h"

struct qmgr;
struct handoff;

/* handoff_start - target "HOST:PORT" (or "[IPv6]:PORT"), helo: our
   name, ca_file: [relay] ca_file (NULL: the system's CAs) for the
   peer's certificate; pauses q and starts the thread */
struct handoff *handoff_start(struct qmgr *q, const char *data_dir,
	    const char *target, const char *helo, const char *ca_file,
	    struct err *err);
/* handoff_stop - end the thread (q must still run); NULL is a no-op */
void	handoff_stop(struct handoff *h);
void	handoff_free(struct handoff *h);

#endif
