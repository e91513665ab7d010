/* SPDX-License-Identifier: ISC */
/*
 * dns.c - libunbound on a libevent loop; see dns.h.
 *
 * ub_resolve_async() hands each query to libunbound's own thread; the
 * answer is signalled on ub_fd(), which the loop watches, and
 * ub_process() then runs our callback on the loop thread. Each query also
 * has a timer: past the timeout it is cancelled and answered TEMPFAIL, so
 * an unreachable resolver never stalls a delivery for minutes.
 *
 * DNSSEC: the trust anchor file is handed to libunbound before the
 * context is finalized, and dns_new finalizes it (a local zone removal
 * does) so a file that cannot be used fails there, not at the first
 * query. libunbound's validator runs on forwarded answers too: queries
 * to the forwarder ask for the DNSSEC records (DO bit), and the
 * signatures are checked here against the anchor, whatever the
 * forwarder thinks of them (a forwarder that drops them makes every
 * answer below the anchor bogus). libunbound fills why_bogus itself
 * (val-log-level 2) without logging it (val-log-squelch).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <unbound.h>

#include "core/idmap.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/xalloc.h"
#include "net/dns.h"

struct dns {
	struct event_base	*base;
	struct ub_ctx		*ctx;
	struct event		*ev;
	struct idmap		 queries;	/* id -> struct dns_query */
	uint64_t		 next_id;
	unsigned		 timeout;
};

struct dns_query {
	struct dns	*d;
	uint64_t	 id;
	int		 ub_id;
	int		 type;
	dns_cb		*cb;
	void		*arg;
	struct event	*timer;
	int64_t		 started;	/* metrics_mono_ns, for the metrics */
};

/* libunbound's default local zones (unbound.conf(5)) */
static const char *const dns_local_zones[] = {
	"localhost.", "127.in-addr.arpa.", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", "home.arpa.",
	"resolver.arpa.", "service.arpa.", "onion.", "test.", "invalid.",
	"0.in-addr.arpa.", "254.169.in-addr.arpa.", "2.0.192.in-addr.arpa.",
	"100.51.198.in-addr.arpa.", "113.0.203.in-addr.arpa.",
	"255.255.255.255.in-addr.arpa.",
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	"ip6.arpa.", "d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.",
	"a.e.f.ip6.arpa.", "b.e.f.ip6.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa.",
};

/* dns_observe - the query's time to its answer, by type */
static void
dns_observe(const struct dns_query *q)
{
	enum metric_hist h;

	switch (q->type) {
	case DNS_T_A:		h = METRIC_H_DNS_A; break;
	case DNS_T_AAAA:	h = METRIC_H_DNS_AAAA; break;
	case DNS_T_MX:		h = METRIC_H_DNS_MX; break;
	case DNS_T_TXT:		h = METRIC_H_DNS_TXT; break;
	case DNS_T_TLSA:	h = METRIC_H_DNS_TLSA; break;
	case DNS_T_PTR:		h = METRIC_H_DNS_PTR; break;
	default:		h = METRIC_H_DNS_OTHER; break;
	}
	metrics_observe_since(h, q->started);
}

static void
dns_query_free(struct dns_query *q)
{
	idmap_del(&q->d->queries, q->id);
	if (q->timer)
		event_free(q->timer);
	free(q);
}

/* dns_type_name - the mnemonic of a query type, for logs */
static const char *
dns_type_name(int type, char *buf, size_t n)
{
	switch (type) {
	case DNS_T_A:		return "A";
	case DNS_T_CNAME:	return "CNAME";
	case DNS_T_PTR:		return "PTR";
	case DNS_T_MX:		return "MX";
	case DNS_T_TXT:		return "TXT";
	case DNS_T_AAAA:	return "AAAA";
	case DNS_T_TLSA:	return "TLSA";
	default:
		snprintf(buf, n, "TYPE%d", type);
		return buf;
	}
}

/* dns_log_bogus - the one log line of an answer that failed validation */
static void
dns_log_bogus(const struct dns_query *q, const struct ub_result *res)
{
	char name[600], why[1200], tbuf[16];
	const char *qname = res->qname ? res->qname : "";
	const char *reason = res->why_bogus ? res->why_bogus : "";

	log_warnx("event=dns.bogus name=%s type=%s why=%s",
	    log_quote(name, sizeof(name), qname, strlen(qname)),
	    dns_type_name(q->type, tbuf, sizeof(tbuf)),
	    log_quote(why, sizeof(why), reason, strlen(reason)));
}

