/* SPDX-License-Identifier: ISC */
/*
 * dkim_tags.c - RFC 6376 tag-lists and what is built on them: the
 * DKIM-Signature value (3.5) and the key record (3.6.1); base64 with
 * folding whitespace. Pure: no I/O, no globals; slices point into the
 * caller's bytes. Fuzzed through tests/fuzz/fuzz_dkim_tags.c.
 *
 * Strictness follows the RFC where a sloppy reading would let a forged
 * signature through (duplicate tags, i= outside d=, From not signed,
 * unknown algorithms) and where other verifiers agree (an empty spec
 * other than a trailing ';' is an error, as in dkimpy and OpenDKIM).
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "core/base64.h"
#include "msgauth/dkim.h"

static const char *const dkim_result_names[] = {
	[DKIM_NONE] = "none",
	[DKIM_PASS] = "pass",
	[DKIM_FAIL] = "fail",
	[DKIM_POLICY] = "policy",
	[DKIM_NEUTRAL] = "neutral",
	[DKIM_TEMPERROR] = "temperror",
	[DKIM_PERMERROR] = "permerror",
};

static const char *const dkim_alg_names[] = {
	[DKIM_ALG_RSA_SHA256] = "rsa-sha256",
	[DKIM_ALG_ED25519_SHA256] = "ed25519-sha256",
	[DKIM_ALG_RSA_SHA1] = "rsa-sha1",
};

const char *
dkim_result_name(enum dkim_result r)
{
	if ((size_t)r >= sizeof(dkim_result_names) /
	    sizeof(dkim_result_names[0]))
		return "permerror";
	return dkim_result_names[r];
}

const char *
dkim_alg_name(enum dkim_alg a)
{
	if ((size_t)a >= sizeof(dkim_alg_names) / sizeof(dkim_alg_names[0]))
		return "unknown";
	return dkim_alg_names[a];
}

int
dkim_alg_parse(struct str s, enum dkim_alg *out)
{
	for (size_t i = 0; i < sizeof(dkim_alg_names) /
	    sizeof(dkim_alg_names[0]); i++) {
		if (str_eq_nocase(s, str_cstr(dkim_alg_names[i]))) {
			*out = (enum dkim_alg)i;
			return 0;
		}
	}
	return -1;
}

/* dkim_tags_fws - past WSP and CRLFs that FWS allows (WSP after them) */
static size_t
dkim_tags_fws(struct str s, size_t i)
{
	for (;;) {
		if (i < s.len && (s.p[i] == ' ' || s.p[i] == '\t')) {
			i++;
		} else if (i + 2 < s.len && s.p[i] == '\r' && s.p[i + 1] == '\n'
		    && (s.p[i + 2] == ' ' || s.p[i + 2] == '\t')) {
			i += 3;
		} else {
			break;
		}
	}
	return i;
}

int
dkim_tags_parse(struct str in, struct dkim_tags *out, struct err *err)
{
	size_t i = 0;

	out->n = 0;
	for (;;) {
		struct dkim_tag *t;
		size_t ns, vs, ve;

		i = dkim_tags_fws(in, i);
		if (i >= in.len) {
			if (out->n == 0)
				return err_set(err, EINVAL, "empty tag list");
			return 0;	/* after a trailing ';' */
		}
		ns = i;
		if (!isalpha((unsigned char)in.p[i]))
			return err_set(err, EINVAL, "bad tag name at offset "
			    "%zu", i);
		while (i < in.len && (isalnum((unsigned char)in.p[i]) ||
		    in.p[i] == '_'))
			i++;
		if (out->n == DKIM_TAGS_MAX)
			return err_set(err, E2BIG, "more than %d tags",
			    DKIM_TAGS_MAX);
		t = &out->tag[out->n];
		t->name = str_make(in.p + ns, i - ns);
		i = dkim_tags_fws(in, i);
		if (i >= in.len || in.p[i] != '=')
			return err_set(err, EINVAL, "missing '=' after tag "
			    "'%.*s'", STR_FMT(t->name));
		i = dkim_tags_fws(in, i + 1);
		vs = ve = i;
		/* tag-value: VALCHARs, FWS only between them */
		while (i < in.len && in.p[i] != ';') {
			unsigned char c = (unsigned char)in.p[i];

			if (c >= 0x21 && c <= 0x7e) {
				ve = ++i;
				continue;
			}
			if (dkim_tags_fws(in, i) == i)
				return err_set(err, EINVAL, "bad octet 0x%02x "
				    "in tag '%.*s'", c, STR_FMT(t->name));
			i = dkim_tags_fws(in, i);
		}
		t->value = str_make(in.p + vs, ve - vs);
		for (size_t k = 0; k < out->n; k++)
			if (str_eq(out->tag[k].name, t->name))
				return err_set(err, EINVAL, "duplicate tag "
				    "'%.*s'", STR_FMT(t->name));
		out->n++;
		if (i >= in.len)
			return 0;
		i++;			/* ';' */
	}
}

