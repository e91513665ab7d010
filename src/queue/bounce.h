/* SPDX-License-Identifier: ISC */
/*
 * bounce.h - turning delivery outcomes into DSN messages in the spool.
 *
 * Runs on the queue manager's thread inside the batch transaction: the
 * outcome that calls for a report and the report itself are committed
 * together, so a crash can neither lose a bounce nor send it twice.
 */
#ifndef RELAIS_QUEUE_BOUNCE_H
#define RELAIS_QUEUE_BOUNCE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "queue/dsn.h"

struct spool;
struct conf;

struct bounce_item {
	int64_t		 msg_id;
	enum dsn_kind	 kind;
	char		*final;
	char		*orig;
	char		*orcpt;
	char		*action;
	char		 status[16];
	char		*remote_mta;
	char		*diagnostic;
	int64_t		 last_attempt;
	int64_t		 will_retry_until;
};

struct bounce_batch {
	struct bounce_item	*items;
	size_t			 n;
};

/* bounce_add - note one recipient for a report (strings copied) */
void	bounce_add(struct bounce_batch *b, int64_t msg_id, enum dsn_kind kind,
	    const char *final, const char *orig, const char *orcpt,
	    const char *action, const char *status, const char *remote_mta,
	    const char *diagnostic, int64_t last_attempt,
	    int64_t will_retry_until);

/*
 * bounce_flush - one report per message and kind, queued as a new message
 * from <> in the current transaction; a report about a message from <>
 * goes to [relay] postmaster or is only logged. Empties b.
 */
int	bounce_flush(struct spool *sp, struct bounce_batch *b,
	    const struct conf *conf, int64_t now, struct err *err);
void	bounce_batch_fini(struct bounce_batch *b);

#endif
