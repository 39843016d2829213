/* dos-status: a summary of a container, for people or (--json) scripts. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli.h"

static const char *const status_usage[] = {
	"dos status [--json]",
	NULL
};

enum {
	OPT_JSON = DOS_OPT_FIRST_LOCAL,
};

static const struct option status_options[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

static void
print_text(const char *path, const struct dos_config *cfg,
    const char *codec, const struct dos_count_field *f)
{
	char size[32];

	dos_human_size(size, sizeof size, cfg->pack_size_target);
	printf("path: %s\nid: %s\nversion: %d\ncompression: %s\n"
	    "pack-size-target: %s\nloose-prefix-len: %d\n", path, cfg->id,
	    cfg->version, codec, size, cfg->loose_prefix_len);
	dos_print_count_fields(f, 1);
}

static void
print_json(const char *path, const struct dos_config *cfg,
    const char *codec, const struct dos_count_field *f)
{
	json_t *root;
	int i;

	root = json_pack("{s:s, s:s, s:i, s:s, s:I, s:i}",
	    "path", path,
	    "id", cfg->id,
	    "version", cfg->version,
	    "compression", codec,
	    "pack_size_target", (json_int_t)cfg->pack_size_target,
	    "loose_prefix_len", cfg->loose_prefix_len);
	if (root == NULL)
		die("unable to build the JSON output (is the path UTF-8?)");
	for (i = 0; i < DOS_COUNT_FIELDS; i++)
		if (json_object_set_new(root, f[i].json_key,
		    json_integer((json_int_t)f[i].value)) < 0)
			die("out of memory");
	if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ||
	    putchar('\n') == EOF)
		die("write failure on standard output");
	json_decref(root);
}

int
cmd_status(int argc, char **argv)
{
	struct dos_store store = DOS_STORE_INIT;
	struct dos_count_field f[DOS_COUNT_FIELDS];
	struct dos_counts c;
	char codec[32], *path;
	int opt, json = 0;

	while ((opt = getopt_long(argc, argv, "+h", status_options,
	    NULL)) != -1) {
		switch (opt) {
		case OPT_JSON:
			json = 1;
			break;
		default:
			dos_common_option(opt, status_usage);
		}
	}
	dos_no_arguments(argc, status_usage);

	dos_open_or_die(&store, 0);
	dos_count_or_die(&store, &c);
	/* People and scripts both want to know which container, wherever run. */
	if ((path = realpath(dos_store_path(&store), NULL)) == NULL)
		path = xstrdup(dos_store_path(&store));
	dos_codec_format(dos_store_config(&store), codec, sizeof codec);
	dos_count_fields(&c, f);
	if (json)
		print_json(path, dos_store_config(&store), codec, f);
	else
		print_text(path, dos_store_config(&store), codec, f);
	dos_warn_counts(&c);
	free(path);
	dos_store_release(&store);
	return 0;
}
