/* SPDX-License-Identifier: ISC */
/*
 * mime_check.h - small, independent readers of what src/mime writes, for
 * the unit tests (test_mime_build.c, test_mime_raw.c) and the fuzzers:
 * line rules, unfolded header fields, RFC 2047 and RFC 2231 decoding,
 * quoted-printable decoding and a MIME tree walker. They are written from
 * the RFCs, not from the code under test, and fail (-1, false) on
 * anything they do not understand instead of guessing.
 */
#ifndef RELAIS_TESTS_MIME_CHECK_H
#define RELAIS_TESTS_MIME_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/buf.h"

/*
 * mime_check_lines - NULL if p[0..n) is CRLF-terminated lines of at most
 * 998 octets (and 7-bit without NUL when seven), else what is wrong
 */
static inline const char *
mime_check_lines(const char *p, size_t n, bool seven)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r') {
			if (i + 1 == n || p[i + 1] != '\n')
				return "bare CR";
			i++;
			col = 0;
			continue;
		}
		if (c == '\n')
			return "bare LF";
		if (seven && (c == 0 || c >= 0x80))
			return "8-bit or NUL octet";
		if (++col > 998)
			return "line over 998 octets";
	}
	if (n > 0 && col != 0)
		return "no final CRLF";
	return NULL;
}

/*
 * mime_check_header_syntax - NULL if every line of the header section
 * hdr[0..n) starts a field ("name:", name of printable ASCII without ":")
 * or continues one (starts with white space, has something else too);
 * else what is wrong
 */
static inline const char *
mime_check_header_syntax(const char *hdr, size_t n)
{
	size_t i = 0, e, k;

	while (i < n) {
		const char *lf = memchr(hdr + i, '\n', n - i);

		e = lf ? (size_t)(lf - hdr) + 1 : n;
		if (hdr[i] == ' ' || hdr[i] == '\t') {
			if (i == 0)
				return "continuation line first";
			for (k = i; k < e && (hdr[k] == ' ' || hdr[k] == '\t');
			    k++)
				;
			if (k == e || hdr[k] == '\r' || hdr[k] == '\n')
				return "white space only line";
		} else {
			for (k = i; k < e && (unsigned char)hdr[k] > 32 &&
			    (unsigned char)hdr[k] < 127 && hdr[k] != ':'; k++)
				;
			if (k == i)
				return "line is not a field";
			while (k < e && (hdr[k] == ' ' || hdr[k] == '\t'))
				k++;
			if (k == e || hdr[k] != ':')
				return "line is not a field";
		}
		i = e;
	}
	return NULL;
}

/* mime_check_max_line - the longest line of p[0..n), CRLF excluded */
static inline size_t
mime_check_max_line(const char *p, size_t n)
{
	size_t i, col = 0, max = 0;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n') {
			col = 0;
			continue;
		}
		if (++col > max)
			max = col;
	}
	return max;
}

/* mime_check_hdr_len - length of the header section of an entity,
   without the empty line */
static inline size_t
mime_check_hdr_len(const char *p, size_t n)
{
	const char *e;

	if (n >= 2 && p[0] == '\r' && p[1] == '\n')
		return 0;
	e = memmem(p, n, "\r\n\r\n", 4);
	return e ? (size_t)(e - p) + 2 : n;
}

/*
 * mime_check_field - the unfolded value (CRLF removed, leading white
 * space dropped) of the index-th field called name in the header section
 * hdr[0..n) into out; -1 when there is none
 */
static inline int
mime_check_field(const char *hdr, size_t n, const char *name, int index,
    struct buf *out)
{
	size_t i = 0, k = strlen(name), e;

	buf_reset(out);
	buf_reserve(out, 1);
	while (i < n) {
		const char *lf = memchr(hdr + i, '\n', n - i);

		e = lf ? (size_t)(lf - hdr) + 1 : n;
		size_t c = i + k;

		/* obs-optional: white space before the colon */
		while (c < e && (hdr[c] == ' ' || hdr[c] == '\t'))
			c++;
		if (e - i > k && strncasecmp(hdr + i, name, k) == 0 &&
		    c < e && hdr[c] == ':' && index-- == 0) {
			size_t j = c + 1;

			while (j < n && (hdr[j] == ' ' || hdr[j] == '\t'))
				j++;
			for (;;) {
				for (; j < n && hdr[j] != '\r' && hdr[j] != '\n';
				    j++)
					buf_append(out, hdr + j, 1);
				while (j < n && (hdr[j] == '\r' || hdr[j] == '\n'))
					j++;
				if (j >= n || (hdr[j] != ' ' && hdr[j] != '\t'))
					return 0;
			}
		}
		i = e;
	}
	return -1;
}

