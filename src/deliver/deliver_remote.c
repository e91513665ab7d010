/* SPDX-License-Identifier: ISC */
/*
 * deliver_remote.c - the outbound agent; see deliver_remote.h.
 *
 * Organisation: destinations (one per domain or the smarthost, on the
 * worker that owns them), route resolution (MX by preference, equal
 * preferences shuffled, then AAAA and A of each host; implicit MX; null
 * MX and NXDOMAIN bounce; SERVFAIL defers), and the SMTP client state
 * machine of one connection: greeting, EHLO (HELO fallback), STARTTLS per
 * [relay] outbound_tls / smarthost_tls, AUTH PLAIN/LOGIN to a smarthost,
 * then transactions: MAIL, RCPT..., DATA pipelined when the peer offers
 * PIPELINING, the body dot-stuffed, RSET between messages, QUIT after a
 * few idle seconds. Timeouts follow RFC 5321 4.5.3.2.
 *
 * A connection that fails before it is ready (refused, 4xx/5xx greeting,
 * TLS failure) moves on to the next address within the same attempt.
 * When every address failed, the destination backs off: its jobs, and
 * every job that arrives before the retry time, are deferred to that time
 * without connecting.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "live/conf_live.h"
#include "core/base64.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/xalloc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_remote.h"
#include "deliver/shaping.h"
#include "deliver/tlsreq.h"
#include "deliver/warmup.h"
#include "net/bufout.h"
#include "net/dane.h"
#include "net/dns.h"
#include "net/worker.h"
#include "smtp/smtp_param.h"
#include "smtp/smtp_reply.h"
#include "spool/spool.h"
#include "tlspol/sts.h"
#include "tlspol/tlsrpt.h"

#define REMOTE_CONNECT_TIMEOUT	30
#define REMOTE_T_GREETING	300	/* RFC 5321 4.5.3.2 */
#define REMOTE_T_COMMAND	300
#define REMOTE_T_DATA_INIT	120
#define REMOTE_T_DATA_BLOCK	180
#define REMOTE_T_DATA_END	600
#define REMOTE_MAX_ADDRS	16	/* addresses tried in one attempt */
#define REMOTE_MAX_MX		10
#define REMOTE_JOBS_PER_CONN	8	/* queued jobs per extra connection */
#define REMOTE_ROUTE_BUCKETS	1024
#define REMOTE_ROUTE_TTL	300	/* seconds a domain's MX answer is used */
#define REMOTE_ROUTE_MAX	100000	/* routes kept per worker */
/* a rate-limited destination holds this many seconds of its rate (at
   least REMOTE_HOLD_MIN, at most REMOTE_HOLD_MAX jobs); the rest go back
   to the queue with the time of their slot, so that a slow site never
   holds the slots of the queue manager that other sites need */
#define REMOTE_HOLD_SECONDS	4.0
#define REMOTE_HOLD_MIN		4
#define REMOTE_HOLD_MAX		128
#define REMOTE_MEASURE_WINDOW	10	/* seconds per rate measurement */

enum remote_state {
	RC_RESOLVING,
	RC_CONNECTING,
	RC_GREETING,
	RC_EHLO,
	RC_HELO,
	RC_STARTTLS,
	RC_HANDSHAKE,
	RC_AUTH,
	RC_AUTH_USER,
	RC_AUTH_PASS,
	RC_READY,		/* idle, waiting for a job */
	RC_RSET,
	RC_TRANSACTION,		/* MAIL / RCPT / DATA replies */
	RC_BODY,		/* body sent, waiting for the final reply */
	RC_QUIT,
};

enum remote_ext {
	RX_PIPELINING = 1 << 0,
	RX_SIZE = 1 << 1,
	RX_8BITMIME = 1 << 2,
	RX_SMTPUTF8 = 1 << 3,
	RX_DSN = 1 << 4,
	RX_STARTTLS = 1 << 5,
	RX_AUTH_PLAIN = 1 << 6,
	RX_AUTH_LOGIN = 1 << 7,
	RX_REQUIRETLS = 1 << 8,
};

#define REMOTE_TLSA_MAX		8	/* TLSA records kept per host */
#define REMOTE_RPT_DOMAINS	4	/* TLS-RPT: domains counted per
					   connection */

/* what DNS said of one MX host's TLS (DANE routes only) */
struct remote_hosttls {
	enum tlsreq_tlsa	 tlsa;
	bool			 addr_insecure;	/* an address answer was not
						   DNSSEC-secure */
	bool			 bogus;		/* the TLSA answer was bogus */
	struct dane_tlsa	*recs;		/* the records, usable or not */
	size_t			 nrecs;
};

struct remote_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 host[256];	/* MX host name */
	size_t			 hidx;		/* its index in mx */
};

struct remote_dest;

struct remote_conn {
	struct remote_conn	*next;
	struct remote_dest	*dest;
	struct conf_snap	*snap;
	enum remote_state	 state;
	struct bufferevent	*bev;
	bool			 direct;	/* plain socket: commands written
						   here, not by the bufferevent */
	unsigned		 cork;		/* turns in progress */
	SSL			*ssl;
	bool			 tls;		/* TLS is up */
	bool			 tls_refused;	/* peer said no to STARTTLS */
	unsigned		 ext;
	uint64_t		 peer_size;	/* SIZE limit, 0 = none */
	struct smtp_reply	 reply;
	struct event		*idle;
	char			 peer[320];	/* "host[ip]:port" */
	bool			*alive;		/* cleared when freed */
	size_t			 src;		/* dest->srcs index */
	unsigned		 ndeliveries;	/* transactions so far */
	enum tlsreq_mode	 mode;		/* TLS for the current host */
	bool			 authed;	/* peer authenticated (DANE or
						   WebPKI) */
	enum tls_result		 tls_result;	/* of the authentication */
	unsigned		 rpt_done[REMOTE_RPT_DOMAINS];	/* domains
						   counted (hashes) */
	size_t			 nrpt_done;
	bool			 rpt_failed;	/* this session was counted as
						   a failure */
	struct remote_hosttls	*htls;		/* per MX host, or NULL */

	/* route */
	uint64_t		*dns_q;		/* A/AAAA queries in flight */
	size_t			 ndns_q, dns_pending;
	struct remote_aq	**dns_aq;	/* their arguments, NULL once
						   answered */
	char			 (*mx)[256];	/* MX hosts by preference */
	size_t			 nmx;
	struct remote_addr	*addrs;		/* per MX: AAAA, then A */
	size_t			 naddrs, cur;
	struct remote_addr	**byhost;	/* answers per MX host */
	size_t			*nbyhost;
	char			 lasterr[300];	/* why the last address failed */
	char			 laststatus[16];

	/* transaction */
	struct deliver_job	*job;
	size_t			 step;		/* 0 MAIL, 1..n RCPT, n+1 DATA */
	struct smtp_reply	 mail_reply;
	struct smtp_reply	*rcpt_reply;
	size_t			 accepted;
	bool			 pipelined;
	bool			 rset_pending;	/* RSET's reply comes first */
	bool			 data_sent;	/* commands sent up to DATA */
	struct smtp_reply	 final_reply;
	bool			 have_final;
};

/* one source address of a destination, with its own limits */
struct remote_src {
	char			 addr[64];	/* "" = the system's choice
						   ([relay] outbound_address) */
	unsigned		 nconns;
	int64_t			 next_us;	/* monotonic: when the next
						   transaction may start */
	bool			 spent;		/* warm-up allowance spent
						   today */
};

/*
 * What the worker knows of a site (docs/shaping.md), shared by its
 * destinations (one per pool): suspension, a rate cut by a back-off rule
 * and its lifting, the rate measured.
 */
struct remote_site {
	struct remote_site	*next;
	char			 name[SHAPING_SITE_MAX];
	unsigned		 ndests;
	int64_t			 suspended_until;
	bool			 manual;	/* by the operator */
	char			 reason[256];
	double			 rate_cut;	/* messages/s per source
						   address; 0: not cut */
	double			 rate_ref;	/* where lifting stops */
	double			 rate_conf;	/* configured, 0 = none */
	unsigned		 inc_pct;	/* the cutting rule's */
	unsigned		 recover;	/* seconds between lifts */
	int64_t			 next_lift;
	int64_t			 win_start;	/* measuring: transactions */
	unsigned		 win_n;		/*   since win_start */
	double			 measured;	/* messages/s, last window */
};

struct remote_dest {
	struct remote_dest	*next;
	struct remote		*r;
	char			*name;		/* the site, or "[smarthost]" */
	char			*pool;		/* [pool NAME] or NULL */
	bool			 smarthost;
	unsigned		 tlsf;		/* enum tlsreq_flag */
	uint64_t		 mxkey;		/* remote_mx_key of its hosts */
	struct remote_site	*site;
	char			 (*mx)[256];	/* the site's MX hosts, by
						   preference (latest route) */
	unsigned		*mxpref;
	size_t			 nmx;
	struct remote_src	*srcs;
	size_t			 nsrcs;
	struct deliver_job	*jobs, **jobs_tail;
	size_t			 njobs;
	struct remote_conn	*conns;
	unsigned		 nconns;
	int64_t			 retry_at;	/* backoff until */
	unsigned		 failures;
	int64_t			 paused_until;	/* warm-up spent until */
	double			 cursor;	/* rate: the last slot given
						   to a job sent back (unix) */
	struct event		*timer;		/* the next rate slot */
	int64_t			 timer_at;	/* monotonic us it is set for */
	struct shaping_limits	 lim;		/* as of the last job */
};

/* a domain's route: its MX hosts and site, cached for REMOTE_ROUTE_TTL */
struct remote_route {
	struct remote_route	*next;
	struct remote		*r;
	char			*domain;
	bool			 resolving;
	bool			 sts_wait;	/* MX known, MTA-STS pending */
	bool			 mx_secure;	/* the MX answer validated */
	unsigned		 tlsf;		/* enum tlsreq_flag */
	char			*tls_fail;	/* why no mail can go (a
						   [tls_policy] it cannot meet),
						   or NULL */
	uint64_t		 dns_q;
	int64_t			 expires;	/* answer good until */
	int64_t			 retry_at;	/* DNS failed: defer until */
	unsigned		 failures;
	char			 (*mx)[256];
	unsigned		*mxpref;
	size_t			 nmx;
	char			 site[SHAPING_SITE_MAX];
	struct deliver_job	*jobs, **jobs_tail;	/* waiting for it */
};

struct remote {
	struct worker		*w;
	struct remote_shared	*shared;
	struct dns		*dns;
	struct dns_resolver	 res;
	SSL_CTX			*ssl_ctx;
	struct remote_dest	*dests;
	struct remote_site	*sites;
	struct remote_route	*routes[REMOTE_ROUTE_BUCKETS];
	size_t			 nroutes;
	int64_t			 next_sweep;
	unsigned		 nconns;
	bool			 starved;	/* a destination found no
						   connection left */
	struct event		*kick_ev;	/* remote_kick_all_cb */
	bool			 stopping;
};

static void	remote_conn_next_addr(struct remote_conn *c);
static unsigned	remote_hash(const char *s);
static bool	remote_conn_mode(struct remote_conn *c,
		    const struct remote_addr *a);
static void	remote_rpt_once(struct remote_conn *c, const char *domain);
static void	remote_rpt_fail(struct remote_conn *c, enum tls_result result,
		    const char *detail);
