/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt_report.c - a policy domain's daily TLS-RPT report: JSON (RFC
 * 8460 4.4, with jansson), gzip (zlib), file name (5.1) and mail (5.3);
 * see tlsrpt_report.h.
 *
 * The counts are sorted by policy (type, strings, and the MX host for
 * TLSA), successes first, then by failure details, so one pass makes
 * each policy's entry with its summary and its failure-details, summing
 * rows that say the same thing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <zlib.h>

#include "core/base64.h"
#include "core/xalloc.h"
#include "tlspol/tlsrpt_report.h"

#define TLSRPT_LINE_MAX		998	/* RFC 5322 2.1.1 */
#define TLSRPT_B64_LINE		76
#define TLSRPT_HDR_MAX		320	/* a name or address in a header */
/* a count's string, "" for NULL */
#define S(x)			((x) != NULL ? (x) : "")

const char *
tlsrpt_policy_name(enum tlsrpt_policy p)
{
	switch (p) {
	case TLSRPT_POLICY_STS:
		return "sts";
	case TLSRPT_POLICY_TLSA:
		return "tlsa";
	default:
		return "no-policy-found";
	}
}

static void
tlsrpt_datetime(char *out, size_t n, int64_t t, const char *fmt)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, n, fmt, &tm);
}

void
tlsrpt_report_id(const struct tlsrpt_report_info *ri, char *out, size_t n)
{
	char day[16];

	tlsrpt_datetime(day, sizeof(day), ri->start, "%Y%m%d");
	snprintf(out, n, "%s.%s@%s", ri->uid, day, ri->submitter);
}

void
tlsrpt_filename(const struct tlsrpt_report_info *ri, char *out, size_t n)
{
	snprintf(out, n, "%s!%s!%lld!%lld!%s.json.gz", ri->submitter,
	    ri->policy_domain, (long long)ri->start, (long long)ri->end,
	    ri->uid);
}

/* tlsrpt_str - a JSON string of s; text that is not UTF-8 has its
   octets above 0x7f made '?' (never NULL) */
