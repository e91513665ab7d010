/* SPDX-License-Identifier: ISC */
/*
 * sts_store.c - MTA-STS policies from the sts thread to the spool,
 * through the queue manager (qmgr_call_lazy); see sts_store.h. A policy
 * is stored as its lines (sts_policy_lines), which the service parses
 * again when it loads the table at start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "queue/qmgr.h"
#include "queue/sts_store.h"
#include "spool/spool.h"
#include "tlspol/sts.h"

/* one write for the queue manager */
struct sts_store_req {
	char		 domain[256];
	bool		 forget;
	char		 id[STS_ID_MAX + 1];
	char		*policy;	/* the lines, LF-separated */
	int64_t		 fetched;
	int64_t		 expires;
};

static int
sts_store_apply(struct qmgr_txn *t, void *arg, struct err *err)
{
	struct sts_store_req *r = arg;
	struct spool_sts row;

	if (r->forget)
		return spool_sts_delete(qmgr_txn_spool(t), r->domain, err);
	row.domain = r->domain;
	row.id = r->id;
	row.policy = r->policy;
	row.fetched = r->fetched;
	row.expires = r->expires;
	return spool_sts_put(qmgr_txn_spool(t), &row, qmgr_txn_now(t), err);
}

static void
sts_store_done(void *arg, int status)
{
	struct sts_store_req *r = arg;

	if (status != 0)
		log_warnx("event=sts.store domain=%s error=\"not stored\"",
		    r->domain);
	free(r->policy);
	free(r);
}

void
sts_store_qmgr(void *arg, const char *domain, const struct sts_policy *p)
{
	static char lines[STS_MX_MAX + 3][300];
	struct qmgr *q = arg;
	struct sts_store_req *r;
	struct buf b;
	size_t n;

	if (strlen(domain) >= sizeof(r->domain))
		return;
	r = xcalloc(1, sizeof(*r));
	snprintf(r->domain, sizeof(r->domain), "%s", domain);
	if (p == NULL) {
		r->forget = true;
	} else {
		/* the sts thread is the only caller: lines can be static */
		n = sts_policy_lines(p, lines, STS_MX_MAX + 3);
		buf_init(&b, 0);
		for (size_t i = 0; i < n; i++)
			buf_appendf(&b, "%s\n", lines[i]);
		if ((r->policy = buf_steal(&b, NULL)) == NULL) {
			buf_fini(&b);
			free(r);
			log_warnx("event=sts.store domain=%s error=\"out of"
			    " memory\"", domain);
			return;
		}
		snprintf(r->id, sizeof(r->id), "%s", p->id);
		r->fetched = p->fetched;
		r->expires = p->expires;
	}
	qmgr_call_lazy(q, sts_store_apply, sts_store_done, r);
}
