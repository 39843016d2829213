/*
 * pack-write.c: the one writer of a container's packs.
 *
 * One writer at a time holds packs/lock (a POSIX record lock, which the
 * kernel drops when its holder dies, so a killed writer never blocks the
 * next).  A writer appends a batch of entries, fdatasync()s the pack, and
 * only then commits the batch's index records together with the pack's
 * new committed length; bytes past the committed length are the torn
 * tail of a killed writer and the next writer cuts them off.  The format
 * of what it writes is pack.c's; the dictionaries it compresses small
 * objects with, dict.c's.  A writer that compresses hard (cold data)
 * puts small objects together into group entries (see add_to_group).
 *
 * Over 1,300 lines: the batch, the threads that compress or check small
 * objects, the open group and the appends that keep their order share
 * the writer's state, which a split would have to export to all of lib/.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dos.h"

#define SMALL_OBJECT_MAX (1 << 20)
#define WRITE_BUF_SIZE (1 << 20)
#define STREAM_CHUNK (1 << 20)
#define PENDING_SET_MIN 1024
/* Small objects waiting for a compressing thread, at most. */
#define QUEUE_JOBS 256
#define QUEUE_BYTES (16U << 20)
#define MAX_COMPRESSORS 4
#define WAKE_JOBS 16
#define TAKE_JOBS 8
/*
 * Group entries: objects below GROUP_MEMBER_MAX join the open group,
 * which closes at GROUP_CLOSE_RAW bytes or GROUP_CLOSE_MEMBERS members
 * (a read decodes a whole group: ~16 KiB for one object).  Its table is
 * encoded into the room kept in front of the members' bytes.
 */
#define GROUP_MEMBER_MAX 4096
#define GROUP_CLOSE_RAW (16 * 1024)
#define GROUP_CLOSE_MEMBERS 256
#define GROUP_TABLE_ROOM DOS_GROUP_TABLE_MAX(GROUP_CLOSE_MEMBERS)
#define GROUP_RAW_MAX (GROUP_CLOSE_RAW + GROUP_MEMBER_MAX)

struct record {
	struct dos_oid oid;
	struct dos_index_entry entry;
	int tombstone;		/* delete the id instead of recording it */
	int dropped;		/* its bytes were not the object's */
};

/*
 * A batch sealed by dos_pack_writer_flush_begin: its records and their
 * set, moved out of the writer's batch, the pack length that commits
 * them, and the thread that makes them durable while the caller goes on
 * adding objects to the next batch.
 */
struct sealed {
	struct record *recs;
	size_t nr, alloc;
	uint32_t *set;
	size_t set_size;
	uint64_t raw, stored;
	uint32_t pack;
	uint64_t end;
	int active;		/* sealed, not yet ended */
	int threaded;		/* committed by thread, else in the caller */
	pthread_t thread;
	int rc, err;		/* the commit's result, and its errno */
};

struct dos_pack_writer {
	struct dos_store *st;
	struct dos_index *ix;
	unsigned flags;
	enum dos_compress_mode mode;
	int lockfd, packfd;
	uint32_t pack;
	uint64_t end;		/* where the next entry goes */
	uint64_t committed;	/* what the index covers */
	/* Bytes appended but not yet written out, starting at end - wlen. */
	unsigned char *wbuf;
	size_t wlen;
	/* The batch: records to commit, and a hash set of their ids. */
	struct record *recs;
	size_t nr, alloc;
	uint32_t *set;		/* 1 + index into recs, 0 = empty */
	size_t set_size;
	uint64_t batch_raw, batch_stored;
	struct sealed sealed;
	int failed;		/* a sealed batch's commit that failed */
	/* What committed batches added, for summaries. */
	uint64_t total_objects, total_raw, total_stored;
	struct dos_compressor comp;
	struct dos_dicts *dicts;	/* NULL: no dictionaries */
	struct dos_hasher hasher;
	unsigned char *raw, *packed, *chunk;
	size_t packed_size;
	/* The object being streamed in (see dos_pack_writer_begin). */
	size_t obj_held;	/* bytes held in raw, not yet in the pack */
	int obj_streaming, obj_compress;
	int obj_encoded;	/* written as stored bytes, see begin_encoded */
	enum dos_codec obj_codec;
	uint64_t obj_raw, obj_start, obj_stored;
	uint32_t obj_crc;
	struct compress_queue *queue;	/* NULL: compress in this thread */
	struct dos_stored_check check;	/* without a queue, once needed */
	int check_ready;
	struct dos_journal journal;	/* fd -1: records go to the index */
	/* The open group: its members' bytes, sizes, ids and records. */
	int grouping;		/* small objects go into groups */
	unsigned char *group_buf;	/* table room, bytes, compressed room */
	size_t group_len;
	uint32_t group_members;
	size_t group_sizes[GROUP_CLOSE_MEMBERS];
	struct dos_oid group_ids[GROUP_CLOSE_MEMBERS];
	size_t group_recs[GROUP_CLOSE_MEMBERS];
};

/*
 * Small objects are compressed by threads while the caller reads and
 * hashes the next ones.  Each object's record joins the batch when it is
 * queued (so a repeat is found), and its entry is appended by the calling
 * thread, in the order the objects came, once compressed: pack bytes are
 * only ever written by one thread, in order.  An encoded job instead
 * holds an object's stored bytes, which the thread checks are the
 * object's (dos_pack_writer_add_checked); a group job a closed group's
 * decoded bytes, and its members' records instead of one.
 */
struct job {
	size_t rec;		/* its record in the batch */
	unsigned char *raw;	/* the raw bytes, then room for the stored */
	size_t len;
	const unsigned char *stored;	/* raw, or just after it */
	size_t stored_len;
	uint32_t crc;
	enum dos_codec codec;
	uint32_t dict;
	int rc, done;
	int encoded;
	struct dos_oid oid;	/* of an encoded job, and its size, */
	uint64_t raw_size;
	dos_checked_fn *checked;	/* told whether it was stored */
	void *checked_data;
	size_t *members;	/* a group's records, malloc'ed */
	uint32_t members_nr;
};

struct compress_queue {
	pthread_mutex_t lock;
	pthread_cond_t work, ready;
	struct job jobs[QUEUE_JOBS];
	/* Oldest not appended, first not taken by a thread, first free. */
	size_t head, next, tail;
	size_t bytes;		/* queued: raw sizes plus entry headers */
	int idle;		/* threads waiting for work */
	int waiting;		/* the appending thread waits for a job */
	int stop;
	enum dos_compress_mode mode;
	enum dos_codec codec;
	int level;
	struct dos_dicts *dicts;
	pthread_t threads[MAX_COMPRESSORS];
	int nthreads;
};
static void queue_start(struct dos_pack_writer *w);

/* fcntl(fd, cmd, fl) with fl a write lock of the whole file. */
static int
lock_whole(int fd, int cmd, struct flock *fl)
{
	int rc;

	memset(fl, 0, sizeof *fl);
	fl->l_type = F_WRLCK;
	fl->l_whence = SEEK_SET;
	while ((rc = fcntl(fd, cmd, fl)) < 0 && errno == EINTR)
		;
	return rc;
}

int
dos_pack_lock(struct dos_store *st, int nowait, int *lockfd, long *holder)
{
	struct flock fl;
	char pid[32];
	long who;
	int len;

	*lockfd = openat(st->dirfd, "packs/lock",
	    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (*lockfd < 0)
		return DOS_EIO;
	if (lock_whole(*lockfd, F_SETLK, &fl) < 0) {
		if (errno != EACCES && errno != EAGAIN)
			return DOS_EIO;
		/* 0 if its holder let go meanwhile. */
		who = lock_whole(*lockfd, F_GETLK, &fl) == 0 &&
		    fl.l_type != F_UNLCK ? (long)fl.l_pid : 0;
		if (nowait) {
			*holder = who;
			return DOS_EBUSY;
		}
		/* Said before blocking, as the wait may be long. */
		if (who > 0 && st->lock_wait != NULL)
			st->lock_wait(st->lock_wait_data, who);
		if (lock_whole(*lockfd, F_SETLKW, &fl) < 0)
			return DOS_EIO;
	}
	/* The pid is for people; the lock itself is what counts. */
	len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(*lockfd, 0) == 0)
		(void)!pwrite(*lockfd, pid, (size_t)len, 0);
	return 0;
}

