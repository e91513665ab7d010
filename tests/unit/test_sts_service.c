/* SPDX-License-Identifier: ISC */
/*
 * test_sts_service.c - the MTA-STS service (tlspol/sts.c) without a
 * network: invalid domains, policies loaded from the spool and used
 * before the thread runs (expired ones not), a lookup that fails (the
 * resolver is a closed loopback port) answered STS_NO and then not
 * looked up again, a lookup dropped by sts_stop.
 *
 * With RELAIS_STS_PROBE=CONFIG in its environment the program is
 * instead a probe for tests/integration/test_mta_sts_service.py: it runs
 * the service for CONFIG (resolver, [relay] ca_file, data_dir: policies
 * stored in its spool through a store hook of its own) and answers
 * commands on stdin, one line each on stdout:
 *   get DOMAIN   sts_get, waiting (75 s at most) while STS_PENDING:
 *                "GOT mode=M max_age=N id=I mx=A,B fetched=T expires=T"
 *                or "NO fail=N" (enum tls_result)
 *   peek DOMAIN  sts_get, not waiting: as get, or "PENDING"
 *   sync DOMAIN  sts_fetch_sync: "SYNC 1 " and the policy as GOT gives
 *                it, "SYNC 0", or "SYNC -1 fail=N error=..."
 *   quit         stop the service and exit 0
 * The service logs to stderr as relais does.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/thread.h>

#include "core/log.h"
#include "live/conf_live.h"
#include "spool/spool.h"
#include "tlspol/sts.h"

/* --- done callbacks ------------------------------------------------------ */

struct waits {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 done;
	char		 domain[256];
};

static struct waits waits = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, ""
};