bool
dkim_tags_get(const struct dkim_tags *t, const char *name, struct str *out)
{
	for (size_t i = 0; i < t->n; i++) {
		if (str_eq(t->tag[i].name, str_cstr(name))) {
			*out = t->tag[i].value;
			return true;
		}
	}
	return false;
}

/* ---------------------------------------------------------------------
 * base64
 */

int
dkim_b64_decode(struct str in, uint8_t *out, size_t max, size_t *len_out)
{
	return base64_decode(in, BASE64_SKIP_BLANKS, out, max, len_out);
}

int
dkim_b64_encode(const void *p, size_t n, struct buf *out)
{
	return base64_encode(p, n, out);
}

/* ---------------------------------------------------------------------
 * DKIM-Signature
 */

/* dkim_tags_num - 1 to 20 decimal digits into a uint64_t */
static int
dkim_tags_num(struct str s, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len == 0 || s.len > 20)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		if (!isdigit((unsigned char)s.p[i]))
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s.p[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	*out = v;
	return 0;
}

/* dkim_tags_list_next - next ':'-separated item, FWS around it removed */
static bool
dkim_tags_list_next(struct str *s, struct str *item)
{
	size_t i = 0, e;

	if (s->p == NULL)
		return false;
	while (i < s->len && s->p[i] != ':')
		i++;
	*item = str_make(s->p, i);
	if (i < s->len) {
		s->p += i + 1;
		s->len -= i + 1;
	} else {
		s->p = NULL;
		s->len = 0;
	}
	e = dkim_tags_fws(*item, 0);
	item->p += e;
	item->len -= e;
	while (item->len && (item->p[item->len - 1] == ' ' ||
	    item->p[item->len - 1] == '\t' || item->p[item->len - 1] == '\r' ||
	    item->p[item->len - 1] == '\n'))
		item->len--;
	return true;
}

