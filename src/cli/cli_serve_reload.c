/* SPDX-License-Identifier: ISC */
/*
 * cli_serve_reload.c - SIGHUP in relais serve; see cli_serve_reload.h.
 *
 * A reload replaces the configuration snapshot as a whole: the file and
 * its shaping file, users, aliases, certificates, DKIM keys; sessions and
 * deliveries keep the snapshot they started with. What the daemon set up
 * once at start does not follow it; serve_reload_restart names those
 * keys, compared with the configuration the daemon started with (so a
 * key changed by an earlier reload is named again until the restart):
 *   server.data_dir, user, threads, sandbox  (spool, privileges, workers)
 *   listener[NAME], listener[NAME].address   (bound sockets; role, tls,
 *                                             proxy_protocol and proxy_from
 *                                             of a listener do follow)
 *   http, http.address, http.tls, http.keys  (the API's sockets, keys file)
 *   dns.resolver, timeout, trust_anchor      (the resolvers of the agents
 *                                             and of MTA-STS)
 *   relay.ca_file                            (the agents' CA store)
 *   webhooks.url                             (only when there was none:
 *                                             no webhook thread then)
 *   local.mailboxes                          (with the sandbox, when its
 *                                             fixed part leaves the tree
 *                                             allowed at start)
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_daemon.h"
#include "cli/cli_serve_reload.h"
#include "conf/conf_diff.h"
#include "core/log.h"
#include "core/xalloc.h"

/* keys whose new value waits for a restart, by conf_diff name */
static const char *const serve_reload_restart_keys[] = {
	"server.data_dir", "server.user", "server.threads", "server.sandbox",
	"http", "http.address", "http.tls", "http.keys",
	"dns.resolver", "dns.timeout", "dns.trust_anchor",
	"relay.ca_file", "server.node", "cluster.redis", "cluster.password",
	"cluster.prefix", "cluster.timeout", "cluster.tls", "cluster.tls_ca_file",
	"cluster.tls_certificate", "cluster.tls_key", "cluster.tls_name",
};

/* a comma-separated list of names, cut with "..." when full */
struct serve_reload_list {
	char	 s[CLI_DAEMON_LIST_MAX];
	size_t	 len;
	bool	 full;
};

struct serve_reload_diff {
	const struct conf	*start;
	const struct conf	*now;
	struct serve_reload_list *list;
	bool			 restart_only;	/* keep the restart keys */
};

static void
serve_reload_add(struct serve_reload_list *l, const char *name)
{
	size_t n = strlen(name);

	if (l->full)
		return;
	if (l->len + (l->len ? 1 : 0) + n + 4 >= sizeof(l->s)) {
		snprintf(l->s + l->len, sizeof(l->s) - l->len, "%s...",
		    l->len ? "," : "");
		l->full = true;
		return;
	}
	l->len += (size_t)snprintf(l->s + l->len, sizeof(l->s) - l->len,
	    "%s%s", l->len ? "," : "", name);
}

/* serve_reload_mail_dir - the length of the fixed directory above the
   first %-expansion of a mailboxes template (as the sandbox's rule) */
static size_t
serve_reload_mail_dir(const char *tmpl)
{
	const char *pct = strchr(tmpl, '%');
	size_t n = pct ? (size_t)(pct - tmpl) : strlen(tmpl);

	while (n > 0 && tmpl[n - 1] != '/')
		n--;
	while (n > 1 && tmpl[n - 1] == '/')
		n--;
	return n;
}

/* serve_reload_under - dir[0..n) is base or below it */
static bool
serve_reload_under(const char *dir, size_t n, const char *base)
{
	size_t b = strlen(base);

	while (b > 1 && base[b - 1] == '/')
		b--;
	return n >= b && strncmp(dir, base, b) == 0 &&
	    (n == b || dir[b] == '/' || b == 1);
}

/* serve_reload_mailboxes - does the new template leave what the sandbox
   allowed at start (DATA_DIR and the old template's fixed directory) */
static bool
serve_reload_mailboxes(const struct conf *start, const struct conf *now)
{
	const char *t = now->local.mailboxes, *s = start->local.mailboxes;
	size_t n = serve_reload_mail_dir(t), sn = serve_reload_mail_dir(s);
	char *sdir;
	bool in;

	if (!start->server.sandbox || n == 0 || t[0] != '/')
		return false;
	if (serve_reload_under(t, n, start->server.data_dir))
		return false;
	sdir = xmalloc(sn + 1);
	memcpy(sdir, s, sn);
	sdir[sn] = '\0';
	in = sn > 0 && serve_reload_under(t, n, sdir);
	free(sdir);
	return !in;
}

