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
	SPOOL_STMT_DUE_HIGH,		/* the high-priority due rows */
	SPOOL_STMT_USAGE_ADD,		/* tenant_usage, per window */
	SPOOL_STMT_LEASE,
	SPOOL_STMT_EVENT_INSERT,	/* spool_events.c */
	SPOOL_STMT_META_INSERT,
	SPOOL_STMT_IDEM_INSERT,
	SPOOL_STMT_SUPPRESS_ADD,
	SPOOL_STMT_SUPPRESS_DEL,
	SPOOL_STMT_VAR_SET,
	SPOOL_STMT_VAR_GET,
	SPOOL_STMT_SITE_PUT,		/* spool_sites.c: the agent's state */
	SPOOL_STMT_SITE_OP,		/* the operator's change */
	SPOOL_STMT_SITE_WAKE,		/* a resumed site's recipients due */
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

/* a read-only connection (spool_reader.c, spool_query.c) */
struct spool_reader {
	sqlite3		*db;
	sqlite3_stmt	*body;
	char		*body_dir;
};

/* spool_bind_text - bind a C string, NULL as SQL NULL */
void	spool_bind_text(sqlite3_stmt *st, int i, const char *s);
/* spool_col_text - a text column, "" for NULL */
const char *spool_col_text(sqlite3_stmt *st, int i);

/* spool_store_api - the events, API metadata and idempotent answer
   stored with a message (spool_events.c), in its savepoint */
int	spool_store_api(struct spool *sp, const struct spool_msg *msg,
	    struct err *err);

/* spool_tlsrpt_schema - the TLS-RPT tables (spool_tlsrpt.c), at open */
int	spool_tlsrpt_schema(struct spool *sp, struct err *err);
/* spool_sts_init - table sts_policies (spool_sts.c), at open */
int	spool_sts_init(struct spool *sp, struct err *err);

/* spool_exec - run SQL without results; -1 with err (err may be NULL) */
int	spool_exec(struct spool *sp, const char *sql, struct err *err);
/* spool_step_done - step a statement that returns no row, reset it */
int	spool_step_done(struct spool *sp, sqlite3_stmt *st, struct err *err);

#endif
