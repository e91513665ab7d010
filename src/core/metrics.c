/* SPDX-License-Identifier: ISC */
/*
 * metrics.c - the registry behind metrics.h and its Prometheus text
 * rendering.
 *
 * Values: one array of relaxed atomics per metric, indexed by the label's
 * slot; histograms keep a count per bucket (made cumulative when
 * rendered) and their sum in nanoseconds, so every update is one or two
 * atomic additions. Labels: the listener and domain tables are append
 * only. A new name is written under metrics_lock, then published with a
 * release store of the table's length (and, for domains, of its hash
 * slot); lookups read without a lock, so counting never waits, and a
 * name once given a slot keeps it until metrics_reset. Domains are found
 * through a small open-addressing hash (METRICS_DOMAIN_HASH slots for at
 * most METRICS_DOMAINS_MAX names, so probes stay short even once the
 * table is full and every new domain ends in "other").
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "core/utf8.h"

#define METRICS_NAME_MAX	64	/* listener names, with the NUL */
#define METRICS_DOMAIN_LEN	256	/* domain names, with the NUL */
#define METRICS_DOMAIN_HASH	128	/* power of two > 2 * DOMAINS_MAX */
#define METRICS_SLOTS		(METRICS_DOMAINS_MAX + 1)
_Static_assert(METRICS_TENANTS_MAX < METRICS_SLOTS &&
    METRICS_LISTENERS_MAX < METRICS_SLOTS, "label slots");
#define METRICS_NBUCKETS	14

enum metrics_label {
	METRICS_L_NONE,
	METRICS_L_LISTENER,
	METRICS_L_DOMAIN,
	METRICS_L_TENANT,
};

struct metrics_def {
	const char		*name;
	const char		*type;		/* "counter", "gauge" */
	const char		*help;
	enum metrics_label	 label;
	const char		*extra;		/* a fixed label, or NULL */
};

struct metrics_hist_def {
	const char		*name;
	const char		*help;
	const char		*extra;		/* a fixed label, or NULL */
};

struct metrics_hist {
	_Atomic uint64_t	 bucket[METRICS_NBUCKETS + 1];	/* + +Inf */
	_Atomic uint64_t	 sum_ns;
};

#define METRICS_DOMAIN_HELP \
	" domain: the recipient's domain, the first 64 seen since start;" \
	" later ones are counted as domain=\"other\"."

/* metrics of one family are adjacent: its # HELP and # TYPE come once */
static const struct metrics_def metrics_defs[METRIC__COUNT] = {
	[METRIC_RECEIVED] = { "relais_messages_received_total", "counter",
	    "Messages accepted (250 after DATA or BDAT LAST, the spool commit"
	    " on disk), by listener.", METRICS_L_LISTENER, NULL },
	[METRIC_SESSIONS_TLS] = { "relais_smtp_sessions_total", "counter",
	    "Inbound SMTP sessions that ended, by listener; tls=\"yes\" if a"
	    " TLS handshake (STARTTLS or implicit TLS) completed in the"
	    " session.", METRICS_L_LISTENER, "tls=\"yes\"" },
	[METRIC_SESSIONS_PLAIN] = { "relais_smtp_sessions_total", "counter",
	    NULL, METRICS_L_LISTENER, "tls=\"no\"" },
	[METRIC_DELIVERED] = { "relais_recipients_delivered_total", "counter",
	    "Recipients delivered (locally or to a remote server)."
	    METRICS_DOMAIN_HELP, METRICS_L_DOMAIN, NULL },
	[METRIC_DEFERRED] = { "relais_recipients_deferred_total", "counter",
	    "Delivery attempts deferred (a temporary failure, or the"
	    " destination backing off), per recipient." METRICS_DOMAIN_HELP,
	    METRICS_L_DOMAIN, NULL },
	[METRIC_BOUNCED] = { "relais_recipients_bounced_total", "counter",
	    "Recipients bounced (a permanent failure, or past the queue"
	    " lifetime)." METRICS_DOMAIN_HELP, METRICS_L_DOMAIN, NULL },
	[METRIC_OUT_TLS] = { "relais_outbound_connections_total", "counter",
	    "Outbound SMTP connections made ready for mail (after EHLO,"
	    " STARTTLS and AUTH), over TLS or in clear text. domain: the"
	    " destination (\"[smarthost]\" for the smarthost), the first 64"
	    " seen since start; later ones are counted as domain=\"other\".",
	    METRICS_L_DOMAIN, "tls=\"yes\"" },
	[METRIC_OUT_PLAIN] = { "relais_outbound_connections_total", "counter",
	    NULL, METRICS_L_DOMAIN, "tls=\"no\"" },
	[METRIC_TENANT_MESSAGES] = { "relais_tenant_messages_total",
	    "counter", "Messages of a [tenant] stored in the spool (over SMTP"
	    " AUTH or the HTTP API), by tenant: the configured tenants, the"
	    " first 32 seen since start; later ones are counted as"
	    " tenant=\"other\".", METRICS_L_TENANT, NULL },
	[METRIC_TENANT_RECIPIENTS] = { "relais_tenant_recipients_total",
	    "counter", "Recipients of the messages of a [tenant] stored in"
	    " the spool, by tenant (as relais_tenant_messages_total).",
	    METRICS_L_TENANT, NULL },
	[METRIC_SESSIONS_OPEN] = { "relais_smtp_sessions_open", "gauge",
	    "Inbound SMTP sessions open now, by listener.",
	    METRICS_L_LISTENER, NULL },
	[METRIC_QUEUE_RECIPIENTS] = { "relais_queue_recipients", "gauge",
	    "Recipients not yet delivered or bounced (waiting, in delivery"
	    " or held), counted in the spool every 10 s or less often.",
	    METRICS_L_NONE, NULL },
	[METRIC_QUEUE_OLDEST_AGE] = { "relais_queue_oldest_age_seconds",
	    "gauge", "Age of the oldest message with a recipient not yet"
	    " delivered or bounced (0: none), at the last count.",
	    METRICS_L_NONE, NULL },
};

