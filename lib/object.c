/* object.c: finding, listing and reading objects wherever they are stored. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dos.h"

struct match {
	struct dos_oid oid;
	int count;
};

static int
collect_match(const struct dos_oid *oid, void *data)
{
	struct match *m = data;

	if (m->count == 0 || dos_oid_cmp(&m->oid, oid) != 0) {
		m->oid = *oid;
		m->count++;
	}
	return m->count > 1 ? 1 : 0;
}

static int
collect_loose_match(const struct dos_oid *oid, int dirfd, const char *name,
    void *data)
{
	return collect_match(oid, data);
}

static int
collect_indexed(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	return collect_match(oid, data);
}

int
dos_resolve(struct dos_store *st, const char *name, size_t len,
    struct dos_oid *oid)
{
	char prefix[DOS_HEXSZ];
	struct match m = { { { 0 } }, 0 };
	size_t i;
	int rc;

	if (len == DOS_HEXSZ)
		return dos_oid_from_hex(oid, name, len);
	if (len < DOS_MIN_ABBREV || len > DOS_HEXSZ || !dos_is_hex(name, len))
		return DOS_EBADID;
	for (i = 0; i < len; i++)
		prefix[i] = (char)(name[i] >= 'A' && name[i] <= 'F' ?
		    name[i] - 'A' + 'a' : name[i]);
	rc = dos_loose_for_each(st, prefix, len, collect_loose_match, &m);
	if (rc == 0 && m.count < 2) {
		struct dos_index *ix;
		if ((rc = dos_store_index(st, 0, &ix)) == 0)
			rc = dos_index_walk(ix, prefix, len, collect_indexed, &m);
	}
	if (rc < 0)
		return rc;
	if (m.count == 0)
		return DOS_ENOTFOUND;
	if (m.count > 1)
		return DOS_EAMBIGUOUS;
	*oid = m.oid;
	return 0;
}

void
dos_object_info_set_packed(struct dos_object_info *info,
    const struct dos_index_entry *e)
{
	info->size = e->raw_size;
	/* In the format written now: a format-1 header is larger. */
	info->stored_size = e->stored_size;
	info->disk_size = e->stored_size + dos_pack_header_size(
	    DOS_PACK_VERSION, e->codec, 0, e->raw_size, e->stored_size);
	info->storage = DOS_STORAGE_PACKED;
	info->codec = e->codec;
	info->pack = e->pack;
	info->offset = e->offset;
	info->member = e->member;
}

/*
 * After the index had no record: the loose file, or, when that is gone
 * too, the index again.  A packer indexes an object before it unlinks
 * the loose file, so one missed in the index and then gone from loose/
 * was packed meanwhile, and the second look finds it.
 */
static int
info_not_indexed(struct dos_store *st, struct dos_index *ix,
    struct dos_object_info *info)
{
	struct dos_index_entry e;
	uint64_t size;
	int rc;

	rc = dos_loose_stat(st, &info->oid, &size);
	if (rc == 0) {
		info->size = info->disk_size = info->stored_size = size;
		info->storage = DOS_STORAGE_LOOSE;
		info->codec = DOS_CODEC_NONE;
		return 0;
	}
	if (rc != DOS_ENOTFOUND || (rc = dos_index_get(ix, &info->oid, &e)) < 0)
		return rc;
	dos_object_info_set_packed(info, &e);
	return 0;
}

/* The index first, so that a packed object costs no file system lookup. */
int
dos_object_info(struct dos_store *st, const struct dos_oid *oid,
    struct dos_object_info *info)
{
	struct dos_index_entry e;
	struct dos_index *ix;
	int rc;

	memset(info, 0, sizeof *info);
	info->oid = *oid;
	if ((rc = dos_store_index(st, 0, &ix)) < 0)
		return rc;
	if ((rc = dos_index_get(ix, oid, &e)) == 0) {
		dos_object_info_set_packed(info, &e);
		return 0;
	}
	if (rc != DOS_ENOTFOUND)
		return rc;
	return info_not_indexed(st, ix, info);
}

