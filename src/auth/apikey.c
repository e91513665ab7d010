/* SPDX-License-Identifier: ISC */
/*
 * apikey.c - the API keys file's lines and the tokens: parse and format
 * one line, tell a token's KEYID, make a new token; see apikey.h for the
 * format. Pure but for apikey_token_new (getrandom) and apikey_conf_path
 * (allocates). The loaded file and the checks are in apikey_set.c.
 * Fuzzed by tests/fuzz/fuzz_apikey_line.c.
 */
#include <sys/random.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth/apikey.h"
#include "auth/passwd_hash.h"
#include "conf/conf.h"
#include "core/base64.h"
#include "core/xalloc.h"

#define APIKEY_SECRET_LEN	43	/* base64url of 32 bytes, unpadded */

_Static_assert(APIKEY_TOKEN_LEN == 59, "token length");

static int	apikey_parse_attr(struct str, struct apikey_line *, unsigned *,
		    struct err *);
static int	apikey_parse_domains(struct str, struct err *);
static int	apikey_parse_time(struct str, int64_t *);
static bool	apikey_keyid_valid(struct str);
static bool	apikey_hash_valid(struct str);

int
apikey_parse_line(struct str line, struct apikey_line *out, struct err *err)
{
	struct str f[3] = { STR_NULL, STR_NULL, STR_NULL };
	const char *p, *c, *end;
	unsigned seen = 0;
	size_t i, n;

	memset(out, 0, sizeof(*out));
	if (line.len && line.p[line.len - 1] == '\r')
		line.len--;
	for (i = 0; i < line.len && (line.p[i] == ' ' || line.p[i] == '\t');
	    i++)
		;
	if (i == line.len || line.p[i] == '#')
		return 0;
	if (line.len > APIKEY_LINE_MAX)
		return err_set(err, EINVAL, "line longer than %d octets",
		    APIKEY_LINE_MAX);
	if (memchr(line.p, '\0', line.len) != NULL)
		return err_set(err, EINVAL, "NUL byte in line");
	/* the three fixed fields; p is then past the ':' after the hash */
	end = line.p + line.len;
	for (p = line.p, n = 0, c = NULL; n < 3; n++) {
		c = memchr(p, ':', (size_t)(end - p));
		f[n] = str_make(p, (size_t)((c ? c : end) - p));
		if (c == NULL)
			break;
		p = c + 1;
	}
	out->name = f[0];
	if (!apikey_name_valid(out->name))
		return err_set(err, EINVAL, "bad key name '%.*s' (want "
		    "[A-Za-z0-9._-], 1 to %d characters)",
		    (int)(out->name.len > 64 ? 64 : out->name.len),
		    out->name.p, APIKEY_NAME_MAX);
	if (n < 1)
		return err_set(err, EINVAL, "missing ':' after the key name");
	out->keyid = f[1];
	if (!apikey_keyid_valid(out->keyid))
		return err_set(err, EINVAL, "bad key id (want %d lower-case "
		    "hex digits)", APIKEY_KEYID_LEN);
	if (n < 2)
		return err_set(err, EINVAL, "missing ':' after the key id");
	out->hash = f[2];
	if (!apikey_hash_valid(out->hash))
		return err_set(err, EINVAL, "bad or unsupported hash");
	/* then one NAME=VALUE a field */
	while (c != NULL) {
		c = memchr(p, ':', (size_t)(end - p));
		if (apikey_parse_attr(str_make(p, (size_t)((c ? c : end) - p)),
		    out, &seen, err) == -1)
			return -1;
		if (c != NULL)
			p = c + 1;
	}
	if (out->domains.p == NULL)
		return err_set(err, EINVAL, "no domains= attribute");
	return 1;
}

/*
 * apikey_parse_attr - one NAME=VALUE after the hash; seen has a bit per
 * attribute already given
 */
static int
apikey_parse_attr(struct str attr, struct apikey_line *out, unsigned *seen,
    struct err *err)
{
	static const char *const names[] = { "domains", "created", "revoked" };
	struct str name, value = attr;
	size_t i;