static const struct metrics_hist_def metrics_hist_defs[METRIC_H__COUNT] = {
	[METRIC_H_SPOOL_COMMIT] = { "relais_spool_commit_seconds",
	    "Group commits of the queue manager that stored or settled"
	    " something: from the body fsyncs to the transaction's COMMIT"
	    " on disk.", NULL },
	[METRIC_H_DNS_A] = { "relais_dns_query_seconds", "DNS queries, from"
	    " the query to its answer or timeout, by record type (A, AAAA,"
	    " MX, TXT, TLSA, PTR, other).", "type=\"A\"" },
	[METRIC_H_DNS_AAAA] = { "relais_dns_query_seconds", NULL,
	    "type=\"AAAA\"" },
	[METRIC_H_DNS_MX] = { "relais_dns_query_seconds", NULL, "type=\"MX\"" },
	[METRIC_H_DNS_TXT] = { "relais_dns_query_seconds", NULL,
	    "type=\"TXT\"" },
	[METRIC_H_DNS_TLSA] = { "relais_dns_query_seconds", NULL,
	    "type=\"TLSA\"" },
	[METRIC_H_DNS_PTR] = { "relais_dns_query_seconds", NULL,
	    "type=\"PTR\"" },
	[METRIC_H_DNS_OTHER] = { "relais_dns_query_seconds", NULL,
	    "type=\"other\"" },
};

/* upper bounds (le) of the buckets, seconds */
static const double metrics_bounds[METRICS_NBUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10,
};

static _Atomic uint64_t	metrics_val[METRIC__COUNT][METRICS_SLOTS];
static struct metrics_hist metrics_hists[METRIC_H__COUNT];

static pthread_mutex_t	metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static char		metrics_listeners[METRICS_LISTENERS_MAX]
			    [METRICS_NAME_MAX];
static _Atomic unsigned	metrics_nlisteners;
static char		metrics_tenants[METRICS_TENANTS_MAX][METRICS_NAME_MAX];
static _Atomic unsigned	metrics_ntenants;
static char		metrics_domains[METRICS_DOMAINS_MAX]
			    [METRICS_DOMAIN_LEN];
static _Atomic unsigned	metrics_ndomains;
/* 0: empty, else 1 + the domain's index */
static _Atomic unsigned	metrics_domain_hash[METRICS_DOMAIN_HASH];

/* destination sites: few changes, so under metrics_lock */
#define METRICS_SITE_LEN	128
static struct metrics_site {
	char		name[METRICS_SITE_LEN];
	bool		suspended;
	double		rate;
}			metrics_sites[METRICS_SITES_MAX];
static unsigned		metrics_nsites;

/* metrics_name_slot - the index of name in a table of names (listeners,
   tenants), or max ("other"); a new name takes the next free index */
