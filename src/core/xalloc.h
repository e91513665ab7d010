/* SPDX-License-Identifier: ISC */
/*
 * xalloc.h - allocation that aborts on exhaustion.
 *
 * Anything whose size a client controls is bounded before it reaches
 * these (struct buf's max, config limits), so failing here means the
 * machine is out of memory and aborting is the honest answer.
 */
#ifndef RELAIS_CORE_XALLOC_H
#define RELAIS_CORE_XALLOC_H

#include <stddef.h>

void	*xmalloc(size_t size);
void	*xcalloc(size_t nmemb, size_t size);
void	*xreallocarray(void *ptr, size_t nmemb, size_t size);
char	*xstrdup(const char *s);
char	*xstrndup(const char *s, size_t n);

#endif
