/* SPDX-License-Identifier: ISC */
/*
 * smtp_param_fmt.c - the DSN parameters (RFC 3461) of the MAIL and RCPT
 * commands relais sends: the outbound agent and the drain hand-off pass
 * on what the client asked. Pure; see smtp_param.h.
 */
#include <stdio.h>
#include <string.h>

#include "smtp/smtp_param.h"

void
smtp_param_xtext(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s && o + 4 < outlen; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 33 || ch > 126 || ch == '+' || ch == '=')
			o += (size_t)snprintf(out + o, outlen - o, "+%02X", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
}

/* smtp_param_add - printf onto out at *o, never past n */
static void
smtp_param_add(char *out, size_t n, size_t *o, const char *s)
{
	size_t len = strlen(s);

	if (*o + len >= n)
		return;
	memcpy(out + *o, s, len + 1);
	*o += len;
}

size_t
smtp_param_dsn_mail(char *out, size_t n, size_t o, int ret,
    const char *envid)
{
	char tmp[128];

	if (ret == SMTP_RET_FULL || ret == SMTP_RET_HDRS)
		smtp_param_add(out, n, &o, ret == SMTP_RET_FULL ?
		    " RET=FULL" : " RET=HDRS");
	/* ENVID is xtext of at most 100 characters (RFC 3461 4.4) */
	if (envid != NULL && o + 110 < n) {
		snprintf(tmp, sizeof(tmp), " ENVID=%.100s", envid);
		smtp_param_add(out, n, &o, tmp);
	}
	return o;
}

size_t
smtp_param_dsn_rcpt(char *out, size_t n, size_t o, unsigned notify,
    const char *orcpt, const char *orig)
{
	char tmp[600], x[500];

	if (notify != 0) {
		const char *sep = "";

		smtp_param_add(out, n, &o, " NOTIFY=");
		if (notify & SMTP_NOTIFY_NEVER)
			smtp_param_add(out, n, &o, "NEVER");
		else {
			if (notify & SMTP_NOTIFY_SUCCESS) {
				smtp_param_add(out, n, &o, "SUCCESS");
				sep = ",";
			}
			if (notify & SMTP_NOTIFY_FAILURE) {
				smtp_param_add(out, n, &o, sep);
				smtp_param_add(out, n, &o, "FAILURE");
				sep = ",";
			}
			if (notify & SMTP_NOTIFY_DELAY) {
				smtp_param_add(out, n, &o, sep);
				smtp_param_add(out, n, &o, "DELAY");
			}
		}
	}
	if (o + 520 >= n)
		return o;
	if (orcpt != NULL) {
		snprintf(tmp, sizeof(tmp), " ORCPT=%.510s", orcpt);
		smtp_param_add(out, n, &o, tmp);
	} else if (orig != NULL && orig[0] != '\0') {
		smtp_param_xtext(orig, x, sizeof(x));
		snprintf(tmp, sizeof(tmp), " ORCPT=rfc822;%s", x);
		smtp_param_add(out, n, &o, tmp);
	}
	return o;
}
