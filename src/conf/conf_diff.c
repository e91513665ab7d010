/* SPDX-License-Identifier: ISC */
/*
 * conf_diff.c - compare two loaded configurations through the key table
 * (conf_int.h): each key's field is compared by its type, so a key added
 * to the table is compared without a line here. Named sections are
 * matched by NAME; [tls_policy] (lines, no keys) is compared as a list.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf_diff.h"
#include "conf/conf_int.h"

#define CONF_DIFF_NAME_MAX	256

/* a named section: where its array, count and NAME are */
struct conf_diff_named {
	enum conf_section_id	 id;
	size_t			 arr;	/* offsetof the array in struct conf */
	size_t			 n;	/* offsetof its count */
	size_t			 size;	/* one element */
	size_t			 name;	/* offsetof char *NAME in it */
};

#define CONF_DIFF_NAMED(sec, field, nfield, type, namef) \
	{ sec, offsetof(struct conf, field), offsetof(struct conf, nfield), \
	  sizeof(struct type), offsetof(struct type, namef) }

static const struct conf_diff_named conf_diff_named[] = {
	CONF_DIFF_NAMED(CONF_SEC_LISTENER, listeners, nlisteners,
	    conf_listener, name),
	CONF_DIFF_NAMED(CONF_SEC_TLS_NAME, tls.names, tls.nnames,
	    conf_tls_name, name),
	CONF_DIFF_NAMED(CONF_SEC_DKIM, dkim, ndkim, conf_dkim, domain),
	CONF_DIFF_NAMED(CONF_SEC_SITE, sites, nsites, conf_site, name),
	CONF_DIFF_NAMED(CONF_SEC_BACKOFF, backoffs, nbackoffs, conf_backoff,
	    name),
	CONF_DIFF_NAMED(CONF_SEC_POOL, pools, npools, conf_pool, name),
	CONF_DIFF_NAMED(CONF_SEC_TENANT, tenants, ntenants, conf_tenant,
	    name),
};

#define CONF_DIFF_NNAMED	(sizeof(conf_diff_named) / \
				    sizeof(conf_diff_named[0]))

struct conf_diff_out {
	conf_diff_fn	*fn;
	void		*arg;
	size_t		 n;
};

static void
conf_diff_emit(struct conf_diff_out *o, const char *name)
{
	o->fn(o->arg, name);
	o->n++;
}

static const void *
conf_diff_at(const void *base, size_t off)
{
	return (const char *)base + off;
}

static bool
conf_diff_str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
conf_diff_strs_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!conf_diff_str_eq(a[i], b[i]))
			return false;
	return true;
}

/* conf_diff_key_eq - does key k hold the same value in both structs */
static bool
conf_diff_key_eq(const struct conf_key *k, const void *a, const void *b)
{
	const void *fa = conf_diff_at(a, k->off), *fb = conf_diff_at(b, k->off);
	size_t na = 0, nb = 0;

	if (k->off_n != 0) {
		na = *(const size_t *)conf_diff_at(a, k->off_n);
		nb = *(const size_t *)conf_diff_at(b, k->off_n);
	}
	switch (k->type) {
	case CONF_T_STRING:
	case CONF_T_HOSTNAME:
	case CONF_T_TEMPLATE:
	case CONF_T_REGEX:
	case CONF_T_DATE:
	case CONF_T_POOL:
	case CONF_T_SOCKET:
		return conf_diff_str_eq(*(char *const *)fa, *(char *const *)fb);
	case CONF_T_UINT:
	case CONF_T_DURATION:
		return *(const unsigned *)fa == *(const unsigned *)fb;
	case CONF_T_SIZE:
		return *(const uint64_t *)fa == *(const uint64_t *)fb;
	case CONF_T_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case CONF_T_ENUM:
	case CONF_T_LOG_LEVEL:
		return *(const int *)fa == *(const int *)fb;
	case CONF_T_DOMAINS:
	case CONF_T_PATTERNS:
	case CONF_T_IPS:
	case CONF_T_WORDS:
	case CONF_T_MILTERS:
		return conf_diff_strs_eq(*(char **const *)fa, na,
		    *(char **const *)fb, nb);
	case CONF_T_CIDRS: {
		const struct conf_cidr *ca = *(struct conf_cidr *const *)fa;
		const struct conf_cidr *cb = *(struct conf_cidr *const *)fb;

		if (na != nb)
			return false;
		for (size_t i = 0; i < na; i++)
			if (ca[i].family != cb[i].family ||
			    ca[i].prefix != cb[i].prefix ||
			    memcmp(ca[i].addr, cb[i].addr,
			    sizeof(ca[i].addr)) != 0)
				return false;
		return true;
	}
	case CONF_T_ADDRS: {
		const struct conf_addr *aa = *(struct conf_addr *const *)fa;
		const struct conf_addr *ab = *(struct conf_addr *const *)fb;

		if (na != nb)
			return false;
		for (size_t i = 0; i < na; i++)
			if (strcmp(aa[i].text, ab[i].text) != 0)
				return false;
		return true;
	}
	case CONF_T_RATE: {
		const struct conf_rate *ra = fa, *rb = fb;

		return ra->count == rb->count && ra->period == rb->period;
	}
	}
	return false;
}

