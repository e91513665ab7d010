/* SPDX-License-Identifier: ISC */
/*
 * conf.c - load relais.conf: inih splits lines into key = value, one key
 * table checks and stores them; plus the embedded default and the
 * lookups the daemon asks of a loaded config.
 *
 * Organisation: the value types (one setter and one destructor each),
 * the section table, then the key table: one row per key with section,
 * name, type, default, bounds and offsetof into the struct the section
 * fills (struct conf, or struct conf_listener for [listener NAME]).
 * Adding a key is adding a field in conf.h and a row here. Defaults are
 * strings run through the same setters as the file, so the table reads
 * like docs/configuration.md. What one key cannot check alone (a default
 * that depends on another key, a key required unless another is set) a
 * section's end hook checks, with the line of each key at hand.
 *
 * [relay] shaping names a second file, read after the main one with the
 * same load state, that may hold only [site], [backoff] and [pool]
 * sections; references to a [pool] are resolved once both are read.
 *
 * inih is driven through ini_parse_stream with conf_reader, because
 * Debian builds it with INI_HANDLER_LINENO=0, 200-byte lines and
 * multi-line values. The reader counts lines (FILE:LINE messages),
 * parses the [section] headers itself (inih never reports a section
 * without keys), refuses NUL bytes and over-long lines instead of letting
 * inih cut them in two, and marks indented continuation lines, which
 * list-valued keys accept so that long lists fit the line limit (an
 * indented "name = value" line is still a key, see conf_line_is_key).
 *
 * Loading touches no global state; the result is immutable and shared
 * between threads by reference count. Fuzzed by tests/fuzz/fuzz_conf.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ini.h>

#include "conf/conf.h"
#include "conf/conf_int.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/xalloc.h"

#define CONF_FILE_MAX		(4u * 1024 * 1024)	/* bytes of config */
#define CONF_NAME_MAX		64	/* NAME in [listener NAME] */
#define CONF_DEFAULT_NAME	"(default)"
#define CONF_DEFAULT_DATA_DIR	"relais-data"	/* under the cwd */

/* a suffix of sizes and durations, for messages */
struct conf_unit {
	uint64_t	 unit;
	const char	*suffix;
};

struct conf_load;

typedef int conf_set_fn(struct conf_load *ctx, const struct conf_key *k,
    void *base, const char *value, bool append, struct err *err);
typedef void conf_fini_fn(const struct conf_key *k, void *base);

struct conf_type {
	conf_set_fn	*set;
	conf_fini_fn	*fini;		/* NULL: nothing to free */
	bool		 list;		/* takes continuation lines */
};

struct conf_section {
	const char		*name;
	enum conf_section_id	 id;
	/* named sections ([listener NAME]); NULL for singletons */
	void	*(*add)(struct conf *conf, const char *name);
	bool	 (*exists)(const struct conf *conf, const char *name);
	/* checks across keys at the end of the section; NULL: none */
	int	 (*end)(struct conf_load *ctx, void *base);
	bool	 shaping;	/* allowed in the [relay] shaping file */
};

static int	conf_parse(const char *, const char *, size_t, struct conf **,
		    struct err *);
