/*
 * input.c: records from a file descriptor, LF- or NUL-terminated.  Unlike
 * stdio it can tell whether another record is ready without blocking,
 * which lets writers batch work while input streams in and still answer
 * at once when a coprocess waits for its reply.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dos.h"

#define INPUT_CHUNK 65536

void
dos_input_init(struct dos_input *in, int fd, int delim)
{
	memset(in, 0, sizeof *in);
	in->fd = fd;
	in->delim = delim;
}

void
dos_input_release(struct dos_input *in)
{
	free(in->buf);
	in->buf = NULL;
}

static int
fill(struct dos_input *in)
{
	ssize_t n;
	char *grown;

	if (in->start > 0) {
		memmove(in->buf, in->buf + in->start, in->end - in->start);
		in->end -= in->start;
		in->start = 0;
	}
	if (in->alloc - in->end < INPUT_CHUNK) {
		if (in->alloc >= DOS_INPUT_MAX_RECORD + INPUT_CHUNK)
			return DOS_EINVAL;
		grown = realloc(in->buf, in->alloc + INPUT_CHUNK);
		if (grown == NULL)
			return DOS_ENOMEM;
		in->buf = grown;
		in->alloc += INPUT_CHUNK;
	}
	do
		n = read(in->fd, in->buf + in->end, in->alloc - in->end);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return DOS_EIO;
	if (n == 0)
		in->eof = 1;
	in->end += (size_t)n;
	return 0;
}

int
dos_input_read(struct dos_input *in, char **rec, size_t *len)
{
	char *p;
	size_t scanned = 0;
	int rc;

	for (;;) {
		p = in->buf == NULL ? NULL : memchr(in->buf + in->start + scanned,
		    in->delim, in->end - in->start - scanned);
		if (p != NULL) {
			*rec = in->buf + in->start;
			*len = (size_t)(p - *rec);
			*p = '\0';
			in->start += *len + 1;
			if (in->delim == '\n' && *len > 0 && (*rec)[*len - 1] == '\r')
				(*rec)[--*len] = '\0';
			return 1;
		}
		if (in->eof) {
			if (in->start == in->end)
				return 0;
			/* A last record without its terminator still counts. */
			if (in->end == in->alloc && (rc = fill(in)) < 0)
				return rc;
			*rec = in->buf + in->start;
			*len = in->end - in->start;
			(*rec)[*len] = '\0';
			in->start = in->end;
			return 1;
		}
		scanned = in->end - in->start;
		if ((rc = fill(in)) < 0)
			return rc;
	}
}

int
dos_input_ready(struct dos_input *in)
{
	struct pollfd pfd;

	if (in->eof || (in->buf != NULL && memchr(in->buf + in->start,
	    in->delim, in->end - in->start) != NULL))
		return 1;
	pfd.fd = in->fd;
	pfd.events = POLLIN;
	return poll(&pfd, 1, 0) > 0;
}
