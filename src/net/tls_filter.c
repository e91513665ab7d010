/* SPDX-License-Identifier: ISC */
/*
 * tls_filter.c - libevent's OpenSSL filter set up before the threads;
 * see tls_filter.h.
 */
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "core/log.h"
#include "net/tls_filter.h"

void
tls_filter_init(void)
{
	struct event_base *base;
	struct bufferevent *under, *f;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;

	if ((base = event_base_new()) == NULL ||
	    (under = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("event=tls.filter_init error=\"out of memory\"");
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (ssl = SSL_new(ctx)) == NULL)
		fatalx("event=tls.filter_init error=\"no TLS context\"");
	/* open: no handshake, nothing written; the filter owns both */
	f = bufferevent_openssl_filter_new(base, under, ssl,
	    BUFFEREVENT_SSL_OPEN, BEV_OPT_CLOSE_ON_FREE);
	if (f == NULL)
		fatalx("event=tls.filter_init error=\"no filter\"");
	bufferevent_free(f);
	/* what libevent defers of the free runs here */
	(void)event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	SSL_CTX_free(ctx);
}
