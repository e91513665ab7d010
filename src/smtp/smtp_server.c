/* SPDX-License-Identifier: ISC */
/*
 * smtp_server.c - the inbound SMTP session: RFC 5321 with PIPELINING
 * (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531),
 * ENHANCEDSTATUSCODES (RFC 2034/3463) and CHUNKING (RFC 3030).
 *
 * Organisation: input arrives in the bufferevent's input buffer, bounded
 * by a read high-water mark. smtp_server_process() takes out as much as it
 * can: command lines (framed here: only CRLF ends a line; a bare CR or LF,
 * or a line over 512 octets, is refused without being interpreted), or
 * message text fed to the pure smtp_data scanner. Each verb has a row in
 * smtp_server_cmds[]: the states it is allowed in and its handler. At the
 * end of the message the session hands it to the spool and stops reading
 * commands until the spool answers (by session id, through the worker's
 * inbox); only then is the 250 sent.
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
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf/conf_live.h"
#include "core/buf.h"
#include "core/id.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "deliver/local.h"
#include "net/listen.h"
#include "net/worker.h"
#include "policy/limits.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_param.h"
#include "smtp/smtp_parse.h"
#include "smtp/smtp_path.h"
#include "smtp/smtp_server.h"
#include "spool/spool.h"

#define SMTP_INPUT_HIGH		(256 * 1024)	/* read high-water mark */
#define SMTP_OUTPUT_HIGH	(64 * 1024)	/* stop reading commands */
#define SMTP_MAX_ERRORS		20		/* bad commands per session */

enum smtp_state {
	SMTP_STATE_CONNECTED = 1 << 0,	/* before HELO/EHLO */
	SMTP_STATE_READY = 1 << 1,	/* after HELO, no transaction */
	SMTP_STATE_MAIL = 1 << 2,	/* MAIL given, no recipient yet */
	SMTP_STATE_RCPT = 1 << 3,	/* at least one recipient */
	SMTP_STATE_DATA = 1 << 4,	/* reading DATA text */
	SMTP_STATE_BDAT = 1 << 5,	/* between BDAT chunks */
	SMTP_STATE_COMMIT = 1 << 6,	/* waiting for the spool */
	SMTP_STATE_CLOSING = 1 << 7,	/* flushing the last reply */
};

#define SMTP_STATE_SESSION	(SMTP_STATE_READY | SMTP_STATE_MAIL | \
				 SMTP_STATE_RCPT)
#define SMTP_STATE_ANY		(SMTP_STATE_CONNECTED | SMTP_STATE_SESSION)

struct smtp_session {
	uint64_t		 id;
	struct worker		*w;
	struct conf_snap	*snap;
	const struct conf	*conf;
	struct bufferevent	*bev;
	char			 ip[INET6_ADDRSTRLEN];
	char			 listener[64];
	enum conf_role		 role;
	bool			 trusted;
	bool			 counted;	/* in the limits tables */

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
	uint64_t		 bdat_left;	/* octets of the chunk to come */
	bool			 bdat_last;
	const char		*bdat_reject;	/* refusal for the chunk being
						   discarded, or NULL */

	/* what the log line and the 250 need once the spool owns the msg */
	char			 commit_qid[ID_QID_LEN + 1];
	char			*commit_from;
	uint64_t		 commit_size;
	size_t			 commit_rcpts;
};

struct smtp_server_cmd {
	enum smtp_verb	verb;
	unsigned	states;		/* enum smtp_state bits allowed */
	void		(*run)(struct smtp_session *, const struct smtp_cmd *);
};

static void	smtp_server_process(struct smtp_session *s);
static void	smtp_server_reply(struct smtp_session *s, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
static void	smtp_server_close(struct smtp_session *s);
static void	smtp_server_reset(struct smtp_session *s);
static void	smtp_server_timeouts(struct smtp_session *s);
static void	smtp_server_bdat_done(struct smtp_session *s);
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
static void	smtp_server_cmd_notavail(struct smtp_session *,
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
	    smtp_server_cmd_notavail },
	[SMTP_CMD_AUTH] = { SMTP_CMD_AUTH, SMTP_STATE_ANY,
	    smtp_server_cmd_notavail },
};

