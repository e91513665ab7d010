/* SPDX-License-Identifier: ISC */
/*
 * quota.c - the tenant counters behind quota.h.
 *
 * One hash table of tenants under one mutex. Each entry keeps, per
 * window length (hour, day), the start of the window its counts belong
 * to and the messages and recipients used in it; a count read in a later
 * window is zero (the window rolled over). Reservations are not tied to
 * a window: they are in flight, and count against whichever window is
 * current until they are committed or released. An entry that holds no
 * reservation and only counts of past windows may be dropped when the
 * table is full; with nothing to drop, a new tenant is not counted
 * (logged) rather than the table grow.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "policy/quota.h"

#define QUOTA_BUCKETS	256

struct quota_win {
	int64_t		 start;		/* window start, 0: none yet */
	uint64_t	 messages;
	uint64_t	 recipients;
};

struct quota_entry {
	struct quota_entry	*next;
	struct quota_win	 win[2];	/* [0] hour, [1] day */
	uint64_t		 res_messages;	/* reserved, in flight */
	uint64_t		 res_recipients;
	char			 name[];
};

static pthread_mutex_t quota_lock = PTHREAD_MUTEX_INITIALIZER;
static struct quota_entry *quota_table[QUOTA_BUCKETS];
static size_t quota_n;
static bool quota_full_logged;

static const unsigned quota_periods[2] = { QUOTA_HOUR, QUOTA_DAY };

int64_t
quota_window(unsigned period, int64_t t)
{
	int64_t r = t % (int64_t)period;

	if (r < 0)
		r += period;
	return t - r;
}

/* quota_hash - of the name, case folded (tenant names match any case) */
static unsigned
quota_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 16777619u;
	}
	return h % QUOTA_BUCKETS;
}

/* quota_roll - bring e's windows to now: a past window counts nothing */
static void
quota_roll(struct quota_entry *e, int64_t now)
{
	for (int i = 0; i < 2; i++) {
		int64_t w = quota_window(quota_periods[i], now);

		if (e->win[i].start < w) {
			e->win[i].start = w;
			e->win[i].messages = e->win[i].recipients = 0;
		}
	}
}

/* quota_sweep - drop entries that hold nothing current; lock held */
static void
quota_sweep(int64_t now)
{
	int64_t hour = quota_window(QUOTA_HOUR, now);
	int64_t day = quota_window(QUOTA_DAY, now);

	for (size_t b = 0; b < QUOTA_BUCKETS; b++) {
		struct quota_entry **pp = &quota_table[b], *e;

		while ((e = *pp) != NULL) {
			if (e->res_messages == 0 && e->res_recipients == 0 &&
			    e->win[0].start < hour && e->win[1].start < day) {
				*pp = e->next;
				free(e);
				quota_n--;
			} else
				pp = &e->next;
		}
	}
}

/* quota_find - the entry of name, made when create; lock held */
static struct quota_entry *
quota_find(const char *name, bool create)
{
	unsigned h = quota_hash(name);
	struct quota_entry *e;
	size_t len;

	for (e = quota_table[h]; e; e = e->next)
		if (strcasecmp(e->name, name) == 0)
			return e;
	if (!create)
		return NULL;
	if (quota_n >= QUOTA_TENANTS_MAX)
		quota_sweep((int64_t)time(NULL));
	if (quota_n >= QUOTA_TENANTS_MAX) {
		if (!quota_full_logged)
			log_warnx("event=quota.full tenants=%zu: new tenants"
			    " are not counted", quota_n);
		quota_full_logged = true;
		return NULL;
	}
	len = strlen(name);
	e = xcalloc(1, sizeof(*e) + len + 1);
	memcpy(e->name, name, len + 1);
	e->next = quota_table[h];
	quota_table[h] = e;
	quota_n++;
	return e;
}

/* quota_check - would one more (msgs, rcpts) pass a limit of t */
static bool
quota_check(const struct quota_entry *e, const struct conf_tenant *t,
    unsigned msgs, unsigned rcpts, int64_t now, struct quota_denial *d)
{
	const unsigned mlim[2] = { t->messages_per_hour, t->messages_per_day };
	const unsigned rlim[2] = { t->recipients_per_hour,
	    t->recipients_per_day };

	/* the message limits first: a refused message says so */
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 2; i++) {
			unsigned lim = k == 0 ? mlim[i] : rlim[i];
			uint64_t used = k == 0 ?
			    e->win[i].messages + e->res_messages :
			    e->win[i].recipients + e->res_recipients;
			unsigned ask = k == 0 ? msgs : rcpts;

			if (lim == 0 || ask == 0 || used + ask <= lim)
				continue;
			d->kind = k == 0 ? QUOTA_MESSAGES : QUOTA_RECIPIENTS;
			d->period = quota_periods[i];
			d->limit = lim;
			d->retry_after = e->win[i].start +
			    (int64_t)quota_periods[i] - now;
			if (d->retry_after < 1)
				d->retry_after = 1;
			snprintf(d->key, sizeof(d->key), "%s_per_%s",
			    k == 0 ? "messages" : "recipients",
			    i == 0 ? "hour" : "day");
			return false;
		}
	return true;
}