static json_t *
tlsrpt_str(const char *s)
{
	json_t *j = json_string(s ? s : "");
	char *copy;

	if (j != NULL)
		return j;
	copy = xstrdup(s);
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static json_int_t
tlsrpt_int(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v;
}

static uint64_t
tlsrpt_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* does the count's MX host name its policy (TLSA) */
static bool
tlsrpt_mx_in_policy(const struct tlsrpt_count *c)
{
	return c->policy_type == TLSRPT_POLICY_TLSA;
}

static int
tlsrpt_cmp_policy(const struct tlsrpt_count *a, const struct tlsrpt_count *b)
{
	int r;

	if (a->policy_type != b->policy_type)
		return a->policy_type < b->policy_type ? -1 : 1;
	if ((r = strcmp(S(a->policy), S(b->policy))) != 0)
		return r;
	if (tlsrpt_mx_in_policy(a))
		return strcasecmp(S(a->mx_host), S(b->mx_host));
	return 0;
}

static int
tlsrpt_cmp_failure(const struct tlsrpt_count *a, const struct tlsrpt_count *b)
{
	int r;

	if (a->result != b->result)
		return a->result < b->result ? -1 : 1;
	if ((r = strcmp(S(a->sending_ip), S(b->sending_ip))) != 0 ||
	    (r = strcasecmp(S(a->mx_host), S(b->mx_host))) != 0 ||
	    (r = strcmp(S(a->receiving_ip), S(b->receiving_ip))) != 0)
		return r;
	return strcmp(S(a->detail), S(b->detail));
}

static int
tlsrpt_cmp(const void *x, const void *y)
{
	const struct tlsrpt_count *a = *(const struct tlsrpt_count *const *)x;
	const struct tlsrpt_count *b = *(const struct tlsrpt_count *const *)y;
	int r = tlsrpt_cmp_policy(a, b);

	return r != 0 ? r : tlsrpt_cmp_failure(a, b);
}

/* tlsrpt_policy_obj - "policy" of the group starting with c */
static json_t *
tlsrpt_policy_obj(const struct tlsrpt_count *c, const char *domain)
{
	json_t *p = json_object(), *strings, *mx;
	const char *s = S(c->policy), *nl;

	json_object_set_new(p, "policy-type",
	    json_string(tlsrpt_policy_name(c->policy_type)));
	if (c->policy_type != TLSRPT_POLICY_NONE) {
		strings = json_array();
		mx = json_array();
		while (*s != '\0') {
			size_t len;
			char *line;

			nl = strchr(s, '\n');
			len = nl ? (size_t)(nl - s) : strlen(s);
			line = xstrndup(s, len);
			json_array_append_new(strings, tlsrpt_str(line));
			/* STS: the mx patterns of the policy (RFC 8460
			   4.3 mx-host) */
			if (c->policy_type == TLSRPT_POLICY_STS &&
			    strncasecmp(line, "mx:", 3) == 0) {
				const char *v = line + 3;
				size_t vl;

				while (*v == ' ' || *v == '\t')
					v++;
				vl = strlen(v);
				while (vl > 0 && (v[vl - 1] == ' ' ||
				    v[vl - 1] == '\t' || v[vl - 1] == '\r'))
					vl--;
				if (vl > 0) {
					char *pat = xstrndup(v, vl);

					json_array_append_new(mx,
					    tlsrpt_str(pat));
					free(pat);
				}
			}
			free(line);
			s += len + (nl != NULL);
		}
		if (c->policy_type == TLSRPT_POLICY_TLSA &&
		    S(c->mx_host)[0] != '\0')
			json_array_append_new(mx, tlsrpt_str(c->mx_host));
		json_object_set_new(p, "policy-string", strings);
		json_object_set_new(p, "policy-domain", tlsrpt_str(domain));
		if (json_array_size(mx) > 0)
			json_object_set_new(p, "mx-host", mx);
		else
			json_decref(mx);
	} else {
		json_object_set_new(p, "policy-domain", tlsrpt_str(domain));
	}
	return p;
}

/* tlsrpt_failure_obj - one failure-details entry of count n */
static json_t *
tlsrpt_failure_obj(const struct tlsrpt_count *c, uint64_t n)
{
	json_t *f = json_object();

	json_object_set_new(f, "result-type",
	    json_string(tls_result_name(c->result)));
	if (S(c->sending_ip)[0] != '\0')
		json_object_set_new(f, "sending-mta-ip",
		    tlsrpt_str(c->sending_ip));
	if (S(c->mx_host)[0] != '\0')
		json_object_set_new(f, "receiving-mx-hostname",
		    tlsrpt_str(c->mx_host));
	if (S(c->receiving_ip)[0] != '\0')
		json_object_set_new(f, "receiving-ip",
		    tlsrpt_str(c->receiving_ip));
	json_object_set_new(f, "failed-session-count",
	    json_integer(tlsrpt_int(n)));
	if (S(c->detail)[0] != '\0')
		json_object_set_new(f, "failure-reason-code",
		    tlsrpt_str(c->detail));
	return f;
}

char *
tlsrpt_report_json(const struct tlsrpt_report_info *ri,
    const struct tlsrpt_count *c, size_t n, bool pretty, struct err *err)
{
	const struct tlsrpt_count **v;
	json_t *root, *range, *policies;
	char when[32], id[256];
	size_t nv = 0, i = 0;
	char *text;

	v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t k = 0; k < n; k++)
		if (c[k].policy_domain != NULL &&
		    strcasecmp(c[k].policy_domain, ri->policy_domain) == 0 &&
		    (unsigned)c[k].result < TLS_R_COUNT)
			v[nv++] = &c[k];
	qsort(v, nv, sizeof(*v), tlsrpt_cmp);

	root = json_object();
	json_object_set_new(root, "organization-name",
	    tlsrpt_str(ri->organization));
	range = json_object();
	tlsrpt_datetime(when, sizeof(when), ri->start, "%Y-%m-%dT%H:%M:%SZ");
	json_object_set_new(range, "start-datetime", json_string(when));
	tlsrpt_datetime(when, sizeof(when), ri->end, "%Y-%m-%dT%H:%M:%SZ");
	json_object_set_new(range, "end-datetime", json_string(when));
	json_object_set_new(root, "date-range", range);
	json_object_set_new(root, "contact-info", tlsrpt_str(ri->contact));
	tlsrpt_report_id(ri, id, sizeof(id));
	json_object_set_new(root, "report-id", tlsrpt_str(id));
	policies = json_array();
	while (i < nv) {
		json_t *entry = json_object(), *summary, *details;
		uint64_t ok = 0, failed = 0;
		size_t j = i;

		details = json_array();
		while (j < nv && tlsrpt_cmp_policy(v[i], v[j]) == 0) {
			size_t k = j;
			uint64_t sum = 0;

			/* the rows that say the same thing, summed */
			while (k < nv && tlsrpt_cmp_policy(v[i], v[k]) == 0 &&
			    tlsrpt_cmp_failure(v[j], v[k]) == 0)
				sum = tlsrpt_add(sum, v[k++]->count);
			if (v[j]->result == TLS_R_OK)
				ok = tlsrpt_add(ok, sum);
			else {
				failed = tlsrpt_add(failed, sum);
				json_array_append_new(details,
				    tlsrpt_failure_obj(v[j], sum));
			}
			j = k;
		}
		json_object_set_new(entry, "policy",
		    tlsrpt_policy_obj(v[i], ri->policy_domain));
		summary = json_object();
		json_object_set_new(summary, "total-successful-session-count",
		    json_integer(tlsrpt_int(ok)));
		json_object_set_new(summary, "total-failure-session-count",
		    json_integer(tlsrpt_int(failed)));
		json_object_set_new(entry, "summary", summary);
		if (json_array_size(details) > 0)
			json_object_set_new(entry, "failure-details", details);
		else
			json_decref(details);
		json_array_append_new(policies, entry);
		i = j;
	}
	json_object_set_new(root, "policies", policies);
	free(v);
	text = json_dumps(root, JSON_PRESERVE_ORDER | (pretty ?
	    JSON_INDENT(2) : JSON_COMPACT));
	json_decref(root);
	if (text == NULL)
		err_set(err, 0, "cannot write the report's JSON");
	return text;
}

