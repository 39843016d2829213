/*
 * backup.c: consistent copies of a container that other processes go on
 * reading and writing (dos backup).
 *
 * A backup needs no lock on the container; it copies in this order
 * (dos-container(5), BACKUPS):
 * 1. config.json, then every loose object: a loose file is named by its
 *    content and never changes, so the copy of any moment is good;
 * 2. every pack is opened: an open pack can still be read after a repack
 *    unlinks it;
 * 3. the index, checkpointed unless little log came since the last
 *    checkpoint, copied by Berkeley DB's hot backup and recovered in the
 *    copy (from that little log): the index as one committed transaction
 *    left it, at a moment after 1 and 2;
 * 4. each pack that copied index knows, to the committed length it
 *    records there: bytes that no writer changes again.  A pack made
 *    after 2 is opened then; one already gone (a second repack) makes the
 *    backup start over.
 * So an object stored before the backup began and not deleted before it
 * ended is in the copy: packed by 3, its record is in the index copied and
 * its bytes in the packs; not, it was loose at 1.
 *
 * First the newest pack is sealed, when no other process writes packs
 * then: writers go on in a new pack, so that this backup's copy of it is
 * the last one needed, and the next backup links it instead.
 *
 * Backups go into a directory of their own, one directory each, named by
 * the time they were made: a valid container, restored by copying it back.
 * One is made under its name with ".partial" appended and renamed when it
 * is complete and durable, so an interrupted backup never looks complete.
 * Files that did not change since the previous backup are hard links to
 * it: a loose file of the same name and size; a pack of the same length
 * whose first and last blocks are the same; config.json of the same
 * bytes.  A staging copy, made to be sent to another machine, links the
 * container's own files the same way: nothing but the index and the
 * newest pack's committed bytes is copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dos.h"

#define BACKUP_TRIES 3		/* starts over when a pack vanished */
#define SAMPLE 4096		/* bytes compared at each end of a pack */
#define NAME_LEN 16		/* "YYYYMMDDTHHMMSSZ" */
#define PARTIAL ".partial"
/*
 * Up to this many files put into a backup, each copy is synced on its
 * own, and the directories that name them, once all is written; beyond,
 * one syncfs(2) at the end, which flushes every file system user's writes
 * too, but once: cheaper than thousands of syncs of loose files.
 */
#define SYNC_EACH_MAX 64

/* A pack opened for the copy. */
struct open_pack {
	uint32_t num;
	int fd;
};

struct backup {
	struct dos_store *st;
	int dst;			/* the new backup's directory */
	int prev;			/* the previous backup's, or -1 */
	struct open_pack *packs;
	size_t npacks, alloc;
	int copies[SYNC_EACH_MAX];	/* files copied, open until synced */
	size_t ncopies;
	struct dos_backup_stats *stats;
};

/* Copy len bytes from the start of in to out. */
static int
copy_bytes(int in, int out, uint64_t len)
{
	char buf[1 << 16];
	loff_t off = 0;
	ssize_t n;

	while ((uint64_t)off < len) {
		n = copy_file_range(in, &off, out, NULL, len - off, 0);
		if (n > 0)
			continue;
		if (n == 0) {
			errno = EIO;	/* the file ended early */
			return DOS_EIO;
		}
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
		    errno != EOPNOTSUPP)
			return DOS_EIO;
		/* No in-kernel copy between these files: by hand. */
		while ((uint64_t)off < len) {
			n = pread(in, buf, len - off < sizeof buf ?
			    (size_t)(len - off) : sizeof buf, off);
			if (n <= 0) {
				if (n == 0)
					errno = EIO;
				return DOS_EIO;
			}
			if (dos_write_all(out, buf, (size_t)n) < 0)
				return DOS_EIO;
			off += n;
		}
	}
	return 0;
}

