/* SPDX-License-Identifier: ISC */
/*
 * cli.h - the relais commands; main.c dispatches argv to one of these.
 * Each returns the process exit status: 0 success, 1 runtime failure,
 * 2 usage or configuration error.
 */
#ifndef RELAIS_CLI_H
#define RELAIS_CLI_H

#include "core/version.h"

int	cli_serve(int argc, char **argv);
int	cli_queue(int argc, char **argv);
int	cli_check(int argc, char **argv);
int	cli_reload(int argc, char **argv);
int	cli_drain(int argc, char **argv);
int	cli_spf(int argc, char **argv);
int	cli_dkim(int argc, char **argv);
int	cli_dmarc(int argc, char **argv);
int	cli_passwd(int argc, char **argv);
int	cli_sendmail(int argc, char **argv);
int	cli_suppress(int argc, char **argv);
int	cli_apikey(int argc, char **argv);
int	cli_stats(int argc, char **argv);
int	cli_tls(int argc, char **argv);
/* cli_tls_report - relais tls report ... (argv[0] is "report") */
int	cli_tls_report(int argc, char **argv);

struct conf;
/* cli_serve_sandbox - lock relais serve into the paths and system calls
   it needs (cli_serve_sandbox.c); fatal on failure; nothing when [server]
   sandbox = no. Called once, before any thread starts. */
void	cli_serve_sandbox(const struct conf *conf);

/* cli_args - split argv[1..] into -c FILE (or NULL) and up to maxpos
   positional arguments; -1 on an unknown option or too many arguments */
int	cli_args(int argc, char **argv, const char **path_out,
	    char **pos_out, int maxpos, int *npos_out);

#endif
