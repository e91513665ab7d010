/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dns_txt.c - libFuzzer harness for TXT answers of every shape, from
 * the rdatas to the SPF and DMARC verdicts built on them.
 *
 * The input is a TXT RRset: rdatas, each a 2-octet big-endian length and
 * that many octets (the last one takes what is left). It goes through
 * dns_answer_from_rdata() as a libunbound answer does, then is served by
 * a synchronous resolver as the TXT records of fuzz.example and of
 * _dmarc.fuzz.example (every other name: NXDOMAIN) to check_host() and to
 * DMARC policy discovery. Checked, beyond the sanitizers: each parsed
 * text stays within its rdata and keeps its guard NUL; the answer is OK
 * exactly when some rdata parsed; and an answer with one well-formed
 * rdata never gives SPF or DMARC a temperror (the resolver has no other
 * error to give).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msgauth/dmarc.h"
#include "msgauth/spf.h"
#include "net/dns.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_DNS_TXT_MAX	64	/* rdatas per RRset */

struct fuzz_dns_txt {
	const uint8_t	*rdata[FUZZ_DNS_TXT_MAX];
	size_t		 len[FUZZ_DNS_TXT_MAX];
	size_t		 n;
	uint64_t	 next_id;
	int		 spf_calls, dmarc_calls;
	enum spf_result	 spf;
	enum dmarc_found_status dmarc;
};

static uint64_t
fuzz_dns_txt_query(void *ctx, const char *name, int type, dns_cb *cb,
    void *arg)
{
	struct fuzz_dns_txt *fz = ctx;
	struct dns_answer ans;

	if (type == DNS_T_TXT && (strcasecmp(name, "fuzz.example") == 0 ||
	    strcasecmp(name, "_dmarc.fuzz.example") == 0)) {
		dns_answer_from_rdata(&ans, type, fz->n, fz->rdata, fz->len);
	} else {
		memset(&ans, 0, sizeof(ans));
		ans.type = type;
		ans.status = DNS_NXDOMAIN;
	}
	cb(arg, &ans);
	dns_answer_fini(&ans);
	return ++fz->next_id;
}

static void
fuzz_dns_txt_cancel(void *ctx, uint64_t id)
{
	__builtin_trap();	/* answers are synchronous: nothing to cancel */
}

static void
fuzz_dns_txt_spf_done(void *arg, const struct spf_answer *ans)
{
	struct fuzz_dns_txt *fz = arg;

	fz->spf_calls++;
	fz->spf = ans->result;
}

static void
fuzz_dns_txt_dmarc_done(void *arg, const struct dmarc_found *f)
{
	struct fuzz_dns_txt *fz = arg;

	fz->dmarc_calls++;
	fz->dmarc = f->status;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_dns_txt fz;
	struct dns_resolver res = { fuzz_dns_txt_query, fuzz_dns_txt_cancel,
	    &fz };
	struct dns_answer ans;
	struct spf_request req;
	size_t off = 0, parsed = 0;

	memset(&fz, 0, sizeof(fz));
	while (off < size && fz.n < FUZZ_DNS_TXT_MAX) {
		size_t l = off + 1 < size ? (size_t)(data[off] << 8 |
		    data[off + 1]) : 0;

		off += off + 1 < size ? 2 : 1;
		if (l > size - off)
			l = size - off;
		fz.rdata[fz.n] = data + off;
		fz.len[fz.n++] = l;
		off += l;
	}

	/* the answer itself */
	dns_answer_from_rdata(&ans, DNS_T_TXT, fz.n, fz.rdata, fz.len);
	for (size_t i = 0; i < fz.n; i++) {
		struct dns_rr rr;

		if (dns_rdata_parse(DNS_T_TXT, fz.rdata[i], fz.len[i], &rr) == 0) {
			parsed++;
			dns_rr_fini(&rr);
		}
	}
	if (ans.n != parsed || (ans.status == DNS_OK) != (parsed > 0))
		__builtin_trap();
	for (size_t i = 0; i < ans.n; i++)
		if (ans.rr[i].txt == NULL || ans.rr[i].txt_len >= 65535 ||
		    ans.rr[i].txt[ans.rr[i].txt_len] != '\0')
			__builtin_trap();
	dns_answer_fini(&ans);

	/* SPF (RFC 7208 4.4-4.6) on it */
	memset(&req, 0, sizeof(req));
	if (spf_request_set_ip(&req, "192.0.2.1") == -1)
		__builtin_trap();
	req.sender = "a@fuzz.example";
	req.helo = "h.example";
	req.now = 1;
	if (spf_eval_start(res, &req, fuzz_dns_txt_spf_done, &fz) != NULL ||
	    fz.spf_calls != 1)
		__builtin_trap();
	if (parsed > 0 && fz.spf == SPF_TEMPERROR)
		__builtin_trap();

	/* DMARC policy discovery (RFC 7489 6.6.3) on it */
	if (dmarc_lookup_start(res, "fuzz.example", fuzz_dns_txt_dmarc_done,
	    &fz) != NULL || fz.dmarc_calls != 1)
		__builtin_trap();
	if (parsed > 0 && fz.dmarc == DMARC_FOUND_TEMPERROR)
		__builtin_trap();
	return 0;
}
