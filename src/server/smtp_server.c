/* SPDX-License-Identifier: ISC */
/*
 * smtp_server.c - the inbound SMTP session: RFC 5321 with PIPELINING
 * (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531),
 * ENHANCEDSTATUSCODES (RFC 2034/3463), CHUNKING (RFC 3030) and, on TLS
 * sessions, REQUIRETLS (RFC 8689).
 *
 * Organisation: input arrives in the bufferevent's input buffer, bounded
 * by a read high-water mark. smtp_server_process() takes out as much as it
 * can: command lines (framed here: only CRLF ends a line; a bare CR or LF,
 * or a line over 512 octets, is refused without being interpreted), or
 * message text fed to the pure smtp_data scanner. Each verb has a row in
 * smtp_server_cmds[]: the states it is allowed in and its handler. At the
 * end of the message the session hands it to the queue manager and stops
 * reading commands until it answers (by session id, through the worker's
 * inbox); only then is the 250 sent. With milters (server/milter.c) the
 * greeting, HELO, MAIL, RCPT, DATA and the end of the message first wait
 * in state MILTER for their answer; their changes to the message are made
 * before it goes to the queue manager.
 *
 * On a listener with proxy_protocol the session first reads the PROXY
 * header (net/proxy_read.c; nothing is sent or handshaken before it) and
 * takes the client it names for its own address: limits, trust, SPF,
 * Received:, milters and logs see that client, never the proxy.
 *
 * Everything a client sends becomes a reply and a state change, never a
 * log severity above info: memory per session is bounded by the input
 * high-water mark, the output low-water mark check, SMTP_CMD_LINE_MAX and
 * the message size limit.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "auth/passwd_check.h"
#include "auth/passwd_file.h"
#include "auth/sasl.h"
#include "conf/alias.h"
#include "core/buf.h"
#include "core/drain.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/sys.h"
#include "core/version.h"
#include "core/xalloc.h"
#include "deliver/deliver_remote.h"
#include "deliver/local.h"
#include "live/conf_live.h"
#include "msgauth/dkim.h"
#include "msgauth/dmarc.h"
#include "msgauth/msgauth.h"
#include "net/bufout.h"
#include "net/listen.h"
#include "net/proxy_read.h"
#include "net/tls.h"
#include "net/worker.h"
#include "policy/cluster.h"
#include "policy/limits.h"
#include "policy/quota.h"
#include "policy/suppress.h"
#include "queue/qmgr.h"
#include "server/milter.h"
#include "server/smtp_server.h"
#include "smtp/milter_hdr.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_header.h"
#include "smtp/smtp_param.h"
#include "smtp/smtp_parse.h"
#include "smtp/smtp_path.h"
#include "spool/spool.h"

#define SMTP_INPUT_HIGH		(256 * 1024)	/* read high-water mark */
#define SMTP_OUTPUT_HIGH	(64 * 1024)	/* stop reading commands */
#define SMTP_HEADER_MAX		(64 * 1024)	/* header section looked at
						   for Date:/Message-ID: */
#define SMTP_MILTER_HDR_MAX	(1024 * 1024)	/* header section milters
						   see and edit */
#define SMTP_PROXY_TIMEOUT	10		/* seconds for the PROXY
						   header */

enum smtp_state {
	SMTP_STATE_CONNECTED = 1 << 0,	/* before HELO/EHLO */
	SMTP_STATE_READY = 1 << 1,	/* after HELO, no transaction */
	SMTP_STATE_MAIL = 1 << 2,	/* MAIL given, no recipient yet */
	SMTP_STATE_RCPT = 1 << 3,	/* at least one recipient */
	SMTP_STATE_DATA = 1 << 4,	/* reading DATA text */
	SMTP_STATE_BDAT = 1 << 5,	/* between BDAT chunks */
	SMTP_STATE_COMMIT = 1 << 6,	/* waiting for the commit */
	SMTP_STATE_CLOSING = 1 << 7,	/* flushing the last reply */
	SMTP_STATE_AUTH = 1 << 8,	/* reading SASL responses */
	SMTP_STATE_AUTHWAIT = 1 << 9,	/* waiting for the password check */
	SMTP_STATE_STARTTLS = 1 << 10,	/* flushing 220, then the handshake */
	SMTP_STATE_CHECK = 1 << 11,	/* SPF/DKIM/DMARC of the message */
	SMTP_STATE_MILTER = 1 << 12,	/* the milters look at an event */
	SMTP_STATE_CLUSTER = 1 << 13,	/* Redis checks a shared limit */
};

/* what the session does with the cluster's answer */
enum smtp_cluster_next {
	SMTP_CLUSTER_GREET,	/* a ban, the cluster's connection rate */
	SMTP_CLUSTER_MAIL,	/* the user's daily limit */
	SMTP_CLUSTER_RCPT,	/* the tenant's quota */
};

/* what the session does with the milters' answer */
enum smtp_milter_next {
	SMTP_MILTER_GREET,
	SMTP_MILTER_HELO,
	SMTP_MILTER_MAIL,
	SMTP_MILTER_RCPT,
	SMTP_MILTER_DATA,
	SMTP_MILTER_BDAT,
	SMTP_MILTER_EOM,
};

/* states in which input waits: an answer or a switch is pending */
#define SMTP_STATE_WAITING	(SMTP_STATE_COMMIT | SMTP_STATE_CLOSING | \
				 SMTP_STATE_AUTHWAIT | SMTP_STATE_STARTTLS | \
				 SMTP_STATE_CHECK | SMTP_STATE_MILTER | \
				 SMTP_STATE_CLUSTER)

#define SMTP_STATE_SESSION	(SMTP_STATE_READY | SMTP_STATE_MAIL | \
				 SMTP_STATE_RCPT)
#define SMTP_STATE_ANY		(SMTP_STATE_CONNECTED | SMTP_STATE_SESSION)

struct smtp_session {
	struct msgauth_check	*mac;		/* SPF/DKIM/DMARC running */
	uint64_t		 id;
	struct worker		*w;
	struct conf_snap	*snap;
	const struct conf	*conf;
	struct bufferevent	*bev;
	char			 ip[INET6_ADDRSTRLEN];
	char			 port[8];	/* the client's */
	char			 local_ip[INET6_ADDRSTRLEN];	/* ours (the
						   PROXY header's destination,
						   else looked up when needed) */
	char			 proxy_ip[INET6_ADDRSTRLEN];	/* the proxy
						   that sent a PROXY header */
	struct proxy_read	*proxy;		/* reading that header */
	char			 client_desc[INET6_ADDRSTRLEN + 16];
	char			 listener[64];
	enum conf_role		 role;
	enum conf_tls		 tls_mode;	/* the listener's tls */
	bool			 trusted;
	bool			 loopback;	/* 127.0.0.0/8, ::1 */
	bool			 counted;	/* in the limits tables */
	bool			 tls;		/* TLS on (or handshaking) */
	bool			 tls_up;	/* a handshake completed */
	bool			 direct;	/* plain socket: replies written
						   here, not by the bufferevent */
	unsigned		 cork;		/* turns in progress */
	evutil_socket_t		 fd;
	struct event		*life;		/* max_session_time */

	struct sasl		*sasl;		/* during AUTH */
	char			*auth_try;	/* login being checked */
	char			*auth_user;	/* authenticated login */
	const char		*auth_mech;	/* its mechanism */
	bool			 hdr_fix;	/* add Date:/Message-ID: */
	bool			 hdr_ours;	/* take X-Relais-Priority: and
						   X-Relais-Pool: (trusted or
						   authenticated client) */
	bool			 hdr_tlsreq;	/* look for "TLS-Required: No"
						   (RFC 8689 5) */
	bool			 hdr_pending;	/* header section buffered */
	struct buf		 hdr;
	size_t			 hdr_scan;

	enum smtp_state		 state;
	bool			 esmtp;
	char			 helo[256];
	unsigned		 errors;
	bool			 skipping;	/* discarding an overlong line */
	bool			 stopping;	/* SIGTERM: 421 when idle */

	/* the transaction */
	struct spool_msg	*msg;
	struct smtp_mail_params	 mp;
	unsigned		 nrcpts;	/* accepted RCPT commands */
	bool			 rcpt_tried;	/* some RCPT, maybe refused */
	char			 last_rcpt[SMTP_PATH_MAX + 1];
	struct smtp_data	 data;
	uint64_t		 text_size;	/* octets of text received */
	bool			 too_big;
	bool			 write_failed;
	bool			 write_full;	/* ... with ENOSPC or EDQUOT */
	uint64_t		 bdat_left;	/* octets of the chunk to come */
	bool			 bdat_last;
	const char		*bdat_reject;	/* refusal for the chunk being
						   discarded, or NULL */

	/* what the log line and the 250 need once the spool owns the msg */
	char			 commit_qid[ID_QID_LEN + 1];
	char			*commit_from;
	uint64_t		 commit_size;
	size_t			 commit_rcpts;
	const char		*commit_tls;	/* RFC 8689 flags for the log:
						   requiretls=yes or
						   tls_required=no, or "" */

	/* milters (server/milter.c) */
	struct milter_chain	*milter;	/* NULL: none for the listener */
	int			 milter_next;	/* enum smtp_milter_next */
	enum smtp_state		 milter_prev;	/* state to go back to */
	char			*milter_deny;	/* the connection was refused:
						   MAIL gets this reply */
	bool			 milter_discard; /* accept the message, drop it */
	struct milter_msg	*milter_msg;	/* the end of the message */
	bool			 milter_sep;	/* its header section ended with
						   an empty line */
	/* a command the milters are looking at */
	struct local_targets	 p_targets;	/* RCPT */
	char			*p_orig;
	char			*p_orcpt;
	unsigned		 p_notify;
	uint64_t		 p_bdat_size;	/* BDAT */
	bool			 p_bdat_last;
	char			 bdat_reply[1024]; /* a milter's refusal of it */
	char			 cipher_bits[16];

	/* [cluster] (policy/cluster.h): the pending check, what it holds */
	struct cluster_op	*cl_op;
	int			 cl_next;	/* enum smtp_cluster_next */
	enum smtp_state		 cl_prev;	/* state to go back to */
	char			*cl_params;	/* MAIL's parameters */
	bool			 cl_greeted;	/* ban checked */
	bool			 cl_user_held;	/* a message of the user's
						   daily limit reserved */
	int64_t			 cl_user_hour;
	char			*cl_q_tenant;	/* its tenant */
	unsigned		 cl_q_msgs;	/* tenant quota reserved in */
	unsigned		 cl_q_rcpts;	/* Redis for this message */
	unsigned		 cl_ask_msgs;	/* ... asked by the check */
	unsigned		 cl_ask_rcpts;
};

struct smtp_server_cmd {
	enum smtp_verb	verb;
	unsigned	states;		/* enum smtp_state bits allowed */
	void		(*run)(struct smtp_session *, const struct smtp_cmd *);
};

