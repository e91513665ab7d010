/* SPDX-License-Identifier: ISC */
/*
 * warmup.c - today's messages per source address; see warmup.h.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "deliver/warmup.h"

/* addresses counted at most: pools are configured by hand, so a table
   this large is never reached; past it, addresses go uncounted (sent) */
#define WARMUP_MAX	4096

struct warmup_entry {
	char		addr[64];
	int64_t		day;
	uint64_t	sent;
};

static pthread_mutex_t	 warmup_lock = PTHREAD_MUTEX_INITIALIZER;
static struct warmup_entry *warmup_v;
static size_t		 warmup_n;

/* warmup_get - addr's entry, made when missing; NULL when full. Locked */
static struct warmup_entry *
warmup_get(const char *addr, int64_t day)
{
	struct warmup_entry *e;

	for (size_t i = 0; i < warmup_n; i++)
		if (strcmp(warmup_v[i].addr, addr) == 0) {
			e = &warmup_v[i];
			if (e->day != day) {
				e->day = day;
				e->sent = 0;
			}
			return e;
		}
	if (warmup_n >= WARMUP_MAX || strlen(addr) >= sizeof(e->addr))
		return NULL;
	warmup_v = xreallocarray(warmup_v, warmup_n + 1, sizeof(*warmup_v));
	e = &warmup_v[warmup_n++];
	memset(e, 0, sizeof(*e));
	strcpy(e->addr, addr);
	e->day = day;
	return e;
}

bool
warmup_take(const char *addr, uint64_t allowance, int64_t now)
{
	struct warmup_entry *e;
	bool ok = true;

	if (allowance == UINT64_MAX)
		return true;
	pthread_mutex_lock(&warmup_lock);
	if ((e = warmup_get(addr, now / 86400)) != NULL) {
		if (e->sent >= allowance)
			ok = false;
		else
			e->sent++;
	}
	pthread_mutex_unlock(&warmup_lock);
	return ok;
}

uint64_t
warmup_sent(const char *addr, int64_t now)
{
	struct warmup_entry *e;
	uint64_t n = 0;

	pthread_mutex_lock(&warmup_lock);
	if ((e = warmup_get(addr, now / 86400)) != NULL)
		n = e->sent;
	pthread_mutex_unlock(&warmup_lock);
	return n;
}

void
warmup_reset(void)
{
	pthread_mutex_lock(&warmup_lock);
	free(warmup_v);
	warmup_v = NULL;
	warmup_n = 0;
	pthread_mutex_unlock(&warmup_lock);
}
