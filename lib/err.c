/* err.c: text for the library's error codes. */
#include <errno.h>
#include <string.h>

#include "dos.h"

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
	}
	return "unknown error";
}
