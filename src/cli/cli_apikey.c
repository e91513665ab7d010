/* SPDX-License-Identifier: ISC */
/*
 * cli_apikey.c - relais apikey new|list|revoke: the keys of the HTTP
 * sending API (format in auth/apikey.h).
 *
 *   new NAME (--from-domain D ... | --any-domain)  prints the new token,
 *       once, as the only line on stdout, and adds its line to the file
 *   list     NAME, KEYID, state, created, domains; never a hash
 *   revoke NAME  appends ":revoked=NOW" to the active key's line; the
 *       line stays, so list still shows it
 *
 * The file is [http] keys of the config (-c FILE, else ./relais.conf,
 * else the embedded default), DATA_DIR/api-keys when unset; --keys FILE
 * names it directly. A change holds flock(2) on the file's directory,
 * writes the whole file anew beside it, fsyncs it, renames it into place
 * and fsyncs the directory, so a reader (the daemon re-reads the file
 * within a second) sees the old file or the new one, never a mix. The
 * new file is mode 0640 and keeps the owner and group of the old one; a
 * first file takes the group of its directory, so a daemon that runs as
 * the owner of DATA_DIR can read what root made. Lines we cannot parse
 * are kept as they are, with a warning.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/apikey.h"
#include "auth/passwd_hash.h"
#include "cli/cli.h"
#include "conf/conf.h"
#include "core/buf.h"
#include "core/sys.h"
#include "core/xalloc.h"

#define CLI_APIKEY_USAGE \
	"usage: relais apikey new NAME (--from-domain DOMAIN ... | " \
	"--any-domain) [--keys FILE] [-c FILE]\n" \
	"       relais apikey list [--keys FILE] [-c FILE]\n" \
	"       relais apikey revoke NAME [--keys FILE] [-c FILE]\n"
#define CLI_APIKEY_TRIES	16	/* fresh KEYIDs before giving up */

struct cli_apikey_args {
	const char	*cmd;
	const char	*name;
	const char	*keys;		/* --keys */
	const char	*conf;		/* -c */
	const char	**domains;	/* --from-domain, argv's strings */
	size_t		 ndomains;
	bool		 any;
};

/* the file as read, and where it lives */
struct cli_apikey_file {
	char		*path;
	int		 dirfd;		/* locked; -1 when not locked */
	struct buf	 text;
	bool		 exists;
	struct stat	 st;		/* when exists */
};

static int	cli_apikey_parse_args(int, char **, struct cli_apikey_args *);
static int	cli_apikey_path(const struct cli_apikey_args *, char **);
static int	cli_apikey_open(struct cli_apikey_file *, bool);
static void	cli_apikey_close(struct cli_apikey_file *);
static int	cli_apikey_write(struct cli_apikey_file *, const struct buf *);
static int	cli_apikey_new(const struct cli_apikey_args *,
		    struct cli_apikey_file *);
static int	cli_apikey_list(struct cli_apikey_file *);
static int	cli_apikey_revoke(const struct cli_apikey_args *,
		    struct cli_apikey_file *);
static int	cli_apikey_line(struct cli_apikey_file *, struct str,
		    unsigned, struct apikey_line *);
static struct str cli_apikey_next(struct str *, bool *);
static void	cli_apikey_time(char *, size_t, int64_t);

int
cli_apikey(int argc, char **argv)
{
	struct cli_apikey_args a;
	struct cli_apikey_file f;
	bool change;
	int rc;

	memset(&a, 0, sizeof(a));
	a.domains = xreallocarray(NULL, (size_t)argc, sizeof(*a.domains));
	if ((rc = cli_apikey_parse_args(argc, argv, &a)) != 0) {
		free(a.domains);
		return rc;
	}
	memset(&f, 0, sizeof(f));
	f.dirfd = -1;
	if ((rc = cli_apikey_path(&a, &f.path)) != 0) {
		free(a.domains);
		return rc;
	}
	change = strcmp(a.cmd, "list") != 0;
	if (cli_apikey_open(&f, change) == -1)
		rc = 1;
	else if (strcmp(a.cmd, "new") == 0)
		rc = cli_apikey_new(&a, &f);
	else if (strcmp(a.cmd, "revoke") == 0)
		rc = cli_apikey_revoke(&a, &f);
	else
		rc = cli_apikey_list(&f);
	cli_apikey_close(&f);
	free(a.domains);
	return rc;
}

