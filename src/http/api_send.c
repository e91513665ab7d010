/* SPDX-License-Identifier: ISC */
/*
 * api_send.c - POST /v1/messages: a message given as JSON (built into
 * MIME by src/mime/) or as message/rfc822 with ?to= recipients, checked
 * against the API key's sender domains and the suppression list, DKIM-
 * signed like authenticated submission, and handed to the queue manager;
 * 202 {"id", "recipients"} only once it is committed. An
 * Idempotency-Key makes a retry get the first answer instead of a second
 * message.
 */
#include <sys/random.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/apikey.h"
#include "conf/conf.h"
#include "core/drain.h"
#include "core/id.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xalloc.h"
#include "deliver/local.h"
#include "http/http_int.h"
#include "live/conf_live.h"
#include "mime/api_request.h"
#include "mime/mime_build.h"
#include "mime/mime_raw.h"
#include "msgauth/dkim.h"
#include "policy/cluster.h"
#include "policy/quota.h"
#include "policy/suppress.h"
#include "queue/qmgr.h"
#include "smtp/smtp_header.h"
#include "smtp/smtp_path.h"
#include "spool/spool.h"

#define API_IDEM_MAX	255

/* a message on its way to the queue */
struct api_out {
	struct spool_msg	*msg;
	json_t			*rcpts;		/* the answer's list */
	struct buf		 text;		/* the message */
	char			 from[SMTP_PATH_MAX + 1];
};

/* api_addr_check - s is one addr-spec: 0, or -1 with why */
static int
api_addr_check(const char *s, const char **why)
{
	char b[SMTP_PATH_MAX + 3];
	struct smtp_path path;

	if (strlen(s) > SMTP_PATH_MAX) {
		*why = "address too long";
		return -1;
	}
	snprintf(b, sizeof(b), "<%s>", s);
	if (smtp_path_parse(str_cstr(b), 0, &path, why) == -1)
		return -1;
	if (path.domain.len == 0) {
		*why = "an address needs a domain";
		return -1;
	}
	return 0;
}

/* api_rcpt_add - queue one recipient (local ones resolved), or note it
   suppressed; -1 with the answer given for an unknown local one */
static int
api_rcpt_add(struct http_req *r, struct api_out *o, const char *addr,
    const char *field)
{
	const struct conf *conf = r->snap->conf;
	char *local, *at;
	struct local_targets t = { NULL, 0 };
	enum local_verdict v;
	const char *domain;

	/* the same address twice (to and cc) goes once */
	for (size_t i = 0; i < json_array_size(o->rcpts); i++)
		if (strcasecmp(json_string_value(json_object_get(
		    json_array_get(o->rcpts, i), "address")), addr) == 0)
			return 0;
	at = strrchr(addr, '@');
	domain = at + 1;
	if (conf_is_local_domain(conf, str_cstr(domain))) {
		local = xstrndup(addr, (size_t)(at - addr));
		v = local_resolve(r->snap, local, domain, &t);
		free(local);
		if (v != LOCAL_OK) {
			local_targets_fini(&t);
			http_reply_error(r, 400, field, "%s: %s", addr,
			    v == LOCAL_UNKNOWN ? "no such local recipient" :
			    "alias expansion failed");
			return -1;
		}
		for (size_t i = 0; i < t.n; i++)
			spool_msg_add_rcpt(o->msg, t.v[i].addr, addr, NULL, 0,
			    t.v[i].transport);
		local_targets_fini(&t);
	} else if (suppress_contains(addr)) {
		o->msg->suppressed = xreallocarray(o->msg->suppressed,
		    o->msg->nsuppressed + 1, sizeof(char *));
		o->msg->suppressed[o->msg->nsuppressed++] = xstrdup(addr);
		json_array_append_new(o->rcpts, json_pack("{s:o, s:s}",
		    "address", http_json_str(addr), "status", "suppressed"));
		return 0;
	} else {
		char low[SMTP_PATH_MAX + 1];

		/* the domain lower-cased, as RCPT stores it */
		snprintf(low, sizeof(low), "%s", addr);
		for (char *p = strrchr(low, '@'); p && *p; p++)
			*p = (char)tolower((unsigned char)*p);
		spool_msg_add_rcpt(o->msg, low, addr, NULL, 0,
		    SPOOL_TRANSPORT_REMOTE);
	}
	json_array_append_new(o->rcpts, json_pack("{s:o, s:s}", "address",
	    http_json_str(addr), "status", "queued"));
	return 0;
}

