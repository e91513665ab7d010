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

#include <regex.h>
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

/* outbound TLS: smarthost_tls uses NONE/MAY/REQUIRED, outbound_tls
   NONE/MAY/ENCRYPT (REQUIRED and ENCRYPT mean the same: no clear text) */
enum conf_relay_tls {
	CONF_RELAY_TLS_NONE,
	CONF_RELAY_TLS_MAY,
	CONF_RELAY_TLS_REQUIRED,
};

/* [tls_policy] levels (docs/tls.md) */
enum conf_tls_level {
	CONF_TLSP_NONE,		/* no STARTTLS, even if offered */
	CONF_TLSP_MAY,		/* opportunistic; DANE and MTA-STS ignored */
	CONF_TLSP_ENCRYPT,	/* TLS required, not authenticated */
	CONF_TLSP_VERIFY,	/* TLS required, WebPKI name of the MX host */
	CONF_TLSP_DANE,		/* DANE required: secure MX, usable TLSA */
};

/* one [tls_policy] line: "example.com = verify"; ".example.com" stands
   for every name below example.com */
struct conf_tls_policy {
	char		*domain;	/* lower case */
	int		 level;		/* enum conf_tls_level */
};

/* [auth] backend: where SMTP AUTH checks passwords */
enum conf_auth_backend {
	CONF_AUTH_PASSWD_FILE,	/* the hashes of local.users */
	CONF_AUTH_DOVECOT,	/* Dovecot's auth service (auth.dovecot_socket) */
};

enum conf_tls {
	CONF_TLS_NONE,
	CONF_TLS_OPTIONAL,
	CONF_TLS_REQUIRED,
	CONF_TLS_IMPLICIT,
};

/* [local] transport: how local mail reaches the mailboxes */
enum conf_local_transport {
	CONF_LOCAL_MAILDIR,	/* written by relais (deliver_maildir.c) */
	CONF_LOCAL_LMTP,	/* handed to an LMTP server (RFC 2033) */
};

/* [local] lmtp: where the LMTP server listens */
#define CONF_LMTP_PATH_MAX	108	/* sizeof(sun_path) */
struct conf_lmtp {
	bool		unix_socket;	/* "unix:/path" */
	char		path[CONF_LMTP_PATH_MAX]; /* unix: the socket */
	char		host[256];	/* else: name or IP literal */
	unsigned	port;		/* 1-65535 */
	char		text[300];	/* "/path" or "host:port", for logs */
};

/* one parsed "host:port" / "[v6]:port" */
enum conf_http_tls {
	CONF_HTTP_TLS_NONE,
	CONF_HTTP_TLS_REQUIRED,
};

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
	bool			 milter;	/* milters on (default yes) */
	char			**milters;	/* its own milters, replacing
						   [milter] servers */
	size_t			 nmilters;
	bool			 milters_set;	/* milters = was given */
	bool			 proxy_protocol; /* a PROXY header (v1 or v2)
						   before SMTP (default no) */
	struct conf_cidr	*proxy_from;	/* the peers that may send it
						   (required with it) */
	size_t			 nproxy_from;
};

/* [cluster] redis_down: shared limits while Redis cannot be reached */
enum conf_redis_down {
	CONF_REDIS_DOWN_OPEN,		/* the node's own counters decide */
	CONF_REDIS_DOWN_CLOSED,		/* limited actions get a 4xx */
};

/* [milter] default_action: what a milter that cannot be reached (or
   times out, or breaks the protocol) amounts to */
enum conf_milter_action {
	CONF_MILTER_TEMPFAIL,
	CONF_MILTER_ACCEPT,
	CONF_MILTER_REJECT,
};

/* [tls] min_version */
enum conf_tls_version {
	CONF_TLS_V1_2,
	CONF_TLS_V1_3,
};

/* one [tls NAME] section: the certificate for server name NAME (SNI) */
struct conf_tls_name {
	char		*name;		/* the NAME of [tls NAME], a host name */
	char		*certificate;	/* PEM chain, required */
	char		*key;		/* PEM private key, required */
};

/* [dkim DOMAIN] algorithm / algorithm2 */
enum conf_dkim_alg {
	CONF_DKIM_RSA_SHA256,
	CONF_DKIM_ED25519_SHA256,
};

/* one [dkim DOMAIN] section: how mail From: DOMAIN is signed */
struct conf_dkim {
	char		*domain;	/* the DOMAIN, lower-case */
	char		*selector;	/* required */
	char		*key;		/* PEM private key, required */
	int		 algorithm;	/* enum conf_dkim_alg, default rsa */
	char		*selector2;	/* optional second signature */
	char		*key2;
	int		 algorithm2;	/* default ed25519-sha256 */
};

