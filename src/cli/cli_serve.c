/* SPDX-License-Identifier: ISC */
/*
 * cli_serve.c - relais serve [-c FILE]: the daemon, in the foreground.
 *
 * The main thread does the privileged setup in OpenSMTPD's order: load
 * the configuration, bind the listeners, open the spool, then drop to
 * [server] user (setgroups, setgid, setuid, each checked; no way back).
 * Then it locks itself in (cli_serve_sandbox.c: no new privileges,
 * Landlock, seccomp) while it still has one thread, wires the pieces
 * together (the workers run SMTP sessions and outbound deliveries through
 * struct worker_ops; delivery agents report to the queue manager), starts
 * the queue manager, the delivery pool and the worker threads, and stays
 * in its own event loop for signals: SIGTERM/SIGINT stop (workers first,
 * so sessions in DATA can still commit; then the delivery pool; then the
 * queue manager, which commits what is left), SIGHUP reloads the
 * configuration and keeps every connection (cli_serve_reload.c),
 * SIGUSR2 drains the node (relais drain, cli_serve_drain.c); with
 * [cluster] redis the node registers itself (cli_serve_node.c). Once
 * ready it writes DATA_DIR/relais.pid (cli_daemon.c), which relais
 * reload, queue flush and tls report --send signal.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>

#include "cli/cli.h"
#include "cli/cli_daemon.h"
#include "cli/cli_serve_drain.h"
#include "cli/cli_serve_node.h"
#include "cli/cli_serve_reload.h"
#include "auth/passwd_check.h"
#include "core/fault.h"
#include "core/id.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_remote.h"
#include "http/http_server.h"
#include "http/webhook.h"
#include "live/conf_live.h"
#include "net/listen.h"
#include "net/redis_tls.h"
#include "net/tls_filter.h"
#include "net/tls.h"
#include "net/worker.h"
#include "core/metrics.h"
#include "policy/cluster.h"
#include "policy/limits.h"
#include "policy/quota.h"
#include "queue/qmgr.h"
#include "queue/sites.h"
#include "queue/sts_store.h"
#include "queue/tlsrpt_send.h"
#include "server/smtp_server.h"
#include "spool/spool.h"
#include "tlspol/sts.h"
#include "tlspol/tlsrpt.h"

#define SERVE_DELIVER_THREADS	2

struct serve {
	struct conf_live	 live;
	struct serve_reload	 reload;	/* SIGHUP */
	struct cli_pidfile	 pidfile;
	struct listen_set	 socks;
	struct spool		*spool;
	struct qmgr		*qmgr;
	struct deliver_pool	*pool;
	struct webhook		*hook;		/* NULL: no [webhooks] url */
	struct tlsrpt		*tlsrpt;	/* TLS-RPT counts */
	struct tlsrpt_sender	*tlsrpt_send;	/* their storage, reports */
	struct sts		*sts;		/* MTA-STS policies */
	struct worker_ctx	 ctx;
	struct remote_shared	 rshared;
	struct worker		*workers;
	unsigned		 nworkers;
	struct http_server	*http;
	struct serve_node	*node;		/* NULL: no [cluster] redis */
	struct serve_drain	 drain;		/* SIGUSR2: relais drain */
	struct event_base	*base;
	int			 exit_status;
};

/* the worker's outbound agent (deliver_remote.c) */
static void
serve_outbound_stop(struct worker *w)
{
	remote_stop(w->remote);
}

static void
serve_outbound_free(struct worker *w)
{
	remote_free(w->remote);
	w->remote = NULL;
	cluster_free(w->cluster);	/* after the inbox drained */
	w->cluster = NULL;
}

/* the operator's suspensions, from the queue manager to the agent, and
   to the other nodes of a cluster (not those reapplied at start) */
static void
serve_site_hook(void *arg, const char *site, int64_t until,
    const char *reason, bool at_start)
{
	remote_site_suspend(arg, site, until, reason, true);
	if (at_start)
		cluster_site_known(site, until, true, reason);
	else
		cluster_site_changed(site, until, true, reason);
}

