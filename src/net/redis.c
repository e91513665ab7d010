/* SPDX-License-Identifier: ISC */
/*
 * redis.c - the client of redis.h.
 *
 * The connection is a libevent bufferevent (a socket, with an OpenSSL
 * filter on top when [cluster] tls is set: hiredis 0.14 has no TLS);
 * hiredis formats the commands and parses the replies. Replies come in
 * the order of the commands, so the requests sent wait in one FIFO.
 * Every command carries its own timer: when it fires the caller is
 * answered NULL and the connection is dropped (a server that does not
 * answer in time is taken as gone), which answers every other pending
 * request NULL. A dropped or failed connection is tried again after
 * 100 ms, doubling up to 5 s. The state (up or down) is logged once per
 * change: event=cluster.redis.down reason=... and event=cluster.redis.up.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "core/err.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "net/redis.h"
#include "net/redis_tls.h"

#define REDIS_BACKOFF_MIN_MS	100
#define REDIS_BACKOFF_MAX_MS	5000

enum redis_state {
	REDIS_STATE_NEW,	/* never connected: down not logged yet */
	REDIS_STATE_UP,
	REDIS_STATE_DOWN,
};

/* where a connection is: each reply goes where the phase says */
enum redis_phase {
	REDIS_PH_NONE,		/* no connection */
	REDIS_PH_CONNECT,	/* TCP (and TLS) handshake */
	REDIS_PH_HELLO,		/* AUTH or PING sent */
	REDIS_PH_SUBSCRIBE,	/* SUBSCRIBE sent */
	REDIS_PH_READY,
};

struct redis_req {
	TAILQ_ENTRY(redis_req)	 entry;
	struct redis		*r;
	redis_reply_fn		*fn;
	void			*arg;
	struct event		*timer;
	/* a script, kept for EVAL after NOSCRIPT */
	const struct redis_script *script;
	int			 argc;
	char			**argv;
	size_t			*lens;
};

TAILQ_HEAD(redis_reqs, redis_req);

struct redis {
	struct event_base	*base;
	char			*addr, *password, *name;
	unsigned		 timeout_ms;
	SSL_CTX			*tls_ctx;	/* a reference; NULL: plain */
	char			*tls_name;	/* the server's name */
	struct bufferevent	*bev;		/* NULL: not connected */
	bool			 tls_on;	/* bev is the TLS filter */
	uint64_t		 conn_id;	/* counts the connections made */
	redisReader		*reader;
	enum redis_phase	 phase;
	enum redis_state	 state;
	unsigned		 backoff_ms;
	struct event		*timer;		/* reconnect, or connect
						   timeout */
	struct redis_reqs	 reqs;		/* sent, in order */
	redis_state_fn		*state_fn;
	void			*state_arg;
	char			*channel;	/* subscriber */
	redis_message_fn	*msg_fn;
	void			*msg_arg;
};

static void	redis_connect(struct redis *r);
static void	redis_drop(struct redis *r, const char *reason);

void
redis_script_init(struct redis_script *s, const char *body)
{
	unsigned char md[SHA_DIGEST_LENGTH];

	s->body = body;
	SHA1((const unsigned char *)body, strlen(body), md);
	for (size_t i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
}

int
redis_addr_parse(const char *addr, char *host, size_t hostlen, int *port,
    bool *unix_path)
{
	const char *colon;
	char *end;
	long p;
	size_t n;

	*port = 0;
	*unix_path = false;
	if (strncmp(addr, "unix:", 5) == 0) {
		if (addr[5] != '/' || strlen(addr + 5) >= hostlen)
			return -1;
		snprintf(host, hostlen, "%s", addr + 5);
		*unix_path = true;
		return 0;
	}
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (rb == NULL || rb[1] != ':')
			return -1;
		n = (size_t)(rb - addr - 1);
		addr++;
		colon = rb + 1;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL)
			return -1;
		n = (size_t)(colon - addr);
	}
	if (n == 0 || n >= hostlen)
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || p < 1 ||
	    p > 65535)
		return -1;
	memcpy(host, addr, n);
	host[n] = '\0';
	*port = (int)p;
	return 0;
}

