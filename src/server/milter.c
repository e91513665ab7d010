/* SPDX-License-Identifier: ISC */
/*
 * milter.c - the milter client of one inbound session (milter.h).
 *
 * Organisation: a chain holds one connection per configured milter and
 * at most one running step (an SMTP event delivered to the milters in
 * order). A step starts on a later turn of the loop (the kick event),
 * goes milter by milter (milter_run), each one sent its macros and the
 * event and, unless it negotiated not to answer that event, waited for
 * with a timer; its answer (milter_read_cb) moves the step on or ends
 * it. The end of the message is a small machine of its own per milter:
 * header fields, end of header, body chunks, end of body, then the
 * modification requests up to the final answer, applied to the
 * struct milter_msg as they come, so the next milter sees them.
 *
 * A milter that cannot be reached, times out, closes or breaks the
 * protocol is closed and marked failed: from then on it counts as
 * [milter] default_action says (accept: it is skipped; tempfail or
 * reject: every event answers with that), as Postfix does.
 *
 * Memory is bounded: a packet from a milter is at most
 * MILTER_PACKET_MAX, a body goes out one chunk at a time (with no
 * answers awaited, while the socket's output holds under
 * MILTER_WRITE_HIGH), a new body goes through a spool_body (spilled to a
 * file past SPOOL_BLOB_MAX) and may not pass the message size limit.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "server/milter.h"
#include "smtp/milter_proto.h"
#include "spool/spool.h"

#define MILTER_WRITE_HIGH	(256 * 1024)	/* body output in flight */
#define MILTER_MACROS_MAX	64		/* macros per stage */
#define MILTER_RCPT_EDITS_MAX	1000		/* added or deleted */

/* the steps: the SMTP events a chain delivers */
enum milter_step {
	STEP_NONE,
	STEP_CONNECT,
	STEP_HELO,
	STEP_MAIL,
	STEP_RCPT,
	STEP_DATA,
	STEP_EOM,
};

/* a milter's connection */
enum milter_io {
	IO_IDLE,		/* not connected yet */
	IO_CONNECTING,
	IO_NEGOTIATING,		/* OPTNEG sent */
	IO_READY,
	IO_CLOSED,
};

/* what a milter still takes */
enum milter_st {
	ST_ACTIVE,
	ST_DONE,		/* accepted the connection: no more events */
	ST_DENIED,		/* refused the connection */
	ST_FAILED,		/* default_action from now on */
};

/* where a milter is in the end of the message */
enum milter_eom_phase {
	EOM_HEADERS,
	EOM_EOH,
	EOM_BODY,
	EOM_EOB,
	EOM_REPLIES,		/* modifications until the final answer */
};

/* what a function that may end the step says */
enum milter_go {
	GO_WAIT,		/* a reply (or write room) is awaited */
	GO_NEXT,		/* this milter is done with the event */
	GO_STOP,		/* the verdict is made: the step ends */
};

struct milter_conn {
	struct milter_chain	*c;
	const char		*name;		/* as configured */
	struct bufferevent	*bev;
	struct event		*timer;
	int			 io;		/* enum milter_io */
	int			 st;		/* enum milter_st */
	bool			 waiting;	/* a reply is awaited */
	bool			 in_msg;	/* MAIL sent, message not over */
	bool			 msg_done;	/* accepted this message */
	bool			 skip_body;	/* SMFIR_SKIP */
	uint32_t		 version;
	uint32_t		 actions;
	uint32_t		 protocol;
	char			*macros[MILTER_STAGE__COUNT];	/* its own
						   lists (SETSYMLIST) */
};

struct milter_chain {
	struct event_base	*base;
	const struct conf	*conf;
	milter_macro_fn		*macro;
	void			*macro_arg;
	uint64_t		 log_id;
	struct milter_conn	*v;
	size_t			 n;
	struct event		*kick;		/* starts a step on a later
						   turn */
	/* the running step */
	int			 step;		/* enum milter_step */
	size_t			 cur;		/* the milter it is at */
	char			 cmd;		/* SMFIC_* of the event */
	int			 stage;		/* its macros */
	uint32_t		 no_flag;	/* SMFIP_NO* for the event */
	uint32_t		 nr_flag;	/* SMFIP_NR_* */
	struct buf		 event;		/* its packet */
	milter_done_fn		*done;
	void			*done_arg;
	struct milter_verdict	 verdict;
	struct buf		 out;		/* a packet being built */
	struct buf		 rx;		/* a packet being read */
	/* the end of the message, for the milter at cur */
	struct milter_msg	*msg;
	int			 phase;		/* enum milter_eom_phase */
	size_t			 hdr_i;
	uint64_t		 body_pos, body_end;
	char			*chunk;		/* MILTER_CHUNK_MAX octets */
	bool			 nb_open;	/* a new body is being written */
	struct spool_body	 nb;
	struct milter_crlf	 crlf;
	char			 nb_last;	/* its last octet */
	char			 edit_error[128];	/* an edit that could
							   not be made */
};

static void	milter_run(struct milter_chain *c);
static enum milter_go milter_fail(struct milter_conn *m, const char *why);
static enum milter_go milter_eom_send(struct milter_chain *c,
		    struct milter_conn *m);

