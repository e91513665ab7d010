/* SPDX-License-Identifier: ISC */
/*
 * fuzz_tlsrpt_record.c - libFuzzer harness for tlsrpt_record_parse() and
 * tlsrpt_record_select() (the input split at LF into TXT records).
 * Invariants: a parsed record begins with v=TLSRPTv1; it keeps at most
 * TLSRPT_RUA_MAX URIs, each NUL-terminated inside its buffer; a mailto:
 * one gives an address with one '@' and nothing a path would have to
 * quote; an https: one begins with "https://" and a host; select finds
 * a record only when one line claims version 1 ("v=TLSRPTv1" then
 * the end, ';' or a blank), and never "none" when several do.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tlspol/tlsrpt_record.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct tlsrpt_policy_record *r)
{
	if (r->nrua > TLSRPT_RUA_MAX)
		abort();
	for (size_t i = 0; i < r->nrua; i++) {
		const struct tlsrpt_rua *u = &r->rua[i];
		const char *at;

		if (memchr(u->uri, '\0', sizeof(u->uri)) == NULL ||
		    memchr(u->addr, '\0', sizeof(u->addr)) == NULL)
			abort();
		if (u->kind == TLSRPT_RUA_MAILTO) {
			if (strncasecmp(u->uri, "mailto:", 7) != 0 ||
			    (at = strchr(u->addr, '@')) == NULL ||
			    strchr(at + 1, '@') != NULL ||
			    strpbrk(u->addr, " <>\"\r\n;,") != NULL)
				abort();
		} else if (u->kind == TLSRPT_RUA_HTTPS) {
			if (strncasecmp(u->uri, "https://", 8) != 0 ||
			    u->uri[8] == '\0' || u->uri[8] == '/')
				abort();
		} else {
			abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *txt[8];
	struct tlsrpt_policy_record r;
	size_t len[8], n = 0, v1 = 0;
	int rc;

	if (tlsrpt_record_parse(p, size, &r, NULL) == 0) {
		if (size < 10 || memcmp(p, "v=TLSRPTv1", 10) != 0)
			abort();
		check(&r);
	}
	while (n < 8 && size > 0) {
		const char *nl = memchr(p, '\n', size);
		size_t k = nl ? (size_t)(nl - p) : size;

		txt[n] = p;
		len[n] = k;
		if (k >= 10 && memcmp(p, "v=TLSRPTv1", 10) == 0 && (k == 10 ||
		    p[10] == ';' || p[10] == ' ' || p[10] == '\t'))
			v1++;
		n++;
		p += k + (nl != NULL);
		size -= k + (nl != NULL);
	}
	rc = tlsrpt_record_select(txt, len, n, &r, NULL);
	if (rc == 1) {
		if (v1 == 0)
			abort();
		check(&r);
	} else if (rc == 0 && v1 > 1) {
		abort();
	}
	return 0;
}
