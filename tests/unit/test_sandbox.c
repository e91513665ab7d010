/* SPDX-License-Identifier: ISC */
/*
 * test_sandbox.c - core/sandbox*.c, each case in a forked child (the
 * restrictions cannot be undone): Landlock lets a read-write tree be
 * written and a read-only tree be read, and nothing else, root or not;
 * a path that does not exist is skipped; the seccomp filter lets the
 * daemon's calls through, answers clone3 with ENOSYS and ends the
 * process with SIGSYS on execve.
 */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/sandbox.h"

/* test_sandbox_child - run fn in a child; its wait status */
static int
test_sandbox_child(int (*fn)(const char *), const char *dir)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(dir));	/* _exit: no LeakSanitizer in the child */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static int
test_sandbox_can_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0600);

	if (fd == -1)
		return -errno;
	close(fd);
	return 0;
}

/* child: rw beneath DIR/rw, ro beneath DIR/ro; exit 0 when every access
   went as the rules say, else the number of the failed check */
static int
test_sandbox_landlock_child(const char *dir)
{
	char rw[PATH_MAX], ro[PATH_MAX], p[PATH_MAX];
	struct sandbox_landlock_info info;
	struct err err;
	struct sandbox_path paths[3];

	snprintf(rw, sizeof(rw), "%s/rw", dir);
	snprintf(ro, sizeof(ro), "%s/ro", dir);
	paths[0] = (struct sandbox_path){ rw, SANDBOX_RW };
	paths[1] = (struct sandbox_path){ ro, SANDBOX_RO };
	paths[2] = (struct sandbox_path){ "/nonexistent/relais", SANDBOX_RO };
	if (sandbox_no_new_privs(&err) == -1 ||
	    sandbox_landlock(paths, 3, &info, &err) == -1)
		return 1;
	if (info.abi == 0)
		return 77;	/* no Landlock: skipped */
	if (info.rules != 2 || info.skipped != 1)
		return 2;
	snprintf(p, sizeof(p), "%s/new", rw);
	if (test_sandbox_can_open(p, O_WRONLY | O_CREAT) != 0)
		return 3;
	snprintf(p, sizeof(p), "%s/sub", rw);
	if (mkdir(p, 0700) == -1)
		return 4;
	/* a rename across directories of the tree (Maildir tmp -> new) */
	snprintf(p, sizeof(p), "%s/sub/moved", rw);
	{
		char from[PATH_MAX];

		snprintf(from, sizeof(from), "%s/new", rw);
		if (rename(from, p) == -1)
			return 5;
	}
	if (unlink(p) == -1)
		return 6;
	snprintf(p, sizeof(p), "%s/file", ro);
	if (test_sandbox_can_open(p, O_RDONLY) != 0)
		return 7;
	if (test_sandbox_can_open(p, O_WRONLY) != -EACCES)
		return 8;
	snprintf(p, sizeof(p), "%s/made", ro);
	if (test_sandbox_can_open(p, O_WRONLY | O_CREAT) != -EACCES)
		return 9;
	snprintf(p, sizeof(p), "%s/outside", dir);
	if (test_sandbox_can_open(p, O_RDONLY) != -EACCES)
		return 10;
	if (test_sandbox_can_open("/etc/passwd", O_RDONLY) != -EACCES)
		return 11;
	return 0;
}

static void
test_landlock_rules(void **state)
{
	char dir[] = "/tmp/relais-test-sandbox-XXXXXX", p[PATH_MAX];
	int status, fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/rw", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/ro", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/ro/file", dir);
	assert_true((fd = open(p, O_WRONLY | O_CREAT, 0644)) >= 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/outside", dir);
	assert_true((fd = open(p, O_WRONLY | O_CREAT, 0644)) >= 0);
	close(fd);

	status = test_sandbox_child(test_sandbox_landlock_child, dir);

	unlink(p);
	snprintf(p, sizeof(p), "%s/ro/file", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/ro", dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/rw/sub", dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/rw", dir);
	rmdir(p);
	rmdir(dir);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void *
test_sandbox_thread(void *arg)
{
	return arg;
}

/* child: the filter is on; ordinary calls and a thread work, clone3 says
   ENOSYS; 0 when all is as expected; then execve, which must not return */
static int
test_sandbox_seccomp_child(const char *mode)
{
	char *const argv[] = { "true", NULL };
	struct err err;
	struct stat sb;
	pthread_t t;
	void *ret;
	int fd;

	if (sandbox_no_new_privs(&err) == -1 || sandbox_seccomp(&err) < 0)
		return 1;
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1 || close(fd) == -1)
		return 2;
	if (pthread_create(&t, NULL, test_sandbox_thread, &sb) != 0 ||
	    pthread_join(t, &ret) != 0 || ret != &sb)
		return 3;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 4;
	if (kill(getpid(), 0) != 0)
		return 5;
	if (strcmp(mode, "execve") != 0)
		return 0;
	execv("/bin/true", argv);
	return 6;
}

static void
test_seccomp_allows_daemon_calls(void **state)
{
	int status;

	(void)state;
	status = test_sandbox_child(test_sandbox_seccomp_child, "calls");
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_seccomp_execve_is_sigsys(void **state)
{
	int status;

	(void)state;
	status = test_sandbox_child(test_sandbox_seccomp_child, "execve");
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void
test_single_thread(void **state)
{
	(void)state;
	assert_true(sandbox_single_thread());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_thread),
		cmocka_unit_test(test_landlock_rules),
		cmocka_unit_test(test_seccomp_allows_daemon_calls),
		cmocka_unit_test(test_seccomp_execve_is_sigsys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
