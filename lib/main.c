/*
 * main.c: the one main() of every dos program.  It names the program,
 * runs its cmd_main() and makes sure stdout really reached its reader.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dos.h"

int
main(int argc, char **argv)
{
	const char *slash;
	int status;

	if (argc > 0 && argv[0] != NULL) {
		slash = strrchr(argv[0], '/');
		dos_progname = slash != NULL ? slash + 1 : argv[0];
	}
	/* A parent that ignored SIGPIPE must not turn EPIPE into errors. */
	signal(SIGPIPE, SIG_DFL);
	srandom((unsigned)getpid());
	status = cmd_main(argc, argv);
	dos_out_flush();
	if (fclose(stdout) != 0) {
		if (errno == EPIPE)
			raise(SIGPIPE);
		die("write failure on standard output: %s", strerror(errno));
	}
	return status;
}
