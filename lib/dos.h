/*
 * dos.h: the storage library of libdos, the library behind every dos-*
 * program.
 *
 * The storage library (oid, config, store, loose, object reading) never
 * prints and never exits: it returns 0 or a negative DOS_E* code and
 * leaves errno meaningful for DOS_EIO.  The command layer, which prints
 * and exits, has its own header, cli.h; nothing here may include it.
 *
 * Layers of lib/, lowest first: a file calls functions only of files on
 * the lines above its own, never of one beside or below it, so that no
 * cycle can form among them (t/layers checks it, in make test).  The files
 * of a module with a private header (fsck.c, fsck-*.c: fsck-int.h; legacy
 * likewise) are one unit.  cli and main are the command layer (cli.h).
 *	grow fsutil codec input quote
 *	oid fault
 *	config index
 *	err store
 *	loose
 *	pack
 *	pack-write
 *	object
 *	count maint legacy batch
 *	fsck
 *	cli
 *	main
 */
#ifndef DOS_H
#define DOS_H

#include <dirent.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

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
};

/*
 * Text for a DOS_E* code; for DOS_EIO and DOS_EREAD, strerror(errno) at
 * call time.
 */
const char *dos_strerror(int code);

/* ---- lib/grow.c: growable arrays --------------------------------------- */

/*
 * Room for element nr of items (*alloc allocated, size bytes each),
 * doubling from first: the array, perhaps moved, or NULL when memory ran
 * out, with items and *alloc left as they were.
 */
void *dos_grow(void *items, size_t nr, size_t *alloc, size_t size,
    size_t first);

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
/*
 * Bucket sorts of ids: ids are uniform, so with dos_oid_bucket_bits(n)
 * bits (at most 16) n ids fall about one per bucket, and an insertion
 * sort then orders each bucket's few.  dos_oid_bucket is an id's bucket.
 */
unsigned dos_oid_bucket_bits(size_t n);
unsigned dos_oid_bucket(const struct dos_oid *oid, unsigned bits);

/* A growable list of ids. */
struct dos_oid_list {
	struct dos_oid *oids;
	size_t nr, alloc;
};
int dos_oid_list_push(struct dos_oid_list *l, const struct dos_oid *oid);
/* Non-zero if s[0..len) is all hex digits. */
int dos_is_hex(const char *s, size_t len);
/* ... and all lower-case, as loose file names and legacy keys are. */
int dos_is_lower_hex(const char *s, size_t len);

/* Streaming SHA-256 (OpenSSL EVP); one context is reused across objects. */
struct dos_hasher {
	void *ctx;
};
int dos_hasher_init(struct dos_hasher *h);
int dos_hasher_reset(struct dos_hasher *h);
int dos_hasher_update(struct dos_hasher *h, const void *buf, size_t len);
int dos_hasher_final(struct dos_hasher *h, struct dos_oid *oid);
void dos_hasher_release(struct dos_hasher *h);

/* ---- lib/config.c: config.json ---------------------------------------- */

enum dos_codec {
	DOS_CODEC_NONE = 0,
	DOS_CODEC_ZLIB = 1,
	DOS_CODEC_ZSTD = 2,
};

#define DOS_CONTAINER_VERSION 1
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
};

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
/* Parse a size with an optional k, m or g suffix (1024-based). */
int dos_parse_size(const char *s, uint64_t *out);

/*
 * Load dirfd/config.json (not a symbolic link, at most 64 KiB) as JSON:
 * a jansson json_t for the caller to json_decref().  DOS_ENOTCONTAINER
 * when there is none, DOS_EBADCONFIG when it is too large, not a regular
 * file or not JSON.
 */
struct json_t;
int dos_config_json(int dirfd, struct json_t **root);
/* Read and validate dirfd/config.json. */
int dos_config_read(int dirfd, struct dos_config *cfg);
/* Write dirfd/config.json atomically and durably. */
int dos_config_write(int dirfd, const struct dos_config *cfg);

/*
 * The settings of config.json by name, for dos config: the members dos
 * reads, in the order of the file.  fixed says why one cannot change
 * after the container was created; it is NULL for those that can.
 */
enum dos_setting_which {
	DOS_SETTING_PREFIX_LEN,
	DOS_SETTING_PACK_SIZE,
	DOS_SETTING_HASH,
	DOS_SETTING_ID,
	DOS_SETTING_COMPRESSION,
	DOS_SETTING_FORMAT,
};
struct dos_setting {
	const char *key;		/* "compression_algorithm" */
	enum dos_setting_which which;
	const char *fixed;
};
extern const struct dos_setting dos_settings[];	/* ends at a NULL key */
/* The setting called key, or NULL. */
const struct dos_setting *dos_setting_find(const char *key);
/* Its value in cfg, as dos writes it ("zstd:19", "4294967296"). */
void dos_setting_format(const struct dos_setting *s,
    const struct dos_config *cfg, char *buf, size_t size);
/*
 * Put value, spelt as dos init takes it ("zlib+6", "64m"), into cfg;
 * DOS_EINVAL when it is not valid for s, or s is fixed.
 */
int dos_setting_parse(const struct dos_setting *s, const char *value,
    struct dos_config *cfg);
