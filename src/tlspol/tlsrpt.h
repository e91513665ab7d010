/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt.h - SMTP TLS Reporting (RFC 8460): the outcomes of outbound TLS
 * sessions, counted per policy domain and day, for the daily reports.
 *
 * The delivery agent records one outcome per session (a successful
 * transaction over it counts the session as a success; a session given
 * up for a TLS or policy reason counts as a failure) against the
 * recipient domain whose policy applied. Counts are kept in memory
 * (bounded: TLSRPT_MAX_ENTRIES per day; beyond, new keys are dropped and
 * counted in the log) and handed out by tlsrpt_drain to the code that
 * stores them (the queue manager's spool table) and, once a day,
 * reports them (queue/tlsrpt_send.c).
 */
#ifndef RELAIS_TLSPOL_TLSRPT_H
#define RELAIS_TLSPOL_TLSRPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/dane.h"

#define TLSRPT_MAX_ENTRIES	100000

enum tlsrpt_policy {
	TLSRPT_POLICY_NONE,	/* "no-policy-found" */
	TLSRPT_POLICY_STS,	/* "sts" */
	TLSRPT_POLICY_TLSA,	/* "tlsa" */
};

/* one session's outcome, as the agent knows it */
struct tlsrpt_outcome {
	const char		*policy_domain;	/* the recipient domain */
	enum tlsrpt_policy	 policy_type;
	const char *const	*policy_strings; /* STS lines or TLSA texts */
	size_t			 npolicy_strings;
	const char		*mx_host;	/* receiving-mx-hostname */
	const char		*sending_ip;	/* or NULL */
	const char		*receiving_ip;	/* or NULL */
	enum tls_result		 result;	/* TLS_R_OK: a success */
	const char		*detail;	/* additional-information */
};

struct tlsrpt;

struct tlsrpt *tlsrpt_new(void);
void	tlsrpt_free(struct tlsrpt *t);

/* tlsrpt_record - count o for today (UTC); any thread; t NULL is fine */
void	tlsrpt_record(struct tlsrpt *t, const struct tlsrpt_outcome *o);

/* one counted key: what tlsrpt_drain hands out */
struct tlsrpt_count {
	char			 day[11];	/* YYYY-MM-DD, UTC */
	char			*policy_domain;
	enum tlsrpt_policy	 policy_type;
	char			*policy;	/* the policy strings joined
						   by LF */
	char			*mx_host;	/* "" for a success, but
						   under a TLSA policy (the
						   host its records are for) */
	char			*sending_ip;
	char			*receiving_ip;
	enum tls_result		 result;
	char			*detail;
	uint64_t		 count;
};

/* tlsrpt_drain - move every count out (the caller frees them with
   tlsrpt_counts_free); *n set; any thread */
struct tlsrpt_count *tlsrpt_drain(struct tlsrpt *t, size_t *n);
void	tlsrpt_counts_free(struct tlsrpt_count *c, size_t n);

#endif
