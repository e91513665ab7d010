/* SPDX-License-Identifier: ISC */
/*
 * id.h - queue ids and session ids.
 *
 * A queue id is 16 lower-case hex digits: microseconds since the epoch
 * (11 digits) and a 20-bit process-wide counter, so ids sort by arrival
 * and stay unique across threads and restarts.
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
/* id_next - process-wide unique nonzero counter (sessions, requests) */
uint64_t id_next(void);

#endif
