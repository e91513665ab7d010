/* SPDX-License-Identifier: ISC */
/*
 * deliver_remote.h - the outbound agent: relaying to the recipient's
 * server through MX (RFC 5321 5.1) or to the [relay] smarthost, over SMTP
 * connections that run on the worker event loops.
 *
 * Each destination (a domain, or the smarthost) belongs to one worker,
 * chosen by a hash of its name, so its connection limit and its backoff
 * are kept in one place without locks. A destination holds the jobs
 * waiting for it, its connections (several messages per connection, idle
 * connections kept a few seconds) and, when every address failed, the
 * time before which nobody tries it again.
 */
#ifndef RELAIS_DELIVER_REMOTE_H
#define RELAIS_DELIVER_REMOTE_H

#include "core/err.h"
#include "net/dns.h"

#include "deliver/deliver.h"

struct worker;
struct conf_live;
struct sts;
struct tlsrpt;

struct remote;

/*
 * Sites (docs/shaping.md): what the agent knows of a destination site,
 * reported through the state callback whenever it changes (suspended,
 * resumed, rate cut or lifted), on the site's worker thread.
 */
struct remote_site_state {
	char		site[128];
	int64_t		suspended_until;	/* 0: not suspended */
	bool		manual;			/* by relais queue suspend */
	double		rate;			/* messages per second now,
						   0 = no limit */
	double		rate_max;		/* as configured, 0 = none */
	char		reason[256];		/* the reply that did it */
};
typedef void remote_site_fn(void *arg, const struct remote_site_state *st);

/* the pieces every worker's agent shares */
struct remote_shared {
	struct worker		*workers;
	unsigned		 nworkers;
	deliver_report_fn	*report;	/* outcomes go here */
	void			*report_arg;
	struct conf_live	*live;
	remote_site_fn		*site_state;	/* or NULL */
	void			*site_state_arg;
	struct sts		*sts;		/* MTA-STS policies, or NULL */
	struct tlsrpt		*tlsrpt;	/* TLS-RPT counts, or NULL */
};

/* remote_new - the agent of worker w (called on w's thread or before) */
struct remote *remote_new(struct worker *w, struct remote_shared *shared,
	    struct err *err);
/* remote_stop - close every connection; jobs in flight stay leased in
   the spool and run again after the next start */
void	remote_stop(struct remote *r);
void	remote_free(struct remote *r);

/* remote_resolver - the worker's asynchronous DNS (for message checks) */
struct dns_resolver remote_resolver(struct remote *r);


/* remote_site_suspend - suspend site until (unix time; 0 resumes it),
   as the operator asked (manual), or as another node's [backoff] rule
   did (any thread) */
void	remote_site_suspend(struct remote_shared *shared, const char *site,
	    int64_t until, const char *reason, bool manual);

/* remote_flush - every destination may be tried again now (any thread) */
void	remote_flush(struct remote_shared *shared);

/* remote_submit - deliver_remote_fn for the delivery pool: routes job to
   its destination's worker (any thread) */
void	remote_submit(void *shared, struct deliver_job *job);

#endif
