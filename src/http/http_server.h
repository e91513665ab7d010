/* SPDX-License-Identifier: ISC */
/*
 * http_server.h - the HTTP listener of [http]: the sending API, queue
 * inspection, events, suppressions, /metrics, /healthz and the status
 * page. One thread ("relais-http") with its own event loop runs
 * libevent's evhttp over the sockets bound at start (before root is
 * dropped). It has its own read-only spool connection for the queries
 * (so no SMTP loop ever waits on SQLite), and hands messages and changes
 * to the queue manager like the SMTP sessions do: a 202 is given only
 * after the commit.
 */
#ifndef RELAIS_HTTP_HTTP_SERVER_H
#define RELAIS_HTTP_HTTP_SERVER_H

#include "core/err.h"

struct conf;
struct conf_live;
struct qmgr;
struct http_server;

/* http_server_bind - NULL when [http] is absent (not an error: check
   err->msg[0]); binds the sockets, in the main thread before the
   privilege drop */
struct http_server *http_server_bind(const struct conf *conf,
	    struct err *err);
/* http_server_start - open the spool reader and the keys, start the
   thread; body_dir is where large bodies go */
int	http_server_start(struct http_server *h, struct conf_live *live,
	    struct qmgr *q, const char *body_dir, struct err *err);
/* http_server_stop - stop accepting, answer what the queue manager
   still owes (it must be running), end the thread */
void	http_server_stop(struct http_server *h);
void	http_server_free(struct http_server *h);

#endif
