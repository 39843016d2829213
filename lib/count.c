/*
 * count.c: listing and counting the objects of a container.
 *
 * Counting works from two walks that never look objects up one by one:
 * the loose objects are read from loose/, and the packed ones from one
 * walk of the index.  For garbage, each pack is scanned front to back and
 * its entries are matched against the index records sorted by pack and
 * offset (an external sort, extsort.c, so memory does not grow with their
 * number), so a pack is read sequentially and the index is walked once,
 * in key order.  A storage-order listing sorts the index records the
 * same way, with no scan of the packs at all.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dos.h"

struct loose_item {
	struct dos_oid oid;
	uint64_t size;
};

struct loose_set {
	struct dos_store *st;
	int sizes;		/* stat each object for its size */
	struct loose_item *v;
	size_t nr, alloc;
	dos_object_fn *emit;	/* storage order: hand each out as found */
	void *data;
};

/*
 * Where the index says an object is.  tag holds 32 bits of the id, so
 * that an entry found at the recorded place is known to be that object.
 */
struct loc {
	uint64_t offset;
	uint32_t pack;
	uint32_t tag;
};

/* The locs by pack and offset, read one ahead: has is 1 while next is. */
struct locs {
	struct dos_sort *sort;
	struct loc next;
	int has;
	/* The last pack not in packs/ that was looked for on the remotes. */
	int64_t away;
	int away_remote;
};

struct index_walk {
	struct dos_sort *locs;	/* NULL when not wanted */
	const struct loose_set *loose;
	size_t next;		/* first loose id not yet passed */
	struct dos_counts *c;	/* NULL when listing */
	unsigned flags;
	dos_object_fn *emit;
	void *data;
};

static int
cmp_loose(const void *a, const void *b)
{
	return dos_oid_cmp(&((const struct loose_item *)a)->oid,
	    &((const struct loose_item *)b)->oid);
}

static int
cmp_loc(const void *a, const void *b)
{
	const struct loc *x = a, *y = b;

	return dos_cmp_place(x->pack, x->offset, y->pack, y->offset);
}

static uint32_t
oid_tag(const struct dos_oid *oid)
{
	return (uint32_t)oid->hash[0] << 24 | (uint32_t)oid->hash[1] << 16 |
	    (uint32_t)oid->hash[2] << 8 | oid->hash[3];
}

static void
loose_info(struct dos_object_info *info, const struct loose_item *it)
{
	memset(info, 0, sizeof *info);
	info->oid = it->oid;
	info->size = info->disk_size = info->stored_size = it->size;
	info->storage = DOS_STORAGE_LOOSE;
	info->codec = DOS_CODEC_NONE;
}

static void
packed_info(struct dos_object_info *info, const struct dos_oid *oid,
    const struct dos_index_entry *e)
{
	memset(info, 0, sizeof *info);
	info->oid = *oid;
	dos_object_info_set_packed(info, e);
}

static int
add_loose(const struct dos_oid *oid, int dirfd, const char *name, void *data)
{
	struct loose_set *l = data;
	struct dos_object_info info;
	struct loose_item *grown;
	uint64_t size = 0;
	int rc;

	if (l->sizes && (rc = dos_loose_stat(l->st, oid, &size)) < 0)
		/* Gone since readdir: packed meanwhile, the index has it. */
		return rc == DOS_ENOTFOUND ? 0 : rc;
	if ((grown = dos_grow(l->v, l->nr, &l->alloc, sizeof *grown, 1024)) == NULL)
		return DOS_ENOMEM;
	l->v = grown;
	l->v[l->nr].oid = *oid;
	l->v[l->nr].size = size;
	if (l->emit != NULL) {
		loose_info(&info, &l->v[l->nr]);
		if ((rc = l->emit(&info, l->data)) != 0)
			return rc;
	}
	l->nr++;
	return 0;
}

/* The loose objects, in directory order (handed to emit if set). */
static int
read_loose(struct dos_store *st, int sizes, dos_object_fn *emit, void *data,
    struct loose_set *l)
{
	int rc;

	memset(l, 0, sizeof *l);
	l->st = st;
	l->sizes = sizes;
	l->emit = emit;
	l->data = data;
	rc = dos_loose_for_each(st, "", 0, add_loose, l);
	l->emit = NULL;
	if (rc == 0 && l->nr > 1)
		qsort(l->v, l->nr, sizeof *l->v, cmp_loose);
	return rc;
}

static int
is_loose(const struct loose_set *l, const struct dos_oid *oid)
{
	struct loose_item key;

	key.oid = *oid;
	return l->nr > 0 &&
	    bsearch(&key, l->v, l->nr, sizeof *l->v, cmp_loose) != NULL;
}

