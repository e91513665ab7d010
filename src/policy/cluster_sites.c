/* SPDX-License-Identifier: ISC */
/*
 * cluster_sites.c - site suspensions shared by the nodes of a cluster
 * (docs/cluster.md, "Shared state in Redis"): an operator's `relais queue
 * suspend` or `resume` on one node, and a suspension a [backoff] rule set
 * on one node, hold on every node.
 *
 * The suppression owner (worker 0's struct cluster) keeps a table of what
 * it knows of each suspended site. A change made on the node is
 * published when it differs from the table: the script stores it in the
 * hash PREFIX sites (field SITE, the message as value; an end deletes the
 * field) and PUBLISHes it on the suppression channel, as
 *
 *   S <TAB> UNTIL <TAB> 0|1 (manual) <TAB> SITE <TAB> REASON
 *   R <TAB> SITE                      (the operator resumed it)
 *
 * A message heard (or read from the hash at each (re)connection) is
 * applied through the node's callback when it says more than the table:
 * a suspension longer than the one known, the end of one known. The
 * node's agent then reports the state it took, which equals the table's
 * and is not published again. A suspension that ends by itself is not
 * published: every node ends it at the same time, and the reader deletes
 * it from the hash. A suspension the table holds as told that the hash
 * no longer has was resumed while this node did not listen: it is lifted
 * as if the resume had been heard. An entry counts as told once Redis
 * answered the script; until then it is sent again at each connection.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "net/redis.h"
#include "net/worker.h"
#include "policy/cluster.h"
#include "policy/cluster_int.h"

#define CLUSTER_SITES_MAX	1024	/* sites the table follows */
#define CLUSTER_MSG_MAX		(16 + 24 + CLUSTER_SITE_MAX + \
				 CLUSTER_REASON_MAX)

struct cluster_site {
	char		 site[CLUSTER_SITE_MAX];
	int64_t		 until;		/* 0: not suspended */
	bool		 manual;
	char		 reason[CLUSTER_REASON_MAX];
	bool		 published;	/* false: to send once Redis is up */
	bool		 resumed_there;	/* the resume came from another
					   node: not told back */
	uint64_t	 seq;		/* the table's seq at the last change */
};

struct cluster_sites {
	struct cluster_site	*v;
	size_t			 n;
	cluster_site_fn		*fn;
	void			*arg;
	bool			 reading;	/* HGETALL on its way */
	bool			 read_again;	/* asked for meanwhile */
	uint64_t		 seq;		/* counts the changes */
	uint64_t		 read_seq;	/* seq when HGETALL was sent */
};

/* a publication on its way: the entry is told once Redis answered */
struct cluster_site_pub {
	struct cluster		*c;
	char			 site[CLUSTER_SITE_MAX];
	int64_t			 until;
};

/* a change made on this node, on its way to the owner's thread */
struct cluster_site_change {
	char		 site[CLUSTER_SITE_MAX];
	int64_t		 until;
	bool		 manual;
	char		 reason[CLUSTER_REASON_MAX];
	bool		 known_only;	/* reapplied at start: not told */
};

/* KEYS hash; ARGV S|R, site, message, channel */
static const char cluster_lua_site[] =
    "if ARGV[1] == 'S' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])\n"
    "else redis.call('HDEL', KEYS[1], ARGV[2]) end\n"
    "redis.call('PUBLISH', ARGV[4], ARGV[3])\n"
    "return 0\n";

static struct redis_script cluster_site_script;
static pthread_once_t cluster_site_once = PTHREAD_ONCE_INIT;
static struct cluster *_Atomic cluster_sites_owner;

static void
cluster_site_script_init(void)
{
	redis_script_init(&cluster_site_script, cluster_lua_site);
}

/* cluster_site_field_ok - a site name or a reason fits a message field:
   printable, no TAB (a reason may hold spaces, a site may not) */
static bool
cluster_site_field_ok(const char *p, size_t len, bool spaces)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 0x20 || ch == 0x7f || (!spaces && ch == ' '))
			return false;
	}
	return true;
}