int
quota_reserve(const struct conf_tenant *t, unsigned msgs, unsigned rcpts,
    int64_t now, struct quota_denial *d)
{
	struct quota_entry *e;
	int rc = 0;

	memset(d, 0, sizeof(*d));
	pthread_mutex_lock(&quota_lock);
	if ((e = quota_find(t->name, true)) != NULL) {
		quota_roll(e, now);
		if (!quota_check(e, t, msgs, rcpts, now, d))
			rc = -1;
		else {
			e->res_messages += msgs;
			e->res_recipients += rcpts;
		}
	}
	pthread_mutex_unlock(&quota_lock);
	return rc;
}

void
quota_reserve_force(const char *tenant, unsigned msgs, unsigned rcpts)
{
	struct quota_entry *e;

	pthread_mutex_lock(&quota_lock);
	if ((e = quota_find(tenant, true)) != NULL) {
		e->res_messages += msgs;
		e->res_recipients += rcpts;
	}
	pthread_mutex_unlock(&quota_lock);
}

void
quota_denial_fill(const struct conf_tenant *t, int i, int64_t now,
    struct quota_denial *d)
{
	const unsigned lim[4] = { t->messages_per_hour, t->messages_per_day,
	    t->recipients_per_hour, t->recipients_per_day };
	unsigned period;

	if (i < 0 || i > 3)
		i = 0;
	period = quota_periods[i % 2];
	memset(d, 0, sizeof(*d));
	d->kind = i < 2 ? QUOTA_MESSAGES : QUOTA_RECIPIENTS;
	d->period = period;
	d->limit = lim[i];
	d->retry_after = quota_window(period, now) + (int64_t)period - now;
	if (d->retry_after < 1)
		d->retry_after = 1;
	snprintf(d->key, sizeof(d->key), "%s_per_%s", i < 2 ? "messages" :
	    "recipients", i % 2 == 0 ? "hour" : "day");
}

/* quota_unreserve - take a reservation off, never below zero (a tenant
   added by a reload while a message was on its way held none); lock
   held */
static void
quota_unreserve(struct quota_entry *e, unsigned msgs, unsigned rcpts)
{
	e->res_messages -= msgs < e->res_messages ? msgs : e->res_messages;
	e->res_recipients -= rcpts < e->res_recipients ? rcpts :
	    e->res_recipients;
}

void
quota_release(const char *tenant, unsigned msgs, unsigned rcpts)
{
	struct quota_entry *e;

	pthread_mutex_lock(&quota_lock);
	if ((e = quota_find(tenant, false)) != NULL)
		quota_unreserve(e, msgs, rcpts);
	pthread_mutex_unlock(&quota_lock);
}

void
quota_commit(const char *tenant, unsigned msgs, unsigned rcpts,
    int64_t arrival)
{
	struct quota_entry *e;

	pthread_mutex_lock(&quota_lock);
	if ((e = quota_find(tenant, true)) != NULL) {
		quota_unreserve(e, msgs, rcpts);
		for (int i = 0; i < 2; i++) {
			int64_t w = quota_window(quota_periods[i], arrival);

			if (w > e->win[i].start) {
				e->win[i].start = w;
				e->win[i].messages = e->win[i].recipients = 0;
			}
			if (w == e->win[i].start) {
				e->win[i].messages += msgs;
				e->win[i].recipients += rcpts;
			}
		}
	}
	pthread_mutex_unlock(&quota_lock);
}

void
quota_seed(const char *tenant, unsigned period, int64_t window_start,
    uint64_t msgs, uint64_t rcpts)
{
	struct quota_entry *e;
	int i = period == QUOTA_HOUR ? 0 : period == QUOTA_DAY ? 1 : -1;

	if (i == -1)
		return;
	pthread_mutex_lock(&quota_lock);
	if ((e = quota_find(tenant, true)) != NULL &&
	    window_start >= e->win[i].start) {
		e->win[i].start = window_start;
		e->win[i].messages = msgs;
		e->win[i].recipients = rcpts;
	}
	pthread_mutex_unlock(&quota_lock);
}

void
quota_get(const char *tenant, int64_t now, struct quota_usage *out)
{
	struct quota_entry *e;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&quota_lock);
	if ((e = quota_find(tenant, false)) != NULL) {
		for (int i = 0; i < 2; i++)
			if (e->win[i].start ==
			    quota_window(quota_periods[i], now)) {
				out->messages[i] = e->win[i].messages;
				out->recipients[i] = e->win[i].recipients;
			}
		out->reserved_messages = e->res_messages;
		out->reserved_recipients = e->res_recipients;
	}
	pthread_mutex_unlock(&quota_lock);
}

void
quota_text(const char *tenant, const struct quota_denial *d, char *out,
    size_t n)
{
	snprintf(out, n, "tenant %s has reached its limit of %u %s per %s;"
	    " try again later", tenant, d->limit, d->kind == QUOTA_MESSAGES ?
	    "messages" : "recipients", d->period == QUOTA_HOUR ? "hour" :
	    "day");
}

void
quota_reset(void)
{
	pthread_mutex_lock(&quota_lock);
	for (size_t b = 0; b < QUOTA_BUCKETS; b++) {
		struct quota_entry *e;

		while ((e = quota_table[b]) != NULL) {
			quota_table[b] = e->next;
			free(e);
		}
	}
	quota_n = 0;
	quota_full_logged = false;
	pthread_mutex_unlock(&quota_lock);
}
