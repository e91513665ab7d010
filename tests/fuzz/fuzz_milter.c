/* SPDX-License-Identifier: ISC */
/*
 * fuzz_milter.c - libFuzzer harness for the milter protocol's pure parts:
 * the input is read as a stream of packets from a milter (framing), each
 * decoded as the negotiation answer and as a reply; header edits are
 * applied to a header list that starts as a fixed header section plus
 * the input read as one, and the result is written out; replacement body
 * chunks go through the line-end normaliser. The output must stay within
 * the list's limit and keep its fields CRLF-terminated.
 */
#include <stdint.h>
#include <string.h>

#include "smtp/milter_hdr.h"
#include "smtp/milter_proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char base[] = "Received: by us\r\n";
	const char *p = (const char *)data;
	size_t n = size, used, len;
	struct milter_hdrs h;
	struct milter_crlf crlf = { false };
	struct milter_optneg o;
	struct milter_reply r;
	struct buf pre, text, body;
	const char *why, *d;
	char cmd, out[256];

	milter_hdrs_init(&h, 8192);
	buf_init(&pre, 0);
	buf_init(&text, 0);
	buf_init(&body, 65536);
	(void)milter_hdrs_parse(&h, base, sizeof(base) - 1, MILTER_HDR_PREFIX);
	(void)milter_hdrs_parse(&h, p, n > 4096 ? 4096 : n,
	    MILTER_HDR_CLIENT);
	while (milter_frame(p, n, &cmd, &d, &len, &used) == MILTER_FRAME_OK) {
		(void)milter_dec_optneg(d, len, MILTER_OFFER_ACTIONS, &o, &why);
		if (milter_dec_reply(cmd, d, len, &r, &why) == 0) {
			switch (r.type) {
			case MILTER_R_ADDHEADER:
				(void)milter_hdrs_add(&h, r.name, r.value,
				    r.index & 1);
				break;
			case MILTER_R_INSHEADER:
				(void)milter_hdrs_insert(&h, r.index, r.name,
				    r.value, false);
				break;
			case MILTER_R_CHGHEADER:
				(void)milter_hdrs_change(&h, r.index, r.name,
				    r.value, false);
				break;
			case MILTER_R_REPLYCODE:
				milter_reply_smtp(r.text, out, sizeof(out));
				if (strlen(out) >= sizeof(out))
					__builtin_trap();
				break;
			case MILTER_R_REPLBODY:
				milter_crlf(&crlf, r.text.p, r.text.len, &body);
				break;
			default:
				break;
			}
		}
		p += used;
		n -= used;
	}
	milter_crlf_end(&crlf, &body);
	milter_hdrs_render(&h, &pre, &text);
	if (h.bytes > h.max || pre.len + text.len != h.bytes)
		__builtin_trap();
	if (text.len > 0 && (text.len < 2 ||
	    memcmp(text.data + text.len - 2, "\r\n", 2) != 0))
		__builtin_trap();
	for (size_t i = 0; i < body.len; i++)
		if (body.data[i] == '\n' && (i == 0 || body.data[i - 1] != '\r'))
			__builtin_trap();
	milter_hdrs_fini(&h);
	buf_fini(&pre);
	buf_fini(&text);
	buf_fini(&body);
	return 0;
}
