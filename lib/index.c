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
 * is looked up again, committed (see index_confirm_absent).
 *
 * Rounds of sorted lookups read objects.db's pages themselves, through
 * Berkeley DB's buffer pool, well under half the cost of a cursor's
 * lookup (see index_walk_pass, in index-walk.c).
 *
 * This file opens, recovers and closes the index, and reads, puts and
 * deletes its records one at a time; the reads of many records, the
 * page walk and the backup's copy of the index are files of their own
 * (index-int.h lists them).
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

#include "index-int.h"

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
/*
 * Checkpoint when this much log has been written since the last one.  A
 * checkpoint writes every page dirtied since the last, and a batch of
 * records in random id order dirties most leaves of a small index: at
 * 16 MiB, hash-object --to-pack of D1 (61 MiB of log) spent 50 ms of its
 * commits in checkpoints, at 64 MiB 15.  Recovery after a kill replays
 * at most this much log (57 MiB of it: 0.47 s).
 */
#define CHECKPOINT_KBYTES (64 * 1024)
#define LOCK_TIMEOUT_USEC 2000000
/* How often expire_locks looks for lock waits past their timeout. */
#define EXPIRY_CHECK_NSEC 250000000L
/* Opens tried while another process recovers, waiting longer each time. */
#define OPEN_TRIES 8
#define OPEN_RETRY_USEC 20000

/*
 * Every index this process has open.  A process that exits without
 * closing one (a command that dies on an error, such as a full disk)
 * would leave a dead process registered in the environment, and the next
 * process to open it would have to run recovery, which writes, and so
 * fails for as long as the disk is full: until then no reader could look
 * anything up.  So the indexes still open are closed at exit.
 */
static struct dos_index *open_indexes;

char index_last_db_error[512];

/*
 * Berkeley DB's first message since index_last_db_error was cleared: the cause
 * (such as a write that found the disk full); the messages after it
 * (PANIC, unable to join the environment) are its consequences.
 */
void
index_remember_error(const DB_ENV *env, const char *prefix, const char *msg)
{
	if (index_last_db_error[0] == '\0')
		snprintf(index_last_db_error, sizeof index_last_db_error, "%s",
		    msg);
}

const char *
dos_index_last_error(void)
{
	return index_last_db_error;
}

/*
 * Each operation starts with no message, so that the first one is its
 * own (opening the environment again, for a retry, clears it too).
 */
void
index_forget_error(void)
{
	index_last_db_error[0] = '\0';
}

/*
 * Whether Berkeley DB gave up in this process (the first message since
 * index_last_db_error was cleared says why), rather than after another one died
 * and recovery ran, which this notice is all it says about.
 */
static int
failed_here(void)
{
	return index_last_db_error[0] != '\0' && strstr(index_last_db_error,
	    "PANIC: fatal region error detected") == NULL;
}

/* Berkeley DB returns errno values or its own negative codes. */
int
index_db_error(int ret)
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
	snprintf(index_last_db_error, sizeof index_last_db_error, "%s",
	    db_strerror(ret));
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

uint32_t
index_get_u32(const unsigned char *p)
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

