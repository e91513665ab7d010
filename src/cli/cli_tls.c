/* SPDX-License-Identifier: ISC */
/*
 * cli_tls.c - relais tls check DOMAIN | records DOMAIN [-c FILE]:
 *
 *   check    what relais would do for mail to DOMAIN and why: the
 *            [tls_policy] line, the DNSSEC state of the MX answer, each
 *            MX host with its addresses' state and TLSA records, the
 *            MTA-STS TXT record and policy, the TLS-RPT record, and the
 *            policy per host (the same deliver/tlsreq.c decisions the
 *            delivery agent takes). DNS goes through the configured
 *            resolver and trust anchor.
 *   records  the DNS records (and MTA-STS policy file) to publish for
 *            DOMAIN received by this relais: TLSA 3 1 1 of the served
 *            certificate, MTA-STS, TLS-RPT (docs/tls.md).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "core/xalloc.h"
#include "deliver/tlsreq.h"
#include "live/conf_live.h"
#include "net/dane.h"
#include "net/dns.h"
#include "tlspol/sts.h"

#define CLI_TLS_MX_MAX	10

/* a private loop: one query at a time, its answer copied out */
struct cli_tls_q {
	struct event_base	*base;
	struct dns_resolver	 res;
	bool			 done;
	enum dns_status		 status;
	bool			 secure, bogus;
	struct dns_rr		*rr;		/* copies (names, raw, txt) */
	size_t			 n;
};

static void
cli_tls_answer(void *arg, const struct dns_answer *ans)
{
	struct cli_tls_q *q = arg;

	q->status = ans->status;
	q->secure = ans->secure;
	q->bogus = ans->bogus;
	q->n = 0;
	q->rr = xcalloc(ans->n ? ans->n : 1, sizeof(*q->rr));
	for (size_t i = 0; i < ans->n; i++) {
		struct dns_rr *to = &q->rr[q->n];

		if (ans->rr[i].type != ans->type)
			continue;
		*to = ans->rr[i];
		to->txt = NULL;
		to->raw = NULL;
		if (ans->rr[i].txt != NULL) {
			to->txt = xmalloc(ans->rr[i].txt_len + 1);
			memcpy(to->txt, ans->rr[i].txt, ans->rr[i].txt_len);
			to->txt[ans->rr[i].txt_len] = '\0';
		}
		if (ans->rr[i].raw != NULL) {
			to->raw = xmalloc(ans->rr[i].raw_len ?
			    ans->rr[i].raw_len : 1);
			memcpy(to->raw, ans->rr[i].raw, ans->rr[i].raw_len);
		}
		q->n++;
	}
	q->done = true;
	event_base_loopbreak(q->base);
}

static void
cli_tls_free_answer(struct cli_tls_q *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->rr[i].txt);
		free(q->rr[i].raw);
	}
	free(q->rr);
	q->rr = NULL;
	q->n = 0;
}

/* cli_tls_query - name/type answered into q (previous answer freed) */
static void
cli_tls_query(struct cli_tls_q *q, const char *name, int type)
{
	cli_tls_free_answer(q);
	q->done = false;
	q->status = DNS_TEMPFAIL;
	q->secure = q->bogus = false;
	if (q->res.query(q->res.ctx, name, type, cli_tls_answer, q) == 0)
		return;
	while (!q->done)
		if (event_base_loop(q->base, EVLOOP_ONCE) == -1)
			break;
}

static const char *
cli_tls_state(const struct cli_tls_q *q)
{
	if (q->bogus)
		return "bogus";
	switch (q->status) {
	case DNS_OK:
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		return q->secure ? "secure" : "insecure";
	case DNS_TEMPFAIL:
		return "failed (temporary)";
	default:
		return "failed";
	}
}

static const char *
cli_tls_status(enum dns_status s)
{
	switch (s) {
	case DNS_OK:		return "records";
	case DNS_NODATA:	return "no record";
	case DNS_NXDOMAIN:	return "no such name";
	case DNS_TEMPFAIL:	return "temporary failure";
	default:		return "failure";
	}
}

