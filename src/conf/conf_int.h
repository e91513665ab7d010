/* SPDX-License-Identifier: ISC */
/*
 * conf_int.h - the key table of conf.c, for the code of the conf layer
 * that walks it (conf_diff.c, conf_peek.c). Not for other layers: they
 * read struct conf.
 */
#ifndef RELAIS_CONF_INT_H
#define RELAIS_CONF_INT_H

#include <stddef.h>
#include <stdint.h>

enum conf_section_id {
	CONF_SEC_SERVER,
	CONF_SEC_LISTENER,
	CONF_SEC_LOCAL,
	CONF_SEC_RELAY,
	CONF_SEC_LIMITS,
	CONF_SEC_DNS,
	CONF_SEC_TLS,
	CONF_SEC_TLS_NAME,
	CONF_SEC_AUTH,
	CONF_SEC_DKIM,
	CONF_SEC_MSGAUTH,
	CONF_SEC_HTTP,
	CONF_SEC_WEBHOOKS,
	CONF_SEC_SITE,
	CONF_SEC_BACKOFF,
	CONF_SEC_POOL,
	CONF_SEC_TENANT,
	CONF_SEC_TLS_POLICY,
	CONF_SEC_TLSRPT,
	CONF_SEC_MILTER,
	CONF_SEC_CLUSTER,
	CONF_SEC_COUNT,
};

enum conf_type_id {
	CONF_T_STRING,		/* char *; "" clears a key without default */
	CONF_T_HOSTNAME,	/* char *, a DNS name */
	CONF_T_TEMPLATE,	/* char *, path with %d %u %% */
	CONF_T_UINT,		/* unsigned, decimal */
	CONF_T_SIZE,		/* uint64_t, K/M/G suffix */
	CONF_T_DURATION,	/* unsigned seconds, s/m/h/d suffix */
	CONF_T_BOOL,		/* bool */
	CONF_T_ENUM,		/* enum stored as int, names[] */
	CONF_T_LOG_LEVEL,	/* int, log_level_parse */
	CONF_T_DOMAINS,		/* char ** + size_t at off_n, lower-case */
	CONF_T_CIDRS,		/* struct conf_cidr * + size_t at off_n */
	CONF_T_ADDRS,		/* struct conf_addr * + size_t at off_n */
	CONF_T_RATE,		/* struct conf_rate, "0" or "N/UNIT" */
	CONF_T_PATTERNS,	/* char ** + size_t, "dom" or "*.dom", lower */
	CONF_T_REGEX,		/* char *, a POSIX extended regex */
	CONF_T_IPS,		/* char ** + size_t, IP literals (normalised) */
	CONF_T_DATE,		/* char *, YYYY-MM-DD */
	CONF_T_WORDS,		/* char ** + size_t, printable words */
	CONF_T_POOL,		/* char *, the NAME of a [pool NAME] */
	CONF_T_SOCKET,		/* char *, absolute path of a unix socket */
	CONF_T_MILTERS,		/* char ** + size_t, "inet:IP:PORT" or
				   "unix:/path" */
};

#define CONF_KF_REQUIRED	0x1	/* the section must set it */

struct conf_key {
	enum conf_section_id	 section;
	const char		*name;
	enum conf_type_id	 type;
	const char		*def;	/* parsed like a value; NULL = none */
	uint64_t		 min, max;	/* numeric types, inclusive */
	size_t			 off;	/* field in the section's struct */
	size_t			 off_n;	/* list types: the count field */
	const char *const	*names;	/* CONF_T_ENUM: index = value */
	unsigned		 flags;	/* CONF_KF_* */
};

/* the key table, in the order of docs/configuration.md (conf.c) */
extern const struct conf_key conf_keys[];
extern const size_t conf_nkeys;

/* conf_section_name - the word of a section's header: "limits", "site" */
const char *conf_section_name(enum conf_section_id id);

#endif
