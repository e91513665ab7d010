/* SPDX-License-Identifier: ISC */
/*
 * main.c - argv dispatch to the relais commands, nothing else.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct main_cmd {
	const char	*name;
	int		(*run)(int, char **);
	const char	*usage;
};

static const struct main_cmd main_cmds[] = {
	{ "serve", cli_serve,
	  "serve [-c FILE]        run the daemon in the foreground" },
	{ "queue", cli_queue,
	  "queue list [--site|--cluster]|show ID|flush [ID]|delete ID|hold ID|release ID\n"
	  "              | suspend SITE [--for DURATION] [--reason TEXT]\n"
	  "              | resume SITE [-c FILE]" },
	{ "stats", cli_stats,
	  "stats [-c FILE]        each tenant's messages and recipients this hour and day" },
	{ "suppress", cli_suppress,
	  "suppress list|add ADDRESS|remove ADDRESS [-c FILE]" },
	{ "passwd", cli_passwd,
	  "passwd [USER]          hash a password read on stdin (passwd-file form)" },
	{ "apikey", cli_apikey,
	  "apikey new NAME --from-domain D...|--any-domain | list | revoke NAME\n"
	  "              [--keys FILE] [-c FILE]   keys of the HTTP API" },
	{ "spf", cli_spf,
	  "spf --ip IP --sender ADDR --helo NAME [--resolver HOST:PORT]" },
	{ "dkim", cli_dkim,
	  "dkim sign --domain D --selector S --key PEM | verify "
	  "[--resolver HOST:PORT] |\n"
	  "              keygen --algorithm A --selector S --domain D" },
	{ "dmarc", cli_dmarc,
	  "dmarc --ip IP --helo NAME --sender ADDR [--resolver HOST:PORT] "
	  "< message" },
	{ "sendmail", cli_sendmail,
	  "sendmail [-t] [-i] [-f SENDER] [-c FILE] [RCPT...]  message on stdin" },
	{ "tls", cli_tls,
	  "tls check DOMAIN | records DOMAIN | report [--day D|today] [--send]\n"
	  "              [-c FILE]   outbound TLS policy, records to publish,"
	  " TLS-RPT" },
	{ "check-config", cli_check,
	  "check-config [-c FILE] check the configuration and exit" },
	{ "reload", cli_reload,
	  "reload [-c FILE]       have the running daemon reload its configuration" },
	{ "drain", cli_drain,
	  "drain [-c FILE] [--to HOST:PORT] [--timeout N]\n"
	  "              stop taking mail, empty the queue (or hand it to HOST:PORT), exit" },
};

static void
main_usage(FILE *f)
{
	fprintf(f, "usage: relais COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(main_cmds) / sizeof(main_cmds[0]); i++)
		fprintf(f, "  relais %s\n", main_cmds[i].usage);
	fprintf(f, "\n  relais --version\n  relais COMMAND --help\n");
}

int
main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');

	/* installed as /usr/sbin/sendmail: behave as "relais sendmail" */
	base = base ? base + 1 : argv[0];
	if (strcmp(base, "sendmail") == 0)
		return cli_sendmail(argc, argv);
	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("relais %s\n", RELAIS_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		main_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(main_cmds) / sizeof(main_cmds[0]); i++) {
		if (strcmp(argv[1], main_cmds[i].name) != 0)
			continue;
		for (int j = 2; j < argc; j++) {
			if (strcmp(argv[j], "--help") == 0 ||
			    strcmp(argv[j], "-h") == 0) {
				printf("usage: relais %s\n", main_cmds[i].usage);
				return 0;
			}
		}
		return main_cmds[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "relais: unknown command '%s'\n", argv[1]);
	main_usage(stderr);
	return 2;
}
