/* SPDX-License-Identifier: ISC */
/*
 * cluster.h - the state nodes share through Redis ([cluster] redis):
 * the user daily limit and the tenant quotas (atomic check-and-reserve
 * scripts), AUTH failure counts and bans, and the suppression list (a
 * Redis set, its changes published on a channel). One struct cluster per
 * event base (each worker, the HTTP thread), used on that base's thread
 * only; the answers come asynchronously. docs/architecture.md ("Shared
 * state") lists the keys and scripts.
 *
 * An operation that cannot be sent (Redis down) returns NULL and the
 * caller decides at once by [cluster] redis_down; one sent is answered
 * exactly once through its callback, CLUSTER_DOWN when Redis did not
 * answer in time, unless cancelled first (a reservation granted to a
 * cancelled operation is given back).
 */
#ifndef RELAIS_POLICY_CLUSTER_H
#define RELAIS_POLICY_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

struct event_base;
struct ssl_ctx_st;
struct worker;
struct cluster;
struct cluster_op;

enum cluster_answer {
	CLUSTER_OK,		/* allowed (and reserved) */
	CLUSTER_REFUSED,	/* a limit says no, or a ban holds */
	CLUSTER_DOWN,		/* no answer from Redis */
};

/* value: for a quota refusal the limit (0..3, quota_denial_fill), for a
   ban the seconds left */
typedef void cluster_fn(void *arg, enum cluster_answer a, long value);

/* cluster_new - NULL when conf has no [cluster] redis; tls: the context
   of redis_tls_ctx (a reference is taken), NULL for plain TCP */
struct cluster *cluster_new(struct event_base *base, const struct conf *conf,
	    const char *name, struct ssl_ctx_st *tls);
/*
 * cluster_suppress_start - c also keeps the node's suppression list in
 * step with the cluster: it subscribes to the changes, merges the shared
 * set at every (re)connection, and sends the node's own changes (handed
 * to w's thread from any thread). One cluster per node does this.
 */
void	cluster_suppress_start(struct cluster *c, struct worker *w);
void	cluster_free(struct cluster *c);
bool	cluster_up(const struct cluster *c);

/* cluster_user_reserve - one more message of user in the last 24 hours
   (hourly keys), if fewer than limit: the hour reserved goes to *hour */
struct cluster_op *cluster_user_reserve(struct cluster *c, const char *user,
	    unsigned limit, int64_t now, int64_t *hour, cluster_fn *fn,
	    void *arg);
/* cluster_user_release - give back a reservation of hour */
void	cluster_user_release(struct cluster *c, const char *user,
	    int64_t hour);
/* cluster_quota_reserve - msgs and rcpts of tenant t, if its limits
   allow them in the windows holding now */
struct cluster_op *cluster_quota_reserve(struct cluster *c,
	    const struct conf_tenant *t, unsigned msgs, unsigned rcpts,
	    int64_t now, cluster_fn *fn, void *arg);
void	cluster_quota_release(struct cluster *c, const char *tenant,
	    unsigned msgs, unsigned rcpts, int64_t when);
/*
 * cluster_connect - may ip connect: REFUSED with value the seconds left
 * of a ban, or -1 when the cluster saw per_minute connections from it in
 * the last minute (0: no such limit); else OK, the connection counted
 */
struct cluster_op *cluster_connect(struct cluster *c, const char *ip,
	    unsigned per_minute, cluster_fn *fn, void *arg);
/* cluster_auth_failed - count a failed AUTH from ip; a ban at the limit */
void	cluster_auth_failed(struct cluster *c, const char *ip,
	    const struct conf *conf);
/* cluster_cancel - the caller goes: its callback is never called */
void	cluster_cancel(struct cluster_op *op);

/*
 * Site suspensions shared by the nodes (cluster_sites.c): an operator's
 * suspend or resume, and a [backoff] rule's suspension, made on one node
 * hold on all of them.
 */
#define CLUSTER_SITE_MAX	128	/* a site's name, with its NUL */
#define CLUSTER_REASON_MAX	256

/* a suspension to apply (until > 0, manual: the operator's) or an
   operator's resume (until 0) heard from another node */
typedef void cluster_site_fn(void *arg, const char *site, int64_t until,
	    bool manual, const char *reason);
/* cluster_sites_start - c (the suppression owner, after
   cluster_suppress_start) also shares site suspensions; fn applies those
   of the other nodes, on c's thread */
void	cluster_sites_start(struct cluster *c, cluster_site_fn *fn, void *arg);
/*
 * cluster_site_changed - a suspension made on this node (until > 0; an
 * operator's when manual) or an operator's resume (until 0), from any
 * thread: told to the other nodes unless it is the one they told
 */
void	cluster_site_changed(const char *site, int64_t until, bool manual,
	    const char *reason);
/* cluster_site_known - a suspension reapplied at start (told when it was
   made): not told again, but lifted when the cluster no longer holds it
   (another node's operator resumed it meanwhile) */
void	cluster_site_known(const char *site, int64_t until, bool manual,
	    const char *reason);

/* a site message of the channel, parsed */
struct cluster_site_msg {
	char		 site[CLUSTER_SITE_MAX];
	int64_t		 until;		/* 0: "R", resumed */
	bool		 manual;
	char		 reason[CLUSTER_REASON_MAX];
};

/* pure helpers (unit tests) */
/* cluster_site_format - the channel's message for a suspension (until >
   0) or a resume: 0, or -1 when site cannot be told */
int	cluster_site_format(char *out, size_t n, const char *site,
	    int64_t until, bool manual, const char *reason);
/* cluster_site_parse - a message of cluster_site_format: 0, or -1 */
int	cluster_site_parse(const char *msg, size_t len,
	    struct cluster_site_msg *m);
/* cluster_key - prefix + kind + ":" + name (name lower-cased if fold) */
void	cluster_key(const char *prefix, const char *kind, const char *name,
	    bool fold, char *out, size_t n);
/* cluster_suppress_parse - "+addr" or "-addr": 0, or -1 */
int	cluster_suppress_parse(const char *msg, size_t len, bool *add,
	    char *addr, size_t n);

#endif
