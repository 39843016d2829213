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

#include "cli.h"

static char stdout_buffer[128 * 1024];

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
	/*
	 * stdio writes a pipe 4 KiB at a time: one system call for every
	 * small object that --batch prints (glibc ignores the size unless
	 * it is given the buffer).  A terminal stays line-buffered.
	 */
	if (!isatty(1))
		setvbuf(stdout, stdout_buffer, _IOFBF, sizeof stdout_buffer);
	status = cmd_main(argc, argv);
	dos_out_flush();
	if (fclose(stdout) != 0) {
		if (errno == EPIPE)
			raise(SIGPIPE);
		die("write failure on standard output: %s", strerror(errno));
	}
	return status;
}
