/* SPDX-License-Identifier: ISC */
/*
 * spool_reader.c - a read-only connection to the spool for threads other
 * than the queue manager's: the delivery pool reads the text of the
 * messages it delivers through one of these. See spool.h.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sys.h"
#include "core/xalloc.h"
#include "spool/spool.h"
#include "spool/spool_int.h"

struct spool_reader *
spool_reader_open(const char *data_dir, struct err *err)
{
	struct spool_reader *rd = xcalloc(1, sizeof(*rd));
	size_t n = strlen(data_dir) + 32;
	char *path = xmalloc(n);

	snprintf(path, n, "%s/spool/queue.db", data_dir);
	rd->body_dir = xmalloc(n);
	snprintf(rd->body_dir, n, "%s/spool/bodies", data_dir);
	if (sqlite3_open_v2(path, &rd->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(rd->db, "SELECT prefix, body FROM messages"
	    " WHERE id = ?1", -1, &rd->body, NULL) != SQLITE_OK) {
		err_set(err, 0, "open %s: %s", path,
		    rd->db ? sqlite3_errmsg(rd->db) : "out of memory");
		free(path);
		spool_reader_close(rd);
		return NULL;
	}
	sqlite3_busy_timeout(rd->db, 10000);
	free(path);
	return rd;
}

void
spool_reader_close(struct spool_reader *rd)
{
	if (rd == NULL)
		return;
	sqlite3_finalize(rd->body);
	sqlite3_close(rd->db);
	free(rd->body_dir);
	free(rd);
}

int
spool_reader_text(struct spool_reader *rd, int64_t msg_id, const char *qid,
    bool body_file, char **data, size_t *len, struct err *err)
{
	sqlite3_stmt *st = rd->body;
	char path[4096];
	struct stat sb;
	int fd = -1, rc;
	size_t off, plen = 0, blen = 0;
	const void *prefix = NULL, *blob = NULL;
	char *p;

	*data = NULL;
	*len = 0;
	/* the prefix (our header fields), then the text: blob or file */
	sqlite3_bind_int64(st, 1, msg_id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return err_set(err, rc, "cannot read the spooled message: %s",
		    rc == SQLITE_DONE ? "not found" : sqlite3_errmsg(rd->db));
	}
	prefix = sqlite3_column_blob(st, 0);
	plen = (size_t)sqlite3_column_bytes(st, 0);
	if (!body_file) {
		blob = sqlite3_column_blob(st, 1);
		blen = (size_t)sqlite3_column_bytes(st, 1);
	} else {
		spool_body_path(path, sizeof(path), rd->body_dir, qid);
		if ((fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0)) == -1 ||
		    fstat(fd, &sb) == -1) {
			err_set(err, errno, "cannot read the spooled body: %s",
			    strerror(errno));
			if (fd != -1)
				close(fd);
			sqlite3_reset(st);
			return -1;
		}
		blen = (size_t)sb.st_size;
	}
	p = xmalloc(plen + blen + 1);
	if (plen > 0)
		memcpy(p, prefix, plen);
	if (blob != NULL && blen > 0)
		memcpy(p + plen, blob, blen);
	sqlite3_reset(st);
	for (off = 0; fd != -1 && off < blen;) {
		ssize_t r = read(fd, p + plen + off, blen - off);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			err_set(err, r == 0 ? 0 : errno, "cannot read the"
			    " spooled body: %s", r == 0 ? "short file" :
			    strerror(errno));
			close(fd);
			free(p);
			return -1;
		}
		off += (size_t)r;
	}
	if (fd != -1)
		close(fd);
	p[plen + blen] = '\0';
	*data = p;
	*len = plen + blen;
	return 0;
}
