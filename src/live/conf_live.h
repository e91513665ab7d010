/* SPDX-License-Identifier: ISC */
/*
 * conf_live.h - the running configuration: the config plus the tables it
 * names (users passwd-file, aliases), swapped as one on SIGHUP.
 *
 * Threads take a reference to the current snapshot (conf_live_get) for
 * the span of a session or a delivery and drop it after; a reload builds
 * a complete new snapshot first and swaps it in only if all of it loaded.
 */
#ifndef RELAIS_LIVE_CONF_LIVE_H
#define RELAIS_LIVE_CONF_LIVE_H

#include <pthread.h>
#include <stdatomic.h>

#include "conf/conf.h"
#include "core/err.h"

struct passwd_file;
struct alias_table;
struct tls_server;
struct dkim_signer;

struct conf_snap {
	atomic_int		 refs;
	struct conf		*conf;
	struct passwd_file	*users;		/* NULL: every local part */
	struct alias_table	*aliases;	/* NULL: no aliases */
	struct tls_server	*tls;		/* NULL: no listener uses TLS */
	struct dkim_signer	*signer;	/* NULL: no [dkim DOMAIN] */
};

struct conf_live {
	pthread_mutex_t		 lock;
	struct conf_snap	*cur;
	char			*path;		/* NULL: embedded default */
};

/* conf_live_init - load everything; -1 with err ("FILE:LINE: msg") */
int	conf_live_init(struct conf_live *live, const char *path,
	    struct err *err);
void	conf_live_fini(struct conf_live *live);
/* conf_live_reload - load anew and swap; on error keep the old one */
int	conf_live_reload(struct conf_live *live, struct err *err);
/* conf_live_get - a reference to the current snapshot */
struct conf_snap *conf_live_get(struct conf_live *live);
void	conf_snap_unref(struct conf_snap *snap);

/* conf_snap_load - build a snapshot from an already loaded conf */
struct conf_snap *conf_snap_load(struct conf *conf, struct err *err);

#endif
