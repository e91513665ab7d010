/* SPDX-License-Identifier: ISC */
/*
 * apikey_set.c - the loaded API keys file and bearer-token checks; see
 * apikey.h. Lines are parsed by apikey_parse_line (apikey.c).
 *
 * A table is one load of the file, immutable, with a reference count: a
 * check takes a reference under the set's mutex, lets go of the mutex
 * for the slow hash, and the table it looked at stays valid even if a
 * re-read swapped in a new one meanwhile. The set's mutex guards the
 * current table, the file's identity (device, inode, size, mtime) and
 * the cache of verified tokens: a direct-mapped array of SHA-256 digests
 * of tokens, filled only after a successful crypt on the current table
 * and emptied when the table changes. Digests are compared in constant
 * time (CRYPTO_memcmp), as passwd_hash_verify compares hashes.
 *
 * Memory is bounded whatever the file holds: APIKEY_FILE_MAX octets are
 * read at most, a line longer than APIKEY_LINE_MAX is refused, keys
 * past APIKEY_KEYS_MAX are skipped, and the cache has a fixed size.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/apikey.h"
#include "auth/passwd_hash.h"
#include "core/log.h"
#include "core/xalloc.h"

#define APIKEY_CACHE_SLOTS	1024	/* verified tokens remembered */
#define APIKEY_INTERVAL_MS	1000	/* between looks at the file */

struct apikey_key {
	char		 name[APIKEY_NAME_MAX + 1];
	char		 keyid[APIKEY_KEYID_LEN + 1];
	char		*hash;		/* NUL-terminated */
	char		*domains;	/* lower-case comma list; NULL = any */
	int64_t		 created;
	bool		 revoked;
	bool		 drop;		/* a duplicate: not kept */
	unsigned	 line;
};

struct apikey_table {
	atomic_int		 refs;
	struct apikey_key	*keys;		/* sorted by keyid */
	size_t			 n;
	struct apikey_key	**by_name;	/* active keys, sorted by name */
	size_t			 nactive;
};

/* what a table was loaded from; present false: no file */
struct apikey_stamp {
	bool		present;
	dev_t		dev;
	ino_t		ino;
	off_t		size;
	struct timespec	mtime;
};

struct apikey_slot {
	unsigned char	digest[32];	/* SHA-256 of the token */
	uint32_t	key;		/* index into the table's keys */
	bool		used;
};

struct apikey_set {
	char			*path;
	pthread_mutex_t		 mu;
	struct apikey_table	*table;		/* current; one reference */
	struct apikey_stamp	 stamp;		/* of the last load attempt */
	uint64_t		 gen;		/* bumped with each new table */
	uint64_t		 next_check;	/* monotonic ms */
	unsigned		 interval;	/* ms */
	EVP_MD			*sha256;	/* fetched once: an implicit
						   fetch per digest costs */
	struct apikey_slot	 cache[APIKEY_CACHE_SLOTS];
};

static int	apikey_read(const char *, struct buf *, struct apikey_stamp *,
		    struct err *);
static struct apikey_table *apikey_table_load(const char *, const char *,
		    size_t);
static struct apikey_table *apikey_table_empty(void);
static void	apikey_table_add(struct apikey_table *, size_t *,
		    const struct apikey_line *, unsigned);
static void	apikey_table_index(struct apikey_table *, const char *);
static void	apikey_table_unref(struct apikey_table *);
static const struct apikey_key *apikey_table_find(
		    const struct apikey_table *, struct str);
static const struct apikey_key *apikey_table_find_name(
		    const struct apikey_table *, const char *);
static int	apikey_table_keyid_cmp(const void *, const void *);
static int	apikey_table_keyid_key(const void *, const void *);
static int	apikey_table_name_cmp(const void *, const void *);
static int	apikey_table_name_key(const void *, const void *);
static void	apikey_set_refresh(struct apikey_set *);
static void	apikey_set_swap(struct apikey_set *, struct apikey_table *);
static bool	apikey_set_lookup(struct apikey_set *, const char *,
		    enum apikey_verdict *, char *, struct apikey_table **,
		    const struct apikey_key **, uint64_t *,
		    unsigned char[32]);
static uint64_t	apikey_now_ms(void);
static bool	apikey_stamp_eq(const struct apikey_stamp *,
		    const struct apikey_stamp *);


/* apikey_read - the file into b (at most APIKEY_FILE_MAX octets) and
   the identity of what was read; ENOENT in err->code when missing */
