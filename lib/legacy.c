/*
 * legacy.c: reading legacy disk-objectstore containers for dos-migrate:
 * config.json, the SQLite index, duplicates/ and loose/.  The files of
 * the legacy reader (legacy-int.h lists them) are the only ones that use
 * SQLite; see the "Legacy format" notes in dos-migrate(1).  The source
 * container is opened read-only and its index is read from a private
 * copy, so nothing in it ever changes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "legacy-int.h"

/*
 * Files of the SQLite index; the first one is the database itself.  A
 * copy of a rollback journal left by a writer that died is played back
 * into the copy of the database when SQLite opens it.
 */
static const char *const index_files[] = {
	"packs.idx", "packs.idx-wal", "packs.idx-shm", "packs.idx-journal", NULL
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

int
valid_key(const struct dos_legacy *lg, const char *key, size_t len)
{
	return len == lg->cfg.keylen && dos_is_lower_hex(key, len);
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

/*
 * Open name below dirfd for reading if it is a regular file: never
 * through a symbolic link (ELOOP), which could point out of the
 * container, nor waiting on a FIFO; EISDIR for anything else.
 */
int
open_regular(int dirfd, const char *name, struct stat *sb)
{
	int fd = dos_open_beneath(dirfd, name, O_RDONLY, 0);

	if (fd >= 0 && (fstat(fd, sb) < 0 || !S_ISREG(sb->st_mode))) {
		close(fd);
		fd = -1;
		errno = EISDIR;
	}
	return fd;
}

/* ---- the index, on a private copy ---- */

static int
copy_file(int srcdir, const char *name, const char *dstdir, void *buf)
{
	char path[PATH_MAX];
	struct stat sb;
	ssize_t n;
	int in, out, rc = 0;

	if ((in = open_regular(srcdir, name, &sb)) < 0)
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

/* The files of an index copy, in the directory open as fd. */
static void
remove_copy_files(int fd)
{
	int i;

	/* The journal last: SQLite's own, should it make one. */
	for (i = 0; index_files[i] != NULL; i++)
		unlinkat(fd, index_files[i], 0);
}

static void
remove_tmpdir(struct dos_legacy *lg)
{
	if (lg->tmpdir == NULL)
		return;
	if (lg->tmpfd >= 0)
		remove_copy_files(lg->tmpfd);
	rmdir(lg->tmpdir);
	if (lg->tmpfd >= 0)
		close(lg->tmpfd);
	lg->tmpfd = -1;
	free(lg->tmpdir);
	lg->tmpdir = NULL;
}

/*
 * A migration killed before its end leaves its copy of the index behind,
 * in a directory named after its process: the next one removes the
 * copies of this user's migrations whose process is gone.  A migration
 * holds its directory locked (flock) while it runs, so that one whose
 * process only seems gone (from another pid namespace or host sharing
 * TMPDIR) keeps its copy.
 */
static void
remove_stale_copies(const char *tmp)
{
	char prefix[32];
	struct dirent *e;
	struct stat sb;
	long pid;
	DIR *d;
	int fd;

	if ((d = opendir(tmp)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (sscanf(e->d_name, "dos-migrate-%ld-", &pid) != 1 ||
		    pid <= 0 || pid > INT_MAX || pid == (long)getpid())
			continue;
		snprintf(prefix, sizeof prefix, "dos-migrate-%ld-", pid);
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
		    fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			remove_copy_files(fd);
			unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
		}
		close(fd);
	}
	closedir(d);
}

/* Whether db_object's rowid is its integer key, as the legacy schema has. */
static int
has_rowids(sqlite3 *db)
{
	const char *type;
	int pk;

	return sqlite3_table_column_metadata(db, "main", "db_object", "rowid",
	    &type, NULL, NULL, &pk, NULL) == SQLITE_OK && pk &&
	    type != NULL && strcasecmp(type, "INTEGER") == 0;
}

/*
 * A read-write open of the real packs.idx would checkpoint its WAL into
 * it and delete packs.idx-wal; immutable=1 would miss the rows that live
 * only in the WAL.  A copy of all its files has neither problem.
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
	remove_stale_copies(tmp);
	snprintf(path, sizeof path, "%s/dos-migrate-%ld-XXXXXX", tmp,
	    (long)getpid());
	if (mkdtemp(path) == NULL || (lg->tmpdir = strdup(path)) == NULL)
		return DOS_EIO;
	lg->tmpfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lg->tmpfd < 0 || flock(lg->tmpfd, LOCK_EX) < 0)
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
	rc = sqlite3_prepare_v2(lg->db, ROW_COLUMNS " FROM db_object LIMIT 1",
	    -1, &st, NULL);
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		*why = "packs.idx lacks columns of the db_object table";
		return DOS_EBADCONFIG;
	}
	lg->rowids = has_rowids(lg->db);
	return 0;
}

/* 1 if key has a row in the index, 0 if not. */
int
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
	lg->loosefd = lg->packsfd = lg->dupfd = lg->packfd = lg->tmpfd = -1;
	lg->pack_id = INT64_MIN;
	if ((lg->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = errno == ENOENT || errno == ENOTDIR ?
		    DOS_ENOTCONTAINER : DOS_EIO;
		*why = "it is not a directory";
		goto fail;
	}
	if ((rc = read_config(lg, why)) < 0)
		goto fail;
	/* Its directories must not lead out of it. */
	lg->loosefd = dos_open_subdir(lg->dirfd, "loose");
	lg->packsfd = dos_open_subdir(lg->dirfd, "packs");
	if (lg->loosefd < 0 || lg->packsfd < 0) {
		rc = errno == ENOENT ? DOS_ENOTCONTAINER : DOS_EIO;
		*why = "it has no loose/ or packs/ directory";
		goto fail;
	}
	/* Containers from before 0.4 have no duplicates/. */
	if ((lg->dupfd = dos_open_subdir(lg->dirfd, "duplicates")) < 0 &&
	    errno != ENOENT) {
		rc = DOS_EIO;
		goto fail;
	}
	lg->md = EVP_MD_fetch(NULL, lg->cfg.hash == DOS_LEGACY_SHA1 ?
	    "SHA1" : "SHA256", NULL);
	if (lg->md == NULL || (lg->inbuf = malloc(IO_BUF_SIZE)) == NULL ||
	    (rc = verifier_init(&lg->v, lg)) < 0) {
		rc = DOS_ENOMEM;
		goto fail;
	}
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

void
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
	verifier_release(&lg->v);
	EVP_MD_free(lg->md);
	free(lg->inbuf);
	free(lg);
}

/* ---- loose objects ---- */


/*
 * Every well-formed key under loose/ (as the legacy listing accepts it,
 * plus the right length), in directory order.
 */
int
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
		if (strlen(e->d_name) != p || !dos_is_lower_hex(e->d_name, p))
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
	return k->fn(key, DOS_LEGACY_LOOSE, k->data);
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
		/* In order, as the unique index on hashkey has them. */
		if (sqlite3_prepare_v2(lg->db, "SELECT hashkey FROM db_object "
		    "ORDER BY hashkey", -1, &st, NULL) != SQLITE_OK)
			return DOS_EIO;
		while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
			key = (const char *)sqlite3_column_text(st, 0);
			/* Rows with bad keys are reported as lost instead. */
			if (key != NULL && valid_key(lg, key,
			    (size_t)sqlite3_column_bytes(st, 0)))
				rc = fn(key, DOS_LEGACY_PACKED, data);
		}
		sqlite3_finalize(st);
		if (rc == 0 && src != SQLITE_DONE) {
			errno = EIO;
			return DOS_EIO;
		}
	}
	return rc != 0 ? rc : walk_loose(lg, loose_only_key, &k);
}

