/* dos-cat-object: print objects, their sizes, or answer batch requests. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const cat_usage[] = {
	"dos cat-object [--verify] [--cache-size=<size>] <object>",
	"dos cat-object (-e | -s) <object>",
	"dos cat-object (--batch | --batch-check)[=<format>] [--buffer] [-z] [--verify]",
	"dos cat-object (--batch | --batch-check)[=<format>] --batch-all-objects [--unordered] [-z] [--verify]",
	"dos cat-object --batch-command[=<format>] [--buffer] [-z] [--verify]",
	NULL
};

enum {
	OPT_BATCH = DOS_OPT_FIRST_LOCAL,
	OPT_BATCH_CHECK,
	OPT_BATCH_COMMAND,
	OPT_BATCH_ALL,
	OPT_BUFFER,
	OPT_UNORDERED,
	OPT_VERIFY,
};

static const struct option cat_options[] = {
	{ "batch", optional_argument, NULL, OPT_BATCH },
	{ "batch-check", optional_argument, NULL, OPT_BATCH_CHECK },
	{ "batch-command", optional_argument, NULL, OPT_BATCH_COMMAND },
	{ "batch-all-objects", no_argument, NULL, OPT_BATCH_ALL },
	{ "buffer", no_argument, NULL, OPT_BUFFER },
	{ "unordered", no_argument, NULL, OPT_UNORDERED },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	DOS_CACHE_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

/*
 * Objects up to this size are read whole and checked before a byte of
 * them is printed; larger ones are streamed, and damage found at their
 * end is fatal.
 */
#define CHECKED_OBJECT_MAX (1 << 20)
#define STREAM_CHUNK (1 << 20)

enum atom {
	ATOM_LITERAL,
	ATOM_OBJECTNAME,
	ATOM_OBJECTSIZE,
	ATOM_OBJECTSIZE_DISK,
	ATOM_STORAGE,
	ATOM_PACK,
	ATOM_OFFSET,
	ATOM_COMPRESSION,
	ATOM_REST,
};

static const struct {
	const char *name;
	enum atom atom;
} atom_names[] = {
	{ "objectname", ATOM_OBJECTNAME },
	{ "objectsize", ATOM_OBJECTSIZE },
	{ "objectsize:disk", ATOM_OBJECTSIZE_DISK },
	{ "storage", ATOM_STORAGE },
	{ "pack", ATOM_PACK },
	{ "offset", ATOM_OFFSET },
	{ "compression", ATOM_COMPRESSION },
	{ "rest", ATOM_REST },
};

struct segment {
	enum atom atom;
	const char *text;	/* ATOM_LITERAL */
	size_t len;
};

static struct segment *format;
static size_t format_nr;
static int format_has_rest;

enum batch_mode { BATCH_NONE, BATCH_CONTENTS, BATCH_CHECK, BATCH_COMMAND };

static struct dos_store store = DOS_STORE_INIT;
static int record_end = '\n';
static unsigned read_flags;
static int corrupt_seen;
static char *iobuf;

static void
parse_format(const char *fmt)
{
	const char *p = fmt, *open, *close;
	size_t i, len;

	format = xmalloc((strlen(fmt) + 1) * sizeof *format);
	while (*p != '\0') {
		open = strstr(p, "%(");
		if (open != p) {
			len = open != NULL ? (size_t)(open - p) : strlen(p);
			format[format_nr++] = (struct segment){ ATOM_LITERAL, p, len };
			p += len;
			continue;
		}
		if ((close = strchr(open, ')')) == NULL)
			die("unknown format element: %s", open);
		len = (size_t)(close - open - 2);
		for (i = 0; i < sizeof atom_names / sizeof *atom_names; i++)
			if (strlen(atom_names[i].name) == len &&
			    strncmp(atom_names[i].name, open + 2, len) == 0)
				break;
		if (i == sizeof atom_names / sizeof *atom_names)
			die("unknown format element: %.*s", (int)len + 3, open);
		format[format_nr++] = (struct segment){ atom_names[i].atom, NULL, 0 };
		if (atom_names[i].atom == ATOM_REST)
			format_has_rest = 1;
		p = close + 1;
	}
}

