/* SPDX-License-Identifier: ISC */
/*
 * smtp_parse.c - parse one SMTP command line into a struct smtp_cmd.
 *
 * Pure: no I/O, no globals, no allocation; the result points into the
 * caller's line. Accepts the verbs of RFC 5321 section 4.1.1 plus AUTH
 * (RFC 4954), STARTTLS (RFC 3207) and BDAT (RFC 3030); enforces the
 * 512-octet command limit (4.5.3.1.4). Octets >= 0x80 pass (RFC 6531
 * SMTPUTF8); control octets other than TAB do not.
 *
 * Organisation: a first pass checks length and octets; the verb is then
 * looked up in smtp_parse_verbs[], whose row names the function that
 * checks and splits the argument. Paths and ESMTP parameters are only
 * delimited here; smtp_path.c and smtp_param.c validate them.
 * Fuzzed by tests/fuzz/fuzz_smtp_parse.c.
 */
#include <stddef.h>
#include <stdint.h>

#include "smtp/smtp_parse.h"

/* RFC 3030 chunk size: 18 decimal digits always fit in a uint64_t */
#define SMTP_PARSE_BDAT_DIGITS	18
/* RFC 4422 3.1: SASL mechanism names are 1 to 20 characters */
#define SMTP_PARSE_MECH_MAX	20

typedef enum smtp_parse_result smtp_parse_arg_fn(struct str arg,
    struct smtp_cmd *cmd, const char **why_out);

struct smtp_parse_verb {
	const char		*name;
	smtp_parse_arg_fn	*arg;	/* checks and splits the argument */
	const char		*usage;	/* reason on SMTP_PARSE_SYNTAX; reads
					   well after "Syntax error: " */
};

static bool smtp_parse_is_space(char c);
static struct str smtp_parse_word(struct str *s);
static enum smtp_parse_result smtp_parse_fail(enum smtp_parse_result r,
    const char *why, const char **why_out);
static smtp_parse_arg_fn smtp_parse_arg_none;
static smtp_parse_arg_fn smtp_parse_arg_optional;
static smtp_parse_arg_fn smtp_parse_arg_required;
static smtp_parse_arg_fn smtp_parse_arg_mail;
static smtp_parse_arg_fn smtp_parse_arg_rcpt;
static smtp_parse_arg_fn smtp_parse_arg_bdat;
static smtp_parse_arg_fn smtp_parse_arg_auth;
static enum smtp_parse_result smtp_parse_path_arg(struct str arg,
    struct str prefix, struct smtp_cmd *cmd);

static const struct smtp_parse_verb smtp_parse_verbs[SMTP_CMD__COUNT] = {
	[SMTP_CMD_HELO] = { "HELO", smtp_parse_arg_required,
	    "HELO requires a domain" },
	[SMTP_CMD_EHLO] = { "EHLO", smtp_parse_arg_required,
	    "EHLO requires a domain" },
	[SMTP_CMD_MAIL] = { "MAIL", smtp_parse_arg_mail,
	    "expected MAIL FROM:<address> [parameters]" },
	[SMTP_CMD_RCPT] = { "RCPT", smtp_parse_arg_rcpt,
	    "expected RCPT TO:<address> [parameters]" },
	[SMTP_CMD_DATA] = { "DATA", smtp_parse_arg_none,
	    "DATA takes no argument" },
	[SMTP_CMD_BDAT] = { "BDAT", smtp_parse_arg_bdat,
	    "expected BDAT size [LAST]" },
	[SMTP_CMD_RSET] = { "RSET", smtp_parse_arg_none,
	    "RSET takes no argument" },
	[SMTP_CMD_NOOP] = { "NOOP", smtp_parse_arg_optional,
	    "expected NOOP [string]" },
	[SMTP_CMD_QUIT] = { "QUIT", smtp_parse_arg_none,
	    "QUIT takes no argument" },
	[SMTP_CMD_VRFY] = { "VRFY", smtp_parse_arg_required,
	    "VRFY requires an argument" },
	[SMTP_CMD_EXPN] = { "EXPN", smtp_parse_arg_required,
	    "EXPN requires an argument" },
	[SMTP_CMD_HELP] = { "HELP", smtp_parse_arg_optional,
	    "expected HELP [string]" },
	[SMTP_CMD_STARTTLS] = { "STARTTLS", smtp_parse_arg_none,
	    "STARTTLS takes no argument" },
	[SMTP_CMD_AUTH] = { "AUTH", smtp_parse_arg_auth,
	    "expected AUTH mechanism [initial-response]" },
};

