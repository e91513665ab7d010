/* SPDX-License-Identifier: ISC */
/*
 * cli_serve_sandbox.c - which paths relais serve keeps once it runs, and
 * the call that locks it into them (core/sandbox.h does the locking).
 *
 * Read-write: server.data_dir (spool, bodies, default mailboxes) and the
 * fixed part of local.mailboxes when it lies elsewhere. Read-only: the
 * directory of every file the configuration names (the config itself,
 * users, aliases, certificates and keys, DKIM keys, the smarthost
 * password file, the API keys file when [http] keys puts it outside
 * DATA_DIR, the DNSSEC trust anchor, the outbound CA file), because
 * SIGHUP reads them again and an editor or a certificate renewal
 * replaces a file by renaming a new one into place;
 * a file named directly in / or /etc is allowed alone, not its directory.
 * And what libc, OpenSSL, libcurl and libunbound read while running:
 * resolv.conf and hosts, CA certificates, DNSSEC trust anchors, time
 * zones, locales, /dev/urandom, /proc/self. A file in a directory that
 * was not there at start cannot be read after a reload: the reload fails
 * with EACCES in the log and the old configuration stays; restart to
 * pick it up.
 *
 * RELAIS_SANDBOX_SELFTEST in the environment (for the tests) starts a
 * thread after the sandbox, as the workers are, which tries to read
 * /etc/shadow and logs the result; with the value "execve" it then tries
 * to run /bin/true, which the seccomp filter answers with SIGSYS.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/xalloc.h"

#define SERVE_SANDBOX_MAX	64

struct serve_sandbox {
	struct sandbox_path	 paths[SERVE_SANDBOX_MAX];
	char			*owned[SERVE_SANDBOX_MAX];
	size_t			 n;
	size_t			 nowned;
};

/* what the daemon reads from the system once it runs */
static const struct sandbox_path serve_sandbox_system[] = {
	{ "/etc/resolv.conf", SANDBOX_RO },	/* libunbound, no resolver */
	{ "/etc/hosts", SANDBOX_RO },
	{ "/etc/host.conf", SANDBOX_RO },
	{ "/etc/nsswitch.conf", SANDBOX_RO },
	{ "/etc/gai.conf", SANDBOX_RO },
	{ "/etc/services", SANDBOX_RO },
	{ "/etc/protocols", SANDBOX_RO },
	{ "/etc/ssl", SANDBOX_RO },		/* openssl.cnf, CA bundle */
	{ "/usr/lib/ssl", SANDBOX_RO },
	{ "/usr/share/ca-certificates", SANDBOX_RO },
	{ "/usr/local/share/ca-certificates", SANDBOX_RO },
	{ "/etc/pki", SANDBOX_RO },		/* CA store elsewhere (webhooks) */
	{ "/usr/share/dns", SANDBOX_RO },	/* root.key, root.hints */
	{ "/var/lib/unbound", SANDBOX_RO },
	{ "/etc/unbound", SANDBOX_RO },
	{ "/etc/localtime", SANDBOX_RO },
	{ "/usr/share/zoneinfo", SANDBOX_RO },
	{ "/usr/lib/locale", SANDBOX_RO },
	{ "/usr/share/locale", SANDBOX_RO },
	{ "/dev/urandom", SANDBOX_RO },
	{ "/dev/random", SANDBOX_RO },
	{ "/dev/null", SANDBOX_RW },
	{ "/proc/self", SANDBOX_RO },		/* maps, status, fd */
	{ "/proc/self/task", SANDBOX_RO_WRITE },	/* thread names */
	{ "/sys/devices/system/cpu", SANDBOX_RO },	/* sysconf */
#ifdef SANDBOX_SANITIZER
	/* symbols for sanitizer reports: our binary and the libraries */
	{ "/proc/self/exe", SANDBOX_RO },
	{ "/usr/lib", SANDBOX_RO },
	{ "/lib", SANDBOX_RO },
#endif
};

static void
serve_sandbox_add(struct serve_sandbox *sb, const char *path,
    enum sandbox_access access)
{
	if (path == NULL || path[0] == '\0')
		return;
	for (size_t i = 0; i < sb->n; i++)
		if (strcmp(sb->paths[i].path, path) == 0 &&
		    sb->paths[i].access == access)
			return;
	if (sb->n == SERVE_SANDBOX_MAX) {
		log_warnx("event=sandbox.path path=%s error=\"too many paths:"
		    " not allowed\"", path);
		return;
	}
	sb->paths[sb->n].path = path;
	sb->paths[sb->n].access = access;
	sb->n++;
}

