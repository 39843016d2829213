/* object.c: finding, listing and reading objects wherever they are stored. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dos.h"

static int
is_lower_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

typedef int loose_fn(const struct dos_oid *oid, void *data);

/* Objects in one directory of loose/ (the top one when shard is NULL). */
static int
walk_dir(struct dos_store *st, const char *shard, const char *prefix,
    size_t plen, loose_fn *fn, void *data)
{
	size_t slen = shard != NULL ? strlen(shard) : 0;
	size_t want = DOS_HEXSZ - slen, nlen;
	char hex[DOS_HEXSZ];
	struct dos_oid oid;
	struct dirent *e;
	DIR *d;
	int fd, rc = 0;

	fd = shard != NULL ? openat(st->loosefd, shard,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) :
	    dup(st->loosefd);
	if (fd < 0)
		return errno == ENOENT ? 0 : DOS_EIO;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return DOS_EIO;
	}
	if (shard == NULL)
		rewinddir(d);
	if (slen > 0)
		memcpy(hex, shard, slen);
	while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
		nlen = strlen(e->d_name);
		if (nlen != want || !is_lower_hex(e->d_name, nlen))
			continue;
		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			continue;
		memcpy(hex + slen, e->d_name, want);
		if (plen > 0 && memcmp(hex, prefix, plen) != 0)
			continue;
		dos_oid_from_hex(&oid, hex, DOS_HEXSZ);
		rc = fn(&oid, data);
	}
	if (rc == 0 && errno != 0)
		rc = DOS_EIO;
	closedir(d);
	return rc;
}

/* Call fn for every loose object whose id starts with prefix[0..plen). */
static int
walk_loose(struct dos_store *st, const char *prefix, size_t plen,
    loose_fn *fn, void *data)
{
	size_t p = (size_t)st->cfg.loose_prefix_len, cmp;
	struct dirent *e;
	DIR *d;
	int fd, rc = 0;
	char shard[DOS_MAX_PREFIX_LEN + 1];

	if (p == 0)
		return walk_dir(st, NULL, prefix, plen, fn, data);
	if (plen >= p) {
		memcpy(shard, prefix, p);
		shard[p] = '\0';
		return walk_dir(st, shard, prefix, plen, fn, data);
	}
	if ((fd = dup(st->loosefd)) < 0)
		return DOS_EIO;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return DOS_EIO;
	}
	rewinddir(d);
	cmp = plen < p ? plen : p;
	while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
		if (strlen(e->d_name) != p || !is_lower_hex(e->d_name, p))
			continue;
		if (memcmp(e->d_name, prefix, cmp) != 0)
			continue;
		rc = walk_dir(st, e->d_name, prefix, plen, fn, data);
	}
	if (rc == 0 && errno != 0)
		rc = DOS_EIO;
	closedir(d);
	return rc;
}

struct match {
	struct dos_oid oid;
	int count;
};

static int
collect_match(const struct dos_oid *oid, void *data)
{
	struct match *m = data;

	if (m->count == 0 || dos_oid_cmp(&m->oid, oid) != 0) {
		m->oid = *oid;
		m->count++;
	}
	return m->count > 1 ? 1 : 0;
}

int
dos_resolve(struct dos_store *st, const char *name, size_t len,
    struct dos_oid *oid)
{
	char prefix[DOS_HEXSZ];
	struct match m = { { { 0 } }, 0 };
	size_t i;
	int rc;

	if (len < DOS_MIN_ABBREV || len > DOS_HEXSZ || !dos_is_hex(name, len))
		return DOS_EBADID;
	if (len == DOS_HEXSZ)
		return dos_oid_from_hex(oid, name, len);
	for (i = 0; i < len; i++)
		prefix[i] = (char)(name[i] >= 'A' && name[i] <= 'F' ?
		    name[i] - 'A' + 'a' : name[i]);
	rc = walk_loose(st, prefix, len, collect_match, &m);
	if (rc < 0)
		return rc;
	if (m.count == 0)
		return DOS_ENOTFOUND;
	if (m.count > 1)
		return DOS_EAMBIGUOUS;
	*oid = m.oid;
	return 0;
}

int
dos_object_info(struct dos_store *st, const struct dos_oid *oid,
    struct dos_object_info *info)
{
	uint64_t size;
	int rc;

