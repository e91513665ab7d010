/* SPDX-License-Identifier: ISC */
/*
 * api_addr.c - one RFC 5322 3.4 mailbox, checked by RFC 5321's rules.
 *
 * Pure: no I/O, no globals. The grammar taken (RFC 5322 3.2-3.4, with
 * obs-phrase's "." so that "J. Smith" needs no quotes):
 *
 *   mailbox    = name-addr / addr-spec
 *   name-addr  = [phrase] "<" addr-spec ">"
 *   phrase     = 1*( atom / "." / quoted-string ), CFWS between
 *   addr-spec  = local-part "@" domain   (no CFWS inside, no obs forms)
 *
 * CFWS is spaces, tabs and (nested) comments; there is no folding here:
 * a raw header value is unfolded by the caller. The addr-spec is then
 * handed, in angle brackets, to smtp_path_parse without SMTPUTF8, so
 * the envelope and the header agree on what an address is: RFC 5321
 * lengths, no source route, no UTF-8. The display name is unquoted, its
 * words joined by one space; encoded words (RFC 2047) are left as they
 * are. Fuzzed through tests/fuzz/fuzz_api_request.c and fuzz_mime_build.c.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xalloc.h"
#include "mime/api_addr.h"
#include "smtp/smtp_path.h"

/* comments nest; deeper than this is not a name */
#define API_ADDR_COMMENT_DEPTH	8

struct api_addr_lex {
	const char	*p;
	size_t		 len;
	size_t		 i;
};

static int api_addr_mailbox(struct api_addr_lex *x, bool list,
    struct api_addr *out, const char **why_out);
static int api_addr_cfws(struct api_addr_lex *x, const char **why_out);
static int api_addr_word(struct api_addr_lex *x, struct buf *phrase,
    const char **why_out);
static size_t api_addr_angle_end(struct api_addr_lex *x);
static int api_addr_spec(struct str spec, struct api_addr *out,
    const char **why_out);
static int api_addr_text_ok(struct str s, bool tab_ok, const char **why_out);
static bool api_addr_atext(unsigned char c);
static int api_addr_fail(const char *why, const char **why_out);

/* api_addr_parse - exactly one mailbox; see api_addr.h */
int
api_addr_parse(struct str in, struct api_addr *out, const char **why_out)
{
	struct api_addr_lex x = { in.p, in.len, 0 };

	if (api_addr_text_ok(in, true, why_out) == -1)
		return -1;
	return api_addr_mailbox(&x, false, out, why_out);
}

/* api_addr_parse_first - the first mailbox of a list; see api_addr.h */
int
api_addr_parse_first(struct str in, struct api_addr *out,
    const char **why_out)
{
	struct api_addr_lex x = { in.p, in.len, 0 };

	if (api_addr_text_ok(in, true, why_out) == -1)
		return -1;
	return api_addr_mailbox(&x, true, out, why_out);
}

/* api_addr_make - the {"email", "name"} form; see api_addr.h */
int
api_addr_make(struct str email, const char *name, size_t name_len,
    struct api_addr *out, const char **why_out)
{
	struct api_addr a = { NULL, NULL };
	size_t i;

	if (name != NULL && name_len > 0 &&
	    api_addr_check_name(name, name_len, why_out) == -1)
		return -1;
	if (api_addr_text_ok(email, false, why_out) == -1)
		return -1;
	for (i = 0; i < email.len; i++)
		if (email.p[i] == ' ' || email.p[i] == '<' ||
		    email.p[i] == '>')
			return api_addr_fail(
			    "Expected a bare address (local@domain)", why_out);
	if (api_addr_spec(email, &a, why_out) == -1)
		return -1;
	if (name != NULL && name_len > 0)
		a.name = xstrndup(name, name_len);
	*out = a;
	return 0;
}

/* api_addr_check_name - UTF-8, no control characters, bounded */
int
api_addr_check_name(const char *name, size_t len, const char **why_out)
{
	if (len > API_ADDR_NAME_MAX)
		return api_addr_fail("Display name too long", why_out);
	return api_addr_text_ok(str_make(name, len), false, why_out);
}

void
api_addr_fini(struct api_addr *a)
{
	if (a == NULL)
		return;
	free(a->name);
	free(a->addr);
	a->name = a->addr = NULL;
}

