/* SPDX-License-Identifier: ISC */
/*
 * spool_body.c - message bodies in memory or in a body file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sys.h"
#include "core/xalloc.h"
#include "spool/spool_body.h"

void
spool_body_init(struct spool_body *b, size_t threshold)
{
	buf_init(&b->mem, threshold);
	b->fd = -1;
	b->path = NULL;
	b->size = 0;
	b->threshold = threshold;
}

void
spool_body_path(char *out, size_t outlen, const char *dir, const char *qid)
{
	snprintf(out, outlen, "%s/%s", dir, qid);
}

static int
spool_body_full_write(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = sys_write(fd, p, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
spool_body_write(struct spool_body *b, const char *dir, const char *qid,
    const void *p, size_t n, struct err *err)
{
	char path[4096];

	if (b->fd == -1 && b->mem.len + n <= b->threshold) {
		if (buf_append(&b->mem, p, n) == -1)
			return err_set(err, 0, "body buffer full");
		b->size += n;
		return 0;
	}
	if (b->fd == -1) {
		spool_body_path(path, sizeof(path), dir, qid);
		b->fd = sys_open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (b->fd == -1)
			return err_set(err, errno, "create %s: %s", path,
			    strerror(errno));
		b->path = xstrdup(path);
		if (spool_body_full_write(b->fd, b->mem.data ? b->mem.data : "",
		    b->mem.len) == -1)
			return err_set(err, errno, "write %s: %s", path,
			    strerror(errno));
		buf_fini(&b->mem);
	}
	if (spool_body_full_write(b->fd, p, n) == -1)
		return err_set(err, errno, "write %s: %s", b->path,
		    strerror(errno));
	b->size += n;
	return 0;
}

int
spool_body_sync(struct spool_body *b, struct err *err)
{
	if (b->fd == -1)
		return 0;
	if (sys_fsync(b->fd) == -1)
		return err_set(err, errno, "fsync %s: %s", b->path,
		    strerror(errno));
	return 0;
}

void
spool_body_release(struct spool_body *b)
{
	if (b->fd != -1)
		close(b->fd);
	b->fd = -1;
	free(b->path);
	b->path = NULL;
	buf_fini(&b->mem);
}

void
spool_body_discard(struct spool_body *b)
{
	if (b->path != NULL)
		sys_unlink(b->path);
	spool_body_release(b);
}
