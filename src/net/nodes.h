/* SPDX-License-Identifier: ISC */
/*
 * nodes.h - the nodes of a cluster as registered in Redis ([cluster]
 * redis): one key per node, PREFIX "node:" NAME, holding a JSON object
 * about it, with a time to live its node renews (docs/cluster.md, "Nodes
 * and draining"). Synchronous hiredis with the [cluster] timeout on
 * every call: for the node's registration thread and the commands,
 * never for an event loop.
 *
 * nodes_fetch goes one step further for the cluster's queue: it asks
 * every registered node's HTTP API for its queue (libcurl, blocking,
 * with a timeout) and merges the answers.
 */
#ifndef RELAIS_NET_NODES_H
#define RELAIS_NET_NODES_H

#include <jansson.h>

#include "core/err.h"

struct conf;
struct nodes;

/* nodes_open - connect to [cluster] redis (AUTH with its password);
   NULL with err set when it cannot be reached */
struct nodes *nodes_open(const struct conf *conf, struct err *err);
void	nodes_close(struct nodes *n);
/* nodes_put - SET PREFIX node:NAME json EX ttl */
int	nodes_put(struct nodes *n, const char *name, const char *json,
	    unsigned ttl, struct err *err);
/* nodes_del - DEL PREFIX node:NAME */
int	nodes_del(struct nodes *n, const char *name, struct err *err);
/* nodes_list - every registration (SCAN, then GET), as a JSON array of
   the objects stored, sorted by "node"; a value that is not JSON is
   skipped. NULL with err set on a Redis failure. */
json_t	*nodes_list(struct nodes *n, struct err *err);

/*
 * nodes_queue - the cluster's queue: for each registered node, GET
 * API/v1/queue?limit=1000 with "Authorization: Bearer token" (the nodes
 * share their keys file), timeout seconds at most per node, all nodes
 * at once. Returns
 *   {"nodes":[{"node","api","draining","queued","status":"ok"|
 *     "unreachable"|"error","error"?}...],
 *    "messages":[{..., "node":NAME}...]}
 * or NULL with err set when Redis cannot be read.
 */
json_t	*nodes_queue(const struct conf *conf, const char *token,
	    unsigned timeout, struct err *err);

#endif
