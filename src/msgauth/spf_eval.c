/* SPDX-License-Identifier: ISC */
/*
 * spf_eval.c - check_host() of RFC 7208 as an asynchronous state machine.
 *
 * Organisation. An evaluation is a stack of frames, one per record being
 * evaluated (the checked domain, then one per "include"; "redirect"
 * replaces the top frame). Work advances in steps: a step either decides
 * (a result for the frame), or issues a batch of DNS queries and names the
 * step to run once all of them have answered (spf_eval_fetch). The batch
 * is parallel where the RFC allows it (the address lookups of the MX
 * hosts, of the PTR names), and its answers are then read in order, so
 * the outcome does not depend on which answer came first.
 *
 * spf_eval_run() is the only place that runs steps: a trampoline loop, so
 * a resolver that answers synchronously from query() (the unit tests'
 * fake) neither recurses nor re-enters a step. The done callback runs
 * from there too, after which the evaluation is freed.
 *
 * Limits (4.6.4): at most 10 DNS-querying terms (include a mx ptr exists
 * redirect), at most 2 of their lookups void (NXDOMAIN or no records),
 * at most 10 MX records per "mx" (more: permerror) and 10 PTR names
 * looked at (more: ignored). Lookups made for exp= and for the validated
 * name of %{p} are not counted. DNS errors and timeouts end in temperror
 * (except in the PTR lookups, where the RFC says to skip).
 *
 * Security: every name we query comes from someone else's record and is
 * expanded by spf_macro_domain() (cut to 253 octets, labels checked), and
 * escaped into presentation form here, so a record cannot inject
 * anything into the resolver's parser.
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "msgauth/spf.h"

#define SPF_EVAL_SLOTS	SPF_MAX_MX_NAMES	/* >= SPF_MAX_PTR_NAMES */
#define SPF_EVAL_DEPTH	(SPF_MAX_LOOKUPS + 2)
#define SPF_EVAL_TXT_MAX	(64 * 1024)	/* one record, joined */

struct spf_eval;
typedef void spf_eval_step(struct spf_eval *ev);

/* one query of the current batch and what it answered */
struct spf_eval_slot {
	struct spf_eval	*ev;
	uint64_t	 qid;
	bool		 inflight;
	char		*name;		/* as asked (unescaped) */
	enum dns_status	 status;
	uint8_t		(*addrs)[16];	/* A / AAAA */
	size_t		 naddrs;
	char		**names;	/* MX exchanges / PTR targets */
	size_t		 nnames;
	char		**txts;		/* TXT, joined strings */
	size_t		*txtlens;
	size_t		 ntxts;
};

struct spf_eval_frame {
	char		*domain;	/* the <domain> of this check_host() */
	char		*txt;		/* its record; rec slices into it */
	struct spf_record rec;
	size_t		 next;		/* next term to evaluate */
	bool		 include;	/* entered through "include" */
	bool		 redirected;	/* reached through "redirect" */
};

struct spf_eval {
	struct dns_resolver	 res;
	spf_done_fn		*done;
	void			*arg;

	/* the identity and the macro values that do not change */
	int			 family;
	uint8_t			 ip[16];
	char			*sender, *local, *sender_domain, *helo;
	char			*receiver;
	uint64_t		 now;
	const char		*identity;

	struct spf_eval_frame	 frames[SPF_EVAL_DEPTH];
	size_t			 depth;
	unsigned		 lookups, voids;
	const struct spf_term	*cur;		/* term being evaluated;
						   NULL: the redirect */

	struct spf_eval_slot	 slots[SPF_EVAL_SLOTS];
	size_t			 nslots;	/* in the current batch */
	size_t			 pending;	/* answers still due */
	spf_eval_step		*cont;		/* step once pending == 0 */
	bool			 running;
	bool			 finished;

	/* validated PTR names (5.5), computed once, for ptr and %{p} */
	bool			 ptr_done;
	char			**ptr_names;
	size_t			 nptr;
	spf_eval_step		*after_ptr;

	enum spf_result		 result;
	char			*explanation;
	char			 problem[256];
	struct buf		 name;		/* scratch: expanded names */
};

