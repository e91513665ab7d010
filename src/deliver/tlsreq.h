/* SPDX-License-Identifier: ISC */
/*
 * tlsreq.h - what a recipient domain asks of the TLS of the connections
 * that carry its mail (docs/tls.md), decided from the [tls_policy] line,
 * the DNSSEC state of its MX answer and its MTA-STS policy; then, per MX
 * host, what the connection must do given the host's TLSA answer. Pure
 * functions: the delivery agent feeds them what DNS and the MTA-STS
 * service said.
 *
 * Precedence: a [tls_policy] line first; then DANE for hosts with usable
 * TLSA records under a secure MX answer (RFC 7672), MTA-STS for the
 * other hosts (RFC 8461 2: DANE wins where both exist), opportunistic
 * TLS ([relay] outbound_tls) for the rest. "TLS-Required: No" (RFC 8689
 * 5) drops DANE and MTA-STS for that message.
 */
#ifndef RELAIS_DELIVER_TLSREQ_H
#define RELAIS_DELIVER_TLSREQ_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"

/* a route's requirements: flags, part of the destination's identity */
enum tlsreq_flag {
	TF_DANE = 1 << 0,	/* MX secure: TLSA per host */
	TF_DANE_ONLY = 1 << 1,	/* [tls_policy] dane: no TLSA, no mail */
	TF_WEBPKI = 1 << 2,	/* WebPKI for hosts without TLSA */
	TF_STS = 1 << 3,	/* TF_WEBPKI comes from an enforce policy */
	TF_STS_TESTING = 1 << 4, /* check WebPKI, report, deliver anyway */
	TF_ENCRYPT = 1 << 5,	/* TLS required */
	TF_NOTLS = 1 << 6,	/* no STARTTLS at all */
};

/* what one connection does (per MX host) */
enum tlsreq_mode {
	TM_OPPORTUNISTIC,	/* STARTTLS if offered ([relay] outbound_tls) */
	TM_NOTLS,
	TM_ENCRYPT,		/* TLS, certificate not checked */
	TM_DANE,		/* TLS authenticated by TLSA */
	TM_WEBPKI,		/* TLS authenticated by WebPKI (STS, verify) */
	TM_WEBPKI_TESTING,	/* checked and reported, not enforced */
	TM_REFUSE,		/* do not use this host */
};

/* what the TLSA lookup of a host said */
enum tlsreq_tlsa {
	TT_NONE,		/* not looked up, insecure, or no record */
	TT_USABLE,		/* secure, at least one usable record */
	TT_UNUSABLE,		/* secure, records, none usable */
	TT_FAILED,		/* SERVFAIL, timeout or bogus */
};

/* the MTA-STS state of a domain, as far as tlsreq cares */
enum tlsreq_sts {
	TS_NONE,		/* no policy, or mode none */
	TS_TESTING,
	TS_ENFORCE,
};

/*
 * tlsreq_route - pure: the flags of a domain's route. override is its
 * [tls_policy] line or NULL; validating: a trust anchor is configured;
 * mx_secure: the MX answer (or the implicit MX's) validated. Returns -1
 * when no mail can go (a "dane" line with an insecure MX), with why.
 */
int	tlsreq_route(const struct conf_tls_policy *override, bool validating,
	    bool mx_secure, enum tlsreq_sts sts, unsigned *flags, char *why,
	    size_t n);

/* tlsreq_sts_wanted - pure: is MTA-STS looked up for this override */
bool	tlsreq_sts_wanted(const struct conf_tls_policy *override);

/* tlsreq_job - pure: a message's flags on a route of these flags
   ("TLS-Required: No" keeps only TF_NOTLS) */
unsigned tlsreq_job(unsigned route_flags, bool tls_optional);

/* tlsreq_requiretls_ok - pure: can flags ever satisfy REQUIRETLS (DANE
   or an enforced MTA-STS policy, RFC 8689 4.2.1) */
bool	tlsreq_requiretls_ok(unsigned flags);

/*
 * tlsreq_host - pure: what a connection to one MX host does. tlsa is the
 * host's TLSA state (TT_NONE when the route has no TF_DANE or the
 * host's address answer was insecure); outbound is [relay]
 * outbound_tls. TM_REFUSE comes with why.
 */
enum tlsreq_mode tlsreq_host(unsigned flags, enum tlsreq_tlsa tlsa,
	    int outbound, char *why, size_t n);

/* tlsreq_mode_name - "dane", "webpki", ... for logs */
const char *tlsreq_mode_name(enum tlsreq_mode m);
/* tlsreq_flags_text - "dane+sts" style, "-" for none, into out */
void	tlsreq_flags_text(unsigned flags, char *out, size_t n);

#endif
