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
	struct spool_result	 res;		/* RESULT */
};

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
	bool			 stopping;
	bool			 kicked;

	struct deliver_pool	*pool;
	struct conf_live	*live;
	struct idmap		 inflight;	/* rcpt id -> (void *)1 */
	size_t			 inflight_max;

	pthread_mutex_t		 stats_lock;
	struct spool_stats	 stats;
};

/* spool__insert_msg - the rows of one message, in the open transaction */
int	spool__insert_msg(struct spool *sp, struct spool_msg *msg,
	    struct err *err);

/* spool__exec - run SQL without results; -1 with err */
int	spool__exec(struct spool *sp, const char *sql, struct err *err);

#endif
