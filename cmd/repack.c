/* dos-repack: rewrite packs without their dead bytes. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *const repack_usage[] = {
	"dos repack [-q] [--[no-]progress]",
	"           [--compress=(keep | auto | always | never | <codec>:<level>)]",
	"           [--threshold=<percent>] [--no-wait]",
	NULL
};

enum {
	OPT_COMPRESS = DOS_OPT_FIRST_LOCAL,
	OPT_THRESHOLD,
	OPT_NO_WAIT,
};

static const struct option repack_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "compress", required_argument, NULL, OPT_COMPRESS },
	{ "threshold", required_argument, NULL, OPT_THRESHOLD },
	{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
	DOS_PROGRESS_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

#define REPACKING "repacking objects"

/* File scope: still reachable (no leak) when a fatal error exits. */
static struct dos_pack_writer *writer;

int
cmd_repack(int argc, char **argv)
{
	int status = 0;
	struct dos_store store = DOS_STORE_INIT;
	struct dos_maint maint = { dos_report_problem, NULL, &status };
	struct dos_repack_stats stats;
	int mode = DOS_COMPRESS_KEEP;
	enum dos_codec codec;
	char dropped[32], *end;
	unsigned flags = 0;
	uint32_t first;
	long threshold = DOS_REPACK_THRESHOLD;
	int opt, quiet = 0, level = 0;

	while ((opt = getopt_long(argc, argv, "+hq", repack_options, NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			dos_show_progress = 0;
			break;
		case OPT_COMPRESS:
			level = 0;
			if (dos_parse_compress_mode(optarg, 1, &mode) == 0)
				break;
			/* A codec and level: compress cold data harder. */
			if (dos_codec_parse(optarg, &codec, &level) < 0 ||
			    level == 0)
				dos_usage(repack_usage, "invalid --compress '%s'", optarg);
			break;
		case OPT_THRESHOLD:
			threshold = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || threshold < 0 ||
			    threshold > 100)
				dos_usage(repack_usage,
				    "--threshold takes a percentage, not '%s'", optarg);
			break;
		case OPT_NO_WAIT:
			flags |= DOS_PACK_NOWAIT;
			break;
		default:
			dos_common_option(opt, repack_usage);
		}
	}
	dos_no_arguments(argc, repack_usage);

	dos_open_or_die(&store, DOS_OPEN_WRITE);
	if (!quiet)
		dos_tell_lock_waits(&store);
	if (level > 0) {
		/* The writer's codec and level, for this run only. */
		store.cfg.codec = codec;
		store.cfg.level = level;
		mode = DOS_COMPRESS_AUTO;
	}
	writer = dos_lock_packs(&store, flags,
	    mode == DOS_COMPRESS_KEEP ? DOS_COMPRESS_AUTO : mode);
	first = dos_seal_first(&store, writer);
	if (dos_show_progress)
		dos_maint_show_progress(&maint, REPACKING);
	dos_repack_or_die(&store, writer, mode, (unsigned)threshold, level > 0,
	    &maint, &stats);
	if (level > 0)
		dos_seal_packs_or_die(&store, writer, first);
	if (dos_show_progress)
		dos_progress_done(REPACKING, stats.objects);
	if (!quiet) {
		dos_human_size(dropped, sizeof dropped, stats.dropped_bytes);
		fprintf(stderr, "repacked %llu object%s, removed %llu pack%s, "
		    "reclaimed %s\n", (unsigned long long)stats.objects,
		    stats.objects == 1 ? "" : "s",
		    (unsigned long long)stats.removed_packs,
		    stats.removed_packs == 1 ? "" : "s", dropped);
		dos_tell_evicted(&store);
	}
	dos_unlock_packs(writer);
	dos_store_release(&store);
	return status ? 1 : 0;
}