/*
 * api_addr_mailbox - mailbox at x, then CFWS, then the end (or a "," when
 * list is set).
 */
static int
api_addr_mailbox(struct api_addr_lex *x, bool list, struct api_addr *out,
    const char **why_out)
{
	struct api_addr a = { NULL, NULL };
	struct buf phrase;
	size_t start, word_end = 0, nwords = 0, end;
	bool spaced = false;
	int rc = -1;

	buf_init(&phrase, 0);		/* bounded by in */
	if (api_addr_cfws(x, why_out) == -1)
		goto out;
	start = x->i;
	while (x->i < x->len && x->p[x->i] != '<') {
		unsigned char c = (unsigned char)x->p[x->i];

		if (!api_addr_atext(c) && c != '.' && c != '"' && c < 0x80)
			break;
		if (nwords > 0 && buf_append(&phrase, " ", 1) == -1) {
			api_addr_fail("Address too long", why_out);
			goto out;
		}
		if (api_addr_word(x, &phrase, why_out) == -1)
			goto out;
		nwords++;
		word_end = x->i;
		if (api_addr_cfws(x, why_out) == -1)
			goto out;
		spaced = x->i != word_end;
	}
	if (x->i < x->len && x->p[x->i] == '<') {
		/* name-addr */
		if ((end = api_addr_angle_end(x)) == 0) {
			api_addr_fail("Unterminated <address>", why_out);
			goto out;
		}
		if (api_addr_spec(str_make(x->p + x->i + 1, end - x->i - 1),
		    &a, why_out) == -1)
			goto out;
		x->i = end + 1;
		if (phrase.len > API_ADDR_NAME_MAX) {
			api_addr_fail("Display name too long", why_out);
			goto out;
		}
		if (phrase.len > 0)
			a.name = xstrndup(phrase.data, phrase.len);
	} else if (x->i < x->len && x->p[x->i] == '@') {
		/* addr-spec: one word (the local part) right before the @ */
		if (nwords != 1 || spaced) {
			api_addr_fail(nwords == 0 ? "Empty local part" :
			    "Invalid local part (a display name needs "
			    "<address>)", why_out);
			goto out;
		}
		x->i++;
		end = x->i;
		if (end < x->len && x->p[end] == '[') {
			while (end < x->len && x->p[end] != ']')
				end++;
			if (end < x->len)
				end++;
		} else
			while (end < x->len && (api_addr_atext(
			    (unsigned char)x->p[end]) || x->p[end] == '.' ||
			    (unsigned char)x->p[end] >= 0x80))
				end++;
		if (api_addr_spec(str_make(x->p + start, end - start), &a,
		    why_out) == -1)
			goto out;
		x->i = end;
	} else {
		if (x->i < x->len && x->p[x->i] == ':')
			api_addr_fail("Groups are not accepted here", why_out);
		else if (x->i < x->len && nwords > 0)
			api_addr_fail("Invalid character in address (a "
			    "display name holding , ; or other specials must "
			    "be quoted)", why_out);
		else if (x->i < x->len)
			api_addr_fail("Invalid character in address", why_out);
		else
			api_addr_fail(nwords == 0 ? "Empty address" :
			    "Address lacks a domain", why_out);
		goto out;
	}
	if (api_addr_cfws(x, why_out) == -1)
		goto out;
	if (x->i < x->len && !(list && x->p[x->i] == ',')) {
		api_addr_fail(x->p[x->i] == ',' ?
		    "Only one address is accepted here" :
		    "Unexpected text after the address", why_out);
		goto out;
	}
	*out = a;
	a = (struct api_addr){ NULL, NULL };
	rc = 0;
out:
	api_addr_fini(&a);
	buf_fini(&phrase);
	return rc;
}

/* api_addr_cfws - skip spaces, tabs and nested comments */
static int
api_addr_cfws(struct api_addr_lex *x, const char **why_out)
{
	size_t depth;

	for (;;) {
		while (x->i < x->len &&
		    (x->p[x->i] == ' ' || x->p[x->i] == '\t'))
			x->i++;
		if (x->i == x->len || x->p[x->i] != '(')
			return 0;
		depth = 0;
		while (x->i < x->len) {
			char c = x->p[x->i++];

			if (c == '\\' && x->i < x->len)
				x->i++;
			else if (c == '(' &&
			    ++depth > API_ADDR_COMMENT_DEPTH)
				return api_addr_fail("Comments nested too deep",
				    why_out);
			else if (c == ')' && --depth == 0)
				break;
		}
		if (depth != 0)
			return api_addr_fail("Unterminated comment", why_out);
	}
}

