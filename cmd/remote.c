/*
 * dos-remote: name, list and forget the remotes packs are pushed to, and
 * fetch evicted packs back.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const remote_usage[] = {
	"dos remote [-v | --verbose]",
	"dos remote add <name> s3://<bucket>[/<prefix>] [--endpoint <url>] "
	    "[--region <region>] [--allow-http]",
	"dos remote remove <name>",
	"dos remote fetch [-q] [--[no-]progress] [<name>]",
	NULL
};

static const struct option remote_options[] = {
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	DOS_REMOTE_OPTIONS,
	DOS_PROGRESS_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

static int
print_remote(const struct dos_remote *r, void *data)
{
	const int *verbose = data;

	if (!*verbose) {
		printf("%s\n", r->name);
		return 0;
	}
	printf("%s\t%s", r->name, r->url);
	if (r->endpoint[0] != '\0')
		printf("\tendpoint=%s", r->endpoint);
	if (r->region[0] != '\0')
		printf("\tregion=%s", r->region);
	printf("%s\n", r->allow_http ? "\tallow-http" : "");
	return 0;
}

static void
add(struct dos_store *st, struct dos_remote *r, const char *name,
    const char *url)
{
	int rc;

	dos_remote_spec_or_die(r, name, url, remote_usage);
	dos_open_or_die(st, 0);
	rc = dos_remote_add(st, r);
	if (rc == DOS_EEXIST)
		die("remote '%s' already exists", name);
	if (rc == DOS_EINVAL)
		dos_usage(remote_usage, "'%s' is not a remote name (letters, "
		    "digits, . _ -)", name);
	if (rc < 0)
		die("unable to add remote '%s' to '%s': %s", name,
		    dos_store_path(st), dos_strerror(rc));
}

static void
remove_remote(struct dos_store *st, const char *name)
{
	int rc;

	dos_open_or_die(st, 0);
	rc = dos_remote_remove(st, name);
	if (rc == DOS_ENOTFOUND)
		die("no remote '%s'", name);
	if (rc == DOS_EBUSY)
		die("remote '%s' holds packs evicted from '%s'; it is their "
		    "only copy", name, dos_store_path(st));
	if (rc < 0)
		die("unable to remove remote '%s': %s", name, dos_strerror(rc));
}

int
cmd_remote(int argc, char **argv)
{
	struct dos_store store = DOS_STORE_INIT;
	struct dos_remote r;
	int opt, verbose = 0, quiet = 0, rc;

	memset(&r, 0, sizeof r);
	while ((opt = getopt_long(argc, argv, "hqv", remote_options,
	    NULL)) != -1) {
		switch (opt) {
		case 'v':
			verbose = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			if (!dos_remote_option(opt, &r, remote_usage))
				dos_common_option(opt, remote_usage);
		}
	}
	/* -q silences the progress, --progress or not. */
	if (quiet)
		dos_show_progress = 0;
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		dos_open_or_die(&store, 0);
		if ((rc = dos_remote_each(&store, print_remote, &verbose)) < 0)
			die("unable to read the remotes of '%s': %s",
			    dos_store_path(&store), dos_strerror(rc));
	} else if (strcmp(argv[0], "add") == 0) {
		if (argc != 3)
			dos_usage(remote_usage, "add takes a name and a URL");
		add(&store, &r, argv[1], argv[2]);
	} else if (strcmp(argv[0], "remove") == 0) {
		if (argc != 2)
			dos_usage(remote_usage, "remove takes a name");
		remove_remote(&store, argv[1]);
	} else if (strcmp(argv[0], "fetch") == 0) {
		if (argc > 2)
			dos_usage(remote_usage, "fetch takes at most a name");
		dos_open_or_die(&store, 0);
		dos_remote_or_die(&store, argc > 1 ? argv[1] : NULL, &r);
		dos_fetch_or_die(&store, &r, quiet);
	} else {
		dos_usage(remote_usage, "unknown subcommand '%s'", argv[0]);
	}
	dos_store_release(&store);
	return 0;
}
