/* SPDX-License-Identifier: ISC */
/*
 * mime_header.c - writing header fields; see mime_header.h.
 *
 * Pure: no I/O, no globals (the tables are constant). Folding (RFC 5322
 * 2.2.3) only ever happens before white space that was there, or that
 * we put between words, so unfolding gives back the text; a field name
 * stays on the line of the first word (unless a name near 78 columns
 * leaves no room for an encoded word). What cannot be written safely as
 * it is (8-bit, control characters, "=?" in a phrase, words or runs of
 * white space too long to fold) goes out as RFC 2047 encoded words,
 * which fold anywhere. So no line passes MIME_LINE_MAX: a field name
 * (77 with the colon), a space, a word (850) and trailing white space
 * (32) make 960 at most.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/utf8.h"
#include "mime/mime_header.h"
#include "mime/rfc2047.h"

/* a display name longer than this is encoded (it folds that way) */
#define MIME_HEADER_PHRASE_MAX	200

static int mime_header_token(struct mime_header *h, const char *sep,
    size_t seplen, const char *p, size_t n);
static bool mime_header_plain(const char *p, size_t n);
static bool mime_header_has_marker(const char *p, size_t n);
static bool mime_header_atext(unsigned char c);

static const char *const mime_header_reserved_names[] = {
	"From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date",
	"Message-ID", "MIME-Version", "Received", "Return-Path",
	"DKIM-Signature", "Authentication-Results",
};
static const char *const mime_header_reserved_prefixes[] = {
	"Content-", "ARC-",
};

int
mime_header_begin(struct mime_header *h, struct buf *out, const char *name)
{
	h->out = out;
	h->col = strlen(name) + 1;
	h->words = 0;
	if (buf_puts(out, name) == -1 || buf_append(out, ":", 1) == -1)
		return -1;
	return 0;
}

int
mime_header_word(struct mime_header *h, const char *p, size_t n)
{
	return mime_header_token(h, " ", 1, p, n);
}

/* mime_header_text - unstructured text; see mime_header.h */
int
mime_header_text(struct mime_header *h, const char *p, size_t n,
    bool markers)
{
	size_t i = 0, s, w;

	if (!mime_header_plain(p, n) ||
	    (markers && mime_header_has_marker(p, n)))
		goto encode;
	for (s = 0; s < n; s = w) {
		for (w = s; w < n && p[w] != ' ' && p[w] != '\t'; w++)
			;
		if (w - s > MIME_HEADER_WORD_MAX)
			goto encode;
		for (s = w; w < n && (p[w] == ' ' || p[w] == '\t'); w++)
			;
		if (w - s > MIME_HEADER_SPACE_MAX)
			goto encode;
	}
	/* leading white space goes: the space after the colon stands in */
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i < n) {
		for (w = i; w < n && p[w] != ' ' && p[w] != '\t'; w++)
			;
		if (mime_header_token(h, " ", 1, p + i, w - i) == -1)
			return -1;
		i = w;
	}
	while (i < n) {
		for (s = i; i < n && (p[i] == ' ' || p[i] == '\t'); i++)
			;
		for (w = i; w < n && p[w] != ' ' && p[w] != '\t'; w++)
			;
		if (w == i) {
			/* trailing white space: kept on this line, never a
			   line of its own */
			if (buf_append(h->out, p + s, i - s) == -1)
				return -1;
			h->col += i - s;
			break;
		}
		if (mime_header_token(h, p + s, i - s, p + i, w - i) == -1)
			return -1;
		i = w;
	}
	return 0;
encode:
	if (rfc2047_encode(p, n, &h->col, h->out) == -1)
		return -1;
	h->words++;
	return 0;
}

