/* SPDX-License-Identifier: ISC */
/*
 * sched.h - the scheduler: picks due recipients from the spool, leases
 * them and turns them into delivery jobs; and the retry policy's delay.
 *
 * Runs on the queue manager's thread inside its batch transaction, so
 * its leases cost no extra commit. Leases are reset at start (spool
 * recovery), which is how deliveries in flight at a crash resume.
 */
#ifndef RELAIS_QUEUE_SCHED_H
#define RELAIS_QUEUE_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "spool/spool.h"

struct deliver_job;
struct backoff_table;

/* what one selection gave */
struct sched_pick {
	struct deliver_job	*jobs;		/* leased, as a list */
	struct spool_result	*deferred;	/* backing off: deferred in
						   place, not leased */
	size_t			 ndeferred;
	bool			 more;		/* the window was full and
						   made progress: run again */
};

/*
 * sched_select - lease up to max due recipients into delivery jobs (one
 * per message and transport, and for remote mail per domain); those whose
 * destination backs off (bo) become deferral results instead, at most
 * defer_max of them, except those that arrived at or before expire (a
 * deferral would bounce them: they are leased). The jobs are listed in
 * the order of the due scan: high-priority recipients first, so they
 * reach the delivery pool first; each job carries its message's pool and
 * priority. max may be 0. On error
 * nothing is picked, but leases may have been written in the open
 * transaction: the caller must give it up.
 */
int	sched_select(struct spool *sp, const struct backoff_table *bo,
	    int64_t now, size_t max, size_t defer_max, bool smarthost,
	    int64_t expire, struct sched_pick *out, struct err *err);

/* sched_retry_delay - seconds to wait after the given failed attempts:
   min, doubling, at most max */
int64_t	sched_retry_delay(int64_t attempts, int64_t min, int64_t max);

#endif
