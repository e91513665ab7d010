/* SPDX-License-Identifier: ISC */
/*
 * test_sites.c - destination sites in the queue: the names and reasons
 * an operator gives (queue/sites.c), a site's state in words, and the
 * spool's side (spool/spool_sites.c): recipients.site written with their
 * results, the agent's rows, the operator's changes stamped with
 * sites_gen, the queue grouped by site, and an older spool given the
 * column at open.
 */
#include <sys/stat.h>

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
#include "queue/sites.h"
#include "spool/spool.h"

static void
test_name(void **state)
{
	char out[SITES_NAME_MAX], long_name[200];

	(void)state;
	assert_true(sites_name("MX.Example.NET", out, sizeof(out)));
	assert_string_equal(out, "mx.example.net");
	assert_true(sites_name("gmail", out, sizeof(out)));
	assert_true(sites_name("mx1.a.test,mx2.a.test", out, sizeof(out)));
	assert_false(sites_name("", out, sizeof(out)));
	assert_false(sites_name(NULL, out, sizeof(out)));
	assert_false(sites_name("a b", out, sizeof(out)));
	assert_false(sites_name("a/b", out, sizeof(out)));
	assert_false(sites_name("a\"b", out, sizeof(out)));
	assert_false(sites_name("(local)", out, sizeof(out)));
	assert_false(sites_name("a\nb", out, sizeof(out)));
	assert_false(sites_name("\xc3\xa9.test", out, sizeof(out)));
	memset(long_name, 'a', 127);
	long_name[127] = '\0';
	assert_true(sites_name(long_name, out, sizeof(out)));
	long_name[127] = 'a';
	long_name[128] = '\0';
	assert_false(sites_name(long_name, out, sizeof(out)));
	assert_false(sites_name("ok", out, 16));	/* out too small */
}

static void
test_reason(void **state)
{
	char out[SITES_REASON_MAX], big[600];

	(void)state;
	sites_reason("maintenance \"window\"\r\nX", out, sizeof(out));
	assert_string_equal(out, "maintenance  window   X");
	sites_reason(NULL, out, sizeof(out));
	assert_string_equal(out, "");
	sites_reason("caf\xc3\xa9 \xff", out, sizeof(out));
	assert_string_equal(out, "caf\xc3\xa9 ?");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sites_reason(big, out, sizeof(out));
	assert_int_equal(strlen(out), SITES_REASON_MAX - 1);
	/* a UTF-8 sequence is not cut */
	memset(big, 'x', SITES_REASON_MAX - 2);
	memcpy(big + SITES_REASON_MAX - 2, "\xc3\xa9", 3);
	sites_reason(big, out, sizeof(out));
	assert_int_equal(strlen(out), SITES_REASON_MAX - 2);
}

static void
test_state(void **state)
{
	struct spool_site s;
	char text[512];

	(void)state;
	memset(&s, 0, sizeof(s));
	s.site = "mx.example.net";
	assert_int_equal(sites_state(&s, 1000, text, sizeof(text)),
	    SITES_ACTIVE);
	assert_string_equal(text, "active");
	s.suspended_until = 86400 + 3600;
	s.manual = true;
	s.reason = "maintenance";
	assert_int_equal(sites_state(&s, 1000, text, sizeof(text)),
	    SITES_SUSPENDED);
	assert_string_equal(text, "suspended until 1970-01-02T01:00:00Z"
	    " (manual) maintenance");
	s.manual = false;
	s.reason = NULL;
	sites_state(&s, 1000, text, sizeof(text));
	assert_string_equal(text, "suspended until 1970-01-02T01:00:00Z"
	    " (auto)");
	/* past: no longer */
	assert_int_equal(sites_state(&s, 86400 + 3600, text, sizeof(text)),
	    SITES_ACTIVE);
	s.suspended_until = 0;
	s.rate = 0.5;
	s.rate_max = 2;
	assert_int_equal(sites_state(&s, 1000, text, sizeof(text)),
	    SITES_THROTTLED);
	assert_string_equal(text, "rate 0.5/s of 2/s");
	s.rate = 2;
	assert_int_equal(sites_state(&s, 1000, text, sizeof(text)),
	    SITES_ACTIVE);
}

