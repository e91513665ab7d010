/* SPDX-License-Identifier: ISC */
/*
 * deliver_lmtp.c - the LMTP delivery agent (RFC 2033); see deliver_lmtp.h.
 *
 * Blocking I/O on a non-blocking socket: every wait is a poll(2) with
 * the timeout of its step, so a server that stops answering holds a pool
 * thread for at most that long. Commands go out through one output
 * buffer; with PIPELINING, MAIL, every RCPT and DATA leave in one write
 * and their replies are read in order (RFC 2920). Replies are parsed by
 * the SMTP client's parser (smtp/smtp_reply.c).
 *
 * The outcome of each recipient is the first refusal that applies to it
 * (MAIL, then its RCPT, then DATA), else its own reply after the end of
 * data. A failure of the connection itself defers every recipient that
 * has no outcome yet and drops the connection; a reused connection that
 * fails its RSET is replaced before the transaction starts, so nothing
 * is lost to a server that closed an idle connection.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "deliver/deliver_lmtp.h"

#define LMTP_T_CONNECT	10	/* seconds: connect */
#define LMTP_T_COMMAND	60	/* greeting, LHLO, MAIL, RCPT, DATA, RSET */
#define LMTP_T_DATA	180	/* each write of the message text */
#define LMTP_T_FINAL	600	/* each recipient's reply after the data */
#define LMTP_T_QUIT	2	/* QUIT's reply, when closing */
#define LMTP_T_STOP	5	/* any wait, once relais is stopping */
#define LMTP_SLICE_MS	200	/* polls this long between stop checks */
#define LMTP_LINE_MAX	2048	/* octets of one reply line */
#define LMTP_CHUNK	65536	/* output collected before a write */

struct lmtp_client {
	const atomic_bool *stop;	/* set when relais stops, or NULL */
	int64_t		 stop_deadline;	/* waits end by then, once stop */
	int		 fd;		/* -1: not connected */
	char		 target[sizeof(((struct conf_lmtp *)0)->text)];
	char		 relay[64];	/* "lmtp:/run/dovecot/lmtp" */
	unsigned	 ext;		/* LMTP_EXT_* of the LHLO reply */
	uint64_t	 peer_size;	/* SIZE limit, 0 = none */
	int64_t		 last_used;	/* monotonic ms */
	bool		 closing;	/* the server said 421 */
	char		 in[LMTP_LINE_MAX];	/* input not yet parsed */
	size_t		 inlen;
	struct buf	 out;		/* commands not yet written */
	char		 why[200];	/* the last I/O failure */
};

static int64_t
lmtp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- pure parts --------------------------------------------------------- */

unsigned
lmtp_parse_ext(const struct smtp_reply *lhlo, uint64_t *size)
{
	const char *p = lhlo->text, *nl;
	unsigned ext = 0;

	*size = 0;
	/* the first line is the server's name */
	if ((nl = strchr(p, '\n')) == NULL)
		return 0;
	for (p = nl + 1; *p != '\0'; p = nl != NULL ? nl + 1 : p + strlen(p)) {
		char line[256];
		size_t n;

		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (strcasecmp(line, "PIPELINING") == 0)
			ext |= LMTP_EXT_PIPELINING;
		else if (strncasecmp(line, "SIZE", 4) == 0 &&
		    (line[4] == '\0' || line[4] == ' ')) {
			ext |= LMTP_EXT_SIZE;
			*size = strtoull(line + 4, NULL, 10);
		} else if (strcasecmp(line, "8BITMIME") == 0)
			ext |= LMTP_EXT_8BITMIME;
		else if (strcasecmp(line, "SMTPUTF8") == 0)
			ext |= LMTP_EXT_SMTPUTF8;
		if (nl == NULL)
			break;
	}
	return ext;
}

void
lmtp_mail_params(const struct deliver_job *job, unsigned ext, char *out,
    size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	/* RFC 1870: the octets about to be sent */
	if ((ext & LMTP_EXT_SIZE) && o < outlen)
		o += (size_t)snprintf(out + o, outlen - o, " SIZE=%llu",
		    (unsigned long long)job->body.len);
	if (job->body8 && (ext & LMTP_EXT_8BITMIME) && o < outlen)
		o += (size_t)snprintf(out + o, outlen - o, " BODY=8BITMIME");
	if (job->smtputf8 && (ext & LMTP_EXT_SMTPUTF8) && o < outlen)
		(void)snprintf(out + o, outlen - o, " SMTPUTF8");
}