/* Append to a record being built in buf (at most CHECKED_OBJECT_MAX). */
struct record {
	char *buf;
	size_t len;
};

static void
rec_add(struct record *r, const void *data, size_t len)
{
	if (r->len + len > CHECKED_OBJECT_MAX)
		die("format expands to a line longer than %d bytes",
		    CHECKED_OBJECT_MAX);
	memcpy(r->buf + r->len, data, len);
	r->len += len;
}

/* v in decimal: printf's machinery is most of the cost of a short line. */
static void
rec_add_number(struct record *r, uint64_t v)
{
	char num[20], *p = num + sizeof num;

	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	rec_add(r, p, (size_t)(num + sizeof num - p));
}

/* A number only a packed object has: "-" for a loose one. */
static void
rec_add_if_packed(struct record *r, int packed, uint64_t v)
{
	if (packed)
		rec_add_number(r, v);
	else
		rec_add(r, "-", 1);
}

static void
expand_format(struct record *r, const struct dos_object_info *info,
    const char *rest, size_t rest_len)
{
	char hex[DOS_HEXSZ + 1];
	const char *s;
	size_t i;
	int packed = info->storage == DOS_STORAGE_PACKED;

	for (i = 0; i < format_nr; i++) {
		switch (format[i].atom) {
		case ATOM_LITERAL:
			rec_add(r, format[i].text, format[i].len);
			break;
		case ATOM_OBJECTNAME:
			rec_add(r, dos_oid_to_hex(&info->oid, hex), DOS_HEXSZ);
			break;
		case ATOM_OBJECTSIZE:
			rec_add_number(r, info->size);
			break;
		case ATOM_OBJECTSIZE_DISK:
			rec_add_number(r, info->disk_size);
			break;
		case ATOM_STORAGE:
			s = packed ? "packed" : "loose";
			rec_add(r, s, strlen(s));
			break;
		case ATOM_PACK:
			rec_add_if_packed(r, packed, info->pack);
			break;
		case ATOM_OFFSET:
			rec_add_if_packed(r, packed, info->offset);
			break;
		case ATOM_COMPRESSION:
			s = dos_codec_name(info->codec);
			rec_add(r, s, strlen(s));
			break;
		case ATOM_REST:
			rec_add(r, rest, rest_len);
			break;
		}
	}
}

static void
status_line(const char *input, size_t len, const char *what)
{
	dos_out_write(input, len);
	dos_out_write(" ", 1);
	dos_out_write(what, strlen(what));
	dos_out_write(&record_end, 1);
	dos_out_flush();
}

/*
 * Print an object's contents, after prefix[0..prefix_len) and followed by
 * trailer (if not NUL).  Returns 0, or DOS_ECORRUPT when a small object
 * was found damaged before anything was printed; damage found while a
 * large object streams is fatal.
 */
static int
print_contents(struct dos_reader *r, const char *prefix, size_t prefix_len,
    int trailer)
{
	char hex[DOS_HEXSZ + 1];
	uint64_t size = r->info.size;
	size_t have = 0;
	ssize_t n;

	dos_oid_to_hex(&r->info.oid, hex);
	if (size + prefix_len + 1 <= CHECKED_OBJECT_MAX) {
		memmove(iobuf, prefix, prefix_len);
		have = prefix_len;
		while ((n = dos_reader_read(r, iobuf + have,
		    CHECKED_OBJECT_MAX - have)) > 0)
			have += (size_t)n;
		if (n == DOS_ECORRUPT)
			return DOS_ECORRUPT;
		if (n < 0)
			die("unable to read object '%s': %s", hex, dos_strerror((int)n));
		if (trailer >= 0)
			iobuf[have++] = (char)trailer;
		dos_out_write(iobuf, have);
		return 0;
	}
	dos_out_write(prefix, prefix_len);
	while ((n = dos_reader_read(r, iobuf, STREAM_CHUNK)) > 0)
		dos_out_write(iobuf, (size_t)n);
	if (n == DOS_ECORRUPT) {
		dos_out_flush();
		die("object '%s' is corrupt", hex);
	}
	if (n < 0)
		die("unable to read object '%s': %s", hex, dos_strerror((int)n));
	if (trailer >= 0)
		dos_out_write(&trailer, 1);
	return 0;
}

