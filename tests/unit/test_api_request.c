/* SPDX-License-Identifier: ISC */
/*
 * test_api_request.c - api_request_parse() and api_addr: every accepted
 * address form, every refused body naming its field (unknown keys,
 * header injection, reserved fields, bad base64, types, tags, metadata,
 * limits at and past them), the 413 code only when size is the sole
 * problem, and a zeroed struct after any error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "mime/api_addr.h"
#include "mime/api_request.h"

static const struct api_limits lim = { .max_rcpts = 5, .max_size = 1000 };

/* a valid body with X spliced in before the closing brace */
#define BODY(x) "{\"from\":\"a@b.example\",\"to\":\"c@d.example\"," \
	"\"text\":\"hi\"" x "}"

struct bad_case {
	const char	*json;
	int		 rc;
	const char	*field;
	const char	*msg;		/* a part of the message */
};

static const struct bad_case bad_cases[] = {
	/* the body as a whole */
	{ "{\"from\":", -1, "", "invalid JSON at line 1" },
	{ "[1,2]", -1, "", "must be a JSON object" },
	{ "{\"from\":\"a@b.example\"} x", -1, "", "invalid JSON" },
	{ "{\"a\":1,\"a\":2}", -1, "", "duplicate" },
	{ "{\"text\":\"\xff\"}", -1, "", "invalid JSON" },
	{ "{\"text\":\"a\\u0000b\"}", -1, "", "invalid JSON" },
	/* unknown keys, including the typo that would drop recipients */
	{ BODY(",\"bcc \":[\"e@f.example\"]"), -1, "bcc ", "unknown field" },
	{ BODY(",\"Cc\":\"e@f.example\""), -1, "Cc", "unknown field" },
	{ BODY(",\"x\\n\":1"), -1, "x?", "unknown field" },
	/* required parts */
	{ "{\"to\":\"c@d.example\",\"text\":\"x\"}", -1, "from", "required" },
	{ "{\"from\":null,\"to\":\"c@d.example\",\"text\":\"x\"}", -1, "from",
	  "required" },
	{ "{\"from\":\"a@b.example\",\"text\":\"x\"}", -1, "to",
	  "at least one recipient" },
	{ "{\"from\":\"a@b.example\",\"to\":[],\"cc\":[],\"text\":\"x\"}", -1,
	  "to", "at least one recipient" },
	{ "{\"from\":\"a@b.example\",\"to\":\"c@d.example\"}", -1, "text",
	  "one of text, html or attachments" },
	/* addresses */
	{ "{\"from\":\"a@b.example\",\"to\":[\"c@d.example\",\"e@f.example\","
	  "\"bad\"],\"text\":\"x\"}", -1, "to[2]", "lacks a domain" },
	{ "{\"from\":\"a@b.example\",\"cc\":[\"c@d..example\"],\"text\":\"x\"}",
	  -1, "cc[0]", "Empty label" },
	{ "{\"from\":\"a@b.example\",\"bcc\":\"j\xc3\xb6rg@d.example\","
	  "\"text\":\"x\"}", -1, "bcc", "SMTPUTF8" },
	{ "{\"from\":\"@r.example:a@b.example\",\"to\":\"c@d.example\","
	  "\"text\":\"x\"}", -1, "from", "Empty local part" },
	{ "{\"from\":\"<@r.example:a@b.example>\",\"to\":\"c@d.example\","
	  "\"text\":\"x\"}", -1, "from", "Source routes" },
	{ "{\"from\":\"Smith, John <a@b.example>\",\"to\":\"c@d.example\","
	  "\"text\":\"x\"}", -1, "from", "must be quoted" },
	{ "{\"from\":\"a@b.example, c@d.example\",\"to\":\"c@d.example\","
	  "\"text\":\"x\"}", -1, "from", "Only one address" },
	{ "{\"from\":\"a@b.example\\r\\nBcc: e@f.example\",\"to\":"
	  "\"c@d.example\",\"text\":\"x\"}", -1, "from", "Control character" },
	{ "{\"from\":\"Name <a@b.example\",\"to\":\"c@d.example\","
	  "\"text\":\"x\"}", -1, "from", "Unterminated" },
	{ "{\"from\":\"undisclosed:;\",\"to\":\"c@d.example\",\"text\":\"x\"}",
	  -1, "from", "Groups" },
	{ "{\"from\":\"a@b.example\",\"to\":\""
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "@d.example\",\"text\":\"x\"}", -1, "to", "Local part too long" },
	{ "{\"from\":\"a@b.example\",\"to\":{\"email\":\"c@d.example\","
	  "\"nmae\":\"x\"},\"text\":\"x\"}", -1, "to.nmae", "unknown field" },
	{ "{\"from\":\"a@b.example\",\"to\":[{\"name\":\"x\"}],\"text\":\"x\"}",
	  -1, "to[0].email", "required" },
	{ "{\"from\":\"a@b.example\",\"to\":[{\"email\":\"X <c@d.example>\"}],"
	  "\"text\":\"x\"}", -1, "to[0].email", "bare address" },
	{ "{\"from\":{\"email\":\"a@b.example\",\"name\":\"a\\nb\"},"
	  "\"to\":\"c@d.example\",\"text\":\"x\"}", -1, "from.name",
	  "Control character" },
	{ "{\"from\":{\"email\":\"a@b.example\",\"name\":7},"
	  "\"to\":\"c@d.example\",\"text\":\"x\"}", -1, "from.name",
	  "expected a string" },
	{ "{\"from\":42,\"to\":\"c@d.example\",\"text\":\"x\"}", -1, "from",
	  "expected an address" },
	{ BODY(",\"reply_to\":[\"e@f.example\"]"), -1, "reply_to",
	  "not a list" },
	{ "{\"from\":\"a@b.example\",\"to\":[\"1@d.example\",\"2@d.example\","
	  "\"3@d.example\"],\"cc\":[\"4@d.example\"],\"bcc\":[\"5@d.example\","
	  "\"6@d.example\"],\"text\":\"x\"}", -1, "bcc", "too many recipients" },
	/* subject */
	{ BODY(",\"subject\":\"a\\r\\nBcc: e@f.example\""), -1, "subject",
	  "control characters" },
	{ BODY(",\"subject\":\"a\\u0007\""), -1, "subject",
	  "control characters" },
	{ BODY(",\"subject\":[\"x\"]"), -1, "subject", "expected a string" },
	/* header fields: injection, reserved names, bad names */
	{ BODY(",\"headers\":{\"X-A\":\"v\\r\\nBcc: e@f.example\"}"), -1,
	  "headers.X-A", "control characters" },
	{ BODY(",\"headers\":{\"X-A\":\"v\\nX-B: w\"}"), -1, "headers.X-A",
	  "control characters" },
	{ BODY(",\"headers\":{\"X-A\":\"v\\rw\"}"), -1, "headers.X-A",
	  "control characters" },
	{ BODY(",\"headers\":{\"X-B: v\\r\\nBcc\":\"w\"}"), -1,
	  "headers.X-B: v??Bcc", "invalid header field name" },
	{ BODY(",\"headers\":{\"X B\":\"w\"}"), -1, "headers.X B",
	  "invalid header field name" },
	{ BODY(",\"headers\":{\"\":\"w\"}"), -1, "headers.",
	  "invalid header field name" },
	{ BODY(",\"headers\":{\"X-\xc3\xa9\":\"w\"}"), -1, "headers.X-??",
	  "invalid header field name" },
	{ BODY(",\"headers\":{\"Bcc\":\"e@f.example\"}"), -1, "headers.Bcc",
	  "set by relais" },
	{ BODY(",\"headers\":{\"bcc\":\"e@f.example\"}"), -1, "headers.bcc",
	  "set by relais" },
	{ BODY(",\"headers\":{\"Content-Type\":\"text/html\"}"), -1,
	  "headers.Content-Type", "set by relais" },
	{ BODY(",\"headers\":{\"content-transfer-encoding\":\"8bit\"}"), -1,
	  "headers.content-transfer-encoding", "set by relais" },
	{ BODY(",\"headers\":{\"Message-Id\":\"<x@y>\"}"), -1,
	  "headers.Message-Id", "set by relais" },
	{ BODY(",\"headers\":{\"DKIM-Signature\":\"v=1\"}"), -1,
	  "headers.DKIM-Signature", "set by relais" },
	{ BODY(",\"headers\":{\"Received\":\"x\"}"), -1, "headers.Received",
	  "set by relais" },
	{ BODY(",\"headers\":{\"Return-Path\":\"<x@y>\"}"), -1,
	  "headers.Return-Path", "set by relais" },
	{ BODY(",\"headers\":{\"MIME-Version\":\"1.0\"}"), -1,
	  "headers.MIME-Version", "set by relais" },
	{ BODY(",\"headers\":{\"Reply-To\":\"x@y.example\"}"), -1,
	  "headers.Reply-To", "reply_to field" },
	{ BODY(",\"headers\":{\"X-A\":1}"), -1, "headers.X-A",
	  "expected a string" },
	{ BODY(",\"headers\":[\"X-A\"]"), -1, "headers", "expected an object" },
	/* attachments */
	{ BODY(",\"attachments\":{}"), -1, "attachments", "expected a list" },
	{ BODY(",\"attachments\":[1]"), -1, "attachments[0]",
	  "expected an object" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\",\"content\":\"\","
	  "\"size\":1}]"), -1, "attachments[0].size", "unknown field" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\",\"content\":\"\"},"
	  "{\"filename\":\"b\"}]"), -1, "attachments[1].content", "required" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\",\"content\":\"!!!!\"}]"),
	  -1, "attachments[0].content", "invalid base64" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\",\"content\":\"YQ\"}]"),
	  -1, "attachments[0].content", "invalid base64" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\",\"content\":\"YR==\"}]"),
	  -1, "attachments[0].content", "invalid base64" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\",\"content\":1}]"),
	  -1, "attachments[0].content", "base64 string" },
	{ BODY(",\"attachments\":[{\"content\":\"YQ==\"}]"), -1,
	  "attachments[0].filename", "required" },
	{ BODY(",\"attachments\":[{\"filename\":\"../etc/passwd\","
	  "\"content\":\"YQ==\"}]"), -1, "attachments[0].filename",
	  "without /" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\\tb\",\"content\":\"YQ==\"}]"),
	  -1, "attachments[0].filename", "without /, \\ or tabs" },
	{ BODY(",\"attachments\":[{\"filename\":\"\",\"content\":\"YQ==\"}]"),
	  -1, "attachments[0].filename", "not empty" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\\r\\nb\","
	  "\"content\":\"YQ==\"}]"), -1, "attachments[0].filename",
	  "control characters" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\",\"content\":\"YQ==\","
	  "\"content_type\":\"text\"}]"), -1, "attachments[0].content_type",
	  "type/subtype" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\",\"content\":\"YQ==\","
	  "\"content_type\":\"text/plain; charset=utf-8\"}]"), -1,
	  "attachments[0].content_type", "without parameters" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\",\"content\":\"YQ==\","
	  "\"content_type\":\"text/plain\\r\\nBcc: x\"}]"), -1,
	  "attachments[0].content_type", "RFC 2045 tokens" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\",\"content\":\"YQ==\","
	  "\"content_type\":\"multipart/mixed\"}]"), -1,
	  "attachments[0].content_type", "multipart and message" },
	{ BODY(",\"attachments\":[{\"filename\":\"a\",\"content\":\"YQ==\","
	  "\"content_type\":\"message/rfc822\"}]"), -1,
	  "attachments[0].content_type", "multipart and message" },
	{ BODY(",\"attachments\":[{\"content_id\":\"a b\","
	  "\"content\":\"YQ==\"}]"), -1, "attachments[0].content_id",
	  "invalid character" },
	{ BODY(",\"attachments\":[{\"content_id\":\"<>\","
	  "\"content\":\"YQ==\"}]"), -1, "attachments[0].content_id",
	  "1 to 128" },
	/* tags and metadata */
	{ BODY(",\"tags\":\"a\""), -1, "tags", "list of strings" },
	{ BODY(",\"tags\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\","
	  "\"9\",\"10\",\"11\"]"), -1, "tags", "too many tags" },
	{ BODY(",\"tags\":[\"a\",2]"), -1, "tags[1]", "expected a string" },
	{ BODY(",\"tags\":[\"\"]"), -1, "tags[0]", "1 to 128" },
	{ BODY(",\"tags\":[\"a\\tb\"]"), -1, "tags[0]", "control character" },
	{ BODY(",\"metadata\":[]"), -1, "metadata", "expected an object" },
	{ BODY(",\"metadata\":{\"k\":1}"), -1, "metadata.k",
	  "expected a string" },
	{ BODY(",\"metadata\":{\"\":\"v\"}"), -1, "metadata.", "keys are" },
	/* size: 413 only when nothing else is wrong */
	{ "{\"from\":\"a@b.example\",\"to\":\"c@d.example\",\"text\":\""
	  "%TEXT1001%\"}", -2, "", "more than the 1000 allowed" },
	{ "{\"from\":\"a@b.example\",\"to\":\"c@d.example\",\"text\":\""
	  "%TEXT1001%\",\"subject\":\"a\\n\"}", -1, "subject",
	  "control characters" },
};

