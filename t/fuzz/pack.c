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
 * flags reach the code behind the checks.  With MODE_DICT the container
 * has dicts/1 (raw content, which zstd takes as a dictionary too), so
 * that entries naming it are decoded with it; without, they name a
 * dictionary that is missing.
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
	MODE_DICT = 1 << 5,
};

static const char fuzz_dict[] =
    "{\"uuid\": \"\", \"node_type\": \"data.core.int.Int.\", "
    "\"attributes\": {\"value\": 0, \"ctime\": \"2024-01-01T00:00\"}}";

static void
add_dict(const char *container)
{
	struct dos_store st = DOS_STORE_INIT;

	if (dos_store_open(&st, container, DOS_OPEN_WRITE) < 0 ||
	    dos_dict_write(&st, 1, fuzz_dict, sizeof fuzz_dict - 1) < 0)
		fuzz_die("dictionary of '%s'", container);
	dos_store_release(&st);
}

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

/*
 * The table of a group entry is parsed after decoding, which fuzzed bytes
 * seldom pass: parse the stored bytes as a decoded group, and every
 * member, which must lie within them.
 */
static void
parse_group(const uint8_t *buf, size_t len)
{
	struct dos_group_member m;
	struct dos_group g;
	uint32_t i;

	if (dos_group_parse(buf, len, &g) < 0)
		return;
	for (i = 0; i < g.members; i++)
		if (dos_group_member(&g, i, &m) < 0 || m.data < buf ||
		    m.size > len - (size_t)(m.data - buf))
			fuzz_die("member %u of a group lies outside it", i);
	if (dos_group_member(&g, g.members, &m) == 0)
		fuzz_die("a group has a member past its last");
}

/*
 * The decoder does not check the checksum: it finds where it goes.  The
 * group entries on the way have their tables parsed.
 */
static void
fix_checksums_v2(uint8_t *pack, size_t len, unsigned mode)
{
	size_t off = DOS_PACK_HEADER_SIZE, check;
	struct dos_pack_entry e;

	while (off < len && dos_pack_decode_entry(2, pack + off, len - off,
	    &e) == 0 && e.stored_size <= len - off - e.header_size) {
		if (e.flags & DOS_ENTRY_GROUP)
			parse_group(pack + off + e.header_size,
			    (size_t)e.stored_size);
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
	if (mode & MODE_DICT)
		add_dict(dir);
	fuzz_write_file(file, pack, len);
	free(pack);
	fuzz_exercise_store(dir, (mode & MODE_WRITE) != 0);
	return 0;
}
