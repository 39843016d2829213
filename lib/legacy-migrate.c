/*
 * legacy-migrate.c: the migration of a legacy container into a dos pack
 * writer.  The index rows, pack by pack in offset order, then the loose
 * objects no row has, are queued in jobs; worker threads verify and
 * encode the small copies of a job in memory, and the calling thread
 * writes the jobs out in the order they were filled, so the output never
 * depends on timing.  Copies too large for a job are streamed through
 * the calling thread.  A bad copy is reported, and the object's other
 * copies (the loose file, duplicates/) are tried in turn.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "legacy-int.h"

/* Pack bytes a job reads at once, and room for the entries made of them. */
#define JOB_IN_SIZE (2 << 20)
#define JOB_OUT_SIZE (4 << 20)
/* A hole this small between two rows is read through, not skipped. */
#define JOB_GAP_MAX (64 << 10)

/* ---- the migration ---- */

/* One copy to verify in memory, by a worker thread. */
struct item {
	struct dos_legacy_object obj;
	int compressed;
	uint64_t length;		/* stored bytes, at in_off in the job */
	uint64_t expect_size;
	size_t in_off;
	/*
	 * 0 until verified; then 0 (good), COPY_BAD (problem says why),
	 * COPY_NONE or a DOS_E* code.  Copies that could not be read at
	 * all get their outcome when they are queued.
	 */
	int status;
	enum dos_legacy_problem problem;
	int hopeless;			/* no key: nothing else to try */
	struct dos_oid oid;
	size_t out_off, out_len;	/* its pack entry in the job's out */
};

/* Copies read in one go, verified by one worker, written in order. */
struct job {
	struct item *items;
	size_t n, alloc;
	int fd;				/* the pack read at submission, or -1 */
	uint64_t base, span;		/* the pack bytes [base, base + span) */
	unsigned char *in, *out;
	size_t in_len, out_len, out_need;
	int read_errno;
	int done;			/* verified: the writer may take it */
};

struct worker {
	struct engine *e;
	pthread_t thread;
	struct verifier v;
};

struct engine {
	struct dos_legacy *lg;
	const struct dos_legacy_options *o;
	const struct dos_legacy_sink *sink;
	void *data;
	struct dos_legacy_stats *stats;
	enum dos_compress_mode mode;	/* how workers encode entries */
	enum dos_codec codec;
	/*
	 * A ring of jobs, numbered as they are filled: [consumed, filled)
	 * are queued (workers take them from started on) or done, filled
	 * is being filled while filling.  Only the calling thread fills
	 * and consumes, in order, so the output never depends on timing.
	 */
	struct job *jobs;
	size_t njobs;
	uint64_t consumed, started, filled;
	int filling, closing;
	uint64_t next_seq;		/* of the next object read */
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct worker *workers;
	int nworkers, started_workers;
};

static int
want(struct engine *e, const struct dos_legacy_object *obj)
{
	int rc = e->sink->want(e->data, obj);

	if (rc == 0)
		e->stats->present++;
	return rc;
}

/* A verified copy is in the pack (or, existed, was there already). */
static int
object_done(struct engine *e, const struct dos_legacy_object *obj,
    const struct dos_oid *oid, int existed)
{
	if (existed) {
		e->stats->present++;
	} else {
		e->stats->objects++;
		e->stats->bytes += obj->size;
	}
	return e->sink->migrated(e->data, obj, oid);
}

/* Where the bytes of a streamed copy come from. */
struct source {
	int fd;
	int bounded;		/* packed: [offset, offset + length) */
	uint64_t offset, length;
	int compressed;
	uint64_t expect_size;	/* recorded by the index, or of the file */
};

/*
 * How a streamed copy is stored: decoded and compressed as the writer
 * does, or as the legacy container stores it (compressed bytes as they
 * are, where keepable), or decoded and raw.
 */
enum store_as {
	STORE_RECOMPRESSED,
	STORE_AS_IS,
	STORE_RAW,
};

