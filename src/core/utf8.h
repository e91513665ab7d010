/* SPDX-License-Identifier: ISC */
/*
 * utf8.h - UTF-8 well-formedness (Unicode 3.9 table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF), shared by the address and the
 * ESMTP parameter parsers. Pure.
 */
#ifndef RELAIS_CORE_UTF8_H
#define RELAIS_CORE_UTF8_H

#include <stddef.h>

/* utf8_seq_len - length of the well-formed sequence at p[0..n), or 0 */
size_t	utf8_seq_len(const unsigned char *p, size_t n);

#endif
