/* SPDX-License-Identifier: ISC */
/*
 * spf.h - Sender Policy Framework, RFC 7208.
 *
 * Three layers:
 *   spf_record.c  pure: "v=spf1 ..." text to a struct spf_record (terms,
 *                 CIDR lengths, modifiers), every syntax rule of section
 *                 12 (ABNF) checked, so a bad record is refused before any
 *                 of it is evaluated (4.6: permerror).
 *   spf_macro.c   pure: macro-string syntax check and expansion (section 7)
 *                 for a given set of macro values.
 *   spf_eval.c    check_host() (section 4) as an asynchronous state machine
 *                 over a struct dns_resolver: include/redirect recursion,
 *                 the 10-lookup and 2-void-lookup limits, MX/PTR address
 *                 limits, validated PTR names, exp= explanations.
 */
#ifndef RELAIS_MSGAUTH_SPF_H
#define RELAIS_MSGAUTH_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "net/dns.h"

/* RFC 7208 4.6.4 */
#define SPF_MAX_LOOKUPS		10	/* include a mx ptr exists redirect */
#define SPF_MAX_VOID		2	/* lookups answering NXDOMAIN/NODATA */
#define SPF_MAX_MX_NAMES	10	/* MX records of one "mx" (over: permerror) */
#define SPF_MAX_PTR_NAMES	10	/* PTR names looked at (more: ignored) */
#define SPF_DOMAIN_MAX		253	/* longest name queried (4.8 truncation) */
#define SPF_EXPLAIN_MAX		1024	/* longest explanation kept */

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

/* spf_result_name - "pass", "fail"... as RFC 7208 8 and RFC 8601 spell them */
const char *spf_result_name(enum spf_result r);

enum spf_mech {
	SPF_MECH_ALL,
	SPF_MECH_INCLUDE,
	SPF_MECH_A,
	SPF_MECH_MX,
	SPF_MECH_PTR,
	SPF_MECH_IP4,
	SPF_MECH_IP6,
	SPF_MECH_EXISTS,
};

/* one directive (mechanism with its qualifier); modifiers live in the record */
struct spf_term {
	enum spf_mech	 mech;
	enum spf_result	 qual;		/* result when it matches */
	struct str	 domain;	/* domain-spec (a macro-string); empty:
					   the current domain (a, mx, ptr) */
	unsigned	 cidr4;		/* 0-32, default 32 */
	unsigned	 cidr6;		/* 0-128, default 128 */
	uint8_t		 addr[16];	/* ip4 (first 4 octets) / ip6 */
};

struct spf_record {
	struct spf_term	*terms;
	size_t		 nterms;
	struct str	 redirect;	/* domain-spec; .p NULL if absent */
	struct str	 exp;		/* domain-spec; .p NULL if absent */
};

/*
 * spf_record_is_spf - txt is an SPF version 1 record: "v=spf1" (any case)
 * followed by a space or the end (4.5). Other TXT records are ignored.
 */
bool	spf_record_is_spf(struct str txt);

/*
 * spf_record_parse - parse a whole record. Slices point into txt, which
 * must outlive out. Any syntax error (unknown mechanism, bad CIDR, bad
 * macro, non-ASCII or control octet, redirect/exp twice...) is -1 with
 * err->msg set: the caller answers permerror. out needs spf_record_fini
 * on success only.
 */
int	spf_record_parse(struct str txt, struct spf_record *out,
	    struct err *err);
void	spf_record_fini(struct spf_record *rec);

/* spf_domain_spec_valid - macro-string ending in macro-expand or "."toplabel */
bool	spf_domain_spec_valid(struct str spec);

/* the values macros expand to (RFC 7208 7.2) */
struct spf_macro_ctx {
	struct str	 sender;	/* s: local@domain */
	struct str	 local;		/* l */
	struct str	 sender_domain;	/* o */
	struct str	 domain;	/* d: the current domain */
	int		 family;	/* AF_INET or AF_INET6 (i, c, v) */
	uint8_t		 ip[16];
	struct str	 ptr;		/* p: validated name, or "unknown" */
	struct str	 helo;		/* h */
	struct str	 receiver;	/* r */
	uint64_t	 now;		/* t */
};

#define SPF_MACRO_EXP	0x1	/* explanation text: c, r, t allowed */

/*
 * spf_macro_check - syntax of a macro-string (7.1); with SPF_MACRO_EXP the
 * letters c, r and t are allowed. 0, or -1 with err->msg.
 */
int	spf_macro_check(struct str spec, unsigned flags, struct err *err);

/* spf_macro_uses_p - spec refers to %{p} (needs the validated PTR name) */
bool	spf_macro_uses_p(struct str spec);

/*
 * spf_macro_expand - append the expansion of spec to out. -1 on a syntax
 * error or when out refuses to grow (its max).
 */
int	spf_macro_expand(struct str spec, const struct spf_macro_ctx *ctx,
	    unsigned flags, struct buf *out, struct err *err);

/*
 * spf_macro_domain - expand spec for a DNS query: trailing dot dropped,
 * labels cut from the left until it fits 253 octets (4.8). Returns 0 and
 * a NUL-terminated name in out, 1 if the name cannot be queried (empty
 * or over-long label: treated as a name that does not exist), -1 on a
 * macro error.
 */
int	spf_macro_domain(struct str spec, const struct spf_macro_ctx *ctx,
	    struct buf *out, struct err *err);

/* ------------------------------------------------------------------------
 * Evaluation
 */

/* what is checked: the MAIL FROM identity, or HELO when MAIL FROM is <> */
struct spf_request {
	int		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 ip[16];	/* v4-mapped v6 is turned into v4 */
	const char	*sender;	/* MAIL FROM without <>; "" or NULL:
					   the null sender, checked as
					   postmaster@HELO */
	const char	*helo;		/* HELO/EHLO argument */
	const char	*receiver;	/* %{r}; NULL: "unknown" */
	time_t		 now;		/* %{t}; 0: time(NULL) */
};

/* spf_request_set_ip - parse an IPv4/IPv6 text address into req; -1 if bad */
int	spf_request_set_ip(struct spf_request *req, const char *text);

struct spf_answer {
	enum spf_result	 result;
	const char	*explanation;	/* fail with a usable exp=; else NULL */
	const char	*problem;	/* why (permerror/temperror/none...), for
					   logs and header comments; or NULL */
	const char	*identity;	/* "mailfrom" or "helo" */
	const char	*sender;	/* the address checked (postmaster@helo
					   for the null sender) */
	const char	*domain;	/* its domain */
	unsigned	 lookups;	/* DNS-querying terms evaluated */
	unsigned	 void_lookups;
};

/* done callback: ans and its strings are valid during the call only */
typedef void spf_done_fn(void *arg, const struct spf_answer *ans);

struct spf_eval;

/*
 * spf_eval_start - run check_host() for req through res. done is called
 * exactly once, on the resolver's loop, unless spf_eval_cancel() comes
 * first. If the result needs no DNS at all (a malformed identity), or the
 * resolver answers synchronously, done may run before spf_eval_start
 * returns: then the return value is NULL (the evaluation is already
 * freed). Otherwise the handle, valid until done runs.
 */
struct spf_eval *spf_eval_start(struct dns_resolver res,
	    const struct spf_request *req, spf_done_fn *done, void *arg);

/* spf_eval_cancel - stop an evaluation whose done has not run; frees it */
void	spf_eval_cancel(struct spf_eval *ev);

#endif
