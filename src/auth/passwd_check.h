/* SPDX-License-Identifier: ISC */
/*
 * passwd_check.h - password checks off the event loops: a small pool of
 * threads runs passwd_hash_verify (tens of milliseconds of CPU by design)
 * and answers the session through worker_post, by session id.
 *
 * The pool starts on the first check and is stopped once by the serve
 * command after the workers have left their loops (answers still in
 * flight land in the workers' inboxes and are dropped there).
 */
#ifndef RELAIS_AUTH_PASSWD_CHECK_H
#define RELAIS_AUTH_PASSWD_CHECK_H

#include <stdint.h>

#include "net/worker.h"

#define PASSWD_CHECK_THREADS	2
#define PASSWD_CHECK_QUEUE_MAX	256	/* waiting checks; more: busy */

enum passwd_check_result {
	PASSWD_CHECK_OK = 0,
	PASSWD_CHECK_FAIL = 1,		/* wrong password or unknown user */
	PASSWD_CHECK_BUSY = 2,		/* queue full: 454, try later */
};

/*
 * passwd_check_submit - check password against stored (NULL: the user
 * does not exist; a check of the same cost runs anyway so that timing
 * does not tell users apart), then fn(session, result, NULL) runs on w's
 * loop. Copies both strings. Any thread.
 */
void	passwd_check_submit(struct worker *w, uint64_t session_id,
	    worker_fn *fn, const char *stored, const char *password);

/* passwd_check_stop - join the pool's threads; queued checks are dropped */
void	passwd_check_stop(void);

#endif
