/* SPDX-License-Identifier: ISC */
/*
 * mime_header.h - writing RFC 5322 header fields: folding at 78 columns,
 * display names, unstructured text (RFC 2047 when not plain ASCII), the
 * Date format, and the rules for field names. Pure.
 */
#ifndef RELAIS_MIME_HEADER_H
#define RELAIS_MIME_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* RFC 5322 2.1.1: the line width we fold to, and the hard limit */
#define MIME_HEADER_WIDTH	78
#define MIME_LINE_MAX		998
/* longest field name taken from a client (it fits one folded line) */
#define MIME_HEADER_NAME_MAX	76
/* a word of plain text longer than this, or a run of white space, is
   sent as encoded words, so that no line can pass MIME_LINE_MAX */
#define MIME_HEADER_WORD_MAX	850
#define MIME_HEADER_SPACE_MAX	32
/* "Thu, 1 Jan 1970 00:00:00 +0000" and its NUL */
#define MIME_HEADER_DATE_SIZE	40

/* a header field being written */
struct mime_header {
	struct buf	*out;
	size_t		 col;		/* octets on the current line */
	size_t		 words;		/* words written after the name */
};

/* mime_header_begin - start the field "name:" in out */
int	mime_header_begin(struct mime_header *h, struct buf *out,
	    const char *name);

/*
 * mime_header_word - append " word", or CRLF " word" when it would take
 * the line past MIME_HEADER_WIDTH (never right after the name). The word
 * must be 7-bit text without CR, LF or white space.
 */
int	mime_header_word(struct mime_header *h, const char *p, size_t n);

/*
 * mime_header_text - unstructured text (Subject:, a custom field's
 * value): folded at its white space when it is printable ASCII with
 * words of at most MIME_HEADER_WORD_MAX octets and runs of white space of
 * at most MIME_HEADER_SPACE_MAX, else as RFC 2047
 * encoded words; also encoded when markers is set and the text holds
 * "=?" (it would read as an encoded word). Any octets are safe here:
 * CR, LF and NUL can only come out encoded.
 */
int	mime_header_text(struct mime_header *h, const char *p, size_t n,
	    bool markers);

/*
 * mime_header_phrase - a display name: atoms when it is plain ASCII
 * without specials, a quoted-string when it has some, encoded words
 * when it is not ASCII (or long, or holds "=?").
 */
int	mime_header_phrase(struct mime_header *h, const char *p, size_t n);

/* mime_header_end - CRLF after the field */
int	mime_header_end(struct mime_header *h);

/*
 * mime_header_date - RFC 5322 3.3 date-time for unix time now, in the
 * zone tz_offset_min minutes east of UTC, into out. -1 when the zone is
 * not within +-23:59 or the year not within 1900..9999.
 */
int	mime_header_date(int64_t now, int tz_offset_min,
	    char out[MIME_HEADER_DATE_SIZE]);

/* mime_header_name_ok - RFC 5322 field name: 1..MIME_HEADER_NAME_MAX
   printable ASCII characters other than ":" */
bool	mime_header_name_ok(const char *p, size_t n);

/*
 * mime_header_reserved - a field relais writes itself, or one that only
 * the receiving side may write, which a client may not give: From, To,
 * Cc, Bcc, Reply-To, Subject, Date, Message-ID, MIME-Version, Content-*,
 * Received, Return-Path, DKIM-Signature, Authentication-Results, ARC-*.
 */
bool	mime_header_reserved(const char *p, size_t n);

/* mime_header_utf8_ok - p[0..n) is valid UTF-8 */
bool	mime_header_utf8_ok(const char *p, size_t n);

#endif
