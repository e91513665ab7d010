/* SPDX-License-Identifier: ISC */
/*
 * fake_dns.h - a struct dns_resolver that answers from a table, for unit
 * tests of code that takes the asynchronous DNS interface (net/dns.h).
 *
 *	static const struct fake_dns_rec zone[] = {
 *		{ "example.com", DNS_T_TXT, "v=spf1 mx -all" },
 *		{ "example.com", DNS_T_MX, "10 mx.example.com" },
 *		{ "mx.example.com", DNS_T_A, "192.0.2.1" },
 *		{ "broken.example", 0, "SERVFAIL" },	   (every type)
 *		{ "slow.example", DNS_T_TXT, "TIMEOUT" },  (TEMPFAIL)
 *	};
 *	struct fake_dns f;
 *	fake_dns_init(&f, zone, n, base);	  base NULL: answers are given
 *	struct dns_resolver r = fake_dns_resolver(&f);   inside query()
 *
 * With an event_base, every answer is deferred to a zero-timeout timer,
 * as a real resolver's would be; cancel() frees a pending answer. Names
 * compare case-insensitively; an unknown name is NXDOMAIN, a known one
 * without the type asked is NODATA. TXT data is one joined string. All
 * functions are static: include this header in one test file.
 */
#ifndef RELAIS_TEST_FAKE_DNS_H
#define RELAIS_TEST_FAKE_DNS_H

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "net/dns.h"

struct fake_dns_rec {
	const char	*name;
	int		 type;		/* 0: every type (SERVFAIL/TIMEOUT) */
	const char	*data;
};

struct fake_dns_pending;

struct fake_dns {
	const struct fake_dns_rec	*recs;
	size_t				 nrecs;
	struct event_base		*base;
	uint64_t			 next_id;
	unsigned			 queries;	/* started */
	unsigned			 cancels;
	struct fake_dns_pending		*pending;	/* deferred answers */
	char				 last[256];	/* last name asked */
};

struct fake_dns_pending {
	struct fake_dns		*f;
	struct fake_dns_pending	*next;
	uint64_t		 id;
	char			*name;
	int			 type;
	dns_cb			*cb;
	void			*arg;
	struct event		*ev;
};

static void
fake_dns_answer(struct fake_dns *f, const char *name, int type,
    struct dns_answer *ans)
{
	bool known = false;
	size_t n = strlen(name);
	char key[300];

	if (n && name[n - 1] == '.')
		n--;
	snprintf(key, sizeof(key), "%.*s", (int)n, name);
	memset(ans, 0, sizeof(*ans));
	ans->type = type;
	ans->status = DNS_NXDOMAIN;
	for (size_t i = 0; i < f->nrecs; i++) {
		const struct fake_dns_rec *r = &f->recs[i];
		struct dns_rr *rr;

		if (strcasecmp(r->name, key) != 0)
			continue;
		known = true;
		if (r->type == 0 || r->type == type) {
			if (strcmp(r->data, "SERVFAIL") == 0 ||
			    strcmp(r->data, "TIMEOUT") == 0) {
				for (size_t k = 0; k < ans->n; k++)
					dns_rr_fini(&ans->rr[k]);
				free(ans->rr);
				memset(ans, 0, sizeof(*ans));
				ans->type = type;
				ans->status = DNS_TEMPFAIL;
				return;
			}
		}
		if (r->type != type)
			continue;
		ans->rr = realloc(ans->rr, (ans->n + 1) * sizeof(*ans->rr));
		rr = &ans->rr[ans->n++];
		memset(rr, 0, sizeof(*rr));
		rr->type = type;
		switch (type) {
		case DNS_T_A:
			rr->family = AF_INET;
			inet_pton(AF_INET, r->data, rr->addr);
			break;
		case DNS_T_AAAA:
			rr->family = AF_INET6;
			inet_pton(AF_INET6, r->data, rr->addr);
			break;
		case DNS_T_MX:
			rr->pref = (uint16_t)atoi(r->data);
			snprintf(rr->name, sizeof(rr->name), "%s",
			    strchr(r->data, ' ') ? strchr(r->data, ' ') + 1 :
			    ".");
			break;
		case DNS_T_PTR:
		case DNS_T_CNAME:
			snprintf(rr->name, sizeof(rr->name), "%s", r->data);
			break;
		case DNS_T_TXT:
			rr->txt = strdup(r->data);
			rr->txt_len = strlen(r->data);
			break;
		}
	}
	if (ans->n)
		ans->status = DNS_OK;
	else if (known)
		ans->status = DNS_NODATA;
}

static void
fake_dns_fire(evutil_socket_t fd, short what, void *arg)
{
	struct fake_dns_pending *p = arg, **pp;
	struct fake_dns *f = p->f;
	struct dns_answer ans;

	(void)fd, (void)what;
	for (pp = &f->pending; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	fake_dns_answer(f, p->name, p->type, &ans);
	p->cb(p->arg, &ans);
	dns_answer_fini(&ans);
	event_free(p->ev);
	free(p->name);
	free(p);
}

static uint64_t
fake_dns_query(void *ctx, const char *name, int type, dns_cb *cb, void *arg)
{
	struct fake_dns *f = ctx;
	struct fake_dns_pending *p;
	struct dns_answer ans;
	struct timeval tv = { 0, 0 };
	uint64_t id = ++f->next_id;

	f->queries++;
	snprintf(f->last, sizeof(f->last), "%s", name);
	if (f->base == NULL) {
		fake_dns_answer(f, name, type, &ans);
		cb(arg, &ans);
		dns_answer_fini(&ans);
		return id;
	}
	p = calloc(1, sizeof(*p));
	p->f = f;
	p->id = id;
	p->name = strdup(name);
	p->type = type;
	p->cb = cb;
	p->arg = arg;
	p->ev = evtimer_new(f->base, fake_dns_fire, p);
	evtimer_add(p->ev, &tv);
	p->next = f->pending;
	f->pending = p;
	return id;
}

static void
fake_dns_cancel(void *ctx, uint64_t id)
{
	struct fake_dns *f = ctx;

	for (struct fake_dns_pending **pp = &f->pending; *pp != NULL;
	    pp = &(*pp)->next) {
		struct fake_dns_pending *p = *pp;

		if (p->id != id)
			continue;
		*pp = p->next;
		event_free(p->ev);
		free(p->name);
		free(p);
		f->cancels++;
		return;
	}
}

static void
fake_dns_init(struct fake_dns *f, const struct fake_dns_rec *recs, size_t n,
    struct event_base *base)
{
	memset(f, 0, sizeof(*f));
	f->recs = recs;
	f->nrecs = n;
	f->base = base;
}

static struct dns_resolver
fake_dns_resolver(struct fake_dns *f)
{
	return (struct dns_resolver){ fake_dns_query, fake_dns_cancel, f };
}

/* fake_dns_fini - drop answers never delivered (they must not exist) */
static size_t
fake_dns_fini(struct fake_dns *f)
{
	size_t left = 0;

	while (f->pending != NULL) {
		struct fake_dns_pending *p = f->pending;

		f->pending = p->next;
		event_free(p->ev);
		free(p->name);
		free(p);
		left++;
	}
	return left;
}

#endif
