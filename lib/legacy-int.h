/*
 * legacy-int.h: what the files of the legacy reader share, and only they
 * include: the state of an open legacy container (struct dos_legacy),
 * the verifying of one copy, and the functions one file of the reader
 * calls in another.  The commands see only the dos_legacy_* functions of
 * dos.h.
 *
 *   legacy.c          the container: config.json, the SQLite index (read
 *                     from a private copy), duplicates/, loose/, the key
 *                     list
 *   legacy-copy.c     verifying one copy: decoding, size and hash
 *   legacy-migrate.c  the migration: queueing copies for the worker
 *                     threads, streaming large ones, writing what is
 *                     verified, falling back to other copies
 */
#ifndef DOS_LEGACY_INT_H
#define DOS_LEGACY_INT_H

#include <sys/stat.h>

#include <openssl/evp.h>
#include <sqlite3.h>
#include <zlib.h>
#include <zstd.h>

#include "dos.h"

#define IO_BUF_SIZE (1 << 20)
/*
 * Copies whose stored and raw sizes are both at most this are verified
 * and encoded by the worker threads, in memory; larger ones are streamed
 * through fixed buffers by the calling thread.
 */
#define SMALL_MAX (1 << 20)

/* The columns of an index row that migrate_row reads. */
#define ROW_COLUMNS "SELECT hashkey, pack_id, compressed, size, \"offset\", " \
	"length"

/* What verifying copies needs; one for each thread. */
struct verifier {
	const EVP_MD *md;		/* the key's hash, sha256 or sha1 */
	EVP_MD_CTX *key_md;
	struct dos_hasher id_md;	/* sha1 sources: the SHA-256 id */
	z_stream zs;
	int zs_ready;
	ZSTD_DCtx *zd;
	struct dos_compressor comp;	/* workers: encoding entries */
	unsigned char *buf;		/* decoded bytes, SMALL_MAX + 1 */
};

struct dos_legacy {
	int dirfd, loosefd, packsfd, dupfd;	/* -1 when absent */
	struct dos_legacy_config cfg;
	char *tmpdir;			/* private copy of the index */
	int tmpfd;			/* tmpdir, locked while it is used */
	sqlite3 *db;			/* NULL: the container has no index */
	int rowids;			/* db_object's rowid is its id column */
	sqlite3_stmt *lookup;		/* is a key indexed? */
	char **dups;			/* names in duplicates/, sorted */
	size_t ndups, dups_tried, loose_tried, loose_indexed;
	/* Fetched once: an implicit fetch takes a lock every time. */
	EVP_MD *md;
	struct verifier v;		/* the calling thread's */
	unsigned char *inbuf;
	int64_t pack_id;		/* the pack packfd reads */
	int packfd, pack_errno;		/* -1 and why if it cannot be read */
};

/*
 * Outcomes of a copy besides 0 (good) and DOS_E* codes: it is bad, there
 * is no such copy, or its stored bytes turned out not to be keepable
 * (several zstd frames) and it has to be read again and decoded.
 */
#define COPY_BAD 1
#define COPY_NONE 2
#define COPY_AGAIN 3

/* A copy being verified: its decoded bytes are counted and hashed. */
struct copy {
	struct verifier *v;
	uint64_t count;
	uint64_t expect_size;		/* recorded by the index, or of the file */
	enum dos_codec codec;		/* of the stored bytes */
	int done;			/* the compressed stream has ended */
	int multi_frame;		/* a zstd frame followed another */
	int in_memory;			/* decoded bytes accumulate in v->buf */
	struct dos_pack_writer *w;	/* decoded bytes also go here */
	enum dos_legacy_problem problem;
	int sys_errno;
};

/* ---- lib/legacy.c */

int valid_key(const struct dos_legacy *lg, const char *key, size_t len);
int open_regular(int dirfd, const char *name, struct stat *sb);
int is_indexed(struct dos_legacy *lg, const char *key);
void close_fd(int fd);
typedef int loose_key_fn(struct dos_legacy *lg, const char *key, void *arg);
int walk_loose(struct dos_legacy *lg, loose_key_fn *fn, void *arg);

/* ---- lib/legacy-copy.c */

int verifier_init(struct verifier *v, const struct dos_legacy *lg);
void verifier_release(struct verifier *v);
int copy_bad(struct copy *c, enum dos_legacy_problem problem);
int copy_begin(struct copy *c, struct verifier *v, int compressed,
    const unsigned char *head, size_t n, uint64_t expect_size);
int copy_feed(struct copy *c, const unsigned char *in, size_t len);
int copy_end(struct copy *c, const char *key, struct dos_oid *oid);
int keepable(enum dos_codec codec, uint64_t raw, uint64_t stored);

#endif
