/* SPDX-License-Identifier: ISC */
/*
 * msgauth.c - the combined inbound check (see msgauth.h): SPF, DKIM and
 * the DMARC policy lookups start at once; when the last of them answers
 * (or the deadline passes) the DMARC verdicts are computed from the other
 * two, the Authentication-Results field is written, and done is called.
 *
 * Each part keeps its own asynchronous state; this file only counts
 * what is outstanding. A part that finishes inside its own _start call
 * (synchronous resolver, nothing to look up) is counted the same way, and
 * a check that is complete before msgauth_check_start returns is handed
 * to the loop through a zero-delay timer, so the caller never sees done
 * before it has the handle.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/xalloc.h"
#include "msgauth/msgauth.h"
#include "msgauth/msgauth_hdr.h"

struct msgauth_check {
	struct dns_resolver	 res;
	msgauth_done_fn		*done;
	void			*arg;
	char			*authserv_id;
	int			 pct_sample;
	size_t			 pending;	/* parts still running */
	bool			 starting;

	struct spf_eval		*spf_ev;
	bool			 spf_done;
	struct spf_answer	 spf;
	char			*spf_expl, *spf_problem, *spf_sender;
	char			*spf_domain;

	struct dkim_verify	*dkim_v;
	bool			 dkim_done;
	struct dkim_verdict	*dkim;
	size_t			 ndkim;

	/* one DMARC lookup per distinct From: domain */
	struct msgauth_dmarc {
		struct msgauth_check	*c;
		struct dmarc_lookup	*l;
		bool			 done;
		struct dmarc_found	 found;
		char			 domain[DMARC_DOMAIN_MAX];
	}			 dom[MSGAUTH_FROM_MAX];
	size_t			 ndom;
	const char		*from_bad;	/* no usable From: */

	struct event		*deadline;
	struct event		*defer;
};

static void	msgauth_check_part_done(struct msgauth_check *);
static void	msgauth_check_complete(struct msgauth_check *);

static void
msgauth_check_free(struct msgauth_check *c)
{
	if (c->deadline)
		event_free(c->deadline);
	if (c->defer)
		event_free(c->defer);
	free(c->authserv_id);
	free(c->spf_expl);
	free(c->spf_problem);
	free(c->spf_sender);
	free(c->spf_domain);
	free(c->dkim);
	free(c);
}

static char *
msgauth_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void
msgauth_check_spf_done(void *arg, const struct spf_answer *ans)
{
	struct msgauth_check *c = arg;

	c->spf_ev = NULL;
	c->spf_done = true;
	c->spf = *ans;
	c->spf.explanation = c->spf_expl = msgauth_dup(ans->explanation);
	c->spf.problem = c->spf_problem = msgauth_dup(ans->problem);
	c->spf.sender = c->spf_sender = msgauth_dup(ans->sender);
	c->spf.domain = c->spf_domain = msgauth_dup(ans->domain);
	msgauth_check_part_done(c);
}

static void
msgauth_check_dkim_done(void *arg, const struct dkim_verdict *v, size_t n)
{
	struct msgauth_check *c = arg;

	c->dkim_v = NULL;
	c->dkim_done = true;
	if (n) {
		c->dkim = xcalloc(n, sizeof(*c->dkim));
		memcpy(c->dkim, v, n * sizeof(*v));
	}
	c->ndkim = n;
	msgauth_check_part_done(c);
}

static void
msgauth_check_dmarc_done(void *arg, const struct dmarc_found *f)
{
	struct msgauth_dmarc *d = arg;

	d->l = NULL;
	d->done = true;
	d->found = *f;
	msgauth_check_part_done(d->c);
}

static void
msgauth_check_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	msgauth_check_complete(arg);
}

