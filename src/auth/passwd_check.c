/* SPDX-License-Identifier: ISC */
/*
 * passwd_check.c - the password check pool; see passwd_check.h.
 *
 * One mutex, one condition variable, a FIFO of jobs of both kinds.
 * Passwords are wiped from job memory before it is freed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dovecot_auth.h"
#include "auth/passwd_check.h"
#include "auth/passwd_hash.h"
#include "core/log.h"
#include "core/xalloc.h"

struct passwd_check_job {
	struct passwd_check_job	*next;
	struct worker		*w;
	uint64_t		 session_id;
	worker_fn		*fn;
	bool			 dovecot;	/* else a hash check */
	char			*stored;	/* NULL: unknown user */
	char			*password;
	/* Dovecot: the socket, the deadline, the rest of the request */
	char			*socket;
	int64_t			 deadline_ms;
	char			*user;
	char			*rip;
	char			*lip;
	bool			 secured;
};

static pthread_mutex_t passwd_check_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t passwd_check_cond = PTHREAD_COND_INITIALIZER;
static struct passwd_check_job *passwd_check_head, **passwd_check_tail =
    &passwd_check_head;
static size_t passwd_check_queued;
static pthread_t passwd_check_threads[PASSWD_CHECK_THREADS_DOVECOT];
static unsigned passwd_check_nthreads;
static bool passwd_check_stopping;
static atomic_bool passwd_check_cancel;	/* = stopping, read unlocked by
					   Dovecot exchanges */
static char passwd_check_dummy[256];	/* what unknown users are checked
					   against */

static void
passwd_check_job_free(struct passwd_check_job *j)
{
	if (j->password) {
		explicit_bzero(j->password, strlen(j->password));
		free(j->password);
	}
	free(j->stored);
	free(j->socket);
	free(j->user);
	free(j->rip);
	free(j->lip);
	free(j);
}

/* passwd_check_dovecot - one Dovecot job: the result and the data for
   the session's callback */
static int
passwd_check_dovecot(struct passwd_check_job *j, char **data)
{
	struct dovecot_auth_req req = { .user = j->user, .pass = j->password,
	    .rip = j->rip, .lip = j->lip, .secured = j->secured,
	    .session = j->session_id };
	char user[DOVECOT_USER_MAX + 1];
	struct err err;

	if (dovecot_auth_now_ms() >= j->deadline_ms) {
		*data = xstrdup("timed out waiting for a free thread");
		return PASSWD_CHECK_TEMPFAIL;
	}
	switch (dovecot_auth_check(j->socket, &req, j->deadline_ms,
	    &passwd_check_cancel, user, &err)) {
	case DOVECOT_OK:
		*data = xstrdup(user);
		return PASSWD_CHECK_OK;
	case DOVECOT_FAIL:
		return PASSWD_CHECK_FAIL;
	default:
		*data = xstrdup(err.msg);
		return PASSWD_CHECK_TEMPFAIL;
	}
}

static void *
passwd_check_thread(void *arg)
{
	struct passwd_check_job *j;
	char *data;
	int result;

	for (;;) {
		pthread_mutex_lock(&passwd_check_lock);
		while (passwd_check_head == NULL && !passwd_check_stopping)
			pthread_cond_wait(&passwd_check_cond,
			    &passwd_check_lock);
		if (passwd_check_stopping) {
			pthread_mutex_unlock(&passwd_check_lock);
			return NULL;
		}
		j = passwd_check_head;
		if ((passwd_check_head = j->next) == NULL)
			passwd_check_tail = &passwd_check_head;
		passwd_check_queued--;
		pthread_mutex_unlock(&passwd_check_lock);

		data = NULL;
		if (j->dovecot) {
			result = passwd_check_dovecot(j, &data);
		} else if (j->stored != NULL) {
			result = passwd_hash_verify(j->stored, j->password) ?
			    PASSWD_CHECK_OK : PASSWD_CHECK_FAIL;
		} else {
			(void)passwd_hash_verify(passwd_check_dummy,
			    j->password);
			result = PASSWD_CHECK_FAIL;
		}
		worker_post(j->w, j->session_id, j->fn, result, data);
		passwd_check_job_free(j);
	}
}

