/*
 * lookup: measure the rate of index lookups of present ids (issue 14).
 *
 *   lookup CONTAINER N [ROUND] < IDS
 *
 * Reads up to N hex ids, one a line (dos ls, shuffled), then looks each
 * up with dos_index_get and prints the rate: the index alone, without
 * the pack reads and output of cat-object --batch-check, which cost more
 * than the lookup.  With ROUND, the ids are taken ROUND at a time,
 * sorted (before the clock starts), and each round is looked up with
 * dos_index_get_sorted, as cat-object's rounds are.  An id not found is
 * an error: the ids must be present.
 * A cold run is one after the page cache was dropped (bench/README.md).
 * The rate per second of CPU time is printed too: on a shared machine it
 * varies less than the rate per second of wall time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dos.h"

static int
cmp_oid(const void *a, const void *b)
{
	return dos_oid_cmp(a, b);
}

static void
sort_rounds(struct dos_oid *oids, size_t n, size_t round)
{
	size_t i;

	for (i = 0; i < n; i += round)
		qsort(oids + i, n - i < round ? n - i : round, sizeof *oids,
		    cmp_oid);
}

/* Look n ids up in sorted rounds of round: 0, or 1 after saying why. */
static int
look_up_rounds(struct dos_index *ix, const struct dos_oid *oids, size_t n,
    size_t round)
{
	struct dos_index_entry *entries;
	unsigned char *found;
	size_t i, k, len;
	int rc;

	if ((entries = malloc(round * sizeof *entries)) == NULL ||
	    (found = malloc(round)) == NULL)
		return 1;
	for (i = 0; i < n; i += len) {
		len = n - i < round ? n - i : round;
		if ((rc = dos_index_get_sorted(ix, oids + i, len, entries,
		    found)) < 0) {
			fprintf(stderr, "lookup: round at %zu: %s\n", i,
			    dos_strerror(rc));
			return 1;
		}
		for (k = 0; k < len; k++)
			if (!found[k]) {
				fprintf(stderr, "lookup: id %zu not found\n",
				    i + k);
				return 1;
			}
	}
	free(entries);
	free(found);
	return 0;
}

static double
now(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct dos_store st = DOS_STORE_INIT;
	struct dos_index_entry e;
	struct dos_index *ix;
	struct dos_oid *oids;
	char line[256];
	size_t n, max, round = 0, i;
	double t0, c0, t, c;
	int rc;

	if (argc == 4)
		round = strtoul(argv[3], NULL, 10);
	if (argc < 3 || argc > 4 || (max = strtoul(argv[2], NULL, 10)) == 0 ||
	    (argc == 4 && round == 0)) {
		fprintf(stderr, "usage: lookup CONTAINER N [ROUND] < IDS\n");
		return 2;
	}
	if ((oids = malloc(max * sizeof *oids)) == NULL)
		return 1;
	for (n = 0; n < max && fgets(line, sizeof line, stdin) != NULL; n++)
		if (dos_oid_from_hex(&oids[n], line, DOS_HEXSZ) < 0) {
			fprintf(stderr, "lookup: bad id '%.64s'\n", line);
			return 1;
		}
	if ((rc = dos_store_open(&st, argv[1], 0)) < 0 ||
	    (rc = dos_store_index(&st, 0, &ix)) < 0) {
		fprintf(stderr, "lookup: %s: %s\n", argv[1], dos_strerror(rc));
		return 1;
	}
	if (round > 0)
		sort_rounds(oids, n, round);
	t0 = now(CLOCK_MONOTONIC);
	c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	if (round > 0 && look_up_rounds(ix, oids, n, round) != 0)
		return 1;
	for (i = 0; round == 0 && i < n; i++)
		if ((rc = dos_index_get(ix, &oids[i], &e)) < 0) {
			fprintf(stderr, "lookup: id %zu: %s\n", i, dos_strerror(rc));
			return 1;
		}
	t = now(CLOCK_MONOTONIC) - t0;
	c = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
	printf("%zu lookups in %.3f s: %.0f/s (%.0f/s of CPU time)\n", n, t,
	    n / t, n / c);
	dos_store_release(&st);
	free(oids);
	return 0;
}
