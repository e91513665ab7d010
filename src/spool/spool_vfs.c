/* SPDX-License-Identifier: ISC */
/*
 * spool_vfs.c - the "relais-fault" SQLite VFS: the default (unix) VFS
 * with every file wrapped, so that fault_check(FAULT_OP_SQLITE) can fail
 * a read (SQLITE_IOERR_READ), a write (SQLITE_FULL for ENOSPC and
 * EDQUOT, else SQLITE_IOERR_WRITE), a sync (SQLITE_IOERR_FSYNC) or a
 * truncate (SQLITE_IOERR_TRUNCATE), as a failing disk would.
 *
 * Registered only when a fault plan is active (spool_vfs_register), so a
 * normal run opens the unix VFS directly. The shim's sqlite3_vfs is a
 * copy of the real one (same pAppData, which the unix VFS reads back in
 * xOpen) with its own name, file size and xOpen; every other method is
 * the real one. Each file is our struct followed by the real file, and
 * its method table (also ours, in the struct) forwards to the real file's.
 * The fault op of a call is its kind (sqlite_read ...), which counts for
 * "sqlite" as well.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <sqlite3.h>

#include "core/fault.h"
#include "spool/spool_vfs.h"

struct spool_vfs_file {
	sqlite3_file		 base;		/* must be first */
	sqlite3_io_methods	 methods;	/* ours, at the real version */
	sqlite3_file		*real;		/* right after this struct */
};

static sqlite3_vfs	*spool_vfs_real;
static sqlite3_vfs	 spool_vfs;

#define SPOOL_VFS_REAL(f)	(((struct spool_vfs_file *)(f))->real)

/* spool_vfs_fault - count one I/O call; the SQLite error to fail it with */
static int
spool_vfs_fault(enum fault_op op, int ioerr)
{
	int e = fault_check(op);

	if (e == 0)
		return SQLITE_OK;
	if (ioerr == SQLITE_IOERR_WRITE && (e == ENOSPC || e == EDQUOT))
		return SQLITE_FULL;
	return ioerr;
}

static int
spool_vfs_close(sqlite3_file *f)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xClose(r);
}

static int
spool_vfs_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);
	int rc;

	if ((rc = spool_vfs_fault(FAULT_OP_SQLITE_READ,
	    SQLITE_IOERR_READ)) != SQLITE_OK)
		return rc;
	return r->pMethods->xRead(r, p, n, off);
}

static int
spool_vfs_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);
	int rc;

	if ((rc = spool_vfs_fault(FAULT_OP_SQLITE_WRITE,
	    SQLITE_IOERR_WRITE)) != SQLITE_OK)
		return rc;
	return r->pMethods->xWrite(r, p, n, off);
}

static int
spool_vfs_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);
	int rc;

	if ((rc = spool_vfs_fault(FAULT_OP_SQLITE_TRUNCATE,
	    SQLITE_IOERR_TRUNCATE)) != SQLITE_OK)
		return rc;
	return r->pMethods->xTruncate(r, size);
}

static int
spool_vfs_sync(sqlite3_file *f, int flags)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);
	int rc;

	if ((rc = spool_vfs_fault(FAULT_OP_SQLITE_SYNC,
	    SQLITE_IOERR_FSYNC)) != SQLITE_OK)
		return rc;
	return r->pMethods->xSync(r, flags);
}

static int
spool_vfs_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xFileSize(r, size);
}

static int
spool_vfs_lock(sqlite3_file *f, int lock)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xLock(r, lock);
}

static int
spool_vfs_unlock(sqlite3_file *f, int lock)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xUnlock(r, lock);
}

static int
spool_vfs_check_reserved(sqlite3_file *f, int *out)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xCheckReservedLock(r, out);
}

static int
spool_vfs_file_control(sqlite3_file *f, int op, void *arg)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xFileControl(r, op, arg);
}

static int
spool_vfs_sector_size(sqlite3_file *f)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xSectorSize(r);
}

static int
spool_vfs_device_chars(sqlite3_file *f)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xDeviceCharacteristics(r);
}

static int
spool_vfs_shm_map(sqlite3_file *f, int pg, int pgsz, int extend,
    void volatile **p)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xShmMap(r, pg, pgsz, extend, p);
}

static int
spool_vfs_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xShmLock(r, off, n, flags);
}

static void
spool_vfs_shm_barrier(sqlite3_file *f)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	r->pMethods->xShmBarrier(r);
}

static int
spool_vfs_shm_unmap(sqlite3_file *f, int del)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xShmUnmap(r, del);
}

static int
spool_vfs_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xFetch(r, off, n, pp);
}

static int
spool_vfs_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	sqlite3_file *r = SPOOL_VFS_REAL(f);

	return r->pMethods->xUnfetch(r, off, p);
}

static const sqlite3_io_methods spool_vfs_methods = {
	.iVersion = 3,
	.xClose = spool_vfs_close,
	.xRead = spool_vfs_read,
	.xWrite = spool_vfs_write,
	.xTruncate = spool_vfs_truncate,
	.xSync = spool_vfs_sync,
	.xFileSize = spool_vfs_file_size,
	.xLock = spool_vfs_lock,
	.xUnlock = spool_vfs_unlock,
	.xCheckReservedLock = spool_vfs_check_reserved,
	.xFileControl = spool_vfs_file_control,
	.xSectorSize = spool_vfs_sector_size,
	.xDeviceCharacteristics = spool_vfs_device_chars,
	.xShmMap = spool_vfs_shm_map,
	.xShmLock = spool_vfs_shm_lock,
	.xShmBarrier = spool_vfs_shm_barrier,
	.xShmUnmap = spool_vfs_shm_unmap,
	.xFetch = spool_vfs_fetch,
	.xUnfetch = spool_vfs_unfetch,
};

/* spool_vfs_open - open the real file behind ours; our methods, at the
   real file's version, only if the real open left it with methods (the
   rule SQLite follows to decide whether to call xClose) */
static int
spool_vfs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f,
    int flags, int *flags_out)
{
	struct spool_vfs_file *sf = (struct spool_vfs_file *)f;
	int rc;

	sf->real = (sqlite3_file *)(sf + 1);
	memset(sf->real, 0, (size_t)spool_vfs_real->szOsFile);
	rc = spool_vfs_real->xOpen(spool_vfs_real, name, sf->real, flags,
	    flags_out);
	if (sf->real->pMethods == NULL) {
		sf->base.pMethods = NULL;
		return rc;
	}
	sf->methods = spool_vfs_methods;
	if (sf->real->pMethods->iVersion < sf->methods.iVersion)
		sf->methods.iVersion = sf->real->pMethods->iVersion;
	sf->base.pMethods = &sf->methods;
	return rc;
}

void
spool_vfs_register(void)
{
	static bool done;

	if (done || !fault_enabled())
		return;
	if ((spool_vfs_real = sqlite3_vfs_find(NULL)) == NULL)
		return;
	spool_vfs = *spool_vfs_real;
	spool_vfs.zName = "relais-fault";
	spool_vfs.pNext = NULL;
	spool_vfs.szOsFile = (int)sizeof(struct spool_vfs_file) +
	    spool_vfs_real->szOsFile;
	spool_vfs.xOpen = spool_vfs_open;
	if (sqlite3_vfs_register(&spool_vfs, 1) == SQLITE_OK)
		done = true;
}
