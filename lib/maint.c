/*
 * maint.c: maintenance that needs the pack lock: packing loose objects,
 * rewriting packs without their dead bytes, deleting objects, and
 * cleaning what killed writers left.  The caller holds a pack writer
 * (and so packs/lock) for the whole operation; problems with single
 * objects go to a callback and the rest carries on.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dos.h"

/* A batch is made durable (and its loose files removed) at these sizes. */
#define BATCH_OBJECTS DOS_INDEX_TXN_RECORDS
#define BATCH_BYTES (64ULL << 20)
/* A temp file whose writer is alive is still left alone for this long. */
#define STALE_TEMP_SECONDS (24 * 60 * 60)

static void
report(const struct dos_maint *m, const struct dos_oid *oid, int code,
    const char *what)
{
	if (m->problem != NULL)
		m->problem(m->data, oid, code, what);
}

/*
 * Removing loose files is the slow half of packing: an unlink waits on
 * the disk (freeing blocks; on a file system mounted with discard, one
 * trim each) far longer than reading and compressing the file takes.
 * The waits overlap, so a durable batch's files are removed by many
 * threads at once (16 measured 2.3x faster than 4 here), while the next
 * batch is read and compressed.
 */
#define UNLINK_THREADS 16
#define UNLINK_CHUNK 64

struct unlinker {
	struct dos_store *st;
	struct dos_oid_list oids;	/* durable in packs: to remove */
	size_t next;			/* first oid no thread has claimed */
	pthread_mutex_t lock;
	struct dos_oid_list failed;	/* unlink failed; reported later */
	int failed_errno;		/* why the last one failed */
	pthread_t threads[UNLINK_THREADS];
	int nthreads;
};

static void *
unlink_worker(void *data)
{
	struct unlinker *u = data;
	size_t i, end;

	for (;;) {
		pthread_mutex_lock(&u->lock);
		i = u->next;
		end = i + UNLINK_CHUNK < u->oids.nr ? i + UNLINK_CHUNK : u->oids.nr;
		u->next = end;
		pthread_mutex_unlock(&u->lock);
		if (i >= end)
			return NULL;
		for (; i < end; i++) {
			if (dos_loose_unlink("pack-loose-unlink", u->st,
			    &u->oids.oids[i]) == 0)
				continue;
			pthread_mutex_lock(&u->lock);
			u->failed_errno = errno;
			/* Out of memory: the file stays, fsck sees it as garbage. */
			(void)dos_oid_list_push(&u->failed, &u->oids.oids[i]);
			pthread_mutex_unlock(&u->lock);
		}
	}
}

/* Wait for the batch being removed; report the files that stayed. */
static void
unlink_wait(struct unlinker *u, const struct dos_maint *m)
{
	size_t i;

	while (u->nthreads > 0)
		pthread_join(u->threads[--u->nthreads], NULL);
	for (i = 0; i < u->failed.nr; i++) {
		errno = u->failed_errno;
		report(m, &u->failed.oids[i], DOS_EIO,
		    "unable to remove loose copy");
	}
	u->failed.nr = 0;
	u->oids.nr = 0;
}

/* Start removing a durable batch; *batch gets the previous list's room. */
static void
unlink_start(struct unlinker *u, struct dos_oid_list *batch,
    const struct dos_maint *m)
{
	struct dos_oid_list room;

	unlink_wait(u, m);
	room = u->oids;
	u->oids = *batch;
	*batch = room;
	u->next = 0;
	while (u->nthreads < UNLINK_THREADS &&
	    (size_t)u->nthreads * UNLINK_CHUNK < u->oids.nr &&
	    pthread_create(&u->threads[u->nthreads], NULL, unlink_worker, u) == 0)
		u->nthreads++;
	if (u->nthreads == 0)
		unlink_worker(u);	/* no thread to be had: do it here */
}

/*
 * Opening and reading a small loose file costs about as much as
 * compressing it, so a reading thread walks loose/ and reads the files
 * ahead of the packing thread, which only hashes and queues them.
 */
#define AHEAD_FILES 256
#define AHEAD_BYTES (8U << 20)
/* A file this large or larger is read by the packing thread instead. */
#define AHEAD_FILE_MAX (64U << 10)
/* Waking the other thread costs more than a file: wake it for a batch. */
#define AHEAD_WAKE 32

struct loose_file {
	struct dos_oid oid;
	unsigned char *data;	/* NULL: too large, the packer opens it */
	size_t len;
	int err;		/* errno of a failed open or read, or 0 */
};

struct read_ahead {
	struct dos_store *st;
	pthread_mutex_t lock;
	pthread_cond_t filled, drained;
	struct loose_file files[AHEAD_FILES];
	size_t head, tail;	/* next to pack, next to fill */
	size_t bytes;		/* read and not yet packed */
	int packer_waits;
	enum { READER_RUNS, READER_WAITS_SLOTS, READER_WAITS_BYTES } reader;
	int walked, stop;	/* the walk has ended; the packer gave up */
	int rc, err;		/* how the walk ended, and its errno */
	pthread_t thread;
};

