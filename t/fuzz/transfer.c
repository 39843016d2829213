/*
 * transfer.c: fuzz the stream of dos import (dos-export(5)): its decoder
 * and the importer behind it, which decodes, hashes and stores what the
 * stream carries.  The input is imported into a fresh container, which
 * every reader then looks at; what was stored must read back whole.
 *
 * The first input byte chooses the mode; the rest is the stream.  A
 * fuzzer seldom guesses a CRC-32, so MODE_FIX_CRC makes the harness fill
 * in the checksums of the record headers and data it finds, letting
 * sizes, codecs and bytes reach the importer.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "transfer.h"

enum {
	MODE_FIX_CRC = 1 << 0,
};

/* The stream's integers are big-endian. */
static void
put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof v);
}

/* Walk the records as the decoder would and give them valid checksums. */
static void
fix_checksums(uint8_t *s, size_t len)
{
	size_t off = DOS_STREAM_HEADER_SIZE;
	uint64_t stored;

	while (len >= DOS_STREAM_RECORD_SIZE &&
	    off <= len - DOS_STREAM_RECORD_SIZE) {
		put_be32(s + off + 60, dos_crc32(0, s + off, 60));
		if (s[off] != 'O')
			return;
		memcpy(&stored, s + off + 16, sizeof stored);
		stored = be64toh(stored);
		off += DOS_STREAM_RECORD_SIZE;
		if (stored > len - off || len - off - stored < DOS_STREAM_TAIL_SIZE)
			return;
		put_be32(s + off + stored, dos_crc32(0, s + off, (size_t)stored));
		off += (size_t)stored + DOS_STREAM_TAIL_SIZE;
	}
}

struct input {
	const uint8_t *p;
	size_t len;
};

/* Short reads, as a pipe gives them, so that refills are exercised. */
static ssize_t
read_input(void *data, void *buf, size_t len)
{
	struct input *in = data;

	if (len > 4093)
		len = 4093;
	if (len > in->len)
		len = in->len;
	memcpy(buf, in->p, len);
	in->p += len;
	in->len -= len;
	return (ssize_t)len;
}

static int
stored(void *data, const struct dos_oid *oid, int existed)
{
	return 0;
}

static void
damaged(void *data, const struct dos_oid *oid, enum dos_stream_problem why)
{
}

/* What the importer stored must read back whole: anything else is a bug. */
static int
read_back(const struct dos_object_info *info, void *data)
{
	static unsigned char buf[1 << 16];
	struct dos_reader r;
	ssize_t n;

	if (dos_reader_open(data, &info->oid, DOS_READ_VERIFY, &r) < 0)
		abort();
	while ((n = dos_reader_read(&r, buf, sizeof buf)) > 0)
		;
	if (n < 0)
		abort();
	dos_reader_close(&r);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct dos_import_report report = { stored, damaged, NULL };
	struct dos_store st = DOS_STORE_INIT;
	struct dos_stream_in in;
	struct dos_pack_writer *w;
	struct dos_importer *im;
	struct input src;
	char path[4096];
	uint8_t *copy;
	long holder;

	if (size == 0)
		return 0;
	if ((copy = malloc(size)) == NULL)
		fuzz_die("out of memory");
	memcpy(copy, data + 1, size - 1);
	if (data[0] & MODE_FIX_CRC)
		fix_checksums(copy, size - 1);
	fuzz_path(path, sizeof path, "container");
	fuzz_new_container(path);
	if (dos_store_open(&st, path, DOS_OPEN_WRITE) < 0)
		fuzz_die("open '%s'", path);
	src.p = copy;
	src.len = size - 1;
	if (dos_stream_begin(&in, read_input, &src) == 0) {
		if (dos_pack_writer_open(&st, 0, DOS_COMPRESS_AUTO, &w,
		    &holder) < 0 || dos_importer_new(&st, w, &im) < 0)
			fuzz_die("import into '%s'", path);
		dos_import_stream(im, &in, &report);
		dos_importer_free(im);
		dos_pack_writer_close(w);
		dos_for_each_object(&st, 0, read_back, &st);
	}
	dos_stream_release(&in);
	dos_store_release(&st);
	free(copy);
	fuzz_exercise_store(path, 0);
	return 0;
}
