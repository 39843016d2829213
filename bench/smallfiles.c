/* Physical limits for small files, used by bench/run.
 *
 *   smallfiles create MODE DIR N SIZE   create N files of SIZE bytes in
 *                                       DIR/NN/ (100 subdirectories) through a
 *                                       temp file + rename, like a loose store
 *       MODE none   no fsync at all
 *            file   fsync each temp file before its rename, fsync the
 *                   directories at the end
 *            batch  write 512 temp files, one syncfs(2), rename them, fsync
 *                   the touched directories (the batched durable protocol)
 *   smallfiles read LIST                open, read and close every path of
 *                                       LIST (one per line)
 *   smallfiles unlink DIR THREADS       remove every regular file in DIR's
 *                                       subdirectories the way dos pack
 *                                       removes loose files (lib/maint.c):
 *                                       THREADS threads take chunks of 64
 *                                       names from a shared index
 * Prints the number of files handled; timing is done by the caller.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH 512
#define NDIRS 100
#define UNLINK_CHUNK 64
#define MAX_THREADS 64

static void die(const char *what, const char *path)
{
	fprintf(stderr, "smallfiles: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || fsync(fd) != 0)
		die("fsync", path);
	close(fd);
}

static int create(const char *mode, const char *dir, long n, size_t size)
{
	char *buf = malloc(size);
	char (*tmp)[4096] = malloc(sizeof *tmp * BATCH);
	char (*dst)[4096] = malloc(sizeof *dst * BATCH);
	char path[4096];
	int m = !strcmp(mode, "none") ? 0 : !strcmp(mode, "file") ? 1 :
		!strcmp(mode, "batch") ? 2 : -1;
	int dfd;
	long i;

	if (m < 0 || !buf || !tmp || !dst)
		return 2;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die("mkdir", dir);
	snprintf(path, sizeof path, "%s/tmp", dir);
	if (mkdir(path, 0755) != 0)
		die("mkdir", path);
	for (i = 0; i < NDIRS; i++) {
		snprintf(path, sizeof path, "%s/%02ld", dir, i);
		if (mkdir(path, 0755) != 0)
			die("mkdir", path);
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		die("open", dir);
	for (i = 0; i < n;) {
		long b, nb = n - i < BATCH ? n - i : BATCH;
		for (b = 0; b < nb; b++) {
			long k = i + b;
			int fd;
			size_t j;
			for (j = 0; j < size; j++)	/* distinct contents */
				buf[j] = (char)(k * 131 + j * 7);
			snprintf(tmp[b], sizeof tmp[b], "%s/tmp/t%ld", dir, k);
			snprintf(dst[b], sizeof dst[b], "%s/%02ld/f%ld", dir, k % NDIRS, k);
			fd = open(tmp[b], O_WRONLY | O_CREAT | O_EXCL, 0444);
			if (fd < 0)
				die("open", tmp[b]);
			if (write(fd, buf, size) != (ssize_t)size)
				die("write", tmp[b]);
			if (m == 1 && fsync(fd) != 0)
				die("fsync", tmp[b]);
			close(fd);
			if (m != 2 && rename(tmp[b], dst[b]) != 0)
				die("rename", dst[b]);
		}
		if (m == 2) {
			if (syncfs(dfd) != 0)
				die("syncfs", dir);
			for (b = 0; b < nb; b++)
				if (rename(tmp[b], dst[b]) != 0)
					die("rename", dst[b]);
			for (b = 0; b < NDIRS && b < nb; b++) {
				snprintf(path, sizeof path, "%s/%02ld", dir, b);
				fsync_path(path);
			}
		}
		i += nb;
	}
	if (m == 1)
		for (i = 0; i < NDIRS; i++) {
			snprintf(path, sizeof path, "%s/%02ld", dir, i);
			fsync_path(path);
		}
	close(dfd);
	printf("%ld\n", n);
	return 0;
}

