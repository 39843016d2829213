/*
 * replay.c: run a fuzz target on kept inputs without libFuzzer, so the
 * normal test suite (and its sanitizer build) replays every seed and
 * every input that once found a bug.  Each operand is a file or a
 * directory of files; prints "N inputs replayed".
 *
 * An unbounded allocation is a bug too.  AddressSanitizer reports one
 * (with max_allocation_size_mb set, as t/5400 does); without it, a limit
 * on the address space makes it fail instead of taking the machine's
 * memory.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "fuzz.h"

static unsigned long replayed;

static void
replay_file(const char *path)
{
	FILE *fp;
	struct stat sb;
	uint8_t *buf;
	size_t n;

	if ((fp = fopen(path, "rb")) == NULL || fstat(fileno(fp), &sb) < 0)
		fuzz_die("open '%s'", path);
	/* One spare byte, so that an empty input is still a valid pointer. */
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL)
		fuzz_die("read '%s'", path);
	n = fread(buf, 1, (size_t)sb.st_size, fp);
	if (ferror(fp) || n != (size_t)sb.st_size)
		fuzz_die("read '%s'", path);
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	replayed++;
}

static void
replay_dir(const char *dir)
{
	struct dirent **names;
	char path[4096];
	int n, i;

	if ((n = scandir(dir, &names, NULL, alphasort)) < 0)
		fuzz_die("list '%s'", dir);
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof path, "%s/%s", dir,
			    names[i]->d_name);
			replay_file(path);
		}
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char **argv)
{
	struct stat sb;
	int i;
#ifndef __SANITIZE_ADDRESS__
	struct rlimit lim = { 4UL << 30, 4UL << 30 };

	if (setrlimit(RLIMIT_AS, &lim) < 0)
		fuzz_die("setrlimit");
#endif

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) < 0)
			fuzz_die("stat '%s'", argv[i]);
		if (S_ISDIR(sb.st_mode))
			replay_dir(argv[i]);
		else
			replay_file(argv[i]);
	}
	printf("%lu inputs replayed\n", replayed);
	return 0;
}
