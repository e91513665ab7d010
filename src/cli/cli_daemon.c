/* SPDX-License-Identifier: ISC */
/*
 * cli_daemon.c - the pid file and the reload status file; see
 * cli_daemon.h.
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_daemon.h"
#include "core/log.h"
#include "core/xalloc.h"

static char *
cli_daemon_path(const char *data_dir, const char *name)
{
	size_t n = strlen(data_dir) + 1 + strlen(name) + 1;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%s", data_dir, name);
	return p;
}

void
cli_pidfile_write(struct cli_pidfile *pf, const char *data_dir)
{
	char *path = cli_daemon_path(data_dir, CLI_DAEMON_PIDFILE);
	char tmp[4200], line[32];
	int fd, n;

	pf->path = NULL;
	pf->fd = -1;
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1) {
		log_warn("event=server.pidfile path=%s", tmp);
		free(path);
		return;
	}
	/* a new file: nobody else can hold its lock */
	if (flock(fd, LOCK_EX | LOCK_NB) == -1 ||
	    write(fd, line, (size_t)n) != n || rename(tmp, path) == -1) {
		log_warn("event=server.pidfile path=%s", path);
		unlink(tmp);
		close(fd);
		free(path);
		return;
	}
	pf->path = path;
	pf->fd = fd;
}

void
cli_pidfile_remove(struct cli_pidfile *pf)
{
	if (pf->path == NULL)
		return;
	if (unlink(pf->path) == -1 && errno != ENOENT)
		log_warn("event=server.pidfile path=%s", pf->path);
	close(pf->fd);
	free(pf->path);
	pf->path = NULL;
	pf->fd = -1;
}

long
cli_daemon_pid(const char *data_dir)
{
	char *path = cli_daemon_path(data_dir, CLI_DAEMON_PIDFILE);
	char line[32];
	ssize_t n;
	long pid = 0;
	int fd, locked;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd == -1)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd);	/* nobody holds it: left by a daemon gone */
		return 0;
	}
	/* EWOULDBLOCK: the daemon holds it; another error: trust kill */
	locked = errno == EWOULDBLOCK;
	if ((n = read(fd, line, sizeof(line) - 1)) > 0) {
		line[n] = '\0';
		pid = strtol(line, NULL, 10);
	}
	close(fd);
	if (pid <= 1)
		return 0;
	if (!locked && kill((pid_t)pid, 0) == -1 && errno == ESRCH)
		return 0;
	return pid;
}

uint64_t
cli_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* cli_status_put - "key value\n", control characters as spaces */
static void
cli_status_put(FILE *f, const char *key, const char *value)
{
	fprintf(f, "%s ", key);
	for (const char *p = value; *p != '\0'; p++)
		fputc((unsigned char)*p < ' ' ? ' ' : *p, f);
	fputc('\n', f);
}

int
cli_status_write(const char *data_dir, const struct cli_reload_status *st)
{
	char *path = cli_daemon_path(data_dir, CLI_DAEMON_STATUS);
	char tmp[4200];
	FILE *f;
	int rc = -1, e;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "we")) == NULL)
		goto out;
	fprintf(f, "pid %ld\nstarted %llu\n", st->pid,
	    (unsigned long long)st->started);
	cli_status_put(f, "result", st->ok ? "ok" : "failed");
	cli_status_put(f, "path", st->path);
	cli_status_put(f, "changed", st->changed);
	cli_status_put(f, "restart", st->restart);
	cli_status_put(f, "error", st->error);
	if (ferror(f)) {
		fclose(f);
		goto fail;
	}
	if (fclose(f) != 0 || rename(tmp, path) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	e = errno;
	unlink(tmp);
	errno = e;
out:
	free(path);
	return rc;
}

static void
cli_status_copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src);
}

int
cli_status_read(const char *data_dir, struct cli_reload_status *st)
{
	char *path = cli_daemon_path(data_dir, CLI_DAEMON_STATUS);
	char line[2048], *v;
	FILE *f;
	unsigned have = 0;

	memset(st, 0, sizeof(*st));
	f = fopen(path, "re");
	free(path);
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if ((v = strchr(line, ' ')) == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "pid") == 0) {
			st->pid = strtol(v, NULL, 10);
			have |= 1;
		} else if (strcmp(line, "started") == 0) {
			st->started = strtoull(v, NULL, 10);
			have |= 2;
		} else if (strcmp(line, "result") == 0) {
			st->ok = strcmp(v, "ok") == 0;
			have |= 4;
		} else if (strcmp(line, "path") == 0) {
			cli_status_copy(st->path, sizeof(st->path), v);
		} else if (strcmp(line, "changed") == 0) {
			cli_status_copy(st->changed, sizeof(st->changed), v);
		} else if (strcmp(line, "restart") == 0) {
			cli_status_copy(st->restart, sizeof(st->restart), v);
		} else if (strcmp(line, "error") == 0) {
			cli_status_copy(st->error, sizeof(st->error), v);
		}
	}
	fclose(f);
	return have == 7 ? 0 : -1;
}

void
cli_status_remove(const char *data_dir)
{
	char *path = cli_daemon_path(data_dir, CLI_DAEMON_STATUS);

	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("event=server.reload_status path=%s", path);
	free(path);
}