uint64_t
index_get_u64(const unsigned char *p)
{
	return (uint64_t)index_get_u32(p) << 32 | index_get_u32(p + 4);
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
	e->pack = index_get_u32(rec);
	e->codec = (enum dos_codec)rec[4];
	e->offset = index_get_u64(rec + 8);
	e->stored_size = index_get_u64(rec + 16);
	e->raw_size = index_get_u64(rec + 24);
	e->member = 0;
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
 * Format 2, four varints: pack * 4 + codec; offset; stored size; and raw
 * less stored size, zigzagged (0 for a raw object, small when a
 * compressed one is).  A 150-byte raw object in a pack of 4 GiB takes 9
 * bytes: 1 for a pack number below 32, 5 for an offset, 2 and 1.  A
 * member of a group entry has codec 3 (which dos before groups rejects)
 * and its member number and raw size instead of the sizes.
 */
#define RECORD2_MEMBER 3

static size_t
encode_record2(unsigned char *rec, const struct dos_index_entry *e)
{
	uint64_t grown = e->raw_size - e->stored_size;
	unsigned char *p = rec;

	if (e->member != 0) {
		p = put_varint(p, (uint64_t)e->pack << 2 | RECORD2_MEMBER);
		p = put_varint(p, e->offset);
		p = put_varint(p, e->member - 1);
		p = put_varint(p, e->raw_size);
		return (size_t)(p - rec);
	}
	p = put_varint(p, (uint64_t)e->pack << 2 | e->codec);
	p = put_varint(p, e->offset);
	p = put_varint(p, e->stored_size);
	p = put_varint(p, grown <= INT64_MAX ? grown << 1 : ~grown << 1 | 1);
	return (size_t)(p - rec);
}

static int
decode_record2(const unsigned char *rec, size_t len, struct dos_index_entry *e)
{
	const unsigned char *p = rec, *end = rec + len;
	uint64_t packcodec, third, fourth;

	if (get_varint(&p, end, &packcodec) < 0 ||
	    packcodec >> 2 > UINT32_MAX ||
	    get_varint(&p, end, &e->offset) < 0 ||
	    get_varint(&p, end, &third) < 0 ||
	    get_varint(&p, end, &fourth) < 0 || p != end)
		return DOS_ECORRUPT;
	e->pack = (uint32_t)(packcodec >> 2);
	if ((packcodec & 3) == RECORD2_MEMBER) {
		if (third >= DOS_GROUP_MEMBERS_MAX ||
		    fourth > DOS_GROUP_RAW_MAX)
			return DOS_ECORRUPT;
		e->codec = DOS_CODEC_NONE;
		e->member = (uint32_t)third + 1;
		e->stored_size = 0;
		e->raw_size = fourth;
		return 0;
	}
	e->codec = (enum dos_codec)(packcodec & 3);
	e->member = 0;
	e->stored_size = third;
	e->raw_size = third + (fourth & 1 ? ~(fourth >> 1) : fourth >> 1);
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

int
dos_index_holds_members(const struct dos_index *ix)
{
	return ix->compressed;
}

static size_t
encode_entry(const struct dos_index *ix, unsigned char *rec,
    const struct dos_index_entry *e)
{
	return ix->compressed ? encode_record2(rec, e) : encode_record1(rec, e);
}

int
index_decode_entry(const struct dos_index *ix, const unsigned char *rec,
    size_t len, struct dos_index_entry *e)
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
int
index_compare_keys(const unsigned char *a, size_t alen, const unsigned char *b,
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
	return index_compare_keys(a->data, a->size, b->data, b->size);
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
		return index_db_error(ret);
	(*dbp)->set_errcall(*dbp, index_remember_error);
	if (strcmp(name, "objects.db") == 0)
		(*dbp)->set_bt_compare(*dbp, compare_ids);
	if (compressed && ((ret = (*dbp)->set_bt_compress(*dbp, NULL,
	    NULL)) != 0 || (ret = (*dbp)->set_pagesize(*dbp,
	    OBJECTS_PAGE_SIZE)) != 0 || (ret = (*dbp)->set_bt_minkey(*dbp,
	    OBJECTS_MIN_KEYS)) != 0)) {
		(*dbp)->close(*dbp, 0);
		*dbp = NULL;
		return index_db_error(ret);
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
		return index_db_error(ret);
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
	index_forget_error();
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
		snprintf(index_last_db_error, sizeof index_last_db_error,
		    "DOS_INDEX_LOCKS is not a positive number of locks");
		return DOS_EINDEX;
	}
	if ((ret = db_env_create(&ix->env, 0)) != 0)
		return index_db_error(ret);
	ix->env->set_errcall(ix->env, index_remember_error);
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
	index_forget_error();
	ret = ix->env->open(ix->env, ix->home, flags, 0666);
	if (ret != 0) {
		ix->env->close(ix->env, 0);
		ix->env = NULL;
		/*
		 * Creating or recovering the environment failed (a full disk):
		 * not a recovery by another process, but what Berkeley DB said.
		 */
		if (ret == DB_RUNRECOVERY && index_last_db_error[0] != '\0')
			return DOS_EINDEX;
		return index_db_error(ret);
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
			snprintf(index_last_db_error,
			    sizeof index_last_db_error,
			    "refusing 'index/DB_CONFIG', which would configure "
			    "the index");
			rc = DOS_EINDEX;
		} else if (e->d_type == DT_LNK || (e->d_type == DT_UNKNOWN &&
		    fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(sb.st_mode))) {
			snprintf(index_last_db_error,
			    sizeof index_last_db_error,
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
int
index_open_if_created(struct dos_index *ix)
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
void
index_entry_dbts(DBT *key, DBT *val, unsigned char *id, unsigned char *rec,
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
int
index_read_entry(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e, u_int32_t flags)
{
	unsigned char rec[RECORD_MAX], id[DOS_RAWSZ];
	DBT key, val;
	int ret;

	if (ix->txn != NULL || ix->env == NULL)
		flags = 0;
	index_entry_dbts(&key, &val, id, rec, oid);
	ret = ix->objects->get(ix->objects, ix->txn, &key, &val, flags);
	if (ret != 0)
		return index_db_error(ret);
	return index_decode_entry(ix, rec, val.size, e);
}

static int
get_entry(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e, u_int32_t flags)
{
	int rc, tries;

	if ((rc = index_open_if_created(ix)) < 0)
		return rc;
	if (ix->objects == NULL)
		return DOS_ENOTFOUND;
	index_forget_error();
	for (tries = 1; ; tries++) {
		rc = index_read_entry(ix, oid, e, flags);
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
int
index_confirm_absent(struct dos_index *ix, const struct dos_oid *oid,
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
	return index_confirm_absent(ix, oid, e,
	    get_entry(ix, oid, e, DB_READ_UNCOMMITTED));
}

int
dos_index_get_as_writer(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e)
{
	return get_entry(ix, oid, e, DB_READ_UNCOMMITTED);
}

void
dos_index_share(struct dos_index *ix, int shared)
{
	ix->shared = shared;
}

int
dos_index_get_beside(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e)
{
	unsigned char rec[RECORD_MAX], id[DOS_RAWSZ];
	DBT key, val;
	int ret;

	if (ix->objects == NULL)
		return DOS_ENOTFOUND;
	index_entry_dbts(&key, &val, id, rec, oid);
	ret = ix->objects->get(ix->objects, NULL, &key, &val,
	    ix->env != NULL ? DB_READ_UNCOMMITTED : 0);
	if (ret != 0)
		return index_db_error(ret);
	return index_decode_entry(ix, rec, val.size, e);
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
	index_forget_error();
	ix->txn_records = 0;
	ret = ix->env->txn_begin(ix->env, NULL, &ix->txn, 0);
	if (ret == DB_RUNRECOVERY && !ix->shared && dos_index_reopen(ix) == 0)
		ret = ix->env->txn_begin(ix->env, NULL, &ix->txn, 0);
	return ret == 0 ? 0 : index_db_error(ret);
}

/* n more records for the transaction, within what the lock table holds. */
static int
count_records(struct dos_index *ix, size_t n)
{
	if (n > DOS_INDEX_TXN_RECORDS - ix->txn_records) {
		snprintf(index_last_db_error, sizeof index_last_db_error,
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
	return index_db_error(ix->objects->put(ix->objects, ix->txn, &key, &val,
	    0));
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
	rc = p == NULL ? DOS_EINVAL : index_db_error(ix->objects->put(
	    ix->objects, ix->txn, &bulk, &unused, DB_MULTIPLE_KEY));
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
	index_forget_error();
	if ((ret = db_create(&ix->objects, NULL, 0)) != 0) {
		rc = index_db_error(ret);
		goto fail;
	}
	ix->objects->set_errcall(ix->objects, index_remember_error);
	ix->objects->set_bt_compare(ix->objects, compare_ids);
	if ((ret = ix->objects->set_bt_compress(ix->objects, NULL,
	    NULL)) != 0 || (ret = ix->objects->set_pagesize(ix->objects,
	    OBJECTS_PAGE_SIZE)) != 0 || (ret = ix->objects->set_bt_minkey(
	    ix->objects, OBJECTS_MIN_KEYS)) != 0 ||
	    (ret = ix->objects->set_cachesize(ix->objects, 0,
	    BUILD_CACHE_BYTES, 1)) != 0 ||
	    (ret = ix->objects->open(ix->objects, NULL, path, NULL, DB_BTREE,
	    DB_CREATE | DB_EXCL, 0666)) != 0) {
		rc = index_db_error(ret);
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
		rc = index_db_error(ret);
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
	return index_db_error(ix->objects->del(ix->objects, ix->txn, &key, 0));
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
	return index_db_error(ix->packs->put(ix->packs, ix->txn, &key, &val,
	    0));
}

int
dos_index_get_pack_length(struct dos_index *ix, uint32_t pack,
    uint64_t *length)
{
	unsigned char k[4], v[8];
	DBT key, val;
	int ret, rc, tries;

	if ((rc = index_open_if_created(ix)) < 0)
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
	index_forget_error();
	for (tries = 1; (ret = ix->packs->get(ix->packs, ix->txn, &key, &val,
	    0)) != 0; tries++) {
		rc = index_db_error(ret);
		if (!read_again(ix, &rc, tries))
			return rc;
	}
	if (val.size != sizeof v)
		return DOS_ECORRUPT;
	*length = index_get_u64(v);
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
	return index_db_error(ix->packs->del(ix->packs, ix->txn, &key, 0));
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
		return index_db_error(ret);
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
	index_forget_error();
	for (pass = 0; pass < 2; pass++) {
		memset(&c, 0, sizeof c);
		c.compact_fillpercent = 100;
		ret = ix->objects->compact(ix->objects, NULL, NULL, NULL, &c,
		    DB_FREE_SPACE, NULL);
		if (ret != 0)
			return index_db_error(ret);
	}
	ix->env->txn_checkpoint(ix->env, 0, 0, 0);
	return 0;
}
