/*
 * dos.h: the storage library of libdos, the library behind every dos-*
 * program.  Its public part, what libdos.so exports and other programs
 * use, is include/dos/dos.h, included here; this header adds what only
 * lib/ and the dos programs use.
 *
 * The storage library (oid, config, store, loose, object reading) never
 * prints and never exits: it returns 0 or a negative DOS_E* code and
 * leaves errno meaningful for DOS_EIO.  The command layer, which prints
 * and exits, has its own header, cli.h; nothing here may include it.
 *
 * Layers of lib/, lowest first: a file calls functions only of files on
 * the lines above its own, never of one beside or below it, so that no
 * cycle can form among them (t/layers checks it, in make test).  The files
 * of a module with a private header (fsck.c, fsck-*.c: fsck-int.h; index
 * and legacy likewise) are one unit.  cli and main are the command layer
 * (cli.h).  transfer declares its functions in transfer.h, for the few
 * programs that use them.
 *	grow
 *	fsutil input quote
 *	oid fault tree
 *	dict
 *	codec config index
 *	err
 *	s3
 *	remote-cache
 *	store
 *	loose remote-read
 *	extsort stored
 *	pack journal
 *	pack-write
 *	object
 *	count maint legacy batch remote
 *	fsck backup transfer
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

#include "dos/dos.h"

/* ---- lib/grow.c: growable arrays --------------------------------------- */

/*
 * Room for element nr of items (*alloc allocated, size bytes each),
 * doubling from first: the array, perhaps moved, or NULL when memory ran
 * out, with items and *alloc left as they were.
 */
void *dos_grow(void *items, size_t nr, size_t *alloc, size_t size,
    size_t first);

/* ---- lib/oid.c: object ids and hashing -------------------------------- */

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

/* Streaming SHA-256 (OpenSSL); one context is reused across objects. */
struct dos_hasher {
	void *ctx;
};
int dos_hasher_init(struct dos_hasher *h);
int dos_hasher_reset(struct dos_hasher *h);
int dos_hasher_update(struct dos_hasher *h, const void *buf, size_t len);
int dos_hasher_final(struct dos_hasher *h, struct dos_oid *oid);
void dos_hasher_release(struct dos_hasher *h);

/* ---- lib/config.c: config.json ---------------------------------------- */

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
	DOS_SETTING_REMOTE_CACHE,
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
/*
 * The same for any member of config.json: key set to value (taken over),
 * or removed if value is NULL (DOS_ENOTFOUND if there was none).
 */
int dos_config_set_member(int dirfd, const char *key, struct json_t *value);
/*
 * Make dirfd/config.json say dos_format DOS_CONTAINER_VERSION_GROUPS, as
 * dos_config_set_member() writes, unless cfg (which follows) says it does
 * already: before a writer, holding packs/lock, puts a first group entry
 * into a pack, so that dos before groups never opens the container.
 */
int dos_config_allow_groups(int dirfd, struct dos_config *cfg);

/* ---- lib/codec.c: per-object compression ----------------------------- */

/* Receives output of a streaming codec. */
typedef int dos_sink_fn(void *data, const void *buf, size_t len);

struct dos_dicts;
struct dos_compressor {
	enum dos_codec codec;
	int level;
	void *zstd;		/* ZSTD_CCtx */
	void *zlib;		/* z_stream, made on first streaming use */
	struct dos_dicts *dicts;	/* a pack writer's, or NULL */
	uint32_t dict;		/* the dictionary the last object needs, or 0 */
	void *spare;		/* for dos_dict_compress */
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
/*
 * One-shot compression of a whole (small) object; with c->dicts, against
 * the writer's dictionary if it has one and the object is small enough,
 * and c->dict says which.
 */
int dos_compress(struct dos_compressor *c, void *dst, size_t dst_len,
    const void *src, size_t len, size_t *out);
/*
 * The same for the decoded bytes of a group entry (at most
 * DOS_DICT_INPUT_MAX): with zstd, compressed both with the writer's
 * dictionary, if it has one, and without, into dst and scratch (each of
 * dst_len bytes), the smaller kept in dst; c->dict says which.
 */
int dos_compress_group(struct dos_compressor *c, void *dst, void *scratch,
    size_t dst_len, const void *src, size_t len, size_t *out);
/*
 * --compress: auto, always (yes), never (no), and keep where allowed;
 * DOS_EINVAL for anything else.
 */
int dos_parse_compress_mode(const char *s, int allow_keep, int *mode);
/* Streaming compression of a large object: begin, then chunks, last=1. */
int dos_compress_stream_begin(struct dos_compressor *c);
int dos_compress_stream(struct dos_compressor *c, const void *src,
    size_t len, int last, dos_sink_fn *sink, void *data);

/* A dictionary of the container, loaded (lib/dict.c). */
struct dos_dict {
	uint32_t number;	/* dicts/<number>, from 1 */
	void *cdict;		/* ZSTD_CDict: a writer's */
	void *cdict_fast;	/* a hard writer's second try, or NULL */
	void *ddict;		/* ZSTD_DDict: a reader's */
};

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
/* Or a zstd frame compressed against dict (NULL: none). */
int dos_decompress_begin_dict(struct dos_decompressor *d, enum dos_codec codec,
    const struct dos_dict *dict);
/*
 * Decode from src[0..*src_len) into dst[0..*dst_len); on return both hold
 * the bytes consumed and produced.  DOS_ECORRUPT on bad input or on input
 * after the end of the stream.
 */
int dos_decompress(struct dos_decompressor *d, const void *src,
    size_t *src_len, void *dst, size_t *dst_len);
uint32_t dos_crc32(uint32_t crc, const void *buf, size_t len);
/* zlib's crc32_combine(): the CRC-32 of A then B from theirs (B len2 long). */
uint32_t dos_crc32_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);

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
/* Pack (and dictionary) names are decimal numbers without leading zeros. */
int dos_parse_pack_name(const char *name, uint32_t *pack);
/*
 * The numbers naming files of dir below dirfd (packs/, dicts/), ascending;
 * *list is malloc'ed.
 */
int dos_list_numbered(int dirfd, const char *dir, uint32_t **list,
    size_t *nr);
/* Sort packs[0..nr) into such a list. */
void dos_pack_list_sort(uint32_t *packs, size_t nr);
/* Where pack is in such a list packs[0..nr), or NULL. */
const uint32_t *dos_pack_list_find(const uint32_t *packs, size_t nr,
    uint32_t pack);
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

