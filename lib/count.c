/*
 * count.c: listing and counting the objects of a container.
 *
 * Both work from two walks that never look objects up one by one: the
 * loose objects are read from loose/, and the packed ones from one walk
 * of the index.  Where the packs themselves must be read (storage-order
 * listings, garbage), each pack is scanned front to back and its entries
 * are matched against the index records sorted by pack and offset, so a
 * pack is read sequentially and the index is walked once, in key order.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dos.h"

/* Pack bytes read at a time while scanning entry headers. */
#define SCAN_WINDOW (256 * 1024)

struct loose_item {
	struct dos_oid oid;
	uint64_t size;
};

struct loose_set {
	struct dos_store *st;
	int sizes;		/* stat each object for its size */
	struct loose_item *v;
	size_t nr, alloc;
	dos_list_fn *emit;	/* storage order: hand each out as found */
	void *data;
};

/*
 * Where the index says an object is.  tag holds 31 bits of the id, so
 * that an entry found at the recorded place is known to be that object,
 * and LOC_SEEN once the scan of its pack found it there.
 */
struct loc {
	uint64_t offset;
	uint32_t pack;
	uint32_t tag;
};
#define LOC_SEEN 0x80000000U

struct index_walk {
	struct loc *locs;
	size_t nr, alloc;
	int want_locs;
	const struct loose_set *loose;
	size_t next;		/* first loose id not yet passed */
	struct dos_counts *c;	/* NULL when listing */
	unsigned flags;
	dos_list_fn *emit;
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
	return ((uint32_t)oid->hash[0] << 24 | (uint32_t)oid->hash[1] << 16 |
	    (uint32_t)oid->hash[2] << 8 | oid->hash[3]) & ~LOC_SEEN;
}

static void
loose_info(struct dos_object_info *info, const struct loose_item *it)
{
	memset(info, 0, sizeof *info);
	info->oid = it->oid;
	info->size = info->disk_size = it->size;
	info->storage = DOS_STORAGE_LOOSE;
	info->codec = DOS_CODEC_NONE;
}

