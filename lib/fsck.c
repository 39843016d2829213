/*
 * fsck.c: verify a whole container and repair what can be repaired.
 *
 * A check reads everything once and keeps going after every problem:
 * the loose files (each hashed against its name), every pack front to
 * back in large sequential reads (each entry's header, CRC-32, decoding,
 * raw size and, in full mode, SHA-256), and then the index against what
 * the packs hold, by a merge of the index (walked in id order) with the
 * pack entries sorted by id, so the hot loop never looks anything up.
 *
 * The packs are read by the calling thread, which cuts them into chunks
 * of whole entries; worker threads verify the chunks and the loose files.
 * Workers only fill in the status of entries they were handed, and every
 * finding is made afterwards by the calling thread and sorted, so the
 * report is the same whatever the parallelism.  Findings go to a callback:
 * the library never prints.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "dos.h"

#define CHUNK_SIZE (2U << 20)	/* bytes of pack read in one go */
#define IO_SIZE (1U << 20)	/* large entries and loose files */
#define OUT_SIZE (256U << 10)	/* decoded bytes per step */
#define LOOSE_JOB 256		/* loose files per job */
#define STALE_TEMP_AGE (24 * 60 * 60)
#define INDEX_TXN_RECORDS 4096	/* records per transaction of a rebuild */

/* ---- findings ---- */

enum kind {
	K_BAD_LAYOUT,
	K_MISSING_INDEX,
	K_INDEX_ERROR,
	K_NO_PACK_LENGTH,
	K_MISSING_PACK,
	K_TRUNCATED_PACK,
	K_BAD_PACK_HEADER,
	K_GARBAGE,
	K_TORN_TAIL,
	K_UNFINISHED_PACK,
	K_UNREADABLE,
	K_BAD_NAME,
	K_STALE_TEMP,
	K_BAD_FILE,
	K_HASH,
	K_SIZE,
	K_CRC,
	K_CORRUPT,
	K_BAD_HEADER,
	K_OUT_OF_BOUNDS,
	K_MISSING,
	K_BAD_RECORD,
	K_UNINDEXED,
	K_LOST,
	K_NR
};

static const struct {
	const char *name;
	unsigned cls;
} kinds[K_NR] = {
	[K_BAD_LAYOUT] = { "bad-layout", DOS_FSCK_LAYOUT },
	[K_MISSING_INDEX] = { "missing-index", DOS_FSCK_INDEX },
	[K_INDEX_ERROR] = { "index-error", DOS_FSCK_INDEX },
	[K_NO_PACK_LENGTH] = { "no-pack-length", DOS_FSCK_INDEX },
	[K_MISSING_PACK] = { "missing-pack", DOS_FSCK_MISSING },
	[K_TRUNCATED_PACK] = { "truncated-pack", DOS_FSCK_MISSING },
	[K_BAD_PACK_HEADER] = { "bad-pack-header", DOS_FSCK_PACK },
	[K_GARBAGE] = { "garbage", DOS_FSCK_PACK },
	[K_TORN_TAIL] = { "torn-tail", DOS_FSCK_PACK },
	[K_UNFINISHED_PACK] = { "unfinished-pack", DOS_FSCK_PACK },
	[K_UNREADABLE] = { "unreadable", DOS_FSCK_OBJECT },
	[K_BAD_NAME] = { "bad-name", DOS_FSCK_LOOSE },
	[K_STALE_TEMP] = { "stale-temp", DOS_FSCK_LOOSE },
	[K_BAD_FILE] = { "bad-file", DOS_FSCK_OBJECT },
	[K_HASH] = { "hash-mismatch", DOS_FSCK_OBJECT },
	[K_SIZE] = { "size-mismatch", DOS_FSCK_OBJECT },
	[K_CRC] = { "crc-mismatch", DOS_FSCK_OBJECT },
	[K_CORRUPT] = { "corrupt", DOS_FSCK_OBJECT },
	[K_BAD_HEADER] = { "bad-header", DOS_FSCK_PACK },
	[K_OUT_OF_BOUNDS] = { "out-of-bounds", DOS_FSCK_MISSING },
	[K_MISSING] = { "missing", DOS_FSCK_MISSING },
	[K_BAD_RECORD] = { "bad-record", DOS_FSCK_INDEX },
	[K_UNINDEXED] = { "unindexed", DOS_FSCK_INDEX },
	[K_LOST] = { "lost", DOS_FSCK_MISSING },
};

struct finding {
	enum kind kind;
	int has_oid;
	struct dos_oid oid;
	char *path;		/* subject when there is no id */
	uint32_t pack;		/* for ordering: pack and offset */
	uint64_t offset;
	char *detail;
};

/* ---- what a check collects ---- */

enum ent_status {
	ENT_OK,
	ENT_CRC,
	ENT_CORRUPT,
	ENT_SIZE,
	ENT_HASH,
	ENT_BOUNDS,		/* runs past the end of the pack */
	ENT_BAD_HEADER,		/* header damaged; known from the index */
	ENT_IO,
};

enum corrupt_why {
	WHY_UNDECODABLE,
	WHY_TRUNCATED,
	WHY_TRAILING,
	WHY_TOMBSTONE,
};

/* One entry of a pack. */
struct ent {
	struct dos_oid oid;
	uint64_t offset, stored, raw;
	uint64_t actual;	/* ENT_SIZE: decoded size; ENT_IO: errno */
	uint32_t pack, crc;
	unsigned char codec, flags, status, why;
};

/* One index record. */
struct rec {
	struct dos_oid oid;
	struct dos_index_entry e;
};

enum loose_status {
	LOOSE_UNCHECKED,
	LOOSE_OK,
	LOOSE_HASH,
	LOOSE_BAD_FILE,
	LOOSE_IO,
	LOOSE_GONE,		/* removed meanwhile (packed) */
};

struct loose {
	struct dos_oid oid;
	unsigned char status;
	int err;		/* LOOSE_IO: errno */
};

/* A pack being checked. */
struct pack {
	uint32_t num;
	int fd;
	uint64_t size;
	uint64_t committed;	/* from packs.db */
	int has_length;
	uint64_t limit;		/* where its entries end: committed or size */
	uint64_t valid_end;	/* end of its last entry with a good header */
};

struct job {
	struct job *next;
	enum { JOB_CHUNK, JOB_LARGE, JOB_LOOSE } type;
	struct pack *pack;
	unsigned char *buf;	/* JOB_CHUNK: the bytes from base on */
	uint64_t base;
	struct ent *ents;
	size_t n, alloc;
	size_t lo, hi;		/* JOB_LOOSE: items [lo, hi) */
};

/* What each worker thread owns. */
struct worker {
	struct fsck *f;
	pthread_t thread;
	struct dos_decompressor dec;
	struct dos_hasher hasher;
	ZSTD_DCtx *zstd;	/* one-shot decoding of small entries */
	unsigned char *out, *io;
};

struct fsck {
	struct dos_store *st;
	const struct dos_fsck_options *o;
	unsigned what;
	int full;

	struct finding *fs;
	size_t fs_nr, fs_alloc;

	struct rec *recs;	/* the index, in id order */
	size_t recs_nr, recs_alloc;
	size_t *by_off;		/* recs indices by pack and offset, or NULL */
	int index_present, index_ok;

	struct pack *packs;
	size_t packs_nr;
	uint32_t new_packs_from;	/* above every pack listed */
	int writer_active;

	struct loose *loose;
	size_t loose_nr, loose_alloc;

	/* The job queue and the pool of chunk buffers. */
	pthread_mutex_t mu;
	pthread_cond_t work, freed;
	struct job *head, *tail, *done;
	unsigned char **bufs;
	size_t bufs_free;
	int closing;
	struct worker *workers;
	int nworkers;

	uint64_t bytes_done, bytes_total;
	struct dos_fsck_stats stats;
};