int
cluster_site_format(char *out, size_t n, const char *site, int64_t until,
    bool manual, const char *reason)
{
	char clean[CLUSTER_REASON_MAX];
	int k;

	if (site[0] == '\0' || strlen(site) >= CLUSTER_SITE_MAX ||
	    !cluster_site_field_ok(site, strlen(site), false))
		return -1;
	if (until <= 0)
		k = snprintf(out, n, "R\t%s", site);
	else {
		/* a reply's text may hold a TAB or a line break: spaces */
		snprintf(clean, sizeof(clean), "%s", reason ? reason : "");
		for (char *p = clean; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		k = snprintf(out, n, "S\t%lld\t%d\t%s\t%s", (long long)until,
		    manual ? 1 : 0, site, clean);
	}
	return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* cluster_site_take - the next TAB-ended field of [*p, end) */
static bool
cluster_site_take(const char **p, const char *end, const char **f,
    size_t *flen, bool last)
{
	const char *tab = last ? NULL : memchr(*p, '\t', (size_t)(end - *p));

	if (!last && tab == NULL)
		return false;
	*f = *p;
	*flen = (size_t)((last ? end : tab) - *p);
	*p = last ? end : tab + 1;
	return true;
}

int
cluster_site_parse(const char *msg, size_t len, struct cluster_site_msg *m)
{
	const char *p = msg + 2, *end = msg + len, *f;
	size_t flen;
	char num[24], *e;

	memset(m, 0, sizeof(*m));
	if (len < 3 || msg[1] != '\t' || memchr(msg, '\0', len) != NULL)
		return -1;
	if (msg[0] == 'R') {
		if (!cluster_site_take(&p, end, &f, &flen, true))
			return -1;
	} else if (msg[0] == 'S') {
		if (!cluster_site_take(&p, end, &f, &flen, false) ||
		    flen == 0 || flen >= sizeof(num))
			return -1;
		memcpy(num, f, flen);
		num[flen] = '\0';
		errno = 0;
		m->until = strtoll(num, &e, 10);
		if (errno != 0 || *e != '\0' || m->until <= 0)
			return -1;
		if (!cluster_site_take(&p, end, &f, &flen, false) ||
		    flen != 1 || (f[0] != '0' && f[0] != '1'))
			return -1;
		m->manual = f[0] == '1';
		if (!cluster_site_take(&p, end, &f, &flen, false))
			return -1;
	} else
		return -1;
	if (flen == 0 || flen >= sizeof(m->site) ||
	    !cluster_site_field_ok(f, flen, false))
		return -1;
	memcpy(m->site, f, flen);
	m->site[flen] = '\0';
	if (msg[0] == 'S') {
		cluster_site_take(&p, end, &f, &flen, true);
		if (flen >= sizeof(m->reason) ||
		    !cluster_site_field_ok(f, flen, true))
			return -1;
		memcpy(m->reason, f, flen);
		m->reason[flen] = '\0';
	}
	return 0;
}

/* cluster_site_find - the table's entry for site; a new one when add
   (NULL when the table is full of suspensions in force) */
static struct cluster_site *
cluster_site_find(struct cluster_sites *t, const char *site, bool add)
{
	int64_t now = time(NULL);
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].site, site) == 0)
			return &t->v[i];
	if (!add)
		return NULL;
	if (t->n == CLUSTER_SITES_MAX) {
		/* make room: suspensions over and already told */
		size_t k = 0;

		for (i = 0; i < t->n; i++)
			if (!t->v[i].published || t->v[i].until > now)
				t->v[k++] = t->v[i];
		t->n = k;
		if (t->n == CLUSTER_SITES_MAX)
			return NULL;
	}
	memset(&t->v[t->n], 0, sizeof(t->v[t->n]));
	snprintf(t->v[t->n].site, sizeof(t->v[t->n].site), "%s", site);
	return &t->v[t->n++];
}

static void
cluster_site_pub_cb(void *arg, const redisReply *rep)
{
	struct cluster_site_pub *pub = arg;
	struct cluster_site *e;

	if (rep != NULL && rep->type != REDIS_REPLY_ERROR &&
	    pub->c->sites != NULL && (e = cluster_site_find(pub->c->sites,
	    pub->site, false)) != NULL && e->until == pub->until) {
		e->published = true;
		log_info("event=cluster.site.published site=%s until=%lld",
		    pub->site, (long long)pub->until);
	}
	/* else tried again at the next (re)connection */
	free(pub);
}

/* cluster_site_publish - e to Redis, if it is up (else at the next up);
   e is told once Redis answered */
