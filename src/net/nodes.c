/* SPDX-License-Identifier: ISC */
/*
 * nodes.c - the cluster's node registrations in Redis and the cluster's
 * queue gathered from the nodes' APIs; see nodes.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/xalloc.h"
#include "net/nodes.h"
#include "net/redis_sync.h"

#define NODES_SCAN_COUNT	100
#define NODES_ANSWER_MAX	(64 * 1024 * 1024)	/* one node's queue */

struct nodes {
	struct redis_sync *c;
	char		*prefix;
};

/* nodes_reply_err - the error of a failed command (err already says why
   when there was no reply at all); frees r */
static int
nodes_reply_err(struct nodes *n, redisReply *r, const char *what,
    struct err *err)
{
	if (r != NULL)
		err_set(err, 0, "redis %s: %.*s", what, (int)r->len,
		    r->str ? r->str : "unexpected answer");
	freeReplyObject(r);
	return -1;
}

struct nodes *
nodes_open(const struct conf *conf, struct err *err)
{
	struct nodes *n;
	struct redis_sync *c;

	if ((c = redis_sync_open(conf, err)) == NULL)
		return NULL;
	n = xcalloc(1, sizeof(*n));
	n->c = c;
	n->prefix = xstrdup(conf->cluster.prefix ? conf->cluster.prefix :
	    "relais:");
	return n;
}

void
nodes_close(struct nodes *n)
{
	if (n == NULL)
		return;
	redis_sync_close(n->c);
	free(n->prefix);
	free(n);
}

int
nodes_put(struct nodes *n, const char *name, const char *json, unsigned ttl,
    struct err *err)
{
	redisReply *r = redis_sync_command(n->c, err, "SET %snode:%s %s EX %u",
	    n->prefix, name, json, ttl);

	if (r == NULL || r->type != REDIS_REPLY_STATUS)
		return nodes_reply_err(n, r, "SET", err);
	freeReplyObject(r);
	return 0;
}

int
nodes_del(struct nodes *n, const char *name, struct err *err)
{
	redisReply *r = redis_sync_command(n->c, err, "DEL %snode:%s",
	    n->prefix, name);

	if (r == NULL || r->type != REDIS_REPLY_INTEGER)
		return nodes_reply_err(n, r, "DEL", err);
	freeReplyObject(r);
	return 0;
}

static int
nodes_cmp(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a,
	    "node"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b,
	    "node"));

	return strcmp(x ? x : "", y ? y : "");
}

/* nodes_get - GET key; its JSON object appended to out */
static int
nodes_get(struct nodes *n, const char *key, size_t klen, json_t *out,
    struct err *err)
{
	redisReply *r = redis_sync_command(n->c, err, "GET %b", key, klen);
	json_t *j;

	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		return nodes_reply_err(n, r, "GET", err);
	/* gone since the SCAN (expired): not a node any more */
	if (r->type == REDIS_REPLY_STRING &&
	    (j = json_loadb(r->str, r->len, 0, NULL)) != NULL) {
		if (json_is_object(j))
			json_array_append(out, j);
		json_decref(j);
	}
	freeReplyObject(r);
	return 0;
}

json_t *
nodes_list(struct nodes *n, struct err *err)
{
	json_t *out = json_array(), **v, *sorted;
	char cursor[32] = "0";
	redisReply *r;
	size_t cnt;

	do {
		r = redis_sync_command(n->c, err,
		    "SCAN %s MATCH %snode:* COUNT %d",
		    cursor, n->prefix, NODES_SCAN_COUNT);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
		    r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			nodes_reply_err(n, r, "SCAN", err);
			json_decref(out);
			return NULL;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			redisReply *k = r->element[1]->element[i];

			if (k->type == REDIS_REPLY_STRING && nodes_get(n,
			    k->str, k->len, out, err) == -1) {
				freeReplyObject(r);
				json_decref(out);
				return NULL;
			}
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	/* SCAN may give a key twice; sorted, the doubles are neighbours */
	cnt = json_array_size(out);
	v = xcalloc(cnt + 1, sizeof(*v));
	for (size_t i = 0; i < cnt; i++)
		v[i] = json_array_get(out, i);
	qsort(v, cnt, sizeof(*v), nodes_cmp);
	sorted = json_array();
	for (size_t i = 0; i < cnt; i++)
		if (i == 0 || nodes_cmp(&v[i - 1], &v[i]) != 0)
			json_array_append(sorted, v[i]);
	free(v);
	json_decref(out);
	return sorted;
}

/* --- the cluster's queue ------------------------------------------------ */

struct nodes_fetch {
	CURL		*e;
	json_t		*node;		/* its registration */
	struct buf	 body;
	char		 errbuf[CURL_ERROR_SIZE];
	bool		 too_big;
};

static size_t
nodes_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct nodes_fetch *f = arg;

	if (buf_append(&f->body, p, size * nmemb) == -1) {
		f->too_big = true;
		return 0;
	}
	return size * nmemb;
}