/* --- the message ------------------------------------------------------ */

void
milter_msg_init(struct milter_msg *m)
{
	memset(m, 0, sizeof(*m));
	milter_hdrs_init(&m->hdrs, 0);
	spool_body_init(&m->repl, SPOOL_BLOB_MAX);
}

void
milter_msg_fini(struct milter_msg *m)
{
	milter_hdrs_fini(&m->hdrs);
	spool_body_discard(&m->repl);
	for (size_t i = 0; i < m->nadd; i++)
		free(m->add_rcpts[i]);
	free(m->add_rcpts);
	for (size_t i = 0; i < m->ndel; i++)
		free(m->del_rcpts[i]);
	free(m->del_rcpts);
	free(m->new_from);
	memset(m, 0, sizeof(*m));
	m->repl.fd = -1;
}

/* milter_body_src - the body milters get now: a new one, or the text
   after the header section */
static struct spool_body *
milter_body_src(struct milter_msg *mm, uint64_t *base)
{
	*base = mm->replaced ? 0 : mm->body_off;
	return mm->replaced ? &mm->repl : mm->body;
}

/* milter_body_len - the octets a spool_body holds (its size field may
   leave out what relais added) */
static uint64_t
milter_body_len(const struct spool_body *b)
{
	struct stat st;

	if (b->fd == -1)
		return b->mem.len;
	if (fstat(b->fd, &st) == -1)
		return 0;
	return (uint64_t)st.st_size;
}

static ssize_t
milter_body_read(const struct spool_body *b, uint64_t off, char *out,
    size_t n)
{
	if (b->fd == -1) {
		if (off >= b->mem.len)
			return 0;
		if (n > b->mem.len - off)
			n = (size_t)(b->mem.len - off);
		memcpy(out, b->mem.data + off, n);
		return (ssize_t)n;
	}
	return pread(b->fd, out, n, (off_t)off);
}

/* --- logging and verdicts ---------------------------------------------- */

static void
milter_verdict_set(struct milter_chain *c, struct milter_conn *m,
    enum milter_verdict_kind kind, const char *reply)
{
	c->verdict.kind = kind;
	snprintf(c->verdict.reply, sizeof(c->verdict.reply), "%s",
	    reply ? reply : "");
	snprintf(c->verdict.milter, sizeof(c->verdict.milter), "%s",
	    m ? m->name : "");
}

/* milter_default - what a failed milter says: GO_NEXT (accept) or the
   default reply made the verdict (GO_STOP) */
static enum milter_go
milter_default(struct milter_chain *c, struct milter_conn *m)
{
	switch (c->conf->milter.default_action) {
	case CONF_MILTER_ACCEPT:
		return GO_NEXT;
	case CONF_MILTER_REJECT:
		milter_verdict_set(c, m, MILTER_V_REJECT,
		    "550 5.5.0 Service unavailable");
		return GO_STOP;
	default:
		milter_verdict_set(c, m, MILTER_V_TEMPFAIL,
		    "451 4.7.1 Service unavailable - try again later");
		return GO_STOP;
	}
}

/* --- the step ----------------------------------------------------------- */

/* milter_finish - the step is over: the answer goes to the session (which
   may free the chain: nothing may touch c after this) */
static void
milter_finish(struct milter_chain *c)
{
	milter_done_fn *done = c->done;
	void *arg = c->done_arg;
	struct milter_verdict v = c->verdict;

	c->step = STEP_NONE;
	c->done = NULL;
	c->msg = NULL;
	done(arg, &v);
}

static void
milter_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	milter_run(arg);
}

/* milter_start - a step for every milter from the first, from the
   next turn of the loop */
static void
milter_start(struct milter_chain *c, int step, char cmd, int stage,
    uint32_t no_flag, uint32_t nr_flag, milter_done_fn *done, void *arg)
{
	c->step = step;
	c->cmd = cmd;
	c->stage = stage;
	c->no_flag = no_flag;
	c->nr_flag = nr_flag;
	c->cur = 0;
	c->done = done;
	c->done_arg = arg;
	memset(&c->verdict, 0, sizeof(c->verdict));
	c->verdict.kind = MILTER_V_CONTINUE;
	event_active(c->kick, EV_TIMEOUT, 0);
}

static void
milter_arm(struct milter_conn *m, unsigned seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	m->waiting = true;
	evtimer_add(m->timer, &tv);
}

static void
milter_send(struct milter_conn *m, const struct buf *b)
{
	if (b->len > 0 && m->bev != NULL)
		bufferevent_write(m->bev, b->data, b->len);
}

/* milter_macro_value - a macro's value for the session: the name
   without its braces */
static const char *
milter_macro_value(struct milter_chain *c, struct str name)
{
	char bare[64];

	if (name.len >= 2 && name.p[0] == '{' && name.p[name.len - 1] == '}')
		name = str_make(name.p + 1, name.len - 2);
	if (name.len == 0 || name.len >= sizeof(bare))
		return NULL;
	memcpy(bare, name.p, name.len);
	bare[name.len] = '\0';
	return c->macro(c->macro_arg, bare);
}