	name = str_cut(&value, '=');
	if (name.len == attr.len)
		return err_set(err, EINVAL, "expected NAME=VALUE after the "
		    "hash, got '%.*s'", (int)(attr.len > 64 ? 64 : attr.len),
		    attr.p);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (str_eq(name, str_cstr(names[i])))
			break;
	if (i == sizeof(names) / sizeof(names[0]))
		return err_set(err, EINVAL, "unknown attribute '%.*s'",
		    (int)(name.len > 64 ? 64 : name.len), name.p);
	if (*seen & (1u << i))
		return err_set(err, EINVAL, "attribute '%s' given twice",
		    names[i]);
	*seen |= 1u << i;
	switch (i) {
	case 0:
		out->domains = value;
		out->any_domain = str_eq(value, STR("*"));
		if (!out->any_domain && apikey_parse_domains(value, err) == -1)
			return -1;
		break;
	case 1:
		if (apikey_parse_time(value, &out->created) == -1)
			return err_set(err, EINVAL, "bad created= time (want "
			    "seconds since 1970)");
		break;
	default:
		if (apikey_parse_time(value, &out->revoked_at) == -1)
			return err_set(err, EINVAL, "bad revoked= time (want "
			    "seconds since 1970)");
		out->revoked = true;
		break;
	}
	return 0;
}

/* apikey_parse_domains - a comma list of at most APIKEY_DOMAINS_MAX */
static int
apikey_parse_domains(struct str list, struct err *err)
{
	const char *p, *c, *end = list.p + list.len;
	size_t n;

	for (p = list.p, n = 1;; p = c + 1, n++) {
		struct str d;

		c = memchr(p, ',', (size_t)(end - p));
		d = str_make(p, (size_t)((c ? c : end) - p));
		if (!apikey_domain_valid(d))
			return err_set(err, EINVAL, "bad domain '%.*s'",
			    (int)(d.len > 64 ? 64 : d.len), d.p);
		if (n > APIKEY_DOMAINS_MAX)
			return err_set(err, EINVAL, "more than %d domains",
			    APIKEY_DOMAINS_MAX);
		if (c == NULL)
			return 0;
	}
}

/* apikey_parse_time - 1 to 18 decimal digits */
static int
apikey_parse_time(struct str s, int64_t *out)
{
	int64_t v = 0;

	if (s.len == 0 || s.len > 18)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (s.p[i] - '0');
	}
	*out = v;
	return 0;
}

bool
apikey_name_valid(struct str name)
{
	if (name.len == 0 || name.len > APIKEY_NAME_MAX)
		return false;
	for (size_t i = 0; i < name.len; i++) {
		char c = name.p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			return false;
	}
	return true;
}

