/* SPDX-License-Identifier: ISC */
/*
 * fuzz_apikey_line.c - libFuzzer harness for the API keys file's line
 * parser (auth/apikey.c), the token form and the name and domain checks.
 * Invariants: parsed slices lie inside the input; an accepted line has a
 * valid name, an 8-digit KEYID, a hash and valid domains (or "*"); a
 * line formatted from what was parsed parses back to the same fields
 * (when it fits the line limit).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/apikey.h"
#include "core/buf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_inside(struct str s, struct str in)
{
	if (s.len && (s.p < in.p || s.p + s.len > in.p + in.len))
		abort();
}

/* fuzz_reformat - format l anew and check that it reads back the same */
static void
fuzz_reformat(const struct apikey_line *l)
{
	char name[APIKEY_NAME_MAX + 1], keyid[APIKEY_KEYID_LEN + 1];
	char hash[APIKEY_HASH_MAX + 1], *doms = NULL;
	const char *list[APIKEY_DOMAINS_MAX];
	struct apikey_line back;
	struct err err;
	struct buf b;
	size_t n = 0;

	memcpy(name, l->name.p, l->name.len);
	name[l->name.len] = '\0';
	memcpy(keyid, l->keyid.p, l->keyid.len);
	keyid[l->keyid.len] = '\0';
	memcpy(hash, l->hash.p, l->hash.len);
	hash[l->hash.len] = '\0';
	if (!l->any_domain) {
		char *p;

		doms = malloc(l->domains.len + 1);
		memcpy(doms, l->domains.p, l->domains.len);
		doms[l->domains.len] = '\0';
		for (p = doms; n < APIKEY_DOMAINS_MAX; n++) {
			list[n] = p;
			if ((p = strchr(p, ',')) == NULL) {
				n++;
				break;
			}
			*p++ = '\0';
		}
	}
	buf_init(&b, 0);
	if (apikey_format_line(&b, name, keyid, hash, list, n, l->any_domain,
	    l->created, &err) == -1 ||
	    apikey_parse_line(str_make(b.data, b.len - 1), &back, &err) != 1 ||
	    !str_eq(back.name, l->name) || !str_eq(back.keyid, l->keyid) ||
	    !str_eq(back.hash, l->hash) || back.any_domain != l->any_domain ||
	    !str_eq_nocase(back.domains, l->domains) ||
	    back.created != l->created || back.revoked)
		abort();
	buf_fini(&b);
	free(doms);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str in = str_make((const char *)data, size);
	struct apikey_line l;
	struct err err;
	char *copy;
	int rc;

	rc = apikey_parse_line(in, &l, &err);
	if (rc == 1) {
		fuzz_inside(l.name, in);
		fuzz_inside(l.keyid, in);
		fuzz_inside(l.hash, in);
		fuzz_inside(l.domains, in);
		if (!apikey_name_valid(l.name) ||
		    l.keyid.len != APIKEY_KEYID_LEN || l.hash.len == 0 ||
		    l.domains.len == 0 || size > APIKEY_LINE_MAX + 1)
			abort();
		if (l.any_domain != str_eq(l.domains, STR("*")))
			abort();
		/* formatting may add ":created=N": room for it */
		if (size + 32 <= APIKEY_LINE_MAX)
			fuzz_reformat(&l);
	} else if (rc == -1 && (err.msg[0] == '\0' ||
	    memchr(err.msg, '\0', sizeof(err.msg)) == NULL)) {
		abort();
	}
	(void)apikey_domain_valid(in);
	(void)apikey_name_valid(in);
	copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (apikey_token_keyid(copy).p != NULL && strlen(copy) !=
	    APIKEY_TOKEN_LEN)
		abort();
	free(copy);
	return 0;
}
