/* SPDX-License-Identifier: ISC */
/*
 * smtp_reply.h - SMTP replies as a client reads them (RFC 5321 4.2):
 * one or more lines "CODE-text" ... "CODE text", with an optional RFC 3463
 * enhanced status code. Pure and resumable: feed it one line at a time.
 */
#ifndef RELAIS_SMTP_REPLY_H
#define RELAIS_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

#define SMTP_REPLY_TEXT_MAX	1024	/* octets of joined text kept */
#define SMTP_REPLY_LINES_MAX	100	/* lines in one reply */

struct smtp_reply {
	int	 code;			/* 0 until the first line */
	char	 status[16];		/* "5.1.1", or "" */
	char	 text[SMTP_REPLY_TEXT_MAX]; /* lines joined by "\n", without
					   the code and status */
	size_t	 len;
	size_t	 lines;
	bool	 done;			/* last line seen */
};

enum smtp_reply_result {
	SMTP_REPLY_MORE,	/* a continuation line: feed the next */
	SMTP_REPLY_DONE,	/* the reply is complete */
	SMTP_REPLY_BAD,		/* not a reply line, or codes differ */
};

void	smtp_reply_init(struct smtp_reply *r);
/* smtp_reply_line - one line without its CRLF */
enum smtp_reply_result smtp_reply_line(struct smtp_reply *r, struct str line);
/* smtp_reply_first_line - "CODE STATUS first line of text" for logs/DSN */
void	smtp_reply_summary(const struct smtp_reply *r, char *out, size_t n);
/* smtp_reply_has_keyword - an EHLO answer lists the extension kw (a line
   after the greeting that is kw, or kw and its parameters) */
bool	smtp_reply_has_keyword(const struct smtp_reply *r, const char *kw);

#endif
