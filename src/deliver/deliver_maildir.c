/* SPDX-License-Identifier: ISC */
/*
 * deliver_maildir.c - the local delivery agent: one file per recipient in
 * a Maildir (tmp/, fsync, rename into new/, fsync new/), with
 * Return-Path: and Delivered-To: prepended and CRLF turned into LF, as
 * Dovecot and every Maildir reader expect.
 *
 * File names are "ARRIVAL.QqidRrcptid.HOST": unique per the Maildir
 * convention and stable across attempts, so a delivery resumed after a
 * crash finds the copy it may already have made and does not make a
 * second one. A mailbox that cannot be written is a temporary failure.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/sys.h"
#include "deliver/deliver.h"

/* deliver_maildir_part - a path component from an address part: unquoted,
   lower-cased, with '/', leading '.' and control octets made harmless */
static void
deliver_maildir_part(struct buf *out, const char *s, size_t n, bool unquote)
{
	size_t start = out->len;

	if (unquote && n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (unquote && c == '\\' && i + 1 < n)
			c = (unsigned char)s[++i];
		if (c == '/' || c < 0x20 || c == 0x7f ||
		    (c == '.' && out->len == start))
			c = '_';
		buf_append(out, (char[]){ (char)tolower(c) }, 1);
	}
	if (out->len == start)
		buf_append(out, "_", 1);
}

/* deliver_maildir_path - expand the [local] mailboxes template for addr */
static int
deliver_maildir_path(const struct conf *conf, const char *addr,
    struct buf *out)
{
	const char *at = strrchr(addr, '@');
	const char *t = conf->local.mailboxes;

	if (at == NULL)
		return -1;
	for (; *t; t++) {
		if (*t != '%' || t[1] == '\0') {
			buf_append(out, t, 1);
			continue;
		}
		switch (*++t) {
		case 'd':
			deliver_maildir_part(out, at + 1, strlen(at + 1), false);
			break;
		case 'u':
			deliver_maildir_part(out, addr, (size_t)(at - addr),
			    true);
			break;
		default:
			buf_append(out, t, 1);
			break;
		}
	}
	return out->len > 0 && out->len < 3500 ? 0 : -1;
}

/* deliver_maildir_mkdirs - create path and its parents, then the three
   Maildir subdirectories */
static int
deliver_maildir_mkdirs(char *path)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	char p[4096];

	for (char *s = path + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (sys_mkdir(path, 0700) == -1 && errno != EEXIST) {
			*s = '/';
			return -1;
		}
		*s = '/';
	}
	if (sys_mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", path, sub[i]);
		if (sys_mkdir(p, 0700) == -1 && errno != EEXIST)
			return -1;
	}
	return 0;
}

/* deliver_maildir_junk - dir becomes DIR/.Junk, a Maildir++ folder: the
   mailbox itself, then the folder with its "maildirfolder" marker */
