/* SPDX-License-Identifier: ISC */
/*
 * fault.h - fault injection through the syscall seam (core/sys.h) and
 * the spool's SQLite VFS shim (spool/spool_vfs.c), for the fault tests.
 *
 * Compiled in always, active only when `relais serve` finds RELAIS_FAULT
 * in its environment:
 *
 *   RELAIS_FAULT=count                          count calls per op
 *   RELAIS_FAULT=op=fsync,nth=7,errno=EIO       fail the 7th fsync
 *   RELAIS_FAULT=op=write,nth=3,errno=ENOSPC,times=0  and all later
 *
 * Ops: open write fsync fdatasync ftruncate rename link unlink (unlink
 * and unlinkat) mkdir, and sqlite (a read, write, sync or truncate of any
 * SQLite file; sqlite_read, sqlite_write, sqlite_sync and sqlite_truncate
 * count and fail one kind only). nth counts from 1 per op over the whole
 * run; times is how many consecutive calls fail (default 1, 0 = all from
 * nth on). Either way every call is counted; the counts go to one
 * event=fault.count log line when the daemon is ready and one at exit,
 * and (at exit) to the file RELAIS_FAULT_REPORT names, if any.
 * Off, the seam holds the real calls and nothing is counted: no cost.
 */
#ifndef RELAIS_CORE_FAULT_H
#define RELAIS_CORE_FAULT_H

#include <stdbool.h>

#include "core/err.h"

enum fault_op {
	FAULT_OP_OPEN,
	FAULT_OP_WRITE,
	FAULT_OP_FSYNC,
	FAULT_OP_FDATASYNC,
	FAULT_OP_FTRUNCATE,
	FAULT_OP_RENAME,
	FAULT_OP_LINK,
	FAULT_OP_UNLINK,
	FAULT_OP_MKDIR,
	FAULT_OP_SQLITE,		/* any of the four below */
	FAULT_OP_SQLITE_READ,
	FAULT_OP_SQLITE_WRITE,
	FAULT_OP_SQLITE_SYNC,
	FAULT_OP_SQLITE_TRUNCATE,
	FAULT_OP__COUNT,
};

struct fault_plan {
	bool		 inject;	/* false: count only */
	enum fault_op	 op;		/* the op whose call fails */
	unsigned long	 nth;		/* first failing call, from 1 */
	unsigned long	 times;		/* calls that fail, 0 = all */
	int		 errnum;	/* errno they fail with */
};

/* fault_plan_parse - RELAIS_FAULT text to a plan; pure */
int	fault_plan_parse(const char *s, struct fault_plan *plan_out,
	    struct err *err);
/* fault_op_name - "fsync" for FAULT_OP_FSYNC */
const char *fault_op_name(enum fault_op op);
/* fault_errno_name - "EIO" for EIO; "E<number>" when not in the table */
const char *fault_errno_name(int errnum, char *buf, size_t buflen);

/* fault_init_env - read RELAIS_FAULT (and RELAIS_FAULT_REPORT); when set,
   put the counting wrappers into the seam. Call once, before threads. */
int	fault_init_env(struct err *err);
/* fault_enabled - RELAIS_FAULT was set (so count, and maybe inject) */
bool	fault_enabled(void);
/* fault_log_counts - one event=fault.count at=WHEN line, if enabled */
void	fault_log_counts(const char *when);
/* fault_check - count one call of op (a SQLite kind counts for "sqlite"
   too); the errno to fail it with, or 0 */
int	fault_check(enum fault_op op);

#endif
