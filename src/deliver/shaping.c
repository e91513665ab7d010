/* SPDX-License-Identifier: ISC */
/*
 * shaping.c - the arithmetic of traffic shaping; see shaping.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver/shaping.h"

/* a ramp past this many messages a day is no limit any more */
#define SHAPING_WARMUP_CAP	100000000.0

static int
shaping_strcmp(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

void
shaping_site_name(const struct conf *conf, const char *domain,
    const char *const *mx, size_t nmx, char *out, size_t outlen)
{
	const struct conf_site *s = conf_site_find(conf, domain, mx, nmx);
	const char **v;
	size_t o = 0;

	if (s != NULL && strcmp(s->name, "default") != 0) {
		snprintf(out, outlen, "%s", s->name);
		return;
	}
	if (nmx == 0) {
		snprintf(out, outlen, "%s", domain);
		return;
	}
	v = calloc(nmx, sizeof(*v));
	if (v == NULL) {
		snprintf(out, outlen, "%s", mx[0]);
		return;
	}
	memcpy(v, mx, nmx * sizeof(*v));
	qsort(v, nmx, sizeof(*v), shaping_strcmp);
	out[0] = '\0';
	for (size_t i = 0; i < nmx && o + 1 < outlen; i++) {
		/* the same host twice (two preferences) counts once */
		if (i > 0 && strcasecmp(v[i], v[i - 1]) == 0)
			continue;
		o += (size_t)snprintf(out + o, outlen - o, "%s%s",
		    o > 0 ? "," : "", v[i]);
	}
	if (o >= outlen)
		out[outlen - 1] = '\0';
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	free(v);
}

void
shaping_limits(const struct conf *conf, const char *site,
    struct shaping_limits *out)
{
	const struct conf_site *s = NULL;

	for (size_t i = 0; i < conf->nsites && s == NULL; i++)
		if (strcasecmp(conf->sites[i].name, site) == 0)
			s = &conf->sites[i];
	if (s == NULL)
		s = conf_site_find(conf, NULL, NULL, 0);	/* default */
	memset(out, 0, sizeof(*out));
	out->connection_limit = conf->relay.max_connections_per_domain;
	out->idle_timeout = 5;
	if (s == NULL) {
		if (out->connection_limit == 0)
			out->connection_limit = 1;
		return;
	}
	if (s->connection_limit > 0)
		out->connection_limit = s->connection_limit;
	if (out->connection_limit == 0)
		out->connection_limit = 1;
	if (s->max_message_rate.count > 0 && s->max_message_rate.period > 0)
		out->rate = (double)s->max_message_rate.count /
		    (double)s->max_message_rate.period;
	out->max_deliveries = s->max_deliveries_per_connection;
	out->max_rcpts = s->max_recipients_per_message;
	if (s->idle_timeout > 0)
		out->idle_timeout = s->idle_timeout;
	out->pool = s->pool;
	out->rule = s->name;
}

const struct conf_backoff *
shaping_rule(const struct conf *conf, int code, const char *status,
    const char *text)
{
	char line[600];

	snprintf(line, sizeof(line), "%d %s%s%s", code, status ? status : "",
	    status && status[0] ? " " : "", text ? text : "");
	for (size_t i = 0; i < conf->nbackoffs; i++) {
		const struct conf_backoff *b = &conf->backoffs[i];

		if (b->re_ok && regexec(&b->re, line, 0, NULL, 0) == 0)
			return b;
	}
	return NULL;
}

double
shaping_cut(const struct conf_backoff *b, double rate, double measured)
{
	double base = rate > 0 ? rate : measured, r;

	if (base <= 0)
		base = 1.0;
	r = base * (double)(b->rate_factor ? b->rate_factor : 50) / 100.0;
	return r < 1.0 / 60.0 ? 1.0 / 60.0 : r;
}

double
shaping_lift(const struct conf_backoff *b, double rate, double ref,
    double configured)
{
	double step = ref * (double)(b->rate_increase ? b->rate_increase :
	    10) / 100.0;

	if (rate <= 0)
		return 0;
	rate += step > 1.0 / 60.0 ? step : 1.0 / 60.0;
	if (rate >= ref)
		return configured > 0 ? configured : 0;
	return rate;
}

uint64_t
shaping_warmup_allowance(const struct conf_pool *pool, int64_t now)
{
	double a;
	int64_t day;

	if (pool == NULL || pool->warmup_start == 0)
		return UINT64_MAX;
	if (now < pool->warmup_day0)
		day = 0;
	else
		day = (now - pool->warmup_day0) / 86400;
	a = (double)pool->warmup_start;
	for (int64_t i = 0; i < day && a < SHAPING_WARMUP_CAP; i++)
		a *= 1.0 + (double)pool->warmup_growth / 100.0;
	if (a >= SHAPING_WARMUP_CAP)
		return UINT64_MAX;
	return (uint64_t)a;
}
