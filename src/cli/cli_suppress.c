/* SPDX-License-Identifier: ISC */
/*
 * cli_suppress.c - relais suppress list|add ADDR|remove ADDR [-c FILE]:
 * the suppression list in the spool database, also while the daemon
 * runs. A change bumps meta suppress_gen in the same transaction; the
 * daemon's queue manager sees it within seconds and reloads its copy.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "policy/suppress.h"

static int
cli_suppress_list(sqlite3 *db)
{
	sqlite3_stmt *st;
	char when[32];
	int n = 0, rc;

	if (sqlite3_prepare_v2(db, "SELECT addr, ts, source, reason FROM"
	    " suppressions ORDER BY addr", -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "relais: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		time_t t = (time_t)sqlite3_column_int64(st, 1);
		struct tm tm;
		const char *reason = (const char *)sqlite3_column_text(st, 3);

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("%s %s %s %s\n", sqlite3_column_text(st, 0), when,
		    sqlite3_column_text(st, 2), reason ? reason : "");
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "relais: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	printf("%d suppressed address%s\n", n, n == 1 ? "" : "es");
	return 0;
}

/* cli_suppress_change - add or remove key, bump suppress_gen */
static int
cli_suppress_change(sqlite3 *db, const char *key, bool add)
{
	sqlite3_stmt *st = NULL;
	int changed;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, add ? "INSERT OR IGNORE INTO suppressions"
	    "(addr, ts, reason, source) VALUES(?1, ?2, 'added by relais"
	    " suppress', 'cli')" : "DELETE FROM suppressions WHERE addr = ?1",
	    -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	changed = sqlite3_changes(db);
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(db, "INSERT INTO meta(name, value) VALUES"
	    " ('suppress_gen', 1) ON CONFLICT(name) DO UPDATE SET"
	    " value = value + 1", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (add)
		printf("%s: %s\n", key, changed ? "added" : "already listed");
	else if (changed)
		printf("%s: removed\n", key);
	else {
		fprintf(stderr, "relais: %s is not on the suppression list\n",
		    key);
		return 1;
	}
	return 0;
fail:
	fprintf(stderr, "relais: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return 1;
}

int
cli_suppress(int argc, char **argv)
{
	const char *path, *cmd;
	char *pos[2], dbpath[4096], key[512];
	int npos, rc;
	struct conf *conf;
	struct err err;
	sqlite3 *db = NULL;

	if (cli_args(argc, argv, &path, pos, 2, &npos) == -1 || npos < 1 ||
	    (strcmp(pos[0], "list") != 0 && npos != 2) ||
	    (strcmp(pos[0], "list") == 0 && npos != 1)) {
		fprintf(stderr, "usage: relais suppress list|add ADDRESS|"
		    "remove ADDRESS [-c FILE]\n");
		return 2;
	}
	cmd = pos[0];
	if (strcmp(cmd, "list") != 0 && strcmp(cmd, "add") != 0 &&
	    strcmp(cmd, "remove") != 0) {
		fprintf(stderr, "relais: unknown suppress command '%s'\n", cmd);
		return 2;
	}
	if (npos == 2 && (strchr(pos[1], '@') == NULL ||
	    strlen(pos[1]) > 320 || strpbrk(pos[1], " \t<>") != NULL)) {
		fprintf(stderr, "relais: '%s' is not an address\n", pos[1]);
		return 2;
	}
	if (conf_find(path, &conf, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/spool/queue.db",
	    conf->server.data_dir);
	conf_unref(conf);
	if (access(dbpath, F_OK) == -1) {
		fprintf(stderr, "relais: no spool at %s (start relais serve"
		    " once)\n", dbpath);
		return 1;
	}
	if (sqlite3_open_v2(dbpath, &db, strcmp(cmd, "list") == 0 ?
	    SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "relais: %s: %s\n", dbpath,
		    db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return 1;
	}
	sqlite3_busy_timeout(db, 10000);
	if (strcmp(cmd, "list") == 0)
		rc = cli_suppress_list(db);
	else {
		suppress_key(pos[1], key, sizeof(key));
		rc = cli_suppress_change(db, key, strcmp(cmd, "add") == 0);
	}
	sqlite3_close(db);
	return rc;
}
