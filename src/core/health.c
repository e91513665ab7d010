/* SPDX-License-Identifier: ISC */
/*
 * health.c - the checks of health.h, answered as one small JSON object.
 *
 * The spool check is a true write: a probe file in DATA_DIR/spool made
 * with O_CREAT|O_EXCL, one byte written, closed and unlinked, through the
 * syscall seam (core/sys.h), so whatever stops the spool from writing (a
 * read-only mount, lost permissions, a full disk, a fault plan) fails it.
 * The probe's name holds the process id and a counter, so two workers
 * checking at once never meet on one file.
 */
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/health.h"
#include "core/sys.h"

static _Atomic unsigned health_seq;

/* health_json_str - s as a JSON string */
static int
health_json_str(struct buf *out, const char *s)
{
	if (buf_puts(out, "\"") == -1)
		return -1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int r;

		if (c == '"' || c == '\\')
			r = buf_appendf(out, "\\%c", c);
		else if (c < 0x20)
			r = buf_appendf(out, "\\u%04x", c);
		else
			r = buf_append(out, s, 1);
		if (r == -1)
			return -1;
	}
	return buf_puts(out, "\"");
}

/* health_probe - create, write, remove a file in dir; -1 with why */
static int
health_probe(const char *dir, char *why, size_t whylen)
{
	char path[4096];
	int fd, e;

	if ((size_t)snprintf(path, sizeof(path), "%s/.healthz.%ld.%u", dir,
	    (long)getpid(), atomic_fetch_add(&health_seq, 1)) >= sizeof(path)) {
		snprintf(why, whylen, "path too long");
		return -1;
	}
	fd = sys_open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		snprintf(why, whylen, "create: %s", strerror(errno));
		return -1;
	}
	if (sys_write(fd, "x", 1) != 1) {
		e = errno;
		close(fd);
		(void)sys_unlink(path);
		snprintf(why, whylen, "write: %s", strerror(e));
		return -1;
	}
	if (close(fd) == -1) {
		e = errno;
		(void)sys_unlink(path);
		snprintf(why, whylen, "close: %s", strerror(e));
		return -1;
	}
	if (sys_unlink(path) == -1) {
		snprintf(why, whylen, "unlink: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* health_item - "name":{"ok":B[,"error":"..."]...} less its closing } */
static int
health_item(struct buf *out, const char *name, bool ok, const char *why,
    bool first)
{
	if (buf_appendf(out, "%s\"%s\":{\"ok\":%s", first ? "" : ",", name,
	    ok ? "true" : "false") == -1)
		return -1;
	if (!ok && why[0] != '\0' && (buf_puts(out, ",\"error\":") == -1 ||
	    health_json_str(out, why) == -1))
		return -1;
	return 0;
}

int
health_check(const char *data_dir, uint64_t min_free_bytes,
    bool qmgr_alive, struct buf *out)
{
	char dir[4096], why_spool[128] = "", why_disk[128] = "";
	struct statvfs vfs;
	unsigned long long avail = 0;
	bool spool_ok, disk_ok, have_avail = false;

	snprintf(dir, sizeof(dir), "%s/spool", data_dir);
	spool_ok = health_probe(dir, why_spool, sizeof(why_spool)) == 0;
	if (statvfs(dir, &vfs) == -1) {
		snprintf(why_disk, sizeof(why_disk), "statvfs: %s",
		    strerror(errno));
		disk_ok = false;
	} else {
		avail = (unsigned long long)vfs.f_bavail *
		    (unsigned long long)vfs.f_frsize;
		have_avail = true;
		disk_ok = avail >= min_free_bytes;
		if (!disk_ok)
			snprintf(why_disk, sizeof(why_disk), "less free space"
			    " than the minimum");
	}

	if (buf_appendf(out, "{\"status\":\"%s\",\"checks\":{",
	    spool_ok && disk_ok && qmgr_alive ? "ok" : "fail") == -1 ||
	    health_item(out, "spool_writable", spool_ok, why_spool, true) ==
	    -1 || buf_puts(out, "}") == -1 ||
	    health_item(out, "disk_space", disk_ok, why_disk, false) == -1 ||
	    (have_avail && buf_appendf(out, ",\"free_bytes\":%llu", avail) ==
	    -1) || buf_appendf(out, ",\"min_free_bytes\":%llu}",
	    (unsigned long long)min_free_bytes) == -1 ||
	    health_item(out, "queue_manager", qmgr_alive, "not running",
	    false) == -1 || buf_puts(out, "}}}") == -1)
		return -1;
	return spool_ok && disk_ok && qmgr_alive ? 0 : -1;
}
