/* SPDX-License-Identifier: ISC */
/*
 * http_server.c - the [http] listener: sockets, the thread and its loop,
 * TLS, routing, API key checks and JSON answers. The handlers live in
 * api_*.c. See http_server.h.
 */
#include <sys/socket.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "auth/apikey.h"
#include "conf/conf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/xalloc.h"
#include "http/http_int.h"
#include "http/http_server.h"
#include "live/conf_live.h"
#include "net/redis_tls.h"
#include "net/tls.h"
#include "policy/cluster.h"
#include "policy/limits.h"
#include "spool/spool.h"

/* a stop waits this long for the commits it still owes answers to */
#define HTTP_STOP_GRACE_SEC	30
/* seconds to read a request or write an answer */
#define HTTP_TIMEOUT_SEC	60

struct http_server *
http_server_bind(const struct conf *conf, struct err *err)
{
	struct http_server *h;
	int fd, one = 1;
	size_t off = 0;

	err->msg[0] = '\0';
	if (!conf->http.enabled)
		return NULL;
	h = xcalloc(1, sizeof(*h));
	h->fds = xcalloc(conf->http.naddrs, sizeof(*h->fds));
	h->tls = conf->http.tls == CONF_HTTP_TLS_REQUIRED;
	for (size_t i = 0; i < conf->http.naddrs; i++) {
		const struct conf_addr *a = &conf->http.addrs[i];

		fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one)) == -1 || (a->ss.ss_family == AF_INET6 &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one)) == -1) ||
		    bind(fd, (const struct sockaddr *)&a->ss, a->sslen) == -1 ||
		    listen(fd, 1024) == -1) {
			err_set(err, errno, "[http] address %s: %s", a->text,
			    strerror(errno));
			if (fd != -1)
				close(fd);
			http_server_free(h);
			return NULL;
		}
		h->fds[h->nfds++] = fd;
		off += (size_t)snprintf(h->addrs + off, sizeof(h->addrs) - off,
		    "%s%s", i ? "," : "", a->text);
		if (off >= sizeof(h->addrs))
			off = sizeof(h->addrs) - 1;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->jobs_cond, NULL);
	h->inbox_tail = &h->inbox;
	idmap_init(&h->waiting);
	return h;
}

/* --- answers ------------------------------------------------------------ */

void
http_reply_raw(struct http_req *r, int status, const char *ctype,
    const char *body, size_t len)
{
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *hd = evhttp_request_get_output_headers(r->req);

	evhttp_add_header(hd, "Content-Type", ctype);
	evhttp_add_header(hd, "Cache-Control", "no-store");
	evhttp_add_header(hd, "X-Content-Type-Options", "nosniff");
	if (out != NULL)
		evbuffer_add(out, body, len);
	evhttp_send_reply(r->req, status, NULL, out);
	if (out != NULL)
		evbuffer_free(out);
	r->req = NULL;
}

void
http_reply_json(struct http_req *r, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	if (s == NULL) {
		http_reply_raw(r, 500, "application/json",
		    "{\"error\":{\"status\":500,\"message\":\"out of memory\"}}",
		    51);
		return;
	}
	http_reply_raw(r, status, "application/json", s, strlen(s));
	free(s);
}

json_t *
http_json_str(const char *s)
{
	json_t *j;
	char *c;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	/* not UTF-8 (a peer's reply, an 8-bit address): bytes as '?' */
	c = xstrdup(s);
	for (char *p = c; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(c);
	free(c);
	return j ? j : json_null();
}

void
http_reply_error(struct http_req *r, int status, const char *field,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *e;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e = json_pack("{s:i, s:o}", "status", status, "message",
	    http_json_str(msg));
	if (field != NULL && e != NULL)
		json_object_set_new(e, "field", http_json_str(field));
	log_info("event=http.error client=%s status=%d path=%s%s%s"
	    " message=\"%s\"", r->ip, status, r->path, field ? " field=" : "",
	    field ? field : "", msg);
	http_reply_json(r, status, json_pack("{s:o}", "error", e));
}

const char *
http_body(struct http_req *r, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	unsigned char *p;

	/* a NUL after the body, for parsers that want one */
	evbuffer_add(in, "", 1);
	*len = evbuffer_get_length(in) - 1;
	p = evbuffer_pullup(in, -1);
	return (const char *)p;
}

const char *
http_header(struct http_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->req),
	    name);
}