/*
 * The order of infos[0..n) by id, without qsort's n log n comparisons: a
 * counting sort on the ids' buckets, then an insertion sort (see
 * dos_oid_bucket_bits).  sorted[] receives the ids in that order.
 */
static int
sort_by_oid(const struct dos_object_info *infos, size_t n, size_t *order,
    struct dos_oid *sorted)
{
	unsigned bits = dos_oid_bucket_bits(n), key;
	size_t *start, i, j, at;

	if ((start = calloc(((size_t)1 << bits) + 1, sizeof *start)) == NULL)
		return DOS_ENOMEM;
	for (i = 0; i < n; i++)
		start[dos_oid_bucket(&infos[i].oid, bits) + 1]++;
	for (key = 0; key < (1U << bits); key++)
		start[key + 1] += start[key];
	for (i = 0; i < n; i++)
		order[start[dos_oid_bucket(&infos[i].oid, bits)]++] = i;
	free(start);
	for (j = 0; j < n; j++) {
		at = order[j];
		for (i = j; i > 0 && dos_oid_cmp(&sorted[i - 1],
		    &infos[at].oid) > 0; i--) {
			order[i] = order[i - 1];
			sorted[i] = sorted[i - 1];
		}
		order[i] = at;
		sorted[i] = infos[at].oid;
	}
	return 0;
}

int
dos_object_info_many(struct dos_store *st, struct dos_object_info *infos,
    int *rcs, size_t n)
{
	struct dos_index_entry *entries = NULL;
	struct dos_oid *sorted = NULL;
	unsigned char *found = NULL;
	size_t *order = NULL, j;
	struct dos_index *ix;
	int rc;

	if ((rc = dos_store_index(st, 0, &ix)) < 0)
		return rc;
	if ((order = malloc(n * sizeof *order)) == NULL ||
	    (sorted = malloc(n * sizeof *sorted)) == NULL ||
	    (entries = malloc(n * sizeof *entries)) == NULL ||
	    (found = malloc(n)) == NULL) {
		rc = DOS_ENOMEM;
		goto out;
	}
	if ((rc = sort_by_oid(infos, n, order, sorted)) < 0)
		goto out;
	if ((rc = dos_index_get_sorted(ix, sorted, n, entries, found)) < 0)
		goto out;
	for (j = 0; j < n; j++) {
		struct dos_object_info *info = &infos[order[j]];
		struct dos_oid oid = info->oid;

		memset(info, 0, sizeof *info);
		info->oid = oid;
		if (found[j]) {
			dos_object_info_set_packed(info, &entries[j]);
			rcs[order[j]] = 0;
		} else {
			rcs[order[j]] = info_not_indexed(st, ix, info);
		}
	}
out:
	free(order);
	free(sorted);
	free(entries);
	free(found);
	return rc;
}

/*
 * A reader decoding a compressed object has a decompressor of its own,
 * so that readers open at once never disturb one another's stream.  It
 * takes one when it starts to decode, perhaps in another thread than the
 * store's (see dos_reader_detachable), and gives it back to the store
 * when closed: making a decoder costs more than decoding a small object,
 * and the few in use stay warm in the cache.
 */
static void
put_decompressor(struct dos_store *st, struct dos_decompressor *d)
{
	struct dos_decompressor **grown;

	pthread_mutex_lock(&st->spare_decs_lock);
	grown = dos_grow(st->spare_decs, st->spare_decs_nr,
	    &st->spare_decs_alloc, sizeof *grown, 8);
	if (grown != NULL) {
		st->spare_decs = grown;
		st->spare_decs[st->spare_decs_nr++] = d;
	}
	pthread_mutex_unlock(&st->spare_decs_lock);
	if (grown == NULL) {
		dos_decompressor_release(d);
		free(d);
	}
}