static void	remote_conn_free(struct remote_conn *c);
static void	remote_conn_take_job(struct remote_conn *c);
static bool	remote_needs_utf8(const struct deliver_job *job);
static void	remote_dest_kick(struct remote_dest *d);
static void	remote_send(struct remote_conn *c, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/* --- results ----------------------------------------------------------- */

/* remote_outcome - 2xx delivered, 4xx deferred, 5xx bounced */
static enum spool_outcome
remote_outcome(int code)
{
	if (code >= 200 && code < 300)
		return SPOOL_OUTCOME_DELIVERED;
	if (code >= 500 && code < 600)
		return SPOOL_OUTCOME_BOUNCED;
	return SPOOL_OUTCOME_DEFERRED;
}

/* remote_job_report - every recipient of job gets the outcome of t (its
   recipient fields aside), reported; the job is freed */
static void
remote_job_report(struct remote *r, struct deliver_job *job,
    const struct spool_result *t)
{
	struct spool_result *res = xcalloc(job->nrcpts, sizeof(*res));

	for (size_t i = 0; i < job->nrcpts; i++) {
		deliver_result_init(&res[i], job, i);
		res[i].outcome = t->outcome;
		res[i].retry_at = t->retry_at;
		res[i].throttled = t->throttled;
		res[i].suspended = t->suspended;
		memcpy(res[i].status, t->status, sizeof(res[i].status));
		memcpy(res[i].reply, t->reply, sizeof(res[i].reply));
		memcpy(res[i].relay, t->relay, sizeof(res[i].relay));
		memcpy(res[i].remote_mta, t->remote_mta,
		    sizeof(res[i].remote_mta));
	}
	r->shared->report(r->shared->report_arg, res, job->nrcpts);
	free(res);
	deliver_job_free(job);
}

/* remote_job_finish - every recipient of job gets the same outcome */
static void
remote_job_finish(struct remote *r, struct deliver_job *job,
    enum spool_outcome outcome, const char *status, const char *reply,
    const char *relay, const char *remote_mta, int64_t retry_at)
{
	struct spool_result t;

	memset(&t, 0, sizeof(t));
	t.outcome = outcome;
	t.retry_at = retry_at;
	snprintf(t.status, sizeof(t.status), "%s", status);
	snprintf(t.reply, sizeof(t.reply), "%s", reply);
	snprintf(t.relay, sizeof(t.relay), "%s", relay ? relay : "none");
	snprintf(t.remote_mta, sizeof(t.remote_mta), "%s",
	    remote_mta ? remote_mta : "");
	remote_job_report(r, job, &t);
}

/* remote_job_throttle - job goes back to the queue without an attempt:
   its site is suspended (suspended: the queue manager holds the rest of
   the site's domains back too) or its rate has no slot for it before
   until */
static void
remote_job_throttle(struct remote *r, struct deliver_job *job, int64_t until,
    bool suspended, const char *why)
{
	struct spool_result t;

	memset(&t, 0, sizeof(t));
	t.outcome = SPOOL_OUTCOME_DEFERRED;
	t.throttled = true;
	t.suspended = suspended;
	t.retry_at = until;
	snprintf(t.status, sizeof(t.status), "4.7.0");
	snprintf(t.reply, sizeof(t.reply), "%s", why);
	snprintf(t.relay, sizeof(t.relay), "%s", suspended ?
	    "site-suspended" : "site-throttled");
	remote_job_report(r, job, &t);
}

/* remote_dest_fail_all - every waiting job of d gets the same outcome */
static void
remote_dest_fail_all(struct remote_dest *d, enum spool_outcome outcome,
    const char *status, const char *reply, int64_t retry_at)
{
	struct deliver_job *job;

	while ((job = d->jobs) != NULL) {
		d->jobs = job->next;
		job->next = NULL;
		d->njobs--;
		remote_job_finish(d->r, job, outcome, status, reply, NULL, NULL,
		    retry_at);
	}
	d->jobs_tail = &d->jobs;
}

/* remote_dest_suspend_all - every waiting job of d goes back until then */
static void
remote_dest_suspend_all(struct remote_dest *d, int64_t until, const char *why)
{
	struct deliver_job *job;
	char reply[400];

	snprintf(reply, sizeof(reply), "site %s is suspended: %s", d->name, why);
	while ((job = d->jobs) != NULL) {
		d->jobs = job->next;
		job->next = NULL;
		d->njobs--;
		remote_job_throttle(d->r, job, until, true, reply);
	}
	d->jobs_tail = &d->jobs;
}

/* --- sites and destinations ------------------------------------------- */

static int64_t
remote_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* remote_site_report - the site's state to the state callback */
static void
remote_site_report(struct remote *r, const struct remote_site *si)
{
	struct remote_site_state st;

	if (r->shared->site_state == NULL)
		return;
	memset(&st, 0, sizeof(st));
	snprintf(st.site, sizeof(st.site), "%s", si->name);
	st.suspended_until = si->suspended_until > time(NULL) ?
	    si->suspended_until : 0;
	st.manual = si->manual && st.suspended_until > 0;
	st.rate = si->rate_cut > 0 ? si->rate_cut : si->rate_conf;
	st.rate_max = si->rate_conf;
	snprintf(st.reason, sizeof(st.reason), "%s", si->reason);
	r->shared->site_state(r->shared->site_state_arg, &st);
}

static struct remote_site *
remote_site_get(struct remote *r, const char *name)
{
	struct remote_site *si;

	for (si = r->sites; si; si = si->next)
		if (strcasecmp(si->name, name) == 0)
			return si;
	si = xcalloc(1, sizeof(*si));
	snprintf(si->name, sizeof(si->name), "%s", name);
	si->next = r->sites;
	r->sites = si;
	return si;
}

/* remote_site_gc - forget a site with nothing left to remember */
static void
remote_site_gc(struct remote *r, struct remote_site *si)
{
	struct remote_site **pp;

	if (si->ndests > 0 || si->suspended_until > time(NULL) ||
	    si->rate_cut > 0)
		return;
	for (pp = &r->sites; *pp; pp = &(*pp)->next)
		if (*pp == si) {
			*pp = si->next;
			break;
		}
	free(si);
}

/* remote_site_rate - messages/s per source address now, 0 = no limit */
static double
remote_site_rate(const struct remote_dest *d)
{
	if (d->site->rate_cut > 0)
		return d->site->rate_cut;
	return d->lim.rate;
}

/* remote_site_tick - what time does to a site: a suspension that ended,
   a cut rate lifted one step */
static void
remote_site_tick(struct remote *r, struct remote_site *si, int64_t now)
{
	bool changed = false;

	if (si->suspended_until != 0 && si->suspended_until <= now) {
		si->suspended_until = 0;
		si->manual = false;
		log_info("event=site.resume site=%s", si->name);
		changed = true;
	}
	if (si->rate_cut > 0 && now >= si->next_lift &&
	    si->suspended_until <= now) {
		struct conf_backoff b;

		memset(&b, 0, sizeof(b));
		b.rate_increase = si->inc_pct;
		si->rate_cut = shaping_lift(&b, si->rate_cut, si->rate_ref,
		    si->rate_conf);
		if (si->rate_cut == si->rate_conf)
			si->rate_cut = 0;
		si->next_lift = now + (int64_t)si->recover;
		if (si->rate_cut > 0)
			log_info("event=site.throttle site=%s rate=%.3f/s"
			    " lifted=yes", si->name, si->rate_cut);
		else
			log_info("event=site.recover site=%s", si->name);
		changed = true;
	}
	if (changed)
		remote_site_report(r, si);
}

/* remote_site_measure - one transaction done at si */
static void
remote_site_measure(struct remote_site *si, int64_t now)
{
	if (si->win_start == 0)
		si->win_start = now;
	si->win_n++;
	if (now - si->win_start >= REMOTE_MEASURE_WINDOW) {
		si->measured = (double)si->win_n /
		    (double)(now - si->win_start);
		si->win_start = now;
		si->win_n = 0;
	}
}

/* remote_dest_srcs - the source addresses of pool (or the default one) */
static void
remote_dest_srcs(struct remote_dest *d, const struct conf *conf)
{
	const struct conf_pool *p = conf_pool_find(conf, d->pool);

	if (p != NULL && p->naddresses > 0) {
		d->srcs = xcalloc(p->naddresses, sizeof(*d->srcs));
		for (size_t i = 0; i < p->naddresses; i++)
			snprintf(d->srcs[i].addr, sizeof(d->srcs[i].addr), "%s",
			    p->addresses[i]);
		d->nsrcs = p->naddresses;
		return;
	}
	d->srcs = xcalloc(1, sizeof(*d->srcs));
	d->nsrcs = 1;
	if (conf->relay.outbound_address != NULL)
		snprintf(d->srcs[0].addr, sizeof(d->srcs[0].addr), "%s",
		    conf->relay.outbound_address);
}

static void	remote_dest_timer_cb(evutil_socket_t, short, void *);

static struct remote_dest *
remote_dest_get(struct remote *r, const char *name, const char *pool,
    bool smarthost, unsigned tlsf, uint64_t mxkey, const struct conf *conf)
{
	struct remote_dest *d;

	for (d = r->dests; d; d = d->next)
		if (d->smarthost == smarthost && d->tlsf == tlsf &&
		    d->mxkey == mxkey &&
		    strcasecmp(d->name, name) == 0 &&
		    (d->pool == NULL ? pool == NULL : pool != NULL &&
		    strcasecmp(d->pool, pool) == 0))
			return d;
	d = xcalloc(1, sizeof(*d));
	d->r = r;
	d->name = xstrdup(name);
	d->pool = pool ? xstrdup(pool) : NULL;
	d->smarthost = smarthost;
	d->tlsf = tlsf;
	d->mxkey = mxkey;
	d->jobs_tail = &d->jobs;
	d->site = remote_site_get(r, name);
	d->site->ndests++;
	remote_dest_srcs(d, conf);
	d->timer = evtimer_new(r->w->base, remote_dest_timer_cb, d);
	d->next = r->dests;
	r->dests = d;
	return d;
}

static void
remote_dest_free(struct remote_dest *d)
{
	d->site->ndests--;
	if (d->timer != NULL)
		event_free(d->timer);
	free(d->srcs);
	free(d->mx);
	free(d->mxpref);
	free(d->pool);
	free(d->name);
	free(d);
}

/* remote_dest_gc - forget a destination with nothing left to remember */
static void
remote_dest_gc(struct remote_dest *d)
{
	struct remote *r = d->r;
	struct remote_site *si = d->site;
	struct remote_dest **pp;
	int64_t now = time(NULL);

	if (d->jobs != NULL || d->conns != NULL || d->retry_at > now ||
	    d->paused_until > now)
		return;
	for (pp = &r->dests; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	remote_dest_free(d);
	remote_site_gc(r, si);
}

/*
 * remote_site_backoff - a reply matched rule: suspend d's site, or cut
 * its rate and pause it (throttle). Replies of the same burst (the other
 * connections, the other recipients) find the site suspended already and
 * change nothing more. Waiting jobs of every destination of the site go
 * back to the queue, with no attempt counted.
 */
static void
remote_site_backoff(struct remote_dest *d, const struct conf_backoff *rule,
    const char *reply)
{
	struct remote *r = d->r;
	struct remote_site *si = d->site;
	int64_t now = time(NULL);
	char la[300];

	if (si->suspended_until > now)
		return;
	si->suspended_until = now + (int64_t)rule->suspend_time;
	si->manual = false;
	snprintf(si->reason, sizeof(si->reason), "%s", reply);
	si->rate_conf = d->lim.rate;
	if (rule->action == CONF_BACKOFF_THROTTLE) {
		double measured = si->measured;

		/* no window measured yet: what the current one saw so far */
		if (measured <= 0 && si->win_n > 0)
			measured = (double)si->win_n / (double)(now >
			    si->win_start ? now - si->win_start : 1);

		/* per source address, as the limits are */
		if (d->nsrcs > 1)
			measured /= (double)d->nsrcs;
		/* a site with no rate that has sent nothing yet has no rate
		   to cut from: the pause alone */
		if (remote_site_rate(d) <= 0 && measured <= 0)
			si->rate_cut = 0;
		else
			si->rate_cut = shaping_cut(rule, remote_site_rate(d),
			    measured);
		if (si->rate_cut > 0 && (si->rate_ref <= 0 ||
		    si->rate_conf > 0))
			si->rate_ref = si->rate_conf > 0 ? si->rate_conf :
			    (measured > si->rate_cut ? measured :
			    si->rate_cut * 2);
		si->inc_pct = rule->rate_increase;
		si->recover = rule->recover_interval ? rule->recover_interval :
		    60;
		si->next_lift = si->suspended_until + (int64_t)si->recover;
		log_info("event=site.throttle site=%s rule=%s rate=%.3f/s"
		    " until=%lld reason=%s", si->name, rule->name,
		    si->rate_cut > 0 ? si->rate_cut : si->rate_conf,
		    (long long)si->suspended_until,
		    log_quote(la, sizeof(la), reply, strlen(reply)));
	} else {
		log_info("event=site.suspend site=%s rule=%s until=%lld"
		    " reason=%s", si->name, rule->name,
		    (long long)si->suspended_until,
		    log_quote(la, sizeof(la), reply, strlen(reply)));
	}
	remote_site_report(r, si);
	for (struct remote_dest *o = r->dests; o; o = o->next)
		if (o->site == si)
			remote_dest_suspend_all(o, si->suspended_until,
			    si->reason);
}

static int64_t
remote_backoff(const struct conf *conf, unsigned failures)
{
	int64_t t = conf->relay.retry_min;

	while (failures-- > 1 && t < conf->relay.retry_max)
		t *= 2;
	return t < conf->relay.retry_max ? t : conf->relay.retry_max;
}

/* --- connection plumbing ----------------------------------------------- */

/*
 * Output, as in the SMTP server: on a plain connection the write event
 * stays off and what a turn sends (one read's replies answered, a job's
 * pipelined commands) goes out in one writev when it ends; only what the
 * kernel would not take arms the write event until it has drained
 * (remote_write_cb). A TLS connection leaves writing to its bufferevent.
 */
static void
remote_write_out(struct remote_conn *c)
{
	if (c->bev != NULL && c->direct)
		bufout_flush(c->bev);
}

static void
remote_write_cb(struct bufferevent *bev, void *arg)
{
	struct remote_conn *c = arg;

	if (c->direct)
		bufout_drained(bev);
}

static void
remote_send(struct remote_conn *c, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	if (c->cork == 0)
		remote_write_out(c);
}

static void
remote_timeout(struct remote_conn *c, int seconds)
{
	struct timeval tv = { seconds, 0 };

	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

static const struct conf *
remote_conf(const struct remote_conn *c)
{
	return c->snap->conf;
}

/* remote_conn_abort - the current transaction, if any, is deferred; the
   connection goes. A job sent behind an RSET that was never answered
   (or refused) has not begun at the peer: it goes back to the head of its
   destination's queue for another connection, with nothing reported */
static void
remote_conn_abort(struct remote_conn *c, const char *why)
{
	struct remote_dest *d = c->dest;
	char reply[400];

	if (c->job != NULL && c->rset_pending) {
		if (d->jobs == NULL)
			d->jobs_tail = &c->job->next;
		c->job->next = d->jobs;
		d->jobs = c->job;
		d->njobs++;
		c->job = NULL;
		c->rset_pending = false;
	}
	if (c->job != NULL) {
		snprintf(reply, sizeof(reply), "lost connection with %s: %s",
		    c->peer, why);
		remote_job_finish(c->dest->r, c->job, SPOOL_OUTCOME_DEFERRED,
		    "4.4.2", reply, c->peer, c->addrs ?
		    c->addrs[c->cur].host : NULL, 0);
		c->job = NULL;
	}
	log_info("event=remote.close dest=%s peer=%s reason=\"%s\"",
	    c->dest->name, c->peer, why);
	remote_conn_free(c);
}

/* remote_conn_setup_failed - this address could not be used: next one */
static void
remote_conn_setup_failed(struct remote_conn *c, const char *status,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
remote_conn_setup_failed(struct remote_conn *c, const char *status,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->lasterr, sizeof(c->lasterr), fmt, ap);
	va_end(ap);
	snprintf(c->laststatus, sizeof(c->laststatus), "%s", status);
	log_info("event=remote.attempt dest=%s peer=%s status=%s error=\"%s\"",
	    c->dest->name, c->peer, status, c->lasterr);
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
		c->ssl = NULL;		/* freed with the bufferevent */
	}
	c->tls = false;
	c->tls_refused = false;
	c->ext = 0;
	c->cur++;
	remote_conn_next_addr(c);
}

/* --- the SMTP dialogue ------------------------------------------------- */

static void
remote_ehlo(struct remote_conn *c)
{
	c->state = RC_EHLO;
	c->ext = 0;
	c->peer_size = 0;
	remote_send(c, "EHLO %s", remote_conf(c)->server.hostname);
	remote_timeout(c, REMOTE_T_COMMAND);
}

/* remote_parse_ext - EHLO keywords (RFC 5321 4.1.1.1) */
static void
remote_parse_ext(struct remote_conn *c)
{
	const char *p = c->reply.text;
	const char *nl;

	/* the first line is the greeting name */
	if ((nl = strchr(p, '\n')) == NULL)
		return;
	for (p = nl + 1; *p; p = nl ? nl + 1 : p + strlen(p)) {
		char line[256];
		size_t n;

		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (strcasecmp(line, "PIPELINING") == 0)
			c->ext |= RX_PIPELINING;
		else if (strncasecmp(line, "SIZE", 4) == 0 &&
		    (line[4] == '\0' || line[4] == ' ')) {
			c->ext |= RX_SIZE;
			c->peer_size = strtoull(line + 4, NULL, 10);
		} else if (strcasecmp(line, "8BITMIME") == 0)
			c->ext |= RX_8BITMIME;
		else if (strcasecmp(line, "SMTPUTF8") == 0)
			c->ext |= RX_SMTPUTF8;
		else if (strcasecmp(line, "DSN") == 0)
			c->ext |= RX_DSN;
		else if (strcasecmp(line, "STARTTLS") == 0)
			c->ext |= RX_STARTTLS;
		else if (strcasecmp(line, "REQUIRETLS") == 0)
			c->ext |= RX_REQUIRETLS;
		else if (strncasecmp(line, "AUTH", 4) == 0 &&
		    (line[4] == ' ' || line[4] == '=')) {
			if (strcasestr(line + 5, "PLAIN") != NULL)
				c->ext |= RX_AUTH_PLAIN;
			if (strcasestr(line + 5, "LOGIN") != NULL)
				c->ext |= RX_AUTH_LOGIN;
		}
		if (nl == NULL)
			break;
	}
}

/* remote_tls_prefix - what the queue says a TLS failure came from */
static const char *
remote_tls_prefix(const struct remote_conn *c)
{
	if (c->mode == TM_WEBPKI && (c->dest->tlsf & TF_STS))
		return "MTA-STS: ";
	if (c->mode == TM_DANE || (c->dest->tlsf & TF_DANE_ONLY))
		return "DANE: ";
	return "";
}

/* remote_tls_required - may this connection not go on in clear text
   (an MTA-STS testing check under outbound_tls = encrypt may not) */
static bool
remote_tls_required(const struct remote_conn *c)
{
	return c->mode == TM_ENCRYPT || c->mode == TM_DANE ||
	    c->mode == TM_WEBPKI || (c->mode == TM_WEBPKI_TESTING &&
	    remote_conf(c)->relay.outbound_tls == CONF_RELAY_TLS_REQUIRED);
}

static void remote_read_cb(struct bufferevent *bev, void *arg);
static void remote_event_cb(struct bufferevent *bev, short what, void *arg);

static void
remote_starttls(struct remote_conn *c)
{
	struct bufferevent *tbev;

	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	if ((c->ssl = SSL_new(c->dest->r->ssl_ctx)) == NULL) {
		remote_conn_setup_failed(c, "4.7.5", "cannot create TLS state");
		return;
	}
	if (c->addrs[c->cur].host[0] != '\0' &&
	    inet_pton(AF_INET6, c->addrs[c->cur].host, &(struct in6_addr){0})
	    != 1 && inet_pton(AF_INET, c->addrs[c->cur].host,
	    &(struct in_addr){0}) != 1)
		SSL_set_tlsext_host_name(c->ssl, c->addrs[c->cur].host);
	if (c->mode == TM_DANE || c->mode == TM_WEBPKI ||
	    c->mode == TM_WEBPKI_TESTING) {
		const struct remote_addr *a = &c->addrs[c->cur];
		struct err e;
		int rc;

		e.code = 0;
		e.msg[0] = '\0';
		if (c->mode == TM_DANE)
			rc = dane_ssl_setup(c->ssl, a->host,
			    c->htls[a->hidx].recs, c->htls[a->hidx].nrecs, &e);
		else
			rc = dane_webpki_setup(c->ssl, a->host, &e);
		if (rc <= 0 && c->mode == TM_DANE && rc == 0)
			err_set(&e, 0, "no usable TLSA record");
		if (rc < 0 || (c->mode == TM_DANE && rc == 0)) {
			SSL_free(c->ssl);
			c->ssl = NULL;
			remote_conn_setup_failed(c, "4.7.5", "%scannot set up"
			    " peer authentication: %s", remote_tls_prefix(c),
			    e.msg);
			return;
		}
	}
	tbev = bufferevent_openssl_filter_new(c->dest->r->w->base, c->bev,
	    c->ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (tbev == NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		remote_conn_setup_failed(c, "4.7.5", "cannot start TLS");
		return;
	}
	c->bev = tbev;
	c->direct = false;	/* the filter enables the socket's events */
	c->state = RC_HANDSHAKE;
	bufferevent_setcb(c->bev, remote_read_cb, NULL, remote_event_cb, c);
	remote_timeout(c, REMOTE_T_COMMAND);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* remote_b64 - base64 of n octets into out (NUL-terminated) */
static void
remote_b64(const char *p, size_t n, char *out, size_t outlen)
{
	struct buf b;

	buf_init(&b, 0);
	base64_encode(p, n, &b);
	snprintf(out, outlen, "%s", buf_cstr(&b));
	explicit_bzero(b.data, b.len);
	buf_fini(&b);
}
/* remote_password - the first line of [relay] smarthost_password_file */
static int
remote_password(const struct conf *conf, char *out, size_t outlen)
{
	FILE *f;

	if (conf->relay.smarthost_password_file == NULL ||
	    (f = fopen(conf->relay.smarthost_password_file, "r")) == NULL)
		return -1;
	if (fgets(out, (int)outlen, f) == NULL)
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static void
remote_auth(struct remote_conn *c)
{
	const struct conf *conf = remote_conf(c);
	char pass[256], raw[600], b64[900];
	int n;

	if (remote_password(conf, pass, sizeof(pass)) == -1) {
		remote_conn_setup_failed(c, "4.7.0", "cannot read"
		    " smarthost_password_file");
		return;
	}
	if (c->ext & RX_AUTH_PLAIN) {
		n = snprintf(raw, sizeof(raw), "%c%s%c%s", 0,
		    conf->relay.smarthost_user, 0, pass);
		remote_b64(raw, (size_t)n, b64, sizeof(b64));
		c->state = RC_AUTH;
		remote_send(c, "AUTH PLAIN %s", b64);
	} else if (c->ext & RX_AUTH_LOGIN) {
		c->state = RC_AUTH_USER;
		remote_send(c, "AUTH LOGIN");
	} else {
		remote_conn_setup_failed(c, "4.7.0", "smarthost offers no AUTH"
		    " PLAIN or LOGIN");
		return;
	}
	explicit_bzero(pass, sizeof(pass));
	explicit_bzero(raw, sizeof(raw));
	remote_timeout(c, REMOTE_T_COMMAND);
}

/* remote_after_ehlo - STARTTLS, AUTH, or ready */
static void
remote_after_ehlo(struct remote_conn *c)
{
	const struct conf *conf = remote_conf(c);

	if (!c->tls && c->mode != TM_NOTLS && !c->tls_refused &&
	    (c->ext & RX_STARTTLS)) {
		c->state = RC_STARTTLS;
		remote_send(c, "STARTTLS");
		remote_timeout(c, REMOTE_T_COMMAND);
		return;
	}
	if (!c->tls && c->mode != TM_NOTLS && c->mode != TM_OPPORTUNISTIC) {
		const char *what = c->tls_refused ? "refused STARTTLS" :
		    "does not offer STARTTLS";

		remote_rpt_fail(c, TLS_R_STARTTLS_NOT_SUPPORTED, what);
		if (remote_tls_required(c)) {
			remote_send(c, "QUIT");
			remote_conn_setup_failed(c, "4.7.4", "%sTLS is required"
			    " (%s) but %s %s", remote_tls_prefix(c),
			    tlsreq_mode_name(c->mode), c->peer, what);
			return;
		}
	}
	if (c->dest->smarthost && conf->relay.smarthost_user != NULL &&
	    c->state != RC_AUTH && c->state != RC_AUTH_PASS) {
		if (!c->tls && conf->relay.smarthost_tls != CONF_RELAY_TLS_NONE) {
			remote_conn_setup_failed(c, "4.7.0", "not sending"
			    " credentials without TLS");
			return;
		}
		remote_auth(c);
		return;
	}
	c->dest->failures = 0;
	c->dest->retry_at = 0;
	metrics_count(c->tls ? METRIC_OUT_TLS : METRIC_OUT_PLAIN,
	    c->dest->name);
	c->state = RC_READY;
	remote_conn_take_job(c);
}

/* --- transactions ------------------------------------------------------ */

static void
remote_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct remote_conn *c = arg;

	if (c->state != RC_READY)
		return;
	c->state = RC_QUIT;
	remote_send(c, "QUIT");
	remote_timeout(c, 10);
}

/* remote_send_cmd - the command of transaction step i */
static void
remote_send_step(struct remote_conn *c, size_t i)
{
	struct deliver_job *job = c->job;
	char extra[600];
	size_t o = 0;

	extra[0] = '\0';
	if (i == 0) {
		/* RFC 1870: the octets we are about to send */
		if (c->ext & RX_SIZE)
			o += (size_t)snprintf(extra + o, sizeof(extra) - o,
			    " SIZE=%llu", (unsigned long long)job->body.len);
		if (job->body8 && (c->ext & RX_8BITMIME))
			o += (size_t)snprintf(extra + o, sizeof(extra) - o,
			    " BODY=8BITMIME");
		if (remote_needs_utf8(job) && (c->ext & RX_SMTPUTF8))
			o += (size_t)snprintf(extra + o, sizeof(extra) - o,
			    " SMTPUTF8");
		if (job->requiretls && c->authed && (c->ext & RX_REQUIRETLS))
			o += (size_t)snprintf(extra + o, sizeof(extra) - o,
			    " REQUIRETLS");
		if (c->ext & RX_DSN)
			o = smtp_param_dsn_mail(extra, sizeof(extra), o,
			    job->ret, job->envid);
		remote_send(c, "MAIL FROM:<%s>%s", job->sender, extra);
	} else if (i <= job->nrcpts) {
		const struct deliver_rcpt *rc = &job->rcpts[i - 1];

		if (c->ext & RX_DSN)
			(void)smtp_param_dsn_rcpt(extra, sizeof(extra), o,
			    rc->notify, rc->orcpt, rc->orig);
		remote_send(c, "RCPT TO:<%s>%s", rc->addr, extra);
	} else {
		remote_send(c, "DATA");
	}
}

/* remote_send_body - the message, dot-stuffed, then "." (RFC 5321 4.5.2);
   the text is referenced, not copied: the job outlives the write */
static void
remote_send_body(struct remote_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const char *p = c->job->body.data ? c->job->body.data : "";
	size_t len = c->job->body.len, start = 0, i = 0;
	const char *dot;

	/* memchr finds the candidates; most dots are not at a line start */
	while (i < len && (dot = memchr(p + i, '.', len - i)) != NULL) {
		i = (size_t)(dot - p);
		if (i == 0 || p[i - 1] == '\n') {
			/* a line starting with '.': up to here, then one more */
			evbuffer_add_reference(out, p + start, i - start, NULL,
			    NULL);
			evbuffer_add(out, ".", 1);
			start = i;
		}
		i++;
	}
	evbuffer_add_reference(out, p + start, len - start, NULL, NULL);
	if (len > 0 && p[len - 1] != '\n')
		evbuffer_add(out, "\r\n", 2);
	evbuffer_add(out, ".\r\n", 3);
}

/* remote_refusal - the reply that refused the transaction or one of its
   recipients (MAIL, then each RCPT, then the final one), or NULL */
static const struct smtp_reply *
remote_refusal(const struct remote_conn *c)
{
	const struct deliver_job *job = c->job;

	if (c->mail_reply.code / 100 != 2)
		return &c->mail_reply;
	for (size_t i = 0; i < job->nrcpts; i++)
		if (c->rcpt_reply[i].code / 100 != 2)
			return &c->rcpt_reply[i];
	if (c->final_reply.code / 100 != 2)
		return &c->final_reply;
	return NULL;
}

/* remote_transaction_done - turn the replies into per-recipient results */
static void
remote_transaction_done(struct remote_conn *c)
{
	struct remote_dest *d = c->dest;
	struct deliver_job *job = c->job;
	struct spool_result *res = xcalloc(job->nrcpts, sizeof(*res));
	const struct smtp_reply *rp, *refusal = remote_refusal(c);
	const struct conf_backoff *rule = NULL;
	char summary[300];
	bool last;

	remote_site_measure(d->site, time(NULL));
	if (c->mail_reply.code / 100 == 2)
		remote_rpt_once(c, job->domain);
	/* a refusal that says "slow down" acts on the whole site */
	if (refusal != NULL && refusal->code / 100 == 4 &&
	    (rule = shaping_rule(remote_conf(c), refusal->code,
	    refusal->status, refusal->text)) != NULL) {
		smtp_reply_summary(refusal, summary, sizeof(summary));
		remote_site_backoff(d, rule, summary);
	}
	for (size_t i = 0; i < job->nrcpts; i++) {
		if (c->mail_reply.code / 100 != 2)
			rp = &c->mail_reply;
		else if (c->rcpt_reply[i].code / 100 != 2)
			rp = &c->rcpt_reply[i];
		else
			rp = &c->final_reply;
		deliver_result_init(&res[i], job, i);
		res[i].outcome = rp->code ? remote_outcome(rp->code) :
		    SPOOL_OUTCOME_DEFERRED;
		smtp_reply_summary(rp, summary, sizeof(summary));
		snprintf(res[i].reply, sizeof(res[i].reply), "%s", rp->code ?
		    summary : "no reply");
		snprintf(res[i].status, sizeof(res[i].status), "%s",
		    rp->status[0] ? rp->status :
		    res[i].outcome == SPOOL_OUTCOME_DELIVERED ? "2.0.0" :
		    res[i].outcome == SPOOL_OUTCOME_BOUNCED ? "5.0.0" : "4.0.0");
		snprintf(res[i].relay, sizeof(res[i].relay), "%s", c->peer);
		snprintf(res[i].remote_mta, sizeof(res[i].remote_mta), "%s",
		    c->addrs[c->cur].host);
		res[i].dsn_passed = (c->ext & RX_DSN) != 0 &&
		    job->rcpts[i].notify != 0;
		/* deferred because the site said to slow down: back when
		   the site resumes. This was an attempt (it counts, and the
		   message can expire); the jobs that wait were not */
		if (rule != NULL && res[i].outcome == SPOOL_OUTCOME_DEFERRED) {
			res[i].retry_at = d->site->suspended_until;
			res[i].suspended = true;
		}
	}
	d->r->shared->report(d->r->shared->report_arg, res, job->nrcpts);
	free(res);
	free(c->rcpt_reply);
	c->rcpt_reply = NULL;
	deliver_job_free(job);
	c->job = NULL;
	/* enough for one connection ([site] max_deliveries_per_connection):
	   the next one takes over */
	last = d->lim.max_deliveries > 0 &&
	    c->ndeliveries >= d->lim.max_deliveries;
	if (last || c->final_reply.code == 421) {
		c->state = RC_QUIT;
		remote_send(c, "QUIT");
		remote_timeout(c, 10);
		return;
	}
	/* RSET between messages (RFC 5321 4.1.1.5). With PIPELINING and a
	   job waiting, it leads the next job's commands in the same write
	   (RFC 2920 3.1 lets RSET stand anywhere in a group) */
	c->state = RC_RSET;
	remote_send(c, "RSET");
	remote_timeout(c, REMOTE_T_COMMAND);
	if ((c->ext & RX_PIPELINING) && d->jobs != NULL) {
		c->rset_pending = true;
		remote_conn_take_job(c);
		if (c->state != RC_TRANSACTION && c->state != RC_QUIT) {
			/* every waiting job was refused before it began, or
			   the rate has no slot yet */
			c->rset_pending = false;
			c->state = RC_RSET;
			if (c->idle)
				evtimer_del(c->idle);
			remote_timeout(c, REMOTE_T_COMMAND);
		}
	}
}

static bool
remote_has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

/*
 * remote_needs_utf8 - the message came with SMTPUTF8 and really needs it:
 * a UTF-8 envelope address or UTF-8 in the header section (RFC 6531 3.4:
 * a client that knows the message does not need it should not ask).
 */
static bool
remote_needs_utf8(const struct deliver_job *job)
{
	const char *b = job->body.data ? job->body.data : "";
	const char *end;

	if (!job->smtputf8)
		return false;
	if (remote_has_8bit(job->sender, strlen(job->sender)))
		return true;
	for (size_t i = 0; i < job->nrcpts; i++)
		if (remote_has_8bit(job->rcpts[i].addr,
		    strlen(job->rcpts[i].addr)))
			return true;
	end = memmem(b, job->body.len, "\r\n\r\n", 4);
	return remote_has_8bit(b, end ? (size_t)(end - b) : job->body.len);
}

/* remote_job_check - can this peer take job at all? bounce it if not */
static bool
remote_job_check(struct remote_conn *c, struct deliver_job *job)
{
	char reply[300];

	if (c->peer_size > 0 && job->body.len > c->peer_size) {
		snprintf(reply, sizeof(reply), "message size %llu exceeds the"
		    " limit of %s (%llu)", (unsigned long long)job->body.len,
		    c->peer, (unsigned long long)c->peer_size);
		remote_job_finish(c->dest->r, job, SPOOL_OUTCOME_BOUNCED,
		    "5.3.4", reply, c->peer, c->addrs[c->cur].host, 0);
		return false;
	}
	if (job->requiretls && job->sender[0] != '\0' &&
	    (!c->authed || !(c->ext & RX_REQUIRETLS))) {
		/* RFC 8689 4.2.1; a report about a REQUIRETLS message
		   (from <>) asks for it where it can, and goes anyway */
		snprintf(reply, sizeof(reply), "REQUIRETLS: %s %s", c->peer,
		    !c->authed ? "was not authenticated by DANE or MTA-STS" :
		    "does not offer REQUIRETLS");
		remote_job_finish(c->dest->r, job, SPOOL_OUTCOME_BOUNCED,
		    "5.7.30", reply, c->peer, c->addrs[c->cur].host, 0);
		return false;
	}
	if (remote_needs_utf8(job) && !(c->ext & RX_SMTPUTF8)) {
		snprintf(reply, sizeof(reply), "the message needs SMTPUTF8,"
		    " which %s does not support (RFC 6531 3.5)", c->peer);
		remote_job_finish(c->dest->r, job, SPOOL_OUTCOME_BOUNCED,
		    "5.6.7", reply, c->peer, c->addrs[c->cur].host, 0);
		return false;
	}
	return true;
}

/* remote_dest_arm - kick d again at the monotonic time when_us */
static void
remote_dest_arm(struct remote_dest *d, int64_t when_us)
{
	int64_t left = when_us - remote_now_us();
	struct timeval tv;

	/* one timer for every source: the earliest slot wins */
	if (evtimer_pending(d->timer, NULL) && d->timer_at <= when_us)
		return;
	d->timer_at = when_us;
	if (left < 1000)
		left = 1000;
	tv.tv_sec = left / 1000000;
	tv.tv_usec = left % 1000000;
	evtimer_add(d->timer, &tv);
}

static void
remote_dest_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	remote_dest_kick(arg);
}

/*
 * remote_src_take - may a connection from src start a transaction now?
 * Its rate gives it a slot (messages evenly spaced, no burst) and its
 * pool's warm-up an allowance for today. On a yes, the slot and one
 * message of the allowance are taken; on a no for the rate, d's timer is
 * armed for the slot.
 */
static bool
remote_src_take(struct remote_conn *c, struct remote_src *src)
{
	struct remote_dest *d = c->dest;
	double rate = remote_site_rate(d);
	int64_t now_us = remote_now_us(), now = time(NULL);
	uint64_t allow;

	if (rate > 0 && now_us < src->next_us) {
		remote_dest_arm(d, src->next_us);
		return false;
	}
	allow = shaping_warmup_allowance(conf_pool_find(remote_conf(c),
	    d->pool), now);
	if (!warmup_take(src->addr, allow, now)) {
		if (!src->spent)
			log_info("event=pool.warmup_spent pool=%s source=%s"
			    " allowance=%llu", d->pool ? d->pool : "default",
			    src->addr, (unsigned long long)allow);
		src->spent = true;
		return false;
	}
	if (rate > 0) {
		int64_t step = (int64_t)(1e6 / rate);

		/* a slot taken a little late (the connection was busy, the
		   loop late) does not move every later one: the schedule
		   keeps up to a quarter of a slot of delay, never a burst */
		if (src->next_us < now_us - step / 4)
			src->next_us = now_us - step / 4;
		src->next_us += step;
	}
	return true;
}

/* remote_conn_idle - nothing to send now: wait for a job, or close */
static void
remote_conn_idle(struct remote_conn *c)
{
	struct remote_dest *d = c->dest;
	struct timeval tv = { d->lim.idle_timeout, 0 };

	c->state = RC_READY;
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	if (c->idle == NULL)
		c->idle = evtimer_new(d->r->w->base, remote_idle_cb, c);
	evtimer_add(c->idle, &tv);
}

/* remote_conn_take_job - start the next waiting job, or idle */
static void
remote_conn_take_job(struct remote_conn *c)
{
	struct remote_dest *d = c->dest;
	struct remote_src *src = &d->srcs[c->src];
	struct deliver_job *job;

	for (;;) {
		if ((job = d->jobs) == NULL || d->r->stopping ||
		    d->site->suspended_until > time(NULL)) {
			remote_conn_idle(c);
			return;
		}
		if (!remote_src_take(c, src)) {
			if (src->spent) {
				/* this address is done for today */
				c->state = RC_QUIT;
				remote_send(c, "QUIT");
				remote_timeout(c, 10);
				return;
			}
			remote_conn_idle(c);
			return;
		}
		d->jobs = job->next;
		if (d->jobs == NULL)
			d->jobs_tail = &d->jobs;
		d->njobs--;
		job->next = NULL;
		if (remote_job_check(c, job))
			break;
	}
	if (c->idle)
		evtimer_del(c->idle);
	c->job = job;
	c->ndeliveries++;
	c->step = 0;
	c->accepted = 0;
	c->have_final = false;
	smtp_reply_init(&c->mail_reply);
	smtp_reply_init(&c->final_reply);
	c->rcpt_reply = xcalloc(job->nrcpts, sizeof(*c->rcpt_reply));
	c->pipelined = (c->ext & RX_PIPELINING) != 0;
	c->state = RC_TRANSACTION;
	c->cork++;
	if (c->pipelined) {
		/* RFC 2920: MAIL, every RCPT and DATA in one write */
		for (size_t i = 0; i <= job->nrcpts + 1; i++)
			remote_send_step(c, i);
	} else {
		remote_send_step(c, 0);
	}
	if (--c->cork == 0)
		remote_write_out(c);
	remote_timeout(c, REMOTE_T_COMMAND);
}

/* remote_transaction_closing - a 421 within the transaction: the peer is
   closing (RFC 5321 3.8), and the replies still owed will not come. The
   421 stands for them, so it counts as the refusal it is (and a
   [backoff] rule can match it) rather than as a lost connection. */
static void
remote_transaction_closing(struct remote_conn *c)
{
	struct deliver_job *job = c->job;
	size_t n = job->nrcpts;

	if (c->step == 0)
		c->mail_reply = c->reply;
	for (size_t i = c->step > 0 ? c->step - 1 : 0; i < n; i++)
		if (c->rcpt_reply[i].code == 0)
			c->rcpt_reply[i] = c->reply;
	c->final_reply = c->reply;
	remote_transaction_done(c);
}

/* remote_transaction_reply - a complete reply within the transaction */
static void
remote_transaction_reply(struct remote_conn *c)
{
	struct deliver_job *job = c->job;
	size_t n = job->nrcpts;
	size_t step = c->step++;

	if (step == 0) {
		c->mail_reply = c->reply;
	} else if (step <= n) {
		c->rcpt_reply[step - 1] = c->reply;
		if (c->reply.code / 100 == 2)
			c->accepted++;
	} else {
		/* the reply to DATA */
		if (c->reply.code == 354) {
			if (c->accepted == 0 || c->mail_reply.code / 100 != 2) {
				/* RFC 2920 3.1: nothing to send, end it */
				evbuffer_add(bufferevent_get_output(c->bev),
				    ".\r\n", 3);
			} else {
				remote_send_body(c);
			}
			c->state = RC_BODY;
			remote_timeout(c, REMOTE_T_DATA_END);
			return;
		}
		c->final_reply = c->reply;
		remote_transaction_done(c);
		return;
	}
	if (c->pipelined)
		return;		/* everything was sent already */
	/* one at a time: stop early when nothing can follow */
	if (step == 0 && c->reply.code / 100 != 2) {
		remote_transaction_done(c);
		return;
	}
	if (c->step == n + 1 && c->accepted == 0) {
		remote_transaction_done(c);
		return;
	}
	remote_send_step(c, c->step);
	remote_timeout(c, c->step == n + 1 ? REMOTE_T_DATA_INIT :
	    REMOTE_T_COMMAND);
}

/* remote_on_reply - a complete reply arrived in state c->state */
static void
remote_on_reply(struct remote_conn *c)
{
	int code = c->reply.code;
	const struct conf_backoff *rule;
	char summary[300];

	smtp_reply_summary(&c->reply, summary, sizeof(summary));
	switch (c->state) {
	case RC_GREETING:
		if (code / 100 == 4 && (rule = shaping_rule(remote_conf(c),
		    code, c->reply.status, c->reply.text)) != NULL) {
			/* "too many connections", "slow down": the site is
			   fine, it wants less of us */
			remote_site_backoff(c->dest, rule, summary);
			remote_send(c, "QUIT");
			remote_conn_free(c);
			return;
		}
		if (code != 220) {
			remote_send(c, "QUIT");
			remote_conn_setup_failed(c, code >= 500 ? "5.0.0" :
			    "4.0.0", "greeting: %s", summary);
			return;
		}
		remote_ehlo(c);
		return;
	case RC_EHLO:
		if (code / 100 != 2) {
			c->state = RC_HELO;
			remote_send(c, "HELO %s",
			    remote_conf(c)->server.hostname);
			return;
		}
		remote_parse_ext(c);
		remote_after_ehlo(c);
		return;
	case RC_HELO:
		if (code / 100 != 2) {
			remote_send(c, "QUIT");
			remote_conn_setup_failed(c, "4.0.0", "HELO: %s",
			    summary);
			return;
		}
		c->ext = 0;
		remote_after_ehlo(c);
		return;
	case RC_STARTTLS:
		if (code != 220) {
			c->tls_refused = true;
			if (remote_tls_required(c)) {
				remote_rpt_fail(c, TLS_R_STARTTLS_NOT_SUPPORTED,
				    summary);
				remote_send(c, "QUIT");
				remote_conn_setup_failed(c, "4.7.4",
				    "%sSTARTTLS: %s", remote_tls_prefix(c),
				    summary);
				return;
			}
			/* TLS optional and refused: go on in clear text */
			c->ext &= ~RX_STARTTLS;
			remote_after_ehlo(c);
			return;
		}
		remote_starttls(c);
		return;
	case RC_AUTH:
	case RC_AUTH_PASS:
		if (code != 235) {
			remote_send(c, "QUIT");
			remote_conn_setup_failed(c, "4.7.0", "AUTH: %s",
			    summary);
			return;
		}
		c->state = RC_READY;
		c->dest->failures = 0;
		c->dest->retry_at = 0;
		remote_conn_take_job(c);
		return;
	case RC_AUTH_USER: {
		char b64[400], pass[256];
		const struct conf *conf = remote_conf(c);

		if (code != 334) {
			remote_conn_setup_failed(c, "4.7.0", "AUTH: %s",
			    summary);
			return;
		}
		if (strncasecmp(c->reply.text, "VXNlcm5hbWU6", 12) == 0) {
			remote_b64(conf->relay.smarthost_user,
			    strlen(conf->relay.smarthost_user), b64,
			    sizeof(b64));
			remote_send(c, "%s", b64);
			return;		/* stays in RC_AUTH_USER */
		}
		if (remote_password(conf, pass, sizeof(pass)) == -1)
			pass[0] = '\0';
		remote_b64(pass, strlen(pass), b64, sizeof(b64));
		explicit_bzero(pass, sizeof(pass));
		c->state = RC_AUTH_PASS;
		remote_send(c, "%s", b64);
		explicit_bzero(b64, sizeof(b64));
		return;
	}
	case RC_RSET:
		if (code / 100 != 2) {
			remote_conn_abort(c, summary);
			return;
		}
		remote_conn_take_job(c);
		return;
	case RC_TRANSACTION:
		if (c->rset_pending) {
			/* the RSET sent ahead of this transaction */
			if (code / 100 != 2) {
				char why[340];

				snprintf(why, sizeof(why), "RSET refused: %s",
				    summary);
				remote_conn_abort(c, why);	/* requeues */
				return;
			}
			c->rset_pending = false;
			return;
		}
		if (code == 421) {
			remote_transaction_closing(c);
			return;
		}
		remote_transaction_reply(c);
		return;
	case RC_BODY:
		c->final_reply = c->reply;
		remote_transaction_done(c);
		return;
	case RC_QUIT:
		remote_conn_free(c);
		return;
	case RC_READY:
		/* a 421 while idle: the peer is going */
		remote_conn_abort(c, summary);
		return;
	default:
		return;
	}
}

static void	remote_read_replies(struct remote_conn *c,
		    struct bufferevent *bev, bool *alive);

/* remote_read_cb - one turn: the replies that arrived, then one write */
static void
remote_read_cb(struct bufferevent *bev, void *arg)
{
	struct remote_conn *c = arg;
	bool alive = true;

	/* anything below may free c: it clears alive then */
	c->alive = &alive;
	c->cork++;
	remote_read_replies(c, bev, &alive);
	if (!alive)
		return;
	c->alive = NULL;
	if (--c->cork == 0)
		remote_write_out(c);
}

static void
remote_read_replies(struct remote_conn *c, struct bufferevent *bev,
    bool *alivep)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		enum smtp_reply_result rr;

		rr = smtp_reply_line(&c->reply, str_make(line, n));
		free(line);
		if (rr == SMTP_REPLY_BAD) {
			if (c->state < RC_READY)
				remote_conn_setup_failed(c, "4.5.0",
				    "malformed reply");
			else
				remote_conn_abort(c, "malformed reply");
			return;
		}
		if (rr == SMTP_REPLY_MORE)
			continue;
		remote_on_reply(c);
		/* c may be gone, or on a new bufferevent (TLS, next
		   address): then this buffer is not ours any more */
		if (!*alivep)
			return;
		smtp_reply_init(&c->reply);
		if (c->bev != bev)
			return;
	}
	if (evbuffer_get_length(in) > 4096) {
		if (c->state < RC_READY)
			remote_conn_setup_failed(c, "4.5.0", "reply line too long");
		else
			remote_conn_abort(c, "reply line too long");
	}
}

/* remote_tls_auth - after the handshake: is the peer who the policy
   wants? false when the connection was given up */
static bool
remote_tls_auth(struct remote_conn *c)
{
	char why[200];
	enum tls_result res = TLS_R_OK;
	bool ok;

	switch (c->mode) {
	case TM_DANE:
		ok = dane_ssl_check(c->ssl, why, sizeof(why), &res);
		break;
	case TM_WEBPKI:
	case TM_WEBPKI_TESTING:
		ok = dane_webpki_check(c->ssl, why, sizeof(why), &res);
		break;
	default:
		return true;
	}
	c->tls_result = res;
	if (ok) {
		c->authed = c->mode != TM_WEBPKI_TESTING;
		return true;
	}
	remote_rpt_fail(c, res == TLS_R_OK ? TLS_R_VALIDATION_FAILURE : res,
	    why);
	if (c->mode == TM_WEBPKI_TESTING) {
		log_info("event=remote.tls dest=%s peer=%s sts=testing"
		    " error=\"%s\"", c->dest->name, c->peer, why);
		return true;
	}
	remote_send(c, "QUIT");
	remote_conn_setup_failed(c, "4.7.5", "%s%s (%s)", remote_tls_prefix(c),
	    why, c->addrs[c->cur].host);
	return false;
}

static void
remote_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct remote_conn *c = arg;
	char why[200];

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == RC_HANDSHAKE) {
			c->tls = true;
			if (!remote_tls_auth(c))
				return;
			log_info("event=remote.tls dest=%s peer=%s version=%s"
			    " cipher=%s tls=%s auth=%s", c->dest->name, c->peer,
			    SSL_get_version(c->ssl),
			    SSL_get_cipher_name(c->ssl),
			    tlsreq_mode_name(c->mode), c->authed ? "yes" : "no");
			remote_ehlo(c);
		} else {
			c->state = RC_GREETING;
			remote_timeout(c, REMOTE_T_GREETING);
			/* connected: from now on writes are ours */
			if (c->direct)
				bufout_take(bev);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), "timeout");
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "connection closed by peer");
	else if (c->state == RC_HANDSHAKE) {
		unsigned long e = bufferevent_get_openssl_error(bev);

		snprintf(why, sizeof(why), "TLS handshake failed: %s",
		    e ? ERR_reason_error_string(e) : "protocol error");
	} else {
		int e = EVUTIL_SOCKET_ERROR();

		snprintf(why, sizeof(why), "%s", e ? strerror(e) : "error");
	}
	if (c->state == RC_QUIT) {
		remote_conn_free(c);
		return;
	}
	if (c->state < RC_READY) {
		if (c->state == RC_HANDSHAKE)
			remote_rpt_fail(c, TLS_R_VALIDATION_FAILURE, why);
		remote_conn_setup_failed(c, c->state == RC_HANDSHAKE ? "4.7.5" :
		    "4.4.1", "%s%s", c->state == RC_HANDSHAKE ?
		    remote_tls_prefix(c) : "", why);
		return;
	}
	remote_conn_abort(c, why);
}

