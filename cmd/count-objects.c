/* dos-count-objects: count objects and the bytes they take. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static const char *const count_usage[] = {
	"dos count-objects [-v] [-H | --human-readable]",
	NULL
};

static const struct option count_options[] = {
	{ "verbose", no_argument, NULL, 'v' },
	{ "human-readable", no_argument, NULL, 'H' },
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

/* KiB rounded up, so that a size that is not zero never shows as 0. */
static void
format_size(char *buf, size_t size, uint64_t bytes, int human)
{
	if (human)
		dos_human_size(buf, size, bytes);
	else
		snprintf(buf, size, "%llu",
		    (unsigned long long)(bytes / 1024 + (bytes % 1024 != 0)));
}

static const char *
plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int
cmd_main(int argc, char **argv)
{
	struct dos_store store = DOS_STORE_INIT;
	struct dos_count_field f[DOS_COUNT_FIELDS];
	struct dos_counts c;
	char size[32];
	uint64_t total;
	int opt, verbose = 0, human = 0, rc, i;

	while ((opt = getopt_long(argc, argv, "+hvH", count_options,
	    NULL)) != -1) {
		switch (opt) {
		case 'v':
			verbose = 1;
			break;
		case 'H':
			human = 1;
			break;
		default:
			dos_common_option(opt, count_usage);
		}
	}
	if (optind != argc)
		dos_usage(count_usage, "too many arguments");

	dos_open_or_die(&store, 0);
	if ((rc = dos_count_objects(&store, &c)) < 0)
		die("unable to count objects in '%s': %s",
		    dos_store_path(&store), dos_strerror(rc));
	if (verbose) {
		dos_count_fields(&c, f);
		for (i = 0; i < DOS_COUNT_FIELDS; i++) {
			if (f[i].is_size)
				format_size(size, sizeof size, f[i].value, human);
			else
				snprintf(size, sizeof size, "%llu",
				    (unsigned long long)f[i].value);
			printf("%s: %s\n", f[i].key, size);
		}
	} else {
		total = c.size_loose + c.size_pack;
		format_size(size, sizeof size, total, human);
		printf("%llu loose %s, %llu packed %s, %s%s\n",
		    (unsigned long long)c.loose, plural(c.loose, "object", "objects"),
		    (unsigned long long)c.packed,
		    plural(c.packed, "object", "objects"), size,
		    human ? "" : plural(total > 0 && total <= 1024, " kilobyte",
		    " kilobytes"));
	}
	if (c.damaged_packs > 0)
		warning("%llu %s could not be read to the end; "
		    "run 'dos fsck' for details",
		    (unsigned long long)c.damaged_packs,
		    plural(c.damaged_packs, "pack", "packs"));
	if (c.missing > 0)
		warning("%llu packed %s in missing packs",
		    (unsigned long long)c.missing,
		    plural(c.missing, "object is", "objects are"));
	dos_store_release(&store);
	return 0;
}