/* Whether bytes [from, from + len) of a and b are the same. */
static int
same_bytes(int a, int b, uint64_t from, size_t len)
{
	char x[SAMPLE], y[SAMPLE];

	return pread(a, x, len, (off_t)from) == (ssize_t)len &&
	    pread(b, y, len, (off_t)from) == (ssize_t)len &&
	    memcmp(x, y, len) == 0;
}

/*
 * The previous backup's file name, if it is the one the backup needs:
 * len bytes, and for a pack (sample set) the same first and last blocks
 * as src.
 */
static int
previous_has(struct backup *b, const char *name, int src, uint64_t len,
    int sample)
{
	struct stat sb;
	size_t n = len < SAMPLE ? (size_t)len : SAMPLE;
	int fd, same;

	if (b->prev < 0 || fstatat(b->prev, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != len)
		return 0;
	if (!sample)
		return 1;
	if ((fd = openat(b->prev, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return 0;
	same = same_bytes(src, fd, 0, n) && same_bytes(src, fd, len - n, n);
	close(fd);
	return same;
}

static uint64_t
files_put(const struct dos_backup_stats *s)
{
	return s->files_copied + s->files_linked;
}

static void
clear_counts(struct dos_backup_stats *s)
{
	s->objects = s->packs = 0;
	s->files_copied = s->bytes_copied = 0;
	s->files_linked = s->bytes_linked = 0;
}

static void
tell_progress(const struct dos_backup_stats *s)
{
	if (s->progress != NULL)
		s->progress(s, s->progress_data);
}

/* name (below the container) in the backup: linked or copied from src. */
static int
put_file(struct backup *b, const char *name, int src, uint64_t len,
    int sample)
{
	int fd, rc;

	if (previous_has(b, name, src, len, sample) &&
	    linkat(b->prev, name, b->dst, name, 0) == 0) {
		b->stats->files_linked++;
		b->stats->bytes_linked += len;
		return 0;
	}
	fd = openat(b->dst, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0666);
	if (fd < 0)
		return DOS_EIO;
	if ((rc = copy_bytes(src, fd, len)) == 0) {
		b->stats->files_copied++;
		b->stats->bytes_copied += len;
	}
	if (rc == 0 && b->ncopies < SYNC_EACH_MAX) {
		/* Written back from now on, synced by sync_backup. */
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		b->copies[b->ncopies++] = fd;
		return 0;
	}
	if (close(fd) < 0 && rc == 0)
		rc = DOS_EIO;
	return rc;
}

static int
copy_loose(const struct dos_object_info *info, void *data)
{
	struct backup *b = data;
	char name[DOS_HEXSZ + 16], *slash;
	struct stat sb;
	int fd, rc;

	memcpy(name, "loose/", 6);
	dos_loose_name(b->st, &info->oid, name + 6, sizeof name - 6);
	fd = openat(b->st->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	/* Gone since listed: packed (so in the index copied later) or rm'd. */
	if (fd < 0)
		return errno == ENOENT ? 0 : DOS_EIO;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return DOS_EIO;
	}
	if ((slash = strrchr(name, '/')) != name + 5) {
		*slash = '\0';
		if (mkdirat(b->dst, name, 0777) < 0 && errno != EEXIST) {
			close(fd);
			return DOS_EIO;
		}
		*slash = '/';
	}
	rc = put_file(b, name, fd, (uint64_t)sb.st_size, 0);
	close(fd);
	if (rc == 0) {
		b->stats->objects++;
		tell_progress(b->stats);
	}
	return rc;
}

/* Pack num opened now, unless it is already; DOS_ENOTFOUND if gone. */
static int
open_pack(struct backup *b, uint32_t num, int *fd)
{
	struct open_pack *p;
	char name[32];
	size_t i;

	for (i = 0; i < b->npacks; i++)
		if (b->packs[i].num == num) {
			*fd = b->packs[i].fd;
			return 0;
		}
	p = dos_grow(b->packs, b->npacks, &b->alloc, sizeof *p, 16);
	if (p == NULL)
		return DOS_ENOMEM;
	b->packs = p;
	snprintf(name, sizeof name, "packs/%u", num);
	*fd = openat(b->st->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0)
		return errno == ENOENT ? DOS_ENOTFOUND : DOS_EIO;
	p[b->npacks++] = (struct open_pack){ num, *fd };
	return 0;
}

static int
open_all_packs(struct backup *b)
{
	struct dirent *e;
	DIR *d;
	char *end;
	unsigned long num;
	int fd, rc;

	if ((rc = dos_opendir(b->st->dirfd, "packs", &d)) < 0 || d == NULL)
		return rc;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		num = strtoul(e->d_name, &end, 10);
		if (*end != '\0' || num > UINT32_MAX)
			continue;
		rc = open_pack(b, (uint32_t)num, &fd);
		if (rc == DOS_ENOTFOUND)
			rc = 0;		/* removed since listed: not needed */
	}
	closedir(d);
	return rc;
}

static int
copy_pack(uint32_t num, uint64_t length, void *data)
{
	struct backup *b = data;
	char name[32];
	int fd, rc;

	if ((rc = open_pack(b, num, &fd)) < 0)
		return rc == DOS_ENOTFOUND ? DOS_ERECOVER : rc;
	snprintf(name, sizeof name, "packs/%u", num);
	if ((rc = put_file(b, name, fd, length, 1)) == 0) {
		b->stats->packs++;
		tell_progress(b->stats);
	}
	return rc;
}

/* Steps 3 and 4 of the opening comment, into the backup at path. */
static int
copy_index_and_packs(struct backup *b, const char *path)
{
	struct dos_index *ix;
	char *home;
	int rc;

	if (!dos_index_exists(b->st->dirfd))
		return 0;	/* nothing was ever packed */
	if ((rc = dos_store_index(b->st, 0, &ix)) < 0)
		return rc;
	if (mkdirat(b->dst, "index", 0777) < 0)
		return DOS_EIO;
	if (asprintf(&home, "%s/index", path) < 0)
		return DOS_ENOMEM;
	rc = dos_index_backup(ix, home, copy_pack, b);
	free(home);
	return rc;
}

static void
close_packs(struct backup *b)
{
	size_t i;

	for (i = 0; i < b->npacks; i++)
		close(b->packs[i].fd);
	free(b->packs);
	b->packs = NULL;
	b->npacks = b->alloc = 0;
}

static void
close_copies(struct backup *b)
{
	size_t i;

	for (i = 0; i < b->ncopies; i++)
		close(b->copies[i]);
	b->ncopies = 0;
}

/*
 * Directory name of the backup synced, and with files, every regular
 * file in it; with subdirs, each directory in it the same way instead.
 */
static int
sync_dir(int dst, const char *name, int files, int subdirs)
{
	struct dirent *e;
	struct stat sb;
	DIR *d;
	int fd, rc, type;

	if ((rc = dos_opendir(dst, name, &d)) < 0 || d == NULL)
		return rc;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		type = e->d_type;
		if (type == DT_UNKNOWN && fstatat(dirfd(d), e->d_name, &sb,
		    AT_SYMLINK_NOFOLLOW) == 0)
			type = S_ISDIR(sb.st_mode) ? DT_DIR :
			    S_ISREG(sb.st_mode) ? DT_REG : DT_UNKNOWN;
		if (subdirs && type == DT_DIR) {
			rc = sync_dir(dirfd(d), e->d_name, 0, 0);
			continue;
		}
		if (!files || type != DT_REG)
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
		if (fd < 0 || dos_step_fdatasync("backup-index-fdatasync",
		    fd) < 0)
			rc = DOS_EIO;
		if (fd >= 0)
			close(fd);
	}
	if (rc == 0 && dos_step_fsync("backup-dir-fsync", dirfd(d)) < 0)
		rc = DOS_EIO;
	closedir(d);
	return rc;
}

/*
 * The backup durable before it is named complete, each file synced once,
 * all written by then.  Files linked are durable already: those of the
 * previous backup since it was made, the container's own (staging) since
 * they were stored, packs up to the committed length copied.  Up to
 * SYNC_EACH_MAX files put, the copies are synced, and the index files
 * Berkeley DB wrote, then every directory, which names them all.
 */
static int
sync_backup(struct backup *b)
{
	size_t i;
	int rc;

	if (files_put(b->stats) > SYNC_EACH_MAX)
		return dos_step_syncfs("backup-syncfs", b->dst) < 0 ?
		    DOS_EIO : 0;
	for (i = 0; i < b->ncopies; i++)
		if (dos_step_fdatasync("backup-file-fdatasync",
		    b->copies[i]) < 0)
			return DOS_EIO;
	if ((rc = sync_dir(b->dst, "index", 1, 0)) < 0 ||
	    (rc = sync_dir(b->dst, "packs", 0, 0)) < 0 ||
	    (rc = sync_dir(b->dst, "loose", 0, 1)) < 0)
		return rc;
	return dos_step_fsync("backup-dir-fsync", b->dst) < 0 ? DOS_EIO : 0;
}

/* The container's config.json, linked or copied as a pack is. */
static int
copy_config(struct backup *b)
{
	struct stat sb;
	int fd = openat(b->st->dirfd, "config.json", O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW), rc = DOS_EIO;

	if (fd >= 0 && fstat(fd, &sb) == 0)
		rc = put_file(b, "config.json", fd, (uint64_t)sb.st_size, 1);
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * One try at the backup into path, a new directory.  Nothing in it is
 * synced until sync_backup, which syncs the copies and every directory:
 * it is not named complete before.
 */
static int
backup_into(struct backup *b, const char *path)
{
	int rc;

	if (mkdir(path, 0777) < 0)
		return errno == EEXIST ? DOS_EEXIST : DOS_EIO;
	if ((b->dst = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return DOS_EIO;
	rc = dos_store_make_layout(b->dst) < 0 ? DOS_EIO : copy_config(b);
	if (rc == 0)
		rc = dos_for_each_object(b->st, DOS_ITER_LOOSE |
		    DOS_ITER_UNORDERED, copy_loose, b);
	if (rc == 0)
		rc = open_all_packs(b);
	if (rc == 0)
		rc = copy_index_and_packs(b, path);
	if (rc == 0)
		rc = sync_backup(b);
	close_packs(b);
	close_copies(b);
	close(b->dst);
	return rc;
}

/*
 * Have writers start a new pack (unless the newest is empty), so that the
 * newest one is never appended to again; not waiting for the pack lock:
 * while a packer holds it, the newest pack stays open.
 */
static int
seal_newest_pack(struct dos_store *st)
{
	struct dos_pack_writer *w;
	long holder;
	int rc;

	if (!dos_index_exists(st->dirfd))
		return 0;	/* no pack yet */
	rc = dos_pack_writer_open(st, DOS_PACK_NOWAIT, DOS_COMPRESS_AUTO, &w,
	    &holder);
	if (rc == DOS_EBUSY)
		return 0;
	if (rc < 0)
		return rc;
	rc = dos_pack_writer_start_pack(w);
	dos_pack_writer_close(w);
	return rc;
}

/* Whether name is that of a complete backup: YYYYMMDDTHHMMSSZ. */
static int
is_backup_name(const char *name)
{
	int i;

	for (i = 0; i < NAME_LEN; i++)
		if (i == 8 ? name[i] != 'T' : i == 15 ? name[i] != 'Z' :
		    name[i] < '0' || name[i] > '9')
			return 0;
	return name[NAME_LEN] == '\0';
}

/*
 * Remove what interrupted backups left (*.partial), put the newest
 * complete backup's name in newest ("" if none), and remove the oldest
 * complete ones beyond keep (0: keep all).
 */
static int
tidy(int destfd, unsigned keep, char *newest)
{
	char (*names)[NAME_LEN + 1] = NULL;
	size_t nr = 0, alloc = 0, i, len;
	struct dirent *e;
	DIR *d;
	void *p;
	int rc = 0;

	if ((rc = dos_opendir(destfd, ".", &d)) < 0)
		return rc;
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (len == NAME_LEN + sizeof PARTIAL - 1 &&
		    strcmp(e->d_name + NAME_LEN, PARTIAL) == 0) {
			dos_remove_tree(destfd, e->d_name);
			continue;
		}
		if (!is_backup_name(e->d_name))
			continue;
		if ((p = dos_grow(names, nr, &alloc, sizeof *names, 16)) == NULL) {
			rc = DOS_ENOMEM;
			break;
		}
		names = p;
		memcpy(names[nr++], e->d_name, NAME_LEN + 1);
	}
	closedir(d);
	if (rc == 0 && nr > 0) {
		qsort(names, nr, sizeof *names,
		    (int (*)(const void *, const void *))strcmp);
		for (i = 0; keep > 0 && i + keep < nr; i++)
			dos_remove_tree(destfd, names[i]);
	}
	strcpy(newest, nr > 0 ? names[nr - 1] : "");
	free(names);
	return rc;
}

int
dos_backup(struct dos_store *st, const char *dest, unsigned flags,
    unsigned keep, char *made, size_t size, struct dos_backup_stats *stats)
{
	struct backup b;
	char newest[NAME_LEN + 1], name[NAME_LEN + 1], *partial = NULL;
	time_t now = time(NULL);
	int destfd, lockfd = -1, rc, tries;

	clear_counts(stats);
	if (dos_mkdir_p(dest, 0777) < 0 ||
	    (destfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return DOS_EIO;
	/* One backup into dest at a time. */
	lockfd = openat(destfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (lockfd < 0) {
		rc = DOS_EIO;
		goto out;
	}
	if (flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? DOS_EBUSY : DOS_EIO;
		goto out;
	}
	if ((rc = tidy(destfd, 0, newest)) < 0)
		goto out;
	/* Names sort in the order backups were made, a second apart. */
	do
		strftime(name, sizeof name, "%Y%m%dT%H%M%SZ", gmtime(&now));
	while (strcmp(name, newest) <= 0 && ++now);
	if (asprintf(&partial, "%s/%s" PARTIAL, dest, name) < 0) {
		rc = DOS_ENOMEM;
		goto out;
	}
	if ((rc = seal_newest_pack(st)) < 0)
		goto out;
	memset(&b, 0, sizeof b);
	b.st = st;
	b.stats = stats;
	if (flags & DOS_BACKUP_STAGE)
		b.prev = dup(st->dirfd);
	else
		b.prev = *newest != '\0' ? openat(destfd, newest,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	for (tries = 1; ; tries++) {
		rc = backup_into(&b, partial);
		if (rc != DOS_ERECOVER || tries == BACKUP_TRIES)
			break;
		/* A pack the index needs went: start over. */
		dos_remove_tree(AT_FDCWD, partial);
		clear_counts(stats);
	}
	if (b.prev >= 0)
		close(b.prev);
	if (rc < 0) {
		dos_remove_tree(AT_FDCWD, partial);
		goto out;
	}
	snprintf(newest, sizeof newest, "%s", name);
	if (renameat(destfd, strrchr(partial, '/') + 1, destfd, name) < 0 ||
	    dos_step_fsync("backup-fsync", destfd) < 0) {
		rc = DOS_EIO;
		goto out;
	}
	snprintf(made, size, "%s/%s", dest, name);
	rc = tidy(destfd, keep, newest);
out:
	free(partial);
	if (lockfd >= 0)
		close(lockfd);
	close(destfd);
	return rc;
}
