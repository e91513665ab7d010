/* SPDX-License-Identifier: ISC */
/*
 * dkim_verify.c - verifying the DKIM signatures of a message (RFC 6376
 * 6.1), RSA-SHA256 and Ed25519-SHA256 (RFC 8463), never RSA-SHA1 or RSA
 * keys under 1024 bits (RFC 8301).
 *
 * Organisation: dkim_verify_start() does everything that needs the
 * message at once (each signature parsed and checked, the body hashes
 * computed, the header section copied) and then asks for every key
 * record in parallel. Each answer finishes its signature (key checks,
 * header hash, public-key verification); when the last one is in, done
 * gets one verdict per signature, in the order the fields appear.
 *
 * The message text may be freed as soon as dkim_verify_start returns.
 * Signatures past DKIM_VERIFY_MAX are not looked at (RFC 6376 6.1 lets a
 * verifier limit its work); each costs a DNS query and a public-key
 * operation a sender controls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/xalloc.h"
#include "msgauth/dkim.h"

struct dkim_verify;

struct dkim_verify_sig {
	struct dkim_verify	*v;
	size_t			 field;		/* index in v->h */
	struct dkim_sig		 sig;		/* slices into v->hdr */
	struct dkim_verdict	 verdict;
	bool			 decided;	/* verdict final */
	bool			 inflight;
	uint64_t		 qid;
	bool			 bh_ok;		/* body hash matched */
	bool			 body_short;	/* l= past the body's end */
};

struct dkim_verify {
	struct dns_resolver	 res;
	dkim_verify_done_fn	*done;
	void			*arg;
	time_t			 now;
	char			*hdr;		/* copy of the header section */
	struct msgauth_hdr	 h;		/* over hdr */
	struct dkim_verify_sig	 sigs[DKIM_VERIFY_MAX];
	size_t			 n;
	size_t			 pending;	/* key answers due (+1 guard) */
};

/* what the body hash is computed on: one per canonicalization and l= */
struct dkim_verify_body {
	EVP_MD_CTX	*ctx;
	uint64_t	 left;		/* octets still hashed (l=) */
	uint64_t	 total;		/* canonical body length */
};

static void	dkim_verify_finish(struct dkim_verify *);

static void
dkim_verify_decide(struct dkim_verify_sig *s, enum dkim_result r,
    const char *reason)
{
	s->verdict.result = r;
	snprintf(s->verdict.reason, sizeof(s->verdict.reason), "%s",
	    reason ? reason : "");
	s->decided = true;
}

static void
dkim_verify_body_sink(void *arg, const void *p, size_t n)
{
	struct dkim_verify_body *b = arg;
	size_t take = n;

	b->total += n;
	if (take > b->left)
		take = (size_t)b->left;
	if (take) {
		EVP_DigestUpdate(b->ctx, p, take);
		b->left -= take;
	}
}

