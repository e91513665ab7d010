/* SPDX-License-Identifier: ISC */
/*
 * fuzz_session.c - libFuzzer harness for whole SMTP dialogues through the
 * real server session (server/smtp_server.c) on a real worker (net/worker.c)
 * and its event loop, with the spool and the password checks faked
 * (fake_spool.c).
 *
 * Input: two option octets, then the bytes the client sends.
 *   octet 0, bits 0-2  who connects where (fuzz_session_clients[]): mx or
 *                      submission listener, TLS none/optional/required,
 *                      from loopback, a trusted or an untrusted address
 *            bit 3     the spool fails every commit
 *            bit 4     small limits (1K messages, 2 recipients, 3 errors,
 *                      2 AUTH failures, 1 message per user and day)
 *            bit 5     SIGTERM (smtp_server_shutdown) once the input is in
 *            bit 6     the client never closes (the worker frees the session)
 *            bit 7     the spool answers late: only once the session has
 *                      nothing left to do, or after the client has gone
 *   octet 1            write size: 0 sends everything at once, N > 0 sends
 *                      N octets (at least 1/64 of the input) per write,
 *                      the loop running until idle between writes, so
 *                      commands, CRLFs and BDAT chunks split anywhere
 *   the rest           the client's bytes, where FF FF HI LO X stands for
 *                      X repeated ((HI << 8) | LO) * 8 times: huge lines,
 *                      chunks and messages from small inputs (at most
 *                      FUZZ_EXPAND_MAX octets in all)
 * The session runs on a socketpair; each write is followed by loop turns
 * until nothing moves (bounded). STARTTLS switches to a real TLS accept
 * (self-signed key made at start) that the following octets feed.
 *
 * Oracles besides ASan/UBSan/LSan: every reply line is "DDD " or "DDD-"
 * (the same code through a multi-line reply), CRLF-ended, at most 512
 * octets; with a failing spool no "250 ... queued" is ever sent; every
 * submitted message has an envelope, recipients and a Received: field
 * (fake_spool.c); the session settles within a bound of loop turns.
 * FUZZ_SESSION_TRACE=1 in the environment copies the replies to stderr:
 *   FUZZ_SESSION_TRACE=1 build/fuzz/bin/fuzz_session INPUT
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"
#include "live/conf_live.h"
#include "net/tls.h"
#include "net/worker.h"
#include "policy/limits.h"
#include "server/smtp_server.h"

#include "fake_spool.h"

#define FUZZ_TURNS_MAX		20000	/* loop turns for one write */
#define FUZZ_REPLY_LINE_MAX	512	/* RFC 5321 4.5.3.1.5 */
/* past the session's 256 KiB read high-water mark (smtp_server_read_gate) */
#define FUZZ_EXPAND_MAX		(320 * 1024)

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

enum {
	FUZZ_OPT_CLIENT = 0x07,
	FUZZ_OPT_SPOOL_FAIL = 0x08,
	FUZZ_OPT_SMALL = 0x10,
	FUZZ_OPT_STOP = 0x20,
	FUZZ_OPT_NO_EOF = 0x40,
	FUZZ_OPT_LATE = 0x80,
};

static const struct {
	const char	*listener;
	const char	*ip;
} fuzz_session_clients[8] = {
	{ "mx", "192.0.2.1" },		/* the Internet */
	{ "mx", "127.0.0.1" },		/* loopback: trusted */
	{ "sub", "127.0.0.1" },		/* AUTH in plain text allowed */
	{ "sub", "2001:db8::1" },	/* AUTH needs TLS */
	{ "plain", "::1" },
	{ "subreq", "127.0.0.1" },	/* STARTTLS required */
	{ "mx", "::ffff:127.0.0.1" },
	{ "plain", "198.51.100.7" },	/* trusted network */
};

/* %1$s: the directory; %2$s: the [limits] lines */
static const char fuzz_session_conf[] =
    "[server]\n"
    "hostname = mx.fuzz.test\n"
    "data_dir = %1$s\n"
    "log_level = error\n"
    "[listener mx]\n"
    "address = 127.0.0.1:2525\n"
    "tls = optional\n"
    "[listener plain]\n"
    "address = 127.0.0.1:2526\n"
    "[listener sub]\n"
    "address = 127.0.0.1:2587\n"
    "role = submission\n"
    "tls = optional\n"
    "[listener subreq]\n"
    "address = 127.0.0.1:2588\n"
    "role = submission\n"
    "tls = required\n"
    "[local]\n"
    "domains = example.test other.test\n"
    "users = %1$s/users\n"
    "aliases = %1$s/aliases\n"
    "[relay]\n"
    "trusted_networks = 127.0.0.0/8 ::1/128 198.51.100.0/24\n"
    "[dns]\n"
    "resolver = 127.0.0.1:53\n"
    "[auth]\n"
    "allow_plaintext_loopback = yes\n"
    "sender_login_check = yes\n"
    "[dkim example.test]\n"
    "selector = fuzz\n"
    "key = %1$s/dkim.key\n"
    "algorithm = ed25519-sha256\n"
    "[limits]\n"
    "connections_per_ip_per_minute = 0\n"
    "%2$s";

