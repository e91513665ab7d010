/* SPDX-License-Identifier: ISC */
/*
 * mime_raw.h - a message given whole (POST /v1/messages with
 * Content-Type: message/rfc822) made ready for the spool. Pure.
 */
#ifndef RELAIS_MIME_RAW_H
#define RELAIS_MIME_RAW_H

#include <stddef.h>

#include "core/buf.h"
#include "mime/api_addr.h"
#include "mime/api_request.h"
#include "mime/mime_build.h"

/*
 * mime_raw_prepare - check in[0..len) and append it to out ready to
 * send: line ends made CRLF (a bare LF becomes CRLF; a CR not followed by
 * LF, a NUL or a line over 998 octets is an error), a header section of
 * well-formed fields (continuation lines allowed) that holds exactly one
 * From:, whose first address goes to *from_out (to free with
 * api_addr_fini); Date: and Message-ID: (from o) put on top when the
 * message has none; every Bcc: field removed; a last line break added
 * when missing. 8-bit octets are passed on as they are. Returns
 * API_REQUEST_OK; API_REQUEST_INVALID with *e (field "From" for a From:
 * problem, else "" and the line number in msg; a bad o is also reported
 * this way, with field "opts"); or API_REQUEST_TOO_LARGE when out
 * refuses to grow. On error *from_out is zeroed and out holds a partial
 * message to be discarded.
 */
int	mime_raw_prepare(const char *in, size_t len, const struct mime_opts *o,
	    struct buf *out, struct api_addr *from_out, struct api_error *e);

#endif