static unsigned
metrics_name_slot(char (*names)[METRICS_NAME_MAX], _Atomic unsigned *count,
    unsigned max, const char *name)
{
	unsigned n, i;
	size_t len;

	if (name == NULL || (len = strlen(name)) == 0 ||
	    len >= METRICS_NAME_MAX)
		return max;
	n = atomic_load_explicit(count, memory_order_acquire);
	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	if (n == max)
		return max;
	pthread_mutex_lock(&metrics_lock);
	n = atomic_load_explicit(count, memory_order_relaxed);
	for (; i < n; i++)		/* added meanwhile */
		if (strcmp(names[i], name) == 0)
			break;
	if (i == n && n < max) {
		memcpy(names[n], name, len + 1);
		atomic_store_explicit(count, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&metrics_lock);
	return i;
}

/* metrics_listener_slot - the listener's index, or METRICS_LISTENERS_MAX
   ("other") */
static unsigned
metrics_listener_slot(const char *name)
{
	return metrics_name_slot(metrics_listeners, &metrics_nlisteners,
	    METRICS_LISTENERS_MAX, name);
}

/* metrics_tenant_slot - the tenant's index, or METRICS_TENANTS_MAX */
static unsigned
metrics_tenant_slot(const char *name)
{
	return metrics_name_slot(metrics_tenants, &metrics_ntenants,
	    METRICS_TENANTS_MAX, name);
}

static inline unsigned char
metrics_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* metrics_domain_eq - stored (lower case) against d[0..len), ASCII case
   folded */
static bool
metrics_domain_eq(const char *stored, const char *d, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)stored[i] !=
		    metrics_lower((unsigned char)d[i]))
			return false;
	return stored[len] == '\0';
}

/* metrics_domain_ok - what may become a label: UTF-8, no control */
static bool
metrics_domain_ok(const char *d, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		unsigned char c = (unsigned char)d[i];

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			i++;
			continue;
		}
		if ((n = utf8_seq_len((const unsigned char *)d + i,
		    len - i)) == 0)
			return false;
		i += n;
	}
	return true;
}

/* metrics_domain_find - the hash position of d, with *slot its index or
   METRICS_SLOTS when not there */
static unsigned
metrics_domain_find(const char *d, size_t len, uint32_t h, unsigned *slot)
{
	unsigned pos = h & (METRICS_DOMAIN_HASH - 1), v;

	for (unsigned probe = 0; probe < METRICS_DOMAIN_HASH; probe++) {
		v = atomic_load_explicit(&metrics_domain_hash[pos],
		    memory_order_acquire);
		if (v == 0)
			break;
		if (metrics_domain_eq(metrics_domains[v - 1], d, len)) {
			*slot = v - 1;
			return pos;
		}
		pos = (pos + 1) & (METRICS_DOMAIN_HASH - 1);
	}
	*slot = METRICS_SLOTS;
	return pos;
}

/* metrics_domain_slot - the domain's index (of an address: after its
   last '@'), or METRICS_DOMAINS_MAX ("other") */
static unsigned
metrics_domain_slot(const char *s)
{
	const char *d, *at;
	uint32_t h = 2166136261u;	/* FNV-1a */
	unsigned slot, pos, n;
	size_t len;

	if (s == NULL)
		return METRICS_DOMAINS_MAX;
	d = (at = strrchr(s, '@')) != NULL ? at + 1 : s;
	len = strlen(d);
	if (len > 1 && d[len - 1] == '.')
		len--;			/* the root's dot */
	if (len == 0 || len >= METRICS_DOMAIN_LEN)
		return METRICS_DOMAINS_MAX;
	for (size_t i = 0; i < len; i++)
		h = (h ^ metrics_lower((unsigned char)d[i])) * 16777619u;
	metrics_domain_find(d, len, h, &slot);
	if (slot != METRICS_SLOTS)
		return slot;
	if (atomic_load_explicit(&metrics_ndomains, memory_order_relaxed) ==
	    METRICS_DOMAINS_MAX || !metrics_domain_ok(d, len))
		return METRICS_DOMAINS_MAX;
	pthread_mutex_lock(&metrics_lock);
	pos = metrics_domain_find(d, len, h, &slot);	/* added meanwhile? */
	n = atomic_load_explicit(&metrics_ndomains, memory_order_relaxed);
	if (slot == METRICS_SLOTS && n < METRICS_DOMAINS_MAX) {
		for (size_t i = 0; i < len; i++)
			metrics_domains[n][i] = (char)metrics_lower(
			    (unsigned char)d[i]);
		metrics_domains[n][len] = '\0';
		atomic_store_explicit(&metrics_domain_hash[pos], n + 1,
		    memory_order_release);
		atomic_store_explicit(&metrics_ndomains, n + 1,
		    memory_order_release);
		slot = n;
	}
	pthread_mutex_unlock(&metrics_lock);
	return slot == METRICS_SLOTS ? METRICS_DOMAINS_MAX : slot;
}

