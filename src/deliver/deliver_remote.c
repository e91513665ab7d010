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
#include "net/bufout.h"
#include "net/dns.h"
#include "net/worker.h"
#include "smtp/smtp_param.h"
#include "smtp/smtp_reply.h"
#include "spool/spool.h"

#define REMOTE_IDLE_SECONDS	5	/* keep an idle connection this long */
#define REMOTE_CONNECT_TIMEOUT	30
#define REMOTE_T_GREETING	300	/* RFC 5321 4.5.3.2 */
#define REMOTE_T_COMMAND	300
#define REMOTE_T_DATA_INIT	120
#define REMOTE_T_DATA_BLOCK	180
#define REMOTE_T_DATA_END	600
#define REMOTE_MAX_ADDRS	16	/* addresses tried in one attempt */
#define REMOTE_MAX_MX		10
#define REMOTE_JOBS_PER_CONN	8	/* queued jobs per extra connection */

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
};

struct remote_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 host[256];	/* MX host name */
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

	/* route */
	uint64_t		 dns_mx;
	uint64_t		*dns_q;		/* A/AAAA queries in flight */
	size_t			 ndns_q, dns_pending;
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

struct remote_dest {
	struct remote_dest	*next;
	struct remote		*r;
	char			*name;		/* domain, or "[smarthost]" */
	bool			 smarthost;
	struct deliver_job	*jobs, **jobs_tail;
	size_t			 njobs;
	struct remote_conn	*conns;
	unsigned		 nconns;
	int64_t			 retry_at;	/* backoff until */
	unsigned		 failures;
};

struct remote {
	struct worker		*w;
	struct remote_shared	*shared;
	struct dns		*dns;
	struct dns_resolver	 res;
	SSL_CTX			*ssl_ctx;
	struct remote_dest	*dests;
	unsigned		 nconns;
	bool			 stopping;
};

static void	remote_conn_next_addr(struct remote_conn *c);
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