/* cli_apikey_parse_args - 0, or 2 after a message on stderr */
static int
cli_apikey_parse_args(int argc, char **argv, struct cli_apikey_args *a)
{
	const char *pos[2];
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *v = NULL;

		if (strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0 ||
		    strcmp(s, "--keys") == 0 ||
		    strcmp(s, "--from-domain") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "relais apikey: %s needs a "
				    "value\n%s", s, CLI_APIKEY_USAGE);
				return 2;
			}
			v = argv[++i];
		} else if (strncmp(s, "-c", 2) == 0 && s[2] != '\0' &&
		    s[1] != '-') {
			a->conf = s + 2;
			continue;
		} else if (strncmp(s, "--keys=", 7) == 0) {
			s = "--keys";
			v = argv[i] + 7;
		} else if (strncmp(s, "--from-domain=", 14) == 0) {
			s = "--from-domain";
			v = argv[i] + 14;
		} else if (strcmp(s, "--any-domain") == 0) {
			a->any = true;
			continue;
		} else if (s[0] == '-' && s[1] != '\0') {
			fprintf(stderr, "relais apikey: unknown option '%s'\n"
			    "%s", s, CLI_APIKEY_USAGE);
			return 2;
		} else {
			if (npos == 2) {
				fprintf(stderr, "relais apikey: too many "
				    "arguments\n%s", CLI_APIKEY_USAGE);
				return 2;
			}
			pos[npos++] = s;
			continue;
		}
		if (strcmp(s, "--keys") == 0)
			a->keys = v;
		else if (strcmp(s, "--from-domain") == 0)
			a->domains[a->ndomains++] = v;
		else
			a->conf = v;
	}
	if (npos == 0) {
		fprintf(stderr, "%s", CLI_APIKEY_USAGE);
		return 2;
	}
	a->cmd = pos[0];
	a->name = npos > 1 ? pos[1] : NULL;
	if (strcmp(a->cmd, "list") == 0) {
		if (a->name == NULL && a->ndomains == 0 && !a->any)
			return 0;
		fprintf(stderr, "relais apikey list: takes no NAME, "
		    "--from-domain or --any-domain\n%s", CLI_APIKEY_USAGE);
		return 2;
	}
	if (strcmp(a->cmd, "new") != 0 && strcmp(a->cmd, "revoke") != 0) {
		fprintf(stderr, "relais apikey: unknown command '%s'\n%s",
		    a->cmd, CLI_APIKEY_USAGE);
		return 2;
	}
	if (a->name == NULL) {
		fprintf(stderr, "relais apikey %s: which key? (NAME)\n%s",
		    a->cmd, CLI_APIKEY_USAGE);
		return 2;
	}
	if (!apikey_name_valid(str_cstr(a->name))) {
		fprintf(stderr, "relais apikey %s: bad key name '%s': 1 to %d"
		    " of the characters A-Z a-z 0-9 . _ -\n", a->cmd, a->name,
		    APIKEY_NAME_MAX);
		return 2;
	}
	if (strcmp(a->cmd, "revoke") == 0) {
		if (a->ndomains == 0 && !a->any)
			return 0;
		fprintf(stderr, "relais apikey revoke: takes no --from-domain"
		    " or --any-domain\n%s", CLI_APIKEY_USAGE);
		return 2;
	}
	if (a->ndomains == 0 && !a->any) {
		fprintf(stderr, "relais apikey new: say which sender domains "
		    "the key may use: --from-domain DOMAIN (once per domain)"
		    " or --any-domain\n");
		return 2;
	}
	if (a->ndomains > 0 && a->any) {
		fprintf(stderr, "relais apikey new: --from-domain and "
		    "--any-domain exclude each other\n");
		return 2;
	}
	if (a->ndomains > APIKEY_DOMAINS_MAX) {
		fprintf(stderr, "relais apikey new: more than %d domains; "
		    "use --any-domain\n", APIKEY_DOMAINS_MAX);
		return 2;
	}
	for (size_t i = 0; i < a->ndomains; i++) {
		if (!apikey_domain_valid(str_cstr(a->domains[i]))) {
			fprintf(stderr, "relais apikey new: bad domain '%s'\n",
			    a->domains[i]);
			return 2;
		}
	}
	return 0;
}

