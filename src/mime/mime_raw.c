/* SPDX-License-Identifier: ISC */
/*
 * mime_raw.c - a whole message from the API made ready to spool; see
 * mime_raw.h.
 *
 * Pure: no I/O, no globals. Two passes over the lines. The first checks
 * the framing (line ends, NUL, 998 octets: RFC 5322 2.1.1, 2.3) and the
 * header section (RFC 5322 2.2: "name:", or a continuation line starting with white space
 * and holding more than white space: a blank-looking line that is not
 * empty reads as the end of the header to some parsers and not to
 * others, so it is refused),
 * counts the From:, Date: and Message-ID: fields and keeps From's value
 * unfolded. Only then is From parsed (api_addr_parse_first), so a
 * framing error is reported before an address problem. The second pass
 * writes: missing Date: and Message-ID: first, then every line with a
 * CRLF, leaving out the Bcc: fields (RFC 5322 3.6.3 lets the sender drop
 * them; the recipients come from the request, not from the header).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mime/mime_header.h"
#include "mime/mime_raw.h"

struct mime_raw_line {
	const char	*p;		/* the line, without its line break */
	size_t		 len;
	size_t		 next;		/* offset after the line break */
};

/* what the first pass learnt */
struct mime_raw_scan {
	size_t		 nfrom;
	bool		 date;
	bool		 msgid;
	struct buf	 from;		/* From:'s value, unfolded */
};

enum mime_raw_field {
	MIME_RAW_OTHER,
	MIME_RAW_FROM,
	MIME_RAW_BCC,
};

static int mime_raw_next(const char *in, size_t len, size_t pos,
    struct mime_raw_line *l);
static int mime_raw_scan(const char *in, size_t len, struct mime_raw_scan *s,
    struct api_error *e);
static size_t mime_raw_name(const struct mime_raw_line *l);
static enum mime_raw_field mime_raw_field(const struct mime_raw_line *l,
    size_t name_len, struct mime_raw_scan *s);
static int mime_raw_write(const char *in, size_t len,
    const struct mime_opts *o, const struct mime_raw_scan *s,
    struct buf *out);
