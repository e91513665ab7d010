/* SPDX-License-Identifier: ISC */
/*
 * dane.h - DANE for SMTP (RFC 7672, RFC 6698): TLSA records, and the
 * peer authentication they ask for, done by OpenSSL's own DANE support
 * (SSL_dane_enable, SSL_dane_tlsa_add).
 *
 * The delivery agent looks up _25._tcp.MXHOST TLSA only when the MX
 * answer and the host's address answer were DNSSEC-secure. Usable
 * records (usage 2 DANE-TA or 3 DANE-EE, selector 0 or 1, matching type
 * 0, 1 or 2 with the right digest length) make TLS required for that
 * host and authenticate the peer: DANE-EE(3) ignores names and
 * expiry, DANE-TA(2) checks the chain to the matched trust anchor and
 * the MX host name (and the TLSA base name when they differ). Records
 * that are all unusable leave the host with opportunistic TLS (RFC 7672
 * 2.2).
 *
 * The handshake runs with verification on but not fatal (the result is
 * read after it), so the agent can say why a peer was refused and move
 * to the next address.
 */
#ifndef RELAIS_NET_DANE_H
#define RELAIS_NET_DANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct ssl_st;
struct ssl_ctx_st;

#define DANE_DATA_MAX	4096	/* longest association data kept (a
				   full RSA-4096 certificate fits) */

/* one TLSA record (RFC 6698 2.1) */
struct dane_tlsa {
	uint8_t		 usage;		/* 0..3 */
	uint8_t		 selector;	/* 0 full cert, 1 SubjectPublicKeyInfo */
	uint8_t		 mtype;		/* 0 exact, 1 SHA-256, 2 SHA-512 */
	uint8_t		 data[DANE_DATA_MAX];
	size_t		 len;
};

/*
 * dane_tlsa_parse - pure: one TLSA rdata (wire form) into out; -1 when
 * shorter than 4 octets or longer than DANE_DATA_MAX of data.
 */
int	dane_tlsa_parse(const uint8_t *p, size_t len, struct dane_tlsa *out);

/* dane_tlsa_usable - pure: usable for SMTP (RFC 7672 3.1.3): usage 2 or
   3, selector 0 or 1, matching type 0 (any length), 1 (32 octets) or 2
   (64 octets) */
bool	dane_tlsa_usable(const struct dane_tlsa *t);

/* dane_tlsa_text - pure: "3 1 1 ab12..." (presentation form, the data
   in hex) into out, cut to n; for logs, `relais tls check` and TLS-RPT
   policy strings */
void	dane_tlsa_text(const struct dane_tlsa *t, char *out, size_t n);

/* dane_ctx_enable - allow DANE on SSLs of ctx (SSL_CTX_dane_enable;
   DANE-EE names not checked); once per client context; -1 with err */
int	dane_ctx_enable(struct ssl_ctx_st *ctx, struct err *err);

/*
 * dane_ssl_setup - before the handshake: authenticate the peer of ssl by
 * the usable records among t[0..n) for MX host `host` (SNI is the
 * caller's). Returns the number of records added (0: none usable, the
 * SSL is unchanged), -1 with err when OpenSSL refused.
 */
int	dane_ssl_setup(struct ssl_st *ssl, const char *host,
	    const struct dane_tlsa *t, size_t n, struct err *err);

/*
 * The outcome of authenticating a peer, as RFC 8460 4.3 names failures
 * (tls_result_name gives the result-type string): the delivery agent
 * reports it to TLS-RPT and puts the text in the queue.
 */
enum tls_result {
	TLS_R_OK,			/* "success" in a report */
	TLS_R_STARTTLS_NOT_SUPPORTED,	/* starttls-not-supported */
	TLS_R_CERT_HOST_MISMATCH,	/* certificate-host-mismatch */
	TLS_R_CERT_EXPIRED,		/* certificate-expired */
	TLS_R_CERT_NOT_TRUSTED,		/* certificate-not-trusted */
	TLS_R_VALIDATION_FAILURE,	/* validation-failure */
	TLS_R_TLSA_INVALID,		/* tlsa-invalid */
	TLS_R_DNSSEC_INVALID,		/* dnssec-invalid */
	TLS_R_DANE_REQUIRED,		/* dane-required */
	TLS_R_STS_POLICY_FETCH_ERROR,	/* sts-policy-fetch-error */
	TLS_R_STS_POLICY_INVALID,	/* sts-policy-invalid */
	TLS_R_STS_WEBPKI_INVALID,	/* sts-webpki-invalid */
	TLS_R_COUNT
};

/* tls_result_name - pure: the RFC 8460 result-type ("success" for OK) */
const char *tls_result_name(enum tls_result r);

/*
 * dane_ssl_check - after the handshake: true when a TLSA record
 * authenticated the peer (why gets the matched record, "DANE-EE(3) 1 1"
 * style); false with why a short reason for the queue and logs ("TLSA
 * mismatch", "TLSA mismatch: certificate has expired" for DANE-TA, "no
 * peer certificate") and *result (TLS_R_TLSA_INVALID,
 * TLS_R_CERT_EXPIRED...) when result is not NULL.
 */
bool	dane_ssl_check(struct ssl_st *ssl, char *why, size_t n,
	    enum tls_result *result);

/*
 * dane_webpki_setup / dane_webpki_check - the same pair for WebPKI
 * authentication (MTA-STS, [tls_policy] verify): the chain must lead to
 * a CA of the context's store ([relay] ca_file, else the system's) and
 * the certificate must name `host` (SAN DNS names, a wildcard only as
 * the whole left-most label, RFC 6125). why as above: "certificate host
 * name mismatch", "certificate has expired", "certificate not trusted";
 * *result TLS_R_CERT_HOST_MISMATCH, TLS_R_CERT_EXPIRED,
 * TLS_R_CERT_NOT_TRUSTED or TLS_R_VALIDATION_FAILURE.
 */
int	dane_webpki_setup(struct ssl_st *ssl, const char *host,
	    struct err *err);
bool	dane_webpki_check(struct ssl_st *ssl, char *why, size_t n,
	    enum tls_result *result);

/* dane_ctx_load_ca - the client context's trust store: ca_file (PEM) or,
   when NULL or empty, the system's default paths; -1 with err */
int	dane_ctx_load_ca(struct ssl_ctx_st *ctx, const char *ca_file,
	    struct err *err);

#endif
