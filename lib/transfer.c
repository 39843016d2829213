/*
 * transfer.c: the stream of dos export and dos import (dos-export(5)),
 * and storing the objects that come in it, or from another container.
 *
 * A record carries an object as it is stored: a packed object's bytes
 * keep their codec from one container to the other, and the importer
 * decodes and hashes them to verify them, but stores them unchanged.
 * The reading side never trusts a length it has not checked: a record
 * header with a bad checksum ends the stream, since nothing after it can
 * be found; damage inside one object's bytes costs that object only.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "transfer.h"

static const unsigned char stream_magic[8] = "DOSXPORT";
#define STREAM_VERSION 1

enum { KIND_OBJECT = 'O', KIND_END = 'E' };
enum { FLAG_PACKED = 1 };
enum { TAIL_OK = 0, TAIL_DAMAGED = 1 };

#define IO_SIZE (256 * 1024)
/* Stored bytes up to this size are read whole and added as an entry. */
#define WHOLE_ENTRY_MAX (1 << 20)
#define BATCH_OBJECTS DOS_INDEX_TXN_RECORDS
#define BATCH_BYTES (64ULL << 20)

/* The stream's integers are big-endian, and at any alignment. */
static void
put_be32(unsigned char *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof v);
}

static void
put_be64(unsigned char *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof v);
}

static uint32_t
get_be32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return be32toh(v);
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return be64toh(v);
}

/* ---- markers ---- */

int
dos_marker_now(struct dos_store *st, struct dos_marker *m)
{
	struct dos_index *ix;
	uint32_t *packs;
	size_t nr;
	int rc;

	memcpy(m->id, st->cfg.id, sizeof m->id);
	m->pack = 0;
	m->length = 0;
	if ((rc = dos_pack_list(st, &packs, &nr)) < 0)
		return rc;
	if (nr > 0)
		m->pack = packs[nr - 1];
	free(packs);
	/*
	 * A pack without a committed length has none of its entries
	 * indexed yet: all of them come after the marker.
	 */
	if (nr == 0)
		return 0;
	if ((rc = dos_store_index(st, 0, &ix)) < 0)
		return rc;
	rc = dos_index_get_pack_length(ix, m->pack, &m->length);
	return rc == DOS_ENOTFOUND ? 0 : rc;
}

static int
parse_decimal(const char **s, uint64_t max, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		return DOS_EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (max - (uint64_t)(*p - '0')) / 10)
			return DOS_EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*s = p;
	*out = v;
	return 0;
}

int
dos_marker_parse(const char *s, struct dos_marker *m)
{
	uint64_t pack;

	if (strlen(s) < 34 || !dos_is_lower_hex(s, 32) || s[32] != ':')
		return DOS_EINVAL;
	memcpy(m->id, s, 32);
	m->id[32] = '\0';
	s += 33;
	if (parse_decimal(&s, UINT32_MAX, &pack) < 0 || *s++ != ':' ||
	    parse_decimal(&s, UINT64_MAX, &m->length) < 0 || *s != '\0')
		return DOS_EINVAL;
	m->pack = (uint32_t)pack;
	return 0;
}

void
dos_marker_format(const struct dos_marker *m, char *buf, size_t size)
{
	snprintf(buf, size, "%s:%u:%llu", m->id, m->pack,
	    (unsigned long long)m->length);
}

int
dos_marker_covers(const struct dos_marker *m,
    const struct dos_object_info *info)
{
	return info->storage == DOS_STORAGE_PACKED && (info->pack < m->pack ||
	    (info->pack == m->pack && info->offset < m->length));
}

/* ---- writing ---- */