/* Read up to len bytes of the source at pos into buf. */
static ssize_t
read_source(const struct source *src, void *buf, size_t len, uint64_t pos)
{
	ssize_t n;

	do {
		if (src->bounded)
			n = pread(src->fd, buf, len, (off_t)(src->offset + pos));
		else
			n = read(src->fd, buf, len);
	} while (n < 0 && errno == EINTR);
	return n;
}

/*
 * Stream a copy too large for the workers through the calling thread's
 * buffers into the writer (if any), verifying it on the way.  0 if it
 * was stored (*oid, *existed and obj->size set), COPY_BAD (*problem),
 * COPY_AGAIN or a DOS_E* code.
 */
static int
stream_copy(struct engine *e, struct dos_legacy_object *obj,
    const struct source *src, enum store_as as, struct dos_oid *oid,
    int *existed, enum dos_legacy_problem *problem)
{
	struct dos_legacy *lg = e->lg;
	struct dos_pack_writer *w = e->o->writer;
	struct copy c;
	uint64_t pos = 0;
	size_t want_len;
	ssize_t n;
	int rc = 0, begun = 0, read_errno = 0, kept = 0;

	*existed = 0;
	for (;;) {
		want_len = IO_BUF_SIZE;
		if (src->bounded && src->length - pos < want_len)
			want_len = (size_t)(src->length - pos);
		n = want_len > 0 ? read_source(src, lg->inbuf, want_len, pos) : 0;
		if (n < 0)
			read_errno = errno;
		if (!begun) {
			rc = copy_begin(&c, &lg->v, src->compressed, lg->inbuf,
			    n > 0 ? (size_t)n : 0, src->expect_size);
			if (rc < 0)
				break;
			begun = 1;
			obj->codec = c.codec;
			kept = as == STORE_AS_IS &&
			    keepable(c.codec, src->expect_size, src->length);
			if (w != NULL && (rc = as == STORE_RECOMPRESSED ?
			    dos_pack_writer_begin(w) :
			    dos_pack_writer_begin_encoded(w, kept ? c.codec :
			    DOS_CODEC_NONE, src->expect_size)) < 0)
				break;
			c.w = kept ? NULL : w;
		}
		if (n < 0) {
			c.sys_errno = read_errno;
			rc = copy_bad(&c, DOS_LEGACY_UNREADABLE);
			break;
		}
		if (n == 0) {
			if (src->bounded && pos < src->length)
				rc = copy_bad(&c, DOS_LEGACY_TRUNCATED);
			break;
		}
		if ((rc = copy_feed(&c, lg->inbuf, (size_t)n)) != 0)
			break;
		if (kept && w != NULL &&
		    (rc = dos_pack_writer_write(w, lg->inbuf, (size_t)n)) < 0)
			break;
		pos += (uint64_t)n;
	}
	if (rc == 0)
		rc = copy_end(&c, obj->key, oid);
	/* Frames one after another are not one dos zstd entry. */
	if (rc == 0 && kept && c.multi_frame)
		rc = COPY_AGAIN;
	if (rc != 0) {
		if (w != NULL && begun)
			dos_pack_writer_abort(w);
		*problem = c.problem;
		obj->sys_errno = c.sys_errno;
		return rc;
	}
	obj->size = c.count;
	return w != NULL ? dos_pack_writer_end(w, oid, e->o->fresh ?
	    DOS_PACK_ADD_NO_DEDUP : 0, oid, existed) : 0;
}

/* Stream a copy in; a bad one is reported.  0, COPY_BAD or DOS_E*. */
static int
try_stream(struct engine *e, struct dos_legacy_object *obj,
    const struct source *src)
{
	enum dos_legacy_problem problem;
	struct dos_oid oid;
	int rc, existed;

	obj->sys_errno = 0;
	rc = stream_copy(e, obj, src, e->o->keep_compression ? STORE_AS_IS :
	    STORE_RECOMPRESSED, &oid, &existed, &problem);
	if (rc == COPY_AGAIN)
		rc = stream_copy(e, obj, src, STORE_RAW, &oid, &existed,
		    &problem);
	if (rc == COPY_BAD)
		e->sink->bad_copy(e->data, obj, problem);
	if (rc != 0)
		return rc;
	return object_done(e, obj, &oid, existed);
}

