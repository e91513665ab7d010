/* SPDX-License-Identifier: ISC */
/*
 * mime_build.c - the message for an API request; see mime_build.h.
 *
 * Pure: no I/O, no globals, no clock, no randomness. Two passes: the
 * first (mime_build_check) refuses what cannot be written safely, an
 * address smtp_path_parse does not take, a reserved or malformed field
 * name, an unusable content type or Content-ID, invalid UTF-8, and
 * picks the boundaries; the second writes, and can then only fail
 * because out is full. So a caller that skipped api_request_parse still
 * cannot inject a header: every header text goes through mime_header,
 * which encodes CR and LF.
 *
 * The body's shape (RFC 2046, the common layout of mail clients):
 *
 *   mixed  ( alternative ( text, related ( html, inline... ) ), att... )
 *
 * with each multipart left out when it would have one child. Inline
 * parts (with a content_id) sit in "related" beside the HTML; without
 * HTML they are ordinary attachments that keep their Content-ID.
 *
 * Boundaries are "=_" UNIQUE "." KIND NN: "=_" never occurs in
 * quoted-printable or base64, so only the text written as it is (7bit
 * text, file names, types, Content-IDs) could hold one; NN is raised
 * until none does (checked without regard to case). The three kinds
 * (m, a, r) keep them apart and none is a prefix of another.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "mime/mime_build.h"
#include "mime/mime_header.h"
#include "mime/qp.h"
#include "smtp/smtp_path.h"

/* base64 body lines: 57 octets make 76 characters (RFC 2045 6.8) */
#define MIME_BUILD_B64_LINE	57
/* a parameter as a quoted-string: at most this long with its name, so
   that " attr=\"...\";" fits a line */
#define MIME_BUILD_QUOTED_MAX	76
/* RFC 2231 continuation segments: percent-encoded octets per line */
#define MIME_BUILD_SEGMENT	54
/* "=_" unique "." kind NN */
#define MIME_BUILD_BOUNDARY	(2 + MIME_UNIQUE_MAX + 4 + 1)

struct mime_build {
	const struct api_request	*r;
	const struct mime_opts		*o;
	struct buf			*out;
	bool				 related;	/* html, inline parts */
	char				 b_mixed[MIME_BUILD_BOUNDARY];
	char				 b_alt[MIME_BUILD_BOUNDARY];
	char				 b_rel[MIME_BUILD_BOUNDARY];
};

static int mime_build_check(struct mime_build *b, struct err *err);
static int mime_build_check_addr(const struct api_addr *a, const char *what,
    struct err *err);
static int mime_build_boundary(struct mime_build *b, char kind,
    char out[MIME_BUILD_BOUNDARY], struct err *err);
static bool mime_build_collides(const struct api_request *r, const char *s);
static bool mime_build_holds(const char *t, size_t len, const char *s);
static bool mime_build_attr_char(unsigned char c);
static bool mime_build_quotable(const char *attr, const char *v);
static bool mime_build_ctype_ok(const char *s);
static bool mime_build_cid_ok(const char *s);
static bool mime_build_inline(const struct mime_build *b,
    const struct api_attachment *a);
static int mime_build_headers(struct mime_build *b);
static int mime_build_addrs(struct mime_build *b, const char *name,
    const struct api_addr *list, size_t n);
static int mime_build_mailbox(struct mime_header *h,
    const struct api_addr *a, bool comma);
static int mime_build_root(struct mime_build *b);
static int mime_build_alt(struct mime_build *b);
static int mime_build_html(struct mime_build *b);
static int mime_build_text(struct mime_build *b, const char *p, size_t n,
    const char *subtype);
static int mime_build_att(struct mime_build *b,
    const struct api_attachment *a, bool inl);
static int mime_build_param(struct mime_header *h, const char *attr,
    const char *v, bool last);
static int mime_build_multipart(struct mime_build *b, const char *subtype,
    const char *boundary);
static int mime_build_delim(struct mime_build *b, const char *boundary,
    bool close);
static bool mime_build_7bit(const char *p, size_t n);

int
mime_build(const struct api_request *r, const struct mime_opts *o,
    struct buf *out, struct err *err)
{
	struct mime_build b = { .r = r, .o = o, .out = out };

