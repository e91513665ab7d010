/* SPDX-License-Identifier: ISC */
/*
 * err.h - error detail filled by lower layers, logged once by the caller.
 */
#ifndef RELAIS_CORE_ERR_H
#define RELAIS_CORE_ERR_H

#include <stdarg.h>
#include <stdio.h>

struct err {
	int	code;		/* errno or module-specific code, 0 if none */
	char	msg[256];	/* human-readable, no trailing newline */
};

__attribute__((format(printf, 3, 4)))
static inline int
err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e != NULL) {
		e->code = code;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

#endif
