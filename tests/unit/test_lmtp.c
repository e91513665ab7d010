/* SPDX-License-Identifier: ISC */
/*
 * test_lmtp.c - the LMTP delivery agent (deliver/deliver_lmtp.c) and its
 * [local] keys: the pure parts (LMTP addresses, LHLO keywords, MAIL
 * parameters, dot-stuffing, reply to outcome), then whole transactions
 * against a scripted LMTP server on a unix socket in a temporary
 * directory: per-recipient replies, a connection lost half-way, reuse
 * with RSET, a server that closed an idle connection, no PIPELINING,
 * SIZE and SMTPUTF8 limits, a server that cannot be reached, another
 * server after a reload, and a stop while the server says nothing.
 *
 * The scripted server decides by the recipient's local part: ok* gets 250
 * at RCPT and after the data, unknown* 550 5.1.1 at RCPT, busy* 451 at
 * RCPT, full* 452 4.2.2 after the data, reject* 554 5.6.0 after the data,
 * drop* has the connection closed instead of its reply after the data,
 * hang* has the server say nothing more. A sender refuse@... gets 550 at
 * MAIL.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/xalloc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_lmtp.h"

/* --- pure parts --------------------------------------------------------- */

static void
test_parse_lmtp(void **state)
{
	struct conf_lmtp a;
	struct err err;
	char longpath[200];

	(void)state;
	assert_int_equal(conf_parse_lmtp("unix:/run/dovecot/lmtp", &a, &err),
	    0);
	assert_true(a.unix_socket);
	assert_string_equal(a.path, "/run/dovecot/lmtp");
	assert_string_equal(a.text, "/run/dovecot/lmtp");

	assert_int_equal(conf_parse_lmtp("127.0.0.1:24", &a, &err), 0);
	assert_false(a.unix_socket);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 24);
	assert_string_equal(a.text, "127.0.0.1:24");

	assert_int_equal(conf_parse_lmtp("mail.example.com:2424", &a, &err),
	    0);
	assert_string_equal(a.host, "mail.example.com");
	assert_int_equal(a.port, 2424);

	assert_int_equal(conf_parse_lmtp("[::1]:24", &a, &err), 0);
	assert_string_equal(a.host, "::1");
	assert_string_equal(a.text, "[::1]:24");

	assert_int_equal(conf_parse_lmtp("unix:run/lmtp", &a, &err), -1);
	assert_string_equal(err.msg, "'unix:run/lmtp' is not an absolute"
	    " path");
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "unix:/", 6);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(conf_parse_lmtp(longpath, &a, &err), -1);
	assert_non_null(strstr(err.msg, "longer than 107 bytes"));
	assert_int_equal(conf_parse_lmtp("localhost", &a, &err), -1);
	assert_string_equal(err.msg, "bad LMTP address 'localhost'"
	    " (unix:/path or host:port)");
	assert_int_equal(conf_parse_lmtp("localhost:0", &a, &err), -1);
	assert_string_equal(err.msg, "bad port in 'localhost:0' (1-65535)");
	assert_int_equal(conf_parse_lmtp("localhost:65536", &a, &err), -1);
	assert_int_equal(conf_parse_lmtp("localhost:24x", &a, &err), -1);
	assert_int_equal(conf_parse_lmtp(":24", &a, &err), -1);
	assert_int_equal(conf_parse_lmtp("bad_host:24", &a, &err), -1);
	assert_non_null(strstr(err.msg, "bad host"));
	assert_int_equal(conf_parse_lmtp("[not-v6]:24", &a, &err), -1);
	assert_int_equal(conf_parse_lmtp("[::1]24", &a, &err), -1);
}

#define CONF_HEAD "[listener mx]\naddress = 127.0.0.1:2525\n" \
	"[local]\ndomains = example.test\n"

