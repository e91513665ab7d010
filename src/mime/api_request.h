/* SPDX-License-Identifier: ISC */
/*
 * api_request.h - the JSON body of POST /v1/messages, parsed and checked
 * into a struct api_request. Pure: no I/O, no globals; everything in the
 * struct is allocated and freed by api_request_fini.
 *
 * The body (every key optional unless marked):
 *
 *   from        required: address
 *   reply_to    address
 *   to, cc, bcc address, or a list of addresses; one recipient at least
 *   subject     string
 *   text, html  string; one of text, html, attachments is required
 *   headers     {"X-Name": "value", ...}
 *   attachments [{"filename", "content_type", "content" (base64),
 *                 "content_id"}, ...]
 *   tags        ["string", ...]
 *   metadata    {"key": "string", ...}
 *   priority    "high" or "normal"
 *   pool        a [pool] name (letters, digits, . _ -)
 *   requiretls  true or false: send only over TLS that DANE or MTA-STS
 *               validates, to peers that offer REQUIRETLS (RFC 8689)
 *
 * where an address is "a@b.example", "Name <a@b.example>" or
 * {"email": "a@b.example", "name": "Name"}. A key given as null counts
 * as absent. Any other key, or any other key inside an address or an
 * attachment object, is refused: a typo must not silently drop a
 * recipient.
 */
#ifndef RELAIS_MIME_API_REQUEST_H
#define RELAIS_MIME_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "mime/api_addr.h"

/* limits of the request's parts (beyond struct api_limits) */
#define API_REQUEST_SUBJECT_MAX		998	/* octets */
#define API_REQUEST_HEADERS_MAX		50	/* custom header fields */
#define API_REQUEST_HEADER_VALUE_MAX	900	/* octets */
#define API_REQUEST_ATTS_MAX		100
#define API_REQUEST_FILENAME_MAX	255	/* octets */
#define API_REQUEST_CTYPE_MAX		127	/* "type/subtype" */
#define API_REQUEST_CID_MAX		128
#define API_REQUEST_TAGS_MAX		10
#define API_REQUEST_TAG_MAX		128	/* characters */
#define API_REQUEST_META_MAX		20	/* keys */
#define API_REQUEST_META_KEY_MAX	64	/* octets */
#define API_REQUEST_META_VALUE_MAX	1024	/* octets */
#define API_REQUEST_POOL_MAX		64	/* octets */

/* return values of api_request_parse */
enum api_request_status {
	API_REQUEST_OK = 0,
	API_REQUEST_INVALID = -1,	/* 400: e names the field */
	API_REQUEST_TOO_LARGE = -2,	/* 413: valid, but over max_size */
};

struct api_header {
	char	*name;
	char	*value;
};

struct api_attachment {
	char		*filename;	/* UTF-8; NULL only for inline parts */
	char		*content_type;	/* "type/subtype", lower-cased */
	unsigned char	*data;		/* decoded content */
	size_t		 len;
	char		*content_id;	/* NULL, or set for inline (cid:) parts;
					   without the angle brackets */
};

struct api_request {
	struct api_addr		 from;
	struct api_addr		*reply_to;	/* NULL or one */
	struct api_addr		*to;
	size_t			 nto;
	struct api_addr		*cc;
	size_t			 ncc;
	struct api_addr		*bcc;
	size_t			 nbcc;
	char			*subject;	/* UTF-8, each may be NULL; */
	char			*text;		/* but text or html or an */
	char			*html;		/* attachment exists */
	size_t			 text_len;	/* strlen(text), 0 if NULL */
	size_t			 html_len;
	struct api_header	*headers;
	size_t			 nheaders;
	struct api_attachment	*atts;
	size_t			 natts;
	char			*tags;		/* compact JSON array of
						   strings, or NULL */
	char			*metadata;	/* compact JSON object of
						   string values, or NULL */
	size_t			 size;		/* decoded content: text, html
						   and attachments, in octets */
	bool			 priority_high;	/* "priority": "high" */
	char			*pool;		/* "pool", or NULL */
	bool			 requiretls;	/* "requiretls": true */
};

struct api_limits {
	size_t	max_rcpts;	/* to + cc + bcc, e.g. 1000; 0: no limit */
	size_t	max_size;	/* octets of decoded content (413); 0: none */
};

struct api_error {
	char	field[64];	/* "to[2]", "attachments[0].content",
				   "subject"; "" for the whole body */
	char	msg[192];
};

/*
 * api_request_parse - parse and check json[0..len) into out. Returns
 * API_REQUEST_OK; API_REQUEST_INVALID with *e naming the first bad field
 * (bad JSON: field "", msg with the line and column); or
 * API_REQUEST_TOO_LARGE when the request is valid but its decoded
 * content passes lim->max_size. On error *out is zeroed (nothing to
 * free). Every string in out is valid UTF-8 without NUL; header values,
 * names and the subject hold no CR, LF or other control character.
 * The caller bounds len beforehand (api_request_body_max).
 */
int	api_request_parse(const char *json, size_t len,
	    const struct api_limits *lim, struct api_request *out,
	    struct api_error *e);

/*
 * api_request_body_max - the largest JSON body worth parsing under lim:
 * the content base64-encoded or \u-escaped (three times its size) plus
 * 64 KiB for the rest. A longer body can be answered 413 unread.
 * 0 when lim->max_size is 0.
 */
size_t	api_request_body_max(const struct api_limits *lim);

/* api_request_fini - free everything in r and zero it; NULL-safe */
void	api_request_fini(struct api_request *r);

#endif
