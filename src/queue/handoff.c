/* SPDX-License-Identifier: ISC */
/*
 * handoff.c - relais drain --to: queued messages handed to another node
 * over SMTP; see handoff.h.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xalloc.h"
#include "net/dane.h"
#include "queue/handoff.h"
#include "queue/qmgr.h"
#include "smtp/smtp_param.h"
#include "smtp/smtp_reply.h"
#include "spool/spool.h"

#define HANDOFF_SCAN_ROWS	1000	/* recipients looked at a claim */
#define HANDOFF_IO_SEC		60	/* per read or write */
#define HANDOFF_RETRY_SEC	5	/* a message the peer did not take */
#define HANDOFF_IDLE_MS		500	/* nothing to hand: look again */
#define HANDOFF_FAILED_MAX	256

struct handoff_rcpt {
	uint64_t	 id;
	char		*addr;
	char		*orig;		/* as the client gave it, or NULL */
	char		*orcpt;		/* ORCPT= as received, or NULL */
	unsigned	 notify;	/* enum smtp_notify bits */
	int		 code;		/* the peer's answer to RCPT */
	char		 reply[256];
};

/* the message claimed, with its leased recipients */
struct handoff_msg {
	int64_t			 id;
	char			 qid[ID_QID_LEN + 1];
	char			*sender;
	int64_t			 arrival;
	bool			 body_file;
	bool			 smtputf8;
	bool			 body8;
	bool			 requiretls;	/* RFC 8689 */
	int			 ret;		/* enum smtp_ret */
	char			*envid;		/* or NULL */
	struct handoff_rcpt	*rcpts;
	size_t			 n, cap;
	bool			 delivered;	/* the peer took the data */
	char			 reply[256];	/* its answer, or why not */
};

/* a message the peer did not take, not claimed again before until */
struct handoff_failed {
	int64_t		 msg_id;
	int64_t		 until;
};

struct handoff_conn {
	int	 fd;
	SSL	*ssl;		/* after STARTTLS */
	bool	 verified;	/* its certificate names the target */
	char	 tls_why[96];	/* the check's word on it */
	char	 in[4096];
	size_t	 len;
};

/* what the peer's EHLO answer offers */
struct handoff_ext {
	bool	 utf8, mime8, dsn, starttls, requiretls;
};

struct handoff {
	struct qmgr		*q;
	struct spool_reader	*rd;
	char			*host, *port, *target, *helo;
	SSL_CTX			*tls;		/* STARTTLS, checked against
						   [relay] ca_file */
	pthread_t		 thread;
	bool			 running;

	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	bool			 stopping;
	bool			 call_done;	/* the qmgr_call answered */
	int			 call_status;
	int			 fd;		/* the connection, -1: none */
	struct handoff_conn	 conn;		/* the thread's, kept between
						   messages; fd -1: none */
	struct handoff_ext	 ext;		/* what it offers */
	bool			 tls_failed;	/* a handshake failed: go on
						   in clear */

	/* the thread's own (and the qmgr_call's, while it waits) */
	struct handoff_msg	 msg;
	struct handoff_failed	 failed[HANDOFF_FAILED_MAX];
	size_t			 nfailed;
	int64_t			 now;
	uint64_t		 handed, msgs;
};

static void
handoff_msg_clear(struct handoff_msg *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->rcpts[i].addr);
		free(m->rcpts[i].orig);
		free(m->rcpts[i].orcpt);
	}
	free(m->rcpts);
	free(m->sender);
	free(m->envid);
	memset(m, 0, sizeof(*m));
}

static bool
handoff_is_failed(struct handoff *h, int64_t msg_id)
{
	for (size_t i = 0; i < h->nfailed; i++)
		if (h->failed[i].msg_id == msg_id && h->failed[i].until > h->now)
			return true;
	return false;
}