/* the case's JSON, with %TEXT1001% made 1001 letters */
static char *
case_json(const char *tmpl)
{
	const char *mark = strstr(tmpl, "%TEXT1001%");
	struct buf b;

	buf_init(&b, 0);
	if (mark == NULL)
		buf_puts(&b, tmpl);
	else {
		buf_append(&b, tmpl, (size_t)(mark - tmpl));
		for (int i = 0; i < 1001; i++)
			buf_append(&b, "x", 1);
		buf_puts(&b, mark + 10);
	}
	return buf_steal(&b, NULL);
}

static bool
is_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != 0)
			return false;
	return true;
}

static void
test_api_request_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		char *json = case_json(c->json);
		struct api_request r;
		struct api_error e;
		int rc;

		memset(&r, 0xa5, sizeof(r));
		rc = api_request_parse(json, strlen(json), &lim, &r, &e);
		if (rc != c->rc || strcmp(e.field, c->field) != 0 ||
		    strstr(e.msg, c->msg) == NULL)
			fail_msg("case %zu %s: got %d field '%s' msg '%s', "
			    "want %d field '%s' msg '...%s...'", i, c->json,
			    rc, e.field, e.msg, c->rc, c->field, c->msg);
		if (!is_zero(&r, sizeof(r)))
			fail_msg("case %zu: struct not zeroed after error", i);
		free(json);
	}
}