	if (mime_build_check(&b, err) == -1)
		return -1;
	if (mime_build_headers(&b) == -1 || mime_build_root(&b) == -1 ||
	    (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2) != 0 ?
	    buf_append(out, "\r\n", 2) : 0) == -1) {
		err_set(err, EMSGSIZE, "the message is larger than %zu octets",
		    out->max);
		return -2;
	}
	return 0;
}

/* mime_opts_check - see mime_build.h */
int
mime_opts_check(const struct mime_opts *o, struct err *err)
{
	char date[MIME_HEADER_DATE_SIZE];
	size_t i, n, label = 0;
	const char *s;

	if (o->unique == NULL || (n = strlen(o->unique)) == 0 ||
	    n > MIME_UNIQUE_MAX)
		return err_set(err, EINVAL, "unique: 1 to %d characters",
		    MIME_UNIQUE_MAX);
	for (i = 0; i < n; i++) {
		char c = o->unique[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return err_set(err, EINVAL,
			    "unique: letters, digits, - and _ only");
	}
	if ((s = o->hostname) == NULL || (n = strlen(s)) == 0 ||
	    n > SMTP_DOMAIN_MAX - 2)
		return err_set(err, EINVAL, "hostname: empty or too long");
	for (i = 0; i <= n; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return err_set(err, EINVAL,
				    "hostname: bad label");
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c == '-' && label > 0))
			label++;
		else
			return err_set(err, EINVAL,
			    "hostname: letters, digits, hyphens and dots only");
	}
	if (mime_header_date(o->now, o->tz_offset_min, date) == -1)
		return err_set(err, EINVAL,
		    "now or tz_offset_min out of range");
	return 0;
}

int
mime_build_date(const struct mime_opts *o, struct buf *out)
{
	char date[MIME_HEADER_DATE_SIZE];

	if (mime_header_date(o->now, o->tz_offset_min, date) == -1)
		return -1;
	return buf_appendf(out, "Date: %s\r\n", date);
}

int
mime_build_message_id(const struct mime_opts *o, struct buf *out)
{
	return buf_appendf(out, "Message-ID: <%s@%s>\r\n", o->unique,
	    o->hostname);
}

/*
 * mime_build_check - everything that can be wrong with r and o, before
 * anything is written; picks the boundaries
 */
static int
mime_build_check(struct mime_build *b, struct err *err)
{
	const struct api_request *r = b->r;
	size_t i, ninline = 0;

	if (mime_opts_check(b->o, err) == -1)
		return -1;
	if (mime_build_check_addr(&r->from, "from", err) == -1 ||
	    (r->reply_to != NULL &&
	    mime_build_check_addr(r->reply_to, "reply_to", err) == -1))
		return -1;
	for (i = 0; i < r->nto; i++)
		if (mime_build_check_addr(&r->to[i], "to", err) == -1)
			return -1;
	for (i = 0; i < r->ncc; i++)
		if (mime_build_check_addr(&r->cc[i], "cc", err) == -1)
			return -1;
	if (r->subject != NULL &&
	    !mime_header_utf8_ok(r->subject, strlen(r->subject)))
		return err_set(err, EINVAL, "subject: invalid UTF-8");
	if ((r->text != NULL && !mime_header_utf8_ok(r->text, r->text_len)) ||
	    (r->html != NULL && !mime_header_utf8_ok(r->html, r->html_len)))
		return err_set(err, EINVAL, "text or html: invalid UTF-8");
	if (r->text == NULL && r->html == NULL && r->natts == 0)
		return err_set(err, EINVAL, "no text, html or attachment");
	for (i = 0; i < r->nheaders; i++) {
		const char *name = r->headers[i].name;

		if (name == NULL || r->headers[i].value == NULL ||
		    !mime_header_name_ok(name, strlen(name)) ||
		    mime_header_reserved(name, strlen(name)))
			return err_set(err, EINVAL,
			    "headers: bad or reserved field name");
		if (!mime_header_utf8_ok(r->headers[i].value,
		    strlen(r->headers[i].value)))
			return err_set(err, EINVAL,
			    "headers: invalid UTF-8 in a value");
	}
	for (i = 0; i < r->natts; i++) {
		const struct api_attachment *a = &r->atts[i];

		if (!mime_build_ctype_ok(a->content_type) ||
		    (a->content_id != NULL &&
		    !mime_build_cid_ok(a->content_id)) ||
		    (a->filename != NULL &&
		    !mime_header_utf8_ok(a->filename, strlen(a->filename))) ||
		    (a->data == NULL && a->len > 0))
			return err_set(err, EINVAL, "attachments[%zu]: bad "
			    "content type, content_id or file name", i);
		if (a->content_id != NULL)
			ninline++;
	}
	b->related = r->html != NULL && ninline > 0;
	if (mime_build_boundary(b, 'm', b->b_mixed, err) == -1 ||
	    mime_build_boundary(b, 'a', b->b_alt, err) == -1 ||
	    mime_build_boundary(b, 'r', b->b_rel, err) == -1)
		return -1;
	return 0;
}

