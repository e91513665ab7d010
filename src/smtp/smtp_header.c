/* SPDX-License-Identifier: ISC */
/*
 * smtp_header.c - header section end and field presence; see
 * smtp_header.h.
 */
#include <string.h>
#include <strings.h>

#include "smtp/smtp_header.h"

ssize_t
smtp_header_end(const char *text, size_t len, size_t *resume)
{
	size_t i = *resume;

	for (; i + 1 < len; i++) {
		if (text[i] == '\r' && text[i + 1] == '\n' &&
		    (i == 0 || text[i - 1] == '\n')) {
			*resume = i;
			return (ssize_t)i;
		}
	}
	*resume = i;	/* the last octet may start the CRLF */
	return -1;
}

bool
smtp_header_has(const char *hdr, size_t len, const char *name)
{
	size_t nlen = strlen(name);

	for (size_t i = 0; i < len; i++) {
		size_t j;

		if (i > 0 && hdr[i - 1] != '\n')
			continue;
		if (len - i <= nlen || strncasecmp(hdr + i, name, nlen) != 0)
			continue;
		for (j = i + nlen; j < len && (hdr[j] == ' ' ||
		    hdr[j] == '\t'); j++)
			;
		if (j < len && hdr[j] == ':')
			return true;
	}
	return false;
}