static void
test_api_request_full(void **state)
{
	static const char json[] =
	    "{\"from\": \"\\\"Doe, Jane\\\" (the boss) <Jane@Example.ORG>\","
	    " \"reply_to\": {\"email\": \"r@Example.org\", \"name\": null},"
	    " \"to\": [\"c@D.example\", \"J\xc3\xb6rg M\xc3\xbcller "
	    "<j@d.example>\", {\"email\": \"k@d.example\", \"name\": "
	    "\"K, the \\\"kid\\\"\"}],"
	    " \"cc\": {\"email\": \"cc@d.example\"},"
	    " \"bcc\": \"<hidden@d.example>\","
	    " \"subject\": \"Gr\xc3\xbc\xc3\x9f" "e\","
	    " \"text\": \"t\", \"html\": \"<p>h</p>\", \"html\": null,"
	    " \"headers\": {\"X-Campaign\": \"spring\", \"List-Id\": \"<l.x>\"},"
	    " \"attachments\": [{\"filename\": \"a.pdf\", \"content_type\": "
	    "\"Application/PDF\", \"content\": \"JVBE\\nRi0=\"},"
	    " {\"content_id\": \"<logo@x>\", \"content\": \"\"}],"
	    " \"tags\": [\"welcome\", \"t\xc3\xa9st\"],"
	    " \"metadata\": {\"user\": \"42\", \"plan\": \"pro\"}}";
	struct api_request r;
	struct api_error e;

	/* "html" twice is refused: duplicates would hide a value */
	assert_int_equal(api_request_parse(json, strlen(json), &lim, &r, &e),
	    -1);
	assert_string_equal(e.field, "");
	assert_non_null(strstr(e.msg, "duplicate"));
}