static int	conf_tlsrpt_end(struct conf_load *, void *);
static int	conf_cluster_end(struct conf_load *, void *);
static int	conf_server_end(struct conf_load *, void *);
static int	conf_local_end(struct conf_load *, void *);
static int	conf_listener_end(struct conf_load *, void *);
static void	conf_finish(struct conf *);
static void	conf_free(struct conf *);
static void	conf_error(struct conf_load *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static char	*conf_reader(char *, int, void *);
static int	conf_handler(void *, const char *, const char *, const char *);
static int	conf_section_begin(struct conf_load *, struct str);
static int	conf_section_end(struct conf_load *);
static const struct conf_key *conf_key_find(enum conf_section_id,
		    const char *);
static void	conf_apply_defaults(struct conf_load *, enum conf_section_id,
		    void *);
static void	conf_fini_keys(enum conf_section_id, void *);
static void	*conf_listener_add(struct conf *, const char *);
static bool	conf_listener_exists(const struct conf *, const char *);
static void	*conf_tls_name_add(struct conf *, const char *);
static bool	conf_tls_name_exists(const struct conf *, const char *);
static void	*conf_dkim_add(struct conf *, const char *);
static bool	conf_dkim_exists(const struct conf *, const char *);
static void	*conf_site_add(struct conf *, const char *);
static bool	conf_site_exists(const struct conf *, const char *);
static int	conf_site_end(struct conf_load *, void *);
static void	*conf_backoff_add(struct conf *, const char *);
static bool	conf_backoff_exists(const struct conf *, const char *);
static int	conf_backoff_end(struct conf_load *, void *);
static void	*conf_pool_add(struct conf *, const char *);
static bool	conf_pool_exists(const struct conf *, const char *);
static int	conf_pool_end(struct conf_load *, void *);
static void	*conf_tenant_add(struct conf *, const char *);
static bool	conf_tenant_exists(const struct conf *, const char *);
static int	conf_shaping_load(struct conf_load *);
static int	conf_check_pools(struct conf_load *);
static bool	conf_line_is_key(struct str);
static bool	conf_name_valid(struct str);
static bool	conf_domain_valid(struct str);
static const char *conf_digits(const char *, uint64_t *);
static struct str conf_token(const char **);
static void	conf_format_bound(const struct conf_key *, uint64_t, char *,
		    size_t);
static int	conf_check_range(const struct conf_key *, uint64_t,
		    const char *, struct err *);
static conf_set_fn conf_set_string, conf_set_hostname, conf_set_template,
		    conf_set_uint, conf_set_size, conf_set_duration,
		    conf_set_bool, conf_set_enum, conf_set_log_level,
		    conf_set_domains, conf_set_cidrs, conf_set_addrs,
		    conf_set_rate, conf_set_patterns, conf_set_regex,
		    conf_set_ips, conf_set_date, conf_set_words, conf_set_pool,
		    conf_set_socket,
		    conf_set_milters;
static conf_fini_fn conf_fini_string, conf_fini_domains, conf_fini_array;

static const struct conf_type conf_types[] = {
	[CONF_T_STRING] = { conf_set_string, conf_fini_string, false },
	[CONF_T_HOSTNAME] = { conf_set_hostname, conf_fini_string, false },
	[CONF_T_TEMPLATE] = { conf_set_template, conf_fini_string, false },
	[CONF_T_UINT] = { conf_set_uint, NULL, false },
	[CONF_T_SIZE] = { conf_set_size, NULL, false },
	[CONF_T_DURATION] = { conf_set_duration, NULL, false },
	[CONF_T_BOOL] = { conf_set_bool, NULL, false },
	[CONF_T_ENUM] = { conf_set_enum, NULL, false },
	[CONF_T_LOG_LEVEL] = { conf_set_log_level, NULL, false },
	[CONF_T_DOMAINS] = { conf_set_domains, conf_fini_domains, true },
	[CONF_T_CIDRS] = { conf_set_cidrs, conf_fini_array, true },
	[CONF_T_ADDRS] = { conf_set_addrs, conf_fini_array, true },
	[CONF_T_RATE] = { conf_set_rate, NULL, false },
	[CONF_T_PATTERNS] = { conf_set_patterns, conf_fini_domains, true },
	[CONF_T_REGEX] = { conf_set_regex, conf_fini_string, false },
	[CONF_T_IPS] = { conf_set_ips, conf_fini_domains, true },
	[CONF_T_DATE] = { conf_set_date, conf_fini_string, false },
	[CONF_T_WORDS] = { conf_set_words, conf_fini_domains, true },
	[CONF_T_POOL] = { conf_set_pool, conf_fini_string, false },
	[CONF_T_SOCKET] = { conf_set_socket, conf_fini_string, false },
	[CONF_T_MILTERS] = { conf_set_milters, conf_fini_domains, true },
};

static const struct conf_section conf_sections[] = {
	{ .name = "server", .id = CONF_SEC_SERVER, .end = conf_server_end },
	{ .name = "listener", .id = CONF_SEC_LISTENER,
	    .add = conf_listener_add, .exists = conf_listener_exists,
	    .end = conf_listener_end },
	{ .name = "local", .id = CONF_SEC_LOCAL, .end = conf_local_end },
	{ .name = "relay", .id = CONF_SEC_RELAY },
	{ .name = "limits", .id = CONF_SEC_LIMITS },
	/* [tls] and [tls NAME]: the same word, told apart by the NAME */
	{ .name = "tls", .id = CONF_SEC_TLS },
	{ .name = "tls", .id = CONF_SEC_TLS_NAME,
	    .add = conf_tls_name_add, .exists = conf_tls_name_exists },
	{ .name = "auth", .id = CONF_SEC_AUTH },
	{ .name = "dns", .id = CONF_SEC_DNS },
	{ .name = "dkim", .id = CONF_SEC_DKIM,
	    .add = conf_dkim_add, .exists = conf_dkim_exists },
	{ .name = "msgauth", .id = CONF_SEC_MSGAUTH },
	{ .name = "http", .id = CONF_SEC_HTTP },
	{ .name = "webhooks", .id = CONF_SEC_WEBHOOKS },
	/* traffic shaping: in the main file or the [relay] shaping one */
	{ .name = "site", .id = CONF_SEC_SITE,
	    .add = conf_site_add, .exists = conf_site_exists,
	    .end = conf_site_end, .shaping = true },
	{ .name = "backoff", .id = CONF_SEC_BACKOFF,
	    .add = conf_backoff_add, .exists = conf_backoff_exists,
	    .end = conf_backoff_end, .shaping = true },
	{ .name = "pool", .id = CONF_SEC_POOL,
	    .add = conf_pool_add, .exists = conf_pool_exists,
	    .end = conf_pool_end, .shaping = true },
	{ .name = "tenant", .id = CONF_SEC_TENANT,
	    .add = conf_tenant_add, .exists = conf_tenant_exists },
	/* DOMAIN = LEVEL lines: no key table (conf_tls_policy_line) */
	{ .name = "tls_policy", .id = CONF_SEC_TLS_POLICY },
	{ .name = "tlsrpt", .id = CONF_SEC_TLSRPT, .end = conf_tlsrpt_end },
	{ .name = "milter", .id = CONF_SEC_MILTER },
	{ .name = "cluster", .id = CONF_SEC_CLUSTER,
	    .end = conf_cluster_end },
};

static const char *const conf_local_transport_names[] = {
	[CONF_LOCAL_MAILDIR] = "maildir",
	[CONF_LOCAL_LMTP] = "lmtp",
	NULL,
};

static const char *const conf_http_tls_names[] = {
	[CONF_HTTP_TLS_NONE] = "none",
	[CONF_HTTP_TLS_REQUIRED] = "required",
	NULL,
};

static const char *const conf_role_names[] = {
	[CONF_ROLE_MX] = "mx",
	[CONF_ROLE_SUBMISSION] = "submission",
	[CONF_ROLE_SUBMISSIONS] = "submissions",
	NULL,
};

static const char *const conf_tls_names[] = {
	[CONF_TLS_NONE] = "none",
	[CONF_TLS_OPTIONAL] = "optional",
	[CONF_TLS_REQUIRED] = "required",
	[CONF_TLS_IMPLICIT] = "implicit",
	NULL,
};

static const char *const conf_smarthost_tls_names[] = {
	[CONF_RELAY_TLS_NONE] = "none",
	[CONF_RELAY_TLS_MAY] = "may",
	[CONF_RELAY_TLS_REQUIRED] = "required",
	NULL,
};

static const char *const conf_outbound_tls_names[] = {
	[CONF_RELAY_TLS_NONE] = "none",
	[CONF_RELAY_TLS_MAY] = "may",
	[CONF_RELAY_TLS_REQUIRED] = "encrypt",
	NULL,
};

static const char *const conf_dkim_alg_names[] = {
	[CONF_DKIM_RSA_SHA256] = "rsa-sha256",
	[CONF_DKIM_ED25519_SHA256] = "ed25519-sha256",
	NULL,
};

static const char *const conf_backoff_action_names[] = {
	[CONF_BACKOFF_SUSPEND] = "suspend",
	[CONF_BACKOFF_THROTTLE] = "throttle",
	NULL,
};

static const char *const conf_auth_backend_names[] = {
	[CONF_AUTH_PASSWD_FILE] = "passwd-file",
	[CONF_AUTH_DOVECOT] = "dovecot",
	NULL,
};

static const char *const conf_redis_down_names[] = {
	[CONF_REDIS_DOWN_OPEN] = "open",
	[CONF_REDIS_DOWN_CLOSED] = "closed",
	NULL,
};

static const char *const conf_milter_action_names[] = {
	[CONF_MILTER_TEMPFAIL] = "tempfail",
	[CONF_MILTER_ACCEPT] = "accept",
	[CONF_MILTER_REJECT] = "reject",
	NULL,
};

static const char *const conf_tls_version_names[] = {
	[CONF_TLS_V1_2] = "TLSv1.2",
	[CONF_TLS_V1_3] = "TLSv1.3",
	NULL,
};

/* Mozilla's "intermediate" TLS 1.2 list less DHE: AEAD and forward
   secrecy only; TLS 1.3 suites are OpenSSL's defaults */
#define CONF_TLS_CIPHERS	"ECDHE-ECDSA-AES128-GCM-SHA256:" \
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
	"ECDHE-RSA-CHACHA20-POLY1305"

_Static_assert(sizeof(enum conf_role) == sizeof(int), "enum as int");
_Static_assert(sizeof(enum conf_tls) == sizeof(int), "enum as int");

#define KB	1024ull
#define MB	(1024ull * KB)
#define GB	(1024ull * MB)
#define CONF_F(field)		offsetof(struct conf, field)
#define CONF_L(field)		offsetof(struct conf_listener, field)
#define CONF_T(field)		offsetof(struct conf_tls_name, field)
#define CONF_D(field)		offsetof(struct conf_dkim, field)
#define CONF_S(field)		offsetof(struct conf_site, field)
#define CONF_B(field)		offsetof(struct conf_backoff, field)
#define CONF_P(field)		offsetof(struct conf_pool, field)
#define CONF_N(field)		offsetof(struct conf_tenant, field)
#define CONF_TRUST_ANCHOR	"/usr/share/dns/root.key"
#define CONF_RATE_MAX		100000000u	/* messages per period */
#define CONF_QUOTA_MAX		100000000u	/* tenant quotas */

/*
 * The key table. Keep it in the order of docs/configuration.md. hostname
 * and mailboxes have computed defaults (conf_finish).
 */
const struct conf_key conf_keys[] = {
	/* [server] */
	{ .section = CONF_SEC_SERVER, .name = "hostname",
	  .type = CONF_T_HOSTNAME, .off = CONF_F(server.hostname) },
	{ .section = CONF_SEC_SERVER, .name = "data_dir",
	  .type = CONF_T_STRING, .def = "/var/lib/relais",
	  .off = CONF_F(server.data_dir) },
	{ .section = CONF_SEC_SERVER, .name = "user",
	  .type = CONF_T_STRING, .off = CONF_F(server.user) },
	{ .section = CONF_SEC_SERVER, .name = "threads",
	  .type = CONF_T_UINT, .def = "0", .min = 0, .max = 256,
	  .off = CONF_F(server.threads) },
	{ .section = CONF_SEC_SERVER, .name = "log_level",
	  .type = CONF_T_LOG_LEVEL, .def = "info",
	  .off = CONF_F(server.log_level) },
	{ .section = CONF_SEC_SERVER, .name = "sandbox",
	  .type = CONF_T_BOOL, .def = "yes",
	  .off = CONF_F(server.sandbox) },
	{ .section = CONF_SEC_SERVER, .name = "node",
	  .type = CONF_T_STRING, .off = CONF_F(server.node) },

	/* [listener NAME] */
	{ .section = CONF_SEC_LISTENER, .name = "address",
	  .type = CONF_T_ADDRS, .off = CONF_L(addrs), .off_n = CONF_L(naddrs),
	  .flags = CONF_KF_REQUIRED },
	{ .section = CONF_SEC_LISTENER, .name = "role",
	  .type = CONF_T_ENUM, .def = "mx", .names = conf_role_names,
	  .off = CONF_L(role) },
	{ .section = CONF_SEC_LISTENER, .name = "tls",
	  .type = CONF_T_ENUM, .def = "none", .names = conf_tls_names,
	  .off = CONF_L(tls) },
	{ .section = CONF_SEC_LISTENER, .name = "milter",
	  .type = CONF_T_BOOL, .def = "yes", .off = CONF_L(milter) },
	{ .section = CONF_SEC_LISTENER, .name = "milters",
	  .type = CONF_T_MILTERS, .off = CONF_L(milters),
	  .off_n = CONF_L(nmilters) },
	{ .section = CONF_SEC_LISTENER, .name = "proxy_protocol",
	  .type = CONF_T_BOOL, .def = "no", .off = CONF_L(proxy_protocol) },
	{ .section = CONF_SEC_LISTENER, .name = "proxy_from",
	  .type = CONF_T_CIDRS, .off = CONF_L(proxy_from),
	  .off_n = CONF_L(nproxy_from) },

	/* [local] */
	{ .section = CONF_SEC_LOCAL, .name = "domains",
	  .type = CONF_T_DOMAINS, .off = CONF_F(local.domains),
	  .off_n = CONF_F(local.ndomains) },
	{ .section = CONF_SEC_LOCAL, .name = "mailboxes",
	  .type = CONF_T_TEMPLATE, .off = CONF_F(local.mailboxes) },
	{ .section = CONF_SEC_LOCAL, .name = "users",
	  .type = CONF_T_STRING, .off = CONF_F(local.users) },
	{ .section = CONF_SEC_LOCAL, .name = "aliases",
	  .type = CONF_T_STRING, .off = CONF_F(local.aliases) },
	{ .section = CONF_SEC_LOCAL, .name = "transport",
	  .type = CONF_T_ENUM, .def = "maildir",
	  .names = conf_local_transport_names,
	  .off = CONF_F(local.transport) },
	{ .section = CONF_SEC_LOCAL, .name = "lmtp",
	  .type = CONF_T_STRING, .off = CONF_F(local.lmtp) },

	/* [relay] */
	{ .section = CONF_SEC_RELAY, .name = "trusted_networks",
	  .type = CONF_T_CIDRS, .def = "127.0.0.0/8 ::1/128",
	  .off = CONF_F(relay.trusted_networks),
	  .off_n = CONF_F(relay.ntrusted_networks) },
	{ .section = CONF_SEC_RELAY, .name = "smarthost",
	  .type = CONF_T_STRING, .off = CONF_F(relay.smarthost) },
	{ .section = CONF_SEC_RELAY, .name = "smarthost_tls",
	  .type = CONF_T_ENUM, .def = "may", .names = conf_smarthost_tls_names,
	  .off = CONF_F(relay.smarthost_tls) },
	{ .section = CONF_SEC_RELAY, .name = "smarthost_user",
	  .type = CONF_T_STRING, .off = CONF_F(relay.smarthost_user) },
	{ .section = CONF_SEC_RELAY, .name = "smarthost_password_file",
	  .type = CONF_T_STRING, .off = CONF_F(relay.smarthost_password_file) },
	{ .section = CONF_SEC_RELAY, .name = "outbound_tls",
	  .type = CONF_T_ENUM, .def = "may", .names = conf_outbound_tls_names,
	  .off = CONF_F(relay.outbound_tls) },
	{ .section = CONF_SEC_RELAY, .name = "outbound_port",
	  .type = CONF_T_UINT, .def = "25", .min = 1, .max = 65535,
	  .off = CONF_F(relay.outbound_port) },
	{ .section = CONF_SEC_RELAY, .name = "outbound_address",
	  .type = CONF_T_STRING, .off = CONF_F(relay.outbound_address) },
	{ .section = CONF_SEC_RELAY, .name = "ca_file",
	  .type = CONF_T_STRING, .off = CONF_F(relay.ca_file) },
	{ .section = CONF_SEC_RELAY, .name = "postmaster",
	  .type = CONF_T_STRING, .off = CONF_F(relay.postmaster) },
	{ .section = CONF_SEC_RELAY, .name = "max_connections_per_domain",
	  .type = CONF_T_UINT, .def = "20", .min = 1, .max = 10000,
	  .off = CONF_F(relay.max_connections_per_domain) },
	{ .section = CONF_SEC_RELAY, .name = "max_outbound_connections",
	  .type = CONF_T_UINT, .def = "500", .min = 1, .max = 100000,
	  .off = CONF_F(relay.max_outbound_connections) },
	{ .section = CONF_SEC_RELAY, .name = "retry_min",
	  .type = CONF_T_DURATION, .def = "1m", .min = 1, .max = 86400,
	  .off = CONF_F(relay.retry_min) },
	{ .section = CONF_SEC_RELAY, .name = "retry_max",
	  .type = CONF_T_DURATION, .def = "1h", .min = 1, .max = 7 * 86400,
	  .off = CONF_F(relay.retry_max) },
	{ .section = CONF_SEC_RELAY, .name = "max_queue_lifetime",
	  .type = CONF_T_DURATION, .def = "5d", .min = 1, .max = 60 * 86400,
	  .off = CONF_F(relay.max_queue_lifetime) },
	{ .section = CONF_SEC_RELAY, .name = "delay_warning",
	  .type = CONF_T_DURATION, .def = "4h", .min = 0, .max = 60 * 86400,
	  .off = CONF_F(relay.delay_warning) },
	{ .section = CONF_SEC_RELAY, .name = "shaping",
	  .type = CONF_T_STRING, .off = CONF_F(relay.shaping) },

	/* [dns] */
	{ .section = CONF_SEC_DNS, .name = "resolver",
	  .type = CONF_T_STRING, .off = CONF_F(dns.resolver) },
	{ .section = CONF_SEC_DNS, .name = "timeout",
	  .type = CONF_T_DURATION, .def = "10s", .min = 1, .max = 300,
	  .off = CONF_F(dns.timeout) },
	{ .section = CONF_SEC_DNS, .name = "trust_anchor",
	  .type = CONF_T_STRING, .def = CONF_TRUST_ANCHOR,
	  .off = CONF_F(dns.trust_anchor) },

	/* [limits] */
	{ .section = CONF_SEC_LIMITS, .name = "max_message_size",
	  .type = CONF_T_SIZE, .def = "25M", .min = 1 * KB, .max = 4 * GB,
	  .off = CONF_F(limits.max_message_size) },
	{ .section = CONF_SEC_LIMITS, .name = "max_recipients",
	  .type = CONF_T_UINT, .def = "100", .min = 1, .max = 100000,
	  .off = CONF_F(limits.max_recipients) },
	{ .section = CONF_SEC_LIMITS, .name = "max_connections",
	  .type = CONF_T_UINT, .def = "1000", .min = 1, .max = 1000000,
	  .off = CONF_F(limits.max_connections) },
	{ .section = CONF_SEC_LIMITS, .name = "max_connections_per_ip",
	  .type = CONF_T_UINT, .def = "20", .min = 1, .max = 1000000,
	  .off = CONF_F(limits.max_connections_per_ip) },
	{ .section = CONF_SEC_LIMITS, .name = "command_timeout",
	  .type = CONF_T_DURATION, .def = "5m", .min = 1, .max = 86400,
	  .off = CONF_F(limits.command_timeout) },
	{ .section = CONF_SEC_LIMITS, .name = "data_timeout",
	  .type = CONF_T_DURATION, .def = "10m", .min = 1, .max = 86400,
	  .off = CONF_F(limits.data_timeout) },
	{ .section = CONF_SEC_LIMITS, .name = "connections_per_ip_per_minute",
	  .type = CONF_T_UINT, .def = "0", .min = 0, .max = 1000000,
	  .off = CONF_F(limits.connections_per_ip_per_minute) },
	{ .section = CONF_SEC_LIMITS, .name = "max_errors_per_session",
	  .type = CONF_T_UINT, .def = "20", .min = 1, .max = 100000,
	  .off = CONF_F(limits.max_errors_per_session) },
	{ .section = CONF_SEC_LIMITS, .name = "auth_failures_per_ip",
	  .type = CONF_T_UINT, .def = "10", .min = 0, .max = 1000000,
	  .off = CONF_F(limits.auth_failures_per_ip) },
	{ .section = CONF_SEC_LIMITS, .name = "auth_failure_window",
	  .type = CONF_T_DURATION, .def = "10m", .min = 1, .max = 86400,
	  .off = CONF_F(limits.auth_failure_window) },
	{ .section = CONF_SEC_LIMITS, .name = "auth_ban_time",
	  .type = CONF_T_DURATION, .def = "10m", .min = 1, .max = 86400,
	  .off = CONF_F(limits.auth_ban_time) },
	{ .section = CONF_SEC_LIMITS, .name = "auth_ban_max_time",
	  .type = CONF_T_DURATION, .def = "1d", .min = 1, .max = 30 * 86400,
	  .off = CONF_F(limits.auth_ban_max_time) },
	{ .section = CONF_SEC_LIMITS, .name = "user_daily_limit",
	  .type = CONF_T_UINT, .def = "0", .min = 0, .max = 100000000,
	  .off = CONF_F(limits.user_daily_limit) },
	{ .section = CONF_SEC_LIMITS, .name = "max_session_time",
	  .type = CONF_T_DURATION, .def = "1h", .min = 0, .max = 7 * 86400,
	  .off = CONF_F(limits.max_session_time) },

	/* [tls] */
	{ .section = CONF_SEC_TLS, .name = "certificate",
	  .type = CONF_T_STRING, .off = CONF_F(tls.certificate) },
	{ .section = CONF_SEC_TLS, .name = "key",
	  .type = CONF_T_STRING, .off = CONF_F(tls.key) },
	{ .section = CONF_SEC_TLS, .name = "ciphers",
	  .type = CONF_T_STRING, .def = CONF_TLS_CIPHERS,
	  .off = CONF_F(tls.ciphers) },
	{ .section = CONF_SEC_TLS, .name = "min_version",
	  .type = CONF_T_ENUM, .def = "TLSv1.2",
	  .names = conf_tls_version_names, .off = CONF_F(tls.min_version) },

	/* [tls NAME] */
	{ .section = CONF_SEC_TLS_NAME, .name = "certificate",
	  .type = CONF_T_STRING, .off = CONF_T(certificate),
	  .flags = CONF_KF_REQUIRED },
	{ .section = CONF_SEC_TLS_NAME, .name = "key",
	  .type = CONF_T_STRING, .off = CONF_T(key),
	  .flags = CONF_KF_REQUIRED },

	/* [auth] */
	{ .section = CONF_SEC_AUTH, .name = "allow_plaintext_loopback",
	  .type = CONF_T_BOOL, .def = "no",
	  .off = CONF_F(auth.allow_plaintext_loopback) },
	{ .section = CONF_SEC_AUTH, .name = "sender_login_check",
	  .type = CONF_T_BOOL, .def = "yes",
	  .off = CONF_F(auth.sender_login_check) },
	{ .section = CONF_SEC_AUTH, .name = "backend",
	  .type = CONF_T_ENUM, .def = "passwd-file",
	  .names = conf_auth_backend_names, .off = CONF_F(auth.backend) },
	{ .section = CONF_SEC_AUTH, .name = "dovecot_socket",
	  .type = CONF_T_SOCKET, .def = "/run/dovecot/auth-client",
	  .off = CONF_F(auth.dovecot_socket) },
	{ .section = CONF_SEC_AUTH, .name = "dovecot_timeout",
	  .type = CONF_T_DURATION, .def = "10s", .min = 1, .max = 300,
	  .off = CONF_F(auth.dovecot_timeout) },

	/* [dkim DOMAIN] */
	{ .section = CONF_SEC_DKIM, .name = "selector",
	  .type = CONF_T_HOSTNAME, .off = CONF_D(selector),
	  .flags = CONF_KF_REQUIRED },
	{ .section = CONF_SEC_DKIM, .name = "key",
	  .type = CONF_T_STRING, .off = CONF_D(key),
	  .flags = CONF_KF_REQUIRED },
	{ .section = CONF_SEC_DKIM, .name = "algorithm",
	  .type = CONF_T_ENUM, .def = "rsa-sha256",
	  .names = conf_dkim_alg_names, .off = CONF_D(algorithm) },
	{ .section = CONF_SEC_DKIM, .name = "selector2",
	  .type = CONF_T_HOSTNAME, .off = CONF_D(selector2) },
	{ .section = CONF_SEC_DKIM, .name = "key2",
	  .type = CONF_T_STRING, .off = CONF_D(key2) },
	{ .section = CONF_SEC_DKIM, .name = "algorithm2",
	  .type = CONF_T_ENUM, .def = "ed25519-sha256",
	  .names = conf_dkim_alg_names, .off = CONF_D(algorithm2) },

	/* [msgauth] */
	{ .section = CONF_SEC_MSGAUTH, .name = "authserv_id",
	  .type = CONF_T_HOSTNAME, .off = CONF_F(msgauth.authserv_id) },
	{ .section = CONF_SEC_MSGAUTH, .name = "dmarc_enforce",
	  .type = CONF_T_BOOL, .def = "no",
	  .off = CONF_F(msgauth.dmarc_enforce) },

	/* [http]: the listener is on when the section is there */
	{ .section = CONF_SEC_HTTP, .name = "address",
	  .type = CONF_T_ADDRS, .def = "127.0.0.1:8025",
	  .off = CONF_F(http.addrs), .off_n = CONF_F(http.naddrs) },
	{ .section = CONF_SEC_HTTP, .name = "tls",
	  .type = CONF_T_ENUM, .def = "none", .names = conf_http_tls_names,
	  .off = CONF_F(http.tls) },
	{ .section = CONF_SEC_HTTP, .name = "keys",
	  .type = CONF_T_STRING, .off = CONF_F(http.keys) },
	{ .section = CONF_SEC_HTTP, .name = "event_retention",
	  .type = CONF_T_DURATION, .def = "7d", .min = 3600,
	  .max = 365 * 86400, .off = CONF_F(http.event_retention) },
	{ .section = CONF_SEC_HTTP, .name = "min_free_space",
	  .type = CONF_T_SIZE, .def = "100M", .min = 0, .max = 1048576 * GB,
	  .off = CONF_F(http.min_free_space) },

	/* [webhooks] */
	{ .section = CONF_SEC_WEBHOOKS, .name = "url",
	  .type = CONF_T_STRING, .off = CONF_F(webhooks.url) },
	{ .section = CONF_SEC_WEBHOOKS, .name = "secret",
	  .type = CONF_T_STRING, .off = CONF_F(webhooks.secret) },
	{ .section = CONF_SEC_WEBHOOKS, .name = "batch_size",
	  .type = CONF_T_UINT, .def = "100", .min = 1, .max = 10000,
	  .off = CONF_F(webhooks.batch_size) },
	{ .section = CONF_SEC_WEBHOOKS, .name = "timeout",
	  .type = CONF_T_DURATION, .def = "10s", .min = 1, .max = 300,
	  .off = CONF_F(webhooks.timeout) },
	{ .section = CONF_SEC_WEBHOOKS, .name = "retry_max",
	  .type = CONF_T_DURATION, .def = "10m", .min = 1, .max = 86400,
	  .off = CONF_F(webhooks.retry_max) },

	/* [tlsrpt]: from, organization and contact default to the host
	   name (conf_finish) */
	{ .section = CONF_SEC_TLSRPT, .name = "enabled",
	  .type = CONF_T_BOOL, .def = "no", .off = CONF_F(tlsrpt.enabled) },
	{ .section = CONF_SEC_TLSRPT, .name = "from",
	  .type = CONF_T_STRING, .off = CONF_F(tlsrpt.from) },
	{ .section = CONF_SEC_TLSRPT, .name = "organization",
	  .type = CONF_T_STRING, .off = CONF_F(tlsrpt.organization) },
	{ .section = CONF_SEC_TLSRPT, .name = "contact",
	  .type = CONF_T_STRING, .off = CONF_F(tlsrpt.contact) },

	/* [cluster]: shared state in Redis (docs/cluster.md) */
	{ .section = CONF_SEC_CLUSTER, .name = "redis",
	  .type = CONF_T_STRING, .off = CONF_F(cluster.redis) },
	{ .section = CONF_SEC_CLUSTER, .name = "password",
	  .type = CONF_T_STRING, .off = CONF_F(cluster.password) },
	{ .section = CONF_SEC_CLUSTER, .name = "prefix",
	  .type = CONF_T_STRING, .def = "relais:",
	  .off = CONF_F(cluster.prefix) },
	{ .section = CONF_SEC_CLUSTER, .name = "redis_down",
	  .type = CONF_T_ENUM, .def = "open", .names = conf_redis_down_names,
	  .off = CONF_F(cluster.redis_down) },
	{ .section = CONF_SEC_CLUSTER, .name = "timeout",
	  .type = CONF_T_DURATION, .def = "2s", .min = 1, .max = 60,
	  .off = CONF_F(cluster.timeout) },
	{ .section = CONF_SEC_CLUSTER, .name = "tls",
	  .type = CONF_T_BOOL, .def = "no", .off = CONF_F(cluster.tls) },
	{ .section = CONF_SEC_CLUSTER, .name = "tls_ca_file",
	  .type = CONF_T_STRING, .off = CONF_F(cluster.tls_ca_file) },
	{ .section = CONF_SEC_CLUSTER, .name = "tls_certificate",
	  .type = CONF_T_STRING, .off = CONF_F(cluster.tls_certificate) },
	{ .section = CONF_SEC_CLUSTER, .name = "tls_key",
	  .type = CONF_T_STRING, .off = CONF_F(cluster.tls_key) },
	{ .section = CONF_SEC_CLUSTER, .name = "tls_name",
	  .type = CONF_T_STRING, .off = CONF_F(cluster.tls_name) },

	/* [milter]: the macro lists are Postfix's milter_*_macros with the
	   client's address, name and port added at connect */
	{ .section = CONF_SEC_MILTER, .name = "servers",
	  .type = CONF_T_MILTERS, .off = CONF_F(milter.servers),
	  .off_n = CONF_F(milter.nservers) },
	{ .section = CONF_SEC_MILTER, .name = "default_action",
	  .type = CONF_T_ENUM, .def = "tempfail",
	  .names = conf_milter_action_names,
	  .off = CONF_F(milter.default_action) },
	{ .section = CONF_SEC_MILTER, .name = "connect_timeout",
	  .type = CONF_T_DURATION, .def = "30s", .min = 1, .max = 3600,
	  .off = CONF_F(milter.connect_timeout) },
	{ .section = CONF_SEC_MILTER, .name = "command_timeout",
	  .type = CONF_T_DURATION, .def = "30s", .min = 1, .max = 3600,
	  .off = CONF_F(milter.command_timeout) },
	{ .section = CONF_SEC_MILTER, .name = "content_timeout",
	  .type = CONF_T_DURATION, .def = "300s", .min = 1, .max = 3600,
	  .off = CONF_F(milter.content_timeout) },
	{ .section = CONF_SEC_MILTER, .name = "connect_macros",
	  .type = CONF_T_STRING, .def = "j {daemon_name} {daemon_addr} v _"
	  " {client_addr} {client_name} {client_port}",
	  .off = CONF_F(milter.macros[0]) },
	{ .section = CONF_SEC_MILTER, .name = "helo_macros",
	  .type = CONF_T_STRING, .def = "{tls_version} {cipher} {cipher_bits}"
	  " {cert_subject} {cert_issuer}", .off = CONF_F(milter.macros[1]) },
	{ .section = CONF_SEC_MILTER, .name = "mail_macros",
	  .type = CONF_T_STRING, .def = "i {auth_type} {auth_authen}"
	  " {auth_author} {mail_addr} {mail_host} {mail_mailer}",
	  .off = CONF_F(milter.macros[2]) },
	{ .section = CONF_SEC_MILTER, .name = "rcpt_macros",
	  .type = CONF_T_STRING, .def = "i {rcpt_addr} {rcpt_host}"
	  " {rcpt_mailer}", .off = CONF_F(milter.macros[3]) },
	{ .section = CONF_SEC_MILTER, .name = "data_macros",
	  .type = CONF_T_STRING, .def = "i", .off = CONF_F(milter.macros[4]) },
	{ .section = CONF_SEC_MILTER, .name = "eom_macros",
	  .type = CONF_T_STRING, .def = "i", .off = CONF_F(milter.macros[5]) },
	{ .section = CONF_SEC_MILTER, .name = "eoh_macros",
	  .type = CONF_T_STRING, .def = "i", .off = CONF_F(milter.macros[6]) },

	/* [site NAME]: match is required but in [site default] (the end
	   hook) */
	{ .section = CONF_SEC_SITE, .name = "match",
	  .type = CONF_T_PATTERNS, .off = CONF_S(match),
	  .off_n = CONF_S(nmatch) },
	{ .section = CONF_SEC_SITE, .name = "connection_limit",
	  .type = CONF_T_UINT, .def = "0", .min = 0, .max = 10000,
	  .off = CONF_S(connection_limit) },
	{ .section = CONF_SEC_SITE, .name = "max_message_rate",
	  .type = CONF_T_RATE, .def = "0", .min = 0, .max = CONF_RATE_MAX,
	  .off = CONF_S(max_message_rate) },
	{ .section = CONF_SEC_SITE, .name = "max_deliveries_per_connection",
	  .type = CONF_T_UINT, .def = "0", .min = 0, .max = 1000000,
	  .off = CONF_S(max_deliveries_per_connection) },
	{ .section = CONF_SEC_SITE, .name = "max_recipients_per_message",
	  .type = CONF_T_UINT, .def = "0", .min = 0, .max = 100000,
	  .off = CONF_S(max_recipients_per_message) },
	{ .section = CONF_SEC_SITE, .name = "idle_timeout",
	  .type = CONF_T_DURATION, .def = "5s", .min = 0, .max = 3600,
	  .off = CONF_S(idle_timeout) },
	{ .section = CONF_SEC_SITE, .name = "pool",
	  .type = CONF_T_POOL, .off = CONF_S(pool) },

	/* [backoff NAME]: suspend_time's default follows action (the end
	   hook) */
	{ .section = CONF_SEC_BACKOFF, .name = "match",
	  .type = CONF_T_REGEX, .off = CONF_B(match),
	  .flags = CONF_KF_REQUIRED },
	{ .section = CONF_SEC_BACKOFF, .name = "action",
	  .type = CONF_T_ENUM, .def = "throttle",
	  .names = conf_backoff_action_names, .off = CONF_B(action) },
	{ .section = CONF_SEC_BACKOFF, .name = "suspend_time",
	  .type = CONF_T_DURATION, .min = 1, .max = 7 * 86400,
	  .off = CONF_B(suspend_time) },
	{ .section = CONF_SEC_BACKOFF, .name = "rate_factor",
	  .type = CONF_T_UINT, .def = "50", .min = 1, .max = 99,
	  .off = CONF_B(rate_factor) },
	{ .section = CONF_SEC_BACKOFF, .name = "rate_increase",
	  .type = CONF_T_UINT, .def = "10", .min = 1, .max = 100,
	  .off = CONF_B(rate_increase) },
	{ .section = CONF_SEC_BACKOFF, .name = "recover_interval",
	  .type = CONF_T_DURATION, .def = "1m", .min = 1, .max = 86400,
	  .off = CONF_B(recover_interval) },

	/* [pool NAME]: warmup_since is required when warmup_start is set
	   (the end hook) */
	{ .section = CONF_SEC_POOL, .name = "addresses",
	  .type = CONF_T_IPS, .off = CONF_P(addresses),
	  .off_n = CONF_P(naddresses), .flags = CONF_KF_REQUIRED },
	{ .section = CONF_SEC_POOL, .name = "warmup_start",
	  .type = CONF_T_UINT, .def = "0", .min = 0, .max = CONF_RATE_MAX,
	  .off = CONF_P(warmup_start) },
	{ .section = CONF_SEC_POOL, .name = "warmup_growth",
	  .type = CONF_T_UINT, .def = "100", .min = 1, .max = 1000,
	  .off = CONF_P(warmup_growth) },
	{ .section = CONF_SEC_POOL, .name = "warmup_since",
	  .type = CONF_T_DATE, .off = CONF_P(warmup_since) },

	/* [tenant NAME] */
	{ .section = CONF_SEC_TENANT, .name = "users",
	  .type = CONF_T_WORDS, .off = CONF_N(users),
	  .off_n = CONF_N(nusers) },
	{ .section = CONF_SEC_TENANT, .name = "api_keys",
	  .type = CONF_T_WORDS, .off = CONF_N(api_keys),
	  .off_n = CONF_N(napi_keys) },
	{ .section = CONF_SEC_TENANT, .name = "messages_per_hour",
	  .type = CONF_T_UINT, .def = "0", .min = 0, .max = CONF_QUOTA_MAX,
	  .off = CONF_N(messages_per_hour) },
	{ .section = CONF_SEC_TENANT, .name = "messages_per_day",
	  .type = CONF_T_UINT, .def = "0", .min = 0, .max = CONF_QUOTA_MAX,
	  .off = CONF_N(messages_per_day) },
	{ .section = CONF_SEC_TENANT, .name = "recipients_per_hour",
	  .type = CONF_T_UINT, .def = "0", .min = 0, .max = CONF_QUOTA_MAX,
	  .off = CONF_N(recipients_per_hour) },
	{ .section = CONF_SEC_TENANT, .name = "recipients_per_day",
	  .type = CONF_T_UINT, .def = "0", .min = 0, .max = CONF_QUOTA_MAX,
	  .off = CONF_N(recipients_per_day) },
	{ .section = CONF_SEC_TENANT, .name = "pool",
	  .type = CONF_T_POOL, .off = CONF_N(pool) },
};

#define CONF_NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))
const size_t conf_nkeys = CONF_NKEYS;
#define CONF_FIELD(base, k, type)	((type *)((char *)(base) + (k)->off))
#define CONF_COUNT(base, k)	((size_t *)((char *)(base) + (k)->off_n))
#define CONF_NSECTIONS	(sizeof(conf_sections) / sizeof(conf_sections[0]))

/* a `pool = NAME` seen, resolved when every file is read */
struct conf_pool_ref {
	const char	*file;		/* FILE of the key (a conf_load name) */
	int		 line;
	char		 label[16 + CONF_NAME_MAX];	/* "[site x]" */
	char		 name[CONF_NAME_MAX + 1];
};

/* state of one load: the reader and the handler share it; the shaping
   file is read with the same state, its reader fields reset */
struct conf_load {
	const char	*name;		/* FILE in messages */
	bool		 shaping;	/* reading the [relay] shaping file */
	const char	*p, *end;	/* input not yet handed to inih */
	int		 line;		/* number of the line inih works on */
	bool		 cont;		/* that line continues the last key */
	bool		 had_key;	/* a key line since the last header */
	struct conf	*conf;
	const struct conf_section *sec;	/* NULL before the first header */
	void		*base;		/* struct the section's keys fill */
	char		 label[16 + CONF_NAME_MAX];	/* "[listener mx]" */
	const struct conf_key *last;	/* what continuation lines extend */
	int		 seen[CONF_NKEYS];	/* line of each key set in
						   this section, 0 = not set */
	bool		 sec_seen[CONF_SEC_COUNT];	/* singleton headers */
	bool		 failed;
	int		 err_line;	/* line of the first error */
	struct err	*err;
	struct conf_pool_ref *refs;	/* pool = NAME keys, all files */
	size_t		 nrefs;
};

/* ---------------------------------------------------------------------
 * Loading
 */

int
conf_load(const char *path, struct conf **conf_out, struct err *err)
{
	struct buf b;
	int rc = -1;

	*conf_out = NULL;
	buf_init(&b, CONF_FILE_MAX);
	if (buf_read_file(&b, path, err) == 0)
		rc = conf_load_string(path, buf_cstr(&b), b.len, conf_out, err);
	buf_fini(&b);
	return rc;
}

int
conf_load_string(const char *name, const char *text, size_t len,
    struct conf **conf_out, struct err *err)
{
	if (conf_parse(name, text, len, conf_out, err) == -1)
		return -1;
	conf_finish(*conf_out);
	return 0;
}

/*
 * conf_default - the embedded default. It goes through the parser like a
 * file, so it cannot drift from the key table; only data_dir depends on
 * the cwd (and could exceed inih's line limit), so it is set afterwards.
 */
struct conf *
conf_default(void)
{
	static const char text[] =
	    "[listener default]\n"
	    "address = 127.0.0.1:2525\n"
	    "role = mx\n"
	    "[local]\n"
	    "domains = localhost\n"
	    "[relay]\n"
	    "trusted_networks = 127.0.0.0/8 ::1/128\n"
	    "[http]\n"
	    "address = 127.0.0.1:8025\n";
	struct conf *conf;
	struct err err;
	char *cwd;

	if (conf_parse(CONF_DEFAULT_NAME, text, sizeof(text) - 1, &conf,
	    &err) == -1) {
		fprintf(stderr, "level=panic event=conf.default error=\"%s\"\n",
		    err.msg);
		abort();
	}
	free(conf->path);
	conf->path = NULL;
	free(conf->server.data_dir);
	if ((cwd = getcwd(NULL, 0)) != NULL && cwd[0] == '/') {
		size_t n = strlen(cwd) + sizeof(CONF_DEFAULT_DATA_DIR) + 1;

		conf->server.data_dir = xmalloc(n);
		snprintf(conf->server.data_dir, n, "%s%s%s", cwd,
		    strcmp(cwd, "/") == 0 ? "" : "/", CONF_DEFAULT_DATA_DIR);
	} else {
		conf->server.data_dir = xstrdup("./" CONF_DEFAULT_DATA_DIR);
	}
	free(cwd);
	conf_finish(conf);
	return conf;
}

int
conf_find(const char *path, struct conf **conf_out, struct err *err)
{
	if (path != NULL)
		return conf_load(path, conf_out, err);
	if (access("relais.conf", F_OK) == 0)
		return conf_load("relais.conf", conf_out, err);
	*conf_out = conf_default();
	return 0;
}

const char *
conf_section_name(enum conf_section_id id)
{
	for (size_t i = 0; i < CONF_NSECTIONS; i++)
		if (conf_sections[i].id == id)
			return conf_sections[i].name;
	return "?";
}

struct conf *
conf_ref(struct conf *conf)
{
	atomic_fetch_add_explicit(&conf->refs, 1, memory_order_relaxed);
	return conf;
}

void
conf_unref(struct conf *conf)
{
	if (conf == NULL)
		return;
	if (atomic_fetch_sub_explicit(&conf->refs, 1,
	    memory_order_acq_rel) != 1)
		return;
	conf_free(conf);
}

/*
 * conf_parse_text - one file's text into ctx->conf: the main file, or
 * (ctx->shaping) the shaping file. 0, or -1 with the error recorded.
 */
static int
conf_parse_text(struct conf_load *ctx, const char *name, const char *text,
    size_t len)
{
	int r;

	ctx->name = name;
	ctx->p = text;
	ctx->end = text + len;
	ctx->line = 0;
	ctx->cont = false;
	ctx->had_key = false;
	ctx->sec = NULL;
	ctx->base = NULL;
	ctx->last = NULL;
	r = ini_parse_stream(conf_reader, ctx, conf_handler, ctx);
	/*
	 * inih reports by itself only lines that are neither comment,
	 * header nor key = value; its lineno is ours because the reader
	 * hands it exactly one line per call. The earlier error wins.
	 */
	if (r > 0 && (!ctx->failed || r < ctx->err_line)) {
		ctx->failed = false;
		conf_error(ctx, r, "expected 'key = value', '[section]' "
		    "or a comment");
	} else if (r < 0 && !ctx->failed) {
		conf_error(ctx, 0, "cannot parse (inih error %d)", r);
	}
	if (!ctx->failed)
		conf_section_end(ctx);
	return ctx->failed ? -1 : 0;
}

/* conf_parse - text to a struct conf with everything but computed defaults */
static int
conf_parse(const char *name, const char *text, size_t len,
    struct conf **conf_out, struct err *err)
{
	struct conf_load ctx;
	struct conf *conf;

	*conf_out = NULL;
	conf = xcalloc(1, sizeof(*conf));
	atomic_init(&conf->refs, 1);
	conf->path = xstrdup(name);

	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = conf;
	ctx.err = err;
	ctx.name = name;
	for (size_t i = 0; i < CONF_NSECTIONS; i++)
		if (conf_sections[i].add == NULL)
			conf_apply_defaults(&ctx, conf_sections[i].id, conf);

	if (conf_parse_text(&ctx, name, text, len) == 0 &&
	    conf->nlisteners == 0)
		conf_error(&ctx, 0, "no [listener] section");
	if (!ctx.failed && conf->relay.shaping != NULL)
		conf_shaping_load(&ctx);
	if (!ctx.failed)
		conf_check_pools(&ctx);
	free(ctx.refs);
	if (ctx.failed) {
		conf_free(conf);
		return -1;
	}
	*conf_out = conf;
	return 0;
}

/*
 * conf_read_regular - the whole of a regular file into b. Not a FIFO or
 * a device, which could block or never end; read through the descriptor
 * opened non-blocking, so that a file that would block (/proc/kmsg) is
 * an error too.
 */
static int
conf_read_regular(struct buf *b, const char *path, struct err *err)
{
	char chunk[65536];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return err_set(err, errno, "%s: cannot open: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(err, EINVAL, "%s: not a regular file", path);
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = err_set(err, errno, "%s: cannot read: %s", path,
			    strerror(errno));
			break;
		}
		if (buf_append(b, chunk, (size_t)n) == -1) {
			rc = err_set(err, EFBIG, "%s: file too large (over %zu"
			    " octets)", path, b->max);
			break;
		}
	}
	close(fd);
	if (rc == 0)
		rc = buf_reserve(b, 0);		/* data is never NULL */
	return rc;
}

