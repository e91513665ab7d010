/* SPDX-License-Identifier: ISC */
/*
 * dkim_sign.c - DKIM signing (RFC 6376 5, RFC 8463 for Ed25519) with
 * OpenSSL 3, private keys from files, and the daemon's per-domain signer
 * built from the [dkim DOMAIN] sections.
 *
 * The signature field is built as it will appear, folded, with an empty
 * b= last; that text is what gets canonicalized and signed, and b= is
 * then filled in. Because b= is the last tag and its value is the only
 * thing a verifier removes, simple header canonicalization works too.
 *
 * Security: the private keys are read once, at start, before privileges
 * are dropped, and live in this process's memory (see style.md 8 on an
 * OpenSMTPD-style key process if that ever needs stronger isolation).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "conf/conf.h"
#include "core/xalloc.h"
#include "msgauth/dkim.h"

#define DKIM_SIGN_WIDTH	76	/* fold signature lines before this */

const char *const dkim_sign_headers[] = {
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", NULL,
};

struct dkim_signer_domain {
	char			*domain;
	struct dkim_sign_conf	 conf;
	char			*selectors[2];
};

struct dkim_signer {
	struct dkim_signer_domain	*d;
	size_t				 n;
};

struct dkim_sign_body {
	EVP_MD_CTX	*ctx;
	uint64_t	 len;
};

static void
dkim_sign_body_sink(void *arg, const void *p, size_t n)
{
	struct dkim_sign_body *b = arg;

	EVP_DigestUpdate(b->ctx, p, n);
	b->len += n;
}

/* a signature field being written, folded before DKIM_SIGN_WIDTH */
struct dkim_sign_line {
	struct buf	*out;
	size_t		 col;		/* current column */
};

/* dkim_sign_word - append w, after a space or a fold if space asks */
static void
dkim_sign_word(struct dkim_sign_line *l, const char *w, size_t n, bool space)
{
	if (l->col + n + (space ? 1 : 0) > DKIM_SIGN_WIDTH && l->col > 1) {
		buf_append(l->out, "\r\n\t", 3);
		l->col = 1;
	} else if (space) {
		buf_append(l->out, " ", 1);
		l->col++;
	}
	buf_append(l->out, w, n);
	l->col += n;
}

/*
 * dkim_sign_prefix - "DKIM-Signature: v=1; ... b=" for one key, folded,
 * into out. h= lists the names of conf->headers present in the message
 * (once per field) and From once more than there are From fields.
 */
static void
dkim_sign_prefix(const struct dkim_sign_conf *conf,
    const struct dkim_sign_key *key, const struct msgauth_hdr *h,
    const char *bh, uint64_t body_len, time_t now, struct buf *out,
    struct str *names, size_t *nnames)
{
	const char *const *hdrs = conf->headers ? conf->headers :
	    dkim_sign_headers;
	struct dkim_sign_line l = { out, 0 };
	char tag[512];
	bool first = true;
	int n;

	*nnames = 0;
	buf_puts(out, "DKIM-Signature:");
	l.col = 15;
	n = snprintf(tag, sizeof(tag), "v=1; a=%s; c=%s/%s;",
	    dkim_alg_name(key->alg),
	    conf->hcanon == DKIM_CANON_RELAXED ? "relaxed" : "simple",
	    conf->bcanon == DKIM_CANON_RELAXED ? "relaxed" : "simple");
	dkim_sign_word(&l, tag, (size_t)n, true);
	n = snprintf(tag, sizeof(tag), "d=%s;", conf->domain);
	dkim_sign_word(&l, tag, (size_t)n, true);
	n = snprintf(tag, sizeof(tag), "s=%s;", key->selector);
	dkim_sign_word(&l, tag, (size_t)n, true);
	n = snprintf(tag, sizeof(tag), "t=%lld;", (long long)now);
	dkim_sign_word(&l, tag, (size_t)n, true);
	if (conf->expire) {
		n = snprintf(tag, sizeof(tag), "x=%lld;", (long long)now +
		    conf->expire);
		dkim_sign_word(&l, tag, (size_t)n, true);
	}
	if (conf->body_length) {
		n = snprintf(tag, sizeof(tag), "l=%llu;",
		    (unsigned long long)body_len);
		dkim_sign_word(&l, tag, (size_t)n, true);
	}

