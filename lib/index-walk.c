/*
 * index-walk.c: the page walk of a sorted lookup's pass, which reads
 * objects.db's B-tree pages itself.  Apart from the rest of the index
 * because it alone reads Berkeley DB's page format, not its API.
 */
#include <string.h>

#include <db.h>

#include "index-int.h"

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
 * committed (index_confirm_absent), as for a cursor's uncommitted reads.
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
		return ret == DB_PAGE_NOTFOUND ? 1 : index_db_error(ret);
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
		return index_db_error(ret);
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
			if (index_compare_keys(key, len, id, DOS_RAWSZ) <= 0)
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
		if (index_compare_keys(k, klen, id, DOS_RAWSZ) <= 0)
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
	    index_compare_keys(id, DOS_RAWSZ, w->bound, w->bound_len) >= 0)
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
int
index_walk_pass(struct dos_index *ix, const struct dos_oid *oids, size_t n,
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
			rc = index_decode_entry(ix, rec, len, &entries[i]);
		else if (rc == 1) {
			page_walk_release(&w);
			rc = index_read_entry(ix, &oids[i], &entries[i],
			    DB_READ_UNCOMMITTED);
		}
		if (rc < 0 && rc != DOS_ENOTFOUND)
			break;
		found[i] = rc == 0;
	}
	page_walk_release(&w);
	return rc == DOS_ENOTFOUND ? 0 : rc;
}
