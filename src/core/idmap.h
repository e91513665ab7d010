/* SPDX-License-Identifier: ISC */
/*
 * idmap.h - open-addressing hash map from nonzero 64-bit ids to pointers.
 *
 * Asynchronous answers (spool commits, deliveries) carry an id, never a
 * raw pointer; the receiver looks the id up here and drops the answer if
 * its owner is gone. Not thread-safe: one map per thread.
 */
#ifndef RELAIS_CORE_IDMAP_H
#define RELAIS_CORE_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_slot {
	uint64_t	 id;		/* 0 = empty, UINT64_MAX = deleted */
	void		*val;
};

struct idmap {
	struct idmap_slot	*slots;
	size_t			 cap;	/* power of two */
	size_t			 len;	/* live entries */
	size_t			 used;	/* live + deleted */
};

void	idmap_init(struct idmap *m);
void	idmap_fini(struct idmap *m);
/* idmap_put - insert or replace; id must be nonzero and not UINT64_MAX */
void	idmap_put(struct idmap *m, uint64_t id, void *val);
void	*idmap_get(const struct idmap *m, uint64_t id);
/* idmap_del - remove id; returns its value or NULL */
void	*idmap_del(struct idmap *m, uint64_t id);
/* idmap_each - call fn for every entry; fn must not modify the map */
void	idmap_each(const struct idmap *m, void (*fn)(uint64_t, void *, void *),
	    void *arg);

#endif
