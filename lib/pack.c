/*
 * pack.c: the pack formats, and reading packs.
 *
 * packs/<n> starts with a 16-byte header ("DOSPACK" NUL, version, zero)
 * and holds entries back to back, each a header that describes it (codec,
 * raw and stored sizes, the id, checksums) followed by the stored bytes.
 * In format 1 the header takes 64 bytes: the whole id, a CRC-32 of the
 * stored bytes and one of the header.  Format 2, written now, takes a
 * few: a tag, varint sizes, the first 8 bytes of the id (a tombstone's
 * whole id) and one CRC-32 over header and stored bytes; the whole id is
 * the index's, or learnt by hashing.  A group entry of format 2 holds
 * several small objects compressed together, its table naming their sizes
 * and first id bytes (dos.h).  Either way the index can be rebuilt
 * from the packs, and a pack can be walked and verified without it.
 * Packs are only appended to, by the writer in pack-write.c; bytes past
 * a pack's committed length (in the index) are the torn tail of a killed
 * writer.  This file is the one that parses entries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "dos.h"

#define ENTRY_MAGIC "DOSe"
#define V1_HEADER_SIZE 64

/*
 * The tag byte of a format-2 entry: the high nibble is fixed, so that
 * zeroed or random bytes seldom pass for one (another value marks a
 * group entry); the low one holds the codec, the tombstone flag and
 * whether a dictionary id follows.
 */
#define TAG_FIXED 0xd0
#define TAG_GROUP 0xe0
#define TAG_FIXED_MASK 0xf0
#define TAG_CODEC 0x03
#define TAG_TOMBSTONE 0x04
#define TAG_DICTIONARY 0x08
#define CHECK_SIZE 4
#define VARINT_MAX 10

static const unsigned char pack_magic[8] = "DOSPACK";

/* Whether a format-2 entry could start with this byte. */
static int
is_tag(unsigned char tag)
{
	return (tag & TAG_FIXED_MASK) == TAG_FIXED ||
	    (tag & TAG_FIXED_MASK) == TAG_GROUP;
}

/* The id bytes a format-2 header of these flags holds. */
static size_t
id_bytes(unsigned flags)
{
	if (flags & DOS_ENTRY_TOMBSTONE)
		return DOS_RAWSZ;
	return flags & DOS_ENTRY_GROUP ? 0 : DOS_ENTRY_ID_CHECK;
}

static uint64_t
rd64(const unsigned char *p)
{
	return (uint64_t)dos_get_le32(p) | (uint64_t)dos_get_le32(p + 4) << 32;
}