/*
 * One indexed object, in id order.  The sorted loose ids are merged in
 * on the way: counted as also packed, or (in an id-order listing) handed
 * out before it.
 */
static int
walk_one(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	struct index_walk *w = data;
	const struct loose_set *l = w->loose;
	struct dos_object_info info;
	struct loc loc;
	int cmp = 1, rc;

	while (w->next < l->nr &&
	    (oid == NULL || (cmp = dos_oid_cmp(&l->v[w->next].oid, oid)) <= 0)) {
		if (w->emit != NULL && (w->flags & DOS_ITER_LOOSE)) {
			loose_info(&info, &l->v[w->next]);
			if ((rc = w->emit(&info, w->data)) != 0)
				return rc;
		}
		w->next++;
		if (cmp == 0)
			break;
	}
	if (oid == NULL)
		return 0;
	if (w->c != NULL) {
		w->c->packed++;
		w->c->size_packed_raw += e->raw_size;
		w->c->size_packed_stored += e->stored_size;
		if (cmp == 0)
			w->c->prune_packable++;
	}
	if (w->locs != NULL) {
		loc = (struct loc){ e->offset, e->pack, oid_tag(oid) };
		if ((rc = dos_sort_add(w->locs, &loc)) < 0)
			return rc;
	}
	/* A loose copy already went out in its place, unless only packed. */
	if (w->emit != NULL && (w->flags & DOS_ITER_PACKED) &&
	    (cmp != 0 || !(w->flags & DOS_ITER_LOOSE))) {
		packed_info(&info, oid, e);
		return w->emit(&info, w->data);
	}
	return 0;
}

/* Walk the index in id order, then hand out the loose ids left over. */
static int
walk_index(struct dos_index *ix, struct index_walk *w)
{
	int rc;

	if ((rc = dos_index_walk(ix, "", 0, walk_one, w)) != 0)
		return rc;
	return walk_one(NULL, NULL, w);
}

/* What the scan of one pack found, beyond its entries. */
struct pack_scan {
	uint64_t size;		/* of the file */
	uint64_t tail;		/* bytes of a torn tail */
	int damaged;		/* the scan stopped before the end */
};

static int
next_loc(struct locs *l)
{
	l->has = dos_sort_next(l->sort, &l->next);
	return l->has < 0 ? l->has : 0;
}

/*
 * Whether pack, not in packs/, was evicted to a remote: counted there
 * once, with the length its record gives.
 */
static int
evicted(struct dos_store *st, struct locs *l, uint32_t pack,
    struct dos_counts *c)
{
	struct dos_remote_record rec;
	int rc;

	if (l->away == (int64_t)pack)
		return l->away_remote;
	rc = dos_remote_pack_record(st, pack, &rec);
	if (rc < 0 && rc != DOS_ENOTFOUND)
		return rc;
	l->away = pack;
	l->away_remote = rc == 0;
	if (rc == 0) {
		c->remote_packs++;
		c->size_remote += rec.length;
	}
	return l->away_remote;
}

/*
 * Pass the locs of the packs before pack (limit: all that are left): those
 * of a pack that is not there count as remote, or else as missing; those
 * of a pack whose scan stopped short are simply passed.
 */
static int
pass_locs(struct dos_store *st, struct locs *l, uint64_t limit,
    const uint32_t *packs, size_t npacks, struct dos_counts *c)
{
	int rc;

	while (l->has && l->next.pack < limit) {
		if (dos_pack_list_find(packs, npacks, l->next.pack) == NULL) {
			if ((rc = evicted(st, l, l->next.pack, c)) < 0)
				return rc;
			if (rc)
				c->remote++;
			else
				c->missing++;
		}
		if ((rc = next_loc(l)) < 0)
			return rc;
	}
	return 0;
}

/*
 * Count the garbage of pack: entries the index does not point at (the
 * index points at an entry when the next of the sorted locs is found
 * there) and a torn tail.  A pack the index has
 * no length for counts as committed up to its header only, so that a
 * pack being started or one whose index was lost is never reported as
 * damaged.
 */
static int
scan_pack(struct dos_store *st, struct dos_index *ix, uint32_t pack,
    struct locs *l, unsigned char *win, struct dos_counts *c,
    struct pack_scan *res)
{
	struct dos_pack_scan s;
	uint64_t committed;
	struct stat sb;
	unsigned version;
	int rc, fd, live;