static const char fuzz_session_small[] =
    "max_message_size = 1K\n"
    "max_recipients = 2\n"
    "max_errors_per_session = 3\n"
    "auth_failures_per_ip = 2\n"
    "user_daily_limit = 1\n";

static const char fuzz_session_users[] =
    "alice@example.test:{PLAIN}x:::\n"
    "bob@example.test:{PLAIN}x:::\n"
    "nopass@example.test::::\n"
    "dave@other.test:{PLAIN}x:::\n";

static const char fuzz_session_aliases[] =
    "info@example.test: alice@example.test\n"
    "team@example.test: alice@example.test, bob@example.test\n"
    "ext@example.test: someone@remote.test\n"
    "loop1@example.test: loop2@example.test\n"
    "loop2@example.test: loop1@example.test\n"
    "postmaster@other.test: alice@example.test\n"
    "@other.test: dave@other.test\n";

/* an Ed25519 key for [dkim example.test]: mail from trusted clients and
   authenticated users with From: ...@example.test is signed */
static const char fuzz_session_dkim_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIMWbPDgyKfXAl0pIIi3bN2oRwVEfw4Xy3eGj1hGlJAlO\n"
    "-----END PRIVATE KEY-----\n";

static char fuzz_dir[64];
static bool fuzz_trace;			/* FUZZ_SESSION_TRACE=1: replies
					   to stderr */
static struct conf_live fuzz_live[2];	/* normal, small limits */
static struct worker_ctx fuzz_ctx[2];
/* what the worker runs: the real sessions, no outbound agent */
static const struct worker_ops fuzz_ops = {
	.accept = smtp_server_accept,
	.session_shutdown = smtp_server_shutdown,
	.session_free = smtp_server_free,
};
static struct worker fuzz_w;
static struct listen_sock fuzz_socks[8];

/* what one input's client saw */
struct fuzz_client {
	int		 fd;
	char		 line[FUZZ_REPLY_LINE_MAX + 1];
	size_t		 len;
	char		 code[4];	/* of the reply in progress, or "" */
	bool		 tls;		/* past "220 ... Ready to start TLS" */
	bool		 spool_fails;
};

static void	fuzz_session_setup(void);

static void
fuzz_session_write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fuzz_dir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF ||
	    fclose(f) == EOF) {
		perror(path);
		abort();
	}
	chmod(path, 0600);
}

static int
fuzz_session_rm(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	return remove(path);
}

static void
fuzz_session_cleanup(void)
{
	if (fuzz_dir[0] != '\0')
		nftw(fuzz_dir, fuzz_session_rm, 8, FTW_DEPTH | FTW_PHYS);
}

static void
fuzz_session_live(struct conf_live *live, const char *limits)
{
	char text[sizeof(fuzz_session_conf) + 512];
	struct conf *conf;
	struct err err;

	snprintf(text, sizeof(text), fuzz_session_conf, fuzz_dir, limits);
	if (conf_load_string("fuzz.conf", text, strlen(text), &conf,
	    &err) == -1 || (live->cur = conf_snap_load(conf, &err)) == NULL) {
		fprintf(stderr, "fuzz_session: config: %s\n", err.msg);
		abort();
	}
	pthread_mutex_init(&live->lock, NULL);
	live->path = NULL;
}

/* fuzz_session_setup - config, users, aliases, TLS and DKIM keys in a
   private directory; one worker without listening sockets */
