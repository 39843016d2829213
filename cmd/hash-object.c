/* dos-hash-object: compute object ids and optionally store the objects. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *const hash_usage[] = {
	"dos hash-object [-w [--to-pack]] [--stdin] [--] <file>...",
	"dos hash-object [-w [--to-pack]] --stdin-paths [-z] [--with-path] [--keep-going] [--[no-]progress]",
	"dos hash-object [-w [--to-pack]] --recursive [-z] [--keep-going] [--] <directory>...",
	NULL
};

enum {
	OPT_STDIN = DOS_OPT_FIRST_LOCAL,
	OPT_STDIN_PATHS,
	OPT_WITH_PATH,
	OPT_KEEP_GOING,
	OPT_TO_PACK,
	OPT_RECURSIVE,
};

static const struct option hash_options[] = {
	{ "write", no_argument, NULL, 'w' },
	{ "stdin", no_argument, NULL, OPT_STDIN },
	{ "stdin-paths", no_argument, NULL, OPT_STDIN_PATHS },
	{ "null", no_argument, NULL, 'z' },
	{ "with-path", no_argument, NULL, OPT_WITH_PATH },
	{ "keep-going", no_argument, NULL, OPT_KEEP_GOING },
	{ "to-pack", no_argument, NULL, OPT_TO_PACK },
	{ "recursive", no_argument, NULL, OPT_RECURSIVE },
	DOS_PROGRESS_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

/*
 * A batch is committed (made durable, then its ids printed) when it holds
 * this many objects or bytes, or when the input pauses.  As many objects
 * as one index transaction takes, as dos pack commits: a commit rewrites
 * and logs each compressed run of objects.db that its records fall in,
 * so larger batches rewrite fewer runs (--to-pack of D1's 100,000 files:
 * 62 MiB of index log instead of 72, commits of 18% fewer instructions).
 */
#define BATCH_OBJECTS DOS_INDEX_TXN_RECORDS
#define BATCH_BYTES (256ULL << 20)

#define PROGRESS "hashing files"

static int write_object, to_pack, with_path, keep_going, flush_each;
static uint64_t hashed;		/* files, for the progress of --stdin-paths */
static int record_end = '\n';

/* Ids waiting for their batch to be durable before they are printed. */
struct pending_out {
	struct dos_oid oid;
	char *path;
};
static struct pending_out *queue;
static size_t queue_nr, queue_alloc;
/*
 * With --to-pack, a full batch is sealed and committed by a thread of the
 * writer while the next one is read (dos_pack_writer_flush_begin): the
 * first sealed_nr ids in the queue are its own, printed once it ends.
 */
static size_t sealed_nr;

static struct dos_store store = DOS_STORE_INIT;
static struct dos_loose_batch *batch;
static struct dos_pack_writer *writer;

static void
print_record(const struct dos_oid *oid, const char *path)
{
	char hex[DOS_HEXSZ + 1], *quoted = NULL;
	int rc;

	dos_oid_to_hex(oid, hex);
	dos_out_write(hex, DOS_HEXSZ);
	if (with_path) {
		if (record_end == '\n' &&
		    (rc = dos_quote_path(path, &quoted)) != 0) {
			if (rc < 0)
				die("%s", dos_strerror(rc));
			path = quoted;
		}
		dos_out_write("\t", 1);
		dos_out_write(path, strlen(path));
		free(quoted);
	}
	dos_out_write(&record_end, 1);
}

/*
 * The temp files of a batch that will never be committed go with it, also
 * when the command dies (a full disk): they would only fill sandbox/.
 */
static void
drop_batch(void)
{
	dos_loose_batch_free(batch);
	batch = NULL;
}

/* Print the first n ids of the queue. */
static void
print_queued(size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		print_record(&queue[i].oid, queue[i].path);
		free(queue[i].path);
	}
	if (n < queue_nr)
		memmove(queue, queue + n, (queue_nr - n) * sizeof *queue);
	queue_nr -= n;
	if (flush_each)
		dos_out_flush();
}

static void __attribute__((noreturn))
die_writing(int rc)
{
	die("unable to write pack %u: %s", dos_pack_writer_pack(writer),
	    dos_strerror(rc));
}

/* The sealed batch ended: its ids are printed once it is committed. */
static void
end_sealed(void)
{
	int rc;

	if (writer == NULL || sealed_nr == 0)
		return;
	if ((rc = dos_pack_writer_flush_end(writer)) < 0) {
		sealed_nr = 0;
		die_writing(rc);
	}
	print_queued(sealed_nr);
	sealed_nr = 0;
}

/*
 * A command that dies while a sealed batch is being committed lets the
 * commit finish before the index is closed at exit (atexit runs this
 * first, as it is registered after the index opened).  Its ids are not
 * printed: the command is reporting another failure.
 */
