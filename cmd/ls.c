/* dos-ls: list object ids. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *const ls_usage[] = {
	"dos ls [--loose | --packed] [-l] [-z] [--unordered]",
	NULL
};

enum {
	OPT_LOOSE = DOS_OPT_FIRST_LOCAL,
	OPT_PACKED,
	OPT_UNORDERED,
};

static const struct option ls_options[] = {
	{ "loose", no_argument, NULL, OPT_LOOSE },
	{ "packed", no_argument, NULL, OPT_PACKED },
	{ "unordered", no_argument, NULL, OPT_UNORDERED },
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

static int long_format;
static char record_end = '\n';

static int
print_one(const struct dos_object_info *info, void *data)
{
	char rec[DOS_HEXSZ + 96];
	size_t len;

	dos_oid_to_hex(&info->oid, rec);
	len = DOS_HEXSZ;
	if (long_format && info->storage == DOS_STORAGE_PACKED)
		len += (size_t)snprintf(rec + len, sizeof rec - len,
		    " %llu packed %lu:%llu", (unsigned long long)info->size,
		    (unsigned long)info->pack, (unsigned long long)info->offset);
	else if (long_format)
		len += (size_t)snprintf(rec + len, sizeof rec - len,
		    " %llu loose -", (unsigned long long)info->size);
	rec[len++] = record_end;
	dos_out_write(rec, len);
	return 0;
}

int
cmd_ls(int argc, char **argv)
{
	struct dos_store store = DOS_STORE_INIT;
	unsigned flags = 0;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "+hlz", ls_options, NULL)) != -1) {
		switch (opt) {
		case 'l':
			long_format = 1;
			flags |= DOS_ITER_SIZES;
			break;
		case 'z':
			record_end = '\0';
			break;
		case OPT_LOOSE:
			flags |= DOS_ITER_LOOSE;
			break;
		case OPT_PACKED:
			flags |= DOS_ITER_PACKED;
			break;
		case OPT_UNORDERED:
			flags |= DOS_ITER_UNORDERED;
			break;
		default:
			dos_common_option(opt, ls_usage);
		}
	}
	if ((flags & DOS_ITER_LOOSE) && (flags & DOS_ITER_PACKED))
		dos_usage(ls_usage, "--loose and --packed are incompatible");
	dos_no_arguments(argc, ls_usage);

	dos_open_or_die(&store, 0);
	/* A bulk listing: stdio buffers it, whatever stdout is. */
	dos_out_set_buffered(1);
	if ((rc = dos_for_each_object(&store, flags, print_one, NULL)) < 0)
		die("unable to list objects in '%s': %s", dos_store_path(&store),
		    dos_strerror(rc));
	dos_store_release(&store);
	return 0;
}
