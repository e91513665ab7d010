/* SPDX-License-Identifier: ISC */
/*
 * cli_passwd.c - relais passwd [USER]: read a password on stdin (its
 * first line; a trailing CR LF or LF is not part of it) and print a
 * yescrypt hash in passwd-file form: "{CRYPT}$y$...", or, given USER,
 * the whole line "USER:{CRYPT}$y$...::::::" ready for [local] users (and
 * Dovecot, whose CRYPT scheme is libc's crypt: $y$ on Debian 11 and
 * later). Exit 0, 1 if no hash could be made, 2 on a usage error or an
 * empty password.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/passwd_hash.h"
#include "cli/cli.h"

#define CLI_PASSWD_MAX	1024	/* octets of password */

int
cli_passwd(int argc, char **argv)
{
	char pw[CLI_PASSWD_MAX + 2], hash[512];
	const char *user = NULL;
	struct err err;
	size_t n;

	if (argc > 2 || (argc == 2 && (argv[1][0] == '-' ||
	    strchr(argv[1], ':') != NULL || argv[1][0] == '\0'))) {
		fprintf(stderr, "usage: relais passwd [USER] < password\n");
		return 2;
	}
	if (argc == 2)
		user = argv[1];
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "password: ");
	if (fgets(pw, sizeof(pw), stdin) == NULL) {
		fprintf(stderr, "relais passwd: no password on stdin\n");
		return 2;
	}
	n = strcspn(pw, "\r\n");
	if (n == strlen(pw) && !feof(stdin) && n > CLI_PASSWD_MAX) {
		fprintf(stderr, "relais passwd: password longer than %d"
		    " octets\n", CLI_PASSWD_MAX);
		explicit_bzero(pw, sizeof(pw));
		return 2;
	}
	pw[n] = '\0';
	if (n == 0) {
		fprintf(stderr, "relais passwd: empty password\n");
		return 2;
	}
	if (passwd_hash_make(pw, hash, sizeof(hash), &err) == -1) {
		explicit_bzero(pw, sizeof(pw));
		fprintf(stderr, "relais passwd: %s\n", err.msg);
		return 1;
	}
	explicit_bzero(pw, sizeof(pw));
	if (user != NULL)
		printf("%s:{CRYPT}%s::::::\n", user, hash);
	else
		printf("{CRYPT}%s\n", hash);
	return 0;
}