static bool	spf_eval_run(struct spf_eval *);
static void	spf_eval_free(struct spf_eval *);
static void	spf_eval_finish(struct spf_eval *, enum spf_result,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
static void	spf_eval_fetch(struct spf_eval *, char **, size_t, int,
		    spf_eval_step *);
static void	spf_eval_push(struct spf_eval *, const char *, bool);
static void	spf_eval_frame_done(struct spf_eval *, enum spf_result);
static void	spf_eval_need_ptr(struct spf_eval *, struct str, bool,
		    spf_eval_step *);
static int	spf_eval_expand(struct spf_eval *, struct str);
static spf_eval_step spf_eval_begin, spf_eval_on_record, spf_eval_terms,
		    spf_eval_target, spf_eval_on_a, spf_eval_on_mx,
		    spf_eval_on_mx_addrs, spf_eval_on_exists, spf_eval_on_ptr,
		    spf_eval_on_ptr_addrs, spf_eval_ptr_match, spf_eval_exp,
		    spf_eval_on_exp, spf_eval_exp_text;

static struct spf_eval_frame *
spf_eval_top(struct spf_eval *ev)
{
	return &ev->frames[ev->depth - 1];
}

/* ---------------------------------------------------------------------
 * Identity and start
 */

int
spf_request_set_ip(struct spf_request *req, const char *text)
{
	uint8_t a[16];

	if (inet_pton(AF_INET, text, a) == 1) {
		req->family = AF_INET;
		memset(req->ip, 0, sizeof(req->ip));
		memcpy(req->ip, a, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, a) == 1) {
		static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

		memset(req->ip, 0, sizeof(req->ip));
		if (memcmp(a, mapped, 12) == 0) {
			/* RFC 7208 5: v4-mapped is IPv4 */
			req->family = AF_INET;
			memcpy(req->ip, a + 12, 4);
		} else {
			req->family = AF_INET6;
			memcpy(req->ip, a, 16);
		}
		return 0;
	}
	return -1;
}

/*
 * spf_eval_domain_ok - 4.3: a multi-label name, labels of 1-63 octets,
 * not a domain literal; else the result is "none" without any lookup.
 */
static bool
spf_eval_domain_ok(const char *d)
{
	size_t len = strlen(d), label = 0, labels = 0;

	if (len && d[len - 1] == '.')
		len--;
	if (len == 0 || len > SPF_DOMAIN_MAX || d[0] == '[')
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && d[i] != '.') {
			if (++label > 63)
				return false;
			continue;
		}
		if (label == 0)
			return false;
		label = 0;
		labels++;
	}
	return labels >= 2;
}

struct spf_eval *
spf_eval_start(struct dns_resolver res, const struct spf_request *req,
    spf_done_fn *done, void *arg)
{
	struct spf_eval *ev = xcalloc(1, sizeof(*ev));
	const char *s = req->sender, *at;
	size_t n;

	ev->res = res;
	ev->done = done;
	ev->arg = arg;
	ev->family = req->family == AF_INET6 ? AF_INET6 : AF_INET;
	memcpy(ev->ip, req->ip, sizeof(ev->ip));
	ev->helo = xstrdup(req->helo ? req->helo : "");
	ev->receiver = xstrdup(req->receiver ? req->receiver : "unknown");
	ev->now = (uint64_t)(req->now ? req->now : time(NULL));
	buf_init(&ev->name, 64 * 1024);
	for (size_t i = 0; i < SPF_EVAL_SLOTS; i++)
		ev->slots[i].ev = ev;

	if (s == NULL || s[0] == '\0') {
		/* 2.4: the null sender is checked as postmaster@HELO */
		ev->identity = "helo";
		ev->local = xstrdup("postmaster");
		ev->sender_domain = xstrdup(ev->helo);
	} else {
		ev->identity = "mailfrom";
		if ((at = strrchr(s, '@')) != NULL) {
			n = (size_t)(at - s);
			/* 4.3: no local-part: "postmaster" */
			ev->local = n ? xstrndup(s, n) : xstrdup("postmaster");
			ev->sender_domain = xstrdup(at + 1);
		} else {
			ev->local = xstrdup("postmaster");
			ev->sender_domain = xstrdup(s);
		}
	}
	n = strlen(ev->local) + strlen(ev->sender_domain) + 2;
	ev->sender = xmalloc(n);
	snprintf(ev->sender, n, "%s@%s", ev->local, ev->sender_domain);
	n = strlen(ev->sender_domain);
	if (n > 1 && ev->sender_domain[n - 1] == '.')
		ev->sender_domain[n - 1] = '\0';

	ev->cont = spf_eval_begin;
	return spf_eval_run(ev) ? NULL : ev;
}

void
spf_eval_cancel(struct spf_eval *ev)
{
	if (ev == NULL)
		return;
	for (size_t i = 0; i < ev->nslots; i++) {
		struct spf_eval_slot *sl = &ev->slots[i];

		if (sl->inflight && sl->qid != 0)
			ev->res.cancel(ev->res.ctx, sl->qid);
		sl->inflight = false;
	}
	spf_eval_free(ev);
}