bool
http_auth(struct http_req *r)
{
	const char *a = http_header(r, "Authorization");
	const char *token = NULL;
	enum apikey_verdict v;
	unsigned ban;

	if ((ban = limits_banned(r->ip)) > 0) {
		char s[16];

		snprintf(s, sizeof(s), "%u", ban);
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Retry-After", s);
		http_reply_error(r, 429, NULL, "too many failed API keys from"
		    " %s: try again in %u s", r->ip, ban);
		return false;
	}
	if (a != NULL && strncasecmp(a, "Bearer ", 7) == 0) {
		token = a + 7;
		while (*token == ' ')
			token++;
	}
	v = apikey_check(r->h->keys, token, r->key);
	if (v == APIKEY_OK)
		return true;
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "WWW-Authenticate", "Bearer realm=\"relais\"");
	if (v != APIKEY_MISSING && (ban = limits_auth_failed(r->ip,
	    r->snap->conf)) > 0)
		log_info("event=limit.auth_failures_per_ip client=%s"
		    " failures=%u ban=%u source=http", r->ip,
		    r->snap->conf->limits.auth_failures_per_ip, ban);
	log_info("event=http.auth.failed client=%s reason=%s", r->ip,
	    apikey_verdict_name(v));
	http_reply_error(r, 401, NULL, v == APIKEY_MISSING ?
	    "an API key is required: Authorization: Bearer TOKEN" :
	    v == APIKEY_REVOKED ? "this API key has been revoked" :
	    "invalid API key");
	r->key[0] = '\0';
	return false;
}

/* --- posts from other threads, and commits waited for ----------------- */

void
http_post(struct http_server *h, void (*fn)(struct http_server *, void *,
    int), void *arg, int status)
{
	struct http_post *p = xcalloc(1, sizeof(*p));
	bool closed;

	p->fn = fn;
	p->arg = arg;
	p->status = status;
	pthread_mutex_lock(&h->lock);
	if (!(closed = h->closed)) {
		*h->inbox_tail = p;
		h->inbox_tail = &p->next;
		event_active(h->inbox_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&h->lock);
	if (closed) {
		/* the server is gone: fn only frees arg */
		fn(NULL, arg, status);
		free(p);
	}
}

static void
http_inbox_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *h = arg;
	struct http_post *list, *p;

	pthread_mutex_lock(&h->lock);
	list = h->inbox;
	h->inbox = NULL;
	h->inbox_tail = &h->inbox;
	pthread_mutex_unlock(&h->lock);
	while ((p = list) != NULL) {
		list = p->next;
		p->fn(h, p->arg, p->status);
		free(p);
	}
}

struct http_wait *
http_wait_new(struct http_req *r)
{
	struct http_wait *w = xcalloc(1, sizeof(*w));

	w->tag = ++r->h->next_tag;
	w->req = r->req;
	r->req = NULL;		/* answered later */
	idmap_put(&r->h->waiting, w->tag, w);
	return w;
}

static void
http_wait_free(struct http_server *h, struct http_wait *w)
{
	struct http_wait **pp;

	if (w->idem != NULL)
		for (pp = &h->idem_inflight; *pp; pp = &(*pp)->next)
			if (*pp == w) {
				*pp = w->next;
				break;
			}
	idmap_del(&h->waiting, w->tag);
	free(w->idem);
	free(w->answer);
	free(w->cl_tenant);
	free(w);
	if (h->stopping && h->waiting.len == 0)
		event_base_loopexit(h->base, NULL);
}

void
http_wait_answer(struct http_server *h, struct http_wait *w, int status,
    const char *body)
{
	struct http_req r;

	if (w->req != NULL) {
		memset(&r, 0, sizeof(r));
		r.h = h;
		r.req = w->req;
		r.path = "";
		http_reply_raw(&r, status, "application/json", body,
		    strlen(body));
	}
	http_wait_free(h, w);
}

