/*
 * config.c: fuzz config.json.  The input is the file; every reader of it
 * looks: dos_store_open() (the dos format), the legacy test of init, and
 * dos_legacy_open() (the legacy format, as dos migrate reads it).
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[4096], file[4200];
	struct dos_store st = DOS_STORE_INIT;
	struct dos_legacy *lg;
	int dirfd;

	if (dir[0] == '\0') {
		fuzz_path(dir, sizeof dir, "container");
		fuzz_mkdir(dir);
		snprintf(file, sizeof file, "%s/loose", dir);
		fuzz_mkdir(file);
		snprintf(file, sizeof file, "%s/packs", dir);
		fuzz_mkdir(file);
		snprintf(file, sizeof file, "%s/sandbox", dir);
		fuzz_mkdir(file);
		snprintf(file, sizeof file, "%s/config.json", dir);
	}
	fuzz_write_file(file, data, size);
	if (dos_store_open(&st, dir, 0) == 0)
		dos_store_release(&st);
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		fuzz_die("open '%s'", dir);
	dos_is_legacy_container(dirfd);
	close(dirfd);
	if (dos_legacy_open(dir, &lg, NULL) == 0)
		dos_legacy_close(lg);
	return 0;
}
