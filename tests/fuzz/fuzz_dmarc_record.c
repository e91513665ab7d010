/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dmarc_record.c - libFuzzer harness for dmarc_record_parse() and
 * dmarc_record_is_dmarc(). Invariants: a parsed record starts with
 * v=DMARC1, its enums and pct are in range, and sp defaults to p.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "msgauth/dmarc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str in = str_make((const char *)data, size);
	struct dmarc_record r;
	bool is = dmarc_record_is_dmarc(in);

	if (dmarc_record_parse(in, &r, NULL) == 0) {
		if (!is)
			abort();
		if (r.p > DMARC_POLICY_REJECT || r.sp > DMARC_POLICY_REJECT ||
		    r.adkim > DMARC_ALIGN_STRICT ||
		    r.aspf > DMARC_ALIGN_STRICT || r.pct > 100)
			abort();
		if (!r.has_sp && r.sp != r.p)
			abort();
	}
	return 0;
}
