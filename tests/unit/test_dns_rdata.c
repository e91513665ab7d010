/* SPDX-License-Identifier: ISC */
/*
 * test_dns_rdata.c - rdata in wire form: A, AAAA, MX (with the null MX),
 * TXT joined strings, PTR, and malformed records refused; TXT rdata of
 * every shape (RFC 1035 3.3.14, RFC 7208 3.3) and the answer built from
 * an RRset with malformed members (dns_answer_from_rdata).
 */
#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

/* RFC 1035 3.3.14: one or more <character-string>s; RFC 7208 3.3: joined
   with nothing between them */
static void
test_rdata_txt_shapes(void **state)
{
	struct dns_rr rr;
	uint8_t *w = calloc(1, 65536);
	size_t n = 0, want = 0;
	static const uint8_t zero[] = { 0 };
	static const uint8_t zeros[] = { 0, 0, 0 };
	static const uint8_t nul[] = { 3, 'a', 0, 'b', 0, 2, 0xc0, 0x0c };
	static const uint8_t over1[] = { 3, 'a', 'b' };
	static const uint8_t lone[] = { 3, 'a', 'b', 'c', 1 };
	static const uint8_t lone255[] = { 2, 'a', 'b', 255 };

	(void)state;
	/* an empty rdata: no string at all, read as an empty text */
	assert_int_equal(dns_rdata_parse(DNS_T_TXT, w, 0, &rr), 0);
	assert_int_equal(rr.txt_len, 0);
	assert_string_equal(rr.txt, "");
	dns_rr_fini(&rr);
	/* one, and several, empty strings */
	assert_int_equal(dns_rdata_parse(DNS_T_TXT, zero, 1, &rr), 0);
	assert_int_equal(rr.txt_len, 0);
	dns_rr_fini(&rr);
	assert_int_equal(dns_rdata_parse(DNS_T_TXT, zeros, 3, &rr), 0);
	assert_int_equal(rr.txt_len, 0);
	dns_rr_fini(&rr);
	/* NULs and pointer-like octets are text, counted in txt_len */
	assert_int_equal(dns_rdata_parse(DNS_T_TXT, nul, sizeof(nul), &rr), 0);
	assert_int_equal(rr.txt_len, 5);
	assert_memory_equal(rr.txt, "a\0b\xc0\x0c", 5);
	assert_int_equal(rr.txt[5], '\0');
	dns_rr_fini(&rr);
	/* strings of every length 0..255, then up to a 65535-octet rdata */
	for (size_t len = 0; len <= 255; len++) {
		w[n++] = (uint8_t)len;
		memset(w + n, 'a' + (int)(len % 26), len);
		n += len;
		want += len;
	}
	while (n + 256 <= 65535) {
		w[n++] = 255;
		memset(w + n, 'z', 255);
		n += 255;
		want += 255;
	}
	w[n] = (uint8_t)(65535 - n - 1);	/* the last: fills 65535 */
	memset(w + n + 1, 'y', w[n]);
	want += w[n];
	n = 65535;
	assert_int_equal(dns_rdata_parse(DNS_T_TXT, w, n, &rr), 0);
	assert_int_equal(rr.txt_len, want);
	assert_int_equal(rr.txt[0], 'b');	/* "" then "b" (length 1) */
	assert_int_equal(rr.txt[want], '\0');
	dns_rr_fini(&rr);
	/* a length octet past the end, by one or alone at the end */
	assert_int_equal(dns_rdata_parse(DNS_T_TXT, over1, sizeof(over1),
	    &rr), -1);
	assert_int_equal(dns_rdata_parse(DNS_T_TXT, lone, sizeof(lone), &rr),
	    -1);
	assert_int_equal(dns_rdata_parse(DNS_T_TXT, lone255, sizeof(lone255),
	    &rr), -1);
	free(w);
}

/* an RRset: malformed members dropped, the rest kept; all malformed is
   PERMFAIL (what a strict resolver would answer SERVFAIL for) */
static void
test_answer_from_rdata(void **state)
{
	static const uint8_t good[] = { 11, 'v', '=', 's', 'p', 'f', '1', ' ',
	    '-', 'a', 'l', 'l' };
	static const uint8_t bad[] = { 12, 'v', '=', 's', 'p', 'f', '1' };
	static const uint8_t empty[] = { 0 };
	const uint8_t *rd[3] = { bad, good, empty };
	size_t len[3] = { sizeof(bad), sizeof(good), 0 };
	struct dns_answer ans;

	(void)state;
	dns_answer_from_rdata(&ans, DNS_T_TXT, 3, rd, len);
	assert_int_equal(ans.status, DNS_OK);
	assert_int_equal(ans.type, DNS_T_TXT);
	assert_int_equal(ans.n, 2);
	assert_string_equal(ans.rr[0].txt, "v=spf1 -all");
	assert_int_equal(ans.rr[1].txt_len, 0);
	dns_answer_fini(&ans);

	dns_answer_from_rdata(&ans, DNS_T_TXT, 1, rd, len);
	assert_int_equal(ans.status, DNS_PERMFAIL);
	assert_int_equal(ans.n, 0);
	dns_answer_fini(&ans);

	rd[0] = empty;
	len[0] = sizeof(empty);
	dns_answer_from_rdata(&ans, DNS_T_MX, 1, rd, len);
	assert_int_equal(ans.status, DNS_PERMFAIL);	/* MX of 1 octet */
	dns_answer_fini(&ans);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rdata_ok),
		cmocka_unit_test(test_rdata_bad),
		cmocka_unit_test(test_rdata_txt_shapes),
		cmocka_unit_test(test_answer_from_rdata),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
