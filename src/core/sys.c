/* SPDX-License-Identifier: ISC */
/*
 * sys.c - the real system calls behind the seam in sys.h.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "core/sys.h"

static int
sys_real_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}

#define SYS_REAL_TABLE {			\
	.open = sys_real_open,			\
	.write = write,				\
	.fsync = fsync,				\
	.fdatasync = fdatasync,			\
	.ftruncate = ftruncate,			\
	.rename = rename,			\
	.link = link,				\
	.unlink = unlink,			\
	.unlinkat = unlinkat,			\
	.mkdir = mkdir,				\
}

static const struct sys_table sys_real_table = SYS_REAL_TABLE;

struct sys_table sys = SYS_REAL_TABLE;

void
sys_restore(void)
{
	sys = sys_real_table;
}

const struct sys_table *
sys_real(void)
{
	return &sys_real_table;
}
