/* SPDX-License-Identifier: ISC */
/*
 * smtp_data.h - the message text scanner for DATA (RFC 5321 4.1.1.4,
 * 4.5.2) and BDAT (RFC 3030) content.
 *
 * Pure and resumable: feed it any slices of the stream; it copies the
 * message text (dot-unstuffed in DATA mode) to the caller's output and
 * stops right after the end-of-data marker. Only CR LF "." CR LF ends
 * DATA. A bare CR or bare LF anywhere, or a text line over 1000 octets
 * with its CRLF (4.5.3.1.6), is recorded in flags and never interpreted:
 * the caller refuses the message once the real end is seen, which closes
 * the "SMTP smuggling" class of attacks.
 */
#ifndef RELAIS_SMTP_DATA_H
#define RELAIS_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>

#define SMTP_TEXT_LINE_MAX	1000	/* octets, CRLF included */

enum smtp_data_flag {
	SMTP_DATA_BARE_LF = 1 << 0,
	SMTP_DATA_BARE_CR = 1 << 1,
	SMTP_DATA_LONG_LINE = 1 << 2,
};

enum smtp_data_mode {
	SMTP_DATA_DOT,		/* DATA: dot-stuffing, CRLF.CRLF ends */
	SMTP_DATA_CHUNK,	/* BDAT: octets as they are, sizes end */
};

struct smtp_data {
	enum smtp_data_mode	mode;
	int			state;
	size_t			linelen;	/* octets of the current line */
	unsigned		flags;		/* enum smtp_data_flag */
	bool			ended;		/* DOT mode: end marker seen */
};

void	smtp_data_init(struct smtp_data *d, enum smtp_data_mode mode);

/*
 * smtp_data_scan - consume up to len octets of in; append the message
 * text to out (room for len octets + 2 is required) and add its length to
 * *outlen. Returns the octets consumed: fewer than len only when the end
 * of DATA was reached (d->ended), the rest belonging to the next command.
 */
size_t	smtp_data_scan(struct smtp_data *d, const char *in, size_t len,
	    char *out, size_t *outlen);

/*
 * smtp_data_finish_chunked - after the LAST BDAT chunk: terminate a last
 * line that lacks its CRLF (appends at most 2 octets to out).
 */
void	smtp_data_finish_chunked(struct smtp_data *d, char *out,
	    size_t *outlen);

#endif
