/*
 * mklegacy-scale: write a legacy disk-objectstore container of N small
 * unique objects, fast enough for 10^7 (bench/mklegacy, in Python, takes
 * a file per object and hours at that count).
 *
 *   mklegacy-scale [-s SEED] [-l LOOSE] N DEST
 *
 * Every object is a JSON-like record of 64-512 bytes (about 150 on
 * average: 64 plus an exponential tail of mean 86, cut at 512), made
 * unique by its number, from a fixed-seed PRNG: the same N, SEED and
 * LOOSE write the same container on every machine.  LOOSE objects
 * (default N / 500: 20,000 at 10^7), every (N / LOOSE)th one, are left
 * loose; the others are packed uncompressed, in the order made, into
 * packs/0, 1, ... of at most the legacy 4 GiB target, with one
 * db_object row each, as the legacy add_objects_to_pack writes them
 * (legacy-format.md sections 1-6): the same schema text, ids in offset
 * order, compressed 0, WAL mode.  The rows go in first and the unique
 * index on hashkey is built after them, in one sort: the same index, made
 * in seconds rather than by ten million random B-tree inserts.
 *
 * Nothing is fsynced: a benchmark input, rewritten if the machine dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#define PACK_SIZE_TARGET (4ULL << 30)
#define MIN_SIZE 64
#define MAX_SIZE 512
#define MEAN_TAIL 86.0

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("mklegacy-scale: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t
next_random(uint64_t *st)
{
	uint64_t z = (*st += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static size_t
object_size(uint64_t *st)
{
	double u = (double)((next_random(st) >> 11) + 1) / 9007199254740993.0;
	double tail = -log(u) * MEAN_TAIL;

	return tail >= MAX_SIZE - MIN_SIZE ? MAX_SIZE : MIN_SIZE + (size_t)tail;
}

static const char *const words[] = {
	"energy", "cell", "kpoints", "structure", "pseudo", "forces",
	"stress", "symbols", "positions", "smearing", "cutoff", "spin",
	"calc", "relax", "scf", "bands", "dos", "charge", "mesh", "ecut",
};
#define NWORDS (sizeof words / sizeof words[0])

/* One "key":value field, written into buf; its length. */
static int
random_field(uint64_t *st, char *buf, size_t size)
{
	uint64_t r = next_random(st);
	const char *k = words[r % NWORDS], *v = words[(r >> 8) % NWORDS];

	switch ((r >> 16) % 3) {
	case 0:
		return snprintf(buf, size, ",\"%s\":%.6f", k,
		    (double)(int64_t)(r >> 20) / 1e12);
	case 1:
		return snprintf(buf, size, ",\"%s\":\"%s\"", k, v);
	default:
		return snprintf(buf, size, ",\"%s\":[%u,%u,%u]", k,
		    (unsigned)(r >> 24) & 0xff, (unsigned)(r >> 32) & 0xfff,
		    (unsigned)(r >> 44) & 0xffff);
	}
}

/*
 * Object number i, of a size from the PRNG: {"id":i,"uuid":"...", then
 * fields while they fit, then a padding string to the exact size.
 */
static size_t
make_object(uint64_t *st, uint64_t i, char *buf)
{
	size_t size = object_size(st), len;
	char field[64];
	int n;

	len = (size_t)snprintf(buf, MAX_SIZE + 1,
	    "{\"id\":%" PRIu64 ",\"uuid\":\"%016" PRIx64 "%016" PRIx64 "\"",
	    i, next_random(st), next_random(st));
	while ((n = random_field(st, field, sizeof field)) > 0 &&
	    len + (size_t)n + 1 <= size) {
		memcpy(buf + len, field, (size_t)n);
		len += (size_t)n;
	}
	/* ,"pad":"xxx" when it fits, else blanks, then the closing brace. */
	if (size - len - 1 >= 10) {
		n = snprintf(buf + len, MAX_SIZE + 1 - len, ",\"pad\":\"");
		len += (size_t)n;
		memset(buf + len, 'x', size - len - 2);
		len = size - 2;
		buf[len++] = '"';
	}
	memset(buf + len, ' ', size - 1 - len);
	buf[size - 1] = '}';
	return size;
}

static void
sql(sqlite3 *db, const char *stmt)
{
	char *err = NULL;

	if (sqlite3_exec(db, stmt, NULL, NULL, &err) != SQLITE_OK)
		die("%s: %s", stmt, err);
}

static void
write_config(const char *dest, uint64_t *st)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/config.json", dest);
	if ((f = fopen(path, "w")) == NULL)
		die("%s: %s", path, strerror(errno));
	fprintf(f, "{\"container_version\": 1, \"loose_prefix_len\": 2, "
	    "\"pack_size_target\": %llu, \"hash_type\": \"sha256\", "
	    "\"container_id\": \"%016" PRIx64 "%016" PRIx64 "\", "
	    "\"compression_algorithm\": \"zlib+1\"}",
	    PACK_SIZE_TARGET, next_random(st), next_random(st));
	if (fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

static void
make_dirs(const char *dest)
{
	static const char *const dirs[] = { "", "/loose", "/packs",
	    "/sandbox", "/duplicates" };
	char path[4096];
	size_t i;

	for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		snprintf(path, sizeof path, "%s%s", dest, dirs[i]);
		if (mkdir(path, 0777) != 0)
			die("%s: %s", path, strerror(errno));
	}
	for (i = 0; i < 256; i++) {
		snprintf(path, sizeof path, "%s/loose/%02zx", dest, i);
		if (mkdir(path, 0777) != 0)
			die("%s: %s", path, strerror(errno));
	}
}