static int
get_decompressor(struct dos_store *st, struct dos_decompressor **d)
{
	pthread_mutex_lock(&st->spare_decs_lock);
	*d = st->spare_decs_nr > 0 ? st->spare_decs[--st->spare_decs_nr] :
	    NULL;
	pthread_mutex_unlock(&st->spare_decs_lock);
	if (*d == NULL) {
		if ((*d = malloc(sizeof **d)) == NULL)
			return DOS_ENOMEM;
		dos_decompressor_init(*d);
	}
	return 0;
}

static void
give_back_decompressor(struct dos_reader *r)
{
	put_decompressor(r->st, r->dec);
	r->dec = NULL;
}

static int
take_decompressor(struct dos_reader *r)
{
	int rc;

	if ((rc = get_decompressor(r->st, &r->dec)) < 0)
		return rc;
	/* Else the next read would decode with a stream never begun. */
	if ((rc = dos_decompress_begin_dict(r->dec, r->info.codec,
	    r->dict)) < 0)
		give_back_decompressor(r);
	return rc;
}

#define PACK_READ_AHEAD (64 * 1024)

/* The bytes an open of an entry reads: the whole of a small one. */
static size_t
first_read(uint64_t stored_size)
{
	return stored_size < PACK_READ_AHEAD - DOS_ENTRY_HEADER_MAX ?
	    (size_t)stored_size + DOS_ENTRY_HEADER_MAX : PACK_READ_AHEAD;
}

void
dos_reader_first_range(const struct dos_object_info *info,
    struct dos_pack_range *r)
{
	r->pack = info->pack;
	r->off = info->offset;
	/* A member's record does not say how large its group is. */
	r->len = info->member != 0 ? PACK_READ_AHEAD :
	    first_read(info->stored_size);
}

/*
 * Decode the group entry pe at offset of pack (open at fd) into the
 * store's cache, unless it holds that one already (dos_group_read checks
 * it), and parse it into *g.
 */
static int
decode_group(struct dos_store *st, uint32_t pack, int fd, uint64_t offset,
    const struct dos_pack_entry *pe, struct dos_group *g)
{
	struct dos_group_cache *c = &st->group;
	struct dos_decompressor *d;
	int rc;

	/* A pack number a repack freed may come back: the header tells. */
	if (c->len > 0 && c->pack == pack && c->offset == offset &&
	    c->data_crc == pe->data_crc && c->len == pe->raw_size)
		return dos_group_parse(c->buf, c->len, g);
	c->len = 0;
	if (c->buf == NULL && (c->buf = malloc(DOS_GROUP_RAW_MAX)) == NULL)
		return DOS_ENOMEM;
	if ((rc = get_decompressor(st, &d)) < 0)
		return rc;
	rc = dos_group_read(st, pack, fd, offset, pe, d, c->buf, g);
	put_decompressor(st, d);
	if (rc == 0)
		*c = (struct dos_group_cache){ pack, offset, pe->data_crc,
		    c->buf, (size_t)pe->raw_size };
	return rc;
}

/*
 * Open member e->member - 1 of the group entry e locates: the group is
 * decoded whole (or found decoded), and the member must be oid's by its
 * id bytes and have the record's size.  Its bytes are handed out as a
 * raw entry's would be, from r->in.
 */
static int
open_member(struct dos_store *st, const struct dos_oid *oid,
    const struct dos_index_entry *e, int fd, unsigned version,
    unsigned flags, struct dos_reader *r)
{
	unsigned char hdr[DOS_ENTRY_HEADER_MAX];
	struct dos_group_member m;
	struct dos_pack_entry pe;
	struct dos_group g;
	ssize_t n;
	int rc;

	if ((n = dos_store_pack_pread(st, e->pack, fd, hdr, sizeof hdr,
	    e->offset)) < 0)
		return (int)n;
	if (dos_pack_decode_entry(version, hdr, (size_t)n, &pe) < 0 ||
	    !(pe.flags & DOS_ENTRY_GROUP))
		return DOS_ECORRUPT;
	pthread_mutex_lock(&st->group_lock);
	rc = decode_group(st, e->pack, fd, e->offset, &pe, &g);
	if (rc == 0 && ((rc = dos_group_member(&g, e->member - 1, &m)) < 0 ||
	    memcmp(m.id, oid->hash, DOS_ENTRY_ID_CHECK) != 0 ||
	    m.size != e->raw_size))
		rc = DOS_ECORRUPT;
	if (rc == 0 && (r->in = malloc(m.size + 1)) == NULL)
		rc = DOS_ENOMEM;
	if (rc == 0)
		memcpy(r->in, m.data, m.size);
	pthread_mutex_unlock(&st->group_lock);
	if (rc < 0)
		return rc;
	r->st = st;
	r->fd = -1;
	r->info.oid = *oid;
	dos_object_info_set_packed(&r->info, e);
	r->remaining = m.size;
	r->flags = flags;
	r->stored_size = m.size;
	r->in_len = m.size;
	if (flags & DOS_READ_VERIFY)
		return dos_hasher_init(&r->hasher);
	return 0;
}

