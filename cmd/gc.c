/* dos-gc: routine maintenance in one command. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *const gc_usage[] = {
	"dos gc [-q] [--[no-]progress] [--aggressive] [--no-wait]",
	NULL
};

enum {
	OPT_AGGRESSIVE = DOS_OPT_FIRST_LOCAL,
	OPT_NO_WAIT,
};

static const struct option gc_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "aggressive", no_argument, NULL, OPT_AGGRESSIVE },
	{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
	DOS_PROGRESS_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

#define PACKING "packing objects"
#define REPACKING "repacking objects"

/*
 * --aggressive recompresses cold packs with zstd at DOS_AGGRESSIVE_LEVEL
 * (lib/dos.h), 12.  Its time is zstd's alone (its optimal parser, levels
 * 13 and up, was 98% of a profile at 19), so the level is the lever.  Objects compressed one by
 * one as dos does (with the container's dictionary if it has one), the
 * benchmark's real corpus takes 2.8% more room at level 12 than at 19 in
 * a seventh of the CPU time (15 is 1.4% smaller than 12 for 2.6 times
 * the time), and D1 0.7% more in less than half the time.  Level 9 is
 * cheaper still, and only 3.5% larger than 19 on the corpus, but 18%
 * larger on D1: more than git stores.  Objects compressed against a
 * dictionary are compressed at 15 and at 3 instead (lib/dict.c).
 */

/* File scope: still reachable (no leak) when a fatal error exits. */
static struct dos_pack_writer *writer;

/* Pack the loose objects; *packed counts them. */
static void
pack_loose(struct dos_store *st, struct dos_maint *maint, uint64_t *packed)
{
	uint64_t before, after, raw, stored;

	if (dos_show_progress)
		dos_maint_show_progress(maint, PACKING);
	/* The writer's totals count what a repack before moved too. */
	dos_pack_writer_totals(writer, &before, &raw, &stored);
	dos_pack_loose_or_die(st, writer, 0, maint);
	dos_pack_writer_totals(writer, &after, &raw, &stored);
	*packed = after - before;
	if (dos_show_progress)
		dos_progress_done(PACKING, *packed);
}

int
cmd_gc(int argc, char **argv)
{
	int status = 0;
	struct dos_store store = DOS_STORE_INIT;
	struct dos_maint maint = { dos_report_problem, NULL, &status };
	struct dos_repack_stats stats;
	struct dos_index *ix;
	uint64_t packed, temps;
	char dropped[32];
	unsigned flags = 0;
	uint32_t first;
	int opt, quiet = 0, aggressive = 0, rc;

	while ((opt = getopt_long(argc, argv, "+hq", gc_options, NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			dos_show_progress = 0;
			break;
		case OPT_AGGRESSIVE:
			aggressive = 1;
			break;
		case OPT_NO_WAIT:
			flags |= DOS_PACK_NOWAIT;
			break;
		default:
			dos_common_option(opt, gc_usage);
		}
	}
	dos_no_arguments(argc, gc_usage);

	dos_open_or_die(&store, DOS_OPEN_WRITE);
	if (!quiet)
		dos_tell_lock_waits(&store);
	if (aggressive && store.cfg.codec != DOS_CODEC_NONE) {
		/* The writer's codec and level, for this run only. */
		store.cfg.codec = DOS_CODEC_ZSTD;
		store.cfg.level = DOS_AGGRESSIVE_LEVEL;
	}
	writer = dos_lock_packs(&store, flags, DOS_COMPRESS_AUTO);
	first = dos_seal_first(&store, writer);
	/* Aggressive: loose objects go into the new packs, compressed once. */
	if (!aggressive)
		pack_loose(&store, &maint, &packed);
	if (dos_show_progress)
		dos_maint_show_progress(&maint, REPACKING);
	dos_repack_or_die(&store, writer, DOS_COMPRESS_KEEP,
	    aggressive ? 0 : DOS_REPACK_THRESHOLD, aggressive, &maint, &stats);
	if (dos_show_progress)
		dos_progress_done(REPACKING, stats.objects);
	if (aggressive) {
		pack_loose(&store, &maint, &packed);
		dos_seal_packs_or_die(&store, writer, first);
	}
	/* Pages left part full by packing and removal are filled again. */
	if (dos_index_exists(store.dirfd) &&
	    ((rc = dos_store_index(&store, 1, &ix)) < 0 ||
	    (rc = dos_index_compact(ix)) < 0))
		die("unable to compact the index of '%s': %s",
		    dos_store_path(&store), dos_strerror(rc));
	if ((rc = dos_clean_sandbox(&store, &temps)) < 0)
		die("unable to clean '%s/sandbox': %s", dos_store_path(&store),
		    dos_strerror(rc));
	if (!quiet) {
		dos_human_size(dropped, sizeof dropped, stats.dropped_bytes);
		fprintf(stderr, "packed %llu object%s, removed %llu pack%s "
		    "(%s reclaimed), removed %llu stale temp file%s\n",
		    (unsigned long long)packed, packed == 1 ? "" : "s",
		    (unsigned long long)stats.removed_packs,
		    stats.removed_packs == 1 ? "" : "s", dropped,
		    (unsigned long long)temps, temps == 1 ? "" : "s");
		dos_tell_evicted(&store);
	}
	dos_unlock_packs(writer);
	dos_store_release(&store);
	return status ? 1 : 0;
}
