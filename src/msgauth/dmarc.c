/* SPDX-License-Identifier: ISC */
/*
 * dmarc.c - RFC 7489: organizational domains (libpsl), policy discovery
 * through the asynchronous resolver, identifier alignment, and the
 * verdict with p=, sp=, np= (RFC 9091) and pct=.
 *
 * Discovery follows 7489 6.6.3: _dmarc.FROM; records not starting with
 * v=DMARC1 are dropped; only if none is left, _dmarc.ORG; then exactly
 * one record must remain (several, or one unusable by step 6: no DMARC
 * for the message, and no further lookup). A DNS error (SERVFAIL,
 * timeout, an answer whose every record is malformed) at either step is
 * a temperror: the RFC leaves DNS errors to the receiver (end of 6.6.3),
 * and answering "no policy" would let a DNS outage turn p=reject off.
 * When the record came from the organizational domain and its np=
 * differs from sp=, the From domain is probed with A, AAAA and MX
 * queries: it is non-existent (RFC 9091 2.7) only if all three answer
 * NXDOMAIN or NODATA; any other answer, errors included, keeps sp=.
 *
 * The Public Suffix List is loaded once per process (pthread_once) from
 * the system's copy (psl_latest: the newer of the distribution's file and
 * libpsl's built-in list) and only read afterwards, which libpsl allows
 * from any thread.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpsl.h>

#include "core/xalloc.h"
#include "msgauth/dmarc.h"

static pthread_once_t	 dmarc_psl_once = PTHREAD_ONCE_INIT;
static const psl_ctx_t	*dmarc_psl;

static void
dmarc_psl_load(void)
{
	dmarc_psl = psl_latest(NULL);
	if (dmarc_psl == NULL)
		dmarc_psl = psl_builtin();
}

/* dmarc_lower - domain lower-cased, without a trailing dot, into out */
static void
dmarc_lower(const char *domain, char *out, size_t outlen)
{
	size_t n = 0;

	for (; domain[n] && n + 1 < outlen; n++)
		out[n] = (char)tolower((unsigned char)domain[n]);
	if (n && out[n - 1] == '.')
		n--;
	out[n] = '\0';
}

void
dmarc_org_domain(const char *domain, char *out, size_t outlen)
{
	char low[DMARC_DOMAIN_MAX];
	const char *reg = NULL;

	dmarc_lower(domain, low, sizeof(low));
	pthread_once(&dmarc_psl_once, dmarc_psl_load);
	if (dmarc_psl != NULL && low[0] != '\0')
		reg = psl_registrable_domain(dmarc_psl, low);
	snprintf(out, outlen, "%s", reg ? reg : low);
}

bool
dmarc_aligned(const char *a, const char *b, enum dmarc_align mode)
{
	char la[DMARC_DOMAIN_MAX], lb[DMARC_DOMAIN_MAX];

	if (a == NULL || b == NULL || a[0] == '\0' || b[0] == '\0')
		return false;
	if (mode == DMARC_ALIGN_STRICT) {
		dmarc_lower(a, la, sizeof(la));
		dmarc_lower(b, lb, sizeof(lb));
	} else {
		dmarc_org_domain(a, la, sizeof(la));
		dmarc_org_domain(b, lb, sizeof(lb));
	}
	return strcmp(la, lb) == 0;
}

/* ---------------------------------------------------------------------
 * Discovery
 */

/* one existence query of the From domain (RFC 9091 2.7) */
struct dmarc_probe {
	struct dmarc_lookup	*l;
	uint64_t		 qid;
	bool			 inflight;
};

#define DMARC_PROBES	3	/* A, AAAA, MX */

struct dmarc_lookup {
	struct dns_resolver	 res;
	dmarc_lookup_fn		*done;
	void			*arg;
	struct dmarc_found	 found;
	uint64_t		 qid;
	bool			 inflight;
	bool			 answered;	/* synchronous answer seen */
	bool			 second;	/* asking the org domain */
	bool			 starting;	/* inside dmarc_lookup_start */
	bool			 finished;
	struct dmarc_probe	 probe[DMARC_PROBES];
	unsigned		 probing;	/* unanswered (+1 while asking) */
	unsigned		 absent;	/* NXDOMAIN or NODATA answers */
};

