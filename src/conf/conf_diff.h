/* SPDX-License-Identifier: ISC */
/*
 * conf_diff.h - what differs between two loaded configurations, key by
 * key, for the log line of a reload and its warning about keys that only
 * a restart applies.
 */
#ifndef RELAIS_CONF_DIFF_H
#define RELAIS_CONF_DIFF_H

#include <stddef.h>

#include "conf/conf.h"

/* one difference; name is valid for the call only */
typedef void conf_diff_fn(void *arg, const char *name);

/*
 * conf_diff - fn(arg, name) once per difference between a and b, in the
 * order of the key table; returns their number. name is
 *   "section.key"          a key of a single section: "limits.max_recipients"
 *   "section[NAME].key"    a key of a named section in both: "site[gmail].idle_timeout"
 *   "section[NAME]"        a named section added or removed: "listener[submission]"
 *   "http"                 the [http] section added or removed
 *   "tls_policy"           any change of the [tls_policy] lines
 * Values computed at load (the default hostname, mailboxes) count as the
 * keys they fill.
 */
size_t	conf_diff(const struct conf *a, const struct conf *b,
	    conf_diff_fn *fn, void *arg);

#endif