/* api_rcpt_list - every address of one list */
static int
api_rcpt_list(struct http_req *r, struct api_out *o,
    const struct api_addr *v, size_t n, const char *name)
{
	char field[64];

	for (size_t i = 0; i < n; i++) {
		snprintf(field, sizeof(field), "%s[%zu]", name, i);
		if (api_rcpt_add(r, o, v[i].addr, field) == -1)
			return -1;
	}
	return 0;
}

/* api_from_ok - the key may use the sender's domain; else 403 */
static bool
api_from_ok(struct http_req *r, const char *from)
{
	const char *at = strrchr(from, '@');

	if (at != NULL && apikey_may_send_from(r->h->keys, r->key, at + 1))
		return true;
	http_reply_error(r, 403, "from", "API key %s may not send from %s",
	    r->key, at ? at + 1 : from);
	return false;
}

/* api_unique - random hex for Message-ID and MIME boundaries */
static void
api_unique(char *out, size_t n)
{
	unsigned char b[12];
	static const char hex[] = "0123456789abcdef";

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)(id_next() >> (i % 8));
	for (size_t i = 0; i < sizeof(b) && 2 * i + 2 < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
		out[2 * i + 2] = '\0';
	}
}

/* api_error_reply - 413 for size, else 400 naming the field */
static void
api_error_reply(struct http_req *r, int rc, const struct api_error *e)
{
	http_reply_error(r, rc == -2 ? 413 : 400, e->field, "%s", e->msg);
}

/* api_pool_set - the message goes out of [pool name]; 400 if there is
   none */
static int
api_pool_set(struct http_req *r, struct api_out *o, const char *name)
{
	const struct conf_pool *pool = conf_pool_find(r->snap->conf, name);

	if (pool == NULL) {
		http_reply_error(r, 400, "pool", "no such pool: %s", name);
		return -1;
	}
	free(o->msg->pool);
	o->msg->pool = xstrdup(pool->name);
	return 0;
}

/* api_query_class - ?priority=high|normal, ?pool=NAME and
   ?requiretls=true|false of a raw message; -1 answered */
static int
api_query_class(struct http_req *r, struct api_out *o)
{
	struct evkeyval *kv;

	TAILQ_FOREACH(kv, &r->query, next) {
		if (strcmp(kv->key, "priority") == 0) {
			if (strcmp(kv->value, "high") == 0)
				o->msg->priority = SPOOL_PRIORITY_HIGH;
			else if (strcmp(kv->value, "normal") == 0)
				o->msg->priority = SPOOL_PRIORITY_NORMAL;
			else {
				http_reply_error(r, 400, "priority",
				    "expected high or normal");
				return -1;
			}
		} else if (strcmp(kv->key, "pool") == 0 &&
		    api_pool_set(r, o, kv->value) == -1) {
			return -1;
		} else if (strcmp(kv->key, "requiretls") == 0) {
			if (strcmp(kv->value, "true") == 0)
				o->msg->requiretls = true;
			else if (strcmp(kv->value, "false") == 0)
				o->msg->requiretls = false;
			else {
				http_reply_error(r, 400, "requiretls",
				    "expected true or false");
				return -1;
			}
		}
	}
	return 0;
}

