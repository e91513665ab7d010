/* SPDX-License-Identifier: ISC */
/*
 * spool.h - the durable store of the queue: SQLite in WAL mode
 * (DATA_DIR/spool/queue.db) and the body files of large messages
 * (DATA_DIR/spool/bodies/QID). Storage only: what to store when, and in
 * which transaction, is the queue manager's (queue/qmgr.c), which owns
 * the one write connection and calls everything below from its thread.
 *
 * A transaction is spool_begin .. spool_commit; every other call that
 * writes runs inside one. Nothing here calls upward: no scheduling, no
 * retry policy, no delivery.
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
	/* the life of each recipient is recorded (spool_event_add): a
	   "received" event per recipient, stored with the message */
	bool		 events;
	/* from the HTTP API, stored with the message (NULL otherwise) */
	char		*tags;		/* JSON array text */
	char		*metadata;	/* JSON object text */
	char		*idem_key;	/* Idempotency-Key, scoped by API key */
	char		*idem_answer;	/* the answer to give again */
	int		 idem_status;	/* its HTTP status */
	char		**suppressed;	/* recipients not queued: on the
					   suppression list (an event each) */
	size_t		 nsuppressed;
	/* shaping and quotas (docs/shaping.md) */
	char		*tenant;	/* [tenant NAME] or NULL */
	char		*pool;		/* [pool NAME] chosen, or NULL */
	int		 priority;	/* SPOOL_PRIORITY_* */
	/* transport security asked for (RFC 8689) */
	bool		 requiretls;	/* MAIL FROM ... REQUIRETLS */
	bool		 tls_optional;	/* "TLS-Required: No", without
					   REQUIRETLS */
	bool		 held;		/* stored on hold (a milter's
					   quarantine): relais queue release
					   lets it go */
};

/* a message's priority: high jumps ahead of normal in every queue */
#define SPOOL_PRIORITY_NORMAL	0
#define SPOOL_PRIORITY_HIGH	1

/* outcome of one delivery attempt for one recipient */
enum spool_outcome {
	SPOOL_OUTCOME_DELIVERED,
	SPOOL_OUTCOME_DEFERRED,
	SPOOL_OUTCOME_BOUNCED,
};

/* what a delivery agent reports for one recipient */
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
	bool			expired;	/* a deferral past the queue
						   lifetime, bounced */
	/* remote: the destination site (docs/shaping.md), or "" */
	char			site[128];
	/* deferred by the site's shaping (rate, connections, suspended,
	   warm-up), not by an attempt: no attempt counted, no event, no
	   expiry; retry_at says when */
	bool			throttled;
	/* deferred because its site is suspended until retry_at: the
	   queue manager holds the site's other domains back meanwhile */
	bool			suspended;
};

struct spool;

/* spool_open - open/create DATA_DIR/spool/queue.db, recover after a crash
   (leases reset, finished messages and orphan body files removed) */
struct spool *spool_open(const char *data_dir, struct err *err);
void	spool_free(struct spool *sp);

/* spool_body_dir - where spool_body files go */
const char *spool_body_dir(const struct spool *sp);
/* spool_started - unix time of spool_open: messages that arrived before
   may have a delivered copy made before a crash */
int64_t	spool_started(const struct spool *sp);

/* spool_msg_new / _free - a message being built by a session */
struct spool_msg *spool_msg_new(void);
void	spool_msg_free(struct spool_msg *msg);
/* spool_msg_add_rcpt - append a recipient (strings are copied) */
void	spool_msg_add_rcpt(struct spool_msg *msg, const char *addr,
	    const char *orig, const char *orcpt, unsigned notify,
	    enum spool_transport transport);

/* --- transactions (the queue manager's thread only) ------------------- */

/* spool_sync_body_dir - fsync the body directory (new body files' names) */
int	spool_sync_body_dir(struct spool *sp, struct err *err);
/* spool_begin - open a transaction; durable: its commit is fsynced
   (synchronous = FULL), else it is ordered only (NORMAL) */
int	spool_begin(struct spool *sp, bool durable, struct err *err);
int	spool_commit(struct spool *sp, struct err *err);
/* spool_rollback - give the open transaction up */
void	spool_rollback(struct spool *sp);
/* spool_txn_lost - after a failed statement: SQLite rolled the whole
   transaction back itself (disk full, I/O error, out of memory), so
   nothing more may run in it */
bool	spool_txn_lost(struct spool *sp);

/* spool_store_msg - the rows of one message; on failure none of them
   (a savepoint), and the transaction goes on */
int	spool_store_msg(struct spool *sp, const struct spool_msg *msg,
	    struct err *err);

