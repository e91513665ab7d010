/* SPDX-License-Identifier: ISC */
/*
 * cli_dmarc.c - relais dmarc --ip IP --helo NAME --sender ADDR
 *               [--resolver HOST:PORT] [--authserv-id ID]
 *               [--timeout SECONDS] [--pct-sample N] < message
 *
 * Runs the inbound check an mx listener runs at the end of DATA (SPF,
 * every DKIM signature, DMARC; msgauth.h) on the message read from
 * stdin, and prints the Authentication-Results value it would add, on
 * one line. The DMARC disposition goes to stderr as "disposition=...".
 * Exit 0 when the check ran, 1 if the resolver cannot be set up or
 * stdin cannot be read, 2 on a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_msgauth.h"
#include "core/xalloc.h"
#include "msgauth/msgauth.h"

#define CLI_DMARC_USAGE "usage: relais dmarc --ip IP --helo NAME --sender ADDR " \
	"[--resolver HOST:PORT] [--authserv-id ID]\n" \
	"                    [--timeout SECONDS] [--pct-sample 0-99] < message\n"

struct cli_dmarc_state {
	struct cli_msgauth_loop	 loop;
	char			*value;
	enum dmarc_policy	 disposition;
	enum dmarc_result	 result;
};

static void
cli_dmarc_done(void *arg, const struct msgauth_result *res)
{
	struct cli_dmarc_state *st = arg;

	st->value = xstrdup(res->arh_value);
	st->disposition = res->disposition;
	st->result = res->dmarc_result;
	cli_msgauth_loop_stop(&st->loop);
}

int
cli_dmarc(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "sender", required_argument, NULL, 's' },
		{ "helo", required_argument, NULL, 'h' },
		{ "resolver", required_argument, NULL, 'r' },
		{ "authserv-id", required_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ "pct-sample", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct msgauth_input in;
	struct cli_dmarc_state st;
	const char *resolver = NULL, *sender = NULL;
	char host[256], *from = NULL, *end;
	unsigned timeout = CLI_MSGAUTH_TIMEOUT;
	struct buf msg;
	bool lf;
	long v;
	int c;

	memset(&in, 0, sizeof(in));
	in.pct_sample = -1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': in.client_ip = optarg; break;
		case 's': sender = optarg; break;
		case 'h': in.helo = optarg; break;
		case 'r': resolver = optarg; break;
		case 'a': in.authserv_id = optarg; break;
		case 't':
			if (cli_msgauth_timeout(optarg, &timeout) == -1)
				goto usage;
			break;
		case 'p':
			v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 0 || v > 99)
				goto usage;
			in.pct_sample = (int)v;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || in.client_ip == NULL || in.helo == NULL ||
	    sender == NULL)
		goto usage;
	if (in.authserv_id == NULL) {
		if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		in.authserv_id = host;
	}
	/* a reverse-path may come with its brackets */
	if (sender[0] == '<' && strlen(sender) >= 2 &&
	    sender[strlen(sender) - 1] == '>')
		from = xstrndup(sender + 1, strlen(sender) - 2);
	else
		from = xstrdup(sender);
	in.mail_from = from;
	if (cli_msgauth_read(&msg, &lf) == -1) {
		free(from);
		return 1;
	}
	memset(&st, 0, sizeof(st));
	if (cli_msgauth_loop_open(&st.loop, resolver, timeout) == -1) {
		buf_fini(&msg);
		free(from);
		return 1;
	}
	in.msg = msg.data ? msg.data : "";
	in.len = msg.len;
	in.base = st.loop.base;
	in.timeout = timeout * 4;
	if (msgauth_check_start(st.loop.res, &in, cli_dmarc_done, &st) != NULL)
		cli_msgauth_loop_run(&st.loop);
	cli_msgauth_loop_close(&st.loop);
	buf_fini(&msg);
	free(from);
	printf("%s\n", st.value ? st.value : "");
	fprintf(stderr, "relais dmarc: dmarc=%s disposition=%s\n",
	    dmarc_result_name(st.result), dmarc_policy_name(st.disposition));
	free(st.value);
	return 0;
usage:
	fprintf(stderr, CLI_DMARC_USAGE);
	return 2;
}
