/*
 * legacy.c: reading legacy disk-objectstore containers for dos-migrate.
 * The only file that uses SQLite; see the "Legacy format" notes in
 * dos-migrate(1).  The source container is opened read-only and its
 * index is read from a private copy, so nothing in it ever changes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <zlib.h>
#include <zstd.h>

#include "dos.h"

#define IO_BUF_SIZE (1 << 20)

static const unsigned char zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

/* Files of the SQLite index; the first one is the database itself. */
static const char *const index_files[] = {
	"packs.idx", "packs.idx-wal", "packs.idx-shm", NULL
};

struct dos_legacy {
	int dirfd, loosefd, packsfd, dupfd;	/* -1 when absent */
	struct dos_legacy_config cfg;
	char *tmpdir;			/* private copy of the index */
	sqlite3 *db;			/* NULL: the container has no index */
	sqlite3_stmt *lookup;		/* is a key indexed? */
	char **dups;			/* names in duplicates/, sorted */
	size_t ndups, dups_tried, loose_tried, loose_indexed;
	const EVP_MD *md;
	EVP_MD_CTX *mdctx;
	z_stream zs;
	int zs_ready;
	ZSTD_DCtx *zd;
	unsigned char *inbuf, *outbuf;
	int64_t pack_id;		/* the pack packfd reads */
	int packfd, pack_errno;		/* -1 and why if it cannot be read */
};

const char *
dos_legacy_problem_name(enum dos_legacy_problem problem)
{
	switch (problem) {
	case DOS_LEGACY_MISSING:
		return "missing";
	case DOS_LEGACY_UNREADABLE:
		return "unreadable";
	case DOS_LEGACY_TRUNCATED:
		return "truncated";
	case DOS_LEGACY_CORRUPT:
		return "corrupt";
	case DOS_LEGACY_TRAILING:
		return "trailing-data";
	case DOS_LEGACY_SIZE_MISMATCH:
		return "size-mismatch";
	case DOS_LEGACY_HASH_MISMATCH:
		return "hash-mismatch";
	case DOS_LEGACY_BAD_ROW:
		return "bad-row";
	}
	return "unknown";
}

static int
is_lower_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int
valid_key(const struct dos_legacy *lg, const char *key, size_t len)
{
	return len == lg->cfg.keylen && is_lower_hex(key, len);
}

/* ---- config.json ---- */

static const char *const known_keys[] = {
	"container_version", "loose_prefix_len", "pack_size_target",
	"hash_type", "container_id", "compression_algorithm", NULL
};

static int
get_int(json_t *root, const char *key, long long min, long long *out)
{
	json_t *v = json_object_get(root, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min)
		return -1;
	*out = json_integer_value(v);
	return 1;
}

/*
 * Every generation since 0.3: four keys up to 0.4, container_id and
 * compression_algorithm since 0.5 (missing means zlib level 1).  rsdos
 * writes the same keys, with a hyphenated container_id.
 */
