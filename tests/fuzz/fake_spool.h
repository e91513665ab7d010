/* SPDX-License-Identifier: ISC */
/*
 * fake_spool.h - what the session fuzzer puts in place of the work an SMTP
 * session hands to other threads: the spool (commits) and the password
 * check pool. See fake_spool.c.
 */
#ifndef RELAIS_FUZZ_FAKE_SPOOL_H
#define RELAIS_FUZZ_FAKE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

/* fake_spool_setup - body files go under dir (copied) */
void	fake_spool_setup(const char *dir);
/* fake_spool_mode - fail: every commit fails (the session must answer
   4xx, never 250); hold: answers wait for fake_spool_release */
void	fake_spool_mode(bool fail, bool hold);
/* fake_spool_release - post the held answers to their worker; returns
   how many */
size_t	fake_spool_release(void);
/* fake_spool_submitted - messages submitted since the last mode call */
size_t	fake_spool_submitted(void);

/* the password the fake check accepts for any user of the users file;
   FAKE_PASSWD_BUSY gets "busy" (454) */
#define FAKE_PASSWD_OK		"secret"
#define FAKE_PASSWD_BUSY	"busy"

#endif