static void
test_api_request_good(void **state)
{
	static const char json[] =
	    "{\"from\": \"\\\"Doe, Jane\\\" (the boss) <Jane@Example.ORG>\","
	    " \"reply_to\": {\"email\": \"r@Example.org\", \"name\": null},"
	    " \"to\": [\"c@D.example\", \"J\xc3\xb6rg M\xc3\xbcller "
	    "<j@d.example>\", {\"email\": \"k@d.example\", \"name\": "
	    "\"K, the \\\"kid\\\"\"}],"
	    " \"cc\": {\"email\": \"cc@d.example\"},"
	    " \"bcc\": \"<hidden@d.example>\","
	    " \"subject\": \"Gr\xc3\xbc\xc3\x9f" "e\","
	    " \"text\": \"t\", \"html\": \"<p>h</p>\", \"tags\": null,"
	    " \"headers\": {\"X-Campaign\": \"spring\", \"List-Id\": \"<l.x>\"},"
	    " \"attachments\": [{\"filename\": \"a.pdf\", \"content_type\": "
	    "\"Application/PDF\", \"content\": \"JVBE\\nRi0=\"},"
	    " {\"content_id\": \"<logo@x>\", \"content\": \"\"}],"
	    " \"metadata\": {\"user\": \"42\", \"plan\": \"pro\"}}";
	struct api_request r;
	struct api_error e;

	assert_int_equal(api_request_parse(json, strlen(json), &lim, &r, &e),
	    0);
	assert_string_equal(e.field, "");
	assert_string_equal(r.from.addr, "Jane@example.org");
	assert_string_equal(r.from.name, "Doe, Jane");
	assert_non_null(r.reply_to);
	assert_string_equal(r.reply_to->addr, "r@example.org");
	assert_null(r.reply_to->name);
	assert_int_equal(r.nto, 3);
	assert_string_equal(r.to[0].addr, "c@d.example");
	assert_null(r.to[0].name);
	assert_string_equal(r.to[1].addr, "j@d.example");
	assert_string_equal(r.to[1].name, "J\xc3\xb6rg M\xc3\xbcller");
	assert_string_equal(r.to[2].name, "K, the \"kid\"");
	assert_int_equal(r.ncc, 1);
	assert_string_equal(r.cc[0].addr, "cc@d.example");
	assert_int_equal(r.nbcc, 1);
	assert_string_equal(r.bcc[0].addr, "hidden@d.example");
	assert_string_equal(r.subject, "Gr\xc3\xbc\xc3\x9f" "e");
	assert_string_equal(r.text, "t");
	assert_string_equal(r.html, "<p>h</p>");
	assert_int_equal(r.text_len, 1);
	assert_int_equal(r.html_len, 8);
	assert_int_equal(r.nheaders, 2);
	assert_string_equal(r.headers[0].name, "X-Campaign");
	assert_string_equal(r.headers[0].value, "spring");
	assert_string_equal(r.headers[1].name, "List-Id");
	assert_int_equal(r.natts, 2);
	assert_string_equal(r.atts[0].filename, "a.pdf");
	assert_string_equal(r.atts[0].content_type, "application/pdf");
	assert_int_equal(r.atts[0].len, 5);
	assert_memory_equal(r.atts[0].data, "%PDF-", 5);
	assert_null(r.atts[0].content_id);
	assert_null(r.atts[1].filename);
	assert_string_equal(r.atts[1].content_type, "application/octet-stream");
	assert_string_equal(r.atts[1].content_id, "logo@x");
	assert_int_equal(r.atts[1].len, 0);
	assert_null(r.tags);
	assert_string_equal(r.metadata, "{\"user\":\"42\",\"plan\":\"pro\"}");
	assert_int_equal(r.size, 1 + 8 + 5);
	api_request_fini(&r);
	assert_true(is_zero(&r, sizeof(r)));
	api_request_fini(&r);	/* twice is harmless */
}

