/* SPDX-License-Identifier: ISC */
/*
 * deliver_lmtp.h - local delivery through an LMTP server (RFC 2033), the
 * [local] transport = lmtp: Dovecot's LMTP service, or any other.
 *
 * A client belongs to one delivery pool thread: it keeps its connection
 * open between jobs (RSET before the next transaction) and closes it
 * when it has been idle for LMTP_IDLE_MS, on an error, or when the
 * configured server changes. Its I/O blocks, bounded by timeouts: it
 * runs on pool threads only, never on an event loop.
 *
 * One transaction per job: LHLO once per connection, MAIL FROM (SIZE,
 * BODY=8BITMIME, SMTPUTF8 when offered), RCPT TO per recipient, DATA,
 * then one reply per accepted recipient (RFC 2033 4.2), each mapped to
 * that recipient's outcome: 2xx delivered, 4xx deferred, 5xx bounced.
 * A recipient the exchange ends without a reply for (connection lost,
 * timeout, a reply that does not parse) is deferred.
 */
#ifndef RELAIS_DELIVER_LMTP_H
#define RELAIS_DELIVER_LMTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deliver/deliver.h"
#include "smtp/smtp_reply.h"

#define LMTP_IDLE_MS	5000	/* an unused connection is closed after */

struct conf;
struct lmtp_client;

/* lmtp_client_new - a client with no connection yet; once *stop (may be
   NULL) is set, every wait ends within a few seconds, so that a server
   that does not answer cannot hold relais's stop */
struct lmtp_client *lmtp_client_new(const atomic_bool *stop);
/* lmtp_client_free - QUIT and close a connection it holds; NULL is fine */
void	lmtp_client_free(struct lmtp_client *c);

/*
 * lmtp_deliver - deliver job through the server conf names
 * ([local] lmtp); res[0..job->nrcpts) were set up by deliver_result_init
 * and get each recipient's outcome.
 */
void	lmtp_deliver(struct lmtp_client *c, const struct conf *conf,
	    const struct deliver_job *job, struct spool_result *res);

/* lmtp_client_idle_ms - milliseconds until the open connection has been
   idle too long (0: it has), or -1 when there is no connection */
int64_t	lmtp_client_idle_ms(const struct lmtp_client *c);
/* lmtp_client_close - QUIT (briefly waiting for its reply) and close */
void	lmtp_client_close(struct lmtp_client *c);

/* --- pure parts, for the tests ------------------------------------------ */

enum lmtp_ext {
	LMTP_EXT_PIPELINING = 1 << 0,
	LMTP_EXT_SIZE = 1 << 1,
	LMTP_EXT_8BITMIME = 1 << 2,
	LMTP_EXT_SMTPUTF8 = 1 << 3,
};

/* lmtp_parse_ext - the LMTP_EXT_* a LHLO reply offers; *size the SIZE
   limit (0: none given) */
unsigned lmtp_parse_ext(const struct smtp_reply *lhlo, uint64_t *size);

/* lmtp_mail_params - the MAIL FROM parameters for job to a server
   offering ext (" SIZE=n BODY=8BITMIME SMTPUTF8", or "") */
void	lmtp_mail_params(const struct deliver_job *job, unsigned ext,
	    char *out, size_t outlen);

/* lmtp_write_fn - where lmtp_stuff writes; 0 or -1 to stop */
typedef int lmtp_write_fn(void *arg, const char *p, size_t n);

/*
 * lmtp_stuff - the message text (CRLF lines) as DATA sends it: a dot
 * doubled at the start of each line, a CRLF added when the text does not
 * end with one, then ".\r\n". Returns 0, or -1 when w did.
 */
int	lmtp_stuff(const char *data, size_t len, lmtp_write_fn *w, void *arg);

/* lmtp_result - res from a reply: 2xx delivered, 4xx deferred, 5xx
   bounced; status the enhanced code (or X.0.0 from the class), reply the
   first line ("250 2.0.0 <a@b> Saved"), relay as given */
void	lmtp_result(struct spool_result *res, const struct smtp_reply *rp,
	    const char *relay);

/* lmtp_has_8bit - an octet above 127 in s */
bool	lmtp_has_8bit(const char *s);

#endif
