/*
 * legacy.c: fuzz what dos migrate reads in a legacy disk-objectstore
 * container: the rows of its SQLite index and its pack files.  For each
 * input a legacy container is made with a packs.idx of the input's rows
 * (any type in any column) and a pack 0 (and -1) of the input's
 * remaining bytes, and migrated: as a dry run, or (MODE_WRITE) into a
 * new dos container, whose readers then look at what it got.
 *
 * Input: a mode byte, a row count byte, the rows, then the pack bytes.
 * A row is a kind byte (the ROW_ bits), then size, offset and length as
 * 8-byte little-endian integers, then the pack id (8 bytes) with
 * ROW_PACK_ID, then a length byte and the key with ROW_KEY_LITERAL.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "fuzz.h"

enum {
	MODE_CONFIG = 3 << 0,		/* which config.json, of configs[] */
	MODE_NO_INDEX = 1 << 2,		/* no packs.idx at all */
	MODE_LOOSE_COPIES = 1 << 3,	/* loose files of the rows' ranges */
	MODE_WRITE = 1 << 4,		/* into a dos container, not dry */
	MODE_KEEP_COMPRESSION = 1 << 5,	/* --keep-compression */
	MODE_JOBS = 1 << 6,		/* two threads verify and encode */
};

enum {
	ROW_KEY = 3 << 0,		/* where the hashkey comes from: */
	ROW_KEY_LITERAL = 0,		/* the input */
	ROW_KEY_HASH = 1,		/* the hash of the row's pack range */
	ROW_KEY_NULL = 2,
	ROW_KEY_INTEGER = 3,
	ROW_COMPRESSED = 1 << 2,
	ROW_COMPRESSED_TEXT = 1 << 3,	/* compressed is a string */
	ROW_PACK_ID = 1 << 4,		/* else pack 0 */
	ROW_SIZE_NULL = 1 << 5,
	ROW_OFFSET_TEXT = 1 << 6,
	ROW_LENGTH_BLOB = 1 << 7,
};

static const char *const configs[4] = {
	"{\"container_version\": 1, \"loose_prefix_len\": 2, "
	    "\"pack_size_target\": 4294967296, \"hash_type\": \"sha256\", "
	    "\"container_id\": \"39564a3e9cad4afb9c8c6fac201e069f\", "
	    "\"compression_algorithm\": \"zlib+1\"}",
	"{\"container_version\": 1, \"loose_prefix_len\": 0, "
	    "\"pack_size_target\": 4096, \"hash_type\": \"sha256\", "
	    "\"compression_algorithm\": \"zstd\"}",
	"{\"container_version\": 1, \"loose_prefix_len\": 3, "
	    "\"pack_size_target\": 4294967296, \"hash_type\": \"sha1\"}",
	"{\"container_version\": 1, \"loose_prefix_len\": 63, "
	    "\"pack_size_target\": 1}",
};

struct row {
	unsigned kind;
	int64_t size, offset, length, pack_id;
	char key[256];
};

static const uint8_t *pack;
static size_t pack_len;

