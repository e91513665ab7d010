/* SPDX-License-Identifier: ISC */
/*
 * webhook_sign.c - the Relais-Signature of a webhook POST: HMAC-SHA256
 * (OpenSSL's EVP_MAC), keyed with [webhooks] secret, over "TS." and the
 * body, where TS is the unix time of the POST, also sent as t=. Signing
 * the time lets a receiver refuse an old request replayed (docs/api.md).
 * Pure: no I/O, no globals.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "http/webhook.h"

int
webhook_sign(const char *secret, int64_t ts, const char *body, size_t len,
    char out[WEBHOOK_SIGN_MAX], struct err *err)
{
	static const char hex[] = "0123456789abcdef";
	OSSL_PARAM params[2];
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	char prefix[32], digest[] = "SHA256";
	size_t mdlen = 0, n;
	int ok = 0, plen;

	plen = snprintf(prefix, sizeof(prefix), "%" PRId64 ".", ts);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) != NULL &&
	    (ctx = EVP_MAC_CTX_new(mac)) != NULL &&
	    EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret),
	    params) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)prefix,
	    (size_t)plen) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)body, len) == 1 &&
	    EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) == 1 && mdlen == 32)
		ok = 1;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	if (!ok) {
		err_set(err, 0, "HMAC-SHA256: %s",
		    ERR_reason_error_string(ERR_peek_last_error()) ?
		    ERR_reason_error_string(ERR_peek_last_error()) : "failed");
		ERR_clear_error();
		return -1;
	}
	n = (size_t)snprintf(out, WEBHOOK_SIGN_MAX, "t=%" PRId64 ", v1=", ts);
	for (size_t i = 0; i < mdlen; i++) {
		out[n++] = hex[md[i] >> 4];
		out[n++] = hex[md[i] & 0xf];
	}
	out[n] = '\0';
	return 0;
}
