/* SPDX-License-Identifier: ISC */
/*
 * api_queue.c - GET /v1/messages/ID, GET /v1/queue and the queue
 * actions POST /v1/queue/ID/flush|hold|release|bounce, DELETE
 * /v1/queue/ID. Reads go through the server's read-only spool
 * connection; changes through the queue manager (qmgr_call), answered
 * after its commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/id.h"
#include "core/sys.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "http/http_int.h"
#include "queue/qmgr.h"
#include "spool/spool.h"

#define API_QUEUE_PAGE_DEF	100
#define API_QUEUE_PAGE_MAX	1000

/* api_time - RFC 3339 UTC, or JSON null for 0 */
static json_t *
api_time(int64_t t)
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

static json_t *
api_msg_json(const struct spool_qmsg *m)
{
	/* requiretls: MAIL FROM ... REQUIRETLS; tls_optional: the message
	   said "TLS-Required: No" (RFC 8689) */
	return json_pack("{s:o, s:o, s:o, s:I, s:o, s:o, s:b, s:b, s:[]}",
	    "id", http_json_str(m->qid), "sender", http_json_str(m->sender),
	    "arrival", api_time(m->arrival), "size", (json_int_t)m->size,
	    "client", http_json_str(m->client), "listener",
	    http_json_str(m->listener), "requiretls", (int)m->requiretls,
	    "tls_optional", (int)m->tls_optional, "recipients");
}

static json_t *
api_rcpt_json(const struct spool_qrcpt *r)
{
	json_t *j = json_pack("{s:o, s:s, s:i, s:o, s:o}", "address",
	    http_json_str(r->addr), "state", r->state, "attempts", r->attempts,
	    "last_attempt", api_time(r->last_attempt),
	    "next_attempt", strcmp(r->state, "queued") == 0 ?
	    api_time(r->next_attempt) : json_null());

	json_object_set_new(j, "last_reply", http_json_str(r->last_reply));
	/* the destination site of its last remote result (null: none) */
	json_object_set_new(j, "site", http_json_str(r->site));
	return j;
}

struct api_msg_ctx {
	json_t	*msg;
};

static void
api_msg_row(void *arg, const struct spool_qmsg *m)
{
	struct api_msg_ctx *c = arg;

	c->msg = api_msg_json(m);
}

static void
api_rcpt_row(void *arg, const struct spool_qrcpt *r)
{
	struct api_msg_ctx *c = arg;

	json_array_append_new(json_object_get(c->msg, "recipients"),
	    api_rcpt_json(r));
}

void
api_message_get(struct http_req *r, const char *qid)
{
	struct api_msg_ctx c = { NULL };
	struct err err;
	int rc;

	if (!id_qid_valid(qid)) {
		http_reply_error(r, 404, NULL, "no message %.64s in the queue",
		    qid);
		return;
	}
	rc = spool_reader_message(r->h->rd, qid, api_msg_row, api_rcpt_row, &c,
	    &err);
	if (rc == -1) {
		json_decref(c.msg);
		log_error("event=http.query id=%s error=\"%s\"", qid, err.msg);
		http_reply_error(r, 500, NULL, "cannot read the queue");
		return;
	}
	if (rc == 0 || c.msg == NULL) {
		http_reply_error(r, 404, NULL, "no message %s in the queue"
		    " (delivered and removed, or never queued)", qid);
		return;
	}
	http_reply_json(r, 200, c.msg);
}

struct api_queue_ctx {
	json_t		*list;
	json_t		*cur;
	int64_t		 cur_id;
};

static void
api_queue_row(void *arg, const struct spool_qmsg *m,
    const struct spool_qrcpt *rc)
{
	struct api_queue_ctx *c = arg;

	if (c->cur == NULL || c->cur_id != m->id) {
		c->cur = api_msg_json(m);
		c->cur_id = m->id;
		json_array_append_new(c->list, c->cur);
	}
	json_array_append_new(json_object_get(c->cur, "recipients"),
	    api_rcpt_json(rc));
}

/* api_query_uint - a numeric query parameter; -1 when bad */
static long long
api_query_uint(struct http_req *r, const char *name, long long def,
    long long max)
{
	const char *v = evhttp_find_header(&r->query, name);
	char *end;
	long long n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtoll(v, &end, 10);
	if (*end != '\0' || n < 0 || n > max)
		return -1;
	return n;
}

void
api_queue_list(struct http_req *r)
{
	struct api_queue_ctx c = { NULL, NULL, 0 };
	long long limit, after;
	int64_t next;
	struct err err;
	json_t *j;

	limit = api_query_uint(r, "limit", API_QUEUE_PAGE_DEF,
	    API_QUEUE_PAGE_MAX);
	after = api_query_uint(r, "after", 0, INT64_MAX);
	if (limit <= 0 || after < 0) {
		http_reply_error(r, 400, limit <= 0 ? "limit" : "after",
		    "limit is 1..%d messages, after a cursor from \"next\"",
		    API_QUEUE_PAGE_MAX);
		return;
	}
	c.list = json_array();
	if (spool_reader_queue(r->h->rd, after, (size_t)limit, api_queue_row,
	    &c, &next, &err) == -1) {
		json_decref(c.list);
		log_error("event=http.query error=\"%s\"", err.msg);
		http_reply_error(r, 500, NULL, "cannot read the queue");
		return;
	}
	j = json_pack("{s:o}", "messages", c.list);
	json_object_set_new(j, "next", next ? json_integer(next) :
	    json_null());
	http_reply_json(r, 200, j);
}

