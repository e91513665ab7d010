/* SPDX-License-Identifier: ISC */
/*
 * test_spool.c - the spool's promise: a message is reported stored only
 * when it is on disk. Faults are injected through the syscall seam
 * (core/sys.c): a failing fsync or write of a body file must give the
 * session a failure (451), never a success, and leave nothing behind.
 * Also: crash leftovers (orphan body files) are removed at open; the
 * RFC 8689 flags of a message go through the store, and a spool made
 * before their columns gets them at open.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/sys.h"
#include "queue/qmgr.h"
#include "spool/spool.h"

struct done_state {
	pthread_mutex_t	lock;
	pthread_cond_t	cond;
	int		called;
	int		status;
};

static void
test_done(void *arg, uint64_t tag, int status)
{
	struct done_state *d = arg;

	pthread_mutex_lock(&d->lock);
	d->called++;
	d->status = status;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

/* test_submit - store a message of size octets and wait for the answer */
static int
test_submit(struct qmgr *q, struct spool *sp, const char *qid, size_t size)
{
	struct done_state d = { PTHREAD_MUTEX_INITIALIZER,
	    PTHREAD_COND_INITIALIZER, 0, 0 };
	struct spool_msg *msg = spool_msg_new();
	struct timespec ts;
	struct err err;
	char *text = malloc(size);
	int r;

	memset(text, 'x', size);
	snprintf(msg->qid, sizeof(msg->qid), "%s", qid);
	msg->sender = strdup("a@example.test");
	msg->arrival = time(NULL);
	spool_msg_add_rcpt(msg, "b@example.test", "b@example.test", NULL, 0,
	    SPOOL_TRANSPORT_LOCAL);
	r = spool_body_write(&msg->body, spool_body_dir(sp), qid, text, size,
	    &err);
	free(text);
	if (r == -1) {
		spool_body_discard(&msg->body);
		spool_msg_free(msg);
		return -2;	/* the session would answer 451 itself */
	}
	qmgr_submit_msg(q, msg, test_done, &d, 1);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&d.lock);
	while (d.called == 0)
		if (pthread_cond_timedwait(&d.cond, &d.lock, &ts) != 0)
			break;
	pthread_mutex_unlock(&d.lock);
	assert_int_equal(d.called, 1);
	return d.status;
}

static char test_dir[256];

static int
test_count(const char *qid)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	snprintf(path, sizeof(path), "%s/spool/queue.db", test_dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	sqlite3_prepare_v2(db, "SELECT count(*) FROM messages WHERE qid = ?1",
	    -1, &st, NULL);
	sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static bool
test_body_exists(const char *qid)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/spool/bodies/%s", test_dir, qid);
	return access(path, F_OK) == 0;
}

static int fail_errno;

static int
failing_fsync(int fd)
{
	errno = fail_errno;
	return -1;
}

static ssize_t
failing_write(int fd, const void *p, size_t n)
{
	errno = fail_errno;
	return -1;
}

static void
test_spool_faults(void **state)
{
	struct spool *sp;
	struct qmgr *q;
	struct err err;

	snprintf(test_dir, sizeof(test_dir), "/tmp/relais-test-spool-XXXXXX");
	assert_non_null(mkdtemp(test_dir));
	log_set_level(LOG_LEVEL_ERROR);
	sp = spool_open(test_dir, &err);
	assert_non_null(sp);
	q = qmgr_new(sp, NULL, NULL);
	assert_int_equal(qmgr_start(q), 0);

	/* small and large bodies are stored */
	assert_int_equal(test_submit(q, sp, "0000000000000001", 100), 0);
	assert_int_equal(test_count("0000000000000001"), 1);
	assert_int_equal(test_submit(q, sp, "0000000000000002", 300000), 0);
	assert_int_equal(test_count("0000000000000002"), 1);
	assert_true(test_body_exists("0000000000000002"));

	/* fsync of the body fails: failure reported, nothing left */
	fail_errno = EIO;
	sys.fsync = failing_fsync;
	assert_int_equal(test_submit(q, sp, "0000000000000003", 300000), -1);
	sys_restore();
	assert_int_equal(test_count("0000000000000003"), 0);
	assert_false(test_body_exists("0000000000000003"));

	/* disk full while the body is written: the session gets -1 */
	fail_errno = ENOSPC;
	sys.write = failing_write;
	assert_int_equal(test_submit(q, sp, "0000000000000004", 300000), -2);
	sys_restore();
	assert_false(test_body_exists("0000000000000004"));

	/* after the faults the spool works again */
	assert_int_equal(test_submit(q, sp, "0000000000000005", 300000), 0);
	assert_int_equal(test_count("0000000000000005"), 1);
	qmgr_free(q);
	spool_free(sp);
}

