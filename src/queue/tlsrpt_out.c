/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt_out.c - one domain's TLS-RPT report sent out (RFC 8460 3, 5):
 * its _smtp._tls TXT record looked up, the report built and gzipped, a
 * message to the mailto: rua injected into the queue (qmgr_submit_msg,
 * with a DKIM signature when [dkim] covers [tlsrpt] from) and a POST to
 * each https: rua (curl_easy). On the relais-tlsrpt thread, which may
 * block: the DNS answer runs the pass's own event_base, the POST at
 * most TLSRPT_HTTP_TIMEOUT seconds (a stop aborts it), the message's
 * commit is waited for.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "core/log.h"
#include "core/version.h"
#include "core/xalloc.h"
#include "live/conf_live.h"
#include "msgauth/dkim.h"
#include "net/dns.h"
#include "queue/qmgr.h"
#include "queue/tlsrpt_int.h"
#include "queue/tlsrpt_send.h"
#include "smtp/smtp_param.h"
#include "spool/spool.h"
#include "tlspol/tlsrpt_record.h"
#include "tlspol/tlsrpt_report.h"

#define TLSRPT_HTTP_TIMEOUT	60	/* seconds per POST */

/* ------------------------------------------------------------- DNS */

struct tlsrpt_lookup {
	bool			 done;
	enum dns_status		 status;
	struct tlsrpt_policy_record rec;
	int			 found;		/* tlsrpt_record_select */
	struct err		 err;
};

static void
tlsrpt_txt_cb(void *arg, const struct dns_answer *ans)
{
	struct tlsrpt_lookup *l = arg;
	const char **txt;
	size_t *len;

	l->done = true;
	l->status = ans->status;
	if (ans->status != DNS_OK)
		return;
	txt = xcalloc(ans->n, sizeof(*txt));
	len = xcalloc(ans->n, sizeof(*len));
	for (size_t i = 0; i < ans->n; i++) {
		txt[i] = ans->rr[i].txt;
		len[i] = ans->rr[i].txt_len;
	}
	l->found = tlsrpt_record_select(txt, len, ans->n, &l->rec, &l->err);
	free(txt);
	free(len);
}

/*
 * tlsrpt_lookup - _smtp._tls.DOMAIN TXT, blocking this thread on its own
 * loop: 1 with the record, 0 when the domain publishes none (or none
 * usable: logged), -1 on a temporary failure (try again later)
 */
static int
tlsrpt_lookup(struct tlsrpt_sender *s, struct event_base *base,
    struct dns *dns, unsigned timeout, const char *domain,
    struct tlsrpt_policy_record *out)
{
	struct dns_resolver res = dns_resolver(dns);
	struct tlsrpt_lookup l;
	char name[300];
	uint64_t id;
	time_t deadline = time(NULL) + timeout + 5;

