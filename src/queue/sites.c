/* SPDX-License-Identifier: ISC */
/*
 * sites.c - destination sites in the queue: names and reasons an
 * operator gives, and the agent's reports written to the spool through
 * the queue manager; see sites.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/utf8.h"
#include "core/xalloc.h"
#include "queue/qmgr.h"
#include "queue/sites.h"
#include "spool/spool.h"

bool
sites_name(const char *in, char *out, size_t n)
{
	size_t len;

	if (in == NULL || n < SITES_NAME_MAX)
		return false;
	len = strlen(in);
	if (len == 0 || len >= SITES_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= 0x20 || c >= 0x7f || strchr("/\"\\()", c) != NULL)
			return false;
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[len] = '\0';
	return true;
}

void
sites_reason(const char *in, char *out, size_t n)
{
	size_t i = 0, max = n < SITES_REASON_MAX ? n : SITES_REASON_MAX;

	if (n == 0)
		return;
	while (in != NULL && in[i] != '\0' && i + 1 < max) {
		unsigned char c = (unsigned char)in[i];
		size_t seq;

		if (c < 0x80) {
			out[i] = c < 0x20 || c == 0x7f || c == '"' ? ' ' :
			    (char)c;
			i++;
			continue;
		}
		seq = utf8_seq_len((const unsigned char *)in + i,
		    strlen(in + i));
		if (seq == 0) {
			out[i++] = '?';
			continue;
		}
		if (i + seq + 1 > max)
			break;
		memcpy(out + i, in + i, seq);
		i += seq;
	}
	out[i] = '\0';
}

enum sites_kind
sites_state(const struct spool_site *s, int64_t now, char *out, size_t n)
{
	char when[32];
	struct tm tm;
	time_t t;

	if (s->suspended_until > now) {
		t = (time_t)s->suspended_until;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(out, n, "suspended until %s (%s)%s%s", when,
		    s->manual ? "manual" : "auto", s->reason && s->reason[0] ?
		    " " : "", s->reason ? s->reason : "");
		return SITES_SUSPENDED;
	}
	if (s->rate > 0 && (s->rate_max <= 0 || s->rate < s->rate_max)) {
		if (s->rate_max > 0)
			snprintf(out, n, "rate %g/s of %g/s", s->rate,
			    s->rate_max);
		else
			snprintf(out, n, "rate %g/s", s->rate);
		return SITES_THROTTLED;
	}
	snprintf(out, n, "active");
	return SITES_ACTIVE;
}

/* sites_put - on the queue manager's thread: the row, in its batch */
static int
sites_put(struct qmgr_txn *t, void *arg, struct err *err)
{
	const struct remote_site_state *st = arg;
	struct spool_site s;

	memset(&s, 0, sizeof(s));
	s.site = st->site;
	s.suspended_until = st->suspended_until;
	s.manual = st->manual;
	s.reason = st->reason;
	s.rate = st->rate;
	s.rate_max = st->rate_max;
	s.updated = qmgr_txn_now(t);
	return spool_site_put(qmgr_txn_spool(t), &s, err);
}

static void
sites_put_done(void *arg, int status)
{
	struct remote_site_state *st = arg;

	if (status != 0)
		log_warnx("event=site.store site=%s error=\"not stored\"",
		    st->site);
	free(st);
}

void
sites_report(void *arg, const struct remote_site_state *st)
{
	struct qmgr *q = arg;
	struct remote_site_state *copy;
	bool suspended = st->suspended_until > (int64_t)time(NULL);

	if (st->site[0] == '\0' || memchr(st->site, '\0',
	    sizeof(st->site)) == NULL)
		return;
	metrics_site_set(st->site, suspended, st->rate);
	copy = xmalloc(sizeof(*copy));
	*copy = *st;
	copy->reason[sizeof(copy->reason) - 1] = '\0';
	qmgr_call_lazy(q, sites_put, sites_put_done, copy);
}

int
sites_act_run(struct qmgr_txn *t, void *arg, struct err *err)
{
	const struct sites_act *a = arg;

	if (spool_site_operator(qmgr_txn_spool(t), a->site, a->until,
	    a->reason, qmgr_txn_now(t), err) == -1)
		return -1;
	qmgr_txn_sites_changed(t);
	return 0;
}