/* api_quota_refuse - 429 with Retry-After for denial d of tenant t */
static void
api_quota_refuse(struct evhttp_request *req, const char *qid,
    const char *key, const char *ip, const struct conf_tenant *t,
    const struct quota_denial *d, bool shared, int *status, char **body)
{
	char text[256], after[32];
	json_t *j;

	quota_text(t->name, d, text, sizeof(text));
	snprintf(after, sizeof(after), "%lld", (long long)d->retry_after);
	if (req != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", after);
	log_info("event=http.quota id=%s key=%s client=%s tenant=%s"
	    " limit=%s:%u retry_after=%s%s", qid, key, ip, t->name, d->key,
	    d->limit, after, shared ? " shared=yes" : "");
	j = json_pack("{s:{s:i, s:s, s:s, s:s, s:i, s:s, s:I}}", "error",
	    "status", 429, "message", text, "tenant", t->name, "limit",
	    d->key, "limit_value", d->limit, "window", d->period ==
	    QUOTA_HOUR ? "hour" : "day", "retry_after",
	    (json_int_t)d->retry_after);
	*status = 429;
	*body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
}

/* api_quota - reserve the quota of the key's tenant for the message
   (the queue manager settles it once the message is committed, or not);
   -1 answered 429 with Retry-After */
static int
api_quota(struct http_req *r, struct api_out *o, time_t now)
{
	const struct conf_tenant *t;
	struct quota_denial d;
	char *body;
	int status;

	if (o->msg->tenant == NULL || (t = conf_tenant_find(r->snap->conf,
	    o->msg->tenant)) == NULL)
		return 0;
	if (quota_reserve(t, 1, (unsigned)o->msg->nrcpts, (int64_t)now,
	    &d) == 0)
		return 0;
	api_quota_refuse(r->req, o->msg->qid, r->key, r->ip, t, &d, false,
	    &status, &body);
	http_reply_raw(r, status, "application/json", body ? body : "{}",
	    body ? strlen(body) : 2);
	free(body);
	return -1;
}

/* api_accept - msg goes to the queue manager; w answers after the
   commit */
static void
api_accept(struct http_server *h, struct http_wait *w, struct spool_msg *msg,
    const char *line, size_t size)
{
	log_info("event=http.accepted id=%s %s rcpts=%zu suppressed=%zu"
	    " size=%zu%s%s%s%s%s%s", msg->qid, line, msg->nrcpts,
	    msg->nsuppressed, size, msg->tenant ? " tenant=" : "",
	    msg->tenant ? msg->tenant : "", msg->pool ? " pool=" : "",
	    msg->pool ? msg->pool : "", msg->priority ==
	    SPOOL_PRIORITY_HIGH ? " priority=high" : "", msg->requiretls ?
	    " requiretls=yes" : "");
	qmgr_submit_msg(h->qmgr, msg, http_qmgr_done, h, w->tag);
}

/* a message waiting for Redis's word on its tenant's quotas */
struct api_held {
	struct http_server	*h;
	uint64_t		 tag;		/* its struct http_wait */
	struct spool_msg	*msg;
	char			 line[512];	/* for http.accepted */
	char			 key[64], ip[64];
	size_t			 size;
	int64_t			 now;
};

static void
api_held_drop(struct api_held *p)
{
	spool_body_discard(&p->msg->body);
	spool_msg_free(p->msg);
	free(p);
}

/* api_cluster_quota_done - on the HTTP thread: Redis's answer (or
   CLUSTER_DOWN at once, or when the server stops) */
static void
api_cluster_quota_done(void *arg, enum cluster_answer a, long value)
{
	struct api_held *p = arg;
	struct http_server *h = p->h;
	struct http_wait *w = idmap_get(&h->waiting, p->tag);
	struct conf_snap *snap = conf_live_get(h->live);
	const struct conf_tenant *t = conf_tenant_find(snap->conf,
	    p->msg->tenant);
	struct quota_denial d;
	unsigned n = (unsigned)p->msg->nrcpts;
	char *body = NULL;
	int status;

	if (w == NULL || w->req == NULL) {
		/* the server stops: nothing was promised */
		if (a == CLUSTER_OK)
			cluster_quota_release(h->cluster, p->msg->tenant, 1, n,
			    p->now);
		if (w != NULL)
			http_wait_answer(h, w, 503, "{}");
		api_held_drop(p);
		goto done;
	}
	if (a == CLUSTER_OK) {
		/* the node's own counters follow (redis_down = open) */
		quota_reserve_force(p->msg->tenant, 1, n);
		w->cl_tenant = xstrdup(p->msg->tenant);
		w->cl_rcpts = n;
		w->cl_when = p->now;
	} else if (a == CLUSTER_DOWN && snap->conf->cluster.redis_down ==
	    CONF_REDIS_DOWN_CLOSED) {
		evhttp_add_header(evhttp_request_get_output_headers(w->req),
		    "Retry-After", "60");
		log_info("event=http.quota id=%s tenant=%s redis=down"
		    " redis_down=closed", p->msg->qid, p->msg->tenant);
		http_wait_answer(h, w, 503, "{\"error\":{\"status\":503,"
		    "\"message\":\"the tenant's quotas cannot be checked now,"
		    " try again later\"}}");
		api_held_drop(p);
		goto done;
	} else if (a == CLUSTER_DOWN) {
		if (t != NULL && quota_reserve(t, 1, n, p->now, &d) == -1) {
			api_quota_refuse(w->req, p->msg->qid, p->key, p->ip,
			    t, &d, false, &status, &body);
			http_wait_answer(h, w, status, body ? body : "{}");
			free(body);
			api_held_drop(p);
			goto done;
		}
	} else {
		if (t == NULL) {
			http_wait_answer(h, w, 429, "{\"error\":{\"status\":"
			    "429,\"message\":\"tenant quota reached\"}}");
			api_held_drop(p);
			goto done;
		}
		quota_denial_fill(t, (int)value, p->now, &d);
		api_quota_refuse(w->req, p->msg->qid, p->key, p->ip, t, &d,
		    true, &status, &body);
		http_wait_answer(h, w, status, body ? body : "{}");
		free(body);
		api_held_drop(p);
		goto done;
	}
	api_accept(h, w, p->msg, p->line, p->size);
	free(p);
done:
	conf_snap_unref(snap);
}

/* api_cluster_quota - msg (of a tenant with quotas or not) waits for
   Redis's shared counters; w answers once it is decided */
static void
api_cluster_quota(struct http_req *r, struct http_wait *w,
    struct spool_msg *msg, const char *line, size_t size, time_t now)
{
	struct http_server *h = r->h;
	struct conf_snap *snap = conf_live_get(h->live);
	const struct conf_tenant *t = msg->tenant ? conf_tenant_find(
	    snap->conf, msg->tenant) : NULL;
	struct api_held *p;

	if (t == NULL) {
		conf_snap_unref(snap);
		api_accept(h, w, msg, line, size);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->h = h;
	p->tag = w->tag;
	p->msg = msg;
	snprintf(p->line, sizeof(p->line), "%s", line);
	snprintf(p->key, sizeof(p->key), "%s", r->key);
	snprintf(p->ip, sizeof(p->ip), "%s", r->ip);
	p->size = size;
	p->now = (int64_t)now;
	if (cluster_quota_reserve(h->cluster, t, 1, (unsigned)msg->nrcpts,
	    p->now, api_cluster_quota_done, p) == NULL)
		api_cluster_quota_done(p, CLUSTER_DOWN, 0);	/* Redis away */
	conf_snap_unref(snap);
}

/* api_build_json - a JSON request: parsed, checked, built */
static int
api_build_json(struct http_req *r, const char *body, size_t len,
    const struct mime_opts *mo, struct api_out *o)
{
	const struct conf *conf = r->snap->conf;
	struct api_request req;
	struct api_limits lim;
	struct api_error e;
	struct err err;
	int rc;

	lim.max_rcpts = conf->limits.max_recipients;
	lim.max_size = conf->limits.max_message_size;
	if ((rc = api_request_parse(body, len, &lim, &req, &e)) != 0) {
		api_error_reply(r, rc, &e);
		return -1;
	}
	snprintf(o->from, sizeof(o->from), "%s", req.from.addr);
	if (!api_from_ok(r, req.from.addr) ||
	    api_rcpt_list(r, o, req.to, req.nto, "to") == -1 ||
	    api_rcpt_list(r, o, req.cc, req.ncc, "cc") == -1 ||
	    api_rcpt_list(r, o, req.bcc, req.nbcc, "bcc") == -1) {
		api_request_fini(&req);
		return -1;
	}
	if (mime_build(&req, mo, &o->text, &err) == -1) {
		api_request_fini(&req);
		http_reply_error(r, 400, "", "cannot build the message: %s",
		    err.msg);
		return -1;
	}
	o->msg->tags = req.tags ? xstrdup(req.tags) : NULL;
	o->msg->metadata = req.metadata ? xstrdup(req.metadata) : NULL;
	o->msg->priority = req.priority_high ? SPOOL_PRIORITY_HIGH :
	    SPOOL_PRIORITY_NORMAL;
	o->msg->requiretls = req.requiretls;
	if (req.pool != NULL && api_pool_set(r, o, req.pool) == -1) {
		api_request_fini(&req);
		return -1;
	}
	api_request_fini(&req);
	return 0;
}

/* api_build_raw - message/rfc822 with ?to=a&to=b (or a,b) */
static int
api_build_raw(struct http_req *r, const char *body, size_t len,
    const struct mime_opts *mo, struct api_out *o)
{
	struct evkeyval *kv;
	struct api_addr from = { NULL, NULL };
	struct api_error e;
	const char *why;
	char field[32], *list, *tok, *save;
	size_t n = 0;
	int rc;

	if ((rc = mime_raw_prepare(body, len, mo, &o->text, &from, &e)) != 0) {
		api_error_reply(r, rc, &e);
		return -1;
	}
	snprintf(o->from, sizeof(o->from), "%s", from.addr ? from.addr : "");
	free(from.name);
	free(from.addr);
	if (!api_from_ok(r, o->from))
		return -1;
	TAILQ_FOREACH(kv, &r->query, next) {
		if (strcmp(kv->key, "to") != 0)
			continue;
		list = xstrdup(kv->value);
		for (tok = strtok_r(list, ",", &save); tok;
		    tok = strtok_r(NULL, ",", &save)) {
			while (*tok == ' ')
				tok++;
			snprintf(field, sizeof(field), "to[%zu]", n++);
			if (n > r->snap->conf->limits.max_recipients) {
				free(list);
				http_reply_error(r, 400, "to", "more than %u"
				    " recipients",
				    r->snap->conf->limits.max_recipients);
				return -1;
			}
			if (api_addr_check(tok, &why) == -1) {
				free(list);
				http_reply_error(r, 400, field, "%s: %s", tok,
				    why);
				return -1;
			}
			if (api_rcpt_add(r, o, tok, field) == -1) {
				free(list);
				return -1;
			}
		}
		free(list);
	}
	if (n == 0) {
		http_reply_error(r, 400, "to", "message/rfc822 needs its"
		    " recipients in the query: ?to=ADDRESS");
		return -1;
	}
	return api_query_class(r, o);
}

/* api_tls_required - "TLS-Required: No" in the header section marks a
   message sent without REQUIRETLS (RFC 8689 4.1, 5) */
static void
api_tls_required(struct api_out *o)
{
	size_t scan = 0;
	ssize_t end;

	if (o->msg->requiretls || o->text.len == 0)
		return;
	end = smtp_header_end(o->text.data, o->text.len, &scan);
	o->msg->tls_optional = smtp_header_tls_optional(o->text.data,
	    end >= 0 ? (size_t)end : o->text.len);
}

/* api_prefix - Received: and, when a [dkim] section signs the From:
   domain, DKIM-Signature: */
static void
api_prefix(struct http_req *r, struct api_out *o, time_t now)
{
	char date[64], line[1024];
	struct tm tm;
	struct buf sig;
	struct err err;
	int rc, n;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	n = snprintf(line, sizeof(line), "Received: from api (key %s [%s])"
	    "\r\n\tby %s (relais) with HTTP%s id %s;\r\n\t%s\r\n", r->key,
	    r->ip, r->snap->conf->server.hostname, r->h->tls ? "S" : "",
	    o->msg->qid, date);
	if (n > 0 && (size_t)n < sizeof(line))
		buf_append(&o->msg->prefix, line, (size_t)n);
	if (r->snap->signer == NULL)
		return;
	buf_init(&sig, 0);
	rc = dkim_signer_sign(r->snap->signer, buf_cstr(&o->text), o->text.len,
	    now, &sig, &err);
	if (rc == -1)
		log_error("event=dkim.sign id=%s error=\"%s\"", o->msg->qid,
		    err.msg);
	else if (rc == 1) {
		buf_append(&o->msg->prefix, sig.data, sig.len);
		log_info("event=dkim.signed id=%s", o->msg->qid);
	}
	buf_fini(&sig);
}

/* api_idem_key - the scoped key; 0 none, 1 set, -1 answered (bad) */
static int
api_idem_key(struct http_req *r, char *out, size_t n)
{
	const char *k = http_header(r, "Idempotency-Key");

	if (k == NULL)
		return 0;
	if (*k == '\0' || strlen(k) > API_IDEM_MAX) {
		http_reply_error(r, 400, "Idempotency-Key", "1 to %d"
		    " characters", API_IDEM_MAX);
		return -1;
	}
	for (const char *p = k; *p; p++)
		if (*p < 0x21 || *p > 0x7e) {
			http_reply_error(r, 400, "Idempotency-Key", "printable"
			    " ASCII only");
			return -1;
		}
	snprintf(out, n, "%s:%s", r->key, k);
	return 1;
}

/* api_idem_replay - a key seen before: its first answer, or 409 while
   that request is still being committed; true when answered */
static bool
api_idem_replay(struct http_req *r, const char *key)
{
	struct http_wait *w;
	struct err err;
	char *answer = NULL;
	int status, rc;

	for (w = r->h->idem_inflight; w; w = w->next)
		if (strcmp(w->idem, key) == 0) {
			http_reply_error(r, 409, "Idempotency-Key", "a request"
			    " with this key is in progress");
			return true;
		}
	if ((rc = spool_reader_idem(r->h->rd, key, &status, &answer,
	    &err)) == -1) {
		log_error("event=http.query error=\"%s\"", err.msg);
		http_reply_error(r, 500, NULL, "cannot read the spool");
		return true;
	}
	if (rc == 0)
		return false;
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Idempotent-Replayed", "true");
	http_reply_raw(r, status, "application/json", answer, strlen(answer));
	free(answer);
	return true;
}

void
api_send(struct http_req *r)
{
	const struct conf *conf = r->snap->conf;
	const char *ctype = http_header(r, "Content-Type");
	const char *body;
	char unique[32], idem[API_IDEM_MAX + 80];
	struct mime_opts mo;
	struct api_out o;
	struct http_wait *w;
	struct err err;
	time_t now = time(NULL);
	size_t len, size;
	int has_idem, rc;
	bool json, body8 = false;
	char *answer, line[512];
	json_t *j;
	const struct conf_tenant *tenant;

	if (drain_active()) {
		/* relais drain: send through another node */
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Retry-After", "5");
		http_reply_error(r, 503, NULL, "this node is draining: send"
		    " through another node");
		return;
	}
	if (ctype != NULL && strncasecmp(ctype, "application/json", 16) == 0)
		json = true;
	else if (ctype != NULL && strncasecmp(ctype, "message/rfc822",
	    14) == 0)
		json = false;
	else {
		http_reply_error(r, 415, "Content-Type", "application/json or"
		    " message/rfc822");
		return;
	}
	if ((has_idem = api_idem_key(r, idem, sizeof(idem))) == -1 ||
	    (has_idem && api_idem_replay(r, idem)))
		return;
	body = http_body(r, &len);
	if (!json && len > conf->limits.max_message_size) {
		http_reply_error(r, 413, "", "the message is larger than %llu"
		    " octets", (unsigned long long)conf->limits.max_message_size);
		return;
	}

	memset(&o, 0, sizeof(o));
	o.msg = spool_msg_new();
	o.rcpts = json_array();
	buf_init(&o.text, 0);
	id_qid_new(o.msg->qid);
	/* the key's tenant: its quotas, and its pool unless one is asked */
	if ((tenant = conf_tenant_of_key(conf, r->key)) != NULL) {
		o.msg->tenant = xstrdup(tenant->name);
		if (tenant->pool != NULL)
			o.msg->pool = xstrdup(tenant->pool);
	}
	api_unique(unique, sizeof(unique));
	memset(&mo, 0, sizeof(mo));
	mo.hostname = conf->server.hostname;
	mo.now = (int64_t)now;
	mo.unique = unique;
	rc = json ? api_build_json(r, body, len, &mo, &o) :
	    api_build_raw(r, body, len, &mo, &o);
	if (rc == -1)
		goto fail;
	if (o.text.len > conf->limits.max_message_size) {
		http_reply_error(r, 413, "", "the message is larger than %llu"
		    " octets", (unsigned long long)conf->limits.max_message_size);
		goto fail;
	}
	if (o.msg->nrcpts == 0) {
		/* nothing to send: every recipient is suppressed */
		http_reply_json(r, 422, json_pack("{s:{s:i, s:s}, s:O}",
		    "error", "status", 422, "message", "every recipient is on"
		    " the suppression list: nothing was queued",
		    "recipients", o.rcpts));
		goto fail;
	}
	for (size_t i = 0; i < o.text.len && !body8; i++)
		body8 = (unsigned char)o.text.data[i] >= 0x80;
	api_tls_required(&o);

	o.msg->sender = xstrdup(o.from);
	o.msg->arrival = (int64_t)now;
	o.msg->client = xstrdup(r->ip);
	o.msg->helo = xstrdup("api");
	o.msg->listener = xstrdup("http");
	o.msg->body8 = body8;
	o.msg->events = conf->events;
	api_prefix(r, &o, now);
	if (spool_body_write(&o.msg->body, r->h->body_dir, o.msg->qid,
	    o.text.data, o.text.len, &err) == -1) {
		log_error("event=http.spool id=%s error=\"%s\"", o.msg->qid,
		    err.msg);
		spool_body_discard(&o.msg->body);
		http_reply_error(r, 503, NULL, "local error: the message was"
		    " not stored, try again later");
		goto fail;
	}
	j = json_pack("{s:s, s:O}", "id", o.msg->qid, "recipients", o.rcpts);
	answer = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (answer == NULL) {
		http_reply_error(r, 500, NULL, "out of memory");
		spool_body_discard(&o.msg->body);
		goto fail;
	}
	if (r->h->cluster == NULL && api_quota(r, &o, now) == -1) {
		free(answer);
		spool_body_discard(&o.msg->body);
		goto fail;
	}
	w = http_wait_new(r);
	w->status = 202;
	w->answer = answer;
	if (has_idem) {
		o.msg->idem_key = xstrdup(idem);
		o.msg->idem_answer = xstrdup(answer);
		o.msg->idem_status = 202;
		w->idem = xstrdup(idem);
		w->next = r->h->idem_inflight;
		r->h->idem_inflight = w;
	}
	snprintf(line, sizeof(line), "key=%s client=%s from=%s", r->key, r->ip,
	    o.from);
	json_decref(o.rcpts);
	size = o.text.len;
	buf_fini(&o.text);
	if (r->h->cluster != NULL) {
		/* the tenant's quotas are the cluster's: Redis decides */
		api_cluster_quota(r, w, o.msg, line, size, now);
		return;
	}
	api_accept(r->h, w, o.msg, line, size);
	return;
fail:
	json_decref(o.rcpts);
	buf_fini(&o.text);
	spool_msg_free(o.msg);
}
