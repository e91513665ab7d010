/* SPDX-License-Identifier: ISC */
/*
 * sandbox.h - the kernel-enforced restrictions relais serve puts on
 * itself once it is set up: no new privileges, Landlock file rules
 * (sandbox_landlock.c) and a seccomp-bpf allow list (sandbox_seccomp.c).
 *
 * All three apply to the calling thread and to the threads it creates
 * later (seccomp is synchronised across threads that already exist, but
 * Landlock cannot be), so they are called while the process still has
 * one thread: sandbox_single_thread() checks that.
 */
#ifndef RELAIS_CORE_SANDBOX_H
#define RELAIS_CORE_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/* the ASan builds (make test) need a little more: LeakSanitizer's
   tracer at exit, symbols for reports */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER	1
#endif
#endif

enum sandbox_access {
	SANDBOX_RO,	/* read files, list directories */
	SANDBOX_RW,	/* and create, write, rename, remove beneath it */
	SANDBOX_RO_WRITE, /* read, and write files that exist (no create) */
};

struct sandbox_path {
	const char		*path;
	enum sandbox_access	 access;
};

/* what sandbox_landlock enforced, for the log */
struct sandbox_landlock_info {
	int	abi;		/* kernel ABI, 0 = Landlock unavailable */
	int	rules;		/* paths added */
	int	skipped;	/* paths that do not exist */
	bool	truncate;	/* ABI 3: truncate(2) handled */
	bool	ioctl_dev;	/* ABI 5: device ioctls handled */
	bool	scoped;		/* ABI 6: signals, abstract sockets scoped */
};

/* sandbox_no_new_privs - PR_SET_NO_NEW_PRIVS; 0 or -1 with err */
int	sandbox_no_new_privs(struct err *err);

/*
 * sandbox_landlock - from now on, file access by this thread and every
 * thread it creates is limited to paths (SANDBOX_RO / SANDBOX_RW beneath
 * each one; a path that does not exist is skipped and counted). Uses the
 * highest ABI the kernel offers. Returns 0 (info filled; info->abi == 0
 * when the kernel has no Landlock and nothing was enforced) or -1 with
 * err.
 */
int	sandbox_landlock(const struct sandbox_path *paths, size_t n,
	    struct sandbox_landlock_info *info, struct err *err);

/*
 * sandbox_seccomp - install the allow list on every thread of the
 * process (TSYNC). Any other system call raises SIGSYS, whose handler
 * writes "event=sandbox.violation syscall=N" to stderr and ends the
 * process with SIGSYS (core dump). Needs no_new_privs (or
 * CAP_SYS_ADMIN). Returns the number of system calls allowed, or -1 with
 * err.
 */
int	sandbox_seccomp(struct err *err);

/* sandbox_single_thread - the process has exactly one thread */
bool	sandbox_single_thread(void);

#endif
