/* SPDX-License-Identifier: ISC */
/*
 * event_json.h - the one JSON shape of a delivery event, for the webhooks
 * and GET /v1/events (docs/api.md, "Webhooks"):
 *
 *   {"id": 42, "type": "delivered", "timestamp": "2024-05-01T12:00:00Z",
 *    "message_id": "QID", "recipient": "bob@example.com",
 *    "sender": "alice@example.org", "status": "2.0.0",
 *    "reply": "250 2.0.0 ok", "relay": "mx.example.com",
 *    "tags": ["welcome"], "metadata": {"user": "42"}}
 *
 * A field whose value is not known is left out (never null). Pure: no
 * I/O; what is returned belongs to the caller.
 */
#ifndef RELAIS_HTTP_EVENT_JSON_H
#define RELAIS_HTTP_EVENT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "spool/spool.h"

/* longest RFC 3339 UTC time event_json_time writes, with its NUL */
#define EVENT_JSON_TIME_MAX	sizeof("-2147483648-12-31T23:59:59Z")

/*
 * event_json - the JSON object of ev (a new reference, NULL only when
 * out of memory). tags and metadata are parsed from the stored JSON text
 * and left out when that text is not an array (tags) or an object
 * (metadata). Text that is not well-formed UTF-8 (a remote server's
 * reply may hold any byte) has each bad byte replaced by U+FFFD.
 */
json_t	*event_json(const struct spool_event *ev);

/*
 * event_json_batch - {"events": events} as compact JSON text: malloc'd,
 * NUL-terminated, its length in *len. Takes over the reference to
 * events (a JSON array of event_json objects); NULL when out of memory.
 */
char	*event_json_batch(json_t *events, size_t *len);

/* event_json_time - unix seconds as RFC 3339 UTC ("...T12:00:00Z") */
void	event_json_time(int64_t ts, char out[EVENT_JSON_TIME_MAX]);

#endif