static void
fuzz_session_setup(void)
{
	snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/relais-fuzz-XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	atexit(fuzz_session_cleanup);
	signal(SIGPIPE, SIG_IGN);
	fuzz_trace = getenv("FUZZ_SESSION_TRACE") != NULL;
	log_set_level(LOG_LEVEL_ERROR);
	fuzz_session_write_file("users", fuzz_session_users);
	fuzz_session_write_file("aliases", fuzz_session_aliases);
	fuzz_session_write_file("dkim.key", fuzz_session_dkim_key);
	tls_server_set_generate(true);	/* self-signed, in fuzz_dir/tls */
	limits_init();
	fake_spool_setup(fuzz_dir);
	fuzz_session_live(&fuzz_live[0], "");
	fuzz_session_live(&fuzz_live[1], fuzz_session_small);
	for (int i = 0; i < 2; i++) {
		fuzz_ctx[i].ops = &fuzz_ops;
		fuzz_ctx[i].live = &fuzz_live[i];
		fuzz_ctx[i].body_dir = fuzz_dir;
	}
	if (worker_init(&fuzz_w, 0, &fuzz_ctx[0], NULL, 0) == -1)
		abort();
	for (size_t i = 0; i < 8; i++) {
		fuzz_socks[i].fd = -1;
		fuzz_socks[i].worker = &fuzz_w;
		fuzz_socks[i].listener = (char *)fuzz_session_clients[i].listener;
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_session_setup();
	return 0;
}

/* fuzz_session_fail - a broken promise: report and stop */
static void
fuzz_session_fail(const char *what, const char *line)
{
	fprintf(stderr, "fuzz_session: %s: \"%s\"\n", what, line);
	abort();
}

/* fuzz_session_reply_line - one complete reply line, CRLF removed */
static void
fuzz_session_reply_line(struct fuzz_client *c, char *line, size_t len)
{
	line[len] = '\0';
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '9' || line[2] < '0' || line[2] > '9' ||
	    (len > 3 && line[3] != ' ' && line[3] != '-'))
		fuzz_session_fail("not a reply line", line);
	if (memchr(line, '\r', len) != NULL || memchr(line, '\n', len) != NULL)
		fuzz_session_fail("bare CR or LF in a reply", line);
	if (c->code[0] != '\0' && memcmp(c->code, line, 3) != 0)
		fuzz_session_fail("code changes inside a reply", line);
	if (c->spool_fails && strncmp(line, "250", 3) == 0 &&
	    strstr(line, "queued") != NULL)
		fuzz_session_fail("250 for a message the spool refused", line);
	if (len > 3 && line[3] == '-') {
		memcpy(c->code, line, 3);
		c->code[3] = '\0';
	} else {
		c->code[0] = '\0';
	}
	if (strncmp(line, "220 2.0.0 Ready to start TLS", 28) == 0)
		c->tls = true;	/* what follows is TLS records */
}

/* fuzz_session_read - take and check what the server sent; returns the
   number of octets read */
static size_t
fuzz_session_read(struct fuzz_client *c)
{
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	while ((n = read(c->fd, buf, sizeof(buf))) > 0) {
		total += (size_t)n;
		if (fuzz_trace)
			fwrite(buf, 1, (size_t)n, stderr);
		for (ssize_t i = 0; i < n && !c->tls; i++) {
			if (c->len >= FUZZ_REPLY_LINE_MAX)
				fuzz_session_fail("reply line too long",
				    c->line);
			c->line[c->len++] = buf[i];
			if (c->len >= 2 && c->line[c->len - 2] == '\r' &&
			    c->line[c->len - 1] == '\n') {
				fuzz_session_reply_line(c, c->line, c->len - 2);
				c->len = 0;
			}
		}
	}
	return total;
}

/* fuzz_session_pump - run the loop until nothing moves: no reply octet,
   no change in what the server has not read yet, no answer waiting */
static void
fuzz_session_pump(struct fuzz_client *c)
{
	int idle = 0, outq = 0, last = -1;

	for (unsigned turn = 0; idle < 2; turn++) {
		bool moved;

		if (turn == FUZZ_TURNS_MAX)
			fuzz_session_fail("the session does not settle", "");
		event_base_loop(fuzz_w.base, EVLOOP_NONBLOCK);
		moved = fuzz_session_read(c) > 0;
		if (ioctl(c->fd, SIOCOUTQ, &outq) == -1)
			outq = 0;
		moved |= outq != last;
		last = outq;
		moved |= fuzz_w.inbox != NULL;
		idle = moved ? 0 : idle + 1;
	}
}

/* fuzz_session_ids - the worker's sessions, collected first: acting on
   one may free it */
static size_t
fuzz_session_ids(uint64_t *ids, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < fuzz_w.sessions.cap && n < max; i++) {
		uint64_t id = fuzz_w.sessions.slots[i].id;

		if (id != 0 && id != UINT64_MAX)
			ids[n++] = id;
	}
	return n;
}

