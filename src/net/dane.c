/* SPDX-License-Identifier: ISC */
/*
 * dane.c - TLSA records and peer authentication by DANE (RFC 7672) or
 * WebPKI (RFC 6125), on OpenSSL's own DANE support; see dane.h.
 *
 * The verification runs inside the handshake, as OpenSSL always does it,
 * but is not fatal: the SSL keeps SSL_VERIFY_NONE, and the result is read
 * afterwards (SSL_get_verify_result, SSL_get0_dane_authority). A DANE-EE
 * match ends the verification at the leaf: no expiry, no name, no chain
 * (OpenSSL skips them for DANE-EE, and DANE_FLAG_NO_DANE_EE_NAMECHECKS
 * drops the name check). A DANE-TA match is a trust anchor for a normal
 * chain check: dates and the names given by SSL_dane_enable (the MX host)
 * count. As Postfix, a wildcard matches only a whole left-most label.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "net/dane.h"

#define DANE_USAGE_TA	2
#define DANE_USAGE_EE	3

int
dane_tlsa_parse(const uint8_t *p, size_t len, struct dane_tlsa *out)
{
	if (len < 4 || len - 3 > DANE_DATA_MAX)
		return -1;
	out->usage = p[0];
	out->selector = p[1];
	out->mtype = p[2];
	out->len = len - 3;
	memcpy(out->data, p + 3, out->len);
	return 0;
}

bool
dane_tlsa_usable(const struct dane_tlsa *t)
{
	if (t->usage != DANE_USAGE_TA && t->usage != DANE_USAGE_EE)
		return false;
	if (t->selector > 1)
		return false;
	switch (t->mtype) {
	case 0:		return t->len > 0;
	case 1:		return t->len == 32;
	case 2:		return t->len == 64;
	default:	return false;
	}
}

void
dane_tlsa_text(const struct dane_tlsa *t, char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	int k;
	size_t o;

	if (n == 0)
		return;
	k = snprintf(out, n, "%u %u %u ", t->usage, t->selector, t->mtype);
	if (k < 0 || (size_t)k >= n)
		return;
	o = (size_t)k;
	for (size_t i = 0; i < t->len && o + 2 < n; i++) {
		out[o++] = hex[t->data[i] >> 4];
		out[o++] = hex[t->data[i] & 15];
	}
	out[o] = '\0';
}

const char *
tls_result_name(enum tls_result r)
{
	static const char *const names[TLS_R_COUNT] = {
		[TLS_R_OK] = "success",
		[TLS_R_STARTTLS_NOT_SUPPORTED] = "starttls-not-supported",
		[TLS_R_CERT_HOST_MISMATCH] = "certificate-host-mismatch",
		[TLS_R_CERT_EXPIRED] = "certificate-expired",
		[TLS_R_CERT_NOT_TRUSTED] = "certificate-not-trusted",
		[TLS_R_VALIDATION_FAILURE] = "validation-failure",
		[TLS_R_TLSA_INVALID] = "tlsa-invalid",
		[TLS_R_DNSSEC_INVALID] = "dnssec-invalid",
		[TLS_R_DANE_REQUIRED] = "dane-required",
		[TLS_R_STS_POLICY_FETCH_ERROR] = "sts-policy-fetch-error",
		[TLS_R_STS_POLICY_INVALID] = "sts-policy-invalid",
		[TLS_R_STS_WEBPKI_INVALID] = "sts-webpki-invalid",
	};

	if ((unsigned)r >= TLS_R_COUNT)
		return "validation-failure";
	return names[r];
}

/* dane_openssl_err - OpenSSL's last error (the queue is emptied) */
static void
dane_openssl_err(struct err *err, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[200];

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "unknown error");
	ERR_clear_error();
	err_set(err, 0, "%s: %s", what, buf);
}

int
dane_ctx_enable(struct ssl_ctx_st *ctx, struct err *err)
{
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		dane_openssl_err(err, "SSL_CTX_dane_enable");
		return -1;
	}
	/* DANE-EE(3): the key is the identity (RFC 7672 3.1.1) */
	SSL_CTX_dane_set_flags(ctx, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	return 0;
}

int
dane_ctx_load_ca(struct ssl_ctx_st *ctx, const char *ca_file,
    struct err *err)
{
	if (ca_file != NULL && ca_file[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			char what[300];

			snprintf(what, sizeof(what), "CA file %s", ca_file);
			dane_openssl_err(err, what);
			return -1;
		}
		return 0;
	}
	if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		dane_openssl_err(err, "the system's CA store");
		return -1;
	}
	return 0;
}

/* dane_data_parses - full-data records (matching type 0) hold a DER
   certificate or SubjectPublicKeyInfo that OpenSSL must be able to read;
   one it cannot is unusable, as a wrong digest length is */
static bool
dane_data_parses(const struct dane_tlsa *t)
{
	const unsigned char *p = t->data;
	bool ok;

	if (t->mtype != 0)
		return true;
	if (t->selector == 0) {
		X509 *x = d2i_X509(NULL, &p, (long)t->len);

		ok = x != NULL && p == t->data + t->len &&
		    X509_get0_pubkey(x) != NULL;
		X509_free(x);
	} else {
		EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)t->len);

		ok = k != NULL && p == t->data + t->len;
		EVP_PKEY_free(k);
	}
	ERR_clear_error();
	return ok;
}