/* a rate: count per period seconds; count 0 = no limit */
struct conf_rate {
	unsigned	count;
	unsigned	period;		/* 1, 60, 3600 or 86400 */
};

/*
 * [site NAME]: traffic shaping for the destination site a recipient's
 * domain resolves to (see docs/shaping.md). A site is the set of MX hosts
 * a domain resolves to; the first [site] (in file order) with a match
 * pattern that matches one of those MX host names or the recipient's
 * domain names it, so every domain hosted there shares its limits. A
 * site no rule matches is named by its MX hosts and gets [site default]
 * (or, without one, the built-in defaults below).
 */
struct conf_site {
	char		*name;		/* NAME, lower-case */
	char		**match;	/* patterns, lower-case: "gmail.com",
					   "*.google.com" (any depth) */
	size_t		  nmatch;
	unsigned	 connection_limit;	/* per source address; 0 =
						   [relay] max_connections_per_domain */
	struct conf_rate max_message_rate;	/* per source address;
						   default 0 = none */
	unsigned	 max_deliveries_per_connection;	/* 0 = no limit */
	unsigned	 max_recipients_per_message;	/* 0 = no limit */
	unsigned	 idle_timeout;		/* seconds, default 5 */
	char		*pool;			/* [pool NAME] or NULL */
};

/* [backoff NAME] action */
enum conf_backoff_action {
	CONF_BACKOFF_SUSPEND,		/* stop the site for suspend_time */
	CONF_BACKOFF_THROTTLE,		/* cut its rate, then lift it */
};

/*
 * [backoff NAME]: a rule over the replies of remote servers. A reply
 * (as "CODE ENHANCED TEXT", e.g. "421 4.7.28 ... rate limited") that
 * matches the regular expression acts on its site: suspend it, or cut its
 * rate by rate_factor (multiplicative decrease) and lift it again by
 * rate_increase of the configured rate every recover_interval without a
 * matching reply (additive increase).
 */
struct conf_backoff {
	char		*name;
	char		*match;		/* POSIX extended regex, any case,
					   required */
	regex_t		 re;		/* match, compiled REG_EXTENDED |
					   REG_ICASE | REG_NOSUB */
	bool		 re_ok;		/* re holds a compiled regex */
	int		 action;	/* enum conf_backoff_action,
					   default throttle */
	unsigned	 suspend_time;	/* seconds, default 10m (suspend),
					   1m (throttle: pause before the cut
					   rate applies) */
	unsigned	 rate_factor;	/* percent kept on a cut, default 50 */
	unsigned	 rate_increase;	/* percent of the configured rate
					   added per interval, default 10 */
	unsigned	 recover_interval; /* seconds, default 1m */
};

/* [pool NAME]: outbound source addresses, with a warm-up schedule */
struct conf_pool {
	char		*name;
	char		**addresses;	/* IPv4/IPv6 literals, required */
	size_t		  naddresses;
	unsigned	 warmup_start;	/* messages per address on day one,
					   0 = no warm-up */
	unsigned	 warmup_growth;	/* percent more each day, default 100 */
	char		*warmup_since;	/* YYYY-MM-DD, day one (UTC) */
	int64_t		 warmup_day0;	/* warmup_since as unix time */
};