/* one row of tenant_usage: what a tenant sent in one window */
struct spool_usage {
	const char	*tenant;
	int64_t		 period;	/* 3600 or 86400 */
	int64_t		 window_start;	/* unix time, UTC */
	int64_t		 messages;
	int64_t		 recipients;
};
/* spool_usage_load - every row with window_start >= since, fn(arg, u)
   (spool_store_msg counts a message with a tenant in its hour and day
   windows, by arrival) */
int	spool_usage_load(struct spool *sp, int64_t since,
	    void (*fn)(void *, const struct spool_usage *), void *arg,
	    struct err *err);

/* what the queue manager needs of a recipient to apply an outcome */
struct spool_rcpt_state {
	bool		 warned;	/* a delay report was sent */
	unsigned	 notify;	/* enum smtp_notify bits */
	char		*orig;
	char		*orcpt;		/* or NULL */
};
/* spool_rcpt_get - 1 with *out filled (free with spool_rcpt_state_fini),
   0 when the recipient is gone (relais queue delete), -1 on error */
int	spool_rcpt_get(struct spool *sp, uint64_t rcpt_id,
	    struct spool_rcpt_state *out, struct err *err);
void	spool_rcpt_state_fini(struct spool_rcpt_state *st);
/* spool_rcpt_defer - one more failed attempt (counted when attempt; a
   site's shaping defers without one); next attempt at retry_at if > 0,
   else now + min(retry_min * 2^attempts, retry_max). site: the
   destination site the result names (NULL or "": the recipient keeps
   the one it had) */
int	spool_rcpt_defer(struct spool *sp, uint64_t rcpt_id, int64_t now,
	    const char *reply, int64_t retry_min, int64_t retry_max,
	    int64_t retry_at, bool warned, const char *site, bool attempt,
	    struct err *err);
/* spool_rcpt_settle - delivered or bounced for good (site: as above) */
int	spool_rcpt_settle(struct spool *sp, uint64_t rcpt_id,
	    enum spool_status status, int64_t now, const char *reply,
	    const char *site, struct err *err);
/* spool_rcpt_lease - taken by a delivery: not due again until its
   outcome (or the next start) */
int	spool_rcpt_lease(struct spool *sp, uint64_t rcpt_id, struct err *err);

/* spool_msg_finish - if no recipient of msg_id is left to deliver, delete
   its rows: *removed, its qid in qid_out and whether it has a body file
   (to unlink with spool_body_remove once the transaction is committed) */
int	spool_msg_finish(struct spool *sp, int64_t msg_id, bool *removed,
	    char qid_out[ID_QID_LEN + 1], bool *body_file, struct err *err);
/* spool_body_remove - unlink the body file of a removed message */
void	spool_body_remove(struct spool *sp, const char *qid);

/* a due recipient with its message, valid during the scan's callback */
struct spool_due {
	uint64_t		 rcpt_id;
	int64_t			 msg_id;
	const char		*addr;
	const char		*orig;
	const char		*orcpt;		/* or NULL */
	unsigned		 notify;
	enum spool_transport	 transport;
	int			 attempts;
	const char		*qid;
	const char		*sender;
	const char		*envid;		/* or NULL */
	int64_t			 arrival;
	uint64_t		 size;
	bool			 body_file;	/* body in spool/bodies/QID */
	int			 ret;
	bool			 smtputf8;
	bool			 body8;
	bool			 junk;
	const char		*pool;		/* [pool NAME] or NULL */
	int			 priority;	/* SPOOL_PRIORITY_* */
	bool			 requiretls;	/* RFC 8689 */
	bool			 tls_optional;
	void			*row;		/* for spool_due_text */
};
/* spool_due_fn - one row; returning -1 stops the scan */
typedef int spool_due_fn(void *arg, const struct spool_due *due);
/* spool_due_scan - the recipients due at now, at most limit: those of
   high priority first, then the others, each oldest first; *rows says
   how many were seen */
int	spool_due_scan(struct spool *sp, int64_t now, size_t limit,
	    spool_due_fn *fn, void *arg, size_t *rows, struct err *err);
/* spool_due_text - the stored prefix and text of a due row's message
   kept in the row (not body_file), NUL-terminated, malloc'd; read only
   for the rows that need it */
char	*spool_due_text(const struct spool_due *due, size_t *len);

/* a stored message, for a delivery status report about it */
struct spool_stored {
	char		 qid[ID_QID_LEN + 1];
	char		*sender;
	char		*envid;		/* or NULL */
	int		 ret;
	int64_t		 arrival;
	bool		 requiretls;	/* MAIL FROM ... REQUIRETLS */
	struct buf	 text;		/* prefix and text as stored */
};
/* spool_msg_read - 1 with *out filled (free with spool_stored_fini), 0
   when the message is gone, -1 on error; an unreadable body file leaves
   what could be read */
