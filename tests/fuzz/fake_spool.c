/* SPDX-License-Identifier: ISC */
/*
 * fake_spool.c - the session fuzzer's stand-ins for the two things an SMTP
 * session hands to other threads: committing a message (the queue
 * manager) and checking a password (the password-check pool).
 *
 * This is the one place where fuzz_session couples to internals. The link
 * rule of fuzz_session wraps two functions (ld --wrap, as cmocka's
 * mocking does): calls from the real objects to qmgr_submit_msg and
 * passwd_check_submit land in the __wrap_ versions
 * below; everything else (spool_msg_*, spool_body_*, the worker's inbox)
 * is the real code. The static asserts keep the fakes' types in step with
 * the real declarations.
 *
 * Answers go through the real path, worker_post() by session id, so a
 * session that is gone when its answer lands is looked up and not found,
 * as in the daemon. Deterministic: no threads, no clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passwd_check.h"
#include "core/id.h"
#include "core/xalloc.h"
#include "net/worker.h"
#include "queue/qmgr.h"
#include "spool/spool.h"

#include "fake_spool.h"

#define FAKE_SPOOL_HELD_MAX	64

/* the wrapped functions, defined here, called through the linker */
void	__wrap_qmgr_submit_msg(struct qmgr *q, struct spool_msg *msg,
	    qmgr_done_fn *done, void *arg, uint64_t tag);
void	__wrap_passwd_check_submit(struct worker *w, uint64_t session_id,
	    worker_fn *fn, const char *stored, const char *password);

_Static_assert(__builtin_types_compatible_p(__typeof__(qmgr_submit_msg),
    __typeof__(__wrap_qmgr_submit_msg)), "qmgr_submit_msg changed");
_Static_assert(__builtin_types_compatible_p(__typeof__(passwd_check_submit),
    __typeof__(__wrap_passwd_check_submit)), "passwd_check_submit changed");

struct fake_spool_answer {
	qmgr_done_fn	*done;
	void		*arg;
	uint64_t	 tag;
	int		 status;
};

static char fake_spool_dir[4096] = "/nonexistent";
static bool fake_spool_fail;
static bool fake_spool_hold;
static size_t fake_spool_count;
static struct fake_spool_answer fake_spool_held[FAKE_SPOOL_HELD_MAX];
static size_t fake_spool_nheld;

void
fake_spool_setup(const char *dir)
{
	snprintf(fake_spool_dir, sizeof(fake_spool_dir), "%s", dir);
}

void
fake_spool_mode(bool fail, bool hold)
{
	fake_spool_fail = fail;
	fake_spool_hold = hold;
	fake_spool_count = 0;
}

size_t
fake_spool_release(void)
{
	size_t n = fake_spool_nheld;

	fake_spool_nheld = 0;
	for (size_t i = 0; i < n; i++) {
		struct fake_spool_answer *a = &fake_spool_held[i];

		a->done(a->arg, a->tag, a->status);
	}
	return n;
}

size_t
fake_spool_submitted(void)
{
	return fake_spool_count;
}

/* fake_spool_check - what the session promises about a finished message */
static void
fake_spool_check(const struct spool_msg *msg)
{
	const char *bad = NULL;

	if (!id_qid_valid(msg->qid))
		bad = "qid";
	else if (msg->sender == NULL || msg->client == NULL ||
	    msg->helo == NULL || msg->listener == NULL)
		bad = "envelope field missing";
	else if (msg->nrcpts == 0)
		bad = "no recipient";
	else if (msg->prefix.len == 0 ||
	    (strncmp(msg->prefix.data, "Received: ", 10) != 0 &&
	    strstr(msg->prefix.data, "\r\nReceived: ") == NULL))
		bad = "no Received: field";
	for (size_t i = 0; bad == NULL && i < msg->nrcpts; i++)
		if (msg->rcpts[i].addr == NULL || msg->rcpts[i].orig == NULL)
			bad = "recipient address missing";
	if (bad != NULL) {
		fprintf(stderr, "fake_spool: submitted message: %s\n", bad);
		abort();
	}
}

/* qmgr_submit_msg - take msg, answer done(arg, tag, status) on a later
   loop turn (or at fake_spool_release) */
void
__wrap_qmgr_submit_msg(struct qmgr *q, struct spool_msg *msg,
    qmgr_done_fn *done, void *arg, uint64_t tag)
{
	int status = fake_spool_fail ? -1 : 0;

	fake_spool_check(msg);
	fake_spool_count++;
	spool_body_discard(&msg->body);
	spool_msg_free(msg);
	if (fake_spool_hold && fake_spool_nheld < FAKE_SPOOL_HELD_MAX) {
		fake_spool_held[fake_spool_nheld++] = (struct fake_spool_answer){
			done, arg, tag, status };
		return;
	}
	done(arg, tag, status);
}

/* passwd_check_submit - FAKE_PASSWD_OK logs any user of the users file
   in, FAKE_PASSWD_BUSY is busy, anything else fails; no hashing */
void
__wrap_passwd_check_submit(struct worker *w, uint64_t session_id,
    worker_fn *fn, const char *stored, const char *password)
{
	int result = PASSWD_CHECK_FAIL;

	if (strcmp(password, FAKE_PASSWD_BUSY) == 0)
		result = PASSWD_CHECK_BUSY;
	else if (stored != NULL && strcmp(password, FAKE_PASSWD_OK) == 0)
		result = PASSWD_CHECK_OK;
	worker_post(w, session_id, fn, result, NULL);
}
