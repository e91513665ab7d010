/* SPDX-License-Identifier: ISC */
/*
 * deliver.h - delivery agents and the thread pool that runs them.
 *
 * The scheduler leases due recipients and pushes one job per recipient;
 * a pool thread runs the agent for the job's transport (maildir for local
 * mail) and reports the outcome to the spool. Agents may block (fsync,
 * rename): they never run on an event-loop thread.
 */
#ifndef RELAIS_DELIVER_H
#define RELAIS_DELIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/id.h"
#include "spool/spool.h"

struct deliver_job {
	struct deliver_job	*next;
	uint64_t		 rcpt_id;
	int64_t			 msg_id;
	char			 qid[ID_QID_LEN + 1];
	char			*sender;
	char			*addr;		/* final recipient */
	char			*orig;		/* as given at RCPT TO */
	enum spool_transport	 transport;
	int64_t			 arrival;
	bool			 body_file;	/* body in spool/bodies/QID */
	bool			 recovered;	/* queued before this start:
						   the mailbox may hold it */
};

/* the body of a message, read for a delivery attempt */
struct deliver_body {
	char	*data;
	size_t	 len;
};

struct deliver_pool;
struct conf_live;

/* deliver_pool_new - nthreads agents reading bodies from data_dir's spool */
struct deliver_pool *deliver_pool_new(const char *data_dir, unsigned nthreads,
	    struct conf_live *live);
int	deliver_pool_start(struct deliver_pool *pool, struct spool *sp);
/* deliver_pool_push - hand a job over (the pool frees it) */
void	deliver_pool_push(struct deliver_pool *pool, struct deliver_job *job);
/* deliver_pool_stop - finish running jobs, drop queued ones (still leased
   in the spool: they run again at the next start) */
void	deliver_pool_stop(struct deliver_pool *pool);
void	deliver_pool_free(struct deliver_pool *pool);

void	deliver_job_free(struct deliver_job *job);

/*
 * deliver_maildir - write one message into the Maildir for job->addr.
 * Returns the outcome in res (delivered, or deferred with the reason:
 * a mailbox that cannot be written is a temporary failure).
 */
struct conf;
void	deliver_maildir(const struct conf *conf, const struct deliver_job *job,
	    const struct deliver_body *body, struct spool_result *res);

#endif
