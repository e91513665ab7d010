/* SPDX-License-Identifier: ISC */
/*
 * test_health.c - core/health.c: the JSON answer (read back with
 * jansson) when all is well, and each check failing on its own: no room
 * left (a minimum above the free space), the queue manager down, a
 * spool directory that is missing, and the probe's create or write
 * failing through the syscall seam. The probe never stays behind.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/health.h"
#include "core/sys.h"

static char test_dir[256];

/* test_run - health_check into a parsed object; *rc its return */
static json_t *
test_run(const char *dir, uint64_t min_free, bool qmgr, int *rc)
{
	struct buf b;
	json_error_t jerr;
	json_t *j;

	buf_init(&b, 0);
	*rc = health_check(dir, min_free, qmgr, &b);
	j = json_loads(buf_cstr(&b), 0, &jerr);
	if (j == NULL)
		fail_msg("not JSON (%s): %s", jerr.text, buf_cstr(&b));
	buf_fini(&b);
	return j;
}

static const char *
test_status(json_t *j)
{
	return json_string_value(json_object_get(j, "status"));
}

static json_t *
test_check(json_t *j, const char *name)
{
	json_t *c = json_object_get(json_object_get(j, "checks"), name);

	assert_non_null(c);
	return c;
}

static bool
test_ok(json_t *j, const char *name)
{
	return json_is_true(json_object_get(test_check(j, name), "ok"));
}

static const char *
test_error(json_t *j, const char *name)
{
	return json_string_value(json_object_get(test_check(j, name),
	    "error"));
}

/* test_spool_empty - nothing left in DIR/spool */
static void
test_spool_empty(void)
{
	char path[512];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/spool", test_dir);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			fail_msg("left behind: %s", de->d_name);
	closedir(d);
}

static int
test_setup(void **state)
{
	char path[512];

	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/relais-test-health-XXXXXX");
	assert_non_null(mkdtemp(test_dir));
	snprintf(path, sizeof(path), "%s/spool", test_dir);
	assert_int_equal(mkdir(path, 0700), 0);
	return 0;
}

static int
test_teardown(void **state)
{
	char cmd[512];

	(void)state;
	sys_restore();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_all_ok(void **state)
{
	json_t *j, *disk;
	int rc;

	(void)state;
	j = test_run(test_dir, 1, true, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(test_status(j), "ok");
	assert_true(test_ok(j, "spool_writable"));
	assert_true(test_ok(j, "disk_space"));
	assert_true(test_ok(j, "queue_manager"));
	disk = test_check(j, "disk_space");
	assert_true(json_integer_value(json_object_get(disk, "free_bytes")) >
	    0);
	assert_int_equal(json_integer_value(json_object_get(disk,
	    "min_free_bytes")), 1);
	assert_null(test_error(j, "spool_writable"));
	json_decref(j);
	test_spool_empty();
}

static void
test_disk_and_qmgr(void **state)
{
	json_t *j;
	int rc;

	(void)state;
	/* more room wanted than any disk has: only that check fails */
	j = test_run(test_dir, UINT64_MAX / 2, true, &rc);
	assert_int_equal(rc, -1);
	assert_string_equal(test_status(j), "fail");
	assert_false(test_ok(j, "disk_space"));
	assert_non_null(test_error(j, "disk_space"));
	assert_true(test_ok(j, "spool_writable"));
	assert_true(test_ok(j, "queue_manager"));
	json_decref(j);

	j = test_run(test_dir, HEALTH_MIN_FREE_DEFAULT, false, &rc);
	assert_int_equal(rc, -1);
	assert_string_equal(test_status(j), "fail");
	assert_false(test_ok(j, "queue_manager"));
	assert_true(test_ok(j, "spool_writable"));
	json_decref(j);
	test_spool_empty();
}

static void
test_no_spool_dir(void **state)
{
	char dir[600];
	json_t *j;
	int rc;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/nowhere", test_dir);
	j = test_run(dir, 1, true, &rc);
	assert_int_equal(rc, -1);
	assert_false(test_ok(j, "spool_writable"));
	assert_non_null(strstr(test_error(j, "spool_writable"),
	    strerror(ENOENT)));
	assert_false(test_ok(j, "disk_space"));
	/* the path is not in the answer */
	assert_null(strstr(test_error(j, "spool_writable"), test_dir));
	json_decref(j);
}

static int fail_errno;

static int
failing_open(const char *path, int flags, mode_t mode)
{
	errno = fail_errno;
	return -1;
}

static ssize_t
failing_write(int fd, const void *p, size_t n)
{
	errno = fail_errno;
	return -1;
}

static void
test_probe_faults(void **state)
{
	json_t *j;
	int rc;

	(void)state;
	fail_errno = EIO;
	sys.open = failing_open;
	j = test_run(test_dir, 1, true, &rc);
	sys_restore();
	assert_int_equal(rc, -1);
	assert_false(test_ok(j, "spool_writable"));
	assert_true(test_ok(j, "disk_space"));
	assert_non_null(strstr(test_error(j, "spool_writable"), "create"));
	json_decref(j);

	/* a write that fails (a full disk): the probe is removed all the same */
	fail_errno = ENOSPC;
	sys.write = failing_write;
	j = test_run(test_dir, 1, true, &rc);
	sys_restore();
	assert_int_equal(rc, -1);
	assert_false(test_ok(j, "spool_writable"));
	assert_non_null(strstr(test_error(j, "spool_writable"),
	    strerror(ENOSPC)));
	json_decref(j);
	test_spool_empty();

	/* and after the fault, all is well again */
	j = test_run(test_dir, 1, true, &rc);
	assert_int_equal(rc, 0);
	json_decref(j);
}

static void
test_refused_buffer(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 16);
	assert_int_equal(health_check(test_dir, 1, true, &b), -1);
	assert_true(b.len <= 16);
	buf_fini(&b);
	test_spool_empty();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_ok, test_setup,
		    test_teardown),
		cmocka_unit_test_setup_teardown(test_disk_and_qmgr, test_setup,
		    test_teardown),
		cmocka_unit_test_setup_teardown(test_no_spool_dir, test_setup,
		    test_teardown),
		cmocka_unit_test_setup_teardown(test_probe_faults, test_setup,
		    test_teardown),
		cmocka_unit_test_setup_teardown(test_refused_buffer, test_setup,
		    test_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