static const char *const cli_tls_levels[] = {
	[CONF_TLSP_NONE] = "none", [CONF_TLSP_MAY] = "may",
	[CONF_TLSP_ENCRYPT] = "encrypt", [CONF_TLSP_VERIFY] = "verify",
	[CONF_TLSP_DANE] = "dane",
};

/* cli_tls_sts - the MTA-STS part; returns the state for tlsreq */
static enum tlsreq_sts
cli_tls_sts(struct conf_live *live, struct cli_tls_q *q, const char *domain,
    struct sts_policy *pol, bool *have)
{
	char name[300], id[STS_ID_MAX + 1];
	struct err err;
	int rc;

	*have = false;
	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	cli_tls_query(q, name, DNS_T_TXT);
	printf("mta-sts txt: ");
	if (q->status != DNS_OK) {
		printf("%s\n", cli_tls_status(q->status));
		if (q->status != DNS_TEMPFAIL)
			return TS_NONE;
	} else {
		bool found = false;

		for (size_t i = 0; i < q->n; i++)
			if (q->rr[i].txt != NULL && sts_txt_parse(q->rr[i].txt,
			    q->rr[i].txt_len, id) == 0) {
				printf("\"%s\" (id %s)\n", q->rr[i].txt, id);
				found = true;
				break;
			}
		if (!found) {
			printf("no valid v=STSv1 record\n");
			return TS_NONE;
		}
	}
	rc = sts_fetch_sync(live, domain, pol, &err);
	if (rc == 1) {
		printf("mta-sts policy: mode %s, max_age %u\n",
		    pol->mode == STS_MODE_ENFORCE ? "enforce" :
		    pol->mode == STS_MODE_TESTING ? "testing" : "none",
		    (unsigned)pol->max_age);
		for (size_t i = 0; i < pol->nmx; i++)
			printf("  mx: %s\n", pol->mx[i]);
		*have = true;
		return pol->mode == STS_MODE_ENFORCE ? TS_ENFORCE :
		    pol->mode == STS_MODE_TESTING ? TS_TESTING : TS_NONE;
	}
	if (rc == 0)
		printf("mta-sts policy: none\n");
	else
		printf("mta-sts policy: cannot be used: %s (delivery goes on "
		    "as without MTA-STS unless a policy is cached)\n", err.msg);
	return TS_NONE;
}

