/*
 * pack.c: the pack format, and reading packs.
 *
 * packs/<n> starts with a 16-byte header ("DOSPACK" NUL, version, zero)
 * and holds entries back to back.  Each entry is a 64-byte header that
 * describes it completely (id, codec, raw and stored sizes, a CRC-32 of
 * the stored bytes, a CRC-32 of the header itself) followed by the stored
 * bytes.  The index can therefore always be rebuilt from the packs, and a
 * pack can be verified without the index.  Packs are only appended to,
 * by the writer in pack-write.c; bytes past a pack's committed length
 * (in the index) are the torn tail of a killed writer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dos.h"

#define ENTRY_MAGIC "DOSe"

static const unsigned char pack_magic[8] = "DOSPACK";

static void
le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void
le64(unsigned char *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

void
dos_pack_encode_entry(unsigned char *buf, const struct dos_pack_entry *e)
{
	memcpy(buf, ENTRY_MAGIC, 4);
	buf[4] = (unsigned char)e->codec;
	buf[5] = (unsigned char)e->flags;
	buf[6] = DOS_ENTRY_HEADER_SIZE;
	buf[7] = 0;
	le64(buf + 8, e->raw_size);
	le64(buf + 16, e->stored_size);
	memcpy(buf + 24, e->oid.hash, DOS_RAWSZ);
	le32(buf + 56, e->data_crc);
	le32(buf + 60, dos_crc32(0, buf, 60));
}

int
dos_pack_decode_entry(const unsigned char *buf, struct dos_pack_entry *e)
{
	if (memcmp(buf, ENTRY_MAGIC, 4) != 0 ||
	    buf[6] != DOS_ENTRY_HEADER_SIZE ||
	    rd32(buf + 60) != dos_crc32(0, buf, 60) ||
	    buf[4] > DOS_CODEC_ZSTD)
		return DOS_ECORRUPT;
	e->codec = (enum dos_codec)buf[4];
	e->flags = buf[5];
	e->raw_size = rd64(buf + 8);
	e->stored_size = rd64(buf + 16);
	memcpy(e->oid.hash, buf + 24, DOS_RAWSZ);
	e->data_crc = rd32(buf + 56);
	return 0;
}

void
dos_pack_encode_header(unsigned char *hdr)
{
	memset(hdr, 0, DOS_PACK_HEADER_SIZE);
	memcpy(hdr, pack_magic, 8);
	le32(hdr + 8, DOS_PACK_VERSION);
}

int
dos_pack_check_header(int fd)
{
	unsigned char hdr[DOS_PACK_HEADER_SIZE];
	ssize_t n = pread(fd, hdr, sizeof hdr, 0);

	if (n < 0)
		return DOS_EIO;
	if (n != sizeof hdr || memcmp(hdr, pack_magic, 8) != 0 ||
	    rd32(hdr + 8) != DOS_PACK_VERSION)
		return DOS_ECORRUPT;
	return 0;
}

static int
cmp_pack(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
dos_pack_list(struct dos_store *st, uint32_t **packs, size_t *nr)
{
	struct dirent *e;
	uint32_t n, *list = NULL, *grown;
	size_t alloc = 0;
	DIR *d;
	int rc;

	*nr = 0;
	*packs = NULL;
	if ((rc = dos_opendir(st->dirfd, "packs", &d)) < 0 || d == NULL)
		return rc;
	while ((e = readdir(d)) != NULL) {
		if (dos_parse_pack_name(e->d_name, &n) < 0)
			continue;
		if ((grown = dos_grow(list, *nr, &alloc, sizeof *list, 16)) == NULL) {
			free(list);
			closedir(d);
			return DOS_ENOMEM;
		}
		list = grown;
		list[(*nr)++] = n;
	}
	closedir(d);
	if (*nr > 1)
		qsort(list, *nr, sizeof *list, cmp_pack);
	*packs = list;
	return 0;
}

const uint32_t *
dos_pack_list_find(const uint32_t *packs, size_t nr, uint32_t pack)
{
	return nr > 0 ? bsearch(&pack, packs, nr, sizeof *packs, cmp_pack) :
	    NULL;
}

int
dos_store_pack_fd(struct dos_store *st, uint32_t pack, int *fd)
{
	struct dos_open_pack *grown;
	size_t lo = 0, hi = st->packfds_nr, mid;
	int newfd;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (st->packfds[mid].pack < pack)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < st->packfds_nr && st->packfds[lo].pack == pack) {
		*fd = st->packfds[lo].fd;
		return 0;
	}
	if ((newfd = dos_pack_open(st, pack)) < 0)
		return errno == ENOENT ? DOS_ENOTFOUND : DOS_EIO;
	grown = dos_grow(st->packfds, st->packfds_nr, &st->packfds_alloc,
	    sizeof *grown, 16);
	if (grown == NULL) {
		close(newfd);
		return DOS_ENOMEM;
	}
	st->packfds = grown;
	memmove(grown + lo + 1, grown + lo,
	    (st->packfds_nr - lo) * sizeof *grown);
	grown[lo] = (struct dos_open_pack){ pack, newfd };
	st->packfds_nr++;
	*fd = newfd;
	return 0;
}

int
dos_pack_open(struct dos_store *st, uint32_t pack)
{
	char name[32];

	snprintf(name, sizeof name, "packs/%u", pack);
	return dos_open_beneath(st->dirfd, name, O_RDONLY, 0);
}

/* ---- scanning ---- */

enum dos_pack_what
dos_pack_entry_at(const unsigned char *hdr, uint64_t offset, uint64_t limit,
    struct dos_pack_entry *e)
{
	if (dos_pack_decode_entry(hdr, e) < 0)
		return DOS_PACK_BAD_HEADER;
	/* An entry must end in the pack: else the next offset could wrap. */
	if (e->stored_size > limit - offset - DOS_ENTRY_HEADER_SIZE)
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
	return s->len < DOS_ENTRY_HEADER_SIZE ? scan_stop(s, DOS_PACK_SHORT) :
	    0;
}

int
dos_pack_scan_next(struct dos_pack_scan *s)
{
	uint64_t off = s->next;
	int rc;

	if (s->done)
		return 0;
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
	if (s->limit - off < DOS_ENTRY_HEADER_SIZE)
		return scan_stop(s, DOS_PACK_NO_ROOM);
	if (!in_window(s, off, DOS_ENTRY_HEADER_SIZE) && (rc = refill(s)) != 0)
		return rc;
	s->what = dos_pack_entry_at(s->buf + (off - s->start), off, s->limit,
	    &s->entry);
	/* The window holds whole entries: move it to one that does not fit. */
	if (s->what == DOS_PACK_ENTRY && off != s->start &&
	    !in_window(s, off, DOS_ENTRY_HEADER_SIZE + s->entry.stored_size)) {
		if ((rc = refill(s)) != 0)
			return rc;
		s->what = dos_pack_entry_at(s->buf, off, s->limit, &s->entry);
	}
	if (s->what != DOS_PACK_ENTRY)
		return scan_stop(s, s->what);
	s->verdict = DOS_PACK_OK;
	s->next = off + DOS_ENTRY_HEADER_SIZE + s->entry.stored_size;
	if (in_window(s, off, DOS_ENTRY_HEADER_SIZE + s->entry.stored_size))
		s->data = s->buf + (off - s->start) + DOS_ENTRY_HEADER_SIZE;
	return 1;
}
