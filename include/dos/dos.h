/*
 * dos/dos.h: libdos, the storage library of dos, a content-addressed
 * disk object store; see libdos(3).  This is its public part, installed
 * as <dos/dos.h> (compile and link with `pkg-config --cflags --libs dos`);
 * lib/dos.h, which includes it, declares what only the dos programs use.
 *
 * Functions never print and never exit: they return 0 (or a count) or a
 * negative DOS_E* code, which dos_strerror() spells, and leave errno
 * meaningful for DOS_EIO and DOS_EREAD.
 *
 * Threads and processes: a process opens a container once.  Of two
 * struct dos_store of one container in a process, only the first to use
 * the index can (the other gets DOS_EIO, errno EINVAL: Berkeley DB
 * registers each process in the index once), so threads share one
 * store.  A store, and the readers, loose batches and pack writers made
 * from it, are used by one thread at a time, except that a reader that
 * dos_reader_detachable() accepts may be read and freed by another
 * thread while the store goes on.  Processes work on one container at
 * once, beside the dos programs: writers of packs take turns through
 * packs/lock, everything else needs no lock.  dos_fsck() runs threads of
 * its own.
 */
#ifndef DOS_DOS_H
#define DOS_DOS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * libdos.so is built with hidden symbols: those declared here are the
 * ones it exports, whatever lib/ declares elsewhere.
 */
#pragma GCC visibility push(default)

#define DOS_VERSION "0.1.0"

/* ---- lib/err.c: error codes ------------------------------------------- */

enum dos_error {
	DOS_OK = 0,
	DOS_EIO = -1,		/* a system call failed; errno says why */
	DOS_ENOTFOUND = -2,	/* no such object */
	DOS_EAMBIGUOUS = -3,	/* a short id matches several objects */
	DOS_EBADID = -4,	/* not a valid object name */
	DOS_ECORRUPT = -5,	/* stored bytes do not match their id or size */
	DOS_ENOTCONTAINER = -6,	/* the directory is not a dos container */
	DOS_EBADCONFIG = -7,	/* config.json is missing, unreadable or invalid */
	DOS_ENOMEM = -8,
	DOS_EINVAL = -9,	/* an argument the library cannot accept */
	DOS_EEXIST = -10,	/* the directory is not empty */
	DOS_ELEGACY = -11,	/* a legacy disk-objectstore container */
	DOS_EBUSY = -12,	/* a lock is held by another process */
	DOS_EINDEX = -13,	/* the index database failed */
	DOS_ERECOVER = -14,	/* the index was recovered under us: retry */
	DOS_EREAD = -15,	/* reading the input failed; errno says why */
	DOS_ENOINDEX = -16,	/* packs without an index: it was lost */
	DOS_ENODICT = -17,	/* a dictionary an object needs is missing or damaged */
	DOS_EREMOTE = -18,	/* a remote store failed or refused a request */
};

/*
 * Text for a DOS_E* code; for DOS_EIO and DOS_EREAD, strerror(errno) at
 * call time.
 */
const char *dos_strerror(int code);

/* ---- lib/oid.c: object ids and hashing -------------------------------- */

#define DOS_RAWSZ 32		/* SHA-256 */
#define DOS_HEXSZ 64
#define DOS_MIN_ABBREV 4	/* shortest accepted id prefix */

struct dos_oid {
	unsigned char hash[DOS_RAWSZ];
};

/* Parse exactly DOS_HEXSZ hex digits (either case) from hex[0..len). */
int dos_oid_from_hex(struct dos_oid *oid, const char *hex, size_t len);
/* Write 64 lowercase hex digits and a NUL into out. */
char *dos_oid_to_hex(const struct dos_oid *oid, char out[DOS_HEXSZ + 1]);
int dos_oid_cmp(const struct dos_oid *a, const struct dos_oid *b);

/* ---- lib/config.c: config.json ---------------------------------------- */

enum dos_codec {
	DOS_CODEC_NONE = 0,
	DOS_CODEC_ZLIB = 1,
	DOS_CODEC_ZSTD = 2,
};

