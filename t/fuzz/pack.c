/*
 * pack.c: fuzz pack files: the entry header decoder and every scan of a
 * whole pack.  The input becomes packs/0 of a container with no index;
 * every reader then looks at it (counts, listing, fsck), and with
 * MODE_WRITE, fsck --repair rebuilds the index from it and a repack
 * rewrites it, each followed by reading every object it gave.
 *
 * The first input byte chooses the mode, and with it the pack version
 * (MODE_V2: format 2's variable-length headers).  A fuzzer seldom
 * guesses a CRC-32, so the MODE_FIX_ bits make the harness fill in the
 * checksums of the entries it finds (in format 2, MODE_FIX_DATA_CRC the
 * one checksum of header and stored bytes), letting sizes, codecs and
 * flags reach the code behind the checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

enum {
	MODE_PACK_HEADER = 1 << 0,	/* put a valid pack header first */
	MODE_FIX_HEADER_CRC = 1 << 1,
	MODE_FIX_DATA_CRC = 1 << 2,
	MODE_WRITE = 1 << 3,
	MODE_V2 = 1 << 4,
};

#define V1_HEADER_SIZE 64

static void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Walk the entries as a reader would and give them valid checksums. */
static void
fix_checksums_v1(uint8_t *pack, size_t len, unsigned mode)
{
	size_t off = DOS_PACK_HEADER_SIZE;
	uint64_t stored;
	int fits;

	while (len - off >= V1_HEADER_SIZE) {
		stored = fuzz_le64(pack + off + 16);
		fits = stored <= len - off - V1_HEADER_SIZE;
		if ((mode & MODE_FIX_DATA_CRC) && fits)
			put_le32(pack + off + 56, dos_crc32(0,
			    pack + off + V1_HEADER_SIZE, (size_t)stored));
		if (mode & MODE_FIX_HEADER_CRC)
			put_le32(pack + off + 60, dos_crc32(0, pack + off, 60));
		if (!fits)
			break;
		off += V1_HEADER_SIZE + (size_t)stored;
	}
}

/* The decoder does not check the checksum: it finds where it goes. */
static void
fix_checksums_v2(uint8_t *pack, size_t len, unsigned mode)
{
	size_t off = DOS_PACK_HEADER_SIZE, check;
	struct dos_pack_entry e;

	while (off < len && dos_pack_decode_entry(2, pack + off, len - off,
	    &e) == 0 && e.stored_size <= len - off - e.header_size) {
		check = off + e.header_size - 4;
		if (mode & MODE_FIX_DATA_CRC)
			put_le32(pack + check, dos_crc32(dos_crc32(0, pack + off,
			    check - off), pack + off + e.header_size,
			    (size_t)e.stored_size));
		off += e.header_size + (size_t)e.stored_size;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t header[DOS_PACK_HEADER_SIZE] = "DOSPACK";
	static char dir[4096], file[4200];
	size_t len, skip;
	unsigned mode;
	uint8_t *pack;

	if (size == 0)
		return 0;
	if (dir[0] == '\0') {
		fuzz_path(dir, sizeof dir, "container");
		snprintf(file, sizeof file, "%s/packs/0", dir);
	}
	mode = data[0];
	header[8] = mode & MODE_V2 ? 2 : 1;
	skip = mode & MODE_PACK_HEADER ? DOS_PACK_HEADER_SIZE : 0;
	len = skip + size - 1;
	if ((pack = malloc(len)) == NULL)
		fuzz_die("malloc");
	memcpy(pack, header, skip);
	memcpy(pack + skip, data + 1, size - 1);
	if (len >= DOS_PACK_HEADER_SIZE && (mode & MODE_V2))
		fix_checksums_v2(pack, len, mode);
	else if (len >= DOS_PACK_HEADER_SIZE)
		fix_checksums_v1(pack, len, mode);
	fuzz_new_container(dir);
	fuzz_write_file(file, pack, len);
	free(pack);
	fuzz_exercise_store(dir, (mode & MODE_WRITE) != 0);
	return 0;
}
