/* SPDX-License-Identifier: ISC */
/*
 * passwd_hash.c - scheme dispatch and crypt_r checks; see passwd_hash.h.
 *
 * struct crypt_data is about 32 KiB: it is allocated per call rather than
 * put on a thread's stack.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <crypt.h>

#include "auth/passwd_hash.h"
#include "core/xalloc.h"

static const struct {
	const char		*scheme;	/* Dovecot's name, with braces */
	enum passwd_hash_scheme	 only;		/* NONE: any crypt id */
} passwd_hash_prefixes[] = {
	{ "{CRYPT}", PASSWD_HASH_NONE },
	{ "{BLF-CRYPT}", PASSWD_HASH_BCRYPT },
	{ "{SHA512-CRYPT}", PASSWD_HASH_SHA512 },
	{ "{SHA256-CRYPT}", PASSWD_HASH_SHA256 },
	{ "{YESCRYPT}", PASSWD_HASH_YESCRYPT },
};

static const struct {
	const char		*id;
	enum passwd_hash_scheme	 scheme;
} passwd_hash_ids[] = {
	{ "$y$", PASSWD_HASH_YESCRYPT },
	{ "$2b$", PASSWD_HASH_BCRYPT },
	{ "$2y$", PASSWD_HASH_BCRYPT },
	{ "$2a$", PASSWD_HASH_BCRYPT },
	{ "$6$", PASSWD_HASH_SHA512 },
	{ "$5$", PASSWD_HASH_SHA256 },
};

enum passwd_hash_scheme
passwd_hash_scheme(const char *stored, const char **crypt_out)
{
	enum passwd_hash_scheme only = PASSWD_HASH_NONE;
	const char *h = stored;

	*crypt_out = stored;
	if (h[0] == '{') {
		size_t i, n = sizeof(passwd_hash_prefixes) /
		    sizeof(passwd_hash_prefixes[0]);

		for (i = 0; i < n; i++) {
			size_t len = strlen(passwd_hash_prefixes[i].scheme);

			if (strncasecmp(h, passwd_hash_prefixes[i].scheme,
			    len) == 0) {
				h += len;
				only = passwd_hash_prefixes[i].only;
				break;
			}
		}
		if (i == n)
			return PASSWD_HASH_NONE;
	}
	for (size_t i = 0; i < sizeof(passwd_hash_ids) /
	    sizeof(passwd_hash_ids[0]); i++) {
		size_t len = strlen(passwd_hash_ids[i].id);

		if (strncmp(h, passwd_hash_ids[i].id, len) != 0)
			continue;
		/* an id with nothing after it is no hash */
		if (h[len] == '\0' || (only != PASSWD_HASH_NONE &&
		    only != passwd_hash_ids[i].scheme))
			return PASSWD_HASH_NONE;
		*crypt_out = h;
		return passwd_hash_ids[i].scheme;
	}
	return PASSWD_HASH_NONE;
}

const char *
passwd_hash_scheme_name(enum passwd_hash_scheme s)
{
	switch (s) {
	case PASSWD_HASH_YESCRYPT:
		return "yescrypt";
	case PASSWD_HASH_BCRYPT:
		return "bcrypt";
	case PASSWD_HASH_SHA512:
		return "sha512-crypt";
	case PASSWD_HASH_SHA256:
		return "sha256-crypt";
	case PASSWD_HASH_NONE:
		break;
	}
	return "unsupported";
}

bool
passwd_hash_verify(const char *stored, const char *password)
{
	struct crypt_data *cd;
	const char *h, *out;
	size_t hlen;
	unsigned char diff = 0;
	bool ok = false;

	if (passwd_hash_scheme(stored, &h) == PASSWD_HASH_NONE)
		return false;
	cd = xcalloc(1, sizeof(*cd));
	out = crypt_r(password, h, cd);
	/* libxcrypt returns NULL or a string starting with '*' on error */
	if (out != NULL && out[0] != '*') {
		hlen = strlen(h);
		if (strlen(out) == hlen) {
			for (size_t i = 0; i < hlen; i++)
				diff |= (unsigned char)(out[i] ^ h[i]);
			ok = diff == 0;
		}
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

int
passwd_hash_make(const char *password, char *out, size_t outlen,
    struct err *err)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *h;
	int rc = -1;

	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
		return err_set(err, errno, "cannot make a yescrypt salt: %s",
		    strerror(errno));
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_r(password, salt, cd);
	if (h == NULL || h[0] == '*')
		err_set(err, errno, "yescrypt failed");
	else if (strlen(h) >= outlen)
		err_set(err, ERANGE, "hash too long");
	else {
		memcpy(out, h, strlen(h) + 1);
		rc = 0;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}