/*
 * dos_format of config.json: a new container's, and the one whose packs
 * may hold group entries (dos-container(5)), which dos before them
 * refuses to open.  dos reads both.
 */
#define DOS_CONTAINER_VERSION 1
#define DOS_CONTAINER_VERSION_GROUPS 2
#define DOS_DEFAULT_PACK_SIZE (4ULL << 30)
#define DOS_DEFAULT_PREFIX_LEN 2
#define DOS_MAX_PREFIX_LEN 8

struct dos_config {
	int version;
	char id[33];			/* 32 lowercase hex */
	int loose_prefix_len;
	uint64_t pack_size_target;
	enum dos_codec codec;
	int level;			/* codec level; 0 means the codec's default */
	/* Bytes the cache of evicted packs' blocks may hold (dos-config(1)). */
	uint64_t remote_cache_size;	/* DOS_REMOTE_CACHE_AUTO: for the machine */
};
#define DOS_REMOTE_CACHE_AUTO UINT64_MAX

/* Defaults of a new container, with a fresh random id. */
int dos_config_init(struct dos_config *cfg);
/*
 * Parse "zstd", "zstd:19", "zlib", "zlib:6", the legacy "zlib+1", or
 * "none" into a codec and level.
 */
int dos_codec_parse(const char *spec, enum dos_codec *codec, int *level);
const char *dos_codec_name(enum dos_codec codec);
/* "zstd:3"-style spelling of the config's codec into buf. */
void dos_codec_format(const struct dos_config *cfg, char *buf, size_t size);

/* ---- lib/store.c: the container --------------------------------------- */

enum dos_open_flags {
	DOS_OPEN_WRITE = 1 << 0,	/* the caller will store objects */
	DOS_OPEN_LOST_INDEX = 1 << 1,	/* open packs without an index too */
};

/* An open container. */
struct dos_store;
/*
 * Open the container at path (NULL: $DOS_DIR, else "."), into *st for
 * dos_store_free(): DOS_ELEGACY for a legacy container, and DOS_ENOINDEX
 * for one whose packs have lost their index, unless flags has
 * DOS_OPEN_LOST_INDEX.
 */
int dos_store_new(const char *path, unsigned flags, struct dos_store **st);
void dos_store_free(struct dos_store *st);
/* The path the container was opened with (for messages). */
const char *dos_store_path(const struct dos_store *st);
const struct dos_config *dos_store_config(const struct dos_store *st);
/*
 * Called once when a process is about to wait for packs/lock, before it
 * blocks, with the holder's pid: the command layer says so on a terminal.
 */
typedef void dos_lock_wait_fn(void *data, long holder);
/* Have fn called before this process waits for packs/lock. */
void dos_store_on_lock_wait(struct dos_store *st, dos_lock_wait_fn *fn,
    void *data);

/*
 * Create a container at path with cfg (mkdir -p).  Returns DOS_EEXIST for
 * a non-empty directory that is not a container, DOS_ELEGACY for a legacy
 * disk-objectstore container, and 1 (not an error) when path already is a
 * dos container, whose config is then read into *existing.
 */
int dos_store_create(const char *path, const struct dos_config *cfg,
    struct dos_config *existing);

/* ---- lib/loose.c: loose objects ----------------------------------------*/

/*
 * Remove the loose file of oid (the step point), 0 if there is none.
 * Never through a symbolic link: a shard that is one fails with ELOOP
 * (DOS_EIO).
 */
int dos_loose_unlink(const char *point, struct dos_store *st,
    const struct dos_oid *oid);
/*
 * Make the unlinks of loose files durable: one syncfs(2) of the loose
 * area (the step point).
 */
int dos_loose_sync_unlinks(const char *point, struct dos_store *st);

/*
 * A batch of loose writes.  Each object is streamed into its own temp file
 * while it is hashed; dos_loose_batch_commit() makes the whole batch
 * durable with one file-system sync, renames every new object into place
 * and syncs again, so a batch of many small objects costs two syncs
 * instead of two per object.  An object that already exists is not
 * written again: its temp file is simply removed.
 */
