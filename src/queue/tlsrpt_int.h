/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt_int.h - TLS-RPT internals, for src/queue/ alone: the thread's
 * state (tlsrpt_send.c) and the report of one domain sent out
 * (tlsrpt_out.c).
 */
#ifndef RELAIS_QUEUE_TLSRPT_INT_H
#define RELAIS_QUEUE_TLSRPT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "tlspol/tlsrpt.h"

struct conf_live;
struct conf_snap;
struct dns;
struct event;
struct event_base;
struct qmgr;
struct spool_reader;

struct tlsrpt_sender {
	char			*data_dir;
	struct conf_live	*live;
	struct qmgr		*q;
	struct tlsrpt		*counts;

	pthread_t		 thread;
	bool			 running;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	atomic_bool		 stopping;

	/* the thread's own */
	struct spool_reader	*rd;
	struct tlsrpt_count	*pending;	/* drained, not stored yet */
	size_t			 npending;
	char			 reported[11];	/* day of the last pass */
	int64_t			 next_pass;	/* unix time */
};

/* what a report pass has to work with */
struct tlsrpt_pass {
	struct conf_snap	*snap;
	struct event_base	*base;
	struct dns		*dns;
	struct event		*tick;
};

/* tlsrpt_pass_open - the configuration in force and a DNS resolver on an
   event_base of the calling thread's own; -1 logged (close it anyway) */
int	tlsrpt_pass_open(struct tlsrpt_pass *p, struct conf_live *live);
void	tlsrpt_pass_close(struct tlsrpt_pass *p);

/*
 * tlsrpt_domain - the report of domain's counts c[0..n) for the day
 * [start, end] to the rua of its _smtp._tls record: 1 when it went to
 * one rua at least, 0 when there is nobody to send it to (no record, an
 * invalid one, a domain name DNS cannot take), -1 when it should be
 * tried again; what happened goes onto out, for relais tls report
 */
int	tlsrpt_domain(struct tlsrpt_sender *s, struct tlsrpt_pass *p,
	    const char *domain, const struct tlsrpt_count *c, size_t n,
	    int64_t start, int64_t end, struct buf *out);

#endif
