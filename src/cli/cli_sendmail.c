/* SPDX-License-Identifier: ISC */
/*
 * cli_sendmail.c - relais sendmail [-t] [-i] [-f SENDER] [RCPT...], also
 * when the binary is invoked as "sendmail": the message on standard input
 * is submitted over SMTP to the running daemon (the first mx listener of
 * the configuration, reached on loopback, which is trusted), so aliases,
 * signing, the spool and its durability are the daemon's, unchanged.
 *
 * -t takes the recipients from To:, Cc: and Bcc: (Bcc: is removed);
 * -i and -oi are accepted (a lone "." never ends the input here: the
 * message ends at end of file); -f sets the envelope sender (default
 * LOGIN@HOSTNAME); -F, -o* and -B* are accepted and ignored. Exit status
 * as sendmail's: 0 queued, 64 usage, 65 bad message, 69 refused, 75 try
 * again later (daemon down or 4xx).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "core/buf.h"
#include "core/xalloc.h"

#define EX_USAGE	64
#define EX_DATAERR	65
#define EX_UNAVAILABLE	69
#define EX_TEMPFAIL	75

struct sendmail {
	int	 fd;
	char	 in[8192];
	size_t	 inlen;
	char	 last[512];	/* last reply line, for messages */
};

static int
sendmail_write(struct sendmail *sm, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(sm->fd, p, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* sendmail_reply - read one whole reply; returns its code or -1 */
static int
sendmail_reply(struct sendmail *sm)
{
	for (;;) {
		char *nl = memchr(sm->in, '\n', sm->inlen);
		ssize_t r;

		if (nl != NULL) {
			size_t n = (size_t)(nl - sm->in) + 1;
			int more = n > 4 && sm->in[3] == '-';
			int code = atoi(sm->in);

			snprintf(sm->last, sizeof(sm->last), "%.*s",
			    (int)(n > 2 ? n - 2 : 0), sm->in);
			memmove(sm->in, sm->in + n, sm->inlen - n);
			sm->inlen -= n;
			if (!more)
				return code;
			continue;
		}
		if (sm->inlen == sizeof(sm->in))
			return -1;
		r = read(sm->fd, sm->in + sm->inlen, sizeof(sm->in) - sm->inlen);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		sm->inlen += (size_t)r;
	}
}

static int
sendmail_cmd(struct sendmail *sm, const char *line)
{
	if (sendmail_write(sm, line, strlen(line)) == -1 ||
	    sendmail_write(sm, "\r\n", 2) == -1)
		return -1;
	return sendmail_reply(sm);
}

/* sendmail_connect - the first mx listener, on loopback if it is a
   wildcard address */
static int
sendmail_connect(const struct conf *conf)
{
	for (size_t i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener *l = &conf->listeners[i];

		if (l->role != CONF_ROLE_MX || l->tls == CONF_TLS_IMPLICIT)
			continue;
		for (size_t j = 0; j < l->naddrs; j++) {
			struct sockaddr_storage ss = l->addrs[j].ss;
			int fd;

			if (ss.ss_family == AF_INET) {
				struct sockaddr_in *s4 = (void *)&ss;

				if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
					s4->sin_addr.s_addr =
					    htonl(INADDR_LOOPBACK);
			} else if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *s6 = (void *)&ss;

				if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
					s6->sin6_addr = in6addr_loopback;
			}
			fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd == -1)
				continue;
			if (connect(fd, (struct sockaddr *)&ss,
			    l->addrs[j].sslen) == 0)
				return fd;
			close(fd);
		}
	}
	return -1;
}

/* sendmail_add_addrs - addresses of one header field value into rcpts */
static void
sendmail_add_addrs(const char *v, size_t n, char ***rcpts, size_t *nr)
{
	size_t i = 0;

	while (i < n) {
		size_t start, end;
		const char *lt, *gt;
		char item[512];

		while (i < n && (v[i] == ',' || isspace((unsigned char)v[i])))
			i++;
		start = i;
		while (i < n && v[i] != ',')
			i++;
		end = i;
		if (end <= start || end - start >= sizeof(item))
			continue;
		memcpy(item, v + start, end - start);
		item[end - start] = '\0';
		if ((lt = strchr(item, '<')) != NULL &&
		    (gt = strchr(lt, '>')) != NULL) {
			memmove(item, lt + 1, (size_t)(gt - lt - 1));
			item[gt - lt - 1] = '\0';
		}
		/* drop a trailing "(comment)" and blanks */
		item[strcspn(item, " \t(")] = '\0';
		if (strchr(item, '@') == NULL)
			continue;
		*rcpts = xreallocarray(*rcpts, *nr + 1, sizeof(**rcpts));
		(*rcpts)[(*nr)++] = xstrdup(item);
	}
}

/*
 * sendmail_headers - with -t, collect To/Cc/Bcc and drop Bcc lines; the
 * message is rewritten into out with CRLF line ends either way.
 */
static void
sendmail_prepare(const char *in, size_t len, int from_headers,
    struct buf *out, char ***rcpts, size_t *nr)
{
	int in_headers = 1, skipping = 0;
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(in + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (in + i)) : len - i;
		const char *line = in + i;

		i += n + (nl ? 1 : 0);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (in_headers && n == 0) {
			in_headers = 0;
		} else if (in_headers) {
			int cont = line[0] == ' ' || line[0] == '\t';

			if (!cont)
				skipping = 0;
			if (!cont && from_headers) {
				const char *c = memchr(line, ':', n);
				size_t k = c ? (size_t)(c - line) : 0;

				if (c && ((k == 2 && strncasecmp(line, "To", 2)
				    == 0) || (k == 2 && strncasecmp(line, "Cc",
				    2) == 0) || (k == 3 && strncasecmp(line,
				    "Bcc", 3) == 0))) {
					sendmail_add_addrs(c + 1, n - k - 1,
					    rcpts, nr);
					skipping = k == 3;
				}
			} else if (cont && from_headers && skipping) {
				sendmail_add_addrs(line, n, rcpts, nr);
			}
			if (skipping)
				continue;
		}
		buf_append(out, line, n);
		buf_append(out, "\r\n", 2);
	}
}

