/* SPDX-License-Identifier: ISC */
/*
 * sys.c - the real system calls behind the seam in sys.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "core/sys.h"

static int
sys_real_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}

static const struct sys_table sys_real = {
	.open = sys_real_open,
	.write = write,
	.fsync = fsync,
	.rename = rename,
	.unlink = unlink,
};

struct sys_table sys = {
	.open = sys_real_open,
	.write = write,
	.fsync = fsync,
	.rename = rename,
	.unlink = unlink,
};

void
sys_restore(void)
{
	sys = sys_real;
}
