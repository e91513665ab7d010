/* SPDX-License-Identifier: ISC */
/*
 * redis.c - the client of redis.h.
 *
 * hiredis 0.14's asynchronous API has no timeouts: every command carries
 * its own event timer. When it fires the caller is answered NULL once,
 * and the connection is dropped (a server that does not answer in time
 * is taken as gone); hiredis then calls every pending callback with a
 * NULL reply, which only frees the requests already answered. A dropped
 * or failed connection is tried again after 100 ms, doubling up to 5 s.
 * The state (up or down) is logged once per change:
 * event=cluster.redis.down reason=... and event=cluster.redis.up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <openssl/sha.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "net/redis.h"

#define REDIS_BACKOFF_MIN_MS	100
#define REDIS_BACKOFF_MAX_MS	5000

enum redis_state {
	REDIS_STATE_NEW,	/* never connected: down not logged yet */
	REDIS_STATE_UP,
	REDIS_STATE_DOWN,
};

struct redis {
	struct event_base	*base;
	char			*addr, *password, *name;
	unsigned		 timeout_ms;
	redisAsyncContext	*ac;		/* NULL: not connected */
	bool			 ready;		/* connected, AUTH done */
	enum redis_state	 state;
	unsigned		 backoff_ms;
	struct event		*timer;		/* reconnect, or connect
						   timeout */
	redis_state_fn		*state_fn;
	void			*state_arg;
	char			*channel;	/* subscriber */
	redis_message_fn	*msg_fn;
	void			*msg_arg;
};

struct redis_req {
	struct redis		*r;
	redis_reply_fn		*fn;
	void			*arg;
	struct event		*timer;
	bool			 answered;
	/* a script, kept for EVAL after NOSCRIPT */
	const struct redis_script *script;
	int			 argc;
	char			**argv;
	size_t			*lens;
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
		log_info("event=cluster.redis.up conn=%s redis=%s", r->name,
		    r->addr);
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

	if (r->ac == NULL) {
		redis_connect(r);		/* the delay is over */
		return;
	}
	redis_drop(r, "connect timeout");	/* not ready in time */
}

/* redis_retry - later: the connection is gone (r->ac already NULL) */
static void
redis_retry(struct redis *r, const char *reason)
{
	struct timeval tv;

	r->ready = false;
	redis_set_state(r, false, reason);
	r->backoff_ms = r->backoff_ms == 0 ? REDIS_BACKOFF_MIN_MS :
	    r->backoff_ms * 2;
	if (r->backoff_ms > REDIS_BACKOFF_MAX_MS)
		r->backoff_ms = REDIS_BACKOFF_MAX_MS;
	tv.tv_sec = r->backoff_ms / 1000;
	tv.tv_usec = (r->backoff_ms % 1000) * 1000;
	evtimer_add(r->timer, &tv);
}

/* redis_drop - give the connection up now and try again later */
static void
redis_drop(struct redis *r, const char *reason)
{
	redisAsyncContext *ac = r->ac;

	if (ac == NULL)
		return;
	r->ac = NULL;
	evtimer_del(r->timer);
	redis_retry(r, reason);
	redisAsyncFree(ac);	/* pending callbacks get NULL */
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

static void
redis_req_answer(struct redis_req *q, const redisReply *reply)
{
	if (q->answered)
		return;
	q->answered = true;
	if (q->timer != NULL)
		evtimer_del(q->timer);
	q->fn(q->arg, reply);
}

static void
redis_req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis_req *q = arg;
	struct redis *r = q->r;

	redis_req_answer(q, NULL);
	/* q is freed when hiredis lets its callback go */
	redis_drop(r, "command timeout");
}

static void redis_reply_cb(redisAsyncContext *ac, void *reply, void *priv);

static int
redis_req_send(struct redis *r, struct redis_req *q, int argc,
    const char **argv, const size_t *lens)
{
	if (redisAsyncCommandArgv(r->ac, redis_reply_cb, q, argc, argv,
	    lens) != REDIS_OK)
		return -1;
	return 0;
}

static void
redis_reply_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct redis_req *q = priv;
	redisReply *rep = reply;

	if (!q->answered && rep != NULL && rep->type == REDIS_REPLY_ERROR &&
	    q->script != NULL && strncmp(rep->str, "NOSCRIPT", 8) == 0 &&
	    q->r->ac == ac) {
		/* the server lost the script (restart, SCRIPT FLUSH) */
		const struct redis_script *s = q->script;

		q->script = NULL;
		free(q->argv[1]);
		free(q->argv[0]);
		q->argv[0] = xstrdup("EVAL");
		q->lens[0] = 4;
		q->argv[1] = xstrdup(s->body);
		q->lens[1] = strlen(s->body);
		if (redis_req_send(q->r, q, q->argc, (const char **)q->argv,
		    q->lens) == 0)
			return;
	}
	redis_req_answer(q, rep);
	redis_req_free(q);
}

static struct redis_req *
redis_req_new(struct redis *r, redis_reply_fn *fn, void *arg)
{
	struct redis_req *q = xcalloc(1, sizeof(*q));
	struct timeval tv = { r->timeout_ms / 1000,
	    (r->timeout_ms % 1000) * 1000 };

	q->r = r;
	q->fn = fn;
	q->arg = arg;
	q->timer = evtimer_new(r->base, redis_req_timeout_cb, q);
	evtimer_add(q->timer, &tv);
	return q;
}