/*
 * Make fd an empty pack (header only), durable, the writer's pack, and
 * known to the index with its committed length before anything goes in:
 * a pack without a length in the index is then one the index lost, never
 * one a writer was filling.
 */
static int
use_fresh_pack(struct dos_pack_writer *w, uint32_t pack, int fd)
{
	unsigned char hdr[DOS_PACK_HEADER_SIZE];
	int saved, rc;

	dos_pack_encode_header(hdr);
	if (dos_step_truncate("pack-new-truncate", fd, 0) < 0 ||
	    dos_step_pwrite("pack-new-header-write", fd, hdr, sizeof hdr, 0) < 0 ||
	    dos_step_fdatasync("pack-new-fdatasync", fd) < 0 ||
	    dos_fsync_dir("packs-fsync", w->st->dirfd, "packs") < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return DOS_EIO;
	}
	if (w->packfd >= 0)
		close(w->packfd);
	w->packfd = fd;
	w->pack = pack;
	w->end = w->committed = DOS_PACK_HEADER_SIZE;
	if ((rc = dos_index_begin(w->ix)) < 0)
		return rc;
	if ((rc = dos_index_set_pack_length(w->ix, pack, w->end)) < 0 ||
	    (rc = dos_index_commit(w->ix)) < 0) {
		dos_index_abort(w->ix);
		return rc;
	}
	return 0;
}

/*
 * *pack, or past the highest number a remote records a pack under
 * (remotes/<name>/<n>, remote.c): a pack gone from packs/ (evicted,
 * repacked away, or lost with packs/) may be on a remote under its
 * number still, and a new pack of other bytes must never take that
 * number, or a push would take it for the one there.
 */
static int
past_remote_packs(struct dos_store *st, uint32_t *pack)
{
	char dir[300];
	struct dirent *e;
	uint32_t *list;
	size_t nr;
	DIR *d;
	int rc;

	if ((rc = dos_opendir(st->dirfd, "remotes", &d)) < 0 || d == NULL)
		return rc;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof dir, "remotes/%s", e->d_name);
		if ((rc = dos_list_numbered(st->dirfd, dir, &list, &nr)) < 0)
			break;
		if (nr > 0 && list[nr - 1] >= *pack) {
			if (list[nr - 1] == UINT32_MAX)
				rc = DOS_EINVAL;	/* no number left */
			else
				*pack = list[nr - 1] + 1;
		}
		free(list);
		if (rc < 0)
			break;
	}
	closedir(d);
	return rc;
}

static int
create_pack(struct dos_pack_writer *w, uint32_t pack)
{
	char name[32];
	int fd, rc, saved;

	if ((rc = past_remote_packs(w->st, &pack)) < 0)
		return rc;
	snprintf(name, sizeof name, "packs/%u", pack);
	fd = dos_step_create("pack-create", w->st->dirfd, name,
	    O_RDWR | O_EXCL, 0666);
	if (fd < 0)
		return DOS_EIO;
	rc = use_fresh_pack(w, pack, fd);
	if (rc < 0 && w->packfd != fd) {
		/*
		 * Not even its header could be made durable (a full disk):
		 * remove it, rather than leave a file that is no pack.
		 */
		saved = errno;
		dos_step_unlink("pack-create-unlink", w->st->dirfd, name);
		errno = saved;
	}
	return rc;
}

/*
 * Continue the newest pack, cutting off what no commit covers.  A pack
 * the index has no committed length for (the index was lost or damaged)
 * is never cut: its entries may be the only copy of their objects, so a
 * new pack is started and the index can be rebuilt from the old one.
 */
static int
open_current_pack(struct dos_pack_writer *w)
{
	uint32_t *packs, newest, past;
	size_t nr;
	uint64_t committed;
	struct stat sb;
	char name[32];
	int rc, fd;

	if ((rc = dos_pack_list(w->st, &packs, &nr)) < 0)
		return rc;
	if (nr == 0)
		return create_pack(w, 0);
	newest = packs[nr - 1];
	free(packs);
	/* Pushed, it is sealed for good: what comes goes to a new pack. */
	past = newest;
	if ((rc = past_remote_packs(w->st, &past)) < 0)
		return rc;
	if (past != newest)
		return create_pack(w, past);
	rc = dos_index_get_pack_length(w->ix, newest, &committed);
	if (rc < 0 && rc != DOS_ENOTFOUND)
		return rc;
	snprintf(name, sizeof name, "packs/%u", newest);
	fd = dos_open_beneath(w->st->dirfd, name, O_RDWR, 0);
	if (fd < 0)
		return DOS_EIO;
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return DOS_EIO;
	}
	/*
	 * No committed length: packs get one when they are created, so the
	 * index lost it (keep the pack as it is, for a rebuild) unless the
	 * creation itself was cut short and the pack holds at most its header.
	 */
	if (rc == DOS_ENOTFOUND) {
		if ((uint64_t)sb.st_size <= DOS_PACK_HEADER_SIZE)
			return use_fresh_pack(w, newest, fd);
		close(fd);
		return create_pack(w, newest + 1);
	}
	/* Damaged, not ours or of an older version (repack converts it). */
	if (dos_pack_check_header(fd) < 0 || (uint64_t)sb.st_size < committed) {
		close(fd);
		return create_pack(w, newest + 1);
	}
	if ((uint64_t)sb.st_size > committed &&
	    dos_step_truncate("pack-tail-truncate", fd, committed) < 0) {
		close(fd);
		return DOS_EIO;
	}
	w->packfd = fd;
	w->pack = newest;
	w->end = w->committed = committed;
	return 0;
}

int
dos_pack_writer_open(struct dos_store *st, unsigned flags,
    enum dos_compress_mode mode, struct dos_pack_writer **out, long *holder)
{
	struct dos_pack_writer *w;
	int rc;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return DOS_ENOMEM;
	w->st = st;
	w->flags = flags;
	w->mode = st->cfg.codec == DOS_CODEC_NONE ? DOS_COMPRESS_NEVER : mode;
	w->lockfd = w->packfd = w->journal.fd = -1;
	*holder = 0;
	w->packed_size = dos_codec_bound(st->cfg.codec, SMALL_OBJECT_MAX) +
	    DOS_ENTRY_HEADER_MAX;
	if ((w->wbuf = malloc(WRITE_BUF_SIZE)) == NULL ||
	    (w->raw = malloc(SMALL_OBJECT_MAX)) == NULL ||
	    (w->chunk = malloc(STREAM_CHUNK)) == NULL ||
	    (w->packed = malloc(w->packed_size)) == NULL) {
		rc = DOS_ENOMEM;
		goto fail;
	}
	if ((rc = dos_hasher_init(&w->hasher)) < 0 ||
	    (rc = dos_compressor_init(&w->comp, st->cfg.codec, st->cfg.level)) < 0)
		goto fail;
	/* A killed writer's journal goes in before its tail is cut. */
	if ((rc = dos_pack_lock(st, flags & DOS_PACK_NOWAIT, &w->lockfd,
	    holder)) < 0 ||
	    (rc = dos_store_index(st, 1, &w->ix)) < 0 ||
	    (rc = dos_journal_load(st, w->ix)) < 0 ||
	    (rc = open_current_pack(w)) < 0)
		goto fail;
	/* Dictionaries are zstd's, for objects it compresses. */
	if (st->cfg.codec == DOS_CODEC_ZSTD && w->mode != DOS_COMPRESS_NEVER &&
	    (rc = dos_dicts_open(st, w->comp.level, &w->dicts)) < 0)
		goto fail;
	w->comp.dicts = w->dicts;
	/* Cold data, compressed hard: a read may decode a group for one. */
	if (w->comp.level >= DOS_AGGRESSIVE_LEVEL &&
	    (rc = dos_pack_writer_group_small(w)) < 0)
		goto fail;
	if (w->mode != DOS_COMPRESS_NEVER)
		queue_start(w);
	*out = w;
	return 0;
fail:
	dos_pack_writer_close(w);
	return rc;
}

static int
write_out(struct dos_pack_writer *w)
{
	if (w->wlen > 0 && dos_step_pwrite("pack-write", w->packfd, w->wbuf,
	    w->wlen, w->end - w->wlen) < 0)
		return DOS_EIO;
	(void)sync_file_range(w->packfd, (off_t)(w->end - w->wlen),
	    (off_t)w->wlen, SYNC_FILE_RANGE_WRITE);
	w->wlen = 0;
	return 0;
}

