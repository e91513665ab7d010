/* SPDX-License-Identifier: ISC */
/*
 * api_request.c - the JSON body of POST /v1/messages; see api_request.h.
 *
 * Pure: no I/O, no globals (the key table is constant). jansson parses
 * (rejecting duplicate keys, invalid UTF-8 and \u0000); before it does,
 * a scan counts the body's values and refuses a body with more than the
 * request could need, so a few megabytes of "[0,0,0,..." cannot become
 * hundreds of megabytes of jansson nodes. Then one function per key,
 * found in a table, checks its value and fills the struct; the first
 * problem ends the parse with the field's name ("to[2]",
 * "attachments[0].content", "headers.X-Foo") and a reason. Field and
 * reason are printable ASCII, whatever the client sent, so the caller
 * can put them in a JSON answer or a log line as they are.
 *
 * The struct is filled as the parse goes and every list's count only
 * grows once its entry is whole, so api_request_fini frees a half-done
 * request; on any error it does, and the caller sees a zeroed struct.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/base64.h"
#include "core/utf8.h"
#include "core/xalloc.h"
#include "mime/api_request.h"
#include "mime/mime_header.h"

/* values a body may hold: per recipient, and for everything else */
#define API_REQUEST_VALUES_PER_RCPT	8
#define API_REQUEST_VALUES_BASE		4096
#define API_REQUEST_VALUES_NOLIMIT	200000

struct api_request_ctx {
	const struct api_limits	*lim;
	struct api_error	*e;
	struct api_request	*r;
	size_t			 nrcpts;
};

typedef int api_request_key_fn(struct api_request_ctx *c, json_t *v);

static api_request_key_fn api_request_from, api_request_reply_to,
    api_request_to, api_request_cc, api_request_bcc, api_request_subject,
    api_request_text, api_request_html, api_request_headers,
    api_request_attachments, api_request_tags, api_request_metadata,
    api_request_priority, api_request_pool, api_request_requiretls;
static int api_request_addr(struct api_request_ctx *c, json_t *v,
    const char *field, struct api_addr *out);
static int api_request_addrs(struct api_request_ctx *c, json_t *v,
    const char *key, struct api_addr **list, size_t *n);
static int api_request_att(struct api_request_ctx *c, json_t *v, size_t i,
    struct api_attachment *a);
static int api_request_content(struct api_request_ctx *c, json_t *v,
    const char *field, struct api_attachment *a);
static int api_request_ctype(struct api_request_ctx *c, json_t *v,
    const char *field, struct api_attachment *a);
static int api_request_cid(struct api_request_ctx *c, json_t *v,
    const char *field, struct api_attachment *a);
static int api_request_string(struct api_request_ctx *c, json_t *v,
    const char *field, size_t max, bool line, char **out);
static int api_request_only_keys(struct api_request_ctx *c, json_t *obj,
    const char *field, const char *const *keys, size_t nkeys);