/*
 * Give s, which must not be fixed, its value in cfg in dirfd/config.json:
 * the file is read and checked again and written as dos_config_write()
 * does, with every other member kept as it was (unknown ones too).  The
 * caller holds packs/lock, so that no other change runs meanwhile.
 */
int dos_config_set(int dirfd, const struct dos_setting *s,
    const struct dos_config *cfg);

/* ---- lib/codec.c: per-object compression ----------------------------- */

/* Receives output of a streaming codec. */
typedef int dos_sink_fn(void *data, const void *buf, size_t len);

struct dos_compressor {
	enum dos_codec codec;
	int level;
	void *zstd;		/* ZSTD_CCtx */
	void *zlib;		/* z_stream, made on first streaming use */
};
int dos_compressor_init(struct dos_compressor *c, enum dos_codec codec,
    int level);
void dos_compressor_release(struct dos_compressor *c);
/* Largest compressed size of len bytes. */
size_t dos_codec_bound(enum dos_codec codec, size_t len);
/* Worth compressing at all: not tiny, not already compressed. */
int dos_codec_worth_trying(const void *buf, size_t len);
/* Whether stored bytes save enough over raw to be kept compressed. */
int dos_codec_pays(size_t raw, size_t stored);
/* One-shot compression of a whole (small) object. */
int dos_compress(struct dos_compressor *c, void *dst, size_t dst_len,
    const void *src, size_t len, size_t *out);
/*
 * --compress: auto, always (yes), never (no), and keep where allowed;
 * DOS_EINVAL for anything else.
 */
int dos_parse_compress_mode(const char *s, int allow_keep, int *mode);
/* Streaming compression of a large object: begin, then chunks, last=1. */
int dos_compress_stream_begin(struct dos_compressor *c);
int dos_compress_stream(struct dos_compressor *c, const void *src,
    size_t len, int last, dos_sink_fn *sink, void *data);

struct dos_decompressor {
	enum dos_codec codec;
	int done;		/* the end of the stream was seen */
	int streaming;		/* part of the stream was decoded */
	void *zstd;		/* ZSTD_DCtx */
	void *zlib;		/* z_stream */
};
int dos_decompressor_init(struct dos_decompressor *d);
void dos_decompressor_release(struct dos_decompressor *d);
int dos_decompress_begin(struct dos_decompressor *d, enum dos_codec codec);
/*
 * Decode from src[0..*src_len) into dst[0..*dst_len); on return both hold
 * the bytes consumed and produced.  DOS_ECORRUPT on bad input or on input
 * after the end of the stream.
 */
int dos_decompress(struct dos_decompressor *d, const void *src,
    size_t *src_len, void *dst, size_t *dst_len);
uint32_t dos_crc32(uint32_t crc, const void *buf, size_t len);

/* ---- lib/fsutil.c: file-system helpers -------------------------------- */

/* write(2) all of buf, retrying on EINTR and short writes. */
int dos_write_all(int fd, const void *buf, size_t len);
/* read(2) until len bytes or end of file; returns the count or DOS_EIO. */
ssize_t dos_read_full(int fd, void *buf, size_t len);
/*
 * openat(2) that never follows a symlink nor leaves dirfd (EXDEV/ELOOP),
 * and, opening for reading only, never blocks on a FIFO.
 */
int dos_open_beneath(int dirfd, const char *path, int flags, mode_t mode);
/* The directory name in dirfd, never through a symbolic link (ELOOP). */
int dos_open_subdir(int dirfd, const char *name);
/* The same, to read its entries: 0 with *d NULL if there is none. */
int dos_opendir(int dirfd, const char *name, DIR **d);
/* mkdir -p of path (absolute or relative to the cwd). */
int dos_mkdir_p(const char *path, mode_t mode);
/*
 * rm -rf of name below dirfd, as far as it goes, never through a symbolic
 * link (one is removed itself).
 */
void dos_remove_tree(int dirfd, const char *name);

/* ---- lib/fault.c: the durable steps of the write paths -------------- */

/*
 * Every step that changes what a crash leaves behind goes through one of
 * these: each makes its system call between two fault-injection points
 * named after point (see DOS_FAULT in dos(7) and lib/fault.c), and
 * returns like the call, -1 with errno on failure, an injected one
 * included.  dos_step_create opens with dos_open_beneath and O_CREAT;
 * dos_step_pwrite writes all of buf.
 */
int dos_step_pwrite(const char *point, int fd, const void *buf, size_t len,
    uint64_t offset);
int dos_step_truncate(const char *point, int fd, uint64_t length);
int dos_step_fsync(const char *point, int fd);
/* fsync(2) of the directory path below dirfd; 0 or DOS_EIO. */
int dos_fsync_dir(const char *point, int dirfd, const char *path);
int dos_step_fdatasync(const char *point, int fd);
int dos_step_syncfs(const char *point, int fd);
int dos_step_create(const char *point, int dirfd, const char *name,
    int flags, mode_t mode);
int dos_step_mkdir(const char *point, int dirfd, const char *name,
    mode_t mode);
