/* SPDX-License-Identifier: ISC */
/*
 * spool.h - the durable queue: SQLite in WAL mode, owned by one spool
 * thread that group-commits every request waiting at that moment.
 *
 * Sessions submit finished messages (spool_submit_msg); delivery agents
 * submit per-recipient outcomes (spool_submit_result). The spool thread
 * runs all waiting requests in ONE transaction, commits (one fsync for the
 * batch), and only then calls each message's done callback, so a 250 is
 * given only for a message that would survive kill -9 and power loss.
 * After each batch the scheduler (queue/sched.c) leases due recipients
 * and hands them to the delivery agents.
 */
#ifndef RELAIS_SPOOL_H
#define RELAIS_SPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/id.h"
#include "spool/spool_body.h"

/* spool_body threshold: bodies up to this size go into the row */
#define SPOOL_BLOB_MAX		(128 * 1024)

enum spool_transport {
	SPOOL_TRANSPORT_LOCAL = 0,
	SPOOL_TRANSPORT_REMOTE = 1,
};

enum spool_status {
	SPOOL_RCPT_QUEUED = 0,
	SPOOL_RCPT_DELIVERED = 1,
	SPOOL_RCPT_BOUNCED = 2,
	SPOOL_RCPT_HELD = 3,
};

struct spool_rcpt {
	char		*addr;		/* final address, domain lower-case */
	char		*orig;		/* as given at RCPT TO */
	char		*orcpt;		/* ORCPT= value or NULL */
	unsigned	 notify;	/* enum smtp_notify bits */
	enum spool_transport transport;
};

struct spool_msg {
	char		 qid[ID_QID_LEN + 1];
	char		*sender;	/* "" for the null sender */
	int64_t		 arrival;	/* unix seconds */
	struct buf	 prefix;	/* header fields relais adds in
					   front (Received:, and
					   Authentication-Results: or
					   DKIM-Signature:), CRLF */
	struct spool_body body;		/* the client's text, CRLF */
	char		*client;	/* client address text */
	char		*helo;
	char		*listener;
	char		*envid;		/* ENVID= or NULL */
	int		 ret;		/* enum smtp_ret */
	bool		 smtputf8;
	bool		 body8;
	bool		 junk;		/* DMARC quarantine: local copies
					   go to the .Junk folder */
	struct spool_rcpt *rcpts;
	size_t		 nrcpts;
};

/* outcome of one delivery attempt for one recipient */
enum spool_outcome {
	SPOOL_OUTCOME_DELIVERED,
	SPOOL_OUTCOME_DEFERRED,
	SPOOL_OUTCOME_BOUNCED,
};

struct spool_result {
	uint64_t		rcpt_id;
	int64_t			msg_id;
	char			qid[ID_QID_LEN + 1];
	char			addr[512];	/* recipient, for the log */
	int64_t			arrival;
	enum spool_outcome	outcome;
	char			status[16];	/* enhanced code, "2.0.0" */
	char			reply[256];	/* diagnostic text */
	char			relay[64];	/* "local", peer host... */
	char			remote_mta[256]; /* peer for the DSN, or "" */
	int64_t			retry_at;	/* deferred: when, 0 = policy */
	bool			dsn_passed;	/* peer took NOTIFY: no DSN */
};

/* done callback: runs on the spool thread after the commit (status 0) or
   after a failure (-1, nothing stored); must only hand off and return */
typedef void spool_done_fn(void *arg, uint64_t tag, int status);

struct spool;
struct deliver_pool;

/* spool_open - open/create DATA_DIR/spool/queue.db, recover after a crash */
struct spool *spool_open(const char *data_dir, struct err *err);
struct conf_live;
/* spool_start - start the spool thread; deliveries go to pool; the retry
   policy and reports follow live's current configuration */
int	spool_start(struct spool *sp, struct deliver_pool *pool,
	    struct conf_live *live);
/* spool_stop - commit what is waiting, stop the thread */
void	spool_stop(struct spool *sp);
void	spool_free(struct spool *sp);

/* spool_body_dir - where spool_body files go */
const char *spool_body_dir(const struct spool *sp);

/* spool_msg_new / _free - a message being built by a session */
struct spool_msg *spool_msg_new(void);
void	spool_msg_free(struct spool_msg *msg);
/* spool_msg_add_rcpt - append a recipient (strings are copied) */
void	spool_msg_add_rcpt(struct spool_msg *msg, const char *addr,
	    const char *orig, const char *orcpt, unsigned notify,
	    enum spool_transport transport);

/* spool_submit_msg - take ownership of msg; done(arg, tag, status) later */
void	spool_submit_msg(struct spool *sp, struct spool_msg *msg,
	    spool_done_fn *done, void *arg, uint64_t tag);
/* spool_submit_result(s) - record delivery outcomes (copied); the
   results of one call are applied in the same commit */
void	spool_submit_result(struct spool *sp, const struct spool_result *res);
void	spool_submit_results(struct spool *sp, const struct spool_result *res,
	    size_t n);
/* spool_kick - run the scheduler now and forget what the spool knows of
   destinations backing off (relais queue flush) */
void	spool_kick(struct spool *sp);

/* statistics for logs and metrics */
struct spool_stats {
	uint64_t	commits;	/* batches that changed something */
	uint64_t	msg_commits;	/* of them, acknowledging messages
					   (fsynced: synchronous = FULL) */
	uint64_t	messages;
	uint64_t	results;	/* outcomes from delivery agents */
	uint64_t	leased;		/* recipients handed to the pool */
	uint64_t	backoff_deferred; /* deferred by the scheduler: their
					   destination backs off */
	uint64_t	batch_us;	/* time in batches, total */
	uint64_t	batch_us_max;
};
void	spool_get_stats(struct spool *sp, struct spool_stats *out);

#endif