static void
report_corrupt(const char *input, size_t len, const struct dos_oid *oid)
{
	char hex[DOS_HEXSZ + 1];

	error("object '%s' is corrupt", dos_oid_to_hex(oid, hex));
	corrupt_seen = 1;
	status_line(input, len, "corrupt");
}

/* A status line for a lookup that failed; dies on a failure to look. */
static void
answer_failed(const struct dos_batch_answer *a)
{
	if (a->rc == DOS_EAMBIGUOUS) {
		status_line(a->input, a->name_len, "ambiguous");
		return;
	}
	if (a->rc == DOS_EBADID || a->rc == DOS_ENOTFOUND) {
		status_line(a->input, a->name_len, "missing");
		return;
	}
	if (a->rc == DOS_ECORRUPT) {
		report_corrupt(a->input, a->name_len, &a->info.oid);
		return;
	}
	/* Found, but its evicted pack could not be read. */
	die("unable to %s '%.*s': %s", a->rc == DOS_EREMOTE ? "read" : "look up",
	    (int)a->name_len, a->input, dos_strerror(a->rc));
}

/* The format expanded for a's object, then the contents if asked. */
static void
answer_found(const struct dos_batch_answer *a)
{
	struct record rec = { iobuf, 0 };
	char hex[DOS_HEXSZ + 1];
	int rc;

	if (!a->contents) {
		expand_format(&rec, &a->info, a->rest, a->rest_len);
		rec_add(&rec, &record_end, 1);
		dos_out_write(rec.buf, rec.len);
		return;
	}
	/* The header is built at the end of iobuf, out of the content's way. */
	rec.buf = iobuf + CHECKED_OBJECT_MAX;
	expand_format(&rec, &a->info, a->rest, a->rest_len);
	rec_add(&rec, &record_end, 1);
	if (a->reader != NULL) {
		rc = print_contents(a->reader, rec.buf, rec.len, record_end);
	} else if ((rc = a->read_rc) == 0) {
		dos_out_write(rec.buf, rec.len);
		dos_out_write(a->data, a->len);
		dos_out_write(&record_end, 1);
	} else if (rc != DOS_ECORRUPT) {
		die("unable to read object '%s': %s",
		    dos_oid_to_hex(&a->info.oid, hex), dos_strerror(rc));
	}
	if (rc == DOS_ECORRUPT)
		report_corrupt(a->input, a->name_len, &a->info.oid);
}

/*
 * Answers are written together, as the engine hands them out; without
 * --buffer they are flushed before more input is awaited.
 */
static int
answer(const struct dos_batch_answer *a, void *data)
{
	int buffered = *(int *)data;

	if (a->rc < 0)
		answer_failed(a);
	else
		answer_found(a);
	if (a->last && !buffered)
		dos_out_flush();
	return 0;
}

/* The engine fails only with what answer() returns, or on a bad record. */
static void
answered(int rc)
{
	if (rc < 0)
		die("unable to answer a request: %s", dos_strerror(rc));
}

