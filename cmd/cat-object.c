/* dos-cat-object: print objects, their sizes, or answer batch requests. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dos.h"

static const char *const cat_usage[] = {
	"dos cat-object [--verify] <object>",
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
			if (packed)
				rec_add_number(r, info->pack);
			else
				rec_add(r, "-", 1);
			break;
		case ATOM_OFFSET:
			if (packed)
				rec_add_number(r, info->offset);
			else
				rec_add(r, "-", 1);
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

/* One request of a batch: a name, then what %(rest) prints. */
struct request {
	const char *input;
	size_t name_len;
	const char *rest;
	size_t rest_len;
};

static void
split_request(const char *input, size_t input_len, struct request *req)
{
	req->input = input;
	dos_batch_split_request(input, input_len, format_has_rest,
	    &req->name_len, &req->rest, &req->rest_len);
}

/* A status line for a lookup that failed; dies on a failure to look. */
static void
answer_failed(const struct request *req, const struct dos_oid *oid, int rc)
{
	if (rc == DOS_EAMBIGUOUS) {
		status_line(req->input, req->name_len, "ambiguous");
		return;
	}
	if (rc == DOS_EBADID || rc == DOS_ENOTFOUND) {
		status_line(req->input, req->name_len, "missing");
		return;
	}
	if (rc == DOS_ECORRUPT) {
		report_corrupt(req->input, req->name_len, oid);
		return;
	}
	die("unable to look up '%.*s': %s", (int)req->name_len, req->input,
	    dos_strerror(rc));
}

/* The --batch-check answer: the format expanded for info. */
static void
answer_info(const struct request *req, const struct dos_object_info *info)
{
	struct record rec = { iobuf, 0 };

	expand_format(&rec, info, req->rest, req->rest_len);
	rec_add(&rec, &record_end, 1);
	dos_out_write(rec.buf, rec.len);
}

/* Answer one request: name[0..len), possibly followed by rest. */
static void
batch_one(const char *input, size_t input_len, int contents)
{
	struct record rec;
	struct dos_object_info info;
	struct dos_reader r;
	struct request req;
	struct dos_oid oid;
	int rc;

	split_request(input, input_len, &req);
	rc = dos_resolve(&store, input, req.name_len, &oid);
	if (rc == 0 && !contents)
		rc = dos_object_info(&store, &oid, &info);
	if (rc == 0 && contents)
		rc = dos_reader_open(&store, &oid, read_flags, &r);
	if (rc < 0) {
		answer_failed(&req, &oid, rc);
		return;
	}
	if (!contents) {
		answer_info(&req, &info);
		return;
	}
	/* The header is built at the end of iobuf, out of the content's way. */
	rec.buf = iobuf + CHECKED_OBJECT_MAX;
	rec.len = 0;
	expand_format(&rec, &r.info, req.rest, req.rest_len);
	rec_add(&rec, &record_end, 1);
	if (print_contents(&r, rec.buf, rec.len, record_end) == DOS_ECORRUPT)
		report_corrupt(input, req.name_len, &oid);
	dos_reader_close(&r);
}

/*
 * --batch-check answers the requests already waiting on stdin together,
 * up to these bounds: one bulk index lookup is much cheaper than a search
 * per id.  Answers are still all written before more input is awaited.
 */
#define CHECK_CHUNK 65536
#define CHECK_ARENA (8 * DOS_INPUT_MAX_RECORD)

struct check_chunk {
	char *arena;
	size_t used, nr, looked_nr;
	struct request req[CHECK_CHUNK];
	int rc[CHECK_CHUNK];		/* of resolving the name */
	size_t looked[CHECK_CHUNK];	/* request -> infos slot */
	struct dos_object_info infos[CHECK_CHUNK];
	int info_rc[CHECK_CHUNK];
};

