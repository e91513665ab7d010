/* SPDX-License-Identifier: ISC */
/*
 * drain.h - whether this node is draining (relais drain): one
 * process-wide flag, set once by the daemon's main thread and read by
 * everyone who takes new work in: the SMTP sessions (421 at connect),
 * the HTTP send API (503), GET /healthz (503) and the node's
 * registration. Nothing clears it: a drain ends with the process.
 */
#ifndef RELAIS_CORE_DRAIN_H
#define RELAIS_CORE_DRAIN_H

#include <stdbool.h>

/* drain_start - from now on the node takes no new mail */
void	drain_start(void);
/* drain_active - relais drain was asked for */
bool	drain_active(void);

#endif
