/*
 * fsck-verify.c: the worker threads of dos fsck, and what they do: check
 * the stored bytes of pack entries (CRC-32, decoding, raw size and, in
 * full mode or to learn a partial id, SHA-256) in the chunks the scan
 * hands them, stream entries
 * larger than a chunk from the pack, and hash loose files.  A worker only
 * fills in the status of what it was handed, and adds the entries to the
 * sort of all entries; the findings are made later by the calling thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "fsck-int.h"

#define IO_SIZE (1U << 20)	/* large entries and loose files */
#define OUT_SIZE (256U << 10)	/* decoded bytes per step */

/* What each worker thread owns. */
struct worker {
	struct fsck *f;
	pthread_t thread;
	struct dos_decompressor dec;
	struct dos_hasher hasher;
	ZSTD_DCtx *zstd;	/* one-shot decoding of small entries */
	unsigned char *out, *io;
	unsigned char *group;	/* a group entry's decoded bytes */
	struct ent *members;	/* and its members' ents */
};

struct verify {
	struct worker *w;
	struct pack *p;
	struct ent *e;
	int crc_later;		/* the SHA-256 stands for the CRC-32 */
	uint32_t crc;
	uint64_t produced;
	int failed;		/* decoding failed: stop feeding */
};

/*
 * Whether the entry's bytes are hashed: to check its id, or to learn it.
 * A group's are its members', each hashed on its own.
 */
static int
hashes(const struct worker *w, const struct ent *e)
{
	return (w->f->full || e->partial) && !(e->flags & DOS_ENTRY_GROUP);
}

/* What the SHA-256 of its bytes says of the entry's id. */
static void
check_id(struct ent *e, const struct dos_oid *got)
{
	if (!e->partial) {
		if (dos_oid_cmp(got, &e->oid) != 0)
			e->status = ENT_HASH;
	} else if (memcmp(got->hash, e->oid.hash, DOS_ENTRY_ID_CHECK) == 0) {
		e->oid = *got;
		e->partial = 0;
	} else {
		e->status = ENT_HASH;
	}
}

/*
 * In full mode the SHA-256 of raw-stored bytes checks every one of them;
 * their CRC-32 is then needed only to say what is wrong when the hash
 * does not match, and is computed again from the pack in that case.  Not
 * in format 2, whose checksum covers the header too.
 */
static void
verify_begin(struct verify *v, struct worker *w, struct pack *p,
    struct ent *e)
{
	const struct dos_dict *dict = NULL;

	v->w = w;
	v->p = p;
	v->e = e;
	v->crc_later = w->f->full && e->codec == DOS_CODEC_NONE &&
	    p->version == 1;
	v->crc = 0;
	v->produced = 0;
	v->failed = 0;
	/* Never decoded without its dictionary, which would give garbage. */
	if (e->dict != 0 && dos_store_dict(w->f->st, e->dict, &dict) < 0) {
		e->status = ENT_NO_DICT;
		v->failed = 1;
	} else if (e->codec != DOS_CODEC_NONE &&
	    dos_decompress_begin_dict(&w->dec, (enum dos_codec)e->codec,
	    dict) < 0) {
		e->status = ENT_CORRUPT;
		e->why = WHY_UNDECODABLE;
		v->failed = 1;
	}
	if (hashes(w, e))
		dos_hasher_reset(&w->hasher);
}

static void
verify_raw(struct verify *v, const unsigned char *buf, size_t len)
{
	uint64_t want = v->e->raw;
	size_t hash = len;

	if (v->produced >= want)
		hash = 0;
	else if (want - v->produced < len)
		hash = (size_t)(want - v->produced);
	if (hashes(v->w, v->e) && hash > 0)
		dos_hasher_update(&v->w->hasher, buf, hash);
	/* Its raw size is at most DOS_GROUP_RAW_MAX: the decoder says so. */
	if ((v->e->flags & DOS_ENTRY_GROUP) && hash > 0)
		memcpy(v->w->group + v->produced, buf, hash);
	v->produced += len;
}