int
dos_export_begin(struct dos_export *x, dos_sink_fn *sink, void *data)
{
	unsigned char hdr[DOS_STREAM_HEADER_SIZE];

	x->sink = sink;
	x->data = data;
	x->objects = x->bytes = 0;
	if ((x->buf = malloc(IO_SIZE)) == NULL)
		return DOS_ENOMEM;
	memcpy(hdr, stream_magic, sizeof stream_magic);
	put_be32(hdr + 8, STREAM_VERSION);
	put_be32(hdr + 12, 0);
	return sink(data, hdr, sizeof hdr);
}

/* A record header: its fields, then the CRC-32 of them. */
static void
encode_record(unsigned char *rec, int kind, const struct dos_stream_object *o)
{
	memset(rec, 0, DOS_STREAM_RECORD_SIZE);
	rec[0] = (unsigned char)kind;
	rec[1] = (unsigned char)o->codec;
	rec[2] = o->packed ? FLAG_PACKED : 0;
	put_be64(rec + 8, o->raw_size);
	put_be64(rec + 16, o->stored_size);
	memcpy(rec + 24, o->oid.hash, DOS_RAWSZ);
}

static int
send_record(struct dos_export *x, unsigned char *rec)
{
	put_be32(rec + 60, dos_crc32(0, rec, 60));
	return x->sink(x->data, rec, DOS_STREAM_RECORD_SIZE);
}

/* Send the object open in r, and close r. */
static int
export_reader(struct dos_export *x, struct dos_reader *r, int *damaged)
{
	unsigned char rec[DOS_STREAM_RECORD_SIZE], tail[DOS_STREAM_TAIL_SIZE];
	struct dos_stream_object o;
	uint64_t left;
	uint32_t crc = 0;
	ssize_t n = 0;
	int rc;

	*damaged = 0;
	memset(&o, 0, sizeof o);
	o.oid = r->info.oid;
	o.codec = dos_reader_stored_codec(r);
	o.raw_size = r->info.size;
	o.stored_size = left = dos_reader_stored_size(r);
	/* Decoded from a dictionary, it goes as a loose one would. */
	o.packed = r->info.storage == DOS_STORAGE_PACKED &&
	    o.codec == r->info.codec;
	encode_record(rec, KIND_OBJECT, &o);
	if ((rc = send_record(x, rec)) < 0)
		goto out;
	while (left > 0) {
		n = dos_reader_read_stored(r, x->buf,
		    left < IO_SIZE ? (size_t)left : IO_SIZE);
		if (n <= 0)
			break;
		crc = dos_crc32(crc, x->buf, (size_t)n);
		left -= (uint64_t)n;
		if ((rc = x->sink(x->data, x->buf, (size_t)n)) < 0)
			goto out;
	}
	/* The last read checks the whole: checksum, or hash of a loose one. */
	if (n >= 0 && left == 0)
		n = dos_reader_read_stored(r, x->buf, 1);
	if (n != 0) {
		/* Too short, too long or unreadable: fill the record anyway. */
		*damaged = n < 0 ? (int)n : DOS_ECORRUPT;
		memset(x->buf, 0, IO_SIZE);
		while (left > 0) {
			n = left < IO_SIZE ? (ssize_t)left : IO_SIZE;
			if ((rc = x->sink(x->data, x->buf, (size_t)n)) < 0)
				goto out;
			left -= (uint64_t)n;
		}
	}
	put_be32(tail, crc);
	put_be32(tail + 4, *damaged ? TAIL_DAMAGED : TAIL_OK);
	if ((rc = x->sink(x->data, tail, sizeof tail)) < 0)
		goto out;
	x->objects++;
	x->bytes += o.stored_size;
out:
	dos_reader_close(r);
	return rc;
}

int
dos_export_object(struct dos_export *x, struct dos_store *st,
    const struct dos_oid *oid, int *damaged)
{
	struct dos_reader r;
	int rc;

	*damaged = 0;
	if ((rc = dos_reader_open(st, oid, 0, &r)) < 0)
		return rc;
	return export_reader(x, &r, damaged);
}

