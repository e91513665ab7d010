/* SPDX-License-Identifier: ISC */
/*
 * sched.h - the scheduler: picks due recipients from the spool, leases
 * them and turns them into delivery jobs; and the retry policy.
 *
 * Runs on the spool thread inside the batch transaction, so its leases
 * cost no extra commit. Leases are reset at start (spool recovery), which
 * is how deliveries in flight at a crash resume.
 */
#ifndef RELAIS_QUEUE_SCHED_H
#define RELAIS_QUEUE_SCHED_H

#include <stdint.h>

#include "core/err.h"

struct spool;
struct deliver_job;

/*
 * sched_select - lease up to max due recipients for delivery; jobs come
 * back as a list in *jobs_out. Recipients that no agent can take yet
 * (remote, until outbound delivery exists) are deferred here.
 */
int	sched_select(struct spool *sp, int64_t now, size_t max,
	    struct deliver_job **jobs_out, struct err *err);

/* sched_retry_delay - seconds to wait after the given failed attempts:
   min, doubling, at most max */
int64_t	sched_retry_delay(int64_t attempts, int64_t min, int64_t max);

#endif
