/* SPDX-License-Identifier: ISC */
/*
 * dsn.c - RFC 3464 delivery status notifications; see dsn.h.
 *
 * The report is multipart/report; report-type=delivery-status with three
 * parts: a short human-readable text, the message/delivery-status fields
 * (per-message: Reporting-MTA, Original-Envelope-Id, Arrival-Date; per
 * recipient: Original-Recipient, Final-Recipient, Action, Status,
 * Remote-MTA, Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until), and
 * the original message (message/rfc822) or its header section
 * (text/rfc822-headers) as RET asks; delay and success reports carry only
 * the headers.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "queue/dsn.h"

void
dsn_date(char *out, size_t outlen, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(out, outlen, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* dsn_header_len - octets of the header section, up to the empty line */
static size_t
dsn_header_len(const char *text, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (memcmp(text + i, "\r\n\r\n", 4) == 0)
			return i + 2;
	return len;
}

/* dsn_has_8bit - the text holds octets the 7bit encoding cannot carry */
static int
dsn_has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

/* dsn_append_line - append text with any CR/LF made harmless (a header
   value built from a peer's reply must not break the header section) */
static int
dsn_append_clean(struct buf *out, const char *s)
{
	for (; s && *s; s++) {
		char c = (*s == '\r' || *s == '\n') ? ' ' : *s;

		if (buf_append(out, &c, 1) == -1)
			return -1;
	}
	return 0;
}

int
dsn_format(const struct dsn_msg *m, const struct dsn_rcpt *r, size_t n,
    struct buf *out)
{
	char date[64], boundary[80];
	const char *subject, *intro;
	size_t hlen;
	int full, eightbit;
	int rc = 0;

	switch (m->kind) {
	case DSN_FAILED:
		subject = "Undelivered Mail Returned to Sender";
		intro = "I'm sorry to have to inform you that your message could"
		    " not\r\nbe delivered to one or more recipients. The"
		    " details are below.";
		break;
	case DSN_DELAYED:
		subject = "Delayed Mail (still being retried)";
		intro = "Your message could not be delivered yet to one or more"
		    " recipients.\r\nIt is still in the queue and delivery will"
		    " be retried; you do not\r\nneed to send it again.";
		break;
	default:
		subject = "Successful Mail Delivery Report";
		intro = "Your message was delivered to the recipients below, as"
		    " you asked\r\nto be told.";
		break;
	}
	full = m->kind == DSN_FAILED && m->ret_full;
	hlen = dsn_header_len(m->text ? m->text : "", m->text_len);
	eightbit = dsn_has_8bit(m->text ? m->text : "",
	    full ? m->text_len : hlen);
	snprintf(boundary, sizeof(boundary), "%s.%lld/%s", m->qid,
	    (long long)m->now, m->reporting_mta);
	dsn_date(date, sizeof(date), m->now);

	rc |= buf_appendf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>"
	    "\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\n"
	    "Message-ID: <%s.%lld.dsn@%s>\r\nAuto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/report;"
	    " report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n"
	    "Content-Transfer-Encoding: %s\r\n\r\n"
	    "This is a MIME-encapsulated delivery status report.\r\n\r\n",
	    m->reporting_mta, m->sender, subject, date, m->qid,
	    (long long)m->now, m->reporting_mta, boundary,
	    eightbit ? "8bit" : "7bit");

	/* 1. for people */
	rc |= buf_appendf(out, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	    "This is the mail system at host %s.\r\n\r\n%s\r\n\r\n",
	    boundary, m->reporting_mta, intro);
	for (size_t i = 0; i < n; i++) {
		rc |= buf_appendf(out, "<%s>: ", r[i].final);
		rc |= dsn_append_clean(out, r[i].diagnostic ? r[i].diagnostic :
		    r[i].status);
		rc |= buf_puts(out, "\r\n");
	}
	rc |= buf_puts(out, "\r\n");

	/* 2. for programs */
	dsn_date(date, sizeof(date), m->arrival);
	rc |= buf_appendf(out, "--%s\r\nContent-Description: Delivery report"
	    "\r\nContent-Type: message/delivery-status\r\n\r\n"
	    "Reporting-MTA: dns; %s\r\nX-Relais-Queue-ID: %s\r\n",
	    boundary, m->reporting_mta, m->qid);
	if (m->envid != NULL && m->envid[0] != '\0')
		rc |= buf_appendf(out, "Original-Envelope-Id: %s\r\n", m->envid);
	rc |= buf_appendf(out, "Arrival-Date: %s\r\n", date);
	for (size_t i = 0; i < n; i++) {
		rc |= buf_puts(out, "\r\n");
		if (r[i].orcpt != NULL && strchr(r[i].orcpt, ';') != NULL)
			rc |= buf_appendf(out, "Original-Recipient: %s\r\n",
			    r[i].orcpt);
		else if (r[i].orig != NULL && r[i].orig[0] != '\0')
			rc |= buf_appendf(out, "Original-Recipient: rfc822;"
			    " %s\r\n", r[i].orig);
		rc |= buf_appendf(out, "Final-Recipient: rfc822; %s\r\n"
		    "Action: %s\r\nStatus: %s\r\n", r[i].final, r[i].action,
		    r[i].status);
		if (r[i].remote_mta != NULL && r[i].remote_mta[0] != '\0')
			rc |= buf_appendf(out, "Remote-MTA: dns; %s\r\n",
			    r[i].remote_mta);
		if (r[i].diagnostic != NULL && r[i].diagnostic[0] != '\0') {
			rc |= buf_puts(out, "Diagnostic-Code: ");
			rc |= dsn_append_clean(out, r[i].diagnostic);
			rc |= buf_puts(out, "\r\n");
		}
		if (r[i].last_attempt > 0) {
			dsn_date(date, sizeof(date), r[i].last_attempt);
			rc |= buf_appendf(out, "Last-Attempt-Date: %s\r\n", date);
		}
		if (r[i].will_retry_until > 0) {
			dsn_date(date, sizeof(date), r[i].will_retry_until);
			rc |= buf_appendf(out, "Will-Retry-Until: %s\r\n", date);
		}
	}
	rc |= buf_puts(out, "\r\n");

	/* 3. the original, or its headers */
	if (full) {
		rc |= buf_appendf(out, "--%s\r\nContent-Description: Undelivered"
		    " Message\r\nContent-Type: message/rfc822\r\n"
		    "Content-Transfer-Encoding: %s\r\n\r\n", boundary,
		    eightbit ? "8bit" : "7bit");
		rc |= buf_append(out, m->text ? m->text : "", m->text_len);
	} else {
		rc |= buf_appendf(out, "--%s\r\nContent-Description: Message"
		    " Headers\r\nContent-Type: text/rfc822-headers\r\n"
		    "Content-Transfer-Encoding: %s\r\n\r\n", boundary,
		    eightbit ? "8bit" : "7bit");
		rc |= buf_append(out, m->text ? m->text : "", hlen);
	}
	if (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2) != 0)
		rc |= buf_puts(out, "\r\n");
	rc |= buf_appendf(out, "\r\n--%s--\r\n", boundary);
	return rc ? -1 : 0;
}