/* remote_addr_text - "ip:port" or "[ip6]:port" */
static void
remote_addr_text(const struct remote_addr *a, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port;

	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&a->ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const void *)&a->ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
	}
	snprintf(out, n, "%s[%s]:%u", a->host, ip, port);
}

/* remote_bind_source - the connection's source address, if it has one
   of that family */
static int
remote_bind_source(int fd, const char *src, int family)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (src == NULL || src[0] == '\0')
		return 0;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		if (inet_pton(AF_INET, src, &s4->sin_addr) != 1)
			return 0;	/* the other family: no binding */
		s4->sin_family = AF_INET;
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		if (inet_pton(AF_INET6, src, &s6->sin6_addr) != 1)
			return 0;
		s6->sin6_family = AF_INET6;
		len = sizeof(*s6);
	}
	return bind(fd, (struct sockaddr *)&ss, len);
}

/* remote_rpt - count one session's TLS outcome for domain (TLS-RPT) */
static void
remote_rpt(struct remote_conn *c, const char *domain, enum tls_result result,
    const char *detail)
{
	struct remote *r = c->dest->r;
	struct tlsrpt_outcome o;
	char (*lines)[300] = NULL;
	const char **strs = NULL;
	char sip[INET6_ADDRSTRLEN] = "", rip[INET6_ADDRSTRLEN] = "";
	size_t n = 0;

	if (r->shared->tlsrpt == NULL || domain == NULL || domain[0] == '[')
		return;
	memset(&o, 0, sizeof(o));
	o.policy_domain = domain;
	o.policy_type = TLSRPT_POLICY_NONE;
	if (c->addrs != NULL && c->cur < c->naddrs) {
		const struct remote_addr *a = &c->addrs[c->cur];

		o.mx_host = a->host;
		if (a->ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
			    (const void *)&a->ss)->sin6_addr, rip, sizeof(rip));
		else
			inet_ntop(AF_INET, &((const struct sockaddr_in *)
			    (const void *)&a->ss)->sin_addr, rip, sizeof(rip));
		o.receiving_ip = rip;
		if (c->htls != NULL && c->htls[a->hidx].tlsa != TT_NONE &&
		    !c->htls[a->hidx].addr_insecure) {
			const struct remote_hosttls *ht = &c->htls[a->hidx];

			lines = xcalloc(ht->nrecs ? ht->nrecs : 1,
			    sizeof(*lines));
			for (; n < ht->nrecs; n++)
				dane_tlsa_text(&ht->recs[n], lines[n],
				    sizeof(lines[n]));
			o.policy_type = TLSRPT_POLICY_TLSA;
		}
	}
	if (o.policy_type == TLSRPT_POLICY_NONE && r->shared->sts != NULL &&
	    (c->dest->tlsf & (TF_STS | TF_STS_TESTING))) {
		struct sts_policy *pol = xmalloc(sizeof(*pol));

		if (sts_get(r->shared->sts, domain, pol, NULL, NULL, NULL) ==
		    STS_GOT) {
			lines = xcalloc(STS_MX_MAX + 4, sizeof(*lines));
			n = sts_policy_lines(pol, lines, STS_MX_MAX + 4);
			o.policy_type = TLSRPT_POLICY_STS;
		}
		free(pol);
	}
	if (n > 0) {
		strs = xcalloc(n, sizeof(*strs));
		for (size_t i = 0; i < n; i++)
			strs[i] = lines[i];
	}
	o.policy_strings = strs;
	o.npolicy_strings = n;
	if (c->dest->srcs[c->src].addr[0] != '\0') {
		snprintf(sip, sizeof(sip), "%s", c->dest->srcs[c->src].addr);
		o.sending_ip = sip;
	}
	o.result = result;
	o.detail = detail;
	tlsrpt_record(r->shared->tlsrpt, &o);
	free(strs);
	free(lines);
}

