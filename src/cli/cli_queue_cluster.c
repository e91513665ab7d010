/* SPDX-License-Identifier: ISC */
/*
 * cli_queue_cluster.c - relais queue list --cluster: the registered
 * nodes ([cluster] redis) and every one's queue, asked of each node's
 * HTTP API (net/nodes.h) with the key in RELAIS_API_KEY (the nodes
 * share their keys file). A node that does not answer within the time
 * is listed as unreachable. Exit 0 with the list, 1 when Redis cannot be
 * read, 2 without [cluster] redis or a key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli_queue_cluster.h"
#include "conf/conf.h"
#include "net/nodes.h"

#define CLI_CLUSTER_TIMEOUT	5	/* seconds per node */

static const char *
cli_cluster_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

/* cli_cluster_nodes - one line per node */
static void
cli_cluster_nodes(json_t *nodes, size_t *down)
{
	printf("%-20s %-12s %7s  %s\n", "NODE", "STATUS", "QUEUED", "API");
	for (size_t i = 0; i < json_array_size(nodes); i++) {
		json_t *n = json_array_get(nodes, i);
		const char *st = cli_cluster_str(n, "status");
		json_t *q = json_object_get(n, "queued");
		char queued[32] = "-";

		if (json_is_integer(q))
			snprintf(queued, sizeof(queued), "%lld",
			    (long long)json_integer_value(q));
		if (strcmp(st, "ok") != 0)
			(*down)++;
		printf("%-20s %-12s %7s  %s%s%s%s\n", cli_cluster_str(n,
		    "node"), strcmp(st, "ok") != 0 ? st :
		    json_is_true(json_object_get(n, "draining")) ?
		    "draining" : "up", queued, cli_cluster_str(n, "api"),
		    json_object_get(n, "error") ? " (" : "",
		    json_object_get(n, "error") ? cli_cluster_str(n, "error") :
		    "", json_object_get(n, "error") ? ")" : "");
	}
}

/* cli_cluster_msgs - one line per recipient, as relais queue list */
static size_t
cli_cluster_msgs(json_t *msgs)
{
	size_t n = 0;

	printf("\n%-12s %-16s %-9s %8s %-20s %-20s %s -> %s  %s\n", "NODE",
	    "ID", "STATUS", "ATTEMPTS", "ARRIVAL", "NEXT", "SENDER",
	    "RECIPIENT", "LAST");
	for (size_t i = 0; i < json_array_size(msgs); i++) {
		json_t *m = json_array_get(msgs, i);
		json_t *rc = json_object_get(m, "recipients");

		for (size_t k = 0; k < json_array_size(rc); k++) {
			json_t *r = json_array_get(rc, k);

			printf("%-12s %-16s %-9s %8lld %-20s %-20s <%s> -> <%s>"
			    "  %s\n", cli_cluster_str(m, "node"),
			    cli_cluster_str(m, "id"), cli_cluster_str(r,
			    "state"), (long long)json_integer_value(
			    json_object_get(r, "attempts")),
			    cli_cluster_str(m, "arrival"), cli_cluster_str(r,
			    "next_attempt"), json_string_value(json_object_get(
			    m, "sender")) ? cli_cluster_str(m, "sender") : "",
			    cli_cluster_str(r, "address"),
			    json_string_value(json_object_get(r,
			    "last_reply")) ? cli_cluster_str(r, "last_reply") :
			    "");
			n++;
		}
	}
	return n;
}

int
cli_queue_cluster(const struct conf *conf)
{
	const char *token = getenv("RELAIS_API_KEY");
	struct err err;
	json_t *out;
	size_t n, down = 0;

	if (conf->cluster.redis == NULL) {
		fprintf(stderr, "relais: queue list --cluster: no [cluster]"
		    " redis in the configuration\n");
		return 2;
	}
	if (token == NULL || token[0] == '\0') {
		fprintf(stderr, "relais: queue list --cluster asks each node's"
		    " API: put an API key in RELAIS_API_KEY\n");
		return 2;
	}
	if ((out = nodes_queue(conf, token, CLI_CLUSTER_TIMEOUT, &err)) ==
	    NULL) {
		fprintf(stderr, "relais: %s\n", err.msg);
		return 1;
	}
	cli_cluster_nodes(json_object_get(out, "nodes"), &down);
	n = cli_cluster_msgs(json_object_get(out, "messages"));
	printf("%zu recipient%s queued on %zu node%s", n, n == 1 ? "" : "s",
	    json_array_size(json_object_get(out, "nodes")),
	    json_array_size(json_object_get(out, "nodes")) == 1 ? "" : "s");
	if (down > 0)
		printf(" (%zu not answering: not counted)", down);
	printf("\n");
	json_decref(out);
	return 0;
}