/* mime_build_check_addr - an address the header can carry as it is */
static int
mime_build_check_addr(const struct api_addr *a, const char *what,
    struct err *err)
{
	char path[SMTP_PATH_MAX + 1];
	struct smtp_path sp;
	size_t n;

	if (a->addr == NULL || (n = strlen(a->addr)) + 2 > SMTP_PATH_MAX)
		return err_set(err, EINVAL, "%s: no address", what);
	path[0] = '<';
	memcpy(path + 1, a->addr, n);
	path[n + 1] = '>';
	if (smtp_path_parse(str_make(path, n + 2), 0, &sp, NULL) == -1)
		return err_set(err, EINVAL, "%s: invalid address", what);
	if (a->name != NULL && !mime_header_utf8_ok(a->name, strlen(a->name)))
		return err_set(err, EINVAL, "%s: invalid UTF-8 in the name",
		    what);
	return 0;
}

/* mime_build_boundary - the first "=_UNIQUE.kNN" found in no raw text */
static int
mime_build_boundary(struct mime_build *b, char kind,
    char out[MIME_BUILD_BOUNDARY], struct err *err)
{
	unsigned nn;

	for (nn = 0; nn < 100; nn++) {
		snprintf(out, MIME_BUILD_BOUNDARY, "=_%s.%c%02u", b->o->unique,
		    kind, nn);
		if (!mime_build_collides(b->r, out))
			return 0;
	}
	return err_set(err, EINVAL, "no boundary fits the content");
}

/* mime_build_collides - s in a text written unencoded */
static bool
mime_build_collides(const struct api_request *r, const char *s)
{
	size_t i;

	if (mime_build_holds(r->text, r->text_len, s) ||
	    mime_build_holds(r->html, r->html_len, s))
		return true;
	for (i = 0; i < r->natts; i++) {
		const struct api_attachment *a = &r->atts[i];

		if (mime_build_holds(a->filename, a->filename ?
		    strlen(a->filename) : 0, s) ||
		    mime_build_holds(a->content_type, a->content_type ?
		    strlen(a->content_type) : 0, s) ||
		    mime_build_holds(a->content_id, a->content_id ?
		    strlen(a->content_id) : 0, s))
			return true;
	}
	return false;
}

/* mime_build_holds - s (which starts with "=") in t[0..len), any case */
static bool
mime_build_holds(const char *t, size_t len, const char *s)
{
	size_t j, k, n = strlen(s);

	for (j = 0; t != NULL && j + n <= len; j++) {
		if (t[j] != '=')
			continue;
		for (k = 1; k < n && (t[j + k] | 0x20) == (s[k] | 0x20); k++)
			;
		if (k == n)
			return true;
	}
	return false;
}

/* mime_build_ctype_ok - "type/subtype" of RFC 2045 tokens, not
   multipart or message (they cannot be base64) */
static bool
mime_build_ctype_ok(const char *s)
{
	const char *slash;
	size_t i, n;

	if (s == NULL || (n = strlen(s)) == 0 || n > API_REQUEST_CTYPE_MAX ||
	    (slash = strchr(s, '/')) == NULL || slash == s || slash[1] == '\0')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (s + i != slash && (c <= 32 || c >= 127 ||
		    strchr("()<>@,;:\\\"/[]?=", c) != NULL))
			return false;
	}
	return strncasecmp(s, "multipart/", 10) != 0 &&
	    strncasecmp(s, "message/", 8) != 0;
}

/* mime_build_cid_ok - atext, "." and "@", as api_request takes them */
static bool
mime_build_cid_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > API_REQUEST_CID_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    strchr("!#$%&'*+-/=?^_`{|}~.@", c) != NULL))
			return false;
	}
	return true;
}

