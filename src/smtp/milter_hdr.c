/* SPDX-License-Identifier: ISC */
/*
 * milter_hdr.c - header fields for milters: parsed, edited, written out
 * (see milter_hdr.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "core/xalloc.h"
#include "smtp/milter_hdr.h"

void
milter_hdrs_init(struct milter_hdrs *h, size_t max)
{
	memset(h, 0, sizeof(*h));
	h->max = max;
}

void
milter_hdrs_fini(struct milter_hdrs *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].raw);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

/* milter_field_line - where the field that starts at p[0] ends (after its
   last CRLF; folded lines included), or 0 when p does not start a field:
   no name before a ':' on its first line */
static size_t
milter_field_line(const char *p, size_t len, size_t *name_len, size_t *colon)
{
	size_t i = 0, end;

	while (i < len && p[i] != ':' && p[i] != '\r' && p[i] != '\n')
		i++;
	if (i >= len || p[i] != ':')
		return 0;
	*colon = i;
	while (i > 0 && (p[i - 1] == ' ' || p[i - 1] == '\t'))
		i--;
	if (i == 0)
		return 0;
	*name_len = i;
	for (size_t k = 0; k < i; k++)
		if ((unsigned char)p[k] <= ' ' || (unsigned char)p[k] >= 0x7f)
			return 0;
	/* to the CRLF not followed by a blank (only CRLF ends a line); a
	   line without its end (the text stops inside it) is not part of
	   the field */
	end = *colon + 1;
	for (bool first = true;; first = false) {
		const char *lf = memchr(p + end, '\n', len - end);

		while (lf != NULL && (lf == p || lf[-1] != '\r'))
			lf = memchr(lf + 1, '\n', len - (size_t)(lf + 1 - p));
		if (lf == NULL)
			return first ? 0 : end;
		end = (size_t)(lf - p) + 1;
		if (end >= len || (p[end] != ' ' && p[end] != '\t'))
			return end;
	}
}

/* milter_hdrs_put - the field raw[0..len) (owned) at position at */
static int
milter_hdrs_put(struct milter_hdrs *h, size_t at, char *raw, size_t len,
    size_t name_len, size_t colon, int origin)
{
	if (h->max != 0 && h->bytes + len > h->max) {
		free(raw);
		return -1;
	}
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->v = xreallocarray(h->v, h->cap, sizeof(*h->v));
	}
	if (at > h->n)
		at = h->n;
	memmove(h->v + at + 1, h->v + at, (h->n - at) * sizeof(*h->v));
	h->v[at] = (struct milter_hdr_field){ raw, len, name_len, colon,
	    origin };
	h->n++;
	h->bytes += len;
	return 0;
}

ssize_t
milter_hdrs_parse(struct milter_hdrs *h, const char *text, size_t len,
    int origin)
{
	size_t off = 0;

	while (off < len) {
		size_t name_len, colon, n;
		char *raw;

		n = milter_field_line(text + off, len - off, &name_len, &colon);
		if (n == 0)
			break;
		raw = xmalloc(n + 1);
		memcpy(raw, text + off, n);
		raw[n] = '\0';
		if (milter_hdrs_put(h, h->n, raw, n, name_len, colon,
		    origin) == -1)
			return -1;
		off += n;
	}
	return (ssize_t)off;
}

struct str
milter_hdr_name(const struct milter_hdr_field *f)
{
	return str_make(f->raw, f->name_len);
}

void
milter_hdr_value(const struct milter_hdr_field *f, bool leadspc,
    struct buf *out)
{
	const char *p = f->raw + f->colon + 1;
	size_t n = f->len - f->colon - 1;

	buf_reset(out);
	if (!leadspc && n > 0 && p[0] == ' ')
		p++, n--;
	/* the field's final line break goes */
	if (n > 0 && p[n - 1] == '\n')
		n--;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
			continue;	/* CRLF inside: LF */
		buf_append(out, &p[i], 1);
	}
	buf_reserve(out, 0);
}

bool
milter_hdr_name_ok(struct str name)
{
	if (name.len == 0 || name.len > 997)
		return false;
	for (size_t i = 0; i < name.len; i++) {
		unsigned char c = (unsigned char)name.p[i];

		if (c <= ' ' || c >= 0x7f || c == ':')
			return false;
	}
	return true;
}