static void
test_api_request_tags(void **state)
{
	static const char json[] = BODY(",\"tags\":[\"a\",\"t\xc3\xa9st\","
	    "\"%LONG%\"]");
	char *s = strdup(json), *mark = strstr(s, "%LONG%");
	struct buf b;
	struct api_request r;
	struct api_error e;

	/* 128 characters of two octets each: at the limit */
	buf_init(&b, 0);
	buf_append(&b, s, (size_t)(mark - s));
	for (int i = 0; i < 128; i++)
		buf_puts(&b, "\xc3\xa9");
	buf_puts(&b, mark + 6);
	assert_int_equal(api_request_parse(b.data, b.len, &lim, &r, &e), 0);
	assert_non_null(r.tags);
	assert_int_equal(strncmp(r.tags, "[\"a\",\"t\xc3\xa9st\",\"", 13), 0);
	api_request_fini(&r);
	/* one more is past it */
	buf_reset(&b);
	buf_append(&b, s, (size_t)(mark - s));
	for (int i = 0; i < 129; i++)
		buf_puts(&b, "\xc3\xa9");
	buf_puts(&b, mark + 6);
	assert_int_equal(api_request_parse(b.data, b.len, &lim, &r, &e), -1);
	assert_string_equal(e.field, "tags[2]");
	buf_fini(&b);
	free(s);
}