static bool api_request_has_ctl(const char *s, size_t n, bool tab_ok);
static size_t api_request_values(const char *json, size_t len);
static char *api_request_dump(json_t *v);
static int api_request_fail(struct api_error *e, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void api_request_ascii(char *s);

static const struct api_request_key {
	const char		*name;
	api_request_key_fn	*parse;
} api_request_keys[] = {
	{ "from",		api_request_from },
	{ "reply_to",		api_request_reply_to },
	{ "to",			api_request_to },
	{ "cc",			api_request_cc },
	{ "bcc",		api_request_bcc },
	{ "subject",		api_request_subject },
	{ "text",		api_request_text },
	{ "html",		api_request_html },
	{ "headers",		api_request_headers },
	{ "attachments",	api_request_attachments },
	{ "tags",		api_request_tags },
	{ "metadata",		api_request_metadata },
	{ "priority",		api_request_priority },
	{ "pool",		api_request_pool },
	{ "requiretls",		api_request_requiretls },
};

/* api_request_parse - JSON body to struct; see api_request.h */
int
api_request_parse(const char *json, size_t len, const struct api_limits *lim,
    struct api_request *out, struct api_error *e)
{
	struct api_request_ctx c = { lim, e, out, 0 };
	const size_t nkeys = sizeof(api_request_keys) /
	    sizeof(api_request_keys[0]);
	size_t max_values, i;
	json_error_t jerr;
	const char *key;
	json_t *root, *v;
	int rc = API_REQUEST_INVALID;

	memset(out, 0, sizeof(*out));
	memset(e, 0, sizeof(*e));
	max_values = lim->max_rcpts ? lim->max_rcpts *
	    API_REQUEST_VALUES_PER_RCPT + API_REQUEST_VALUES_BASE :
	    API_REQUEST_VALUES_NOLIMIT;
	if (api_request_values(json, len) > max_values)
		return api_request_fail(e, "",
		    "the body holds more JSON values than a message needs");
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return api_request_fail(e, "",
		    "invalid JSON at line %d column %d: %s", jerr.line,
		    jerr.column, jerr.text);
	if (!json_is_object(root)) {
		api_request_fail(e, "", "the body must be a JSON object");
		goto out;
	}
	json_object_foreach(root, key, v) {
		for (i = 0; i < nkeys; i++)
			if (strcmp(key, api_request_keys[i].name) == 0)
				break;
		if (i == nkeys) {
			api_request_fail(e, key, "unknown field");
			goto out;
		}
		if (json_is_null(v))
			continue;
		if (api_request_keys[i].parse(&c, v) == -1)
			goto out;
	}
	if (out->from.addr == NULL) {
		api_request_fail(e, "from", "required");
		goto out;
	}
	if (c.nrcpts == 0) {
		api_request_fail(e, "to",
		    "at least one recipient (to, cc or bcc) is required");
		goto out;
	}
	if (out->text == NULL && out->html == NULL && out->natts == 0) {
		api_request_fail(e, "text",
		    "one of text, html or attachments is required");
		goto out;
	}
	if (lim->max_size && out->size > lim->max_size) {
		api_request_fail(e, "", "the message content is %zu octets, "
		    "more than the %zu allowed", out->size, lim->max_size);
		rc = API_REQUEST_TOO_LARGE;
		goto out;
	}
	rc = API_REQUEST_OK;
out:
	json_decref(root);
	if (rc != API_REQUEST_OK)
		api_request_fini(out);
	return rc;
}

size_t
api_request_body_max(const struct api_limits *lim)
{
	if (lim->max_size == 0)
		return 0;
	if (lim->max_size > (SIZE_MAX - 65536) / 3)
		return SIZE_MAX;
	return lim->max_size * 3 + 65536;
}

void
api_request_fini(struct api_request *r)
{
	size_t i;

	if (r == NULL)
		return;
	api_addr_fini(&r->from);
	if (r->reply_to != NULL)
		api_addr_fini(r->reply_to);
	free(r->reply_to);
	for (i = 0; i < r->nto; i++)
		api_addr_fini(&r->to[i]);
	free(r->to);
	for (i = 0; i < r->ncc; i++)
		api_addr_fini(&r->cc[i]);
	free(r->cc);
	for (i = 0; i < r->nbcc; i++)
		api_addr_fini(&r->bcc[i]);
	free(r->bcc);
	free(r->subject);
	free(r->text);
	free(r->html);
	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	for (i = 0; i < r->natts; i++) {
		free(r->atts[i].filename);
		free(r->atts[i].content_type);
		free(r->atts[i].data);
		free(r->atts[i].content_id);
	}
	free(r->atts);
	free(r->tags);
	free(r->metadata);
	free(r->pool);
	memset(r, 0, sizeof(*r));
}

static int
api_request_from(struct api_request_ctx *c, json_t *v)
{
	return api_request_addr(c, v, "from", &c->r->from);
}

static int
api_request_reply_to(struct api_request_ctx *c, json_t *v)
{
	struct api_addr a;

	if (json_is_array(v))
		return api_request_fail(c->e, "reply_to",
		    "expected one address, not a list");
	if (api_request_addr(c, v, "reply_to", &a) == -1)
		return -1;
	c->r->reply_to = xmalloc(sizeof(*c->r->reply_to));
	*c->r->reply_to = a;
	return 0;
}

static int
api_request_to(struct api_request_ctx *c, json_t *v)
{
	return api_request_addrs(c, v, "to", &c->r->to, &c->r->nto);
}

static int
api_request_cc(struct api_request_ctx *c, json_t *v)
{
	return api_request_addrs(c, v, "cc", &c->r->cc, &c->r->ncc);
}

static int
api_request_bcc(struct api_request_ctx *c, json_t *v)
{
	return api_request_addrs(c, v, "bcc", &c->r->bcc, &c->r->nbcc);
}

static int
api_request_subject(struct api_request_ctx *c, json_t *v)
{
	return api_request_string(c, v, "subject", API_REQUEST_SUBJECT_MAX,
	    true, &c->r->subject);
}

static int
api_request_text(struct api_request_ctx *c, json_t *v)
{
	if (api_request_string(c, v, "text", 0, false, &c->r->text) == -1)
		return -1;
	c->r->text_len = json_string_length(v);
	c->r->size += c->r->text_len;
	return 0;
}

static int
api_request_html(struct api_request_ctx *c, json_t *v)
{
	if (api_request_string(c, v, "html", 0, false, &c->r->html) == -1)
		return -1;
	c->r->html_len = json_string_length(v);
	c->r->size += c->r->html_len;
	return 0;
}

/* api_request_headers - {"Name": "value"}: no field relais sets, no
   line break in a value */
static int
api_request_headers(struct api_request_ctx *c, json_t *v)
{
	struct api_request *r = c->r;
	char field[64];
	const char *name;
	json_t *value;

	if (!json_is_object(v))
		return api_request_fail(c->e, "headers",
		    "expected an object of name: value");
	if (json_object_size(v) > API_REQUEST_HEADERS_MAX)
		return api_request_fail(c->e, "headers",
		    "too many header fields (at most %d)",
		    API_REQUEST_HEADERS_MAX);
	r->headers = xcalloc(json_object_size(v), sizeof(*r->headers));
	json_object_foreach(v, name, value) {
		struct api_header *h = &r->headers[r->nheaders];

		snprintf(field, sizeof(field), "headers.%s", name);
		if (!mime_header_name_ok(name, strlen(name)))
			return api_request_fail(c->e, field,
			    "invalid header field name (printable ASCII "
			    "without ':', at most %d characters)",
			    MIME_HEADER_NAME_MAX);
		if (strcasecmp(name, "Reply-To") == 0)
			return api_request_fail(c->e, field,
			    "set Reply-To with the reply_to field");
		if (mime_header_reserved(name, strlen(name)))
			return api_request_fail(c->e, field,
			    "this header field is set by relais, not by "
			    "the request");
		if (api_request_string(c, value, field,
		    API_REQUEST_HEADER_VALUE_MAX, true, &h->value) == -1)
			return -1;
		h->name = xstrdup(name);
		r->nheaders++;
	}
	return 0;
}

static int
api_request_attachments(struct api_request_ctx *c, json_t *v)
{
	struct api_request *r = c->r;
	size_t i, n;

	if (!json_is_array(v))
		return api_request_fail(c->e, "attachments",
		    "expected a list of attachments");
	if ((n = json_array_size(v)) > API_REQUEST_ATTS_MAX)
		return api_request_fail(c->e, "attachments",
		    "too many attachments (at most %d)", API_REQUEST_ATTS_MAX);
	r->atts = xcalloc(n, sizeof(*r->atts));
	for (i = 0; i < n; i++) {
		if (api_request_att(c, json_array_get(v, i), i,
		    &r->atts[i]) == -1)
			return -1;
		r->natts++;
		r->size += r->atts[i].len;
	}
	return 0;
}

/* api_request_att - one attachment object; a is freed on error */
static int
api_request_att(struct api_request_ctx *c, json_t *v, size_t i,
    struct api_attachment *a)
{
	static const char *const keys[] = { "filename", "content_type",
	    "content", "content_id" };
	char field[64];
	json_t *m;
	size_t k;

	snprintf(field, sizeof(field), "attachments[%zu]", i);
	if (!json_is_object(v))
		return api_request_fail(c->e, field, "expected an object");
	if (api_request_only_keys(c, v, field, keys, 4) == -1)
		return -1;
	if ((m = json_object_get(v, "content_id")) != NULL &&
	    !json_is_null(m)) {
		snprintf(field, sizeof(field), "attachments[%zu].content_id",
		    i);
		if (api_request_cid(c, m, field, a) == -1)
			goto fail;
	}
	snprintf(field, sizeof(field), "attachments[%zu].filename", i);
	if ((m = json_object_get(v, "filename")) != NULL && !json_is_null(m)) {
		if (api_request_string(c, m, field, API_REQUEST_FILENAME_MAX,
		    true, &a->filename) == -1)
			goto fail;
		k = strlen(a->filename);
		if (k == 0 || strpbrk(a->filename, "/\\\t") != NULL) {
			api_request_fail(c->e, field, "must be a file name, "
			    "not empty and without /, \\ or tabs");
			goto fail;
		}
	} else if (a->content_id == NULL) {
		api_request_fail(c->e, field,
		    "required (unless content_id is given)");
		goto fail;
	}
	snprintf(field, sizeof(field), "attachments[%zu].content_type", i);
	if (api_request_ctype(c, json_object_get(v, "content_type"), field,
	    a) == -1)
		goto fail;
	snprintf(field, sizeof(field), "attachments[%zu].content", i);
	if (api_request_content(c, json_object_get(v, "content"), field,
	    a) == -1)
		goto fail;
	return 0;
fail:
	free(a->filename);
	free(a->content_type);
	free(a->data);
	free(a->content_id);
	memset(a, 0, sizeof(*a));
	return -1;
}

/* api_request_content - base64 (padded, line breaks allowed) decoded */
static int
api_request_content(struct api_request_ctx *c, json_t *v, const char *field,
    struct api_attachment *a)
{
	size_t n, cap;

	if (v == NULL || json_is_null(v))
		return api_request_fail(c->e, field, "required");
	if (!json_is_string(v))
		return api_request_fail(c->e, field,
		    "expected a base64 string");
	n = json_string_length(v);
	cap = n / 4 * 3 + 3;
	a->data = xmalloc(cap);
	if (base64_decode(str_make(json_string_value(v), n),
	    BASE64_STRICT | BASE64_SKIP_BLANKS, a->data, cap, &a->len) == -1)
		return api_request_fail(c->e, field,
		    "invalid base64 (RFC 4648, padded)");
	return 0;
}

/*
 * api_request_ctype - "type/subtype" of RFC 2045 tokens, lower-cased;
 * application/octet-stream when absent. No parameters; no multipart or
 * message type (RFC 2046 5.1, 5.2.1: they may not be base64-encoded).
 */
static int
api_request_ctype(struct api_request_ctx *c, json_t *v, const char *field,
    struct api_attachment *a)
{
	const char *s, *slash;
	size_t i, n;

	if (v == NULL || json_is_null(v)) {
		a->content_type = xstrdup("application/octet-stream");
		return 0;
	}
	if (!json_is_string(v))
		return api_request_fail(c->e, field, "expected a string");
	s = json_string_value(v);
	n = json_string_length(v);
	slash = memchr(s, '/', n);
	if (n > API_REQUEST_CTYPE_MAX || slash == NULL || slash == s ||
	    slash == s + n - 1)
		return api_request_fail(c->e, field,
		    "expected type/subtype, like application/pdf");
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (s + i == slash)
			continue;
		if (ch <= 32 || ch >= 127 || strchr("()<>@,;:\\\"/[]?=", ch))
			return api_request_fail(c->e, field,
			    "expected type/subtype of RFC 2045 tokens, "
			    "without parameters");
	}
	if (strncasecmp(s, "multipart/", 10) == 0 ||
	    strncasecmp(s, "message/", 8) == 0)
		return api_request_fail(c->e, field,
		    "multipart and message types cannot be attachments");
	a->content_type = xstrndup(s, n);
	for (i = 0; i < n; i++)
		if (a->content_type[i] >= 'A' && a->content_type[i] <= 'Z')
			a->content_type[i] += 'a' - 'A';
	return 0;
}

