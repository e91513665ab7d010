/* SPDX-License-Identifier: ISC */
/*
 * fuzz_mime_build.c - libFuzzer harness for mime_raw_prepare() and for
 * mime_build() fed a struct api_request that never went through the
 * parser.
 *
 * The first input octet chooses. Even: the rest is a raw message for
 * mime_raw_prepare; accepted, it must come out as CRLF lines of at most
 * 998 octets, a well-formed header section with exactly one From:, a
 * Date: and a Message-ID:, and no Bcc:, with From's address returned.
 * Odd: the rest drives a small generator that fills a request with
 * arbitrary strings (8-bit, invalid UTF-8, CR, LF and NUL included
 * unless a flag asks for valid UTF-8) for the names, subject, header
 * fields, file names, content types, Content-IDs and the options.
 * mime_build may refuse (-1) but never -2 here, and what it builds must
 * pass the same checks as in fuzz_api_request: 7-bit, CRLF, 998, no
 * Bcc:, a MIME tree that parses, a Subject: that decodes back.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/utf8.h"
#include "mime/api_request.h"
#include "mime/mime_build.h"
#include "mime/mime_raw.h"
#include "../unit/mime_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_ADDRS	4
#define FUZZ_MAX_HDRS	4
#define FUZZ_MAX_ATTS	4

/* the bytes the generator reads, and what it allocated */
struct fuzz_gen {
	const uint8_t	*p;
	size_t		 n;
	bool		 utf8;		/* repair strings into valid UTF-8 */
	char		*owned[64];
	size_t		 nowned;
};

static const char *const fuzz_addrs[] = { "a@b.example", "x.y+z@Example.ORG",
	"\"q u\"@d.example", "p@[192.0.2.1]", "bad", "a@b@c", "",
	("a@b.example>\r\nBcc: x@y") };
static const char *const fuzz_ctypes[] = { "application/pdf", "text/plain",
	"image/png", "multipart/mixed", "bad", "a/b;c", "" };
static const char *const fuzz_hnames[] = { "X-A", "List-Unsubscribe", "Bcc",
	"X:Y", "Content-Type", "x",
	("X-Very-Long-Header-Name-That-Goes-On-And-On-Until-Seventy-Six-"
	"Chars-Abcdefghijk") };
static const char *const fuzz_uniques[] = { "0123456789abcdef01234567", "u",
	"a.b", "", "=_" };

static uint8_t
fuzz_byte(struct fuzz_gen *g)
{
	uint8_t c;

	if (g->n == 0)
		return 0;
	c = *g->p++;
	g->n--;
	return c;
}

/* fuzz_str - a NUL-terminated string of up to 255 octets from the input */
static char *
fuzz_str(struct fuzz_gen *g)
{
	size_t len = fuzz_byte(g), i, k;
	char *s;

	if (len > g->n)
		len = g->n;
	if (g->nowned == sizeof(g->owned) / sizeof(g->owned[0]))
		return (char *)"";
	s = malloc(len + 1);
	if (s == NULL)
		abort();
	memcpy(s, g->p, len);
	s[len] = '\0';
	g->p += len;
	g->n -= len;
	for (i = 0; i < len; i++)
		if (s[i] == '\0')
			s[i] = ' ';
	if (g->utf8) {
		for (i = 0; i < len; i += k) {
			if ((unsigned char)s[i] < 0x80)
				k = 1;
			else if ((k = utf8_seq_len((unsigned char *)s + i,
			    len - i)) == 0) {
				s[i] = '?';
				k = 1;
			}
		}
	}
	g->owned[g->nowned++] = s;
	return s;
}

/* fuzz_pick - one of a table's strings, or (top bit) one from the input */
static const char *
fuzz_pick(struct fuzz_gen *g, const char *const *table, size_t n)
{
	uint8_t c = fuzz_byte(g);

	if (c & 0x80)
		return fuzz_str(g);
	return table[c % n];
}

static void
fuzz_addr(struct fuzz_gen *g, struct api_addr *a)
{
	uint8_t c = fuzz_byte(g);

	a->addr = (char *)fuzz_pick(g, fuzz_addrs,
	    sizeof(fuzz_addrs) / sizeof(fuzz_addrs[0]));
	a->name = c & 1 ? fuzz_str(g) : NULL;
}

static void
fuzz_mime_build_check(const struct api_request *r, const struct buf *m)
{
	size_t hlen = mime_check_hdr_len(m->data, m->len), skip = 0, natts;
	struct mime_check_tree *t;
	struct buf raw, dec;

	if (mime_check_lines(m->data, m->len, true) != NULL ||
	    mime_check_header_syntax(m->data, hlen) != NULL ||
	    mime_check_count(m->data, hlen, "Bcc") != 0 ||
	    mime_check_count(m->data, hlen, "From") != 1)
		abort();
	t = malloc(sizeof(*t));
	if (t == NULL)
		abort();
	natts = r->natts;
	if (mime_check_tree(m->data, m->len, t) == -1 ||
	    t->nleaves != (r->text != NULL) + (r->html != NULL) + natts)
		abort();
	free(t);
	if (r->subject == NULL)
		return;
	buf_init(&raw, 0);
	buf_init(&dec, 0);
	if (mime_check_field(m->data, hlen, "Subject", 0, &raw) == -1 ||
	    mime_check_2047(raw.data, raw.len, &dec) == -1)
		abort();
	if (strcmp(dec.data, r->subject) != 0) {
		while (r->subject[skip] == ' ' || r->subject[skip] == '\t')
			skip++;
		if (strcmp(dec.data, r->subject + skip) != 0)
			abort();
	}
	buf_fini(&raw);
	buf_fini(&dec);
}