	memset(res, 0, sizeof *res);
	if ((rc = dos_store_pack_fd(st, pack, &fd)) < 0 || fstat(fd, &sb) < 0) {
		res->damaged = 1;
		return rc == DOS_ENOTFOUND || rc == 0 ? 0 : rc;
	}
	res->size = (uint64_t)sb.st_size;
	rc = dos_index_get_pack_length(ix, pack, &committed);
	if (rc == DOS_ENOTFOUND)
		committed = DOS_PACK_HEADER_SIZE;
	else if (rc < 0)
		return rc;
	if (dos_pack_header_version(fd, &version) < 0) {
		res->damaged = 1;
		return 0;
	}
	dos_pack_scan_begin(&s, fd, res->size, committed, win,
	    DOS_PACK_SCAN_WINDOW);
	while ((rc = dos_pack_scan_next(&s)) > 0) {
		if (s.verdict == DOS_PACK_TORN) {
			res->tail = res->size - s.offset;
			break;
		}
		if (s.verdict == DOS_PACK_DAMAGED) {
			res->damaged = 1;
			break;
		}
		while (l->has && l->next.pack == pack &&
		    l->next.offset < s.offset)
			if ((rc = next_loc(l)) < 0)
				return rc;
		/* Several records may name one place; one of it is enough. */
		live = 0;
		while (l->has && l->next.pack == pack &&
		    l->next.offset == s.offset) {
			/* Records of members point at their group. */
			live |= l->next.tag == oid_tag(&s.entry.oid) ||
			    (s.entry.flags & DOS_ENTRY_GROUP);
			if ((rc = next_loc(l)) < 0)
				return rc;
		}
		if (!live || (s.entry.flags & DOS_ENTRY_TOMBSTONE)) {
			c->garbage++;
			c->size_garbage += s.entry.header_size +
			    s.entry.stored_size;
		}
	}
	return rc < 0 ? rc : 0;
}

/*
 * Scan every pack, in the order of the locs; the locs of packs that are
 * not there count as remote or missing.
 */
static int
scan_packs(struct dos_store *st, struct dos_index *ix, struct dos_sort *sort,
    struct dos_counts *c)
{
	struct locs l = { sort, { 0, 0, 0 }, 0, -1, 0 };
	struct pack_scan res;
	unsigned char *win;
	uint32_t *packs;
	size_t npacks, i;
	int rc;

	if ((rc = dos_pack_list(st, &packs, &npacks)) < 0)
		return rc;
	if ((win = malloc(DOS_PACK_SCAN_WINDOW)) == NULL) {
		free(packs);
		return DOS_ENOMEM;
	}
	rc = next_loc(&l);
	for (i = 0; i < npacks && rc == 0; i++) {
		if ((rc = pass_locs(st, &l, packs[i], packs, npacks, c)) < 0 ||
		    (rc = scan_pack(st, ix, packs[i], &l, win, c, &res)) != 0)
			continue;
		c->packs++;
		c->size_pack += res.size;
		c->damaged_packs += res.damaged;
		if (res.tail > 0) {
			c->garbage++;
			c->size_garbage += res.tail;
		}
	}
	if (rc == 0)
		rc = pass_locs(st, &l, (uint64_t)UINT32_MAX + 1, packs, npacks,
		    c);
	free(win);
	free(packs);
	return rc;
}

/* Bytes the files of index/ take on the disk. */
static int
index_size(struct dos_store *st, uint64_t *size)
{
	struct dirent *e;
	struct stat sb;
	DIR *d;
	int rc;

	*size = 0;
	if ((rc = dos_opendir(st->dirfd, "index", &d)) < 0 || d == NULL)
		return rc;
	while ((errno = 0, e = readdir(d)) != NULL) {
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)	/* a log file removed meanwhile */
				continue;
			rc = DOS_EIO;
			break;
		}
		if (S_ISREG(sb.st_mode))
			*size += (uint64_t)sb.st_blocks * 512;
	}
	if (rc == 0 && errno != 0)
		rc = DOS_EIO;
	closedir(d);
	return rc;
}

int
dos_count_objects(struct dos_store *st, struct dos_counts *c)
{
	struct index_walk w;
	struct loose_set l;
	struct dos_index *ix;
	size_t i;
	int rc;

	memset(c, 0, sizeof *c);
	memset(&w, 0, sizeof w);
	/* Loose first: a packer indexes an object before it unlinks it. */
	if ((rc = read_loose(st, 1, NULL, NULL, &l)) < 0)
		goto out;
	for (i = 0; i < l.nr; i++)
		c->size_loose += l.v[i].size;
	c->loose = l.nr;
	w.loose = &l;
	w.c = c;
	if ((rc = dos_sort_open(st, sizeof(struct loc), cmp_loc,
	    DOS_SORT_BUDGET, &w.locs)) < 0 ||
	    (rc = dos_store_index(st, 0, &ix)) < 0 ||
	    (rc = walk_index(ix, &w)) < 0 ||
	    (rc = dos_sort_finish(w.locs)) < 0 ||
	    (rc = scan_packs(st, ix, w.locs, c)) < 0)
		goto out;
	rc = index_size(st, &c->size_index);
out:
	dos_sort_close(w.locs);
	free(l.v);
	return rc;
}