/* remote_rpt_once - a session counted once per domain (the first
   transaction of each domain on this connection) */
static void
remote_rpt_once(struct remote_conn *c, const char *domain)
{
	unsigned h;

	if (c->dest->r->shared->tlsrpt == NULL || domain == NULL ||
	    c->rpt_failed || c->dest->smarthost || !c->tls)
		return;		/* a smarthost is no domain's MX; a session
				   in clear text is no TLS success */
	h = remote_hash(domain);
	for (size_t i = 0; i < c->nrpt_done; i++)
		if (c->rpt_done[i] == h)
			return;
	if (c->nrpt_done < REMOTE_RPT_DOMAINS)
		c->rpt_done[c->nrpt_done++] = h;
	else
		return;		/* enough for one session */
	remote_rpt(c, domain, TLS_R_OK, NULL);
}

/* remote_rpt_fail - a session given up for a TLS reason: counted for
   the domains whose mail waited for it */
static void
remote_rpt_fail(struct remote_conn *c, enum tls_result result,
    const char *detail)
{
	const char *seen[REMOTE_RPT_DOMAINS];
	size_t nseen = 0;
	const struct deliver_job *job;

	if (c->dest->r->shared->tlsrpt == NULL || c->dest->smarthost)
		return;
	c->rpt_failed = true;
	job = c->job != NULL ? c->job : c->dest->jobs;
	for (; job != NULL && nseen < REMOTE_RPT_DOMAINS;
	    job = job == c->job ? c->dest->jobs : job->next) {
		size_t i;

		for (i = 0; i < nseen; i++)
			if (strcasecmp(seen[i], job->domain) == 0)
				break;
		if (i < nseen)
			continue;
		seen[nseen++] = job->domain;
		remote_rpt(c, job->domain, result, detail);
	}
}

