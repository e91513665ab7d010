/* SPDX-License-Identifier: ISC */
/*
 * test_proxy_proto.c - the PROXY protocol header parser: v1 lines and v2
 * headers that parse, every prefix of them asking for more, and the ways
 * a header is refused.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/proxy_proto.h"

#define SIG	"\r\n\r\n\0\r\nQUIT\n"

/* addr_text - "ip port" of a parsed address */
static void
addr_text(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
	}
	snprintf(out, n, "%s %u", ip, port);
}

/* every strict prefix of a good header asks for more */
static void
check_prefixes(const uint8_t *p, size_t len)
{
	struct proxy_hdr h;
	const char *why = NULL;

	for (size_t i = 0; i < len; i++) {
		if (proxy_parse(p, i, &h, &why) != PROXY_MORE)
			fail_msg("prefix %zu of %zu: %s", i, len,
			    why ? why : "done");
	}
}

static void
expect_good(const void *data, size_t n, size_t hlen, int version,
    enum proxy_cmd cmd, enum proxy_family fam, const char *src,
    const char *dst)
{
	struct proxy_hdr h;
	const char *why = NULL;
	char got[80];

	if (proxy_parse(data, n, &h, &why) != PROXY_DONE)
		fail_msg("refused: %s", why ? why : "more");
	assert_int_equal(h.len, hlen);
	assert_int_equal(h.version, version);
	assert_int_equal(h.cmd, cmd);
	assert_int_equal(h.family, fam);
	if (src != NULL) {
		addr_text(&h.src, got, sizeof(got));
		assert_string_equal(got, src);
		addr_text(&h.dst, got, sizeof(got));
		assert_string_equal(got, dst);
	} else {
		assert_int_equal(h.src.ss_family, 0);
	}
	check_prefixes(data, hlen);
}

