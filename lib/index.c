/*
 * index.c: the Berkeley DB index of packed objects.
 *
 * index/ is a transactional Berkeley DB environment holding two B-trees:
 * objects.db maps a 32-byte object id to where its pack entry is, and
 * packs.db maps a pack number to the length of the pack that committed
 * transactions cover (bytes past it are the torn tail of a killed writer).
 *
 * Every process opens the environment with DB_REGISTER | DB_RECOVER: the
 * first process to open it after another died inside it runs recovery,
 * so a kill -9 at any instant never leaves an environment that needs a
 * person (the failure Subversion's BDB users knew as a "wedged"
 * repository).  Processes still inside it then get DB_RUNRECOVERY; they
 * close their handles, reopen and retry.  A user who cannot write index/
 * (another account, a read-only mount) opens objects.db directly,
 * read-only and without the environment; writers checkpoint after each
 * command, so that file is current whenever no writer is active.
 *
 * Readers register and recover too, though a lookup changes nothing: a
 * process killed inside the environment, reader or writer, can leave a
 * latch or lock of its shared regions held.  Registration is how the
 * next process learns that it died (its lock on its slot of
 * __db.register is gone), and recovery rebuilds the regions without what
 * it held: a reader that did not register would, killed, leave every
 * later process waiting on what it held, and one that did not recover
 * would join regions a dead writer left mid-change.  Readers reserve the
 * regions' blocks too (reserve_regions): they grow the cache as they
 * read, and may be the process that created the regions.  Only the
 * checkpoint at close is a writer's alone.
 *
 * Readers use DB_READ_UNCOMMITTED and never wait for a writer: every
 * record a writer puts points at pack bytes it has already made durable,
 * so an uncommitted record is never a dangling one.  Only an id not found
 * is looked up again, committed (see confirm_absent).
 *
 * Rounds of sorted lookups read objects.db's pages themselves, through
 * Berkeley DB's buffer pool, well under half the cost of a cursor's
 * lookup (see walk_pass).
 *
 * Over 1,300 lines: all of it speaks to Berkeley DB (environment,
 * limits, recovery, the two record formats, its page format), kept
 * behind this API.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <db.h>

#include "dos.h"

/*
 * The cache lives in a region file that reserve_regions backs with disk
 * blocks in full (Berkeley DB maps it at 1.3 times this size, 42 MiB of
 * the 68 reserved).  Random puts fill it, so it counts in full in the
 * memory of dos migrate, which must stay under 128 MiB.  Every lookup
 * reads the tree's internal pages, about 14 MiB at 10^8 objects: the
 * cache holds them with as much again for leaves.  A larger one only
 * helps while the whole index nearly fits (45 MB at 10^6 objects, where
 * 48 MiB made lookups 10% faster in CPU time); at 10^7 no cache of this
 * order holds a tenth of the leaves.
 */
#define INDEX_CACHE_BYTES (32U << 20)
/*
 * The lock table is sized from what one transaction can lock, because
 * running out inside Berkeley DB is not an error it survives.  At 10^7
 * objects a batch of 4,096 records held 5,100 locks against a table of
 * Berkeley DB's default size (1,000 locks, objects and lockers, grown
 * into whatever the region had left): a lock refused in the middle of a
 * page split left the page latched, so the abort that followed
 * deadlocked on it and panicked the environment (reported as a recovery
 * by another process), or a checkpoint waited for the page forever; and
 * once locks had taken the whole region, the next transaction's locker
 * could not be allocated, which Berkeley DB 5.3 does not check (SIGSEGV
 * in __lock_getlocker_int).
 *
 * Berkeley DB write-locks every page a transaction changes until it
 * ends.  A record put or deleted changes its leaf; a full leaf splits,
 * locking the new page, the parent and the right sibling too, and a full
 * parent splits in turn, up to the root: at most 1 + 3 * depth pages a
 * record, plus the metadata page once (for new pages).  With pages at
 * least half full (27 records a leaf, 44 keys an internal page), the
 * tree has at most INDEX_MAX_DEPTH levels above its leaves up to 10^9
 * objects.  So a transaction of DOS_INDEX_TXN_RECORDS records always
 * fits, whatever the index size; measured, records lock 1.25 pages each
 * at 10^7, so a dozen writers' typical transactions fit at once too.
 * Readers hold a few locks per cursor, and lockers (one per handle,
 * cursor and transaction) are allocated when the region is made, so
 * that a transaction never has to find room for one.  The table's
 * memory is mapped, not written: the region file is reserved in full
 * (reserve_regions), and only the locks in use are touched.
 */
#define INDEX_MAX_DEPTH 5
#define LOCKS_PER_RECORD (1 + 3 * INDEX_MAX_DEPTH)
#define READER_LOCKS 4096
#define INDEX_LOCKS (DOS_INDEX_TXN_RECORDS * LOCKS_PER_RECORD + READER_LOCKS)
#define INDEX_LOCKERS 1000
/*
 * Buckets of the lock objects' hash table, written with the region: a
 * batch's 5,000 locks in chains of one or two.
 */
#define INDEX_LOCK_BUCKETS 4096
/* Records: format 1 (32 bytes) or 2 (four varints), see open_objects. */
#define RECORD1_SIZE 32
#define VARINT_MAX 10
#define RECORD_MAX DOS_INDEX_ENTRY_MAX	/* 4 * VARINT_MAX */
/*
 * Berkeley DB's compression stores a run of records as one B-tree item,
 * so the item overhead (16 bytes a record: for key and value, a 3-byte
 * header, padding to 4 and a 2-byte slot) is paid once a run.  A run is
 * rewritten and logged whole on every put or delete of one of its
 * records; it is at most a page over twice the minimum keys a page, 512
 * bytes (the default, 4 KiB, made migrating twice as slow).
 */
#define OBJECTS_PAGE_SIZE (16 * 1024)
#define OBJECTS_MIN_KEYS 16
/* Each log file holds this much (Berkeley DB's default: 10 MiB). */
#define LOG_FILE_BYTES (1024 * 1024)
/* Checkpoint when this much log has been written since the last one. */
#define CHECKPOINT_KBYTES (16 * 1024)
/*
 * A backup checkpoints first when more than this much log came since the
 * last checkpoint: its copy's recovery replays at most this much.
 */
#define BACKUP_CHECKPOINT_KBYTES 256
/* The index's copy leaves out blocks of zeros this long (copy_write). */
#define COPY_BLOCK 4096
#define LOCK_TIMEOUT_USEC 2000000
/* How often expire_locks looks for lock waits past their timeout. */
#define EXPIRY_CHECK_NSEC 250000000L
#define GET_TRIES 3
/* Opens tried while another process recovers, waiting longer each time. */
#define OPEN_TRIES 8
#define OPEN_RETRY_USEC 20000
/* Keys read per cursor visit by dos_index_walk. */
#define WALK_CHUNK 1024
/*
 * Keys read by the first visit of a walk of a prefix: most prefixes
 * (the ids a pack entry starts) name one object, and a visit costs what
 * it reads.
 */
#define PREFIX_CHUNK 4

struct dos_index {
	DB_ENV *env;		/* NULL when opened read-only without it */
	DB *objects, *packs;
	DB_TXN *txn;
	size_t txn_records;	/* records put or deleted by txn */
	int compressed;		/* objects.db is, and holds format 2 records */
	char *home;
	int dirfd;		/* the container's, borrowed */
	int writable;
	struct dos_index *next;	/* in open_indexes */
	/* The thread of expire_locks while env is open; stop ends it. */
	pthread_t expiry;
	pthread_mutex_t expiry_mu;
	pthread_cond_t expiry_cv;
	int expiry_running, expiry_stop;
};

/*
 * Every index this process has open.  A process that exits without
 * closing one (a command that dies on an error, such as a full disk)
 * would leave a dead process registered in the environment, and the next
 * process to open it would have to run recovery, which writes, and so
 * fails for as long as the disk is full: until then no reader could look
 * anything up.  So the indexes still open are closed at exit.
 */
static struct dos_index *open_indexes;

static char last_db_error[512];

/*
 * Berkeley DB's first message since last_db_error was cleared: the cause
 * (such as a write that found the disk full); the messages after it
 * (PANIC, unable to join the environment) are its consequences.
 */
static void
remember_error(const DB_ENV *env, const char *prefix, const char *msg)
{
	if (last_db_error[0] == '\0')
		snprintf(last_db_error, sizeof last_db_error, "%s", msg);
}

const char *
dos_index_last_error(void)
{
	return last_db_error;
}

/*
 * Each operation starts with no message, so that the first one is its
 * own (opening the environment again, for a retry, clears it too).
 */
static void
forget_error(void)
{
	last_db_error[0] = '\0';
}

/*
 * Whether Berkeley DB gave up in this process (the first message since
 * last_db_error was cleared says why), rather than after another one died
 * and recovery ran, which this notice is all it says about.
 */
static int
failed_here(void)
{
	return last_db_error[0] != '\0' && strstr(last_db_error,
	    "PANIC: fatal region error detected") == NULL;
}

/* Berkeley DB returns errno values or its own negative codes. */
static int
db_error(int ret)
{
	if (ret == 0)
		return 0;
	if (ret == DB_NOTFOUND || ret == DB_KEYEMPTY)
		return DOS_ENOTFOUND;
	/* Out of room in the environment: it says which table. */
	if (ret == ENOMEM && failed_here())
		return DOS_EINDEX;
	if (ret > 0) {
		errno = ret;
		return DOS_EIO;
	}
	if (ret == DB_RUNRECOVERY)
		return failed_here() ? DOS_EINDEX : DOS_ERECOVER;
	if (ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED)
		return DOS_EBUSY;
	snprintf(last_db_error, sizeof last_db_error, "%s", db_strerror(ret));
	return DOS_EINDEX;
}

