/* SPDX-License-Identifier: ISC */
/*
 * test_mime_build.c - mime_build() and its parts (rfc2047, qp,
 * mime_header): the header fields and their order, no Bcc ever, RFC 2047
 * words that decode back and fold at 78, display names, Date vectors,
 * the multipart shapes for every mix of text, html, inline parts and
 * attachments, boundaries that dodge the content, base64 and
 * quoted-printable that decode back, RFC 2231 file names, header
 * injection through a struct that never saw api_request_parse, and the
 * line rules (CRLF, 998, 7-bit) on everything built. The readers used to
 * check all this are in mime_check.h, written from the RFCs.
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
#include "core/err.h"
#include "mime/api_request.h"
#include "mime/mime_build.h"
#include "mime/mime_header.h"
#include "mime/qp.h"
#include "mime/rfc2047.h"
#include "mime_check.h"

#define UNIQUE	"0123456789abcdef01234567"

static const struct mime_opts opts = {
	.hostname = "mx.example.org",
	.now = 1700000000,		/* 2023-11-14 22:13:20 UTC */
	.tz_offset_min = 0,
	.unique = UNIQUE,
};

static const struct api_limits lim = { 100, 1 << 20 };

/* parse json into r (must succeed) */
static void
parse(const char *json, struct api_request *r)
{
	struct api_error e;

	if (api_request_parse(json, strlen(json), &lim, r, &e) != 0)
		fail_msg("parse %s: field '%s': %s", json, e.field, e.msg);
}

/* build r into out, which must pass the line rules */
static void
build(const struct api_request *r, struct buf *out)
{
	struct err err;
	const char *why;

	buf_init(out, 1 << 24);
	if (mime_build(r, &opts, out, &err) != 0)
		fail_msg("mime_build: %s", err.msg);
	if ((why = mime_check_lines(out->data, out->len, true)) != NULL ||
	    (why = mime_check_header_syntax(out->data,
	    mime_check_hdr_len(out->data, out->len))) != NULL)
		fail_msg("built message: %s:\n%s", why, out->data);
}

/* the decoded value of header field name (index 0) of msg */
static void
field(const struct buf *msg, const char *name, struct buf *v)
{
	struct buf raw;
	size_t hlen = mime_check_hdr_len(msg->data, msg->len);

	buf_init(&raw, 0);
	if (mime_check_field(msg->data, hlen, name, 0, &raw) == -1)
		fail_msg("no %s: field in\n%s", name, msg->data);
	if (mime_check_2047(raw.data, raw.len, v) == -1)
		fail_msg("%s: does not decode: %s", name, raw.data);
	buf_fini(&raw);
}

/* every line of the header section within the fold width, unless it is
   one unbreakable word */
static void
check_fold(const struct buf *msg, size_t width)
{
	size_t hlen = mime_check_hdr_len(msg->data, msg->len);

	if (mime_check_max_line(msg->data, hlen) > width)
		fail_msg("a header line is longer than %zu:\n%.*s", width,
		    (int)hlen, msg->data);
}

static void
test_mime_build_text_only(void **state)
{
	struct api_request r;
	struct buf m, v;
	struct mime_check_tree t;

	parse("{\"from\":\"Alice <alice@a.example>\",\"to\":[\"b@b.example\","
	    "\"Bob Smith <bob@b.example>\"],\"cc\":\"c@c.example\","
	    "\"bcc\":[\"secret@s.example\"],\"subject\":\"Hello there\","
	    "\"text\":\"line one\\nline two\\r\\nline three\\rend\","
	    "\"headers\":{\"X-Campaign\":\"spring 2024\"}}", &r);
	build(&r, &m);
	buf_init(&v, 0);
	/* the fields, in order, and never Bcc */
	static const char want_hdr[] =
	    "From: Alice <alice@a.example>\r\n"
	    "To: b@b.example, Bob Smith <bob@b.example>\r\n"
	    "Cc: c@c.example\r\n"
	    "Subject: Hello there\r\n"
	    "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	    "Message-ID: <" UNIQUE "@mx.example.org>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "X-Campaign: spring 2024\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "\r\n"
	    "line one\r\nline two\r\nline three\r\nend\r\n";
	assert_string_equal(m.data, want_hdr);
	assert_null(strstr(m.data, "secret"));
	assert_int_equal(mime_check_tree(m.data, m.len, &t), 0);
	assert_string_equal(t.shape, "text/plain");
	api_request_fini(&r);
	buf_fini(&m);
	buf_fini(&v);
}