/*
 * Read a whole small file; NULL data if it is larger than that.  A read
 * of a regular file stops short only at its end, so a short read ends it
 * without a second read to see the end; should one ever stop short
 * early, the content does not hash to its name and pack_one() reads the
 * file again, through a file descriptor, before calling it corrupt.
 */
static int
read_small(int fd, struct loose_file *f)
{
	size_t size = 8192;
	unsigned char *grown;
	ssize_t n;

	f->len = 0;
	if ((f->data = malloc(size)) == NULL)
		return ENOMEM;
	for (;;) {
		if (f->len == size) {
			if (size == AHEAD_FILE_MAX) {
				free(f->data);
				f->data = NULL;
				f->len = 0;
				return 0;
			}
			size *= 2;
			if ((grown = realloc(f->data, size)) == NULL)
				return ENOMEM;
			f->data = grown;
		}
		n = read(fd, f->data + f->len, size - f->len);
		if (n < 0 && errno != EINTR)
			return errno;
		if (n == 0 || (n > 0 && (f->len += (size_t)n) < size))
			return 0;
	}
}

static int
read_one(const struct dos_oid *oid, int dirfd, const char *name, void *data)
{
	struct read_ahead *ra = data;
	struct loose_file f = { *oid, NULL, 0, 0 };
	int fd;

	/* name is plain hex: a symbolic link is all there is to refuse. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		/* Packed and removed by a writer meanwhile: nothing to do. */
		if (errno == ENOENT)
			return 0;
		f.err = errno;
	} else {
		f.err = read_small(fd, &f);
		close(fd);
	}
	pthread_mutex_lock(&ra->lock);
	while (!ra->stop && (ra->tail - ra->head == AHEAD_FILES ||
	    (ra->bytes >= AHEAD_BYTES && ra->tail > ra->head))) {
		ra->reader = ra->tail - ra->head == AHEAD_FILES ?
		    READER_WAITS_SLOTS : READER_WAITS_BYTES;
		/* Whatever the sizes, never both wait. */
		if (ra->packer_waits)
			pthread_cond_signal(&ra->filled);
		pthread_cond_wait(&ra->drained, &ra->lock);
		ra->reader = READER_RUNS;
	}
	if (ra->stop) {
		pthread_mutex_unlock(&ra->lock);
		free(f.data);
		return 1;
	}
	ra->files[ra->tail++ % AHEAD_FILES] = f;
	ra->bytes += f.len;
	if (ra->packer_waits && ra->tail - ra->head >= AHEAD_WAKE)
		pthread_cond_signal(&ra->filled);
	pthread_mutex_unlock(&ra->lock);
	return 0;
}

static void *
reader_main(void *data)
{
	struct read_ahead *ra = data;
	int rc;

	rc = dos_loose_for_each(ra->st, "", 0, read_one, ra);
	pthread_mutex_lock(&ra->lock);
	ra->rc = rc > 0 ? 0 : rc;
	ra->err = errno;	/* errno is this thread's own */
	ra->walked = 1;
	pthread_cond_signal(&ra->filled);
	pthread_mutex_unlock(&ra->lock);
	return NULL;
}

/* The next file read ahead, in the walk's order; 0 at the end. */
static int
next_file(struct read_ahead *ra, struct loose_file *f)
{
	int more;

	pthread_mutex_lock(&ra->lock);
	while (ra->head == ra->tail && !ra->walked) {
		ra->packer_waits = 1;
		pthread_cond_wait(&ra->filled, &ra->lock);
		ra->packer_waits = 0;
	}
	more = ra->head < ra->tail;
	if (more) {
		*f = ra->files[ra->head++ % AHEAD_FILES];
		ra->bytes -= f->len;
		if ((ra->reader == READER_WAITS_SLOTS &&
		    AHEAD_FILES - (ra->tail - ra->head) >= AHEAD_WAKE) ||
		    (ra->reader == READER_WAITS_BYTES &&
		    ra->bytes < AHEAD_BYTES / 2))
			pthread_cond_signal(&ra->drained);
	}
	pthread_mutex_unlock(&ra->lock);
	return more;
}

static void
read_ahead_free(struct read_ahead *ra)
{
	pthread_mutex_destroy(&ra->lock);
	pthread_cond_destroy(&ra->filled);
	pthread_cond_destroy(&ra->drained);
	free(ra);
}

static int
read_ahead_start(struct dos_store *st, struct read_ahead **out)
{
	struct read_ahead *ra;

	if ((ra = calloc(1, sizeof *ra)) == NULL)
		return DOS_ENOMEM;
	ra->st = st;
	pthread_mutex_init(&ra->lock, NULL);
	pthread_cond_init(&ra->filled, NULL);
	pthread_cond_init(&ra->drained, NULL);
	if (pthread_create(&ra->thread, NULL, reader_main, ra) != 0) {
		read_ahead_free(ra);
		return DOS_ENOMEM;
	}
	*out = ra;
	return 0;
}

/*
 * Stop the reading thread and free it all; the walk's result (errno set
 * to its own), or 0 if the walk was stopped.
 */