static void
packed_info(struct dos_object_info *info, const struct dos_oid *oid,
    const struct dos_index_entry *e)
{
	memset(info, 0, sizeof *info);
	info->oid = *oid;
	info->size = e->raw_size;
	info->disk_size = e->stored_size + DOS_ENTRY_HEADER_SIZE;
	info->storage = DOS_STORAGE_PACKED;
	info->codec = e->codec;
	info->pack = e->pack;
	info->offset = e->offset;
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
read_loose(struct dos_store *st, int sizes, dos_list_fn *emit, void *data,
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
	struct loc *grown;
	int cmp = 1, rc;

	while (w->next < l->nr &&
	    (oid == NULL || (cmp = dos_oid_cmp(&l->v[w->next].oid, oid)) <= 0)) {
		if (w->emit != NULL && (w->flags & DOS_LIST_LOOSE)) {
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
		if (cmp == 0)
			w->c->prune_packable++;
	}
	if (w->want_locs) {
		grown = dos_grow(w->locs, w->nr, &w->alloc, sizeof *grown, 1024);
		if (grown == NULL)
			return DOS_ENOMEM;
		w->locs = grown;
		w->locs[w->nr++] = (struct loc){ e->offset, e->pack, oid_tag(oid) };
	}
	/* A loose copy already went out in its place, unless only packed. */
	if (w->emit != NULL && (w->flags & DOS_LIST_PACKED) &&
	    (cmp != 0 || !(w->flags & DOS_LIST_LOOSE))) {
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

typedef int entry_fn(uint32_t pack, uint64_t offset,
    const struct dos_pack_entry *pe, int live, void *data);

/* Make the 64 bytes at off available at *hdr, reading a window ahead. */
static int
window_get(int fd, unsigned char *win, uint64_t *start, size_t *len,
    uint64_t off, const unsigned char **hdr)
{
	ssize_t n;

	if (off < *start || off + DOS_ENTRY_HEADER_SIZE > *start + *len) {
		do
			n = pread(fd, win, SCAN_WINDOW, (off_t)off);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return DOS_EIO;
		*start = off;
		*len = (size_t)n;
		if (*len < DOS_ENTRY_HEADER_SIZE)
			return DOS_ECORRUPT;
	}
	*hdr = win + (off - *start);
	return 0;
}

/*
 * Scan pack front to back.  fn gets every well-formed entry, live when
 * the index points at it (its loc, among the sorted locs, is marked
 * seen).  Bad bytes past the committed length are a torn tail; before
 * it, damage, where the scan stops.  A pack the index has no length for
 * counts as committed up to its header only, so that a pack being
 * started or one whose index was lost is never reported as damaged.
 */
static int
scan_pack(struct dos_store *st, struct dos_index *ix, uint32_t pack,
    struct loc *locs, size_t nlocs, unsigned char *win, entry_fn *fn,
    void *data, struct pack_scan *res)
{
	const unsigned char *hdr;
	struct dos_pack_entry pe;
	struct loc key = { 0, pack, 0 };
	uint64_t committed, off, wstart = 0;
	size_t i, lo = 0, hi = nlocs, wlen = 0;
	struct stat sb;
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
	if (dos_pack_check_header(fd) < 0) {
		res->damaged = 1;
		return 0;
	}
	/* The first loc of this pack. */
	while (lo < hi) {
		i = lo + (hi - lo) / 2;
		if (cmp_loc(&locs[i], &key) < 0)
			lo = i + 1;
		else
			hi = i;
	}
	i = lo;
	for (off = DOS_PACK_HEADER_SIZE; off < res->size;
	    off += DOS_ENTRY_HEADER_SIZE + pe.stored_size) {
		rc = off + DOS_ENTRY_HEADER_SIZE > res->size ? DOS_ECORRUPT :
		    window_get(fd, win, &wstart, &wlen, off, &hdr);
		if (rc == DOS_EIO)
			return rc;
		if (rc == 0)
			rc = dos_pack_decode_entry(hdr, &pe);
		if (rc == 0 && pe.stored_size > res->size - off -
		    DOS_ENTRY_HEADER_SIZE)
			rc = DOS_ECORRUPT;
		if (rc < 0) {
			if (off >= committed)
				res->tail = res->size - off;
			else
				res->damaged = 1;
			return 0;
		}
		while (i < nlocs && locs[i].pack == pack && locs[i].offset < off)
			i++;
		live = i < nlocs && locs[i].pack == pack &&
		    locs[i].offset == off &&
		    (locs[i].tag & ~LOC_SEEN) == oid_tag(&pe.oid) &&
		    !(pe.flags & DOS_ENTRY_TOMBSTONE);
		if (live)
			locs[i].tag |= LOC_SEEN;
		if ((rc = fn(pack, off, &pe, live, data)) != 0)
			return rc;
	}
	/* A pack that ends before its committed length lost entries. */
	if (off < committed)
		res->damaged = 1;
	return 0;
}

/* Scan every pack; packs (ascending) and their number are kept. */
static int
scan_packs(struct dos_store *st, struct dos_index *ix, struct loc *locs,
    size_t nlocs, entry_fn *fn, void *data, uint32_t **packs, size_t *npacks,
    struct dos_counts *c)
{
	struct pack_scan res;
	unsigned char *win;
	size_t i;
	int rc;

	if ((rc = dos_pack_list(st, packs, npacks)) < 0)
		return rc;
	if ((win = malloc(SCAN_WINDOW)) == NULL)
		return DOS_ENOMEM;
	for (i = 0, rc = 0; i < *npacks && rc == 0; i++) {
		rc = scan_pack(st, ix, (*packs)[i], locs, nlocs, win, fn, data,
		    &res);
		if (rc != 0 || c == NULL)
			continue;
		c->packs++;
		c->size_pack += res.size;
		c->damaged_packs += res.damaged;
		if (res.tail > 0) {
			c->garbage++;
			c->size_garbage += res.tail;
		}
	}
	free(win);
	return rc;
}

static int
count_entry(uint32_t pack, uint64_t offset, const struct dos_pack_entry *pe,
    int live, void *data)
{
	struct dos_counts *c = data;

	if (!live) {
		c->garbage++;
		c->size_garbage += DOS_ENTRY_HEADER_SIZE + pe->stored_size;
	}
	return 0;
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
	uint32_t *packs = NULL;
	size_t npacks = 0, i;
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
	w.want_locs = 1;
	w.c = c;
	if ((rc = dos_store_index(st, 0, &ix)) < 0 ||
	    (rc = walk_index(ix, &w)) < 0)
		goto out;
	if (w.nr > 1)
		qsort(w.locs, w.nr, sizeof *w.locs, cmp_loc);
	if ((rc = scan_packs(st, ix, w.locs, w.nr, count_entry, c, &packs,
	    &npacks, c)) < 0)
		goto out;
	for (i = 0; i < w.nr; i++)
		if (!(w.locs[i].tag & LOC_SEEN) &&
		    dos_pack_list_find(packs, npacks, w.locs[i].pack) == NULL)
			c->missing++;
	rc = index_size(st, &c->size_index);
out:
	free(packs);
	free(w.locs);
	free(l.v);
	return rc;
}

/* ---- listing ---- */

struct pack_listing {
	const struct loose_set *loose;
	unsigned flags;
	dos_list_fn *emit;
	void *data;
	const struct loc *locs;
	size_t nlocs;
};

static int
list_entry(uint32_t pack, uint64_t offset, const struct dos_pack_entry *pe,
    int live, void *data)
{
	struct pack_listing *p = data;
	struct dos_object_info info;

	if (!live || ((p->flags & DOS_LIST_LOOSE) && is_loose(p->loose, &pe->oid)))
		return 0;
	memset(&info, 0, sizeof info);
	info.oid = pe->oid;
	info.size = pe->raw_size;
	info.disk_size = pe->stored_size + DOS_ENTRY_HEADER_SIZE;
	info.storage = DOS_STORAGE_PACKED;
	info.codec = pe->codec;
	info.pack = pack;
	info.offset = offset;
	return p->emit(&info, p->data);
}

/*
 * Indexed objects the scan did not find where the index says: in a
 * missing or damaged pack, or written after the scan passed.  Listed
 * last, so that a listing never loses an object a reader can find.
 */
static int
list_unseen(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	struct pack_listing *p = data;
	struct dos_object_info info;
	struct loc key = { e->offset, e->pack, 0 };
	const struct loc *found;

	found = p->nlocs > 0 ? bsearch(&key, p->locs, p->nlocs, sizeof *p->locs,
	    cmp_loc) : NULL;
	if ((found != NULL && (found->tag & LOC_SEEN) &&
	    (found->tag & ~LOC_SEEN) == oid_tag(oid)) ||
	    ((p->flags & DOS_LIST_LOOSE) && is_loose(p->loose, oid)))
		return 0;
	packed_info(&info, oid, e);
	return p->emit(&info, p->data);
}

/* Storage order: loose objects as readdir finds them, then the packs. */
static int
list_unordered(struct dos_store *st, unsigned flags, dos_list_fn *fn,
    void *data, struct loose_set *l, struct index_walk *w)
{
	struct pack_listing p;
	struct dos_index *ix;
	uint32_t *packs = NULL;
	size_t npacks;
	int rc;

	if ((flags & DOS_LIST_LOOSE) &&
	    (rc = read_loose(st, (flags & DOS_LIST_SIZES) != 0, fn, data,
	    l)) != 0)
		return rc;
	if (!(flags & DOS_LIST_PACKED))
		return 0;
	/* The index walk only gathers locations here; the scan lists. */
	w->want_locs = 1;
	w->emit = NULL;
	if ((rc = dos_store_index(st, 0, &ix)) != 0 ||
	    (rc = walk_index(ix, w)) != 0)
		return rc;
	if (w->nr > 1)
		qsort(w->locs, w->nr, sizeof *w->locs, cmp_loc);
	p = (struct pack_listing){ l, flags, fn, data, w->locs, w->nr };
	rc = scan_packs(st, ix, w->locs, w->nr, list_entry, &p, &packs, &npacks,
	    NULL);
	free(packs);
	if (rc == 0)
		rc = dos_index_walk(ix, "", 0, list_unseen, &p);
	return rc;
}

int
dos_list_objects(struct dos_store *st, unsigned flags, dos_list_fn *fn,
    void *data)
{
	struct index_walk w;
	struct loose_set l;
	struct dos_index *ix;
	unsigned want = flags & (DOS_LIST_LOOSE | DOS_LIST_PACKED);
	int rc;

	if (want == 0)
		flags |= DOS_LIST_LOOSE | DOS_LIST_PACKED;
	memset(&w, 0, sizeof w);
	memset(&l, 0, sizeof l);
	w.loose = &l;
	w.flags = flags;
	w.emit = fn;
	w.data = data;
	if (flags & DOS_LIST_UNORDERED) {
		rc = list_unordered(st, flags, fn, data, &l, &w);
		goto out;
	}
	/* Only-packed listings need no loose ids: nothing to merge. */
	if ((flags & DOS_LIST_LOOSE) &&
	    (rc = read_loose(st, (flags & DOS_LIST_SIZES) != 0, NULL, NULL,
	    &l)) != 0)
		goto out;
	if (!(flags & DOS_LIST_PACKED)) {
		rc = walk_one(NULL, NULL, &w);
		goto out;
	}
	if ((rc = dos_store_index(st, 0, &ix)) == 0)
		rc = walk_index(ix, &w);
out:
	free(w.locs);
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
