/* SPDX-License-Identifier: ISC */
/*
 * apikey.h - API keys of the HTTP sending API: the keys file, checking a
 * bearer token against it, and which sender domains a key may use.
 *
 * The file ([http] keys, default DATA_DIR/api-keys) holds one key a line,
 * in the spirit of Dovecot's passwd-file:
 *
 *   NAME:KEYID:HASH:domains=DOMAIN[,DOMAIN...]:created=UNIX[:revoked=UNIX]
 *
 * NAME is [A-Za-z0-9._-]{1,63}, unique among active keys; KEYID is 8
 * lower-case hex digits, unique in the file; HASH is the yescrypt hash
 * of the whole token as `relais passwd` makes it ("{CRYPT}$y$..."; any
 * scheme passwd_hash.h accepts will do). After the third field come
 * attributes, NAME=VALUE, in any order, each at most once: domains
 * (required; "*" for any domain), created and revoked (seconds since
 * the epoch; revoked makes the key unusable). Blank lines and lines
 * starting with '#' are skipped; a malformed line is skipped with a
 * warning naming its line, so one bad line never opens a key.
 *
 * A token is "relais_" KEYID "_" SECRET, SECRET the unpadded base64url
 * of 32 random bytes (43 characters): 59 characters in all. KEYID finds
 * the line at once; only the hash of the token is stored.
 */
#ifndef RELAIS_AUTH_APIKEY_H
#define RELAIS_AUTH_APIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

#define APIKEY_NAME_MAX		63	/* octets of NAME */
#define APIKEY_KEYID_LEN	8	/* hex digits of KEYID */
#define APIKEY_SECRET_BYTES	32	/* random bytes in a token */
#define APIKEY_TOKEN_PREFIX	"relais_"
#define APIKEY_TOKEN_LEN	(sizeof(APIKEY_TOKEN_PREFIX) - 1 + \
				 APIKEY_KEYID_LEN + 1 + 43)	/* 59 */
#define APIKEY_HASH_MAX		255	/* octets of HASH */
#define APIKEY_DOMAINS_MAX	256	/* domains of one key */
#define APIKEY_LINE_MAX		4096	/* octets of a line, '\n' excluded */
#define APIKEY_KEYS_MAX		10000	/* keys of a file; the rest skipped */
#define APIKEY_FILE_MAX		(4u * 1024 * 1024)	/* octets of a file */

struct conf;
struct apikey_set;

/* one parsed line: slices of the caller's line */
struct apikey_line {
	struct str	name;
	struct str	keyid;
	struct str	hash;		/* as stored, "{CRYPT}" included */
	struct str	domains;	/* the comma list as written; "*" */
	bool		any_domain;	/* domains=* */
	int64_t		created;	/* 0 when absent */
	bool		revoked;
	int64_t		revoked_at;	/* revoked: when */
};

/*
 * apikey_parse_line - one line without its '\n' (a trailing '\r' is
 * ignored). Returns 1 with *out filled, 0 for a blank or comment line,
 * -1 with err->msg (without FILE:LINE) for a malformed line, including
 * a line longer than APIKEY_LINE_MAX. Checks every field: the name's
 * characters, the KEYID's form, a hash scheme passwd_hash.h knows, each
 * domain's syntax. Pure.
 */
int	apikey_parse_line(struct str line, struct apikey_line *out,
	    struct err *err);

/* apikey_name_valid - [A-Za-z0-9._-]{1,63} */
bool	apikey_name_valid(struct str name);

/* apikey_domain_valid - a DNS name: dot-separated labels of letters,
   digits and '-', none empty or longer than 63, at most 253 in all */
bool	apikey_domain_valid(struct str domain);

/*
 * apikey_format_line - append the file line of a new key, '\n' ended:
 * domains[0..n) lower-cased and comma-separated, or "*" when any. -1
 * with err when an argument would not parse back (a bad name, KEYID,
 * hash or domain; no domain and not any; more than APIKEY_DOMAINS_MAX)
 * or out is full.
 */
