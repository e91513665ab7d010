/* SPDX-License-Identifier: ISC */
/*
 * smtp_header.c - header section end, field presence and removal, and
 * the TLS-Required field; see smtp_header.h.
 */
#include <stdbool.h>
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

/* smtp_header_line_end - the offset past the LF ending the line at i, or
   len */
static size_t
smtp_header_line_end(const char *hdr, size_t len, size_t i)
{
	const char *lf = memchr(hdr + i, '\n', len - i);

	return lf ? (size_t)(lf - hdr) + 1 : len;
}

size_t
smtp_header_take(char *hdr, size_t len, const char *name, char *value,
    size_t vmax, bool *found)
{
	size_t nlen = strlen(name), i = 0, o = 0;

	*found = false;
	if (vmax > 0)
		value[0] = '\0';
	while (i < len) {
		size_t j = i, end = smtp_header_line_end(hdr, len, i);
		bool match = false;

		if (len - i > nlen && strncasecmp(hdr + i, name, nlen) == 0) {
			for (j = i + nlen; j < end && (hdr[j] == ' ' ||
			    hdr[j] == '\t'); j++)
				;
			match = j < end && hdr[j] == ':';
		}
		if (!match) {
			if (o != i)
				memmove(hdr + o, hdr + i, end - i);
			o += end - i;
			i = end;
			continue;
		}
		/* the field with its folded lines goes */
		while (end < len && (hdr[end] == ' ' || hdr[end] == '\t'))
			end = smtp_header_line_end(hdr, len, end);
		if (!*found && vmax > 0) {
			size_t k = 0;

			/* the value, unfolded, white space trimmed */
			for (j++; j < end; j++) {
				char c = hdr[j];

				if (c == '\r' || c == '\n')
					continue;
				if ((c == ' ' || c == '\t') && k == 0)
					continue;
				if (k + 1 < vmax)
					value[k++] = c;
			}
			while (k > 0 && (value[k - 1] == ' ' ||
			    value[k - 1] == '\t'))
				k--;
			value[k] = '\0';
		}
		*found = true;
		i = end;
	}
	return o;
}

/* smtp_header_is_wsp - white space of a field body, folding included */
static bool
smtp_header_is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool
smtp_header_tls_optional(const char *hdr, size_t len)
{
	static const char name[] = "TLS-Required";
	const size_t nlen = sizeof(name) - 1;
	size_t i = 0;

	while (i < len) {
		size_t j, end = smtp_header_line_end(hdr, len, i);

		if (len - i <= nlen || strncasecmp(hdr + i, name, nlen) != 0) {
			i = end;
			continue;
		}
		for (j = i + nlen; j < end && (hdr[j] == ' ' ||
		    hdr[j] == '\t'); j++)
			;
		if (j == end || hdr[j] != ':') {
			i = end;
			continue;
		}
		/* the field's folded lines belong to it */
		while (end < len && (hdr[end] == ' ' || hdr[end] == '\t'))
			end = smtp_header_line_end(hdr, len, end);
		/* [FWS] "No" [FWS] CRLF (RFC 8689 5) */
		for (j++; j < end && smtp_header_is_wsp(hdr[j]); j++)
			;
		if (end - j >= 2 && (hdr[j] == 'N' || hdr[j] == 'n') &&
		    (hdr[j + 1] == 'O' || hdr[j + 1] == 'o')) {
			for (j += 2; j < end && smtp_header_is_wsp(hdr[j]); j++)
				;
			if (j == end)
				return true;
		}
		i = end;
	}
	return false;
}
