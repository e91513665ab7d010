/* SPDX-License-Identifier: ISC */
/*
 * test_milter_hdr.c - milter_hdr.c: header sections parsed into fields
 * (folded lines, names with blanks before the colon, a line that is no
 * field, an unterminated last line), values as milters get them, the
 * edits (add, insert at an index counting relais's own fields, change and
 * delete counting the client's only, a change of a missing field adds
 * it), values that try to end the section made safe, the output split
 * into prefix and text, the limit, and replacement bodies' line ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/milter_hdr.h"

static void
render(const struct milter_hdrs *h, struct buf *prefix, struct buf *text)
{
	buf_reset(prefix);
	buf_reset(text);
	milter_hdrs_render(h, prefix, text);
}

static void
test_parse(void **state)
{
	static const char t[] = "Subject: hi\r\n there\r\nFrom : a@b\r\n"
	    "not a field\r\nX: y\r\n";
	struct milter_hdrs h;
	struct buf v;

	(void)state;
	milter_hdrs_init(&h, 0);
	buf_init(&v, 0);
	assert_int_equal(milter_hdrs_parse(&h, t, strlen(t),
	    MILTER_HDR_CLIENT), 33);
	assert_int_equal(h.n, 2);
	assert_true(str_eq(milter_hdr_name(&h.v[0]), STR("Subject")));
	milter_hdr_value(&h.v[0], false, &v);
	assert_string_equal(buf_cstr(&v), "hi\n there");
	milter_hdr_value(&h.v[0], true, &v);
	assert_string_equal(buf_cstr(&v), " hi\n there");
	assert_true(str_eq(milter_hdr_name(&h.v[1]), STR("From")));
	milter_hdr_value(&h.v[1], false, &v);
	assert_string_equal(buf_cstr(&v), "a@b");
	milter_hdrs_fini(&h);

	/* an unterminated last line is not a field */
	milter_hdrs_init(&h, 0);
	assert_int_equal(milter_hdrs_parse(&h, "A: 1\r\nB: 2", 11,
	    MILTER_HDR_CLIENT), 6);
	assert_int_equal(h.n, 1);
	milter_hdrs_fini(&h);
	buf_fini(&v);
}

static void
test_edits(void **state)
{
	static const char prefix[] = "Received: by us\r\n";
	static const char client[] = "Received: by them\r\nSubject: a\r\n"
	    "X-Tag: 1\r\nX-Tag: 2\r\n";
	struct milter_hdrs h;
	struct buf p, t;

	(void)state;
	milter_hdrs_init(&h, 0);
	buf_init(&p, 0);
	buf_init(&t, 0);
	milter_hdrs_parse(&h, prefix, strlen(prefix), MILTER_HDR_PREFIX);
	milter_hdrs_parse(&h, client, strlen(client), MILTER_HDR_CLIENT);
	assert_false(h.changed);

	/* change counts the client's fields: the first Received is theirs */
	assert_int_equal(milter_hdrs_change(&h, 1, STR("received"),
	    STR("changed"), false), 0);
	/* delete the second X-Tag */
	assert_int_equal(milter_hdrs_change(&h, 2, STR("X-Tag"), STR(""),
	    false), 0);
	/* a missing one is added */
	assert_int_equal(milter_hdrs_change(&h, 1, STR("X-New"), STR("n"),
	    false), 0);
	/* deleting a missing one changes nothing */
	assert_int_equal(milter_hdrs_change(&h, 5, STR("X-Tag"), STR(""),
	    false), 0);
	/* insert at 0: the very top, before relais's own */
	assert_int_equal(milter_hdrs_insert(&h, 0, STR("DKIM-Signature"),
	    STR("v=1;\r\n\tb=x"), false), 0);
	assert_int_equal(milter_hdrs_insert(&h, 99, STR("X-End"), STR("e"),
	    true), 0);
	assert_int_equal(milter_hdrs_add(&h, STR("X-Add"), STR("a"), false),
	    0);
	assert_true(h.changed);
	render(&h, &p, &t);
	assert_string_equal(buf_cstr(&p), "DKIM-Signature: v=1;\r\n\tb=x\r\n"
	    "Received: by us\r\n");
	assert_string_equal(buf_cstr(&t), "Received: changed\r\n"
	    "Subject: a\r\nX-Tag: 1\r\nX-New: n\r\nX-End:e\r\nX-Add: a\r\n");

	/* bad names are refused, nothing changes */
	assert_int_equal(milter_hdrs_add(&h, STR("Bad Name"), STR("x"),
	    false), -1);
	assert_int_equal(milter_hdrs_add(&h, STR(""), STR("x"), false), -1);
	assert_int_equal(milter_hdrs_change(&h, 1, STR("A:B"), STR("x"),
	    false), -1);
	milter_hdrs_fini(&h);
	buf_fini(&p);
	buf_fini(&t);
}

static void
test_unsafe_values(void **state)
{
	struct milter_hdrs h;
	struct buf p, t;

	(void)state;
	milter_hdrs_init(&h, 0);
	buf_init(&p, 0);
	buf_init(&t, 0);
	/* an empty line and a new field in a value stay inside the field */
	assert_int_equal(milter_hdrs_add(&h, STR("X-A"),
	    STR("one\n\nBcc: evil@x\rtwo\r\n three"), false), 0);
	render(&h, &p, &t);
	assert_string_equal(buf_cstr(&t), "X-A: one\r\n\tBcc: evil@x\r\n"
	    "\ttwo\r\n three\r\n");
	milter_hdrs_fini(&h);
	buf_fini(&p);
	buf_fini(&t);
}

static void
test_limit(void **state)
{
	struct milter_hdrs h;
	char big[200];

	(void)state;
	memset(big, 'v', sizeof(big));
	milter_hdrs_init(&h, 300);
	assert_int_equal(milter_hdrs_add(&h, STR("X-A"),
	    str_make(big, sizeof(big)), false), 0);
	assert_int_equal(milter_hdrs_add(&h, STR("X-B"),
	    str_make(big, sizeof(big)), false), -1);
	assert_int_equal(h.n, 1);
	assert_int_equal(milter_hdrs_change(&h, 1, STR("X-A"),
	    str_make(big, sizeof(big)), false), 0);
	milter_hdrs_fini(&h);
}

static void
test_crlf(void **state)
{
	struct milter_crlf st = { false };
	struct buf out;
	const char *in = "a\nb\r\nc\rd\r";

	(void)state;
	buf_init(&out, 0);
	/* fed octet by octet: a CR at a chunk's end waits for the next */
	for (size_t i = 0; in[i]; i++)
		milter_crlf(&st, in + i, 1, &out);
	milter_crlf_end(&st, &out);
	assert_string_equal(buf_cstr(&out), "a\r\nb\r\nc\r\nd\r\n");
	buf_fini(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_edits),
		cmocka_unit_test(test_unsafe_values),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_crlf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