	memset(&l, 0, sizeof(l));
	snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
	if ((id = res.query(res.ctx, name, DNS_T_TXT, tlsrpt_txt_cb,
	    &l)) == 0) {
		log_warnx("event=tlsrpt.lookup domain=%s error=\"query not"
		    " started\"", domain);
		return -1;
	}
	while (!l.done && !atomic_load(&s->stopping) &&
	    time(NULL) < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	if (!l.done) {
		res.cancel(res.ctx, id);
		return -1;
	}
	switch (l.status) {
	case DNS_OK:
		break;
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		return 0;
	default:
		log_info("event=tlsrpt.lookup domain=%s error=\"%s\"", domain,
		    l.status == DNS_TEMPFAIL ? "temporary DNS failure" :
		    "DNS failure");
		return l.status == DNS_TEMPFAIL ? -1 : 0;
	}
	if (l.found == -1) {
		char q[300];

		log_info("event=tlsrpt.record domain=%s error=%s", domain,
		    log_quote(q, sizeof(q), l.err.msg, strlen(l.err.msg)));
		return 0;
	}
	if (l.found == 0)
		return 0;
	*out = l.rec;
	return 1;
}

/* a wake-up every 200 ms while waiting for DNS, so a stop is seen */
static void
tlsrpt_tick(evutil_socket_t fd, short what, void *arg)
{
}

/* ----------------------------------------------------------- mailto */

struct tlsrpt_submit {
	struct tlsrpt_sender	*s;
	bool			 done;
	int			 status;
};

static void
tlsrpt_submit_done(void *arg, uint64_t tag, int status)
{
	struct tlsrpt_submit *m = arg;

	pthread_mutex_lock(&m->s->lock);
	m->done = true;
	m->status = status;
	pthread_cond_broadcast(&m->s->cond);
	pthread_mutex_unlock(&m->s->lock);
}

/*
 * tlsrpt_mail - the report as one message from [tlsrpt] from to every
 * mailto: rua, into the queue; 0 once committed (qid set)
 */
static int
tlsrpt_mail(struct tlsrpt_sender *s, const struct conf_snap *snap,
    const struct tlsrpt_report_info *ri, const struct tlsrpt_policy_record *rec,
    const struct buf *gz, char qid[ID_QID_LEN + 1])
{
	const struct conf *conf = snap->conf;
	const char *to[TLSRPT_RUA_MAX];
	struct tlsrpt_mail m;
	struct tlsrpt_submit sub;
	struct spool_msg *msg;
	struct buf text, sig;
	struct err err;
	size_t nto = 0;
	int64_t now = time(NULL);

	for (size_t i = 0; i < rec->nrua; i++)
		if (rec->rua[i].kind == TLSRPT_RUA_MAILTO)
			to[nto++] = rec->rua[i].addr;
	if (nto == 0)
		return -1;
	memset(&m, 0, sizeof(m));
	m.ri = ri;
	m.from = conf->tlsrpt.from;
	m.to = to;
	m.nto = nto;
	m.now = now;
	m.gz = gz->data;
	m.gzlen = gz->len;
	buf_init(&text, 0);
	if (tlsrpt_report_mail(&m, &text, &err) == -1) {
		log_warnx("event=tlsrpt.mail domain=%s error=\"%s\"",
		    ri->policy_domain, err.msg);
		buf_fini(&text);
		return -1;
	}
	msg = spool_msg_new();
	id_qid_new(msg->qid);
	memcpy(qid, msg->qid, ID_QID_LEN + 1);
	msg->sender = xstrdup(conf->tlsrpt.from);
	msg->arrival = now;
	msg->client = xstrdup("local");
	msg->helo = xstrdup(conf->server.hostname);
	msg->listener = xstrdup("tlsrpt");
	/* RFC 8460 5.2: a report must get through a broken TLS setup
	   (its header says so; the flag is what the agent reads) */
	msg->tls_optional = true;
	for (size_t i = 0; i < nto; i++) {
		char *addr = xstrdup(to[i]), *at = strrchr(addr, '@');
		bool local;

		for (char *p = at + 1; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		local = conf_is_local_domain(conf, str_cstr(at + 1));
		spool_msg_add_rcpt(msg, addr, to[i], NULL, SMTP_NOTIFY_NEVER,
		    local ? SPOOL_TRANSPORT_LOCAL : SPOOL_TRANSPORT_REMOTE);
		free(addr);
	}
	/* signed like the mail of its From: domain, when [dkim] has it */
	if (snap->signer != NULL) {
		buf_init(&sig, 0);
		if (dkim_signer_sign(snap->signer, buf_cstr(&text), text.len,
		    (time_t)now, &sig, &err) == -1)
			log_error("event=dkim.sign id=%s error=\"%s\"", msg->qid,
			    err.msg);
		else if (sig.len > 0) {
			buf_append(&msg->prefix, sig.data, sig.len);
			log_info("event=dkim.signed id=%s", msg->qid);
		}
		buf_fini(&sig);
	}
	buf_fini(&msg->body.mem);
	msg->body.mem = text;		/* the message owns the text now */
	msg->body.size = text.len;
	memset(&sub, 0, sizeof(sub));
	sub.s = s;
	qmgr_submit_msg(s->q, msg, tlsrpt_submit_done, &sub, 0);
	pthread_mutex_lock(&s->lock);
	while (!sub.done)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	return sub.status;
}

/* ------------------------------------------------------------ https */

static int
tlsrpt_curl_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct tlsrpt_sender *s = arg;

	return atomic_load(&s->stopping) ? 1 : 0;
}

static size_t
tlsrpt_curl_discard(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

/* tlsrpt_post - the gzip to an https: rua; the HTTP status (0: none) */
static long
tlsrpt_post(struct tlsrpt_sender *s, const struct conf *conf,
    const char *uri, const struct buf *gz, char *why, size_t whylen)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdr;
	CURL *h;
	CURLcode rc;
	long status = 0;

	why[0] = '\0';
	if ((h = curl_easy_init()) == NULL) {
		snprintf(why, whylen, "curl_easy_init failed");
		return 0;
	}
	errbuf[0] = '\0';
	hdr = curl_slist_append(NULL, "Content-Type: application/tlsrpt+gzip");
	curl_easy_setopt(h, CURLOPT_URL, uri);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (conf->relay.ca_file != NULL && conf->relay.ca_file[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, conf->relay.ca_file);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)TLSRPT_HTTP_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "relais/" RELAIS_VERSION);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, gz->data);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)gz->len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, tlsrpt_curl_discard);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, tlsrpt_curl_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if ((rc = curl_easy_perform(h)) != CURLE_OK)
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf :
		    curl_easy_strerror(rc));
	else
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdr);
	return status;
}

