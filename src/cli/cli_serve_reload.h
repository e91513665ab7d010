/* SPDX-License-Identifier: ISC */
/*
 * cli_serve_reload.h - what relais serve does on SIGHUP: load the
 * configuration anew (conf_live_reload), log the outcome once, with the
 * keys that changed and those that only a restart applies, and leave it
 * in DATA_DIR/reload.status for relais reload (cli_daemon.h).
 */
#ifndef RELAIS_CLI_SERVE_RELOAD_H
#define RELAIS_CLI_SERVE_RELOAD_H

#include "conf/conf.h"
#include "live/conf_live.h"

struct serve_reload {
	struct conf	*start;		/* the configuration at start */
	char		*path;		/* the file a reload reads, made
					   absolute at start (without -c:
					   ./relais.conf) */
};

/* serve_reload_init - before the sandbox (the file's absolute path) */
void	serve_reload_init(struct serve_reload *r, struct conf_live *live);
/* serve_reload_run - one reload, on the main thread */
void	serve_reload_run(struct serve_reload *r, struct conf_live *live);
/* serve_reload_fini - at exit: the status file goes too */
void	serve_reload_fini(struct serve_reload *r);

#endif
