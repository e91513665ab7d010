/* SPDX-License-Identifier: ISC */
/*
 * cli_msgauth.c - the event loop, resolver and stdin handling shared by
 * relais spf, relais dkim and relais dmarc.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli/cli_msgauth.h"

int
cli_msgauth_loop_open(struct cli_msgauth_loop *l, const char *server,
    unsigned timeout)
{
	struct err err;

	memset(l, 0, sizeof(*l));
	if ((l->base = event_base_new()) == NULL) {
		fprintf(stderr, "relais: cannot create an event loop\n");
		return -1;
	}
	if ((l->dns = dns_new(l->base, server, NULL, timeout, &err)) == NULL) {
		fprintf(stderr, "relais: resolver: %s\n", err.msg);
		event_base_free(l->base);
		l->base = NULL;
		return -1;
	}
	l->res = dns_resolver(l->dns);
	return 0;
}

void
cli_msgauth_loop_run(struct cli_msgauth_loop *l)
{
	while (!l->done)
		if (event_base_loop(l->base, EVLOOP_ONCE) == -1)
			break;
}

void
cli_msgauth_loop_stop(struct cli_msgauth_loop *l)
{
	l->done = true;
	if (l->base != NULL)
		event_base_loopbreak(l->base);
}

void
cli_msgauth_loop_close(struct cli_msgauth_loop *l)
{
	dns_free(l->dns);
	if (l->base != NULL)
		event_base_free(l->base);
	memset(l, 0, sizeof(*l));
}

int
cli_msgauth_read(struct buf *crlf, bool *lf_out)
{
	char chunk[65536];
	ssize_t n;
	char prev = '\0';
	size_t lf = 0, crlfs = 0;

	buf_init(crlf, CLI_MSGAUTH_MSG_MAX);
	for (;;) {
		n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, "relais: stdin: %s\n", strerror(errno));
			buf_fini(crlf);
			return -1;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			char c = chunk[i];
			int r = 0;

			if (c == '\n' && prev != '\r') {
				r = buf_append(crlf, "\r\n", 2);
				lf++;
			} else if (prev == '\r' && c != '\n') {
				/* a bare CR: make it a line end too */
				r = buf_append(crlf, "\n", 1);
				if (r == 0)
					r = buf_append(crlf, &c, 1);
			} else {
				if (c == '\n')
					crlfs++;
				r = buf_append(crlf, &c, 1);
			}
			if (r == -1) {
				fprintf(stderr, "relais: message too large "
				    "(over %u MB)\n", CLI_MSGAUTH_MSG_MAX >> 20);
				buf_fini(crlf);
				return -1;
			}
			prev = c;
		}
	}
	if (prev == '\r' && buf_append(crlf, "\n", 1) == -1) {
		buf_fini(crlf);
		return -1;
	}
	*lf_out = lf > 0 && crlfs == 0;
	return 0;
}

int
cli_msgauth_timeout(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end != '\0' || v == 0 || v > 300)
		return -1;
	*out = (unsigned)v;
	return 0;
}