/* http_commit_done - on the HTTP thread: the queue manager's answer */
static void
http_commit_done(struct http_server *h, void *arg, int status)
{
	struct http_wait *w;

	if (h == NULL || (w = idmap_get(&h->waiting,
	    (uint64_t)(uintptr_t)arg)) == NULL)
		return;
	if (status == 0) {
		metrics_count(METRIC_RECEIVED, "http");
		http_wait_answer(h, w, w->status, w->answer);
	} else {
		if (w->cl_tenant != NULL)
			cluster_quota_release(h->cluster, w->cl_tenant, 1,
			    w->cl_rcpts, w->cl_when);
		http_wait_answer(h, w, 503, "{\"error\":{\"status\":503,"
		    "\"message\":\"local error: the message was not stored,"
		    " try again later\"}}");
	}
}

void
http_qmgr_done(void *arg, uint64_t tag, int status)
{
	http_post(arg, http_commit_done, (void *)(uintptr_t)tag, status);
}

/* --- routing ------------------------------------------------------------ */

static bool
http_method(struct http_req *r, enum evhttp_cmd_type want)
{
	if (evhttp_request_get_command(r->req) == want)
		return true;
	http_reply_error(r, 405, NULL, "method not allowed on %s", r->path);
	return false;
}

/* http_route - path segments after /v1/ */
static void
http_route(struct http_req *r)
{
	const char *p = r->path, *rest;
	char id[128], act[32];

	if (strcmp(p, "/metrics") == 0) {
		if (http_method(r, EVHTTP_REQ_GET))
			http_metrics(r);
	} else if (strcmp(p, "/healthz") == 0) {
		if (http_method(r, EVHTTP_REQ_GET))
			http_healthz(r);
	} else if (strcmp(p, "/v1/messages") == 0) {
		if (http_method(r, EVHTTP_REQ_POST) && http_auth(r))
			api_send(r);
	} else if (strncmp(p, "/v1/messages/", 13) == 0) {
		if (http_method(r, EVHTTP_REQ_GET) && http_auth(r))
			api_message_get(r, p + 13);
	} else if (strcmp(p, "/v1/queue") == 0) {
		const char *c = evhttp_find_header(&r->query, "cluster");

		if (http_method(r, EVHTTP_REQ_GET) && http_auth(r)) {
			if (c != NULL && strcmp(c, "1") == 0)
				api_cluster(r, true);
			else
				api_queue_list(r);
		}
	} else if (strcmp(p, "/v1/cluster/nodes") == 0) {
		if (http_method(r, EVHTTP_REQ_GET) && http_auth(r))
			api_cluster(r, false);
	} else if (strncmp(p, "/v1/queue/", 10) == 0) {
		rest = p + 10;
		if (sscanf(rest, "%127[^/]/%31s", id, act) == 2) {
			if (http_method(r, EVHTTP_REQ_POST) && http_auth(r))
				api_queue_act(r, id, act);
		} else if (sscanf(rest, "%127[^/]", id) == 1 &&
		    strchr(rest, '/') == NULL) {
			if (http_method(r, EVHTTP_REQ_DELETE) && http_auth(r))
				api_queue_act(r, id, "delete");
		} else
			http_reply_error(r, 404, NULL, "no such resource");
	} else if (strcmp(p, "/v1/events") == 0) {
		if (http_method(r, EVHTTP_REQ_GET) && http_auth(r))
			api_events(r);
	} else if (strcmp(p, "/v1/suppressions") == 0) {
		if (http_auth(r))
			api_suppressions(r, NULL);
	} else if (strncmp(p, "/v1/suppressions/", 17) == 0) {
		if (http_auth(r))
			api_suppressions(r, p + 17);
	} else if (strcmp(p, "/v1/sites") == 0) {
		if (http_auth(r))
			api_sites(r, NULL);
	} else if (strncmp(p, "/v1/sites/", 10) == 0) {
		if (http_auth(r))
			api_sites(r, p + 10);
	} else if (strcmp(p, "/v1/stats") == 0) {
		if (http_method(r, EVHTTP_REQ_GET) && http_auth(r))
			api_stats(r);
	} else if (strcmp(p, "/") == 0 || strncmp(p, "/ui.", 4) == 0) {
		http_ui(r);		/* the status page, no key */
	} else
		http_reply_error(r, 404, NULL, "no such resource: %s", p);
}