static void
verify_feed(struct verify *v, const unsigned char *buf, size_t len)
{
	struct worker *w = v->w;
	size_t in_len, out_len;

	if (!v->crc_later)
		v->crc = dos_crc32(v->crc, buf, len);
	if (v->failed)
		return;
	if (v->e->codec == DOS_CODEC_NONE) {
		verify_raw(v, buf, len);
		return;
	}
	while (len > 0) {
		in_len = len;
		out_len = OUT_SIZE;
		if (dos_decompress(&w->dec, buf, &in_len, w->out, &out_len) < 0) {
			v->failed = 1;
			v->e->status = ENT_CORRUPT;
			v->e->why = w->dec.done ? WHY_TRAILING : WHY_UNDECODABLE;
			return;
		}
		verify_raw(v, w->out, out_len);
		buf += in_len;
		len -= in_len;
		if (in_len == 0 && out_len == 0)
			break;		/* the decoder is stuck */
	}
	if (len > 0) {
		v->failed = 1;
		v->e->status = ENT_CORRUPT;
		v->e->why = WHY_UNDECODABLE;
	}
}

/* The decoder may still hold output after the last input. */
static void
verify_drain(struct verify *v)
{
	struct worker *w = v->w;
	size_t in_len, out_len;

	if (v->failed || v->e->codec == DOS_CODEC_NONE)
		return;
	while (!w->dec.done) {
		in_len = 0;
		out_len = OUT_SIZE;
		if (dos_decompress(&w->dec, "", &in_len, w->out, &out_len) < 0 ||
		    out_len == 0)
			break;
		verify_raw(v, w->out, out_len);
	}
}