static int
lmtp_put(lmtp_write_fn *w, void *arg, const char *p, size_t n)
{
	return n == 0 ? 0 : w(arg, p, n);
}

int
lmtp_stuff(const char *data, size_t len, lmtp_write_fn *w, void *arg)
{
	const char *p = data, *end = data + len, *seg = data, *nl;

	while (p < end) {
		/* p is at the start of a line */
		if (*p == '.') {
			if (lmtp_put(w, arg, seg, (size_t)(p - seg)) == -1 ||
			    lmtp_put(w, arg, ".", 1) == -1)
				return -1;
			seg = p;	/* the dot itself goes with the line */
		}
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		p = nl + 1;
	}
	if (lmtp_put(w, arg, seg, (size_t)(end - seg)) == -1)
		return -1;
	if (len > 0 && (len < 2 || data[len - 2] != '\r' ||
	    data[len - 1] != '\n') && lmtp_put(w, arg, "\r\n", 2) == -1)
		return -1;
	return lmtp_put(w, arg, ".\r\n", 3);
}

void
lmtp_result(struct spool_result *res, const struct smtp_reply *rp,
    const char *relay)
{
	switch (rp->code / 100) {
	case 2:
		res->outcome = SPOOL_OUTCOME_DELIVERED;
		break;
	case 5:
		res->outcome = SPOOL_OUTCOME_BOUNCED;
		break;
	default:
		res->outcome = SPOOL_OUTCOME_DEFERRED;
		break;
	}
	snprintf(res->status, sizeof(res->status), "%s", rp->status[0] ?
	    rp->status : res->outcome == SPOOL_OUTCOME_DELIVERED ? "2.0.0" :
	    res->outcome == SPOOL_OUTCOME_BOUNCED ? "5.0.0" : "4.0.0");
	smtp_reply_summary(rp, res->reply, sizeof(res->reply));
	snprintf(res->relay, sizeof(res->relay), "%s", relay);
}

bool
lmtp_has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s & 0x80)
			return true;
	return false;
}

/* --- the connection ----------------------------------------------------- */

struct lmtp_client *
lmtp_client_new(const atomic_bool *stop)
{
	struct lmtp_client *c = xcalloc(1, sizeof(*c));

	c->stop = stop;
	c->fd = -1;
	buf_init(&c->out, 0);
	return c;
}

/* lmtp_drop - close without a word (after a failure) */
static void
lmtp_drop(struct lmtp_client *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->inlen = 0;
	c->closing = false;
	c->ext = 0;
	c->peer_size = 0;
	buf_reset(&c->out);
}

/* lmtp_wait - fd ready for events before deadline (monotonic ms); once
   relais stops, no later than LMTP_T_STOP seconds from then */
static int
lmtp_wait(struct lmtp_client *c, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	int64_t now, left;
	int r;

	for (;;) {
		now = lmtp_now_ms();
		if (c->stop != NULL && atomic_load(c->stop) &&
		    c->stop_deadline == 0)
			c->stop_deadline = now + LMTP_T_STOP * 1000;
		if (c->stop_deadline != 0 && c->stop_deadline < deadline)
			deadline = c->stop_deadline;
		if ((left = deadline - now) <= 0) {
			snprintf(c->why, sizeof(c->why), "%s",
			    c->stop_deadline != 0 && deadline ==
			    c->stop_deadline ? "timed out: relais is stopping" :
			    "timed out");
			return -1;
		}
		r = poll(&pfd, 1, left > LMTP_SLICE_MS ? LMTP_SLICE_MS :
		    (int)left);
		if (r > 0)
			return 0;
		if (r == -1 && errno != EINTR) {
			snprintf(c->why, sizeof(c->why), "poll: %s",
			    strerror(errno));
			return -1;
		}
	}
}

/* lmtp_send - n octets at p, each write within timeout seconds */
static int
lmtp_send(struct lmtp_client *c, const char *p, size_t n, int timeout)
{
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (lmtp_wait(c, POLLOUT, lmtp_now_ms() +
			    timeout * 1000) == -1)
				return -1;
			continue;
		}
		snprintf(c->why, sizeof(c->why), "write: %s",
		    w == -1 ? strerror(errno) : "nothing written");
		return -1;
	}
	return 0;
}

/* lmtp_flush - the output buffer to the server */
static int
lmtp_flush(struct lmtp_client *c, int timeout)
{
	int r = lmtp_send(c, c->out.data, c->out.len, timeout);

	buf_reset(&c->out);
	return r;
}