/* mime_header_phrase - a display name; see mime_header.h */
int
mime_header_phrase(struct mime_header *h, const char *p, size_t n)
{
	char q[2 * MIME_HEADER_PHRASE_MAX + 2];
	size_t i, k = 0, s;
	bool atoms = true;

	if (n == 0)
		return 0;
	if (n > MIME_HEADER_PHRASE_MAX || !mime_header_plain(p, n) ||
	    mime_header_has_marker(p, n) || memchr(p, '\t', n) != NULL) {
		if (rfc2047_encode(p, n, &h->col, h->out) == -1)
			return -1;
		h->words++;
		return 0;
	}
	for (i = 0; i < n; i++)
		if (!mime_header_atext((unsigned char)p[i]) && p[i] != ' ')
			atoms = false;
	if (atoms && p[0] != ' ' && p[n - 1] != ' ' &&
	    memmem(p, n, "  ", 2) == NULL) {
		/* each space between atoms becomes a place to fold */
		for (i = 0; i < n; i = s + 1) {
			for (s = i; s < n && p[s] != ' '; s++)
				;
			if (mime_header_word(h, p + i, s - i) == -1)
				return -1;
		}
		return 0;
	}
	q[k++] = '"';
	for (i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			q[k++] = '\\';
		q[k++] = p[i];
	}
	q[k++] = '"';
	return mime_header_word(h, q, k);
}

int
mime_header_end(struct mime_header *h)
{
	h->col = 0;
	return buf_append(h->out, "\r\n", 2);
}

/* mime_header_date - RFC 5322 3.3 date-time; see mime_header.h */
int
mime_header_date(int64_t now, int tz_offset_min,
    char out[MIME_HEADER_DATE_SIZE])
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
	    "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	/* 1900-01-01 and 9999-12-31 23:59:59, with a day either side */
	const int64_t lo = -2208988800LL + 86400, hi = 253402300799LL - 86400;
	int tz = tz_offset_min < 0 ? -tz_offset_min : tz_offset_min;
	struct tm tm;
	time_t t;

	if (tz >= 24 * 60 || now < lo || now > hi)
		return -1;
	t = (time_t)(now + (int64_t)tz_offset_min * 60);
	if (gmtime_r(&t, &tm) == NULL)
		return -1;
	snprintf(out, MIME_HEADER_DATE_SIZE,
	    "%s, %d %s %04d %02d:%02d:%02d %c%02d%02d", days[tm.tm_wday],
	    tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, tz_offset_min < 0 ? '-' : '+', tz / 60,
	    tz % 60);
	return 0;
}

bool
mime_header_name_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > MIME_HEADER_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 33 || (unsigned char)p[i] > 126 ||
		    p[i] == ':')
			return false;
	return true;
}

bool
mime_header_reserved(const char *p, size_t n)
{
	size_t i, k;

	for (i = 0; i < sizeof(mime_header_reserved_names) /
	    sizeof(mime_header_reserved_names[0]); i++) {
		k = strlen(mime_header_reserved_names[i]);
		if (n == k && strncasecmp(p, mime_header_reserved_names[i],
		    k) == 0)
			return true;
	}
	for (i = 0; i < sizeof(mime_header_reserved_prefixes) /
	    sizeof(mime_header_reserved_prefixes[0]); i++) {
		k = strlen(mime_header_reserved_prefixes[i]);
		if (n >= k && strncasecmp(p, mime_header_reserved_prefixes[i],
		    k) == 0)
			return true;
	}
	return false;
}

bool
mime_header_utf8_ok(const char *p, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if ((unsigned char)p[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_seq_len((const unsigned char *)p + i,
		    n - i)) == 0)
			return false;
		i += k;
	}
	return true;
}

/*
 * mime_header_token - sep (white space) and a word, folding before sep
 * when the word would pass the width and something else is on the line
 */
static int
mime_header_token(struct mime_header *h, const char *sep, size_t seplen,
    const char *p, size_t n)
{
	if (h->words > 0 && h->col + seplen + n > MIME_HEADER_WIDTH) {
		if (buf_append(h->out, "\r\n", 2) == -1)
			return -1;
		h->col = 0;
	}
	if (buf_append(h->out, sep, seplen) == -1 ||
	    buf_append(h->out, p, n) == -1)
		return -1;
	h->col += seplen + n;
	h->words++;
	return 0;
}

/* mime_header_plain - printable ASCII, spaces and tabs only */
static bool
mime_header_plain(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((unsigned char)p[i] >= 0x20 && (unsigned char)p[i] < 0x7f)
		    && p[i] != '\t')
			return false;
	return true;
}

static bool
mime_header_has_marker(const char *p, size_t n)
{
	return n >= 2 && memmem(p, n, "=?", 2) != NULL;
}

/* mime_header_atext - RFC 5322 atext, ASCII part */
static bool
mime_header_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}