struct export_walk {
	struct dos_export *x;
	struct dos_store *st;
	const struct dos_marker *since;
	const struct dos_export_report *rep;
};

static int
export_one(const struct dos_object_info *info, void *data)
{
	struct export_walk *ew = data;
	struct dos_reader r;
	int rc, damaged;

	if (ew->since != NULL && dos_marker_covers(ew->since, info))
		return 0;
	/* Read where the listing found it, with no lookup. */
	damaged = 0;
	if ((rc = dos_reader_open_listed(ew->st, info, 0, &r)) == 0)
		rc = export_reader(ew->x, &r, &damaged);
	if (rc == DOS_ENOTFOUND)
		return 0;	/* deleted since it was listed */
	if (rc < 0)
		return rc;
	if (damaged)
		ew->rep->damaged(ew->rep->data, &info->oid, damaged);
	if (ew->rep->sent != NULL)
		ew->rep->sent(ew->rep->data, ew->x->objects);
	return 0;
}

int
dos_export_store(struct dos_export *x, struct dos_store *st,
    const struct dos_marker *since, const struct dos_export_report *rep)
{
	struct export_walk ew = { x, st, since, rep };

	return dos_for_each_object(st, DOS_ITER_UNORDERED, export_one, &ew);
}

int
dos_export_end(struct dos_export *x, const struct dos_marker *m)
{
	unsigned char rec[DOS_STREAM_RECORD_SIZE];
	struct dos_stream_object o = { { { 0 } }, DOS_CODEC_NONE,
	    x->objects, m->length, 0, 0, 0 };

	encode_record(rec, KIND_END, &o);
	put_be32(rec + 4, m->pack);
	memcpy(rec + 24, m->id, 32);
	return send_record(x, rec);
}

void
dos_export_release(struct dos_export *x)
{
	free(x->buf);
	x->buf = NULL;
}

/* ---- reading ---- */

/* Up to len buffered bytes at in->buf + in->pos: how many there are. */
static ssize_t
fill(struct dos_stream_in *in, size_t len)
{
	ssize_t n;

	if (in->len - in->pos >= len || in->eof)
		return (ssize_t)(in->len - in->pos);
	memmove(in->buf, in->buf + in->pos, in->len - in->pos);
	in->len -= in->pos;
	in->pos = 0;
	while (in->len < len && !in->eof) {
		n = in->source(in->data, in->buf + in->len, IO_SIZE - in->len);
		if (n < 0)
			return n;
		if (n == 0)
			in->eof = 1;
		in->len += (size_t)n;
	}
	return (ssize_t)in->len;
}

static int
fail(struct dos_stream_in *in, enum dos_stream_problem problem)
{
	in->problem = problem;
	return DOS_ECORRUPT;
}

/* Take len bytes (at most IO_SIZE): a pointer to them, or NULL. */
static const unsigned char *
take(struct dos_stream_in *in, size_t len, int *rc)
{
	const unsigned char *p;
	ssize_t n = fill(in, len);

	if (n < 0 || (size_t)n < len) {
		*rc = n < 0 ? (int)n : fail(in, DOS_STREAM_CUT);
		return NULL;
	}
	p = in->buf + in->pos;
	in->pos += len;
	in->offset += len;
	return p;
}

int
dos_stream_begin(struct dos_stream_in *in, dos_source_fn *source, void *data)
{
	const unsigned char *hdr;
	int rc = 0;

	memset(in, 0, sizeof *in);
	in->source = source;
	in->data = data;
	if ((in->buf = malloc(IO_SIZE)) == NULL)
		return DOS_ENOMEM;
	if ((hdr = take(in, DOS_STREAM_HEADER_SIZE, &rc)) == NULL)
		return in->problem == DOS_STREAM_CUT ?
		    fail(in, DOS_STREAM_NOT_STREAM) : rc;
	if (memcmp(hdr, stream_magic, sizeof stream_magic) != 0 ||
	    get_be32(hdr + 8) != STREAM_VERSION || get_be32(hdr + 12) != 0)
		return fail(in, DOS_STREAM_NOT_STREAM);
	return 0;
}

