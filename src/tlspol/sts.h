/* SPDX-License-Identifier: ISC */
/*
 * sts.h - MTA-STS (RFC 8461): the policy parsers (pure) and the policy
 * service the delivery agent asks.
 *
 * The service runs one thread ("relais-sts") with its own event_base,
 * DNS resolver (struct dns, [dns] resolver and trust anchor) and libcurl
 * multi handle. For a domain it looks up _mta-sts.DOMAIN TXT; when that
 * names a policy id other than the cached one, it fetches
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt (the host's address
 * from relais's own resolver, no redirects, 64 KB and 60 s at most, the
 * certificate checked against [relay] ca_file or the system store, for
 * the name mta-sts.DOMAIN). A policy is cached in memory and, through the
 * store hook, in the spool database with its max_age; it is used until
 * it expires even when the TXT record or the web server goes away (RFC
 * 8461 3.3 and 5.1), and refreshed in the background once half its
 * max_age has passed, or when a lookup finds a new id.
 */
#ifndef RELAIS_TLSPOL_STS_H
#define RELAIS_TLSPOL_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "net/dane.h"

#define STS_ID_MAX	32		/* RFC 8461 3.1: 1*32(ALPHA / DIGIT) */
#define STS_MX_MAX	32		/* mx: lines kept per policy */
#define STS_MAX_AGE	31557600u	/* RFC 8461 3.2: at most one year */

enum sts_mode {
	STS_MODE_NONE,
	STS_MODE_TESTING,
	STS_MODE_ENFORCE,
};

struct sts_policy {
	enum sts_mode	 mode;
	char		 id[STS_ID_MAX + 1];	/* the TXT id it was fetched
						   for */
	uint32_t	 max_age;		/* seconds */
	char		 mx[STS_MX_MAX][256];	/* patterns, lower case:
						   "mx.example.com",
						   "*.example.net" */
	size_t		 nmx;
	int64_t		 fetched;		/* unix time */
	int64_t		 expires;		/* fetched + max_age */
};

/*
 * sts_txt_parse - pure: is txt a valid "v=STSv1; id=...;" record (RFC
 * 8461 3.1: v first, id required, other fields ignored, whitespace
 * around ';' allowed)? 0 with the id copied to id (STS_ID_MAX + 1
 * bytes), -1 otherwise.
 */
int	sts_txt_parse(const char *txt, size_t len, char *id);

/*
 * sts_policy_parse - pure: the policy file body (RFC 8461 3.2: "key:
 * value" lines ended by LF or CRLF, version STSv1 first or anywhere,
 * mode, max_age, one or more mx unless mode is none; unknown keys
 * ignored). 0, or -1 with err saying what is wrong. fetched/expires/id
 * are left to the caller.
 */
int	sts_policy_parse(const char *body, size_t len, struct sts_policy *out,
	    struct err *err);

/* sts_mx_match - pure: does MX host name host (no trailing dot, any
   case) match one of p's mx patterns ("*." matches exactly one label) */
bool	sts_mx_match(const struct sts_policy *p, const char *host);

/* sts_policy_lines - pure: the policy as the lines of RFC 8460's
   policy-string ("version: STSv1", "mode: enforce", "mx: ...",
   "max_age: N"); at most max lines of 300 bytes; the count */
size_t	sts_policy_lines(const struct sts_policy *p, char (*lines)[300],
	    size_t max);

struct sts;
struct conf_live;

/* sts_store_fn - keep policy p of domain durably (p NULL: forget it);
   called on the sts thread */
typedef void sts_store_fn(void *arg, const char *domain,
    const struct sts_policy *p);
/* sts_done_fn - the lookup sts_get started for domain is settled; on
   the sts thread: hand it over to the asking thread, call sts_get again */
typedef void sts_done_fn(void *arg, const char *domain);

/*
 * sts_new - the service for live's configuration; the policies stored
 * in data_dir's spool (table sts_policies, read once here) are loaded.
 * NULL with err on failure. The store hook, if set, is set before
 * sts_start.
 */
struct sts *sts_new(struct conf_live *live, const char *data_dir,
	    struct err *err);
void	sts_set_store(struct sts *s, sts_store_fn *fn, void *arg);
int	sts_start(struct sts *s, struct err *err);
/* sts_stop - end the thread; fetches in flight are dropped; callbacks
   are not called after it returns. NULL is fine. */
void	sts_stop(struct sts *s);
void	sts_free(struct sts *s);

enum sts_get_status {
	STS_GOT,		/* *out is the policy in force (not expired) */
	STS_NO,			/* no policy: deliver as without MTA-STS */
	STS_PENDING,		/* a lookup runs; done(arg, domain) follows */
};

/*
 * sts_get - any thread, never blocks: the policy of domain (lower case).
 * STS_NO also when the lookup failed and nothing is cached; then *fail
 * (if not NULL) says TLS_R_STS_POLICY_FETCH_ERROR or
 * TLS_R_STS_POLICY_INVALID for TLS-RPT (else TLS_R_OK). A domain asked
 * about again while its lookup runs gets STS_PENDING and a second done.
 * A lookup that does not settle within 70 s is dropped: done is still
 * called, and the next sts_get gives STS_NO.
 */
enum sts_get_status sts_get(struct sts *s, const char *domain,
	    struct sts_policy *out, enum tls_result *fail, sts_done_fn *done,
	    void *arg);

/*
 * sts_fetch_sync - for `relais tls check`: look up and fetch domain's
 * policy now, blocking (its own event loop), without the cache. 1 with
 * *out (and the TXT id), 0 when the domain publishes no TXT record, -1
 * with err (fetch or parse failure: err says which).
 */
int	sts_fetch_sync(struct conf_live *live, const char *domain,
	    struct sts_policy *out, struct err *err);

#endif