static int
cli_tls_check(const char *path, const char *domain)
{
	struct conf_live live;
	struct conf_snap *snap;
	const struct conf *conf;
	const struct conf_tls_policy *override;
	struct cli_tls_q q;
	struct dns *dns;
	struct err err;
	struct sts_policy *pol = xcalloc(1, sizeof(*pol));
	char mx[CLI_TLS_MX_MAX][256], name[300], why[300], flags_text[64];
	enum tlsreq_tlsa tlsa[CLI_TLS_MX_MAX];
	bool mx_secure, have_pol = false;
	enum tlsreq_sts ts = TS_NONE;
	unsigned flags = 0;
	size_t nmx = 0;
	int rc = 0;

	if (conf_live_init(&live, path, &err) == -1) {
		fprintf(stderr, "relais: %s\n", err.msg);
		free(pol);
		return 2;
	}
	snap = conf_live_get(&live);
	conf = snap->conf;
	memset(&q, 0, sizeof(q));
	if ((q.base = event_base_new()) == NULL ||
	    (dns = dns_new(q.base, conf->dns.resolver, conf->dns.trust_anchor,
	    conf->dns.timeout, &err)) == NULL) {
		fprintf(stderr, "relais: resolver: %s\n", q.base ? err.msg :
		    "no event loop");
		if (q.base)
			event_base_free(q.base);
		conf_snap_unref(snap);
		conf_live_fini(&live);
		free(pol);
		return 1;
	}
	q.res = dns_resolver(dns);

	printf("domain: %s\n", domain);
	override = conf_tls_policy_find(conf, domain);
	if (override != NULL)
		printf("tls_policy: %s = %s (wins over DNS)\n",
		    override->domain, cli_tls_levels[override->level]);
	else
		printf("tls_policy: none\n");
	if (conf->dns.trust_anchor != NULL)
		printf("dnssec: validating with %s\n", conf->dns.trust_anchor);
	else
		printf("dnssec: off (no trust anchor): no DANE\n");

	cli_tls_query(&q, domain, DNS_T_MX);
	printf("mx: %s, %s\n", cli_tls_status(q.status), cli_tls_state(&q));
	mx_secure = q.secure && !q.bogus;
	if (q.status == DNS_OK) {
		for (size_t i = 0; i < q.n && nmx < CLI_TLS_MX_MAX; i++) {
			size_t l = strlen(q.rr[i].name);

			if (l > 1 && q.rr[i].name[l - 1] == '.')
				l--;
			snprintf(mx[nmx++], sizeof(mx[0]), "%.*s", (int)l,
			    q.rr[i].name);
			printf("  %u %s\n", q.rr[i].pref, mx[nmx - 1]);
		}
	} else if (q.status == DNS_NODATA) {
		snprintf(mx[nmx++], sizeof(mx[0]), "%s", domain);
		printf("  (implicit MX) %s\n", domain);
	} else {
		printf("result: no route: mail to %s %s\n", domain,
		    q.status == DNS_TEMPFAIL ? "waits" : "bounces");
		goto done;
	}

	for (size_t i = 0; i < nmx; i++) {
		bool addr_secure = true, any = false;
		static const int types[] = { DNS_T_AAAA, DNS_T_A };

		tlsa[i] = TT_NONE;
		printf("host %s:\n", mx[i]);
		for (size_t t = 0; t < 2; t++) {
			char ip[64];

			cli_tls_query(&q, mx[i], types[t]);
			for (size_t k = 0; k < q.n; k++) {
				evutil_inet_ntop(q.rr[k].family, q.rr[k].addr,
				    ip, sizeof(ip));
				printf("  address %s (%s)\n", ip,
				    cli_tls_state(&q));
				any = true;
			}
			if (q.status == DNS_OK && (!q.secure || q.bogus))
				addr_secure = false;
		}
		if (!any)
			printf("  no address\n");
		if (!(conf->dns.trust_anchor != NULL && mx_secure))
			continue;
		snprintf(name, sizeof(name), "_25._tcp.%s", mx[i]);
		cli_tls_query(&q, name, DNS_T_TLSA);
		printf("  tlsa %s: %s, %s\n", name, cli_tls_status(q.status),
		    cli_tls_state(&q));
		if (q.status == DNS_OK && q.secure && !q.bogus) {
			size_t usable = 0;

			for (size_t k = 0; k < q.n; k++) {
				struct dane_tlsa t;
				char text[200];

				if (dane_tlsa_parse(q.rr[k].raw, q.rr[k].raw_len,
				    &t) == -1)
					continue;
				dane_tlsa_text(&t, text, sizeof(text));
				printf("    %s%s\n", text, dane_tlsa_usable(&t) ?
				    "" : " (not usable for SMTP)");
				usable += dane_tlsa_usable(&t);
			}
			tlsa[i] = usable ? TT_USABLE : TT_UNUSABLE;
		} else if (q.status == DNS_TEMPFAIL || q.status == DNS_PERMFAIL)
			tlsa[i] = TT_FAILED;
		if (!addr_secure) {
			printf("  (address answer insecure: TLSA not used)\n");
			tlsa[i] = TT_NONE;
		}
	}

	if (tlsreq_sts_wanted(override))
		ts = cli_tls_sts(&live, &q, domain, pol, &have_pol);
	else
		printf("mta-sts: not used (tls_policy line)\n");
	snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
	cli_tls_query(&q, name, DNS_T_TXT);
	printf("tls-rpt: ");
	if (q.status == DNS_OK && q.n > 0 && q.rr[0].txt != NULL)
		printf("\"%s\"\n", q.rr[0].txt);
	else
		printf("%s\n", cli_tls_status(q.status));

	if (tlsreq_route(override, conf->dns.trust_anchor != NULL, mx_secure,
	    ts, &flags, why, sizeof(why)) == -1) {
		printf("result: mail to %s waits: %s\n", domain, why);
		goto done;
	}
	tlsreq_flags_text(flags, flags_text, sizeof(flags_text));
	printf("result: %s\n", flags_text);
	for (size_t i = 0; i < nmx; i++) {
		enum tlsreq_mode m;

		if ((flags & TF_STS) && have_pol && !sts_mx_match(pol, mx[i])) {
			printf("  %s: not used (not in the MTA-STS policy)\n",
			    mx[i]);
			continue;
		}
		why[0] = '\0';
		m = tlsreq_host(flags, (flags & TF_DANE) ? tlsa[i] : TT_NONE,
		    conf->relay.outbound_tls, why, sizeof(why));
		printf("  %s: %s%s%s\n", mx[i], tlsreq_mode_name(m),
		    why[0] ? ": " : "", why);
	}
done:
	cli_tls_free_answer(&q);
	dns_free(dns);
	event_base_free(q.base);
	conf_snap_unref(snap);
	conf_live_fini(&live);
	free(pol);
	return rc;
}

