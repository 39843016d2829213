/*
 * dos-restore: write the files a manifest names back into a directory,
 * from the container, in one process.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *const restore_usage[] = {
	"dos restore [-z] [-f | --force] [--cache-size=<size>] [<manifest>] <directory>",
	NULL
};

static const struct option restore_options[] = {
	{ "null", no_argument, NULL, 'z' },
	{ "force", no_argument, NULL, 'f' },
	DOS_CACHE_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

static struct dos_store store = DOS_STORE_INIT;
static struct dos_restore *restore;
static int status;

/* A path as messages show it: in quotes, C-quoted when it needs to be. */
static const char *
shown(const char *path)
{
	static char *text;
	char *quoted;
	int rc;

	free(text);
	if ((rc = dos_quote_path(path, &quoted)) < 0)
		die("%s", dos_strerror(rc));
	if (rc > 0)
		return text = quoted;
	text = xmalloc(strlen(path) + 3);
	sprintf(text, "'%s'", path);
	return text;
}

/*
 * What stops one file (status 1, the others go on): its object, or its
 * place in the directory.  Anything else the file system says stops all.
 */
static int
file_failed(const char *path, int rc)
{
	dos_restore_abort(restore);
	if (rc == DOS_EINVAL)
		return error("%s: refusing a path that leads outside the "
		    "directory", shown(path));
	if (rc == DOS_EEXIST)
		return error("%s exists (use --force to replace it)",
		    shown(path));
	if (rc == DOS_EIO && errno == ELOOP)
		return error("%s: a symbolic link is in the way",
		    shown(path));
	if (rc == DOS_EIO && errno == ENOTDIR)
		return error("%s: a file is in the way of a directory",
		    shown(path));
	if (rc == DOS_EIO && errno == EISDIR)
		return error("%s is a directory", shown(path));
	die("unable to restore %s: %s", shown(path), dos_strerror(rc));
}

static int
object_failed(const char *path, const struct dos_batch_answer *a, int rc)
{
	dos_restore_abort(restore);
	return error("%s: object %.*s: %s", shown(path), (int)a->name_len,
	    a->input, dos_strerror(rc));
}

/* Stream a large object into the file begun. */
static int
copy_reader(const char *path, const struct dos_batch_answer *a)
{
	static char buf[256 * 1024];
	ssize_t n;
	int rc;

	while ((n = dos_reader_read(a->reader, buf, sizeof buf)) > 0)
		if ((rc = dos_restore_write(restore, buf, (size_t)n)) < 0)
			return file_failed(path, rc);
	if (n < 0)
		return object_failed(path, a, (int)n);
	return 0;
}

/* One manifest line's object, read and checked: its file. */
static int
restore_file(const struct dos_batch_answer *a, void *data)
{
	const char *path = a->input + a->name_len + 1;
	int rc;

	if (a->rc < 0 || (a->reader == NULL && a->read_rc < 0))
		rc = object_failed(path, a, a->rc < 0 ? a->rc : a->read_rc);
	else if ((rc = dos_restore_begin(restore, path)) < 0)
		rc = file_failed(path, rc);
	else if (a->reader != NULL)
		rc = copy_reader(path, a);
	else if ((rc = dos_restore_write(restore, a->data, a->len)) < 0)
		rc = file_failed(path, rc);
	if (rc == 0 && (rc = dos_restore_end(restore)) < 0)
		rc = file_failed(path, rc);
	if (rc < 0)
		status = 1;
	return 0;
}

/*
 * Queue the lines "<id> HT <path>" of the manifest on fd; the request
 * handed to the batch is the line with its path unquoted, whose name
 * ends at the tab.
 */
static void
read_manifest(int fd, int record_end, struct dos_batch *b)
{
	struct dos_input in;
	char *rec, *path, *line;
	size_t len;
	int rc;

	dos_input_init(&in, fd, record_end);
	while ((rc = dos_input_read(&in, &rec, &len)) > 0) {
		if (len <= DOS_HEXSZ + 1 || !dos_is_hex(rec, DOS_HEXSZ) ||
		    rec[DOS_HEXSZ] != '\t' || memchr(rec, '\0', len) != NULL)
			die("bad manifest line (not <id> TAB <path>): %s",
			    shown(rec));
		path = rec + DOS_HEXSZ + 1;
		if (record_end == '\n' && path[0] == '"') {
			line = xstrdup(rec);
			if (dos_unquote_path(path) < 0)
				die("manifest line is badly quoted: %s", line);
			free(line);
			len = DOS_HEXSZ + 1 + strlen(path);
		}
		if ((rc = dos_batch_add(b, rec, len, 1)) < 0)
			die("%s", dos_strerror(rc));
	}
	if (rc < 0)
		die("unable to read the manifest: %s",
		    rc == DOS_EINVAL ? "line too long" : dos_strerror(rc));
	dos_input_release(&in);
}

int
cmd_restore(int argc, char **argv)
{
	struct dos_batch *b;
	const char *manifest = "-";
	int opt, fd = 0, record_end = '\n', rc;
	unsigned flags = 0;

	while ((opt = getopt_long(argc, argv, "+hzf", restore_options,
	    NULL)) != -1) {
		switch (opt) {
		case 'z':
			record_end = '\0';
			break;
		case 'f':
			flags |= DOS_RESTORE_FORCE;
			break;
		default:
			dos_common_option(opt, restore_usage);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2)
		dos_usage(restore_usage, argc < 1 ? "which directory?" :
		    "too many arguments");
	if (argc == 2)
		manifest = *argv++;
	dos_open_or_die(&store, 0);
	if (strcmp(manifest, "-") != 0 &&
	    (fd = open(manifest, O_RDONLY | O_CLOEXEC)) < 0)
		die("could not open '%s': %s", manifest, strerror(errno));
	if ((rc = dos_restore_open(argv[0], flags, &restore)) < 0)
		die("could not open '%s': %s", argv[0], dos_strerror(rc));
	if ((rc = dos_batch_new(&store, DOS_READ_VERIFY, 1, dos_default_jobs(),
	    restore_file, NULL, &b)) < 0)
		die("%s", dos_strerror(rc));
	read_manifest(fd, record_end, b);
	if ((rc = dos_batch_answer(b)) < 0)
		die("%s", dos_strerror(rc));
	dos_batch_free(b);
	dos_restore_close(restore);
	if (fd != 0)
		close(fd);
	dos_store_release(&store);
	return status;
}