static void
redis_set_state(struct redis *r, bool up, const char *reason)
{
	enum redis_state st = up ? REDIS_STATE_UP : REDIS_STATE_DOWN;

	if (r->state == st)
		return;
	r->state = st;
	if (up) {
		r->backoff_ms = 0;
		log_info("event=cluster.redis.up conn=%s redis=%s%s", r->name,
		    r->addr, r->tls_ctx ? " tls=yes" : "");
	} else {
		log_warnx("event=cluster.redis.down conn=%s redis=%s"
		    " reason=\"%s\"", r->name, r->addr, reason);
	}
	if (r->state_fn != NULL)
		r->state_fn(r->state_arg, up);
}

static void
redis_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis *r = arg;

	if (r->bev == NULL) {
		redis_connect(r);		/* the delay is over */
		return;
	}
	redis_drop(r, "connect timeout");	/* not ready in time */
}

/* redis_retry - later: the connection is gone (r->bev already NULL) */
static void
redis_retry(struct redis *r, const char *reason)
{
	struct timeval tv;

	r->phase = REDIS_PH_NONE;
	redis_set_state(r, false, reason);
	r->backoff_ms = r->backoff_ms == 0 ? REDIS_BACKOFF_MIN_MS :
	    r->backoff_ms * 2;
	if (r->backoff_ms > REDIS_BACKOFF_MAX_MS)
		r->backoff_ms = REDIS_BACKOFF_MAX_MS;
	tv.tv_sec = r->backoff_ms / 1000;
	tv.tv_usec = (r->backoff_ms % 1000) * 1000;
	evtimer_add(r->timer, &tv);
}

static void
redis_req_free(struct redis_req *q)
{
	if (q->timer != NULL)
		event_free(q->timer);
	for (int i = 0; q->argv != NULL && i < q->argc; i++)
		free(q->argv[i]);
	free(q->argv);
	free(q->lens);
	free(q);
}

/* redis_fail_all - answer every request still waiting NULL; their
   callbacks may send again (they are refused: r is not up) */
static void
redis_fail_all(struct redis *r)
{
	struct redis_reqs gone;
	struct redis_req *q;

	TAILQ_INIT(&gone);
	TAILQ_CONCAT(&gone, &r->reqs, entry);
	while ((q = TAILQ_FIRST(&gone)) != NULL) {
		TAILQ_REMOVE(&gone, q, entry);
		q->fn(q->arg, NULL);
		redis_req_free(q);
	}
}

/* redis_close - the connection and its parser, nothing else */
static void
redis_close(struct redis *r)
{
	if (r->bev != NULL)
		bufferevent_free(r->bev);	/* the socket under it too */
	r->bev = NULL;
	r->tls_on = false;
	if (r->reader != NULL)
		redisReaderFree(r->reader);
	r->reader = NULL;
}

/* redis_drop - give the connection up now and try again later */
static void
redis_drop(struct redis *r, const char *reason)
{
	if (r->bev == NULL)
		return;
	redis_close(r);
	evtimer_del(r->timer);
	redis_retry(r, reason);
	redis_fail_all(r);
}

/* redis_send - one command onto the connection: 0, or -1 */
static int
redis_send(struct redis *r, int argc, const char **argv, const size_t *lens)
{
	char *cmd = NULL;
	int len;

	if (r->bev == NULL)
		return -1;
	if ((len = redisFormatCommandArgv(&cmd, argc, argv, lens)) < 0)
		return -1;
	if (bufferevent_write(r->bev, cmd, (size_t)len) == -1) {
		redisFreeCommand(cmd);
		return -1;
	}
	redisFreeCommand(cmd);
	return 0;
}

static void
redis_req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis_req *q = arg;
	struct redis *r = q->r;

	TAILQ_REMOVE(&r->reqs, q, entry);
	q->fn(q->arg, NULL);
	redis_req_free(q);
	redis_drop(r, "command timeout");
}

/* redis_req_reply - the answer to the request at the head of the FIFO */
static void
redis_req_reply(struct redis *r, struct redis_req *q, const redisReply *rep)
{
	if (rep->type == REDIS_REPLY_ERROR && q->script != NULL &&
	    strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		/* the server lost the script (restart, SCRIPT FLUSH) */
		const struct redis_script *s = q->script;
		uint64_t id = r->conn_id;

		q->script = NULL;
		free(q->argv[1]);
		free(q->argv[0]);
		q->argv[0] = xstrdup("EVAL");
		q->lens[0] = 4;
		q->argv[1] = xstrdup(s->body);
		q->lens[1] = strlen(s->body);
		if (redis_send(r, q->argc, (const char **)q->argv,
		    q->lens) == 0 && r->bev != NULL && r->conn_id == id) {
			TAILQ_INSERT_TAIL(&r->reqs, q, entry);
			return;
		}
		rep = NULL;	/* not sent, or the connection went with it */
	}
	evtimer_del(q->timer);
	q->fn(q->arg, rep);
	redis_req_free(q);
}

