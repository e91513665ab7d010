/* SPDX-License-Identifier: ISC */
/*
 * api_cluster.c - the cluster seen from one node ([cluster] redis):
 * GET /v1/cluster/nodes, the nodes registered in Redis, and GET
 * /v1/queue?cluster=1, every registered node's queue (net/nodes.h asks
 * each node's API with the caller's own key: the nodes share their keys
 * file). Redis and the other nodes are asked with blocking calls, so
 * each request gets a short-lived thread of its own and is parked
 * (http_wait) meanwhile: the HTTP loop, /healthz included, never waits
 * on them. Each node has API_CLUSTER_TIMEOUT seconds to answer; one that
 * does not is listed as unreachable.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "http/http_int.h"
#include "live/conf_live.h"
#include "net/nodes.h"

#define API_CLUSTER_TIMEOUT	5	/* seconds per node */

struct api_cluster_job {
	struct http_server	*h;
	uint64_t		 tag;
	struct conf_snap	*snap;
	char			*token;
	bool			 queue;		/* else the nodes */
	int			 status;
	char			*answer;
};

/* api_cluster_answer - on the HTTP thread (h NULL: it closed) */
static void
api_cluster_answer(struct http_server *h, void *arg, int unused)
{
	struct api_cluster_job *j = arg;
	struct http_wait *w;

	if (h != NULL && (w = idmap_get(&h->waiting, j->tag)) != NULL)
		http_wait_answer(h, w, j->status, j->answer);
	free(j->answer);
	free(j);
}

static void *
api_cluster_thread(void *arg)
{
	struct api_cluster_job *j = arg;
	struct http_server *h = j->h;
	const struct conf *conf = j->snap->conf;
	struct nodes *n;
	struct err err;
	json_t *out = NULL;

	if (j->queue)
		out = nodes_queue(conf, j->token, API_CLUSTER_TIMEOUT, &err);
	else if ((n = nodes_open(conf, &err)) != NULL) {
		json_t *list = nodes_list(n, &err);

		nodes_close(n);
		if (list != NULL)
			out = json_pack("{s:o}", "nodes", list);
	}
	if (out != NULL) {
		j->status = 200;
		j->answer = json_dumps(out, JSON_COMPACT);
		json_decref(out);
	}
	if (j->answer == NULL) {
		json_t *e = json_pack("{s:{s:i, s:s}}", "error", "status", 503,
		    "message", out ? "out of memory" : err.msg);

		log_warnx("event=http.cluster error=\"%s\"", out ? "out of"
		    " memory" : err.msg);
		j->status = 503;
		j->answer = e ? json_dumps(e, JSON_COMPACT) : NULL;
		json_decref(e);
		if (j->answer == NULL)
			j->answer = xstrdup("{\"error\":{\"status\":503}}");
	}
	conf_snap_unref(j->snap);
	free(j->token);
	j->token = NULL;
	http_post(h, api_cluster_answer, j, 0);
	pthread_mutex_lock(&h->lock);
	if (--h->jobs == 0)
		pthread_cond_broadcast(&h->jobs_cond);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

void
api_cluster(struct http_req *r, bool queue)
{
	const char *a = http_header(r, "Authorization");
	struct api_cluster_job *j;
	struct http_wait *w;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (r->snap->conf->cluster.redis == NULL) {
		http_reply_error(r, 404, NULL, "this node is in no cluster"
		    " ([cluster] redis)");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->h = r->h;
	j->queue = queue;
	/* http_auth took it: "Bearer TOKEN" */
	a += 7;
	while (*a == ' ')
		a++;
	j->token = xstrdup(a);
	j->snap = conf_live_get(r->h->live);
	pthread_mutex_lock(&r->h->lock);
	r->h->jobs++;
	pthread_mutex_unlock(&r->h->lock);
	w = http_wait_new(r);
	j->tag = w->tag;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, api_cluster_thread, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		log_error("event=http.cluster error=\"cannot start a thread\"");
		pthread_mutex_lock(&r->h->lock);
		r->h->jobs--;
		pthread_mutex_unlock(&r->h->lock);
		conf_snap_unref(j->snap);
		free(j->token);
		free(j);
		http_wait_answer(r->h, w, 503, "{\"error\":{\"status\":503,"
		    "\"message\":\"cannot ask the cluster now\"}}");
	}
}