/* dkim_tags_domain_ok - letters, digits, '-', '_' in dot-separated labels */
static bool
dkim_tags_domain_ok(struct str d)
{
	size_t label = 0;

	if (d.len == 0 || d.len > 253)
		return false;
	for (size_t i = 0; i < d.len; i++) {
		unsigned char c = (unsigned char)d.p[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

int
dkim_sig_parse(struct str value, struct dkim_sig *out, struct err *err)
{
	struct dkim_tags tags;
	struct str v, item, list;
	bool from = false;

	memset(out, 0, sizeof(*out));
	if (dkim_tags_parse(value, &tags, err) == -1)
		return -1;
	if (!dkim_tags_get(&tags, "v", &v))
		return err_set(err, EINVAL, "missing v=");
	if (!str_eq(v, STR("1")))
		return err_set(err, EINVAL, "unsupported version v=%.*s",
		    STR_FMT(v));
	for (const char *req = "abdhs"; *req; req++) {
		char name[2] = { *req, '\0' };

		if (!dkim_tags_get(&tags, name, &v))
			return err_set(err, EINVAL, "missing %s=", name);
	}
	if (!dkim_tags_get(&tags, "bh", &v))
		return err_set(err, EINVAL, "missing bh=");

	dkim_tags_get(&tags, "a", &v);
	if (dkim_alg_parse(v, &out->alg) == -1)
		return err_set(err, EINVAL, "unknown algorithm a=%.*s",
		    STR_FMT(v));
	out->hcanon = out->bcanon = DKIM_CANON_SIMPLE;
	if (dkim_tags_get(&tags, "c", &v) &&
	    dkim_canon_parse(v, &out->hcanon, &out->bcanon) == -1)
		return err_set(err, EINVAL, "unknown canonicalization c=%.*s",
		    STR_FMT(v));
	if (dkim_tags_get(&tags, "q", &list)) {
		bool dns = false;

		while (dkim_tags_list_next(&list, &item))
			if (str_eq_nocase(item, STR("dns/txt")))
				dns = true;
		if (!dns)
			return err_set(err, EINVAL, "q= without dns/txt");
	}

	dkim_tags_get(&tags, "d", &out->d);
	if (!dkim_tags_domain_ok(out->d))
		return err_set(err, EINVAL, "bad domain d=%.*s",
		    STR_FMT(out->d));
	dkim_tags_get(&tags, "s", &out->s);
	if (!dkim_tags_domain_ok(out->s))
		return err_set(err, EINVAL, "bad selector s=%.*s",
		    STR_FMT(out->s));
	if (dkim_tags_get(&tags, "i", &out->i)) {
		const char *at = memrchr(out->i.p, '@', out->i.len);
		struct str dom;

		if (at == NULL)
			return err_set(err, EINVAL, "i= without '@'");
		dom = str_make(at + 1, out->i.len - (size_t)(at + 1 - out->i.p));
		/* 3.5: the AUID's domain is d= or a subdomain of it */
		if (!str_eq_nocase(dom, out->d) && !(dom.len > out->d.len &&
		    dom.p[dom.len - out->d.len - 1] == '.' &&
		    str_eq_nocase(str_make(dom.p + dom.len - out->d.len,
		    out->d.len), out->d)))
			return err_set(err, EINVAL, "i= domain not within d=");
	}

	dkim_tags_get(&tags, "h", &list);
	while (dkim_tags_list_next(&list, &item)) {
		if (item.len == 0)
			return err_set(err, EINVAL, "empty name in h=");
		for (size_t k = 0; k < item.len; k++)
			if (item.p[k] <= 0x20 || item.p[k] >= 0x7f ||
			    item.p[k] == ':')
				return err_set(err, EINVAL, "bad name in h=");
		if (out->nhdrs == DKIM_SIG_HDRS_MAX)
			return err_set(err, E2BIG, "more than %d names in h=",
			    DKIM_SIG_HDRS_MAX);
		out->hdrs[out->nhdrs++] = item;
		if (str_eq_nocase(item, STR("from")))
			from = true;
	}
	if (!from)
		return err_set(err, EINVAL, "From is not signed (h=)");

	dkim_tags_get(&tags, "b", &out->b_raw);
	if (dkim_b64_decode(out->b_raw, out->b, sizeof(out->b), &out->b_len)
	    == -1 || out->b_len == 0)
		return err_set(err, EINVAL, "bad b=");
	dkim_tags_get(&tags, "bh", &v);
	if (dkim_b64_decode(v, out->bh, sizeof(out->bh), &out->bh_len) == -1
	    || out->bh_len == 0)
		return err_set(err, EINVAL, "bad bh=");

	if (dkim_tags_get(&tags, "l", &v)) {
		if (dkim_tags_num(v, &out->l) == -1)
			return err_set(err, EINVAL, "bad l=");
		out->has_l = true;
	}
	if (dkim_tags_get(&tags, "t", &v)) {
		if (dkim_tags_num(v, &out->t) == -1)
			return err_set(err, EINVAL, "bad t=");
		out->has_t = true;
	}
	if (dkim_tags_get(&tags, "x", &v)) {
		if (dkim_tags_num(v, &out->x) == -1)
			return err_set(err, EINVAL, "bad x=");
		out->has_x = true;
		if (out->has_t && out->x < out->t)
			return err_set(err, EINVAL, "x= before t=");
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * Key records
 */

int
dkim_key_parse(struct str txt, struct dkim_key *out, struct err *err)
{
	struct dkim_tags tags;
	struct str v, list, item;

	memset(out, 0, sizeof(*out));
	if (dkim_tags_parse(txt, &tags, err) == -1)
		return -1;
	if (dkim_tags_get(&tags, "v", &v)) {
		if (!str_eq(tags.tag[0].name, STR("v")))
			return err_set(err, EINVAL, "v= is not the first tag");
		if (!str_eq(v, STR("DKIM1")))
			return err_set(err, EINVAL, "unsupported version "
			    "v=%.*s", STR_FMT(v));
	}
	out->type = DKIM_KEY_RSA;
	if (dkim_tags_get(&tags, "k", &v)) {
		if (str_eq_nocase(v, STR("rsa")))
			out->type = DKIM_KEY_RSA;
		else if (str_eq_nocase(v, STR("ed25519")))
			out->type = DKIM_KEY_ED25519;
		else
			return err_set(err, EINVAL, "unknown key type k=%.*s",
			    STR_FMT(v));
	}
	out->sha1_ok = out->sha256_ok = true;
	if (dkim_tags_get(&tags, "h", &list)) {
		out->sha1_ok = out->sha256_ok = false;
		while (dkim_tags_list_next(&list, &item)) {
			if (str_eq_nocase(item, STR("sha1")))
				out->sha1_ok = true;
			else if (str_eq_nocase(item, STR("sha256")))
				out->sha256_ok = true;
		}
	}
	out->email_ok = true;
	if (dkim_tags_get(&tags, "s", &list)) {
		out->email_ok = false;
		while (dkim_tags_list_next(&list, &item))
			if (str_eq(item, STR("*")) ||
			    str_eq_nocase(item, STR("email")))
				out->email_ok = true;
	}
	if (dkim_tags_get(&tags, "t", &list)) {
		while (dkim_tags_list_next(&list, &item)) {
			if (str_eq_nocase(item, STR("y")))
				out->testing = true;
			else if (str_eq_nocase(item, STR("s")))
				out->strict = true;
		}
	}
	if (!dkim_tags_get(&tags, "p", &v))
		return err_set(err, EINVAL, "missing p=");
	if (dkim_b64_decode(v, out->p, sizeof(out->p), &out->p_len) == -1)
		return err_set(err, EINVAL, "bad p=");
	return 0;
}