static const char *
serve_sandbox_own(struct serve_sandbox *sb, char *s)
{
	if (sb->nowned == SERVE_SANDBOX_MAX) {
		free(s);
		return NULL;
	}
	sb->owned[sb->nowned++] = s;
	return s;
}

/* serve_sandbox_file_access - access to a file: its directory (files are
   replaced by rename), or the file alone when that directory is / or
   /etc */
static void
serve_sandbox_file_access(struct serve_sandbox *sb, const char *file,
    enum sandbox_access access)
{
	const char *slash;
	char *dir;
	size_t n;

	if (file == NULL || file[0] == '\0')
		return;
	if ((slash = strrchr(file, '/')) == NULL) {
		serve_sandbox_add(sb, ".", access);
		return;
	}
	n = (size_t)(slash - file);
	if (n == 0 || (n == 4 && strncmp(file, "/etc", 4) == 0)) {
		serve_sandbox_add(sb, file, access);
		return;
	}
	dir = xmalloc(n + 1);
	memcpy(dir, file, n);
	dir[n] = '\0';
	serve_sandbox_add(sb, serve_sandbox_own(sb, dir), access);
}

/* serve_sandbox_file - read access to a file the config names */
static void
serve_sandbox_file(struct serve_sandbox *sb, const char *file)
{
	serve_sandbox_file_access(sb, file, SANDBOX_RO);
}

/* serve_sandbox_mkdirs - mkdir -p, as the user we run as now */
static int
serve_sandbox_mkdirs(char *path)
{
	for (char *s = path + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			*s = '/';
			return -1;
		}
		*s = '/';
	}
	return mkdir(path, 0700) == -1 && errno != EEXIST ? -1 : 0;
}

/* serve_sandbox_mail - the directory above the first %-expansion of
   local.mailboxes, made now so that a rule can name it */
static void
serve_sandbox_mail(struct serve_sandbox *sb, const char *tmpl)
{
	const char *pct = strchr(tmpl, '%');
	size_t n = pct ? (size_t)(pct - tmpl) : strlen(tmpl);
	char *dir;

	while (n > 0 && tmpl[n - 1] != '/')
		n--;
	while (n > 1 && tmpl[n - 1] == '/')
		n--;
	if (n == 0) {
		/* relative to the working directory */
		serve_sandbox_add(sb, ".", SANDBOX_RW);
		return;
	}
	dir = xmalloc(n + 1);
	memcpy(dir, tmpl, n);
	dir[n] = '\0';
	/* %% in the fixed part: leave it to the rule for data_dir */
	if (strchr(dir, '%') == NULL && serve_sandbox_mkdirs(dir) == -1)
		log_warn("event=sandbox.mailboxes path=%s", dir);
	serve_sandbox_add(sb, serve_sandbox_own(sb, dir), SANDBOX_RW);
}

static void
serve_sandbox_collect(struct serve_sandbox *sb, const struct conf *conf)
{
	serve_sandbox_add(sb, conf->server.data_dir, SANDBOX_RW);
	serve_sandbox_mail(sb, conf->local.mailboxes);
	/* the embedded default looks for ./relais.conf on reload */
	serve_sandbox_file(sb, conf->path ? conf->path : "./relais.conf");
	serve_sandbox_file(sb, conf->local.users);
	serve_sandbox_file(sb, conf->local.aliases);
	serve_sandbox_file(sb, conf->relay.shaping);
	serve_sandbox_file(sb, conf->relay.smarthost_password_file);
	/* read by each resolver made after the sandbox (the agents') */
	serve_sandbox_file(sb, conf->dns.trust_anchor);
	/* MTA-STS policy fetches and WebPKI checks read it at each use */
	serve_sandbox_file(sb, conf->relay.ca_file);
	/* the node registry's Redis connections are opened later */
	serve_sandbox_file(sb, conf->cluster.tls_ca_file);
	serve_sandbox_file(sb, conf->cluster.tls_certificate);
	serve_sandbox_file(sb, conf->cluster.tls_key);
	/* `relais apikey` renames a new file into place: its directory */
	serve_sandbox_file(sb, conf->http.keys);
	serve_sandbox_file(sb, conf->tls.certificate);
	serve_sandbox_file(sb, conf->tls.key);
	for (size_t i = 0; i < conf->tls.nnames; i++) {
		serve_sandbox_file(sb, conf->tls.names[i].certificate);
		serve_sandbox_file(sb, conf->tls.names[i].key);
	}
	for (size_t i = 0; i < conf->ndkim; i++) {
		serve_sandbox_file(sb, conf->dkim[i].key);
		serve_sandbox_file(sb, conf->dkim[i].key2);
	}
	for (size_t i = 0; i < sizeof(serve_sandbox_system) /
	    sizeof(serve_sandbox_system[0]); i++)
		serve_sandbox_add(sb, serve_sandbox_system[i].path,
		    serve_sandbox_system[i].access);
	/* fault tests only: the call counts are written there at exit */
	if (getenv("RELAIS_FAULT") != NULL)
		serve_sandbox_file_access(sb, getenv("RELAIS_FAULT_REPORT"),
		    SANDBOX_RW);
}