static int
add_finding(struct fsck *f, enum kind kind, const struct dos_oid *oid,
    const char *path, uint32_t pack, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static int
add_finding(struct fsck *f, enum kind kind, const struct dos_oid *oid,
    const char *path, uint32_t pack, uint64_t offset, const char *fmt, ...)
{
	struct finding *fd, *grown;
	va_list ap;
	char *detail = NULL;

	grown = dos_grow(f->fs, f->fs_nr, &f->fs_alloc, sizeof *grown, 64);
	if (grown == NULL)
		return DOS_ENOMEM;
	f->fs = grown;
	va_start(ap, fmt);
	if (vasprintf(&detail, fmt, ap) < 0)
		detail = NULL;
	va_end(ap);
	if (detail == NULL)
		return DOS_ENOMEM;
	fd = &f->fs[f->fs_nr];
	memset(fd, 0, sizeof *fd);
	fd->kind = kind;
	fd->has_oid = oid != NULL;
	if (oid != NULL)
		fd->oid = *oid;
	if (path != NULL && (fd->path = strdup(path)) == NULL) {
		free(detail);
		return DOS_ENOMEM;
	}
	fd->pack = pack;
	fd->offset = offset;
	fd->detail = detail;
	f->fs_nr++;
	return 0;
}

/* Compare with runs of digits taken as numbers: packs/9 before packs/10. */
static int
natcmp(const char *a, const char *b)
{
	size_t la, lb;
	int c;

	while (*a != '\0' && *b != '\0') {
		if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
			while (*a == '0' && a[1] >= '0' && a[1] <= '9')
				a++;
			while (*b == '0' && b[1] >= '0' && b[1] <= '9')
				b++;
			la = strspn(a, "0123456789");
			lb = strspn(b, "0123456789");
			if (la != lb)
				return la < lb ? -1 : 1;
			if ((c = strncmp(a, b, la)) != 0)
				return c;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return *a == *b ? 0 : *a == '\0' ? -1 : 1;
}

/* Container paths first, then objects by id; then kind, pack, offset. */
static int
cmp_finding(const void *pa, const void *pb)
{
	const struct finding *a = pa, *b = pb;
	int c;

	if (a->has_oid != b->has_oid)
		return a->has_oid - b->has_oid;
	c = a->has_oid ? dos_oid_cmp(&a->oid, &b->oid) : natcmp(a->path, b->path);
	if (c != 0)
		return c;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->pack != b->pack)
		return a->pack < b->pack ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return strcmp(a->detail, b->detail);
}

static void
free_findings(struct fsck *f)
{
	size_t i;

	for (i = 0; i < f->fs_nr; i++) {
		free(f->fs[i].path);
		free(f->fs[i].detail);
	}
	free(f->fs);
	f->fs = NULL;
	f->fs_nr = f->fs_alloc = 0;
}

static void
progress(struct fsck *f, const char *what, uint64_t done, uint64_t total)
{
	if (f->o->progress != NULL)
		f->o->progress(what, done, total, f->o->data);
}

/* ---- verifying stored bytes (worker threads) ---- */

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
 * In full mode the SHA-256 of raw-stored bytes checks every one of them;
 * their CRC-32 is then needed only to say what is wrong when the hash
 * does not match, and is computed again from the pack in that case.
 */
static void
verify_begin(struct verify *v, struct worker *w, struct pack *p,
    struct ent *e)
{
	v->w = w;
	v->p = p;
	v->e = e;
	v->crc_later = w->f->full && e->codec == DOS_CODEC_NONE;
	v->crc = 0;
	v->produced = 0;
	v->failed = 0;
	if (e->codec != DOS_CODEC_NONE &&
	    dos_decompress_begin(&w->dec, (enum dos_codec)e->codec) < 0) {
		e->status = ENT_CORRUPT;
		e->why = WHY_UNDECODABLE;
		v->failed = 1;
	}
	if (w->f->full)
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
	if (v->w->f->full && hash > 0)
		dos_hasher_update(&v->w->hasher, buf, hash);
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
	uint64_t pos = v->e->offset + DOS_ENTRY_HEADER_SIZE, left = v->e->stored;
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
		if (v->produced == e->raw && dos_oid_cmp(&got, &e->oid) == 0)
			return;
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
	if (v->w->f->full) {
		dos_hasher_final(&v->w->hasher, &got);
		if (dos_oid_cmp(&got, &e->oid) != 0)
			e->status = ENT_HASH;
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
	struct dos_oid got;
	size_t n;

	if (e->codec != DOS_CODEC_ZSTD || e->raw >= OUT_SIZE ||
	    dos_crc32(0, data, (size_t)e->stored) != e->crc ||
	    ZSTD_findFrameCompressedSize(data, (size_t)e->stored) != e->stored)
		return 0;
	n = ZSTD_decompressDCtx(w->zstd, w->out, OUT_SIZE, data,
	    (size_t)e->stored);
	if (ZSTD_isError(n) || n != e->raw)
		return 0;
	if (w->f->full) {
		dos_hasher_reset(&w->hasher);
		dos_hasher_update(&w->hasher, w->out, n);
		dos_hasher_final(&w->hasher, &got);
		if (dos_oid_cmp(&got, &e->oid) != 0)
			e->status = ENT_HASH;
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
	uint64_t pos = e->offset + DOS_ENTRY_HEADER_SIZE, left = e->stored;
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

static void
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
	size_t i;

	switch (j->type) {
	case JOB_CHUNK:
		/* Without --packs only the entry headers matter. */
		for (i = 0; i < j->n && (w->f->what & DOS_FSCK_WHAT_PACKS); i++)
			verify_in_buffer(w, j->pack, &j->ents[i], j->buf +
			    (j->ents[i].offset - j->base) + DOS_ENTRY_HEADER_SIZE);
		release_buffer(w->f, j->buf);
		j->buf = NULL;
		break;
	case JOB_LARGE:
		if (w->f->what & DOS_FSCK_WHAT_PACKS)
			verify_large(w, j->pack, &j->ents[0]);
		break;
	case JOB_LOOSE:
		for (i = j->lo; i < j->hi; i++)
			check_loose_one(w, &w->f->loose[i]);
		break;
	}
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
		pthread_mutex_lock(&f->mu);
		j->next = f->done;
		f->done = j;
		pthread_mutex_unlock(&f->mu);
	}
}

static void
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

static unsigned char *
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
}

static int
start_workers(struct fsck *f, int n)
{
	size_t nbufs = (size_t)n + 2, i;
	int rc = 0;

	f->closing = 0;
	f->head = f->tail = NULL;
	pthread_mutex_init(&f->mu, NULL);
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
static void
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
}

/* ---- the index ---- */

static int
collect_rec(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	struct fsck *f = data;
	struct rec *grown;

	grown = dos_grow(f->recs, f->recs_nr, &f->recs_alloc, sizeof *grown,
	    4096);
	if (grown == NULL)
		return DOS_ENOMEM;
	f->recs = grown;
	f->recs[f->recs_nr].oid = *oid;
	f->recs[f->recs_nr].e = *e;
	f->recs_nr++;
	return 0;
}

static struct rec *by_off_base;

static int
cmp_by_off(const void *pa, const void *pb)
{
	const struct rec *a = &by_off_base[*(const size_t *)pa];
	const struct rec *b = &by_off_base[*(const size_t *)pb];

	if (a->e.pack != b->e.pack)
		return a->e.pack < b->e.pack ? -1 : 1;
	if (a->e.offset != b->e.offset)
		return a->e.offset < b->e.offset ? -1 : 1;
	return dos_oid_cmp(&a->oid, &b->oid);
}

static const char *
index_message(int rc)
{
	return rc == DOS_EINDEX ? dos_index_last_error() : dos_strerror(rc);
}

/* The whole index, in id order. */
static int
load_index(struct fsck *f)
{
	struct dos_index *ix;
	int rc;

	f->index_present = dos_index_exists(f->st->dirfd);
	f->index_ok = 1;
	rc = dos_store_index(f->st, 0, &ix);
	if (rc == 0)
		rc = dos_index_walk(ix, "", 0, collect_rec, f);
	if (rc == DOS_ENOMEM)
		return rc;
	if (rc < 0) {
		f->index_ok = 0;
		if ((rc = add_finding(f, K_INDEX_ERROR, NULL, "index", 0, 0,
		    "%s", index_message(rc))) < 0)
			return rc;
	}
	return 0;
}

/*
 * The records by pack and offset, made on first use: only a damaged entry
 * header needs them.
 */
static int
sort_by_off(struct fsck *f)
{
	size_t i;

	if (f->by_off != NULL)
		return 0;
	if ((f->by_off = malloc((f->recs_nr + 1) * sizeof *f->by_off)) == NULL)
		return DOS_ENOMEM;
	for (i = 0; i < f->recs_nr; i++)
		f->by_off[i] = i;
	/* qsort has no context argument; one check runs at a time. */
	by_off_base = f->recs;
	if (f->recs_nr > 1)
		qsort(f->by_off, f->recs_nr, sizeof *f->by_off, cmp_by_off);
	return 0;
}

/* The record at exactly pack p, offset off, if any. */
static const struct rec *
rec_at(struct fsck *f, const struct pack *p, uint64_t off)
{
	size_t lo = 0, hi = f->recs_nr, mid;
	const struct rec *r;

	if (sort_by_off(f) < 0)
		return NULL;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = &f->recs[f->by_off[mid]];
		if (r->e.pack < p->num ||
		    (r->e.pack == p->num && r->e.offset < off))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == f->recs_nr)
		return NULL;
	r = &f->recs[f->by_off[lo]];
	return r->e.pack == p->num && r->e.offset == off ? r : NULL;
}

/* ---- the loose area ---- */

static int
add_loose(struct fsck *f, const struct dos_oid *oid, unsigned char status)
{
	struct loose *grown;

	grown = dos_grow(f->loose, f->loose_nr, &f->loose_alloc,
	    sizeof *grown, 1024);
	if (grown == NULL)
		return DOS_ENOMEM;
	f->loose = grown;
	f->loose[f->loose_nr].oid = *oid;
	f->loose[f->loose_nr].status = status;
	f->loose[f->loose_nr].err = 0;
	f->loose_nr++;
	return 0;
}

static const char *
file_type(unsigned char d_type, int dirfd, const char *name)
{
	struct stat sb;

	if (d_type == DT_UNKNOWN && fstatat(dirfd, name, &sb,
	    AT_SYMLINK_NOFOLLOW) == 0)
		d_type = S_ISREG(sb.st_mode) ? DT_REG : S_ISDIR(sb.st_mode) ?
		    DT_DIR : S_ISLNK(sb.st_mode) ? DT_LNK : DT_FIFO;
	switch (d_type) {
	case DT_REG:
		return "file";
	case DT_DIR:
		return "directory";
	case DT_LNK:
		return "symbolic link";
	case DT_UNKNOWN:
		return "unknown";
	}
	return "special file";
}

/*
 * One directory of loose/ (shard NULL: loose/ itself when objects are not
 * sharded).  Names that are not objects are reported only when the loose
 * area is being checked; the objects are always listed, because whether
 * an object still has a good copy depends on them.
 */