int dos_step_rename(const char *point, int fromfd, const char *from,
    int tofd, const char *to, unsigned flags);
int dos_step_link(const char *point, int fromfd, const char *from, int tofd,
    const char *to);
int dos_step_unlink(const char *point, int dirfd, const char *name);
/* The points around a step made by another library (an index commit). */
int dos_fault_before(const char *point);
int dos_fault_after(const char *point);

/* ---- lib/store.c: the container --------------------------------------- */

enum dos_open_flags {
	DOS_OPEN_WRITE = 1 << 0,	/* the caller will store objects */
	DOS_OPEN_LOST_INDEX = 1 << 1,	/* open packs without an index too */
};

struct dos_index;
/*
 * Called once when a process is about to wait for packs/lock, before it
 * blocks, with the holder's pid: the command layer says so on a terminal.
 */
typedef void dos_lock_wait_fn(void *data, long holder);
struct dos_store {
	char *path;		/* as given (for messages) */
	int dirfd;		/* the container directory */
	int loosefd;		/* loose/ */
	int tmpfd;		/* sandbox/: temp files of in-flight writes */
	struct dos_config cfg;
	unsigned tmp_counter;
	struct dos_index *index;	/* opened on first use */
	int index_writable;
	/*
	 * Open packs, sorted by number.  Pack numbers come from index
	 * records and file names, so they are looked up, never used as an
	 * array index.
	 */
	struct dos_open_pack {
		uint32_t pack;
		int fd;
	} *packfds;
	size_t packfds_nr, packfds_alloc;
	/*
	 * Decompressors of closed readers, for the next ones (object.c);
	 * locked, as readers may decode in other threads.
	 */
	pthread_mutex_t spare_decs_lock;
	struct dos_decompressor **spare_decs;
	size_t spare_decs_nr, spare_decs_alloc;
	dos_lock_wait_fn *lock_wait;	/* may be NULL */
	void *lock_wait_data;
};
#define DOS_STORE_INIT { NULL, -1, -1, -1, { 0 }, 0, NULL, 0, NULL, 0, 0, \
	PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, NULL, NULL }

/*
 * Which directory a command works on: dir if not NULL, else $DOS_DIR,
 * else ".".
 */
const char *dos_store_default_path(const char *dir);
/*
 * Open the container at path (NULL: dos_store_default_path(NULL)):
 * DOS_ELEGACY for a legacy container, and DOS_ENOINDEX for one whose
 * packs have lost their index, unless flags has DOS_OPEN_LOST_INDEX.
 */
int dos_store_open(struct dos_store *st, const char *path, unsigned flags);
/* Pack names are decimal numbers without leading zeros. */
int dos_parse_pack_name(const char *name, uint32_t *pack);
void dos_store_release(struct dos_store *st);
/* The path the container was opened with (for messages). */
const char *dos_store_path(const struct dos_store *st);
const struct dos_config *dos_store_config(const struct dos_store *st);
/* Have fn called before this process waits for packs/lock. */
void dos_store_on_lock_wait(struct dos_store *st, dos_lock_wait_fn *fn,
    void *data);
/* Whether st holds an open container (between open and release). */
int dos_store_is_open(const struct dos_store *st);
/* The container's index, opened (writable if asked) on first use. */
int dos_store_index(struct dos_store *st, int writable,
    struct dos_index **ix);

/*
 * Create a container at path with cfg (mkdir -p).  Returns DOS_EEXIST for
 * a non-empty directory that is not a container, DOS_ELEGACY for a legacy
 * disk-objectstore container, and 1 (not an error) when path already is a
 * dos container, whose config is then read into *existing.
 */
int dos_store_create(const char *path, const struct dos_config *cfg,
    struct dos_config *existing);

/* Non-zero if dirfd looks like a legacy disk-objectstore container. */
int dos_is_legacy_container(int dirfd);

/*
 * The file present in a container while a migration into it is
 * unfinished, holding the source's absolute path: a second run of the
 * same migration may then continue in it.  dos_store_migration_source
 * reads it into buf (DOS_ENOTFOUND: there is none); mark writes it
 * durably, whole, and unmark removes it durably.
 */
#define DOS_MIGRATION_MARKER "migrating"
int dos_store_migration_source(struct dos_store *st, char *buf, size_t size);
int dos_store_mark_migration(struct dos_store *st, const char *source);
int dos_store_unmark_migration(struct dos_store *st);

/* ---- lib/loose.c: loose objects ----------------------------------------*/

/* Relative path of a loose object below loose/, e.g. "ab/cdef...". */
void dos_loose_name(const struct dos_store *st, const struct dos_oid *oid,
    char *buf, size_t size);
/*
 * 0 if the loose object exists (filling *size if not NULL); DOS_ECORRUPT
 * if something else is where it should be: not a regular file, or behind
 * a symbolic link, which loose objects never are.
 */
int dos_loose_stat(struct dos_store *st, const struct dos_oid *oid,
    uint64_t *size);
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
 * Remove the shard directories of loose/ that are empty (after a pack);
 * one a writer is filling stays, and a writer never fails for it.
 */
int dos_loose_remove_empty_shards(struct dos_store *st);