static void
end_sealed_at_exit(void)
{
	if (writer != NULL && sealed_nr > 0)
		dos_pack_writer_flush_end(writer);
}

static void
commit_and_print(void)
{
	int rc;

	if (batch != NULL && (rc = dos_loose_batch_commit(batch)) < 0) {
		const char *why = dos_strerror(rc);

		/* What the commit could not move into place goes. */
		drop_batch();
		die("unable to store objects in '%s': %s",
		    dos_store_path(&store), why);
	}
	end_sealed();
	if (writer != NULL && (rc = dos_pack_writer_flush(writer)) < 0)
		die_writing(rc);
	print_queued(queue_nr);
}

/*
 * A full batch: with --to-pack, the previous one ends and this one is
 * committed while the next is read; else committed now.
 */
static void
commit_batch(void)
{
	int rc;

	if (writer == NULL) {
		commit_and_print();
		return;
	}
	end_sealed();
	if ((rc = dos_pack_writer_flush_begin(writer)) < 0)
		die_writing(rc);
	sealed_nr = queue_nr;
}

/*
 * Give up on the whole run after printing the ids of the inputs before
 * the bad one, so the output stays in line with the input.
 */
static void __attribute__((format(printf, 1, 2), noreturn))
fail_input(const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	commit_and_print();
	die("%s", msg);
}

static size_t
pending_objects(void)
{
	return writer != NULL ? dos_pack_writer_pending(writer) :
	    dos_loose_batch_pending(batch);
}

static uint64_t
pending_bytes(void)
{
	return writer != NULL ? dos_pack_writer_pending_bytes(writer) :
	    dos_loose_batch_pending_bytes(batch);
}

/* Hash (and store) one input; 0 or -1 when --keep-going skipped it. */
static int
hash_one(int fd, const char *path)
{
	struct dos_oid oid;
	int rc, existed;

	if (writer != NULL)
		rc = dos_pack_writer_add_fd(writer, fd, NULL,
		    DOS_PACK_ADD_DEDUP_LOOSE, &oid, &existed);
	else if (batch != NULL)
		rc = dos_loose_batch_add_fd(batch, fd, &oid);
	else
		rc = dos_hash_fd(fd, &oid, NULL);
	/* Only a failed read skips an input: a full disk stops everything. */
	if (rc == DOS_EREAD && !keep_going)
		fail_input("could not read '%s': %s", path, strerror(errno));
	if (rc == DOS_EREAD)
		return error("could not read '%s': %s", path, strerror(errno));
	if (rc < 0) {
		end_sealed();	/* its ids were stored before */
		die("unable to store '%s': %s", path, dos_strerror(rc));
	}
	if (queue_nr == queue_alloc) {
		queue_alloc = queue_alloc ? 2 * queue_alloc : 64;
		queue = xrealloc(queue, queue_alloc * sizeof *queue);
	}
	queue[queue_nr].oid = oid;
	queue[queue_nr].path = with_path ? xstrdup(path) : NULL;
	queue_nr++;
	if (!write_object)
		commit_and_print();
	else if (pending_objects() >= BATCH_OBJECTS ||
	    pending_bytes() >= BATCH_BYTES)
		commit_batch();
	return 0;
}

/* A file operand; "-" means standard input unless literal is set. */
static int
hash_path(const char *path, int literal)
{
	int fd, rc;

	if (!literal && strcmp(path, "-") == 0)
		return hash_one(0, "-");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (!keep_going)
			fail_input("could not open '%s' for reading: %s", path,
			    strerror(errno));
		return error("could not open '%s' for reading: %s", path,
		    strerror(errno));
	}
	rc = hash_one(fd, path);
	close(fd);
	return rc;
}

/*
 * A file of a --recursive walk: hashed; anything else but a directory:
 * skipped, as a manifest holds only files.
 */
static int
hash_tree_entry(const char *path, int fd, enum dos_tree_kind kind, void *data)
{
	int *status = data;

	if (kind == DOS_TREE_OTHER) {
		warning("skipping '%s': not a regular file", path);
		return 0;
	}
	if (kind == DOS_TREE_UNREADABLE) {
		if (!keep_going)
			fail_input("could not read '%s': %s", path,
			    strerror(errno));
		*status = error("could not read '%s': %s", path,
		    strerror(errno));
		return 0;
	}
	if (hash_one(fd, path) < 0)
		*status = 1;
	return 0;
}

static int
hash_trees(int argc, char **argv)
{
	int i, rc, status = 0;

	for (i = 0; i < argc; i++)
		if ((rc = dos_tree_walk(argv[i], hash_tree_entry,
		    &status)) < 0)
			fail_input("could not walk '%s': %s", argv[i],
			    dos_strerror(rc));
	return status != 0;
}

