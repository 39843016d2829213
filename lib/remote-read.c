/*
 * remote-read.c: what a container knows of its remotes, for reading:
 * their names in config.json, the records of the packs they hold, and
 * the bytes of an evicted pack, fetched by ranged GET (pack.c reads a
 * pack that is not in packs/ through here).  Pushing, evicting and
 * cloning, above the pack writer, are remote.c's; the layout of both is
 * in its opening comment.
 *
 * A ranged GET costs milliseconds whatever its size, and the server
 * answers one at a time, so reads that know ahead what they will read
 * (the batch engine's rounds) hand their ranges to dos_remote_prefetch:
 * the ranges of one pack near each other are merged into one GET (the
 * bytes between them are dropped as they arrive), and a few threads,
 * each with a connection of its own, run the GETs, so that some are in
 * flight while the server answers another.  The bytes go to one buffer
 * of the ranges' size, where dos_remote_pread waits for just the bytes
 * it reads, so that the first objects are decoded while the rest
 * arrive; a GET that failed leaves its failure there, so that each read
 * of its ranges reports the real cause at once instead of asking again.
 *
 * With a cache (remote-cache.c; its bound is not 0), reads fetch whole
 * blocks of it, the cached ones from remote-cache/ and the rest with one
 * GET, which is kept there: a GET of a prefetch is widened to the blocks
 * it touches, and its bytes gathered into blocks as they arrive.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "dos.h"

/* Bytes of an evicted pack a sequential read fetches ahead. */
#define READ_WINDOW (4 << 20)
/*
 * Bytes between two ranges that one GET reads rather than two: about
 * what the server sends in the time it takes to answer a request.
 */
#define MERGE_GAP (1 << 20)
/* Bytes one GET spans at most, so that several share the work. */
#define GET_SPAN_MAX (16 << 20)

/* A range fetched ahead, sorted by pack and offset. */
struct dos_fetch_range {
	uint32_t pack;
	uint64_t off;
	size_t len;
	unsigned char *buf;	/* in the connection's arena */
	size_t get;		/* the GET that brings it */
};

/* One GET of a prefetch: ranges [first, first + nr) of a pack. */
struct dos_fetch_get {
	uint32_t pack;
	uint64_t off;
	size_t len, got;
	size_t first, nr;
	size_t arrived;		/* bytes from off in place */
	uint64_t pack_len;	/* the pack's, and its SHA-256: its blocks */
	char sha256[DOS_HEXSZ + 1];
	int done;		/* rc and got are final */
	int rc;
	char error[768];	/* dos_s3_last_error() of its thread */
};

struct dos_fetch_run;

/* One thread, with its connection. */
struct fetch_worker {
	struct dos_fetch_run *run;
	struct dos_s3 **s3;
};

/* What the fetching threads of a connection share. */
struct dos_fetch_run {
	struct dos_store *st;
	struct dos_remote_conn *c;
	int cached;		/* blocks go through the cache */
	pthread_mutex_t lock;
	pthread_cond_t done;	/* a GET is done */
	size_t next;		/* the first GET no thread took */
	int stop;		/* dropped: no more GETs */
	const struct dos_fetch_get *failed;	/* by the server, not a key */
	struct fetch_worker w[DOS_REMOTE_FETCHERS];
	pthread_t th[DOS_REMOTE_FETCHERS];
	size_t started;
};

int
dos_remote_name_ok(const char *name)
{
	size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

	return n > 0 && n < sizeof ((struct dos_remote *)0)->name &&
	    name[n] == '\0' && name[0] != '.';
}