static void
smtp_server_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

/* smtp_server_error - count a client error; too many ends the session */
static void
smtp_server_error(struct smtp_session *s)
{
	if (++s->errors < SMTP_MAX_ERRORS)
		return;
	log_info("event=smtp.errors session=%llu client=%s errors=%u",
	    (unsigned long long)s->id, s->ip, s->errors);
	smtp_server_reply(s, "421 4.7.0 %s Error: too many errors",
	    s->conf->server.hostname);
	smtp_server_close(s);
}

static void
smtp_server_reset(struct smtp_session *s)
{
	if (s->msg != NULL) {
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
	s->bdat_left = 0;
	s->bdat_last = false;
	s->bdat_reject = NULL;
	if (s->state & (SMTP_STATE_MAIL | SMTP_STATE_RCPT | SMTP_STATE_DATA |
	    SMTP_STATE_BDAT | SMTP_STATE_COMMIT))
		s->state = SMTP_STATE_READY;
}

void
smtp_server_free(struct smtp_session *s)
{
	struct worker *w = s->w;

	idmap_del(&w->sessions, s->id);
	if (s->state == SMTP_STATE_COMMIT)
		s->msg = NULL;		/* the spool owns it now */
	smtp_server_reset(s);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (s->counted)
		limits_disconnect(s->ip);
	log_debug("event=smtp.close session=%llu client=%s",
	    (unsigned long long)s->id, s->ip);
	conf_snap_unref(s->snap);
	free(s->commit_from);
	free(s);
	worker_check_done(w);
}

/* smtp_server_close - stop reading; free once the output is flushed */
static void
smtp_server_close(struct smtp_session *s)
{
	if (s->state == SMTP_STATE_COMMIT)
		s->msg = NULL;
	smtp_server_reset(s);
	s->state = SMTP_STATE_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		smtp_server_free(s);
	else
		bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
}

static void
smtp_server_timeouts(struct smtp_session *s)
{
	struct timeval rt = { s->conf->limits.command_timeout, 0 };
	struct timeval wt = { s->conf->limits.command_timeout, 0 };

	if (s->state == SMTP_STATE_DATA || s->bdat_left > 0)
		rt.tv_sec = s->conf->limits.data_timeout;
	if (s->state == SMTP_STATE_COMMIT)
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

	if (s->state == SMTP_STATE_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			smtp_server_free(s);
		return;
	}
	/* output drained below the mark: go on with pipelined commands */
	smtp_server_process(s);
}

static void
smtp_server_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

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

void
smtp_server_accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa,
    struct listen_sock *sock)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	enum limits_verdict v;

	s->id = id_next();
	s->w = w;
	s->snap = conf_live_get(w->ctx->live);
	s->conf = s->snap->conf;
	s->state = SMTP_STATE_CONNECTED;
	snprintf(s->listener, sizeof(s->listener), "%s", sock->listener);
	s->role = CONF_ROLE_MX;
	for (size_t i = 0; i < s->conf->nlisteners; i++)
		if (strcmp(s->conf->listeners[i].name, sock->listener) == 0)
			s->role = s->conf->listeners[i].role;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr,
		    s->ip, sizeof(s->ip));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr,
		    s->ip, sizeof(s->ip));
	else
		snprintf(s->ip, sizeof(s->ip), "unknown");
	s->trusted = conf_is_trusted(s->conf, sa);

	s->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		evutil_closesocket(fd);
		conf_snap_unref(s->snap);
		free(s);
		return;
	}
	idmap_put(&w->sessions, s->id, s);
	bufferevent_setcb(s->bev, smtp_server_read_cb, smtp_server_write_cb,
	    smtp_server_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_HIGH);

	if (w->stopping) {
		smtp_server_reply(s, "421 4.3.2 %s Service shutting down",
		    s->conf->server.hostname);
		smtp_server_close(s);
		return;
	}
	v = limits_connect(s->ip, s->conf->limits.max_connections,
	    s->conf->limits.max_connections_per_ip);
	if (v != LIMITS_OK) {
		log_info("event=smtp.limit client=%s limit=%s", s->ip,
		    v == LIMITS_TOO_MANY ? "max_connections" :
		    "max_connections_per_ip");
		smtp_server_reply(s, "421 4.7.0 %s Error: too many connections%s",
		    s->conf->server.hostname,
		    v == LIMITS_TOO_MANY ? "" : " from your address");
		bufferevent_enable(s->bev, EV_WRITE);
		smtp_server_close(s);
		return;
	}
	s->counted = true;
	log_info("event=smtp.connect session=%llu client=%s listener=%s",
	    (unsigned long long)s->id, s->ip, s->listener);
	smtp_server_reply(s, "220 %s ESMTP relais", s->conf->server.hostname);
	smtp_server_timeouts(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

void
smtp_server_shutdown(struct smtp_session *s)
{
	s->stopping = true;
	if (s->state & (SMTP_STATE_DATA | SMTP_STATE_COMMIT | SMTP_STATE_CLOSING)
	    || s->bdat_left > 0)
		return;		/* finishes its transaction first */
	smtp_server_reply(s, "421 4.3.2 %s Service shutting down",
	    s->conf->server.hostname);
	smtp_server_close(s);
}

/* --- commands ---------------------------------------------------------- */

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
	smtp_server_reply(s, "250 CHUNKING");
}

