/*
 * remote-cache.c: the blocks of evicted packs that reads fetched, kept in
 * remote-cache/ so that the next reads of them need no GET.
 *
 * A block is DOS_REMOTE_CACHE_BLOCK bytes of a pack at a multiple of
 * that size (the last one of a pack is shorter), in a file named by the
 * pack's SHA-256 (its remote record's) and the block's number: a pack
 * number reused for other bytes names other files, and the same pack on
 * two remotes shares them.  The file is the block's bytes, then "DOSC"
 * and their CRC-32 as a little-endian 32-bit number: a block is used only
 * whole, of the length its pack's record implies and with its CRC right,
 * so that a file cut short by a crash or damaged on disk is fetched again,
 * never read; the reader then checks the entries in it as it checks a
 * remote's.
 *
 * The cache never holds more than its bound: remote-cache/ledger, locked
 * (flock) by every change, holds the bytes of its files or more.  A block
 * is counted in it before it is renamed into place, and a file removed
 * before it is uncounted, so a process killed between the two leaves the
 * ledger high, never low; when a block would take it past the bound, the
 * directory is listed again, the ledger set to what it holds, and the
 * files least recently used (their mtime, which each use sets) removed
 * until an eighth of the bound is free, so that listing is rare.  A
 * block is written to a temp file of its own, tmp.<pid>.<n>, which the
 * listing removes once its process is gone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "dos.h"

#define CACHE_DIR "remote-cache"
#define TRAILER_SIZE 8
/* The default bound: a tenth of the free space, at most this. */
#define DEFAULT_CAP ((uint64_t)4 << 30)

struct dos_remote_cache {
	uint64_t bound;
	int dirfd;		/* -1 while not made, or when bound is 0 */
	int ledgerfd;
	unsigned counter;	/* of temp files */
	pthread_mutex_t lock;	/* fetching threads put blocks */
};

/* A file of the listing, for eviction. */
struct cached {
	char name[DOS_HEXSZ + 24];
	uint64_t size;
	struct timespec used;
};

int
dos_remote_cache_default(int dirfd, uint64_t *bound)
{
	struct statvfs sv;
	uint64_t tenth;

	if (fstatvfs(dirfd, &sv) < 0)
		return DOS_EIO;
	tenth = (uint64_t)sv.f_bavail * sv.f_frsize / 10;
	*bound = tenth < DEFAULT_CAP ? tenth : DEFAULT_CAP;
	return 0;
}

int
dos_remote_cache_set_bound(struct dos_store *st, uint64_t bound)
{
	struct dos_remote_cache *rc = st->remote_cache;

	if (rc == NULL) {
		if ((rc = calloc(1, sizeof *rc)) == NULL)
			return DOS_ENOMEM;
		rc->dirfd = rc->ledgerfd = -1;
		pthread_mutex_init(&rc->lock, NULL);
		st->remote_cache = rc;
	}
	rc->bound = bound;
	return 0;
}

/* st->remote_cache, with its bound from config.json unless one was set. */
static int
cache_of(struct dos_store *st, struct dos_remote_cache **out)
{
	uint64_t bound = st->cfg.remote_cache_size;
	int rc;

	if (st->remote_cache == NULL &&
	    ((bound == DOS_REMOTE_CACHE_AUTO &&
	    (rc = dos_remote_cache_default(st->dirfd, &bound)) < 0) ||
	    (rc = dos_remote_cache_set_bound(st, bound)) < 0))
		return rc;
	*out = st->remote_cache;
	return 0;
}

int
dos_remote_cache_on(struct dos_store *st)
{
	struct dos_remote_cache *c;

	return cache_of(st, &c) == 0 && c->bound > 0;
}