static int
all_zero(const unsigned char *p, size_t len)
{
	while (len-- > 0)
		if (*p++ != 0)
			return 0;
	return 1;
}

/* The end record: the count must agree, and nothing may follow. */
static int
read_end(struct dos_stream_in *in, const unsigned char *rec)
{
	ssize_t n;

	in->end_count = get_be64(rec + 8);
	in->marker.pack = get_be32(rec + 4);
	in->marker.length = get_be64(rec + 16);
	memcpy(in->marker.id, rec + 24, 32);
	in->marker.id[32] = '\0';
	if (!all_zero(rec + 1, 3) || !dos_is_lower_hex(in->marker.id, 32) ||
	    !all_zero(rec + 56, 4))
		return fail(in, DOS_STREAM_BAD_RECORD);
	if (in->end_count != in->records)
		return fail(in, DOS_STREAM_BAD_COUNT);
	if ((n = fill(in, 1)) < 0)
		return (int)n;
	return n > 0 ? fail(in, DOS_STREAM_TRAILING) : 0;
}

int
dos_stream_next(struct dos_stream_in *in)
{
	const unsigned char *rec;
	int rc = 0;

	if (in->in_record && (rc = dos_stream_skip(in)) < 0)
		return rc;
	if ((rec = take(in, DOS_STREAM_RECORD_SIZE, &rc)) == NULL)
		return rc;
	if (get_be32(rec + 60) != dos_crc32(0, rec, 60))
		return fail(in, DOS_STREAM_BAD_RECORD);
	if (rec[0] == KIND_END)
		return read_end(in, rec);
	in->obj.codec = rec[1];
	in->obj.packed = rec[2] & FLAG_PACKED;
	in->obj.has_crc = 0;
	in->obj.raw_size = get_be64(rec + 8);
	in->obj.stored_size = get_be64(rec + 16);
	memcpy(in->obj.oid.hash, rec + 24, DOS_RAWSZ);
	if (rec[0] != KIND_OBJECT || rec[1] > DOS_CODEC_ZSTD ||
	    (rec[2] & ~FLAG_PACKED) != 0 || !all_zero(rec + 3, 5) ||
	    !all_zero(rec + 56, 4) ||
	    (in->obj.codec == DOS_CODEC_NONE &&
	    in->obj.raw_size != in->obj.stored_size))
		return fail(in, DOS_STREAM_BAD_RECORD);
	in->left = in->obj.stored_size;
	in->crc = 0;
	in->in_record = 1;
	return 1;
}

ssize_t
dos_stream_read(struct dos_stream_in *in, void *buf, size_t len)
{
	const unsigned char *tail;
	ssize_t n;
	int rc = 0;

	if (!in->in_record)
		return 0;
	if (in->left == 0) {
		if ((tail = take(in, DOS_STREAM_TAIL_SIZE, &rc)) == NULL)
			return rc;
		in->in_record = 0;
		in->records++;
		if (get_be32(tail + 4) != TAIL_OK)
			return fail(in, DOS_STREAM_SOURCE_DAMAGED);
		if (get_be32(tail) != in->crc)
			return fail(in, DOS_STREAM_BAD_DATA);
		in->obj.crc = in->crc;
		in->obj.has_crc = 1;
		return 0;
	}
	if (len > in->left)
		len = (size_t)in->left;
	if ((n = fill(in, 1)) < 0)
		return n;
	if (n == 0)
		return fail(in, DOS_STREAM_CUT);
	if ((size_t)n < len)
		len = (size_t)n;
	memcpy(buf, in->buf + in->pos, len);
	in->pos += len;
	in->offset += len;
	in->left -= len;
	in->crc = dos_crc32(in->crc, buf, len);
	return (ssize_t)len;
}

