/* SPDX-License-Identifier: ISC */
/*
 * cli_daemon.h - how the commands find a running relais serve and learn
 * what it made of a reload: two small files in DATA_DIR.
 *
 * DATA_DIR/relais.pid holds the daemon's process id. relais serve writes
 * it under another name and renames it into place (a reader never sees
 * half of it), and keeps an exclusive flock(2) on it until it exits, so
 * a pid file left by a daemon that crashed is told from a live one
 * without trusting the number (which another process may have by now).
 *
 * DATA_DIR/reload.status is the outcome of the daemon's last reload,
 * replaced as a whole (rename) after each one: "key value" lines
 *   pid 1234
 *   started 5170133244813     CLOCK_MONOTONIC nanoseconds at its start
 *   result ok|failed
 *   path /etc/relais/relais.conf
 *   changed limits.max_recipients,local.aliases   (conf_diff names)
 *   restart server.threads                        (need a restart)
 *   error FILE:LINE: message                      (result failed)
 * relais reload notes the monotonic clock before it signals: a status of
 * the same pid started at or after it answers that signal (a reload
 * already running when the command started does not).
 */
#ifndef RELAIS_CLI_DAEMON_H
#define RELAIS_CLI_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#define CLI_DAEMON_PIDFILE	"relais.pid"
#define CLI_DAEMON_STATUS	"reload.status"
#define CLI_DAEMON_LIST_MAX	1024	/* changed and restart lists */

/* the pid file of the running daemon */
struct cli_pidfile {
	char	*path;		/* NULL: none written */
	int	 fd;		/* holds the lock */
};

/* cli_pidfile_write - DATA_DIR/relais.pid, written atomically and locked;
   a failure is logged and leaves pf->path NULL (the daemon runs on) */
void	cli_pidfile_write(struct cli_pidfile *pf, const char *data_dir);
/* cli_pidfile_remove - at exit: unlink, then drop the lock */
void	cli_pidfile_remove(struct cli_pidfile *pf);

/* cli_daemon_pid - the pid of the relais serve running on data_dir, 0
   when none (no pid file, or nobody holds its lock) */
long	cli_daemon_pid(const char *data_dir);

struct cli_reload_status {
	long		pid;
	uint64_t	started;		/* CLOCK_MONOTONIC ns */
	bool		ok;
	char		path[1024];
	char		changed[CLI_DAEMON_LIST_MAX];
	char		restart[CLI_DAEMON_LIST_MAX];
	char		error[512];
};

/* cli_monotonic_ns - CLOCK_MONOTONIC now, in nanoseconds */
uint64_t cli_monotonic_ns(void);
/* cli_status_write - replace DATA_DIR/reload.status; -1 (errno) on error */
int	cli_status_write(const char *data_dir,
	    const struct cli_reload_status *st);
/* cli_status_read - 0, or -1 when missing or not a whole status */
int	cli_status_read(const char *data_dir, struct cli_reload_status *st);
/* cli_status_remove - at the daemon's exit */
void	cli_status_remove(const char *data_dir);

#endif