/*
 * Open the entry e of the packed copy of oid, in the pack open at fd: the
 * entry header must agree with e.
 */
static int
open_entry(struct dos_store *st, const struct dos_oid *oid,
    const struct dos_index_entry *ep, int fd, unsigned version,
    unsigned flags, struct dos_reader *r)
{
	const struct dos_index_entry e = *ep;
	struct dos_pack_entry pe;
	ssize_t n;
	size_t want, whole;
	int rc;

	if (e.offset > INT64_MAX - PACK_READ_AHEAD)
		return DOS_ECORRUPT;	/* no pack is that large */
	if (e.member != 0)
		return open_member(st, oid, &e, fd, version, flags, r);
	/*
	 * No sum that could wrap: the record may hold any size.  The header
	 * says how large it is (a streamed entry's is wide).
	 */
	want = first_read(e.stored_size);
	/* A whole small entry needs no more room: fresh pages cost. */
	if ((r->in = malloc(want)) == NULL)
		return DOS_ENOMEM;
	if ((n = dos_store_pack_pread(st, e.pack, fd, r->in, want,
	    e.offset)) < 0)
		return (int)n;
	/* At least DOS_ENTRY_ID_CHECK bytes of the id, and the sizes. */
	if (dos_pack_decode_entry(version, r->in, (size_t)n, &pe) < 0 ||
	    pe.flags != 0 || !dos_pack_entry_is(&pe, oid) ||
	    pe.codec != e.codec || pe.raw_size != e.raw_size ||
	    pe.stored_size != e.stored_size)
		return DOS_ECORRUPT;
	/* Missing or damaged, a dictionary is said now, before any byte. */
	if (pe.dict != 0 && (rc = dos_store_dict(st, pe.dict, &r->dict)) < 0)
		return rc;
	whole = e.stored_size < PACK_READ_AHEAD ?
	    pe.header_size + (size_t)e.stored_size : PACK_READ_AHEAD;
	/* The pack may end after a small entry; before it, it is cut short. */
	if ((size_t)n < want && (size_t)n < whole)
		return DOS_ECORRUPT;
	if ((size_t)n > whole)
		n = (ssize_t)whole;
	r->st = st;
	r->fd = -1;
	r->info.oid = *oid;
	dos_object_info_set_packed(&r->info, &e);
	r->remaining = e.raw_size;
	r->flags = flags;
	r->pos = e.offset + (uint64_t)n;
	r->stored_size = e.stored_size;
	r->stored_left = e.stored_size - ((uint64_t)n - pe.header_size);
	r->in_pos = pe.header_size;
	r->in_len = (size_t)n;
	r->want_crc = pe.data_crc;
	r->crc = dos_crc32(0, r->in + r->in_pos, r->in_len - r->in_pos);
	if (flags & DOS_READ_VERIFY)
		return dos_hasher_init(&r->hasher);
	return 0;
}

/* Open the packed copy: the index says where, the entry header agrees. */
static int
open_packed(struct dos_store *st, const struct dos_oid *oid, unsigned flags,
    struct dos_reader *r)
{
	struct dos_index_entry e;
	struct dos_index *ix;
	unsigned version;
	int rc, fd;

