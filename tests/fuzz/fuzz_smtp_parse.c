/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_parse.c - libFuzzer harness for smtp_parse_command().
 *
 * The input is one command line without its CRLF. Besides the
 * sanitizers' checks, the harness asserts the contract: every slice lies
 * inside the input, a failure comes with a reason, and an accepted line
 * was short and free of control octets.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "smtp/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_smtp_parse_inside - s is empty or lies within [p, p + len) */
static void
fuzz_smtp_parse_inside(struct str s, const char *p, size_t len)
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
	struct smtp_cmd cmd;
	const char *why = NULL;
	enum smtp_parse_result r;
	size_t i;

	r = smtp_parse_command(str_make(p, size), &cmd, &why);
	if ((r == SMTP_PARSE_OK) != (why == NULL))
		abort();
	if (smtp_parse_verb_name(cmd.verb) == NULL)
		abort();
	fuzz_smtp_parse_inside(cmd.verb_text, p, size);
	fuzz_smtp_parse_inside(cmd.arg, p, size);
	fuzz_smtp_parse_inside(cmd.path, p, size);
	fuzz_smtp_parse_inside(cmd.params, p, size);
	if (r != SMTP_PARSE_OK)
		return 0;
	if (size > SMTP_CMD_LINE_MAX - 2 || cmd.verb == SMTP_CMD_UNKNOWN)
		abort();
	for (i = 0; i < size; i++)
		if ((data[i] < 0x20 && data[i] != '\t') || data[i] == 0x7f)
			abort();
	if ((cmd.verb == SMTP_CMD_MAIL || cmd.verb == SMTP_CMD_RCPT) &&
	    (cmd.path.len < 2 || cmd.path.p[0] != '<' ||
	    cmd.path.p[cmd.path.len - 1] != '>'))
		abort();
	if (cmd.bdat_size > 999999999999999999ULL)
		abort();
	return 0;
}