/* sendmail_data - the message, dot-stuffed, then "." */
static int
sendmail_data(struct sendmail *sm, const struct buf *msg)
{
	const char *p = msg->data ? msg->data : "";
	size_t start = 0;

	for (size_t i = 0; i < msg->len; i++) {
		if (p[i] != '.' || (i > 0 && p[i - 1] != '\n'))
			continue;
		if (sendmail_write(sm, p + start, i - start) == -1 ||
		    sendmail_write(sm, ".", 1) == -1)
			return -1;
		start = i;
	}
	if (sendmail_write(sm, p + start, msg->len - start) == -1 ||
	    sendmail_write(sm, ".\r\n", 3) == -1)
		return -1;
	return sendmail_reply(sm);
}

static int
sendmail_status(int code)
{
	return code >= 500 ? EX_UNAVAILABLE : EX_TEMPFAIL;
}

int
cli_sendmail(int argc, char **argv)
{
	const char *path = NULL, *sender = NULL;
	int from_headers = 0, code, rc = EX_TEMPFAIL;
	char **rcpts = NULL, line[1200], defsender[300];
	size_t nr = 0;
	struct buf in, msg;
	struct conf *conf;
	struct err err;
	struct sendmail sm = { .fd = -1 };
	char chunk[65536];
	size_t n;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-t") == 0)
			from_headers = 1;
		else if (strcmp(a, "-i") == 0 || strcmp(a, "-oi") == 0)
			;
		else if (strcmp(a, "-f") == 0 || strcmp(a, "-r") == 0) {
			if (++i >= argc)
				goto usage;
			sender = argv[i];
		} else if (strncmp(a, "-f", 2) == 0)
			sender = a + 2;
		else if (strcmp(a, "-c") == 0 || strcmp(a, "-C") == 0) {
			if (++i >= argc)
				goto usage;
			path = argv[i];
		} else if (strcmp(a, "-F") == 0) {
			if (++i >= argc)
				goto usage;
		} else if (strncmp(a, "-F", 2) == 0 || strncmp(a, "-o", 2) == 0
		    || strncmp(a, "-B", 2) == 0)
			;
		else if (strcmp(a, "--") == 0)
			continue;
		else if (a[0] == '-')
			goto usage;
		else {
			rcpts = xreallocarray(rcpts, nr + 1, sizeof(*rcpts));
			rcpts[nr++] = xstrdup(a);
		}
	}
	if (conf_find(path, &conf, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		rc = EX_TEMPFAIL;
		goto out_free;
	}
	if (sender == NULL) {
		struct passwd *pw = getpwuid(getuid());

		snprintf(defsender, sizeof(defsender), "%s@%s",
		    pw ? pw->pw_name : "nobody", conf->server.hostname);
		sender = defsender;
	}
	buf_init(&in, conf->limits.max_message_size + 1);
	buf_init(&msg, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		if (buf_append(&in, chunk, n) == -1) {
			fprintf(stderr, "relais sendmail: message larger than"
			    " max_message_size\n");
			rc = EX_DATAERR;
			goto out;
		}
	}
	sendmail_prepare(in.data ? in.data : "", in.len, from_headers, &msg,
	    &rcpts, &nr);
	if (nr == 0) {
		fprintf(stderr, "relais sendmail: no recipients\n");
		rc = EX_USAGE;
		goto out;
	}
	if ((sm.fd = sendmail_connect(conf)) == -1) {
		fprintf(stderr, "relais sendmail: cannot reach the relais"
		    " daemon: %s\n", strerror(errno));
		goto out;
	}
	if ((code = sendmail_reply(&sm)) != 220)
		goto refused;
	snprintf(line, sizeof(line), "EHLO %s", conf->server.hostname);
	if ((code = sendmail_cmd(&sm, line)) != 250)
		goto refused;
	snprintf(line, sizeof(line), "MAIL FROM:<%s>", sender);
	if ((code = sendmail_cmd(&sm, line)) != 250)
		goto refused;
	for (size_t i = 0; i < nr; i++) {
		snprintf(line, sizeof(line), "RCPT TO:<%s>", rcpts[i]);
		if ((code = sendmail_cmd(&sm, line)) / 100 != 2)
			goto refused;
	}
	if ((code = sendmail_cmd(&sm, "DATA")) != 354)
		goto refused;
	if ((code = sendmail_data(&sm, &msg)) != 250)
		goto refused;
	(void)sendmail_cmd(&sm, "QUIT");
	rc = 0;
	goto out;
refused:
	fprintf(stderr, "relais sendmail: %s\n", code == -1 ?
	    "connection lost" : sm.last);
	rc = code == -1 ? EX_TEMPFAIL : sendmail_status(code);
out:
	if (sm.fd != -1)
		close(sm.fd);
	buf_fini(&in);
	buf_fini(&msg);
	conf_unref(conf);
out_free:
	for (size_t i = 0; i < nr; i++)
		free(rcpts[i]);
	free(rcpts);
	return rc;
usage:
	fprintf(stderr, "usage: relais sendmail [-t] [-i] [-f SENDER]"
	    " [-c FILE] [RCPT...]\n");
	rc = EX_USAGE;
	goto out_free;
}