/*
 * Every loose object whose hex id starts with prefix[0..plen), in
 * directory order; fn also gets the file's name in the open directory
 * dirfd (a name checked to be hex: it cannot escape).  A non-zero return
 * from fn stops the walk and is returned.
 */
typedef int dos_loose_fn(const struct dos_oid *oid, int dirfd,
    const char *name, void *data);
int dos_loose_for_each(struct dos_store *st, const char *prefix, size_t plen,
    dos_loose_fn *fn, void *data);

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
/* Drop uncommitted temp files and free the batch. */
void dos_loose_batch_free(struct dos_loose_batch *b);

/* Hash everything readable from fd without storing it (DOS_EREAD). */
int dos_hash_fd(int fd, struct dos_oid *oid, uint64_t *size);

/* ---- lib/index.c: the Berkeley DB index of packed objects ------------- */

struct dos_index;

struct dos_index_entry {
	uint32_t pack;
	enum dos_codec codec;
	uint64_t offset;	/* of the entry header in the pack */
	uint64_t stored_size;	/* bytes of data after the header */
	uint64_t raw_size;
};

/*
 * Open the index; writable creates index/ if needed.  A reader of a
 * container that never packed anything gets an empty index, which opens
 * the real one as soon as a writer has created it.
 */
int dos_index_open(struct dos_store *st, int writable, struct dos_index **ix);
/* Whether the index exists, complete: a writer creates packs.db last. */
int dos_index_exists(int dirfd);
void dos_index_close(struct dos_index *ix);
/* Close and reopen the handles (after DOS_ERECOVER or DOS_EBUSY). */
int dos_index_reopen(struct dos_index *ix);
/* Berkeley DB's own words for the last DOS_EINDEX. */
const char *dos_index_last_error(void);
/*
 * Look an id up.  Readers see records of transactions still in progress
 * (they point at pack data already durable); writers deciding whether
 * content is stored must use dos_index_get_committed().
 */
int dos_index_get(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e);
int dos_index_get_committed(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e);
/*
 * Look up n ids sorted in ascending order (repeats allowed) at once, the
 * way dos_index_get() does: found[i] says whether entries[i] was filled.
 * Ids near each other cost one bulk read instead of a search each.
 */
int dos_index_get_sorted(struct dos_index *ix, const struct dos_oid *oids,
    size_t n, struct dos_index_entry *entries, unsigned char *found);
/*
 * Writes happen inside one transaction: begin, put/del..., commit.  A
 * transaction puts or deletes at most DOS_INDEX_TXN_RECORDS records (the
 * index's lock table is sized for that many, see lib/index.c): writers
 * commit their batches at that size; one more is refused (DOS_EINDEX).
 */
#define DOS_INDEX_TXN_RECORDS 4096
int dos_index_begin(struct dos_index *ix);
int dos_index_put(struct dos_index *ix, const struct dos_oid *oid,
    const struct dos_index_entry *e);
int dos_index_del(struct dos_index *ix, const struct dos_oid *oid);
int dos_index_set_pack_length(struct dos_index *ix, uint32_t pack,
    uint64_t length);
int dos_index_get_pack_length(struct dos_index *ix, uint32_t pack,
    uint64_t *length);
int dos_index_del_pack_length(struct dos_index *ix, uint32_t pack);
int dos_index_commit(struct dos_index *ix);
void dos_index_abort(struct dos_index *ix);
/*
 * Fill the index's pages and give the space freed back to the file
 * system, outside any transaction of ix (dos gc, the end of a migration).
 */
int dos_index_compact(struct dos_index *ix);
/* Entries whose hex id starts with prefix[0..plen), in id order. */
typedef int dos_index_fn(const struct dos_oid *oid,
    const struct dos_index_entry *e, void *data);
int dos_index_walk(struct dos_index *ix, const char *prefix, size_t plen,
    dos_index_fn *fn, void *data);

/* ---- lib/pack.c: the pack format, and reading packs ------------------- */

#define DOS_PACK_VERSION 1
#define DOS_PACK_HEADER_SIZE 16
#define DOS_ENTRY_HEADER_SIZE 64

/*
 * Entry flags.  A tombstone (no data, raw and stored size 0) records that
 * its id was deleted: rebuilding the index from the packs, in pack number
 * and then offset order, drops the object at every earlier entry of that
 * id, so deleted objects never come back.
 */
enum dos_entry_flags {
	DOS_ENTRY_TOMBSTONE = 1 << 0,
};

/* What the 64-byte header in front of each pack entry says. */
struct dos_pack_entry {
	struct dos_oid oid;
	enum dos_codec codec;
	unsigned flags;
	uint64_t raw_size;
	uint64_t stored_size;
	uint32_t data_crc;	/* CRC-32 of the stored bytes */
};
void dos_pack_encode_entry(unsigned char *buf, const struct dos_pack_entry *e);
/* The DOS_PACK_HEADER_SIZE bytes a pack of this version starts with. */
void dos_pack_encode_header(unsigned char *hdr);
/* DOS_ECORRUPT unless buf holds a well-formed entry header. */
int dos_pack_decode_entry(const unsigned char *buf, struct dos_pack_entry *e);
/* 0 if fd starts with a dos pack header of this version. */
int dos_pack_check_header(int fd);
/* The pack numbers in packs/, ascending; *packs is malloc'ed. */
int dos_pack_list(struct dos_store *st, uint32_t **packs, size_t *nr);
/* Where pack is in such a list packs[0..nr), or NULL. */
const uint32_t *dos_pack_list_find(const uint32_t *packs, size_t nr,
    uint32_t pack);