static void
test_done(void *arg, const char *domain)
{
	struct waits *w = arg;

	pthread_mutex_lock(&w->lock);
	w->done++;
	snprintf(w->domain, sizeof(w->domain), "%s", domain);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* wait_done - until done has been called more than seen times, at most
   secs seconds; the count */
static int
wait_done(int seen, int secs)
{
	struct timespec ts;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += secs;
	pthread_mutex_lock(&waits.lock);
	while (waits.done <= seen &&
	    pthread_cond_timedwait(&waits.cond, &waits.lock, &ts) == 0)
		;
	n = waits.done;
	pthread_mutex_unlock(&waits.lock);
	return n;
}

static int
done_count(void)
{
	int n;

	pthread_mutex_lock(&waits.lock);
	n = waits.done;
	pthread_mutex_unlock(&waits.lock);
	return n;
}

/* --- the probe ------------------------------------------------------------ */

static struct spool *probe_spool;

/* probe_store - the store hook: straight into the spool (the probe has
   no queue manager); on the sts thread, the spool's only user */
static void
probe_store(void *arg, const char *domain, const struct sts_policy *p)
{
	char lines[STS_MX_MAX + 3][300], body[(STS_MX_MAX + 3) * 301];
	struct spool_sts row;
	struct err err;
	size_t n, len = 0;
	int64_t now = (int64_t)time(NULL);

	if (spool_begin(probe_spool, false, &err) == -1)
		goto fail;
	if (p == NULL) {
		if (spool_sts_delete(probe_spool, domain, &err) == -1)
			goto fail_txn;
	} else {
		n = sts_policy_lines(p, lines, STS_MX_MAX + 3);
		for (size_t i = 0; i < n; i++)
			len += (size_t)snprintf(body + len, sizeof(body) - len,
			    "%s\n", lines[i]);
		row.domain = domain;
		row.id = p->id;
		row.policy = body;
		row.fetched = p->fetched;
		row.expires = p->expires;
		if (spool_sts_put(probe_spool, &row, now, &err) == -1)
			goto fail_txn;
	}
	if (spool_commit(probe_spool, &err) == 0)
		return;
	goto fail;
fail_txn:
	spool_rollback(probe_spool);
fail:
	fprintf(stderr, "probe: store %s: %s\n", domain, err.msg);
}

static void
probe_print(enum sts_get_status st, const struct sts_policy *p,
    enum tls_result fail)
{
	static const char *const modes[] = { "none", "testing", "enforce" };

	if (st == STS_PENDING) {
		printf("PENDING\n");
	} else if (st == STS_NO) {
		printf("NO fail=%d\n", (int)fail);
	} else {
		printf("GOT mode=%s max_age=%u id=%s mx=", modes[p->mode],
		    p->max_age, p->id);
		for (size_t i = 0; i < p->nmx; i++)
			printf("%s%s", i ? "," : "", p->mx[i]);
		printf(" fetched=%lld expires=%lld\n", (long long)p->fetched,
		    (long long)p->expires);
	}
	fflush(stdout);
}

static int
probe(const char *path)
{
	struct conf_live live;
	struct sts *s;
	struct err err;
	char line[512], dom[300];

	if (evthread_use_pthreads() == -1 ||
	    conf_live_init(&live, path, &err) == -1) {
		fprintf(stderr, "probe: %s\n", err.msg);
		return 2;
	}
	log_set_level(LOG_LEVEL_DEBUG);
	if ((probe_spool = spool_open(live.cur->conf->server.data_dir,
	    &err)) == NULL || (s = sts_new(&live,
	    live.cur->conf->server.data_dir, &err)) == NULL) {
		fprintf(stderr, "probe: %s\n", err.msg);
		return 2;
	}
	sts_set_store(s, probe_store, NULL);
	if (sts_start(s, &err) == -1) {
		fprintf(stderr, "probe: %s\n", err.msg);
		return 2;
	}
	printf("READY\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		struct sts_policy p;
		enum tls_result fail;
		enum sts_get_status st;
		bool wait;

		if (strncmp(line, "quit", 4) == 0)
			break;
		if (sscanf(line, "sync %299s", dom) == 1) {
			int r = sts_fetch_sync(&live, dom, &p, &err);

			if (r == 1) {
				printf("SYNC 1 ");
				probe_print(STS_GOT, &p, TLS_R_OK);
			} else if (r == 0) {
				printf("SYNC 0\n");
			} else {
				printf("SYNC -1 fail=%d error=%s\n", err.code,
				    err.msg);
			}
			fflush(stdout);
			continue;
		}
		if (sscanf(line, "get %299s", dom) == 1)
			wait = true;
		else if (sscanf(line, "peek %299s", dom) == 1)
			wait = false;
		else {
			printf("ERR unknown command\n");
			fflush(stdout);
			continue;
		}
		for (int i = 0;; i++) {
			int seen = done_count();

			st = sts_get(s, dom, &p, &fail, test_done, &waits);
			if (st != STS_PENDING || !wait || i == 3)
				break;
			wait_done(seen, 75);
		}
		probe_print(st, &p, fail);
	}
	sts_stop(s);
	sts_free(s);
	spool_free(probe_spool);
	conf_live_fini(&live);
	return 0;
}

/* --- unit tests ------------------------------------------------------------ */

static char test_dir[] = "/tmp/relais-test-sts-XXXXXX";
static char conf_path[300];

/* make_conf - a configuration whose resolver is a closed loopback port */
static void
make_conf(void)
{
	FILE *f;

	snprintf(conf_path, sizeof(conf_path), "%s/relais.conf", test_dir);
	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f, "[server]\nhostname = mx.test\ndata_dir = %s/data\n"
	    "[listener mx]\naddress = 127.0.0.1:25\n"
	    "[dns]\nresolver = 127.0.0.1:9\ntimeout = 1s\n"
	    "trust_anchor = none\n", test_dir);
	fclose(f);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(test_dir) == NULL)
		return -1;
	make_conf();
	log_set_level(LOG_LEVEL_ERROR);
	return evthread_use_pthreads();
}

static int
teardown(void **state)
{
	char cmd[400];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_invalid_domains(void **state)
{
	static const char *const bad[] = {
		"", ".", "a..example", "-a.example", "a_b.example",
		"[192.0.2.1]", "a.example/x", "a.example:443", "a example",
		"\xc3\xa9.example",
	};
	struct conf_live live;
	struct sts_policy p;
	enum tls_result fail = TLS_R_STS_POLICY_INVALID;
	struct spool *sp;
	struct sts *s;
	struct err err;

	(void)state;
	assert_int_equal(conf_live_init(&live, conf_path, &err), 0);
	sp = spool_open(live.cur->conf->server.data_dir, &err);
	assert_non_null(sp);
	s = sts_new(&live, live.cur->conf->server.data_dir, &err);
	assert_non_null(s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sts_get(s, bad[i], &p, &fail, test_done,
		    &waits), STS_NO);
		assert_int_equal(fail, TLS_R_OK);
	}
	assert_int_equal(sts_get(NULL, "a.example", &p, &fail, NULL, NULL),
	    STS_NO);
	assert_int_equal(sts_get(s, NULL, &p, &fail, NULL, NULL), STS_NO);
	sts_free(s);
	spool_free(sp);
	conf_live_fini(&live);
}