static int
deliver_maildir_junk(struct buf *dir)
{
	char p[4096];
	int fd;

	if (deliver_maildir_mkdirs(dir->data) == -1)
		return -1;
	buf_puts(dir, "/.Junk");
	if (deliver_maildir_mkdirs(dir->data) == -1)
		return -1;
	snprintf(p, sizeof(p), "%s/maildirfolder", dir->data);
	if ((fd = sys_open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return -1;
	close(fd);
	return 0;
}

/* deliver_maildir_exists - after a restart: is our copy already there? */
static bool
deliver_maildir_exists(const char *dir, const char *name)
{
	char p[4096];
	struct stat sb;
	DIR *d;
	struct dirent *de;
	size_t n = strlen(name);
	bool found = false;

	snprintf(p, sizeof(p), "%s/new/%s", dir, name);
	if (stat(p, &sb) == 0)
		return true;
	snprintf(p, sizeof(p), "%s/cur", dir);
	if ((d = opendir(p)) == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL)
		found = strncmp(de->d_name, name, n) == 0 &&
		    (de->d_name[n] == '\0' || de->d_name[n] == ':');
	closedir(d);
	return found;
}

static int
deliver_maildir_write(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = sys_write(fd, p, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* deliver_maildir_copy - header lines, then the body with CRLF -> LF */
static int
deliver_maildir_copy(int fd, const struct deliver_job *job, size_t ri)
{
	const struct deliver_body *body = &job->body;
	char chunk[65536];
	size_t n = 0;
	int r;

	r = snprintf(chunk, sizeof(chunk), "Return-Path: <%s>\nDelivered-To: %s\n",
	    job->sender, job->rcpts[ri].addr);
	if (r < 0 || (size_t)r >= sizeof(chunk))
		return -1;
	n = (size_t)r;
	for (size_t i = 0; i < body->len; i++) {
		if (body->data[i] == '\r' && i + 1 < body->len &&
		    body->data[i + 1] == '\n')
			continue;
		chunk[n++] = body->data[i];
		if (n == sizeof(chunk)) {
			if (deliver_maildir_write(fd, chunk, n) == -1)
				return -1;
			n = 0;
		}
	}
	return deliver_maildir_write(fd, chunk, n);
}

static void
deliver_maildir_fail(struct spool_result *res, const char *what,
    const char *path, int errnum)
{
	res->outcome = SPOOL_OUTCOME_DEFERRED;
	snprintf(res->status, sizeof(res->status), "%s",
	    errnum == ENOSPC ? "4.3.1" : errnum == EDQUOT ? "4.2.2" : "4.2.0");
	snprintf(res->reply, sizeof(res->reply), "mailbox %s: %s %s",
	    strerror(errnum), what, path);
}

void
deliver_maildir(const struct conf *conf, const struct deliver_job *job,
    size_t ri, struct spool_result *res)
{
	const struct deliver_rcpt *rcpt = &job->rcpts[ri];
	struct buf dir;
	char name[512], tmp[4096], dst[4096], host[256];
	int fd = -1, dfd = -1, errnum;
	size_t i;

	/* the host part of the name may not hold '/' or ':' */
	snprintf(host, sizeof(host), "%s", conf->server.hostname);
	for (i = 0; host[i]; i++)
		if (host[i] == '/' || host[i] == ':')
			host[i] = '_';
	snprintf(name, sizeof(name), "%lld.Q%sR%llu.%s",
	    (long long)job->arrival, job->qid,
	    (unsigned long long)rcpt->rcpt_id, host);

	buf_init(&dir, 4000);
	if (deliver_maildir_path(conf, rcpt->addr, &dir) == -1) {
		deliver_maildir_fail(res, "bad mailbox path for", rcpt->addr,
		    EINVAL);
		goto out;
	}
	/* DMARC quarantine: the Maildir++ folder .Junk of the mailbox */
	if (job->junk && deliver_maildir_junk(&dir) == -1) {
		deliver_maildir_fail(res, "create", dir.data, errno);
		goto out;
	}
	if (deliver_maildir_mkdirs(dir.data) == -1) {
		deliver_maildir_fail(res, "create", dir.data, errno);
		goto out;
	}
	if ((job->recovered || rcpt->attempts > 0) &&
	    deliver_maildir_exists(dir.data, name))
		goto delivered;

	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir.data, name);
	snprintf(dst, sizeof(dst), "%s/new/%s", dir.data, name);
	fd = sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		deliver_maildir_fail(res, "create", tmp, errno);
		goto out;
	}
	if (deliver_maildir_copy(fd, job, ri) == -1 || sys_fsync(fd) == -1) {
		errnum = errno;
		sys_unlink(tmp);
		deliver_maildir_fail(res, "write", tmp, errnum);
		goto out;
	}
	close(fd);
	fd = -1;
	if (sys_rename(tmp, dst) == -1) {
		errnum = errno;
		sys_unlink(tmp);
		deliver_maildir_fail(res, "rename to", dst, errnum);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s/new", dir.data);
	if ((dfd = sys_open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC,
	    0)) == -1 ||
	    sys_fsync(dfd) == -1) {
		/* the file is in place; only its durability is in doubt, and
		   a retry finds it (same name), so defer rather than lose */
		deliver_maildir_fail(res, "fsync", tmp, errno);
		goto out;
	}
delivered:
	res->outcome = SPOOL_OUTCOME_DELIVERED;
	snprintf(res->status, sizeof(res->status), "2.0.0");
	snprintf(res->reply, sizeof(res->reply), "delivered to maildir %s",
	    dir.data);
out:
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	buf_fini(&dir);
}
