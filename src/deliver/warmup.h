/* SPDX-License-Identifier: ISC */
/*
 * warmup.h - the messages each outbound source address sent today (UTC),
 * for the warm-up schedule of its [pool] (docs/shaping.md). Shared by
 * every worker: one small table under a lock, one entry per address of
 * the configured pools.
 *
 * Counts live in memory: a restart starts the day's count again.
 */
#ifndef RELAIS_DELIVER_WARMUP_H
#define RELAIS_DELIVER_WARMUP_H

#include <stdbool.h>
#include <stdint.h>

/* warmup_take - count one message from addr if fewer than allowance were
   counted on now's UTC day; false when the day's allowance is spent */
bool	warmup_take(const char *addr, uint64_t allowance, int64_t now);
/* warmup_sent - messages counted for addr on now's day */
uint64_t warmup_sent(const char *addr, int64_t now);
/* warmup_reset - forget every count (tests, and at exit) */
void	warmup_reset(void);

#endif
