/* SPDX-License-Identifier: ISC */
/*
 * spool_int.h - spool internals, for src/spool/ alone: the connection
 * and its prepared statements.
 */
#ifndef RELAIS_SPOOL_INT_H
#define RELAIS_SPOOL_INT_H

#include <sqlite3.h>
#include <stdbool.h>

#include "spool/spool.h"

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
};

/* spool_exec - run SQL without results; -1 with err (err may be NULL) */
int	spool_exec(struct spool *sp, const char *sql, struct err *err);
/* spool_step_done - step a statement that returns no row, reset it */
int	spool_step_done(struct spool *sp, sqlite3_stmt *st, struct err *err);

#endif
