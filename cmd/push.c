/* dos-push: upload the sealed packs a remote lacks, and evict them. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static const char *const push_usage[] = {
	"dos push [-q] [--[no-]progress] [--evict] [<remote>]",
	NULL
};

enum { OPT_EVICT = DOS_OPT_FIRST_LOCAL };

static const struct option push_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "evict", no_argument, NULL, OPT_EVICT },
	DOS_PROGRESS_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

static void
evict(struct dos_store *st, const struct dos_remote *r, int quiet)
{
	struct dos_evict_stats es;
	char size[32];
	int rc;

	if (!quiet)
		dos_tell_lock_waits(st);
	if ((rc = dos_remote_evict(st, r, &es)) < 0)
		die("unable to evict packs of '%s' to %s: %s",
		    dos_store_path(st), r->name, dos_strerror(rc));
	if (!quiet) {
		dos_human_size(size, sizeof size, es.bytes);
		printf("evicted %llu packs (%s); %llu sealed packs are not on "
		    "%s\n", (unsigned long long)es.evicted, size,
		    (unsigned long long)es.kept, r->name);
	}
}

int
cmd_push(int argc, char **argv)
{
	struct dos_store store = DOS_STORE_INIT;
	struct dos_remote r;
	struct dos_push_stats ps;
	char size[32];
	int opt, quiet = 0, evicting = 0, rc;

	while ((opt = getopt_long(argc, argv, "+hq", push_options,
	    NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			break;
		case OPT_EVICT:
			evicting = 1;
			break;
		default:
			dos_common_option(opt, push_usage);
		}
	}
	if (argc - optind > 1)
		dos_usage(push_usage, "too many arguments");
	/* -q silences the progress, --progress or not. */
	if (quiet)
		dos_show_progress = 0;
	dos_open_or_die(&store, 0);
	dos_remote_or_die(&store, argc > optind ? argv[optind] : NULL, &r);
	rc = dos_remote_push(&store, &r, dos_show_progress ?
	    dos_progress_phase : NULL, NULL, &ps);
	dos_progress_phases_done();
	if (!quiet && ps.packs > 0) {
		dos_human_size(size, sizeof size, ps.bytes);
		printf("pushed %llu of %llu sealed packs (%s) to %s\n",
		    (unsigned long long)ps.packs,
		    (unsigned long long)ps.sealed, size, r.name);
	}
	if (rc < 0)
		die("unable to push '%s' to %s (%s): %s",
		    dos_store_path(&store), r.name, r.url, dos_strerror(rc));
	if (!quiet && ps.packs == 0)
		printf("%s is up to date (%llu sealed packs)\n", r.name,
		    (unsigned long long)ps.sealed);
	if (evicting)
		evict(&store, &r, quiet);
	dos_store_release(&store);
	return 0;
}
