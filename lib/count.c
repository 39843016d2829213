/*
 * count.c: listing and counting the objects of a container.
 *
 * Counting works from two walks that never look objects up one by one:
 * the loose objects are read from loose/, and the packed ones from one
 * walk of the index.  For garbage, each pack is scanned front to back and
 * its entries are matched against the index records sorted by pack and
 * offset (an external sort, extsort.c, so memory does not grow with their
 * number), so a pack is read sequentially and the index is walked once,
 * in key order.  A storage-order listing instead looks each entry up as the
 * scan meets it: it keeps nothing per packed object, and it sees where a
 * repack running meanwhile moved an object.
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

	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return 0;
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
 * Pass the locs of the packs before pack (limit: all that are left): those
 * of a pack that is not there count as missing; those of a pack whose
 * scan stopped short are simply passed.
 */
static int
pass_locs(struct locs *l, uint64_t limit, const uint32_t *packs,
    size_t npacks, struct dos_counts *c)
{
	int rc;

	while (l->has && l->next.pack < limit) {
		if (dos_pack_list_find(packs, npacks, l->next.pack) == NULL)
			c->missing++;
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
			live |= l->next.tag == oid_tag(&s.entry.oid);
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
 * not there count as missing.
 */
static int
scan_packs(struct dos_store *st, struct dos_index *ix, struct dos_sort *sort,
    struct dos_counts *c)
{
	struct locs l = { sort, { 0, 0, 0 }, 0 };
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
		if ((rc = pass_locs(&l, packs[i], packs, npacks, c)) < 0 ||
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
		rc = pass_locs(&l, (uint64_t)UINT32_MAX + 1, packs, npacks, c);
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

/* Where a storage-order scan of a pack had to stop. */
struct damage {
	uint32_t pack;
	uint64_t offset;
};

struct pack_listing {
	struct damage *damaged;	/* room for one per pack */
	size_t ndamaged;
	const uint32_t *packs;	/* the packs that exist, ascending */
	size_t npacks;
	const struct loose_set *loose;	/* listed already */
	struct dos_oid_list moved;	/* listed in a pack they left */
	dos_object_fn *fn;
	void *data;
};

static int
cmp_oid(const void *a, const void *b)
{
	return dos_oid_cmp(a, b);
}

/*
 * The live entry at offset of pack, unless listed elsewhere: the index
 * points at another copy, or it is loose.  Objects only move into newer
 * packs (a repack's, a writer's); one the index now places in a pack
 * made after the list of packs was taken is listed where it is met, else
 * it would be listed nowhere, and remembered so as not to be listed again.
 */
static int
list_entry(struct dos_index *ix, struct pack_listing *p, uint32_t pack,
    uint64_t offset, const struct dos_pack_entry *pe)
{
	struct dos_index_entry e;
	struct dos_object_info info;
	struct dos_oid whole;
	const struct dos_oid *oid = &pe->oid;
	int rc;

	/*
	 * An entry with part of its id is listed only where it is indexed;
	 * DOS_ENOTFOUND says it is not (dead, or damaged).
	 */
	if (pe->id_size < DOS_RAWSZ) {
		if ((rc = dos_pack_entry_id(ix, pack, offset, pe, &whole,
		    &e)) < 0)
			return rc;
		oid = &whole;
	} else {
		rc = dos_index_get(ix, oid, &e);
	}
	if (rc == DOS_ENOTFOUND)
		return 0;	/* deleted */
	if (rc < 0)
		return rc;
	if ((e.pack == pack && e.offset != offset) || (e.pack != pack &&
	    dos_pack_list_find(p->packs, p->npacks, e.pack) != NULL) ||
	    is_loose(p->loose, oid))
		return 0;
	if (e.pack != pack && (rc = dos_oid_list_push(&p->moved, oid)) < 0)
		return rc;
	packed_info(&info, oid, &e);
	return p->fn(&info, p->data);
}

/*
 * The live entries of pack front to back, up to its committed length (to
 * its end without one); where the scan stops short, at damage or at the
 * end of a pack shorter than its committed length, is remembered.
 */
static int
list_pack(struct dos_store *st, struct dos_index *ix, struct pack_listing *p,
    uint32_t pack, unsigned char *win)
{
	struct dos_pack_scan s;
	uint64_t committed, limit;
	struct stat sb;
	int rc, fd;

	if (dos_store_pack_fd(st, pack, &fd) < 0 || fstat(fd, &sb) < 0) {
		p->damaged[p->ndamaged++] = (struct damage){ pack, 0 };
		return 0;
	}
	if (dos_index_get_pack_length(ix, pack, &committed) < 0)
		committed = (uint64_t)sb.st_size;
	limit = committed < (uint64_t)sb.st_size ? committed :
	    (uint64_t)sb.st_size;
	dos_pack_scan_begin(&s, fd, limit, committed, win,
	    DOS_PACK_SCAN_WINDOW);
	while ((rc = dos_pack_scan_next(&s)) > 0) {
		rc = s.verdict != DOS_PACK_OK ? DOS_ECORRUPT :
		    list_entry(ix, p, pack, s.offset, &s.entry);
		if (rc == DOS_ENOTFOUND && dos_pack_scan_entry_ok(&s))
			continue;
		if (rc == DOS_ENOTFOUND || rc == DOS_ECORRUPT) {
			p->damaged[p->ndamaged++] = (struct damage){ pack, s.offset };
			return 0;
		}
		if (rc != 0)
			return rc;
	}
	return rc;
}

/*
 * Indexed objects the scan could not reach: past damage, or in a pack
 * that is missing or was made since the packs were listed.
 */
static int
list_unreached(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	struct pack_listing *p = data;
	struct dos_object_info info;
	size_t i;
	int scanned;

	scanned = dos_pack_list_find(p->packs, p->npacks, e->pack) != NULL;
	for (i = 0; i < p->ndamaged; i++)
		if (p->damaged[i].pack == e->pack &&
		    e->offset >= p->damaged[i].offset)
			scanned = 0;
	if (scanned || is_loose(p->loose, oid) || (p->moved.nr > 0 &&
	    bsearch(oid, p->moved.oids, p->moved.nr, sizeof *p->moved.oids,
	    cmp_oid) != NULL))
		return 0;
	packed_info(&info, oid, e);
	return p->fn(&info, p->data);
}

/*
 * Packed objects in storage order: the live entries of every pack, read
 * front to back.  A damaged pack is scanned up to the damage; the objects
 * indexed past it are listed afterwards, so a listing never loses them.
 */
static int
list_packs_in_order(struct dos_store *st, const struct loose_set *l,
    dos_object_fn *fn, void *data)
{
	struct pack_listing p;
	struct dos_index *ix;
	unsigned char *win = NULL;
	uint32_t *packs;
	size_t nr, i;
	int rc;

	if ((rc = dos_store_index(st, 0, &ix)) < 0 ||
	    (rc = dos_pack_list(st, &packs, &nr)) < 0)
		return rc;
	p = (struct pack_listing){ .packs = packs, .npacks = nr, .loose = l,
	    .fn = fn, .data = data };
	if ((p.damaged = malloc((nr + 1) * sizeof *p.damaged)) == NULL ||
	    (win = malloc(DOS_PACK_SCAN_WINDOW)) == NULL) {
		rc = DOS_ENOMEM;
		goto out;
	}
	for (i = 0; i < nr && rc == 0; i++)
		rc = list_pack(st, ix, &p, packs[i], win);
	/* Indexed objects of damaged or missing packs come last. */
	if (rc == 0) {
		if (p.moved.nr > 1)
			qsort(p.moved.oids, p.moved.nr, sizeof *p.moved.oids,
			    cmp_oid);
		rc = dos_index_walk(ix, "", 0, list_unreached, &p);
	}
out:
	free(p.moved.oids);
	free(win);
	free(p.damaged);
	free(packs);
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
