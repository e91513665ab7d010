/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt_report.h - the daily TLS-RPT report of one policy domain (RFC
 * 8460 4 and 5): its JSON from the day's counts, the gzip of it, the
 * file name and the mail that carries it. Pure: the time, the names and
 * the unique id are parameters.
 */
#ifndef RELAIS_TLSPOL_TLSRPT_REPORT_H
#define RELAIS_TLSPOL_TLSRPT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "tlspol/tlsrpt.h"

#define TLSRPT_UID_LEN		16	/* hex digits of a report's id */

/* what a report says of itself */
struct tlsrpt_report_info {
	const char	*organization;	/* organization-name */
	const char	*contact;	/* contact-info */
	const char	*submitter;	/* the reporting MTA's name */
	const char	*policy_domain;
	const char	*uid;		/* TLSRPT_UID_LEN hex digits */
	int64_t		 start, end;	/* date-range, unix time */
};

/* tlsrpt_policy_name - "sts", "tlsa" or "no-policy-found" */
const char *tlsrpt_policy_name(enum tlsrpt_policy p);

/* tlsrpt_report_id - "UID.YYYYMMDD@SUBMITTER" (the day of start) */
void	tlsrpt_report_id(const struct tlsrpt_report_info *ri, char *out,
	    size_t n);

/* tlsrpt_filename - RFC 8460 5.1: "SUBMITTER!DOMAIN!START!END!UID.json.gz" */
void	tlsrpt_filename(const struct tlsrpt_report_info *ri, char *out,
	    size_t n);

/*
 * tlsrpt_report_json - the report (RFC 8460 4.4) of the counts among
 * c[0..n) whose policy_domain is ri->policy_domain: one "policies" entry
 * per policy applied (type, its strings, and for TLSA the MX host), its
 * summary and its failure details (result-type, sending-mta-ip,
 * receiving-mx-hostname, receiving-ip, failed-session-count, and the
 * agent's reason as failure-reason-code). pretty: indented, for people.
 * malloc'd NUL-terminated text, or NULL with err.
 */
char	*tlsrpt_report_json(const struct tlsrpt_report_info *ri,
	    const struct tlsrpt_count *c, size_t n, bool pretty,
	    struct err *err);

/* tlsrpt_gzip - in[0..n) gzip-compressed (RFC 1952) onto out */
int	tlsrpt_gzip(const void *in, size_t n, struct buf *out,
	    struct err *err);

/* the mail that carries a report (RFC 8460 5.3) */
struct tlsrpt_mail {
	const struct tlsrpt_report_info *ri;
	const char	*from;		/* the reporting address */
	const char *const *to;		/* the rua mailto: addresses */
	size_t		 nto;
	int64_t		 now;		/* Date: */
	const void	*gz;		/* the gzipped JSON */
	size_t		 gzlen;
};

/*
 * tlsrpt_report_mail - the message, CRLF: From, To, Date, Message-ID,
 * Subject "Report Domain: D Submitter: S Report-ID: <ID>",
 * TLS-Report-Domain, TLS-Report-Submitter, TLS-Required: No (RFC 8689
 * 5: a report must get through a broken TLS policy, RFC 8460 5.3), and
 * a multipart/report; report-type="tlsrpt" of a short text part and the
 * report as an application/tlsrpt+gzip attachment (base64) named by
 * tlsrpt_filename. -1 with err when a name would break the header
 * (not printable ASCII, or a line over 998 octets).
 */
int	tlsrpt_report_mail(const struct tlsrpt_mail *m, struct buf *out,
	    struct err *err);

#endif
