/* SPDX-License-Identifier: ISC */
/*
 * tls.h - the server side of TLS: one OpenSSL context for the default
 * certificate ([tls] certificate and key, or a self-signed one made once
 * in DATA_DIR/tls) and one per [tls NAME] section, chosen by the name the
 * client asks for (SNI). TLS 1.2 and 1.3 only.
 *
 * A struct tls_server is built with the configuration snapshot
 * (conf_live.c) and shared read-only by every worker; SIGHUP builds a new
 * one with the new snapshot, so certificates are reloaded while sessions
 * started before keep the context they began with.
 */
#ifndef RELAIS_NET_TLS_H
#define RELAIS_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "core/err.h"

struct tls_server;
struct ssl_st;

/* tls_server_needed - does some listener of conf use TLS */
bool	tls_server_needed(const struct conf *conf);

/*
 * tls_server_load - build the contexts of conf. Without [tls]
 * certificate, uses DATA_DIR/tls/selfsigned.{crt,key}, generating them
 * first if missing (and logs a warning). -1 with err on any failure
 * (unreadable file, key not matching its certificate, bad cipher list).
 */
int	tls_server_load(const struct conf *conf, struct tls_server **out,
	    struct err *err);
/*
 * tls_server_set_generate - may tls_server_load create the self-signed
 * certificate (relais serve: yes; check-config and other commands: no,
 * they load it only if it exists, and have no TLS contexts otherwise).
 */
void	tls_server_set_generate(bool yes);

/* tls_server_free - NULL is fine; live SSL objects keep their context */
void	tls_server_free(struct tls_server *t);

/* tls_server_ssl_new - a server-side SSL for one connection */
struct ssl_st *tls_server_ssl_new(struct tls_server *t);

/*
 * tls_selfsigned_make - write a new self-signed certificate for hostname
 * (EC P-256, SHA-256, ten years) to crt_path and key_path, key mode 0600,
 * each written to a temporary name, fsynced and renamed into place.
 */
int	tls_selfsigned_make(const char *hostname, const char *crt_path,
	    const char *key_path, struct err *err);

#endif
