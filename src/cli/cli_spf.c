/* SPDX-License-Identifier: ISC */
/*
 * cli_spf.c - relais spf --ip IP --sender ADDR --helo NAME
 *             [--resolver HOST:PORT] [--receiver NAME] [--timeout SECONDS]
 *
 * Runs check_host() (RFC 7208) for one SMTP client and prints the result
 * word (pass fail softfail neutral none permerror temperror) on the first
 * line of stdout, and the explanation (exp=) on the second line when the
 * domain gave one. Why an error happened goes to stderr. Exit 0 when a
 * result was computed (whatever it is), 2 on a usage error, 1 if the
 * resolver cannot be set up.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_msgauth.h"
#include "core/xalloc.h"
#include "msgauth/spf.h"

#define CLI_SPF_USAGE "usage: relais spf --ip IP --sender ADDR --helo NAME " \
	"[--resolver HOST:PORT] [--receiver NAME] [--timeout SECONDS]\n"

struct cli_spf_state {
	struct cli_msgauth_loop	 loop;
	enum spf_result		 result;
	char			*explanation;
	char			*problem;
};

static void
cli_spf_done(void *arg, const struct spf_answer *ans)
{
	struct cli_spf_state *st = arg;

	st->result = ans->result;
	st->explanation = ans->explanation ? xstrdup(ans->explanation) : NULL;
	st->problem = ans->problem ? xstrdup(ans->problem) : NULL;
	cli_msgauth_loop_stop(&st->loop);
}

/* cli_spf_sender - strip one pair of <> around a reverse-path */
static char *
cli_spf_sender(const char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>')
		return xstrndup(s + 1, n - 2);
	return xstrdup(s);
}

int
cli_spf(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "sender", required_argument, NULL, 's' },
		{ "helo", required_argument, NULL, 'h' },
		{ "resolver", required_argument, NULL, 'r' },
		{ "receiver", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ip = NULL, *sender = NULL, *helo = NULL, *resolver = NULL;
	const char *receiver = NULL;
	unsigned timeout = CLI_MSGAUTH_TIMEOUT;
	struct cli_spf_state st;
	struct spf_request req;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': ip = optarg; break;
		case 's': sender = optarg; break;
		case 'h': helo = optarg; break;
		case 'r': resolver = optarg; break;
		case 'R': receiver = optarg; break;
		case 't':
			if (cli_msgauth_timeout(optarg, &timeout) == -1)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || ip == NULL || sender == NULL || helo == NULL)
		goto usage;

	memset(&req, 0, sizeof(req));
	if (spf_request_set_ip(&req, ip) == -1) {
		fprintf(stderr, "relais spf: bad IP address '%s'\n", ip);
		return 2;
	}
	memset(&st, 0, sizeof(st));
	if (cli_msgauth_loop_open(&st.loop, resolver, timeout) == -1)
		return 1;
	req.sender = cli_spf_sender(sender);
	req.helo = helo;
	req.receiver = receiver;
	if (spf_eval_start(st.loop.res, &req, cli_spf_done, &st) != NULL)
		cli_msgauth_loop_run(&st.loop);
	free((char *)req.sender);
	cli_msgauth_loop_close(&st.loop);

	printf("%s\n", spf_result_name(st.result));
	if (st.explanation != NULL)
		printf("%s\n", st.explanation);
	if (st.problem != NULL)
		fprintf(stderr, "relais spf: %s: %s\n",
		    spf_result_name(st.result), st.problem);
	free(st.explanation);
	free(st.problem);
	return 0;
usage:
	fprintf(stderr, CLI_SPF_USAGE);
	return 2;
}
