/* SPDX-License-Identifier: ISC */
/*
 * backoff.c - destinations backing off, a small hash table by name
 * (ASCII case-insensitive); see backoff.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xalloc.h"
#include "queue/backoff.h"

struct backoff_entry {
	struct backoff_entry	*next;
	int64_t			 until;		/* unix time */
	bool			 throttled;	/* its site is suspended */
	char			 site[128];	/* that site, or "" */
	char			 dest[];	/* domain, or "[smarthost]" */
};

static unsigned
backoff_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)(*s | 0x20)) * 16777619u;
	return h % BACKOFF_BUCKETS;
}

const char *
backoff_key(bool smarthost, const char *addr)
{
	const char *at;

	if (smarthost)
		return "[smarthost]";
	at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

int64_t
backoff_until(const struct backoff_table *t, const char *dest, int64_t now,
    bool *throttled, const char **site)
{
	*throttled = false;
	*site = "";
	if (t->n == 0)
		return 0;
	for (const struct backoff_entry *b = t->buckets[backoff_hash(dest)];
	    b; b = b->next)
		if (strcasecmp(b->dest, dest) == 0) {
			*throttled = b->throttled;
			*site = b->site;
			return b->until > now ? b->until : 0;
		}
	return 0;
}

void
backoff_set(struct backoff_table *t, const char *dest, int64_t until,
    bool throttled, const char *site)
{
	struct backoff_entry **pp = &t->buckets[backoff_hash(dest)], *b;
	size_t n;

	for (; (b = *pp) != NULL; pp = &b->next)
		if (strcasecmp(b->dest, dest) == 0)
			break;
	if (b != NULL) {
		if (until > 0) {
			b->until = until;
			b->throttled = throttled;
			snprintf(b->site, sizeof(b->site), "%s", site ? site : "");
			return;
		}
		*pp = b->next;
		free(b);
		t->n--;
		return;
	}
	if (until <= 0)
		return;
	n = strlen(dest) + 1;
	b = xmalloc(sizeof(*b) + n);
	memcpy(b->dest, dest, n);
	b->until = until;
	b->throttled = throttled;
	snprintf(b->site, sizeof(b->site), "%s", site ? site : "");
	b->next = NULL;
	*pp = b;
	t->n++;
}

void
backoff_expire(struct backoff_table *t, int64_t now, bool all)
{
	for (size_t i = 0; t->n > 0 && i < BACKOFF_BUCKETS; i++) {
		struct backoff_entry **pp = &t->buckets[i], *b;

		while ((b = *pp) != NULL) {
			if (all || b->until <= now) {
				*pp = b->next;
				free(b);
				t->n--;
			} else
				pp = &b->next;
		}
	}
}
