/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_data.c - libFuzzer harness for the DATA/BDAT scanner: the
 * first octet picks the mode and a split step; the scanner must never
 * write past len + 2 octets per call, and the result must not depend on
 * how the input was split.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_data.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
fuzz_run(const char *in, size_t len, enum smtp_data_mode mode, size_t step,
    char *out, unsigned *flags, size_t *consumed)
{
	struct smtp_data d;
	size_t off = 0, outlen = 0;

	smtp_data_init(&d, mode);
	while (off < len && !d.ended) {
		size_t n = step < len - off ? step : len - off;
		size_t before = outlen;

		off += smtp_data_scan(&d, in + off, n, out, &outlen);
		if (outlen - before > n + 2)
			abort();
	}
	if (mode == SMTP_DATA_CHUNK)
		smtp_data_finish_chunked(&d, out, &outlen);
	*flags = d.flags;
	*consumed = off;
	return outlen;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum smtp_data_mode mode;
	size_t step, n1, n2, c1, c2;
	unsigned f1, f2;
	char *o1, *o2;

	if (size < 1)
		return 0;
	mode = (data[0] & 1) ? SMTP_DATA_CHUNK : SMTP_DATA_DOT;
	step = (size_t)(data[0] >> 1) + 1;
	data++;
	size--;
	o1 = malloc(size + 4);
	o2 = malloc(size + 4);
	n1 = fuzz_run((const char *)data, size, mode, size ? size : 1, o1, &f1,
	    &c1);
	n2 = fuzz_run((const char *)data, size, mode, step, o2, &f2, &c2);
	if (n1 != n2 || f1 != f2 || c1 != c2 || memcmp(o1, o2, n1) != 0)
		abort();
	free(o1);
	free(o2);
	return 0;
}