/* [tenant NAME]: users and API keys that share quotas and a pool */
struct conf_tenant {
	char		*name;
	char		**users;	/* SMTP AUTH user names */
	size_t		  nusers;
	char		**api_keys;	/* API key names */
	size_t		  napi_keys;
	unsigned	 messages_per_hour;	/* 0 = no limit */
	unsigned	 messages_per_day;
	unsigned	 recipients_per_hour;
	unsigned	 recipients_per_day;
	char		*pool;		/* [pool NAME] or NULL */
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
		bool	 sandbox;	/* Landlock + seccomp, default yes */
		char	*node;		/* this node's name in a cluster;
					   default: hostname */
	} server;

	struct conf_listener	*listeners;
	size_t			 nlisteners;

	struct {
		char	**domains;	/* lower-case */
		size_t	  ndomains;
		char	*mailboxes;	/* template, default DATA_DIR/mail/%d/%u */
		char	*users;		/* passwd-file path or NULL */
		char	*aliases;	/* aliases file path or NULL */
		int	 transport;	/* enum conf_local_transport, default
					   maildir */
		char	*lmtp;		/* LMTP server, as written, or NULL */
		struct conf_lmtp lmtp_addr;	/* lmtp parsed (when set) */
	} local;

	struct {
		struct conf_cidr *trusted_networks;
		size_t		  ntrusted_networks;
		char		*smarthost;		/* HOST[:PORT] or NULL */
		int		 smarthost_tls;		/* enum conf_relay_tls */
		char		*smarthost_user;
		char		*smarthost_password_file;
		int		 outbound_tls;		/* enum conf_relay_tls */
		unsigned	 outbound_port;		/* default 25 */
		char		*outbound_address;	/* source address */
		char		*postmaster;		/* double bounces */
		unsigned	 max_connections_per_domain; /* default 20 */
		unsigned	 max_outbound_connections;   /* default 500 */
		unsigned	 retry_min;		/* seconds, default 1m */
		unsigned	 retry_max;		/* seconds, default 1h */
		unsigned	 max_queue_lifetime;	/* seconds, default 5d */
		unsigned	 delay_warning;		/* seconds, 0 = off */
		char		*shaping;	/* a file of [site], [backoff]
						   and [pool] sections, or NULL */
		char		*ca_file;	/* PEM CAs for WebPKI checks
						   (MTA-STS, verify); NULL =
						   the system's */
	} relay;

	struct {
		char		*resolver;	/* HOST:PORT, NULL = resolv.conf */
		unsigned	 timeout;	/* seconds per query, default 10 */
		char		*trust_anchor;	/* DNSSEC root key file, NULL =
						   no validation ("none", or
						   the default file missing) */
	} dns;

	struct {
		char	*certificate;	/* PEM chain; NULL = self-signed in
					   DATA_DIR/tls */
		char	*key;		/* PEM private key */
		char	*ciphers;	/* TLS 1.2 cipher list (OpenSSL syntax) */
		int	 min_version;	/* enum conf_tls_version, default 1.2 */
		struct conf_tls_name *names;	/* [tls NAME] sections */
		size_t	 nnames;
	} tls;

	struct {
		bool	allow_plaintext_loopback;	/* default no */
		bool	sender_login_check;		/* default yes */
		int	backend;	/* enum conf_auth_backend, default
					   passwd-file */
		char	*dovecot_socket;	/* default
						   /run/dovecot/auth-client */
		unsigned dovecot_timeout;	/* seconds, default 10 */
	} auth;

	struct conf_dkim	*dkim;		/* [dkim DOMAIN] sections */
	size_t			 ndkim;

	struct {
		char	*authserv_id;	/* default: server.hostname */
		bool	 dmarc_enforce;	/* default no */
	} msgauth;

	struct {
		uint64_t	max_message_size;	/* default 25M */
		unsigned	max_recipients;		/* default 100 */
		unsigned	max_connections;	/* default 1000 */
		unsigned	max_connections_per_ip;	/* default 20 */
		unsigned	command_timeout;	/* seconds, default 300 */
		unsigned	data_timeout;		/* seconds, default 600 */
		unsigned	connections_per_ip_per_minute;	/* 0 = off */
		unsigned	max_errors_per_session;	/* default 20 */
		unsigned	auth_failures_per_ip;	/* per window, 0 = off */
		unsigned	auth_failure_window;	/* seconds, default 10m */
		unsigned	auth_ban_time;		/* seconds, first ban */
		unsigned	auth_ban_max_time;	/* seconds, cap of doubling */
		unsigned	user_daily_limit;	/* messages, 0 = off */
		unsigned	max_session_time;	/* seconds, 0 = off */
	} limits;

	struct {
		bool		 enabled;	/* the [http] section is there */
		struct conf_addr *addrs;	/* default 127.0.0.1:8025 */
		size_t		 naddrs;
		int		 tls;		/* enum conf_http_tls */
		char		*keys;		/* NULL: DATA_DIR/api-keys
					   (apikey_conf_path) */
		unsigned	 event_retention; /* seconds, default 7d */
		uint64_t	 min_free_space; /* /healthz, default 100M */
	} http;

	struct {
		char		*url;		/* NULL = no webhooks */
		char		*secret;	/* HMAC-SHA256 key */
		unsigned	 batch_size;	/* events per POST, default 100 */
		unsigned	 timeout;	/* seconds per POST, default 10 */
		unsigned	 retry_max;	/* seconds, back-off cap, 10m */
	} webhooks;

	/* [milter]: mail filters (docs/integrations.md) */
	struct {
		char		**servers;	/* "inet:IP:PORT", "unix:/path" */
		size_t		  nservers;
		int		 default_action; /* enum conf_milter_action */
		unsigned	 connect_timeout;	/* seconds, default 30 */
		unsigned	 command_timeout;	/* seconds, default 30 */
		unsigned	 content_timeout;	/* seconds, default 300 */
		/* macro names sent per stage (SMFIM_* order) */
		char		*macros[7];
	} milter;

	/* [cluster]: state shared by nodes through Redis (docs/cluster.md) */
	struct {
		char		*redis;		/* HOST:PORT or unix:/PATH, NULL =
						   no cluster: all state local */
		char		*password;	/* AUTH, NULL = none */
		char		*prefix;	/* key prefix, default "relais:" */
		int		 redis_down;	/* enum conf_redis_down */
		unsigned	 timeout;	/* seconds, default 2 */
		bool		 tls;		/* reach Redis over TLS */
		char		*tls_ca_file;	/* NULL = the system's CAs */
		char		*tls_certificate; /* client certificate and */
		char		*tls_key;	/* its key, or both NULL */
		char		*tls_name;	/* NULL = the host of redis */
	} cluster;

	/* [tlsrpt]: TLS-RPT reports (RFC 8460, docs/tls.md) */
	struct {
		bool		 enabled;	/* send the daily reports */
		char		*from;		/* reporting address, default
						   postmaster@HOSTNAME */
		char		*organization;	/* organization-name, default
						   HOSTNAME */
		char		*contact;	/* contact-info, default from */
	} tlsrpt;

	struct conf_site	*sites;		/* [site NAME], in file order */
	size_t			 nsites;
	struct conf_backoff	*backoffs;	/* [backoff NAME], in order */
	size_t			 nbackoffs;
	struct conf_pool	*pools;		/* [pool NAME] */
	size_t			 npools;
	struct conf_tenant	*tenants;	/* [tenant NAME] */
	size_t			 ntenants;
	struct conf_tls_policy	*tls_policies;	/* [tls_policy] lines */
	size_t			 ntls_policies;

	bool		events;		/* record delivery events (http or
					   webhooks on) */
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