/* mime_check_count - how many fields called name hdr[0..n) holds */
static inline int
mime_check_count(const char *hdr, size_t n, const char *name)
{
	struct buf b;
	int i;

	buf_init(&b, 0);
	for (i = 0; mime_check_field(hdr, n, name, i, &b) == 0; i++)
		;
	buf_fini(&b);
	return i;
}

static inline int
mime_check_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * mime_check_2047 - decode the encoded words (utf-8, B or Q) of an
 * unfolded header value into out; white space between two encoded words
 * goes (RFC 2047 6.2). -1 on a malformed word or one over 75 characters.
 */
static inline int
mime_check_2047(const char *v, size_t n, struct buf *out)
{
	size_t i = 0, ws_start = 0;
	bool last_ew = false;

	buf_reset(out);
	buf_reserve(out, 1);
	while (i < n) {
		if (n - i >= 2 && v[i] == '=' && v[i + 1] == '?') {
			const char *q1, *q2, *end;
			uint8_t tmp[128];
			size_t len;

			q1 = memchr(v + i + 2, '?', n - i - 2);
			if (q1 == NULL || q1 + 2 >= v + n || q1[2] != '?')
				return -1;
			q2 = q1 + 2;
			end = memmem(q2 + 1, (size_t)(v + n - q2 - 1), "?=", 2);
			if (end == NULL || end + 2 - (v + i) > 75)
				return -1;
			if ((size_t)(q1 - (v + i + 2)) != 5 ||
			    strncasecmp(v + i + 2, "utf-8", 5) != 0)
				return -1;
			if (last_ew)
				out->len = ws_start;	/* drop the space */
			if (q1[1] == 'B' || q1[1] == 'b') {
				if (base64_decode(str_make(q2 + 1,
				    (size_t)(end - q2 - 1)), BASE64_STRICT, tmp,
				    sizeof(tmp), &len) == -1)
					return -1;
				buf_append(out, tmp, len);
			} else if (q1[1] == 'Q' || q1[1] == 'q') {
				const char *c;

				for (c = q2 + 1; c < end; c++) {
					if (*c == '_')
						buf_append(out, " ", 1);
					else if (*c == '=') {
						int h, l;

						if (end - c < 3 ||
						    (h = mime_check_hex(c[1])) < 0 ||
						    (l = mime_check_hex(c[2])) < 0)
							return -1;
						char o = (char)(h << 4 | l);
						buf_append(out, &o, 1);
						c += 2;
					} else if ((unsigned char)*c <= ' ' ||
					    (unsigned char)*c >= 0x7f || *c == '?')
						return -1;
					else
						buf_append(out, c, 1);
				}
			} else
				return -1;
			i = (size_t)(end + 2 - v);
			last_ew = true;
			ws_start = out->len;
			continue;
		}
		if (v[i] != ' ' && v[i] != '\t')
			last_ew = false;
		buf_append(out, v + i, 1);
		i++;
	}
	return 0;
}

/* mime_check_qp - decode quoted-printable; -1 on a bad escape */
static inline int
mime_check_qp(const char *p, size_t n, struct buf *out)
{
	size_t i;
	int h, l;

	buf_reset(out);
	buf_reserve(out, 1);
	for (i = 0; i < n; i++) {
		if (p[i] != '=') {
			buf_append(out, p + i, 1);
			continue;
		}
		if (n - i >= 3 && p[i + 1] == '\r' && p[i + 2] == '\n') {
			i += 2;
			continue;
		}
		if (n - i < 3 || (h = mime_check_hex(p[i + 1])) < 0 ||
		    (l = mime_check_hex(p[i + 2])) < 0 ||
		    p[i + 1] > 'F' || p[i + 2] > 'F')
			return -1;
		char o = (char)(h << 4 | l);
		buf_append(out, &o, 1);
		i += 2;
	}
	return 0;
}

