/* SPDX-License-Identifier: ISC */
/*
 * cli_tls_report.c - relais tls report [--day YYYY-MM-DD|today] [--send]
 * [-c FILE]: the TLS-RPT reports (RFC 8460) of one UTC day (default:
 * yesterday).
 *
 * Without --send: a JSON array of the reports the spool's counts make,
 * one per policy domain, indented, uncompressed, read on a read-only
 * connection, also while the daemon runs (its last TLSRPT_STORE_INTERVAL
 * seconds of counts may still be in its memory). The report ids are
 * made for the occasion; the reports sent carry their own.
 *
 * With --send: a row in the spool's tlsrpt_requests table, which the
 * running daemon looks at every few seconds; it sends that day's
 * reports now (today's as counted so far, and then still after the day
 * ends; a past day's for good) and answers in the row, which this
 * command waits for (up to CLI_TLS_WAIT seconds) and prints. Exit 0 when
 * the daemon answered without an error, 1 otherwise (an answer that
 * does not come in time leaves the request to the daemon, which serves
 * it at its next start if it is not running).
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_daemon.h"
#include "conf/conf.h"
#include "core/id.h"
#include "queue/tlsrpt_send.h"
#include "spool/spool.h"
#include "tlspol/tlsrpt_report.h"

#define CLI_TLS_WAIT	180	/* seconds for the daemon's answer */

static void
cli_tls_report_usage(void)
{
	fprintf(stderr, "usage: relais tls report [--day YYYY-MM-DD|today]"
	    " [--send] [-c FILE]\n");
}

/* cli_tls_print - the day's reports as one JSON array on stdout */
static int
cli_tls_print(const struct conf *conf, const char *day)
{
	struct spool_reader *rd;
	struct tlsrpt_count *c;
	struct err err;
	int64_t start, end;
	size_t n, i = 0, nrep = 0;

	if ((rd = spool_reader_open(conf->server.data_dir, &err)) == NULL) {
		fprintf(stderr, "relais: %s\n", err.msg);
		return 1;
	}
	if (tlsrpt_day_load(rd, day, &c, &n, &err) == -1) {
		fprintf(stderr, "relais: %s%s\n", err.msg,
		    strstr(err.msg, "no such table") ? " (relais serve has"
		    " not opened this spool since TLS-RPT came)" : "");
		spool_reader_close(rd);
		return 1;
	}
	spool_reader_close(rd);
	(void)tlsrpt_day_bounds(day, (int64_t)time(NULL), &start, &end);
	printf("[");
	while (i < n) {
		struct tlsrpt_report_info ri;
		char uid[ID_QID_LEN + 1], *json;
		size_t j = i;

		while (j < n && strcmp(c[j].policy_domain,
		    c[i].policy_domain) == 0)
			j++;
		id_qid_new(uid);
		memset(&ri, 0, sizeof(ri));
		ri.organization = conf->tlsrpt.organization;
		ri.contact = conf->tlsrpt.contact;
		ri.submitter = conf->server.hostname;
		ri.policy_domain = c[i].policy_domain;
		ri.uid = uid;
		ri.start = start;
		ri.end = end;
		if ((json = tlsrpt_report_json(&ri, c + i, j - i, true,
		    &err)) == NULL) {
			fprintf(stderr, "relais: %s: %s\n", c[i].policy_domain,
			    err.msg);
			tlsrpt_counts_free(c, n);
			printf("]\n");
			return 1;
		}
		printf("%s\n%s", nrep++ ? "," : "", json);
		free(json);
		i = j;
	}
	printf("%s]\n", nrep ? "\n" : "");
	tlsrpt_counts_free(c, n);
	return 0;
}

/* cli_tls_daemon - the pid of the running daemon, 0 if none */
static long
cli_tls_daemon(const char *data_dir)
{
	return cli_daemon_pid(data_dir);
}

/* cli_tls_send - the request, then the daemon's answer */
static int
cli_tls_send(const struct conf *conf, const char *day)
{
	char dbpath[4096];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t asked = (int64_t)time(NULL);
	int rc = 1;

	snprintf(dbpath, sizeof(dbpath), "%s/spool/queue.db",
	    conf->server.data_dir);
	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "relais: %s: %s\n", dbpath,
		    db ? sqlite3_errmsg(db) : "cannot open");
		goto done;
	}
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO tlsrpt_requests(day,"
	    " asked, done, result) VALUES(?1, ?2, 0, NULL)", -1, &st,
	    NULL) != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, asked);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);
	st = NULL;
	if (cli_tls_daemon(conf->server.data_dir) == 0) {
		fprintf(stderr, "relais: relais serve is not running; it sends"
		    " the reports of %s when it starts\n", day);
		goto done;
	}
	if (sqlite3_prepare_v2(db, "SELECT result FROM tlsrpt_requests WHERE"
	    " day = ?1 AND asked = ?2 AND done = 1", -1, &st, NULL) !=
	    SQLITE_OK)
		goto sqlfail;
	for (int i = 0; i < CLI_TLS_WAIT * 5; i++) {
		int s;

		sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, asked);
		s = sqlite3_step(st);
		if (s == SQLITE_ROW) {
			const char *r = (const char *)sqlite3_column_text(st, 0);

			r = r ? r : "";
			printf("%s\n", r);
			rc = strncmp(r, "error:", 6) == 0 ? 1 : 0;
			goto done;
		}
		sqlite3_reset(st);
		if (s != SQLITE_DONE && s != SQLITE_BUSY)
			goto sqlfail;
		usleep(200000);
	}
	fprintf(stderr, "relais: no answer from relais serve within %d s;"
	    " the request stays with it\n", CLI_TLS_WAIT);
	goto done;
sqlfail:
	fprintf(stderr, "relais: %s%s\n", sqlite3_errmsg(db),
	    strstr(sqlite3_errmsg(db), "no such table") ? " (relais serve has"
	    " not opened this spool since TLS-RPT came)" : "");
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

int
cli_tls_report(int argc, char **argv)
{
	const char *path = NULL, *dayarg = NULL;
	struct conf *conf;
	struct err err;
	char day[11];
	int64_t start, end, now = (int64_t)time(NULL);
	bool send = false;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--day") == 0 && i + 1 < argc)
			dayarg = argv[++i];
		else if (strcmp(argv[i], "--send") == 0)
			send = true;
		else {
			cli_tls_report_usage();
			return 2;
		}
	}
	if (dayarg == NULL)
		tlsrpt_day_of(now - 86400, day);
	else if (strcmp(dayarg, "today") == 0)
		tlsrpt_day_of(now, day);
	else if (tlsrpt_day_bounds(dayarg, now, &start, &end) == -1 ||
	    start > now) {
		fprintf(stderr, "relais: --day %s: not a day (YYYY-MM-DD) up to"
		    " today\n", dayarg);
		return 2;
	} else
		snprintf(day, sizeof(day), "%s", dayarg);
	if (conf_find(path, &conf, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	rc = send ? cli_tls_send(conf, day) : cli_tls_print(conf, day);
	conf_unref(conf);
	return rc;
}