static int
read_ahead_stop(struct read_ahead *ra)
{
	int rc;

	pthread_mutex_lock(&ra->lock);
	ra->stop = 1;
	pthread_cond_signal(&ra->drained);
	pthread_mutex_unlock(&ra->lock);
	pthread_join(ra->thread, NULL);
	for (; ra->head < ra->tail; ra->head++)
		free(ra->files[ra->head % AHEAD_FILES].data);
	rc = ra->rc;
	if (rc < 0)
		errno = ra->err;
	read_ahead_free(ra);
	return rc;
}

/* Whether the writer's batch is large enough to be made durable. */
static int
batch_full(struct dos_pack_writer *w)
{
	return dos_pack_writer_pending(w) >= BATCH_OBJECTS ||
	    dos_pack_writer_pending_bytes(w) >= BATCH_BYTES;
}

struct packing {
	struct dos_store *st;
	struct dos_pack_writer *w;
	const struct dos_maint *m;
	int keep_loose;
	struct dos_oid_list done;	/* loose files to go once durable */
	struct unlinker unlinker;
	uint64_t seen;
};

static int
flush_packing(struct packing *p)
{
	int rc;

	if ((rc = dos_pack_writer_flush(p->w)) < 0)
		return rc;
	if (!p->keep_loose)
		unlink_start(&p->unlinker, &p->done, p->m);
	p->done.nr = 0;
	return 0;
}

/*
 * Add one loose file, read ahead or else read here; 1 if there is none
 * to add: removed by a writer that packed it meanwhile, or unreadable
 * (reported).
 */
static int
add_loose(struct packing *p, const struct loose_file *f, struct dos_oid *got,
    int *existed)
{
	char name[DOS_HEXSZ + 2];
	int fd, rc;

	if (f->data != NULL) {
		if ((rc = dos_pack_writer_begin(p->w)) < 0)
			return rc;
		if ((rc = dos_pack_writer_write(p->w, f->data, f->len)) < 0) {
			dos_pack_writer_abort(p->w);
			return rc;
		}
		rc = dos_pack_writer_end(p->w, &f->oid, 0, got, existed);
		if (rc != DOS_ECORRUPT)
			return rc;
	}
	dos_loose_name(p->st, &f->oid, name, sizeof name);
	fd = dos_open_beneath(p->st->loosefd, name, O_RDONLY, 0);
	if (fd < 0) {
		if (errno != ENOENT)
			report(p->m, &f->oid, DOS_EIO, "unable to read loose copy");
		return 1;
	}
	rc = dos_pack_writer_add_fd(p->w, fd, &f->oid, 0, got, existed);
	close(fd);
	return rc;
}

static int
pack_one(struct packing *p, const struct loose_file *f)
{
	struct dos_oid got;
	int rc, existed;

	if (f->err != 0) {
		errno = f->err;
		report(p->m, &f->oid, DOS_EIO, "unable to read loose copy");
		return 0;
	}
	rc = add_loose(p, f, &got, &existed);
	if (rc > 0)
		return 0;
	if (rc == DOS_ECORRUPT) {
		report(p->m, &f->oid, rc, "loose copy is corrupt; left in place");
		return 0;
	}
	if (rc < 0)
		return rc;
	if ((rc = dos_oid_list_push(&p->done, &f->oid)) < 0)
		return rc;
	if (p->m->progress != NULL)
		p->m->progress(p->m->data, ++p->seen);
	if (batch_full(p->w))
		return flush_packing(p);
	return 0;
}

int
dos_pack_loose(struct dos_store *st, struct dos_pack_writer *w,
    int keep_loose, const struct dos_maint *m)
{
	struct read_ahead *ra;
	struct loose_file f;
	struct packing p;
	int rc = 0, walk_rc, saved;

	if ((rc = read_ahead_start(st, &ra)) < 0)
		return rc;
	memset(&p, 0, sizeof p);
	p.st = st;
	p.w = w;
	p.m = m;
	p.keep_loose = keep_loose;
	p.unlinker.st = st;
	pthread_mutex_init(&p.unlinker.lock, NULL);
	while (rc == 0 && next_file(ra, &f)) {
		rc = pack_one(&p, &f);
		free(f.data);
	}
	saved = errno;
	walk_rc = read_ahead_stop(ra);
	if (rc == 0)
		rc = walk_rc;
	else
		errno = saved;
	if (rc == 0)
		rc = flush_packing(&p);
	unlink_wait(&p.unlinker, m);
	if (rc == 0 && !keep_loose)
		rc = dos_loose_remove_empty_shards(st);
	pthread_mutex_destroy(&p.unlinker.lock);
	free(p.done.oids);
	free(p.unlinker.oids.oids);
	free(p.unlinker.failed.oids);
	return rc;
}

/* ---- repack ---- */

/*
 * Live bytes of each pack, in the order of the pack list; of the members
 * of its groups, only their number and sizes (group_live_bytes() makes
 * bytes of them).
 */
struct live {
	const uint32_t *packs;
	uint64_t *bytes, *members, *member_raw;
	size_t nr;
};

