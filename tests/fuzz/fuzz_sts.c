/* SPDX-License-Identifier: ISC */
/*
 * fuzz_sts.c - libFuzzer harness for the MTA-STS parsers (sts_txt_parse,
 * sts_policy_parse) and sts_mx_match. Invariants: a parsed id is 1 to 32
 * letters and digits; a parsed policy has a known mode, max_age within
 * a year, at most STS_MX_MAX lower-case patterns, each matching a host
 * made from it, and its policy-string lines parse back to the same
 * policy; the input, taken as a host name, matches without crashing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlspol/sts.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > STS_ID_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= 'A' && id[i] <= 'Z') ||
		    (id[i] >= '0' && id[i] <= '9')))
			abort();
}

static void
fuzz_check_policy(const struct sts_policy *p)
{
	static char lines[STS_MX_MAX + 3][300];
	static char body[(STS_MX_MAX + 3) * 301];
	char host[300];
	struct sts_policy q;
	struct err err;
	size_t n, len = 0;

	if (p->mode > STS_MODE_ENFORCE || p->max_age > STS_MAX_AGE ||
	    p->nmx > STS_MX_MAX || (p->nmx == 0 && p->mode != STS_MODE_NONE))
		abort();
	for (size_t i = 0; i < p->nmx; i++) {
		const char *m = p->mx[i];

		if (m[0] == '\0' || strlen(m) > 255)
			abort();
		for (const char *c = m; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				abort();
		snprintf(host, sizeof(host), "%s%s", m[0] == '*' ? "x" : "",
		    m[0] == '*' ? m + 1 : m);
		if (!sts_mx_match(p, host))
			abort();
	}
	n = sts_policy_lines(p, lines, STS_MX_MAX + 3);
	if (n != p->nmx + 3)
		abort();
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len,
		    "%s\r\n", lines[i]);
	if (sts_policy_parse(body, len, &q, &err) != 0 ||
	    memcmp(p, &q, sizeof(q)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sts_policy p;
	char id[STS_ID_MAX + 1];
	char *host;
	struct err err;

	if (sts_txt_parse((const char *)data, size, id) == 0)
		fuzz_check_id(id);
	if (sts_policy_parse((const char *)data, size, &p, &err) == 0)
		fuzz_check_policy(&p);
	else if (err.msg[0] == '\0')
		abort();
	/* the input as a host name, against the last policy parsed */
	if ((host = malloc(size + 1)) == NULL)
		return 0;
	memcpy(host, data, size);
	host[size] = '\0';
	(void)sts_mx_match(&p, host);
	free(host);
	return 0;
}