static void
batch_command(struct dos_batch *b, char *line, size_t len, int buffered)
{
	enum dos_batch_command cmd;
	const char *arg;
	size_t arg_len;

	switch ((cmd = dos_batch_parse_command(line, len, &arg, &arg_len))) {
	case DOS_BATCH_CONTENTS:
	case DOS_BATCH_INFO:
		answered(dos_batch_add(b, arg, arg_len, cmd == DOS_BATCH_CONTENTS));
		answered(dos_batch_answer(b));
		return;
	case DOS_BATCH_FLUSH:
		if (!buffered)
			die("flush is only for --buffer mode");
		dos_out_flush();
		return;
	case DOS_BATCH_EMPTY:
		die("empty command in input");
	case DOS_BATCH_LEADING_BLANK:
		die("whitespace before command: '%s'", line);
	case DOS_BATCH_FLUSH_ARGS:
		die("flush takes no arguments");
	case DOS_BATCH_NO_ARGS:
		die("%.*s requires arguments", (int)strcspn(line, " "), line);
	case DOS_BATCH_UNKNOWN:
		break;
	}
	die("unknown command: '%s'", line);
}

struct all_objects {
	struct dos_batch *b;
	int contents;
};

static int
all_objects_one(const struct dos_object_info *info, void *data)
{
	struct all_objects *all = data;

	return dos_batch_add_listed(all->b, info, all->contents);
}

static int
run_batch(enum batch_mode mode, int all, int unordered, int buffered)
{
	struct all_objects each;
	struct dos_input in;
	struct dos_batch *b;
	char *line;
	size_t len;
	int contents = mode == BATCH_CONTENTS, rc;

	/*
	 * Only --batch reads objects by the chunk: --batch-check has none
	 * to read, --batch-command answers each command before the next.
	 */
	if ((rc = dos_batch_new(&store, read_flags, format_has_rest,
	    contents ? dos_default_jobs() : 1, answer, &buffered, &b)) < 0)
		die("unable to start the batch: %s", dos_strerror(rc));
	dos_out_set_buffered(1);
	if (all) {
		each = (struct all_objects){ b, contents };
		rc = dos_for_each_object(&store,
		    unordered ? DOS_ITER_UNORDERED : 0, all_objects_one, &each);
		answered(dos_batch_answer(b));
		if (rc < 0)
			die("unable to list objects: %s", dos_strerror(rc));
		dos_batch_free(b);
		return corrupt_seen;
	}
	dos_input_init(&in, 0, record_end);
	while ((rc = dos_input_read(&in, &line, &len)) > 0) {
		if (mode == BATCH_COMMAND) {
			batch_command(b, line, len, buffered);
			continue;
		}
		answered(dos_batch_add(b, line, len, contents));
		/* Answered as soon as no more requests are waiting. */
		if (!dos_input_ready(&in))
			answered(dos_batch_answer(b));
	}
	answered(dos_batch_answer(b));
	if (rc < 0)
		die("unable to read standard input: %s",
		    rc == DOS_EINVAL ? "line too long" : dos_strerror(rc));
	dos_batch_free(b);
	dos_input_release(&in);
	return corrupt_seen;
}

static void __attribute__((noreturn))
die_lookup(const char *name, int rc)
{
	if (rc == DOS_EBADID && name[0] != '\0' &&
	    strlen(name) < DOS_MIN_ABBREV && dos_is_hex(name, strlen(name)))
		die("not a valid object name '%s': a short id needs at least "
		    "%d hex digits", name, DOS_MIN_ABBREV);
	if (rc == DOS_EBADID)
		die("not a valid object name '%s'", name);
	if (rc == DOS_EAMBIGUOUS)
		die("short object id '%s' is ambiguous", name);
	if (rc == DOS_ENOTFOUND)
		die("object '%s' not found", name);
	if (rc == DOS_ECORRUPT)
		die("object '%s' is corrupt", name);
	die("unable to read object '%s': %s", name, dos_strerror(rc));
}