static void
dns_ub_cb(void *mydata, int err, struct ub_result *res)
{
	struct dns_query *q = mydata;
	struct dns_answer ans;

	memset(&ans, 0, sizeof(ans));
	ans.type = q->type;
	if (err != 0 || res == NULL) {
		ans.status = DNS_TEMPFAIL;
	} else if (res->bogus) {
		/* signatures that do not verify, a missing proof: never the
		   data, a temporary failure (RFC 4035 5.5) */
		ans.status = DNS_TEMPFAIL;
		ans.bogus = true;
		ans.why_bogus = res->why_bogus;
		dns_log_bogus(q, res);
	} else if (res->havedata) {
		const uint8_t **rdata;
		size_t n = 0, *len;

		while (res->data[n] != NULL)
			n++;
		rdata = xcalloc(n ? n : 1, sizeof(*rdata));
		len = xcalloc(n ? n : 1, sizeof(*len));
		for (size_t i = 0; i < n; i++) {
			rdata[i] = (const uint8_t *)res->data[i];
			len[i] = res->len[i] > 0 ? (size_t)res->len[i] : 0;
		}
		dns_answer_from_rdata(&ans, q->type, n, rdata, len);
		free(rdata);
		free(len);
	} else if (res->nxdomain || res->rcode == 3) {
		ans.status = DNS_NXDOMAIN;
	} else if (res->rcode == 0) {
		ans.status = DNS_NODATA;
	} else if (res->rcode == 2) {
		ans.status = DNS_TEMPFAIL;	/* SERVFAIL */
	} else {
		ans.status = DNS_PERMFAIL;
	}
	/* data and denials (NODATA, NXDOMAIN) alike */
	if (res != NULL && !res->bogus && ans.status != DNS_TEMPFAIL)
		ans.secure = res->secure != 0;
	idmap_del(&q->d->queries, q->id);	/* a cancel from cb is a no-op */
	dns_observe(q);
	q->cb(q->arg, &ans);
	dns_answer_fini(&ans);
	if (res != NULL)
		ub_resolve_free(res);
	dns_query_free(q);
}

static void
dns_fd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;

	ub_process(d->ctx);
}

static void
dns_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	struct dns_answer ans;

	memset(&ans, 0, sizeof(ans));
	ans.type = q->type;
	ans.status = DNS_TEMPFAIL;
	ub_cancel(q->d->ctx, q->ub_id);
	idmap_del(&q->d->queries, q->id);
	dns_observe(q);
	q->cb(q->arg, &ans);
	dns_query_free(q);
}

static uint64_t
dns_query_start(void *ctx, const char *name, int type, dns_cb *cb, void *arg)
{
	struct dns *d = ctx;
	struct dns_query *q = xcalloc(1, sizeof(*q));
	struct timeval tv = { d->timeout, 0 };
	int r;

	q->d = d;
	q->id = ++d->next_id;
	q->type = type;
	q->cb = cb;
	q->arg = arg;
	q->started = metrics_mono_ns();
	r = ub_resolve_async(d->ctx, name, type, 1, q, dns_ub_cb, &q->ub_id);
	if (r != 0) {
		log_warnx("event=dns.query name=%s error=\"%s\"", name,
		    ub_strerror(r));
		free(q);
		return 0;
	}
	idmap_put(&d->queries, q->id, q);
	q->timer = evtimer_new(d->base, dns_timeout_cb, q);
	evtimer_add(q->timer, &tv);
	return q->id;
}

static void
dns_query_cancel(void *ctx, uint64_t id)
{
	struct dns *d = ctx;
	struct dns_query *q = idmap_get(&d->queries, id);

	if (q == NULL)
		return;
	ub_cancel(d->ctx, q->ub_id);
	dns_query_free(q);
}

struct dns_resolver
dns_resolver(struct dns *d)
{
	return (struct dns_resolver){ dns_query_start, dns_query_cancel, d };
}

/* dns_set_fwd - every query to server ("HOST:PORT", "[v6]:PORT",
   "HOST"), special-use names included */
