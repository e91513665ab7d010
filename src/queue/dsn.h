/* SPDX-License-Identifier: ISC */
/*
 * dsn.h - delivery status notifications (RFC 3464): failure, delay and
 * success reports as multipart/report messages, sent from <> to the
 * original sender. Pure: builds bytes from the facts it is given.
 */
#ifndef RELAIS_QUEUE_DSN_H
#define RELAIS_QUEUE_DSN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum dsn_kind {
	DSN_FAILED,		/* Action: failed */
	DSN_DELAYED,		/* Action: delayed */
	DSN_DELIVERED,		/* Action: delivered / relayed */
};

struct dsn_rcpt {
	const char	*final;		/* address we tried */
	const char	*orcpt;		/* ORCPT= "type;xtext", or NULL */
	const char	*orig;		/* as given at RCPT TO */
	const char	*action;	/* failed delayed delivered relayed */
	const char	*status;	/* "5.1.1" */
	const char	*remote_mta;	/* peer host, or NULL */
	const char	*diagnostic;	/* "smtp; 550 5.1.1 ...", or NULL */
	int64_t		 last_attempt;	/* unix time, 0 = none */
	int64_t		 will_retry_until; /* delayed: unix time, 0 = none */
};

struct dsn_msg {
	enum dsn_kind	 kind;
	const char	*reporting_mta;	/* our host name */
	const char	*qid;		/* the original's queue id */
	const char	*sender;	/* the original sender: To: */
	const char	*envid;		/* ENVID=, or NULL */
	int		 ret_full;	/* 1: whole message, 0: headers */
	int64_t		 arrival;
	int64_t		 now;
	const char	*text;		/* the original, CRLF lines */
	size_t		 text_len;
};

/*
 * dsn_format - the whole report message (headers and body, CRLF lines)
 * for the recipients r[0..n). Returns -1 only if out refuses to grow.
 */
int	dsn_format(const struct dsn_msg *m, const struct dsn_rcpt *r, size_t n,
	    struct buf *out);

/* dsn_date - RFC 5322 date of t into out */
void	dsn_date(char *out, size_t outlen, int64_t t);

#endif
