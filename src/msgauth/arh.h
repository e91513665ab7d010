/* SPDX-License-Identifier: ISC */
/*
 * arh.h - the Authentication-Results header field, RFC 8601: written
 * from the SPF, DKIM and DMARC results, and removed when a message
 * arrives with one that claims to be ours (RFC 8601 5: forgeries).
 * Pure; the parser side is fuzzed through tests/fuzz/fuzz_arh.c.
 */
#ifndef RELAIS_MSGAUTH_ARH_H
#define RELAIS_MSGAUTH_ARH_H

#include <stddef.h>

#include "core/buf.h"
#include "core/str.h"
#include "msgauth/dkim.h"
#include "msgauth/dmarc.h"
#include "msgauth/spf.h"

#define ARH_WIDTH	78	/* fold the field's lines before this */

/* what goes into one Authentication-Results field */
struct arh_input {
	const char			*authserv_id;
	const struct spf_answer		*spf;	/* NULL: not checked */
	const struct dkim_verdict	*dkim;
	size_t				 ndkim;	/* 0: dkim=none */
	const struct dmarc_verdict	*dmarc;	/* one per From: domain */
	size_t				 ndmarc;	/* 0: not checked */
};

/*
 * arh_format - the field's value on one line ("id; spf=pass
 * smtp.mailfrom=...; dkim=...; dmarc=...") into value_out, and, if
 * field_out is not NULL, the whole field "Authentication-Results: ...\r\n"
 * folded into lines of at most ARH_WIDTH octets where it can be.
 */
int	arh_format(const struct arh_input *in, struct buf *value_out,
	    struct buf *field_out);

/*
 * arh_authserv_id - the authserv-id at the start of an
 * Authentication-Results value (comments skipped, a quoted-string
 * unquoted into tmp). 0, or -1 if there is none.
 */
int	arh_authserv_id(struct str value, char *tmp, size_t tmplen,
	    struct str *id_out);

/*
 * arh_strip - copy msg to out without the Authentication-Results fields
 * of its header section whose authserv-id is authserv_id (any case).
 * Returns how many were removed; -1 if out refuses to grow.
 */
int	arh_strip(const char *msg, size_t len, const char *authserv_id,
	    struct buf *out);

#endif
