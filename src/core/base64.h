/* SPDX-License-Identifier: ISC */
/*
 * base64.h - RFC 4648 base64, the one implementation SASL, DKIM and the
 * SMTP client share. Pure.
 */
#ifndef RELAIS_CORE_BASE64_H
#define RELAIS_CORE_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/str.h"

enum base64_flag {
	/* SASL (RFC 4954): length a multiple of 4, padding required, the
	   unused bits of the last group zero; no blanks */
	BASE64_STRICT = 1 << 0,
	/* DKIM (RFC 6376 3.5): blanks and line breaks anywhere are skipped */
	BASE64_SKIP_BLANKS = 1 << 1,
};

/* base64_encode - append the base64 of p[0..n) to out; -1 if out is full */
int	base64_encode(const void *p, size_t n, struct buf *out);

/*
 * base64_decode - decode in into out[0..max); -1 on malformed input or
 * when it does not fit. Padding, where present, must be right.
 */
int	base64_decode(struct str in, unsigned flags, uint8_t *out, size_t max,
	    size_t *len_out);

#endif
