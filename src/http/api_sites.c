/* SPDX-License-Identifier: ISC */
/*
 * api_sites.c - destination sites (docs/shaping.md): GET /v1/sites (the
 * queue by site, with each site's state) and POST
 * /v1/sites/NAME/suspend|resume (the operator's, like relais queue
 * suspend|resume). Reads go through the server's read-only spool
 * connection; changes through the queue manager (qmgr_call), which
 * tells the outbound agent right after its commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "http/http_int.h"
#include "queue/qmgr.h"
#include "queue/sites.h"
#include "spool/spool.h"

/* api_sites_time - RFC 3339 UTC, or JSON null for 0 */
static json_t *
api_sites_time(int64_t t)
{
	char s[32];
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0)
		return json_null();
	gmtime_r(&tt, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(s);
}

static const char *const api_sites_kind[] = {
	[SITES_ACTIVE] = "active",
	[SITES_SUSPENDED] = "suspended",
	[SITES_THROTTLED] = "throttled",
};

static int
api_sites_row(void *arg, const struct spool_site *s)
{
	json_t *list = arg, *j;
	int64_t now = time(NULL);
	char text[512];
	enum sites_kind k = sites_state(s, now, text, sizeof(text));

	j = json_pack("{s:o, s:I, s:o, s:I, s:s, s:s}", "site",
	    http_json_str(s->site), "queued", (json_int_t)s->queued,
	    "oldest_arrival", api_sites_time(s->queued ? s->oldest_arrival : 0),
	    "oldest_age", (json_int_t)(s->queued && s->oldest_arrival < now ?
	    now - s->oldest_arrival : 0), "state", api_sites_kind[k],
	    "description", text);
	if (j == NULL)
		return -1;
	json_object_set_new(j, "suspended_until", api_sites_time(
	    k == SITES_SUSPENDED ? s->suspended_until : 0));
	json_object_set_new(j, "manual", json_boolean(s->manual));
	json_object_set_new(j, "reason", http_json_str(s->reason));
	json_object_set_new(j, "rate", json_real(s->rate));
	json_object_set_new(j, "rate_max", json_real(s->rate_max));
	json_object_set_new(j, "updated", api_sites_time(s->known ?
	    s->updated : 0));
	json_array_append_new(list, j);
	return 0;
}

static void
api_sites_list(struct http_req *r)
{
	json_t *list = json_array();
	struct err err;

	if (spool_reader_sites(r->h->rd, api_sites_row, list, &err) == -1) {
		json_decref(list);
		log_error("event=http.query error=\"%s\"", err.msg);
		http_reply_error(r, 500, NULL, "cannot read the queue");
		return;
	}
	http_reply_json(r, 200, json_pack("{s:o}", "sites", list));
}

/* --- suspend and resume, through the queue manager ---------------------- */

struct api_site_act {
	struct sites_act	 act;		/* first: sites_act_run's */
	struct http_server	*h;
	uint64_t		 tag;
};

/* api_site_answer - on the HTTP thread, after the commit */
static void
api_site_answer(struct http_server *h, void *arg, int status)
{
	struct api_site_act *a = arg;
	struct http_wait *w;

	if (status == 0)
		log_info("event=site.%s site=%s until=%lld source=api",
		    a->act.until ? "suspend" : "resume", a->act.site,
		    (long long)a->act.until);
	if (h != NULL && (w = idmap_get(&h->waiting, a->tag)) != NULL) {
		if (status == 0) {
			json_t *j = json_pack("{s:s, s:s, s:o, s:o}", "site",
			    a->act.site, "action", a->act.until ? "suspend" : "resume",
			    "suspended_until", api_sites_time(a->act.until),
			    "reason", a->act.until ? http_json_str(a->act.reason) :
			    json_null());
			char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

			http_wait_answer(h, w, 200, s ? s : "{}");
			free(s);
			json_decref(j);
		} else
			http_wait_answer(h, w, 503, "{\"error\":{\"status\":503,"
			    "\"message\":\"the site could not be changed, try"
			    " again\"}}");
	}
	free(a);
}

