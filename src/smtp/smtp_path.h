/* SPDX-License-Identifier: ISC */
/*
 * smtp_path.h - RFC 5321 4.1.2 Reverse-path / Forward-path parsing, with
 * RFC 6531 UTF-8 addresses. Pure: slices point into the caller's input.
 */
#ifndef RELAIS_SMTP_PATH_H
#define RELAIS_SMTP_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/str.h"

/* RFC 5321 4.5.3.1 */
#define SMTP_LOCAL_MAX	64
#define SMTP_DOMAIN_MAX	255
#define SMTP_PATH_MAX	256

enum smtp_path_flag {
	SMTP_PATH_ALLOW_NULL = 1 << 0,		/* "<>" accepted (MAIL) */
	SMTP_PATH_ALLOW_POSTMASTER = 1 << 1,	/* bare "<postmaster>" (RCPT) */
	SMTP_PATH_ALLOW_UTF8 = 1 << 2,		/* SMTPUTF8 was given */
};

struct smtp_path {
	bool		null;		/* "<>" */
	bool		postmaster;	/* bare "<postmaster>", any case */
	bool		utf8;		/* some octet >= 0x80 */
	struct str	local;		/* local part as written, quotes kept */
	struct str	domain;		/* domain, or "[literal]"; empty if
					   null or bare postmaster */
};

/*
 * smtp_path_parse - parse "<...>" (brackets required) into path_out.
 * A source route "@a,@b:user@dom" is accepted and dropped (RFC 5321
 * 4.1.1.3, C.). A trailing dot on the domain is refused. Returns 0, or -1
 * with *why_out (if not NULL) set to a static reason.
 */
int	smtp_path_parse(struct str in, unsigned flags,
	    struct smtp_path *path_out, const char **why_out);

/*
 * smtp_path_format - append "local@domain" to out with the domain
 * lower-cased ("" for the null path, "postmaster" for bare postmaster).
 * Returns -1 if out refuses to grow.
 */
int	smtp_path_format(const struct smtp_path *path, struct buf *out);

#endif
