/* SPDX-License-Identifier: ISC */
/*
 * conf.h - the loaded configuration: INI files read with inih, checked
 * against one key table (conf.c), or the embedded default.
 *
 * A struct conf is immutable once loaded. The daemon shares it between
 * threads by reference count (conf_ref/conf_unref): SIGHUP loads a new
 * one and swaps it in; sessions keep the one they started with.
 */
#ifndef RELAIS_CONF_H
#define RELAIS_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/str.h"

enum conf_role {
	CONF_ROLE_MX,
	CONF_ROLE_SUBMISSION,
	CONF_ROLE_SUBMISSIONS,
};

enum conf_tls {
	CONF_TLS_NONE,
	CONF_TLS_OPTIONAL,
	CONF_TLS_REQUIRED,
	CONF_TLS_IMPLICIT,
};

/* one parsed "host:port" / "[v6]:port" */
struct conf_addr {
	struct sockaddr_storage	ss;
	socklen_t		sslen;
	char			text[64];	/* as "host:port" / "[v6]:port" */
};

struct conf_listener {
	char			*name;		/* the NAME of [listener NAME] */
	struct conf_addr	*addrs;
	size_t			 naddrs;
	enum conf_role		 role;		/* default mx */
	enum conf_tls		 tls;		/* default none */
};

struct conf_cidr {
	int		family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];	/* network address, host bits zero */
	unsigned	prefix;
};

struct conf {
	atomic_int	refs;
	char		*path;		/* file loaded, NULL = embedded default */

	struct {
		char	*hostname;	/* default: gethostname() */
		char	*data_dir;	/* default /var/lib/relais;
					   embedded default ./relais-data */
		char	*user;		/* NULL = do not drop privileges */
		unsigned threads;	/* 0 = one per core */
		int	 log_level;	/* enum log_level, default info */
	} server;

	struct conf_listener	*listeners;
	size_t			 nlisteners;

	struct {
		char	**domains;	/* lower-case */
		size_t	  ndomains;
		char	*mailboxes;	/* template, default DATA_DIR/mail/%d/%u */
		char	*users;		/* passwd-file path or NULL */
		char	*aliases;	/* aliases file path or NULL */
	} local;

	struct {
		struct conf_cidr *trusted_networks;
		size_t		  ntrusted_networks;
	} relay;

	struct {
		uint64_t	max_message_size;	/* default 25M */
		unsigned	max_recipients;		/* default 100 */
		unsigned	max_connections;	/* default 1000 */
		unsigned	max_connections_per_ip;	/* default 20 */
		unsigned	command_timeout;	/* seconds, default 300 */
		unsigned	data_timeout;		/* seconds, default 600 */
	} limits;
};

/*
 * conf_load - read and check path. On error returns -1 with err->msg set
 * to "FILE:LINE: message" (LINE of the offending line, or FILE: message
 * when no line applies, e.g. a missing required key or an unreadable file).
 */
int	conf_load(const char *path, struct conf **conf_out, struct err *err);

/*
 * conf_load_string - as conf_load, from len bytes of text (which need not
 * be NUL-terminated and may hold any bytes); name stands for FILE in the
 * messages and becomes conf->path. Used by conf_load and the fuzzer.
 */
int	conf_load_string(const char *name, const char *text, size_t len,
	    struct conf **conf_out, struct err *err);

/* conf_default - the embedded default configuration (design.md) */
struct conf *conf_default(void);

/*
 * conf_find - the config relais serve should use: path if given, else
 * ./relais.conf if it exists, else the embedded default.
 */
int	conf_find(const char *path, struct conf **conf_out, struct err *err);

struct conf *conf_ref(struct conf *conf);
/* conf_unref - drop a reference; frees on the last one; NULL is fine */
void	conf_unref(struct conf *conf);

/* conf_is_local_domain - domain (any case) is one of [local] domains */
bool	conf_is_local_domain(const struct conf *conf, struct str domain);

/* conf_is_trusted - sa's address lies within [relay] trusted_networks */
bool	conf_is_trusted(const struct conf *conf, const struct sockaddr *sa);

/* conf_cidr_match - does sa lie within cidr (v4-mapped v6 counts as v4) */
bool	conf_cidr_match(const struct conf_cidr *cidr,
	    const struct sockaddr *sa);

/* pure value parsers, shared with later keys; 0 or -1 with err->msg */
int	conf_parse_size(const char *s, uint64_t *out, struct err *err);
int	conf_parse_duration(const char *s, unsigned *seconds_out,
	    struct err *err);
int	conf_parse_bool(const char *s, bool *out, struct err *err);
int	conf_parse_addr(const char *s, struct conf_addr *out, struct err *err);
int	conf_parse_cidr(const char *s, struct conf_cidr *out, struct err *err);

#endif