int
dane_ssl_setup(struct ssl_st *ssl, const char *host,
    const struct dane_tlsa *t, size_t n, struct err *err)
{
	size_t usable = 0;
	int added = 0, r;

	for (size_t i = 0; i < n; i++)
		if (dane_tlsa_usable(&t[i]) && dane_data_parses(&t[i]))
			usable++;
	if (usable == 0)
		return 0;
	/* the base domain: the name DANE-TA chains must show (and SNI
	   unless the caller set it) */
	if (SSL_dane_enable(ssl, host) <= 0) {
		dane_openssl_err(err, "SSL_dane_enable");
		return -1;
	}
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	/* verification is read after the handshake, never fatal in it */
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	for (size_t i = 0; i < n; i++) {
		if (!dane_tlsa_usable(&t[i]) || !dane_data_parses(&t[i]))
			continue;
		r = SSL_dane_tlsa_add(ssl, t[i].usage, t[i].selector,
		    t[i].mtype, t[i].data, t[i].len);
		if (r < 0) {
			dane_openssl_err(err, "SSL_dane_tlsa_add");
			return -1;
		}
		if (r > 0)
			added++;
		ERR_clear_error();
	}
	if (added == 0)
		return err_set(err, 0, "OpenSSL refused every TLSA record");
	return added;
}

static const char *
dane_usage_name(uint8_t usage)
{
	switch (usage) {
	case 0:		return "PKIX-TA(0)";
	case 1:		return "PKIX-EE(1)";
	case 2:		return "DANE-TA(2)";
	case 3:		return "DANE-EE(3)";
	default:	return "unknown";
	}
}

/* dane_result_of - the RFC 8460 result for an X509 verification error */
static enum tls_result
dane_result_of(long vr, enum tls_result other)
{
	switch (vr) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return TLS_R_CERT_HOST_MISMATCH;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TLS_R_CERT_EXPIRED;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
		return TLS_R_CERT_NOT_TRUSTED;
	default:
		return other;
	}
}

bool
dane_ssl_check(struct ssl_st *ssl, char *why, size_t n,
    enum tls_result *result)
{
	enum tls_result res = TLS_R_OK;
	long vr;
	uint8_t usage = 0, selector = 0, mtype = 0;
	bool ok = false;

	if (SSL_get0_peer_certificate(ssl) == NULL) {
		snprintf(why, n, "no peer certificate");
		res = TLS_R_VALIDATION_FAILURE;
	} else if ((vr = SSL_get_verify_result(ssl)) == X509_V_OK &&
	    SSL_get0_dane_authority(ssl, NULL, NULL) >= 0 &&
	    SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, NULL,
	    NULL) >= 0) {
		snprintf(why, n, "%s %u %u", dane_usage_name(usage), selector,
		    mtype);
		ok = true;
	} else if (vr == X509_V_OK || vr == X509_V_ERR_DANE_NO_MATCH) {
		/* no record matched (X509_V_OK: DANE was not enabled) */
		snprintf(why, n, "TLSA mismatch");
		res = TLS_R_TLSA_INVALID;
	} else {
		/* a DANE-TA match whose chain or names fail */
		snprintf(why, n, "TLSA mismatch: %s",
		    X509_verify_cert_error_string(vr));
		res = dane_result_of(vr, TLS_R_TLSA_INVALID);
	}
	if (result != NULL)
		*result = res;
	return ok;
}

int
dane_webpki_setup(struct ssl_st *ssl, const char *host, struct err *err)
{
	/* SAN DNS names only, a wildcard as the whole left-most label */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
	    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	if (SSL_set1_host(ssl, host) != 1) {
		dane_openssl_err(err, "SSL_set1_host");
		return -1;
	}
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	return 0;
}

bool
dane_webpki_check(struct ssl_st *ssl, char *why, size_t n,
    enum tls_result *result)
{
	enum tls_result res = TLS_R_OK;
	long vr;
	bool ok = false;

	if (SSL_get0_peer_certificate(ssl) == NULL) {
		snprintf(why, n, "no peer certificate");
		res = TLS_R_VALIDATION_FAILURE;
	} else if ((vr = SSL_get_verify_result(ssl)) == X509_V_OK) {
		snprintf(why, n, "certificate verified");
		ok = true;
	} else {
		res = dane_result_of(vr, TLS_R_VALIDATION_FAILURE);
		switch (res) {
		case TLS_R_CERT_HOST_MISMATCH:
			snprintf(why, n, "certificate host name mismatch");
			break;
		case TLS_R_CERT_EXPIRED:
			snprintf(why, n, "%s", vr == X509_V_ERR_CERT_NOT_YET_VALID ?
			    "certificate is not yet valid" :
			    "certificate has expired");
			break;
		case TLS_R_CERT_NOT_TRUSTED:
			snprintf(why, n, "certificate not trusted");
			break;
		default:
			snprintf(why, n, "certificate verification failed: %s",
			    X509_verify_cert_error_string(vr));
			break;
		}
	}
	if (result != NULL)
		*result = res;
	return ok;
}
