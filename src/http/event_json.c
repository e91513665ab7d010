/* SPDX-License-Identifier: ISC */
/*
 * event_json.c - a delivery event (struct spool_event) as JSON, and the
 * batch a webhook POST carries; see event_json.h for the shape.
 *
 * Pure: no I/O, no globals. Field names are a table, in the order they
 * are printed. Strings from the spool are mostly ours, but a remote
 * server's reply and an SMTPUTF8 address are bytes from the network:
 * jansson refuses text that is not UTF-8, so such text is repaired (each
 * bad byte becomes U+FFFD) instead of dropping the field or the event.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/utf8.h"
#include "http/event_json.h"

/* the text fields, in output order */
static const struct {
	const char	*name;
	size_t		 off;
} event_json_fields[] = {
	{ "message_id", offsetof(struct spool_event, qid) },
	{ "recipient", offsetof(struct spool_event, rcpt) },
	{ "sender", offsetof(struct spool_event, sender) },
	{ "status", offsetof(struct spool_event, status) },
	{ "reply", offsetof(struct spool_event, reply) },
	{ "relay", offsetof(struct spool_event, relay) },
};

void
event_json_time(int64_t ts, char out[EVENT_JSON_TIME_MAX])
{
	time_t t = (time_t)ts;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, EVENT_JSON_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ",
	    &tm) == 0)
		strcpy(out, "1970-01-01T00:00:00Z");
}

/* event_json_repair - s with every byte that starts no well-formed UTF-8
   sequence replaced by U+FFFD (malloc'd) */
static char *
event_json_repair(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0, k;
	char *out;

	if ((out = malloc(n * 3 + 1)) == NULL)
		return NULL;
	while (i < n) {
		k = p[i] < 0x80 ? 1 : utf8_seq_len(p + i, n - i);
		if (k > 0) {
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		memcpy(out + o, "\xef\xbf\xbd", 3);
		o += 3;
		i++;
	}
	out[o] = '\0';
	return out;
}

/* event_json_string - s as a JSON string, repaired if need be */
static json_t *
event_json_string(const char *s)
{
	json_t *j;
	char *fixed;

	if ((j = json_string(s)) != NULL)
		return j;
	if ((fixed = event_json_repair(s)) == NULL)
		return NULL;
	j = json_string(fixed);
	free(fixed);
	return j;
}

/* event_json_parsed - stored JSON text of the expected type, or NULL */
static json_t *
event_json_parsed(const char *text, json_type type)
{
	json_t *j;

	if (text == NULL || (j = json_loads(text, JSON_DECODE_ANY |
	    JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return NULL;
	if (json_typeof(j) != type) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* event_json_set - obj[name] = v unless v is NULL; -1 out of memory */
static int
event_json_set(json_t *obj, const char *name, json_t *v)
{
	if (v == NULL)
		return 0;
	return json_object_set_new(obj, name, v);
}

json_t *
event_json(const struct spool_event *ev)
{
	char when[EVENT_JSON_TIME_MAX];
	json_t *obj;
	int r = 0;

	if ((obj = json_object()) == NULL)
		return NULL;
	event_json_time(ev->ts, when);
	r |= json_object_set_new(obj, "id", json_integer(ev->id));
	if (ev->type != NULL)
		r |= json_object_set_new(obj, "type",
		    event_json_string(ev->type));
	r |= json_object_set_new(obj, "timestamp", json_string(when));
	for (size_t i = 0; i < sizeof(event_json_fields) /
	    sizeof(event_json_fields[0]); i++) {
		const char *s = *(const char *const *)(const void *)
		    ((const char *)ev + event_json_fields[i].off);

		if (s != NULL)
			r |= json_object_set_new(obj, event_json_fields[i].name,
			    event_json_string(s));
	}
	r |= event_json_set(obj, "tags", event_json_parsed(ev->tags,
	    JSON_ARRAY));
	r |= event_json_set(obj, "metadata", event_json_parsed(ev->metadata,
	    JSON_OBJECT));
	if (r != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

char *
event_json_batch(json_t *events, size_t *len)
{
	json_t *obj;
	char *text;

	if (events == NULL)
		return NULL;
	if ((obj = json_object()) == NULL) {
		json_decref(events);
		return NULL;
	}
	if (json_object_set_new(obj, "events", events) == -1) {
		json_decref(obj);
		return NULL;
	}
	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (text != NULL)
		*len = strlen(text);
	return text;
}
