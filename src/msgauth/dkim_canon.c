/* SPDX-License-Identifier: ISC */
/*
 * dkim_canon.c - RFC 6376 3.4: the simple and relaxed canonicalizations
 * of header fields and of the body. Pure; the body goes to a sink in
 * pieces (the caller hashes them), so a 25 MB message is never copied.
 *
 * Lines end with CRLF only; a bare CR or LF is an ordinary octet here
 * (the daemon refuses such messages before they get this far, and the
 * CLI turns bare LF into CRLF on input).
 */
#include <ctype.h>
#include <string.h>

#include "msgauth/dkim.h"

#define DKIM_CANON_CHUNK	8192

static int
dkim_canon_one(struct str s, enum dkim_canon *out)
{
	if (str_eq_nocase(s, STR("simple")))
		*out = DKIM_CANON_SIMPLE;
	else if (str_eq_nocase(s, STR("relaxed")))
		*out = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

int
dkim_canon_parse(struct str s, enum dkim_canon *hdr_out,
    enum dkim_canon *body_out)
{
	struct str h = str_cut(&s, '/');

	if (dkim_canon_one(h, hdr_out) == -1)
		return -1;
	if (s.p == h.p + h.len) {	/* no '/' */
		*body_out = DKIM_CANON_SIMPLE;
		return 0;
	}
	return dkim_canon_one(s, body_out);
}

int
dkim_canon_header(enum dkim_canon c, struct str field, struct buf *out)
{
	const char *colon, *p, *end = field.p + field.len;
	size_t start = out->len;
	bool space = false;

	if (c == DKIM_CANON_SIMPLE)
		return buf_append_str(out, field);
	colon = memchr(field.p, ':', field.len);
	if (colon == NULL)
		colon = end;
	/* the name, lower-cased, without blanks before the colon */
	for (p = field.p; p < colon; p++) {
		char ch = (char)tolower((unsigned char)*p);

		if (*p == ' ' || *p == '\t')
			continue;
		if (buf_append(out, &ch, 1) == -1)
			return -1;
	}
	if (colon == end)
		return 0;
	if (buf_append(out, ":", 1) == -1)
		return -1;
	start = out->len;
	for (p = colon + 1; p < end; p++) {
		if (*p == '\r' && p + 1 < end && p[1] == '\n') {
			p++;		/* unfold */
			continue;
		}
		if (*p == ' ' || *p == '\t') {
			space = true;
			continue;
		}
		/* runs of WSP become one SP; none at the start of the value */
		if (space && out->len > start && buf_append(out, " ", 1) == -1)
			return -1;
		space = false;
		if (buf_append(out, p, 1) == -1)
			return -1;
	}
	return 0;
}

int
dkim_canon_headers(const struct msgauth_hdr *h, const struct str *names,
    size_t n, enum dkim_canon c, struct buf *out)
{
	/* how many of each name are used so far, counted from the bottom */
	size_t used[DKIM_SIG_HDRS_MAX];

	if (n > DKIM_SIG_HDRS_MAX)
		n = DKIM_SIG_HDRS_MAX;
	for (size_t i = 0; i < n; i++) {
		size_t skip = 0, k;

		for (size_t j = 0; j < i; j++)
			if (str_eq_nocase(names[j], names[i]))
				skip = used[j] + 1 > skip ? used[j] + 1 : skip;
		used[i] = skip;
		for (k = h->n; k > 0; k--) {
			if (!str_eq_nocase(h->f[k - 1].name, names[i]))
				continue;
			if (skip-- == 0)
				break;
		}
		if (k == 0)
			continue;	/* none left: contributes nothing */
		if (dkim_canon_header(c, h->f[k - 1].raw, out) == -1 ||
		    buf_append(out, "\r\n", 2) == -1)
			return -1;
	}
	return 0;
}

/* a small output buffer in front of the sink */
struct dkim_canon_out {
	dkim_canon_sink	*sink;
	void		*arg;
	char		 buf[DKIM_CANON_CHUNK];
	size_t		 len;
};

static void
dkim_canon_flush(struct dkim_canon_out *o)
{
	if (o->len)
		o->sink(o->arg, o->buf, o->len);
	o->len = 0;
}

static void
dkim_canon_put(struct dkim_canon_out *o, const char *p, size_t n)
{
	while (n) {
		size_t k = sizeof(o->buf) - o->len;

		if (k > n)
			k = n;
		memcpy(o->buf + o->len, p, k);
		o->len += k;
		p += k;
		n -= k;
		if (o->len == sizeof(o->buf))
			dkim_canon_flush(o);
	}
}

/* dkim_canon_line_end - the CRLF ending the line at p, or end */
static const char *
dkim_canon_line_end(const char *p, const char *end)
{
	while (p < end) {
		const char *cr = memchr(p, '\r', (size_t)(end - p));

		if (cr == NULL)
			return end;
		if (cr + 1 < end && cr[1] == '\n')
			return cr;
		p = cr + 1;
	}
	return end;
}

static void
dkim_canon_body_simple(struct str body, struct dkim_canon_out *o)
{
	size_t len = body.len;

	/* drop empty lines at the end: keep one CRLF of the run */
	while (len >= 4 && memcmp(body.p + len - 4, "\r\n\r\n", 4) == 0)
		len -= 2;
	if (len == 2 && memcmp(body.p, "\r\n", 2) == 0)
		len = 0;
	dkim_canon_put(o, body.p, len);
	if (len < 2 || memcmp(body.p + len - 2, "\r\n", 2) != 0)
		dkim_canon_put(o, "\r\n", 2);
}

static void
dkim_canon_body_relaxed(struct str body, struct dkim_canon_out *o)
{
	const char *p = body.p, *end = body.p + body.len;
	size_t empty = 0;

	while (p < end) {
		const char *eol = dkim_canon_line_end(p, end);
		const char *q = p, *last = p;
		bool any = false, space = false;

		/* the line's last octet that is not WSP */
		for (const char *r = eol; r > p; r--) {
			if (r[-1] != ' ' && r[-1] != '\t') {
				last = r;
				any = true;
				break;
			}
		}
		if (!any) {
			empty++;
		} else {
			for (; empty; empty--)
				dkim_canon_put(o, "\r\n", 2);
			while (q < last) {
				const char *run = q;

				if (*q == ' ' || *q == '\t') {
					space = true;
					q++;
					continue;
				}
				if (space)
					dkim_canon_put(o, " ", 1);
				space = false;
				while (q < last && *q != ' ' && *q != '\t')
					q++;
				dkim_canon_put(o, run, (size_t)(q - run));
			}
			dkim_canon_put(o, "\r\n", 2);
		}
		p = eol < end ? eol + 2 : end;
	}
}

void
dkim_canon_body(enum dkim_canon c, struct str body, dkim_canon_sink *sink,
    void *arg)
{
	struct dkim_canon_out o;

	o.sink = sink;
	o.arg = arg;
	o.len = 0;
	if (c == DKIM_CANON_SIMPLE)
		dkim_canon_body_simple(body, &o);
	else
		dkim_canon_body_relaxed(body, &o);
	dkim_canon_flush(&o);
}
