/* SPDX-License-Identifier: ISC */
/*
 * sandbox.c - the small pieces of the sandbox besides Landlock and
 * seccomp: no_new_privs, and the check that the process still has one
 * thread (Landlock binds the calling thread and its future children
 * only). See sandbox.h.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/sandbox.h"

int
sandbox_no_new_privs(struct err *err)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return err_set(err, errno, "sandbox: no_new_privs: %s",
		    strerror(errno));
	return 0;
}

bool
sandbox_single_thread(void)
{
	char buf[4096];
	const char *p;
	ssize_t n;
	int fd;

	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if ((p = strstr(buf, "\nThreads:")) == NULL)
		return false;
	p += sizeof("\nThreads:") - 1;
	while (*p == ' ' || *p == '\t')
		p++;
	return p[0] == '1' && p[1] == '\n';
}