/* msgauth_check_deadline_cb - whatever has not answered is temperror */
static void
msgauth_check_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct msgauth_check *c = arg;

	c->starting = true;	/* parts must not complete us meanwhile */
	if (!c->spf_done) {
		spf_eval_cancel(c->spf_ev);
		c->spf_ev = NULL;
		c->spf_done = true;
		c->spf.result = SPF_TEMPERROR;
		c->spf.problem = "timed out";
		c->pending--;
	}
	if (!c->dkim_done) {
		dkim_verify_cancel(c->dkim_v);
		c->dkim_v = NULL;
		c->dkim_done = true;
		c->dkim = xcalloc(1, sizeof(*c->dkim));
		c->dkim[0].result = DKIM_TEMPERROR;
		snprintf(c->dkim[0].reason, sizeof(c->dkim[0].reason),
		    "timed out");
		c->ndkim = 1;
		c->pending--;
	}
	for (size_t i = 0; i < c->ndom; i++) {
		if (c->dom[i].done)
			continue;
		dmarc_lookup_cancel(c->dom[i].l);
		c->dom[i].l = NULL;
		c->dom[i].done = true;
		c->dom[i].found.status = DMARC_FOUND_TEMPERROR;
		snprintf(c->dom[i].found.from, sizeof(c->dom[i].found.from),
		    "%s", c->dom[i].domain);
		c->pending--;
	}
	c->starting = false;
	msgauth_check_complete(c);
}

static void
msgauth_check_part_done(struct msgauth_check *c)
{
	if (--c->pending == 0 && !c->starting)
		msgauth_check_complete(c);
}

/* msgauth_check_from - the distinct From: domains, or why there are none */
static void
msgauth_check_from(struct msgauth_check *c, const char *msg, size_t len)
{
	struct msgauth_hdr h;
	struct str doms[MSGAUTH_FROM_MAX];
	size_t nfrom = 0;
	int n = 0;

	msgauth_hdr_parse(msg, len, &h);
	for (size_t i = 0; i < h.n; i++) {
		if (!str_eq_nocase(h.f[i].name, STR("From")))
			continue;
		if (nfrom++ == 0)
			n = msgauth_hdr_domains(h.f[i].value, doms,
			    MSGAUTH_FROM_MAX);
	}
	if (nfrom == 0)
		c->from_bad = "no From field";
	else if (nfrom > 1)
		c->from_bad = "several From fields";
	else if (n <= 0)
		c->from_bad = "no domain in From";
	for (int i = 0; c->from_bad == NULL && i < n &&
	    i < MSGAUTH_FROM_MAX; i++) {
		char d[DMARC_DOMAIN_MAX];
		bool dup = false;
		size_t k = 0;

		for (; k < doms[i].len && k + 1 < sizeof(d); k++)
			d[k] = (char)tolower((unsigned char)doms[i].p[k]);
		if (k && d[k - 1] == '.')
			k--;
		d[k] = '\0';
		for (size_t j = 0; j < c->ndom; j++)
			dup |= strcmp(c->dom[j].domain, d) == 0;
		if (!dup && k > 0)
			snprintf(c->dom[c->ndom++].domain, DMARC_DOMAIN_MAX,
			    "%s", d);
	}
	if (c->from_bad == NULL && c->ndom == 0)
		c->from_bad = "no domain in From";
	msgauth_hdr_fini(&h);
}

struct msgauth_check *
msgauth_check_start(struct dns_resolver res, const struct msgauth_input *in,
    msgauth_done_fn *done, void *arg)
{
	struct msgauth_check *c = xcalloc(1, sizeof(*c));
	struct spf_request req;

	c->res = res;
	c->done = done;
	c->arg = arg;
	c->authserv_id = xstrdup(in->authserv_id ? in->authserv_id :
	    "localhost");
	c->pct_sample = in->pct_sample;
	c->starting = true;
	c->pending = 2;

	memset(&req, 0, sizeof(req));
	req.sender = in->mail_from;
	req.helo = in->helo ? in->helo : "";
	req.receiver = in->receiver ? in->receiver : c->authserv_id;
	req.now = in->now;
	if (in->client_ip == NULL ||
	    spf_request_set_ip(&req, in->client_ip) == -1) {
		c->spf_done = true;
		c->spf.result = SPF_PERMERROR;
		c->spf.problem = "no usable client address";
		c->spf.identity = in->mail_from && in->mail_from[0] ?
		    "mailfrom" : "helo";
		c->spf.sender = c->spf_sender = xstrdup(in->mail_from &&
		    in->mail_from[0] ? in->mail_from : "");
		c->spf.domain = c->spf_domain = xstrdup(req.helo);
		c->pending--;
	} else {
		c->spf_ev = spf_eval_start(res, &req, msgauth_check_spf_done,
		    c);
	}
	c->dkim_v = dkim_verify_start(res, in->msg, in->len, in->now,
	    msgauth_check_dkim_done, c);

	msgauth_check_from(c, in->msg, in->len);
	c->pending += c->ndom;
	for (size_t i = 0; i < c->ndom; i++) {
		c->dom[i].c = c;
		c->dom[i].l = dmarc_lookup_start(res, c->dom[i].domain,
		    msgauth_check_dmarc_done, &c->dom[i]);
	}

	c->starting = false;
	if (in->base != NULL) {
		struct timeval tv = { in->timeout ? in->timeout :
		    MSGAUTH_TIMEOUT, 0 };

		if (c->pending == 0) {
			struct timeval zero = { 0, 0 };

			c->defer = evtimer_new(in->base,
			    msgauth_check_defer_cb, c);
			evtimer_add(c->defer, &zero);
		} else {
			c->deadline = evtimer_new(in->base,
			    msgauth_check_deadline_cb, c);
			evtimer_add(c->deadline, &tv);
		}
		return c;
	}
	if (c->pending == 0) {
		msgauth_check_complete(c);
		return NULL;
	}
	return c;
}