/* remote_conn_mode - the TLS this connection needs with address a's
   host; false (lasterr set) when the host may not be used */
static bool
remote_conn_mode(struct remote_conn *c, const struct remote_addr *a)
{
	const struct conf *conf = remote_conf(c);
	enum tlsreq_tlsa tt = TT_NONE;
	const struct remote_hosttls *ht = NULL;
	char why[200];

	c->authed = false;
	c->tls_result = TLS_R_OK;
	c->nrpt_done = 0;	/* a new session */
	c->rpt_failed = false;
	if (c->dest->smarthost) {
		c->mode = conf->relay.smarthost_tls == CONF_RELAY_TLS_NONE ?
		    TM_NOTLS : conf->relay.smarthost_tls ==
		    CONF_RELAY_TLS_REQUIRED ? TM_ENCRYPT : TM_OPPORTUNISTIC;
		return true;
	}
	if (c->htls != NULL) {
		ht = &c->htls[a->hidx];
		tt = ht->addr_insecure ? TT_NONE : ht->tlsa;
	}
	c->mode = tlsreq_host(c->dest->tlsf, tt, conf->relay.outbound_tls,
	    why, sizeof(why));
	if (c->mode != TM_REFUSE)
		return true;
	snprintf(c->lasterr, sizeof(c->lasterr), "%s: %s%s", a->host, why,
	    ht != NULL && ht->bogus ? " (DNSSEC bogus)" : "");
	snprintf(c->laststatus, sizeof(c->laststatus), "4.7.5");
	log_info("event=remote.attempt dest=%s peer=%s status=4.7.5"
	    " error=\"%s\"", c->dest->name, c->peer, c->lasterr);
	remote_rpt_fail(c, tt == TT_FAILED ? (ht != NULL && ht->bogus ?
	    TLS_R_DNSSEC_INVALID : TLS_R_TLSA_INVALID) : TLS_R_DANE_REQUIRED,
	    why);
	return false;
}

/* remote_conn_next_addr - connect to addrs[cur], or give up this attempt */
static void
remote_conn_next_addr(struct remote_conn *c)
{
	struct remote_dest *d = c->dest;
	struct remote_addr *a;
	const struct conf *conf = remote_conf(c);
	int fd;

	for (; c->cur < c->naddrs; c->cur++) {
		a = &c->addrs[c->cur];
		remote_addr_text(a, c->peer, sizeof(c->peer));
		if (!remote_conn_mode(c, a))
			continue;
		fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1 || remote_bind_source(fd, d->srcs[c->src].addr,
		    a->ss.ss_family) == -1) {
			snprintf(c->lasterr, sizeof(c->lasterr), "%s: %s",
			    c->peer, strerror(errno));
			if (fd != -1)
				close(fd);
			continue;
		}
		c->bev = bufferevent_socket_new(d->r->w->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL) {
			close(fd);
			continue;
		}
		bufferevent_setcb(c->bev, remote_read_cb, remote_write_cb,
		    remote_event_cb, c);
		c->direct = true;
		remote_timeout(c, REMOTE_CONNECT_TIMEOUT);
		c->state = RC_CONNECTING;
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
		if (bufferevent_socket_connect(c->bev,
		    (struct sockaddr *)&a->ss, (int)a->sslen) == -1) {
			snprintf(c->lasterr, sizeof(c->lasterr), "%s: %s",
			    c->peer, strerror(errno));
			bufferevent_free(c->bev);
			c->bev = NULL;
			continue;
		}
		return;
	}
	/* every address failed: the destination backs off */
	d->failures++;
	d->retry_at = time(NULL) + remote_backoff(conf, d->failures);
	log_info("event=remote.backoff dest=%s failures=%u retry_in=%llds"
	    " error=\"%s\"", d->name, d->failures,
	    (long long)(d->retry_at - time(NULL)),
	    c->lasterr[0] ? c->lasterr : "no address");
	{
		char reply[400];

		snprintf(reply, sizeof(reply), "%s", c->lasterr[0] ?
		    c->lasterr : "no address to deliver to");
		remote_dest_fail_all(d, SPOOL_OUTCOME_DEFERRED,
		    c->laststatus[0] ? c->laststatus : "4.4.1", reply,
		    d->retry_at);
	}
	remote_conn_free(c);
}

/* --- route resolution ------------------------------------------------- */

static unsigned
remote_port(const struct remote_conn *c, const char **host_out,
    char *hostbuf, size_t n)
{
	const struct conf *conf = remote_conf(c);
	const char *h = conf->relay.smarthost;
	const char *colon, *close;
	unsigned port = 25;

	if (!c->dest->smarthost) {
		*host_out = c->dest->name;
		return conf->relay.outbound_port;
	}
	/* "host", "host:port", "[host]:port", "[v6]:port" */
	if (h[0] == '[' && (close = strchr(h, ']')) != NULL) {
		snprintf(hostbuf, n, "%.*s", (int)(close - h - 1), h + 1);
		if (close[1] == ':')
			port = (unsigned)atoi(close + 2);
	} else if ((colon = strrchr(h, ':')) != NULL &&
	    strchr(h, ':') == colon) {
		snprintf(hostbuf, n, "%.*s", (int)(colon - h), h);
		port = (unsigned)atoi(colon + 1);
	} else {
		snprintf(hostbuf, n, "%s", h);
	}
	*host_out = hostbuf;
	return port ? port : 25;
}

static void
remote_add_addr(struct remote_conn *c, const char *host, int family,
    const void *ip, unsigned port)
{
	struct remote_addr *a;

	if (c->naddrs >= REMOTE_MAX_ADDRS)
		return;
	c->addrs = xreallocarray(c->addrs, c->naddrs + 1, sizeof(*c->addrs));
	a = &c->addrs[c->naddrs++];
	memset(a, 0, sizeof(*a));
	snprintf(a->host, sizeof(a->host), "%s", host);
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		memcpy(&s4->sin_addr, ip, 4);
		a->sslen = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		memcpy(&s6->sin6_addr, ip, 16);
		a->sslen = sizeof(*s6);
	}
}

/* remote_route_ready - every address query answered: order and connect */
static void
remote_route_ready(struct remote_conn *c)
{
	const char *host;
	char hostbuf[256];
	unsigned port = remote_port(c, &host, hostbuf, sizeof(hostbuf));

	/* MX order; within a host AAAA first, then A (as collected) */
	for (size_t i = 0; i < c->nmx; i++)
		for (size_t j = 0; j < c->nbyhost[i]; j++) {
			struct remote_addr *a = &c->byhost[i][j];

			size_t before = c->naddrs;

			remote_add_addr(c, a->host, a->ss.ss_family,
			    a->ss.ss_family == AF_INET ?
			    (void *)&((struct sockaddr_in *)&a->ss)->sin_addr :
			    (void *)&((struct sockaddr_in6 *)&a->ss)->sin6_addr,
			    port);
			if (c->naddrs > before)
				c->addrs[c->naddrs - 1].hidx = i;
		}
	if (c->naddrs == 0 && c->lasterr[0] == '\0')
		snprintf(c->lasterr, sizeof(c->lasterr), "no address found"
		    " for the mail exchangers of %s", c->dest->name);
	c->cur = 0;
	remote_conn_next_addr(c);
}

struct remote_aq {
	struct remote_conn	*c;
	size_t			 host;
	size_t			 slot;		/* in c->dns_q / dns_aq */
};

/* remote_aq_done - aq's answer came: it is no longer the connection's
   to free */
static void
remote_aq_done(struct remote_aq *aq)
{
	aq->c->dns_aq[aq->slot] = NULL;
	free(aq);
}

/* remote_tlsa_cb - the TLSA answer of one MX host (DANE routes) */
static void
remote_tlsa_cb(void *arg, const struct dns_answer *ans)
{
	struct remote_aq *aq = arg;
	struct remote_conn *c = aq->c;
	struct remote_hosttls *ht = &c->htls[aq->host];
	size_t usable = 0, oversize = 0, cap;

	remote_aq_done(aq);
	switch (ans->status) {
	case DNS_OK:
		if (!ans->secure) {
			ht->tlsa = TT_NONE;	/* RFC 7672 2.2: not used */
			break;
		}
		/* the usable records are kept (up to REMOTE_TLSA_MAX); one
		   that is usable but cannot be kept (longer than
		   DANE_DATA_MAX) takes the host out of use rather than
		   leave it unauthenticated */
		cap = ans->n < REMOTE_TLSA_MAX ? ans->n : REMOTE_TLSA_MAX;
		ht->recs = xcalloc(cap ? cap : 1, sizeof(*ht->recs));
		for (size_t i = 0; i < ans->n; i++) {
			const struct dns_rr *rr = &ans->rr[i];
			struct dane_tlsa *t = &ht->recs[ht->nrecs < cap ?
			    ht->nrecs : cap - 1];

			if (rr->type != DNS_T_TLSA)
				continue;
			if (dane_tlsa_parse(rr->raw, rr->raw_len, t) == -1) {
				/* usage 2/3 and selector 0/1: it counted */
				if (rr->raw_len > DANE_DATA_MAX + 3 &&
				    (rr->raw[0] == 2 || rr->raw[0] == 3) &&
				    rr->raw[1] <= 1)
					oversize++;
				continue;
			}
			if (!dane_tlsa_usable(t))
				continue;
			usable++;
			if (ht->nrecs < cap)
				ht->nrecs++;
		}
		ht->tlsa = ht->nrecs > 0 ? TT_USABLE : oversize > 0 ?
		    TT_FAILED : TT_UNUSABLE;
		break;
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		ht->tlsa = TT_NONE;
		break;
	case DNS_TEMPFAIL:
	case DNS_PERMFAIL:
	default:
		ht->tlsa = TT_FAILED;
		ht->bogus = ans->bogus;
		break;
	}
	if (--c->dns_pending == 0)
		remote_route_ready(c);
}

