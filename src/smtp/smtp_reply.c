/* SPDX-License-Identifier: ISC */
/*
 * smtp_reply.c - parse SMTP reply lines; see smtp_reply.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_reply.h"

void
smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

/* smtp_reply_status - an RFC 3463 class.subject.detail at the start */
static size_t
smtp_reply_status(struct str s, char *out, size_t outlen)
{
	size_t i = 0, parts = 0, digits;

	if (s.len < 5 || (s.p[0] != '2' && s.p[0] != '4' && s.p[0] != '5') ||
	    s.p[1] != '.')
		return 0;
	while (parts < 3) {
		digits = 0;
		while (i < s.len && isdigit((unsigned char)s.p[i]) &&
		    digits < 3) {
			i++;
			digits++;
		}
		if (digits == 0)
			return 0;
		parts++;
		if (parts < 3) {
			if (i >= s.len || s.p[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < s.len && s.p[i] != ' ')
		return 0;
	if (i >= outlen)
		return 0;
	memcpy(out, s.p, i);
	out[i] = '\0';
	return i;
}

enum smtp_reply_result
smtp_reply_line(struct smtp_reply *r, struct str line)
{
	int code;
	struct str text;
	size_t n;

	if (r->done || line.len < 3 || !isdigit((unsigned char)line.p[0]) ||
	    !isdigit((unsigned char)line.p[1]) ||
	    !isdigit((unsigned char)line.p[2]) || line.p[0] < '2' ||
	    line.p[0] > '5')
		return SMTP_REPLY_BAD;
	if (line.len > 3 && line.p[3] != ' ' && line.p[3] != '-')
		return SMTP_REPLY_BAD;
	code = (line.p[0] - '0') * 100 + (line.p[1] - '0') * 10 +
	    (line.p[2] - '0');
	if (r->code != 0 && code != r->code)
		return SMTP_REPLY_BAD;
	if (++r->lines > SMTP_REPLY_LINES_MAX)
		return SMTP_REPLY_BAD;
	r->code = code;
	text = line.len > 4 ? str_make(line.p + 4, line.len - 4) : STR_NULL;
	if (line.p[0] == code / 100 + '0' && text.len > 0) {
		char status[16];

		if ((n = smtp_reply_status(text, status, sizeof(status))) > 0 &&
		    status[0] == line.p[0]) {
			if (r->status[0] == '\0')
				memcpy(r->status, status, sizeof(status));
			text.p += n;
			text.len -= n;
			if (text.len > 0 && text.p[0] == ' ')
				text.p++, text.len--;
		}
	}
	if (r->len > 0 && r->len + 1 < sizeof(r->text))
		r->text[r->len++] = '\n';
	n = text.len;
	if (n > sizeof(r->text) - 1 - r->len)
		n = sizeof(r->text) - 1 - r->len;
	/* a peer's text ends up in logs and reports: keep it printable */
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)text.p[i];

		r->text[r->len + i] = (ch < 0x20 && ch != '\t') || ch == 0x7f ?
		    '?' : (char)ch;
	}
	r->len += n;
	r->text[r->len] = '\0';
	if (line.len == 3 || line.p[3] == ' ') {
		r->done = true;
		return SMTP_REPLY_DONE;
	}
	return SMTP_REPLY_MORE;
}

void
smtp_reply_summary(const struct smtp_reply *r, char *out, size_t n)
{
	const char *nl = memchr(r->text, '\n', r->len);
	int tlen = (int)(nl ? (size_t)(nl - r->text) : r->len);

	if (r->status[0])
		snprintf(out, n, "%d %s %.*s", r->code, r->status, tlen,
		    r->text);
	else
		snprintf(out, n, "%d %.*s", r->code, tlen, r->text);
}

bool
smtp_reply_has_keyword(const struct smtp_reply *r, const char *kw)
{
	const char *line = r->text, *nl;
	size_t k = strlen(kw), seps = 0, n;
	bool skip;

	/* the first line is the greeting, unless it was empty: that one
	   leaves no separator, and the text starts with an extension */
	for (const char *q = r->text; (q = strchr(q, '\n')) != NULL; q++)
		seps++;
	skip = !(r->lines > 1 && seps + 1 < r->lines);
	for (;;) {
		nl = strchr(line, '\n');
		n = nl ? (size_t)(nl - line) : strlen(line);
		if (!skip && n >= k && strncasecmp(line, kw, k) == 0 &&
		    (n == k || line[k] == ' ' || line[k] == '='))
			return true;
		if (nl == NULL)
			return false;
		skip = false;
		line = nl + 1;
	}
}
