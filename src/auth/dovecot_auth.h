/* SPDX-License-Identifier: ISC */
/*
 * dovecot_auth.h - one SMTP AUTH check against Dovecot's auth service:
 * connect to its auth-client unix socket, handshake, one AUTH PLAIN
 * request, its answer, close (one request per connection: nothing is
 * kept between checks, so a restarted Dovecot is simply found again).
 *
 * Blocking, and bounded by a deadline: for the password check pool's
 * threads (passwd_check.c), never for an event loop. The protocol
 * itself is dovecot_proto.c's.
 */
#ifndef RELAIS_AUTH_DOVECOT_AUTH_H
#define RELAIS_AUTH_DOVECOT_AUTH_H

#include <stdatomic.h>
#include <stdint.h>

#include "auth/dovecot_proto.h"
#include "core/err.h"

/* dovecot_auth_now_ms - CLOCK_MONOTONIC in milliseconds, for deadlines */
int64_t	dovecot_auth_now_ms(void);

/*
 * dovecot_auth_check - authenticate req at the socket path, giving up
 * at deadline_ms (dovecot_auth_now_ms's clock) or soon after *cancel
 * becomes true (NULL: never). Returns
 *   DOVECOT_OK        user_out (DOVECOT_USER_MAX + 1 bytes) holds the
 *                     name Dovecot gave (user=), else req->user;
 *   DOVECOT_FAIL      the credentials were refused;
 *   DOVECOT_TEMPFAIL  Dovecot's temporary failure, err says which;
 *   DOVECOT_ERROR     no answer: cannot connect, timed out, cancelled,
 *                     closed, not the protocol; err says which.
 * The password is wiped from the request line once sent.
 */
enum dovecot_result dovecot_auth_check(const char *path,
	    const struct dovecot_auth_req *req, int64_t deadline_ms,
	    const atomic_bool *cancel, char *user_out, struct err *err);

#endif