	for (size_t i = 0; hdrs[i] != NULL; i++) {
		size_t count = msgauth_hdr_count(h, hdrs[i]);

		if (strcasecmp(hdrs[i], "From") == 0)
			count++;	/* over-signed: no From can be added */
		for (size_t k = 0; k < count && *nnames < DKIM_SIG_HDRS_MAX;
		    k++) {
			char name[128];
			size_t len = strlen(hdrs[i]);

			if (len >= sizeof(name))
				continue;
			for (size_t c = 0; c < len; c++)
				name[c] = (char)tolower((unsigned char)hdrs[i][c]);
			n = snprintf(tag, sizeof(tag), "%s%.*s", first ? "h=" :
			    ":", (int)len, name);
			dkim_sign_word(&l, tag, (size_t)n, first);
			names[(*nnames)++] = str_cstr(hdrs[i]);
			first = false;
		}
	}
	if (first) {
		/* a custom list without From: sign it anyway (RFC 6376 5.4) */
		dkim_sign_word(&l, "h=from", 6, true);
		names[(*nnames)++] = STR("From");
	}
	dkim_sign_word(&l, ";", 1, false);
	n = snprintf(tag, sizeof(tag), "bh=%s;", bh);
	dkim_sign_word(&l, tag, (size_t)n, true);
	/* room for some of the value after "b=": verifiers differ on FWS
	   between the two, so there must never be any */
	if (l.col + 1 + 2 + 16 > DKIM_SIGN_WIDTH) {
		buf_append(out, "\r\n\t", 3);
		l.col = 1;
	} else {
		buf_append(out, " ", 1);
		l.col++;
	}
	buf_append(out, "b=", 2);
	l.col += 2;
}