static void
cluster_site_publish(struct cluster *c, struct cluster_site *e)
{
	char hash[CLUSTER_KEY_MAX], chan[CLUSTER_KEY_MAX];
	char msg[CLUSTER_MSG_MAX];
	const char *argv[5] = { hash, e->until > 0 ? "S" : "R", e->site, msg,
	    chan };
	struct cluster_site_pub *pub;

	if (!redis_up(c->cmd))
		return;
	if (cluster_site_format(msg, sizeof(msg), e->site, e->until,
	    e->manual, e->reason) == -1) {
		e->published = true;	/* nothing another node could read */
		return;
	}
	cluster_key(c->prefix, "sites", "", false, hash, sizeof(hash));
	hash[strlen(hash) - 1] = '\0';	/* PREFIX sites, no colon */
	cluster_key(c->prefix, "suppress", "", false, chan, sizeof(chan));
	chan[strlen(chan) - 1] = '\0';
	pub = xcalloc(1, sizeof(*pub));
	pub->c = c;
	snprintf(pub->site, sizeof(pub->site), "%s", e->site);
	pub->until = e->until;
	if (redis_eval(c->cmd, &cluster_site_script, cluster_site_pub_cb, pub,
	    1, 5, argv) == -1)
		free(pub);
}

/* cluster_site_apply - a message from another node (or from the hash)
   applied where it says more than the table */
static void
cluster_site_apply(struct cluster *c, const struct cluster_site_msg *m)
{
	struct cluster_sites *t = c->sites;
	struct cluster_site *e = cluster_site_find(t, m->site, m->until > 0);

	if (m->until > 0) {
		if (m->until <= time(NULL) || e == NULL || e->until >= m->until)
			return;		/* over, or no longer than known */
		e->until = m->until;
		e->resumed_there = false;
		e->manual = m->manual;
		snprintf(e->reason, sizeof(e->reason), "%s", m->reason);
	} else {
		if (e == NULL || e->until == 0)
			return;		/* not suspended here */
		e->until = 0;
		e->resumed_there = true;
	}
	e->published = true;		/* it came from there */
	e->seq = ++t->seq;
	log_info("event=cluster.site.applied site=%s until=%lld",
	    m->site, (long long)m->until);
	t->fn(t->arg, m->site, m->until, m->manual, m->reason);
}

void
cluster_sites_message(struct cluster *c, const char *msg, size_t len)
{
	struct cluster_site_msg m;

	if (c->sites == NULL)
		return;
	if (cluster_site_parse(msg, len, &m) == -1) {
		log_warnx("event=cluster.site.bad_message len=%zu", len);
		return;
	}
	cluster_site_apply(c, &m);
}

/* cluster_sites_in - is site a field of the HGETALL answer rep */
static bool
cluster_sites_in(const redisReply *rep, const char *site)
{
	for (size_t i = 0; i + 1 < rep->elements; i += 2)
		if (rep->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(rep->element[i]->str, site) == 0)
			return true;
	return false;
}

/*
 * cluster_sites_read_cb - the suspensions in force: each applied as if
 * heard; one over is deleted from the hash; one the table holds as told
 * (and not changed since the read was sent) that the hash lacks was
 * resumed by another node while this one did not listen
 */
static void
cluster_sites_read_cb(void *arg, const redisReply *rep)
{
	struct cluster *c = arg;
	struct cluster_sites *t = c->sites;
	struct cluster_site_msg m;
	struct cluster_site_msg gone;
	char hash[CLUSTER_KEY_MAX];
	int64_t now = time(NULL);

	if (t == NULL)
		return;
	t->reading = false;
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY)
		return;
	cluster_key(c->prefix, "sites", "", false, hash, sizeof(hash));
	hash[strlen(hash) - 1] = '\0';
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		const redisReply *k = rep->element[i], *v = rep->element[i + 1];

		if (v->type != REDIS_REPLY_STRING ||
		    cluster_site_parse(v->str, v->len, &m) == -1)
			continue;
		if (m.until <= now && k->type == REDIS_REPLY_STRING) {
			const char *argv[3] = { "HDEL", hash, k->str };

			(void)redis_command(c->cmd, cluster_ignore_cb, NULL, 3,
			    argv, NULL);
			continue;
		}
		cluster_site_apply(c, &m);
	}
	for (size_t i = 0; i < t->n; i++) {
		struct cluster_site *e = &t->v[i];

		if (e->until <= now || !e->published || e->seq > t->read_seq ||
		    cluster_sites_in(rep, e->site))
			continue;
		memset(&gone, 0, sizeof(gone));
		snprintf(gone.site, sizeof(gone.site), "%s", e->site);
		cluster_site_apply(c, &gone);	/* a resume */
	}
	if (t->read_again) {
		t->read_again = false;
		cluster_sites_up(c);
	}
}

