/* SPDX-License-Identifier: ISC */
/*
 * dovecot_proto.h - the client side of Dovecot's authentication protocol
 * (version 1, as spoken on its auth-client socket), pure: the requests
 * relais sends are built into a buf, and what the server sends is fed
 * in as bytes to a small state machine that says what happened. No I/O,
 * no clock, no allocation in the machine, so the unit test and the
 * fuzzer reach every branch; dovecot_auth.c does the socket part.
 *
 * One authentication per connection:
 *   C: VERSION 1 2, CPID <pid>          (dovecot_proto_hello)
 *   S: VERSION 1 x, SPID, CUID, COOKIE, MECH..., DONE
 *                                       (DOVECOT_READY: PLAIN offered)
 *   C: AUTH <id> PLAIN service=smtp ... resp=<base64 \0user\0pass>
 *                                       (dovecot_proto_auth)
 *   S: OK <id> user=... | FAIL <id> ... (DOVECOT_OK, _FAIL, _TEMPFAIL)
 * Lines end with LF, fields are separated by TAB, values use Dovecot's
 * tab-escaping (\001 followed by 0, 1, t, r or n).
 */
#ifndef RELAIS_AUTH_DOVECOT_PROTO_H
#define RELAIS_AUTH_DOVECOT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sasl.h"
#include "core/buf.h"

#define DOVECOT_PROTO_MAJOR	1
#define DOVECOT_PROTO_MINOR	2
#define DOVECOT_LINE_MAX	16384	/* the server's longest line */
#define DOVECOT_USER_MAX	SASL_FIELD_MAX

/* what relais knows of the attempt; strings may be NULL (left out) */
struct dovecot_auth_req {
	const char	*user;		/* the login the client gave */
	const char	*pass;
	const char	*rip;		/* the client's IP address */
	const char	*lip;		/* ours, where it connected */
	bool		 secured;	/* TLS, or a loopback client */
	uint64_t	 session;	/* relais's session id, 0: none */
};

enum dovecot_result {
	DOVECOT_MORE,		/* feed more input */
	DOVECOT_READY,		/* handshake done: send the AUTH request */
	DOVECOT_OK,		/* authenticated; the name is in user[] */
	DOVECOT_FAIL,		/* refused: wrong password, unknown user,
				   or a user who may not log in */
	DOVECOT_TEMPFAIL,	/* Dovecot's own temporary failure */
	DOVECOT_ERROR,		/* not the protocol we speak: error[] */
};

enum dovecot_state {
	DOVECOT_S_HANDSHAKE,
	DOVECOT_S_WAIT,		/* AUTH sent, waiting for its answer */
	DOVECOT_S_DONE,		/* a result other than MORE was given */
};

struct dovecot_client {
	enum dovecot_state	 state;
	unsigned		 id;		/* of our AUTH request */
	bool			 version;	/* VERSION seen */
	bool			 plain;		/* MECH PLAIN seen */
	size_t			 len;		/* of the partial line */
	char			 line[DOVECOT_LINE_MAX + 1];
	char			 user[DOVECOT_USER_MAX + 1];
	char			 error[160];	/* for DOVECOT_ERROR and
						   DOVECOT_TEMPFAIL */
};

/* dovecot_client_init - a fresh machine for AUTH request number id */
void	dovecot_client_init(struct dovecot_client *c, unsigned id);

/*
 * dovecot_client_input - n bytes from the server. Stops at the first
 * line that gives a result other than DOVECOT_MORE and sets *used to
 * the bytes consumed (the caller feeds the rest after acting on it);
 * once a final result (OK, FAIL, TEMPFAIL, ERROR) has been given, later
 * input is ignored and the same result is not repeated (DOVECOT_MORE).
 */
enum dovecot_result dovecot_client_input(struct dovecot_client *c,
	    const char *data, size_t n, size_t *used);

/* dovecot_client_eof - the server closed: the result for the log */
enum dovecot_result dovecot_client_eof(struct dovecot_client *c);

/* dovecot_proto_hello - append "VERSION\t1\t2\nCPID\t<pid>\n" */
int	dovecot_proto_hello(struct buf *out, unsigned long pid);

/*
 * dovecot_proto_auth - append the AUTH line for request id (PLAIN, the
 * credentials as its initial response, which comes last as the
 * protocol wants). -1 when the user or password is empty, longer than
 * DOVECOT_USER_MAX / SASL_FIELD_MAX or holds a NUL, or out is full. The
 * line holds the password: wipe out after sending it.
 */
int	dovecot_proto_auth(struct buf *out, unsigned id,
	    const struct dovecot_auth_req *req);

/* dovecot_proto_escape - append s with Dovecot's tab-escaping */
int	dovecot_proto_escape(struct buf *out, const char *s);

/*
 * dovecot_proto_unescape - undo tab-escaping of in[0..n) into out (NUL-
 * terminated, room for outlen bytes with the NUL); *len_out bytes, which
 * may include NULs from "\0010". -1 when it does not fit.
 */
int	dovecot_proto_unescape(const char *in, size_t n, char *out,
	    size_t outlen, size_t *len_out);

#endif
