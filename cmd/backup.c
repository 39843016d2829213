/* dos-backup: a consistent, incremental backup of a container in use. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *const backup_usage[] = {
	"dos backup [-q] [--keep=<n>] <directory>",
	NULL
};

enum {
	OPT_KEEP = DOS_OPT_FIRST_LOCAL,
};

static const struct option backup_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "keep", required_argument, NULL, OPT_KEEP },
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

int
cmd_main(int argc, char **argv)
{
	struct dos_store store = DOS_STORE_INIT;
	struct dos_backup_stats s;
	char made[PATH_MAX], copied[32], linked[32], *end;
	unsigned long keep = 0;
	int opt, quiet = 0, rc;

	while ((opt = getopt_long(argc, argv, "+hq", backup_options,
	    NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			break;
		case OPT_KEEP:
			errno = 0;
			keep = strtoul(optarg, &end, 10);
			if (*optarg < '1' || *optarg > '9' || *end != '\0' ||
			    errno != 0 || keep > 1000000)
				dos_usage(backup_usage, "--keep takes a number of "
				    "backups from 1, not '%s'", optarg);
			break;
		default:
			dos_common_option(opt, backup_usage);
		}
	}
	if (argc - optind != 1)
		dos_usage(backup_usage, argc - optind == 0 ?
		    "no backup directory" : "too many arguments");

	dos_open_or_die(&store, DOS_OPEN_WRITE);
	rc = dos_backup(&store, argv[optind], (unsigned)keep, made,
	    sizeof made, &s);
	if (rc == DOS_EBUSY) {
		error("another backup into '%s' is running", argv[optind]);
		dos_store_release(&store);
		exit(DOS_EXIT_LOCKED);
	}
	if (rc < 0)
		die("unable to back up '%s' into '%s': %s", dos_store_path(&store),
		    argv[optind], rc == DOS_EINDEX ? dos_index_last_error() :
		    dos_strerror(rc));
	printf("%s\n", made);
	if (!quiet) {
		dos_human_size(copied, sizeof copied, s.bytes_copied);
		dos_human_size(linked, sizeof linked, s.bytes_linked);
		fprintf(stderr, "backed up %llu loose object%s and %llu pack%s: "
		    "%s copied, %s linked to the previous backup\n",
		    (unsigned long long)s.objects, s.objects == 1 ? "" : "s",
		    (unsigned long long)s.packs, s.packs == 1 ? "" : "s",
		    copied, linked);
	}
	dos_store_release(&store);
	return 0;
}