static int readall(const char *list)
{
	FILE *f = fopen(list, "r");
	static char buf[1 << 16];
	char path[4096];
	long n = 0;

	if (!f)
		die("open", list);
	while (fgets(path, sizeof path, f)) {
		int fd;
		path[strcspn(path, "\n")] = 0;
		fd = open(path, O_RDONLY);
		if (fd < 0)
			die("open", path);
		while (read(fd, buf, sizeof buf) > 0)
			;
		close(fd);
		n++;
	}
	fclose(f);
	printf("%ld\n", n);
	return 0;
}

/* Removal: the names are listed first, then removed by the threads. */
struct removal {
	int dirfd;
	char **names;		/* "SUBDIR/FILE", relative to dirfd */
	size_t nr, next;	/* next: first name no thread has claimed */
	pthread_mutex_t lock;
};

/* d_type, or the lstat mode where the file system does not fill it in */
static int is_type(int dirfd, const struct dirent *d, unsigned char type, mode_t mode)
{
	struct stat st;

	if (d->d_type != DT_UNKNOWN)
		return d->d_type == type;
	return fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (st.st_mode & S_IFMT) == mode;
}

static void list_files(struct removal *r, const char *dir)
{
	DIR *top = fdopendir(dup(r->dirfd));
	size_t alloc = 0;
	struct dirent *d, *e;

	if (!top)
		die("opendir", dir);
	while ((d = readdir(top))) {
		DIR *sub;
		int fd;

		if (d->d_name[0] == '.' || !is_type(r->dirfd, d, DT_DIR, S_IFDIR))
			continue;
		fd = openat(r->dirfd, d->d_name, O_RDONLY | O_DIRECTORY);
		if (fd < 0 || !(sub = fdopendir(fd)))
			die("opendir", d->d_name);
		while ((e = readdir(sub))) {
			if (!is_type(fd, e, DT_REG, S_IFREG))
				continue;
			if (r->nr == alloc) {
				alloc = alloc ? 2 * alloc : 4096;
				r->names = realloc(r->names, alloc * sizeof *r->names);
			}
			if (!r->names || asprintf(&r->names[r->nr], "%s/%s",
			    d->d_name, e->d_name) < 0)
				die("list", dir);
			r->nr++;
		}
		closedir(sub);
	}
	closedir(top);
}

static void *unlink_worker(void *data)
{
	struct removal *r = data;
	size_t i, end;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		i = r->next;
		end = i + UNLINK_CHUNK < r->nr ? i + UNLINK_CHUNK : r->nr;
		r->next = end;
		pthread_mutex_unlock(&r->lock);
		if (i >= end)
			return NULL;
		for (; i < end; i++)
			if (unlinkat(r->dirfd, r->names[i], 0) != 0)
				die("unlink", r->names[i]);
	}
}

static int removeall(const char *dir, int nthreads)
{
	struct removal r = { .names = NULL };
	pthread_t threads[MAX_THREADS];
	int t;

	if (nthreads < 1 || nthreads > MAX_THREADS)
		return 2;
	r.dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (r.dirfd < 0)
		die("open", dir);
	list_files(&r, dir);
	pthread_mutex_init(&r.lock, NULL);
	for (t = 0; t < nthreads; t++)
		if (pthread_create(&threads[t], NULL, unlink_worker, &r) != 0)
			die("pthread_create", dir);
	for (t = 0; t < nthreads; t++)
		pthread_join(threads[t], NULL);
	printf("%zu\n", r.nr);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "create"))
		return create(argv[2], argv[3], atol(argv[4]), (size_t)atol(argv[5]));
	if (argc == 3 && !strcmp(argv[1], "read"))
		return readall(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "unlink"))
		return removeall(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: smallfiles create none|file|batch DIR N SIZE | "
	    "smallfiles read LIST | smallfiles unlink DIR THREADS\n");
	return 2;
}
