/* SPDX-License-Identifier: ISC */
/*
 * cli_reload.c - relais reload [-c FILE]: have the running daemon reload
 * its configuration and say how it went.
 *
 * FILE (or ./relais.conf, or the embedded default) gives DATA_DIR, where
 * the daemon's pid file is (cli_daemon.h); a FILE that does not load
 * still names it (conf_peek_data_dir), so the daemon itself refuses the
 * file and says why. The command notes the monotonic clock, sends
 * SIGHUP and waits (CLI_RELOAD_WAIT seconds at most) for a reload status
 * of that daemon that started after it. Exit 0: reloaded; 1: refused
 * (the daemon keeps the configuration it had), no answer, or the daemon
 * ended; 2: usage, or no daemon runs on DATA_DIR.
 *
 * The daemon reloads the file it was started with: -c only finds it; a
 * different FILE is warned about.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_daemon.h"
#include "conf/conf.h"
#include "core/xalloc.h"

#define CLI_RELOAD_WAIT		10	/* seconds */
#define CLI_RELOAD_POLL_US	50000

static void
cli_reload_usage(void)
{
	fprintf(stderr, "usage: relais reload [-c FILE]\n");
}

/* cli_reload_other - warn when the daemon's file is not FILE */
static void
cli_reload_other(const char *path, const char *reloaded)
{
	char *abs;

	if (path == NULL)
		return;
	if ((abs = realpath(path, NULL)) == NULL)
		abs = xstrdup(path);
	if (strcmp(abs, reloaded) != 0)
		fprintf(stderr, "relais: warning: relais serve reloaded %s, not"
		    " %s (it reads the file it was started with)\n", reloaded,
		    path);
	free(abs);
}

/* cli_reload_report - print the status; the exit status */
static int
cli_reload_report(const char *path, const struct cli_reload_status *st)
{
	if (!st->ok) {
		fprintf(stderr, "%s\n", st->error);
		fprintf(stderr, "relais: reload refused: relais serve keeps"
		    " its running configuration\n");
		cli_reload_other(path, st->path);
		return 1;
	}
	printf("reload ok: %s\n", st->path);
	printf("changed: %s\n", st->changed[0] ? st->changed : "nothing");
	if (st->restart[0] != '\0')
		fprintf(stderr, "relais: warning: these keys keep their start"
		    " values until relais serve is restarted: %s\n",
		    st->restart);
	cli_reload_other(path, st->path);
	return 0;
}

/* cli_reload_wait - the status of pid's reload started at or after t0 */
static int
cli_reload_wait(const char *path, const char *data_dir, long pid,
    uint64_t t0)
{
	struct cli_reload_status *st = xcalloc(1, sizeof(*st));
	int rc;

	for (int i = 0; i < CLI_RELOAD_WAIT * 1000000 / CLI_RELOAD_POLL_US;
	    i++) {
		if (cli_status_read(data_dir, st) == 0 && st->pid == pid &&
		    st->started >= t0) {
			rc = cli_reload_report(path, st);
			free(st);
			return rc;
		}
		if (cli_daemon_pid(data_dir) != pid) {
			fprintf(stderr, "relais: relais serve (pid %ld) ended"
			    " before it answered\n", pid);
			free(st);
			return 1;
		}
		usleep(CLI_RELOAD_POLL_US);
	}
	fprintf(stderr, "relais: no answer from relais serve (pid %ld) within"
	    " %d s; see its log (event=config.reload)\n", pid,
	    CLI_RELOAD_WAIT);
	free(st);
	return 1;
}

int
cli_reload(int argc, char **argv)
{
	const char *path;
	struct conf *conf;
	struct err err;
	char *data_dir;
	uint64_t t0;
	long pid;
	int npos, rc;

	if (cli_args(argc, argv, &path, NULL, 0, &npos) == -1) {
		cli_reload_usage();
		return 2;
	}
	if (conf_find(path, &conf, &err) == 0) {
		data_dir = xstrdup(conf->server.data_dir);
		conf_unref(conf);
	} else {
		/* the daemon will refuse it: find the daemon anyway */
		data_dir = conf_peek_data_dir(path ? path : "relais.conf");
	}
	pid = cli_daemon_pid(data_dir);
	if (pid == 0 && path == NULL) {
		/* a daemon started on the embedded default, before
		   ./relais.conf was written: its data is in ./relais-data */
		conf = conf_default();
		if ((pid = cli_daemon_pid(conf->server.data_dir)) != 0) {
			free(data_dir);
			data_dir = xstrdup(conf->server.data_dir);
		}
		conf_unref(conf);
	}
	if (pid == 0) {
		fprintf(stderr, "relais: relais serve is not running on %s (no"
		    " %s/%s held by a live daemon)\n", data_dir, data_dir,
		    CLI_DAEMON_PIDFILE);
		free(data_dir);
		return 2;
	}
	t0 = cli_monotonic_ns();
	if (kill((pid_t)pid, SIGHUP) == -1) {
		fprintf(stderr, "relais: cannot signal relais serve (pid %ld):"
		    " %s\n", pid, strerror(errno));
		free(data_dir);
		return 2;
	}
	rc = cli_reload_wait(path, data_dir, pid, t0);
	free(data_dir);
	return rc;
}