static int
count_live(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	struct live *l = data;
	const uint32_t *p;

	/* Records are not trusted: one may name a pack that is not there. */
	p = dos_pack_list_find(l->packs, l->nr, e->pack);
	if (p != NULL && e->member != 0) {
		l->members[p - l->packs]++;
		l->member_raw[p - l->packs] += e->raw_size;
	} else if (p != NULL) {
		/* As they would be written: packs of older versions go anyway. */
		l->bytes[p - l->packs] += e->stored_size + dos_pack_header_size(
		    DOS_PACK_VERSION, e->codec, 0, e->raw_size, e->stored_size);
	}
	return 0;
}

/* What a repack needs to move the members of group entries. */
struct group_move {
	struct dos_decompressor dec;
	struct dos_hasher hasher;
	unsigned char *buf;	/* a group's decoded bytes */
};

/*
 * What the members the index locates in a pack (members of them, raw
 * bytes in all) take of its group entries: all of them if they are all
 * its groups' members; else, as a member's record holds only its size,
 * what they are of the members' bytes.  The groups are decoded to count
 * their members: only a pack with groups needs it, and only a repack
 * that could leave the pack as it is, which it does when no member is
 * dead, and so never regroups the same objects again.  A damaged group
 * counts as live: its pack is kept anyway.
 */
static int
group_live_bytes(struct dos_store *st, uint32_t pack, uint64_t members,
    uint64_t raw, unsigned char *win, struct group_move *gm, uint64_t *live)
{
	struct dos_pack_scan s;
	struct dos_group g;
	struct stat sb;
	uint64_t all = 0, all_raw = 0, bytes = 0, damaged = 0, size;
	int fd, rc;

	*live = 0;
	if ((rc = dos_store_pack_fd(st, pack, &fd)) < 0)
		return rc;
	if (fstat(fd, &sb) < 0)
		return DOS_EIO;
	dos_pack_scan_begin(&s, fd, (uint64_t)sb.st_size, (uint64_t)sb.st_size,
	    win, DOS_PACK_SCAN_WINDOW);
	while ((rc = dos_pack_scan_next(&s)) > 0 && s.verdict == DOS_PACK_OK) {
		if (!(s.entry.flags & DOS_ENTRY_GROUP))
			continue;
		size = s.entry.header_size + s.entry.stored_size;
		rc = dos_group_read(st, pack, fd, s.offset, &s.entry,
		    &gm->dec, gm->buf, &g);
		if (rc == DOS_ECORRUPT || rc == DOS_ENODICT) {
			damaged += size;
			continue;
		}
		if (rc < 0)
			return rc;
		all += g.members;
		all_raw += g.len - g.table_size;
		bytes += size;
	}
	if (rc < 0)
		return rc;
	*live = damaged + (members >= all ? bytes : all_raw == 0 ? 0 :
	    (uint64_t)((double)bytes * (double)raw / (double)all_raw));
	return 0;
}

static ssize_t
reader_source(void *data, void *buf, size_t len)
{
	return dos_reader_read(data, buf, len);
}

/* Write one live object again, recompressed the writer's way. */
static int
recompress(struct dos_store *st, struct dos_pack_writer *w,
    const struct dos_oid *oid)
{
	struct dos_reader r;
	struct dos_oid got;
	int rc, existed;

	if ((rc = dos_reader_open(st, oid, 0, &r)) < 0)
		return rc;
	rc = dos_pack_writer_add(w, reader_source, &r, oid,
	    DOS_PACK_ADD_NO_DEDUP, &got, &existed);
	dos_reader_close(&r);
	return rc;
}

/* One more live object written again by a repack. */
static void
count_moved(const struct dos_maint *m, struct dos_repack_stats *stats)
{
	stats->objects++;
	if (m->progress != NULL)
		m->progress(m->data, stats->objects);
}

static int
group_move_init(struct group_move *g)
{
	dos_decompressor_init(&g->dec);
	if ((g->buf = malloc(DOS_GROUP_RAW_MAX)) == NULL)
		return DOS_ENOMEM;
	return dos_hasher_init(&g->hasher);
}

static void
group_move_release(struct group_move *g)
{
	dos_decompressor_release(&g->dec);
	if (g->hasher.ctx != NULL)
		dos_hasher_release(&g->hasher);
	free(g->buf);
}

/*
 * Move the live members of the group entry pe at offset of pack (open at
 * fd) into the writer's pack, each added as any object is (a writer that
 * groups puts them into groups again); the others are dropped, and their
 * share of the group's bytes with them.  A member is live if the index
 * locates its id (learnt by hashing it, which must start as its id bytes
 * say) at this member of this group.  1 if the group is damaged (and
 * reported): its pack must stay.
 */