/* ---- listing ---- */

/* An indexed object, as a storage-order listing sorts them. */
struct located {
	struct dos_index_entry e;
	struct dos_oid oid;
};

struct located_walk {
	struct dos_sort *sort;
	const struct loose_set *loose;	/* listed already */
};

static int
cmp_located(const void *a, const void *b)
{
	const struct dos_index_entry *x = &((const struct located *)a)->e;
	const struct dos_index_entry *y = &((const struct located *)b)->e;

	return dos_cmp_place(x->pack, x->offset, y->pack, y->offset);
}

static int
add_located(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	const struct located_walk *w = data;
	struct located r;

	/* A loose copy went out in its place, as readers find it. */
	if (is_loose(w->loose, oid))
		return 0;
	memset(&r, 0, sizeof r);	/* the sort writes the padding too */
	r.e = *e;
	r.oid = *oid;
	return dos_sort_add(w->sort, &r);
}

/*
 * Packed objects in storage order: the index walked once in key order,
 * its records sorted by pack and offset on disk (extsort.c), so that
 * readers of the listing read each pack front to back, and no object is
 * looked up one by one (which at 10^7 objects is random reads of the
 * index, 20 times slower).  Where the index places an object is where
 * readers find it: one a repack moves meanwhile is found by its id.
 */
static int
list_packs_in_order(struct dos_store *st, const struct loose_set *l,
    dos_object_fn *fn, void *data)
{
	struct located_walk w = { NULL, l };
	struct dos_object_info info;
	struct located r;
	struct dos_index *ix;
	int rc;

	if ((rc = dos_store_index(st, 0, &ix)) < 0 ||
	    (rc = dos_sort_open(st, sizeof r, cmp_located, DOS_SORT_BUDGET,
	    &w.sort)) < 0)
		return rc;
	if ((rc = dos_index_walk(ix, "", 0, add_located, &w)) == 0 &&
	    (rc = dos_sort_finish(w.sort)) == 0)
		while ((rc = dos_sort_next(w.sort, &r)) > 0) {
			packed_info(&info, &r.oid, &r.e);
			if ((rc = fn(&info, data)) != 0)
				break;
		}
	dos_sort_close(w.sort);
	return rc;
}

int
dos_for_each_object(struct dos_store *st, unsigned flags, dos_object_fn *fn,
    void *data)
{
	struct index_walk w;
	struct loose_set l;
	struct dos_index *ix;
	unsigned want = flags & (DOS_ITER_LOOSE | DOS_ITER_PACKED);
	int rc;

	if (want == 0)
		flags |= DOS_ITER_LOOSE | DOS_ITER_PACKED;
	memset(&w, 0, sizeof w);
	memset(&l, 0, sizeof l);
	w.loose = &l;
	w.flags = flags;
	w.emit = fn;
	w.data = data;
	/*
	 * Storage order hands loose objects out as readdir finds them; only-
	 * packed listings need no loose ids: nothing to merge or to skip.
	 */
	if ((flags & DOS_ITER_LOOSE) &&
	    (rc = read_loose(st, (flags & DOS_ITER_SIZES) != 0,
	    (flags & DOS_ITER_UNORDERED) ? fn : NULL, data, &l)) != 0)
		goto out;
	if (!(flags & DOS_ITER_PACKED)) {
		rc = (flags & DOS_ITER_UNORDERED) ? 0 : walk_one(NULL, NULL, &w);
		goto out;
	}
	if (flags & DOS_ITER_UNORDERED)
		rc = list_packs_in_order(st, &l, fn, data);
	else if ((rc = dos_store_index(st, 0, &ix)) == 0)
		rc = walk_index(ix, &w);
out:
	free(l.v);
	return rc;
}

void
dos_count_fields(const struct dos_counts *c,
    struct dos_count_field f[DOS_COUNT_FIELDS])
{
	const struct dos_count_field all[DOS_COUNT_FIELDS] = {
		{ "loose", "loose", c->loose, 0 },
		{ "size-loose", "size_loose", c->size_loose, 1 },
		{ "packed", "packed", c->packed, 0 },
		{ "packs", "packs", c->packs, 0 },
		{ "size-pack", "size_pack", c->size_pack, 1 },
		{ "size-packed-raw", "size_packed_raw", c->size_packed_raw, 1 },
		{ "size-index", "size_index", c->size_index, 1 },
		{ "prune-packable", "prune_packable", c->prune_packable, 0 },
		{ "garbage", "garbage", c->garbage, 0 },
		{ "size-garbage", "size_garbage", c->size_garbage, 1 },
	};

	memcpy(f, all, sizeof all);
}
