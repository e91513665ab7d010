/* SPDX-License-Identifier: ISC */
/*
 * redis_sync.h - a blocking Redis connection for the few callers that
 * ask one thing and wait (the node registry, `relais queue list
 * --cluster`): it connects within [cluster] timeout, over TLS when
 * [cluster] tls says so, sends AUTH, and then runs one command at a time
 * with hiredis's formatter and reply reader.
 */
#ifndef RELAIS_NET_REDIS_SYNC_H
#define RELAIS_NET_REDIS_SYNC_H

struct conf;
struct err;
struct redisReply;
struct redis_sync;

/* redis_sync_open - connected to conf's [cluster] redis, or NULL + err */
struct redis_sync *redis_sync_open(const struct conf *conf, struct err *err);
void	redis_sync_close(struct redis_sync *s);

/*
 * redis_sync_command - hiredis's printf-like command format (%s, %b,
 * %d ...): the reply (the caller frees it with freeReplyObject, and an
 * error reply comes as it is), or NULL with err when the connection
 * failed or timed out (the connection is then unusable).
 */
struct redisReply *redis_sync_command(struct redis_sync *s, struct err *err,
	    const char *fmt, ...);

#endif
