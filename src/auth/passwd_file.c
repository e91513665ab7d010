/* SPDX-License-Identifier: ISC */
/*
 * passwd_file.c - load a Dovecot passwd-file and look users up in it.
 *
 * The whole file is read into one buffer that the table keeps; each entry
 * points into it (user lower-cased and both fields NUL-terminated in
 * place), so 100k users cost one read, one array and one qsort. Lookups
 * bsearch the sorted array, comparing case-insensitively without copying
 * the key. Line parsing is passwd_file_parse_line, pure, so the unit
 * test's table and a fuzzer reach it without files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passwd_file.h"
#include "core/buf.h"
#include "core/xalloc.h"

struct passwd_file_entry {
	const char	*user;		/* lower-case, NUL-terminated */
	size_t		 ulen;
	const char	*hash;		/* as stored, NUL-terminated */
	unsigned	 line;		/* for the duplicate message */
};

struct passwd_file {
	char				*data;		/* the file */
	struct passwd_file_entry	*entries;	/* sorted by user */
	size_t				 n;
};

static int	passwd_file_check_dups(const struct passwd_file *,
		    const char *, struct err *);
static int	passwd_file_sort_cmp(const void *, const void *);
static int	passwd_file_key_cmp(const void *, const void *);
static const struct passwd_file_entry *passwd_file_find(
		    const struct passwd_file *, struct str);

static inline unsigned char
passwd_file_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

int
passwd_file_parse_line(struct str line, struct str *user_out,
    struct str *hash_out, struct err *err)
{
	const char *colon;
	struct str rest;
	size_t i;

	if (line.len && line.p[line.len - 1] == '\r')
		line.len--;
	for (i = 0; i < line.len && (line.p[i] == ' ' || line.p[i] == '\t');
	    i++)
		;
	if (i == line.len || line.p[i] == '#')
		return 0;
	if (memchr(line.p, '\0', line.len) != NULL)
		return err_set(err, EINVAL, "NUL byte in line");
	if ((colon = memchr(line.p, ':', line.len)) == NULL)
		return err_set(err, EINVAL, "missing ':' after the user name");
	*user_out = str_make(line.p, (size_t)(colon - line.p));
	if (user_out->len == 0)
		return err_set(err, EINVAL, "empty user name");
	for (i = 0; i < user_out->len; i++) {
		unsigned char c = (unsigned char)user_out->p[i];

		if (c <= ' ' || c == 0x7f)
			return err_set(err, EINVAL, "bad user name '%.*s' "
			    "(blank or control character)",
			    STR_FMT(*user_out));
	}
	rest = str_make(colon + 1, line.len - user_out->len - 1);
	*hash_out = str_cut(&rest, ':');
	return 1;
}

int
passwd_file_load(const char *path, struct passwd_file **out,
    struct err *err)
{
	struct passwd_file *pf;
	struct str user, hash;
	struct buf b;
	struct err e;
	size_t cap = 0, len;
	unsigned lineno = 0;
	char *p, *end, *nl, *u, *h;

	*out = NULL;
	buf_init(&b, 0);
	if (buf_read_file(&b, path, err) == -1) {
		buf_fini(&b);
		return -1;
	}
	pf = xcalloc(1, sizeof(*pf));
	pf->data = buf_steal(&b, &len);
	end = pf->data + len;
	for (p = pf->data; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		lineno++;
		switch (passwd_file_parse_line(str_make(p, (size_t)(nl - p)),
		    &user, &hash, &e)) {
		case -1:
			err_set(err, EINVAL, "%s:%u: %s", path, lineno, e.msg);
			goto fail;
		case 0:
			continue;
		}
		if (pf->n == cap) {
			cap = cap ? cap * 2 : 64;
			pf->entries = xreallocarray(pf->entries, cap,
			    sizeof(*pf->entries));
		}
		/* the slices are into p: terminate them there, at the ':',
		   '\r', '\n' or buffer NUL that ends each */
		u = p + (user.p - p);
		h = p + (hash.p - p);
		u[user.len] = '\0';
		h[hash.len] = '\0';
		for (char *c = u; *c; c++)
			*c = (char)passwd_file_lower((unsigned char)*c);
		pf->entries[pf->n++] = (struct passwd_file_entry){
			u, user.len, h, lineno
		};
	}
	if (pf->n > 1)
		qsort(pf->entries, pf->n, sizeof(*pf->entries),
		    passwd_file_sort_cmp);
	if (passwd_file_check_dups(pf, path, err) == -1)
		goto fail;
	*out = pf;
	return 0;
fail:
	passwd_file_free(pf);
	return -1;
}

bool
passwd_file_has(const struct passwd_file *pf, struct str user)
{
	return passwd_file_find(pf, user) != NULL;
}

const char *
passwd_file_hash(const struct passwd_file *pf, struct str user)
{
	const struct passwd_file_entry *e = passwd_file_find(pf, user);

	return e ? e->hash : NULL;
}

size_t
passwd_file_count(const struct passwd_file *pf)
{
	return pf ? pf->n : 0;
}

void
passwd_file_free(struct passwd_file *pf)
{
	if (pf == NULL)
		return;
	free(pf->entries);
	free(pf->data);
	free(pf);
}

/*
 * passwd_file_check_dups - a user listed twice is an error (Dovecot warns
 * and takes the first; two passwords for one user is a mistake worth
 * stopping for). Reports the repeat that comes first in the file.
 */
static int
passwd_file_check_dups(const struct passwd_file *pf, const char *path,
    struct err *err)
{
	const struct passwd_file_entry *dup = NULL, *first = NULL;
	size_t run = 0;		/* index of the first entry of this user */

	for (size_t i = 1; i < pf->n; i++) {
		if (strcmp(pf->entries[i].user, pf->entries[run].user) != 0) {
			run = i;
			continue;
		}
		if (dup == NULL || pf->entries[i].line < dup->line) {
			dup = &pf->entries[i];
			first = &pf->entries[run];
		}
	}
	if (dup == NULL)
		return 0;
	return err_set(err, EINVAL, "%s:%u: duplicate user '%s' (first on "
	    "line %u)", path, dup->line, dup->user, first->line);
}

/* passwd_file_sort_cmp - by user, then by line */
static int
passwd_file_sort_cmp(const void *a, const void *b)
{
	const struct passwd_file_entry *x = a, *y = b;
	int c = strcmp(x->user, y->user);

	if (c != 0)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

/* passwd_file_key_cmp - a struct str key, any case, against an entry */
static int
passwd_file_key_cmp(const void *key, const void *elem)
{
	const struct str *k = key;
	const struct passwd_file_entry *e = elem;
	size_t n = k->len < e->ulen ? k->len : e->ulen;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = passwd_file_lower((unsigned char)k->p[i]);
		unsigned char d = (unsigned char)e->user[i];

		if (c != d)
			return c < d ? -1 : 1;
	}
	return (k->len > e->ulen) - (k->len < e->ulen);
}

static const struct passwd_file_entry *
passwd_file_find(const struct passwd_file *pf, struct str user)
{
	if (pf == NULL || pf->n == 0)
		return NULL;
	return bsearch(&user, pf->entries, pf->n, sizeof(*pf->entries),
	    passwd_file_key_cmp);
}
