/* SPDX-License-Identifier: ISC */
/*
 * local.h - recipient resolution for local domains at RCPT time: is the
 * address a user, an alias (expanded recursively, bounded), a catch-all
 * or postmaster, and which final addresses does it deliver to.
 */
#ifndef RELAIS_DELIVER_LOCAL_H
#define RELAIS_DELIVER_LOCAL_H

#include <stddef.h>

#include "live/conf_live.h"
#include "spool/spool.h"

#define LOCAL_TARGETS_MAX	64	/* final addresses per RCPT */
#define LOCAL_DEPTH_MAX		8	/* alias nesting */

struct local_target {
	char			*addr;	/* local@domain, domain lower-case */
	enum spool_transport	 transport;
};

struct local_targets {
	struct local_target	*v;
	size_t			 n;
};

enum local_verdict {
	LOCAL_OK,
	LOCAL_UNKNOWN,		/* 550 5.1.1 */
	LOCAL_TOO_MANY,		/* expansion over LOCAL_TARGETS_MAX: 550 5.4.6 */
	LOCAL_LOOP,		/* nesting over LOCAL_DEPTH_MAX: 550 5.4.6 */
};

/*
 * local_resolve - final targets of local@domain (domain is local). Order:
 * exact alias, user of the users file, "@domain" catch-all, then, when no
 * users file is configured or the local part is postmaster, the mailbox
 * of that name. Targets of other domains are remote.
 */
enum local_verdict local_resolve(const struct conf_snap *snap,
	    const char *local, const char *domain, struct local_targets *out);
void	local_targets_fini(struct local_targets *t);

#endif
