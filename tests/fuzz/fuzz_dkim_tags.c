/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dkim_tags.c - libFuzzer harness for the pure DKIM parsers: the
 * tag-list, DKIM-Signature values and key records (dkim_tags.c), base64,
 * and, with the input taken as a whole message, the header splitter,
 * the From: domain reader and both canonicalizations (dkim_canon.c).
 * Invariants: parsed slices lie inside the input; an accepted signature
 * has the required tags and From in h=; canonical output never grows
 * past what the rules allow.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "msgauth/dkim.h"
#include "msgauth/msgauth_hdr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_inside(struct str s, struct str in)
{
	if (s.len && (s.p < in.p || s.p + s.len > in.p + in.len))
		abort();
}

static void
fuzz_count(void *arg, const void *p, size_t n)
{
	*(size_t *)arg += n;
	(void)p;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str in = str_make((const char *)data, size);
	struct dkim_tags tags;
	struct dkim_sig sig;
	struct dkim_key key;
	struct msgauth_hdr h;
	uint8_t out[512];
	size_t n, total;
	struct buf b;
	struct str doms[4];

	if (dkim_tags_parse(in, &tags, NULL) == 0) {
		for (size_t i = 0; i < tags.n; i++) {
			fuzz_inside(tags.tag[i].name, in);
			fuzz_inside(tags.tag[i].value, in);
			if (tags.tag[i].name.len == 0)
				abort();
		}
	}
	if (dkim_sig_parse(in, &sig, NULL) == 0) {
		bool from = false;

		fuzz_inside(sig.d, in);
		fuzz_inside(sig.s, in);
		fuzz_inside(sig.b_raw, in);
		for (size_t i = 0; i < sig.nhdrs; i++)
			from |= str_eq_nocase(sig.hdrs[i], STR("from"));
		if (!from || sig.d.len == 0 || sig.s.len == 0 ||
		    sig.b_len == 0 || sig.bh_len == 0)
			abort();
	}
	(void)dkim_key_parse(in, &key, NULL);
	(void)dkim_b64_decode(in, out, sizeof(out), &n);

	msgauth_hdr_parse((const char *)data, size, &h);
	buf_init(&b, 0);
	for (size_t i = 0; i < h.n; i++) {
		fuzz_inside(h.f[i].raw, in);
		buf_reset(&b);
		(void)dkim_canon_header(DKIM_CANON_RELAXED, h.f[i].raw, &b);
		if (b.len > h.f[i].raw.len)
			abort();
		if (str_eq_nocase(h.f[i].name, STR("From")))
			(void)msgauth_hdr_domains(h.f[i].value, doms, 4);
		if (str_eq_nocase(h.f[i].name, STR("DKIM-Signature")) &&
		    dkim_sig_parse(h.f[i].value, &sig, NULL) == 0) {
			buf_reset(&b);
			(void)dkim_canon_headers(&h, sig.hdrs, sig.nhdrs,
			    sig.hcanon, &b);
		}
	}
	buf_fini(&b);
	total = 0;
	dkim_canon_body(DKIM_CANON_RELAXED, h.body, fuzz_count, &total);
	if (total > h.body.len + 2)
		abort();
	total = 0;
	dkim_canon_body(DKIM_CANON_SIMPLE, h.body, fuzz_count, &total);
	if (total > h.body.len + 2)
		abort();
	msgauth_hdr_fini(&h);
	return 0;
}
