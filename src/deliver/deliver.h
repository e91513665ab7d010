/* SPDX-License-Identifier: ISC */
/*
 * deliver.h - delivery agents and the thread pool that runs them.
 *
 * The scheduler leases due recipients and pushes one job per message and
 * destination; a pool thread runs the agent for the job's transport
 * (for local mail maildir, or LMTP with [local] transport = lmtp:
 * deliver_lmtp.h) and reports the outcomes through the report
 * function it was started with, never to the spool directly. Agents may
 * block (fsync, rename): they never run on an event-loop thread.
 */
#ifndef RELAIS_DELIVER_H
#define RELAIS_DELIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/id.h"
#include "spool/spool.h"

struct deliver_rcpt {
	uint64_t		 rcpt_id;
	char			*addr;		/* final recipient */
	char			*orig;		/* as given at RCPT TO */
	char			*orcpt;		/* ORCPT= or NULL */
	unsigned		 notify;	/* enum smtp_notify bits */
	int			 attempts;	/* before this one */
};

/*
 * One delivery: one message to one or more recipients that share a
 * transport and (remote) a destination domain.
 */
struct deliver_job {
	struct deliver_job	*next;
	int64_t			 msg_id;
	char			 qid[ID_QID_LEN + 1];
	char			*sender;
	enum spool_transport	 transport;
	char			*domain;	/* remote: recipients' domain */
	int64_t			 arrival;
	uint64_t		 size;
	bool			 body_file;	/* body in spool/bodies/QID */
	bool			 recovered;	/* a copy may exist already */
	char			*envid;
	int			 ret;		/* enum smtp_ret */
	bool			 smtputf8;
	bool			 body8;
	bool			 junk;		/* into the .Junk folder */
	char			*pool;		/* [pool NAME] or NULL */
	char			*site;		/* remote: set by the agent */
	int			 priority;	/* SPOOL_PRIORITY_* */
	bool			 requiretls;	/* MAIL FROM REQUIRETLS (RFC
						   8689): DANE or MTA-STS
						   validated TLS only */
	bool			 tls_optional;	/* "TLS-Required: No": TLS
						   policy failures ignored */
	struct deliver_rcpt	*rcpts;
	size_t			 nrcpts;
	struct deliver_body {
		char	*data;		/* the stored text, CRLF lines */
		size_t	 len;
	}			 body;		/* read by the pool */
};

struct deliver_pool;
struct conf_live;

/* deliver_report_fn - where agents report outcomes (n results of one
   job, applied together): the queue manager's qmgr_report */
typedef void deliver_report_fn(void *arg, const struct spool_result *res,
    size_t n);

/* deliver_pool_new - nthreads agents reading bodies from data_dir's spool */
struct deliver_pool *deliver_pool_new(const char *data_dir, unsigned nthreads,
	    struct conf_live *live);
int	deliver_pool_start(struct deliver_pool *pool,
	    deliver_report_fn *report, void *arg);
/* remote jobs, body read, go to fn (which owns them from then on) */
typedef void deliver_remote_fn(void *arg, struct deliver_job *job);
void	deliver_pool_set_remote(struct deliver_pool *pool,
	    deliver_remote_fn *fn, void *arg);
/* deliver_pool_push - hand a job over (the pool frees it) */
void	deliver_pool_push(struct deliver_pool *pool, struct deliver_job *job);
/* deliver_pool_stop - finish running jobs, drop queued ones (still leased
   in the spool: they run again at the next start) */
void	deliver_pool_stop(struct deliver_pool *pool);
void	deliver_pool_free(struct deliver_pool *pool);

void	deliver_job_free(struct deliver_job *job);
/* deliver_job_add_rcpt - append a recipient (strings copied) */
void	deliver_job_add_rcpt(struct deliver_job *job, uint64_t rcpt_id,
	    const char *addr, const char *orig, const char *orcpt,
	    unsigned notify, int attempts);
/* deliver_result_init - a result for recipient i of job */
void	deliver_result_init(struct spool_result *res,
	    const struct deliver_job *job, size_t i);

/*
 * deliver_maildir - write the message into the Maildir of recipient i.
 * Returns the outcome in res (delivered, or deferred with the reason:
 * a mailbox that cannot be written is a temporary failure).
 */
struct conf;
void	deliver_maildir(const struct conf *conf, const struct deliver_job *job,
	    size_t i, struct spool_result *res);

#endif