static void
remote_addr_cb(void *arg, const struct dns_answer *ans)
{
	struct remote_aq *aq = arg;
	struct remote_conn *c = aq->c;
	size_t h = aq->host;

	remote_aq_done(aq);
	if (c->htls != NULL && ans->status == DNS_OK && !ans->secure)
		c->htls[h].addr_insecure = true;
	for (size_t i = 0; ans->status == DNS_OK && i < ans->n; i++) {
		struct remote_addr *a;

		if (ans->rr[i].type != ans->type || c->nbyhost[h] >= 8)
			continue;
		c->byhost[h] = xreallocarray(c->byhost[h], c->nbyhost[h] + 1,
		    sizeof(**c->byhost));
		a = &c->byhost[h][c->nbyhost[h]++];
		memset(a, 0, sizeof(*a));
		snprintf(a->host, sizeof(a->host), "%s", c->mx[h]);
		a->ss.ss_family = (sa_family_t)ans->rr[i].family;
		if (ans->rr[i].family == AF_INET)
			memcpy(&((struct sockaddr_in *)&a->ss)->sin_addr,
			    ans->rr[i].addr, 4);
		else
			memcpy(&((struct sockaddr_in6 *)&a->ss)->sin6_addr,
			    ans->rr[i].addr, 16);
	}
	if (ans->status == DNS_TEMPFAIL && ans->bogus)
		snprintf(c->lasterr, sizeof(c->lasterr), "DNSSEC validation"
		    " failed (bogus) looking up %s", c->mx[h]);
	else if (ans->status == DNS_TEMPFAIL)
		snprintf(c->lasterr, sizeof(c->lasterr), "temporary DNS"
		    " failure looking up %s", c->mx[h]);
	if (--c->dns_pending == 0)
		remote_route_ready(c);
}

/* remote_resolve_hosts - AAAA and A for every MX host, all at once */
static void
remote_resolve_hosts(struct remote_conn *c)
{
	struct remote *r = c->dest->r;

	c->byhost = xcalloc(c->nmx, sizeof(*c->byhost));
	c->nbyhost = xcalloc(c->nmx, sizeof(*c->nbyhost));
	if (c->dest->tlsf & TF_DANE)
		c->htls = xcalloc(c->nmx, sizeof(*c->htls));
	c->dns_pending = 1;	/* held until every query has started */
	for (size_t i = 0; i < c->nmx; i++) {
		static const int types[] = { DNS_T_AAAA, DNS_T_A };
		struct in_addr a4;
		struct in6_addr a6;
		const char *h = c->mx[i];

		/* an address literal needs no lookup */
		if (inet_pton(AF_INET, h, &a4) == 1 ||
		    inet_pton(AF_INET6, h, &a6) == 1) {
			struct remote_addr *a = xcalloc(1, sizeof(*a));

			snprintf(a->host, sizeof(a->host), "%s", h);
			if (inet_pton(AF_INET, h, &a4) == 1) {
				a->ss.ss_family = AF_INET;
				((struct sockaddr_in *)&a->ss)->sin_addr = a4;
			} else {
				a->ss.ss_family = AF_INET6;
				((struct sockaddr_in6 *)&a->ss)->sin6_addr = a6;
			}
			c->byhost[i] = a;
			c->nbyhost[i] = 1;
			continue;
		}
		for (size_t t = 0; t < (c->htls != NULL ? 3u : 2u); t++) {
			struct remote_aq *aq = xcalloc(1, sizeof(*aq));
			char tlsa[300];
			uint64_t id;

			aq->c = c;
			aq->host = i;
			c->dns_pending++;
			if (t == 2) {
				/* RFC 7672 2.2.1: _25._tcp.HOST (MX
				   delivery is SMTP on port 25, whatever
				   [relay] outbound_port says) */
				snprintf(tlsa, sizeof(tlsa), "_25._tcp.%s",
				    h);
				id = r->res.query(r->res.ctx, tlsa,
				    DNS_T_TLSA, remote_tlsa_cb, aq);
			} else
				id = r->res.query(r->res.ctx, h, types[t],
				    remote_addr_cb, aq);
			if (id == 0) {
				free(aq);
				c->dns_pending--;
				if (t == 2)	/* no TLSA answer: not "none" */
					c->htls[i].tlsa = TT_FAILED;
				continue;
			}
			c->dns_q = xreallocarray(c->dns_q, c->ndns_q + 1,
			    sizeof(*c->dns_q));
			c->dns_aq = xreallocarray(c->dns_aq, c->ndns_q + 1,
			    sizeof(*c->dns_aq));
			aq->slot = c->ndns_q;
			c->dns_aq[c->ndns_q] = aq;
			c->dns_q[c->ndns_q++] = id;
		}
	}
	if (--c->dns_pending == 0)
		remote_route_ready(c);
}

static int
remote_mx_cmp(const void *a, const void *b)
{
	const struct dns_rr *x = a, *y = b;

	return (int)x->pref - (int)y->pref;
}

/* --- connections ------------------------------------------------------ */

/* remote_literal - host without the brackets and "IPv6:" of an address
   literal ("[192.0.2.1]", "[IPv6:2001:db8::1]"); any other host as is */
static void
remote_literal(const char *host, char *out, size_t outlen)
{
	size_t l = strlen(host);

	if (host[0] != '[' || l < 3 || host[l - 1] != ']') {
		snprintf(out, outlen, "%s", host);
		return;
	}
	snprintf(out, outlen, "%.*s", (int)(l - 2), host + 1);
	if (strncasecmp(out, "IPv6:", 5) == 0)
		memmove(out, out + 5, strlen(out + 5) + 1);
}

/* remote_conn_start - a new connection for d from source address src:
   resolve the site's MX hosts, then connect */
static void
remote_conn_start(struct remote_dest *d, size_t src)
{
	struct remote *r = d->r;
	struct remote_conn *c = xcalloc(1, sizeof(*c));
	const char *host;
	char hostbuf[256];

	c->dest = d;
	c->src = src;
	c->snap = conf_live_get(r->shared->live);
	c->state = RC_RESOLVING;
	smtp_reply_init(&c->reply);
	c->next = d->conns;
	d->conns = c;
	d->nconns++;
	d->srcs[src].nconns++;
	r->nconns++;
	if (d->smarthost) {
		/* the smarthost: a name or an address literal, no MX */
		char lit[256];

		remote_port(c, &host, hostbuf, sizeof(hostbuf));
		remote_literal(host, lit, sizeof(lit));
		c->mx = xcalloc(1, sizeof(*c->mx));
		snprintf(c->mx[0], sizeof(c->mx[0]), "%s", lit);
		c->nmx = 1;
		remote_resolve_hosts(c);
		return;
	}
	if (d->nmx == 0) {
		snprintf(c->lasterr, sizeof(c->lasterr), "no mail exchanger"
		    " known for site %s", d->name);
		snprintf(c->laststatus, sizeof(c->laststatus), "4.4.3");
		remote_conn_next_addr(c);
		return;
	}
	/* the site's hosts by preference; equal preferences in random
	   order for each connection (RFC 5321 5.1) */
	c->mx = xcalloc(d->nmx, sizeof(*c->mx));
	c->nmx = d->nmx;
	for (size_t i = 0; i < d->nmx; i++)
		memcpy(c->mx[i], d->mx[i], sizeof(c->mx[i]));
	for (size_t i = 0; i < d->nmx; ) {
		size_t j = i;

		while (j < d->nmx && d->mxpref[j] == d->mxpref[i])
			j++;
		for (size_t k = j - i; k > 1; k--) {
			size_t m = i + (size_t)arc4random_uniform((uint32_t)k);
			char t[256];

			memcpy(t, c->mx[i + k - 1], sizeof(t));
			memcpy(c->mx[i + k - 1], c->mx[m], sizeof(t));
			memcpy(c->mx[m], t, sizeof(t));
		}
		i = j;
	}
	remote_resolve_hosts(c);
}

static void
remote_conn_free(struct remote_conn *c)
{
	struct remote_dest *d = c->dest;
	struct remote *r = d->r;
	struct remote_conn **pp;

	if (c->alive)
		*c->alive = false;
	for (pp = &d->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	d->nconns--;
	d->srcs[c->src].nconns--;
	r->nconns--;
	for (size_t i = 0; i < c->ndns_q; i++) {
		/* a cancelled query's callback never runs: its argument
		   is freed here */
		r->res.cancel(r->res.ctx, c->dns_q[i]);
		free(c->dns_aq[i]);
	}
	free(c->dns_aq);
	if (c->job != NULL) {
		/* not reported: leased, it runs again after the next start */
		deliver_job_free(c->job);
	}
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->idle)
		event_free(c->idle);
	for (size_t i = 0; c->byhost && i < c->nmx; i++)
		free(c->byhost[i]);
	free(c->byhost);
	free(c->nbyhost);
	for (size_t i = 0; c->htls && i < c->nmx; i++)
		free(c->htls[i].recs);
	free(c->htls);
	free(c->dns_q);
	free(c->mx);
	free(c->addrs);
	free(c->rcpt_reply);
	conf_snap_unref(c->snap);
	free(c);
	if (!r->stopping) {
		if (r->starved)
			event_active(r->kick_ev, 0, 0);
		remote_dest_kick(d);
		remote_dest_gc(d);
	}
}

/* --- scheduling on the site's worker --------------------------------- */

/* remote_next_midnight - the next 00:00 UTC after now */
static int64_t
remote_next_midnight(int64_t now)
{
	return (now / 86400 + 1) * 86400;
}

/* remote_dest_warmup - sources whose day's allowance is back; true when
   some source may send */
static bool
remote_dest_warmup(struct remote_dest *d, const struct conf *conf,
    int64_t now)
{
	uint64_t allow = shaping_warmup_allowance(conf_pool_find(conf,
	    d->pool), now);
	bool any = false;

	for (size_t i = 0; i < d->nsrcs; i++) {
		struct remote_src *src = &d->srcs[i];

		if (src->spent && warmup_sent(src->addr, now) < allow)
			src->spent = false;
		if (!src->spent)
			any = true;
	}
	return any;
}

/* remote_dest_kick - give waiting jobs to idle connections, open more */
static void
remote_dest_kick(struct remote_dest *d)
{
	struct remote *r = d->r;
	struct conf_snap *snap;
	unsigned max_total, want, cap = 0;
	int64_t now = time(NULL), now_us;
	double rate;
	bool any;

	if (d->jobs == NULL)
		return;
	if (d->retry_at > now) {
		remote_dest_fail_all(d, SPOOL_OUTCOME_DEFERRED, "4.4.1",
		    "destination is backing off after failed connections",
		    d->retry_at);
		return;
	}
	remote_site_tick(r, d->site, now);
	if (d->site->suspended_until > now) {
		remote_dest_suspend_all(d, d->site->suspended_until,
		    d->site->reason);
		return;
	}
	snap = conf_live_get(r->shared->live);
	any = remote_dest_warmup(d, snap->conf, now);
	if (!any && d->paused_until <= now) {
		d->paused_until = remote_next_midnight(now);
		log_info("event=pool.warmup_paused site=%s pool=%s until=%lld",
		    d->name, d->pool ? d->pool : "default",
		    (long long)d->paused_until);
	}
	if (!any) {
		struct deliver_job *job;
		char why[300];

		snprintf(why, sizeof(why), "the warm-up allowance of pool %s"
		    " is spent for today", d->pool ? d->pool : "default");
		while ((job = d->jobs) != NULL) {
			d->jobs = job->next;
			job->next = NULL;
			d->njobs--;
			remote_job_throttle(r, job, d->paused_until, false, why);
		}
		d->jobs_tail = &d->jobs;
		conf_snap_unref(snap);
		return;
	}
	d->paused_until = 0;
	for (struct remote_conn *c = d->conns; c && d->jobs; c = c->next)
		if (c->state == RC_READY)
			remote_conn_take_job(c);
	if (d->jobs == NULL) {
		conf_snap_unref(snap);
		return;
	}
	max_total = snap->conf->relay.max_outbound_connections /
	    r->shared->nworkers + 1;
	conf_snap_unref(snap);
	for (size_t i = 0; i < d->nsrcs; i++)
		if (!d->srcs[i].spent)
			cap += d->lim.connection_limit;
	/* one connection, plus one per REMOTE_JOBS_PER_CONN waiting jobs */
	want = 1 + (unsigned)(d->njobs / REMOTE_JOBS_PER_CONN);
	if (want > cap)
		want = cap;
	rate = remote_site_rate(d);
	now_us = remote_now_us();
	while (d->nconns < want && d->jobs != NULL && d->retry_at <= now) {
		size_t best = d->nsrcs;
		int64_t slot = 0;

		if (r->nconns >= max_total) {
			/* a connection that closes anywhere kicks again */
			r->starved = true;
			break;
		}
		/* the source with the fewest connections, under its limit,
		   whose rate has a slot now: a connection opened long before
		   its slot would only idle out and come again */
		for (size_t i = 0; i < d->nsrcs; i++) {
			const struct remote_src *src = &d->srcs[i];

			if (src->spent ||
			    src->nconns >= d->lim.connection_limit)
				continue;
			if (rate > 0 && src->next_us > now_us) {
				if (slot == 0 || src->next_us < slot)
					slot = src->next_us;
				continue;
			}
			if (best == d->nsrcs ||
			    src->nconns < d->srcs[best].nconns)
				best = i;
		}
		if (best == d->nsrcs) {
			if (slot != 0)
				remote_dest_arm(d, slot);
			break;
		}
		remote_conn_start(d, best);
	}
}

/* remote_kick_all - connections were short: every waiting destination
   gets another look (an event of its own, so no destination is freed
   under a loop that walks them) */
static void
remote_kick_all_cb(evutil_socket_t fd, short what, void *arg)
{
	struct remote *r = arg;
	struct remote_dest *d, *next;

	r->starved = false;
	if (r->stopping)
		return;
	for (d = r->dests; d; d = next) {
		next = d->next;
		if (d->jobs != NULL && d->nconns == 0)
			remote_dest_kick(d);
	}
}

/* remote_job_split - job cut into jobs of at most max recipients (the
   first keeps the original's; the rest are copies), as a list */
static struct deliver_job *
remote_job_split(struct deliver_job *job, unsigned max)
{
	struct deliver_job *head = job, **tail = &job->next;
	size_t keep = max;

	if (max == 0 || job->nrcpts <= max)
		return job;
	for (size_t i = keep; i < job->nrcpts; i += max) {
		struct deliver_job *p = xcalloc(1, sizeof(*p));

		p->msg_id = job->msg_id;
		memcpy(p->qid, job->qid, sizeof(p->qid));
		p->sender = xstrdup(job->sender);
		p->transport = job->transport;
		p->domain = xstrdup(job->domain);
		p->arrival = job->arrival;
		p->size = job->size;
		p->body_file = job->body_file;
		p->recovered = job->recovered;
		p->envid = job->envid ? xstrdup(job->envid) : NULL;
		p->ret = job->ret;
		p->smtputf8 = job->smtputf8;
		p->body8 = job->body8;
		p->junk = job->junk;
		p->pool = job->pool ? xstrdup(job->pool) : NULL;
		p->priority = job->priority;
		p->requiretls = job->requiretls;
		p->tls_optional = job->tls_optional;
		p->site = job->site ? xstrdup(job->site) : NULL;
		for (size_t k = i; k < job->nrcpts && k < i + max; k++)
			deliver_job_add_rcpt(p, job->rcpts[k].rcpt_id,
			    job->rcpts[k].addr, job->rcpts[k].orig,
			    job->rcpts[k].orcpt, job->rcpts[k].notify,
			    job->rcpts[k].attempts);
		if (job->body.data != NULL) {
			p->body.data = xmalloc(job->body.len + 1);
			memcpy(p->body.data, job->body.data, job->body.len);
			p->body.data[job->body.len] = '\0';
			p->body.len = job->body.len;
		}
		*tail = p;
		tail = &p->next;
	}
	for (size_t k = keep; k < job->nrcpts; k++) {
		free(job->rcpts[k].addr);
		free(job->rcpts[k].orig);
		free(job->rcpts[k].orcpt);
	}
	job->nrcpts = keep;
	return head;
}