static void
check_chunk_answer(struct check_chunk *c, int buffered)
{
	size_t i;
	int rc;

	if (c->looked_nr > 0 &&
	    (rc = dos_object_info_many(&store, c->infos, c->info_rc,
	    c->looked_nr)) < 0)
		for (i = 0; i < c->looked_nr; i++)
			c->info_rc[i] = rc;
	dos_out_set_buffered(1);
	for (i = 0; i < c->nr; i++) {
		struct request *req = &c->req[i];
		struct dos_object_info *info = &c->infos[c->looked[i]];

		rc = c->rc[i] < 0 ? c->rc[i] : c->info_rc[c->looked[i]];
		if (rc < 0)
			answer_failed(req, &info->oid, rc);
		else
			answer_info(req, info);
	}
	if (!buffered)
		dos_out_flush();
	dos_out_set_buffered(buffered);
	c->used = c->nr = c->looked_nr = 0;
}

static void
run_batch_check(struct dos_input *in, int buffered)
{
	struct check_chunk *c = xmalloc(sizeof *c);
	struct request *req;
	char *line;
	size_t len;
	int rc;

	c->arena = xmalloc(CHECK_ARENA);
	c->used = c->nr = c->looked_nr = 0;
	while ((rc = dos_input_read(in, &line, &len)) > 0) {
		req = &c->req[c->nr];
		memcpy(c->arena + c->used, line, len + 1);
		split_request(c->arena + c->used, len, req);
		c->used += len + 1;
		c->rc[c->nr] = dos_resolve(&store, req->input, req->name_len,
		    &c->infos[c->looked_nr].oid);
		c->looked[c->nr] = c->looked_nr;
		if (c->rc[c->nr] == 0)
			c->looked_nr++;
		c->nr++;
		if (c->nr == CHECK_CHUNK ||
		    c->used + DOS_INPUT_MAX_RECORD + 1 > CHECK_ARENA ||
		    !dos_input_ready(in))
			check_chunk_answer(c, buffered);
	}
	if (c->nr > 0)
		check_chunk_answer(c, buffered);
	if (rc < 0)
		die("unable to read standard input: %s",
		    rc == DOS_EINVAL ? "line too long" : dos_strerror(rc));
	free(c->arena);
	free(c);
}

static void
batch_command(char *line, size_t len, int buffered)
{
	const char *arg;
	size_t arg_len;

	switch (dos_batch_parse_command(line, len, &arg, &arg_len)) {
	case DOS_BATCH_CONTENTS:
		batch_one(arg, arg_len, 1);
		return;
	case DOS_BATCH_INFO:
		batch_one(arg, arg_len, 0);
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

/*
 * --batch reads the objects of the requests waiting on stdin (or of
 * --batch-all-objects) in chunks.  The main thread looks each one up and
 * opens it, which reads a small packed object's stored bytes; worker
 * threads decode and check them (decoding small zstd frames is most of
 * the cost) into the chunk's slots; the main thread prints the slots in
 * input order as they are done.  An object too large for a slot, or not
 * read whole when opened, is streamed by the main thread in its turn.
 * The workers use no store: only their own decompressor.
 */
#define READ_CHUNK 256
#define SLOT_MAX (64 * 1024)	/* largest object read by a worker */
#define READ_STEP 8		/* slots a worker takes at a time */
#define READ_PUBLISH 32		/* slots opened before the workers hear */

struct slot {
	struct request req;	/* its input is in the chunk's arena */
	struct dos_oid oid;
	struct dos_reader r;
	int rc;			/* of resolving and opening */
	int by_worker;		/* read into buf by a worker */
	int done;		/* the worker is finished with it */
	int read_rc;		/* 0, or why reading it failed */
	size_t len;
	char *buf;		/* SLOT_MAX bytes */
};

static struct read_chunk {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	int quit;
	int waiting;		/* the main thread waits for a slot */
	size_t opened;		/* slots opened (the main thread's count) */
	size_t nr;		/* slots handed out to the workers */
	size_t next;		/* the first slot no worker took */
	pthread_t threads[DOS_MAX_JOBS];
	int workers;
	char *arena;
	size_t used;
	struct slot slot[READ_CHUNK];
} reading = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

static void
read_slot(struct slot *sl, struct dos_decompressor *dec)
{
	ssize_t n = 0;

	sl->read_rc = dos_reader_detach(&sl->r, dec);
	while (sl->read_rc == 0 && (n = dos_reader_read(&sl->r,
	    sl->buf + sl->len, SLOT_MAX - sl->len)) > 0)
		sl->len += (size_t)n;
	if (sl->read_rc == 0 && n < 0)
		sl->read_rc = (int)n;
}

static void *
read_worker(void *arg)
{
	struct read_chunk *c = arg;
	struct dos_decompressor dec;
	size_t from, to, k;

	dos_decompressor_init(&dec);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->quit && c->next == c->nr)
			pthread_cond_wait(&c->work, &c->lock);
		if (c->quit)
			break;
		from = c->next;
		to = c->nr - from > READ_STEP ? from + READ_STEP : c->nr;
		c->next = to;
		pthread_mutex_unlock(&c->lock);
		for (k = from; k < to; k++)
			if (c->slot[k].by_worker)
				read_slot(&c->slot[k], &dec);
		pthread_mutex_lock(&c->lock);
		for (k = from; k < to; k++)
			c->slot[k].done = 1;
		if (c->waiting)
			pthread_cond_signal(&c->done);
	}
	pthread_mutex_unlock(&c->lock);
	dos_decompressor_release(&dec);
	return NULL;
}