/*
 * conf_peek_data_dir - [server] data_dir of the file at path, found by a
 * forgiving scan that works on a file conf_load refuses (relais reload
 * must find the daemon to have it refuse the file), else the default;
 * a string the caller frees.
 */
char	*conf_peek_data_dir(const char *path);

struct conf *conf_ref(struct conf *conf);
/* conf_unref - drop a reference; frees on the last one; NULL is fine */
void	conf_unref(struct conf *conf);

/* conf_site_find - the [site] for a recipient domain and its MX hosts
   (first match in file order), or [site default], or NULL */
const struct conf_site *conf_site_find(const struct conf *conf,
	    const char *domain, const char *const *mx, size_t nmx);
/* conf_pool_find / conf_tenant_find - by NAME, or NULL */
const struct conf_pool *conf_pool_find(const struct conf *conf,
	    const char *name);
const struct conf_tenant *conf_tenant_find(const struct conf *conf,
	    const char *name);
/* conf_tenant_of_user / _of_key - the tenant of an SMTP AUTH user or an
   API key name, or NULL */
const struct conf_tenant *conf_tenant_of_user(const struct conf *conf,
	    const char *user);
const struct conf_tenant *conf_tenant_of_key(const struct conf *conf,
	    const char *key);

/* conf_tls_policy_find - the [tls_policy] line for domain (any case):
   the exact name first, then ".parent" lines from the closest parent
   up; NULL when none applies */
const struct conf_tls_policy *conf_tls_policy_find(const struct conf *conf,
	    const char *domain);

/* conf_listener_milters - the milters of listener name (its own list,
   else [milter] servers; none when it says milter = no) */
const char *const *conf_listener_milters(const struct conf *conf,
	    const char *name, size_t *n);

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
/* conf_parse_rate - "0" (none) or "N/UNIT", UNIT s|sec|m|min|h|hour|d|day */
int	conf_parse_rate(const char *s, struct conf_rate *out, struct err *err);
/* conf_parse_lmtp - "unix:/absolute/path", "host:port" or "[v6]:port"
   (host a DNS name or an IP literal, port 1-65535) */
int	conf_parse_lmtp(const char *s, struct conf_lmtp *out, struct err *err);
/* conf_parse_date - "YYYY-MM-DD" (a real date, 1970..9999): its 00:00
   UTC as unix time */
int	conf_parse_date(const char *s, int64_t *out, struct err *err);

#endif
