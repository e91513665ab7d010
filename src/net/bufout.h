/* SPDX-License-Identifier: ISC */
/*
 * bufout.h - writing a plain socket bufferevent's output ourselves.
 *
 * libevent's socket bufferevent arms its write event whenever output is
 * added and disarms it once the output has drained: an epoll_ctl pair
 * and a loop iteration for every reply. A connection that goes through
 * bufout keeps the write event off instead; its owner calls
 * bufout_flush when a turn of its protocol ends, which writes the output
 * with one writev and arms the write event only for what the kernel did
 * not take; bufout_drained, from the write callback, disarms it again.
 * Plain sockets only: a TLS bufferevent does its own writing.
 */
#ifndef RELAIS_NET_BUFOUT_H
#define RELAIS_NET_BUFOUT_H

#include <event2/bufferevent.h>

/* bufout_take - from now on the owner writes: the write event goes off
   (a new bufferevent starts with EV_WRITE enabled); not while connecting */
void	bufout_take(struct bufferevent *bev);
/* bufout_flush - write pending output now, unless the write event is
   already armed for it; arm it for what is left (or for an error, which
   libevent then reports through the event callback) */
void	bufout_flush(struct bufferevent *bev);
/* bufout_drained - in the write callback: the output has gone, the
   write event goes off */
void	bufout_drained(struct bufferevent *bev);

#endif
