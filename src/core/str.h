/* SPDX-License-Identifier: ISC */
/*
 * str.h - non-owning byte slices (pointer + length, no NUL guarantee).
 *
 * Parsers take and return slices into the caller's bytes, so parsing
 * allocates nothing. All helpers are static inline and pure.
 */
#ifndef RELAIS_CORE_STR_H
#define RELAIS_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

struct str {
	const char	*p;
	size_t		 len;
};

#define STR(lit)	((struct str){ (lit), sizeof(lit) - 1 })
#define STR_NULL	((struct str){ NULL, 0 })
/* printf("%.*s", STR_FMT(s)) */
#define STR_FMT(s)	(int)(s).len, (s).p

static inline struct str
str_make(const char *p, size_t len)
{
	return (struct str){ p, len };
}

static inline struct str
str_cstr(const char *s)
{
	return (struct str){ s, s ? strlen(s) : 0 };
}

static inline bool
str_eq(struct str a, struct str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline bool
str_eq_nocase(struct str a, struct str b)
{
	return a.len == b.len && (a.len == 0 || strncasecmp(a.p, b.p, a.len) == 0);
}

static inline bool
str_prefix_nocase(struct str s, struct str prefix)
{
	return s.len >= prefix.len &&
	    (prefix.len == 0 || strncasecmp(s.p, prefix.p, prefix.len) == 0);
}

/* str_cut - split s at the first c: returns the part before, leaves s after */
static inline struct str
str_cut(struct str *s, char c)
{
	const char *q = s->len ? memchr(s->p, c, s->len) : NULL;
	struct str head;

	if (q == NULL) {
		head = *s;
		s->p += s->len;
		s->len = 0;
		return head;
	}
	head = str_make(s->p, (size_t)(q - s->p));
	s->len -= head.len + 1;
	s->p = q + 1;
	return head;
}

static inline struct str
str_trim(struct str s)
{
	while (s.len && (s.p[0] == ' ' || s.p[0] == '\t'))
		s.p++, s.len--;
	while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
		s.len--;
	return s;
}

#endif