/*
 * mime_check_param - parameter attr of an unfolded structured value
 * (Content-Type, Content-Disposition) into out: attr="quoted" or token,
 * or RFC 2231 attr*=utf-8''... and attr*0*=, attr*1*=, ... joined and
 * percent-decoded. -1 when absent or malformed.
 */
static inline int
mime_check_param(const char *v, const char *attr, struct buf *out)
{
	char key[64];
	const char *p;
	int seg;

	buf_reset(out);
	buf_reserve(out, 1);
	for (seg = -1; seg < 1000; seg++) {
		bool ext = true;

		if (seg < 0)
			snprintf(key, sizeof(key), "; %s*=", attr);
		else
			snprintf(key, sizeof(key), "%s*%d*=", attr, seg);
		p = strstr(v, key);
		if (p == NULL && seg < 0) {
			snprintf(key, sizeof(key), "%s=", attr);
			if ((p = strstr(v, key)) == NULL)
				continue;
			ext = false;
			/* must be the whole attribute, not a suffix */
			if (p != v && p[-1] != ' ' && p[-1] != ';')
				continue;
		}
		if (p == NULL)
			return seg > 0 ? 0 : -1;
		p += strlen(key);
		if (!ext) {
			if (*p != '"') {
				while (*p && *p != ';' && *p != ' ')
					buf_append(out, p++, 1);
				return 0;
			}
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\')
					p++;
				buf_append(out, p, 1);
			}
			return *p == '"' ? 0 : -1;
		}
		if (seg <= 0) {
			if (strncasecmp(p, "utf-8''", 7) != 0)
				return -1;
			p += 7;
		}
		for (; *p && *p != ';'; p++) {
			if (*p == '%') {
				int h = mime_check_hex(p[1]), l;

				if (h < 0 || (l = mime_check_hex(p[2])) < 0)
					return -1;
				char o = (char)(h << 4 | l);
				buf_append(out, &o, 1);
				p += 2;
			} else if (*p == ' ' || *p == '"' || *p == '\'')
				return -1;
			else
				buf_append(out, p, 1);
		}
		if (seg < 0)
			return 0;
	}
	return -1;
}

/* a leaf of the MIME tree */
struct mime_check_leaf {
	char		 ctype[128];	/* lower case, no parameters */
	const char	*hdr;		/* its header section */
	size_t		 hlen;
	const char	*body;
	size_t		 blen;
};

#define MIME_CHECK_LEAVES	64

struct mime_check_tree {
	char			 shape[1024];	/* "mixed(alternative(...),..)" */
	struct mime_check_leaf	 leaves[MIME_CHECK_LEAVES];
	size_t			 nleaves;
	char			 boundaries[8][80];
	size_t			 nboundaries;
};

/*
 * mime_check_walk - walk the entity p[0..n): leaves are collected, and the
 * shape written: a leaf as its content type, a multipart as
 * SUBTYPE(child,child). A multipart's body must open with its delimiter
 * at a line start and end with the close delimiter; -1 otherwise.
 */
