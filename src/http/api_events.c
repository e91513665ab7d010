/* SPDX-License-Identifier: ISC */
/*
 * api_events.c - GET /v1/events?since=CURSOR (the webhooks' stream, for
 * consumers that pull) and the suppression list: GET /v1/suppressions,
 * GET|DELETE /v1/suppressions/ADDR, POST /v1/suppressions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "http/event_json.h"
#include "http/http_int.h"
#include "policy/suppress.h"
#include "queue/qmgr.h"
#include "spool/spool.h"

#define API_EVENTS_DEF		100
#define API_EVENTS_MAX		1000
#define API_ADDR_MAX		320

struct api_events_ctx {
	json_t		*list;
	int64_t		 last;
};

static int
api_event_row(void *arg, const struct spool_event *ev)
{
	struct api_events_ctx *c = arg;

	json_array_append_new(c->list, event_json(ev));
	c->last = ev->id;
	return 0;
}

/* api_query_num - a numeric query parameter, -1 when bad */
static long long
api_query_num(struct http_req *r, const char *name, long long def,
    long long max)
{
	const char *v = evhttp_find_header(&r->query, name);
	char *end;
	long long n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtoll(v, &end, 10);
	return *end != '\0' || n < 0 || n > max ? -1 : n;
}

void
api_events(struct http_req *r)
{
	struct api_events_ctx c;
	long long since, limit;
	struct err err;

	since = api_query_num(r, "since", 0, INT64_MAX);
	limit = api_query_num(r, "limit", API_EVENTS_DEF, API_EVENTS_MAX);
	if (since < 0 || limit <= 0) {
		http_reply_error(r, 400, since < 0 ? "since" : "limit",
		    "since is a cursor (an event id, 0 for the oldest kept),"
		    " limit 1..%d", API_EVENTS_MAX);
		return;
	}
	c.list = json_array();
	c.last = since;
	if (spool_reader_events(r->h->rd, since, (size_t)limit, api_event_row,
	    &c, &err) == -1) {
		json_decref(c.list);
		log_error("event=http.query error=\"%s\"", err.msg);
		http_reply_error(r, 500, NULL, "cannot read the events");
		return;
	}
	http_reply_json(r, 200, json_pack("{s:o, s:I}", "events", c.list,
	    "next", (json_int_t)c.last));
}

/* --- suppressions --------------------------------------------------------- */

static json_t *
api_time3339(int64_t t)
{
	char s[32];
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(s);
}

static int
api_supp_row(void *arg, const struct spool_suppression *s)
{
	json_array_append_new(arg, json_pack("{s:o, s:o, s:o, s:o}",
	    "address", http_json_str(s->addr), "created", api_time3339(s->ts),
	    "reason", http_json_str(s->reason), "source",
	    http_json_str(s->source)));
	return 0;
}

struct api_supp {
	struct http_server	*h;
	uint64_t		 tag;
	bool			 add;
	bool			 changed;
	char			 addr[API_ADDR_MAX];
	char			*reason;
};

static int
api_supp_run(struct qmgr_txn *t, void *arg, struct err *err)
{
	struct api_supp *a = arg;

	return spool_suppress_set(qmgr_txn_spool(t), a->addr, a->add,
	    qmgr_txn_now(t), a->reason, "api", &a->changed, err);
}

static void
api_supp_answer(struct http_server *h, void *arg, int status)
{
	struct api_supp *a = arg;
	struct http_wait *w;

	if (status == 0) {
		if (a->add)
			suppress_add(a->addr);
		else
			suppress_remove(a->addr);
		log_info("event=suppress.%s to=%s source=api changed=%s",
		    a->add ? "add" : "remove", a->addr, a->changed ? "yes" :
		    "no");
	}
	if (h != NULL && (w = idmap_get(&h->waiting, a->tag)) != NULL) {
		if (status != 0)
			http_wait_answer(h, w, 503, "{\"error\":{\"status\":503,"
			    "\"message\":\"the list could not be changed, try"
			    " again\"}}");
		else if (!a->add && !a->changed)
			http_wait_answer(h, w, 404, "{\"error\":{\"status\":404,"
			    "\"message\":\"not on the suppression list\"}}");
		else {
			json_t *j = json_pack("{s:o, s:b}", "address",
			    http_json_str(a->addr), a->add ? "added" : "removed",
			    a->changed);
			char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

			http_wait_answer(h, w, a->add && a->changed ? 201 : 200,
			    s ? s : "{}");
			free(s);
			json_decref(j);
		}
	}
	free(a->reason);
	free(a);
}