int
tlsrpt_gzip(const void *in, size_t n, struct buf *out, struct err *err)
{
	z_stream zs;
	size_t bound;
	int rc;

	memset(&zs, 0, sizeof(zs));
	/* 15 + 16: a gzip wrapper around the deflate stream */
	if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return err_set(err, 0, "deflateInit2 failed");
	bound = deflateBound(&zs, (uLong)n) + 32;
	if (n > (size_t)UINT32_MAX || buf_reserve(out, bound) == -1) {
		deflateEnd(&zs);
		return err_set(err, 0, "report too large to compress");
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)n;
	zs.next_out = (Bytef *)out->data + out->len;
	zs.avail_out = (uInt)bound;
	rc = deflate(&zs, Z_FINISH);
	if (rc != Z_STREAM_END) {
		deflateEnd(&zs);
		return err_set(err, 0, "deflate failed (%d)", rc);
	}
	out->len += zs.total_out;
	out->data[out->len] = '\0';
	deflateEnd(&zs);
	return 0;
}

/* tlsrpt_hdr_ok - s may go into a header as it is */
static bool
tlsrpt_hdr_ok(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > TLSRPT_HDR_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int
tlsrpt_report_mail(const struct tlsrpt_mail *m, struct buf *out,
    struct err *err)
{
	const struct tlsrpt_report_info *ri = m->ri;
	char date[64], id[256], fname[1200], boundary[64];
	struct buf b64;
	int rc = 0;

	if (!tlsrpt_hdr_ok(m->from) || !tlsrpt_hdr_ok(ri->submitter) ||
	    !tlsrpt_hdr_ok(ri->policy_domain) || !tlsrpt_hdr_ok(ri->uid) ||
	    m->nto == 0)
		return err_set(err, 0, "a name of the report cannot go into"
		    " a header");
	for (size_t i = 0; i < m->nto; i++)
		if (!tlsrpt_hdr_ok(m->to[i]))
			return err_set(err, 0, "a recipient of the report"
			    " cannot go into a header");
	tlsrpt_datetime(date, sizeof(date), m->now,
	    "%a, %d %b %Y %H:%M:%S +0000");
	tlsrpt_report_id(ri, id, sizeof(id));
	tlsrpt_filename(ri, fname, sizeof(fname));
	/* "=_" never occurs in base64 or in the text part */
	snprintf(boundary, sizeof(boundary), "=_tlsrpt_%s", ri->uid);

	buf_appendf(out, "From: <%s>\r\n", m->from);
	for (size_t i = 0; i < m->nto; i++)
		buf_appendf(out, "%s<%s>%s\r\n", i == 0 ? "To: " : " ",
		    m->to[i], i + 1 < m->nto ? "," : "");
	buf_appendf(out, "Date: %s\r\n", date);
	buf_appendf(out, "Message-ID: <%s>\r\n", id);
	buf_appendf(out, "Subject: Report Domain: %s\r\n Submitter: %s\r\n"
	    " Report-ID: <%s>\r\n", ri->policy_domain, ri->submitter, id);
	buf_appendf(out, "TLS-Report-Domain: %s\r\n", ri->policy_domain);
	buf_appendf(out, "TLS-Report-Submitter: %s\r\n", ri->submitter);
	buf_appendf(out, "TLS-Required: No\r\n");
	buf_appendf(out, "Auto-Submitted: auto-generated\r\n");
	buf_appendf(out, "MIME-Version: 1.0\r\n");
	buf_appendf(out, "Content-Type: multipart/report; report-type=\"tlsrpt\";"
	    "\r\n boundary=\"%s\"\r\n\r\n", boundary);
	buf_appendf(out, "This is a multipart message in MIME format.\r\n\r\n");
	buf_appendf(out, "--%s\r\nContent-Type: text/plain; charset=\"us-ascii\""
	    "\r\nContent-Transfer-Encoding: 7bit\r\n\r\n", boundary);
	buf_appendf(out, "This is an aggregate TLS report from %s\r\n"
	    "for the mail it sent to %s, attached as %s.\r\n\r\n",
	    ri->submitter, ri->policy_domain, fname);
	buf_appendf(out, "--%s\r\nContent-Type: application/tlsrpt+gzip\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment;\r\n filename=\"%s\"\r\n\r\n",
	    boundary, fname);
	buf_init(&b64, 0);
	if (base64_encode(m->gz, m->gzlen, &b64) == -1)
		rc = err_set(err, 0, "cannot encode the report");
	for (size_t i = 0; rc == 0 && i < b64.len; i += TLSRPT_B64_LINE) {
		size_t k = b64.len - i < TLSRPT_B64_LINE ? b64.len - i :
		    TLSRPT_B64_LINE;

		buf_append(out, b64.data + i, k);
		buf_append(out, "\r\n", 2);
	}
	buf_fini(&b64);
	if (buf_appendf(out, "\r\n--%s--\r\n", boundary) == -1 && rc == 0)
		rc = err_set(err, 0, "report message too large");
	return rc;
}