static inline int
mime_check_walk(const char *p, size_t n, struct mime_check_tree *t, int depth)
{
	size_t hlen = mime_check_hdr_len(p, n), bstart, pos, dlen, k;
	char ctype[128], delim[96], bnd[80];
	struct buf v, bb;
	const char *body, *next;
	size_t blen;
	bool first = true;
	int rc = -1;

	if (depth > 8)
		return -1;
	buf_init(&v, 0);
	buf_init(&bb, 0);
	bstart = hlen + 2 <= n ? hlen + 2 : n;
	body = p + bstart;
	blen = n - bstart;
	if (mime_check_field(p, hlen, "Content-Type", 0, &v) == -1)
		snprintf(ctype, sizeof(ctype), "text/plain");
	else {
		for (k = 0; k < v.len && v.data[k] != ';' &&
		    k + 1 < sizeof(ctype); k++)
			ctype[k] = (char)(v.data[k] >= 'A' && v.data[k] <= 'Z' ?
			    v.data[k] + 32 : v.data[k]);
		ctype[k] = '\0';
	}
	if (strncmp(ctype, "multipart/", 10) != 0) {
		struct mime_check_leaf *l;

		if (t->nleaves == MIME_CHECK_LEAVES)
			goto out;
		l = &t->leaves[t->nleaves++];
		snprintf(l->ctype, sizeof(l->ctype), "%s", ctype);
		l->hdr = p;
		l->hlen = hlen;
		l->body = body;
		l->blen = blen;
		strncat(t->shape, ctype, sizeof(t->shape) - strlen(t->shape) - 1);
		rc = 0;
		goto out;
	}
	if (mime_check_param(v.data, "boundary", &bb) == -1 ||
	    bb.len == 0 || bb.len >= sizeof(bnd))
		goto out;
	snprintf(bnd, sizeof(bnd), "%s", bb.data);
	if (t->nboundaries < 8)
		snprintf(t->boundaries[t->nboundaries++], 80, "%s", bnd);
	dlen = (size_t)snprintf(delim, sizeof(delim), "--%s", bnd);
	strncat(t->shape, ctype + 10, sizeof(t->shape) - strlen(t->shape) - 1);
	strncat(t->shape, "(", sizeof(t->shape) - strlen(t->shape) - 1);
	if (blen >= dlen && memcmp(body, delim, dlen) == 0)
		pos = 0;
	else {
		const char *d = memmem(body, blen, delim, dlen);

		/* a preamble: the delimiter must follow a CRLF */
		if (d == NULL || d < body + 2 || d[-1] != '\n' || d[-2] != '\r')
			goto out;
		pos = (size_t)(d - body);
	}
	for (;;) {
		size_t after = pos + dlen, pstart;
		char crlf_delim[100];

		if (blen - after >= 2 && memcmp(body + after, "--", 2) == 0)
			break;
		if (blen - after < 2 || memcmp(body + after, "\r\n", 2) != 0)
			goto out;
		pstart = after + 2;
		snprintf(crlf_delim, sizeof(crlf_delim), "\r\n%s", delim);
		next = memmem(body + pstart, blen - pstart, crlf_delim, dlen + 2);
		if (next == NULL)
			goto out;
		if (!first)
			strncat(t->shape, ",", sizeof(t->shape) -
			    strlen(t->shape) - 1);
		first = false;
		if (mime_check_walk(body + pstart, (size_t)(next - body) - pstart,
		    t, depth + 1) == -1)
			goto out;
		pos = (size_t)(next - body) + 2;
	}
	strncat(t->shape, ")", sizeof(t->shape) - strlen(t->shape) - 1);
	rc = first ? -1 : 0;	/* a multipart needs a part */
out:
	buf_fini(&v);
	buf_fini(&bb);
	return rc;
}

/* mime_check_tree - walk a whole message; -1 if it does not parse */
static inline int
mime_check_tree(const char *p, size_t n, struct mime_check_tree *t)
{
	memset(t, 0, sizeof(*t));
	return mime_check_walk(p, n, t, 0);
}

/*
 * mime_check_leaf_body - the decoded body of a leaf (base64,
 * quoted-printable, or 7bit as it is) into out; -1 when it does not
 * decode
 */
static inline int
mime_check_leaf_body(const struct mime_check_leaf *l, struct buf *out)
{
	struct buf cte;
	int rc = 0;

	buf_init(&cte, 0);
	buf_reset(out);
	buf_reserve(out, 1);
	if (mime_check_field(l->hdr, l->hlen, "Content-Transfer-Encoding", 0,
	    &cte) == -1 || strcasecmp(cte.data, "7bit") == 0)
		buf_append(out, l->body, l->blen);
	else if (strcasecmp(cte.data, "quoted-printable") == 0)
		rc = mime_check_qp(l->body, l->blen, out);
	else if (strcasecmp(cte.data, "base64") == 0) {
		buf_reserve(out, l->blen);
		size_t len;

		rc = base64_decode(str_make(l->body, l->blen),
		    BASE64_STRICT | BASE64_SKIP_BLANKS, (uint8_t *)out->data,
		    out->cap, &len);
		if (rc == 0)
			out->len = len;
		/* 76 columns */
		for (size_t i = 0, col = 0; rc == 0 && i < l->blen; i++) {
			col = l->body[i] == '\n' || l->body[i] == '\r' ? 0 :
			    col + 1;
			if (col > 76)
				rc = -1;
		}
	} else
		rc = -1;
	buf_fini(&cte);
	return rc;
}

#endif
