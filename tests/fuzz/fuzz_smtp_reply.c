/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_reply.c - libFuzzer harness for the reply parser: the input
 * is split into lines at LF and fed one by one.
 */
#include <stdint.h>
#include <string.h>

#include "smtp/smtp_reply.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply r;
	const char *p = (const char *)data, *end = p + size;
	char sum[128];

	smtp_reply_init(&r);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (smtp_reply_line(&r, str_make(p, n)) != SMTP_REPLY_MORE)
			break;
		p += n + 1;
	}
	if (r.len >= sizeof(r.text) || strlen(r.text) != r.len)
		__builtin_trap();
	smtp_reply_summary(&r, sum, sizeof(sum));
	return 0;
}