/* ------------------------------------------------------------ a pass */

int
tlsrpt_pass_open(struct tlsrpt_pass *p, struct conf_live *live)
{
	struct timeval tv = { 0, 200000 };
	struct err err;

	memset(p, 0, sizeof(*p));
	p->snap = conf_live_get(live);
	if ((p->base = event_base_new()) == NULL) {
		log_error("event=tlsrpt.pass error=\"event_base_new failed\"");
		return -1;
	}
	if ((p->dns = dns_new(p->base, p->snap->conf->dns.resolver,
	    p->snap->conf->dns.trust_anchor, p->snap->conf->dns.timeout,
	    &err)) == NULL) {
		log_error("event=tlsrpt.pass error=\"%s\"", err.msg);
		return -1;
	}
	p->tick = event_new(p->base, -1, EV_PERSIST, tlsrpt_tick, NULL);
	event_add(p->tick, &tv);
	return 0;
}

void
tlsrpt_pass_close(struct tlsrpt_pass *p)
{
	if (p->tick != NULL)
		event_free(p->tick);
	dns_free(p->dns);
	if (p->base != NULL)
		event_base_free(p->base);
	if (p->snap != NULL)
		conf_snap_unref(p->snap);
}

/* tlsrpt_ldh - a domain the DNS and the headers take as it is */
static bool
tlsrpt_ldh(const char *d)
{
	size_t n = strlen(d);

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((d[i] >= 'a' && d[i] <= 'z') ||
		    (d[i] >= '0' && d[i] <= '9') || d[i] == '-' ||
		    d[i] == '.'))
			return false;
	return true;
}