static unsigned
metrics_slot(enum metric_id id, const char *label)
{
	switch (metrics_defs[id].label) {
	case METRICS_L_LISTENER:
		return metrics_listener_slot(label);
	case METRICS_L_DOMAIN:
		return metrics_domain_slot(label);
	case METRICS_L_TENANT:
		return metrics_tenant_slot(label);
	default:
		return 0;
	}
}

void
metrics_count(enum metric_id id, const char *label)
{
	if ((unsigned)id >= METRIC__COUNT)
		return;
	atomic_fetch_add_explicit(&metrics_val[id][metrics_slot(id, label)], 1,
	    memory_order_relaxed);
}

void
metrics_add(enum metric_id id, const char *label, uint64_t n)
{
	if ((unsigned)id >= METRIC__COUNT)
		return;
	atomic_fetch_add_explicit(&metrics_val[id][metrics_slot(id, label)], n,
	    memory_order_relaxed);
}

void
metrics_gauge_add(enum metric_id id, const char *label, int64_t delta)
{
	if ((unsigned)id >= METRIC__COUNT)
		return;
	/* two's complement: adding (uint64_t)-1 takes one away */
	atomic_fetch_add_explicit(&metrics_val[id][metrics_slot(id, label)],
	    (uint64_t)delta, memory_order_relaxed);
}

void
metrics_gauge_set(enum metric_id id, const char *label, int64_t v)
{
	if ((unsigned)id >= METRIC__COUNT)
		return;
	atomic_store_explicit(&metrics_val[id][metrics_slot(id, label)],
	    (uint64_t)v, memory_order_relaxed);
}

int64_t
metrics_total(enum metric_id id)
{
	uint64_t sum = 0;

	if ((unsigned)id >= METRIC__COUNT)
		return 0;
	for (unsigned i = 0; i < METRICS_SLOTS; i++)
		sum += atomic_load_explicit(&metrics_val[id][i],
		    memory_order_relaxed);
	return (int64_t)sum;
}

void
metrics_observe(enum metric_hist h, double seconds)
{
	struct metrics_hist *mh;
	unsigned i;

	if ((unsigned)h >= METRIC_H__COUNT)
		return;
	mh = &metrics_hists[h];
	if (!(seconds > 0))		/* negative, or NaN */
		seconds = 0;
	if (seconds > 1e9)		/* the sum stays in range */
		seconds = 1e9;
	for (i = 0; i < METRICS_NBUCKETS; i++)
		if (seconds <= metrics_bounds[i])
			break;
	atomic_fetch_add_explicit(&mh->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&mh->sum_ns, (uint64_t)llround(seconds *
	    1e9), memory_order_relaxed);
}

int64_t
metrics_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
metrics_observe_since(enum metric_hist h, int64_t t0_ns)
{
	metrics_observe(h, (double)(metrics_mono_ns() - t0_ns) / 1e9);
}

void
metrics_site_set(const char *site, bool suspended, double rate)
{
	unsigned i;
	size_t len;

	if (site == NULL || (len = strlen(site)) == 0 ||
	    len >= METRICS_SITE_LEN || !metrics_domain_ok(site, len))
		return;
	if (!(rate >= 0) || rate > 1e12)	/* NaN, negative, absurd */
		rate = 0;
	pthread_mutex_lock(&metrics_lock);
	for (i = 0; i < metrics_nsites; i++)
		if (strcmp(metrics_sites[i].name, site) == 0)
			break;
	if (i == metrics_nsites && i < METRICS_SITES_MAX) {
		memcpy(metrics_sites[i].name, site, len + 1);
		metrics_nsites++;
	}
	if (i < metrics_nsites) {
		metrics_sites[i].suspended = suspended;
		metrics_sites[i].rate = rate;
	}
	pthread_mutex_unlock(&metrics_lock);
}

void
metrics_listener(const char *name)
{
	(void)metrics_listener_slot(name);
}

void
metrics_tenant(const char *name)
{
	(void)metrics_tenant_slot(name);
}