/* api_request_cid - a Content-ID: atext, "." and "@"; <> dropped */
static int
api_request_cid(struct api_request_ctx *c, json_t *v, const char *field,
    struct api_attachment *a)
{
	const char *s;
	size_t i, n;

	if (!json_is_string(v))
		return api_request_fail(c->e, field, "expected a string");
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	if (n == 0 || n > API_REQUEST_CID_MAX)
		return api_request_fail(c->e, field,
		    "must be 1 to %d characters", API_REQUEST_CID_MAX);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == 0 || !((ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("!#$%&'*+-/=?^_`{|}~.@", ch)))
			return api_request_fail(c->e, field,
			    "invalid character (letters, digits, . @ and "
			    "!#$%%&'*+-/=?^_`{|}~ only)");
	}
	a->content_id = xstrndup(s, n);
	return 0;
}

/* api_request_priority - "high" or "normal" */
static int
api_request_priority(struct api_request_ctx *c, json_t *v)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	if (s != NULL && strcmp(s, "high") == 0)
		c->r->priority_high = true;
	else if (s != NULL && strcmp(s, "normal") == 0)
		c->r->priority_high = false;
	else
		return api_request_fail(c->e, "priority",
		    "expected \"high\" or \"normal\"");
	return 0;
}

/* api_request_pool - a [pool] name: letters, digits, . _ - (whether the
   configuration has it is the caller's to check) */
