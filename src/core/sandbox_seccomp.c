/* SPDX-License-Identifier: ISC */
/*
 * sandbox_seccomp.c - the seccomp-bpf allow list of relais serve; see
 * sandbox.h.
 *
 * The list is what the daemon does once it runs (found with strace -f -c
 * over the integration tests): files, sockets, epoll, threads, time,
 * signals to itself. Nothing that starts a program (execve, fork: clone
 * is allowed only for threads, clone3 answers ENOSYS so that libc falls
 * back to clone, whose flags a filter can see), changes ids, mounts,
 * traces or loads modules. The sanitizer builds add what LeakSanitizer
 * needs at exit (a ptrace-ing helper made with clone).
 *
 * Default action: SIGSYS (SECCOMP_RET_TRAP). The handler writes one log
 * line naming the system call and lets the default action of SIGSYS end
 * the process with a core. A denied call is a bug or an attack; carrying
 * on with EPERM would hide it behind a half-working daemon, and the spool
 * makes a restart lose nothing (every acknowledged message is on disk).
 */
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "core/sandbox.h"

static const char *const sandbox_seccomp_allow[] = {
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync",
	/* files (paths are Landlock's business) */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
	"pwritev", "preadv2", "pwritev2", "lseek", "close", "close_range",
	"open", "openat", "creat", "fstat", "stat", "lstat", "newfstatat",
	"statx", "fstatfs", "statfs", "fcntl", "flock", "fsync", "fdatasync",
	"ftruncate", "fallocate", "unlink", "unlinkat", "rename", "renameat",
	"renameat2", "mkdir", "mkdirat", "rmdir", "getdents64", "access",
	"faccessat", "faccessat2", "readlink", "readlinkat", "getcwd", "dup",
	"dup2", "dup3", "pipe", "pipe2", "fchmod", "fchown", "umask",
	/* sockets */
	"socket", "socketpair", "connect", "accept", "accept4", "bind",
	"listen", "getsockname", "getpeername", "setsockopt", "getsockopt",
	"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
	"shutdown",
	/* event loops */
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
	"epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "poll", "ppoll",
	"select", "pselect6",
	/* time */
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"gettimeofday", "time",
	/* threads */
	"futex", "set_robust_list", "get_robust_list", "rseq",
	"set_tid_address", "exit", "exit_group", "gettid", "getpid",
	"getppid", "sched_yield", "sched_getaffinity", "membarrier",
	/* signals (kill and tgkill: to ourselves only, below) */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
	"rt_sigtimedwait", "rt_sigsuspend", "sigaltstack", "restart_syscall",
	/* who we are */
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
	"getgroups",
	/* the rest: thread names and the like, randomness, host facts */
	"prctl", "getrandom", "uname", "sysinfo", "getrlimit", "getpriority",
	"sched_getparam", "sched_getscheduler",
};

#ifdef SANDBOX_SANITIZER
/* LeakSanitizer's StopTheWorld at exit, ASan reports */
static const char *const sandbox_seccomp_allow_san[] = {
	"ptrace", "wait4", "waitid", "process_vm_readv", "personality",
	"mincore", "getdents",
};
#endif

/* ioctl requests: libevent's FIONREAD, O_NONBLOCK/O_CLOEXEC the old
   way, isatty() of stdio */
static const unsigned long sandbox_seccomp_ioctls[] = {
	FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, TCGETS, TIOCGWINSZ,
};

static void
sandbox_seccomp_fmt(char *out, size_t *n, uint64_t v, int base)
{
	char tmp[24];
	size_t k = 0;

	do {
		tmp[k++] = "0123456789abcdef"[v % (unsigned)base];
		v /= (unsigned)base;
	} while (v != 0 && k < sizeof(tmp));
	while (k > 0)
		out[(*n)++] = tmp[--k];
}

/* sandbox_seccomp_sigsys - a denied call: one line, then die of SIGSYS
   (async-signal-safe: write, sigaction; no stdio) */
static void
sandbox_seccomp_sigsys(int sig, siginfo_t *si, void *uc)
{
	static const char head[] = "level=error event=sandbox.violation"
	    " syscall=";
	static const char mid[] = " arch=0x";
	static const char tail[] = " error=\"system call not in the"
	    " sandbox allow list\"\n";
	char line[256];
	size_t n = 0;
	struct sigaction sa;

	(void)uc;
	memcpy(line, head, sizeof(head) - 1);
	n += sizeof(head) - 1;
	sandbox_seccomp_fmt(line, &n, (uint64_t)(unsigned)si->si_syscall,
	    10);
	memcpy(line + n, mid, sizeof(mid) - 1);
	n += sizeof(mid) - 1;
	sandbox_seccomp_fmt(line, &n, (uint64_t)si->si_arch, 16);
	memcpy(line + n, tail, sizeof(tail) - 1);
	n += sizeof(tail) - 1;
	(void)!write(STDERR_FILENO, line, n);
	/* SIGSYS is blocked while we run: re-sent, it is delivered with
	   its default action (terminate, core) as soon as we return */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(sig, &sa, NULL);
	(void)syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

static int
sandbox_seccomp_rule(scmp_filter_ctx ctx, int nr, unsigned n,
    const struct scmp_arg_cmp *cmp, const char *name, struct err *err)
{
	int r;

	if ((r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, cmp)) < 0)
		return err_set(err, -r, "sandbox: seccomp rule %s: %s", name,
		    strerror(-r));
	return 0;
}

