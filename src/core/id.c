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

void
id_qid_new(char out[ID_QID_LEN + 1])
{
	struct timespec ts;
	uint64_t usec;
	uint32_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	n = atomic_fetch_add(&id_qid_counter, 1) & 0xfffff;
	snprintf(out, ID_QID_LEN + 1, "%011llx%05x",
	    (unsigned long long)(usec & 0xfffffffffffULL), (unsigned)n);
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