static int
parse_config(json_t *root, struct dos_legacy_config *cfg, const char **why)
{
	const char *key, *s;
	json_t *v;
	long long n;
	size_t i;

	if (!json_is_object(root)) {
		*why = "config.json is not a JSON object";
		return DOS_EBADCONFIG;
	}
	if (json_object_get(root, "dos_format") != NULL) {
		*why = "it is a dos container already";
		return DOS_ENOTCONTAINER;
	}
	if (json_object_get(root, "pack_prefix_len") != NULL) {
		*why = "it uses the 2020 prototype format of disk-objectstore "
		    "0.1/0.2 (pack_prefix_len, UUID keys), which cannot be "
		    "migrated";
		return DOS_EBADCONFIG;
	}
	json_object_foreach(root, key, v) {
		for (i = 0; known_keys[i] != NULL; i++)
			if (strcmp(key, known_keys[i]) == 0)
				break;
		if (known_keys[i] == NULL) {
			*why = "config.json has a key this version does not know";
			return DOS_EBADCONFIG;
		}
	}
	memset(cfg, 0, sizeof *cfg);
	if (get_int(root, "container_version", 1, &n) != 1 || n != 1) {
		*why = "container_version is missing or not 1";
		return DOS_EBADCONFIG;
	}
	if (get_int(root, "loose_prefix_len", 0, &n) != 1 ||
	    n >= DOS_LEGACY_MAX_KEY) {
		*why = "loose_prefix_len is missing or invalid";
		return DOS_EBADCONFIG;
	}
	cfg->loose_prefix_len = (int)n;
	if (get_int(root, "pack_size_target", 1, &n) < 0) {
		*why = "pack_size_target is invalid";
		return DOS_EBADCONFIG;
	}
	cfg->pack_size_target = n > 0 ? (uint64_t)n : DOS_DEFAULT_PACK_SIZE;

	v = json_object_get(root, "hash_type");
	s = v == NULL ? "sha256" : json_string_value(v);
	if (s != NULL && strcmp(s, "sha256") == 0) {
		cfg->hash = DOS_LEGACY_SHA256;
		cfg->keylen = 64;
	} else if (s != NULL && strcmp(s, "sha1") == 0) {
		cfg->hash = DOS_LEGACY_SHA1;
		cfg->keylen = 40;
	} else {
		*why = "hash_type is neither sha256 nor sha1";
		return DOS_EBADCONFIG;
	}
	if ((size_t)cfg->loose_prefix_len >= cfg->keylen) {
		*why = "loose_prefix_len is longer than a key";
		return DOS_EBADCONFIG;
	}

	v = json_object_get(root, "container_id");
	if (v != NULL) {
		s = json_string_value(v);
		if (s == NULL || strlen(s) >= sizeof cfg->container_id) {
			*why = "container_id is invalid";
			return DOS_EBADCONFIG;
		}
		strcpy(cfg->container_id, s);
	}

	v = json_object_get(root, "compression_algorithm");
	s = v == NULL ? "zlib+1" : json_string_value(v);
	if (s == NULL || (strncmp(s, "zlib+", 5) != 0 &&
	    strncmp(s, "zstd", 4) != 0) ||
	    dos_codec_parse(s, &cfg->codec, &cfg->level) < 0) {
		*why = "compression_algorithm is not zlib+<1-9>";
		return DOS_EBADCONFIG;
	}
	return 0;
}

static int
read_config(struct dos_legacy *lg, const char **why)
{
	json_t *root;
	int rc;

	rc = dos_config_json(lg->dirfd, &root);
	if (rc == DOS_ENOTCONTAINER)
		*why = "it has no config.json";
	else if (rc == DOS_EBADCONFIG)
		*why = "config.json is not valid JSON";
	if (rc < 0)
		return rc;
	rc = parse_config(root, &lg->cfg, why);
	json_decref(root);
	return rc;
}

/* ---- the index, on a private copy ---- */