int
dos_remote_parse_url(const char *url, struct dos_remote *r)
{
	const char *b, *slash;
	size_t blen, plen;

	if (strncmp(url, "s3://", 5) != 0 || strlen(url) >= sizeof r->url)
		return DOS_EINVAL;
	b = url + 5;
	slash = strchr(b, '/');
	blen = slash != NULL ? (size_t)(slash - b) : strlen(b);
	if (blen < 3 || blen >= sizeof r->bucket ||
	    strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") < blen)
		return DOS_EINVAL;
	memcpy(r->bucket, b, blen);
	r->bucket[blen] = '\0';
	r->prefix[0] = '\0';
	if (slash != NULL) {
		/* Keys are then safe in a URL as they are. */
		plen = strlen(slash + 1);
		if (strspn(slash + 1, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") < plen ||
		    strstr(slash + 1, "//") != NULL || slash[1] == '/')
			return DOS_EINVAL;
		memcpy(r->prefix, slash + 1, plen + 1);
		while (plen > 0 && r->prefix[plen - 1] == '/')
			r->prefix[--plen] = '\0';
	}
	snprintf(r->url, sizeof r->url, "s3://%s%s%s", r->bucket,
	    r->prefix[0] != '\0' ? "/" : "", r->prefix);
	return 0;
}

static void
copy_string(json_t *obj, const char *key, char *out, size_t size)
{
	const char *s = json_string_value(json_object_get(obj, key));

	snprintf(out, size, "%s", s != NULL ? s : "");
}

static int
remote_from_json(const char *name, json_t *obj, struct dos_remote *r)
{
	memset(r, 0, sizeof *r);
	if (!json_is_object(obj) || !dos_remote_name_ok(name) ||
	    dos_remote_parse_url(json_string_value(json_object_get(obj,
	    "url")) != NULL ? json_string_value(json_object_get(obj, "url")) :
	    "", r) < 0)
		return DOS_EBADCONFIG;
	snprintf(r->name, sizeof r->name, "%s", name);
	copy_string(obj, "endpoint", r->endpoint, sizeof r->endpoint);
	copy_string(obj, "region", r->region, sizeof r->region);
	r->allow_http = json_is_true(json_object_get(obj, "allow_http"));
	return 0;
}

/* config.json's remotes, a new reference, or NULL (and *rc) */
json_t *
dos_remotes_json(int dirfd, int *rc)
{
	json_t *root, *remotes;

	if ((*rc = dos_config_json(dirfd, &root)) < 0)
		return NULL;
	remotes = json_object_get(root, "remotes");
	if (remotes != NULL && !json_is_object(remotes)) {
		*rc = DOS_EBADCONFIG;
		remotes = NULL;
	} else {
		remotes = remotes != NULL ? json_deep_copy(remotes) :
		    json_object();
		*rc = remotes != NULL ? 0 : DOS_ENOMEM;
	}
	json_decref(root);
	return remotes;
}

int
dos_remote_each(struct dos_store *st, dos_remote_fn *fn, void *data)
{
	struct dos_remote r;
	const char *name;
	json_t *remotes, *v;
	int rc;

	if ((remotes = dos_remotes_json(st->dirfd, &rc)) == NULL)
		return rc;
	json_object_foreach(remotes, name, v) {
		if ((rc = remote_from_json(name, v, &r)) < 0 ||
		    (rc = fn(&r, data)) != 0)
			break;
	}
	json_decref(remotes);
	return rc < 0 ? rc : 0;
}

int
dos_remote_read_record(struct dos_store *st, const char *remote, uint32_t pack,
    struct dos_remote_record *rec)
{
	char name[128], buf[160];
	ssize_t n;
	int fd;

	snprintf(name, sizeof name, "remotes/%s/%u", remote, pack);
	if ((fd = dos_open_beneath(st->dirfd, name, O_RDONLY, 0)) < 0)
		return errno == ENOENT || errno == ENOTDIR ? DOS_ENOTFOUND :
		    DOS_EIO;
	n = dos_read_full(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return DOS_EIO;
	buf[n] = '\0';
	if (sscanf(buf, "%" SCNu64 " %64s %u", &rec->length, rec->sha256,
	    &rec->version) != 3 || strlen(rec->sha256) != DOS_HEXSZ)
		return DOS_ECORRUPT;
	return 0;
}

int
dos_remote_connect(const struct dos_remote *r, struct dos_s3 **s3)
{
	struct dos_s3_params p = { r->endpoint, r->region, r->bucket,
	    r->prefix, r->allow_http };

	return dos_s3_open(&p, s3);
}

static int
add_conn(const struct dos_remote *r, void *data)
{
	struct dos_store *st = data;
	struct dos_remote_conn *grown;

	grown = realloc(st->remote_conns, (st->remote_conns_nr + 1) *
	    sizeof *grown);
	if (grown == NULL)
		return DOS_ENOMEM;
	st->remote_conns = grown;
	memset(&grown[st->remote_conns_nr], 0, sizeof *grown);
	grown[st->remote_conns_nr].remote = *r;
	st->remote_conns_nr++;
	return 0;
}

/* st->remote_conns, from config.json on first use. */
static int
load_conns(struct dos_store *st)
{
	return st->remote_conns == NULL ? dos_remote_each(st, add_conn, st) : 0;
}

/* The remote whose record holds pack, with that record. */
static int
find_pack(struct dos_store *st, uint32_t pack, struct dos_remote_conn **c,
    struct dos_remote_record *rec)
{
	struct dos_remote_conn *cc;
	size_t i;
	int rc;

	if ((rc = load_conns(st)) < 0)
		return rc;
	for (i = 0; i < st->remote_conns_nr; i++) {
		cc = &st->remote_conns[i];
		if (cc->rec_known && cc->rec_pack == pack) {
			*c = cc;
			*rec = cc->rec;
			return 0;
		}
	}
	for (i = 0; i < st->remote_conns_nr; i++) {
		cc = &st->remote_conns[i];
		rc = dos_remote_read_record(st, cc->remote.name, pack, rec);
		if (rc == 0) {
			cc->rec_known = 1;
			cc->rec_pack = pack;
			cc->rec = *rec;
			*c = cc;
			return 0;
		}
		if (rc != DOS_ENOTFOUND)
			return rc;
	}
	return DOS_ENOTFOUND;
}

int
dos_remote_any(struct dos_store *st)
{
	return load_conns(st) == 0 && st->remote_conns_nr > 0;
}

int
dos_remote_pack_version(struct dos_store *st, uint32_t pack,
    unsigned *version)
{
	struct dos_remote_conn *c;
	struct dos_remote_record rec;
	int rc;

	if ((rc = find_pack(st, pack, &c, &rec)) < 0)
		return rc;
	*version = rec.version;
	return 0;
}

/*
 * Bytes [off, off + len) of pack from a range fetched ahead: 1, 0 if none
 * holds them, or the failure of the GET that was to bring them.
 */
static int
read_fetched(struct dos_remote_conn *c, uint32_t pack, void *buf, size_t len,
    uint64_t off)
{
	const struct dos_fetch_range *f;
	struct dos_fetch_get *g;
	size_t lo = 0, hi = c->ranges_nr, mid, arrived;

	/* The last range that starts at or before off. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		f = &c->ranges[mid];
		if (f->pack < pack || (f->pack == pack && f->off <= off))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	f = &c->ranges[lo - 1];
	g = &c->gets[f->get];
	if (f->pack != pack || off - f->off > f->len ||
	    len > f->len - (off - f->off))
		return 0;
	pthread_mutex_lock(&c->run->lock);
	while (!g->done && off + len > g->off + g->arrived)
		pthread_cond_wait(&c->run->done, &c->run->lock);
	arrived = g->arrived;
	pthread_mutex_unlock(&c->run->lock);
	if (off + len <= g->off + arrived) {
		memcpy(buf, f->buf + (off - f->off), len);
		return 1;
	}
	if (g->rc < 0) {
		dos_s3_set_error("%s", g->error);
		return g->rc;
	}
	/* A short answer: the read asks again, and judges what comes. */
	return 0;
}

static ssize_t
read_done(struct dos_remote_conn *c, uint32_t pack, uint64_t off, size_t n)
{
	c->last_pack = pack;
	c->last_off = off;
	c->last_end = off + n;
	return (ssize_t)n;
}

static int
connect_conn(struct dos_remote_conn *c)
{
	return c->s3 == NULL ? dos_remote_connect(&c->remote, &c->s3) : 0;
}

/* Bytes of the pack's block at off: less than a block for its last. */
static size_t
block_len(uint64_t pack_len, uint64_t off)
{
	return pack_len - off < DOS_REMOTE_CACHE_BLOCK ?
	    (size_t)(pack_len - off) : DOS_REMOTE_CACHE_BLOCK;
}

/* The end of the block that holds the byte before end. */
static uint64_t
block_end(uint64_t pack_len, uint64_t end)
{
	end += (DOS_REMOTE_CACHE_BLOCK - end % DOS_REMOTE_CACHE_BLOCK) %
	    DOS_REMOTE_CACHE_BLOCK;
	return end < pack_len ? end : pack_len;
}

/*
 * The blocks of pack from the one that holds off into c->win: those the
 * cache has, then the rest by one GET, kept in the cache.  They go on to
 * the end of the len bytes read, or of the window when the read goes on
 * from the last (see dos_remote_pread).
 */
static int
load_blocks(struct dos_store *st, struct dos_remote_conn *c, uint32_t pack,
    const struct dos_remote_record *rec, uint64_t off, size_t len,
    int onward)
{
	uint64_t start = off - off % DOS_REMOTE_CACHE_BLOCK, end, at;
	char key[64];
	size_t n, got;
	int rc;

	end = block_end(rec->length, onward || len >= READ_WINDOW ?
	    start + READ_WINDOW : off + len);
	if (end > start + READ_WINDOW)
		end = start + READ_WINDOW;
	if (c->win == NULL && (c->win = malloc(READ_WINDOW)) == NULL)
		return DOS_ENOMEM;
	c->win_pack = pack;
	c->win_off = start;
	c->win_len = 0;
	for (at = start; at < end; at += n) {
		n = block_len(rec->length, at);
		rc = dos_remote_cache_get(st, rec->sha256,
		    at / DOS_REMOTE_CACHE_BLOCK, c->win + (at - start), n);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		c->win_len += n;
	}
	if (at == end)
		return 0;
	if ((rc = connect_conn(c)) < 0)
		return rc;
	snprintf(key, sizeof key, "packs/%u", pack);
	if ((rc = dos_s3_get(c->s3, key, at, (size_t)(end - at),
	    c->win + (at - start), &got)) < 0)
		return rc == DOS_ENOTFOUND ? DOS_EREMOTE : rc;
	c->win_len += got;
	/*
	 * Whole blocks only.  A block that cannot be kept (a full disk) is
	 * read all the same: the cache only saves GETs.
	 */
	for (; (n = block_len(rec->length, at)) <= start + c->win_len - at &&
	    n > 0; at += n)
		dos_remote_cache_put(st, rec->sha256,
		    at / DOS_REMOTE_CACHE_BLOCK, c->win + (at - start), n);
	return 0;
}

/* dos_remote_pread through the cache: all len bytes, unless the pack is
 * cut short. */
static ssize_t
read_blocks(struct dos_store *st, struct dos_remote_conn *c, uint32_t pack,
    const struct dos_remote_record *rec, void *buf, size_t len, uint64_t off)
{
	int onward = pack == c->last_pack && off > c->last_off &&
	    off <= c->last_end;
	uint64_t at;
	size_t done = 0, n;
	int rc;

	while (done < len) {
		at = off + done;
		if (c->win == NULL || c->win_pack != pack || at < c->win_off ||
		    at >= c->win_off + c->win_len) {
			if ((rc = load_blocks(st, c, pack, rec, at, len - done,
			    onward)) < 0)
				return rc;
			if (at >= c->win_off + c->win_len)
				break;
		}
		n = (size_t)(c->win_off + c->win_len - at);
		if (n > len - done)
			n = len - done;
		memcpy((unsigned char *)buf + done, c->win + (at - c->win_off),
		    n);
		done += n;
	}
	return read_done(c, pack, off, done);
}

ssize_t
dos_remote_pread(struct dos_store *st, uint32_t pack, void *buf, size_t len,
    uint64_t off)
{
	struct dos_remote_conn *c;
	struct dos_remote_record rec;
	char key[64];
	size_t got, want;
	int rc;

	if ((rc = find_pack(st, pack, &c, &rec)) < 0)
		return rc == DOS_ENOTFOUND ? DOS_ECORRUPT : rc;
	if (off >= rec.length)
		return 0;
	if (len > rec.length - off)
		len = (size_t)(rec.length - off);
	if (c->win != NULL && c->win_pack == pack && off >= c->win_off &&
	    off + len <= c->win_off + c->win_len) {
		memcpy(buf, c->win + (off - c->win_off), len);
		return read_done(c, pack, off, len);
	}
	if ((rc = read_fetched(c, pack, buf, len, off)) != 0)
		return rc < 0 ? rc : read_done(c, pack, off, len);
	if (dos_remote_cache_on(st))
		return read_blocks(st, c, pack, &rec, buf, len, off);
	if ((rc = connect_conn(c)) < 0)
		return rc;
	snprintf(key, sizeof key, "packs/%u", pack);
	/*
	 * A small read that goes on from within the last one takes a
	 * window: one request costs milliseconds whatever its size, and
	 * what follows is read next (the rest of an object, the objects in
	 * pack order).  Random reads fetch just what they need.
	 */
	if (len >= READ_WINDOW || pack != c->last_pack || off <= c->last_off ||
	    off > c->last_end) {
		if ((rc = dos_s3_get(c->s3, key, off, len, buf, &got)) < 0)
			return rc == DOS_ENOTFOUND ? DOS_EREMOTE : rc;
		return read_done(c, pack, off, got);
	}
	if (c->win == NULL && (c->win = malloc(READ_WINDOW)) == NULL)
		return DOS_ENOMEM;
	c->win_len = 0;
	want = rec.length - off < READ_WINDOW ? (size_t)(rec.length - off) :
	    READ_WINDOW;
	if ((rc = dos_s3_get(c->s3, key, off, want, c->win, &got)) < 0)
		return rc == DOS_ENOTFOUND ? DOS_EREMOTE : rc;
	c->win_pack = pack;
	c->win_off = off;
	c->win_len = got;
	if (len > got)
		len = got;
	memcpy(buf, c->win, len);
	return read_done(c, pack, off, len);
}

/* ---- ranges fetched ahead ---- */

static int
range_cmp(const void *a, const void *b)
{
	const struct dos_fetch_range *x = a, *y = b;

	return dos_cmp_place(x->pack, x->off, y->pack, y->off);
}

void
dos_remote_prefetch_drop(struct dos_store *st)
{
	struct dos_remote_conn *c;
	struct dos_fetch_run *run;
	size_t i, k;

	for (i = 0; i < st->remote_conns_nr; i++) {
		c = &st->remote_conns[i];
		if ((run = c->run) != NULL) {
			pthread_mutex_lock(&run->lock);
			run->stop = 1;
			pthread_mutex_unlock(&run->lock);
			for (k = 0; k < run->started; k++)
				pthread_join(run->th[k], NULL);
			pthread_mutex_destroy(&run->lock);
			pthread_cond_destroy(&run->done);
			free(run);
			c->run = NULL;
		}
		free(c->ranges);
		free(c->gets);
		free(c->arena);
		c->ranges = NULL;
		c->gets = NULL;
		c->arena = NULL;
		c->ranges_nr = c->gets_nr = 0;
	}
}

/* Where the bytes of one GET go as they arrive. */
struct scatter {
	struct dos_fetch_run *run;
	struct dos_fetch_get *g;
	size_t from;		/* the first range the bytes may still reach */
	uint64_t base;		/* where in g the GET asked from */
	unsigned char *block;	/* a block gathered for the cache, or NULL */
};

static void
scatter_body(void *data, size_t pos, const void *buf, size_t len)
{
	struct scatter *sc = data;
	struct dos_fetch_get *g = sc->g;
	struct dos_remote_conn *c = sc->run->c;
	struct dos_fetch_range *f;
	uint64_t a = g->off + pos, b = a + len, lo, hi;
	size_t k;

	/* A retried GET starts again from its first byte. */
	if (pos == 0)
		sc->from = g->first;
	while (sc->from < g->first + g->nr &&
	    c->ranges[sc->from].off + c->ranges[sc->from].len <= a)
		sc->from++;
	for (k = sc->from; k < g->first + g->nr; k++) {
		f = &c->ranges[k];
		if (f->off >= b)
			break;
		lo = f->off > a ? f->off : a;
		/* Bytes in place may be being read: a retry leaves them. */
		lo = lo > g->off + g->arrived ? lo : g->off + g->arrived;
		hi = f->off + f->len < b ? f->off + f->len : b;
		if (lo < hi)
			memcpy(f->buf + (lo - f->off),
			    (const unsigned char *)buf + (lo - a), hi - lo);
	}
	pthread_mutex_lock(&sc->run->lock);
	if (pos + len > g->arrived)
		g->arrived = pos + len;
	pthread_cond_broadcast(&sc->run->done);
	pthread_mutex_unlock(&sc->run->lock);
}

/*
 * The bytes of a GET asked from sc->base in g, into its ranges, and the
 * blocks they complete into the cache.
 */
static void
gather_body(void *data, size_t pos, const void *buf, size_t len)
{
	struct scatter *sc = data;
	struct dos_fetch_get *g = sc->g;
	const unsigned char *p = buf;
	uint64_t at = g->off + sc->base + pos, start;
	size_t n, blen;

	/* A retried GET starts again from its first byte. */
	if (pos == 0)
		sc->from = g->first;
	scatter_body(sc, (size_t)(sc->base + pos), buf, len);
	while (len > 0) {
		start = at - at % DOS_REMOTE_CACHE_BLOCK;
		blen = block_len(g->pack_len, start);
		n = (size_t)(start + blen - at) < len ?
		    (size_t)(start + blen - at) : len;
		memcpy(sc->block + (at - start), p, n);
		if (at + n == start + blen)
			dos_remote_cache_put(sc->run->st, g->sha256,
			    start / DOS_REMOTE_CACHE_BLOCK, sc->block, blen);
		at += n;
		p += n;
		len -= n;
	}
}

/*
 * The blocks of g the cache holds, from its first, into its ranges, with
 * block as room for one: where in g the first it lacks starts.
 */
static uint64_t
from_cache(struct scatter *sc)
{
	struct dos_fetch_get *g = sc->g;
	uint64_t at;
	size_t n;

	for (at = g->off; at < g->off + g->len; at += n) {
		n = block_len(g->pack_len, at);
		if (dos_remote_cache_get(sc->run->st, g->sha256,
		    at / DOS_REMOTE_CACHE_BLOCK, sc->block, n) != 1)
			break;
		scatter_body(sc, (size_t)(at - g->off), sc->block, n);
	}
	return at - g->off;
}

/*
 * Run GET g on *s3, connected first if need be, with block as room for
 * one if the cache is on: 1 if the server failed.
 */
static int
fetch_one(struct dos_fetch_run *run, struct dos_s3 **s3,
    struct dos_fetch_get *g, unsigned char *block)
{
	struct dos_remote_conn *c = run->c;
	struct scatter sc = { run, g, g->first, 0, block };
	char key[64];
	size_t got = 0;
	int rc = 0;

	snprintf(key, sizeof key, "packs/%u", g->pack);
	if (block != NULL)
		sc.base = from_cache(&sc);
	if (sc.base < g->len && (rc = *s3 == NULL ?
	    dos_remote_connect(&c->remote, s3) : 0) == 0)
		rc = dos_s3_get_each(*s3, key, g->off + sc.base,
		    (size_t)(g->len - sc.base), block != NULL ? gather_body :
		    scatter_body, &sc, &got);
	g->got = (size_t)sc.base + got;
	if (rc < 0)
		snprintf(g->error, sizeof g->error, "%s", dos_s3_last_error());
	g->rc = rc == DOS_ENOTFOUND ? DOS_EREMOTE : rc;
	/* A missing or damaged pack is its own; anything else is the server's. */
	return rc == DOS_EREMOTE;
}

static void *
fetch_thread(void *arg)
{
	struct fetch_worker *w = arg;
	struct dos_fetch_run *run = w->run;
	struct dos_fetch_get *g;
	unsigned char *block = NULL;
	int failed;

	/* Without room for a block, the GETs of this thread are not kept. */
	if (run->cached)
		block = malloc(DOS_REMOTE_CACHE_BLOCK);
	pthread_mutex_lock(&run->lock);
	while (!run->stop && run->next < run->c->gets_nr) {
		g = &run->c->gets[run->next++];
		/* A server that failed is not asked again: each read says why. */
		if (run->failed != NULL) {
			g->rc = run->failed->rc;
			memcpy(g->error, run->failed->error, sizeof g->error);
		} else {
			pthread_mutex_unlock(&run->lock);
			failed = fetch_one(run, w->s3, g, block);
			pthread_mutex_lock(&run->lock);
			if (failed && run->failed == NULL)
				run->failed = g;
		}
		g->done = 1;
		pthread_cond_broadcast(&run->done);
	}
	pthread_mutex_unlock(&run->lock);
	free(block);
	return NULL;
}

/*
 * The GETs that bring the ranges of c, merged, started: the reads wait
 * for theirs, so that the first objects are decoded while the GETs of
 * the others are under way.
 */
static int
fetch_conn(struct dos_store *st, struct dos_remote_conn *c)
{
	struct dos_fetch_run *run;
	struct dos_fetch_range *f;
	struct dos_fetch_get *g = NULL;
	struct dos_remote_conn *holder;
	struct dos_remote_record rec;
	size_t k, total = 0;
	uint64_t end;
	int cached = dos_remote_cache_on(st), rc;

	qsort(c->ranges, c->ranges_nr, sizeof *c->ranges, range_cmp);
	for (k = 0; k < c->ranges_nr; k++)
		total += c->ranges[k].len;
	if ((c->arena = malloc(total)) == NULL ||
	    (c->gets = calloc(c->ranges_nr, sizeof *c->gets)) == NULL)
		return DOS_ENOMEM;
	total = 0;
	for (k = 0; k < c->ranges_nr; k++) {
		f = &c->ranges[k];
		f->buf = c->arena + total;
		total += f->len;
		end = f->off + f->len;
		if (g != NULL && g->pack == f->pack &&
		    f->off <= g->off + g->len + MERGE_GAP &&
		    (end < g->off + g->len ? g->len : end - g->off) <=
		    GET_SPAN_MAX) {
			if (end > g->off + g->len)
				g->len = (size_t)(end - g->off);
			g->nr++;
		} else {
			g = &c->gets[c->gets_nr++];
			g->pack = f->pack;
			g->off = f->off;
			g->len = f->len;
			g->first = k;
			g->nr = 1;
		}
		f->get = c->gets_nr - 1;
	}
	for (k = 0; k < c->gets_nr; k++) {
		g = &c->gets[k];
		if ((rc = find_pack(st, g->pack, &holder, &rec)) < 0)
			return rc;
		g->pack_len = rec.length;
		memcpy(g->sha256, rec.sha256, sizeof g->sha256);
		if (!cached)
			continue;
		/* The blocks it touches, whole, for the cache. */
		end = block_end(rec.length, g->off + g->len);
		g->off -= g->off % DOS_REMOTE_CACHE_BLOCK;
		g->len = (size_t)(end - g->off);
	}
	if ((run = calloc(1, sizeof *run)) == NULL)
		return DOS_ENOMEM;
	run->st = st;
	run->c = c;
	run->cached = cached;
	/*
	 * The first connection sets libcurl up, which its manual wants done
	 * before other threads run: here, not in a thread that an exit may
	 * cut short.  A failure is the first GET's to report.
	 */
	if (c->fetch_s3[0] == NULL)
		dos_remote_connect(&c->remote, &c->fetch_s3[0]);
	pthread_mutex_init(&run->lock, NULL);
	pthread_cond_init(&run->done, NULL);
	c->run = run;
	for (k = 0; k < DOS_REMOTE_FETCHERS && k < c->gets_nr; k++) {
		run->w[k] = (struct fetch_worker){ run, &c->fetch_s3[k] };
		if (pthread_create(&run->th[k], NULL, fetch_thread,
		    &run->w[k]) != 0)
			break;
		run->started = k + 1;
	}
	/* No thread: the GETs are run here, before the reads. */
	if (run->started == 0)
		fetch_thread(&run->w[0]);
	return 0;
}

int
dos_remote_prefetch(struct dos_store *st, const struct dos_pack_range *r,
    size_t n)
{
	struct dos_remote_conn *c;
	struct dos_remote_record rec;
	struct dos_fetch_range *f;
	size_t i;
	int rc = 0;

	dos_remote_prefetch_drop(st);
	for (i = 0; i < n; i++) {
		/* A pack no remote holds: its read says so. */
		if (find_pack(st, r[i].pack, &c, &rec) < 0 ||
		    r[i].off >= rec.length || r[i].len == 0)
			continue;
		if (c->ranges == NULL &&
		    (c->ranges = malloc(n * sizeof *c->ranges)) == NULL) {
			rc = DOS_ENOMEM;
			break;
		}
		f = &c->ranges[c->ranges_nr++];
		f->pack = r[i].pack;
		f->off = r[i].off;
		f->len = r[i].len < rec.length - r[i].off ? r[i].len :
		    (size_t)(rec.length - r[i].off);
	}
	for (i = 0; rc == 0 && i < st->remote_conns_nr; i++)
		if (st->remote_conns[i].ranges_nr > 0)
			rc = fetch_conn(st, &st->remote_conns[i]);
	if (rc < 0)
		dos_remote_prefetch_drop(st);
	return rc;
}

int
dos_remote_pack_record(struct dos_store *st, uint32_t pack,
    struct dos_remote_record *rec)
{
	struct dos_remote_conn *c;

	return find_pack(st, pack, &c, rec);
}