static void
read_chunk_start(void)
{
	struct read_chunk *c = &reading;
	int i, jobs = dos_default_jobs();
	size_t k;

	c->arena = xmalloc(CHECK_ARENA);
	for (k = 0; k < READ_CHUNK; k++)
		c->slot[k].buf = xmalloc(SLOT_MAX);
	/* One CPU: the main thread reads every object itself. */
	for (i = 0; jobs > 1 && i < jobs; i++) {
		if (pthread_create(&c->threads[i], NULL, read_worker, c) != 0)
			break;
		c->workers++;
	}
}

static void
read_chunk_stop(void)
{
	struct read_chunk *c = &reading;
	size_t k;
	int i;

	pthread_mutex_lock(&c->lock);
	c->quit = 1;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < c->workers; i++)
		pthread_join(c->threads[i], NULL);
	for (k = 0; k < READ_CHUNK; k++)
		free(c->slot[k].buf);
	free(c->arena);
}

/* Hand the slots opened so far to the workers. */
static void
read_chunk_publish(void)
{
	struct read_chunk *c = &reading;

	pthread_mutex_lock(&c->lock);
	c->nr = c->opened;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
}

/* Print slot sl, once it is done; the main thread's part of a request. */
static void
answer_slot(struct slot *sl)
{
	struct record rec;
	char hex[DOS_HEXSZ + 1];
	int rc = sl->rc;

	if (rc == 0 && !sl->by_worker) {
		/*
		 * Opened again: the objects opened after it in the chunk
		 * reset the store's decompressor, which it shares.
		 */
		dos_reader_close(&sl->r);
		rc = dos_reader_open(&store, &sl->oid, read_flags, &sl->r);
	}
	if (rc < 0) {
		answer_failed(&sl->req, &sl->oid, rc);
		return;
	}
	rec.buf = iobuf + CHECKED_OBJECT_MAX;
	rec.len = 0;
	expand_format(&rec, &sl->r.info, sl->req.rest, sl->req.rest_len);
	rec_add(&rec, &record_end, 1);
	if (!sl->by_worker) {
		rc = print_contents(&sl->r, rec.buf, rec.len, record_end);
	} else if ((rc = sl->read_rc) == 0) {
		dos_out_write(rec.buf, rec.len);
		dos_out_write(sl->buf, sl->len);
		dos_out_write(&record_end, 1);
	} else if (rc != DOS_ECORRUPT) {
		die("unable to read object '%s': %s",
		    dos_oid_to_hex(&sl->oid, hex), dos_strerror(rc));
	}
	if (rc == DOS_ECORRUPT)
		report_corrupt(sl->req.input, sl->req.name_len, &sl->oid);
	dos_reader_close(&sl->r);
}

