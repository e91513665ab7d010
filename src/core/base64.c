/* SPDX-License-Identifier: ISC */
/*
 * base64.c - RFC 4648 base64; see base64.h.
 */
#include "core/base64.h"

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
base64_encode(const void *p, size_t n, struct buf *out)
{
	const uint8_t *s = p;
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		q[0] = base64_alphabet[v >> 18 & 63];
		q[1] = base64_alphabet[v >> 12 & 63];
		q[2] = i + 1 < n ? base64_alphabet[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? base64_alphabet[v & 63] : '=';
		if (buf_append(out, q, 4) == -1)
			return -1;
	}
	return buf_reserve(out, 0);
}

int
base64_decode(struct str in, unsigned flags, uint8_t *out, size_t max,
    size_t *len_out)
{
	uint32_t acc = 0;
	size_t n = 0, bits = 0, pad = 0, chars = 0;

	for (size_t i = 0; i < in.len; i++) {
		unsigned char c = (unsigned char)in.p[i];
		int v;

		if ((flags & BASE64_SKIP_BLANKS) &&
		    (c == ' ' || c == '\t' || c == '\r' || c == '\n'))
			continue;
		chars++;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad || (v = base64_value(c)) < 0)
			return -1;	/* data after padding, or bad octet */
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == max)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* a lone last character, or padding of the wrong length */
	if (pad > 2 || bits >= 6)
		return -1;
	if (pad && (bits == 0 || pad != (bits == 4 ? 2u : 1u)))
		return -1;
	if (flags & BASE64_STRICT) {
		if (chars % 4 != 0)
			return -1;	/* padding required */
		if (bits && (acc & ((1u << bits) - 1)) != 0)
			return -1;	/* not the canonical encoding */
	}
	*len_out = n;
	return 0;
}