static void
test_conf_keys(void **state)
{
	static const char deflt[] = CONF_HEAD;
	static const char lmtp[] = CONF_HEAD "transport = lmtp\n"
	    "lmtp = 127.0.0.1:24\n";
	static const char missing[] = CONF_HEAD "transport = lmtp\n";
	static const char bad[] = CONF_HEAD "lmtp = nowhere\n";
	static const char kind[] = CONF_HEAD "transport = pigeon\n";
	struct conf *conf;
	struct err err;

	(void)state;
	assert_int_equal(conf_load_string("t", deflt, sizeof(deflt) - 1, &conf,
	    &err), 0);
	assert_int_equal(conf->local.transport, CONF_LOCAL_MAILDIR);
	assert_null(conf->local.lmtp);
	conf_unref(conf);

	assert_int_equal(conf_load_string("t", lmtp, sizeof(lmtp) - 1, &conf,
	    &err), 0);
	assert_int_equal(conf->local.transport, CONF_LOCAL_LMTP);
	assert_string_equal(conf->local.lmtp, "127.0.0.1:24");
	assert_int_equal(conf->local.lmtp_addr.port, 24);
	conf_unref(conf);

	assert_int_equal(conf_load_string("t", missing, sizeof(missing) - 1,
	    &conf, &err), -1);
	assert_string_equal(err.msg, "t:5: [local]: transport = lmtp needs"
	    " 'lmtp' (unix:/path or host:port)");
	assert_int_equal(conf_load_string("t", bad, sizeof(bad) - 1, &conf,
	    &err), -1);
	assert_string_equal(err.msg, "t:5: lmtp: bad LMTP address 'nowhere'"
	    " (unix:/path or host:port)");
	assert_int_equal(conf_load_string("t", kind, sizeof(kind) - 1, &conf,
	    &err), -1);
	assert_non_null(strstr(err.msg, "t:5: transport:"));
}

/* a reply from its lines */
static void
reply_of(struct smtp_reply *r, const char *const *lines)
{
	smtp_reply_init(r);
	for (size_t i = 0; lines[i] != NULL; i++)
		(void)smtp_reply_line(r, str_cstr(lines[i]));
}

static void
test_parse_ext(void **state)
{
	static const char *const dovecot[] = { "250-vm", "250-8BITMIME",
	    "250-CHUNKING", "250-ENHANCEDSTATUSCODES", "250 PIPELINING",
	    NULL };
	static const char *const all[] = { "250-lmtp.example", "250-size 5000",
	    "250-smtputf8", "250 8bitmime", NULL };
	static const char *const none[] = { "250 lmtp.example", NULL };
	static const char *const sizeword[] = { "250-x", "250-SIZES 9",
	    "250 SIZE", NULL };
	struct smtp_reply r;
	uint64_t size = 1;

	(void)state;
	reply_of(&r, dovecot);
	assert_int_equal(lmtp_parse_ext(&r, &size),
	    LMTP_EXT_8BITMIME | LMTP_EXT_PIPELINING);
	assert_int_equal(size, 0);
	reply_of(&r, all);
	assert_int_equal(lmtp_parse_ext(&r, &size), LMTP_EXT_SIZE |
	    LMTP_EXT_SMTPUTF8 | LMTP_EXT_8BITMIME);
	assert_int_equal(size, 5000);
	reply_of(&r, none);
	assert_int_equal(lmtp_parse_ext(&r, &size), 0);
	reply_of(&r, sizeword);
	assert_int_equal(lmtp_parse_ext(&r, &size), LMTP_EXT_SIZE);
	assert_int_equal(size, 0);
}

/* a job from sender to the NULL-terminated recipients, body text */
static struct deliver_job *
job_new(const char *sender, const char *const *rcpts, const char *body)
{
	struct deliver_job *job = xcalloc(1, sizeof(*job));

	job->msg_id = 7;
	snprintf(job->qid, sizeof(job->qid), "1def00000000000a");
	job->sender = xstrdup(sender);
	job->transport = SPOOL_TRANSPORT_LOCAL;
	job->arrival = 1700000000;
	for (size_t i = 0; rcpts[i] != NULL; i++)
		deliver_job_add_rcpt(job, i + 1, rcpts[i], rcpts[i], NULL, 0, 0);
	job->body.data = xstrdup(body);
	job->body.len = strlen(body);
	job->size = job->body.len;
	return job;
}

static void
test_mail_params(void **state)
{
	static const char *const rc[] = { "a@example.test", NULL };
	struct deliver_job *job = job_new("s@example.org", rc, "0123456789");
	char p[100];

	(void)state;
	lmtp_mail_params(job, 0, p, sizeof(p));
	assert_string_equal(p, "");
	lmtp_mail_params(job, LMTP_EXT_SIZE | LMTP_EXT_8BITMIME |
	    LMTP_EXT_SMTPUTF8, p, sizeof(p));
	assert_string_equal(p, " SIZE=10");	/* 7-bit, ASCII */
	job->body8 = true;
	job->smtputf8 = true;
	lmtp_mail_params(job, LMTP_EXT_SIZE | LMTP_EXT_8BITMIME |
	    LMTP_EXT_SMTPUTF8, p, sizeof(p));
	assert_string_equal(p, " SIZE=10 BODY=8BITMIME SMTPUTF8");
	lmtp_mail_params(job, LMTP_EXT_PIPELINING, p, sizeof(p));
	assert_string_equal(p, "");	/* not offered: not sent */
	deliver_job_free(job);
}

