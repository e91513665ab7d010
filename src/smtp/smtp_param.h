/* SPDX-License-Identifier: ISC */
/*
 * smtp_param.h - ESMTP parameters of MAIL and RCPT: SIZE (RFC 1870),
 * BODY (RFC 6152), SMTPUTF8 (RFC 6531), RET/ENVID/NOTIFY/ORCPT
 * (RFC 3461), AUTH (RFC 4954), REQUIRETLS (RFC 8689). Pure; slices point
 * into the input.
 */
#ifndef RELAIS_SMTP_PARAM_H
#define RELAIS_SMTP_PARAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

enum smtp_body {
	SMTP_BODY_UNSPEC = 0,
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

enum smtp_ret {
	SMTP_RET_UNSPEC = 0,
	SMTP_RET_FULL,
	SMTP_RET_HDRS,
};

enum smtp_notify {
	SMTP_NOTIFY_NEVER = 1 << 0,
	SMTP_NOTIFY_SUCCESS = 1 << 1,
	SMTP_NOTIFY_FAILURE = 1 << 2,
	SMTP_NOTIFY_DELAY = 1 << 3,
};

struct smtp_mail_params {
	bool		has_size;
	uint64_t	size;
	enum smtp_body	body;
	bool		smtputf8;
	enum smtp_ret	ret;
	struct str	envid;		/* xtext as received; empty if absent */
	struct str	auth;		/* AUTH= value as received */
	bool		requiretls;	/* bare REQUIRETLS: whether the
					   session may take it is the
					   server's to say */
};

struct smtp_rcpt_params {
	unsigned	notify;		/* enum smtp_notify bits; 0 if absent */
	struct str	orcpt;		/* "addr-type;xtext" as received */
};

enum smtp_param_result {
	SMTP_PARAM_OK = 0,
	SMTP_PARAM_SYNTAX,	/* malformed value: 501 5.5.4 */
	SMTP_PARAM_UNKNOWN,	/* unknown or unsupported keyword: 555 5.5.4 */
};

/*
 * smtp_param_parse_mail / _rcpt - parse the space-separated keyword[=value]
 * list after the path. Keywords are case-insensitive; a repeated keyword
 * is a syntax error; xtext values are validated (RFC 3461 4). On failure
 * *why_out (if not NULL) names the problem.
 */
enum smtp_param_result smtp_param_parse_mail(struct str params,
	    struct smtp_mail_params *out, const char **why_out);
enum smtp_param_result smtp_param_parse_rcpt(struct str params,
	    struct smtp_rcpt_params *out, const char **why_out);

/* smtp_param_xtext_valid - RFC 3461 4 xtext syntax check */
bool	smtp_param_xtext_valid(struct str s);

/* --- the parameters relais sends (smtp_param_fmt.c) --- */

/* smtp_param_xtext - RFC 3461 xtext of s into out (cut to fit) */
void	smtp_param_xtext(const char *s, char *out, size_t outlen);
/*
 * smtp_param_dsn_mail - " RET=FULL|HDRS" (ret an enum smtp_ret) and
 * " ENVID=..." appended to out (n bytes, o used): the length now
 */
size_t	smtp_param_dsn_mail(char *out, size_t n, size_t o, int ret,
	    const char *envid);
/*
 * smtp_param_dsn_rcpt - " NOTIFY=..." (enum smtp_notify bits, none when
 * 0) and " ORCPT=" as received, else "rfc822;" and the xtext of orig
 * when orig is not empty; appended as smtp_param_dsn_mail
 */
size_t	smtp_param_dsn_rcpt(char *out, size_t n, size_t o, unsigned notify,
	    const char *orcpt, const char *orig);

#endif
