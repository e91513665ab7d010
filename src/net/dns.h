/* SPDX-License-Identifier: ISC */
/*
 * dns.h - asynchronous DNS for an event loop, on libunbound.
 *
 * One struct dns per event loop (ub_ctx with its own thread, its fd
 * watched by the loop); answers arrive as callbacks on that loop, parsed
 * into struct dns_rr. `[dns] resolver = HOST:PORT` sends every query to
 * that server (tests use it); otherwise /etc/resolv.conf is used.
 *
 * With a trust anchor file ([dns] trust_anchor) libunbound validates every
 * answer itself (DNSSEC), also when it forwards to a configured server:
 * an answer is `secure` when it validated, and one that failed validation
 * (bogus: bad signatures, a missing proof) is a temporary failure with
 * `bogus` set, logged once (event=dns.bogus) with libunbound's reason.
 *
 * Code that needs DNS takes a struct dns_resolver (a query function and a
 * context), so unit tests can answer from a table (Postfix's mock DNS).
 */
#ifndef RELAIS_NET_DNS_H
#define RELAIS_NET_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct event_base;

enum dns_type {
	DNS_T_A = 1,
	DNS_T_CNAME = 5,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_TLSA = 52,
};

enum dns_status {
	DNS_OK,			/* at least one record */
	DNS_NODATA,		/* the name exists, no record of this type */
	DNS_NXDOMAIN,		/* the name does not exist */
	DNS_TEMPFAIL,		/* SERVFAIL, timeout, network trouble */
	DNS_PERMFAIL,		/* malformed query or answer (REFUSED...) */
};

struct dns_rr {
	int		 type;
	uint16_t	 pref;		/* MX preference */
	char		 name[256];	/* MX exchange, PTR/CNAME target */
	int		 family;	/* A: AF_INET, AAAA: AF_INET6 */
	uint8_t		 addr[16];
	char		*txt;		/* TXT: character-strings joined */
	size_t		 txt_len;
	uint8_t		*raw;		/* other types: the rdata */
	size_t		 raw_len;
};

struct dns_answer {
	enum dns_status	 status;
	int		 type;
	bool		 secure;	/* DNSSEC validated (data, NODATA and
					   NXDOMAIN alike) */
	bool		 bogus;		/* validation failed: status is
					   DNS_TEMPFAIL */
	const char	*why_bogus;	/* libunbound's reason when bogus, or
					   NULL; valid during the callback */
	struct dns_rr	*rr;
	size_t		 n;
};

/* answer callback: ans is valid only during the call */
typedef void dns_cb(void *arg, const struct dns_answer *ans);

/* the interface DNS users take */
struct dns_resolver {
	/* start a query; 0 if it could not start (cb is not called) */
	uint64_t	(*query)(void *ctx, const char *name, int type,
			    dns_cb *cb, void *arg);
	/* cancel a started query; its cb is not called */
	void		(*cancel)(void *ctx, uint64_t id);
	void		*ctx;
};

struct dns;

/*
 * dns_new - resolver on base; server is "HOST:PORT", "HOST" or NULL
 * (resolv.conf); trust_anchor a file of DS or DNSKEY records (zone file
 * form, as /usr/share/dns/root.key) to validate against, or NULL for no
 * validation; timeout in seconds per query. The anchor is read here: a
 * file that cannot be read or used fails with err.
 */
struct dns *dns_new(struct event_base *base, const char *server,
	    const char *trust_anchor, unsigned timeout, struct err *err);
void	dns_free(struct dns *d);
/* dns_resolver - the dns_resolver interface of d */
struct dns_resolver dns_resolver(struct dns *d);

/*
 * dns_rdata_parse - pure: one rdata in wire form (names uncompressed, as
 * libunbound gives them) into out. -1 if malformed. TXT (RFC 1035
 * 3.3.14): the character-strings joined without separators (RFC 7208
 * 3.3), any octet kept (NULs included: txt_len counts them) plus a
 * guard NUL; an empty rdata gives an empty text; a length octet that
 * runs past the rdata is malformed.
 */
int	dns_rdata_parse(int type, const uint8_t *p, size_t len,
	    struct dns_rr *out);
void	dns_rr_fini(struct dns_rr *rr);

/*
 * dns_answer_from_rdata - pure: the answer to a query of type from the n
 * rdatas of the RRset libunbound returned (a NOERROR answer with data).
 * Each is parsed by dns_rdata_parse; a malformed one is dropped, so the
 * others stay usable (a TXT RRset with one broken record still gives its
 * SPF record); DNS_OK if at least one is left, DNS_PERMFAIL if every one
 * was malformed (what a strict resolver answers SERVFAIL for). out is
 * overwritten; dns_answer_fini releases it.
 */
void	dns_answer_from_rdata(struct dns_answer *out, int type, size_t n,
	    const uint8_t *const rdata[], const size_t len[]);

/* dns_answer_fini - for answers built by hand (tests, caches) */
void	dns_answer_fini(struct dns_answer *ans);

#endif