static int
append(void *data, const void *buf, size_t len)
{
	struct dos_pack_writer *w = data;
	const unsigned char *p = buf;
	size_t step;
	int rc;

	while (len > 0) {
		if (w->wlen == WRITE_BUF_SIZE && (rc = write_out(w)) < 0)
			return rc;
		step = WRITE_BUF_SIZE - w->wlen;
		if (step > len)
			step = len;
		memcpy(w->wbuf + w->wlen, p, step);
		w->wlen += step;
		w->end += step;
		p += step;
		len -= step;
	}
	return 0;
}

static size_t
set_slot(size_t set_size, const struct dos_oid *oid)
{
	size_t h;

	memcpy(&h, oid->hash, sizeof h);
	return h & (set_size - 1);
}

/* Index into recs of oid, by its set, or -1. */
static long
find_record(const struct record *recs, const uint32_t *set, size_t set_size,
    const struct dos_oid *oid)
{
	size_t i;

	if (set_size == 0)
		return -1;
	for (i = set_slot(set_size, oid); set[i] != 0;
	    i = (i + 1) & (set_size - 1))
		if (dos_oid_cmp(&recs[set[i] - 1].oid, oid) == 0 &&
		    !recs[set[i] - 1].dropped)
			return (long)set[i] - 1;
	return -1;
}

/* Index into recs of oid in this batch, or -1. */
static long
batch_find(const struct dos_pack_writer *w, const struct dos_oid *oid)
{
	return find_record(w->recs, w->set, w->set_size, oid);
}

static int
batch_add(struct dos_pack_writer *w, const struct dos_oid *oid,
    const struct dos_index_entry *e, int tombstone)
{
	struct record *recs;
	size_t i, size;
	uint32_t *set;

	recs = dos_grow(w->recs, w->nr, &w->alloc, sizeof *recs, 1024);
	if (recs == NULL)
		return DOS_ENOMEM;
	w->recs = recs;
	/* Keep the set at most half full. */
	if (2 * (w->nr + 1) > w->set_size) {
		size = w->set_size ? 2 * w->set_size : PENDING_SET_MIN;
		if ((set = calloc(size, sizeof *set)) == NULL)
			return DOS_ENOMEM;
		free(w->set);
		w->set = set;
		w->set_size = size;
		for (i = 0; i < w->nr; i++) {
			size_t s;
			if (w->recs[i].tombstone)
				continue;
			s = set_slot(w->set_size, &w->recs[i].oid);
			while (w->set[s] != 0)
				s = (s + 1) & (w->set_size - 1);
			w->set[s] = (uint32_t)i + 1;
		}
	}
	w->recs[w->nr].oid = *oid;
	w->recs[w->nr].entry = *e;
	w->recs[w->nr].tombstone = tombstone;
	w->recs[w->nr].dropped = 0;
	w->nr++;
	/* A deleted id is not stored: keep it out of the dedup set. */
	if (!tombstone) {
		i = set_slot(w->set_size, oid);
		while (w->set[i] != 0)
			i = (i + 1) & (w->set_size - 1);
		w->set[i] = (uint32_t)w->nr;
	}
	w->batch_raw += e->raw_size;
	/* A member's bytes are counted with its group's entry. */
	if (e->member == 0)
		w->batch_stored += e->stored_size + dos_pack_header_size(
		    DOS_PACK_VERSION, e->codec, tombstone ?
		    DOS_ENTRY_TOMBSTONE : 0, e->raw_size, e->stored_size);
	return 0;
}

/*
 * Already stored (or written in this batch or the sealed one), so not to
 * be written again.  The writer holds packs/lock: one index read answers
 * (an id that only a clone, which writes a new container's index without
 * the lock, is adding could be missed: it would be stored twice, which
 * costs space only; so can one whose run the sealed batch's commit is
 * rewriting at that instant, see dos_index_get_beside).
 */
static int
already_stored(struct dos_pack_writer *w, const struct dos_oid *oid,
    unsigned flags)
{
	const struct sealed *s = &w->sealed;
	struct dos_index_entry e;
	int rc;

	if (batch_find(w, oid) >= 0 || (s->active &&
	    find_record(s->recs, s->set, s->set_size, oid) >= 0))
		return 1;
	rc = s->active ? dos_index_get_beside(w->ix, oid, &e) :
	    dos_index_get_as_writer(w->ix, oid, &e);
	/*
	 * Another process died in the index, or held a lock too long: the
	 * sealed batch is ended first (its commit tried again), then the
	 * read, with the handles reopened if need be.
	 */
	if ((rc == DOS_ERECOVER || rc == DOS_EBUSY) && s->active &&
	    (rc = dos_pack_writer_flush_end(w)) == 0)
		rc = dos_index_get_as_writer(w->ix, oid, &e);
	if (rc == 0)
		return 1;
	if (rc != DOS_ENOTFOUND)
		return rc;
	if (flags & DOS_PACK_ADD_DEDUP_LOOSE) {
		rc = dos_loose_stat(w->st, oid, NULL);
		if (rc == 0)
			return 1;
		if (rc != DOS_ENOTFOUND)
			return rc;
	}
	return 0;
}

int
dos_pack_writer_has(struct dos_pack_writer *w, const struct dos_oid *oid,
    unsigned flags)
{
	return already_stored(w, oid, flags);
}

static int settle(struct dos_pack_writer *w, size_t keep);

/* Start a new pack when the current one has reached its target size. */
static int
maybe_roll(struct dos_pack_writer *w)
{
	uint64_t queued = w->queue != NULL ? w->queue->bytes : 0;
	int rc;

	/*
	 * Objects waiting to be compressed count at their raw size plus a
	 * header, an upper bound: once it reaches the target, they go into
	 * the pack first, so that the pack rolls over where its bytes do,
	 * whatever the threads' timing (the same input always gives the
	 * same packs).
	 */
	if (queued > 0 && w->end + queued >= w->st->cfg.pack_size_target &&
	    (rc = settle(w, 0)) < 0)
		return rc;
	if (w->end < w->st->cfg.pack_size_target ||
	    w->end <= DOS_PACK_HEADER_SIZE)
		return 0;
	if ((rc = dos_pack_writer_flush(w)) < 0)
		return rc;
	return create_pack(w, w->pack + 1);
}

/*
 * What to store for a small object: out holds the compressed bytes when
 * compression pays (or is forced), else *data is raw itself.
 */
static int
encode_small(struct dos_compressor *comp, enum dos_compress_mode mode,
    enum dos_codec codec, const unsigned char *raw, size_t len,
    unsigned char *out, size_t out_size, const unsigned char **data,
    size_t *stored, enum dos_codec *used, uint32_t *dict)
{
	int rc;

	*data = raw;
	*stored = len;
	*used = DOS_CODEC_NONE;
	*dict = 0;
	if (mode == DOS_COMPRESS_ALWAYS ||
	    (mode == DOS_COMPRESS_AUTO && dos_codec_worth_trying(raw, len))) {
		if ((rc = dos_compress(comp, out, out_size, raw, len, stored)) < 0)
			return rc;
		if (mode == DOS_COMPRESS_ALWAYS || dos_codec_pays(len, *stored)) {
			*data = out;
			*used = codec;
			*dict = comp->dict;
		} else {
			*stored = len;
		}
	}
	return 0;
}

static int
append_entry(struct dos_pack_writer *w, struct dos_pack_entry *pe,
    const unsigned char *data)
{
	unsigned char hdr[DOS_ENTRY_HEADER_MAX];
	int rc;

	if ((rc = append(w, hdr, dos_pack_encode_entry(hdr, pe, 0))) < 0)
		return rc;
	return append(w, data, pe->stored_size);
}

static int
add_small(struct dos_pack_writer *w, const unsigned char *buf, size_t len,
    const struct dos_oid *oid, struct dos_pack_entry *pe)
{
	const unsigned char *data;
	size_t stored;
	int rc;

	if ((rc = encode_small(&w->comp, w->mode, w->st->cfg.codec, buf, len,
	    w->packed, w->packed_size, &data, &stored, &pe->codec,
	    &pe->dict)) < 0)
		return rc;
	pe->oid = *oid;
	pe->flags = 0;
	pe->raw_size = len;
	pe->stored_size = stored;
	pe->data_crc = dos_crc32(0, data, stored);
	return append_entry(w, pe, data);
}

