/* SPDX-License-Identifier: ISC */
/*
 * fuzz_proxy_proto.c - libFuzzer harness for the PROXY protocol header
 * parser. Checks as it goes: a header is never longer than the input or
 * the caps, the header alone parses to the same result, one octet short
 * of it asks for more, and more is never asked past the cap.
 */
#include <stdint.h>
#include <string.h>

#include "smtp/proxy_proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr h, again;
	const char *why = NULL;
	enum proxy_result r;

	r = proxy_parse(data, size, &h, &why);
	switch (r) {
	case PROXY_MORE:
		if (size >= PROXY_HDR_MAX)
			__builtin_trap();
		break;
	case PROXY_BAD:
		if (why == NULL || *why == '\0')
			__builtin_trap();
		break;
	case PROXY_DONE:
		if (h.len == 0 || h.len > size || h.len > PROXY_HDR_MAX ||
		    (h.version == 1 && h.len > PROXY_V1_MAX) ||
		    (h.version != 1 && h.version != 2))
			__builtin_trap();
		if (proxy_parse(data, h.len, &again, &why) != PROXY_DONE ||
		    memcmp(&again, &h, sizeof(h)) != 0)
			__builtin_trap();
		if (proxy_parse(data, h.len - 1, &again, &why) != PROXY_MORE)
			__builtin_trap();
		(void)proxy_family_name(h.family);
		break;
	}
	return 0;
}
