/* SPDX-License-Identifier: ISC */
/*
 * id.h - queue ids and session ids.
 *
 * A queue id is 16 lower-case hex digits: microseconds since the epoch
 * (11 digits), the node's tag (2 digits: 8 bits of a hash of [server]
 * node, set once at start) and a 12-bit process-wide counter (3 digits),
 * so ids sort by arrival, stay unique across threads and restarts, and
 * two nodes of a cluster making ids in the same microsecond differ
 * unless their tags are equal (the node registration warns of that).
 */
#ifndef RELAIS_CORE_ID_H
#define RELAIS_CORE_ID_H

#include <stdbool.h>
#include <stdint.h>

#define ID_QID_LEN	16

/* id_qid_new - write a new queue id and its NUL into out[ID_QID_LEN + 1] */
void	id_qid_new(char out[ID_QID_LEN + 1]);
/* id_qid_valid - s looks like a queue id (safe to use in a file name) */
bool	id_qid_valid(const char *s);
/* id_node_tag - the 8-bit tag of a node name (FNV-1a, folded) */
unsigned id_node_tag(const char *node);
/* id_set_tag - the tag the queue ids of this process carry (0 until
   set); once at start, before any thread makes ids */
void	id_set_tag(unsigned tag);
/* id_tag - the tag in force */
unsigned id_tag(void);
/* id_qid_tag - the tag of a valid queue id */
unsigned id_qid_tag(const char *qid);
/* id_next - process-wide unique nonzero counter (sessions, requests) */
uint64_t id_next(void);

#endif