/* The CRC-32 of an entry's stored bytes, read again. */
static uint32_t
crc_again(struct verify *v)
{
	uint64_t pos = v->e->offset + v->e->header_size, left = v->e->stored;
	uint32_t crc = 0;
	ssize_t n;

	while (left > 0) {
		n = pread(v->p->fd, v->w->io, left < IO_SIZE ? (size_t)left :
		    IO_SIZE, (off_t)pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ~v->e->crc;
		crc = dos_crc32(crc, v->w->io, (size_t)n);
		pos += (uint64_t)n;
		left -= (uint64_t)n;
	}
	return crc;
}

static void
verify_end(struct verify *v)
{
	struct ent *e = v->e;
	struct dos_oid got;

	verify_drain(v);
	if (v->crc_later) {
		dos_hasher_final(&v->w->hasher, &got);
		if (v->produced == e->raw && (e->partial ?
		    memcmp(got.hash, e->oid.hash, DOS_ENTRY_ID_CHECK) :
		    dos_oid_cmp(&got, &e->oid)) == 0) {
			check_id(e, &got);
			return;
		}
		if (crc_again(v) != e->crc)
			e->status = ENT_CRC;
		else if (v->produced != e->raw)
			e->status = ENT_SIZE;
		else
			e->status = ENT_HASH;
		e->actual = v->produced;
		return;
	}
	if (v->crc != e->crc) {
		e->status = ENT_CRC;
		return;
	}
	if (e->status != ENT_OK)
		return;
	if (e->codec != DOS_CODEC_NONE && !v->w->dec.done) {
		e->status = ENT_CORRUPT;
		e->why = WHY_TRUNCATED;
		return;
	}
	if (v->produced != e->raw) {
		e->status = ENT_SIZE;
		e->actual = v->produced;
		return;
	}
	if (hashes(v->w, e)) {
		dos_hasher_final(&v->w->hasher, &got);
		check_id(e, &got);
	}
}

/* A tombstone holds nothing and must say so. */
static int
check_tombstone(struct ent *e)
{
	if (!(e->flags & DOS_ENTRY_TOMBSTONE))
		return 0;
	if (e->stored != 0 || e->raw != 0 || e->crc != 0) {
		e->status = ENT_CORRUPT;
		e->why = WHY_TOMBSTONE;
	}
	return 1;
}

/*
 * Most entries are small zstd frames: decode one in a single call.  Only
 * a frame that decodes cleanly to exactly its raw size passes here; any
 * other goes the streaming way, which says what is wrong.
 */
static int
verify_small_zstd(struct worker *w, struct ent *e, const unsigned char *data)
{
	const struct dos_dict *dict = NULL;
	struct dos_oid got;
	size_t n;

	if (e->codec != DOS_CODEC_ZSTD || e->raw >= OUT_SIZE ||
	    (e->flags & DOS_ENTRY_GROUP) ||
	    dos_crc32(0, data, (size_t)e->stored) != e->crc ||
	    ZSTD_findFrameCompressedSize(data, (size_t)e->stored) != e->stored ||
	    (e->dict != 0 && dos_store_dict(w->f->st, e->dict, &dict) < 0))
		return 0;
	ZSTD_DCtx_refDDict(w->zstd, dict != NULL ? dict->ddict : NULL);
	n = ZSTD_decompressDCtx(w->zstd, w->out, OUT_SIZE, data,
	    (size_t)e->stored);
	if (ZSTD_isError(n) || n != e->raw)
		return 0;
	if (hashes(w, e)) {
		dos_hasher_reset(&w->hasher);
		dos_hasher_update(&w->hasher, w->out, n);
		dos_hasher_final(&w->hasher, &got);
		check_id(e, &got);
	}
	return 1;
}

static void
verify_in_buffer(struct worker *w, struct pack *p, struct ent *e,
    const unsigned char *data)
{
	struct verify v;

	if (e->status != ENT_OK || check_tombstone(e) ||
	    verify_small_zstd(w, e, data))
		return;
	verify_begin(&v, w, p, e);
	verify_feed(&v, data, (size_t)e->stored);
	verify_end(&v);
}

/* An entry larger than a chunk: streamed from the pack by the worker. */
static void
verify_large(struct worker *w, struct pack *p, struct ent *e)
{
	struct verify v;
	uint64_t pos = e->offset + e->header_size, left = e->stored;
	size_t want;
	ssize_t n;

	if (e->status != ENT_OK || check_tombstone(e))
		return;
	verify_begin(&v, w, p, e);
	while (left > 0) {
		want = left < IO_SIZE ? (size_t)left : IO_SIZE;
		do
			n = pread(p->fd, w->io, want, (off_t)pos);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			e->status = n < 0 ? ENT_IO : ENT_BOUNDS;
			e->actual = n < 0 ? (uint64_t)errno : 0;
			return;
		}
		verify_feed(&v, w->io, (size_t)n);
		pos += (uint64_t)n;
		left -= (uint64_t)n;
	}
	verify_end(&v);
}

/*
 * The bytes of a group no record locates are, for what a repack drops,
 * its members': each member takes a share of the group's pack bytes as
 * its size is of the members' (their number, if they are all empty).
 */
static uint64_t
member_share(const struct ent *g, const struct dos_group *grp, uint64_t upto,
    uint64_t weight)
{
	uint64_t total = g->header_size + g->stored;
	uint64_t all = grp->len - grp->table_size;
	uint64_t n = all > 0 ? all : grp->members;

	return total * (upto + weight) / n - total * upto / n;
}

/*
 * The ents of a good group's members, in ms.  Each whole id is the one of
 * the record naming the member, if its id bytes start that id, else
 * learnt by hashing the member; in full mode every member is hashed.
 */
static size_t
group_members(struct worker *w, const struct ent *g,
    const struct dos_group *grp, const struct rec *recs, size_t nrecs,
    struct ent *ms)
{
	struct dos_group_member m;
	struct dos_oid got;
	uint64_t upto = 0, weight;
	size_t r = 0;
	uint32_t i;

