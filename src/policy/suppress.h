/* SPDX-License-Identifier: ISC */
/*
 * suppress.h - the suppression list in memory: recipient addresses that
 * bounced for good and are not attempted again. The spool database holds
 * the list (table suppressions); the queue manager loads it at start,
 * adds what hard bounces teach it and reloads it when relais suppress
 * changed it (meta suppress_gen). Sessions and the HTTP API ask here at
 * RCPT time, without touching the database. Thread-safe.
 */
#ifndef RELAIS_POLICY_SUPPRESS_H
#define RELAIS_POLICY_SUPPRESS_H

#include <stdbool.h>
#include <stddef.h>

/* suppress_contains - is addr on the list (the domain compares
   case-insensitively, the local part exactly) */
bool	suppress_contains(const char *addr);
void	suppress_add(const char *addr);
void	suppress_remove(const char *addr);
/* a list of addresses being read */
struct suppress_list {
	char	**v;
	size_t	  n;
};
void	suppress_list_fini(struct suppress_list *l);
/* suppress_replace - the set becomes v[0..n) (copied), in one step */
void	suppress_replace(char *const *v, size_t n);
/* suppress_clear - forget every address (before a reload; tests) */
void	suppress_clear(void);
size_t	suppress_count(void);
/*
 * A cluster keeps the list shared (policy/cluster.c): the hook hears of
 * every change made here (an address added or removed, or the difference
 * a reload makes, but not the first load), called from the thread that
 * made it, outside the lock. Changes learned from the other nodes come
 * in through suppress_add_shared and suppress_remove_shared, which do
 * not call the hook; an address only learned so stays across a reload.
 */
typedef void suppress_hook_fn(bool add, const char *key);
void	suppress_set_hook(suppress_hook_fn *fn);
void	suppress_add_shared(const char *addr);
void	suppress_remove_shared(const char *addr);
/* suppress_key - addr with its domain lower-cased, as the list keeps it */
void	suppress_key(const char *addr, char *out, size_t n);

#endif