/* test_wait_results - until the queue manager has taken n outcomes (2 s
   at most) */
static void
test_wait_results(struct qmgr *q, uint64_t n, struct qmgr_stats *st)
{
	for (int i = 0; i < 2000; i++) {
		qmgr_get_stats(q, st);
		if (st->results >= n)
			return;
		usleep(1000);
	}
	fail_msg("the spool took %llu outcomes, not %llu",
	    (unsigned long long)st->results, (unsigned long long)n);
}

/*
 * Outcomes alone linger a moment for a message to share their commit;
 * never longer: one with no message behind it is still committed.
 * (Without a configuration the outcome is not applied, but it is counted
 * and its batch committed like any other.)
 */
static void
test_spool_linger(void **state)
{
	struct spool_result res;
	struct qmgr_stats a, b;
	struct spool *sp;
	struct qmgr *q;
	struct err err;
	bool shared = false;
	char qid[32];

	sp = spool_open(test_dir, &err);
	assert_non_null(sp);
	q = qmgr_new(sp, NULL, NULL);
	assert_int_equal(qmgr_start(q), 0);
	memset(&res, 0, sizeof(res));
	res.rcpt_id = 424242;
	res.outcome = SPOOL_OUTCOME_DELIVERED;

	/* alone: committed after the linger, in a batch of its own */
	qmgr_get_stats(q, &a);
	qmgr_report(q, &res, 1);
	test_wait_results(q, a.results + 1, &b);
	assert_int_equal(b.commits, a.commits + 1);
	assert_int_equal(b.msg_commits, a.msg_commits);

	/* followed shortly by a message: one commit for both (a few tries,
	   in case this thread was descheduled longer than the linger) */
	for (int i = 0; i < 5 && !shared; i++) {
		qmgr_get_stats(q, &a);
		qmgr_report(q, &res, 1);
		usleep(300);	/* time to wake the thread, well within the linger */
		snprintf(qid, sizeof(qid), "00000000000001%02d", i);
		assert_int_equal(test_submit(q, sp, qid, 100), 0);
		test_wait_results(q, a.results + 1, &b);
		shared = b.commits == a.commits + 1 &&
		    b.msg_commits == a.msg_commits + 1;
	}
	assert_true(shared);
	qmgr_free(q);
	spool_free(sp);
}

/* the due rows of message 00000000000000a1 (earlier tests left others) */
struct due_seen {
	uint64_t	first;
	size_t		n;
};

static int
test_due_count(void *arg, const struct spool_due *due)
{
	struct due_seen *seen = arg;

	if (strcmp(due->qid, "00000000000000a1") != 0)
		return 0;
	if (seen->n++ == 0)
		seen->first = due->rcpt_id;
	assert_string_equal(due->sender, "s@example.test");
	assert_false(due->body_file);
	return 0;
}

static size_t
test_due(struct spool *sp, int64_t now, uint64_t *first)
{
	struct due_seen seen = { 0, 0 };
	struct err err;
	size_t rows;

	assert_int_equal(spool_due_scan(sp, now, 1000, test_due_count, &seen,
	    &rows, &err), 0);
	assert_true(rows >= seen.n);
	if (first != NULL)
		*first = seen.first;
	return seen.n;
}

/*
 * The storage API alone, as the queue manager drives it: a message stored
 * in a transaction is due; a leased recipient is not; a deferred one is
 * due again only at its retry time; once every recipient is settled the
 * message is removed, and the text kept in the row reads back whole.
 */
