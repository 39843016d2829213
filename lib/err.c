/* err.c: text for the library's error codes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dos.h"

/*
 * The message of the last failure of a remote (s3.c), here rather than
 * there so that dos_strerror does not bring libcurl into every program.
 */
static __thread char remote_error[768];

const char *
dos_s3_last_error(void)
{
	return remote_error;
}

void
dos_s3_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(remote_error, sizeof remote_error, fmt, ap);
	va_end(ap);
}

const char *
dos_strerror(int code)
{
	switch (code) {
	case DOS_OK:
		return "success";
	case DOS_EIO:
	case DOS_EREAD:
		return strerror(errno);
	case DOS_ENOTFOUND:
		return "no such object";
	case DOS_EAMBIGUOUS:
		return "ambiguous object name";
	case DOS_EBADID:
		return "not a valid object name";
	case DOS_ECORRUPT:
		return "stored data is corrupt";
	case DOS_ENOTCONTAINER:
		return "not a dos container";
	case DOS_EBADCONFIG:
		return "invalid config.json";
	case DOS_ENOMEM:
		return "out of memory";
	case DOS_EINVAL:
		return "invalid argument";
	case DOS_EEXIST:
		return "directory not empty";
	case DOS_ELEGACY:
		return "legacy disk-objectstore container";
	case DOS_EBUSY:
		return "locked by another process";
	case DOS_EINDEX:
		return dos_index_last_error();
	case DOS_ERECOVER:
		return "the index was recovered by another process";
	case DOS_ENOINDEX:
		return "packs without their index";
	case DOS_ENODICT:
		return dos_dict_last_error();
	case DOS_EREMOTE:
		return dos_s3_last_error();
	}
	return "unknown error";
}
