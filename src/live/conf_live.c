/* SPDX-License-Identifier: ISC */
/*
 * conf_live.c - the running configuration snapshot; see conf_live.h.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/passwd_file.h"
#include "live/conf_live.h"
#include "core/xalloc.h"
#include "conf/alias.h"
#include "msgauth/dkim.h"
#include "net/tls.h"

struct conf_snap *
conf_snap_load(struct conf *conf, struct err *err)
{
	struct conf_snap *snap = xcalloc(1, sizeof(*snap));

	atomic_init(&snap->refs, 1);
	snap->conf = conf;
	if (conf->local.users != NULL &&
	    passwd_file_load(conf->local.users, &snap->users, err) == -1)
		goto fail;
	if (conf->local.aliases != NULL &&
	    alias_load(conf->local.aliases, &snap->aliases, err) == -1)
		goto fail;
	if (tls_server_needed(conf) &&
	    tls_server_load(conf, &snap->tls, err) == -1)
		goto fail;
	if (conf->ndkim > 0 &&
	    (snap->signer = dkim_signer_new(conf, err)) == NULL)
		goto fail;
	return snap;
fail:
	snap->conf = NULL;	/* the caller still owns conf */
	conf_snap_unref(snap);
	return NULL;
}

void
conf_snap_unref(struct conf_snap *snap)
{
	if (snap == NULL || atomic_fetch_sub(&snap->refs, 1) != 1)
		return;
	if (snap->users)
		passwd_file_free(snap->users);
	if (snap->aliases)
		alias_free(snap->aliases);
	tls_server_free(snap->tls);
	if (snap->signer)
		dkim_signer_free(snap->signer);
	conf_unref(snap->conf);
	free(snap);
}

static struct conf_snap *
conf_live_load(const char *path, struct err *err)
{
	struct conf *conf;
	struct conf_snap *snap;

	if (conf_find(path, &conf, err) == -1)
		return NULL;
	if ((snap = conf_snap_load(conf, err)) == NULL)
		conf_unref(conf);
	return snap;
}

int
conf_live_init(struct conf_live *live, const char *path, struct err *err)
{
	pthread_mutex_init(&live->lock, NULL);
	live->path = path ? xstrdup(path) : NULL;
	live->cur = conf_live_load(path, err);
	if (live->cur == NULL) {
		free(live->path);
		pthread_mutex_destroy(&live->lock);
		return -1;
	}
	return 0;
}

void
conf_live_fini(struct conf_live *live)
{
	conf_snap_unref(live->cur);
	live->cur = NULL;
	free(live->path);
	pthread_mutex_destroy(&live->lock);
}

int
conf_live_reload(struct conf_live *live, struct err *err)
{
	struct conf_snap *snap, *old;

	if ((snap = conf_live_load(live->path, err)) == NULL)
		return -1;
	pthread_mutex_lock(&live->lock);
	old = live->cur;
	live->cur = snap;
	pthread_mutex_unlock(&live->lock);
	conf_snap_unref(old);
	return 0;
}

struct conf_snap *
conf_live_get(struct conf_live *live)
{
	struct conf_snap *snap;

	pthread_mutex_lock(&live->lock);
	snap = live->cur;
	atomic_fetch_add(&snap->refs, 1);
	pthread_mutex_unlock(&live->lock);
	return snap;
}