static void
test_api_request_class(void **state)
{
	static const char *const bad[][2] = {
		{ BODY(",\"priority\":\"urgent\""), "priority" },
		{ BODY(",\"priority\":1"), "priority" },
		{ BODY(",\"priority\":\"HIGH\""), "priority" },
		{ BODY(",\"pool\":\"\""), "pool" },
		{ BODY(",\"pool\":\"a b\""), "pool" },
		{ BODY(",\"pool\":[\"a\"]"), "pool" },
		{ BODY(",\"requiretls\":\"yes\""), "requiretls" },
		{ BODY(",\"requiretls\":1"), "requiretls" },
	};
	static const char good[] = BODY(",\"priority\":\"high\","
	    "\"pool\":\"warm-1.a_b\",\"requiretls\":true");
	static const char normal[] = BODY(",\"priority\":\"normal\","
	    "\"pool\":null,\"requiretls\":false");
	struct api_request r;
	struct api_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(api_request_parse(bad[i][0], strlen(bad[i][0]),
		    &lim, &r, &e), -1);
		assert_string_equal(e.field, bad[i][1]);
	}
	assert_int_equal(api_request_parse(good, strlen(good), &lim, &r, &e),
	    0);
	assert_true(r.priority_high);
	assert_string_equal(r.pool, "warm-1.a_b");
	assert_true(r.requiretls);
	api_request_fini(&r);
	assert_int_equal(api_request_parse(normal, strlen(normal), &lim, &r,
	    &e), 0);
	assert_false(r.priority_high);
	assert_null(r.pool);
	assert_false(r.requiretls);
	api_request_fini(&r);
}

/* each limit at its value and one past */
static void
test_api_request_limits(void **state)
{
	struct api_limits l = { .max_rcpts = 3, .max_size = 10 };
	struct api_request r;
	struct api_error e;
	struct buf b;
	int i;

	/* recipients: 3 in to+cc+bcc is fine, 4 is not */
	static const char three[] = "{\"from\":\"a@b.example\",\"to\":"
	    "[\"1@x.example\"],\"cc\":\"2@x.example\",\"bcc\":[\"3@x.example\"],"
	    "\"text\":\"x\"}";
	static const char four[] = "{\"from\":\"a@b.example\",\"to\":"
	    "[\"1@x.example\",\"4@x.example\"],\"cc\":\"2@x.example\","
	    "\"bcc\":[\"3@x.example\"],\"text\":\"x\"}";
	assert_int_equal(api_request_parse(three, strlen(three), &l, &r, &e),
	    0);
	assert_int_equal(r.nto + r.ncc + r.nbcc, 3);
	api_request_fini(&r);
	assert_int_equal(api_request_parse(four, strlen(four), &l, &r, &e), -1);
	assert_string_equal(e.field, "bcc");

	/* size: text + html + decoded attachments, 10 is fine, 11 is not */
	static const char ten[] = "{\"from\":\"a@b.example\",\"to\":"
	    "\"1@x.example\",\"text\":\"12345\",\"html\":\"123\","
	    "\"attachments\":[{\"filename\":\"f\",\"content\":\"YWI=\"}]}";
	static const char eleven[] = "{\"from\":\"a@b.example\",\"to\":"
	    "\"1@x.example\",\"text\":\"12345\",\"html\":\"123\","
	    "\"attachments\":[{\"filename\":\"f\",\"content\":\"YWJj\"}]}";
	assert_int_equal(api_request_parse(ten, strlen(ten), &l, &r, &e), 0);
	assert_int_equal(r.size, 10);
	api_request_fini(&r);
	assert_int_equal(api_request_parse(eleven, strlen(eleven), &l, &r, &e),
	    API_REQUEST_TOO_LARGE);
	assert_true(is_zero(&r, sizeof(r)));
	assert_int_equal(api_request_body_max(&l), 30 + 65536);

	/* subject: 998 octets fine, 999 not */
	for (int n = 998; n <= 999; n++) {
		buf_init(&b, 0);
		buf_puts(&b, BODY(",\"subject\":\""));
		b.len--;	/* the closing brace */
		for (i = 0; i < n; i++)
			buf_append(&b, "s", 1);
		buf_puts(&b, "\"}");
		assert_int_equal(api_request_parse(b.data, b.len, &lim, &r,
		    &e), n == 998 ? 0 : -1);
		if (n == 999)
			assert_string_equal(e.field, "subject");
		api_request_fini(&r);
		buf_fini(&b);
	}

	/* headers: 50 fine, 51 not; a value of 900 octets fine, 901 not */
	for (int n = 50; n <= 51; n++) {
		buf_init(&b, 0);
		buf_puts(&b, BODY(",\"headers\":{"));
		b.len--;
		for (i = 0; i < n; i++)
			buf_appendf(&b, "%s\"X-H%d\":\"v\"", i ? "," : "", i);
		buf_puts(&b, "}}");
		assert_int_equal(api_request_parse(b.data, b.len, &lim, &r,
		    &e), n == 50 ? 0 : -1);
		if (n == 50)
			assert_int_equal(r.nheaders, 50);
		else
			assert_string_equal(e.field, "headers");
		api_request_fini(&r);
		buf_fini(&b);
	}
	for (int n = 900; n <= 901; n++) {
		buf_init(&b, 0);
		buf_puts(&b, BODY(",\"headers\":{\"X-Long\":\""));
		b.len--;
		for (i = 0; i < n; i++)
			buf_append(&b, i % 10 == 9 ? " " : "v", 1);
		buf_puts(&b, "\"}}");
		assert_int_equal(api_request_parse(b.data, b.len, &lim, &r,
		    &e), n == 900 ? 0 : -1);
		if (n == 901)
			assert_string_equal(e.field, "headers.X-Long");
		api_request_fini(&r);
		buf_fini(&b);
	}

	/* metadata: 20 keys fine, 21 not */
	for (int n = 20; n <= 21; n++) {
		buf_init(&b, 0);
		buf_puts(&b, BODY(",\"metadata\":{"));
		b.len--;
		for (i = 0; i < n; i++)
			buf_appendf(&b, "%s\"k%d\":\"v\"", i ? "," : "", i);
		buf_puts(&b, "}}");
		assert_int_equal(api_request_parse(b.data, b.len, &lim, &r,
		    &e), n == 20 ? 0 : -1);
		if (n == 21)
			assert_string_equal(e.field, "metadata");
		api_request_fini(&r);
		buf_fini(&b);
	}

	/* a body of many small values is refused before jansson builds it */
	buf_init(&b, 0);
	buf_puts(&b, BODY(",\"junk\":["));
	b.len--;
	for (i = 0; i < 5000; i++)
		buf_puts(&b, "0,");
	buf_puts(&b, "0]}");
	assert_int_equal(api_request_parse(b.data, b.len, &lim, &r, &e), -1);
	assert_string_equal(e.field, "");
	assert_non_null(strstr(e.msg, "more JSON values"));
	buf_fini(&b);
}