/* dkim_sign_one - sign data with key into sig (raw octets) */
static int
dkim_sign_one(const struct dkim_sign_key *key, const struct buf *data,
    uint8_t *sig, size_t *siglen, struct err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char hash[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;
	int ok;

	if (ctx == NULL)
		return err_set(err, ENOMEM, "EVP_MD_CTX_new failed");
	if (key->alg == DKIM_ALG_ED25519_SHA256) {
		/* RFC 8463: PureEdDSA over the SHA-256 of the data */
		ok = EVP_Digest(data->data, data->len, hash, &hlen,
		    EVP_sha256(), NULL) == 1 &&
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
		    EVP_DigestSign(ctx, sig, siglen, hash, hlen) == 1;
	} else {
		ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
		    key->pkey) == 1 &&
		    EVP_DigestSign(ctx, sig, siglen, (const unsigned char *)
		    data->data, data->len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return err_set(err, EINVAL, "signing with selector %s failed",
		    key->selector);
	return 0;
}

static bool
dkim_sign_key_matches(const struct dkim_sign_key *key)
{
	int id = EVP_PKEY_get_base_id(key->pkey);

	if (key->alg == DKIM_ALG_ED25519_SHA256)
		return id == EVP_PKEY_ED25519;
	if (key->alg == DKIM_ALG_RSA_SHA256)
		return id == EVP_PKEY_RSA;
	return false;		/* rsa-sha1 is never used to sign */
}

int
dkim_sign_message(const struct dkim_sign_conf *conf, const char *msg,
    size_t len, struct buf *header_out, struct err *err)
{
	struct msgauth_hdr h;
	struct str names[DKIM_SIG_HDRS_MAX];
	unsigned char bh[EVP_MAX_MD_SIZE];
	unsigned int bhlen = 0;
	struct buf bh64, field, data;
	struct dkim_sign_body body = { NULL, 0 };
	time_t now = conf->now ? conf->now : time(NULL);
	int rc = -1;

	if (conf->nkeys == 0 || conf->nkeys > 2)
		return err_set(err, EINVAL, "no signing key");
	for (size_t k = 0; k < conf->nkeys; k++)
		if (conf->keys[k].pkey == NULL ||
		    !dkim_sign_key_matches(&conf->keys[k]))
			return err_set(err, EINVAL, "key of selector %s does "
			    "not match algorithm %s", conf->keys[k].selector,
			    dkim_alg_name(conf->keys[k].alg));
	msgauth_hdr_parse(msg, len, &h);
	if ((body.ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(body.ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(body.ctx);
		msgauth_hdr_fini(&h);
		return err_set(err, ENOMEM, "SHA-256 unavailable");
	}
	dkim_canon_body(conf->bcanon, h.body, dkim_sign_body_sink, &body);
	EVP_DigestFinal_ex(body.ctx, bh, &bhlen);
	EVP_MD_CTX_free(body.ctx);

	buf_init(&bh64, 0);
	buf_init(&field, 0);
	buf_init(&data, 0);
	dkim_b64_encode(bh, bhlen, &bh64);
	for (size_t k = 0; k < conf->nkeys; k++) {
		const struct dkim_sign_key *key = &conf->keys[k];
		uint8_t sig[DKIM_B_MAX];
		size_t siglen = sizeof(sig), nnames, col;
		struct buf b64;

		buf_reset(&field);
		buf_reset(&data);
		dkim_sign_prefix(conf, key, &h, buf_cstr(&bh64), body.len, now,
		    &field, names, &nnames);
		dkim_canon_headers(&h, names, nnames, conf->hcanon, &data);
		dkim_canon_header(conf->hcanon, buf_str(&field), &data);
		if (dkim_sign_one(key, &data, sig, &siglen, err) == -1)
			goto out;
		/* b= folded into lines the width of the others */
		buf_init(&b64, 0);
		dkim_b64_encode(sig, siglen, &b64);
		col = 0;
		for (size_t i = field.len; i > 0 && field.data[i - 1] != '\n';
		    i--)
			col++;
		for (size_t i = 0; i < b64.len;) {
			size_t room = col < DKIM_SIGN_WIDTH ?
			    DKIM_SIGN_WIDTH - col : 0;
			size_t take = b64.len - i < room ? b64.len - i : room;

			if (take == 0) {
				buf_append(&field, "\r\n\t", 3);
				col = 1;
				continue;
			}
			buf_append(&field, b64.data + i, take);
			col += take;
			i += take;
		}
		buf_fini(&b64);
		buf_append(&field, "\r\n", 2);
		if (buf_append_str(header_out, buf_str(&field)) == -1) {
			err_set(err, E2BIG, "signature too large");
			goto out;
		}
	}
	rc = 0;
out:
	buf_fini(&bh64);
	buf_fini(&field);
	buf_fini(&data);
	msgauth_hdr_fini(&h);
	return rc;
}

/* ---------------------------------------------------------------------
 * Keys
 */

int
dkim_sign_key_load(const char *path, EVP_PKEY **pkey_out,
    enum dkim_alg *alg_out, struct err *err)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pkey = NULL;
	char text[8192];
	size_t n;
	uint8_t seed[64];
	size_t seedlen;

	*pkey_out = NULL;
	if (f == NULL)
		return err_set(err, errno, "%s: %s", path, strerror(errno));
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	if (pkey == NULL) {
		/* dkimpy's Ed25519 files: the base64 of the 32-octet seed */
		rewind(f);
		n = fread(text, 1, sizeof(text) - 1, f);
		text[n] = '\0';
		if (dkim_b64_decode(str_make(text, n), seed, sizeof(seed),
		    &seedlen) == 0 && seedlen == 32)
			pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519,
			    NULL, seed, 32);
		OPENSSL_cleanse(seed, sizeof(seed));
		OPENSSL_cleanse(text, sizeof(text));
	}
	fclose(f);
	if (pkey == NULL)
		return err_set(err, EINVAL, "%s: not a PEM private key", path);
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(pkey) < DKIM_RSA_MIN_BITS) {
			EVP_PKEY_free(pkey);
			return err_set(err, EINVAL, "%s: RSA key under %d "
			    "bits", path, DKIM_RSA_MIN_BITS);
		}
		*alg_out = DKIM_ALG_RSA_SHA256;
		break;
	case EVP_PKEY_ED25519:
		*alg_out = DKIM_ALG_ED25519_SHA256;
		break;
	default:
		EVP_PKEY_free(pkey);
		return err_set(err, EINVAL, "%s: neither an RSA nor an "
		    "Ed25519 key", path);
	}
	*pkey_out = pkey;
	return 0;
}

void
dkim_sign_key_free(EVP_PKEY *pkey)
{
	EVP_PKEY_free(pkey);
}

int
dkim_sign_txt_record(EVP_PKEY *pkey, struct buf *out, struct err *err)
{
	unsigned char raw[64], *der = NULL;
	size_t rawlen = sizeof(raw);
	int derlen;

	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_ED25519:
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1)
			return err_set(err, EINVAL, "no Ed25519 public key");
		buf_puts(out, "v=DKIM1; k=ed25519; p=");
		return dkim_b64_encode(raw, rawlen, out);
	case EVP_PKEY_RSA:
		if ((derlen = i2d_PUBKEY(pkey, &der)) <= 0)
			return err_set(err, EINVAL, "no RSA public key");
		buf_puts(out, "v=DKIM1; k=rsa; p=");
		dkim_b64_encode(der, (size_t)derlen, out);
		OPENSSL_free(der);
		return 0;
	default:
		return err_set(err, EINVAL, "unsupported key type");
	}
}

/* ---------------------------------------------------------------------
 * The daemon's signer
 */

