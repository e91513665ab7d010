/* SPDX-License-Identifier: ISC */
/*
 * test_event_json.c - the JSON shape of a delivery event: every field,
 * unknown fields left out (never null), tags and metadata parsed from
 * their stored text (and dropped when that text is not of their type),
 * bytes that are not UTF-8 repaired, RFC 3339 times, and the batch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "http/event_json.h"

/* dump - compact text of j (keys sorted), j released */
static char *
dump(json_t *j)
{
	char *s;

	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	assert_non_null(s);
	return s;
}

static void
expect(const struct spool_event *ev, const char *want)
{
	char *got = dump(event_json(ev));

	if (strcmp(got, want) != 0)
		fail_msg("got  %s\nwant %s", got, want);
	free(got);
}

static void
test_event_json_full(void **state)
{
	struct spool_event ev = {
		.id = 42, .ts = 1714564800, .type = "delivered",
		.qid = "1d3604a1b2c30000", .rcpt = "bob@example.com",
		.sender = "alice@example.org", .status = "2.0.0",
		.reply = "250 2.0.0 Ok: queued", .relay = "mx.example.com",
		.tags = "[\"welcome\",\"eu\"]",
		.metadata = "{\"user\":\"42\",\"n\":1}",
	};

	expect(&ev, "{\"id\":42,\"message_id\":\"1d3604a1b2c30000\","
	    "\"metadata\":{\"n\":1,\"user\":\"42\"},"
	    "\"recipient\":\"bob@example.com\",\"relay\":\"mx.example.com\","
	    "\"reply\":\"250 2.0.0 Ok: queued\","
	    "\"sender\":\"alice@example.org\",\"status\":\"2.0.0\","
	    "\"tags\":[\"welcome\",\"eu\"],"
	    "\"timestamp\":\"2024-05-01T12:00:00Z\",\"type\":\"delivered\"}");
}

/* NULL fields are left out; "" is a value (the null sender) */
static void
test_event_json_omits_null(void **state)
{
	struct spool_event ev = {
		.id = 1, .ts = 0, .type = "received", .qid = "q",
		.rcpt = "bob@example.com", .sender = "", .relay = "mx",
	};

	expect(&ev, "{\"id\":1,\"message_id\":\"q\","
	    "\"recipient\":\"bob@example.com\",\"relay\":\"mx\","
	    "\"sender\":\"\",\"timestamp\":\"1970-01-01T00:00:00Z\","
	    "\"type\":\"received\"}");
}

/* stored text of the wrong type, or no JSON at all: left out */
static void
test_event_json_bad_tags_metadata(void **state)
{
	static const struct {
		const char *tags, *metadata, *want;
	} cases[] = {
		{ "{\"a\":1}", "[1]", "" },
		{ "not json", "{", "" },
		{ "\"x\"", "3", "" },
		{ "[]", "{}", ",\"metadata\":{},\"tags\":[]" },
		{ "[1,{\"b\":null}]", NULL, ",\"tags\":[1,{\"b\":null}]" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spool_event ev = {
			.id = 7, .ts = 86400, .type = "bounced", .qid = "q",
			.tags = cases[i].tags, .metadata = cases[i].metadata,
		};
		char want[256], *got;

		snprintf(want, sizeof(want), "{\"id\":7,\"message_id\":\"q\"%s,"
		    "\"timestamp\":\"1970-01-02T00:00:00Z\","
		    "\"type\":\"bounced\"}", cases[i].want);
		got = dump(event_json(&ev));
		if (strcmp(got, want) != 0)
			fail_msg("case %zu: got %s, want %s", i, got, want);
		free(got);
	}
}

/* a remote reply with bytes that are not UTF-8: each becomes U+FFFD,
   well-formed UTF-8 stays */
static void
test_event_json_repairs_utf8(void **state)
{
	struct spool_event ev = {
		.id = 3, .ts = 0, .type = "deferred", .qid = "q",
		.rcpt = "j\xc3\xb6rg@b\xc3\xbc" "cher.example",
		.reply = "451 \xff\xfe caf\xc3\xa9 \xc3(",
	};
	json_t *j = event_json(&ev);

	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "reply")),
	    "451 \xef\xbf\xbd\xef\xbf\xbd caf\xc3\xa9 \xef\xbf\xbd(");
	assert_string_equal(json_string_value(json_object_get(j,
	    "recipient")), ev.rcpt);
	json_decref(j);
}

static void
test_event_json_time(void **state)
{
	static const struct {
		int64_t ts;
		const char *want;
	} cases[] = {
		{ 0, "1970-01-01T00:00:00Z" },
		{ 951782400, "2000-02-29T00:00:00Z" },
		{ 1714564800, "2024-05-01T12:00:00Z" },
		{ 4102444799, "2099-12-31T23:59:59Z" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[EVENT_JSON_TIME_MAX];

		event_json_time(cases[i].ts, out);
		assert_string_equal(out, cases[i].want);
	}
}

static void
test_event_json_batch(void **state)
{
	struct spool_event ev = {
		.id = 9, .ts = 0, .type = "expired", .qid = "q",
	};
	json_t *arr = json_array();
	size_t len = 0;
	char *text;

	assert_int_equal(json_array_append_new(arr, event_json(&ev)), 0);
	ev.id = 10;
	assert_int_equal(json_array_append_new(arr, event_json(&ev)), 0);
	text = event_json_batch(arr, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	/* the fields in the documented order */
	assert_string_equal(text, "{\"events\":["
	    "{\"id\":9,\"type\":\"expired\",\"timestamp\":"
	    "\"1970-01-01T00:00:00Z\",\"message_id\":\"q\"},"
	    "{\"id\":10,\"type\":\"expired\",\"timestamp\":"
	    "\"1970-01-01T00:00:00Z\",\"message_id\":\"q\"}]}");
	free(text);
	text = event_json_batch(json_array(), &len);
	assert_string_equal(text, "{\"events\":[]}");
	free(text);
	assert_null(event_json_batch(NULL, &len));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_json_full),
		cmocka_unit_test(test_event_json_omits_null),
		cmocka_unit_test(test_event_json_bad_tags_metadata),
		cmocka_unit_test(test_event_json_repairs_utf8),
		cmocka_unit_test(test_event_json_time),
		cmocka_unit_test(test_event_json_batch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