static int
hash_stdin_paths(void)
{
	struct dos_input in;
	char *rec;
	size_t len;
	int rc, status = 0;

	dos_input_init(&in, 0, record_end);
	for (;;) {
		/* The reader may be waiting for these ids: answer first. */
		if (queue_nr > 0 && !dos_input_ready(&in))
			commit_and_print();
		rc = dos_input_read(&in, &rec, &len);
		if (rc == 0)
			break;
		if (rc < 0) {
			commit_and_print();
			die("unable to read paths from standard input: %s",
			    rc == DOS_EINVAL ? "line too long" : dos_strerror(rc));
		}
		if (memchr(rec, '\0', len) != NULL)
			fail_input("path contains a NUL byte: '%s' (use -z)", rec);
		if (record_end == '\n' && rec[0] == '"') {
			/* Unquoting works in place: keep the line to quote it back. */
			char *line = xstrdup(rec);

			if (dos_unquote_path(rec) < 0)
				fail_input("line is badly quoted: %s", line);
			free(line);
		}
		if (hash_path(rec, 1) < 0)
			status = 1;
		else if (dos_show_progress)
			dos_progress(PROGRESS, ++hashed);
	}
	dos_input_release(&in);
	return status;
}

int
cmd_hash_object(int argc, char **argv)
{
	int opt, use_stdin = 0, stdin_paths = 0, recursive = 0, status = 0, i;
	int rc;

	/* Ids printed on a terminal show how far it came; --progress still. */
	if (isatty(1))
		dos_show_progress = 0;
	while ((opt = getopt_long(argc, argv, "+hwz", hash_options, NULL)) != -1) {
		switch (opt) {
		case 'w':
			write_object = 1;
			break;
		case 'z':
			record_end = '\0';
			break;
		case OPT_STDIN:
			if (use_stdin)
				dos_usage(hash_usage,
				    "multiple --stdin arguments are not supported");
			use_stdin = 1;
			break;
		case OPT_STDIN_PATHS:
			stdin_paths = 1;
			break;
		case OPT_WITH_PATH:
			with_path = 1;
			break;
		case OPT_KEEP_GOING:
			keep_going = 1;
			break;
		case OPT_TO_PACK:
			to_pack = 1;
			break;
		case OPT_RECURSIVE:
			/* A manifest: which file each id is. */
			recursive = with_path = 1;
			break;
		default:
			dos_common_option(opt, hash_usage);
		}
	}
	argc -= optind;
	argv += optind;
	if (stdin_paths && use_stdin)
		dos_usage(hash_usage, "can't use --stdin-paths with --stdin");
	if (stdin_paths && argc > 0)
		dos_usage(hash_usage, "can't specify files with --stdin-paths");
	if (recursive && (stdin_paths || use_stdin))
		dos_usage(hash_usage, "can't use --recursive with %s",
		    stdin_paths ? "--stdin-paths" : "--stdin");
	if (recursive && argc == 0)
		dos_usage(hash_usage, "which directory?");
	if (!stdin_paths && !recursive && record_end == '\0')
		dos_usage(hash_usage, "-z needs --stdin-paths or --recursive");
	if (to_pack && !write_object)
		dos_usage(hash_usage, "--to-pack needs -w");
	if (!stdin_paths && !use_stdin && argc == 0)
		dos_usage(hash_usage, "nothing to hash");
	if (!stdin_paths)
		dos_show_progress = 0;

	if (write_object)
		dos_open_or_die(&store, DOS_OPEN_WRITE);
	if (to_pack) {
		dos_tell_lock_waits(&store);
		writer = dos_lock_packs(&store, 0, DOS_COMPRESS_AUTO);
		atexit(end_sealed_at_exit);
	} else if (write_object) {
		if ((rc = dos_loose_batch_new(&store, &batch)) < 0)
			die("%s", dos_strerror(rc));
		atexit(drop_batch);
	}
	flush_each = dos_stdout_is_pipe();
	dos_out_set_buffered(1);

	if (stdin_paths) {
		status = hash_stdin_paths();
	} else if (recursive) {
		status = hash_trees(argc, argv);
	} else {
		if (use_stdin && hash_one(0, "-") < 0)
			status = 1;
		for (i = 0; i < argc; i++)
			if (hash_path(argv[i], 0) < 0)
				status = 1;
	}
	commit_and_print();
	if (dos_show_progress)
		dos_progress_done(PROGRESS, hashed);
	dos_unlock_packs(writer);
	writer = NULL;
	drop_batch();
	dos_store_release(&store);
	free(queue);
	return status;
}