int
dos_pack_encode_object(struct dos_compressor *c, enum dos_compress_mode mode,
    const struct dos_oid *oid, const void *raw, size_t len,
    unsigned char *out, size_t out_size, struct dos_pack_entry *pe)
{
	unsigned char *room = out + DOS_ENTRY_HEADER_MAX;
	unsigned char hdr[DOS_ENTRY_HEADER_MAX];
	const unsigned char *data;
	size_t stored;
	int rc;

	if (out_size < DOS_ENTRY_HEADER_MAX + dos_codec_bound(c->codec, len))
		return DOS_EINVAL;
	if (c->codec == DOS_CODEC_NONE)
		mode = DOS_COMPRESS_NEVER;
	if ((rc = encode_small(c, mode, c->codec, raw, len, room,
	    out_size - DOS_ENTRY_HEADER_MAX, &data, &stored, &pe->codec,
	    &pe->dict)) < 0)
		return rc;
	pe->oid = *oid;
	pe->flags = 0;
	pe->raw_size = len;
	pe->stored_size = stored;
	pe->data_crc = dos_crc32(0, data, stored);
	/* The header's size is known only now: the bytes move up to it. */
	pe->header_size = (unsigned)dos_pack_encode_entry(hdr, pe, 0);
	memmove(out + pe->header_size, data, stored);
	memcpy(out, hdr, pe->header_size);
	return 0;
}

/*
 * Compress a closed group's decoded bytes (j->raw[0..len)) into the room
 * after them; codec none if that does not pay.  Its members are what the
 * writer's dictionary may be trained from, as single objects are.
 */
static int
encode_group(struct dos_compressor *c, struct job *j)
{
	size_t bound = dos_codec_bound(c->codec, j->len);
	unsigned char *out = j->raw + j->len;
	struct dos_group_member m;
	struct dos_group g;
	uint32_t i;
	int rc;

	if ((rc = dos_group_parse(j->raw, j->len, &g)) < 0)
		return rc;
	for (i = 0; i < g.members && dos_group_member(&g, i, &m) == 0; i++)
		dos_dicts_offer(c->dicts, m.data, m.size);
	if ((rc = dos_compress_group(c, out, out + bound, bound, j->raw,
	    j->len, &j->stored_len)) < 0)
		return rc;
	j->stored = out;
	j->codec = dos_codec_pays(j->len, j->stored_len) ? c->codec :
	    DOS_CODEC_NONE;
	j->dict = c->dict;
	j->crc = dos_crc32(0, out, j->stored_len);
	return 0;
}

/*
 * Append a compressed group, and point its members' records at it; or,
 * when it does not pay, each member as an entry of its own.  The first
 * group makes the container one of format 2 first.
 */
static int
append_group(struct dos_pack_writer *w, const struct job *j)
{
	struct dos_group_member m;
	struct dos_pack_entry pe;
	struct dos_group g;
	struct record *r;
	uint64_t start = w->end;
	uint32_t i;
	int rc;

	if (j->codec == DOS_CODEC_NONE) {
		if ((rc = dos_group_parse(j->raw, j->len, &g)) < 0)
			return rc;
		for (i = 0; i < g.members; i++) {
			r = &w->recs[j->members[i]];
			start = w->end;
			if ((rc = dos_group_member(&g, i, &m)) < 0 ||
			    (rc = add_small(w, m.data, m.size, &r->oid,
			    &pe)) < 0)
				return rc;
			r->entry = (struct dos_index_entry){ w->pack, pe.codec,
			    start, pe.stored_size, pe.raw_size, 0 };
			w->batch_stored += w->end - start;
		}
		return 0;
	}
	if ((rc = dos_config_allow_groups(w->st->dirfd, &w->st->cfg)) < 0)
		return rc;
	memset(&pe, 0, sizeof pe);
	pe.flags = DOS_ENTRY_GROUP;
	pe.codec = j->codec;
	pe.dict = j->dict;
	pe.raw_size = j->len;
	pe.stored_size = j->stored_len;
	pe.data_crc = j->crc;
	if ((rc = append_entry(w, &pe, j->stored)) < 0)
		return rc;
	for (i = 0; i < j->members_nr; i++) {
		r = &w->recs[j->members[i]];
		r->entry.pack = w->pack;
		r->entry.offset = start;
	}
	w->batch_stored += w->end - start;
	return 0;
}

static void *
compressor_main(void *data)
{
	struct compress_queue *q = data;
	struct dos_compressor comp;
	struct dos_stored_check check;
	struct job *j;
	size_t first, n, i;
	int init_rc, check_rc = 1;	/* 1: not made yet */

	init_rc = dos_compressor_init(&comp, q->codec, q->level);
	comp.dicts = q->dicts;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->stop && q->next == q->tail) {
			q->idle++;
			pthread_cond_wait(&q->work, &q->lock);
			q->idle--;
		}
		if (q->next == q->tail)
			break;
		/* A share of what waits, so that no thread sits idle. */
		n = (q->tail - q->next + (size_t)q->nthreads - 1) /
		    (size_t)q->nthreads;
		if (n > TAKE_JOBS)
			n = TAKE_JOBS;
		first = q->next;
		q->next += n;
		pthread_mutex_unlock(&q->lock);
		for (i = first; i < first + n; i++) {
			j = &q->jobs[i % QUEUE_JOBS];
			if (j->members != NULL) {
				j->rc = init_rc < 0 ? init_rc :
				    encode_group(&comp, j);
				continue;
			}
			if (j->encoded) {
				if (check_rc == 1)
					check_rc = dos_stored_check_init(&check);
				j->rc = check_rc < 0 ? check_rc :
				    dos_stored_check(&check, j->codec,
				    j->raw_size, j->raw, j->len, &j->oid);
				continue;
			}
			j->rc = init_rc < 0 ? init_rc : encode_small(&comp,
			    q->mode, q->codec, j->raw, j->len, j->raw + j->len,
			    dos_codec_bound(q->codec, j->len), &j->stored,
			    &j->stored_len, &j->codec, &j->dict);
			if (j->rc == 0)
				j->crc = dos_crc32(0, j->stored, j->stored_len);
		}
		pthread_mutex_lock(&q->lock);
		for (i = first; i < first + n; i++)
			q->jobs[i % QUEUE_JOBS].done = 1;
		if (q->waiting)
			pthread_cond_signal(&q->ready);
	}
	pthread_mutex_unlock(&q->lock);
	if (init_rc == 0)
		dos_compressor_release(&comp);
	if (check_rc == 0)
		dos_stored_check_release(&check);
	return NULL;
}

/* Threads to compress with, when there is more than one CPU to run them. */
static void
queue_start(struct dos_pack_writer *w)
{
	struct compress_queue *q;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 2 || (q = calloc(1, sizeof *q)) == NULL)
		return;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->ready, NULL);
	q->mode = w->mode;
	q->codec = w->st->cfg.codec;
	q->level = w->st->cfg.level;
	q->dicts = w->dicts;
	while (q->nthreads < (cpus < MAX_COMPRESSORS ? cpus : MAX_COMPRESSORS) &&
	    pthread_create(&q->threads[q->nthreads], NULL, compressor_main, q) == 0)
		q->nthreads++;
	if (q->nthreads > 0) {
		w->queue = q;
		return;
	}
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->ready);
	free(q);
}

static void
queue_stop(struct compress_queue *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = 1;
	/* Jobs no thread took are dropped with the rest: none is appended. */
	q->next = q->tail;
	pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->lock);
	while (q->nthreads > 0)
		pthread_join(q->threads[--q->nthreads], NULL);
	for (; q->head < q->tail; q->head++) {
		free(q->jobs[q->head % QUEUE_JOBS].raw);
		free(q->jobs[q->head % QUEUE_JOBS].members);
	}
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->ready);
	free(q);
}

/* Append the oldest job, compressed, where its record says it is. */
static int
append_job(struct dos_pack_writer *w, struct job *j)
{
	struct record *r = &w->recs[j->rec];
	struct dos_pack_entry pe;
	int rc;

	if (j->encoded && j->rc == DOS_ECORRUPT) {
		r->dropped = 1;
		w->batch_raw -= j->raw_size;
		w->batch_stored -= dos_pack_header_size(DOS_PACK_VERSION,
		    DOS_CODEC_NONE, 0, j->raw_size, 0);
		return j->checked(j->checked_data, &j->oid, j->rc);
	}
	if (j->rc < 0)
		return j->rc;
	if (j->members != NULL)
		return append_group(w, j);
	pe.oid = r->oid;
	pe.flags = 0;
	pe.codec = j->codec;
	pe.dict = j->dict;
	pe.raw_size = j->encoded ? j->raw_size : j->len;
	pe.stored_size = j->stored_len;
	pe.data_crc = j->crc;
	r->entry.pack = w->pack;
	r->entry.codec = j->codec;
	r->entry.offset = w->end;
	r->entry.stored_size = j->stored_len;
	if ((rc = append_entry(w, &pe, j->stored)) < 0)
		return rc;
	w->batch_stored += j->stored_len;
	return j->encoded ? j->checked(j->checked_data, &j->oid, 0) : 0;
}