struct addr_case {
	const char	*in;
	const char	*addr;		/* NULL: refused */
	const char	*name;
};

static const struct addr_case addr_cases[] = {
	{ "a@b.example", "a@b.example", NULL },
	{ "  a@B.Example  ", "a@b.example", NULL },
	{ "<a@b.example>", "a@b.example", NULL },
	{ "A B <a@b.example>", "a@b.example", "A B" },
	{ "J. R. Smith <a@b.example>", "a@b.example", "J. R. Smith" },
	{ "\"Smith, John\" <a@b.example>", "a@b.example", "Smith, John" },
	{ "\"a \\\"q\\\" \\\\ b\" <a@b.example>", "a@b.example",
	  "a \"q\" \\ b" },
	{ "a@b.example (comment (nested))", "a@b.example", NULL },
	{ "(c) Name (d) <a@b.example> (e)", "a@b.example", "Name" },
	{ "J\xc3\xb6rg <a@b.example>", "a@b.example", "J\xc3\xb6rg" },
	{ "=?utf-8?Q?J=C3=B6rg?= <a@b.example>", "a@b.example",
	  "=?utf-8?Q?J=C3=B6rg?=" },
	{ "\"john doe\"@b.example", "\"john doe\"@b.example", NULL },
	{ "<\"a>b\"@b.example>", "\"a>b\"@b.example", NULL },
	{ "a@[192.0.2.1]", "a@[192.0.2.1]", NULL },
	{ "a.b+tag@b.example", "a.b+tag@b.example", NULL },
	{ "", NULL, NULL },
	{ "<>", NULL, NULL },
	{ "a", NULL, NULL },
	{ "a@", NULL, NULL },
	{ "@b.example", NULL, NULL },
	{ "a @b.example", NULL, NULL },
	{ "a@b.example.", NULL, NULL },
	{ ".a@b.example", NULL, NULL },
	{ "a..b@b.example", NULL, NULL },
	{ "a@-b.example", NULL, NULL },
	{ "John Smith a@b.example", NULL, NULL },
	{ "Name <a@b.example> x", NULL, NULL },
	{ "Name <a@b.example", NULL, NULL },
	{ "\"unterminated <a@b.example>", NULL, NULL },
	{ "(unterminated a@b.example", NULL, NULL },
	{ "((((((((((deep)))))))))) a@b.example", NULL, NULL },
	{ "a@b.example\r\n", NULL, NULL },
	{ "N\x01 <a@b.example>", NULL, NULL },
	{ "\xc3 <a@b.example>", NULL, NULL },
	{ "postmaster", NULL, NULL },
	{ "<@r.example:a@b.example>", NULL, NULL },
	{ "a@b.example, c@d.example", NULL, NULL },
	{ "g: a@b.example;", NULL, NULL },
};