/* --- actions, through the queue manager --------------------------------- */

struct api_act {
	struct http_server	*h;
	uint64_t		 tag;
	char			 qid[ID_QID_LEN + 1];
	char			 act[16];
	int			 n;		/* recipients changed */
	bool			 body_file;
	bool			 found;
};

static void
api_act_pending(void *arg, const struct spool_result *res)
{
	struct qmgr_txn *t = ((void **)arg)[0];
	struct api_act *a = ((void **)arg)[1];
	struct spool_result b = *res;

	b.outcome = SPOOL_OUTCOME_BOUNCED;
	snprintf(b.status, sizeof(b.status), "5.0.0");
	snprintf(b.reply, sizeof(b.reply), "bounced by the operator"
	    " (API key)");
	/* the operator's: no remote answer, nothing learned about the
	   address (not a suppression) */
	snprintf(b.relay, sizeof(b.relay), "operator");
	if (qmgr_txn_result(t, &b) == 1)
		a->n++;
}

/* api_act_run - on the queue manager's thread, in its transaction */
static int
api_act_run(struct qmgr_txn *t, void *arg, struct err *err)
{
	struct api_act *a = arg;
	struct spool *sp = qmgr_txn_spool(t);
	void *pair[2] = { t, a };
	enum spool_act act;

	if (strcmp(a->act, "bounce") == 0)
		return spool_pending(sp, a->qid, api_act_pending, pair, err);
	act = strcmp(a->act, "flush") == 0 ? SPOOL_ACT_FLUSH :
	    strcmp(a->act, "hold") == 0 ? SPOOL_ACT_HOLD :
	    strcmp(a->act, "release") == 0 ? SPOOL_ACT_RELEASE :
	    SPOOL_ACT_DELETE;
	return spool_queue_act(sp, a->qid, act, qmgr_txn_now(t), &a->n,
	    &a->body_file, err);
}

/* api_act_answer - on the HTTP thread, after the commit */
static void
api_act_answer(struct http_server *h, void *arg, int status)
{
	struct api_act *a = arg;
	struct http_wait *w;
	char body[256];

	if (h != NULL && (w = idmap_get(&h->waiting, a->tag)) != NULL) {
		if (status == 0) {
			if (strcmp(a->act, "delete") == 0 && a->body_file) {
				char path[4096];

				spool_body_path(path, sizeof(path), h->body_dir,
				    a->qid);
				if (sys_unlink(path) == -1)
					log_warn("event=queue.delete id=%s"
					    " path=%s", a->qid, path);
			}
			log_info("event=queue.%s id=%s recipients=%d source=api",
			    a->act, a->qid, a->n);
			snprintf(body, sizeof(body), "{\"id\":\"%s\",\"action\":"
			    "\"%s\",\"recipients\":%d}", a->qid, a->act, a->n);
			if (strcmp(a->act, "flush") == 0 ||
			    strcmp(a->act, "release") == 0)
				qmgr_kick(h->qmgr);
			http_wait_answer(h, w, 200, body);
		} else
			http_wait_answer(h, w, 503, "{\"error\":{\"status\":503,"
			    "\"message\":\"the queue could not be changed, try"
			    " again\"}}");
	}
	free(a);
}

static void
api_act_done(void *arg, int status)
{
	struct api_act *a = arg;

	http_post(a->h, api_act_answer, a, status);
}

void
api_queue_act(struct http_req *r, const char *qid, const char *act)
{
	struct api_act *a;
	struct http_wait *w;
	struct err err;
	int rc;

	if (strcmp(act, "flush") != 0 && strcmp(act, "hold") != 0 &&
	    strcmp(act, "release") != 0 && strcmp(act, "bounce") != 0 &&
	    strcmp(act, "delete") != 0) {
		http_reply_error(r, 404, NULL, "no action %.32s: flush, hold,"
		    " release, bounce (POST) or DELETE", act);
		return;
	}
	if (!id_qid_valid(qid) || (rc = spool_reader_message(r->h->rd, qid,
	    NULL, NULL, NULL, &err)) == 0) {
		http_reply_error(r, 404, NULL, "no message %.64s in the queue",
		    qid);
		return;
	}
	if (rc == -1) {
		log_error("event=http.query id=%s error=\"%s\"", qid, err.msg);
		http_reply_error(r, 500, NULL, "cannot read the queue");
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->h = r->h;
	snprintf(a->qid, sizeof(a->qid), "%s", qid);
	snprintf(a->act, sizeof(a->act), "%s", act);
	w = http_wait_new(r);
	a->tag = w->tag;
	qmgr_call(r->h->qmgr, api_act_run, api_act_done, a);
}
