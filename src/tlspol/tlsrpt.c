/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt.c - the TLS-RPT outcome counts of tlsrpt.h.
 *
 * One mutex guards a chained hash table of counted keys. A key is the
 * day (UTC) and every field a report groups by, each made printable
 * ASCII and cut to a bound, joined by 0x1f (which no field can then
 * hold) into one string: hashing and comparing a key is one pass.
 *
 * A success keeps only what its policy is (domain, type, strings; for a
 * TLSA policy also the MX host, whose records they are: RFC 8460 4.3
 * "mx-host"); a failure keeps its details too (RFC 8460 4.4).
 *
 * Bound: at most TLSRPT_MAX_ENTRIES distinct keys a day reach the
 * table. Since tlsrpt_drain empties it every few seconds, the keys of
 * the day are remembered apart, as 64-bit hashes in an open-addressed
 * set emptied when the day changes (at most 2 MB); a key that would be
 * the day's TLSRPT_MAX_ENTRIES + 1st is dropped, and the drops are
 * logged once a minute at most and at the day's end.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "tlspol/tlsrpt.h"

#define TLSRPT_SEP		'\x1f'
#define TLSRPT_DOMAIN_MAX	255
#define TLSRPT_IP_MAX		64
#define TLSRPT_DETAIL_MAX	256
#define TLSRPT_POLICY_MAX	8192	/* the joined policy strings */
#define TLSRPT_BUCKETS_MIN	256
#define TLSRPT_DROP_LOG		60	/* seconds between drop logs */

struct tlsrpt_entry {
	struct tlsrpt_entry	*next;
	uint64_t		 hash;
	uint64_t		 count;
	size_t			 len;
	char			 key[];
};

struct tlsrpt {
	pthread_mutex_t		 lock;
	struct tlsrpt_entry	**buckets;
	size_t			 nbuckets;	/* a power of two */
	size_t			 n;
	/* the day's keys, for the bound: hashes, 0 = empty slot */
	char			 day[11];
	uint64_t		*seen;
	size_t			 nseen, seen_cap;	/* cap: power of two */
	uint64_t		 dropped;	/* this day, not yet logged */
	uint64_t		 dropped_day;	/* this day, all */
	time_t			 drop_logged;
};

struct tlsrpt *
tlsrpt_new(void)
{
	struct tlsrpt *t = xcalloc(1, sizeof(*t));

	pthread_mutex_init(&t->lock, NULL);
	t->nbuckets = TLSRPT_BUCKETS_MIN;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	return t;
}

static void
tlsrpt_clear(struct tlsrpt *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct tlsrpt_entry *e, *next;

		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
		t->buckets[i] = NULL;
	}
	t->n = 0;
}

void
tlsrpt_free(struct tlsrpt *t)
{
	if (t == NULL)
		return;
	tlsrpt_clear(t);
	free(t->buckets);
	free(t->seen);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static uint64_t
tlsrpt_hash(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h == 0 ? 1 : h;
}

/*
 * tlsrpt_put - append s to key, printable ASCII (anything else becomes
 * '?'; LF kept when lf, between policy strings), at most max bytes,
 * lower case when lower; then the separator
 */
static void
tlsrpt_put(char *key, size_t *len, size_t cap, const char *s, size_t max,
    int lower, int lf)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0' && n < max && *len + 2 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n' && lf)
			;
		else if (c < 0x20 || c >= 0x7f)
			c = '?';
		else if (lower && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		key[(*len)++] = (char)c;
		n++;
	}
	key[(*len)++] = TLSRPT_SEP;
}

/* tlsrpt_today - the UTC day of now, YYYY-MM-DD */
static void
tlsrpt_today(char day[11])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(day, 11, "%Y-%m-%d", &tm);
}

/* tlsrpt_seen_add - with t->lock held: is h among the day's keys, or
   may it join them (true); false when the day has its bound */