static size_t
varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* A varint of v, in width bytes if more than it needs (at most 10). */
static size_t
put_varint(unsigned char *p, uint64_t v, size_t width)
{
	size_t n = 0;

	while (v >= 0x80 || n + 1 < width) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

/* A varint at buf[*pos..len): 0, 1 if it runs past len, or DOS_ECORRUPT. */
static int
get_varint(const unsigned char *buf, size_t len, size_t *pos, uint64_t *v)
{
	unsigned shift = 0;
	unsigned char b;

	*v = 0;
	do {
		if (*pos >= len)
			return 1;
		b = buf[(*pos)++];
		if (shift == 63 && b > 1)
			return DOS_ECORRUPT;
		*v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while ((b & 0x80) && shift < 70);
	return b & 0x80 ? DOS_ECORRUPT : 0;
}

/*
 * The checksum of a format-2 entry is the CRC-32 of its header (up to the
 * checksum) followed by its stored bytes.  CRC-32 being linear, it turns
 * into the CRC-32 of the stored bytes alone and back without them, so
 * that readers check stored bytes the same way in both formats.
 */
static uint32_t
entry_check(const unsigned char *hdr, size_t len, uint32_t data_crc,
    uint64_t stored)
{
	return dos_crc32_combine(dos_crc32(0, hdr, len), data_crc, stored);
}

static uint32_t
data_crc_of(const unsigned char *hdr, size_t len, uint32_t check,
    uint64_t stored)
{
	return check ^ dos_crc32_combine(dos_crc32(0, hdr, len), 0, stored);
}

/* The usual size: sizes in their shortest varints. */
unsigned
dos_pack_header_size(unsigned version, enum dos_codec codec, unsigned flags,
    uint64_t raw_size, uint64_t stored_size)
{
	if (version == 1)
		return V1_HEADER_SIZE;
	if (flags & DOS_ENTRY_TOMBSTONE)
		return 1 + 1 + DOS_RAWSZ + CHECK_SIZE;
	return (unsigned)(1 + varint_size(raw_size) +
	    (codec == DOS_CODEC_NONE ? 0 : varint_size(stored_size)) +
	    id_bytes(flags) + CHECK_SIZE);
}

unsigned
dos_pack_wide_header_size(enum dos_codec codec)
{
	return 1 + VARINT_MAX + (codec == DOS_CODEC_NONE ? 0 : VARINT_MAX) +
	    DOS_ENTRY_ID_CHECK + CHECK_SIZE;
}

size_t
dos_pack_encode_entry(unsigned char *buf, const struct dos_pack_entry *e,
    int wide)
{
	size_t n = 0, id = id_bytes(e->flags), width = wide ? VARINT_MAX : 1;

	buf[n++] = (unsigned char)((e->flags & DOS_ENTRY_GROUP ? TAG_GROUP :
	    TAG_FIXED) | (unsigned)e->codec |
	    (e->flags & DOS_ENTRY_TOMBSTONE ? TAG_TOMBSTONE : 0) |
	    (e->dict != 0 ? TAG_DICTIONARY : 0));
	n += put_varint(buf + n, e->raw_size, width);
	if (e->codec != DOS_CODEC_NONE)
		n += put_varint(buf + n, e->stored_size, width);
	if (e->dict != 0)
		n += put_varint(buf + n, e->dict, 1);
	memcpy(buf + n, e->oid.hash, id);
	n += id;
	dos_put_le32(buf + n, entry_check(buf, n, e->data_crc, e->stored_size));
	return n + CHECK_SIZE;
}

static int
decode_v1(const unsigned char *buf, size_t len, struct dos_pack_entry *e)
{
	if (len < V1_HEADER_SIZE)
		return 1;
	if (memcmp(buf, ENTRY_MAGIC, 4) != 0 ||
	    buf[6] != V1_HEADER_SIZE ||
	    dos_get_le32(buf + 60) != dos_crc32(0, buf, 60) ||
	    buf[4] > DOS_CODEC_ZSTD)
		return DOS_ECORRUPT;
	e->codec = (enum dos_codec)buf[4];
	e->flags = buf[5];
	e->raw_size = rd64(buf + 8);
	e->stored_size = rd64(buf + 16);
	memcpy(e->oid.hash, buf + 24, DOS_RAWSZ);
	e->id_size = DOS_RAWSZ;
	e->header_size = V1_HEADER_SIZE;
	e->data_crc = dos_get_le32(buf + 56);
	e->dict = 0;
	return 0;
}

/*
 * Tag, raw size, stored size unless the codec is none (then it is the raw
 * size), the first DOS_ENTRY_ID_CHECK bytes of the id (a tombstone's whole
 * id, a group's none), the checksum.  With TAG_DICTIONARY (zstd only), the
 * number of the dictionary the stored bytes need follows the sizes.
 */
static int
decode_v2(const unsigned char *buf, size_t len, struct dos_pack_entry *e)
{
	size_t pos = 1, id;
	uint64_t dict = 0;
	int rc;

	if (len < 1)
		return 1;
	if (!is_tag(buf[0]) || (buf[0] & TAG_CODEC) > DOS_CODEC_ZSTD)
		return DOS_ECORRUPT;
	e->codec = (enum dos_codec)(buf[0] & TAG_CODEC);
	e->flags = buf[0] & TAG_TOMBSTONE ? DOS_ENTRY_TOMBSTONE : 0;
	if ((buf[0] & TAG_FIXED_MASK) == TAG_GROUP)
		e->flags |= DOS_ENTRY_GROUP;
	if ((rc = get_varint(buf, len, &pos, &e->raw_size)) != 0)
		return rc;
	e->stored_size = e->raw_size;
	if (e->codec != DOS_CODEC_NONE &&
	    (rc = get_varint(buf, len, &pos, &e->stored_size)) != 0)
		return rc;
	if ((buf[0] & TAG_DICTIONARY) &&
	    (rc = get_varint(buf, len, &pos, &dict)) != 0)
		return rc;
	/* Dictionaries are zstd's, numbered from 1. */
	if ((buf[0] & TAG_DICTIONARY) && (e->codec != DOS_CODEC_ZSTD ||
	    dict == 0 || dict > UINT32_MAX))
		return DOS_ECORRUPT;
	e->dict = (uint32_t)dict;
	/*
	 * A tombstone holds nothing: it has no sizes to get wrong.  A group
	 * is compressed (else it would save nothing), and small enough for
	 * a reader to decode whole.  No pack holds 2^63 bytes, and
	 * crc32_combine() takes a signed length.
	 */
	if ((e->flags == DOS_ENTRY_TOMBSTONE &&
	    (e->codec != DOS_CODEC_NONE || e->raw_size != 0)) ||
	    (e->flags == DOS_ENTRY_GROUP && (e->codec == DOS_CODEC_NONE ||
	    e->raw_size > DOS_GROUP_RAW_MAX)) ||
	    e->flags == (DOS_ENTRY_TOMBSTONE | DOS_ENTRY_GROUP) ||
	    e->stored_size > INT64_MAX)
		return DOS_ECORRUPT;
	id = id_bytes(e->flags);
	if (len - pos < id + CHECK_SIZE)
		return 1;
	memset(&e->oid, 0, sizeof e->oid);
	memcpy(e->oid.hash, buf + pos, id);
	pos += id;
	e->id_size = (unsigned)id;
	e->header_size = (unsigned)(pos + CHECK_SIZE);
	e->data_crc = data_crc_of(buf, pos, dos_get_le32(buf + pos),
	    e->stored_size);
	return 0;
}

/* 0, DOS_ECORRUPT, or 1 if the header runs past buf[len]. */
static int
decode(unsigned version, const unsigned char *buf, size_t len,
    struct dos_pack_entry *e)
{
	return version == 1 ? decode_v1(buf, len, e) : decode_v2(buf, len, e);
}

int
dos_pack_decode_entry(unsigned version, const unsigned char *buf,
    size_t len, struct dos_pack_entry *e)
{
	return decode(version, buf, len, e) == 0 ? 0 : DOS_ECORRUPT;
}

int
dos_pack_entry_is(const struct dos_pack_entry *e, const struct dos_oid *oid)
{
	/* A group holds no id, which memcmp() would take for any. */
	return e->id_size > 0 && !(e->flags & DOS_ENTRY_GROUP) &&
	    memcmp(e->oid.hash, oid->hash, e->id_size) == 0;
}

struct locate {
	uint32_t pack;
	uint64_t offset;
	uint32_t member;
	struct dos_oid *oid;
	struct dos_index_entry *e;
	int found;
};

static int
locate_cb(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	struct locate *l = data;

	if (e->pack == l->pack && e->offset == l->offset &&
	    e->member == l->member) {
		*l->oid = *oid;
		*l->e = *e;
		l->found = 1;
	}
	return 0;
}

/* The record at that place among those whose ids start with start. */
static int
locate(struct dos_index *ix, struct locate *l, const struct dos_oid *start,
    size_t len)
{
	char hex[DOS_HEXSZ + 1];
	int rc;

	/* The ids that start the same are next to each other in the index. */
	dos_oid_to_hex(start, hex);
	if ((rc = dos_index_walk(ix, hex, 2 * len, locate_cb, l)) < 0)
		return rc;
	return l->found ? 0 : DOS_ENOTFOUND;
}

int
dos_pack_entry_id(struct dos_index *ix, uint32_t pack, uint64_t offset,
    const struct dos_pack_entry *pe, struct dos_oid *oid,
    struct dos_index_entry *e)
{
	struct locate l = { pack, offset, 0, oid, e, 0 };
	int rc;

	/* Its members' records point at it, each its own id. */
	if (pe->flags & DOS_ENTRY_GROUP)
		return DOS_ECORRUPT;
	if (pe->id_size == DOS_RAWSZ) {
		*oid = pe->oid;
		if ((rc = dos_index_get(ix, oid, e)) < 0)
			return rc;
		return e->pack == pack && e->offset == offset &&
		    e->member == 0 ? 0 : DOS_ENOTFOUND;
	}
	return locate(ix, &l, &pe->oid, pe->id_size);
}

int
dos_pack_member_id(struct dos_index *ix, uint32_t pack, uint64_t offset,
    const struct dos_group_member *m, uint32_t i, struct dos_oid *oid,
    struct dos_index_entry *e)
{
	struct locate l = { pack, offset, i + 1, oid, e, 0 };
	struct dos_oid start;

	memset(&start, 0, sizeof start);
	memcpy(start.hash, m->id, DOS_ENTRY_ID_CHECK);
	return locate(ix, &l, &start, DOS_ENTRY_ID_CHECK);
}

/* ---- group entries ---- */

int
dos_group_parse(const void *buf, size_t len, struct dos_group *g)
{
	const unsigned char *p = buf;
	size_t pos = 0, sizes;
	uint64_t n, size, total = 0;
	uint32_t i;

	if (get_varint(p, len, &pos, &n) != 0 || n < 1 ||
	    n > DOS_GROUP_MEMBERS_MAX)
		return DOS_ECORRUPT;
	sizes = pos;
	for (i = 0; i < n; i++) {
		/* Each size is below len: their sum cannot wrap. */
		if (get_varint(p, len, &pos, &size) != 0 || size > len)
			return DOS_ECORRUPT;
		total += size;
	}
	if (len - pos < n * DOS_ENTRY_ID_CHECK)
		return DOS_ECORRUPT;
	g->buf = p;
	g->len = len;
	g->members = (uint32_t)n;
	g->sizes = p + sizes;
	g->ids = p + pos;
	g->table_size = pos + (size_t)n * DOS_ENTRY_ID_CHECK;
	return total == len - g->table_size ? 0 : DOS_ECORRUPT;
}

int
dos_group_member(const struct dos_group *g, uint32_t i,
    struct dos_group_member *m)
{
	size_t pos = (size_t)(g->sizes - g->buf), start = g->table_size;
	uint64_t size = 0;
	uint32_t k;

	if (i >= g->members)
		return DOS_ECORRUPT;
	/* Parsed already: the varints are there, and the sizes add up. */
	for (k = 0; k <= i; k++) {
		start += (size_t)size;
		(void)get_varint(g->buf, g->len, &pos, &size);
	}
	m->id = g->ids + (size_t)i * DOS_ENTRY_ID_CHECK;
	m->data = g->buf + start;
	m->size = (size_t)size;
	return 0;
}

int
dos_group_read(struct dos_store *st, uint32_t pack, int fd,
    uint64_t offset, const struct dos_pack_entry *pe,
    struct dos_decompressor *dec, unsigned char *buf, struct dos_group *g)
{
	const struct dos_dict *dict = NULL;
	unsigned char in[16 * 1024];
	uint64_t pos = offset + pe->header_size, left = pe->stored_size;
	size_t produced = 0, in_len, out_len, used;
	uint32_t crc = 0;
	ssize_t n;
	int rc;

	if (!(pe->flags & DOS_ENTRY_GROUP) || pe->raw_size > DOS_GROUP_RAW_MAX)
		return DOS_ECORRUPT;
	if (pe->dict != 0 && (rc = dos_store_dict(st, pe->dict, &dict)) < 0)
		return rc;
	if ((rc = dos_decompress_begin_dict(dec, pe->codec, dict)) < 0)
		return rc;
	while (left > 0) {
		n = dos_store_pack_pread(st, pack, fd, in, left < sizeof in ?
		    (size_t)left : sizeof in, pos);
		if (n <= 0)
			return n < 0 ? (int)n : DOS_ECORRUPT;
		crc = dos_crc32(crc, in, (size_t)n);
		pos += (uint64_t)n;
		left -= (uint64_t)n;
		/* More than its raw size is damage: the room ends there. */
		for (used = 0; used < (size_t)n; used += in_len) {
			in_len = (size_t)n - used;
			out_len = (size_t)pe->raw_size - produced;
			if ((rc = dos_decompress(dec, in + used, &in_len,
			    buf + produced, &out_len)) < 0)
				return rc;
			produced += out_len;
			if (in_len == 0 && out_len == 0)
				return DOS_ECORRUPT;
		}
	}
	/* The decoder may hold the last bytes until asked once more. */
	while (!dec->done && produced < pe->raw_size) {
		in_len = 0;
		out_len = (size_t)pe->raw_size - produced;
		if ((rc = dos_decompress(dec, in, &in_len, buf + produced,
		    &out_len)) < 0)
			return rc;
		if (out_len == 0)
			break;
		produced += out_len;
	}
	if (crc != pe->data_crc || produced != pe->raw_size)
		return DOS_ECORRUPT;
	if (!dec->done) {
		in_len = 0;
		out_len = 0;
		if (dos_decompress(dec, in, &in_len, buf, &out_len) < 0 ||
		    !dec->done)
			return DOS_ECORRUPT;
	}
	return dos_group_parse(buf, produced, g);
}

size_t
dos_group_encode_table(unsigned char *buf, uint32_t n, const size_t *sizes,
    const struct dos_oid *ids)
{
	size_t len = put_varint(buf, n, 1);
	uint32_t i;

	for (i = 0; i < n; i++)
		len += put_varint(buf + len, sizes[i], 1);
	for (i = 0; i < n; i++) {
		memcpy(buf + len, ids[i].hash, DOS_ENTRY_ID_CHECK);
		len += DOS_ENTRY_ID_CHECK;
	}
	return len;
}

void
dos_pack_encode_header(unsigned char *hdr)
{
	memset(hdr, 0, DOS_PACK_HEADER_SIZE);
	memcpy(hdr, pack_magic, 8);
	dos_put_le32(hdr + 8, DOS_PACK_VERSION);
}

int
dos_pack_header_version(int fd, unsigned *version)
{
	unsigned char hdr[DOS_PACK_HEADER_SIZE];
	ssize_t n = pread(fd, hdr, sizeof hdr, 0);

	if (n < 0)
		return DOS_EIO;
	if (n != sizeof hdr || memcmp(hdr, pack_magic, 8) != 0 ||
	    dos_get_le32(hdr + 8) < 1 ||
	    dos_get_le32(hdr + 8) > DOS_PACK_VERSION)
		return DOS_ECORRUPT;
	*version = dos_get_le32(hdr + 8);
	return 0;
}

/*
 * Bytes 12 to 14 of the header of a sealed pack: 1, then the codec and
 * the level its entries were compressed with (or harder).  A pack is
 * created with zeros there, and sealed once it is whole.
 */
#define SEAL_OFFSET 12
#define SEAL_SIZE 3

int
dos_pack_seal(int fd, enum dos_codec codec, int level)
{
	unsigned char seal[SEAL_SIZE] = { 1, (unsigned char)codec,
	    (unsigned char)level };

	if (dos_step_pwrite("pack-seal-write", fd, seal, sizeof seal,
	    SEAL_OFFSET) < 0 ||
	    dos_step_fdatasync("pack-seal-fdatasync", fd) < 0)
		return DOS_EIO;
	return 0;
}

int
dos_pack_sealed(int fd, enum dos_codec *codec, int *level)
{
	unsigned char hdr[DOS_PACK_HEADER_SIZE];

	/* Packs of format 1 were never sealed: they have zeros there too. */
	if (pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr ||
	    dos_pack_check_header(fd) < 0 || hdr[SEAL_OFFSET] != 1)
		return 0;
	*codec = (enum dos_codec)hdr[SEAL_OFFSET + 1];
	*level = hdr[SEAL_OFFSET + 2];
	return 1;
}

int
dos_pack_check_header(int fd)
{
	unsigned version;
	int rc;

	if ((rc = dos_pack_header_version(fd, &version)) < 0)
		return rc;
	return version == DOS_PACK_VERSION ? 0 : DOS_ECORRUPT;
}

/*
 * The version to read a pack's entries in: its header's, or when that is
 * damaged, the one its first entry looks like.
 */
static unsigned
entries_version(int fd)
{
	unsigned char tag;
	unsigned version;

	if (dos_pack_header_version(fd, &version) == 0)
		return version;
	if (pread(fd, &tag, 1, DOS_PACK_HEADER_SIZE) == 1 && is_tag(tag))
		return 2;
	return 1;
}

int
dos_pack_list(struct dos_store *st, uint32_t **packs, size_t *nr)
{
	return dos_list_numbered(st->dirfd, "packs", packs, nr);
}

int
dos_store_pack(struct dos_store *st, uint32_t pack, int *fd,
    unsigned *version)
{
	struct dos_open_pack *grown;
	size_t lo = 0, hi = st->packfds_nr, mid;
	unsigned v = 0;
	int newfd, rc;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (st->packfds[mid].pack < pack)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < st->packfds_nr && st->packfds[lo].pack == pack) {
		/* A header being written when the pack was opened is now. */
		if (st->packfds[lo].version == 0 && st->packfds[lo].fd >= 0 &&
		    dos_pack_header_version(st->packfds[lo].fd, &v) == 0)
			st->packfds[lo].version = v;
		*fd = st->packfds[lo].fd;
		*version = st->packfds[lo].version;
		return *version == 0 ? DOS_ECORRUPT : 0;
	}
	if ((newfd = dos_pack_open(st, pack)) < 0) {
		if (errno != ENOENT)
			return DOS_EIO;
		/* Evicted: its record on a remote knows the version. */
		if ((rc = dos_remote_pack_version(st, pack, &v)) < 0)
			return rc;
	} else if (dos_pack_header_version(newfd, &v) == DOS_EIO) {
		close(newfd);
		return DOS_EIO;
	}
	grown = dos_grow(st->packfds, st->packfds_nr, &st->packfds_alloc,
	    sizeof *grown, 16);
	if (grown == NULL) {
		close(newfd);
		return DOS_ENOMEM;
	}
	st->packfds = grown;
	memmove(grown + lo + 1, grown + lo,
	    (st->packfds_nr - lo) * sizeof *grown);
	grown[lo] = (struct dos_open_pack){ pack, v, newfd };
	st->packfds_nr++;
	*fd = newfd;
	*version = v;
	return v == 0 ? DOS_ECORRUPT : 0;
}

int
dos_store_pack_fd(struct dos_store *st, uint32_t pack, int *fd)
{
	unsigned version;
	int rc = dos_store_pack(st, pack, fd, &version);

	if (rc == 0 && *fd < 0)
		return DOS_ENOTFOUND;	/* evicted: not a file to scan */
	/* Scans find the version themselves, of damaged headers too. */
	return rc == DOS_ECORRUPT ? 0 : rc;
}

ssize_t
dos_store_pack_pread(struct dos_store *st, uint32_t pack, int fd, void *buf,
    size_t len, uint64_t off)
{
	ssize_t n;

	if (fd < 0)
		return dos_remote_pread(st, pack, buf, len, off);
	do
		n = pread(fd, buf, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? DOS_EIO : n;
}

int
dos_pack_open(struct dos_store *st, uint32_t pack)
{
	char name[32];

	snprintf(name, sizeof name, "packs/%u", pack);
	return dos_open_beneath(st->dirfd, name, O_RDONLY, 0);
}

/* ---- scanning ---- */

/*
 * What the bytes hdr[0..avail) at offset say, in a pack of this version
 * whose entries end by limit (past offset); e gets the header if
 * DOS_PACK_ENTRY or DOS_PACK_PAST_END.
 */
static enum dos_pack_what
entry_at(unsigned version, const unsigned char *hdr, size_t avail,
    uint64_t offset, uint64_t limit, struct dos_pack_entry *e)
{
	int rc = decode(version, hdr, avail, e);

	if (rc == 1)
		return DOS_PACK_NO_ROOM;
	if (rc < 0)
		return DOS_PACK_BAD_HEADER;
	/* An entry must end in the pack: else the next offset could wrap. */
	if (e->stored_size > limit - offset - e->header_size)
		return DOS_PACK_PAST_END;
	return DOS_PACK_ENTRY;
}

void
dos_pack_scan_begin(struct dos_pack_scan *s, int fd, uint64_t limit,
    uint64_t committed, unsigned char *buf, size_t size)
{
	memset(s, 0, sizeof *s);
	s->fd = fd;
	s->limit = limit;
	s->committed = committed;
	s->buf = buf;
	s->size = size;
	s->next = DOS_PACK_HEADER_SIZE;
}

void
dos_pack_scan_seek(struct dos_pack_scan *s, uint64_t offset)
{
	s->next = offset;
	s->done = 0;
}

/* What is at s->offset is no entry: the scan ends there. */
static int
scan_stop(struct dos_pack_scan *s, enum dos_pack_what what)
{
	s->verdict = s->offset >= s->committed ? DOS_PACK_TORN :
	    DOS_PACK_DAMAGED;
	s->what = what;
	s->done = 1;
	return 1;
}

static int
in_window(const struct dos_pack_scan *s, uint64_t off, uint64_t len)
{
	return off >= s->start && off - s->start <= s->len &&
	    len <= s->len - (off - s->start);
}

/* The bytes a header at off may take: up to the largest, or the limit. */
static size_t
header_room(const struct dos_pack_scan *s, uint64_t off)
{
	return s->limit - off < DOS_ENTRY_HEADER_MAX ?
	    (size_t)(s->limit - off) : DOS_ENTRY_HEADER_MAX;
}

/* Move the window to start at s->offset: 0, 1 if the file shrank, or < 0. */
static int
refill(struct dos_pack_scan *s)
{
	uint64_t off = s->offset;
	size_t want;
	ssize_t n;
	int rc;

	if (s->len > 0 && s->refill != NULL &&
	    (rc = s->refill(s, s->refill_data)) < 0)
		return rc;
	want = s->limit - off < s->size ? (size_t)(s->limit - off) : s->size;
	do
		n = pread(s->fd, s->buf, want, (off_t)off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return DOS_EIO;
	s->start = off;
	s->len = (size_t)n;
	return s->len < header_room(s, off) ?
	    scan_stop(s, DOS_PACK_SHORT) : 0;
}

int
dos_pack_scan_next(struct dos_pack_scan *s)
{
	uint64_t off = s->next;
	size_t room;
	int rc;

	if (s->done)
		return 0;
	if (s->version == 0)
		s->version = entries_version(s->fd);
	s->offset = off;
	s->data = NULL;
	if (off >= s->limit) {
		s->done = 1;
		/* A pack that ends before its committed length lost entries. */
		if (off >= s->committed)
			return 0;
		s->verdict = DOS_PACK_DAMAGED;
		s->what = DOS_PACK_SHORT;
		return 1;
	}
	room = header_room(s, off);
	if (!in_window(s, off, room) && (rc = refill(s)) != 0)
		return rc;
	s->what = entry_at(s->version, s->buf + (off - s->start), room, off,
	    s->limit, &s->entry);
	/* The window holds whole entries: move it to one that does not fit. */
	if (s->what == DOS_PACK_ENTRY && off != s->start &&
	    !in_window(s, off, s->entry.header_size + s->entry.stored_size)) {
		if ((rc = refill(s)) != 0)
			return rc;
		s->what = entry_at(s->version, s->buf, room, off, s->limit,
		    &s->entry);
	}
	if (s->what != DOS_PACK_ENTRY)
		return scan_stop(s, s->what);
	s->verdict = DOS_PACK_OK;
	s->next = off + s->entry.header_size + s->entry.stored_size;
	if (in_window(s, off, s->entry.header_size + s->entry.stored_size))
		s->data = s->buf + (off - s->start) + s->entry.header_size;
	return 1;
}

/*
 * Whether the entry e at offset checks out as a whole: its stored bytes
 * are read from the window, or from the pack where the window ends.
 */
static int
entry_checks_out(const struct dos_pack_scan *s, uint64_t offset,
    const struct dos_pack_entry *e)
{
	uint64_t pos = offset + e->header_size, left = e->stored_size;
	unsigned char buf[4096];
	uint32_t crc = 0;
	size_t take;
	ssize_t n;

	if (in_window(s, pos, 0)) {
		take = s->len - (size_t)(pos - s->start);
		take = left < take ? (size_t)left : take;
		crc = dos_crc32(crc, s->buf + (pos - s->start), take);
		pos += take;
		left -= take;
	}
	while (left > 0) {
		take = left < sizeof buf ? (size_t)left : sizeof buf;
		if ((n = pread(s->fd, buf, take, (off_t)pos)) <= 0)
			return 0;
		crc = dos_crc32(crc, buf, (size_t)n);
		pos += (uint64_t)n;
		left -= (uint64_t)n;
	}
	return crc == e->data_crc;
}

int
dos_pack_scan_entry_ok(const struct dos_pack_scan *s)
{
	return entry_checks_out(s, s->offset, &s->entry);
}

uint64_t
dos_pack_scan_find(const struct dos_pack_scan *s, uint64_t from)
{
	struct dos_pack_entry e;
	uint64_t end = s->start + s->len, off;
	const unsigned char *p;
	size_t avail;

	for (off = from; off < end; off++) {
		p = s->buf + (off - s->start);
		avail = end - off < DOS_ENTRY_HEADER_MAX ? (size_t)(end - off) :
		    DOS_ENTRY_HEADER_MAX;
		if (s->version == 1) {
			p = memmem(p, (size_t)(end - off), ENTRY_MAGIC, 4);
			if (p == NULL)
				break;
			off = s->start + (uint64_t)(p - s->buf);
		} else if (!is_tag(*p)) {
			continue;
		}
		switch (entry_at(s->version, p, avail, off, s->limit, &e)) {
		case DOS_PACK_NO_ROOM:
			/* Cut off by the window: it may start one. */
			if (end < s->limit)
				return off;
			break;
		case DOS_PACK_PAST_END:
			/* A format-1 header has a checksum of its own. */
			if (s->version == 1)
				return off;
			break;
		case DOS_PACK_ENTRY:
			if (s->version == 1 || entry_checks_out(s, off, &e))
				return off;
			break;
		default:
			break;
		}
	}
	/* None: the last bytes may hold the start of one. */
	if (end < s->limit && s->len > DOS_ENTRY_HEADER_MAX &&
	    from < end - DOS_ENTRY_HEADER_MAX + 1)
		return end - DOS_ENTRY_HEADER_MAX + 1;
	return end;
}
