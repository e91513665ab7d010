/* SPDX-License-Identifier: ISC */
/*
 * alias.c - load the aliases file and look addresses up in it; see
 * alias.h for the format.
 *
 * alias_parse_line turns one line into an entry (pure but for the
 * allocation of the entry's strings); alias_load reads the file, keeps
 * the entries in an array sorted by key and refuses a key given twice;
 * alias_lookup bsearches it twice (exact, then "@domain") comparing the
 * pieces of the address case-insensitively without building the key.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xalloc.h"
#include "conf/alias.h"

struct alias_slot {
	struct alias_entry	 e;
	size_t			 klen;	/* strlen(e.key) */
	unsigned		 line;	/* for the duplicate message */
};

struct alias_table {
	struct alias_slot	*slots;	/* sorted by key */
	size_t			 n;
};

/* a lookup key in pieces: local "@" domain */
struct alias_key {
	struct str	local;
	struct str	domain;
};

static bool	alias_domain_ok(struct str);
static bool	alias_split(struct str, struct str *, struct str *);
static char	*alias_lower_domain(struct str, size_t);
static int	alias_check_dups(const struct alias_table *, const char *,
		    struct err *);
static int	alias_sort_cmp(const void *, const void *);
static int	alias_key_cmp(const void *, const void *);
static const struct alias_entry *alias_find(const struct alias_table *,
		    struct str, struct str);

static inline char
alias_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int
alias_parse_line(struct str line, struct alias_entry *entry_out,
    struct err *err)
{
	struct str key, rest, tok = STR(""), local, domain;
	const char *colon;
	size_t i;

	memset(entry_out, 0, sizeof(*entry_out));
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
		return err_set(err, EINVAL, "missing ':' after the alias");
	key = str_trim(str_make(line.p, (size_t)(colon - line.p)));
	rest = str_make(colon + 1, line.len - (size_t)(colon - line.p) - 1);
	if (key.len == 0)
		return err_set(err, EINVAL, "empty alias");
	if (!alias_split(key, &local, &domain))
		return err_set(err, EINVAL, "alias '%.*s' needs a domain: "
		    "%.*s@domain, or @domain for all of a domain",
		    STR_FMT(key), STR_FMT(key));
	for (i = 0; i < local.len; i++)
		if ((unsigned char)local.p[i] <= ' ' || local.p[i] == 0x7f ||
		    local.p[i] == ',')
			return err_set(err, EINVAL, "bad alias '%.*s'",
			    STR_FMT(key));
	if (!alias_domain_ok(domain))
		return err_set(err, EINVAL, "bad domain in alias '%.*s'",
		    STR_FMT(key));

	entry_out->key = xstrndup(key.p, key.len);
	for (char *c = entry_out->key; *c; c++)
		*c = alias_lower(*c);
	for (;;) {
		while (rest.len && (rest.p[0] == ' ' || rest.p[0] == '\t' ||
		    rest.p[0] == ','))
			rest.p++, rest.len--;
		if (rest.len == 0)
			break;
		for (i = 0; i < rest.len && rest.p[i] != ' ' &&
		    rest.p[i] != '\t' && rest.p[i] != ','; i++)
			;
		tok = str_make(rest.p, i);
		rest.p += i, rest.len -= i;
		if (!alias_split(tok, &local, &domain) || local.len == 0 ||
		    !alias_domain_ok(domain))
			goto bad_target;
		for (i = 0; i < local.len; i++)
			if ((unsigned char)local.p[i] < ' ' ||
			    local.p[i] == 0x7f)
				goto bad_target;
		entry_out->targets = xreallocarray(entry_out->targets,
		    entry_out->ntargets + 1, sizeof(*entry_out->targets));
		entry_out->targets[entry_out->ntargets++] =
		    alias_lower_domain(tok, local.len);
	}
	if (entry_out->ntargets == 0) {
		err_set(err, EINVAL, "alias '%.*s' has no target",
		    STR_FMT(key));
		goto fail;
	}
	return 1;
bad_target:
	err_set(err, EINVAL, "bad target '%.*s' in alias '%.*s' "
	    "(local@domain)", STR_FMT(tok), STR_FMT(key));
fail:
	alias_entry_fini(entry_out);
	return -1;
}

void
alias_entry_fini(struct alias_entry *entry)
{
	for (size_t i = 0; i < entry->ntargets; i++)
		free(entry->targets[i]);
	free(entry->targets);
	free(entry->key);
	memset(entry, 0, sizeof(*entry));
}