static void	dmarc_lookup_ask(struct dmarc_lookup *, const char *);
static void	dmarc_lookup_probe(struct dmarc_lookup *);

static void
dmarc_lookup_finish(struct dmarc_lookup *l)
{
	l->finished = true;
	if (l->starting)
		return;		/* dmarc_lookup_start reports it */
	l->done(l->arg, &l->found);
	free(l);
}

static void
dmarc_lookup_cb(void *arg, const struct dns_answer *ans)
{
	struct dmarc_lookup *l = arg;
	struct dmarc_record rec;
	size_t n = 0;

	l->inflight = false;
	l->qid = 0;
	if (ans->status == DNS_TEMPFAIL || ans->status == DNS_PERMFAIL) {
		l->found.status = DMARC_FOUND_TEMPERROR;
		dmarc_lookup_finish(l);
		return;
	}
	for (size_t i = 0; ans->status == DNS_OK && i < ans->n; i++) {
		struct str txt = str_make(ans->rr[i].txt ? ans->rr[i].txt : "",
		    ans->rr[i].txt_len);

		if (ans->rr[i].type != DNS_T_TXT || !dmarc_record_is_dmarc(txt))
			continue;
		/* 6.6.3: records that are not DMARC are dropped first */
		if (n++ == 0 && dmarc_record_parse(txt, &rec, NULL) == -1)
			n = 100;	/* one record, but unusable */
	}
	if (n == 1) {
		l->found.status = DMARC_FOUND_RECORD;
		l->found.rec = rec;
		l->found.at_org = l->second;
		snprintf(l->found.where, sizeof(l->found.where), "%s",
		    l->second ? l->found.org : l->found.from);
		/* RFC 9091: np= matters only for a subdomain without a
		   record of its own, and only if it says something else */
		if (l->second && rec.np != rec.sp) {
			dmarc_lookup_probe(l);
			return;
		}
		dmarc_lookup_finish(l);
		return;
	}
	/* none: try the organizational domain once; several, or one that
	   cannot be used: no DMARC for this message (6.6.3 steps 3 and 5) */
	if (n == 0 && !l->second && strcmp(l->found.org, l->found.from) != 0) {
		l->second = true;
		dmarc_lookup_ask(l, l->found.org);
		return;
	}
	l->found.status = DMARC_FOUND_NONE;
	dmarc_lookup_finish(l);
}

static void
dmarc_lookup_ask(struct dmarc_lookup *l, const char *domain)
{
	char name[DMARC_DOMAIN_MAX + 16];
	uint64_t id;

	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	l->inflight = true;
	id = l->res.query(l->res.ctx, name, DNS_T_TXT, dmarc_lookup_cb, l);
	if (!l->inflight)
		return;		/* answered (and maybe finished) already */
	if (id == 0) {
		l->inflight = false;
		l->found.status = DMARC_FOUND_TEMPERROR;
		dmarc_lookup_finish(l);
		return;
	}
	l->qid = id;
}

/* dmarc_lookup_probed - one existence answer less to wait for */
static void
dmarc_lookup_probed(struct dmarc_lookup *l)
{
	if (--l->probing > 0)
		return;
	l->found.nonexistent = l->absent == DMARC_PROBES;
	dmarc_lookup_finish(l);
}

/* dmarc_lookup_probe_cb - one of A, AAAA, MX of the From domain */
static void
dmarc_lookup_probe_cb(void *arg, const struct dns_answer *ans)
{
	struct dmarc_probe *p = arg;

	p->inflight = false;
	p->qid = 0;
	if (ans->status == DNS_NXDOMAIN || ans->status == DNS_NODATA)
		p->l->absent++;
	dmarc_lookup_probed(p->l);
}

