/* SPDX-License-Identifier: ISC */
/*
 * redis_tls.c - TLS for connections to Redis; see redis_tls.h.
 *
 * Redis's own TLS asks clients for a certificate by default
 * (tls-auth-clients yes), so one may be configured; the server's
 * certificate is always checked, against tls_ca_file or the system's
 * CAs, and must name the host relais connects to (or tls_name).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "conf/conf.h"
#include "core/err.h"
#include "net/redis.h"
#include "net/redis_tls.h"

void
redis_tls_error(char *buf, size_t len, const char *why)
{
	unsigned long e = ERR_get_error();
	char es[200];

	if (e == 0) {
		snprintf(buf, len, "%s", why);
		return;
	}
	ERR_error_string_n(e, es, sizeof(es));
	ERR_clear_error();
	snprintf(buf, len, "%s: %s", why, es);
}

static int
redis_tls_fail(SSL_CTX *ctx, struct err *err, const char *what,
    const char *path)
{
	char why[300], msg[400];

	snprintf(why, sizeof(why), "%s %s", what, path ? path : "");
	redis_tls_error(msg, sizeof(msg), why);
	err_set(err, 0, "[cluster] %s", msg);
	SSL_CTX_free(ctx);
	return -1;
}

int
redis_tls_ctx(const struct conf *conf, SSL_CTX **out, struct err *err)
{
	const char *ca = conf->cluster.tls_ca_file;
	SSL_CTX *ctx;

	*out = NULL;
	if (!conf->cluster.tls)
		return 0;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return redis_tls_fail(NULL, err, "TLS context", NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca != NULL && ca[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
			return redis_tls_fail(ctx, err, "tls_ca_file", ca);
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		return redis_tls_fail(ctx, err, "the system's CA store", NULL);
	if (conf->cluster.tls_certificate != NULL) {
		if (SSL_CTX_use_certificate_chain_file(ctx,
		    conf->cluster.tls_certificate) != 1)
			return redis_tls_fail(ctx, err, "tls_certificate",
			    conf->cluster.tls_certificate);
		if (SSL_CTX_use_PrivateKey_file(ctx, conf->cluster.tls_key,
		    SSL_FILETYPE_PEM) != 1)
			return redis_tls_fail(ctx, err, "tls_key",
			    conf->cluster.tls_key);
		if (SSL_CTX_check_private_key(ctx) != 1)
			return redis_tls_fail(ctx, err, "tls_key",
			    conf->cluster.tls_key);
	}
	*out = ctx;
	return 0;
}

void
redis_tls_name(const struct conf *conf, char *buf, size_t len)
{
	char host[256];
	int port;
	bool unix_path;

	buf[0] = '\0';
	if (conf->cluster.tls_name != NULL) {
		snprintf(buf, len, "%s", conf->cluster.tls_name);
		return;
	}
	if (conf->cluster.redis == NULL || redis_addr_parse(conf->cluster.redis,
	    host, sizeof(host), &port, &unix_path) == -1 || unix_path)
		return;
	snprintf(buf, len, "%s", host);
}

SSL *
redis_tls_ssl(SSL_CTX *ctx, const char *name, struct err *err)
{
	X509_VERIFY_PARAM *vp;
	SSL *ssl;
	char msg[300];

	if ((ssl = SSL_new(ctx)) == NULL) {
		redis_tls_error(msg, sizeof(msg), "SSL_new");
		err_set(err, 0, "%s", msg);
		return NULL;
	}
	vp = SSL_get0_param(ssl);
	if (name != NULL && name[0] != '\0') {
		/* an address is checked as one; a name is also the SNI */
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1) {
			ERR_clear_error();
			if (SSL_set1_host(ssl, name) != 1 ||
			    SSL_set_tlsext_host_name(ssl, name) != 1) {
				redis_tls_error(msg, sizeof(msg), "TLS name");
				err_set(err, 0, "%s", msg);
				SSL_free(ssl);
				return NULL;
			}
		}
	}
	return ssl;
}
