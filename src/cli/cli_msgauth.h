/* SPDX-License-Identifier: ISC */
/*
 * cli_msgauth.h - pieces shared by the spf, dkim and dmarc commands: a
 * private event loop with a resolver, and the message read from stdin.
 */
#ifndef RELAIS_CLI_MSGAUTH_H
#define RELAIS_CLI_MSGAUTH_H

#include <stdbool.h>

#include "core/buf.h"
#include "net/dns.h"

#define CLI_MSGAUTH_MSG_MAX	(64u * 1024 * 1024)	/* stdin cap */
#define CLI_MSGAUTH_TIMEOUT	5	/* seconds per DNS query */

struct cli_msgauth_loop {
	struct event_base	*base;
	struct dns		*dns;
	struct dns_resolver	 res;
	bool			 done;
};

/*
 * cli_msgauth_loop_open - an event loop and a resolver on it (server
 * "HOST:PORT" or NULL for resolv.conf). -1 with a message on stderr.
 */
int	cli_msgauth_loop_open(struct cli_msgauth_loop *l, const char *server,
	    unsigned timeout);
/* cli_msgauth_loop_run - run until l->done is set (by a callback) */
void	cli_msgauth_loop_run(struct cli_msgauth_loop *l);
/* cli_msgauth_loop_stop - from a callback: set done, leave the loop */
void	cli_msgauth_loop_stop(struct cli_msgauth_loop *l);
void	cli_msgauth_loop_close(struct cli_msgauth_loop *l);

/*
 * cli_msgauth_read - the message on stdin into crlf, with every line end
 * made CRLF (what the daemon stores). *lf_out tells whether the input
 * used bare LF line ends, so output can follow its convention. -1 with a
 * message on stderr if stdin cannot be read or is too large.
 */
int	cli_msgauth_read(struct buf *crlf, bool *lf_out);

/* cli_msgauth_timeout - parse --timeout; -1 if bad */
int	cli_msgauth_timeout(const char *s, unsigned *out);

#endif
