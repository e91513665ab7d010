/* SPDX-License-Identifier: ISC */
/*
 * sts_fetch.c - one MTA-STS policy lookup (RFC 8461 3): the TXT record,
 * then the policy over HTTPS. See sts_int.h.
 *
 *   TXT _mta-sts.DOMAIN --none--> NONE
 *        | one STSv1 record, id      --id known--> UNCHANGED
 *        v
 *   A + AAAA mta-sts.DOMAIN (relais's resolver, both at once)
 *        v
 *   GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt --> POLICY | FAIL
 *
 * Of the TXT records, those not starting "v=STSv1" are discarded; none
 * left is NONE, more than one or an invalid one is FAIL (3.1: the domain
 * then counts as publishing no policy; the caller keeps a cached one).
 *
 * The fetch: libcurl never resolves the name itself: the addresses our
 * resolver found go in as a CURLOPT_RESOLVE entry ("+" so that it ages
 * out of the multi handle's cache like any other), port 443. https only,
 * TLS 1.2 at least, the certificate verified for mta-sts.DOMAIN against
 * [relay] ca_file or the system store, no redirects followed (3.3), no
 * proxy, no connection kept. Only a 200 answer with Content-Type
 * text/plain (parameters ignored) of at most 64 KB counts, parsed by
 * sts_policy_parse; 60 s for the whole fetch, 15 s per connection. The
 * lookup as a whole ends after STS_LOOKUP_MAX seconds whatever happens.
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "core/version.h"
#include "core/xalloc.h"
#include "net/curlev.h"
#include "tlspol/sts_int.h"

#define STS_ADDRS_MAX	16	/* addresses of the policy host tried */

struct sts_fetch {
	struct sts_fetch_ctx	 ctx;
	char			*ca_file;
	char			 domain[256];
	char			 host[300];	/* mta-sts.DOMAIN */
	char			 known_id[STS_ID_MAX + 1];
	bool			 force;
	sts_fetch_done_fn	*done;
	void			*arg;
	struct event		*deadline;	/* STS_LOOKUP_MAX */
	struct event		*later;		/* done outside the start */

	uint64_t		 q_txt, q_a, q_aaaa;
	char			 addrs[STS_ADDRS_MAX][INET6_ADDRSTRLEN + 2];
	size_t			 naddrs;

	CURL			*easy;
	struct curl_slist	*resolve;
	char			*body;
	size_t			 len;
	bool			 too_big;
	char			 errbuf[CURL_ERROR_SIZE];

	struct sts_result	 res;
};

static void
sts_fetch_free(struct sts_fetch *f)
{
	struct dns_resolver *d = &f->ctx.dns;

	if (f->q_txt)
		d->cancel(d->ctx, f->q_txt);
	if (f->q_a)
		d->cancel(d->ctx, f->q_a);
	if (f->q_aaaa)
		d->cancel(d->ctx, f->q_aaaa);
	if (f->easy != NULL) {
		curlev_remove(f->ctx.curl, f->easy);
		curl_easy_cleanup(f->easy);
	}
	curl_slist_free_all(f->resolve);
	if (f->deadline != NULL)
		event_free(f->deadline);
	if (f->later != NULL)
		event_free(f->later);
	free(f->body);
	free(f->ca_file);
	free(f);
}

/* sts_fetch_end - the lookup settled: done, then gone */
static void
sts_fetch_end(struct sts_fetch *f)
{
	f->done(f->arg, f->domain, &f->res);
	sts_fetch_free(f);
}

__attribute__((format(printf, 3, 4)))
static void
sts_fetch_fail(struct sts_fetch *f, enum tls_result why, const char *fmt,
    ...)
{
	va_list ap;

	f->res.outcome = STS_OUT_FAIL;
	f->res.fail = why;
	va_start(ap, fmt);
	vsnprintf(f->res.error, sizeof(f->res.error), fmt, ap);
	va_end(ap);
	sts_fetch_end(f);
}