static void
handoff_set_failed(struct handoff *h, int64_t msg_id)
{
	size_t slot = h->nfailed;

	for (size_t i = 0; i < h->nfailed; i++)
		if (h->failed[i].msg_id == msg_id ||
		    h->failed[i].until <= h->now) {
			slot = i;
			break;
		}
	if (slot == HANDOFF_FAILED_MAX)
		slot = 0;
	else if (slot == h->nfailed)
		h->nfailed++;
	h->failed[slot].msg_id = msg_id;
	h->failed[slot].until = h->now + HANDOFF_RETRY_SEC;
}

/* --- the queue manager's side: claim and record ------------------------ */

static int
handoff_due(void *arg, const struct spool_due *due)
{
	struct handoff *h = arg;
	struct handoff_msg *m = &h->msg;

	if (m->id == 0) {
		if (handoff_is_failed(h, due->msg_id))
			return 0;
		m->id = due->msg_id;
		snprintf(m->qid, sizeof(m->qid), "%s", due->qid);
		m->sender = xstrdup(due->sender);
		m->arrival = due->arrival;
		m->body_file = due->body_file;
		m->smtputf8 = due->smtputf8;
		m->body8 = due->body8;
		m->requiretls = due->requiretls;
		m->ret = due->ret;
		m->envid = due->envid ? xstrdup(due->envid) : NULL;
	}
	if (due->msg_id != m->id)
		return 0;
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 8;
		m->rcpts = xreallocarray(m->rcpts, m->cap, sizeof(*m->rcpts));
	}
	memset(&m->rcpts[m->n], 0, sizeof(m->rcpts[m->n]));
	m->rcpts[m->n].id = due->rcpt_id;
	m->rcpts[m->n].addr = xstrdup(due->addr);
	m->rcpts[m->n].orig = due->orig ? xstrdup(due->orig) : NULL;
	m->rcpts[m->n].orcpt = due->orcpt ? xstrdup(due->orcpt) : NULL;
	m->rcpts[m->n].notify = due->notify;
	m->n++;
	return 0;
}

/* handoff_claim - in the queue manager's transaction: the first message
   with recipients to hand over, leased */
static int
handoff_claim(struct qmgr_txn *t, void *arg, struct err *err)
{
	struct handoff *h = arg;
	struct spool *sp = qmgr_txn_spool(t);
	size_t rows;

	handoff_msg_clear(&h->msg);
	/* every recipient not in a delivery, however far its next try */
	if (spool_due_scan(sp, INT64_MAX, HANDOFF_SCAN_ROWS, handoff_due, h,
	    &rows, err) == -1)
		return -1;
	for (size_t i = 0; i < h->msg.n; i++)
		if (spool_rcpt_lease(sp, h->msg.rcpts[i].id, err) == -1)
			return -1;
	return 0;
}

/* handoff_record - in the queue manager's transaction: the outcomes */
static int
handoff_record(struct qmgr_txn *t, void *arg, struct err *err)
{
	struct handoff *h = arg;
	struct handoff_msg *m = &h->msg;
	struct spool_result res;

	for (size_t i = 0; i < m->n; i++) {
		struct handoff_rcpt *r = &m->rcpts[i];
		bool ok = m->delivered && r->code / 100 == 2;

		memset(&res, 0, sizeof(res));
		res.rcpt_id = r->id;
		res.msg_id = m->id;
		snprintf(res.qid, sizeof(res.qid), "%s", m->qid);
		snprintf(res.addr, sizeof(res.addr), "%s", r->addr);
		res.arrival = m->arrival;
		snprintf(res.relay, sizeof(res.relay), "handoff");
		snprintf(res.remote_mta, sizeof(res.remote_mta), "%s",
		    h->target);
		if (ok) {
			res.outcome = SPOOL_OUTCOME_DELIVERED;
			snprintf(res.status, sizeof(res.status), "2.0.0");
			snprintf(res.reply, sizeof(res.reply), "%s", m->reply);
			/* the peer delivers and reports from here */
			res.dsn_passed = true;
		} else {
			/* back in the queue, no attempt counted, no expiry */
			res.outcome = SPOOL_OUTCOME_DEFERRED;
			res.throttled = true;
			res.retry_at = qmgr_txn_now(t) + HANDOFF_RETRY_SEC;
			snprintf(res.status, sizeof(res.status), "4.4.0");
			snprintf(res.reply, sizeof(res.reply), "%s",
			    r->reply[0] && r->code / 100 != 2 ? r->reply :
			    m->reply);
		}
		if (qmgr_txn_result(t, &res) == -1)
			return err_set(err, 0, "the transaction was lost");
	}
	return 0;
}

