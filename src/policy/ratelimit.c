/* SPDX-License-Identifier: ISC */
/*
 * ratelimit.c - token buckets, doubling bans and daily counts; see
 * ratelimit.h.
 */
#include <string.h>

#include "policy/ratelimit.h"

bool
ratelimit_bucket_take(struct ratelimit_bucket *b, unsigned per_minute,
    double now)
{
	double cap = per_minute;

	if (per_minute == 0)
		return true;
	if (!b->used) {
		b->used = true;
		b->tokens = cap;
		b->last = now;
	}
	if (now > b->last) {
		b->tokens += (now - b->last) * cap / 60.0;
		if (b->tokens > cap)
			b->tokens = cap;
		b->last = now;
	}
	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}

bool
ratelimit_bucket_idle(const struct ratelimit_bucket *b, unsigned per_minute,
    double now)
{
	if (!b->used || per_minute == 0)
		return true;
	return b->tokens + (now - b->last) * per_minute / 60.0 >= per_minute;
}

unsigned
ratelimit_ban_fail(struct ratelimit_ban *b, double now, unsigned threshold,
    unsigned window, unsigned base, unsigned max)
{
	double len;

	if (threshold == 0)
		return 0;
	if (b->level > 0 && b->until <= now && now - b->until >= max &&
	    now - b->last_ban >= max)
		b->level = 0;	/* calm for as long as the longest ban */
	if (b->failures == 0 || now - b->window_start >= window) {
		b->failures = 0;
		b->window_start = now;
	}
	if (++b->failures < threshold)
		return 0;
	b->failures = 0;
	len = base;
	for (unsigned i = 0; i < b->level && len < max; i++)
		len *= 2;
	if (len > max)
		len = max;
	b->level++;
	b->until = now + len;
	b->last_ban = b->until;
	return (unsigned)len;
}

unsigned
ratelimit_ban_left(const struct ratelimit_ban *b, double now)
{
	double left = b->until - now;

	if (left <= 0)
		return 0;
	return (unsigned)left + (left > (unsigned)left ? 1 : 0);
}

bool
ratelimit_ban_idle(const struct ratelimit_ban *b, double now, unsigned window,
    unsigned max)
{
	if (b->until > now)
		return false;
	if (b->failures > 0 && now - b->window_start < window)
		return false;
	return b->level == 0 || now - b->last_ban >= max;
}

/* ratelimit_day_shift - move the slots so that slot 0 is this hour */
static void
ratelimit_day_shift(struct ratelimit_day *d, double now)
{
	int64_t hour = (int64_t)(now / 3600.0), gap = hour - d->hour;

	if (gap <= 0)
		return;
	if (gap >= RATELIMIT_DAY_SLOTS) {
		memset(d->n, 0, sizeof(d->n));
	} else {
		memmove(d->n + gap, d->n, (size_t)(RATELIMIT_DAY_SLOTS - gap) *
		    sizeof(d->n[0]));
		memset(d->n, 0, (size_t)gap * sizeof(d->n[0]));
	}
	d->hour = hour;
}

uint64_t
ratelimit_day_count(struct ratelimit_day *d, double now)
{
	uint64_t sum = 0;

	ratelimit_day_shift(d, now);
	for (int i = 0; i < RATELIMIT_DAY_SLOTS; i++)
		sum += d->n[i];
	return sum;
}

void
ratelimit_day_add(struct ratelimit_day *d, double now)
{
	ratelimit_day_shift(d, now);
	if (d->n[0] < UINT32_MAX)
		d->n[0]++;
}