struct dos_index;
/*
 * Opaque to other programs, which get theirs from dos_store_new(); the
 * dos programs keep theirs where they like, from DOS_STORE_INIT through
 * dos_store_open() to dos_store_release().
 */
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
		unsigned version;	/* of its entries, 0 if unknown */
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
	/* Dictionaries loaded for readers (dict.c), kept till release. */
	pthread_mutex_t dicts_lock;
	struct dos_dict *dicts;
	size_t dicts_nr;
	/* Connections to remotes, made on the first read of an evicted pack. */
	struct dos_remote_conn *remote_conns;
	size_t remote_conns_nr;
	/* The cache of their blocks (remote-cache.c), on first use. */
	struct dos_remote_cache *remote_cache;
	/*
	 * The group entry readers decoded last (object.c), whole, for its
	 * next members (the members of a group are often read one after
	 * another); locked, as readers may be opened in several threads.
	 */
	pthread_mutex_t group_lock;
	struct dos_group_cache {
		uint32_t pack;
		uint64_t offset;
		uint32_t data_crc;	/* of the entry decoded */
		unsigned char *buf;	/* DOS_GROUP_RAW_MAX bytes, or NULL */
		size_t len;		/* decoded there; 0: none */
	} group;
};
#define DOS_STORE_INIT { NULL, -1, -1, -1, { 0 }, 0, NULL, 0, NULL, 0, 0, \
	PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, NULL, NULL, \
	PTHREAD_MUTEX_INITIALIZER, NULL, 0, NULL, 0, NULL, \
	PTHREAD_MUTEX_INITIALIZER, { 0, 0, 0, NULL, 0 } }

/*
 * Which directory a command works on: dir if not NULL, else $DOS_DIR,
 * else ".".
 */
const char *dos_store_default_path(const char *dir);
/* dos_store_new() into the caller's st. */
int dos_store_open(struct dos_store *st, const char *path, unsigned flags);
void dos_store_release(struct dos_store *st);
/* Whether st holds an open container (between open and release). */
int dos_store_is_open(const struct dos_store *st);
/* The container's index, opened (writable if asked) on first use. */
int dos_store_index(struct dos_store *st, int writable,
    struct dos_index **ix);

/* Non-zero if dirfd looks like a legacy disk-objectstore container. */
int dos_is_legacy_container(int dirfd);
/*
 * The directories of a container's layout made in dirfd (those there
 * already left alone), not synced: dirfd must be, before they count.
 */
int dos_store_make_layout(int dirfd);

/*
 * The file present in a container while a migration into it is
 * unfinished, holding the source's absolute path: a second run of the
 * same migration may then continue in it.  dos_store_migration_source
 * reads it into buf (DOS_ENOTFOUND: there is none); mark writes it
 * durably, whole, with how far the migration got if p is not NULL, and
 * unmark removes it durably.
 */
#define DOS_MIGRATION_MARKER "migrating"
/*
 * How far a migration got: the source's objects numbered below done
 * (dos_legacy_object.seq; key is that of done - 1) are all at the
 * destination, put there by the commit that left pack `pack` at length
 * bytes.  fresh: the migration began in an empty container.
 */
struct dos_migration_progress {
	uint64_t done;
	uint32_t pack;
	uint64_t length;
	int fresh;
	char key[DOS_HEXSZ + 1];
};
int dos_store_migration_source(struct dos_store *st, char *buf, size_t size);
/* The progress recorded for source; DOS_ENOTFOUND if there is none. */
int dos_store_migration_progress(struct dos_store *st, const char *source,
    struct dos_migration_progress *p);
int dos_store_mark_migration(struct dos_store *st, const char *source,
    const struct dos_migration_progress *p);
int dos_store_unmark_migration(struct dos_store *st);

/* ---- lib/loose.c: loose objects ----------------------------------------*/

/*
 * Every temp file of the library is made here, in sandbox/, named
 * "obj-<pid>-..." so that fsck and gc can tell a live process's file from
 * a dead one's: a new file opened with flags (and O_EXCL), its name in
 * name (size bytes, 48 are enough), the step point of fault.c; -1 and
 * errno if it cannot be made.
 */
int dos_temp_create(struct dos_store *st, const char *point, int flags,
    char *name, size_t size);

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

/* ---- lib/extsort.c: sorting more records than memory holds ------------ */

/*
 * An external sort of fixed-size records: records are added, then after
 * dos_sort_finish() come out in cmp order (equal ones in the order they
 * were added) from dos_sort_next(), as often as dos_sort_rewind() starts
 * them again.  Memory stays within about budget bytes whatever their
 * number (DOS_SORT_MEMORY, in bytes, replaces every budget when set: the
 * tests make many runs with it); beyond it they go to one unlinked temp
 * file in sandbox/ (dos_temp_create()), which takes them all once.
 * dos_sort_next() is 1 with a record, 0 at the end, or a DOS_E* code.
 */
#define DOS_SORT_BUDGET (64U << 20)	/* bytes of one sort's records */
struct dos_sort;
typedef int dos_sort_cmp_fn(const void *a, const void *b);
int dos_sort_open(struct dos_store *st, size_t recsize, dos_sort_cmp_fn *cmp,
    size_t budget, struct dos_sort **out);
int dos_sort_add(struct dos_sort *s, const void *rec);
int dos_sort_finish(struct dos_sort *s);
int dos_sort_next(struct dos_sort *s, void *rec);
int dos_sort_rewind(struct dos_sort *s);
/* Free everything and remove the temp file; s may be NULL. */
void dos_sort_close(struct dos_sort *s);

/* ---- lib/journal.c: index records loaded later, in id order ---------- */

/*
 * The journal (DOS_JOURNAL in the container) holds index records that a
 * pack writer deferred (dos_pack_writer_defer): dos_journal_write() makes
 * them durable, before the pack length covering their entries is
 * committed; dos_journal_load() puts those a commit covers into the
 * index in id order and removes the file (0 if there is none).  Only the
 * holder of packs/lock opens or loads it.
 */
#define DOS_JOURNAL "index-journal"
struct dos_index_record;
struct dos_journal {
	int fd;
	uint64_t end;		/* where the next record goes */
};
int dos_journal_open(struct dos_store *st, struct dos_journal *j);
int dos_journal_write(struct dos_journal *j,
    const struct dos_index_record *recs, size_t n);
void dos_journal_close(struct dos_journal *j);
int dos_journal_load(struct dos_store *st, struct dos_index *ix);
/*
 * Put the records s hands out in id order into the index, an id's last
 * one only, a transaction at a time; the last commit syncs.  Each leaf is
 * visited once: dos_journal_load() and dos clone load through it.
 */
int dos_journal_put_sorted(struct dos_index *ix, struct dos_sort *s);
/*
 * The same records as a new objects.db, built outside the environment
 * (dos_index_build_open()) and synced, as sandbox/<tmp> (tmp: size bytes),
 * for a container whose index has no objects.db yet, and so none open: 0,
 * 1 without doing anything when it has one, or an error (nothing left).
 * dos_journal_place_index then renames it into index/ if rc is 0, or
 * removes it: the index points into packs from then on.
 */
int dos_journal_build_index(struct dos_store *st, struct dos_sort *s,
    char *tmp, size_t size);
int dos_journal_place_index(struct dos_store *st, const char *tmp, int rc);

/* ---- lib/stored.c: checking an object's stored bytes ------------------ */

/*
 * Stored bytes (encoded with codec, as in a pack) are an object's when
 * they decode to raw_size bytes exactly that hash to its id: begin, feed
 * them in pieces, end (DOS_ECORRUPT if they are not), or all at once.
 * One checker per thread.
 */