/* milter_send_macros - SMFIC_MACRO of the stage's list (the milter's
   own, else the configured one) ahead of the command cmd */
static void
milter_send_macros(struct milter_chain *c, struct milter_conn *m, int stage,
    char cmd)
{
	const char *list = m->macros[stage] ? m->macros[stage] :
	    c->conf->milter.macros[stage];
	const char *names[MILTER_MACROS_MAX], *values[MILTER_MACROS_MAX];
	char store[MILTER_MACROS_MAX][64];
	struct str rest = str_cstr(list), name;
	size_t n = 0;

	while (n < MILTER_MACROS_MAX && milter_macro_name(&rest, &name)) {
		if (name.len >= sizeof(store[0]))
			continue;
		memcpy(store[n], name.p, name.len);
		store[n][name.len] = '\0';
		names[n] = store[n];
		values[n] = milter_macro_value(c, name);
		n++;
	}
	buf_reset(&c->out);
	milter_enc_macros(&c->out, cmd, names, values, n);
	milter_send(m, &c->out);
}

/* milter_event_send - the step's event to milter m */
static enum milter_go
milter_event_send(struct milter_chain *c, struct milter_conn *m)
{
	milter_send_macros(c, m, c->stage, c->cmd);
	if (c->step == STEP_MAIL)
		m->in_msg = true;	/* its message begins, even unseen */
	if (m->protocol & c->no_flag)
		return GO_NEXT;
	/* DATA exists from version 4 on */
	if (c->cmd == SMFIC_DATA && m->version < 4)
		return GO_NEXT;
	milter_send(m, &c->event);
	if (m->version >= 6 && (m->protocol & c->nr_flag))
		return GO_NEXT;
	milter_arm(m, c->conf->milter.command_timeout);
	return GO_WAIT;
}

static void milter_read_cb(struct bufferevent *bev, void *arg);
static void milter_write_cb(struct bufferevent *bev, void *arg);
static void milter_event_cb(struct bufferevent *bev, short what, void *arg);

/* milter_open - connect to m->name; GO_WAIT, or what its failure says */
static enum milter_go
milter_open(struct milter_chain *c, struct milter_conn *m)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct conf_addr a;
	struct err err;

	memset(&ss, 0, sizeof(ss));
	if (strncmp(m->name, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;

		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof(un->sun_path), "%s", m->name + 5);
		sslen = sizeof(*un);
	} else if (strncmp(m->name, "inet:", 5) == 0 &&
	    conf_parse_addr(m->name + 5, &a, &err) == 0) {
		memcpy(&ss, &a.ss, a.sslen);
		sslen = a.sslen;
	} else {
		return milter_fail(m, "bad address");
	}
	m->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (m->bev == NULL)
		return milter_fail(m, "cannot make a socket");
	bufferevent_setcb(m->bev, milter_read_cb, milter_write_cb,
	    milter_event_cb, m);
	bufferevent_enable(m->bev, EV_READ | EV_WRITE);
	m->io = IO_CONNECTING;
	milter_arm(m, c->conf->milter.connect_timeout);
	if (bufferevent_socket_connect(m->bev, (struct sockaddr *)&ss,
	    sslen) == -1)
		return milter_fail(m, strerror(errno ? errno : ECONNREFUSED));
	return GO_WAIT;
}

/* milter_close - drop m's connection (QUIT first when it is in sync) */
static void
milter_close(struct milter_conn *m, bool quit)
{
	if (m->timer != NULL)
		evtimer_del(m->timer);
	m->waiting = false;
	m->in_msg = false;
	if (m->bev != NULL) {
		evutil_socket_t fd = bufferevent_getfd(m->bev);

		if (quit && m->io == IO_READY && fd != -1 &&
		    evbuffer_get_length(bufferevent_get_output(m->bev)) == 0) {
			static const char q[5] = { 0, 0, 0, 1, SMFIC_QUIT };

			(void)send(fd, q, sizeof(q), MSG_NOSIGNAL |
			    MSG_DONTWAIT);
		}
		bufferevent_free(m->bev);
		m->bev = NULL;
	}
	m->io = IO_CLOSED;
}

/* milter_nb_drop - a new body being written is given up */
static void
milter_nb_drop(struct milter_chain *c)
{
	if (c->nb_open)
		spool_body_discard(&c->nb);
	c->nb_open = false;
}

/* milter_fail - m is broken: log, close, mark; when the step waits on
   it, its default action decides (GO_NEXT or GO_STOP); else GO_NEXT */
static enum milter_go
milter_fail(struct milter_conn *m, const char *why)
{
	struct milter_chain *c = m->c;

	log_warnx("event=milter.error session=%llu milter=%s error=\"%s\"",
	    (unsigned long long)c->log_id, m->name, why);
	milter_close(m, false);
	m->st = ST_FAILED;
	if (c->step == STEP_EOM && &c->v[c->cur] == m)
		milter_nb_drop(c);
	if (c->step == STEP_NONE || &c->v[c->cur] != m)
		return GO_NEXT;
	return milter_default(c, m);
}

/* milter_resume - the milter at cur answered (or failed) with go: move
   the step on */