static void
http_dispatch(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;
	struct http_req r;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	char *decoded = NULL, *peer = NULL;
	ev_uint16_t port;

	memset(&r, 0, sizeof(r));
	r.h = h;
	r.req = req;
	TAILQ_INIT(&r.query);
	r.snap = conf_live_get(h->live);
	if (evcon != NULL) {
		evhttp_connection_get_peer(evcon, &peer, &port);
		snprintf(r.ip, sizeof(r.ip), "%s", peer ? peer : "?");
	}
	r.loopback = strncmp(r.ip, "127.", 4) == 0 ||
	    strcmp(r.ip, "::1") == 0;
	if (path == NULL || path[0] == '\0')
		path = "/";
	if ((decoded = evhttp_uridecode(path, 0, NULL)) == NULL ||
	    strlen(decoded) > 1024 || (q != NULL &&
	    evhttp_parse_query_str(q, &r.query) == -1)) {
		r.path = "?";
		http_reply_error(&r, 400, NULL, "bad request URI");
		goto out;
	}
	r.path = decoded;
	http_route(&r);
out:
	/* every handler answers or parks the request */
	if (r.req != NULL)
		http_reply_error(&r, 500, NULL, "no answer");
	evhttp_clear_headers(&r.query);
	free(decoded);
	conf_snap_unref(r.snap);
}

/* http_bevcb - HTTPS: each connection starts with a TLS handshake */
static struct bufferevent *
http_bevcb(struct event_base *base, void *arg)
{
	struct http_server *h = arg;
	struct conf_snap *snap = conf_live_get(h->live);
	SSL *ssl = snap->tls ? tls_server_ssl_new(snap->tls) : NULL;
	struct bufferevent *bev;

	conf_snap_unref(snap);
	if (ssl == NULL) {
		log_error("event=http.tls error=\"no TLS context\"");
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		SSL_free(ssl);
	return bev;
}

/* --- the thread --------------------------------------------------------- */

static void
http_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *h = arg;
	struct timeval tv = { HTTP_STOP_GRACE_SEC, 0 };

	/* no new connections; the open ones may still be owed a 202 */
	h->stopping = true;
	for (size_t i = 0; i < h->nfds; i++) {
		if (h->bound[i] != NULL)
			evhttp_del_accept_socket(h->http, h->bound[i]);
		h->bound[i] = NULL;
	}
	if (h->waiting.len == 0)
		event_base_loopexit(h->base, NULL);
	else
		event_base_loopexit(h->base, &tv);
}

static void *
http_thread(void *arg)
{
	struct http_server *h = arg;

	event_base_dispatch(h->base);
	return NULL;
}

int
http_server_start(struct http_server *h, struct conf_live *live,
    struct qmgr *q, const char *body_dir, struct err *err)
{
	struct conf_snap *snap = conf_live_get(live);
	const struct conf *conf = snap->conf;
	char *keys;
	int r;