/* remote_dest_queue - job joins d's queue: high priority ahead of normal */
static void
remote_dest_queue(struct remote_dest *d, struct deliver_job *job)
{
	struct deliver_job **pp;

	pp = &d->jobs;
	if (job->priority > SPOOL_PRIORITY_NORMAL)
		while (*pp != NULL && (*pp)->priority >= job->priority)
			pp = &(*pp)->next;
	else
		pp = d->jobs_tail;
	job->next = *pp;
	*pp = job;
	if (job->next == NULL)
		d->jobs_tail = &job->next;
	d->njobs++;
}

/* remote_dest_youngest - take the most recent normal-priority job out of
   d's queue if it arrived after arrival; NULL if none did */
static struct deliver_job *
remote_dest_youngest(struct remote_dest *d, int64_t arrival)
{
	struct deliver_job **pp, **yp = NULL, *y;

	for (pp = &d->jobs; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->priority == SPOOL_PRIORITY_NORMAL &&
		    (yp == NULL || (*pp)->arrival > (*yp)->arrival))
			yp = pp;
	if (yp == NULL || (*yp)->arrival <= arrival)
		return NULL;
	y = *yp;
	*yp = y->next;
	if (*yp == NULL)
		d->jobs_tail = yp;
	y->next = NULL;
	d->njobs--;
	return y;
}

/*
 * remote_dest_admit - queue job at d, or send it back: its site is
 * suspended, or d's rate already holds REMOTE_HOLD_SECONDS of work (then
 * it gets the time of a slot behind those already given out, so jobs
 * come back about when they can go). When the hold is full the oldest
 * mail wins (a job that comes back takes the place of newer mail, so none
 * is sent back for ever), and high priority always gets in.
 */
static void
remote_dest_admit(struct remote_dest *d, struct deliver_job *job, int64_t now)
{
	struct remote_site *si = d->site;
	struct deliver_job *young;
	double rate = remote_site_rate(d), total, hold, first, spacing;
	int64_t at;
	char why[300];

	if (si->suspended_until > now) {
		snprintf(why, sizeof(why), "site %s is suspended: %s", d->name,
		    si->reason);
		remote_job_throttle(d->r, job, si->suspended_until, true, why);
		return;
	}
	total = rate * (double)d->nsrcs;
	hold = total * REMOTE_HOLD_SECONDS;
	if (hold < REMOTE_HOLD_MIN)
		hold = REMOTE_HOLD_MIN;
	if (hold > REMOTE_HOLD_MAX)
		hold = REMOTE_HOLD_MAX;
	if (rate <= 0 || job->priority > SPOOL_PRIORITY_NORMAL ||
	    (double)d->njobs < hold) {
		remote_dest_queue(d, job);
		return;
	}
	if ((young = remote_dest_youngest(d, job->arrival)) != NULL) {
		remote_dest_queue(d, job);
		job = young;
	}
	/*
	 * Slots are given out at the configured rate even while a back-off
	 * has cut it: jobs that come back too early are sent back again,
	 * but once the rate is lifted none is left waiting for slots given
	 * out at the cut rate.
	 */
	if (d->lim.rate <= 0) {
		/* only a back-off's cut limits this site, and it is lifted
		   step by step: back at the next step, to be seen again */
		at = now + (si->recover > 0 ? (int64_t)si->recover : 1);
		snprintf(why, sizeof(why), "site %s is slowed down by a back-off"
		    " rule: queued for a later slot", d->name);
		remote_job_throttle(d->r, job, at, false, why);
		return;
	}
	if (d->lim.rate > rate)
		spacing = 1.0 / (d->lim.rate * (double)d->nsrcs);
	else
		spacing = 1.0 / total;
	first = (double)now + (double)d->njobs * spacing;
	if (d->cursor < first)
		d->cursor = first;
	d->cursor += spacing;
	at = (int64_t)(d->cursor - REMOTE_HOLD_SECONDS / 2);
	if (at <= now)
		at = now + 1;
	snprintf(why, sizeof(why), "site %s sends at most %.3g messages/s per"
	    " source address: queued for a later slot", d->name, rate);
	remote_job_throttle(d->r, job, at, false, why);
}

/* what a domain's worker hands the site's worker */
struct remote_hand {
	struct deliver_job	*job;
	char			 site[SHAPING_SITE_MAX];
	bool			 smarthost;
	unsigned		 tlsf;		/* the job's (tlsreq_job) */
	uint64_t		 mxkey;		/* remote_mx_key of mx */
	char			 (*mx)[256];
	unsigned		*mxpref;
	size_t			 nmx;
};

static void
remote_hand_free(struct remote_hand *h)
{
	deliver_job_free(h->job);
	free(h->mx);
	free(h->mxpref);
	free(h);
}

/* remote_site_enqueue - on the site's worker: the job joins its site */
static void
remote_site_enqueue(struct remote *r, struct remote_hand *h)
{
	struct conf_snap *snap = conf_live_get(r->shared->live);
	struct shaping_limits lim;
	struct remote_dest *d;
	struct deliver_job *job = h->job, *next;
	int64_t now = time(NULL);

	shaping_limits(snap->conf, h->site, &lim);
	d = remote_dest_get(r, h->site, job->pool ? job->pool : lim.pool,
	    h->smarthost, h->tlsf, h->mxkey, snap->conf);
	d->lim = lim;
	/* names in the snapshot, which goes now: not kept */
	d->lim.pool = NULL;
	d->lim.rule = NULL;
	d->site->rate_conf = lim.rate;
	conf_snap_unref(snap);
	if (h->nmx > 0) {
		/* the latest answer for the site's hosts */
		free(d->mx);
		free(d->mxpref);
		d->mx = h->mx;
		d->mxpref = h->mxpref;
		d->nmx = h->nmx;
		h->mx = NULL;
		h->mxpref = NULL;
	}
	free(job->site);
	job->site = xstrdup(h->site);
	h->job = NULL;
	remote_hand_free(h);
	remote_site_tick(r, d->site, now);
	for (job = remote_job_split(job, lim.max_rcpts); job; job = next) {
		next = job->next;
		job->next = NULL;
		remote_dest_admit(d, job, now);
	}
	remote_dest_kick(d);
	remote_dest_gc(d);
}

static void
remote_site_accept(struct worker *w, void *data)
{
	struct remote *r = w->remote;

	if (r == NULL || r->stopping) {
		remote_hand_free(data);	/* still leased: after restart */
		return;
	}
	remote_site_enqueue(r, data);
}

static unsigned
remote_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)(*s | 0x20)) * 16777619u;
	return h;
}

/*
 * remote_mx_key - the identity of an MX host set with its preferences,
 * in any order. Domains share a destination (its queue and connections)
 * only when their MX sets are the same: a [site] that matches one host
 * names a site, not a route, so that another domain's MX list (an
 * attacker's host first, a Google one second) never becomes the list
 * gmail.com's mail is sent to. The site's state (suspension, rate) is
 * still shared by name.
 */
static uint64_t
remote_mx_key(char (*mx)[256], const unsigned *pref, size_t n)
{
	uint64_t key = n;

	for (size_t i = 0; i < n; i++) {
		uint64_t h = 1469598103934665603ull ^ pref[i];

		for (const char *p = mx[i]; *p; p++)
			h = (h ^ (unsigned char)(*p | 0x20)) * 1099511628211ull;
		/* splitmix64 finaliser: a sum of these is order-free */
		h ^= h >> 30;
		h *= 0xbf58476d1ce4e5b9ull;
		h ^= h >> 27;
		h *= 0x94d049bb133111ebull;
		h ^= h >> 31;
		key += h;
	}
	return key;
}

/* remote_forward - job goes to its site, on the site's worker */
static void
remote_forward(struct remote *r, struct deliver_job *job, const char *site,
    bool smarthost, const struct remote_route *rt)
{
	struct remote_hand *h;
	struct worker *w;
	unsigned tlsf = rt != NULL ? tlsreq_job(rt->tlsf, job->tls_optional) :
	    0;

	if (rt != NULL && rt->tls_fail != NULL && !job->tls_optional) {
		remote_job_finish(r, job, SPOOL_OUTCOME_DEFERRED, "4.7.5",
		    rt->tls_fail, NULL, NULL, 0);
		return;
	}
	/* RFC 8689 4.2.1: REQUIRETLS mail goes only where DANE or an
	   enforced MTA-STS policy authenticates the next hop */
	if (job->requiretls && job->sender[0] != '\0' &&
	    (smarthost || !tlsreq_requiretls_ok(tlsf))) {
		remote_job_finish(r, job, SPOOL_OUTCOME_BOUNCED, "5.7.30",
		    smarthost ? "REQUIRETLS: the smarthost cannot be "
		    "authenticated by DANE or MTA-STS" : "REQUIRETLS: the "
		    "recipient domain has neither DANE nor an enforced "
		    "MTA-STS policy", NULL, NULL, 0);
		return;
	}
	h = xcalloc(1, sizeof(*h));
	h->job = job;
	snprintf(h->site, sizeof(h->site), "%s", site);
	h->smarthost = smarthost;
	h->tlsf = tlsf;
	if (rt != NULL && rt->nmx > 0) {
		h->mx = xcalloc(rt->nmx, sizeof(*h->mx));
		h->mxpref = xcalloc(rt->nmx, sizeof(*h->mxpref));
		memcpy(h->mx, rt->mx, rt->nmx * sizeof(*h->mx));
		memcpy(h->mxpref, rt->mxpref, rt->nmx * sizeof(*h->mxpref));
		h->nmx = rt->nmx;
		h->mxkey = remote_mx_key(rt->mx, rt->mxpref, rt->nmx);
	}
	w = &r->shared->workers[remote_hash(site) % r->shared->nworkers];
	if (w == r->w)
		remote_site_enqueue(r, h);
	else
		worker_call(w, remote_site_accept, h);
}

/* --- routes: a domain's MX hosts and site ----------------------------- */

static struct remote_route **
remote_route_slot(struct remote *r, const char *domain)
{
	return &r->routes[remote_hash(domain) % REMOTE_ROUTE_BUCKETS];
}

static void
remote_route_free(struct remote *r, struct remote_route *rt)
{
	struct deliver_job *job;

	if (rt->resolving && rt->dns_q != 0)
		r->res.cancel(r->res.ctx, rt->dns_q);
	while ((job = rt->jobs) != NULL) {
		rt->jobs = job->next;
		deliver_job_free(job);	/* still leased: after restart */
	}
	free(rt->mx);
	free(rt->mxpref);
	free(rt->tls_fail);
	free(rt->domain);
	free(rt);
	r->nroutes--;
}

/* remote_route_sweep - forget answers past their time (all that wait for
   nothing when there are too many) */
static void
remote_route_sweep(struct remote *r, int64_t now, bool all)
{
	for (size_t i = 0; i < REMOTE_ROUTE_BUCKETS; i++) {
		struct remote_route **pp = &r->routes[i], *rt;

		while ((rt = *pp) != NULL) {
			if (!rt->resolving && !rt->sts_wait &&
			    rt->jobs == NULL &&
			    rt->retry_at <= now && (all || rt->expires <= now)) {
				*pp = rt->next;
				remote_route_free(r, rt);
			} else
				pp = &rt->next;
		}
	}
}

/* remote_route_finish - every waiting job gets the same outcome */
static void
remote_route_finish(struct remote_route *rt, enum spool_outcome outcome,
    const char *status, const char *reply, int64_t retry_at)
{
	struct deliver_job *job;

	while ((job = rt->jobs) != NULL) {
		rt->jobs = job->next;
		job->next = NULL;
		remote_job_finish(rt->r, job, outcome, status, reply, NULL, NULL,
		    retry_at);
	}
	rt->jobs_tail = &rt->jobs;
}

static void	remote_sts_done(void *arg, const char *domain);

/* remote_route_sts - the MTA-STS policy of rt's domain, filtering its MX
   hosts when enforced; 1 settled (*ts set), 0 pending (done follows),
   -1 no MX host matches an enforced policy (jobs deferred) */
static int
remote_route_sts(struct remote_route *rt, enum tlsreq_sts *ts)
{
	struct remote *r = rt->r;
	struct sts_policy *pol = xmalloc(sizeof(*pol));
	enum tls_result fail = TLS_R_OK;
	size_t n = 0;

	*ts = TS_NONE;
	/* the worker, not r: the answer may come after r is gone (workers
	   outlive the MTA-STS thread) */
	switch (sts_get(r->shared->sts, rt->domain, pol, &fail,
	    remote_sts_done, r->w)) {
	case STS_PENDING:
		free(pol);
		return 0;
	case STS_NO:
		if (fail != TLS_R_OK && r->shared->tlsrpt != NULL) {
			struct tlsrpt_outcome o = {
				.policy_domain = rt->domain,
				.policy_type = TLSRPT_POLICY_STS,
				.result = fail,
				.detail = "the MTA-STS policy could not be used",
			};

			tlsrpt_record(r->shared->tlsrpt, &o);
		}
		free(pol);
		return 1;
	case STS_GOT:
		break;
	}
	if (pol->mode == STS_MODE_TESTING)
		*ts = TS_TESTING;
	if (pol->mode != STS_MODE_ENFORCE) {
		free(pol);
		return 1;
	}
	*ts = TS_ENFORCE;
	/* RFC 8461 4.1: only the MX hosts the policy names */
	for (size_t i = 0; i < rt->nmx; i++)
		if (sts_mx_match(pol, rt->mx[i])) {
			if (n != i) {
				memcpy(rt->mx[n], rt->mx[i], sizeof(rt->mx[n]));
				rt->mxpref[n] = rt->mxpref[i];
			}
			n++;
		}
	free(pol);
	if (n == 0 && rt->nmx > 0) {
		char reply[400];

		snprintf(reply, sizeof(reply), "MTA-STS: no MX host of %s "
		    "matches its policy (enforce)", rt->domain);
		log_info("event=remote.route dest=%s result=sts-mx-mismatch",
		    rt->domain);
		if (r->shared->tlsrpt != NULL) {
			struct tlsrpt_outcome o = {
				.policy_domain = rt->domain,
				.policy_type = TLSRPT_POLICY_STS,
				.mx_host = rt->mx[0],
				.result = TLS_R_VALIDATION_FAILURE,
				.detail = "no MX host matches the policy",
			};

			tlsrpt_record(r->shared->tlsrpt, &o);
		}
		rt->nmx = 0;
		rt->expires = 0;
		remote_route_finish(rt, SPOOL_OUTCOME_DEFERRED, "4.7.5", reply,
		    0);
		return -1;
	}
	rt->nmx = n;
	return 1;
}

static void	remote_route_known(struct remote_route *rt);

/* remote_route_decide - MX known: the domain's TLS requirements (its
   [tls_policy] line, DNSSEC, MTA-STS), then its site */
static void
remote_route_decide(struct remote_route *rt)
{
	struct remote *r = rt->r;
	struct conf_snap *snap = conf_live_get(r->shared->live);
	const struct conf_tls_policy *override;
	enum tlsreq_sts ts = TS_NONE;
	char why[300], reply[400];
	int rc;

	override = conf_tls_policy_find(snap->conf, rt->domain);
	if (r->shared->sts != NULL && tlsreq_sts_wanted(override) &&
	    rt->domain[0] != '[') {
		rc = remote_route_sts(rt, &ts);
		if (rc <= 0) {
			rt->sts_wait = rc == 0;
			conf_snap_unref(snap);
			return;
		}
	}
	rt->sts_wait = false;
	rc = tlsreq_route(override, snap->conf->dns.trust_anchor != NULL,
	    rt->mx_secure, ts, &rt->tlsf, why, sizeof(why));
	conf_snap_unref(snap);
	free(rt->tls_fail);
	rt->tls_fail = NULL;
	if (rc == -1) {
		/* only messages with "TLS-Required: No" can go (on a route
		   without requirements): remote_forward defers the others */
		snprintf(reply, sizeof(reply), "%s: %s", rt->domain, why);
		log_info("event=remote.route dest=%s result=tls-policy"
		    " error=\"%s\"", rt->domain, why);
		rt->tls_fail = xstrdup(reply);
		rt->tlsf = 0;
	}
	remote_route_known(rt);
}