/* conf_diff_keys - the keys of section id between two of its structs;
   prefix is "limits" or "site[gmail]" */
static void
conf_diff_keys(struct conf_diff_out *o, enum conf_section_id id,
    const char *prefix, const void *a, const void *b)
{
	char name[CONF_DIFF_NAME_MAX];

	for (size_t i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->section != id || conf_diff_key_eq(k, a, b))
			continue;
		snprintf(name, sizeof(name), "%s.%s", prefix, k->name);
		conf_diff_emit(o, name);
	}
}

static const void *
conf_diff_find(const struct conf_diff_named *d, const struct conf *c,
    const char *want)
{
	const char *arr = *(const char *const *)conf_diff_at(c, d->arr);
	size_t n = *(const size_t *)conf_diff_at(c, d->n);

	for (size_t i = 0; i < n; i++) {
		const void *e = arr + i * d->size;

		if (conf_diff_str_eq(*(char *const *)conf_diff_at(e, d->name),
		    want))
			return e;
	}
	return NULL;
}

/* conf_diff_section - one named section: removed and changed ones in a's
   order, then the added ones in b's */
static void
conf_diff_section(struct conf_diff_out *o, const struct conf_diff_named *d,
    const struct conf *a, const struct conf *b)
{
	const char *sec = conf_section_name(d->id);
	char prefix[CONF_DIFF_NAME_MAX];
	const char *arr = *(const char *const *)conf_diff_at(a, d->arr);
	size_t n = *(const size_t *)conf_diff_at(a, d->n);

	for (size_t i = 0; i < n; i++) {
		const void *ea = arr + i * d->size, *eb;
		const char *nm = *(char *const *)conf_diff_at(ea, d->name);

		snprintf(prefix, sizeof(prefix), "%s[%s]", sec, nm);
		if ((eb = conf_diff_find(d, b, nm)) == NULL)
			conf_diff_emit(o, prefix);
		else
			conf_diff_keys(o, d->id, prefix, ea, eb);
	}
	arr = *(const char *const *)conf_diff_at(b, d->arr);
	n = *(const size_t *)conf_diff_at(b, d->n);
	for (size_t i = 0; i < n; i++) {
		const void *eb = arr + i * d->size;
		const char *nm = *(char *const *)conf_diff_at(eb, d->name);

		if (conf_diff_find(d, a, nm) != NULL)
			continue;
		snprintf(prefix, sizeof(prefix), "%s[%s]", sec, nm);
		conf_diff_emit(o, prefix);
	}
}

static bool
conf_diff_named_id(enum conf_section_id id)
{
	for (size_t i = 0; i < CONF_DIFF_NNAMED; i++)
		if (conf_diff_named[i].id == id)
			return true;
	return false;
}

static bool
conf_diff_tls_policy_eq(const struct conf *a, const struct conf *b)
{
	if (a->ntls_policies != b->ntls_policies)
		return false;
	for (size_t i = 0; i < a->ntls_policies; i++)
		if (a->tls_policies[i].level != b->tls_policies[i].level ||
		    !conf_diff_str_eq(a->tls_policies[i].domain,
		    b->tls_policies[i].domain))
			return false;
	return true;
}

size_t
conf_diff(const struct conf *a, const struct conf *b, conf_diff_fn *fn,
    void *arg)
{
	struct conf_diff_out o = { fn, arg, 0 };

	for (int id = 0; id < CONF_SEC_COUNT; id++) {
		if (conf_diff_named_id((enum conf_section_id)id) ||
		    id == CONF_SEC_TLS_POLICY)
			continue;
		if (id == CONF_SEC_HTTP && a->http.enabled != b->http.enabled)
			conf_diff_emit(&o, "http");
		conf_diff_keys(&o, (enum conf_section_id)id,
		    conf_section_name((enum conf_section_id)id), a, b);
	}
	for (size_t i = 0; i < CONF_DIFF_NNAMED; i++)
		conf_diff_section(&o, &conf_diff_named[i], a, b);
	if (!conf_diff_tls_policy_eq(a, b))
		conf_diff_emit(&o, "tls_policy");
	return o.n;
}
