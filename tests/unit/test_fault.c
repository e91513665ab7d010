/* SPDX-License-Identifier: ISC */
/*
 * test_fault.c - the fault plan (RELAIS_FAULT) parser, table-driven, and
 * the counting wrappers: the Nth call of an op fails with the plan's
 * errno, the others reach the real call.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fault.h"
#include "core/log.h"
#include "core/sys.h"

static const struct {
	const char	*in;
	int		 ok;		/* 0 or -1 */
	bool		 inject;
	enum fault_op	 op;
	unsigned long	 nth, times;
	int		 errnum;
} cases[] = {
	{ "count", 0, false, FAULT_OP__COUNT, 0, 1, EIO },
	{ "op=fsync,nth=7,errno=EIO", 0, true, FAULT_OP_FSYNC, 7, 1, EIO },
	{ "op=write,nth=1", 0, true, FAULT_OP_WRITE, 1, 1, EIO },
	{ "errno=ENOSPC,op=sqlite,nth=12", 0, true, FAULT_OP_SQLITE, 12, 1,
	    ENOSPC },
	{ "op=sqlite_sync,nth=3,times=0", 0, true, FAULT_OP_SQLITE_SYNC, 3, 0,
	    EIO },
	{ "op=rename,nth=2,times=5,errno=28", 0, true, FAULT_OP_RENAME, 2, 5,
	    28 },
	{ "op=link,nth=1,errno=EDQUOT", 0, true, FAULT_OP_LINK, 1, 1, EDQUOT },
	{ "", -1, false, 0, 0, 0, 0 },
	{ "op=fsync", -1, false, 0, 0, 0, 0 },		/* no nth */
	{ "op=fsync,nth=0", -1, false, 0, 0, 0, 0 },
	{ "nth=3", -1, false, 0, 0, 0, 0 },		/* no op */
	{ "op=close,nth=3", -1, false, 0, 0, 0, 0 },
	{ "op=fsync,nth=x", -1, false, 0, 0, 0, 0 },
	{ "op=fsync,nth=1234567890", -1, false, 0, 0, 0, 0 },
	{ "op=fsync,nth=1,errno=EWHAT", -1, false, 0, 0, 0, 0 },
	{ "op=fsync,nth=1,when=now", -1, false, 0, 0, 0, 0 },
	{ "op=fsync,nth", -1, false, 0, 0, 0, 0 },
	{ "counting", -1, false, 0, 0, 0, 0 },
};

static void
test_fault_plan_parse(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fault_plan p;
		struct err err;
		int r;

		memset(&p, 0, sizeof(p));
		r = fault_plan_parse(cases[i].in, &p, &err);
		if (r != cases[i].ok)
			fail_msg("\"%s\": got %d, want %d", cases[i].in, r,
			    cases[i].ok);
		if (r == -1)
			continue;
		if (p.inject != cases[i].inject || p.nth != cases[i].nth ||
		    p.times != cases[i].times || p.errnum != cases[i].errnum ||
		    (p.inject && p.op != cases[i].op))
			fail_msg("\"%s\": got inject=%d op=%s nth=%lu times=%lu"
			    " errno=%d", cases[i].in, p.inject,
			    fault_op_name(p.op), p.nth, p.times, p.errnum);
	}
}

/* the 2nd and 3rd write fail with ENOSPC, the 1st and 4th go through */
static void
test_fault_env_writes(void **state)
{
	char path[] = "/tmp/relais-test-fault-XXXXXX";
	struct err err;
	struct stat sb;
	int fd;

	log_set_level(LOG_LEVEL_ERROR);
	assert_int_equal(setenv("RELAIS_FAULT",
	    "op=write,nth=2,times=2,errno=ENOSPC", 1), 0);
	assert_int_equal(fault_init_env(&err), 0);
	assert_true(fault_enabled());
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(sys_write(fd, "a", 1), 1);
	errno = 0;
	assert_int_equal(sys_write(fd, "b", 1), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(sys_write(fd, "c", 1), -1);
	assert_int_equal(sys_write(fd, "d", 1), 1);
	/* other ops only count */
	assert_int_equal(sys_fsync(fd), 0);
	assert_int_equal(fault_check(FAULT_OP_SQLITE_SYNC), 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(sb.st_size, 2);
	close(fd);
	assert_int_equal(sys_unlink(path), 0);
	sys_restore();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fault_plan_parse),
		cmocka_unit_test(test_fault_env_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