void
metrics_reset(void)
{
	pthread_mutex_lock(&metrics_lock);
	for (unsigned i = 0; i < METRIC__COUNT; i++)
		for (unsigned j = 0; j < METRICS_SLOTS; j++)
			atomic_store(&metrics_val[i][j], 0);
	for (unsigned i = 0; i < METRIC_H__COUNT; i++) {
		for (unsigned j = 0; j <= METRICS_NBUCKETS; j++)
			atomic_store(&metrics_hists[i].bucket[j], 0);
		atomic_store(&metrics_hists[i].sum_ns, 0);
	}
	for (unsigned i = 0; i < METRICS_DOMAIN_HASH; i++)
		atomic_store(&metrics_domain_hash[i], 0);
	atomic_store(&metrics_nlisteners, 0);
	atomic_store(&metrics_ntenants, 0);
	atomic_store(&metrics_ndomains, 0);
	metrics_nsites = 0;
	memset(metrics_sites, 0, sizeof(metrics_sites));
	memset(metrics_listeners, 0, sizeof(metrics_listeners));
	memset(metrics_tenants, 0, sizeof(metrics_tenants));
	memset(metrics_domains, 0, sizeof(metrics_domains));
	pthread_mutex_unlock(&metrics_lock);
}

/* --- rendering ----------------------------------------------------------- */

/* metrics_escape - a label value, with \\, \" and \n escaped */
static int
metrics_escape(struct buf *out, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" :
		    *s == '\n' ? "\\n" : NULL;

		if (esc == NULL)
			continue;
		if (buf_append(out, run, (size_t)(s - run)) == -1 ||
		    buf_puts(out, esc) == -1)
			return -1;
		run = s + 1;
	}
	return buf_append(out, run, (size_t)(s - run));
}

static int
metrics_head(struct buf *out, const char *name, const char *type,
    const char *help)
{
	return buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* metrics_series - name{lname="lval",extra} value; lname NULL: no such
   label */
static int
metrics_series(struct buf *out, const char *name, const char *lname,
    const char *lval, const char *extra, const char *value)
{
	if (buf_puts(out, name) == -1)
		return -1;
	if (lname != NULL || extra != NULL) {
		if (buf_puts(out, "{") == -1)
			return -1;
		if (lname != NULL && (buf_appendf(out, "%s=\"", lname) == -1 ||
		    metrics_escape(out, lval) == -1 ||
		    buf_puts(out, "\"") == -1))
			return -1;
		if (extra != NULL && buf_appendf(out, "%s%s",
		    lname != NULL ? "," : "", extra) == -1)
			return -1;
		if (buf_puts(out, "}") == -1)
			return -1;
	}
	return buf_appendf(out, " %s\n", value);
}

static int
metrics_render_one(struct buf *out, enum metric_id id)
{
	const struct metrics_def *def = &metrics_defs[id];
	bool gauge = def->type[0] == 'g';
	unsigned n = 0, other = 0;
	const char *lname = NULL;
	char value[32];
	uint64_t v;

	if (def->label == METRICS_L_LISTENER) {
		n = atomic_load_explicit(&metrics_nlisteners,
		    memory_order_acquire);
		other = METRICS_LISTENERS_MAX;
		lname = "listener";
	} else if (def->label == METRICS_L_DOMAIN) {
		n = atomic_load_explicit(&metrics_ndomains,
		    memory_order_acquire);
		other = METRICS_DOMAINS_MAX;
		lname = "domain";
} else if (def->label == METRICS_L_TENANT) {
		n = atomic_load_explicit(&metrics_ntenants,
		    memory_order_acquire);
		other = METRICS_TENANTS_MAX;
		lname = "tenant";
	}
	/* every listener, and "other" when it counted something; a domain
	   only once it counted something (a domain seen by one metric
	   would else show as 0 in all the others); for a metric without
	   label, slot 0 */
	for (unsigned i = 0; i <= n; i++) {
		unsigned slot = i < n ? i : other;
		const char *lval = lname == NULL ? NULL : i < n ?
		    (def->label == METRICS_L_LISTENER ? metrics_listeners[i] :
		    def->label == METRICS_L_TENANT ? metrics_tenants[i] :
		    metrics_domains[i]) : "other";

		v = atomic_load_explicit(&metrics_val[id][slot],
		    memory_order_relaxed);
		if (v == 0 && (i == n || def->label == METRICS_L_DOMAIN) &&
		    lname != NULL)
			continue;
		if (gauge)
			snprintf(value, sizeof(value), "%lld",
			    (long long)(int64_t)v);
		else
			snprintf(value, sizeof(value), "%llu",
			    (unsigned long long)v);
		if (metrics_series(out, def->name, lname, lval, def->extra,
		    value) == -1)
			return -1;
	}
	return 0;
}

static int
metrics_render_hist(struct buf *out, enum metric_hist h)
{
	const struct metrics_hist_def *def = &metrics_hist_defs[h];
	struct metrics_hist *mh = &metrics_hists[h];
	const char *x = def->extra ? def->extra : "";
	const char *xsep = def->extra ? "," : "";
	const char *open = def->extra ? "{" : "";
	const char *close = def->extra ? "}" : "";
	uint64_t cum = 0, sum;

	/* cumulative: each bucket counts every observation <= its le */
	for (unsigned i = 0; i <= METRICS_NBUCKETS; i++) {
		cum += atomic_load_explicit(&mh->bucket[i],
		    memory_order_relaxed);
		if ((i < METRICS_NBUCKETS ? buf_appendf(out,
		    "%s_bucket{%s%sle=\"%g\"} %llu\n", def->name, x, xsep,
		    metrics_bounds[i], (unsigned long long)cum) :
		    buf_appendf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n",
		    def->name, x, xsep, (unsigned long long)cum)) == -1)
			return -1;
	}
	sum = atomic_load_explicit(&mh->sum_ns, memory_order_relaxed);
	if (buf_appendf(out, "%s_sum%s%s%s %llu.%09llu\n", def->name, open, x,
	    close, (unsigned long long)(sum / 1000000000),
	    (unsigned long long)(sum % 1000000000)) == -1 ||
	    buf_appendf(out, "%s_count%s%s%s %llu\n", def->name, open, x,
	    close, (unsigned long long)cum) == -1)
		return -1;
	return 0;
}