static void	smtp_server_process(struct smtp_session *s);
static void	smtp_server_read_gate(struct smtp_session *s);
static void	smtp_server_reply(struct smtp_session *s, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
static void	smtp_server_close(struct smtp_session *s);
static void	smtp_server_reset(struct smtp_session *s);
static void	smtp_server_timeouts(struct smtp_session *s);
static void	smtp_server_bdat_done(struct smtp_session *s);
static void	smtp_server_msgauth(struct smtp_session *s);
static void	smtp_server_auth_done(struct smtp_session *s, int status,
		    void *data);
static void	smtp_server_auth_end(struct smtp_session *s);
static void	smtp_server_tls_switch(struct smtp_session *s);
static void	smtp_server_spool_done(struct smtp_session *s, int status,
		    void *data);
static void	smtp_server_milter_wait(struct smtp_session *s, int next,
		    enum smtp_state prev);
static void	smtp_server_milter_done(void *arg,
		    const struct milter_verdict *v);
static const char *smtp_server_macro(void *arg, const char *name);
static size_t	smtp_server_milter_argv(const char *first, struct str params,
		    char *store, size_t storelen, const char **argv,
		    size_t max);
static void	smtp_server_filter(struct smtp_session *s);
static void	smtp_server_sign_commit(struct smtp_session *s);
static void	smtp_server_helo_reply(struct smtp_session *s);
static void	smtp_server_rcpt_add(struct smtp_session *s,
		    struct local_targets *targets, const char *orig,
		    const char *orcpt, unsigned notify);
static void	smtp_server_data_go(struct smtp_session *s);
static void	smtp_server_bdat_go(struct smtp_session *s, uint64_t size,
		    bool last, bool first);
static void	smtp_server_greet(struct smtp_session *s);
static void	smtp_server_cluster_release(struct smtp_session *s);
static void	smtp_server_cluster_wait(struct smtp_session *s, int next);
static void	smtp_server_cluster_done(void *arg, enum cluster_answer a,
		    long value);
static void	smtp_server_mail_go(struct smtp_session *s,
		    struct str params);
static void	smtp_server_rcpt_finish(struct smtp_session *s,
		    struct local_targets *targets, const char *orig,
		    const char *orcpt, unsigned notify);

static bool	smtp_server_header_has(const struct smtp_session *s,
		    size_t end, const char *name);
static void	smtp_server_header_text(struct smtp_session *s,
		    const char *p, size_t n);
static const char *smtp_server_sequence_error(const struct smtp_session *s,
		    enum smtp_verb v);
static void	smtp_server_cmd_helo(struct smtp_session *,
		    const struct smtp_cmd *);
static void	smtp_server_cmd_mail(struct smtp_session *,
		    const struct smtp_cmd *);
static void	smtp_server_cmd_rcpt(struct smtp_session *,
		    const struct smtp_cmd *);
static void	smtp_server_cmd_data(struct smtp_session *,
		    const struct smtp_cmd *);
static void	smtp_server_cmd_bdat(struct smtp_session *,
		    const struct smtp_cmd *);
static void	smtp_server_cmd_rset(struct smtp_session *,
		    const struct smtp_cmd *);
static void	smtp_server_cmd_noop(struct smtp_session *,
		    const struct smtp_cmd *);
static void	smtp_server_cmd_quit(struct smtp_session *,
		    const struct smtp_cmd *);
static void	smtp_server_cmd_vrfy(struct smtp_session *,
		    const struct smtp_cmd *);
static void	smtp_server_cmd_expn(struct smtp_session *,
		    const struct smtp_cmd *);
static void	smtp_server_cmd_help(struct smtp_session *,
		    const struct smtp_cmd *);
static void	smtp_server_cmd_starttls(struct smtp_session *,
		    const struct smtp_cmd *);
static void	smtp_server_cmd_auth(struct smtp_session *,
		    const struct smtp_cmd *);

static const struct smtp_server_cmd smtp_server_cmds[SMTP_CMD__COUNT] = {
	[SMTP_CMD_HELO] = { SMTP_CMD_HELO, SMTP_STATE_ANY,
	    smtp_server_cmd_helo },
	[SMTP_CMD_EHLO] = { SMTP_CMD_EHLO, SMTP_STATE_ANY,
	    smtp_server_cmd_helo },
	[SMTP_CMD_MAIL] = { SMTP_CMD_MAIL, SMTP_STATE_READY,
	    smtp_server_cmd_mail },
	[SMTP_CMD_RCPT] = { SMTP_CMD_RCPT, SMTP_STATE_MAIL | SMTP_STATE_RCPT,
	    smtp_server_cmd_rcpt },
	[SMTP_CMD_DATA] = { SMTP_CMD_DATA, SMTP_STATE_MAIL | SMTP_STATE_RCPT,
	    smtp_server_cmd_data },
	/* BDAT is taken in every state: its chunk must be read even when
	   the command is refused, or the chunk would be read as commands */
	[SMTP_CMD_BDAT] = { SMTP_CMD_BDAT, SMTP_STATE_ANY | SMTP_STATE_BDAT,
	    smtp_server_cmd_bdat },
	[SMTP_CMD_RSET] = { SMTP_CMD_RSET, SMTP_STATE_ANY | SMTP_STATE_BDAT,
	    smtp_server_cmd_rset },
	[SMTP_CMD_NOOP] = { SMTP_CMD_NOOP, SMTP_STATE_ANY | SMTP_STATE_BDAT,
	    smtp_server_cmd_noop },
	[SMTP_CMD_QUIT] = { SMTP_CMD_QUIT, SMTP_STATE_ANY | SMTP_STATE_BDAT,
	    smtp_server_cmd_quit },
	[SMTP_CMD_VRFY] = { SMTP_CMD_VRFY, SMTP_STATE_ANY,
	    smtp_server_cmd_vrfy },
	[SMTP_CMD_EXPN] = { SMTP_CMD_EXPN, SMTP_STATE_ANY,
	    smtp_server_cmd_expn },
	[SMTP_CMD_HELP] = { SMTP_CMD_HELP, SMTP_STATE_ANY | SMTP_STATE_BDAT,
	    smtp_server_cmd_help },
	[SMTP_CMD_STARTTLS] = { SMTP_CMD_STARTTLS, SMTP_STATE_ANY,
	    smtp_server_cmd_starttls },
	/* RFC 4954 4: after EHLO, never inside a mail transaction */
	[SMTP_CMD_AUTH] = { SMTP_CMD_AUTH, SMTP_STATE_READY,
	    smtp_server_cmd_auth },
};

/*
 * Output. A plain session keeps libevent's write event off: the replies of
 * a turn (one read's pipelined commands, a spool answer) collect in the
 * bufferevent's output and go out in one writev when the turn ends
 * (smtp_server_uncork). Only what the kernel would not take arms the
 * write event, until it has drained. A reply then costs one system call
 * instead of an epoll_ctl pair and a loop iteration. TLS sessions leave
 * all writing to their bufferevent.
 */

/* smtp_server_write_out - write pending output now (net/bufout.c) */
static void
smtp_server_write_out(struct smtp_session *s)
{
	if (s->direct)
		bufout_flush(s->bev);
}

static void
smtp_server_cork(struct smtp_session *s)
{
	s->cork++;
}

/* smtp_server_uncork - a turn ends: send what it said; a closing session
   with nothing left to send is freed (the caller must not touch it) */
static void
smtp_server_uncork(struct smtp_session *s)
{
	if (--s->cork > 0)
		return;
	smtp_server_write_out(s);
	if (s->state == SMTP_STATE_CLOSING &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		smtp_server_free(s);
}

static void
smtp_server_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	if (s->cork == 0)
		smtp_server_write_out(s);
}

/* smtp_server_error - count a client error; too many ends the session */
static void
smtp_server_error(struct smtp_session *s)
{
	if (++s->errors < s->conf->limits.max_errors_per_session)
		return;
	log_info("event=limit.max_errors_per_session session=%llu client=%s"
	    " errors=%u", (unsigned long long)s->id, s->ip, s->errors);
	smtp_server_reply(s, "421 4.7.0 %s Error: too many errors",
	    s->conf->server.hostname);
	smtp_server_close(s);
}

static void
smtp_server_reset(struct smtp_session *s)
{
	if (s->mac != NULL) {
		msgauth_check_cancel(s->mac);
		s->mac = NULL;
	}
	smtp_server_cluster_release(s);
	if (s->msg != NULL) {
		/* not handed to the queue manager: its quota goes back */
		if (s->msg->tenant != NULL && s->msg->nrcpts > 0)
			quota_release(s->msg->tenant, 1,
			    (unsigned)s->msg->nrcpts);
		spool_body_discard(&s->msg->body);
		spool_msg_free(s->msg);
		s->msg = NULL;
	}
	memset(&s->mp, 0, sizeof(s->mp));
	s->nrcpts = 0;
	s->rcpt_tried = false;
	s->last_rcpt[0] = '\0';
	s->text_size = 0;
	s->too_big = false;
	s->write_failed = false;
	s->write_full = false;
	s->bdat_left = 0;
	s->bdat_last = false;
	s->bdat_reject = NULL;
	buf_fini(&s->hdr);
	s->hdr_pending = false;
	s->hdr_scan = 0;
	/* the milters forget the transaction (those that saw its MAIL) */
	milter_abort(s->milter);
	s->milter_discard = false;
	if (s->milter_msg != NULL) {
		milter_msg_fini(s->milter_msg);
		free(s->milter_msg);
		s->milter_msg = NULL;
	}
	local_targets_fini(&s->p_targets);
	free(s->p_orig);
	free(s->p_orcpt);
	s->p_orig = s->p_orcpt = NULL;
	if (s->state & (SMTP_STATE_MAIL | SMTP_STATE_RCPT | SMTP_STATE_DATA |
	    SMTP_STATE_BDAT | SMTP_STATE_COMMIT | SMTP_STATE_CHECK |
	    SMTP_STATE_MILTER | SMTP_STATE_CLUSTER))
		s->state = SMTP_STATE_READY;
}

void
smtp_server_free(struct smtp_session *s)
{
	struct worker *w = s->w;

	idmap_del(&w->sessions, s->id);
	if (s->state == SMTP_STATE_COMMIT) {
		s->msg = NULL;		/* the queue manager owns it now */
		/* and its shared reservations (kept: it may be stored) */
		s->cl_user_held = false;
		s->cl_q_msgs = s->cl_q_rcpts = 0;
	}
	/* a check on its way: its answer goes nowhere (any reservation
	   it makes is given back) */
	cluster_cancel(s->cl_op);
	s->cl_op = NULL;
	free(s->cl_params);
	s->cl_params = NULL;
	/* first: nothing it runs may answer a session that goes */
	milter_chain_free(s->milter);
	s->milter = NULL;
	smtp_server_reset(s);
	smtp_server_auth_end(s);
	if (s->bev != NULL && s->tls && s->state != SMTP_STATE_STARTTLS) {
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

		/* close_notify, best effort: the socket is non-blocking */
		if (ssl != NULL && SSL_is_init_finished(ssl))
			(void)SSL_shutdown(ssl);
		ERR_clear_error();
	}
	if (s->bev != NULL)
		bufferevent_free(s->bev);	/* closes fd (and frees SSL) */
	else if (s->fd != -1)
		evutil_closesocket(s->fd);
	if (s->life != NULL)
		event_free(s->life);
	proxy_read_free(s->proxy);
	if (s->counted)
		limits_disconnect(s->ip);
	metrics_gauge_add(METRIC_SESSIONS_OPEN, s->listener, -1);
	metrics_count(s->tls_up ? METRIC_SESSIONS_TLS : METRIC_SESSIONS_PLAIN,
	    s->listener);
	log_debug("event=smtp.close session=%llu client=%s",
	    (unsigned long long)s->id, s->ip);
	conf_snap_unref(s->snap);
	free(s->milter_deny);
	free(s->commit_from);
	free(s->auth_try);
	free(s->auth_user);
	free(s);
	worker_check_done(w);
}

/* smtp_server_close - stop reading; free once the output is flushed (at
   once when nothing is left to send and no turn is in progress) */
static void
smtp_server_close(struct smtp_session *s)
{
	if (s->state == SMTP_STATE_COMMIT)
		s->msg = NULL;
	smtp_server_reset(s);
	s->state = SMTP_STATE_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (s->cork > 0)
		return;		/* the turn's end sends and frees */
	smtp_server_write_out(s);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		smtp_server_free(s);
}

static void
smtp_server_timeouts(struct smtp_session *s)
{
	struct timeval rt = { s->conf->limits.command_timeout, 0 };
	struct timeval wt = { s->conf->limits.command_timeout, 0 };

	if (s->state == SMTP_STATE_DATA || s->bdat_left > 0)
		rt.tv_sec = s->conf->limits.data_timeout;
	if (s->state & (SMTP_STATE_COMMIT | SMTP_STATE_AUTHWAIT |
	    SMTP_STATE_CHECK | SMTP_STATE_MILTER | SMTP_STATE_CLUSTER))
		rt.tv_sec = 0;
	bufferevent_set_timeouts(s->bev, rt.tv_sec ? &rt : NULL, &wt);
}

static void
smtp_server_read_cb(struct bufferevent *bev, void *arg)
{
	smtp_server_process(arg);
}

static void
smtp_server_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	/* a plain session's output has drained: the write event goes off */
	if (s->direct)
		bufout_drained(bev);
	if (s->state == SMTP_STATE_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			smtp_server_free(s);
		return;
	}
	if (s->state == SMTP_STATE_STARTTLS) {
		/* the 220 is with the kernel: the handshake may begin */
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			smtp_server_tls_switch(s);
		return;
	}
	/* output drained below the mark: go on with pipelined commands */
	smtp_server_process(s);
}

static void
smtp_server_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);

		s->tls_up = true;
		log_info("event=smtp.tls session=%llu client=%s version=%s"
		    " cipher=%s", (unsigned long long)s->id, s->ip,
		    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
		return;
	}
	if ((what & BEV_EVENT_ERROR) && s->tls) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		char msg[256];

		if (e != 0) {
			ERR_error_string_n(e, msg, sizeof(msg));
			log_info("event=smtp.tls.failed session=%llu client=%s"
			    " error=\"%s\"", (unsigned long long)s->id, s->ip,
			    msg);
			ERR_clear_error();
		}
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == SMTP_STATE_CLOSING) {
			smtp_server_free(s);
			return;
		}
		log_info("event=smtp.timeout session=%llu client=%s state=%d",
		    (unsigned long long)s->id, s->ip, s->state);
		smtp_server_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    s->conf->server.hostname);
		smtp_server_close(s);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (s->msg != NULL && s->state != SMTP_STATE_COMMIT)
			log_info("event=smtp.lost session=%llu client=%s"
			    " id=%s", (unsigned long long)s->id, s->ip,
			    s->msg->qid);
		smtp_server_free(s);
	}
}

/* smtp_server_is_loopback - 127.0.0.0/8, ::1 or ::ffff:127.x.y.z */
static bool
smtp_server_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
		    in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

/* smtp_server_life_cb - max_session_time is over */
static void
smtp_server_life_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	struct timeval again = { 1, 0 };

	if (s->state == SMTP_STATE_CLOSING)
		return;
	if (s->state & (SMTP_STATE_COMMIT | SMTP_STATE_AUTHWAIT |
	    SMTP_STATE_CHECK | SMTP_STATE_MILTER | SMTP_STATE_CLUSTER)) {
		evtimer_add(s->life, &again);	/* answer first */
		return;
	}
	log_info("event=limit.max_session_time session=%llu client=%s"
	    " seconds=%u", (unsigned long long)s->id, s->ip,
	    s->conf->limits.max_session_time);
	if (s->state != SMTP_STATE_STARTTLS)
		smtp_server_reply(s, "421 4.4.2 %s Error: session time limit"
		    " exceeded", s->conf->server.hostname);
	smtp_server_close(s);
}

/* smtp_server_refuse - 421 at connect, for a limit */
static void
smtp_server_refuse(struct smtp_session *s, enum limits_verdict v,
    unsigned ban_left)
{
	const char *why;

	log_info("event=limit.%s client=%s listener=%s%s", limits_verdict_name(v),
	    s->ip, s->listener, v == LIMITS_BANNED ? " banned=yes" : "");
	switch (v) {
	case LIMITS_TOO_MANY:
		why = "too many connections";
		break;
	case LIMITS_TOO_MANY_IP:
		why = "too many connections from your address";
		break;
	case LIMITS_RATE:
		why = "too many connections from your address per minute";
		break;
	default:
		why = "too many authentication failures from your address";
		break;
	}
	smtp_server_reply(s, "421 4.7.0 %s Error: %s, try again later",
	    s->conf->server.hostname, why);
	(void)ban_left;
	if (!s->direct)
		bufferevent_enable(s->bev, EV_WRITE);
	smtp_server_close(s);
}

/* smtp_server_unmap - ::ffff:a.b.c.d becomes a.b.c.d (port kept) */
static void
smtp_server_unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 in6;
	struct sockaddr_in in;

	if (ss->ss_family != AF_INET6)
		return;
	memcpy(&in6, ss, sizeof(in6));
	if (!IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr))
		return;
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = in6.sin6_port;
	memcpy(&in.sin_addr, &in6.sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &in, sizeof(in));
}

/* smtp_server_proxy_allowed - sa is one of the listener's proxy_from */
static bool
smtp_server_proxy_allowed(const struct conf_listener *l,
    const struct sockaddr *sa)
{
	for (size_t i = 0; i < l->nproxy_from; i++)
		if (conf_cidr_match(&l->proxy_from[i], sa))
			return true;
	return false;
}

/* smtp_server_addr_text - sa's address and port as text */
static void
smtp_server_addr_text(const struct sockaddr *sa, char *ip, size_t iplen,
    char *port, size_t portlen)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)iplen);
		snprintf(port, portlen, "%u", ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)iplen);
		snprintf(port, portlen, "%u", ntohs(in6->sin6_port));
	} else {
		snprintf(ip, iplen, "unknown");
		port[0] = '\0';
	}
}

/* smtp_server_local_ip - our address on the connection (the one the
   PROXY header names, else the socket's), looked up once */
static const char *
smtp_server_local_ip(struct smtp_session *s)
{
	struct sockaddr_storage local;
	socklen_t ll = sizeof(local);
	char port[8];

	if (s->local_ip[0] == '\0' &&
	    getsockname(s->fd, (struct sockaddr *)&local, &ll) == 0 &&
	    (local.ss_family == AF_INET || local.ss_family == AF_INET6))
		smtp_server_addr_text((struct sockaddr *)&local, s->local_ip,
		    sizeof(s->local_ip), port, sizeof(port));
	return s->local_ip;
}

/*
 * smtp_server_begin - the client is known (sa: the socket's peer, or the
 * one a PROXY header named): trust, TLS, limits, milters, greeting. Until
 * here a session on a proxy_protocol listener has sent nothing.
 */
static void
smtp_server_begin(struct smtp_session *s, const struct sockaddr *sa)
{
	struct worker *w = s->w;
	enum limits_verdict v;
	unsigned ban_left = 0;

	snprintf(s->client_desc, sizeof(s->client_desc), "unknown [%s]",
	    s->ip);
	s->trusted = conf_is_trusted(s->conf, sa);
	s->loopback = smtp_server_is_loopback(sa);

	if (s->tls_mode == CONF_TLS_IMPLICIT) {
		SSL *ssl = tls_server_ssl_new(s->snap->tls);

		if (ssl != NULL) {
			s->bev = bufferevent_openssl_socket_new(w->base, s->fd,
			    ssl, BUFFEREVENT_SSL_ACCEPTING,
			    BEV_OPT_CLOSE_ON_FREE);
			if (s->bev == NULL)
				SSL_free(ssl);
			else
				bufferevent_openssl_set_allow_dirty_shutdown(
				    s->bev, 1);
		}
		s->tls = true;
	} else {
		s->bev = bufferevent_socket_new(w->base, s->fd,
		    BEV_OPT_CLOSE_ON_FREE);
		s->direct = true;
		if (s->bev != NULL)
			bufout_take(s->bev);
	}
	if (s->bev == NULL) {
		s->tls = false;
		smtp_server_free(s);	/* closes fd */
		return;
	}
	bufferevent_setcb(s->bev, smtp_server_read_cb, smtp_server_write_cb,
	    smtp_server_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_HIGH);

	if (w->stopping) {
		smtp_server_reply(s, "421 4.3.2 %s Service shutting down",
		    s->conf->server.hostname);
		smtp_server_close(s);
		return;
	}
	if (drain_active()) {
		/* relais drain: the sessions already open finish, new ones
		   go to another node */
		log_info("event=smtp.refused session=%llu client=%s"
		    " listener=%s reason=draining", (unsigned long long)s->id,
		    s->ip, s->listener);
		smtp_server_reply(s, "421 4.3.2 %s Service not available:"
		    " this node is draining, try another",
		    s->conf->server.hostname);
		if (!s->direct)
			bufferevent_enable(s->bev, EV_WRITE);
		smtp_server_close(s);
		return;
	}
	v = limits_connect(s->ip, s->conf, &ban_left);
	if (v != LIMITS_OK) {
		smtp_server_refuse(s, v, ban_left);
		return;
	}
	s->counted = true;
	if (s->conf->limits.max_session_time > 0) {
		struct timeval tv = { s->conf->limits.max_session_time, 0 };

		s->life = evtimer_new(w->base, smtp_server_life_cb, s);
		evtimer_add(s->life, &tv);
	}
	log_info("event=smtp.connect session=%llu client=%s listener=%s%s%s%s",
	    (unsigned long long)s->id, s->ip, s->listener,
	    s->proxy_ip[0] ? " proxy=" : "", s->proxy_ip,
	    s->tls ? " tls=implicit" : "");
	{
		const char *const *servers;
		size_t n;

		servers = conf_listener_milters(s->conf, s->listener, &n);
		s->milter = milter_chain_new(w->base, s->conf, servers, n,
		    smtp_server_macro, s, s->id);
	}
	if (s->milter != NULL) {
		/* the greeting waits for the milters' word on the client */
		char host[INET6_ADDRSTRLEN + 2];

		(void)smtp_server_local_ip(s);
		snprintf(host, sizeof(host), "[%s]", s->ip);
		smtp_server_milter_wait(s, SMTP_MILTER_GREET,
		    SMTP_STATE_CONNECTED);
		milter_connect(s->milter, host, sa->sa_family,
		    (uint16_t)atoi(s->port), s->ip, smtp_server_milter_done, s);
	} else {
		smtp_server_greet(s);
	}
	smtp_server_timeouts(s);
	bufferevent_enable(s->bev, s->direct ? EV_READ : EV_READ | EV_WRITE);
}

