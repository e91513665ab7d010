/* SPDX-License-Identifier: ISC */
/*
 * webhook.h - delivery events POSTed to the operator's URL ([webhooks]).
 *
 * One thread ("relais-hook") with its own event_base drives a libcurl
 * multi handle. It reads up to [webhooks] batch_size events after the
 * stored cursor (spool meta "webhook_cursor") on a read-only spool
 * connection, POSTs them as one JSON batch (event_json.h), and on a 2xx
 * answer moves the cursor through the queue manager (qmgr_call: the one
 * writer), then goes on at once; with nothing to send it looks again
 * every second. Any other answer, or a transport error, is logged
 * (event=webhook.fail) and the SAME batch is sent again after a back-off
 * doubling from 1 s to [webhooks] retry_max. Delivery is at least once:
 * a stop or crash between a POST and its cursor commit sends that batch
 * again; receivers drop duplicates by event id (docs/api.md).
 *
 * [webhooks] url, secret, batch_size, timeout and retry_max are read
 * from the live configuration at each POST, so SIGHUP changes them; a
 * url that was unset at start needs a restart.
 */
#ifndef RELAIS_HTTP_WEBHOOK_H
#define RELAIS_HTTP_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct conf_live;
struct qmgr;
struct webhook;

/* webhook_global_init - libcurl's global setup: once, in the main
   thread, before any other thread starts and before the sandbox (it
   reads what it needs of the system then); 0 or -1 with err */
int	webhook_global_init(struct err *err);
/* webhook_global_cleanup - at exit, after webhook_free */
void	webhook_global_cleanup(void);

/*
 * webhook_start - start the thread for live's [webhooks] url: events are
 * read from the spool in data_dir, the cursor is stored through q (which
 * must run until webhook_stop returns). Returns NULL with err->msg empty
 * when no url is configured (webhooks off: nothing to stop), NULL with
 * err set on failure (a url libcurl cannot parse, no spool, no thread).
 */
struct webhook *webhook_start(const char *data_dir, struct conf_live *live,
	    struct qmgr *q, struct err *err);
/* webhook_stop - stop the thread: a POST in flight is given up (sent
   again at the next start), a cursor commit in flight is waited for.
   Call before qmgr_stop. NULL is fine. */
void	webhook_stop(struct webhook *w);
/* webhook_free - after webhook_stop; NULL is fine */
void	webhook_free(struct webhook *w);

/* the longest Relais-Signature value, with its NUL */
#define WEBHOOK_SIGN_MAX	(sizeof("t=-9223372036854775808, v1=") + 64)

/*
 * webhook_sign - the Relais-Signature header value of body sent at unix
 * time ts: "t=TS, v1=HEX" where HEX is the lower-case hex HMAC-SHA256,
 * keyed with secret, of "TS." followed by body (webhook_sign.c). 0, or
 * -1 with err when OpenSSL fails.
 */
int	webhook_sign(const char *secret, int64_t ts, const char *body,
	    size_t len, char out[WEBHOOK_SIGN_MAX], struct err *err);

#endif
