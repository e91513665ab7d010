/* SPDX-License-Identifier: ISC */
/*
 * idmap.c - linear-probing id -> pointer map; see idmap.h.
 */
#include <stdlib.h>

#include "core/idmap.h"
#include "core/xalloc.h"

#define IDMAP_DELETED	UINT64_MAX

static size_t
idmap_hash(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t)id;
}

void
idmap_init(struct idmap *m)
{
	m->slots = NULL;
	m->cap = m->len = m->used = 0;
}

void
idmap_fini(struct idmap *m)
{
	free(m->slots);
	idmap_init(m);
}

static void
idmap_grow(struct idmap *m)
{
	struct idmap_slot *old = m->slots;
	size_t oldcap = m->cap;
	size_t cap = oldcap ? oldcap : 16;

	while (m->len * 2 >= cap)
		cap *= 2;
	m->slots = xcalloc(cap, sizeof(*m->slots));
	m->cap = cap;
	m->len = m->used = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].id != 0 && old[i].id != IDMAP_DELETED)
			idmap_put(m, old[i].id, old[i].val);
	free(old);
}

void
idmap_put(struct idmap *m, uint64_t id, void *val)
{
	size_t i, tomb = SIZE_MAX;

	if ((m->used + 1) * 4 >= m->cap * 3)
		idmap_grow(m);
	for (i = idmap_hash(id) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].id == id) {
			m->slots[i].val = val;
			return;
		}
		if (m->slots[i].id == IDMAP_DELETED && tomb == SIZE_MAX)
			tomb = i;
		if (m->slots[i].id == 0)
			break;
	}
	if (tomb != SIZE_MAX)
		i = tomb;
	else
		m->used++;
	m->slots[i].id = id;
	m->slots[i].val = val;
	m->len++;
}

static struct idmap_slot *
idmap_find(const struct idmap *m, uint64_t id)
{
	if (m->cap == 0)
		return NULL;
	for (size_t i = idmap_hash(id) & (m->cap - 1);;
	    i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].id == id)
			return &m->slots[i];
		if (m->slots[i].id == 0)
			return NULL;
	}
}

void *
idmap_get(const struct idmap *m, uint64_t id)
{
	struct idmap_slot *s = idmap_find(m, id);

	return s ? s->val : NULL;
}

void *
idmap_del(struct idmap *m, uint64_t id)
{
	struct idmap_slot *s = idmap_find(m, id);
	void *val;

	if (s == NULL)
		return NULL;
	val = s->val;
	s->id = IDMAP_DELETED;
	s->val = NULL;
	m->len--;
	return val;
}

void
idmap_each(const struct idmap *m, void (*fn)(uint64_t, void *, void *),
    void *arg)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].id != 0 && m->slots[i].id != IDMAP_DELETED)
			fn(m->slots[i].id, m->slots[i].val, arg);
}
