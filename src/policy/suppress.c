/* SPDX-License-Identifier: ISC */
/*
 * suppress.c - the set behind suppress.h: a chained hash table of
 * address strings under a read-write lock (lookups at every RCPT,
 * changes rare). Each entry knows whether the node's own list holds it
 * (local) or only the cluster's (shared).
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
	bool			 local;		/* the node's own list */
	bool			 shared;	/* learned from the cluster */
	bool			 mark;		/* suppress_replace's sweep */
	char			 addr[];
};

static pthread_rwlock_t suppress_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct suppress_entry **suppress_table;
static size_t suppress_n;
static bool suppress_loaded;		/* suppress_replace ran once */
static suppress_hook_fn *_Atomic suppress_hook;

void
suppress_set_hook(suppress_hook_fn *fn)
{
	suppress_hook = fn;
}

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

/* suppress_insert - with the write lock held; the entry (new or not) */
static struct suppress_entry *
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
	struct suppress_entry **pp = suppress_find(key);

	if (pp != NULL)
		return *pp;
	e = xcalloc(1, sizeof(*e) + len);
	memcpy(e->addr, key, len);
	h = suppress_hash(key);
	e->next = suppress_table[h];
	suppress_table[h] = e;
	suppress_n++;
	return e;
}

/* suppress_delete - with the write lock held: key gone, was it there */
static bool
suppress_delete(const char *key)
{
	struct suppress_entry **pp, *e;

	if ((pp = suppress_find(key)) == NULL)
		return false;
	e = *pp;
	*pp = e->next;
	free(e);
	suppress_n--;
	return true;
}

void
suppress_add(const char *addr)
{
	char key[SUPPRESS_ADDR_MAX];
	struct suppress_entry *e;
	suppress_hook_fn *hook = suppress_hook;
	bool added;

	suppress_key(addr, key, sizeof(key));
	pthread_rwlock_wrlock(&suppress_lock);
	e = suppress_insert(key);
	added = !e->local && !e->shared;
	e->local = true;
	pthread_rwlock_unlock(&suppress_lock);
	if (added && hook != NULL)
		hook(true, key);
}

void
suppress_remove(const char *addr)
{
	char key[SUPPRESS_ADDR_MAX];
	suppress_hook_fn *hook = suppress_hook;
	bool removed;

	suppress_key(addr, key, sizeof(key));
	pthread_rwlock_wrlock(&suppress_lock);
	removed = suppress_delete(key);
	pthread_rwlock_unlock(&suppress_lock);
	if (removed && hook != NULL)
		hook(false, key);
}

void
suppress_add_shared(const char *addr)
{
	pthread_rwlock_wrlock(&suppress_lock);
	suppress_insert(addr)->shared = true;
	pthread_rwlock_unlock(&suppress_lock);
}

void
suppress_remove_shared(const char *addr)
{
	char key[SUPPRESS_ADDR_MAX];

	suppress_key(addr, key, sizeof(key));
	pthread_rwlock_wrlock(&suppress_lock);
	(void)suppress_delete(key);
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
	suppress_loaded = false;
}

void
suppress_clear(void)
{
	pthread_rwlock_wrlock(&suppress_lock);
	suppress_empty();
	pthread_rwlock_unlock(&suppress_lock);
}

/* a change suppress_replace found, told to the hook after the lock */
struct suppress_change {
	struct suppress_change	*next;
	bool			 add;
	char			 key[];
};

static void
suppress_change_push(struct suppress_change **list, bool add, const char *key)
{
	size_t len = strlen(key) + 1;
	struct suppress_change *c = xmalloc(sizeof(*c) + len);

	c->add = add;
	memcpy(c->key, key, len);
	c->next = *list;
	*list = c;
}

void
suppress_replace(char *const *v, size_t n)
{
	suppress_hook_fn *hook = suppress_hook;
	struct suppress_change *changes = NULL, *c;
	struct suppress_entry *e, **pp;
	bool tell;

	pthread_rwlock_wrlock(&suppress_lock);
	tell = suppress_loaded && hook != NULL;
	suppress_loaded = true;
	for (size_t i = 0; suppress_table != NULL && i < SUPPRESS_BUCKETS; i++)
		for (e = suppress_table[i]; e; e = e->next)
			e->mark = false;
	for (size_t i = 0; i < n; i++) {
		e = suppress_insert(v[i]);
		if (tell && !e->local && !e->shared)
			suppress_change_push(&changes, true, e->addr);
		e->local = true;
		e->mark = true;
	}
	/* local entries the new list lacks go; shared-only ones stay */
	for (size_t i = 0; suppress_table != NULL && i < SUPPRESS_BUCKETS;
	    i++) {
		pp = &suppress_table[i];
		while ((e = *pp) != NULL) {
			if (e->mark || !e->local) {
				pp = &e->next;
				continue;
			}
			if (tell)
				suppress_change_push(&changes, false, e->addr);
			*pp = e->next;
			free(e);
			suppress_n--;
		}
	}
	pthread_rwlock_unlock(&suppress_lock);
	while ((c = changes) != NULL) {
		changes = c->next;
		hook(c->add, c->key);
		free(c);
	}
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
