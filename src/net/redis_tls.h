/* SPDX-License-Identifier: ISC */
/*
 * redis_tls.h - the TLS side of connections to Redis ([cluster] tls):
 * one client context made from the configured CA, client certificate and
 * key, and the check of the server's name on each connection. Shared by
 * the asynchronous client (redis.c) and the blocking one (redis_sync.c).
 */
#ifndef RELAIS_NET_REDIS_TLS_H
#define RELAIS_NET_REDIS_TLS_H

#include <stddef.h>

struct conf;
struct err;
struct ssl_ctx_st;
struct ssl_st;

/*
 * redis_tls_ctx - the client context for conf's [cluster] TLS settings:
 * 0 with *out NULL when tls = no, 0 with a new context (the caller owns
 * it: SSL_CTX_free), or -1 with err (a file that cannot be read, a key
 * that does not match its certificate).
 */
int	redis_tls_ctx(const struct conf *conf, struct ssl_ctx_st **out,
	    struct err *err);

/*
 * redis_tls_name - the name the server's certificate must carry:
 * [cluster] tls_name, else the host of [cluster] redis ("[v6]" without
 * its brackets). Written to buf; "" for a unix socket.
 */
void	redis_tls_name(const struct conf *conf, char *buf, size_t len);

/*
 * redis_tls_ssl - a connection of ctx that checks its peer against name
 * (a DNS name, also sent as SNI, or an IP address): NULL when OpenSSL
 * fails, with err.
 */
struct ssl_st *redis_tls_ssl(struct ssl_ctx_st *ctx, const char *name,
	    struct err *err);

/* redis_tls_error - the latest OpenSSL error (or why) as a short text */
void	redis_tls_error(char *buf, size_t len, const char *why);

#endif