/* passwd_check_start_locked - first use: the dummy hash; then threads
   up to want */
static void
passwd_check_start_locked(unsigned want)
{
	struct err err;

	if (passwd_check_nthreads == 0 && passwd_hash_make(
	    "relais-dummy-password", passwd_check_dummy,
	    sizeof(passwd_check_dummy), &err) == -1)
		passwd_check_dummy[0] = '\0';
	for (unsigned i = passwd_check_nthreads; i < want; i++) {
		if (pthread_create(&passwd_check_threads[i], NULL,
		    passwd_check_thread, NULL) != 0) {
			log_warn("event=auth.pool.start");
			break;
		}
		(void)pthread_setname_np(passwd_check_threads[i], "relais-auth");
		passwd_check_nthreads++;
	}
}

/* passwd_check_queue - j to the FIFO, or busy; frees j then */
static void
passwd_check_queue(struct passwd_check_job *j, unsigned threads)
{
	pthread_mutex_lock(&passwd_check_lock);
	if (passwd_check_nthreads < threads && !passwd_check_stopping)
		passwd_check_start_locked(threads);
	if (passwd_check_nthreads == 0 || passwd_check_stopping ||
	    passwd_check_queued >= PASSWD_CHECK_QUEUE_MAX) {
		pthread_mutex_unlock(&passwd_check_lock);
		worker_post(j->w, j->session_id, j->fn, PASSWD_CHECK_BUSY,
		    NULL);
		passwd_check_job_free(j);
		return;
	}
	*passwd_check_tail = j;
	passwd_check_tail = &j->next;
	passwd_check_queued++;
	pthread_cond_signal(&passwd_check_cond);
	pthread_mutex_unlock(&passwd_check_lock);
}

void
passwd_check_submit(struct worker *w, uint64_t session_id, worker_fn *fn,
    const char *stored, const char *password)
{
	struct passwd_check_job *j = xcalloc(1, sizeof(*j));

	j->w = w;
	j->session_id = session_id;
	j->fn = fn;
	j->stored = stored ? xstrdup(stored) : NULL;
	j->password = xstrdup(password);
	passwd_check_queue(j, PASSWD_CHECK_THREADS);
}

void
passwd_check_submit_dovecot(struct worker *w, uint64_t session_id,
    worker_fn *fn, const char *socket, unsigned timeout,
    const struct dovecot_auth_req *req)
{
	struct passwd_check_job *j = xcalloc(1, sizeof(*j));

	j->w = w;
	j->session_id = session_id;
	j->fn = fn;
	j->dovecot = true;
	j->socket = xstrdup(socket);
	j->deadline_ms = dovecot_auth_now_ms() + (int64_t)timeout * 1000;
	j->user = xstrdup(req->user);
	j->password = xstrdup(req->pass);
	j->rip = req->rip ? xstrdup(req->rip) : NULL;
	j->lip = req->lip ? xstrdup(req->lip) : NULL;
	j->secured = req->secured;
	passwd_check_queue(j, PASSWD_CHECK_THREADS_DOVECOT);
}

void
passwd_check_stop(void)
{
	struct passwd_check_job *j;
	unsigned n;

	pthread_mutex_lock(&passwd_check_lock);
	passwd_check_stopping = true;
	atomic_store(&passwd_check_cancel, true);
	n = passwd_check_nthreads;
	pthread_cond_broadcast(&passwd_check_cond);
	pthread_mutex_unlock(&passwd_check_lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(passwd_check_threads[i], NULL);
	pthread_mutex_lock(&passwd_check_lock);
	while ((j = passwd_check_head) != NULL) {
		passwd_check_head = j->next;
		passwd_check_job_free(j);
	}
	passwd_check_tail = &passwd_check_head;
	passwd_check_queued = 0;
	passwd_check_nthreads = 0;
	pthread_mutex_unlock(&passwd_check_lock);
}