/* serve_sandbox_selftest_run - see the top of the file */
static void *
serve_sandbox_selftest_run(void *arg)
{
	const char *mode = arg;
	char *const argv[] = { "true", NULL };
	int fd;

	if ((fd = open("/etc/shadow", O_RDONLY | O_CLOEXEC)) == -1) {
		log_info("event=sandbox.selftest path=/etc/shadow result=denied"
		    " errno=%d error=\"%s\"", errno, strerror(errno));
	} else {
		log_info("event=sandbox.selftest path=/etc/shadow"
		    " result=opened");
		close(fd);
	}
	if (strcmp(mode, "execve") == 0) {
		log_info("event=sandbox.selftest call=execve path=/bin/true");
		execv("/bin/true", argv);
		log_info("event=sandbox.selftest call=execve result=failed"
		    " errno=%d error=\"%s\"", errno, strerror(errno));
	}
	return NULL;
}

static void
serve_sandbox_selftest(void)
{
	const char *mode = getenv("RELAIS_SANDBOX_SELFTEST");
	pthread_t t;

	if (mode == NULL || mode[0] == '\0')
		return;
	if (pthread_create(&t, NULL, serve_sandbox_selftest_run,
	    (void *)mode) != 0) {
		log_warnx("event=sandbox.selftest error=\"no thread\"");
		return;
	}
	pthread_join(t, NULL);
}

void
cli_serve_sandbox(const struct conf *conf)
{
	struct serve_sandbox sb;
	struct sandbox_landlock_info ll;
	struct err err;
	int nsys;

	if (!conf->server.sandbox) {
		log_warnx("event=sandbox.off warning=\"[server] sandbox = no:"
		    " no Landlock, no seccomp filter\"");
		serve_sandbox_selftest();
		return;
	}
	if (!sandbox_single_thread())
		fatalx("event=sandbox.init error=\"threads already running:"
		    " Landlock would not cover them\"");
	memset(&sb, 0, sizeof(sb));
	serve_sandbox_collect(&sb, conf);
	/* SQLite's temporary files (large sorts, statement journals) go
	   beside the spool, not to /var/tmp or /tmp */
	sqlite3_temp_directory = sqlite3_mprintf("%s", conf->server.data_dir);
	if (sandbox_no_new_privs(&err) == -1)
		fatalx("event=sandbox.init error=\"%s\"", err.msg);
	if (sandbox_landlock(sb.paths, sb.n, &ll, &err) == -1)
		fatalx("event=sandbox.init error=\"%s\"", err.msg);
	if (ll.abi == 0)
		log_warnx("event=sandbox.landlock enforced=no warning=\"the"
		    " kernel has no Landlock: file access not restricted\"");
	else
		log_info("event=sandbox.landlock enforced=yes abi=%d rules=%d"
		    " missing=%d truncate=%s ioctl_dev=%s scoped=%s", ll.abi,
		    ll.rules, ll.skipped, ll.truncate ? "yes" : "no",
		    ll.ioctl_dev ? "yes" : "no", ll.scoped ? "yes" : "no");
	if ((nsys = sandbox_seccomp(&err)) == -1)
		fatalx("event=sandbox.init error=\"%s\"", err.msg);
	log_info("event=sandbox.seccomp enforced=yes syscalls=%d"
	    " default=sigsys no_new_privs=yes", nsys);
	for (size_t i = 0; i < sb.nowned; i++)
		free(sb.owned[i]);
	serve_sandbox_selftest();
}
