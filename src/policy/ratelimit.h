/* SPDX-License-Identifier: ISC */
/*
 * ratelimit.h - the arithmetic of relais's abuse limits, one small value
 * type per kind, with the time passed in (seconds on a monotonic clock):
 * pure, so the unit test can walk through hours in microseconds.
 * limits.c keeps them in its shared tables, under its mutex.
 *
 *   bucket  a token bucket: N events per minute, bursts up to N
 *   ban     failures counted in a window; N of them start a ban whose
 *           length doubles with each new ban, up to a cap; the level
 *           decays after a calm period as long as the cap
 *   day     events in the last 24 hours, in hourly slots
 */
#ifndef RELAIS_POLICY_RATELIMIT_H
#define RELAIS_POLICY_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit_bucket {
	double		tokens;
	double		last;		/* time of the last refill */
	bool		used;		/* tokens/last are meaningful */
};

/* ratelimit_bucket_take - take one token; false when none is left */
bool	ratelimit_bucket_take(struct ratelimit_bucket *b, unsigned per_minute,
	    double now);
/* ratelimit_bucket_idle - full again: the entry may be forgotten */
bool	ratelimit_bucket_idle(const struct ratelimit_bucket *b,
	    unsigned per_minute, double now);

struct ratelimit_ban {
	unsigned	failures;	/* in the current window */
	double		window_start;
	double		until;		/* banned before this time */
	double		last_ban;	/* when the last ban ended */
	unsigned	level;		/* bans so far: length base << level-1 */
};

/*
 * ratelimit_ban_fail - count one failure. Returns the length in seconds
 * of the ban it starts (the threshold-th failure within window), else 0.
 * threshold 0: never bans.
 */
unsigned ratelimit_ban_fail(struct ratelimit_ban *b, double now,
	    unsigned threshold, unsigned window, unsigned base, unsigned max);
/* ratelimit_ban_left - seconds of ban left (rounded up), 0 if none */
unsigned ratelimit_ban_left(const struct ratelimit_ban *b, double now);
/* ratelimit_ban_idle - nothing worth keeping: no ban, no recent failure,
   the doubling level has decayed */
bool	ratelimit_ban_idle(const struct ratelimit_ban *b, double now,
	    unsigned window, unsigned max);

#define RATELIMIT_DAY_SLOTS	24

struct ratelimit_day {
	int64_t		hour;		/* slot 0's hour (now / 3600) */
	uint32_t	n[RATELIMIT_DAY_SLOTS];	/* n[i]: events in hour-i */
};

/* ratelimit_day_count - events in the last 24 hours (hourly slots) */
uint64_t ratelimit_day_count(struct ratelimit_day *d, double now);
/* ratelimit_day_add - count one event now */
void	ratelimit_day_add(struct ratelimit_day *d, double now);

#endif