/*
 * smtp_server_proxy_done - the PROXY header is read (or not). PROXY with
 * TCP4/TCP6 names the client: its address replaces the proxy's for
 * everything (limits, trust, SPF, Received:, logs, milters). LOCAL (the
 * proxy's health check) and UNSPEC/UNKNOWN keep the socket's. Anything
 * else closes the connection without a word: the peer is a proxy, not an
 * SMTP client.
 */
static void
smtp_server_proxy_done(void *arg, enum proxy_read_status st,
    const struct proxy_hdr *h, const char *why)
{
	struct smtp_session *s = arg;
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	const struct sockaddr *sa;

	proxy_read_free(s->proxy);
	s->proxy = NULL;
	if (st != PROXY_READ_DONE) {
		if (st == PROXY_READ_CLOSED && why == NULL)
			log_debug("event=proxy.closed session=%llu peer=%s"
			    " listener=%s", (unsigned long long)s->id,
			    s->proxy_ip, s->listener);
		else
			log_info("event=proxy.%s session=%llu peer=%s"
			    " listener=%s reason=\"%s\"",
			    st == PROXY_READ_TIMEOUT ? "timeout" : "bad",
			    (unsigned long long)s->id, s->proxy_ip,
			    s->listener, why != NULL ? why : "closed");
		smtp_server_free(s);
		return;
	}
	if (h->cmd == PROXY_CMD_PROXY && (h->family == PROXY_FAM_TCP4 ||
	    h->family == PROXY_FAM_TCP6)) {
		struct sockaddr_storage src = h->src, dst = h->dst;
		char port[8];

		/* a v4-mapped client is the v4 one, as on a v4 socket */
		smtp_server_unmap(&src);
		smtp_server_unmap(&dst);
		smtp_server_addr_text((struct sockaddr *)&src, s->ip,
		    sizeof(s->ip), s->port, sizeof(s->port));
		smtp_server_addr_text((struct sockaddr *)&dst, s->local_ip,
		    sizeof(s->local_ip), port, sizeof(port));
		peer = src;
	} else if (getpeername(s->fd, (struct sockaddr *)&peer, &pl) == -1) {
		log_info("event=proxy.bad session=%llu peer=%s listener=%s"
		    " reason=\"getpeername: %s\"", (unsigned long long)s->id,
		    s->proxy_ip, s->listener, strerror(errno));
		smtp_server_free(s);
		return;
	}
	sa = (const struct sockaddr *)&peer;
	log_debug("event=proxy.header session=%llu peer=%s version=%d"
	    " command=%s family=%s client=%s", (unsigned long long)s->id,
	    s->proxy_ip, h->version, h->cmd == PROXY_CMD_PROXY ? "proxy" :
	    "local", proxy_family_name(h->family), s->ip);
	smtp_server_begin(s, sa);
}

void
smtp_server_accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa,
    struct listen_sock *sock)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	const struct conf_listener *l = NULL;

	s->id = id_next();
	s->w = w;
	s->fd = fd;
	s->snap = conf_live_get(w->ctx->live);
	s->conf = s->snap->conf;
	s->state = SMTP_STATE_CONNECTED;
	snprintf(s->listener, sizeof(s->listener), "%s", sock->listener);
	s->role = CONF_ROLE_MX;
	s->tls_mode = CONF_TLS_NONE;
	for (size_t i = 0; i < s->conf->nlisteners; i++) {
		if (strcmp(s->conf->listeners[i].name, sock->listener) == 0) {
			l = &s->conf->listeners[i];
			s->role = l->role;
			s->tls_mode = l->tls;
		}
	}
	if (s->snap->tls == NULL)
		s->tls_mode = CONF_TLS_NONE;	/* a listener added by reload */
	smtp_server_addr_text(sa, s->ip, sizeof(s->ip), s->port,
	    sizeof(s->port));
	idmap_put(&w->sessions, s->id, s);
	metrics_gauge_add(METRIC_SESSIONS_OPEN, s->listener, 1);
	if (l == NULL || !l->proxy_protocol) {
		smtp_server_begin(s, sa);
		return;
	}
	/* a PROXY header first, from an allowed proxy only */
	memcpy(s->proxy_ip, s->ip, sizeof(s->proxy_ip));
	if (!smtp_server_proxy_allowed(l, sa)) {
		log_info("event=proxy.refused session=%llu peer=%s listener=%s",
		    (unsigned long long)s->id, s->proxy_ip, s->listener);
		smtp_server_free(s);
		return;
	}
	if (w->stopping || (s->proxy = proxy_read_start(w->base, fd,
	    SMTP_PROXY_TIMEOUT, smtp_server_proxy_done, s)) == NULL)
		smtp_server_free(s);
}

static void
smtp_server_greet(struct smtp_session *s)
{
	/* [cluster]: a ban another node set holds here too, and the
	   connection rate counts the whole cluster's connections */
	if (s->w->cluster != NULL && !s->cl_greeted &&
	    (s->conf->limits.auth_failures_per_ip > 0 ||
	    s->conf->limits.connections_per_ip_per_minute > 0)) {
		s->cl_greeted = true;
		s->cl_op = cluster_connect(s->w->cluster, s->ip,
		    s->conf->limits.connections_per_ip_per_minute,
		    smtp_server_cluster_done, s);
		if (s->cl_op != NULL) {
			smtp_server_cluster_wait(s, SMTP_CLUSTER_GREET);
			return;
		}
	}
	smtp_server_reply(s, "220 %s ESMTP relais", s->conf->server.hostname);
}

void
smtp_server_shutdown(struct smtp_session *s)
{
	s->stopping = true;
	if (s->bev == NULL) {
		smtp_server_free(s);	/* still reading a PROXY header */
		return;
	}
	if (s->state & (SMTP_STATE_DATA | SMTP_STATE_COMMIT | SMTP_STATE_CLOSING
	    | SMTP_STATE_AUTHWAIT | SMTP_STATE_CHECK | SMTP_STATE_MILTER |
	    SMTP_STATE_CLUSTER) || s->bdat_left > 0)
		return;		/* finishes its transaction first */
	if (s->state == SMTP_STATE_STARTTLS) {
		smtp_server_close(s);
		return;
	}
	smtp_server_reply(s, "421 4.3.2 %s Service shutting down",
	    s->conf->server.hostname);
	smtp_server_close(s);
}

/* --- commands ---------------------------------------------------------- */

/* smtp_server_starttls_offered - STARTTLS in EHLO and accepted */
static bool
smtp_server_starttls_offered(const struct smtp_session *s)
{
	return !s->tls && (s->tls_mode == CONF_TLS_OPTIONAL ||
	    s->tls_mode == CONF_TLS_REQUIRED);
}

/* smtp_server_auth_backend - something to check passwords against:
   Dovecot, or the users of [local] users */
static bool
smtp_server_auth_backend(const struct smtp_session *s)
{
	return s->conf->auth.backend == CONF_AUTH_DOVECOT ||
	    s->snap->users != NULL;
}

/* smtp_server_auth_offered - AUTH in EHLO and accepted: users to check
   against, and TLS (or plaintext on loopback when configured) */
static bool
smtp_server_auth_offered(const struct smtp_session *s)
{
	if (!smtp_server_auth_backend(s))
		return false;
	if (s->tls)
		return true;
	return s->conf->auth.allow_plaintext_loopback && s->loopback &&
	    s->tls_mode != CONF_TLS_REQUIRED;
}

static void
smtp_server_cmd_helo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	for (size_t i = 0; i < cmd->arg.len; i++) {
		unsigned char c = (unsigned char)cmd->arg.p[i];

		if (c <= ' ' || c == 0x7f) {
			smtp_server_reply(s, "501 5.5.4 Syntax: %s hostname",
			    cmd->verb == SMTP_CMD_EHLO ? "EHLO" : "HELO");
			smtp_server_error(s);
			return;
		}
	}
	smtp_server_reset(s);
	s->state = SMTP_STATE_READY;
	snprintf(s->helo, sizeof(s->helo), "%.*s", STR_FMT(cmd->arg));
	s->esmtp = cmd->verb == SMTP_CMD_EHLO;
	if (s->milter != NULL && s->milter_deny == NULL) {
		smtp_server_milter_wait(s, SMTP_MILTER_HELO,
		    SMTP_STATE_READY);
		milter_helo(s->milter, s->helo, smtp_server_milter_done, s);
		return;
	}
	smtp_server_helo_reply(s);
}

/* smtp_server_helo_reply - the answer to HELO or EHLO */
static void
smtp_server_helo_reply(struct smtp_session *s)
{
	if (!s->esmtp) {
		smtp_server_reply(s, "250 %s", s->conf->server.hostname);
		return;
	}
	smtp_server_reply(s, "250-%s", s->conf->server.hostname);
	smtp_server_reply(s, "250-PIPELINING");
	smtp_server_reply(s, "250-SIZE %llu",
	    (unsigned long long)s->conf->limits.max_message_size);
	smtp_server_reply(s, "250-8BITMIME");
	smtp_server_reply(s, "250-SMTPUTF8");
	smtp_server_reply(s, "250-ENHANCEDSTATUSCODES");
	/* RFC 3461: NOTIFY, ORCPT, RET and ENVID are kept and honoured */
	smtp_server_reply(s, "250-DSN");
	if (smtp_server_starttls_offered(s))
		smtp_server_reply(s, "250-STARTTLS");
	if (smtp_server_auth_offered(s))
		smtp_server_reply(s, "250-AUTH PLAIN LOGIN");
	/* RFC 8689 2: only where the session itself is protected */
	if (s->tls)
		smtp_server_reply(s, "250-REQUIRETLS");
	smtp_server_reply(s, "250 CHUNKING");
}

static char *
smtp_server_strdup_str(struct str s)
{
	return xstrndup(s.p ? s.p : "", s.len);
}

/*
 * smtp_server_sender_owned - may the authenticated user send as addr: it
 * is the login itself, or an alias (or catch-all) of [local] aliases with
 * the login among its targets. Case does not matter.
 */
static bool
smtp_server_sender_owned(const struct smtp_session *s,
    const struct smtp_path *path, const char *addr)
{
	const struct alias_entry *e;

	if (strcasecmp(addr, s->auth_user) == 0)
		return true;
	if (s->snap->aliases == NULL || path->postmaster)
		return false;
	e = alias_lookup(s->snap->aliases, path->local, path->domain);
	for (size_t i = 0; e != NULL && i < e->ntargets; i++)
		if (strcasecmp(e->targets[i], s->auth_user) == 0)
			return true;
	return false;
}

static void
smtp_server_cmd_mail(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	char la[LOG_ADDR_MAX];
	struct smtp_path path;
	const char *why = NULL;
	struct buf addr;
	enum smtp_param_result pr;
	const struct conf_tenant *tenant;

	if (s->milter_deny != NULL) {
		/* a milter refused the connection: every MAIL is refused */
		smtp_server_reply(s, "%s", s->milter_deny);
		return;
	}
	if (s->tls_mode == CONF_TLS_REQUIRED && !s->tls) {
		smtp_server_reply(s, "530 5.7.0 Must issue a STARTTLS command"
		    " first");
		smtp_server_error(s);
		return;
	}
	if (s->role != CONF_ROLE_MX && s->auth_user == NULL) {
		smtp_server_reply(s, "530 5.7.0 Authentication required");
		smtp_server_error(s);
		return;
	}
	if (!s->esmtp && cmd->params.len > 0) {
		smtp_server_reply(s, "555 5.5.4 Parameters need EHLO");
		smtp_server_error(s);
		return;
	}
	pr = smtp_param_parse_mail(cmd->params, &s->mp, &why);
	if (pr != SMTP_PARAM_OK) {
		smtp_server_reply(s, "%s 5.5.4 %s", pr == SMTP_PARAM_UNKNOWN ?
		    "555" : "501", why ? why : "Bad MAIL parameters");
		memset(&s->mp, 0, sizeof(s->mp));
		smtp_server_error(s);
		return;
	}
	if (s->mp.requiretls && !s->tls) {
		/* REQUIRETLS is offered on TLS sessions only (RFC 8689 2);
		   5.7.10 is its "encryption needed" (RFC 8689 4.2.1) */
		smtp_server_reply(s, "530 5.7.10 REQUIRETLS needs a TLS"
		    " session: issue STARTTLS first");
		memset(&s->mp, 0, sizeof(s->mp));
		smtp_server_error(s);
		return;
	}
	if (smtp_path_parse(cmd->path, SMTP_PATH_ALLOW_NULL |
	    (s->mp.smtputf8 ? SMTP_PATH_ALLOW_UTF8 : 0), &path, &why) == -1) {
		smtp_server_reply(s, "501 5.1.7 Bad sender address syntax%s%s",
		    why ? ": " : "", why ? why : "");
		memset(&s->mp, 0, sizeof(s->mp));
		smtp_server_error(s);
		return;
	}
	if (s->mp.has_size && s->mp.size > s->conf->limits.max_message_size) {
		smtp_server_reply(s, "552 5.3.4 Message size exceeds fixed"
		    " maximum message size");
		memset(&s->mp, 0, sizeof(s->mp));
		return;
	}
	buf_init(&addr, SMTP_PATH_MAX + 1);
	smtp_path_format(&path, &addr);
	if (s->auth_user != NULL && s->conf->auth.sender_login_check &&
	    !path.null && !smtp_server_sender_owned(s, &path,
	    buf_cstr(&addr))) {
		log_info("event=auth.sender_mismatch session=%llu client=%s"
		    " user=%s from=%s", (unsigned long long)s->id, s->ip,
		    s->auth_user, log_addr(la, sizeof(la), buf_cstr(&addr)));
		smtp_server_reply(s, "553 5.7.1 <%s>: Sender address rejected:"
		    " not owned by the authenticated user", buf_cstr(&addr));
		buf_fini(&addr);
		memset(&s->mp, 0, sizeof(s->mp));
		smtp_server_error(s);
		return;
	}
	if (s->auth_user != NULL && s->w->cluster == NULL &&
	    !limits_user_allowed(s->auth_user, s->conf)) {
		log_info("event=limit.user_daily_limit session=%llu client=%s"
		    " user=%s limit=%u", (unsigned long long)s->id, s->ip,
		    s->auth_user, s->conf->limits.user_daily_limit);
		smtp_server_reply(s, "450 4.7.0 Error: daily message limit"
		    " reached for this user, try again later");
		buf_fini(&addr);
		memset(&s->mp, 0, sizeof(s->mp));
		return;
	}
	s->msg = spool_msg_new();
	id_qid_new(s->msg->qid);
	if (s->auth_user != NULL &&
	    (tenant = conf_tenant_of_user(s->conf, s->auth_user)) != NULL) {
		s->msg->tenant = xstrdup(tenant->name);
		if (tenant->pool != NULL)
			s->msg->pool = xstrdup(tenant->pool);
	}
	s->msg->sender = buf_steal(&addr, NULL);
	if (s->msg->sender == NULL)
		s->msg->sender = xstrdup("");
	s->msg->smtputf8 = s->mp.smtputf8;
	s->msg->body8 = s->mp.body == SMTP_BODY_8BITMIME;
	s->msg->ret = (int)s->mp.ret;
	s->msg->requiretls = s->mp.requiretls;
	if (s->mp.envid.len)
		s->msg->envid = smtp_server_strdup_str(s->mp.envid);
	/* the slices in s->mp point into this line: keep values only */
	s->mp.envid = STR_NULL;
	s->mp.auth = STR_NULL;
	if (s->auth_user != NULL && s->w->cluster != NULL &&
	    s->conf->limits.user_daily_limit > 0) {
		/* [cluster]: the daily limit is counted in Redis */
		s->cl_params = xstrndup(cmd->params.p, cmd->params.len);
		s->cl_op = cluster_user_reserve(s->w->cluster, s->auth_user,
		    s->conf->limits.user_daily_limit, (int64_t)time(NULL),
		    &s->cl_user_hour, smtp_server_cluster_done, s);
		if (s->cl_op != NULL) {
			smtp_server_cluster_wait(s, SMTP_CLUSTER_MAIL);
			return;
		}
		s->cl_next = SMTP_CLUSTER_MAIL;
		smtp_server_cluster_done(s, CLUSTER_DOWN, 0);
		return;
	}
	smtp_server_mail_go(s, cmd->params);
}

