/*
 * index-int.h: what the files of the index share, and only they include:
 * the handle (struct dos_index), Berkeley DB's errors, the record format,
 * and the functions one file of the index calls in another.  The rest of
 * lib/ sees only the dos_index_* functions of dos.h.
 *
 *   index.c         the environment (opening, recovery, limits), the
 *                   records, one-by-one reads and puts, transactions
 *   index-bulk.c    reads of many records: sorted lookups and walks
 *   index-walk.c    the page walk of a sorted lookup's pass
 *   index-backup.c  the index's hot copy for a backup
 */
#ifndef DOS_INDEX_INT_H
#define DOS_INDEX_INT_H

#include <pthread.h>

#include <db.h>

#include "dos.h"

/*
 * Levels of objects.db above its leaves, up to 10^9 objects (see
 * INDEX_LOCKS in index.c).
 */
#define INDEX_MAX_DEPTH 5
/* The longest record, of format 2: four varints (see encode_record2). */
#define VARINT_MAX 10
#define RECORD_MAX DOS_INDEX_ENTRY_MAX	/* 4 * VARINT_MAX */
/* Tries of a read while another process recovers or holds a lock. */
#define GET_TRIES 3

struct dos_index {
	DB_ENV *env;		/* NULL when opened read-only without it */
	DB *objects, *packs;
	DB_TXN *txn;
	size_t txn_records;	/* records put or deleted by txn */
	int compressed;		/* objects.db is, and holds format 2 records */
	char *home;
	int dirfd;		/* the container's, borrowed */
	int writable;
	/*
	 * Another thread reads through the handles beside this one's
	 * transaction (dos_index_share): they are not reopened meanwhile.
	 */
	int shared;
	struct dos_index *next;	/* in open_indexes */
	/* The thread of expire_locks while env is open; stop ends it. */
	pthread_t expiry;
	pthread_mutex_t expiry_mu;
	pthread_cond_t expiry_cv;
	int expiry_running, expiry_stop;
};

/* ---- lib/index.c */

/* Berkeley DB's first message of the current operation. */
extern char index_last_db_error[512];
void index_remember_error(const DB_ENV *env, const char *prefix,
    const char *msg);
void index_forget_error(void);
int index_db_error(int ret);
uint32_t index_get_u32(const unsigned char *p);
uint64_t index_get_u64(const unsigned char *p);
int index_decode_entry(const struct dos_index *ix, const unsigned char *rec,
    size_t len, struct dos_index_entry *e);
int index_compare_keys(const unsigned char *a, size_t alen,
    const unsigned char *b, size_t blen);
int index_open_if_created(struct dos_index *ix);
void index_entry_dbts(DBT *key, DBT *val, unsigned char *id,
    unsigned char *rec, const struct dos_oid *oid);
int index_read_entry(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e, u_int32_t flags);
int index_confirm_absent(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e, int rc);

/* ---- lib/index-walk.c */

int index_walk_pass(struct dos_index *ix, const struct dos_oid *oids,
    size_t n, struct dos_index_entry *entries, unsigned char *found);

#endif