static struct redis_req *
redis_req_new(struct redis *r, redis_reply_fn *fn, void *arg)
{
	struct redis_req *q = xcalloc(1, sizeof(*q));

	q->r = r;
	q->fn = fn;
	q->arg = arg;
	q->timer = evtimer_new(r->base, redis_req_timeout_cb, q);
	return q;
}

/* redis_req_start - q sent: it waits for its reply, timed; or -1 */
static int
redis_req_start(struct redis *r, struct redis_req *q, int argc,
    const char **argv, const size_t *lens)
{
	struct timeval tv = { r->timeout_ms / 1000,
	    (r->timeout_ms % 1000) * 1000 };
	uint64_t id = r->conn_id;

	if (redis_send(r, argc, argv, lens) == -1)
		return -1;
	/* a TLS write may find the connection closed at once and drop it
	   before it returns: then nothing waits for an answer */
	if (r->bev == NULL || r->conn_id != id)
		return -1;
	TAILQ_INSERT_TAIL(&r->reqs, q, entry);
	evtimer_add(q->timer, &tv);
	return 0;
}

int
redis_command(struct redis *r, redis_reply_fn *fn, void *arg, int argc,
    const char **argv, const size_t *lens)
{
	struct redis_req *q;

	if (!redis_up(r) || r->channel != NULL)
		return -1;
	q = redis_req_new(r, fn, arg);
	if (redis_req_start(r, q, argc, argv, lens) == -1) {
		redis_req_free(q);
		return -1;
	}
	return 0;
}

int
redis_eval(struct redis *r, const struct redis_script *s, redis_reply_fn *fn,
    void *arg, int nkeys, int argc, const char **argv)
{
	struct redis_req *q;
	char nk[16];
	int n = argc + 3;

	if (!redis_up(r) || r->channel != NULL)
		return -1;
	q = redis_req_new(r, fn, arg);
	q->script = s;
	q->argc = n;
	q->argv = xcalloc((size_t)n, sizeof(*q->argv));
	q->lens = xcalloc((size_t)n, sizeof(*q->lens));
	snprintf(nk, sizeof(nk), "%d", nkeys);
	q->argv[0] = xstrdup("EVALSHA");
	q->argv[1] = xstrdup(s->sha);
	q->argv[2] = xstrdup(nk);
	for (int i = 0; i < argc; i++)
		q->argv[3 + i] = xstrdup(argv[i]);
	for (int i = 0; i < n; i++)
		q->lens[i] = strlen(q->argv[i]);
	if (redis_req_start(r, q, n, (const char **)q->argv, q->lens) == -1) {
		redis_req_free(q);
		return -1;
	}
	return 0;
}

/* redis_ready - connected and, for a subscriber, subscribed */
static void
redis_ready(struct redis *r)
{
	evtimer_del(r->timer);
	r->phase = REDIS_PH_READY;
	redis_set_state(r, true, NULL);
}

/* redis_message - a subscriber's replies: the confirmation, then every
   message */
static void
redis_message(struct redis *r, const redisReply *rep)
{
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(rep->element[0]->str, "subscribe") == 0) {
		if (r->phase == REDIS_PH_SUBSCRIBE)
			redis_ready(r);
	} else if (strcmp(rep->element[0]->str, "message") == 0 &&
	    rep->element[2]->type == REDIS_REPLY_STRING &&
	    r->phase == REDIS_PH_READY) {
		r->msg_fn(r->msg_arg, rep->element[2]->str,
		    rep->element[2]->len);
	}
}

/* redis_hello - the answer to AUTH (or PING): ready, or not */
static void
redis_hello(struct redis *r, const redisReply *rep)
{
	char why[160];

	if (rep->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "%s%s", r->password ? "AUTH: " :
		    "PING: ", rep->str);
		redis_drop(r, why);
		return;
	}
	if (r->channel != NULL) {
		const char *argv[2] = { "SUBSCRIBE", r->channel };

		/* up once the subscription is confirmed */
		r->phase = REDIS_PH_SUBSCRIBE;
		if (redis_send(r, 2, argv, NULL) == -1)
			redis_drop(r, "SUBSCRIBE failed");
		return;
	}
	redis_ready(r);
}

