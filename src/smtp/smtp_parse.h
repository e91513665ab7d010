/* SPDX-License-Identifier: ISC */
/*
 * smtp_parse.h - parse one SMTP command line (RFC 5321 4.1.1) into a
 * struct smtp_cmd. Pure: no I/O, no globals, no allocation; every slice
 * in the result points into the caller's line.
 */
#ifndef RELAIS_SMTP_PARSE_H
#define RELAIS_SMTP_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/str.h"

/* RFC 5321 4.5.3.1.4: command line, CRLF included */
#define SMTP_CMD_LINE_MAX	512

enum smtp_verb {
	SMTP_CMD_UNKNOWN = 0,
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_BDAT,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_VRFY,
	SMTP_CMD_EXPN,
	SMTP_CMD_HELP,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH,
	SMTP_CMD__COUNT
};

enum smtp_parse_result {
	SMTP_PARSE_OK = 0,
	SMTP_PARSE_UNKNOWN,	/* verb not recognised: 500 5.5.1 */
	SMTP_PARSE_SYNTAX,	/* recognised verb, bad arguments: 501 5.5.4 */
	SMTP_PARSE_TOOLONG,	/* over SMTP_CMD_LINE_MAX - 2 octets: 500 5.5.2 */
	SMTP_PARSE_BADCHAR,	/* NUL, CR, LF or other control octet: 500 5.5.2 */
};

struct smtp_cmd {
	enum smtp_verb	verb;
	struct str	verb_text;	/* the verb as the client wrote it */
	struct str	arg;		/* HELO/EHLO domain, VRFY/EXPN/HELP/NOOP
					   argument, AUTH "mech [initial]";
					   trimmed; empty if none */
	struct str	path;		/* MAIL/RCPT: "<...>" with the brackets */
	struct str	params;		/* MAIL/RCPT: text after the path, trimmed */
	uint64_t	bdat_size;	/* BDAT chunk size */
	bool		bdat_last;	/* BDAT ... LAST */
};

/*
 * smtp_parse_command - parse line (without its CRLF) into cmd_out.
 * Verbs are case-insensitive. MAIL/RCPT accept "FROM:<p>" / "TO:<p>" with
 * optional spaces after the colon (common client behaviour). On failure
 * *why_out (if not NULL) points to a static English reason suitable for
 * the reply text.
 */
enum smtp_parse_result smtp_parse_command(struct str line,
	    struct smtp_cmd *cmd_out, const char **why_out);

/* smtp_parse_verb_name - upper-case name of a verb ("MAIL") */
const char *smtp_parse_verb_name(enum smtp_verb verb);

#endif
