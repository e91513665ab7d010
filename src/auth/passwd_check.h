/* SPDX-License-Identifier: ISC */
/*
 * passwd_check.h - password checks off the event loops: a small pool of
 * threads runs passwd_hash_verify (tens of milliseconds of CPU by design)
 * or, with [auth] backend = dovecot, a blocking exchange with Dovecot's
 * auth service (dovecot_auth.c), and answers the session through
 * worker_post, by session id.
 *
 * Hash checks need PASSWD_CHECK_THREADS threads (the CPU is the limit);
 * the first Dovecot check grows the pool to PASSWD_CHECK_THREADS_DOVECOT,
 * since those threads mostly wait (Dovecot delays its failures by
 * design). A Dovecot check has a deadline from the moment it is
 * submitted: one still queued at its deadline is answered
 * PASSWD_CHECK_TEMPFAIL without a connection.
 *
 * The pool starts on the first check and is stopped once by the serve
 * command after the workers have left their loops (answers still in
 * flight land in the workers' inboxes and are dropped there).
 */
#ifndef RELAIS_AUTH_PASSWD_CHECK_H
#define RELAIS_AUTH_PASSWD_CHECK_H

#include <stdint.h>

#include "auth/dovecot_proto.h"
#include "net/worker.h"

#define PASSWD_CHECK_THREADS		2
#define PASSWD_CHECK_THREADS_DOVECOT	8
#define PASSWD_CHECK_QUEUE_MAX	256	/* waiting checks; more: busy */

enum passwd_check_result {
	PASSWD_CHECK_OK = 0,
	PASSWD_CHECK_FAIL = 1,		/* wrong password or unknown user */
	PASSWD_CHECK_BUSY = 2,		/* queue full: 454, try later */
	PASSWD_CHECK_TEMPFAIL = 3,	/* Dovecot unreachable, timed out,
					   or its temporary failure: 454 */
};

/*
 * passwd_check_submit - check password against stored (NULL: the user
 * does not exist; a check of the same cost runs anyway so that timing
 * does not tell users apart), then fn(session, result, NULL) runs on w's
 * loop. Copies both strings. Any thread.
 */
void	passwd_check_submit(struct worker *w, uint64_t session_id,
	    worker_fn *fn, const char *stored, const char *password);

/*
 * passwd_check_submit_dovecot - check req (all of it copied) against
 * Dovecot's auth-client socket `socket`, within timeout seconds from
 * now; then fn(session, result, data) runs on w's loop, where data is a
 * string the callee frees (also when the session is gone and fn gets
 * NULL): with PASSWD_CHECK_OK the authenticated name Dovecot gave, with
 * PASSWD_CHECK_TEMPFAIL what went wrong, for the log; NULL otherwise.
 * Any thread.
 */
void	passwd_check_submit_dovecot(struct worker *w, uint64_t session_id,
	    worker_fn *fn, const char *socket, unsigned timeout,
	    const struct dovecot_auth_req *req);

/* passwd_check_stop - join the pool's threads (a Dovecot exchange under
   way is cancelled within a fraction of a second); queued checks are
   dropped */
void	passwd_check_stop(void);

#endif
