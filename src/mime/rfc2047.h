/* SPDX-License-Identifier: ISC */
/*
 * rfc2047.h - RFC 2047 encoded words ("=?utf-8?B?...?=") for header text
 * that is not plain ASCII. Pure.
 */
#ifndef RELAIS_MIME_RFC2047_H
#define RELAIS_MIME_RFC2047_H

#include <stddef.h>

#include "core/buf.h"

/* RFC 2047 2: an encoded word is at most 75 characters */
#define RFC2047_WORD_MAX	75
/* the line width the words are folded to (RFC 5322 2.1.1) */
#define RFC2047_LINE_MAX	78

/*
 * rfc2047_encode - append the UTF-8 text p[0..n) to out as a series of
 * encoded words, each preceded by a space, or by CRLF and a space when the
 * word would take the line past RFC2047_LINE_MAX; *col is the length of
 * the current line before and after. The words never split a character
 * (RFC 2047 5), use only characters allowed in a phrase (5(3)), so they
 * serve in Subject: and in display names alike, and are Q- or B-encoded,
 * whichever is shorter for the whole text. p must be valid UTF-8 (an
 * invalid octet is carried as a character of its own). Returns -1 when
 * out refuses to grow.
 */
int	rfc2047_encode(const char *p, size_t n, size_t *col, struct buf *out);

#endif
