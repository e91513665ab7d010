/* SPDX-License-Identifier: ISC */
/*
 * cli_serve_node.c - the node's registration in Redis; see
 * cli_serve_node.h.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_serve_node.h"
#include "conf/conf.h"
#include "core/drain.h"
#include "core/id.h"
#include "core/log.h"
#include "core/version.h"
#include "core/xalloc.h"
#include "live/conf_live.h"
#include "net/nodes.h"
#include "spool/spool.h"

#define NODE_INTERVAL_DEF	5	/* seconds */
#define NODE_WARNED_MAX		32

struct serve_node {
	struct conf_live	*live;
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	bool			 stopping;
	bool			 kicked;

	/* the thread's own */
	struct nodes		*redis;		/* NULL: not connected */
	struct spool_reader	*rd;
	unsigned		 interval;
	char			*name;
	char			*api;		/* URL or NULL */
	json_t			*smtp;		/* listener addresses */
	int64_t			 started;
	bool			 failing;	/* failure logged */
	char			*warned[NODE_WARNED_MAX]; /* tag clashes told */
	size_t			 nwarned;
};

/* node_api - the [http] API's base URL; a wildcard address is named by
   the host name */
static char *
node_api(const struct conf *conf)
{
	const char *text, *port;
	char url[512];

	if (!conf->http.enabled || conf->http.naddrs == 0)
		return NULL;
	text = conf->http.addrs[0].text;
	port = strrchr(text, ':');
	if (strncmp(text, "0.0.0.0:", 8) == 0 || strncmp(text, "[::]:", 5) == 0)
		snprintf(url, sizeof(url), "%s://%s%s",
		    conf->http.tls == CONF_HTTP_TLS_REQUIRED ? "https" : "http",
		    conf->server.hostname, port ? port : "");
	else
		snprintf(url, sizeof(url), "%s://%s",
		    conf->http.tls == CONF_HTTP_TLS_REQUIRED ? "https" : "http",
		    text);
	return xstrdup(url);
}

/* node_tags - warn once of each live node whose tag is ours */
static void
node_tags(struct serve_node *n)
{
	struct err err;
	json_t *list = nodes_list(n->redis, &err);
	unsigned tag = id_tag();

	if (list == NULL)
		return;
	for (size_t i = 0; i < json_array_size(list); i++) {
		const char *other = json_string_value(json_object_get(
		    json_array_get(list, i), "node"));
		bool told = false;

		if (other == NULL || strcmp(other, n->name) == 0 ||
		    id_node_tag(other) != tag)
			continue;
		for (size_t k = 0; k < n->nwarned; k++)
			told |= strcmp(n->warned[k], other) == 0;
		if (told || n->nwarned == NODE_WARNED_MAX)
			continue;
		n->warned[n->nwarned++] = xstrdup(other);
		log_warnx("event=cluster.node.tag node=%s other=%s tag=%02x"
		    " warning=\"the two nodes' queue ids carry the same tag:"
		    " ids made in the same microsecond may collide; rename"
		    " one ([server] node)\"", n->name, other, tag);
	}
	json_decref(list);
}