/*
 * Append the compressed jobs at the head of the queue, in order, waiting
 * for them while more than keep are queued (keep 0: all of them).
 */
static int
settle(struct dos_pack_writer *w, size_t keep)
{
	struct compress_queue *q = w->queue;
	struct job *j;
	int rc;

	if (q == NULL)
		return 0;
	for (;;) {
		pthread_mutex_lock(&q->lock);
		while (q->head < q->tail && q->tail - q->head > keep &&
		    !q->jobs[q->head % QUEUE_JOBS].done) {
			/* Jobs held back for a batch must be taken now. */
			if (q->idle > 0 && q->next < q->tail)
				pthread_cond_broadcast(&q->work);
			q->waiting = 1;
			pthread_cond_wait(&q->ready, &q->lock);
			q->waiting = 0;
		}
		j = &q->jobs[q->head % QUEUE_JOBS];
		if (q->head == q->tail || !j->done) {
			pthread_mutex_unlock(&q->lock);
			return 0;
		}
		pthread_mutex_unlock(&q->lock);
		rc = append_job(w, j);
		free(j->raw);
		free(j->members);
		pthread_mutex_lock(&q->lock);
		q->bytes -= j->len + DOS_ENTRY_HEADER_MAX;
		q->head++;
		pthread_mutex_unlock(&q->lock);
		if (rc < 0)
			return rc;
	}
}

/*
 * Hand a small object to the threads, with room bytes after it to
 * compress into (an encoded job, from how, needs none); its record joins
 * now.  A group's job, from how, has its members' records already: a
 * copy of their list goes with it.
 */
static int
enqueue(struct dos_pack_writer *w, const unsigned char *buf, size_t len,
    size_t room, const struct dos_oid *oid, const struct job *how)
{
	struct compress_queue *q = w->queue;
	struct job *j;
	unsigned char *copy;
	size_t *members = NULL;
	int rc;

	if (q->tail - q->head == QUEUE_JOBS ||
	    (q->tail > q->head && q->bytes + len > QUEUE_BYTES)) {
		if ((rc = settle(w, q->tail - q->head - 1)) < 0)
			return rc;
	}
	if ((copy = malloc(len + room)) == NULL)
		return DOS_ENOMEM;
	memcpy(copy, buf, len);
	if (how != NULL && how->members != NULL) {
		rc = (members = malloc(how->members_nr * sizeof *members)) ==
		    NULL ? DOS_ENOMEM : 0;
		if (members != NULL)
			memcpy(members, how->members,
			    how->members_nr * sizeof *members);
	} else {
		rc = batch_add(w, oid, &(struct dos_index_entry){ w->pack,
		    DOS_CODEC_NONE, 0, 0, how != NULL ? how->raw_size : len,
		    0 }, 0);
	}
	if (rc < 0) {
		free(copy);
		return rc;
	}
	j = &q->jobs[q->tail % QUEUE_JOBS];
	if (how != NULL)
		*j = *how;
	else
		memset(j, 0, sizeof *j);
	j->members = members;
	j->rec = w->nr - 1;
	j->raw = copy;
	j->len = len;
	if (j->encoded) {
		j->stored = copy;
		j->stored_len = len;
	}
	pthread_mutex_lock(&q->lock);
	q->tail++;
	/* At most what it will take in the pack, for maybe_roll(). */
	q->bytes += len + DOS_ENTRY_HEADER_MAX;
	/* Waking a thread costs more than a job: wake one for a batch. */
	if (q->idle > 0 && q->tail - q->next >= WAKE_JOBS)
		pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->lock);
	return settle(w, SIZE_MAX);
}

/*
 * Forget everything appended from start on, but not what precedes it: if
 * none of it reached the file, only those bytes leave the buffer;
 * otherwise the buffer was written out whole and the file is cut back.
 */
static void
drop_since(struct dos_pack_writer *w, uint64_t start)
{
	int saved = errno;
	uint64_t written = w->end - w->wlen;

	if (written <= start) {
		w->wlen -= (size_t)(w->end - start);
	} else {
		w->wlen = 0;
		/* If this fails the tail is cut by the next writer instead. */
		(void)!dos_step_truncate("pack-drop-truncate", w->packfd, start);
	}
	w->end = start;
	errno = saved;
}

static int
stream_sink(void *data, const void *buf, size_t len)
{
	struct dos_pack_writer *w = data;

	w->obj_crc = dos_crc32(w->obj_crc, buf, len);
	w->obj_stored += len;
	return append(w, buf, len);
}

/*
 * Objects come in as a stream: begin, write..., end (or abort).  The
 * first SMALL_OBJECT_MAX bytes are held in w->raw; an object that ends
 * there is compressed in one call.  A larger one switches to streaming:
 * its first chunk decides whether compression pays, a placeholder header
 * goes first and is rewritten once sizes, checksum and id are known.
 * An object begun with dos_pack_writer_begin_encoded() streams its
 * stored bytes as they come.
 */
int
dos_pack_writer_begin(struct dos_pack_writer *w)
{
	int rc;

	if ((rc = maybe_roll(w)) < 0)
		return rc;
	w->obj_held = 0;
	w->obj_streaming = 0;
	w->obj_encoded = 0;
	w->obj_raw = 0;
	return dos_hasher_reset(&w->hasher);
}

/*
 * The placeholder (wide) header of a streamed entry, rewritten by end;
 * queued entries go first, since this one is written as it comes.
 */
static int
start_entry(struct dos_pack_writer *w, enum dos_codec codec)
{
	unsigned char hdr[DOS_ENTRY_HEADER_MAX];
	int rc;

	if ((rc = settle(w, 0)) < 0)
		return rc;
	w->obj_codec = codec;
	w->obj_start = w->end;
	w->obj_crc = 0;
	w->obj_stored = 0;
	w->obj_streaming = 1;
	memset(hdr, 0, sizeof hdr);
	return append(w, hdr, dos_pack_wide_header_size(codec));
}

int
dos_pack_writer_begin_encoded(struct dos_pack_writer *w, enum dos_codec codec,
    uint64_t raw_size)
{
	int rc;

	if ((rc = dos_pack_writer_begin(w)) < 0)
		return rc;
	w->obj_encoded = 1;
	w->obj_compress = 0;
	w->obj_raw = raw_size;
	return start_entry(w, codec);
}

static int feed(struct dos_pack_writer *w, const void *buf, size_t len,
    int last);

static int
start_streaming(struct dos_pack_writer *w)
{
	size_t sample;
	int rc;

	w->obj_compress = w->mode == DOS_COMPRESS_ALWAYS;
	if (w->mode == DOS_COMPRESS_AUTO &&
	    dos_codec_worth_trying(w->raw, w->obj_held)) {
		if ((rc = dos_compress(&w->comp, w->packed, w->packed_size,
		    w->raw, w->obj_held, &sample)) < 0)
			return rc;
		w->obj_compress = dos_codec_pays(w->obj_held, sample);
	}
	if ((rc = start_entry(w, w->obj_compress ? w->st->cfg.codec :
	    DOS_CODEC_NONE)) < 0)
		return rc;
	if (w->obj_compress && (rc = dos_compress_stream_begin(&w->comp)) < 0)
		return rc;
	return feed(w, w->raw, w->obj_held, 0);
}

/* Compressed or not, bytes of a streaming object go to the pack. */
static int
feed(struct dos_pack_writer *w, const void *buf, size_t len, int last)
{
	if (w->obj_compress)
		return dos_compress_stream(&w->comp, buf, len, last, stream_sink, w);
	return len > 0 ? stream_sink(w, buf, len) : 0;
}

