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
 * Prints the number of files handled; timing is done by the caller.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH 512
#define NDIRS 100

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

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "create"))
		return create(argv[2], argv[3], atol(argv[4]), (size_t)atol(argv[5]));
	if (argc == 3 && !strcmp(argv[1], "read"))
		return readall(argv[2]);
	fprintf(stderr, "usage: smallfiles create none|file|batch DIR N SIZE | smallfiles read LIST\n");
	return 2;
}
