/* SPDX-License-Identifier: ISC */
/*
 * milter_hdr.h - a message's header fields as milters see and edit them.
 * Pure: a list of fields parsed from the header section, the edits a
 * milter may ask for at the end of the message (add, insert, change,
 * delete), and the section written out again.
 *
 * Fields relais put in front of the client's text (Received:, ...) are
 * in the list but hidden from milters, as Postfix hides its own Received:
 * field: change and delete indexes count the client's fields only, while
 * an insert index counts every field, so index 0 is the very top (where
 * a signing milter puts DKIM-Signature:). Everything is bounded: the
 * list refuses to grow past its octet limit.
 */
#ifndef RELAIS_SMTP_MILTER_HDR_H
#define RELAIS_SMTP_MILTER_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/str.h"

enum milter_hdr_origin {
	MILTER_HDR_PREFIX,	/* relais's own, hidden from milters */
	MILTER_HDR_CLIENT,	/* the client's (or added at the end) */
	MILTER_HDR_INSERTED,	/* inserted by a milter at an index */
};

struct milter_hdr_field {
	char		*raw;		/* the whole field, CRLF-ended */
	size_t		 len;
	size_t		 name_len;	/* the name, blanks before ':' not
					   counted */
	size_t		 colon;		/* offset of the ':' */
	int		 origin;	/* enum milter_hdr_origin */
};

struct milter_hdrs {
	struct milter_hdr_field *v;
	size_t		 n, cap;
	size_t		 bytes;		/* sum of the fields' lengths */
	size_t		 max;		/* refuse to grow past this */
	bool		 changed;	/* an edit was made */
};

void	milter_hdrs_init(struct milter_hdrs *h, size_t max);
void	milter_hdrs_fini(struct milter_hdrs *h);

/* milter_hdrs_parse - append the fields of text[0..len) (a header
   section without its empty line) with the given origin; stops at the
   first line that is not a field. Returns the octets taken as fields
   (the rest is body), or -1 when the list would pass its limit. */
ssize_t	milter_hdrs_parse(struct milter_hdrs *h, const char *text, size_t len,
	    int origin);

/* milter_hdr_name / milter_hdr_value - a field as a milter gets it: the
   name, and the value with line folds as LF and no final line break,
   its first space dropped unless leadspc (SMFIP_HDR_LEADSPC) */
struct str milter_hdr_name(const struct milter_hdr_field *f);
void	milter_hdr_value(const struct milter_hdr_field *f, bool leadspc,
	    struct buf *out);

/* milter_hdr_name_ok - a field name a milter may use: 1..997 printable
   ASCII octets, no ':' */
bool	milter_hdr_name_ok(struct str name);

/*
 * The edits. A value comes as the milter sent it: line breaks (CR, LF or
 * CRLF) become CRLF, and a folded line that does not start with a blank
 * gets a tab, so that no edit can end the header section or add a field
 * of its own; empty lines are dropped. Each returns 0, or -1 when the
 * name is not valid or the list would pass its limit (nothing changed).
 */
/* milter_hdrs_add - a field after the last one */
int	milter_hdrs_add(struct milter_hdrs *h, struct str name,
	    struct str value, bool leadspc);
/* milter_hdrs_insert - a field at 0-based index among all fields
   (past the end: at the end) */
int	milter_hdrs_insert(struct milter_hdrs *h, uint32_t index,
	    struct str name, struct str value, bool leadspc);
/* milter_hdrs_change - the index-th (1-based; 0 counts as 1) visible
   field of that name (any case) gets the value, or goes when the value
   is empty; a field that is not there is added (non-empty value) */
int	milter_hdrs_change(struct milter_hdrs *h, uint32_t index,
	    struct str name, struct str value, bool leadspc);

/* milter_hdrs_render - the fields in order: the leading run of relais's
   own and inserted fields into prefix, the rest into text */
void	milter_hdrs_render(const struct milter_hdrs *h, struct buf *prefix,
	    struct buf *text);

/* line ends of a replacement body: CRLF kept, a lone CR or LF made CRLF */
struct milter_crlf {
	bool	cr;		/* the last octet seen was a CR */
};

void	milter_crlf(struct milter_crlf *st, const char *p, size_t n,
	    struct buf *out);
/* milter_crlf_end - the end of the body: a pending CR becomes CRLF */
void	milter_crlf_end(struct milter_crlf *st, struct buf *out);

#endif