static void
fuzz_mime_build_struct(const uint8_t *data, size_t size)
{
	struct fuzz_gen g = { .p = data, .n = size };
	struct api_addr from, reply, to[FUZZ_MAX_ADDRS], cc[FUZZ_MAX_ADDRS];
	struct api_header h[FUZZ_MAX_HDRS];
	struct api_attachment a[FUZZ_MAX_ATTS];
	struct api_request r = { 0 };
	struct mime_opts o;
	struct err err;
	struct buf m;
	uint8_t flags = fuzz_byte(&g);
	size_t i;
	int rc;

	g.utf8 = flags & 1;
	fuzz_addr(&g, &from);
	r.from = from;
	if (flags & 2) {
		fuzz_addr(&g, &reply);
		r.reply_to = &reply;
	}
	r.nto = fuzz_byte(&g) % (FUZZ_MAX_ADDRS + 1);
	for (i = 0; i < r.nto; i++)
		fuzz_addr(&g, &to[i]);
	r.to = to;
	r.ncc = fuzz_byte(&g) % (FUZZ_MAX_ADDRS + 1);
	for (i = 0; i < r.ncc; i++)
		fuzz_addr(&g, &cc[i]);
	r.cc = cc;
	if (flags & 4)
		r.subject = fuzz_str(&g);
	if (flags & 8) {
		r.text = fuzz_str(&g);
		r.text_len = strlen(r.text);
	}
	if (flags & 16) {
		r.html = fuzz_str(&g);
		r.html_len = strlen(r.html);
	}
	r.nheaders = fuzz_byte(&g) % (FUZZ_MAX_HDRS + 1);
	for (i = 0; i < r.nheaders; i++) {
		h[i].name = (char *)fuzz_pick(&g, fuzz_hnames,
		    sizeof(fuzz_hnames) / sizeof(fuzz_hnames[0]));
		h[i].value = fuzz_str(&g);
	}
	r.headers = h;
	r.natts = fuzz_byte(&g) % (FUZZ_MAX_ATTS + 1);
	for (i = 0; i < r.natts; i++) {
		uint8_t c = fuzz_byte(&g);

		a[i].filename = c & 1 ? fuzz_str(&g) : NULL;
		a[i].content_type = (char *)fuzz_pick(&g, fuzz_ctypes,
		    sizeof(fuzz_ctypes) / sizeof(fuzz_ctypes[0]));
		a[i].content_id = c & 2 ? (char *)fuzz_pick(&g, fuzz_addrs,
		    sizeof(fuzz_addrs) / sizeof(fuzz_addrs[0])) : NULL;
		a[i].data = (unsigned char *)fuzz_str(&g);
		a[i].len = strlen((char *)a[i].data);
	}
	r.atts = a;
	o.hostname = flags & 32 ? fuzz_str(&g) : "relais.example.org";
	o.unique = fuzz_pick(&g, fuzz_uniques,
	    sizeof(fuzz_uniques) / sizeof(fuzz_uniques[0]));
	o.now = (int64_t)((uint64_t)fuzz_byte(&g) << 32);
	o.now |= (int64_t)((uint64_t)fuzz_byte(&g) << 24);
	o.now -= (int64_t)1 << 38;
	o.tz_offset_min = (int)(int8_t)fuzz_byte(&g) * 12;
	buf_init(&m, 1 << 22);
	rc = mime_build(&r, &o, &m, &err);
	if (rc == -2 || (rc == -1 && err.msg[0] == '\0'))
		abort();
	if (rc == 0)
		fuzz_mime_build_check(&r, &m);
	buf_fini(&m);
	for (i = 0; i < g.nowned; i++)
		free(g.owned[i]);
}

static void
fuzz_mime_build_raw(const uint8_t *data, size_t size)
{
	static const struct mime_opts o = {
		.hostname = "relais.example.org",
		.now = 1700000000,
		.tz_offset_min = -90,
		.unique = "0123456789abcdef01234567",
	};
	struct api_addr from;
	struct api_error e;
	struct buf m;
	size_t hlen;
	int rc;

	buf_init(&m, 1 << 20);
	rc = mime_raw_prepare((const char *)data, size, &o, &m, &from, &e);
	if (rc != 0) {
		if (rc != API_REQUEST_INVALID || from.addr != NULL ||
		    e.msg[0] == '\0')
			abort();
		buf_fini(&m);
		return;
	}
	hlen = mime_check_hdr_len(m.data, m.len);
	if (mime_check_lines(m.data, m.len, false) != NULL ||
	    memchr(m.data, '\0', m.len) != NULL ||
	    mime_check_header_syntax(m.data, hlen) != NULL ||
	    mime_check_count(m.data, hlen, "Bcc") != 0 ||
	    mime_check_count(m.data, hlen, "From") != 1 ||
	    mime_check_count(m.data, hlen, "Date") < 1 ||
	    mime_check_count(m.data, hlen, "Message-ID") < 1 ||
	    from.addr == NULL || strchr(from.addr, '@') == NULL)
		abort();
	api_addr_fini(&from);
	buf_fini(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_mime_build_struct(data + 1, size - 1);
	else
		fuzz_mime_build_raw(data + 1, size - 1);
	return 0;
}
