/* dos-fsck: verify a whole container; with --repair, fix what can be. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *const fsck_usage[] = {
	"dos fsck [-q] [-z] [--[no-]progress] [--quick | --full]",
	"         [--loose] [--packs] [--index] [--jobs=<n>] [--repair]",
	"         [--remote]",
	NULL
};

enum {
	OPT_QUICK = DOS_OPT_FIRST_LOCAL,
	OPT_FULL,
	OPT_LOOSE,
	OPT_PACKS,
	OPT_INDEX,
	OPT_JOBS,
	OPT_REPAIR,
	OPT_REMOTE,
};

static const struct option fsck_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "quick", no_argument, NULL, OPT_QUICK },
	{ "full", no_argument, NULL, OPT_FULL },
	{ "loose", no_argument, NULL, OPT_LOOSE },
	{ "packs", no_argument, NULL, OPT_PACKS },
	{ "index", no_argument, NULL, OPT_INDEX },
	{ "jobs", required_argument, NULL, OPT_JOBS },
	{ "repair", no_argument, NULL, OPT_REPAIR },
	{ "remote", no_argument, NULL, OPT_REMOTE },
	DOS_PROGRESS_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

/* Problems counted by kind, for the summary line. */
struct tally {
	const char *kind;
	unsigned long count;
};

static struct tally *tallies;
static size_t ntallies;
static int quiet, nul;
/* Temp files of interrupted writers: one notice for them all. */
static unsigned long stale_temps;
static uint64_t stale_temp_bytes;

static void
count_kind(const char *kind)
{
	size_t i;

	for (i = 0; i < ntallies; i++)
		if (strcmp(tallies[i].kind, kind) == 0) {
			tallies[i].count++;
			return;
		}
	tallies = xrealloc(tallies, (ntallies + 1) * sizeof *tallies);
	tallies[ntallies].kind = kind;
	tallies[ntallies].count = 1;
	ntallies++;
}


/*
 * A leftover of an interrupted writer, which the next writer or dos gc
 * cleans: said on stderr unless -q, and no problem.  Only the newest pack
 * has one (the one the next writer continues).
 */
static void
notice(const struct dos_fsck_finding *f)
{
	char size[32];

	if (strcmp(f->kind, "stale-temp") == 0) {
		stale_temps++;
		stale_temp_bytes += f->bytes;
		return;
	}
	if (quiet)
		return;
	dos_progress_break();
	dos_human_size(size, sizeof size, f->bytes);
	if (strcmp(f->kind, "torn-tail") == 0)
		fprintf(stderr, "dos fsck: notice: a torn tail of an "
		    "interrupted writer (%s) past the committed length of %s; "
		    "the next pack writer cuts it off\n", size, f->subject);
	else if (strcmp(f->kind, "journal") == 0)
		fprintf(stderr, "dos fsck: notice: index records of a "
		    "migration (%s) in %s; the next pack writer indexes "
		    "them\n", size, f->subject);
	else
		fprintf(stderr, "dos fsck: notice: an unfinished pack of an "
		    "interrupted writer (%s) in %s; the next pack writer takes "
		    "it over\n", size, f->subject);
}

static void
report(const struct dos_fsck_finding *f, void *data)
{
	char *quoted = NULL;
	const char *subject = f->subject;
	int rc;

	if (f->cls == 0) {
		notice(f);
		return;
	}
	dos_progress_break();
	count_kind(f->kind);
	/* Paths are C-quoted when they need it, unless records end in NUL. */
	if (!nul && (rc = dos_quote_path(subject, &quoted)) != 0) {
		if (rc < 0)
			die("%s", dos_strerror(rc));
		subject = quoted;
	}
	dos_out_write(f->kind, strlen(f->kind));
	dos_out_write(" ", 1);
	dos_out_write(subject, strlen(subject));
	if (*f->detail != '\0') {
		dos_out_write(" ", 1);
		dos_out_write(f->detail, strlen(f->detail));
	}
	dos_out_write(nul ? "" : "\n", 1);
	free(quoted);
}