static int
single(const char *name, int exists, int size)
{
	struct dos_object_info info;
	struct dos_reader r;
	struct dos_oid oid;
	char hex[DOS_HEXSZ + 1];
	int rc;

	rc = dos_resolve(&store, name, strlen(name), &oid);
	if (rc == 0 && (exists || size))
		rc = dos_object_info(&store, &oid, &info);
	if (exists) {
		/* A damaged object still exists: fsck is the place to judge it. */
		if (rc == 0 || rc == DOS_ECORRUPT)
			return 0;
		if (rc == DOS_ENOTFOUND)
			return 1;
	}
	if (rc < 0)
		die_lookup(name, rc);
	dos_oid_to_hex(&oid, hex);
	if (size) {
		printf("%llu\n", (unsigned long long)info.size);
		return 0;
	}
	if ((rc = dos_reader_open(&store, &oid, read_flags, &r)) < 0)
		die_lookup(hex, rc);
	if (print_contents(&r, "", 0, -1) == DOS_ECORRUPT)
		die("object '%s' is corrupt", hex);
	dos_reader_close(&r);
	return 0;
}

int
cmd_cat_object(int argc, char **argv)
{
	enum batch_mode mode = BATCH_NONE;
	const char *fmt = NULL, *needs_batch = NULL;
	int opt, exists = 0, size = 0, all = 0, unordered = 0, buffer = 0;
	int status;

	while ((opt = getopt_long(argc, argv, "+hesz", cat_options, NULL)) != -1) {
		switch (opt) {
		case 'e':
			exists = 1;
			break;
		case 's':
			size = 1;
			break;
		case 'z':
			record_end = '\0';
			needs_batch = needs_batch ? needs_batch : "-z";
			break;
		case OPT_BATCH:
		case OPT_BATCH_CHECK:
		case OPT_BATCH_COMMAND:
			if (mode != BATCH_NONE)
				dos_usage(cat_usage,
				    "only one batch option may be specified");
			mode = opt == OPT_BATCH ? BATCH_CONTENTS :
			    opt == OPT_BATCH_CHECK ? BATCH_CHECK : BATCH_COMMAND;
			fmt = optarg;
			break;
		case OPT_BATCH_ALL:
			all = 1;
			needs_batch = "--batch-all-objects";
			break;
		case OPT_BUFFER:
			buffer = 1;
			needs_batch = needs_batch ? needs_batch : "--buffer";
			break;
		case OPT_UNORDERED:
			unordered = 1;
			break;
		case OPT_VERIFY:
			read_flags |= DOS_READ_VERIFY;
			break;
		default:
			dos_common_option(opt, cat_usage);
		}
	}
	argc -= optind;
	argv += optind;

	if (mode == BATCH_NONE) {
		if (needs_batch != NULL)
			dos_usage(cat_usage, "'%s' requires a batch mode",
			    needs_batch);
		if (unordered)
			dos_usage(cat_usage, "'--unordered' requires --batch-all-objects");
		if (exists && size)
			dos_usage(cat_usage, "-e and -s are incompatible");
		if (argc != 1)
			dos_usage(cat_usage, argc ? "too many arguments" :
			    "an object name is required");
	} else {
		if (exists || size)
			dos_usage(cat_usage, "'%s' is incompatible with batch mode",
			    exists ? "-e" : "-s");
		if (argc != 0)
			dos_usage(cat_usage, "batch modes take no arguments");
		if (unordered && !all)
			dos_usage(cat_usage, "'--unordered' requires --batch-all-objects");
		if (all && mode == BATCH_COMMAND)
			dos_usage(cat_usage,
			    "'--batch-all-objects' cannot be used with --batch-command");
		parse_format(fmt != NULL ? fmt : "%(objectname) %(objectsize)");
	}

	dos_open_or_die(&store, 0);
	/* Room for a whole checked object plus the record header. */
	iobuf = xmalloc(2 * CHECKED_OBJECT_MAX);
	if (mode == BATCH_NONE)
		status = single(argv[0], exists, size);
	else
		status = run_batch(mode, all, unordered, buffer || all);
	free(iobuf);
	free(format);
	dos_store_release(&store);
	return status;
}