/* nodes_answer - one node's result into out */
static void
nodes_answer(struct nodes_fetch *f, CURLcode rc, json_t *out)
{
	json_t *row, *j = NULL, *msgs;
	const char *name = json_string_value(json_object_get(f->node, "node"));
	long status = 0;
	char why[CURL_ERROR_SIZE + 64];

	row = json_pack("{s:O, s:O, s:O, s:O}",
	    "node", json_object_get(f->node, "node"),
	    "api", json_object_get(f->node, "api") ?
	    json_object_get(f->node, "api") : json_null(),
	    "draining", json_object_get(f->node, "draining") ?
	    json_object_get(f->node, "draining") : json_false(),
	    "queued", json_object_get(f->node, "queued") ?
	    json_object_get(f->node, "queued") : json_null());
	if (f->e == NULL) {
		json_object_set_new(row, "status", json_string("unreachable"));
		json_object_set_new(row, "error", json_string("no API"));
		goto done;
	}
	curl_easy_getinfo(f->e, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		snprintf(why, sizeof(why), "%s", f->too_big ? "answer too"
		    " large" : f->errbuf[0] ? f->errbuf :
		    curl_easy_strerror(rc));
		json_object_set_new(row, "status", json_string("unreachable"));
		json_object_set_new(row, "error", json_string(why));
		goto done;
	}
	j = json_loadb(f->body.data ? f->body.data : "", f->body.len, 0, NULL);
	if (status != 200 || j == NULL || !json_is_array(msgs =
	    json_object_get(j, "messages"))) {
		json_t *e = j ? json_object_get(json_object_get(j, "error"),
		    "message") : NULL;

		snprintf(why, sizeof(why), "HTTP %ld%s%s", status, e ? ": " :
		    "", e ? json_string_value(e) : "");
		json_object_set_new(row, "status", json_string("error"));
		json_object_set_new(row, "error", json_string(why));
		goto done;
	}
	json_object_set_new(row, "status", json_string("ok"));
	for (size_t i = 0; i < json_array_size(msgs); i++) {
		json_t *m = json_array_get(msgs, i);

		json_object_set_new(m, "node", json_string(name ? name : ""));
		json_array_append(json_object_get(out, "messages"), m);
	}
	if (!json_is_null(json_object_get(j, "next")))
		json_object_set_new(row, "truncated", json_true());
done:
	json_decref(j);
	json_array_append_new(json_object_get(out, "nodes"), row);
}

json_t *
nodes_queue(const struct conf *conf, const char *token, unsigned timeout,
    struct err *err)
{
	struct nodes *n;
	struct nodes_fetch *f;
	struct curl_slist *hdr = NULL;
	json_t *list, *out;
	CURLM *multi;
	CURLMsg *msg;
	char auth[512], url[1024];
	size_t cnt;
	int running, left;

	if ((n = nodes_open(conf, err)) == NULL)
		return NULL;
	list = nodes_list(n, err);
	nodes_close(n);
	if (list == NULL)
		return NULL;
	cnt = json_array_size(list);
	f = xcalloc(cnt + 1, sizeof(*f));
	if ((multi = curl_multi_init()) == NULL) {
		free(f);
		json_decref(list);
		err_set(err, 0, "libcurl: out of memory");
		return NULL;
	}
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	hdr = curl_slist_append(hdr, auth);
	for (size_t i = 0; i < cnt; i++) {
		const char *api;

		f[i].node = json_array_get(list, i);
		buf_init(&f[i].body, NODES_ANSWER_MAX);
		api = json_string_value(json_object_get(f[i].node, "api"));
		if (api == NULL || hdr == NULL ||
		    (f[i].e = curl_easy_init()) == NULL)
			continue;
		snprintf(url, sizeof(url), "%s/v1/queue?limit=1000", api);
		curl_easy_setopt(f[i].e, CURLOPT_URL, url);
		curl_easy_setopt(f[i].e, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(f[i].e, CURLOPT_TIMEOUT, (long)timeout);
		curl_easy_setopt(f[i].e, CURLOPT_CONNECTTIMEOUT, (long)timeout);
		curl_easy_setopt(f[i].e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(f[i].e, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(f[i].e, CURLOPT_WRITEFUNCTION, nodes_write_cb);
		curl_easy_setopt(f[i].e, CURLOPT_WRITEDATA, &f[i]);
		curl_easy_setopt(f[i].e, CURLOPT_ERRORBUFFER, f[i].errbuf);
		curl_easy_setopt(f[i].e, CURLOPT_PRIVATE, &f[i]);
		if (curl_multi_add_handle(multi, f[i].e) != CURLM_OK) {
			curl_easy_cleanup(f[i].e);
			f[i].e = NULL;
		}
	}
	out = json_pack("{s:[], s:[]}", "nodes", "messages");
	do {
		if (curl_multi_perform(multi, &running) != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			struct nodes_fetch *x;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&x);
			nodes_answer(x, msg->data.result, out);
			curl_multi_remove_handle(multi, x->e);
			curl_easy_cleanup(x->e);
			x->e = NULL;
			x->node = NULL;
		}
		if (running > 0)
			(void)curl_multi_poll(multi, NULL, 0, 200, NULL);
	} while (running > 0);
	for (size_t i = 0; i < cnt; i++) {
		if (f[i].node != NULL) {
			/* no API, or never finished */
			if (f[i].e != NULL) {
				curl_multi_remove_handle(multi, f[i].e);
				curl_easy_cleanup(f[i].e);
				f[i].e = NULL;
			}
			nodes_answer(&f[i], CURLE_OK, out);
		}
		buf_fini(&f[i].body);
	}
	curl_multi_cleanup(multi);
	curl_slist_free_all(hdr);
	free(f);
	json_decref(list);
	return out;
}
