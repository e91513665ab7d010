/* SPDX-License-Identifier: ISC */
/*
 * tls.c - server TLS contexts, SNI and the self-signed fallback; see
 * tls.h.
 *
 * Security notes: protocol floor TLS 1.2 (1.3 with min_version), no
 * compression, no renegotiation, server cipher preference, AEAD ciphers
 * with forward secrecy only by default. Private keys are read here, at
 * start as root before the privilege drop and at SIGHUP as the running
 * user (so a key reloaded on SIGHUP must be readable by [server] user).
 * A generated key is written 0600 with O_EXCL|O_NOFOLLOW.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "net/tls.h"

#define TLS_SELFSIGNED_DAYS	3650

struct tls_server_name {
	char		*name;		/* lower-case server name */
	SSL_CTX		*ctx;
};

static bool tls_server_generate;	/* set once by relais serve */

struct tls_server {
	SSL_CTX			*def;
	struct tls_server_name	*names;
	size_t			 nnames;
};

/* tls_server_errstr - the OpenSSL error queue's first entry, emptied */
static const char *
tls_server_errstr(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

bool
tls_server_needed(const struct conf *conf)
{
	for (size_t i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].tls != CONF_TLS_NONE)
			return true;
	return conf->http.enabled && conf->http.tls == CONF_HTTP_TLS_REQUIRED;
}

