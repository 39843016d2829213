/* dos-rm: delete objects. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *const rm_usage[] = {
	"dos rm [-n | --dry-run] [-q | -v] [--[no-]progress] [--ignore-missing] [--no-wait]",
	"       (--stdin [-z] | [--] <object>...)",
	NULL
};

enum {
	OPT_IGNORE_MISSING = DOS_OPT_FIRST_LOCAL,
	OPT_STDIN,
	OPT_NO_WAIT,
};

static const struct option rm_options[] = {
	{ "dry-run", no_argument, NULL, 'n' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "ignore-missing", no_argument, NULL, OPT_IGNORE_MISSING },
	{ "stdin", no_argument, NULL, OPT_STDIN },
	{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
	DOS_PROGRESS_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

/* Removals are made durable in batches of one index transaction. */
#define BATCH_OBJECTS DOS_INDEX_TXN_RECORDS

static struct dos_store store = DOS_STORE_INIT;
static struct dos_pack_writer *writer;
static int dry_run, verbose, quiet, ignore_missing, status;
static uint64_t looked_at;	/* ids, for progress */

#define REMOVING "removing objects"
static int record_end = '\n';

/* Objects removed from the index once the batch commits; loose files
 * go after that, and only then is "removed" printed. */
static struct dos_oid *batch;
static size_t batch_nr, batch_alloc;
static unsigned char *batch_loose;

static void
finish_batch(void)
{
	char name[DOS_HEXSZ + 2], hex[DOS_HEXSZ + 1];
	size_t i;
	int rc;

	if (writer != NULL && (rc = dos_pack_writer_flush(writer)) < 0)
		die("unable to record deletions: %s", dos_strerror(rc));
	for (i = 0; i < batch_nr; i++) {
		if (batch_loose[i] &&
		    (rc = dos_loose_unlink("rm-loose-unlink", &store,
		    &batch[i])) < 0) {
			dos_loose_name(&store, &batch[i], name, sizeof name);
			die("unable to remove '%s': %s", name,
			    dos_strerror(rc));
		}
	}
	/* A removal printed must survive a power cut like a write does. */
	if (batch_nr > 0 && dos_loose_sync_unlinks("rm-syncfs", &store) < 0)
		die("unable to sync '%s': %s", dos_store_path(&store),
		    strerror(errno));
	if (verbose && batch_nr > 0)
		dos_progress_break();
	for (i = 0; verbose && i < batch_nr; i++)
		printf("removed %s%c", dos_oid_to_hex(&batch[i], hex), record_end);
	batch_nr = 0;
}

static void
remove_one(const char *name)
{
	struct dos_object_info info;
	struct dos_oid oid;
	char hex[DOS_HEXSZ + 1];
	int rc, loose, packed;

	if (dos_show_progress)
		dos_progress(REMOVING, ++looked_at);
	if (dos_oid_from_hex(&oid, name, strlen(name)) < 0)
		die("not a full object id: '%s'", name);
	dos_oid_to_hex(&oid, hex);
	if (dry_run) {
		rc = dos_object_info(&store, &oid, &info);
		if (rc == DOS_ENOTFOUND)
			goto missing;
		if (rc < 0 && rc != DOS_ECORRUPT)
			die("unable to look up '%s': %s", hex, dos_strerror(rc));
		dos_progress_break();
		printf("would remove %s%c", hex, record_end);
		return;
	}
	if ((rc = dos_remove(&store, writer, &oid, &loose, &packed)) < 0)
		die("unable to remove '%s': %s", hex, dos_strerror(rc));
	if (!loose && !packed)
		goto missing;
	if (batch_nr == batch_alloc) {
		batch_alloc = batch_alloc ? 2 * batch_alloc : 256;
		batch = xrealloc(batch, batch_alloc * sizeof *batch);
		batch_loose = xrealloc(batch_loose, batch_alloc);
	}
	batch[batch_nr] = oid;
	batch_loose[batch_nr++] = (unsigned char)loose;
	if (batch_nr >= BATCH_OBJECTS)
		finish_batch();
	return;
missing:
	if (!ignore_missing)
		status = error("object '%s' not found", hex);
}

int
cmd_main(int argc, char **argv)
{
	struct dos_input in;
	char *rec;
	size_t len;
	unsigned flags = 0;
	int opt, use_stdin = 0, rc, i;

	while ((opt = getopt_long(argc, argv, "+hnqvz", rm_options, NULL)) != -1) {
		switch (opt) {
		case 'n':
			dry_run = 1;
			break;
		case 'q':
			verbose = 0;
			quiet = 1;
			dos_show_progress = 0;
			break;
		case 'v':
			verbose = 1;
			quiet = 0;
			break;
		case 'z':
			record_end = '\0';
			break;
		case OPT_IGNORE_MISSING:
			ignore_missing = 1;
			break;
		case OPT_STDIN:
			use_stdin = 1;
			break;
		case OPT_NO_WAIT:
			flags |= DOS_PACK_NOWAIT;
			break;
		default:
			dos_common_option(opt, rm_usage);
		}
	}
	argc -= optind;
	argv += optind;
	if (use_stdin && argc > 0)
		dos_usage(rm_usage, "can't give objects with --stdin");
	if (!use_stdin && argc == 0)
		dos_usage(rm_usage, "no objects to remove");
	if (!use_stdin && record_end == '\0')
		dos_usage(rm_usage, "-z needs --stdin");

	dos_open_or_die(&store, DOS_OPEN_WRITE);
	if (!quiet)
		dos_tell_lock_waits(&store);
	if (!dry_run) {
		writer = dos_lock_packs(&store, flags, DOS_COMPRESS_AUTO);
	}
	if (use_stdin) {
		dos_input_init(&in, 0, record_end);
		while ((rc = dos_input_read(&in, &rec, &len)) > 0)
			remove_one(rec);
		if (rc < 0)
			die("unable to read standard input: %s", dos_strerror(rc));
		dos_input_release(&in);
	} else {
		for (i = 0; i < argc; i++)
			remove_one(argv[i]);
	}
	if (!dry_run)
		finish_batch();
	if (dos_show_progress)
		dos_progress_done(REMOVING, looked_at);
	dos_pack_writer_close(writer);
	dos_store_release(&store);
	free(batch);
	free(batch_loose);
	return status ? 1 : 0;
}