int
dos_pack_writer_write(struct dos_pack_writer *w, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t step;
	int rc;

	if (w->obj_encoded)
		return stream_sink(w, buf, len);
	if ((rc = dos_hasher_update(&w->hasher, buf, len)) < 0)
		return rc;
	w->obj_raw += len;
	if (w->obj_streaming)
		return feed(w, p, len, 0);
	step = SMALL_OBJECT_MAX - w->obj_held;
	if (step > len)
		step = len;
	memcpy(w->raw + w->obj_held, p, step);
	w->obj_held += step;
	if (step == len)
		return 0;
	if ((rc = start_streaming(w)) < 0)
		return rc;
	return feed(w, p + step, len - step, 0);
}

void
dos_pack_writer_abort(struct dos_pack_writer *w)
{
	if (w->obj_streaming)
		drop_since(w, w->obj_start);
	w->obj_streaming = 0;
	w->obj_encoded = 0;
	w->obj_held = 0;
}

/*
 * Close the open group, if any: its table goes in front of its members'
 * bytes, and the whole is compressed as one job.  The group reaches the
 * pack before the batch's records commit, and before any tombstone
 * after it: a rebuild, in pack order, must find a deletion after what
 * it deletes.
 */
static int
close_group(struct dos_pack_writer *w)
{
	unsigned char table[GROUP_TABLE_ROOM];
	struct job how;
	size_t tlen;
	int rc;

	if (w->group_members == 0)
		return 0;
	tlen = dos_group_encode_table(table, w->group_members, w->group_sizes,
	    w->group_ids);
	memset(&how, 0, sizeof how);
	how.raw = w->group_buf + GROUP_TABLE_ROOM - tlen;
	how.len = tlen + w->group_len;
	how.members = w->group_recs;
	how.members_nr = w->group_members;
	memcpy(how.raw, table, tlen);
	w->group_members = 0;
	w->group_len = 0;
	if (w->queue != NULL)
		return enqueue(w, how.raw, how.len,
		    2 * dos_codec_bound(w->queue->codec, how.len), NULL, &how);
	if ((rc = encode_group(&w->comp, &how)) < 0)
		return rc;
	return append_group(w, &how);
}

/* A small object joins the open group, closed once it is full. */
static int
add_to_group(struct dos_pack_writer *w, const struct dos_oid *oid)
{
	uint32_t i = w->group_members;
	int rc;

	if ((rc = batch_add(w, oid, &(struct dos_index_entry){ w->pack,
	    DOS_CODEC_NONE, 0, 0, w->obj_held, i + 1 }, 0)) < 0)
		return rc;
	memcpy(w->group_buf + GROUP_TABLE_ROOM + w->group_len, w->raw,
	    w->obj_held);
	w->group_len += w->obj_held;
	w->group_sizes[i] = w->obj_held;
	w->group_ids[i] = *oid;
	w->group_recs[i] = w->nr - 1;
	w->group_members++;
	if (w->group_len >= GROUP_CLOSE_RAW ||
	    w->group_members == GROUP_CLOSE_MEMBERS)
		return close_group(w);
	return 0;
}

int
dos_pack_writer_group_small(struct dos_pack_writer *w)
{
	/* An index of fixed records cannot locate members. */
	if (w->grouping || w->journal.fd >= 0 ||
	    w->st->cfg.codec != DOS_CODEC_ZSTD ||
	    w->mode != DOS_COMPRESS_AUTO || !dos_index_holds_members(w->ix))
		return 0;
	if ((w->group_buf = malloc(GROUP_TABLE_ROOM + GROUP_RAW_MAX +
	    2 * dos_codec_bound(w->st->cfg.codec, GROUP_TABLE_ROOM +
	    GROUP_RAW_MAX))) == NULL)
		return DOS_ENOMEM;
	w->grouping = 1;
	return 0;
}

int
dos_pack_writer_end(struct dos_pack_writer *w, const struct dos_oid *expected,
    unsigned flags, struct dos_oid *oid, int *existed)
{
	unsigned char hdr[DOS_ENTRY_HEADER_MAX];
	struct dos_pack_entry pe;
	uint64_t start;
	int rc;

	*existed = 0;
	if (w->obj_encoded) {
		/* Only the caller, who decoded the bytes, knows their id. */
		if (expected == NULL) {
			rc = DOS_EINVAL;
			goto fail;
		}
		*oid = *expected;
	} else if ((rc = dos_hasher_final(&w->hasher, oid)) < 0) {
		goto fail;
	} else if (expected != NULL && dos_oid_cmp(expected, oid) != 0) {
		rc = DOS_ECORRUPT;
		goto fail;
	}
	if (w->obj_streaming && (rc = feed(w, NULL, 0, 1)) < 0)
		goto fail;
	if (!(flags & DOS_PACK_ADD_NO_DEDUP) &&
	    (rc = already_stored(w, oid, flags)) != 0) {
		if (rc > 0) {
			*existed = 1;
			rc = 0;
		}
		goto fail;
	}
	if (!w->obj_streaming && w->grouping &&
	    w->obj_held < GROUP_MEMBER_MAX &&
	    dos_codec_worth_trying(w->raw, w->obj_held)) {
		if ((rc = add_to_group(w, oid)) < 0)
			goto fail;
		return 0;
	}
	if (!w->obj_streaming && w->queue != NULL) {
		if ((rc = enqueue(w, w->raw, w->obj_held, dos_codec_bound(
		    w->queue->codec, w->obj_held), oid, NULL)) < 0)
			goto fail;
		return 0;
	}
	if (!w->obj_streaming) {
		start = w->end;
		if ((rc = add_small(w, w->raw, w->obj_held, oid, &pe)) < 0)
			goto fail;
	} else {
		start = w->obj_start;
		pe.oid = *oid;
		pe.codec = w->obj_codec;
		pe.dict = 0;
		pe.flags = 0;
		pe.raw_size = w->obj_raw;
		pe.stored_size = w->obj_stored;
		pe.data_crc = w->obj_crc;
		if ((rc = write_out(w)) < 0)
			goto fail;
		if (dos_step_pwrite("pack-entry-header-write", w->packfd, hdr,
		    dos_pack_encode_entry(hdr, &pe, 1), start) < 0) {
			rc = DOS_EIO;
			goto fail;
		}
		w->obj_streaming = 0;
		w->obj_encoded = 0;
	}
	return batch_add(w, oid, &(struct dos_index_entry){ w->pack, pe.codec,
	    start, pe.stored_size, pe.raw_size, 0 }, 0);
fail:
	dos_pack_writer_abort(w);
	return rc;
}

int
dos_pack_writer_add_entry(struct dos_pack_writer *w, const struct dos_oid *oid,
    const void *entry, size_t len, unsigned flags, int *existed)
{
	struct dos_pack_entry pe;
	uint64_t start;
	int rc;

	*existed = 0;
	if (dos_pack_decode_entry(DOS_PACK_VERSION, entry, len, &pe) < 0 ||
	    pe.flags != 0 || !dos_pack_entry_is(&pe, oid) ||
	    len - pe.header_size != pe.stored_size)
		return DOS_EINVAL;
	if ((rc = maybe_roll(w)) < 0 || (rc = settle(w, 0)) < 0)
		return rc;
	if (!(flags & DOS_PACK_ADD_NO_DEDUP) &&
	    (rc = already_stored(w, oid, flags)) != 0) {
		if (rc < 0)
			return rc;
		*existed = 1;
		return 0;
	}
	start = w->end;
	if ((rc = append(w, entry, len)) < 0)
		return rc;
	return batch_add(w, oid, &(struct dos_index_entry){ w->pack,
	    pe.codec, start, pe.stored_size, pe.raw_size, 0 }, 0);
}

int
dos_pack_writer_add_checked(struct dos_pack_writer *w,
    const struct dos_oid *oid, enum dos_codec codec, uint64_t raw_size,
    const void *stored, size_t len, uint32_t data_crc, dos_checked_fn *done,
    void *data)
{
	struct dos_pack_entry pe;
	struct job how;
	uint64_t start;
	int rc;

	if ((rc = maybe_roll(w)) < 0)
		return rc;
	if (w->queue != NULL) {
		memset(&how, 0, sizeof how);
		how.encoded = 1;
		how.oid = *oid;
		how.raw_size = raw_size;
		how.codec = codec;
		how.crc = data_crc;
		how.checked = done;
		how.checked_data = data;
		return enqueue(w, stored, len, 0, oid, &how);
	}
	if (!w->check_ready) {
		if ((rc = dos_stored_check_init(&w->check)) < 0)
			return rc;
		w->check_ready = 1;
	}
	rc = dos_stored_check(&w->check, codec, raw_size, stored, len, oid);
	if (rc == DOS_ECORRUPT)
		return done(data, oid, rc);
	if (rc < 0)
		return rc;
	pe.oid = *oid;
	pe.codec = codec;
	pe.dict = 0;
	pe.flags = 0;
	pe.raw_size = raw_size;
	pe.stored_size = len;
	pe.data_crc = data_crc;
	start = w->end;
	if ((rc = append_entry(w, &pe, stored)) < 0 ||
	    (rc = batch_add(w, oid, &(struct dos_index_entry){ w->pack, codec,
	    start, len, raw_size, 0 }, 0)) < 0)
		return rc;
	return done(data, oid, 0);
}

