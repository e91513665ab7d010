/* SPDX-License-Identifier: ISC */
/*
 * dkim.h - DomainKeys Identified Mail: RFC 6376, with RFC 8463 (Ed25519)
 * and RFC 8301 (no rsa-sha1, RSA keys of 1024 bits or more).
 *
 *   dkim_tags.c    pure: tag=value lists (3.2), DKIM-Signature values
 *                  (3.5) and key records (3.6.1), base64 with FWS.
 *   dkim_canon.c   pure: simple and relaxed canonicalization (3.4).
 *   dkim_sign.c    signing a message (OpenSSL), keys loaded from PEM,
 *                  and the per-domain signer built from [dkim DOMAIN].
 *   dkim_verify.c  verifying every signature of a message, the key
 *                  records fetched through a struct dns_resolver.
 */
#ifndef RELAIS_MSGAUTH_DKIM_H
#define RELAIS_MSGAUTH_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "msgauth/msgauth_hdr.h"
#include "net/dns.h"

struct conf;

#define DKIM_TAGS_MAX		64	/* tags in one list */
#define DKIM_SIG_HDRS_MAX	128	/* names in h= */
#define DKIM_B_MAX		1024	/* signature octets (8192-bit RSA) */
#define DKIM_KEY_MAX		2048	/* public key octets (DER) */
#define DKIM_RSA_MIN_BITS	1024	/* RFC 8301 */
#define DKIM_RSA_MAX_BITS	8192
#define DKIM_VERIFY_MAX		16	/* signatures checked per message */
#define DKIM_TIME_SKEW		300	/* t= this far in the future is ok */

enum dkim_result {
	DKIM_NONE,
	DKIM_PASS,
	DKIM_FAIL,
	DKIM_POLICY,
	DKIM_NEUTRAL,
	DKIM_TEMPERROR,
	DKIM_PERMERROR,
};

/* dkim_result_name - "pass", "fail"... as RFC 8601 spells them */
const char *dkim_result_name(enum dkim_result r);

enum dkim_alg {
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
	DKIM_ALG_RSA_SHA1,		/* parsed, never accepted (RFC 8301) */
};

/* dkim_alg_name / dkim_alg_parse - "rsa-sha256" <-> enum; -1 if unknown */
const char *dkim_alg_name(enum dkim_alg a);
int	dkim_alg_parse(struct str s, enum dkim_alg *out);

enum dkim_canon {
	DKIM_CANON_SIMPLE,
	DKIM_CANON_RELAXED,
};

/* dkim_canon_parse - "relaxed/simple", "simple"...; -1 if malformed */
int	dkim_canon_parse(struct str s, enum dkim_canon *hdr_out,
	    enum dkim_canon *body_out);

/* ------------------------------------------------------------------------
 * Tag lists (pure)
 */

struct dkim_tag {
	struct str	name;
	struct str	value;		/* FWS at both ends removed */
};

struct dkim_tags {
	struct dkim_tag	tag[DKIM_TAGS_MAX];
	size_t		n;
};

/*
 * dkim_tags_parse - tag-list (RFC 6376 3.2): names ALPHA *(ALNUM / "_"),
 * values of VALCHAR with FWS inside, ';' between, one trailing ';'. A
 * duplicate name, an empty spec, a bad octet or a lone CR/LF is -1.
 */
int	dkim_tags_parse(struct str in, struct dkim_tags *out, struct err *err);
/* dkim_tags_get - value of tag name (case-sensitive, as the RFC says) */
bool	dkim_tags_get(const struct dkim_tags *t, const char *name,
	    struct str *value_out);

/* dkim_b64_decode - base64 ignoring FWS; -1 if malformed or over max */
int	dkim_b64_decode(struct str in, uint8_t *out, size_t max,
	    size_t *len_out);
/* dkim_b64_encode - append base64 of p to out; -1 if out refuses */
int	dkim_b64_encode(const void *p, size_t n, struct buf *out);

struct dkim_sig {
	enum dkim_alg	 alg;
	enum dkim_canon	 hcanon, bcanon;
	struct str	 d;		/* SDID */
	struct str	 s;		/* selector */
	struct str	 i;		/* AUID; empty if absent ("@d") */
	struct str	 b_raw;		/* b= value as written (FWS kept) */
	struct str	 hdrs[DKIM_SIG_HDRS_MAX];	/* h= names */
	size_t		 nhdrs;
	uint8_t		 b[DKIM_B_MAX];
	size_t		 b_len;
	uint8_t		 bh[64];
	size_t		 bh_len;
	bool		 has_l, has_t, has_x;
	uint64_t	 l, t, x;
};

/*
 * dkim_sig_parse - a DKIM-Signature field value (after the colon) into
 * out; slices point into value. Everything RFC 6376 6.1.1 asks of the
 * syntax is checked: v=1, the required tags, a known a= and c=, q=
 * including dns/txt, From in h=, i= in d=, numbers, base64. -1 with
 * err->msg: the signature is permerror.
 */
int	dkim_sig_parse(struct str value, struct dkim_sig *out, struct err *err);

enum dkim_keytype {
	DKIM_KEY_RSA,
	DKIM_KEY_ED25519,
};

struct dkim_key {
	enum dkim_keytype type;
	uint8_t		 p[DKIM_KEY_MAX];	/* DER (RSA) or 32 octets */
	size_t		 p_len;			/* 0: revoked */
	bool		 sha1_ok, sha256_ok;	/* h= */
	bool		 email_ok;		/* s= has email or * */
	bool		 testing;		/* t=y */
	bool		 strict;		/* t=s: i= domain must be d= */
};

/*
 * dkim_key_parse - a key record (3.6.1): v=DKIM1 first if present, known
 * k=, p= present (empty: revoked), h= and s= and t= lists. -1 with
 * err->msg if it cannot be used.
 */