static void
fuzz_session_stop_all(bool now)
{
	uint64_t ids[4];
	size_t n = fuzz_session_ids(ids, 4);

	for (size_t i = 0; i < n; i++) {
		struct smtp_session *s = idmap_get(&fuzz_w.sessions, ids[i]);

		if (s == NULL)
			continue;
		if (now)
			smtp_server_free(s);
		else
			smtp_server_shutdown(s);
	}
}

/* fuzz_session_expand - the client's bytes, FF FF HI LO X runs expanded;
   returns a buffer to free and its length in *len_out */
static uint8_t *
fuzz_session_expand(const uint8_t *in, size_t n, size_t *len_out)
{
	size_t cap = n, len = 0;
	uint8_t *out = malloc(cap ? cap : 1);

	for (size_t i = 0; i < n; ) {
		size_t run = 1;
		uint8_t c = in[i];

		if (n - i >= 5 && in[i] == 0xff && in[i + 1] == 0xff) {
			run = (((size_t)in[i + 2] << 8) | in[i + 3]) * 8;
			c = in[i + 4];
			i += 5;
			if (run > FUZZ_EXPAND_MAX - len)
				run = FUZZ_EXPAND_MAX - len;
		} else {
			i++;
			if (len == FUZZ_EXPAND_MAX)
				run = 0;
		}
		if (len + run > cap) {
			cap = len + run > cap * 2 ? len + run : cap * 2;
			out = realloc(out, cap);
			if (out == NULL)
				abort();
		}
		memset(out + len, c, run);
		len += run;
	}
	*len_out = len;
	return out;
}

/* fuzz_session_accept - a connection from the client octet 0 names */
static int
fuzz_session_accept(unsigned client, int *client_fd)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	const char *ip = fuzz_session_clients[client].ip;
	int fds[2];

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(40000);
	} else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(40000);
	} else {
		abort();
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    fds) == -1)
		return -1;
	*client_fd = fds[1];
	smtp_server_accept(&fuzz_w, fds[0], (struct sockaddr *)&ss,
	    &fuzz_socks[client]);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_client c;
	unsigned opt, client;
	size_t step, off = 0;
	uint8_t *in;

	if (size < 2)
		return 0;
	opt = data[0];
	client = opt & FUZZ_OPT_CLIENT;
	step = data[1];
	in = fuzz_session_expand(data + 2, size - 2, &size);
	data = in;
	if (step == 0 || step > size)
		step = size ? size : 1;
	else if (step < size / 64)
		step = size / 64;

	memset(&c, 0, sizeof(c));
	c.spool_fails = (opt & FUZZ_OPT_SPOOL_FAIL) != 0;
	fake_spool_mode(c.spool_fails, (opt & FUZZ_OPT_LATE) != 0);
	fuzz_w.ctx = &fuzz_ctx[(opt & FUZZ_OPT_SMALL) ? 1 : 0];
	if (fuzz_session_accept(client, &c.fd) == -1) {
		free(in);
		return 0;
	}
	fuzz_session_pump(&c);

	while (off < size && fuzz_w.sessions.len > 0) {
		size_t n = size - off < step ? size - off : step;
		ssize_t w = write(c.fd, data + off, n);

		if (w > 0)
			off += (size_t)w;
		else if (w == -1 && errno != EAGAIN)
			break;		/* the server has closed */
		fuzz_session_pump(&c);
		/* a late spool answers once the session would wait forever */
		if (w <= 0 && fake_spool_release() == 0)
			break;		/* the server reads no more */
		if (w <= 0)
			fuzz_session_pump(&c);
	}
	fuzz_session_pump(&c);
	/* a client that stays: late answers come now, one commit after the
	   other (each answer lets the next pipelined message through) */
	if (opt & FUZZ_OPT_NO_EOF)
		while (fake_spool_release() > 0)
			fuzz_session_pump(&c);
	if (opt & FUZZ_OPT_STOP) {
		fuzz_session_stop_all(false);
		fuzz_session_pump(&c);
		while (fake_spool_release() > 0)
			fuzz_session_pump(&c);
	}
	if (!(opt & FUZZ_OPT_NO_EOF)) {
		shutdown(c.fd, SHUT_WR);
		fuzz_session_pump(&c);
	}
	/* what is left goes as at the end of worker_fini; answers still
	   held land for sessions that are gone */
	fuzz_session_stop_all(true);
	fake_spool_release();
	fuzz_session_pump(&c);
	close(c.fd);
	free(in);
	/* the limits tables keep entries per address: drop them now, so
	   that what one input allocates it also frees (libFuzzer runs an
	   input again, to look for a leak, when the counts differ) */
	limits_reset();
	return 0;
}