static int
api_request_pool(struct api_request_ctx *c, json_t *v)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	size_t n = s ? json_string_length(v) : 0;

	if (s == NULL || n == 0 || n > API_REQUEST_POOL_MAX)
		return api_request_fail(c->e, "pool", "expected a pool name of"
		    " 1 to %d characters", API_REQUEST_POOL_MAX);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return api_request_fail(c->e, "pool", "invalid"
			    " character (letters, digits, . _ - only)");
	c->r->pool = xstrndup(s, n);
	return 0;
}

/* api_request_requiretls - true or false (RFC 8689 REQUIRETLS) */
static int
api_request_requiretls(struct api_request_ctx *c, json_t *v)
{
	if (!json_is_boolean(v))
		return api_request_fail(c->e, "requiretls",
		    "expected true or false");
	c->r->requiretls = json_is_true(v);
	return 0;
}

/* api_request_tags - at most 10 strings of 1 to 128 characters */
static int
api_request_tags(struct api_request_ctx *c, json_t *v)
{
	char field[64];
	const char *s;
	json_t *t;
	size_t i, j, n, chars;

	if (!json_is_array(v))
		return api_request_fail(c->e, "tags",
		    "expected a list of strings");
	if (json_array_size(v) > API_REQUEST_TAGS_MAX)
		return api_request_fail(c->e, "tags",
		    "too many tags (at most %d)", API_REQUEST_TAGS_MAX);
	json_array_foreach(v, i, t) {
		snprintf(field, sizeof(field), "tags[%zu]", i);
		if (!json_is_string(t))
			return api_request_fail(c->e, field,
			    "expected a string");
		s = json_string_value(t);
		n = json_string_length(t);
		if (!mime_header_utf8_ok(s, n) ||
		    api_request_has_ctl(s, n, false))
			return api_request_fail(c->e, field,
			    "invalid UTF-8 or a control character");
		for (j = chars = 0; j < n; j++)
			if (((unsigned char)s[j] & 0xc0) != 0x80)
				chars++;
		if (chars == 0 || chars > API_REQUEST_TAG_MAX)
			return api_request_fail(c->e, field,
			    "must be 1 to %d characters", API_REQUEST_TAG_MAX);
	}
	if (json_array_size(v) > 0)
		c->r->tags = api_request_dump(v);
	return 0;
}

