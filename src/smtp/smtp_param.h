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

#endif
