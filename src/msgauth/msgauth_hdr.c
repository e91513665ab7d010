/* SPDX-License-Identifier: ISC */
/*
 * msgauth_hdr.c - header fields of a message, and the domains of an
 * address list. Pure; see msgauth_hdr.h. Reached by the fuzzers through
 * the DKIM and DMARC harnesses.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "msgauth/msgauth_hdr.h"

/* msgauth_hdr_eol - end of the line at p: the CRLF, or end */
static const char *
msgauth_hdr_eol(const char *p, const char *end)
{
	for (const char *q = p; q < end; q++) {
		q = memchr(q, '\r', (size_t)(end - q));
		if (q == NULL)
			break;
		if (q + 1 < end && q[1] == '\n')
			return q;
	}
	return end;
}

void
msgauth_hdr_parse(const char *msg, size_t len, struct msgauth_hdr *out)
{
	const char *p = msg, *end = msg + len;
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *eol, *start = p, *colon;
		struct msgauth_field *f;

		eol = msgauth_hdr_eol(p, end);
		if (eol == p) {		/* the empty line */
			out->has_body = true;
			p = eol + 2 <= end ? eol + 2 : end;
			break;
		}
		if (out->n == MSGAUTH_HDR_FIELDS_MAX)
			break;
		/* continuation lines */
		while (eol + 2 < end && (eol[2] == ' ' || eol[2] == '\t'))
			eol = msgauth_hdr_eol(eol + 2, end);
		if (out->n == cap) {
			cap = cap ? cap * 2 : 32;
			out->f = xreallocarray(out->f, cap, sizeof(*out->f));
		}
		f = &out->f[out->n++];
		f->raw = str_make(start, (size_t)(eol - start));
		colon = memchr(start, ':', (size_t)(eol - start));
		if (colon == NULL) {
			f->name = f->raw;
			f->value = str_make(eol, 0);
		} else {
			f->name = str_make(start, (size_t)(colon - start));
			while (f->name.len && (f->name.p[f->name.len - 1] == ' ' ||
			    f->name.p[f->name.len - 1] == '\t'))
				f->name.len--;
			f->value = str_make(colon + 1, (size_t)(eol - colon - 1));
		}
		p = eol + 2 <= end ? eol + 2 : end;
	}
	out->body_off = (size_t)(p - msg);
	out->body = str_make(p, (size_t)(end - p));
}

void
msgauth_hdr_fini(struct msgauth_hdr *h)
{
	free(h->f);
	memset(h, 0, sizeof(*h));
}

size_t
msgauth_hdr_count(const struct msgauth_hdr *h, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n; i++)
		if (str_eq_nocase(h->f[i].name, str_cstr(name)))
			n++;
	return n;
}

/* ---------------------------------------------------------------------
 * Address lists
 *
 * A small tokenizer over RFC 5322 3.4: it only needs to find, for each
 * mailbox, the addr-spec (inside <> if there are any, else the mailbox
 * itself) and its domain. Quoted strings and comments are skipped as
 * units, so '@', ',' and '<' inside them mean nothing; "name: a, b;" is
 * a group whose members count.
 */

/* msgauth_hdr_skip - past a quoted string or (nested) comment at *p */
static bool
msgauth_hdr_skip(const char **pp, const char *end)
{
	const char *p = *pp;
	int depth = 0;

	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++)
			if (*p == '\\' && p + 1 < end)
				p++;
		if (p >= end)
			return false;
		*pp = p + 1;
		return true;
	}
	for (; p < end; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			break;
	}
	if (p >= end)
		return false;
	*pp = p + 1;
	return true;
}

/* msgauth_hdr_addr_domain - domain of one addr-spec (comments allowed) */
static int
msgauth_hdr_addr_domain(const char *p, const char *end, struct str *out)
{
	const char *at = NULL, *d, *e;

	for (const char *q = p; q < end;) {
		if (*q == '"' || *q == '(') {
			if (!msgauth_hdr_skip(&q, end))
				return -1;
			continue;
		}
		if (*q == '@')
			at = q;
		q++;
	}
	if (at == NULL)
		return -1;
	d = at + 1;
	/* the domain ends at a blank, a comment or the end */
	while (d < end && (*d == ' ' || *d == '\t' || *d == '\r' ||
	    *d == '\n'))
		d++;
	for (e = d; e < end && *e != ' ' && *e != '\t' && *e != '(' &&
	    *e != '\r' && *e != '\n' && *e != '>'; e++)
		;
	if (e == d)
		return -1;
	*out = str_make(d, (size_t)(e - d));
	return 0;
}

int
msgauth_hdr_domains(struct str value, struct str *out, size_t max)
{
	const char *p = value.p, *end = value.p + value.len;
	const char *start = p, *lt = NULL, *gt = NULL;
	int n = 0;
	bool any = false;

	for (;;) {
		bool sep = p >= end || *p == ',' || *p == ';';

		if (!sep && (*p == '"' || *p == '(')) {
			if (!msgauth_hdr_skip(&p, end))
				return -1;
			any = true;
			continue;
		}
		if (!sep && *p == ':' && lt == NULL) {
			/* "group-name:" starts a group; its members follow */
			start = p + 1;
			any = false;
			p++;
			continue;
		}
		if (!sep) {
			if (*p == '<' && lt == NULL)
				lt = p;
			else if (*p == '>' && lt != NULL && gt == NULL)
				gt = p;
			if (!isspace((unsigned char)*p))
				any = true;
			p++;
			continue;
		}
		if (any || lt != NULL) {
			struct str d;
			const char *a = lt ? lt + 1 : start;
			const char *b = lt ? (gt ? gt : p) : p;

			if (lt != NULL && gt == NULL)
				return -1;
			if (msgauth_hdr_addr_domain(a, b, &d) == -1)
				return -1;
			if ((size_t)n < max)
				out[n] = d;
			n++;
		}
		if (p >= end)
			break;
		p++;
		start = p;
		lt = gt = NULL;
		any = false;
	}
	return n;
}