static void
api_site_done(void *arg, int status)
{
	struct api_site_act *a = arg;

	http_post(a->h, api_site_answer, a, status);
}

/* api_site_act - POST /v1/sites/NAME/suspend|resume */
static void
api_site_act(struct http_req *r, const char *name, const char *act)
{
	struct api_site_act *a;
	struct http_wait *w;
	char site[SITES_NAME_MAX];
	unsigned secs = SITES_SUSPEND_DEF;
	const char *p, *dur = NULL, *reason = NULL;
	json_t *body = NULL, *v;
	json_error_t jerr;
	struct err err;
	size_t len;
	bool suspend = strcmp(act, "suspend") == 0;

	if (!suspend && strcmp(act, "resume") != 0) {
		http_reply_error(r, 404, NULL, "no action %.32s: suspend or"
		    " resume (POST)", act);
		return;
	}
	if (!sites_name(name, site, sizeof(site))) {
		http_reply_error(r, 400, "site", "not a site name: %.64s",
		    name);
		return;
	}
	p = http_body(r, &len);
	if (suspend && len > 0) {
		if ((body = json_loadb(p, len, 0, &jerr)) == NULL ||
		    !json_is_object(body)) {
			json_decref(body);
			http_reply_error(r, 400, "", "a JSON object is expected:"
			    " {\"for\": \"10m\", \"reason\": ...}");
			return;
		}
		v = json_object_get(body, "for");
		if (v != NULL && !json_is_string(v)) {
			json_decref(body);
			http_reply_error(r, 400, "for", "for is a duration"
			    " string (30s, 10m, 2h, 1d)");
			return;
		}
		dur = json_string_value(v);
		v = json_object_get(body, "reason");
		if (v != NULL && !json_is_string(v) && !json_is_null(v)) {
			json_decref(body);
			http_reply_error(r, 400, "reason", "reason is a string");
			return;
		}
		reason = json_string_value(v);
	}
	if (dur != NULL && (conf_parse_duration(dur, &secs, &err) == -1 ||
	    secs == 0 || secs > SITES_SUSPEND_MAX)) {
		json_decref(body);
		http_reply_error(r, 400, "for", "for is a duration from 1s to"
		    " 366d (30s, 10m, 2h, 1d)");
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->h = r->h;
	memcpy(a->act.site, site, sizeof(site));
	if (suspend) {
		a->act.until = (int64_t)time(NULL) + (int64_t)secs;
		sites_reason(reason ? reason : "suspended through the API",
		    a->act.reason, sizeof(a->act.reason));
	}
	json_decref(body);
	w = http_wait_new(r);
	a->tag = w->tag;
	qmgr_call(r->h->qmgr, sites_act_run, api_site_done, a);
}

void
api_sites(struct http_req *r, const char *rest)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(r->req);
	const char *slash;
	char name[SITES_NAME_MAX + 1];
	size_t n;

	if (rest == NULL) {
		if (m != EVHTTP_REQ_GET) {
			http_reply_error(r, 405, NULL, "method not allowed on %s",
			    r->path);
			return;
		}
		api_sites_list(r);
		return;
	}
	/* NAME/ACTION: the action after the last '/' */
	if ((slash = strrchr(rest, '/')) == NULL || slash == rest ||
	    (n = (size_t)(slash - rest)) >= sizeof(name)) {
		http_reply_error(r, 404, NULL, "no such resource: %.128s",
		    r->path);
		return;
	}
	if (m != EVHTTP_REQ_POST) {
		http_reply_error(r, 405, NULL, "method not allowed on %.128s",
		    r->path);
		return;
	}
	memcpy(name, rest, n);
	name[n] = '\0';
	api_site_act(r, name, slash + 1);
}