static void
milter_resume(struct milter_chain *c, enum milter_go go)
{
	if (go == GO_WAIT)
		return;
	if (go == GO_STOP) {
		milter_finish(c);
		return;
	}
	c->cur++;
	milter_run(c);
}

/* milter_one - the step's event for the milter at cur */
static enum milter_go
milter_one(struct milter_chain *c, struct milter_conn *m)
{
	switch (m->st) {
	case ST_FAILED:
		return milter_default(c, m);
	case ST_DONE:
	case ST_DENIED:
		return GO_NEXT;
	default:
		break;
	}
	if (m->io == IO_IDLE || m->io == IO_CLOSED) {
		if (c->step != STEP_CONNECT)
			return GO_NEXT;		/* never connected */
		return milter_open(c, m);
	}
	if (c->step >= STEP_RCPT && m->msg_done)
		return GO_NEXT;
	if (c->step == STEP_EOM) {
		if (!m->in_msg)
			return GO_NEXT;
		c->phase = EOM_HEADERS;
		c->hdr_i = 0;
		c->body_pos = 0;
		c->edit_error[0] = '\0';
		return milter_eom_send(c, m);
	}
	return milter_event_send(c, m);
}

static void
milter_run(struct milter_chain *c)
{
	while (c->cur < c->n) {
		enum milter_go go = milter_one(c, &c->v[c->cur]);

		if (go == GO_WAIT)
			return;
		if (go == GO_STOP) {
			milter_finish(c);
			return;
		}
		c->cur++;
	}
	milter_finish(c);
}

/* --- the end of the message ---------------------------------------------- */

/* milter_eom_send - send what the milter at cur gets next; GO_WAIT when
   a reply or room to write is awaited */
static enum milter_go
milter_eom_send(struct milter_chain *c, struct milter_conn *m)
{
	struct milter_msg *mm = c->msg;
	bool leadspc = (m->protocol & SMFIP_HDR_LEADSPC) != 0;
	unsigned tmo = c->conf->milter.content_timeout;

	for (;;) {
		switch (c->phase) {
		case EOM_HEADERS:
			if (m->protocol & SMFIP_NOHDRS) {
				c->phase = EOM_EOH;
				continue;
			}
			while (c->hdr_i < mm->hdrs.n &&
			    mm->hdrs.v[c->hdr_i].origin == MILTER_HDR_PREFIX)
				c->hdr_i++;
			if (c->hdr_i >= mm->hdrs.n) {
				c->phase = EOM_EOH;
				continue;
			}
			{
				const struct milter_hdr_field *f =
				    &mm->hdrs.v[c->hdr_i++];
				struct buf val;

				buf_init(&val, 0);
				milter_hdr_value(f, leadspc, &val);
				buf_reset(&c->out);
				milter_enc_header(&c->out, milter_hdr_name(f),
				    buf_str(&val));
				buf_fini(&val);
				milter_send(m, &c->out);
			}
			if (m->version >= 6 && (m->protocol & SMFIP_NR_HDR))
				continue;
			milter_arm(m, tmo);
			return GO_WAIT;
		case EOM_EOH:
			c->phase = EOM_BODY;
			{
				uint64_t base;
				struct spool_body *b = milter_body_src(mm,
				    &base);
				uint64_t len = milter_body_len(b);

				c->body_pos = base;
				c->body_end = len > base ? len : base;
			}
			milter_send_macros(c, m, MILTER_STAGE_EOH, SMFIC_EOH);
			if (m->protocol & SMFIP_NOEOH)
				continue;
			buf_reset(&c->out);
			milter_enc_simple(&c->out, SMFIC_EOH);
			milter_send(m, &c->out);
			if (m->version >= 6 && (m->protocol & SMFIP_NR_EOH))
				continue;
			milter_arm(m, tmo);
			return GO_WAIT;
		case EOM_BODY:
			if ((m->protocol & SMFIP_NOBODY) || m->skip_body ||
			    c->body_pos >= c->body_end) {
				c->phase = EOM_EOB;
				continue;
			}
			if (evbuffer_get_length(bufferevent_get_output(m->bev)) >
			    MILTER_WRITE_HIGH) {
				/* the write callback goes on once it drains */
				bufferevent_setwatermark(m->bev, EV_WRITE,
				    MILTER_WRITE_HIGH / 4, 0);
				m->waiting = false;
				evtimer_del(m->timer);
				{
					struct timeval tv = { (time_t)tmo, 0 };

					evtimer_add(m->timer, &tv);
				}
				return GO_WAIT;
			}
			{
				uint64_t base;
				struct spool_body *b = milter_body_src(mm,
				    &base);
				size_t want = MILTER_CHUNK_MAX;
				ssize_t got;

				if (c->chunk == NULL)
					c->chunk = xmalloc(MILTER_CHUNK_MAX);
				if (want > c->body_end - c->body_pos)
					want = (size_t)(c->body_end -
					    c->body_pos);
				got = milter_body_read(b, c->body_pos, c->chunk,
				    want);
				if (got <= 0) {
					/* the text cannot be read: 451 */
					log_warn("event=milter.body session=%llu",
					    (unsigned long long)c->log_id);
					milter_verdict_set(c, NULL,
					    MILTER_V_TEMPFAIL, "451 4.3.0 Error:"
					    " local error, try again later");
					return GO_STOP;
				}
				c->body_pos += (uint64_t)got;
				buf_reset(&c->out);
				milter_enc_body(&c->out, c->chunk, (size_t)got);
				milter_send(m, &c->out);
			}
			if (m->version >= 6 && (m->protocol & SMFIP_NR_BODY))
				continue;
			milter_arm(m, tmo);
			return GO_WAIT;
		case EOM_EOB:
			milter_send_macros(c, m, MILTER_STAGE_EOM,
			    SMFIC_BODYEOB);
			buf_reset(&c->out);
			milter_enc_simple(&c->out, SMFIC_BODYEOB);
			milter_send(m, &c->out);
			c->phase = EOM_REPLIES;
			milter_arm(m, tmo);
			return GO_WAIT;
		default:
			milter_arm(m, tmo);
			return GO_WAIT;
		}
	}
}

