/* SPDX-License-Identifier: ISC */
/*
 * sts_store.h - the MTA-STS service's store hook: policies into the
 * spool (table sts_policies) through the queue manager, the spool's one
 * writer.
 */
#ifndef RELAIS_QUEUE_STS_STORE_H
#define RELAIS_QUEUE_STS_STORE_H

struct sts_policy;

/*
 * sts_store_qmgr - an sts_store_fn; arg: the struct qmgr (running until
 * sts_stop returns). Copies the policy and hands it to the queue manager,
 * which writes it (p NULL: deletes the domain's row) in its next batch,
 * without an fsync of its own (a policy lost with a power cut is fetched
 * again). Never blocks on the spool.
 */
void	sts_store_qmgr(void *arg, const char *domain,
	    const struct sts_policy *p);

#endif