/*
 * conf_shaping_load - [relay] shaping: a path relative to the main
 * file's directory, which holds [site], [backoff] and [pool] sections
 * only. relay.shaping becomes the path as resolved.
 */
static int
conf_shaping_load(struct conf_load *ctx)
{
	struct conf *conf = ctx->conf;
	const char *main_name = ctx->name, *slash;
	char *path;
	struct buf b;
	struct err e;
	int rc = -1;

	slash = strrchr(main_name, '/');
	if (conf->relay.shaping[0] != '/' && slash != NULL) {
		size_t n = (size_t)(slash - main_name) + 1 +
		    strlen(conf->relay.shaping) + 1;

		path = xmalloc(n);
		snprintf(path, n, "%.*s%s", (int)(slash - main_name + 1),
		    main_name, conf->relay.shaping);
		free(conf->relay.shaping);
		conf->relay.shaping = path;
	}
	path = conf->relay.shaping;
	buf_init(&b, CONF_FILE_MAX);
	if (conf_read_regular(&b, path, &e) == -1) {
		/* "PATH: cannot open: ..." as for the main file */
		err_set(ctx->err, e.code, "%s", e.msg);
		ctx->failed = true;
	} else {
		ctx->shaping = true;
		rc = conf_parse_text(ctx, path, buf_cstr(&b), b.len);
		ctx->shaping = false;
	}
	buf_fini(&b);
	/* refs and messages point at it: it lives as long as conf */
	ctx->name = path;
	return rc;
}

