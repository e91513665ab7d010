/* SPDX-License-Identifier: ISC */
/*
 * buf.h - owning, growable, binary-safe byte buffer with a hard cap.
 *
 * A buf always keeps a NUL after len, so data can be handed to C APIs.
 * It refuses to grow past max (returns -1), so no client can make it
 * unbounded. Appending may move data: never keep a char * into a buf
 * across an append.
 */
#ifndef RELAIS_CORE_BUF_H
#define RELAIS_CORE_BUF_H

#include <stddef.h>

#include "core/str.h"

struct buf {
	char	*data;		/* NUL-terminated at len; NULL until first use */
	size_t	 len;		/* bytes in use */
	size_t	 cap;		/* allocated bytes, excluding the guard NUL */
	size_t	 max;		/* hard cap on len; 0 = SIZE_MAX */
};

/* buf_init - empty buffer that will refuse to hold more than max bytes */
void	buf_init(struct buf *b, size_t max);
/* buf_fini - free the storage; b may be reused after buf_init */
void	buf_fini(struct buf *b);
/* buf_reserve - room for n more bytes; -1 if that passes max */
int	buf_reserve(struct buf *b, size_t n);
int	buf_append(struct buf *b, const void *p, size_t n);
int	buf_append_str(struct buf *b, struct str s);
int	buf_puts(struct buf *b, const char *s);
int	buf_appendf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* buf_reset - forget the contents, keep the storage */
void	buf_reset(struct buf *b);
/* buf_steal - hand the storage (NUL-terminated) to the caller; b is empty */
char	*buf_steal(struct buf *b, size_t *len_out);
/* buf_read_file - append the whole file at path; -1 with err->msg
   "PATH: cannot open: ..." or "PATH: file too large ..." (past b->max) */
struct err;
int	buf_read_file(struct buf *b, const char *path, struct err *err);
/* buf_cstr - the contents as a C string ("" when empty) */
const char *buf_cstr(const struct buf *b);

static inline struct str
buf_str(const struct buf *b)
{
	return str_make(b->data ? b->data : "", b->len);
}

#endif
