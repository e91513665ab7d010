/* SPDX-License-Identifier: ISC */
/*
 * dovecot_auth.c - the socket side of a Dovecot authentication; see
 * dovecot_auth.h.
 *
 * The connect is a blocking one bounded by SO_SNDTIMEO (a unix socket
 * connect only waits when Dovecot's listen backlog is full); after it
 * the socket is non-blocking and every wait is a poll() of at most
 * DOVECOT_AUTH_SLICE_MS, so that a cancel (the pool stopping) is seen
 * quickly, until the deadline. Writes use MSG_NOSIGNAL: a Dovecot that
 * went away is an error, not a SIGPIPE.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/dovecot_auth.h"

#define DOVECOT_AUTH_SLICE_MS	250
#define DOVECOT_AUTH_READ	4096

struct dovecot_conn {
	int			 fd;
	int64_t			 deadline;
	const atomic_bool	*cancel;
	struct err		*err;
};

int64_t
dovecot_auth_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* dovecot_wait - poll for events until ready (1), or -1 with err */
static int
dovecot_wait(struct dovecot_conn *dc, short events)
{
	struct pollfd pfd = { .fd = dc->fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		if (dc->cancel != NULL && atomic_load(dc->cancel))
			return err_set(dc->err, ECANCELED, "cancelled: relais "
			    "is stopping");
		if ((left = dc->deadline - dovecot_auth_now_ms()) <= 0)
			return err_set(dc->err, ETIMEDOUT, "timed out");
		n = poll(&pfd, 1, left > DOVECOT_AUTH_SLICE_MS ?
		    DOVECOT_AUTH_SLICE_MS : (int)left);
		if (n > 0)
			return 1;
		if (n == -1 && errno != EINTR)
			return err_set(dc->err, errno, "poll: %s",
			    strerror(errno));
	}
}

/* dovecot_send - all of p[0..n) before the deadline; 0 or -1 with err */
static int
dovecot_send(struct dovecot_conn *dc, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(dc->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (dovecot_wait(dc, POLLOUT) == -1)
				return -1;
			continue;
		}
		return err_set(dc->err, errno, "send: %s", strerror(errno));
	}
	return 0;
}

/* dovecot_connect - the socket at path, connected; -1 with err */
static int
dovecot_connect(struct dovecot_conn *dc, const char *path)
{
	struct sockaddr_un sun;
	int64_t left = dc->deadline - dovecot_auth_now_ms();
	struct timeval tv;
	int fd, flags;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return err_set(dc->err, ENAMETOOLONG, "socket path too long");
	memcpy(sun.sun_path, path, strlen(path));
	if (left <= 0)
		return err_set(dc->err, ETIMEDOUT, "timed out");
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return err_set(dc->err, errno, "socket: %s", strerror(errno));
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;

		if (e == EINTR)
			continue;
		close(fd);
		if (e == EAGAIN || e == EINPROGRESS)
			return err_set(dc->err, ETIMEDOUT, "connect: timed "
			    "out");
		return err_set(dc->err, e, "connect: %s", strerror(e));
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		int e = errno;

		close(fd);
		return err_set(dc->err, e, "fcntl: %s", strerror(e));
	}
	dc->fd = fd;
	return 0;
}

/* dovecot_request - the AUTH line, sent and wiped; -1 with err */
static int
dovecot_request(struct dovecot_conn *dc, unsigned id,
    const struct dovecot_auth_req *req)
{
	struct buf b;
	int rc;

	buf_init(&b, 0);
	if (dovecot_proto_auth(&b, id, req) == -1) {
		rc = err_set(dc->err, EINVAL, "credentials too long for "
		    "PLAIN");
	} else {
		rc = dovecot_send(dc, b.data, b.len);
	}
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	buf_fini(&b);
	return rc;
}

/* dovecot_exchange - the whole dialogue on a connected socket */
static enum dovecot_result
dovecot_exchange(struct dovecot_conn *dc, struct dovecot_client *c,
    const struct dovecot_auth_req *req)
{
	char in[DOVECOT_AUTH_READ];
	enum dovecot_result r;
	struct buf hello;
	size_t off, used;
	ssize_t n;
	int rc;

	buf_init(&hello, 0);
	rc = dovecot_proto_hello(&hello, (unsigned long)getpid());
	if (rc == 0)
		rc = dovecot_send(dc, hello.data, hello.len);
	buf_fini(&hello);
	if (rc == -1)
		return DOVECOT_ERROR;
	for (;;) {
		if (dovecot_wait(dc, POLLIN) == -1)
			return DOVECOT_ERROR;
		n = recv(dc->fd, in, sizeof(in), 0);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			err_set(dc->err, errno, "recv: %s", strerror(errno));
			return DOVECOT_ERROR;
		}
		if (n == 0) {
			r = dovecot_client_eof(c);
			err_set(dc->err, EPIPE, "%s", c->error);
			return r;
		}
		for (off = 0; off < (size_t)n; off += used) {
			r = dovecot_client_input(c, in + off, (size_t)n - off,
			    &used);
			if (r == DOVECOT_MORE)
				continue;
			if (r != DOVECOT_READY) {
				if (r == DOVECOT_ERROR ||
				    r == DOVECOT_TEMPFAIL)
					err_set(dc->err, EPROTO, "%s",
					    c->error);
				return r;
			}
			if (dovecot_request(dc, c->id, req) == -1)
				return DOVECOT_ERROR;
		}
	}
}

enum dovecot_result
dovecot_auth_check(const char *path, const struct dovecot_auth_req *req,
    int64_t deadline_ms, const atomic_bool *cancel, char *user_out,
    struct err *err)
{
	struct dovecot_conn dc = { .fd = -1, .deadline = deadline_ms,
	    .cancel = cancel, .err = err };
	/* about 17 KB: the pool's threads have the default stack */
	struct dovecot_client c;
	enum dovecot_result r;

	user_out[0] = '\0';
	if (dovecot_connect(&dc, path) == -1)
		return DOVECOT_ERROR;
	dovecot_client_init(&c, 1);
	r = dovecot_exchange(&dc, &c, req);
	close(dc.fd);
	if (r == DOVECOT_OK)
		snprintf(user_out, DOVECOT_USER_MAX + 1, "%s",
		    c.user[0] != '\0' ? c.user : req->user);
	return r;
}