int dos_pack_open(struct dos_store *st, uint32_t pack);
/* A read-only descriptor of packs/<pack>, kept open by the store. */
int dos_store_pack_fd(struct dos_store *st, uint32_t pack, int *fd);

/*
 * A scan of a pack's entries front to back, reading them a window at a
 * time into the caller's buf[0..size) (at least DOS_ENTRY_HEADER_SIZE
 * bytes; DOS_PACK_SCAN_WINDOW is a good size), which holds whole entries
 * unless one is larger.  Entries start after the pack header and must end
 * by limit; bytes that are no entry end the scan, as a torn tail when
 * they start at or past the committed length (what a killed writer
 * leaves), else as damage, as does a pack that ends before its committed
 * length.
 */
#define DOS_PACK_SCAN_WINDOW (256 * 1024)
enum dos_pack_verdict {
	DOS_PACK_OK,		/* entry holds the header of an entry at offset */
	DOS_PACK_TORN,		/* no entry from offset to limit: a torn tail */
	DOS_PACK_DAMAGED,	/* no entry at offset, before the committed length */
};
/* What is at an offset: an entry, or what is wrong there. */
enum dos_pack_what {
	DOS_PACK_ENTRY,
	DOS_PACK_BAD_HEADER,	/* bytes that are no entry header */
	DOS_PACK_PAST_END,	/* a header whose entry runs past the limit */
	DOS_PACK_NO_ROOM,	/* less than a header before the limit */
	DOS_PACK_SHORT,		/* the file ends before limit or committed */
};
/*
 * What the DOS_ENTRY_HEADER_SIZE bytes hdr at offset say, in a pack whose
 * entries end by limit (at least offset + DOS_ENTRY_HEADER_SIZE); e gets
 * the header unless DOS_PACK_BAD_HEADER.
 */
enum dos_pack_what dos_pack_entry_at(const unsigned char *hdr,
    uint64_t offset, uint64_t limit, struct dos_pack_entry *e);
struct dos_pack_scan {
	enum dos_pack_verdict verdict;
	enum dos_pack_what what;
	uint64_t offset;
	struct dos_pack_entry entry;
	const unsigned char *data;	/* its stored bytes, if in the window */
	/*
	 * Called before the window moves, so that a caller holding on to
	 * its bytes can set buf to another buffer of the same size.
	 */
	int (*refill)(struct dos_pack_scan *s, void *data);
	void *refill_data;
	unsigned char *buf;	/* the window: pack bytes from start on */
	size_t size, len;
	uint64_t start;
	int fd, done;
	uint64_t limit, committed, next;
};
void dos_pack_scan_begin(struct dos_pack_scan *s, int fd, uint64_t limit,
    uint64_t committed, unsigned char *buf, size_t size);
/*
 * 1 with the next verdict (after one that is not DOS_PACK_OK the scan is
 * over), 0 once it is over, DOS_EIO, or what refill returned.
 */
int dos_pack_scan_next(struct dos_pack_scan *s);
/* Go on from offset: past damage, say. */
void dos_pack_scan_seek(struct dos_pack_scan *s, uint64_t offset);

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
 * Append everything readable from fd unless an object with its id is
 * already stored (*existed is then 1).  With expected, content that does
 * not hash to it is refused with DOS_ECORRUPT.
 */
/*
 * Stream one object in: begin, write its bytes, then end, which checks
 * it against expected (if not NULL), drops it if already stored
 * (*existed = 1) and otherwise adds it to the batch.  abort forgets an
 * object begun and not ended; end does so itself when it fails.
 */
int dos_pack_writer_begin(struct dos_pack_writer *w);
/*
 * Or begin an object the caller has encoded already: write then takes its
 * stored bytes (encoded with codec, raw_size bytes once decoded) into the
 * pack as they are, and end records them under expected, which is then
 * required: the caller must have decoded and hashed them itself.
 */
int dos_pack_writer_begin_encoded(struct dos_pack_writer *w,
    enum dos_codec codec, uint64_t raw_size);
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
/* A failed read of fd is DOS_EREAD, as with dos_loose_batch_add_fd(). */
int dos_pack_writer_add_fd(struct dos_pack_writer *w, int fd,
    const struct dos_oid *expected, unsigned flags, struct dos_oid *oid,
    int *existed);
/* Record that oid is deleted; the flush drops its index record. */
int dos_pack_writer_add_tombstone(struct dos_pack_writer *w,
    const struct dos_oid *oid);
/*
 * Encode an object of len raw bytes (at most 1 MiB) as a whole pack entry,
 * header first, into out, compressing it with c as a writer in mode
 * would; out_size must be DOS_ENTRY_HEADER_SIZE + dos_codec_bound() of
 * len or more.  *pe describes the entry.  For threads that prepare
 * entries for dos_pack_writer_add_entry().
 */