/* cli_tls_spki_sha256 - hex SHA-256 of the certificate's public key */
static int
cli_tls_spki_sha256(const char *crt, char *hex, size_t n)
{
	FILE *f = fopen(crt, "r");
	X509 *x = NULL;
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int len;

	if (f == NULL)
		return -1;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		return -1;
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	X509_free(x);
	if (len <= 0)
		return -1;
	if (EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) != 1) {
		OPENSSL_free(der);
		return -1;
	}
	OPENSSL_free(der);
	for (unsigned i = 0; i < mdlen && 2 * i + 2 < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static int
cli_tls_records(const char *path, const char *domain)
{
	struct conf *conf;
	struct err err;
	char crt[4096], hex[130] = "", id[32];
	time_t now = time(NULL);
	struct tm tm;

	if (conf_find(path, &conf, &err) == -1) {
		fprintf(stderr, "relais: %s\n", err.msg);
		return 2;
	}
	if (conf->tls.certificate != NULL)
		snprintf(crt, sizeof(crt), "%s", conf->tls.certificate);
	else
		snprintf(crt, sizeof(crt), "%s/tls/selfsigned.crt",
		    conf->server.data_dir);
	gmtime_r(&now, &tm);
	strftime(id, sizeof(id), "%Y%m%dT%H%M%S", &tm);
	printf("; records for mail to %s received by %s\n", domain,
	    conf->server.hostname);
	printf("\n; DANE (the zone must be DNSSEC-signed), from %s\n", crt);
	if (cli_tls_spki_sha256(crt, hex, sizeof(hex)) == 0)
		printf("_25._tcp.%s. IN TLSA 3 1 1 %s\n",
		    conf->server.hostname, hex);
	else
		printf("; cannot read a certificate from %s: start relais "
		    "once, or set [tls] certificate\n", crt);
	printf("\n; MTA-STS: the TXT record (change the id with the policy)\n"
	    "_mta-sts.%s. IN TXT \"v=STSv1; id=%s\"\n", domain, id);
	printf("; and https://mta-sts.%s/.well-known/mta-sts.txt, "
	    "text/plain:\n", domain);
	printf(";   version: STSv1\n;   mode: testing\n;   mx: %s\n"
	    ";   max_age: 604800\n", conf->server.hostname);
	printf("\n; TLS-RPT: where reports about mail to %s go\n"
	    "_smtp._tls.%s. IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@%s\"\n",
	    domain, domain, domain);
	conf_unref(conf);
	return 0;
}

int
cli_tls(int argc, char **argv)
{
	const char *path;
	char *pos[2];
	int npos;

	if (argc >= 2 && strcmp(argv[1], "report") == 0)
		return cli_tls_report(argc - 1, argv + 1);
	if (cli_args(argc, argv, &path, pos, 2, &npos) == -1 || npos != 2 ||
	    (strcmp(pos[0], "check") != 0 && strcmp(pos[0], "records") != 0)) {
		fprintf(stderr, "usage: relais tls check DOMAIN [-c FILE]\n"
		    "       relais tls records DOMAIN [-c FILE]\n"
		    "       relais tls report [--day YYYY-MM-DD|today] "
		    "[--send] [-c FILE]\n");
		return 2;
	}
	for (char *p = pos[1]; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (strcmp(pos[0], "check") == 0)
		return cli_tls_check(path, pos[1]);
	return cli_tls_records(path, pos[1]);
}