/*
 * api_addr_word - an atom (dots allowed, UTF-8 allowed) or a
 * quoted-string at x, appended to phrase unquoted.
 */
static int
api_addr_word(struct api_addr_lex *x, struct buf *phrase,
    const char **why_out)
{
	size_t start = x->i;
	char c;

	if (x->p[x->i] != '"') {
		while (x->i < x->len &&
		    (api_addr_atext((unsigned char)x->p[x->i]) ||
		    x->p[x->i] == '.' || (unsigned char)x->p[x->i] >= 0x80))
			x->i++;
		if (buf_append(phrase, x->p + start, x->i - start) == -1)
			return api_addr_fail("Address too long", why_out);
		return 0;
	}
	for (x->i++; x->i < x->len; x->i++) {
		c = x->p[x->i];
		if (c == '"') {
			x->i++;
			return 0;
		}
		if (c == '\\') {
			if (++x->i == x->len)
				break;
			c = x->p[x->i];
		}
		if (c == '\t')
			c = ' ';
		if (buf_append(phrase, &c, 1) == -1)
			return api_addr_fail("Address too long", why_out);
	}
	return api_addr_fail("Unterminated quoted string", why_out);
}

/* api_addr_angle_end - index of the '>' closing the '<' at x, or 0 */
static size_t
api_addr_angle_end(struct api_addr_lex *x)
{
	bool quoted = false;
	size_t j;

	for (j = x->i + 1; j < x->len; j++) {
		if (quoted && x->p[j] == '\\')
			j++;
		else if (x->p[j] == '"')
			quoted = !quoted;
		else if (!quoted && x->p[j] == '>')
			return j;
	}
	return 0;
}

/*
 * api_addr_spec - local@domain checked by smtp_path_parse (no SMTPUTF8,
 * no source route), formatted with the domain lower-cased into out->addr.
 */
static int
api_addr_spec(struct str spec, struct api_addr *out, const char **why_out)
{
	char path[SMTP_PATH_MAX + 1];
	struct smtp_path sp;
	const char *why = NULL;
	struct buf b;

	if (spec.len == 0)
		return api_addr_fail("Empty address", why_out);
	if (spec.p[0] == '@')
		return api_addr_fail("Source routes are not accepted", why_out);
	if (spec.len + 2 > SMTP_PATH_MAX)
		return api_addr_fail("Address too long", why_out);
	path[0] = '<';
	memcpy(path + 1, spec.p, spec.len);
	path[spec.len + 1] = '>';
	if (smtp_path_parse(str_make(path, spec.len + 2), 0, &sp, &why) ==
	    -1) {
		if (why != NULL && strstr(why, "SMTPUTF8") != NULL)
			why = "UTF-8 addresses (SMTPUTF8) are not supported";
		return api_addr_fail(why ? why : "Invalid address", why_out);
	}
	buf_init(&b, SMTP_PATH_MAX);
	if (smtp_path_format(&sp, &b) == -1) {
		buf_fini(&b);
		return api_addr_fail("Address too long", why_out);
	}
	out->addr = buf_steal(&b, NULL);
	out->name = NULL;
	return 0;
}

/*
 * api_addr_text_ok - valid UTF-8 without control characters (a tab only
 * when tab_ok: it is white space in a header value, not in a name).
 */
static int
api_addr_text_ok(struct str s, bool tab_ok, const char **why_out)
{
	size_t i = 0, n;

	while (i < s.len) {
		unsigned char c = (unsigned char)s.p[i];

		if (c >= 0x80) {
			if ((n = utf8_seq_len((const unsigned char *)s.p + i,
			    s.len - i)) == 0)
				return api_addr_fail("Invalid UTF-8", why_out);
			i += n;
			continue;
		}
		if ((c < 0x20 && !(c == '\t' && tab_ok)) || c == 0x7f)
			return api_addr_fail("Control character in address",
			    why_out);
		i++;
	}
	return 0;
}

/* api_addr_atext - RFC 5322 atext, ASCII part */
static bool
api_addr_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
api_addr_fail(const char *why, const char **why_out)
{
	if (why_out != NULL)
		*why_out = why;
	return -1;
}