static int
copy_file(int srcdir, const char *name, const char *dstdir, void *buf)
{
	char path[PATH_MAX];
	ssize_t n;
	int in, out, rc = 0;

	if ((in = openat(srcdir, name, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? DOS_ENOTFOUND : DOS_EIO;
	snprintf(path, sizeof path, "%s/%s", dstdir, name);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return DOS_EIO;
	}
	while ((n = dos_read_full(in, buf, IO_BUF_SIZE)) > 0)
		if ((rc = dos_write_all(out, buf, (size_t)n)) < 0)
			break;
	if (n < 0)
		rc = DOS_EIO;
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = DOS_EIO;
	return rc;
}

static void
remove_tmpdir(struct dos_legacy *lg)
{
	char path[PATH_MAX];
	int i;

	if (lg->tmpdir == NULL)
		return;
	for (i = 0; index_files[i] != NULL; i++) {
		snprintf(path, sizeof path, "%s/%s", lg->tmpdir, index_files[i]);
		unlink(path);
	}
	/* SQLite's own journal of the copy, should it make one. */
	snprintf(path, sizeof path, "%s/packs.idx-journal", lg->tmpdir);
	unlink(path);
	rmdir(lg->tmpdir);
	free(lg->tmpdir);
	lg->tmpdir = NULL;
}

/*
 * A read-write open of the real packs.idx would checkpoint its WAL into
 * it and delete packs.idx-wal; immutable=1 would miss the rows that live
 * only in the WAL.  A copy of all three files has neither problem.
 */
static int
open_index(struct dos_legacy *lg, const char **why)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX];
	sqlite3_stmt *st;
	int i, rc;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(path, sizeof path, "%s/dos-migrate-XXXXXX", tmp);
	if (mkdtemp(path) == NULL || (lg->tmpdir = strdup(path)) == NULL)
		return DOS_EIO;
	for (i = 0; index_files[i] != NULL; i++) {
		rc = copy_file(lg->dirfd, index_files[i], lg->tmpdir, lg->inbuf);
		if (rc == DOS_ENOTFOUND && i == 0)
			return 0;	/* no index: loose objects only */
		if (rc < 0 && rc != DOS_ENOTFOUND)
			return rc;
	}
	snprintf(path, sizeof path, "%s/packs.idx", lg->tmpdir);
	if (sqlite3_open_v2(path, &lg->db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		*why = "packs.idx cannot be opened by SQLite";
		return DOS_EBADCONFIG;
	}
	/* Closing must not spend time checkpointing a copy about to go. */
	sqlite3_db_config(lg->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	if (sqlite3_prepare_v2(lg->db,
	    "SELECT 1 FROM db_object WHERE hashkey = ?", -1, &lg->lookup,
	    NULL) != SQLITE_OK) {
		*why = "packs.idx has no db_object table";
		return DOS_EBADCONFIG;
	}
	/* Check every column is there now, not in the middle of a run. */
	rc = sqlite3_prepare_v2(lg->db, "SELECT hashkey, pack_id, compressed, "
	    "size, \"offset\", length FROM db_object LIMIT 1", -1, &st, NULL);
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		*why = "packs.idx lacks columns of the db_object table";
		return DOS_EBADCONFIG;
	}
	return 0;
}

/* 1 if key has a row in the index, 0 if not. */
static int
is_indexed(struct dos_legacy *lg, const char *key)
{
	int rc;

	if (lg->db == NULL)
		return 0;
	sqlite3_bind_text(lg->lookup, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(lg->lookup);
	sqlite3_reset(lg->lookup);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : DOS_EIO;
}

/* ---- opening and closing ---- */

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Remember the names in duplicates/ (normally none at all). */
static int
list_duplicates(struct dos_legacy *lg)
{
	struct dirent *e;
	char **names;
	size_t alloc = 0;
	DIR *d;
	int fd;

	if (lg->dupfd < 0)
		return 0;
	if ((fd = dup(lg->dupfd)) < 0 || (d = fdopendir(fd)) == NULL)
		return DOS_EIO;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strchr(e->d_name, '.') == NULL)
			continue;
		names = dos_grow(lg->dups, lg->ndups, &alloc, sizeof *names, 16);
		if (names == NULL)
			break;
		lg->dups = names;
		if ((lg->dups[lg->ndups] = strdup(e->d_name)) == NULL)
			break;
		lg->ndups++;
	}
	closedir(d);
	if (e != NULL)
		return DOS_ENOMEM;
	if (lg->ndups > 0)
		qsort(lg->dups, lg->ndups, sizeof *lg->dups, cmp_names);
	return 0;
}

static int
open_dir(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int
dos_legacy_open(const char *path, struct dos_legacy **out, const char **why)
{
	struct dos_legacy *lg;
	const char *ignored;
	int rc;

	if (why == NULL)
		why = &ignored;
	*why = "";
	if ((lg = calloc(1, sizeof *lg)) == NULL)
		return DOS_ENOMEM;
	lg->loosefd = lg->packsfd = lg->dupfd = lg->packfd = -1;
	lg->pack_id = INT64_MIN;
	if ((lg->dirfd = open_dir(AT_FDCWD, path)) < 0) {
		rc = errno == ENOENT || errno == ENOTDIR ?
		    DOS_ENOTCONTAINER : DOS_EIO;
		*why = "it is not a directory";
		goto fail;
	}
	if ((rc = read_config(lg, why)) < 0)
		goto fail;
	lg->loosefd = open_dir(lg->dirfd, "loose");
	lg->packsfd = open_dir(lg->dirfd, "packs");
	if (lg->loosefd < 0 || lg->packsfd < 0) {
		rc = errno == ENOENT ? DOS_ENOTCONTAINER : DOS_EIO;
		*why = "it has no loose/ or packs/ directory";
		goto fail;
	}
	/* Containers from before 0.4 have no duplicates/. */
	if ((lg->dupfd = open_dir(lg->dirfd, "duplicates")) < 0 &&
	    errno != ENOENT) {
		rc = DOS_EIO;
		goto fail;
	}
	lg->md = lg->cfg.hash == DOS_LEGACY_SHA1 ? EVP_sha1() : EVP_sha256();
	lg->inbuf = malloc(IO_BUF_SIZE);
	lg->outbuf = malloc(IO_BUF_SIZE);
	lg->mdctx = EVP_MD_CTX_new();
	lg->zd = ZSTD_createDCtx();
	if (lg->inbuf == NULL || lg->outbuf == NULL || lg->mdctx == NULL ||
	    lg->zd == NULL || inflateInit(&lg->zs) != Z_OK) {
		rc = DOS_ENOMEM;
		goto fail;
	}
	lg->zs_ready = 1;
	if ((rc = list_duplicates(lg)) < 0 || (rc = open_index(lg, why)) < 0)
		goto fail;
	*out = lg;
	return 0;
fail:
	{
		int saved = errno;
		dos_legacy_close(lg);
		errno = saved;
	}
	return rc;
}

const struct dos_legacy_config *
dos_legacy_get_config(const struct dos_legacy *lg)
{
	return &lg->cfg;
}

static void
close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
}

