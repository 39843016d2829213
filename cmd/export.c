/* dos-export: write objects as one stream, for dos import. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "transfer.h"

static const char *const export_usage[] = {
	"dos export [-q] [--[no-]progress] [--marker-file=<file>] [--cache-size=<size>]",
	"           [--since=<marker> | --stdin [-z]]",
	NULL
};

enum {
	OPT_SINCE = DOS_OPT_FIRST_LOCAL,
	OPT_STDIN,
	OPT_MARKER_FILE,
};

static const struct option export_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "stdin", no_argument, NULL, OPT_STDIN },
	{ "marker-file", required_argument, NULL, OPT_MARKER_FILE },
	DOS_PROGRESS_OPTIONS,
	DOS_CACHE_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

#define PROGRESS "exporting objects"

static struct dos_store store = DOS_STORE_INIT;
static struct dos_export exporter;
static int status;

static int
out_sink(void *data, const void *buf, size_t len)
{
	dos_out_write(buf, len);
	return 0;
}

static void
report_damaged(void *data, const struct dos_oid *oid, int why)
{
	char hex[DOS_HEXSZ + 1];

	status = error("object %s could not be read (%s); sent marked damaged",
	    dos_oid_to_hex(oid, hex), dos_strerror(why));
}

static void
report_sent(void *data, uint64_t objects)
{
	if (dos_show_progress)
		dos_progress(PROGRESS, objects);
}

static const struct dos_export_report report = {
	report_damaged, report_sent, NULL
};

/* The ids on stdin, in their order; a name that is none is an error. */
static void
export_stdin(int delim)
{
	struct dos_input in;
	struct dos_oid oid;
	char *rec;
	size_t len;
	int rc, damaged;

	dos_input_init(&in, 0, delim);
	while ((rc = dos_input_read(&in, &rec, &len)) > 0) {
		if ((rc = dos_resolve(&store, rec, len, &oid)) == 0)
			rc = dos_export_object(&exporter, &store, &oid, &damaged);
		if (rc == DOS_ENOTFOUND || rc == DOS_EBADID ||
		    rc == DOS_EAMBIGUOUS) {
			status = error("'%s': %s", rec, dos_strerror(rc));
			continue;
		}
		if (rc < 0)
			die("unable to export '%s': %s", rec, dos_strerror(rc));
		if (damaged)
			report_damaged(NULL, &oid, damaged);
		report_sent(NULL, exporter.objects);
	}
	if (rc < 0)
		die("unable to read standard input: %s", dos_strerror(rc));
	dos_input_release(&in);
}

static void
write_marker(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0)
		die("unable to write '%s': %s", path, strerror(errno));
}

int
cmd_export(int argc, char **argv)
{
	struct dos_marker now, since;
	const char *since_text = NULL, *marker_file = NULL;
	char text[DOS_MARKER_MAX], size[32];
	int opt, quiet = 0, use_stdin = 0, delim = '\n', rc;

	while ((opt = getopt_long(argc, argv, "+hqz", export_options,
	    NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			dos_show_progress = 0;
			break;
		case 'z':
			delim = '\0';
			break;
		case OPT_SINCE:
			since_text = optarg;
			break;
		case OPT_STDIN:
			use_stdin = 1;
			break;
		case OPT_MARKER_FILE:
			marker_file = optarg;
			break;
		default:
			dos_common_option(opt, export_usage);
		}
	}
	dos_no_arguments(argc, export_usage);
	if (use_stdin && since_text != NULL)
		dos_usage(export_usage, "--since and --stdin exclude each other");
	if (use_stdin && marker_file != NULL)
		dos_usage(export_usage, "--marker-file needs a whole or --since export");
	if (!use_stdin && delim == '\0')
		dos_usage(export_usage, "-z needs --stdin");
	if (since_text != NULL && dos_marker_parse(since_text, &since) < 0)
		dos_usage(export_usage, "not a marker: '%s'", since_text);
	if (isatty(1))
		die("refusing to write a binary stream to a terminal");

	dos_open_or_die(&store, 0);
	if (since_text != NULL && strcmp(since.id, store.cfg.id) != 0)
		die("marker '%s' is of another container (this one is %s)",
		    since_text, store.cfg.id);
	/*
	 * Taken first: what is stored while we list comes after it.  Ids
	 * from stdin are a choice, not all that was stored: their marker
	 * covers nothing.
	 */
	if (use_stdin) {
		memcpy(now.id, store.cfg.id, sizeof now.id);
		now.pack = 0;
		now.length = 0;
	} else if ((rc = dos_marker_now(&store, &now)) < 0)
		die("unable to read the packs of '%s': %s",
		    dos_store_path(&store), dos_strerror(rc));
	/*
	 * Pack numbers only grow, unless every pack went (a container
	 * emptied, or restored from an older copy): objects stored since
	 * could then hide below the marker.
	 */
	if (since_text != NULL && (since.pack > now.pack ||
	    (since.pack == now.pack && since.length > now.length)))
		die("marker '%s' is ahead of this container: its packs were "
		    "replaced since", since_text);
	dos_marker_format(&now, text, sizeof text);
	dos_out_set_buffered(1);
	dos_widen_pipe(1);
	if ((rc = dos_export_begin(&exporter, out_sink, NULL)) < 0)
		die("unable to start the stream: %s", dos_strerror(rc));
	if (use_stdin)
		export_stdin(delim);
	else if ((rc = dos_export_store(&exporter, &store,
	    since_text != NULL ? &since : NULL, &report)) < 0)
		die("unable to export: %s", dos_strerror(rc));
	if ((rc = dos_export_end(&exporter, &now)) < 0)
		die("unable to end the stream: %s", dos_strerror(rc));
	dos_out_flush();
	if (dos_show_progress)
		dos_progress_done(PROGRESS, exporter.objects);
	if (marker_file != NULL)
		write_marker(marker_file, text);
	if (!quiet) {
		dos_human_size(size, sizeof size, exporter.bytes);
		fprintf(stderr, "exported %llu object%s (%s)",
		    (unsigned long long)exporter.objects,
		    exporter.objects == 1 ? "" : "s", size);
		if (!use_stdin)
			fprintf(stderr, ", marker %s", text);
		fputc('\n', stderr);
	}
	dos_export_release(&exporter);
	dos_store_release(&store);
	return status ? 1 : 0;
}
