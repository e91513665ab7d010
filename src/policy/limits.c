/* SPDX-License-Identifier: ISC */
/*
 * limits.c - the shared tables behind limits.h.
 *
 * Two hash tables under one mutex: client address -> (open connections,
 * connection-rate bucket, AUTH-failure ban) and user -> daily counter.
 * The lock is taken at connect, at close, on an AUTH failure and once per
 * message of an authenticated user, never per command. An entry goes as
 * soon as it holds nothing (no connection, bucket full again, no ban);
 * entries kept only for their timers are swept at most once a second
 * when a table is past half its bound, and a full table stops tracking
 * new rates and bans (connections are still counted) rather than grow.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "policy/limits.h"
#include "policy/ratelimit.h"

#define LIMITS_BUCKETS	4096

struct limits_ip {
	struct limits_ip	*next;
	unsigned		 count;		/* open connections */
	struct ratelimit_bucket	 rate;
	unsigned		 rate_per_minute;	/* as last configured */
	struct ratelimit_ban	 ban;
	unsigned		 ban_window, ban_max;
	char			 ip[];
};

struct limits_user {
	struct limits_user	*next;
	struct ratelimit_day	 day;
	char			 user[];
};

static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;
static struct limits_ip *limits_table[LIMITS_BUCKETS];
static struct limits_user *limits_users[LIMITS_BUCKETS];
static size_t limits_nips, limits_nusers;
static unsigned limits_total;
static double limits_last_sweep;

void
limits_init(void)
{
}

static double
limits_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned
limits_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % LIMITS_BUCKETS;
}

static bool
limits_ip_idle(const struct limits_ip *e, double now)
{
	return e->count == 0 &&
	    ratelimit_bucket_idle(&e->rate, e->rate_per_minute, now) &&
	    ratelimit_ban_idle(&e->ban, now, e->ban_window, e->ban_max);
}

/* limits_sweep - drop idle entries of both tables (lock held) */
static void
limits_sweep(double now)
{
	if (now - limits_last_sweep < 1.0)
		return;
	limits_last_sweep = now;
	for (size_t i = 0; i < LIMITS_BUCKETS; i++) {
		struct limits_ip **pp = &limits_table[i], *e;
		struct limits_user **up = &limits_users[i], *u;

		while ((e = *pp) != NULL) {
			if (limits_ip_idle(e, now)) {
				*pp = e->next;
				free(e);
				limits_nips--;
			} else {
				pp = &e->next;
			}
		}
		while ((u = *up) != NULL) {
			if (ratelimit_day_count(&u->day, now) == 0) {
				*up = u->next;
				free(u);
				limits_nusers--;
			} else {
				up = &u->next;
			}
		}
	}
}

/* limits_ip_get - ip's entry; created if create and there is room */
static struct limits_ip *
limits_ip_get(const char *ip, bool create, double now)
{
	struct limits_ip **pp = &limits_table[limits_hash(ip)], *e;

	for (e = *pp; e; e = e->next)
		if (strcmp(e->ip, ip) == 0)
			return e;
	if (!create)
		return NULL;
	if (limits_nips >= LIMITS_MAX_ENTRIES / 2)
		limits_sweep(now);
	if (limits_nips >= LIMITS_MAX_ENTRIES)
		return NULL;
	e = xcalloc(1, sizeof(*e) + strlen(ip) + 1);
	strcpy(e->ip, ip);
	e->next = *pp;
	*pp = e;
	limits_nips++;
	return e;
}

/* limits_ip_release - free ip's entry if it holds nothing (lock held) */
static void
limits_ip_release(struct limits_ip *e, double now)
{
	struct limits_ip **pp;

	if (!limits_ip_idle(e, now))
		return;
	for (pp = &limits_table[limits_hash(e->ip)]; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			free(e);
			limits_nips--;
			return;
		}
	}
}

enum limits_verdict
limits_connect(const char *ip, const struct conf *conf,
    unsigned *ban_left_out)
{
	struct limits_ip *e;
	enum limits_verdict v = LIMITS_OK;
	unsigned per_minute = conf->limits.connections_per_ip_per_minute;
	double now = limits_now();

	*ban_left_out = 0;
	pthread_mutex_lock(&limits_lock);
	e = limits_ip_get(ip, true, now);
	if (e != NULL)
		e->rate_per_minute = per_minute;
	if (e != NULL && (*ban_left_out = ratelimit_ban_left(&e->ban,
	    now)) > 0)
		v = LIMITS_BANNED;
	else if (limits_total >= conf->limits.max_connections)
		v = LIMITS_TOO_MANY;
	else if (e != NULL && e->count >= conf->limits.max_connections_per_ip)
		v = LIMITS_TOO_MANY_IP;
	else if (e != NULL && !ratelimit_bucket_take(&e->rate, per_minute,
	    now))
		v = LIMITS_RATE;
	if (v == LIMITS_OK && e != NULL)
		e->count++;
	if (v == LIMITS_OK)
		limits_total++;
	if (v != LIMITS_OK && e != NULL)
		limits_ip_release(e, now);
	pthread_mutex_unlock(&limits_lock);
	return v;
}

