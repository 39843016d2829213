/* dos-init: create a container. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const init_usage[] = {
	"dos init [-q] [--compression=<algo>[:<level>]] [--pack-size-target=<size>]",
	"         [--loose-prefix-len=<n>] [<directory>]",
	NULL
};

enum {
	OPT_COMPRESSION = DOS_OPT_FIRST_LOCAL,
	OPT_PACK_SIZE,
	OPT_PREFIX_LEN,
};

static const struct option init_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "compression", required_argument, NULL, OPT_COMPRESSION },
	{ "pack-size-target", required_argument, NULL, OPT_PACK_SIZE },
	{ "loose-prefix-len", required_argument, NULL, OPT_PREFIX_LEN },
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

/* Options given on the command line, to compare with an existing config. */
static int set_codec, set_pack_size, set_prefix;

static void
check_same(const struct dos_config *want, const struct dos_config *have,
    const char *path)
{
	char a[32], b[32];

	dos_codec_format(want, a, sizeof a);
	dos_codec_format(have, b, sizeof b);
	if (set_codec && strcmp(a, b) != 0)
		die("'%s' already uses compression '%s', not '%s'", path, b, a);
	if (set_pack_size && want->pack_size_target != have->pack_size_target)
		die("'%s' already has pack-size-target %llu", path,
		    (unsigned long long)have->pack_size_target);
	if (set_prefix && want->loose_prefix_len != have->loose_prefix_len)
		die("'%s' already has loose-prefix-len %d", path,
		    have->loose_prefix_len);
}

int
cmd_init(int argc, char **argv)
{
	struct dos_config cfg, existing;
	const char *path;
	char *abs, *end;
	long n;
	int opt, quiet = 0, rc;

	if (dos_config_init(&cfg) < 0)
		die("unable to generate a container id");
	while ((opt = getopt_long(argc, argv, "+hq", init_options, NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			break;
		case OPT_COMPRESSION:
			if (dos_codec_parse(optarg, &cfg.codec, &cfg.level) < 0)
				dos_usage(init_usage, "invalid compression '%s'", optarg);
			set_codec = 1;
			break;
		case OPT_PACK_SIZE:
			if (dos_parse_size(optarg, &cfg.pack_size_target) < 0 ||
			    cfg.pack_size_target == 0 ||
			    cfg.pack_size_target > INT64_MAX)
				dos_usage(init_usage, "invalid pack size '%s'", optarg);
			set_pack_size = 1;
			break;
		case OPT_PREFIX_LEN:
			n = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || n < 0 ||
			    n > DOS_MAX_PREFIX_LEN)
				dos_usage(init_usage,
				    "loose-prefix-len must be 0 to %d, not '%s'",
				    DOS_MAX_PREFIX_LEN, optarg);
			cfg.loose_prefix_len = (int)n;
			set_prefix = 1;
			break;
		default:
			dos_common_option(opt, init_usage);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		dos_usage(init_usage, "too many arguments");
	path = argc == 1 ? argv[0] : dos_store_default_path(dos_dir);

	rc = dos_store_create(path, &cfg, &existing);
	if (rc == DOS_ELEGACY)
		dos_die_open(path, rc);
	if (rc == DOS_EEXIST)
		die("'%s' exists and is not an empty directory", path);
	if (rc == DOS_EBADCONFIG)
		die("'%s' has an invalid config.json", path);
	if (rc < 0)
		die("unable to create container '%s': %s", path,
		    dos_strerror(rc));
	if (rc == 1)
		check_same(&cfg, &existing, path);
	if (!quiet) {
		if ((abs = realpath(path, NULL)) == NULL)
			die("unable to resolve '%s'", path);
		printf("%s dos container in %s/\n",
		    rc == 1 ? "Reinitialized existing" : "Initialized empty", abs);
		free(abs);
	}
	return 0;
}