void
dos_legacy_close(struct dos_legacy *lg)
{
	size_t i;

	if (lg == NULL)
		return;
	sqlite3_finalize(lg->lookup);
	sqlite3_close(lg->db);
	remove_tmpdir(lg);
	close_fd(lg->dirfd);
	close_fd(lg->loosefd);
	close_fd(lg->packsfd);
	close_fd(lg->dupfd);
	close_fd(lg->packfd);
	for (i = 0; i < lg->ndups; i++)
		free(lg->dups[i]);
	free(lg->dups);
	if (lg->zs_ready)
		inflateEnd(&lg->zs);
	ZSTD_freeDCtx(lg->zd);
	EVP_MD_CTX_free(lg->mdctx);
	free(lg->inbuf);
	free(lg->outbuf);
	free(lg);
}

/* ---- reading one copy ---- */

/* Where the bytes of a copy come from. */
struct source {
	int fd;
	int bounded;		/* packed: [offset, offset + length) */
	uint64_t offset, length;
	int compressed;
	uint64_t expect_size;	/* UINT64_MAX if unknown (loose files) */
};

/* A copy turned out bad: a positive result, next to 0 and DOS_E* codes. */
#define COPY_BAD 1

/* State of one copy being streamed to the sink. */
struct copy {
	struct dos_legacy *lg;
	const struct dos_legacy_sink *sink;
	void *data;
	struct dos_legacy_object *obj;
	uint64_t count;
	enum dos_legacy_problem problem;
	int sys_errno;
};

static int
bad(struct copy *c, enum dos_legacy_problem problem)
{
	c->problem = problem;
	c->sys_errno = problem == DOS_LEGACY_UNREADABLE ? errno : 0;
	return COPY_BAD;
}

/* Raw bytes of the object: count, hash, pass on. */
static int
emit(struct copy *c, const void *buf, size_t len, uint64_t expect_size)
{
	if (len == 0)
		return 0;
	/* A bad stream must not run on past the recorded size. */
	if (expect_size != UINT64_MAX && len > expect_size - c->count)
		return bad(c, DOS_LEGACY_SIZE_MISMATCH);
	c->count += len;
	if (EVP_DigestUpdate(c->lg->mdctx, buf, len) != 1)
		return DOS_ENOMEM;
	return c->sink->write(c->data, buf, len);
}

/* Feed compressed input to zlib; *done once the stream has ended. */
static int
inflate_chunk(struct copy *c, const unsigned char *in, size_t len,
    uint64_t expect_size, int *done)
{
	struct dos_legacy *lg = c->lg;
	z_stream *zs = &lg->zs;
	int zrc, rc;

	if (*done)
		return bad(c, DOS_LEGACY_TRAILING);
	zs->next_in = (unsigned char *)in;
	zs->avail_in = (uInt)len;
	do {
		zs->next_out = lg->outbuf;
		zs->avail_out = IO_BUF_SIZE;
		zrc = inflate(zs, Z_NO_FLUSH);
		if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR)
			return bad(c, DOS_LEGACY_CORRUPT);
		rc = emit(c, lg->outbuf, IO_BUF_SIZE - zs->avail_out,
		    expect_size);
		if (rc != 0)
			return rc;
		if (zrc == Z_STREAM_END) {
			*done = 1;
			return zs->avail_in > 0 ? bad(c, DOS_LEGACY_TRAILING) : 0;
		}
		if (zrc == Z_BUF_ERROR && zs->avail_in > 0)
			return bad(c, DOS_LEGACY_CORRUPT);
	} while (zs->avail_in > 0 || zs->avail_out == 0);
	return 0;
}