static void
loose_name(const struct dos_legacy *lg, const char *key, char *buf,
    size_t size)
{
	int p = lg->cfg.loose_prefix_len;

	if (p == 0)
		snprintf(buf, size, "%s", key);
	else
		snprintf(buf, size, "%.*s/%s", p, key, key + p);
}

/*
 * Open the loose or duplicates/ file name: 0 (*fd and *size set),
 * COPY_NONE if there is no such file, COPY_BAD (with obj->sys_errno) if
 * it cannot be read.
 */
static int
open_file(int dirfd, const char *name, struct dos_legacy_object *obj,
    int *fd, uint64_t *size)
{
	struct stat sb;

	obj->sys_errno = 0;
	*fd = open_regular(dirfd, name, &sb);
	if (*fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return COPY_NONE;
	if (*fd < 0) {
		obj->sys_errno = errno;
		return COPY_BAD;
	}
	*size = (uint64_t)sb.st_size;
	posix_fadvise(*fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

/* Stream a loose or duplicates/ file in: 0, COPY_BAD, COPY_NONE, DOS_E*. */
static int
try_file(struct engine *e, struct dos_legacy_object *obj, int dirfd,
    const char *name)
{
	struct source src = { -1, 0, 0, 0, 0, 0 };
	int rc;

	rc = open_file(dirfd, name, obj, &src.fd, &src.expect_size);
	if (rc == COPY_BAD)
		e->sink->bad_copy(e->data, obj, DOS_LEGACY_UNREADABLE);
	if (rc != 0)
		return rc;
	rc = try_stream(e, obj, &src);
	close(src.fd);
	return rc;
}

/* The copies in duplicates/<key>.*, in name order. */
static int
try_duplicates(struct engine *e, struct dos_legacy_object *obj)
{
	struct dos_legacy *lg = e->lg;
	size_t lo = 0, hi = lg->ndups, mid, klen = strlen(obj->key);
	int rc;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(lg->dups[mid], obj->key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	obj->where = DOS_LEGACY_DUPLICATE;
	for (; lo < lg->ndups; lo++) {
		if (strncmp(lg->dups[lo], obj->key, klen) != 0)
			break;
		if (lg->dups[lo][klen] != '.')
			continue;
		lg->dups_tried++;
		rc = try_file(e, obj, lg->dupfd, lg->dups[lo]);
		if (rc != COPY_BAD && rc != COPY_NONE)
			return rc;
	}
	return COPY_NONE;
}

/* After a bad first copy: the loose file (unless that was it), duplicates. */
static int
try_fallbacks(struct engine *e, struct dos_legacy_object *obj)
{
	struct dos_legacy *lg = e->lg;
	char name[2 * DOS_LEGACY_MAX_KEY];
	int rc = COPY_NONE;

	if (obj->where == DOS_LEGACY_PACKED) {
		obj->where = DOS_LEGACY_LOOSE;
		loose_name(lg, obj->key, name, sizeof name);
		rc = try_file(e, obj, lg->loosefd, name);
		if (rc != COPY_NONE)
			lg->loose_tried++;
	}
	if (rc == COPY_BAD || rc == COPY_NONE)
		rc = try_duplicates(e, obj);
	if (rc == 0) {
		e->stats->recovered++;
		return 0;
	}
	if (rc < 0)
		return rc;
	e->sink->lost(e->data, obj);
	e->stats->failed++;
	return 0;
}

/* Stream obj in from src, then from its other copies if src is bad. */
static int
migrate_streamed(struct engine *e, struct dos_legacy_object *obj,
    const struct source *src)
{
	int rc = try_stream(e, obj, src);

	return rc == COPY_BAD ? try_fallbacks(e, obj) : rc;
}

/* ---- the workers ---- */

/* Encode a verified item as its pack entry, after those before it. */
static int
encode_item(struct worker *wk, struct job *j, struct item *it,
    const struct copy *c, const unsigned char *in)
{
	struct engine *e = wk->e;
	unsigned char *out = j->out + j->out_len;
	struct dos_pack_entry pe;
	int rc;

	if (e->o->keep_compression && !c->multi_frame &&
	    keepable(c->codec, c->count, it->length)) {
		pe.oid = it->oid;
		pe.codec = c->codec;
		pe.dict = 0;
		pe.flags = 0;
		pe.raw_size = c->count;
		pe.stored_size = it->length;
		pe.data_crc = dos_crc32(0, in, (size_t)it->length);
		pe.header_size = (unsigned)dos_pack_encode_entry(out, &pe, 0);
		memcpy(out + pe.header_size, in, (size_t)it->length);
	} else if ((rc = dos_pack_encode_object(&wk->v.comp,
	    e->o->keep_compression ? DOS_COMPRESS_NEVER : e->mode, &it->oid,
	    c->codec == DOS_CODEC_NONE ? in : wk->v.buf, (size_t)c->count, out,
	    JOB_OUT_SIZE - j->out_len, &pe)) < 0) {
		return rc;
	}
	it->out_off = j->out_len;
	it->out_len = pe.header_size + (size_t)pe.stored_size;
	j->out_len += it->out_len;
	return 0;
}

static void
verify_item(struct worker *wk, struct job *j, struct item *it)
{
	const unsigned char *in;
	struct copy c;
	int rc;

	if (it->in_off > j->in_len || it->length > j->in_len - it->in_off) {
		it->status = COPY_BAD;
		it->problem = j->read_errno != 0 ? DOS_LEGACY_UNREADABLE :
		    DOS_LEGACY_TRUNCATED;
		it->obj.sys_errno = j->read_errno;
		return;
	}
	in = j->in + it->in_off;
	rc = copy_begin(&c, &wk->v, it->compressed, in, (size_t)it->length,
	    it->expect_size);
	c.in_memory = 1;
	if (rc == 0)
		rc = copy_feed(&c, in, (size_t)it->length);
	if (rc == 0)
		rc = copy_end(&c, it->obj.key, &it->oid);
	if (rc == 0) {
		it->obj.codec = c.codec;
		it->obj.size = c.count;
		if (wk->e->o->writer != NULL)
			rc = encode_item(wk, j, it, &c, in);
	}
	it->status = rc;
	it->problem = c.problem;
}

static void *
worker_main(void *arg)
{
	struct worker *wk = arg;
	struct engine *e = wk->e;
	struct job *j;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&e->mu);
		while (e->started == e->filled && !e->closing)
			pthread_cond_wait(&e->work, &e->mu);
		if (e->started == e->filled) {
			pthread_mutex_unlock(&e->mu);
			return NULL;
		}
		j = &e->jobs[e->started++ % e->njobs];
		pthread_mutex_unlock(&e->mu);
		for (i = 0; i < j->n; i++)
			if (j->items[i].status == 0)
				verify_item(wk, j, &j->items[i]);
		pthread_mutex_lock(&e->mu);
		j->done = 1;
		pthread_cond_signal(&e->done);
		pthread_mutex_unlock(&e->mu);
	}
}

/* ---- the calling thread: queueing copies, writing what is verified ---- */

/* Write out the oldest job's objects, in order, once it is verified. */
static int
consume_job(struct engine *e)
{
	struct job *j = &e->jobs[e->consumed % e->njobs];
	struct item *it;
	size_t i;
	int rc = 0, existed = 0;

	pthread_mutex_lock(&e->mu);
	while (!j->done)
		pthread_cond_wait(&e->done, &e->mu);
	pthread_mutex_unlock(&e->mu);
	e->consumed++;
	for (i = 0; rc == 0 && i < j->n; i++) {
		it = &j->items[i];
		if (it->status < 0) {
			rc = it->status;
		} else if (it->status == 0) {
			if (e->o->writer != NULL)
				rc = dos_pack_writer_add_entry(e->o->writer,
				    &it->oid, j->out + it->out_off, it->out_len,
				    e->o->fresh ? DOS_PACK_ADD_NO_DEDUP : 0,
				    &existed);
			if (rc == 0)
				rc = object_done(e, &it->obj, &it->oid, existed);
		} else {
			if (it->status == COPY_BAD)
				e->sink->bad_copy(e->data, &it->obj, it->problem);
			if (!it->hopeless) {
				rc = try_fallbacks(e, &it->obj);
			} else {
				e->sink->lost(e->data, &it->obj);
				e->stats->failed++;
			}
		}
	}
	return rc;
}

/* The job being filled, after making room for it in the ring. */
static int
open_job(struct engine *e, struct job **out)
{
	struct job *j = &e->jobs[e->filled % e->njobs];
	int rc;

	if (!e->filling) {
		while (e->filled - e->consumed == e->njobs)
			if ((rc = consume_job(e)) < 0)
				return rc;
		j->n = 0;
		j->fd = -1;
		j->span = j->in_len = j->out_len = j->out_need = 0;
		j->read_errno = 0;
		j->done = 0;
		e->filling = 1;
	}
	*out = j;
	return 0;
}

/* Read the job's pack bytes and queue it for the workers. */
static void
submit_job(struct engine *e)
{
	struct job *j = &e->jobs[e->filled % e->njobs];
	ssize_t n = 0;

	if (!e->filling || j->n == 0)
		return;
	while (j->fd >= 0 && j->in_len < j->span) {
		n = pread(j->fd, j->in + j->in_len, (size_t)(j->span - j->in_len),
		    (off_t)(j->base + j->in_len));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		j->in_len += (size_t)n;
	}
	if (n < 0)
		j->read_errno = errno;
	pthread_mutex_lock(&e->mu);
	e->filled++;
	e->filling = 0;
	pthread_cond_signal(&e->work);
	pthread_mutex_unlock(&e->mu);
}

/* Submit what is being filled and write out everything queued. */
static int
drain(struct engine *e)
{
	int rc;

	submit_job(e);
	while (e->consumed < e->filled)
		if ((rc = consume_job(e)) < 0)
			return rc;
	return 0;
}

static int
push_item(struct job *j, const struct item *it)
{
	struct item *items;

	items = dos_grow(j->items, j->n, &j->alloc, sizeof *items, 256);
	if (items == NULL)
		return DOS_ENOMEM;
	j->items = items;
	j->items[j->n++] = *it;
	return 0;
}

/* Queue a copy whose outcome is known without reading it. */
static int
queue_outcome(struct engine *e, struct item *it, int status,
    enum dos_legacy_problem problem)
{
	struct job *j;
	int rc;

	it->status = status;
	it->problem = problem;
	if ((rc = open_job(e, &j)) < 0)
		return rc;
	return push_item(j, it);
}

/* Room a pack entry of this copy may take in a job's out. */
static size_t
entry_room(const struct engine *e, uint64_t size, uint64_t length)
{
	size_t bound = dos_codec_bound(e->codec, (size_t)size);

	return DOS_ENTRY_HEADER_MAX +
	    (bound > (size_t)length ? bound : (size_t)length);
}

/*
 * Queue a packed copy of at most SMALL_MAX bytes; a job takes rows of
 * one pack (the current one) in offset order, reading small holes
 * through.
 */
static int
queue_packed(struct engine *e, struct item *it, uint64_t offset)
{
	size_t room = entry_room(e, it->expect_size, it->length);
	struct job *j;
	int rc;

	if ((rc = open_job(e, &j)) < 0)
		return rc;
	/*
	 * Rows come in offset order, but where they stop coming in rowid
	 * order and come sorted, a pack's offsets start again: a row
	 * before the job's start starts a job of its own.
	 */
	if ((j->fd >= 0 && (offset < j->base ||
	    offset > j->base + j->span + JOB_GAP_MAX ||
	    offset + it->length - j->base > JOB_IN_SIZE)) ||
	    j->out_need + room > JOB_OUT_SIZE) {
		submit_job(e);
		if ((rc = open_job(e, &j)) < 0)
			return rc;
	}
	if (j->fd < 0) {
		j->fd = e->lg->packfd;
		j->base = offset;
	}
	it->in_off = (size_t)(offset - j->base);
	if (offset + it->length - j->base > j->span)
		j->span = offset + it->length - j->base;
	j->out_need += room;
	return push_item(j, it);
}

/* Make lg->packfd read pack id (or remember why it cannot). */
static void
select_pack(struct dos_legacy *lg, int64_t id)
{
	char name[32];
	struct stat sb;

	if (id == lg->pack_id)
		return;
	close_fd(lg->packfd);
	lg->pack_id = id;
	/* -1 is where an interrupted repack left the live data. */
	snprintf(name, sizeof name, "%lld", (long long)id);
	lg->packfd = open_regular(lg->packsfd, name, &sb);
	lg->pack_errno = lg->packfd < 0 ? errno : 0;
	if (lg->packfd >= 0)
		posix_fadvise(lg->packfd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

/*
 * A copy of an invalid key fit to be printed: control characters (which
 * could forge lines of a report) become '?', and one too long to keep is
 * cut short with "...".
 */
static void
report_key(char out[DOS_LEGACY_MAX_KEY + 1], const char *key, size_t len)
{
	size_t i, n = len <= DOS_LEGACY_MAX_KEY ? len : DOS_LEGACY_MAX_KEY - 3;

	for (i = 0; i < n; i++)
		out[i] = (unsigned char)key[i] < 0x20 || key[i] == 0x7f ?
		    '?' : key[i];
	if (n < len)
		memcpy(out + n, "...", 3);
	out[n < len ? n + 3 : n] = '\0';
}

/*
 * Whether pack_id, compressed, size, offset and length are integers, as
 * the schema has them: SQLite would read any other value as some number.
 */
static int
integer_columns(sqlite3_stmt *st)
{
	int i;

	for (i = 1; i <= 5; i++)
		if (sqlite3_column_type(st, i) != SQLITE_INTEGER)
			return 0;
	return 1;
}

/* One index row: its packed copy, and the fallbacks if that is bad. */
static int
migrate_row(struct engine *e, sqlite3_stmt *st)
{
	struct dos_legacy *lg = e->lg;
	struct item it;
	struct source src = { -1, 1, 0, 0, 0, 0 };
	const char *key = (const char *)sqlite3_column_text(st, 0);
	size_t klen = (size_t)sqlite3_column_bytes(st, 0);
	sqlite3_int64 offset = sqlite3_column_int64(st, 4);
	sqlite3_int64 length = sqlite3_column_int64(st, 5);
	sqlite3_int64 size = sqlite3_column_int64(st, 3);
	int rc;

	memset(&it, 0, sizeof it);
	it.obj.seq = e->next_seq++;
	it.obj.where = DOS_LEGACY_PACKED;
	it.obj.pack_id = sqlite3_column_int64(st, 1);
	it.obj.size = size >= 0 ? (uint64_t)size : 0;
	if (key == NULL || !valid_key(lg, key, klen)) {
		/* Nothing can be verified against such a key: report it. */
		report_key(it.obj.key, key, klen);
		it.hopeless = 1;
		return queue_outcome(e, &it, COPY_BAD, DOS_LEGACY_BAD_ROW);
	}
	memcpy(it.obj.key, key, klen);
	if ((rc = want(e, &it.obj)) <= 0)
		return rc;
	if (offset < 0 || length < 0 || size < 0 || !integer_columns(st))
		return queue_outcome(e, &it, COPY_BAD, DOS_LEGACY_BAD_ROW);
	/* A job reads one pack, at submission: submit it while it is open. */
	if (it.obj.pack_id != lg->pack_id)
		submit_job(e);
	select_pack(lg, it.obj.pack_id);
	if (lg->packfd < 0) {
		it.obj.sys_errno = lg->pack_errno;
		return queue_outcome(e, &it, COPY_BAD, lg->pack_errno == ENOENT ?
		    DOS_LEGACY_MISSING : DOS_LEGACY_UNREADABLE);
	}
	it.compressed = sqlite3_column_int(st, 2) != 0;
	it.length = (uint64_t)length;
	it.expect_size = (uint64_t)size;
	if (it.length <= SMALL_MAX && it.expect_size <= SMALL_MAX)
		return queue_packed(e, &it, (uint64_t)offset);
	if ((rc = drain(e)) < 0)
		return rc;
	src.fd = lg->packfd;
	src.offset = (uint64_t)offset;
	src.length = it.length;
	src.compressed = it.compressed;
	src.expect_size = it.expect_size;
	return migrate_streamed(e, &it.obj, &src);
}

/*
 * Migrate the rows sql selects, binding *from to its parameter if it has
 * one.  With stopped non-NULL, stop before the first row that comes
 * before the one ahead of it in (pack, offset) order, with *stopped set
 * and *from its rowid.
 */
static int
migrate_rows(struct engine *e, const char *sql, sqlite3_int64 *from,
    int *stopped)
{
	sqlite3_int64 pack = INT64_MIN, offset = INT64_MIN, p, o;
	sqlite3_stmt *st;
	int rc = 0, src;

	if (sqlite3_prepare_v2(e->lg->db, sql, -1, &st, NULL) != SQLITE_OK)
		return DOS_EIO;
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, *from);
	while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
		p = sqlite3_column_int64(st, 1);
		o = sqlite3_column_int64(st, 4);
		if (stopped != NULL && (p < pack || (p == pack && o < offset))) {
			*stopped = 1;
			*from = sqlite3_column_int64(st, 6);
			src = SQLITE_DONE;
			break;
		}
		pack = p;
		offset = o;
		rc = migrate_row(e, st);
	}
	if (rc == 0 && src != SQLITE_DONE) {
		errno = EIO;
		rc = DOS_EIO;
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Pack by pack, in offset order, so each pack is read sequentially.  The
 * legacy code adds rows as it appends to its packs, so rowid order is
 * usually that order already and costs no sort; the rows from the first
 * one out of that order on are sorted by SQLite.  Without rowids that are
 * the table's integer key, all of them are.
 */
static int
migrate_index(struct engine *e)
{
	struct dos_legacy *lg = e->lg;
	sqlite3_int64 from = INT64_MIN;
	int rc, stopped = 0;

	if (lg->db == NULL)
		return 0;
	if (!lg->rowids)
		rc = migrate_rows(e, ROW_COLUMNS " FROM db_object "
		    "ORDER BY pack_id, \"offset\"", &from, NULL);
	else if ((rc = migrate_rows(e, ROW_COLUMNS ", rowid FROM db_object "
	    "ORDER BY rowid", &from, &stopped)) == 0 && stopped)
		rc = migrate_rows(e, ROW_COLUMNS " FROM db_object "
		    "WHERE rowid >= ?1 ORDER BY pack_id, \"offset\"", &from, NULL);
	if (rc == 0)
		submit_job(e);
	close_fd(lg->packfd);
	lg->packfd = -1;
	lg->pack_id = INT64_MIN;
	return rc;
}

/* A loose object that no index row has: queue its file's bytes. */
static int
migrate_loose_key(struct dos_legacy *lg, const char *key, void *arg)
{
	struct engine *e = arg;
	struct source src = { -1, 0, 0, 0, 0, 0 };
	char name[2 * DOS_LEGACY_MAX_KEY];
	struct item it;
	struct job *j;
	uint64_t size;
	ssize_t n;
	int rc;

	/* Indexed objects were handled with their packed copy. */
	if ((rc = is_indexed(lg, key)) != 0) {
		if (rc > 0)
			lg->loose_indexed++;
		return rc < 0 ? rc : 0;
	}
	memset(&it, 0, sizeof it);
	it.obj.seq = e->next_seq++;
	strcpy(it.obj.key, key);
	it.obj.where = DOS_LEGACY_LOOSE;
	it.obj.pack_id = -1;
	if ((rc = want(e, &it.obj)) <= 0)
		return rc;
	loose_name(lg, key, name, sizeof name);
	/* COPY_NONE: it vanished since the listing; duplicates remain. */
	rc = open_file(lg->loosefd, name, &it.obj, &src.fd, &size);
	if (rc != 0)
		return queue_outcome(e, &it, rc, DOS_LEGACY_UNREADABLE);
	src.expect_size = size;
	if (size > SMALL_MAX) {
		if ((rc = drain(e)) == 0)
			rc = migrate_streamed(e, &it.obj, &src);
		close(src.fd);
		return rc;
	}
	if ((rc = open_job(e, &j)) < 0)
		goto out;
	if (j->in_len + size > JOB_IN_SIZE ||
	    j->out_need + entry_room(e, size, size) > JOB_OUT_SIZE) {
		submit_job(e);
		if ((rc = open_job(e, &j)) < 0)
			goto out;
	}
	if ((n = dos_read_full(src.fd, j->in + j->in_len, (size_t)size)) < 0) {
		it.obj.sys_errno = errno;
		rc = queue_outcome(e, &it, COPY_BAD, DOS_LEGACY_UNREADABLE);
		goto out;
	}
	it.in_off = j->in_len;
	it.length = (uint64_t)n;
	it.expect_size = size;
	j->in_len += (size_t)n;
	j->out_need += entry_room(e, (uint64_t)n, (uint64_t)n);
	rc = push_item(j, &it);
out:
	close(src.fd);
	return rc;
}

static int
start_workers(struct engine *e)
{
	struct worker *wk;
	size_t i;
	int rc;

	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->work, NULL);
	pthread_cond_init(&e->done, NULL);
	e->njobs = (size_t)e->nworkers + 2;
	if ((e->jobs = calloc(e->njobs, sizeof *e->jobs)) == NULL ||
	    (e->workers = calloc((size_t)e->nworkers, sizeof *e->workers)) == NULL)
		return DOS_ENOMEM;
	for (i = 0; i < e->njobs; i++) {
		if ((e->jobs[i].in = malloc(JOB_IN_SIZE)) == NULL ||
		    (e->o->writer != NULL &&
		    (e->jobs[i].out = malloc(JOB_OUT_SIZE)) == NULL))
			return DOS_ENOMEM;
	}
	for (i = 0; i < (size_t)e->nworkers; i++) {
		wk = &e->workers[i];
		wk->e = e;
		if ((rc = verifier_init(&wk->v, e->lg)) == 0 &&
		    e->o->writer != NULL)
			rc = dos_pack_writer_compressor(e->o->writer, &wk->v.comp,
			    &e->mode);
		if (rc == 0 &&
		    pthread_create(&wk->thread, NULL, worker_main, wk) != 0) {
			errno = EAGAIN;
			rc = DOS_EIO;
		}
		if (rc < 0) {
			verifier_release(&wk->v);
			return rc;
		}
		e->codec = wk->v.comp.codec;
		e->started_workers++;
	}
	return 0;
}

/* Let the workers finish what is queued, end them, free everything. */
static void
stop_workers(struct engine *e)
{
	size_t i;

	if (e->started_workers > 0) {
		pthread_mutex_lock(&e->mu);
		e->closing = 1;
		pthread_cond_broadcast(&e->work);
		pthread_mutex_unlock(&e->mu);
	}
	for (i = 0; i < (size_t)e->started_workers; i++) {
		pthread_join(e->workers[i].thread, NULL);
		verifier_release(&e->workers[i].v);
	}
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->work);
	pthread_cond_destroy(&e->done);
	for (i = 0; e->jobs != NULL && i < e->njobs; i++) {
		free(e->jobs[i].items);
		free(e->jobs[i].in);
		free(e->jobs[i].out);
	}
	free(e->jobs);
	free(e->workers);
}

int
dos_legacy_migrate(struct dos_legacy *lg, const struct dos_legacy_options *o,
    const struct dos_legacy_sink *sink, void *data,
    struct dos_legacy_stats *stats)
{
	struct dos_legacy_stats ignored;
	struct engine e;
	int rc;

	if (stats == NULL)
		stats = &ignored;
	memset(stats, 0, sizeof *stats);
	memset(&e, 0, sizeof e);
	e.lg = lg;
	e.o = o;
	e.sink = sink;
	e.data = data;
	e.stats = stats;
	e.nworkers = o->jobs > 0 ? o->jobs : 1;
	lg->dups_tried = lg->loose_tried = lg->loose_indexed = 0;
	if ((rc = start_workers(&e)) == 0 && (rc = migrate_index(&e)) == 0 &&
	    (rc = walk_loose(lg, migrate_loose_key, &e)) == 0)
		rc = drain(&e);
	stop_workers(&e);
	if (rc < 0)
		return rc;
	stats->extra_copies = lg->loose_indexed - lg->loose_tried +
	    lg->ndups - lg->dups_tried;
	return 0;
}