/* api_request_metadata - at most 20 keys, string values */
static int
api_request_metadata(struct api_request_ctx *c, json_t *v)
{
	char field[64];
	const char *key;
	json_t *m;
	size_t n;

	if (!json_is_object(v))
		return api_request_fail(c->e, "metadata",
		    "expected an object of key: string");
	if (json_object_size(v) > API_REQUEST_META_MAX)
		return api_request_fail(c->e, "metadata",
		    "too many keys (at most %d)", API_REQUEST_META_MAX);
	json_object_foreach(v, key, m) {
		snprintf(field, sizeof(field), "metadata.%s", key);
		n = strlen(key);
		if (n == 0 || n > API_REQUEST_META_KEY_MAX ||
		    api_request_has_ctl(key, n, false))
			return api_request_fail(c->e, field,
			    "keys are 1 to %d octets without control "
			    "characters", API_REQUEST_META_KEY_MAX);
		if (!json_is_string(m))
			return api_request_fail(c->e, field,
			    "expected a string");
		if (json_string_length(m) > API_REQUEST_META_VALUE_MAX)
			return api_request_fail(c->e, field,
			    "too long (at most %d octets)",
			    API_REQUEST_META_VALUE_MAX);
	}
	if (json_object_size(v) > 0)
		c->r->metadata = api_request_dump(v);
	return 0;
}

