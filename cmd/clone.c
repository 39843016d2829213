/* dos-clone: a new container whose packs are a remote's. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const clone_usage[] = {
	"dos clone [-q] [--[no-]progress] [--fetch-all] [--name <remote>]",
	"          [--endpoint <url>] [--region <region>] [--allow-http]",
	"          s3://<bucket>[/<prefix>] <directory>",
	NULL
};

enum { OPT_NAME = DOS_OPT_FIRST_LOCAL, OPT_FETCH_ALL };

static const struct option clone_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "fetch-all", no_argument, NULL, OPT_FETCH_ALL },
	DOS_REMOTE_OPTIONS,
	DOS_PROGRESS_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

/*
 * Whether the container st, there before this run, is one to clone r
 * into: one that has r already (a clone run again, after a kill or not),
 * or an empty one (a clone killed before it added r).  Only a container
 * without packs is counted.
 */
static int
clone_left(struct dos_store *st, const struct dos_remote *r)
{
	struct dos_remote had;
	struct dos_counts c;
	uint32_t *packs;
	size_t nr;
	int rc;

	if ((rc = dos_remote_find(st, r->name, &had)) == 0)
		return strcmp(had.url, r->url) == 0;
	if (rc != DOS_ENOTFOUND || dos_remote_find(st, NULL, &had) !=
	    DOS_ENOTFOUND || dos_pack_list(st, &packs, &nr) < 0)
		return 0;
	free(packs);
	return nr == 0 && dos_count_objects(st, &c) == 0 && c.loose == 0 &&
	    c.packed == 0;
}

int
cmd_clone(int argc, char **argv)
{
	struct dos_store store = DOS_STORE_INIT;
	struct dos_config cfg, existing;
	struct dos_clone_stats cs;
	struct dos_remote r;
	const char *name = "origin", *dir;
	char size[32];
	int opt, quiet = 0, fetch_all = 0, rc, created;

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
		case OPT_FETCH_ALL:
			fetch_all = 1;
			break;
		default:
			if (!dos_remote_option(opt, &r, clone_usage))
				dos_common_option(opt, clone_usage);
		}
	}
	if (argc - optind != 2)
		dos_usage(clone_usage, "a URL and a directory are needed");
	/* -q silences the progress, --progress or not. */
	if (quiet)
		dos_show_progress = 0;
	dos_remote_spec_or_die(&r, name, argv[optind], clone_usage);
	dir = argv[optind + 1];
	if (dos_config_init(&cfg) < 0)
		die("unable to generate a container id");
	created = dos_store_create(dir, &cfg, &existing);
	if (created == DOS_EEXIST || created == DOS_ELEGACY)
		die("'%s' exists and is not an empty directory", dir);
	if (created < 0)
		die("unable to create container '%s': %s", dir,
		    dos_strerror(created));
	if ((rc = dos_store_open(&store, dir, 0)) < 0)
		dos_die_open(dir, rc);
	/* A container there before: only what a killed clone left goes on. */
	if (created == 1 && !clone_left(&store, &r))
		die("'%s' exists and is not an empty directory", dir);
	rc = dos_remote_clone(&store, &r, dos_show_progress ?
	    dos_progress_phase : NULL, NULL, &cs);
	dos_progress_phases_done();
	if (rc < 0)
		die("unable to clone %s into '%s': %s", r.url, dir,
		    dos_strerror(rc));
	if (!quiet && cs.done_before) {
		printf("'%s' has %s already, as %s\n", dir, r.url, r.name);
	} else if (!quiet) {
		dos_human_size(size, sizeof size, cs.bytes);
		printf("cloned %s into %s: %llu objects in %llu packs (%s), "
		    "%s %s%s\n", r.url, dir, (unsigned long long)cs.objects,
		    (unsigned long long)cs.packs, size, fetch_all ?
		    "fetching them from" : "read from", r.name, fetch_all ?
		    "" : " when needed");
	}
	if (fetch_all)
		dos_fetch_or_die(&store, &r, quiet);
	dos_store_release(&store);
	return 0;
}
