/* SPDX-License-Identifier: ISC */
/*
 * bounce.c - DSN messages from delivery outcomes; see bounce.h.
 *
 * A report about a message sent with REQUIRETLS (RFC 8689 5) carries only
 * the header section of the original, whatever RET asked, and is itself
 * queued with REQUIRETLS: it says as much about the message as the
 * message's own header did.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "queue/bounce.h"
#include "smtp/smtp_param.h"
#include "spool/spool.h"

static char *
bounce_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void
bounce_add(struct bounce_batch *b, int64_t msg_id, enum dsn_kind kind,
    const char *final, const char *orig, const char *orcpt,
    const char *action, const char *status, const char *remote_mta,
    const char *diagnostic, int64_t last_attempt, int64_t will_retry_until)
{
	struct bounce_item *it;

	b->items = xreallocarray(b->items, b->n + 1, sizeof(*b->items));
	it = &b->items[b->n++];
	memset(it, 0, sizeof(*it));
	it->msg_id = msg_id;
	it->kind = kind;
	it->final = bounce_dup(final);
	it->orig = bounce_dup(orig);
	it->orcpt = bounce_dup(orcpt);
	it->action = bounce_dup(action);
	snprintf(it->status, sizeof(it->status), "%s", status);
	it->remote_mta = bounce_dup(remote_mta);
	it->diagnostic = bounce_dup(diagnostic);
	it->last_attempt = last_attempt;
	it->will_retry_until = will_retry_until;
}

void
bounce_batch_fini(struct bounce_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct bounce_item *it = &b->items[i];

		free(it->final);
		free(it->orig);
		free(it->orcpt);
		free(it->action);
		free(it->remote_mta);
		free(it->diagnostic);
	}
	free(b->items);
	b->items = NULL;
	b->n = 0;
}

/* bounce_8bit - the report holds octets 7bit cannot carry */
static bool
bounce_8bit(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if ((unsigned char)b->data[i] >= 0x80)
			return true;
	return false;
}

/* bounce_queue - put one report into the spool, in the open transaction */
static int
bounce_queue(struct spool *sp, const struct conf *conf, const char *to,
    const struct buf *report, bool body8, bool requiretls, const char *about,
    enum dsn_kind kind, struct err *err)
{
	struct spool_msg *msg = spool_msg_new();
	const char *at = strrchr(to, '@');
	bool local = at != NULL &&
	    conf_is_local_domain(conf, str_cstr(at + 1));
	char la[LOG_ADDR_MAX];
	int rc;

	id_qid_new(msg->qid);
	msg->sender = xstrdup("");
	msg->arrival = time(NULL);
	msg->body8 = body8;
	msg->requiretls = requiretls;
	msg->client = xstrdup("local");
	msg->listener = xstrdup("bounce");
	buf_fini(&msg->body.mem);
	buf_init(&msg->body.mem, 0);
	buf_append(&msg->body.mem, report->data, report->len);
	msg->body.size = report->len;
	spool_msg_add_rcpt(msg, to, to, NULL, SMTP_NOTIFY_NEVER,
	    local ? SPOOL_TRANSPORT_LOCAL : SPOOL_TRANSPORT_REMOTE);
	rc = spool_store_msg(sp, msg, err);
	if (rc == 0)
		log_info("event=dsn id=%s orig_id=%s kind=%s to=%s size=%zu%s",
		    msg->qid, about, kind == DSN_FAILED ? "failed" :
		    kind == DSN_DELAYED ? "delayed" : "delivered",
		    log_addr(la, sizeof(la), to),
		    report->len, requiretls ? " requiretls=yes" : "");
	spool_msg_free(msg);
	return rc;
}

int
bounce_flush(struct spool *sp, struct bounce_batch *b,
    const struct conf *conf, int64_t now, struct err *err)
{
	int rc = 0;

	for (size_t i = 0; i < b->n; i++) {
		struct bounce_item *first = &b->items[i];
		struct dsn_rcpt *r;
		struct dsn_msg m;
		struct spool_stored orig;
		struct buf report;
		const char *to, *qid;
		size_t nr = 0;
		int found;

		if (first->msg_id == 0)
			continue;	/* taken into an earlier report */
		if ((found = spool_msg_read(sp, first->msg_id, &orig,
		    err)) != 1) {
			spool_stored_fini(&orig);
			first->msg_id = 0;
			if (found == -1)
				rc = -1;
			continue;
		}
		qid = orig.qid;

		/* every item of this message and kind, in one report */
		r = xcalloc(b->n, sizeof(*r));
		for (size_t j = i; j < b->n; j++) {
			struct bounce_item *it = &b->items[j];

			if (it->msg_id != first->msg_id ||
			    it->kind != first->kind)
				continue;
			r[nr].final = it->final;
			r[nr].orig = it->orig;
			r[nr].orcpt = it->orcpt;
			r[nr].action = it->action;
			r[nr].status = it->status;
			r[nr].remote_mta = it->remote_mta;
			r[nr].diagnostic = it->diagnostic;
			r[nr].last_attempt = it->last_attempt;
			r[nr].will_retry_until = it->will_retry_until;
			nr++;
			if (j != i)
				it->msg_id = 0;
		}
		to = orig.sender;
		if (orig.sender[0] == '\0') {
			/* never bounce a bounce (RFC 5321 6.1; RFC 3461 6.2) */
			if (conf->relay.postmaster == NULL) {
				log_info("event=dsn.dropped orig_id=%s reason="
				    "\"null sender\"", qid);
				to = NULL;
			} else {
				to = conf->relay.postmaster;
			}
		}
		if (to != NULL) {
			m.kind = first->kind;
			m.reporting_mta = conf->server.hostname;
			m.qid = qid;
			m.sender = to;
			m.envid = orig.envid;
			/* REQUIRETLS: as if RET=HDRS,
			   RET=FULL disregarded (RFC 8689 5) */
			m.ret_full = orig.ret != SMTP_RET_HDRS &&
			    !orig.requiretls;
			m.arrival = orig.arrival;
			m.now = now;
			m.text = orig.text.data;
			m.text_len = orig.text.len;
			buf_init(&report, 0);
			dsn_format(&m, r, nr, &report);
			if (bounce_queue(sp, conf, to, &report,
			    bounce_8bit(&report), orig.requiretls, qid,
			    first->kind, err) == -1)
				rc = -1;
			buf_fini(&report);
		}
		first->msg_id = 0;
		free(r);
		spool_stored_fini(&orig);
	}
	bounce_batch_fini(b);
	return rc;
}