/* smtp_server_mail_go - MAIL accepted so far: the milters, or 250 */
static void
smtp_server_mail_go(struct smtp_session *s, struct str params)
{
	char la[LOG_ADDR_MAX];

	if (s->milter != NULL) {
		char store[1024], first[SMTP_PATH_MAX + 3];
		const char *argv[17];
		size_t n;

		snprintf(first, sizeof(first), "<%s>", s->msg->sender);
		n = smtp_server_milter_argv(first, params, store,
		    sizeof(store), argv, 17);
		smtp_server_milter_wait(s, SMTP_MILTER_MAIL,
		    SMTP_STATE_READY);
		milter_mail(s->milter, argv, n, smtp_server_milter_done, s);
		return;
	}
	s->state = SMTP_STATE_MAIL;
	log_debug("event=smtp.mail session=%llu id=%s from=%s%s",
	    (unsigned long long)s->id, s->msg->qid,
	    log_addr(la, sizeof(la), s->msg->sender),
	    s->msg->requiretls ? " requiretls=yes" : "");
	smtp_server_reply(s, "250 2.1.0 Ok");
}

/* smtp_server_first_domain - the domain a bare <postmaster> belongs to */
static const char *
smtp_server_first_domain(const struct smtp_session *s)
{
	if (s->conf->local.ndomains > 0)
		return s->conf->local.domains[0];
	return s->conf->server.hostname;
}

/*
 * smtp_server_routing_refused - a local part that reads like an old
 * routing form ("user%host", "host!user", "\"user@host\"") from a client
 * that is neither trusted nor authenticated, and that names no user or
 * alias of its own. relais never routes by them (they are plain local
 * parts), but where every local part has a mailbox they would still
 * look like an accepted relay attempt: refuse them, as Postfix's
 * allow_untrusted_routing = no does.
 */
static bool
smtp_server_routing_refused(const struct smtp_session *s, const char *local,
    const char *addr)
{
	const struct alias_entry *e;

	if (s->trusted || s->auth_user != NULL ||
	    strpbrk(local, "%!@") == NULL)
		return false;
	if (s->snap->users != NULL && passwd_file_has(s->snap->users,
	    str_cstr(addr)))
		return false;
	if (s->snap->aliases != NULL) {
		const char *at = strrchr(addr, '@');

		if (at != NULL && (e = alias_lookup(s->snap->aliases,
		    str_make(addr, (size_t)(at - addr)), str_cstr(at + 1))) !=
		    NULL && e->key[0] != '@' && strcasecmp(e->key, addr) == 0)
			return false;
	}
	return true;
}

/*
 * smtp_server_quota - reserve the quota of the message's tenant for n
 * more recipients (and, with the first, for the message): 0, or -1 with
 * the refusal given (451 4.7.1 for the messages, 452 4.5.3 for the
 * recipients). The queue manager settles the reservation once the
 * message is committed (or not); smtp_server_reset gives back one never
 * handed over.
 */
static int
smtp_server_quota(struct smtp_session *s, size_t n)
{
	const struct conf_tenant *t;
	struct quota_denial d;
	char text[256];

	if (s->msg->tenant == NULL || n == 0 ||
	    (t = conf_tenant_find(s->conf, s->msg->tenant)) == NULL)
		return 0;
	if (quota_reserve(t, s->msg->nrcpts == 0 ? 1 : 0, (unsigned)n,
	    (int64_t)time(NULL), &d) == 0)
		return 0;
	quota_text(t->name, &d, text, sizeof(text));
	log_info("event=rcpt.reject reason=quota session=%llu id=%s client=%s"
	    " tenant=%s limit=%s:%u", (unsigned long long)s->id, s->msg->qid,
	    s->ip, t->name, d.key, d.limit);
	if (d.kind == QUOTA_MESSAGES)
		smtp_server_reply(s, "451 4.7.1 Error: %s", text);
	else
		smtp_server_reply(s, "452 4.5.3 Error: %s", text);
	return -1;
}