static const char *
sts_dns_status(enum dns_status st)
{
	switch (st) {
	case DNS_OK:		return "no usable record";
	case DNS_NODATA:	return "no record";
	case DNS_NXDOMAIN:	return "no such name";
	case DNS_TEMPFAIL:	return "temporary DNS failure";
	default:		return "DNS failure";
	}
}

/* --- the HTTPS fetch ------------------------------------------------------ */

static size_t
sts_fetch_write(char *p, size_t size, size_t n, void *arg)
{
	struct sts_fetch *f = arg;
	size_t len = size * n;

	if (len > STS_BODY_MAX - f->len) {
		f->too_big = true;
		return 0;		/* libcurl stops: CURLE_WRITE_ERROR */
	}
	if (f->body == NULL)
		f->body = xmalloc(STS_BODY_MAX + 1);
	memcpy(f->body + f->len, p, len);
	f->len += len;
	return len;
}

/* sts_text_plain - Content-Type is text/plain, parameters aside */
static bool
sts_text_plain(const char *ct)
{
	size_t n;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	return n == 10 && strncasecmp(ct, "text/plain", 10) == 0;
}

static void
sts_fetch_http_done(void *arg, CURL *easy, CURLcode rc)
{
	struct sts_fetch *f = arg;
	struct err err;
	long status = 0;
	char *ct = NULL;
	char ctype[128];

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct);
	snprintf(ctype, sizeof(ctype), "%s", ct ? ct : "");
	curl_easy_cleanup(easy);
	f->easy = NULL;
	if (f->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		sts_fetch_fail(f, TLS_R_STS_POLICY_INVALID, "%s: policy larger"
		    " than %d bytes", f->host, STS_BODY_MAX);
		return;
	}
	switch (rc) {
	case CURLE_OK:
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		sts_fetch_fail(f, TLS_R_STS_WEBPKI_INVALID, "%s: %s", f->host,
		    f->errbuf[0] ? f->errbuf : curl_easy_strerror(rc));
		return;
	default:
		sts_fetch_fail(f, TLS_R_STS_POLICY_FETCH_ERROR, "%s: %s",
		    f->host, f->errbuf[0] ? f->errbuf :
		    curl_easy_strerror(rc));
		return;
	}
	if (status != 200) {
		sts_fetch_fail(f, TLS_R_STS_POLICY_FETCH_ERROR, "%s: HTTP %ld%s",
		    f->host, status, status >= 300 && status < 400 ?
		    " (redirects are not followed)" : "");
		return;
	}
	if (!sts_text_plain(ctype)) {
		sts_fetch_fail(f, TLS_R_STS_POLICY_INVALID, "%s: Content-Type"
		    " \"%.80s\" is not text/plain", f->host, ctype);
		return;
	}
	if (sts_policy_parse(f->body, f->len, &f->res.policy, &err) == -1) {
		sts_fetch_fail(f, TLS_R_STS_POLICY_INVALID, "%s: invalid"
		    " policy: %s", f->host, err.msg);
		return;
	}
	memcpy(f->res.policy.id, f->res.id, sizeof(f->res.policy.id));
	f->res.policy.fetched = (int64_t)time(NULL);
	f->res.policy.expires = f->res.policy.fetched +
	    (int64_t)f->res.policy.max_age;
	f->res.outcome = STS_OUT_POLICY;
	f->res.fail = TLS_R_OK;
	sts_fetch_end(f);
}