int	spool_msg_read(struct spool *sp, int64_t msg_id,
	    struct spool_stored *out, struct err *err);
void	spool_stored_fini(struct spool_stored *st);

/* --- events, suppressions, named values (spool_events.c) -------------- */

/* one event of a recipient's life; strings may be NULL */
struct spool_event {
	int64_t		 id;		/* the cursor; 0 when adding */
	int64_t		 ts;
	const char	*type;		/* received delivered deferred bounced
					   expired suppressed */
	const char	*qid;
	const char	*rcpt;
	const char	*sender;
	const char	*status;	/* enhanced status code */
	const char	*reply;		/* the remote or local reply */
	const char	*relay;
	const char	*tags;		/* reading: the message's JSON, or NULL */
	const char	*metadata;
};
/* spool_event_add - record ev (in the open transaction) */
int	spool_event_add(struct spool *sp, const struct spool_event *ev,
	    struct err *err);
/* spool_suppress_set - add (reason, source) or remove addr; *changed
   says whether the list changed */
int	spool_suppress_set(struct spool *sp, const char *addr, bool add,
	    int64_t now, const char *reason, const char *source, bool *changed,
	    struct err *err);
/* spool_suppress_load - every suppressed address, fn(arg, addr) */
int	spool_suppress_load(struct spool *sp, void (*fn)(void *, const char *),
	    void *arg, struct err *err);
/* spool_var_get / _set - named integers (table meta): 0 when unset */
int	spool_var_get(struct spool *sp, const char *name, int64_t *value,
	    struct err *err);
int	spool_var_set(struct spool *sp, const char *name, int64_t value,
	    struct err *err);
/* rows spool_prune deletes of each kind at most */
#define SPOOL_PRUNE_STEP	5000
/* tenant_usage rows are kept this long (relais stats reads them) */
#define SPOOL_USAGE_KEEP	(8 * 86400)
/* spool_prune - events older than events_before and with an id up to
   events_upto (consumed), API answers and message metadata older than
   idem_before, tenant usage older than SPOOL_USAGE_KEEP; *n says how many
   rows went */
int	spool_prune(struct spool *sp, int64_t events_before, int64_t events_upto,
	    int64_t idem_before, int64_t *n, struct err *err);

/* queue actions on one message, by queue id (the API's; relais queue
   runs the same SQL on its own connection) */
enum spool_act {
	SPOOL_ACT_FLUSH,	/* due now */
	SPOOL_ACT_HOLD,
	SPOOL_ACT_RELEASE,
	SPOOL_ACT_DELETE,	/* rows go; the body file after the commit */
};
/* spool_queue_act - *n: recipients changed (0 is not an error); for
   SPOOL_ACT_DELETE, *body_file says a body file is to be unlinked once
   the transaction is committed */
int	spool_queue_act(struct spool *sp, const char *qid, enum spool_act act,
	    int64_t now, int *n, bool *body_file, struct err *err);
/* spool_pending - the recipients of qid still to deliver and not in a
   delivery now, as outcomes to fill: fn(arg, res) with rcpt_id, msg_id,
   qid, addr, arrival set */
int	spool_pending(struct spool *sp, const char *qid,
	    void (*fn)(void *, const struct spool_result *), void *arg,
	    struct err *err);

/* the queue's size (spool_stats.c) */
struct spool_queue_stats {
	uint64_t	 rcpts;		/* recipients waiting, leased or held */
	int64_t		 oldest_arrival; /* of their messages; 0: none */
};
/* spool_queue_stats - count them (the queue manager's thread, outside a
   transaction); a few index scans, cost in proportion to the queue */
int	spool_queue_stats(struct spool *sp, struct spool_queue_stats *out,
	    struct err *err);

/* --- destination sites (spool_sites.c) ------------------------------- */

/* meta's counter of the operator's changes to sites */
#define SPOOL_SITES_GEN		"sites_gen"
/* spool_reader_sites' groups of local recipients, and of remote ones
   whose site is not known yet (no result, or the agent named none) */
#define SPOOL_SITE_LOCAL	"(local)"
#define SPOOL_SITE_UNKNOWN	"(unknown)"

