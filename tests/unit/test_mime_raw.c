/* SPDX-License-Identifier: ISC */
/*
 * test_mime_raw.c - mime_raw_prepare(): line ends made CRLF, the errors
 * (lone CR, NUL, a line past 998 octets, no header section, malformed
 * fields, no or two From:) with their line numbers, From's first address
 * returned, Date: and Message-ID: added only when missing, Bcc: fields
 * with their continuation lines removed, and 413 when out is full.
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
#include "mime/mime_raw.h"
#include "mime_check.h"

#define UNIQUE	"0123456789abcdef01234567"

static const struct mime_opts opts = {
	.hostname = "mx.example.org",
	.now = 1700000000,
	.tz_offset_min = 0,
	.unique = UNIQUE,
};

#define DATE	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
#define MSGID	"Message-ID: <" UNIQUE "@mx.example.org>\r\n"

struct raw_case {
	const char	*in;
	size_t		 len;		/* 0: strlen(in) */
	const char	*out;		/* NULL: refused */
	const char	*from;		/* the address returned */
	const char	*field;		/* on error */
	const char	*msg;		/* a part of it */
};

static const struct raw_case raw_cases[] = {
	/* line ends: LF and CRLF both become CRLF, a last one is added */
	{ "From: a@b.example\nSubject: s\n\nbody\nmore\n", 0,
	  DATE MSGID "From: a@b.example\r\nSubject: s\r\n\r\nbody\r\nmore\r\n",
	  "a@b.example", NULL, NULL },
	{ "From: a@b.example\r\nSubject: s\r\n\r\nbody\nmixed\r\nend", 0,
	  DATE MSGID "From: a@b.example\r\nSubject: s\r\n\r\nbody\r\nmixed\r\n"
	  "end\r\n", "a@b.example", NULL, NULL },
	/* a message of header fields only */
	{ "From: a@b.example", 0, DATE MSGID "From: a@b.example\r\n",
	  "a@b.example", NULL, NULL },
	/* Date and Message-ID kept when given, in any case */
	{ "date: Mon, 1 Jan 2024 00:00:00 +0000\nMESSAGE-ID: <x@y>\n"
	  "From: a@b.example\n\nb\n", 0,
	  "date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMESSAGE-ID: <x@y>\r\n"
	  "From: a@b.example\r\n\r\nb\r\n", "a@b.example", NULL, NULL },
	{ "Message-ID: <x@y>\nFrom: a@b.example\n\nb\n", 0,
	  DATE "Message-ID: <x@y>\r\nFrom: a@b.example\r\n\r\nb\r\n",
	  "a@b.example", NULL, NULL },
	/* Bcc: gone with its continuation lines, in any case */
	{ "From: a@b.example\nBcc: x@y.example,\n  z@y.example\n"
	  "To: t@y.example\nBCC: w@y.example\n\nBcc: in the body stays\n", 0,
	  DATE MSGID "From: a@b.example\r\nTo: t@y.example\r\n\r\n"
	  "Bcc: in the body stays\r\n", "a@b.example", NULL, NULL },
	{ "Bcc:\nFrom: a@b.example\n\nb", 0,
	  DATE MSGID "From: a@b.example\r\n\r\nb\r\n", "a@b.example",
	  NULL, NULL },
	/* From: forms, folded, with a name, comments, a list */
	{ "From: \"Doe, Jane\" <Jane@EXAMPLE.org>, bob@x.example\n\nb", 0,
	  DATE MSGID "From: \"Doe, Jane\" <Jane@EXAMPLE.org>, bob@x.example"
	  "\r\n\r\nb\r\n", "Jane@example.org", NULL, NULL },
	{ "From:\n Jane Doe\n\t<jane@x.example> (work)\n\nb", 0,
	  DATE MSGID "From:\r\n Jane Doe\r\n\t<jane@x.example> (work)\r\n"
	  "\r\nb\r\n", "jane@x.example", NULL, NULL },
	{ "from: =?utf-8?Q?J=C3=B6rg?= <j@x.example>\n\nb", 0,
	  DATE MSGID "from: =?utf-8?Q?J=C3=B6rg?= <j@x.example>\r\n\r\nb\r\n",
	  "j@x.example", NULL, NULL },
	/* 8-bit passes */
	{ "From: a@b.example\nSubject: gr\xc3\xbc\xc3\x9f" "e\n\n\xff\xfe\n", 0,
	  DATE MSGID "From: a@b.example\r\nSubject: gr\xc3\xbc\xc3\x9f" "e\r\n"
	  "\r\n\xff\xfe\r\n", "a@b.example", NULL, NULL },
	/* errors */
	{ "", 0, NULL, NULL, "", "empty" },
	{ "\nbody\n", 0, NULL, NULL, "", "no header section" },
	{ " x: y\nFrom: a@b.example\n\nb", 0, NULL, NULL, "",
	  "line 1: a continuation line" },
	{ "From a@b.example Mon Jan  1 00:00:00 2024\nFrom: a@b.example\n\nb",
	  0, NULL, NULL, "", "line 1: not a header field" },
	{ "From: a@b.example\nno colon here\n\nb", 0, NULL, NULL, "",
	  "line 2: not a header field" },
	{ "From : a@b.example\n\nb", 0, NULL, NULL, "",
	  "line 1: not a header field" },
	{ "From: a@b.example\nBcc\t: x@y.example\n\nb", 0, NULL, NULL, "",
	  "line 2: not a header field" },
	{ "From: a@b.example\n: empty name\n\nb", 0, NULL, NULL, "",
	  "line 2: not a header field" },
	{ "From: a@b.example\nX-\xc3\xa9: v\n\nb", 0, NULL, NULL, "",
	  "line 2: not a header field" },
	{ "From: a@b.example\nSubject: a\rb\n\nb", 0, NULL, NULL, "",
	  "line 2: a CR not followed by LF" },
	{ "From: a@b.example\n\nbody\r", 0, NULL, NULL, "",
	  "line 3: a CR not followed by LF" },
	{ "From: a@b.example\n\nbo\0dy\n", 22, NULL, NULL, "",
	  "line 3: a CR not followed by LF, or a NUL" },
	{ "From: a@b.example\nX: y\n \t\nBcc: z\n\nb", 0, NULL, NULL, "",
	  "line 3: white space only" },
	{ "To: a@b.example\n\nb", 0, NULL, NULL, "From", "no From:" },
	{ "From: a@b.example\nFrom: c@d.example\n\nb", 0, NULL, NULL, "From",
	  "more than one From:" },
	{ "From: a@b.example\n\nFrom: in the body is fine\n", 0,
	  DATE MSGID "From: a@b.example\r\n\r\nFrom: in the body is fine\r\n",
	  "a@b.example", NULL, NULL },
	{ "From: undisclosed:;\n\nb", 0, NULL, NULL, "From", "Groups" },
	{ "From: Jane Doe\n\nb", 0, NULL, NULL, "From", "lacks a domain" },
	{ "From: j\xc3\xb6rg@x.example\n\nb", 0, NULL, NULL, "From",
	  "SMTPUTF8" },
	{ "From:\n\nb", 0, NULL, NULL, "From", "Empty address" },
};