static int
dns_set_fwd(struct ub_ctx *ctx, const char *server)
{
	char fwd[300];
	const char *colon;
	int r;

	/* "HOST:PORT" or "[v6]:PORT" to unbound's "HOST@PORT" */
	if (server[0] == '[' && (colon = strstr(server, "]:")) != NULL)
		snprintf(fwd, sizeof(fwd), "%.*s@%s",
		    (int)(colon - server - 1), server + 1, colon + 2);
	else if ((colon = strrchr(server, ':')) != NULL &&
	    strchr(server, ':') == colon)
		snprintf(fwd, sizeof(fwd), "%.*s@%s",
		    (int)(colon - server), server, colon + 1);
	else
		snprintf(fwd, sizeof(fwd), "%s", server);
	if ((r = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0 ||
	    (r = ub_ctx_set_option(ctx, "unblock-lan-zones:", "yes")) != 0 ||
	    (r = ub_ctx_set_fwd(ctx, fwd)) != 0)
		return r;
	return 0;
}

/* dns_trust_anchor - validate against the DS/DNSKEY records of file; read
   when the context is finalized, so checked for reading here */
static int
dns_trust_anchor(struct ub_ctx *ctx, const char *file, struct err *err)
{
	FILE *f;
	int r;

	if ((f = fopen(file, "r")) == NULL) {
		err_set(err, errno, "[dns] trust_anchor %s: %s", file,
		    strerror(errno));
		return -1;
	}
	fclose(f);
	if ((r = ub_ctx_add_ta_file(ctx, file)) != 0) {
		err_set(err, 0, "[dns] trust_anchor %s: %s", file,
		    ub_strerror(r));
		return -1;
	}
	return 0;
}

struct dns *
dns_new(struct event_base *base, const char *server, const char *trust_anchor,
    unsigned timeout, struct err *err)
{
	struct dns *d = xcalloc(1, sizeof(*d));
	bool fwd = server != NULL && server[0] != '\0';
	int r;

	d->base = base;
	d->timeout = timeout ? timeout : 10;
	idmap_init(&d->queries);
	if ((d->ctx = ub_ctx_create()) == NULL) {
		err_set(err, 0, "ub_ctx_create failed");
		goto fail;
	}
	/* answers through a thread of libunbound's, not a forked process */
	if ((r = ub_ctx_async(d->ctx, 1)) != 0)
		goto fail_ub;
	if (trust_anchor != NULL && dns_trust_anchor(d->ctx, trust_anchor,
	    err) == -1)
		goto fail;
	if ((r = fwd ? dns_set_fwd(d->ctx, server) :
	    ub_ctx_resolvconf(d->ctx, NULL)) != 0)
		goto fail_ub;
	/*
	 * Finalize now: the trust anchor is read (a file that is no list of
	 * DS or DNSKEY records fails here). Removing a local zone finalizes
	 * the context, so it comes last. With a configured server, every
	 * query goes to it, special-use names (RFC 6761) included: no
	 * answers made up locally (local-zone "nodefault" options are not
	 * honoured by the asynchronous resolver thread). Without one, a name
	 * that is no local zone is "removed", which changes nothing.
	 */
	if (fwd) {
		for (size_t i = 0; i < sizeof(dns_local_zones) /
		    sizeof(dns_local_zones[0]); i++)
			if ((r = ub_ctx_zone_remove(d->ctx,
			    dns_local_zones[i])) != 0)
				goto fail_final;
	} else if ((r = ub_ctx_zone_remove(d->ctx, "relais.invalid.")) != 0) {
		goto fail_final;
	}
	d->ev = event_new(base, ub_fd(d->ctx), EV_READ | EV_PERSIST, dns_fd_cb,
	    d);
	if (d->ev == NULL || event_add(d->ev, NULL) == -1) {
		err_set(err, 0, "cannot watch the resolver");
		goto fail;
	}
	return d;
fail_final:
	if (trust_anchor != NULL) {
		err_set(err, 0, "[dns] trust_anchor %s: cannot be used (%s): "
		    "not a file of DS or DNSKEY records?", trust_anchor,
		    ub_strerror(r));
		goto fail;
	}
	/* FALLTHROUGH */
fail_ub:
	err_set(err, 0, "resolver %s: %s", fwd ? server : "resolv.conf",
	    ub_strerror(r));
fail:
	dns_free(d);
	return NULL;
}

static void
dns_free_each(uint64_t id, void *val, void *arg)
{
	struct dns_query *q = val;

	ub_cancel(q->d->ctx, q->ub_id);
	if (q->timer)
		event_free(q->timer);
	free(q);
}

void
dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	idmap_each(&d->queries, dns_free_each, NULL);
	idmap_fini(&d->queries);
	if (d->ev)
		event_free(d->ev);
	if (d->ctx)
		ub_ctx_delete(d->ctx);
	free(d);
}