static int
move_group(struct dos_store *st, struct dos_pack_writer *w,
    struct dos_index *ix, struct group_move *gm, int fd, uint32_t pack,
    uint64_t offset, const struct dos_pack_entry *pe,
    const struct dos_maint *m, struct dos_repack_stats *stats,
    uint64_t *dropped)
{
	struct dos_index_entry e;
	struct dos_group_member mb;
	struct dos_group g;
	struct dos_oid oid, got;
	char what[128];
	uint64_t bytes = pe->header_size + pe->stored_size, kept = 0;
	uint32_t i;
	int rc, existed;

	rc = dos_group_read(st, pack, fd, offset, pe, &gm->dec, gm->buf, &g);
	if (rc == DOS_ECORRUPT || rc == DOS_ENODICT) {
		snprintf(what, sizeof what, "packs/%u: damaged group entry at "
		    "offset %llu; pack kept", pack, (unsigned long long)offset);
		report(m, NULL, rc, what);
		return 1;
	}
	if (rc < 0)
		return rc;
	for (i = 0; i < g.members; i++) {
		(void)dos_group_member(&g, i, &mb);
		dos_hasher_reset(&gm->hasher);
		dos_hasher_update(&gm->hasher, mb.data, mb.size);
		dos_hasher_final(&gm->hasher, &oid);
		if (memcmp(oid.hash, mb.id, DOS_ENTRY_ID_CHECK) != 0) {
			snprintf(what, sizeof what, "packs/%u: member %u of the "
			    "group entry at offset %llu is corrupt; pack kept",
			    pack, i, (unsigned long long)offset);
			report(m, NULL, DOS_ECORRUPT, what);
			return 1;
		}
		rc = dos_index_get(ix, &oid, &e);
		if (rc == DOS_ENOTFOUND || (rc == 0 && (e.pack != pack ||
		    e.offset != offset || e.member != i + 1)))
			continue;
		if (rc < 0 || (rc = dos_pack_writer_begin(w)) < 0)
			return rc;
		if ((rc = dos_pack_writer_write(w, mb.data, mb.size)) < 0) {
			dos_pack_writer_abort(w);
			return rc;
		}
		if ((rc = dos_pack_writer_end(w, &oid, DOS_PACK_ADD_NO_DEDUP,
		    &got, &existed)) < 0)
			return rc;
		kept += mb.size;
		count_moved(m, stats);
	}
	/* The table goes with the group: the dead members' share of the rest. */
	*dropped += bytes - bytes * kept / (g.len - g.table_size > 0 ?
	    g.len - g.table_size : 1);
	return 0;
}

/* Entries the index locates in a pack past a damaged header. */
struct past_damage {
	struct dos_store *st;
	struct dos_pack_writer *w;
	uint32_t pack;
	uint64_t offset;
	int fd;
	unsigned version;
	enum dos_compress_mode mode;
	const struct dos_maint *m;
	struct dos_repack_stats *stats;
};

static int
move_past_damage(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	unsigned char hdr[DOS_ENTRY_HEADER_MAX];
	struct past_damage *p = data;
	struct dos_pack_entry pe;
	ssize_t n;
	int rc;

	if (e->pack != p->pack || e->offset <= p->offset)
		return 0;
	if (e->member == 0 &&
	    ((n = pread(p->fd, hdr, sizeof hdr, (off_t)e->offset)) < 0 ||
	    dos_pack_decode_entry(p->version, hdr, (size_t)n, &pe) < 0 ||
	    !dos_pack_entry_is(&pe, oid))) {
		report(p->m, oid, DOS_ECORRUPT, "packed copy is corrupt; pack kept");
		return 0;
	}
	pe.oid = *oid;
	/* A member is read (its group checked) and added again. */
	rc = p->mode == DOS_COMPRESS_KEEP && e->member == 0 ?
	    dos_pack_writer_copy_entry(p->w, p->fd, e->offset, &pe) :
	    recompress(p->st, p->w, oid);
	if (rc == DOS_ECORRUPT) {
		report(p->m, oid, rc, "packed copy is corrupt; pack kept");
		return 0;
	}
	/* dos_index_walk stops here and returns the error. */
	if (rc < 0)
		return rc;
	count_moved(p->m, p->stats);
	return 0;
}

/*
 * Move every live entry of one pack into the writer's pack, then delete
 * the old pack.  Until the end, each object's index record points at a
 * durable copy, old or new; a repack killed at any point leaves the old
 * pack in place and the next repack finishes the job.
 */
static int
repack_one(struct dos_store *st, struct dos_pack_writer *w, uint32_t pack,
    int older_pack, enum dos_compress_mode mode, unsigned char *win,
    struct group_move *gm, const struct dos_maint *m,
    struct dos_repack_stats *stats)
{
	struct dos_index_entry e;
	struct dos_pack_scan s;
	struct dos_pack_entry *pe = &s.entry;
	struct dos_index *ix;
	struct past_damage past;
	struct stat sb;
	uint64_t end;
	char name[32], what[128];
	uint64_t dropped = 0;	/* reclaimed if the pack goes */
	int fd, rc = 0, damaged = 0, live, carry;

