/* SPDX-License-Identifier: ISC */
/*
 * limits.h - connection counting shared by all worker threads: the global
 * max_connections and max_connections_per_ip. Thread-safe.
 */
#ifndef RELAIS_POLICY_LIMITS_H
#define RELAIS_POLICY_LIMITS_H

#include <stdbool.h>

enum limits_verdict {
	LIMITS_OK,
	LIMITS_TOO_MANY,	/* max_connections reached */
	LIMITS_TOO_MANY_IP,	/* max_connections_per_ip reached */
};

void	limits_init(void);
/* limits_connect - count a new connection from ip, unless over a limit */
enum limits_verdict limits_connect(const char *ip, unsigned max_total,
	    unsigned max_per_ip);
/* limits_disconnect - forget a connection counted by limits_connect */
void	limits_disconnect(const char *ip);
/* limits_active - connections counted now */
unsigned limits_active(void);

#endif
