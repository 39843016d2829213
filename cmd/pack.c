/* dos-pack: move loose objects into packs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dos.h"

static const char *const pack_usage[] = {
	"dos pack [-q] [--[no-]progress] [--compress=(auto | always | never)]",
	"         [--keep-loose] [--no-wait]",
	NULL
};

enum {
	OPT_COMPRESS = DOS_OPT_FIRST_LOCAL,
	OPT_KEEP_LOOSE,
	OPT_NO_WAIT,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
};

static const struct option pack_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "compress", required_argument, NULL, OPT_COMPRESS },
	{ "keep-loose", no_argument, NULL, OPT_KEEP_LOOSE },
	{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

/* A batch is made durable and its loose files removed at these sizes. */
#define BATCH_OBJECTS 8192
#define BATCH_BYTES (64ULL << 20)

static struct dos_store store = DOS_STORE_INIT;
static struct dos_pack_writer *writer;
static int keep_loose, progress, status;

/* Loose files whose packed copies wait for the next flush. */
static struct dos_oid *done;
static size_t done_nr, done_alloc;

static uint64_t seen;
static uint32_t first_pack;

static void
remove_loose(void)
{
	char name[DOS_HEXSZ + 2];
	size_t i;

	for (i = 0; i < done_nr; i++) {
		dos_loose_name(&store, &done[i], name, sizeof name);
		if (unlinkat(store.loosefd, name, 0) < 0 && errno != ENOENT)
			warning("unable to remove loose object '%s': %s", name,
			    strerror(errno));
	}
	done_nr = 0;
}

static void
flush_batch(void)
{
	int rc;

	if ((rc = dos_pack_writer_flush(writer)) < 0)
		die("unable to write pack %u: %s",
		    dos_pack_writer_pack(writer), dos_strerror(rc));
	if (!keep_loose)
		remove_loose();
	done_nr = 0;
}

static void
remember(const struct dos_oid *oid)
{
	if (done_nr == done_alloc) {
		done_alloc = done_alloc ? 2 * done_alloc : 1024;
		done = xrealloc(done, done_alloc * sizeof *done);
	}
	done[done_nr++] = *oid;
}

static int
pack_one(const struct dos_oid *oid, void *data)
{
	char name[DOS_HEXSZ + 2], hex[DOS_HEXSZ + 1];
	struct dos_oid got;
	int fd, rc, existed;

	dos_loose_name(&store, oid, name, sizeof name);
	fd = dos_open_beneath(store.loosefd, name, O_RDONLY, 0);
	if (fd < 0) {
		if (errno != ENOENT)	/* ENOENT: packed and removed meanwhile */
			status = error("unable to open loose object '%s': %s",
			    name, strerror(errno));
		return 0;
	}
	rc = dos_pack_writer_add_fd(writer, fd, oid, 0, &got, &existed);
	close(fd);
	if (rc == DOS_ECORRUPT) {
		status = error("loose object '%s' is corrupt; left in place",
		    dos_oid_to_hex(oid, hex));
		return 0;
	}
	if (rc < 0)
		die("unable to pack '%s': %s", name, dos_strerror(rc));
	remember(oid);
	if (progress && ++seen % 1000 == 0)
		fprintf(stderr, "\rpacking objects: %llu", (unsigned long long)seen);
	if (dos_pack_writer_pending(writer) >= BATCH_OBJECTS ||
	    dos_pack_writer_pending_bytes(writer) >= BATCH_BYTES)
		flush_batch();
	return 0;
}

static void
human(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

int
cmd_main(int argc, char **argv)
{
	enum dos_compress_mode mode = DOS_COMPRESS_AUTO;
	char raw[32], stored[32];
	uint64_t packed_objects, raw_bytes, stored_bytes;
	unsigned flags = 0;
	long holder;
	int opt, quiet = 0, rc;

	progress = isatty(2);
	while ((opt = getopt_long(argc, argv, "+hq", pack_options, NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			progress = 0;
			break;
		case OPT_COMPRESS:
			if (strcmp(optarg, "auto") == 0)
				mode = DOS_COMPRESS_AUTO;
			else if (strcmp(optarg, "always") == 0 ||
			    strcmp(optarg, "yes") == 0)
				mode = DOS_COMPRESS_ALWAYS;
			else if (strcmp(optarg, "never") == 0 ||
			    strcmp(optarg, "no") == 0)
				mode = DOS_COMPRESS_NEVER;
			else
				dos_usage(pack_usage, "invalid --compress '%s'", optarg);
			break;
		case OPT_KEEP_LOOSE:
			keep_loose = 1;
			break;
		case OPT_NO_WAIT:
			flags |= DOS_PACK_NOWAIT;
			break;
		case OPT_PROGRESS:
			progress = 1;
			break;
		case OPT_NO_PROGRESS:
			progress = 0;
			break;
		default:
			dos_common_option(opt, pack_usage);
		}
	}
	if (optind != argc)
		dos_usage(pack_usage, "too many arguments");

	dos_open_or_die(&store, DOS_OPEN_WRITE);
	rc = dos_pack_writer_open(&store, flags, mode, &writer, &holder);
	if (rc == DOS_EBUSY) {
		error("pack lock held by pid %ld", holder);
		return 1;
	}
	if (rc < 0)
		die("unable to start packing '%s': %s", store.path,
		    dos_strerror(rc));
	first_pack = dos_pack_writer_pack(writer);
	rc = dos_loose_for_each(&store, pack_one, NULL);
	if (rc < 0)
		die("unable to list loose objects: %s", dos_strerror(rc));
	flush_batch();
	if (progress)
		fprintf(stderr, "\rpacking objects: %llu, done.\n",
		    (unsigned long long)seen);
	if (!quiet) {
		dos_pack_writer_totals(writer, &packed_objects, &raw_bytes,
		    &stored_bytes);
		human(raw, sizeof raw, raw_bytes);
		human(stored, sizeof stored, stored_bytes);
		if (first_pack == dos_pack_writer_pack(writer))
			fprintf(stderr, "packed %llu object%s (%s -> %s) into pack %u\n",
			    (unsigned long long)packed_objects,
			    packed_objects == 1 ? "" : "s", raw, stored, first_pack);
		else
			fprintf(stderr, "packed %llu object%s (%s -> %s) into packs %u-%u\n",
			    (unsigned long long)packed_objects,
			    packed_objects == 1 ? "" : "s", raw, stored, first_pack,
			    dos_pack_writer_pack(writer));
	}
	dos_pack_writer_close(writer);
	dos_store_release(&store);
	free(done);
	return status ? 1 : 0;
}
