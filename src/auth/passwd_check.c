/* SPDX-License-Identifier: ISC */
/*
 * passwd_check.c - the password check pool; see passwd_check.h.
 *
 * One mutex, one condition variable, a FIFO of jobs. Passwords are wiped
 * from job memory before it is freed.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passwd_check.h"
#include "auth/passwd_hash.h"
#include "core/log.h"
#include "core/xalloc.h"

struct passwd_check_job {
	struct passwd_check_job	*next;
	struct worker		*w;
	uint64_t		 session_id;
	worker_fn		*fn;
	char			*stored;	/* NULL: unknown user */
	char			*password;
};

static pthread_mutex_t passwd_check_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t passwd_check_cond = PTHREAD_COND_INITIALIZER;
static struct passwd_check_job *passwd_check_head, **passwd_check_tail =
    &passwd_check_head;
static size_t passwd_check_queued;
static pthread_t passwd_check_threads[PASSWD_CHECK_THREADS];
static unsigned passwd_check_nthreads;
static bool passwd_check_stopping;
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
	free(j);
}

static void *
passwd_check_thread(void *arg)
{
	struct passwd_check_job *j;
	bool ok;

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

		if (j->stored != NULL) {
			ok = passwd_hash_verify(j->stored, j->password);
		} else {
			(void)passwd_hash_verify(passwd_check_dummy,
			    j->password);
			ok = false;
		}
		worker_post(j->w, j->session_id, j->fn, ok ? PASSWD_CHECK_OK :
		    PASSWD_CHECK_FAIL, NULL);
		passwd_check_job_free(j);
	}
}

/* passwd_check_start_locked - first use: the dummy hash and the threads */
static void
passwd_check_start_locked(void)
{
	struct err err;

	if (passwd_hash_make("relais-dummy-password", passwd_check_dummy,
	    sizeof(passwd_check_dummy), &err) == -1)
		passwd_check_dummy[0] = '\0';
	for (unsigned i = 0; i < PASSWD_CHECK_THREADS; i++) {
		if (pthread_create(&passwd_check_threads[i], NULL,
		    passwd_check_thread, NULL) != 0) {
			log_warn("event=auth.pool.start");
			break;
		}
		(void)pthread_setname_np(passwd_check_threads[i], "relais-auth");
		passwd_check_nthreads++;
	}
}

void
passwd_check_submit(struct worker *w, uint64_t session_id, worker_fn *fn,
    const char *stored, const char *password)
{
	struct passwd_check_job *j;

	pthread_mutex_lock(&passwd_check_lock);
	if (passwd_check_nthreads == 0 && !passwd_check_stopping)
		passwd_check_start_locked();
	if (passwd_check_nthreads == 0 || passwd_check_stopping ||
	    passwd_check_queued >= PASSWD_CHECK_QUEUE_MAX) {
		pthread_mutex_unlock(&passwd_check_lock);
		worker_post(w, session_id, fn, PASSWD_CHECK_BUSY, NULL);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->w = w;
	j->session_id = session_id;
	j->fn = fn;
	j->stored = stored ? xstrdup(stored) : NULL;
	j->password = xstrdup(password);
	*passwd_check_tail = j;
	passwd_check_tail = &j->next;
	passwd_check_queued++;
	pthread_cond_signal(&passwd_check_cond);
	pthread_mutex_unlock(&passwd_check_lock);
}

void
passwd_check_stop(void)
{
	struct passwd_check_job *j;
	unsigned n;

	pthread_mutex_lock(&passwd_check_lock);
	passwd_check_stopping = true;
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