static void
smtp_server_cmd_rcpt(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	char la[LOG_ADDR_MAX];
	struct smtp_path path;
	struct smtp_rcpt_params rp;
	struct local_targets targets = { NULL, 0 };
	const char *why = NULL;
	enum smtp_param_result pr;
	enum local_verdict v = LOCAL_OK;
	char *local = NULL, *domain = NULL, *orcpt = NULL;
	struct buf orig;

	s->rcpt_tried = true;
	if (s->nrcpts >= s->conf->limits.max_recipients) {
		smtp_server_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (!s->esmtp && cmd->params.len > 0) {
		smtp_server_reply(s, "555 5.5.4 Parameters need EHLO");
		smtp_server_error(s);
		return;
	}
	pr = smtp_param_parse_rcpt(cmd->params, &rp, &why);
	if (pr != SMTP_PARAM_OK) {
		smtp_server_reply(s, "%s 5.5.4 %s", pr == SMTP_PARAM_UNKNOWN ?
		    "555" : "501", why ? why : "Bad RCPT parameters");
		smtp_server_error(s);
		return;
	}
	if (smtp_path_parse(cmd->path, SMTP_PATH_ALLOW_POSTMASTER |
	    (s->mp.smtputf8 ? SMTP_PATH_ALLOW_UTF8 : 0), &path, &why) == -1) {
		smtp_server_reply(s, "501 5.1.3 Bad recipient address syntax%s%s",
		    why ? ": " : "", why ? why : "");
		smtp_server_error(s);
		return;
	}
	if (path.postmaster) {
		local = xstrdup("postmaster");
		domain = xstrdup(smtp_server_first_domain(s));
	} else {
		local = smtp_server_strdup_str(path.local);
		domain = smtp_server_strdup_str(path.domain);
		for (char *d = domain; *d; d++)
			if (*d >= 'A' && *d <= 'Z')
				*d = (char)(*d - 'A' + 'a');
	}
	buf_init(&orig, SMTP_PATH_MAX + 1);
	smtp_path_format(&path, &orig);

	if (conf_is_local_domain(s->conf, str_cstr(domain)) &&
	    smtp_server_routing_refused(s, local, buf_cstr(&orig))) {
		log_info("event=rcpt.reject reason=routing session=%llu id=%s"
		    " client=%s to=<%s>", (unsigned long long)s->id,
		    s->msg->qid, s->ip, buf_cstr(&orig));
		smtp_server_reply(s, "550 5.7.1 <%s>: Recipient address"
		    " rejected: sender-specified routing is not allowed",
		    buf_cstr(&orig));
		goto out;
	} else if (conf_is_local_domain(s->conf, str_cstr(domain))) {
		v = local_resolve(s->snap, local, domain, &targets);
	} else if ((s->trusted || s->auth_user != NULL) &&
	    suppress_contains(buf_cstr(&orig))) {
		log_info("event=rcpt.reject reason=suppressed session=%llu"
		    " id=%s client=%s to=%s", (unsigned long long)s->id,
		    s->msg->qid, s->ip, log_addr(la, sizeof(la),
		    buf_cstr(&orig)));
		smtp_server_reply(s, "550 5.1.1 <%s>: Recipient address"
		    " rejected: on the suppression list after a hard bounce",
		    buf_cstr(&orig));
		goto out;
	} else if (s->trusted || s->auth_user != NULL) {
		targets.v = xcalloc(1, sizeof(*targets.v));
		targets.v[0].addr = xstrdup(buf_cstr(&orig));
		targets.v[0].transport = SPOOL_TRANSPORT_REMOTE;
		targets.n = 1;
	} else {
		log_info("event=rcpt.reject reason=relay session=%llu id=%s"
		    " client=%s to=%s", (unsigned long long)s->id,
		    s->msg->qid, s->ip, log_addr(la, sizeof(la),
		    buf_cstr(&orig)));
		smtp_server_reply(s, "554 5.7.1 <%s>: Relay access denied",
		    buf_cstr(&orig));
		goto out;
	}
	switch (v) {
	case LOCAL_OK:
		break;
	case LOCAL_UNKNOWN:
		log_info("event=rcpt.reject reason=unknown session=%llu id=%s"
		    " client=%s to=%s", (unsigned long long)s->id,
		    s->msg->qid, s->ip, log_addr(la, sizeof(la),
		    buf_cstr(&orig)));
		smtp_server_reply(s, "550 5.1.1 <%s>: Recipient address"
		    " rejected: User unknown", buf_cstr(&orig));
		goto out;
	case LOCAL_TOO_MANY:
	case LOCAL_LOOP:
		log_warnx("event=rcpt.reject reason=alias session=%llu id=%s"
		    " to=%s error=\"%s\"", (unsigned long long)s->id,
		    s->msg->qid, log_addr(la, sizeof(la), buf_cstr(&orig)),
		    v == LOCAL_LOOP ?
		    "alias nesting too deep" : "alias expands too far");
		smtp_server_reply(s, "550 5.4.6 <%s>: Alias expansion failed",
		    buf_cstr(&orig));
		goto out;
	}
	if (rp.orcpt.len)
		orcpt = smtp_server_strdup_str(rp.orcpt);
	if (s->milter != NULL) {
		/* the milters see it before it is added */
		char store[1024], first[SMTP_PATH_MAX + 3];
		const char *argv[17];
		size_t n;

		s->p_targets = targets;
		targets = (struct local_targets){ NULL, 0 };
		s->p_orig = xstrdup(buf_cstr(&orig));
		s->p_orcpt = orcpt;
		orcpt = NULL;
		s->p_notify = rp.notify;
		snprintf(first, sizeof(first), "<%s>", s->p_orig);
		n = smtp_server_milter_argv(first, cmd->params, store,
		    sizeof(store), argv, 17);
		smtp_server_milter_wait(s, SMTP_MILTER_RCPT, s->state);
		milter_rcpt(s->milter, argv, n, smtp_server_milter_done, s);
		goto out;
	}
	smtp_server_rcpt_add(s, &targets, buf_cstr(&orig), orcpt, rp.notify);
out:
	local_targets_fini(&targets);
	buf_fini(&orig);
	free(local);
	free(domain);
	free(orcpt);
}

/* smtp_server_rcpt_add - a recipient accepted: its quota reserved, its
   targets added to the message, 250 */
static void
smtp_server_rcpt_add(struct smtp_session *s, struct local_targets *targets,
    const char *orig, const char *orcpt, unsigned notify)
{
	const struct conf_tenant *t;

	if (s->w->cluster != NULL && s->msg->tenant != NULL &&
	    targets->n > 0 &&
	    (t = conf_tenant_find(s->conf, s->msg->tenant)) != NULL) {
		/* [cluster]: the quota is reserved in Redis; the recipient
		   waits in p_* for the answer */
		if (targets != &s->p_targets) {
			s->p_targets = *targets;
			*targets = (struct local_targets){ NULL, 0 };
			free(s->p_orig);
			free(s->p_orcpt);
			s->p_orig = xstrdup(orig);
			s->p_orcpt = orcpt ? xstrdup(orcpt) : NULL;
			s->p_notify = notify;
		}
		s->cl_ask_msgs = s->msg->nrcpts == 0 ? 1 : 0;
		s->cl_ask_rcpts = (unsigned)s->p_targets.n;
		s->cl_op = cluster_quota_reserve(s->w->cluster, t,
		    s->cl_ask_msgs, s->cl_ask_rcpts, (int64_t)time(NULL),
		    smtp_server_cluster_done, s);
		if (s->cl_op != NULL) {
			smtp_server_cluster_wait(s, SMTP_CLUSTER_RCPT);
			return;
		}
		s->cl_next = SMTP_CLUSTER_RCPT;
		smtp_server_cluster_done(s, CLUSTER_DOWN, 0);
		return;
	}
	if (smtp_server_quota(s, targets->n) == -1)
		return;
	smtp_server_rcpt_finish(s, targets, orig, orcpt, notify);
}

/* smtp_server_rcpt_finish - the recipient's targets added, 250 */
static void
smtp_server_rcpt_finish(struct smtp_session *s, struct local_targets *targets,
    const char *orig, const char *orcpt, unsigned notify)
{
	char la[LOG_ADDR_MAX];

	for (size_t i = 0; i < targets->n; i++)
		spool_msg_add_rcpt(s->msg, targets->v[i].addr, orig, orcpt,
		    notify, targets->v[i].transport);
	s->nrcpts++;
	snprintf(s->last_rcpt, sizeof(s->last_rcpt), "%s", orig);
	s->state = SMTP_STATE_RCPT;
	log_debug("event=smtp.rcpt session=%llu id=%s to=%s targets=%zu",
	    (unsigned long long)s->id, s->msg->qid, log_addr(la, sizeof(la),
	    orig), targets->n);
	smtp_server_reply(s, "250 2.1.5 Ok");
}

/* smtp_server_received - the RFC 5321 4.4 trace header, first in the body */
static int
smtp_server_received(struct smtp_session *s)
{
	char date[64], buf[1024];
	struct tm tm;
	time_t now = time(NULL);
	char proto[16], tlsinfo[128] = "";
	int n;

	s->msg->arrival = now;
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	/* RFC 3848 and RFC 6531: ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTPSA */
	snprintf(proto, sizeof(proto), "%s%s%s", s->mp.smtputf8 ? "UTF8SMTP" :
	    s->esmtp ? "ESMTP" : "SMTP", s->tls ? "S" : "",
	    s->auth_user ? "A" : "");
	if (s->tls) {
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

		if (ssl != NULL)
			snprintf(tlsinfo, sizeof(tlsinfo), "\t(%s %s)\r\n",
			    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	}
	n = snprintf(buf, sizeof(buf), "Received: from %s ([%s])\r\n"
	    "\tby %s (relais) with %s id %s\r\n%s"
	    "\t(listener %s)%s%s%s;\r\n\t%s\r\n",
	    s->helo, s->ip, s->conf->server.hostname, proto, s->msg->qid,
	    tlsinfo, s->listener, s->nrcpts == 1 ? "\r\n\tfor <" : "",
	    s->nrcpts == 1 ? s->last_rcpt : "", s->nrcpts == 1 ? ">" : "",
	    date);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = snprintf(buf, sizeof(buf), "Received: by %s (relais) id %s;"
		    "\r\n\t%s\r\n", s->conf->server.hostname, s->msg->qid, date);
	/* kept apart from the text: more fields may go in front of it */
	buf_reset(&s->msg->prefix);
	buf_append(&s->msg->prefix, buf, (size_t)n);
	/* hold the header section back until its end is seen: submission
	   (RFC 6409 8) adds a missing Date: or Message-ID:, a trusted
	   client's X-Relais-* fields are taken, TLS-Required is looked for */
	s->hdr_fix = s->role != CONF_ROLE_MX || s->auth_user != NULL;
	s->hdr_ours = s->trusted || s->auth_user != NULL;
	/* RFC 8689 4.1: the field counts unless MAIL gave REQUIRETLS (then
	   it is ignored, and goes on with the message) */
	s->hdr_tlsreq = !s->msg->requiretls;
	if (s->hdr_fix || s->hdr_ours || s->hdr_tlsreq) {
		buf_init(&s->hdr, SMTP_HEADER_MAX);
		s->hdr_pending = true;
		s->hdr_scan = 0;
	}
	return 0;
}

static void
smtp_server_cmd_data(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (s->state != SMTP_STATE_RCPT) {
		/* as Postfix: 554 if RCPT was refused, 503 if never given */
		if (s->rcpt_tried)
			smtp_server_reply(s, "554 5.5.1 Error: no valid"
			    " recipients");
		else
			smtp_server_reply(s, "503 5.5.1 Error: need RCPT"
			    " command");
		return;
	}
	if (s->milter != NULL) {
		smtp_server_milter_wait(s, SMTP_MILTER_DATA, s->state);
		milter_data(s->milter, smtp_server_milter_done, s);
		return;
	}
	smtp_server_data_go(s);
}

/* smtp_server_data_go - DATA accepted: 354, then the text */
static void
smtp_server_data_go(struct smtp_session *s)
{
	if (smtp_server_received(s) == -1) {
		smtp_server_reply(s, "451 4.3.0 Error: local error, try again"
		    " later");
		smtp_server_reset(s);
		return;
	}
	smtp_data_init(&s->data, SMTP_DATA_DOT);
	s->state = SMTP_STATE_DATA;
	smtp_server_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* smtp_server_body - text into the message body */
static void
smtp_server_body(struct smtp_session *s, const char *p, size_t n)
{
	struct err err;

	if (n == 0 || s->write_failed)
		return;
	if (spool_body_write(&s->msg->body, s->w->ctx->body_dir,
	    s->msg->qid, p, n, &err) == -1) {
		log_error("event=spool.body id=%s error=\"%s\"", s->msg->qid,
		    err.msg);
		s->write_failed = true;
		s->write_full = err.code == ENOSPC || err.code == EDQUOT;
	}
}

/* smtp_server_log_value - v made fit for a quoted log value, in place */
static const char *
smtp_server_log_value(char *v)
{
	for (char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f ||
		    *p == '"' || *p == '\\')
			*p = '?';
	return v;
}

/*
 * smtp_server_header_ours - a trusted or authenticated client's
 * X-Relais-Priority: (high or normal) and X-Relais-Pool: (a [pool] name)
 * set the message's priority and pool; both fields go from the message.
 * A value that means nothing is logged and ignored. Returns the header
 * section's new length.
 */
static size_t
smtp_server_header_ours(struct smtp_session *s, size_t end)
{
	char v[128];
	const struct conf_pool *pool;
	bool found;

	end = smtp_header_take(s->hdr.data, end, "X-Relais-Priority", v,
	    sizeof(v), &found);
	if (found && strcasecmp(v, "high") == 0)
		s->msg->priority = SPOOL_PRIORITY_HIGH;
	else if (found && strcasecmp(v, "normal") == 0)
		s->msg->priority = SPOOL_PRIORITY_NORMAL;
	else if (found)
		log_info("event=smtp.priority_ignored session=%llu id=%s"
		    " value=\"%s\": high or normal", (unsigned long long)s->id,
		    s->msg->qid, smtp_server_log_value(v));
	end = smtp_header_take(s->hdr.data, end, "X-Relais-Pool", v,
	    sizeof(v), &found);
	if (found && (pool = conf_pool_find(s->conf, v)) != NULL) {
		free(s->msg->pool);
		s->msg->pool = xstrdup(pool->name);
	} else if (found)
		log_info("event=smtp.pool_ignored session=%llu id=%s"
		    " pool=\"%s\": no such [pool]", (unsigned long long)s->id,
		    s->msg->qid, smtp_server_log_value(v));
	return end;
}

/*
 * smtp_server_header_flush - write the held header section, with Date:
 * and Message-ID: added before the empty line at end (or at the very end
 * for a message that is all header) when missing.
 */
static void
smtp_server_header_flush(struct smtp_session *s, size_t end)
{
	char add[512], date[64];
	size_t n = 0;
	time_t now = time(NULL);
	struct tm tm;

	s->hdr_pending = false;
	if (s->hdr_tlsreq && smtp_header_tls_optional(s->hdr.data, end)) {
		s->msg->tls_optional = true;
		log_debug("event=smtp.tls_required_no session=%llu id=%s",
		    (unsigned long long)s->id, s->msg->qid);
	}
	if (s->hdr_ours && end > 0) {
		size_t kept = smtp_server_header_ours(s, end);

		/* what followed the header section moves up */
		memmove(s->hdr.data + kept, s->hdr.data + end,
		    s->hdr.len - end);
		s->hdr.len -= end - kept;
		end = kept;
	}
	smtp_server_body(s, s->hdr.data, end);
	if (!s->hdr_fix)
		goto rest;
	if (end > 0 && (end < 2 || s->hdr.data[end - 1] != '\n'))
		n += (size_t)snprintf(add + n, sizeof(add) - n, "\r\n");
	if (!smtp_server_header_has(s, end, "Date")) {
		localtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		n += (size_t)snprintf(add + n, sizeof(add) - n, "Date: %s\r\n",
		    date);
	}
	if (!smtp_server_header_has(s, end, "Message-ID"))
		n += (size_t)snprintf(add + n, sizeof(add) - n,
		    "Message-ID: <%s.%llx@%s>\r\n", s->msg->qid,
		    (unsigned long long)s->id, s->conf->server.hostname);
	if (n > 0 && n < sizeof(add)) {
		log_debug("event=smtp.header.added session=%llu id=%s",
		    (unsigned long long)s->id, s->msg->qid);
		smtp_server_body(s, add, n);
		if (s->msg->body.size >= n)
			s->msg->body.size -= n;	/* ours, not the client's */
	}
rest:
	/* an empty message never allocated hdr.data: no NULL + 0 */
	if (s->hdr.len > end)
		smtp_server_body(s, s->hdr.data + end, s->hdr.len - end);
	buf_fini(&s->hdr);
}

static bool
smtp_server_header_has(const struct smtp_session *s, size_t end,
    const char *name)
{
	return smtp_header_has(s->hdr.data, end, name);
}

/* smtp_server_header_text - text while the header section is held */
static void
smtp_server_header_text(struct smtp_session *s, const char *p, size_t n)
{
	ssize_t end;

	if (buf_append(&s->hdr, p, n) == -1) {
		/* a header section past SMTP_HEADER_MAX: left as it is */
		s->hdr_pending = false;
		smtp_server_body(s, s->hdr.data, s->hdr.len);
		smtp_server_body(s, p, n);
		buf_fini(&s->hdr);
		return;
	}
	end = smtp_header_end(s->hdr.data, s->hdr.len, &s->hdr_scan);
	if (end >= 0)
		smtp_server_header_flush(s, (size_t)end);
}

/* smtp_server_text - message text out of the scanner into the body */
static void
smtp_server_text(struct smtp_session *s, const char *p, size_t n)
{
	if (n == 0)
		return;
	s->text_size += n;
	if (s->text_size > s->conf->limits.max_message_size)
		s->too_big = true;
	if (s->too_big || s->write_failed || s->data.flags)
		return;
	if (s->hdr_pending) {
		smtp_server_header_text(s, p, n);
		return;
	}
	smtp_server_body(s, p, n);
}

/* smtp_server_finish - the message is complete: refuse it or spool it */
static void
smtp_server_finish(struct smtp_session *s)
{
	const char *reason = NULL;

	/* a message that is all header section: write what was held */
	if (s->hdr_pending && !s->too_big && s->data.flags == 0)
		smtp_server_header_flush(s, s->hdr.len);
	if (s->too_big) {
		reason = "size";
		smtp_server_reply(s, "552 5.3.4 Message size exceeds fixed"
		    " maximum message size");
	} else if (s->data.flags & (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR)) {
		reason = "bare_cr_lf";
		smtp_server_reply(s, "554 5.6.0 Message refused: bare CR or LF"
		    " in the text (lines must end with CRLF)");
	} else if (s->data.flags & SMTP_DATA_LONG_LINE) {
		reason = "long_line";
		smtp_server_reply(s, "554 5.6.0 Message refused: text line"
		    " longer than %d octets", SMTP_TEXT_LINE_MAX);
	} else if (s->write_failed && s->write_full) {
		/* RFC 5321 4.2.3: storage full is 452, the client retries */
		reason = "storage";
		smtp_server_reply(s, "452 4.3.1 Error: insufficient system"
		    " storage");
	} else if (s->write_failed) {
		reason = "spool";
		smtp_server_reply(s, "451 4.3.0 Error: local error, try again"
		    " later");
	}
	if (reason != NULL) {
		log_info("event=smtp.refused session=%llu id=%s client=%s"
		    " reason=%s", (unsigned long long)s->id, s->msg->qid, s->ip,
		    reason);
		smtp_server_reset(s);
		return;
	}
	smtp_server_msgauth(s);
}

/* smtp_server_commit_done - qmgr_done_fn: hand the answer to the
   session's worker (arg), on whatever thread the queue manager runs */
static void
smtp_server_commit_done(void *arg, uint64_t tag, int status)
{
	worker_post(arg, tag, smtp_server_spool_done, status, NULL);
}

/* smtp_server_commit - hand the message to the queue manager; 250 later */
static void
smtp_server_commit(struct smtp_session *s)
{
	s->msg->client = xstrdup(s->ip);
	s->msg->helo = xstrdup(s->helo);
	s->msg->listener = xstrdup(s->listener);
	s->msg->events = s->conf->events;
	if (s->msg->tenant != NULL || s->msg->pool != NULL ||
	    s->msg->priority != SPOOL_PRIORITY_NORMAL)
		log_info("event=smtp.class id=%s tenant=%s pool=%s"
		    " priority=%s", s->msg->qid, s->msg->tenant ?
		    s->msg->tenant : "-", s->msg->pool ? s->msg->pool : "-",
		    s->msg->priority == SPOOL_PRIORITY_HIGH ? "high" :
		    "normal");
	memcpy(s->commit_qid, s->msg->qid, sizeof(s->commit_qid));
	free(s->commit_from);
	s->commit_from = xstrdup(s->msg->sender);
	s->commit_size = s->msg->body.size;
	s->commit_rcpts = s->msg->nrcpts;
	s->commit_tls = s->msg->requiretls ? " requiretls=yes" :
	    s->msg->tls_optional ? " tls_required=no" : "";
	s->state = SMTP_STATE_COMMIT;
	smtp_server_timeouts(s);
	qmgr_submit_msg(s->w->ctx->qmgr, s->msg, smtp_server_commit_done,
	    s->w, s->id);
	/* s->msg stays for the log line; the queue manager owns it until
	   done */
}

/* smtp_server_text_all - the whole received text, in memory (read back
   from the body file when it was spilled); -1 if it cannot be read */
static int
smtp_server_text_all(struct smtp_session *s, struct buf *out)
{
	struct spool_body *b = &s->msg->body;
	char chunk[65536];
	off_t off = 0;
	ssize_t n;

	if (b->fd == -1)
		return buf_append(out, b->mem.data ? b->mem.data : "",
		    b->mem.len);
	while ((n = pread(b->fd, chunk, sizeof(chunk), off)) > 0) {
		if (buf_append(out, chunk, (size_t)n) == -1)
			return -1;
		off += n;
	}
	return n == 0 ? 0 : -1;
}

/* smtp_server_text_replace - the stored text becomes p[0..n) */
static int
smtp_server_text_replace(struct smtp_session *s, const char *p, size_t n)
{
	struct spool_body *b = &s->msg->body;
	struct err err;

	if (b->fd == -1) {
		buf_reset(&b->mem);
		b->size = 0;
		return spool_body_write(b, s->w->ctx->body_dir,
		    s->msg->qid, p, n, &err);
	}
	if (sys_ftruncate(b->fd, 0) == -1 || lseek(b->fd, 0, SEEK_SET) == -1)
		return -1;
	b->size = 0;
	return spool_body_write(b, s->w->ctx->body_dir,
	    s->msg->qid, p, n, &err);
}

static void
smtp_server_msgauth_done(void *arg, const struct msgauth_result *res)
{
	struct smtp_session *s = arg;
	const struct conf *conf = s->conf;
	char la[LOG_ADDR_MAX];
	struct buf prefix;

	s->mac = NULL;
	log_info("event=msgauth id=%s client=%s from=%s dmarc=%s"
	    " disposition=%s ar=\"%s\"", s->msg->qid, s->ip,
	    log_addr(la, sizeof(la), s->msg->sender),
	    dmarc_result_name(res->dmarc_result),
	    dmarc_policy_name(res->disposition), res->arh_value);
	if (conf->msgauth.dmarc_enforce &&
	    res->disposition == DMARC_POLICY_REJECT) {
		log_info("event=smtp.refused session=%llu id=%s client=%s"
		    " reason=dmarc", (unsigned long long)s->id, s->msg->qid,
		    s->ip);
		smtp_server_cork(s);
		smtp_server_reply(s, "550 5.7.1 Message rejected by the DMARC"
		    " policy of the sender's domain");
		smtp_server_reset(s);
		smtp_server_process(s);
		smtp_server_uncork(s);
		return;
	}
	if (conf->msgauth.dmarc_enforce &&
	    res->disposition == DMARC_POLICY_QUARANTINE)
		s->msg->junk = true;
	/* Authentication-Results goes on top (RFC 8601 5) */
	buf_init(&prefix, 0);
	buf_puts(&prefix, res->arh_field);
	buf_append(&prefix, s->msg->prefix.data, s->msg->prefix.len);
	buf_fini(&s->msg->prefix);
	s->msg->prefix = prefix;
	smtp_server_filter(s);
}

/*
 * smtp_server_msgauth - mail from trusted networks or authenticated users
 * is DKIM-signed when a [dkim DOMAIN] section matches its From: domain;
 * mail from anyone else on an mx listener is checked (SPF, DKIM, DMARC)
 * and gets an Authentication-Results field. Then it is committed.
 */
static void
smtp_server_msgauth(struct smtp_session *s)
{
	const struct conf *conf = s->conf;
	struct buf text, out;
	struct msgauth_input in;

	buf_init(&text, 0);
	/* trusted or authenticated mail is signed after the milters */
	if (s->trusted || s->auth_user != NULL)
		goto filter;
	if (s->role != CONF_ROLE_MX || s->w->remote == NULL)
		goto filter;
	if (smtp_server_text_all(s, &text) == -1) {
		/* never accept unchecked what could not be checked */
		log_warn("event=msgauth.read id=%s", s->msg->qid);
		smtp_server_reply(s, "451 4.3.0 Error: local error, try again"
		    " later");
		smtp_server_reset(s);
		buf_fini(&text);
		return;
	}
	/* fields that claim to be our verdicts are forgeries: drop them */
	buf_init(&out, 0);
	if (msgauth_strip_arh(text.data ? text.data : "", text.len,
	    conf->msgauth.authserv_id, &out) > 0) {
		if (smtp_server_text_replace(s, out.data, out.len) == -1) {
			buf_fini(&out);
			smtp_server_reply(s, "451 4.3.0 Error: local error, try"
			    " again later");
			smtp_server_reset(s);
			buf_fini(&text);
			return;
		}
		buf_fini(&text);
		text = out;
	} else {
		buf_fini(&out);
	}
	memset(&in, 0, sizeof(in));
	in.client_ip = s->ip;
	in.helo = s->helo;
	in.mail_from = s->msg->sender;
	in.authserv_id = conf->msgauth.authserv_id;
	in.receiver = conf->server.hostname;
	in.msg = text.data ? text.data : "";
	in.len = text.len;
	in.base = s->w->base;
	in.pct_sample = -1;
	s->state = SMTP_STATE_CHECK;
	smtp_server_timeouts(s);
	s->mac = msgauth_check_start(remote_resolver(s->w->remote), &in,
	    smtp_server_msgauth_done, s);
	buf_fini(&text);
	return;
filter:
	buf_fini(&text);
	smtp_server_filter(s);
}

/*
 * smtp_server_sign_commit - the message as it will be stored: a
 * discarded one is answered 250 and dropped; trusted or authenticated
 * mail is DKIM-signed when a [dkim DOMAIN] section matches its From:
 * domain (the signature joins the prefix); then the commit.
 */
static void
smtp_server_sign_commit(struct smtp_session *s)
{
	struct buf text, out;
	struct err err;
	int r;

	if (s->milter_discard || s->msg->nrcpts == 0) {
		log_info("event=milter.discarded session=%llu id=%s client=%s",
		    (unsigned long long)s->id, s->msg->qid, s->ip);
		smtp_server_reply(s, "250 2.0.0 Ok: queued as %s",
		    s->msg->qid);
		smtp_server_reset(s);
		return;
	}
	if ((s->trusted || s->auth_user != NULL) && s->snap->signer != NULL) {
		buf_init(&text, 0);
		if (smtp_server_text_all(s, &text) == -1) {
			log_warn("event=dkim.sign id=%s", s->msg->qid);
		} else {
			buf_init(&out, 0);
			r = dkim_signer_sign(s->snap->signer, text.data ?
			    text.data : "", text.len, time(NULL), &out, &err);
			if (r == -1)
				log_error("event=dkim.sign id=%s error=\"%s\"",
				    s->msg->qid, err.msg);
			else if (r == 1) {
				buf_append(&s->msg->prefix, out.data, out.len);
				log_info("event=dkim.signed id=%s",
				    s->msg->qid);
			}
			buf_fini(&out);
		}
		buf_fini(&text);
	}
	smtp_server_commit(s);
}

/* smtp_server_spool_done - the queue manager's answer for the pending
   commit, on the session's worker (s is NULL when the session has gone) */
static void
smtp_server_spool_done(struct smtp_session *s, int status, void *data)
{
	char la[LOG_ADDR_MAX];

	if (s == NULL || s->state != SMTP_STATE_COMMIT)
		return;
	smtp_server_cork(s);	/* the 250 goes out with what follows */
	/* the queue manager frees the message after done: what we log was kept */
	s->msg = NULL;
	s->state = SMTP_STATE_READY;
	if (status == 0) {
		log_info("event=received id=%s from=%s rcpts=%zu size=%llu"
		    " client=%s listener=%s session=%llu%s%s%s", s->commit_qid,
		    log_addr(la, sizeof(la), s->commit_from), s->commit_rcpts,
		    (unsigned long long)s->commit_size, s->ip, s->listener,
		    (unsigned long long)s->id, s->auth_user ? " user=" : "",
		    s->auth_user ? s->auth_user : "", s->commit_tls ?
		    s->commit_tls : "");
		if (s->auth_user != NULL)
			limits_user_sent(s->auth_user, s->conf);
		/* stored: what it reserved in Redis stays used */
		s->cl_user_held = false;
		s->cl_q_msgs = s->cl_q_rcpts = 0;
		metrics_count(METRIC_RECEIVED, s->listener);
		smtp_server_reply(s, "250 2.0.0 Ok: queued as %s",
		    s->commit_qid);
	} else {
		log_info("event=smtp.refused id=%s client=%s reason=spool",
		    s->commit_qid, s->ip);
		smtp_server_reply(s, "451 4.3.0 Error: local error, try again"
		    " later");
	}
	smtp_server_reset(s);
	smtp_server_timeouts(s);
	if (s->stopping) {
		smtp_server_reply(s, "421 4.3.2 %s Service shutting down",
		    s->conf->server.hostname);
		smtp_server_close(s);
	} else {
		smtp_server_process(s);
	}
	smtp_server_uncork(s);
}

static void
smtp_server_cmd_bdat(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	s->bdat_reject = NULL;
	if (s->state == SMTP_STATE_CONNECTED || s->state == SMTP_STATE_READY) {
		s->bdat_reject = smtp_server_sequence_error(s, SMTP_CMD_RCPT);
	} else if (s->state == SMTP_STATE_MAIL) {
		s->bdat_reject = s->rcpt_tried ?
		    "554 5.5.1 Error: no valid recipients" :
		    "503 5.5.1 Error: need RCPT command";
	} else if (s->state == SMTP_STATE_RCPT && s->milter != NULL) {
		/* the first chunk: the milters' DATA first (the chunk
		   waits in the input) */
		s->p_bdat_size = cmd->bdat_size;
		s->p_bdat_last = cmd->bdat_last;
		smtp_server_milter_wait(s, SMTP_MILTER_BDAT, s->state);
		milter_data(s->milter, smtp_server_milter_done, s);
		return;
	}
	smtp_server_bdat_go(s, cmd->bdat_size, cmd->bdat_last,
	    s->state == SMTP_STATE_RCPT);
}

/* smtp_server_bdat_go - read a chunk of size octets (first: the first of
   the message, which starts it) */
static void
smtp_server_bdat_go(struct smtp_session *s, uint64_t size, bool last,
    bool first)
{
	if (first) {
		if (smtp_server_received(s) == -1)
			s->write_failed = true;
		smtp_data_init(&s->data, SMTP_DATA_CHUNK);
		s->state = SMTP_STATE_BDAT;
	}
	s->bdat_left = size;
	s->bdat_last = last;
	smtp_server_timeouts(s);
	if (s->bdat_left == 0)
		smtp_server_bdat_done(s);
}

/* smtp_server_bdat_done - a whole chunk has been read */
static void
smtp_server_bdat_done(struct smtp_session *s)
{
	size_t n = 0;
	const char *reject = s->bdat_reject;

	smtp_server_timeouts(s);
	if (reject != NULL) {
		s->bdat_reject = NULL;
		smtp_server_reply(s, "%s", reject);
		smtp_server_error(s);
		return;
	}
	if (!s->bdat_last) {
		smtp_server_reply(s, "250 2.0.0 %llu octets received",
		    (unsigned long long)s->text_size);
		return;
	}
	smtp_data_finish_chunked(&s->data, s->w->scratch, &n);
	smtp_server_text(s, s->w->scratch, n);
	smtp_server_finish(s);
}

static void
smtp_server_cmd_rset(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_server_reset(s);
	smtp_server_reply(s, "250 2.0.0 Ok");
}

static void
smtp_server_cmd_noop(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_server_reply(s, "250 2.0.0 Ok");
}

static void
smtp_server_cmd_quit(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_server_reply(s, "221 2.0.0 Bye");
	smtp_server_close(s);
}

static void
smtp_server_cmd_vrfy(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_server_reply(s, "252 2.5.0 Cannot VRFY user, but will accept"
	    " message and attempt delivery");
}

static void
smtp_server_cmd_expn(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_server_reply(s, "502 5.5.1 EXPN not available");
}

static void
smtp_server_cmd_help(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_server_reply(s, "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA"
	    " BDAT RSET");
	smtp_server_reply(s, "214-2.0.0 NOOP QUIT VRFY HELP STARTTLS AUTH");
	smtp_server_reply(s, "214 2.0.0 See RFC 5321");
}

/*
 * smtp_server_cmd_starttls - RFC 3207. The 220 goes out first; whatever
 * the client sent after STARTTLS is thrown away unread (CVE-2011-0411:
 * commands pipelined in clear text must not be taken as sent under TLS),
 * reading stops, and once the 220 has left, smtp_server_tls_switch
 * starts the handshake on the same socket. All SMTP state is forgotten
 * (RFC 3207 4.2): the client starts again with EHLO.
 */
static void
smtp_server_cmd_starttls(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t dropped;

	if (!smtp_server_starttls_offered(s)) {
		smtp_server_reply(s, s->tls ? "503 5.5.1 Error: TLS already"
		    " active" : "502 5.5.1 STARTTLS not available");
		smtp_server_error(s);
		return;
	}
	if (cmd->arg.len > 0) {
		smtp_server_reply(s, "501 5.5.4 Syntax: STARTTLS");
		smtp_server_error(s);
		return;
	}
	smtp_server_reply(s, "220 2.0.0 Ready to start TLS");
	if ((dropped = evbuffer_get_length(in)) > 0) {
		log_info("event=smtp.starttls.pipelined session=%llu client=%s"
		    " dropped=%zu", (unsigned long long)s->id, s->ip, dropped);
		evbuffer_drain(in, dropped);
	}
	smtp_server_reset(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	s->state = SMTP_STATE_STARTTLS;
	s->tls = true;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	/* the bufferevent writes the 220 and calls back once it has left */
	s->direct = false;
	bufferevent_enable(s->bev, EV_WRITE);
}

/* smtp_server_tls_switch - the plain bufferevent gives way to a TLS one
   on a duplicate of the socket (the old one closes its own copy) */
static void
smtp_server_tls_switch(struct smtp_session *s)
{
	struct bufferevent *tls_bev = NULL;
	evutil_socket_t fd;
	SSL *ssl;

	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	fd = dup(bufferevent_getfd(s->bev));
	ssl = fd == -1 ? NULL : tls_server_ssl_new(s->snap->tls);
	if (ssl != NULL) {
		evutil_make_socket_nonblocking(fd);
		tls_bev = bufferevent_openssl_socket_new(s->w->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (tls_bev == NULL)
			SSL_free(ssl);
	}
	bufferevent_free(s->bev);
	s->bev = NULL;
	if (tls_bev == NULL) {
		log_warnx("event=smtp.tls.failed session=%llu client=%s"
		    " error=\"cannot set up TLS\"", (unsigned long long)s->id,
		    s->ip);
		if (fd != -1)
			evutil_closesocket(fd);
		s->fd = -1;
		smtp_server_free(s);
		return;
	}
	s->fd = fd;
	s->bev = tls_bev;
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	bufferevent_setcb(s->bev, smtp_server_read_cb, smtp_server_write_cb,
	    smtp_server_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_HIGH);
	s->state = SMTP_STATE_CONNECTED;
	smtp_server_timeouts(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* smtp_server_auth_end - forget an AUTH exchange in progress */
static void
smtp_server_auth_end(struct smtp_session *s)
{
	if (s->sasl != NULL) {
		sasl_wipe(s->sasl);
		free(s->sasl);
		s->sasl = NULL;
	}
	if (s->state == SMTP_STATE_AUTH)
		s->state = SMTP_STATE_READY;
}

/*
 * smtp_server_auth_dovecot - hand the credentials to Dovecot through the
 * check pool: PLAIN whatever the client used (LOGIN is decoded here),
 * with the client's and our address, and `secured` on TLS or loopback
 * (Dovecot's disable_plaintext_auth looks at it)
 */
static void
smtp_server_auth_dovecot(struct smtp_session *s)
{
	struct dovecot_auth_req req = { .user = s->sasl->user,
	    .pass = s->sasl->pass, .rip = s->ip,
	    .lip = smtp_server_local_ip(s),
	    .secured = s->tls || s->loopback, .session = s->id };

	passwd_check_submit_dovecot(s->w, s->id, smtp_server_auth_done,
	    s->conf->auth.dovecot_socket, s->conf->auth.dovecot_timeout, &req);
}

/* smtp_server_auth_step - act on what the SASL machine says */
static void
smtp_server_auth_step(struct smtp_session *s, enum sasl_step step,
    const char *challenge)
{
	const char *stored;

	switch (step) {
	case SASL_STEP_CHALLENGE:
		s->state = SMTP_STATE_AUTH;
		smtp_server_reply(s, "334 %s", challenge);
		return;
	case SASL_STEP_DONE:
		s->auth_mech = s->sasl->mech == SASL_MECH_LOGIN ? "LOGIN" :
		    "PLAIN";
		free(s->auth_try);
		s->auth_try = xstrdup(s->sasl->user);
		if (s->conf->auth.backend == CONF_AUTH_DOVECOT) {
			smtp_server_auth_dovecot(s);
		} else {
			stored = passwd_file_hash(s->snap->users,
			    str_cstr(s->sasl->user));
			if (stored != NULL && stored[0] == '\0')
				stored = NULL;	/* no password: cannot log in */
			passwd_check_submit(s->w, s->id, smtp_server_auth_done,
			    stored, s->sasl->pass);
		}
		smtp_server_auth_end(s);
		s->state = SMTP_STATE_AUTHWAIT;
		smtp_server_timeouts(s);
		return;
	case SASL_STEP_BAD_MECH:
		smtp_server_reply(s, "504 5.5.4 Unrecognized authentication"
		    " type");
		break;
	case SASL_STEP_SYNTAX:
		smtp_server_reply(s, "501 5.5.2 Cannot decode response");
		break;
	case SASL_STEP_CANCEL:
		smtp_server_reply(s, "501 5.7.0 Authentication cancelled");
		break;
	}
	smtp_server_auth_end(s);
	smtp_server_error(s);
}

static void
smtp_server_cmd_auth(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	const char *challenge = "";
	enum sasl_step step;

	if (!smtp_server_auth_offered(s)) {
		if (!smtp_server_auth_backend(s))
			smtp_server_reply(s, "503 5.5.1 Error: authentication"
			    " not enabled");
		else if (s->tls_mode == CONF_TLS_REQUIRED)
			smtp_server_reply(s, "530 5.7.0 Must issue a STARTTLS"
			    " command first");
		else
			smtp_server_reply(s, "538 5.7.11 Encryption required"
			    " for requested authentication mechanism");
		smtp_server_error(s);
		return;
	}
	if (s->auth_user != NULL) {
		smtp_server_reply(s, "503 5.5.1 Error: already authenticated");
		smtp_server_error(s);
		return;
	}
	s->sasl = xcalloc(1, sizeof(*s->sasl));
	step = sasl_start(s->sasl, cmd->arg, &challenge);
	smtp_server_auth_step(s, step, challenge);
}

/* smtp_server_auth_line - one SASL response line during AUTH */
static void
smtp_server_auth_line(struct smtp_session *s, struct str line)
{
	const char *challenge = "";
	enum sasl_step step = sasl_next(s->sasl, line, &challenge);

	smtp_server_auth_step(s, step, challenge);
}

/*
 * smtp_server_auth_done - the password check's answer (a worker_fn);
 * data, ours to free: with OK from Dovecot the name it authenticated
 * (the identity from then on, for sender_login_check and the limits),
 * with TEMPFAIL what went wrong
 */
static void
smtp_server_auth_done(struct smtp_session *s, int status, void *data)
{
	char user[SASL_FIELD_MAX * 2 + 8], login[SASL_FIELD_MAX * 2 + 8];
	char why[sizeof(((struct err *)0)->msg) * 2 + 8], sock[256];
	unsigned ban;

	if (s == NULL || s->state != SMTP_STATE_AUTHWAIT) {
		free(data);
		return;
	}
	smtp_server_cork(s);
	s->state = SMTP_STATE_READY;
	log_quote(login, sizeof(login), s->auth_try, strlen(s->auth_try));
	if (status == PASSWD_CHECK_OK) {
		if (data != NULL) {
			free(s->auth_try);
			s->auth_try = data;
			data = NULL;
		}
		log_quote(user, sizeof(user), s->auth_try,
		    strlen(s->auth_try));
		if (strcmp(user, login) != 0)
			log_info("event=auth.success session=%llu client=%s"
			    " user=%s login=%s", (unsigned long long)s->id,
			    s->ip, user, login);
		else
			log_info("event=auth.success session=%llu client=%s"
			    " user=%s", (unsigned long long)s->id, s->ip, user);
		s->auth_user = s->auth_try;
		s->auth_try = NULL;
		smtp_server_reply(s, "235 2.7.0 Authentication successful");
	} else if (status == PASSWD_CHECK_BUSY ||
	    status == PASSWD_CHECK_TEMPFAIL) {
		if (status == PASSWD_CHECK_TEMPFAIL) {
			const char *e = data ? data : "unknown",
			    *path = s->conf->auth.dovecot_socket;

			log_quote(why, sizeof(why), e, strlen(e));
			log_quote(sock, sizeof(sock), path, strlen(path));
			log_warnx("event=auth.dovecot session=%llu client=%s"
			    " user=%s socket=%s error=%s",
			    (unsigned long long)s->id, s->ip, login, sock,
			    why);
		} else {
			log_info("event=auth.busy session=%llu client=%s"
			    " user=%s", (unsigned long long)s->id, s->ip,
			    login);
		}
		smtp_server_reply(s, "454 4.7.0 Temporary authentication"
		    " failure");
	} else {
		log_info("event=auth.failed session=%llu client=%s user=%s",
		    (unsigned long long)s->id, s->ip, login);
		smtp_server_reply(s, "535 5.7.8 Authentication credentials"
		    " invalid");
		cluster_auth_failed(s->w->cluster, s->ip, s->conf);
		if ((ban = limits_auth_failed(s->ip, s->conf)) > 0) {
			log_info("event=limit.auth_failures_per_ip client=%s"
			    " failures=%u ban=%u", s->ip,
			    s->conf->limits.auth_failures_per_ip, ban);
			smtp_server_reply(s, "421 4.7.0 %s Error: too many"
			    " authentication failures, try again later",
			    s->conf->server.hostname);
			smtp_server_close(s);
			goto done;
		}
		smtp_server_error(s);
		if (s->state == SMTP_STATE_CLOSING)
			goto done;
	}
	smtp_server_timeouts(s);
	if (s->stopping) {
		smtp_server_reply(s, "421 4.3.2 %s Service shutting down",
		    s->conf->server.hostname);
		smtp_server_close(s);
	} else {
		smtp_server_process(s);
	}
done:
	free(data);
	smtp_server_uncork(s);
}

/* --- input ------------------------------------------------------------- */

static const char *
smtp_server_sequence_error(const struct smtp_session *s, enum smtp_verb v)
{
	if (s->state == SMTP_STATE_CONNECTED)
		return "503 5.5.1 Error: send HELO/EHLO first";
	if (s->state == SMTP_STATE_BDAT)
		return "503 5.5.1 Error: BDAT in progress, only BDAT, RSET,"
		    " NOOP or QUIT";
	switch (v) {
	case SMTP_CMD_MAIL:
		return "503 5.5.1 Error: nested MAIL command";
	case SMTP_CMD_RCPT:
		return "503 5.5.1 Error: need MAIL command";
	case SMTP_CMD_DATA:
	case SMTP_CMD_BDAT:
		return "503 5.5.1 Error: need RCPT command";
	default:
		return "503 5.5.1 Error: bad sequence of commands";
	}
}

/* smtp_server_command - one complete command line, CRLF removed */
static void
smtp_server_command(struct smtp_session *s, struct str line)
{
	struct smtp_cmd cmd;
	const char *why = NULL;
	const struct smtp_server_cmd *row;

	switch (smtp_parse_command(line, &cmd, &why)) {
	case SMTP_PARSE_OK:
		break;
	case SMTP_PARSE_UNKNOWN:
		smtp_server_reply(s, "500 5.5.1 Error: command not recognized");
		smtp_server_error(s);
		return;
	case SMTP_PARSE_SYNTAX:
		smtp_server_reply(s, "501 5.5.4 Syntax error%s%s",
		    why ? ": " : "", why ? why : "");
		smtp_server_error(s);
		return;
	case SMTP_PARSE_TOOLONG:
		smtp_server_reply(s, "500 5.5.2 Error: line too long");
		smtp_server_error(s);
		return;
	case SMTP_PARSE_BADCHAR:
		smtp_server_reply(s, "500 5.5.2 Error: invalid character in"
		    " command");
		smtp_server_error(s);
		return;
	}
	row = &smtp_server_cmds[cmd.verb];
	if (row->run == NULL) {
		smtp_server_reply(s, "502 5.5.1 Error: command not implemented");
		smtp_server_error(s);
		return;
	}
	if (!(row->states & s->state)) {
		smtp_server_reply(s, "%s",
		    smtp_server_sequence_error(s, cmd.verb));
		smtp_server_error(s);
		return;
	}
	row->run(s, &cmd);
}

/* smtp_server_data_in - feed buffered input to the DATA/BDAT scanner;
   returns true when the input was used up */
static void
smtp_server_data_in(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec v;
	size_t used, n;

	while (evbuffer_get_length(in) > 0) {
		if (s->state != SMTP_STATE_DATA && s->bdat_left == 0)
			return;
		if (evbuffer_peek(in, (ev_ssize_t)s->w->scratch_len, NULL, &v,
		    1) < 1)
			return;
		if (v.iov_len > s->w->scratch_len)
			v.iov_len = s->w->scratch_len;
		if (s->state != SMTP_STATE_DATA && v.iov_len > s->bdat_left)
			v.iov_len = (size_t)s->bdat_left;
		n = 0;
		if (s->bdat_reject) {
			used = v.iov_len;
		} else {
			used = smtp_data_scan(&s->data, v.iov_base, v.iov_len,
			    s->w->scratch, &n);
			smtp_server_text(s, s->w->scratch, n);
		}
		evbuffer_drain(in, used);
		if (s->state == SMTP_STATE_DATA) {
			if (s->data.ended) {
				smtp_server_finish(s);
				return;
			}
			continue;
		}
		s->bdat_left -= used;
		if (s->bdat_left == 0) {
			smtp_server_bdat_done(s);
			return;
		}
	}
}

/* smtp_server_skip - drop an overlong line's octets, but keep a final CR:
   it may be the first half of the CRLF that ends the line */
static void
smtp_server_skip(struct evbuffer *in, size_t len)
{
	char last;

	evbuffer_drain(in, len - 1);
	if (evbuffer_copyout(in, &last, 1) == 1 && last != '\r')
		evbuffer_drain(in, 1);
}

/* smtp_server_input - run the commands and text that have arrived */
static void
smtp_server_input(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer *out = bufferevent_get_output(s->bev);
	struct evbuffer_ptr p;
	char line[SMTP_CMD_LINE_MAX + 1];
	size_t len, n;

	while (!(s->state & SMTP_STATE_WAITING)) {
		if (evbuffer_get_length(out) > SMTP_OUTPUT_HIGH)
			smtp_server_write_out(s);
		if (evbuffer_get_length(out) > SMTP_OUTPUT_HIGH) {
			/* a client that does not read its replies waits */
			bufferevent_setwatermark(s->bev, EV_WRITE,
			    SMTP_OUTPUT_HIGH / 2, 0);
			return;
		}
		if ((len = evbuffer_get_length(in)) == 0)
			break;
		if (s->state == SMTP_STATE_DATA || s->bdat_left > 0) {
			smtp_server_data_in(s, in);
			if (s->state == SMTP_STATE_DATA || s->bdat_left > 0)
				break;	/* needs more input */
			continue;
		}
		/* only CRLF ends a command line; a bare CR or LF inside it
		   makes the whole line, up to that CRLF, a refused one */
		p = evbuffer_search_eol(in, NULL, &n, EVBUFFER_EOL_CRLF_STRICT);
		if (s->skipping) {
			if (p.pos == -1) {
				smtp_server_skip(in, len);
				break;
			}
			evbuffer_drain(in, (size_t)p.pos + 2);
			s->skipping = false;
			smtp_server_auth_end(s);
			smtp_server_reply(s, "500 5.5.2 Error: line too long");
			smtp_server_error(s);
			continue;
		}
		if (p.pos == -1) {
			if (len >= SMTP_CMD_LINE_MAX) {
				s->skipping = true;
				smtp_server_skip(in, len);
			}
			break;
		}
		if ((size_t)p.pos + 2 > SMTP_CMD_LINE_MAX) {
			evbuffer_drain(in, (size_t)p.pos + 2);
			smtp_server_auth_end(s);
			smtp_server_reply(s, "500 5.5.2 Error: line too long");
			smtp_server_error(s);
			continue;
		}
		n = (size_t)p.pos;
		evbuffer_remove(in, line, n + 2);
		if (memchr(line, '\n', n) != NULL || memchr(line, '\r', n) != NULL) {
			log_info("event=smtp.bare_cr_lf session=%llu client=%s",
			    (unsigned long long)s->id, s->ip);
			smtp_server_auth_end(s);
			smtp_server_reply(s, "500 5.5.2 Error: bare CR or LF in"
			    " command (lines must end with CRLF)");
			smtp_server_error(s);
			continue;
		}
		if (s->state == SMTP_STATE_AUTH)
			smtp_server_auth_line(s, str_make(line, n));
		else
			smtp_server_command(s, str_make(line, n));
		explicit_bzero(line, n);	/* may have held a password */
	}
	if (s->state & (SMTP_STATE_CLOSING | SMTP_STATE_STARTTLS))
		return;
	if (!(s->state & (SMTP_STATE_COMMIT | SMTP_STATE_AUTHWAIT |
	    SMTP_STATE_CHECK | SMTP_STATE_MILTER | SMTP_STATE_CLUSTER)))
		smtp_server_timeouts(s);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
}

/*
 * smtp_server_read_gate - stop reading while the input buffer is at its
 * high-water mark, read again once it has room. libevent (2.1.11 and
 * later, its issue 891) keeps running the read callback, with nothing
 * new read, for as long as the input sits at the mark: a client that
 * pipelines 256 KiB behind a message waiting for the spool (or while
 * not reading its replies) would keep the worker busy until then.
 */
static void
smtp_server_read_gate(struct smtp_session *s)
{
	bool full, reading;

	if (s->state & (SMTP_STATE_CLOSING | SMTP_STATE_STARTTLS))
		return;		/* reading is off for good, or for the switch */
	full = evbuffer_get_length(bufferevent_get_input(s->bev)) >=
	    SMTP_INPUT_HIGH;
	reading = (bufferevent_get_enabled(s->bev) & EV_READ) != 0;
	if (full && reading)
		bufferevent_disable(s->bev, EV_READ);
	else if (!full && !reading)
		bufferevent_enable(s->bev, EV_READ);
}

/* smtp_server_process - one turn: the input, then its replies in one write */
static void
smtp_server_process(struct smtp_session *s)
{
	smtp_server_cork(s);
	smtp_server_input(s);
	smtp_server_read_gate(s);
	smtp_server_uncork(s);
}

/* --- milters ------------------------------------------------------------- */

/* smtp_server_milter_wait - input waits while the milters look at an
   event; prev is the state their answer returns to */
static void
smtp_server_milter_wait(struct smtp_session *s, int next,
    enum smtp_state prev)
{
	s->milter_next = next;
	s->milter_prev = prev;
	s->state = SMTP_STATE_MILTER;
	smtp_server_timeouts(s);
}

/* smtp_server_milter_argv - argv of MAIL or RCPT for the milters: first
   ("<address>"), then the ESMTP parameters, copied into store */
static size_t
smtp_server_milter_argv(const char *first, struct str params, char *store,
    size_t storelen, const char **argv, size_t max)
{
	size_t n = 0, used = 0;
	struct str tok;

	argv[n++] = first;
	while (n < max && params.len > 0) {
		params = str_trim(params);
		tok = str_cut(&params, ' ');
		if (tok.len == 0 || used + tok.len + 1 > storelen)
			continue;
		memcpy(store + used, tok.p, tok.len);
		store[used + tok.len] = '\0';
		argv[n++] = store + used;
		used += tok.len + 1;
	}
	return n;
}

/* smtp_server_macro - a macro's value (milter_macro_fn); every pointer
   stays valid while the session lives */
static const char *
smtp_server_macro(void *arg, const char *name)
{
	struct smtp_session *s = arg;
	const char *at;

	if (strcmp(name, "j") == 0 || strcmp(name, "daemon_name") == 0)
		return s->conf->server.hostname;
	if (strcmp(name, "daemon_addr") == 0)
		return s->local_ip[0] ? s->local_ip : NULL;
	if (strcmp(name, "v") == 0)
		return "relais " RELAIS_VERSION;
	if (strcmp(name, "_") == 0)
		return s->client_desc;
	if (strcmp(name, "client_addr") == 0)
		return s->ip;
	if (strcmp(name, "client_name") == 0)
		return "unknown";	/* relais looks no name up */
	if (strcmp(name, "client_port") == 0)
		return s->port[0] ? s->port : NULL;
	if (strcmp(name, "i") == 0)
		return s->msg != NULL ? s->msg->qid : NULL;
	if (strcmp(name, "auth_authen") == 0)
		return s->auth_user;
	if (strcmp(name, "auth_type") == 0)
		return s->auth_user != NULL ? s->auth_mech : NULL;
	if (strcmp(name, "mail_addr") == 0)
		return s->msg != NULL ? s->msg->sender : NULL;
	if (strcmp(name, "mail_host") == 0)
		return s->msg != NULL && (at = strrchr(s->msg->sender, '@')) !=
		    NULL ? at + 1 : NULL;
	if (strcmp(name, "mail_mailer") == 0)
		return s->msg != NULL ? "smtp" : NULL;
	if (strcmp(name, "rcpt_addr") == 0)
		return s->p_orig;
	if (strcmp(name, "rcpt_host") == 0)
		return s->p_orig != NULL && (at = strrchr(s->p_orig, '@')) !=
		    NULL ? at + 1 : NULL;
	if (strcmp(name, "rcpt_mailer") == 0)
		return s->p_orig == NULL ? NULL : s->p_targets.n > 0 &&
		    s->p_targets.v[0].transport == SPOOL_TRANSPORT_LOCAL ?
		    "local" : "smtp";
	if (s->tls_up && s->bev != NULL) {
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

		if (ssl == NULL)
			return NULL;
		if (strcmp(name, "tls_version") == 0)
			return SSL_get_version(ssl);
		if (strcmp(name, "cipher") == 0)
			return SSL_get_cipher_name(ssl);
		if (strcmp(name, "cipher_bits") == 0) {
			snprintf(s->cipher_bits, sizeof(s->cipher_bits), "%d",
			    SSL_get_cipher_bits(ssl, NULL));
			return s->cipher_bits;
		}
	}
	return NULL;
}

/*
 * smtp_server_filter - the end of the message for the milters: the
 * header section (relais's own fields hidden from them) and the body;
 * their changes are made before the commit, so that what is stored and
 * acknowledged is the changed message.
 */
static void
smtp_server_filter(struct smtp_session *s)
{
	struct milter_msg *mm;
	struct spool_body *b = &s->msg->body;
	struct buf hs;
	size_t resume = 0;
	ssize_t end, took;

	if (s->milter == NULL || s->milter_discard) {
		smtp_server_sign_commit(s);
		return;
	}
	mm = xcalloc(1, sizeof(*mm));
	milter_msg_init(mm);
	mm->hdrs.max = SMTP_MILTER_HDR_MAX + 64 * 1024;
	mm->body = b;
	mm->body_dir = s->w->ctx->body_dir;
	mm->qid = s->msg->qid;
	mm->max_size = s->conf->limits.max_message_size;
	s->milter_msg = mm;
	(void)milter_hdrs_parse(&mm->hdrs, s->msg->prefix.data ?
	    s->msg->prefix.data : "", s->msg->prefix.len, MILTER_HDR_PREFIX);
	/* the header section: its first SMTP_MILTER_HDR_MAX octets */
	buf_init(&hs, 0);
	if (b->fd == -1) {
		buf_append(&hs, b->mem.data ? b->mem.data : "",
		    b->mem.len < SMTP_MILTER_HDR_MAX ? b->mem.len :
		    SMTP_MILTER_HDR_MAX);
	} else if (buf_reserve(&hs, SMTP_MILTER_HDR_MAX) == 0) {
		ssize_t n = pread(b->fd, hs.data, SMTP_MILTER_HDR_MAX, 0);

		hs.len = n > 0 ? (size_t)n : 0;
	}
	end = smtp_header_end(hs.data ? hs.data : "", hs.len, &resume);
	s->milter_sep = end >= 0;
	if (end < 0 && hs.len >= SMTP_MILTER_HDR_MAX)
		end = 0;	/* too long to be looked at: all body */
	else if (end < 0)
		end = (ssize_t)hs.len;
	took = milter_hdrs_parse(&mm->hdrs, hs.data ? hs.data : "",
	    (size_t)end, MILTER_HDR_CLIENT);
	if (took < 0)
		took = 0;
	if (took < end) {
		/* a line that is no field: the body starts there */
		s->milter_sep = false;
		end = took;
	}
	mm->body_off = (uint64_t)end + (s->milter_sep ? 2 : 0);
	buf_fini(&hs);
	smtp_server_milter_wait(s, SMTP_MILTER_EOM, s->state);
	milter_eom(s->milter, mm, smtp_server_milter_done, s);
}

/* smtp_server_body_copy - the octets of src from off to its end, into dst */
static int
smtp_server_body_copy(struct smtp_session *s, struct spool_body *dst,
    const char *name, const struct spool_body *src, uint64_t off)
{
	char chunk[65536];
	struct err err;
	ssize_t n;

	if (src->fd == -1) {
		if (off >= src->mem.len)
			return 0;
		return spool_body_write(dst, s->w->ctx->body_dir, name,
		    src->mem.data + off, (size_t)(src->mem.len - off), &err);
	}
	while ((n = pread(src->fd, chunk, sizeof(chunk), (off_t)off)) > 0) {
		if (spool_body_write(dst, s->w->ctx->body_dir, name, chunk,
		    (size_t)n, &err) == -1) {
			log_error("event=milter.body id=%s error=\"%s\"",
			    s->msg->qid, err.msg);
			return -1;
		}
		off += (uint64_t)n;
	}
	return n == 0 ? 0 : -1;
}

/*
 * smtp_server_milter_rewrite - the message's text made again from the
 * edited header fields and the (maybe new) body, into a new body that
 * takes the old one's place: renamed over its file, or kept in memory.
 */
static int
smtp_server_milter_rewrite(struct smtp_session *s, struct milter_msg *mm)
{
	struct buf prefix, head;
	struct spool_body nb;
	struct err err;
	char name[ID_QID_LEN + 8], final[4096];
	const struct spool_body *src = mm->replaced ? &mm->repl : mm->body;
	int rc = -1;

	buf_init(&prefix, 0);
	buf_init(&head, 0);
	milter_hdrs_render(&mm->hdrs, &prefix, &head);
	if (s->milter_sep)
		buf_puts(&head, "\r\n");
	snprintf(name, sizeof(name), "%s.n", s->msg->qid);
	spool_body_init(&nb, SPOOL_BLOB_MAX);
	if ((head.len == 0 || spool_body_write(&nb, s->w->ctx->body_dir,
	    name, head.data, head.len, &err) == 0) &&
	    smtp_server_body_copy(s, &nb, name, src, mm->replaced ? 0 :
	    mm->body_off) == 0) {
		spool_body_path(final, sizeof(final), s->w->ctx->body_dir,
		    s->msg->qid);
		if (nb.fd == -1) {
			spool_body_discard(&s->msg->body);
			rc = 0;
		} else if (sys_rename(nb.path, final) == 0) {
			/* the old file (if any) had that name: closed only */
			spool_body_release(&s->msg->body);
			free(nb.path);
			nb.path = xstrdup(final);
			rc = 0;
		} else {
			log_warn("event=milter.body id=%s", s->msg->qid);
		}
	}
	if (rc == 0) {
		s->msg->body = nb;
		buf_fini(&s->msg->prefix);
		s->msg->prefix = prefix;
	} else {
		spool_body_discard(&nb);
		buf_fini(&prefix);
	}
	buf_fini(&head);
	return rc;
}

/* smtp_server_addr_bare - an address as a milter gives it, without its
   angle brackets */
static void
smtp_server_addr_bare(const char *a, char *out, size_t n)
{
	size_t len = strlen(a);

	if (len >= 2 && a[0] == '<' && a[len - 1] == '>')
		snprintf(out, n, "%.*s", (int)(len - 2), a + 1);
	else
		snprintf(out, n, "%s", a);
}

/* smtp_server_addr_path - a milter's address parsed as a path */
static int
smtp_server_addr_path(const char *a, unsigned flags, struct smtp_path *path)
{
	char bare[SMTP_PATH_MAX + 3], br[SMTP_PATH_MAX + 5];
	const char *why = NULL;

	smtp_server_addr_bare(a, bare, sizeof(bare));
	snprintf(br, sizeof(br), "<%s>", bare);
	return smtp_path_parse(str_cstr(br), flags, path, &why);
}

/* smtp_server_rcpt_edits - recipients the milters deleted, then those
   they added (resolved as at RCPT: local ones through the users and
   aliases; the milters are trusted, so remote ones relay) */
static void
smtp_server_rcpt_edits(struct smtp_session *s, struct milter_msg *mm)
{
	char bare[SMTP_PATH_MAX + 3], la[LOG_ADDR_MAX];
	struct spool_msg *msg = s->msg;

	for (size_t d = 0; d < mm->ndel; d++) {
		size_t k = 0;

		smtp_server_addr_bare(mm->del_rcpts[d], bare, sizeof(bare));
		for (size_t i = 0; i < msg->nrcpts; i++) {
			struct spool_rcpt *r = &msg->rcpts[i];

			if (strcasecmp(r->orig, bare) == 0 ||
			    strcasecmp(r->addr, bare) == 0) {
				free(r->addr);
				free(r->orig);
				free(r->orcpt);
				continue;
			}
			msg->rcpts[k++] = *r;
		}
		if (k != msg->nrcpts)
			log_info("event=milter.rcpt_deleted id=%s to=%s",
			    msg->qid, log_addr(la, sizeof(la), bare));
		msg->nrcpts = k;
	}
	for (size_t a = 0; a < mm->nadd; a++) {
		struct smtp_path path;
		struct local_targets t = { NULL, 0 };
		char *local, *domain;
		struct buf addr;

		if (smtp_server_addr_path(mm->add_rcpts[a],
		    SMTP_PATH_ALLOW_UTF8, &path) == -1 || path.postmaster) {
			log_info("event=milter.rcpt_refused id=%s reason=\"bad"
			    " address\"", msg->qid);
			continue;
		}
		buf_init(&addr, SMTP_PATH_MAX + 1);
		smtp_path_format(&path, &addr);
		local = smtp_server_strdup_str(path.local);
		domain = smtp_server_strdup_str(path.domain);
		for (char *p = domain; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		if (conf_is_local_domain(s->conf, str_cstr(domain))) {
			if (local_resolve(s->snap, local, domain, &t) !=
			    LOCAL_OK)
				log_info("event=milter.rcpt_refused id=%s to=%s"
				    " reason=\"unknown local recipient\"",
				    msg->qid, log_addr(la, sizeof(la),
				    buf_cstr(&addr)));
		} else {
			t.v = xcalloc(1, sizeof(*t.v));
			t.v[0].addr = xstrdup(buf_cstr(&addr));
			t.v[0].transport = SPOOL_TRANSPORT_REMOTE;
			t.n = 1;
		}
		for (size_t i = 0; i < t.n; i++)
			spool_msg_add_rcpt(msg, t.v[i].addr, buf_cstr(&addr),
			    NULL, 0, t.v[i].transport);
		if (t.n > 0)
			log_info("event=milter.rcpt_added id=%s to=%s",
			    msg->qid, log_addr(la, sizeof(la),
			    buf_cstr(&addr)));
		local_targets_fini(&t);
		buf_fini(&addr);
		free(local);
		free(domain);
	}
}

/* smtp_server_milter_apply - what the milters changed, into the message;
   -1 when the text could not be written again */
static int
smtp_server_milter_apply(struct smtp_session *s, struct milter_msg *mm)
{
	char la[LOG_ADDR_MAX];

	if ((mm->hdrs.changed || mm->replaced) &&
	    smtp_server_milter_rewrite(s, mm) == -1)
		return -1;
	if (mm->new_from != NULL) {
		struct smtp_path path;
		struct buf addr;

		if (smtp_server_addr_path(mm->new_from, SMTP_PATH_ALLOW_NULL |
		    SMTP_PATH_ALLOW_UTF8, &path) == 0) {
			buf_init(&addr, SMTP_PATH_MAX + 1);
			smtp_path_format(&path, &addr);
			free(s->msg->sender);
			s->msg->sender = buf_steal(&addr, NULL);
			if (s->msg->sender == NULL)
				s->msg->sender = xstrdup("");
			log_info("event=milter.from id=%s from=%s", s->msg->qid,
			    log_addr(la, sizeof(la), s->msg->sender));
		}
	}
	smtp_server_rcpt_edits(s, mm);
	if (mm->quarantine) {
		s->msg->held = true;
		log_info("event=milter.quarantine id=%s client=%s reason=\"%s\"",
		    s->msg->qid, s->ip, smtp_server_log_value(mm->reason));
	}
	return 0;
}

static const char *
smtp_server_milter_kind(enum milter_verdict_kind k)
{
	switch (k) {
	case MILTER_V_REJECT:
		return "reject";
	case MILTER_V_TEMPFAIL:
		return "tempfail";
	case MILTER_V_DISCARD:
		return "discard";
	case MILTER_V_SHUTDOWN:
		return "shutdown";
	default:
		return "continue";
	}
}

/* smtp_server_milter_reply - the milters' reply, one SMTP line per line */
static void
smtp_server_milter_reply(struct smtp_session *s, const char *reply)
{
	smtp_server_reply(s, "%s", reply);
}

/* smtp_server_milter_done - the milters' answer (milter_done_fn) */
static void
smtp_server_milter_done(void *arg, const struct milter_verdict *v)
{
	static const char *const stages[] = { "connect", "helo", "mail",
	    "rcpt", "data", "data", "eom" };
	struct smtp_session *s = arg;
	int next = s->milter_next;
	bool refused = v->kind == MILTER_V_REJECT ||
	    v->kind == MILTER_V_TEMPFAIL;
	struct milter_msg *mm;

	smtp_server_cork(s);
	s->state = s->milter_prev;
	if (v->kind != MILTER_V_CONTINUE)
		log_info("event=milter.%s session=%llu client=%s milter=%s"
		    " stage=%s%s%s reply=\"%s\"", smtp_server_milter_kind(
		    v->kind), (unsigned long long)s->id, s->ip, v->milter,
		    stages[next], s->msg ? " id=" : "", s->msg ? s->msg->qid :
		    "", v->reply);
	if (v->kind == MILTER_V_SHUTDOWN) {
		smtp_server_milter_reply(s, v->reply);
		smtp_server_close(s);
		goto done;
	}
	if (v->kind == MILTER_V_DISCARD)
		s->milter_discard = true;
	switch (next) {
	case SMTP_MILTER_GREET:
		smtp_server_greet(s);
		if (refused)
			s->milter_deny = xstrdup(v->reply);
		break;
	case SMTP_MILTER_HELO:
		if (refused) {
			smtp_server_milter_reply(s, v->reply);
			free(s->milter_deny);
			s->milter_deny = xstrdup(v->reply);
			s->helo[0] = '\0';
			s->state = SMTP_STATE_CONNECTED;
			break;
		}
		smtp_server_helo_reply(s);
		break;
	case SMTP_MILTER_MAIL:
		if (refused) {
			smtp_server_milter_reply(s, v->reply);
			smtp_server_reset(s);
			break;
		}
		s->state = SMTP_STATE_MAIL;
		smtp_server_reply(s, "250 2.1.0 Ok");
		break;
	case SMTP_MILTER_RCPT:
		if (refused)
			smtp_server_milter_reply(s, v->reply);
		else
			smtp_server_rcpt_add(s, &s->p_targets, s->p_orig,
			    s->p_orcpt, s->p_notify);
		if (s->state == SMTP_STATE_CLUSTER)
			break;		/* p_* wait for the answer */
		local_targets_fini(&s->p_targets);
		free(s->p_orig);
		free(s->p_orcpt);
		s->p_orig = s->p_orcpt = NULL;
		break;
	case SMTP_MILTER_DATA:
		if (refused) {
			smtp_server_milter_reply(s, v->reply);
			smtp_server_reset(s);
			break;
		}
		smtp_server_data_go(s);
		break;
	case SMTP_MILTER_BDAT:
		if (refused) {
			/* the chunk is read, then refused */
			smtp_server_reset(s);
			snprintf(s->bdat_reply, sizeof(s->bdat_reply), "%s",
			    v->reply);
			s->bdat_reject = s->bdat_reply;
			smtp_server_bdat_go(s, s->p_bdat_size, s->p_bdat_last,
			    false);
			break;
		}
		smtp_server_bdat_go(s, s->p_bdat_size, s->p_bdat_last, true);
		break;
	case SMTP_MILTER_EOM:
		mm = s->milter_msg;
		if (refused) {
			log_info("event=smtp.refused session=%llu id=%s"
			    " client=%s reason=milter", (unsigned long long)
			    s->id, s->msg->qid, s->ip);
			smtp_server_milter_reply(s, v->reply);
			smtp_server_reset(s);
			break;
		}
		if (v->kind == MILTER_V_CONTINUE &&
		    smtp_server_milter_apply(s, mm) == -1) {
			smtp_server_reply(s, "451 4.3.0 Error: local error, try"
			    " again later");
			smtp_server_reset(s);
			break;
		}
		milter_msg_fini(mm);
		free(mm);
		s->milter_msg = NULL;
		smtp_server_sign_commit(s);
		break;
	}
	if (s->state & (SMTP_STATE_CLOSING | SMTP_STATE_WAITING))
		goto done;
	smtp_server_timeouts(s);
	if (s->stopping && (s->state & SMTP_STATE_ANY)) {
		smtp_server_reply(s, "421 4.3.2 %s Service shutting down",
		    s->conf->server.hostname);
		smtp_server_close(s);
		goto done;
	}
	smtp_server_process(s);
done:
	smtp_server_uncork(s);
}

/* --- [cluster]: shared limits in Redis (policy/cluster.h) ------------- */

/* smtp_server_cluster_release - give back what the transaction reserved
   in Redis and did not store */
static void
smtp_server_cluster_release(struct smtp_session *s)
{
	if (s->cl_user_held && s->auth_user != NULL)
		cluster_user_release(s->w->cluster, s->auth_user,
		    s->cl_user_hour);
	s->cl_user_held = false;
	if ((s->cl_q_msgs > 0 || s->cl_q_rcpts > 0) && s->cl_q_tenant != NULL)
		cluster_quota_release(s->w->cluster, s->cl_q_tenant,
		    s->cl_q_msgs, s->cl_q_rcpts, (int64_t)time(NULL));
	s->cl_q_msgs = s->cl_q_rcpts = 0;
	free(s->cl_q_tenant);
	s->cl_q_tenant = NULL;
}

static void
smtp_server_cluster_wait(struct smtp_session *s, int next)
{
	s->cl_next = next;
	s->cl_prev = s->state;
	s->state = SMTP_STATE_CLUSTER;
	smtp_server_timeouts(s);
}

/* smtp_server_cluster_closed - [cluster] redis_down = closed: 451 */
static bool
smtp_server_cluster_closed(struct smtp_session *s, const char *what)
{
	if (s->conf->cluster.redis_down != CONF_REDIS_DOWN_CLOSED)
		return false;
	log_info("event=limit.%s session=%llu client=%s reason=redis_down",
	    what, (unsigned long long)s->id, s->ip);
	smtp_server_reply(s, "451 4.3.0 Error: shared limits unavailable,"
	    " try again later");
	return true;
}

static void
smtp_server_cluster_mail(struct smtp_session *s, enum cluster_answer a)
{
	bool ok;

	if (a == CLUSTER_OK) {
		s->cl_user_held = true;
		ok = true;
	} else if (a == CLUSTER_DOWN) {
		if (smtp_server_cluster_closed(s, "user_daily_limit")) {
			smtp_server_reset(s);
			return;
		}
		ok = limits_user_allowed(s->auth_user, s->conf);
	} else {
		ok = false;
	}
	if (!ok) {
		log_info("event=limit.user_daily_limit session=%llu client=%s"
		    " user=%s limit=%u%s", (unsigned long long)s->id, s->ip,
		    s->auth_user, s->conf->limits.user_daily_limit,
		    a == CLUSTER_REFUSED ? " shared=yes" : "");
		smtp_server_reply(s, "450 4.7.0 Error: daily message limit"
		    " reached for this user, try again later");
		smtp_server_reset(s);
		return;
	}
	smtp_server_mail_go(s, str_cstr(s->cl_params ? s->cl_params : ""));
}

static void
smtp_server_cluster_rcpt(struct smtp_session *s, enum cluster_answer a,
    long value)
{
	const struct conf_tenant *t = conf_tenant_find(s->conf,
	    s->msg->tenant);
	struct quota_denial d;
	char text[256];

	if (a == CLUSTER_OK) {
		/* the node's own counters follow (redis_down = open) */
		quota_reserve_force(s->msg->tenant, s->cl_ask_msgs,
		    s->cl_ask_rcpts);
		s->cl_q_msgs += s->cl_ask_msgs;
		s->cl_q_rcpts += s->cl_ask_rcpts;
		if (s->cl_q_tenant == NULL)
			s->cl_q_tenant = xstrdup(s->msg->tenant);
	} else if (a == CLUSTER_DOWN) {
		if (smtp_server_cluster_closed(s, "quota"))
			return;
		if (smtp_server_quota(s, s->p_targets.n) == -1)
			return;
	} else {
		if (t == NULL) {
			smtp_server_reply(s, "451 4.7.1 Error: tenant quota"
			    " reached, try again later");
			return;
		}
		quota_denial_fill(t, (int)value, (int64_t)time(NULL), &d);
		quota_text(t->name, &d, text, sizeof(text));
		log_info("event=rcpt.reject reason=quota session=%llu id=%s"
		    " client=%s tenant=%s limit=%s:%u shared=yes",
		    (unsigned long long)s->id, s->msg->qid, s->ip, t->name,
		    d.key, d.limit);
		if (d.kind == QUOTA_MESSAGES)
			smtp_server_reply(s, "451 4.7.1 Error: %s", text);
		else
			smtp_server_reply(s, "452 4.5.3 Error: %s", text);
		return;
	}
	smtp_server_rcpt_finish(s, &s->p_targets, s->p_orig, s->p_orcpt,
	    s->p_notify);
}

/* smtp_server_cluster_done - the answer of the pending check (also
   called at once, CLUSTER_DOWN, when Redis is down) */
static void
smtp_server_cluster_done(void *arg, enum cluster_answer a, long value)
{
	struct smtp_session *s = arg;
	bool waited = s->state == SMTP_STATE_CLUSTER;

	s->cl_op = NULL;
	smtp_server_cork(s);
	if (waited)
		s->state = s->cl_prev;
	switch (s->cl_next) {
	case SMTP_CLUSTER_GREET:
		if (a == CLUSTER_REFUSED) {
			smtp_server_refuse(s, value < 0 ? LIMITS_RATE :
			    LIMITS_BANNED, value < 0 ? 0 : (unsigned)value);
			goto done;
		}
		smtp_server_reply(s, "220 %s ESMTP relais",
		    s->conf->server.hostname);
		break;
	case SMTP_CLUSTER_MAIL:
		smtp_server_cluster_mail(s, a);
		free(s->cl_params);
		s->cl_params = NULL;
		break;
	case SMTP_CLUSTER_RCPT:
		smtp_server_cluster_rcpt(s, a, value);
		local_targets_fini(&s->p_targets);
		free(s->p_orig);
		free(s->p_orcpt);
		s->p_orig = s->p_orcpt = NULL;
		break;
	}
	if (!waited || (s->state & (SMTP_STATE_CLOSING | SMTP_STATE_WAITING)))
		goto done;
	smtp_server_timeouts(s);
	if (s->stopping && (s->state & SMTP_STATE_ANY)) {
		smtp_server_reply(s, "421 4.3.2 %s Service shutting down",
		    s->conf->server.hostname);
		smtp_server_close(s);
		goto done;
	}
	smtp_server_process(s);
done:
	smtp_server_uncork(s);
}
