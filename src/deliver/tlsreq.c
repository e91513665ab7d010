/* SPDX-License-Identifier: ISC */
/*
 * tlsreq.c - outbound TLS requirements per domain and per MX host; see
 * tlsreq.h.
 */
#include <stdio.h>
#include <string.h>

#include "deliver/tlsreq.h"

bool
tlsreq_sts_wanted(const struct conf_tls_policy *override)
{
	return override == NULL;
}

int
tlsreq_route(const struct conf_tls_policy *override, bool validating,
    bool mx_secure, enum tlsreq_sts sts, unsigned *flags, char *why,
    size_t n)
{
	unsigned f = 0;

	*flags = 0;
	if (override != NULL) {
		switch (override->level) {
		case CONF_TLSP_NONE:
			*flags = TF_NOTLS;
			return 0;
		case CONF_TLSP_MAY:
			return 0;
		case CONF_TLSP_ENCRYPT:
			*flags = TF_ENCRYPT;
			return 0;
		case CONF_TLSP_VERIFY:
			*flags = TF_ENCRYPT | TF_WEBPKI;
			return 0;
		case CONF_TLSP_DANE:
		default:
			if (!validating || !mx_secure) {
				snprintf(why, n, "DANE is required, but the MX"
				    " records are not DNSSEC-signed (%s)",
				    validating ? "insecure" :
				    "no trust anchor configured");
				return -1;
			}
			*flags = TF_DANE | TF_DANE_ONLY | TF_ENCRYPT;
			return 0;
		}
	}
	if (validating && mx_secure)
		f |= TF_DANE;
	if (sts == TS_ENFORCE)
		f |= TF_WEBPKI | TF_STS | TF_ENCRYPT;
	else if (sts == TS_TESTING)
		f |= TF_STS_TESTING;
	*flags = f;
	return 0;
}

unsigned
tlsreq_job(unsigned route_flags, bool tls_optional)
{
	return tls_optional ? route_flags & TF_NOTLS : route_flags;
}

bool
tlsreq_requiretls_ok(unsigned flags)
{
	return !(flags & TF_NOTLS) &&
	    ((flags & TF_DANE) || (flags & TF_STS));
}

enum tlsreq_mode
tlsreq_host(unsigned flags, enum tlsreq_tlsa tlsa, int outbound, char *why,
    size_t n)
{
	if (flags & TF_NOTLS)
		return TM_NOTLS;
	if (flags & TF_DANE) {
		switch (tlsa) {
		case TT_FAILED:
			/* RFC 7672 2.2: a host whose TLSA lookup failed
			   is not used */
			snprintf(why, n, "TLSA lookup failed");
			return TM_REFUSE;
		case TT_USABLE:
			return TM_DANE;
		case TT_UNUSABLE:
			if (flags & TF_DANE_ONLY) {
				snprintf(why, n, "DANE is required, but no "
				    "TLSA record is usable");
				return TM_REFUSE;
			}
			/* RFC 7672 2.2: TLS, not authenticated */
			if (!(flags & TF_WEBPKI))
				return TM_ENCRYPT;
			break;
		case TT_NONE:
		default:
			if (flags & TF_DANE_ONLY) {
				snprintf(why, n, "DANE is required, but the "
				    "host has no secure TLSA records");
				return TM_REFUSE;
			}
			break;
		}
	}
	if (flags & TF_WEBPKI)
		return TM_WEBPKI;
	if (flags & TF_STS_TESTING)
		/* checked and reported; [relay] outbound_tls still says
		   whether STARTTLS is used and whether it is required */
		return outbound == CONF_RELAY_TLS_NONE ? TM_NOTLS :
		    TM_WEBPKI_TESTING;
	if (flags & TF_ENCRYPT)
		return TM_ENCRYPT;
	if (outbound == CONF_RELAY_TLS_NONE)
		return TM_NOTLS;
	if (outbound == CONF_RELAY_TLS_REQUIRED)
		return TM_ENCRYPT;
	return TM_OPPORTUNISTIC;
}

const char *
tlsreq_mode_name(enum tlsreq_mode m)
{
	static const char *const names[] = {
		[TM_OPPORTUNISTIC] = "opportunistic",
		[TM_NOTLS] = "none",
		[TM_ENCRYPT] = "encrypt",
		[TM_DANE] = "dane",
		[TM_WEBPKI] = "webpki",
		[TM_WEBPKI_TESTING] = "sts-testing",
		[TM_REFUSE] = "refuse",
	};

	return (unsigned)m < sizeof(names) / sizeof(names[0]) ? names[m] : "?";
}

void
tlsreq_flags_text(unsigned flags, char *out, size_t n)
{
	static const struct { unsigned f; const char *name; } names[] = {
		{ TF_DANE, "dane" }, { TF_DANE_ONLY, "dane-only" },
		{ TF_STS, "sts" }, { TF_WEBPKI, "verify" },
		{ TF_STS_TESTING, "sts-testing" }, { TF_ENCRYPT, "encrypt" },
		{ TF_NOTLS, "none" },
	};
	size_t o = 0;

	if (n == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(flags & names[i].f))
			continue;
		/* verify under sts is implied */
		if (names[i].f == TF_WEBPKI && (flags & TF_STS))
			continue;
		if (names[i].f == TF_ENCRYPT &&
		    (flags & (TF_WEBPKI | TF_DANE_ONLY)))
			continue;
		o += (size_t)snprintf(out + o, o < n ? n - o : 0, "%s%s",
		    o ? "+" : "", names[i].name);
	}
	if (o == 0)
		snprintf(out, n, "-");
}