/* tls_server_ctx_new - one context with our settings and one key pair */
static SSL_CTX *
tls_server_ctx_new(const struct conf *conf, const char *crt, const char *key,
    struct err *err)
{
	SSL_CTX *ctx;
	char e[256];

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		err_set(err, EIO, "tls: cannot create a context: %s",
		    tls_server_errstr(e, sizeof(e)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, conf->tls.min_version ==
	    CONF_TLS_V1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"relais",
	    6);
	if (SSL_CTX_set_cipher_list(ctx, conf->tls.ciphers) != 1) {
		err_set(err, EINVAL, "tls: ciphers: no usable cipher in '%s'",
		    conf->tls.ciphers);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1) {
		err_set(err, EINVAL, "tls: certificate %s: %s", crt,
		    tls_server_errstr(e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_error()) ==
		    X509_R_KEY_VALUES_MISMATCH)
			err_set(err, EINVAL, "tls: key %s does not match "
			    "certificate %s", key, crt);
		else
			err_set(err, EINVAL, "tls: key %s: %s", key,
			    tls_server_errstr(e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		err_set(err, EINVAL, "tls: key %s does not match certificate "
		    "%s", key, crt);
		goto fail;
	}
	ERR_clear_error();
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* tls_server_sni_cb - switch to the [tls NAME] context the client named */
static int
tls_server_sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_server *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	size_t len;

	if (name == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < t->nnames; i++) {
		if (strlen(t->names[i].name) == len &&
		    strncasecmp(t->names[i].name, name, len) == 0) {
			SSL_set_SSL_CTX(ssl, t->names[i].ctx);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_NOACK;	/* the default certificate */
}

/* tls_server_selfsigned - DATA_DIR/tls/selfsigned.*, made if missing and
   allowed; 1 when missing and not allowed */
static int
tls_server_selfsigned(const struct conf *conf, char *crt, char *key,
    size_t len, struct err *err)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s/tls", conf->server.data_dir);
	snprintf(crt, len, "%s/selfsigned.crt", dir);
	snprintf(key, len, "%s/selfsigned.key", dir);
	if (access(crt, F_OK) == 0 && access(key, F_OK) == 0)
		goto out;
	if (!tls_server_generate)
		return 1;	/* not made by this command */
	if (mkdir(conf->server.data_dir, 0700) == -1 && errno != EEXIST)
		return err_set(err, errno, "tls: cannot create %s: %s",
		    conf->server.data_dir, strerror(errno));
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return err_set(err, errno, "tls: cannot create %s: %s", dir,
		    strerror(errno));
	if (tls_selfsigned_make(conf->server.hostname, crt, key, err) == -1)
		return -1;
	log_info("event=tls.selfsigned.created certificate=%s key=%s", crt,
	    key);
out:
	log_warnx("event=tls.selfsigned certificate=%s warning=\"no [tls]"
	    " certificate configured: using a self-signed certificate\"", crt);
	return 0;
}

int
tls_server_load(const struct conf *conf, struct tls_server **out,
    struct err *err)
{
	struct tls_server *t = xcalloc(1, sizeof(*t));
	char crt[4200], key[4200];

	*out = NULL;
	if (conf->tls.certificate == NULL || conf->tls.key == NULL) {
		if (conf->tls.certificate != NULL || conf->tls.key != NULL) {
			err_set(err, EINVAL, "tls: [tls] certificate and key "
			    "go together");
			goto fail;
		}
		switch (tls_server_selfsigned(conf, crt, key, sizeof(crt),
		    err)) {
		case -1:
			goto fail;
		case 1:
			tls_server_free(t);
			return 0;	/* *out stays NULL */
		}
	} else {
		snprintf(crt, sizeof(crt), "%s", conf->tls.certificate);
		snprintf(key, sizeof(key), "%s", conf->tls.key);
	}
	if ((t->def = tls_server_ctx_new(conf, crt, key, err)) == NULL)
		goto fail;
	t->names = xcalloc(conf->tls.nnames + 1, sizeof(*t->names));
	for (size_t i = 0; i < conf->tls.nnames; i++) {
		const struct conf_tls_name *n = &conf->tls.names[i];

		t->names[i].ctx = tls_server_ctx_new(conf, n->certificate,
		    n->key, err);
		if (t->names[i].ctx == NULL)
			goto fail;
		t->names[i].name = xstrdup(n->name);
		t->nnames++;
	}
	SSL_CTX_set_tlsext_servername_callback(t->def, tls_server_sni_cb);
	SSL_CTX_set_tlsext_servername_arg(t->def, t);
	*out = t;
	return 0;
fail:
	tls_server_free(t);
	return -1;
}

void
tls_server_set_generate(bool yes)
{
	tls_server_generate = yes;
}

void
tls_server_free(struct tls_server *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nnames; i++) {
		SSL_CTX_free(t->names[i].ctx);
		free(t->names[i].name);
	}
	free(t->names);
	SSL_CTX_free(t->def);
	free(t);
}

SSL *
tls_server_ssl_new(struct tls_server *t)
{
	SSL *ssl = SSL_new(t->def);

	if (ssl == NULL)
		ERR_clear_error();
	return ssl;
}

/* tls_selfsigned_write - PEM to path via path.tmp, 0600, fsynced */
static int
tls_selfsigned_write(const char *path, EVP_PKEY *pk, X509 *x,
    struct err *err)
{
	char tmp[4300];
	FILE *f;
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
		err_set(err, errno, "tls: cannot create %s: %s", tmp,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	ok = pk ? PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) :
	    PEM_write_X509(f, x);
	ok = ok == 1 && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) == -1) {
		err_set(err, EIO, "tls: cannot write %s", path);
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

int
tls_selfsigned_make(const char *hostname, const char *crt_path,
    const char *key_path, struct err *err)
{
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	BIGNUM *serial = NULL;
	char san[300];
	int rc = -1;
	static const struct {
		int		 nid;
		const char	*value;
	} exts[] = {
		{ NID_basic_constraints, "critical,CA:FALSE" },
		{ NID_key_usage, "critical,digitalSignature" },
		{ NID_ext_key_usage, "serverAuth" },
	};

	if ((pk = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL ||
	    (serial = BN_new()) == NULL)
		goto out;
	if (X509_set_version(x, 2) != 1 ||
	    BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
	    BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) == NULL ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x),
	    (long)TLS_SELFSIGNED_DAYS * 86400) == NULL ||
	    X509_set_pubkey(x, pk) != 1)
		goto out;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)hostname, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1)
		goto out;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	snprintf(san, sizeof(san), "DNS:%s", hostname);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
	    san)) == NULL)
		goto out;
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		if ((ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid,
		    exts[i].value)) == NULL)
			goto out;
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(x, pk, EVP_sha256()) == 0)
		goto out;
	if (tls_selfsigned_write(key_path, pk, NULL, err) == -1 ||
	    tls_selfsigned_write(crt_path, NULL, x, err) == -1) {
		(void)unlink(key_path);
		rc = -2;
		goto out;
	}
	rc = 0;
out:
	if (rc == -1) {
		char e[256];

		err_set(err, EIO, "tls: cannot make a self-signed certificate:"
		    " %s", tls_server_errstr(e, sizeof(e)));
	}
	ERR_clear_error();
	BN_free(serial);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc == 0 ? 0 : -1;
}
