/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt_record.c - the TLS-RPT policy record (RFC 8460 3); see
 * tlsrpt_record.h. The ABNF:
 *
 *   tlsrpt-record  = tlsrpt-version 1*(field-delim tlsrpt-field)
 *                    [field-delim]
 *   field-delim    = *WSP ";" *WSP
 *   tlsrpt-field   = tlsrpt-rua / tlsrpt-extension
 *   tlsrpt-version = %s"v=TLSRPTv1"
 *   tlsrpt-rua     = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
 *   tlsrpt-extension = tlsrpt-ext-name "=" tlsrpt-ext-value
 *   tlsrpt-ext-name  = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
 *
 * A URI is read as the visible ASCII characters up to the next WSP, ","
 * or ";" (RFC 8460 asks publishers to percent-encode "," and "!" inside
 * one), less those RFC 3986 never allows ('"', '<', '>', '\', '^', '`',
 * '{', '|', '}').
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tlspol/tlsrpt_record.h"

#define TLSRPT_VERSION	"v=TLSRPTv1"

static bool
tlsrpt_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool
tlsrpt_uri_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != ',' && c != ';' &&
	    strchr("\"<>\\^`{|}", c) == NULL;
}

static int
tlsrpt_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* tlsrpt_domain_ok - an LDH host name of two labels or more: labels of
   1..63 letters, digits and hyphens (not at either end), 253 octets at
   most */
