/* SPDX-License-Identifier: ISC */
/*
 * curlev.h - a libcurl multi handle driven by a libevent base (libcurl's
 * multi-socket interface: CURLMOPT_SOCKETFUNCTION asks for an event per
 * socket, CURLMOPT_TIMERFUNCTION for one timer), for threads that run
 * HTTP transfers beside their other work without blocking.
 *
 * The caller makes and sets up each easy handle; curlev_add runs it and
 * calls done(arg, easy, result) on the base's thread when it ended (the
 * handle is out of the multi handle by then, and the caller's again:
 * done frees it or reuses it). curlev uses the easy handle's
 * CURLOPT_PRIVATE. One thread only: the base's.
 */
#ifndef RELAIS_NET_CURLEV_H
#define RELAIS_NET_CURLEV_H

#include <curl/curl.h>

#include "core/err.h"

struct event_base;
struct curlev;

typedef void curlev_done_fn(void *arg, CURL *easy, CURLcode result);

/* curlev_new - the multi handle on base; NULL with err */
struct curlev *curlev_new(struct event_base *base, struct err *err);
/* curlev_free - transfers still running are dropped (their done is not
   called; their easy handles stay the caller's). NULL is fine. Not
   from a done callback. */
void	curlev_free(struct curlev *c);
/* curlev_add - start easy; -1 with err (done will not be called) */
int	curlev_add(struct curlev *c, CURL *easy, curlev_done_fn *done,
	    void *arg, struct err *err);
/* curlev_remove - give a running transfer up: done is not called, easy
   is the caller's again */
void	curlev_remove(struct curlev *c, CURL *easy);

#endif