static void
read_chunk_answer(int buffered)
{
	struct read_chunk *c = &reading;
	size_t k, nr = c->opened;

	if (c->workers > 0 && c->nr < nr)
		read_chunk_publish();
	dos_out_set_buffered(1);
	for (k = 0; k < nr; k++) {
		struct slot *sl = &c->slot[k];

		if (c->workers == 0) {
			/* Read here, with the store's decompressor. */
			if (sl->by_worker)
				read_slot(sl, sl->r.dec);
		} else {
			pthread_mutex_lock(&c->lock);
			c->waiting = 1;
			while (!sl->done)
				pthread_cond_wait(&c->done, &c->lock);
			c->waiting = 0;
			pthread_mutex_unlock(&c->lock);
		}
		answer_slot(sl);
	}
	if (!buffered)
		dos_out_flush();
	dos_out_set_buffered(buffered);
	pthread_mutex_lock(&c->lock);
	c->nr = c->next = 0;
	pthread_mutex_unlock(&c->lock);
	c->opened = c->used = 0;
}

/*
 * Open the object of request input[0..len) in the next slot and hand it
 * to the workers; answer the chunk when it is full, or when flush says
 * that no more requests are waiting.
 */
static void
read_chunk_add(const char *input, size_t len, int flush, int buffered)
{
	struct read_chunk *c = &reading;
	struct slot *sl = &c->slot[c->opened];

	memcpy(c->arena + c->used, input, len);
	c->arena[c->used + len] = '\0';
	split_request(c->arena + c->used, len, &sl->req);
	c->used += len + 1;
	sl->done = 0;
	sl->len = 0;
	sl->read_rc = 0;
	sl->rc = dos_resolve(&store, sl->req.input, sl->req.name_len, &sl->oid);
	if (sl->rc == 0)
		sl->rc = dos_reader_open(&store, &sl->oid, read_flags, &sl->r);
	sl->by_worker = sl->rc == 0 && sl->r.info.size <= SLOT_MAX &&
	    dos_reader_detachable(&sl->r);
	c->opened++;
	if (c->workers > 0 && c->opened - c->nr == READ_PUBLISH)
		read_chunk_publish();
	if (flush || c->opened == READ_CHUNK ||
	    c->used + DOS_INPUT_MAX_RECORD + 1 > CHECK_ARENA)
		read_chunk_answer(buffered);
}

static int
all_objects_one(const struct dos_object_info *info, void *data)
{
	char hex[DOS_HEXSZ + 1];
	int contents = *(int *)data;

	if (contents)
		read_chunk_add(dos_oid_to_hex(&info->oid, hex), DOS_HEXSZ, 0, 1);
	else
		batch_one(dos_oid_to_hex(&info->oid, hex), DOS_HEXSZ, 0);
	return 0;
}

static int
run_batch(enum batch_mode mode, int all, int unordered, int buffered)
{
	struct dos_input in;
	char *line;
	size_t len;
	int contents = mode == BATCH_CONTENTS, rc;

	dos_out_set_buffered(buffered);
	if (contents)
		read_chunk_start();
	if (all) {
		rc = dos_for_each_object(&store,
		    unordered ? DOS_ITER_UNORDERED : 0, all_objects_one, &contents);
		if (rc < 0)
			die("unable to list objects: %s", dos_strerror(rc));
		if (contents) {
			read_chunk_answer(buffered);
			read_chunk_stop();
		}
		return corrupt_seen;
	}
	dos_input_init(&in, 0, record_end);
	if (mode == BATCH_CHECK) {
		run_batch_check(&in, buffered);
		dos_input_release(&in);
		return corrupt_seen;
	}
	while ((rc = dos_input_read(&in, &line, &len)) > 0) {
		if (mode == BATCH_COMMAND)
			batch_command(line, len, buffered);
		else
			read_chunk_add(line, len, !dos_input_ready(&in),
			    buffered);
	}
	if (contents) {
		read_chunk_answer(buffered);
		read_chunk_stop();
	}
	if (rc < 0)
		die("unable to read standard input: %s",
		    rc == DOS_EINVAL ? "line too long" : dos_strerror(rc));
	dos_input_release(&in);
	return corrupt_seen;
}

static void __attribute__((noreturn))
die_lookup(const char *name, int rc)
{
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
cmd_main(int argc, char **argv)
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