static int
list_loose_dir(struct fsck *f, const char *shard)
{
	size_t slen = shard != NULL ? strlen(shard) : 0;
	size_t want = DOS_HEXSZ - slen, nlen;
	int report = f->what & DOS_FSCK_WHAT_LOOSE;
	char hex[DOS_HEXSZ], path[512];
	const char *type;
	struct dos_oid oid;
	struct dirent *d;
	DIR *dir;
	int fd, rc = 0;

	fd = shard != NULL ? openat(f->st->loosefd, shard,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) :
	    openat(f->st->loosefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return add_finding(f, K_UNREADABLE, NULL, shard != NULL ?
		    shard : "loose", 0, 0, "%s", strerror(errno));
	}
	if (slen > 0)
		memcpy(hex, shard, slen);
	while (rc == 0 && (d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		nlen = strlen(d->d_name);
		snprintf(path, sizeof path, "loose/%s%s%s", shard ? shard : "",
		    shard ? "/" : "", d->d_name);
		if (nlen != want || !dos_is_lower_hex(d->d_name, nlen)) {
			if (report)
				rc = add_finding(f, K_BAD_NAME, NULL, path, 0, 0,
				    "%s", file_type(d->d_type, fd, d->d_name));
			continue;
		}
		memcpy(hex + slen, d->d_name, want);
		dos_oid_from_hex(&oid, hex, DOS_HEXSZ);
		type = file_type(d->d_type, fd, d->d_name);
		if (strcmp(type, "file") == 0 || strcmp(type, "unknown") == 0)
			rc = add_loose(f, &oid, LOOSE_UNCHECKED);
		else
			rc = add_loose(f, &oid, LOOSE_BAD_FILE);
	}
	closedir(dir);
	return rc;
}

static int
list_loose(struct fsck *f)
{
	size_t p = (size_t)f->st->cfg.loose_prefix_len, nlen;
	int report = f->what & DOS_FSCK_WHAT_LOOSE;
	char path[512];
	struct dirent *d;
	DIR *dir;
	int fd, rc = 0;

	if (p == 0)
		return list_loose_dir(f, NULL);
	fd = openat(f->st->loosefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return add_finding(f, K_UNREADABLE, NULL, "loose", 0, 0, "%s",
		    strerror(errno));
	}
	while (rc == 0 && (d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		nlen = strlen(d->d_name);
		if (nlen == p && dos_is_lower_hex(d->d_name, nlen) &&
		    strcmp(file_type(d->d_type, fd, d->d_name), "directory") == 0) {
			rc = list_loose_dir(f, d->d_name);
		} else if (report) {
			snprintf(path, sizeof path, "loose/%s", d->d_name);
			rc = add_finding(f, K_BAD_NAME, NULL, path, 0, 0, "%s",
			    file_type(d->d_type, fd, d->d_name));
		}
	}
	closedir(dir);
	return rc;
}

/*
 * sandbox/ holds the temp files of writers.  One whose writer is dead (its
 * name says which process made it) or that is older than a day is a
 * leftover.
 */
static int
check_sandbox(struct fsck *f)
{
	char path[512];
	struct dirent *d;
	struct stat sb;
	long pid;
	char *end;
	DIR *dir;
	int fd, rc = 0, dead;

	fd = openat(f->st->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return add_finding(f, K_UNREADABLE, NULL, "sandbox", 0, 0, "%s",
		    strerror(errno));
	}
	while (rc == 0 && (d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (fstatat(fd, d->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* finished meanwhile */
		snprintf(path, sizeof path, "sandbox/%s", d->d_name);
		dead = 0;
		if (strncmp(d->d_name, "obj-", 4) == 0) {
			errno = 0;
			pid = strtol(d->d_name + 4, &end, 10);
			dead = errno == 0 && *end == '-' && pid > 0 &&
			    kill((pid_t)pid, 0) < 0 && errno == ESRCH;
			if (dead)
				rc = add_finding(f, K_STALE_TEMP, NULL, path, 0, 0,
				    "process %ld is gone", pid);
		}
		if (!dead && time(NULL) - sb.st_mtime > STALE_TEMP_AGE)
			rc = add_finding(f, K_STALE_TEMP, NULL, path, 0, 0,
			    "older than 1 day");
	}
	closedir(dir);
	return rc;
}

static int
run_loose_jobs(struct fsck *f)
{
	struct job *j;
	size_t lo;

	for (lo = 0; lo < f->loose_nr; lo += LOOSE_JOB) {
		if ((j = calloc(1, sizeof *j)) == NULL)
			return DOS_ENOMEM;
		j->type = JOB_LOOSE;
		j->lo = lo;
		j->hi = lo + LOOSE_JOB < f->loose_nr ? lo + LOOSE_JOB : f->loose_nr;
		submit(f, j);
	}
	return 0;
}

/* ---- layout and packs ---- */

static int
check_layout(struct fsck *f)
{
	static const char *const dirs[] = { "packs", "index", NULL };
	struct stat sb;
	int i, rc = 0;

	for (i = 0; dirs[i] != NULL && rc == 0; i++) {
		if (fstatat(f->st->dirfd, dirs[i], &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			/* index/ appears with the first pack. */
			if (errno != ENOENT || i == 0)
				rc = add_finding(f, K_BAD_LAYOUT, NULL, dirs[i], 0, 0,
				    "%s", strerror(errno));
		} else if (!S_ISDIR(sb.st_mode)) {
			rc = add_finding(f, K_BAD_LAYOUT, NULL, dirs[i], 0, 0,
			    "not a directory");
		}
	}
	return rc;
}

/* Whether another process holds packs/lock: a writer is at work. */
static int
writer_active(struct fsck *f)
{
	struct flock fl;
	int fd, held;

	fd = openat(f->st->dirfd, "packs/lock", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0)
		return 0;
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	held = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
	close(fd);
	return held;
}

static void
close_packs(struct fsck *f)
{
	size_t i;

	for (i = 0; i < f->packs_nr; i++)
		if (f->packs[i].fd >= 0)
			close(f->packs[i].fd);
	free(f->packs);
	f->packs = NULL;
	f->packs_nr = 0;
}

static struct pack *
find_pack(struct fsck *f, uint32_t num)
{
	size_t lo = 0, hi = f->packs_nr, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (f->packs[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->packs_nr && f->packs[lo].num == num ? &f->packs[lo] : NULL;
}

/* Open every pack and learn its size and committed length. */
static int
open_packs(struct fsck *f)
{
	struct dos_index *ix;
	uint32_t *nums;
	struct stat sb;
	size_t nr, i;
	char path[32];
	int rc;

	if ((rc = dos_pack_list(f->st, &nums, &nr)) < 0)
		return add_finding(f, K_UNREADABLE, NULL, "packs", 0, 0, "%s",
		    dos_strerror(rc));
	if ((f->packs = calloc(nr + 1, sizeof *f->packs)) == NULL) {
		free(nums);
		return DOS_ENOMEM;
	}
	rc = dos_store_index(f->st, 0, &ix);
	for (i = 0; i < nr; i++) {
		struct pack *p = &f->packs[f->packs_nr];
		p->num = nums[i];
		snprintf(path, sizeof path, "packs/%u", p->num);
		if ((p->fd = dos_pack_open(f->st, p->num)) < 0 ||
		    fstat(p->fd, &sb) < 0) {
			if (errno == ENOENT)
				continue;	/* removed meanwhile */
			if ((rc = add_finding(f, K_UNREADABLE, NULL, path, p->num,
			    0, "%s", strerror(errno))) < 0)
				break;
			if (p->fd >= 0)
				close(p->fd);
			continue;
		}
		f->packs_nr++;
		p->size = (uint64_t)sb.st_size;
		p->has_length = rc == 0 &&
		    dos_index_get_pack_length(ix, p->num, &p->committed) == 0;
		p->limit = p->size;
		if (p->has_length && p->committed < p->limit)
			p->limit = p->committed;
		posix_fadvise(p->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	/* dos_pack_list() sorts: a writer numbers new packs upwards. */
	f->new_packs_from = nr > 0 ? nums[nr - 1] + 1 : 0;
	free(nums);
	return rc == DOS_ENOMEM ? rc : 0;
}

static struct ent *
job_ent(struct job *j)
{
	struct ent *grown;

	grown = dos_grow(j->ents, j->n, &j->alloc, sizeof *grown, 256);
	if (grown == NULL)
		return NULL;
	j->ents = grown;
	memset(&j->ents[j->n], 0, sizeof j->ents[j->n]);
	return &j->ents[j->n++];
}

static void
fill_ent(struct ent *e, const struct pack *p, uint64_t off,
    const struct dos_pack_entry *pe)
{
	e->oid = pe->oid;
	e->offset = off;
	e->stored = pe->stored_size;
	e->raw = pe->raw_size;
	e->pack = p->num;
	e->crc = pe->data_crc;
	e->codec = (unsigned char)pe->codec;
	e->flags = (unsigned char)pe->flags;
	e->status = ENT_OK;
}

/* The first offset in buf[from..n) where a well-formed header starts. */
static size_t
find_header(const unsigned char *buf, size_t from, size_t n)
{
	struct dos_pack_entry pe;
	const unsigned char *m;

	while (from < n) {
		m = memmem(buf + from, n - from, "DOSe", 4);
		if (m == NULL)
			return n;
		from = (size_t)(m - buf);
		if (n - from < DOS_ENTRY_HEADER_SIZE ||
		    dos_pack_decode_entry(m, &pe) == 0)
			return from;
		from++;
	}
	return n;
}

struct scan {
	struct fsck *f;
	struct pack *p;
	uint64_t garbage;	/* start of bytes that are no entry, or ~0 */
	struct job *j;		/* entries whose bytes are in the window */
	uint64_t done;		/* where the window was, for progress */
};

#define NO_GARBAGE (~(uint64_t)0)

/*
 * A pack of at most its header that the index has no length for: its
 * creation was cut short (the length is committed right after the header
 * is synced).  It holds nothing, and the next writer takes it over.
 */
static int
is_unfinished(const struct pack *p)
{
	return !p->has_length && p->size <= DOS_PACK_HEADER_SIZE;
}

static int
end_garbage(struct scan *s, uint64_t at)
{
	uint64_t start = s->garbage;
	char path[32];

	if (start == NO_GARBAGE)
		return 0;
	s->garbage = NO_GARBAGE;
	snprintf(path, sizeof path, "packs/%u", s->p->num);
	return add_finding(s->f, K_GARBAGE, NULL, path, s->p->num, start,
	    "offset=%llu length=%llu", (unsigned long long)start,
	    (unsigned long long)(at - start));
}

/* A job for the entries of the next window, and the buffer it reads. */
static int
new_chunk(struct scan *s)
{
	if ((s->j = calloc(1, sizeof *s->j)) == NULL)
		return DOS_ENOMEM;
	s->j->type = JOB_CHUNK;
	s->j->pack = s->p;
	s->j->buf = take_buffer(s->f);
	return 0;
}

/* The window moves on: its entries go to the workers, with its buffer. */
static int
next_chunk(struct dos_pack_scan *ps, void *data)
{
	struct scan *s = data;
	int rc;

	s->f->bytes_done += ps->offset - s->done;
	s->done = ps->offset;
	progress(s->f, "checking packs", s->f->bytes_done, s->f->bytes_total);
	if (s->j->n == 0)
		return 0;	/* nothing points into it: read into it again */
	submit(s->f, s->j);
	if ((rc = new_chunk(s)) < 0)
		return rc;
	ps->buf = s->j->buf;
	return 0;
}

/* An entry larger than a chunk, or running past the end: its own job. */
static int
submit_large(struct scan *s, const struct dos_pack_scan *ps)
{
	struct job *large;
	struct ent *e;

	if ((large = calloc(1, sizeof *large)) == NULL ||
	    (e = job_ent(large)) == NULL) {
		free(large);
		return DOS_ENOMEM;
	}
	large->type = JOB_LARGE;
	large->pack = s->p;
	fill_ent(e, s->p, ps->offset, &ps->entry);
	if (ps->what == DOS_PACK_PAST_END)
		e->status = ENT_BOUNDS;
	else
		s->p->valid_end = ps->next;
	submit(s->f, large);
	return 0;
}

/*
 * Bytes that are no entry header.  When the index has a record there,
 * its sizes say where the entry ends; else they start bytes that are no
 * entry, and the walk goes on at the next good header in the window.
 */
static int
skip_bad_header(struct scan *s, struct dos_pack_scan *ps)
{
	struct pack *p = s->p;
	const struct rec *r = rec_at(s->f, p, ps->offset);
	struct ent *e;
	uint64_t end;
	size_t pos;
	int rc;

	end = r != NULL && r->e.stored_size <= p->limit ? ps->offset +
	    DOS_ENTRY_HEADER_SIZE + r->e.stored_size : p->limit + 1;
	if (end <= p->limit) {
		if ((rc = end_garbage(s, ps->offset)) < 0)
			return rc;
		if ((e = job_ent(s->j)) == NULL)
			return DOS_ENOMEM;
		s->j->base = ps->start;
		e->oid = r->oid;
		e->offset = ps->offset;
		e->stored = r->e.stored_size;
		e->raw = r->e.raw_size;
		e->pack = p->num;
		e->codec = (unsigned char)r->e.codec;
		e->status = ENT_BAD_HEADER;
		dos_pack_scan_seek(ps, end);
		return 0;
	}
	if (s->garbage == NO_GARBAGE)
		s->garbage = ps->offset;
	pos = find_header(ps->buf, (size_t)(ps->offset - ps->start) + 1,
	    ps->len);
	/* None: the last bytes may hold the start of one. */
	if (pos == ps->len && ps->len > DOS_ENTRY_HEADER_SIZE &&
	    ps->start + ps->len < p->limit)
		pos = ps->len - DOS_ENTRY_HEADER_SIZE + 1;
	dos_pack_scan_seek(ps, ps->start + pos);
	return 0;
}

/* One step of the walk: an entry, or what stands where one should. */
static int
scan_step(struct scan *s, struct dos_pack_scan *ps)
{
	struct ent *e;
	int rc;

	switch (ps->what) {
	case DOS_PACK_ENTRY:
	case DOS_PACK_PAST_END:
		if ((rc = end_garbage(s, ps->offset)) < 0)
			return rc;
		if (ps->data == NULL)
			return submit_large(s, ps);
		if ((e = job_ent(s->j)) == NULL)
			return DOS_ENOMEM;
		s->j->base = ps->start;
		fill_ent(e, s->p, ps->offset, &ps->entry);
		s->p->valid_end = ps->next;
		return 0;
	case DOS_PACK_BAD_HEADER:
		return skip_bad_header(s, ps);
	case DOS_PACK_NO_ROOM:
		/* Too short for a header: no entry. */
		if (s->garbage == NO_GARBAGE)
			s->garbage = ps->offset;
		return 0;
	case DOS_PACK_SHORT:
		/* The file shrank under the walk: unreadable, as on EIO. */
		return DOS_EIO;
	}
	return 0;
}

/*
 * Walk one pack front to back, in chunks of whole entries handed to the
 * workers.  A header that fails its checks starts bytes that are no entry;
 * the walk finds the next good header after them.  When the index has a
 * record at the damaged header, its sizes say where the entry ends.
 */
static int
scan_pack(struct fsck *f, struct pack *p)
{
	struct scan s = { f, p, NO_GARBAGE, NULL, DOS_PACK_HEADER_SIZE };
	struct dos_pack_scan ps;
	unsigned char hdr[DOS_PACK_HEADER_SIZE];
	char path[32];
	int rc = 0, saved;

	snprintf(path, sizeof path, "packs/%u", p->num);
	if (!is_unfinished(p) &&
	    (pread(p->fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr ||
	    dos_pack_check_header(p->fd) < 0)) {
		if ((rc = add_finding(f, K_BAD_PACK_HEADER, NULL, path, p->num,
		    0, "%s", "")) < 0)
			return rc;
	}
	p->valid_end = DOS_PACK_HEADER_SIZE;
	if ((rc = new_chunk(&s)) < 0)
		return rc;
	/* All of it up to the limit is committed: no torn tail to tell. */
	dos_pack_scan_begin(&ps, p->fd, p->limit, p->limit, s.j->buf,
	    CHUNK_SIZE);
	ps.refill = next_chunk;
	ps.refill_data = &s;
	while ((rc = dos_pack_scan_next(&ps)) > 0 &&
	    (rc = scan_step(&s, &ps)) == 0)
		;
	saved = errno;
	if (s.j->n > 0) {
		submit(f, s.j);
	} else {
		release_buffer(f, s.j->buf);
		free(s.j);
	}
	if (rc == DOS_EIO)
		return add_finding(f, K_UNREADABLE, NULL, path, p->num,
		    ps.offset, "offset=%llu: %s", (unsigned long long)ps.offset,
		    ps.what == DOS_PACK_SHORT ? "shorter than it was" :
		    strerror(saved));
	if (rc < 0)
		return rc;
	f->bytes_done += p->limit - s.done;
	progress(f, "checking packs", f->bytes_done, f->bytes_total);
	return end_garbage(&s, p->limit);
}

/*
 * Bytes past a pack's committed length (all of a pack without one) are
 * left by a killed writer only if they still are once the check is over:
 * a writer that started after the check began may have appended them (or
 * created the pack), and may have committed them since.
 */
static int
still_uncommitted(struct fsck *f, const struct pack *p)
{
	struct dos_index *ix;
	uint64_t committed;

	if (f->writer_active || writer_active(f))
		return 0;
	return dos_store_index(f->st, 0, &ix) < 0 ||
	    dos_index_get_pack_length(ix, p->num, &committed) < 0 ||
	    committed < p->size;
}

/*
 * Whether a writer changed the packs since they were measured: one is at
 * work, or was when the check began, a pack's committed length moved, or
 * a pack appeared.  Every change to the index holds packs/lock and moves a
 * committed length (or makes a pack), so when none of this happened, the
 * index did not change since the lengths were read either.
 */
static int
packs_moved_on(struct fsck *f)
{
	struct dos_index *ix;
	uint32_t *nums;
	uint64_t committed;
	size_t nr, i;
	int moved = 0, has;

	if (f->writer_active || writer_active(f))
		return 1;
	if (dos_store_index(f->st, 0, &ix) < 0 ||
	    dos_pack_list(f->st, &nums, &nr) < 0)
		return 1;
	moved = nr > 0 && nums[nr - 1] >= f->new_packs_from;
	free(nums);
	for (i = 0; i < f->packs_nr && !moved; i++) {
		struct pack *p = &f->packs[i];
		has = dos_index_get_pack_length(ix, p->num, &committed) == 0;
		moved = has != p->has_length || (has && committed != p->committed);
	}
	return moved;
}

/*
 * An entry that neither a record nor a later tombstone names was found
 * unindexed.  Unless the packs stayed as measured, a writer may have
 * packed it after the index was read and then deleted it, its tombstone
 * past what was scanned: this check cannot tell, and leaves it to the next.
 */
static void
drop_unsure_unindexed(struct fsck *f)
{
	size_t i, kept = 0;

	for (i = 0; i < f->fs_nr && f->fs[i].kind != K_UNINDEXED; i++)
		;
	if (i == f->fs_nr || !packs_moved_on(f))
		return;
	for (i = 0; i < f->fs_nr; i++) {
		if (f->fs[i].kind == K_UNINDEXED) {
			free(f->fs[i].path);
			free(f->fs[i].detail);
		} else {
			f->fs[kept++] = f->fs[i];
		}
	}
	f->fs_nr = kept;
}

/* Findings about each pack as a whole. */
static int
check_pack_lengths(struct fsck *f)
{
	char path[32];
	size_t i;
	int rc = 0;

	for (i = 0; i < f->packs_nr && rc == 0; i++) {
		struct pack *p = &f->packs[i];
		snprintf(path, sizeof path, "packs/%u", p->num);
		if (is_unfinished(p)) {
			if (still_uncommitted(f, p))
				rc = add_finding(f, K_UNFINISHED_PACK, NULL, path,
				    p->num, 0, "length=%llu",
				    (unsigned long long)p->size);
		} else if (!p->has_length) {
			if (f->index_present && f->index_ok &&
			    p->valid_end > DOS_PACK_HEADER_SIZE)
				rc = add_finding(f, K_NO_PACK_LENGTH, NULL, path,
				    p->num, 0, "%s", "");
		} else if (p->committed > p->size) {
			rc = add_finding(f, K_TRUNCATED_PACK, NULL, path, p->num,
			    0, "length=%llu committed=%llu",
			    (unsigned long long)p->size,
			    (unsigned long long)p->committed);
		} else if (p->committed < p->size && still_uncommitted(f, p)) {
			rc = add_finding(f, K_TORN_TAIL, NULL, path, p->num,
			    p->committed, "offset=%llu length=%llu",
			    (unsigned long long)p->committed,
			    (unsigned long long)(p->size - p->committed));
		}
	}
	return rc;
}

/* ---- the cross-check ---- */

static int
cmp_ent(const void *pa, const void *pb)
{
	const struct ent *a = pa, *b = pb;
	int c = dos_oid_cmp(&a->oid, &b->oid);

	if (c != 0)
		return c;
	if (a->pack != b->pack)
		return a->pack < b->pack ? -1 : 1;
	return a->offset < b->offset ? -1 : a->offset > b->offset;
}

static int
cmp_loose(const void *pa, const void *pb)
{
	return dos_oid_cmp(&((const struct loose *)pa)->oid,
	    &((const struct loose *)pb)->oid);
}

static const char *
why_text(const struct ent *e)
{
	switch (e->why) {
	case WHY_TRUNCATED:
		return "the stream ends early";
	case WHY_TRAILING:
		return "data after the end of the stream";
	case WHY_TOMBSTONE:
		return "a tombstone that holds data";
	}
	return "undecodable";
}

/* The finding for one damaged entry. */
static int
report_ent(struct fsck *f, const struct ent *e)
{
	unsigned long long off = (unsigned long long)e->offset;

	switch ((enum ent_status)e->status) {
	case ENT_OK:
		return 0;
	case ENT_CRC:
		return add_finding(f, K_CRC, &e->oid, NULL, e->pack, e->offset,
		    "pack %u offset=%llu", e->pack, off);
	case ENT_CORRUPT:
		return add_finding(f, K_CORRUPT, &e->oid, NULL, e->pack,
		    e->offset, "pack %u offset=%llu %s: %s", e->pack, off,
		    dos_codec_name((enum dos_codec)e->codec), why_text(e));
	case ENT_SIZE:
		return add_finding(f, K_SIZE, &e->oid, NULL, e->pack, e->offset,
		    "pack %u offset=%llu expected=%llu actual=%llu", e->pack, off,
		    (unsigned long long)e->raw, (unsigned long long)e->actual);
	case ENT_HASH:
		return add_finding(f, K_HASH, &e->oid, NULL, e->pack, e->offset,
		    "pack %u offset=%llu", e->pack, off);
	case ENT_BOUNDS:
		return add_finding(f, K_OUT_OF_BOUNDS, &e->oid, NULL, e->pack,
		    e->offset, "pack %u offset=%llu length=%llu", e->pack, off,
		    (unsigned long long)(DOS_ENTRY_HEADER_SIZE + e->stored));
	case ENT_BAD_HEADER:
		return add_finding(f, K_BAD_HEADER, &e->oid, NULL, e->pack,
		    e->offset, "pack %u offset=%llu", e->pack, off);
	case ENT_IO:
		return add_finding(f, K_UNREADABLE, &e->oid, NULL, e->pack,
		    e->offset, "pack %u offset=%llu: %s", e->pack, off,
		    strerror((int)e->actual));
	}
	return 0;
}

static int
report_loose(struct fsck *f, const struct loose *l)
{
	char name[DOS_HEXSZ + 2];

	dos_loose_name(f->st, &l->oid, name, sizeof name);
	switch ((enum loose_status)l->status) {
	case LOOSE_HASH:
		return add_finding(f, K_HASH, &l->oid, NULL, 0, 0, "loose/%s",
		    name);
	case LOOSE_BAD_FILE:
		return add_finding(f, K_BAD_FILE, &l->oid, NULL, 0, 0,
		    "loose/%s not a regular file", name);
	case LOOSE_IO:
		return add_finding(f, K_UNREADABLE, &l->oid, NULL, 0, 0,
		    "loose/%s: %s", name, strerror(l->err));
	default:
		return 0;
	}
}

/* Everything known about one id, gathered by the merge. */
struct group {
	const struct dos_oid *oid;
	struct ent *ents;	/* in write order */
	size_t n;
	const struct rec *rec;
	struct loose *loose;
};

/* Entries from this one on are not deleted: none after a tombstone. */
static size_t
live_from(const struct group *g)
{
	size_t i, from = 0;

	for (i = 0; i < g->n; i++)
		if (g->ents[i].flags & DOS_ENTRY_TOMBSTONE)
			from = i + 1;
	return from;
}

static int
ent_good(const struct ent *e)
{
	return e->status == ENT_OK && !(e->flags & DOS_ENTRY_TOMBSTONE);
}

/* The entry the record points at, if there is one. */
static struct ent *
rec_target(const struct group *g)
{
	size_t i;

	if (g->rec == NULL)
		return NULL;
	for (i = 0; i < g->n; i++)
		if (g->ents[i].pack == g->rec->e.pack &&
		    g->ents[i].offset == g->rec->e.offset &&
		    !(g->ents[i].flags & DOS_ENTRY_TOMBSTONE))
			return &g->ents[i];
	return NULL;
}

/*
 * An entry at or past what was scanned of its pack (its committed length
 * when measured) was appended by a writer at work during the check, whose
 * record was read before the writer committed it.  Fine while the writer
 * is still at work, or once its batch is committed.
 */
static int
appended_during_check(struct fsck *f, const struct dos_index_entry *e)
{
	struct pack *p = find_pack(f, e->pack);
	struct dos_index *ix;
	uint64_t committed;

	if (p == NULL || e->offset < p->limit || e->offset >= p->size)
		return 0;
	if (f->writer_active || writer_active(f))
		return 1;
	return dos_store_index(f->st, 0, &ix) == 0 &&
	    dos_index_get_pack_length(ix, p->num, &committed) == 0 &&
	    e->offset + DOS_ENTRY_HEADER_SIZE + e->stored_size <= committed;
}

/* Why a record is wrong, or NULL if it points at its entry. */
static const char *
rec_problem(struct fsck *f, const struct group *g, enum kind *kind)
{
	const struct rec *r = g->rec;
	struct ent *t = rec_target(g);
	struct pack *p = find_pack(f, r->e.pack);

	*kind = K_BAD_RECORD;
	if (t != NULL)
		return t->codec != r->e.codec || t->raw != r->e.raw_size ||
		    t->stored != r->e.stored_size ?
		    "the entry there has other sizes" : NULL;
	if (p == NULL) {
		*kind = K_MISSING;
		return "";
	}
	if (appended_during_check(f, &r->e))
		return NULL;
	if (r->e.offset + DOS_ENTRY_HEADER_SIZE + r->e.stored_size > p->size ||
	    r->e.stored_size > p->size) {
		*kind = K_OUT_OF_BOUNDS;
		return "";
	}
	return "no entry of this object there";
}

/*
 * Is the record still what it was?  A writer, packer or collector at work
 * while the check ran may have changed it; only a record that did not
 * change is reported.
 */
static int
rec_unchanged(struct fsck *f, const struct dos_oid *oid,
    const struct dos_index_entry *was)
{
	struct dos_index_entry now;
	struct dos_index *ix;
	int rc;

	if (dos_store_index(f->st, 0, &ix) < 0)
		return 1;
	rc = dos_index_get(ix, oid, &now);
	if (was == NULL)
		return rc == DOS_ENOTFOUND;
	return rc == 0 && now.pack == was->pack && now.offset == was->offset;
}

static int
check_group(struct fsck *f, struct group *g)
{
	unsigned long long off;
	struct ent *t;
	const char *why;
	enum kind kind;
	size_t i, from = live_from(g);
	int rc = 0, live, good = 0;

	t = rec_target(g);
	/*
	 * Damage matters in the entry the index points at, or in entries
	 * that may be the object's only copy; the others are garbage that
	 * repack drops anyway.
	 */
	for (i = 0; i < g->n && rc == 0; i++)
		if (&g->ents[i] == t || (g->rec == NULL && i >= from))
			rc = report_ent(f, &g->ents[i]);
	if (g->loose != NULL && rc == 0)
		rc = report_loose(f, g->loose);
	if (rc < 0)
		return rc;
	live = g->rec != NULL || (g->loose != NULL &&
	    g->loose->status != LOOSE_GONE);
	for (i = from; i < g->n; i++)
		good |= ent_good(&g->ents[i]);
	if (t != NULL)
		good |= ent_good(t);
	if (g->loose != NULL)
		good |= g->loose->status == LOOSE_OK ||
		    g->loose->status == LOOSE_UNCHECKED;
	if (f->what & DOS_FSCK_WHAT_INDEX) {
		if (g->rec != NULL &&
		    (why = rec_problem(f, g, &kind)) != NULL &&
		    rec_unchanged(f, g->oid, &g->rec->e)) {
			off = (unsigned long long)g->rec->e.offset;
			if (kind == K_OUT_OF_BOUNDS)
				rc = add_finding(f, kind, g->oid, NULL,
				    g->rec->e.pack, g->rec->e.offset,
				    "pack %u offset=%llu length=%llu",
				    g->rec->e.pack, off, (unsigned long long)
				    (DOS_ENTRY_HEADER_SIZE + g->rec->e.stored_size));
			else
				rc = add_finding(f, kind, g->oid, NULL,
				    g->rec->e.pack, g->rec->e.offset,
				    "pack %u offset=%llu%s%s", g->rec->e.pack, off,
				    *why != '\0' ? " " : "", why);
		} else if (g->rec == NULL && from < g->n && f->index_present &&
		    f->index_ok && !(g->ents[g->n - 1].flags &
		    DOS_ENTRY_TOMBSTONE) && rec_unchanged(f, g->oid, NULL)) {
			/* A live entry the index lost. */
			live = 1;
			off = (unsigned long long)g->ents[g->n - 1].offset;
			rc = add_finding(f, K_UNINDEXED, g->oid, NULL,
			    g->ents[g->n - 1].pack, g->ents[g->n - 1].offset,
			    "pack %u offset=%llu", g->ents[g->n - 1].pack, off);
		}
	}
	/* A record that changed meanwhile points at a copy made since. */
	if (rc == 0 && live && !good && (g->rec == NULL ||
	    (rec_unchanged(f, g->oid, &g->rec->e) &&
	    !appended_during_check(f, &g->rec->e))))
		rc = add_finding(f, K_LOST, g->oid, NULL, 0, 0, "%s", "");
	for (i = 0; i < g->n; i++)
		if (&g->ents[i] != t) {
			f->stats.garbage_entries++;
			f->stats.garbage_bytes += DOS_ENTRY_HEADER_SIZE +
			    g->ents[i].stored;
		}
	if (live)
		f->stats.objects++;
	return rc;
}

struct all_ents {
	struct ent *v;
	size_t n;
};

/*
 * Sort entries by id, then pack and offset, without qsort's n log n
 * comparisons: an in-place bucket sort on the ids' buckets, then an
 * insertion sort (see dos_oid_bucket_bits).
 */
static int
sort_ents(struct ent *v, size_t n)
{
	unsigned bits = dos_oid_bucket_bits(n), b, k;
	size_t *start, *next, i, j;
	struct ent tmp;

	if ((start = calloc(2 * ((size_t)1 << bits) + 1, sizeof *start)) == NULL)
		return DOS_ENOMEM;
	next = start + ((size_t)1 << bits) + 1;
	for (i = 0; i < n; i++)
		start[dos_oid_bucket(&v[i].oid, bits) + 1]++;
	for (b = 0; b < (1U << bits); b++) {
		start[b + 1] += start[b];
		next[b] = start[b];
	}
	/* Each entry is swapped straight into its bucket. */
	for (b = 0; b < (1U << bits); b++)
		while (next[b] < start[b + 1]) {
			k = dos_oid_bucket(&v[next[b]].oid, bits);
			if (k == b) {
				next[b]++;
				continue;
			}
			tmp = v[next[k]];
			v[next[k]++] = v[next[b]];
			v[next[b]] = tmp;
		}
	free(start);
	for (j = 1; j < n; j++) {
		if (cmp_ent(&v[j - 1], &v[j]) <= 0)
			continue;
		tmp = v[j];
		for (i = j; i > 0 && cmp_ent(&v[i - 1], &tmp) > 0; i--)
			v[i] = v[i - 1];
		v[i] = tmp;
	}
	return 0;
}

/* Gather the entries of every job, sorted by id, then pack and offset. */
static int
gather(struct fsck *f, struct all_ents *a)
{
	struct job *j, *next;
	size_t n = 0;

	for (j = f->done; j != NULL; j = j->next)
		if (j->type != JOB_LOOSE)
			n += j->n;
	if ((a->v = malloc((n + 1) * sizeof *a->v)) == NULL)
		return DOS_ENOMEM;
	a->n = 0;
	for (j = f->done; j != NULL; j = next) {
		next = j->next;
		if (j->type != JOB_LOOSE && j->n > 0) {
			memcpy(a->v + a->n, j->ents, j->n * sizeof *j->ents);
			a->n += j->n;
		}
		free(j->ents);
		free(j);
	}
	f->done = NULL;
	return sort_ents(a->v, a->n);
}

/* Merge the entries, the records and the loose objects by id. */
typedef int group_fn(struct fsck *f, struct group *g, void *data);

static int
merge(struct fsck *f, struct all_ents *a, group_fn *fn, void *data)
{
	size_t ie = 0, ir = 0, il = 0;
	const struct dos_oid *min;
	struct group g;
	int rc = 0;

	while (rc == 0 && (ie < a->n || ir < f->recs_nr || il < f->loose_nr)) {
		min = NULL;
		if (ie < a->n)
			min = &a->v[ie].oid;
		if (ir < f->recs_nr && (min == NULL ||
		    dos_oid_cmp(&f->recs[ir].oid, min) < 0))
			min = &f->recs[ir].oid;
		if (il < f->loose_nr && (min == NULL ||
		    dos_oid_cmp(&f->loose[il].oid, min) < 0))
			min = &f->loose[il].oid;
		memset(&g, 0, sizeof g);
		g.oid = min;
		g.ents = &a->v[ie];
		while (ie < a->n && dos_oid_cmp(&a->v[ie].oid, min) == 0) {
			ie++;
			g.n++;
		}
		if (ir < f->recs_nr && dos_oid_cmp(&f->recs[ir].oid, min) == 0)
			g.rec = &f->recs[ir++];
		if (il < f->loose_nr && dos_oid_cmp(&f->loose[il].oid, min) == 0)
			g.loose = &f->loose[il++];
		rc = fn(f, &g, data);
	}
	return rc;
}

static int
check_group_cb(struct fsck *f, struct group *g, void *data)
{
	return check_group(f, g);
}

/*
 * Whether a record of by_off[from..to) still points where it did: a
 * repack deletes a pack once it has moved every record out of it, maybe
 * while the check ran.
 */
static int
pack_still_used(struct fsck *f, size_t from, size_t to)
{
	const struct rec *r;

	for (; from < to; from++) {
		r = &f->recs[f->by_off[from]];
		if (rec_unchanged(f, &r->oid, &r->e))
			return 1;
	}
	return 0;
}

static int
check_missing_packs(struct fsck *f)
{
	uint32_t num;
	size_t i, end;
	char path[32];
	int rc;

	/* Usually every record's pack is there, and nothing need be sorted. */
	for (i = 0; i < f->recs_nr; i++)
		if (find_pack(f, f->recs[i].e.pack) == NULL)
			break;
	if (i == f->recs_nr)
		return 0;
	/*
	 * Records in pack order, so that each pack's are together: each
	 * missing pack is looked at once, however many packs the index names.
	 */
	if ((rc = sort_by_off(f)) < 0)
		return rc;
	for (i = 0; i < f->recs_nr && rc == 0; i = end) {
		num = f->recs[f->by_off[i]].e.pack;
		for (end = i + 1; end < f->recs_nr &&
		    f->recs[f->by_off[end]].e.pack == num; end++)
			;
		if (find_pack(f, num) != NULL)
			continue;
		snprintf(path, sizeof path, "packs/%u", num);
		if (faccessat(f->st->dirfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
		    !pack_still_used(f, i, end))
			continue;	/* created, or emptied and deleted, meanwhile */
		rc = add_finding(f, K_MISSING_PACK, NULL, path, num, 0, "%s", "");
	}
	return rc;
}

/* ---- one whole check ---- */

struct result {
	struct all_ents ents;
};

static void
reset_check(struct fsck *f, struct result *res)
{
	free(res->ents.v);
	res->ents.v = NULL;
	res->ents.n = 0;
	free(f->recs);
	f->recs = NULL;
	f->recs_nr = f->recs_alloc = 0;
	free(f->by_off);
	f->by_off = NULL;
	free(f->loose);
	f->loose = NULL;
	f->loose_nr = f->loose_alloc = 0;
	close_packs(f);
	free_findings(f);
}

static int
check(struct fsck *f, struct result *res)
{
	size_t i;
	int rc, jobs = f->o->jobs > 0 ? f->o->jobs : 1;

	memset(&f->stats, 0, sizeof f->stats);
	f->writer_active = writer_active(f);
	if ((rc = check_layout(f)) < 0)
		return rc;
	/* The index first: lengths read later cover every record. */
	if ((rc = load_index(f)) < 0)
		return rc;
	if ((rc = open_packs(f)) < 0)
		return rc;
	if ((rc = list_loose(f)) < 0)
		return rc;
	if ((f->what & DOS_FSCK_WHAT_LOOSE) && (rc = check_sandbox(f)) < 0)
		return rc;
	if (!f->index_present && f->index_ok) {
		for (i = 0; i < f->packs_nr; i++)
			if (f->packs[i].size > DOS_PACK_HEADER_SIZE)
				break;
		if (i < f->packs_nr && (rc = add_finding(f, K_MISSING_INDEX,
		    NULL, "index", 0, 0, "packs.db does not exist")) < 0)
			return rc;
	}
	f->bytes_total = 0;
	f->bytes_done = 0;
	for (i = 0; i < f->packs_nr; i++)
		f->bytes_total += f->packs[i].limit;
	if ((rc = start_workers(f, jobs)) < 0) {
		stop_workers(f);
		return rc;
	}
	if (f->what & DOS_FSCK_WHAT_LOOSE)
		rc = run_loose_jobs(f);
	for (i = 0; i < f->packs_nr && rc == 0; i++)
		rc = scan_pack(f, &f->packs[i]);
	stop_workers(f);
	if (rc < 0)
		return rc;
	f->stats.packs = f->packs_nr;
	f->stats.loose = f->loose_nr;
	if ((rc = gather(f, &res->ents)) < 0)
		return rc;
	f->stats.entries = res->ents.n;
	for (i = 0; i < f->packs_nr; i++)
		f->stats.bytes += f->packs[i].limit;
	if (!(f->what & DOS_FSCK_WHAT_PACKS))
		for (i = 0; i < res->ents.n; i++)
			if (res->ents.v[i].status != ENT_BAD_HEADER &&
			    res->ents.v[i].status != ENT_BOUNDS)
				res->ents.v[i].status = ENT_OK;
	if (f->loose_nr > 1)
		qsort(f->loose, f->loose_nr, sizeof *f->loose, cmp_loose);
	if ((f->what & DOS_FSCK_WHAT_PACKS) && (rc = check_pack_lengths(f)) < 0)
		return rc;
	if ((f->what & DOS_FSCK_WHAT_INDEX) && (rc = check_missing_packs(f)) < 0)
		return rc;
	if ((rc = merge(f, &res->ents, check_group_cb, NULL)) < 0)
		return rc;
	drop_unsure_unindexed(f);
	return 0;
}

/* Sort, report, and OR the classes together. */
static unsigned
report_all(struct fsck *f)
{
	struct dos_fsck_finding out;
	char hex[DOS_HEXSZ + 1];
	unsigned mask = 0;
	size_t i;

	if (f->fs_nr > 1)
		qsort(f->fs, f->fs_nr, sizeof *f->fs, cmp_finding);
	for (i = 0; i < f->fs_nr; i++) {
		const struct finding *fd = &f->fs[i];
		if (i > 0 && cmp_finding(fd, &f->fs[i - 1]) == 0)
			continue;
		out.kind = kinds[fd->kind].name;
		out.cls = kinds[fd->kind].cls;
		out.subject = fd->has_oid ? dos_oid_to_hex(&fd->oid, hex) :
		    fd->path;
		out.detail = fd->detail;
		mask |= out.cls;
		f->stats.problems++;
		if (f->o->report != NULL)
			f->o->report(&out, f->o->data);
	}
	return mask;
}

/* ---- repair ---- */

struct repair {
	struct fsck *f;
	int rebuild;		/* write a fresh index instead of patching */
	struct dos_index *ix;	/* the index being written */
	size_t txn_nr;		/* records in the open transaction */
	uint64_t records;	/* records a rebuild wrote */
	struct dos_oid *heal;	/* damaged packed, good loose: pack again */
	size_t heal_nr, heal_alloc;
	struct dos_oid *lost;	/* records dropped with no copy left */
	size_t lost_nr, lost_alloc;
	int lockfd;
};

static void
note(struct fsck *f, const char *kind, const char *subject, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
note(struct fsck *f, const char *kind, const char *subject, const char *fmt,
    ...)
{
	struct dos_fsck_finding out;
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	out.kind = kind;
	out.cls = 0;
	out.subject = subject;
	out.detail = detail;
	if (f->o->repaired != NULL)
		f->o->repaired(&out, f->o->data);
}

static int
push_oid(struct dos_oid **v, size_t *nr, size_t *alloc,
    const struct dos_oid *oid)
{
	struct dos_oid *grown = dos_grow(*v, *nr, alloc, sizeof *grown, 64);

	if (grown == NULL)
		return DOS_ENOMEM;
	*v = grown;
	(*v)[(*nr)++] = *oid;
	return 0;
}

/*
 * Take packs/lock as the pack writer does, waiting for a writer at work:
 * nothing else appends to packs or writes the index while we repair.
 */
static int
lock_packs(struct fsck *f, int *lockfd)
{
	struct flock fl;

	*lockfd = openat(f->st->dirfd, "packs/lock",
	    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (*lockfd < 0)
		return DOS_EIO;
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	while (fcntl(*lockfd, F_SETLKW, &fl) < 0)
		if (errno != EINTR)
			return DOS_EIO;
	return 0;
}

/* Move a file of the container into lost-found/, under a free name. */
static int
move_aside(struct fsck *f, const char *path, const char *base)
{
	char dest[512];
	int i;

	if (mkdirat(f->st->dirfd, "lost-found", 0777) < 0 && errno != EEXIST)
		return DOS_EIO;
	for (i = 0; i < 1000; i++) {
		if (i == 0)
			snprintf(dest, sizeof dest, "lost-found/%s", base);
		else
			snprintf(dest, sizeof dest, "lost-found/%s.%d", base, i);
		if (renameat2(f->st->dirfd, path, f->st->dirfd, dest,
		    RENAME_NOREPLACE) == 0) {
			note(f, "moved", path, "to %s", dest);
			return dos_fsync_dir("fsck-lost-found-fsync", f->st->dirfd,
			    "lost-found");
		}
		if (errno != EEXIST)
			return errno == ENOENT ? 0 : DOS_EIO;
	}
	errno = EEXIST;
	return DOS_EIO;
}

/* Stray names in loose/ go aside; stale temp files go. */
static int
repair_loose_area(struct repair *rp)
{
	struct fsck *f = rp->f;
	char base[512], *p;
	size_t i;
	int rc = 0;

	for (i = 0; i < f->fs_nr && rc == 0; i++) {
		const struct finding *fd = &f->fs[i];
		if (fd->kind == K_BAD_NAME) {
			snprintf(base, sizeof base, "%s", fd->path + strlen("loose/"));
			for (p = base; *p != '\0'; p++)
				if (*p == '/')
					*p = '-';
			rc = move_aside(f, fd->path, base);
		} else if (fd->kind == K_STALE_TEMP) {
			if (unlinkat(f->st->dirfd, fd->path, 0) == 0)
				note(f, "removed", fd->path, "%s", "");
			else if (errno != ENOENT)
				rc = DOS_EIO;
		}
	}
	return rc;
}

static int
index_txn(struct repair *rp)
{
	int rc;

	if (rp->txn_nr == 0 && (rc = dos_index_begin(rp->ix)) < 0)
		return rc;
	if (++rp->txn_nr < INDEX_TXN_RECORDS)
		return 0;
	rp->txn_nr = 0;
	return dos_index_commit(rp->ix);
}

static int
index_put(struct repair *rp, const struct dos_oid *oid, const struct ent *e)
{
	struct dos_index_entry ie = { e->pack, (enum dos_codec)e->codec,
	    e->offset, e->stored, e->raw };
	int rc;

	if ((rc = index_txn(rp)) < 0)
		return rc;
	return dos_index_put(rp->ix, oid, &ie);
}

static int
index_del(struct repair *rp, const struct dos_oid *oid)
{
	int rc;

	if ((rc = index_txn(rp)) < 0)
		return rc;
	rc = dos_index_del(rp->ix, oid);
	return rc == DOS_ENOTFOUND ? 0 : rc;
}

/*
 * The record an id should have: its last good entry after its last
 * tombstone; failing that, the damaged entry its record points at, or its
 * last entry with a sound header, so a damaged object stays listed (and
 * reported) instead of silently vanishing.
 */
static struct ent *
wanted(const struct group *g)
{
	struct ent *t = rec_target(g), *damaged = NULL;
	size_t i, from = live_from(g);

	for (i = g->n; i > from; i--)
		if (ent_good(&g->ents[i - 1]))
			return &g->ents[i - 1];
	if (t != NULL && t >= &g->ents[from] && t->status != ENT_BOUNDS)
		return t;
	for (i = g->n; i > from; i--)
		if (g->ents[i - 1].status != ENT_BAD_HEADER &&
		    g->ents[i - 1].status != ENT_BOUNDS &&
		    !(g->ents[i - 1].flags & DOS_ENTRY_TOMBSTONE)) {
			damaged = &g->ents[i - 1];
			break;
		}
	return damaged;
}

static int
repair_group(struct fsck *f, struct group *g, void *data)
{
	struct repair *rp = data;
	struct ent *w = wanted(g), *t = rec_target(g);
	char hex[DOS_HEXSZ + 1], path[DOS_HEXSZ + 16];
	int loose_good = g->loose != NULL && (g->loose->status == LOOSE_OK ||
	    g->loose->status == LOOSE_UNCHECKED);
	int packed_good = w != NULL && ent_good(w);
	int live = g->rec != NULL || w != NULL || (g->loose != NULL &&
	    g->loose->status != LOOSE_GONE);
	int rc;

	dos_oid_to_hex(g->oid, hex);
	if (g->loose != NULL && (g->loose->status == LOOSE_HASH ||
	    g->loose->status == LOOSE_BAD_FILE)) {
		/* Readers look loose first: a damaged file hides the pack. */
		memcpy(path, "loose/", 6);
		dos_loose_name(f->st, g->oid, path + 6, sizeof path - 6);
		if ((rc = move_aside(f, path, hex)) < 0)
			return rc;
	}
	if (live && !packed_good && !loose_good &&
	    (rc = push_oid(&rp->lost, &rp->lost_nr, &rp->lost_alloc,
	    g->oid)) < 0)
		return rc;
	if (w != NULL && !packed_good && loose_good) {
		/* The good loose copy goes into the pack again. */
		if ((rc = push_oid(&rp->heal, &rp->heal_nr, &rp->heal_alloc,
		    g->oid)) < 0)
			return rc;
		w = NULL;
	}
	if (w == NULL) {
		if (g->rec == NULL)
			return 0;
		if (!rp->rebuild && (rc = index_del(rp, g->oid)) < 0)
			return rc;
		note(f, "dropped-record", hex, "pack %u offset=%llu",
		    g->rec->e.pack, (unsigned long long)g->rec->e.offset);
		return 0;
	}
	if (!rp->rebuild && w == t && t->codec == g->rec->e.codec &&
	    t->raw == g->rec->e.raw_size && t->stored == g->rec->e.stored_size)
		return 0;
	if ((rc = index_put(rp, g->oid, w)) < 0)
		return rc;
	rp->records++;
	if (!rp->rebuild)
		note(f, "set-record", hex, "pack %u offset=%llu", w->pack,
		    (unsigned long long)w->offset);
	return 0;
}

/* Remove a directory tree (an old index environment). */
static void
remove_tree(int dirfd, const char *name)
{
	struct dirent *d;
	DIR *dir;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0) {
		unlinkat(dirfd, name, 0);
		return;
	}
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, d->d_name, 0) < 0 && errno == EISDIR)
			remove_tree(fd, d->d_name);
		else if (errno == EISDIR || errno == EPERM)
			remove_tree(fd, d->d_name);
	}
	closedir(dir);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

/*
 * A fresh index is built in index.new/index, a complete environment of
 * its own that no other process knows, and then swapped with index/ in
 * one atomic renameat2(RENAME_EXCHANGE): every process opening the index
 * sees the old one or the new one, never a mixture.  A crash before the
 * swap leaves index/ as it was (and index.new/, removed by the next
 * repair); a crash after it leaves the new index in place.  The index can
 * always be rebuilt from the packs, so no crash loses anything.
 */
static int
open_new_index(struct repair *rp, struct dos_store *tmp)
{
	struct fsck *f = rp->f;
	size_t len = strlen(f->st->path) + sizeof "/index.new";
	int rc;

	remove_tree(f->st->dirfd, "index.new");
	if (mkdirat(f->st->dirfd, "index.new", 0777) < 0)
		return DOS_EIO;
	/* dos_index_open() makes <path>/index: give it index.new/ as path. */
	if ((tmp->path = malloc(len)) == NULL)
		return DOS_ENOMEM;
	snprintf(tmp->path, len, "%s/index.new", f->st->path);
	tmp->dirfd = openat(f->st->dirfd, "index.new", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (tmp->dirfd < 0)
		return DOS_EIO;
	if ((rc = dos_index_open(tmp, 1, &rp->ix)) < 0)
		return rc;
	return 0;
}

static int
swap_in_index(struct repair *rp)
{
	struct fsck *f = rp->f;
	int rc;

	rc = renameat2(f->st->dirfd, "index.new/index", f->st->dirfd, "index",
	    RENAME_EXCHANGE);
	if (rc < 0 && errno == ENOENT)
		rc = renameat2(f->st->dirfd, "index.new/index", f->st->dirfd,
		    "index", RENAME_NOREPLACE);
	if (rc < 0 ||
	    dos_fsync_dir("fsck-index-swap-fsync", f->st->dirfd, ".") < 0)
		return DOS_EIO;
	remove_tree(f->st->dirfd, "index.new");
	return 0;
}

/* Each pack's committed length, and its torn tail cut off. */
static int
repair_pack_lengths(struct repair *rp)
{
	struct fsck *f = rp->f;
	char path[32];
	uint64_t want;
	size_t i;
	int rc = 0, fd;

	for (i = 0; i < f->packs_nr && rc == 0; i++) {
		struct pack *p = &f->packs[i];
		snprintf(path, sizeof path, "packs/%u", p->num);
		if (is_unfinished(p)) {
			/* It holds nothing: removed, not given a length. */
			if (unlinkat(f->st->dirfd, path, 0) < 0 && errno != ENOENT)
				return DOS_EIO;
			note(f, "removed", path, "%s", "");
			continue;
		}
		want = p->valid_end;
		if (!rp->rebuild && p->has_length && p->committed <= p->size)
			want = p->committed;
		if (rp->rebuild || !p->has_length || p->committed != want) {
			if ((rc = index_txn(rp)) < 0 ||
			    (rc = dos_index_set_pack_length(rp->ix, p->num,
			    want)) < 0)
				break;
			if (!rp->rebuild)
				note(f, "set-length", path, "%llu",
				    (unsigned long long)want);
		}
		if (p->size <= want)
			continue;
		p->committed = want;
		fd = dos_open_beneath(f->st->dirfd, path, O_RDWR, 0);
		if (fd < 0)
			return DOS_EIO;
		if (ftruncate(fd, (off_t)want) < 0 || fdatasync(fd) < 0)
			rc = DOS_EIO;
		close(fd);
		if (rc == 0)
			note(f, "cut-tail", path, "offset=%llu length=%llu",
			    (unsigned long long)want,
			    (unsigned long long)(p->size - want));
	}
	return rc;
}

static int
repair_index(struct repair *rp, struct result *res)
{
	struct fsck *f = rp->f;
	struct dos_store tmp = DOS_STORE_INIT;
	int rc;

	/* The store's read-only handles must not outlive the old index. */
	dos_index_close(f->st->index);
	f->st->index = NULL;
	if (rp->rebuild)
		rc = open_new_index(rp, &tmp);
	else
		rc = dos_store_index(f->st, 1, &rp->ix);
	if (rc == 0)
		rc = merge(f, &res->ents, repair_group, rp);
	/* Lengths after records: a truncated tail is never pointed at. */
	if (rc == 0)
		rc = repair_pack_lengths(rp);
	if (rc == 0 && rp->txn_nr > 0) {
		rp->txn_nr = 0;
		rc = dos_index_commit(rp->ix);
	}
	if (rc < 0 && rp->ix != NULL)
		dos_index_abort(rp->ix);
	if (rp->rebuild) {
		dos_index_close(rp->ix);
		if (rc == 0)
			rc = swap_in_index(rp);
		if (rc == 0)
			note(f, "rebuilt-index", "index", "%llu objects",
			    (unsigned long long)rp->records);
		free(tmp.path);
		if (tmp.dirfd >= 0)
			close(tmp.dirfd);
	}
	rp->ix = NULL;
	return rc;
}

/* Damaged packed copies with a good loose one: pack the loose one again. */
static int
heal(struct repair *rp)
{
	struct fsck *f = rp->f;
	struct dos_pack_writer *w;
	char name[DOS_HEXSZ + 2], hex[DOS_HEXSZ + 1];
	struct dos_oid got;
	long holder;
	size_t i;
	int rc, fd, existed;

	if (rp->heal_nr == 0)
		return 0;
	/*
	 * The writer takes packs/lock too; this process holds it already,
	 * which POSIX locks allow.  Closing the writer drops our lock with
	 * it, so it is taken again afterwards.
	 */
	if ((rc = dos_pack_writer_open(f->st, 0, DOS_COMPRESS_AUTO, &w,
	    &holder)) < 0)
		return rc;
	for (i = 0; i < rp->heal_nr && rc == 0; i++) {
		dos_loose_name(f->st, &rp->heal[i], name, sizeof name);
		fd = dos_open_beneath(f->st->loosefd, name, O_RDONLY, 0);
		if (fd < 0) {
			rc = DOS_EIO;
			break;
		}
		rc = dos_pack_writer_add_fd(w, fd, &rp->heal[i],
		    DOS_PACK_ADD_NO_DEDUP, &got, &existed);
		close(fd);
		if (rc == 0)
			note(f, "healed", dos_oid_to_hex(&rp->heal[i], hex),
			    "packed again from loose/%s", name);
	}
	if (rc == 0)
		rc = dos_pack_writer_flush(w);
	dos_pack_writer_close(w);
	dos_index_close(f->st->index);
	f->st->index = NULL;
	close(rp->lockfd);
	if (rc == 0)
		rc = lock_packs(f, &rp->lockfd);
	return rc;
}

static int
repair(struct repair *rp, struct result *res)
{
	struct fsck *f = rp->f;
	size_t i;
	int rc;

	if ((rc = repair_loose_area(rp)) < 0)
		return rc;
	rp->rebuild = !f->index_ok;
	for (i = 0; i < f->fs_nr; i++)
		if (f->fs[i].kind == K_MISSING_INDEX ||
		    f->fs[i].kind == K_NO_PACK_LENGTH)
			rp->rebuild = 1;
	if ((rc = repair_index(rp, res)) < 0)
		return rc;
	return heal(rp);
}

int
dos_fsck(struct dos_store *st, const struct dos_fsck_options *opts,
    struct dos_fsck_stats *stats)
{
	struct fsck f;
	struct result res = { { NULL, 0 } };
	struct repair rp;
	size_t i;
	int rc = 0, repairing = opts->flags & DOS_FSCK_REPAIR;

	memset(&f, 0, sizeof f);
	memset(&rp, 0, sizeof rp);
	rp.f = &f;
	rp.lockfd = -1;
	f.st = st;
	f.o = opts;
	f.what = opts->what != 0 ? opts->what : DOS_FSCK_WHAT_LOOSE |
	    DOS_FSCK_WHAT_PACKS | DOS_FSCK_WHAT_INDEX;
	if (repairing)
		f.what = DOS_FSCK_WHAT_LOOSE | DOS_FSCK_WHAT_PACKS |
		    DOS_FSCK_WHAT_INDEX;
	f.full = !(opts->flags & DOS_FSCK_QUICK);
	if (repairing && (rc = lock_packs(&f, &rp.lockfd)) < 0)
		goto out;
	rc = check(&f, &res);
	if (rc == 0 && repairing && f.fs_nr > 0) {
		rc = repair(&rp, &res);
		reset_check(&f, &res);
		if (rc == 0)
			rc = check(&f, &res);
		for (i = 0; i < rp.lost_nr && rc == 0; i++)
			rc = add_finding(&f, K_LOST, &rp.lost[i], NULL, 0, 0,
			    "%s", "");
	}
	if (rc == 0) {
		rc = (int)report_all(&f);
		if (stats != NULL)
			*stats = f.stats;
	}
out:
	reset_check(&f, &res);
	free(rp.heal);
	free(rp.lost);
	if (rp.lockfd >= 0)
		close(rp.lockfd);
	return rc;
}
