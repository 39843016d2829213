/* loose.c: loose objects, one raw file each under loose/. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dos.h"

#define IO_BUF_SIZE (1 << 20)
/* Tries to rename into a shard that dos pack may remove meanwhile. */
#define SHARD_TRIES 8
/* Start write-back of a large object every this many bytes. */
#define WRITEBACK_STEP (16 << 20)

void
dos_loose_name(const struct dos_store *st, const struct dos_oid *oid,
    char *buf, size_t size)
{
	char hex[DOS_HEXSZ + 1];
	int p = st->cfg.loose_prefix_len;

	dos_oid_to_hex(oid, hex);
	if (p == 0)
		snprintf(buf, size, "%s", hex);
	else
		snprintf(buf, size, "%.*s/%s", p, hex, hex + p);
}

int
dos_loose_stat(struct dos_store *st, const struct dos_oid *oid,
    uint64_t *size)
{
	char name[DOS_HEXSZ + 2];
	struct stat sb;
	int fd, rc;

	/* Not even a size from beyond a symbolic link: the shard may be one. */
	dos_loose_name(st, oid, name, sizeof name);
	if ((fd = dos_open_beneath(st->loosefd, name, O_PATH, 0)) < 0)
		return errno == ENOENT || errno == ENOTDIR ? DOS_ENOTFOUND :
		    errno == ELOOP || errno == EXDEV ? DOS_ECORRUPT : DOS_EIO;
	rc = fstat(fd, &sb) < 0 ? DOS_EIO :
	    !S_ISREG(sb.st_mode) ? DOS_ECORRUPT : 0;
	close(fd);
	if (rc == 0 && size != NULL)
		*size = (uint64_t)sb.st_size;
	return rc;
}

/*
 * The directory of oid's loose file, and its name there: dirfd is
 * loose/ itself or its shard, opened for the caller to close_dir() and
 * never through a symbolic link, which a hostile container may have put
 * there to point outside itself: that fails with ELOOP.
 */
static int
loose_dir(struct dos_store *st, const struct dos_oid *oid,
    char name[DOS_HEXSZ + 2], const char **base)
{
	char *slash;
	int fd;

	dos_loose_name(st, oid, name, DOS_HEXSZ + 2);
	if ((slash = strchr(name, '/')) == NULL) {
		*base = name;
		return st->loosefd;
	}
	*slash = '\0';
	*base = slash + 1;
	fd = dos_open_subdir(st->loosefd, name);
	*slash = '/';
	return fd;
}

static void
close_dir(struct dos_store *st, int dirfd)
{
	int saved = errno;

	if (dirfd != st->loosefd)
		close(dirfd);
	errno = saved;
}

int
dos_loose_unlink(const char *point, struct dos_store *st,
    const struct dos_oid *oid)
{
	char name[DOS_HEXSZ + 2];
	const char *base;
	int dirfd, rc = 0;

	if ((dirfd = loose_dir(st, oid, name, &base)) < 0)
		return errno == ENOENT ? 0 : DOS_EIO;
	if (dos_step_unlink(point, dirfd, base) < 0 && errno != ENOENT)
		rc = DOS_EIO;
	close_dir(st, dirfd);
	return rc;
}

int
dos_loose_sync_unlinks(const char *point, struct dos_store *st)
{
	return dos_step_syncfs(point, st->loosefd) < 0 ? DOS_EIO : 0;
}

/* The entries of loose/ itself, from the start, or NULL (errno set). */
static DIR *
list_loose(struct dos_store *st)
{
	DIR *d;
	int fd;

	if ((fd = dup(st->loosefd)) < 0)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return NULL;
	}
	rewinddir(d);
	return d;
}