/* remote-cache/ and its ledger, made on first use; under c->lock. */
static int
open_dir_locked(struct dos_store *st, struct dos_remote_cache *c)
{
	if (c->dirfd >= 0)
		return 0;
	if (mkdirat(st->dirfd, CACHE_DIR, 0777) < 0 && errno != EEXIST)
		return DOS_EIO;
	if ((c->dirfd = dos_open_subdir(st->dirfd, CACHE_DIR)) < 0)
		return DOS_EIO;
	c->ledgerfd = openat(c->dirfd, "ledger",
	    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (c->ledgerfd < 0) {
		close(c->dirfd);
		c->dirfd = -1;
		return DOS_EIO;
	}
	return 0;
}

/* The same, for the fetching threads that read blocks at once. */
static int
open_dir(struct dos_store *st, struct dos_remote_cache *c)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = open_dir_locked(st, c);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void
dos_remote_cache_close(struct dos_store *st)
{
	struct dos_remote_cache *c = st->remote_cache;

	if (c == NULL)
		return;
	if (c->dirfd >= 0)
		close(c->dirfd);
	if (c->ledgerfd >= 0)
		close(c->ledgerfd);
	pthread_mutex_destroy(&c->lock);
	free(c);
	st->remote_cache = NULL;
}

static void
block_name(char *name, size_t size, const char *sha256, uint64_t block)
{
	snprintf(name, size, "%s.%" PRIu64, sha256, block);
}

int
dos_remote_cache_get(struct dos_store *st, const char *sha256, uint64_t block,
    unsigned char *buf, size_t len)
{
	struct dos_remote_cache *c;
	unsigned char trailer[TRAILER_SIZE];
	char name[DOS_HEXSZ + 24];
	struct stat sb;
	ssize_t n;
	int fd, rc;

	if ((rc = cache_of(st, &c)) < 0)
		return rc;
	if (c->bound == 0 || (rc = open_dir(st, c)) < 0)
		return rc;
	block_name(name, sizeof name, sha256, block);
	if ((fd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? 0 : DOS_EIO;
	rc = 0;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (uint64_t)sb.st_size == len + TRAILER_SIZE &&
	    (n = pread(fd, buf, len, 0)) == (ssize_t)len &&
	    pread(fd, trailer, sizeof trailer, (off_t)len) ==
	    (ssize_t)sizeof trailer && memcmp(trailer, "DOSC", 4) == 0 &&
	    dos_get_le32(trailer + 4) == dos_crc32(0, buf, len)) {
		/* Used now: the last to be evicted. */
		futimens(fd, NULL);
		rc = 1;
	}
	close(fd);
	/* Cut short or damaged: gone, for the block to be fetched again. */
	if (rc == 0)
		unlinkat(c->dirfd, name, 0);
	return rc;
}

/* The ledger's count, under its lock (0 if it is empty or unreadable). */
static uint64_t
ledger_read(struct dos_remote_cache *c)
{
	char text[32];
	ssize_t n = pread(c->ledgerfd, text, sizeof text - 1, 0);

	if (n <= 0)
		return 0;
	text[n] = '\0';
	return strtoull(text, NULL, 10);
}

static int
ledger_write(struct dos_remote_cache *c, uint64_t bytes)
{
	char text[32];
	int len = snprintf(text, sizeof text, "%020" PRIu64 "\n", bytes);

	return pwrite(c->ledgerfd, text, (size_t)len, 0) == len ? 0 : DOS_EIO;
}

static int
cmp_used(const void *a, const void *b)
{
	const struct cached *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* A temp file whose process is gone. */
static int
stale_temp(const char *name)
{
	long pid;

	if (sscanf(name, "tmp.%ld.", &pid) != 1)
		return 0;
	return pid != (long)getpid() && kill((pid_t)pid, 0) < 0 &&
	    errno == ESRCH;
}

/*
 * Under the ledger's lock: the blocks listed and counted, and the least
 * recently used removed until room more bytes fit with an eighth of the
 * bound to spare; *total what stays.
 */
static int
make_room(struct dos_remote_cache *c, uint64_t room, uint64_t *total)
{
	struct cached *files = NULL, *grown;
	size_t nr = 0, alloc = 0, i, len;
	struct dirent *e;
	struct stat sb;
	uint64_t sum = 0, keep;
	DIR *d;
	int fd;

	/* Not a dup(): that would share, and leave, the position of dirfd. */
	if ((fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return DOS_EIO;
	}
	while ((e = readdir(d)) != NULL) {
		if (stale_temp(e->d_name)) {
			unlinkat(c->dirfd, e->d_name, 0);
			continue;
		}
		len = strlen(e->d_name);
		if (len < DOS_HEXSZ + 2 || len >= sizeof files->name ||
		    e->d_name[DOS_HEXSZ] != '.' ||
		    !dos_is_lower_hex(e->d_name, DOS_HEXSZ) ||
		    fstatat(c->dirfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (nr == alloc) {
			alloc = alloc ? 2 * alloc : 256;
			if ((grown = realloc(files, alloc * sizeof *files)) ==
			    NULL) {
				free(files);
				closedir(d);
				return DOS_ENOMEM;
			}
			files = grown;
		}
		memcpy(files[nr].name, e->d_name, len + 1);
		files[nr].size = (uint64_t)sb.st_size;
		files[nr].used = sb.st_mtim;
		sum += files[nr].size;
		nr++;
	}
	closedir(d);
	keep = c->bound - c->bound / 8;
	keep = keep > room ? keep - room : 0;
	if (sum + room > c->bound) {
		qsort(files, nr, sizeof *files, cmp_used);
		for (i = 0; i < nr && sum > keep; i++)
			if (unlinkat(c->dirfd, files[i].name, 0) == 0 ||
			    errno == ENOENT)
				sum -= files[i].size;
	}
	free(files);
	*total = sum;
	return 0;
}

/* A temp file of the block, written whole. */
static int
write_temp(struct dos_remote_cache *c, const unsigned char *buf, size_t len,
    char *tmp, size_t size)
{
	unsigned char trailer[TRAILER_SIZE];
	int fd, ok;

	snprintf(tmp, size, "tmp.%ld.%u", (long)getpid(), c->counter++);
	fd = openat(c->dirfd, tmp,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0444);
	if (fd < 0)
		return DOS_EIO;
	memcpy(trailer, "DOSC", 4);
	dos_put_le32(trailer + 4, dos_crc32(0, buf, len));
	ok = pwrite(fd, buf, len, 0) == (ssize_t)len &&
	    pwrite(fd, trailer, sizeof trailer, (off_t)len) ==
	    (ssize_t)sizeof trailer;
	if (close(fd) < 0 || !ok) {
		unlinkat(c->dirfd, tmp, 0);
		return DOS_EIO;
	}
	return 0;
}

/* Under c->lock. */
static int
put_locked(struct dos_remote_cache *c, const char *name,
    const unsigned char *buf, size_t len)
{
	char tmp[64];
	struct stat sb;
	uint64_t size = len + TRAILER_SIZE, total;
	int rc, placed = 0;

	if (size > c->bound)
		return 0;
	if ((rc = write_temp(c, buf, len, tmp, sizeof tmp)) < 0)
		return rc;
	if (flock(c->ledgerfd, LOCK_EX) < 0) {
		unlinkat(c->dirfd, tmp, 0);
		return DOS_EIO;
	}
	/* Another process put it meanwhile. */
	if (fstatat(c->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = 0;
		goto out;
	}
	total = ledger_read(c);
	if (total + size > c->bound && (rc = make_room(c, size, &total)) < 0)
		goto out;
	if ((rc = ledger_write(c, total + size)) == 0) {
		if (renameat(c->dirfd, tmp, c->dirfd, name) == 0)
			placed = 1;
		else
			rc = DOS_EIO;
	}
out:
	if (!placed)
		unlinkat(c->dirfd, tmp, 0);
	flock(c->ledgerfd, LOCK_UN);
	return rc;
}

int
dos_remote_cache_put(struct dos_store *st, const char *sha256, uint64_t block,
    const unsigned char *buf, size_t len)
{
	struct dos_remote_cache *c;
	char name[DOS_HEXSZ + 24];
	int rc;

	if ((rc = cache_of(st, &c)) < 0)
		return rc;
	if (c->bound == 0)
		return 0;
	block_name(name, sizeof name, sha256, block);
	pthread_mutex_lock(&c->lock);
	if ((rc = open_dir_locked(st, c)) == 0)
		rc = put_locked(c, name, buf, len);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int
dos_remote_cache_usage(struct dos_store *st, uint64_t *bytes)
{
	struct dirent *e;
	struct stat sb;
	DIR *d;
	int fd;

	*bytes = 0;
	fd = dos_open_subdir(st->dirfd, CACHE_DIR);
	if (fd < 0)
		return errno == ENOENT ? 0 : DOS_EIO;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return DOS_EIO;
	}
	while ((e = readdir(d)) != NULL)
		if (strlen(e->d_name) > DOS_HEXSZ &&
		    e->d_name[DOS_HEXSZ] == '.' &&
		    fstatat(fd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			*bytes += (uint64_t)sb.st_size;
	closedir(d);
	return 0;
}