/* what the agent says of a site: to the spool and the metrics, and a
   suspension a [backoff] rule set to the other nodes of a cluster */
static void
serve_site_state(void *arg, const struct remote_site_state *st)
{
	sites_report(arg, st);
	if (st->suspended_until > 0 && !st->manual)
		cluster_site_changed(st->site, st->suspended_until, false,
		    st->reason);
}

/* another node's operator: as if ours had spoken (the sites table, then
   the site hook, which also wakes what waits for a resumed site) */
static void
serve_site_done(void *arg, int status)
{
	struct sites_act *a = arg;

	if (status != 0)
		log_warnx("event=cluster.site.apply_failed site=%s", a->site);
	free(a);
}

/* serve_cluster_site - a suspension or resume another node told */
static void
serve_cluster_site(void *arg, const char *site, int64_t until, bool manual,
    const char *reason)
{
	struct serve *sv = arg;
	struct sites_act *a;

	if (until > 0 && !manual) {
		/* a [backoff] rule's: the agent's own state, ending by
		   itself as it does on the node that set it */
		remote_site_suspend(&sv->rshared, site, until, reason, false);
		return;
	}
	a = xcalloc(1, sizeof(*a));
	snprintf(a->site, sizeof(a->site), "%s", site);
	sites_reason(reason, a->reason, sizeof(a->reason));
	a->until = until;
	qmgr_call(sv->qmgr, sites_act_run, serve_site_done, a);
}

/* what the workers run: SMTP sessions and outbound deliveries */
static const struct worker_ops serve_worker_ops = {
	.accept = smtp_server_accept,
	.session_shutdown = smtp_server_shutdown,
	.session_free = smtp_server_free,
	.outbound_stop = serve_outbound_stop,
	.outbound_free = serve_outbound_free,
};

/* serve_chown - hand a path made as root to the account we drop to */
static void
serve_chown(const char *dir, const char *name, uid_t uid, gid_t gid)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s%s%s", dir, name[0] ? "/" : "", name);
	if (chown(p, uid, gid) == -1 && errno != ENOENT)
		log_warn("event=server.chown path=%s", p);
}

/* serve_drop - give up root for [server] user; fatal on any failure */
/* serve_usage_seed - one row of tenant_usage into the quota counters */
static void
serve_usage_seed(void *arg, const struct spool_usage *u)
{
	(void)arg;
	quota_seed(u->tenant, (unsigned)u->period, u->window_start,
	    (uint64_t)u->messages, (uint64_t)u->recipients);
}

/* serve_tenants - the tenants' counters as the spool left them (a
   restart does not reset a window), and their metric labels */
static void
serve_tenants(struct spool *sp, const struct conf *conf)
{
	struct err err;
	int64_t now = (int64_t)time(NULL);

	if (spool_usage_load(sp, quota_window(QUOTA_DAY, now),
	    serve_usage_seed, NULL, &err) == -1)
		fatalx("event=spool.usage error=\"%s\"", err.msg);
	for (size_t i = 0; i < conf->ntenants; i++)
		metrics_tenant(conf->tenants[i].name);
}

static void
serve_drop(const struct conf *conf)
{
	struct passwd *pw;
	const char *d = conf->server.data_dir;
	static const char *const paths[] = {
		"", "spool", "spool/bodies", "spool/queue.db",
		"spool/queue.db-wal", "spool/queue.db-shm", "mail",
		"tls", "tls/selfsigned.crt", "tls/selfsigned.key",
	};
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (geteuid() != 0)
		return;
	if (conf->server.user == NULL) {
		log_warnx("event=server.privileges user=root"
		    " warning=\"running with full root privileges: set"
		    " [server] user\"");
		return;
	}
	if ((pw = getpwnam(conf->server.user)) == NULL)
		fatalx("event=server.privileges error=\"unknown user %s\"",
		    conf->server.user);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		serve_chown(d, paths[i], pw->pw_uid, pw->pw_gid);
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("event=server.privileges user=%s", conf->server.user);
	/* verify: all three ids of each kind, and no way back to root */
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != pw->pw_uid || eu != pw->pw_uid || su != pw->pw_uid ||
	    rg != pw->pw_gid || eg != pw->pw_gid || sg != pw->pw_gid ||
	    setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1)
		fatalx("event=server.privileges error=\"could not drop root\"");
	log_info("event=server.privileges user=%s uid=%u", conf->server.user,
	    (unsigned)pw->pw_uid);
}

