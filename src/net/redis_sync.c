/* SPDX-License-Identifier: ISC */
/*
 * redis_sync.c - the blocking Redis connection of redis_sync.h.
 *
 * hiredis 0.14 (Debian 12) has no TLS, so the socket is ours: a blocking
 * socket whose connect, reads and writes time out (SO_SNDTIMEO,
 * SO_RCVTIMEO), wrapped in OpenSSL when [cluster] tls is set. hiredis
 * formats the commands and parses the replies.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conf/conf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "net/redis.h"
#include "net/redis_sync.h"
#include "net/redis_tls.h"

struct redis_sync {
	int		 fd;
	SSL_CTX		*ctx;
	SSL		*ssl;		/* NULL: plain */
	redisReader	*reader;
	char		*addr;		/* for the messages */
	bool		 broken;	/* a failed read or write */
};

/* redis_sync_dial - fd connected to one address, or -1: a blocking
   socket whose connect, reads and writes time out after tv (Linux bounds
   connect by SO_SNDTIMEO) */
static int
redis_sync_dial(const struct sockaddr *sa, socklen_t salen,
    const struct timeval *tv)
{
	int fd, e;

	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, sizeof(*tv)) == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, sizeof(*tv)) == 0 &&
	    connect(fd, sa, salen) == 0)
		return fd;
	e = errno == EINPROGRESS ? ETIMEDOUT : errno;
	close(fd);
	errno = e;
	return -1;
}

/* redis_sync_connect - the socket to addr, or -1 with err */
static int
redis_sync_connect(const char *addr, const struct timeval *tv,
    struct err *err)
{
	char host[256], port_s[16];
	struct addrinfo hints, *res, *ai;
	struct sockaddr_un sun;
	bool unix_path;
	int port, fd = -1, rc;