struct dos_loose_batch;
int dos_loose_batch_new(struct dos_store *st, struct dos_loose_batch **out);
/* Number of objects added and not yet committed. */
size_t dos_loose_batch_pending(const struct dos_loose_batch *b);
uint64_t dos_loose_batch_pending_bytes(const struct dos_loose_batch *b);
/*
 * Stream one object in: begin, write its bytes, end (which gives its id).
 * The object is durable only after dos_loose_batch_commit().
 */
int dos_loose_batch_begin(struct dos_loose_batch *b);
int dos_loose_batch_write(struct dos_loose_batch *b, const void *buf,
    size_t len);
int dos_loose_batch_end(struct dos_loose_batch *b, struct dos_oid *oid);
/*
 * begin, write everything readable from fd, end.  A failed read of fd is
 * DOS_EREAD, a failed write DOS_EIO.
 */
int dos_loose_batch_add_fd(struct dos_loose_batch *b, int fd,
    struct dos_oid *oid);
int dos_loose_batch_commit(struct dos_loose_batch *b);
/*
 * Write the batch's objects loose even when they are packed already,
 * which the batch otherwise skips: a loose copy asked for (the Python
 * package's Container.loosen_object).
 */
void dos_loose_batch_keep_packed(struct dos_loose_batch *b);
/* Drop uncommitted temp files and free the batch. */
void dos_loose_batch_free(struct dos_loose_batch *b);

/* Hash everything readable from fd without storing it (DOS_EREAD). */
int dos_hash_fd(int fd, struct dos_oid *oid, uint64_t *size);

/* ---- lib/pack-write.c: the pack writer -------------------------------- */

/*
 * Take packs/lock, the lock of whoever appends to packs or writes the
 * index, and write our pid into it for people to read.  Unless nowait,
 * wait for its holder (telling the store's dos_lock_wait_fn first); with
 * nowait, DOS_EBUSY and *holder its pid.
 * Whatever the outcome, *lockfd is packs/lock opened (or -1) for the
 * caller to close; closing it releases the lock.
 */
int dos_pack_lock(struct dos_store *st, int nowait, int *lockfd,
    long *holder);

enum dos_compress_mode {
	DOS_COMPRESS_AUTO,	/* compress when it pays */
	DOS_COMPRESS_ALWAYS,
	DOS_COMPRESS_NEVER,
	DOS_COMPRESS_KEEP,	/* repack: copy entries as they are stored */
};
enum dos_pack_writer_flags {
	DOS_PACK_NOWAIT = 1 << 0,	/* DOS_EBUSY instead of waiting */
};
enum dos_pack_add_flags {
	DOS_PACK_ADD_DEDUP_LOOSE = 1 << 0,	/* skip objects stored loose */
	DOS_PACK_ADD_NO_DEDUP = 1 << 1,		/* write even if stored */
};

/* A stream of object bytes: like read(2), but errors are DOS_E* codes. */
typedef ssize_t dos_source_fn(void *data, void *buf, size_t len);

/*
 * The one writer of a container's packs: it holds packs/lock from open
 * to close.  Objects are appended in batches; dos_pack_writer_flush()
 * makes a batch durable and indexed, and only then are its objects part
 * of the container.  *holder gets the lock holder's pid on DOS_EBUSY.
 */
struct dos_pack_writer;
int dos_pack_writer_open(struct dos_store *st, unsigned flags,
    enum dos_compress_mode mode, struct dos_pack_writer **w, long *holder);
/*
 * Stream one object in: begin, write its bytes, then end, which checks
 * it against expected (if not NULL), drops it if already stored
 * (*existed = 1) and otherwise adds it to the batch.  abort forgets an
 * object begun and not ended; end does so itself when it fails.
 */
int dos_pack_writer_begin(struct dos_pack_writer *w);
int dos_pack_writer_write(struct dos_pack_writer *w, const void *buf,
    size_t len);
int dos_pack_writer_end(struct dos_pack_writer *w,
    const struct dos_oid *expected, unsigned flags, struct dos_oid *oid,
    int *existed);
