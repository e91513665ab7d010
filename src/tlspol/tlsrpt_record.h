/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt_record.h - the TLS-RPT policy record (RFC 8460 3): where a
 * domain wants its reports, published as TXT at _smtp._tls.DOMAIN:
 *
 *     v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://r.example/v1
 *
 * Pure parsers; fuzzed by tests/fuzz/fuzz_tlsrpt_record.c.
 */
#ifndef RELAIS_TLSPOL_TLSRPT_RECORD_H
#define RELAIS_TLSPOL_TLSRPT_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define TLSRPT_RUA_MAX		8	/* URIs kept of a record */
#define TLSRPT_URI_MAX		1024	/* longest URI kept, with its NUL */

enum tlsrpt_rua_kind {
	TLSRPT_RUA_MAILTO,	/* addr: the address, percent-decoded */
	TLSRPT_RUA_HTTPS,	/* uri: the URL as published */
};

struct tlsrpt_rua {
	enum tlsrpt_rua_kind	 kind;
	char			 uri[TLSRPT_URI_MAX];	/* as published */
	char			 addr[TLSRPT_URI_MAX];	/* mailto: local@domain */
};

struct tlsrpt_policy_record {
	struct tlsrpt_rua	 rua[TLSRPT_RUA_MAX];
	size_t			 nrua;
	size_t			 ignored;	/* URIs of other schemes, or
						   past TLSRPT_RUA_MAX */
};

/*
 * tlsrpt_record_parse - one TXT record (its strings joined) against the
 * ABNF of RFC 8460 3: "v=TLSRPTv1" first, fields separated by *WSP ";"
 * *WSP (a trailing one allowed), exactly one rua= field of URIs joined
 * by *WSP "," *WSP, other fields ignored when they are well formed
 * (name: ALPHA/DIGIT then up to 31 of ALPHA/DIGIT/"_"/"-"/"."; value:
 * visible ASCII but "=" and ";"). A mailto: URI must give one address
 * (local@domain, percent-decoding done, "?..." headers ignored); an
 * https: URI must name a host. URIs of any other scheme are counted in
 * ignored. 0 with out filled (nrua may be 0), -1 with err saying what
 * is wrong.
 */
int	tlsrpt_record_parse(const char *txt, size_t len,
	    struct tlsrpt_policy_record *out, struct err *err);

/*
 * tlsrpt_record_select - the TXT answer of _smtp._tls.DOMAIN (n records):
 * the records that do not begin with "v=TLSRPTv1" are dropped; exactly
 * one must be left (RFC 8460 3: otherwise the domain is taken not to
 * use TLS-RPT), and it is parsed as above. 1 with out filled, 0 when no
 * record is left, -1 with err (several records, or the one is invalid).
 */
int	tlsrpt_record_select(const char *const *txt, const size_t *len,
	    size_t n, struct tlsrpt_policy_record *out, struct err *err);

#endif
