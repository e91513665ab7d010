/* SPDX-License-Identifier: ISC */
/*
 * id.c - queue ids and counters; see id.h.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/id.h"

static atomic_uint_fast64_t id_counter = 1;
static atomic_uint_fast32_t id_qid_counter;
static atomic_uint id_node;	/* 8 bits */

unsigned
id_node_tag(const char *node)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)node; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return (unsigned)((h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24)) & 0xff);
}

void
id_set_tag(unsigned tag)
{
	atomic_store(&id_node, tag & 0xff);
}

unsigned
id_tag(void)
{
	return atomic_load(&id_node);
}

unsigned
id_qid_tag(const char *qid)
{
	unsigned t = 0;

	for (int i = 11; i < 13; i++) {
		char c = qid[i];

		t = t * 16 + (unsigned)(c >= 'a' ? c - 'a' + 10 : c - '0');
	}
	return t;
}

void
id_qid_new(char out[ID_QID_LEN + 1])
{
	struct timespec ts;
	uint64_t usec;
	uint32_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	n = atomic_fetch_add(&id_qid_counter, 1) & 0xfff;
	snprintf(out, ID_QID_LEN + 1, "%011llx%02x%03x",
	    (unsigned long long)(usec & 0xfffffffffffULL), id_tag(),
	    (unsigned)n);
}

bool
id_qid_valid(const char *s)
{
	if (strlen(s) != ID_QID_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

uint64_t
id_next(void)
{
	return atomic_fetch_add(&id_counter, 1);
}