static int mime_raw_fail(struct api_error *e, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int
mime_raw_prepare(const char *in, size_t len, const struct mime_opts *o,
    struct buf *out, struct api_addr *from_out, struct api_error *e)
{
	struct mime_raw_scan s = { 0 };
	const char *why = NULL;
	struct err err;
	int rc = API_REQUEST_INVALID;

	memset(from_out, 0, sizeof(*from_out));
	memset(e, 0, sizeof(*e));
	buf_init(&s.from, 0);		/* bounded by len */
	if (mime_opts_check(o, &err) == -1) {
		mime_raw_fail(e, "opts", "%s", err.msg);
		goto out;
	}
	if (mime_raw_scan(in, len, &s, e) == -1)
		goto out;
	if (s.nfrom != 1) {
		mime_raw_fail(e, "From", s.nfrom == 0 ?
		    "the message has no From: field" :
		    "the message has more than one From: field");
		goto out;
	}
	if (api_addr_parse_first(buf_str(&s.from), from_out, &why) == -1) {
		mime_raw_fail(e, "From", "%s", why);
		goto out;
	}
	if (mime_raw_write(in, len, o, &s, out) == -1) {
		api_addr_fini(from_out);
		mime_raw_fail(e, "", "the message is larger than %zu octets",
		    out->max);
		rc = API_REQUEST_TOO_LARGE;
		goto out;
	}
	rc = API_REQUEST_OK;
out:
	buf_fini(&s.from);
	return rc;
}

/*
 * mime_raw_next - the line at pos: ends at LF (a CR before it is not
 * part of the line) or at the end of the input. -1 for a CR elsewhere
 * or a NUL, -2 for a line over MIME_LINE_MAX octets.
 */
static int
mime_raw_next(const char *in, size_t len, size_t pos, struct mime_raw_line *l)
{
	const char *lf = memchr(in + pos, '\n', len - pos);
	size_t end = lf ? (size_t)(lf - in) : len;

	l->p = in + pos;
	l->next = lf ? end + 1 : len;
	if (end > pos && in[end - 1] == '\r' && lf != NULL)
		end--;
	l->len = end - pos;
	if (memchr(l->p, '\r', l->len) != NULL ||
	    memchr(l->p, '\0', l->len) != NULL)
		return -1;
	return l->len > MIME_LINE_MAX ? -2 : 0;
}

/* mime_raw_scan - the first pass; see the top of the file */
static int
mime_raw_scan(const char *in, size_t len, struct mime_raw_scan *s,
    struct api_error *e)
{
	enum mime_raw_field field = MIME_RAW_OTHER;
	struct mime_raw_line l;
	bool header = true;
	size_t pos, lineno, n;
	int r;

	if (len == 0)
		return mime_raw_fail(e, "", "the message is empty");
	for (pos = 0, lineno = 1; pos < len; pos = l.next, lineno++) {
		if ((r = mime_raw_next(in, len, pos, &l)) == -1)
			return mime_raw_fail(e, "", "line %zu: a CR not "
			    "followed by LF, or a NUL", lineno);
		if (r == -2)
			return mime_raw_fail(e, "",
			    "line %zu: longer than %d octets", lineno,
			    MIME_LINE_MAX);
		if (!header)
			continue;
		if (l.len == 0) {
			if (lineno == 1)
				return mime_raw_fail(e, "",
				    "the message has no header section");
			header = false;
			continue;
		}
		if (l.p[0] == ' ' || l.p[0] == '\t') {
			if (lineno == 1)
				return mime_raw_fail(e, "", "line 1: a "
				    "continuation line with no field before");
			for (n = 0; n < l.len && (l.p[n] == ' ' ||
			    l.p[n] == '\t'); n++)
				;
			if (n == l.len)
				return mime_raw_fail(e, "", "line %zu: white "
				    "space only, in the header section",
				    lineno);
			if (field == MIME_RAW_FROM &&
			    buf_append(&s->from, l.p, l.len) == -1)
				return mime_raw_fail(e, "", "out of room");
			continue;
		}
		if ((n = mime_raw_name(&l)) == 0)
			return mime_raw_fail(e, "", "line %zu: not a header "
			    "field (name: value, no space before the colon),"
			    " and no empty line before the body", lineno);
		field = mime_raw_field(&l, n, s);
		if (field == MIME_RAW_FROM &&
		    buf_append(&s->from, l.p + n + 1, l.len - n - 1) == -1)
			return mime_raw_fail(e, "", "out of room");
	}
	return 0;
}

/*
 * mime_raw_name - length of "name" in "name:" at the start of l, which
 * is also the colon's offset (0: not a field). The obsolete white space
 * before the colon (RFC 5322 4.5.8) is refused: "From :" is a field to
 * us and to some parsers, an mbox separator or nothing to others, and a
 * From: that readers disagree on defeats the From: check.
 */
static size_t
mime_raw_name(const struct mime_raw_line *l)
{
	size_t i = 0;

	while (i < l->len && (unsigned char)l->p[i] >= 33 &&
	    (unsigned char)l->p[i] <= 126 && l->p[i] != ':')
		i++;
	if (i == 0 || i == l->len || l->p[i] != ':' ||
	    !mime_header_name_ok(l->p, i))
		return 0;
	return i;
}

/* mime_raw_field - which field the line starts, counted in s */
static enum mime_raw_field
mime_raw_field(const struct mime_raw_line *l, size_t n,
    struct mime_raw_scan *s)
{
	if (n == 4 && strncasecmp(l->p, "From", 4) == 0) {
		s->nfrom++;
		return MIME_RAW_FROM;
	}
	if (n == 3 && strncasecmp(l->p, "Bcc", 3) == 0)
		return MIME_RAW_BCC;
	if (n == 4 && strncasecmp(l->p, "Date", 4) == 0)
		s->date = true;
	else if (n == 10 && strncasecmp(l->p, "Message-ID", 10) == 0)
		s->msgid = true;
	return MIME_RAW_OTHER;
}

/* mime_raw_write - the second pass: the message as it goes out */
static int
mime_raw_write(const char *in, size_t len, const struct mime_opts *o,
    const struct mime_raw_scan *s, struct buf *out)
{
	enum mime_raw_field field = MIME_RAW_OTHER;
	struct mime_raw_scan ignore = { 0 };
	struct mime_raw_line l;
	bool header = true;
	size_t pos, n;

	if ((!s->date && mime_build_date(o, out) == -1) ||
	    (!s->msgid && mime_build_message_id(o, out) == -1))
		return -1;
	for (pos = 0; pos < len; pos = l.next) {
		mime_raw_next(in, len, pos, &l);
		if (header && l.len == 0)
			header = false;
		else if (header && l.p[0] != ' ' && l.p[0] != '\t') {
			n = mime_raw_name(&l);
			field = mime_raw_field(&l, n, &ignore);
		}
		if (header && field == MIME_RAW_BCC)
			continue;
		if (buf_append(out, l.p, l.len) == -1 ||
		    buf_append(out, "\r\n", 2) == -1)
			return -1;
	}
	return 0;
}

static int
mime_raw_fail(struct api_error *e, const char *field, const char *fmt, ...)
{
	va_list ap;
	char *p;

	snprintf(e->field, sizeof(e->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	for (p = e->msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return -1;
}