/* sandbox_seccomp_names - allow each name this architecture has */
static int
sandbox_seccomp_names(scmp_filter_ctx ctx, const char *const *names,
    size_t n, int *count, struct err *err)
{
	int nr;

	for (size_t i = 0; i < n; i++) {
		if ((nr = seccomp_syscall_resolve_name(names[i])) ==
		    __NR_SCMP_ERROR)
			continue;
		if (sandbox_seccomp_rule(ctx, nr, 0, NULL, names[i], err) == -1)
			return -1;
		(*count)++;
	}
	return 0;
}

/* sandbox_seccomp_args - the calls allowed with some arguments only */
static int
sandbox_seccomp_args(scmp_filter_ctx ctx, int *count, struct err *err)
{
	const scmp_datum_t pid = (scmp_datum_t)getpid();
	struct scmp_arg_cmp a;
	int r;

	/* threads, not processes */
	a = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
	if (sandbox_seccomp_rule(ctx, SCMP_SYS(clone), 1, &a, "clone",
	    err) == -1)
		return -1;
#ifdef SANDBOX_SANITIZER
	/* LeakSanitizer's tracer shares our memory but is no thread */
	a = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_VM, CLONE_VM);
	if (sandbox_seccomp_rule(ctx, SCMP_SYS(clone), 1, &a, "clone",
	    err) == -1)
		return -1;
#endif
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
	    SCMP_SYS(clone3), 0)) < 0)
		return err_set(err, -r, "sandbox: seccomp rule clone3: %s",
		    strerror(-r));
	/* signals to ourselves (raise, abort, thread wake-ups) */
	a = SCMP_A0(SCMP_CMP_EQ, pid, 0);
	if (sandbox_seccomp_rule(ctx, SCMP_SYS(tgkill), 1, &a, "tgkill",
	    err) == -1 ||
	    sandbox_seccomp_rule(ctx, SCMP_SYS(kill), 1, &a, "kill",
	    err) == -1)
		return -1;
	/* limits read, never raised: prlimit64(0, resource, NULL, old) */
	{
		struct scmp_arg_cmp b[2] = {
			SCMP_A0(SCMP_CMP_EQ, 0, 0),
			SCMP_A2(SCMP_CMP_EQ, 0, 0),
		};

		if (sandbox_seccomp_rule(ctx, SCMP_SYS(prlimit64), 2, b,
		    "prlimit64", err) == -1)
			return -1;
	}
	for (size_t i = 0; i < sizeof(sandbox_seccomp_ioctls) /
	    sizeof(sandbox_seccomp_ioctls[0]); i++) {
		a = SCMP_A1(SCMP_CMP_EQ, sandbox_seccomp_ioctls[i], 0);
		if (sandbox_seccomp_rule(ctx, SCMP_SYS(ioctl), 1, &a, "ioctl",
		    err) == -1)
			return -1;
	}
	*count += 6;	/* clone clone3 tgkill kill prlimit64 ioctl */
	return 0;
}

int
sandbox_seccomp(struct err *err)
{
	scmp_filter_ctx ctx;
	struct sigaction sa;
	int count = 0, r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_seccomp_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) == -1)
		return err_set(err, errno, "sandbox: SIGSYS handler: %s",
		    strerror(errno));
	if ((ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL)
		return err_set(err, 0, "sandbox: seccomp_init failed");
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0) {
		err_set(err, -r, "sandbox: seccomp tsync: %s", strerror(-r));
		goto fail;
	}
	/* a binary tree of syscall numbers instead of a linear list: every
	   system call runs the filter (libseccomp >= 2.5; else linear) */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (sandbox_seccomp_names(ctx, sandbox_seccomp_allow,
	    sizeof(sandbox_seccomp_allow) / sizeof(sandbox_seccomp_allow[0]),
	    &count, err) == -1)
		goto fail;
#ifdef SANDBOX_SANITIZER
	if (sandbox_seccomp_names(ctx, sandbox_seccomp_allow_san,
	    sizeof(sandbox_seccomp_allow_san) /
	    sizeof(sandbox_seccomp_allow_san[0]), &count, err) == -1)
		goto fail;
#endif
	if (sandbox_seccomp_args(ctx, &count, err) == -1)
		goto fail;
	if ((r = seccomp_load(ctx)) < 0) {
		err_set(err, -r, "sandbox: seccomp load: %s", strerror(-r));
		goto fail;
	}
	seccomp_release(ctx);
	return count;
fail:
	seccomp_release(ctx);
	return -1;
}