/* dmarc_lookup_probe - does the From domain exist (RFC 9091 2.7)? */
static void
dmarc_lookup_probe(struct dmarc_lookup *l)
{
	static const int types[DMARC_PROBES] = { DNS_T_A, DNS_T_AAAA,
	    DNS_T_MX };

	l->absent = 0;
	l->probing = DMARC_PROBES + 1;		/* +1: guard while asking */
	for (size_t i = 0; i < DMARC_PROBES; i++) {
		struct dmarc_probe *p = &l->probe[i];
		uint64_t id;

		p->l = l;
		p->inflight = true;
		id = l->res.query(l->res.ctx, l->found.from, types[i],
		    dmarc_lookup_probe_cb, p);
		if (!p->inflight)
			continue;	/* answered synchronously */
		if (id == 0) {		/* could not ask: it may exist */
			p->inflight = false;
			l->probing--;
		} else {
			p->qid = id;
		}
	}
	dmarc_lookup_probed(l);
}

struct dmarc_lookup *
dmarc_lookup_start(struct dns_resolver res, const char *from_domain,
    dmarc_lookup_fn *done, void *arg)
{
	struct dmarc_lookup *l = xcalloc(1, sizeof(*l));

	l->res = res;
	l->done = done;
	l->arg = arg;
	dmarc_lower(from_domain, l->found.from, sizeof(l->found.from));
	dmarc_org_domain(l->found.from, l->found.org, sizeof(l->found.org));
	l->starting = true;
	dmarc_lookup_ask(l, l->found.from);
	l->starting = false;
	if (l->finished) {
		l->done(l->arg, &l->found);
		free(l);
		return NULL;
	}
	return l;
}

void
dmarc_lookup_cancel(struct dmarc_lookup *l)
{
	if (l == NULL)
		return;
	if (l->inflight && l->qid)
		l->res.cancel(l->res.ctx, l->qid);
	for (size_t i = 0; i < DMARC_PROBES; i++)
		if (l->probe[i].inflight && l->probe[i].qid)
			l->res.cancel(l->res.ctx, l->probe[i].qid);
	free(l);
}

/* ---------------------------------------------------------------------
 * Verdict
 */

void
dmarc_evaluate(const struct dmarc_found *f, enum spf_result spf,
    const char *spf_domain, const struct dkim_verdict *dkim, size_t ndkim,
    unsigned sample, struct dmarc_verdict *out)
{
	const struct dmarc_record *rec = &f->rec;

	memset(out, 0, sizeof(*out));
	snprintf(out->from, sizeof(out->from), "%s", f->from);
	if (f->status == DMARC_FOUND_TEMPERROR) {
		out->result = DMARC_RESULT_TEMPERROR;
		snprintf(out->reason, sizeof(out->reason), "policy lookup "
		    "failed");
		return;
	}
	if (f->status != DMARC_FOUND_RECORD) {
		out->result = DMARC_RESULT_NONE;
		return;
	}
	out->rec = *rec;
	/* 6.6.3: sp= for a subdomain when the record is the org domain's;
	   RFC 9091 3.2: np= (itself defaulting to sp=) if it does not exist */
	out->policy = !f->at_org ? rec->p : f->nonexistent ? rec->np :
	    rec->sp;
	out->spf_aligned = spf == SPF_PASS &&
	    dmarc_aligned(spf_domain, f->from, rec->aspf);
	for (size_t i = 0; i < ndkim && !out->dkim_aligned; i++)
		out->dkim_aligned = dkim[i].result == DKIM_PASS &&
		    dmarc_aligned(dkim[i].d, f->from, rec->adkim);
	if (out->spf_aligned || out->dkim_aligned) {
		out->result = DMARC_RESULT_PASS;
		out->disposition = DMARC_POLICY_NONE;
		return;
	}
	out->result = DMARC_RESULT_FAIL;
	out->disposition = out->policy;
	/* 6.6.4: outside the pct sample, the next policy down applies */
	if (sample >= rec->pct && out->disposition != DMARC_POLICY_NONE) {
		out->sampled_out = true;
		out->disposition = out->disposition == DMARC_POLICY_REJECT ?
		    DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
	}
	snprintf(out->reason, sizeof(out->reason), "%s",
	    spf == SPF_PASS || ndkim ? "no aligned pass" :
	    "no SPF or DKIM pass");
}