bool
apikey_domain_valid(struct str d)
{
	size_t label = 0;

	if (d.len == 0 || d.len > 253)
		return false;
	for (size_t i = 0; i < d.len; i++) {
		char c = d.p[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

static bool
apikey_keyid_valid(struct str id)
{
	if (id.len != APIKEY_KEYID_LEN)
		return false;
	for (size_t i = 0; i < id.len; i++)
		if (!((id.p[i] >= '0' && id.p[i] <= '9') ||
		    (id.p[i] >= 'a' && id.p[i] <= 'f')))
			return false;
	return true;
}

/* apikey_hash_valid - printable, bounded, of a scheme we can check */
static bool
apikey_hash_valid(struct str h)
{
	char copy[APIKEY_HASH_MAX + 1];
	const char *crypt;

	if (h.len == 0 || h.len > APIKEY_HASH_MAX)
		return false;
	for (size_t i = 0; i < h.len; i++)
		if ((unsigned char)h.p[i] <= ' ' ||
		    (unsigned char)h.p[i] >= 0x7f)
			return false;
	memcpy(copy, h.p, h.len);
	copy[h.len] = '\0';
	return passwd_hash_scheme(copy, &crypt) != PASSWD_HASH_NONE;
}

int
apikey_format_line(struct buf *out, const char *name, const char *keyid,
    const char *hash, const char *const *domains, size_t n, bool any,
    int64_t created, struct err *err)
{
	struct apikey_line check;
	size_t start = out->len;

	if (!apikey_name_valid(str_cstr(name)))
		return err_set(err, EINVAL, "bad key name '%s' (want "
		    "[A-Za-z0-9._-], 1 to %d characters)", name,
		    APIKEY_NAME_MAX);
	if (!any && n == 0)
		return err_set(err, EINVAL, "no domain");
	if (n > APIKEY_DOMAINS_MAX)
		return err_set(err, EINVAL, "more than %d domains",
		    APIKEY_DOMAINS_MAX);
	for (size_t i = 0; i < n && !any; i++)
		if (!apikey_domain_valid(str_cstr(domains[i])))
			return err_set(err, EINVAL, "bad domain '%s'",
			    domains[i]);
	if (buf_appendf(out, "%s:%s:%s:domains=", name, keyid, hash) == -1)
		goto full;
	for (size_t i = 0; i < n && !any; i++) {
		if (i > 0 && buf_puts(out, ",") == -1)
			goto full;
		for (const char *c = domains[i]; *c; c++) {
			char l = *c >= 'A' && *c <= 'Z' ?
			    (char)(*c - 'A' + 'a') : *c;

			if (buf_append(out, &l, 1) == -1)
				goto full;
		}
	}
	if ((any && buf_puts(out, "*") == -1) ||
	    buf_appendf(out, ":created=%lld", (long long)created) == -1)
		goto full;
	/* what we write must read back */
	if (apikey_parse_line(str_make(out->data + start, out->len - start),
	    &check, err) != 1) {
		out->len = start;
		out->data[start] = '\0';
		return -1;
	}
	if (buf_puts(out, "\n") == -1)
		goto full;
	return 0;
full:
	out->len = start;
	if (out->data)
		out->data[start] = '\0';
	return err_set(err, EFBIG, "keys file too large");
}

int
apikey_token_new(char token_out[APIKEY_TOKEN_LEN + 1],
    char keyid_out[APIKEY_KEYID_LEN + 1], struct err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[APIKEY_KEYID_LEN / 2 + APIKEY_SECRET_BYTES];
	size_t got = 0, o;
	struct buf b;
	ssize_t r;
	int rc = -1;

	while (got < sizeof(rnd)) {
		if ((r = getrandom(rnd + got, sizeof(rnd) - got, 0)) == -1) {
			if (errno == EINTR)
				continue;
			return err_set(err, errno, "getrandom: %s",
			    strerror(errno));
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < APIKEY_KEYID_LEN / 2; i++) {
		keyid_out[2 * i] = hex[rnd[i] >> 4];
		keyid_out[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	keyid_out[APIKEY_KEYID_LEN] = '\0';
	buf_init(&b, 64);
	if (base64_encode(rnd + APIKEY_KEYID_LEN / 2, APIKEY_SECRET_BYTES,
	    &b) == -1) {
		err_set(err, EINVAL, "base64 failed");
		goto out;
	}
	/* base64url (RFC 4648 section 5), no padding */
	while (b.len > 0 && b.data[b.len - 1] == '=')
		b.len--;
	if (b.len != APIKEY_SECRET_LEN) {
		err_set(err, EINVAL, "base64 gave %zu characters", b.len);
		goto out;
	}
	o = sizeof(APIKEY_TOKEN_PREFIX) - 1;
	memcpy(token_out, APIKEY_TOKEN_PREFIX, o);
	memcpy(token_out + o, keyid_out, APIKEY_KEYID_LEN);
	o += APIKEY_KEYID_LEN;
	token_out[o++] = '_';
	for (size_t i = 0; i < b.len; i++)
		token_out[o++] = b.data[i] == '+' ? '-' :
		    b.data[i] == '/' ? '_' : b.data[i];
	token_out[o] = '\0';
	rc = 0;
out:
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	buf_fini(&b);
	explicit_bzero(rnd, sizeof(rnd));
	return rc;
}

struct str
apikey_token_keyid(const char *token)
{
	const size_t pre = sizeof(APIKEY_TOKEN_PREFIX) - 1;
	struct str id;

	if (token == NULL || strnlen(token, APIKEY_TOKEN_LEN + 1) !=
	    APIKEY_TOKEN_LEN || memcmp(token, APIKEY_TOKEN_PREFIX, pre) != 0)
		return STR_NULL;
	id = str_make(token + pre, APIKEY_KEYID_LEN);
	if (!apikey_keyid_valid(id) || token[pre + APIKEY_KEYID_LEN] != '_')
		return STR_NULL;
	for (size_t i = pre + APIKEY_KEYID_LEN + 1; i < APIKEY_TOKEN_LEN;
	    i++) {
		char c = token[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return STR_NULL;
	}
	return id;
}

char *
apikey_conf_path(const struct conf *conf)
{
	const char *d = conf->server.data_dir;
	size_t n;
	char *p;

	if (conf->http.keys != NULL && conf->http.keys[0] != '\0')
		return xstrdup(conf->http.keys);
	n = strlen(d);
	while (n > 1 && d[n - 1] == '/')
		n--;
	p = xmalloc(n + sizeof("/api-keys"));
	memcpy(p, d, n);
	memcpy(p + n, strcmp(d, "/") == 0 ? "api-keys" : "/api-keys",
	    sizeof("/api-keys"));
	return p;
}