int dos_pack_encode_object(struct dos_compressor *c,
    enum dos_compress_mode mode, const struct dos_oid *oid, const void *raw,
    size_t len, unsigned char *out, size_t out_size,
    struct dos_pack_entry *pe);
/* A compressor, and the mode, to encode entries as w would. */
int dos_pack_writer_compressor(const struct dos_pack_writer *w,
    struct dos_compressor *c, enum dos_compress_mode *mode);
/*
 * Append a whole entry (header and stored bytes, len in all) made by the
 * caller, which vouches for its data; deduplicated as end does.
 */
int dos_pack_writer_add_entry(struct dos_pack_writer *w, const void *entry,
    size_t len, unsigned flags, int *existed);
/*
 * Copy the entry pe at offset of the pack open on fd as it is stored
 * (no recompression), checking its data checksum on the way.
 */
int dos_pack_writer_copy_entry(struct dos_pack_writer *w, int fd,
    uint64_t offset, const struct dos_pack_entry *pe);
size_t dos_pack_writer_pending(const struct dos_pack_writer *w);
uint64_t dos_pack_writer_pending_bytes(const struct dos_pack_writer *w);
uint32_t dos_pack_writer_pack(const struct dos_pack_writer *w);
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
	enum dos_storage storage;
	enum dos_codec codec;
	uint32_t pack;		/* packed objects only */
	uint64_t offset;	/* packed objects only */
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
/* The fields but oid of the object the index entry e locates in a pack. */
void dos_object_info_set_packed(struct dos_object_info *info,
    const struct dos_index_entry *e);

enum dos_read_flags {
	DOS_READ_VERIFY = 1 << 0,	/* check the SHA-256 at the end */
};

/*
 * A reader streams an object's raw bytes.  It checks the size always and
 * the SHA-256 for loose objects (where a wrong size is the only other
 * sign of damage) or with DOS_READ_VERIFY; a mismatch makes the read that
 * reaches the end return DOS_ECORRUPT.
 */
struct dos_reader {
	struct dos_object_info info;
	int fd;			/* loose file, or the store's pack fd */
	uint64_t remaining;	/* raw bytes still to hand out */
	unsigned flags;
	struct dos_hasher hasher;
	/* Packed objects: the stored bytes and their checksum. */
	struct dos_store *st;
	uint64_t pos, stored_left;
	uint32_t crc, want_crc;
	unsigned char *in;	/* stored bytes read ahead, for decoding */
	size_t in_pos, in_len;
	struct dos_decompressor *dec;	/* its own, once it decodes */
};
int dos_reader_open(struct dos_store *st, const struct dos_oid *oid,
    unsigned flags, struct dos_reader *r);
/* Returns bytes read (0 at the end) or a DOS_E* code. */
ssize_t dos_reader_read(struct dos_reader *r, void *buf, size_t len);
void dos_reader_close(struct dos_reader *r);
/*
 * Whether r can be read, and then closed, by another thread than the
 * store's: a loose file, or a packed object whose stored bytes were all
 * read by dos_reader_open, so that reading it needs nothing of the store
 * but a decompressor of its own (taken from the store's spares and given
 * back under a lock).  Opening happens in the store's thread.
 */
int dos_reader_detachable(const struct dos_reader *r);

/* ---- lib/input.c: records from stdin ---------------------------------- */

#define DOS_INPUT_MAX_RECORD (1 << 20)

struct dos_input {
	int fd, delim, eof;
	char *buf;
	size_t alloc, start, end;
};
void dos_input_init(struct dos_input *in, int fd, int delim);
void dos_input_release(struct dos_input *in);
/*
 * Next record, without its terminator (and without a CR before an LF),
 * NUL-terminated in place: 1, 0 at the end, or DOS_EINVAL for a record
 * over DOS_INPUT_MAX_RECORD bytes, DOS_EIO, DOS_ENOMEM.
 */
int dos_input_read(struct dos_input *in, char **rec, size_t *len);
/* Non-zero if dos_input_read() would not block. */
int dos_input_ready(struct dos_input *in);

/* ---- lib/batch.c: the batch requests of dos cat-object --------------- */

/*
 * A --batch-command line, parsed without doing anything, so that a fuzzer
 * can reach it without a process: "contents <object>", "info <object>"
 * or "flush".
 */
enum dos_batch_command {
	DOS_BATCH_CONTENTS,
	DOS_BATCH_INFO,
	DOS_BATCH_FLUSH,
	DOS_BATCH_EMPTY,		/* an empty line */
	DOS_BATCH_LEADING_BLANK,	/* a blank before the command */
	DOS_BATCH_FLUSH_ARGS,		/* flush with an argument */
	DOS_BATCH_NO_ARGS,		/* contents or info without one */
	DOS_BATCH_UNKNOWN,
};
/*
 * What line[0..len) (NUL-terminated, as dos_input_read() leaves it) asks;
 * *arg and *arg_len get its argument.
 */
enum dos_batch_command dos_batch_parse_command(const char *line, size_t len,
    const char **arg, size_t *arg_len);

