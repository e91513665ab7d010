/* SPDX-License-Identifier: ISC */
/*
 * test_dns_rdata.c - rdata in wire form: A, AAAA, MX (with the null MX),
 * TXT joined strings, PTR, and malformed records refused.
 */
#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/dns.h"

static void
test_rdata_ok(void **state)
{
	struct dns_rr rr;
	static const uint8_t a[] = { 127, 0, 0, 2 };
	static const uint8_t mx[] = { 0, 10, 3, 'm', 'x', '1', 7, 'e', 'x',
	    'a', 'm', 'p', 'l', 'e', 3, 'n', 'e', 't', 0 };
	static const uint8_t nullmx[] = { 0, 0, 0 };
	static const uint8_t txt[] = { 3, 'v', '=', 's', 4, 'p', 'f', '1',
	    ' ', 0 };
	uint8_t aaaa[16] = { 0 };

	assert_int_equal(dns_rdata_parse(DNS_T_A, a, 4, &rr), 0);
	assert_int_equal(rr.family, AF_INET);
	assert_memory_equal(rr.addr, a, 4);

	aaaa[15] = 1;
	assert_int_equal(dns_rdata_parse(DNS_T_AAAA, aaaa, 16, &rr), 0);
	assert_int_equal(rr.family, AF_INET6);

	assert_int_equal(dns_rdata_parse(DNS_T_MX, mx, sizeof(mx), &rr), 0);
	assert_int_equal(rr.pref, 10);
	assert_string_equal(rr.name, "mx1.example.net");

	assert_int_equal(dns_rdata_parse(DNS_T_MX, nullmx, sizeof(nullmx),
	    &rr), 0);
	assert_int_equal(rr.pref, 0);
	assert_string_equal(rr.name, ".");

	assert_int_equal(dns_rdata_parse(DNS_T_TXT, txt, sizeof(txt), &rr), 0);
	assert_int_equal(rr.txt_len, 7);
	assert_string_equal(rr.txt, "v=spf1 ");
	dns_rr_fini(&rr);
}

static void
test_rdata_bad(void **state)
{
	struct dns_rr rr;
	static const uint8_t shortmx[] = { 0, 10 };
	static const uint8_t overrun[] = { 0, 10, 9, 'a', 0 };
	static const uint8_t pointer[] = { 0, 10, 0xc0, 0x0c };
	static const uint8_t trailing[] = { 0, 10, 0, 'x' };
	static const uint8_t badtxt[] = { 5, 'a', 'b' };

	assert_int_equal(dns_rdata_parse(DNS_T_A, shortmx, 2, &rr), -1);
	assert_int_equal(dns_rdata_parse(DNS_T_MX, shortmx, 2, &rr), -1);
	assert_int_equal(dns_rdata_parse(DNS_T_MX, overrun, sizeof(overrun),
	    &rr), -1);
	assert_int_equal(dns_rdata_parse(DNS_T_MX, pointer, sizeof(pointer),
	    &rr), -1);
	assert_int_equal(dns_rdata_parse(DNS_T_MX, trailing, sizeof(trailing),
	    &rr), -1);
	assert_int_equal(dns_rdata_parse(DNS_T_TXT, badtxt, sizeof(badtxt),
	    &rr), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rdata_ok),
		cmocka_unit_test(test_rdata_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
