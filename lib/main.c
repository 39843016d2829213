/*
 * main.c: the one main() of every dos program.  It names the program,
 * runs its cmd_main() and makes sure stdout really reached its reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static char stdout_buffer[128 * 1024];

/*
 * A standard stream the parent left closed is /dev/null for us (git's
 * sanitize_stdfds): otherwise the next descriptor we open takes its
 * number, and the container directory is read as stdin, or a message
 * for stderr is written into a file of the container.
 */
static void
open_closed_std_fds(void)
{
	int fd = open("/dev/null", O_RDWR);

	while (fd >= 0 && fd <= 2)
		fd = dup(fd);
	if (fd > 2)
		close(fd);
}

int
main(int argc, char **argv)
{
	const char *slash;
	int status;

	open_closed_std_fds();
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
	dos_show_progress = isatty(2);
	status = cmd_main(argc, argv);
	dos_out_flush();
	if (fclose(stdout) != 0) {
		if (errno == EPIPE)
			raise(SIGPIPE);
		die("write failure on standard output: %s", strerror(errno));
	}
	return status;
}
