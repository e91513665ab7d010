/* SPDX-License-Identifier: ISC */
/*
 * cli_check.c - relais check-config [-c FILE]: load the configuration and
 * the tables it names (and the files of [cluster] tls), report the first error as FILE:LINE: message, and
 * exit 2 on error, 0 when all is well; then the number of [site],
 * [backoff], [pool] and [tenant] sections, if any. Also holds the shared
 * -c parser.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "cli/cli.h"
#include "live/conf_live.h"
#include "net/redis_tls.h"

int
cli_args(int argc, char **argv, const char **path_out, char **pos_out,
    int maxpos, int *npos_out)
{
	int npos = 0;

	*path_out = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 ||
		    strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc)
				return -1;
			*path_out = argv[++i];
		} else if (strncmp(argv[i], "-c", 2) == 0 && argv[i][2]) {
			*path_out = argv[i] + 2;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return -1;
		} else if (npos < maxpos) {
			pos_out[npos++] = argv[i];
		} else {
			return -1;
		}
	}
	*npos_out = npos;
	return 0;
}

int
cli_check(int argc, char **argv)
{
	const char *path;
	int npos;
	struct conf_live live;
	const struct conf *conf;
	struct err err;
	SSL_CTX *tls;

	if (cli_args(argc, argv, &path, NULL, 0, &npos) == -1) {
		fprintf(stderr, "usage: relais check-config [-c FILE]\n");
		return 2;
	}
	if (conf_live_init(&live, path, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	conf = live.cur->conf;
	/* the files [cluster] tls names: read as relais serve will */
	if (redis_tls_ctx(conf, &tls, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		conf_live_fini(&live);
		return 2;
	}
	SSL_CTX_free(tls);
	printf("%s: configuration OK\n", conf->path ? conf->path :
	    "(embedded default)");
	if (conf->relay.shaping != NULL)
		printf("shaping file %s\n", conf->relay.shaping);
	if (conf->nsites + conf->nbackoffs + conf->npools + conf->ntenants)
		printf("%zu site%s, %zu backoff rule%s, %zu pool%s, "
		    "%zu tenant%s\n",
		    conf->nsites, conf->nsites == 1 ? "" : "s",
		    conf->nbackoffs, conf->nbackoffs == 1 ? "" : "s",
		    conf->npools, conf->npools == 1 ? "" : "s",
		    conf->ntenants, conf->ntenants == 1 ? "" : "s");
	conf_live_fini(&live);
	return 0;
}