/* milter_nb_write - a chunk of a new body (SMFIR_REPLBODY) */
static void
milter_nb_write(struct milter_chain *c, struct milter_conn *m, struct str p)
{
	struct milter_msg *mm = c->msg;
	struct buf norm;
	struct err err;
	char name[ID_QID_LEN + 16];

	if (c->edit_error[0] != '\0')
		return;
	if (!c->nb_open) {
		spool_body_init(&c->nb, SPOOL_BLOB_MAX);
		c->nb_open = true;
		c->crlf.cr = false;
		c->nb_last = '\n';
	}
	buf_init(&norm, 0);
	milter_crlf(&c->crlf, p.p, p.len, &norm);
	snprintf(name, sizeof(name), "%s.m%u", mm->qid, mm->nrepl + 1);
	if (norm.len > 0 && c->nb.size + norm.len > mm->max_size) {
		snprintf(c->edit_error, sizeof(c->edit_error), "552 5.3.4"
		    " Message size exceeds fixed maximum message size");
		milter_nb_drop(c);
	} else if (norm.len > 0 && spool_body_write(&c->nb, mm->body_dir,
	    name, norm.data, norm.len, &err) == -1) {
		log_error("event=milter.body id=%s error=\"%s\"", mm->qid,
		    err.msg);
		snprintf(c->edit_error, sizeof(c->edit_error), "451 4.3.0"
		    " Error: local error, try again later");
		milter_nb_drop(c);
	} else if (norm.len > 0) {
		c->nb_last = norm.data[norm.len - 1];
	}
	buf_fini(&norm);
	(void)m;
}

/* milter_nb_close - the new body is complete: it becomes the body */
static void
milter_nb_close(struct milter_chain *c)
{
	struct milter_msg *mm = c->msg;
	struct buf end;
	struct err err;
	char name[ID_QID_LEN + 16];

	if (!c->nb_open)
		return;
	buf_init(&end, 0);
	milter_crlf_end(&c->crlf, &end);
	if (end.len == 0 && c->nb.size > 0 && c->nb_last != '\n')
		buf_puts(&end, "\r\n");		/* the last line ends */
	snprintf(name, sizeof(name), "%s.m%u", mm->qid, mm->nrepl + 1);
	if (end.len > 0 && spool_body_write(&c->nb, mm->body_dir, name,
	    end.data, end.len, &err) == -1) {
		log_error("event=milter.body id=%s error=\"%s\"", mm->qid,
		    err.msg);
		snprintf(c->edit_error, sizeof(c->edit_error), "451 4.3.0"
		    " Error: local error, try again later");
		buf_fini(&end);
		milter_nb_drop(c);
		return;
	}
	buf_fini(&end);
	spool_body_discard(&mm->repl);
	mm->repl = c->nb;
	mm->replaced = true;
	mm->nrepl++;
	c->nb_open = false;
}

static void
milter_list_add(char ***v, size_t *n, struct str s)
{
	if (*n >= MILTER_RCPT_EDITS_MAX)
		return;
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrndup(s.p, s.len);
}

/* milter_edit - a modification at the end of the message, applied at
   once; one the milter did not negotiate is logged and ignored */