int
alias_load(const char *path, struct alias_table **out, struct err *err)
{
	struct alias_table *t;
	struct alias_entry e;
	struct err le;
	struct buf b;
	const char *p, *end, *nl;
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = -1;

	*out = NULL;
	buf_init(&b, 0);
	if (buf_read_file(&b, path, err) == -1) {
		buf_fini(&b);
		return -1;
	}
	t = xcalloc(1, sizeof(*t));
	end = b.data + b.len;
	for (p = b.data; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		lineno++;
		switch (alias_parse_line(str_make(p, (size_t)(nl - p)), &e,
		    &le)) {
		case -1:
			err_set(err, EINVAL, "%s:%u: %s", path, lineno, le.msg);
			goto out;
		case 0:
			continue;
		}
		if (t->n == cap) {
			cap = cap ? cap * 2 : 64;
			t->slots = xreallocarray(t->slots, cap,
			    sizeof(*t->slots));
		}
		t->slots[t->n++] = (struct alias_slot){
			e, strlen(e.key), lineno
		};
	}
	if (t->n > 1)
		qsort(t->slots, t->n, sizeof(*t->slots), alias_sort_cmp);
	if (alias_check_dups(t, path, err) == -1)
		goto out;
	*out = t;
	t = NULL;
	rc = 0;
out:
	alias_free(t);
	buf_fini(&b);
	return rc;
}

const struct alias_entry *
alias_lookup(const struct alias_table *t, struct str local,
    struct str domain)
{
	const struct alias_entry *e;

	if (t == NULL || t->n == 0)
		return NULL;
	if ((e = alias_find(t, local, domain)) != NULL)
		return e;
	return alias_find(t, STR(""), domain);
}

size_t
alias_count(const struct alias_table *t)
{
	return t ? t->n : 0;
}

void
alias_free(struct alias_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		alias_entry_fini(&t->slots[i].e);
	free(t->slots);
	free(t);
}

/* alias_split - "local@domain" at the last '@'; false without one */
static bool
alias_split(struct str addr, struct str *local, struct str *domain)
{
	size_t at = addr.len;

	while (at > 0 && addr.p[at - 1] != '@')
		at--;
	if (at == 0)
		return false;
	*local = str_make(addr.p, at - 1);
	*domain = str_make(addr.p + at, addr.len - at);
	return true;
}

/* alias_domain_ok - a DNS name (or its UTF-8 form): no blanks, no '@' */
static bool
alias_domain_ok(struct str d)
{
	if (d.len == 0 || d.p[0] == '.' || d.p[d.len - 1] == '.')
		return false;
	for (size_t i = 0; i < d.len; i++) {
		unsigned char c = (unsigned char)d.p[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '-' && c != '.' &&
		    c != '_' && c < 0x80)
			return false;
	}
	return true;
}

/* alias_lower_domain - copy of addr with the part after local lower-cased */
static char *
alias_lower_domain(struct str addr, size_t local_len)
{
	char *s = xstrndup(addr.p, addr.len);

	for (size_t i = local_len; i < addr.len; i++)
		s[i] = alias_lower(s[i]);
	return s;
}

/* alias_check_dups - a key given twice: report the repeat seen first */
static int
alias_check_dups(const struct alias_table *t, const char *path,
    struct err *err)
{
	const struct alias_slot *dup = NULL, *first = NULL;
	size_t run = 0;

	for (size_t i = 1; i < t->n; i++) {
		if (strcmp(t->slots[i].e.key, t->slots[run].e.key) != 0) {
			run = i;
			continue;
		}
		if (dup == NULL || t->slots[i].line < dup->line) {
			dup = &t->slots[i];
			first = &t->slots[run];
		}
	}
	if (dup == NULL)
		return 0;
	return err_set(err, EINVAL, "%s:%u: duplicate alias '%s' (first on "
	    "line %u)", path, dup->line, dup->e.key, first->line);
}

/* alias_sort_cmp - by key, then by line */
static int
alias_sort_cmp(const void *a, const void *b)
{
	const struct alias_slot *x = a, *y = b;
	int c = strcmp(x->e.key, y->e.key);

	if (c != 0)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

/* alias_key_cmp - local "@" domain, any case, against a slot's key */
static int
alias_key_cmp(const void *key, const void *elem)
{
	const struct alias_key *k = key;
	const struct alias_slot *s = elem;
	size_t klen = k->local.len + 1 + k->domain.len;
	size_t n = klen < s->klen ? klen : s->klen;

	for (size_t i = 0; i < n; i++) {
		char c = i < k->local.len ? k->local.p[i] :
		    i == k->local.len ? '@' :
		    k->domain.p[i - k->local.len - 1];
		unsigned char a = (unsigned char)alias_lower(c);
		unsigned char b = (unsigned char)s->e.key[i];

		if (a != b)
			return a < b ? -1 : 1;
	}
	return (klen > s->klen) - (klen < s->klen);
}

static const struct alias_entry *
alias_find(const struct alias_table *t, struct str local, struct str domain)
{
	struct alias_key k = { local, domain };
	const struct alias_slot *s;

	s = bsearch(&k, t->slots, t->n, sizeof(*t->slots), alias_key_cmp);
	return s ? &s->e : NULL;
}
