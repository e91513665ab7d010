/* SPDX-License-Identifier: ISC */
/*
 * dovecot_proto.c - Dovecot's authentication protocol, client side; see
 * dovecot_proto.h.
 *
 * Strict where a mistake would matter and lenient where the protocol
 * says so: the first line must be VERSION with major 1 (anything else is
 * not a Dovecot auth-client socket), DONE must come with PLAIN among
 * the mechanisms, and an OK counts only for our request id and only
 * without `nologin` or `proxy` (the credentials were right but the user
 * may not log in here). Unknown commands and parameters are ignored, as
 * the protocol asks. Lines over DOVECOT_LINE_MAX and NUL octets are
 * errors.
 *
 * The request says `nologin` (nothing will ask Dovecot for this login
 * again: it need not keep it for a master process) and `no-penalty`:
 * relais keeps its own per-address failure counts and bans
 * ([limits] auth_failures_per_ip), and Dovecot's penalty would hold a
 * check thread for up to 15 s on every attempt from that address,
 * right passwords included. Dovecot's fixed delay of failures
 * (auth_failure_delay) stays.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/dovecot_proto.h"
#include "core/base64.h"

/* the longest IP address text sent (longer ones are left out), and the
   longest AUTH line: fixed text, session id, two escaped addresses, the
   base64 of two fields and two NULs */
#define DOVECOT_IP_MAX		64
#define DOVECOT_AUTH_LINE_MAX	(128 + 2 * 2 * DOVECOT_IP_MAX + \
				 4 * ((2 * SASL_FIELD_MAX + 2 + 2) / 3) + 2)

void
dovecot_client_init(struct dovecot_client *c, unsigned id)
{
	c->state = DOVECOT_S_HANDSHAKE;
	c->id = id;
	c->version = false;
	c->plain = false;
	c->len = 0;
	c->line[0] = '\0';
	c->user[0] = '\0';
	c->error[0] = '\0';
}

/* dovecot_error - DOVECOT_ERROR with a message; the machine is done */
static enum dovecot_result
dovecot_error(struct dovecot_client *c, const char *msg)
{
	snprintf(c->error, sizeof(c->error), "%s", msg);
	c->state = DOVECOT_S_DONE;
	return DOVECOT_ERROR;
}

/* dovecot_field - the next TAB-separated field of *p (NULL at the end) */
static char *
dovecot_field(char **p)
{
	char *f = *p, *tab;

	if (f == NULL)
		return NULL;
	if ((tab = strchr(f, '\t')) != NULL) {
		*tab = '\0';
		*p = tab + 1;
	} else {
		*p = NULL;
	}
	return f;
}

/* dovecot_number - a decimal of 1..10 digits that fits 32 bits */
static bool
dovecot_number(const char *s, unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 10; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (i == 0 || s[i] != '\0' || v > 0xffffffffUL)
		return false;
	*out = v;
	return true;
}

/* dovecot_handshake - one server line before DONE */
static enum dovecot_result
dovecot_handshake(struct dovecot_client *c, char *cmd, char *rest)
{
	unsigned long major;
	char *f;

	if (!c->version) {
		if (strcmp(cmd, "VERSION") != 0)
			return dovecot_error(c, "not a Dovecot auth-client "
			    "socket: no VERSION line");
		f = dovecot_field(&rest);
		if (f == NULL || !dovecot_number(f, &major))
			return dovecot_error(c, "bad VERSION line");
		if (major != DOVECOT_PROTO_MAJOR)
			return dovecot_error(c, "unsupported protocol major "
			    "version (want 1)");
		c->version = true;
		return DOVECOT_MORE;
	}
	if (strcmp(cmd, "MECH") == 0) {
		if ((f = dovecot_field(&rest)) != NULL &&
		    strcasecmp(f, "PLAIN") == 0)
			c->plain = true;
		return DOVECOT_MORE;
	}
	if (strcmp(cmd, "DONE") != 0)
		return DOVECOT_MORE;	/* SPID, CUID, COOKIE, ... */
	if (!c->plain)
		return dovecot_error(c, "Dovecot does not offer PLAIN "
		    "(auth_mechanisms)");
	c->state = DOVECOT_S_WAIT;
	return DOVECOT_READY;
}

