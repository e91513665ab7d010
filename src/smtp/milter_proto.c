/* SPDX-License-Identifier: ISC */
/*
 * milter_proto.c - milter protocol packets built and read (see
 * milter_proto.h). Every length is checked before it is used: a milter's
 * packet is read only within the bytes the caller holds.
 */
#include <ctype.h>
#include <string.h>

#include "smtp/milter_proto.h"

static void
milter_put32(struct buf *out, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24),
	    (unsigned char)(v >> 16), (unsigned char)(v >> 8),
	    (unsigned char)v };

	buf_append(out, b, 4);
}

static uint32_t
milter_get32(const char *p)
{
	const unsigned char *b = (const unsigned char *)p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
}

/* milter_begin - the packet header with a length to fill in later;
   returns the offset of the length */
static size_t
milter_begin(struct buf *out, char cmd)
{
	size_t at = out->len;

	milter_put32(out, 0);
	buf_append(out, &cmd, 1);
	return at;
}

static void
milter_end(struct buf *out, size_t at)
{
	uint32_t n = (uint32_t)(out->len - at - 4);

	if (out->data == NULL || out->len < at + 5)
		return;		/* the buffer refused to grow */
	out->data[at] = (char)(n >> 24);
	out->data[at + 1] = (char)(n >> 16);
	out->data[at + 2] = (char)(n >> 8);
	out->data[at + 3] = (char)n;
}

/* milter_put_str - s without NUL octets in it, then a NUL; cut to room */
static void
milter_put_str(struct buf *out, struct str s, size_t room)
{
	size_t n = 0;

	while (n < s.len && n + 1 < room && s.p[n] != '\0')
		n++;
	if (n > 0)
		buf_append(out, s.p, n);
	buf_append(out, "", 1);
}

void
milter_enc_optneg(struct buf *out, uint32_t version, uint32_t actions,
    uint32_t protocol)
{
	size_t at = milter_begin(out, SMFIC_OPTNEG);

	milter_put32(out, version);
	milter_put32(out, actions);
	milter_put32(out, protocol);
	milter_end(out, at);
}

void
milter_enc_macros(struct buf *out, char cmd, const char *const *names,
    const char *const *values, size_t n)
{
	size_t at, used = 1, pairs = 0;

	for (size_t i = 0; i < n; i++)
		if (values[i] != NULL)
			pairs++;
	if (pairs == 0)
		return;
	at = milter_begin(out, SMFIC_MACRO);
	buf_append(out, &cmd, 1);
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(names[i]), vl;

		if (values[i] == NULL)
			continue;
		vl = strlen(values[i]);
		if (used + nl + vl + 2 + 1 > MILTER_SEND_MAX)
			continue;
		milter_put_str(out, str_make(names[i], nl), nl + 1);
		milter_put_str(out, str_make(values[i], vl), vl + 1);
		used += nl + vl + 2;
	}
	milter_end(out, at);
}

void
milter_enc_connect(struct buf *out, const char *host, char family,
    uint16_t port, const char *addr)
{
	size_t at = milter_begin(out, SMFIC_CONNECT);
	unsigned char pb[2] = { (unsigned char)(port >> 8),
	    (unsigned char)port };

	milter_put_str(out, str_cstr(host), 1024);
	buf_append(out, &family, 1);
	if (family != SMFIA_UNKNOWN) {
		buf_append(out, pb, 2);
		milter_put_str(out, str_cstr(addr), 1024);
	}
	milter_end(out, at);
}

void
milter_enc_strings(struct buf *out, char cmd, const char *const *v, size_t n)
{
	size_t at = milter_begin(out, cmd), used = 1;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i]);

		if (used + l + 1 > MILTER_SEND_MAX)
			break;
		milter_put_str(out, str_make(v[i], l), l + 1);
		used += l + 1;
	}
	milter_end(out, at);
}

