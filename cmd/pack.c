/* dos-pack: move loose objects into packs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char *const pack_usage[] = {
	"dos pack [-q] [--[no-]progress] [--compress=(auto | always | never)]",
	"         [--keep-loose] [--no-wait]",
	NULL
};

enum {
	OPT_COMPRESS = DOS_OPT_FIRST_LOCAL,
	OPT_KEEP_LOOSE,
	OPT_NO_WAIT,
};

static const struct option pack_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "compress", required_argument, NULL, OPT_COMPRESS },
	{ "keep-loose", no_argument, NULL, OPT_KEEP_LOOSE },
	{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
	DOS_PROGRESS_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};


#define PROGRESS "packing objects"

/* File scope: still reachable (no leak) when a fatal error exits. */
static struct dos_pack_writer *writer;

int
cmd_pack(int argc, char **argv)
{
	int status = 0;
	struct dos_store store = DOS_STORE_INIT;
	struct dos_maint maint = { dos_report_problem, NULL, &status };
	int mode = DOS_COMPRESS_AUTO;
	char raw[32], stored[32];
	uint64_t packed_objects, raw_bytes, stored_bytes;
	uint32_t first_pack;
	unsigned flags = 0;
	int opt, quiet = 0, keep_loose = 0;

	while ((opt = getopt_long(argc, argv, "+hq", pack_options, NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			dos_show_progress = 0;
			break;
		case OPT_COMPRESS:
			if (dos_parse_compress_mode(optarg, 0, &mode) < 0)
				dos_usage(pack_usage, "invalid --compress '%s'", optarg);
			break;
		case OPT_KEEP_LOOSE:
			keep_loose = 1;
			break;
		case OPT_NO_WAIT:
			flags |= DOS_PACK_NOWAIT;
			break;
		default:
			dos_common_option(opt, pack_usage);
		}
	}
	dos_no_arguments(argc, pack_usage);

	dos_open_or_die(&store, DOS_OPEN_WRITE);
	if (!quiet)
		dos_tell_lock_waits(&store);
	writer = dos_lock_packs(&store, flags, mode);
	first_pack = dos_pack_writer_pack(writer);
	if (dos_show_progress)
		dos_maint_show_progress(&maint, PROGRESS);
	dos_pack_loose_or_die(&store, writer, keep_loose, &maint);
	dos_pack_writer_totals(writer, &packed_objects, &raw_bytes,
	    &stored_bytes);
	if (dos_show_progress)
		dos_progress_done(PROGRESS, packed_objects);
	if (!quiet) {
		dos_human_size(raw, sizeof raw, raw_bytes);
		dos_human_size(stored, sizeof stored, stored_bytes);
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
	dos_unlock_packs(writer);
	dos_store_release(&store);
	return status ? 1 : 0;
}
