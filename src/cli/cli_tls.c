/* SPDX-License-Identifier: ISC */
/*
 * cli_tls.c - relais tls SUBCOMMAND: the outbound TLS commands
 * (report: cli_tls_report.c).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void
cli_tls_usage(void)
{
	fprintf(stderr, "usage: relais tls report [--day YYYY-MM-DD|today]"
	    " [--send] [-c FILE]\n");
}

int
cli_tls(int argc, char **argv)
{
	if (argc < 2) {
		cli_tls_usage();
		return 2;
	}
	if (strcmp(argv[1], "report") == 0)
		return cli_tls_report(argc - 1, argv + 1);
	fprintf(stderr, "relais: unknown tls command '%s'\n", argv[1]);
	cli_tls_usage();
	return 2;
}
