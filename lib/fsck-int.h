/*
 * fsck-int.h: what the files of dos fsck share, and only they include:
 * the state of one check (struct fsck), the findings it makes, what it
 * collects about entries, records and loose files, and the functions one
 * file of the check calls in another.  The commands see only dos_fsck()
 * in dos.h.
 *
 *   fsck.c         findings, their order and report, one whole check
 *   fsck-verify.c  verifying stored bytes (the worker threads)
 *   fsck-scan.c    reading the index, the loose area and the packs
 *   fsck-cross.c   the cross-check of entries, records and loose files
 *   fsck-repair.c  repair
 *   fsck-remote.c  the packs evicted to remotes
 */
#ifndef DOS_FSCK_INT_H
#define DOS_FSCK_INT_H

#include <pthread.h>

#include "dos.h"

#define CHUNK_SIZE (2U << 20)	/* bytes of pack read in one go */

/* ---- findings ---- */

enum kind {
	K_BAD_LAYOUT,
	K_MISSING_INDEX,
	K_INDEX_ERROR,
	K_NO_PACK_LENGTH,
	K_MISSING_PACK,
	K_TRUNCATED_PACK,
	K_BAD_PACK_HEADER,
	K_BAD_DICT,
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
	K_MISSING_DICT,
	K_BAD_RECORD,
	K_UNINDEXED,
	K_LOST,
	K_JOURNAL,
	K_REMOTE_MISSING,
	K_REMOTE_DAMAGED,
	K_REMOTE_CORRUPT,
	K_NR
};

struct finding {
	enum kind kind;
	int has_oid;
	struct dos_oid oid;
	char *path;		/* subject when there is no id */
	uint32_t pack;		/* for ordering: pack and offset */
	uint64_t offset;
	char *detail;
	int notice;		/* a leftover the next writer or gc cleans */
	uint64_t bytes;		/* a notice: the space it holds */
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
	ENT_NO_DICT,		/* its dictionary is missing or damaged */
};

enum corrupt_why {
	WHY_UNDECODABLE,
	WHY_TRUNCATED,
	WHY_TRAILING,
	WHY_TOMBSTONE,
	WHY_GROUP,		/* a group whose table does not add up */
};

/*
 * One entry of a pack.  Of a format-2 entry no record locates, only the
 * start of the id is known (partial) until a worker hashes its bytes.
 * A group entry (DOS_ENTRY_GROUP) is never one object: a worker decodes
 * it into an ent per member (member i + 1, at the group's offset, codec
 * none, stored its share of the group's bytes), and only those are
 * cross-checked.
 */
struct ent {
	struct dos_oid oid;
	uint64_t offset, stored, raw;
	uint64_t actual;	/* ENT_SIZE: decoded size; ENT_IO: errno */
	uint32_t pack, crc;
	uint32_t dict;		/* the dictionary it needs, or 0 */
	uint32_t member;	/* 0, or 1 + its number in its group */
	unsigned char codec, flags, status, why;
	unsigned char header_size, partial;
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
	unsigned version;	/* of its entries, once the scan began */
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
	/* The records into its group entries, by offset and member. */
	struct rec *members;
	size_t members_nr, members_alloc;
};

struct worker;		/* fsck-verify.c */

struct fsck {
	struct dos_store *st;
	const struct dos_fsck_options *o;
	unsigned what;
	int full;

	struct finding *fs;
	size_t fs_nr, fs_alloc;

	/*
	 * What the check collects about every object goes through external
	 * sorts, so that memory does not grow with their number.
	 */
	struct dos_sort *recs;	/* the index, in id order */
	struct dos_sort *by_off;	/* the same by pack and offset, or NULL */
	struct rec off_next;	/* by_off's next record, when off_has */
	int off_has;
	int index_present, index_ok;
	/* Records a pack writer deferred (DOS_JOURNAL), not yet indexed. */
	int journal;
	struct dos_sort *ents;	/* every entry, by id, then pack and offset */
	pthread_mutex_t ents_mu;	/* the workers add to ents under it */
	int ents_rc;		/* the first error adding to ents */
	/* Damaged group entries no record points into (under ents_mu). */
	struct ent *bad_groups;
	size_t bad_groups_nr, bad_groups_alloc;

