/* SPDX-License-Identifier: ISC */
/*
 * redis.h - an asynchronous Redis client owned by one event base (a
 * libevent bufferevent, with TLS when asked, and hiredis's protocol
 * reader and writer): it connects, sends AUTH, reconnects with a
 * growing delay after a loss, answers every command within a timeout
 * (a reply later than that is dropped), and runs Lua scripts by EVALSHA,
 * falling back to EVAL when the server does not know the script yet. A
 * client may instead be a subscriber: once connected it SUBSCRIBEs to
 * one channel and hands every message over. Not thread-safe: use it on
 * its event base's thread only.
 */
#ifndef RELAIS_NET_REDIS_H
#define RELAIS_NET_REDIS_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct ssl_ctx_st;
struct redisReply;
struct redis;

struct redis_conf {
	const char	*addr;		/* HOST:PORT or unix:/PATH */
	const char	*password;	/* AUTH, or NULL */
	unsigned	 timeout_ms;	/* per command, and to connect */
	const char	*name;		/* this client in the log lines */
	struct ssl_ctx_st *tls_ctx;	/* TLS (the client takes a
					   reference), or NULL */
	const char	*tls_name;	/* the server's name with TLS */
};

/*
 * The answer to one command: reply is NULL when Redis could not answer
 * (down, connection lost, timed out, client freed); an error reply comes
 * as it is (type REDIS_REPLY_ERROR). Called exactly once.
 */
typedef void redis_reply_fn(void *arg, const struct redisReply *reply);
/* the client became usable (up) or not */
typedef void redis_state_fn(void *arg, bool up);
/* a message published on the subscribed channel */
typedef void redis_message_fn(void *arg, const char *msg, size_t len);

/* a Lua script: its text and its SHA-1 (hex), for EVALSHA */
struct redis_script {
	const char	*body;
	char		 sha[41];
};

/* redis_script_init - compute s's SHA-1 from body */
void	redis_script_init(struct redis_script *s, const char *body);

/* redis_addr_parse - HOST:PORT ("[v6]:PORT") or unix:/PATH: 0, or -1 */
int	redis_addr_parse(const char *addr, char *host, size_t hostlen,
	    int *port, bool *unix_path);

/* redis_new - a client on base; it connects at redis_start */
struct redis *redis_new(struct event_base *base, const struct redis_conf *c);
/* redis_on_state - tell fn(arg, up) of every change of state */
void	redis_on_state(struct redis *r, redis_state_fn *fn, void *arg);
/* redis_subscribe - make r a subscriber to channel (before redis_start) */
void	redis_subscribe(struct redis *r, const char *channel,
	    redis_message_fn *fn, void *arg);
void	redis_start(struct redis *r);
/* redis_free - close; pending commands are answered NULL (not from one
   of r's own callbacks) */
void	redis_free(struct redis *r);
bool	redis_up(const struct redis *r);

/*
 * redis_command - send argv[0..argc) (binary-safe with lens, or NUL-
 * terminated strings when lens is NULL): 0 and fn called later, or -1
 * when r is not up (fn not called).
 */
int	redis_command(struct redis *r, redis_reply_fn *fn, void *arg,
	    int argc, const char **argv, const size_t *lens);
/* redis_eval - run script s with keys then args (argc in all) */
int	redis_eval(struct redis *r, const struct redis_script *s,
	    redis_reply_fn *fn, void *arg, int nkeys, int argc,
	    const char **argv);

#endif