/* Objects in one directory of loose/ (the top one when shard is NULL). */
static int
walk_dir(struct dos_store *st, const char *shard, const char *prefix,
    size_t plen, dos_loose_fn *fn, void *data)
{
	size_t slen = shard != NULL ? strlen(shard) : 0;
	size_t want = DOS_HEXSZ - slen, nlen;
	char hex[DOS_HEXSZ];
	struct dos_oid oid;
	struct dirent *e;
	DIR *d;
	int fd, rc = 0;

	fd = shard != NULL ? openat(st->loosefd, shard,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) :
	    dup(st->loosefd);
	/* Not a directory (a symbolic link is never followed): no objects. */
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ?
		    0 : DOS_EIO;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return DOS_EIO;
	}
	if (shard == NULL)
		rewinddir(d);
	if (slen > 0)
		memcpy(hex, shard, slen);
	while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
		nlen = strlen(e->d_name);
		if (nlen != want || !dos_is_lower_hex(e->d_name, nlen))
			continue;
		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			continue;
		memcpy(hex + slen, e->d_name, want);
		if (plen > 0 && memcmp(hex, prefix, plen) != 0)
			continue;
		dos_oid_from_hex(&oid, hex, DOS_HEXSZ);
		rc = fn(&oid, fd, e->d_name, data);
	}
	if (rc == 0 && errno != 0)
		rc = DOS_EIO;
	closedir(d);
	return rc;
}

int
dos_loose_for_each(struct dos_store *st, const char *prefix, size_t plen,
    dos_loose_fn *fn, void *data)
{
	size_t p = (size_t)st->cfg.loose_prefix_len, cmp;
	struct dirent *e;
	DIR *d;
	int rc = 0;
	char shard[DOS_MAX_PREFIX_LEN + 1];

	if (p == 0)
		return walk_dir(st, NULL, prefix, plen, fn, data);
	if (plen >= p) {
		memcpy(shard, prefix, p);
		shard[p] = '\0';
		return walk_dir(st, shard, prefix, plen, fn, data);
	}
	if ((d = list_loose(st)) == NULL)
		return DOS_EIO;
	cmp = plen < p ? plen : p;
	while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
		if (strlen(e->d_name) != p || !dos_is_lower_hex(e->d_name, p))
			continue;
		if (memcmp(e->d_name, prefix, cmp) != 0)
			continue;
		rc = walk_dir(st, e->d_name, prefix, plen, fn, data);
	}
	if (rc == 0 && errno != 0)
		rc = DOS_EIO;
	closedir(d);
	return rc;
}

int
dos_hash_fd(int fd, struct dos_oid *oid, uint64_t *size)
{
	struct dos_hasher h;
	char *buf;
	ssize_t n;
	uint64_t total = 0;
	int rc;

	if ((buf = malloc(IO_BUF_SIZE)) == NULL)
		return DOS_ENOMEM;
	if ((rc = dos_hasher_init(&h)) < 0) {
		free(buf);
		return rc;
	}
	while ((n = read(fd, buf, IO_BUF_SIZE)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = DOS_EREAD;
			break;
		}
		total += (uint64_t)n;
		if ((rc = dos_hasher_update(&h, buf, (size_t)n)) < 0)
			break;
	}
	if (rc == 0)
		rc = dos_hasher_final(&h, oid);
	if (size != NULL)
		*size = total;
	dos_hasher_release(&h);
	free(buf);
	return rc;
}

enum pending_state {
	PENDING_NEW,		/* temp file to rename into place */
	PENDING_REPLACE,	/* a damaged loose copy exists: replace it */
	PENDING_EXISTS,		/* stored loose already, maybe by a writer
				   that has not made its entry durable yet */
	PENDING_DONE,		/* stored durably; nothing left to do */
};

struct pending {
	char tmpname[48];
	struct dos_oid oid;
	enum pending_state state;
};

struct dos_loose_batch {
	struct dos_store *st;
	struct pending *items;
	size_t nr, alloc;
	uint64_t bytes;
	int fd;			/* temp file of the object being written */
	uint64_t size, flushed;	/* its bytes so far, and those sent to disk */
	struct dos_hasher hasher;
	char *buf;
	int keep_packed;	/* write objects even if they are packed */
};