static int
collect(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n);
}

static int
refuse(void *arg, const char *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return -1;
}

static void
test_stuff(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "a\r\nb\r\n", "a\r\nb\r\n.\r\n" },
		{ ".a\r\n", "..a\r\n.\r\n" },
		{ "a\r\n.\r\n..b\r\n.", "a\r\n..\r\n...b\r\n..\r\n.\r\n" },
		{ "no end", "no end\r\n.\r\n" },
		{ "half\r", "half\r\r\n.\r\n" },
		{ "", ".\r\n" },
		{ "a.b\r\n x.\r\n", "a.b\r\n x.\r\n.\r\n" },
	};
	struct buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&b, 0);
		assert_int_equal(lmtp_stuff(cases[i].in, strlen(cases[i].in),
		    collect, &b), 0);
		assert_string_equal(buf_cstr(&b), cases[i].out);
		buf_fini(&b);
	}
	assert_int_equal(lmtp_stuff("x\r\n", 3, refuse, NULL), -1);
}

static void
test_result(void **state)
{
	static const char *const ok[] = { "250 2.0.0 <a@b> abc Saved", NULL };
	static const char *const full[] = { "452-4.2.2 Mailbox full",
	    "452 4.2.2 really", NULL };
	static const char *const gone[] = { "550 no such user", NULL };
	static const char *const plain[] = { "250 ok", NULL };
	struct spool_result res;
	struct smtp_reply r;

	(void)state;
	memset(&res, 0, sizeof(res));
	reply_of(&r, ok);
	lmtp_result(&res, &r, "lmtp:/s");
	assert_int_equal(res.outcome, SPOOL_OUTCOME_DELIVERED);
	assert_string_equal(res.status, "2.0.0");
	assert_string_equal(res.reply, "250 2.0.0 <a@b> abc Saved");
	assert_string_equal(res.relay, "lmtp:/s");
	reply_of(&r, full);
	lmtp_result(&res, &r, "lmtp:/s");
	assert_int_equal(res.outcome, SPOOL_OUTCOME_DEFERRED);
	assert_string_equal(res.status, "4.2.2");
	assert_string_equal(res.reply, "452 4.2.2 Mailbox full");
	reply_of(&r, gone);
	lmtp_result(&res, &r, "lmtp:/s");
	assert_int_equal(res.outcome, SPOOL_OUTCOME_BOUNCED);
	assert_string_equal(res.status, "5.0.0");
	reply_of(&r, plain);
	lmtp_result(&res, &r, "lmtp:/s");
	assert_string_equal(res.status, "2.0.0");
	assert_true(lmtp_has_8bit("jürgen@example.test"));
	assert_false(lmtp_has_8bit("juergen@example.test"));
}

/* --- a scripted LMTP server ------------------------------------------- */

struct fake {
	char		 dir[64];
	char		 path[108];
	int		 lfd;
	pthread_t	 thread;
	atomic_bool	 stop;
	/* behaviour */
	const char	*lhlo;		/* the LHLO reply, CRLF lines */
	bool		 close_after;	/* close after each transaction */
	/* what it saw, under lock */
	pthread_mutex_t	 lock;
	struct buf	 log;		/* commands, one a line; "+" for a
					   connection */
	struct buf	 data;		/* the last message, as received */
	int		 conns;
};

#define LHLO_ALL "250-fake.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250 SIZE 100000\r\n"

struct fake_conn {
	int	 fd;
	char	 in[4096];
	size_t	 len;
};