	if ((rc = dos_loose_stat(st, oid, &size)) < 0)
		return rc;
	memset(info, 0, sizeof *info);
	info->oid = *oid;
	info->size = info->disk_size = size;
	info->storage = DOS_STORAGE_LOOSE;
	info->codec = DOS_CODEC_NONE;
	return 0;
}

int
dos_reader_open(struct dos_store *st, const struct dos_oid *oid,
    unsigned flags, struct dos_reader *r)
{
	char name[DOS_HEXSZ + 2];
	struct stat sb;
	int rc;

	memset(r, 0, sizeof *r);
	r->fd = -1;
	dos_loose_name(st, oid, name, sizeof name);
	r->fd = dos_open_beneath(st->loosefd, name, O_RDONLY, 0);
	if (r->fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return DOS_ENOTFOUND;
		if (errno == ELOOP || errno == EXDEV)
			return DOS_ECORRUPT;
		return DOS_EIO;
	}
	rc = fstat(r->fd, &sb) < 0 ? DOS_EIO :
	    !S_ISREG(sb.st_mode) ? DOS_ECORRUPT : 0;
	if (rc < 0) {
		close(r->fd);
		r->fd = -1;
		return rc;
	}
	r->info.oid = *oid;
	r->info.size = r->info.disk_size = (uint64_t)sb.st_size;
	r->info.storage = DOS_STORAGE_LOOSE;
	r->info.codec = DOS_CODEC_NONE;
	r->remaining = r->info.size;
	/* A loose file has no size to check against: always hash it. */
	r->flags = flags | DOS_READ_VERIFY;
	if ((rc = dos_hasher_init(&r->hasher)) < 0) {
		close(r->fd);
		r->fd = -1;
		return rc;
	}
	return 0;
}

static int
check_end(struct dos_reader *r)
{
	struct dos_oid got;
	int rc;

	if (!(r->flags & DOS_READ_VERIFY))
		return 0;
	r->flags &= ~(unsigned)DOS_READ_VERIFY;
	if ((rc = dos_hasher_final(&r->hasher, &got)) < 0)
		return rc;
	return dos_oid_cmp(&got, &r->info.oid) == 0 ? 0 : DOS_ECORRUPT;
}

ssize_t
dos_reader_read(struct dos_reader *r, void *buf, size_t len)
{
	ssize_t n;
	int rc;

	if (r->remaining == 0)
		return check_end(r);
	if (len > r->remaining)
		len = (size_t)r->remaining;
	do
		n = read(r->fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return DOS_EIO;
	if (n == 0)
		return DOS_ECORRUPT;	/* shorter than it was */
	r->remaining -= (uint64_t)n;
	if ((r->flags & DOS_READ_VERIFY) &&
	    (rc = dos_hasher_update(&r->hasher, buf, (size_t)n)) < 0)
		return rc;
	if (r->remaining == 0 && (rc = check_end(r)) < 0)
		return rc;
	return n;
}

void
dos_reader_close(struct dos_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->hasher.ctx != NULL)
		dos_hasher_release(&r->hasher);
}

struct oid_list {
	struct dos_oid *oids;
	size_t nr, alloc;
};

static int
append_oid(const struct dos_oid *oid, void *data)
{
	struct oid_list *l = data;
	struct dos_oid *grown;

	if (l->nr == l->alloc) {
		l->alloc = l->alloc ? 2 * l->alloc : 1024;
		grown = realloc(l->oids, l->alloc * sizeof *grown);
		if (grown == NULL)
			return DOS_ENOMEM;
		l->oids = grown;
	}
	l->oids[l->nr++] = *oid;
	return 0;
}

static int
cmp_oid(const void *a, const void *b)
{
	return dos_oid_cmp(a, b);
}

int
dos_for_each_object(struct dos_store *st, unsigned flags,
    dos_object_fn *fn, void *data)
{
	struct oid_list l = { NULL, 0, 0 };
	size_t i;
	int rc;

	if (flags & DOS_ITER_UNORDERED)
		return walk_loose(st, "", 0, fn, data);
	rc = walk_loose(st, "", 0, append_oid, &l);
	if (rc == 0) {
		qsort(l.oids, l.nr, sizeof *l.oids, cmp_oid);
		for (i = 0; i < l.nr && rc == 0; i++)
			rc = fn(&l.oids[i], data);
	}
	free(l.oids);
	return rc;
}
