/* SPDX-License-Identifier: ISC */
/*
 * test_id.c - queue ids: the format, the node tag in digits 12-13, order
 * by time, and no repeat within one process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/id.h"

static void
test_id_tag_in_qid(void **state)
{
	char a[ID_QID_LEN + 1], b[ID_QID_LEN + 1];
	unsigned ta = id_node_tag("mx1"), tb = id_node_tag("mx2");

	assert_true(ta <= 0xff && tb <= 0xff);
	assert_int_not_equal(ta, tb);
	assert_int_equal(id_node_tag("mx1"), ta);	/* stable */
	id_set_tag(ta);
	assert_int_equal(id_tag(), ta);
	id_qid_new(a);
	assert_true(id_qid_valid(a));
	assert_int_equal(id_qid_tag(a), ta);
	id_set_tag(tb);
	id_qid_new(b);
	assert_int_equal(id_qid_tag(b), tb);
	/* the same microsecond on two nodes: only the tag tells them apart,
	   and it does */
	assert_memory_not_equal(a + 11, b + 11, 2);
	id_set_tag(0);
}

static void
test_id_order_unique(void **state)
{
	char prev[ID_QID_LEN + 1], cur[ID_QID_LEN + 1];

	id_set_tag(id_node_tag("node-a"));
	id_qid_new(prev);
	for (int i = 0; i < 5000; i++) {
		id_qid_new(cur);
		assert_int_equal(strlen(cur), ID_QID_LEN);
		/* later microseconds sort later; within one the counter
		   differs (12 bits: 4096 ids a microsecond) */
		assert_true(strncmp(prev, cur, 11) <= 0);
		assert_string_not_equal(prev, cur);
		memcpy(prev, cur, sizeof(cur));
	}
	id_set_tag(0);
}

static void
test_id_tags_spread(void **state)
{
	unsigned seen[256] = { 0 };
	char name[32];
	unsigned distinct = 0;

	/* node names of one pattern spread over the tags */
	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "mx%d", i);
		if (seen[id_node_tag(name)]++ == 0)
			distinct++;
	}
	assert_true(distinct > 48);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_tag_in_qid),
		cmocka_unit_test(test_id_order_unique),
		cmocka_unit_test(test_id_tags_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