/*
 * The batch engine answers requests (an object name, perhaps followed by
 * more text) together and hands each answer to a callback in the order
 * the requests came.  It prints nothing: the caller formats the answers.
 */
struct dos_batch_answer {
	const char *input;	/* the request, NUL-terminated */
	size_t name_len;	/* its first name_len bytes name the object */
	const char *rest;	/* with want_rest: what follows the name */
	size_t rest_len;
	int contents;		/* the request asked for the contents */
	int last;		/* the round's last: nothing more is waiting */
	/*
	 * 0, or why the object could not be looked up (or opened):
	 * DOS_EBADID, DOS_ENOTFOUND, DOS_EAMBIGUOUS, DOS_ECORRUPT (info.oid
	 * is then the damaged object), DOS_EIO...
	 */
	int rc;
	struct dos_object_info info;
	/*
	 * The contents: read whole and checked into data[0..len) when
	 * read_rc is 0 (else why not: DOS_ECORRUPT, DOS_EIO...), or, for a
	 * larger object, an open reader to stream it from before returning.
	 */
	int read_rc;
	const void *data;
	size_t len;
	struct dos_reader *reader;
};
/* A non-zero return stops the answers and is returned. */
typedef int dos_batch_fn(const struct dos_batch_answer *a, void *data);
struct dos_batch;
/*
 * A batch engine for st (read from the calling thread only): objects are
 * read with read_flags (DOS_READ_*) by jobs threads (1: none but the
 * caller's); with want_rest, a request's name ends at a blank.
 */
int dos_batch_new(struct dos_store *st, unsigned read_flags, int want_rest,
    int jobs, dos_batch_fn *fn, void *data, struct dos_batch **b);
/*
 * Queue request line[0..len) (at most DOS_INPUT_MAX_RECORD bytes); the
 * queue is answered when full, so fn may be called.
 */
int dos_batch_add(struct dos_batch *b, const char *line, size_t len,
    int contents);
/* Answer every queued request. */
int dos_batch_answer(struct dos_batch *b);
/* Requests still queued are dropped unanswered. */
void dos_batch_free(struct dos_batch *b);

/* ---- lib/quote.c: C-quoted paths in records --------------------------- */

/*
 * C-quote name into *out (malloc'ed) if it needs quoting (git's rule):
 * 1 if it did, 0 if name needs none, DOS_ENOMEM.
 */
int dos_quote_path(const char *name, char **out);
/* Undo dos_quote_path on a "..." line in place; DOS_EINVAL if bad. */
int dos_unquote_path(char *line);

/* ---- lib/legacy*.c: legacy disk-objectstore containers (dos-migrate) -- */

/*
 * Reading a legacy container (Python disk-objectstore, or rsdos, whose
 * "compressed" entries may be zstd) to migrate it.  The source is never
 * modified: packs.idx and its -wal/-shm are copied into a private temp
 * directory and SQLite opens the copy.  Only dos-migrate links this file
 * (and SQLite).
 */
enum dos_legacy_hash {
	DOS_LEGACY_SHA256 = 0,
	DOS_LEGACY_SHA1 = 1,
};

#define DOS_LEGACY_MAX_KEY 64	/* hex digits of the longest key */

struct dos_legacy_config {
	enum dos_legacy_hash hash;
	size_t keylen;			/* hex digits: 64 (sha256), 40 (sha1) */
	int loose_prefix_len;
	uint64_t pack_size_target;
	enum dos_codec codec;		/* of "compression_algorithm" */
	int level;
	char container_id[40];		/* "" when the config has none */
};

struct dos_legacy;

/*
 * Open the legacy container at path.  DOS_ENOTCONTAINER if it is not one,
 * DOS_EBADCONFIG if it is one this code cannot migrate; for both, *why
 * (if not NULL) gets a static explanation.
 */
int dos_legacy_open(const char *path, struct dos_legacy **out,
    const char **why);
const struct dos_legacy_config *dos_legacy_get_config(
    const struct dos_legacy *lg);
/* Close and remove the private copy of the index. */
void dos_legacy_close(struct dos_legacy *lg);

/* Where a copy of an object is stored. */
enum dos_legacy_where {
	DOS_LEGACY_PACKED,
	DOS_LEGACY_LOOSE,
	DOS_LEGACY_DUPLICATE,
};

/* What is wrong with one copy; dos_legacy_problem_name() spells it. */
enum dos_legacy_problem {
	DOS_LEGACY_MISSING,		/* its pack file does not exist */
	DOS_LEGACY_UNREADABLE,		/* reading it failed */
	DOS_LEGACY_TRUNCATED,		/* the pack ends inside its range */
	DOS_LEGACY_CORRUPT,		/* the compressed stream does not decode */
	DOS_LEGACY_TRAILING,		/* bytes follow the compressed stream */
	DOS_LEGACY_SIZE_MISMATCH,	/* not the size the index records */
	DOS_LEGACY_HASH_MISMATCH,	/* does not hash to its key */
	DOS_LEGACY_BAD_ROW,		/* index row with an invalid key or range */
};
const char *dos_legacy_problem_name(enum dos_legacy_problem problem);

