/* SPDX-License-Identifier: ISC */
/*
 * smtp_data.c - DATA/BDAT text scanner; see smtp_data.h for the contract.
 *
 * A small state machine over octets. The states remember just enough to
 * recognise CRLF "." CRLF at a line start and to hold back a CR until we
 * know whether an LF follows it.
 */
#include <string.h>

#include "smtp/smtp_data.h"

enum {
	DATA_BOL,	/* at the start of a line */
	DATA_TEXT,	/* inside a line */
	DATA_CR,	/* saw CR, held back */
	DATA_DOT,	/* DOT mode: line began with ".", held back */
	DATA_DOTCR,	/* DOT mode: saw "." CR at a line start */
};

void
smtp_data_init(struct smtp_data *d, enum smtp_data_mode mode)
{
	d->mode = mode;
	d->state = DATA_BOL;
	d->linelen = 0;
	d->flags = 0;
	d->ended = false;
}

/* smtp_data_emit - copy one octet of text and watch the line length */
static inline void
smtp_data_emit(struct smtp_data *d, char c, char *out, size_t *outlen)
{
	out[(*outlen)++] = c;
	if (++d->linelen > SMTP_TEXT_LINE_MAX - 2)
		d->flags |= SMTP_DATA_LONG_LINE;
}

size_t
smtp_data_scan(struct smtp_data *d, const char *in, size_t len, char *out,
    size_t *outlen)
{
	size_t i = 0;

	while (i < len) {
		char c = in[i];

		switch (d->state) {
		case DATA_BOL:
			if (c == '.' && d->mode == SMTP_DATA_DOT) {
				d->state = DATA_DOT;
				i++;
				continue;
			}
			d->state = DATA_TEXT;
			continue;		/* same octet, as text */
		case DATA_TEXT:
			if (c == '\r') {
				d->state = DATA_CR;
			} else if (c == '\n') {
				d->flags |= SMTP_DATA_BARE_LF;
				smtp_data_emit(d, c, out, outlen);
			} else {
				/* fast path: copy a run of plain octets, found
				   with memchr (vectorised) rather than octet by
				   octet; the CR or LF that ends it is handled
				   by the states above. The search looks at most
				   one line length ahead, so input without CRs
				   ("a\na\n...") costs O(len), not O(len^2) */
				size_t win = len - i < SMTP_TEXT_LINE_MAX ?
				    len - i : SMTP_TEXT_LINE_MAX;
				const char *cr = memchr(in + i, '\r', win);
				size_t j = cr ? (size_t)(cr - in) : i + win;
				const char *lf = memchr(in + i, '\n', j - i);

				if (lf != NULL)
					j = (size_t)(lf - in);
				memcpy(out + *outlen, in + i, j - i);
				*outlen += j - i;
				d->linelen += j - i;
				if (d->linelen > SMTP_TEXT_LINE_MAX - 2)
					d->flags |= SMTP_DATA_LONG_LINE;
				i = j;
				continue;
			}
			i++;
			continue;
		case DATA_CR:
			if (c == '\n') {
				out[(*outlen)++] = '\r';
				out[(*outlen)++] = '\n';
				d->linelen = 0;
				d->state = DATA_BOL;
				i++;
				continue;
			}
			d->flags |= SMTP_DATA_BARE_CR;
			smtp_data_emit(d, '\r', out, outlen);
			d->state = DATA_TEXT;
			continue;		/* reconsider c inside the line */
		case DATA_DOT:
			if (c == '\r') {
				d->state = DATA_DOTCR;
				i++;
				continue;
			}
			/* "..x" -> ".x", ".x" -> "x" (RFC 5321 4.5.2) */
			d->state = DATA_TEXT;
			if (c == '.') {
				smtp_data_emit(d, '.', out, outlen);
				i++;
			}
			continue;
		case DATA_DOTCR:
			if (c == '\n') {
				d->ended = true;
				return i + 1;
			}
			/* "." CR then not LF: a bare CR inside a text line */
			d->flags |= SMTP_DATA_BARE_CR;
			smtp_data_emit(d, '\r', out, outlen);
			d->state = DATA_TEXT;
			continue;
		}
	}
	return i;
}

void
smtp_data_finish_chunked(struct smtp_data *d, char *out, size_t *outlen)
{
	if (d->state == DATA_CR) {
		/* a final lone CR: count it as bare, then end the line */
		d->flags |= SMTP_DATA_BARE_CR;
		out[(*outlen)++] = '\r';
		out[(*outlen)++] = '\n';
	} else if (d->state == DATA_TEXT && d->linelen > 0) {
		out[(*outlen)++] = '\r';
		out[(*outlen)++] = '\n';
	}
	d->state = DATA_BOL;
	d->linelen = 0;
}