int
dos_loose_batch_new(struct dos_store *st, struct dos_loose_batch **out)
{
	struct dos_loose_batch *b;
	int rc;

	if ((b = calloc(1, sizeof *b)) == NULL)
		return DOS_ENOMEM;
	b->st = st;
	b->fd = -1;
	if ((b->buf = malloc(IO_BUF_SIZE)) == NULL) {
		free(b);
		return DOS_ENOMEM;
	}
	if ((rc = dos_hasher_init(&b->hasher)) < 0) {
		free(b->buf);
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

size_t
dos_loose_batch_pending(const struct dos_loose_batch *b)
{
	return b->nr;
}

uint64_t
dos_loose_batch_pending_bytes(const struct dos_loose_batch *b)
{
	return b->bytes;
}

/*
 * A temp file name that says who made it (so fsck can tell a live
 * writer's file from a dead one's) and cannot collide.
 */
int
dos_temp_create(struct dos_store *st, const char *point, int flags,
    char *name, size_t size)
{
	int fd, tries;
	unsigned r;

	for (tries = 0; tries < 100; tries++) {
		r = (unsigned)random();
		snprintf(name, size, "obj-%ld-%u-%08x", (long)getpid(),
		    __atomic_fetch_add(&st->tmp_counter, 1, __ATOMIC_RELAXED), r);
		fd = dos_step_create(point, st->tmpfd, name, flags | O_EXCL,
		    0444);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

static int
grow_items(struct dos_loose_batch *b)
{
	struct pending *items;

	items = dos_grow(b->items, b->nr, &b->alloc, sizeof *items, 64);
	if (items == NULL)
		return DOS_ENOMEM;
	b->items = items;
	return 0;
}

int
dos_loose_batch_begin(struct dos_loose_batch *b)
{
	struct pending *p;
	int rc;

	if (b->fd >= 0)
		return DOS_EINVAL;
	if ((rc = grow_items(b)) < 0)
		return rc;
	p = &b->items[b->nr];
	if ((b->fd = dos_temp_create(b->st, "loose-temp-create", O_WRONLY,
	    p->tmpname, sizeof p->tmpname)) < 0)
		return DOS_EIO;
	b->size = b->flushed = 0;
	return dos_hasher_reset(&b->hasher);
}

int
dos_loose_batch_write(struct dos_loose_batch *b, const void *buf, size_t len)
{
	int rc;

	if ((rc = dos_hasher_update(&b->hasher, buf, len)) < 0)
		return rc;
	if (dos_step_pwrite("loose-temp-write", b->fd, buf, len, b->size) < 0)
		return DOS_EIO;
	b->size += len;
	/* Let the disk work while we hash the rest of a big object. */
	if (b->size - b->flushed >= WRITEBACK_STEP) {
		sync_file_range(b->fd, (off_t)b->flushed,
		    (off_t)(b->size - b->flushed), SYNC_FILE_RANGE_WRITE);
		b->flushed = b->size;
	}
	return 0;
}

/* Forget the object being written. */
static void
abort_object(struct dos_loose_batch *b)
{
	int saved = errno;

	if (b->fd >= 0) {
		close(b->fd);
		b->fd = -1;
		dos_step_unlink("loose-temp-unlink", b->st->tmpfd,
		    b->items[b->nr].tmpname);
	}
	errno = saved;
}

/* Packed already: a loose copy would only waste space. */
static int
is_packed(struct dos_store *st, const struct dos_oid *oid)
{
	struct dos_index_entry e;
	struct dos_index *ix;

	return dos_store_index(st, 0, &ix) == 0 &&
	    dos_index_get_committed(ix, oid, &e) == 0;
}

void
dos_loose_batch_keep_packed(struct dos_loose_batch *b)
{
	b->keep_packed = 1;
}

int
dos_loose_batch_end(struct dos_loose_batch *b, struct dos_oid *oid)
{
	struct pending *p = &b->items[b->nr];
	uint64_t have;
	int rc, fd = b->fd;

	if (fd < 0)
		return DOS_EINVAL;
	if ((rc = dos_hasher_final(&b->hasher, &p->oid)) < 0) {
		abort_object(b);
		return rc;
	}
	b->fd = -1;
	if (close(fd) < 0) {
		rc = DOS_EIO;
		goto fail;
	}
	*oid = p->oid;
	rc = dos_loose_stat(b->st, &p->oid, &have);
	if (rc == 0 && have == b->size) {
		/* Already stored: never rewrite it. */
		dos_step_unlink("loose-temp-unlink", b->st->tmpfd, p->tmpname);
		p->state = PENDING_EXISTS;
	} else if (rc == 0 || rc == DOS_ECORRUPT) {
		/* A truncated or damaged copy: the good one replaces it. */
		p->state = PENDING_REPLACE;
	} else if (rc == DOS_ENOTFOUND) {
		p->state = !b->keep_packed && is_packed(b->st, &p->oid) ?
		    PENDING_DONE : PENDING_NEW;
		if (p->state == PENDING_DONE)
			dos_step_unlink("loose-temp-unlink", b->st->tmpfd,
			    p->tmpname);
	} else {
		goto fail;
	}
	b->bytes += b->size;
	b->nr++;
	return 0;
fail:
	fd = errno;
	dos_step_unlink("loose-temp-unlink", b->st->tmpfd, p->tmpname);
	errno = fd;
	return rc;
}

int
dos_loose_batch_add_fd(struct dos_loose_batch *b, int infd,
    struct dos_oid *oid)
{
	ssize_t n;
	int rc;

	if ((rc = dos_loose_batch_begin(b)) < 0)
		return rc;
	while ((n = read(infd, b->buf, IO_BUF_SIZE)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			abort_object(b);
			return DOS_EREAD;
		}
		if ((rc = dos_loose_batch_write(b, b->buf, (size_t)n)) < 0) {
			abort_object(b);
			return rc;
		}
	}
	return dos_loose_batch_end(b, oid);
}

/* Make every pending temp file durable: one fsync, or one syncfs. */
static int
sync_temps(struct dos_loose_batch *b, size_t nnew)
{
	struct dos_store *st = b->st;
	size_t i;
	int fd, rc = 0, saved;

	if (nnew == 0)
		return 0;
	if (nnew > 1)
		return dos_step_syncfs("loose-temps-syncfs", st->tmpfd) < 0 ?
		    DOS_EIO : 0;
	for (i = 0; i < b->nr; i++) {
		if (b->items[i].state != PENDING_NEW &&
		    b->items[i].state != PENDING_REPLACE)
			continue;
		fd = openat(st->tmpfd, b->items[i].tmpname, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return DOS_EIO;
		if (dos_step_fsync("loose-temp-fsync", fd) < 0)
			rc = DOS_EIO;
		saved = errno;
		close(fd);
		errno = saved;
	}
	return rc;
}

/* Move one temp file into place; EEXIST means another writer won. */
static int
install(struct dos_store *st, struct pending *p, char *shard_made)
{
	char name[DOS_HEXSZ + 2], *slash;
	unsigned int how = p->state == PENDING_REPLACE ? 0 : RENAME_NOREPLACE;
	const char *base;
	int tries, dirfd;

	/*
	 * Never into a shard that is a symbolic link out of the container
	 * (a missing one is made below, as the protocol has it).
	 */
	if ((dirfd = loose_dir(st, &p->oid, name, &base)) < 0) {
		if (errno != ENOENT)
			return DOS_EIO;
	} else {
		close_dir(st, dirfd);
	}
	/*
	 * A missing shard is made, and made again if dos pack removed it
	 * (empty) between our mkdir and our rename: it removes each shard
	 * at most once a run, so a few tries are enough.
	 */
	for (tries = 0; tries < SHARD_TRIES; tries++) {
		if (dos_step_rename("loose-rename", st->tmpfd, p->tmpname,
		    st->loosefd, name, how) == 0)
			return 0;
		if (errno == EEXIST) {
			dos_step_unlink("loose-temp-unlink", st->tmpfd, p->tmpname);
			return 0;
		}
		if (errno == EINVAL && how != 0) {
			/* No RENAME_NOREPLACE here: link(2) never replaces. */
			if (dos_step_link("loose-link", st->tmpfd, p->tmpname,
			    st->loosefd, name) == 0 || errno == EEXIST) {
				dos_step_unlink("loose-temp-unlink", st->tmpfd,
				    p->tmpname);
				return 0;
			}
		}
		if (errno != ENOENT || (slash = strchr(name, '/')) == NULL)
			return DOS_EIO;
		*slash = '\0';
		if (dos_step_mkdir("loose-shard-mkdir", st->loosefd, name, 0777) == 0)
			*shard_made = 1;
		else if (errno != EEXIST)
			return DOS_EIO;
		*slash = '/';
	}
	return DOS_EIO;
}

int
dos_loose_remove_empty_shards(struct dos_store *st)
{
	size_t p = (size_t)st->cfg.loose_prefix_len;
	struct dirent *e;
	DIR *d;

	if (p == 0)
		return 0;
	if ((d = list_loose(st)) == NULL)
		return DOS_EIO;
	/*
	 * rmdir(2) removes only an empty directory: one a writer has put a
	 * file in meanwhile stays (ENOTEMPTY), and a writer that made one
	 * just before we removed it makes it again (install()).  Not a
	 * step: an empty shard, there or not, is the same container.
	 */
	while ((e = readdir(d)) != NULL)
		if (strlen(e->d_name) == p && dos_is_lower_hex(e->d_name, p))
			(void)unlinkat(st->loosefd, e->d_name, AT_REMOVEDIR);
	closedir(d);
	return 0;
}

int
dos_loose_batch_commit(struct dos_loose_batch *b)
{
	struct dos_store *st = b->st;
	char name[DOS_HEXSZ + 2], *slash, sync_loose = 0;
	size_t i, nnew = 0, nentries = 0, last = 0;
	int rc = 0;

	for (i = 0; i < b->nr; i++) {
		if (b->items[i].state == PENDING_NEW ||
		    b->items[i].state == PENDING_REPLACE)
			nnew++;
		if (b->items[i].state != PENDING_DONE) {
			nentries++;
			last = i;
		}
	}
	if ((rc = sync_temps(b, nnew)) < 0)
		return rc;
	for (i = 0; i < b->nr; i++) {
		if (b->items[i].state == PENDING_DONE)
			continue;
		/*
		 * An existing file is acknowledged only once its entry is
		 * durable: the writer that made it may not have synced it
		 * yet, nor its shard, if it made that too.
		 */
		if (b->items[i].state == PENDING_EXISTS)
			sync_loose = 1;
		else if ((rc = install(st, &b->items[i], &sync_loose)) < 0)
			return rc;
		b->items[i].state = PENDING_DONE;
	}
	/* The directory entries must be durable too. */
	if (nentries > 1) {
		if (dos_step_syncfs("loose-syncfs", st->loosefd) < 0)
			return DOS_EIO;
	} else if (nentries == 1) {
		dos_loose_name(st, &b->items[last].oid, name, sizeof name);
		if ((slash = strrchr(name, '/')) != NULL)
			*slash = '\0';
		else
			strcpy(name, ".");
		if (dos_fsync_dir("loose-shard-fsync", st->loosefd, name) < 0 ||
		    (sync_loose && dos_step_fsync("loose-dir-fsync",
		    st->loosefd) < 0))
			return DOS_EIO;
	}
	b->nr = 0;
	b->bytes = 0;
	return 0;
}

void
dos_loose_batch_free(struct dos_loose_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	abort_object(b);
	for (i = 0; i < b->nr; i++)
		if (b->items[i].state == PENDING_NEW ||
		    b->items[i].state == PENDING_REPLACE)
			dos_step_unlink("loose-temp-unlink", b->st->tmpfd,
			    b->items[i].tmpname);
	dos_hasher_release(&b->hasher);
	free(b->items);
	free(b->buf);
	free(b);
}
