/* dos-clone: a new container whose packs are a remote's. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *const clone_usage[] = {
	"dos clone [-q] [--name <remote>] [--endpoint <url>] "
	    "[--region <region>] [--allow-http] s3://<bucket>[/<prefix>] "
	    "<directory>",
	NULL
};

enum { OPT_NAME = DOS_OPT_FIRST_LOCAL };

static const struct option clone_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "name", required_argument, NULL, OPT_NAME },
	DOS_REMOTE_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

int
cmd_clone(int argc, char **argv)
{
	struct dos_store store = DOS_STORE_INIT;
	struct dos_config cfg, existing;
	struct dos_clone_stats cs;
	struct dos_remote r;
	const char *name = "origin";
	char size[32];
	int opt, quiet = 0, rc;

	memset(&r, 0, sizeof r);
	while ((opt = getopt_long(argc, argv, "hq", clone_options,
	    NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			break;
		case OPT_NAME:
			name = optarg;
			break;
		default:
			if (!dos_remote_option(opt, &r, clone_usage))
				dos_common_option(opt, clone_usage);
		}
	}
	if (argc - optind != 2)
		dos_usage(clone_usage, "a URL and a directory are needed");
	dos_remote_spec_or_die(&r, name, argv[optind], clone_usage);
	if (dos_config_init(&cfg) < 0)
		die("unable to generate a container id");
	rc = dos_store_create(argv[optind + 1], &cfg, &existing);
	if (rc == 1 || rc == DOS_EEXIST || rc == DOS_ELEGACY)
		die("'%s' exists and is not an empty directory",
		    argv[optind + 1]);
	if (rc < 0)
		die("unable to create container '%s': %s", argv[optind + 1],
		    dos_strerror(rc));
	if ((rc = dos_store_open(&store, argv[optind + 1], 0)) < 0)
		dos_die_open(argv[optind + 1], rc);
	if ((rc = dos_remote_clone(&store, &r, &cs)) < 0)
		die("unable to clone %s into '%s': %s", r.url,
		    argv[optind + 1], dos_strerror(rc));
	if (!quiet) {
		dos_human_size(size, sizeof size, cs.bytes);
		printf("cloned %s into %s: %llu objects in %llu packs (%s), "
		    "read from %s when needed\n", r.url, argv[optind + 1],
		    (unsigned long long)cs.objects,
		    (unsigned long long)cs.packs, size, r.name);
	}
	dos_store_release(&store);
	return 0;
}