static void
spf_eval_slot_clear(struct spf_eval_slot *sl)
{
	free(sl->name);
	free(sl->addrs);
	for (size_t i = 0; i < sl->nnames; i++)
		free(sl->names[i]);
	free(sl->names);
	for (size_t i = 0; i < sl->ntxts; i++)
		free(sl->txts[i]);
	free(sl->txts);
	free(sl->txtlens);
	sl->name = NULL;
	sl->addrs = NULL;
	sl->names = NULL;
	sl->txts = NULL;
	sl->txtlens = NULL;
	sl->naddrs = sl->nnames = sl->ntxts = 0;
	sl->qid = 0;
	sl->inflight = false;
}

static void
spf_eval_free(struct spf_eval *ev)
{
	for (size_t i = 0; i < SPF_EVAL_SLOTS; i++)
		spf_eval_slot_clear(&ev->slots[i]);
	for (size_t i = 0; i < ev->depth; i++) {
		free(ev->frames[i].domain);
		free(ev->frames[i].txt);
		spf_record_fini(&ev->frames[i].rec);
	}
	for (size_t i = 0; i < ev->nptr; i++)
		free(ev->ptr_names[i]);
	free(ev->ptr_names);
	free(ev->sender);
	free(ev->local);
	free(ev->sender_domain);
	free(ev->helo);
	free(ev->receiver);
	free(ev->explanation);
	buf_fini(&ev->name);
	free(ev);
}

/* ---------------------------------------------------------------------
 * The engine: trampoline, batches, DNS answers
 */

/*
 * spf_eval_run - run steps while no answer is due. Returns true when the
 * evaluation finished: done has been called and ev is freed.
 */
static bool
spf_eval_run(struct spf_eval *ev)
{
	struct spf_answer ans;

	if (ev->running)
		return false;
	ev->running = true;
	while (!ev->finished && ev->pending == 0 && ev->cont != NULL) {
		spf_eval_step *step = ev->cont;

		ev->cont = NULL;
		step(ev);
	}
	if (!ev->finished && ev->pending == 0)
		spf_eval_finish(ev, SPF_TEMPERROR, "internal error: stalled");
	ev->running = false;
	if (!ev->finished)
		return false;

	memset(&ans, 0, sizeof(ans));
	ans.result = ev->result;
	ans.explanation = ev->explanation;
	ans.problem = ev->problem[0] ? ev->problem : NULL;
	ans.identity = ev->identity;
	ans.sender = ev->sender;
	ans.domain = ev->sender_domain;
	ans.lookups = ev->lookups;
	ans.void_lookups = ev->voids;
	ev->done(ev->arg, &ans);
	spf_eval_free(ev);
	return true;
}

static void
spf_eval_finish(struct spf_eval *ev, enum spf_result r, const char *fmt, ...)
{
	va_list ap;

	ev->finished = true;
	ev->result = r;
	ev->cont = NULL;
	if (fmt != NULL && ev->problem[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(ev->problem, sizeof(ev->problem), fmt, ap);
		va_end(ap);
	}
}

/* spf_eval_qname - name in presentation form: odd octets as \DDD */
static char *
spf_eval_qname(const char *name)
{
	size_t n = strlen(name);
	char *q = xmalloc(n * 4 + 1), *o = q;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '*')
			*o++ = (char)c;
		else
			o += sprintf(o, "\\%03u", c);
	}
	*o = '\0';
	return q;
}

static void
spf_eval_dns_cb(void *arg, const struct dns_answer *a)
{
	struct spf_eval_slot *sl = arg;
	struct spf_eval *ev = sl->ev;

	sl->inflight = false;
	sl->qid = 0;
	sl->status = a->status;
	if (a->status == DNS_OK) {
		for (size_t i = 0; i < a->n; i++) {
			const struct dns_rr *rr = &a->rr[i];

			switch (rr->type) {
			case DNS_T_A:
			case DNS_T_AAAA:
				sl->addrs = xreallocarray(sl->addrs,
				    sl->naddrs + 1, sizeof(*sl->addrs));
				memset(sl->addrs[sl->naddrs], 0, 16);
				memcpy(sl->addrs[sl->naddrs++], rr->addr,
				    rr->type == DNS_T_A ? 4 : 16);
				break;
			case DNS_T_MX:
			case DNS_T_PTR:
				sl->names = xreallocarray(sl->names,
				    sl->nnames + 1, sizeof(*sl->names));
				sl->names[sl->nnames++] = xstrdup(rr->name);
				break;
			case DNS_T_TXT:
				sl->txts = xreallocarray(sl->txts,
				    sl->ntxts + 1, sizeof(*sl->txts));
				sl->txtlens = xreallocarray(sl->txtlens,
				    sl->ntxts + 1, sizeof(*sl->txtlens));
				sl->txts[sl->ntxts] = xmalloc(rr->txt_len + 1);
				memcpy(sl->txts[sl->ntxts], rr->txt ? rr->txt :
				    "", rr->txt_len);
				sl->txts[sl->ntxts][rr->txt_len] = '\0';
				sl->txtlens[sl->ntxts++] = rr->txt_len;
				break;
			}
		}
		/* OK without a usable record reads as "no records" */
		if (sl->naddrs + sl->nnames + sl->ntxts == 0)
			sl->status = DNS_NODATA;
	}
	if (--ev->pending == 0)
		spf_eval_run(ev);
}

