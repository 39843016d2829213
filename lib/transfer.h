/*
 * transfer.h: the stream of dos export and dos import (lib/transfer.c),
 * part of the storage library: it never prints and never exits.  Only
 * dos-export, dos-import and their fuzz target use it, so it has a
 * header of its own rather than a part of dos.h.
 */
#ifndef DOS_TRANSFER_H
#define DOS_TRANSFER_H

#include "dos.h"

/*
 * The stream is dos-export(5): a header, one record per object (a header
 * with the object's id, codec and sizes, its stored bytes, and a tail
 * with their CRC-32), and an end record that counts the records.
 */
#define DOS_STREAM_HEADER_SIZE 16
#define DOS_STREAM_RECORD_SIZE 64
#define DOS_STREAM_TAIL_SIZE 8

/*
 * Where an export stopped, for a later one to send only what came after:
 * the container, its newest pack and that pack's committed length.
 * Packs are only ever appended to, the newest one only, so every object
 * stored since is loose, or packed in a later pack or past length.
 */
struct dos_marker {
	char id[33];		/* the container's */
	uint32_t pack;
	uint64_t length;
};
#define DOS_MARKER_MAX 80	/* its text, NUL included */
/* The marker of st now: taken before listing what an export sends. */
int dos_marker_now(struct dos_store *st, struct dos_marker *m);
/* "<id>:<pack>:<length>"; DOS_EINVAL for anything else. */
int dos_marker_parse(const char *s, struct dos_marker *m);
void dos_marker_format(const struct dos_marker *m, char *buf, size_t size);
/* Whether the object was stored by the time of m (sent before it). */
int dos_marker_covers(const struct dos_marker *m,
    const struct dos_object_info *info);

/* An object as a record describes it. */
struct dos_stream_object {
	struct dos_oid oid;
	enum dos_codec codec;
	uint64_t raw_size, stored_size;
	/*
	 * The sender's copy is packed: its codec is a packer's choice, to
	 * keep even when it is none, rather than compress again.
	 */
	int packed;
	/* The CRC-32 of the stored bytes, once they were read and checked. */
	int has_crc;
	uint32_t crc;
};

/*
 * Writing a stream to sink.  dos_export_object() sends one object;
 * when it cannot be read whole (*damaged: why, DOS_ECORRUPT or DOS_EIO),
 * its record is still completed, marked damaged, for the stream to go
 * on.  DOS_ENOTFOUND (nothing sent) when it is not stored.
 */
struct dos_export {
	dos_sink_fn *sink;
	void *data;
	unsigned char *buf;
	uint64_t objects, bytes;	/* records sent, their stored bytes */
};
int dos_export_begin(struct dos_export *x, dos_sink_fn *sink, void *data);
int dos_export_object(struct dos_export *x, struct dos_store *st,
    const struct dos_oid *oid, int *damaged);
/*
 * Every object of st in storage order, or only those m does not cover;
 * damaged(oid, why) for each sent damaged, sent(count) after each.
 */
struct dos_export_report {
	void (*damaged)(void *data, const struct dos_oid *oid, int why);
	void (*sent)(void *data, uint64_t objects);
	void *data;
};
int dos_export_store(struct dos_export *x, struct dos_store *st,
    const struct dos_marker *since, const struct dos_export_report *rep);
/* The end record, with the marker taken at the start. */
int dos_export_end(struct dos_export *x, const struct dos_marker *m);
void dos_export_release(struct dos_export *x);

/*
 * Reading a stream from source.  A problem of one record's data leaves
 * the stream readable from the next record; the others end it.
 */
enum dos_stream_problem {
	DOS_STREAM_OK,
	DOS_STREAM_NOT_STREAM,	/* no dos export header */
	DOS_STREAM_CUT,		/* it ends before its end record */
	DOS_STREAM_BAD_RECORD,	/* a record header fails its checksum */
	DOS_STREAM_BAD_COUNT,	/* the end record counts other records */
	DOS_STREAM_TRAILING,	/* bytes after the end record */
	DOS_STREAM_BAD_DATA,	/* one object's bytes are damaged */
	DOS_STREAM_SOURCE_DAMAGED,	/* the exporter marked it damaged */
};
struct dos_stream_in {
	dos_source_fn *source;
	void *data;
	unsigned char *buf;
	size_t pos, len;
	int eof;
	enum dos_stream_problem problem;
	uint64_t offset;	/* of the next byte in the stream */
	uint64_t records;	/* records read whole */
	struct dos_stream_object obj;	/* the current record's */
	uint64_t left;		/* its stored bytes not yet read */
	uint32_t crc;
	int in_record;		/* its header was read, not yet its tail */
	/* The end record's. */
	uint64_t end_count;
	struct dos_marker marker;
};
/* DOS_ECORRUPT (problem says why), or what source returned. */
int dos_stream_begin(struct dos_stream_in *in, dos_source_fn *source,
    void *data);
/*
 * 1 with the next record's object in in->obj, 0 after the end record
 * (nothing follows it), or DOS_ECORRUPT and in->problem.
 */
int dos_stream_next(struct dos_stream_in *in);
/*
 * The record's stored bytes, like read(2): 0 once they are all read and
 * the tail agrees, else DOS_ECORRUPT (in->problem says why).
 */
ssize_t dos_stream_read(struct dos_stream_in *in, void *buf, size_t len);
/* Read past the rest of the record. */
int dos_stream_skip(struct dos_stream_in *in);
void dos_stream_release(struct dos_stream_in *in);

/*
 * Storing objects that come encoded (from a stream, or a copy of
 * another container's) with a pack writer: dos_importer_add() decodes
 * and hashes the bytes source gives, stores them as they are encoded, and
 * flushes the writer a batch at a time.  A packed object keeps its codec,
 * none included; a loose one, raw, is compressed as the writer would.
 * DOS_ECORRUPT when the bytes are not o's (nothing is stored); a source's
 * error passes through.  0 when o is stored; 1 when the writer's threads
 * check a small one, and the report given to dos_import_stream() or
 * dos_import_store() hears whether it was stored.
 */
struct dos_importer;
int dos_importer_new(struct dos_store *st, struct dos_pack_writer *w,
    struct dos_importer **out);
/*
 * 1 if oid is stored already or added in this import (its bytes are not
 * needed), 0 if not: asked before each dos_importer_add(), which does not
 * ask again.
 */
int dos_importer_has(struct dos_importer *im, const struct dos_oid *oid);
int dos_importer_add(struct dos_importer *im,
    const struct dos_stream_object *o, dos_source_fn *source, void *data);
void dos_importer_free(struct dos_importer *im);

/*
 * Import every record of a stream, or every object of container src,
 * then flush the writer.  Each object verified and stored (or there
 * already) goes to stored(); one whose bytes are damaged to damaged()
 * (never stored), and the import goes on.  A stream that ends otherwise
 * than whole returns DOS_ECORRUPT with in->problem; what came before it
 * is kept.
 */
struct dos_import_report {
	int (*stored)(void *data, const struct dos_oid *oid, int existed);
	void (*damaged)(void *data, const struct dos_oid *oid,
	    enum dos_stream_problem why);
	void *data;
};
int dos_import_stream(struct dos_importer *im, struct dos_stream_in *in,
    const struct dos_import_report *rep);
int dos_import_store(struct dos_importer *im, struct dos_store *src,
    const struct dos_import_report *rep);

#endif