static void
sts_fetch_http(struct sts_fetch *f)
{
	char url[400], entry[sizeof(f->host) + 16 + sizeof(f->addrs)];
	struct err err;
	size_t n;

	n = (size_t)snprintf(entry, sizeof(entry), "+%s:443:", f->host);
	for (size_t i = 0; i < f->naddrs && n < sizeof(entry); i++)
		n += (size_t)snprintf(entry + n, sizeof(entry) - n, "%s%s",
		    i ? "," : "", f->addrs[i]);
	snprintf(url, sizeof(url), "https://%s/.well-known/mta-sts.txt",
	    f->host);
	if ((f->resolve = curl_slist_append(NULL, entry)) == NULL ||
	    (f->easy = curl_easy_init()) == NULL) {
		sts_fetch_fail(f, TLS_R_STS_POLICY_FETCH_ERROR, "out of memory");
		return;
	}
	curl_easy_setopt(f->easy, CURLOPT_URL, url);
	curl_easy_setopt(f->easy, CURLOPT_RESOLVE, f->resolve);
	curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(f->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(f->easy, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(f->easy, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(f->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(f->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (f->ca_file != NULL)
		curl_easy_setopt(f->easy, CURLOPT_CAINFO, f->ca_file);
	curl_easy_setopt(f->easy, CURLOPT_TIMEOUT, (long)STS_HTTP_TIMEOUT);
	curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT,
	    (long)STS_CONNECT_TIMEOUT);
	curl_easy_setopt(f->easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)STS_BODY_MAX);
	curl_easy_setopt(f->easy, CURLOPT_USERAGENT, "relais/" RELAIS_VERSION);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, sts_fetch_write);
	curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->errbuf);
	if (curlev_add(f->ctx.curl, f->easy, sts_fetch_http_done, f,
	    &err) == -1) {
		curl_easy_cleanup(f->easy);
		f->easy = NULL;
		sts_fetch_fail(f, TLS_R_STS_POLICY_FETCH_ERROR, "%s", err.msg);
	}
}

/* --- DNS ------------------------------------------------------------------ */

static void
sts_fetch_addr_cb(void *arg, const struct dns_answer *ans)
{
	struct sts_fetch *f = arg;

	if (ans->type == DNS_T_A)
		f->q_a = 0;
	else
		f->q_aaaa = 0;
	for (size_t i = 0; ans->status == DNS_OK && i < ans->n &&
	    f->naddrs < STS_ADDRS_MAX; i++) {
		const struct dns_rr *rr = &ans->rr[i];
		char a[INET6_ADDRSTRLEN];

		if (rr->type != ans->type || inet_ntop(rr->family, rr->addr,
		    a, sizeof(a)) == NULL)
			continue;
		snprintf(f->addrs[f->naddrs++], sizeof(f->addrs[0]),
		    rr->family == AF_INET6 ? "[%s]" : "%s", a);
	}
	if (f->q_a || f->q_aaaa)
		return;			/* the other answer is still to come */
	if (f->naddrs == 0) {
		sts_fetch_fail(f, TLS_R_STS_POLICY_FETCH_ERROR, "%s: no"
		    " address (%s)", f->host, sts_dns_status(ans->status));
		return;
	}
	sts_fetch_http(f);
}

static void
sts_fetch_txt_cb(void *arg, const struct dns_answer *ans)
{
	struct sts_fetch *f = arg;
	struct dns_resolver *d = &f->ctx.dns;
	const struct dns_rr *rec = NULL;
	size_t n = 0;

	f->q_txt = 0;
	if (ans->status == DNS_NXDOMAIN || ans->status == DNS_NODATA) {
		f->res.outcome = STS_OUT_NONE;
		sts_fetch_end(f);
		return;
	}
	if (ans->status != DNS_OK) {
		/* nothing known of a policy: not a policy failure */
		sts_fetch_fail(f, TLS_R_OK, "_mta-sts.%s TXT: %s", f->domain,
		    sts_dns_status(ans->status));
		return;
	}
	/* 3.1: records not starting "v=STSv1" are discarded */
	for (size_t i = 0; i < ans->n; i++) {
		const struct dns_rr *rr = &ans->rr[i];

		if (rr->type != DNS_T_TXT || rr->txt_len < 7 ||
		    memcmp(rr->txt, "v=STSv1", 7) != 0 ||
		    (rr->txt_len > 7 && rr->txt[7] != ';' &&
		    rr->txt[7] != ' ' && rr->txt[7] != '\t'))
			continue;
		rec = rr;
		n++;
	}
	if (n == 0) {
		f->res.outcome = STS_OUT_NONE;
		sts_fetch_end(f);
		return;
	}
	if (n > 1) {
		sts_fetch_fail(f, TLS_R_STS_POLICY_INVALID, "_mta-sts.%s: %zu"
		    " STSv1 TXT records", f->domain, n);
		return;
	}
	if (sts_txt_parse(rec->txt, rec->txt_len, f->res.id) == -1) {
		f->res.id[0] = '\0';
		sts_fetch_fail(f, TLS_R_STS_POLICY_INVALID, "_mta-sts.%s: invalid"
		    " TXT record", f->domain);
		return;
	}
	if (!f->force && f->known_id[0] != '\0' &&
	    strcmp(f->known_id, f->res.id) == 0) {
		f->res.outcome = STS_OUT_UNCHANGED;
		sts_fetch_end(f);
		return;
	}
	f->q_a = d->query(d->ctx, f->host, DNS_T_A, sts_fetch_addr_cb, f);
	f->q_aaaa = d->query(d->ctx, f->host, DNS_T_AAAA, sts_fetch_addr_cb,
	    f);
	if (f->q_a == 0 || f->q_aaaa == 0)
		sts_fetch_fail(f, TLS_R_STS_POLICY_FETCH_ERROR, "%s: the"
		    " address lookup did not start", f->host);
}

/* --- the lookup ----------------------------------------------------------- */

static void
sts_fetch_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sts_fetch *f = arg;

	sts_fetch_fail(f, TLS_R_STS_POLICY_FETCH_ERROR, "%s: no answer"
	    " within %d s", f->host, STS_LOOKUP_MAX);
}

