/* SPDX-License-Identifier: ISC */
/*
 * cli_dkim.c - relais dkim sign | verify | keygen.
 *
 *   relais dkim sign --domain D --selector S --key PEM
 *        [--algorithm rsa-sha256|ed25519-sha256] [--canonicalization H/B]
 *        [--selector2 S2 --key2 PEM2] [--expire SECONDS] [--body-length]
 *                                              < message > signed message
 *   relais dkim verify [--resolver HOST:PORT] [--timeout SECONDS]
 *        [--time UNIXTIME]                     < message
 *   relais dkim keygen --algorithm A --selector S --domain D [--bits N]
 *        [--out PATH]
 *
 * sign writes the DKIM-Signature field(s) then the message unchanged, in
 * the message's own line ends (LF in, LF out). verify prints one line
 * "RESULT d=D s=S" per signature ("none" if there is none) and the
 * reasons on stderr. keygen writes the private key (PEM, mode 0600,
 * never over an existing file) and prints its path, then the TXT record
 * to publish, as one zone-file line. Exit 0 when the command did its
 * job (whatever the verification results), 1 on a runtime error, 2 on a
 * usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "cli/cli.h"
#include "cli/cli_msgauth.h"
#include "core/xalloc.h"
#include "msgauth/dkim.h"

#define CLI_DKIM_USAGE \
	"usage: relais dkim sign --domain D --selector S --key PEM " \
	"[--algorithm rsa-sha256|ed25519-sha256]\n" \
	"                        [--canonicalization relaxed/relaxed] " \
	"[--selector2 S --key2 PEM]\n" \
	"                        [--expire SECONDS] [--body-length] < message\n" \
	"       relais dkim verify [--resolver HOST:PORT] [--timeout SECONDS] " \
	"[--time UNIXTIME] < message\n" \
	"       relais dkim keygen --algorithm rsa-sha256|ed25519-sha256 " \
	"--selector S --domain D [--bits N] [--out PATH]\n"

/* cli_dkim_write - out to stdout, CRLF turned into LF if lf */
static int
cli_dkim_write(const char *p, size_t n, bool lf)
{
	for (size_t i = 0; i < n;) {
		size_t k = i;

		if (lf) {
			while (k < n && !(p[k] == '\r' && k + 1 < n &&
			    p[k + 1] == '\n'))
				k++;
		} else {
			k = n;
		}
		if (fwrite(p + i, 1, k - i, stdout) != k - i)
			return -1;
		if (k < n) {
			putchar('\n');
			k += 2;
		}
		i = k;
	}
	return 0;
}

