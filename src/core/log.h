/* SPDX-License-Identifier: ISC */
/*
 * log.h - one logfmt line per event on stderr.
 *
 * Every line starts "ts=... level=..." followed by the caller's
 * "event=name key=value ..." text. Lines are written with one write(2),
 * so threads never interleave inside a line. Severities follow OpenSMTPD:
 * log_warn appends strerror(errno), log_warnx does not; fatal/fatalx are
 * for setup failures before the loops start and exit(1).
 */
#ifndef RELAIS_CORE_LOG_H
#define RELAIS_CORE_LOG_H

#include <stdnoreturn.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_ERROR,
};

void	log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* log_level_parse - "debug"|"info"|"warning"|"error"; -1 if unknown */
int	log_level_parse(const char *name);

#define LOG_FMT __attribute__((format(printf, 1, 2)))
void	log_debug(const char *fmt, ...) LOG_FMT;
void	log_info(const char *fmt, ...) LOG_FMT;
void	log_warn(const char *fmt, ...) LOG_FMT;
void	log_warnx(const char *fmt, ...) LOG_FMT;
void	log_error(const char *fmt, ...) LOG_FMT;
noreturn void fatal(const char *fmt, ...) LOG_FMT;
noreturn void fatalx(const char *fmt, ...) LOG_FMT;

/* log_quote - logfmt-safe copy of s into out (quotes and escapes as needed) */
const char *log_quote(char *out, size_t outlen, const char *s, size_t len);
/* log_addr - "<addr>" as one logfmt value (quoted when it needs to be) */
const char *log_addr(char *out, size_t outlen, const char *addr);
#define LOG_ADDR_MAX	1100	/* out size for any address relais accepts */

#endif