/* milter_hdr_make - "Name:[ ]value\r\n" with the value's line breaks
   made safe folds; NULL if the name is not valid */
static char *
milter_hdr_make(struct str name, struct str value, bool leadspc,
    size_t *len)
{
	struct buf b;
	bool brk = false;

	if (!milter_hdr_name_ok(name))
		return NULL;
	buf_init(&b, 0);
	buf_append_str(&b, name);
	buf_puts(&b, leadspc ? ":" : ": ");
	for (size_t i = 0; i < value.len; i++) {
		char c = value.p[i];

		if (c == '\r' || c == '\n' || c == '\0') {
			brk = true;
			continue;
		}
		if (brk) {
			buf_puts(&b, "\r\n");
			if (c != ' ' && c != '\t')
				buf_puts(&b, "\t");
			brk = false;
		}
		buf_append(&b, &c, 1);
	}
	buf_puts(&b, "\r\n");
	return buf_steal(&b, len);
}

static int
milter_hdrs_new(struct milter_hdrs *h, size_t at, struct str name,
    struct str value, bool leadspc, int origin)
{
	size_t len;
	char *raw = milter_hdr_make(name, value, leadspc, &len);

	if (raw == NULL)
		return -1;
	if (milter_hdrs_put(h, at, raw, len, name.len, name.len, origin) == -1)
		return -1;
	h->changed = true;
	return 0;
}

int
milter_hdrs_add(struct milter_hdrs *h, struct str name, struct str value,
    bool leadspc)
{
	return milter_hdrs_new(h, h->n, name, value, leadspc,
	    MILTER_HDR_CLIENT);
}

int
milter_hdrs_insert(struct milter_hdrs *h, uint32_t index, struct str name,
    struct str value, bool leadspc)
{
	return milter_hdrs_new(h, index > h->n ? h->n : index, name, value,
	    leadspc, MILTER_HDR_INSERTED);
}

int
milter_hdrs_change(struct milter_hdrs *h, uint32_t index, struct str name,
    struct str value, bool leadspc)
{
	uint32_t seen = 0;
	size_t len, i;
	char *raw;

	if (!milter_hdr_name_ok(name))
		return -1;
	if (index == 0)
		index = 1;
	for (i = 0; i < h->n; i++) {
		if (h->v[i].origin == MILTER_HDR_PREFIX ||
		    !str_eq_nocase(milter_hdr_name(&h->v[i]), name))
			continue;
		if (++seen == index)
			break;
	}
	if (i == h->n)
		return value.len == 0 ? 0 : milter_hdrs_add(h, name, value,
		    leadspc);
	if (value.len == 0) {
		h->bytes -= h->v[i].len;
		free(h->v[i].raw);
		memmove(h->v + i, h->v + i + 1, (h->n - i - 1) *
		    sizeof(*h->v));
		h->n--;
		h->changed = true;
		return 0;
	}
	/* the field keeps its place and its name's spelling */
	raw = milter_hdr_make(milter_hdr_name(&h->v[i]), value, leadspc, &len);
	if (raw == NULL)
		return -1;
	if (h->max != 0 && h->bytes - h->v[i].len + len > h->max) {
		free(raw);
		return -1;
	}
	h->bytes = h->bytes - h->v[i].len + len;
	free(h->v[i].raw);
	h->v[i].raw = raw;
	h->v[i].len = len;
	h->v[i].colon = h->v[i].name_len;
	h->changed = true;
	return 0;
}

void
milter_hdrs_render(const struct milter_hdrs *h, struct buf *prefix,
    struct buf *text)
{
	size_t i = 0;

	for (; i < h->n && h->v[i].origin != MILTER_HDR_CLIENT; i++)
		buf_append(prefix, h->v[i].raw, h->v[i].len);
	for (; i < h->n; i++)
		buf_append(text, h->v[i].raw, h->v[i].len);
}

void
milter_crlf(struct milter_crlf *st, const char *p, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (st->cr) {
			st->cr = false;
			buf_puts(out, "\r\n");
			if (c == '\n')
				continue;
		}
		if (c == '\r') {
			st->cr = true;
			continue;
		}
		if (c == '\n') {
			buf_puts(out, "\r\n");
			continue;
		}
		buf_append(out, &c, 1);
	}
}

void
milter_crlf_end(struct milter_crlf *st, struct buf *out)
{
	if (st->cr)
		buf_puts(out, "\r\n");
	st->cr = false;
}
