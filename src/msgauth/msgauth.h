/* SPDX-License-Identifier: ISC */
/*
 * msgauth.h - the inbound check of a received message: SPF, every DKIM
 * signature and DMARC, run concurrently through one asynchronous
 * resolver, ending in the Authentication-Results field and the DMARC
 * disposition. This is what an mx session calls at the end of DATA.
 *
 *	struct msgauth_input in = {
 *		.client_ip = "192.0.2.1", .helo = "mx.example.net",
 *		.mail_from = "joe@example.net",	  ("" for <>)
 *		.msg = text, .len = n,		  (CRLF, as spooled)
 *		.authserv_id = conf->msgauth.authserv_id,
 *		.receiver = conf->server.hostname,
 *		.base = worker_base,
 *	};
 *	c = msgauth_check_start(resolver, &in, on_done, (void *)session_id);
 *	...
 *	msgauth_check_cancel(c);	  (if the session goes away first)
 *
 * on_done(arg, res) runs once, on the resolver's loop (deferred through
 * in.base if everything was known at once); res->arh_field is the folded
 * "Authentication-Results: ...\r\n" to prepend, res->disposition what
 * [msgauth] dmarc_enforce should do. Everything in res is valid during
 * the call only. The message may be freed once msgauth_check_start has
 * returned.
 */
#ifndef RELAIS_MSGAUTH_H
#define RELAIS_MSGAUTH_H

#include <stddef.h>
#include <time.h>

#include "msgauth/arh.h"
#include "msgauth/dkim.h"
#include "msgauth/dmarc.h"
#include "msgauth/spf.h"
#include "net/dns.h"

struct event_base;

#define MSGAUTH_TIMEOUT		20	/* seconds for the whole check */
#define MSGAUTH_FROM_MAX	8	/* From: domains evaluated */

struct msgauth_input {
	const char		*client_ip;	/* text, v4 or v6 */
	const char		*helo;
	const char		*mail_from;	/* without <>; "" or NULL: <> */
	const char		*authserv_id;	/* [msgauth] authserv_id */
	const char		*receiver;	/* SPF %{r}; NULL: authserv_id */
	const char		*msg;		/* the message, CRLF */
	size_t			 len;
	struct event_base	*base;		/* deadline and deferral; may
						   be NULL (see msgauth_check
						   _start) */
	unsigned		 timeout;	/* seconds; 0: MSGAUTH_TIMEOUT */
	time_t			 now;		/* 0: time(NULL) */
	int			 pct_sample;	/* 0-99 for DMARC pct=; -1:
						   random */
};

struct msgauth_result {
	struct spf_answer		 spf;
	const struct dkim_verdict	*dkim;
	size_t				 ndkim;
	const struct dmarc_verdict	*dmarc;	/* one per From: domain */
	size_t				 ndmarc;
	enum dmarc_result		 dmarc_result;	/* overall */
	enum dmarc_policy		 disposition;	/* strictest to apply */
	const char			*arh_value;	/* one line */
	const char			*arh_field;	/* folded, with CRLF */
};

typedef void msgauth_done_fn(void *arg, const struct msgauth_result *res);

struct msgauth_check;

/*
 * msgauth_check_start - begin the check. Returns the handle, valid until
 * done runs or msgauth_check_cancel() is called. With in->base, done is
 * never called from inside this function. Without it (tests, tools),
 * done may run before it returns, and then NULL is returned. A bad
 * client_ip gives spf=permerror, not a failure to start.
 */
struct msgauth_check *msgauth_check_start(struct dns_resolver res,
	    const struct msgauth_input *in, msgauth_done_fn *done, void *arg);

/* msgauth_check_cancel - drop a check whose done has not run */
void	msgauth_check_cancel(struct msgauth_check *c);

/*
 * msgauth_strip_arh - remove the Authentication-Results fields claiming
 * authserv_id from msg into out (arh_strip); returns how many.
 */
int	msgauth_strip_arh(const char *msg, size_t len, const char *authserv_id,
	    struct buf *out);

#endif