/* a site's row (docs/shaping.md); strings may be NULL when reading */
struct spool_site {
	const char	*site;
	int64_t		 suspended_until;	/* 0: not suspended */
	bool		 manual;		/* the operator's */
	const char	*reason;
	double		 rate;			/* messages/s now, 0: no limit */
	double		 rate_max;		/* configured, 0: none */
	int64_t		 updated;		/* unix time of the last change */
	/* spool_reader_sites only */
	bool		 known;			/* the site has a row */
	uint64_t	 queued;		/* recipients still to deliver */
	int64_t		 oldest_arrival;	/* of their messages, 0: none */
};
/* spool_site_put - the agent's state of s->site, as reported (in the
   open transaction) */
int	spool_site_put(struct spool *sp, const struct spool_site *s,
	    struct err *err);
/* spool_site_wake - the queued recipients of site that wait for a later
   time are due at now (a resumed site) */
int	spool_site_wake(struct spool *sp, const char *site, int64_t now,
	    struct err *err);
/* spool_site_operator - the operator suspends site until (unix time; 0
   resumes it): the row with manual = 1, meta sites_gen bumped and the
   row stamped with it (in the open transaction) */
int	spool_site_operator(struct spool *sp, const char *site, int64_t until,
	    const char *reason, int64_t now, struct err *err);
/* spool_site_changes - after < 0: the operator's suspensions in force at
   now; else the rows the operator changed after generation after */
int	spool_site_changes(struct spool *sp, int64_t after, int64_t now,
	    void (*fn)(void *, const struct spool_site *), void *arg,
	    struct err *err);
/* spool_site_prune - rows not changed since before and not suspended */
int	spool_site_prune(struct spool *sp, int64_t before, int64_t now,
	    struct err *err);

/* --- TLS-RPT counts (spool_tlsrpt.c) ---------------------------------- */

struct spool_reader;

/* one counted key of a day (RFC 8460 names for the type and result);
   strings are never NULL when read */
struct spool_tlsrpt {
	const char	*day;		/* YYYY-MM-DD, UTC */
	const char	*domain;	/* the policy domain */
	const char	*policy_type;	/* "sts", "tlsa", "no-policy-found" */
	const char	*policy;	/* the policy strings joined by LF */
	const char	*mx_host;
	const char	*sending_ip;
	const char	*receiving_ip;
	const char	*result;	/* "success" or a result-type */
	const char	*detail;
	uint64_t	 count;
};
/* spool_tlsrpt_add - add rows[0..n) to their keys' counts (in the open
   transaction) */
int	spool_tlsrpt_add(struct spool *sp, const struct spool_tlsrpt *rows,
	    size_t n, struct err *err);
/* spool_tlsrpt_delete - the counts of day, of one domain (NULL: all),
   once reported */
int	spool_tlsrpt_delete(struct spool *sp, const char *day,
	    const char *domain, struct err *err);
/* spool_tlsrpt_prune - counts of days before `before` (never reported),
   and requests answered before asked_before */
int	spool_tlsrpt_prune(struct spool *sp, const char *before,
	    int64_t asked_before, struct err *err);
/* spool_tlsrpt_answer - the request (day, asked) is done, result says
   how (relais tls report --send prints it) */
int	spool_tlsrpt_answer(struct spool *sp, const char *day, int64_t asked,
	    const char *result, struct err *err);
/* spool_reader_tlsrpt_day - the counts of day, by domain; fn returning
   -1 stops */
int	spool_reader_tlsrpt_day(struct spool_reader *rd, const char *day,
	    int (*fn)(void *, const struct spool_tlsrpt *), void *arg,
	    struct err *err);
/* spool_reader_tlsrpt_days - the days with counts before `before`,
   oldest first */
int	spool_reader_tlsrpt_days(struct spool_reader *rd, const char *before,
	    int (*fn)(void *, const char *), void *arg, struct err *err);
/* spool_reader_tlsrpt_requests - the requests not answered yet: fn(arg,
   day, asked), oldest first */
int	spool_reader_tlsrpt_requests(struct spool_reader *rd,
	    int (*fn)(void *, const char *, int64_t), void *arg,
	    struct err *err);

/* --- MTA-STS policies (spool_sts.c) ----------------------------------- */

/* one policy of table sts_policies (strings borrowed) */
struct spool_sts {
	const char	*domain;	/* the policy domain, lower case */
	const char	*id;		/* the TXT id it was fetched for */
	const char	*policy;	/* its lines, LF-separated */
	int64_t		 fetched;	/* unix time */
	int64_t		 expires;	/* fetched + max_age */
};
/* spool_sts_put - keep p (replacing the domain's row), and drop the rows
   expired at now (in the open transaction) */
int	spool_sts_put(struct spool *sp, const struct spool_sts *p, int64_t now,
	    struct err *err);
