/* SPDX-License-Identifier: ISC */
/*
 * fault.c - the fault plan (RELAIS_FAULT) and the counting wrappers it
 * puts into the syscall seam; see fault.h.
 *
 * The plan is read once by the main thread before any other thread
 * starts and never changes; the counters are atomics, since sessions
 * (body files), the delivery pool (Maildir) and the spool thread (SQLite,
 * fsync) all call through the seam.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "core/log.h"
#include "core/sys.h"

static const char *const fault_op_names[FAULT_OP__COUNT] = {
	[FAULT_OP_OPEN] = "open",
	[FAULT_OP_WRITE] = "write",
	[FAULT_OP_FSYNC] = "fsync",
	[FAULT_OP_FDATASYNC] = "fdatasync",
	[FAULT_OP_FTRUNCATE] = "ftruncate",
	[FAULT_OP_RENAME] = "rename",
	[FAULT_OP_LINK] = "link",
	[FAULT_OP_UNLINK] = "unlink",
	[FAULT_OP_MKDIR] = "mkdir",
	[FAULT_OP_SQLITE] = "sqlite",
	[FAULT_OP_SQLITE_READ] = "sqlite_read",
	[FAULT_OP_SQLITE_WRITE] = "sqlite_write",
	[FAULT_OP_SQLITE_SYNC] = "sqlite_sync",
	[FAULT_OP_SQLITE_TRUNCATE] = "sqlite_truncate",
};

static const struct {
	const char	*name;
	int		 errnum;
} fault_errnos[] = {
	{ "EIO", EIO },
	{ "ENOSPC", ENOSPC },
	{ "EDQUOT", EDQUOT },
	{ "EROFS", EROFS },
	{ "EACCES", EACCES },
	{ "ENOMEM", ENOMEM },
	{ "EMFILE", EMFILE },
};

static bool			fault_on;
static struct fault_plan	fault_plan;
static const char		*fault_report_path;
static atomic_ulong		fault_counts[FAULT_OP__COUNT];
static atomic_ulong		fault_injected;

static void	fault_report(void);

const char *
fault_op_name(enum fault_op op)
{
	return (unsigned)op < FAULT_OP__COUNT ? fault_op_names[op] : "?";
}

const char *
fault_errno_name(int errnum, char *buf, size_t buflen)
{
	for (size_t i = 0; i < sizeof(fault_errnos) / sizeof(fault_errnos[0]);
	    i++)
		if (fault_errnos[i].errnum == errnum)
			return fault_errnos[i].name;
	snprintf(buf, buflen, "E%d", errnum);
	return buf;
}

/* fault_parse_ulong - all of s[0..n) as a decimal number */
static int
fault_parse_ulong(const char *s, size_t n, unsigned long *out)
{
	unsigned long v = 0;

	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* fault_plan_parse_pair - one key=value of the plan */
static int
fault_plan_parse_pair(const char *k, size_t klen, const char *v, size_t vlen,
    struct fault_plan *plan, struct err *err)
{
	unsigned long n;

#define KEY(name) (klen == sizeof(name) - 1 && memcmp(k, name, klen) == 0)
	if (KEY("op")) {
		for (int i = 0; i < FAULT_OP__COUNT; i++)
			if (strlen(fault_op_names[i]) == vlen &&
			    memcmp(fault_op_names[i], v, vlen) == 0) {
				plan->op = (enum fault_op)i;
				return 0;
			}
		return err_set(err, 0, "unknown op \"%.*s\"", (int)vlen, v);
	}
	if (KEY("nth") || KEY("times")) {
		if (fault_parse_ulong(v, vlen, &n) == -1)
			return err_set(err, 0, "bad number \"%.*s\"", (int)vlen,
			    v);
		if (KEY("nth"))
			plan->nth = n;
		else
			plan->times = n;
		return 0;
	}
	if (KEY("errno")) {
		for (size_t i = 0;
		    i < sizeof(fault_errnos) / sizeof(fault_errnos[0]); i++)
			if (strlen(fault_errnos[i].name) == vlen &&
			    memcmp(fault_errnos[i].name, v, vlen) == 0) {
				plan->errnum = fault_errnos[i].errnum;
				return 0;
			}
		if (fault_parse_ulong(v, vlen, &n) == 0 && n > 0 && n < 4096) {
			plan->errnum = (int)n;
			return 0;
		}
		return err_set(err, 0, "unknown errno \"%.*s\"", (int)vlen, v);
	}
#undef KEY
	return err_set(err, 0, "unknown key \"%.*s\"", (int)klen, k);
}

int
fault_plan_parse(const char *s, struct fault_plan *plan_out, struct err *err)
{
	struct fault_plan plan = { .inject = true, .op = FAULT_OP__COUNT,
	    .nth = 0, .times = 1, .errnum = EIO };

	if (strcmp(s, "count") == 0) {
		plan.inject = false;
		*plan_out = plan;
		return 0;
	}
	while (*s != '\0') {
		size_t n = strcspn(s, ",");
		const char *eq = memchr(s, '=', n);

		if (eq == NULL)
			return err_set(err, 0, "\"%.*s\": want key=value",
			    (int)n, s);
		if (fault_plan_parse_pair(s, (size_t)(eq - s), eq + 1,
		    n - (size_t)(eq - s) - 1, &plan, err) == -1)
			return -1;
		s += n;
		if (*s == ',')
			s++;
	}
	if (plan.op == FAULT_OP__COUNT)
		return err_set(err, 0, "no op= (or \"count\")");
	if (plan.nth == 0)
		return err_set(err, 0, "no nth= (calls count from 1)");
	*plan_out = plan;
	return 0;
}

bool
fault_enabled(void)
{
	return fault_on;
}

/* fault_hit - is call n of op one that the plan fails? */
static bool
fault_hit(enum fault_op op, unsigned long n)
{
	return fault_plan.inject && op == fault_plan.op &&
	    n >= fault_plan.nth &&
	    (fault_plan.times == 0 || n - fault_plan.nth < fault_plan.times);
}

int
fault_check(enum fault_op op)
{
	unsigned long n, m;
	bool hit;
	char buf[16];

	if (!fault_on)
		return 0;
	n = atomic_fetch_add_explicit(&fault_counts[op], 1,
	    memory_order_relaxed) + 1;
	hit = fault_hit(op, n);
	if (op > FAULT_OP_SQLITE) {
		m = atomic_fetch_add_explicit(&fault_counts[FAULT_OP_SQLITE], 1,
		    memory_order_relaxed) + 1;
		if (!hit && fault_hit(FAULT_OP_SQLITE, m)) {
			hit = true;
			n = m;
		}
	}
	if (!hit)
		return 0;
	atomic_fetch_add_explicit(&fault_injected, 1, memory_order_relaxed);
	log_warnx("event=fault.inject op=%s call=%lu errno=%s",
	    fault_op_name(op), n,
	    fault_errno_name(fault_plan.errnum, buf, sizeof(buf)));
	return fault_plan.errnum;
}

/* --- the wrappers the seam holds while a plan is active --------------- */

#define FAULT_FAIL(op) do {				\
	int e_ = fault_check(op);			\
	if (e_ != 0) {					\
		errno = e_;				\
		return -1;				\
	}						\
} while (0)

