/* SPDX-License-Identifier: ISC */
/*
 * metrics.h - the process's counters, gauges and histograms, rendered in
 * the Prometheus text exposition format 0.0.4 for GET /metrics.
 *
 * Any thread may count (the workers, the queue manager, the delivery
 * pool): every value is a relaxed atomic in a static array, so counting
 * takes no lock and allocates nothing. Labels are bounded. A listener
 * label takes the listener's name: the first METRICS_LISTENERS_MAX names
 * seen (metrics_listener registers the config's at start), any later one
 * counts as "other". A domain label takes the first METRICS_DOMAINS_MAX
 * destination domains seen since start, every later one counts as
 * "other": a fixed table, so no sender of mail can grow the output. A
 * tenant label takes a [tenant] name, the first METRICS_TENANTS_MAX
 * (metrics_tenant registers the config's at start). The
 * metric names, labels and bounds are listed in docs/architecture.md
 * ("Metrics").
 */
#ifndef RELAIS_CORE_METRICS_H
#define RELAIS_CORE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct buf;

#define METRICS_LISTENERS_MAX	16	/* then listener="other" */
#define METRICS_DOMAINS_MAX	64	/* then domain="other" */
#define METRICS_SITES_MAX	64	/* then no series */
#define METRICS_TENANTS_MAX	32	/* then tenant="other" */

/* counters and gauges; the comment names the label metrics_count takes */
enum metric_id {
	/* counters */
	METRIC_RECEIVED,		/* listener: messages answered 250 */
	METRIC_SESSIONS_TLS,		/* listener: sessions ended, TLS up */
	METRIC_SESSIONS_PLAIN,		/* listener: sessions ended without */
	METRIC_DELIVERED,		/* domain: recipients delivered */
	METRIC_DEFERRED,		/* domain: recipients deferred */
	METRIC_BOUNCED,			/* domain: recipients bounced */
	METRIC_OUT_TLS,			/* domain: outbound connections ready,
					   over TLS */
	METRIC_OUT_PLAIN,		/* domain: ... in clear text */
	METRIC_TENANT_MESSAGES,		/* tenant: messages stored */
	METRIC_TENANT_RECIPIENTS,	/* tenant: their recipients */
	/* gauges */
	METRIC_SESSIONS_OPEN,		/* listener */
	METRIC_QUEUE_RECIPIENTS,	/* none: recipients not settled */
	METRIC_QUEUE_OLDEST_AGE,	/* none: seconds since the oldest
					   of their messages arrived */
	METRIC__COUNT
};

/* histograms (seconds, fixed buckets 0.0005 .. 10) */
enum metric_hist {
	METRIC_H_SPOOL_COMMIT,		/* group commit: fsyncs to COMMIT */
	METRIC_H_DNS_A,			/* DNS query to answer, by type */
	METRIC_H_DNS_AAAA,
	METRIC_H_DNS_MX,
	METRIC_H_DNS_TXT,
	METRIC_H_DNS_TLSA,
	METRIC_H_DNS_PTR,
	METRIC_H_DNS_OTHER,
	METRIC_H__COUNT
};

/*
 * metrics_count - one more. label: the listener's name, or for a domain
 * metric a domain or an address (the part after its last '@' is taken,
 * case-folded); NULL or ignored for a metric without label.
 */
void	metrics_count(enum metric_id id, const char *label);
/* metrics_add - n more (a counter) */
void	metrics_add(enum metric_id id, const char *label, uint64_t n);
/* metrics_gauge_add / _set - a gauge moved by delta, or set to v */
void	metrics_gauge_add(enum metric_id id, const char *label, int64_t delta);
void	metrics_gauge_set(enum metric_id id, const char *label, int64_t v);
/* metrics_total - a counter or gauge summed over all its labels (the
   status page's figures); any thread */
int64_t	metrics_total(enum metric_id id);
/* metrics_observe - one observation of a histogram (negative: 0) */
void	metrics_observe(enum metric_hist h, double seconds);

/* metrics_mono_ns - CLOCK_MONOTONIC in nanoseconds, for the two below */
int64_t	metrics_mono_ns(void);
/* metrics_observe_since - observe the time since t0 (metrics_mono_ns) */
void	metrics_observe_since(enum metric_hist h, int64_t t0_ns);

/*
 * metrics_site_set - the state of a destination site as its agent last
 * reported it: relais_site_suspended{site} 1 or 0 and relais_site_rate
 * {site} (messages per second now, 0: no limit). The first
 * METRICS_SITES_MAX sites reported since start have series; later ones
 * none (any thread; a lock, taken only when a site's state changes).
 */
void	metrics_site_set(const char *site, bool suspended, double rate);
/* metrics_tenant - give a [tenant] its label now (the config's, at
   start): the first METRICS_TENANTS_MAX names, later ones are "other" */
void	metrics_tenant(const char *name);

/* metrics_listener - give a listener its label now (the config's names,
   at start), so its series are there from the first scrape */
void	metrics_listener(const char *name);

/*
 * metrics_render - append the whole exposition (text format 0.0.4:
 * # HELP and # TYPE lines, names prefixed relais_, counters ending in
 * _total, label values escaped, histograms as cumulative _bucket{le=}
 * lines with +Inf, then _sum and _count) to out. -1 if out refused to
 * grow (its max), else 0. Any thread; the values are read one at a time,
 * each series is consistent on its own.
 */
int	metrics_render(struct buf *out);

/* metrics_reset - every value to zero and the label tables emptied; for
   unit tests, while no other thread counts */
void	metrics_reset(void);

#endif