static void
write_loose(const char *dest, const char *hex, const char *data, size_t len)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof path, "%s/loose/%.2s/%s", dest, hex, hex + 2);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666)) < 0 ||
	    write(fd, data, len) != (ssize_t)len || close(fd) != 0)
		die("%s: %s", path, strerror(errno));
}

static FILE *
open_pack(const char *dest, unsigned id)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/packs/%u", dest, id);
	if ((f = fopen(path, "wx")) == NULL)
		die("%s: %s", path, strerror(errno));
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	return f;
}

static void
close_pack(FILE *f)
{
	if (fclose(f) != 0)
		die("writing a pack: %s", strerror(errno));
}

int
main(int argc, char **argv)
{
	static const char hexdigits[] = "0123456789abcdef";
	uint64_t n, i, seed = 1, nloose, loose_every, packed = 0, offset = 0;
	unsigned char md[32];
	char obj[MAX_SIZE + 1], hex[65], *end;
	unsigned pack = 0;
	const char *dest;
	EVP_MD_CTX *ctx;
	EVP_MD *sha256;
	sqlite3_stmt *ins;
	sqlite3 *db;
	FILE *pf;
	size_t len, k;
	char path[4096];
	int c;

	nloose = UINT64_MAX;
	while ((c = getopt(argc, argv, "s:l:")) != -1) {
		if (c == 's')
			seed = strtoull(optarg, NULL, 10);
		else if (c == 'l')
			nloose = strtoull(optarg, NULL, 10);
		else
			die("usage: mklegacy-scale [-s SEED] [-l LOOSE] N DEST");
	}
	if (argc - optind != 2)
		die("usage: mklegacy-scale [-s SEED] [-l LOOSE] N DEST");
	n = strtoull(argv[optind], &end, 10);
	if (*end != '\0' || n == 0)
		die("'%s' is not a count of objects", argv[optind]);
	dest = argv[optind + 1];
	if (nloose == UINT64_MAX)
		nloose = n / 500;
	loose_every = nloose == 0 ? 0 : n / nloose;

	make_dirs(dest);
	write_config(dest, &seed);
	snprintf(path, sizeof path, "%s/packs.idx", dest);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("%s: %s", path, sqlite3_errmsg(db));
	sql(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
	    "PRAGMA cache_size=-262144");
	sql(db, "CREATE TABLE db_object (\n"
	    "\tid INTEGER NOT NULL, \n"
	    "\thashkey VARCHAR NOT NULL, \n"
	    "\tcompressed BOOLEAN NOT NULL, \n"
	    "\tsize INTEGER NOT NULL, \n"
	    "\t\"offset\" INTEGER NOT NULL, \n"
	    "\tlength INTEGER NOT NULL, \n"
	    "\tpack_id INTEGER NOT NULL, \n"
	    "\tPRIMARY KEY (id)\n"
	    ")");
	sql(db, "BEGIN");
	if (sqlite3_prepare_v2(db, "INSERT INTO db_object (hashkey, compressed, "
	    "size, \"offset\", length, pack_id) VALUES (?, 0, ?, ?, ?, ?)", -1,
	    &ins, NULL) != SQLITE_OK)
		die("INSERT: %s", sqlite3_errmsg(db));
	if ((sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (ctx = EVP_MD_CTX_new()) == NULL)
		die("no SHA-256 in libcrypto");
	pf = open_pack(dest, pack);
	for (i = 0; i < n; i++) {
		len = make_object(&seed, i, obj);
		if (!EVP_DigestInit_ex2(ctx, sha256, NULL) ||
		    !EVP_DigestUpdate(ctx, obj, len) ||
		    !EVP_DigestFinal_ex(ctx, md, NULL))
			die("SHA-256 failed");
		for (k = 0; k < 32; k++) {
			hex[2 * k] = hexdigits[md[k] >> 4];
			hex[2 * k + 1] = hexdigits[md[k] & 15];
		}
		hex[64] = '\0';
		if (loose_every != 0 && i % loose_every == loose_every - 1) {
			write_loose(dest, hex, obj, len);
			continue;
		}
		if (offset >= PACK_SIZE_TARGET) {
			close_pack(pf);
			pf = open_pack(dest, ++pack);
			offset = 0;
		}
		if (fwrite(obj, 1, len, pf) != len)
			die("writing pack %u: %s", pack, strerror(errno));
		sqlite3_bind_text(ins, 1, hex, 64, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, (sqlite3_int64)len);
		sqlite3_bind_int64(ins, 3, (sqlite3_int64)offset);
		sqlite3_bind_int64(ins, 4, (sqlite3_int64)len);
		sqlite3_bind_int64(ins, 5, pack);
		if (sqlite3_step(ins) != SQLITE_DONE)
			die("INSERT: %s", sqlite3_errmsg(db));
		sqlite3_reset(ins);
		offset += len;
		packed++;
	}
	close_pack(pf);
	sqlite3_finalize(ins);
	sql(db, "COMMIT");
	sql(db, "CREATE UNIQUE INDEX ix_db_object_hashkey ON db_object (hashkey)");
	sql(db, "PRAGMA journal_mode=WAL");
	if (sqlite3_close(db) != SQLITE_OK)
		die("%s: %s", path, sqlite3_errmsg(db));
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(sha256);
	printf("%" PRIu64 " objects (%" PRIu64 " packed in %u pack(s), %"
	    PRIu64 " loose)\n", n, packed, pack + 1, n - packed);
	return 0;
}