	if ((rc = dos_store_index(st, 0, &ix)) < 0 ||
	    (rc = dos_index_get(ix, oid, &e)) < 0)
		return rc;
	rc = dos_store_pack(st, e.pack, &fd, &version);
	if (rc == DOS_ENOTFOUND) {
		/* A repack may have moved it and deleted the pack: ask again. */
		if ((rc = dos_index_get_committed(ix, oid, &e)) < 0)
			return rc;
		rc = dos_store_pack(st, e.pack, &fd, &version);
	}
	if (rc == DOS_ENOTFOUND)
		return DOS_ECORRUPT;	/* indexed, but its pack is gone */
	if (rc < 0)
		return rc;
	return open_entry(st, oid, &e, fd, version, flags, r);
}

/* The packed copy, or DOS_ENOTFOUND when the index has none. */
static int
open_packed_or_fail(struct dos_store *st, const struct dos_oid *oid,
    unsigned flags, struct dos_reader *r)
{
	int rc = open_packed(st, oid, flags, r);

	if (rc < 0)
		dos_reader_close(r);
	return rc;
}

/* As dos_object_info(): the index first, then loose/, then the index. */
int
dos_reader_open(struct dos_store *st, const struct dos_oid *oid,
    unsigned flags, struct dos_reader *r)
{
	char name[DOS_HEXSZ + 2];
	struct stat sb;
	int rc, packed_rc;

	memset(r, 0, sizeof *r);
	r->fd = -1;
	/*
	 * A damaged packed copy, or one whose dictionary is, still leaves a
	 * loose one to read, if any.
	 */
	rc = open_packed_or_fail(st, oid, flags, r);
	if (rc != DOS_ENOTFOUND && rc != DOS_ECORRUPT && rc != DOS_ENODICT)
		return rc;
	packed_rc = rc;
	memset(r, 0, sizeof *r);
	r->fd = -1;
	dos_loose_name(st, oid, name, sizeof name);
	r->fd = dos_open_beneath(st->loosefd, name, O_RDONLY, 0);
	if (r->fd < 0) {
		if ((errno == ENOENT || errno == ENOTDIR) &&
		    packed_rc != DOS_ENOTFOUND)
			return packed_rc;
		if (errno == ENOENT || errno == ENOTDIR)
			return open_packed_or_fail(st, oid, flags, r);
		if (errno == ELOOP || errno == EXDEV)
			return DOS_ECORRUPT;
		return DOS_EIO;
	}
	rc = fstat(r->fd, &sb) < 0 ? DOS_EIO :
	    !S_ISREG(sb.st_mode) ? DOS_ECORRUPT : 0;
	if (rc < 0) {
		close(r->fd);
		r->fd = -1;
		return rc;
	}
	/* Large objects are read once, front to back: ask for readahead. */
	posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	r->info.oid = *oid;
	r->info.size = r->info.disk_size = r->info.stored_size =
	    (uint64_t)sb.st_size;
	r->info.storage = DOS_STORAGE_LOOSE;
	r->info.codec = DOS_CODEC_NONE;
	r->remaining = r->info.size;
	/* A loose file has no size to check against: always hash it. */
	r->flags = flags | DOS_READ_VERIFY;
	if ((rc = dos_hasher_init(&r->hasher)) < 0) {
		close(r->fd);
		r->fd = -1;
		return rc;
	}
	return 0;
}

int
dos_reader_open_listed(struct dos_store *st,
    const struct dos_object_info *info, unsigned flags, struct dos_reader *r)
{
	const struct dos_index_entry e = { info->pack, info->codec,
	    info->offset, info->stored_size, info->size, info->member };
	unsigned version;
	int fd;

	memset(r, 0, sizeof *r);
	r->fd = -1;
	/*
	 * Where it was listed, or, when that pack is gone or holds another
	 * entry there (a repack moved it meanwhile), where it is now.
	 */
	if (info->storage == DOS_STORAGE_PACKED &&
	    dos_store_pack(st, e.pack, &fd, &version) == 0 &&
	    open_entry(st, &info->oid, &e, fd, version, flags, r) == 0)
		return 0;
	dos_reader_close(r);
	return dos_reader_open(st, &info->oid, flags, r);
}

