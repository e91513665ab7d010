/* SPDX-License-Identifier: ISC */
/*
 * qp.c - quoted-printable; see qp.h.
 *
 * Pure. Literal: "!" to "~" except "=" (RFC 2045 6.7 (2)), and space and
 * tab where a character follows on the same line (6.7 (3)); everything
 * else is =XX with upper-case hex. A soft break never splits an =XX.
 * The output is 7-bit, and "=" is always followed by two hex digits or a
 * line break, so "=_" (how mime_build's boundaries begin) never appears.
 */
#include <stdbool.h>

#include "mime/qp.h"

int
qp_encode(const char *p, size_t n, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, col = 0, k;
	char e[3];

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		bool eol_next;

		if (c == '\r' || c == '\n') {
			if (c == '\r' && i + 1 < n && p[i + 1] == '\n')
				i++;
			if (buf_append(out, "\r\n", 2) == -1)
				return -1;
			col = 0;
			continue;
		}
		eol_next = i + 1 == n || p[i + 1] == '\r' || p[i + 1] == '\n';
		if ((c >= '!' && c <= '~' && c != '=') ||
		    ((c == ' ' || c == '\t') && !eol_next)) {
			e[0] = (char)c;
			k = 1;
		} else {
			e[0] = '=';
			e[1] = hex[c >> 4];
			e[2] = hex[c & 15];
			k = 3;
		}
		/* the last character of a line may use the last column;
		   any other must leave room for the soft break's "=" */
		if (col + k > (eol_next ? QP_LINE_MAX : QP_LINE_MAX - 1)) {
			if (buf_append(out, "=\r\n", 3) == -1)
				return -1;
			col = 0;
		}
		if (buf_append(out, e, k) == -1)
			return -1;
		col += k;
	}
	return 0;
}