static void
test_mime_raw_cases(void **state)
{
	for (size_t i = 0; i < sizeof(raw_cases) / sizeof(raw_cases[0]); i++) {
		const struct raw_case *c = &raw_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		struct api_addr from;
		struct api_error e;
		struct buf out;
		int rc;

		buf_init(&out, 0);
		memset(&from, 0xa5, sizeof(from));
		rc = mime_raw_prepare(c->in, len, &opts, &out, &from, &e);
		if (c->out == NULL) {
			if (rc != -1 || strcmp(e.field, c->field) != 0 ||
			    strstr(e.msg, c->msg) == NULL)
				fail_msg("case %zu: got %d field '%s' msg '%s', "
				    "want -1 field '%s' msg '...%s...'", i, rc,
				    e.field, e.msg, c->field, c->msg);
			if (from.addr != NULL || from.name != NULL)
				fail_msg("case %zu: from_out not zeroed", i);
			buf_fini(&out);
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu: got %d (%s: %s), want 0", i, rc,
			    e.field, e.msg);
		if (out.len != strlen(c->out) ||
		    memcmp(out.data, c->out, out.len) != 0)
			fail_msg("case %zu: got\n%s\nwant\n%s", i, out.data,
			    c->out);
		if (strcmp(from.addr, c->from) != 0)
			fail_msg("case %zu: from '%s', want '%s'", i, from.addr,
			    c->from);
		if (mime_check_lines(out.data, out.len, false) != NULL)
			fail_msg("case %zu: %s", i,
			    mime_check_lines(out.data, out.len, false));
		api_addr_fini(&from);
		buf_fini(&out);
	}
}