static bool
tlsrpt_domain_ok(const char *d, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253 || d[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return d[n - 1] != '-' && memchr(d, '.', n) != NULL;
}

/* tlsrpt_mailto - "mailto:" URI u (n octets, scheme included) into the
   address it names; -1 if it names none */
static int
tlsrpt_mailto(const char *u, size_t n, char *addr, size_t cap,
    struct err *err)
{
	size_t i = strlen("mailto:"), k = 0;
	const char *at;

	for (; i < n && u[i] != '?'; i++) {
		unsigned char c = (unsigned char)u[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n || (hi = tlsrpt_hex((unsigned char)
			    u[i + 1])) < 0 || (lo = tlsrpt_hex((unsigned char)
			    u[i + 2])) < 0)
				return err_set(err, 0, "bad %%-escape in %.*s",
				    (int)n, u);
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		/* an address of visible ASCII, nothing that would need
		   quoting in a path (RFC 5321 4.1.2) */
		if (c <= 0x20 || c >= 0x7f || strchr("\"(),:;<>[\\]", c))
			return err_set(err, 0, "mailto: address with '%c'"
			    " or a control character", c > 0x20 && c < 0x7f ?
			    c : '?');
		if (k + 1 >= cap)
			return err_set(err, 0, "mailto: address too long");
		addr[k++] = (char)c;
	}
	addr[k] = '\0';
	if ((at = strchr(addr, '@')) == NULL || at == addr ||
	    strchr(at + 1, '@') != NULL || at - addr > 64 ||
	    !tlsrpt_domain_ok(at + 1, strlen(at + 1)))
		return err_set(err, 0, "mailto: '%s' is not an address", addr);
	return 0;
}

/* tlsrpt_https - an "https:" URI must name a host: "https://" then at
   least one character of an authority */
static int
tlsrpt_https(const char *u, size_t n, struct err *err)
{
	size_t p = strlen("https:");

	if (n < p + 3 || memcmp(u + p, "//", 2) != 0 || u[p + 2] == '/' ||
	    u[p + 2] == '?' || u[p + 2] == '#')
		return err_set(err, 0, "https: URI without a host: %.*s",
		    (int)(n > 64 ? 64 : n), u);
	return 0;
}

/* tlsrpt_uri - one URI of rua into out; ignored ones counted */
static int
tlsrpt_uri(const char *u, size_t n, struct tlsrpt_policy_record *out,
    struct err *err)
{
	struct tlsrpt_rua *r;
	bool mailto = n >= 7 && strncasecmp(u, "mailto:", 7) == 0;
	bool https = n >= 6 && strncasecmp(u, "https:", 6) == 0;
	size_t s;

	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
	for (s = 0; s < n && u[s] != ':'; s++)
		if (!(isalpha((unsigned char)u[s]) || (s > 0 &&
		    (isdigit((unsigned char)u[s]) || strchr("+-.", u[s])))))
			break;
	if (s == 0 || s >= n || u[s] != ':')
		return err_set(err, 0, "rua: '%.*s' is not a URI",
		    (int)(n > 64 ? 64 : n), u);
	if ((!mailto && !https) || out->nrua >= TLSRPT_RUA_MAX) {
		out->ignored++;
		return 0;
	}
	if (n >= TLSRPT_URI_MAX)
		return err_set(err, 0, "rua: URI longer than %d octets",
		    TLSRPT_URI_MAX - 1);
	r = &out->rua[out->nrua];
	memset(r, 0, sizeof(*r));
	memcpy(r->uri, u, n);
	r->uri[n] = '\0';
	if (mailto) {
		r->kind = TLSRPT_RUA_MAILTO;
		if (tlsrpt_mailto(u, n, r->addr, sizeof(r->addr), err) == -1)
			return -1;
	} else {
		r->kind = TLSRPT_RUA_HTTPS;
		if (tlsrpt_https(u, n, err) == -1)
			return -1;
	}
	out->nrua++;
	return 0;
}

/* tlsrpt_rua_value - the URI list at p (past "rua="); *i moves past it */
static int
tlsrpt_rua_value(const char *p, size_t len, size_t *i,
    struct tlsrpt_policy_record *out, struct err *err)
{
	for (;;) {
		size_t start = *i, j;

		while (*i < len && tlsrpt_uri_char((unsigned char)p[*i]))
			(*i)++;
		if (*i == start)
			return err_set(err, 0, "rua: empty URI");
		if (tlsrpt_uri(p + start, *i - start, out, err) == -1)
			return -1;
		/* *WSP "," *WSP: another URI; else the field ends */
		for (j = *i; j < len && tlsrpt_wsp(p[j]); j++)
			;
		if (j >= len || p[j] != ',')
			return 0;
		for (j++; j < len && tlsrpt_wsp(p[j]); j++)
			;
		*i = j;
	}
}

int
tlsrpt_record_parse(const char *txt, size_t len,
    struct tlsrpt_policy_record *out, struct err *err)
{
	size_t i = strlen(TLSRPT_VERSION), nfields = 0;
	bool rua = false;

	memset(out, 0, sizeof(*out));
	if (len < i || memcmp(txt, TLSRPT_VERSION, i) != 0)
		return err_set(err, 0, "does not begin with v=TLSRPTv1");
	for (;;) {
		size_t name, j;

		/* field-delim, or the end */
		while (i < len && tlsrpt_wsp(txt[i]))
			i++;
		if (i >= len)
			break;
		if (txt[i] != ';')
			return err_set(err, 0, "'%c' where ';' was expected"
			    " (offset %zu)", isprint((unsigned char)txt[i]) ?
			    txt[i] : '?', i);
		for (i++; i < len && tlsrpt_wsp(txt[i]); i++)
			;
		if (i >= len)
			break;		/* a trailing delimiter */
		/* the field's name */
		name = i;
		if (!isalnum((unsigned char)txt[i]))
			return err_set(err, 0, "bad field name at offset %zu",
			    i);
		for (i++; i < len && i - name <= 32 && (isalnum((unsigned
		    char)txt[i]) || strchr("_-.", txt[i]) != NULL) &&
		    txt[i] != '\0'; i++)
			;
		if (i >= len || txt[i] != '=' || i - name > 32)
			return err_set(err, 0, "bad field name at offset %zu",
			    name);
		i++;
		nfields++;
		if (i - name == 4 && memcmp(txt + name, "rua=", 4) == 0) {
			if (rua)
				return err_set(err, 0, "more than one rua=");
			rua = true;
			if (tlsrpt_rua_value(txt, len, &i, out, err) == -1)
				return -1;
			continue;
		}
		/* an extension: 1*(%x21-3A / %x3C / %x3E-7E) */
		for (j = i; j < len && (unsigned char)txt[j] > 0x20 &&
		    (unsigned char)txt[j] < 0x7f && txt[j] != ';' &&
		    txt[j] != '='; j++)
			;
		if (j == i)
			return err_set(err, 0, "empty value of %.*s",
			    (int)(i - 1 - name), txt + name);
		i = j;
	}
	if (nfields == 0 || !rua)
		return err_set(err, 0, "no rua= field");
	return 0;
}

/* tlsrpt_is_v1 - does the record claim to be TLS-RPT version 1 */
static bool
tlsrpt_is_v1(const char *t, size_t n)
{
	size_t v = strlen(TLSRPT_VERSION);

	return n >= v && memcmp(t, TLSRPT_VERSION, v) == 0 &&
	    (n == v || t[v] == ';' || tlsrpt_wsp(t[v]));
}

int
tlsrpt_record_select(const char *const *txt, const size_t *len, size_t n,
    struct tlsrpt_policy_record *out, struct err *err)
{
	size_t found = 0, which = 0;

	for (size_t i = 0; i < n; i++)
		if (txt[i] != NULL && tlsrpt_is_v1(txt[i], len[i])) {
			found++;
			which = i;
		}
	if (found == 0)
		return 0;
	if (found > 1)
		return err_set(err, 0, "%zu v=TLSRPTv1 records (one is"
		    " wanted)", found);
	if (tlsrpt_record_parse(txt[which], len[which], out, err) == -1)
		return -1;
	return 1;
}
