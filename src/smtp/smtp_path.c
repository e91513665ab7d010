/* SPDX-License-Identifier: ISC */
/*
 * smtp_path.c - RFC 5321 4.1.2 Reverse-path / Forward-path parsing, with
 * RFC 6531 UTF-8 mailboxes.
 *
 * Pure: no I/O, no globals, no allocation; the slices in struct smtp_path
 * point into the caller's input. The grammar, one function per rule:
 *
 *   Path       = "<" [ A-d-l ":" ] Mailbox ">"     smtp_path_parse
 *   A-d-l      = At-domain *( "," At-domain )      smtp_path_route
 *   Mailbox    = Local-part "@" ( Domain / address-literal )
 *   Local-part = Dot-string / Quoted-string        smtp_path_dot_string,
 *                                                  smtp_path_quoted
 *   Domain     = sub-domain *( "." sub-domain )    smtp_path_domain_name
 *   address-literal = "[" IPv4 / "IPv6:" IPv6 "]"  smtp_path_literal
 *
 * Limits (4.5.3.1): local part 64 octets as written (quotes included),
 * domain 255, and the whole path 256 octets counting the angle brackets
 * and any source route. Octets >= 0x80 are refused unless
 * SMTP_PATH_ALLOW_UTF8 is given, and must then form valid UTF-8 (no
 * overlong forms, no surrogates, nothing above U+10FFFF). The general
 * address literal ("[tag:...]") is refused: nothing routes to it.
 * An empty quoted local part ("") is refused, although the grammar allows
 * it: no mailbox is named that way and it would confuse delivery.
 * Fuzzed by tests/fuzz/fuzz_smtp_path.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stddef.h>
#include <string.h>

#include "core/utf8.h"
#include "smtp/smtp_path.h"

/* RFC 1035 2.3.4 */
#define SMTP_PATH_LABEL_MAX	63

static int smtp_path_fail(const char *why, const char **why_out);
static int smtp_path_route(struct str *s, unsigned flags,
    const char **why_out);
static int smtp_path_mailbox(struct str s, unsigned flags, bool routed,
    struct smtp_path *path, const char **why_out);
static size_t smtp_path_dot_string(struct str s, unsigned flags,
    const char **why_out);
static size_t smtp_path_quoted(struct str s, unsigned flags,
    const char **why_out);
static int smtp_path_domain(struct str d, unsigned flags,
    const char **why_out);
static int smtp_path_domain_name(struct str d, unsigned flags,
    const char **why_out);
static int smtp_path_literal(struct str d, const char **why_out);
static size_t smtp_path_utf8(struct str s, size_t i, unsigned flags,
    const char **why_out);
static bool smtp_path_atext(unsigned char c);
static bool smtp_path_has_8bit(struct str s);

/* smtp_path_parse - parse "<...>" into path_out; see smtp_path.h */
int
smtp_path_parse(struct str in, unsigned flags, struct smtp_path *path_out,
    const char **why_out)
{
	struct str s;
	bool routed = false;

	*path_out = (struct smtp_path){ .null = false };
	if (why_out != NULL)
		*why_out = NULL;
	if (in.len > SMTP_PATH_MAX)
		return smtp_path_fail("Path too long", why_out);
	if (in.len < 2 || in.p[0] != '<' || in.p[in.len - 1] != '>')
		return smtp_path_fail("Path must be enclosed in <>", why_out);
	s = str_make(in.p + 1, in.len - 2);
	if (s.len == 0) {
		if (!(flags & SMTP_PATH_ALLOW_NULL))
			return smtp_path_fail("Null path not allowed here",
			    why_out);
		path_out->null = true;
		return 0;
	}
	if (s.p[0] == '@') {
		if (smtp_path_route(&s, flags, why_out) == -1)
			return -1;
		routed = true;
	}
	return smtp_path_mailbox(s, flags, routed, path_out, why_out);
}

/* smtp_path_format - append local@domain, domain lower-cased */
int
smtp_path_format(const struct smtp_path *path, struct buf *out)
{
	size_t i, start;

	if (path->null)
		return buf_append(out, "", 0);
	if (path->postmaster)
		return buf_puts(out, "postmaster");
	if (buf_reserve(out, path->local.len + 1 + path->domain.len) == -1)
		return -1;
	if (buf_append_str(out, path->local) == -1 ||
	    buf_append(out, "@", 1) == -1)
		return -1;
	start = out->len;
	if (buf_append_str(out, path->domain) == -1)
		return -1;
	for (i = start; i < out->len; i++)
		if (out->data[i] >= 'A' && out->data[i] <= 'Z')
			out->data[i] = (char)(out->data[i] - 'A' + 'a');
	return 0;
}