/* Feed compressed input to zstd; *done when its last frame is complete. */
static int
zstd_chunk(struct copy *c, const unsigned char *in, size_t len,
    uint64_t expect_size, int *done)
{
	struct dos_legacy *lg = c->lg;
	ZSTD_inBuffer zin = { in, len, 0 };
	ZSTD_outBuffer zout;
	size_t zrc;
	int rc;

	do {
		zout.dst = lg->outbuf;
		zout.size = IO_BUF_SIZE;
		zout.pos = 0;
		zrc = ZSTD_decompressStream(lg->zd, &zout, &zin);
		if (ZSTD_isError(zrc))
			return bad(c, DOS_LEGACY_CORRUPT);
		if ((rc = emit(c, lg->outbuf, zout.pos, expect_size)) != 0)
			return rc;
		*done = zrc == 0;
	} while (zin.pos < zin.size || zout.pos == zout.size);
	return 0;
}

/* Read up to len bytes of the source at pos into buf. */
static ssize_t
read_source(const struct source *src, void *buf, size_t len, uint64_t pos)
{
	ssize_t n;

	do {
		if (src->bounded)
			n = pread(src->fd, buf, len, (off_t)(src->offset + pos));
		else
			n = read(src->fd, buf, len);
	} while (n < 0 && errno == EINTR);
	return n;
}

/* Stream the raw bytes of a copy through c, checking its framing. */
static int
stream_copy(struct copy *c, const struct source *src)
{
	struct dos_legacy *lg = c->lg;
	uint64_t pos = 0;
	size_t want;
	ssize_t n;
	int rc, zstd = -1, done = 0;

	if (src->compressed) {
		inflateReset(&lg->zs);
		ZSTD_DCtx_reset(lg->zd, ZSTD_reset_session_only);
	}
	for (;;) {
		want = IO_BUF_SIZE;
		if (src->bounded && src->length - pos < want)
			want = (size_t)(src->length - pos);
		if (want == 0)
			break;
		if ((n = read_source(src, lg->inbuf, want, pos)) < 0)
			return bad(c, DOS_LEGACY_UNREADABLE);
		if (n == 0 && src->bounded)
			return bad(c, DOS_LEGACY_TRUNCATED);
		if (n == 0)
			break;
		if (src->compressed && zstd < 0) {
			/* rsdos: zstd under the same boolean flag. */
			zstd = n >= 4 && memcmp(lg->inbuf, zstd_magic, 4) == 0;
			c->obj->codec = zstd ? DOS_CODEC_ZSTD : DOS_CODEC_ZLIB;
		}
		if (!src->compressed)
			rc = emit(c, lg->inbuf, (size_t)n, src->expect_size);
		else if (zstd)
			rc = zstd_chunk(c, lg->inbuf, (size_t)n,
			    src->expect_size, &done);
		else
			rc = inflate_chunk(c, lg->inbuf, (size_t)n,
			    src->expect_size, &done);
		if (rc != 0)
			return rc;
		pos += (uint64_t)n;
	}
	if (src->compressed && !done)
		return bad(c, DOS_LEGACY_CORRUPT);
	if (src->expect_size != UINT64_MAX && c->count != src->expect_size)
		return bad(c, DOS_LEGACY_SIZE_MISMATCH);
	return 0;
}

static int
digest_matches(struct dos_legacy *lg, const char *key, int *match)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen, i;

	if (EVP_DigestFinal_ex(lg->mdctx, digest, &dlen) != 1)
		return DOS_ENOMEM;
	*match = 2 * dlen == lg->cfg.keylen;
	for (i = 0; *match && i < dlen; i++)
		if (key[2 * i] != digits[digest[i] >> 4] ||
		    key[2 * i + 1] != digits[digest[i] & 15])
			*match = 0;
	return 0;
}

/*
 * Stream one copy to the sink while verifying it; the sink keeps it (end)
 * only if it is good.  0 kept, COPY_BAD, or a fatal DOS_E* code.
 */
static int
try_copy(struct dos_legacy *lg, const struct dos_legacy_sink *sink,
    void *data, struct dos_legacy_object *obj, const struct source *src)
{
	struct copy c = { lg, sink, data, obj, 0, DOS_LEGACY_CORRUPT, 0 };
	int rc, match;

	obj->codec = DOS_CODEC_NONE;
	obj->sys_errno = 0;
	if (EVP_DigestInit_ex(lg->mdctx, lg->md, NULL) != 1)
		return DOS_ENOMEM;
	if ((rc = sink->begin(data, obj)) < 0)
		return rc;
	rc = stream_copy(&c, src);
	if (rc == 0 && (rc = digest_matches(lg, obj->key, &match)) == 0 &&
	    !match)
		rc = bad(&c, DOS_LEGACY_HASH_MISMATCH);
	if (rc != 0) {
		sink->abort(data);
		if (rc == COPY_BAD) {
			obj->sys_errno = c.sys_errno;
			sink->bad_copy(data, obj, c.problem);
		}
		return rc;
	}
	obj->size = c.count;
	return sink->end(data, obj);
}