static int
check_end(struct dos_reader *r)
{
	struct dos_oid got;
	int rc;

	if (!(r->flags & DOS_READ_VERIFY))
		return 0;
	r->flags &= ~(unsigned)DOS_READ_VERIFY;
	if ((rc = dos_hasher_final(&r->hasher, &got)) < 0)
		return rc;
	return dos_oid_cmp(&got, &r->info.oid) == 0 ? 0 : DOS_ECORRUPT;
}

/* More stored bytes into r->in, checksummed as they arrive. */
static int
refill(struct dos_reader *r)
{
	int fd;
	size_t want = r->stored_left < PACK_READ_AHEAD ?
	    (size_t)r->stored_left : PACK_READ_AHEAD;
	ssize_t n;
	unsigned version;
	int rc;

	if ((rc = dos_store_pack(r->st, r->info.pack, &fd, &version)) < 0)
		return rc == DOS_ENOTFOUND ? DOS_ECORRUPT : rc;
	if ((n = dos_store_pack_pread(r->st, r->info.pack, fd, r->in, want,
	    r->pos)) < 0)
		return (int)n;
	if (n == 0)
		return DOS_ECORRUPT;	/* the pack ends inside the entry */
	r->crc = dos_crc32(r->crc, r->in, (size_t)n);
	r->pos += (uint64_t)n;
	r->stored_left -= (uint64_t)n;
	r->in_pos = 0;
	r->in_len = (size_t)n;
	return 0;
}

/*
 * All raw bytes are out: the rest of the stored bytes must decode to
 * nothing, end the stream, and match the entry's checksum.
 */
static int
finish_packed(struct dos_reader *r)
{
	struct dos_decompressor *d = r->dec;
	unsigned char spare[64];
	size_t in_len, out_len;
	int rc;

	while (r->in_pos < r->in_len || r->stored_left > 0) {
		if (r->in_pos == r->in_len && (rc = refill(r)) < 0)
			return rc;
		if (r->info.codec == DOS_CODEC_NONE)
			return DOS_ECORRUPT;
		in_len = r->in_len - r->in_pos;
		out_len = sizeof spare;
		if ((rc = dos_decompress(d, r->in + r->in_pos, &in_len, spare,
		    &out_len)) < 0)
			return rc;
		if (out_len > 0 || in_len == 0)
			return DOS_ECORRUPT;
		r->in_pos += in_len;
	}
	if (r->info.codec != DOS_CODEC_NONE && !d->done)
		return DOS_ECORRUPT;
	if (r->crc != r->want_crc)
		return DOS_ECORRUPT;
	return check_end(r);
}

static ssize_t
read_packed(struct dos_reader *r, unsigned char *buf, size_t len)
{
	size_t in_len, out_len;
	unsigned version;
	ssize_t n;
	int rc, fd;

	if (len > r->remaining)
		len = (size_t)r->remaining;
	for (;;) {
		if (r->in_pos == r->in_len) {
			if (r->stored_left == 0)
				return DOS_ECORRUPT;	/* stream ended early */
			if (r->info.codec == DOS_CODEC_NONE &&
			    len >= PACK_READ_AHEAD) {
				/* Big raw reads go straight to the caller. */
				if ((rc = dos_store_pack(r->st, r->info.pack,
				    &fd, &version)) < 0)
					return rc;
				if (len > r->stored_left)
					len = (size_t)r->stored_left;
				if ((n = dos_store_pack_pread(r->st,
				    r->info.pack, fd, buf, len, r->pos)) < 0)
					return n;
				if (n == 0)
					return DOS_ECORRUPT;
				r->crc = dos_crc32(r->crc, buf, (size_t)n);
				r->pos += (uint64_t)n;
				r->stored_left -= (uint64_t)n;
				return n;
			}
			if ((rc = refill(r)) < 0)
				return rc;
		}
		in_len = r->in_len - r->in_pos;
		if (r->info.codec == DOS_CODEC_NONE) {
			out_len = in_len < len ? in_len : len;
			memcpy(buf, r->in + r->in_pos, out_len);
			r->in_pos += out_len;
			return (ssize_t)out_len;
		}
		out_len = len;
		if ((rc = dos_decompress(r->dec, r->in + r->in_pos,
		    &in_len, buf, &out_len)) < 0)
			return rc;
		r->in_pos += in_len;
		if (out_len > 0)
			return (ssize_t)out_len;
		if (in_len == 0 && r->in_pos < r->in_len)
			return DOS_ECORRUPT;	/* the decoder is stuck */
	}
}