/* mime_build_inline - does a go into multipart/related */
static bool
mime_build_inline(const struct mime_build *b, const struct api_attachment *a)
{
	return b->related && a->content_id != NULL;
}

/* mime_build_headers - the message's own header fields */
static int
mime_build_headers(struct mime_build *b)
{
	const struct api_request *r = b->r;
	struct mime_header h;
	char word[MIME_UNIQUE_MAX + SMTP_DOMAIN_MAX + 4];
	size_t i;

	if (mime_build_addrs(b, "From", &r->from, 1) == -1)
		return -1;
	if (r->reply_to != NULL &&
	    mime_build_addrs(b, "Reply-To", r->reply_to, 1) == -1)
		return -1;
	if (r->nto > 0 || r->ncc == 0) {
		if (mime_build_addrs(b, "To", r->to, r->nto) == -1)
			return -1;
	}
	if (r->ncc > 0 && mime_build_addrs(b, "Cc", r->cc, r->ncc) == -1)
		return -1;
	if (r->subject != NULL &&
	    (mime_header_begin(&h, b->out, "Subject") == -1 ||
	    mime_header_text(&h, r->subject, strlen(r->subject), true) == -1 ||
	    mime_header_end(&h) == -1))
		return -1;
	if (mime_build_date(b->o, b->out) == -1)
		return -1;
	snprintf(word, sizeof(word), "<%s@%s>", b->o->unique, b->o->hostname);
	if (mime_header_begin(&h, b->out, "Message-ID") == -1 ||
	    mime_header_word(&h, word, strlen(word)) == -1 ||
	    mime_header_end(&h) == -1 ||
	    buf_puts(b->out, "MIME-Version: 1.0\r\n") == -1)
		return -1;
	for (i = 0; i < r->nheaders; i++) {
		const struct api_header *f = &r->headers[i];

		if (mime_header_begin(&h, b->out, f->name) == -1 ||
		    mime_header_text(&h, f->value, strlen(f->value),
		    false) == -1 || mime_header_end(&h) == -1)
			return -1;
	}
	return 0;
}

/*
 * mime_build_addrs - "Name: a, b, c"; with no address (To: when only
 * Bcc recipients exist) the empty group "undisclosed-recipients:;"
 */