/* redis_dispatch - one reply to whoever waits for it in this phase */
static void
redis_dispatch(struct redis *r, const redisReply *rep)
{
	struct redis_req *q;

	switch (r->phase) {
	case REDIS_PH_HELLO:
		redis_hello(r, rep);
		return;
	case REDIS_PH_SUBSCRIBE:
		redis_message(r, rep);
		return;
	case REDIS_PH_READY:
		if (r->channel != NULL) {
			redis_message(r, rep);
			return;
		}
		if ((q = TAILQ_FIRST(&r->reqs)) == NULL) {
			redis_drop(r, "a reply nobody asked for");
			return;
		}
		TAILQ_REMOVE(&r->reqs, q, entry);
		redis_req_reply(r, q, rep);
		return;
	default:
		redis_drop(r, "a reply before the handshake");
		return;
	}
}

static void
redis_read_cb(struct bufferevent *bev, void *arg)
{
	struct redis *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[8];
	void *reply;

	while (evbuffer_get_length(in) > 0) {
		int n = evbuffer_peek(in, -1, NULL, v, 8);
		size_t fed = 0;

		for (int i = 0; i < n && i < 8; i++) {
			if (redisReaderFeed(r->reader, v[i].iov_base,
			    v[i].iov_len) != REDIS_OK) {
				redis_drop(r, "out of memory");
				return;
			}
			fed += v[i].iov_len;
		}
		evbuffer_drain(in, fed);
	}
	for (;;) {
		if (redisReaderGetReply(r->reader, &reply) != REDIS_OK) {
			char why[160];

			snprintf(why, sizeof(why), "protocol: %s",
			    r->reader->errstr);
			redis_drop(r, why);
			return;
		}
		if (reply == NULL)
			return;
		redis_dispatch(r, reply);
		freeReplyObject(reply);
		if (r->bev != bev)
			return;		/* dropped: the reader is gone */
	}
}

/* redis_hello_send - the connection is open: AUTH, or PING to see it
   answers */
static void
redis_hello_send(struct redis *r)
{
	const char *auth[2] = { "AUTH", r->password };
	const char *ping[1] = { "PING" };

	r->phase = REDIS_PH_HELLO;
	if ((r->password != NULL ? redis_send(r, 2, auth, NULL) :
	    redis_send(r, 1, ping, NULL)) == -1)
		redis_drop(r, "cannot send");
}

static void	redis_event_cb(struct bufferevent *bev, short what, void *arg);

