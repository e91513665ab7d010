/* SPDX-License-Identifier: ISC */
/*
 * quota.h - the quotas of tenants ([tenant NAME] in the config): messages
 * and recipients per hour and per day, in fixed UTC windows (an hour
 * window starts at a full hour, a day window at 00:00 UTC).
 *
 * A reservation model, shared by every thread: a session reserves what
 * it is about to submit (quota_reserve, at RCPT or at the API request);
 * what is committed to the spool moves from reserved to used
 * (quota_commit), what is not is given back (quota_release). A
 * reservation is refused when used + reserved + asked would pass a limit,
 * so the limits hold exactly however many sessions race. The counters
 * are seeded at start from the spool's tenant_usage table (quota_seed),
 * so a restart does not reset a window. Thread-safe (one mutex, taken
 * once per recipient of a tenant); memory bounded by QUOTA_TENANTS_MAX.
 */
#ifndef RELAIS_POLICY_QUOTA_H
#define RELAIS_POLICY_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

#define QUOTA_TENANTS_MAX	4096	/* tenants with counters */
#define QUOTA_HOUR		3600	/* window lengths, seconds */
#define QUOTA_DAY		86400

enum quota_kind {
	QUOTA_MESSAGES,
	QUOTA_RECIPIENTS,
};

/* why a reservation was refused */
struct quota_denial {
	enum quota_kind	 kind;
	unsigned	 period;	/* QUOTA_HOUR or QUOTA_DAY */
	unsigned	 limit;
	int64_t		 retry_after;	/* seconds to the window's end */
	char		 key[32];	/* the config key: "messages_per_day" */
};

/* what a tenant used in the current windows */
struct quota_usage {
	uint64_t	 messages[2];	/* [0] hour, [1] day */
	uint64_t	 recipients[2];
	uint64_t	 reserved_messages;
	uint64_t	 reserved_recipients;
};

/* quota_window - the start of the window of length period holding t */
int64_t	quota_window(unsigned period, int64_t t);

/*
 * quota_reserve - reserve msgs messages and rcpts recipients for tenant t
 * at now: 0, or -1 with *d filled when a limit of t would be passed
 * (nothing is reserved then).
 */
int	quota_reserve(const struct conf_tenant *t, unsigned msgs,
	    unsigned rcpts, int64_t now, struct quota_denial *d);
/* quota_reserve_force - reserve without looking at the limits (the
   cluster's shared counters allowed it: the local ones keep track) */
void	quota_reserve_force(const char *tenant, unsigned msgs, unsigned rcpts);
/* quota_denial_fill - the denial of limit i of t (0: messages per hour,
   1: messages per day, 2: recipients per hour, 3: per day) at now */
void	quota_denial_fill(const struct conf_tenant *t, int i, int64_t now,
	    struct quota_denial *d);
/* quota_release - give a reservation back (the message was not stored) */
void	quota_release(const char *tenant, unsigned msgs, unsigned rcpts);
/* quota_commit - a reservation stored with a message that arrived at
   arrival: used in the windows holding arrival (if still current) */
void	quota_commit(const char *tenant, unsigned msgs, unsigned rcpts,
	    int64_t arrival);
/* quota_seed - usage of a window read from the spool at start */
void	quota_seed(const char *tenant, unsigned period, int64_t window_start,
	    uint64_t msgs, uint64_t rcpts);
/* quota_get - the tenant's usage at now (zero if unknown) */
void	quota_get(const char *tenant, int64_t now, struct quota_usage *out);

/* quota_text - "tenant shop has reached its limit of 100 recipients per
   hour; try again later" */
void	quota_text(const char *tenant, const struct quota_denial *d,
	    char *out, size_t n);

/* quota_reset - forget everything (unit tests) */
void	quota_reset(void);

#endif