static char *
smtp_server_strdup_str(struct str s)
{
	return xstrndup(s.p ? s.p : "", s.len);
}

static void
smtp_server_cmd_mail(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_path path;
	const char *why = NULL;
	struct buf addr;
	enum smtp_param_result pr;

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
	s->msg = spool_msg_new();
	id_qid_new(s->msg->qid);
	s->msg->sender = buf_steal(&addr, NULL);
	if (s->msg->sender == NULL)
		s->msg->sender = xstrdup("");
	s->msg->smtputf8 = s->mp.smtputf8;
	s->msg->body8 = s->mp.body == SMTP_BODY_8BITMIME;
	s->msg->ret = (int)s->mp.ret;
	if (s->mp.envid.len)
		s->msg->envid = smtp_server_strdup_str(s->mp.envid);
	/* the slices in s->mp point into this line: keep values only */
	s->mp.envid = STR_NULL;
	s->mp.auth = STR_NULL;
	s->state = SMTP_STATE_MAIL;
	log_debug("event=smtp.mail session=%llu id=%s from=<%s>",
	    (unsigned long long)s->id, s->msg->qid, s->msg->sender);
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

static void
smtp_server_cmd_rcpt(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_path path;
	struct smtp_rcpt_params rp;
	struct local_targets targets = { NULL, 0 };
	const char *why = NULL;
	enum smtp_param_result pr;
	enum local_verdict v = LOCAL_OK;
	char *local = NULL, *domain = NULL, *orcpt = NULL;
	struct buf orig;
	size_t i;

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

	if (conf_is_local_domain(s->conf, str_cstr(domain))) {
		v = local_resolve(s->snap, local, domain, &targets);
	} else if (s->trusted) {
		targets.v = xcalloc(1, sizeof(*targets.v));
		targets.v[0].addr = xstrdup(buf_cstr(&orig));
		targets.v[0].transport = SPOOL_TRANSPORT_REMOTE;
		targets.n = 1;
	} else {
		log_info("event=rcpt.reject reason=relay session=%llu id=%s"
		    " client=%s to=<%s>", (unsigned long long)s->id,
		    s->msg->qid, s->ip, buf_cstr(&orig));
		smtp_server_reply(s, "554 5.7.1 <%s>: Relay access denied",
		    buf_cstr(&orig));
		goto out;
	}
	switch (v) {
	case LOCAL_OK:
		break;
	case LOCAL_UNKNOWN:
		log_info("event=rcpt.reject reason=unknown session=%llu id=%s"
		    " client=%s to=<%s>", (unsigned long long)s->id,
		    s->msg->qid, s->ip, buf_cstr(&orig));
		smtp_server_reply(s, "550 5.1.1 <%s>: Recipient address"
		    " rejected: User unknown", buf_cstr(&orig));
		goto out;
	case LOCAL_TOO_MANY:
	case LOCAL_LOOP:
		log_warnx("event=rcpt.reject reason=alias session=%llu id=%s"
		    " to=<%s> error=\"%s\"", (unsigned long long)s->id,
		    s->msg->qid, buf_cstr(&orig), v == LOCAL_LOOP ?
		    "alias nesting too deep" : "alias expands too far");
		smtp_server_reply(s, "550 5.4.6 <%s>: Alias expansion failed",
		    buf_cstr(&orig));
		goto out;
	}
	if (rp.orcpt.len)
		orcpt = smtp_server_strdup_str(rp.orcpt);
	for (i = 0; i < targets.n; i++)
		spool_msg_add_rcpt(s->msg, targets.v[i].addr, buf_cstr(&orig),
		    orcpt, rp.notify, targets.v[i].transport);
	s->nrcpts++;
	snprintf(s->last_rcpt, sizeof(s->last_rcpt), "%s", buf_cstr(&orig));
	s->state = SMTP_STATE_RCPT;
	log_debug("event=smtp.rcpt session=%llu id=%s to=<%s> targets=%zu",
	    (unsigned long long)s->id, s->msg->qid, buf_cstr(&orig), targets.n);
	smtp_server_reply(s, "250 2.1.5 Ok");
out:
	local_targets_fini(&targets);
	buf_fini(&orig);
	free(local);
	free(domain);
	free(orcpt);
}

/* smtp_server_received - the RFC 5321 4.4 trace header, first in the body */
static int
smtp_server_received(struct smtp_session *s)
{
	char date[64], buf[1024];
	struct tm tm;
	time_t now = time(NULL);
	const char *proto;
	int n;
	struct err err;

	s->msg->arrival = now;
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (s->mp.smtputf8)
		proto = "UTF8SMTP";
	else
		proto = s->esmtp ? "ESMTP" : "SMTP";
	n = snprintf(buf, sizeof(buf), "Received: from %s ([%s])\r\n"
	    "\tby %s (relais) with %s id %s\r\n"
	    "\t(listener %s)%s%s%s;\r\n\t%s\r\n",
	    s->helo, s->ip, s->conf->server.hostname, proto, s->msg->qid,
	    s->listener, s->nrcpts == 1 ? "\r\n\tfor <" : "",
	    s->nrcpts == 1 ? s->last_rcpt : "", s->nrcpts == 1 ? ">" : "",
	    date);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = snprintf(buf, sizeof(buf), "Received: by %s (relais) id %s;"
		    "\r\n\t%s\r\n", s->conf->server.hostname, s->msg->qid, date);
	if (spool_body_write(&s->msg->body, spool_body_dir(s->w->ctx->spool),
	    s->msg->qid, buf, (size_t)n, &err) == -1) {
		log_error("event=spool.body id=%s error=\"%s\"", s->msg->qid,
		    err.msg);
		return -1;
	}
	s->msg->body.size = 0;	/* the size counts the client's text only */
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

/* smtp_server_text - message text out of the scanner into the body */
static void
smtp_server_text(struct smtp_session *s, const char *p, size_t n)
{
	struct err err;

	if (n == 0)
		return;
	s->text_size += n;
	if (s->text_size > s->conf->limits.max_message_size)
		s->too_big = true;
	if (s->too_big || s->write_failed || s->data.flags)
		return;
	if (spool_body_write(&s->msg->body, spool_body_dir(s->w->ctx->spool),
	    s->msg->qid, p, n, &err) == -1) {
		log_error("event=spool.body id=%s error=\"%s\"", s->msg->qid,
		    err.msg);
		s->write_failed = true;
	}
}

/* smtp_server_finish - the message is complete: refuse it or spool it */
static void
smtp_server_finish(struct smtp_session *s)
{
	const char *reason = NULL;

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
	s->msg->client = xstrdup(s->ip);
	s->msg->helo = xstrdup(s->helo);
	s->msg->listener = xstrdup(s->listener);
	memcpy(s->commit_qid, s->msg->qid, sizeof(s->commit_qid));
	free(s->commit_from);
	s->commit_from = xstrdup(s->msg->sender);
	s->commit_size = s->msg->body.size;
	s->commit_rcpts = s->msg->nrcpts;
	s->state = SMTP_STATE_COMMIT;
	smtp_server_timeouts(s);
	spool_submit_msg(s->w->ctx->spool, s->msg, worker_spool_done, s->w,
	    s->id);
	/* s->msg stays for the log line; the spool owns it until done */
}

void
smtp_server_spool_done(struct smtp_session *s, int status, void *data)
{
	if (s == NULL || s->state != SMTP_STATE_COMMIT)
		return;
	/* the spool frees the message after done: what we log was kept */
	s->msg = NULL;
	s->state = SMTP_STATE_READY;
	if (status == 0) {
		log_info("event=received id=%s from=<%s> rcpts=%zu size=%llu"
		    " client=%s listener=%s session=%llu", s->commit_qid,
		    s->commit_from, s->commit_rcpts,
		    (unsigned long long)s->commit_size, s->ip, s->listener,
		    (unsigned long long)s->id);
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
		return;
	}
	smtp_server_process(s);
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
	} else if (s->state == SMTP_STATE_RCPT) {
		if (smtp_server_received(s) == -1)
			s->write_failed = true;
		smtp_data_init(&s->data, SMTP_DATA_CHUNK);
		s->state = SMTP_STATE_BDAT;
	}
	s->bdat_left = cmd->bdat_size;
	s->bdat_last = cmd->bdat_last;
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
	smtp_server_reply(s, "214-2.0.0 NOOP QUIT VRFY HELP");
	smtp_server_reply(s, "214 2.0.0 See RFC 5321");
}

static void
smtp_server_cmd_notavail(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_server_reply(s, "502 5.5.1 %s not available",
	    smtp_parse_verb_name(cmd->verb));
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

static void
smtp_server_process(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer *out = bufferevent_get_output(s->bev);
	struct evbuffer_ptr p;
	char line[SMTP_CMD_LINE_MAX + 1];
	size_t len, n;

	while (s->state != SMTP_STATE_COMMIT && s->state != SMTP_STATE_CLOSING) {
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
			smtp_server_reply(s, "500 5.5.2 Error: line too long");
			smtp_server_error(s);
			continue;
		}
		n = (size_t)p.pos;
		evbuffer_remove(in, line, n + 2);
		if (memchr(line, '\n', n) != NULL || memchr(line, '\r', n) != NULL) {
			log_info("event=smtp.bare_cr_lf session=%llu client=%s",
			    (unsigned long long)s->id, s->ip);
			smtp_server_reply(s, "500 5.5.2 Error: bare CR or LF in"
			    " command (lines must end with CRLF)");
			smtp_server_error(s);
			continue;
		}
		smtp_server_command(s, str_make(line, n));
	}
	if (s->state == SMTP_STATE_CLOSING)
		return;
	if (s->state != SMTP_STATE_COMMIT)
		smtp_server_timeouts(s);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
}