/*
 * spf_eval_fetch - ask n names of one type in parallel; cont runs once
 * all have answered. A query that cannot start reads as TEMPFAIL.
 */
static void
spf_eval_fetch(struct spf_eval *ev, char **names, size_t n, int type,
    spf_eval_step *cont)
{
	for (size_t i = 0; i < SPF_EVAL_SLOTS; i++)
		spf_eval_slot_clear(&ev->slots[i]);
	ev->nslots = n;
	ev->cont = cont;
	ev->pending = n + 1;		/* +1: guard while issuing */
	for (size_t i = 0; i < n; i++) {
		struct spf_eval_slot *sl = &ev->slots[i];
		char *q = spf_eval_qname(names[i]);
		uint64_t id;

		sl->name = xstrdup(names[i]);
		sl->inflight = true;
		id = ev->res.query(ev->res.ctx, q, type, spf_eval_dns_cb, sl);
		free(q);
		if (!sl->inflight)
			continue;	/* answered synchronously */
		if (id == 0) {
			sl->inflight = false;
			sl->status = DNS_TEMPFAIL;
			ev->pending--;
		} else {
			sl->qid = id;
		}
	}
	ev->pending--;
}

static void
spf_eval_fetch1(struct spf_eval *ev, const char *name, int type,
    spf_eval_step *cont)
{
	char *one = (char *)name;

	spf_eval_fetch(ev, &one, 1, type, cont);
}

/* ---------------------------------------------------------------------
 * Macros and names
 */

/* spf_eval_pick_ptr - %{p}: a validated name in <domain> if any (7.3) */
static const char *
spf_eval_pick_ptr(const struct spf_eval *ev, const char *domain)
{
	size_t dl = strlen(domain);

	if (ev->nptr == 0)
		return "unknown";
	for (size_t i = 0; i < ev->nptr; i++) {
		const char *n = ev->ptr_names[i];
		size_t nl = strlen(n);

		if (strcasecmp(n, domain) == 0)
			return n;
		if (nl > dl && n[nl - dl - 1] == '.' &&
		    strcasecmp(n + nl - dl, domain) == 0)
			return n;
	}
	return ev->ptr_names[0];
}

static void
spf_eval_mctx(const struct spf_eval *ev, struct spf_macro_ctx *m)
{
	const char *domain = ev->frames[ev->depth - 1].domain;

	memset(m, 0, sizeof(*m));
	m->sender = str_cstr(ev->sender);
	m->local = str_cstr(ev->local);
	m->sender_domain = str_cstr(ev->sender_domain);
	m->domain = str_cstr(domain);
	m->family = ev->family;
	memcpy(m->ip, ev->ip, sizeof(m->ip));
	m->ptr = str_cstr(spf_eval_pick_ptr(ev, domain));
	m->helo = str_cstr(ev->helo);
	m->receiver = str_cstr(ev->receiver);
	m->now = ev->now;
}

/*
 * spf_eval_expand - spec (empty: the current domain) to a name in
 * ev->name. 0 ok, 1 not a name one can query, -1 macro error (set).
 */
static int
spf_eval_expand(struct spf_eval *ev, struct str spec)
{
	struct spf_macro_ctx m;
	struct err err;
	int r;

	if (spec.len == 0)
		spec = str_cstr(spf_eval_top(ev)->domain);
	spf_eval_mctx(ev, &m);
	r = spf_macro_domain(spec, &m, &ev->name, &err);
	if (r == -1)
		spf_eval_finish(ev, SPF_PERMERROR, "%s", err.msg);
	return r;
}

/* spf_eval_ip_match - does an address of the client's family match? */
static bool
spf_eval_ip_match(const struct spf_eval *ev, const uint8_t *a,
    unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, ev->ip, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ ev->ip[full]) & (0xff00u >> rest) & 0xff) == 0;
}