/* smtp_parse_command - split and check one command line; see smtp_parse.h */
enum smtp_parse_result
smtp_parse_command(struct str line, struct smtp_cmd *cmd_out,
    const char **why_out)
{
	const struct smtp_parse_verb *v;
	struct str rest;
	size_t i;
	enum smtp_parse_result r;

	*cmd_out = (struct smtp_cmd){ .verb = SMTP_CMD_UNKNOWN };
	if (why_out != NULL)
		*why_out = NULL;

	if (line.len > SMTP_CMD_LINE_MAX - 2)
		return smtp_parse_fail(SMTP_PARSE_TOOLONG,
		    "Line too long", why_out);
	for (i = 0; i < line.len; i++) {
		unsigned char c = (unsigned char)line.p[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return smtp_parse_fail(SMTP_PARSE_BADCHAR,
			    "Invalid character in command", why_out);
	}

	/* The verb runs to the first blank; no leading blanks allowed. */
	rest = line;
	for (i = 0; i < rest.len && !smtp_parse_is_space(rest.p[i]); i++)
		;
	cmd_out->verb_text = str_make(rest.p, i);
	rest = str_trim(str_make(rest.p + i, rest.len - i));

	for (i = 1; i < SMTP_CMD__COUNT; i++)
		if (str_eq_nocase(cmd_out->verb_text,
		    str_cstr(smtp_parse_verbs[i].name)))
			break;
	if (i == SMTP_CMD__COUNT)
		return smtp_parse_fail(SMTP_PARSE_UNKNOWN,
		    "Command unrecognized", why_out);
	cmd_out->verb = (enum smtp_verb)i;
	v = &smtp_parse_verbs[i];

	r = v->arg(rest, cmd_out, why_out);
	if (r != SMTP_PARSE_OK && why_out != NULL && *why_out == NULL)
		*why_out = v->usage;
	return r;
}

/* smtp_parse_verb_name - upper-case name of a verb, "UNKNOWN" otherwise */
const char *
smtp_parse_verb_name(enum smtp_verb verb)
{
	if ((unsigned)verb >= SMTP_CMD__COUNT || verb == SMTP_CMD_UNKNOWN)
		return "UNKNOWN";
	return smtp_parse_verbs[verb].name;
}

static bool
smtp_parse_is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* smtp_parse_word - take the next blank-separated word off s */
static struct str
smtp_parse_word(struct str *s)
{
	struct str w;
	size_t i;

	*s = str_trim(*s);
	for (i = 0; i < s->len && !smtp_parse_is_space(s->p[i]); i++)
		;
	w = str_make(s->p, i);
	*s = str_trim(str_make(s->p + i, s->len - i));
	return w;
}

static enum smtp_parse_result
smtp_parse_fail(enum smtp_parse_result r, const char *why,
    const char **why_out)
{
	if (why_out != NULL)
		*why_out = why;
	return r;
}

/* smtp_parse_arg_none - DATA, RSET, QUIT, STARTTLS: nothing may follow */
static enum smtp_parse_result
smtp_parse_arg_none(struct str arg, struct smtp_cmd *cmd,
    const char **why_out)
{
	(void)cmd;
	(void)why_out;
	return arg.len == 0 ? SMTP_PARSE_OK : SMTP_PARSE_SYNTAX;
}

/* smtp_parse_arg_optional - NOOP, HELP: any string or none */
static enum smtp_parse_result
smtp_parse_arg_optional(struct str arg, struct smtp_cmd *cmd,
    const char **why_out)
{
	(void)why_out;
	cmd->arg = arg;
	return SMTP_PARSE_OK;
}

/*
 * smtp_parse_arg_required - HELO, EHLO, VRFY, EXPN: a non-empty string.
 * The HELO/EHLO domain is not checked here: what to accept there is
 * policy, decided by the session.
 */
static enum smtp_parse_result
smtp_parse_arg_required(struct str arg, struct smtp_cmd *cmd,
    const char **why_out)
{
	(void)why_out;
	if (arg.len == 0)
		return SMTP_PARSE_SYNTAX;
	cmd->arg = arg;
	return SMTP_PARSE_OK;
}

static enum smtp_parse_result
smtp_parse_arg_mail(struct str arg, struct smtp_cmd *cmd,
    const char **why_out)
{
	(void)why_out;
	return smtp_parse_path_arg(arg, STR("FROM:"), cmd);
}

static enum smtp_parse_result
smtp_parse_arg_rcpt(struct str arg, struct smtp_cmd *cmd,
    const char **why_out)
{
	(void)why_out;
	return smtp_parse_path_arg(arg, STR("TO:"), cmd);
}

/*
 * smtp_parse_path_arg - "FROM:<path> params" or "TO:<path> params".
 *
 * The path ends at the first '>' outside a quoted string, so that
 * <"a>b"@example.org> is delimited correctly; what lies between the
 * brackets is smtp_path_parse()'s business. Parameters must be separated
 * from the path by a blank.
 */
static enum smtp_parse_result
smtp_parse_path_arg(struct str arg, struct str prefix, struct smtp_cmd *cmd)
{
	bool quoted = false;
	size_t i;

	if (!str_prefix_nocase(arg, prefix))
		return SMTP_PARSE_SYNTAX;
	arg = str_trim(str_make(arg.p + prefix.len, arg.len - prefix.len));
	if (arg.len == 0 || arg.p[0] != '<')
		return SMTP_PARSE_SYNTAX;
	for (i = 1; i < arg.len; i++) {
		if (quoted && arg.p[i] == '\\' && i + 1 < arg.len)
			i++;
		else if (arg.p[i] == '"')
			quoted = !quoted;
		else if (!quoted && arg.p[i] == '>')
			break;
	}
	if (i == arg.len)
		return SMTP_PARSE_SYNTAX;
	cmd->path = str_make(arg.p, i + 1);
	i++;
	if (i < arg.len && !smtp_parse_is_space(arg.p[i]))
		return SMTP_PARSE_SYNTAX;
	cmd->params = str_trim(str_make(arg.p + i, arg.len - i));
	return SMTP_PARSE_OK;
}

/* smtp_parse_arg_bdat - RFC 3030: "BDAT" SP chunk-size [ SP end-marker ] */
static enum smtp_parse_result
smtp_parse_arg_bdat(struct str arg, struct smtp_cmd *cmd,
    const char **why_out)
{
	struct str size, last;
	uint64_t n = 0;
	size_t i;

	size = smtp_parse_word(&arg);
	last = smtp_parse_word(&arg);
	if (arg.len != 0 || size.len == 0)
		return SMTP_PARSE_SYNTAX;
	if (size.len > SMTP_PARSE_BDAT_DIGITS)
		return smtp_parse_fail(SMTP_PARSE_SYNTAX,
		    "BDAT chunk size too large", why_out);
	for (i = 0; i < size.len; i++) {
		if (size.p[i] < '0' || size.p[i] > '9')
			return SMTP_PARSE_SYNTAX;
		n = n * 10 + (uint64_t)(size.p[i] - '0');
	}
	if (last.len != 0 && !str_eq_nocase(last, STR("LAST")))
		return SMTP_PARSE_SYNTAX;
	cmd->bdat_size = n;
	cmd->bdat_last = last.len != 0;
	return SMTP_PARSE_OK;
}

/*
 * smtp_parse_arg_auth - RFC 4954: "AUTH" SP mechanism [ SP initial ].
 * The mechanism must be a SASL name (RFC 4422 3.1, upper case there but
 * accepted in any case); the initial response is one word, decoded later.
 */
static enum smtp_parse_result
smtp_parse_arg_auth(struct str arg, struct smtp_cmd *cmd,
    const char **why_out)
{
	struct str rest = arg, mech;
	size_t i;

	(void)why_out;
	mech = smtp_parse_word(&rest);
	(void)smtp_parse_word(&rest);		/* initial response */
	if (mech.len == 0 || mech.len > SMTP_PARSE_MECH_MAX || rest.len != 0)
		return SMTP_PARSE_SYNTAX;
	for (i = 0; i < mech.len; i++) {
		char c = mech.p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return SMTP_PARSE_SYNTAX;
	}
	cmd->arg = arg;
	return SMTP_PARSE_OK;
}
