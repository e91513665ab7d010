/* SPDX-License-Identifier: ISC */
/*
 * passwd_hash.h - password hashes of the users file: which scheme a
 * stored hash uses (Dovecot's "{SCHEME}" prefix optional), checking a
 * password against it with libcrypt's crypt_r, and making new yescrypt
 * hashes for `relais passwd`.
 *
 * Supported: yescrypt ($y$), bcrypt ($2b$, $2y$, $2a$), SHA512-CRYPT
 * ($6$) and SHA256-CRYPT ($5$). Anything else (DES, MD5, {PLAIN}, an
 * empty field) never authenticates.
 */
#ifndef RELAIS_AUTH_PASSWD_HASH_H
#define RELAIS_AUTH_PASSWD_HASH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

enum passwd_hash_scheme {
	PASSWD_HASH_NONE,	/* unsupported or malformed: refuse */
	PASSWD_HASH_YESCRYPT,
	PASSWD_HASH_BCRYPT,
	PASSWD_HASH_SHA512,
	PASSWD_HASH_SHA256,
};

/*
 * passwd_hash_scheme - the scheme of stored ("{SCHEME}$id$..." or
 * "$id$..."); *crypt_out points past the prefix, at what crypt_r takes.
 * A {SCHEME} that contradicts the $id$ (e.g. {SHA256-CRYPT}$6$) is
 * PASSWD_HASH_NONE. Pure.
 */
enum passwd_hash_scheme passwd_hash_scheme(const char *stored,
	    const char **crypt_out);

/* passwd_hash_scheme_name - "yescrypt", "bcrypt", ... for logs */
const char *passwd_hash_scheme_name(enum passwd_hash_scheme s);

/*
 * passwd_hash_verify - does password match stored. Slow on purpose (it
 * is the hash's cost): never call it on an event-loop thread. Compares
 * in constant time.
 */
bool	passwd_hash_verify(const char *stored, const char *password);

/*
 * passwd_hash_make - a new yescrypt hash of password, "$y$...", in out.
 * -1 with err if libcrypt cannot make one.
 */
int	passwd_hash_make(const char *password, char *out, size_t outlen,
	    struct err *err);

#endif