/* only Bcc recipients: an empty group in To:, the address nowhere */
static void
test_mime_build_bcc_only(void **state)
{
	struct api_request r;
	struct buf m;

	parse("{\"from\":\"a@a.example\",\"bcc\":\"hidden@h.example\","
	    "\"text\":\"x\"}", &r);
	build(&r, &m);
	assert_non_null(strstr(m.data, "\r\nTo: undisclosed-recipients:;\r\n"));
	assert_null(strstr(m.data, "hidden"));
	assert_null(strcasestr(m.data, "bcc"));
	api_request_fini(&r);
	buf_fini(&m);
}

struct text_case {
	const char	*subject;	/* UTF-8 */
	bool		 encoded;	/* written as encoded words */
};

static const struct text_case subject_cases[] = {
	{ "Hello", false },
	{ "", false },
	{ "a  b\tc", false },
	{ "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln", true },
	{ "\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83"
	  "\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83"
	  "\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83"
	  "\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83"
	  "\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83", true },
	{ "\xf0\x9f\x98\x80 emoji \xf0\x9f\x98\x80 at the ends \xf0\x9f\x98\x80",
	  true },
	{ "looks =?utf-8?Q?encoded?= but is not", true },
	{ "a_b=c?d", false },
	{ "A long ASCII subject that goes on and on well past the seventy "
	  "eight columns of a header line, so it has to be folded at its "
	  "spaces, more than once", false },
};

static void
test_mime_build_subject(void **state)
{
	for (size_t i = 0; i < sizeof(subject_cases) / sizeof(subject_cases[0]);
	    i++) {
		const struct text_case *c = &subject_cases[i];
		struct api_request r = { 0 };
		struct buf m, v, raw;
		size_t hlen;

		r.from.addr = "a@a.example";
		r.to = &(struct api_addr){ NULL, "b@b.example" };
		r.nto = 1;
		r.subject = (char *)c->subject;
		r.text = "x";
		r.text_len = 1;
		build(&r, &m);
		buf_init(&v, 0);
		buf_init(&raw, 0);
		field(&m, "Subject", &v);
		hlen = mime_check_hdr_len(m.data, m.len);
		mime_check_field(m.data, hlen, "Subject", 0, &raw);
		if (strcmp(v.data, c->subject) != 0)
			fail_msg("case %zu: decoded '%s', want '%s'", i, v.data,
			    c->subject);
		if ((strstr(raw.data, "=?utf-8?") != NULL) != c->encoded)
			fail_msg("case %zu: raw '%s', want it %sencoded", i,
			    raw.data, c->encoded ? "" : "not ");
		check_fold(&m, 78);
		buf_fini(&m);
		buf_fini(&v);
		buf_fini(&raw);
	}
}

/* a word too long to fold is encoded, and the lines stay short */
static void
test_mime_build_subject_long_word(void **state)
{
	struct api_request r = { 0 };
	char subject[1000];
	struct buf m, v;

	memset(subject, 'w', 998);
	subject[998] = '\0';
	r.from.addr = "a@a.example";
	r.to = &(struct api_addr){ NULL, "b@b.example" };
	r.nto = 1;
	r.subject = subject;
	r.text = "";
	build(&r, &m);
	buf_init(&v, 0);
	field(&m, "Subject", &v);
	assert_string_equal(v.data, subject);
	check_fold(&m, 78);
	buf_fini(&m);
	buf_fini(&v);
}

