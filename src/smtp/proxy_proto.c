/* SPDX-License-Identifier: ISC */
/*
 * proxy_proto.c - the PROXY protocol header; see proxy_proto.h. Follows
 * HAProxy's proxy-protocol.txt: a receiver must never guess, so anything
 * that is not exactly a header is refused, as early as the octets show it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdbool.h>
#include <string.h>

#include "smtp/proxy_proto.h"

static const uint8_t proxy_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define PROXY_V2_FIXED	16	/* signature, ver/cmd, family, length */
#define PROXY_V2_INET	12	/* two IPv4 addresses, two ports */
#define PROXY_V2_INET6	36	/* two IPv6 addresses, two ports */

static enum proxy_result
proxy_bad(const char **why, const char *reason)
{
	*why = reason;
	return PROXY_BAD;
}

static void
proxy_set4(struct sockaddr_storage *ss, const uint8_t *addr, const uint8_t *port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	in->sin_family = AF_INET;
	memcpy(&in->sin_addr, addr, 4);
	memcpy(&in->sin_port, port, 2);		/* both network order */
}

static void
proxy_set6(struct sockaddr_storage *ss, const uint8_t *addr, const uint8_t *port)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	in6->sin6_family = AF_INET6;
	memcpy(&in6->sin6_addr, addr, 16);
	memcpy(&in6->sin6_port, port, 2);
}

/* proxy_v2 - the binary header; p starts with (a part of) the signature */
static enum proxy_result
proxy_v2(const uint8_t *p, size_t n, struct proxy_hdr *out, const char **why)
{
	size_t total, k = n < sizeof(proxy_v2_sig) ? n : sizeof(proxy_v2_sig);
	unsigned cmd, fam;

	if (memcmp(p, proxy_v2_sig, k) != 0)
		return proxy_bad(why, "not a PROXY protocol header");
	if (n <= sizeof(proxy_v2_sig))
		return PROXY_MORE;
	if ((p[12] >> 4) != 2)
		return proxy_bad(why, "v2: version is not 2");
	cmd = p[12] & 0x0f;
	if (cmd > 1)
		return proxy_bad(why, "v2: unknown command");
	if (n < PROXY_V2_FIXED)
		return PROXY_MORE;
	fam = p[13];
	total = PROXY_V2_FIXED + ((size_t)p[14] << 8 | p[15]);
	if (total > PROXY_HDR_MAX)
		return proxy_bad(why, "v2: header over 1024 octets");
	if (cmd == 1) {
		if (fam == 0x11 && total < PROXY_V2_FIXED + PROXY_V2_INET)
			return proxy_bad(why, "v2: short IPv4 addresses");
		if (fam == 0x21 && total < PROXY_V2_FIXED + PROXY_V2_INET6)
			return proxy_bad(why, "v2: short IPv6 addresses");
		if (fam != 0x00 && fam != 0x11 && fam != 0x21)
			return proxy_bad(why, "v2: unsupported address family"
			    " or protocol");
	}
	if (n < total)
		return PROXY_MORE;
	memset(out, 0, sizeof(*out));
	out->version = 2;
	out->len = total;
	out->cmd = cmd == 1 ? PROXY_CMD_PROXY : PROXY_CMD_LOCAL;
	out->family = PROXY_FAM_UNSPEC;
	if (out->cmd == PROXY_CMD_LOCAL)
		return PROXY_DONE;	/* the addresses are ignored */
	p += PROXY_V2_FIXED;
	if (fam == 0x11) {
		out->family = PROXY_FAM_TCP4;
		proxy_set4(&out->src, p, p + 8);
		proxy_set4(&out->dst, p + 4, p + 10);
	} else if (fam == 0x21) {
		out->family = PROXY_FAM_TCP6;
		proxy_set6(&out->src, p, p + 32);
		proxy_set6(&out->dst, p + 16, p + 34);
	}
	return PROXY_DONE;
}

/* proxy_v1_token - the next token of line [*pos, end), ended by one space
   or the end; false when empty */
static bool
proxy_v1_token(const char *line, size_t end, size_t *pos, const char **tok,
    size_t *len)
{
	const char *sp;
	size_t at = *pos;

	if (at >= end)
		return false;
	sp = memchr(line + at, ' ', end - at);
	*tok = line + at;
	*len = sp != NULL ? (size_t)(sp - (line + at)) : end - at;
	*pos = at + *len + (sp != NULL ? 1 : 0);
	if (sp != NULL && *pos >= end)
		return false;	/* a trailing space */
	return *len > 0;
}

static bool
proxy_v1_addr(const char *tok, size_t len, int af, void *addr)
{
	char text[64];

	if (len >= sizeof(text))
		return false;
	memcpy(text, tok, len);
	text[len] = '\0';
	return inet_pton(af, text, addr) == 1;
}