int
dos_pack_writer_compressor(const struct dos_pack_writer *w,
    struct dos_compressor *c, enum dos_compress_mode *mode)
{
	int rc;

	*mode = w->mode;
	if ((rc = dos_compressor_init(c, w->st->cfg.codec,
	    w->st->cfg.level)) == 0)
		c->dicts = w->dicts;
	return rc;
}

int
dos_pack_writer_add(struct dos_pack_writer *w, dos_source_fn *source,
    void *sdata, const struct dos_oid *expected, unsigned flags,
    struct dos_oid *oid, int *existed)
{
	ssize_t n;
	int rc;

	if ((rc = dos_pack_writer_begin(w)) < 0)
		return rc;
	for (;;) {
		/* Straight into the held buffer while the object fits there. */
		if (!w->obj_streaming && w->obj_held < SMALL_OBJECT_MAX) {
			n = source(sdata, w->raw + w->obj_held,
			    SMALL_OBJECT_MAX - w->obj_held);
			if (n > 0) {
				w->obj_held += (size_t)n;
				w->obj_raw += (uint64_t)n;
				rc = dos_hasher_update(&w->hasher,
				    w->raw + w->obj_held - n, (size_t)n);
			}
		} else {
			n = source(sdata, w->chunk, STREAM_CHUNK);
			if (n > 0)
				rc = dos_pack_writer_write(w, w->chunk, (size_t)n);
		}
		if (n < 0) {
			rc = (int)n;
			break;
		}
		if (n == 0)
			return dos_pack_writer_end(w, expected, flags, oid, existed);
		if (rc < 0)
			break;
	}
	dos_pack_writer_abort(w);
	return rc;
}

static ssize_t
read_fd(void *data, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(*(int *)data, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? DOS_EREAD : n;
}

int
dos_pack_writer_add_fd(struct dos_pack_writer *w, int fd,
    const struct dos_oid *expected, unsigned flags, struct dos_oid *oid,
    int *existed)
{
	return dos_pack_writer_add(w, read_fd, &fd, expected, flags, oid,
	    existed);
}

int
dos_pack_writer_add_tombstone(struct dos_pack_writer *w,
    const struct dos_oid *oid)
{
	unsigned char hdr[DOS_ENTRY_HEADER_MAX];
	struct dos_pack_entry pe;
	uint64_t start;
	int rc;

	/* The journal only adds records. */
	if (w->journal.fd >= 0)
		return DOS_EINVAL;
	if ((rc = maybe_roll(w)) < 0 || (rc = close_group(w)) < 0 ||
	    (rc = settle(w, 0)) < 0)
		return rc;
	memset(&pe, 0, sizeof pe);
	pe.oid = *oid;
	pe.codec = DOS_CODEC_NONE;
	pe.flags = DOS_ENTRY_TOMBSTONE;
	pe.data_crc = dos_crc32(0, NULL, 0);
	start = w->end;
	if ((rc = append(w, hdr, dos_pack_encode_entry(hdr, &pe, 0))) < 0)
		return rc;
	return batch_add(w, oid, &(struct dos_index_entry){ w->pack,
	    DOS_CODEC_NONE, start, 0, 0, 0 }, 1);
}

int
dos_pack_writer_copy_entry(struct dos_pack_writer *w, int fd,
    uint64_t offset, const struct dos_pack_entry *pe)
{
	unsigned char hdr[DOS_ENTRY_HEADER_MAX];
	uint64_t start, left = pe->stored_size, pos;
	uint32_t crc = 0;
	size_t step;
	ssize_t n;
	int rc;

	/* Format 2 says no stored size for raw bytes: they are the raw size. */
	if (pe->codec == DOS_CODEC_NONE && pe->stored_size != pe->raw_size)
		return DOS_ECORRUPT;
	if ((rc = maybe_roll(w)) < 0 || (rc = close_group(w)) < 0 ||
	    (rc = settle(w, 0)) < 0)
		return rc;
	start = w->end;
	if ((rc = append(w, hdr, dos_pack_encode_entry(hdr, pe, 0))) < 0)
		return rc;
	pos = offset + pe->header_size;
	while (left > 0) {
		step = left < STREAM_CHUNK ? (size_t)left : STREAM_CHUNK;
		do
			n = pread(fd, w->raw, step, (off_t)pos);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			rc = n < 0 ? DOS_EIO : DOS_ECORRUPT;
			goto undo;
		}
		crc = dos_crc32(crc, w->raw, (size_t)n);
		if ((rc = append(w, w->raw, (size_t)n)) < 0)
			goto undo;
		pos += (uint64_t)n;
		left -= (uint64_t)n;
	}
	/* Never copy damage: the bytes must still match their checksum. */
	if (crc != pe->data_crc) {
		rc = DOS_ECORRUPT;
		goto undo;
	}
	return batch_add(w, &pe->oid, &(struct dos_index_entry){ w->pack,
	    pe->codec, start, pe->stored_size, pe->raw_size, 0 },
	    (pe->flags & DOS_ENTRY_TOMBSTONE) != 0);
undo:
	drop_since(w, start);
	return rc;
}

size_t
dos_pack_writer_pending(const struct dos_pack_writer *w)
{
	return w->nr;
}

uint64_t
dos_pack_writer_pending_bytes(const struct dos_pack_writer *w)
{
	return w->batch_stored;
}

uint32_t
dos_pack_writer_pack(const struct dos_pack_writer *w)
{
	return w->pack;
}

/*
 * One transaction: the batch's records and the pack's new length.  The
 * index's lock table holds what a transaction of DOS_INDEX_TXN_RECORDS
 * records can lock, whatever the index size: writers commit their
 * batches at that size, so one never has to be split (a process killed
 * between two parts would leave entries without records).
 */
static int
cmp_records(const void *a, const void *b)
{
	const struct record *ra = *(const struct record *const *)a;
	const struct record *rb = *(const struct record *const *)b;
	int c = dos_oid_cmp(&ra->oid, &rb->oid);

	/* An id's records stay in batch order. */
	return c != 0 ? c : (ra > rb) - (ra < rb);
}

/*
 * The records go in id order, the puts in one call (compressed runs of
 * the index are rewritten once for all the records they gain); of an
 * id's records the batch's last one stands, as if each were applied in
 * turn.  A deferring writer's go to the journal instead, durably, before
 * the transaction commits the pack length that covers their entries (a
 * retry writes them again, which the load takes as one).
 */