	if ((rc = dos_store_index(st, 1, &ix)) < 0)
		return rc;
	if ((rc = dos_store_pack_fd(st, pack, &fd)) < 0)
		return rc;
	if (fstat(fd, &sb) < 0)
		return DOS_EIO;
	if (dos_index_get_pack_length(ix, pack, &end) < 0 ||
	    end > (uint64_t)sb.st_size)
		end = (uint64_t)sb.st_size;
	/* All of it up to end is committed: no bytes there are a torn tail. */
	dos_pack_scan_begin(&s, fd, end, end, win, DOS_PACK_SCAN_WINDOW);
	while ((rc = dos_pack_scan_next(&s)) > 0) {
		live = 0;
		if (s.verdict == DOS_PACK_OK && (pe->flags & DOS_ENTRY_GROUP)) {
			/* Whatever the mode: dead members must not stay. */
			if ((rc = move_group(st, w, ix, gm, fd, pack, s.offset,
			    pe, m, stats, &dropped)) < 0)
				return rc;
			damaged |= rc;
			if (batch_full(w) && (rc = dos_pack_writer_flush(w)) < 0)
				return rc;
			continue;
		}
		if (s.verdict == DOS_PACK_OK) {
			/* Tombstones hold the whole id, and need it to be dead. */
			if (pe->flags & DOS_ENTRY_TOMBSTONE)
				rc = dos_index_get_committed(ix, &pe->oid, &e);
			else
				rc = dos_pack_entry_id(ix, pack, s.offset, pe,
				    &pe->oid, &e);
			if (rc < 0 && rc != DOS_ENOTFOUND)
				return rc;
			live = rc == 0 && e.pack == pack && e.offset == s.offset;
		}
		/*
		 * A format-2 entry the index does not locate is dead, unless
		 * it is one whose header was damaged (in its id, say).
		 */
		if (s.verdict != DOS_PACK_OK || (!live && pe->id_size < DOS_RAWSZ &&
		    !dos_pack_scan_entry_ok(&s))) {
			snprintf(what, sizeof what, "packs/%u: damaged entry "
			    "header at offset %llu; pack kept", pack,
			    (unsigned long long)s.offset);
			report(m, NULL, DOS_ECORRUPT, what);
			damaged = 1;
			/* What the index locates past the damage still moves. */
			past = (struct past_damage){ st, w, pack, s.offset, fd,
			    s.version, mode, m, stats };
			rc = dos_index_walk(ix, "", 0, move_past_damage, &past);
			if (rc < 0)
				return rc;
			break;
		}
		if (pe->flags & DOS_ENTRY_TOMBSTONE) {
			/*
			 * A deletion only matters to entries before it: keep it
			 * while the id is dead and an older pack may still hold
			 * a copy a rebuilt index must not revive.
			 */
			carry = rc == DOS_ENOTFOUND && older_pack;
			rc = carry ?
			    dos_pack_writer_copy_entry(w, fd, s.offset, pe) : 0;
			if (!carry)
				dropped += pe->header_size;
			if (rc == 0)
				continue;
		} else if (!live) {
			dropped += pe->header_size + pe->stored_size;
			continue;
		} else if (mode == DOS_COMPRESS_KEEP) {
			rc = dos_pack_writer_copy_entry(w, fd, s.offset, pe);
		} else {
			rc = recompress(st, w, &pe->oid);
		}
		if (rc == DOS_ECORRUPT) {
			report(m, &pe->oid, rc, "packed copy is corrupt; pack kept");
			damaged = 1;
			continue;
		}
		if (rc < 0)
			return rc;
		if (!(pe->flags & DOS_ENTRY_TOMBSTONE))
			count_moved(m, stats);
		if (batch_full(w) && (rc = dos_pack_writer_flush(w)) < 0)
			return rc;
	}
	if (rc < 0 || (rc = dos_pack_writer_flush(w)) < 0)
		return rc;
	if (damaged) {
		/* Whatever could not be moved still lives only there. */
		stats->kept_packs++;
		return 0;
	}
	snprintf(name, sizeof name, "packs/%u", pack);
	if (dos_step_unlink("repack-pack-unlink", st->dirfd, name) < 0 ||
	    dos_fsync_dir("packs-fsync", st->dirfd, "packs") < 0)
		return DOS_EIO;
	if ((rc = dos_index_begin(ix)) < 0)
		return rc;
	rc = dos_index_del_pack_length(ix, pack);
	if (rc < 0 && rc != DOS_ENOTFOUND) {
		dos_index_abort(ix);
		return rc;
	}
	stats->removed_packs++;
	stats->dropped_bytes += dropped;
	return dos_index_commit(ix);
}

/* Whether a pack is in the version written now (else repack converts it). */
static int
in_current_version(struct dos_store *st, uint32_t pack)
{
	int fd;

	return dos_store_pack_fd(st, pack, &fd) == 0 &&
	    dos_pack_check_header(fd) == 0;
}

