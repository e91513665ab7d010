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
 * without the type asked is NODATA. TXT data is the record's text, cut
 * into character-strings of at most 255 octets, or "rdata:HEX" for an
 * rdata in wire form given octet by octet (empty strings, odd splits,
 * malformed lengths); either way the answer is built by the resolver's
 * own dns_answer_from_rdata(), so a malformed rdata is dropped and an
 * RRset of malformed rdatas only is PERMFAIL, as from dns.c. All
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

/* fake_dns_txt_wire - a TXT row's data as rdata in wire form */
static size_t
fake_dns_txt_wire(const char *data, uint8_t **out)
{
	size_t len = strlen(data), n = 0;
	uint8_t *w;

	if (strncmp(data, "rdata:", 6) == 0) {
		data += 6;
		w = malloc(len / 2 + 1);
		for (; data[0] && data[1]; data += 2) {
			unsigned v;

			sscanf(data, "%2x", &v);
			w[n++] = (uint8_t)v;
		}
		*out = w;
		return n;
	}
	w = malloc(len + len / 255 + 2);
	do {
		size_t l = len > 255 ? 255 : len;

		w[n++] = (uint8_t)l;
		memcpy(w + n, data, l);
		n += l;
		data += l;
		len -= l;
	} while (len > 0);
	*out = w;
	return n;
}

static void
fake_dns_answer(struct fake_dns *f, const char *name, int type,
    struct dns_answer *ans)
{
	bool known = false;
	size_t n = strlen(name), ntxt = 0;
	const uint8_t *txt[64];
	size_t txtlen[64];
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
				for (size_t k = 0; k < ntxt; k++)
					free((void *)txt[k]);
				free(ans->rr);
				memset(ans, 0, sizeof(*ans));
				ans->type = type;
				ans->status = DNS_TEMPFAIL;
				return;
			}
		}
		if (r->type != type)
			continue;
		if (type == DNS_T_TXT) {
			if (ntxt < 64) {
				uint8_t *w;

				txtlen[ntxt] = fake_dns_txt_wire(r->data, &w);
				txt[ntxt++] = w;
			}
			continue;
		}
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
		}
	}
	if (ntxt > 0) {
		dns_answer_from_rdata(ans, type, ntxt, txt, txtlen);
		for (size_t i = 0; i < ntxt; i++)
			free((void *)txt[i]);
		return;
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