static void
expect_bad(const void *data, size_t n, const char *reason_part)
{
	struct proxy_hdr h;
	const char *why = NULL;

	if (proxy_parse(data, n, &h, &why) != PROXY_BAD)
		fail_msg("not refused: %.*s", (int)n, (const char *)data);
	assert_non_null(why);
	if (reason_part != NULL && strstr(why, reason_part) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", why, reason_part);
}

static void
test_v1_good(void **state)
{
	const char *l4 = "PROXY TCP4 192.0.2.5 198.51.100.1 56324 25\r\nEHLO x";
	const char *l6 = "PROXY TCP6 2001:db8::5 2001:db8::1 65535 0\r\n";
	const char *un = "PROXY UNKNOWN\r\n";
	const char *un2 = "PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n";
	const char *m4 = "PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n";
	char longest[PROXY_V1_MAX + 1];

	expect_good(l4, strlen(l4), strlen(l4) - 6, 1, PROXY_CMD_PROXY,
	    PROXY_FAM_TCP4, "192.0.2.5 56324", "198.51.100.1 25");
	expect_good(l6, strlen(l6), strlen(l6), 1, PROXY_CMD_PROXY,
	    PROXY_FAM_TCP6, "2001:db8::5 65535", "2001:db8::1 0");
	expect_good(un, strlen(un), strlen(un), 1, PROXY_CMD_PROXY,
	    PROXY_FAM_UNKNOWN, NULL, NULL);
	expect_good(un2, strlen(un2), strlen(un2), 1, PROXY_CMD_PROXY,
	    PROXY_FAM_UNKNOWN, NULL, NULL);
	expect_good(m4, strlen(m4), strlen(m4), 1, PROXY_CMD_PROXY,
	    PROXY_FAM_TCP6, "::ffff:192.0.2.1 1", "::1 2");
	/* the longest line the spec allows: UNKNOWN with filler, 107 */
	memset(longest, 'x', sizeof(longest));
	memcpy(longest, "PROXY UNKNOWN ", 14);
	memcpy(longest + PROXY_V1_MAX - 2, "\r\n", 2);
	expect_good(longest, PROXY_V1_MAX, PROXY_V1_MAX, 1, PROXY_CMD_PROXY,
	    PROXY_FAM_UNKNOWN, NULL, NULL);
}

static void
test_v1_bad(void **state)
{
	static const struct {
		const char *line;
		const char *why;
	} cases[] = {
		{ "PROXY TCP4 192.0.2.5 198.51.100.1 056 25\r\n", "port" },
		{ "PROXY TCP4 192.0.2.5 198.51.100.1 65536 25\r\n", "port" },
		{ "PROXY TCP4 192.0.2.5 198.51.100.1 -1 25\r\n", "port" },
		{ "PROXY TCP4 192.0.2.5 198.51.100.1 +1 25\r\n", "port" },
		{ "PROXY TCP4 192.0.2.5 198.51.100.1 123456 25\r\n", "port" },
		{ "PROXY TCP4 192.0.2 198.51.100.1 1 25\r\n", "address" },
		{ "PROXY TCP4 192.0.2.05 198.51.100.1 1 25\r\n", "address" },
		{ "PROXY TCP4 2001:db8::1 198.51.100.1 1 25\r\n", "address" },
		{ "PROXY TCP6 192.0.2.5 2001:db8::1 1 25\r\n", "address" },
		{ "PROXY TCP4 192.0.2.5  198.51.100.1 1 25\r\n", "field" },
		{ "PROXY TCP4 192.0.2.5 198.51.100.1 1 25 \r\n", "field" },
		{ "PROXY TCP4 192.0.2.5 198.51.100.1 1\r\n", "field" },
		{ "PROXY TCP4 192.0.2.5 198.51.100.1 1 2 3\r\n", "extra" },
		{ "PROXY tcp4 192.0.2.5 198.51.100.1 1 25\r\n", "protocol" },
		{ "PROXY UDP4 192.0.2.5 198.51.100.1 1 25\r\n", "protocol" },
		{ "PROXY UNKNOWNX\r\n", "protocol" },
		{ "PROXY \r\n", "protocol" },
		{ "PROXY  TCP4 192.0.2.5 198.51.100.1 1 25\r\n", "protocol" },
		{ "PROXY TCP4 192.0.2.5 198.51.100.1 1 25\n", "control" },
		{ "PROXY TCP4 192.0.2.5 198.51.100.1 1 25\rX", "CR without LF" },
		{ "PROXY TCP4 192.0.2.5\t198.51.100.1 1 25\r\n", "control" },
		{ "PROXY UNKNOWN \xc3\xa9\r\n", "8-bit" },
		{ "PROXYTCP4\r\n", "not a PROXY" },
		{ "proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n", "not a PROXY" },
		{ "EHLO example.org\r\n", "not a PROXY" },
	};
	char longline[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_bad(cases[i].line, strlen(cases[i].line), cases[i].why);
	/* no CRLF within 107 octets; and a CRLF just past them */
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "PROXY UNKNOWN ", 14);
	expect_bad(longline, PROXY_V1_MAX, "over 107");
	expect_bad(longline, sizeof(longline), "over 107");
	memcpy(longline + PROXY_V1_MAX - 1, "\r\n", 2);
	expect_bad(longline, PROXY_V1_MAX + 1, "over 107");
}

/* v2_build - a v2 header: fixed part, body, n body octets */
static size_t
v2_build(uint8_t *out, uint8_t vercmd, uint8_t fam, const void *body,
    size_t n)
{
	memcpy(out, SIG, 12);
	out[12] = vercmd;
	out[13] = fam;
	out[14] = (uint8_t)(n >> 8);
	out[15] = (uint8_t)n;
	memcpy(out + 16, body, n);
	return 16 + n;
}

static void
test_v2_good(void **state)
{
	uint8_t buf[2048], body[1100];
	size_t n;

	/* TCP4, then a TLV (PP2_TYPE_ALPN), then the client's bytes */
	memcpy(body, "\xc0\x00\x02\x05" "\xc6\x33\x64\x01" "\xdc\x04"
	    "\x00\x19" "\x01\x00\x02" "h2", 17);
	n = v2_build(buf, 0x21, 0x11, body, 17);
	memcpy(buf + n, "EHLO", 4);
	expect_good(buf, n + 4, n, 2, PROXY_CMD_PROXY, PROXY_FAM_TCP4,
	    "192.0.2.5 56324", "198.51.100.1 25");
	/* TCP6 */
	memset(body, 0, 36);
	memcpy(body, "\x20\x01\x0d\xb8", 4);
	body[15] = 5;
	memcpy(body + 16, "\x20\x01\x0d\xb8", 4);
	body[31] = 1;
	memcpy(body + 32, "\x01\xbb\x00\x19", 4);
	n = v2_build(buf, 0x21, 0x21, body, 36);
	expect_good(buf, n, n, 2, PROXY_CMD_PROXY, PROXY_FAM_TCP6,
	    "2001:db8::5 443", "2001:db8::1 25");
	/* LOCAL (a health check): any family, addresses ignored */
	n = v2_build(buf, 0x20, 0x00, body, 0);
	expect_good(buf, n, 16, 2, PROXY_CMD_LOCAL, PROXY_FAM_UNSPEC, NULL,
	    NULL);
	n = v2_build(buf, 0x20, 0x11, body, 12);
	expect_good(buf, n, 28, 2, PROXY_CMD_LOCAL, PROXY_FAM_UNSPEC, NULL,
	    NULL);
	n = v2_build(buf, 0x20, 0x31, body, 3);
	expect_good(buf, n, 19, 2, PROXY_CMD_LOCAL, PROXY_FAM_UNSPEC, NULL,
	    NULL);
	/* PROXY with AF_UNSPEC, and TLVs */
	n = v2_build(buf, 0x21, 0x00, body, 5);
	expect_good(buf, n, 21, 2, PROXY_CMD_PROXY, PROXY_FAM_UNSPEC, NULL,
	    NULL);
	/* the largest header taken */
	memset(body, 0, sizeof(body));
	n = v2_build(buf, 0x21, 0x11, body, PROXY_HDR_MAX - 16);
	expect_good(buf, n, PROXY_HDR_MAX, 2, PROXY_CMD_PROXY, PROXY_FAM_TCP4,
	    "0.0.0.0 0", "0.0.0.0 0");
}

static void
test_v2_bad(void **state)
{
	uint8_t buf[2048], body[1100] = { 0 };
	size_t n;

	/* refused as soon as the fixed part shows it */
	n = v2_build(buf, 0x11, 0x11, body, 12);
	expect_bad(buf, 13, "version");
	n = v2_build(buf, 0x31, 0x11, body, 12);
	expect_bad(buf, n, "version");
	n = v2_build(buf, 0x22, 0x11, body, 12);
	expect_bad(buf, 13, "command");
	n = v2_build(buf, 0x2f, 0x11, body, 12);
	expect_bad(buf, n, "command");
	n = v2_build(buf, 0x21, 0x11, body, PROXY_HDR_MAX - 15);
	expect_bad(buf, 16, "over 1024");
	buf[14] = 0xff;
	buf[15] = 0xff;
	expect_bad(buf, 16, "over 1024");
	n = v2_build(buf, 0x21, 0x11, body, 11);
	expect_bad(buf, 16, "short IPv4");
	n = v2_build(buf, 0x21, 0x21, body, 35);
	expect_bad(buf, n, "short IPv6");
	n = v2_build(buf, 0x21, 0x12, body, 12);	/* UDP */
	expect_bad(buf, n, "unsupported");
	n = v2_build(buf, 0x21, 0x31, body, 216);	/* AF_UNIX */
	expect_bad(buf, n, "unsupported");
	n = v2_build(buf, 0x21, 0x10, body, 12);	/* INET, no proto */
	expect_bad(buf, n, "unsupported");
	/* the signature, octet by octet */
	for (size_t i = 0; i < 12; i++) {
		n = v2_build(buf, 0x21, 0x11, body, 12);
		buf[i] ^= 0x40;
		expect_bad(buf, i + 1, "not a PROXY");
	}
	expect_bad("\x16\x03\x01", 3, "not a PROXY");	/* a TLS hello */
	expect_bad("\r\n\r\n\r\n", 6, "not a PROXY");
}

static void
test_more(void **state)
{
	struct proxy_hdr h;
	const char *why = NULL;

	assert_int_equal(proxy_parse((const uint8_t *)"", 0, &h, &why),
	    PROXY_MORE);
	assert_int_equal(proxy_parse((const uint8_t *)"PROX", 4, &h, &why),
	    PROXY_MORE);
	assert_int_equal(proxy_parse((const uint8_t *)"PROXY TCP4 1.2.3.4\r",
	    19, &h, &why), PROXY_MORE);
	assert_int_equal(proxy_parse((const uint8_t *)SIG "\x21\x11\x00\x0c"
	    "\x01\x02", 18, &h, &why), PROXY_MORE);
	assert_string_equal(proxy_family_name(PROXY_FAM_TCP4), "TCP4");
	assert_string_equal(proxy_family_name(PROXY_FAM_TCP6), "TCP6");
	assert_string_equal(proxy_family_name(PROXY_FAM_UNSPEC), "UNSPEC");
	assert_string_equal(proxy_family_name(PROXY_FAM_UNKNOWN), "UNKNOWN");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_good),
		cmocka_unit_test(test_v1_bad),
		cmocka_unit_test(test_v2_good),
		cmocka_unit_test(test_v2_bad),
		cmocka_unit_test(test_more),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
