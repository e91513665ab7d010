/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_param.c - libFuzzer harness for smtp_param_parse_mail(),
 * smtp_param_parse_rcpt() and smtp_param_xtext_valid().
 *
 * The whole input goes through all three, so one corpus serves MAIL and
 * RCPT alike. Besides the sanitizers' checks, the harness asserts that
 * string results lie inside the input and respect their RFC limits, and
 * that a failure comes with a reason.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "smtp/smtp_param.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_smtp_param_inside(struct str s, const char *p, size_t len)
{
	if (s.len == 0)
		return;
	if (s.p < p || s.p > p + len || s.len > (size_t)(p + len - s.p))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct str in = str_make(p, size);
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;
	const char *why = NULL;
	enum smtp_param_result r;

	r = smtp_param_parse_mail(in, &mp, &why);
	if ((r == SMTP_PARAM_OK) != (why == NULL))
		abort();
	if (r == SMTP_PARAM_OK) {
		fuzz_smtp_param_inside(mp.envid, p, size);
		fuzz_smtp_param_inside(mp.auth, p, size);
		if (mp.envid.len > 100 || !smtp_param_xtext_valid(mp.envid) ||
		    !smtp_param_xtext_valid(mp.auth))
			abort();
	}

	why = NULL;
	r = smtp_param_parse_rcpt(in, &rp, &why);
	if ((r == SMTP_PARAM_OK) != (why == NULL))
		abort();
	if (r == SMTP_PARAM_OK) {
		fuzz_smtp_param_inside(rp.orcpt, p, size);
		if (rp.orcpt.len > 500 || (rp.notify & SMTP_NOTIFY_NEVER &&
		    rp.notify != SMTP_NOTIFY_NEVER))
			abort();
	}

	(void)smtp_param_xtext_valid(in);
	return 0;
}