static void
fake_say(struct fake_conn *fc, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = send(fc->fd, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* fake_line - the next line (CRLF kept) into out; false at the end */
static bool
fake_line(struct fake *f, struct fake_conn *fc, char *out, size_t outlen)
{
	for (;;) {
		char *nl = memchr(fc->in, '\n', fc->len);
		struct pollfd pfd = { .fd = fc->fd, .events = POLLIN };
		ssize_t r;

		if (nl != NULL) {
			size_t n = (size_t)(nl - fc->in) + 1;

			if (n >= outlen)
				return false;
			memcpy(out, fc->in, n);
			out[n] = '\0';
			fc->len -= n;
			memmove(fc->in, nl + 1, fc->len);
			return true;
		}
		if (fc->len == sizeof(fc->in))
			return false;
		if (poll(&pfd, 1, 100) == 0) {
			if (atomic_load(&f->stop))
				return false;
			continue;
		}
		if ((r = recv(fc->fd, fc->in + fc->len, sizeof(fc->in) -
		    fc->len, 0)) <= 0)
			return false;
		fc->len += (size_t)r;
	}
}

static void
fake_log(struct fake *f, const char *line)
{
	size_t n = strcspn(line, "\r\n");

	pthread_mutex_lock(&f->lock);
	buf_append(&f->log, line, n);
	buf_append(&f->log, "\n", 1);
	pthread_mutex_unlock(&f->lock);
}

/* fake_session - one connection; false when the server should stop */
static void
fake_session(struct fake *f, int fd)
{
	struct fake_conn fc = { .fd = fd };
	char line[2048], rcpts[16][128], reply[300];
	size_t nrcpts = 0;

	fake_say(&fc, "220 fake.test LMTP\r\n");
	while (fake_line(f, &fc, line, sizeof(line))) {
		fake_log(f, line);
		if (strncmp(line, "LHLO ", 5) == 0) {
			fake_say(&fc, f->lhlo);
		} else if (strncmp(line, "MAIL FROM:", 10) == 0) {
			nrcpts = 0;
			fake_say(&fc, strncmp(line + 10, "<refuse@", 8) == 0 ?
			    "550 5.7.1 not from you\r\n" : "250 2.1.0 OK\r\n");
		} else if (strncmp(line, "RCPT TO:<", 9) == 0) {
			const char *a = line + 9;

			if (strncmp(a, "unknown", 7) == 0) {
				fake_say(&fc, "550 5.1.1 no such user\r\n");
			} else if (strncmp(a, "busy", 4) == 0) {
				fake_say(&fc, "451 4.3.0 try later\r\n");
			} else {
				if (nrcpts < 16) {
					snprintf(rcpts[nrcpts], sizeof(rcpts[0]),
					    "%.*s", (int)strcspn(a, ">"), a);
					nrcpts++;
				}
				fake_say(&fc, "250 2.1.5 OK\r\n");
			}
		} else if (strcmp(line, "DATA\r\n") == 0) {
			if (nrcpts == 0) {
				fake_say(&fc, "503 5.5.1 no valid"
				    " recipients\r\n");
				continue;
			}
			fake_say(&fc, "354 go\r\n");
			pthread_mutex_lock(&f->lock);
			buf_reset(&f->data);
			pthread_mutex_unlock(&f->lock);
			while (fake_line(f, &fc, line, sizeof(line)) &&
			    strcmp(line, ".\r\n") != 0) {
				pthread_mutex_lock(&f->lock);
				buf_puts(&f->data, line);
				pthread_mutex_unlock(&f->lock);
			}
			for (size_t i = 0; i < nrcpts; i++) {
				const char *a = rcpts[i];

				if (strncmp(a, "drop", 4) == 0)
					return;
				if (strncmp(a, "hang", 4) == 0) {
					while (fake_line(f, &fc, line,
					    sizeof(line)))
						;
					return;
				}
				snprintf(reply, sizeof(reply), "%s <%s> %s\r\n",
				    strncmp(a, "full", 4) == 0 ?
				    "452 4.2.2" : strncmp(a, "reject", 6) == 0 ?
				    "554 5.6.0" : "250 2.0.0", a,
				    strncmp(a, "full", 4) == 0 ? "Mailbox full" :
				    strncmp(a, "reject", 6) == 0 ? "refused" :
				    "Saved");
				fake_say(&fc, reply);
			}
			if (f->close_after)
				return;
		} else if (strcmp(line, "RSET\r\n") == 0) {
			nrcpts = 0;
			fake_say(&fc, "250 2.0.0 OK\r\n");
		} else if (strcmp(line, "QUIT\r\n") == 0) {
			fake_say(&fc, "221 2.0.0 bye\r\n");
			return;
		} else {
			fake_say(&fc, "500 5.5.1 unknown command\r\n");
		}
	}
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;

	while (!atomic_load(&f->stop)) {
		struct pollfd pfd = { .fd = f->lfd, .events = POLLIN };
		int fd;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((fd = accept(f->lfd, NULL, NULL)) == -1)
			continue;
		pthread_mutex_lock(&f->lock);
		f->conns++;
		buf_puts(&f->log, "+\n");
		pthread_mutex_unlock(&f->lock);
		fake_session(f, fd);
		close(fd);
	}
	return NULL;
}

static struct fake *
fake_start(const char *lhlo, bool close_after)
{
	struct fake *f = xcalloc(1, sizeof(*f));
	struct sockaddr_un sun;

	snprintf(f->dir, sizeof(f->dir), "/tmp/relais-lmtp-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/lmtp", f->dir);
	f->lhlo = lhlo;
	f->close_after = close_after;
	pthread_mutex_init(&f->lock, NULL);
	buf_init(&f->log, 0);
	buf_init(&f->data, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd != -1);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	assert_int_equal(listen(f->lfd, 8), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	return f;
}

static void
fake_stop(struct fake *f)
{
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	buf_fini(&f->log);
	buf_fini(&f->data);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* fake_seen - a copy of what the server logged so far */
static char *
fake_seen(struct fake *f)
{
	char *s;

	pthread_mutex_lock(&f->lock);
	s = xstrdup(buf_cstr(&f->log));
	pthread_mutex_unlock(&f->lock);
	return s;
}

/* fake_wait - until the server logged needle (bounded: 5 s) */
static void
fake_wait(struct fake *f, const char *needle)
{
	for (int i = 0; i < 500; i++) {
		char *s = fake_seen(f);
		bool found = strstr(s, needle) != NULL;

		free(s);
		if (found)
			return;
		usleep(10000);
	}
	fail_msg("the server never saw '%s'", needle);
}

static struct conf *
conf_for(const char *target)
{
	char text[512];
	struct conf *conf;
	struct err err;
	int n;

	n = snprintf(text, sizeof(text), "[server]\nhostname = relais.test\n"
	    CONF_HEAD "transport = lmtp\nlmtp = %s\n", target);
	if (conf_load_string("t", text, (size_t)n, &conf, &err) == -1)
		fail_msg("%s", err.msg);
	return conf;
}

static struct conf *
conf_unix(const struct fake *f)
{
	char target[128];

	snprintf(target, sizeof(target), "unix:%s", f->path);
	return conf_for(target);
}

/* run - deliver job through c, results into a new array */
static struct spool_result *
run(struct lmtp_client *c, const struct conf *conf,
    const struct deliver_job *job)
{
	struct spool_result *res = xcalloc(job->nrcpts, sizeof(*res));

	for (size_t i = 0; i < job->nrcpts; i++)
		deliver_result_init(&res[i], job, i);
	lmtp_deliver(c, conf, job, res);
	return res;
}

static void
expect(const struct spool_result *res, enum spool_outcome outcome,
    const char *status, const char *reply_start)
{
	if (res->outcome != outcome || strcmp(res->status, status) != 0 ||
	    strncmp(res->reply, reply_start, strlen(reply_start)) != 0)
		fail_msg("%s: got %d %s \"%s\", want %d %s \"%s...\"",
		    res->addr, res->outcome, res->status, res->reply, outcome,
		    status, reply_start);
}

static void
test_deliver_outcomes(void **state)
{
	static const char *const rc[] = { "ok1@example.test",
	    "unknown@example.test", "full@example.test",
	    "reject@example.test", "busy@example.test", "ok2@example.test",
	    NULL };
	struct fake *f = fake_start(LHLO_ALL, false);
	struct conf *conf = conf_unix(f);
	struct lmtp_client *c = lmtp_client_new(NULL);
	struct deliver_job *job = job_new("s@example.org", rc,
	    "Subject: x\r\n\r\n.dot\r\nline\r\n..two\r\n");
	struct spool_result *res;
	char relay[128], *seen;

	(void)state;
	job->body8 = true;
	res = run(c, conf, job);
	snprintf(relay, sizeof(relay), "lmtp:%s", f->path);
	expect(&res[0], SPOOL_OUTCOME_DELIVERED, "2.0.0",
	    "250 2.0.0 <ok1@example.test> Saved");
	expect(&res[1], SPOOL_OUTCOME_BOUNCED, "5.1.1",
	    "550 5.1.1 no such user");
	expect(&res[2], SPOOL_OUTCOME_DEFERRED, "4.2.2",
	    "452 4.2.2 <full@example.test> Mailbox full");
	expect(&res[3], SPOOL_OUTCOME_BOUNCED, "5.6.0",
	    "554 5.6.0 <reject@example.test> refused");
	expect(&res[4], SPOOL_OUTCOME_DEFERRED, "4.3.0",
	    "451 4.3.0 try later");
	expect(&res[5], SPOOL_OUTCOME_DELIVERED, "2.0.0",
	    "250 2.0.0 <ok2@example.test> Saved");
	for (size_t i = 0; i < job->nrcpts; i++)
		assert_string_equal(res[i].relay, relay);
	seen = fake_seen(f);
	assert_string_equal(seen, "+\nLHLO relais.test\n"
	    "MAIL FROM:<s@example.org> SIZE=33 BODY=8BITMIME\n"
	    "RCPT TO:<ok1@example.test>\nRCPT TO:<unknown@example.test>\n"
	    "RCPT TO:<full@example.test>\nRCPT TO:<reject@example.test>\n"
	    "RCPT TO:<busy@example.test>\nRCPT TO:<ok2@example.test>\n"
	    "DATA\n");
	free(seen);
	pthread_mutex_lock(&f->lock);
	assert_string_equal(buf_cstr(&f->data),
	    "Subject: x\r\n\r\n..dot\r\nline\r\n...two\r\n");
	pthread_mutex_unlock(&f->lock);
	/* the connection stays, for a while */
	assert_true(lmtp_client_idle_ms(c) > 0);
	assert_true(lmtp_client_idle_ms(c) <= LMTP_IDLE_MS);
	free(res);
	deliver_job_free(job);
	lmtp_client_free(c);
	fake_wait(f, "QUIT\n");
	conf_unref(conf);
	fake_stop(f);
}

static void
test_deliver_reuse(void **state)
{
	static const char *const rc1[] = { "ok1@example.test", NULL };
	static const char *const rc2[] = { "ok2@example.test",
	    "ok3@example.test", NULL };
	struct fake *f = fake_start(LHLO_ALL, false);
	struct conf *conf = conf_unix(f);
	struct lmtp_client *c = lmtp_client_new(NULL);
	struct deliver_job *j1 = job_new("a@example.org", rc1, "x\r\n");
	struct deliver_job *j2 = job_new("", rc2, "y\r\n");
	struct spool_result *r1, *r2;
	char *seen;

	(void)state;
	r1 = run(c, conf, j1);
	r2 = run(c, conf, j2);
	expect(&r1[0], SPOOL_OUTCOME_DELIVERED, "2.0.0", "250 ");
	expect(&r2[0], SPOOL_OUTCOME_DELIVERED, "2.0.0", "250 ");
	expect(&r2[1], SPOOL_OUTCOME_DELIVERED, "2.0.0", "250 ");
	lmtp_client_close(c);
	assert_int_equal(lmtp_client_idle_ms(c), -1);
	fake_wait(f, "QUIT\n");
	seen = fake_seen(f);
	/* one connection, one LHLO, RSET between the transactions */
	assert_string_equal(seen, "+\nLHLO relais.test\n"
	    "MAIL FROM:<a@example.org> SIZE=3\nRCPT TO:<ok1@example.test>\n"
	    "DATA\nRSET\nMAIL FROM:<> SIZE=3\nRCPT TO:<ok2@example.test>\n"
	    "RCPT TO:<ok3@example.test>\nDATA\nQUIT\n");
	free(seen);
	free(r1);
	free(r2);
	deliver_job_free(j1);
	deliver_job_free(j2);
	lmtp_client_free(c);
	conf_unref(conf);
	fake_stop(f);
}

static void
test_deliver_lost(void **state)
{
	static const char *const rc[] = { "ok1@example.test",
	    "drop@example.test", "ok2@example.test", NULL };
	static const char *const rc2[] = { "ok3@example.test", NULL };
	struct fake *f = fake_start(LHLO_ALL, false);
	struct conf *conf = conf_unix(f);
	struct lmtp_client *c = lmtp_client_new(NULL);
	struct deliver_job *job = job_new("s@example.org", rc, "x\r\n");
	struct deliver_job *j2 = job_new("s@example.org", rc2, "x\r\n");
	struct spool_result *res, *r2;
	char want[256];

	(void)state;
	res = run(c, conf, job);
	expect(&res[0], SPOOL_OUTCOME_DELIVERED, "2.0.0", "250 ");
	snprintf(want, sizeof(want), "lost connection with lmtp:%s after the"
	    " end of data: connection closed by the server", f->path);
	expect(&res[1], SPOOL_OUTCOME_DEFERRED, "4.4.2", want);
	expect(&res[2], SPOOL_OUTCOME_DEFERRED, "4.4.2", want);
	assert_int_equal(lmtp_client_idle_ms(c), -1);	/* dropped */
	/* the next job takes a new connection */
	r2 = run(c, conf, j2);
	expect(&r2[0], SPOOL_OUTCOME_DELIVERED, "2.0.0", "250 ");
	assert_int_equal(f->conns, 2);
	free(res);
	free(r2);
	deliver_job_free(job);
	deliver_job_free(j2);
	lmtp_client_free(c);
	conf_unref(conf);
	fake_stop(f);
}

/* the server closed the connection while it was idle: the RSET before
   the next transaction finds out, and a new connection takes the job */
static void
test_deliver_server_closed_idle(void **state)
{
	static const char *const rc[] = { "ok1@example.test", NULL };
	struct fake *f = fake_start(LHLO_ALL, true);
	struct conf *conf = conf_unix(f);
	struct lmtp_client *c = lmtp_client_new(NULL);
	struct deliver_job *job = job_new("s@example.org", rc, "x\r\n");
	struct spool_result *r1, *r2;
	char *seen;

	(void)state;
	r1 = run(c, conf, job);
	expect(&r1[0], SPOOL_OUTCOME_DELIVERED, "2.0.0", "250 ");
	fake_wait(f, "DATA\n");
	r2 = run(c, conf, job);
	expect(&r2[0], SPOOL_OUTCOME_DELIVERED, "2.0.0", "250 ");
	assert_int_equal(f->conns, 2);
	seen = fake_seen(f);
	assert_non_null(strstr(seen, "DATA\n+\nLHLO"));
	free(seen);
	free(r1);
	free(r2);
	deliver_job_free(job);
	lmtp_client_free(c);
	conf_unref(conf);
	fake_stop(f);
}

static void
test_deliver_lockstep(void **state)
{
	static const char *const bad[] = { "unknown1@example.test",
	    "busy@example.test", NULL };
	static const char *const rc[] = { "ok@example.test", NULL };
	struct fake *f = fake_start("250-fake.test\r\n250 8BITMIME\r\n", false);
	struct conf *conf = conf_unix(f);
	struct lmtp_client *c = lmtp_client_new(NULL);
	struct deliver_job *j1 = job_new("s@example.org", bad, "x\r\n");
	struct deliver_job *j2 = job_new("refuse@example.org", rc, "x\r\n");
	struct deliver_job *j3 = job_new("s@example.org", rc, "x\r\n");
	struct spool_result *r1, *r2, *r3;
	char *seen;

	(void)state;
	/* every RCPT refused: no DATA */
	r1 = run(c, conf, j1);
	expect(&r1[0], SPOOL_OUTCOME_BOUNCED, "5.1.1", "550 5.1.1");
	expect(&r1[1], SPOOL_OUTCOME_DEFERRED, "4.3.0", "451 4.3.0");
	/* MAIL refused: no RCPT, every recipient shares the refusal */
	r2 = run(c, conf, j2);
	expect(&r2[0], SPOOL_OUTCOME_BOUNCED, "5.7.1", "550 5.7.1 not from");
	r3 = run(c, conf, j3);
	expect(&r3[0], SPOOL_OUTCOME_DELIVERED, "2.0.0", "250 ");
	lmtp_client_close(c);
	fake_wait(f, "QUIT\n");
	seen = fake_seen(f);
	assert_string_equal(seen, "+\nLHLO relais.test\n"
	    "MAIL FROM:<s@example.org>\nRCPT TO:<unknown1@example.test>\n"
	    "RCPT TO:<busy@example.test>\nRSET\n"
	    "MAIL FROM:<refuse@example.org>\nRSET\n"
	    "MAIL FROM:<s@example.org>\nRCPT TO:<ok@example.test>\nDATA\n"
	    "QUIT\n");
	free(seen);
	free(r1);
	free(r2);
	free(r3);
	deliver_job_free(j1);
	deliver_job_free(j2);
	deliver_job_free(j3);
	lmtp_client_free(c);
	conf_unref(conf);
	fake_stop(f);
}

static void
test_deliver_limits(void **state)
{
	static const char *const rc[] = { "ok@example.test",
	    "j\xc3\xbcrgen@example.test", NULL };
	struct fake *f = fake_start("250-fake.test\r\n250-PIPELINING\r\n"
	    "250 SIZE 20\r\n", false);
	struct conf *conf = conf_unix(f);
	struct lmtp_client *c = lmtp_client_new(NULL);
	struct deliver_job *big = job_new("s@example.org", rc,
	    "0123456789012345678901234567890\r\n");
	struct deliver_job *utf8 = job_new("s@example.org", rc, "x\r\n");
	struct spool_result *r1, *r2;
	char want[200];

	(void)state;
	r1 = run(c, conf, big);
	snprintf(want, sizeof(want), "message size 33 exceeds the limit of"
	    " lmtp:%s (20)", f->path);
	expect(&r1[0], SPOOL_OUTCOME_BOUNCED, "5.3.4", want);
	expect(&r1[1], SPOOL_OUTCOME_BOUNCED, "5.3.4", want);
	/* a UTF-8 address, and the server does not offer SMTPUTF8 */
	utf8->smtputf8 = true;
	r2 = run(c, conf, utf8);
	expect(&r2[0], SPOOL_OUTCOME_DELIVERED, "2.0.0", "250 ");
	expect(&r2[1], SPOOL_OUTCOME_BOUNCED, "5.6.7", "553 5.6.7 the address"
	    " needs SMTPUTF8");
	free(r1);
	free(r2);
	deliver_job_free(big);
	deliver_job_free(utf8);
	lmtp_client_free(c);
	conf_unref(conf);
	fake_stop(f);
}

static void
test_deliver_unreachable(void **state)
{
	static const char *const rc[] = { "ok@example.test", NULL };
	struct conf *conf = conf_for("unix:/nonexistent/relais-test/lmtp");
	struct conf *tcp;
	struct lmtp_client *c = lmtp_client_new(NULL);
	struct deliver_job *job = job_new("s@example.org", rc, "x\r\n");
	struct spool_result *res;
	char target[64];
	int fd, port;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	(void)state;
	res = run(c, conf, job);
	expect(&res[0], SPOOL_OUTCOME_DEFERRED, "4.4.1", "cannot deliver"
	    " through lmtp:/nonexistent/relais-test/lmtp: connect: No such"
	    " file or directory");
	assert_string_equal(res[0].relay, "lmtp:/nonexistent/relais-test/lmtp");
	free(res);

	/* a TCP port nobody listens on: bound, never listening */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	tcp = conf_for(target);
	res = run(c, tcp, job);
	snprintf(target, sizeof(target), "lmtp:127.0.0.1:%d", port);
	assert_string_equal(res[0].relay, target);
	expect(&res[0], SPOOL_OUTCOME_DEFERRED, "4.4.1", "cannot deliver");
	assert_non_null(strstr(res[0].reply, "Connection refused"));
	close(fd);
	free(res);
	deliver_job_free(job);
	lmtp_client_free(c);
	conf_unref(conf);
	conf_unref(tcp);
}

/* another server after a reload: the old connection gets QUIT */
static void
test_deliver_target_change(void **state)
{
	static const char *const rc[] = { "ok@example.test", NULL };
	struct fake *f1 = fake_start(LHLO_ALL, false);
	struct fake *f2 = fake_start(LHLO_ALL, false);
	struct conf *c1 = conf_unix(f1), *c2 = conf_unix(f2);
	struct lmtp_client *c = lmtp_client_new(NULL);
	struct deliver_job *job = job_new("s@example.org", rc, "x\r\n");
	struct spool_result *r1, *r2;
	char relay[128];

	(void)state;
	r1 = run(c, c1, job);
	r2 = run(c, c2, job);
	expect(&r1[0], SPOOL_OUTCOME_DELIVERED, "2.0.0", "250 ");
	expect(&r2[0], SPOOL_OUTCOME_DELIVERED, "2.0.0", "250 ");
	snprintf(relay, sizeof(relay), "lmtp:%s", f2->path);
	assert_string_equal(r2[0].relay, relay);
	fake_wait(f1, "DATA\nQUIT\n");
	assert_int_equal(f2->conns, 1);
	free(r1);
	free(r2);
	deliver_job_free(job);
	lmtp_client_free(c);
	conf_unref(c1);
	conf_unref(c2);
	fake_stop(f1);
	fake_stop(f2);
}

/* relais stops while the server says nothing: the wait ends, the
   recipient is deferred */
static void
test_deliver_stop(void **state)
{
	static const char *const rc[] = { "hang@example.test", NULL };
	struct fake *f = fake_start(LHLO_ALL, false);
	struct conf *conf = conf_unix(f);
	atomic_bool stop = true;
	struct lmtp_client *c = lmtp_client_new(&stop);
	struct deliver_job *job = job_new("s@example.org", rc, "x\r\n");
	struct spool_result *res;

	(void)state;
	res = run(c, conf, job);
	expect(&res[0], SPOOL_OUTCOME_DEFERRED, "4.4.2", "lost connection");
	assert_non_null(strstr(res[0].reply, "timed out: relais is stopping"));
	free(res);
	deliver_job_free(job);
	lmtp_client_free(c);
	conf_unref(conf);
	fake_stop(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_lmtp),
		cmocka_unit_test(test_conf_keys),
		cmocka_unit_test(test_parse_ext),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_stuff),
		cmocka_unit_test(test_result),
		cmocka_unit_test(test_deliver_outcomes),
		cmocka_unit_test(test_deliver_reuse),
		cmocka_unit_test(test_deliver_lost),
		cmocka_unit_test(test_deliver_server_closed_idle),
		cmocka_unit_test(test_deliver_lockstep),
		cmocka_unit_test(test_deliver_limits),
		cmocka_unit_test(test_deliver_unreachable),
		cmocka_unit_test(test_deliver_target_change),
		cmocka_unit_test(test_deliver_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
