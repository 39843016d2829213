/*
 * batch.c: fuzz the batch protocol on stdin: the records of
 * dos_input_read(), the lines of cat-object --batch, --batch-check (whose
 * names are looked up together) and --batch-command (with and without
 * %(rest)), answered by the batch engine from a small container, and
 * the quoted paths of hash-object --stdin-paths.
 *
 * The first input byte chooses the mode (see the MODE_ bits); the rest
 * is what the command would read on stdin.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

enum {
	MODE_NUL = 1 << 0,		/* -z */
	MODE_COMMAND = 1 << 1,		/* --batch-command */
	MODE_REST = 1 << 2,		/* a format with %(rest) */
	MODE_CONTENTS = 1 << 3,		/* --batch, not --batch-check */
	MODE_PATHS = 1 << 4,		/* hash-object --stdin-paths */
};

static struct dos_store store = DOS_STORE_INIT;

/* What cat-object does with an answer: a large object is streamed. */
static int
answer(const struct dos_batch_answer *a, void *data)
{
	static unsigned char buf[1 << 16];

	if (a->reader != NULL)
		while (dos_reader_read(a->reader, buf, sizeof buf) > 0)
			;
	return 0;
}

/*
 * Objects loose and packed, and two whose ids share their first four
 * hex digits, so that short names can be ambiguous.
 */
static void
make_container(void)
{
	static const char *const samples[] = { "", "abc",
	    "packed and compressible, compressible, compressible, compressible" };
	static unsigned short seen[65536];
	struct dos_hasher h;
	struct dos_oid oid;
	char path[4096], text[32];
	unsigned i, first;
	int len;

	fuzz_path(path, sizeof path, "container");
	fuzz_new_container(path);
	for (i = 0; i < 3; i++)
		fuzz_store(path, samples[i], strlen(samples[i]), i == 2, &oid);
	if (dos_hasher_init(&h) < 0)
		fuzz_die("hasher");
	for (i = 1; ; i++) {
		len = snprintf(text, sizeof text, "ambiguous %u", i);
		if (dos_hasher_reset(&h) < 0 ||
		    dos_hasher_update(&h, text, (size_t)len) < 0 ||
		    dos_hasher_final(&h, &oid) < 0)
			fuzz_die("hash");
		first = (unsigned)oid.hash[0] << 8 | oid.hash[1];
		if (seen[first] != 0)
			break;
		seen[first] = (unsigned short)i;
	}
	dos_hasher_release(&h);
	fuzz_store(path, text, (size_t)len, 0, &oid);
	len = snprintf(text, sizeof text, "ambiguous %u", seen[first]);
	fuzz_store(path, text, (size_t)len, 1, &oid);
	if (dos_store_open(&store, path, 0) < 0)
		fuzz_die("open '%s'", path);
}

/* What hash-object --stdin-paths does with a line before opening it. */
static void
path_line(char *line, size_t len, unsigned mode)
{
	if (memchr(line, '\0', len) != NULL)
		return;
	if (!(mode & MODE_NUL) && line[0] == '"')
		dos_unquote_path(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum dos_batch_command cmd;
	struct dos_batch *b;
	struct dos_input in;
	const char *arg;
	size_t len, arg_len;
	unsigned mode;
	char *line;
	int fd;

	if (size == 0)
		return 0;
	if (store.dirfd < 0)
		make_container();
	mode = data[0];
	if ((fd = memfd_create("stdin", MFD_CLOEXEC)) < 0 ||
	    dos_write_all(fd, data + 1, size - 1) < 0 ||
	    lseek(fd, 0, SEEK_SET) < 0)
		fuzz_die("memfd");
	if (dos_batch_new(&store, DOS_READ_VERIFY, (mode & MODE_REST) != 0, 1,
	    answer, NULL, &b) < 0)
		fuzz_die("batch");
	dos_input_init(&in, fd, mode & MODE_NUL ? '\0' : '\n');
	while (dos_input_ready(&in) && dos_input_read(&in, &line, &len) > 0) {
		if (mode & MODE_PATHS)
			path_line(line, len, mode);
		else if (!(mode & MODE_COMMAND))
			dos_batch_add(b, line, len, (mode & MODE_CONTENTS) != 0);
		else switch ((cmd = dos_batch_parse_command(line, len, &arg,
		    &arg_len))) {
		case DOS_BATCH_CONTENTS:
		case DOS_BATCH_INFO:
			/* Each command is answered before the next. */
			dos_batch_add(b, arg, arg_len, cmd == DOS_BATCH_CONTENTS);
			dos_batch_answer(b);
			break;
		default:
			break;
		}
	}
	dos_batch_answer(b);
	dos_batch_free(b);
	dos_input_release(&in);
	close(fd);
	return 0;
}
