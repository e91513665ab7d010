/* SPDX-License-Identifier: ISC */
/*
 * cluster.c - the shared state of cluster.h over net/redis.c: each check
 * is one Lua script, atomic in Redis, so nodes racing for the last unit
 * of a limit cannot both get it. Keys (PREFIX is [cluster] prefix):
 *
 *   PREFIX user:LOGIN:HOUR        messages of a user in one hour (25 h)
 *   PREFIX quota:TENANT:K:START   tenant counter K (mh md rh rd) of the
 *                                 window starting at START (2 windows)
 *   PREFIX authfail:IP            AUTH failures (auth_failure_window)
 *   PREFIX ban:IP                 a ban (auth_ban_time)
 *   PREFIX suppress               the suppression list (a set)
 *   PREFIX connrate:IP            connections per minute (a bucket)
 *   PREFIX suppress (channel)     its changes: "+ADDR" or "-ADDR", and
 *                                 the sites' (cluster_sites.c)
 *   PREFIX sites                  site suspensions in force (a hash)
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "net/redis.h"
#include "net/redis_tls.h"
#include "net/worker.h"
#include "policy/cluster.h"
#include "policy/cluster_int.h"
#include "policy/quota.h"
#include "policy/suppress.h"

#define CLUSTER_PENDING_MAX	10000	/* suppression changes kept while
					   Redis is down */

/* KEYS[1] user base; ARGV limit, hour: the last 24 hourly keys */
static const char cluster_lua_user[] =
    "local h = tonumber(ARGV[2])\n"
    "local n = 0\n"
    "for i = 0, 23 do\n"
    "  n = n + tonumber(redis.call('GET', KEYS[1] .. ':' .. (h - i)) or '0')\n"
    "end\n"
    "if n >= tonumber(ARGV[1]) then return 0 end\n"
    "local k = KEYS[1] .. ':' .. h\n"
    "redis.call('INCR', k)\n"
    "redis.call('EXPIRE', k, 90000)\n"
    "return 1\n";

/* KEYS mh md rh rd; ARGV their limits (0 none), msgs, rcpts, ttl h, d:
   0 reserved, else the limit (1..4) that refuses */
static const char cluster_lua_quota[] =
    "local ask = { tonumber(ARGV[5]), tonumber(ARGV[5]),"
    " tonumber(ARGV[6]), tonumber(ARGV[6]) }\n"
    "for i = 1, 4 do\n"
    "  local lim = tonumber(ARGV[i])\n"
    "  if lim > 0 and ask[i] > 0 then\n"
    "    local n = tonumber(redis.call('GET', KEYS[i]) or '0')\n"
    "    if n + ask[i] > lim then return i end\n"
    "  end\n"
    "end\n"
    "for i = 1, 4 do\n"
    "  if ask[i] > 0 then\n"
    "    redis.call('INCRBY', KEYS[i], ask[i])\n"
    "    redis.call('EXPIRE', KEYS[i], ARGV[7 + (i + 1) % 2])\n"
    "  end\n"
    "end\n"
    "return 0\n";

/* KEYS counters; ARGV amounts: each taken off, never below zero */
static const char cluster_lua_release[] =
    "for i = 1, #KEYS do\n"
    "  local n = tonumber(redis.call('GET', KEYS[i]) or '0')\n"
    "  local d = tonumber(ARGV[i])\n"
    "  if d > n then d = n end\n"
    "  if d > 0 then redis.call('DECRBY', KEYS[i], d) end\n"
    "end\n"
    "return 0\n";

