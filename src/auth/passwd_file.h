/* SPDX-License-Identifier: ISC */
/*
 * passwd_file.h - the users file, in Dovecot's passwd-file format.
 *
 * One user a line, "user@domain:{SCHEME}hash:uid:gid:gecos:home:shell:
 * extra"; relais reads the first two fields and ignores the rest, so the
 * same file serves Dovecot. Blank lines and '#' comments are skipped.
 * User names compare case-insensitively (ASCII) and are kept lower-case.
 * A loaded table is immutable: any number of threads may look it up.
 */
#ifndef RELAIS_AUTH_PASSWD_FILE_H
#define RELAIS_AUTH_PASSWD_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/str.h"

struct passwd_file;

/*
 * passwd_file_parse_line - one line, without its '\n' (a trailing '\r' is
 * ignored). Returns 1 with the user and hash fields as slices of line (the
 * user as written, not lower-cased; the hash as stored, "{SCHEME}..."
 * prefix included, possibly empty), 0 for a blank or comment line, -1
 * with err->msg (without FILE:LINE) for a malformed line. Pure.
 */
int	passwd_file_parse_line(struct str line, struct str *user_out,
	    struct str *hash_out, struct err *err);

/*
 * passwd_file_load - read path into a table. On error returns -1 with
 * err->msg "FILE:LINE: message" (a malformed line, or a user listed
 * twice) or "FILE: cannot open: ..." and *out set to NULL.
 */
int	passwd_file_load(const char *path, struct passwd_file **out,
	    struct err *err);

/* passwd_file_has - user (any case) is in the file: O(log n) */
bool	passwd_file_has(const struct passwd_file *pf, struct str user);

/*
 * passwd_file_hash - user's password field as stored ("{SCHEME}hash"), or
 * NULL when user is not in the file. An empty string means the file gives
 * no password: the caller must refuse to authenticate against it.
 */
const char *passwd_file_hash(const struct passwd_file *pf, struct str user);

/* passwd_file_count - number of users */
size_t	passwd_file_count(const struct passwd_file *pf);

/* passwd_file_free - NULL is fine */
void	passwd_file_free(struct passwd_file *pf);

#endif
