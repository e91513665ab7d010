/* SPDX-License-Identifier: ISC */
/*
 * worker.h - an event-loop thread: its own event_base, its own
 * SO_REUSEPORT listening sockets, the SMTP sessions it accepted, and an
 * inbox through which other threads (the queue manager) answer them by id.
 */
#ifndef RELAIS_NET_WORKER_H
#define RELAIS_NET_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sys/socket.h>

#include <event2/util.h>

#include "core/idmap.h"
#include "net/listen.h"

struct event_base;
struct event;
struct evconnlistener;
struct conf_live;
struct qmgr;
struct smtp_session;
struct remote;
struct cluster;

struct worker;

/*
 * What a worker runs, given by the daemon that wires it (cli_serve.c):
 * the worker calls these instead of including the SMTP server and the
 * outbound agent, which sit above it.
 */
struct worker_ops {
	/* a connection accepted on one of w's listening sockets */
	void	(*accept)(struct worker *w, evutil_socket_t fd,
		    struct sockaddr *sa, struct listen_sock *sock);
	/* stopping: tell one session to finish (it may free itself) */
	void	(*session_shutdown)(struct smtp_session *s);
	/* the grace period is over: drop one session at once */
	void	(*session_free)(struct smtp_session *s);
	/* stopping: close w's outbound connections (may be NULL) */
	void	(*outbound_stop)(struct worker *w);
	/* w goes: free its outbound agent (may be NULL) */
	void	(*outbound_free)(struct worker *w);
};

/* what every worker shares, owned by the serve command */
struct worker_ctx {
	const struct worker_ops	*ops;
	struct conf_live	*live;
	struct qmgr		*qmgr;		/* where sessions commit */
	const char		*body_dir;	/* where large bodies go */
	atomic_bool		 stopping;
};

/*
 * An answer from another thread: fn runs on the worker's loop with the
 * session the id names, or with NULL when that session is gone (fn must
 * then only free data).
 */
typedef void worker_fn(struct smtp_session *s, int status, void *data);

/* work for the worker itself (outbound deliveries): fn(w, data) */
typedef void worker_call_fn(struct worker *w, void *data);

struct worker_msg {
	struct worker_msg	*next;
	uint64_t		 session_id;
	worker_fn		*fn;
	worker_call_fn		*call;		/* instead of fn, if set */
	int			 status;
	void			*data;
};

struct worker {
	unsigned		 index;
	pthread_t		 thread;
	bool			 running;
	struct worker_ctx	*ctx;
	struct event_base	*base;
	struct listen_sock	*socks;
	size_t			 nsocks;
	struct evconnlistener	**levs;
	struct event		*inbox_ev;
	struct event		*stop_ev;
	struct event		*stop_timer;
	pthread_mutex_t		 lock;
	struct worker_msg	*inbox;
	struct idmap		 sessions;	/* id -> struct smtp_session */
	bool			 stopping;
	char			*scratch;	/* SMTP_DATA scan output */
	size_t			 scratch_len;
	struct remote		*remote;	/* outbound deliveries */
	struct cluster		*cluster;	/* [cluster] shared state on
						   this loop, or NULL */
};

/* worker_init - set up w on its sockets; the thread starts in worker_start */
int	worker_init(struct worker *w, unsigned index, struct worker_ctx *ctx,
	    struct listen_sock *socks, size_t nsocks);
int	worker_start(struct worker *w);
/* worker_stop - ask w to stop (any thread); worker_join waits for it */
void	worker_stop(struct worker *w);
void	worker_join(struct worker *w);
void	worker_fini(struct worker *w);

/* worker_post - run fn(session, status, data) on w's loop (any thread) */
void	worker_post(struct worker *w, uint64_t session_id, worker_fn *fn,
	    int status, void *data);

/* worker_call - run fn(w, data) on w's loop (any thread); when w stops
   before it runs, fn runs with data during worker_fini */
void	worker_call(struct worker *w, worker_call_fn *fn, void *data);

/* worker_check_done - leave the loop once stopping and no session is left */
void	worker_check_done(struct worker *w);

#endif
