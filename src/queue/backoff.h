/* SPDX-License-Identifier: ISC */
/*
 * backoff.h - what the queue manager has learnt from remote results about
 * destinations that back off.
 *
 * deliver_remote.c defers every job that reaches such a destination
 * before its retry time, without connecting. The scheduler defers due
 * recipients of those destinations in place, with the same result the
 * worker would have sent, instead of leasing and dispatching them; so a
 * destination that is down costs a row update per recipient, not a trip
 * through the delivery pool and a worker. Only a copy: the worker still
 * decides; a success clears the entry, so does a flush. One thread (the
 * queue manager's) uses a table: no lock.
 */
#ifndef RELAIS_QUEUE_BACKOFF_H
#define RELAIS_QUEUE_BACKOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BACKOFF_BUCKETS	256

struct backoff_entry;

struct backoff_table {
	struct backoff_entry	*buckets[BACKOFF_BUCKETS];
	size_t			 n;
};

/* backoff_key - the destination a remote recipient goes to: its domain,
   or "[smarthost]" when everything goes through one */
const char *backoff_key(bool smarthost, const char *addr);
/* backoff_until - when dest's backoff ends (0: none) at now; throttled
   tells a suspended site (no attempt) from a destination that failed,
   site names that site ("" when unknown) */
int64_t	backoff_until(const struct backoff_table *t, const char *dest,
	    int64_t now, bool *throttled, const char **site);
/* backoff_set - dest backs off until then; 0 forgets it; site: the
   destination site the result named, or NULL */
void	backoff_set(struct backoff_table *t, const char *dest, int64_t until,
	    bool throttled, const char *site);
/* backoff_expire - drop entries past their time, or all of them
   (relais queue flush forgets every backoff; and at the end) */
void	backoff_expire(struct backoff_table *t, int64_t now, bool all);

#endif