void dos_pack_writer_abort(struct dos_pack_writer *w);
/* begin, write everything the source gives, end. */
int dos_pack_writer_add(struct dos_pack_writer *w, dos_source_fn *source,
    void *data, const struct dos_oid *expected, unsigned flags,
    struct dos_oid *oid, int *existed);
/*
 * Append everything readable from fd unless an object with its id is
 * already stored (*existed is then 1).  With expected, content that does
 * not hash to it is refused with DOS_ECORRUPT.  A failed read of fd is
 * DOS_EREAD, as with dos_loose_batch_add_fd().
 */
int dos_pack_writer_add_fd(struct dos_pack_writer *w, int fd,
    const struct dos_oid *expected, unsigned flags, struct dos_oid *oid,
    int *existed);
size_t dos_pack_writer_pending(const struct dos_pack_writer *w);
uint64_t dos_pack_writer_pending_bytes(const struct dos_pack_writer *w);
int dos_pack_writer_flush(struct dos_pack_writer *w);
/* Flush, then continue in a new pack. */
int dos_pack_writer_start_pack(struct dos_pack_writer *w);
/* Objects, raw and stored bytes (headers included) committed so far. */
void dos_pack_writer_totals(const struct dos_pack_writer *w,
    uint64_t *objects, uint64_t *raw, uint64_t *stored);
/* Unflushed objects are dropped. */
void dos_pack_writer_close(struct dos_pack_writer *w);

/* ---- lib/object.c: finding and reading objects ------------------------ */

enum dos_storage {
	DOS_STORAGE_LOOSE = 0,
	DOS_STORAGE_PACKED = 1,
};

struct dos_object_info {
	struct dos_oid oid;
	uint64_t size;		/* raw size */
	uint64_t disk_size;	/* bytes the stored form occupies */
	uint64_t stored_size;	/* of them, the stored bytes (no header) */
	enum dos_storage storage;
	enum dos_codec codec;
	uint32_t pack;		/* packed objects only */
	uint64_t offset;	/* packed objects only */
	uint32_t member;	/* 0, or 1 + its number in the group entry there */
};

/*
 * Resolve a full id or a unique prefix of at least DOS_MIN_ABBREV hex
 * digits.  Returns DOS_EBADID, DOS_ENOTFOUND or DOS_EAMBIGUOUS on failure.
 */
int dos_resolve(struct dos_store *st, const char *name, size_t len,
    struct dos_oid *oid);
int dos_object_info(struct dos_store *st, const struct dos_oid *oid,
    struct dos_object_info *info);
/*
 * dos_object_info() of n objects at once (infos[i].oid set by the
 * caller), faster for many ids: rcs[i] is what it would have returned.
 * Returns 0, or a negative code when nothing could be looked up.
 */
int dos_object_info_many(struct dos_store *st, struct dos_object_info *infos,
    int *rcs, size_t n);

enum dos_read_flags {
	DOS_READ_VERIFY = 1 << 0,	/* check the SHA-256 at the end */
};

/*
 * A reader streams an object's raw bytes.  It checks the size always and
 * the SHA-256 for loose objects (where a wrong size is the only other
 * sign of damage) or with DOS_READ_VERIFY; a mismatch makes the read that
 * reaches the end return DOS_ECORRUPT.
 */
struct dos_reader;
/* A reader of oid, into *r for dos_reader_free(). */
int dos_reader_new(struct dos_store *st, const struct dos_oid *oid,
    unsigned flags, struct dos_reader **r);
/* The object r reads: its size, and where and how it is stored. */
const struct dos_object_info *dos_reader_info(const struct dos_reader *r);
/* Returns bytes read (0 at the end) or a DOS_E* code. */
ssize_t dos_reader_read(struct dos_reader *r, void *buf, size_t len);
void dos_reader_free(struct dos_reader *r);
/*
 * Whether r can be read, and then closed, by another thread than the
 * store's: a loose file, or a packed object whose stored bytes were all
 * read when it was opened, so that reading it needs nothing of the store
 * but a decompressor of its own (taken from the store's spares and given
 * back under a lock).  Opening happens in the store's thread.
 */
int dos_reader_detachable(const struct dos_reader *r);