int	apikey_format_line(struct buf *out, const char *name,
	    const char *keyid, const char *hash, const char *const *domains,
	    size_t n, bool any, int64_t created, struct err *err);

/*
 * apikey_token_new - a new token (getrandom(2)) and its KEYID, both
 * NUL-terminated. -1 with err when no random bytes can be had.
 */
int	apikey_token_new(char token_out[APIKEY_TOKEN_LEN + 1],
	    char keyid_out[APIKEY_KEYID_LEN + 1], struct err *err);

/* apikey_token_keyid - a token of the right form: its KEYID; else an
   empty slice. Pure; says nothing about whether the token is valid. */
struct str apikey_token_keyid(const char *token);

/* apikey_conf_path - the keys file of conf ([http] keys, default
   DATA_DIR/api-keys), allocated: the caller frees it */
char	*apikey_conf_path(const struct conf *conf);

/*
 * apikey_set_open - load path. A missing file is an empty set, not an
 * error; a file that cannot be read, or is larger than APIKEY_FILE_MAX,
 * is: NULL with err->msg "PATH: ...". Malformed lines, keys past
 * APIKEY_KEYS_MAX, a KEYID seen twice and a second active key of one
 * name are skipped with a warning (event=apikey.line) naming the line.
 */
struct apikey_set *apikey_set_open(const char *path, struct err *err);

/* apikey_set_free - NULL is fine; no check may be running */
void	apikey_set_free(struct apikey_set *s);

/*
 * apikey_set_check_interval - how often (milliseconds, default 1000)
 * apikey_check looks whether the file changed; 0 looks every time
 * (tests).
 */
void	apikey_set_check_interval(struct apikey_set *s, unsigned ms);

/* apikey_set_count - keys in the set now, active ones in *active_out
   (NULL is fine) */
size_t	apikey_set_count(struct apikey_set *s, size_t *active_out);

enum apikey_verdict {
	APIKEY_OK,
	APIKEY_MISSING,		/* no token (NULL or "") */
	APIKEY_BAD,		/* malformed, unknown or wrong */
	APIKEY_REVOKED,		/* right token of a revoked key */
};

/*
 * apikey_check - thread-safe; token may be NULL (missing). On APIKEY_OK
 * (and APIKEY_REVOKED) copies the key's name into name_out, else makes
 * it "". The file is read again when its mtime/size/inode changed
 * (looked at at most once a second), so `relais apikey new|revoke` take
 * effect in a running daemon without a restart; if it cannot be read
 * then, the keys loaded before stay and a warning says why (once per
 * change of the file). A token verified once is remembered (SHA-256 of
 * the token -> key, in memory, bounded size, dropped on re-read) so
 * crypt runs once per token, not per request; a cache miss for a known
 * KEYID costs one yescrypt (tens of milliseconds): call it from a
 * thread that may block, or try apikey_check_quick first.
 */
enum apikey_verdict apikey_check(struct apikey_set *s, const char *token,
	    char name_out[64]);

/*
 * apikey_check_quick - apikey_check without the hash: true with
 * *verdict_out (and name_out as apikey_check fills it) when the answer
 * needs no crypt (missing, malformed, unknown KEYID, or a token
 * remembered), false when only apikey_check can tell. Never blocks
 * longer than a re-read of the file.
 */
bool	apikey_check_quick(struct apikey_set *s, const char *token,
	    enum apikey_verdict *verdict_out, char name_out[64]);

/*
 * apikey_may_send_from - may the active key NAME use sender domain D
 * (case-insensitive, exact: no subdomains; a key created with
 * --any-domain may use any). False for an unknown or revoked NAME.
 */
bool	apikey_may_send_from(struct apikey_set *s, const char *name,
	    const char *domain);

/* apikey_verdict_name - "ok", "missing", "bad", "revoked" for logs */
const char *apikey_verdict_name(enum apikey_verdict v);

#endif