int	dkim_key_parse(struct str txt, struct dkim_key *out, struct err *err);

/* ------------------------------------------------------------------------
 * Canonicalization (pure)
 */

/*
 * dkim_canon_header - append the canonical form of one header field
 * (name ":" value, folding kept, no final CRLF) to out, without a CRLF.
 */
int	dkim_canon_header(enum dkim_canon c, struct str field,
	    struct buf *out);

/*
 * dkim_canon_headers - the signed header data of RFC 6376 5.4.2: for each
 * name of h= in order, the bottom-most field of that name not used yet,
 * canonicalized and followed by CRLF; a name with no field left adds
 * nothing. Appends to out; -1 if out refuses to grow.
 */
int	dkim_canon_headers(const struct msgauth_hdr *h, const struct str *names,
	    size_t n, enum dkim_canon c, struct buf *out);

typedef void dkim_canon_sink(void *arg, const void *p, size_t n);

/*
 * dkim_canon_body - feed the canonical body to sink in pieces: simple
 * (trailing empty lines cut, an empty body is CRLF) or relaxed (WSP runs
 * to one SP, WSP at line ends and trailing empty lines cut).
 */
void	dkim_canon_body(enum dkim_canon c, struct str body,
	    dkim_canon_sink *sink, void *arg);

/* ------------------------------------------------------------------------
 * Signing
 */

struct evp_pkey_st;

struct dkim_sign_key {
	const char		*selector;
	struct evp_pkey_st	*pkey;		/* EVP_PKEY, RSA or Ed25519 */
	enum dkim_alg		 alg;
};

struct dkim_sign_conf {
	const char		*domain;	/* d= */
	struct dkim_sign_key	 keys[2];	/* one signature each */
	size_t			 nkeys;
	enum dkim_canon		 hcanon, bcanon;	/* relaxed/relaxed
							   is 1/1 */
	const char *const	*headers;	/* NULL: dkim_sign_headers */
	time_t			 now;		/* t=; 0: time(NULL) */
	unsigned		 expire;	/* x= now + expire; 0: none */
	bool			 body_length;	/* l= the whole body (rarely
						   wise: lets text be added) */
};

/* the fields signed by default; From is signed once more than present */
extern const char *const dkim_sign_headers[];

/*
 * dkim_sign_message - the DKIM-Signature fields (one per key, each
 * "DKIM-Signature: ...\r\n", folded) to prepend to msg (CRLF line ends).
 * Pure apart from the private-key operation. Appends to header_out;
 * -1 with err->msg if a key cannot sign.
 */
int	dkim_sign_message(const struct dkim_sign_conf *conf, const char *msg,
	    size_t len, struct buf *header_out, struct err *err);

/*
 * dkim_sign_key_load - a private key from a PEM file (PKCS#8, PKCS#1 or
 * "EC"-less Ed25519), or a file holding the base64 of a raw 32-octet
 * Ed25519 seed (dkimpy's format). *alg_out gets the matching algorithm.
 */
int	dkim_sign_key_load(const char *path, struct evp_pkey_st **pkey_out,
	    enum dkim_alg *alg_out, struct err *err);
void	dkim_sign_key_free(struct evp_pkey_st *pkey);

/*
 * dkim_sign_txt_record - the key record to publish for pkey, as
 * "v=DKIM1; k=rsa; p=..." (one string; split it into 255-octet pieces
 * for a zone file).
 */
int	dkim_sign_txt_record(struct evp_pkey_st *pkey, struct buf *out,
	    struct err *err);

/*
 * The daemon's signer: the keys of every [dkim DOMAIN] section, loaded
 * once at start (before privileges are dropped) and shared read-only.
 */
struct dkim_signer;

struct dkim_signer *dkim_signer_new(const struct conf *conf, struct err *err);
void	dkim_signer_free(struct dkim_signer *s);
/* dkim_signer_domains - how many domains sign (0: nothing to do) */
size_t	dkim_signer_domains(const struct dkim_signer *s);

/*
 * dkim_signer_sign - if the message's single From: domain has a [dkim]
 * section, append its signature fields to header_out and return 1;
 * return 0 (nothing appended) if no section applies, -1 on a key error.
 */
int	dkim_signer_sign(const struct dkim_signer *s, const char *msg,
	    size_t len, time_t now, struct buf *header_out, struct err *err);

/* ------------------------------------------------------------------------
 * Verifying
 */

struct dkim_verdict {
	enum dkim_result result;
	char		 d[256];	/* header.d (SDID) */
	char		 s[128];	/* header.s */
	char		 i[320];	/* header.i (AUID) */
	char		 b[16];		/* header.b: first 8 b= characters */
	char		 a[32];		/* a= */
	char		 reason[160];	/* why not pass, for comments/logs */
	bool		 testing;	/* key t=y */
};

/* done callback: v[0..n-1], valid during the call only; n may be 0 */
typedef void dkim_verify_done_fn(void *arg, const struct dkim_verdict *v,
    size_t n);

struct dkim_verify;

/*
 * dkim_verify_start - verify every DKIM-Signature of msg (CRLF line
 * ends; up to DKIM_VERIFY_MAX of them). The body hashes are computed
 * here and the header section copied, so msg may be freed when this
 * returns. Key records are fetched through res, all at once. done runs
 * once, unless dkim_verify_cancel() comes first; if nothing needs DNS
 * (no signature) or the resolver answers synchronously, done runs before
 * this returns, and the return value is NULL.
 */
struct dkim_verify *dkim_verify_start(struct dns_resolver res,
	    const char *msg, size_t len, time_t now, dkim_verify_done_fn *done,
	    void *arg);
void	dkim_verify_cancel(struct dkim_verify *v);

#endif