/*
 * api_request_addr - an address: a string ("a@b", "Name <a@b>") or an
 * object {"email", "name"}
 */
static int
api_request_addr(struct api_request_ctx *c, json_t *v, const char *field,
    struct api_addr *out)
{
	static const char *const keys[] = { "email", "name" };
	const char *why = NULL;
	char sub[64];
	json_t *email, *name;

	if (json_is_string(v)) {
		if (api_addr_parse(str_make(json_string_value(v),
		    json_string_length(v)), out, &why) == -1)
			return api_request_fail(c->e, field, "%s", why);
		return 0;
	}
	if (!json_is_object(v))
		return api_request_fail(c->e, field, "expected an address: "
		    "\"a@b.example\", \"Name <a@b.example>\" or "
		    "{\"email\": ..., \"name\": ...}");
	if (api_request_only_keys(c, v, field, keys, 2) == -1)
		return -1;
	name = json_object_get(v, "name");
	snprintf(sub, sizeof(sub), "%s.name", field);
	if (name != NULL && !json_is_null(name)) {
		if (!json_is_string(name))
			return api_request_fail(c->e, sub, "expected a string");
		if (api_addr_check_name(json_string_value(name),
		    json_string_length(name), &why) == -1)
			return api_request_fail(c->e, sub, "%s", why);
	} else
		name = NULL;
	email = json_object_get(v, "email");
	snprintf(sub, sizeof(sub), "%s.email", field);
	if (email == NULL || json_is_null(email))
		return api_request_fail(c->e, sub, "required");
	if (!json_is_string(email))
		return api_request_fail(c->e, sub, "expected a string");
	if (api_addr_make(str_make(json_string_value(email),
	    json_string_length(email)), name ? json_string_value(name) : NULL,
	    name ? json_string_length(name) : 0, out, &why) == -1)
		return api_request_fail(c->e, sub, "%s", why);
	return 0;
}

