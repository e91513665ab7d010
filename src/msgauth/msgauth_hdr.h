/* SPDX-License-Identifier: ISC */
/*
 * msgauth_hdr.h - the header section of a message (RFC 5322) as the
 * authentication code needs it: fields in order with their raw bytes
 * (folding kept, for DKIM's simple canonicalization), the body, and the
 * domains of an address list (DMARC's RFC5322.From domain).
 *
 * Pure: slices point into the caller's message, which uses CRLF line
 * ends (what SMTP carries and the spool stores).
 */
#ifndef RELAIS_MSGAUTH_HDR_H
#define RELAIS_MSGAUTH_HDR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

#define MSGAUTH_HDR_FIELDS_MAX	10000	/* more: the rest counts as body */

struct msgauth_field {
	struct str	name;		/* before ':', trailing blanks cut */
	struct str	value;		/* after ':', as is (folding kept) */
	struct str	raw;		/* the whole field, without final CRLF */
};

struct msgauth_hdr {
	struct msgauth_field	*f;
	size_t			 n;
	struct str		 body;	/* after the empty line; empty if none */
	size_t			 body_off;	/* offset of body in the message */
	bool			 has_body;	/* the empty line was there */
};

/*
 * msgauth_hdr_parse - split msg into fields and body. A line that starts
 * with SP or HTAB continues the field above; a line without ':' becomes
 * a field with that line as its name (it matches nothing). Never fails;
 * out needs msgauth_hdr_fini.
 */
void	msgauth_hdr_parse(const char *msg, size_t len, struct msgauth_hdr *out);
void	msgauth_hdr_fini(struct msgauth_hdr *h);

/* msgauth_hdr_count - how many fields are named name (any case) */
size_t	msgauth_hdr_count(const struct msgauth_hdr *h, const char *name);

/*
 * msgauth_hdr_domains - the domains of the addresses in an address-list
 * field value (From:, Sender:...): display names, comments, quoted
 * strings, angle addresses and groups understood. Up to max slices into
 * value (as written; compare without case). Returns how many were found,
 * or -1 if an address has no '@domain' or the value cannot be read.
 */
int	msgauth_hdr_domains(struct str value, struct str *out, size_t max);

#endif