/* ---- lib/maint.c: maintenance under the pack lock ------------------- */

/*
 * How maintenance reports problems with single objects (oid NULL: with a
 * pack as a whole), and progress.
 */
struct dos_maint {
	void (*problem)(void *data, const struct dos_oid *oid, int code,
	    const char *what);
	void (*progress)(void *data, uint64_t done);
	void *data;
};

/*
 * Move every loose object into packs, a batch at a time; each batch's
 * loose files are removed once the batch is durable (unless keep_loose).
 * A corrupt loose object is reported and left in place.
 */
int dos_pack_loose(struct dos_store *st, struct dos_pack_writer *w,
    int keep_loose, const struct dos_maint *m);

struct dos_repack_stats {
	uint64_t objects;	/* live entries written again */
	uint64_t dropped_bytes;	/* dead entries left behind */
	uint64_t removed_packs;
	uint64_t kept_packs;	/* packs kept because of damage */
};
/*
 * Rewrite into new packs every pack whose dead bytes exceed threshold
 * percent (every pack unless mode is DOS_COMPRESS_KEEP, which copies
 * entries as stored), then delete the old packs.  dos gc, and dos repack
 * without --threshold, use DOS_REPACK_THRESHOLD.
 */
#define DOS_REPACK_THRESHOLD 20
int dos_repack(struct dos_store *st, struct dos_pack_writer *w,
    enum dos_compress_mode mode, unsigned threshold,
    const struct dos_maint *m, struct dos_repack_stats *stats);

/*
 * Delete an object: a packed copy gets a tombstone (dropped from the
 * index at the writer's next flush); *loose says a loose copy exists,
 * for the caller to unlink after that flush.
 */
int dos_remove(struct dos_store *st, struct dos_pack_writer *w,
    const struct dos_oid *oid, int *loose, int *packed);

/*
 * Remove the temp files of sandbox/ that nobody will finish (their writer
 * died, or they are a day old); *removed counts them.
 */
int dos_clean_sandbox(struct dos_store *st, uint64_t *removed);

/* ---- lib/count.c: listing and counting objects ----------------------- */

/*
 * Objects and bytes of a container, as dos count-objects shows them.
 * Sizes are in bytes: of the files for loose objects and packs, of the
 * disk blocks for index/ (whose log and region files are sparse).
 */
struct dos_counts {
	uint64_t loose, size_loose;
	uint64_t packed;		/* objects in the index */
	uint64_t packs, size_pack;	/* pack files */
	uint64_t size_packed_raw;	/* raw bytes of the packed objects */
	uint64_t size_packed_stored;	/* their stored bytes, no headers */
	uint64_t size_index;
	uint64_t prune_packable;	/* loose objects also packed */
	uint64_t garbage, size_garbage;	/* pack entries and tails not indexed */
	uint64_t damaged_packs;		/* packs that could not be read through */
	uint64_t missing;		/* indexed objects of missing packs */
	/* Packs evicted to remotes (gone from packs/), and their objects. */
	uint64_t remote_packs, size_remote, remote;
};
int dos_count_objects(struct dos_store *st, struct dos_counts *c);

/*
 * Call fn once for every object, sorted by id, or in storage order with
 * DOS_ITER_UNORDERED: loose objects in directory order, then the indexed
 * ones in the order their packs store them (by pack, then offset), so
 * that reading them in turn reads each pack front to back.  An object both
 * loose and packed is listed loose, as readers find it, unless only
 * DOS_ITER_PACKED is asked for.  Loose sizes cost a stat(2) per object
 * and are 0 without DOS_ITER_SIZES.  A non-zero return from fn stops the
 * walk and is returned.
 */
enum dos_iter_flags {
	DOS_ITER_LOOSE = 1 << 0,	/* objects with a loose file */
	DOS_ITER_PACKED = 1 << 1,	/* objects in the index; neither: both */
	DOS_ITER_UNORDERED = 1 << 2,
	DOS_ITER_SIZES = 1 << 3,
};
typedef int dos_object_fn(const struct dos_object_info *info, void *data);
int dos_for_each_object(struct dos_store *st, unsigned flags,
    dos_object_fn *fn, void *data);