static int
apikey_read(const char *path, struct buf *b, struct apikey_stamp *st_out,
    struct err *err)
{
	char chunk[65536];
	struct stat st;
	ssize_t r;
	int fd, rc = -1;

	memset(st_out, 0, sizeof(*st_out));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return err_set(err, errno, "%s: cannot open: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) == -1) {
		err_set(err, errno, "%s: cannot stat: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(err, EINVAL, "%s: not a regular file", path);
		goto out;
	}
	for (;;) {
		if ((r = read(fd, chunk, sizeof(chunk))) == -1) {
			if (errno == EINTR)
				continue;
			err_set(err, errno, "%s: cannot read: %s", path,
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (buf_append(b, chunk, (size_t)r) == -1) {
			err_set(err, EFBIG, "%s: file too large (over %u "
			    "octets)", path, APIKEY_FILE_MAX);
			goto out;
		}
	}
	st_out->present = true;
	st_out->dev = st.st_dev;
	st_out->ino = st.st_ino;
	st_out->size = st.st_size;
	st_out->mtime = st.st_mtim;
	rc = 0;
out:
	close(fd);
	return rc;
}

/*
 * apikey_table_load - the lines of text (len octets) into a new table;
 * path names the file in the warnings
 */
static struct apikey_table *
apikey_table_load(const char *path, const char *text, size_t len)
{
	struct apikey_table *t = apikey_table_empty();
	struct apikey_line l;
	struct err e;
	const char *p, *nl, *end = text + len;
	char qpath[512], qmsg[512];
	size_t cap = 0, kept = 0;
	unsigned lineno = 0;

	log_quote(qpath, sizeof(qpath), path, strlen(path));
	for (p = text; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		lineno++;
		switch (apikey_parse_line(str_make(p, (size_t)(nl - p)), &l,
		    &e)) {
		case 0:
			continue;
		case -1:
			log_warnx("event=apikey.line path=%s line=%u error=%s"
			    " action=skipped", qpath, lineno, log_quote(qmsg,
			    sizeof(qmsg), e.msg, strlen(e.msg)));
			continue;
		}
		if (t->n == APIKEY_KEYS_MAX) {
			log_warnx("event=apikey.line path=%s line=%u error="
			    "\"more than %d keys\" action=\"rest skipped\"",
			    qpath, lineno, APIKEY_KEYS_MAX);
			break;
		}
		apikey_table_add(t, &cap, &l, lineno);
	}
	apikey_table_index(t, qpath);
	/* keep what survived, in keyid order */
	for (size_t i = 0; i < t->n; i++) {
		if (t->keys[i].drop) {
			free(t->keys[i].hash);
			free(t->keys[i].domains);
			continue;
		}
		t->keys[kept++] = t->keys[i];
	}
	t->n = kept;
	free(t->by_name);
	t->by_name = xreallocarray(NULL, t->n ? t->n : 1,
	    sizeof(*t->by_name));
	t->nactive = 0;
	for (size_t i = 0; i < t->n; i++)
		if (!t->keys[i].revoked)
			t->by_name[t->nactive++] = &t->keys[i];
	if (t->nactive > 1)
		qsort(t->by_name, t->nactive, sizeof(*t->by_name),
		    apikey_table_name_cmp);
	return t;
}

static struct apikey_table *
apikey_table_empty(void)
{
	struct apikey_table *t = xcalloc(1, sizeof(*t));

	atomic_init(&t->refs, 1);
	return t;
}

/* apikey_table_add - append a parsed line (domains lower-cased) */
static void
apikey_table_add(struct apikey_table *t, size_t *cap,
    const struct apikey_line *l, unsigned lineno)
{
	struct apikey_key *k;

	if (t->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		t->keys = xreallocarray(t->keys, *cap, sizeof(*t->keys));
	}
	k = &t->keys[t->n++];
	memset(k, 0, sizeof(*k));
	memcpy(k->name, l->name.p, l->name.len);
	memcpy(k->keyid, l->keyid.p, l->keyid.len);
	k->hash = xstrndup(l->hash.p, l->hash.len);
	if (!l->any_domain) {
		k->domains = xstrndup(l->domains.p, l->domains.len);
		for (char *c = k->domains; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
	}
	k->created = l->created;
	k->revoked = l->revoked;
	k->line = lineno;
}

/*
 * apikey_table_index - sort by keyid and mark the duplicates to drop: a
 * KEYID seen twice, and a second active key of one name (the first in
 * the file stays; `relais apikey new` makes neither)
 */
static void
apikey_table_index(struct apikey_table *t, const char *qpath)
{
	size_t na = 0;

	if (t->n == 0)
		return;
	qsort(t->keys, t->n, sizeof(*t->keys), apikey_table_keyid_cmp);
	for (size_t i = 1; i < t->n; i++) {
		if (strcmp(t->keys[i].keyid, t->keys[i - 1].keyid) != 0)
			continue;
		/* the run's first (lowest line) stays */
		t->keys[i].drop = true;
		log_warnx("event=apikey.line path=%s line=%u error=\"key id %s"
		    " already on another line\" action=skipped", qpath,
		    t->keys[i].line, t->keys[i].keyid);
	}
	t->by_name = xreallocarray(NULL, t->n, sizeof(*t->by_name));
	for (size_t i = 0; i < t->n; i++)
		if (!t->keys[i].drop && !t->keys[i].revoked)
			t->by_name[na++] = &t->keys[i];
	if (na > 1)
		qsort(t->by_name, na, sizeof(*t->by_name),
		    apikey_table_name_cmp);
	for (size_t i = 1; i < na; i++) {
		if (strcmp(t->by_name[i]->name, t->by_name[i - 1]->name) != 0)
			continue;
		/* by_name[i - 1] stays: the first of the run is not dropped */
		t->by_name[i]->drop = true;
		log_warnx("event=apikey.line path=%s line=%u error=\"active key"
		    " name %s already on line %u\" action=skipped", qpath,
		    t->by_name[i]->line, t->by_name[i]->name,
		    t->by_name[i - 1]->line);
		t->by_name[i] = t->by_name[i - 1];
	}
}

static void
apikey_table_unref(struct apikey_table *t)
{
	if (t == NULL || atomic_fetch_sub_explicit(&t->refs, 1,
	    memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->keys[i].hash);
		free(t->keys[i].domains);
	}
	free(t->keys);
	free(t->by_name);
	free(t);
}

static const struct apikey_key *
apikey_table_find(const struct apikey_table *t, struct str keyid)
{
	if (t->n == 0 || keyid.len != APIKEY_KEYID_LEN)
		return NULL;
	return bsearch(&keyid, t->keys, t->n, sizeof(*t->keys),
	    apikey_table_keyid_key);
}

static const struct apikey_key *
apikey_table_find_name(const struct apikey_table *t, const char *name)
{
	const struct apikey_key *const *k;

	if (t->nactive == 0 || name == NULL)
		return NULL;
	k = bsearch(name, t->by_name, t->nactive, sizeof(*t->by_name),
	    apikey_table_name_key);
	return k ? *k : NULL;
}

/* apikey_table_keyid_cmp - keys by keyid, then by line */
static int
apikey_table_keyid_cmp(const void *a, const void *b)
{
	const struct apikey_key *x = a, *y = b;
	int c = strcmp(x->keyid, y->keyid);

	if (c != 0)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

/* apikey_table_keyid_key - a struct str keyid against a key */
static int
apikey_table_keyid_key(const void *key, const void *elem)
{
	const struct str *id = key;
	const struct apikey_key *k = elem;

	return memcmp(id->p, k->keyid, APIKEY_KEYID_LEN);
}

/* apikey_table_name_cmp - key pointers by name, then by line */
static int
apikey_table_name_cmp(const void *a, const void *b)
{
	const struct apikey_key *x = *(const struct apikey_key *const *)a;
	const struct apikey_key *y = *(const struct apikey_key *const *)b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

/* apikey_table_name_key - a C string name against a key pointer */
static int
apikey_table_name_key(const void *key, const void *elem)
{
	return strcmp(key, (*(const struct apikey_key *const *)elem)->name);
}

/* ---------------------------------------------------------------------
 * The set: the current table, re-read when the file changes, and the
 * cache of verified tokens
 */

struct apikey_set *
apikey_set_open(const char *path, struct err *err)
{
	struct apikey_set *s;
	struct apikey_stamp st;
	struct buf b;
	struct err e;
	char qpath[512];

	buf_init(&b, APIKEY_FILE_MAX);
	if (apikey_read(path, &b, &st, &e) == -1 && e.code != ENOENT) {
		buf_fini(&b);
		if (err != NULL)
			*err = e;
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	if ((s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		err_set(err, EINVAL, "%s: no SHA-256 in OpenSSL", path);
		buf_fini(&b);
		free(s);
		return NULL;
	}
	s->path = xstrdup(path);
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		fprintf(stderr, "level=panic event=apikey.mutex\n");
		abort();
	}
	s->stamp = st;
	s->table = st.present ? apikey_table_load(path, buf_cstr(&b), b.len) :
	    apikey_table_empty();
	buf_fini(&b);
	s->interval = APIKEY_INTERVAL_MS;
	s->next_check = apikey_now_ms() + s->interval;
	log_info("event=apikey.load path=%s keys=%zu active=%zu%s",
	    log_quote(qpath, sizeof(qpath), path, strlen(path)), s->table->n,
	    s->table->nactive, st.present ? "" : " file=missing");
	return s;
}

void
apikey_set_free(struct apikey_set *s)
{
	if (s == NULL)
		return;
	apikey_table_unref(s->table);
	EVP_MD_free(s->sha256);
	pthread_mutex_destroy(&s->mu);
	explicit_bzero(s->cache, sizeof(s->cache));
	free(s->path);
	free(s);
}

void
apikey_set_check_interval(struct apikey_set *s, unsigned ms)
{
	pthread_mutex_lock(&s->mu);
	s->interval = ms;
	s->next_check = 0;
	pthread_mutex_unlock(&s->mu);
}

size_t
apikey_set_count(struct apikey_set *s, size_t *active_out)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	apikey_set_refresh(s);
	n = s->table->n;
	if (active_out != NULL)
		*active_out = s->table->nactive;
	pthread_mutex_unlock(&s->mu);
	return n;
}

enum apikey_verdict
apikey_check(struct apikey_set *s, const char *token, char name_out[64])
{
	enum apikey_verdict v;
	struct apikey_table *t;
	const struct apikey_key *k;
	unsigned char digest[32];
	uint64_t gen;
	bool ok;

	if (apikey_set_lookup(s, token, &v, name_out, &t, &k, &gen, digest))
		return v;
	/* a known KEYID, a token not seen yet: the slow hash, unlocked;
	   t stays valid through our reference */
	ok = passwd_hash_verify(k->hash, token);
	v = !ok ? APIKEY_BAD : k->revoked ? APIKEY_REVOKED : APIKEY_OK;
	if (ok) {
		snprintf(name_out, 64, "%s", k->name);
		pthread_mutex_lock(&s->mu);
		if (s->gen == gen) {
			struct apikey_slot *sl = &s->cache[
			    (digest[0] | (unsigned)digest[1] << 8) %
			    APIKEY_CACHE_SLOTS];

			memcpy(sl->digest, digest, sizeof(sl->digest));
			sl->key = (uint32_t)(k - t->keys);
			sl->used = true;
		}
		pthread_mutex_unlock(&s->mu);
	}
	apikey_table_unref(t);
	explicit_bzero(digest, sizeof(digest));
	return v;
}

bool
apikey_check_quick(struct apikey_set *s, const char *token,
    enum apikey_verdict *verdict_out, char name_out[64])
{
	struct apikey_table *t;
	const struct apikey_key *k;
	unsigned char digest[32];
	uint64_t gen;

	if (apikey_set_lookup(s, token, verdict_out, name_out, &t, &k, &gen,
	    digest))
		return true;
	apikey_table_unref(t);
	explicit_bzero(digest, sizeof(digest));
	return false;
}

/*
 * apikey_set_lookup - all of a check that needs no crypt: true with
 * *v_out (name_out filled) when decided; false when the hash must say,
 * with a reference to the table in *t_out, the key in *k_out, the
 * table's generation and the token's digest
 */
static bool
apikey_set_lookup(struct apikey_set *s, const char *token,
    enum apikey_verdict *v_out, char *name_out, struct apikey_table **t_out,
    const struct apikey_key **k_out, uint64_t *gen_out,
    unsigned char digest[32])
{
	const struct apikey_slot *sl;
	const struct apikey_key *k;
	struct str id;

	name_out[0] = '\0';
	if (token == NULL || token[0] == '\0') {
		*v_out = APIKEY_MISSING;
		return true;
	}
	if ((id = apikey_token_keyid(token)).p == NULL) {
		*v_out = APIKEY_BAD;
		return true;
	}
	if (EVP_Digest(token, APIKEY_TOKEN_LEN, digest, NULL, s->sha256,
	    NULL) != 1) {
		/* cannot happen; without a digest the cache cannot be
		   trusted: refuse rather than guess */
		log_warnx("event=apikey.digest error=\"SHA-256 failed\"");
		*v_out = APIKEY_BAD;
		return true;
	}
	pthread_mutex_lock(&s->mu);
	apikey_set_refresh(s);
	sl = &s->cache[(digest[0] | (unsigned)digest[1] << 8) %
	    APIKEY_CACHE_SLOTS];
	if (sl->used && CRYPTO_memcmp(sl->digest, digest, 32) == 0) {
		k = &s->table->keys[sl->key];
		*v_out = k->revoked ? APIKEY_REVOKED : APIKEY_OK;
		snprintf(name_out, 64, "%s", k->name);
		pthread_mutex_unlock(&s->mu);
		return true;
	}
	if ((k = apikey_table_find(s->table, id)) == NULL) {
		pthread_mutex_unlock(&s->mu);
		*v_out = APIKEY_BAD;
		return true;
	}
	*t_out = s->table;
	atomic_fetch_add_explicit(&s->table->refs, 1, memory_order_relaxed);
	*k_out = k;
	*gen_out = s->gen;
	pthread_mutex_unlock(&s->mu);
	return false;
}

bool
apikey_may_send_from(struct apikey_set *s, const char *name,
    const char *domain)
{
	const struct apikey_key *k;
	struct str list, d = str_cstr(domain);
	bool ok = false;

	if (domain == NULL || domain[0] == '\0')
		return false;
	pthread_mutex_lock(&s->mu);
	apikey_set_refresh(s);
	if ((k = apikey_table_find_name(s->table, name)) != NULL) {
		if (k->domains == NULL) {
			ok = true;
		} else {
			list = str_cstr(k->domains);
			while (list.len > 0 && !ok)
				ok = str_eq_nocase(str_cut(&list, ','), d);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

const char *
apikey_verdict_name(enum apikey_verdict v)
{
	switch (v) {
	case APIKEY_OK:
		return "ok";
	case APIKEY_MISSING:
		return "missing";
	case APIKEY_BAD:
		return "bad";
	case APIKEY_REVOKED:
		return "revoked";
	}
	return "?";
}

/*
 * apikey_set_refresh - with s->mu held: at most once an interval, look
 * whether the file changed and read it again if so. A file gone is an
 * empty set; a file that cannot be read keeps the keys we have (the
 * warning comes once: the new identity is remembered either way).
 */
static void
apikey_set_refresh(struct apikey_set *s)
{
	struct apikey_stamp now = { 0 }, got;
	struct stat st;
	struct err err;
	struct buf b;
	char qpath[512], qmsg[512];
	uint64_t ms = apikey_now_ms();

	if (ms < s->next_check)
		return;
	s->next_check = ms + s->interval;
	if (stat(s->path, &st) == 0) {
		now.present = true;
		now.dev = st.st_dev;
		now.ino = st.st_ino;
		now.size = st.st_size;
		now.mtime = st.st_mtim;
	} else if (errno != ENOENT) {
		/* cannot tell: keep what we have, look again later */
		return;
	}
	if (apikey_stamp_eq(&now, &s->stamp))
		return;
	log_quote(qpath, sizeof(qpath), s->path, strlen(s->path));
	if (!now.present) {
		s->stamp = now;
		apikey_set_swap(s, apikey_table_empty());
		log_info("event=apikey.reload path=%s keys=0 active=0"
		    " file=missing", qpath);
		return;
	}
	buf_init(&b, APIKEY_FILE_MAX);
	if (apikey_read(s->path, &b, &got, &err) == -1) {
		s->stamp = now;
		if (err.code == ENOENT) {
			s->stamp.present = false;
			apikey_set_swap(s, apikey_table_empty());
			log_info("event=apikey.reload path=%s keys=0 active=0"
			    " file=missing", qpath);
		} else {
			log_warnx("event=apikey.reload.failed path=%s error=%s"
			    " action=\"previous keys kept\"", qpath,
			    log_quote(qmsg, sizeof(qmsg), err.msg,
			    strlen(err.msg)));
		}
		buf_fini(&b);
		return;
	}
	s->stamp = got;
	apikey_set_swap(s, apikey_table_load(s->path, buf_cstr(&b), b.len));
	buf_fini(&b);
	log_info("event=apikey.reload path=%s keys=%zu active=%zu", qpath,
	    s->table->n, s->table->nactive);
}

/* apikey_set_swap - with s->mu held: t becomes current, the cache goes */
static void
apikey_set_swap(struct apikey_set *s, struct apikey_table *t)
{
	apikey_table_unref(s->table);
	s->table = t;
	s->gen++;
	explicit_bzero(s->cache, sizeof(s->cache));
}

static uint64_t
apikey_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool
apikey_stamp_eq(const struct apikey_stamp *a, const struct apikey_stamp *b)
{
	if (a->present != b->present)
		return false;
	if (!a->present)
		return true;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec;
}
