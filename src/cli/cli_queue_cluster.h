/* SPDX-License-Identifier: ISC */
/*
 * cli_queue_cluster.h - relais queue list --cluster (cli_queue_cluster.c).
 */
#ifndef RELAIS_CLI_QUEUE_CLUSTER_H
#define RELAIS_CLI_QUEUE_CLUSTER_H

struct conf;

/* cli_queue_cluster - print the cluster's nodes and queues; the exit
   status */
int	cli_queue_cluster(const struct conf *conf);

#endif