static void
test_spool_store(void **state)
{
	struct spool *sp;
	struct spool_msg *msg;
	struct spool_rcpt_state rs;
	struct spool_stored stored;
	struct err err;
	uint64_t first, second;
	int64_t now = time(NULL), msg_id;
	bool removed, body_file;
	char qid[ID_QID_LEN + 1];

	sp = spool_open(test_dir, &err);
	assert_non_null(sp);
	msg = spool_msg_new();
	snprintf(msg->qid, sizeof(msg->qid), "00000000000000a1");
	msg->sender = strdup("s@example.test");
	msg->arrival = now;
	buf_append(&msg->prefix, "X-A: 1\r\n", 8);
	buf_append(&msg->body.mem, "Subject: t\r\n\r\nhi\r\n", 19);
	msg->body.size = 19;
	spool_msg_add_rcpt(msg, "a@example.test", "a@example.test", NULL, 0,
	    SPOOL_TRANSPORT_LOCAL);
	spool_msg_add_rcpt(msg, "b@example.test", "B@example.test",
	    "rfc822;b@example.test", 1, SPOOL_TRANSPORT_REMOTE);
	assert_int_equal(spool_begin(sp, true, &err), 0);
	assert_int_equal(spool_store_msg(sp, msg, &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);
	spool_msg_free(msg);

	assert_int_equal(test_due(sp, now, &first), 2);
	assert_int_equal(spool_begin(sp, false, &err), 0);
	assert_int_equal(spool_rcpt_lease(sp, first, &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);
	assert_int_equal(test_due(sp, now, &second), 1);
	assert_true(second != first);

	/* deferred with a retry time: not due before it */
	assert_int_equal(spool_begin(sp, false, &err), 0);
	assert_int_equal(spool_rcpt_get(sp, second, &rs, &err), 1);
	assert_string_equal(rs.orig, "B@example.test");
	assert_string_equal(rs.orcpt, "rfc822;b@example.test");
	assert_int_equal(rs.notify, 1);
	assert_false(rs.warned);
	spool_rcpt_state_fini(&rs);
	assert_int_equal(spool_rcpt_defer(sp, second, now, "4.0.0 later", 60,
	    3600, now + 100, true, "mx.remote.test", true, &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);
	assert_int_equal(test_due(sp, now + 99, NULL), 0);
	assert_int_equal(test_due(sp, now + 100, NULL), 1);
	assert_int_equal(spool_rcpt_get(sp, second, &rs, &err), 1);
	assert_true(rs.warned);
	spool_rcpt_state_fini(&rs);
	assert_int_equal(spool_rcpt_get(sp, 999999, &rs, &err), 0);

	/* what a report about it reads back */
	msg_id = -1;
	for (int64_t id = 1; id < 100 && msg_id == -1; id++) {
		if (spool_msg_read(sp, id, &stored, &err) == 1 &&
		    strcmp(stored.qid, "00000000000000a1") == 0)
			msg_id = id;
		else
			spool_stored_fini(&stored);
	}
	assert_true(msg_id > 0);
	assert_int_equal(stored.text.len, 27);
	assert_memory_equal(stored.text.data, "X-A: 1\r\nSubject: t\r\n", 20);
	assert_string_equal(stored.sender, "s@example.test");
	spool_stored_fini(&stored);

	/* one recipient left: the message stays; none left: it goes */
	assert_int_equal(spool_begin(sp, true, &err), 0);
	assert_int_equal(spool_rcpt_settle(sp, first, SPOOL_RCPT_DELIVERED,
	    now, "2.0.0 ok", NULL, &err), 0);
	assert_int_equal(spool_msg_finish(sp, msg_id, &removed, qid,
	    &body_file, &err), 0);
	assert_false(removed);
	assert_int_equal(spool_rcpt_settle(sp, second, SPOOL_RCPT_BOUNCED,
	    now, "5.0.0 no", "", &err), 0);
	assert_int_equal(spool_msg_finish(sp, msg_id, &removed, qid,
	    &body_file, &err), 0);
	assert_true(removed);
	assert_false(body_file);
	assert_string_equal(qid, "00000000000000a1");
	assert_int_equal(spool_commit(sp, &err), 0);
	assert_int_equal(test_count("00000000000000a1"), 0);
	spool_free(sp);
}

/* the due rows in scan order: their queue ids, priorities, pools */
struct prio_seen {
	char	qids[8][ID_QID_LEN + 1];
	int	prio[8];
	char	pool[8][16];
	size_t	n;
};

static int
test_prio_row(void *arg, const struct spool_due *due)
{
	struct prio_seen *seen = arg;

	if (strncmp(due->qid, "00000000000000b", 15) != 0 || seen->n == 8)
		return 0;
	snprintf(seen->qids[seen->n], sizeof(seen->qids[0]), "%s", due->qid);
	seen->prio[seen->n] = due->priority;
	snprintf(seen->pool[seen->n], sizeof(seen->pool[0]), "%s",
	    due->pool ? due->pool : "-");
	seen->n++;
	return 0;
}

static void
test_usage_row(void *arg, const struct spool_usage *u)
{
	int64_t *v = arg;

	if (strcmp(u->tenant, "shop") != 0)
		return;
	if (u->period == 3600) {
		v[0] += u->messages;
		v[1] += u->recipients;
	} else {
		v[2] += u->messages;
		v[3] += u->recipients;
	}
}

/*
 * Priority and tenants in the store: high-priority due rows come first
 * whatever their time; the pool comes with the row; a tenant's messages
 * are counted in tenant_usage in the transaction that stores them.
 */
static void
test_spool_priority_usage(void **state)
{
	struct spool *sp;
	struct spool_msg *msg;
	struct prio_seen seen;
	struct err err;
	int64_t now = time(NULL), usage[4] = { 0, 0, 0, 0 };
	size_t rows;

	sp = spool_open(test_dir, &err);
	assert_non_null(sp);
	assert_int_equal(spool_begin(sp, true, &err), 0);
	for (int i = 0; i < 3; i++) {
		msg = spool_msg_new();
		snprintf(msg->qid, sizeof(msg->qid), "00000000000000b%d", i);
		msg->sender = strdup("s@example.test");
		/* the high one is the newest */
		msg->arrival = now - 10 + i;
		msg->priority = i == 2 ? SPOOL_PRIORITY_HIGH :
		    SPOOL_PRIORITY_NORMAL;
		if (i > 0) {
			msg->tenant = strdup("shop");
			msg->pool = strdup(i == 2 ? "warm" : "cold");
		}
		buf_append(&msg->body.mem, "\r\nhi\r\n", 6);
		msg->body.size = 6;
		spool_msg_add_rcpt(msg, "a@example.test", "a@example.test",
		    NULL, 0, SPOOL_TRANSPORT_LOCAL);
		spool_msg_add_rcpt(msg, "b@example.test", "b@example.test",
		    NULL, 0, SPOOL_TRANSPORT_LOCAL);
		assert_int_equal(spool_store_msg(sp, msg, &err), 0);
		spool_msg_free(msg);
	}
	assert_int_equal(spool_commit(sp, &err), 0);

	memset(&seen, 0, sizeof(seen));
	assert_int_equal(spool_due_scan(sp, now, 100, test_prio_row, &seen,
	    &rows, &err), 0);
	assert_int_equal(seen.n, 6);
	assert_string_equal(seen.qids[0], "00000000000000b2");
	assert_string_equal(seen.qids[1], "00000000000000b2");
	assert_int_equal(seen.prio[0], SPOOL_PRIORITY_HIGH);
	assert_string_equal(seen.pool[0], "warm");
	assert_string_equal(seen.qids[2], "00000000000000b0");
	assert_int_equal(seen.prio[2], SPOOL_PRIORITY_NORMAL);
	assert_string_equal(seen.pool[2], "-");
	assert_string_equal(seen.qids[4], "00000000000000b1");
	assert_string_equal(seen.pool[4], "cold");
	/* a window of 1 takes the high one */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(spool_due_scan(sp, now, 1, test_prio_row, &seen,
	    &rows, &err), 0);
	assert_int_equal(rows, 1);
	assert_string_equal(seen.qids[0], "00000000000000b2");
	/* a window of 3: both of it, then the oldest normal one */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(spool_due_scan(sp, now, 3, test_prio_row, &seen,
	    &rows, &err), 0);
	assert_int_equal(rows, 3);
	assert_string_equal(seen.qids[2], "00000000000000b0");

	assert_int_equal(spool_usage_load(sp, now - 86400 * 2, test_usage_row,
	    usage, &err), 0);
	assert_int_equal(usage[0], 2);
	assert_int_equal(usage[1], 4);
	assert_int_equal(usage[2], 2);
	assert_int_equal(usage[3], 4);
	spool_free(sp);
}

/* the flags of the due rows of messages 00000000000000c* */
struct tls_seen {
	char	flags[4][3];	/* "RO": requiretls, tls_optional */
	size_t	n;
};

static int
test_tls_row(void *arg, const struct spool_due *due)
{
	struct tls_seen *seen = arg;
	int i;

	if (strncmp(due->qid, "00000000000000c", 15) != 0)
		return 0;
	i = due->qid[15] - '0';
	assert_true(i >= 0 && i < 4);
	seen->flags[i][0] = due->requiretls ? 'R' : '-';
	seen->flags[i][1] = due->tls_optional ? 'O' : '-';
	seen->n++;
	return 0;
}

/*
 * REQUIRETLS and "TLS-Required: No" (RFC 8689) are stored per message
 * and come with its due rows; with both, REQUIRETLS wins and the field
 * is not kept (4.1). A report reads requiretls back. A spool whose
 * messages table lacks the columns (made by an older relais) gets them
 * at open, its rows reading 0.
 */
static void
test_spool_requiretls(void **state)
{
	static const bool rtls[4] = { false, true, false, true };
	static const bool topt[4] = { false, false, true, true };
	struct spool *sp;
	struct spool_msg *msg;
	struct spool_stored stored;
	struct tls_seen seen;
	struct err err;
	char dir[64], path[128];
	int64_t now = time(NULL);
	sqlite3 *db;
	size_t rows;

	snprintf(dir, sizeof(dir), "/tmp/relais-test-rtls-XXXXXX");
	assert_non_null(mkdtemp(dir));
	sp = spool_open(dir, &err);
	assert_non_null(sp);
	spool_free(sp);
	/* what an older relais made: no such columns, one message */
	snprintf(path, sizeof(path), "%s/spool/queue.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE messages DROP COLUMN"
	    " requiretls; ALTER TABLE messages DROP COLUMN tls_optional;"
	    " INSERT INTO messages(id, qid, sender, arrival, size, body)"
	    " VALUES(1, '00000000000000c0', 's@example.test', 1, 2,"
	    " 'hi'); INSERT INTO recipients(msg_id, addr, orig,"
	    " transport, next_attempt) VALUES(1, 'a@example.test',"
	    " 'a@example.test', 0, 1)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	sp = spool_open(dir, &err);
	assert_non_null(sp);
	assert_int_equal(spool_begin(sp, true, &err), 0);
	for (int i = 1; i < 4; i++) {
		msg = spool_msg_new();
		snprintf(msg->qid, sizeof(msg->qid), "00000000000000c%d", i);
		msg->sender = strdup("s@example.test");
		msg->arrival = now;
		msg->requiretls = rtls[i];
		msg->tls_optional = topt[i];
		buf_append(&msg->body.mem, "\r\nhi\r\n", 6);
		msg->body.size = 6;
		spool_msg_add_rcpt(msg, "a@example.test", "a@example.test",
		    NULL, 0, SPOOL_TRANSPORT_REMOTE);
		assert_int_equal(spool_store_msg(sp, msg, &err), 0);
		spool_msg_free(msg);
	}
	assert_int_equal(spool_commit(sp, &err), 0);

	memset(&seen, 0, sizeof(seen));
	assert_int_equal(spool_due_scan(sp, now, 100, test_tls_row, &seen,
	    &rows, &err), 0);
	assert_int_equal(seen.n, 4);
	assert_memory_equal(seen.flags[0], "--", 2);
	assert_memory_equal(seen.flags[1], "R-", 2);
	assert_memory_equal(seen.flags[2], "-O", 2);
	assert_memory_equal(seen.flags[3], "R-", 2);

	assert_int_equal(spool_msg_read(sp, 1, &stored, &err), 1);
	assert_string_equal(stored.qid, "00000000000000c0");
	assert_false(stored.requiretls);
	spool_stored_fini(&stored);
	assert_int_equal(spool_msg_read(sp, 2, &stored, &err), 1);
	assert_string_equal(stored.qid, "00000000000000c1");
	assert_true(stored.requiretls);
	spool_stored_fini(&stored);
	spool_free(sp);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

/* the MTA-STS policies table: put, replace, load what has not expired,
   delete; a put drops the expired rows */
struct sts_rows {
	int		 n;
	char		 domains[4][64];
	char		 ids[4][64];
};

static void
test_sts_row(void *arg, const struct spool_sts *row)
{
	struct sts_rows *r = arg;

	if (r->n < 4) {
		snprintf(r->domains[r->n], 64, "%s", row->domain);
		snprintf(r->ids[r->n], 64, "%s", row->id);
	}
	r->n++;
}

static int
test_sts_count(void)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	snprintf(path, sizeof(path), "%s/spool/queue.db", test_dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM"
	    " sts_policies", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void
test_spool_sts(void **state)
{
	struct spool *sp;
	struct spool_reader *rd;
	struct sts_rows rows;
	struct err err;
	struct spool_sts a = { "a.example", "id1", "version: STSv1\nmode:"
	    " enforce\nmx: mx.a.example\nmax_age: 100\n", 1000, 1100 };
	struct spool_sts b = { "b.example", "id2", "version: STSv1\nmode:"
	    " none\nmax_age: 10\n", 1050, 1060 };

	(void)state;
	sp = spool_open(test_dir, &err);
	assert_non_null(sp);
	assert_int_equal(spool_begin(sp, false, &err), 0);
	assert_int_equal(spool_sts_put(sp, &a, 1000, &err), 0);
	assert_int_equal(spool_sts_put(sp, &b, 1050, &err), 0);
	/* a new fetch replaces the domain's row */
	a.id = "id3";
	a.fetched = 1010;
	a.expires = 1110;
	assert_int_equal(spool_sts_put(sp, &a, 1010, &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);
	assert_int_equal(test_sts_count(), 2);

	rd = spool_reader_open(test_dir, &err);
	assert_non_null(rd);
	/* newest first; b has expired at 1060 */
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(spool_reader_sts(rd, 1055, 10, test_sts_row, &rows,
	    &err), 0);
	assert_int_equal(rows.n, 2);
	assert_string_equal(rows.domains[0], "b.example");
	assert_string_equal(rows.domains[1], "a.example");
	assert_string_equal(rows.ids[1], "id3");
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(spool_reader_sts(rd, 1060, 10, test_sts_row, &rows,
	    &err), 0);
	assert_int_equal(rows.n, 1);
	assert_string_equal(rows.domains[0], "a.example");
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(spool_reader_sts(rd, 0, 1, test_sts_row, &rows,
	    &err), 0);
	assert_int_equal(rows.n, 1);

	/* a put at 1070 drops b's expired row; a delete forgets a */
	assert_int_equal(spool_begin(sp, false, &err), 0);
	b.domain = "c.example";
	b.expires = 2000;
	assert_int_equal(spool_sts_put(sp, &b, 1070, &err), 0);
	assert_int_equal(spool_sts_delete(sp, "a.example", &err), 0);
	assert_int_equal(spool_sts_delete(sp, "nothing.example", &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(spool_reader_sts(rd, 0, 10, test_sts_row, &rows,
	    &err), 0);
	assert_int_equal(rows.n, 1);
	assert_string_equal(rows.domains[0], "c.example");
	assert_int_equal(test_sts_count(), 1);
	spool_reader_close(rd);
	spool_free(sp);
}

static void
test_spool_recover(void **state)
{
	struct spool *sp;
	struct err err;
	char path[512];
	FILE *f;

	/* a body file of a transaction that was never committed */
	snprintf(path, sizeof(path), "%s/spool/bodies/00000000000000ff",
	    test_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("orphan", f);
	fclose(f);
	sp = spool_open(test_dir, &err);
	assert_non_null(sp);
	assert_false(test_body_exists("00000000000000ff"));
	/* committed messages and their bodies survive the reopen */
	assert_int_equal(test_count("0000000000000002"), 1);
	assert_true(test_body_exists("0000000000000002"));
	spool_free(sp);
	snprintf(path, sizeof(path), "rm -rf '%s'", test_dir);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spool_faults),
		cmocka_unit_test(test_spool_linger),
		cmocka_unit_test(test_spool_store),
		cmocka_unit_test(test_spool_priority_usage),
		cmocka_unit_test(test_spool_requiretls),
		cmocka_unit_test(test_spool_sts),
		cmocka_unit_test(test_spool_recover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
