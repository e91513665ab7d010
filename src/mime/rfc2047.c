/* SPDX-License-Identifier: ISC */
/*
 * rfc2047.c - RFC 2047 encoded words; see rfc2047.h.
 *
 * Pure. Each word is "=?utf-8?Q?...?=" or "=?utf-8?B?...?=" and holds
 * whole characters only. A word starts on the current line when it can
 * take at least one character there, else after a fold; it is sized to
 * what is left of the line, so no line passes RFC2047_LINE_MAX octets.
 * Q leaves letters, digits and "!*+-/" as they are, writes a space as
 * "_" and everything else as =XX: the set RFC 2047 5(3) allows in a
 * phrase, so one encoder serves Subject: and display names.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/base64.h"
#include "core/utf8.h"
#include "mime/rfc2047.h"

#define RFC2047_OPEN_Q	"=?utf-8?Q?"
#define RFC2047_OPEN_B	"=?utf-8?B?"
/* "=?utf-8?X?" and "?=" */
#define RFC2047_FRAME	12

static size_t rfc2047_char_len(const char *p, size_t n);
static bool rfc2047_q_plain(unsigned char c);
static size_t rfc2047_q_len(const char *p, size_t n);
static size_t rfc2047_b_len(size_t n);
static int rfc2047_word(const char *p, size_t n, bool q, struct buf *out);

int
rfc2047_encode(const char *p, size_t n, size_t *col, struct buf *out)
{
	size_t i = 0, j, k, room, len;
	bool q = rfc2047_q_len(p, n) <= rfc2047_b_len(n);

	while (i < n) {
		/* room for the word's text on this line after the space */
		room = *col + 1 < RFC2047_LINE_MAX ?
		    RFC2047_LINE_MAX - *col - 1 : 0;
		if (room > RFC2047_WORD_MAX)
			room = RFC2047_WORD_MAX;
		/* take whole characters while the word fits */
		for (j = i; j < n; j += k) {
			k = rfc2047_char_len(p + j, n - j);
			len = q ? rfc2047_q_len(p + i, j + k - i) :
			    rfc2047_b_len(j + k - i);
			if (RFC2047_FRAME + len > room)
				break;
		}
		if (j == i) {
			/* not one character fits here: fold (a fresh line
			   always takes one: 4 octets are at most 12) */
			if (*col <= 1)
				return -1;	/* cannot happen */
			if (buf_append(out, "\r\n", 2) == -1)
				return -1;
			*col = 0;
			continue;
		}
		if (buf_append(out, " ", 1) == -1 ||
		    rfc2047_word(p + i, j - i, q, out) == -1)
			return -1;
		*col += 1 + RFC2047_FRAME + (q ? rfc2047_q_len(p + i, j - i) :
		    rfc2047_b_len(j - i));
		i = j;
	}
	return 0;
}

/* rfc2047_word - one encoded word for p[0..n) */
static int
rfc2047_word(const char *p, size_t n, bool q, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3];
	size_t i;

	if (!q)
		return buf_puts(out, RFC2047_OPEN_B) == -1 ||
		    base64_encode(p, n, out) == -1 ||
		    buf_puts(out, "?=") == -1 ? -1 : 0;
	if (buf_puts(out, RFC2047_OPEN_Q) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == ' ')
			e[0] = '_';
		else if (rfc2047_q_plain(c))
			e[0] = (char)c;
		else {
			e[0] = '=';
			e[1] = hex[c >> 4];
			e[2] = hex[c & 15];
			if (buf_append(out, e, 3) == -1)
				return -1;
			continue;
		}
		if (buf_append(out, e, 1) == -1)
			return -1;
	}
	return buf_puts(out, "?=");
}

/* rfc2047_char_len - octets of the character at p (1 for a stray octet) */
static size_t
rfc2047_char_len(const char *p, size_t n)
{
	size_t k = utf8_seq_len((const unsigned char *)p, n);

	return k ? k : 1;
}

static bool
rfc2047_q_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '!' || c == '*' || c == '+' ||
	    c == '-' || c == '/';
}

/* rfc2047_q_len - length of p[0..n) Q-encoded */
static size_t
rfc2047_q_len(const char *p, size_t n)
{
	size_t i, len = 0;

	for (i = 0; i < n; i++)
		len += p[i] == ' ' || rfc2047_q_plain((unsigned char)p[i]) ?
		    1 : 3;
	return len;
}

/* rfc2047_b_len - length of n octets B-encoded */
static size_t
rfc2047_b_len(size_t n)
{
	return (n + 2) / 3 * 4;
}
