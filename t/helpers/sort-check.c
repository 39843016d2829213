/*
 * sort-check: sort n records with lib/extsort.c in a container, and check
 * what comes out, twice (the second time after dos_sort_rewind()): every
 * record once, in order of their keys, equal keys in the order they went
 * in (t/3050-sort.bats; DOS_SORT_MEMORY makes it write many runs).
 *
 *   sort-check <container> <n> <distinct keys>
 *
 * Prints the number of records and of distinct keys it saw.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dos.h"

struct record {
	uint32_t key;
	uint32_t pad;		/* zero: the bytes are all defined */
	uint64_t seq;		/* the order it went in */
};

static int
cmp_record(const void *pa, const void *pb)
{
	const struct record *a = pa, *b = pb;

	return a->key < b->key ? -1 : a->key > b->key;
}

static void
fail(const char *what, int rc)
{
	fprintf(stderr, "sort-check: %s: %s\n", what, dos_strerror(rc));
	exit(1);
}

/* One pass over the sorted records; exits on the first wrong one. */
static uint64_t
check_pass(struct dos_sort *s, uint64_t n, unsigned char *seen)
{
	struct record r, prev;
	uint64_t got = 0, keys = 0;
	int rc;

	memset(seen, 0, (size_t)n);
	while ((rc = dos_sort_next(s, &r)) > 0) {
		if (r.seq >= n || seen[r.seq]) {
			fprintf(stderr, "sort-check: record %llu out twice\n",
			    (unsigned long long)r.seq);
			exit(1);
		}
		seen[r.seq] = 1;
		if (got > 0 && (prev.key > r.key ||
		    (prev.key == r.key && prev.seq > r.seq))) {
			fprintf(stderr, "sort-check: record %llu out of order\n",
			    (unsigned long long)r.seq);
			exit(1);
		}
		keys += got == 0 || prev.key != r.key;
		prev = r;
		got++;
	}
	if (rc < 0)
		fail("next", rc);
	if (got != n) {
		fprintf(stderr, "sort-check: %llu records out of %llu\n",
		    (unsigned long long)got, (unsigned long long)n);
		exit(1);
	}
	return keys;
}

int
main(int argc, char **argv)
{
	struct dos_store st = DOS_STORE_INIT;
	struct dos_sort *s;
	struct record r;
	unsigned char *seen;
	uint64_t n, i, keys, again;
	unsigned long distinct;
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: sort-check <container> <n> "
		    "<distinct keys>\n");
		return 2;
	}
	n = strtoull(argv[2], NULL, 10);
	distinct = strtoul(argv[3], NULL, 10);
	if (distinct == 0 || (seen = malloc((size_t)n + 1)) == NULL)
		return 2;
	if ((rc = dos_store_open(&st, argv[1], 0)) < 0)
		fail(argv[1], rc);
	if ((rc = dos_sort_open(&st, sizeof r, cmp_record, DOS_SORT_BUDGET,
	    &s)) < 0)
		fail("open", rc);
	srandom(1);
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof r);
		r.key = (uint32_t)((unsigned long)random() % distinct);
		r.seq = i;
		if ((rc = dos_sort_add(s, &r)) < 0)
			fail("add", rc);
	}
	if ((rc = dos_sort_finish(s)) < 0)
		fail("finish", rc);
	keys = check_pass(s, n, seen);
	if ((rc = dos_sort_rewind(s)) < 0)
		fail("rewind", rc);
	if ((again = check_pass(s, n, seen)) != keys) {
		fprintf(stderr, "sort-check: %llu keys, then %llu\n",
		    (unsigned long long)keys, (unsigned long long)again);
		return 1;
	}
	printf("%llu records, %llu keys\n", (unsigned long long)n,
	    (unsigned long long)keys);
	dos_sort_close(s);
	dos_store_release(&st);
	free(seen);
	return 0;
}