/* metrics_render_sites - relais_site_suspended and relais_site_rate */
static int
metrics_render_sites(struct buf *out)
{
	char value[32];
	int rc = 0;

	pthread_mutex_lock(&metrics_lock);
	if (metrics_head(out, "relais_site_suspended", "gauge", "1 if the"
	    " destination site is suspended (by the operator, or by a reply"
	    " that asked for it), else 0, as the outbound agent last"
	    " reported. site: the first 64 sites reported since start.") == -1)
		rc = -1;
	for (unsigned i = 0; rc == 0 && i < metrics_nsites; i++)
		if (metrics_series(out, "relais_site_suspended", "site",
		    metrics_sites[i].name, NULL,
		    metrics_sites[i].suspended ? "1" : "0") == -1)
			rc = -1;
	if (rc == 0 && metrics_head(out, "relais_site_rate", "gauge",
	    "Messages per second the outbound agent allows the destination"
	    " site now (0: no limit), as last reported. site: as for"
	    " relais_site_suspended.") == -1)
		rc = -1;
	for (unsigned i = 0; rc == 0 && i < metrics_nsites; i++) {
		snprintf(value, sizeof(value), "%.3f", metrics_sites[i].rate);
		if (metrics_series(out, "relais_site_rate", "site",
		    metrics_sites[i].name, NULL, value) == -1)
			rc = -1;
	}
	pthread_mutex_unlock(&metrics_lock);
	return rc;
}

int
metrics_render(struct buf *out)
{
	const char *last = "";
	char help[256];
	unsigned nd;

	for (unsigned id = 0; id < METRIC__COUNT; id++) {
		const struct metrics_def *def = &metrics_defs[id];

		if (strcmp(def->name, last) != 0 && metrics_head(out,
		    def->name, def->type, def->help) == -1)
			return -1;
		last = def->name;
		if (metrics_render_one(out, id) == -1)
			return -1;
	}
	nd = atomic_load_explicit(&metrics_ndomains, memory_order_acquire);
	snprintf(help, sizeof(help), "Destination domains with a label of"
	    " their own (at most %d; later ones are counted as"
	    " domain=\"other\").", METRICS_DOMAINS_MAX);
	if (metrics_head(out, "relais_metrics_domains", "gauge", help) == -1 ||
	    buf_appendf(out, "relais_metrics_domains %u\n", nd) == -1)
		return -1;
	if (metrics_render_sites(out) == -1)
		return -1;
	last = "";
	for (unsigned h = 0; h < METRIC_H__COUNT; h++) {
		const struct metrics_hist_def *def = &metrics_hist_defs[h];

		if (strcmp(def->name, last) != 0 && metrics_head(out,
		    def->name, "histogram", def->help) == -1)
			return -1;
		last = def->name;
		if (metrics_render_hist(out, h) == -1)
			return -1;
	}
	return 0;
}
