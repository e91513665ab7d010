/* SPDX-License-Identifier: ISC */
/*
 * fuzz_spf_record.c - libFuzzer harness for the pure SPF layers:
 * spf_record_parse() on the whole input, and the macro functions
 * (spf_macro_check, spf_macro_expand with and without SPF_MACRO_EXP,
 * spf_macro_domain, spf_domain_spec_valid) on it and on every
 * domain-spec of an accepted record. Invariants: an accepted record's
 * domain-specs are valid and expand without a syntax error; the expansion
 * never passes its buffer's cap; a queried name is at most 253 octets.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "msgauth/spf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_spf_expand(struct str spec, const struct spf_macro_ctx *m, bool valid)
{
	struct buf b;
	int r;

	buf_init(&b, 2048);
	r = spf_macro_expand(spec, m, 0, &b, NULL);
	if (valid && r == -1 && b.len < 2048 - 600)
		abort();	/* a checked spec must expand */
	if (b.len > 2048)
		abort();
	buf_reset(&b);
	(void)spf_macro_expand(spec, m, SPF_MACRO_EXP, &b, NULL);
	r = spf_macro_domain(spec, m, &b, NULL);
	if (r == 0 && (b.len == 0 || b.len > SPF_DOMAIN_MAX))
		abort();
	if (valid && r == -1)
		abort();
	buf_fini(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str in = str_make((const char *)data, size);
	struct spf_macro_ctx m;
	struct spf_record rec;

	memset(&m, 0, sizeof(m));
	m.sender = STR("strong-bad@email.example.com");
	m.local = STR("strong-bad");
	m.sender_domain = STR("email.example.com");
	m.domain = STR("email.example.com");
	m.family = size && (data[0] & 1) ? AF_INET6 : AF_INET;
	memset(m.ip, 0xab, sizeof(m.ip));
	m.helo = STR("mx.example.org");
	m.now = 1;

	if (spf_record_parse(in, &rec, NULL) == 0) {
		for (size_t i = 0; i < rec.nterms; i++) {
			const struct spf_term *t = &rec.terms[i];

			if (t->cidr4 > 32 || t->cidr6 > 128)
				abort();
			if (t->domain.len) {
				if (!spf_domain_spec_valid(t->domain))
					abort();
				fuzz_spf_expand(t->domain, &m, true);
			}
		}
		if (rec.redirect.p)
			fuzz_spf_expand(rec.redirect, &m, true);
		if (rec.exp.p)
			fuzz_spf_expand(rec.exp, &m, true);
		spf_record_fini(&rec);
	}
	(void)spf_macro_check(in, SPF_MACRO_EXP, NULL);
	(void)spf_macro_uses_p(in);
	(void)spf_domain_spec_valid(in);
	fuzz_spf_expand(in, &m, false);
	return 0;
}
