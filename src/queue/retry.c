/* SPDX-License-Identifier: ISC */
/*
 * retry.c - one delivery outcome applied to its recipient; see retry.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "queue/bounce.h"
#include "queue/retry.h"
#include "smtp/smtp_param.h"

bool
retry_expires(const struct spool_result *res, const struct conf *conf,
    int64_t now)
{
	/* a site's shaping held it back: no attempt was made, and the
	   next one decides */
	return res->outcome == SPOOL_OUTCOME_DEFERRED && !res->throttled &&
	    now - res->arrival >= (int64_t)conf->relay.max_queue_lifetime;
}

int
retry_apply(struct spool *sp, struct spool_result *res,
    const struct conf *conf, int64_t now, struct bounce_batch *bb,
    struct err *err)
{
	struct spool_rcpt_state rs;
	char reply[600], diag[600];
	bool never, warned;
	int rc;
	const char *diag_type = strcmp(res->relay, "local") == 0 ||
	    strcmp(res->relay, "none") == 0 ? "x-relais" : "smtp";

	if ((rc = spool_rcpt_get(sp, res->rcpt_id, &rs, err)) != 1)
		return rc;	/* 0: deleted meanwhile, nothing to do */
	never = (rs.notify & SMTP_NOTIFY_NEVER) != 0;
	warned = rs.warned;

	if (retry_expires(res, conf, now)) {
		char last[sizeof(res->reply)];

		res->outcome = SPOOL_OUTCOME_BOUNCED;
		res->expired = true;
		memcpy(last, res->reply, sizeof(last));
		last[sizeof(last) - 60] = '\0';
		snprintf(res->reply, sizeof(res->reply), "message expired"
		    " after %lld s in the queue; last error: %.150s",
		    (long long)(now - res->arrival), last);
	}
	snprintf(reply, sizeof(reply), "%s %s", res->status, res->reply);
	snprintf(diag, sizeof(diag), "%s; %s", diag_type, res->reply);

	if (res->outcome == SPOOL_OUTCOME_DEFERRED) {
		if (conf->relay.delay_warning > 0 && !warned && !never &&
		    now - res->arrival >= (int64_t)conf->relay.delay_warning &&
		    (rs.notify == 0 || (rs.notify & SMTP_NOTIFY_DELAY))) {
			bounce_add(bb, res->msg_id, DSN_DELAYED, res->addr,
			    rs.orig, rs.orcpt, "delayed", res->status,
			    res->remote_mta, diag, now, res->arrival +
			    (int64_t)conf->relay.max_queue_lifetime);
			warned = true;
		}
		rc = spool_rcpt_defer(sp, res->rcpt_id, now, reply,
		    (int64_t)conf->relay.retry_min,
		    (int64_t)conf->relay.retry_max, res->retry_at, warned,
		    res->site, !res->throttled, err);
	} else {
		if (res->outcome == SPOOL_OUTCOME_BOUNCED && !never &&
		    (rs.notify == 0 || (rs.notify & SMTP_NOTIFY_FAILURE)))
			bounce_add(bb, res->msg_id, DSN_FAILED, res->addr,
			    rs.orig, rs.orcpt, "failed", res->status,
			    res->remote_mta, diag, now, 0);
		else if (res->outcome == SPOOL_OUTCOME_DELIVERED &&
		    (rs.notify & SMTP_NOTIFY_SUCCESS) && !res->dsn_passed)
			bounce_add(bb, res->msg_id, DSN_DELIVERED, res->addr,
			    rs.orig, rs.orcpt, strcmp(res->relay, "local") == 0 ?
			    "delivered" : "relayed", res->status,
			    res->remote_mta, diag, now, 0);
		rc = spool_rcpt_settle(sp, res->rcpt_id,
		    res->outcome == SPOOL_OUTCOME_DELIVERED ?
		    SPOOL_RCPT_DELIVERED : SPOOL_RCPT_BOUNCED, now, reply,
		    res->site, err);
	}
	spool_rcpt_state_fini(&rs);
	return rc;
}