/*
 * The counts as dos count-objects -v prints them, in its order: the key,
 * the same key for JSON (underscores), and whether the value is bytes.
 */
#define DOS_COUNT_FIELDS 10
struct dos_count_field {
	const char *key, *json_key;
	uint64_t value;
	int is_size;
};
void dos_count_fields(const struct dos_counts *c,
    struct dos_count_field f[DOS_COUNT_FIELDS]);

/* ---- lib/fsck.c: checking and repairing a container ------------------ */

/*
 * The classes of problems, one bit each; dos fsck exits with the OR of
 * the classes it found (below 64, so 128 still means it could not run).
 * The leftovers of an interrupted writer that the next writer or dos gc
 * cleans (its temp files, the torn tail or unfinished creation of the
 * newest pack) are no problem: they are notices, of no class.
 */
enum dos_fsck_class {
	DOS_FSCK_OBJECT = 1,	/* a damaged copy of an object */
	DOS_FSCK_MISSING = 2,	/* data gone: missing pack, lost object */
	DOS_FSCK_PACK = 4,	/* pack structure: garbage, torn tail */
	DOS_FSCK_INDEX = 8,	/* the index database */
	DOS_FSCK_LOOSE = 16,	/* the loose area: stray names */
	DOS_FSCK_LAYOUT = 32,	/* config.json and the container layout */
};

/* What to check; none of them means all. */
enum dos_fsck_what {
	DOS_FSCK_WHAT_LOOSE = 1 << 0,
	DOS_FSCK_WHAT_PACKS = 1 << 1,
	DOS_FSCK_WHAT_INDEX = 1 << 2,
};

enum dos_fsck_flags {
	DOS_FSCK_QUICK = 1 << 0,	/* no SHA-256: structure, sizes, CRCs */
	DOS_FSCK_REPAIR = 1 << 1,
	/* packs evicted to remotes: there, of their length and SHA-256 */
	DOS_FSCK_REMOTE = 1 << 2,
	/* and every object of theirs read back whole (ranged GETs) */
	DOS_FSCK_REMOTE_OBJECTS = 1 << 3,
};

/* One problem or notice, or with --repair one thing done about one. */
struct dos_fsck_finding {
	const char *kind;	/* "crc-mismatch" */
	unsigned cls;		/* its DOS_FSCK_* class; 0: notice or repair */
	const char *subject;	/* an object id, or a path in the container */
	const char *detail;	/* where and what, or "" */
	uint64_t bytes;		/* a notice: the space the leftover holds */
};
typedef void dos_fsck_report_fn(const struct dos_fsck_finding *f,
    void *data);
/* Progress of a phase: done out of total (bytes or objects). */
typedef void dos_fsck_progress_fn(const char *phase, uint64_t done,
    uint64_t total, void *data);

struct dos_fsck_options {
	unsigned what;		/* DOS_FSCK_WHAT_*; 0: everything */
	unsigned flags;		/* DOS_FSCK_* flags */
	int jobs;		/* worker threads, at least 1 */
	dos_fsck_report_fn *report;	/* each finding, in a stable order */
	dos_fsck_report_fn *repaired;	/* each repair, as it is made */
	dos_fsck_progress_fn *progress;	/* may be NULL */
	void *data;
};

struct dos_fsck_stats {
	uint64_t objects;	/* distinct objects seen */
	uint64_t loose;		/* loose files */
	uint64_t packs, entries, bytes;	/* pack files, entries, bytes read */
	uint64_t garbage_entries, garbage_bytes;	/* reclaimable by repack */
	uint64_t problems;	/* findings reported, notices aside */
};

/*
 * Check the container, reporting every finding through opts->report
 * (sorted, so the same whatever the parallelism); with DOS_FSCK_REPAIR,
 * take packs/lock, repair, check again and report what is left.  Returns
 * the OR of the classes reported, or a DOS_E* code if the check could
 * not run.
 */
int dos_fsck(struct dos_store *st, const struct dos_fsck_options *opts,
    struct dos_fsck_stats *stats);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
