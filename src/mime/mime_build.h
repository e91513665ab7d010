/* SPDX-License-Identifier: ISC */
/*
 * mime_build.h - the RFC 5322 / MIME message for an API request. Pure:
 * the time, the host name and the random part of the Message-ID and the
 * boundaries come in as parameters.
 */
#ifndef RELAIS_MIME_BUILD_H
#define RELAIS_MIME_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "mime/api_request.h"

/* longest o->unique taken */
#define MIME_UNIQUE_MAX		64

struct mime_opts {
	const char	*hostname;	/* right side of the Message-ID */
	int64_t		 now;		/* unix seconds, for Date: */
	int		 tz_offset_min;	/* east of UTC; 0 = +0000 */
	const char	*unique;	/* random text for the Message-ID and
					   the boundaries: 1 to 64 letters,
					   digits, "-" or "_" (24 hex digits
					   will do) */
};

/*
 * mime_build - append the message for r to out: From, Reply-To, To, Cc
 * (never Bcc), Subject, Date, Message-ID <unique@hostname>, MIME-Version,
 * r's own header fields, then the body: text/plain or text/html alone,
 * multipart/alternative for both, multipart/related around the HTML and
 * its inline (content_id) parts, multipart/mixed around everything when
 * there are attachments. The output is 7-bit, CRLF-terminated, lines of
 * at most 998 octets (header lines folded at 78 where there is white
 * space or encoded words); text is 7bit when it is short-lined ASCII,
 * else quoted-printable; attachments are base64. Returns 0; -1 with err
 * when r or o is not something a message can be made of (r came from
 * api_request_parse: a bad o); -2 with err when out refuses to grow
 * (the message is larger than out->max: 413). On error out holds a
 * partial message to be discarded.
 */
int	mime_build(const struct api_request *r, const struct mime_opts *o,
	    struct buf *out, struct err *err);

/*
 * mime_opts_check - o->unique, o->hostname (letters, digits, hyphens in
 * dot-separated labels), o->now and o->tz_offset_min usable: 0, or -1
 * with err.
 */
int	mime_opts_check(const struct mime_opts *o, struct err *err);

/* mime_build_date - append "Date: ...\r\n" for o */
int	mime_build_date(const struct mime_opts *o, struct buf *out);

/* mime_build_message_id - append "Message-ID: <unique@hostname>\r\n" */
int	mime_build_message_id(const struct mime_opts *o, struct buf *out);

#endif
