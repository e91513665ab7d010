/* SPDX-License-Identifier: ISC */
/*
 * cli_serve_drain.c - relais serve draining on SIGUSR2; see
 * cli_serve_drain.h. Everything here runs on the main thread, whose loop
 * only waits for signals: the queue is counted there, four times a
 * second, on a read-only spool connection of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_serve_drain.h"
#include "cli/cli_serve_node.h"
#include "core/drain.h"
#include "core/log.h"
#include "policy/limits.h"
#include "queue/handoff.h"
#include "spool/spool.h"

#define DRAIN_TICK_MS	250

static void
drain_path(char *out, size_t n, const char *data_dir, const char *name)
{
	snprintf(out, n, "%s/%s", data_dir, name);
}

/* drain_status - replace DATA_DIR/drain.status (a failure is logged) */
static void
drain_status(struct serve_drain *d, const char *result, int64_t queued,
    int64_t held, const char *error)
{
	char path[4096], tmp[4200];
	FILE *f;

	drain_path(path, sizeof(path), d->data_dir, CLI_DRAIN_STATUS);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "we")) == NULL) {
		log_warn("event=drain.status path=%s", tmp);
		return;
	}
	fprintf(f, "pid %ld\nresult %s\n", (long)getpid(), result);
	if (d->to[0] != '\0')
		fprintf(f, "to %s\n", d->to);
	fprintf(f, "queued %lld\nheld %lld\n", (long long)queued,
	    (long long)held);
	if (error != NULL)
		fprintf(f, "error %s\n", error);
	if (ferror(f) | (fclose(f) != 0) || rename(tmp, path) == -1) {
		log_warn("event=drain.status path=%s", path);
		unlink(tmp);
	}
}

/* drain_count - the queue now; -1 when it cannot be read */
static int
drain_count(struct serve_drain *d, int64_t *queued, int64_t *held)
{
	struct err err;

	*queued = *held = -1;
	if (d->rd == NULL &&
	    (d->rd = spool_reader_open(d->data_dir, &err)) == NULL) {
		log_error("event=drain.count error=\"%s\"", err.msg);
		return -1;
	}
	if (spool_reader_count(d->rd, queued, held, &err) == -1) {
		log_error("event=drain.count error=\"%s\"", err.msg);
		return -1;
	}
	return 0;
}

static void
drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct serve_drain *d = arg;
	int64_t queued, held;
	unsigned sessions;

	if (drain_count(d, &queued, &held) == -1)
		return;
	sessions = limits_active();
	if (queued == 0 && held == 0 && sessions == 0) {
		log_info("event=drain.done%s%s", d->to[0] ? " to=" : "", d->to);
		d->drained = true;
		event_del(d->timer);
		event_base_loopbreak(d->base);
	}
}

/* drain_request - the "to" of DATA_DIR/drain.request; -1 when it is bad */
static int
drain_request(struct serve_drain *d, char *why, size_t whylen)
{
	char path[4096], line[512];
	FILE *f;

	d->to[0] = '\0';
	drain_path(path, sizeof(path), d->data_dir, CLI_DRAIN_REQUEST);
	if ((f = fopen(path, "re")) == NULL)
		return 0;	/* a bare signal: drain in place */
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "to ", 3) == 0)
			snprintf(d->to, sizeof(d->to), "%s", line + 3);
		else if (line[0] != '\0') {
			snprintf(why, whylen, "bad line in %s: %.100s",
			    CLI_DRAIN_REQUEST, line);
			fclose(f);
			unlink(path);
			return -1;
		}
	}
	fclose(f);
	unlink(path);
	return 0;
}

void
serve_drain_start(struct serve_drain *d)
{
	struct timeval tv = { 0, DRAIN_TICK_MS * 1000 };
	char why[512] = "";
	struct err err;
	int64_t queued, held;

	if (d->active) {
		log_info("event=drain.start already=yes");
		return;
	}
	if (drain_request(d, why, sizeof(why)) == -1) {
		log_warnx("event=drain.refused error=\"%s\"", why);
		drain_status(d, "refused", -1, -1, why);
		return;
	}
	if (d->to[0] != '\0' && (d->handoff = handoff_start(d->qmgr,
	    d->data_dir, d->to, d->helo, d->ca_file, &err)) == NULL) {
		log_warnx("event=drain.refused error=\"%s\"", err.msg);
		drain_status(d, "refused", -1, -1, err.msg);
		d->to[0] = '\0';
		return;
	}
	d->active = true;
	drain_start();
	(void)drain_count(d, &queued, &held);
	log_info("event=drain.start%s%s queued=%lld held=%lld sessions=%u",
	    d->to[0] ? " to=" : "", d->to, (long long)queued, (long long)held,
	    limits_active());
	drain_status(d, "draining", queued, held, NULL);
	serve_node_kick(d->node);
	/* what waits for a retry is tried now */
	if (d->handoff == NULL && d->kick != NULL)
		d->kick(d->kick_arg);
	d->timer = event_new(d->base, -1, EV_PERSIST, drain_tick, d);
	if (d->timer == NULL || event_add(d->timer, &tv) == -1)
		log_error("event=drain.start error=\"no timer: the daemon will"
		    " not end by itself\"");
}

void
serve_drain_stop(struct serve_drain *d)
{
	int64_t queued, held;

	if (!d->active)
		return;
	handoff_stop(d->handoff);
	(void)drain_count(d, &queued, &held);
	if (!d->drained)
		log_info("event=drain.stop queued=%lld held=%lld"
		    " warning=\"stopped before the queue was empty: the"
		    " messages stay queued\"", (long long)queued,
		    (long long)held);
	drain_status(d, d->drained && queued == 0 && held == 0 ? "drained" :
	    "stopped", queued, held, NULL);
}

void
serve_drain_fini(struct serve_drain *d)
{
	handoff_free(d->handoff);
	d->handoff = NULL;
	if (d->timer != NULL)
		event_free(d->timer);
	d->timer = NULL;
	spool_reader_close(d->rd);
	d->rd = NULL;
}

int
cli_drain_status_read(const char *data_dir, struct cli_drain_status *st)
{
	char path[4096], line[1024];
	FILE *f;
	bool have = false;

	memset(st, 0, sizeof(*st));
	st->queued = st->held = -1;
	drain_path(path, sizeof(path), data_dir, CLI_DRAIN_STATUS);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *v = strchr(line, ' ');

		line[strcspn(line, "\r\n")] = '\0';
		if (v == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "pid") == 0)
			st->pid = atol(v);
		else if (strcmp(line, "result") == 0) {
			snprintf(st->result, sizeof(st->result), "%s", v);
			have = true;
		} else if (strcmp(line, "to") == 0)
			snprintf(st->to, sizeof(st->to), "%s", v);
		else if (strcmp(line, "queued") == 0)
			st->queued = atoll(v);
		else if (strcmp(line, "held") == 0)
			st->held = atoll(v);
		else if (strcmp(line, "error") == 0)
			snprintf(st->error, sizeof(st->error), "%s", v);
	}
	fclose(f);
	return have && st->pid > 0 ? 0 : -1;
}