int
tlsrpt_domain(struct tlsrpt_sender *s, struct tlsrpt_pass *p,
    const char *domain, const struct tlsrpt_count *c, size_t n,
    int64_t start, int64_t end, struct buf *out)
{
	const struct conf *conf = p->snap->conf;
	struct tlsrpt_policy_record rec;
	struct tlsrpt_report_info ri;
	char uid[ID_QID_LEN + 1], id[300], why[CURL_ERROR_SIZE + 32];
	char qid[ID_QID_LEN + 1];
	struct buf gz;
	struct err err;
	char *json;
	int found, sent = 0, failed = 0;
	size_t nmail = 0;

	if (!tlsrpt_ldh(domain)) {
		buf_appendf(out, "%s%s: not reported (not an ASCII domain name)",
		    out->len ? "; " : "", domain);
		return 0;
	}
	found = tlsrpt_lookup(s, p->base, p->dns, conf->dns.timeout, domain,
	    &rec);
	if (found != 1) {
		buf_appendf(out, "%s%s: %s", out->len ? "; " : "", domain,
		    found == 0 ? "no TLS-RPT record" :
		    "TLS-RPT record lookup failed, will retry");
		return found;
	}
	if (rec.nrua == 0) {
		buf_appendf(out, "%s%s: no mailto: or https: rua",
		    out->len ? "; " : "", domain);
		return 0;
	}
	id_qid_new(uid);
	memset(&ri, 0, sizeof(ri));
	ri.organization = conf->tlsrpt.organization;
	ri.contact = conf->tlsrpt.contact;
	ri.submitter = conf->server.hostname;
	ri.policy_domain = domain;
	ri.uid = uid;
	ri.start = start;
	ri.end = end;
	tlsrpt_report_id(&ri, id, sizeof(id));
	if ((json = tlsrpt_report_json(&ri, c, n, false, &err)) == NULL) {
		log_error("event=tlsrpt.report domain=%s error=\"%s\"", domain,
		    err.msg);
		buf_appendf(out, "%s%s: %s", out->len ? "; " : "", domain,
		    err.msg);
		return -1;
	}
	buf_init(&gz, TLSRPT_REPORT_MAX);
	if (tlsrpt_gzip(json, strlen(json), &gz, &err) == -1) {
		log_error("event=tlsrpt.report domain=%s error=\"%s\"", domain,
		    err.msg);
		buf_appendf(out, "%s%s: %s", out->len ? "; " : "", domain,
		    err.msg);
		free(json);
		buf_fini(&gz);
		return 0;	/* too large: it will not shrink */
	}
	free(json);
	buf_appendf(out, "%s%s: report %s", out->len ? "; " : "", domain, id);
	for (size_t i = 0; i < rec.nrua; i++)
		if (rec.rua[i].kind == TLSRPT_RUA_MAILTO)
			nmail++;
	if (nmail > 0) {
		if (tlsrpt_mail(s, p->snap, &ri, &rec, &gz, qid) == 0) {
			log_info("event=tlsrpt.sent domain=%s report_id=%s"
			    " rua=mailto id=%s recipients=%zu size=%zu", domain,
			    id, qid, nmail, gz.len);
			buf_appendf(out, ", mail queued as %s", qid);
			sent++;
		} else {
			log_warnx("event=tlsrpt.mail domain=%s report_id=%s"
			    " error=\"not queued\"", domain, id);
			buf_appendf(out, ", mail not queued");
			failed++;
		}
	}
	for (size_t i = 0; i < rec.nrua; i++) {
		const char *uri = rec.rua[i].uri;
		char q[TLSRPT_URI_MAX + 8], w[sizeof(why) + 8];
		long status;

		if (rec.rua[i].kind != TLSRPT_RUA_HTTPS ||
		    atomic_load(&s->stopping))
			continue;
		status = tlsrpt_post(s, conf, uri, &gz, why, sizeof(why));
		log_quote(q, sizeof(q), uri, strlen(uri));
		if (status >= 200 && status < 300) {
			log_info("event=tlsrpt.sent domain=%s report_id=%s"
			    " rua=%s status=%ld size=%zu", domain, id, q,
			    status, gz.len);
			buf_appendf(out, ", %s: %ld", uri, status);
			sent++;
			continue;
		}
		if (why[0] == '\0')
			snprintf(why, sizeof(why), "HTTP status %ld", status);
		log_warnx("event=tlsrpt.post domain=%s report_id=%s rua=%s"
		    " error=%s", domain, id, q, log_quote(w, sizeof(w), why,
		    strlen(why)));
		buf_appendf(out, ", %s: %s", uri, why);
		failed++;
	}
	buf_fini(&gz);
	return sent > 0 ? 1 : failed > 0 ? -1 : 0;
}

