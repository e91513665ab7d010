/* SPDX-License-Identifier: ISC */
/*
 * test_dsn.c - RFC 3464 reports: the structure of failure, delay and
 * success reports, RET=HDRS, and that text from a peer cannot break the
 * header section.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "queue/dsn.h"

static const char original[] =
    "Received: from x\r\nSubject: hello\r\nFrom: a@example.org\r\n\r\n"
    "body line\r\n";

static void
dsn_build(enum dsn_kind kind, int ret_full, struct buf *out)
{
	struct dsn_rcpt r[2] = {
		{ "bob@example.net", NULL, "Bob@example.net", "failed", "5.1.1",
		  "mx.example.net", "smtp; 550 5.1.1 no such user\r\nX-Evil: 1",
		  1700000000, 0 },
		{ "carol@example.net", "rfc822;carol@example.net", "", "failed",
		  "5.2.2", NULL, NULL, 0, 0 },
	};
	struct dsn_msg m = {
		.kind = kind, .reporting_mta = "mx.test", .qid = "0123456789abcdef",
		.sender = "a@example.org", .envid = "ENV1", .ret_full = ret_full,
		.arrival = 1700000000, .now = 1700000100, .text = original,
		.text_len = sizeof(original) - 1,
	};

	buf_init(out, 0);
	assert_int_equal(dsn_format(&m, r, 2, out), 0);
}

static void
test_dsn_failed(void **state)
{
	struct buf b;
	const char *s;

	dsn_build(DSN_FAILED, 1, &b);
	s = b.data;
	assert_non_null(strstr(s, "Content-Type: multipart/report;"
	    " report-type=delivery-status;"));
	assert_non_null(strstr(s, "To: <a@example.org>\r\n"));
	assert_non_null(strstr(s, "Auto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(s, "Content-Type: message/delivery-status"));
	assert_non_null(strstr(s, "Reporting-MTA: dns; mx.test\r\n"));
	assert_non_null(strstr(s, "Original-Envelope-Id: ENV1\r\n"));
	assert_non_null(strstr(s, "Arrival-Date: "));
	assert_non_null(strstr(s, "Original-Recipient: rfc822; Bob@example.net"));
	assert_non_null(strstr(s, "Original-Recipient: rfc822;carol@example.net"));
	assert_non_null(strstr(s, "Final-Recipient: rfc822; bob@example.net\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\n"));
	assert_non_null(strstr(s, "Remote-MTA: dns; mx.example.net\r\n"));
	assert_non_null(strstr(s, "Last-Attempt-Date: "));
	/* CR LF in a peer's text is flattened: no header injection */
	assert_null(strstr(s, "\r\nX-Evil: 1"));
	assert_non_null(strstr(s, "Diagnostic-Code: smtp; 550 5.1.1 no such"
	    " user  X-Evil: 1\r\n"));
	/* RET=FULL: the whole original */
	assert_non_null(strstr(s, "Content-Type: message/rfc822"));
	assert_non_null(strstr(s, "body line\r\n"));
	assert_non_null(strstr(s, "--\r\n"));
	buf_fini(&b);
}

static void
test_dsn_hdrs_and_kinds(void **state)
{
	struct buf b;

	dsn_build(DSN_FAILED, 0, &b);
	assert_non_null(strstr(b.data, "Content-Type: text/rfc822-headers"));
	assert_non_null(strstr(b.data, "Subject: hello\r\n"));
	assert_null(strstr(b.data, "body line"));
	buf_fini(&b);

	dsn_build(DSN_DELAYED, 1, &b);
	assert_non_null(strstr(b.data, "Subject: Delayed Mail"));
	/* delay reports never carry the body */
	assert_null(strstr(b.data, "body line"));
	buf_fini(&b);

	dsn_build(DSN_DELIVERED, 1, &b);
	assert_non_null(strstr(b.data, "Subject: Successful Mail Delivery"));
	buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsn_failed),
		cmocka_unit_test(test_dsn_hdrs_and_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