void
milter_enc_header(struct buf *out, struct str name, struct str value)
{
	size_t at = milter_begin(out, SMFIC_HEADER);
	size_t room = MILTER_SEND_MAX - 1;

	if (name.len + 1 > room / 2)
		name.len = room / 2 - 1;
	milter_put_str(out, name, name.len + 1);
	room -= name.len + 1;
	milter_put_str(out, value, room);
	milter_end(out, at);
}

void
milter_enc_body(struct buf *out, const char *p, size_t n)
{
	size_t at = milter_begin(out, SMFIC_BODY);

	if (n > MILTER_CHUNK_MAX)
		n = MILTER_CHUNK_MAX;
	if (n > 0)
		buf_append(out, p, n);
	milter_end(out, at);
}

void
milter_enc_simple(struct buf *out, char cmd)
{
	size_t at = milter_begin(out, cmd);

	milter_end(out, at);
}

enum milter_frame
milter_frame(const void *p, size_t n, char *cmd, const char **data,
    size_t *len, size_t *used)
{
	const char *b = p;
	uint32_t plen;

	if (n < 4)
		return MILTER_FRAME_MORE;
	plen = milter_get32(b);
	if (plen < 1 || plen > MILTER_PACKET_MAX)
		return MILTER_FRAME_BAD;
	if (n - 4 < plen)
		return MILTER_FRAME_MORE;
	*cmd = b[4];
	*data = b + 5;
	*len = plen - 1;
	*used = 4 + (size_t)plen;
	return MILTER_FRAME_OK;
}

/* milter_take_str - a NUL-terminated string at the front of p, n */
static int
milter_take_str(const char **p, size_t *n, struct str *out)
{
	const char *z = *n ? memchr(*p, '\0', *n) : NULL;

	if (z == NULL)
		return -1;
	*out = str_make(*p, (size_t)(z - *p));
	*n -= out->len + 1;
	*p = z + 1;
	return 0;
}

int
milter_dec_optneg(const char *data, size_t len, uint32_t our_actions,
    struct milter_optneg *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	if (len < 12) {
		*why = "negotiation reply too short";
		return -1;
	}
	out->version = milter_get32(data);
	out->actions = milter_get32(data + 4);
	out->protocol = milter_get32(data + 8);
	data += 12;
	len -= 12;
	if (out->version < 2 || out->version > MILTER_VERSION) {
		*why = "unsupported protocol version";
		return -1;
	}
	if ((out->actions & ~our_actions) != 0) {
		*why = "milter asks for actions not offered";
		return -1;
	}
	/* SMFIR_SETSYMLIST: (stage, "names") pairs */
	while (len > 0) {
		uint32_t stage;
		struct str names;

		if (len < 5) {
			*why = "malformed macro list";
			return -1;
		}
		stage = milter_get32(data);
		data += 4;
		len -= 4;
		if (milter_take_str(&data, &len, &names) == -1) {
			*why = "malformed macro list";
			return -1;
		}
		if (stage < MILTER_STAGE__COUNT) {
			out->macros[stage] = names;
			out->has_macros[stage] = true;
		}
	}
	return 0;
}

/* milter_reply_line - one line "DDD[- ][X.Y.Z ]text" of code code (0:
   the first, which sets it); returns the code or -1 */
static int
milter_reply_line(struct str l, int code)
{
	int c;
	size_t i;

	if (l.len < 3 || !isdigit((unsigned char)l.p[0]) ||
	    !isdigit((unsigned char)l.p[1]) || !isdigit((unsigned char)l.p[2]))
		return -1;
	c = (l.p[0] - '0') * 100 + (l.p[1] - '0') * 10 + (l.p[2] - '0');
	if ((l.p[0] != '4' && l.p[0] != '5') || (code != 0 && c != code))
		return -1;
	if (l.len > 3 && l.p[3] != ' ' && l.p[3] != '-')
		return -1;
	/* an enhanced status code must be of the reply's class */
	if (l.len > 5 && isdigit((unsigned char)l.p[4]) && l.p[5] == '.' &&
	    l.p[4] != l.p[0])
		return -1;
	for (i = 3; i < l.len; i++) {
		unsigned char ch = (unsigned char)l.p[i];

		if (ch < 0x20 && ch != '\t')
			return -1;
		if (ch == 0x7f)
			return -1;
	}
	return c;
}