/* KEYS fail, ban; ARGV max, window, ban time: the ban's length or 0 */
static const char cluster_lua_authfail[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end\n"
    "if n >= tonumber(ARGV[1]) then\n"
    "  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return tonumber(ARGV[3])\n"
    "end\n"
    "return 0\n";

/*
 * KEYS ban, rate; ARGV connections per minute (0 none): a ban's seconds
 * left (1 for one without expiry), -1 when the rate has no room, else 0
 * with one connection counted. The rate is a token bucket holding a
 * minute's worth, on Redis's clock (the nodes' clocks may differ), kept
 * a minute after its last use (a full bucket needs no key). TIME before
 * a write needs effects replication, the default from Redis 5 on.
 */
static const char cluster_lua_connect[] =
    "local t = redis.call('PTTL', KEYS[1])\n"
    "if t == -1 then return 1 end\n"
    "if t > 0 then return math.floor((t + 999) / 1000) end\n"
    "local cap = tonumber(ARGV[1])\n"
    "if cap <= 0 then return 0 end\n"
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local tm = redis.call('TIME')\n"
    "local now = tonumber(tm[1]) * 1000 +"
    " math.floor(tonumber(tm[2]) / 1000)\n"
    "local b = redis.call('HMGET', KEYS[2], 'tokens', 'ts')\n"
    "local tokens = tonumber(b[1]) or cap\n"
    "local ts = tonumber(b[2]) or now\n"
    "if now > ts then tokens = tokens + (now - ts) * cap / 60000 end\n"
    "if tokens > cap then tokens = cap end\n"
    "local ok = tokens >= 1\n"
    "if ok then tokens = tokens - 1 end\n"
    "redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'ts',"
    " tostring(now))\n"
    "redis.call('PEXPIRE', KEYS[2], 60000)\n"
    "if ok then return 0 end\n"
    "return -1\n";

/* KEYS set; ARGV "+" or "-", address, channel */
static const char cluster_lua_suppress[] =
    "if ARGV[1] == '+' then redis.call('SADD', KEYS[1], ARGV[2])\n"
    "else redis.call('SREM', KEYS[1], ARGV[2]) end\n"
    "redis.call('PUBLISH', ARGV[3], ARGV[1] .. ARGV[2])\n"
    "return 0\n";

enum cluster_script {
	CS_USER, CS_QUOTA, CS_RELEASE, CS_AUTHFAIL, CS_SUPPRESS, CS_CONNECT,
	CS__COUNT
};

static struct redis_script cluster_scripts[CS__COUNT];
static pthread_once_t cluster_scripts_once = PTHREAD_ONCE_INIT;



enum cluster_kind { CK_USER, CK_QUOTA, CK_CONNECT };

struct cluster_op {
	struct cluster		*c;
	cluster_fn		*fn;
	void			*arg;
	bool			 cancelled;
	enum cluster_kind	 kind;
	/* to give a reservation back once cancelled */
	char			*name;
	int64_t			 when;
	unsigned		 msgs, rcpts;
};

/* the node's suppression owner, for the hook (any thread) */
static struct cluster *_Atomic cluster_suppress_owner;

static void
cluster_scripts_init(void)
{
	redis_script_init(&cluster_scripts[CS_USER], cluster_lua_user);
	redis_script_init(&cluster_scripts[CS_QUOTA], cluster_lua_quota);
	redis_script_init(&cluster_scripts[CS_RELEASE], cluster_lua_release);
	redis_script_init(&cluster_scripts[CS_AUTHFAIL],
	    cluster_lua_authfail);
	redis_script_init(&cluster_scripts[CS_SUPPRESS],
	    cluster_lua_suppress);
	redis_script_init(&cluster_scripts[CS_CONNECT], cluster_lua_connect);
}

void
cluster_key(const char *prefix, const char *kind, const char *name,
    bool fold, char *out, size_t n)
{
	size_t i, start;

	snprintf(out, n, "%s%s:%s", prefix, kind, name);
	if (!fold)
		return;
	start = strlen(prefix) + strlen(kind) + 1;
	for (i = start; i < n && out[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
}

int
cluster_suppress_parse(const char *msg, size_t len, bool *add, char *addr,
    size_t n)
{
	if (len < 2 || (msg[0] != '+' && msg[0] != '-') || len - 1 >= n ||
	    memchr(msg, '\0', len) != NULL)
		return -1;
	*add = msg[0] == '+';
	memcpy(addr, msg + 1, len - 1);
	addr[len - 1] = '\0';
	return 0;
}

/* cluster_int - an integer reply's value: 0, or -1 */
static int
cluster_int(const redisReply *rep, long long *v)
{
	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER)
		return -1;
	*v = rep->integer;
	return 0;
}

void
cluster_ignore_cb(void *arg, const redisReply *rep)
{
	(void)arg;
	(void)rep;
}

static struct cluster_op *
cluster_op_new(struct cluster *c, enum cluster_kind kind, cluster_fn *fn,
    void *arg)
{
	struct cluster_op *op = xcalloc(1, sizeof(*op));

	op->c = c;
	op->kind = kind;
	op->fn = fn;
	op->arg = arg;
	return op;
}

static void
cluster_op_free(struct cluster_op *op)
{
	free(op->name);
	free(op);
}

void
cluster_cancel(struct cluster_op *op)
{
	if (op != NULL)
		op->cancelled = true;
}

/* cluster_op_cb - an answer: to the caller, or given back if it went */
static void
cluster_op_cb(void *arg, const redisReply *rep)
{
	struct cluster_op *op = arg;
	enum cluster_answer a = CLUSTER_DOWN;
	long long v = 0;
	long value = 0;

	if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
		log_warnx("event=cluster.redis.error error=\"%s\"", rep->str);
	if (cluster_int(rep, &v) == 0) {
		switch (op->kind) {
		case CK_USER:
			a = v == 1 ? CLUSTER_OK : CLUSTER_REFUSED;
			break;
		case CK_QUOTA:
			a = v == 0 ? CLUSTER_OK : CLUSTER_REFUSED;
			value = (long)v - 1;
			break;
		case CK_CONNECT:
			/* a ban's seconds, -1 for the rate, or 0 */
			a = v != 0 ? CLUSTER_REFUSED : CLUSTER_OK;
			value = (long)v;
			break;
		}
	}
	if (!op->cancelled) {
		op->fn(op->arg, a, value);
	} else if (a == CLUSTER_OK && op->kind == CK_USER) {
		cluster_user_release(op->c, op->name, op->when);
	} else if (a == CLUSTER_OK && op->kind == CK_QUOTA) {
		cluster_quota_release(op->c, op->name, op->msgs, op->rcpts,
		    op->when);
	}
	cluster_op_free(op);
}

struct cluster_op *
cluster_user_reserve(struct cluster *c, const char *user, unsigned limit,
    int64_t now, int64_t *hour, cluster_fn *fn, void *arg)
{
	char key[CLUSTER_KEY_MAX], lim[16], h[24];
	const char *argv[3] = { key, lim, h };
	struct cluster_op *op;

	if (c == NULL || !redis_up(c->cmd))
		return NULL;
	*hour = now / 3600;
	cluster_key(c->prefix, "user", user, true, key, sizeof(key));
	snprintf(lim, sizeof(lim), "%u", limit);
	snprintf(h, sizeof(h), "%lld", (long long)*hour);
	op = cluster_op_new(c, CK_USER, fn, arg);
	op->name = xstrdup(user);
	op->when = *hour;
	if (redis_eval(c->cmd, &cluster_scripts[CS_USER], cluster_op_cb, op,
	    1, 3, argv) == -1) {
		cluster_op_free(op);
		return NULL;
	}
	return op;
}

void
cluster_user_release(struct cluster *c, const char *user, int64_t hour)
{
	char base[CLUSTER_KEY_MAX], key[CLUSTER_KEY_MAX + 24];
	const char *argv[2] = { key, "1" };

	if (c == NULL || !redis_up(c->cmd))
		return;
	cluster_key(c->prefix, "user", user, true, base, sizeof(base));
	snprintf(key, sizeof(key), "%s:%lld", base, (long long)hour);
	(void)redis_eval(c->cmd, &cluster_scripts[CS_RELEASE],
	    cluster_ignore_cb, NULL, 1, 2, argv);
}

/* cluster_quota_keys - the four counters of tenant at when */
static void
cluster_quota_keys(struct cluster *c, const char *tenant, int64_t when,
    char keys[4][CLUSTER_KEY_MAX + 40])
{
	static const char *const kn[4] = { "mh", "md", "rh", "rd" };
	char base[CLUSTER_KEY_MAX];

	cluster_key(c->prefix, "quota", tenant, false, base, sizeof(base));
	for (int i = 0; i < 4; i++)
		snprintf(keys[i], CLUSTER_KEY_MAX + 40, "%s:%s:%lld", base,
		    kn[i], (long long)quota_window(i % 2 == 0 ? QUOTA_HOUR :
		    QUOTA_DAY, when));
}

struct cluster_op *
cluster_quota_reserve(struct cluster *c, const struct conf_tenant *t,
    unsigned msgs, unsigned rcpts, int64_t now, cluster_fn *fn, void *arg)
{
	char keys[4][CLUSTER_KEY_MAX + 40], a[8][24];
	const char *argv[12];
	const unsigned v[8] = { t->messages_per_hour, t->messages_per_day,
	    t->recipients_per_hour, t->recipients_per_day, msgs, rcpts,
	    QUOTA_HOUR * 2, QUOTA_DAY * 2 };
	struct cluster_op *op;

	if (c == NULL || !redis_up(c->cmd))
		return NULL;
	cluster_quota_keys(c, t->name, now, keys);
	for (int i = 0; i < 4; i++)
		argv[i] = keys[i];
	for (int i = 0; i < 8; i++) {
		snprintf(a[i], sizeof(a[i]), "%u", v[i]);
		argv[4 + i] = a[i];
	}
	op = cluster_op_new(c, CK_QUOTA, fn, arg);
	op->name = xstrdup(t->name);
	op->when = now;
	op->msgs = msgs;
	op->rcpts = rcpts;
	if (redis_eval(c->cmd, &cluster_scripts[CS_QUOTA], cluster_op_cb, op,
	    4, 12, argv) == -1) {
		cluster_op_free(op);
		return NULL;
	}
	return op;
}

void
cluster_quota_release(struct cluster *c, const char *tenant, unsigned msgs,
    unsigned rcpts, int64_t when)
{
	char keys[4][CLUSTER_KEY_MAX + 40], m[16], r[16];
	const char *argv[8];

	if (c == NULL || !redis_up(c->cmd) || (msgs == 0 && rcpts == 0))
		return;
	cluster_quota_keys(c, tenant, when, keys);
	snprintf(m, sizeof(m), "%u", msgs);
	snprintf(r, sizeof(r), "%u", rcpts);
	for (int i = 0; i < 4; i++) {
		argv[i] = keys[i];
		argv[4 + i] = i < 2 ? m : r;
	}
	(void)redis_eval(c->cmd, &cluster_scripts[CS_RELEASE],
	    cluster_ignore_cb, NULL, 4, 8, argv);
}

struct cluster_op *
cluster_connect(struct cluster *c, const char *ip, unsigned per_minute,
    cluster_fn *fn, void *arg)
{
	char ban[CLUSTER_KEY_MAX], rate[CLUSTER_KEY_MAX], lim[16];
	const char *argv[3] = { ban, rate, lim };
	struct cluster_op *op;

	if (c == NULL || !redis_up(c->cmd))
		return NULL;
	cluster_key(c->prefix, "ban", ip, false, ban, sizeof(ban));
	cluster_key(c->prefix, "connrate", ip, false, rate, sizeof(rate));
	snprintf(lim, sizeof(lim), "%u", per_minute);
	op = cluster_op_new(c, CK_CONNECT, fn, arg);
	if (redis_eval(c->cmd, &cluster_scripts[CS_CONNECT], cluster_op_cb, op,
	    2, 3, argv) == -1) {
		cluster_op_free(op);
		return NULL;
	}
	return op;
}

static void
cluster_authfail_cb(void *arg, const redisReply *rep)
{
	char *ip = arg;
	long long v;

	if (cluster_int(rep, &v) == 0 && v > 0)
		log_info("event=cluster.ban client=%s ban=%llds", ip, v);
	free(ip);
}

void
cluster_auth_failed(struct cluster *c, const char *ip,
    const struct conf *conf)
{
	char fail[CLUSTER_KEY_MAX], ban[CLUSTER_KEY_MAX], a[3][16];
	const char *argv[5] = { fail, ban, a[0], a[1], a[2] };
	char *copy;

	if (c == NULL || !redis_up(c->cmd) ||
	    conf->limits.auth_failures_per_ip == 0)
		return;
	cluster_key(c->prefix, "authfail", ip, false, fail, sizeof(fail));
	cluster_key(c->prefix, "ban", ip, false, ban, sizeof(ban));
	snprintf(a[0], sizeof(a[0]), "%u", conf->limits.auth_failures_per_ip);
	snprintf(a[1], sizeof(a[1]), "%u", conf->limits.auth_failure_window ?
	    conf->limits.auth_failure_window : 1);
	snprintf(a[2], sizeof(a[2]), "%u", conf->limits.auth_ban_time ?
	    conf->limits.auth_ban_time : 1);
	copy = xstrdup(ip);
	if (redis_eval(c->cmd, &cluster_scripts[CS_AUTHFAIL],
	    cluster_authfail_cb, copy, 2, 5, argv) == -1)
		free(copy);
}

/* --- the suppression list --- */

static void	cluster_merge(struct cluster *c, const char *cursor);

/* cluster_flush - the node's changes kept while Redis was down */
static void
cluster_flush(struct cluster *c)
{
	char set[CLUSTER_KEY_MAX];
	struct cluster_change *ch;

	cluster_key(c->prefix, "suppress", "", false, set, sizeof(set));
	set[strlen(set) - 1] = '\0';	/* PREFIX suppress, no colon */
	while ((ch = c->pending) != NULL && redis_up(c->cmd)) {
		const char *argv[4] = { set, ch->add ? "+" : "-", ch->key,
		    set };

		if (redis_eval(c->cmd, &cluster_scripts[CS_SUPPRESS],
		    cluster_ignore_cb, NULL, 1, 4, argv) == -1)
			break;
		c->pending = ch->next;
		c->npending--;
		free(ch);
	}
	if (c->pending == NULL)
		c->pending_tail = &c->pending;
}

static void
cluster_merge_cb(void *arg, const redisReply *rep)
{
	struct cluster *c = arg;
	const redisReply *members;

	c->merging = false;
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    (members = rep->element[1])->type != REDIS_REPLY_ARRAY) {
		c->merge_wanted = true;		/* next (re)connection */
		return;
	}
	for (size_t i = 0; i < members->elements; i++) {
		if (members->element[i]->type == REDIS_REPLY_STRING) {
			suppress_add_shared(members->element[i]->str);
		}
	}
	if (strcmp(rep->element[0]->str, "0") != 0)
		cluster_merge(c, rep->element[0]->str);
	else
		log_info("event=cluster.suppress.merged count=%zu",
		    suppress_count());
}

/* cluster_merge - one SSCAN page of the shared set into the list */
static void
cluster_merge(struct cluster *c, const char *cursor)
{
	char set[CLUSTER_KEY_MAX];
	const char *argv[5] = { "SSCAN", set, cursor, "COUNT", "1000" };

	cluster_key(c->prefix, "suppress", "", false, set, sizeof(set));
	set[strlen(set) - 1] = '\0';
	if (redis_command(c->cmd, cluster_merge_cb, c, 5, argv, NULL) == -1) {
		c->merge_wanted = true;
		return;
	}
	c->merging = true;
	c->merge_wanted = false;
}

/* the command connection changed state */
static void
cluster_cmd_state(void *arg, bool up)
{
	struct cluster *c = arg;

	if (!up || c->w == NULL)
		return;
	cluster_flush(c);
	if (c->merge_wanted && !c->merging)
		cluster_merge(c, "0");
	cluster_sites_up(c);
}

/* the subscriber changed state: once subscribed, merge what was missed */
static void
cluster_sub_state(void *arg, bool up)
{
	struct cluster *c = arg;

	if (!up)
		return;
	c->merge_wanted = true;
	if (redis_up(c->cmd) && !c->merging)
		cluster_merge(c, "0");
	cluster_sites_up(c);	/* what was missed meanwhile */
}

static void
cluster_sub_message(void *arg, const char *msg, size_t len)
{
	char addr[512];
	bool add;

	if (len > 0 && (msg[0] == 'S' || msg[0] == 'R')) {
		cluster_sites_message(arg, msg, len);
		return;
	}
	if (cluster_suppress_parse(msg, len, &add, addr, sizeof(addr)) == -1)
		return;
	if (add)
		suppress_add_shared(addr);
	else
		suppress_remove_shared(addr);
}

/* cluster_change_call - a change, on the owner's thread */
static void
cluster_change_call(struct worker *w, void *data)
{
	struct cluster_change *ch = data;
	struct cluster *c = cluster_suppress_owner;

	(void)w;
	if (c == NULL || c->npending >= CLUSTER_PENDING_MAX) {
		free(ch);
		return;
	}
	ch->next = NULL;
	*c->pending_tail = ch;
	c->pending_tail = &ch->next;
	c->npending++;
	cluster_flush(c);
}

/* cluster_suppress_hook - suppress.h's hook: any thread */
static void
cluster_suppress_hook(bool add, const char *key)
{
	struct cluster *c = cluster_suppress_owner;
	size_t len = strlen(key) + 1;
	struct cluster_change *ch;

	if (c == NULL || c->w == NULL)
		return;
	ch = xmalloc(sizeof(*ch) + len);
	ch->next = NULL;
	ch->add = add;
	memcpy(ch->key, key, len);
	worker_call(c->w, cluster_change_call, ch);
}

void
cluster_suppress_start(struct cluster *c, struct worker *w)
{
	char set[CLUSTER_KEY_MAX];

	if (c == NULL)
		return;
	c->w = w;
	cluster_key(c->prefix, "suppress", "", false, set, sizeof(set));
	set[strlen(set) - 1] = '\0';
	c->merge_wanted = true;
	cluster_suppress_owner = c;
	suppress_set_hook(cluster_suppress_hook);
	redis_on_state(c->cmd, cluster_cmd_state, c);
	redis_on_state(c->sub, cluster_sub_state, c);
	redis_subscribe(c->sub, set, cluster_sub_message, c);
	redis_start(c->sub);
}

struct cluster *
cluster_new(struct event_base *base, const struct conf *conf,
    const char *name, struct ssl_ctx_st *tls)
{
	struct cluster *c;
	struct redis_conf rc = { 0 };
	char subname[64], tls_name[256];

	if (conf->cluster.redis == NULL)
		return NULL;
	pthread_once(&cluster_scripts_once, cluster_scripts_init);
	c = xcalloc(1, sizeof(*c));
	c->prefix = xstrdup(conf->cluster.prefix ? conf->cluster.prefix :
	    "relais:");
	c->pending_tail = &c->pending;
	rc.addr = conf->cluster.redis;
	rc.password = conf->cluster.password;
	rc.timeout_ms = (conf->cluster.timeout ? conf->cluster.timeout : 2) *
	    1000;
	rc.name = name;
	rc.tls_ctx = tls;
	redis_tls_name(conf, tls_name, sizeof(tls_name));
	rc.tls_name = tls_name;
	c->cmd = redis_new(base, &rc);
	snprintf(subname, sizeof(subname), "%s-sub", name);
	rc.name = subname;
	c->sub = redis_new(base, &rc);	/* started by cluster_suppress_start */
	redis_start(c->cmd);
	return c;
}

bool
cluster_up(const struct cluster *c)
{
	return c != NULL && redis_up(c->cmd);
}

void
cluster_free(struct cluster *c)
{
	struct cluster_change *ch;

	if (c == NULL)
		return;
	if (cluster_suppress_owner == c) {
		suppress_set_hook(NULL);
		cluster_suppress_owner = NULL;
	}
	redis_free(c->sub);
	redis_free(c->cmd);
	cluster_sites_free(c);
	while ((ch = c->pending) != NULL) {
		c->pending = ch->next;
		free(ch);
	}
	free(c->prefix);
	free(c);
}
