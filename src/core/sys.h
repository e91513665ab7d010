/* SPDX-License-Identifier: ISC */
/*
 * sys.h - the syscall seam (after SQLite's aSyscall[]): the spool's and
 * the Maildir writer's file calls go through this table, so a unit test
 * (or the fault plan of core/fault.c, RELAIS_FAULT) can make the Nth call
 * fail with EIO or ENOSPC and check that no 250 is given for a message
 * that is not on disk. Every call that creates, writes, syncs, renames or
 * removes a file of the spool or of a mailbox goes through here.
 */
#ifndef RELAIS_CORE_SYS_H
#define RELAIS_CORE_SYS_H

#include <sys/types.h>

struct sys_table {
	int	(*open)(const char *path, int flags, mode_t mode);
	ssize_t	(*write)(int fd, const void *p, size_t n);
	int	(*fsync)(int fd);
	int	(*fdatasync)(int fd);
	int	(*ftruncate)(int fd, off_t len);
	int	(*rename)(const char *from, const char *to);
	int	(*link)(const char *from, const char *to);
	int	(*unlink)(const char *path);
	int	(*unlinkat)(int dirfd, const char *path, int flags);
	int	(*mkdir)(const char *path, mode_t mode);
};

/* the live table; tests may replace members and restore them */
extern struct sys_table sys;

static inline int
sys_open(const char *path, int flags, mode_t mode)
{
	return sys.open(path, flags, mode);
}

static inline ssize_t
sys_write(int fd, const void *p, size_t n)
{
	return sys.write(fd, p, n);
}

static inline int
sys_fsync(int fd)
{
	return sys.fsync(fd);
}

static inline int
sys_fdatasync(int fd)
{
	return sys.fdatasync(fd);
}

static inline int
sys_ftruncate(int fd, off_t len)
{
	return sys.ftruncate(fd, len);
}

static inline int
sys_rename(const char *from, const char *to)
{
	return sys.rename(from, to);
}

static inline int
sys_link(const char *from, const char *to)
{
	return sys.link(from, to);
}

static inline int
sys_unlink(const char *path)
{
	return sys.unlink(path);
}

static inline int
sys_unlinkat(int dirfd, const char *path, int flags)
{
	return sys.unlinkat(dirfd, path, flags);
}

static inline int
sys_mkdir(const char *path, mode_t mode)
{
	return sys.mkdir(path, mode);
}

/* sys_restore - put the real system calls back */
void	sys_restore(void);
/* sys_real - the real system calls (what sys_restore puts back) */
const struct sys_table *sys_real(void);

#endif