static void
milter_edit(struct milter_chain *c, struct milter_conn *m,
    const struct milter_reply *r)
{
	struct milter_msg *mm = c->msg;
	bool leadspc = (m->protocol & SMFIP_HDR_LEADSPC) != 0;
	uint32_t need;
	int rc = 0;

	switch (r->type) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
		need = SMFIF_ADDHDRS;
		break;
	case MILTER_R_CHGHEADER:
		need = SMFIF_CHGHDRS;
		break;
	case MILTER_R_ADDRCPT:
		need = SMFIF_ADDRCPT | SMFIF_ADDRCPT_PAR;
		break;
	case MILTER_R_DELRCPT:
		need = SMFIF_DELRCPT;
		break;
	case MILTER_R_CHGFROM:
		need = SMFIF_CHGFROM;
		break;
	case MILTER_R_QUARANTINE:
		need = SMFIF_QUARANTINE;
		break;
	default:
		need = SMFIF_CHGBODY;
		break;
	}
	if ((m->actions & need) == 0) {
		log_info("event=milter.edit.refused session=%llu milter=%s"
		    " id=%s reason=\"action not negotiated\"",
		    (unsigned long long)c->log_id, m->name, mm->qid);
		return;
	}
	if (r->type != MILTER_R_REPLBODY)
		milter_nb_close(c);
	if (c->edit_error[0] != '\0')
		return;
	switch (r->type) {
	case MILTER_R_ADDHEADER:
		rc = milter_hdrs_add(&mm->hdrs, r->name, r->value, leadspc);
		break;
	case MILTER_R_INSHEADER:
		rc = milter_hdrs_insert(&mm->hdrs, r->index, r->name,
		    r->value, leadspc);
		break;
	case MILTER_R_CHGHEADER:
		rc = milter_hdrs_change(&mm->hdrs, r->index, r->name,
		    r->value, leadspc);
		break;
	case MILTER_R_ADDRCPT:
		milter_list_add(&mm->add_rcpts, &mm->nadd, r->text);
		break;
	case MILTER_R_DELRCPT:
		milter_list_add(&mm->del_rcpts, &mm->ndel, r->text);
		break;
	case MILTER_R_CHGFROM:
		free(mm->new_from);
		mm->new_from = xstrndup(r->text.p, r->text.len);
		break;
	case MILTER_R_QUARANTINE:
		mm->quarantine = true;
		snprintf(mm->reason, sizeof(mm->reason), "%.*s",
		    (int)(r->text.len > 200 ? 200 : r->text.len), r->text.p);
		break;
	case MILTER_R_REPLBODY:
		milter_nb_write(c, m, r->text);
		break;
	default:
		break;
	}
	if (rc == -1)
		log_info("event=milter.edit.refused session=%llu milter=%s"
		    " id=%s reason=\"bad header field or header section too"
		    " large\"", (unsigned long long)c->log_id, m->name,
		    mm->qid);
}

/* --- replies ------------------------------------------------------------ */

/* milter_decided - a final answer other than continue/accept */
static enum milter_go
milter_decided(struct milter_chain *c, struct milter_conn *m,
    const struct milter_reply *r)
{
	char text[sizeof(c->verdict.reply)];
	bool conn = c->step == STEP_CONNECT || c->step == STEP_HELO;

	switch (r->type) {
	case MILTER_R_REJECT:
		milter_verdict_set(c, m, MILTER_V_REJECT,
		    "550 5.7.1 Command rejected");
		break;
	case MILTER_R_TEMPFAIL:
		milter_verdict_set(c, m, MILTER_V_TEMPFAIL,
		    "451 4.7.1 Service unavailable - try again later");
		break;
	case MILTER_R_REPLYCODE:
		milter_reply_smtp(r->text, text, sizeof(text));
		milter_verdict_set(c, m, text[0] == '4' ?
		    (strncmp(text, "421", 3) == 0 ? MILTER_V_SHUTDOWN :
		    MILTER_V_TEMPFAIL) : MILTER_V_REJECT, text);
		break;
	case MILTER_R_DISCARD:
		if (conn) {
			log_info("event=milter.discard_ignored session=%llu"
			    " milter=%s", (unsigned long long)c->log_id,
			    m->name);
			return GO_NEXT;
		}
		milter_verdict_set(c, m, MILTER_V_DISCARD, NULL);
		m->msg_done = true;
		break;
	default:	/* SHUTDOWN, CONN_FAIL */
		milter_verdict_set(c, m, MILTER_V_SHUTDOWN, "421 4.7.0"
		    " Server closing connection");
		break;
	}
	if (conn) {
		/* the milter is done with this connection (libmilter
		   closes its end) */
		m->st = ST_DENIED;
		milter_close(m, false);
	}
	return GO_STOP;
}

/* milter_reply - one packet from the milter at cur while it is awaited */
static enum milter_go
milter_reply(struct milter_chain *c, struct milter_conn *m, char cmd,
    const char *data, size_t len)
{
	struct milter_reply r;
	const char *why = NULL;

	if (milter_dec_reply(cmd, data, len, &r, &why) == -1)
		return milter_fail(m, why);
	if (r.type >= MILTER_R_ADDHEADER || r.type == MILTER_R_QUARANTINE) {
		if (c->step != STEP_EOM || c->phase != EOM_REPLIES)
			return milter_fail(m, "modification before the end"
			    " of the message");
		milter_edit(c, m, &r);
		milter_arm(m, c->conf->milter.content_timeout);
		return GO_WAIT;
	}
	if (c->step == STEP_EOM)
		milter_nb_close(c);
	switch (r.type) {
	case MILTER_R_PROGRESS:
		milter_arm(m, c->step == STEP_EOM ?
		    c->conf->milter.content_timeout :
		    c->conf->milter.command_timeout);
		return GO_WAIT;
	case MILTER_R_SKIP:
		/* no more body chunks; for any other event: go on */
		if (c->step != STEP_EOM)
			return GO_NEXT;
		if (c->phase == EOM_BODY)
			m->skip_body = true;
		return milter_eom_send(c, m);
	case MILTER_R_CONTINUE:
	case MILTER_R_ACCEPT:
		if (r.type == MILTER_R_ACCEPT && (c->step == STEP_CONNECT ||
		    c->step == STEP_HELO)) {
			/* no more events of this connection */
			m->st = ST_DONE;
			milter_close(m, false);
			return GO_NEXT;
		}
		if (c->step == STEP_EOM && c->phase == EOM_REPLIES) {
			m->in_msg = false;
			if (c->edit_error[0] != '\0') {
				milter_verdict_set(c, m, c->edit_error[0] ==
				    '4' ? MILTER_V_TEMPFAIL : MILTER_V_REJECT,
				    c->edit_error);
				return GO_STOP;
			}
			return GO_NEXT;
		}
		if (r.type == MILTER_R_ACCEPT) {
			/* no more events of this message */
			m->msg_done = true;
			return GO_NEXT;
		}
		if (c->step != STEP_EOM)
			return GO_NEXT;
		return milter_eom_send(c, m);
	default:
		return milter_decided(c, m, &r);
	}
}