/* lmtp_cmd - a command line into the output buffer */
__attribute__((format(printf, 2, 3)))
static void
lmtp_cmd(struct lmtp_client *c, const char *fmt, ...)
{
	va_list ap;
	char line[1200];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		n = (int)sizeof(line) - 3;	/* addresses are shorter */
	memcpy(line + n, "\r\n", 2);
	buf_append(&c->out, line, (size_t)n + 2);
}

/* lmtp_body_write - lmtp_write_fn: the message text, in chunks */
static int
lmtp_body_write(void *arg, const char *p, size_t n)
{
	struct lmtp_client *c = arg;

	if (c->out.len + n <= LMTP_CHUNK) {
		buf_append(&c->out, p, n);
		return 0;
	}
	if (lmtp_flush(c, LMTP_T_DATA) == -1)
		return -1;
	if (n >= LMTP_CHUNK)	/* big pieces go out from where they are */
		return lmtp_send(c, p, n, LMTP_T_DATA);
	buf_append(&c->out, p, n);
	return 0;
}

/* lmtp_read_line - the next line, without its CRLF, into line */
static int
lmtp_read_line(struct lmtp_client *c, int64_t deadline, char *line,
    size_t *len)
{
	char *nl;
	ssize_t r;

	for (;;) {
		if ((nl = memchr(c->in, '\n', c->inlen)) != NULL) {
			size_t n = (size_t)(nl - c->in);

			*len = n > 0 && c->in[n - 1] == '\r' ? n - 1 : n;
			memcpy(line, c->in, *len);
			c->inlen -= n + 1;
			memmove(c->in, nl + 1, c->inlen);
			return 0;
		}
		if (c->inlen == sizeof(c->in)) {
			snprintf(c->why, sizeof(c->why), "reply line longer"
			    " than %zu octets", sizeof(c->in));
			return -1;
		}
		r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
		if (r > 0) {
			c->inlen += (size_t)r;
			continue;
		}
		if (r == 0) {
			snprintf(c->why, sizeof(c->why), "connection closed by"
			    " the server");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(c->why, sizeof(c->why), "read: %s",
			    strerror(errno));
			return -1;
		}
		if (lmtp_wait(c, POLLIN, deadline) == -1)
			return -1;
	}
}

/* lmtp_read_reply - one whole reply within timeout seconds */
static int
lmtp_read_reply(struct lmtp_client *c, int timeout, struct smtp_reply *rp)
{
	int64_t deadline = lmtp_now_ms() + (int64_t)timeout * 1000;
	char line[LMTP_LINE_MAX];
	size_t n;

	smtp_reply_init(rp);
	for (;;) {
		if (lmtp_read_line(c, deadline, line, &n) == -1)
			return -1;
		switch (smtp_reply_line(rp, str_make(line, n))) {
		case SMTP_REPLY_DONE:
			if (rp->code == 421)	/* and it closes */
				c->closing = true;
			return 0;
		case SMTP_REPLY_MORE:
			break;
		case SMTP_REPLY_BAD:
			snprintf(c->why, sizeof(c->why), "not an LMTP reply:"
			    " \"%.*s\"", (int)(n > 80 ? 80 : n), line);
			for (char *s = c->why; *s != '\0'; s++)
				if ((unsigned char)*s < 0x20 || *s == 0x7f)
					*s = '?';
			return -1;
		}
	}
}