void
cluster_sites_up(struct cluster *c)
{
	struct cluster_sites *t = c->sites;
	char hash[CLUSTER_KEY_MAX];
	const char *argv[2] = { "HGETALL", hash };

	if (t == NULL || !redis_up(c->cmd))
		return;
	for (size_t i = 0; i < t->n; i++)
		if (!t->v[i].published)
			cluster_site_publish(c, &t->v[i]);
	if (t->reading) {
		t->read_again = true;	/* what came since that read */
		return;
	}
	cluster_key(c->prefix, "sites", "", false, hash, sizeof(hash));
	hash[strlen(hash) - 1] = '\0';
	if (redis_command(c->cmd, cluster_sites_read_cb, c, 2, argv,
	    NULL) == 0) {
		t->reading = true;
		t->read_seq = t->seq;
	}
}

/* cluster_site_call - a change made on this node, on the owner's thread */
static void
cluster_site_call(struct worker *w, void *data)
{
	struct cluster_site_change *ch = data;
	struct cluster *c = cluster_sites_owner;
	struct cluster_site *e;

	(void)w;
	if (c == NULL || c->sites == NULL) {
		free(ch);
		return;
	}
	e = cluster_site_find(c->sites, ch->site, true);
	if (e == NULL) {
		log_warnx("event=cluster.site.table_full site=%s", ch->site);
	} else if (ch->known_only) {
		/* in force since before the start: told back then; the
		   cluster may have resumed it since: read again */
		e->until = ch->until;
		e->manual = ch->manual;
		snprintf(e->reason, sizeof(e->reason), "%s", ch->reason);
		e->published = true;
		e->resumed_there = false;
		e->seq = ++c->sites->seq;
		cluster_sites_up(c);
	} else if (ch->until <= 0 && e->resumed_there) {
		e->resumed_there = false;	/* the node applied it */
	} else if (ch->until <= 0 || e->until != ch->until) {
		/* an end is always told: the operator's resume */
		e->until = ch->until > 0 ? ch->until : 0;
		e->manual = ch->manual;
		snprintf(e->reason, sizeof(e->reason), "%s", ch->reason);
		e->published = false;
		e->resumed_there = false;
		e->seq = ++c->sites->seq;
		cluster_site_publish(c, e);
	} else
		e->resumed_there = false;
	free(ch);
}

/* cluster_site_post - a change for the owner's thread */
static void
cluster_site_post(const char *site, int64_t until, bool manual,
    const char *reason, bool known_only)
{
	struct cluster *c = cluster_sites_owner;
	struct cluster_site_change *ch;

	if (c == NULL || c->w == NULL)
		return;
	ch = xcalloc(1, sizeof(*ch));
	ch->known_only = known_only;
	snprintf(ch->site, sizeof(ch->site), "%s", site);
	ch->until = until;
	ch->manual = manual;
	snprintf(ch->reason, sizeof(ch->reason), "%s", reason ? reason : "");
	worker_call(c->w, cluster_site_call, ch);
}

void
cluster_site_changed(const char *site, int64_t until, bool manual,
    const char *reason)
{
	cluster_site_post(site, until, manual, reason, false);
}

void
cluster_site_known(const char *site, int64_t until, bool manual,
    const char *reason)
{
	if (until > 0)
		cluster_site_post(site, until, manual, reason, true);
}

void
cluster_sites_start(struct cluster *c, cluster_site_fn *fn, void *arg)
{
	if (c == NULL)
		return;
	pthread_once(&cluster_site_once, cluster_site_script_init);
	c->sites = xcalloc(1, sizeof(*c->sites));
	c->sites->v = xcalloc(CLUSTER_SITES_MAX, sizeof(*c->sites->v));
	c->sites->fn = fn;
	c->sites->arg = arg;
	cluster_sites_owner = c;
}

void
cluster_sites_free(struct cluster *c)
{
	if (c->sites == NULL)
		return;
	if (cluster_sites_owner == c)
		cluster_sites_owner = NULL;
	free(c->sites->v);
	free(c->sites);
	c->sites = NULL;
}