void
msgauth_check_cancel(struct msgauth_check *c)
{
	if (c == NULL)
		return;
	spf_eval_cancel(c->spf_ev);
	dkim_verify_cancel(c->dkim_v);
	for (size_t i = 0; i < c->ndom; i++)
		dmarc_lookup_cancel(c->dom[i].l);
	msgauth_check_free(c);
}

static unsigned
msgauth_check_sample(const struct msgauth_check *c)
{
	if (c->pct_sample >= 0 && c->pct_sample < 100)
		return (unsigned)c->pct_sample;
	return arc4random_uniform(100);
}

static void
msgauth_check_complete(struct msgauth_check *c)
{
	struct dmarc_verdict v[MSGAUTH_FROM_MAX];
	struct msgauth_result r;
	struct arh_input ai;
	struct buf value, field;
	size_t nv = 0;
	unsigned sample = msgauth_check_sample(c);

	memset(&r, 0, sizeof(r));
	r.dmarc_result = DMARC_RESULT_NONE;
	r.disposition = DMARC_POLICY_NONE;
	if (c->from_bad != NULL) {
		/* RFC 7489 6.6.1: such messages are typically rejected */
		memset(&v[0], 0, sizeof(v[0]));
		v[0].result = DMARC_RESULT_PERMERROR;
		v[0].disposition = DMARC_POLICY_REJECT;
		snprintf(v[0].reason, sizeof(v[0].reason), "%s", c->from_bad);
		nv = 1;
		r.dmarc_result = DMARC_RESULT_PERMERROR;
		r.disposition = DMARC_POLICY_REJECT;
	}
	for (size_t i = 0; i < c->ndom; i++)
		dmarc_evaluate(&c->dom[i].found, c->spf.result,
		    c->spf.domain, c->dkim, c->ndkim, sample, &v[nv++]);
	if (c->from_bad == NULL) {
		/* several domains: the strictest outcome wins (6.6.1) */
		size_t fail = 0, temp = 0, pass = 0;

		for (size_t i = 0; i < nv; i++) {
			if (v[i].result == DMARC_RESULT_FAIL) {
				fail++;
				if (v[i].disposition > r.disposition)
					r.disposition = v[i].disposition;
			}
			temp += v[i].result == DMARC_RESULT_TEMPERROR;
			pass += v[i].result == DMARC_RESULT_PASS;
		}
		r.dmarc_result = fail ? DMARC_RESULT_FAIL :
		    temp ? DMARC_RESULT_TEMPERROR :
		    pass == nv && nv ? DMARC_RESULT_PASS : DMARC_RESULT_NONE;
	}
	r.spf = c->spf;
	r.dkim = c->dkim;
	r.ndkim = c->ndkim;
	r.dmarc = v;
	r.ndmarc = nv;

	memset(&ai, 0, sizeof(ai));
	ai.authserv_id = c->authserv_id;
	ai.spf = &c->spf;
	ai.dkim = c->dkim;
	ai.ndkim = c->ndkim;
	ai.dmarc = v;
	ai.ndmarc = nv;
	buf_init(&value, 0);
	buf_init(&field, 0);
	arh_format(&ai, &value, &field);
	r.arh_value = buf_cstr(&value);
	r.arh_field = buf_cstr(&field);
	c->done(c->arg, &r);
	buf_fini(&value);
	buf_fini(&field);
	msgauth_check_free(c);
}

int
msgauth_strip_arh(const char *msg, size_t len, const char *authserv_id,
    struct buf *out)
{
	return arh_strip(msg, len, authserv_id, out);
}
