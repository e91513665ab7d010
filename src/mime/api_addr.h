/* SPDX-License-Identifier: ISC */
/*
 * api_addr.h - one RFC 5322 mailbox ("Name <a@b.example>", "a@b.example",
 * comments and quoted strings allowed) checked against RFC 5321's address
 * rules, as the HTTP API and raw messages give them. Pure: no I/O, no
 * globals; the results are allocated and owned by the struct.
 */
#ifndef RELAIS_MIME_API_ADDR_H
#define RELAIS_MIME_API_ADDR_H

#include <stddef.h>

#include "core/str.h"

/* display names longer than this (octets of UTF-8) are refused */
#define API_ADDR_NAME_MAX	256

struct api_addr {
	char	*name;		/* display name (UTF-8, unquoted) or NULL */
	char	*addr;		/* addr-spec, domain lower-cased */
};

/*
 * api_addr_parse - exactly one mailbox in in[]: "a@b.example",
 * "<a@b.example>", "Name <a@b.example>", "\"Last, First\" <a@b.example>",
 * with RFC 5322 comments and folding-free white space around the parts.
 * The display name may be UTF-8 (RFC 6532); the address must be ASCII
 * (SMTPUTF8 addresses are refused) and pass RFC 5321's grammar and
 * length limits (smtp_path_parse). Returns 0, or -1 with *why_out set to a
 * static reason; out is untouched on error.
 */
int	api_addr_parse(struct str in, struct api_addr *out,
	    const char **why_out);

/*
 * api_addr_parse_first - the first mailbox of a mailbox-list (the value
 * of a From: field, unfolded): like api_addr_parse, but the mailbox may be
 * followed by "," and more. A group ("name: ...;") is refused.
 */
int	api_addr_parse_first(struct str in, struct api_addr *out,
	    const char **why_out);

/*
 * api_addr_make - the object form {"email": ..., "name": ...}: email must
 * be a bare addr-spec, name (may be NULL or empty: no name) any UTF-8
 * text without control characters. Same contract as api_addr_parse.
 */
int	api_addr_make(struct str email, const char *name, size_t name_len,
	    struct api_addr *out, const char **why_out);

/*
 * api_addr_check_name - a display name's rules: valid UTF-8, no control
 * characters (TAB included), at most API_ADDR_NAME_MAX octets.
 */
int	api_addr_check_name(const char *name, size_t len, const char **why_out);

/* api_addr_fini - free both strings and zero the struct; NULL-safe */
void	api_addr_fini(struct api_addr *a);

#endif