static void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put_u64(unsigned char *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

static uint64_t
get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

/* Format 1: pack, codec, 3 spare bytes, offset, stored, raw. */
static size_t
encode_record1(unsigned char *rec, const struct dos_index_entry *e)
{
	memset(rec, 0, RECORD1_SIZE);
	put_u32(rec, e->pack);
	rec[4] = (unsigned char)e->codec;
	put_u64(rec + 8, e->offset);
	put_u64(rec + 16, e->stored_size);
	put_u64(rec + 24, e->raw_size);
	return RECORD1_SIZE;
}

static int
decode_record1(const unsigned char *rec, size_t len, struct dos_index_entry *e)
{
	if (len != RECORD1_SIZE || rec[4] > DOS_CODEC_ZSTD)
		return DOS_ECORRUPT;
	e->pack = get_u32(rec);
	e->codec = (enum dos_codec)rec[4];
	e->offset = get_u64(rec + 8);
	e->stored_size = get_u64(rec + 16);
	e->raw_size = get_u64(rec + 24);
	return 0;
}

/* Unsigned LEB128: 7 bits a byte, low first, the top bit says more. */
static unsigned char *
put_varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

/* The varint at *p, before end: 0, or -1 if it is cut short or too long. */
static int
get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	unsigned shift;

	*v = 0;
	for (shift = 0; *p < end && shift < 7 * VARINT_MAX; shift += 7) {
		if (shift == 63 && **p > 1)
			return -1;	/* past 64 bits */
		*v |= (uint64_t)(**p & 0x7f) << shift;
		if (!(*(*p)++ & 0x80))
			return 0;
	}
	return -1;
}

/*
 * Format 2, four varints: pack * 4 + codec (a codec that is none of the
 * three is written as 3, which no record may hold); offset; stored size;
 * and raw less stored size, zigzagged (0 for a raw object, small when a
 * compressed one is).  A 150-byte raw object in a pack of 4 GiB takes 9
 * bytes: 1 for a pack number below 32, 5 for an offset, 2 and 1.
 */
static size_t
encode_record2(unsigned char *rec, const struct dos_index_entry *e)
{
	uint64_t codec = e->codec > DOS_CODEC_ZSTD ? 3 : e->codec;
	uint64_t grown = e->raw_size - e->stored_size;
	unsigned char *p = rec;

	p = put_varint(p, (uint64_t)e->pack << 2 | codec);
	p = put_varint(p, e->offset);
	p = put_varint(p, e->stored_size);
	p = put_varint(p, grown <= INT64_MAX ? grown << 1 : ~grown << 1 | 1);
	return (size_t)(p - rec);
}

static int
decode_record2(const unsigned char *rec, size_t len, struct dos_index_entry *e)
{
	const unsigned char *p = rec, *end = rec + len;
	uint64_t packcodec, zz;

	if (get_varint(&p, end, &packcodec) < 0 ||
	    (packcodec & 3) > DOS_CODEC_ZSTD || packcodec >> 2 > UINT32_MAX ||
	    get_varint(&p, end, &e->offset) < 0 ||
	    get_varint(&p, end, &e->stored_size) < 0 ||
	    get_varint(&p, end, &zz) < 0 || p != end)
		return DOS_ECORRUPT;
	e->pack = (uint32_t)(packcodec >> 2);
	e->codec = (enum dos_codec)(packcodec & 3);
	e->raw_size = e->stored_size + (zz & 1 ? ~(zz >> 1) : zz >> 1);
	return 0;
}

size_t
dos_index_encode_entry(unsigned char *rec, const struct dos_index_entry *e)
{
	return encode_record2(rec, e);
}

int
dos_index_decode_entry(const unsigned char *rec, size_t len,
    struct dos_index_entry *e)
{
	return decode_record2(rec, len, e);
}

static size_t
encode_entry(const struct dos_index *ix, unsigned char *rec,
    const struct dos_index_entry *e)
{
	return ix->compressed ? encode_record2(rec, e) : encode_record1(rec, e);
}

static int
decode_entry(const struct dos_index *ix, const unsigned char *rec, size_t len,
    struct dos_index_entry *e)
{
	return ix->compressed ? decode_record2(rec, len, e) :
	    decode_record1(rec, len, e);
}

/*
 * Berkeley DB enforces lock timeouts only when its deadlock detector
 * runs, which set_lk_detect makes happen when a lock request starts to
 * wait, not while it waits: a process that waits on a lock whose holder
 * was then killed (a dos fsck stopped with SIGTERM, say), with no other
 * process asking for a conflicting lock, waits forever.  So every
 * process with the environment open runs the detector's timeout check
 * on its own, in this thread: the wait past LOCK_TIMEOUT_USEC ends with
 * DB_LOCK_NOTGRANTED (DOS_EBUSY), and the caller reopens the index,
 * which finds the dead process registered and recovers the environment
 * without what it held, and tries again.
 */
static void *
expire_locks(void *arg)
{
	struct dos_index *ix = arg;
	struct timespec t;

	pthread_mutex_lock(&ix->expiry_mu);
	while (!ix->expiry_stop) {
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += EXPIRY_CHECK_NSEC;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&ix->expiry_cv, &ix->expiry_mu,
		    &t) != ETIMEDOUT || ix->expiry_stop)
			continue;
		pthread_mutex_unlock(&ix->expiry_mu);
		(void)ix->env->lock_detect(ix->env, 0, DB_LOCK_EXPIRE, NULL);
		pthread_mutex_lock(&ix->expiry_mu);
	}
	pthread_mutex_unlock(&ix->expiry_mu);
	return NULL;
}

static int
start_expiry(struct dos_index *ix)
{
	ix->expiry_stop = 0;
	if (pthread_mutex_init(&ix->expiry_mu, NULL) != 0)
		return DOS_ENOMEM;
	if (pthread_cond_init(&ix->expiry_cv, NULL) != 0) {
		pthread_mutex_destroy(&ix->expiry_mu);
		return DOS_ENOMEM;
	}
	if (pthread_create(&ix->expiry, NULL, expire_locks, ix) != 0) {
		pthread_cond_destroy(&ix->expiry_cv);
		pthread_mutex_destroy(&ix->expiry_mu);
		errno = EAGAIN;
		return DOS_EIO;
	}
	ix->expiry_running = 1;
	return 0;
}

static void
stop_expiry(struct dos_index *ix)
{
	if (!ix->expiry_running)
		return;
	pthread_mutex_lock(&ix->expiry_mu);
	ix->expiry_stop = 1;
	pthread_cond_signal(&ix->expiry_cv);
	pthread_mutex_unlock(&ix->expiry_mu);
	pthread_join(ix->expiry, NULL);
	pthread_cond_destroy(&ix->expiry_cv);
	pthread_mutex_destroy(&ix->expiry_mu);
	ix->expiry_running = 0;
}

static void
close_handles(struct dos_index *ix)
{
	stop_expiry(ix);
	if (ix->txn != NULL)
		ix->txn->abort(ix->txn);
	ix->txn = NULL;
	if (ix->objects != NULL)
		ix->objects->close(ix->objects, 0);
	if (ix->packs != NULL)
		ix->packs->close(ix->packs, 0);
	ix->objects = ix->packs = NULL;
	if (ix->env != NULL) {
		if (ix->writable)
			ix->env->txn_checkpoint(ix->env, 0, 0, 0);
		ix->env->close(ix->env, 0);
	}
	ix->env = NULL;
}

/*
 * objects.db keys are 32-byte ids in memcmp order, which is Berkeley DB's
 * default order: this compares them in one call instead of its generic
 * byte loop (a third of the time of a lookup).  It orders keys of other
 * sizes the default way too, so the order on disk never depends on it.
 */