ssize_t
dos_reader_read(struct dos_reader *r, void *buf, size_t len)
{
	ssize_t n;
	int rc;

	if (r->st != NULL && r->info.codec != DOS_CODEC_NONE && r->dec == NULL &&
	    (rc = take_decompressor(r)) < 0)
		return rc;
	if (r->remaining == 0)
		return r->st != NULL ? finish_packed(r) : check_end(r);
	if (len > r->remaining)
		len = (size_t)r->remaining;
	if (r->st != NULL) {
		n = read_packed(r, buf, len);
	} else {
		do
			n = read(r->fd, buf, len);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return DOS_EIO;
		if (n == 0)
			return DOS_ECORRUPT;	/* shorter than it was */
	}
	if (n < 0)
		return n;
	r->remaining -= (uint64_t)n;
	if ((r->flags & DOS_READ_VERIFY) &&
	    (rc = dos_hasher_update(&r->hasher, buf, (size_t)n)) < 0)
		return rc;
	if (r->remaining == 0) {
		rc = r->st != NULL ? finish_packed(r) : check_end(r);
		if (rc < 0)
			return rc;
	}
	return n;
}

/*
 * The stored bytes of a packed copy as they are in the pack, refilled
 * as read_packed() does; at their end, the entry's checksum must match.
 */
ssize_t
dos_reader_read_stored(struct dos_reader *r, void *buf, size_t len)
{
	size_t n;
	int rc;

	if (r->st == NULL || r->dict != NULL)
		return dos_reader_read(r, buf, len);
	if (r->in_pos == r->in_len) {
		if (r->stored_left == 0)
			return r->crc == r->want_crc ? 0 : DOS_ECORRUPT;
		if ((rc = refill(r)) < 0)
			return rc;
	}
	n = r->in_len - r->in_pos < len ? r->in_len - r->in_pos : len;
	memcpy(buf, r->in + r->in_pos, n);
	r->in_pos += n;
	return (ssize_t)n;
}

uint64_t
dos_reader_stored_size(const struct dos_reader *r)
{
	return r->st == NULL || r->dict != NULL ? r->info.size :
	    r->stored_size;
}

enum dos_codec
dos_reader_stored_codec(const struct dos_reader *r)
{
	return r->dict != NULL ? DOS_CODEC_NONE : r->info.codec;
}

int
dos_reader_detachable(const struct dos_reader *r)
{
	return r->st == NULL || r->stored_left == 0;
}

void
dos_reader_close(struct dos_reader *r)
{
	free(r->in);
	r->in = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->hasher.ctx != NULL)
		dos_hasher_release(&r->hasher);
	if (r->dec != NULL)
		give_back_decompressor(r);
}

int
dos_reader_new(struct dos_store *st, const struct dos_oid *oid,
    unsigned flags, struct dos_reader **r)
{
	int rc;

	if ((*r = malloc(sizeof **r)) == NULL)
		return DOS_ENOMEM;
	if ((rc = dos_reader_open(st, oid, flags, *r)) < 0) {
		free(*r);
		*r = NULL;
	}
	return rc;
}

const struct dos_object_info *
dos_reader_info(const struct dos_reader *r)
{
	return &r->info;
}

void
dos_reader_free(struct dos_reader *r)
{
	if (r == NULL)
		return;
	dos_reader_close(r);
	free(r);
}
