/* SPDX-License-Identifier: ISC */
/*
 * fuzz_arh.c - libFuzzer harness for the Authentication-Results reader:
 * arh_authserv_id() on the input, and arh_strip() on the input taken as
 * a message. Invariants: the id is inside the input or the scratch
 * buffer; stripping only ever removes octets, and stripping the same id
 * twice removes nothing more.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msgauth/arh.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str in = str_make((const char *)data, size), id;
	char tmp[64];
	struct buf a, b;
	int n;

	if (arh_authserv_id(in, tmp, sizeof(tmp), &id) == 0) {
		bool inside = id.p >= in.p && id.p + id.len <= in.p + in.len;
		bool scratch = id.p == tmp && id.len < sizeof(tmp);

		if (id.len == 0 || (!inside && !scratch))
			abort();
	}
	buf_init(&a, 0);
	buf_init(&b, 0);
	n = arh_strip((const char *)data, size, "mx.example.org", &a);
	if (n < 0 || a.len > size || (n == 0 && a.len != size))
		abort();
	if (arh_strip(a.data ? a.data : "", a.len, "mx.example.org", &b) != 0 ||
	    b.len != a.len)
		abort();
	buf_fini(&a);
	buf_fini(&b);
	return 0;
}