/* what a struct that skipped api_request_parse holds cannot inject */
static void
test_mime_build_injection(void **state)
{
	struct api_header h[] = {
		{ "X-A", "v\r\nBcc: evil@e.example" },
		{ "X-B", "w\nX-Injected: 1" },
		{ "X-C", "\r\n\r\nbody" },
	};
	struct api_addr to = { "Name\r\nBcc: evil@e.example", "b@b.example" };
	struct api_request r = { 0 };
	struct buf m, v;
	size_t hlen;

	r.from.addr = "a@a.example";
	r.from.name = "x\"\r\nSubject: forged";
	r.to = &to;
	r.nto = 1;
	r.subject = "s\r\nBcc: evil@e.example";
	r.headers = h;
	r.nheaders = 3;
	r.text = "x";
	r.text_len = 1;
	build(&r, &m);
	hlen = mime_check_hdr_len(m.data, m.len);
	assert_int_equal(mime_check_count(m.data, hlen, "Bcc"), 0);
	assert_int_equal(mime_check_count(m.data, hlen, "X-Injected"), 0);
	assert_int_equal(mime_check_count(m.data, hlen, "Subject"), 1);
	assert_null(strstr(m.data, "\r\nBcc"));
	buf_init(&v, 0);
	field(&m, "X-A", &v);
	assert_string_equal(v.data, "v\r\nBcc: evil@e.example");
	field(&m, "Subject", &v);
	assert_string_equal(v.data, "s\r\nBcc: evil@e.example");
	buf_fini(&m);
	buf_fini(&v);

	/* a reserved or malformed field name, a bad address: refused */
	struct err err;
	struct api_header bad[] = { { "Bcc", "x" }, { "X:Y", "x" },
	    { "X Y", "x" }, { "Content-Type", "text/html" } };
	for (size_t i = 0; i < 4; i++) {
		r.headers = &bad[i];
		r.nheaders = 1;
		buf_init(&m, 0);
		assert_int_equal(mime_build(&r, &opts, &m, &err), -1);
		buf_fini(&m);
	}
	r.nheaders = 0;
	to.addr = "b@b.example>\r\nBcc: x@y";
	buf_init(&m, 0);
	assert_int_equal(mime_build(&r, &opts, &m, &err), -1);
	buf_fini(&m);
}

struct name_case {
	const char	*name;
	const char	*raw;		/* the From: field as written, or NULL
					   when encoded */
};

static const struct name_case name_cases[] = {
	{ "Alice", "Alice <a@a.example>" },
	{ "Alice B. Cooper", "\"Alice B. Cooper\" <a@a.example>" },
	{ "Smith, John", "\"Smith, John\" <a@a.example>" },
	{ "a \"q\" \\ b", "\"a \\\"q\\\" \\\\ b\" <a@a.example>" },
	{ "J\xc3\xb6rg M\xc3\xbcller", NULL },
	{ "=?utf-8?Q?x?=", NULL },
	{ "", "a@a.example" },
};

static void
test_mime_build_names(void **state)
{
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]);
	    i++) {
		const struct name_case *c = &name_cases[i];
		struct api_request r = { 0 };
		struct buf m, v, raw;
		size_t hlen;

		r.from.addr = "a@a.example";
		r.from.name = (char *)c->name;
		r.to = &(struct api_addr){ NULL, "b@b.example" };
		r.nto = 1;
		r.text = "x";
		r.text_len = 1;
		build(&r, &m);
		buf_init(&v, 0);
		buf_init(&raw, 0);
		hlen = mime_check_hdr_len(m.data, m.len);
		mime_check_field(m.data, hlen, "From", 0, &raw);
		if (c->raw != NULL && strcmp(raw.data, c->raw) != 0)
			fail_msg("case %zu: From: '%s', want '%s'", i, raw.data,
			    c->raw);
		if (c->raw == NULL) {
			char want[300];

			field(&m, "From", &v);
			snprintf(want, sizeof(want), "%s <a@a.example>",
			    c->name);
			if (strcmp(v.data, want) != 0)
				fail_msg("case %zu: decoded '%s', want '%s'",
				    i, v.data, want);
		}
		buf_fini(&m);
		buf_fini(&v);
		buf_fini(&raw);
	}
}

/* a long list of recipients folds between them */
static void
test_mime_build_fold_list(void **state)
{
	struct api_addr to[30];
	char names[30][32], addrs[30][32];
	struct api_request r = { 0 };
	struct buf m, v;

	for (int i = 0; i < 30; i++) {
		snprintf(names[i], sizeof(names[i]), "Person %d", i);
		snprintf(addrs[i], sizeof(addrs[i]), "p%d@example.org", i);
		to[i] = (struct api_addr){ names[i], addrs[i] };
	}
	r.from.addr = "a@a.example";
	r.to = to;
	r.nto = 30;
	r.text = "x";
	r.text_len = 1;
	build(&r, &m);
	check_fold(&m, 78);
	buf_init(&v, 0);
	field(&m, "To", &v);
	static const char head[] = "Person 0 <p0@example.org>, Person 1 "
	    "<p1@example.org>,";
	assert_int_equal(strncmp(v.data, head, strlen(head)), 0);
	assert_non_null(strstr(v.data, "Person 29 <p29@example.org>"));
	buf_fini(&m);
	buf_fini(&v);
}

