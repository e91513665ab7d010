/* SPDX-License-Identifier: ISC */
/*
 * tls_filter.h - set up libevent's OpenSSL filter once, before threads.
 *
 * libevent 2.1 makes the BIO method of its OpenSSL filter bufferevents
 * (bufferevent_openssl_filter_new: outbound STARTTLS, Redis over TLS) on
 * first use and keeps it in a static pointer without a lock: two worker
 * threads making their first filter at once each make one, and one is
 * lost. Making a filter once on the main thread before the workers start
 * leaves them nothing to race for.
 */
#ifndef RELAIS_NET_TLS_FILTER_H
#define RELAIS_NET_TLS_FILTER_H

/* tls_filter_init - call once, before the threads start */
void	tls_filter_init(void);

#endif