/* conf_check_pools - every `pool = NAME` names a [pool NAME] of either
   file; the message names the file and line of the key */
static int
conf_check_pools(struct conf_load *ctx)
{
	for (size_t i = 0; i < ctx->nrefs; i++) {
		const struct conf_pool_ref *r = &ctx->refs[i];

		if (conf_pool_find(ctx->conf, r->name) != NULL)
			continue;
		ctx->name = r->file;
		conf_error(ctx, r->line, "pool: no [pool %s] section (in %s)",
		    r->name, r->label);
		return -1;
	}
	return 0;
}

/* conf_finish - fill the defaults computed from other keys or the host */
static void
conf_finish(struct conf *conf)
{
	char host[256];

	if (conf->server.hostname == NULL) {
		if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		conf->server.hostname = xstrdup(host);
	}
	if (conf->msgauth.authserv_id == NULL)
		conf->msgauth.authserv_id = xstrdup(conf->server.hostname);
	if (conf->server.node == NULL) {
		/* the host name's first label, as a node name */
		size_t n = strcspn(conf->server.hostname, ".");

		if (n > 32)
			n = 32;
		conf->server.node = xstrndup(conf->server.hostname, n);
		for (char *p = conf->server.node; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' &&
			    *p != '_')
				*p = '-';
		if (conf->server.node[0] == '\0') {
			free(conf->server.node);
			conf->server.node = xstrdup("node");
		}
	}
	/* no DNSSEC validation: "none", or the default file not installed
	   (a file named in the config must exist: dns_new says so) */
	if (conf->dns.trust_anchor != NULL &&
	    (strcasecmp(conf->dns.trust_anchor, "none") == 0 ||
	    conf->dns.trust_anchor[0] == '\0' ||
	    (strcmp(conf->dns.trust_anchor, CONF_TRUST_ANCHOR) == 0 &&
	    access(CONF_TRUST_ANCHOR, R_OK) == -1))) {
		free(conf->dns.trust_anchor);
		conf->dns.trust_anchor = NULL;
	}
	/* TLS-RPT reports: from the postmaster, named after the host */
	if (conf->tlsrpt.from == NULL) {
		size_t n = strlen(conf->server.hostname) + sizeof("postmaster@");

		conf->tlsrpt.from = xmalloc(n);
		snprintf(conf->tlsrpt.from, n, "postmaster@%s",
		    conf->server.hostname);
	}
	if (conf->tlsrpt.organization == NULL)
		conf->tlsrpt.organization = xstrdup(conf->server.hostname);
	if (conf->tlsrpt.contact == NULL)
		conf->tlsrpt.contact = xstrdup(conf->tlsrpt.from);
	/* events are recorded when something reads them */
	conf->events = conf->http.enabled || conf->webhooks.url != NULL;
	if (conf->local.mailboxes == NULL) {
		/* DATA_DIR/mail/%d/%u, with any '%' of data_dir escaped */
		const char *d = conf->server.data_dir;
		size_t n = strlen(d);
		struct buf b;

		while (n > 1 && d[n - 1] == '/')
			n--;
		buf_init(&b, 0);
		for (size_t i = 0; i < n; i++)
			buf_append(&b, d[i] == '%' ? "%%" : &d[i],
			    d[i] == '%' ? 2 : 1);
		buf_puts(&b, strcmp(d, "/") == 0 ? "mail/%d/%u" : "/mail/%d/%u");
		conf->local.mailboxes = buf_steal(&b, NULL);
	}
}

static void
conf_free(struct conf *conf)
{
	for (size_t i = 0; i < CONF_NSECTIONS; i++)
		if (conf_sections[i].add == NULL)
			conf_fini_keys(conf_sections[i].id, conf);
	for (size_t i = 0; i < conf->nlisteners; i++) {
		conf_fini_keys(CONF_SEC_LISTENER, &conf->listeners[i]);
		free(conf->listeners[i].name);
	}
	free(conf->listeners);
	for (size_t i = 0; i < conf->tls.nnames; i++) {
		conf_fini_keys(CONF_SEC_TLS_NAME, &conf->tls.names[i]);
		free(conf->tls.names[i].name);
	}
	free(conf->tls.names);
	for (size_t i = 0; i < conf->ndkim; i++) {
		conf_fini_keys(CONF_SEC_DKIM, &conf->dkim[i]);
		free(conf->dkim[i].domain);
	}
	free(conf->dkim);
	for (size_t i = 0; i < conf->nsites; i++) {
		conf_fini_keys(CONF_SEC_SITE, &conf->sites[i]);
		free(conf->sites[i].name);
	}
	free(conf->sites);
	for (size_t i = 0; i < conf->nbackoffs; i++) {
		conf_fini_keys(CONF_SEC_BACKOFF, &conf->backoffs[i]);
		if (conf->backoffs[i].re_ok)
			regfree(&conf->backoffs[i].re);
		free(conf->backoffs[i].name);
	}
	free(conf->backoffs);
	for (size_t i = 0; i < conf->npools; i++) {
		conf_fini_keys(CONF_SEC_POOL, &conf->pools[i]);
		free(conf->pools[i].name);
	}
	free(conf->pools);
	for (size_t i = 0; i < conf->ntenants; i++) {
		conf_fini_keys(CONF_SEC_TENANT, &conf->tenants[i]);
		free(conf->tenants[i].name);
	}
	free(conf->tenants);
	for (size_t i = 0; i < conf->ntls_policies; i++)
		free(conf->tls_policies[i].domain);
	free(conf->tls_policies);
	free(conf->path);
	free(conf);
}

