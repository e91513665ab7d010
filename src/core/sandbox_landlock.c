/* SPDX-License-Identifier: ISC */
/*
 * sandbox_landlock.c - Landlock file rules; see sandbox.h.
 *
 * The ruleset handles every file access right the kernel knows (so what
 * no rule grants is denied: executing anything, reading outside the
 * listed trees, writing outside the read-write ones) and, from ABI 6,
 * scopes signals and abstract UNIX sockets to the process. Network
 * rights (ABI 4) are not handled: outbound ports follow the
 * configuration and the MX records, and a reload may change them.
 *
 * Debian 12's <linux/landlock.h> stops at ABI 2, so the later constants
 * and the full ruleset attribute are spelled out here; a kernel with an
 * older ABI gets a shorter attribute and only the rights it knows.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/landlock.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sandbox.h"

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE		(1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV		(1ULL << 15)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET	(1ULL << 0)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL			(1ULL << 1)
#endif

/* struct landlock_ruleset_attr as of ABI 6 */
struct sandbox_ruleset_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;	/* ABI 4 */
	uint64_t	scoped;			/* ABI 6 */
};

#define SANDBOX_FS_ABI1	(LANDLOCK_ACCESS_FS_EXECUTE | \
	LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
	LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | \
	LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | \
	LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
	LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | \
	LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

/* the rights that make sense on a file, not a directory */
#define SANDBOX_FS_FILE	(LANDLOCK_ACCESS_FS_EXECUTE | \
	LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
	LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

#define SANDBOX_FS_RO	(LANDLOCK_ACCESS_FS_READ_FILE | \
	LANDLOCK_ACCESS_FS_READ_DIR)

/* beneath a read-write tree: the spool (SQLite journals, body files) and
   Maildirs (tmp/ then rename to new/ in another directory: REFER) */
#define SANDBOX_FS_RW	(SANDBOX_FS_RO | LANDLOCK_ACCESS_FS_WRITE_FILE | \
	LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
	LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
	LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)

static int
sandbox_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? 0 : (int)abi;
}

/* sandbox_landlock_handled - the file rights ABI abi knows */
static uint64_t
sandbox_landlock_handled(int abi)
{
	uint64_t fs = SANDBOX_FS_ABI1;

	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return fs;
}

/* sandbox_landlock_add - one path beneath rule; 1 when the path does not
   exist (or cannot be reached), 0 added, -1 error */
static int
sandbox_landlock_add(int ruleset, const struct sandbox_path *sp,
    uint64_t handled, struct err *err)
{
	struct landlock_path_beneath_attr pb;
	struct stat sb;
	uint64_t want;
	int fd;

	if ((fd = open(sp->path, O_PATH | O_CLOEXEC)) == -1) {
		if (errno == ENOENT || errno == ENOTDIR || errno == EACCES) {
			log_debug("event=sandbox.path path=%s access=none"
			    " error=\"%s\"", sp->path, strerror(errno));
			return 1;
		}
		return err_set(err, errno, "sandbox: %s: %s", sp->path,
		    strerror(errno));
	}
	if (fstat(fd, &sb) == -1) {
		err_set(err, errno, "sandbox: %s: %s", sp->path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	want = sp->access == SANDBOX_RW ? SANDBOX_FS_RW : SANDBOX_FS_RO;
	if (sp->access == SANDBOX_RO_WRITE)
		want |= LANDLOCK_ACCESS_FS_WRITE_FILE;
	if (!S_ISDIR(sb.st_mode))
		want &= SANDBOX_FS_FILE;
	memset(&pb, 0, sizeof(pb));
	pb.allowed_access = want & handled;
	pb.parent_fd = fd;
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
	    &pb, 0) == -1) {
		err_set(err, errno, "sandbox: landlock rule %s: %s", sp->path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	log_debug("event=sandbox.path path=%s access=%s", sp->path,
	    sp->access == SANDBOX_RW ? "rw" : sp->access == SANDBOX_RO ? "ro" :
	    "ro+write");
	return 0;
}

int
sandbox_landlock(const struct sandbox_path *paths, size_t n,
    struct sandbox_landlock_info *info, struct err *err)
{
	struct sandbox_ruleset_attr attr;
	size_t attr_size;
	int ruleset, r;

	memset(info, 0, sizeof(*info));
	if ((info->abi = sandbox_landlock_abi()) == 0)
		return 0;
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = sandbox_landlock_handled(info->abi);
	attr_size = sizeof(attr.handled_access_fs);
	if (info->abi >= 4)
		attr_size = offsetof(struct sandbox_ruleset_attr, scoped);
	if (info->abi >= 6) {
		attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET |
		    LANDLOCK_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
		info->scoped = true;
	}
	info->truncate = info->abi >= 3;
	info->ioctl_dev = info->abi >= 5;
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size,
	    0);
	if (ruleset == -1)
		return err_set(err, errno, "sandbox: landlock ruleset: %s",
		    strerror(errno));
	for (size_t i = 0; i < n; i++) {
		if ((r = sandbox_landlock_add(ruleset, &paths[i],
		    attr.handled_access_fs, err)) == -1) {
			close(ruleset);
			return -1;
		}
		if (r == 1)
			info->skipped++;
		else
			info->rules++;
	}
	/* restrict_self needs no_new_privs (or CAP_SYS_ADMIN) */
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 &&
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		err_set(err, errno, "sandbox: no_new_privs: %s",
		    strerror(errno));
		close(ruleset);
		return -1;
	}
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) == -1) {
		err_set(err, errno, "sandbox: landlock restrict: %s",
		    strerror(errno));
		close(ruleset);
		return -1;
	}
	close(ruleset);
	return 0;
}