int
dos_stream_skip(struct dos_stream_in *in)
{
	unsigned char buf[4096];
	ssize_t n;

	while ((n = dos_stream_read(in, buf, sizeof buf)) > 0)
		;
	return (int)n;
}

void
dos_stream_release(struct dos_stream_in *in)
{
	free(in->buf);
	in->buf = NULL;
}

/* ---- storing ---- */

struct dos_importer {
	struct dos_store *st;
	struct dos_pack_writer *w;
	struct dos_stored_check check;	/* of large objects */
	unsigned char *stored;	/* a small object's stored bytes */
	int had_loose;		/* loose objects when the import began */
	/* Where the objects the writer checks are reported. */
	const struct dos_import_report *rep;
	enum dos_stream_problem why;	/* the damage of one not theirs */
};

static int
found_loose(const struct dos_oid *oid, int dirfd, const char *name,
    void *data)
{
	return 1;
}

int
dos_importer_new(struct dos_store *st, struct dos_pack_writer *w,
    struct dos_importer **out)
{
	struct dos_importer *im;
	int rc;

	if ((im = calloc(1, sizeof *im)) == NULL)
		return DOS_ENOMEM;
	im->st = st;
	im->w = w;
	if ((im->stored = malloc(WHOLE_ENTRY_MAX)) == NULL) {
		dos_importer_free(im);
		return DOS_ENOMEM;
	}
	/*
	 * A container without loose objects costs no look in loose/ per
	 * object: one a writer adds meanwhile may get a packed copy too,
	 * which dos pack drops later, as it does for any.
	 */
	if ((rc = dos_stored_check_init(&im->check)) < 0 ||
	    (rc = dos_loose_for_each(st, "", 0, found_loose, NULL)) < 0) {
		dos_importer_free(im);
		return rc;
	}
	im->had_loose = rc;
	*out = im;
	return 0;
}

void
dos_importer_free(struct dos_importer *im)
{
	if (im == NULL)
		return;
	dos_stored_check_release(&im->check);
	free(im->stored);
	free(im);
}

/*
 * Looked up before the object is read, so the writer need not look again
 * (DOS_PACK_ADD_NO_DEDUP): one index search per object, not two.
 */
int
dos_importer_has(struct dos_importer *im, const struct dos_oid *oid)
{
	return dos_pack_writer_has(im->w, oid,
	    im->had_loose ? DOS_PACK_ADD_DEDUP_LOOSE : 0);
}

/* Read exactly len bytes of source into buf. */
static int
read_exactly(dos_source_fn *source, void *data, unsigned char *buf,
    size_t len)
{
	unsigned char probe[1];
	ssize_t n;

	while (len > 0) {
		if ((n = source(data, buf, len)) < 0)
			return (int)n;
		if (n == 0)
			return DOS_ECORRUPT;
		buf += n;
		len -= (size_t)n;
	}
	/* The source's end may hold a last check of its own. */
	n = source(data, probe, 1);
	return n == 0 ? 0 : n < 0 ? (int)n : DOS_ECORRUPT;
}

/* What the writer found of an object it checked: stored, or not its. */
static int
report_checked(void *data, const struct dos_oid *oid, int rc)
{
	struct dos_importer *im = data;

	if (rc == 0)
		return im->rep->stored(im->rep->data, oid, 0);
	im->rep->damaged(im->rep->data, oid, im->why);
	return 0;
}

/*
 * A small encoded object, read whole, then checked (decoded and hashed)
 * and added by the writer, in its threads if it has some: 1, the writer
 * reports it.
 */
static int
add_whole(struct dos_importer *im, const struct dos_stream_object *o,
    dos_source_fn *source, void *data)
{
	size_t len = (size_t)o->stored_size;
	int rc;

	if ((rc = read_exactly(source, data, im->stored, len)) < 0)
		return rc;
	/* o may be the stream's own, which checked the CRC as it read. */
	rc = dos_pack_writer_add_checked(im->w, &o->oid, o->codec, o->raw_size,
	    im->stored, len, o->has_crc ? o->crc : dos_crc32(0, im->stored,
	    len), report_checked, im);
	return rc < 0 ? rc : 1;
}