static int
mime_build_addrs(struct mime_build *b, const char *name,
    const struct api_addr *list, size_t n)
{
	struct mime_header h;
	size_t i;

	if (mime_header_begin(&h, b->out, name) == -1)
		return -1;
	if (n == 0 && mime_header_word(&h, "undisclosed-recipients:;",
	    24) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (mime_build_mailbox(&h, &list[i], i + 1 < n) == -1)
			return -1;
	return mime_header_end(&h);
}

/* mime_build_mailbox - [phrase] <addr>, or addr, and a comma if asked */
static int
mime_build_mailbox(struct mime_header *h, const struct api_addr *a,
    bool comma)
{
	char word[SMTP_PATH_MAX + 4];
	bool named = a->name != NULL && a->name[0] != '\0';
	int n;

	if (named && mime_header_phrase(h, a->name, strlen(a->name)) == -1)
		return -1;
	n = snprintf(word, sizeof(word), named ? "<%s>%s" : "%s%s", a->addr,
	    comma ? "," : "");
	return mime_header_word(h, word, (size_t)n);
}

/* mime_build_root - the message's body entity: mixed when there are
   attachments outside "related", else the text/html block */
static int
mime_build_root(struct mime_build *b)
{
	const struct api_request *r = b->r;
	bool first = true;
	size_t i, nmixed = 0;

	for (i = 0; i < r->natts; i++)
		if (!mime_build_inline(b, &r->atts[i]))
			nmixed++;
	if (nmixed == 0)
		return mime_build_alt(b);
	if (r->text == NULL && r->html == NULL && nmixed == 1 &&
	    !b->related)
		return mime_build_att(b, &r->atts[0], false);
	if (mime_build_multipart(b, "mixed", b->b_mixed) == -1)
		return -1;
	if (r->text != NULL || r->html != NULL) {
		if (mime_build_alt(b) == -1)
			return -1;
		first = false;
	}
	for (i = 0; i < r->natts; i++) {
		if (mime_build_inline(b, &r->atts[i]))
			continue;
		if ((!first && mime_build_delim(b, b->b_mixed, false) == -1) ||
		    mime_build_att(b, &r->atts[i], false) == -1)
			return -1;
		first = false;
	}
	return mime_build_delim(b, b->b_mixed, true);
}

/* mime_build_alt - text and html as alternatives, or the one given */
static int
mime_build_alt(struct mime_build *b)
{
	const struct api_request *r = b->r;

	if (r->text == NULL)
		return mime_build_html(b);
	if (r->html == NULL)
		return mime_build_text(b, r->text, r->text_len, "plain");
	if (mime_build_multipart(b, "alternative", b->b_alt) == -1 ||
	    mime_build_text(b, r->text, r->text_len, "plain") == -1 ||
	    mime_build_delim(b, b->b_alt, false) == -1 ||
	    mime_build_html(b) == -1)
		return -1;
	return mime_build_delim(b, b->b_alt, true);
}

/* mime_build_html - the HTML, with its inline parts in "related" */
static int
mime_build_html(struct mime_build *b)
{
	const struct api_request *r = b->r;
	size_t i;

	if (!b->related)
		return mime_build_text(b, r->html, r->html_len, "html");
	if (mime_build_multipart(b, "related", b->b_rel) == -1 ||
	    mime_build_text(b, r->html, r->html_len, "html") == -1)
		return -1;
	for (i = 0; i < r->natts; i++)
		if (mime_build_inline(b, &r->atts[i]) &&
		    (mime_build_delim(b, b->b_rel, false) == -1 ||
		    mime_build_att(b, &r->atts[i], true) == -1))
			return -1;
	return mime_build_delim(b, b->b_rel, true);
}

/* mime_build_text - a text/SUBTYPE part, 7bit or quoted-printable */
static int
mime_build_text(struct mime_build *b, const char *p, size_t n,
    const char *subtype)
{
	bool seven = mime_build_7bit(p, n);
	size_t i;

	if (buf_appendf(b->out, "Content-Type: text/%s; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: %s\r\n\r\n", subtype,
	    seven ? "7bit" : "quoted-printable") == -1)
		return -1;
	if (!seven)
		return qp_encode(p, n, b->out);
	for (i = 0; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n') {
			if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
				i++;
			if (buf_append(b->out, "\r\n", 2) == -1)
				return -1;
		} else if (buf_append(b->out, p + i, 1) == -1)
			return -1;
	}
	return 0;
}

/*
 * mime_build_7bit - can p go out as it is: printable ASCII and tabs, in
 * lines (any line break) of at most MIME_LINE_MAX octets
 */
static bool
mime_build_7bit(const char *p, size_t n)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r' || c == '\n')
			col = 0;
		else if ((c < 0x20 && c != '\t') || c >= 0x7f ||
		    ++col > MIME_LINE_MAX)
			return false;
	}
	return true;
}

/* mime_build_att - an attachment or inline part, base64 */
static int
mime_build_att(struct mime_build *b, const struct api_attachment *a,
    bool inl)
{
	const char *fn = a->filename;
	char ct[API_REQUEST_CTYPE_MAX + 2];
	struct mime_header h;
	bool ascii_name = fn != NULL && mime_build_quotable("name", fn);
	size_t i;

	/* Content-Type: type/subtype; name="..." (old readers look there) */
	snprintf(ct, sizeof(ct), "%s%s", a->content_type,
	    ascii_name ? ";" : "");
	if (mime_header_begin(&h, b->out, "Content-Type") == -1 ||
	    mime_header_word(&h, ct, strlen(ct)) == -1)
		return -1;
	if ((ascii_name && mime_build_param(&h, "name", fn, true) == -1) ||
	    mime_header_end(&h) == -1)
		return -1;
	if (buf_puts(b->out, "Content-Transfer-Encoding: base64\r\n") == -1)
		return -1;
	if (mime_header_begin(&h, b->out, "Content-Disposition") == -1)
		return -1;
	if (fn != NULL && fn[0] != '\0') {
		if (mime_header_word(&h, inl ? "inline;" : "attachment;",
		    inl ? 7 : 11) == -1 ||
		    mime_build_param(&h, "filename", fn, true) == -1)
			return -1;
	} else if (mime_header_word(&h, inl ? "inline" : "attachment",
	    inl ? 6 : 10) == -1)
		return -1;
	if (mime_header_end(&h) == -1)
		return -1;
	if (a->content_id != NULL &&
	    buf_appendf(b->out, "Content-ID: <%s>\r\n", a->content_id) == -1)
		return -1;
	if (buf_append(b->out, "\r\n", 2) == -1)
		return -1;
	for (i = 0; i < a->len; i += MIME_BUILD_B64_LINE) {
		size_t k = a->len - i < MIME_BUILD_B64_LINE ? a->len - i :
		    MIME_BUILD_B64_LINE;

		if ((i > 0 && buf_append(b->out, "\r\n", 2) == -1) ||
		    base64_encode(a->data + i, k, b->out) == -1)
			return -1;
	}
	return 0;
}