/* redis_tls_start - TCP is up: put TLS on it, the handshake follows */
static void
redis_tls_start(struct redis *r)
{
	struct bufferevent *tbev;
	struct err err;
	SSL *ssl;

	if ((ssl = redis_tls_ssl(r->tls_ctx, r->tls_name, &err)) == NULL) {
		redis_drop(r, err.msg);
		return;
	}
	tbev = bufferevent_openssl_filter_new(r->base, r->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (tbev == NULL) {
		/* libevent freed ssl and, with the half-made filter, the
		   socket's bufferevent (the handshake failed at once) */
		r->bev = NULL;
		redisReaderFree(r->reader);
		r->reader = NULL;
		evtimer_del(r->timer);
		redis_retry(r, "TLS: the handshake could not start");
		redis_fail_all(r);
		return;
	}
	r->bev = tbev;		/* it owns the socket's bufferevent now */
	r->tls_on = true;
	bufferevent_setcb(tbev, redis_read_cb, NULL, redis_event_cb, r);
	bufferevent_enable(tbev, EV_READ | EV_WRITE);
}

/* redis_event_why - a failed connection's reason, from OpenSSL's check
   of the certificate, its error queue, or errno */
static void
redis_event_why(struct redis *r, struct bufferevent *bev, short what,
    char *why, size_t len)
{
	SSL *ssl = r->tls_on ? bufferevent_openssl_get_ssl(bev) : NULL;
	unsigned long e;
	long v;

	/* what OpenSSL queued on this thread is not needed past here */
	ERR_clear_error();
	if (ssl != NULL && (v = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(why, len, "TLS: %s", X509_verify_cert_error_string(v));
		return;
	}
	if (ssl != NULL && (e = bufferevent_get_openssl_error(bev)) != 0) {
		char es[200];

		ERR_error_string_n(e, es, sizeof(es));
		snprintf(why, len, "TLS: %s", es);
		return;
	}
	if (what & BEV_EVENT_EOF)
		snprintf(why, len, "connection closed");
	else if (EVUTIL_SOCKET_ERROR() != 0)
		snprintf(why, len, "%s", evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
	else
		snprintf(why, len, "connection lost");
}

static void
redis_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct redis *r = arg;
	char why[256];

	if (bev != r->bev)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		if (r->tls_ctx != NULL && !r->tls_on)
			redis_tls_start(r);
		else
			redis_hello_send(r);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		redis_event_why(r, bev, what, why, sizeof(why));
		redis_drop(r, why);
	}
}

/* redis_keepalive - a peer gone without a word (a half-open connection
   behind NAT, a failover without a reset) is found within a minute even
   by a subscriber, which sends nothing */
static void
redis_keepalive(evutil_socket_t fd)
{
	int on = 1, idle = 30, intvl = 10, cnt = 3;

	if (fd < 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
	    sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static void
redis_connect(struct redis *r)
{
	char host[256];
	int port, rc;
	bool unix_path;
	struct timeval tv = { r->timeout_ms / 1000,
	    (r->timeout_ms % 1000) * 1000 };

	if (redis_addr_parse(r->addr, host, sizeof(host), &port,
	    &unix_path) == -1) {
		redis_retry(r, "bad address");
		return;
	}
	if ((r->reader = redisReaderCreate()) == NULL)
		fatalx("redisReaderCreate: out of memory");
	r->bev = bufferevent_socket_new(r->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (r->bev == NULL)
		fatalx("bufferevent_socket_new: out of memory");
	bufferevent_setcb(r->bev, redis_read_cb, NULL, redis_event_cb, r);
	bufferevent_enable(r->bev, EV_READ | EV_WRITE);
	r->phase = REDIS_PH_CONNECT;
	if (unix_path) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", host);
		rc = bufferevent_socket_connect(r->bev,
		    (struct sockaddr *)&sun, sizeof(sun));
	} else {
		/* no event base for DNS: a name is resolved blocking, as
		   hiredis did; an address costs nothing */
		rc = bufferevent_socket_connect_hostname(r->bev, NULL,
		    AF_UNSPEC, host, port);
	}
	if (r->bev == NULL)
		return;		/* failed at once: dropped, retry set */
	r->conn_id++;
	if (!unix_path)
		redis_keepalive(bufferevent_getfd(r->bev));
	if (rc == -1) {
		char why[160];

		snprintf(why, sizeof(why), "%s", errno ? strerror(errno) :
		    "cannot connect");
		redis_close(r);
		redis_retry(r, why);
		return;
	}
	evtimer_add(r->timer, &tv);	/* ready in time, or dropped */
}

struct redis *
redis_new(struct event_base *base, const struct redis_conf *c)
{
	struct redis *r = xcalloc(1, sizeof(*r));

	r->base = base;
	r->addr = xstrdup(c->addr);
	r->password = c->password ? xstrdup(c->password) : NULL;
	r->name = xstrdup(c->name ? c->name : "redis");
	r->timeout_ms = c->timeout_ms ? c->timeout_ms : 2000;
	if (c->tls_ctx != NULL) {
		SSL_CTX_up_ref(c->tls_ctx);
		r->tls_ctx = c->tls_ctx;
		r->tls_name = xstrdup(c->tls_name ? c->tls_name : "");
	}
	r->timer = evtimer_new(base, redis_timer_cb, r);
	TAILQ_INIT(&r->reqs);
	return r;
}

void
redis_on_state(struct redis *r, redis_state_fn *fn, void *arg)
{
	r->state_fn = fn;
	r->state_arg = arg;
}

void
redis_subscribe(struct redis *r, const char *channel, redis_message_fn *fn,
    void *arg)
{
	free(r->channel);
	r->channel = xstrdup(channel);
	r->msg_fn = fn;
	r->msg_arg = arg;
}

void
redis_start(struct redis *r)
{
	redis_connect(r);
}

bool
redis_up(const struct redis *r)
{
	return r != NULL && r->phase == REDIS_PH_READY;
}

void
redis_free(struct redis *r)
{
	if (r == NULL)
		return;
	r->state_fn = NULL;
	redis_close(r);
	r->phase = REDIS_PH_NONE;
	redis_fail_all(r);
	event_free(r->timer);
	SSL_CTX_free(r->tls_ctx);
	free(r->addr);
	free(r->password);
	free(r->name);
	free(r->tls_name);
	free(r->channel);
	free(r);
}