/* node_value - this node's registration, as JSON text (malloc'd) */
static char *
node_value(struct serve_node *n, const struct conf *conf)
{
	int64_t queued = -1, held = -1;
	struct err err;
	json_t *j;
	char *s;

	if (n->rd != NULL && spool_reader_count(n->rd, &queued, &held,
	    &err) == -1)
		queued = held = -1;
	j = json_pack("{s:s, s:s, s:o, s:O, s:I, s:o, s:o, s:b, s:s, s:I,"
	    " s:s}", "node", n->name, "hostname", conf->server.hostname,
	    "api", n->api ? json_string(n->api) : json_null(), "smtp", n->smtp,
	    "started", (json_int_t)n->started,
	    "queued", queued >= 0 ? json_integer(queued) : json_null(),
	    "held", held >= 0 ? json_integer(held) : json_null(),
	    "draining", (int)drain_active(), "tag", "", "pid",
	    (json_int_t)getpid(), "version", RELAIS_VERSION);
	if (j == NULL)
		return NULL;
	{
		char t[8];

		snprintf(t, sizeof(t), "%02x", id_tag());
		json_object_set_new(j, "tag", json_string(t));
	}
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* node_register - one registration; failures logged once */
static void
node_register(struct serve_node *n)
{
	struct conf_snap *snap = conf_live_get(n->live);
	struct err err;
	char *v = NULL;

	if (n->redis == NULL &&
	    (n->redis = nodes_open(snap->conf, &err)) == NULL)
		goto fail;
	if ((v = node_value(n, snap->conf)) == NULL) {
		err_set(&err, 0, "out of memory");
		goto fail;
	}
	if (nodes_put(n->redis, n->name, v, n->interval * 3, &err) == -1) {
		nodes_close(n->redis);
		n->redis = NULL;
		goto fail;
	}
	if (n->failing)
		log_info("event=cluster.register node=%s redis=%s", n->name,
		    snap->conf->cluster.redis);
	n->failing = false;
	node_tags(n);
	free(v);
	conf_snap_unref(snap);
	return;
fail:
	if (!n->failing)
		log_warnx("event=cluster.register.failed node=%s error=\"%s\""
		    " retry=%us", n->name, err.msg, n->interval);
	n->failing = true;
	free(v);
	conf_snap_unref(snap);
}

static void *
node_thread(void *arg)
{
	struct serve_node *n = arg;
	struct timespec ts;
	struct err err;
	bool stop;

	for (;;) {
		node_register(n);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += n->interval;
		pthread_mutex_lock(&n->lock);
		while (!n->stopping && !n->kicked &&
		    pthread_cond_timedwait(&n->cond, &n->lock, &ts) == 0)
			;
		n->kicked = false;
		stop = n->stopping;
		pthread_mutex_unlock(&n->lock);
		if (stop)
			break;
	}
	if (n->redis != NULL && nodes_del(n->redis, n->name, &err) == -1)
		log_warnx("event=cluster.unregister.failed node=%s error=\"%s\"",
		    n->name, err.msg);
	return NULL;
}

struct serve_node *
serve_node_start(struct conf_live *live)
{
	struct conf_snap *snap = conf_live_get(live);
	const struct conf *conf = snap->conf;
	struct serve_node *n;
	struct err err;
	pthread_condattr_t ca;
	const char *env = getenv("RELAIS_NODE_INTERVAL");
	int r;

	if (conf->cluster.redis == NULL) {
		conf_snap_unref(snap);
		return NULL;
	}
	n = xcalloc(1, sizeof(*n));
	n->live = live;
	n->interval = NODE_INTERVAL_DEF;
	if (env != NULL && atoi(env) >= 1 && atoi(env) <= 60)
		n->interval = (unsigned)atoi(env);
	n->name = xstrdup(conf->server.node);
	n->api = node_api(conf);
	n->started = (int64_t)time(NULL);
	n->smtp = json_array();
	for (size_t i = 0; i < conf->nlisteners; i++)
		for (size_t k = 0; k < conf->listeners[i].naddrs; k++)
			json_array_append_new(n->smtp, json_string(
			    conf->listeners[i].addrs[k].text));
	if ((n->rd = spool_reader_open(conf->server.data_dir, &err)) == NULL)
		log_warnx("event=cluster.register node=%s error=\"%s\"",
		    n->name, err.msg);
	pthread_mutex_init(&n->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	log_info("event=cluster.node node=%s tag=%02x redis=%s api=%s",
	    n->name, id_tag(), conf->cluster.redis, n->api ? n->api : "-");
	conf_snap_unref(snap);
	if ((r = pthread_create(&n->thread, NULL, node_thread, n)) != 0) {
		log_error("event=cluster.register node=%s error=\"cannot start"
		    " the thread\"", n->name);
		n->thread = 0;
		serve_node_stop(n);
		return NULL;
	}
	(void)pthread_setname_np(n->thread, "relais-node");
	return n;
}

void
serve_node_kick(struct serve_node *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->lock);
	n->kicked = true;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

void
serve_node_stop(struct serve_node *n)
{
	if (n == NULL)
		return;
	if (n->thread != 0) {
		pthread_mutex_lock(&n->lock);
		n->stopping = true;
		pthread_cond_signal(&n->cond);
		pthread_mutex_unlock(&n->lock);
		pthread_join(n->thread, NULL);
	}
	nodes_close(n->redis);
	spool_reader_close(n->rd);
	json_decref(n->smtp);
	for (size_t i = 0; i < n->nwarned; i++)
		free(n->warned[i]);
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->cond);
	free(n->name);
	free(n->api);
	free(n);
}
