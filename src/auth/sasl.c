/* SPDX-License-Identifier: ISC */
/*
 * sasl.c - PLAIN and LOGIN on the server side; see sasl.h.
 *
 * PLAIN's authzid must be empty or name the same user as authcid: relais
 * lets nobody act for someone else. Empty user names and passwords, NUL
 * octets inside fields and fields over SASL_FIELD_MAX octets are refused
 * as syntax errors before anything is looked up.
 */
#include <string.h>
#include <strings.h>

#include "auth/sasl.h"
#include "core/base64.h"

#define SASL_DECODED_MAX	(3 * SASL_FIELD_MAX + 8)

int
sasl_b64_decode(struct str in, char *out, size_t outlen, size_t *len_out)
{
	return base64_decode(in, BASE64_STRICT, (uint8_t *)out, outlen,
	    len_out);
}

int
sasl_b64_encode(const char *in, size_t n, char *out, size_t outlen)
{
	struct buf b;

	if ((n + 2) / 3 * 4 + 1 > outlen)
		return -1;
	buf_init(&b, outlen);
	base64_encode(in, n, &b);
	memcpy(out, buf_cstr(&b), b.len + 1);
	buf_fini(&b);
	return 0;
}

/* sasl_field - copy a field without NULs of 1..SASL_FIELD_MAX octets */
static int
sasl_field(const char *p, size_t len, char *out)
{
	if (len == 0 || len > SASL_FIELD_MAX || memchr(p, '\0', len) != NULL)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

int
sasl_plain_parse(const char *msg, size_t len, char *user, char *pass)
{
	const char *nul1, *nul2, *end = msg + len;
	size_t zlen;

	if ((nul1 = memchr(msg, '\0', len)) == NULL)
		return -1;
	if ((nul2 = memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1))) == NULL)
		return -1;
	zlen = (size_t)(nul1 - msg);
	if (sasl_field(nul1 + 1, (size_t)(nul2 - nul1 - 1), user) == -1 ||
	    sasl_field(nul2 + 1, (size_t)(end - nul2 - 1), pass) == -1)
		return -1;
	/* an authorization identity other than the user's own: refused */
	if (zlen > 0 && (zlen != strlen(user) ||
	    strncasecmp(msg, user, zlen) != 0))
		return -1;
	return 0;
}

/* sasl_response - decode one client response ("=" is empty) */
static int
sasl_response(struct str in, char *out, size_t *len_out)
{
	if (in.len == 1 && in.p[0] == '=') {
		*len_out = 0;
		return 0;
	}
	return sasl_b64_decode(in, out, SASL_DECODED_MAX, len_out);
}

/* sasl_feed - one response for the current step */
static enum sasl_step
sasl_feed(struct sasl *sa, struct str in, const char **challenge_out)
{
	char dec[SASL_DECODED_MAX];
	size_t n;
	enum sasl_step r = SASL_STEP_SYNTAX;

	if (sasl_response(in, dec, &n) == -1)
		goto out;
	switch (sa->mech) {
	case SASL_MECH_PLAIN:
		if (sasl_plain_parse(dec, n, sa->user, sa->pass) == 0)
			r = SASL_STEP_DONE;
		break;
	case SASL_MECH_LOGIN:
		if (sa->step == 0) {
			if (sasl_field(dec, n, sa->user) == -1)
				break;
			sa->step = 1;
			*challenge_out = "UGFzc3dvcmQ6";	/* Password: */
			r = SASL_STEP_CHALLENGE;
		} else if (sasl_field(dec, n, sa->pass) == 0) {
			r = SASL_STEP_DONE;
		}
		break;
	case SASL_MECH_NONE:
		break;
	}
out:
	memset(dec, 0, sizeof(dec));
	if (r == SASL_STEP_SYNTAX)
		sasl_wipe(sa);
	return r;
}

enum sasl_step
sasl_start(struct sasl *sa, struct str arg, const char **challenge_out)
{
	struct str mech = str_cut(&arg, ' ');

	memset(sa, 0, sizeof(*sa));
	arg = str_trim(arg);
	if (str_eq_nocase(mech, STR("PLAIN")))
		sa->mech = SASL_MECH_PLAIN;
	else if (str_eq_nocase(mech, STR("LOGIN")))
		sa->mech = SASL_MECH_LOGIN;
	else
		return SASL_STEP_BAD_MECH;
	if (arg.len == 0) {
		*challenge_out = sa->mech == SASL_MECH_PLAIN ? "" :
		    "VXNlcm5hbWU6";	/* Username: */
		return SASL_STEP_CHALLENGE;
	}
	if (arg.len == 1 && arg.p[0] == '*') {
		sasl_wipe(sa);
		return SASL_STEP_CANCEL;
	}
	return sasl_feed(sa, arg, challenge_out);
}

enum sasl_step
sasl_next(struct sasl *sa, struct str line, const char **challenge_out)
{
	if (line.len == 1 && line.p[0] == '*') {
		sasl_wipe(sa);
		return SASL_STEP_CANCEL;
	}
	return sasl_feed(sa, line, challenge_out);
}

void
sasl_wipe(struct sasl *sa)
{
	explicit_bzero(sa->user, sizeof(sa->user));
	explicit_bzero(sa->pass, sizeof(sa->pass));
	sa->mech = SASL_MECH_NONE;
	sa->step = 0;
}
