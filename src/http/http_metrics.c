/* SPDX-License-Identifier: ISC */
/*
 * http_metrics.c - GET /metrics (Prometheus text format 0.0.4: the
 * counters of core/metrics.c; no key needed from loopback, an API key
 * from anywhere else) and GET /healthz (core/health.c: the spool
 * writable, free disk space, the queue manager, not draining; 200 or
 * 503, no key, for load balancers).
 */
#include <stdlib.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/drain.h"
#include "core/health.h"
#include "core/metrics.h"
#include "http/http_int.h"
#include "live/conf_live.h"

void
http_metrics(struct http_req *r)
{
	struct buf out;

	if (!r->loopback && !http_auth(r))
		return;
	buf_init(&out, 0);
	if (metrics_render(&out) == -1) {
		buf_fini(&out);
		http_reply_error(r, 500, NULL, "out of memory");
		return;
	}
	http_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8",
	    buf_cstr(&out), out.len);
	buf_fini(&out);
}

void
http_healthz(struct http_req *r)
{
	const struct conf *conf = r->snap->conf;
	struct buf out;
	int rc;

	buf_init(&out, 0);
	if (drain_active()) {
		/* relais drain: the load balancer moves traffic away */
		http_reply_raw(r, 503, "application/json",
		    "{\"status\":\"draining\"}", 21);
		buf_fini(&out);
		return;
	}
	rc = health_check(conf->server.data_dir, conf->http.min_free_space,
	    r->h->qmgr != NULL, &out);
	http_reply_raw(r, rc == 0 ? 200 : 503, "application/json",
	    buf_cstr(&out), out.len);
	buf_fini(&out);
}
