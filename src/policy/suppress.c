/* SPDX-License-Identifier: ISC */
/*
 * suppress.c - the set behind suppress.h: a chained hash table of
 * address strings under a read-write lock (lookups at every RCPT,
 * changes rare).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "policy/suppress.h"

#define SUPPRESS_BUCKETS	65536
#define SUPPRESS_ADDR_MAX	512

struct suppress_entry {
	struct suppress_entry	*next;
	char			 addr[];
};

static pthread_rwlock_t suppress_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct suppress_entry **suppress_table;
static size_t suppress_n;

void
suppress_key(const char *addr, char *out, size_t n)
{
	const char *at = strrchr(addr, '@');
	size_t i;

	snprintf(out, n, "%s", addr);
	if (at == NULL)
		return;
	for (i = (size_t)(at - addr); i < n && out[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
}

static size_t
suppress_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)(h % SUPPRESS_BUCKETS);
}

static struct suppress_entry **
suppress_find(const char *key)
{
	struct suppress_entry **pp;

	if (suppress_table == NULL)
		return NULL;
	for (pp = &suppress_table[suppress_hash(key)]; *pp;
	    pp = &(*pp)->next)
		if (strcmp((*pp)->addr, key) == 0)
			return pp;
	return NULL;
}

bool
suppress_contains(const char *addr)
{
	char key[SUPPRESS_ADDR_MAX];
	bool found;

	suppress_key(addr, key, sizeof(key));
	pthread_rwlock_rdlock(&suppress_lock);
	found = suppress_n > 0 && suppress_find(key) != NULL;
	pthread_rwlock_unlock(&suppress_lock);
	return found;
}

/* suppress_insert - with the write lock held */
static void
suppress_insert(const char *addr)
{
	char key[SUPPRESS_ADDR_MAX];
	struct suppress_entry *e;
	size_t h, len;

	suppress_key(addr, key, sizeof(key));
	len = strlen(key) + 1;
	if (suppress_table == NULL)
		suppress_table = xcalloc(SUPPRESS_BUCKETS,
		    sizeof(*suppress_table));
	if (suppress_find(key) == NULL) {
		e = xmalloc(sizeof(*e) + len);
		memcpy(e->addr, key, len);
		h = suppress_hash(key);
		e->next = suppress_table[h];
		suppress_table[h] = e;
		suppress_n++;
	}
}

void
suppress_add(const char *addr)
{
	pthread_rwlock_wrlock(&suppress_lock);
	suppress_insert(addr);
	pthread_rwlock_unlock(&suppress_lock);
}

void
suppress_remove(const char *addr)
{
	char key[SUPPRESS_ADDR_MAX];
	struct suppress_entry **pp, *e;

	suppress_key(addr, key, sizeof(key));
	pthread_rwlock_wrlock(&suppress_lock);
	if ((pp = suppress_find(key)) != NULL) {
		e = *pp;
		*pp = e->next;
		free(e);
		suppress_n--;
	}
	pthread_rwlock_unlock(&suppress_lock);
}

/* suppress_empty - with the write lock held */
static void
suppress_empty(void)
{
	struct suppress_entry *e;

	for (size_t i = 0; suppress_table != NULL && i < SUPPRESS_BUCKETS;
	    i++) {
		while ((e = suppress_table[i]) != NULL) {
			suppress_table[i] = e->next;
			free(e);
		}
	}
	free(suppress_table);
	suppress_table = NULL;
	suppress_n = 0;
}

void
suppress_clear(void)
{
	pthread_rwlock_wrlock(&suppress_lock);
	suppress_empty();
	pthread_rwlock_unlock(&suppress_lock);
}

void
suppress_replace(char *const *v, size_t n)
{
	pthread_rwlock_wrlock(&suppress_lock);
	suppress_empty();
	for (size_t i = 0; i < n; i++)
		suppress_insert(v[i]);
	pthread_rwlock_unlock(&suppress_lock);
}

void
suppress_list_fini(struct suppress_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

size_t
suppress_count(void)
{
	size_t n;

	pthread_rwlock_rdlock(&suppress_lock);
	n = suppress_n;
	pthread_rwlock_unlock(&suppress_lock);
	return n;
}