static unsigned
spf_eval_cidr(const struct spf_eval *ev, const struct spf_term *t)
{
	return ev->family == AF_INET6 ? t->cidr6 : t->cidr4;
}

static int
spf_eval_addr_type(const struct spf_eval *ev)
{
	return ev->family == AF_INET6 ? DNS_T_AAAA : DNS_T_A;
}

/* spf_eval_void - count a void lookup; false (and permerror) past 2 */
static bool
spf_eval_void(struct spf_eval *ev, const char *name)
{
	if (++ev->voids > SPF_MAX_VOID) {
		spf_eval_finish(ev, SPF_PERMERROR, "more than %d void "
		    "lookups (%s)", SPF_MAX_VOID, name);
		return false;
	}
	return true;
}

static bool
spf_eval_dns_error(struct spf_eval *ev, const struct spf_eval_slot *sl)
{
	if (sl->status == DNS_TEMPFAIL || sl->status == DNS_PERMFAIL) {
		spf_eval_finish(ev, SPF_TEMPERROR, "DNS error looking up %s",
		    sl->name ? sl->name : "?");
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------------
 * Records and frames
 */

static void
spf_eval_begin(struct spf_eval *ev)
{
	if (!spf_eval_domain_ok(ev->sender_domain)) {
		spf_eval_finish(ev, SPF_NONE, "'%s' is not a domain one can "
		    "check", ev->sender_domain);
		return;
	}
	spf_eval_push(ev, ev->sender_domain, false);
}

/* spf_eval_push - a new frame for domain, and fetch its record */
static void
spf_eval_push(struct spf_eval *ev, const char *domain, bool include)
{
	struct spf_eval_frame *f;

	if (ev->depth == SPF_EVAL_DEPTH) {	/* cannot happen: 10 lookups */
		spf_eval_finish(ev, SPF_PERMERROR, "too deeply nested");
		return;
	}
	f = &ev->frames[ev->depth++];
	memset(f, 0, sizeof(*f));
	f->domain = xstrdup(domain);
	f->include = include;
	spf_eval_fetch1(ev, domain, DNS_T_TXT, spf_eval_on_record);
}

/* spf_eval_on_record - 4.4/4.5: exactly one v=spf1 record, parsed whole */
static void
spf_eval_on_record(struct spf_eval *ev)
{
	struct spf_eval_slot *sl = &ev->slots[0];
	struct spf_eval_frame *f = spf_eval_top(ev);
	struct err err;
	size_t found = 0, which = 0;

	if (spf_eval_dns_error(ev, sl))
		return;
	for (size_t i = 0; i < sl->ntxts; i++) {
		if (spf_record_is_spf(str_make(sl->txts[i], sl->txtlens[i]))) {
			found++;
			which = i;
		}
	}
	if (found == 0) {
		snprintf(ev->problem, sizeof(ev->problem), "no SPF record "
		    "at %s", f->domain);
		spf_eval_frame_done(ev, SPF_NONE);
		return;
	}
	if (found > 1) {
		spf_eval_finish(ev, SPF_PERMERROR, "%zu SPF records at %s",
		    found, f->domain);
		return;
	}
	if (sl->txtlens[which] > SPF_EVAL_TXT_MAX ||
	    memchr(sl->txts[which], '\0', sl->txtlens[which]) != NULL) {
		spf_eval_finish(ev, SPF_PERMERROR, "bad SPF record at %s",
		    f->domain);
		return;
	}
	free(f->txt);
	spf_record_fini(&f->rec);
	f->txt = sl->txts[which];
	sl->txts[which] = xstrdup("");
	if (spf_record_parse(str_make(f->txt, sl->txtlens[which]), &f->rec,
	    &err) == -1) {
		spf_eval_finish(ev, SPF_PERMERROR, "%s: %s", f->domain,
		    err.msg);
		return;
	}
	f->next = 0;
	ev->cont = spf_eval_terms;
}

/*
 * spf_eval_frame_done - the top frame's check_host() result. Errors end
 * everything; the top-level result ends everything (after exp= for
 * fail); an include's result goes back to the including term.
 */
static void
spf_eval_frame_done(struct spf_eval *ev, enum spf_result r)
{
	struct spf_eval_frame *f = spf_eval_top(ev), *parent;
	const struct spf_term *t;

	if (r == SPF_TEMPERROR || r == SPF_PERMERROR) {
		spf_eval_finish(ev, r, NULL);
		return;
	}
	if (r == SPF_NONE && (f->include || f->redirected)) {
		/* 5.2 and 6.1: no record behind include/redirect */
		spf_eval_finish(ev, SPF_PERMERROR, "%s target %s has no SPF "
		    "record", f->redirected ? "redirect" : "include",
		    f->domain);
		return;
	}
	if (ev->depth == 1) {
		if (r == SPF_FAIL && f->rec.exp.p != NULL) {
			ev->result = r;
			ev->cont = spf_eval_exp;
			return;
		}
		spf_eval_finish(ev, r, NULL);
		return;
	}
	/* back to the includer: pass matches, anything else does not */
	free(f->domain);
	free(f->txt);
	spf_record_fini(&f->rec);
	memset(f, 0, sizeof(*f));
	ev->depth--;
	parent = spf_eval_top(ev);
	t = &parent->rec.terms[parent->next - 1];
	if (r == SPF_PASS)
		spf_eval_frame_done(ev, t->qual);
	else
		ev->cont = spf_eval_terms;
}

/* spf_eval_terms - walk the terms from f->next until one needs DNS */
static void
spf_eval_terms(struct spf_eval *ev)
{
	struct spf_eval_frame *f = spf_eval_top(ev);

	while (f->next < f->rec.nterms) {
		const struct spf_term *t = &f->rec.terms[f->next++];

		switch (t->mech) {
		case SPF_MECH_ALL:
			spf_eval_frame_done(ev, t->qual);
			return;
		case SPF_MECH_IP4:
			if (ev->family == AF_INET &&
			    spf_eval_ip_match(ev, t->addr, t->cidr4)) {
				spf_eval_frame_done(ev, t->qual);
				return;
			}
			continue;
		case SPF_MECH_IP6:
			if (ev->family == AF_INET6 &&
			    spf_eval_ip_match(ev, t->addr, t->cidr6)) {
				spf_eval_frame_done(ev, t->qual);
				return;
			}
			continue;
		default:
			break;
		}
		if (++ev->lookups > SPF_MAX_LOOKUPS) {
			spf_eval_finish(ev, SPF_PERMERROR, "more than %d DNS "
			    "lookups", SPF_MAX_LOOKUPS);
			return;
		}
		ev->cur = t;
		spf_eval_need_ptr(ev, t->domain, t->mech == SPF_MECH_PTR,
		    spf_eval_target);
		return;
	}
	if (f->rec.redirect.p == NULL) {
		spf_eval_frame_done(ev, SPF_NEUTRAL);	/* 4.7 */
		return;
	}
	if (++ev->lookups > SPF_MAX_LOOKUPS) {
		spf_eval_finish(ev, SPF_PERMERROR, "more than %d DNS lookups",
		    SPF_MAX_LOOKUPS);
		return;
	}
	ev->cur = NULL;
	spf_eval_need_ptr(ev, f->rec.redirect, false, spf_eval_target);
}

/*
 * spf_eval_need_ptr - run next now, or once the validated PTR names are
 * known if spec uses %{p} or force (the ptr mechanism) asks for them.
 */
static void
spf_eval_need_ptr(struct spf_eval *ev, struct str spec, bool force,
    spf_eval_step *next)
{
	char rev[128];
	char *one = rev;
	size_t o = 0;

	if (ev->ptr_done || (!force && !spf_macro_uses_p(spec))) {
		ev->cont = next;
		return;
	}
	ev->after_ptr = next;
	if (ev->family == AF_INET) {
		snprintf(rev, sizeof(rev), "%u.%u.%u.%u.in-addr.arpa",
		    ev->ip[3], ev->ip[2], ev->ip[1], ev->ip[0]);
	} else {
		for (int i = 15; i >= 0; i--)
			o += (size_t)snprintf(rev + o, sizeof(rev) - o,
			    "%x.%x.", ev->ip[i] & 0xf, ev->ip[i] >> 4);
		snprintf(rev + o, sizeof(rev) - o, "ip6.arpa");
	}
	spf_eval_fetch(ev, &one, 1, DNS_T_PTR, spf_eval_on_ptr);
}

/* spf_eval_on_ptr - 5.5: the first 10 names, each checked forward */
static void
spf_eval_on_ptr(struct spf_eval *ev)
{
	struct spf_eval_slot *sl = &ev->slots[0];
	char *names[SPF_MAX_PTR_NAMES];
	size_t n = 0;

	if (sl->status != DNS_OK) {
		/* a PTR lookup error makes the mechanism not match */
		ev->ptr_done = true;
		ev->cont = ev->after_ptr;
		return;
	}
	for (size_t i = 0; i < sl->nnames && n < SPF_MAX_PTR_NAMES; i++)
		names[n++] = xstrdup(sl->names[i]);
	spf_eval_fetch(ev, names, n, spf_eval_addr_type(ev),
	    spf_eval_on_ptr_addrs);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

static void
spf_eval_on_ptr_addrs(struct spf_eval *ev)
{
	for (size_t i = 0; i < ev->nslots; i++) {
		struct spf_eval_slot *sl = &ev->slots[i];
		unsigned bits = ev->family == AF_INET6 ? 128 : 32;
		bool ok = false;

		/* an error on one name skips that name */
		for (size_t k = 0; k < sl->naddrs && !ok; k++)
			ok = spf_eval_ip_match(ev, sl->addrs[k], bits);
		if (!ok)
			continue;
		ev->ptr_names = xreallocarray(ev->ptr_names, ev->nptr + 1,
		    sizeof(*ev->ptr_names));
		ev->ptr_names[ev->nptr++] = xstrdup(sl->name);
	}
	ev->ptr_done = true;
	ev->cont = ev->after_ptr;
}

/* spf_eval_target - expand the current term's domain and act on it */
static void
spf_eval_target(struct spf_eval *ev)
{
	const struct spf_term *t = ev->cur;
	struct spf_eval_frame *f;
	int r;

	r = spf_eval_expand(ev, t ? t->domain : spf_eval_top(ev)->rec.redirect);
	if (r == -1)
		return;
	if (t == NULL || t->mech == SPF_MECH_INCLUDE) {
		if (r == 1) {
			spf_eval_finish(ev, SPF_PERMERROR, "%s target is not "
			    "a valid domain", t ? "include" : "redirect");
			return;
		}
		if (t != NULL) {
			spf_eval_push(ev, buf_cstr(&ev->name), true);
			return;
		}
		/* redirect: the target's result is this frame's (6.1) */
		f = spf_eval_top(ev);
		free(f->domain);
		free(f->txt);
		spf_record_fini(&f->rec);
		f->txt = NULL;
		f->domain = xstrdup(buf_cstr(&ev->name));
		f->redirected = true;
		f->next = 0;
		spf_eval_fetch1(ev, f->domain, DNS_T_TXT, spf_eval_on_record);
		return;
	}
	if (r == 1) {
		/* a name that cannot exist: the mechanism does not match */
		ev->cont = spf_eval_terms;
		return;
	}
	switch (t->mech) {
	case SPF_MECH_A:
		spf_eval_fetch1(ev, buf_cstr(&ev->name), spf_eval_addr_type(ev),
		    spf_eval_on_a);
		return;
	case SPF_MECH_MX:
		spf_eval_fetch1(ev, buf_cstr(&ev->name), DNS_T_MX,
		    spf_eval_on_mx);
		return;
	case SPF_MECH_EXISTS:
		/* 5.7: always an A query, whatever the client's family */
		spf_eval_fetch1(ev, buf_cstr(&ev->name), DNS_T_A,
		    spf_eval_on_exists);
		return;
	case SPF_MECH_PTR:
		spf_eval_ptr_match(ev);
		return;
	default:
		spf_eval_finish(ev, SPF_PERMERROR, "internal error: term");
		return;
	}
}

static void
spf_eval_on_a(struct spf_eval *ev)
{
	struct spf_eval_slot *sl = &ev->slots[0];
	const struct spf_term *t = ev->cur;

	if (spf_eval_dns_error(ev, sl))
		return;
	if (sl->status != DNS_OK) {
		if (spf_eval_void(ev, sl->name))
			ev->cont = spf_eval_terms;
		return;
	}
	for (size_t i = 0; i < sl->naddrs; i++) {
		if (spf_eval_ip_match(ev, sl->addrs[i], spf_eval_cidr(ev, t))) {
			spf_eval_frame_done(ev, t->qual);
			return;
		}
	}
	ev->cont = spf_eval_terms;
}

static void
spf_eval_on_mx(struct spf_eval *ev)
{
	struct spf_eval_slot *sl = &ev->slots[0];
	char *names[SPF_MAX_MX_NAMES];
	size_t n = 0;

	if (spf_eval_dns_error(ev, sl))
		return;
	if (sl->status != DNS_OK) {
		if (spf_eval_void(ev, sl->name))
			ev->cont = spf_eval_terms;
		return;
	}
	if (sl->nnames > SPF_MAX_MX_NAMES) {
		spf_eval_finish(ev, SPF_PERMERROR, "more than %d MX records "
		    "at %s", SPF_MAX_MX_NAMES, sl->name);
		return;
	}
	for (size_t i = 0; i < sl->nnames; i++) {
		/* the null MX (RFC 7505) names no host */
		if (strcmp(sl->names[i], ".") == 0 || sl->names[i][0] == '\0')
			continue;
		names[n++] = xstrdup(sl->names[i]);
	}
	if (n == 0) {
		ev->cont = spf_eval_terms;
		return;
	}
	spf_eval_fetch(ev, names, n, spf_eval_addr_type(ev),
	    spf_eval_on_mx_addrs);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

static void
spf_eval_on_mx_addrs(struct spf_eval *ev)
{
	const struct spf_term *t = ev->cur;

	for (size_t i = 0; i < ev->nslots; i++) {
		struct spf_eval_slot *sl = &ev->slots[i];

		if (spf_eval_dns_error(ev, sl))
			return;
		for (size_t k = 0; k < sl->naddrs; k++) {
			if (spf_eval_ip_match(ev, sl->addrs[k],
			    spf_eval_cidr(ev, t))) {
				spf_eval_frame_done(ev, t->qual);
				return;
			}
		}
	}
	ev->cont = spf_eval_terms;
}

static void
spf_eval_on_exists(struct spf_eval *ev)
{
	struct spf_eval_slot *sl = &ev->slots[0];

	if (spf_eval_dns_error(ev, sl))
		return;
	if (sl->status != DNS_OK || sl->naddrs == 0) {
		if (spf_eval_void(ev, sl->name))
			ev->cont = spf_eval_terms;
		return;
	}
	spf_eval_frame_done(ev, ev->cur->qual);
}

/* spf_eval_ptr_match - a validated name equal to or below the target */
static void
spf_eval_ptr_match(struct spf_eval *ev)
{
	const char *target = buf_cstr(&ev->name);
	size_t tl = strlen(target);

	for (size_t i = 0; i < ev->nptr; i++) {
		const char *n = ev->ptr_names[i];
		size_t nl = strlen(n);

		if (nl && n[nl - 1] == '.')
			nl--;
		if ((nl == tl && strncasecmp(n, target, tl) == 0) ||
		    (nl > tl && n[nl - tl - 1] == '.' &&
		    strncasecmp(n + nl - tl, target, tl) == 0)) {
			spf_eval_frame_done(ev, ev->cur->qual);
			return;
		}
	}
	ev->cont = spf_eval_terms;
}

/* ---------------------------------------------------------------------
 * Explanation (6.2): problems here never change the result
 */

static void
spf_eval_exp(struct spf_eval *ev)
{
	struct spf_eval_frame *f = spf_eval_top(ev);
	struct spf_macro_ctx m;

	if (!ev->ptr_done && spf_macro_uses_p(f->rec.exp)) {
		spf_eval_need_ptr(ev, f->rec.exp, true, spf_eval_exp);
		return;
	}
	spf_eval_mctx(ev, &m);
	if (spf_macro_domain(f->rec.exp, &m, &ev->name, NULL) != 0) {
		spf_eval_finish(ev, ev->result, NULL);
		return;
	}
	spf_eval_fetch1(ev, buf_cstr(&ev->name), DNS_T_TXT, spf_eval_on_exp);
}

static void
spf_eval_on_exp(struct spf_eval *ev)
{
	struct spf_eval_slot *sl = &ev->slots[0];
	struct spf_eval_frame *f = spf_eval_top(ev);
	struct str text;

	if (sl->status != DNS_OK || sl->ntxts != 1) {
		spf_eval_finish(ev, ev->result, NULL);
		return;
	}
	text = str_make(sl->txts[0], sl->txtlens[0]);
	if (spf_macro_check(text, SPF_MACRO_EXP, NULL) == -1) {
		spf_eval_finish(ev, ev->result, NULL);
		return;
	}
	/* keep the text in the frame: a %{p} lookup would clear the slot */
	free(f->txt);
	spf_record_fini(&f->rec);
	f->txt = sl->txts[0];
	sl->txts[0] = xstrdup("");
	f->rec.exp = str_make(f->txt, strlen(f->txt));
	spf_eval_need_ptr(ev, f->rec.exp, false, spf_eval_exp_text);
}

static void
spf_eval_exp_text(struct spf_eval *ev)
{
	struct spf_eval_frame *f = spf_eval_top(ev);
	struct spf_macro_ctx m;
	struct buf b;

	buf_init(&b, SPF_EXPLAIN_MAX);
	spf_eval_mctx(ev, &m);
	if (spf_macro_expand(f->rec.exp, &m, SPF_MACRO_EXP, &b, NULL) == 0)
		ev->explanation = buf_steal(&b, NULL);
	buf_fini(&b);
	spf_eval_finish(ev, ev->result, NULL);
}