/* conf_error - record the first error as "FILE:LINE: msg" (LINE 0: none) */
static void
conf_error(struct conf_load *ctx, int line, const char *fmt, ...)
{
	char msg[sizeof(ctx->err->msg)];
	va_list ap;

	if (ctx->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		err_set(ctx->err, EINVAL, "%s:%d: %s", ctx->name, line, msg);
	else
		err_set(ctx->err, EINVAL, "%s: %s", ctx->name, msg);
	ctx->failed = true;
	ctx->err_line = line > 0 ? line : ctx->line;
}

/*
 * conf_reader - hand inih the next line, as fgets would.
 *
 * Classifies the line the way inih will (comment, continuation, header,
 * key) so the handler knows what it is called for, and handles headers
 * here. Returning NULL ends the parse: at the end of input or on error.
 */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct conf_load *ctx = stream;
	const char *nl;
	struct str line, body;
	size_t ws;

	if (ctx->failed || ctx->p >= ctx->end)
		return NULL;
	nl = memchr(ctx->p, '\n', (size_t)(ctx->end - ctx->p));
	line = str_make(ctx->p, nl ? (size_t)(nl - ctx->p)
	    : (size_t)(ctx->end - ctx->p));
	ctx->p = nl ? nl + 1 : ctx->end;
	ctx->line++;
	ctx->cont = false;

	if (ctx->line == 1 && line.len >= 3 &&
	    memcmp(line.p, "\xef\xbb\xbf", 3) == 0)
		line.p += 3, line.len -= 3;
	if (memchr(line.p, '\0', line.len) != NULL) {
		conf_error(ctx, ctx->line, "NUL byte in line");
		return NULL;
	}
	for (ws = 0; ws < line.len && isspace((unsigned char)line.p[ws]); ws++)
		;
	body = str_make(line.p + ws, line.len - ws);
	while (body.len && isspace((unsigned char)body.p[body.len - 1]))
		body.len--;

	if (body.len == 0 || body.p[0] == ';' || body.p[0] == '#') {
		str[0] = '\0';
		return str;
	}
	if (ws > 0 && ctx->had_key && !conf_line_is_key(body)) {
		/* inih passes it on as more of the previous key's value */
		ctx->cont = true;
		body = line;
	} else if (body.p[0] == '[') {
		if (conf_section_begin(ctx, body) == -1)
			return NULL;
		ctx->had_key = false;
	} else {
		ctx->had_key = true;
	}
	if (num < 1 || body.len > (size_t)num - 1) {
		conf_error(ctx, ctx->line, "line too long (limit %d bytes; "
		    "continue a list on indented lines)", num - 1);
		return NULL;
	}
	memcpy(str, body.p, body.len);
	str[body.len] = '\0';
	return str;
}

static const char *const conf_tls_level_names[] = {
	[CONF_TLSP_NONE] = "none",
	[CONF_TLSP_MAY] = "may",
	[CONF_TLSP_ENCRYPT] = "encrypt",
	[CONF_TLSP_VERIFY] = "verify",
	[CONF_TLSP_DANE] = "dane",
	NULL,
};

/* conf_tls_policy_line - "DOMAIN = LEVEL" in [tls_policy] */
static int
conf_tls_policy_line(struct conf_load *ctx, const char *name,
    const char *value)
{
	struct conf *conf = ctx->conf;
	struct conf_tls_policy *tp;
	const char *dom = name[0] == '.' ? name + 1 : name;
	char *lower;
	size_t level;

	if (!conf_domain_valid(str_cstr(dom))) {
		conf_error(ctx, ctx->line, "[tls_policy]: '%s' is not a "
		    "domain name (or .domain for the names below it)", name);
		return 0;
	}
	for (level = 0; conf_tls_level_names[level] != NULL; level++)
		if (strcasecmp(value, conf_tls_level_names[level]) == 0)
			break;
	if (conf_tls_level_names[level] == NULL) {
		conf_error(ctx, ctx->line, "[tls_policy] %s: '%s' is not one "
		    "of dane, verify, encrypt, may, none", name, value);
		return 0;
	}
	lower = xstrdup(name);
	for (char *q = lower; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	for (size_t i = 0; i < conf->ntls_policies; i++)
		if (strcmp(conf->tls_policies[i].domain, lower) == 0) {
			conf_error(ctx, ctx->line, "duplicate [tls_policy] "
			    "line for %s", name);
			free(lower);
			return 0;
		}
	conf->tls_policies = xreallocarray(conf->tls_policies,
	    conf->ntls_policies + 1, sizeof(*conf->tls_policies));
	tp = &conf->tls_policies[conf->ntls_policies++];
	tp->domain = lower;
	tp->level = (int)level;
	return 1;
}

const struct conf_tls_policy *
conf_tls_policy_find(const struct conf *conf, const char *domain)
{
	const char *d = domain;

	if (conf == NULL || domain == NULL)
		return NULL;
	for (size_t i = 0; i < conf->ntls_policies; i++)
		if (strcasecmp(conf->tls_policies[i].domain, domain) == 0)
			return &conf->tls_policies[i];
	/* ".parent" lines, closest parent first */
	while ((d = strchr(d, '.')) != NULL) {
		for (size_t i = 0; i < conf->ntls_policies; i++)
			if (strcasecmp(conf->tls_policies[i].domain, d) == 0)
				return &conf->tls_policies[i];
		d++;
	}
	return NULL;
}

/* conf_handler - inih callback: one key = value (or continuation) line */
static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct conf_load *ctx = user;
	const struct conf_key *k;
	struct err e;

	(void)section;	/* ours is in ctx: inih truncates and keeps blanks */
	if (ctx->failed)
		return 0;
	if (ctx->cont) {
		if ((k = ctx->last) == NULL) {
			conf_error(ctx, ctx->line, "indented line outside "
			    "any key");
			return 0;
		}
		if (!conf_types[k->type].list) {
			conf_error(ctx, ctx->line, "%s takes one value; an "
			    "indented line continues the previous key",
			    k->name);
			return 0;
		}
	} else {
		if (ctx->sec == NULL) {
			conf_error(ctx, ctx->line, "key '%s' outside any "
			    "section", name);
			return 0;
		}
		if (ctx->sec->id == CONF_SEC_TLS_POLICY)
			return conf_tls_policy_line(ctx, name, value);
		if ((k = conf_key_find(ctx->sec->id, name)) == NULL) {
			conf_error(ctx, ctx->line, "unknown key '%s' in %s",
			    name, ctx->label);
			return 0;
		}
		if (ctx->seen[k - conf_keys]) {
			conf_error(ctx, ctx->line, "duplicate key '%s' in %s",
			    name, ctx->label);
			return 0;
		}
		ctx->seen[k - conf_keys] = ctx->line;
		ctx->last = k;
	}
	if (conf_types[k->type].set(ctx, k, ctx->base, value, ctx->cont,
	    &e) == -1) {
		conf_error(ctx, ctx->line, "%s: %s", k->name, e.msg);
		return 0;
	}
	return 1;
}

/* conf_section_begin - "[type]" or "[type NAME]": close the last, open one */
static int
conf_section_begin(struct conf_load *ctx, struct str body)
{
	const struct conf_section *sec = NULL;
	struct str inner, type, name, after;
	const char *close;
	char namebuf[CONF_NAME_MAX + 1];

	if (conf_section_end(ctx) == -1)
		return -1;
	if ((close = memchr(body.p, ']', body.len)) == NULL) {
		conf_error(ctx, ctx->line, "missing ']' in section header");
		return -1;
	}
	inner = str_trim(str_make(body.p + 1, (size_t)(close - body.p - 1)));
	after = str_trim(str_make(close + 1,
	    body.len - (size_t)(close - body.p) - 1));
	if (after.len && after.p[0] != ';' && after.p[0] != '#') {
		conf_error(ctx, ctx->line, "text after ']' in section header");
		return -1;
	}
	name = inner;
	type = str_cut(&name, ' ');
	if (memchr(type.p, '\t', type.len) != NULL) {
		name = inner;
		type = str_cut(&name, '\t');
	}
	name = str_trim(name);
	if (type.len == 0) {
		conf_error(ctx, ctx->line, "empty section name");
		return -1;
	}
	/* one word may name a singleton and a named kind ([tls], [tls
	   NAME]): the NAME, or its absence, picks */
	for (size_t i = 0; i < CONF_NSECTIONS; i++)
		if (str_eq(type, str_cstr(conf_sections[i].name)) &&
		    (sec == NULL ||
		    (conf_sections[i].add != NULL) == (name.len > 0)))
			sec = &conf_sections[i];
	if (sec == NULL) {
		conf_error(ctx, ctx->line, "unknown section [%.*s]",
		    STR_FMT(type));
		return -1;
	}
	if (ctx->shaping && !sec->shaping) {
		conf_error(ctx, ctx->line, "[%.*s] is not allowed in the "
		    "shaping file (only [site], [backoff] and [pool])",
		    STR_FMT(type));
		return -1;
	}
	if (sec->add == NULL) {
		if (name.len) {
			conf_error(ctx, ctx->line, "[%s] takes no name",
			    sec->name);
			return -1;
		}
		if (ctx->sec_seen[sec->id]) {
			conf_error(ctx, ctx->line, "duplicate section [%s]",
			    sec->name);
			return -1;
		}
		ctx->sec_seen[sec->id] = true;
		if (sec->id == CONF_SEC_HTTP)
			ctx->conf->http.enabled = true;
		ctx->base = ctx->conf;
		snprintf(ctx->label, sizeof(ctx->label), "[%s]", sec->name);
	} else {
		if (name.len == 0) {
			conf_error(ctx, ctx->line, "[%s] needs a name: "
			    "[%s NAME]", sec->name, sec->name);
			return -1;
		}
		if (!conf_name_valid(name)) {
			conf_error(ctx, ctx->line, "bad name '%.*s' in [%s] "
			    "(letters, digits, '.', '_', '-'; at most %d)",
			    STR_FMT(name), sec->name, CONF_NAME_MAX);
			return -1;
		}
		memcpy(namebuf, name.p, name.len);
		namebuf[name.len] = '\0';
		if (sec->exists(ctx->conf, namebuf)) {
			conf_error(ctx, ctx->line, "duplicate section [%s %s]",
			    sec->name, namebuf);
			return -1;
		}
		ctx->base = sec->add(ctx->conf, namebuf);
		conf_apply_defaults(ctx, sec->id, ctx->base);
		snprintf(ctx->label, sizeof(ctx->label), "[%s %s]", sec->name,
		    namebuf);
	}
	ctx->sec = sec;
	ctx->last = NULL;
	memset(ctx->seen, 0, sizeof(ctx->seen));
	return 0;
}

/*
 * conf_section_end - the section just read set its required keys, and a
 * required list is not empty (checked here, not by the setter, so that a
 * list may start on the indented lines after "key =").
 */
static int
conf_section_end(struct conf_load *ctx)
{
	for (size_t i = 0; ctx->sec != NULL && i < CONF_NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->section != ctx->sec->id ||
		    !(k->flags & CONF_KF_REQUIRED))
			continue;
		if (!ctx->seen[i]) {
			conf_error(ctx, 0, "%s: missing '%s'", ctx->label,
			    k->name);
			return -1;
		}
		if (conf_types[k->type].list && *CONF_COUNT(ctx->base, k) == 0) {
			conf_error(ctx, 0, "%s: '%s' is empty", ctx->label,
			    k->name);
			return -1;
		}
	}
	if (ctx->sec != NULL && ctx->sec->end != NULL)
		return ctx->sec->end(ctx, ctx->base);
	return 0;
}

/* conf_seen - line where the section just read set key name, or 0 */
static int
conf_seen(const struct conf_load *ctx, const char *name)
{
	const struct conf_key *k = conf_key_find(ctx->sec->id, name);

	return k != NULL ? ctx->seen[k - conf_keys] : 0;
}

static const struct conf_key *
conf_key_find(enum conf_section_id section, const char *name)
{
	for (size_t i = 0; i < CONF_NKEYS; i++)
		if (conf_keys[i].section == section &&
		    strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

/* conf_apply_defaults - a default that does not parse is our bug */
static void
conf_apply_defaults(struct conf_load *ctx, enum conf_section_id section,
    void *base)
{
	struct err e;

	for (size_t i = 0; i < CONF_NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->section != section || k->def == NULL)
			continue;
		if (conf_types[k->type].set(ctx, k, base, k->def, false,
		    &e) == -1) {
			fprintf(stderr, "level=panic event=conf.default "
			    "key=%s error=\"%s\"\n", k->name, e.msg);
			abort();
		}
	}
}

static void
conf_fini_keys(enum conf_section_id section, void *base)
{
	for (size_t i = 0; i < CONF_NKEYS; i++)
		if (conf_keys[i].section == section &&
		    conf_types[conf_keys[i].type].fini != NULL)
			conf_types[conf_keys[i].type].fini(&conf_keys[i], base);
}

static void *
conf_listener_add(struct conf *conf, const char *name)
{
	struct conf_listener *l;

	conf->listeners = xreallocarray(conf->listeners, conf->nlisteners + 1,
	    sizeof(*conf->listeners));
	l = &conf->listeners[conf->nlisteners++];
	memset(l, 0, sizeof(*l));
	l->name = xstrdup(name);
	return l;
}

static bool
conf_listener_exists(const struct conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->nlisteners; i++)
		if (strcmp(conf->listeners[i].name, name) == 0)
			return true;
	return false;
}

/* conf_tls_name_add - [tls NAME]: NAME is a server name, kept lower-case */
static void *
conf_tls_name_add(struct conf *conf, const char *name)
{
	struct conf_tls_name *t;

	conf->tls.names = xreallocarray(conf->tls.names, conf->tls.nnames + 1,
	    sizeof(*conf->tls.names));
	t = &conf->tls.names[conf->tls.nnames++];
	memset(t, 0, sizeof(*t));
	t->name = xstrdup(name);
	for (char *c = t->name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return t;
}

static bool
conf_tls_name_exists(const struct conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->tls.nnames; i++)
		if (strcasecmp(conf->tls.names[i].name, name) == 0)
			return true;
	return false;
}

/* conf_dkim_add - [dkim DOMAIN]: DOMAIN is a mail domain, lower-case */
static void *
conf_dkim_add(struct conf *conf, const char *name)
{
	struct conf_dkim *d;

	conf->dkim = xreallocarray(conf->dkim, conf->ndkim + 1,
	    sizeof(*conf->dkim));
	d = &conf->dkim[conf->ndkim++];
	memset(d, 0, sizeof(*d));
	d->domain = xstrdup(name);
	for (char *c = d->domain; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return d;
}

static bool
conf_dkim_exists(const struct conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->ndkim; i++)
		if (strcasecmp(conf->dkim[i].domain, name) == 0)
			return true;
	return false;
}

/* conf_lower - s in lower case, in place */
static char *
conf_lower(char *s)
{
	for (char *c = s; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return s;
}

/* conf_site_add - [site NAME]: NAME lower-case; file order is kept */
static void *
conf_site_add(struct conf *conf, const char *name)
{
	struct conf_site *s;

	conf->sites = xreallocarray(conf->sites, conf->nsites + 1,
	    sizeof(*conf->sites));
	s = &conf->sites[conf->nsites++];
	memset(s, 0, sizeof(*s));
	s->name = conf_lower(xstrdup(name));
	return s;
}

static bool
conf_site_exists(const struct conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->nsites; i++)
		if (strcasecmp(conf->sites[i].name, name) == 0)
			return true;
	return false;
}

