/* SPDX-License-Identifier: ISC */
/*
 * retry.h - what one delivery outcome does to its recipient: the retry
 * policy ([relay] retry_min, retry_max), expiry after max_queue_lifetime,
 * the one delay warning, and the reports (RFC 3461 NOTIFY) it calls for.
 *
 * Runs on the queue manager's thread, inside its batch transaction, so
 * the outcome and the report it calls for are committed together.
 */
#ifndef RELAIS_QUEUE_RETRY_H
#define RELAIS_QUEUE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "spool/spool.h"

struct conf;
struct bounce_batch;

/*
 * retry_apply - record res for its recipient; a deferral past the queue
 * lifetime becomes a bounce (res is changed to say so, for the log).
 * Reports go to bb. A recipient gone meanwhile (relais queue delete) is
 * no error.
 */
int	retry_apply(struct spool *sp, struct spool_result *res,
	    const struct conf *conf, int64_t now, struct bounce_batch *bb,
	    struct err *err);

/* retry_expires - res is a deferral that retry_apply turns into a bounce
   (its message has been queued max_queue_lifetime) */
bool	retry_expires(const struct spool_result *res, const struct conf *conf,
	    int64_t now);

#endif