static bool
tlsrpt_seen_add(struct tlsrpt *t, uint64_t h)
{
	size_t i;

	if (t->seen_cap == 0 || (t->nseen + 1) * 2 > t->seen_cap) {
		size_t cap = t->seen_cap ? t->seen_cap * 2 : 1024;
		uint64_t *old = t->seen, *seen;

		if (t->nseen >= TLSRPT_MAX_ENTRIES) {
			/* full: no growth, only a lookup */
			for (i = h & (t->seen_cap - 1); t->seen[i] != 0;
			    i = (i + 1) & (t->seen_cap - 1))
				if (t->seen[i] == h)
					return true;
			return false;
		}
		seen = xcalloc(cap, sizeof(*seen));
		for (size_t j = 0; j < t->seen_cap; j++) {
			if (old[j] == 0)
				continue;
			for (i = old[j] & (cap - 1); seen[i] != 0;
			    i = (i + 1) & (cap - 1))
				;
			seen[i] = old[j];
		}
		free(old);
		t->seen = seen;
		t->seen_cap = cap;
	}
	for (i = h & (t->seen_cap - 1); t->seen[i] != 0;
	    i = (i + 1) & (t->seen_cap - 1))
		if (t->seen[i] == h)
			return true;
	if (t->nseen >= TLSRPT_MAX_ENTRIES)
		return false;
	t->seen[i] = h;
	t->nseen++;
	return true;
}

/* tlsrpt_new_day - with t->lock held: the day's bound starts again */
static void
tlsrpt_new_day(struct tlsrpt *t, const char *day)
{
	if (t->dropped_day > 0)
		log_warnx("event=tlsrpt.dropped day=%s keys=%llu"
		    " reason=\"more than %d keys in a day\"", t->day,
		    (unsigned long long)t->dropped_day, TLSRPT_MAX_ENTRIES);
	memcpy(t->day, day, sizeof(t->day));
	free(t->seen);
	t->seen = NULL;
	t->nseen = t->seen_cap = 0;
	t->dropped = t->dropped_day = 0;
}

