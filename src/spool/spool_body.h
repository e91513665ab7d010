/* SPDX-License-Identifier: ISC */
/*
 * spool_body.h - a message body while DATA streams in: kept in memory up
 * to a threshold, then spilled to DATA_DIR/spool/bodies/QID.
 *
 * The session thread only writes (no fsync); the spool thread fsyncs the
 * file and its directory before the commit that names it, so a body is on
 * disk before its 250. Owned by one thread at a time: the session until it
 * submits the message, then the spool.
 */
#ifndef RELAIS_SPOOL_BODY_H
#define RELAIS_SPOOL_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct spool_body {
	struct buf	 mem;		/* body while small */
	int		 fd;		/* body file once spilled, else -1 */
	char		*path;		/* its path, else NULL */
	uint64_t	 size;		/* octets written in all */
	size_t		 threshold;	/* spill beyond this many octets */
};

void	spool_body_init(struct spool_body *b, size_t threshold);
/* spool_body_write - append; spills to dir/qid when past threshold */
int	spool_body_write(struct spool_body *b, const char *dir,
	    const char *qid, const void *p, size_t n, struct err *err);
/* spool_body_sync - fsync the body file if there is one */
int	spool_body_sync(struct spool_body *b, struct err *err);
/* spool_body_release - close the file, keep it on disk, free memory */
void	spool_body_release(struct spool_body *b);
/* spool_body_discard - close and unlink the file, free memory */
void	spool_body_discard(struct spool_body *b);
/* spool_body_path - path of the body file of qid under dir (static size) */
void	spool_body_path(char *out, size_t outlen, const char *dir,
	    const char *qid);

#endif
