/* dos-config: get, set and list a container's settings. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *const config_usage[] = {
	"dos config <key>",
	"dos config <key> <value>",
	"dos config -l | --list",
	NULL
};

static const struct option config_options[] = {
	{ "list", no_argument, NULL, 'l' },
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

/* The setting called key, or exit 1: a script may ask for one that is
 * not there, as with git config. */
static const struct dos_setting *
find_or_exit(const char *key)
{
	const struct dos_setting *s = dos_setting_find(key);

	if (s == NULL) {
		error("'%s' is not a setting; 'dos config --list' shows them",
		    key);
		exit(1);
	}
	return s;
}

static void
print_setting(const struct dos_setting *s, const struct dos_config *cfg,
    int with_key)
{
	char value[64];

	dos_setting_format(s, cfg, value, sizeof value);
	if (with_key)
		printf("%s=%s\n", s->key, value);
	else
		printf("%s\n", value);
}

/*
 * Values are checked before the container is opened, and the change is
 * made under packs/lock: two changes never run at once, so neither undoes
 * the other, and config.json.tmp has one writer.
 */
static void
set_setting(const struct dos_setting *s, const char *value)
{
	struct dos_store store = DOS_STORE_INIT;
	struct dos_config cfg;
	int rc;

	if (s->fixed != NULL) {
		error("'%s' cannot be changed: %s", s->key, s->fixed);
		exit(1);
	}
	memset(&cfg, 0, sizeof cfg);
	if (dos_setting_parse(s, value, &cfg) < 0)
		dos_usage(config_usage, s->which == DOS_SETTING_COMPRESSION ?
		    "invalid %s '%s': none, zlib[:1-9] or zstd[:1-22]" :
		    s->which == DOS_SETTING_REMOTE_CACHE ?
		    "invalid %s '%s': auto, or a number of bytes, with k, m "
		    "or g for KiB, MiB or GiB" :
		    "invalid %s '%s': a number of bytes above 0, with k, m "
		    "or g for KiB, MiB or GiB", s->key, value);
	dos_open_or_die(&store, 0);
	dos_tell_lock_waits(&store);
	rc = dos_store_set_config(&store, s, &cfg);
	if (rc == DOS_EBADCONFIG)
		die("invalid config.json in '%s'", dos_store_path(&store));
	if (rc < 0)
		die("unable to set %s in '%s': %s", s->key,
		    dos_store_path(&store), dos_strerror(rc));
	dos_store_release(&store);
}

int
cmd_config(int argc, char **argv)
{
	struct dos_store store = DOS_STORE_INIT;
	const struct dos_config *cfg;
	const struct dos_setting *s;
	int opt, list = 0;

	while ((opt = getopt_long(argc, argv, "+hl", config_options, NULL)) != -1) {
		switch (opt) {
		case 'l':
			list = 1;
			break;
		default:
			dos_common_option(opt, config_usage);
		}
	}
	argc -= optind;
	argv += optind;
	if (list && argc > 0)
		dos_usage(config_usage, "--list takes no arguments");
	if (!list && (argc == 0 || argc > 2))
		dos_usage(config_usage, argc == 0 ? "a key or --list is needed" :
		    "too many arguments");
	if (argc == 2) {
		set_setting(find_or_exit(argv[0]), argv[1]);
		return 0;
	}
	s = list ? NULL : find_or_exit(argv[0]);
	dos_open_or_die(&store, 0);
	cfg = dos_store_config(&store);
	if (list) {
		for (s = dos_settings; s->key != NULL; s++)
			print_setting(s, cfg, 1);
	} else {
		print_setting(s, cfg, 0);
	}
	dos_store_release(&store);
	return 0;
}