static void
api_supp_done(void *arg, int status)
{
	struct api_supp *a = arg;

	http_post(a->h, api_supp_answer, a, status);
}

/* api_supp_change - add or remove addr through the queue manager */
static void
api_supp_change(struct http_req *r, const char *addr, bool add,
    const char *reason)
{
	struct api_supp *a;
	struct http_wait *w;

	if (addr[0] == '\0' || strlen(addr) >= API_ADDR_MAX ||
	    strchr(addr, '@') == NULL || strpbrk(addr, " \t\r\n<>") != NULL) {
		http_reply_error(r, 400, "address", "not an address: %.64s",
		    addr);
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->h = r->h;
	a->add = add;
	suppress_key(addr, a->addr, sizeof(a->addr));
	a->reason = xstrdup(reason ? reason : "added through the API");
	w = http_wait_new(r);
	a->tag = w->tag;
	qmgr_call(r->h->qmgr, api_supp_run, api_supp_done, a);
}

void
api_suppressions(struct http_req *r, const char *addr)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(r->req);
	json_t *list, *body, *v;
	json_error_t jerr;
	const char *after, *p;
	char key[API_ADDR_MAX];
	long long limit;
	size_t len;
	struct err err;
	bool on;

	if (addr != NULL && m == EVHTTP_REQ_DELETE) {
		api_supp_change(r, addr, false, NULL);
	} else if (addr != NULL && m == EVHTTP_REQ_GET) {
		suppress_key(addr, key, sizeof(key));
		if (spool_reader_suppressed(r->h->rd, key, &on, &err) == -1) {
			http_reply_error(r, 500, NULL, "cannot read the list");
			return;
		}
		if (!on)
			http_reply_error(r, 404, NULL, "%.64s is not on the"
			    " suppression list", key);
		else
			http_reply_json(r, 200, json_pack("{s:s, s:b}",
			    "address", key, "suppressed", 1));
	} else if (addr == NULL && m == EVHTTP_REQ_GET) {
		after = evhttp_find_header(&r->query, "after");
		limit = api_query_num(r, "limit", 100, 1000);
		if (limit <= 0) {
			http_reply_error(r, 400, "limit", "limit is 1..1000");
			return;
		}
		list = json_array();
		if (spool_reader_suppressions(r->h->rd, after, (size_t)limit,
		    api_supp_row, list, &err) == -1) {
			json_decref(list);
			http_reply_error(r, 500, NULL, "cannot read the list");
			return;
		}
		v = json_array_size(list) == (size_t)limit ?
		    json_object_get(json_array_get(list, (size_t)limit - 1),
		    "address") : NULL;
		http_reply_json(r, 200, json_pack("{s:o, s:O}",
		    "suppressions", list, "next", v ? v : json_null()));
	} else if (addr == NULL && m == EVHTTP_REQ_POST) {
		p = http_body(r, &len);
		if ((body = json_loadb(p, len, 0, &jerr)) == NULL ||
		    !json_is_object(body)) {
			json_decref(body);
			http_reply_error(r, 400, "", "a JSON object is expected:"
			    " {\"address\": ..., \"reason\": ...}");
			return;
		}
		v = json_object_get(body, "address");
		if (!json_is_string(v)) {
			json_decref(body);
			http_reply_error(r, 400, "address", "address is"
			    " required (a string)");
			return;
		}
		api_supp_change(r, json_string_value(v), true,
		    json_string_value(json_object_get(body, "reason")));
		json_decref(body);
	} else
		http_reply_error(r, 405, NULL, "method not allowed on %s",
		    r->path);
}