static int
commit_records(struct dos_pack_writer *w, const struct record *recs,
    size_t nr, uint32_t pack, uint64_t end)
{
	const struct record **order;
	struct dos_index_record *puts;
	size_t i, n = 0, nputs = 0;
	int rc;

	order = malloc(nr * sizeof *order + 1);
	puts = malloc(nr * sizeof *puts + 1);
	if (order == NULL || puts == NULL) {
		rc = DOS_ENOMEM;
		goto out;
	}
	/* A dropped record's bytes were not its object's: it never counts. */
	for (i = 0; i < nr; i++)
		if (!recs[i].dropped)
			order[n++] = &recs[i];
	qsort(order, n, sizeof *order, cmp_records);
	if ((rc = dos_index_begin(w->ix)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (i + 1 < n &&
		    dos_oid_cmp(&order[i]->oid, &order[i + 1]->oid) == 0)
			continue;
		if (!order[i]->tombstone) {
			puts[nputs].oid = order[i]->oid;
			puts[nputs++].entry = order[i]->entry;
		} else if ((rc = dos_index_del(w->ix, &order[i]->oid)) < 0 &&
		    rc != DOS_ENOTFOUND)
			goto fail;
	}
	if (w->journal.fd >= 0) {
		if ((rc = dos_journal_write(&w->journal, puts, nputs)) < 0)
			goto fail;
		nputs = 0;
	}
	if ((rc = dos_index_put_sorted(w->ix, puts, nputs)) < 0 ||
	    (rc = dos_index_set_pack_length(w->ix, pack, end)) < 0 ||
	    (rc = dos_index_commit(w->ix)) < 0)
		goto fail;
	goto out;
fail:
	dos_index_abort(w->ix);
out:
	free(order);
	free(puts);
	return rc;
}

/* A batch's first try: its data made durable, then its records committed. */
static int
sync_and_commit(struct dos_pack_writer *w, const struct record *recs,
    size_t nr, uint32_t pack, uint64_t end)
{
	/* The data must be durable before any record points at it. */
	if (dos_step_fdatasync("pack-fdatasync", w->packfd) < 0)
		return DOS_EIO;
	return commit_records(w, recs, nr, pack, end);
}

#define COMMIT_TRIES 5

/*
 * Another process may have died in the index: recovery then aborts the
 * transaction, or a lock it held times out.  The pack data is safe, so
 * the transaction is simply tried again; rc is the first try's result.
 * Reopening the index's handles is for the thread that owns the writer,
 * with no other using them.
 */
static int
commit_again(struct dos_pack_writer *w, int rc, const struct record *recs,
    size_t nr, uint32_t pack, uint64_t end)
{
	int tries;

	for (tries = 1; (rc == DOS_ERECOVER || rc == DOS_EBUSY) &&
	    tries < COMMIT_TRIES; tries++) {
		if ((rc = dos_index_reopen(w->ix)) < 0)
			break;
		rc = commit_records(w, recs, nr, pack, end);
	}
	return rc;
}

/*
 * The batch's entries all in the pack's file: 1 if there is something to
 * commit, 0 if not, or the error.
 */
static int
write_batch(struct dos_pack_writer *w)
{
	int rc;

	if ((rc = close_group(w)) < 0 || (rc = settle(w, 0)) < 0 ||
	    (rc = write_out(w)) < 0)
		return rc;
	return w->nr > 0 || w->end != w->committed;
}

/* A batch of nr objects committed, its entries ending at end. */
static void
count_committed(struct dos_pack_writer *w, size_t nr, uint64_t raw,
    uint64_t stored, uint64_t end)
{
	w->committed = end;
	w->total_objects += nr;
	w->total_raw += raw;
	w->total_stored += stored;
}

int
dos_pack_writer_flush(struct dos_pack_writer *w)
{
	int rc;

	if ((rc = dos_pack_writer_flush_end(w)) < 0 ||
	    (rc = write_batch(w)) <= 0)
		return rc;
	rc = sync_and_commit(w, w->recs, w->nr, w->pack, w->end);
	if ((rc = commit_again(w, rc, w->recs, w->nr, w->pack, w->end)) < 0)
		return rc;
	count_committed(w, w->nr, w->batch_raw, w->batch_stored, w->end);
	w->nr = 0;
	w->batch_raw = w->batch_stored = 0;
	if (w->set != NULL)
		memset(w->set, 0, w->set_size * sizeof *w->set);
	return 0;
}

/*
 * The batch becomes the sealed one, and the sealed one's arrays, long
 * committed, the new batch's.
 */
static void
seal(struct dos_pack_writer *w)
{
	struct sealed *s = &w->sealed;
	struct record *recs = s->recs;
	uint32_t *set = s->set;
	size_t alloc = s->alloc, set_size = s->set_size;

	s->recs = w->recs;
	s->alloc = w->alloc;
	s->set = w->set;
	s->set_size = w->set_size;
	s->nr = w->nr;
	s->raw = w->batch_raw;
	s->stored = w->batch_stored;
	s->pack = w->pack;
	s->end = w->end;
	s->active = 1;
	w->recs = recs;
	w->alloc = alloc;
	w->set = set;
	w->set_size = set_size;
	w->nr = 0;
	w->batch_raw = w->batch_stored = 0;
	if (w->set != NULL)
		memset(w->set, 0, w->set_size * sizeof *w->set);
}

static void *
commit_sealed(void *data)
{
	struct dos_pack_writer *w = data;
	struct sealed *s = &w->sealed;

	s->rc = sync_and_commit(w, s->recs, s->nr, s->pack, s->end);
	s->err = errno;
	return NULL;
}

/*
 * While the sealed batch's thread commits, the writer's own thread only
 * appends past its end and reads the index beside its transaction
 * (already_stored), and neither reopens the index's handles; whatever
 * else touches the index or the pack's file (a flush, a new pack,
 * closing) ends the sealed batch first.
 */
int
dos_pack_writer_flush_begin(struct dos_pack_writer *w)
{
	struct sealed *s = &w->sealed;
	int rc;

	if ((rc = dos_pack_writer_flush_end(w)) < 0)
		return rc;
	/* A deferring writer's journal is written in batch order. */
	if (w->journal.fd >= 0)
		return dos_pack_writer_flush(w);
	if ((rc = write_batch(w)) <= 0)
		return rc;
	seal(w);
	dos_index_share(w->ix, 1);
	s->threaded = pthread_create(&s->thread, NULL, commit_sealed, w) == 0;
	if (!s->threaded)
		commit_sealed(w);
	return 0;
}

int
dos_pack_writer_flush_end(struct dos_pack_writer *w)
{
	struct sealed *s = &w->sealed;
	int rc;

	if (!s->active)
		return w->failed;
	if (s->threaded)
		pthread_join(s->thread, NULL);
	s->active = 0;
	dos_index_share(w->ix, 0);
	errno = s->err;
	rc = commit_again(w, s->rc, s->recs, s->nr, s->pack, s->end);
	/*
	 * Its entries are now a torn tail, which no later commit may
	 * cover: the writer can only be closed.
	 */
	if (rc < 0)
		return w->failed = rc;
	count_committed(w, s->nr, s->raw, s->stored, s->end);
	s->nr = 0;
	return 0;
}

int
dos_pack_writer_defer(struct dos_pack_writer *w)
{
	if (w->nr > 0 || w->sealed.active || w->journal.fd >= 0)
		return DOS_EINVAL;
	/* The journal's records cannot locate members. */
	w->grouping = 0;
	return dos_journal_open(w->st, &w->journal);
}

int
dos_pack_writer_load_journal(struct dos_pack_writer *w)
{
	int rc;

	if (w->journal.fd < 0)
		return 0;
	if ((rc = dos_pack_writer_flush(w)) < 0)
		return rc;
	dos_journal_close(&w->journal);
	return dos_journal_load(w->st, w->ix);
}

int
dos_pack_writer_start_pack(struct dos_pack_writer *w)
{
	int rc;

	if ((rc = dos_pack_writer_flush(w)) < 0)
		return rc;
	if (w->end <= DOS_PACK_HEADER_SIZE)
		return 0;	/* the current pack is still empty */
	return create_pack(w, w->pack + 1);
}

void
dos_pack_writer_totals(const struct dos_pack_writer *w, uint64_t *objects,
    uint64_t *raw, uint64_t *stored)
{
	*objects = w->total_objects;
	*raw = w->total_raw;
	*stored = w->total_stored;
}

const char *
dos_pack_writer_dict_failure(const struct dos_pack_writer *w)
{
	return dos_dicts_failure(w->dicts);
}

void
dos_pack_writer_close(struct dos_pack_writer *w)
{
	if (w == NULL)
		return;
	/* A sealed batch's commit is let finish: its thread uses w. */
	if (w->sealed.active) {
		if (w->sealed.threaded)
			pthread_join(w->sealed.thread, NULL);
		dos_index_share(w->ix, 0);
	}
	queue_stop(w->queue);
	dos_dicts_close(w->dicts);
	/* Whatever was not flushed is a tail the next writer cuts off. */
	if (w->packfd >= 0)
		close(w->packfd);
	/* A journal not loaded is loaded by the next writer. */
	dos_journal_close(&w->journal);
	if (w->lockfd >= 0)
		close(w->lockfd);
	dos_compressor_release(&w->comp);
	if (w->hasher.ctx != NULL)
		dos_hasher_release(&w->hasher);
	if (w->check_ready)
		dos_stored_check_release(&w->check);
	free(w->recs);
	free(w->set);
	free(w->sealed.recs);
	free(w->sealed.set);
	free(w->wbuf);
	free(w->raw);
	free(w->chunk);
	free(w->packed);
	free(w->group_buf);
	free(w);
}
