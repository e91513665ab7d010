/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dns_rdata.c - libFuzzer harness for dns_rdata_parse: the first
 * octet picks the record type.
 */
#include <stdint.h>
#include <string.h>

#include "net/dns.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT,
	    DNS_T_PTR, DNS_T_CNAME, DNS_T_TLSA };
	struct dns_rr rr;

	if (size < 1)
		return 0;
	if (dns_rdata_parse(types[data[0] % 7], data + 1, size - 1, &rr) == 0) {
		if (strlen(rr.name) >= sizeof(rr.name))
			__builtin_trap();
		dns_rr_fini(&rr);
	}
	return 0;
}