	for (i = 0; i < grp->members; i++) {
		struct ent *me = &ms[i];
		(void)dos_group_member(grp, i, &m);
		memset(me, 0, sizeof *me);
		me->pack = g->pack;
		me->offset = g->offset;
		me->member = i + 1;
		me->raw = m.size;
		me->codec = DOS_CODEC_NONE;
		me->status = ENT_OK;
		weight = grp->len > grp->table_size ? m.size : 1;
		me->stored = member_share(g, grp, upto, weight);
		upto += weight;
		while (r < nrecs && recs[r].e.member < me->member)
			r++;
		if (r < nrecs && recs[r].e.member == me->member &&
		    memcmp(recs[r].oid.hash, m.id, DOS_ENTRY_ID_CHECK) == 0) {
			me->oid = recs[r].oid;
		} else {
			memcpy(me->oid.hash, m.id, DOS_ENTRY_ID_CHECK);
			me->partial = 1;
		}
		if (w->f->full || me->partial) {
			dos_hasher_reset(&w->hasher);
			dos_hasher_update(&w->hasher, m.data, m.size);
			dos_hasher_final(&w->hasher, &got);
			check_id(me, &got);
		}
	}
	return grp->members;
}

/*
 * Of a damaged group only the records into it say which objects it held:
 * each gets an ent with the group's damage, so that it is reported.
 */
static size_t
damaged_members(const struct ent *g, const struct rec *recs, size_t nrecs,
    struct ent *ms)
{
	size_t r;

	for (r = 0; r < nrecs; r++) {
		ms[r] = *g;
		ms[r].oid = recs[r].oid;
		ms[r].member = recs[r].e.member;
		ms[r].raw = recs[r].e.raw_size;
		ms[r].codec = DOS_CODEC_NONE;
		ms[r].flags = 0;
		ms[r].partial = 0;
	}
	return nrecs;
}

/*
 * A group entry just verified, its decoded bytes in w->group: its
 * members' ents go into the sort of all entries in its stead.  The
 * records into the job's groups are in offset order, as the groups are:
 * *next is the first not yet used.  A damaged group no record points
 * into is kept aside for the calling thread to report.
 */
static void
expand_group(struct worker *w, struct job *j, struct ent *g, size_t *next)
{
	struct fsck *f = w->f;
	struct dos_group grp;
	size_t lo, n, i, nrecs = 0;
	struct ent *grown;
	int rc = 0;

	while (*next < j->members_nr && j->members[*next].e.offset < g->offset)
		(*next)++;
	lo = *next;
	while (*next < j->members_nr && j->members[*next].e.offset == g->offset)
		(*next)++;
	nrecs = *next - lo;
	if (g->status == ENT_SIZE ||
	    (g->status == ENT_OK && dos_group_parse(w->group, (size_t)g->raw,
	    &grp) < 0)) {
		g->status = ENT_CORRUPT;
		g->why = WHY_GROUP;
	}
	/*
	 * Records past room for every member (a damaged index) find no
	 * entry, and are reported so.
	 */
	if (g->status == ENT_OK)
		n = group_members(w, g, &grp, j->members + lo, nrecs,
		    w->members);
	else
		n = damaged_members(g, j->members + lo,
		    nrecs < DOS_GROUP_MEMBERS_MAX ? nrecs :
		    DOS_GROUP_MEMBERS_MAX, w->members);
	pthread_mutex_lock(&f->ents_mu);
	for (i = 0; i < n && f->ents_rc == 0; i++)
		if ((rc = dos_sort_add(f->ents, &w->members[i])) < 0)
			f->ents_rc = rc;
	if (n == 0 && f->ents_rc == 0) {
		grown = dos_grow(f->bad_groups, f->bad_groups_nr,
		    &f->bad_groups_alloc, sizeof *grown, 16);
		if (grown == NULL) {
			f->ents_rc = DOS_ENOMEM;
		} else {
			f->bad_groups = grown;
			f->bad_groups[f->bad_groups_nr++] = *g;
		}
	}
	pthread_mutex_unlock(&f->ents_mu);
}

