/* SPDX-License-Identifier: ISC */
/*
 * cli_serve_drain.h - what relais serve does on SIGUSR2 (relais drain):
 * stop taking mail in (core/drain.h: SMTP 421, API 503, /healthz 503,
 * the registration says draining), keep delivering, or with --to hand
 * the queue to another node (queue/handoff.h), and end the daemon with
 * status 0 once no recipient is queued or held and no SMTP session is
 * open.
 *
 * relais drain and the daemon talk through two small files in DATA_DIR:
 *   drain.request  written by the command before its signal: "to
 *                  HOST:PORT" or nothing; read and removed by the daemon
 *   drain.status   replaced by the daemon (rename), "key value" lines:
 *                    pid 1234
 *                    result draining|drained|stopped|refused
 *                    to HOST:PORT            (with --to)
 *                    queued N                (recipients left)
 *                    held N
 *                    error TEXT              (refused)
 */
#ifndef RELAIS_CLI_SERVE_DRAIN_H
#define RELAIS_CLI_SERVE_DRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#define CLI_DRAIN_REQUEST	"drain.request"
#define CLI_DRAIN_STATUS	"drain.status"

struct qmgr;
struct serve_node;
struct handoff;
struct spool_reader;

struct serve_drain {
	struct event_base	*base;		/* the main loop */
	struct event		*timer;
	const char		*data_dir;
	const char		*helo;
	const char		*ca_file;	/* [relay] ca_file, or NULL */
	struct qmgr		*qmgr;
	struct serve_node	*node;		/* told at the start, or NULL */
	void			(*kick)(void *);	/* flush the queue */
	void			*kick_arg;
	struct handoff		*handoff;
	struct spool_reader	*rd;
	char			 to[300];
	bool			 active;
	bool			 drained;	/* the loop ended for it */
};

/* the drain status as relais drain reads it */
struct cli_drain_status {
	long		pid;
	char		result[16];
	char		to[300];
	int64_t		queued, held;
	char		error[512];
};

/* serve_drain_start - SIGUSR2, on the main thread */
void	serve_drain_start(struct serve_drain *d);
/* serve_drain_stop - the daemon stops: the hand-off first (the queue
   manager must still run); writes the final status */
void	serve_drain_stop(struct serve_drain *d);
/* serve_drain_fini - free; the status file stays for relais drain */
void	serve_drain_fini(struct serve_drain *d);

/* cli_drain_status_read - 0, or -1 when missing or unreadable */
int	cli_drain_status_read(const char *data_dir,
	    struct cli_drain_status *st);

#endif
