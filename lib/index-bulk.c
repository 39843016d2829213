/*
 * index-bulk.c: the reads of many records of objects.db at once: sorted
 * lookups (dos_index_get_sorted), in passes of a page walk or of a
 * cursor reading in bulk, and walks in id order (dos_index_walk).  Apart
 * from index.c, which reads one record at a time.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <db.h>

#include "index-int.h"

/* Keys read per cursor visit by dos_index_walk. */
#define WALK_CHUNK 1024
/*
 * Keys read by the first visit of a walk of a prefix: most prefixes
 * (the ids a pack entry starts) name one object, and a visit costs what
 * it reads.
 */
#define PREFIX_CHUNK 4

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
	return ret == 0 ? 0 : index_db_error(ret);
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
		return index_db_error(ret);
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
	return index_decode_entry(b->ix, b->rec, b->rec_len, e);
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
		index_entry_dbts(&key, &val, id, rec, &oids[i]);
		ret = b->cur->get(b->cur, &key, &val, DB_SET);
		if (ret != 0 && ret != DB_NOTFOUND)
			return index_db_error(ret);
		if ((found[i] = ret == 0) &&
		    index_decode_entry(b->ix, rec, val.size, &entries[i]) < 0)
			return DOS_ECORRUPT;
	}
	return 0;
}

/*
 * One pass of dos_index_get_sorted: a page walk (index_walk_pass), or, inside
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
		return index_walk_pass(ix, oids, n, entries, found);
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

	if ((rc = index_open_if_created(ix)) < 0)
		return rc;
	if (ix->objects == NULL) {
		memset(found, 0, n);
		return 0;
	}
	if ((bufs = malloc(2 * BULK_BYTES)) == NULL)
		return DOS_ENOMEM;
	index_forget_error();
	for (tries = 1; ; tries++) {
		rc = get_sorted_split(ix, oids, n, entries, found, bufs);
		if (!dos_index_again(ix, &rc, tries))
			break;
	}
	free(bufs);
	for (i = 0; i < n && rc == 0; i++)
		if (!found[i]) {
			rc = index_confirm_absent(ix, &oids[i], &entries[i],
			    DOS_ENOTFOUND);
			found[i] = rc == 0;
			if (rc == DOS_ENOTFOUND)
				rc = 0;
		}
	return rc;
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

	if ((rc = index_open_if_created(ix)) < 0)
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
	index_forget_error();
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
