/* SPDX-License-Identifier: ISC */
/*
 * cluster_int.h - what cluster.c and cluster_sites.c share of a struct
 * cluster: its connections, the suppression owner's pending changes, and
 * the site suspensions it shares.
 */
#ifndef RELAIS_POLICY_CLUSTER_INT_H
#define RELAIS_POLICY_CLUSTER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/cluster.h"

#define CLUSTER_KEY_MAX		600

struct redis;
struct redisReply;
struct cluster_sites;

/* a change of the suppression list on its way to Redis */
struct cluster_change {
	struct cluster_change	*next;
	bool			 add;
	char			 key[];
};

struct cluster {
	struct redis		*cmd;
	struct redis		*sub;		/* suppression: subscriber */
	char			*prefix;
	unsigned		 limit_ttl;
	struct worker		*w;		/* suppression owner's worker */
	struct cluster_change	*pending, **pending_tail;
	size_t			 npending;
	bool			 merge_wanted;	/* SSCAN at next chance */
	bool			 merging;
	struct cluster_sites	*sites;		/* shared suspensions, or
						   NULL */
};

/* cluster_ignore_cb - a redis_reply_fn for answers nobody waits for */
void	cluster_ignore_cb(void *arg, const struct redisReply *rep);

/* cluster_sites_up - c's command connection is up again: publish what
   waited, read the suspensions in force (owner's thread) */
void	cluster_sites_up(struct cluster *c);
/* cluster_sites_message - a site message heard on the channel */
void	cluster_sites_message(struct cluster *c, const char *msg, size_t len);
/* cluster_sites_free - at cluster_free */
void	cluster_sites_free(struct cluster *c);

#endif