static void
check_loose_one(struct worker *w, struct loose *l)
{
	struct fsck *f = w->f;
	char name[DOS_HEXSZ + 2];
	struct dos_oid got;
	struct stat sb;
	ssize_t n;
	int fd;

	dos_loose_name(f->st, &l->oid, name, sizeof name);
	fd = dos_open_beneath(f->st->loosefd, name, O_RDONLY | O_NOFOLLOW, 0);
	if (fd < 0) {
		l->status = errno == ENOENT ? LOOSE_GONE :
		    errno == ELOOP || errno == EXDEV ? LOOSE_BAD_FILE : LOOSE_IO;
		l->err = errno;
		return;
	}
	if (fstat(fd, &sb) < 0) {
		l->status = LOOSE_IO;
		l->err = errno;
	} else if (!S_ISREG(sb.st_mode)) {
		l->status = LOOSE_BAD_FILE;
	} else if (!f->full) {
		l->status = LOOSE_OK;
	} else {
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		dos_hasher_reset(&w->hasher);
		while ((n = read(fd, w->io, IO_SIZE)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break;
			dos_hasher_update(&w->hasher, w->io, (size_t)n);
		}
		if (n < 0) {
			l->status = LOOSE_IO;
			l->err = errno;
		} else {
			dos_hasher_final(&w->hasher, &got);
			l->status = dos_oid_cmp(&got, &l->oid) == 0 ?
			    LOOSE_OK : LOOSE_HASH;
		}
	}
	close(fd);
}

void
release_buffer(struct fsck *f, unsigned char *buf)
{
	pthread_mutex_lock(&f->mu);
	f->bufs[f->bufs_free++] = buf;
	pthread_cond_signal(&f->freed);
	pthread_mutex_unlock(&f->mu);
}

static void
run_job(struct worker *w, struct job *j)
{
	size_t i, next = 0;

	switch (j->type) {
	case JOB_CHUNK:
		/*
		 * Without --packs only the entry headers matter, and the ids
		 * of the entries that hold only the start of theirs (all of
		 * a group's members).
		 */
		for (i = 0; i < j->n; i++) {
			if ((w->f->what & DOS_FSCK_WHAT_PACKS) ||
			    j->ents[i].partial)
				verify_in_buffer(w, j->pack, &j->ents[i], j->buf +
				    (j->ents[i].offset - j->base) +
				    j->ents[i].header_size);
			if (j->ents[i].flags & DOS_ENTRY_GROUP)
				expand_group(w, j, &j->ents[i], &next);
		}
		release_buffer(w->f, j->buf);
		j->buf = NULL;
		break;
	case JOB_LARGE:
		if ((w->f->what & DOS_FSCK_WHAT_PACKS) || j->ents[0].partial)
			verify_large(w, j->pack, &j->ents[0]);
		if (j->ents[0].flags & DOS_ENTRY_GROUP)
			expand_group(w, j, &j->ents[0], &next);
		break;
	case JOB_LOOSE:
		for (i = j->lo; i < j->hi; i++)
			check_loose_one(w, &w->f->loose[i]);
		break;
	}
}

/*
 * A job is done: its entries go into the sort of all entries, and the
 * job goes.  The first failure is kept for the check to return.
 */
static void
keep_ents(struct fsck *f, struct job *j)
{
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&f->ents_mu);
	/* A group's members went in instead (expand_group()). */
	for (i = 0; i < j->n && f->ents_rc == 0 && j->type != JOB_LOOSE; i++)
		if (!(j->ents[i].flags & DOS_ENTRY_GROUP) &&
		    (rc = dos_sort_add(f->ents, &j->ents[i])) < 0)
			f->ents_rc = rc;
	if (j->type != JOB_LOOSE)
		f->stats.entries += j->n;
	pthread_mutex_unlock(&f->ents_mu);
	free(j->members);
	free(j->ents);
	free(j);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct fsck *f = w->f;
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&f->mu);
		while (f->head == NULL && !f->closing)
			pthread_cond_wait(&f->work, &f->mu);
		if ((j = f->head) == NULL) {
			pthread_mutex_unlock(&f->mu);
			return NULL;
		}
		f->head = j->next;
		if (f->head == NULL)
			f->tail = NULL;
		pthread_mutex_unlock(&f->mu);
		run_job(w, j);
		keep_ents(f, j);
	}
}

