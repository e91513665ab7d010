/* SPDX-License-Identifier: ISC */
/*
 * test_spool_stats.c - spool_queue_stats (spool/spool_stats.c): the
 * recipients not settled (waiting, leased, held) and the arrival of the
 * oldest message that still has one, as recipients are leased, held,
 * delivered and their messages removed.
 */
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "spool/spool.h"

static char test_dir[256];

/* test_store - one message of n recipients that arrived at arrival */
static void
test_store(struct spool *sp, const char *qid, int64_t arrival, int n)
{
	struct spool_msg *msg = spool_msg_new();
	struct err err;
	char addr[64];

	snprintf(msg->qid, sizeof(msg->qid), "%s", qid);
	msg->sender = strdup("s@example.test");
	msg->arrival = arrival;
	buf_append(&msg->body.mem, "Subject: t\r\n\r\nhi\r\n", 19);
	msg->body.size = 19;
	for (int i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "r%d@example.test", i);
		spool_msg_add_rcpt(msg, addr, addr, NULL, 0,
		    SPOOL_TRANSPORT_REMOTE);
	}
	assert_int_equal(spool_begin(sp, true, &err), 0);
	assert_int_equal(spool_store_msg(sp, msg, &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);
	spool_msg_free(msg);
}

struct test_due_ids {
	uint64_t	 rcpt[16];
	int64_t		 msg[16];
	size_t		 n;
};

static int
test_due_cb(void *arg, const struct spool_due *due)
{
	struct test_due_ids *ids = arg;

	if (ids->n < 16) {
		ids->rcpt[ids->n] = due->rcpt_id;
		ids->msg[ids->n++] = due->msg_id;
	}
	return 0;
}

static void
test_stats(struct spool *sp, uint64_t rcpts, int64_t oldest)
{
	struct spool_queue_stats st;
	struct err err;

	assert_int_equal(spool_queue_stats(sp, &st, &err), 0);
	if (st.rcpts != rcpts || st.oldest_arrival != oldest)
		fail_msg("got %llu recipients, oldest %lld; want %llu, %lld",
		    (unsigned long long)st.rcpts, (long long)st.oldest_arrival,
		    (unsigned long long)rcpts, (long long)oldest);
}

static void
test_queue_stats(void **state)
{
	struct test_due_ids ids = { .n = 0 };
	struct spool *sp;
	struct err err;
	size_t rows;
	bool removed, body_file;
	char qid[ID_QID_LEN + 1], path[512];
	sqlite3 *db;

	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/relais-test-stats-XXXXXX");
	assert_non_null(mkdtemp(test_dir));
	log_set_level(LOG_LEVEL_ERROR);
	assert_non_null(sp = spool_open(test_dir, &err));
	test_stats(sp, 0, 0);			/* empty */

	test_store(sp, "00000000000000b2", 2000, 3);
	test_store(sp, "00000000000000b1", 1000, 2);
	test_stats(sp, 5, 1000);

	/* due: oldest first, so the two of the message of 1000 come first */
	assert_int_equal(spool_due_scan(sp, 1000000, 16, test_due_cb, &ids,
	    &rows, &err), 0);
	assert_int_equal(ids.n, 5);
	assert_int_equal(ids.msg[0], ids.msg[1]);

	/* leased (in delivery) still counts */
	assert_int_equal(spool_begin(sp, false, &err), 0);
	assert_int_equal(spool_rcpt_lease(sp, ids.rcpt[0], &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);
	test_stats(sp, 5, 1000);

	/* held (relais queue hold) still counts, leased or not */
	snprintf(path, sizeof(path), "%s/spool/queue.db", test_dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "UPDATE recipients SET status = 3"
	    " WHERE id = (SELECT max(r.id) FROM recipients r JOIN messages m"
	    " ON m.id = r.msg_id WHERE m.qid = '00000000000000b2')", NULL,
	    NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);
	test_stats(sp, 5, 1000);

	/* the leased one delivered, the other bounced: the message of 1000
	   has none left, and goes */
	assert_int_equal(spool_begin(sp, true, &err), 0);
	assert_int_equal(spool_rcpt_settle(sp, ids.rcpt[0],
	    SPOOL_RCPT_DELIVERED, 3000, "250 ok", NULL, &err), 0);
	test_stats(sp, 4, 1000);		/* inside the transaction */
	assert_int_equal(spool_rcpt_settle(sp, ids.rcpt[1],
	    SPOOL_RCPT_BOUNCED, 3000, "550 no", NULL, &err), 0);
	/* settled but not yet removed: no longer the oldest */
	test_stats(sp, 3, 2000);
	assert_int_equal(spool_msg_finish(sp, ids.msg[0], &removed, qid,
	    &body_file, &err), 0);
	assert_true(removed);
	assert_int_equal(spool_commit(sp, &err), 0);
	test_stats(sp, 3, 2000);

	/* a deferral keeps it */
	assert_int_equal(spool_begin(sp, false, &err), 0);
	assert_int_equal(spool_rcpt_defer(sp, ids.rcpt[2], 3000, "451 later",
	    60, 3600, 0, false, NULL, true, &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);
	test_stats(sp, 3, 2000);

	spool_free(sp);
	snprintf(path, sizeof(path), "rm -rf '%s'", test_dir);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