/* sts_fetch_later_cb - the TXT query could not start */
static void
sts_fetch_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sts_fetch *f = arg;

	sts_fetch_fail(f, TLS_R_OK, "_mta-sts.%s TXT: the query did not"
	    " start", f->domain);
}

struct sts_fetch *
sts_fetch_start(const struct sts_fetch_ctx *ctx, const char *domain,
    const char *known_id, bool force, sts_fetch_done_fn *done, void *arg,
    struct err *err)
{
	struct sts_fetch *f;
	struct timeval tv = { STS_LOOKUP_MAX, 0 };
	char name[300];

	if (!sts_domain_valid(domain)) {
		err_set(err, EINVAL, "not a domain name");
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->ctx = *ctx;
	f->ca_file = ctx->ca_file && ctx->ca_file[0] ? xstrdup(ctx->ca_file) :
	    NULL;
	snprintf(f->domain, sizeof(f->domain), "%s", domain);
	snprintf(f->host, sizeof(f->host), "mta-sts.%s", domain);
	snprintf(f->known_id, sizeof(f->known_id), "%s",
	    known_id ? known_id : "");
	f->force = force;
	f->done = done;
	f->arg = arg;
	f->res.fail = TLS_R_OK;
	if ((f->deadline = evtimer_new(ctx->base, sts_fetch_deadline_cb,
	    f)) == NULL || (f->later = evtimer_new(ctx->base,
	    sts_fetch_later_cb, f)) == NULL || evtimer_add(f->deadline,
	    &tv) == -1) {
		err_set(err, ENOMEM, "timer");
		sts_fetch_free(f);
		return NULL;
	}
	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	f->q_txt = ctx->dns.query(ctx->dns.ctx, name, DNS_T_TXT,
	    sts_fetch_txt_cb, f);
	if (f->q_txt == 0)
		event_active(f->later, EV_TIMEOUT, 0);
	return f;
}

void
sts_fetch_cancel(struct sts_fetch *f)
{
	if (f != NULL)
		sts_fetch_free(f);
}