/* conf_site_end - match is required, but [site default] is for the sites
   no match names and takes none */
static int
conf_site_end(struct conf_load *ctx, void *base)
{
	const struct conf_site *s = base;
	int line = conf_seen(ctx, "match");

	if (strcmp(s->name, "default") == 0) {
		if (line != 0) {
			conf_error(ctx, line, "match: [site default] takes "
			    "no match (it is for the sites no other [site] "
			    "matches)");
			return -1;
		}
		return 0;
	}
	if (line == 0) {
		conf_error(ctx, 0, "%s: missing 'match'", ctx->label);
		return -1;
	}
	if (s->nmatch == 0) {
		conf_error(ctx, 0, "%s: 'match' is empty", ctx->label);
		return -1;
	}
	return 0;
}

static void *
conf_backoff_add(struct conf *conf, const char *name)
{
	struct conf_backoff *b;

	conf->backoffs = xreallocarray(conf->backoffs, conf->nbackoffs + 1,
	    sizeof(*conf->backoffs));
	b = &conf->backoffs[conf->nbackoffs++];
	memset(b, 0, sizeof(*b));
	b->name = xstrdup(name);
	return b;
}

static bool
conf_backoff_exists(const struct conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->nbackoffs; i++)
		if (strcasecmp(conf->backoffs[i].name, name) == 0)
			return true;
	return false;
}

/* conf_backoff_end - compile match (the setter checked it compiles) and
   default suspend_time by action: 10m to suspend, 1m to throttle */
static int
conf_backoff_end(struct conf_load *ctx, void *base)
{
	struct conf_backoff *b = base;
	char msg[128];
	int rc;

	if (conf_seen(ctx, "suspend_time") == 0)
		b->suspend_time = b->action == CONF_BACKOFF_SUSPEND ? 600 : 60;
	if ((rc = regcomp(&b->re, b->match, REG_EXTENDED | REG_ICASE |
	    REG_NOSUB)) != 0) {
		regerror(rc, &b->re, msg, sizeof(msg));
		conf_error(ctx, conf_seen(ctx, "match"), "match: bad regular "
		    "expression: %s", msg);
		return -1;
	}
	b->re_ok = true;
	return 0;
}

static void *
conf_pool_add(struct conf *conf, const char *name)
{
	struct conf_pool *p;

	conf->pools = xreallocarray(conf->pools, conf->npools + 1,
	    sizeof(*conf->pools));
	p = &conf->pools[conf->npools++];
	memset(p, 0, sizeof(*p));
	p->name = xstrdup(name);
	return p;
}

static bool
conf_pool_exists(const struct conf *conf, const char *name)
{
	return conf_pool_find(conf, name) != NULL;
}

/* conf_pool_end - a warm-up needs its first day; warmup_day0 from it */
static int
conf_pool_end(struct conf_load *ctx, void *base)
{
	struct conf_pool *p = base;
	struct err e;

	if (p->warmup_since == NULL) {
		if (p->warmup_start > 0) {
			conf_error(ctx, conf_seen(ctx, "warmup_start"),
			    "warmup_start: a warm-up needs warmup_since (its "
			    "first day, YYYY-MM-DD)");
			return -1;
		}
		return 0;
	}
	if (conf_parse_date(p->warmup_since, &p->warmup_day0, &e) == -1) {
		conf_error(ctx, conf_seen(ctx, "warmup_since"),
		    "warmup_since: %s", e.msg);
		return -1;
	}
	return 0;
}

/* conf_tlsrpt_addr - an address a report may come from: local@domain of
   visible ASCII, nothing a header or a path would have to quote */
static bool
conf_tlsrpt_addr(const char *a)
{
	const char *at = a ? strrchr(a, '@') : NULL;

	if (at == NULL || at == a || at[1] == '\0' || strlen(a) > 254)
		return false;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("\"(),:;<>[\\]", *p) != NULL ||
		    (*p == '@' && p != at))
			return false;
	return true;
}

/* conf_local_end - lmtp is an LMTP address, and transport = lmtp names
   one */
static int
conf_local_end(struct conf_load *ctx, void *base)
{
	struct conf *conf = base;
	struct err err;

	if (conf->local.lmtp != NULL && conf_parse_lmtp(conf->local.lmtp,
	    &conf->local.lmtp_addr, &err) == -1) {
		conf_error(ctx, conf_seen(ctx, "lmtp"), "lmtp: %s", err.msg);
		return -1;
	}
	if (conf->local.transport == CONF_LOCAL_LMTP &&
	    conf->local.lmtp == NULL) {
		conf_error(ctx, conf_seen(ctx, "transport"), "%s: transport ="
		    " lmtp needs 'lmtp' (unix:/path or host:port)",
		    ctx->label);
		return -1;
	}
	return 0;
}

/* conf_node_name - a node name: 1 to 32 of [A-Za-z0-9-_.] */
static bool
conf_node_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return false;
	return true;
}

/* conf_server_end - [server] node is a plain name */
static int
conf_server_end(struct conf_load *ctx, void *base)
{
	const struct conf *conf = base;

	if (conf->server.node != NULL && !conf_node_name(conf->server.node)) {
		conf_error(ctx, conf_seen(ctx, "node"), "node: '%s' is not 1 to"
		    " 32 letters, digits, '-', '_' or '.'", conf->server.node);
		return -1;
	}
	return 0;
}

/* conf_cluster_end - [cluster] redis is unix:/PATH or HOST:PORT, the
   prefix a plain word; [server] node is checked in conf_finish */
static int
conf_cluster_end(struct conf_load *ctx, void *base)
{
	const struct conf *conf = base;
	const char *r = conf->cluster.redis, *colon;

	if (r != NULL && strncmp(r, "unix:", 5) == 0) {
		if (r[5] != '/') {
			conf_error(ctx, conf_seen(ctx, "redis"), "redis: '%s':"
			    " a unix socket path must be absolute", r);
			return -1;
		}
	} else if (r != NULL && ((colon = strrchr(r, ':')) == NULL ||
	    colon == r || strspn(colon + 1, "0123456789") !=
	    strlen(colon + 1) || colon[1] == '\0' ||
	    atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)) {
		conf_error(ctx, conf_seen(ctx, "redis"), "redis: '%s' is not"
		    " HOST:PORT or unix:/PATH", r);
		return -1;
	}
	if (conf->cluster.tls && r != NULL && strncmp(r, "unix:", 5) == 0) {
		conf_error(ctx, conf_seen(ctx, "tls"), "tls: Redis on a unix"
		    " socket is not reached over TLS");
		return -1;
	}
	if ((conf->cluster.tls_certificate == NULL) !=
	    (conf->cluster.tls_key == NULL)) {
		conf_error(ctx, conf_seen(ctx, conf->cluster.tls_key ?
		    "tls_key" : "tls_certificate"), "tls_certificate and"
		    " tls_key go together");
		return -1;
	}
	if (conf->cluster.prefix != NULL &&
	    strpbrk(conf->cluster.prefix, " \t\r\n") != NULL) {
		conf_error(ctx, conf_seen(ctx, "prefix"), "prefix: '%s' has"
		    " white space", conf->cluster.prefix);
		return -1;
	}
	return 0;
}

/* conf_tlsrpt_end - [tlsrpt] from and contact are addresses */
static int
conf_tlsrpt_end(struct conf_load *ctx, void *base)
{
	const struct conf *conf = base;

	if (conf->tlsrpt.from != NULL && !conf_tlsrpt_addr(conf->tlsrpt.from)) {
		conf_error(ctx, conf_seen(ctx, "from"), "from: '%s' is not an"
		    " address (local@domain)", conf->tlsrpt.from);
		return -1;
	}
	if (conf->tlsrpt.contact != NULL &&
	    !conf_tlsrpt_addr(conf->tlsrpt.contact)) {
		conf_error(ctx, conf_seen(ctx, "contact"), "contact: '%s' is"
		    " not an address (local@domain)", conf->tlsrpt.contact);
		return -1;
	}
	return 0;
}

static void *
conf_tenant_add(struct conf *conf, const char *name)
{
	struct conf_tenant *t;

	conf->tenants = xreallocarray(conf->tenants, conf->ntenants + 1,
	    sizeof(*conf->tenants));
	t = &conf->tenants[conf->ntenants++];
	memset(t, 0, sizeof(*t));
	t->name = xstrdup(name);
	return t;
}

static bool
conf_tenant_exists(const struct conf *conf, const char *name)
{
	return conf_tenant_find(conf, name) != NULL;
}

/* ---------------------------------------------------------------------
 * Setters: value text to field. Messages lack the key: the caller adds it.
 */


/* conf_set_string - any text; "" unsets a key that has no default */
static int
conf_set_string(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	char **f = CONF_FIELD(base, k, char *);

	(void)ctx, (void)append;
	if (value[0] == '\0' && (k->def != NULL || k->type != CONF_T_STRING))
		return err_set(err, EINVAL, "missing value");
	free(*f);
	*f = value[0] ? xstrdup(value) : NULL;
	return 0;
}

static int
conf_set_hostname(struct conf_load *ctx, const struct conf_key *k,
    void *base, const char *value, bool append, struct err *err)
{
	if (value[0] != '\0' && !conf_domain_valid(str_cstr(value)))
		return err_set(err, EINVAL, "bad host name '%s'", value);
	return conf_set_string(ctx, k, base, value, append, err);
}

/* conf_set_socket - an absolute path that fits sockaddr_un's sun_path */
static int
conf_set_socket(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	struct sockaddr_un sun;

	if (value[0] != '/')
		return err_set(err, EINVAL, "'%s' is not an absolute path",
		    value);
	if (strlen(value) >= sizeof(sun.sun_path))
		return err_set(err, EINVAL, "'%s' is too long for a unix "
		    "socket (limit %zu bytes)", value,
		    sizeof(sun.sun_path) - 1);
	return conf_set_string(ctx, k, base, value, append, err);
}

/* conf_set_template - a path where %d is the domain, %u the local part */
static int
conf_set_template(struct conf_load *ctx, const struct conf_key *k,
    void *base, const char *value, bool append, struct err *err)
{
	for (const char *p = value; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '\0')
			return err_set(err, EINVAL, "'%%' at the end of '%s' "
			    "(write %%%% for a '%%')", value);
		if (p[1] != 'd' && p[1] != 'u' && p[1] != '%')
			return err_set(err, EINVAL, "unknown '%%%c' in '%s' "
			    "(use %%d, %%u or %%%%)", p[1], value);
		p++;
	}
	return conf_set_string(ctx, k, base, value, append, err);
}

static int
conf_set_uint(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	const char *end;
	uint64_t v;

	(void)ctx, (void)append;
	if ((end = conf_digits(value, &v)) == NULL || *end != '\0')
		return err_set(err, EINVAL, "bad number '%s'", value);
	if (conf_check_range(k, v, value, err) == -1)
		return -1;
	*CONF_FIELD(base, k, unsigned) = (unsigned)v;
	return 0;
}

static int
conf_set_size(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	uint64_t v;

	(void)ctx, (void)append;
	if (conf_parse_size(value, &v, err) == -1 ||
	    conf_check_range(k, v, value, err) == -1)
		return -1;
	*CONF_FIELD(base, k, uint64_t) = v;
	return 0;
}

static int
conf_set_duration(struct conf_load *ctx, const struct conf_key *k,
    void *base, const char *value, bool append, struct err *err)
{
	unsigned v;

	(void)ctx, (void)append;
	if (conf_parse_duration(value, &v, err) == -1 ||
	    conf_check_range(k, v, value, err) == -1)
		return -1;
	*CONF_FIELD(base, k, unsigned) = v;
	return 0;
}

static int
conf_set_bool(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	(void)ctx, (void)append;
	return conf_parse_bool(value, CONF_FIELD(base, k, bool), err);
}

static int
conf_set_enum(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	char list[128];
	size_t n = 0;

	(void)ctx, (void)append;
	for (int i = 0; k->names[i] != NULL; i++) {
		if (strcmp(value, k->names[i]) == 0) {
			*CONF_FIELD(base, k, int) = i;
			return 0;
		}
		n += (size_t)snprintf(list + n, n < sizeof(list) ?
		    sizeof(list) - n : 0, "%s%s", i ? ", " : "", k->names[i]);
		if (n >= sizeof(list))
			n = sizeof(list) - 1;
	}
	return err_set(err, EINVAL, "bad value '%s' (%s)", value,
	    n ? list : "");
}

static int
conf_set_log_level(struct conf_load *ctx, const struct conf_key *k,
    void *base, const char *value, bool append, struct err *err)
{
	int level;

	(void)ctx, (void)append;
	if ((level = log_level_parse(value)) == -1)
		return err_set(err, EINVAL, "bad level '%s' (debug, info, "
		    "warning, error)", value);
	*CONF_FIELD(base, k, int) = level;
	return 0;
}

