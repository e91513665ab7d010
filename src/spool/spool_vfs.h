/* SPDX-License-Identifier: ISC */
/*
 * spool_vfs.h - a SQLite VFS shim over the default VFS that passes every
 * read, write, sync and truncate of SQLite's files (database, WAL,
 * journal) through the fault plan of core/fault.h (op "sqlite").
 */
#ifndef RELAIS_SPOOL_VFS_H
#define RELAIS_SPOOL_VFS_H

/* spool_vfs_register - when a fault plan is active, make the shim the
   default VFS (once; every later connection of the process uses it);
   otherwise do nothing. Call before the first sqlite3_open_v2. */
void	spool_vfs_register(void);

#endif