/* An object of the source and the copy of it being read. */
struct dos_legacy_object {
	char key[DOS_LEGACY_MAX_KEY + 1];
	uint64_t size;			/* raw size */
	enum dos_legacy_where where;
	int64_t pack_id;		/* packed copies: pack, -1 included */
	enum dos_codec codec;		/* how the copy is stored */
	int sys_errno;			/* DOS_LEGACY_UNREADABLE: why */
};

/*
 * What dos_legacy_migrate() tells its caller, in the order of the source
 * whatever the number of threads; every function gets data.  The
 * int-returning ones return 0 or a negative DOS_E* code, which stops the
 * migration and is returned by it.
 */
struct dos_legacy_sink {
	/* 1 to migrate obj, 0 to skip it (already at the destination). */
	int (*want)(void *data, const struct dos_legacy_object *obj);
	/*
	 * A copy of obj was verified and is now stored (a dry run: would
	 * be) as oid.
	 */
	int (*migrated)(void *data, const struct dos_legacy_object *obj,
	    const struct dos_oid *oid);
	/* This copy is bad (obj->where says which); others may follow. */
	void (*bad_copy)(void *data, const struct dos_legacy_object *obj,
	    enum dos_legacy_problem problem);
	/* No copy of obj is good: it cannot be migrated. */
	void (*lost)(void *data, const struct dos_legacy_object *obj);
};

struct dos_legacy_options {
	/* Where verified objects go (the sink flushes); NULL: a dry run. */
	struct dos_pack_writer *writer;
	/*
	 * Store compressed copies as they are (zlib, or single zstd frames)
	 * instead of recompressing them, and raw ones raw; still decoded to
	 * be verified.
	 */
	int keep_compression;
	/* The destination had no objects: nothing needs deduplicating. */
	int fresh;
	int jobs;		/* threads that verify and encode; at least 1 */
};

struct dos_legacy_stats {
	uint64_t objects, bytes;	/* verified and stored */
	uint64_t present;		/* already at the destination */
	uint64_t recovered;		/* from a second copy */
	uint64_t extra_copies;		/* copies never needed */
	uint64_t failed;		/* lost */
};

/*
 * Read every object once, indexed ones pack by pack in offset order and
 * then loose ones, verify each copy (size, and hash against the key)
 * and store the first good copy with o->writer: packed, else loose, else
 * duplicates/.  Unreferenced pack bytes, sandbox/ and *.lock are never
 * read.  Objects and failures reach the sink, and the pack, in the same
 * order whatever o->jobs is.  stats may be NULL.
 */
int dos_legacy_migrate(struct dos_legacy *lg,
    const struct dos_legacy_options *o, const struct dos_legacy_sink *sink,
    void *data, struct dos_legacy_stats *stats);

/*
 * Call fn with every key of the source once: the indexed keys in key
 * order (where DOS_LEGACY_PACKED), then the keys only loose files have
 * (DOS_LEGACY_LOOSE).  A non-zero return from fn stops the walk.
 */
typedef int dos_legacy_key_fn(const char *key, enum dos_legacy_where where,
    void *data);
int dos_legacy_for_each_key(struct dos_legacy *lg, dos_legacy_key_fn *fn,
    void *data);

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
 * The leftovers of sandbox/, the temp files nobody will finish: fn is
 * called with each (until it returns non-zero, which is returned), its
 * size and why it is one: its writer died (its name says which process
 * made it: pid), or it is older than a day.  gc removes them and fsck
 * reports them.  DOS_EIO if sandbox/ cannot be read.
 */
enum dos_temp_stale {
	DOS_TEMP_LIVE,
	DOS_TEMP_ORPHAN,	/* process pid is gone */
	DOS_TEMP_OLD,
};
typedef int dos_stale_temp_fn(void *data, const char *name, uint64_t size,
    enum dos_temp_stale why, long pid);
int dos_for_each_stale_temp(struct dos_store *st, dos_stale_temp_fn *fn,
    void *data);

/*
 * Remove the temp files of sandbox/ that nobody will finish (their writer
 * died, or they are a day old); *removed counts them.
 */
int dos_clean_sandbox(struct dos_store *st, uint64_t *removed);

/*
 * Change setting s of the container to its value in *value, under
 * packs/lock (so that two changes never run at once and none lands in a
 * pack writer's session), atomically and durably (dos_config_set).
 */
int dos_store_set_config(struct dos_store *st, const struct dos_setting *s,
    const struct dos_config *value);

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
	uint64_t size_index;
	uint64_t prune_packable;	/* loose objects also packed */
	uint64_t garbage, size_garbage;	/* pack entries and tails not indexed */
	uint64_t damaged_packs;		/* packs that could not be read through */
	uint64_t missing;		/* indexed objects of missing packs */
};
int dos_count_objects(struct dos_store *st, struct dos_counts *c);

/*
 * Call fn once for every object, sorted by id, or in storage order with
 * DOS_ITER_UNORDERED: loose objects in directory order, then the live
 * entries of the packs front to back, then the indexed objects no pack
 * scan reached (in a pack that is missing, or past damage in one), so
 * that a listing never loses an object a reader may find.  An object both
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

#endif