/* conf_set_domains - DNS names separated by blanks or commas, lower-cased */
static int
conf_set_domains(struct conf_load *ctx, const struct conf_key *k,
    void *base, const char *value, bool append, struct err *err)
{
	char ***list = CONF_FIELD(base, k, char **);
	size_t *n = CONF_COUNT(base, k);
	struct str tok;
	char *d;

	(void)ctx;
	if (!append)
		conf_fini_domains(k, base);
	while ((tok = conf_token(&value)).len) {
		bool dup = false;

		if (!conf_domain_valid(tok))
			return err_set(err, EINVAL, "bad domain '%.*s'",
			    STR_FMT(tok));
		d = xstrndup(tok.p, tok.len);
		for (char *c = d; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		for (size_t i = 0; i < *n && !dup; i++)
			dup = strcmp((*list)[i], d) == 0;
		if (dup) {
			free(d);
			continue;
		}
		*list = xreallocarray(*list, *n + 1, sizeof(**list));
		(*list)[(*n)++] = d;
	}
	return 0;
}

static int
conf_set_cidrs(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	struct conf_cidr **list = CONF_FIELD(base, k, struct conf_cidr *);
	size_t *n = CONF_COUNT(base, k);
	struct conf_cidr c;
	struct str tok;
	char one[INET6_ADDRSTRLEN + 8];

	(void)ctx;
	if (!append)
		conf_fini_array(k, base);
	while ((tok = conf_token(&value)).len) {
		if (tok.len >= sizeof(one))
			return err_set(err, EINVAL, "bad network '%.*s' "
			    "(address or address/prefix)", STR_FMT(tok));
		memcpy(one, tok.p, tok.len);
		one[tok.len] = '\0';
		if (conf_parse_cidr(one, &c, err) == -1)
			return -1;
		*list = xreallocarray(*list, *n + 1, sizeof(**list));
		(*list)[(*n)++] = c;
	}
	return 0;
}

/*
 * conf_set_addrs - listen addresses. The same address twice, in one
 * listener or two, is refused here: with SO_REUSEPORT both would bind and
 * share connections without a word.
 */
static int
conf_set_addrs(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	struct conf_addr **list = CONF_FIELD(base, k, struct conf_addr *);
	size_t *n = CONF_COUNT(base, k);
	const struct conf *conf = ctx->conf;
	struct conf_addr a;
	struct str tok;
	char one[INET6_ADDRSTRLEN + 16];

	if (!append)
		conf_fini_array(k, base);
	while ((tok = conf_token(&value)).len) {
		if (tok.len >= sizeof(one))
			return err_set(err, EINVAL, "bad address '%.*s' "
			    "(host:port or [v6]:port)", STR_FMT(tok));
		memcpy(one, tok.p, tok.len);
		one[tok.len] = '\0';
		if (conf_parse_addr(one, &a, err) == -1)
			return -1;
		for (size_t i = 0; i < *n; i++)
			if (strcmp((*list)[i].text, a.text) == 0)
				return err_set(err, EINVAL, "%s is listed "
				    "twice", a.text);
		for (size_t i = 0; i < conf->nlisteners; i++) {
			const struct conf_listener *l = &conf->listeners[i];

			if ((const void *)l == base)
				continue;
			for (size_t j = 0; j < l->naddrs; j++)
				if (strcmp(l->addrs[j].text, a.text) == 0)
					return err_set(err, EINVAL, "%s is "
					    "already used by [listener %s]",
					    a.text, l->name);
		}
		*list = xreallocarray(*list, *n + 1, sizeof(**list));
		(*list)[(*n)++] = a;
	}
	return 0;
}

static int
conf_set_rate(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	struct conf_rate r;
	char count[32];

	(void)ctx, (void)append;
	if (conf_parse_rate(value, &r, err) == -1)
		return -1;
	snprintf(count, sizeof(count), "%u", r.count);
	if (conf_check_range(k, r.count, count, err) == -1)
		return -1;
	*CONF_FIELD(base, k, struct conf_rate) = r;
	return 0;
}

/* conf_list_add - append d (owned) to a char ** list unless it is there;
   true if added */
static bool
conf_list_add(char ***list, size_t *n, char *d)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*list)[i], d) == 0) {
			free(d);
			return false;
		}
	}
	*list = xreallocarray(*list, *n + 1, sizeof(**list));
	(*list)[(*n)++] = d;
	return true;
}

/* conf_set_patterns - "example.com" or "*.example.com", lower-cased */
static int
conf_set_patterns(struct conf_load *ctx, const struct conf_key *k,
    void *base, const char *value, bool append, struct err *err)
{
	struct str tok, dom;

	(void)ctx;
	if (!append)
		conf_fini_domains(k, base);
	while ((tok = conf_token(&value)).len) {
		dom = tok;
		if (dom.len > 2 && dom.p[0] == '*' && dom.p[1] == '.')
			dom = str_make(dom.p + 2, dom.len - 2);
		if (!conf_domain_valid(dom))
			return err_set(err, EINVAL, "bad pattern '%.*s' (a "
			    "domain, or *.domain for the names below it)",
			    STR_FMT(tok));
		conf_list_add(CONF_FIELD(base, k, char **),
		    CONF_COUNT(base, k), conf_lower(xstrndup(tok.p, tok.len)));
	}
	return 0;
}

/* conf_set_regex - compiled here to refuse a bad one on its line; the
   compiled form is made by the section's end hook */
static int
conf_set_regex(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	char msg[128];
	regex_t re;
	int rc;

	if (value[0] == '\0')
		return err_set(err, EINVAL, "missing value");
	if ((rc = regcomp(&re, value, REG_EXTENDED | REG_ICASE |
	    REG_NOSUB)) != 0) {
		regerror(rc, &re, msg, sizeof(msg));
		return err_set(err, EINVAL, "bad regular expression '%s': %s",
		    value, msg);
	}
	regfree(&re);
	return conf_set_string(ctx, k, base, value, append, err);
}

/* conf_set_ips - IPv4 and IPv6 literals, kept as inet_ntop writes them */
static int
conf_set_ips(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	char one[INET6_ADDRSTRLEN], shown[INET6_ADDRSTRLEN];
	uint8_t a[16];
	struct str tok;
	int family;

	(void)ctx;
	if (!append)
		conf_fini_domains(k, base);
	while ((tok = conf_token(&value)).len) {
		if (tok.len >= sizeof(one))
			goto bad;
		memcpy(one, tok.p, tok.len);
		one[tok.len] = '\0';
		family = strchr(one, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(family, one, a) != 1)
			goto bad;
		inet_ntop(family, a, shown, sizeof(shown));
		if (!conf_list_add(CONF_FIELD(base, k, char **),
		    CONF_COUNT(base, k), xstrdup(shown)))
			return err_set(err, EINVAL, "%s is listed twice",
			    shown);
	}
	return 0;
bad:
	return err_set(err, EINVAL, "bad address '%.*s' (an IPv4 or IPv6 "
	    "address)", STR_FMT(tok));
}

static int
conf_set_date(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	int64_t t;

	if (value[0] != '\0' && conf_parse_date(value, &t, err) == -1)
		return -1;
	return conf_set_string(ctx, k, base, value, append, err);
}

/*
 * conf_set_words - user names, API key names: printable, case kept.
 * A word of a tenant may not be in another tenant's list of that key.
 */
static int
conf_set_words(struct conf_load *ctx, const struct conf_key *k,
    void *base, const char *value, bool append, struct err *err)
{
	const struct conf *conf = ctx->conf;
	struct str tok;

	if (!append)
		conf_fini_domains(k, base);
	while ((tok = conf_token(&value)).len) {
		for (size_t i = 0; i < tok.len; i++)
			if ((unsigned char)tok.p[i] < 0x21 ||
			    tok.p[i] == 0x7f)
				return err_set(err, EINVAL, "bad name '%.*s' "
				    "(control character)", STR_FMT(tok));
		for (size_t i = 0; k->section == CONF_SEC_TENANT &&
		    i < conf->ntenants; i++) {
			const struct conf_tenant *t = &conf->tenants[i];
			char **l = *CONF_FIELD(t, k, char **);
			size_t n = *CONF_COUNT(t, k);

			if ((const void *)t == base)
				continue;
			for (size_t j = 0; j < n; j++)
				if (str_eq(tok, str_cstr(l[j])))
					return err_set(err, EINVAL, "'%.*s' "
					    "is already in [tenant %s]",
					    STR_FMT(tok), t->name);
		}
		conf_list_add(CONF_FIELD(base, k, char **),
		    CONF_COUNT(base, k), xstrndup(tok.p, tok.len));
	}
	return 0;
}

/* conf_set_milters - milter addresses: "inet:IP:PORT" ("inet:[v6]:PORT")
   or "unix:/absolute/path"; kept as written */
static int
conf_set_milters(struct conf_load *ctx, const struct conf_key *k,
    void *base, const char *value, bool append, struct err *err)
{
	struct conf_addr a;
	struct str tok;
	char one[128];

	if (!append)
		conf_fini_domains(k, base);
	while ((tok = conf_token(&value)).len) {
		if (tok.len >= sizeof(one))
			return err_set(err, EINVAL, "milter address too long");
		memcpy(one, tok.p, tok.len);
		one[tok.len] = '\0';
		if (strncmp(one, "inet:", 5) == 0) {
			if (conf_parse_addr(one + 5, &a, err) == -1)
				return -1;
		} else if (strncmp(one, "unix:", 5) == 0) {
			if (one[5] != '/' || tok.len - 5 >= 108)
				return err_set(err, EINVAL, "bad milter '%s' "
				    "(unix:/absolute/path, up to 107 octets)",
				    one);
			for (size_t i = 5; i < tok.len; i++)
				if ((unsigned char)one[i] < 0x21 ||
				    one[i] == 0x7f)
					return err_set(err, EINVAL, "bad milter"
					    " path (control character)");
		} else {
			return err_set(err, EINVAL, "bad milter '%s' "
			    "(inet:IP:PORT or unix:/path)", one);
		}
		if (*CONF_COUNT(base, k) >= 16)
			return err_set(err, EINVAL, "at most 16 milters");
		conf_list_add(CONF_FIELD(base, k, char **),
		    CONF_COUNT(base, k), xstrndup(tok.p, tok.len));
	}
	return 0;
}

/* conf_listener_end - note whether the listener named its own milters;
   proxy_protocol needs the peers that may send the header */
static int
conf_listener_end(struct conf_load *ctx, void *base)
{
	struct conf_listener *l = base;

	l->milters_set = conf_seen(ctx, "milters") != 0;
	if (l->proxy_protocol && l->nproxy_from == 0) {
		conf_error(ctx, conf_seen(ctx, "proxy_protocol"), "%s:"
		    " proxy_protocol = yes needs proxy_from (the addresses"
		    " of the proxies, CIDR)", ctx->label);
		return -1;
	}
	return 0;
}

const char *const *
conf_listener_milters(const struct conf *conf, const char *name, size_t *n)
{
	for (size_t i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener *l = &conf->listeners[i];

		if (strcmp(l->name, name) != 0)
			continue;
		if (!l->milter) {
			*n = 0;
			return NULL;
		}
		if (l->milters_set) {
			*n = l->nmilters;
			return (const char *const *)l->milters;
		}
		break;
	}
	*n = conf->milter.nservers;
	return (const char *const *)conf->milter.servers;
}

/* conf_set_pool - the NAME of a [pool NAME], in this file or the other:
   checked once both are read (conf_check_pools) */
static int
conf_set_pool(struct conf_load *ctx, const struct conf_key *k, void *base,
    const char *value, bool append, struct err *err)
{
	struct conf_pool_ref *r;

	if (value[0] != '\0' && !conf_name_valid(str_cstr(value)))
		return err_set(err, EINVAL, "bad pool name '%s'", value);
	if (conf_set_string(ctx, k, base, value, append, err) == -1)
		return -1;
	if (value[0] == '\0')
		return 0;
	ctx->refs = xreallocarray(ctx->refs, ctx->nrefs + 1,
	    sizeof(*ctx->refs));
	r = &ctx->refs[ctx->nrefs++];
	r->file = ctx->name;
	r->line = ctx->line;
	snprintf(r->label, sizeof(r->label), "%s", ctx->label);
	snprintf(r->name, sizeof(r->name), "%s", value);
	return 0;
}

static void
conf_fini_string(const struct conf_key *k, void *base)
{
	char **f = CONF_FIELD(base, k, char *);

	free(*f);
	*f = NULL;
}

static void
conf_fini_domains(const struct conf_key *k, void *base)
{
	char ***list = CONF_FIELD(base, k, char **);
	size_t *n = CONF_COUNT(base, k);

	for (size_t i = 0; i < *n; i++)
		free((*list)[i]);
	free(*list);
	*list = NULL;
	*n = 0;
}

/* conf_fini_array - a list of plain structs: one free */
static void
conf_fini_array(const struct conf_key *k, void *base)
{
	void **list = CONF_FIELD(base, k, void *);

	free(*list);
	*list = NULL;
	*CONF_COUNT(base, k) = 0;
}

/* ---------------------------------------------------------------------
 * Pure value parsers
 */

/* conf_digits - decimal digits at s; end of them, or NULL if none/overflow */
static const char *
conf_digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return NULL;
	*out = v;
	return p;
}

/* conf_token - next item of a list separated by blanks or commas */
static struct str
conf_token(const char **pp)
{
	const char *p = *pp, *start;

	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	start = p;
	while (*p && *p != ' ' && *p != '\t' && *p != ',')
		p++;
	*pp = p;
	return str_make(start, (size_t)(p - start));
}

int
conf_parse_size(const char *s, uint64_t *out, struct err *err)
{
	const char *end;
	uint64_t v, mult = 1;

	if ((end = conf_digits(s, &v)) == NULL)
		goto bad;
	switch (*end) {
	case 'K': case 'k':
		mult = KB;
		end++;
		break;
	case 'M': case 'm':
		mult = MB;
		end++;
		break;
	case 'G': case 'g':
		mult = GB;
		end++;
		break;
	}
	if (*end != '\0' || v > UINT64_MAX / mult)
		goto bad;
	*out = v * mult;
	return 0;
bad:
	return err_set(err, EINVAL, "bad size '%s'", s);
}

int
conf_parse_duration(const char *s, unsigned *seconds_out, struct err *err)
{
	const char *end;
	uint64_t v, mult = 1;

	if ((end = conf_digits(s, &v)) == NULL)
		goto bad;
	switch (*end) {
	case 's': case 'S':
		end++;
		break;
	case 'm': case 'M':
		mult = 60;
		end++;
		break;
	case 'h': case 'H':
		mult = 3600;
		end++;
		break;
	case 'd': case 'D':
		mult = 86400;
		end++;
		break;
	}
	if (*end != '\0' || v > UINT_MAX / mult)
		goto bad;
	*seconds_out = (unsigned)(v * mult);
	return 0;
bad:
	return err_set(err, EINVAL, "bad duration '%s'", s);
}

int
conf_parse_bool(const char *s, bool *out, struct err *err)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return err_set(err, EINVAL, "bad boolean '%s' (yes or no)", s);
}

