/*
 * tree.c: whole directory trees, in and out of a container: walking the
 * regular files below a directory (dos hash-object --recursive), and
 * writing files at relative paths below one (dos restore), never outside
 * it.
 *
 * Restoring is the dangerous half: the paths come from a manifest that
 * anyone may have written.  Every path is taken one component at a time,
 * each directory opened relative to the one before it and never through a
 * symbolic link, so that no "..", absolute path or link placed in the
 * tree (even while we write) can lead a file out of the directory.  A
 * file is written under a temporary name beside its final one and renamed
 * into place once complete and verified: a file under its final name is
 * always whole.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dos.h"

/* ---- walking ----------------------------------------------------------- */

struct walk {
	char *path;		/* the path being walked, root first */
	size_t len, alloc;
	dos_tree_fn *fn;
	void *data;
};

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append "/name" to w->path, leaving it as it was on failure. */
static int
path_push(struct walk *w, const char *name)
{
	size_t n = strlen(name), need = w->len + n + 2;
	char *p;

	if (need > w->alloc) {
		if ((p = realloc(w->path, need)) == NULL)
			return DOS_ENOMEM;
		w->path = p;
		w->alloc = need;
	}
	if (w->len > 0 && w->path[w->len - 1] != '/')
		w->path[w->len++] = '/';
	memcpy(w->path + w->len, name, n + 1);
	w->len += n;
	return 0;
}

static int walk_dir(struct walk *w, int fd);

/* Hand fn the regular file open on fd (closed here), or what else it is. */
static int
hand_file(const char *path, int fd, dos_tree_fn *fn, void *data)
{
	struct stat sb;
	int rc;

	if (fd < 0)
		return fn(path, -1, DOS_TREE_UNREADABLE, data);
	if (fstat(fd, &sb) < 0)
		rc = fn(path, -1, DOS_TREE_UNREADABLE, data);
	else
		rc = fn(path, S_ISREG(sb.st_mode) ? fd : -1,
		    S_ISREG(sb.st_mode) ? DOS_TREE_FILE : DOS_TREE_OTHER, data);
	close(fd);
	return rc;
}

/*
 * The entry name of the directory dirfd, w->path naming it: a directory
 * is walked, anything else handed to fn.
 */
static int
walk_entry(struct walk *w, int dirfd, const char *name)
{
	struct stat sb;
	int fd, rc;

	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return w->fn(w->path, -1, DOS_TREE_UNREADABLE, w->data);
	if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
		return w->fn(w->path, -1, DOS_TREE_OTHER, w->data);
	/* Never a FIFO swapped in since: O_NONBLOCK, and checked again. */
	if (S_ISREG(sb.st_mode))
		return hand_file(w->path, openat(dirfd, name, O_RDONLY |
		    O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), w->fn, w->data);
	if ((fd = dos_open_subdir(dirfd, name)) < 0)
		return w->fn(w->path, -1, DOS_TREE_UNREADABLE, w->data);
	rc = walk_dir(w, fd);
	close(fd);
	return rc;
}

/*
 * The entries of the directory fd in name order, so that the same tree
 * always gives the same manifest; only one directory's names are held
 * per level of depth.
 */
static int
walk_dir(struct walk *w, int fd)
{
	struct dirent *d;
	char **names = NULL;
	size_t nr = 0, alloc = 0, i, len = w->len;
	DIR *dir;
	int dupfd, rc = 0;
	void *grown;

	if ((dupfd = dup(fd)) < 0 || (dir = fdopendir(dupfd)) == NULL) {
		if (dupfd >= 0)
			close(dupfd);
		return w->fn(w->path, -1, DOS_TREE_UNREADABLE, w->data);
	}
	errno = 0;
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if ((grown = dos_grow(names, nr, &alloc, sizeof *names,
		    64)) == NULL || (names = grown,
		    (names[nr] = strdup(d->d_name)) == NULL)) {
			rc = DOS_ENOMEM;
			break;
		}
		nr++;
	}
	if (rc == 0 && errno != 0)
		rc = w->fn(w->path, -1, DOS_TREE_UNREADABLE, w->data);
	closedir(dir);
	if (nr > 1)	/* names is NULL for an empty directory */
		qsort(names, nr, sizeof *names, by_name);
	for (i = 0; i < nr && rc == 0; i++) {
		if ((rc = path_push(w, names[i])) == 0)
			rc = walk_entry(w, fd, names[i]);
		w->len = len;
		w->path[len] = '\0';
	}
	for (i = 0; i < nr; i++)
		free(names[i]);
	free(names);
	return rc;
}

