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

static const char *
plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int
cmd_count_objects(int argc, char **argv)
{
	struct dos_store store = DOS_STORE_INIT;
	struct dos_count_field f[DOS_COUNT_FIELDS];
	struct dos_counts c;
	char size[32], remote[48];
	uint64_t total, cached;
	int rc;
	int opt, verbose = 0, human = 0;

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
	dos_no_arguments(argc, count_usage);

	dos_open_or_die(&store, 0);
	dos_count_or_die(&store, &c);
	if (verbose) {
		dos_count_fields(&c, f);
		dos_print_count_fields(f, human);
		/* Only a container with evicted packs has these lines. */
		if (c.remote_packs > 0) {
			dos_format_size(size, sizeof size, c.size_remote, human);
			printf("remote: %llu\nremote-packs: %llu\n"
			    "size-remote: %s\n", (unsigned long long)c.remote,
			    (unsigned long long)c.remote_packs, size);
			if ((rc = dos_remote_cache_usage(&store,
			    &cached)) < 0)
				die("unable to read remote-cache/: %s",
				    dos_strerror(rc));
			dos_format_size(size, sizeof size, cached, human);
			printf("remote-cache: %s\n", size);
		}
	} else {
		total = c.size_loose + c.size_pack;
		dos_format_size(size, sizeof size, total, human);
		snprintf(remote, sizeof remote, " (%llu on remotes)",
		    (unsigned long long)c.remote);
		printf("%llu loose %s, %llu packed %s%s, %s%s\n",
		    (unsigned long long)c.loose, plural(c.loose, "object", "objects"),
		    (unsigned long long)c.packed,
		    plural(c.packed, "object", "objects"),
		    c.remote_packs > 0 ? remote : "", size,
		    human ? "" : plural(total > 0 && total <= 1024, " kilobyte",
		    " kilobytes"));
	}
	dos_warn_counts(&c);
	dos_store_release(&store);
	return 0;
}
