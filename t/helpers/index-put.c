/*
 * index-put: write one record into a container's index, whatever it says,
 * so that tests can make the index point anywhere (t/5500-hostile.bats).
 *
 *   index-put [--hold] [--member <i>] <container> <id> <pack> <codec>
 *       <offset> <stored> <raw>
 *   index-put [--hold] <container> --pack-length <pack> <length>
 *
 * With --hold it says "holding" once the record is put and waits to be
 * killed with the transaction open, its locks held (t/2600-index.bats).
 * With --member the record is of member i of the group entry at offset
 * (t/3050-fsck-group.bats).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dos.h"

static uint64_t
number(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (*s == '\0' || *end != '\0') {
		fprintf(stderr, "index-put: not a number: '%s'\n", s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct dos_store st = DOS_STORE_INIT;
	struct dos_index_entry e;
	struct dos_index *ix;
	struct dos_oid oid;
	int rc, hold = 0;

	memset(&e, 0, sizeof e);
	if (argc > 1 && strcmp(argv[1], "--hold") == 0) {
		hold = 1;
		argc--;
		argv++;
	}
	if (argc > 2 && strcmp(argv[1], "--member") == 0) {
		e.member = (uint32_t)number(argv[2]) + 1;
		argc -= 2;
		argv += 2;
	}
	if (!(argc == 8 || (argc == 5 && strcmp(argv[2], "--pack-length") == 0))) {
		fprintf(stderr, "usage: index-put [--hold] [--member <i>] "
		    "<container> <id> <pack> <codec> <offset> <stored> <raw>\n"
		    "       index-put [--hold] <container> --pack-length <pack> "
		    "<length>\n");
		return 2;
	}
	/* It makes the index of packs written by hand. */
	if ((rc = dos_store_open(&st, argv[1],
	    DOS_OPEN_WRITE | DOS_OPEN_LOST_INDEX)) < 0 ||
	    (rc = dos_store_index(&st, 1, &ix)) < 0 ||
	    (rc = dos_index_begin(ix)) < 0)
		goto fail;
	if (argc == 5) {
		rc = dos_index_set_pack_length(ix, (uint32_t)number(argv[3]),
		    number(argv[4]));
	} else {
		if (dos_oid_from_hex(&oid, argv[2], strlen(argv[2])) < 0) {
			fprintf(stderr, "index-put: not an id: '%s'\n", argv[2]);
			return 2;
		}
		e.pack = (uint32_t)number(argv[3]);
		e.codec = (enum dos_codec)number(argv[4]);
		e.offset = number(argv[5]);
		e.stored_size = number(argv[6]);
		e.raw_size = number(argv[7]);
		rc = dos_index_put(ix, &oid, &e);
	}
	if (rc == 0 && hold) {
		printf("holding\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	if (rc < 0 || (rc = dos_index_commit(ix)) < 0)
		goto fail;
	dos_store_release(&st);
	return 0;
fail:
	fprintf(stderr, "index-put: %s\n", dos_strerror(rc));
	return 1;
}
