/* SPDX-License-Identifier: ISC */
/*
 * listen.c - listening sockets; see listen.h.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/metrics.h"
#include "core/xalloc.h"
#include "net/listen.h"

static int
listen_one(const struct conf_addr *a, struct err *err)
{
	int fd, on = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return err_set(err, errno, "socket for %s: %s", a->text,
		    strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1 ||
	    (a->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)) {
		err_set(err, errno, "setsockopt for %s: %s", a->text,
		    strerror(errno));
		goto fail;
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->sslen) == -1) {
		err_set(err, errno, "cannot bind %s: %s", a->text,
		    strerror(errno));
		goto fail;
	}
	if (listen(fd, 1024) == -1) {
		err_set(err, errno, "listen on %s: %s", a->text,
		    strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int
listen_open(const struct conf *conf, unsigned nworkers,
    struct listen_set *set, struct err *err)
{
	size_t per = 0, k = 0;

	for (size_t i = 0; i < conf->nlisteners; i++)
		per += conf->listeners[i].naddrs;
	set->per_worker = per;
	set->nworkers = nworkers;
	set->socks = xcalloc(per * nworkers + 1,
	    sizeof(*set->socks));
	for (size_t i = 0; i < per * nworkers; i++)
		set->socks[i].fd = -1;
	for (unsigned w = 0; w < nworkers; w++) {
		for (size_t i = 0; i < conf->nlisteners; i++) {
			const struct conf_listener *l = &conf->listeners[i];

			metrics_listener(l->name);	/* its label */
			for (size_t j = 0; j < l->naddrs; j++, k++) {
				struct listen_sock *s = &set->socks[k];

				s->listener = xstrdup(l->name);
				memcpy(s->addr, l->addrs[j].text,
				    sizeof(s->addr));
				s->fd = listen_one(&l->addrs[j], err);
				if (s->fd == -1) {
					listen_close(set);
					return -1;
				}
			}
		}
	}
	return 0;
}

struct listen_sock *
listen_worker(struct listen_set *set, unsigned w)
{
	return &set->socks[(size_t)w * set->per_worker];
}

void
listen_close(struct listen_set *set)
{
	for (size_t i = 0; i < set->per_worker * set->nworkers; i++) {
		if (set->socks[i].fd != -1)
			close(set->socks[i].fd);
		free(set->socks[i].listener);
	}
	free(set->socks);
	set->socks = NULL;
	set->per_worker = 0;
}