/* The hex digest of the row's range of the pack (clipped to the pack). */
static void
hash_range(const struct row *r, const EVP_MD *md, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char digest[EVP_MAX_MD_SIZE];
	uint64_t off = (uint64_t)r->offset, len = (uint64_t)r->length;
	unsigned dlen, i;

	if (off > pack_len)
		off = pack_len;
	if (len > pack_len - off)
		len = pack_len - off;
	if (EVP_Digest(pack + off, (size_t)len, digest, &dlen, md, NULL) != 1)
		fuzz_die("digest");
	for (i = 0; i < dlen; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[2 * dlen] = '\0';
}

/* The next row from *p, or 0 when the input ends first. */
static int
parse_row(const uint8_t **p, const uint8_t *end, struct row *r)
{
	const uint8_t *q = *p;
	size_t klen;

	if (end - q < 25)
		return 0;
	r->kind = *q++;
	r->size = (int64_t)fuzz_le64(q);
	r->offset = (int64_t)fuzz_le64(q + 8);
	r->length = (int64_t)fuzz_le64(q + 16);
	q += 24;
	r->pack_id = 0;
	if (r->kind & ROW_PACK_ID) {
		if (end - q < 8)
			return 0;
		r->pack_id = (int64_t)fuzz_le64(q);
		q += 8;
	}
	r->key[0] = '\0';
	if ((r->kind & ROW_KEY) == ROW_KEY_LITERAL) {
		if (end - q < 1 || (size_t)(end - q - 1) < (klen = *q))
			return 0;
		memcpy(r->key, q + 1, klen);
		r->key[klen] = '\0';
		q += 1 + klen;
	}
	*p = q;
	return 1;
}

static void
bind_row(sqlite3_stmt *st, const struct row *r, int64_t id)
{
	sqlite3_bind_int64(st, 1, id);
	switch (r->kind & ROW_KEY) {
	case ROW_KEY_NULL:
		sqlite3_bind_null(st, 2);
		break;
	case ROW_KEY_INTEGER:
		sqlite3_bind_int64(st, 2, r->size);
		break;
	default:
		sqlite3_bind_text(st, 2, r->key, -1, SQLITE_TRANSIENT);
	}
	if (r->kind & ROW_COMPRESSED_TEXT)
		sqlite3_bind_text(st, 3, "yes", -1, SQLITE_STATIC);
	else
		sqlite3_bind_int(st, 3, (r->kind & ROW_COMPRESSED) != 0);
	if (r->kind & ROW_SIZE_NULL)
		sqlite3_bind_null(st, 4);
	else
		sqlite3_bind_int64(st, 4, r->size);
	if (r->kind & ROW_OFFSET_TEXT)
		sqlite3_bind_text(st, 5, "../..", -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 5, r->offset);
	if (r->kind & ROW_LENGTH_BLOB)
		sqlite3_bind_blob(st, 6, &r->length, sizeof r->length,
		    SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(st, 6, r->length);
	sqlite3_bind_int64(st, 7, r->pack_id);
}

/* A loose copy of the row's range, where its key says (if it can). */
static void
write_loose(const char *dir, const struct row *r, int prefix)
{
	char path[4400];
	uint64_t off = (uint64_t)r->offset, len = (uint64_t)r->length;
	size_t klen = strlen(r->key);

	if (klen <= (size_t)prefix || strchr(r->key, '/') != NULL ||
	    strcmp(r->key, "..") == 0 || off > pack_len)
		return;
	if (len > pack_len - off)
		len = pack_len - off;
	snprintf(path, sizeof path, "%s/loose/%.*s", dir, prefix, r->key);
	fuzz_mkdir(path);
	snprintf(path, sizeof path, "%s/loose/%.*s/%s", dir, prefix, r->key,
	    r->key + prefix);
	fuzz_write_file(path, pack + off, (size_t)len);
}

static void
make_container(const char *dir, const uint8_t *data, size_t size)
{
	static const int prefixes[4] = { 2, 0, 3, 63 };
	const uint8_t *p = data + 2, *end = data + size;
	const EVP_MD *md = (data[0] & MODE_CONFIG) == 2 ? EVP_sha1() :
	    EVP_sha256();
	struct row rows[16];
	char path[4200];
	unsigned i, n = 0;
	sqlite3 *db;
	sqlite3_stmt *st;

	fuzz_remove_tree(dir);
	fuzz_mkdir(dir);
	snprintf(path, sizeof path, "%s/config.json", dir);
	fuzz_write_file(path, configs[data[0] & MODE_CONFIG],
	    strlen(configs[data[0] & MODE_CONFIG]));
	snprintf(path, sizeof path, "%s/loose", dir);
	fuzz_mkdir(path);
	snprintf(path, sizeof path, "%s/packs", dir);
	fuzz_mkdir(path);

	/* The pack is what follows the rows. */
	while (n < data[1] % 17 && parse_row(&p, end, &rows[n]))
		n++;
	pack = p;
	pack_len = (size_t)(end - p);
	for (i = 0; i < n; i++)
		if ((rows[i].kind & ROW_KEY) == ROW_KEY_HASH)
			hash_range(&rows[i], md, rows[i].key);
	snprintf(path, sizeof path, "%s/packs/0", dir);
	fuzz_write_file(path, pack, pack_len);
	snprintf(path, sizeof path, "%s/packs/-1", dir);
	fuzz_write_file(path, pack, pack_len);
	if (data[0] & MODE_LOOSE_COPIES)
		for (i = 0; i < n; i++)
			write_loose(dir, &rows[i],
			    prefixes[data[0] & MODE_CONFIG]);
	if (data[0] & MODE_NO_INDEX)
		return;

	snprintf(path, sizeof path, "%s/packs.idx", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode = OFF; "
	    "PRAGMA synchronous = OFF; "
	    "CREATE TABLE db_object (id INTEGER PRIMARY KEY, hashkey, "
	    "compressed, size, \"offset\", length, pack_id)",
	    NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO db_object VALUES "
	    "(?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		fuzz_die("create '%s'", path);
	for (i = 0; i < n; i++) {
		bind_row(st, &rows[i], i);
		if (sqlite3_step(st) != SQLITE_DONE)
			fuzz_die("insert a row");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* ---- a sink that checks nothing ---- */

static int
sink_want(void *data, const struct dos_legacy_object *obj)
{
	return 1;
}

static int
sink_migrated(void *data, const struct dos_legacy_object *obj,
    const struct dos_oid *oid)
{
	return 0;
}

static void
sink_bad_copy(void *data, const struct dos_legacy_object *obj,
    enum dos_legacy_problem problem)
{
}

static void
sink_lost(void *data, const struct dos_legacy_object *obj)
{
}

static int
each_key(const char *key, enum dos_legacy_where where, void *data)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct dos_legacy_sink sink = { sink_want,
	    sink_migrated, sink_bad_copy, sink_lost };
	static char dir[4096], dest[4096];
	struct dos_store st = DOS_STORE_INIT;
	struct dos_legacy_options o;
	struct dos_legacy_stats stats;
	struct dos_legacy *lg;
	long holder;

	if (size < 2)
		return 0;
	if (dir[0] == '\0') {
		fuzz_path(dir, sizeof dir, "legacy");
		fuzz_path(dest, sizeof dest, "dest");
	}
	make_container(dir, data, size);
	if (dos_legacy_open(dir, &lg, NULL) < 0)
		return 0;
	memset(&o, 0, sizeof o);
	o.keep_compression = (data[0] & MODE_KEEP_COMPRESSION) != 0;
	o.fresh = 1;
	o.jobs = data[0] & MODE_JOBS ? 2 : 1;
	if (data[0] & MODE_WRITE) {
		fuzz_new_container(dest);
		if (dos_store_open(&st, dest, DOS_OPEN_WRITE) < 0 ||
		    dos_pack_writer_open(&st, 0, o.keep_compression ?
		    DOS_COMPRESS_NEVER : DOS_COMPRESS_AUTO, &o.writer,
		    &holder) < 0)
			fuzz_die("open '%s'", dest);
	}
	if (dos_legacy_migrate(lg, &o, &sink, NULL, &stats) == 0 &&
	    o.writer != NULL)
		dos_pack_writer_flush(o.writer);
	dos_legacy_for_each_key(lg, each_key, NULL);
	dos_legacy_close(lg);
	if (o.writer != NULL) {
		dos_pack_writer_close(o.writer);
		dos_store_release(&st);
		fuzz_exercise_store(dest, 0);
	}
	return 0;
}