	if (redis_addr_parse(addr, host, sizeof(host), &port,
	    &unix_path) == -1) {
		err_set(err, 0, "redis %s: not HOST:PORT or unix:/PATH", addr);
		return -1;
	}
	if (unix_path) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(host) >= sizeof(sun.sun_path)) {
			err_set(err, 0, "redis %s: path too long", addr);
			return -1;
		}
		memcpy(sun.sun_path, host, strlen(host));
		if ((fd = redis_sync_dial((struct sockaddr *)&sun, sizeof(sun),
		    tv)) == -1)
			err_set(err, errno, "redis %s: %s", addr,
			    strerror(errno));
		return fd;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port_s, sizeof(port_s), "%d", port);
	if ((rc = getaddrinfo(host, port_s, &hints, &res)) != 0) {
		err_set(err, 0, "redis %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	errno = ECONNREFUSED;
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next)
		fd = redis_sync_dial(ai->ai_addr, ai->ai_addrlen, tv);
	if (fd == -1)
		err_set(err, errno, "redis %s: %s", addr, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/*
 * redis_sync_ssl_write - SSL_write without SIGPIPE: OpenSSL writes to the
 * socket without MSG_NOSIGNAL, and a command-line caller does not ignore
 * the signal. It is blocked in this thread for the call, and one it
 * raised is taken off before it is unblocked.
 */
static int
redis_sync_ssl_write(SSL *ssl, const void *p, int n)
{
	sigset_t pipe, old, pending;
	struct timespec zero = { 0, 0 };
	int k;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &old);
	if ((k = SSL_write(ssl, p, n)) <= 0) {
		if (!sigismember(&old, SIGPIPE) && sigpending(&pending) == 0 &&
		    sigismember(&pending, SIGPIPE))
			(void)sigtimedwait(&pipe, NULL, &zero);
		ERR_clear_error();
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return k;
}

static int
redis_sync_write(struct redis_sync *s, const char *p, size_t n,
    struct err *err)
{
	while (n > 0) {
		ssize_t w;

		if (s->ssl != NULL) {
			int k = redis_sync_ssl_write(s->ssl, p, n > INT32_MAX ?
			    INT32_MAX : (int)n);

			w = k > 0 ? k : -1;
		} else
			w = send(s->fd, p, n, MSG_NOSIGNAL);
		if (w == -1 && s->ssl == NULL && errno == EINTR)
			continue;
		if (w <= 0) {
			s->broken = true;
			return err_set(err, errno, "redis %s: write: %s",
			    s->addr, s->ssl ? "TLS error" : strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* redis_sync_reply - the next reply, reading as much as it takes */
static redisReply *
redis_sync_reply(struct redis_sync *s, struct err *err)
{
	char buf[16384];
	void *reply = NULL;

	for (;;) {
		ssize_t n;

		if (redisReaderGetReply(s->reader, &reply) != REDIS_OK) {
			s->broken = true;
			err_set(err, 0, "redis %s: %s", s->addr,
			    s->reader->errstr);
			return NULL;
		}
		if (reply != NULL)
			return reply;
		if (s->ssl != NULL) {
			int k = SSL_read(s->ssl, buf, sizeof(buf));

			if (k <= 0)
				ERR_clear_error();
			n = k > 0 ? k : -1;
		} else
			n = recv(s->fd, buf, sizeof(buf), 0);
		if (n == -1 && s->ssl == NULL && errno == EINTR)
			continue;
		if (n <= 0) {
			s->broken = true;
			err_set(err, errno, "redis %s: %s", s->addr, n == 0 ?
			    "connection closed" : errno == EAGAIN ||
			    errno == EWOULDBLOCK ? "timed out" :
			    strerror(errno));
			return NULL;
		}
		if (redisReaderFeed(s->reader, buf, (size_t)n) != REDIS_OK) {
			s->broken = true;
			err_set(err, 0, "redis %s: %s", s->addr,
			    s->reader->errstr);
			return NULL;
		}
	}
}

redisReply *
redis_sync_command(struct redis_sync *s, struct err *err, const char *fmt,
    ...)
{
	va_list ap;
	char *cmd = NULL;
	int len;

	if (s->broken) {
		err_set(err, 0, "redis %s: connection lost", s->addr);
		return NULL;
	}
	va_start(ap, fmt);
	len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	if (len < 0) {
		err_set(err, 0, "redis %s: bad command", s->addr);
		return NULL;
	}
	if (redis_sync_write(s, cmd, (size_t)len, err) == -1) {
		redisFreeCommand(cmd);
		return NULL;
	}
	redisFreeCommand(cmd);
	return redis_sync_reply(s, err);
}

struct redis_sync *
redis_sync_open(const struct conf *conf, struct err *err)
{
	unsigned secs = conf->cluster.timeout ? conf->cluster.timeout : 2;
	struct timeval tv = { (time_t)secs, 0 };
	struct redis_sync *s;
	char name[256], msg[300];
	redisReply *r;

	if (conf->cluster.redis == NULL) {
		err_set(err, 0, "no [cluster] redis");
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->fd = -1;
	s->addr = xstrdup(conf->cluster.redis);
	if ((s->reader = redisReaderCreate()) == NULL)
		fatalx("redisReaderCreate: out of memory");
	if ((s->fd = redis_sync_connect(s->addr, &tv, err)) == -1)
		goto fail;
	if (redis_tls_ctx(conf, &s->ctx, err) == -1)
		goto fail;
	if (s->ctx != NULL) {
		redis_tls_name(conf, name, sizeof(name));
		if ((s->ssl = redis_tls_ssl(s->ctx, name, err)) == NULL)
			goto fail;
		if (SSL_set_fd(s->ssl, s->fd) != 1 ||
		    SSL_connect(s->ssl) != 1) {
			long v = SSL_get_verify_result(s->ssl);

			if (v != X509_V_OK)
				snprintf(msg, sizeof(msg), "TLS: %s",
				    X509_verify_cert_error_string(v));
			else
				redis_tls_error(msg, sizeof(msg), "TLS");
			ERR_clear_error();	/* nothing left for later */
			err_set(err, 0, "redis %s: %s", s->addr, msg);
			s->broken = true;	/* no close_notify after that */
			goto fail;
		}
	}
	if (conf->cluster.password != NULL) {
		r = redis_sync_command(s, err, "AUTH %s",
		    conf->cluster.password);
		if (r == NULL)
			goto fail;
		if (r->type == REDIS_REPLY_ERROR) {
			err_set(err, 0, "redis %s: AUTH: %.*s", s->addr,
			    (int)r->len, r->str);
			freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	return s;
fail:
	redis_sync_close(s);
	return NULL;
}

void
redis_sync_close(struct redis_sync *s)
{
	if (s == NULL)
		return;
	if (s->ssl != NULL) {
		if (!s->broken)
			(void)SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
	}
	SSL_CTX_free(s->ctx);
	if (s->fd >= 0)
		close(s->fd);
	redisReaderFree(s->reader);
	free(s->addr);
	free(s);
}
