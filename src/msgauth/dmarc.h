/* SPDX-License-Identifier: ISC */
/*
 * dmarc.h - Domain-based Message Authentication, Reporting and
 * Conformance, RFC 7489 (policy and alignment; no reports are sent).
 *
 *   dmarc_record.c  pure: the policy record (6.3, and np= of RFC 9091)
 *                   into a struct, with the RFC's leniency (bad optional
 *                   tags fall back to their defaults; a record without a
 *                   valid p=, or with an invalid sp=, reads as p=none if
 *                   it has a valid rua=, and is unusable otherwise:
 *                   6.6.3 step 6).
 *   dmarc.c         the organizational domain (libpsl), policy discovery
 *                   through a struct dns_resolver (_dmarc.FROM, then
 *                   _dmarc.ORG; 6.6.3), whether a subdomain exists (A,
 *                   AAAA, MX: RFC 9091 2.7) when np= needs it, alignment,
 *                   and the verdict with p/sp/np/pct.
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
	enum dmarc_policy np;		/* RFC 9091: = sp when not given */
	bool		  has_sp;
	bool		  has_np;
	bool		  none_by_rua;	/* no valid p= or an invalid sp=, but
					   a valid rua=: read as p=none
					   (6.6.3 step 6.1) */
	enum dmarc_align  adkim, aspf;	/* default relaxed */
	unsigned	  pct;		/* 0-100, default 100 */
	bool		  has_rua, has_ruf;
};

/* dmarc_record_is_dmarc - first tag is exactly v=DMARC1 (6.3, 6.6.3) */
bool	dmarc_record_is_dmarc(struct str txt);

/*
 * dmarc_record_parse - a policy record. -1 with err->msg if it is not a
 * usable DMARC record (not v=DMARC1 first; no valid p=, or an invalid
 * sp=, and no valid rua=: 6.6.3 step 6.2); the caller then applies no
 * DMARC to the message. Invalid adkim/aspf/pct/np values and unknown
 * tags are ignored (6.3: defaults apply).
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
	bool			nonexistent;	/* from answered NXDOMAIN or
						   NODATA for A, AAAA and MX
						   (RFC 9091 2.7); asked only
						   when at_org and np != sp */
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
	enum dmarc_policy policy;	/* p; sp for a subdomain (policy
					   from the org domain); np for a
					   non-existent one (RFC 9091) */
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
