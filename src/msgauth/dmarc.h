/* SPDX-License-Identifier: ISC */
/*
 * dmarc.h - Domain-based Message Authentication, Reporting and
 * Conformance, RFC 7489 (policy and alignment; no reports are sent).
 *
 *   dmarc_record.c  pure: the policy record (6.3) into a struct, with the
 *                   RFC's leniency (bad optional tags fall back to their
 *                   defaults, a record without a valid p= but with rua=
 *                   reads as p=none).
 *   dmarc.c         the organizational domain (libpsl), policy discovery
 *                   through a struct dns_resolver (_dmarc.FROM, then
 *                   _dmarc.ORG), alignment, and the verdict with p/sp/pct.
 */
#ifndef RELAIS_MSGAUTH_DMARC_H
#define RELAIS_MSGAUTH_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/str.h"
#include "msgauth/dkim.h"
#include "msgauth/spf.h"
#include "net/dns.h"

#define DMARC_DOMAIN_MAX	256

enum dmarc_policy {
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};

enum dmarc_align {
	DMARC_ALIGN_RELAXED,
	DMARC_ALIGN_STRICT,
};

enum dmarc_result {
	DMARC_RESULT_NONE,		/* no policy published */
	DMARC_RESULT_PASS,
	DMARC_RESULT_FAIL,
	DMARC_RESULT_TEMPERROR,		/* the policy could not be fetched */
	DMARC_RESULT_PERMERROR,		/* no usable From: domain */
};

const char *dmarc_result_name(enum dmarc_result r);
const char *dmarc_policy_name(enum dmarc_policy p);

struct dmarc_record {
	enum dmarc_policy p;
	enum dmarc_policy sp;		/* = p when not given */
	bool		  has_sp;
	enum dmarc_align  adkim, aspf;	/* default relaxed */
	unsigned	  pct;		/* 0-100, default 100 */
	bool		  has_rua, has_ruf;
};

/* dmarc_record_is_dmarc - first tag is exactly v=DMARC1 (6.3, 6.6.3) */
bool	dmarc_record_is_dmarc(struct str txt);

/*
 * dmarc_record_parse - a policy record. -1 with err->msg if it is not a
 * usable DMARC record (not v=DMARC1 first, a broken tag list, no valid
 * p= and no rua=); such a record is ignored, as if absent.
 */
int	dmarc_record_parse(struct str txt, struct dmarc_record *out,
	    struct err *err);

/*
 * dmarc_org_domain - the organizational domain of domain (3.2): the
 * registrable domain by the Public Suffix List (libpsl), lower-case;
 * domain itself when it is a public suffix or unknown to the list.
 */
void	dmarc_org_domain(const char *domain, char *out, size_t outlen);

/* dmarc_aligned - are a and b aligned in that mode (3.1)? */
bool	dmarc_aligned(const char *a, const char *b, enum dmarc_align mode);

/* ------------------------------------------------------------------------
 * Policy discovery (6.6.3)
 */

enum dmarc_found_status {
	DMARC_FOUND_NONE,		/* no (single, usable) record */
	DMARC_FOUND_RECORD,
	DMARC_FOUND_TEMPERROR,
};

struct dmarc_found {
	enum dmarc_found_status status;
	struct dmarc_record	rec;
	char			from[DMARC_DOMAIN_MAX];	/* lower-case */
	char			org[DMARC_DOMAIN_MAX];	/* its org domain */
	char			where[DMARC_DOMAIN_MAX];	/* record's domain */
	bool			at_org;		/* found at org != from */
};

typedef void dmarc_lookup_fn(void *arg, const struct dmarc_found *f);

struct dmarc_lookup;

/*
 * dmarc_lookup_start - find the policy for from_domain through res. done
 * runs once unless dmarc_lookup_cancel() comes first; if the resolver
 * answers synchronously it may run before this returns (then NULL).
 */
struct dmarc_lookup *dmarc_lookup_start(struct dns_resolver res,
	    const char *from_domain, dmarc_lookup_fn *done, void *arg);
void	dmarc_lookup_cancel(struct dmarc_lookup *l);

/* ------------------------------------------------------------------------
 * The verdict (6.6.2, 6.6.4)
 */

struct dmarc_verdict {
	enum dmarc_result result;
	enum dmarc_policy policy;	/* p, or sp for a subdomain */
	enum dmarc_policy disposition;	/* to apply: after pct; NONE on pass */
	bool		  spf_aligned;
	bool		  dkim_aligned;
	bool		  sampled_out;	/* pct left this failure alone */
	char		  from[DMARC_DOMAIN_MAX];
	struct dmarc_record rec;	/* when result is pass or fail */
	char		  reason[128];
};

/*
 * dmarc_evaluate - the verdict for one From: domain: pass if SPF passed
 * for an aligned domain (spf_domain: the MAIL FROM, or HELO, domain SPF
 * checked) or any DKIM signature passed with an aligned d=. sample is a
 * number 0-99 compared with pct (a failure is sampled in when sample <
 * pct); out of the sample, reject becomes quarantine and quarantine none.
 */
void	dmarc_evaluate(const struct dmarc_found *f, enum spf_result spf,
	    const char *spf_domain, const struct dkim_verdict *dkim,
	    size_t ndkim, unsigned sample, struct dmarc_verdict *out);

#endif