static int
compare_keys(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int
compare_ids(DB *db, const DBT *a, const DBT *b)
{
	return compare_keys(a->data, a->size, b->data, b->size);
}

/*
 * Open a database of index/; compressed, for objects.db: with Berkeley
 * DB's default prefix compression, and pages of OBJECTS_PAGE_SIZE if it
 * is created.
 */
static int
open_db(struct dos_index *ix, DB **dbp, const char *name, int create,
    int compressed)
{
	char path[4096];
	u_int32_t flags = DB_THREAD | DB_READ_UNCOMMITTED;
	int ret;

	if ((ret = db_create(dbp, ix->env, 0)) != 0)
		return db_error(ret);
	(*dbp)->set_errcall(*dbp, remember_error);
	if (strcmp(name, "objects.db") == 0)
		(*dbp)->set_bt_compare(*dbp, compare_ids);
	if (compressed && ((ret = (*dbp)->set_bt_compress(*dbp, NULL,
	    NULL)) != 0 || (ret = (*dbp)->set_pagesize(*dbp,
	    OBJECTS_PAGE_SIZE)) != 0 || (ret = (*dbp)->set_bt_minkey(*dbp,
	    OBJECTS_MIN_KEYS)) != 0)) {
		(*dbp)->close(*dbp, 0);
		*dbp = NULL;
		return db_error(ret);
	}
	if (ix->env == NULL) {
		snprintf(path, sizeof path, "%s/%s", ix->home, name);
		ret = (*dbp)->open(*dbp, NULL, path, NULL, DB_BTREE,
		    DB_RDONLY | DB_THREAD, 0);
	} else {
		if (create)
			flags |= DB_CREATE | DB_AUTO_COMMIT;
		ret = (*dbp)->open(*dbp, NULL, name, NULL, DB_BTREE, flags, 0666);
	}
	if (ret != 0) {
		(*dbp)->close(*dbp, 0);
		*dbp = NULL;
		return db_error(ret);
	}
	return 0;
}

/*
 * objects.db is created compressed, holding format 2 records.  One made
 * before format 2 is not compressed, which Berkeley DB refuses to open
 * as compressed (EINVAL, before it reads a record): it is opened as it
 * is and keeps format 1 records, until dos fsck --repair rebuilds it.
 */
static int
open_objects(struct dos_index *ix)
{
	int rc;

	ix->compressed = 1;
	rc = open_db(ix, &ix->objects, "objects.db", ix->writable, 1);
	if (rc != DOS_EIO || errno != EINVAL)
		return rc;
	ix->compressed = 0;
	forget_error();
	return open_db(ix, &ix->objects, "objects.db", ix->writable, 0);
}

/*
 * INDEX_LOCKS, or DOS_INDEX_LOCKS when set (documented in dos(7)): the
 * tests make a lock table too small for a transaction with it.
 */
static u_int32_t
lock_table_size(void)
{
	const char *env = getenv("DOS_INDEX_LOCKS");
	unsigned long n;
	char *end;

	if (env == NULL || *env == '\0')
		return INDEX_LOCKS;
	errno = 0;
	n = strtoul(env, &end, 10);
	if (*end != '\0' || errno != 0 || n == 0 || n > UINT32_MAX)
		return 0;
	return (u_int32_t)n;
}

static int
open_env(struct dos_index *ix)
{
	u_int32_t flags = DB_CREATE | DB_INIT_MPOOL | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_TXN | DB_REGISTER | DB_RECOVER | DB_THREAD;
	u_int32_t locks = lock_table_size();
	int ret;

	if (locks == 0) {
		snprintf(last_db_error, sizeof last_db_error,
		    "DOS_INDEX_LOCKS is not a positive number of locks");
		return DOS_EINDEX;
	}
	if ((ret = db_env_create(&ix->env, 0)) != 0)
		return db_error(ret);
	ix->env->set_errcall(ix->env, remember_error);
	ix->env->set_cachesize(ix->env, 0, INDEX_CACHE_BYTES, 1);
	/* Sizes for a region this process creates (see INDEX_LOCKS). */
	ix->env->set_lk_max_locks(ix->env, locks);
	ix->env->set_lk_max_objects(ix->env, locks);
	ix->env->set_lk_tablesize(ix->env, INDEX_LOCK_BUCKETS);
	ix->env->set_lk_max_lockers(ix->env, INDEX_LOCKERS);
	ix->env->set_memory_init(ix->env, DB_MEM_LOCKER, INDEX_LOCKERS);
	ix->env->log_set_config(ix->env, DB_LOG_AUTO_REMOVE, 1);
	/*
	 * Log files small enough that, the index checkpointed, what a backup
	 * copies of the log and replays is little more than what came since.
	 */
	ix->env->set_lg_max(ix->env, LOG_FILE_BYTES);
	ix->env->set_lk_detect(ix->env, DB_LOCK_DEFAULT);
	/*
	 * A process killed while holding a lock never releases it; waiting
	 * for it ends after this long, and the caller reopens and retries.
	 */
	ix->env->set_timeout(ix->env, LOCK_TIMEOUT_USEC, DB_SET_LOCK_TIMEOUT);
	/*
	 * The region files are mapped into memory: written in full when they
	 * are created, a disk too full for them is an error, where a sparse
	 * file would kill the process with SIGBUS when it first touched a
	 * page that has no block (reserve_regions covers their growth).
	 */
	ix->env->set_flags(ix->env, DB_REGION_INIT, 1);
	forget_error();
	ret = ix->env->open(ix->env, ix->home, flags, 0666);
	if (ret != 0) {
		ix->env->close(ix->env, 0);
		ix->env = NULL;
		/*
		 * Creating or recovering the environment failed (a full disk):
		 * not a recovery by another process, but what Berkeley DB said.
		 */
		if (ret == DB_RUNRECOVERY && last_db_error[0] != '\0')
			return DOS_EINDEX;
		return db_error(ret);
	}
	return start_expiry(ix);
}

/*
 * Region files (index/__db.NNN) are mapped into memory, and Berkeley DB
 * grows them by writing their last page only, ignoring a failure.  On a
 * full disk the first touch of a page with no block behind it would kill
 * the process with SIGBUS, halfway through an update.  So disk blocks are
 * reserved for the whole of each mapping when the environment is opened:
 * a full disk is an error there, before anything changed.  The sizes are
 * those of this process's mappings of the files; the files' own sizes are
 * left alone (FALLOC_FL_KEEP_SIZE).
 */
#define MAX_REGIONS 8

struct region {
	char name[16];
	dev_t dev;
	ino_t ino;
	off_t mapped;
};

static void
find_mapped_sizes(struct region *rg, size_t nr)
{
	char line[4096];
	unsigned long start, end, offset, inode;
	unsigned major, minor;
	FILE *maps;
	size_t i;

	if ((maps = fopen("/proc/self/maps", "re")) == NULL)
		return;		/* no /proc: nothing to go by */
	while (fgets(line, sizeof line, maps) != NULL) {
		if (strstr(line, "/__db.") == NULL ||
		    sscanf(line, "%lx-%lx %*s %lx %x:%x %lu", &start, &end,
		    &offset, &major, &minor, &inode) != 6)
			continue;
		for (i = 0; i < nr; i++)
			if (inode == (unsigned long)rg[i].ino &&
			    makedev(major, minor) == rg[i].dev &&
			    (off_t)(offset + end - start) > rg[i].mapped)
				rg[i].mapped = (off_t)(offset + end - start);
	}
	fclose(maps);
}

static int
reserve_regions(int top)
{
	struct region rg[MAX_REGIONS];
	struct dirent *e;
	struct stat sb;
	size_t nr = 0, i;
	DIR *d;
	int fd, saved, rc;

	if ((rc = dos_opendir(top, "index", &d)) < 0 || d == NULL)
		return rc;
	while (nr < MAX_REGIONS && (e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "__db.0", 6) == 0 &&
		    strlen(e->d_name) < sizeof rg[nr].name &&
		    fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode)) {
			strcpy(rg[nr].name, e->d_name);
			rg[nr].dev = sb.st_dev;
			rg[nr].ino = sb.st_ino;
			rg[nr++].mapped = 0;
		}
	find_mapped_sizes(rg, nr);
	for (i = 0; i < nr && rc == 0; i++) {
		if (rg[i].mapped == 0)
			continue;
		fd = openat(dirfd(d), rg[i].name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno != EACCES && errno != EROFS)
				rc = DOS_EIO;
			continue;
		}
		if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, rg[i].mapped) != 0 &&
		    errno != EOPNOTSUPP && errno != ENOSYS)
			rc = DOS_EIO;
		saved = errno;
		close(fd);
		errno = saved;
	}
	saved = errno;
	closedir(d);
	errno = saved;
	return rc;
}

/*
 * Berkeley DB opens the files of index/ by path, following symbolic
 * links, and obeys a DB_CONFIG file there, which can send its files
 * anywhere: either would let a hostile container make dos read or write
 * outside it.  dos makes neither, so index/ with one is refused.
 */
static int
check_index_dir(int top)
{
	struct dirent *e;
	struct stat sb;
	DIR *d;
	int rc;

	if ((rc = dos_opendir(top, "index", &d)) < 0 || d == NULL)
		return rc;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, "DB_CONFIG") == 0) {
			snprintf(last_db_error, sizeof last_db_error,
			    "refusing 'index/DB_CONFIG', which would configure "
			    "the index");
			rc = DOS_EINDEX;
		} else if (e->d_type == DT_LNK || (e->d_type == DT_UNKNOWN &&
		    fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(sb.st_mode))) {
			snprintf(last_db_error, sizeof last_db_error,
			    "refusing to follow the symbolic link 'index/%.200s'",
			    e->d_name);
			rc = DOS_EINDEX;
		}
	}
	closedir(d);
	return rc;
}

static int
open_all(struct dos_index *ix)
{
	int saved, rc;

	if ((rc = check_index_dir(ix->dirfd)) < 0)
		return rc;
	rc = open_env(ix);
	if (rc == DOS_EIO && !ix->writable &&
	    (errno == EACCES || errno == EROFS || errno == EPERM))
		rc = 0;		/* read-only: the database files alone */
	/*
	 * A reader goes on without the reservation: it grows the regions
	 * little, and a full disk must not stop it reading.
	 */
	if (rc == 0 && ix->env != NULL &&
	    (rc = reserve_regions(ix->dirfd)) < 0 && !ix->writable)
		rc = 0;
	if (rc < 0) {
		saved = errno;	/* closing sets errno, the cause is kept */
		close_handles(ix);
		errno = saved;
		return rc;
	}
	if ((rc = open_objects(ix)) < 0 ||
	    (rc = open_db(ix, &ix->packs, "packs.db", ix->writable, 0)) < 0)
		close_handles(ix);
	return rc;
}

/*
 * open_all, tried again while another process is recovering the
 * environment (a process died inside it), which makes an open fail with
 * DB_RUNRECOVERY until it is done.
 */
static int
open_all_waiting(struct dos_index *ix)
{
	int rc, tries;

	for (tries = 1; ; tries++) {
		rc = open_all(ix);
		if (rc != DOS_ERECOVER || tries == OPEN_TRIES)
			return rc;
		usleep(OPEN_RETRY_USEC * tries);
	}
}

/*
 * A writer creates objects.db, then packs.db: an index without packs.db
 * is one still being created, or none at all.
 */