int
redis_command(struct redis *r, redis_reply_fn *fn, void *arg, int argc,
    const char **argv, const size_t *lens)
{
	struct redis_req *q;

	if (r == NULL || !r->ready || r->channel != NULL)
		return -1;
	q = redis_req_new(r, fn, arg);
	if (redis_req_send(r, q, argc, argv, lens) == -1) {
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

	if (r == NULL || !r->ready || r->channel != NULL)
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
	if (redis_req_send(r, q, n, (const char **)q->argv, q->lens) == -1) {
		redis_req_free(q);
		return -1;
	}
	return 0;
}

/* redis_message_cb - a subscriber's replies: the confirmation, then
   every message */
static void
redis_message_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct redis *r = priv;
	redisReply *rep = reply;

	if (rep == NULL || r->ac != ac)
		return;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(rep->element[0]->str, "subscribe") == 0) {
		evtimer_del(r->timer);
		r->ready = true;
		redis_set_state(r, true, NULL);
	} else if (strcmp(rep->element[0]->str, "message") == 0 &&
	    rep->element[2]->type == REDIS_REPLY_STRING) {
		r->msg_fn(r->msg_arg, rep->element[2]->str,
		    rep->element[2]->len);
	}
}

/* redis_hello_cb - the answer to AUTH (or PING): ready, or not */
static void
redis_hello_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct redis *r = priv;
	redisReply *rep = reply;
	char why[160];

	if (r->ac != ac)
		return;
	if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "%s%s", r->password ? "AUTH: " :
		    "PING: ", rep ? rep->str : "no reply");
		redis_drop(r, why);
		return;
	}
	if (r->channel != NULL) {
		const char *argv[2] = { "SUBSCRIBE", r->channel };

		/* up once the subscription is confirmed */
		if (redisAsyncCommandArgv(ac, redis_message_cb, r, 2, argv,
		    NULL) != REDIS_OK)
			redis_drop(r, "SUBSCRIBE failed");
		return;
	}
	evtimer_del(r->timer);
	r->ready = true;
	redis_set_state(r, true, NULL);
}

static void
redis_connect_cb(const redisAsyncContext *cac, int status)
{
	struct redis *r = cac->data;
	redisAsyncContext *ac = r->ac;

	if (ac != cac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback */
		char why[160];

		snprintf(why, sizeof(why), "%s", cac->errstr[0] ? cac->errstr :
		    "connect failed");
		r->ac = NULL;
		evtimer_del(r->timer);
		redis_retry(r, why);
		return;
	}
	if (r->password != NULL) {
		const char *argv[2] = { "AUTH", r->password };

		if (redisAsyncCommandArgv(ac, redis_hello_cb, r, 2, argv,
		    NULL) == REDIS_OK)
			return;
	} else {
		const char *argv[1] = { "PING" };

		if (redisAsyncCommandArgv(ac, redis_hello_cb, r, 1, argv,
		    NULL) == REDIS_OK)
			return;
	}
	redis_drop(r, "cannot send");
}

static void
redis_disconnect_cb(const redisAsyncContext *cac, int status)
{
	struct redis *r = cac->data;
	char why[160];

	if (r->ac != cac)
		return;
	/* hiredis frees the context after this callback */
	snprintf(why, sizeof(why), "%s", cac->errstr[0] ? cac->errstr :
	    "connection lost");
	r->ac = NULL;
	evtimer_del(r->timer);
	redis_retry(r, why);
}

static void
redis_connect(struct redis *r)
{
	char host[256], why[160];
	int port;
	bool unix_path;
	redisAsyncContext *ac;
	struct timeval tv = { r->timeout_ms / 1000,
	    (r->timeout_ms % 1000) * 1000 };

	if (redis_addr_parse(r->addr, host, sizeof(host), &port,
	    &unix_path) == -1) {
		redis_retry(r, "bad address");
		return;
	}
	ac = unix_path ? redisAsyncConnectUnix(host) :
	    redisAsyncConnect(host, port);
	if (ac == NULL || ac->err) {
		snprintf(why, sizeof(why), "%s", ac ? ac->errstr :
		    "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		redis_retry(r, why);
		return;
	}
	ac->data = r;
	if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
		redisAsyncFree(ac);
		redis_retry(r, "libevent attach failed");
		return;
	}
	r->ac = ac;
	redisAsyncSetConnectCallback(ac, redis_connect_cb);
	redisAsyncSetDisconnectCallback(ac, redis_disconnect_cb);
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
	r->timer = evtimer_new(base, redis_timer_cb, r);
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
	return r != NULL && r->ready;
}

void
redis_free(struct redis *r)
{
	redisAsyncContext *ac;

	if (r == NULL)
		return;
	r->state_fn = NULL;
	if ((ac = r->ac) != NULL) {
		r->ac = NULL;
		r->ready = false;
		redisAsyncFree(ac);	/* pending callbacks get NULL */
	}
	event_free(r->timer);
	free(r->addr);
	free(r->password);
	free(r->name);
	free(r->channel);
	free(r);
}
