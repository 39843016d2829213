/*
 * libdos-example: store a text as an object of a dos container with
 * libdos, read it back and print its id and what was read.  The
 * container is created if there is none.  Build it against an installed
 * libdos with
 *
 *	cc -o libdos-example libdos-example.c $(pkg-config --cflags --libs dos)
 *
 * and run it as: libdos-example <container> <text>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dos/dos.h>

static int
fail(const char *what, int rc)
{
	fprintf(stderr, "libdos-example: %s: %s\n", what, dos_strerror(rc));
	return 1;
}

int
main(int argc, char **argv)
{
	struct dos_config cfg, existing;
	struct dos_store *st;
	struct dos_loose_batch *batch;
	struct dos_reader *r;
	struct dos_oid oid;
	char hex[DOS_HEXSZ + 1], buf[4096];
	ssize_t n;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: libdos-example <container> <text>\n");
		return 2;
	}
	if ((rc = dos_config_init(&cfg)) < 0 ||
	    (rc = dos_store_create(argv[1], &cfg, &existing)) < 0)
		return fail(argv[1], rc);
	if ((rc = dos_store_new(argv[1], DOS_OPEN_WRITE, &st)) < 0)
		return fail(argv[1], rc);

	/* A loose object is stored once its batch is committed. */
	if ((rc = dos_loose_batch_new(st, &batch)) < 0 ||
	    (rc = dos_loose_batch_begin(batch)) < 0 ||
	    (rc = dos_loose_batch_write(batch, argv[2], strlen(argv[2]))) < 0 ||
	    (rc = dos_loose_batch_end(batch, &oid)) < 0 ||
	    (rc = dos_loose_batch_commit(batch)) < 0)
		return fail("storing", rc);
	dos_loose_batch_free(batch);
	printf("%s %llu\n", dos_oid_to_hex(&oid, hex),
	    (unsigned long long)strlen(argv[2]));

	/* Read it back, checking the bytes against their id. */
	if ((rc = dos_reader_new(st, &oid, DOS_READ_VERIFY, &r)) < 0)
		return fail(hex, rc);
	while ((n = dos_reader_read(r, buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	if (n < 0)
		return fail(hex, (int)n);
	putchar('\n');
	dos_reader_free(r);
	dos_store_free(st);
	return fflush(stdout) == 0 ? 0 : 1;
}