static void
test_loaded_and_failed(void **state)
{
	struct conf_live live;
	struct sts_policy p;
	enum tls_result fail;
	struct spool *sp;
	struct sts *s;
	struct err err;
	int64_t now = (int64_t)time(NULL);
	struct spool_sts in = { "stored.example", "id7", "version: STSv1\n"
	    "mode: enforce\nmx: mx.stored.example\nmx: *.b.example\n"
	    "max_age: 86400\n", now - 10, now + 86390 };
	struct spool_sts old = { "old.example", "id1", "version: STSv1\n"
	    "mode: enforce\nmx: mx.old.example\nmax_age: 5\n", now - 10,
	    now - 5 };
	int seen;

	(void)state;
	assert_int_equal(conf_live_init(&live, conf_path, &err), 0);
	sp = spool_open(live.cur->conf->server.data_dir, &err);
	assert_non_null(sp);
	assert_int_equal(spool_begin(sp, false, &err), 0);
	assert_int_equal(spool_sts_put(sp, &in, now - 20, &err), 0);
	assert_int_equal(spool_sts_put(sp, &old, now - 20, &err), 0);
	assert_int_equal(spool_commit(sp, &err), 0);

	s = sts_new(&live, live.cur->conf->server.data_dir, &err);
	assert_non_null(s);
	/* a stored policy in force: used at once, any case, a root dot */
	assert_int_equal(sts_get(s, "Stored.Example.", &p, &fail, test_done,
	    &waits), STS_GOT);
	assert_int_equal(p.mode, STS_MODE_ENFORCE);
	assert_string_equal(p.id, "id7");
	assert_int_equal(p.nmx, 2);
	assert_string_equal(p.mx[1], "*.b.example");
	assert_int_equal(p.fetched, now - 10);
	assert_int_equal(p.expires, now + 86390);
	assert_true(sts_mx_match(&p, "x.b.example"));

	/* an expired one is not loaded: a lookup is needed, and fails (the
	   resolver does not answer): STS_NO, not looked up again */
	seen = done_count();
	assert_int_equal(sts_get(s, "old.example", &p, &fail, test_done,
	    &waits), STS_PENDING);
	/* asked again while it runs: a second done */
	assert_int_equal(sts_get(s, "old.example", &p, &fail, test_done,
	    &waits), STS_PENDING);
	assert_int_equal(sts_start(s, &err), 0);
	assert_true(wait_done(seen + 1, 30) >= seen + 2);
	assert_string_equal(waits.domain, "old.example");
	fail = TLS_R_STS_POLICY_INVALID;
	assert_int_equal(sts_get(s, "old.example", &p, &fail, test_done,
	    &waits), STS_NO);
	assert_int_equal(fail, TLS_R_OK);	/* no TXT known: no policy */
	seen = done_count();
	assert_int_equal(sts_get(s, "old.example", &p, &fail, test_done,
	    &waits), STS_NO);
	/* the stored policy still applies */
	assert_int_equal(sts_get(s, "stored.example", &p, &fail, NULL, NULL),
	    STS_GOT);

	/* a lookup running at sts_stop: dropped, done never called, and
	   then STS_NO */
	assert_int_equal(sts_get(s, "new.example", &p, &fail, test_done,
	    &waits), STS_PENDING);
	sts_stop(s);
	assert_int_equal(done_count(), seen);
	assert_int_equal(sts_get(s, "new.example", &p, &fail, test_done,
	    &waits), STS_NO);
	assert_int_equal(sts_get(s, "other.example", &p, &fail, test_done,
	    &waits), STS_NO);
	assert_int_equal(sts_get(s, "stored.example", &p, &fail, NULL, NULL),
	    STS_GOT);
	sts_free(s);
	assert_int_equal(done_count(), seen);
	spool_free(sp);
	conf_live_fini(&live);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_invalid_domains),
		cmocka_unit_test(test_loaded_and_failed),
	};
	const char *p = getenv("RELAIS_STS_PROBE");

	if (p != NULL && p[0] != '\0')
		return probe(p);
	return cmocka_run_group_tests(tests, setup, teardown);
}