/* lmtp_connect_fd - fd connected to sa, or -1 with c->why */
static int
lmtp_connect_fd(struct lmtp_client *c, int family, const struct sockaddr *sa,
    socklen_t salen)
{
	int fd, soerr = 0, one = 1;
	socklen_t len = sizeof(soerr);

	if ((fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(c->why, sizeof(c->why), "socket: %s", strerror(errno));
		return -1;
	}
	if (family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	c->fd = fd;
	if (connect(fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR) {
		soerr = errno;
	} else if (lmtp_wait(c, POLLOUT, lmtp_now_ms() +
	    LMTP_T_CONNECT * 1000) == -1) {
		soerr = ETIMEDOUT;
	} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1) {
		soerr = errno;
	}
	if (soerr == 0)
		return 0;
	snprintf(c->why, sizeof(c->why), "connect: %s", strerror(soerr));
	close(fd);
	c->fd = -1;
	return -1;
}

/* lmtp_connect - a connection to a, or -1 with c->why */
static int
lmtp_connect(struct lmtp_client *c, const struct conf_lmtp *a)
{
	struct addrinfo hints, *res, *ai;
	char port[8];
	int r;

	if (a->unix_socket) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
		return lmtp_connect_fd(c, AF_UNIX, (struct sockaddr *)&sun,
		    sizeof(sun));
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", a->port);
	if ((r = getaddrinfo(a->host, port, &hints, &res)) != 0) {
		snprintf(c->why, sizeof(c->why), "cannot resolve %s: %s",
		    a->host, gai_strerror(r));
		return -1;
	}
	r = -1;
	for (ai = res; ai != NULL && r == -1; ai = ai->ai_next)
		r = lmtp_connect_fd(c, ai->ai_family, ai->ai_addr,
		    ai->ai_addrlen);
	freeaddrinfo(res);
	return r;
}

/* lmtp_open - connect, greeting, LHLO; -1 with c->why (not connected) */
static int
lmtp_open(struct lmtp_client *c, const struct conf *conf)
{
	const struct conf_lmtp *a = &conf->local.lmtp_addr;
	struct smtp_reply rp;
	char summary[160];

	snprintf(c->target, sizeof(c->target), "%s", a->text);
	snprintf(c->relay, sizeof(c->relay), "lmtp:%s", a->text);
	/* one logfmt value: a socket path may hold blanks or quotes */
	for (char *p = c->relay; *p != '\0'; p++)
		if (*p == ' ' || *p == '"' || *p == '\\' || *p == '=')
			*p = '_';
	if (lmtp_connect(c, a) == -1)
		return -1;
	if (lmtp_read_reply(c, LMTP_T_COMMAND, &rp) == -1)
		goto fail;
	if (rp.code != 220) {
		smtp_reply_summary(&rp, summary, sizeof(summary));
		snprintf(c->why, sizeof(c->why), "greeting: %s", summary);
		goto fail;
	}
	lmtp_cmd(c, "LHLO %s", conf->server.hostname);
	if (lmtp_flush(c, LMTP_T_COMMAND) == -1 ||
	    lmtp_read_reply(c, LMTP_T_COMMAND, &rp) == -1)
		goto fail;
	if (rp.code / 100 != 2) {
		smtp_reply_summary(&rp, summary, sizeof(summary));
		snprintf(c->why, sizeof(c->why), "LHLO: %s", summary);
		goto fail;
	}
	c->ext = lmtp_parse_ext(&rp, &c->peer_size);
	log_debug("event=lmtp.connect relay=%s", c->relay);
	return 0;
fail:
	lmtp_drop(c);
	return -1;
}

/* lmtp_reset - a reused connection answers RSET; else it is dropped */
static void
lmtp_reset(struct lmtp_client *c)
{
	struct smtp_reply rp;
	char why[300];

	smtp_reply_init(&rp);
	lmtp_cmd(c, "RSET");
	if (lmtp_flush(c, LMTP_T_COMMAND) == 0 &&
	    lmtp_read_reply(c, LMTP_T_COMMAND, &rp) == 0 && rp.code == 250)
		return;
	if (rp.code != 0)
		snprintf(c->why, sizeof(c->why), "RSET refused");
	log_debug("event=lmtp.reconnect relay=%s reason=%s", c->relay,
	    log_quote(why, sizeof(why), c->why, strlen(c->why)));
	lmtp_drop(c);
}

void
lmtp_client_close(struct lmtp_client *c)
{
	struct smtp_reply rp;

	if (c == NULL || c->fd == -1)
		return;
	buf_reset(&c->out);
	lmtp_cmd(c, "QUIT");
	if (lmtp_flush(c, LMTP_T_QUIT) == 0)
		(void)lmtp_read_reply(c, LMTP_T_QUIT, &rp);
	log_debug("event=lmtp.close relay=%s", c->relay);
	lmtp_drop(c);
}

void
lmtp_client_free(struct lmtp_client *c)
{
	if (c == NULL)
		return;
	lmtp_client_close(c);
	buf_fini(&c->out);
	free(c);
}

int64_t
lmtp_client_idle_ms(const struct lmtp_client *c)
{
	int64_t left;

	if (c == NULL || c->fd == -1)
		return -1;
	left = c->last_used + LMTP_IDLE_MS - lmtp_now_ms();
	return left > 0 ? left : 0;
}

/* --- one transaction ---------------------------------------------------- */

/* the state of one job's transaction */
struct lmtp_txn {
	struct lmtp_client	*c;
	const struct deliver_job *job;
	struct spool_result	*res;
	bool			*done;		/* res[i] holds the outcome */
	bool			*sent;		/* RCPT TO sent for i */
	bool			*accepted;	/* its RCPT got 2xx */
	size_t			 naccepted;
};

/* lmtp_fail - every recipient without an outcome gets this one */
static void
lmtp_fail(struct lmtp_txn *t, enum spool_outcome outcome, const char *status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
lmtp_fail(struct lmtp_txn *t, enum spool_outcome outcome, const char *status,
    const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < t->job->nrcpts; i++) {
		if (t->done[i])
			continue;
		t->res[i].outcome = outcome;
		snprintf(t->res[i].status, sizeof(t->res[i].status), "%s",
		    status);
		snprintf(t->res[i].reply, sizeof(t->res[i].reply), "%s", why);
		snprintf(t->res[i].relay, sizeof(t->res[i].relay), "%s",
		    t->c->relay);
		t->done[i] = true;
	}
}

/* lmtp_set - recipient i's outcome from rp */
static void
lmtp_set(struct lmtp_txn *t, size_t i, const struct smtp_reply *rp)
{
	lmtp_result(&t->res[i], rp, t->c->relay);
	t->done[i] = true;
}

/* lmtp_envelope_check - what this server cannot take is bounced before
   anything is sent; false when nothing is left to send */
static bool
lmtp_envelope_check(struct lmtp_txn *t)
{
	const struct lmtp_client *c = t->c;
	const struct deliver_job *job = t->job;
	size_t left = 0;

	if (c->peer_size > 0 && job->body.len > c->peer_size) {
		lmtp_fail(t, SPOOL_OUTCOME_BOUNCED, "5.3.4", "message size %llu"
		    " exceeds the limit of %s (%llu)",
		    (unsigned long long)job->body.len, c->relay,
		    (unsigned long long)c->peer_size);
		return false;
	}
	if (!(c->ext & LMTP_EXT_SMTPUTF8) && lmtp_has_8bit(job->sender)) {
		lmtp_fail(t, SPOOL_OUTCOME_BOUNCED, "5.6.7", "the sender"
		    " address needs SMTPUTF8, which %s does not offer",
		    c->relay);
		return false;
	}
	for (size_t i = 0; i < job->nrcpts; i++) {
		if (!(c->ext & LMTP_EXT_SMTPUTF8) &&
		    lmtp_has_8bit(job->rcpts[i].addr)) {
			struct smtp_reply rp;

			smtp_reply_init(&rp);
			(void)smtp_reply_line(&rp, str_cstr("553 5.6.7 the"
			    " address needs SMTPUTF8, which the LMTP server"
			    " does not offer"));
			lmtp_set(t, i, &rp);
			continue;
		}
		t->sent[i] = true;
		left++;
	}
	return left > 0;
}

/* lmtp_lost - the connection failed while doing what: the recipients
   still without an outcome are deferred, the connection dropped */
static void
lmtp_lost(struct lmtp_txn *t, const char *what)
{
	lmtp_fail(t, SPOOL_OUTCOME_DEFERRED, "4.4.2", "lost connection with"
	    " %s %s: %s", t->c->relay, what, t->c->why);
	lmtp_drop(t->c);
}

/* lmtp_envelope - MAIL, RCPT..., DATA and their replies; true when the
   server waits for the text (354) */
static bool
lmtp_envelope(struct lmtp_txn *t)
{
	struct lmtp_client *c = t->c;
	const struct deliver_job *job = t->job;
	bool pipe = (c->ext & LMTP_EXT_PIPELINING) != 0, mail_ok;
	struct smtp_reply rp;
	char params[100];

	lmtp_mail_params(job, c->ext, params, sizeof(params));
	lmtp_cmd(c, "MAIL FROM:<%s>%s", job->sender, params);
	if (pipe) {
		for (size_t i = 0; i < job->nrcpts; i++)
			if (t->sent[i])
				lmtp_cmd(c, "RCPT TO:<%s>", job->rcpts[i].addr);
		lmtp_cmd(c, "DATA");
	}
	if (lmtp_flush(c, LMTP_T_COMMAND) == -1 ||
	    lmtp_read_reply(c, LMTP_T_COMMAND, &rp) == -1) {
		lmtp_lost(t, "after MAIL FROM");
		return false;
	}
	mail_ok = rp.code / 100 == 2;
	if (!mail_ok) {
		/* every recipient shares the refusal of MAIL */
		for (size_t i = 0; i < job->nrcpts; i++)
			if (!t->done[i])
				lmtp_set(t, i, &rp);
		if (!pipe)
			return false;
	}
	for (size_t i = 0; i < job->nrcpts; i++) {
		if (!t->sent[i])
			continue;
		if (!pipe) {
			lmtp_cmd(c, "RCPT TO:<%s>", job->rcpts[i].addr);
			if (lmtp_flush(c, LMTP_T_COMMAND) == -1) {
				lmtp_lost(t, "after RCPT TO");
				return false;
			}
		}
		if (lmtp_read_reply(c, LMTP_T_COMMAND, &rp) == -1) {
			lmtp_lost(t, "after RCPT TO");
			return false;
		}
		if (!mail_ok)
			continue;
		if (rp.code / 100 == 2) {
			t->accepted[i] = true;
			t->naccepted++;
		} else {
			lmtp_set(t, i, &rp);
		}
	}
	if (!pipe) {
		if (t->naccepted == 0)
			return false;
		lmtp_cmd(c, "DATA");
		if (lmtp_flush(c, LMTP_T_COMMAND) == -1) {
			lmtp_lost(t, "after DATA");
			return false;
		}
	}
	if (lmtp_read_reply(c, LMTP_T_COMMAND, &rp) == -1) {
		lmtp_lost(t, "after DATA");
		return false;
	}
	if (rp.code == 354 && t->naccepted == 0) {
		/* a server that takes DATA without a recipient: no telling
		   what it answers at the end, so the connection goes */
		snprintf(c->why, sizeof(c->why), "DATA accepted without a"
		    " recipient");
		lmtp_lost(t, "after DATA");
		return false;
	}
	if (rp.code != 354) {
		for (size_t i = 0; i < job->nrcpts; i++)
			if (t->accepted[i] && !t->done[i])
				lmtp_set(t, i, &rp);
		return false;
	}
	return true;
}

/* lmtp_data - the text, then one reply per accepted recipient */
static void
lmtp_data(struct lmtp_txn *t)
{
	struct lmtp_client *c = t->c;
	const struct deliver_job *job = t->job;
	struct smtp_reply rp;

	if (lmtp_stuff(job->body.data, job->body.len, lmtp_body_write,
	    c) == -1 || lmtp_flush(c, LMTP_T_DATA) == -1) {
		lmtp_lost(t, "while sending the message");
		return;
	}
	for (size_t i = 0; i < job->nrcpts; i++) {
		if (!t->accepted[i])
			continue;
		if (lmtp_read_reply(c, LMTP_T_FINAL, &rp) == -1) {
			lmtp_lost(t, "after the end of data");
			return;
		}
		lmtp_set(t, i, &rp);
	}
}

void
lmtp_deliver(struct lmtp_client *c, const struct conf *conf,
    const struct deliver_job *job, struct spool_result *res)
{
	const struct conf_lmtp *a = &conf->local.lmtp_addr;
	struct lmtp_txn t = {
		.c = c, .job = job, .res = res,
		.done = xcalloc(job->nrcpts, sizeof(bool)),
		.sent = xcalloc(job->nrcpts, sizeof(bool)),
		.accepted = xcalloc(job->nrcpts, sizeof(bool)),
	};

	/* another server since the last job (a reload): start afresh */
	if (c->fd != -1 && strcmp(c->target, a->text) != 0)
		lmtp_client_close(c);
	if (c->fd != -1)
		lmtp_reset(c);
	if (c->fd == -1 && lmtp_open(c, conf) == -1) {
		lmtp_fail(&t, SPOOL_OUTCOME_DEFERRED, "4.4.1", "cannot deliver"
		    " through %s: %s", c->relay, c->why);
		goto out;
	}
	if (lmtp_envelope_check(&t) && lmtp_envelope(&t))
		lmtp_data(&t);
	/* every recipient has its outcome by now; this is a safety net */
	lmtp_fail(&t, SPOOL_OUTCOME_DEFERRED, "4.4.2", "no reply from %s",
	    c->relay);
	if (c->closing)		/* a 421: the server closes, so do we */
		lmtp_drop(c);
	c->last_used = lmtp_now_ms();
out:
	free(t.done);
	free(t.sent);
	free(t.accepted);
}