/*
 * mime_build_param - attr="value" for printable ASCII that fits a line,
 * else RFC 2231 attr*=utf-8''%XX..., split into attr*0*=, attr*1*=, ...
 * when it would not fit a line; segments end on character boundaries.
 */
static int
mime_build_param(struct mime_header *h, const char *attr, const char *v,
    bool last)
{
	static const char hex[] = "0123456789ABCDEF";
	char word[MIME_BUILD_QUOTED_MAX + MIME_BUILD_SEGMENT + 32];
	size_t i, k, n = strlen(v), enc, seg, nseg, start;

	if (mime_build_quotable(attr, v)) {
		k = (size_t)snprintf(word, sizeof(word), "%s=\"", attr);
		for (i = 0; i < n; i++) {
			if (v[i] == '"' || v[i] == '\\')
				word[k++] = '\\';
			word[k++] = v[i];
		}
		word[k++] = '"';
		if (!last)
			word[k++] = ';';
		return mime_header_word(h, word, k);
	}
	/* how many segments: percent-encoded length over the segment size */
	for (i = enc = 0; i < n; i++)
		enc += mime_build_attr_char((unsigned char)v[i]) ? 1 : 3;
	for (start = 0, nseg = 0; start < n; nseg++) {
		if (enc <= MIME_BUILD_SEGMENT)
			k = (size_t)snprintf(word, sizeof(word), "%s*=", attr);
		else
			k = (size_t)snprintf(word, sizeof(word), "%s*%zu*=",
			    attr, nseg);
		if (nseg == 0)
			k += (size_t)snprintf(word + k, sizeof(word) - k,
			    "utf-8''");
		for (seg = 0, i = start; i < n;) {
			/* one character: its octets, none split */
			size_t c = 1, j;

			while (i + c < n && ((unsigned char)v[i + c] & 0xc0) ==
			    0x80 && c < 4)
				c++;
			if (seg > 0 && seg + 3 * c > MIME_BUILD_SEGMENT)
				break;
			for (j = i; j < i + c; j++) {
				unsigned char o = (unsigned char)v[j];

				if (mime_build_attr_char(o)) {
					word[k++] = (char)o;
					seg++;
				} else {
					word[k++] = '%';
					word[k++] = hex[o >> 4];
					word[k++] = hex[o & 15];
					seg += 3;
				}
			}
			i += c;
		}
		start = i;
		if (start < n || !last)
			word[k++] = ';';
		if (mime_header_word(h, word, k) == -1)
			return -1;
	}
	return 0;
}

/* mime_build_quotable - v printable ASCII, and attr="v" short enough */
static bool
mime_build_quotable(const char *attr, const char *v)
{
	size_t i, len = strlen(attr) + 3;

	for (i = 0; v[i] != '\0'; i++) {
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
			return false;
		len += v[i] == '"' || v[i] == '\\' ? 2 : 1;
	}
	return i > 0 && len <= MIME_BUILD_QUOTED_MAX;
}

/* mime_build_attr_char - RFC 2231 attribute-char (RFC 5987's set) */
static bool
mime_build_attr_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL);
}

/* mime_build_multipart - the Content-Type of a multipart, the empty line
   and the first delimiter */
static int
mime_build_multipart(struct mime_build *b, const char *subtype,
    const char *boundary)
{
	return buf_appendf(b->out, "Content-Type: multipart/%s;\r\n"
	    " boundary=\"%s\"\r\n\r\n--%s\r\n", subtype, boundary, boundary);
}

/* mime_build_delim - the delimiter before the next part, or the close */
static int
mime_build_delim(struct mime_build *b, const char *boundary, bool close)
{
	return buf_appendf(b->out, "\r\n--%s%s\r\n", boundary,
	    close ? "--" : "");
}