/* cli_apikey_path - --keys, else the config's; 0, or 2 with a message */
static int
cli_apikey_path(const struct cli_apikey_args *a, char **path_out)
{
	struct conf *conf;
	struct err err;

	if (a->keys != NULL) {
		if (a->keys[0] == '\0') {
			fprintf(stderr, "relais apikey: --keys needs a file\n");
			return 2;
		}
		*path_out = xstrdup(a->keys);
		return 0;
	}
	if (conf_find(a->conf, &conf, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	*path_out = apikey_conf_path(conf);
	conf_unref(conf);
	return 0;
}

/*
 * cli_apikey_open - read the file (missing: empty); lock: first take
 * flock on its directory, which the writer keeps until the rename
 */
static int
cli_apikey_open(struct cli_apikey_file *f, bool lock)
{
	const char *slash = strrchr(f->path, '/');
	char *dir;
	struct err err;

	buf_init(&f->text, APIKEY_FILE_MAX);
	if (lock) {
		dir = slash == NULL ? xstrdup(".") : slash == f->path ?
		    xstrdup("/") : xstrndup(f->path,
		    (size_t)(slash - f->path));
		f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (f->dirfd == -1) {
			fprintf(stderr, "relais apikey: %s: cannot open the "
			    "directory of the keys file: %s\n", dir,
			    strerror(errno));
			free(dir);
			return -1;
		}
		if (flock(f->dirfd, LOCK_EX) == -1) {
			fprintf(stderr, "relais apikey: %s: cannot lock: %s\n",
			    dir, strerror(errno));
			free(dir);
			return -1;
		}
		free(dir);
	}
	if (stat(f->path, &f->st) == 0) {
		f->exists = true;
	} else if (errno != ENOENT) {
		fprintf(stderr, "relais apikey: %s: %s\n", f->path,
		    strerror(errno));
		return -1;
	}
	if (f->exists && buf_read_file(&f->text, f->path, &err) == -1) {
		fprintf(stderr, "relais apikey: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static void
cli_apikey_close(struct cli_apikey_file *f)
{
	if (f->dirfd != -1)
		close(f->dirfd);	/* and with it the lock */
	buf_fini(&f->text);
	free(f->path);
}

/* cli_apikey_next - the next line of *rest, without its '\n'; *nl_out:
   a '\n' ended it */
static struct str
cli_apikey_next(struct str *rest, bool *nl_out)
{
	*nl_out = memchr(rest->p, '\n', rest->len) != NULL;
	return str_cut(rest, '\n');
}

/* cli_apikey_line - parse one line; a bad one is reported and is 0 */
static int
cli_apikey_line(struct cli_apikey_file *f, struct str line, unsigned lineno,
    struct apikey_line *l)
{
	struct err err;
	int rc = apikey_parse_line(line, l, &err);

	if (rc == -1) {
		fprintf(stderr, "relais apikey: %s:%u: %s (line ignored)\n",
		    f->path, lineno, err.msg);
		return 0;
	}
	return rc;
}

static int
cli_apikey_new(const struct cli_apikey_args *a, struct cli_apikey_file *f)
{
	char token[APIKEY_TOKEN_LEN + 1], keyid[APIKEY_KEYID_LEN + 1];
	char hash[512], stored[520];
	struct apikey_line l;
	struct str rest, line;
	struct buf out;
	struct err err;
	bool nl;
	unsigned lineno = 0;
	size_t nkeys = 0;
	int tries, rc = 1;

	/* the name must be free; the new KEYID must be too */
	for (tries = 0; tries < CLI_APIKEY_TRIES; tries++) {
		bool clash = false;

		if (apikey_token_new(token, keyid, &err) == -1) {
			fprintf(stderr, "relais apikey new: %s\n", err.msg);
			return 1;
		}
		rest = buf_str(&f->text);
		lineno = 0;
		nkeys = 0;
		while (rest.len > 0) {
			line = cli_apikey_next(&rest, &nl);
			if (cli_apikey_line(f, line, ++lineno, &l) != 1)
				continue;
			nkeys++;
			if (!l.revoked && str_eq(l.name, str_cstr(a->name))) {
				fprintf(stderr, "relais apikey new: an active "
				    "key named '%s' exists (%s:%u); revoke it "
				    "first or choose another name\n", a->name,
				    f->path, lineno);
				goto out;
			}
			if (str_eq(l.keyid, str_cstr(keyid)))
				clash = true;
		}
		if (!clash)
			break;
	}
	if (tries == CLI_APIKEY_TRIES) {
		fprintf(stderr, "relais apikey new: no free key id\n");
		goto out;
	}
	if (nkeys >= APIKEY_KEYS_MAX) {
		fprintf(stderr, "relais apikey new: %s holds %zu keys already"
		    " (at most %d are read)\n", f->path, nkeys,
		    APIKEY_KEYS_MAX);
		goto out;
	}
	if (passwd_hash_make(token, hash, sizeof(hash), &err) == -1) {
		fprintf(stderr, "relais apikey new: %s\n", err.msg);
		goto out;
	}
	snprintf(stored, sizeof(stored), "{CRYPT}%s", hash);
	buf_init(&out, APIKEY_FILE_MAX);
	err_set(&err, EFBIG, "the keys file is full");
	if (buf_append_str(&out, buf_str(&f->text)) == -1 ||
	    (out.len > 0 && out.data[out.len - 1] != '\n' &&
	    buf_puts(&out, "\n") == -1) ||
	    apikey_format_line(&out, a->name, keyid, stored, a->domains,
	    a->ndomains, a->any, (int64_t)time(NULL), &err) == -1) {
		fprintf(stderr, "relais apikey new: %s\n", err.msg);
		buf_fini(&out);
		goto out;
	}
	if (cli_apikey_write(f, &out) == 0) {
		printf("%s\n", token);
		fflush(stdout);
		fprintf(stderr, "relais apikey: key '%s' (id %s) added to %s;"
		    " the token above is shown only this once: keep it\n",
		    a->name, keyid, f->path);
		rc = 0;
	}
	buf_fini(&out);
out:
	explicit_bzero(token, sizeof(token));
	return rc;
}

static int
cli_apikey_revoke(const struct cli_apikey_args *a, struct cli_apikey_file *f)
{
	struct apikey_line l;
	struct str rest = buf_str(&f->text), line;
	struct buf out;
	bool nl;
	unsigned lineno = 0, n = 0;
	int64_t now = (int64_t)time(NULL);
	int rc = 1;

	buf_init(&out, APIKEY_FILE_MAX + 64);
	while (rest.len > 0) {
		line = cli_apikey_next(&rest, &nl);
		lineno++;
		if (buf_append_str(&out, line) == -1)
			goto full;
		if (cli_apikey_line(f, line, lineno, &l) == 1 && !l.revoked &&
		    str_eq(l.name, str_cstr(a->name))) {
			/* the '\r' of a CRLF line goes after the field */
			bool cr = line.len && line.p[line.len - 1] == '\r';

			out.len -= cr;
			if (buf_appendf(&out, ":revoked=%lld%s",
			    (long long)now, cr ? "\r" : "") == -1)
				goto full;
			printf("revoked %s (id %.*s)\n", a->name,
			    STR_FMT(l.keyid));
			n++;
		}
		if (nl && buf_puts(&out, "\n") == -1)
			goto full;
	}
	if (n == 0) {
		fprintf(stderr, "relais apikey revoke: no active key named "
		    "'%s' in %s\n", a->name, f->path);
		goto out;
	}
	rc = cli_apikey_write(f, &out) == 0 ? 0 : 1;
	goto out;
full:
	fprintf(stderr, "relais apikey revoke: the keys file is full\n");
out:
	buf_fini(&out);
	return rc;
}

static int
cli_apikey_list(struct cli_apikey_file *f)
{
	struct apikey_line l;
	struct str rest = buf_str(&f->text), line;
	char created[32];
	bool nl;
	unsigned lineno = 0;

	printf("%-24s %-8s %-7s %-20s %s\n", "NAME", "KEYID", "STATE",
	    "CREATED", "DOMAINS");
	while (rest.len > 0) {
		line = cli_apikey_next(&rest, &nl);
		if (cli_apikey_line(f, line, ++lineno, &l) != 1)
			continue;
		cli_apikey_time(created, sizeof(created), l.created);
		printf("%-24.*s %.*s %-7s %-20s %.*s\n", STR_FMT(l.name),
		    STR_FMT(l.keyid), l.revoked ? "revoked" : "active",
		    created, STR_FMT(l.domains));
	}
	return 0;
}

/*
 * cli_apikey_write - text replaces the file: a temporary file beside it
 * (0640, the old file's owner and group, or the directory's group),
 * written, fsynced, renamed into place, the directory fsynced
 */
static int
cli_apikey_write(struct cli_apikey_file *f, const struct buf *text)
{
	struct stat dst, nst;
	size_t len = strlen(f->path) + sizeof(".new");
	char *tmp = xmalloc(len);
	const char *p = text->data ? text->data : "";
	size_t left = text->len;
	uid_t uid;
	gid_t gid;
	int fd;

	snprintf(tmp, len, "%s.new", f->path);
	fd = sys_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	if (fd == -1 && errno == EEXIST) {
		/* left by a run that died: we hold the lock, it is ours */
		sys_unlink(tmp);
		fd = sys_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0640);
	}
	if (fd == -1) {
		fprintf(stderr, "relais apikey: %s: %s\n", tmp,
		    strerror(errno));
		free(tmp);
		return -1;
	}
	if (fchmod(fd, 0640) == -1 || fstat(fd, &nst) == -1 ||
	    fstat(f->dirfd, &dst) == -1)
		goto fail;
	uid = f->exists ? f->st.st_uid : nst.st_uid;
	gid = f->exists ? f->st.st_gid : dst.st_gid;
	if ((uid != nst.st_uid || gid != nst.st_gid) &&
	    fchown(fd, uid, gid) == -1) {
		if (f->exists)
			goto fail;
		/* a first file: the directory's group was only a wish */
		fprintf(stderr, "relais apikey: warning: %s: cannot give it "
		    "group %ld: %s\n", f->path, (long)gid, strerror(errno));
	}
	while (left > 0) {
		ssize_t w = sys_write(fd, p, left);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		p += w;
		left -= (size_t)w;
	}
	if (sys_fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (sys_rename(tmp, f->path) == -1)
		goto fail;
	/* renamed: the change is made, whatever the directory's fsync
	   says (and a new token must still be shown) */
	if (sys_fsync(f->dirfd) == -1)
		fprintf(stderr, "relais apikey: warning: %s: fsync of the "
		    "directory: %s\n", f->path, strerror(errno));
	free(tmp);
	return 0;
fail:
	fprintf(stderr, "relais apikey: %s: cannot write: %s\n", tmp,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	sys_unlink(tmp);
	free(tmp);
	return -1;
}

static void
cli_apikey_time(char *out, size_t n, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, n, "-");
		return;
	}
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
