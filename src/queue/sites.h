/* SPDX-License-Identifier: ISC */
/*
 * sites.h - destination sites in the queue (docs/shaping.md): what the
 * outbound agent reports of a site goes into the spool's sites table and
 * the metrics; the operator's suspensions come back from that table to
 * the agent (queue/qmgr.c, qmgr_set_site_hook).
 */
#ifndef RELAIS_QUEUE_SITES_H
#define RELAIS_QUEUE_SITES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deliver/deliver_remote.h"

/* the longest site name, with its NUL (struct remote_site_state) */
#define SITES_NAME_MAX		128
/* an operator's suspension without a duration, and the longest one */
#define SITES_SUSPEND_DEF	3600
#define SITES_SUSPEND_MAX	(366 * 86400)
/* the longest reason kept */
#define SITES_REASON_MAX	256

/*
 * sites_name - a site name as an operator typed it, made the key the
 * agent uses: 1 to SITES_NAME_MAX - 1 bytes of printable ASCII without
 * space, '/', '"', '\', '(' or ')', folded to lower case, into out
 * (n >= SITES_NAME_MAX). false if it is no site name.
 */
bool	sites_name(const char *in, char *out, size_t n);

/*
 * sites_reason - the operator's reason made safe to store and log:
 * control characters and '"' become ' ', at most SITES_REASON_MAX - 1
 * bytes (cut on a UTF-8 boundary); "" for NULL.
 */
void	sites_reason(const char *in, char *out, size_t n);

struct spool_site;

/* what sites_state says of a site */
enum sites_kind {
	SITES_ACTIVE,
	SITES_SUSPENDED,	/* until s->suspended_until */
	SITES_THROTTLED,	/* its rate cut below the configured one */
};
/*
 * sites_state - a site's row read at now, in words for relais queue
 * list --site: "active", "suspended until 2026-01-02T03:04:05Z (manual)
 * REASON" (auto: by a reply), or "rate 0.5/s of 2/s"
 */
enum sites_kind sites_state(const struct spool_site *s, int64_t now,
	    char *out, size_t n);

/*
 * sites_report - a remote_site_fn; arg: the struct qmgr. Sets the site's
 * metrics and hands the state to the queue manager, which writes the
 * site's row (any thread; never blocks on the spool).
 */
void	sites_report(void *arg, const struct remote_site_state *st);

/* an operator's suspension (until > 0, unix time) or resume (0) */
struct sites_act {
	char		 site[SITES_NAME_MAX];
	char		 reason[SITES_REASON_MAX];
	int64_t		 until;
};

struct qmgr_txn;
struct err;
/*
 * sites_act_run - a qmgr_call_fn (arg: a struct sites_act, or a struct
 * that starts with one): the change in the sites table, which the site
 * hook hears of right after the commit
 */
int	sites_act_run(struct qmgr_txn *t, void *arg, struct err *err);

#endif
