/* SPDX-License-Identifier: ISC */
/*
 * limits.c - connection counts, in total and per client address.
 *
 * A small hash table of address -> count under one mutex: taken once at
 * connect and once at close, never per command.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "policy/limits.h"

#define LIMITS_BUCKETS	4096

struct limits_ip {
	struct limits_ip	*next;
	unsigned		 count;
	char			 ip[];
};

static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;
static struct limits_ip *limits_table[LIMITS_BUCKETS];
static unsigned limits_total;

void
limits_init(void)
{
}

static unsigned
limits_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % LIMITS_BUCKETS;
}

enum limits_verdict
limits_connect(const char *ip, unsigned max_total, unsigned max_per_ip)
{
	struct limits_ip **pp, *e;
	enum limits_verdict v = LIMITS_OK;

	pthread_mutex_lock(&limits_lock);
	pp = &limits_table[limits_hash(ip)];
	for (e = *pp; e && strcmp(e->ip, ip) != 0; e = e->next)
		;
	if (max_total && limits_total >= max_total)
		v = LIMITS_TOO_MANY;
	else if (max_per_ip && e && e->count >= max_per_ip)
		v = LIMITS_TOO_MANY_IP;
	if (v == LIMITS_OK) {
		if (e == NULL) {
			e = xcalloc(1, sizeof(*e) + strlen(ip) + 1);
			strcpy(e->ip, ip);
			e->next = *pp;
			*pp = e;
		}
		e->count++;
		limits_total++;
	}
	pthread_mutex_unlock(&limits_lock);
	return v;
}

void
limits_disconnect(const char *ip)
{
	struct limits_ip **pp, *e;

	pthread_mutex_lock(&limits_lock);
	for (pp = &limits_table[limits_hash(ip)]; (e = *pp) != NULL;
	    pp = &e->next) {
		if (strcmp(e->ip, ip) != 0)
			continue;
		if (--e->count == 0) {
			*pp = e->next;
			free(e);
		}
		limits_total--;
		break;
	}
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