int
conf_parse_lmtp(const char *s, struct conf_lmtp *out, struct err *err)
{
	struct in6_addr a6;
	const char *hs, *he, *port, *end;
	uint64_t p;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (strncmp(s, "unix:", 5) == 0) {
		s += 5;
		if (s[0] != '/')
			return err_set(err, EINVAL, "'unix:%s' is not an"
			    " absolute path", s);
		if (strlen(s) >= sizeof(out->path))
			return err_set(err, EINVAL, "socket path '%s' is"
			    " longer than %zu bytes", s,
			    sizeof(out->path) - 1);
		for (const char *c = s; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return err_set(err, EINVAL, "control character"
				    " in socket path");
		out->unix_socket = true;
		snprintf(out->path, sizeof(out->path), "%s", s);
		snprintf(out->text, sizeof(out->text), "%s", s);
		return 0;
	}
	if (s[0] == '[') {
		hs = s + 1;
		if ((he = strchr(hs, ']')) == NULL || he[1] != ':')
			goto bad;
		port = he + 2;
	} else {
		hs = s;
		if ((he = strrchr(s, ':')) == NULL)
			goto bad;
		port = he + 1;
	}
	n = (size_t)(he - hs);
	if (n == 0 || n >= sizeof(out->host))
		goto bad;
	memcpy(out->host, hs, n);
	out->host[n] = '\0';
	if (s[0] == '[' ? inet_pton(AF_INET6, out->host, &a6) != 1 :
	    !conf_domain_valid(str_cstr(out->host)))
		return err_set(err, EINVAL, "bad host in '%s' (a host name, an"
		    " IPv4 address or [IPv6]:port)", s);
	if ((end = conf_digits(port, &p)) == NULL || *end != '\0' ||
	    p < 1 || p > 65535)
		return err_set(err, EINVAL, "bad port in '%s' (1-65535)", s);
	out->port = (unsigned)p;
	snprintf(out->text, sizeof(out->text), s[0] == '[' ? "[%s]:%u" :
	    "%s:%u", out->host, out->port);
	return 0;
bad:
	return err_set(err, EINVAL, "bad LMTP address '%s' (unix:/path or"
	    " host:port)", s);
}

/* conf_parse_addr - "a.b.c.d:port" or "[v6]:port", numeric, port 1-65535 */
int
conf_parse_addr(const char *s, struct conf_addr *out, struct err *err)
{
	char host[INET6_ADDRSTRLEN], shown[INET6_ADDRSTRLEN];
	const char *hs, *he, *port, *end;
	uint64_t p;
	int family;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		family = AF_INET6;
		hs = s + 1;
		if ((he = strchr(hs, ']')) == NULL || he[1] != ':')
			goto bad;
		port = he + 2;
	} else {
		family = AF_INET;
		hs = s;
		if ((he = strrchr(s, ':')) == NULL)
			goto bad;
		if (memchr(hs, ':', (size_t)(he - hs)) != NULL)
			return err_set(err, EINVAL, "bad address '%s' (an "
			    "IPv6 address goes in brackets: [::1]:25)", s);
		port = he + 1;
	}
	if ((size_t)(he - hs) >= sizeof(host) || he == hs)
		goto bad;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if ((end = conf_digits(port, &p)) == NULL || *end != '\0' ||
	    p < 1 || p > 65535)
		return err_set(err, EINVAL, "bad port in '%s' (1-65535)", s);
	if (family == AF_INET) {
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)p);
		if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
			goto bad_ip;
		memcpy(&out->ss, &sin, sizeof(sin));
		out->sslen = sizeof(sin);
		inet_ntop(AF_INET, &sin.sin_addr, shown, sizeof(shown));
		snprintf(out->text, sizeof(out->text), "%s:%u", shown,
		    (unsigned)p);
	} else {
		struct sockaddr_in6 sin6;

		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, host, &sin6.sin6_addr) != 1)
			goto bad_ip;
		memcpy(&out->ss, &sin6, sizeof(sin6));
		out->sslen = sizeof(sin6);
		inet_ntop(AF_INET6, &sin6.sin6_addr, shown, sizeof(shown));
		snprintf(out->text, sizeof(out->text), "[%s]:%u", shown,
		    (unsigned)p);
	}
	return 0;
bad_ip:
	return err_set(err, EINVAL, "bad address '%s' (numeric IP "
	    "addresses only)", s);
bad:
	return err_set(err, EINVAL, "bad address '%s' (host:port or "
	    "[v6]:port)", s);
}

/* conf_parse_cidr - "net/prefix" or a bare address (/32, /128) */
int
conf_parse_cidr(const char *s, struct conf_cidr *out, struct err *err)
{
	char host[INET6_ADDRSTRLEN], shown[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/'), *end;
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned bits, nbytes;
	uint64_t prefix;
	uint8_t net[16];
	bool hostbits = false;

	memset(out, 0, sizeof(*out));
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	out->family = memchr(host, ':', hlen) ? AF_INET6 : AF_INET;
	bits = out->family == AF_INET ? 32 : 128;
	if (inet_pton(out->family, host, out->addr) != 1)
		goto bad;
	prefix = bits;
	if (slash != NULL && ((end = conf_digits(slash + 1, &prefix)) == NULL
	    || *end != '\0' || prefix > bits))
		goto bad;
	out->prefix = (unsigned)prefix;

	nbytes = bits / 8;
	memcpy(net, out->addr, nbytes);
	for (unsigned i = 0; i < nbytes; i++) {
		unsigned keep = out->prefix >= (i + 1) * 8 ? 8 :
		    out->prefix > i * 8 ? out->prefix - i * 8 : 0;
		uint8_t mask = (uint8_t)(0xff00u >> keep);

		net[i] = (uint8_t)(out->addr[i] & mask);
		hostbits |= net[i] != out->addr[i];
	}
	if (hostbits) {
		inet_ntop(out->family, net, shown, sizeof(shown));
		return err_set(err, EINVAL, "host bits set in '%s' (the "
		    "network is %s/%u)", s, shown, out->prefix);
	}
	return 0;
bad:
	return err_set(err, EINVAL, "bad network '%s' (address or "
	    "address/prefix)", s);
}

int
conf_parse_rate(const char *s, struct conf_rate *out, struct err *err)
{
	static const struct {
		const char	*name;
		unsigned	 seconds;
	} units[] = {
		{ "s", 1 }, { "sec", 1 }, { "m", 60 }, { "min", 60 },
		{ "h", 3600 }, { "hour", 3600 }, { "d", 86400 },
		{ "day", 86400 },
	};
	const char *end;
	uint64_t v;

	if ((end = conf_digits(s, &v)) == NULL || v > UINT_MAX)
		goto bad;
	if (*end == '\0' && v == 0) {
		out->count = 0;
		out->period = 1;
		return 0;
	}
	if (*end != '/')
		goto bad;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end + 1, units[i].name) == 0) {
			out->count = (unsigned)v;
			out->period = units[i].seconds;
			return 0;
		}
	}
bad:
	return err_set(err, EINVAL, "bad rate '%s' (0, or N/s, N/m, N/h, "
	    "N/d)", s);
}

/* conf_days - days from 1970-01-01 to y-m-d (proleptic Gregorian) */
static int64_t
conf_days(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int
conf_parse_date(const char *s, int64_t *out, struct err *err)
{
	static const unsigned mdays[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	unsigned v[3] = { 0, 0, 0 }, max;
	const char *p = s;

	for (int f = 0; f < 3; f++) {
		int width = f == 0 ? 4 : 2;

		for (int i = 0; i < width; i++, p++) {
			if (*p < '0' || *p > '9')
				goto bad;
			v[f] = v[f] * 10 + (unsigned)(*p - '0');
		}
		if (*p != (f < 2 ? '-' : '\0'))
			goto bad;
		p++;
	}
	if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1)
		goto bad;
	max = mdays[v[1] - 1];
	if (v[1] == 2 && (v[0] % 4 == 0 && (v[0] % 100 != 0 ||
	    v[0] % 400 == 0)))
		max = 29;
	if (v[2] > max)
		goto bad;
	*out = conf_days(v[0], v[1], v[2]) * 86400;
	return 0;
bad:
	return err_set(err, EINVAL, "bad date '%s' (YYYY-MM-DD, from "
	    "1970-01-01)", s);
}

/*
 * conf_line_is_key - body reads "name = ...". An indented line of that
 * form is a key, not a continuation: no list value holds '=', and keys
 * indented under their header are too common to punish. ("name: value"
 * does not count: "fe80::/10" would read as one.)
 */
static bool
conf_line_is_key(struct str body)
{
	size_t i = 0;

	while (i < body.len && (isalnum((unsigned char)body.p[i]) ||
	    body.p[i] == '_'))
		i++;
	if (i == 0)
		return false;
	while (i < body.len && (body.p[i] == ' ' || body.p[i] == '\t'))
		i++;
	return i < body.len && body.p[i] == '=';
}

/* conf_name_valid - NAME of a named section, used in logs and metrics */
static bool
conf_name_valid(struct str name)
{
	if (name.len == 0 || name.len > CONF_NAME_MAX)
		return false;
	for (size_t i = 0; i < name.len; i++)
		if (!isalnum((unsigned char)name.p[i]) && name.p[i] != '.' &&
		    name.p[i] != '_' && name.p[i] != '-')
			return false;
	return true;
}

/* conf_domain_valid - letters, digits, '-' in dot-separated labels */
static bool
conf_domain_valid(struct str d)
{
	size_t label = 0;

	if (d.len == 0 || d.len > 253)
		return false;
	for (size_t i = 0; i < d.len; i++) {
		unsigned char c = (unsigned char)d.p[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum(c) || c == '-') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

/* conf_format_bound - v as the key's type is written, for messages */
static void
conf_format_bound(const struct conf_key *k, uint64_t v, char *out,
    size_t outlen)
{
	static const struct conf_unit sizes[] = {
		{ GB, "G" }, { MB, "M" }, { KB, "K" },
	}, times[] = {
		{ 86400, "d" }, { 3600, "h" }, { 60, "m" }, { 1, "s" },
	};
	const struct conf_unit *u = NULL;
	size_t n = 0;

	if (k->type == CONF_T_SIZE)
		u = sizes, n = sizeof(sizes) / sizeof(sizes[0]);
	else if (k->type == CONF_T_DURATION)
		u = times, n = sizeof(times) / sizeof(times[0]);
	for (size_t i = 0; i < n; i++) {
		if (v != 0 && v % u[i].unit == 0) {
			snprintf(out, outlen, "%llu%s",
			    (unsigned long long)(v / u[i].unit), u[i].suffix);
			return;
		}
	}
	snprintf(out, outlen, "%llu", (unsigned long long)v);
}

static int
conf_check_range(const struct conf_key *k, uint64_t v, const char *value,
    struct err *err)
{
	char lo[32], hi[32];

	if (v >= k->min && v <= k->max)
		return 0;
	conf_format_bound(k, k->min, lo, sizeof(lo));
	conf_format_bound(k, k->max, hi, sizeof(hi));
	return err_set(err, ERANGE, "'%s' is out of range %s..%s", value, lo,
	    hi);
}

/* ---------------------------------------------------------------------
 * Lookups
 */

/* conf_pattern_match - "*.example.com" matches any name below
   example.com; any other pattern matches the name itself (any case) */
static bool
conf_pattern_match(const char *pat, const char *name)
{
	size_t lp, ln;

	if (pat[0] == '*' && pat[1] == '.') {
		lp = strlen(pat + 1);
		ln = strlen(name);
		return ln > lp && strcasecmp(name + ln - lp, pat + 1) == 0;
	}
	return strcasecmp(pat, name) == 0;
}

const struct conf_site *
conf_site_find(const struct conf *conf, const char *domain,
    const char *const *mx, size_t nmx)
{
	const struct conf_site *def = NULL;

	for (size_t i = 0; i < conf->nsites; i++) {
		const struct conf_site *s = &conf->sites[i];

		if (strcmp(s->name, "default") == 0) {
			def = s;
			continue;
		}
		for (size_t j = 0; j < s->nmatch; j++) {
			if (domain != NULL &&
			    conf_pattern_match(s->match[j], domain))
				return s;
			for (size_t k = 0; k < nmx; k++)
				if (conf_pattern_match(s->match[j], mx[k]))
					return s;
		}
	}
	return def;
}

const struct conf_pool *
conf_pool_find(const struct conf *conf, const char *name)
{
	for (size_t i = 0; name != NULL && i < conf->npools; i++)
		if (strcasecmp(conf->pools[i].name, name) == 0)
			return &conf->pools[i];
	return NULL;
}

const struct conf_tenant *
conf_tenant_find(const struct conf *conf, const char *name)
{
	for (size_t i = 0; name != NULL && i < conf->ntenants; i++)
		if (strcasecmp(conf->tenants[i].name, name) == 0)
			return &conf->tenants[i];
	return NULL;
}

const struct conf_tenant *
conf_tenant_of_user(const struct conf *conf, const char *user)
{
	for (size_t i = 0; user != NULL && i < conf->ntenants; i++)
		for (size_t j = 0; j < conf->tenants[i].nusers; j++)
			if (strcmp(conf->tenants[i].users[j], user) == 0)
				return &conf->tenants[i];
	return NULL;
}

const struct conf_tenant *
conf_tenant_of_key(const struct conf *conf, const char *key)
{
	for (size_t i = 0; key != NULL && i < conf->ntenants; i++)
		for (size_t j = 0; j < conf->tenants[i].napi_keys; j++)
			if (strcmp(conf->tenants[i].api_keys[j], key) == 0)
				return &conf->tenants[i];
	return NULL;
}

bool
conf_is_local_domain(const struct conf *conf, struct str domain)
{
	for (size_t i = 0; i < conf->local.ndomains; i++)
		if (str_eq_nocase(domain, str_cstr(conf->local.domains[i])))
			return true;
	return false;
}

bool
conf_is_trusted(const struct conf *conf, const struct sockaddr *sa)
{
	for (size_t i = 0; i < conf->relay.ntrusted_networks; i++)
		if (conf_cidr_match(&conf->relay.trusted_networks[i], sa))
			return true;
	return false;
}

/*
 * conf_cidr_match - a v4 network matches v4 addresses and v4-mapped v6
 * ones (::ffff:a.b.c.d, what a dual-stack socket reports); a v6 network
 * matches v6 addresses only.
 */
bool
conf_cidr_match(const struct conf_cidr *cidr, const struct sockaddr *sa)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	uint8_t a[16];
	unsigned full, rest;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET && cidr->family == AF_INET) {
		memcpy(&sin, sa, sizeof(sin));
		memcpy(a, &sin.sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(&sin6, sa, sizeof(sin6));
		if (cidr->family == AF_INET) {
			if (!IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr))
				return false;
			memcpy(a, sin6.sin6_addr.s6_addr + 12, 4);
		} else {
			memcpy(a, sin6.sin6_addr.s6_addr, 16);
		}
	} else {
		return false;
	}
	full = cidr->prefix / 8;
	rest = cidr->prefix % 8;
	if (memcmp(a, cidr->addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ cidr->addr[full]) & (0xff00u >> rest) & 0xff) == 0;
}