/* milter_negotiated - the milter's OPTNEG answer */
static enum milter_go
milter_negotiated(struct milter_chain *c, struct milter_conn *m, char cmd,
    const char *data, size_t len)
{
	struct milter_optneg o;
	const char *why = NULL;

	if (cmd != SMFIC_OPTNEG)
		return milter_fail(m, "no negotiation answer");
	if (milter_dec_optneg(data, len, MILTER_OFFER_ACTIONS, &o, &why) == -1)
		return milter_fail(m, why);
	m->version = o.version;
	m->actions = o.actions;
	m->protocol = o.protocol;
	for (int i = 0; i < MILTER_STAGE__COUNT; i++) {
		if (!o.has_macros[i])
			continue;
		free(m->macros[i]);
		m->macros[i] = xstrndup(o.macros[i].p, o.macros[i].len);
	}
	m->io = IO_READY;
	log_debug("event=milter.ready session=%llu milter=%s version=%u"
	    " actions=0x%x protocol=0x%x", (unsigned long long)c->log_id,
	    m->name, m->version, m->actions, m->protocol);
	return milter_event_send(c, m);
}

static void
milter_read_cb(struct bufferevent *bev, void *arg)
{
	struct milter_conn *m = arg;
	struct milter_chain *c = m->c;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char hdr[4];
	const char *data;
	size_t len, used;
	char cmd;
	enum milter_go go;

	for (;;) {
		size_t have = evbuffer_get_length(in);
		uint32_t plen;

		if (have < 4)
			return;
		evbuffer_copyout(in, hdr, 4);
		plen = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
		    (uint32_t)hdr[2] << 8 | hdr[3];
		if (plen < 1 || plen > MILTER_PACKET_MAX) {
			go = milter_fail(m, "bad packet length");
			break;
		}
		if (have - 4 < plen)
			return;
		/* the packet is copied out first: what it starts may free
		   the connection */
		buf_reset(&c->rx);
		if (buf_reserve(&c->rx, 4 + (size_t)plen) == -1) {
			go = milter_fail(m, "out of memory");
			break;
		}
		evbuffer_remove(in, c->rx.data, 4 + (size_t)plen);
		c->rx.len = 4 + (size_t)plen;
		if (milter_frame(c->rx.data, c->rx.len, &cmd, &data, &len,
		    &used) != MILTER_FRAME_OK) {
			go = milter_fail(m, "bad packet");
			break;
		}
		if (!m->waiting || c->step == STEP_NONE || &c->v[c->cur] != m) {
			go = milter_fail(m, "unexpected packet");
			break;
		}
		m->waiting = false;
		evtimer_del(m->timer);
		if (m->io == IO_NEGOTIATING)
			go = milter_negotiated(c, m, cmd, data, len);
		else
			go = milter_reply(c, m, cmd, data, len);
		if (go != GO_WAIT)
			break;
	}
	milter_resume(c, go);
}

static void
milter_write_cb(struct bufferevent *bev, void *arg)
{
	struct milter_conn *m = arg;
	struct milter_chain *c = m->c;

	/* a body waiting for room goes on */
	if (c->step != STEP_EOM || &c->v[c->cur] != m || m->waiting ||
	    c->phase != EOM_BODY)
		return;
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	evtimer_del(m->timer);
	milter_resume(c, milter_eom_send(c, m));
}

static void
milter_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct milter_conn *m = arg;
	struct milter_chain *c = m->c;
	bool current = c->step != STEP_NONE && &c->v[c->cur] == m;
	enum milter_go go;

	if (what & BEV_EVENT_CONNECTED) {
		buf_reset(&c->out);
		milter_enc_optneg(&c->out, MILTER_VERSION,
		    MILTER_OFFER_ACTIONS, MILTER_OFFER_PROTOCOL);
		milter_send(m, &c->out);
		m->io = IO_NEGOTIATING;
		milter_arm(m, c->conf->milter.command_timeout);
		return;
	}
	go = milter_fail(m, (what & BEV_EVENT_EOF) ? "connection closed" :
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	if (current)
		milter_resume(c, go);
}

static void
milter_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct milter_conn *m = arg;
	struct milter_chain *c = m->c;
	bool current = c->step != STEP_NONE && &c->v[c->cur] == m;
	enum milter_go go;

	go = milter_fail(m, m->io == IO_CONNECTING ? "connect timeout" :
	    "timeout");
	if (current)
		milter_resume(c, go);
}