struct dkim_signer *
dkim_signer_new(const struct conf *conf, struct err *err)
{
	struct dkim_signer *s = xcalloc(1, sizeof(*s));

	if (conf->ndkim)
		s->d = xcalloc(conf->ndkim, sizeof(*s->d));
	for (size_t i = 0; i < conf->ndkim; i++) {
		const struct conf_dkim *c = &conf->dkim[i];
		struct dkim_signer_domain *d = &s->d[s->n++];
		const char *sel[2] = { c->selector, c->selector2 };
		const char *key[2] = { c->key, c->key2 };
		const int alg[2] = { c->algorithm, c->algorithm2 };

		d->domain = xstrdup(c->domain);
		d->conf.domain = d->domain;
		d->conf.hcanon = d->conf.bcanon = DKIM_CANON_RELAXED;
		for (int k = 0; k < 2; k++) {
			struct dkim_sign_key *sk = &d->conf.keys[d->conf.nkeys];
			enum dkim_alg got;

			if (sel[k] == NULL && key[k] == NULL)
				continue;
			if (sel[k] == NULL || key[k] == NULL) {
				err_set(err, EINVAL, "[dkim %s]: selector2 and "
				    "key2 go together", c->domain);
				goto fail;
			}
			d->selectors[k] = xstrdup(sel[k]);
			sk->selector = d->selectors[k];
			sk->alg = alg[k] == CONF_DKIM_ED25519_SHA256 ?
			    DKIM_ALG_ED25519_SHA256 : DKIM_ALG_RSA_SHA256;
			if (dkim_sign_key_load(key[k], &sk->pkey, &got, err)
			    == -1)
				goto fail;
			d->conf.nkeys++;
			if (got != sk->alg) {
				err_set(err, EINVAL, "[dkim %s]: %s is an %s "
				    "key, not %s", c->domain, key[k],
				    got == DKIM_ALG_RSA_SHA256 ? "RSA" :
				    "Ed25519", dkim_alg_name(sk->alg));
				goto fail;
			}
		}
	}
	return s;
fail:
	dkim_signer_free(s);
	return NULL;
}

void
dkim_signer_free(struct dkim_signer *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		for (size_t k = 0; k < s->d[i].conf.nkeys; k++)
			EVP_PKEY_free(s->d[i].conf.keys[k].pkey);
		free(s->d[i].selectors[0]);
		free(s->d[i].selectors[1]);
		free(s->d[i].domain);
	}
	free(s->d);
	free(s);
}

size_t
dkim_signer_domains(const struct dkim_signer *s)
{
	return s ? s->n : 0;
}

/*
 * dkim_signer_find - the section for domain, else for its nearest parent
 * (a [dkim example.com] section signs mail From: sub.example.com too:
 * DMARC's relaxed alignment accepts it).
 */
static const struct dkim_signer_domain *
dkim_signer_find(const struct dkim_signer *s, struct str domain)
{
	while (domain.len) {
		const char *dot;

		for (size_t i = 0; i < s->n; i++)
			if (str_eq_nocase(domain, str_cstr(s->d[i].domain)))
				return &s->d[i];
		if ((dot = memchr(domain.p, '.', domain.len)) == NULL)
			break;
		domain.len -= (size_t)(dot + 1 - domain.p);
		domain.p = dot + 1;
	}
	return NULL;
}

int
dkim_signer_sign(const struct dkim_signer *s, const char *msg, size_t len,
    time_t now, struct buf *header_out, struct err *err)
{
	const struct dkim_signer_domain *d = NULL;
	struct dkim_sign_conf conf;
	struct msgauth_hdr h;
	struct str doms[8];
	int n = 0;

	if (s == NULL || s->n == 0)
		return 0;
	msgauth_hdr_parse(msg, len, &h);
	for (size_t i = 0; i < h.n; i++) {
		if (!str_eq_nocase(h.f[i].name, STR("From")))
			continue;
		if (n != 0) {
			n = -1;		/* two From fields: no signature */
			break;
		}
		n = msgauth_hdr_domains(h.f[i].value, doms, 8);
	}
	if (n > 0 && n <= 8) {
		struct str dom = doms[0];

		if (dom.len && dom.p[dom.len - 1] == '.')
			dom.len--;
		for (int i = 1; i < n; i++)
			if (!str_eq_nocase(doms[i], doms[0]))
				n = -1;
		if (n > 0)
			d = dkim_signer_find(s, dom);
	}
	msgauth_hdr_fini(&h);
	if (d == NULL || d->conf.nkeys == 0)
		return 0;
	conf = d->conf;
	conf.now = now;
	if (dkim_sign_message(&conf, msg, len, header_out, err) == -1)
		return -1;
	return 1;
}
