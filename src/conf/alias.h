/* SPDX-License-Identifier: ISC */
/*
 * alias.h - the aliases file: virtual aliases and per-domain catch-alls.
 *
 *	# comment
 *	postmaster@example.com: alice@example.com, bob@example.org
 *	@example.net: alice@example.com
 *
 * "alias@domain: target, ..." maps one address; "@domain: target" takes
 * every local part of domain that has no exact entry. Keys compare
 * case-insensitively (ASCII) and are stored lower-case; targets are
 * "local@domain", kept as written except the domain, lower-cased. One
 * level only: expanding targets that are aliases again is the caller's
 * job. A loaded table is immutable: any number of threads may look it up.
 */
#ifndef RELAIS_CONF_ALIAS_H
#define RELAIS_CONF_ALIAS_H

#include <stddef.h>

#include "core/err.h"
#include "core/str.h"

struct alias_entry {
	char	*key;		/* "local@domain" or "@domain", lower-case */
	char	**targets;	/* "local@domain", domain lower-cased */
	size_t	  ntargets;	/* at least 1 */
};

struct alias_table;

/*
 * alias_parse_line - one line, without its '\n' (a trailing '\r' is
 * ignored). Returns 1 and fills *entry_out (free with alias_entry_fini),
 * 0 for a blank or comment line, -1 with err->msg (without FILE:LINE)
 * for a malformed one. Targets are separated by commas and/or blanks.
 * No I/O, no global state.
 */
int	alias_parse_line(struct str line, struct alias_entry *entry_out,
	    struct err *err);
void	alias_entry_fini(struct alias_entry *entry);

/*
 * alias_load - read path into a table. On error returns -1 with err->msg
 * "FILE:LINE: message" (a malformed line, or a key given twice) or
 * "FILE: cannot open: ..." and *out set to NULL.
 */
int	alias_load(const char *path, struct alias_table **out,
	    struct err *err);

/*
 * alias_lookup - the entry for local@domain (any case), else the
 * "@domain" catch-all, else NULL. O(log n). The entry lives as long as t.
 */
const struct alias_entry *alias_lookup(const struct alias_table *t,
	    struct str local, struct str domain);

/* alias_count - number of entries */
size_t	alias_count(const struct alias_table *t);

/* alias_free - NULL is fine */
void	alias_free(struct alias_table *t);

#endif
