/* SPDX-License-Identifier: ISC */
/*
 * http_int.h - what the files of src/http/ share: the server, a request
 * being handled, and the helpers that answer in JSON.
 */
#ifndef RELAIS_HTTP_INT_H
#define RELAIS_HTTP_INT_H

#include <sys/queue.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "core/idmap.h"

struct conf_live;
struct conf_snap;
struct qmgr;
struct spool_reader;
struct apikey_set;
struct cluster;
struct http_server;

/* an answer from the queue manager's thread, for the HTTP thread */
struct http_post {
	struct http_post	*next;
	void			(*fn)(struct http_server *, void *, int);
	void			*arg;
	int			 status;
};

struct http_server {
	struct event_base	*base;
	struct evhttp		*http;
	pthread_t		 thread;
	bool			 running;
	int			*fds;		/* bound listening sockets */
	struct evhttp_bound_socket **bound;	/* evhttp's, owning them */
	size_t			 nfds;
	char			 addrs[256];	/* for the log */
	bool			 tls;

	struct conf_live	*live;
	struct qmgr		*qmgr;
	const char		*body_dir;
	struct spool_reader	*rd;
	struct apikey_set	*keys;

	/* posts from other threads */
	pthread_mutex_t		 lock;
	struct http_post	*inbox, **inbox_tail;
	bool			 closed;	/* no more posts taken */
	struct event		*inbox_ev;
	struct event		*stop_ev;
	struct event		*stop_timer;

	/* requests waiting for the queue manager (tag -> struct
	   http_wait) and the idempotency keys among them */
	struct idmap		 waiting;
	uint64_t		 next_tag;
	struct http_wait	*idem_inflight;
	bool			 stopping;

	/* [cluster]: the tenants' quotas of POST /v1/messages in Redis,
	   on this thread's loop; NULL without [cluster] redis */
	struct cluster		*cluster;
	/* threads asking the cluster (api_cluster.c), under lock */
	unsigned		 jobs;
	pthread_cond_t		 jobs_cond;
};

/* a request being answered */
struct http_req {
	struct http_server	*h;
	struct evhttp_request	*req;
	struct conf_snap	*snap;
	const char		*path;		/* without the query */
	struct evkeyvalq	 query;
	char			 ip[64];
	bool			 loopback;
	char			 key[64];	/* API key name once checked */
};

/* a request waiting for a commit */
struct http_wait {
	struct http_wait	*next;		/* in idem_inflight */
	uint64_t		 tag;
	struct evhttp_request	*req;		/* NULL once given up */
	char			*idem;		/* Idempotency-Key in flight */
	int			 status;	/* the answer on success */
	char			*answer;
	/* what the tenant's quotas reserved in Redis, given back when the
	   commit fails */
	char			*cl_tenant;
	unsigned		 cl_rcpts;
	int64_t			 cl_when;
};

/* --- answering (http_server.c) --- */
/* http_reply_json - send j (stolen) with status */
void	http_reply_json(struct http_req *r, int status, json_t *j);
/* http_reply_error - {"error": {"status", "message", "field"}} */
void	http_reply_error(struct http_req *r, int status, const char *field,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	http_reply_raw(struct http_req *r, int status, const char *ctype,
	    const char *body, size_t len);
/* http_json_str - a JSON string of s, bytes that are not UTF-8 as '?'
   (never NULL: null for NULL) */
json_t	*http_json_str(const char *s);
/* http_body - the request body, contiguous, NUL-terminated */
const char *http_body(struct http_req *r, size_t *len);
const char *http_header(struct http_req *r, const char *name);
/* http_auth - an API key is required: on failure answers 401/429 and
   returns false */
bool	http_auth(struct http_req *r);
/* http_post - run fn(h, arg, status) on the HTTP thread (from any
   thread); once the server has closed, fn(NULL, arg, status) runs on the
   poster's thread instead and must only free arg */
void	http_post(struct http_server *h, void (*fn)(struct http_server *,
	    void *, int), void *arg, int status);
/* http_wait_new - a request parked until http_wait_answer */
struct http_wait *http_wait_new(struct http_req *r);
/* http_wait_answer - answer a parked request (status/body), drop it */
void	http_wait_answer(struct http_server *h, struct http_wait *w,
	    int status, const char *body);
/* http_qmgr_done - a qmgr_done_fn for http_wait (arg: server, tag) */
void	http_qmgr_done(void *arg, uint64_t tag, int status);

/* --- handlers --- */
void	api_send(struct http_req *r);			/* api_send.c */
void	api_message_get(struct http_req *r, const char *qid); /* api_queue.c */
void	api_queue_list(struct http_req *r);
void	api_queue_act(struct http_req *r, const char *qid, const char *act);
void	api_events(struct http_req *r);			/* api_events.c */
/* api_sites - GET /v1/sites (rest NULL), POST /v1/sites/NAME/ACTION */
void	api_sites(struct http_req *r, const char *rest);	/* api_sites.c */
void	api_suppressions(struct http_req *r, const char *addr);
void	http_metrics(struct http_req *r);			/* http_metrics.c */
void	http_healthz(struct http_req *r);
void	api_stats(struct http_req *r);			/* api_stats.c */
/* api_cluster - GET /v1/queue?cluster=1 (queue) or /v1/cluster/nodes */
void	api_cluster(struct http_req *r, bool queue);	/* api_cluster.c */
void	http_ui(struct http_req *r);			/* http_ui.c */

#endif