/* A large encoded object, into the pack as it is verified. */
static int
add_streamed(struct dos_importer *im, const struct dos_stream_object *o,
    dos_source_fn *source, void *data)
{
	struct dos_oid oid;
	int existed;
	uint64_t left = o->stored_size;
	ssize_t n = 0;
	int rc;

	if ((rc = dos_stored_check_begin(&im->check, o->codec,
	    o->raw_size)) < 0 ||
	    (rc = dos_pack_writer_begin_encoded(im->w, o->codec,
	    o->raw_size)) < 0)
		return rc;
	while (left > 0) {
		n = source(data, im->stored, left < WHOLE_ENTRY_MAX ?
		    (size_t)left : WHOLE_ENTRY_MAX);
		if (n <= 0)
			break;
		left -= (uint64_t)n;
		if ((rc = dos_stored_check_feed(&im->check, im->stored,
		    (size_t)n)) < 0 ||
		    (rc = dos_pack_writer_write(im->w, im->stored,
		    (size_t)n)) < 0)
			goto fail;
	}
	if (n >= 0 && left == 0)
		n = source(data, im->stored, 1);
	rc = n < 0 ? (int)n : n > 0 || left > 0 ? DOS_ECORRUPT :
	    dos_stored_check_end(&im->check, &o->oid);
	if (rc < 0)
		goto fail;
	return dos_pack_writer_end(im->w, &o->oid, DOS_PACK_ADD_NO_DEDUP, &oid,
	    &existed);
fail:
	dos_pack_writer_abort(im->w);
	return rc;
}

/* Raw bytes: the writer hashes and compresses them as it always does. */
struct counted {
	dos_source_fn *source;
	void *data;
	uint64_t left;
};

static ssize_t
counted_read(void *data, void *buf, size_t len)
{
	struct counted *c = data;
	ssize_t n;

	if (c->left == 0) {
		/* The source's end may hold a last check of its own. */
		n = c->source(c->data, buf, 1);
		return n == 0 ? 0 : n < 0 ? n : DOS_ECORRUPT;
	}
	if (len > c->left)
		len = (size_t)c->left;
	if ((n = c->source(c->data, buf, len)) == 0)
		return DOS_ECORRUPT;
	if (n > 0)
		c->left -= (uint64_t)n;
	return n;
}

int
dos_importer_add(struct dos_importer *im, const struct dos_stream_object *o,
    dos_source_fn *source, void *data)
{
	struct counted c = { source, data, o->raw_size };
	struct dos_oid oid;
	int rc, frc, existed;

	if (o->codec == DOS_CODEC_NONE && !o->packed)
		rc = dos_pack_writer_add(im->w, counted_read, &c, &o->oid,
		    DOS_PACK_ADD_NO_DEDUP, &oid, &existed);
	else if (o->stored_size <= WHOLE_ENTRY_MAX)
		rc = add_whole(im, o, source, data);
	else
		rc = add_streamed(im, o, source, data);
	if (rc < 0)
		return rc;
	if (dos_pack_writer_pending(im->w) >= BATCH_OBJECTS ||
	    dos_pack_writer_pending_bytes(im->w) >= BATCH_BYTES) {
		if ((frc = dos_pack_writer_flush(im->w)) < 0)
			return frc;
	}
	return rc;
}

static ssize_t
stream_source(void *data, void *buf, size_t len)
{
	return dos_stream_read(data, buf, len);
}

/* The problems that leave the stream readable from the next record. */
static int
record_only(enum dos_stream_problem p)
{
	return p == DOS_STREAM_OK || p == DOS_STREAM_BAD_DATA ||
	    p == DOS_STREAM_SOURCE_DAMAGED;
}