static void
test_mime_build_date(void **state)
{
	char d[MIME_HEADER_DATE_SIZE];

	assert_int_equal(mime_header_date(86400, 0, d), 0);
	assert_string_equal(d, "Fri, 2 Jan 1970 00:00:00 +0000");
	assert_int_equal(mime_header_date(1700000000, -300, d), 0);
	assert_string_equal(d, "Tue, 14 Nov 2023 17:13:20 -0500");
	assert_int_equal(mime_header_date(1700000000, 330, d), 0);
	assert_string_equal(d, "Wed, 15 Nov 2023 03:43:20 +0530");
	assert_int_equal(mime_header_date(951782400, 0, d), 0);
	assert_string_equal(d, "Tue, 29 Feb 2000 00:00:00 +0000");
	assert_int_equal(mime_header_date(1700000000, 24 * 60, d), -1);
	assert_int_equal(mime_header_date(1700000000, -24 * 60, d), -1);
	assert_int_equal(mime_header_date(INT64_MAX, 0, d), -1);
	assert_int_equal(mime_header_date(INT64_MIN, 0, d), -1);
}

static void
test_mime_build_opts(void **state)
{
	static const char *const bad_unique[] = { "", "a.b", "a b", "a@b",
	    "0123456789012345678901234567890123456789012345678901234567890"
	    "12345" };
	static const char *const bad_host[] = { "", "a..b", ".a", "a.",
	    "-a.b", "a-.b", "a_b", "a b" };
	struct mime_opts o = opts;
	struct err err;

	assert_int_equal(mime_opts_check(&o, &err), 0);
	for (size_t i = 0; i < 5; i++) {
		o.unique = bad_unique[i];
		if (mime_opts_check(&o, &err) != -1)
			fail_msg("unique '%s' accepted", bad_unique[i]);
	}
	o.unique = UNIQUE;
	for (size_t i = 0; i < 8; i++) {
		o.hostname = bad_host[i];
		if (mime_opts_check(&o, &err) != -1)
			fail_msg("hostname '%s' accepted", bad_host[i]);
	}
	o.hostname = "localhost";
	assert_int_equal(mime_opts_check(&o, &err), 0);
	o.tz_offset_min = 1440;
	assert_int_equal(mime_opts_check(&o, &err), -1);
}

struct shape_case {
	const char	*json;		/* the keys after from and to */
	const char	*shape;
};

#define ATT	"{\"filename\":\"a.pdf\",\"content_type\":\"application/pdf\"," \
		"\"content\":\"JVBERi0=\"}"
#define IMG	"{\"content_id\":\"logo\",\"content_type\":\"image/png\"," \
		"\"content\":\"iVBORw==\"}"

static const struct shape_case shape_cases[] = {
	{ "\"text\":\"t\"", "text/plain" },
	{ "\"html\":\"<p>h</p>\"", "text/html" },
	{ "\"text\":\"t\",\"html\":\"h\"", "alternative(text/plain,text/html)" },
	{ "\"attachments\":[" ATT "]", "application/pdf" },
	{ "\"attachments\":[" ATT "," ATT "]",
	  "mixed(application/pdf,application/pdf)" },
	{ "\"text\":\"t\",\"attachments\":[" ATT "]",
	  "mixed(text/plain,application/pdf)" },
	{ "\"text\":\"t\",\"html\":\"h\",\"attachments\":[" ATT "]",
	  "mixed(alternative(text/plain,text/html),application/pdf)" },
	{ "\"html\":\"h\",\"attachments\":[" IMG "]",
	  "related(text/html,image/png)" },
	{ "\"text\":\"t\",\"html\":\"h\",\"attachments\":[" IMG "]",
	  "alternative(text/plain,related(text/html,image/png))" },
	{ "\"text\":\"t\",\"html\":\"h\",\"attachments\":[" ATT "," IMG ","
	  ATT "]", "mixed(alternative(text/plain,related(text/html,image/png)),"
	  "application/pdf,application/pdf)" },
	/* inline parts with no HTML to refer to them are attachments */
	{ "\"text\":\"t\",\"attachments\":[" IMG "]",
	  "mixed(text/plain,image/png)" },
	{ "\"attachments\":[" IMG "]", "image/png" },
};