/* dovecot_user - the user= value of an OK: printable, 1..USER_MAX */
static bool
dovecot_user(struct dovecot_client *c, const char *v)
{
	size_t n;

	if (dovecot_proto_unescape(v, strlen(v), c->user, sizeof(c->user),
	    &n) == -1 || n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)c->user[i];

		if (ch < 0x20 || ch == 0x7f)
			return false;
	}
	return true;
}

/* dovecot_answer - one server line after our AUTH */
static enum dovecot_result
dovecot_answer(struct dovecot_client *c, char *cmd, char *rest)
{
	unsigned long id;
	bool ok, temp = false, denied = false;
	char *f, *reason = NULL;

	ok = strcmp(cmd, "OK") == 0;
	if (!ok && strcmp(cmd, "FAIL") != 0 && strcmp(cmd, "CONT") != 0)
		return DOVECOT_MORE;	/* not for us */
	if ((f = dovecot_field(&rest)) == NULL || !dovecot_number(f, &id))
		return dovecot_error(c, "reply without a request id");
	if (id != c->id)
		return DOVECOT_MORE;	/* another request's */
	if (strcmp(cmd, "CONT") == 0)
		return dovecot_error(c, "Dovecot wants more (CONT) after the "
		    "PLAIN response");
	c->user[0] = '\0';
	while ((f = dovecot_field(&rest)) != NULL) {
		if (strncmp(f, "user=", 5) == 0) {
			if (ok && !dovecot_user(c, f + 5))
				return dovecot_error(c, "bad user= in OK");
		} else if (strcmp(f, "nologin") == 0 ||
		    strncmp(f, "nologin=", 8) == 0 ||
		    strcmp(f, "proxy") == 0 || strncmp(f, "proxy=", 6) == 0) {
			denied = true;
		} else if (strcmp(f, "code=temp_fail") == 0 ||
		    strcmp(f, "temp") == 0) {
			temp = true;	/* "temp": before Dovecot 2.3 */
		} else if (strncmp(f, "reason=", 7) == 0) {
			reason = f + 7;
		}
	}
	c->state = DOVECOT_S_DONE;
	if (ok && !denied)
		return DOVECOT_OK;
	c->user[0] = '\0';
	if (!ok && temp) {
		snprintf(c->error, sizeof(c->error), "temporary failure%s%.100s",
		    reason ? ": " : "", reason ? reason : "");
		/* the reason is Dovecot's text: keep it printable */
		for (char *p = c->error; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f ||
			    *p == '"' || *p == '\\')
				*p = '?';
		return DOVECOT_TEMPFAIL;
	}
	return DOVECOT_FAIL;
}

/* dovecot_line - one complete line (c->line, c->len octets) */
static enum dovecot_result
dovecot_line(struct dovecot_client *c)
{
	char *rest = c->line, *cmd;

	if (memchr(c->line, '\0', c->len) != NULL)
		return dovecot_error(c, "NUL octet from the server");
	c->line[c->len] = '\0';
	cmd = dovecot_field(&rest);
	if (c->state == DOVECOT_S_HANDSHAKE)
		return dovecot_handshake(c, cmd, rest);
	return dovecot_answer(c, cmd, rest);
}

enum dovecot_result
dovecot_client_input(struct dovecot_client *c, const char *data, size_t n,
    size_t *used)
{
	enum dovecot_result r = DOVECOT_MORE;
	size_t i = 0;

	while (i < n && c->state != DOVECOT_S_DONE && r == DOVECOT_MORE) {
		const char *nl = memchr(data + i, '\n', n - i);
		size_t take = nl ? (size_t)(nl - (data + i)) : n - i;

		if (take > DOVECOT_LINE_MAX - c->len) {
			r = dovecot_error(c, "line too long");
			i = n;
			break;
		}
		memcpy(c->line + c->len, data + i, take);
		c->len += take;
		i += take;
		if (nl == NULL)
			break;
		i++;	/* the LF */
		r = dovecot_line(c);
		c->len = 0;
	}
	if (c->state == DOVECOT_S_DONE && r == DOVECOT_MORE)
		i = n;	/* after the result: ignored */
	*used = i;
	return r;
}

