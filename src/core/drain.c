/* SPDX-License-Identifier: ISC */
/*
 * drain.c - the draining flag of drain.h.
 */
#include <stdatomic.h>

#include "core/drain.h"

static atomic_bool drain_flag;

void
drain_start(void)
{
	atomic_store(&drain_flag, true);
}

bool
drain_active(void)
{
	return atomic_load(&drain_flag);
}
