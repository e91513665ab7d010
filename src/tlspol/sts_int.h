/* SPDX-License-Identifier: ISC */
/*
 * sts_int.h - MTA-STS internals, for src/tlspol/ alone: one policy
 * lookup (sts_fetch.c), used by the service (sts.c) and by
 * sts_fetch_sync.
 */
#ifndef RELAIS_TLSPOL_STS_INT_H
#define RELAIS_TLSPOL_STS_INT_H

#include "net/dns.h"
#include "tlspol/sts.h"

struct event_base;
struct curlev;

#define STS_LOOKUP_MAX		70	/* seconds a lookup may take */
#define STS_HTTP_TIMEOUT	60	/* RFC 8461 3.3: the whole fetch */
#define STS_CONNECT_TIMEOUT	15	/* one connection attempt */
#define STS_BODY_MAX		65536	/* RFC 8461 3.3: 64 KB */

enum sts_outcome {
	STS_OUT_NONE,		/* no _mta-sts TXT record naming STSv1 */
	STS_OUT_UNCHANGED,	/* the TXT id is the known one: not fetched */
	STS_OUT_POLICY,		/* a policy fetched (and parsed) */
	STS_OUT_FAIL,		/* a record, but no usable policy */
};

struct sts_result {
	enum sts_outcome	 outcome;
	struct sts_policy	 policy;	/* POLICY: with id, fetched,
						   expires */
	char			 id[STS_ID_MAX + 1]; /* the TXT id, or "" */
	enum tls_result		 fail;		/* FAIL: for TLS-RPT
						   (TLS_R_OK when the TXT
						   lookup itself failed) */
	char			 error[256];	/* FAIL: why */
};

/* what a lookup runs on (the caller's thread) */
struct sts_fetch_ctx {
	struct event_base	*base;
	struct dns_resolver	 dns;
	struct curlev		*curl;
	const char		*ca_file;	/* copied; NULL: the system's */
};

struct sts_fetch;
typedef void sts_fetch_done_fn(void *arg, const char *domain,
    const struct sts_result *r);

/*
 * sts_fetch_start - look domain's policy up: _mta-sts.DOMAIN TXT; when
 * its id is known_id (and not force) UNCHANGED, else mta-sts.DOMAIN's
 * addresses and the HTTPS fetch. done is called once on ctx's base
 * (never from within this call), at the latest STS_LOOKUP_MAX seconds
 * later; the lookup is freed after it returns. NULL with err when it
 * could not start.
 */
struct sts_fetch *sts_fetch_start(const struct sts_fetch_ctx *ctx,
	    const char *domain, const char *known_id, bool force,
	    sts_fetch_done_fn *done, void *arg, struct err *err);
/* sts_fetch_cancel - drop a lookup: done is not called */
void	sts_fetch_cancel(struct sts_fetch *f);

/* sts_domain_valid - a domain a policy can be looked up for: letters,
   digits, hyphens and dots, 1 to 253 octets, no empty label */
bool	sts_domain_valid(const char *domain);

/* sts_mode_str - "enforce", "testing", "none" */
const char *sts_mode_str(enum sts_mode m);

#endif
