/* dos-import: store the objects of a dos export stream, or of a container. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "transfer.h"

static const char *const import_usage[] = {
	"dos import [-q] [--[no-]progress] [--no-wait] [<file>]",
	"dos import [-q] [--[no-]progress] [--no-wait] --from=<container>",
	NULL
};

enum {
	OPT_FROM = DOS_OPT_FIRST_LOCAL,
	OPT_NO_WAIT,
};

static const struct option import_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
	DOS_PROGRESS_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

#define PROGRESS "importing objects"

/* File scope: still reachable (no leak) when a fatal error exits. */
static struct dos_store store = DOS_STORE_INIT, source = DOS_STORE_INIT;
static struct dos_pack_writer *writer;
static struct dos_importer *importer;
static struct dos_stream_in in;
static uint64_t imported, present, damaged;

static int
report_stored(void *data, const struct dos_oid *oid, int existed)
{
	if (existed)
		present++;
	else
		imported++;
	if (dos_show_progress)
		dos_progress(PROGRESS, imported + present);
	return 0;
}

static const char *
problem_text(enum dos_stream_problem why)
{
	switch (why) {
	case DOS_STREAM_SOURCE_DAMAGED:
		return "it was damaged at the source";
	case DOS_STREAM_BAD_DATA:
		return "its bytes do not match its id";
	default:
		return "it is damaged";
	}
}

static void
report_damaged(void *data, const struct dos_oid *oid,
    enum dos_stream_problem why)
{
	char hex[DOS_HEXSZ + 1];

	damaged++;
	error("object %s not stored: %s", dos_oid_to_hex(oid, hex),
	    problem_text(why));
}

static const struct dos_import_report report = {
	report_stored, report_damaged, NULL
};

/* The stream, read a buffer at a time. */
static ssize_t
read_stream(void *data, void *buf, size_t len)
{
	return dos_read_full(*(int *)data, buf, len);
}

/* How a stream ended that did not end whole: what was lost. */
static void
report_stream_end(const char *name)
{
	char hex[DOS_HEXSZ + 1];
	unsigned long long kept = in.records, at = in.offset;

	switch (in.problem) {
	case DOS_STREAM_CUT:
		if (in.in_record)
			error("%s is cut short at byte %llu, in object %s: "
			    "that object and any after it are lost",
			    name, at, dos_oid_to_hex(&in.obj.oid, hex));
		else
			error("%s is cut short at byte %llu, after %llu object%s: "
			    "any after them are lost", name, at, kept,
			    kept == 1 ? "" : "s");
		break;
	case DOS_STREAM_BAD_RECORD:
		error("%s is damaged at byte %llu, after %llu object%s: "
		    "the rest of it is lost", name,
		    at - DOS_STREAM_RECORD_SIZE, kept, kept == 1 ? "" : "s");
		break;
	case DOS_STREAM_BAD_COUNT:
		error("%s ends after %llu objects, but its end says %llu",
		    name, kept, (unsigned long long)in.end_count);
		break;
	case DOS_STREAM_TRAILING:
		error("%s goes on after its end, at byte %llu", name, at);
		break;
	default:
		error("%s is damaged", name);
	}
}

int
cmd_import(int argc, char **argv)
{
	const char *from = NULL, *name = "the stream";
	char size[32];
	uint64_t objects, raw, stored;
	unsigned flags = 0;
	int opt, quiet = 0, fd = 0, rc, cut = 0;

	while ((opt = getopt_long(argc, argv, "+hq", import_options,
	    NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			dos_show_progress = 0;
			break;
		case OPT_FROM:
			from = optarg;
			break;
		case OPT_NO_WAIT:
			flags |= DOS_PACK_NOWAIT;
			break;
		default:
			dos_common_option(opt, import_usage);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1 || (from != NULL && argc > 0))
		dos_usage(import_usage, "too many arguments");

	if (argc == 1 && strcmp(argv[0], "-") != 0) {
		name = argv[0];
		if ((fd = open(name, O_RDONLY)) < 0)
			die("unable to open '%s': %s", name, strerror(errno));
	}
	if (from != NULL && (rc = dos_store_open(&source, from, 0)) < 0)
		dos_die_open(from, rc);
	if (from == NULL)
		dos_widen_pipe(fd);
	if (from == NULL && (rc = dos_stream_begin(&in, read_stream, &fd)) < 0) {
		if (in.problem == DOS_STREAM_NOT_STREAM)
			die("%s is not a dos export stream", name);
		die("unable to read %s: %s", name, dos_strerror(rc));
	}
	dos_open_or_die(&store, DOS_OPEN_WRITE);
	if (!quiet)
		dos_tell_lock_waits(&store);
	writer = dos_lock_packs(&store, flags, DOS_COMPRESS_AUTO);
	if ((rc = dos_importer_new(&store, writer, &importer)) < 0)
		die("unable to import: %s", dos_strerror(rc));
	rc = from != NULL ? dos_import_store(importer, &source, &report) :
	    dos_import_stream(importer, &in, &report);
	if (rc == DOS_ECORRUPT && from == NULL && in.problem != DOS_STREAM_OK) {
		report_stream_end(name);
		cut = 1;
	} else if (rc < 0) {
		die("unable to import: %s", dos_strerror(rc));
	}
	if (dos_show_progress)
		dos_progress_done(PROGRESS, imported + present);
	dos_pack_writer_totals(writer, &objects, &raw, &stored);
	if (!quiet) {
		dos_human_size(size, sizeof size, raw);
		fprintf(stderr, "imported %llu object%s (%s), %llu already present",
		    (unsigned long long)imported, imported == 1 ? "" : "s",
		    size, (unsigned long long)present);
		if (damaged > 0)
			fprintf(stderr, ", %llu damaged", (unsigned long long)damaged);
		fputc('\n', stderr);
	}
	dos_importer_free(importer);
	dos_unlock_packs(writer);
	dos_stream_release(&in);
	dos_store_release(&store);
	if (from != NULL)
		dos_store_release(&source);
	return cut || damaged > 0 ? 1 : 0;
}
