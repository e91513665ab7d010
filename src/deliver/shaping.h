/* SPDX-License-Identifier: ISC */
/*
 * shaping.h - the arithmetic of traffic shaping (docs/shaping.md), pure
 * functions over the configuration: what a site is called, the limits
 * that apply to it, which [backoff] rule a reply matches, how a rate is
 * cut and lifted (AIMD), and a warm-up pool's daily allowance.
 *
 * The outbound agent (deliver_remote.c) keeps the state; this file only
 * computes, so it can be unit-tested alone.
 */
#ifndef RELAIS_DELIVER_SHAPING_H
#define RELAIS_DELIVER_SHAPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

#define SHAPING_SITE_MAX	128	/* a site's name, with its NUL */

/* the limits that apply to one site, per source address */
struct shaping_limits {
	unsigned	 connection_limit;	/* >= 1 */
	double		 rate;			/* messages/s, 0 = none */
	unsigned	 max_deliveries;	/* per connection, 0 = none */
	unsigned	 max_rcpts;		/* per transaction, 0 = none */
	unsigned	 idle_timeout;		/* seconds */
	const char	*pool;			/* the rule's pool, or NULL */
	const char	*rule;			/* the [site] NAME, or NULL */
};

/*
 * shaping_site_name - the site of domain, whose MX hosts are mx (in
 * preference order): the NAME of the first [site] that matches the
 * domain or one of the hosts, else the hosts' names sorted and joined by
 * commas (so domains hosted on the same servers share a site), cut to
 * fit out (SHAPING_SITE_MAX).
 */
void	shaping_site_name(const struct conf *conf, const char *domain,
	    const char *const *mx, size_t nmx, char *out, size_t outlen);

/* shaping_limits - the limits of site (a [site] NAME or a host list) */
void	shaping_limits(const struct conf *conf, const char *site,
	    struct shaping_limits *out);

/* shaping_rule - the first [backoff] rule whose expression matches the
   reply "CODE ENHANCED TEXT", or NULL */
const struct conf_backoff *shaping_rule(const struct conf *conf, int code,
	    const char *status, const char *text);

/* shaping_cut - the rate after a cut: rate (messages/s; 0 = none, then
   measured stands for it) times the rule's factor, at least one message
   a minute */
double	shaping_cut(const struct conf_backoff *b, double rate, double measured);
/* shaping_lift - the rate after one recover_interval without a match:
   plus rate_increase percent of ref (the configured rate, or the rate
   the first cut started from); 0 (no limit) once it is back at ref and
   the site has no configured rate (configured == 0) */
double	shaping_lift(const struct conf_backoff *b, double rate, double ref,
	    double configured);

/* shaping_warmup_allowance - messages an address of pool may send on
   the UTC day of now: warmup_start, growing warmup_growth percent a day
   since warmup_since; UINT64_MAX when the pool has no warm-up or the
   ramp is over */
uint64_t shaping_warmup_allowance(const struct conf_pool *pool, int64_t now);

#endif