enum dovecot_result
dovecot_client_eof(struct dovecot_client *c)
{
	if (c->state == DOVECOT_S_DONE)
		return DOVECOT_MORE;
	return dovecot_error(c, c->state == DOVECOT_S_HANDSHAKE ?
	    "connection closed during the handshake" :
	    "connection closed before the answer");
}

int
dovecot_proto_hello(struct buf *out, unsigned long pid)
{
	return buf_appendf(out, "VERSION\t%d\t%d\nCPID\t%lu\n",
	    DOVECOT_PROTO_MAJOR, DOVECOT_PROTO_MINOR, pid);
}

int
dovecot_proto_escape(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		const char *e = NULL;

		switch (*s) {
		case '\001':
			e = "\0011";
			break;
		case '\t':
			e = "\001t";
			break;
		case '\r':
			e = "\001r";
			break;
		case '\n':
			e = "\001n";
			break;
		}
		if (e != NULL ? buf_append(out, e, 2) : buf_append(out, s, 1))
			return -1;
	}
	return 0;
}

int
dovecot_proto_unescape(const char *in, size_t n, char *out, size_t outlen,
    size_t *len_out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char ch = in[i];

		if (ch == '\001' && i + 1 < n) {
			switch (in[++i]) {
			case '0':
				ch = '\0';
				break;
			case '1':
				ch = '\001';
				break;
			case 't':
				ch = '\t';
				break;
			case 'r':
				ch = '\r';
				break;
			case 'n':
				ch = '\n';
				break;
			default:
				ch = in[i];
				break;
			}
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = ch;
	}
	if (outlen == 0)
		return -1;
	out[o] = '\0';
	*len_out = o;
	return 0;
}

/* dovecot_cred - a user name or password that PLAIN can carry */
static bool
dovecot_cred(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= SASL_FIELD_MAX;
}

int
dovecot_proto_auth(struct buf *out, unsigned id,
    const struct dovecot_auth_req *req)
{
	char plain[2 * SASL_FIELD_MAX + 2];
	size_t ul, pl;
	int rc = -1;

	if (!dovecot_cred(req->user) || !dovecot_cred(req->pass))
		return -1;
	ul = strlen(req->user);
	pl = strlen(req->pass);
	/* room for the whole line first, so that no copy of the password's
	   base64 is left behind in memory freed by a growing buffer */
	if (buf_reserve(out, DOVECOT_AUTH_LINE_MAX) == -1)
		return -1;
	/* PLAIN (RFC 4616): empty authzid, authcid, password */
	plain[0] = '\0';
	memcpy(plain + 1, req->user, ul);
	plain[1 + ul] = '\0';
	memcpy(plain + 2 + ul, req->pass, pl);
	if (buf_appendf(out, "AUTH\t%u\tPLAIN\tservice=smtp\tnologin\t"
	    "no-penalty", id) == -1)
		goto out;
	if (req->session != 0 && buf_appendf(out, "\tsession=relais-%llu",
	    (unsigned long long)req->session) == -1)
		goto out;
	if (req->lip != NULL && req->lip[0] != '\0' &&
	    strlen(req->lip) <= DOVECOT_IP_MAX &&
	    (buf_puts(out, "\tlip=") == -1 ||
	    dovecot_proto_escape(out, req->lip) == -1))
		goto out;
	if (req->rip != NULL && req->rip[0] != '\0' &&
	    strlen(req->rip) <= DOVECOT_IP_MAX &&
	    (buf_puts(out, "\trip=") == -1 ||
	    dovecot_proto_escape(out, req->rip) == -1))
		goto out;
	if (req->secured && buf_puts(out, "\tsecured") == -1)
		goto out;
	/* resp= last: the server ignores whatever follows it */
	if (buf_puts(out, "\tresp=") == -1 ||
	    base64_encode(plain, 2 + ul + pl, out) == -1 ||
	    buf_puts(out, "\n") == -1)
		goto out;
	rc = 0;
out:
	explicit_bzero(plain, sizeof(plain));
	return rc;
}