static int
cli_dkim_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "selector", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "algorithm", required_argument, NULL, 'a' },
		{ "canonicalization", required_argument, NULL, 'c' },
		{ "selector2", required_argument, NULL, 'S' },
		{ "key2", required_argument, NULL, 'K' },
		{ "expire", required_argument, NULL, 'x' },
		{ "body-length", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *domain = NULL, *sel[2] = { NULL, NULL };
	unsigned long expire;
	char *end;
	const char *keyp[2] = { NULL, NULL }, *alg = NULL;
	struct dkim_sign_conf conf;
	struct buf msg, out;
	struct err err;
	bool lf;
	int c, rc = 1;

	memset(&conf, 0, sizeof(conf));
	conf.hcanon = conf.bcanon = DKIM_CANON_RELAXED;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': domain = optarg; break;
		case 's': sel[0] = optarg; break;
		case 'k': keyp[0] = optarg; break;
		case 'a': alg = optarg; break;
		case 'S': sel[1] = optarg; break;
		case 'K': keyp[1] = optarg; break;
		case 'l': conf.body_length = true; break;
		case 'x':
			errno = 0;
			expire = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || expire == 0 ||
			    expire > 366UL * 86400)
				goto usage;
			conf.expire = (unsigned)expire;
			break;
		case 'c':
			if (dkim_canon_parse(str_cstr(optarg), &conf.hcanon,
			    &conf.bcanon) == -1)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || domain == NULL || sel[0] == NULL ||
	    keyp[0] == NULL || (sel[1] == NULL) != (keyp[1] == NULL))
		goto usage;
	conf.domain = domain;
	for (int k = 0; k < 2 && sel[k] != NULL; k++) {
		struct dkim_sign_key *sk = &conf.keys[conf.nkeys];
		enum dkim_alg want;

		if (dkim_sign_key_load(keyp[k], &sk->pkey, &sk->alg, &err)
		    == -1) {
			fprintf(stderr, "relais dkim sign: %s\n", err.msg);
			goto out;
		}
		sk->selector = sel[k];
		conf.nkeys++;
		if (k == 0 && alg != NULL) {
			if (dkim_alg_parse(str_cstr(alg), &want) == -1 ||
			    want == DKIM_ALG_RSA_SHA1) {
				fprintf(stderr, "relais dkim sign: unknown "
				    "algorithm '%s' (rsa-sha256, "
				    "ed25519-sha256)\n", alg);
				rc = 2;
				goto out;
			}
			if (want != sk->alg) {
				fprintf(stderr, "relais dkim sign: %s is not "
				    "a key for %s\n", keyp[k], alg);
				goto out;
			}
		}
	}
	if (cli_msgauth_read(&msg, &lf) == -1)
		goto out;
	buf_init(&out, 0);
	if (dkim_sign_message(&conf, msg.data ? msg.data : "", msg.len, &out,
	    &err) == -1) {
		fprintf(stderr, "relais dkim sign: %s\n", err.msg);
	} else if (cli_dkim_write(out.data, out.len, lf) == -1 ||
	    cli_dkim_write(msg.data ? msg.data : "", msg.len, lf) == -1 ||
	    fflush(stdout) == EOF) {
		fprintf(stderr, "relais dkim sign: stdout: %s\n",
		    strerror(errno));
	} else {
		rc = 0;
	}
	buf_fini(&out);
	buf_fini(&msg);
out:
	for (size_t k = 0; k < conf.nkeys; k++)
		dkim_sign_key_free(conf.keys[k].pkey);
	return rc;
usage:
	fprintf(stderr, CLI_DKIM_USAGE);
	return 2;
}

struct cli_dkim_verify_state {
	struct cli_msgauth_loop	 loop;
	struct dkim_verdict	*v;
	size_t			 n;
};

static void
cli_dkim_verify_done(void *arg, const struct dkim_verdict *v, size_t n)
{
	struct cli_dkim_verify_state *st = arg;

	if (n) {
		st->v = xcalloc(n, sizeof(*st->v));
		memcpy(st->v, v, n * sizeof(*v));
	}
	st->n = n;
	cli_msgauth_loop_stop(&st->loop);
}

static int
cli_dkim_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "resolver", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "time", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	const char *resolver = NULL;
	unsigned timeout = CLI_MSGAUTH_TIMEOUT;
	struct cli_dkim_verify_state st;
	long long now = 0;
	struct buf msg;
	char *end;
	bool lf;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': resolver = optarg; break;
		case 't':
			if (cli_msgauth_timeout(optarg, &timeout) == -1)
				goto usage;
			break;
		case 'T':
			errno = 0;
			now = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || now <= 0)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc)
		goto usage;
	if (cli_msgauth_read(&msg, &lf) == -1)
		return 1;
	memset(&st, 0, sizeof(st));
	if (cli_msgauth_loop_open(&st.loop, resolver, timeout) == -1) {
		buf_fini(&msg);
		return 1;
	}
	if (dkim_verify_start(st.loop.res, msg.data ? msg.data : "", msg.len,
	    (time_t)now, cli_dkim_verify_done, &st) != NULL)
		cli_msgauth_loop_run(&st.loop);
	cli_msgauth_loop_close(&st.loop);
	buf_fini(&msg);
	if (st.n == 0)
		printf("none\n");
	for (size_t i = 0; i < st.n; i++) {
		printf("%s d=%s s=%s\n", dkim_result_name(st.v[i].result),
		    st.v[i].d, st.v[i].s);
		if (st.v[i].reason[0])
			fprintf(stderr, "relais dkim verify: d=%s s=%s: %s\n",
			    st.v[i].d, st.v[i].s, st.v[i].reason);
	}
	free(st.v);
	return 0;