static void
tlsrpt_grow(struct tlsrpt *t)
{
	size_t n = t->nbuckets * 2;
	struct tlsrpt_entry **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < t->nbuckets; i++) {
		struct tlsrpt_entry *e, *next;

		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

void
tlsrpt_record(struct tlsrpt *t, const struct tlsrpt_outcome *o)
{
	enum { CAP = 16 + TLSRPT_DOMAIN_MAX * 2 + TLSRPT_POLICY_MAX +
	    TLSRPT_IP_MAX * 2 + TLSRPT_DETAIL_MAX + 32 };
	char *key, day[11], num[16];
	size_t len = 0, plen;
	struct tlsrpt_entry *e;
	bool ok = o->result == TLS_R_OK;
	uint64_t h;

	if (t == NULL || o == NULL || o->policy_domain == NULL ||
	    o->policy_domain[0] == '\0' || (unsigned)o->result >= TLS_R_COUNT)
		return;
	key = xmalloc(CAP);
	tlsrpt_today(day);
	tlsrpt_put(key, &len, CAP, day, 10, 0, 0);
	tlsrpt_put(key, &len, CAP, o->policy_domain, TLSRPT_DOMAIN_MAX, 1, 0);
	snprintf(num, sizeof(num), "%d", (int)o->policy_type);
	tlsrpt_put(key, &len, CAP, num, sizeof(num), 0, 0);
	/* the policy strings, LF between them */
	plen = len;
	for (size_t i = 0; o->policy_type != TLSRPT_POLICY_NONE &&
	    i < o->npolicy_strings; i++) {
		if (i > 0)
			key[len - 1] = '\n';
		tlsrpt_put(key, &len, CAP, o->policy_strings[i],
		    TLSRPT_POLICY_MAX - (len - plen), 0, 0);
		if (len - plen >= TLSRPT_POLICY_MAX)
			break;
	}
	if (len == plen)
		key[len++] = TLSRPT_SEP;
	tlsrpt_put(key, &len, CAP, ok && o->policy_type != TLSRPT_POLICY_TLSA ?
	    NULL : o->mx_host, TLSRPT_DOMAIN_MAX, 1, 0);
	tlsrpt_put(key, &len, CAP, ok ? NULL : o->sending_ip, TLSRPT_IP_MAX,
	    1, 0);
	tlsrpt_put(key, &len, CAP, ok ? NULL : o->receiving_ip, TLSRPT_IP_MAX,
	    1, 0);
	snprintf(num, sizeof(num), "%d", (int)o->result);
	tlsrpt_put(key, &len, CAP, num, sizeof(num), 0, 0);
	tlsrpt_put(key, &len, CAP, ok ? NULL : o->detail, TLSRPT_DETAIL_MAX,
	    0, 0);
	len--;	/* no separator after the last field */
	h = tlsrpt_hash(key, len);

	pthread_mutex_lock(&t->lock);
	if (strcmp(t->day, day) != 0)
		tlsrpt_new_day(t, day);
	for (e = t->buckets[h & (t->nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == h && e->len == len &&
		    memcmp(e->key, key, len) == 0)
			break;
	if (e != NULL) {
		e->count++;
	} else if (!tlsrpt_seen_add(t, h)) {
		time_t now = time(NULL);

		t->dropped++;
		t->dropped_day++;
		if (now - t->drop_logged >= TLSRPT_DROP_LOG) {
			log_warnx("event=tlsrpt.dropped day=%s keys=%llu"
			    " reason=\"more than %d keys in a day\"", day,
			    (unsigned long long)t->dropped,
			    TLSRPT_MAX_ENTRIES);
			t->dropped = 0;
			t->drop_logged = now;
		}
	} else {
		if (t->n + 1 > t->nbuckets)
			tlsrpt_grow(t);
		e = xmalloc(sizeof(*e) + len + 1);
		e->hash = h;
		e->count = 1;
		e->len = len;
		memcpy(e->key, key, len);
		e->key[len] = '\0';
		e->next = t->buckets[h & (t->nbuckets - 1)];
		t->buckets[h & (t->nbuckets - 1)] = e;
		t->n++;
	}
	pthread_mutex_unlock(&t->lock);
	free(key);
}

/* tlsrpt_field - the next field of a key, malloc'd; *p moves past it */
static char *
tlsrpt_field(const char **p)
{
	const char *s = *p, *end = strchr(s, TLSRPT_SEP);
	size_t n = end ? (size_t)(end - s) : strlen(s);

	*p = end ? end + 1 : s + n;
	return xstrndup(s, n);
}

/* tlsrpt_count_from - a key split back into its count */
static void
tlsrpt_count_from(const struct tlsrpt_entry *e, struct tlsrpt_count *c)
{
	const char *p = e->key;
	char *f;

	f = tlsrpt_field(&p);
	snprintf(c->day, sizeof(c->day), "%s", f);
	free(f);
	c->policy_domain = tlsrpt_field(&p);
	f = tlsrpt_field(&p);
	c->policy_type = (enum tlsrpt_policy)atoi(f);
	free(f);
	c->policy = tlsrpt_field(&p);
	c->mx_host = tlsrpt_field(&p);
	c->sending_ip = tlsrpt_field(&p);
	c->receiving_ip = tlsrpt_field(&p);
	f = tlsrpt_field(&p);
	c->result = (enum tls_result)atoi(f);
	free(f);
	c->detail = tlsrpt_field(&p);
	c->count = e->count;
}

struct tlsrpt_count *
tlsrpt_drain(struct tlsrpt *t, size_t *n)
{
	struct tlsrpt_entry **old;
	struct tlsrpt_count *c;
	size_t nold, k = 0;

	*n = 0;
	if (t == NULL)
		return NULL;
	/* take the table and leave an empty one: the copies are made
	   outside the lock */
	pthread_mutex_lock(&t->lock);
	if (t->n == 0) {
		pthread_mutex_unlock(&t->lock);
		return NULL;
	}
	old = t->buckets;
	nold = t->nbuckets;
	*n = t->n;
	t->nbuckets = TLSRPT_BUCKETS_MIN;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	t->n = 0;
	pthread_mutex_unlock(&t->lock);

	c = xcalloc(*n, sizeof(*c));
	for (size_t i = 0; i < nold; i++) {
		struct tlsrpt_entry *e, *next;

		for (e = old[i]; e != NULL; e = next) {
			next = e->next;
			tlsrpt_count_from(e, &c[k++]);
			free(e);
		}
	}
	free(old);
	return c;
}

void
tlsrpt_counts_free(struct tlsrpt_count *c, size_t n)
{
	for (size_t i = 0; c != NULL && i < n; i++) {
		free(c[i].policy_domain);
		free(c[i].policy);
		free(c[i].mx_host);
		free(c[i].sending_ip);
		free(c[i].receiving_ip);
		free(c[i].detail);
	}
	free(c);
}