static void
repaired(const struct dos_fsck_finding *f, void *data)
{
	if (quiet)
		return;
	dos_progress_break();
	fprintf(stderr, "dos fsck: %s %s%s%s\n", f->kind, f->subject,
	    *f->detail != '\0' ? " " : "", f->detail);
}

static void
summary(void)
{
	unsigned long total = 0;
	char size[32];
	size_t i;

	if (stale_temps > 0) {
		dos_human_size(size, sizeof size, stale_temp_bytes);
		fprintf(stderr, "dos fsck: notice: %lu temp file%s of %s (%s) "
		    "in sandbox/; the next dos gc removes %s\n", stale_temps,
		    stale_temps == 1 ? "" : "s", stale_temps == 1 ?
		    "an interrupted writer" : "interrupted writers", size,
		    stale_temps == 1 ? "it" : "them");
	}

	for (i = 0; i < ntallies; i++)
		total += tallies[i].count;
	if (total == 0) {
		fprintf(stderr, "dos fsck: no problems found\n");
		return;
	}
	fprintf(stderr, "dos fsck: %lu problem%s (", total, total == 1 ? "" : "s");
	for (i = 0; i < ntallies; i++)
		fprintf(stderr, "%s%lu %s", i > 0 ? ", " : "", tallies[i].count,
		    tallies[i].kind);
	fprintf(stderr, ")\n");
}

int
cmd_fsck(int argc, char **argv)
{
	struct dos_store store = DOS_STORE_INIT;
	struct dos_fsck_options o;
	struct dos_fsck_stats stats;
	int opt, rc, full = 0;

	memset(&o, 0, sizeof o);
	o.jobs = dos_default_jobs();
	while ((opt = getopt_long(argc, argv, "+hqz", fsck_options, NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			dos_show_progress = 0;
			break;
		case 'z':
			nul = 1;
			break;
		case OPT_QUICK:
			o.flags |= DOS_FSCK_QUICK;
			break;
		case OPT_FULL:
			o.flags &= ~(unsigned)DOS_FSCK_QUICK;
			full = 1;
			break;
		case OPT_LOOSE:
			o.what |= DOS_FSCK_WHAT_LOOSE;
			break;
		case OPT_PACKS:
			o.what |= DOS_FSCK_WHAT_PACKS;
			break;
		case OPT_INDEX:
			o.what |= DOS_FSCK_WHAT_INDEX;
			break;
		case OPT_JOBS:
			o.jobs = dos_parse_jobs(optarg, fsck_usage);
			break;
		case OPT_REPAIR:
			o.flags |= DOS_FSCK_REPAIR;
			break;
		case OPT_REMOTE:
			o.flags |= DOS_FSCK_REMOTE;
			break;
		default:
			dos_common_option(opt, fsck_usage);
		}
	}
	dos_no_arguments(argc, fsck_usage);
	if ((o.flags & DOS_FSCK_REPAIR) && o.what != 0)
		dos_usage(fsck_usage, "--repair checks everything: "
		    "no --loose, --packs or --index");

	/* Reading every remote object back is asked for, never implied. */
	if ((o.flags & DOS_FSCK_REMOTE) && full && !(o.flags & DOS_FSCK_QUICK))
		o.flags |= DOS_FSCK_REMOTE_OBJECTS;
	o.report = report;
	o.repaired = repaired;
	o.progress = dos_show_progress ? dos_progress_phase : NULL;
	dos_open_or_die(&store, DOS_OPEN_LOST_INDEX);
	if (!quiet)
		dos_tell_lock_waits(&store);
	rc = dos_fsck(&store, &o, &stats);
	dos_progress_phases_done();
	if (rc < 0)
		die("unable to check '%s': %s", dos_store_path(&store),
		    rc == DOS_EINDEX ? dos_index_last_error() : dos_strerror(rc));
	if (!quiet)
		summary();
	dos_store_release(&store);
	free(tallies);
	return rc;
}