/* --- the spool's side ---------------------------------------------------- */

static char test_dir[256];

struct test_rows {
	char	 site[8][SITES_NAME_MAX];
	int64_t	 until[8];
	uint64_t queued[8];
	bool	 known[8];
	size_t	 n;
};

static void
test_change_row(void *arg, const struct spool_site *s)
{
	struct test_rows *t = arg;

	assert_true(t->n < 8);
	snprintf(t->site[t->n], SITES_NAME_MAX, "%s", s->site);
	t->until[t->n++] = s->suspended_until;
}

static int
test_site_row(void *arg, const struct spool_site *s)
{
	struct test_rows *t = arg;

	assert_true(t->n < 8);
	snprintf(t->site[t->n], SITES_NAME_MAX, "%s", s->site);
	t->until[t->n] = s->suspended_until;
	t->known[t->n] = s->known;
	t->queued[t->n++] = s->queued;
	return 0;
}

static int
test_due_first(void *arg, const struct spool_due *due)
{
	uint64_t *ids = arg;

	for (int i = 0; i < 3; i++)
		if (ids[i] == 0) {
			ids[i] = due->rcpt_id;
			break;
		}
	return 0;
}

static void
test_spool_sites(void **state)
{
	struct spool *sp;
	struct spool_reader *rd;
	struct spool_msg *msg;
	struct spool_site s;
	struct test_rows t;
	struct err err;
	uint64_t ids[3] = { 0, 0, 0 };
	int64_t gen;
	size_t rows;
	char cmd[512];

	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/relais-test-sites-XXXXXX");
	assert_non_null(mkdtemp(test_dir));
	log_set_level(LOG_LEVEL_ERROR);
	assert_non_null(sp = spool_open(test_dir, &err));

	msg = spool_msg_new();
	snprintf(msg->qid, sizeof(msg->qid), "00000000000000c1");
	msg->sender = strdup("s@example.test");
	msg->arrival = 1000;
	buf_append(&msg->body.mem, "Subject: t\r\n\r\nhi\r\n", 19);
	msg->body.size = 19;
	spool_msg_add_rcpt(msg, "a@remote.test", "a@remote.test", NULL, 0,
	    SPOOL_TRANSPORT_REMOTE);
	spool_msg_add_rcpt(msg, "b@remote.test", "b@remote.test", NULL, 0,
	    SPOOL_TRANSPORT_REMOTE);
	spool_msg_add_rcpt(msg, "c@example.test", "c@example.test", NULL, 0,
	    SPOOL_TRANSPORT_LOCAL);
	assert_int_equal(spool_begin(sp, true, &err), 0);
	assert_int_equal(spool_store_msg(sp, msg, &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);
	spool_msg_free(msg);
	assert_int_equal(spool_due_scan(sp, 2000, 3, test_due_first, ids,
	    &rows, &err), 0);

	/* a deferral names the site; one without a site keeps it; the
	   agent's state and an operator's suspension */
	assert_int_equal(spool_begin(sp, false, &err), 0);
	assert_int_equal(spool_rcpt_defer(sp, ids[0], 2000, "421 later", 60,
	    3600, 0, false, "mx.remote.test", true, &err), 0);
	assert_int_equal(spool_rcpt_defer(sp, ids[0], 2001, "421 later", 60,
	    3600, 0, false, "", true, &err), 0);
	memset(&s, 0, sizeof(s));
	s.site = "mx.remote.test";
	s.suspended_until = 5000;
	s.reason = "421 4.7.28 rate limited";
	s.updated = 2000;
	assert_int_equal(spool_site_put(sp, &s, &err), 0);
	s.site = "other.test";
	s.suspended_until = 0;
	s.rate = 1;
	s.rate_max = 4;
	assert_int_equal(spool_site_put(sp, &s, &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);

	/* by site: the deferred one under its site, the one not tried yet
	   under "(unknown)", the local one, then the row with nothing */
	assert_non_null(rd = spool_reader_open(test_dir, &err));
	memset(&t, 0, sizeof(t));
	assert_int_equal(spool_reader_sites(rd, test_site_row, &t, &err), 0);
	assert_int_equal(t.n, 4);
	assert_string_equal(t.site[0], SPOOL_SITE_LOCAL);
	assert_int_equal(t.queued[0], 1);
	assert_string_equal(t.site[1], SPOOL_SITE_UNKNOWN);
	assert_int_equal(t.queued[1], 1);
	assert_false(t.known[1]);
	assert_string_equal(t.site[2], "mx.remote.test");
	assert_int_equal(t.queued[2], 1);
	assert_true(t.known[2]);
	assert_int_equal(t.until[2], 5000);
	assert_string_equal(t.site[3], "other.test");
	assert_int_equal(t.queued[3], 0);

	/* the operator: gen bumped and stamped; the first load (after -1)
	   finds the suspensions in force, a later one the changes since */
	assert_int_equal(spool_begin(sp, true, &err), 0);
	assert_int_equal(spool_site_operator(sp, "manual.test", 9000, "why",
	    3000, &err), 0);
	assert_int_equal(spool_site_operator(sp, "gone.test", 0, NULL, 3000,
	    &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);
	assert_int_equal(spool_var_get(sp, SPOOL_SITES_GEN, &gen, &err), 0);
	assert_int_equal(gen, 2);
	memset(&t, 0, sizeof(t));
	assert_int_equal(spool_site_changes(sp, -1, 3000, test_change_row, &t,
	    &err), 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.site[0], "manual.test");
	memset(&t, 0, sizeof(t));
	assert_int_equal(spool_site_changes(sp, 1, 3000, test_change_row, &t,
	    &err), 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.site[0], "gone.test");
	assert_int_equal(t.until[0], 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(spool_site_changes(sp, 2, 3000, test_change_row, &t,
	    &err), 0);
	assert_int_equal(t.n, 0);
	/* the agent's report does not stamp */
	assert_int_equal(spool_begin(sp, false, &err), 0);
	memset(&s, 0, sizeof(s));
	s.site = "manual.test";
	s.suspended_until = 9000;
	s.manual = true;
	s.updated = 3001;
	assert_int_equal(spool_site_put(sp, &s, &err), 0);
	/* pruned: rows not changed lately and not suspended */
	assert_int_equal(spool_site_prune(sp, 2500, 3000, &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(spool_site_changes(sp, 2, 3000, test_change_row, &t,
	    &err), 0);
	assert_int_equal(t.n, 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(spool_reader_sites(rd, test_site_row, &t, &err), 0);
	for (size_t i = 0; i < t.n; i++)
		assert_string_not_equal(t.site[i], "other.test");
	spool_reader_close(rd);
	spool_free(sp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
	assert_int_equal(system(cmd), 0);
}

/* a spool made before recipients.site: the column is added at open */
static void
test_migrate(void **state)
{
	struct spool *sp;
	struct err err;
	sqlite3 *db;
	char path[512];

	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/relais-test-sites-XXXXXX");
	assert_non_null(mkdtemp(test_dir));
	snprintf(path, sizeof(path), "%s/spool", test_dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/spool/queue.db", test_dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE recipients("
	    " id INTEGER PRIMARY KEY, msg_id INTEGER NOT NULL,"
	    " addr TEXT NOT NULL, orig TEXT NOT NULL, orcpt TEXT,"
	    " notify INTEGER NOT NULL DEFAULT 0, transport INTEGER NOT NULL,"
	    " status INTEGER NOT NULL DEFAULT 0,"
	    " leased INTEGER NOT NULL DEFAULT 0,"
	    " warned INTEGER NOT NULL DEFAULT 0,"
	    " attempts INTEGER NOT NULL DEFAULT 0,"
	    " next_attempt INTEGER NOT NULL, last_attempt INTEGER,"
	    " last_reply TEXT);"
	    "INSERT INTO recipients(msg_id, addr, orig, transport,"
	    " next_attempt) VALUES(1, 'a@b.test', 'a@b.test', 1, 0);", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_non_null(sp = spool_open(test_dir, &err));
	spool_free(sp);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT site FROM recipients", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	/* and again: nothing to add */
	assert_non_null(sp = spool_open(test_dir, &err));
	spool_free(sp);
	snprintf(path, sizeof(path), "rm -rf '%s'", test_dir);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_spool_sites),
		cmocka_unit_test(test_migrate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
