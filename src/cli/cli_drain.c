/* SPDX-License-Identifier: ISC */
/*
 * cli_drain.c - relais drain [-c FILE] [--to HOST:PORT] [--timeout N]:
 * have the running daemon stop taking mail, empty its queue (delivering
 * it, or handing it to the node HOST:PORT) and exit; wait and say how it
 * went.
 *
 * The daemon is found as relais reload finds it (DATA_DIR/relais.pid).
 * The command writes DATA_DIR/drain.request ("to HOST:PORT" or empty),
 * sends SIGUSR2 and follows DATA_DIR/drain.status (cli_serve_drain.h),
 * printing the queue left every few seconds, until the daemon exits or
 * N seconds passed (default 600; 0: wait for ever). Exit 0: the daemon
 * exited with its queue empty; 1: it refused (a bad --to), it stopped
 * before the queue was empty (the messages stay queued), or the time
 * ran out (the daemon keeps draining); 2: usage, or no daemon runs.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_daemon.h"
#include "cli/cli_serve_drain.h"
#include "conf/conf.h"
#include "core/xalloc.h"
#include "spool/spool.h"

#define CLI_DRAIN_TIMEOUT	600	/* seconds */
#define CLI_DRAIN_POLL_US	100000
#define CLI_DRAIN_REPORT_SEC	5

static void
cli_drain_usage(void)
{
	fprintf(stderr, "usage: relais drain [-c FILE] [--to HOST:PORT]"
	    " [--timeout SECONDS]\n");
}

/* cli_drain_args - -c, --to, --timeout */
static int
cli_drain_args(int argc, char **argv, const char **path, const char **to,
    long *timeout)
{
	char *end;

	*path = *to = NULL;
	*timeout = CLI_DRAIN_TIMEOUT;
	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 ||
		    strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			*path = argv[++i];
		else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			*to = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			*timeout = strtol(argv[++i], &end, 10);
			if (*end != '\0' || *timeout < 0)
				return -1;
		} else
			return -1;
	}
	if (*to != NULL && (strchr(*to, ':') == NULL ||
	    strpbrk(*to, " \t\r\n") != NULL))
		return -1;
	return 0;
}

/* cli_drain_request - DATA_DIR/drain.request, written whole (rename) */
static int
cli_drain_request(const char *data_dir, const char *to)
{
	char path[4096], tmp[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", data_dir, CLI_DRAIN_REQUEST);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "we")) == NULL)
		goto fail;
	if (to != NULL)
		fprintf(f, "to %s\n", to);
	if (ferror(f) | (fclose(f) != 0) || rename(tmp, path) == -1) {
		unlink(tmp);
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "relais: cannot write %s: %s\n", path,
	    strerror(errno));
	return -1;
}

/* cli_drain_progress - what is left, read from the spool */
static void
cli_drain_progress(const char *data_dir)
{
	struct spool_reader *rd;
	struct err err;
	int64_t queued, held;

	if ((rd = spool_reader_open(data_dir, &err)) == NULL)
		return;
	if (spool_reader_count(rd, &queued, &held, &err) == 0)
		printf("draining: %lld recipient%s queued, %lld held\n",
		    (long long)queued, queued == 1 ? "" : "s",
		    (long long)held);
	fflush(stdout);
	spool_reader_close(rd);
}

/* cli_drain_wait - follow the daemon until it exits or time runs out */
static int
cli_drain_wait(const char *data_dir, long pid, long timeout)
{
	struct cli_drain_status st;
	time_t start = time(NULL), last = 0;
	bool seen = false;

	for (;;) {
		bool alive = cli_daemon_pid(data_dir) == pid;
		bool have = cli_drain_status_read(data_dir, &st) == 0 &&
		    st.pid == pid;

		if (have && strcmp(st.result, "refused") == 0 && (alive ||
		    !seen)) {
			fprintf(stderr, "relais: drain refused: %s\n",
			    st.error);
			return 1;
		}
		if (have && !seen && strcmp(st.result, "draining") == 0) {
			seen = true;
			printf("draining%s%s: %lld recipient%s queued, %lld"
			    " held\n", st.to[0] ? " to " : "", st.to,
			    (long long)st.queued, st.queued == 1 ? "" : "s",
			    (long long)st.held);
			fflush(stdout);
			last = time(NULL);
		}
		if (!alive) {
			if (have && strcmp(st.result, "drained") == 0) {
				printf("drained: relais serve (pid %ld)"
				    " exited with its queue empty\n", pid);
				return 0;
			}
			if (have && strcmp(st.result, "stopped") == 0)
				fprintf(stderr, "relais: relais serve (pid %ld)"
				    " stopped before its queue was empty: %lld"
				    " recipients queued, %lld held (they stay"
				    " queued)\n", pid, (long long)st.queued,
				    (long long)st.held);
			else
				fprintf(stderr, "relais: relais serve (pid %ld)"
				    " ended without a drain status; see its"
				    " log\n", pid);
			return 1;
		}
		if (!seen && time(NULL) - start > 10) {
			fprintf(stderr, "relais: no answer from relais serve"
			    " (pid %ld) within 10 s; see its log"
			    " (event=drain.start)\n", pid);
			return 1;
		}
		if (seen && time(NULL) - last >= CLI_DRAIN_REPORT_SEC) {
			cli_drain_progress(data_dir);
			last = time(NULL);
		}
		if (timeout > 0 && time(NULL) - start >= timeout) {
			fprintf(stderr, "relais: relais serve (pid %ld) is still"
			    " draining after %ld s; it goes on (relais queue"
			    " list shows what is left)\n", pid, timeout);
			return 1;
		}
		usleep(CLI_DRAIN_POLL_US);
	}
}

int
cli_drain(int argc, char **argv)
{
	const char *path, *to;
	struct conf *conf;
	struct err err;
	char *data_dir;
	long pid, timeout;
	int rc;

	if (cli_drain_args(argc, argv, &path, &to, &timeout) == -1) {
		cli_drain_usage();
		return 2;
	}
	if (conf_find(path, &conf, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	data_dir = xstrdup(conf->server.data_dir);
	conf_unref(conf);
	if ((pid = cli_daemon_pid(data_dir)) == 0) {
		fprintf(stderr, "relais: relais serve is not running on %s (no"
		    " %s/%s held by a live daemon)\n", data_dir, data_dir,
		    CLI_DAEMON_PIDFILE);
		free(data_dir);
		return 2;
	}
	if (cli_drain_request(data_dir, to) == -1) {
		free(data_dir);
		return 1;
	}
	if (kill((pid_t)pid, SIGUSR2) == -1) {
		fprintf(stderr, "relais: cannot signal relais serve (pid %ld):"
		    " %s\n", pid, strerror(errno));
		free(data_dir);
		return 2;
	}
	rc = cli_drain_wait(data_dir, pid, timeout);
	free(data_dir);
	return rc;
}
