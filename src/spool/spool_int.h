/* SPDX-License-Identifier: ISC */
/*
 * spool_int.h - spool internals shared by src/spool and the scheduler.
 */
#ifndef RELAIS_SPOOL_INT_H
#define RELAIS_SPOOL_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "core/idmap.h"
#include "spool/spool.h"

enum spool_req_type {
	SPOOL_REQ_MSG,
	SPOOL_REQ_RESULT,
};

struct spool_req {
	struct spool_req	*next;
	enum spool_req_type	 type;
	struct spool_msg	*msg;		/* MSG */
	spool_done_fn		*done;
	void			*arg;
	uint64_t		 tag;
	int			 status;	/* 0 stored, -1 failed */
	bool			 backoff;	/* RESULT made by the scheduler */
	struct spool_result	 res;		/* RESULT */
};

/*
 * What the spool thread has learnt from remote results about destinations
 * that back off (deliver_remote.c defers every job that reaches such a
 * destination before its retry time, without connecting). The scheduler
 * defers due recipients of those destinations in place, with the same
 * result the worker would have sent, instead of leasing and dispatching
 * them; so a destination that is down costs a row update per recipient,
 * not a trip through the delivery pool and a worker. Only a copy: the
 * worker still decides; a success clears the entry, so does a flush.
 */
struct spool_backoff {
	struct spool_backoff	*next;
	int64_t			 until;		/* unix time */
	char			 dest[];	/* domain, or "[smarthost]" */
};
#define SPOOL_BACKOFF_BUCKETS	256

/* prepared statements, all on the write connection */
enum spool_stmt {
	SPOOL_STMT_MSG_INSERT,
	SPOOL_STMT_RCPT_INSERT,
	SPOOL_STMT_RCPT_DONE,		/* delivered or bounced */
	SPOOL_STMT_RCPT_DEFER,
	SPOOL_STMT_RCPT_GET,		/* warned, notify, orig, orcpt */
	SPOOL_STMT_MSG_BODY,		/* what a DSN needs */
	SPOOL_STMT_MSG_PENDING,		/* any recipient still to do? */
	SPOOL_STMT_MSG_GET,
	SPOOL_STMT_MSG_DELETE,
	SPOOL_STMT_RCPTS_DELETE,
	SPOOL_STMT_DUE,
	SPOOL_STMT_LEASE,
	SPOOL_STMT_BEGIN,		/* transaction control, prepared once: */
	SPOOL_STMT_COMMIT,		/* sqlite3_exec would parse it again */
	SPOOL_STMT_SAVEPOINT,		/* for every batch and message */
	SPOOL_STMT_RELEASE,
	SPOOL_STMT_ROLLBACK_TO,
	SPOOL_STMT__COUNT
};

struct spool {
	char			*data_dir;
	char			*spool_dir;
	char			*body_dir;
	char			*db_path;
	sqlite3			*db;
	sqlite3_stmt		*stmt[SPOOL_STMT__COUNT];
	int			 body_dirfd;
	int64_t			 started;	/* unix time of spool_open */
	bool			 sync_full;	/* PRAGMA synchronous = FULL now */

	pthread_t		 thread;
	bool			 running;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct spool_req	*head, **tail;	/* waiting requests */
	bool			 msgs_waiting;	/* a message among them */
	int64_t			 results_since;	/* monotonic us of the oldest
						   waiting outcome, 0: none */
	bool			 stopping;
	bool			 kicked;

	struct deliver_pool	*pool;
	struct conf_live	*live;
	struct idmap		 inflight;	/* rcpt id -> (void *)1 */
	size_t			 inflight_max;

	bool			 more;		/* due work left: no wait */

	struct spool_backoff	*backoff[SPOOL_BACKOFF_BUCKETS];
	size_t			 nbackoff;

	pthread_mutex_t		 stats_lock;
	struct spool_stats	 stats;
};

struct deliver_job;

/* spool__backoff_until - when dest's backoff ends (0: none) at now */
int64_t	spool__backoff_until(struct spool *sp, const char *dest, int64_t now);

/* spool__backoff_key - the destination a remote recipient goes to */
const char *spool__backoff_key(bool smarthost, const char *addr);

/*
 * sched__select - sched_select, plus: recipients whose destination backs
 * off (spool__backoff_until) become deferral results in *deferred_out (at
 * most defer_max; nothing is leased for them); *more is set when the due
 * query filled its window and made progress, i.e. the caller should run
 * again at once. max may be 0.
 */
int	sched__select(struct spool *sp, int64_t now, size_t max,
	    size_t defer_max, bool smarthost, struct deliver_job **jobs_out,
	    struct spool_req **deferred_out, bool *more, struct err *err);

/* spool__insert_msg - the rows of one message, in the open transaction */
int	spool__insert_msg(struct spool *sp, struct spool_msg *msg,
	    struct err *err);

/* spool__exec - run SQL without results; -1 with err */
int	spool__exec(struct spool *sp, const char *sql, struct err *err);

#endif