static int
smtp_path_fail(const char *why, const char **why_out)
{
	if (why_out != NULL)
		*why_out = why;
	return -1;
}

/*
 * smtp_path_route - check and drop "@a,@b:" from the front of s.
 * RFC 5321 4.1.1.3 and appendix C: servers must accept source routes and
 * should ignore them. The hops are checked as domains all the same, so a
 * malformed route is still a syntax error.
 */
static int
smtp_path_route(struct str *s, unsigned flags, const char **why_out)
{
	size_t i;
	char sep;

	for (;;) {
		if (s->len == 0 || s->p[0] != '@')
			return smtp_path_fail("Invalid source route", why_out);
		for (i = 1; i < s->len && s->p[i] != ',' && s->p[i] != ':';
		    i++)
			;
		if (i == s->len)
			return smtp_path_fail("Invalid source route", why_out);
		if (smtp_path_domain_name(str_make(s->p + 1, i - 1), flags,
		    why_out) == -1)
			return -1;
		sep = s->p[i];
		s->p += i + 1;
		s->len -= i + 1;
		if (sep == ':')
			return 0;
	}
}

/* smtp_path_mailbox - Local-part "@" domain, or bare postmaster */
static int
smtp_path_mailbox(struct str s, unsigned flags, bool routed,
    struct smtp_path *path, const char **why_out)
{
	struct str local, domain;
	size_t n;

	if (s.len == 0)
		return smtp_path_fail("Empty mailbox", why_out);
	if (s.p[0] == '"')
		n = smtp_path_quoted(s, flags, why_out);
	else
		n = smtp_path_dot_string(s, flags, why_out);
	if (n == 0)
		return -1;
	local = str_make(s.p, n);
	if (local.len > SMTP_LOCAL_MAX)
		return smtp_path_fail("Local part too long", why_out);
	if (n == s.len) {
		if (routed || !str_eq_nocase(local, STR("postmaster")))
			return smtp_path_fail("Address lacks a domain",
			    why_out);
		if (!(flags & SMTP_PATH_ALLOW_POSTMASTER))
			return smtp_path_fail(
			    "Bare postmaster not allowed here", why_out);
		path->postmaster = true;
		path->local = local;
		return 0;
	}
	if (s.p[n] != '@')
		return smtp_path_fail("Invalid character in local part",
		    why_out);
	domain = str_make(s.p + n + 1, s.len - n - 1);
	if (smtp_path_domain(domain, flags, why_out) == -1)
		return -1;
	path->local = local;
	path->domain = domain;
	path->utf8 = smtp_path_has_8bit(local) || smtp_path_has_8bit(domain);
	return 0;
}

/*
 * smtp_path_dot_string - length of the Dot-string at the start of s
 * (atoms of atext joined by single dots), or 0 with *why_out set.
 */
static size_t
smtp_path_dot_string(struct str s, unsigned flags, const char **why_out)
{
	size_t i = 0, start, n;
	unsigned char c;

	for (;;) {
		start = i;
		while (i < s.len) {
			c = (unsigned char)s.p[i];
			if (smtp_path_atext(c))
				i++;
			else if (c >= 0x80) {
				if ((n = smtp_path_utf8(s, i, flags,
				    why_out)) == 0)
					return 0;
				i += n;
			} else
				break;
		}
		if (i == start) {
			smtp_path_fail(i < s.len && s.p[i] != '.' &&
			    s.p[i] != '@' ?
			    "Invalid character in local part" :
			    "Empty atom in local part", why_out);
			return 0;
		}
		if (i == s.len || s.p[i] != '.')
			return i;
		i++;
	}
}

/*
 * smtp_path_quoted - length of the Quoted-string at the start of s,
 * quotes included, or 0 with *why_out set. RFC 5321: qtextSMTP is
 * %d32-33 / %d35-91 / %d93-126 (plus UTF8-non-ascii, RFC 6531), and
 * quoted-pairSMTP is "\" followed by %d32-126.
 */
static size_t
smtp_path_quoted(struct str s, unsigned flags, const char **why_out)
{
	size_t i = 1, n;
	unsigned char c;

	while (i < s.len) {
		c = (unsigned char)s.p[i];
		if (c == '"') {
			if (i == 1) {
				smtp_path_fail("Empty local part", why_out);
				return 0;
			}
			return i + 1;
		}
		if (c == '\\') {
			if (i + 1 == s.len || (unsigned char)s.p[i + 1] < 32 ||
			    (unsigned char)s.p[i + 1] > 126)
				break;
			i += 2;
		} else if (c >= 32 && c <= 126)
			i++;
		else if (c >= 0x80) {
			if ((n = smtp_path_utf8(s, i, flags, why_out)) == 0)
				return 0;
			i += n;
		} else
			break;
	}
	smtp_path_fail(i == s.len ? "Unterminated quoted string" :
	    "Invalid character in quoted string", why_out);
	return 0;
}