static void
test_mime_build_shapes(void **state)
{
	for (size_t i = 0; i < sizeof(shape_cases) / sizeof(shape_cases[0]);
	    i++) {
		struct mime_check_tree t;
		struct api_request r;
		char json[1024];
		struct buf m, v;

		snprintf(json, sizeof(json), "{\"from\":\"a@a.example\","
		    "\"to\":\"b@b.example\",%s}", shape_cases[i].json);
		parse(json, &r);
		build(&r, &m);
		if (mime_check_tree(m.data, m.len, &t) == -1)
			fail_msg("case %zu: does not parse:\n%s", i, m.data);
		if (strcmp(t.shape, shape_cases[i].shape) != 0)
			fail_msg("case %zu: shape %s, want %s", i, t.shape,
			    shape_cases[i].shape);
		/* the boundaries differ and none is a prefix of another */
		for (size_t a = 0; a < t.nboundaries; a++)
			for (size_t b = 0; b < t.nboundaries; b++)
				if (a != b && strncmp(t.boundaries[a],
				    t.boundaries[b],
				    strlen(t.boundaries[a])) == 0)
					fail_msg("case %zu: boundary %s and %s",
					    i, t.boundaries[a], t.boundaries[b]);
		/* each leaf decodes, inline parts carry their Content-ID */
		buf_init(&v, 0);
		for (size_t l = 0; l < t.nleaves; l++) {
			assert_int_equal(mime_check_leaf_body(&t.leaves[l], &v),
			    0);
			if (strcmp(t.leaves[l].ctype, "image/png") == 0) {
				assert_int_equal(v.len, 4);
				assert_memory_equal(v.data, "\x89PNG", 4);
				assert_int_equal(mime_check_field(
				    t.leaves[l].hdr, t.leaves[l].hlen,
				    "Content-ID", 0, &v), 0);
				assert_string_equal(v.data, "<logo>");
			}
			if (strcmp(t.leaves[l].ctype, "application/pdf") == 0)
				assert_memory_equal(v.data, "%PDF-", 5);
		}
		/* and the message-level fields are in the top header only */
		assert_int_equal(mime_check_count(m.data,
		    mime_check_hdr_len(m.data, m.len), "MIME-Version"), 1);
		api_request_fini(&r);
		buf_fini(&m);
		buf_fini(&v);
	}
}

/* content that holds the boundary we would pick gets another one */
static void
test_mime_build_boundary_collision(void **state)
{
	struct api_request r = { 0 };
	struct mime_check_tree t;
	struct buf m, v;
	static const char text[] = "--=_" UNIQUE ".a00\r\n"
	    "--=_" UNIQUE ".A01--\r\nand =_" UNIQUE ".m00 too";

	r.from.addr = "a@a.example";
	r.to = &(struct api_addr){ NULL, "b@b.example" };
	r.nto = 1;
	r.text = (char *)text;
	r.text_len = strlen(text);
	r.html = "<p>=_" UNIQUE ".a02</p>";
	r.html_len = strlen(r.html);
	build(&r, &m);
	assert_int_equal(mime_check_tree(m.data, m.len, &t), 0);
	assert_string_equal(t.shape, "alternative(text/plain,text/html)");
	assert_string_equal(t.boundaries[0], "=_" UNIQUE ".a03");
	buf_init(&v, 0);
	assert_int_equal(mime_check_leaf_body(&t.leaves[0], &v), 0);
	assert_string_equal(v.data, text);
	buf_fini(&m);
	buf_fini(&v);
}