/* api_request_addrs - one address or a list, counted against max_rcpts */
static int
api_request_addrs(struct api_request_ctx *c, json_t *v, const char *key,
    struct api_addr **list, size_t *n)
{
	size_t i, k = json_is_array(v) ? json_array_size(v) : 1;
	char field[64];

	if (c->lim->max_rcpts && k > c->lim->max_rcpts - c->nrcpts)
		return api_request_fail(c->e, key,
		    "too many recipients (at most %zu in to, cc and bcc)",
		    c->lim->max_rcpts);
	*list = xcalloc(k, sizeof(**list));
	if (!json_is_array(v)) {
		if (api_request_addr(c, v, key, &(*list)[0]) == -1)
			return -1;
		*n = 1;
		c->nrcpts++;
		return 0;
	}
	for (i = 0; i < k; i++) {
		snprintf(field, sizeof(field), "%s[%zu]", key, i);
		if (api_request_addr(c, json_array_get(v, i), field,
		    &(*list)[i]) == -1)
			return -1;
		(*n)++;
		c->nrcpts++;
	}
	return 0;
}

/*
 * api_request_string - a JSON string: valid UTF-8 (jansson's promise,
 * checked again), at most max octets (0: any), and with line set no
 * control character but tab
 */
static int
api_request_string(struct api_request_ctx *c, json_t *v, const char *field,
    size_t max, bool line, char **out)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return api_request_fail(c->e, field, "expected a string");
	s = json_string_value(v);
	n = json_string_length(v);
	if (memchr(s, '\0', n) != NULL || !mime_header_utf8_ok(s, n))
		return api_request_fail(c->e, field,
		    "invalid UTF-8 or a NUL character");
	if (max && n > max)
		return api_request_fail(c->e, field,
		    "too long (at most %zu octets)", max);
	if (line && api_request_has_ctl(s, n, true))
		return api_request_fail(c->e, field,
		    "control characters (CR, LF, ...) are not allowed");
	*out = xstrndup(s, n);
	return 0;
}

/* api_request_only_keys - refuse a key of obj not in keys[] */
static int
api_request_only_keys(struct api_request_ctx *c, json_t *obj,
    const char *field, const char *const *keys, size_t nkeys)
{
	char sub[64];
	const char *key;
	json_t *m;
	size_t i;

	json_object_foreach(obj, key, m) {
		for (i = 0; i < nkeys; i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (i == nkeys) {
			snprintf(sub, sizeof(sub), "%s.%s", field, key);
			return api_request_fail(c->e, sub, "unknown field");
		}
	}
	return 0;
}

/* api_request_has_ctl - a C0 control (tab allowed if tab_ok) or DEL */
static bool
api_request_has_ctl(const char *s, size_t n, bool tab_ok)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && !(tab_ok && s[i] == '\t')) ||
		    s[i] == 0x7f)
			return true;
	return false;
}

/*
 * api_request_values - an upper bound of the JSON values in json[0..len):
 * one more than the brackets, braces, commas and colons outside strings
 */
static size_t
api_request_values(const char *json, size_t len)
{
	bool in_str = false;
	size_t i, n = 1;

	for (i = 0; i < len; i++) {
		char ch = json[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"')
			in_str = true;
		else if (ch == '[' || ch == '{' || ch == ',' || ch == ':')
			n++;
	}
	return n;
}

/* api_request_dump - compact JSON text of v, in our allocation */
static char *
api_request_dump(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT), *copy;

	if (s == NULL)
		abort();	/* out of memory: v is strings only */
	copy = xstrdup(s);
	free(s);
	return copy;
}

/*
 * api_request_fail - fill e; field and message are made printable ASCII
 * (a key may hold anything)
 */
static int
api_request_fail(struct api_error *e, const char *field, const char *fmt, ...)
{
	va_list ap;

	snprintf(e->field, sizeof(e->field), "%s", field);
	api_request_ascii(e->field);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	api_request_ascii(e->msg);
	return -1;
}

static void
api_request_ascii(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}
