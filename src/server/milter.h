/* SPDX-License-Identifier: ISC */
/*
 * milter.h - the milters of one inbound session: the MTA side of the
 * Sendmail milter protocol (smtp/milter_proto.h) on the session's event
 * loop. Each milter has its own connection (TCP or UNIX socket, never
 * blocking); every event goes to the milters in their configured order,
 * and the first one that rejects, tempfails, discards or shuts down
 * decides. A milter that cannot be reached, times out or breaks the
 * protocol counts as [milter] default_action says.
 *
 * Every call is answered through its done function on a later turn of
 * the loop, never from inside the call. milter_chain_free cancels what
 * runs: no answer comes after it.
 */
#ifndef RELAIS_SERVER_MILTER_H
#define RELAIS_SERVER_MILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "smtp/milter_hdr.h"
#include "spool/spool_body.h"

struct event_base;
struct milter_chain;

enum milter_verdict_kind {
	MILTER_V_CONTINUE,	/* go on (accept, continue) */
	MILTER_V_REJECT,	/* reply holds a 5XX reply */
	MILTER_V_TEMPFAIL,	/* reply holds a 4XX reply */
	MILTER_V_DISCARD,	/* accept the message and drop it */
	MILTER_V_SHUTDOWN,	/* reply holds a 421: close the session */
};

struct milter_verdict {
	enum milter_verdict_kind kind;
	char		 reply[1024];	/* lines joined by CRLF, no final */
	char		 milter[64];	/* the milter that decided, or "" */
};

typedef void milter_done_fn(void *arg, const struct milter_verdict *v);

/* a macro's value for the session, or NULL when it has none; name is
   given without braces ("auth_type", "j") */
typedef const char *milter_macro_fn(void *arg, const char *name);

/*
 * The message as milters see it at its end, and what they change in it.
 * The session fills hdrs (its own fields as MILTER_HDR_PREFIX, then the
 * client's), body/body_off (where the text after the header section
 * starts) and the rest of the inputs; milter_eom edits hdrs in place
 * and fills the outputs.
 */
struct milter_msg {
	/* in */
	struct milter_hdrs	 hdrs;
	struct spool_body	*body;		/* the received text */
	uint64_t		 body_off;	/* the body part starts here */
	const char		*body_dir;	/* where a big new body goes */
	const char		*qid;		/* names its file QID.mN */
	uint64_t		 max_size;	/* a new body may not pass it */
	/* out */
	bool			 replaced;	/* repl is the new body part */
	struct spool_body	 repl;
	unsigned		 nrepl;		/* bodies made (file names) */
	char			**add_rcpts;	/* addresses as the milter
						   gave them */
	size_t			 nadd;
	char			**del_rcpts;
	size_t			 ndel;
	char			*new_from;	/* SMFIR_CHGFROM, or NULL */
	bool			 quarantine;	/* hold the message */
	char			 reason[256];	/* the milter's reason */
};

void	milter_msg_init(struct milter_msg *m);
/* milter_msg_fini - free everything; a replacement body not taken is
   discarded (its file removed) */
void	milter_msg_fini(struct milter_msg *m);

/* milter_chain_new - the session's chain over servers (conf keeps them
   alive); NULL when there are none. log_id names the session in logs. */
struct milter_chain *milter_chain_new(struct event_base *base,
	    const struct conf *conf, const char *const *servers, size_t n,
	    milter_macro_fn *macro, void *macro_arg, uint64_t log_id);
/* milter_chain_free - QUIT to every milter, close, cancel (NULL: none) */
void	milter_chain_free(struct milter_chain *c);

/* the events; each answers through done(arg, verdict) later */
void	milter_connect(struct milter_chain *c, const char *host, int family,
	    uint16_t port, const char *addr, milter_done_fn *done, void *arg);
void	milter_helo(struct milter_chain *c, const char *helo,
	    milter_done_fn *done, void *arg);
/* milter_mail / milter_rcpt - argv: "<address>", then ESMTP parameters */
void	milter_mail(struct milter_chain *c, const char *const *argv, size_t n,
	    milter_done_fn *done, void *arg);
void	milter_rcpt(struct milter_chain *c, const char *const *argv, size_t n,
	    milter_done_fn *done, void *arg);
void	milter_data(struct milter_chain *c, milter_done_fn *done, void *arg);
/* milter_eom - the header fields, end of header, the body in chunks and
   the end of the message; m must stay until done */
void	milter_eom(struct milter_chain *c, struct milter_msg *m,
	    milter_done_fn *done, void *arg);
/* milter_abort - the transaction is over before its end: SMFIC_ABORT to
   every milter in it (no answer is awaited) */
void	milter_abort(struct milter_chain *c);

#endif