/* text bodies: 7bit when they can, quoted-printable that decodes back */
static void
test_mime_build_text_bodies(void **state)
{
	static const struct {
		const char	*text;
		const char	*cte;
		const char	*decoded;	/* NULL: the text, CRLF'd */
	} cases[] = {
		{ "plain\nascii", "7bit", "plain\r\nascii" },
		{ "caf\xc3\xa9", "quoted-printable", NULL },
		{ "tab\tand trailing space \nx", "7bit",
		  "tab\tand trailing space \r\nx" },
		{ "bell\x07", "quoted-printable", NULL },
		{ "a = b", "7bit", NULL },
		{ "", "7bit", NULL },
	};
	struct api_request r = { 0 };
	struct mime_check_tree t;
	struct buf m, v, cte;

	r.from.addr = "a@a.example";
	r.to = &(struct api_addr){ NULL, "b@b.example" };
	r.nto = 1;
	r.html = "h";		/* a multipart: the leaf ends where the text does */
	r.html_len = 1;
	buf_init(&v, 0);
	buf_init(&cte, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *want = cases[i].decoded ? cases[i].decoded :
		    cases[i].text;

		r.text = (char *)cases[i].text;
		r.text_len = strlen(r.text);
		build(&r, &m);
		assert_int_equal(mime_check_tree(m.data, m.len, &t), 0);
		mime_check_field(t.leaves[0].hdr, t.leaves[0].hlen,
		    "Content-Transfer-Encoding", 0, &cte);
		if (strcmp(cte.data, cases[i].cte) != 0)
			fail_msg("case %zu: %s, want %s", i, cte.data,
			    cases[i].cte);
		assert_int_equal(mime_check_leaf_body(&t.leaves[0], &v), 0);
		if (strcmp(v.data, want) != 0)
			fail_msg("case %zu: decoded '%s', want '%s'", i, v.data,
			    want);
		buf_fini(&m);
	}
	buf_fini(&v);
	buf_fini(&cte);
}

/* quoted-printable on its own: soft breaks, trailing blanks, 76 columns */
static void
test_mime_build_qp(void **state)
{
	static const struct {
		const char *in, *out;
	} vec[] = {
		{ "abc", "abc" },
		{ "a=b", "a=3Db" },
		{ "end ", "end=20" },
		{ "tab\t\nx", "tab=09\r\nx" },
		{ "caf\xc3\xa9", "caf=C3=A9" },
		{ "a\rb\nc\r\nd", "a\r\nb\r\nc\r\nd" },
	};
	struct buf b, d;
	char line[300];

	buf_init(&b, 0);
	buf_init(&d, 0);
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		buf_reset(&b);
		assert_int_equal(qp_encode(vec[i].in, strlen(vec[i].in), &b), 0);
		buf_append(&b, "", 0);
		assert_string_equal(b.data, vec[i].out);
	}
	buf_reset(&b);
	assert_int_equal(qp_encode("x\0y", 3, &b), 0);
	assert_string_equal(buf_cstr(&b), "x=00y");
	/* a 300-octet line of =XX and letters: lines <= 76, decodes back */
	for (size_t i = 0; i < sizeof(line); i++)
		line[i] = i % 7 == 0 ? '=' : i % 5 == 0 ? ' ' : 'a';
	buf_reset(&b);
	assert_int_equal(qp_encode(line, sizeof(line), &b), 0);
	assert_true(mime_check_max_line(b.data, b.len) <= 76);
	assert_int_equal(mime_check_qp(b.data, b.len, &d), 0);
	assert_int_equal(d.len, sizeof(line));
	assert_memory_equal(d.data, line, sizeof(line));
	buf_fini(&b);
	buf_fini(&d);
}