int
milter_reply_check(struct str text)
{
	struct str rest = text;
	int code = 0;
	size_t lines = 0;

	if (text.len == 0 || text.len > 4000)
		return -1;
	while (rest.len > 0) {
		const char *crlf = NULL;
		struct str l;

		for (size_t i = 0; i + 1 < rest.len; i++)
			if (rest.p[i] == '\r' && rest.p[i + 1] == '\n') {
				crlf = rest.p + i;
				break;
			}
		l = str_make(rest.p, crlf ? (size_t)(crlf - rest.p) : rest.len);
		if ((code = milter_reply_line(l, code)) == -1)
			return -1;
		/* every line but the last says "DDD-" */
		if (crlf != NULL && (l.len < 4 || l.p[3] != '-'))
			return -1;
		if (crlf == NULL && l.len > 3 && l.p[3] == '-')
			return -1;
		if (++lines > 32)
			return -1;
		if (crlf == NULL)
			break;
		rest.len -= l.len + 2;
		rest.p = crlf + 2;
		if (rest.len == 0)
			return -1;	/* a CRLF at the very end */
	}
	return code;
}

void
milter_reply_smtp(struct str text, char *out, size_t max)
{
	size_t o = 0;

	if (max == 0)
		return;
	for (size_t i = 0; i < text.len && o + 1 < max; i++) {
		char c = text.p[i];

		if (c == '%') {
			if (i + 1 < text.len && text.p[i + 1] == '%')
				i++;
			else
				continue;
		}
		out[o++] = c;
	}
	out[o] = '\0';
}

int
milter_dec_reply(char cmd, const char *data, size_t len,
    struct milter_reply *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	switch (cmd) {
	case SMFIR_CONTINUE:
	case SMFIR_ACCEPT:
	case SMFIR_REJECT:
	case SMFIR_TEMPFAIL:
	case SMFIR_DISCARD:
	case SMFIR_SHUTDOWN:
	case SMFIR_CONN_FAIL:
	case SMFIR_SKIP:
	case SMFIR_PROGRESS:
		if (len != 0) {
			*why = "data after a reply that takes none";
			return -1;
		}
		out->type = cmd == SMFIR_CONTINUE ? MILTER_R_CONTINUE :
		    cmd == SMFIR_ACCEPT ? MILTER_R_ACCEPT :
		    cmd == SMFIR_REJECT ? MILTER_R_REJECT :
		    cmd == SMFIR_TEMPFAIL ? MILTER_R_TEMPFAIL :
		    cmd == SMFIR_DISCARD ? MILTER_R_DISCARD :
		    cmd == SMFIR_SKIP ? MILTER_R_SKIP :
		    cmd == SMFIR_PROGRESS ? MILTER_R_PROGRESS :
		    MILTER_R_SHUTDOWN;
		return 0;
	case SMFIR_REPLYCODE:
		out->type = MILTER_R_REPLYCODE;
		if (milter_take_str(&data, &len, &out->text) == -1 ||
		    len != 0) {
			*why = "malformed reply code";
			return -1;
		}
		if (milter_reply_check(out->text) == -1) {
			*why = "reply code not a 4XX or 5XX SMTP reply";
			return -1;
		}
		return 0;
	case SMFIR_QUARANTINE:
		out->type = MILTER_R_QUARANTINE;
		/* the reason; libmilter NUL-terminates it, be lenient */
		if (milter_take_str(&data, &len, &out->text) == -1)
			out->text = str_make(data, len);
		return 0;
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		out->type = cmd == SMFIR_ADDHEADER ? MILTER_R_ADDHEADER :
		    cmd == SMFIR_INSHEADER ? MILTER_R_INSHEADER :
		    MILTER_R_CHGHEADER;
		if (cmd != SMFIR_ADDHEADER) {
			if (len < 4) {
				*why = "header edit without an index";
				return -1;
			}
			out->index = milter_get32(data);
			data += 4;
			len -= 4;
		}
		if (milter_take_str(&data, &len, &out->name) == -1 ||
		    milter_take_str(&data, &len, &out->value) == -1 ||
		    len != 0) {
			*why = "malformed header edit";
			return -1;
		}
		return 0;
	case SMFIR_ADDRCPT:
	case SMFIR_DELRCPT:
		out->type = cmd == SMFIR_ADDRCPT ? MILTER_R_ADDRCPT :
		    MILTER_R_DELRCPT;
		if (milter_take_str(&data, &len, &out->text) == -1 ||
		    len != 0 || out->text.len == 0) {
			*why = "malformed recipient edit";
			return -1;
		}
		return 0;
	case SMFIR_ADDRCPT_PAR:
	case SMFIR_CHGFROM:
		out->type = cmd == SMFIR_CHGFROM ? MILTER_R_CHGFROM :
		    MILTER_R_ADDRCPT;
		if (milter_take_str(&data, &len, &out->text) == -1 ||
		    out->text.len == 0) {
			*why = "malformed address edit";
			return -1;
		}
		if (len > 0 && (milter_take_str(&data, &len, &out->args) ==
		    -1 || len != 0)) {
			*why = "malformed address edit";
			return -1;
		}
		return 0;
	case SMFIR_REPLBODY:
		out->type = MILTER_R_REPLBODY;
		out->text = str_make(data, len);
		return 0;
	default:
		*why = "unknown reply";
		return -1;
	}
}