int
dos_import_stream(struct dos_importer *im, struct dos_stream_in *in,
    const struct dos_import_report *rep)
{
	enum dos_stream_problem why;
	int rc, existed, frc;

	im->rep = rep;
	im->why = DOS_STREAM_BAD_DATA;
	while ((rc = dos_stream_next(in)) == 1) {
		if ((rc = dos_importer_has(im, &in->obj.oid)) < 0)
			break;
		existed = rc;
		rc = existed ? dos_stream_skip(in) :
		    dos_importer_add(im, &in->obj, stream_source, in);
		if (rc == DOS_ECORRUPT && record_only(in->problem)) {
			/* Not stored; the next record is still found. */
			why = in->problem != DOS_STREAM_OK ? in->problem :
			    DOS_STREAM_BAD_DATA;
			in->problem = DOS_STREAM_OK;
			if (in->in_record && (rc = dos_stream_skip(in)) < 0 &&
			    (rc != DOS_ECORRUPT || !record_only(in->problem)))
				break;
			in->problem = DOS_STREAM_OK;
			/* Damage to bytes not needed costs nothing. */
			rc = existed ? 0 : DOS_ECORRUPT;
			if (!existed) {
				rep->damaged(rep->data, &in->obj.oid, why);
				continue;
			}
		}
		if (rc == 1)
			continue;	/* the writer reports it */
		if (rc < 0 || (rc = rep->stored(rep->data, &in->obj.oid,
		    existed)) < 0)
			break;
	}
	/* What came whole is kept, however the stream ended. */
	frc = dos_pack_writer_flush(im->w);
	return rc < 0 ? rc : frc;
}

struct import_walk {
	struct dos_importer *im;
	struct dos_store *src;
	const struct dos_import_report *rep;
};

static ssize_t
reader_source(void *data, void *buf, size_t len)
{
	return dos_reader_read_stored(data, buf, len);
}

static int
import_one(const struct dos_object_info *info, void *data)
{
	struct import_walk *iw = data;
	struct dos_stream_object o;
	struct dos_reader r;
	int rc, existed;

	if ((existed = dos_importer_has(iw->im, &info->oid)) < 0)
		return existed;
	if (!existed) {
		rc = dos_reader_open_listed(iw->src, info, 0, &r);
		if (rc == DOS_ENOTFOUND)
			return 0;	/* deleted since it was listed */
		if (rc < 0 && rc != DOS_ECORRUPT)
			return rc;
		if (rc == 0) {
			memset(&o, 0, sizeof o);
			o.oid = info->oid;
			o.codec = dos_reader_stored_codec(&r);
			o.raw_size = r.info.size;
			o.stored_size = dos_reader_stored_size(&r);
			o.packed = r.info.storage == DOS_STORAGE_PACKED &&
			    o.codec == r.info.codec;
			rc = dos_importer_add(iw->im, &o, reader_source, &r);
			dos_reader_close(&r);
		}
		if (rc == 1)
			return 0;	/* the writer reports it */
		if (rc == DOS_ECORRUPT) {
			iw->rep->damaged(iw->rep->data, &info->oid,
			    DOS_STREAM_SOURCE_DAMAGED);
			return 0;
		}
		if (rc < 0)
			return rc;
	}
	return iw->rep->stored(iw->rep->data, &info->oid, existed);
}

int
dos_import_store(struct dos_importer *im, struct dos_store *src,
    const struct dos_import_report *rep)
{
	struct import_walk iw = { im, src, rep };
	int rc, frc;

	im->rep = rep;
	im->why = DOS_STREAM_SOURCE_DAMAGED;
	rc = dos_for_each_object(src, DOS_ITER_UNORDERED, import_one, &iw);
	frc = dos_pack_writer_flush(im->w);
	return rc < 0 ? rc : frc;
}