static int
fault_open(const char *path, int flags, mode_t mode)
{
	FAULT_FAIL(FAULT_OP_OPEN);
	return sys_real()->open(path, flags, mode);
}

static ssize_t
fault_write(int fd, const void *p, size_t n)
{
	FAULT_FAIL(FAULT_OP_WRITE);
	return sys_real()->write(fd, p, n);
}

static int
fault_fsync(int fd)
{
	FAULT_FAIL(FAULT_OP_FSYNC);
	return sys_real()->fsync(fd);
}

static int
fault_fdatasync(int fd)
{
	FAULT_FAIL(FAULT_OP_FDATASYNC);
	return sys_real()->fdatasync(fd);
}

static int
fault_ftruncate(int fd, off_t len)
{
	FAULT_FAIL(FAULT_OP_FTRUNCATE);
	return sys_real()->ftruncate(fd, len);
}

static int
fault_rename(const char *from, const char *to)
{
	FAULT_FAIL(FAULT_OP_RENAME);
	return sys_real()->rename(from, to);
}

static int
fault_link(const char *from, const char *to)
{
	FAULT_FAIL(FAULT_OP_LINK);
	return sys_real()->link(from, to);
}

static int
fault_unlink(const char *path)
{
	FAULT_FAIL(FAULT_OP_UNLINK);
	return sys_real()->unlink(path);
}

static int
fault_unlinkat(int dirfd, const char *path, int flags)
{
	FAULT_FAIL(FAULT_OP_UNLINK);
	return sys_real()->unlinkat(dirfd, path, flags);
}

static int
fault_mkdir(const char *path, mode_t mode)
{
	FAULT_FAIL(FAULT_OP_MKDIR);
	return sys_real()->mkdir(path, mode);
}

void
fault_log_counts(const char *when)
{
	char line[1024];
	size_t n = 0;

	if (!fault_on)
		return;
	for (int i = 0; i < FAULT_OP__COUNT; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%lu",
		    fault_op_names[i], atomic_load(&fault_counts[i]));
	log_info("event=fault.count at=%s%s injected=%lu", when, line,
	    atomic_load(&fault_injected));
}

/* fault_report - at exit: the counts, logged and written to the report */
static void
fault_report(void)
{
	FILE *f;

	fault_log_counts("exit");
	if (fault_report_path == NULL)
		return;
	if ((f = fopen(fault_report_path, "w")) == NULL) {
		log_warn("event=fault.report path=%s", fault_report_path);
		return;
	}
	for (int i = 0; i < FAULT_OP__COUNT; i++)
		fprintf(f, "%s %lu\n", fault_op_names[i],
		    atomic_load(&fault_counts[i]));
	fprintf(f, "injected %lu\n", atomic_load(&fault_injected));
	if (fclose(f) == EOF)
		log_warn("event=fault.report path=%s", fault_report_path);
}

int
fault_init_env(struct err *err)
{
	const char *s = getenv("RELAIS_FAULT");
	char buf[16];

	if (s == NULL || *s == '\0')
		return 0;
	if (fault_plan_parse(s, &fault_plan, err) == -1)
		return -1;
	fault_report_path = getenv("RELAIS_FAULT_REPORT");
	sys = (struct sys_table){
		.open = fault_open,
		.write = fault_write,
		.fsync = fault_fsync,
		.fdatasync = fault_fdatasync,
		.ftruncate = fault_ftruncate,
		.rename = fault_rename,
		.link = fault_link,
		.unlink = fault_unlink,
		.unlinkat = fault_unlinkat,
		.mkdir = fault_mkdir,
	};
	fault_on = true;
	if (fault_plan.inject)
		log_warnx("event=fault.plan op=%s nth=%lu times=%lu errno=%s",
		    fault_op_name(fault_plan.op), fault_plan.nth,
		    fault_plan.times,
		    fault_errno_name(fault_plan.errnum, buf, sizeof(buf)));
	else
		log_warnx("event=fault.plan mode=count");
	atexit(fault_report);
	return 0;
}
