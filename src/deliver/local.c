/* SPDX-License-Identifier: ISC */
/*
 * local.c - local recipient resolution; see local.h.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/passwd_file.h"
#include "core/buf.h"
#include "core/xalloc.h"
#include "conf/alias.h"
#include "deliver/local.h"

static bool
local_have(const struct local_targets *t, const char *addr)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcasecmp(t->v[i].addr, addr) == 0)
			return true;
	return false;
}

static enum local_verdict
local_add(struct local_targets *t, const char *local, size_t llen,
    const char *domain, enum spool_transport transport)
{
	struct buf b;

	buf_init(&b, 0);
	buf_append(&b, local, llen);
	buf_append(&b, "@", 1);
	for (const char *d = domain; *d; d++)
		buf_append(&b, (char[]){ (char)tolower((unsigned char)*d) }, 1);
	if (local_have(t, b.data)) {
		buf_fini(&b);
		return LOCAL_OK;
	}
	if (t->n >= LOCAL_TARGETS_MAX) {
		buf_fini(&b);
		return LOCAL_TOO_MANY;
	}
	t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
	t->v[t->n].addr = buf_steal(&b, NULL);
	t->v[t->n].transport = transport;
	t->n++;
	return LOCAL_OK;
}

static enum local_verdict
local_expand(const struct conf_snap *snap, const char *local, size_t llen,
    const char *domain, int depth, struct local_targets *out)
{
	const struct alias_entry *e = NULL;
	struct str l = str_make(local, llen), d = str_cstr(domain);
	struct buf full;
	bool user = false;
	enum local_verdict v;

	if (!conf_is_local_domain(snap->conf, d))
		return local_add(out, local, llen, domain,
		    SPOOL_TRANSPORT_REMOTE);
	if (depth > LOCAL_DEPTH_MAX)
		return LOCAL_LOOP;

	if (snap->aliases != NULL) {
		e = alias_lookup(snap->aliases, l, d);
		/* a catch-all must not shadow a real user */
		if (e != NULL && e->key[0] == '@' && snap->users != NULL) {
			buf_init(&full, 0);
			buf_append(&full, local, llen);
			buf_append(&full, "@", 1);
			buf_puts(&full, domain);
			if (passwd_file_has(snap->users, buf_str(&full)))
				e = NULL;
			buf_fini(&full);
		}
	}
	if (e != NULL) {
		for (size_t i = 0; i < e->ntargets; i++) {
			const char *t = e->targets[i];
			const char *at = strrchr(t, '@');

			if (at == NULL)
				continue;
			/* "a@x: a@x, b@x" keeps a copy in a@x's mailbox */
			if ((size_t)(at - t) == llen &&
			    strncasecmp(t, local, llen) == 0 &&
			    strcasecmp(at + 1, domain) == 0) {
				v = local_add(out, local, llen, domain,
				    SPOOL_TRANSPORT_LOCAL);
			} else {
				v = local_expand(snap, t, (size_t)(at - t),
				    at + 1, depth + 1, out);
			}
			if (v != LOCAL_OK)
				return v;
		}
		return LOCAL_OK;
	}
	if (snap->users == NULL) {
		user = true;
	} else {
		buf_init(&full, 0);
		buf_append(&full, local, llen);
		buf_append(&full, "@", 1);
		buf_puts(&full, domain);
		user = passwd_file_has(snap->users, buf_str(&full));
		buf_fini(&full);
	}
	if (!user && llen == 10 && strncasecmp(local, "postmaster", 10) == 0)
		user = true;
	/* an alias target the users file lacks: the administrator named
	   it, so it gets a mailbox rather than being dropped */
	if (!user && depth == 0)
		return LOCAL_UNKNOWN;
	return local_add(out, local, llen, domain, SPOOL_TRANSPORT_LOCAL);
}

enum local_verdict
local_resolve(const struct conf_snap *snap, const char *local,
    const char *domain, struct local_targets *out)
{
	enum local_verdict v;

	out->v = NULL;
	out->n = 0;
	v = local_expand(snap, local, strlen(local), domain, 0, out);
	if (v == LOCAL_OK && out->n == 0)
		v = LOCAL_UNKNOWN;
	if (v != LOCAL_OK)
		local_targets_fini(out);
	return v;
}

void
local_targets_fini(struct local_targets *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].addr);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}