/* RFC 2047 on its own: known vectors, folding from any column */
static void
test_mime_build_rfc2047(void **state)
{
	struct buf b, d;
	size_t col;

	buf_init(&b, 0);
	buf_init(&d, 0);
	col = 8;
	assert_int_equal(rfc2047_encode("caf\xc3\xa9", 5, &col, &b), 0);
	/* B (8) is shorter than Q (9) here */
	assert_string_equal(buf_cstr(&b), " =?utf-8?B?Y2Fmw6k=?=");
	assert_int_equal(col, 8 + strlen(" =?utf-8?B?Y2Fmw6k=?="));
	buf_reset(&b);
	col = 8;
	assert_int_equal(rfc2047_encode("a caf\xc3\xa9!", 8, &col, &b), 0);
	assert_string_equal(buf_cstr(&b), " =?utf-8?Q?a_caf=C3=A9!?=");
	buf_reset(&b);
	col = 8;
	assert_int_equal(rfc2047_encode("\xe2\x82\xac\xe2\x82\xac", 6, &col,
	    &b), 0);
	assert_string_equal(buf_cstr(&b), " =?utf-8?B?4oKs4oKs?=");
	/* from every starting column: lines <= 78, words <= 75, decodes */
	for (size_t start = 0; start < 90; start++) {
		static const char text[] = "\xc3\xa9t\xc3\xa9 \xe2\x98\x83 "
		    "snowman \xf0\x9f\x98\x80 and more and more text to make it "
		    "wrap a few times over the line width, \xc3\xa9\xc3\xa9";

		buf_reset(&b);
		for (size_t k = 0; k < start; k++)
			buf_append(&b, "h", 1);
		col = start;
		assert_int_equal(rfc2047_encode(text, strlen(text), &col, &b),
		    0);
		if (start < 77)
			assert_true(mime_check_max_line(b.data, b.len) <= 78);
		/* unfold and decode what follows the "h"s */
		struct buf u;
		buf_init(&u, 0);
		for (size_t k = start; k < b.len; k++)
			if (b.data[k] != '\r' && b.data[k] != '\n')
				buf_append(&u, b.data + k, 1);
		assert_int_equal(mime_check_2047(u.data, u.len, &d), 0);
		assert_string_equal(d.data, " " "\xc3\xa9t\xc3\xa9 \xe2\x98\x83 "
		    "snowman \xf0\x9f\x98\x80 and more and more text to make it "
		    "wrap a few times over the line width, \xc3\xa9\xc3\xa9");
		buf_fini(&u);
	}
	buf_fini(&b);
	buf_fini(&d);
}

/* file names: quoted ASCII, RFC 2231 for the rest, continuations */
static void
test_mime_build_filenames(void **state)
{
	static const char *const names[] = {
		"report.pdf",
		"with \"quotes\" and \\.txt",
		"\xc3\x9c" "berweisung f\xc3\xbcr M\xc3\xa4rz.txt",
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x95"
		"\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab\xe5\x90\x8d\xe3\x81\xaf"
		"\xe3\x81\xa8\xe3\x81\xa6\xe3\x82\x82\xe9\x95\xb7\xe3\x81\x84"
		"\xe3\x81\xa7\xe3\x81\x99\xe3\x81\xad.pdf",
		"semi;colon=equals'quote%percent.bin",
		"a very long ASCII file name that goes on and on past the "
		"seventy eight columns of a line and then some more.txt",
	};
	struct api_attachment a = { .content_type = "application/octet-stream",
	    .data = (unsigned char *)"x", .len = 1 };
	struct api_request r = { 0 };
	struct mime_check_tree t;
	struct buf m, v, p;

	r.from.addr = "a@a.example";
	r.to = &(struct api_addr){ NULL, "b@b.example" };
	r.nto = 1;
	r.text = "t";
	r.text_len = 1;
	r.atts = &a;
	r.natts = 1;
	buf_init(&v, 0);
	buf_init(&p, 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		a.filename = (char *)names[i];
		build(&r, &m);
		check_fold(&m, 78);
		assert_int_equal(mime_check_tree(m.data, m.len, &t), 0);
		assert_int_equal(t.nleaves, 2);
		assert_int_equal(mime_check_field(t.leaves[1].hdr,
		    t.leaves[1].hlen, "Content-Disposition", 0, &v), 0);
		assert_int_equal(strncmp(v.data, "attachment;", 11), 0);
		if (mime_check_param(v.data, "filename", &p) == -1 ||
		    strcmp(p.data, names[i]) != 0)
			fail_msg("case %zu: filename '%s' from '%s', want '%s'",
			    i, p.data, v.data, names[i]);
		/* the part's header lines are short too */
		if (mime_check_max_line(t.leaves[1].hdr, t.leaves[1].hlen) > 78)
			fail_msg("case %zu: long line in\n%.*s", i,
			    (int)t.leaves[1].hlen, t.leaves[1].hdr);
		buf_fini(&m);
	}
	buf_fini(&v);
	buf_fini(&p);
}