	struct pack *packs;
	size_t packs_nr;
	uint32_t new_packs_from;	/* above every pack listed */
	/* Packs recorded on remotes that packs/ lacks (fsck-remote.c). */
	uint32_t *evicted;
	size_t evicted_nr;
	int writer_active;

	struct loose *loose;
	size_t loose_nr, loose_alloc;

	/* The job queue and the pool of chunk buffers. */
	pthread_mutex_t mu;
	pthread_cond_t work, freed;
	struct job *head, *tail;
	unsigned char **bufs;
	size_t bufs_free;
	int closing;
	struct worker *workers;
	int nworkers;

	uint64_t bytes_done, bytes_total;
	struct dos_fsck_stats stats;
};

/* Everything known about one id, gathered by the merge. */
struct group {
	const struct dos_oid *oid;
	struct ent *ents;	/* in write order */
	size_t n;
	const struct rec *rec;
	struct loose *loose;
};

/* What merge() calls with each id's group. */
typedef int group_fn(struct fsck *f, struct group *g, void *data);

struct repair {
	struct fsck *f;
	int rebuild;		/* write a fresh index instead of patching */
	struct dos_index *ix;	/* the index being written */
	size_t txn_nr;		/* records in the open transaction */
	/*
	 * Its puts, held to go in at once before it commits: the ids come in
	 * ascending order, so one bulk put fills each compressed run once.
	 */
	struct dos_index_record *puts;
	size_t puts_nr;
	uint64_t records;	/* records a rebuild wrote */
	struct dos_oid_list heal;	/* damaged packed, good loose */
	struct dos_oid_list lost;	/* dropped with no copy left */
	int lockfd;
};

/* ---- lib/fsck.c */

int add_finding(struct fsck *f, enum kind kind, const struct dos_oid *oid,
    const char *path, uint32_t pack, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
int add_notice(struct fsck *f, enum kind kind, const char *path,
    uint32_t pack, uint64_t bytes, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ---- lib/fsck-verify.c */

int start_workers(struct fsck *f, int n);
void stop_workers(struct fsck *f);
void submit(struct fsck *f, struct job *j);
unsigned char *take_buffer(struct fsck *f);
void release_buffer(struct fsck *f, unsigned char *buf);

/* ---- lib/fsck-scan.c */

int load_index(struct fsck *f);
int list_loose(struct fsck *f);
int check_sandbox(struct fsck *f);
int check_journal(struct fsck *f);
int run_loose_jobs(struct fsck *f);
int check_layout(struct fsck *f);
int writer_active(struct fsck *f);
int open_packs(struct fsck *f);
void close_packs(struct fsck *f);
struct pack *find_pack(struct fsck *f, uint32_t num);
int is_unfinished(const struct pack *p);
int scan_pack(struct fsck *f, struct pack *p);
int check_pack_lengths(struct fsck *f);
/* Findings for the dictionaries of dicts/ that are not whole. */
int check_dicts(struct fsck *f);
void drop_unsure_unindexed(struct fsck *f);

/* ---- lib/fsck-remote.c */

int load_evicted(struct fsck *f);
/* Whether pack is one of f->evicted. */
int is_evicted(const struct fsck *f, uint32_t pack);
int check_remote(struct fsck *f);

/* ---- lib/fsck-cross.c */

int cmp_ent(const void *pa, const void *pb);
int cmp_loose(const void *pa, const void *pb);
int merge(struct fsck *f, group_fn *fn, void *data);
int check_group_cb(struct fsck *f, struct group *g, void *data);
size_t live_from(const struct group *g);
int ent_unknown(const struct ent *e);
int ent_good(const struct ent *e);
struct ent *rec_target(const struct group *g);
int rec_matches(const struct ent *t, const struct dos_index_entry *e);
int report_bad_groups(struct fsck *f);

/* ---- lib/fsck-repair.c */

int repair(struct repair *rp);

#endif
