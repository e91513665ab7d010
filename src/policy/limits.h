/* SPDX-License-Identifier: ISC */
/*
 * limits.h - the abuse limits shared by all worker threads: connections
 * in total and per client address, connections per address per minute,
 * AUTH failure bans per address, and messages per authenticated user per
 * day. Thread-safe; memory bounded (entries that hold nothing are
 * dropped, and the tables stop growing at LIMITS_MAX_ENTRIES).
 */
#ifndef RELAIS_POLICY_LIMITS_H
#define RELAIS_POLICY_LIMITS_H

#include <stdbool.h>

#include "conf/conf.h"

#define LIMITS_MAX_ENTRIES	200000	/* per table */

enum limits_verdict {
	LIMITS_OK,
	LIMITS_TOO_MANY,	/* max_connections reached */
	LIMITS_TOO_MANY_IP,	/* max_connections_per_ip reached */
	LIMITS_RATE,		/* connections_per_ip_per_minute */
	LIMITS_BANNED,		/* auth_failures_per_ip ban in force */
};

void	limits_init(void);
/*
 * limits_connect - count a new connection from ip, unless a limit of
 * conf refuses it; *ban_left_out gets the seconds left of a ban.
 */
enum limits_verdict limits_connect(const char *ip, const struct conf *conf,
	    unsigned *ban_left_out);
/* limits_disconnect - forget a connection counted by limits_connect */
void	limits_disconnect(const char *ip);
/* limits_active - connections counted now */
unsigned limits_active(void);
/* limits_verdict_name - the config key a verdict stands for */
const char *limits_verdict_name(enum limits_verdict v);

/*
 * limits_auth_failed - count a failed AUTH from ip; returns the length in
 * seconds of the ban it starts, else 0.
 */
unsigned limits_auth_failed(const char *ip, const struct conf *conf);
/* limits_banned - seconds left of ip's ban, 0 if none */
unsigned limits_banned(const char *ip);

/* limits_user_allowed - may user send one more message (user_daily_limit) */
bool	limits_user_allowed(const char *user, const struct conf *conf);
/* limits_user_sent - count one message accepted from user */
void	limits_user_sent(const char *user, const struct conf *conf);

/* limits_reset - forget everything (unit tests) */
void	limits_reset(void);

#endif