/* serve_reload_restart - does the change named need a restart */
static bool
serve_reload_restart(const struct serve_reload_diff *d, const char *name)
{
	const char *dot;

	for (size_t i = 0; i < sizeof(serve_reload_restart_keys) /
	    sizeof(serve_reload_restart_keys[0]); i++)
		if (strcmp(name, serve_reload_restart_keys[i]) == 0)
			return true;
	if (strncmp(name, "listener[", 9) == 0) {
		/* listener[NAME] itself, or its address */
		dot = strrchr(name, ']');
		return dot != NULL && (dot[1] == '\0' ||
		    strcmp(dot + 1, ".address") == 0);
	}
	if (strcmp(name, "webhooks.url") == 0)
		return d->start->webhooks.url == NULL &&
		    d->now->webhooks.url != NULL;
	if (strcmp(name, "local.mailboxes") == 0)
		return serve_reload_mailboxes(d->start, d->now);
	return false;
}

static void
serve_reload_diff_cb(void *arg, const char *name)
{
	struct serve_reload_diff *d = arg;

	if (!d->restart_only || serve_reload_restart(d, name))
		serve_reload_add(d->list, name);
}

void
serve_reload_init(struct serve_reload *r, struct conf_live *live)
{
	char *abs, *cwd;
	size_t n;

	r->start = conf_ref(live->cur->conf);
	r->path = NULL;
	if (live->path != NULL &&
	    (abs = realpath(live->path, NULL)) != NULL) {
		r->path = abs;
	} else if (live->path != NULL) {
		r->path = xstrdup(live->path);
	} else if ((cwd = getcwd(NULL, 0)) != NULL) {
		/* no -c: a reload reads ./relais.conf when it is there */
		n = strlen(cwd) + sizeof("/relais.conf");
		r->path = xmalloc(n);
		snprintf(r->path, n, "%s%s", strcmp(cwd, "/") == 0 ? "" : cwd,
		    "/relais.conf");
		free(cwd);
	} else {
		r->path = xstrdup("relais.conf");
	}
	/* a status left by an earlier run answers nobody */
	cli_status_remove(r->start->server.data_dir);
}

static void
serve_reload_status(struct serve_reload *r, struct cli_reload_status *st)
{
	if (cli_status_write(r->start->server.data_dir, st) == -1)
		log_warn("event=server.reload_status path=%s/%s",
		    r->start->server.data_dir, CLI_DAEMON_STATUS);
}

void
serve_reload_run(struct serve_reload *r, struct conf_live *live)
{
	struct cli_reload_status *st = xcalloc(1, sizeof(*st));
	struct serve_reload_list changed, restart;
	struct serve_reload_diff d;
	struct conf_snap *old, *snap;
	struct err err;
	char q[1024];
	const char *path;

	st->pid = (long)getpid();
	st->started = cli_monotonic_ns();
	old = conf_live_get(live);
	if (conf_live_reload(live, &err) == -1) {
		log_error("event=config.reload.failed error=%s",
		    log_quote(q, sizeof(q), err.msg, strlen(err.msg)));
		conf_snap_unref(old);
		st->ok = false;
		/* only a file fails: the embedded default always loads */
		snprintf(st->path, sizeof(st->path), "%s", r->path);
		snprintf(st->error, sizeof(st->error), "%s", err.msg);
		serve_reload_status(r, st);
		free(st);
		return;
	}
	snap = conf_live_get(live);
	log_set_level((enum log_level)snap->conf->server.log_level);
	memset(&changed, 0, sizeof(changed));
	memset(&restart, 0, sizeof(restart));
	d = (struct serve_reload_diff){ r->start, snap->conf, &changed,
	    false };
	conf_diff(old->conf, snap->conf, serve_reload_diff_cb, &d);
	d.list = &restart;
	d.restart_only = true;
	conf_diff(r->start, snap->conf, serve_reload_diff_cb, &d);
	path = snap->conf->path ? r->path : "(embedded default)";
	if (restart.len == 0)
		log_info("event=config.reload path=%s changed=\"%s\"", path,
		    changed.s);
	else
		log_warnx("event=config.reload path=%s changed=\"%s\""
		    " restart_needed=\"%s\" warning=\"these keys keep their"
		    " start values until relais serve is restarted\"", path,
		    changed.s, restart.s);
	st->ok = true;
	snprintf(st->path, sizeof(st->path), "%s", path);
	snprintf(st->changed, sizeof(st->changed), "%s", changed.s);
	snprintf(st->restart, sizeof(st->restart), "%s", restart.s);
	serve_reload_status(r, st);
	conf_snap_unref(snap);
	conf_snap_unref(old);
	free(st);
}

void
serve_reload_fini(struct serve_reload *r)
{
	if (r->start == NULL)
		return;
	cli_status_remove(r->start->server.data_dir);
	conf_unref(r->start);
	r->start = NULL;
	free(r->path);
	r->path = NULL;
}