/* ---- the copies of an object ---- */

/* Make lg->packfd read pack id (or remember why it cannot). */
static void
select_pack(struct dos_legacy *lg, int64_t id)
{
	char name[32];

	if (id == lg->pack_id)
		return;
	close_fd(lg->packfd);
	lg->pack_id = id;
	/* -1 is where an interrupted repack left the live data. */
	snprintf(name, sizeof name, "%lld", (long long)id);
	lg->packfd = openat(lg->packsfd, name, O_RDONLY | O_CLOEXEC);
	lg->pack_errno = lg->packfd < 0 ? errno : 0;
	if (lg->packfd >= 0)
		posix_fadvise(lg->packfd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

static void
loose_name(const struct dos_legacy *lg, const char *key, char *buf,
    size_t size)
{
	int p = lg->cfg.loose_prefix_len;

	if (p == 0)
		snprintf(buf, size, "%s", key);
	else
		snprintf(buf, size, "%.*s/%s", p, key, key + p);
}

/*
 * Try a loose or duplicates/ file.  COPY_BAD if it is bad, 2 if there
 * is no such file.
 */
#define COPY_NONE 2
static int
try_file(struct dos_legacy *lg, const struct dos_legacy_sink *sink,
    void *data, struct dos_legacy_object *obj, int dirfd, const char *name)
{
	struct source src = { -1, 0, 0, 0, 0, UINT64_MAX };
	struct stat sb;
	int rc;

	src.fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (src.fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return COPY_NONE;
	if (src.fd >= 0 && (fstat(src.fd, &sb) < 0 || !S_ISREG(sb.st_mode))) {
		close(src.fd);
		src.fd = -1;
		errno = EISDIR;
	}
	if (src.fd < 0) {
		obj->sys_errno = errno;
		sink->bad_copy(data, obj, DOS_LEGACY_UNREADABLE);
		return COPY_BAD;
	}
	obj->size = (uint64_t)sb.st_size;
	posix_fadvise(src.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = try_copy(lg, sink, data, obj, &src);
	close(src.fd);
	return rc;
}

/* The copies in duplicates/<key>.*, in name order. */
static int
try_duplicates(struct dos_legacy *lg, const struct dos_legacy_sink *sink,
    void *data, struct dos_legacy_object *obj)
{
	size_t lo = 0, hi = lg->ndups, mid, klen = strlen(obj->key);
	int rc;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(lg->dups[mid], obj->key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	obj->where = DOS_LEGACY_DUPLICATE;
	for (; lo < lg->ndups; lo++) {
		if (strncmp(lg->dups[lo], obj->key, klen) != 0)
			break;
		if (lg->dups[lo][klen] != '.')
			continue;
		lg->dups_tried++;
		rc = try_file(lg, sink, data, obj, lg->dupfd, lg->dups[lo]);
		if (rc != COPY_BAD && rc != COPY_NONE)
			return rc;
	}
	return COPY_NONE;
}

/* After a bad first copy: the loose file (unless that was it), duplicates. */
static int
try_fallbacks(struct dos_legacy *lg, const struct dos_legacy_sink *sink,
    void *data, struct dos_legacy_object *obj, struct dos_legacy_stats *stats)
{
	char name[2 * DOS_LEGACY_MAX_KEY];
	int rc = COPY_NONE;

	if (obj->where == DOS_LEGACY_PACKED) {
		obj->where = DOS_LEGACY_LOOSE;
		loose_name(lg, obj->key, name, sizeof name);
		rc = try_file(lg, sink, data, obj, lg->loosefd, name);
		if (rc != COPY_NONE)
			lg->loose_tried++;
	}
	if (rc == COPY_BAD || rc == COPY_NONE)
		rc = try_duplicates(lg, sink, data, obj);
	if (rc == 0) {
		stats->recovered++;
		return 0;
	}
	if (rc < 0)
		return rc;
	sink->lost(data, obj);
	stats->failed++;
	return 0;
}

static void
count_object(struct dos_legacy_stats *stats, const struct dos_legacy_object *obj)
{
	stats->objects++;
	stats->bytes += obj->size;
}

/* One index row: its packed copy, then the fallbacks. */
static int
migrate_row(struct dos_legacy *lg, sqlite3_stmt *st,
    const struct dos_legacy_sink *sink, void *data,
    struct dos_legacy_stats *stats)
{
	struct dos_legacy_object obj;
	struct source src = { -1, 1, 0, 0, 0, 0 };
	const char *key = (const char *)sqlite3_column_text(st, 0);
	size_t klen = (size_t)sqlite3_column_bytes(st, 0);
	sqlite3_int64 offset = sqlite3_column_int64(st, 4);
	sqlite3_int64 length = sqlite3_column_int64(st, 5);
	sqlite3_int64 size = sqlite3_column_int64(st, 3);
	int rc;

	memset(&obj, 0, sizeof obj);
	obj.where = DOS_LEGACY_PACKED;
	obj.pack_id = sqlite3_column_int64(st, 1);
	obj.size = size >= 0 ? (uint64_t)size : 0;
	if (key == NULL || !valid_key(lg, key, klen)) {
		/* Nothing can be verified against such a key. */
		snprintf(obj.key, sizeof obj.key, "%s", key ? key : "");
		sink->bad_copy(data, &obj, DOS_LEGACY_BAD_ROW);
		sink->lost(data, &obj);
		stats->failed++;
		return 0;
	}
	memcpy(obj.key, key, klen);
	if ((rc = sink->want(data, &obj)) <= 0) {
		if (rc == 0)
			stats->present++;
		return rc;
	}
	if (offset < 0 || length < 0 || size < 0) {
		sink->bad_copy(data, &obj, DOS_LEGACY_BAD_ROW);
		return try_fallbacks(lg, sink, data, &obj, stats);
	}
	select_pack(lg, obj.pack_id);
	if (lg->packfd < 0) {
		obj.sys_errno = lg->pack_errno;
		sink->bad_copy(data, &obj, lg->pack_errno == ENOENT ?
		    DOS_LEGACY_MISSING : DOS_LEGACY_UNREADABLE);
		return try_fallbacks(lg, sink, data, &obj, stats);
	}
	src.fd = lg->packfd;
	src.offset = (uint64_t)offset;
	src.length = (uint64_t)length;
	src.compressed = sqlite3_column_int(st, 2) != 0;
	src.expect_size = (uint64_t)size;
	rc = try_copy(lg, sink, data, &obj, &src);
	if (rc == COPY_BAD)
		rc = try_fallbacks(lg, sink, data, &obj, stats);
	else if (rc == 0)
		count_object(stats, &obj);
	return rc;
}

static int
migrate_index(struct dos_legacy *lg, const struct dos_legacy_sink *sink,
    void *data, struct dos_legacy_stats *stats)
{
	sqlite3_stmt *st;
	int64_t last = INT64_MIN;
	int rc = 0, src;

	if (lg->db == NULL)
		return 0;
	/* Pack by pack, in offset order, so each pack is read sequentially. */
	if (sqlite3_prepare_v2(lg->db, "SELECT hashkey, pack_id, compressed, "
	    "size, \"offset\", length FROM db_object "
	    "ORDER BY pack_id, \"offset\"", -1, &st, NULL) != SQLITE_OK)
		return DOS_EIO;
	while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
		stats->rows++;
		if (sqlite3_column_int64(st, 1) != last) {
			last = sqlite3_column_int64(st, 1);
			stats->packs++;
		}
		rc = migrate_row(lg, st, sink, data, stats);
	}
	if (rc == 0 && src != SQLITE_DONE) {
		errno = EIO;
		rc = DOS_EIO;
	}
	sqlite3_finalize(st);
	close_fd(lg->packfd);
	lg->packfd = -1;
	lg->pack_id = INT64_MIN;
	return rc;
}

/* ---- loose objects ---- */

typedef int loose_key_fn(struct dos_legacy *lg, const char *key, void *arg);

/*
 * Every well-formed key under loose/ (as the legacy listing accepts it,
 * plus the right length), in directory order.
 */
static int
walk_loose(struct dos_legacy *lg, loose_key_fn *fn, void *arg)
{
	size_t p = (size_t)lg->cfg.loose_prefix_len, klen = lg->cfg.keylen;
	char key[DOS_LEGACY_MAX_KEY + 1];
	struct dirent *e, *f;
	DIR *top, *shard;
	int fd, rc = 0;

	if ((fd = dup(lg->loosefd)) < 0 || (top = fdopendir(fd)) == NULL)
		return DOS_EIO;
	rewinddir(top);
	while (rc == 0 && (e = readdir(top)) != NULL) {
		if (p == 0) {
			if (valid_key(lg, e->d_name, strlen(e->d_name)) &&
			    e->d_type != DT_DIR)
				rc = fn(lg, e->d_name, arg);
			continue;
		}
		if (strlen(e->d_name) != p || !is_lower_hex(e->d_name, p))
			continue;
		fd = openat(lg->loosefd, e->d_name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOTDIR)
				continue;
			rc = DOS_EIO;
			break;
		}
		if ((shard = fdopendir(fd)) == NULL) {
			close(fd);
			rc = DOS_EIO;
			break;
		}
		memcpy(key, e->d_name, p);
		while (rc == 0 && (f = readdir(shard)) != NULL) {
			if (strlen(f->d_name) != klen - p)
				continue;
			memcpy(key + p, f->d_name, klen - p + 1);
			if (valid_key(lg, key, klen))
				rc = fn(lg, key, arg);
		}
		closedir(shard);
	}
	closedir(top);
	return rc;
}

struct migrate_arg {
	const struct dos_legacy_sink *sink;
	void *data;
	struct dos_legacy_stats *stats;
};

static int
migrate_loose_key(struct dos_legacy *lg, const char *key, void *arg)
{
	struct migrate_arg *m = arg;
	struct dos_legacy_object obj;
	char name[2 * DOS_LEGACY_MAX_KEY];
	int rc;

	/* Indexed objects were handled with their packed copy. */
	if ((rc = is_indexed(lg, key)) != 0) {
		if (rc > 0)
			lg->loose_indexed++;
		return rc < 0 ? rc : 0;
	}
	memset(&obj, 0, sizeof obj);
	strcpy(obj.key, key);
	obj.where = DOS_LEGACY_LOOSE;
	obj.pack_id = -1;
	if ((rc = m->sink->want(m->data, &obj)) <= 0) {
		if (rc == 0)
			m->stats->present++;
		return rc;
	}
	loose_name(lg, key, name, sizeof name);
	rc = try_file(lg, m->sink, m->data, &obj, lg->loosefd, name);
	if (rc == 0)
		count_object(m->stats, &obj);
	else if (rc == COPY_BAD || rc == COPY_NONE)
		/* COPY_NONE: it vanished since the listing; duplicates remain. */
		rc = try_fallbacks(lg, m->sink, m->data, &obj, m->stats);
	return rc;
}

int
dos_legacy_migrate(struct dos_legacy *lg, const struct dos_legacy_sink *sink,
    void *data, struct dos_legacy_stats *stats)
{
	struct dos_legacy_stats ignored;
	struct migrate_arg m = { sink, data, NULL };
	int rc;

	if (stats == NULL)
		stats = &ignored;
	memset(stats, 0, sizeof *stats);
	m.stats = stats;
	lg->dups_tried = lg->loose_tried = lg->loose_indexed = 0;
	if ((rc = migrate_index(lg, sink, data, stats)) < 0 ||
	    (rc = walk_loose(lg, migrate_loose_key, &m)) < 0)
		return rc;
	stats->extra_copies = lg->loose_indexed - lg->loose_tried +
	    lg->ndups - lg->dups_tried;
	return 0;
}

/* ---- the key list ---- */

struct key_arg {
	dos_legacy_key_fn *fn;
	void *data;
};

static int
loose_only_key(struct dos_legacy *lg, const char *key, void *arg)
{
	struct key_arg *k = arg;
	int rc;

	if ((rc = is_indexed(lg, key)) != 0)
		return rc < 0 ? rc : 0;
	return k->fn(key, k->data);
}

int
dos_legacy_for_each_key(struct dos_legacy *lg, dos_legacy_key_fn *fn,
    void *data)
{
	struct key_arg k = { fn, data };
	sqlite3_stmt *st;
	const char *key;
	int rc = 0, src = SQLITE_DONE;

	if (lg->db != NULL) {
		if (sqlite3_prepare_v2(lg->db, "SELECT hashkey FROM db_object",
		    -1, &st, NULL) != SQLITE_OK)
			return DOS_EIO;
		while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
			key = (const char *)sqlite3_column_text(st, 0);
			/* Rows with bad keys are reported as lost instead. */
			if (key != NULL && valid_key(lg, key,
			    (size_t)sqlite3_column_bytes(st, 0)))
				rc = fn(key, data);
		}
		sqlite3_finalize(st);
		if (rc == 0 && src != SQLITE_DONE) {
			errno = EIO;
			return DOS_EIO;
		}
	}
	return rc != 0 ? rc : walk_loose(lg, loose_only_key, &k);
}
