/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt_send.h - TLS-RPT in the daemon (RFC 8460): the outbound agent's
 * counts stored in the spool, and the daily reports sent.
 *
 * One thread ("relais-tlsrpt") every TLSRPT_STORE_INTERVAL seconds
 * drains the in-memory counts (tlspol/tlsrpt.h) and has the queue
 * manager add them to the spool (qmgr_call_lazy). Once a day, a minute
 * after 00:00 UTC, and at start, it reports every day before today that
 * has counts (again each hour for the domains that could not be
 * reported): per policy domain, it looks up _smtp._tls.DOMAIN TXT, and
 * sends the gzipped JSON report to each rua: mailto: URIs as one
 * message injected into the queue (qmgr_submit_msg, DKIM-signed when a
 * [dkim] section covers the reporting address), https: URIs as a POST
 * (a blocking libcurl call on this thread). A domain's counts of the day
 * go once a report to it went out, or once it turns out to publish no
 * usable record. Counts older than TLSRPT_KEEP_DAYS go unreported.
 *
 * `relais tls report --send` asks through the spool (table
 * tlsrpt_requests, looked at every TLSRPT_POLL_INTERVAL seconds): the
 * thread stores what it has counted, sends that day's reports (today's
 * as counted so far, keeping the counts for the real report after the
 * day ends) and answers the request with a line saying what it did.
 *
 * Reports go out only with [tlsrpt] enabled = yes; counts are kept
 * either way (relais tls report shows them).
 */
#ifndef RELAIS_QUEUE_TLSRPT_SEND_H
#define RELAIS_QUEUE_TLSRPT_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "tlspol/tlsrpt.h"

#define TLSRPT_STORE_INTERVAL	5	/* seconds between drains */
#define TLSRPT_POLL_INTERVAL	2	/* seconds between request looks */
#define TLSRPT_RETRY_INTERVAL	3600	/* a domain not reported: again */
#define TLSRPT_GRACE		60	/* after 00:00 UTC, for the counts
					   of the day before to be stored */
#define TLSRPT_KEEP_DAYS	7	/* counts kept at most, reported or
					   not */
#define TLSRPT_REPORT_MAX	(8 * 1024 * 1024)	/* gzip, octets */

struct conf_live;
struct qmgr;
struct spool_reader;
struct tlsrpt_sender;

/*
 * tlsrpt_sender_start - start the thread for the data directory's
 * spool; counts: the table the agent records into (not owned). NULL
 * with err when the thread cannot start.
 */
struct tlsrpt_sender *tlsrpt_sender_start(const char *data_dir,
	    struct conf_live *live, struct qmgr *q, struct tlsrpt *counts,
	    struct err *err);
/* tlsrpt_sender_stop - store what is counted and end the thread; a POST
   in flight is abandoned. Before qmgr_stop. NULL is fine. */
void	tlsrpt_sender_stop(struct tlsrpt_sender *s);
void	tlsrpt_sender_free(struct tlsrpt_sender *s);

/* tlsrpt_day_of - the UTC day of unix time t, "YYYY-MM-DD" */
void	tlsrpt_day_of(int64_t t, char day[11]);
/* tlsrpt_day_bounds - day's first second and its last, or now when now
   falls inside it (a report of today so far); -1 if day is no
   YYYY-MM-DD date */
int	tlsrpt_day_bounds(const char *day, int64_t now, int64_t *start,
	    int64_t *end);
/* tlsrpt_day_load - the spool's counts of day, ordered by domain (free
   with tlsrpt_counts_free); rows with unknown names are skipped */
int	tlsrpt_day_load(struct spool_reader *rd, const char *day,
	    struct tlsrpt_count **out, size_t *n, struct err *err);

#endif