usage:
	fprintf(stderr, CLI_DKIM_USAGE);
	return 2;
}

/* cli_dkim_genkey - a new RSA (bits) or Ed25519 private key */
static EVP_PKEY *
cli_dkim_genkey(enum dkim_alg alg, unsigned bits)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;

	ctx = EVP_PKEY_CTX_new_id(alg == DKIM_ALG_ED25519_SHA256 ?
	    EVP_PKEY_ED25519 : EVP_PKEY_RSA, NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    (alg == DKIM_ALG_RSA_SHA256 &&
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) != 1) ||
	    EVP_PKEY_keygen(ctx, &pkey) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static int
cli_dkim_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "algorithm", required_argument, NULL, 'a' },
		{ "selector", required_argument, NULL, 's' },
		{ "domain", required_argument, NULL, 'd' },
		{ "bits", required_argument, NULL, 'b' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *alg = "rsa-sha256", *sel = NULL, *domain = NULL;
	const char *out = NULL;
	char path[PATH_MAX], abspath[PATH_MAX];
	enum dkim_alg a;
	unsigned long bits = 2048;
	EVP_PKEY *pkey;
	struct buf txt;
	struct err err;
	char *end;
	FILE *f;
	int c, fd;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': alg = optarg; break;
		case 's': sel = optarg; break;
		case 'd': domain = optarg; break;
		case 'o': out = optarg; break;
		case 'b':
			errno = 0;
			bits = strtoul(optarg, &end, 10);
			if (errno || *end || bits < DKIM_RSA_MIN_BITS ||
			    bits > 4096)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || sel == NULL || domain == NULL ||
	    strchr(sel, '/') != NULL || strchr(domain, '/') != NULL)
		goto usage;
	if (dkim_alg_parse(str_cstr(alg), &a) == -1 || a == DKIM_ALG_RSA_SHA1) {
		fprintf(stderr, "relais dkim keygen: unknown algorithm '%s' "
		    "(rsa-sha256, ed25519-sha256)\n", alg);
		return 2;
	}
	if (out == NULL)
		snprintf(path, sizeof(path), "%s.%s.key", sel, domain);
	else
		snprintf(path, sizeof(path), "%s", out);
	if ((pkey = cli_dkim_genkey(a, (unsigned)bits)) == NULL) {
		fprintf(stderr, "relais dkim keygen: key generation failed\n");
		return 1;
	}
	/* never replace a key: it may be the one published */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "relais dkim keygen: %s: %s\n", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		EVP_PKEY_free(pkey);
		return 1;
	}
	if (PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fflush(f) == EOF || fsync(fd) == -1 || fclose(f) == EOF) {
		fprintf(stderr, "relais dkim keygen: cannot write %s\n", path);
		unlink(path);
		EVP_PKEY_free(pkey);
		return 1;
	}
	buf_init(&txt, 0);
	if (dkim_sign_txt_record(pkey, &txt, &err) == -1) {
		fprintf(stderr, "relais dkim keygen: %s\n", err.msg);
		buf_fini(&txt);
		EVP_PKEY_free(pkey);
		return 1;
	}
	if (realpath(path, abspath) == NULL)
		snprintf(abspath, sizeof(abspath), "%s", path);
	printf("%s\n", abspath);
	printf("%s._domainkey.%s. IN TXT \"%s\"\n", sel, domain,
	    buf_cstr(&txt));
	buf_fini(&txt);
	EVP_PKEY_free(pkey);
	return 0;
usage:
	fprintf(stderr, CLI_DKIM_USAGE);
	return 2;
}

int
cli_dkim(int argc, char **argv)
{
	opterr = 0;
	optind = 1;
	if (argc < 2)
		goto usage;
	/* getopt sees "sign ..." as argv[0] = "sign" */
	if (strcmp(argv[1], "sign") == 0)
		return cli_dkim_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return cli_dkim_verify(argc - 1, argv + 1);
	if (strcmp(argv[1], "keygen") == 0)
		return cli_dkim_keygen(argc - 1, argv + 1);
usage:
	fprintf(stderr, CLI_DKIM_USAGE);
	return 2;
}