bool
milter_macro_name(struct str *list, struct str *name)
{
	size_t i = 0;

	while (i < list->len && (list->p[i] == ' ' || list->p[i] == ',' ||
	    list->p[i] == '\t' || list->p[i] == '\r' || list->p[i] == '\n'))
		i++;
	list->p += i;
	list->len -= i;
	if (list->len == 0)
		return false;
	i = 0;
	while (i < list->len && list->p[i] != ' ' && list->p[i] != ',' &&
	    list->p[i] != '\t' && list->p[i] != '\r' && list->p[i] != '\n')
		i++;
	*name = str_make(list->p, i);
	list->p += i;
	list->len -= i;
	return true;
}

const char *
milter_cmd_name(char cmd)
{
	switch (cmd) {
	case SMFIR_ADDRCPT: return "SMFIR_ADDRCPT";
	case SMFIR_DELRCPT: return "SMFIR_DELRCPT";
	case SMFIR_ADDRCPT_PAR: return "SMFIR_ADDRCPT_PAR";
	case SMFIR_SHUTDOWN: return "SMFIR_SHUTDOWN";
	case SMFIR_ACCEPT: return "SMFIR_ACCEPT";
	case SMFIR_REPLBODY: return "SMFIR_REPLBODY";
	case SMFIR_CONTINUE: return "SMFIR_CONTINUE";
	case SMFIR_DISCARD: return "SMFIR_DISCARD";
	case SMFIR_CHGFROM: return "SMFIR_CHGFROM";
	case SMFIR_CONN_FAIL: return "SMFIR_CONN_FAIL";
	case SMFIR_ADDHEADER: return "SMFIR_ADDHEADER";
	case SMFIR_INSHEADER: return "SMFIR_INSHEADER";
	case SMFIR_SETSYMLIST: return "SMFIR_SETSYMLIST";
	case SMFIR_CHGHEADER: return "SMFIR_CHGHEADER";
	case SMFIR_PROGRESS: return "SMFIR_PROGRESS";
	case SMFIR_QUARANTINE: return "SMFIR_QUARANTINE";
	case SMFIR_REJECT: return "SMFIR_REJECT";
	case SMFIR_SKIP: return "SMFIR_SKIP";
	case SMFIR_TEMPFAIL: return "SMFIR_TEMPFAIL";
	case SMFIR_REPLYCODE: return "SMFIR_REPLYCODE";
	case SMFIC_OPTNEG: return "SMFIC_OPTNEG";
	default: return "unknown";
	}
}