/* proxy_v1_port - decimal 0-65535, no sign, no leading zero */
static bool
proxy_v1_port(const char *tok, size_t len, uint8_t port[2])
{
	unsigned v = 0;

	if (len == 0 || len > 5 || (len > 1 && tok[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return false;
		v = v * 10 + (unsigned)(tok[i] - '0');
	}
	if (v > 65535)
		return false;
	port[0] = (uint8_t)(v >> 8);
	port[1] = (uint8_t)v;
	return true;
}

/* proxy_v1_line - the line [0, end) without its CRLF */
static enum proxy_result
proxy_v1_line(const char *line, size_t end, struct proxy_hdr *out,
    const char **why)
{
	const char *tok[5];
	size_t len[5], pos = 6, i;
	uint8_t a[2][16], port[2][2];
	int af;

	memset(out, 0, sizeof(*out));
	out->version = 1;
	out->cmd = PROXY_CMD_PROXY;
	out->len = end + 2;
	if (end >= 13 && memcmp(line + 6, "UNKNOWN", 7) == 0 &&
	    (end == 13 || line[13] == ' ')) {
		/* whatever follows is to be ignored */
		out->family = PROXY_FAM_UNKNOWN;
		return PROXY_DONE;
	}
	if (!proxy_v1_token(line, end, &pos, &tok[0], &len[0]))
		return proxy_bad(why, "v1: no protocol");
	if (len[0] == 4 && memcmp(tok[0], "TCP4", 4) == 0)
		af = AF_INET;
	else if (len[0] == 4 && memcmp(tok[0], "TCP6", 4) == 0)
		af = AF_INET6;
	else
		return proxy_bad(why, "v1: unknown protocol");
	for (i = 1; i < 5; i++)
		if (!proxy_v1_token(line, end, &pos, &tok[i], &len[i]))
			return proxy_bad(why, "v1: missing field");
	if (pos < end)
		return proxy_bad(why, "v1: extra fields");
	if (!proxy_v1_addr(tok[1], len[1], af, a[0]) ||
	    !proxy_v1_addr(tok[2], len[2], af, a[1]))
		return proxy_bad(why, "v1: bad address");
	if (!proxy_v1_port(tok[3], len[3], port[0]) ||
	    !proxy_v1_port(tok[4], len[4], port[1]))
		return proxy_bad(why, "v1: bad port");
	if (af == AF_INET) {
		out->family = PROXY_FAM_TCP4;
		proxy_set4(&out->src, a[0], port[0]);
		proxy_set4(&out->dst, a[1], port[1]);
	} else {
		out->family = PROXY_FAM_TCP6;
		proxy_set6(&out->src, a[0], port[0]);
		proxy_set6(&out->dst, a[1], port[1]);
	}
	return PROXY_DONE;
}

/* proxy_v1 - the text line; p starts with (a part of) "PROXY " */
static enum proxy_result
proxy_v1(const uint8_t *p, size_t n, struct proxy_hdr *out, const char **why)
{
	size_t k = n < 6 ? n : 6;

	if (memcmp(p, "PROXY ", k) != 0)
		return proxy_bad(why, "not a PROXY protocol header");
	for (size_t i = 0; i < n && i < PROXY_V1_MAX; i++) {
		if (p[i] == '\r') {
			if (i + 2 > PROXY_V1_MAX)
				break;
			if (i + 1 == n)
				return PROXY_MORE;
			if (p[i + 1] != '\n')
				return proxy_bad(why, "v1: CR without LF");
			return proxy_v1_line((const char *)p, i, out, why);
		}
		if (p[i] < 0x20 || p[i] > 0x7e)
			return proxy_bad(why, "v1: control or 8-bit octet");
	}
	if (n < PROXY_V1_MAX)
		return PROXY_MORE;
	return proxy_bad(why, "v1: line over 107 octets");
}

enum proxy_result
proxy_parse(const uint8_t *p, size_t n, struct proxy_hdr *out,
    const char **why)
{
	if (n == 0)
		return PROXY_MORE;
	if (p[0] == proxy_v2_sig[0])
		return proxy_v2(p, n, out, why);
	if (p[0] == 'P')
		return proxy_v1(p, n, out, why);
	return proxy_bad(why, "not a PROXY protocol header");
}

const char *
proxy_family_name(enum proxy_family f)
{
	switch (f) {
	case PROXY_FAM_TCP4:
		return "TCP4";
	case PROXY_FAM_TCP6:
		return "TCP6";
	case PROXY_FAM_UNKNOWN:
		return "UNKNOWN";
	default:
		return "UNSPEC";
	}
}