/* binary attachments come back byte for byte, in 76-column lines */
static void
test_mime_build_base64(void **state)
{
	unsigned char data[3001];
	struct api_attachment a[3] = {
		{ "bin", "application/octet-stream", data, sizeof(data), NULL },
		{ "empty", "application/octet-stream", data, 0, NULL },
		{ "one", "application/octet-stream", data, 57, NULL },
	};
	struct api_request r = { 0 };
	struct mime_check_tree t;
	struct buf m, v;
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(data); i++) {
		x = x * 1103515245 + 12345;
		data[i] = (unsigned char)(x >> 16);
	}
	r.from.addr = "a@a.example";
	r.to = &(struct api_addr){ NULL, "b@b.example" };
	r.nto = 1;
	r.atts = a;
	r.natts = 3;
	build(&r, &m);
	assert_int_equal(mime_check_tree(m.data, m.len, &t), 0);
	assert_string_equal(t.shape, "mixed(application/octet-stream,"
	    "application/octet-stream,application/octet-stream)");
	buf_init(&v, 0);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(mime_check_leaf_body(&t.leaves[i], &v), 0);
		assert_int_equal(v.len, a[i].len);
		if (v.len > 0)
			assert_memory_equal(v.data, data, v.len);
	}
	/* 57 octets make exactly one 76-character line */
	assert_int_equal(t.leaves[2].blen, 76);
	buf_fini(&m);
	buf_fini(&v);
}

/* custom fields: ASCII kept, UTF-8 encoded, long ones folded */
static void
test_mime_build_custom_headers(void **state)
{
	char longv[901];
	struct api_header h[] = {
		{ "X-Ascii", "plain =?value?= kept" },
		{ "X-Utf8", "h\xc3\xa9llo w\xc3\xb6rld" },
		{ "X-Long", longv },
		{ "List-Unsubscribe", "<https://example.org/u?id=1>, "
		  "<mailto:u@example.org>" },
	};
	struct api_request r = { 0 };
	struct buf m, v;

	for (size_t i = 0; i < 900; i++)
		longv[i] = i % 12 == 11 ? ' ' : 'v';
	longv[900] = '\0';
	r.from.addr = "a@a.example";
	r.to = &(struct api_addr){ NULL, "b@b.example" };
	r.nto = 1;
	r.text = "t";
	r.text_len = 1;
	r.headers = h;
	r.nheaders = 4;
	build(&r, &m);
	check_fold(&m, 78);
	buf_init(&v, 0);
	assert_int_equal(mime_check_field(m.data, mime_check_hdr_len(m.data,
	    m.len), "X-Ascii", 0, &v), 0);
	assert_string_equal(v.data, "plain =?value?= kept");
	field(&m, "X-Utf8", &v);
	assert_string_equal(v.data, "h\xc3\xa9llo w\xc3\xb6rld");
	field(&m, "X-Long", &v);
	assert_string_equal(v.data, longv);
	field(&m, "List-Unsubscribe", &v);
	assert_string_equal(v.data, h[3].value);
	buf_fini(&m);
	buf_fini(&v);
}

/* a full out: -2, with a reason */
static void
test_mime_build_too_large(void **state)
{
	struct api_request r = { 0 };
	struct err err;
	struct buf m;

	r.from.addr = "a@a.example";
	r.to = &(struct api_addr){ NULL, "b@b.example" };
	r.nto = 1;
	r.text = "some text";
	r.text_len = 9;
	buf_init(&m, 100);
	assert_int_equal(mime_build(&r, &opts, &m, &err), -2);
	assert_non_null(strstr(err.msg, "larger than 100"));
	buf_fini(&m);
	/* and nothing at all is -1 */
	r.text = NULL;
	r.text_len = 0;
	buf_init(&m, 0);
	assert_int_equal(mime_build(&r, &opts, &m, &err), -1);
	buf_fini(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mime_build_text_only),
		cmocka_unit_test(test_mime_build_bcc_only),
		cmocka_unit_test(test_mime_build_subject),
		cmocka_unit_test(test_mime_build_subject_long_word),
		cmocka_unit_test(test_mime_build_injection),
		cmocka_unit_test(test_mime_build_names),
		cmocka_unit_test(test_mime_build_fold_list),
		cmocka_unit_test(test_mime_build_date),
		cmocka_unit_test(test_mime_build_opts),
		cmocka_unit_test(test_mime_build_shapes),
		cmocka_unit_test(test_mime_build_boundary_collision),
		cmocka_unit_test(test_mime_build_text_bodies),
		cmocka_unit_test(test_mime_build_qp),
		cmocka_unit_test(test_mime_build_rfc2047),
		cmocka_unit_test(test_mime_build_filenames),
		cmocka_unit_test(test_mime_build_base64),
		cmocka_unit_test(test_mime_build_custom_headers),
		cmocka_unit_test(test_mime_build_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