static void
handoff_call_done(void *arg, int status)
{
	struct handoff *h = arg;

	pthread_mutex_lock(&h->lock);
	h->call_done = true;
	h->call_status = status;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/* handoff_call - run fn in the queue manager's next batch, and wait */
static int
handoff_call(struct handoff *h, qmgr_call_fn *fn)
{
	int status;

	pthread_mutex_lock(&h->lock);
	h->call_done = false;
	pthread_mutex_unlock(&h->lock);
	qmgr_call(h->q, fn, handoff_call_done, h);
	pthread_mutex_lock(&h->lock);
	while (!h->call_done)
		pthread_cond_wait(&h->cond, &h->lock);
	status = h->call_status;
	pthread_mutex_unlock(&h->lock);
	return status;
}

/* --- the SMTP client ----------------------------------------------------- */

static int
handoff_send(struct handoff_conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w;

		if (c->ssl != NULL) {
			int k = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX :
			    (int)n);

			w = k > 0 ? k : -1;
		} else
			w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w <= 0) {
			if (w == -1 && c->ssl == NULL && errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* handoff_line - the next line without CRLF into line; -1 on EOF/error */
static int
handoff_line(struct handoff_conn *c, char *line, size_t max)
{
	for (;;) {
		char *nl = memchr(c->in, '\n', c->len);
		ssize_t r;

		if (nl != NULL) {
			size_t n = (size_t)(nl - c->in) + 1, k = n - 1;

			if (k > 0 && c->in[k - 1] == '\r')
				k--;
			if (k >= max)
				k = max - 1;
			memcpy(line, c->in, k);
			line[k] = '\0';
			memmove(c->in, c->in + n, c->len - n);
			c->len -= n;
			return 0;
		}
		if (c->len == sizeof(c->in))
			return -1;	/* a line too long for a reply */
		if (c->ssl != NULL) {
			int k = SSL_read(c->ssl, c->in + c->len,
			    (int)(sizeof(c->in) - c->len));

			r = k > 0 ? k : -1;
		} else
			r = recv(c->fd, c->in + c->len, sizeof(c->in) - c->len,
			    0);
		if (r == -1 && c->ssl == NULL && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
}

/* handoff_reply - one whole reply; its code, -1 when the link failed */
static int
handoff_reply(struct handoff_conn *c, struct smtp_reply *rp, char *sum,
    size_t sumlen)
{
	char line[1024];
	enum smtp_reply_result r;

	smtp_reply_init(rp);
	do {
		if (handoff_line(c, line, sizeof(line)) == -1) {
			snprintf(sum, sumlen, "connection lost");
			return -1;
		}
		r = smtp_reply_line(rp, str_cstr(line));
	} while (r == SMTP_REPLY_MORE);
	if (r == SMTP_REPLY_BAD) {
		snprintf(sum, sumlen, "bad reply: %.200s", line);
		return -1;
	}
	smtp_reply_summary(rp, sum, sumlen);
	return rp->code;
}

/* handoff_cmd - send a command line, read its reply */
static int
handoff_cmd(struct handoff_conn *c, struct smtp_reply *rp, char *sum,
    size_t sumlen, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
handoff_cmd(struct handoff_conn *c, struct smtp_reply *rp, char *sum,
    size_t sumlen, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		snprintf(sum, sumlen, "command too long");
		return -1;
	}
	memcpy(line + n, "\r\n", 2);
	if (handoff_send(c, line, (size_t)n + 2) == -1) {
		snprintf(sum, sumlen, "connection lost");
		return -1;
	}
	return handoff_reply(c, rp, sum, sumlen);
}

/* handoff_data - text dot-stuffed, ending in CRLF . CRLF */
static int
handoff_data(struct handoff_conn *c, const char *text, size_t len)
{
	struct buf out;
	int rc;
	bool bol = true;

	buf_init(&out, 0);
	for (size_t i = 0; i < len; i++) {
		if (bol && text[i] == '.' && buf_append(&out, ".", 1) == -1)
			goto fail;
		if (buf_append(&out, text + i, 1) == -1)
			goto fail;
		bol = text[i] == '\n';
	}
	if ((len > 0 && !bol && buf_puts(&out, "\r\n") == -1) ||
	    buf_puts(&out, ".\r\n") == -1)
		goto fail;
	rc = handoff_send(c, out.data, out.len);
	buf_fini(&out);
	return rc;
fail:
	buf_fini(&out);
	return -1;
}

static int
handoff_connect(struct handoff *h, char *why, size_t whylen)
{
	struct addrinfo hints, *res, *ai;
	struct timeval tv = { HANDOFF_IO_SEC, 0 };
	int fd = -1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(h->host, h->port, &hints, &res)) != 0) {
		snprintf(why, whylen, "%s: %s", h->target, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol)) == -1)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		snprintf(why, whylen, "connect %s: %s", h->target,
		    strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		return -1;
	pthread_mutex_lock(&h->lock);
	if (h->stopping) {
		pthread_mutex_unlock(&h->lock);
		close(fd);
		snprintf(why, whylen, "stopping");
		return -1;
	}
	h->fd = fd;
	pthread_mutex_unlock(&h->lock);
	return fd;
}

static void
handoff_disconnect(struct handoff *h, struct handoff_conn *c)
{
	pthread_mutex_lock(&h->lock);
	h->fd = -1;
	pthread_mutex_unlock(&h->lock);
	SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
}

static void
handoff_ext_read(const struct smtp_reply *rp, struct handoff_ext *x)
{
	memset(x, 0, sizeof(*x));
	x->utf8 = smtp_reply_has_keyword(rp, "SMTPUTF8");
	x->mime8 = smtp_reply_has_keyword(rp, "8BITMIME");
	x->dsn = smtp_reply_has_keyword(rp, "DSN");
	x->starttls = smtp_reply_has_keyword(rp, "STARTTLS");
	x->requiretls = smtp_reply_has_keyword(rp, "REQUIRETLS");
}

/*
 * handoff_starttls - TLS on c, its certificate checked against the CAs
 * and the target's host (c->verified); the EHLO again. 0, or -1 with sum
 * (the connection is then given up: the message waits for the next try)
 */
static int
handoff_starttls(struct handoff *h, struct handoff_conn *c,
    struct smtp_reply *rp, struct handoff_ext *x, char *sum, size_t sumlen)
{
	struct in6_addr ip;
	struct err err;
	int code;

	if ((code = handoff_cmd(c, rp, sum, sumlen, "STARTTLS")) != 220)
		return -1;
	if (c->len > 0) {
		snprintf(sum, sumlen, "data after the STARTTLS reply");
		return -1;
	}
	if ((c->ssl = SSL_new(h->tls)) == NULL) {
		snprintf(sum, sumlen, "TLS: out of memory");
		return -1;
	}
	/* the WebPKI check MTA-STS uses: the chain, and SAN names (or the
	   address) of the target; read after the handshake */
	if (dane_webpki_setup(c->ssl, h->host, &err) == -1) {
		snprintf(sum, sumlen, "TLS: %s", err.msg);
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	if (inet_pton(AF_INET, h->host, &ip) != 1 &&
	    inet_pton(AF_INET6, h->host, &ip) != 1)
		(void)SSL_set_tlsext_host_name(c->ssl, h->host);
	ERR_clear_error();
	if (SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1) {
		unsigned long e = ERR_get_error();
		char es[160];

		ERR_error_string_n(e, es, sizeof(es));
		snprintf(sum, sumlen, "TLS handshake: %s", e ? es : "failed");
		ERR_clear_error();
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	c->verified = dane_webpki_check(c->ssl, c->tls_why,
	    sizeof(c->tls_why), NULL);
	if ((code = handoff_cmd(c, rp, sum, sumlen, "EHLO %s", h->helo)) !=
	    250)
		return -1;
	handoff_ext_read(rp, x);
	return 0;
}

/* handoff_close - the connection to the target, if any, ended (with
   QUIT when polite) */
static void
handoff_close(struct handoff *h, bool polite)
{
	struct smtp_reply rp;
	char sum[256];

	if (h->conn.fd < 0)
		return;
	if (polite)
		(void)handoff_cmd(&h->conn, &rp, sum, sizeof(sum), "QUIT");
	handoff_disconnect(h, &h->conn);
	memset(&h->conn, 0, sizeof(h->conn));
	h->conn.fd = -1;
	memset(&h->ext, 0, sizeof(h->ext));
}

/* handoff_open - a connection to the target, greeted, over TLS when it
   offers it: 0, or -1 with sum (nothing left open) */
static int
handoff_open(struct handoff *h, char *sum, size_t sumlen)
{
	struct handoff_conn *c = &h->conn;
	struct smtp_reply rp;
	int code;

	memset(c, 0, sizeof(*c));
	memset(&h->ext, 0, sizeof(h->ext));
	if ((c->fd = handoff_connect(h, sum, sumlen)) == -1)
		return -1;
	if ((code = handoff_reply(c, &rp, sum, sumlen)) != 220)
		goto fail;
	if ((code = handoff_cmd(c, &rp, sum, sumlen, "EHLO %s",
	    h->helo)) == 250)
		handoff_ext_read(&rp, &h->ext);
	else if (code == -1 || (code = handoff_cmd(c, &rp, sum, sumlen,
	    "HELO %s", h->helo)) != 250)
		goto fail;
	/* the other node's TLS when it offers it; after a handshake that
	   failed, in clear (REQUIRETLS mail then stays) */
	if (h->ext.starttls && h->tls != NULL && !h->tls_failed &&
	    handoff_starttls(h, c, &rp, &h->ext, sum, sumlen) == -1) {
		if (c->fd >= 0 && c->ssl == NULL) {
			h->tls_failed = true;
			log_warnx("event=drain.handoff.tls to=%s error=\"%s\""
			    " next=plaintext", h->target, sum);
		}
		goto fail;
	}
	return 0;
fail:
	handoff_close(h, false);
	return -1;
}

/*
 * handoff_transfer - one SMTP transaction for h->msg: fills each
 * recipient's code and m->delivered / m->reply. The connection stays
 * open for the next message (which starts with RSET), unless the link
 * failed or the peer refused a command of the envelope or the data.
 */
static void
handoff_transfer(struct handoff *h, const char *text, size_t len)
{
	struct handoff_msg *m = &h->msg;
	struct handoff_conn *c = &h->conn;
	struct handoff_ext *x = &h->ext;
	struct smtp_reply rp;
	char sum[256], extra[600];
	size_t accepted = 0, o;
	int code;

	if (c->fd >= 0 && handoff_cmd(c, &rp, sum, sizeof(sum), "RSET") !=
	    250)
		handoff_close(h, false);	/* gone meanwhile: anew */
	if (c->fd < 0 && handoff_open(h, m->reply, sizeof(m->reply)) == -1)
		return;
	/* REQUIRETLS mail goes only over TLS whose certificate names the
	   target (RFC 8689) */
	if (m->requiretls && !(c->verified && x->requiretls)) {
		snprintf(m->reply, sizeof(m->reply), "REQUIRETLS: %s",
		    c->ssl == NULL ? "the peer offers no TLS" : !c->verified ?
		    c->tls_why : "the peer does not offer REQUIRETLS");
		return;
	}
	if (m->smtputf8 && !x->utf8) {
		snprintf(m->reply, sizeof(m->reply), "the peer does not offer"
		    " SMTPUTF8");
		return;
	}
	extra[0] = '\0';
	o = 0;
	if (m->body8 && x->mime8)
		o += (size_t)snprintf(extra + o, sizeof(extra) - o,
		    " BODY=8BITMIME");
	if (m->smtputf8)
		o += (size_t)snprintf(extra + o, sizeof(extra) - o, " SMTPUTF8");
	if (m->requiretls)
		o += (size_t)snprintf(extra + o, sizeof(extra) - o,
		    " REQUIRETLS");
	if (x->dsn)
		o = smtp_param_dsn_mail(extra, sizeof(extra), o, m->ret,
		    m->envid);
	if ((code = handoff_cmd(c, &rp, sum, sizeof(sum), "MAIL FROM:<%s>%s",
	    m->sender, extra)) != 250)
		goto fail;
	for (size_t i = 0; i < m->n; i++) {
		struct handoff_rcpt *r = &m->rcpts[i];

		extra[0] = '\0';
		if (x->dsn)
			(void)smtp_param_dsn_rcpt(extra, sizeof(extra), 0,
			    r->notify, r->orcpt, r->orig);
		r->code = handoff_cmd(c, &rp, r->reply, sizeof(r->reply),
		    "RCPT TO:<%s>%s", r->addr, extra);
		if (r->code == -1) {
			snprintf(sum, sizeof(sum), "%s", r->reply);
			goto fail;
		}
		if (r->code / 100 == 2)
			accepted++;
	}
	if (accepted == 0) {
		/* the next message starts with RSET */
		snprintf(m->reply, sizeof(m->reply), "the peer took no"
		    " recipient");
		return;
	}
	if ((code = handoff_cmd(c, &rp, sum, sizeof(sum), "DATA")) != 354)
		goto fail;
	if (handoff_data(c, text, len) == -1) {
		snprintf(sum, sizeof(sum), "connection lost");
		goto fail;
	}
	code = handoff_reply(c, &rp, sum, sizeof(sum));
	snprintf(m->reply, sizeof(m->reply), "%s", sum);
	if (code == 250) {
		m->delivered = true;
		return;
	}
fail:
	snprintf(m->reply, sizeof(m->reply), "%s", sum);
	handoff_close(h, false);
}

/* --- the thread ---------------------------------------------------------- */

static bool
handoff_stopping(struct handoff *h)
{
	bool s;

	pthread_mutex_lock(&h->lock);
	s = h->stopping;
	pthread_mutex_unlock(&h->lock);
	return s;
}

/* handoff_nap - wait ms, or less when stopping */
static void
handoff_nap(struct handoff *h, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&h->lock);
	if (!h->stopping)
		(void)pthread_cond_timedwait(&h->cond, &h->lock, &ts);
	pthread_mutex_unlock(&h->lock);
}

/* handoff_one - claim, transfer and record one message; 1 handed, 0
   nothing to do, -1 not taken (tried again later) */
static int
handoff_one(struct handoff *h)
{
	struct handoff_msg *m = &h->msg;
	struct err err;
	char *text = NULL;
	size_t len = 0;
	size_t took = 0;

	h->now = (int64_t)time(NULL);
	if (handoff_call(h, handoff_claim) == -1) {
		handoff_msg_clear(m);
		return -1;
	}
	if (m->id == 0) {
		handoff_close(h, true);	/* no connection held while idle */
		return 0;
	}
	if (spool_reader_text(h->rd, m->id, m->qid, m->body_file, &text, &len,
	    &err) == -1)
		snprintf(m->reply, sizeof(m->reply), "cannot read the message:"
		    " %s", err.msg);
	else
		handoff_transfer(h, text, len);
	free(text);
	for (size_t i = 0; i < m->n; i++)
		if (m->delivered && m->rcpts[i].code / 100 == 2)
			took++;
	if (handoff_call(h, handoff_record) == -1)
		log_error("event=drain.handoff id=%s error=\"the outcome was not"
		    " recorded\"", m->qid);
	if (took > 0) {
		log_info("event=drain.handoff id=%s to=%s recipients=%zu"
		    " reply=\"%s\"", m->qid, h->target, took, m->reply);
		h->handed += took;
		h->msgs++;
	}
	if (took < m->n) {
		log_warnx("event=drain.handoff.failed id=%s to=%s recipients=%zu"
		    " reply=\"%s\"", m->qid, h->target, m->n - took, m->reply);
		handoff_set_failed(h, m->id);
	}
	handoff_msg_clear(m);
	return took > 0 ? 1 : -1;
}

static void *
handoff_thread(void *arg)
{
	struct handoff *h = arg;
	unsigned fails = 0;

	log_info("event=drain.handoff.start to=%s", h->target);
	while (!handoff_stopping(h)) {
		int r = handoff_one(h);

		if (r == 1)
			fails = 0;
		else if (r == 0)
			handoff_nap(h, HANDOFF_IDLE_MS);
		else if (++fails >= 3) {
			/* the peer is down or refuses: do not hammer it */
			handoff_nap(h, 1000);
			fails = 0;
		}
	}
	handoff_close(h, !handoff_stopping(h));
	log_info("event=drain.handoff.stop to=%s messages=%llu recipients=%llu",
	    h->target, (unsigned long long)h->msgs,
	    (unsigned long long)h->handed);
	return NULL;
}

/* handoff_split - "HOST:PORT", "[V6]:PORT" */
static int
handoff_split(struct handoff *h, const char *target, struct err *err)
{
	const char *colon = strrchr(target, ':');
	const char *host = target, *hend = colon;

	if (colon == NULL || colon[1] == '\0' || colon == target)
		return err_set(err, 0, "drain --to %s: HOST:PORT expected",
		    target);
	if (target[0] == '[') {
		host = target + 1;
		if (hend[-1] != ']')
			return err_set(err, 0, "drain --to %s: [ADDRESS]:PORT"
			    " expected", target);
		hend--;
	}
	if (strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		return err_set(err, 0, "drain --to %s: bad port", target);
	h->host = xstrndup(host, (size_t)(hend - host));
	h->port = xstrdup(colon + 1);
	return 0;
}

struct handoff *
handoff_start(struct qmgr *q, const char *data_dir, const char *target,
    const char *helo, const char *ca_file, struct err *err)
{
	struct handoff *h = xcalloc(1, sizeof(*h));
	int r;

	h->q = q;
	h->fd = -1;
	h->conn.fd = -1;
	h->target = xstrdup(target);
	h->helo = xstrdup(helo);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (handoff_split(h, target, err) == -1 ||
	    (h->rd = spool_reader_open(data_dir, err)) == NULL) {
		handoff_free(h);
		return NULL;
	}
	/* the peer's certificate is read after the handshake, never
	   fatal in it: only REQUIRETLS mail needs it verified */
	if ((h->tls = SSL_CTX_new(TLS_client_method())) == NULL) {
		err_set(err, 0, "drain: no TLS context");
		handoff_free(h);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(h->tls, TLS1_2_VERSION);
	SSL_CTX_set_verify(h->tls, SSL_VERIFY_NONE, NULL);
	if (dane_ctx_load_ca(h->tls, ca_file, err) == -1) {
		handoff_free(h);
		return NULL;
	}
	qmgr_pause(q);
	if ((r = pthread_create(&h->thread, NULL, handoff_thread, h)) != 0) {
		err_set(err, r, "drain: cannot start the hand-off thread");
		handoff_free(h);
		return NULL;
	}
	(void)pthread_setname_np(h->thread, "relais-handoff");
	h->running = true;
	return h;
}

void
handoff_stop(struct handoff *h)
{
	if (h == NULL || !h->running)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	if (h->fd != -1)
		(void)shutdown(h->fd, SHUT_RDWR);	/* cut what is in flight */
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	h->running = false;
}

void
handoff_free(struct handoff *h)
{
	if (h == NULL)
		return;
	handoff_stop(h);
	handoff_msg_clear(&h->msg);
	spool_reader_close(h->rd);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h->host);
	free(h->port);
	free(h->target);
	free(h->helo);
	SSL_CTX_free(h->tls);
	free(h);
}