/* Whether a pack older than packs[i] still exists. */
static int
kept_older(struct dos_store *st, const uint32_t *packs, size_t i)
{
	char name[32];
	size_t j;

	for (j = 0; j < i; j++) {
		snprintf(name, sizeof name, "packs/%u", packs[j]);
		if (faccessat(st->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			return 1;
	}
	return 0;
}

/*
 * Whether a pack is sealed with the codec the writer compresses with now,
 * at its level or a higher one: recompressing it would not shrink it.
 */
static int
sealed_as_hard(struct dos_store *st, uint32_t pack)
{
	enum dos_codec codec;
	int fd, level;

	return dos_store_pack_fd(st, pack, &fd) == 0 &&
	    dos_pack_sealed(fd, &codec, &level) == 1 &&
	    codec == st->cfg.codec && level >= st->cfg.level;
}

/*
 * dos_repack(), and with harder dos_repack_harder(): a pack sealed as
 * hard as the writer compresses is only moved past the threshold, as it
 * is stored.
 */
static int
repack_packs(struct dos_store *st, struct dos_pack_writer *w,
    enum dos_compress_mode mode, unsigned threshold, int harder,
    const struct dos_maint *m, struct dos_repack_stats *stats)
{
	struct live l = { NULL, NULL, NULL, NULL, 0 };
	struct group_move gm;
	struct dos_index *ix;
	unsigned char *win = NULL;
	uint32_t *packs, current, written = 0;
	size_t nr, i;
	struct stat sb;
	char name[32], what[160];
	uint64_t size, dead, live;
	enum dos_compress_mode pack_mode;
	int rc, started = 0;

	memset(stats, 0, sizeof *stats);
	memset(&gm, 0, sizeof gm);
	if ((rc = dos_store_index(st, 1, &ix)) < 0 ||
	    (rc = dos_pack_list(st, &packs, &nr)) < 0)
		return rc;
	if (nr == 0)
		return 0;
	l.packs = packs;
	l.nr = nr;
	if ((l.bytes = calloc(l.nr, sizeof *l.bytes)) == NULL ||
	    (l.members = calloc(l.nr, sizeof *l.members)) == NULL ||
	    (l.member_raw = calloc(l.nr, sizeof *l.member_raw)) == NULL ||
	    (win = malloc(DOS_PACK_SCAN_WINDOW)) == NULL) {
		rc = DOS_ENOMEM;
		goto out;
	}
	if ((rc = group_move_init(&gm)) < 0)
		goto out;
	if ((rc = dos_index_walk(ix, "", 0, count_live, &l)) < 0)
		goto out;
	current = dos_pack_writer_pack(w);
	for (i = 0; i < nr && rc == 0; i++) {
		snprintf(name, sizeof name, "packs/%u", packs[i]);
		/* Packs this repack filled (from an empty one) are done. */
		if (fstatat(st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    (started && packs[i] >= written))
			continue;
		/*
		 * Without a committed length the index does not describe this
		 * pack (it was lost or damaged): what looks dead may be the
		 * only copy, so leave it to a rebuild.
		 */
		rc = dos_index_get_pack_length(ix, packs[i], &size);
		if (rc == DOS_ENOTFOUND && packs[i] != dos_pack_writer_pack(w)) {
			snprintf(what, sizeof what, "%s: not in the index; left "
			    "alone (run 'dos fsck --repair')", name);
			report(m, NULL, DOS_EINDEX, what);
			rc = 0;
			continue;
		}
		if (rc < 0 && rc != DOS_ENOTFOUND)
			break;
		rc = 0;
		size = (uint64_t)sb.st_size > DOS_PACK_HEADER_SIZE ?
		    (uint64_t)sb.st_size - DOS_PACK_HEADER_SIZE : 0;
		pack_mode = harder && sealed_as_hard(st, packs[i]) ?
		    DOS_COMPRESS_KEEP : mode;
		if (pack_mode == DOS_COMPRESS_KEEP && l.members[i] > 0) {
			if ((rc = group_live_bytes(st, packs[i], l.members[i],
			    l.member_raw[i], win, &gm, &live)) < 0)
				break;
			l.bytes[i] += live;
		}
		dead = size > l.bytes[i] ? size - l.bytes[i] : 0;
		if (pack_mode == DOS_COMPRESS_KEEP && size > 0 &&
		    dead * 100 <= (uint64_t)threshold * size &&
		    in_current_version(st, packs[i]))
			continue;
		/* The writer's own empty pack: nothing to move, and it stays. */
		if (size == 0 && packs[i] == current)
			continue;
		if (!started || packs[i] == dos_pack_writer_pack(w)) {
			/* New packs only: never append to what is rewritten. */
			if ((rc = dos_pack_writer_start_pack(w)) < 0)
				break;
			if (!started)
				written = dos_pack_writer_pack(w);
			started = 1;
		}
		/* Objects grouped once stay grouped, whatever the level. */
		if (l.members[i] > 0 &&
		    (rc = dos_pack_writer_group_small(w)) < 0)
			break;
		/* Packs go oldest first: any kept before this one is older. */
		rc = repack_one(st, w, packs[i], kept_older(st, packs, i),
		    pack_mode, win, &gm, m, stats);
	}
out:
	group_move_release(&gm);
	free(win);
	free(l.members);
	free(l.member_raw);
	free(l.bytes);
	free(packs);
	return rc;
}

int
dos_repack(struct dos_store *st, struct dos_pack_writer *w,
    enum dos_compress_mode mode, unsigned threshold,
    const struct dos_maint *m, struct dos_repack_stats *stats)
{
	return repack_packs(st, w, mode, threshold, 0, m, stats);
}

int
dos_repack_harder(struct dos_store *st, struct dos_pack_writer *w,
    unsigned threshold, const struct dos_maint *m,
    struct dos_repack_stats *stats)
{
	return repack_packs(st, w, DOS_COMPRESS_AUTO, threshold, 1, m, stats);
}

uint32_t
dos_seal_first(struct dos_store *st, struct dos_pack_writer *w)
{
	uint32_t pack = dos_pack_writer_pack(w);
	struct stat sb;
	char name[32];

	snprintf(name, sizeof name, "packs/%u", pack);
	if (fstatat(st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (uint64_t)sb.st_size <= DOS_PACK_HEADER_SIZE)
		return pack;
	return pack + 1;
}

int
dos_seal_packs(struct dos_store *st, struct dos_pack_writer *w,
    uint32_t first)
{
	uint32_t pack, current;
	char name[32];
	int fd, rc = 0;

	/*
	 * Later writers append to the newest pack: a fresh one first, so
	 * that a sealed pack never gets entries compressed less hard.
	 */
	if ((rc = dos_pack_writer_start_pack(w)) < 0)
		return rc;
	current = dos_pack_writer_pack(w);
	for (pack = first; pack < current && rc == 0; pack++) {
		snprintf(name, sizeof name, "packs/%u", pack);
		if ((fd = dos_open_beneath(st->dirfd, name, O_RDWR, 0)) < 0) {
			if (errno != ENOENT)
				rc = DOS_EIO;
			continue;
		}
		rc = dos_pack_seal(fd, st->cfg.codec, st->cfg.level);
		close(fd);
	}
	return rc;
}

/* ---- removal ---- */

int
dos_remove(struct dos_store *st, struct dos_pack_writer *w,
    const struct dos_oid *oid, int *loose, int *packed)
{
	struct dos_index_entry e;
	struct dos_index *ix;
	int rc;

	*loose = *packed = 0;
	if ((rc = dos_store_index(st, 1, &ix)) < 0)
		return rc;
	rc = dos_index_get_committed(ix, oid, &e);
	if (rc == 0) {
		if ((rc = dos_pack_writer_add_tombstone(w, oid)) < 0)
			return rc;
		*packed = 1;
	} else if (rc != DOS_ENOTFOUND) {
		return rc;
	}
	rc = dos_loose_stat(st, oid, NULL);
	if (rc == 0 || rc == DOS_ECORRUPT)
		*loose = 1;
	else if (rc != DOS_ENOTFOUND)
		return rc;
	return 0;
}

/* ---- leftovers ---- */

/* The pid in a temp file name "obj-<pid>-...", or 0. */
static long
temp_pid(const char *name)
{
	char *end;
	long pid;

	if (strncmp(name, "obj-", 4) != 0)
		return 0;
	errno = 0;
	pid = strtol(name + 4, &end, 10);
	return errno == 0 && *end == '-' && pid > 0 ? pid : 0;
}

/* Whether a temp file is one nobody will finish, and why. */
static enum dos_temp_stale
temp_is_stale(const char *name, time_t mtime, time_t now, long *pid)
{
	/* Its writer is gone: nobody will ever rename it into place. */
	if ((*pid = temp_pid(name)) > 0 && kill((pid_t)*pid, 0) < 0 &&
	    errno == ESRCH)
		return DOS_TEMP_ORPHAN;
	return now - mtime > STALE_TEMP_SECONDS ? DOS_TEMP_OLD : DOS_TEMP_LIVE;
}

int
dos_for_each_stale_temp(struct dos_store *st, dos_stale_temp_fn *fn,
    void *data)
{
	struct dirent *e;
	struct stat sb;
	enum dos_temp_stale why;
	time_t now = time(NULL);
	long pid;
	DIR *d;
	int fd, rc = 0;

	fd = openat(st->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return DOS_EIO;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(st->tmpfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* finished meanwhile */
		why = temp_is_stale(e->d_name, sb.st_mtime, now, &pid);
		if (why != DOS_TEMP_LIVE)
			rc = fn(data, e->d_name, (uint64_t)sb.st_size, why,
			    pid);
	}
	closedir(d);
	return rc;
}

struct clean {
	struct dos_store *st;
	uint64_t removed;
	int rc;
};

static int
clean_temp(void *data, const char *name, uint64_t size,
    enum dos_temp_stale why, long pid)
{
	struct clean *c = data;

	if (dos_step_unlink("gc-temp-unlink", c->st->tmpfd, name) == 0)
		c->removed++;
	else if (errno == EISDIR) {
		/* The staging tree of a dos backup to another machine. */
		dos_remove_tree(c->st->tmpfd, name);
		c->removed++;
	} else if (errno != ENOENT)
		c->rc = DOS_EIO;
	return 0;
}

int
dos_clean_sandbox(struct dos_store *st, uint64_t *removed)
{
	struct clean c = { st, 0, 0 };
	int rc = dos_for_each_stale_temp(st, clean_temp, &c);

	*removed = c.removed;
	return rc < 0 ? rc : c.rc;
}

int
dos_store_set_config(struct dos_store *st, const struct dos_setting *s,
    const struct dos_config *value)
{
	int lockfd, rc;

	rc = dos_pack_lock(st, 0, &lockfd, NULL);
	if (rc == 0)
		rc = dos_config_set(st->dirfd, s, value);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}