/* remote_sts_ready - on the route's worker: the policy of domain (data)
   is settled */
static void
remote_sts_ready(struct worker *w, void *data)
{
	struct remote *r = w->remote;
	char *domain = data;
	struct remote_route *rt;

	if (r != NULL && !r->stopping) {
		for (rt = *remote_route_slot(r, domain); rt; rt = rt->next)
			if (strcasecmp(rt->domain, domain) == 0)
				break;
		if (rt != NULL && rt->sts_wait && !rt->resolving)
			remote_route_decide(rt);
	}
	free(domain);
}

/* remote_sts_done - sts_done_fn, on the MTA-STS thread */
static void
remote_sts_done(void *arg, const char *domain)
{
	struct worker *w = arg;

	worker_call(w, remote_sts_ready, xstrdup(domain));
}

/* remote_route_known - the route is known: waiting jobs to their site */
static void
remote_route_known(struct remote_route *rt)
{
	struct conf_snap *snap = conf_live_get(rt->r->shared->live);
	const char **names = xcalloc(rt->nmx ? rt->nmx : 1, sizeof(*names));
	struct deliver_job *job;
	char tf[64];

	for (size_t i = 0; i < rt->nmx; i++)
		names[i] = rt->mx[i];
	shaping_site_name(snap->conf, rt->domain, names, rt->nmx, rt->site,
	    sizeof(rt->site));
	free(names);
	conf_snap_unref(snap);
	rt->expires = time(NULL) + REMOTE_ROUTE_TTL;
	rt->failures = 0;
	rt->retry_at = 0;
	tlsreq_flags_text(rt->tlsf, tf, sizeof(tf));
	log_debug("event=remote.route dest=%s site=%s mx=%zu tls=%s",
	    rt->domain, rt->site, rt->nmx, tf);
	while ((job = rt->jobs) != NULL) {
		rt->jobs = job->next;
		job->next = NULL;
		remote_forward(rt->r, job, rt->site, false, rt);
	}
	rt->jobs_tail = &rt->jobs;
}

static void
remote_route_mx_cb(void *arg, const struct dns_answer *ans)
{
	struct remote_route *rt = arg;
	struct remote *r = rt->r;
	struct dns_rr *rr;
	size_t n = 0;

	rt->dns_q = 0;
	rt->resolving = false;
	rt->mx_secure = ans->secure;
	rt->tlsf = 0;
	free(rt->mx);
	free(rt->mxpref);
	rt->mx = NULL;
	rt->mxpref = NULL;
	rt->nmx = 0;
	switch (ans->status) {
	case DNS_OK:
		break;
	case DNS_NODATA:
		/* no MX: the domain itself is the implicit MX (5.1) */
		rt->mx = xcalloc(1, sizeof(*rt->mx));
		rt->mxpref = xcalloc(1, sizeof(*rt->mxpref));
		snprintf(rt->mx[0], sizeof(rt->mx[0]), "%s", rt->domain);
		rt->nmx = 1;
		remote_route_decide(rt);
		return;
	case DNS_NXDOMAIN:
	case DNS_PERMFAIL:
		log_info("event=remote.route dest=%s result=nxdomain",
		    rt->domain);
		remote_route_finish(rt, SPOOL_OUTCOME_BOUNCED, "5.1.2",
		    ans->status == DNS_NXDOMAIN ? "the recipient domain does"
		    " not exist (NXDOMAIN)" : "the recipient domain has no"
		    " usable DNS records", 0);
		return;
	case DNS_TEMPFAIL:
	default: {
		struct conf_snap *snap = conf_live_get(r->shared->live);
		char reply[400];

		rt->failures++;
		rt->retry_at = time(NULL) + remote_backoff(snap->conf,
		    rt->failures);
		conf_snap_unref(snap);
		if (ans->bogus)
			snprintf(reply, sizeof(reply), "DNSSEC validation of"
			    " the MX records of %s failed (bogus)",
			    rt->domain);
		else
			snprintf(reply, sizeof(reply), "temporary DNS failure"
			    " looking up the MX of %s", rt->domain);
		log_info("event=remote.backoff dest=%s failures=%u"
		    " retry_in=%llds error=\"%s\"", rt->domain, rt->failures,
		    (long long)(rt->retry_at - time(NULL)), reply);
		remote_route_finish(rt, SPOOL_OUTCOME_DEFERRED, "4.4.3", reply,
		    rt->retry_at);
		return;
	}
	}
	/* null MX (RFC 7505): a single MX "." - the domain takes no mail */
	for (size_t i = 0; i < ans->n; i++)
		if (ans->rr[i].type == DNS_T_MX &&
		    strcmp(ans->rr[i].name, ".") == 0) {
			log_info("event=remote.route dest=%s result=nullmx",
			    rt->domain);
			remote_route_finish(rt, SPOOL_OUTCOME_BOUNCED, "5.1.10",
			    "the recipient domain accepts no mail (null MX,"
			    " RFC 7505)", 0);
			return;
		}
	rr = xcalloc(ans->n ? ans->n : 1, sizeof(*rr));
	for (size_t i = 0; i < ans->n; i++)
		if (ans->rr[i].type == DNS_T_MX)
			rr[n++] = ans->rr[i];
	qsort(rr, n, sizeof(*rr), remote_mx_cmp);
	if (n > REMOTE_MAX_MX)
		n = REMOTE_MAX_MX;
	if (n == 0) {
		/* answered, but with no MX among the records */
		rt->mx = xcalloc(1, sizeof(*rt->mx));
		rt->mxpref = xcalloc(1, sizeof(*rt->mxpref));
		snprintf(rt->mx[0], sizeof(rt->mx[0]), "%s", rt->domain);
		rt->nmx = 1;
		free(rr);
		remote_route_decide(rt);
		return;
	}
	rt->mx = xcalloc(n, sizeof(*rt->mx));
	rt->mxpref = xcalloc(n, sizeof(*rt->mxpref));
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(rr[i].name);

		snprintf(rt->mx[i], sizeof(rt->mx[i]), "%.*s",
		    (int)(l > 1 && rr[i].name[l - 1] == '.' ? l - 1 : l),
		    rr[i].name);
		rt->mxpref[i] = rr[i].pref;
	}
	rt->nmx = n;
	free(rr);
	remote_route_decide(rt);
}

/* remote_accept - on the domain's worker: find its site, pass the job */
static void
remote_accept(struct worker *w, void *data)
{
	struct deliver_job *job = data;
	struct remote *r = w->remote;
	struct remote_route **slot, *rt;
	struct conf_snap *snap;
	bool smarthost;
	int64_t now = time(NULL);

	if (r == NULL || r->stopping) {
		deliver_job_free(job);	/* still leased: after restart */
		return;
	}
	snap = conf_live_get(r->shared->live);
	smarthost = snap->conf->relay.smarthost != NULL;
	conf_snap_unref(snap);
	job->next = NULL;
	if (smarthost) {
		remote_forward(r, job, "[smarthost]", true, NULL);
		return;
	}
	if (now >= r->next_sweep || r->nroutes >= REMOTE_ROUTE_MAX) {
		remote_route_sweep(r, now, r->nroutes >= REMOTE_ROUTE_MAX);
		r->next_sweep = now + 60;
	}
	slot = remote_route_slot(r, job->domain);
	for (rt = *slot; rt; rt = rt->next)
		if (strcasecmp(rt->domain, job->domain) == 0)
			break;
	if (rt == NULL) {
		rt = xcalloc(1, sizeof(*rt));
		rt->r = r;
		rt->domain = xstrdup(job->domain);
		rt->jobs_tail = &rt->jobs;
		rt->next = *slot;
		*slot = rt;
		r->nroutes++;
	}
	if (rt->retry_at > now) {
		char reply[400];

		snprintf(reply, sizeof(reply), "temporary DNS failure looking"
		    " up the MX of %s", rt->domain);
		remote_job_finish(r, job, SPOOL_OUTCOME_DEFERRED, "4.4.3",
		    reply, NULL, NULL, rt->retry_at);
		return;
	}
	if (!rt->resolving && !rt->sts_wait && rt->expires > now) {
		remote_forward(r, job, rt->site, false, rt);
		return;
	}
	*rt->jobs_tail = job;
	rt->jobs_tail = &job->next;
	if (rt->resolving || rt->sts_wait)
		return;
	if (job->domain[0] == '[') {
		/* an address literal: the address is the route */
		char lit[256];

		remote_literal(job->domain, lit, sizeof(lit));
		free(rt->mx);
		free(rt->mxpref);
		rt->mx = xcalloc(1, sizeof(*rt->mx));
		rt->mxpref = xcalloc(1, sizeof(*rt->mxpref));
		snprintf(rt->mx[0], sizeof(rt->mx[0]), "%s", lit);
		rt->nmx = 1;
		rt->mx_secure = false;
		remote_route_decide(rt);
		return;
	}
	rt->resolving = true;
	rt->dns_q = r->res.query(r->res.ctx, rt->domain, DNS_T_MX,
	    remote_route_mx_cb, rt);
	if (rt->dns_q == 0) {
		struct dns_answer ans;

		memset(&ans, 0, sizeof(ans));
		ans.status = DNS_TEMPFAIL;
		remote_route_mx_cb(rt, &ans);
	}
}

void
remote_submit(void *arg, struct deliver_job *job)
{
	struct remote_shared *shared = arg;
	struct conf_snap *snap = conf_live_get(shared->live);
	const char *key = snap->conf->relay.smarthost != NULL ?
	    "[smarthost]" : job->domain;
	unsigned w = remote_hash(key) % shared->nworkers;

	conf_snap_unref(snap);
	worker_call(&shared->workers[w], remote_accept, job);
}

struct dns_resolver
remote_resolver(struct remote *r)
{
	return r->res;
}

/* remote_flush_here - relais queue flush: forget every backoff */
static void
remote_flush_here(struct worker *w, void *data)
{
	struct remote *r = w->remote;

	if (r == NULL)
		return;
	for (struct remote_dest *d = r->dests; d; d = d->next) {
		d->retry_at = 0;
		d->failures = 0;
	}
	for (size_t i = 0; i < REMOTE_ROUTE_BUCKETS; i++)
		for (struct remote_route *rt = r->routes[i]; rt; rt = rt->next) {
			rt->retry_at = 0;
			rt->failures = 0;
		}
}

void
remote_flush(struct remote_shared *shared)
{
	for (unsigned i = 0; i < shared->nworkers; i++)
		worker_call(&shared->workers[i], remote_flush_here, NULL);
}

/* an operator's suspension, on its way to the site's worker */
struct remote_hold {
	char	site[SHAPING_SITE_MAX];
	int64_t	until;
	bool	manual;		/* the operator's, or another node's rule */
	char	reason[256];
};

static void
remote_site_hold(struct worker *w, void *data)
{
	struct remote_hold *h = data;
	struct remote *r = w->remote;
	struct remote_site *si;

	if (r == NULL || r->stopping) {
		free(h);
		return;
	}
	si = remote_site_get(r, h->site);
	if (h->until > time(NULL)) {
		si->suspended_until = h->until;
		si->manual = h->manual;
		snprintf(si->reason, sizeof(si->reason), "%s", h->reason[0] ?
		    h->reason : "suspended by the operator");
		char la[300];

		log_info("event=site.suspend site=%s until=%lld manual=%s"
		    " reason=%s", si->name, (long long)si->suspended_until,
		    h->manual ? "yes" : "no",
		    log_quote(la, sizeof(la), si->reason, strlen(si->reason)));
		remote_site_report(r, si);
		for (struct remote_dest *d = r->dests; d; d = d->next)
			if (d->site == si)
				remote_dest_suspend_all(d, si->suspended_until,
				    si->reason);
	} else {
		bool was = si->suspended_until != 0;

		si->suspended_until = 0;
		si->manual = false;
		si->reason[0] = '\0';
		if (was)
			log_info("event=site.resume site=%s manual=yes",
			    si->name);
		remote_site_report(r, si);
		for (struct remote_dest *d = r->dests; d; d = d->next)
			if (d->site == si)
				remote_dest_kick(d);
	}
	remote_site_gc(r, si);
	free(h);
}

void
remote_site_suspend(struct remote_shared *shared, const char *site,
    int64_t until, const char *reason, bool manual)
{
	struct remote_hold *h = xcalloc(1, sizeof(*h));

	snprintf(h->site, sizeof(h->site), "%s", site);
	h->until = until;
	h->manual = manual;
	snprintf(h->reason, sizeof(h->reason), "%s", reason ? reason : "");
	worker_call(&shared->workers[remote_hash(site) % shared->nworkers],
	    remote_site_hold, h);
}

struct remote *
remote_new(struct worker *w, struct remote_shared *shared, struct err *err)
{
	struct remote *r = xcalloc(1, sizeof(*r));
	struct conf_snap *snap = conf_live_get(shared->live);

	r->w = w;
	r->shared = shared;
	r->dns = dns_new(w->base, snap->conf->dns.resolver,
	    snap->conf->dns.trust_anchor, snap->conf->dns.timeout, err);
	conf_snap_unref(snap);
	if (r->dns == NULL) {
		free(r);
		return NULL;
	}
	r->res = dns_resolver(r->dns);
	if ((r->ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		err_set(err, 0, "SSL_CTX_new failed");
		dns_free(r->dns);
		free(r);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(r->ssl_ctx, TLS1_2_VERSION);
	/* opportunistic TLS (RFC 7435) unless a policy asks: the checks
	   (DANE, WebPKI) are read after the handshake, never fatal in it */
	SSL_CTX_set_verify(r->ssl_ctx, SSL_VERIFY_NONE, NULL);
	snap = conf_live_get(shared->live);
	if (dane_ctx_enable(r->ssl_ctx, err) == -1 ||
	    dane_ctx_load_ca(r->ssl_ctx, snap->conf->relay.ca_file, err) ==
	    -1) {
		conf_snap_unref(snap);
		SSL_CTX_free(r->ssl_ctx);
		dns_free(r->dns);
		free(r);
		return NULL;
	}
	conf_snap_unref(snap);
	r->kick_ev = event_new(w->base, -1, 0, remote_kick_all_cb, r);
	return r;
}

void
remote_stop(struct remote *r)
{
	if (r == NULL)
		return;
	r->stopping = true;
	for (size_t i = 0; i < REMOTE_ROUTE_BUCKETS; i++) {
		struct remote_route *rt;

		while ((rt = r->routes[i]) != NULL) {
			r->routes[i] = rt->next;
			remote_route_free(r, rt);
		}
	}
	while (r->dests != NULL) {
		struct remote_dest *d = r->dests;

		while (d->conns != NULL)
			remote_conn_free(d->conns);
		while (d->jobs != NULL) {
			struct deliver_job *job = d->jobs;

			d->jobs = job->next;
			deliver_job_free(job);
		}
		r->dests = d->next;
		remote_dest_free(d);
	}
	while (r->sites != NULL) {
		struct remote_site *si = r->sites;

		r->sites = si->next;
		free(si);
	}
}

void
remote_free(struct remote *r)
{
	if (r == NULL)
		return;
	remote_stop(r);
	if (r->kick_ev != NULL)
		event_free(r->kick_ev);
	dns_free(r->dns);
	SSL_CTX_free(r->ssl_ctx);
	free(r);
}
