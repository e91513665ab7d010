/* SPDX-License-Identifier: ISC */
/*
 * api_stats.c - GET /v1/stats: the few figures the status page polls.
 * The delivery counters since start (core/metrics.c, every label
 * summed: the page turns two readings into rates per minute), the
 * queue gauges the queue manager sets, and the newest event's id (where
 * the page starts reading GET /v1/events). Small and cheap: one indexed
 * max() on the spool's read connection.
 */
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "http/event_json.h"
#include "http/http_int.h"
#include "spool/spool.h"

/* the counters shown, as named in the answer */
static const struct {
	const char	*name;
	enum metric_id	 id;
} api_stats_counters[] = {
	{ "received", METRIC_RECEIVED },
	{ "delivered", METRIC_DELIVERED },
	{ "deferred", METRIC_DEFERRED },
	{ "bounced", METRIC_BOUNCED },
};

void
api_stats(struct http_req *r)
{
	char now[EVENT_JSON_TIME_MAX];
	int64_t last;
	struct err err;
	json_t *j;

	if (spool_reader_events_last(r->h->rd, &last, &err) == -1) {
		log_error("event=http.query error=\"%s\"", err.msg);
		http_reply_error(r, 500, NULL, "cannot read the events");
		return;
	}
	event_json_time((int64_t)time(NULL), now);
	j = json_pack("{s:s, s:I, s:{s:I, s:I}}", "time", now,
	    "events_last", (json_int_t)last, "queue",
	    "recipients", (json_int_t)metrics_total(METRIC_QUEUE_RECIPIENTS),
	    "oldest_age", (json_int_t)metrics_total(METRIC_QUEUE_OLDEST_AGE));
	for (size_t i = 0; j != NULL && i < sizeof(api_stats_counters) /
	    sizeof(api_stats_counters[0]); i++)
		json_object_set_new(j, api_stats_counters[i].name,
		    json_integer(metrics_total(api_stats_counters[i].id)));
	if (j == NULL) {
		http_reply_error(r, 500, NULL, "out of memory");
		return;
	}
	http_reply_json(r, 200, j);
}