void
limits_disconnect(const char *ip)
{
	struct limits_ip *e;

	pthread_mutex_lock(&limits_lock);
	if ((e = limits_ip_get(ip, false, 0)) != NULL && e->count > 0) {
		e->count--;
		limits_ip_release(e, limits_now());
	}
	limits_total--;
	pthread_mutex_unlock(&limits_lock);
}

unsigned
limits_active(void)
{
	unsigned n;

	pthread_mutex_lock(&limits_lock);
	n = limits_total;
	pthread_mutex_unlock(&limits_lock);
	return n;
}

const char *
limits_verdict_name(enum limits_verdict v)
{
	switch (v) {
	case LIMITS_TOO_MANY:
		return "max_connections";
	case LIMITS_TOO_MANY_IP:
		return "max_connections_per_ip";
	case LIMITS_RATE:
		return "connections_per_ip_per_minute";
	case LIMITS_BANNED:
		return "auth_failures_per_ip";
	case LIMITS_OK:
		break;
	}
	return "none";
}

unsigned
limits_auth_failed(const char *ip, const struct conf *conf)
{
	struct limits_ip *e;
	unsigned len = 0;
	double now = limits_now();

	if (conf->limits.auth_failures_per_ip == 0)
		return 0;
	pthread_mutex_lock(&limits_lock);
	if ((e = limits_ip_get(ip, true, now)) != NULL) {
		e->ban_window = conf->limits.auth_failure_window;
		e->ban_max = conf->limits.auth_ban_max_time;
		len = ratelimit_ban_fail(&e->ban, now,
		    conf->limits.auth_failures_per_ip,
		    conf->limits.auth_failure_window,
		    conf->limits.auth_ban_time,
		    conf->limits.auth_ban_max_time);
	}
	pthread_mutex_unlock(&limits_lock);
	return len;
}

unsigned
limits_banned(const char *ip)
{
	struct limits_ip *e;
	unsigned left = 0;

	pthread_mutex_lock(&limits_lock);
	if ((e = limits_ip_get(ip, false, 0)) != NULL)
		left = ratelimit_ban_left(&e->ban, limits_now());
	pthread_mutex_unlock(&limits_lock);
	return left;
}

/* limits_user_get - user's entry (lower-case key); lock held */
static struct limits_user *
limits_user_get(const char *user, bool create, double now)
{
	char key[320];
	struct limits_user **pp, *u;
	size_t n;

	for (n = 0; user[n] && n < sizeof(key) - 1; n++)
		key[n] = (char)(user[n] >= 'A' && user[n] <= 'Z' ?
		    user[n] - 'A' + 'a' : user[n]);
	key[n] = '\0';
	pp = &limits_users[limits_hash(key)];
	for (u = *pp; u; u = u->next)
		if (strcmp(u->user, key) == 0)
			return u;
	if (!create)
		return NULL;
	if (limits_nusers >= LIMITS_MAX_ENTRIES / 2)
		limits_sweep(now);
	if (limits_nusers >= LIMITS_MAX_ENTRIES)
		return NULL;
	u = xcalloc(1, sizeof(*u) + n + 1);
	memcpy(u->user, key, n + 1);
	u->next = *pp;
	*pp = u;
	limits_nusers++;
	return u;
}

bool
limits_user_allowed(const char *user, const struct conf *conf)
{
	struct limits_user *u;
	bool ok = true;
	double now = limits_now();

	if (conf->limits.user_daily_limit == 0)
		return true;
	pthread_mutex_lock(&limits_lock);
	if ((u = limits_user_get(user, false, now)) != NULL)
		ok = ratelimit_day_count(&u->day, now) <
		    conf->limits.user_daily_limit;
	pthread_mutex_unlock(&limits_lock);
	return ok;
}

void
limits_user_sent(const char *user, const struct conf *conf)
{
	struct limits_user *u;
	double now = limits_now();

	if (conf->limits.user_daily_limit == 0)
		return;
	pthread_mutex_lock(&limits_lock);
	if ((u = limits_user_get(user, true, now)) != NULL)
		ratelimit_day_add(&u->day, now);
	pthread_mutex_unlock(&limits_lock);
}

void
limits_reset(void)
{
	pthread_mutex_lock(&limits_lock);
	limits_last_sweep = -1e18;
	for (size_t i = 0; i < LIMITS_BUCKETS; i++) {
		struct limits_ip *e;
		struct limits_user *u;

		while ((e = limits_table[i]) != NULL) {
			limits_table[i] = e->next;
			free(e);
		}
		while ((u = limits_users[i]) != NULL) {
			limits_users[i] = u->next;
			free(u);
		}
	}
	limits_nips = limits_nusers = 0;
	limits_total = 0;
	pthread_mutex_unlock(&limits_lock);
}