int
dos_tree_walk(const char *root, dos_tree_fn *fn, void *data)
{
	struct walk w = { NULL, 0, 0, fn, data };
	struct stat sb;
	size_t n = strlen(root);
	int fd, rc;

	/* The root is followed if it is a link: the caller named it. */
	fd = open(root, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return hand_file(root, fd, fn, data);
	while (n > 1 && root[n - 1] == '/')
		n--;
	if ((w.path = malloc(n + 1)) == NULL) {
		close(fd);
		return DOS_ENOMEM;
	}
	memcpy(w.path, root, n);
	w.path[n] = '\0';
	w.len = w.alloc = n;
	w.alloc++;
	rc = walk_dir(&w, fd);
	close(fd);
	free(w.path);
	return rc;
}

/* ---- restoring --------------------------------------------------------- */

struct dos_restore {
	int rootfd;
	unsigned flags;
	/* The directory of the last file, kept open for the next ones. */
	char *dir;
	size_t dir_alloc;
	int dirfd;
	/* The file being written. */
	int fd;
	int unnamed;		/* an O_TMPFILE, not yet linked */
	char tmp[64];		/* else its temporary name */
	const char *name;	/* its final name in dirfd */
	char *path;
	size_t path_alloc;
	int no_tmpfile;		/* the file system or /proc lacks O_TMPFILE */
	long pid;
	unsigned counter;
};

int
dos_restore_open(const char *dir, unsigned flags, struct dos_restore **out)
{
	struct dos_restore *r;
	int rc;

	if ((rc = dos_mkdir_p(dir, 0777)) < 0)
		return rc;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return DOS_ENOMEM;
	r->flags = flags;
	r->dirfd = r->fd = -1;
	r->pid = (long)getpid();
	/* An O_TMPFILE is given its name through /proc (see link_file). */
	r->no_tmpfile = access("/proc/self/fd", X_OK) != 0;
	if ((r->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		free(r);
		return DOS_EIO;
	}
	*out = r;
	return 0;
}

/*
 * Check that path is relative and has no ".." and a file name at its end:
 * DOS_EINVAL if not.
 */
static int
check_path(const char *path)
{
	const char *p = path, *end;
	size_t n;

	if (*path == '\0' || *path == '/')
		return DOS_EINVAL;
	for (;;) {
		end = strchr(p, '/');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return DOS_EINVAL;
		if (end == NULL)
			break;
		p = end + 1;
	}
	/* The last component names the file: not "", "." (a directory). */
	if (n == 0 || (n == 1 && *p == '.'))
		return DOS_EINVAL;
	return 0;
}

/*
 * Open the directory r->path[0..len) below the root, creating what is
 * missing, into r->dirfd; r->path is cut into its components on the way
 * and put back.
 */
static int
open_dir(struct dos_restore *r, size_t len)
{
	char *p = r->path, *end = r->path + len, *slash;
	int fd = r->rootfd, next, saved;

	while (p < end) {
		if ((slash = memchr(p, '/', (size_t)(end - p))) == NULL)
			slash = end;
		*slash = '\0';
		/* "a//b" and "./a" are a/b and a. */
		if (*p == '\0' || strcmp(p, ".") == 0) {
			*slash = '/';
			p = slash + 1;
			continue;
		}
		if (mkdirat(fd, p, 0777) < 0 && errno != EEXIST)
			next = -1;
		else
			next = dos_open_subdir(fd, p);
		/* Every cut is at a '/': the one before the file name too. */
		*slash = '/';
		saved = errno;
		if (fd != r->rootfd)
			close(fd);
		if (next < 0) {
			errno = saved;
			return DOS_EIO;
		}
		fd = next;
		p = slash + 1;
	}
	r->dirfd = fd;
	return 0;
}

/*
 * A temporary name beside the file's for r->fd, or for a new file when
 * r->fd is -1.
 */
static int
name_temp(struct dos_restore *r)
{
	char proc[64];
	int rc;

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", r->fd);
	for (;;) {
		snprintf(r->tmp, sizeof r->tmp, ".dos-restore.%ld.%u", r->pid,
		    r->counter++);
		if (r->fd >= 0) {
			rc = linkat(AT_FDCWD, proc, r->dirfd, r->tmp,
			    AT_SYMLINK_FOLLOW);
		} else {
			r->fd = openat(r->dirfd, r->tmp, O_WRONLY | O_CREAT |
			    O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
			rc = r->fd;
		}
		if (rc >= 0) {
			r->unnamed = 0;
			return 0;
		}
		if (errno != EEXIST)
			return DOS_EIO;
	}
}

int
dos_restore_begin(struct dos_restore *r, const char *path)
{
	size_t n = strlen(path), dlen;
	const char *slash;
	int rc;
	void *grown;

	if ((rc = check_path(path)) < 0)
		return rc;
	if (n + 1 > r->path_alloc) {
		if ((grown = realloc(r->path, n + 1)) == NULL)
			return DOS_ENOMEM;
		r->path = grown;
		r->path_alloc = n + 1;
	}
	memcpy(r->path, path, n + 1);
	slash = strrchr(r->path, '/');
	dlen = slash != NULL ? (size_t)(slash - r->path) : 0;
	r->name = slash != NULL ? slash + 1 : r->path;
	/* Files of one directory come together: keep it open for them. */
	if (r->dirfd < 0 || r->dir == NULL || strlen(r->dir) != dlen ||
	    memcmp(r->dir, r->path, dlen) != 0) {
		if (r->dirfd >= 0 && r->dirfd != r->rootfd)
			close(r->dirfd);
		r->dirfd = -1;
		if (dlen + 1 > r->dir_alloc) {
			if ((grown = realloc(r->dir, dlen + 1)) == NULL)
				return DOS_ENOMEM;
			r->dir = grown;
			r->dir_alloc = dlen + 1;
		}
		if ((rc = open_dir(r, dlen)) < 0)
			return rc;
		memcpy(r->dir, r->path, dlen);
		r->dir[dlen] = '\0';
	}
	/*
	 * A file without a name until it is whole: one directory operation
	 * (its link) instead of two (create, rename), and nothing left
	 * behind by a process killed while writing it.
	 */
	r->unnamed = 0;
	if (!r->no_tmpfile) {
		r->fd = openat(r->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC,
		    0666);
		if (r->fd >= 0) {
			r->unnamed = 1;
			return 0;
		}
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			return DOS_EIO;
		r->no_tmpfile = 1;
	}
	return name_temp(r);
}

int
dos_restore_write(struct dos_restore *r, const void *buf, size_t len)
{
	return dos_write_all(r->fd, buf, len);
}

void
dos_restore_abort(struct dos_restore *r)
{
	if (r->fd < 0)
		return;
	close(r->fd);
	r->fd = -1;
	if (!r->unnamed)
		unlinkat(r->dirfd, r->tmp, 0);
}

/* The whole file r->fd under its name, if nothing is there. */
static int
link_file(struct dos_restore *r)
{
	char proc[64];

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", r->fd);
	if (linkat(AT_FDCWD, proc, r->dirfd, r->name, AT_SYMLINK_FOLLOW) < 0)
		return errno == EEXIST ? DOS_EEXIST : DOS_EIO;
	return 0;
}

int
dos_restore_end(struct dos_restore *r)
{
	unsigned how = r->flags & DOS_RESTORE_FORCE ? 0 : RENAME_NOREPLACE;
	int rc = 0, saved;

	/* Replacing a file takes a rename: link the file to a temp name. */
	if (r->unnamed && (r->flags & DOS_RESTORE_FORCE))
		rc = name_temp(r);
	else if (r->unnamed)
		rc = link_file(r);
	saved = errno;
	if (close(r->fd) < 0 && rc == 0) {
		saved = errno;
		rc = DOS_EIO;
		if (r->unnamed)
			unlinkat(r->dirfd, r->name, 0);
	}
	r->fd = -1;
	if (r->unnamed || rc < 0) {
		if (!r->unnamed)
			unlinkat(r->dirfd, r->tmp, 0);
		errno = saved;
		return rc;
	}
	if (renameat2(r->dirfd, r->tmp, r->dirfd, r->name, how) == 0)
		return 0;
	saved = errno;
	unlinkat(r->dirfd, r->tmp, 0);
	errno = saved;
	return errno == EEXIST ? DOS_EEXIST : DOS_EIO;
}

void
dos_restore_close(struct dos_restore *r)
{
	if (r == NULL)
		return;
	dos_restore_abort(r);
	if (r->dirfd >= 0 && r->dirfd != r->rootfd)
		close(r->dirfd);
	close(r->rootfd);
	free(r->dir);
	free(r->path);
	free(r);
}