struct dos_stored_check {
	struct dos_decompressor dec;
	struct dos_hasher hasher;
	unsigned char *out;	/* decoded bytes, hashed and dropped */
	enum dos_codec codec;
	uint64_t raw, raw_size;	/* decoded so far, and in all */
};
int dos_stored_check_init(struct dos_stored_check *c);
void dos_stored_check_release(struct dos_stored_check *c);
int dos_stored_check_begin(struct dos_stored_check *c, enum dos_codec codec,
    uint64_t raw_size);
int dos_stored_check_feed(struct dos_stored_check *c, const void *buf,
    size_t len);
int dos_stored_check_end(struct dos_stored_check *c, const struct dos_oid *oid);
int dos_stored_check(struct dos_stored_check *c, enum dos_codec codec,
    uint64_t raw_size, const void *stored, size_t len,
    const struct dos_oid *oid);

/* ---- lib/index*.c: the Berkeley DB index of packed objects ------------ */

struct dos_index;

/*
 * A record locates an object's entry; a member record (member != 0) the
 * group entry at offset that holds it, as its member number member - 1:
 * its codec is then DOS_CODEC_NONE (the group's is in the pack), its
 * stored_size 0 and its raw_size the member's size.
 */
struct dos_index_entry {
	uint32_t pack;
	enum dos_codec codec;
	uint64_t offset;	/* of the entry header in the pack */
	uint64_t stored_size;	/* bytes of data after the header */
	uint64_t raw_size;
	uint32_t member;	/* 0, or 1 + its number in a group entry */
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
/*
 * Whether work outside a transaction that failed with *rc, on try number
 * tries, is done again: after DOS_ERECOVER or DOS_EBUSY, a few times,
 * once the handles are reopened (which may fail into *rc).
 */
int dos_index_again(struct dos_index *ix, int *rc, int tries);
/* Berkeley DB's own words for the last DOS_EINDEX. */
const char *dos_index_last_error(void);
/*
 * Look an id up.  Readers see records of transactions still in progress
 * (they point at pack data already durable); writers deciding whether
 * content is stored must use dos_index_get_committed().  An id not found
 * is looked up again committed, which waits for a writer holding its page.
 */
int dos_index_get(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e);
int dos_index_get_committed(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e);
/*
 * Look an id up once, uncommitted, for the holder of packs/lock: no other
 * writer has a transaction open or rewrites a compressed run meanwhile,
 * so what one read finds, or misses, is so.
 */
int dos_index_get_as_writer(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e);
/*
 * The same, by the writer's thread while another of its threads commits a
 * transaction (dos_pack_writer_flush_begin): outside it, and without the
 * retries that reopen the handles.  Between the delete and the re-add of
 * a compressed run it rewrites, that run's ids are missed: such an object
 * is stored twice, which costs only its room.
 */
int dos_index_get_beside(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e);
/*
 * While shared is set, the thread with the transaction never reopens the
 * handles (dos_index_begin after another process's recovery fails with
 * DOS_ERECOVER instead), as another thread reads through them beside it.
 */
void dos_index_share(struct dos_index *ix, int shared);
/*
 * Look up n ids sorted in ascending order (repeats allowed) at once, the
 * way dos_index_get() does: found[i] says whether entries[i] was filled.
 * Ids near each other cost one bulk read instead of a search each; many
 * ids are looked up in two halves, on two threads.
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
/* n records whose ids are in ascending order, none twice, put at once. */
struct dos_index_record {
	struct dos_oid oid;
	struct dos_index_entry entry;
};
/* qsort(3) order of records: by id. */
int dos_index_record_cmp(const void *a, const void *b);
int dos_index_put_sorted(struct dos_index *ix,
    const struct dos_index_record *recs, size_t n);
/*
 * An entry in the format of objects.db's records (format 2: four varints),
 * at most DOS_INDEX_ENTRY_MAX bytes; decoded, DOS_ECORRUPT unless the len
 * bytes are one such entry.
 */
#define DOS_INDEX_ENTRY_MAX 40
size_t dos_index_encode_entry(unsigned char *rec,
    const struct dos_index_entry *e);
int dos_index_decode_entry(const unsigned char *rec, size_t len,
    struct dos_index_entry *e);
/*
 * Whether objects.db holds records of format 2, which can locate members
 * of group entries: a writer groups objects only then.
 */
int dos_index_holds_members(const struct dos_index *ix);
/*
 * The environment of index/ made, without its databases, and closed: a
 * later dos_index_open() joins it instead of making it (dos clone makes
 * it while it fetches).  Only for an index no other process has open.
 */
int dos_index_prepare(struct dos_store *st);
/*
 * objects.db made outside the environment (a clone's, for an index that
 * has none yet): created at path, which must not exist, filled by
 * dos_index_build_put() with records in ascending id order, none twice,
 * without log or locks; dos_index_build_close() with keep writes it out
 * and syncs it, for the caller to rename to index/objects.db before the
 * environment is first opened.  A process killed meanwhile leaves only
 * the file at path.
 */
int dos_index_build_open(const char *path, struct dos_index **out);
int dos_index_build_put(struct dos_index *ix,
    const struct dos_index_record *recs, size_t n);
int dos_index_build_close(struct dos_index *ix, int keep);
int dos_index_del(struct dos_index *ix, const struct dos_oid *oid);
int dos_index_set_pack_length(struct dos_index *ix, uint32_t pack,
    uint64_t length);
int dos_index_get_pack_length(struct dos_index *ix, uint32_t pack,
    uint64_t *length);
int dos_index_del_pack_length(struct dos_index *ix, uint32_t pack);
int dos_index_commit(struct dos_index *ix);
/*
 * As dos_index_commit(), without waiting for the disk: for a transaction
 * a durable commit follows (the log is written in order, so that one makes
 * this one durable too).
 */
int dos_index_commit_nosync(struct dos_index *ix);
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
/*
 * A copy of the index as one moment's committed transactions left it, in
 * the directory target (it must exist and be empty), made while other
 * processes go on using the index; fn is called with each pack's committed
 * length in the copy, in pack order.
 */
typedef int dos_index_pack_fn(uint32_t pack, uint64_t length, void *data);
int dos_index_backup(struct dos_index *ix, const char *target,
    dos_index_pack_fn *fn, void *data);

/* ---- lib/pack.c: the pack format, and reading packs ------------------- */

/* Packs are written in version 2; version 1 is read too. */
#define DOS_PACK_VERSION 2
#define DOS_PACK_HEADER_SIZE 16
/* The largest entry header of any version (a format-1 one). */
#define DOS_ENTRY_HEADER_MAX 64
/* Bytes of the id a format-2 entry holds: reads check that many. */
#define DOS_ENTRY_ID_CHECK 8

/*
 * Entry flags.  A tombstone (no data, raw and stored size 0) records that
 * its id was deleted: rebuilding the index from the packs, in pack number
 * and then offset order, drops the object at every earlier entry of that
 * id, so deleted objects never come back.
 */
enum dos_entry_flags {
	DOS_ENTRY_TOMBSTONE = 1 << 0,
	DOS_ENTRY_GROUP = 1 << 1,
};

/*
 * A group entry (format 2, DOS_ENTRY_GROUP) holds several small objects
 * compressed as one stream, since compressed together they take much less
 * than each alone.  Its header holds no id (id_size 0, oid zeroed): it is
 * never one object, and dos_pack_entry_is() is false for it.  Decoded, it
 * is a table -- a varint count n, n varint member sizes, the first
 * DOS_ENTRY_ID_CHECK id bytes of each member -- then the members' bytes
 * back to back, DOS_GROUP_RAW_MAX bytes at most in all.
 */
#define DOS_GROUP_RAW_MAX (1024 * 1024)
#define DOS_GROUP_MEMBERS_MAX 4096
/* The largest table of n members. */
#define DOS_GROUP_TABLE_MAX(n) (10 + (size_t)(n) * (10 + DOS_ENTRY_ID_CHECK))
/* A group's decoded bytes, parsed (pointers into them). */
struct dos_group {
	const unsigned char *buf;
	size_t len;
	uint32_t members;
	size_t table_size;	/* where the first member's bytes start */
	const unsigned char *sizes;	/* the members' size varints */
	const unsigned char *ids;	/* their id bytes */
};
struct dos_group_member {
	const unsigned char *id;	/* DOS_ENTRY_ID_CHECK bytes */
	const unsigned char *data;
	size_t size;
};
/*
 * Parse the len decoded bytes of a group: DOS_ECORRUPT unless they are one
 * well-formed group (the table fits, and table and members take len
 * bytes exactly).
 */
int dos_group_parse(const void *buf, size_t len, struct dos_group *g);
/* Member number i of a parsed group; DOS_ECORRUPT if it has none such. */
int dos_group_member(const struct dos_group *g, uint32_t i,
    struct dos_group_member *m);
/*
 * The table of a group of n members (1 to DOS_GROUP_MEMBERS_MAX) of these
 * sizes and ids, into buf (DOS_GROUP_TABLE_MAX(n) bytes): its size.
 */
size_t dos_group_encode_table(unsigned char *buf, uint32_t n,
    const size_t *sizes, const struct dos_oid *ids);

/* What the header in front of each pack entry says. */
struct dos_pack_entry {
	struct dos_oid oid;	/* its first id_size bytes; the rest zero */
	enum dos_codec codec;
	unsigned flags;
	unsigned id_size;	/* all of the id, or DOS_ENTRY_ID_CHECK bytes */
	unsigned header_size;	/* bytes in front of the stored bytes */
	uint64_t raw_size;
	uint64_t stored_size;
	uint32_t data_crc;	/* CRC-32 of the stored bytes */
	uint32_t dict;		/* the dictionary it needs (format 2), or 0 */
};
/*
 * Read the group entry pe (its header decoded, at offset of pack, open at
 * fd as dos_store_pack() gives it: -1 for an evicted one) and decode it
 * whole with dec into buf (DOS_GROUP_RAW_MAX bytes),
 * parsed into *g: DOS_ECORRUPT unless its checksum holds, it decodes to
 * exactly its raw size and its table is well formed; DOS_ENODICT if the
 * dictionary it names is missing or damaged; DOS_EIO.
 */
int dos_group_read(struct dos_store *st, uint32_t pack, int fd,
    uint64_t offset, const struct dos_pack_entry *pe,
    struct dos_decompressor *dec, unsigned char *buf, struct dos_group *g);
/*
 * The header of e in the version this build writes, in buf (at least
 * DOS_ENTRY_HEADER_MAX bytes): its size.  e->id_size and header_size are
 * not read.  A wide header has room for any sizes: one written before
 * they are known takes dos_pack_wide_header_size(codec) bytes, whatever
 * they turn out to be.
 */
size_t dos_pack_encode_entry(unsigned char *buf, const struct dos_pack_entry *e,
    int wide);
unsigned dos_pack_wide_header_size(enum dos_codec codec);
/*
 * The bytes in front of an entry's stored bytes, from what it says, in
 * the usual (not wide) header.
 */
unsigned dos_pack_header_size(unsigned version, enum dos_codec codec,
    unsigned flags, uint64_t raw_size, uint64_t stored_size);
/*
 * Little-endian integers, as packs, dictionary files, the index journal
 * and the per-pack indexes of remotes hold them (inline: files of any
 * layer use them).
 */
static inline void
dos_put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t
dos_get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline void
dos_put_le64(unsigned char *p, uint64_t v)
{
	dos_put_le32(p, (uint32_t)v);
	dos_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t
dos_get_le64(const unsigned char *p)
{
	return dos_get_le32(p) | (uint64_t)dos_get_le32(p + 4) << 32;
}
/* Storage order: by pack, then offset (inline: listings and reads sort so). */
static inline int
dos_cmp_place(uint32_t pack_a, uint64_t offset_a, uint32_t pack_b,
    uint64_t offset_b)
{
	if (pack_a != pack_b)
		return pack_a < pack_b ? -1 : 1;
	if (offset_a != offset_b)
		return offset_a < offset_b ? -1 : 1;
	return 0;
}
/* The DOS_PACK_HEADER_SIZE bytes a pack of this version starts with. */
void dos_pack_encode_header(unsigned char *hdr);
/*
 * DOS_ECORRUPT unless buf[0..len) starts with a well-formed entry header
 * of this pack version.
 */
int dos_pack_decode_entry(unsigned version, const unsigned char *buf,
    size_t len, struct dos_pack_entry *e);
/* Whether what the entry holds of its id is oid's (never for a group). */
int dos_pack_entry_is(const struct dos_pack_entry *e, const struct dos_oid *oid);
/*
 * The whole id (*oid) and index record (*e) of the entry pe at offset of
 * pack, if the index locates it there (else DOS_ENOTFOUND: the entry is
 * dead): how those who walk packs learn the ids format 2 holds only the
 * start of.
 */
int dos_pack_entry_id(struct dos_index *ix, uint32_t pack, uint64_t offset,
    const struct dos_pack_entry *pe, struct dos_oid *oid,
    struct dos_index_entry *e);
/* The same for member m, number i, of the group entry at that place. */
int dos_pack_member_id(struct dos_index *ix, uint32_t pack, uint64_t offset,
    const struct dos_group_member *m, uint32_t i, struct dos_oid *oid,
    struct dos_index_entry *e);
/* 0 if fd starts with a dos pack header of the version written now. */
int dos_pack_check_header(int fd);
/*
 * Seal a whole pack: record in its header that every entry was compressed
 * with codec at level (or harder), by a writer that no longer appends to
 * it, so that a repack that would compress no harder leaves it alone.
 */
int dos_pack_seal(int fd, enum dos_codec codec, int level);
/*
 * 1 and the codec and level of a sealed pack; 0 if it is not sealed, or
 * its header cannot be read (a repack then rewrites it, as it would).
 */
int dos_pack_sealed(int fd, enum dos_codec *codec, int *level);
/* 0 and *version if fd starts with a pack header of a version read. */
int dos_pack_header_version(int fd, unsigned *version);
/* The pack numbers in packs/, ascending; *packs is malloc'ed. */
int dos_pack_list(struct dos_store *st, uint32_t **packs, size_t *nr);
int dos_pack_open(struct dos_store *st, uint32_t pack);
/*
 * A read-only descriptor of packs/<pack>, kept open by the store
 * (DOS_ENOTFOUND for a pack evicted to a remote).
 */
int dos_store_pack_fd(struct dos_store *st, uint32_t pack, int *fd);
/*
 * That, and the version its entries are in (DOS_ECORRUPT: unknown); for
 * an evicted pack, *fd is -1 and dos_store_pack_pread reads its remote.
 */
int dos_store_pack(struct dos_store *st, uint32_t pack, int *fd,
    unsigned *version);
/* pread(2) of such a pack; < 0 a DOS_E code. */
ssize_t dos_store_pack_pread(struct dos_store *st, uint32_t pack, int fd,
    void *buf, size_t len, uint64_t off);

/*
 * A scan of a pack's entries front to back, reading them a window at a
 * time into the caller's buf[0..size) (at least DOS_ENTRY_HEADER_MAX
 * bytes; DOS_PACK_SCAN_WINDOW is a good size), which holds whole entries
 * unless one is larger.  Entries start after the pack header and must end
 * by limit; bytes that are no entry end the scan, as a torn tail when
 * they start at or past the committed length (what a killed writer
 * leaves), else as damage, as does a pack that ends before its committed
 * length.  The entries are read in the version the pack header says (if
 * damaged, the one its first entry looks like).
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
	unsigned version;	/* of the pack's entries; 0 until known */
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
/*
 * Whether the stored bytes of the entry just found match its checksum.
 * A scan checks a format-2 header only for its form: one that the index
 * does not locate (dead, by the look of it) may be one whose id or sizes
 * were damaged, and must pass this before it is taken for dead.
 */
int dos_pack_scan_entry_ok(const struct dos_pack_scan *s);
/*
 * After bytes that are no entry: the first offset from from on in the
 * window where an entry that checks out starts (its header checksum in
 * format 1, its whole checksum in format 2), or where the window ends too
 * soon to tell; the window's end if none.
 */
uint64_t dos_pack_scan_find(const struct dos_pack_scan *s, uint64_t from);

/* ---- lib/dict.c: zstd dictionaries for small objects ------------------ */

/* Objects of at most this many bytes are sampled and use dictionaries. */
#define DOS_DICT_OBJECT_MAX (8 * 1024)
/*
 * The zstd level of gc --aggressive (why 12: cmd/gc.c); a writer at it or
 * above compresses against a dictionary as lib/dict.c says.
 */
#define DOS_AGGRESSIVE_LEVEL 12
/* What DOS_ENODICT means: which dictionary, and what is wrong with it. */
const char *dos_dict_last_error(void);
/* The checked bytes of dicts/<number>, malloc'ed; DOS_ENODICT if bad. */
int dos_dict_read(struct dos_store *st, uint32_t number, unsigned char **buf,
    size_t *len);
/*
 * Make dicts/<number> of the dictionary bytes, durably, under the pack
 * lock: before any entry names it.
 */
int dos_dict_write(struct dos_store *st, uint32_t number, const void *dict,
    size_t len);
/* The dictionaries in dicts/, ascending; *list is malloc'ed. */
int dos_dict_list(struct dos_store *st, uint32_t **list, size_t *nr);
/* dicts/<number> loaded for decoding, once per store. */
int dos_store_dict(struct dos_store *st, uint32_t number,
    const struct dos_dict **out);
void dos_store_dicts_release(struct dos_store *st);
/*
 * A pack writer's dictionary: the container's newest, or, when it has
 * none, one trained from a sample of what it packs.  Threads that encode
 * offer objects and compress with the current one; the one whose offer
 * completes the sample trains it, and makes it current once it is
 * durable.
 */
int dos_dicts_open(struct dos_store *st, int level, struct dos_dicts **out);
void dos_dicts_close(struct dos_dicts *d);
const struct dos_dict *dos_dicts_current(struct dos_dicts *d);
void dos_dicts_offer(struct dos_dicts *d, const void *raw, size_t len);
/*
 * The most a writer compresses against a dictionary in one call: a small
 * object, or a group of them (lib/pack-write.c makes none larger).
 */
#define DOS_DICT_INPUT_MAX (32 * 1024)
/*
 * src (at most DOS_DICT_INPUT_MAX bytes) compressed into dst by cc (a
 * ZSTD_CCtx) against dict, and with its cdict_fast also into *spare
 * (malloc'ed on first use, the caller frees it), the smaller kept.
 */
int dos_dict_compress(const struct dos_dict *dict, void *cc, void *dst,
    size_t dst_len, const void *src, size_t len, void **spare, size_t *out);
/*
 * Why the dictionary trained from the sample could not be stored, or
 * NULL: its objects were compressed without it.  Final once every offer
 * made so far has returned.
 */
const char *dos_dicts_failure(const struct dos_dicts *d);

/* ---- lib/pack-write.c: the pack writer -------------------------------- */

/* After a flush: dos_dicts_failure() of the writer's dictionaries. */
const char *dos_pack_writer_dict_failure(const struct dos_pack_writer *w);

/*
 * Or, instead of dos_pack_writer_begin(), begin an object the caller has
 * encoded already: write then takes its
 * stored bytes (encoded with codec, raw_size bytes once decoded) into the
 * pack as they are, and end records them under expected, which is then
 * required: the caller must have decoded and hashed them itself.
 */
int dos_pack_writer_begin_encoded(struct dos_pack_writer *w,
    enum dos_codec codec, uint64_t raw_size);
/*
 * Append oid's entry of raw_size bytes, stored as len bytes encoded with
 * codec (data_crc their CRC-32), once they are checked to be oid's
 * (dos_stored_check), by the writer's threads if it has some: done() then
 * gets 0, or DOS_ECORRUPT and nothing is stored, by the next flush at the
 * latest; what it returns other than 0 is the writer's error.  Not
 * deduplicated: ask dos_pack_writer_has() first.
 */
typedef int dos_checked_fn(void *data, const struct dos_oid *oid, int rc);
int dos_pack_writer_add_checked(struct dos_pack_writer *w,
    const struct dos_oid *oid, enum dos_codec codec, uint64_t raw_size,
    const void *stored, size_t len, uint32_t data_crc, dos_checked_fn *done,
    void *data);
/*
 * 1 if oid is stored (with DOS_PACK_ADD_DEDUP_LOOSE in flags, loose too)
 * or in the batch, 0 if not, or a DOS_E* code: the check an add makes
 * unless DOS_PACK_ADD_NO_DEDUP, for a caller that looks before it reads.
 */
int dos_pack_writer_has(struct dos_pack_writer *w, const struct dos_oid *oid,
    unsigned flags);
/* Record that oid is deleted; the flush drops its index record. */
int dos_pack_writer_add_tombstone(struct dos_pack_writer *w,
    const struct dos_oid *oid);
/*
 * Encode an object of len raw bytes (at most 1 MiB) as a whole pack entry,
 * header first, into out, compressing it with c as a writer in mode
 * would; out_size must be DOS_ENTRY_HEADER_MAX + dos_codec_bound() of
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
 * caller, which vouches for its data and that it is oid's; deduplicated
 * as end does.
 */
int dos_pack_writer_add_entry(struct dos_pack_writer *w,
    const struct dos_oid *oid, const void *entry, size_t len, unsigned flags,
    int *existed);
/*
 * Copy the entry pe at offset of the pack open on fd as it is stored
 * (no recompression, but with a header of the version written now),
 * checking its data checksum on the way.  pe->oid must be the whole id,
 * which a format-2 entry does not hold: see dos_pack_entry_is().
 */
int dos_pack_writer_copy_entry(struct dos_pack_writer *w, int fd,
    uint64_t offset, const struct dos_pack_entry *pe);
uint32_t dos_pack_writer_pack(const struct dos_pack_writer *w);
/*
 * From now on put small objects into group entries, as a writer at
 * DOS_AGGRESSIVE_LEVEL does from the start (a repack of packs that hold
 * groups keeps their objects grouped, at the writer's level); nothing
 * if the container's codec, the writer's mode or the index cannot have
 * groups.
 */
int dos_pack_writer_group_small(struct dos_pack_writer *w);

/*
 * A writer that adds many objects to a large index (dos migrate): from
 * defer on, each batch's records go to the journal (lib/journal.c), and
 * its flushes commit the pack length alone; load_journal flushes, puts
 * the journal into the index in id order and stops deferring.  Until
 * then the objects are in the packs but not found; a writer killed
 * before leaves the journal to the next one.  No tombstones meanwhile.
 */
int dos_pack_writer_defer(struct dos_pack_writer *w);
int dos_pack_writer_load_journal(struct dos_pack_writer *w);

/*
 * A flush in two halves, for a caller that goes on adding objects while a
 * batch is committed: begin writes the batch out and seals it, and a
 * thread makes it durable and commits its records; end waits for that
 * thread and returns what dos_pack_writer_flush() would have.  Objects
 * added in between form the next batch, and are deduplicated against the
 * sealed one too.  Every other call that flushes ends the sealed batch
 * first; close waits for it.  After a sealed batch failed, the writer
 * only returns that failure: its entries are a torn tail.
 */
int dos_pack_writer_flush_begin(struct dos_pack_writer *w);
int dos_pack_writer_flush_end(struct dos_pack_writer *w);

/* ---- lib/object.c: finding and reading objects ------------------------ */

/* The fields but oid of the object the index entry e locates in a pack. */
void dos_object_info_set_packed(struct dos_object_info *info,
    const struct dos_index_entry *e);

/*
 * Opaque to other programs, which get theirs from dos_reader_new(); lib/
 * and the dos programs keep theirs where they like, from dos_reader_open()
 * to dos_reader_close().
 */
struct dos_reader {
	struct dos_object_info info;
	int fd;			/* loose file, or the store's pack fd */
	uint64_t remaining;	/* raw bytes still to hand out */
	unsigned flags;
	struct dos_hasher hasher;
	/* Packed objects: the stored bytes and their checksum. */
	struct dos_store *st;
	uint64_t pos, stored_size, stored_left;
	uint32_t crc, want_crc;
	unsigned char *in;	/* stored bytes read ahead, for decoding */
	size_t in_pos, in_len;
	struct dos_decompressor *dec;	/* its own, once it decodes */
	const struct dos_dict *dict;	/* the one its stored bytes need */
};
int dos_reader_open(struct dos_store *st, const struct dos_oid *oid,
    unsigned flags, struct dos_reader *r);
/*
 * As dos_reader_open(), for an object as dos_for_each_object() listed it:
 * a packed one is read where the listing placed it, without looking it up
 * (unless it has moved since).
 */
int dos_reader_open_listed(struct dos_store *st,
    const struct dos_object_info *info, unsigned flags, struct dos_reader *r);
void dos_reader_close(struct dos_reader *r);
/* What of its pack an open of the packed object info reads first. */
struct dos_pack_range;
void dos_reader_first_range(const struct dos_object_info *info,
    struct dos_pack_range *r);
/*
 * Or read the object as it is stored, for a copy that keeps its
 * encoding: a packed copy's stored bytes (dos_reader_stored_size() of
 * them, encoded with r->info.codec), checked against the entry's
 * checksum at their end (DOS_ECORRUPT), but neither decoded nor hashed;
 * a loose copy's raw bytes, as dos_reader_read() gives them.  A reader
 * is read one way or the other, not both.
 */
ssize_t dos_reader_read_stored(struct dos_reader *r, void *buf, size_t len);
uint64_t dos_reader_stored_size(const struct dos_reader *r);
/*
 * How those bytes are encoded.  Stored bytes that need a dictionary of
 * the container are given decoded (DOS_CODEC_NONE), so that a copy is
 * whole without it.
 */
enum dos_codec dos_reader_stored_codec(const struct dos_reader *r);

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
/*
 * Queue a request for an object as dos_for_each_object() listed it, by
 * its id: answered with the listed info, its contents read where the
 * listing placed them, with no lookup.
 */
int dos_batch_add_listed(struct dos_batch *b, const struct dos_object_info *info,
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

/* ---- lib/tree.c: directory trees in and out ------------------------- */

/* What dos_tree_walk() found at a path. */
enum dos_tree_kind {
	DOS_TREE_FILE,		/* a regular file */
	DOS_TREE_OTHER,		/* a symbolic link, device, FIFO or socket */
	DOS_TREE_UNREADABLE,	/* it could not be read: errno says why */
};
/*
 * Called with each path (root joined to the path below it with '/') and,
 * for a DOS_TREE_FILE, the file open for reading on fd (else -1), which
 * is closed when fn returns; a non-zero return stops the walk and is
 * returned.
 */
typedef int dos_tree_fn(const char *path, int fd, enum dos_tree_kind kind,
    void *data);
/*
 * Everything but directories below root, depth first, each directory in
 * byte order of names, never through a symbolic link (root itself is
 * followed); root is handed to fn itself if it is no directory.
 */
int dos_tree_walk(const char *root, dos_tree_fn *fn, void *data);

/*
 * Files written below a directory, at relative paths that cannot lead
 * out of it: an absolute path, or one with a ".." component or without a
 * file name, is DOS_EINVAL; a symbolic link in the way fails with ELOOP,
 * a file in the way of a directory with ENOTDIR (DOS_EIO).  Directories
 * are created as needed.  A file is written without a name (O_TMPFILE;
 * where the file system has none, under a temporary name beside its own)
 * and given its name by dos_restore_end() once whole: DOS_EEXIST if
 * something is there already, unless DOS_RESTORE_FORCE, which replaces
 * it (not a directory).
 */
enum dos_restore_flags {
	DOS_RESTORE_FORCE = 1 << 0,
};
struct dos_restore;
/* Create dir if need be (mkdir -p) and start restoring into it. */
int dos_restore_open(const char *dir, unsigned flags, struct dos_restore **r);
int dos_restore_begin(struct dos_restore *r, const char *path);
int dos_restore_write(struct dos_restore *r, const void *buf, size_t len);
int dos_restore_end(struct dos_restore *r);
/* Drop the file begun and not ended. */
void dos_restore_abort(struct dos_restore *r);
/*
 * Free r.  What was restored is not synced: like tar(1), the caller
 * leaves that to the system, or to sync(1).
 */
void dos_restore_close(struct dos_restore *r);

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
	/*
	 * Its place in the order the source is read in, from 0: the same
	 * in every run while the source is unchanged, so a resumed run can
	 * tell which objects an interrupted one finished.
	 */
	uint64_t seq;
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
 * Change setting s of the container to its value in *value, under
 * packs/lock (so that two changes never run at once and none lands in a
 * pack writer's session), atomically and durably (dos_config_set).
 */
int dos_store_set_config(struct dos_store *st, const struct dos_setting *s,
    const struct dos_config *value);

/*
 * Cold data compressed harder (dos gc --aggressive, dos repack
 * --compress=CODEC:LEVEL), by a writer opened while st->cfg names that
 * codec and level instead of the container's own: dos_repack() in
 * DOS_COMPRESS_AUTO mode, except that packs sealed with that codec at
 * that level or a higher one are only moved past threshold, as stored.
 * Then dos_seal_packs() from what dos_seal_first() said before.
 */
int dos_repack_harder(struct dos_store *st, struct dos_pack_writer *w,
    unsigned threshold, const struct dos_maint *m,
    struct dos_repack_stats *stats);
/*
 * The first pack that only w will have filled: its pack if still empty,
 * else the next one.
 */
uint32_t dos_seal_first(struct dos_store *st, struct dos_pack_writer *w);
/*
 * Move w to a fresh pack, for later writers to append to, then seal
 * (dos_pack_seal, with st->cfg's codec and level) the packs w filled
 * from first on, which nothing appends to any more.
 */
int dos_seal_packs(struct dos_store *st, struct dos_pack_writer *w,
    uint32_t first);

/* ---- lib/backup.c: consistent copies of a live container ------------- */

struct dos_backup_stats {
	uint64_t objects;		/* loose objects copied or linked */
	uint64_t packs;			/* packs copied or linked */
	uint64_t files_copied, bytes_copied;
	uint64_t files_linked, bytes_linked;	/* from the previous backup */
	/* Called, if set, after each file copied or linked. */
	void (*progress)(const struct dos_backup_stats *s, void *data);
	void *progress_data;
};
/*
 * Back the container up into a new directory below dest (made if need
 * be), named by the UTC time, YYYYMMDDTHHMMSSZ, while other processes go
 * on using the container; its path goes into made.  Files unchanged since
 * the newest backup in dest are hard-linked to it, or with
 * DOS_BACKUP_STAGE to the container's own files (a staging copy, on the
 * container's file system, for a transfer elsewhere).  Then only the
 * newest keep backups stay (0: all).  DOS_EBUSY: another backup into dest
 * is running.  The counts of stats start at 0; its progress is the
 * caller's.
 */
#define DOS_BACKUP_STAGE 1
int dos_backup(struct dos_store *st, const char *dest, unsigned flags,
    unsigned keep, char *made, size_t size, struct dos_backup_stats *stats);

/* ---- lib/s3.c: a client of S3-compatible object storage -------------- */

struct dos_s3;
struct dos_s3_params {
	const char *endpoint;	/* NULL: $AWS_ENDPOINT_URL, else AWS's */
	const char *region;	/* NULL: $AWS_REGION, else us-east-1 */
	const char *bucket;
	const char *prefix;	/* of every key; "" for none */
	int allow_http;		/* plain http to other machines than this */
};
/*
 * A client for the bucket, with the credentials of the environment or the
 * AWS credentials file.  Failures (DOS_EREMOTE, DOS_ENOTFOUND for a 404)
 * leave a message naming the endpoint, the key and the HTTP status in
 * dos_s3_last_error() (of the calling thread), which dos_strerror gives.
 */
int dos_s3_open(const struct dos_s3_params *p, struct dos_s3 **s3);
void dos_s3_close(struct dos_s3 *s3);
const char *dos_s3_last_error(void);
void dos_s3_set_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
const char *dos_s3_endpoint(const struct dos_s3 *s3);
/* DOS_EINVAL (and the message why) for an endpoint that is not allowed. */
int dos_s3_check_endpoint(const char *endpoint, int allow_http);
/*
 * Upload the first len bytes of fd as key, sending their SHA-256 (into
 * sha256, in hex), which the server checks, and storing it with the
 * object for dos_s3_head.
 */
int dos_s3_put(struct dos_s3 *s3, const char *key, int fd, uint64_t len,
    char sha256[DOS_HEXSZ + 1]);
/* Bytes [off, off + len) of key into buf; *got says how many came. */
int dos_s3_get(struct dos_s3 *s3, const char *key, uint64_t off, size_t len,
    void *buf, size_t *got);
/*
 * As dos_s3_get, the bytes handed to fn as they arrive, at their position
 * from off: a retried GET hands them again from position 0.
 */
typedef void dos_s3_body_fn(void *data, size_t pos, const void *buf,
    size_t len);
int dos_s3_get_each(struct dos_s3 *s3, const char *key, uint64_t off,
    size_t len, dos_s3_body_fn *fn, void *data, size_t *got);
/* All of key into fd (truncated first). */
int dos_s3_get_fd(struct dos_s3 *s3, const char *key, int fd);
/* The SHA-256 of len bytes of fd from off, in hex, as a PUT sends it. */
int dos_sha256_range(int fd, uint64_t off, uint64_t len,
    char hex[DOS_HEXSZ + 1]);
/* The size of key, and the SHA-256 dos_s3_put stored ("" if none). */
int dos_s3_head(struct dos_s3 *s3, const char *key, uint64_t *size,
    char sha256[DOS_HEXSZ + 1]);
/* Each key that starts with under (below the prefix), with its size. */
typedef int dos_s3_list_fn(const char *key, uint64_t size, void *data);
int dos_s3_list(struct dos_s3 *s3, const char *under, dos_s3_list_fn *fn,
    void *data);

/* ---- lib/remote-cache.c: blocks of evicted packs, kept on disk ------- */

/*
 * Reads of evicted packs fetch whole blocks of this size (at multiples
 * of it) and keep them in remote-cache/, at most the bound's bytes, the
 * least recently used evicted first (see remote-cache.c).
 */
#define DOS_REMOTE_CACHE_BLOCK (256 << 10)
/* The bound for a container on dirfd's file system that sets none. */
int dos_remote_cache_default(int dirfd, uint64_t *bound);
/* Use bound (0: no cache) instead of config.json's remote_cache_size. */
int dos_remote_cache_set_bound(struct dos_store *st, uint64_t bound);
/* Whether reads of st keep blocks: its bound is not 0. */
int dos_remote_cache_on(struct dos_store *st);
/*
 * Block number block of the pack of SHA-256 sha256, len bytes long (less
 * than DOS_REMOTE_CACHE_BLOCK for its last): 1 and its bytes in buf when
 * it is there, whole and as it was put; 0 when not (a damaged file goes).
 */
int dos_remote_cache_get(struct dos_store *st, const char *sha256,
    uint64_t block, unsigned char *buf, size_t len);
/* Keep a block fetched, evicting others to stay within the bound. */
int dos_remote_cache_put(struct dos_store *st, const char *sha256,
    uint64_t block, const unsigned char *buf, size_t len);
/* The bytes of the blocks remote-cache/ holds, for dos count-objects. */
int dos_remote_cache_usage(struct dos_store *st, uint64_t *bytes);
void dos_remote_cache_close(struct dos_store *st);

/* ---- lib/remote-read.c: remotes, and reading evicted packs ---------- */

struct dos_remote {
	char name[64];
	char url[1024];		/* s3://BUCKET[/PREFIX] */
	char bucket[64], prefix[900];
	char endpoint[512];	/* "": the environment's, or AWS's */
	char region[64];	/* "": the environment's, or us-east-1 */
	int allow_http;
};
/* What remotes/<name>/<n> says of pack n (see remote.c). */
struct dos_remote_record {
	uint64_t length;
	char sha256[DOS_HEXSZ + 1];
	unsigned version;	/* of its entries */
};
/*
 * A remote of a store (st->remote_conns), connected on first use, with
 * what its last read of an evicted pack read, and the window of one it
 * read ahead (remote-read.c).
 */
#define DOS_REMOTE_FETCHERS 4	/* GETs in flight at once (remote-read.c) */
struct dos_remote_conn {
	struct dos_remote remote;
	struct dos_s3 *s3;
	uint32_t last_pack;
	uint64_t last_off, last_end;
	unsigned char *win;	/* NULL until a read needs it */
	uint32_t win_pack;
	uint64_t win_off;
	size_t win_len;
	/* The record of the pack last found here: one file read per pack. */
	int rec_known;
	uint32_t rec_pack;
	struct dos_remote_record rec;
	/*
	 * The ranges dos_remote_prefetch() fetched, kept for the reads that
	 * follow, and the connections of its threads (each its own).
	 */
	struct dos_s3 *fetch_s3[DOS_REMOTE_FETCHERS];
	struct dos_fetch_range *ranges;
	size_t ranges_nr;
	struct dos_fetch_get *gets;
	size_t gets_nr;
	unsigned char *arena;
	struct dos_fetch_run *run;	/* its threads, until dropped */
};
/* Letters, digits, '.', '_' and '-', not first a '.'. */
int dos_remote_name_ok(const char *name);
/* Check url, s3://BUCKET[/PREFIX], into r's url, bucket and prefix. */
int dos_remote_parse_url(const char *url, struct dos_remote *r);
/* A copy of config.json's remotes member ({} if none), or NULL and *rc. */
struct json_t *dos_remotes_json(int dirfd, int *rc);
typedef int dos_remote_fn(const struct dos_remote *r, void *data);
int dos_remote_each(struct dos_store *st, dos_remote_fn *fn, void *data);
int dos_remote_connect(const struct dos_remote *r, struct dos_s3 **s3);
/* remotes/<remote>/<pack>; DOS_ENOTFOUND if there is none. */
int dos_remote_read_record(struct dos_store *st, const char *remote,
    uint32_t pack, struct dos_remote_record *rec);
/* The entries' version of an evicted pack; DOS_ENOTFOUND if none. */
int dos_remote_pack_version(struct dos_store *st, uint32_t pack,
    unsigned *version);
/* The record of pack on the first remote that has one (DOS_ENOTFOUND). */
int dos_remote_pack_record(struct dos_store *st, uint32_t pack,
    struct dos_remote_record *rec);
/* pread(2) of an evicted pack, from its remote; < 0 a DOS_E code. */
ssize_t dos_remote_pread(struct dos_store *st, uint32_t pack, void *buf,
    size_t len, uint64_t off);
/* Bytes [off, off + len) of a pack. */
struct dos_pack_range {
	uint32_t pack;
	uint64_t off;
	size_t len;
};
/*
 * Fetch the ranges r[0..n) of evicted packs at once, for the reads of
 * them that follow (dos_remote_pread) to find them, until
 * dos_remote_prefetch_drop(): the fetches run in parallel, neighbours
 * merged.  A fetch that fails is reported by the reads of its ranges.
 */
int dos_remote_prefetch(struct dos_store *st, const struct dos_pack_range *r,
    size_t n);
void dos_remote_prefetch_drop(struct dos_store *st);
/* Whether the container has a remote (config.json), for reads to plan. */
int dos_remote_any(struct dos_store *st);

/* ---- lib/remote.c: pushing packs to a remote, evicting, cloning ------- */

/* In config.json; DOS_EEXIST if the name is taken, DOS_EINVAL if bad. */
int dos_remote_add(struct dos_store *st, const struct dos_remote *r);
/* DOS_EBUSY while packs evicted to it are nowhere else. */
int dos_remote_remove(struct dos_store *st, const char *name);
/* Remote name, or with name NULL the only one (DOS_EAMBIGUOUS if not). */
int dos_remote_find(struct dos_store *st, const char *name,
    struct dos_remote *r);
/*
 * The packs remotes/<remote>/ records, packs/ no longer has and the index
 * still has a length for (evicted), of every remote if remote is NULL,
 * ascending and each once, into *packs (malloc'ed).
 */
int dos_remote_evicted(struct dos_store *st, const char *remote,
    uint32_t **packs, size_t *nr);

/* Progress of push, clone and fetch: done of total in phase. */
typedef void dos_remote_progress_fn(const char *phase, uint64_t done,
    uint64_t total, void *data);
struct dos_push_stats {
	uint64_t sealed;	/* packs that can be pushed */
	uint64_t packs, bytes;	/* pushed now */
};
/*
 * Upload each sealed pack the remote lacks, with its index, and record it
 * as there once the server confirmed them (see remote.c).
 */
int dos_remote_push(struct dos_store *st, const struct dos_remote *r,
    dos_remote_progress_fn *progress, void *data,
    struct dos_push_stats *stats);
struct dos_evict_stats {
	uint64_t evicted, bytes;
	uint64_t kept;		/* sealed packs not (yet) on the remote */
};
/* Delete the local copies of the packs on r that a HEAD confirms. */
int dos_remote_evict(struct dos_store *st, const struct dos_remote *r,
    struct dos_evict_stats *stats);
struct dos_clone_stats {
	uint64_t packs, bytes, objects;
	int done_before;	/* a clone run again after it was whole */
};
/*
 * Fill the new, empty container st from remote r (added to it): its
 * index from the remote's pack indexes, each pack recorded as held by r
 * and read from there, the container's own packs numbered after them.
 * Run again on a container that has r already, it does what a killed
 * run left undone.
 */
int dos_remote_clone(struct dos_store *st, const struct dos_remote *r,
    dos_remote_progress_fn *progress, void *data,
    struct dos_clone_stats *stats);
struct dos_fetch_stats {
	uint64_t packs, bytes;
};
/*
 * Download each pack evicted to r back into packs/, checked against its
 * record; the record stays (the pack is still on r).
 */
int dos_remote_fetch(struct dos_store *st, const struct dos_remote *r,
    dos_remote_progress_fn *progress, void *data,
    struct dos_fetch_stats *stats);

#endif