int
dos_index_exists(int dirfd)
{
	return faccessat(dirfd, "index/packs.db", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * A reader's index that did not exist when it was opened is opened once
 * a writer has created it, so that a long-lived reader (a cat-object
 * --batch coprocess) finds the objects packed since.
 */
static int
open_if_created(struct dos_index *ix)
{
	if (ix->objects != NULL || !dos_index_exists(ix->dirfd))
		return 0;
	return open_all_waiting(ix);
}

static void
close_at_exit(void)
{
	while (open_indexes != NULL)
		dos_index_close(open_indexes);
}

static void
remember_open(struct dos_index *ix)
{
	static int registered;

	if (!registered && atexit(close_at_exit) == 0)
		registered = 1;
	ix->next = open_indexes;
	open_indexes = ix;
}

int
dos_index_open(struct dos_store *st, int writable, struct dos_index **out)
{
	struct dos_index *ix;
	size_t len = strlen(st->path) + sizeof "/index";
	int rc, saved;

	if ((ix = calloc(1, sizeof *ix)) == NULL ||
	    (ix->home = malloc(len)) == NULL) {
		free(ix);
		return DOS_ENOMEM;
	}
	snprintf(ix->home, len, "%s/index", st->path);
	ix->dirfd = st->dirfd;
	ix->writable = writable;
	if (writable && dos_step_mkdir("index-mkdir", st->dirfd, "index",
	    0777) < 0 && errno != EEXIST) {
		rc = DOS_EIO;
		goto fail;
	}
	if (!writable && !dos_index_exists(st->dirfd)) {
		/* Nothing was ever packed: an empty index, until there is one. */
		remember_open(ix);
		*out = ix;
		return 0;
	}
	if ((rc = open_all_waiting(ix)) < 0)
		goto fail;
	/*
	 * Berkeley DB syncs its files but not the directories naming them:
	 * a writer syncs index/ and its entry before it commits anything,
	 * also when a killed writer made them, so a committed record is
	 * never lost with the whole index.  Cheap when nothing changed.
	 */
	if (writable && (dos_fsync_dir("index-fsync", st->dirfd, "index") < 0 ||
	    dos_step_fsync("container-fsync", st->dirfd) < 0)) {
		saved = errno;
		dos_index_close(ix);
		errno = saved;
		return DOS_EIO;
	}
	remember_open(ix);
	*out = ix;
	return 0;
fail:
	free(ix->home);
	free(ix);
	return rc;
}

void
dos_index_close(struct dos_index *ix)
{
	struct dos_index **p;

	if (ix == NULL)
		return;
	for (p = &open_indexes; *p != NULL; p = &(*p)->next)
		if (*p == ix) {
			*p = ix->next;
			break;
		}
	close_handles(ix);
	free(ix->home);
	free(ix);
}

/* Another process died and recovery ran: start over with new handles. */
int
dos_index_reopen(struct dos_index *ix)
{
	close_handles(ix);
	return open_all_waiting(ix);
}

/*
 * Whether a read that failed with *rc, on try number tries, is tried
 * again: another process died in the index (recovery ran) or held a lock
 * too long.  The handles are reopened first, which fails into *rc.
 * Never inside a transaction, whose work the reopening would lose.
 */
static int
read_again(struct dos_index *ix, int *rc, int tries)
{
	if ((*rc != DOS_ERECOVER && *rc != DOS_EBUSY) || tries == GET_TRIES ||
	    ix->txn != NULL)
		return 0;
	return (*rc = dos_index_reopen(ix)) == 0;
}

int
dos_index_again(struct dos_index *ix, int *rc, int tries)
{
	return read_again(ix, rc, tries);
}

/*
 * Point key and val at id and rec for a read of oid's record.  With a key
 * comparison set, a get may return the key too: id is a copy.
 */
static void
entry_dbts(DBT *key, DBT *val, unsigned char *id, unsigned char *rec,
    const struct dos_oid *oid)
{
	memcpy(id, oid->hash, DOS_RAWSZ);
	memset(key, 0, sizeof *key);
	memset(val, 0, sizeof *val);
	key->data = id;
	key->size = key->ulen = DOS_RAWSZ;
	key->flags = DB_DBT_USERMEM;
	val->data = rec;
	val->ulen = RECORD_MAX;
	val->flags = DB_DBT_USERMEM;
}

/*
 * One read of oid's record, never retried: a retry reopens the handles,
 * which only the thread that owns them may do.  Inside a transaction, or
 * without the environment, every read is committed.
 */
static int
read_entry(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e, u_int32_t flags)
{
	unsigned char rec[RECORD_MAX], id[DOS_RAWSZ];
	DBT key, val;
	int ret;

	if (ix->txn != NULL || ix->env == NULL)
		flags = 0;
	entry_dbts(&key, &val, id, rec, oid);
	ret = ix->objects->get(ix->objects, ix->txn, &key, &val, flags);
	if (ret != 0)
		return db_error(ret);
	return decode_entry(ix, rec, val.size, e);
}

static int
get_entry(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e, u_int32_t flags)
{
	int rc, tries;

	if ((rc = open_if_created(ix)) < 0)
		return rc;
	if (ix->objects == NULL)
		return DOS_ENOTFOUND;
	forget_error();
	for (tries = 1; ; tries++) {
		rc = read_entry(ix, oid, e, flags);
		if (rc == 0 || !read_again(ix, &rc, tries))
			return rc;
	}
}

/*
 * A writer rewrites a compressed run by deleting it and adding it back:
 * an uncommitted read between the two misses every record of the run,
 * committed ones too.  So only a committed read, which waits for a
 * writer that holds the page, says that an id is not indexed.
 */
static int
confirm_absent(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e, int rc)
{
	if (rc != DOS_ENOTFOUND || !ix->compressed || ix->env == NULL ||
	    ix->txn != NULL)
		return rc;	/* that read was committed, or nothing moves */
	return get_entry(ix, oid, e, 0);
}

int
dos_index_get(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e)
{
	return confirm_absent(ix, oid, e,
	    get_entry(ix, oid, e, DB_READ_UNCOMMITTED));
}

/*
 * Bulk reads fill this much at a time: at least a page, a multiple of
 * 1024 bytes, as Berkeley DB asks; about 800 entries.
 */
#define BULK_BYTES (64 * 1024)
/*
 * Below this many ids found per bulk read, point lookups are cheaper (a
 * bulk read of ~800 entries costs about as much as 60 searches).
 */
#define BULK_MIN_HITS 64

/*
 * A cursor reading objects.db in bulk: each fill copies as many entries
 * as fit in one buffer, and bulk_next() takes them out one at a time.
 */
struct bulk {
	const struct dos_index *ix;
	DBC *cur;
	DBT val;
	void *p;
	unsigned char key[DOS_RAWSZ];
	unsigned char *rec;	/* of the entry bulk_next() took */
	u_int32_t rec_len;
};

/*
 * committed: read only committed records (degree 2), waiting for a writer
 * that holds the page; else uncommitted reads, which never wait, but may
 * miss every record of a compressed run that a writer is rewriting (it
 * deletes the run, then puts it back): the caller must look a miss up
 * again.
 */
static int
bulk_open(struct dos_index *ix, struct bulk *b, void *buf, int few,
    int committed)
{
	int ret;

	memset(b, 0, sizeof *b);
	b->ix = ix;
	b->val.data = buf;
	b->val.ulen = BULK_BYTES;
	/* A few keys need no more than a page: each page read is copied. */
	if (few && ix->objects->get_pagesize(ix->objects, &b->val.ulen) != 0)
		b->val.ulen = BULK_BYTES;
	b->val.flags = DB_DBT_USERMEM;
	ret = ix->objects->cursor(ix->objects, ix->txn, &b->cur,
	    ix->txn != NULL || ix->env == NULL ? 0 :
	    committed ? DB_READ_COMMITTED : DB_READ_UNCOMMITTED);
	return ret == 0 ? 0 : db_error(ret);
}

/*
 * Fill from the first key at or after from (DB_SET_RANGE), or after the
 * last entry filled (from == NULL): 0, DOS_ENOTFOUND past the end.
 */
static int
bulk_fill(struct bulk *b, const unsigned char *from)
{
	DBT key;
	int ret;

	memset(&key, 0, sizeof key);
	key.data = b->key;
	key.ulen = sizeof b->key;
	key.flags = DB_DBT_USERMEM;
	if (from != NULL) {
		memcpy(b->key, from, sizeof b->key);
		key.size = sizeof b->key;
	}
	ret = b->cur->get(b->cur, &key, &b->val,
	    (from != NULL ? DB_SET_RANGE : DB_NEXT) | DB_MULTIPLE_KEY);
	if (ret != 0)
		return db_error(ret);
	DB_MULTIPLE_INIT(b->p, &b->val);
	return 0;
}

/*
 * The next entry filled, its id in *id: 1, 0 when the fill is used up,
 * or an error.  Its record is decoded only if asked (bulk_entry): a
 * lookup wants few of those it reads.
 */
static int
bulk_next(struct bulk *b, const unsigned char **id)
{
	unsigned char *k;
	u_int32_t klen;

	if (b->p == NULL)
		return 0;
	DB_MULTIPLE_KEY_NEXT(b->p, &b->val, k, klen, b->rec, b->rec_len);
	if (b->p == NULL)
		return 0;
	if (klen != DOS_RAWSZ)
		return DOS_ECORRUPT;
	*id = k;
	return 1;
}

/* Decode the record of the entry bulk_next() took: 0 or DOS_ECORRUPT. */
static int
bulk_entry(const struct bulk *b, struct dos_index_entry *e)
{
	return decode_entry(b->ix, b->rec, b->rec_len, e);
}

static void
bulk_close(struct bulk *b)
{
	b->cur->close(b->cur);
}

/*
 * Fill entries[i] and found[i] for the sorted ids from i on, one by one
 * with the pass's cursor (a get without one makes and closes a cursor of
 * its own, 2% of a lookup's instructions), never retrying (the pass may
 * run on a thread of its own, see get_sorted_split).
 */
static int
get_each(struct bulk *b, const struct dos_oid *oids, size_t i, size_t n,
    struct dos_index_entry *entries, unsigned char *found)
{
	unsigned char rec[RECORD_MAX], id[DOS_RAWSZ];
	DBT key, val;
	int ret;

	for (; i < n; i++) {
		entry_dbts(&key, &val, id, rec, &oids[i]);
		ret = b->cur->get(b->cur, &key, &val, DB_SET);
		if (ret != 0 && ret != DB_NOTFOUND)
			return db_error(ret);
		if ((found[i] = ret == 0) &&
		    decode_entry(b->ix, rec, val.size, &entries[i]) < 0)
			return DOS_ECORRUPT;
	}
	return 0;
}

/*
 * A sorted pass over a compressed objects.db reads its B-tree pages
 * itself, through Berkeley DB's buffer pool (DB_MPOOLFILE->get, which
 * holds a page latched shared until it is put back, so that no writer
 * changes it meanwhile), instead of through a cursor.  A cursor's lookup
 * costs about 12,000 instructions at 10^7 objects (duplicating the
 * cursor, locks, latches, comparisons through callbacks, decompressing
 * the run record by record into buffers); reading the pages costs a few
 * hundred, and each leaf is held while the pass's next ids fall in it:
 * rounds of 2^18 ids went from 2.4 to 0.9 us of CPU time a lookup, most
 * of what is left Berkeley DB copying leaves into its cache.
 *
 * This reads Berkeley DB 5.3's page format (db_page.h): a page starts
 * with a 26-byte header (item count at 20, type at 25) followed by the
 * items' offsets; an internal item holds its child's page number at 4
 * and its key at 12 (the first item's key is below every key); a leaf
 * holds key and data items in turn, each a length, a type byte and the
 * bytes.  A compressed leaf's pair is a run (bt_compress.c): the run's
 * first id, then its record's length and bytes followed by the other
 * records, each the length of the prefix shared with the id before it,
 * the suffix's length, the record's length, the suffix and the record
 * (lengths in Berkeley DB's integer compression: below 128 one byte).
 * Anything else (a deleted or overflow item, a longer integer, a page of
 * another type, an item past the page) is left to a cursor's lookup.
 *
 * Without locks, a pass may follow a parent's page number to a page that
 * a writer has split, merged or freed since: a record found on a leaf is
 * still what the index holds for it (or what a writer is putting, which
 * an uncommitted read gets too), and an id not found is looked up again,
 * committed (confirm_absent), as for a cursor's uncommitted reads.
 */
#define PAGE_ENTRIES_AT 20
#define PAGE_TYPE_AT 25
#define PAGE_ITEMS_AT 26
#define PAGE_INTERNAL 3		/* P_IBTREE */
#define PAGE_LEAF 5		/* P_LBTREE */
#define PAGE_META 9		/* P_BTREEMETA */
#define META_ROOT_AT 88
#define INTERNAL_CHILD_AT 4
#define INTERNAL_KEY_AT 12
#define ITEM_TYPE_AT 2
#define ITEM_DATA_AT 3
#define ITEM_KEYDATA 1		/* B_KEYDATA, not deleted */
/* Levels followed down from the root before a walk gives up. */
#define WALK_MAX_LEVELS (2 * INDEX_MAX_DEPTH)

struct page_walk {
	DB_MPOOLFILE *mpf;
	u_int32_t pagesize;
	db_pgno_t root;
	unsigned char *leaf;		/* held, or NULL */
	unsigned char bound[DOS_RAWSZ];	/* the leaf's ids are below it */
	u_int32_t bound_len;		/* 0: no bound (the last leaf) */
};

/*
 * A page in the buffer pool is in this machine's byte order (Berkeley DB
 * swaps a file's pages as it reads them), as the page numbers copied out
 * of it are.
 */
static u_int32_t
page_u16(const unsigned char *p)
{
	u_int16_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

/*
 * Hold page pgno: 0, 1 if there is no such page (a page number read
 * before a gc gave the file's tail back), or an error.
 */
static int
page_get(struct page_walk *w, db_pgno_t pgno, unsigned char **page)
{
	int ret;

	if ((ret = w->mpf->get(w->mpf, &pgno, NULL, 0, page)) != 0)
		return ret == DB_PAGE_NOTFOUND ? 1 : db_error(ret);
	return 0;
}

static void
page_put(struct page_walk *w, unsigned char *page)
{
	w->mpf->put(w->mpf, page, DB_PRIORITY_UNCHANGED, 0);
}

static void
page_walk_release(struct page_walk *w)
{
	if (w->leaf != NULL)
		page_put(w, w->leaf);
	w->leaf = NULL;
}

/* Start a walk of objects.db from its root, found on the meta page. */
static int
page_walk_open(struct dos_index *ix, struct page_walk *w)
{
	unsigned char *meta;
	u_int32_t flags;
	int rc, ret;

	memset(w, 0, sizeof *w);
	w->mpf = ix->objects->get_mpf(ix->objects);
	if ((ret = ix->objects->get_pagesize(ix->objects, &w->pagesize)) != 0 ||
	    (ret = ix->objects->get_flags(ix->objects, &flags)) != 0)
		return db_error(ret);
	/* Checksums would move the items; dos never sets them. */
	if (flags & DB_CHKSUM)
		return DOS_ECORRUPT;
	if ((rc = page_get(w, 0, &meta)) != 0)
		return rc < 0 ? rc : DOS_ECORRUPT;
	if (meta[PAGE_TYPE_AT] == PAGE_META)
		memcpy(&w->root, meta + META_ROOT_AT, sizeof w->root);
	page_put(w, meta);
	return w->root != 0 ? 0 : DOS_ECORRUPT;
}

/* Item i of page, its length in *len: NULL if it is not inside the page. */
static const unsigned char *
page_item(const struct page_walk *w, const unsigned char *page, u_int32_t i,
    u_int32_t at, u_int32_t *len)
{
	u_int32_t off;

	if (PAGE_ITEMS_AT + 2 * (i + 1) > w->pagesize)
		return NULL;
	off = page_u16(page + PAGE_ITEMS_AT + 2 * i);
	if (off + at > w->pagesize)
		return NULL;
	*len = page_u16(page + off);
	return off + at + *len <= w->pagesize ? page + off : NULL;
}

/* Key i of an internal page, if a plain one. */
static const unsigned char *
internal_key(const struct page_walk *w, const unsigned char *page,
    u_int32_t i, u_int32_t *len)
{
	const unsigned char *item;

	item = page_item(w, page, i, INTERNAL_KEY_AT, len);
	if (item == NULL || item[ITEM_TYPE_AT] != ITEM_KEYDATA)
		return NULL;
	return item + INTERNAL_KEY_AT;
}

/*
 * Hold the leaf where id belongs, following the internal pages down from
 * the root: 0, 1 if a page is not as expected, or an error.
 */
static int
page_walk_down(struct page_walk *w, const unsigned char *id)
{
	const unsigned char *item, *key;
	unsigned char *page;
	u_int32_t n, lo, hi, mid, len;
	db_pgno_t pgno = w->root;
	int level, rc;

	w->bound_len = 0;
	for (level = 0; level < WALK_MAX_LEVELS; level++) {
		if ((rc = page_get(w, pgno, &page)) != 0)
			return rc;
		if (page[PAGE_TYPE_AT] == PAGE_LEAF) {
			w->leaf = page;
			return 0;
		}
		n = page_u16(page + PAGE_ENTRIES_AT);
		if (page[PAGE_TYPE_AT] != PAGE_INTERNAL || n == 0)
			goto unexpected;
		/* The last item whose key is at most id. */
		for (lo = 0, hi = n - 1; lo < hi; ) {
			mid = lo + (hi - lo + 1) / 2;
			if ((key = internal_key(w, page, mid, &len)) == NULL)
				goto unexpected;
			if (compare_keys(key, len, id, DOS_RAWSZ) <= 0)
				lo = mid;
			else
				hi = mid - 1;
		}
		if (lo + 1 < n) {
			if ((key = internal_key(w, page, lo + 1, &len)) == NULL ||
			    len == 0 || len > DOS_RAWSZ)
				goto unexpected;
			memcpy(w->bound, key, len);
			w->bound_len = len;
		}
		if ((item = page_item(w, page, lo, INTERNAL_KEY_AT, &len)) == NULL)
			goto unexpected;
		memcpy(&pgno, item + INTERNAL_CHILD_AT, sizeof pgno);
		page_put(w, page);
	}
	return 1;
unexpected:
	page_put(w, page);
	return 1;
}

/* One of Berkeley DB's compressed integers, if below 2^14 + 2^7. */
static int
page_int(const unsigned char **p, const unsigned char *end, u_int32_t *v)
{
	if (*p < end && **p < 0x80) {
		*v = *(*p)++;
		return 0;
	}
	if (*p + 1 < end && (**p & 0xc0) == 0x80) {
		*v = (((u_int32_t)(**p & 0x3f) << 8 | (*p)[1]) + 0x80);
		*p += 2;
		return 0;
	}
	return -1;
}

/* Key or data item i of the held leaf, if a plain one. */
static const unsigned char *
leaf_item(const struct page_walk *w, u_int32_t i, u_int32_t *len)
{
	const unsigned char *item;

	item = page_item(w, w->leaf, i, ITEM_DATA_AT, len);
	if (item == NULL || item[ITEM_TYPE_AT] != ITEM_KEYDATA)
		return NULL;
	return item + ITEM_DATA_AT;
}

/*
 * Look id up in the run of the held leaf where it belongs: 0 and its
 * record in *rec and *len, DOS_ENOTFOUND, or 1 if the leaf is not as
 * expected.
 */
static int
leaf_find(const struct page_walk *w, const unsigned char *id,
    const unsigned char **rec, u_int32_t *len)
{
	unsigned char key[DOS_RAWSZ];
	const unsigned char *k, *d, *end;
	u_int32_t n, lo, hi, mid, klen, dlen, prefix, suffix;
	int c;

	n = page_u16(w->leaf + PAGE_ENTRIES_AT);
	if (n == 0)
		return DOS_ENOTFOUND;
	if (n % 2 != 0)
		return 1;
	/* The last run whose first id is at most id. */
	for (lo = 0, hi = n / 2 - 1; lo < hi; ) {
		mid = lo + (hi - lo + 1) / 2;
		if ((k = leaf_item(w, 2 * mid, &klen)) == NULL)
			return 1;
		if (compare_keys(k, klen, id, DOS_RAWSZ) <= 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	if ((k = leaf_item(w, 2 * lo, &klen)) == NULL || klen != DOS_RAWSZ ||
	    (d = leaf_item(w, 2 * lo + 1, &dlen)) == NULL)
		return 1;
	end = d + dlen;
	if ((c = memcmp(k, id, DOS_RAWSZ)) > 0)
		return DOS_ENOTFOUND;
	if (page_int(&d, end, &dlen) < 0 || dlen > (u_int32_t)(end - d))
		return 1;
	memcpy(key, k, sizeof key);
	while (c < 0) {
		d += dlen;
		if (d == end)
			return DOS_ENOTFOUND;
		if (page_int(&d, end, &prefix) < 0 ||
		    page_int(&d, end, &suffix) < 0 ||
		    page_int(&d, end, &dlen) < 0 ||
		    prefix + suffix != DOS_RAWSZ ||
		    suffix + dlen > (u_int32_t)(end - d))
			return 1;
		memcpy(key + prefix, d, suffix);
		d += suffix;
		c = memcmp(key, id, DOS_RAWSZ);
	}
	if (c > 0)
		return DOS_ENOTFOUND;
	*rec = d;
	*len = dlen;
	return 0;
}

/*
 * Look the next of a pass's sorted ids up: 0 and its record in *rec and
 * *len (valid until the next call), DOS_ENOTFOUND, 1 if the pages are not
 * as expected (a cursor must look it up), or an error.
 */
static int
page_walk_get(struct page_walk *w, const unsigned char *id,
    const unsigned char **rec, u_int32_t *len)
{
	int rc;

	if (w->leaf != NULL && w->bound_len != 0 &&
	    compare_keys(id, DOS_RAWSZ, w->bound, w->bound_len) >= 0)
		page_walk_release(w);
	if (w->leaf == NULL && (rc = page_walk_down(w, id)) != 0)
		return rc;
	return leaf_find(w, id, rec, len);
}

/*
 * One pass of dos_index_get_sorted over a compressed objects.db, outside
 * a transaction: a page walk, and a lookup by Berkeley DB of each id the
 * walk cannot answer (the leaf released first: the lookup may wait for a
 * writer that waits for it).
 */
static int
walk_pass(struct dos_index *ix, const struct dos_oid *oids, size_t n,
    struct dos_index_entry *entries, unsigned char *found)
{
	struct page_walk w;
	const unsigned char *rec;
	u_int32_t len;
	size_t i;
	int rc;

	if ((rc = page_walk_open(ix, &w)) < 0)
		return rc;
	for (i = 0; i < n; i++) {
		rc = page_walk_get(&w, oids[i].hash, &rec, &len);
		if (rc == 0)
			rc = decode_entry(ix, rec, len, &entries[i]);
		else if (rc == 1) {
			page_walk_release(&w);
			rc = read_entry(ix, &oids[i], &entries[i],
			    DB_READ_UNCOMMITTED);
		}
		if (rc < 0 && rc != DOS_ENOTFOUND)
			break;
		found[i] = rc == 0;
	}
	page_walk_release(&w);
	return rc == DOS_ENOTFOUND ? 0 : rc;
}

/*
 * One pass of dos_index_get_sorted: a page walk (walk_pass), or, inside
 * a transaction (whose reads a cursor must make) or in an objects.db of
 * format 1, a cursor reading the index in bulk from each id not yet
 * answered, the ids inside what was read answered by a merge.  While
 * bulk reads stop paying (ids far apart in a large index), the rest is
 * looked up one by one.
 */
static int
get_sorted_pass(struct dos_index *ix, const struct dos_oid *oids, size_t n,
    struct dos_index_entry *entries, unsigned char *found, void *buf)
{
	const unsigned char *id;
	size_t i = 0, loads = 0, hits = 0;
	struct bulk b;
	int rc, c;

	memset(found, 0, n);
	if (ix->compressed && ix->txn == NULL)
		return walk_pass(ix, oids, n, entries, found);
	if ((rc = bulk_open(ix, &b, buf, 0, 0)) < 0)
		return rc;
	while (i < n) {
		if (loads >= 4 && hits < loads * BULK_MIN_HITS) {
			rc = get_each(&b, oids, i, n, entries, found);
			bulk_close(&b);
			return rc;
		}
		if ((rc = bulk_fill(&b, oids[i].hash)) < 0)
			break;
		loads++;
		while (i < n && (rc = bulk_next(&b, &id)) > 0) {
			while (i < n && (c = memcmp(oids[i].hash, id, DOS_RAWSZ)) <= 0) {
				if (c == 0) {
					if (bulk_entry(&b, &entries[i]) < 0) {
						rc = DOS_ECORRUPT;
						break;
					}
					found[i] = 1;
					hits++;
				}
				i++;
			}
			if (rc < 0)
				break;
		}
		if (rc < 0)
			break;
	}
	bulk_close(&b);
	/* Past the last key: every id left is not indexed. */
	return rc == DOS_ENOTFOUND ? 0 : rc < 0 ? rc : 0;
}

/*
 * A pass's lookups cost about 1 us of CPU time each at 10^7 objects
 * (rounds of 2^18 ids), most of it Berkeley DB copying the leaves they
 * read into its cache, whose handles are free-threaded.  So a second
 * thread looks the upper half of the ids up while this one does the
 * lower half, from other leaves: the halves cost as much CPU time
 * together as the whole did alone, so with two cores free a round takes
 * about half the time.  Below SPLIT_MIN ids the thread is not worth
 * making.
 */
#define SPLIT_MIN 1024

/* Sorted ids looked up by one thread, with its own bulk buffer. */
struct pass {
	struct dos_index *ix;
	const struct dos_oid *oids;
	size_t n;
	struct dos_index_entry *entries;
	unsigned char *found;
	void *buf;
	int rc;
};

static void *
run_pass(void *arg)
{
	struct pass *p = arg;

	p->rc = get_sorted_pass(p->ix, p->oids, p->n, p->entries, p->found,
	    p->buf);
	return NULL;
}

/*
 * One pass of dos_index_get_sorted, in two halves if worth it; bufs
 * holds two bulk buffers.  Berkeley DB's message for a failure may come
 * from either thread.
 */
static int
get_sorted_split(struct dos_index *ix, const struct dos_oid *oids, size_t n,
    struct dos_index_entry *entries, unsigned char *found, char *bufs)
{
	struct pass low = { ix, oids, n, entries, found, bufs, 0 }, high;
	pthread_t thread;
	int split;

	/* A transaction is used by one thread at a time. */
	split = n >= SPLIT_MIN && ix->txn == NULL &&
	    sysconf(_SC_NPROCESSORS_ONLN) > 1;
	if (split) {
		low.n = n / 2;
		high = low;
		high.oids += low.n;
		high.n = n - low.n;
		high.entries += low.n;
		high.found += low.n;
		high.buf = bufs + BULK_BYTES;
		split = pthread_create(&thread, NULL, run_pass, &high) == 0;
		if (!split)
			low.n = n;
	}
	run_pass(&low);
	if (!split)
		return low.rc;
	pthread_join(thread, NULL);
	return low.rc < 0 ? low.rc : high.rc;
}

int
dos_index_get_sorted(struct dos_index *ix, const struct dos_oid *oids,
    size_t n, struct dos_index_entry *entries, unsigned char *found)
{
	char *bufs;
	size_t i;
	int rc, tries;

	if ((rc = open_if_created(ix)) < 0)
		return rc;
	if (ix->objects == NULL) {
		memset(found, 0, n);
		return 0;
	}
	if ((bufs = malloc(2 * BULK_BYTES)) == NULL)
		return DOS_ENOMEM;
	forget_error();
	for (tries = 1; ; tries++) {
		rc = get_sorted_split(ix, oids, n, entries, found, bufs);
		if (!read_again(ix, &rc, tries))
			break;
	}
	free(bufs);
	for (i = 0; i < n && rc == 0; i++)
		if (!found[i]) {
			rc = confirm_absent(ix, &oids[i], &entries[i],
			    DOS_ENOTFOUND);
			found[i] = rc == 0;
			if (rc == DOS_ENOTFOUND)
				rc = 0;
		}
	return rc;
}

int
dos_index_get_as_writer(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e)
{
	return get_entry(ix, oid, e, DB_READ_UNCOMMITTED);
}

int
dos_index_get_committed(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e)
{
	return get_entry(ix, oid, e, 0);
}

int
dos_index_begin(struct dos_index *ix)
{
	int ret;

	if (!ix->writable || ix->env == NULL || ix->txn != NULL)
		return DOS_EINVAL;
	forget_error();
	ix->txn_records = 0;
	ret = ix->env->txn_begin(ix->env, NULL, &ix->txn, 0);
	if (ret == DB_RUNRECOVERY && dos_index_reopen(ix) == 0)
		ret = ix->env->txn_begin(ix->env, NULL, &ix->txn, 0);
	return ret == 0 ? 0 : db_error(ret);
}

/* n more records for the transaction, within what the lock table holds. */
static int
count_records(struct dos_index *ix, size_t n)
{
	if (n > DOS_INDEX_TXN_RECORDS - ix->txn_records) {
		snprintf(last_db_error, sizeof last_db_error,
		    "more than %d records in one index transaction",
		    DOS_INDEX_TXN_RECORDS);
		return DOS_EINDEX;
	}
	ix->txn_records += n;
	return 0;
}

int
dos_index_put(struct dos_index *ix, const struct dos_oid *oid,
    const struct dos_index_entry *e)
{
	unsigned char rec[RECORD_MAX];
	DBT key, val;
	size_t len;
	int rc;

	if ((rc = count_records(ix, 1)) < 0)
		return rc;
	len = encode_entry(ix, rec, e);
	memset(&key, 0, sizeof key);
	memset(&val, 0, sizeof val);
	key.data = (void *)(uintptr_t)oid->hash;
	key.size = DOS_RAWSZ;
	val.data = rec;
	val.size = (u_int32_t)len;
	return db_error(ix->objects->put(ix->objects, ix->txn, &key, &val, 0));
}

int
dos_index_record_cmp(const void *a, const void *b)
{
	return dos_oid_cmp(&((const struct dos_index_record *)a)->oid,
	    &((const struct dos_index_record *)b)->oid);
}

/* A record in a DB_MULTIPLE_KEY buffer: key, value and four offsets. */
#define BULK_PUT_ITEM (DOS_RAWSZ + RECORD_MAX + 4 * sizeof(u_int32_t))

/*
 * One bulk put: Berkeley DB merges the sorted records into each run of
 * compressed records they fall in, rewriting (and logging) a run once
 * for all of its new records, where a put of each rewrote it for each
 * and then searched again for the record it had just put.
 */
static int
put_bulk(struct dos_index *ix, const struct dos_index_record *recs, size_t n)
{
	unsigned char rec[RECORD_MAX];
	DBT bulk, unused;
	void *p;
	size_t i, len;
	int rc;

	memset(&bulk, 0, sizeof bulk);
	memset(&unused, 0, sizeof unused);
	bulk.ulen = (u_int32_t)(n * BULK_PUT_ITEM + sizeof(u_int32_t));
	bulk.flags = DB_DBT_USERMEM;
	if ((bulk.data = malloc(bulk.ulen)) == NULL)
		return DOS_ENOMEM;
	DB_MULTIPLE_WRITE_INIT(p, &bulk);
	for (i = 0; i < n && p != NULL; i++) {
		len = encode_entry(ix, rec, &recs[i].entry);
		DB_MULTIPLE_KEY_WRITE_NEXT(p, &bulk, recs[i].oid.hash,
		    DOS_RAWSZ, rec, len);
	}
	rc = p == NULL ? DOS_EINVAL : db_error(ix->objects->put(ix->objects,
	    ix->txn, &bulk, &unused, DB_MULTIPLE_KEY));
	free(bulk.data);
	return rc;
}

int
dos_index_put_sorted(struct dos_index *ix, const struct dos_index_record *recs,
    size_t n)
{
	int rc;

	if (n == 0)
		return 0;
	if ((rc = count_records(ix, n)) < 0)
		return rc;
	return put_bulk(ix, recs, n);
}

/*
 * Creating the environment (its regions written in full, and reserved)
 * costs several times what joining it does: made while a clone fetches,
 * then closed, it is joined when the index is opened.
 */
int
dos_index_prepare(struct dos_store *st)
{
	struct dos_index ix;
	size_t len = strlen(st->path) + sizeof "/index";
	int rc;

	memset(&ix, 0, sizeof ix);
	if ((ix.home = malloc(len)) == NULL)
		return DOS_ENOMEM;
	snprintf(ix.home, len, "%s/index", st->path);
	ix.dirfd = st->dirfd;
	ix.writable = 1;
	if (dos_step_mkdir("index-mkdir", st->dirfd, "index", 0777) < 0 &&
	    errno != EEXIST)
		rc = DOS_EIO;
	else if ((rc = check_index_dir(st->dirfd)) == 0 &&
	    (rc = open_env(&ix)) == 0)
		rc = reserve_regions(st->dirfd);
	close_handles(&ix);
	free(ix.home);
	return rc;
}

/*
 * Outside the environment, objects.db is written by this process alone:
 * no transaction, log or lock, and a cache of its own, which sorted puts
 * fill and write out once, a page at a time.  The file is created with
 * the settings open_db gives objects.db, so the environment opens it as
 * its own later (its pages carry no log sequence number it would need).
 */
#define BUILD_CACHE_BYTES (8U << 20)

int
dos_index_build_open(const char *path, struct dos_index **out)
{
	struct dos_index *ix;
	int ret, rc;

	*out = NULL;
	if ((ix = calloc(1, sizeof *ix)) == NULL ||
	    (ix->home = strdup(path)) == NULL) {
		free(ix);
		return DOS_ENOMEM;
	}
	ix->compressed = 1;
	ix->writable = 1;
	forget_error();
	if ((ret = db_create(&ix->objects, NULL, 0)) != 0) {
		rc = db_error(ret);
		goto fail;
	}
	ix->objects->set_errcall(ix->objects, remember_error);
	ix->objects->set_bt_compare(ix->objects, compare_ids);
	if ((ret = ix->objects->set_bt_compress(ix->objects, NULL,
	    NULL)) != 0 || (ret = ix->objects->set_pagesize(ix->objects,
	    OBJECTS_PAGE_SIZE)) != 0 || (ret = ix->objects->set_bt_minkey(
	    ix->objects, OBJECTS_MIN_KEYS)) != 0 ||
	    (ret = ix->objects->set_cachesize(ix->objects, 0,
	    BUILD_CACHE_BYTES, 1)) != 0 ||
	    (ret = ix->objects->open(ix->objects, NULL, path, NULL, DB_BTREE,
	    DB_CREATE | DB_EXCL, 0666)) != 0) {
		rc = db_error(ret);
		goto fail;
	}
	*out = ix;
	return 0;
fail:
	if (ix->objects != NULL)
		ix->objects->close(ix->objects, DB_NOSYNC);
	free(ix->home);
	free(ix);
	return rc;
}

int
dos_index_build_put(struct dos_index *ix, const struct dos_index_record *recs,
    size_t n)
{
	return n == 0 ? 0 : put_bulk(ix, recs, n);
}

/*
 * Closing writes out the cache; the file is then synced, to be renamed
 * into index/ (keep), or closed as it is, to be removed.
 */
int
dos_index_build_close(struct dos_index *ix, int keep)
{
	int fd, ret, rc = 0;

	if (ix == NULL)
		return 0;
	ret = ix->objects->close(ix->objects, keep ? 0 : DB_NOSYNC);
	if (keep && ret != 0)
		rc = db_error(ret);
	if (keep && rc == 0) {
		fd = open(ix->home, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dos_step_fdatasync("index-build-fdatasync",
		    fd) < 0)
			rc = DOS_EIO;
		if (fd >= 0)
			close(fd);
	}
	free(ix->home);
	free(ix);
	return rc;
}

int
dos_index_del(struct dos_index *ix, const struct dos_oid *oid)
{
	DBT key;
	int rc;

	if ((rc = count_records(ix, 1)) < 0)
		return rc;
	memset(&key, 0, sizeof key);
	key.data = (void *)(uintptr_t)oid->hash;
	key.size = DOS_RAWSZ;
	return db_error(ix->objects->del(ix->objects, ix->txn, &key, 0));
}

int
dos_index_set_pack_length(struct dos_index *ix, uint32_t pack,
    uint64_t length)
{
	unsigned char k[4], v[8];
	DBT key, val;

	put_u32(k, pack);
	put_u64(v, length);
	memset(&key, 0, sizeof key);
	memset(&val, 0, sizeof val);
	key.data = k;
	key.size = sizeof k;
	val.data = v;
	val.size = sizeof v;
	return db_error(ix->packs->put(ix->packs, ix->txn, &key, &val, 0));
}

int
dos_index_get_pack_length(struct dos_index *ix, uint32_t pack,
    uint64_t *length)
{
	unsigned char k[4], v[8];
	DBT key, val;
	int ret, rc, tries;

	if ((rc = open_if_created(ix)) < 0)
		return rc;
	if (ix->packs == NULL)
		return DOS_ENOTFOUND;
	put_u32(k, pack);
	memset(&key, 0, sizeof key);
	memset(&val, 0, sizeof val);
	key.data = k;
	key.size = sizeof k;
	val.data = v;
	val.ulen = sizeof v;
	val.flags = DB_DBT_USERMEM;
	forget_error();
	for (tries = 1; (ret = ix->packs->get(ix->packs, ix->txn, &key, &val,
	    0)) != 0; tries++) {
		rc = db_error(ret);
		if (!read_again(ix, &rc, tries))
			return rc;
	}
	if (val.size != sizeof v)
		return DOS_ECORRUPT;
	*length = get_u64(v);
	return 0;
}

int
dos_index_del_pack_length(struct dos_index *ix, uint32_t pack)
{
	unsigned char k[4];
	DBT key;

	put_u32(k, pack);
	memset(&key, 0, sizeof key);
	key.data = k;
	key.size = sizeof k;
	return db_error(ix->packs->del(ix->packs, ix->txn, &key, 0));
}

static int
commit(struct dos_index *ix, uint32_t flags)
{
	int ret;

	if (ix->txn == NULL)
		return DOS_EINVAL;
	if (dos_fault_before("index-commit") < 0)
		return DOS_EIO;
	ret = ix->txn->commit(ix->txn, flags);
	ix->txn = NULL;
	if (ret != 0)
		return db_error(ret);
	if (dos_fault_after("index-commit") < 0)
		return DOS_EIO;
	ix->env->txn_checkpoint(ix->env, CHECKPOINT_KBYTES, 0, 0);
	return 0;
}

int
dos_index_commit(struct dos_index *ix)
{
	return commit(ix, 0);
}

int
dos_index_commit_nosync(struct dos_index *ix)
{
	return commit(ix, DB_TXN_NOSYNC);
}

void
dos_index_abort(struct dos_index *ix)
{
	if (ix->txn != NULL)
		ix->txn->abort(ix->txn);
	ix->txn = NULL;
}

/*
 * Random puts leave leaf pages 69% full (a split leaves two half pages).
 * Compaction fills them, in transactions of a few pages each, so readers
 * and writers go on; its first pass frees the pages it empties, the
 * second moves the file's last pages into them and truncates the file.
 */
int
dos_index_compact(struct dos_index *ix)
{
	DB_COMPACT c;
	int pass, ret;

	if (!ix->writable || ix->env == NULL || ix->txn != NULL)
		return DOS_EINVAL;
	forget_error();
	for (pass = 0; pass < 2; pass++) {
		memset(&c, 0, sizeof c);
		c.compact_fillpercent = 100;
		ret = ix->objects->compact(ix->objects, NULL, NULL, NULL, &c,
		    DB_FREE_SPACE, NULL);
		if (ret != 0)
			return db_error(ret);
	}
	ix->env->txn_checkpoint(ix->env, 0, 0, 0);
	return 0;
}

struct walk_item {
	struct dos_oid oid;
	struct dos_index_entry entry;
};

/*
 * Read up to max entries from *start on (after it when skip is
 * set) into items.  The cursor is closed before the caller sees them, so
 * a reader that dies while printing (SIGPIPE in a pipeline) never holds a
 * lock a writer would wait for.
 */
static int
walk_chunk(struct dos_index *ix, unsigned char *start, int skip,
    struct walk_item *items, size_t max, size_t *nr, void *buf)
{
	const unsigned char *id;
	struct bulk b;
	int rc;

	*nr = 0;
	/* A walk cannot tell a miss: it reads committed records only. */
	if ((rc = bulk_open(ix, &b, buf, max < WALK_CHUNK, 1)) < 0)
		return rc;
	rc = bulk_fill(&b, start);
	while (rc == 0 && *nr < max) {
		while (*nr < max && (rc = bulk_next(&b, &id)) > 0) {
			if (skip && memcmp(id, start, DOS_RAWSZ) == 0)
				continue;
			if (bulk_entry(&b, &items[*nr].entry) < 0) {
				rc = DOS_ECORRUPT;
				break;
			}
			memcpy(items[(*nr)++].oid.hash, id, DOS_RAWSZ);
		}
		if (rc == 0)
			rc = bulk_fill(&b, NULL);
		else if (rc > 0)
			rc = 0;
	}
	bulk_close(&b);
	return rc == DOS_ENOTFOUND ? 0 : rc;
}

int
dos_index_walk(struct dos_index *ix, const char *prefix, size_t plen,
    dos_index_fn *fn, void *data)
{
	unsigned char start[DOS_RAWSZ];
	char hex[DOS_HEXSZ + 1];
	struct walk_item *items;
	struct dos_oid first;
	size_t nr, i, max = plen > 0 ? PREFIX_CHUNK : WALK_CHUNK;
	void *buf;
	int rc = 0, skip = 0, tries = 0, done = 0;

	if ((rc = open_if_created(ix)) < 0)
		return rc;
	if (ix->objects == NULL)
		return 0;
	/* Start at the smallest id with this hex prefix. */
	memset(hex, '0', DOS_HEXSZ);
	memcpy(hex, prefix, plen);
	if (dos_oid_from_hex(&first, hex, DOS_HEXSZ) < 0)
		return DOS_EBADID;
	memcpy(start, first.hash, DOS_RAWSZ);
	if ((items = malloc(WALK_CHUNK * sizeof *items)) == NULL ||
	    (buf = malloc(BULK_BYTES)) == NULL) {
		free(items);
		return DOS_ENOMEM;
	}
	forget_error();
	while (!done) {
		rc = walk_chunk(ix, start, skip, items, max, &nr, buf);
		if ((rc == DOS_ERECOVER || rc == DOS_EBUSY) && ++tries < GET_TRIES) {
			if ((rc = dos_index_reopen(ix)) < 0)
				break;
			continue;
		}
		if (rc < 0)
			break;
		tries = 0;
		done = nr < max;
		for (i = 0; i < nr; i++) {
			if (plen > 0 && strncmp(dos_oid_to_hex(&items[i].oid, hex),
			    prefix, plen) != 0) {
				done = 1;
				break;
			}
			if ((rc = fn(&items[i].oid, &items[i].entry, data)) != 0) {
				done = 1;
				break;
			}
		}
		if (nr > 0)
			memcpy(start, items[nr - 1].oid.hash, DOS_RAWSZ);
		skip = 1;
		max = WALK_CHUNK;
	}
	free(items);
	free(buf);
	return rc;
}

/* ---- backups ---- */

/* fn with each record of packs.db, in pack order. */
static int
for_each_pack(DB *packs, dos_index_pack_fn *fn, void *data)
{
	unsigned char k[4], v[8];
	DBC *c;
	DBT key, val;
	int ret, rc = 0;

	memset(&key, 0, sizeof key);
	memset(&val, 0, sizeof val);
	key.data = k;
	key.ulen = sizeof k;
	key.flags = DB_DBT_USERMEM;
	val.data = v;
	val.ulen = sizeof v;
	val.flags = DB_DBT_USERMEM;
	if ((ret = packs->cursor(packs, NULL, &c, 0)) != 0)
		return db_error(ret);
	while (rc == 0 && (ret = c->get(c, &key, &val, DB_NEXT)) == 0) {
		if (key.size != sizeof k || val.size != sizeof v)
			rc = DOS_ECORRUPT;
		else
			rc = fn(get_u32(k), get_u64(v), data);
	}
	if (rc == 0 && ret != DB_NOTFOUND)
		rc = db_error(ret);
	c->close(c);
	return rc;
}

/*
 * Whether the log of env holds a checkpoint after the one at ckp, as far
 * as it goes now; also when that cannot be told.  Checkpoint records are
 * told by their type, the first word of a record, read from the one at
 * ckp.
 */
static int
checkpoint_after(DB_ENV *env, DB_LSN ckp)
{
	DB_LOGC *logc;
	DBT rec;
	u_int32_t type;
	int ret, found = 1;

	if (env->log_cursor(env, &logc, 0) != 0)
		return 1;
	memset(&rec, 0, sizeof rec);
	ret = logc->get(logc, &ckp, &rec, DB_SET);
	if (ret == 0 && rec.size >= sizeof type) {
		memcpy(&type, rec.data, sizeof type);
		while ((ret = logc->get(logc, &ckp, &rec, DB_NEXT)) == 0 &&
		    rec.size >= sizeof type && memcmp(rec.data, &type,
		    sizeof type) != 0)
			;
		found = ret != DB_NOTFOUND;
	}
	logc->close(logc, 0);
	return found;
}

/* A file of the index's copy, written by Berkeley DB's hot backup. */
struct copy_file {
	int fd;
	u_int32_t log;		/* a log file's number, 0 for a database */
	uint64_t end;		/* its length: the end of what was written */
};

static int
copy_open(DB_ENV *env, const char *name, const char *dir, void **handle)
{
	struct copy_file *f;
	char path[4096];
	int saved;

	if ((f = calloc(1, sizeof *f)) == NULL)
		return ENOMEM;
	if (strncmp(name, "log.", 4) == 0)
		f->log = (u_int32_t)strtoul(name + 4, NULL, 10);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0666)) < 0) {
		saved = errno;
		free(f);
		return saved;
	}
	*handle = f;
	return 0;
}

static int
zero_block(const u_int8_t *p, size_t len)
{
	static const u_int8_t zeros[COPY_BLOCK];

	return memcmp(p, zeros, len) == 0;
}

/*
 * A log file's blocks of zeros are left out, holes in the copy: the
 * environment makes a log file full size when it starts one, so most of
 * the newest one is.
 */
static int
copy_write(DB_ENV *env, u_int32_t gigs, u_int32_t off, u_int32_t size,
    u_int8_t *buf, void *handle)
{
	struct copy_file *f = handle;
	uint64_t at = ((uint64_t)gigs << 30) + off;
	size_t from = 0, to, n;

	while (from < size) {
		n = size - from < COPY_BLOCK ? size - from : COPY_BLOCK;
		if (f->log != 0 && zero_block(buf + from, n)) {
			from += n;
			continue;
		}
		for (to = from + n; to < size; to += n) {
			n = size - to < COPY_BLOCK ? size - to : COPY_BLOCK;
			if (f->log != 0 && zero_block(buf + to, n))
				break;
		}
		if (dos_step_pwrite("backup-index-write", f->fd, buf + from,
		    to - from, at + from) < 0)
			return errno;
		from = to;
	}
	if (at + size > f->end)
		f->end = at + size;
	return 0;
}

/*
 * The copy's length set, and its writing back started: it goes on while
 * the rest of the backup is made, which syncs it before the backup is
 * complete.  The copy of the log file the environment writes now ends
 * where its log does: bytes past that were never written, and recovering
 * the copy would write zeros there.
 */
static int
copy_close(DB_ENV *env, const char *name, void *handle)
{
	struct copy_file *f = handle;
	DB_LOG_STAT *stat;
	int ret = 0;

	if (f == NULL)
		return 0;	/* not opened */
	if (f->log != 0 && (ret = env->log_stat(env, &stat, 0)) == 0) {
		if (f->log == stat->st_cur_file && f->end > stat->st_cur_offset)
			f->end = stat->st_cur_offset;
		free(stat);
	}
	if (ret == 0 && dos_step_truncate("backup-index-truncate", f->fd,
	    f->end) < 0)
		ret = errno;
	(void)sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (close(f->fd) < 0 && ret == 0)
		ret = errno;
	free(f);
	return ret;
}

/*
 * Berkeley DB's syncs of the index's copy, while this thread recovers and
 * reads it, are left out: the backup syncs each file of it once, with the
 * rest of the backup, before it names the backup complete (and removes
 * one left incomplete).  Meanwhile every other sync Berkeley DB makes, of
 * any environment in any thread, is this fdatasync(2), as by default but
 * for one thing: a failed one is not tried again (a second one can
 * succeed when the data is lost).
 */
static __thread int in_copy;

static int
sync_unless_copy(int fd)
{
	if (in_copy)
		return 0;
	while (fdatasync(fd) < 0)
		if (errno != EINTR)
			return errno;
	return 0;
}

/*
 * The environment is checkpointed first unless little log came since its
 * last checkpoint, which every writer makes when it closes it (as
 * db_hotbackup -c does, but only then): otherwise the copy gets, and its
 * recovery reads, every log since the last checkpoint, up to
 * CHECKPOINT_KBYTES of them.
 * Berkeley DB's hot backup copies the database files, then the log files,
 * keeping the environment from removing logs meanwhile; recovering the
 * copy from those logs brings it to the last transaction they hold.
 * Normal recovery starts from the last checkpoint in the logs copied,
 * which is right when that is the one made before the database files
 * were copied (every change before it is in them); one made after (a
 * process that closed the index meanwhile) may name changes that the
 * files copied lack, and then only catastrophic recovery, which reads
 * every log copied from its start, is right.  That reads and replays
 * every database open and close in them, one pair per process that
 * wrote since the oldest log began: when the environment's log holds no
 * checkpoint after the one made here, no copy of it does, and the normal
 * recovery reads only what came since.  The recovery runs in private
 * memory and checkpoints, and the copy keeps the log file that
 * checkpoint is in (the others go): its pages name places in that log,
 * so the first dos to open it recovers from the checkpoint, which finds
 * nothing to do, as after any clean close.  (Giving the pages log
 * sequence numbers of zero instead, to leave two database files alone,
 * rewrote every page of the copy: most of the time of a backup that
 * copied little else.)
 */
int
dos_index_backup(struct dos_index *ix, const char *target,
    dos_index_pack_fn *fn, void *data)
{
	DB_ENV *env;
	DB_TXN_STAT *stat;
	DB_LSN ckp;
	DB *packs = NULL;
	const char *recovery;
	u_int32_t recover;
	int ret, rc = 0;

	if (ix->env == NULL) {
		snprintf(last_db_error, sizeof last_db_error,
		    "the index cannot be backed up without write access to it");
		return DOS_EINDEX;
	}
	forget_error();
	if ((ret = ix->env->txn_checkpoint(ix->env, BACKUP_CHECKPOINT_KBYTES,
	    0, 0)) != 0 || (ret = ix->env->txn_stat(ix->env, &stat, 0)) != 0)
		return db_error(ret);
	/* This one, or one another process made since, before the copy. */
	ckp = stat->st_last_ckp;
	free(stat);
	if (dos_fault_before("backup-index-copy") < 0)
		return DOS_EIO;
	if ((ret = ix->env->set_backup_callbacks(ix->env, copy_open,
	    copy_write, copy_close)) != 0 ||
	    (ret = ix->env->backup(ix->env, target, 0)) != 0)
		return db_error(ret);
	if (dos_fault_after("backup-index-copy") < 0)
		return DOS_EIO;
	if (checkpoint_after(ix->env, ckp)) {
		recover = DB_RECOVER_FATAL;
		recovery = "backup-index-recover-fatal";
	} else {
		recover = DB_RECOVER;
		recovery = "backup-index-recover";
	}
	if (dos_fault_before(recovery) < 0)
		return DOS_EIO;
	if ((ret = db_env_create(&env, 0)) != 0)
		return db_error(ret);
	env->set_errcall(env, remember_error);
	db_env_set_func_fsync(sync_unless_copy);
	in_copy = 1;
	ret = env->open(env, target, DB_CREATE | DB_INIT_MPOOL | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_TXN | DB_PRIVATE | recover, 0666);
	if (ret == 0 && dos_fault_after(recovery) < 0)
		rc = DOS_EIO;
	if (ret == 0 && rc == 0 && (ret = db_create(&packs, env, 0)) == 0)
		ret = packs->open(packs, NULL, "packs.db", NULL, DB_BTREE,
		    DB_RDONLY, 0);
	if (ret == 0 && rc == 0)
		rc = for_each_pack(packs, fn, data);
	if (packs != NULL)
		packs->close(packs, 0);
	if (ret == 0 && rc == 0)
		ret = env->log_archive(env, NULL, DB_ARCH_REMOVE);
	env->close(env, 0);
	in_copy = 0;
	db_env_set_func_fsync(NULL);
	return ret != 0 ? db_error(ret) : rc;
}
