/* fsutil.c: small file-system helpers that retry and report properly. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "dos.h"

int
dos_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return DOS_EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t
dos_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return DOS_EIO;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int
dos_open_subdir(int dirfd, const char *name)
{
	struct stat sb;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	/* O_NOFOLLOW makes a symbolic link ENOTDIR: say what it is. */
	if (fd < 0 && errno == ENOTDIR && fstatat(dirfd, name, &sb,
	    AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
		errno = ELOOP;
	return fd;
}

int
dos_opendir(int dirfd, const char *name, DIR **d)
{
	int fd;

	*d = NULL;
	if ((fd = dos_open_subdir(dirfd, name)) < 0)
		return errno == ENOENT ? 0 : DOS_EIO;
	if ((*d = fdopendir(fd)) == NULL) {
		close(fd);
		return DOS_EIO;
	}
	return 0;
}

int
dos_mkdir_p(const char *path, mode_t mode)
{
	char *copy, *p, saved;
	int rc = 0;
	size_t len = strlen(path);

	if ((copy = strdup(path)) == NULL)
		return DOS_ENOMEM;
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	for (p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		saved = *p;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST) {
			rc = DOS_EIO;
			break;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	return rc;
}

void
dos_remove_tree(int dirfd, const char *name)
{
	struct dirent *d;
	DIR *dir;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0) {
		unlinkat(dirfd, name, 0);
		return;
	}
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		/* A directory: EISDIR from Linux, EPERM from POSIX. */
		if (unlinkat(fd, d->d_name, 0) < 0 &&
		    (errno == EISDIR || errno == EPERM))
			dos_remove_tree(fd, d->d_name);
	}
	closedir(dir);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

/*
 * Open path below dirfd without following any symbolic link and without
 * leaving the directory, so a hostile container cannot point dos outside
 * itself.  openat2(2) does this in one call; older kernels get the same
 * guarantee component by component.
 */
int
dos_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how;
	const char *slash;
	char comp[256];
	size_t len;
	int fd, sub, next, saved;
	long r;

	/*
	 * A read-only open never waits: a FIFO planted where a file should
	 * be would otherwise hang the reader (regular files ignore it).
	 */
	if ((flags & (O_ACCMODE | O_CREAT | O_PATH)) == O_RDONLY)
		flags |= O_NONBLOCK;
	memset(&how, 0, sizeof how);
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	    RESOLVE_NO_MAGICLINKS;
	r = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
	if (r >= 0 || (errno != ENOSYS && errno != EPERM))
		return (int)r;

	/* Fallback: walk the components with O_NOFOLLOW. */
	if (path[0] == '/') {
		errno = EXDEV;
		return -1;
	}
	sub = -1;
	fd = dirfd;
	while ((slash = strchr(path, '/')) != NULL) {
		len = (size_t)(slash - path);
		if (len == 0 || len >= sizeof comp ||
		    (len == 2 && path[0] == '.' && path[1] == '.')) {
			if (sub >= 0)
				close(sub);
			errno = EXDEV;
			return -1;
		}
		memcpy(comp, path, len);
		comp[len] = '\0';
		next = openat(fd, comp,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			close(sub);
		if (next < 0)
			return -1;
		fd = sub = next;
		path = slash + 1;
	}
	if (strcmp(path, "..") == 0) {
		if (sub >= 0)
			close(sub);
		errno = EXDEV;
		return -1;
	}
	r = openat(fd, path, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	if (sub >= 0) {
		saved = errno;
		close(sub);
		errno = saved;
	}
	return (int)r;
}

int
dos_parse_pack_name(const char *name, uint32_t *pack)
{
	unsigned long v = 0;
	const char *p;

	if (name[0] == '\0' || (name[0] == '0' && name[1] != '\0'))
		return DOS_EINVAL;
	for (p = name; *p; p++) {
		if (*p < '0' || *p > '9' || v > 0xffffffffUL / 10)
			return DOS_EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 0xfffffffeUL)
		return DOS_EINVAL;
	*pack = (uint32_t)v;
	return 0;
}

static int
cmp_number(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
dos_list_numbered(int dirfd, const char *dir, uint32_t **packs, size_t *nr)
{
	struct dirent *e;
	uint32_t n, *list = NULL, *grown;
	size_t alloc = 0;
	DIR *d;
	int rc;

	*nr = 0;
	*packs = NULL;
	if ((rc = dos_opendir(dirfd, dir, &d)) < 0 || d == NULL)
		return rc;
	while ((e = readdir(d)) != NULL) {
		if (dos_parse_pack_name(e->d_name, &n) < 0)
			continue;
		if ((grown = dos_grow(list, *nr, &alloc, sizeof *list, 16)) == NULL) {
			free(list);
			closedir(d);
			return DOS_ENOMEM;
		}
		list = grown;
		list[(*nr)++] = n;
	}
	closedir(d);
	if (*nr > 1)
		qsort(list, *nr, sizeof *list, cmp_number);
	*packs = list;
	return 0;
}

void
dos_pack_list_sort(uint32_t *packs, size_t nr)
{
	if (nr > 0)
		qsort(packs, nr, sizeof *packs, cmp_number);
}

const uint32_t *
dos_pack_list_find(const uint32_t *packs, size_t nr, uint32_t pack)
{
	return nr > 0 ? bsearch(&pack, packs, nr, sizeof *packs, cmp_number) :
	    NULL;
}
