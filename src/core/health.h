/* SPDX-License-Identifier: ISC */
/*
 * health.h - the checks behind GET /healthz: the spool directory takes a
 * new file, the file system has room, the queue manager runs.
 */
#ifndef RELAIS_CORE_HEALTH_H
#define RELAIS_CORE_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

struct buf;

/* a default for min_free_bytes */
#define HEALTH_MIN_FREE_DEFAULT	(100ULL * 1024 * 1024)

/*
 * health_check - check DATA_DIR/spool: a probe file created (O_EXCL),
 * written, closed and removed through core/sys.h (so a fault plan or a
 * read-only or full file system fails it), and statvfs's space available
 * to us at least min_free_bytes; qmgr_alive is the caller's word on the
 * queue manager. Appends one JSON object to out:
 *   {"status":"ok"|"fail","checks":{"spool_writable":{"ok":true},
 *    "disk_space":{"ok":true,"free_bytes":N,"min_free_bytes":M},
 *    "queue_manager":{"ok":true}}}
 * a failed check with "error":"..." (no path in it: the answer may be
 * public). 0 if every check passed, -1 if one failed (or out refused to
 * grow). Blocking file calls, each short: create, write, unlink, statvfs.
 */
int	health_check(const char *data_dir, uint64_t min_free_bytes,
	    bool qmgr_alive, struct buf *out);

#endif
