/* SPDX-License-Identifier: ISC */
/*
 * listen.h - listening sockets, opened once in the main thread before
 * privileges are dropped: one SO_REUSEPORT socket per listener address
 * per worker thread, so the kernel spreads connections over the workers.
 */
#ifndef RELAIS_NET_LISTEN_H
#define RELAIS_NET_LISTEN_H

#include <stddef.h>

#include "conf/conf.h"
#include "core/err.h"

struct worker;

struct listen_sock {
	int	 fd;
	struct worker *worker;	/* set by worker_init */
	char	*listener;	/* [listener NAME] */
	char	 addr[64];	/* "host:port" as configured */
};

struct listen_set {
	struct listen_sock	*socks;		/* nworkers * per_worker */
	size_t			 per_worker;
	unsigned		 nworkers;
};

/* listen_open - bind every address of every listener nworkers times */
int	listen_open(const struct conf *conf, unsigned nworkers,
	    struct listen_set *set_out, struct err *err);
/* listen_worker - the sockets of worker w */
struct listen_sock *listen_worker(struct listen_set *set, unsigned w);
void	listen_close(struct listen_set *set);

#endif
