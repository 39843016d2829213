/* common.c: the helpers of the fuzz targets (see fuzz.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static char *private_dir;

void
fuzz_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz target set-up failed: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (errno: %s)\n", strerror(errno));
	abort();
}

static void
remove_private_dir(void)
{
	fuzz_remove_tree(private_dir);
}

const char *
fuzz_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[4096];

	if (private_dir != NULL)
		return private_dir;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(path, sizeof path, "%s/dos-fuzz-XXXXXX", tmp);
	if (mkdtemp(path) == NULL || (private_dir = strdup(path)) == NULL)
		fuzz_die("mkdtemp '%s'", path);
	atexit(remove_private_dir);
	return private_dir;
}

char *
fuzz_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", fuzz_dir(), name);
	return buf;
}

void
fuzz_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || dos_write_all(fd, buf, len) < 0 || close(fd) < 0)
		fuzz_die("write '%s'", path);
}

void
fuzz_mkdir(const char *path)
{
	if (mkdir(path, 0777) < 0 && errno != EEXIST)
		fuzz_die("mkdir '%s'", path);
}

static int
remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (type == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	/* Tests make files read-only; unlink does not mind. */
	return unlink(path) < 0 ? -1 : 0;
}

void
fuzz_remove_tree(const char *path)
{
	if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0 &&
	    errno != ENOENT)
		fuzz_die("remove '%s'", path);
}

void
fuzz_new_container(const char *path)
{
	struct dos_config cfg, existing;

	fuzz_remove_tree(path);
	if (dos_config_init(&cfg) < 0 || dos_store_create(path, &cfg,
	    &existing) != 0)
		fuzz_die("create container '%s'", path);
}

void
fuzz_store(const char *container, const void *buf, size_t len, int packed,
    struct dos_oid *oid)
{
	struct dos_store st = DOS_STORE_INIT;
	struct dos_pack_writer *w;
	struct dos_loose_batch *b;
	long holder;
	int existed, rc;

	/* Fuzzed packs come without an index: opened all the same. */
	if (dos_store_open(&st, container,
	    DOS_OPEN_WRITE | DOS_OPEN_LOST_INDEX) < 0)
		fuzz_die("open '%s'", container);
	if (packed) {
		rc = dos_pack_writer_open(&st, 0, DOS_COMPRESS_AUTO, &w,
		    &holder);
		if (rc == 0 && (rc = dos_pack_writer_begin(w)) == 0 &&
		    (rc = dos_pack_writer_write(w, buf, len)) == 0 &&
		    (rc = dos_pack_writer_end(w, NULL, 0, oid, &existed)) == 0)
			rc = dos_pack_writer_flush(w);
		if (rc == 0)
			dos_pack_writer_close(w);
	} else {
		rc = dos_loose_batch_new(&st, &b);
		if (rc == 0 && (rc = dos_loose_batch_begin(b)) == 0 &&
		    (rc = dos_loose_batch_write(b, buf, len)) == 0 &&
		    (rc = dos_loose_batch_end(b, oid)) == 0)
			rc = dos_loose_batch_commit(b);
		if (rc == 0)
			dos_loose_batch_free(b);
	}
	if (rc < 0)
		fuzz_die("store an object: %s", dos_strerror(rc));
	dos_store_release(&st);
}

void
fuzz_read_object(struct dos_store *st, const struct dos_oid *oid)
{
	static unsigned char buf[1 << 16];
	struct dos_object_info info;
	struct dos_reader r;
	ssize_t n;

	if (dos_object_info(st, oid, &info) < 0 ||
	    dos_reader_open(st, oid, DOS_READ_VERIFY, &r) < 0)
		return;
	while ((n = dos_reader_read(&r, buf, sizeof buf)) > 0)
		;
	dos_reader_close(&r);
}

static int
read_each(const struct dos_object_info *info, void *data)
{
	fuzz_read_object(data, &info->oid);
	return 0;
}

static int
listed(const struct dos_object_info *info, void *data)
{
	return 0;
}

static void
ignore_finding(const struct dos_fsck_finding *f, void *data)
{
}

static void
ignore_problem(void *data, const struct dos_oid *oid, int code,
    const char *what)
{
}

void
fuzz_exercise_store(const char *container, int write)
{
	struct dos_store st = DOS_STORE_INIT;
	struct dos_fsck_options o;
	struct dos_counts c;
	struct dos_repack_stats rs;
	struct dos_maint m = { ignore_problem, NULL, NULL };
	struct dos_pack_writer *w;
	long holder;

	if (dos_store_open(&st, container, DOS_OPEN_LOST_INDEX |
	    (write ? DOS_OPEN_WRITE : 0)) < 0)
		fuzz_die("open '%s'", container);
	dos_for_each_object(&st, 0, read_each, &st);
	dos_for_each_object(&st, DOS_ITER_UNORDERED, read_each, &st);
	dos_count_objects(&st, &c);
	dos_for_each_object(&st, DOS_ITER_UNORDERED | DOS_ITER_SIZES, listed,
	    NULL);
	memset(&o, 0, sizeof o);
	o.jobs = 1;
	o.report = ignore_finding;
	o.repaired = ignore_finding;
	dos_fsck(&st, &o, NULL);
	if (write) {
		o.flags = DOS_FSCK_REPAIR;
		dos_fsck(&st, &o, NULL);
		dos_for_each_object(&st, DOS_ITER_UNORDERED, read_each, &st);
		if (dos_pack_writer_open(&st, 0, DOS_COMPRESS_AUTO, &w,
		    &holder) == 0) {
			dos_repack(&st, w, DOS_COMPRESS_KEEP, 0, &m, &rs);
			dos_pack_writer_close(w);
		}
		dos_for_each_object(&st, 0, read_each, &st);
	}
	dos_store_release(&st);
}

uint64_t
fuzz_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}
