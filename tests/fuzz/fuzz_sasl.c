/* SPDX-License-Identifier: ISC */
/*
 * fuzz_sasl.c - libFuzzer harness for the SASL machine (sasl.c): the
 * input is split at '\n' into the AUTH argument and continuation lines.
 * Invariants: fields that come out are NUL-terminated, non-empty and
 * within SASL_FIELD_MAX; base64 decoding of what sasl_b64_encode made
 * gives the input back.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct sasl sa;
	const char *ch = NULL;
	enum sasl_step st;
	char enc[1400], dec[1100];
	size_t n;
	bool first = true;

	memset(&sa, 0, sizeof(sa));
	st = SASL_STEP_CHALLENGE;
	while (p <= end && st == SASL_STEP_CHALLENGE) {
		nl = memchr(p, '\n', (size_t)(end - p));
		struct str line = str_make(p, nl ? (size_t)(nl - p) :
		    (size_t)(end - p));

		st = first ? sasl_start(&sa, line, &ch) : sasl_next(&sa, line,
		    &ch);
		first = false;
		if (st == SASL_STEP_DONE) {
			size_t ul = strlen(sa.user), pl = strlen(sa.pass);

			if (ul == 0 || ul > SASL_FIELD_MAX || pl == 0 ||
			    pl > SASL_FIELD_MAX)
				abort();
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	sasl_wipe(&sa);
	if (size <= 1024) {
		if (sasl_b64_encode((const char *)data, size, enc,
		    sizeof(enc)) != 0)
			abort();
		if (sasl_b64_decode(str_cstr(enc), dec, sizeof(dec), &n) != 0 ||
		    n != size || memcmp(dec, data, size) != 0)
			abort();
	}
	return 0;
}
