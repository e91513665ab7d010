/* SPDX-License-Identifier: ISC */
/*
 * qp.h - RFC 2045 6.7 quoted-printable for text bodies. Pure.
 */
#ifndef RELAIS_MIME_QP_H
#define RELAIS_MIME_QP_H

#include <stddef.h>

#include "core/buf.h"

/* RFC 2045 6.7 (5): encoded lines are at most 76 characters */
#define QP_LINE_MAX	76

/*
 * qp_encode - append p[0..n) to out quoted-printable. A line break in the
 * text (CRLF, LF or a lone CR) becomes a CRLF; longer lines get soft line
 * breaks ("=" CRLF) so that no line passes QP_LINE_MAX; a space or tab
 * before a line break or at the end is encoded. The output ends with no
 * line break of its own. Returns -1 when out refuses to grow.
 */
int	qp_encode(const char *p, size_t n, struct buf *out);

#endif