void
submit(struct fsck *f, struct job *j)
{
	pthread_mutex_lock(&f->mu);
	j->next = NULL;
	if (f->tail != NULL)
		f->tail->next = j;
	else
		f->head = j;
	f->tail = j;
	pthread_cond_signal(&f->work);
	pthread_mutex_unlock(&f->mu);
}

unsigned char *
take_buffer(struct fsck *f)
{
	unsigned char *buf;

	pthread_mutex_lock(&f->mu);
	while (f->bufs_free == 0)
		pthread_cond_wait(&f->freed, &f->mu);
	buf = f->bufs[--f->bufs_free];
	pthread_mutex_unlock(&f->mu);
	return buf;
}

static void
release_worker(struct worker *w)
{
	dos_decompressor_release(&w->dec);
	ZSTD_freeDCtx(w->zstd);
	if (w->hasher.ctx != NULL)
		dos_hasher_release(&w->hasher);
	free(w->out);
	free(w->io);
	free(w->group);
	free(w->members);
}

int
start_workers(struct fsck *f, int n)
{
	size_t nbufs = (size_t)n + 2, i;
	int rc = 0;

	f->closing = 0;
	f->head = f->tail = NULL;
	f->ents_rc = 0;
	pthread_mutex_init(&f->mu, NULL);
	pthread_mutex_init(&f->ents_mu, NULL);
	pthread_cond_init(&f->work, NULL);
	pthread_cond_init(&f->freed, NULL);
	if ((f->workers = calloc((size_t)n, sizeof *f->workers)) == NULL ||
	    (f->bufs = calloc(nbufs, sizeof *f->bufs)) == NULL)
		return DOS_ENOMEM;
	for (i = 0; i < nbufs; i++) {
		if ((f->bufs[i] = malloc(CHUNK_SIZE)) == NULL)
			return DOS_ENOMEM;
		f->bufs_free++;
	}
	for (f->nworkers = 0; f->nworkers < n; f->nworkers++) {
		struct worker *w = &f->workers[f->nworkers];
		w->f = f;
		dos_decompressor_init(&w->dec);
		if ((w->out = malloc(OUT_SIZE)) == NULL ||
		    (w->io = malloc(IO_SIZE)) == NULL ||
		    (w->group = malloc(DOS_GROUP_RAW_MAX)) == NULL ||
		    (w->members = calloc(DOS_GROUP_MEMBERS_MAX,
		    sizeof *w->members)) == NULL ||
		    (w->zstd = ZSTD_createDCtx()) == NULL) {
			rc = DOS_ENOMEM;
		} else if ((rc = dos_hasher_init(&w->hasher)) == 0 &&
		    pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			errno = EAGAIN;
			rc = DOS_EIO;
		}
		if (rc < 0) {
			release_worker(w);
			return rc;
		}
	}
	return 0;
}

/* Wait for every job to be done and end the threads. */
void
stop_workers(struct fsck *f)
{
	int i;
	size_t b;

	pthread_mutex_lock(&f->mu);
	f->closing = 1;
	pthread_cond_broadcast(&f->work);
	pthread_mutex_unlock(&f->mu);
	for (i = 0; i < f->nworkers; i++) {
		pthread_join(f->workers[i].thread, NULL);
		release_worker(&f->workers[i]);
	}
	free(f->workers);
	f->workers = NULL;
	f->nworkers = 0;
	if (f->bufs != NULL)
		for (b = 0; b < f->bufs_free; b++)
			free(f->bufs[b]);
	free(f->bufs);
	f->bufs = NULL;
	f->bufs_free = 0;
	pthread_cond_destroy(&f->work);
	pthread_cond_destroy(&f->freed);
	pthread_mutex_destroy(&f->mu);
	pthread_mutex_destroy(&f->ents_mu);
}