/* smtp_path_domain - domain name or address literal after the "@" */
static int
smtp_path_domain(struct str d, unsigned flags, const char **why_out)
{
	if (d.len > 0 && d.p[0] == '[') {
		if (d.len > SMTP_DOMAIN_MAX)
			return smtp_path_fail("Domain too long", why_out);
		return smtp_path_literal(d, why_out);
	}
	return smtp_path_domain_name(d, flags, why_out);
}

/*
 * smtp_path_domain_name - dot-separated labels of letters, digits and
 * hyphens (UTF-8 too with SMTP_PATH_ALLOW_UTF8), each 1 to 63 octets and
 * neither starting nor ending with a hyphen; no trailing dot.
 */
static int
smtp_path_domain_name(struct str d, unsigned flags, const char **why_out)
{
	size_t i = 0, start, n;
	unsigned char c;

	if (d.len == 0)
		return smtp_path_fail("Empty domain", why_out);
	if (d.len > SMTP_DOMAIN_MAX)
		return smtp_path_fail("Domain too long", why_out);
	for (;;) {
		start = i;
		while (i < d.len && d.p[i] != '.') {
			c = (unsigned char)d.p[i];
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-')
				i++;
			else if (c >= 0x80) {
				if ((n = smtp_path_utf8(d, i, flags,
				    why_out)) == 0)
					return -1;
				i += n;
			} else
				return smtp_path_fail(
				    "Invalid character in domain", why_out);
		}
		if (i == start)
			return smtp_path_fail(i == d.len ?
			    "Trailing dot in domain" :
			    "Empty label in domain", why_out);
		if (i - start > SMTP_PATH_LABEL_MAX)
			return smtp_path_fail("Domain label too long", why_out);
		if (d.p[start] == '-' || d.p[i - 1] == '-')
			return smtp_path_fail(
			    "Domain label begins or ends with a hyphen",
			    why_out);
		if (i == d.len)
			return 0;
		i++;
	}
}

/*
 * smtp_path_literal - "[a.b.c.d]" or "[IPv6:...]", checked by inet_pton.
 * Only the characters of those forms may reach inet_pton, so an embedded
 * NUL cannot cut the text short.
 */
static int
smtp_path_literal(struct str d, const char **why_out)
{
	char text[INET6_ADDRSTRLEN];
	struct in6_addr addr;
	struct str body;
	int af = AF_INET;
	size_t i;

	if (d.len < 2 || d.p[d.len - 1] != ']')
		return smtp_path_fail("Unterminated address literal", why_out);
	body = str_make(d.p + 1, d.len - 2);
	if (str_prefix_nocase(body, STR("IPv6:"))) {
		af = AF_INET6;
		body.p += 5;
		body.len -= 5;
	}
	if (body.len == 0 || body.len >= sizeof(text))
		return smtp_path_fail("Invalid address literal", why_out);
	for (i = 0; i < body.len; i++) {
		char c = body.p[i];

		if (!((c >= '0' && c <= '9') || c == '.' || (af == AF_INET6 &&
		    ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
		    c == ':'))))
			return smtp_path_fail(memchr(body.p, ':', body.len) &&
			    af == AF_INET ?
			    "Unsupported address literal" :
			    "Invalid address literal", why_out);
	}
	memcpy(text, body.p, body.len);
	text[body.len] = '\0';
	if (inet_pton(af, text, &addr) != 1)
		return smtp_path_fail("Invalid address literal", why_out);
	return 0;
}

/*
 * smtp_path_utf8 - length of the UTF-8 sequence at s.p[i], or 0 with
 * *why_out set when 8-bit is not allowed or the sequence is invalid.
 */
static size_t
smtp_path_utf8(struct str s, size_t i, unsigned flags, const char **why_out)
{
	size_t n;

	if (!(flags & SMTP_PATH_ALLOW_UTF8)) {
		smtp_path_fail("8-bit address requires SMTPUTF8", why_out);
		return 0;
	}
	n = utf8_seq_len((const unsigned char *)s.p + i, s.len - i);
	if (n == 0)
		smtp_path_fail("Invalid UTF-8 in address", why_out);
	return n;
}

/* smtp_path_atext - RFC 5322 atext, ASCII part */
static bool
smtp_path_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
smtp_path_has_8bit(struct str s)
{
	size_t i;

	for (i = 0; i < s.len; i++)
		if ((unsigned char)s.p[i] >= 0x80)
			return true;
	return false;
}
