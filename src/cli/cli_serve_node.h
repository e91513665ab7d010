/* SPDX-License-Identifier: ISC */
/*
 * cli_serve_node.h - relais serve's registration as a node of a cluster
 * ([cluster] redis; docs/cluster.md, "Nodes and draining").
 *
 * A thread of its own ("relais-node") with synchronous hiredis: every
 * few seconds it writes PREFIX "node:" NAME = {"node", "hostname",
 * "api", "smtp", "started", "queued", "held", "draining", "tag", "pid",
 * "version"} with a time to live of three periods, and looks at the
 * other registrations: a live node whose queue-id tag equals ours is
 * warned about (event=cluster.node.tag), naming both. Redis away: logged
 * once (event=cluster.register.failed), tried again each period, no
 * effect on mail. At a clean exit the key is deleted.
 *
 * RELAIS_NODE_INTERVAL (seconds, 1..60) in the environment changes the
 * period (the tests' short time to live); the default is 5.
 */
#ifndef RELAIS_CLI_SERVE_NODE_H
#define RELAIS_CLI_SERVE_NODE_H

struct conf_live;
struct serve_node;

/* serve_node_start - NULL without [cluster] redis (or when the thread
   cannot start: logged) */
struct serve_node *serve_node_start(struct conf_live *live);
/* serve_node_kick - register again now (the node began to drain) */
void	serve_node_kick(struct serve_node *n);
/* serve_node_stop - end the thread, deleting the registration; NULL is
   a no-op */
void	serve_node_stop(struct serve_node *n);

#endif
