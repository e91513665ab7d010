/* SPDX-License-Identifier: ISC */
/*
 * smtp_header.h - just enough of RFC 5322's header section for the
 * submission service (RFC 6409 8.2, 8.3): where the header section of a
 * message ends, and whether a field is present; and RFC 8689's
 * "TLS-Required: No". Pure: no I/O, no globals.
 * Text is CRLF-terminated, as it arrives over SMTP.
 */
#ifndef RELAIS_SMTP_HEADER_H
#define RELAIS_SMTP_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * smtp_header_end - offset of the empty line (its CR) that ends the
 * header section of text[0..len), or -1 if none yet. *resume carries the
 * scan position between calls while text grows (start it at 0).
 */
ssize_t	smtp_header_end(const char *text, size_t len, size_t *resume);

/*
 * smtp_header_has - does the header section hdr[0..len) hold a field
 * called name (any case; "name:" or "name  :" at the start of a line).
 */
bool	smtp_header_has(const char *hdr, size_t len, const char *name);

/*
 * smtp_header_take - remove every field called name (any case, with its
 * folded lines) from the header section hdr[0..len), in place; returns
 * the new length. *found says whether there was one; the first one's
 * value (unfolded, white space trimmed, cut to vmax - 1 octets) goes into
 * value.
 */
size_t	smtp_header_take(char *hdr, size_t len, const char *name,
	    char *value, size_t vmax, bool *found);

/*
 * smtp_header_tls_optional - RFC 8689 5: does the header section
 * hdr[0..len) hold a "TLS-Required: No" field (name and value in any
 * case, the value folded or not, white space around it ignored). Any
 * other value means nothing.
 */
bool	smtp_header_tls_optional(const char *hdr, size_t len);

#endif