static void
test_api_addr_cases(void **state)
{
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]);
	    i++) {
		const struct addr_case *c = &addr_cases[i];
		struct api_addr a = { NULL, NULL };
		const char *why = NULL;
		int rc = api_addr_parse(str_cstr(c->in), &a, &why);

		if (c->addr == NULL) {
			if (rc != -1 || why == NULL || a.addr != NULL)
				fail_msg("'%s': got %d, want -1 with a reason",
				    c->in, rc);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s': got -1 (%s), want 0", c->in, why);
		if (strcmp(a.addr, c->addr) != 0)
			fail_msg("'%s': got addr '%s', want '%s'", c->in,
			    a.addr, c->addr);
		if ((c->name == NULL) != (a.name == NULL) ||
		    (c->name && strcmp(c->name, a.name) != 0))
			fail_msg("'%s': got name '%s', want '%s'", c->in,
			    a.name ? a.name : "(null)",
			    c->name ? c->name : "(null)");
		api_addr_fini(&a);
	}
}

/* the first address of a From: list; the rest is not looked at */
static void
test_api_addr_first(void **state)
{
	struct api_addr a;
	const char *why;

	assert_int_equal(api_addr_parse_first(
	    str_cstr("\"Doe, Jane\" <jane@X.example>, bob@y.example"), &a,
	    &why), 0);
	assert_string_equal(a.addr, "jane@x.example");
	assert_string_equal(a.name, "Doe, Jane");
	api_addr_fini(&a);
	assert_int_equal(api_addr_parse_first(str_cstr("a@b.example ,"), &a,
	    &why), 0);
	api_addr_fini(&a);
	assert_int_equal(api_addr_parse_first(str_cstr("group: a@b.example;"),
	    &a, &why), -1);
	assert_int_equal(api_addr_parse_first(str_cstr(", a@b.example"), &a,
	    &why), -1);
}

/* RFC 5321 lengths through the object form */
static void
test_api_addr_make(void **state)
{
	char local[80], email[400], name[300];
	struct api_addr a;
	const char *why;

	memset(local, 'l', 64);
	local[64] = '\0';
	snprintf(email, sizeof(email), "%s@b.example", local);
	assert_int_equal(api_addr_make(str_cstr(email), NULL, 0, &a, &why), 0);
	api_addr_fini(&a);
	snprintf(email, sizeof(email), "%sl@b.example", local);
	assert_int_equal(api_addr_make(str_cstr(email), NULL, 0, &a, &why), -1);
	/* a name of 256 octets is fine, 257 is not */
	memset(name, 'n', 257);
	assert_int_equal(api_addr_make(str_cstr("a@b.example"), name, 256, &a,
	    &why), 0);
	assert_int_equal(strlen(a.name), 256);
	api_addr_fini(&a);
	assert_int_equal(api_addr_make(str_cstr("a@b.example"), name, 257, &a,
	    &why), -1);
	assert_int_equal(api_addr_make(str_cstr("a@b.example"), "a\tb", 3, &a,
	    &why), -1);
	assert_int_equal(api_addr_make(str_cstr(" a@b.example"), NULL, 0, &a,
	    &why), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api_request_bad),
		cmocka_unit_test(test_api_request_full),
		cmocka_unit_test(test_api_request_good),
		cmocka_unit_test(test_api_request_tags),
		cmocka_unit_test(test_api_request_class),
		cmocka_unit_test(test_api_request_limits),
		cmocka_unit_test(test_api_addr_cases),
		cmocka_unit_test(test_api_addr_first),
		cmocka_unit_test(test_api_addr_make),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
