/* SPDX-License-Identifier: ISC */
/*
 * dns_rdata.c - DNS rdata in wire form to struct dns_rr, and an RRset's
 * rdatas to a struct dns_answer. Pure: no I/O, no globals; fuzzed
 * through tests/fuzz/fuzz_dns_rdata.c and fuzz_dns_txt.c.
 */
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "net/dns.h"

/* dns_rdata_name - an uncompressed wire-form name to dotted text */
static int
dns_rdata_name(const uint8_t *p, size_t len, size_t *off, char *out,
    size_t outlen)
{
	size_t o = 0, i = *off;

	for (;;) {
		size_t l;

		if (i >= len)
			return -1;
		l = p[i++];
		if (l == 0)
			break;
		if (l > 63 || i + l > len)
			return -1;	/* compression pointers are refused */
		if (o + l + 2 > outlen)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (size_t k = 0; k < l; k++) {
			uint8_t c = p[i + k];

			/* keep names printable: they end up in logs */
			out[o++] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
		}
		i += l;
	}
	if (o == 0)
		out[o++] = '.';		/* the root: "." (null MX) */
	out[o] = '\0';
	*off = i;
	return 0;
}

int
dns_rdata_parse(int type, const uint8_t *p, size_t len, struct dns_rr *out)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	out->type = type;
	switch (type) {
	case DNS_T_A:
		if (len != 4)
			return -1;
		out->family = AF_INET;
		memcpy(out->addr, p, 4);
		return 0;
	case DNS_T_AAAA:
		if (len != 16)
			return -1;
		out->family = AF_INET6;
		memcpy(out->addr, p, 16);
		return 0;
	case DNS_T_MX:
		if (len < 3)
			return -1;
		out->pref = (uint16_t)(p[0] << 8 | p[1]);
		off = 2;
		if (dns_rdata_name(p, len, &off, out->name,
		    sizeof(out->name)) == -1 || off != len)
			return -1;
		return 0;
	case DNS_T_PTR:
	case DNS_T_CNAME:
		if (dns_rdata_name(p, len, &off, out->name,
		    sizeof(out->name)) == -1 || off != len)
			return -1;
		return 0;
	case DNS_T_TXT:
		out->txt = xmalloc(len + 1);
		while (off < len) {
			size_t l = p[off++];

			if (off + l > len) {
				dns_rr_fini(out);
				return -1;
			}
			memcpy(out->txt + out->txt_len, p + off, l);
			out->txt_len += l;
			off += l;
		}
		out->txt[out->txt_len] = '\0';
		return 0;
	default:
		out->raw = xmalloc(len + 1);
		memcpy(out->raw, p, len);
		out->raw_len = len;
		return 0;
	}
}

void
dns_rr_fini(struct dns_rr *rr)
{
	free(rr->txt);
	free(rr->raw);
	rr->txt = NULL;
	rr->raw = NULL;
}

void
dns_answer_from_rdata(struct dns_answer *out, int type, size_t n,
    const uint8_t *const rdata[], const size_t len[])
{
	memset(out, 0, sizeof(*out));
	out->type = type;
	out->rr = xcalloc(n ? n : 1, sizeof(*out->rr));
	for (size_t i = 0; i < n; i++)
		if (dns_rdata_parse(type, rdata[i], len[i], &out->rr[out->n]) == 0)
			out->n++;
	out->status = out->n ? DNS_OK : DNS_PERMFAIL;
}

void
dns_answer_fini(struct dns_answer *ans)
{
	for (size_t i = 0; i < ans->n; i++)
		dns_rr_fini(&ans->rr[i]);
	free(ans->rr);
	ans->rr = NULL;
	ans->n = 0;
}