/* --- the interface ------------------------------------------------------- */

struct milter_chain *
milter_chain_new(struct event_base *base, const struct conf *conf,
    const char *const *servers, size_t n, milter_macro_fn *macro,
    void *macro_arg, uint64_t log_id)
{
	struct milter_chain *c;

	if (n == 0)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->conf = conf;
	c->macro = macro;
	c->macro_arg = macro_arg;
	c->log_id = log_id;
	c->kick = event_new(base, -1, 0, milter_kick_cb, c);
	buf_init(&c->event, 0);
	buf_init(&c->out, 0);
	buf_init(&c->rx, MILTER_PACKET_MAX + 8);
	c->nb.fd = -1;
	c->v = xcalloc(n, sizeof(*c->v));
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		struct milter_conn *m = &c->v[i];

		m->c = c;
		m->name = servers[i];
		m->timer = evtimer_new(base, milter_timer_cb, m);
	}
	return c;
}

void
milter_chain_free(struct milter_chain *c)
{
	if (c == NULL)
		return;
	c->step = STEP_NONE;
	milter_nb_drop(c);
	for (size_t i = 0; i < c->n; i++) {
		struct milter_conn *m = &c->v[i];

		milter_close(m, !m->waiting);
		if (m->timer != NULL)
			event_free(m->timer);
		for (int k = 0; k < MILTER_STAGE__COUNT; k++)
			free(m->macros[k]);
	}
	free(c->v);
	if (c->kick != NULL)
		event_free(c->kick);
	buf_fini(&c->event);
	buf_fini(&c->out);
	buf_fini(&c->rx);
	free(c->chunk);
	free(c);
}

void
milter_connect(struct milter_chain *c, const char *host, int family,
    uint16_t port, const char *addr, milter_done_fn *done, void *arg)
{
	char fam = family == AF_INET ? SMFIA_INET : family == AF_INET6 ?
	    SMFIA_INET6 : family == AF_UNIX ? SMFIA_UNIX : SMFIA_UNKNOWN;

	buf_reset(&c->event);
	milter_enc_connect(&c->event, host, fam, port, addr);
	milter_start(c, STEP_CONNECT, SMFIC_CONNECT, MILTER_STAGE_CONNECT,
	    SMFIP_NOCONNECT, SMFIP_NR_CONN, done, arg);
}

void
milter_helo(struct milter_chain *c, const char *helo, milter_done_fn *done,
    void *arg)
{
	buf_reset(&c->event);
	milter_enc_strings(&c->event, SMFIC_HELO, &helo, 1);
	milter_start(c, STEP_HELO, SMFIC_HELO, MILTER_STAGE_HELO,
	    SMFIP_NOHELO, SMFIP_NR_HELO, done, arg);
}

void
milter_mail(struct milter_chain *c, const char *const *argv, size_t n,
    milter_done_fn *done, void *arg)
{
	for (size_t i = 0; i < c->n; i++) {
		c->v[i].msg_done = false;
		c->v[i].skip_body = false;
	}
	buf_reset(&c->event);
	milter_enc_strings(&c->event, SMFIC_MAIL, argv, n);
	milter_start(c, STEP_MAIL, SMFIC_MAIL, MILTER_STAGE_MAIL,
	    SMFIP_NOMAIL, SMFIP_NR_MAIL, done, arg);
}

void
milter_rcpt(struct milter_chain *c, const char *const *argv, size_t n,
    milter_done_fn *done, void *arg)
{
	buf_reset(&c->event);
	milter_enc_strings(&c->event, SMFIC_RCPT, argv, n);
	milter_start(c, STEP_RCPT, SMFIC_RCPT, MILTER_STAGE_RCPT,
	    SMFIP_NORCPT, SMFIP_NR_RCPT, done, arg);
}

void
milter_data(struct milter_chain *c, milter_done_fn *done, void *arg)
{
	buf_reset(&c->event);
	milter_enc_simple(&c->event, SMFIC_DATA);
	milter_start(c, STEP_DATA, SMFIC_DATA, MILTER_STAGE_DATA,
	    SMFIP_NODATA, SMFIP_NR_DATA, done, arg);
}

void
milter_eom(struct milter_chain *c, struct milter_msg *m, milter_done_fn *done,
    void *arg)
{
	c->msg = m;
	buf_reset(&c->event);
	milter_start(c, STEP_EOM, SMFIC_BODYEOB, MILTER_STAGE_EOM, 0, 0,
	    done, arg);
}

void
milter_abort(struct milter_chain *c)
{
	static const char a[5] = { 0, 0, 0, 1, SMFIC_ABORT };

	if (c == NULL || c->step != STEP_NONE)
		return;
	for (size_t i = 0; i < c->n; i++) {
		struct milter_conn *m = &c->v[i];

		if (m->in_msg && m->bev != NULL && m->io == IO_READY &&
		    m->st == ST_ACTIVE)
			bufferevent_write(m->bev, a, sizeof(a));
		m->in_msg = false;
		m->msg_done = false;
	}
}