/* dkim_verify_bodyhash - compare the signature's bh= with the body */
static void
dkim_verify_bodyhash(struct dkim_verify_sig *s, struct str body)
{
	const EVP_MD *md = s->sig.alg == DKIM_ALG_RSA_SHA1 ? EVP_sha1() :
	    EVP_sha256();
	struct dkim_verify_body b;
	unsigned char hash[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;

	memset(&b, 0, sizeof(b));
	b.left = s->sig.has_l ? s->sig.l : UINT64_MAX;
	if ((b.ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(b.ctx, md, NULL) != 1) {
		EVP_MD_CTX_free(b.ctx);
		return;
	}
	dkim_canon_body(s->sig.bcanon, body, dkim_verify_body_sink, &b);
	EVP_DigestFinal_ex(b.ctx, hash, &hlen);
	EVP_MD_CTX_free(b.ctx);
	s->body_short = s->sig.has_l && b.total < s->sig.l;
	s->bh_ok = hlen == s->sig.bh_len && memcmp(hash, s->sig.bh, hlen) == 0;
}

/* dkim_verify_names - d=, s=, i=, a=, b= into the verdict, as text */
static void
dkim_verify_names(struct dkim_verify_sig *s)
{
	struct dkim_verdict *vd = &s->verdict;
	size_t o = 0;

	snprintf(vd->d, sizeof(vd->d), "%.*s", STR_FMT(s->sig.d));
	snprintf(vd->s, sizeof(vd->s), "%.*s", STR_FMT(s->sig.s));
	if (s->sig.i.len)
		snprintf(vd->i, sizeof(vd->i), "%.*s", STR_FMT(s->sig.i));
	else
		snprintf(vd->i, sizeof(vd->i), "@%.*s", STR_FMT(s->sig.d));
	snprintf(vd->a, sizeof(vd->a), "%s", dkim_alg_name(s->sig.alg));
	for (size_t k = 0; k < s->sig.b_raw.len && o < 8; k++) {
		char c = s->sig.b_raw.p[k];

		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			vd->b[o++] = c;
	}
	vd->b[o] = '\0';
}

/*
 * dkim_verify_names_loose - d= and s= of a signature that did not parse,
 * read leniently (';'-separated "name=value"), so the permerror can
 * still say whose signature it was. Only printable octets are kept.
 */
static void
dkim_verify_names_loose(struct dkim_verify_sig *s, struct str value)
{
	while (value.len) {
		struct str spec = str_cut(&value, ';'), name, v;
		char *out;
		size_t max, o = 0;

		v = spec;
		name = str_trim(str_cut(&v, '='));
		while (name.len && (name.p[0] == '\r' || name.p[0] == '\n' ||
		    name.p[0] == ' ' || name.p[0] == '\t'))
			name.p++, name.len--;
		if (str_eq(name, STR("d"))) {
			out = s->verdict.d;
			max = sizeof(s->verdict.d);
		} else if (str_eq(name, STR("s"))) {
			out = s->verdict.s;
			max = sizeof(s->verdict.s);
		} else {
			continue;
		}
		for (size_t i = 0; i < v.len && o + 1 < max; i++)
			if (v.p[i] > 0x20 && v.p[i] < 0x7f)
				out[o++] = v.p[i];
		out[o] = '\0';
	}
}

/* dkim_verify_check - 6.1.1 checks that need no key */
static bool
dkim_verify_check(struct dkim_verify_sig *s, time_t now)
{
	if (s->sig.alg == DKIM_ALG_RSA_SHA1) {
		dkim_verify_decide(s, DKIM_PERMERROR, "rsa-sha1 is not "
		    "accepted (RFC 8301)");
		return false;
	}
	if (s->sig.has_x && s->sig.x < (uint64_t)now) {
		dkim_verify_decide(s, DKIM_FAIL, "signature expired (x=)");
		return false;
	}
	if (s->sig.has_t && s->sig.t > (uint64_t)now + DKIM_TIME_SKEW) {
		dkim_verify_decide(s, DKIM_FAIL, "signature time (t=) in the "
		    "future");
		return false;
	}
	return true;
}

static void
dkim_verify_key_cb(void *arg, const struct dns_answer *ans);

struct dkim_verify *
dkim_verify_start(struct dns_resolver res, const char *msg, size_t len,
    time_t now, dkim_verify_done_fn *done, void *arg)
{
	struct dkim_verify *v = xcalloc(1, sizeof(*v));
	struct msgauth_hdr orig;
	struct err err;

	v->res = res;
	v->done = done;
	v->arg = arg;
	v->now = now ? now : time(NULL);
	msgauth_hdr_parse(msg, len, &orig);
	/* work on a copy of the header section; hash the body now */
	v->hdr = xmalloc(orig.body_off + 1);
	memcpy(v->hdr, msg, orig.body_off);
	v->hdr[orig.body_off] = '\0';
	msgauth_hdr_parse(v->hdr, orig.body_off, &v->h);

	for (size_t i = 0; i < v->h.n && v->n < DKIM_VERIFY_MAX; i++) {
		struct dkim_verify_sig *s;

		if (!str_eq_nocase(v->h.f[i].name, STR("DKIM-Signature")))
			continue;
		s = &v->sigs[v->n++];
		s->v = v;
		s->field = i;
		if (dkim_sig_parse(v->h.f[i].value, &s->sig, &err) == -1) {
			dkim_verify_names_loose(s, v->h.f[i].value);
			dkim_verify_decide(s, DKIM_PERMERROR, err.msg);
			continue;
		}
		dkim_verify_names(s);
		if (!dkim_verify_check(s, v->now))
			continue;
		dkim_verify_bodyhash(s, orig.body);
	}
	msgauth_hdr_fini(&orig);

	/* every key at once; a synchronous answer must not finish early */
	v->pending = 1;
	for (size_t i = 0; i < v->n; i++) {
		struct dkim_verify_sig *s = &v->sigs[i];
		char name[512];
		uint64_t id;

		if (s->decided)
			continue;
		snprintf(name, sizeof(name), "%.*s._domainkey.%.*s",
		    STR_FMT(s->sig.s), STR_FMT(s->sig.d));
		v->pending++;
		s->inflight = true;
		id = res.query(res.ctx, name, DNS_T_TXT, dkim_verify_key_cb, s);
		if (!s->inflight)
			continue;
		if (id == 0) {
			s->inflight = false;
			dkim_verify_decide(s, DKIM_TEMPERROR, "key lookup "
			    "failed to start");
			v->pending--;
		} else {
			s->qid = id;
		}
	}
	if (--v->pending == 0) {
		dkim_verify_finish(v);
		return NULL;
	}
	return v;
}

void
dkim_verify_cancel(struct dkim_verify *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->n; i++)
		if (v->sigs[i].inflight && v->sigs[i].qid)
			v->res.cancel(v->res.ctx, v->sigs[i].qid);
	msgauth_hdr_fini(&v->h);
	free(v->hdr);
	free(v);
}

static void
dkim_verify_finish(struct dkim_verify *v)
{
	struct dkim_verdict out[DKIM_VERIFY_MAX];

	for (size_t i = 0; i < v->n; i++)
		out[i] = v->sigs[i].verdict;
	v->done(v->arg, out, v->n);
	msgauth_hdr_fini(&v->h);
	free(v->hdr);
	free(v);
}

/* dkim_verify_pubkey - the key record's p= as an EVP_PKEY, or NULL */
static EVP_PKEY *
dkim_verify_pubkey(const struct dkim_key *k)
{
	const unsigned char *p = k->p;

	if (k->type == DKIM_KEY_ED25519) {
		if (k->p_len != 32)
			return NULL;
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
		    k->p, 32);
	}
	EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)k->p_len);

	if (pkey == NULL) {
		/* some publish the bare RSAPublicKey (PKCS#1) */
		p = k->p;
		pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)k->p_len);
	}
	if (pkey != NULL && EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

/*
 * dkim_verify_data - the signed data: the h= fields, then this
 * DKIM-Signature field with the b= value removed, without its CRLF.
 * RFC 6376 3.7 removes the value "including all surrounding whitespace";
 * dkimpy and others remove the value alone. Both readings agree unless
 * FWS touches the value; *differs_out tells whether the strict reading
 * (wsp true) gives other data, so the caller can try both.
 */
static int
dkim_verify_data(struct dkim_verify_sig *s, bool wsp, struct buf *data,
    bool *differs_out)
{
	const struct msgauth_field *f = &s->v->h.f[s->field];
	const char *start = s->sig.b_raw.p;
	const char *end = s->sig.b_raw.p + s->sig.b_raw.len;
	const char *fend = f->raw.p + f->raw.len;
	struct buf self;
	int r;

	if (wsp) {
		while (start > f->raw.p && start[-1] != '=')
			start--;
		while (end < fend && *end != ';')
			end++;
	}
	if (differs_out != NULL) {
		const char *a = start, *b = end;

		while (a > f->raw.p && a[-1] != '=')
			a--;
		while (b < fend && *b != ';')
			b++;
		*differs_out = a != start || b != end;
	}
	if (dkim_canon_headers(&s->v->h, s->sig.hdrs, s->sig.nhdrs,
	    s->sig.hcanon, data) == -1)
		return -1;
	buf_init(&self, 0);
	buf_append(&self, f->raw.p, (size_t)(start - f->raw.p));
	buf_append(&self, end, (size_t)(fend - end));
	r = dkim_canon_header(s->sig.hcanon, buf_str(&self), data);
	buf_fini(&self);
	return r;
}

/* dkim_verify_check_sig - does b= verify over data with pkey? */
static bool
dkim_verify_check_sig(struct dkim_verify_sig *s, const struct dkim_key *k,
    EVP_PKEY *pkey, const struct buf *data)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char hash[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;
	bool ok = false;

	if (ctx == NULL)
		return false;
	if (k->type == DKIM_KEY_ED25519) {
		ok = EVP_Digest(data->data, data->len, hash, &hlen,
		    EVP_sha256(), NULL) == 1 &&
		    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
		    EVP_DigestVerify(ctx, s->sig.b, s->sig.b_len, hash,
		    hlen) == 1;
	} else {
		ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL,
		    pkey) == 1 &&
		    EVP_DigestVerify(ctx, s->sig.b, s->sig.b_len,
		    (const unsigned char *)data->data, data->len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* dkim_verify_crypto - the public-key check of b= over the data */
static void
dkim_verify_crypto(struct dkim_verify_sig *s, const struct dkim_key *k)
{
	EVP_PKEY *pkey = dkim_verify_pubkey(k);
	struct buf data;
	bool ok = false, differs = false;

	if (pkey == NULL) {
		dkim_verify_decide(s, DKIM_PERMERROR, "key record p= is not "
		    "a usable public key");
		return;
	}
	if (k->type == DKIM_KEY_RSA) {
		int bits = EVP_PKEY_get_bits(pkey);

		if (bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS) {
			char why[96];

			snprintf(why, sizeof(why), "%d-bit RSA key (RFC 8301 "
			    "needs %d to %d)", bits, DKIM_RSA_MIN_BITS,
			    DKIM_RSA_MAX_BITS);
			dkim_verify_decide(s, DKIM_FAIL, why);
			EVP_PKEY_free(pkey);
			return;
		}
	}
	buf_init(&data, 0);
	if (dkim_verify_data(s, false, &data, &differs) == 0)
		ok = dkim_verify_check_sig(s, k, pkey, &data);
	if (!ok && differs) {
		buf_reset(&data);
		if (dkim_verify_data(s, true, &data, NULL) == 0)
			ok = dkim_verify_check_sig(s, k, pkey, &data);
	}
	EVP_PKEY_free(pkey);
	buf_fini(&data);
	if (ok)
		dkim_verify_decide(s, DKIM_PASS, NULL);
	else
		dkim_verify_decide(s, DKIM_FAIL, "signature did not verify");
}

/* dkim_verify_with_key - 6.1.2 key checks, then 6.1.3 */
static void
dkim_verify_with_key(struct dkim_verify_sig *s, const struct dkim_key *k)
{
	struct str auid = s->sig.i;
	const char *at;

	s->verdict.testing = k->testing;
	if (k->p_len == 0) {
		dkim_verify_decide(s, DKIM_PERMERROR, "key revoked (empty p=)");
		return;
	}
	if ((k->type == DKIM_KEY_ED25519) !=
	    (s->sig.alg == DKIM_ALG_ED25519_SHA256)) {
		dkim_verify_decide(s, DKIM_PERMERROR, "key type (k=) does not "
		    "match a=");
		return;
	}
	if (!k->sha256_ok) {
		dkim_verify_decide(s, DKIM_PERMERROR, "key h= does not allow "
		    "sha256");
		return;
	}
	if (!k->email_ok) {
		dkim_verify_decide(s, DKIM_PERMERROR, "key service type (s=) "
		    "is not email");
		return;
	}
	if (k->strict && auid.len &&
	    (at = memrchr(auid.p, '@', auid.len)) != NULL &&
	    !str_eq_nocase(str_make(at + 1, auid.len -
	    (size_t)(at + 1 - auid.p)), s->sig.d)) {
		dkim_verify_decide(s, DKIM_PERMERROR, "key t=s forbids an i= "
		    "subdomain");
		return;
	}
	if (s->body_short) {
		dkim_verify_decide(s, DKIM_FAIL, "l= is longer than the body");
		return;
	}
	if (!s->bh_ok) {
		dkim_verify_decide(s, DKIM_FAIL, "body hash did not verify");
		return;
	}
	dkim_verify_crypto(s, k);
}

static void
dkim_verify_key_cb(void *arg, const struct dns_answer *ans)
{
	struct dkim_verify_sig *s = arg;
	struct dkim_verify *v = s->v;
	struct dkim_key key;
	struct err err;
	bool found = false;

	s->inflight = false;
	s->qid = 0;
	err.msg[0] = '\0';
	switch (ans->status) {
	case DNS_OK:
		for (size_t i = 0; i < ans->n && !found; i++) {
			if (ans->rr[i].type != DNS_T_TXT)
				continue;
			if (dkim_key_parse(str_make(ans->rr[i].txt,
			    ans->rr[i].txt_len), &key, &err) == 0)
				found = true;
		}
		if (found) {
			dkim_verify_with_key(s, &key);
		} else {
			char why[sizeof(s->verdict.reason)];

			snprintf(why, sizeof(why), "bad key record: %s",
			    err.msg[0] ? err.msg : "no TXT");
			dkim_verify_decide(s, DKIM_PERMERROR, why);
		}
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		dkim_verify_decide(s, DKIM_PERMERROR, "no key for signature");
		break;
	default:
		dkim_verify_decide(s, DKIM_TEMPERROR, "key lookup failed");
		break;
	}
	if (--v->pending == 0)
		dkim_verify_finish(v);
}