/* spool_sts_delete - forget domain's policy (in the open transaction) */
int	spool_sts_delete(struct spool *sp, const char *domain,
	    struct err *err);

/* --- reading from other threads (spool_reader.c) ---------------------- */

/* a read-only connection of its own, for one thread at a time */
struct spool_reader;
struct spool_reader *spool_reader_open(const char *data_dir,
	    struct err *err);
void	spool_reader_close(struct spool_reader *rd);
/* spool_reader_text - the stored prefix and text of message msg_id
   (qid, body_file: from its row), NUL-terminated, malloc'd in *data */
int	spool_reader_text(struct spool_reader *rd, int64_t msg_id,
	    const char *qid, bool body_file, char **data, size_t *len,
	    struct err *err);

/* --- queries for the HTTP API, on a reader (spool_query.c) ------------ */

/* events after since, oldest first, at most limit; fn returning -1
   stops */
int	spool_reader_events(struct spool_reader *rd, int64_t since, size_t limit,
	    int (*fn)(void *, const struct spool_event *), void *arg,
	    struct err *err);
/* spool_reader_events_last - the newest event's id (0: none kept) */
int	spool_reader_events_last(struct spool_reader *rd, int64_t *id_out,
	    struct err *err);
/* spool_reader_var - a named integer (0 when unset) */
int	spool_reader_var(struct spool_reader *rd, const char *name,
	    int64_t *value, struct err *err);
/* spool_reader_count - recipients still to deliver (queued or in a
   delivery) and held */
int	spool_reader_count(struct spool_reader *rd, int64_t *queued,
	    int64_t *held, struct err *err);
/* spool_reader_idem - 1 with the stored answer (malloc'd) for key, 0 if
   none */
int	spool_reader_idem(struct spool_reader *rd, const char *key, int *status,
	    char **answer, struct err *err);
/* spool_reader_suppressed - is addr on the list */
int	spool_reader_suppressed(struct spool_reader *rd, const char *addr,
	    bool *out, struct err *err);
struct spool_suppression {
	const char	*addr;
	int64_t		 ts;
	const char	*reason;
	const char	*source;
};
/* the list in address order, after (exclusive, "" for the start) */
int	spool_reader_suppressions(struct spool_reader *rd, const char *after,
	    size_t limit, int (*fn)(void *, const struct spool_suppression *),
	    void *arg, struct err *err);

/* spool_reader_sites - the queue by site, in site order: the
   recipients still to deliver grouped by site (SPOOL_SITE_UNKNOWN,
   SPOOL_SITE_LOCAL for those without one) with the
   site's row, then the rows of sites with nothing queued; fn returning
   -1 stops */
int	spool_reader_sites(struct spool_reader *rd,
	    int (*fn)(void *, const struct spool_site *), void *arg,
	    struct err *err);

/* spool_reader_sts - the policies not expired at now, newest first, at
   most limit: fn(arg, row) each */
int	spool_reader_sts(struct spool_reader *rd, int64_t now, size_t limit,
	    void (*fn)(void *, const struct spool_sts *), void *arg,
	    struct err *err);

/* a message and its recipients, as the queue shows them */
struct spool_qmsg {
	int64_t		 id;
	const char	*qid;
	const char	*sender;
	int64_t		 arrival;
	int64_t		 size;
	const char	*client;
	const char	*listener;
	bool		 requiretls;	/* RFC 8689 */
	bool		 tls_optional;	/* "TLS-Required: No" */
};
struct spool_qrcpt {
	const char	*addr;
	const char	*state;		/* queued active held delivered
					   bounced */
	int		 attempts;
	int64_t		 next_attempt;
	int64_t		 last_attempt;
	const char	*last_reply;
	const char	*site;		/* destination site, or NULL */
};
/* spool_reader_message - 1 and msg_fn once then rcpt_fn per recipient,
   0 if qid is not in the queue */
int	spool_reader_message(struct spool_reader *rd, const char *qid,
	    void (*msg_fn)(void *, const struct spool_qmsg *),
	    void (*rcpt_fn)(void *, const struct spool_qrcpt *), void *arg,
	    struct err *err);
/* spool_reader_queue - the queue like relais queue list: one row per
   recipient still to deliver, in arrival order, starting after the
   message with row id after (0: the start), at most limit messages;
   *next gets the cursor for the next page (0 at the end) */
int	spool_reader_queue(struct spool_reader *rd, int64_t after, size_t limit,
	    void (*fn)(void *, const struct spool_qmsg *,
	    const struct spool_qrcpt *), void *arg, int64_t *next,
	    struct err *err);

#endif