/* serve_flush - relais queue flush, and the start of a drain */
static void
serve_flush(void *arg)
{
	struct serve *sv = arg;

	remote_flush(&sv->rshared);
	qmgr_kick(sv->qmgr);
}

static void
serve_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct serve *sv = arg;

	if (sig == SIGUSR1) {
		/* relais queue flush: backoffs forgotten, the queue run now */
		log_info("event=queue.flush");
		serve_flush(sv);
		return;
	}
	if (sig == SIGUSR2) {
		serve_drain_start(&sv->drain);
		return;
	}
	if (sig == SIGHUP) {
		serve_reload_run(&sv->reload, &sv->live);
		return;
	}
	log_info("event=server.stop signal=%s", sig == SIGTERM ? "TERM" :
	    "INT");
	event_base_loopbreak(sv->base);
}

static unsigned
serve_nworkers(const struct conf *conf)
{
	long n;

	if (conf->server.threads > 0)
		return conf->server.threads;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

int
cli_serve(int argc, char **argv)
{
	struct serve sv;
	const char *path;
	const struct conf *conf;
	struct err err;
	struct event *sigs[6];
	static const int signums[6] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1,
	    SIGUSR2, 0 };
	int npos;
	unsigned started = 0;
	char cname[16];
	struct ssl_ctx_st *redis_tls = NULL;

	if (cli_args(argc, argv, &path, NULL, 0, &npos) == -1) {
		fprintf(stderr, "usage: relais serve [-c FILE]\n");
		return 2;
	}
	memset(&sv, 0, sizeof(sv));
	tls_server_set_generate(true);	/* self-signed fallback, as root */
	if (conf_live_init(&sv.live, path, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	conf = sv.live.cur->conf;
	serve_reload_init(&sv.reload, &sv.live);
	log_set_level((enum log_level)conf->server.log_level);
	/* queue ids carry the node's tag (core/id.h) */
	id_set_tag(id_node_tag(conf->server.node));
	/* fault tests only: RELAIS_FAULT puts counting wrappers in the seam */
	if (fault_init_env(&err) == -1) {
		fprintf(stderr, "RELAIS_FAULT: %s\n", err.msg);
		serve_reload_fini(&sv.reload);
		conf_live_fini(&sv.live);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	if (evthread_use_pthreads() == -1)
		fatalx("event=server.init error=\"libevent threads\"");

	sv.nworkers = serve_nworkers(conf);
	if (listen_open(conf, sv.nworkers, &sv.socks, &err) == -1)
		fatalx("event=server.listen error=\"%s\"", err.msg);
	sv.http = http_server_bind(conf, &err);
	if (sv.http == NULL && err.msg[0] != '\0')
		fatalx("event=server.listen error=\"%s\"", err.msg);
	if ((sv.spool = spool_open(conf->server.data_dir, &err)) == NULL)
		fatalx("event=spool.open error=\"%s\"", err.msg);
	serve_drop(conf);
	/* libcurl reads its system files now, before the sandbox */
	if (webhook_global_init(&err) == -1)
		fatalx("event=server.init error=\"%s\"", err.msg);
	cli_serve_sandbox(conf);

	limits_init();
	serve_tenants(sv.spool, conf);
	sv.pool = deliver_pool_new(conf->server.data_dir,
	    SERVE_DELIVER_THREADS, &sv.live);
	sv.qmgr = qmgr_new(sv.spool, sv.pool, &sv.live);
	sv.ctx.ops = &serve_worker_ops;
	sv.ctx.live = &sv.live;
	sv.ctx.qmgr = sv.qmgr;
	sv.ctx.body_dir = spool_body_dir(sv.spool);
	/* workers (and their outbound agents) exist before any job does */
	sv.workers = xcalloc(sv.nworkers, sizeof(*sv.workers));
	sv.rshared.workers = sv.workers;
	sv.rshared.nworkers = sv.nworkers;
	sv.rshared.report = qmgr_report;
	sv.rshared.report_arg = sv.qmgr;
	sv.rshared.live = &sv.live;
	/* sites: the agent's states to the spool, the operator's back */
	sv.rshared.site_state = serve_site_state;
	sv.rshared.site_state_arg = sv.qmgr;
	qmgr_set_site_hook(sv.qmgr, serve_site_hook, &sv.rshared);
	/* TLS-RPT: the agent counts, the tlsrpt thread stores and reports */
	sv.tlsrpt = tlsrpt_new();
	sv.rshared.tlsrpt = sv.tlsrpt;
	/* MTA-STS policies for the agents, kept in the spool through the
	   queue manager (its thread runs after the sandbox, as the
	   workers' resolvers do) */
	if ((sv.sts = sts_new(&sv.live, conf->server.data_dir, &err)) == NULL)
		fatalx("event=sts.start error=\"%s\"", err.msg);
	sts_set_store(sv.sts, sts_store_qmgr, sv.qmgr);
	sv.rshared.sts = sv.sts;
	/* before any worker makes an OpenSSL filter (net/tls_filter.h) */
	tls_filter_init();
	/* [cluster] tls: one client context for every worker's Redis
	   connections, its files read before the sandbox */
	if (redis_tls_ctx(conf, &redis_tls, &err) == -1)
		fatalx("event=server.init error=\"%s\"", err.msg);
	for (unsigned i = 0; i < sv.nworkers; i++) {
		if (worker_init(&sv.workers[i], i, &sv.ctx,
		    listen_worker(&sv.socks, i), sv.socks.per_worker) == -1)
			fatalx("event=server.init error=\"worker %u\"", i);
		if ((sv.workers[i].remote = remote_new(&sv.workers[i],
		    &sv.rshared, &err)) == NULL)
			fatalx("event=server.init error=\"%s\"", err.msg);
		/* [cluster]: each worker its own Redis connection; the
		   first also keeps the suppression list shared */
		snprintf(cname, sizeof(cname), "w%u", i);
		sv.workers[i].cluster = cluster_new(sv.workers[i].base, conf,
		    cname, redis_tls);
		if (i == 0) {
			cluster_suppress_start(sv.workers[i].cluster,
			    &sv.workers[i]);
			cluster_sites_start(sv.workers[i].cluster,
			    serve_cluster_site, &sv);
		}
	}
	SSL_CTX_free(redis_tls);	/* the connections hold theirs */
	deliver_pool_set_remote(sv.pool, remote_submit, &sv.rshared);
	if (deliver_pool_start(sv.pool, qmgr_report, sv.qmgr) == -1 ||
	    qmgr_start(sv.qmgr) == -1)
		fatalx("event=server.init error=\"cannot start threads\"");
	if (sts_start(sv.sts, &err) == -1)
		fatalx("event=sts.start error=\"%s\"", err.msg);
	if (sv.http != NULL && http_server_start(sv.http, &sv.live, sv.qmgr,
	    spool_body_dir(sv.spool), &err) == -1)
		fatalx("event=http.start error=\"%s\"", err.msg);
	if ((sv.hook = webhook_start(conf->server.data_dir, &sv.live, sv.qmgr,
	    &err)) == NULL && err.msg[0] != '\0')
		fatalx("event=webhook.start error=\"%s\"", err.msg);
	if ((sv.tlsrpt_send = tlsrpt_sender_start(conf->server.data_dir,
	    &sv.live, sv.qmgr, sv.tlsrpt, &err)) == NULL)
		fatalx("event=tlsrpt.start error=\"%s\"", err.msg);
	for (unsigned i = 0; i < sv.nworkers; i++) {
		if (worker_start(&sv.workers[i]) == -1) {
			sv.exit_status = 1;
			break;
		}
		started++;
	}

	if ((sv.base = event_base_new()) == NULL)
		fatalx("event=server.init error=\"event_base_new failed\"");
	/* the registration in the cluster, and what a drain needs */
	sv.node = serve_node_start(&sv.live);
	sv.drain.base = sv.base;
	sv.drain.data_dir = conf->server.data_dir;
	sv.drain.helo = conf->server.hostname;
	sv.drain.ca_file = conf->relay.ca_file;
	sv.drain.qmgr = sv.qmgr;
	sv.drain.node = sv.node;
	sv.drain.kick = serve_flush;
	sv.drain.kick_arg = &sv;
	for (int i = 0; signums[i]; i++) {
		sigs[i] = evsignal_new(sv.base, signums[i], serve_signal_cb, &sv);
		evsignal_add(sigs[i], NULL);
	}
	if (sv.exit_status == 0) {
		for (size_t i = 0; i < sv.socks.per_worker; i++)
			log_info("event=server.listen listener=%s address=%s",
			    sv.socks.socks[i].listener, sv.socks.socks[i].addr);
		/* after the signal handlers: relais reload finds it */
		cli_pidfile_write(&sv.pidfile, conf->server.data_dir);
		log_info("event=server.ready version=%s threads=%u"
		    " hostname=%s data_dir=%s", RELAIS_VERSION, sv.nworkers,
		    conf->server.hostname, conf->server.data_dir);
		fault_log_counts("ready");
		event_base_dispatch(sv.base);
	}

	/* a drain's hand-off ends while the queue manager runs; the node
	   leaves the cluster at once */
	serve_drain_stop(&sv.drain);
	serve_node_stop(sv.node);
	/* stop in order: sessions, deliveries, then the queue manager's last
	   commit */
	for (unsigned i = 0; i < started; i++)
		worker_stop(&sv.workers[i]);
	for (unsigned i = 0; i < started; i++)
		worker_join(&sv.workers[i]);
	/* the API's last answers need the queue manager still running */
	http_server_stop(sv.http);
	passwd_check_stop();	/* before the workers' inboxes go */
	/*
	 * The delivery pool and the queue manager may still hand outbound
	 * jobs to a worker's inbox; the workers are only freed after both
	 * stopped, and worker_fini drains the inbox (the jobs stay leased
	 * for next time).
	 */
	webhook_stop(sv.hook);	/* its cursor commits need the queue manager */
	/* after the workers (the agents ask it), before the queue manager
	   (its store hook hands policies to it) */
	sts_stop(sv.sts);
	deliver_pool_stop(sv.pool);
	/* the last counts need the queue manager, and nothing counts now */
	tlsrpt_sender_stop(sv.tlsrpt_send);
	qmgr_stop(sv.qmgr);
	for (unsigned i = 0; i < sv.nworkers; i++)
		worker_fini(&sv.workers[i]);
	free(sv.workers);
	deliver_pool_free(sv.pool);
	http_server_free(sv.http);
	webhook_free(sv.hook);
	tlsrpt_sender_free(sv.tlsrpt_send);
	tlsrpt_free(sv.tlsrpt);
	sts_free(sv.sts);
	qmgr_free(sv.qmgr);
	spool_free(sv.spool);
	listen_close(&sv.socks);
	serve_drain_fini(&sv.drain);
	for (int i = 0; signums[i]; i++)
		event_free(sigs[i]);
	event_base_free(sv.base);
	cli_pidfile_remove(&sv.pidfile);
	serve_reload_fini(&sv.reload);
	log_info("event=server.exit status=%d", sv.exit_status);
	conf_live_fini(&sv.live);
	webhook_global_cleanup();
	libevent_global_shutdown();
	return sv.exit_status;
}
