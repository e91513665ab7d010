/* SPDX-License-Identifier: ISC */
/*
 * sasl.h - the server side of SMTP AUTH mechanisms PLAIN (RFC 4616) and
 * LOGIN (draft-murchison-sasl-login), as a small pure state machine: the
 * session hands it the AUTH argument and each continuation line, and
 * gets back what to answer. No I/O, no globals, no allocation, so the
 * unit test and the fuzzer reach every branch.
 *
 * Only the credentials come out: checking them is passwd_check's job.
 * The password lives in struct sasl until sasl_wipe().
 */
#ifndef RELAIS_AUTH_SASL_H
#define RELAIS_AUTH_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

#define SASL_FIELD_MAX	256	/* user name or password, octets */

enum sasl_mech {
	SASL_MECH_NONE,
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
};

enum sasl_step {
	SASL_STEP_CHALLENGE,	/* send "334 <challenge>", then sasl_next */
	SASL_STEP_DONE,		/* user and pass are set: check them */
	SASL_STEP_BAD_MECH,	/* 504 5.5.4 unrecognised mechanism */
	SASL_STEP_SYNTAX,	/* 501 5.5.2 cannot decode / bad message */
	SASL_STEP_CANCEL,	/* 501 5.7.0 the client sent "*" */
};

struct sasl {
	enum sasl_mech	mech;
	int		step;		/* LOGIN: 0 user, 1 password */
	char		user[SASL_FIELD_MAX + 1];
	char		pass[SASL_FIELD_MAX + 1];
};

/*
 * sasl_start - AUTH's argument, "MECH [initial-response]" (the
 * mechanism name in any case; initial response "=" means empty). On
 * SASL_STEP_CHALLENGE *challenge_out is the base64 text after "334 ".
 */
enum sasl_step sasl_start(struct sasl *sa, struct str arg,
	    const char **challenge_out);
/* sasl_next - one continuation line from the client, CRLF removed */
enum sasl_step sasl_next(struct sasl *sa, struct str line,
	    const char **challenge_out);
/* sasl_wipe - forget the credentials (explicit_bzero) */
void	sasl_wipe(struct sasl *sa);

/*
 * sasl_b64_decode - strict RFC 4648 base64: padding required, no blanks,
 * no characters outside the alphabet, no non-zero bits after the last
 * octet. 0 with *len_out, or -1 (also when it would exceed outlen).
 */
int	sasl_b64_decode(struct str in, char *out, size_t outlen,
	    size_t *len_out);
/* sasl_b64_encode - NUL-terminated base64 of n octets; -1 if too long */
int	sasl_b64_encode(const char *in, size_t n, char *out, size_t outlen);

/* sasl_plain_parse - "authzid NUL authcid NUL passwd" into user, pass */
int	sasl_plain_parse(const char *msg, size_t len, char *user,
	    char *pass);

#endif