/* the display name comes back unquoted */
static void
test_mime_raw_from_name(void **state)
{
	static const char in[] = "From: \"Doe, Jane\" <jane@x.example>\n\nb";
	struct api_addr from;
	struct api_error e;
	struct buf out;

	buf_init(&out, 0);
	assert_int_equal(mime_raw_prepare(in, strlen(in), &opts, &out, &from,
	    &e), 0);
	assert_string_equal(from.name, "Doe, Jane");
	api_addr_fini(&from);
	buf_fini(&out);
}

/* 998 octets on a line are fine, 999 are not, header or body */
static void
test_mime_raw_line_limit(void **state)
{
	struct api_addr from;
	struct api_error e;
	struct buf in, out;

	for (int where = 0; where < 2; where++)
		for (size_t n = 998; n <= 999; n++) {
			buf_init(&in, 0);
			buf_init(&out, 0);
			buf_puts(&in, "From: a@b.example\r\n");
			if (where == 1)
				buf_puts(&in, "\r\n");
			else
				buf_puts(&in, "X-Long: ");
			while (in.len < (where ? 21 : 19) + n)
				buf_append(&in, "x", 1);
			buf_puts(&in, "\r\n");
			int rc = mime_raw_prepare(in.data, in.len, &opts, &out,
			    &from, &e);
			if (n == 998) {
				assert_int_equal(rc, 0);
				api_addr_fini(&from);
			} else {
				assert_int_equal(rc, -1);
				assert_non_null(strstr(e.msg, where ?
				    "line 3: longer than 998" :
				    "line 2: longer than 998"));
			}
			buf_fini(&in);
			buf_fini(&out);
		}
}

/* out full: 413, and from_out is not left allocated */
static void
test_mime_raw_too_large(void **state)
{
	static const char in[] = "From: a@b.example\n\nsome body text\n";
	struct api_addr from;
	struct api_error e;
	struct buf out;

	buf_init(&out, 64);
	assert_int_equal(mime_raw_prepare(in, strlen(in), &opts, &out, &from,
	    &e), API_REQUEST_TOO_LARGE);
	assert_null(from.addr);
	assert_non_null(strstr(e.msg, "larger than 64"));
	buf_fini(&out);
	/* a bad o is reported, not written */
	struct mime_opts o = opts;
	o.unique = "not.unique";
	buf_init(&out, 0);
	assert_int_equal(mime_raw_prepare(in, strlen(in), &o, &out, &from,
	    &e), -1);
	assert_string_equal(e.field, "opts");
	assert_int_equal(out.len, 0);
	buf_fini(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mime_raw_cases),
		cmocka_unit_test(test_mime_raw_from_name),
		cmocka_unit_test(test_mime_raw_line_limit),
		cmocka_unit_test(test_mime_raw_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