/* remote_job_finish - every recipient of job gets the same outcome */
static void
remote_job_finish(struct remote *r, struct deliver_job *job,
    enum spool_outcome outcome, const char *status, const char *reply,
    const char *relay, const char *remote_mta, int64_t retry_at)
{
	struct spool_result *res = xcalloc(job->nrcpts, sizeof(*res));

	for (size_t i = 0; i < job->nrcpts; i++) {
		deliver_result_init(&res[i], job, i);
		res[i].outcome = outcome;
		res[i].retry_at = retry_at;
		snprintf(res[i].status, sizeof(res[i].status), "%s", status);
		snprintf(res[i].reply, sizeof(res[i].reply), "%s", reply);
		snprintf(res[i].relay, sizeof(res[i].relay), "%s",
		    relay ? relay : "none");
		snprintf(res[i].remote_mta, sizeof(res[i].remote_mta), "%s",
		    remote_mta ? remote_mta : "");
	}
	r->shared->report(r->shared->report_arg, res, job->nrcpts);
	free(res);
	deliver_job_free(job);
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

/* --- destinations ------------------------------------------------------ */

static struct remote_dest *
remote_dest_get(struct remote *r, const char *name, bool smarthost)
{
	struct remote_dest *d;

	for (d = r->dests; d; d = d->next)
		if (d->smarthost == smarthost && strcasecmp(d->name, name) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->r = r;
	d->name = xstrdup(name);
	d->smarthost = smarthost;
	d->jobs_tail = &d->jobs;
	d->next = r->dests;
	r->dests = d;
	return d;
}

/* remote_dest_gc - forget a destination with nothing left to remember */
static void
remote_dest_gc(struct remote_dest *d)
{
	struct remote *r = d->r;
	struct remote_dest **pp;

	if (d->jobs != NULL || d->conns != NULL || d->retry_at > time(NULL))
		return;
	for (pp = &r->dests; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	free(d->name);
	free(d);
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

/* remote_tls_policy - NONE, MAY or REQUIRED for this destination */
static int
remote_tls_policy(const struct remote_conn *c)
{
	const struct conf *conf = remote_conf(c);

	return c->dest->smarthost ? conf->relay.smarthost_tls :
	    conf->relay.outbound_tls;
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
	int policy = remote_tls_policy(c);

	if (!c->tls && policy != CONF_RELAY_TLS_NONE && !c->tls_refused) {
		if (c->ext & RX_STARTTLS) {
			c->state = RC_STARTTLS;
			remote_send(c, "STARTTLS");
			remote_timeout(c, REMOTE_T_COMMAND);
			return;
		}
		if (policy == CONF_RELAY_TLS_REQUIRED) {
			remote_send(c, "QUIT");
			remote_conn_setup_failed(c, "4.7.4", "TLS is required"
			    " but %s does not offer STARTTLS", c->peer);
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

/* remote_xtext - RFC 3461 xtext of s into out */
static void
remote_xtext(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s && o + 4 < outlen; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 33 || ch > 126 || ch == '+' || ch == '=')
			o += (size_t)snprintf(out + o, outlen - o, "+%02X", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
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
		if (c->ext & RX_DSN) {
			if (job->ret == SMTP_RET_FULL || job->ret == SMTP_RET_HDRS)
				o += (size_t)snprintf(extra + o,
				    sizeof(extra) - o, " RET=%s",
				    job->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
			if (job->envid != NULL && o + 110 < sizeof(extra))
				o += (size_t)snprintf(extra + o,
				    sizeof(extra) - o, " ENVID=%s", job->envid);
		}
		remote_send(c, "MAIL FROM:<%s>%s", job->sender, extra);
	} else if (i <= job->nrcpts) {
		const struct deliver_rcpt *rc = &job->rcpts[i - 1];

		if ((c->ext & RX_DSN) && rc->notify != 0) {
			const char *sep = "";

			o += (size_t)snprintf(extra + o, sizeof(extra) - o,
			    " NOTIFY=");
			if (rc->notify & SMTP_NOTIFY_NEVER) {
				o += (size_t)snprintf(extra + o,
				    sizeof(extra) - o, "NEVER");
			} else {
				if (rc->notify & SMTP_NOTIFY_SUCCESS) {
					o += (size_t)snprintf(extra + o,
					    sizeof(extra) - o, "SUCCESS");
					sep = ",";
				}
				if (rc->notify & SMTP_NOTIFY_FAILURE) {
					o += (size_t)snprintf(extra + o,
					    sizeof(extra) - o, "%sFAILURE", sep);
					sep = ",";
				}
				if (rc->notify & SMTP_NOTIFY_DELAY)
					o += (size_t)snprintf(extra + o,
					    sizeof(extra) - o, "%sDELAY", sep);
			}
		}
		if ((c->ext & RX_DSN) && o + 520 < sizeof(extra)) {
			if (rc->orcpt != NULL)
				snprintf(extra + o, sizeof(extra) - o,
				    " ORCPT=%s", rc->orcpt);
			else if (rc->orig[0] != '\0') {
				char x[500];

				remote_xtext(rc->orig, x, sizeof(x));
				snprintf(extra + o, sizeof(extra) - o,
				    " ORCPT=rfc822;%s", x);
			}
		}
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

/* remote_transaction_done - turn the replies into per-recipient results */
static void
remote_transaction_done(struct remote_conn *c)
{
	struct deliver_job *job = c->job;
	struct spool_result *res = xcalloc(job->nrcpts, sizeof(*res));
	const struct smtp_reply *rp;
	char summary[300];

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
	}
	c->dest->r->shared->report(c->dest->r->shared->report_arg, res,
	    job->nrcpts);
	free(res);
	free(c->rcpt_reply);
	c->rcpt_reply = NULL;
	deliver_job_free(job);
	c->job = NULL;
	/* RSET between messages (RFC 5321 4.1.1.5). With PIPELINING and a
	   job waiting, it leads the next job's commands in the same write
	   (RFC 2920 3.1 lets RSET stand anywhere in a group) */
	c->state = RC_RSET;
	remote_send(c, "RSET");
	remote_timeout(c, REMOTE_T_COMMAND);
	if ((c->ext & RX_PIPELINING) && c->dest->jobs != NULL &&
	    c->final_reply.code != 421) {
		c->rset_pending = true;
		remote_conn_take_job(c);
		if (c->state != RC_TRANSACTION) {
			/* every waiting job was refused before it began */
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
	if (remote_needs_utf8(job) && !(c->ext & RX_SMTPUTF8)) {
		snprintf(reply, sizeof(reply), "the message needs SMTPUTF8,"
		    " which %s does not support (RFC 6531 3.5)", c->peer);
		remote_job_finish(c->dest->r, job, SPOOL_OUTCOME_BOUNCED,
		    "5.6.7", reply, c->peer, c->addrs[c->cur].host, 0);
		return false;
	}
	return true;
}

/* remote_conn_take_job - start the next waiting job, or idle */
static void
remote_conn_take_job(struct remote_conn *c)
{
	struct remote_dest *d = c->dest;
	struct deliver_job *job;
	struct timeval tv = { REMOTE_IDLE_SECONDS, 0 };

	for (;;) {
		if ((job = d->jobs) == NULL || d->r->stopping) {
			c->state = RC_READY;
			bufferevent_set_timeouts(c->bev, NULL, NULL);
			if (c->idle == NULL)
				c->idle = evtimer_new(d->r->w->base,
				    remote_idle_cb, c);
			evtimer_add(c->idle, &tv);
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
	char summary[300];

	smtp_reply_summary(&c->reply, summary, sizeof(summary));
	switch (c->state) {
	case RC_GREETING:
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
			if (remote_tls_policy(c) == CONF_RELAY_TLS_REQUIRED) {
				remote_send(c, "QUIT");
				remote_conn_setup_failed(c, "4.7.4",
				    "STARTTLS: %s", summary);
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

static void
remote_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct remote_conn *c = arg;
	char why[200];

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == RC_HANDSHAKE) {
			c->tls = true;
			log_info("event=remote.tls dest=%s peer=%s version=%s"
			    " cipher=%s", c->dest->name, c->peer,
			    SSL_get_version(c->ssl),
			    SSL_get_cipher_name(c->ssl));
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
		remote_conn_setup_failed(c, c->state == RC_HANDSHAKE ? "4.7.5" :
		    "4.4.1", "%s", why);
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

/* remote_bind_source - [relay] outbound_address, if set */
static int
remote_bind_source(int fd, const struct conf *conf, int family)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (conf->relay.outbound_address == NULL)
		return 0;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		if (inet_pton(AF_INET, conf->relay.outbound_address,
		    &s4->sin_addr) != 1)
			return 0;	/* the other family: no binding */
		s4->sin_family = AF_INET;
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		if (inet_pton(AF_INET6, conf->relay.outbound_address,
		    &s6->sin6_addr) != 1)
			return 0;
		s6->sin6_family = AF_INET6;
		len = sizeof(*s6);
	}
	return bind(fd, (struct sockaddr *)&ss, len);
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
		fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1 || remote_bind_source(fd, conf,
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

			remote_add_addr(c, a->host, a->ss.ss_family,
			    a->ss.ss_family == AF_INET ?
			    (void *)&((struct sockaddr_in *)&a->ss)->sin_addr :
			    (void *)&((struct sockaddr_in6 *)&a->ss)->sin6_addr,
			    port);
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
};

static void
remote_addr_cb(void *arg, const struct dns_answer *ans)
{
	struct remote_aq *aq = arg;
	struct remote_conn *c = aq->c;
	size_t h = aq->host;

	free(aq);
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
	if (ans->status == DNS_TEMPFAIL)
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
		for (size_t t = 0; t < 2; t++) {
			struct remote_aq *aq = xcalloc(1, sizeof(*aq));
			uint64_t id;

			aq->c = c;
			aq->host = i;
			c->dns_pending++;
			id = r->res.query(r->res.ctx, h, types[t],
			    remote_addr_cb, aq);
			if (id == 0) {
				free(aq);
				c->dns_pending--;
				continue;
			}
			c->dns_q = xreallocarray(c->dns_q, c->ndns_q + 1,
			    sizeof(*c->dns_q));
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

static void
remote_mx_cb(void *arg, const struct dns_answer *ans)
{
	struct remote_conn *c = arg;
	struct remote_dest *d = c->dest;
	struct dns_rr *rr;
	size_t n = 0;

	c->dns_mx = 0;
	switch (ans->status) {
	case DNS_OK:
		break;
	case DNS_NODATA:
		/* no MX: the domain itself is the implicit MX (5.1) */
		c->mx = xcalloc(1, sizeof(*c->mx));
		snprintf(c->mx[0], sizeof(c->mx[0]), "%s", d->name);
		c->nmx = 1;
		remote_resolve_hosts(c);
		return;
	case DNS_NXDOMAIN:
	case DNS_PERMFAIL:
		log_info("event=remote.route dest=%s result=nxdomain", d->name);
		remote_dest_fail_all(d, SPOOL_OUTCOME_BOUNCED, "5.1.2",
		    ans->status == DNS_NXDOMAIN ? "the recipient domain does"
		    " not exist (NXDOMAIN)" : "the recipient domain has no"
		    " usable DNS records", 0);
		remote_conn_free(c);
		return;
	case DNS_TEMPFAIL:
	default:
		snprintf(c->lasterr, sizeof(c->lasterr), "temporary DNS"
		    " failure looking up the MX of %s", d->name);
		snprintf(c->laststatus, sizeof(c->laststatus), "4.4.3");
		c->naddrs = 0;
		c->cur = 0;
		remote_conn_next_addr(c);	/* backs the domain off */
		return;
	}
	/* null MX (RFC 7505): a single MX "." — the domain takes no mail */
	for (size_t i = 0; i < ans->n; i++)
		if (ans->rr[i].type == DNS_T_MX &&
		    strcmp(ans->rr[i].name, ".") == 0) {
			log_info("event=remote.route dest=%s result=nullmx",
			    d->name);
			remote_dest_fail_all(d, SPOOL_OUTCOME_BOUNCED, "5.1.10",
			    "the recipient domain accepts no mail (null MX,"
			    " RFC 7505)", 0);
			remote_conn_free(c);
			return;
		}
	rr = xcalloc(ans->n, sizeof(*rr));
	for (size_t i = 0; i < ans->n; i++)
		if (ans->rr[i].type == DNS_T_MX)
			rr[n++] = ans->rr[i];
	/* by preference; equal preferences in random order (5.1) */
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)arc4random_uniform((uint32_t)i);
		struct dns_rr t = rr[i - 1];

		rr[i - 1] = rr[j];
		rr[j] = t;
	}
	qsort(rr, n, sizeof(*rr), remote_mx_cmp);
	if (n > REMOTE_MAX_MX)
		n = REMOTE_MAX_MX;
	c->mx = xcalloc(n ? n : 1, sizeof(*c->mx));
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(rr[i].name);

		snprintf(c->mx[i], sizeof(c->mx[i]), "%.*s",
		    (int)(l > 1 && rr[i].name[l - 1] == '.' ? l - 1 : l),
		    rr[i].name);
	}
	c->nmx = n;
	free(rr);
	remote_resolve_hosts(c);
}

/* remote_conn_start - a new connection for d: resolve, then connect */
static void
remote_conn_start(struct remote_dest *d)
{
	struct remote *r = d->r;
	struct remote_conn *c = xcalloc(1, sizeof(*c));
	const char *host;
	char hostbuf[256];

	c->dest = d;
	c->snap = conf_live_get(r->shared->live);
	c->state = RC_RESOLVING;
	smtp_reply_init(&c->reply);
	c->next = d->conns;
	d->conns = c;
	d->nconns++;
	r->nconns++;
	remote_port(c, &host, hostbuf, sizeof(hostbuf));
	if (d->smarthost || host[0] == '[') {
		/* a smarthost or an address literal: no MX lookup */
		char lit[256];
		size_t l = strlen(host);

		if (host[0] == '[' && l > 2 && host[l - 1] == ']') {
			snprintf(lit, sizeof(lit), "%.*s", (int)(l - 2), host + 1);
			if (strncasecmp(lit, "IPv6:", 5) == 0)
				memmove(lit, lit + 5, strlen(lit + 5) + 1);
		} else {
			snprintf(lit, sizeof(lit), "%s", host);
		}
		c->mx = xcalloc(1, sizeof(*c->mx));
		snprintf(c->mx[0], sizeof(c->mx[0]), "%s", lit);
		c->nmx = 1;
		remote_resolve_hosts(c);
		return;
	}
	c->dns_mx = r->res.query(r->res.ctx, host, DNS_T_MX, remote_mx_cb, c);
	if (c->dns_mx == 0) {
		snprintf(c->lasterr, sizeof(c->lasterr), "cannot query DNS");
		snprintf(c->laststatus, sizeof(c->laststatus), "4.4.3");
		remote_conn_next_addr(c);
	}
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
	r->nconns--;
	if (c->dns_mx)
		r->res.cancel(r->res.ctx, c->dns_mx);
	for (size_t i = 0; i < c->ndns_q; i++)
		r->res.cancel(r->res.ctx, c->dns_q[i]);
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
	free(c->dns_q);
	free(c->mx);
	free(c->addrs);
	free(c->rcpt_reply);
	conf_snap_unref(c->snap);
	free(c);
	if (!r->stopping) {
		remote_dest_kick(d);
		remote_dest_gc(d);
	}
}

/* --- scheduling on the worker ----------------------------------------- */

/* remote_dest_kick - give waiting jobs to idle connections, open more */
static void
remote_dest_kick(struct remote_dest *d)
{
	struct remote *r = d->r;
	struct conf_snap *snap;
	unsigned max_dest, max_total, want;
	int64_t now = time(NULL);

	if (d->jobs == NULL)
		return;
	if (d->retry_at > now) {
		remote_dest_fail_all(d, SPOOL_OUTCOME_DEFERRED, "4.4.1",
		    "destination is backing off after failed connections",
		    d->retry_at);
		return;
	}
	for (struct remote_conn *c = d->conns; c && d->jobs; c = c->next)
		if (c->state == RC_READY)
			remote_conn_take_job(c);
	if (d->jobs == NULL)
		return;
	snap = conf_live_get(r->shared->live);
	max_dest = snap->conf->relay.max_connections_per_domain;
	max_total = snap->conf->relay.max_outbound_connections /
	    r->shared->nworkers + 1;
	conf_snap_unref(snap);
	/* one connection, plus one per REMOTE_JOBS_PER_CONN waiting jobs */
	want = 1 + (unsigned)(d->njobs / REMOTE_JOBS_PER_CONN);
	if (want > max_dest)
		want = max_dest;
	while (d->nconns < want && r->nconns < max_total)
		remote_conn_start(d);
}

struct remote_route {
	struct remote_shared	*shared;
	struct deliver_job	*job;
	bool			 smarthost;
};

/* remote_accept - on the destination's worker: queue the job */
static void
remote_accept(struct worker *w, void *data)
{
	struct deliver_job *job = data;
	struct remote *r = w->remote;
	struct remote_dest *d;
	struct conf_snap *snap;
	bool smarthost;

	if (r == NULL || r->stopping) {
		deliver_job_free(job);	/* still leased: after restart */
		return;
	}
	snap = conf_live_get(r->shared->live);
	smarthost = snap->conf->relay.smarthost != NULL;
	conf_snap_unref(snap);
	d = remote_dest_get(r, smarthost ? "[smarthost]" : job->domain,
	    smarthost);
	job->next = NULL;
	*d->jobs_tail = job;
	d->jobs_tail = &job->next;
	d->njobs++;
	remote_dest_kick(d);
}

static unsigned
remote_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)(*s | 0x20)) * 16777619u;
	return h;
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
}

void
remote_flush(struct remote_shared *shared)
{
	for (unsigned i = 0; i < shared->nworkers; i++)
		worker_call(&shared->workers[i], remote_flush_here, NULL);
}

struct remote *
remote_new(struct worker *w, struct remote_shared *shared, struct err *err)
{
	struct remote *r = xcalloc(1, sizeof(*r));
	struct conf_snap *snap = conf_live_get(shared->live);

	r->w = w;
	r->shared = shared;
	r->dns = dns_new(w->base, snap->conf->dns.resolver,
	    snap->conf->dns.timeout, err);
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
	/* opportunistic TLS (RFC 7435): encrypt, do not authenticate */
	SSL_CTX_set_verify(r->ssl_ctx, SSL_VERIFY_NONE, NULL);
	return r;
}

void
remote_stop(struct remote *r)
{
	if (r == NULL)
		return;
	r->stopping = true;
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
		free(d->name);
		free(d);
	}
}

void
remote_free(struct remote *r)
{
	if (r == NULL)
		return;
	remote_stop(r);
	dns_free(r->dns);
	SSL_CTX_free(r->ssl_ctx);
	free(r);
}

void
remote_site_suspend(struct remote_shared *shared, const char *site,
    int64_t until, const char *reason)
{
	(void)shared;
	log_info("event=site.suspend site=%s until=%lld reason=\"%s\"", site,
	    (long long)until, reason ? reason : "");
}