	h->live = live;
	h->qmgr = q;
	h->body_dir = body_dir;
	if ((h->rd = spool_reader_open(conf->server.data_dir, err)) == NULL)
		goto fail;
	keys = apikey_conf_path(conf);
	h->keys = apikey_set_open(keys, err);
	free(keys);
	if (h->keys == NULL)
		goto fail;
	if ((h->base = event_base_new()) == NULL ||
	    (h->http = evhttp_new(h->base)) == NULL) {
		err_set(err, 0, "http: cannot create the event loop");
		goto fail;
	}
	if (conf->cluster.redis != NULL) {
		SSL_CTX *tls;

		if (redis_tls_ctx(conf, &tls, err) == -1)
			goto fail;
		h->cluster = cluster_new(h->base, conf, "http", tls);
		SSL_CTX_free(tls);
	}
	h->inbox_ev = event_new(h->base, -1, 0, http_inbox_cb, h);
	h->stop_ev = event_new(h->base, -1, 0, http_stop_cb, h);
	evhttp_set_gencb(h->http, http_dispatch, h);
	evhttp_set_timeout(h->http, HTTP_TIMEOUT_SEC);
	/* room for base64 attachments of a message of max_message_size;
	   the handlers give the exact 413 */
	evhttp_set_max_body_size(h->http,
	    (ev_ssize_t)(conf->limits.max_message_size * 2 + 65536));
	evhttp_set_max_headers_size(h->http, 65536);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	if (h->tls)
		evhttp_set_bevcb(h->http, http_bevcb, h);
	h->bound = xcalloc(h->nfds, sizeof(*h->bound));
	for (size_t i = 0; i < h->nfds; i++) {
		/* the bound socket owns the descriptor from here */
		if ((h->bound[i] = evhttp_accept_socket_with_handle(h->http,
		    h->fds[i])) == NULL) {
			err_set(err, 0, "http: cannot accept on %s", h->addrs);
			goto fail;
		}
		h->fds[i] = -1;
	}
	if ((r = pthread_create(&h->thread, NULL, http_thread, h)) != 0) {
		err_set(err, r, "http: cannot start the thread");
		goto fail;
	}
	(void)pthread_setname_np(h->thread, "relais-http");
	h->running = true;
	metrics_listener("http");
	log_info("event=http.listen address=%s tls=%s", h->addrs,
	    h->tls ? "required" : "none");
	conf_snap_unref(snap);
	return 0;
fail:
	conf_snap_unref(snap);
	return -1;
}

static void
http_give_up(uint64_t id, void *val, void *arg)
{
	struct http_wait *w = val;

	w->req = NULL;	/* freed with its connection by evhttp_free */
}

void
http_server_stop(struct http_server *h)
{
	if (h == NULL || !h->running)
		return;
	event_active(h->stop_ev, EV_READ, 0);
	pthread_join(h->thread, NULL);
	h->running = false;
	pthread_mutex_lock(&h->lock);
	h->closed = true;
	/* the cluster's askers touch h until they end (their timeouts
	   bound it) */
	while (h->jobs > 0)
		pthread_cond_wait(&h->jobs_cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	/* what the grace period did not see answered */
	if (h->waiting.len > 0)
		log_warnx("event=http.stop unanswered=%zu", h->waiting.len);
	idmap_each(&h->waiting, http_give_up, NULL);
}

static void
http_free_wait(uint64_t id, void *val, void *arg)
{
	struct http_wait *w = val;

	free(w->idem);
	free(w->answer);
	free(w->cl_tenant);
	free(w);
}

void
http_server_free(struct http_server *h)
{
	struct http_post *p;

	if (h == NULL)
		return;
	http_server_stop(h);
	/* posts that came before closed: their fn only frees */
	while ((p = h->inbox) != NULL) {
		h->inbox = p->next;
		p->fn(NULL, p->arg, p->status);
		free(p);
	}
	if (h->http != NULL)
		evhttp_free(h->http);
	/* what still waits for Redis is answered (given up) here */
	cluster_free(h->cluster);
	h->cluster = NULL;
	idmap_each(&h->waiting, http_free_wait, NULL);
	idmap_fini(&h->waiting);
	if (h->inbox_ev != NULL)
		event_free(h->inbox_ev);
	if (h->stop_ev != NULL)
		event_free(h->stop_ev);
	if (h->base != NULL)
		event_base_free(h->base);
	for (size_t i = 0; i < h->nfds; i++)
		if (h->fds[i] != -1)
			close(h->fds[i]);
	free(h->fds);
	free(h->bound);
	spool_reader_close(h->rd);
	apikey_set_free(h->keys);
	if (h->inbox_tail != NULL) {
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->jobs_cond);
	}
	free(h);
}
