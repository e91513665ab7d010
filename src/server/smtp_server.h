/* SPDX-License-Identifier: ISC */
/*
 * smtp_server.h - the inbound SMTP session (RFC 5321 server side) on a
 * worker's event loop. The serve command hands these to the workers as
 * their struct worker_ops; finished messages go to the queue manager.
 */
#ifndef RELAIS_SERVER_SMTP_SERVER_H
#define RELAIS_SERVER_SMTP_SERVER_H

#include <sys/socket.h>

#include <event2/util.h>

struct worker;
struct listen_sock;
struct smtp_session;

/* smtp_server_accept - start a session on a freshly accepted socket */
void	smtp_server_accept(struct worker *w, evutil_socket_t fd,
	    struct sockaddr *sa, struct listen_sock *sock);
/* smtp_server_shutdown - SIGTERM: 421 now if idle, else after the current
   transaction */
void	smtp_server_shutdown(struct smtp_session *s);
/* smtp_server_free - drop the session and its connection at once */
void	smtp_server_free(struct smtp_session *s);

#endif
