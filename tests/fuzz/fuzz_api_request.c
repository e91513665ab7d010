/* SPDX-License-Identifier: ISC */
/*
 * fuzz_api_request.c - libFuzzer harness for api_request_parse() and
 * mime_build() after it.
 *
 * The input is the JSON body. A refused body must name a reason in
 * printable ASCII and leave the struct zeroed; an accepted one must
 * build (mime_build may not refuse what the parser took), and the
 * message must be 7-bit CRLF lines of at most 998 octets, a header
 * section of well-formed fields with no Bcc: among them and exactly one
 * From:, a MIME tree that parses with one leaf per text, html and
 * attachment, and a Subject: that decodes back to the request's.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "mime/api_request.h"
#include "mime/mime_build.h"
#include "../unit/mime_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct api_limits fuzz_lim = { 20, 1 << 16 };
static const struct mime_opts fuzz_opts = {
	.hostname = "relais.example.org",
	.now = 1700000000,
	.tz_offset_min = 120,
	.unique = "0123456789abcdef01234567",
};

static void
fuzz_api_request_check_error(const struct api_request *r,
    const struct api_error *e)
{
	const unsigned char *p = (const unsigned char *)r;
	size_t i;

	for (i = 0; i < sizeof(*r); i++)
		if (p[i] != 0)
			abort();
	if (e->msg[0] == '\0')
		abort();
	for (i = 0; e->msg[i] != '\0'; i++)
		if ((unsigned char)e->msg[i] < 0x20 ||
		    (unsigned char)e->msg[i] >= 0x7f)
			abort();
	for (i = 0; e->field[i] != '\0'; i++)
		if ((unsigned char)e->field[i] < 0x20 ||
		    (unsigned char)e->field[i] >= 0x7f)
			abort();
}

static void
fuzz_api_request_check_msg(const struct api_request *r, const struct buf *m)
{
	size_t hlen = mime_check_hdr_len(m->data, m->len), skip = 0;
	struct mime_check_tree *t;
	struct buf raw, dec;

	if (mime_check_lines(m->data, m->len, true) != NULL ||
	    mime_check_header_syntax(m->data, hlen) != NULL ||
	    mime_check_count(m->data, hlen, "Bcc") != 0 ||
	    mime_check_count(m->data, hlen, "From") != 1 ||
	    mime_check_count(m->data, hlen, "MIME-Version") != 1)
		abort();
	t = malloc(sizeof(*t));
	if (t == NULL)
		abort();
	if (mime_check_tree(m->data, m->len, t) == -1 ||
	    t->nleaves != (r->text != NULL) + (r->html != NULL) + r->natts)
		abort();
	free(t);
	if (r->subject == NULL)
		return;
	buf_init(&raw, 0);
	buf_init(&dec, 0);
	if (mime_check_field(m->data, hlen, "Subject", 0, &raw) == -1 ||
	    mime_check_2047(raw.data, raw.len, &dec) == -1)
		abort();
	/* plain text loses its leading white space to the field's colon */
	if (strcmp(dec.data, r->subject) != 0) {
		while (r->subject[skip] == ' ' || r->subject[skip] == '\t')
			skip++;
		if (strcmp(dec.data, r->subject + skip) != 0)
			abort();
	}
	buf_fini(&raw);
	buf_fini(&dec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_request r;
	struct api_error e;
	struct err err;
	struct buf m;
	int rc;

	rc = api_request_parse((const char *)data, size, &fuzz_lim, &r, &e);
	if (rc != 0) {
		if (rc != API_REQUEST_INVALID && rc != API_REQUEST_TOO_LARGE)
			abort();
		fuzz_api_request_check_error(&r, &e);
		return 0;
	}
	if (r.from.addr == NULL || r.nto + r.ncc + r.nbcc == 0 ||
	    r.nto + r.ncc + r.nbcc > fuzz_lim.max_rcpts ||
	    r.size > fuzz_lim.max_size)
		abort();
	buf_init(&m, 1 << 22);
	if (mime_build(&r, &fuzz_opts, &m, &err) != 0)
		abort();
	fuzz_api_request_check_msg(&r, &m);
	buf_fini(&m);
	api_request_fini(&r);
	return 0;
}
