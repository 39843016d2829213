/*
 * fsck-scan.c: what dos fsck reads: the whole index (into an external
 * sort), the names of the loose area and sandbox/, the layout, and every
 * pack front to back in chunks of whole entries handed to the worker
 * threads; and the findings about each pack as a whole.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsck-int.h"

#define LOOSE_JOB 256		/* loose files per job */

static void
progress(struct fsck *f, const char *what, uint64_t done, uint64_t total)
{
	if (f->o->progress != NULL)
		f->o->progress(what, done, total, f->o->data);
}

/* ---- the index ---- */

/* A failure to keep a record is the check's, not the index's. */
struct collect {
	struct fsck *f;
	int rc;
};

static int
collect_rec(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	struct collect *c = data;
	struct rec r;

	r.oid = *oid;
	r.e = *e;
	return c->rc = dos_sort_add(c->f->recs, &r);
}

static int
cmp_rec(const void *pa, const void *pb)
{
	return dos_oid_cmp(&((const struct rec *)pa)->oid,
	    &((const struct rec *)pb)->oid);
}

/* The members of a group, at one place, stay together in member order. */
static int
cmp_by_off(const void *pa, const void *pb)
{
	const struct rec *a = pa, *b = pb;
	int c = dos_cmp_place(a->e.pack, a->e.offset, b->e.pack, b->e.offset);

	if (c == 0 && a->e.member != b->e.member)
		c = a->e.member < b->e.member ? -1 : 1;
	return c != 0 ? c : dos_oid_cmp(&a->oid, &b->oid);
}

static const char *
index_message(int rc)
{
	return rc == DOS_EINDEX ? dos_index_last_error() : dos_strerror(rc);
}

/* The whole index, in id order, into f->recs. */
int
load_index(struct fsck *f)
{
	struct collect c = { f, 0 };
	struct dos_index *ix;
	int rc;

	f->index_present = dos_index_exists(f->st->dirfd);
	f->index_ok = 1;
	if ((rc = dos_sort_open(f->st, sizeof(struct rec), cmp_rec,
	    DOS_SORT_BUDGET, &f->recs)) < 0)
		return rc;
	rc = dos_store_index(f->st, 0, &ix);
	if (rc == 0)
		rc = dos_index_walk(ix, "", 0, collect_rec, &c);
	if (rc == DOS_ENOMEM || c.rc < 0)
		return rc;
	if (rc < 0) {
		f->index_ok = 0;
		if ((rc = add_finding(f, K_INDEX_ERROR, NULL, "index", 0, 0,
		    "%s", index_message(rc))) < 0)
			return rc;
	}
	return dos_sort_finish(f->recs);
}

/*
 * The records by pack and offset, made on first use: only a damaged entry
 * header needs them.  The scan asks for places in pack and offset order,
 * so one pass over them, kept one record ahead, answers every question.
 */
static int
sort_by_off(struct fsck *f)
{
	struct rec r;
	int rc;

	if ((rc = dos_sort_open(f->st, sizeof r, cmp_by_off, DOS_SORT_BUDGET,
	    &f->by_off)) < 0 || (rc = dos_sort_rewind(f->recs)) < 0)
		return rc;
	while ((rc = dos_sort_next(f->recs, &r)) > 0)
		if ((rc = dos_sort_add(f->by_off, &r)) < 0)
			return rc;
	if (rc < 0 || (rc = dos_sort_finish(f->by_off)) < 0 ||
	    (rc = dos_sort_next(f->by_off, &f->off_next)) < 0)
		return rc;
	f->off_has = rc;
	return 0;
}

/* The record at exactly pack p, offset off, if any. */
static int
rec_at(struct fsck *f, const struct pack *p, uint64_t off,
    const struct rec **out)
{
	const struct rec *r = &f->off_next;
	int rc;

	*out = NULL;
	if (f->by_off == NULL && (rc = sort_by_off(f)) < 0)
		return rc;
	while (f->off_has && (r->e.pack < p->num ||
	    (r->e.pack == p->num && r->e.offset < off)))
		if ((f->off_has = dos_sort_next(f->by_off, &f->off_next)) < 0)
			return f->off_has;
	if (f->off_has && r->e.pack == p->num && r->e.offset == off)
		*out = r;
	return 0;
}

/*
 * The records into the group entry at pack p, offset off, added to the
 * job that has it: the worker that decodes the group learns its members'
 * whole ids from them.  At most one per member, unless the index is
 * damaged: a record beyond the group's last member is left to the
 * cross-check, which finds no entry for it.
 */
static int
group_records(struct fsck *f, const struct pack *p, uint64_t off,
    struct job *j)
{
	const struct rec *r;
	struct rec *grown;
	int rc;

	for (;;) {
		if ((rc = rec_at(f, p, off, &r)) < 0 || r == NULL)
			return rc;
		if (r->e.member != 0) {
			grown = dos_grow(j->members, j->members_nr,
			    &j->members_alloc, sizeof *grown, 16);
			if (grown == NULL)
				return DOS_ENOMEM;
			j->members = grown;
			j->members[j->members_nr++] = *r;
		}
		if ((f->off_has = dos_sort_next(f->by_off, &f->off_next)) < 0)
			return f->off_has;
	}
}

/* ---- the loose area ---- */

static int
add_loose(struct fsck *f, const struct dos_oid *oid, unsigned char status)
{
	struct loose *grown;

	grown = dos_grow(f->loose, f->loose_nr, &f->loose_alloc,
	    sizeof *grown, 1024);
	if (grown == NULL)
		return DOS_ENOMEM;
	f->loose = grown;
	f->loose[f->loose_nr].oid = *oid;
	f->loose[f->loose_nr].status = status;
	f->loose[f->loose_nr].err = 0;
	f->loose_nr++;
	return 0;
}

static const char *
file_type(unsigned char d_type, int dirfd, const char *name)
{
	struct stat sb;

	if (d_type == DT_UNKNOWN && fstatat(dirfd, name, &sb,
	    AT_SYMLINK_NOFOLLOW) == 0)
		d_type = S_ISREG(sb.st_mode) ? DT_REG : S_ISDIR(sb.st_mode) ?
		    DT_DIR : S_ISLNK(sb.st_mode) ? DT_LNK : DT_FIFO;
	switch (d_type) {
	case DT_REG:
		return "file";
	case DT_DIR:
		return "directory";
	case DT_LNK:
		return "symbolic link";
	case DT_UNKNOWN:
		return "unknown";
	}
	return "special file";
}

/*
 * One directory of loose/ (shard NULL: loose/ itself when objects are not
 * sharded).  Names that are not objects are reported only when the loose
 * area is being checked; the objects are always listed, because whether
 * an object still has a good copy depends on them.
 */
static int
list_loose_dir(struct fsck *f, const char *shard)
{
	size_t slen = shard != NULL ? strlen(shard) : 0;
	size_t want = DOS_HEXSZ - slen, nlen;
	int report = f->what & DOS_FSCK_WHAT_LOOSE;
	char hex[DOS_HEXSZ], path[512];
	const char *type;
	struct dos_oid oid;
	struct dirent *d;
	DIR *dir;
	int fd, rc = 0;

	fd = shard != NULL ? openat(f->st->loosefd, shard,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) :
	    openat(f->st->loosefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/*
	 * A shard gone since loose/ was listed was emptied and removed by
	 * dos pack: its objects are packed, and the cross-check finds them.
	 */
	if (fd < 0 && shard != NULL && errno == ENOENT)
		return 0;
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return add_finding(f, K_UNREADABLE, NULL, shard != NULL ?
		    shard : "loose", 0, 0, "%s", strerror(errno));
	}
	if (slen > 0)
		memcpy(hex, shard, slen);
	while (rc == 0 && (d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		nlen = strlen(d->d_name);
		snprintf(path, sizeof path, "loose/%s%s%s", shard ? shard : "",
		    shard ? "/" : "", d->d_name);
		if (nlen != want || !dos_is_lower_hex(d->d_name, nlen)) {
			if (report)
				rc = add_finding(f, K_BAD_NAME, NULL, path, 0, 0,
				    "%s", file_type(d->d_type, fd, d->d_name));
			continue;
		}
		memcpy(hex + slen, d->d_name, want);
		dos_oid_from_hex(&oid, hex, DOS_HEXSZ);
		type = file_type(d->d_type, fd, d->d_name);
		if (strcmp(type, "file") == 0 || strcmp(type, "unknown") == 0)
			rc = add_loose(f, &oid, LOOSE_UNCHECKED);
		else
			rc = add_loose(f, &oid, LOOSE_BAD_FILE);
	}
	closedir(dir);
	return rc;
}

int
list_loose(struct fsck *f)
{
	size_t p = (size_t)f->st->cfg.loose_prefix_len, nlen;
	int report = f->what & DOS_FSCK_WHAT_LOOSE;
	char path[512];
	struct dirent *d;
	DIR *dir;
	int fd, rc = 0;

	if (p == 0)
		return list_loose_dir(f, NULL);
	fd = openat(f->st->loosefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return add_finding(f, K_UNREADABLE, NULL, "loose", 0, 0, "%s",
		    strerror(errno));
	}
	while (rc == 0 && (d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		nlen = strlen(d->d_name);
		if (nlen == p && dos_is_lower_hex(d->d_name, nlen) &&
		    strcmp(file_type(d->d_type, fd, d->d_name), "directory") == 0) {
			rc = list_loose_dir(f, d->d_name);
		} else if (report) {
			snprintf(path, sizeof path, "loose/%s", d->d_name);
			rc = add_finding(f, K_BAD_NAME, NULL, path, 0, 0, "%s",
			    file_type(d->d_type, fd, d->d_name));
		}
	}
	closedir(dir);
	return rc;
}

static int
report_stale_temp(void *data, const char *name, uint64_t size,
    enum dos_temp_stale why, long pid)
{
	struct fsck *f = data;
	char path[512];

	snprintf(path, sizeof path, "sandbox/%s", name);
	if (why == DOS_TEMP_ORPHAN)
		return add_notice(f, K_STALE_TEMP, path, 0, size,
		    "process %ld is gone", pid);
	return add_notice(f, K_STALE_TEMP, path, 0, size, "older than 1 day");
}

/*
 * sandbox/ holds the temp files of writers: the leftovers of interrupted
 * ones are notices, as dos gc removes them.
 */
int
check_sandbox(struct fsck *f)
{
	int rc = dos_for_each_stale_temp(f->st, report_stale_temp, f);

	if (rc == DOS_EIO)
		return add_finding(f, K_UNREADABLE, NULL, "sandbox", 0, 0, "%s",
		    strerror(errno));
	return rc;
}

/*
 * A journal holds records that a pack writer deferred (lib/journal.c):
 * a migration's, running or killed, whose entries the index does not
 * have yet.  The next pack writer puts them in, so it is a notice, and
 * entries without a record are not taken for entries the index lost.
 */
int
check_journal(struct fsck *f)
{
	struct stat sb;

	if (fstatat(f->st->dirfd, DOS_JOURNAL, &sb, 0) < 0)
		return errno == ENOENT ? 0 : add_finding(f, K_UNREADABLE, NULL,
		    DOS_JOURNAL, 0, 0, "%s", strerror(errno));
	f->journal = 1;
	return add_notice(f, K_JOURNAL, DOS_JOURNAL, 0, (uint64_t)sb.st_size,
	    "%s", "");
}

int
run_loose_jobs(struct fsck *f)
{
	struct job *j;
	size_t lo;

	for (lo = 0; lo < f->loose_nr; lo += LOOSE_JOB) {
		if ((j = calloc(1, sizeof *j)) == NULL)
			return DOS_ENOMEM;
		j->type = JOB_LOOSE;
		j->lo = lo;
		j->hi = lo + LOOSE_JOB < f->loose_nr ? lo + LOOSE_JOB : f->loose_nr;
		submit(f, j);
	}
	return 0;
}

/* ---- layout and packs ---- */

int
check_layout(struct fsck *f)
{
	static const char *const dirs[] = { "packs", "index", NULL };
	struct stat sb;
	int i, rc = 0;

	for (i = 0; dirs[i] != NULL && rc == 0; i++) {
		if (fstatat(f->st->dirfd, dirs[i], &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			/* index/ appears with the first pack. */
			if (errno != ENOENT || i == 0)
				rc = add_finding(f, K_BAD_LAYOUT, NULL, dirs[i], 0, 0,
				    "%s", strerror(errno));
		} else if (!S_ISDIR(sb.st_mode)) {
			rc = add_finding(f, K_BAD_LAYOUT, NULL, dirs[i], 0, 0,
			    "not a directory");
		}
	}
	return rc;
}

/* Whether another process holds packs/lock: a writer is at work. */
int
writer_active(struct fsck *f)
{
	struct flock fl;
	int fd, held;

	fd = openat(f->st->dirfd, "packs/lock", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0)
		return 0;
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	held = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
	close(fd);
	return held;
}

void
close_packs(struct fsck *f)
{
	size_t i;

	for (i = 0; i < f->packs_nr; i++)
		if (f->packs[i].fd >= 0)
			close(f->packs[i].fd);
	free(f->packs);
	f->packs = NULL;
	f->packs_nr = 0;
}

struct pack *
find_pack(struct fsck *f, uint32_t num)
{
	size_t lo = 0, hi = f->packs_nr, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (f->packs[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->packs_nr && f->packs[lo].num == num ? &f->packs[lo] : NULL;
}

/* Open every pack and learn its size and committed length. */
int
open_packs(struct fsck *f)
{
	struct dos_index *ix;
	uint32_t *nums;
	struct stat sb;
	size_t nr, i;
	char path[32];
	int rc;

	if ((rc = dos_pack_list(f->st, &nums, &nr)) < 0)
		return add_finding(f, K_UNREADABLE, NULL, "packs", 0, 0, "%s",
		    dos_strerror(rc));
	if ((f->packs = calloc(nr + 1, sizeof *f->packs)) == NULL) {
		free(nums);
		return DOS_ENOMEM;
	}
	rc = dos_store_index(f->st, 0, &ix);
	for (i = 0; i < nr; i++) {
		struct pack *p = &f->packs[f->packs_nr];
		p->num = nums[i];
		snprintf(path, sizeof path, "packs/%u", p->num);
		if ((p->fd = dos_pack_open(f->st, p->num)) < 0 ||
		    fstat(p->fd, &sb) < 0) {
			if (errno == ENOENT)
				continue;	/* removed meanwhile */
			if ((rc = add_finding(f, K_UNREADABLE, NULL, path, p->num,
			    0, "%s", strerror(errno))) < 0)
				break;
			if (p->fd >= 0)
				close(p->fd);
			continue;
		}
		f->packs_nr++;
		p->size = (uint64_t)sb.st_size;
		p->has_length = rc == 0 &&
		    dos_index_get_pack_length(ix, p->num, &p->committed) == 0;
		p->limit = p->size;
		if (p->has_length && p->committed < p->limit)
			p->limit = p->committed;
		posix_fadvise(p->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	/* dos_pack_list() sorts: a writer numbers new packs upwards. */
	f->new_packs_from = nr > 0 ? nums[nr - 1] + 1 : 0;
	free(nums);
	return rc == DOS_ENOMEM ? rc : 0;
}

static struct ent *
job_ent(struct job *j)
{
	struct ent *grown;

	grown = dos_grow(j->ents, j->n, &j->alloc, sizeof *grown, 256);
	if (grown == NULL)
		return NULL;
	j->ents = grown;
	memset(&j->ents[j->n], 0, sizeof j->ents[j->n]);
	return &j->ents[j->n++];
}

static int
first_record(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	*(struct dos_oid *)data = *oid;
	return 1;
}

/*
 * 1 and its id in *oid if the index holds an id that the entry pe starts,
 * 0 if not (or there is no index), or a DOS_E* code.  For entries with no
 * record where they are, rare enough to look up in the index itself.
 */
static int
indexed_id(struct fsck *f, const struct dos_pack_entry *pe,
    struct dos_oid *oid)
{
	char hex[DOS_HEXSZ + 1];
	struct dos_index *ix;
	int rc;

	if (dos_store_index(f->st, 0, &ix) < 0)
		return 0;
	dos_oid_to_hex(&pe->oid, hex);
	rc = dos_index_walk(ix, hex, 2 * pe->id_size, first_record, oid);
	return rc < 0 ? rc : rc == 1;
}

/*
 * The whole id of an entry that holds only its start: the record there
 * has it (the records by offset, read forward as the walk goes).  Else (a
 * copy the index moved on from, or no index) it is the id of a record
 * that starts the same, or unknown: either way a worker hashes the bytes
 * to learn or confirm it (partial).
 */
static int
fill_ent(struct fsck *f, struct ent *e, const struct pack *p, uint64_t off,
    const struct dos_pack_entry *pe)
{
	const struct rec *r;
	int rc;

	e->oid = pe->oid;
	/* A group's members are known once a worker decodes it. */
	e->partial = (pe->flags & DOS_ENTRY_GROUP) != 0;
	if (pe->id_size < DOS_RAWSZ && !e->partial) {
		if ((rc = rec_at(f, p, off, &r)) < 0)
			return rc;
		if (r != NULL && dos_pack_entry_is(pe, &r->oid)) {
			e->oid = r->oid;
		} else {
			if ((rc = indexed_id(f, pe, &e->oid)) < 0)
				return rc;
			e->partial = 1;
		}
	}
	e->header_size = (unsigned char)pe->header_size;
	e->offset = off;
	e->stored = pe->stored_size;
	e->raw = pe->raw_size;
	e->pack = p->num;
	e->crc = pe->data_crc;
	e->codec = (unsigned char)pe->codec;
	e->dict = pe->dict;
	e->flags = (unsigned char)pe->flags;
	e->status = ENT_OK;
	return 0;
}

struct scan {
	struct fsck *f;
	struct pack *p;
	uint64_t garbage;	/* start of bytes that are no entry, or ~0 */
	struct job *j;		/* entries whose bytes are in the window */
	uint64_t done;		/* where the window was, for progress */
};

#define NO_GARBAGE (~(uint64_t)0)

/*
 * A pack of at most its header that the index has no length for: its
 * creation was cut short (the length is committed right after the header
 * is synced).  It holds nothing, and the next writer takes it over.
 */
int
is_unfinished(const struct pack *p)
{
	return !p->has_length && p->size <= DOS_PACK_HEADER_SIZE;
}

static int
end_garbage(struct scan *s, uint64_t at)
{
	uint64_t start = s->garbage;
	char path[32];

	if (start == NO_GARBAGE)
		return 0;
	s->garbage = NO_GARBAGE;
	snprintf(path, sizeof path, "packs/%u", s->p->num);
	return add_finding(s->f, K_GARBAGE, NULL, path, s->p->num, start,
	    "offset=%llu length=%llu", (unsigned long long)start,
	    (unsigned long long)(at - start));
}

/* A job for the entries of the next window, and the buffer it reads. */
static int
new_chunk(struct scan *s)
{
	if ((s->j = calloc(1, sizeof *s->j)) == NULL)
		return DOS_ENOMEM;
	s->j->type = JOB_CHUNK;
	s->j->pack = s->p;
	s->j->buf = take_buffer(s->f);
	return 0;
}

/* The window moves on: its entries go to the workers, with its buffer. */
static int
next_chunk(struct dos_pack_scan *ps, void *data)
{
	struct scan *s = data;
	int rc;

	s->f->bytes_done += ps->offset - s->done;
	s->done = ps->offset;
	progress(s->f, "checking packs", s->f->bytes_done, s->f->bytes_total);
	if (s->j->n == 0)
		return 0;	/* nothing points into it: read into it again */
	submit(s->f, s->j);
	if ((rc = new_chunk(s)) < 0)
		return rc;
	ps->buf = s->j->buf;
	return 0;
}

/* An entry larger than a chunk, or running past the end: its own job. */
static int
submit_large(struct scan *s, const struct dos_pack_scan *ps)
{
	struct job *large;
	struct ent *e;
	int rc;

	if ((large = calloc(1, sizeof *large)) == NULL ||
	    (e = job_ent(large)) == NULL) {
		free(large);
		return DOS_ENOMEM;
	}
	large->type = JOB_LARGE;
	large->pack = s->p;
	if ((rc = fill_ent(s->f, e, s->p, ps->offset, &ps->entry)) < 0 ||
	    ((e->flags & DOS_ENTRY_GROUP) &&
	    (rc = group_records(s->f, s->p, ps->offset, large)) < 0)) {
		free(large->members);
		free(large->ents);
		free(large);
		return rc;
	}
	if (ps->what == DOS_PACK_PAST_END)
		e->status = ENT_BOUNDS;
	else
		s->p->valid_end = ps->next;
	submit(s->f, large);
	return 0;
}

/*
 * Bytes that are no entry header.  When the index has a record there,
 * its sizes say where the entry ends; else they start bytes that are no
 * entry, and the walk goes on at the next good header in the window.
 */
static int
skip_bad_header(struct scan *s, struct dos_pack_scan *ps)
{
	struct pack *p = s->p;
	const struct rec *r;
	struct ent *e;
	uint64_t end;
	unsigned hsize;
	int rc;

	if ((rc = rec_at(s->f, p, ps->offset, &r)) < 0)
		return rc;
	/* A member's record does not have its group's sizes. */
	if (r != NULL && r->e.member != 0)
		r = NULL;
	hsize = r == NULL ? 0 : dos_pack_header_size(ps->version, r->e.codec, 0,
	    r->e.raw_size, r->e.stored_size);
	end = r != NULL && r->e.stored_size <= p->limit ? ps->offset +
	    hsize + r->e.stored_size : p->limit + 1;
	if (end <= p->limit) {
		if ((rc = end_garbage(s, ps->offset)) < 0)
			return rc;
		if ((e = job_ent(s->j)) == NULL)
			return DOS_ENOMEM;
		s->j->base = ps->start;
		e->oid = r->oid;
		e->offset = ps->offset;
		e->stored = r->e.stored_size;
		e->raw = r->e.raw_size;
		e->pack = p->num;
		e->codec = (unsigned char)r->e.codec;
		e->header_size = (unsigned char)hsize;
		e->status = ENT_BAD_HEADER;
		dos_pack_scan_seek(ps, end);
		return 0;
	}
	if (s->garbage == NO_GARBAGE)
		s->garbage = ps->offset;
	dos_pack_scan_seek(ps, dos_pack_scan_find(ps, ps->offset + 1));
	return 0;
}

/*
 * A format-2 header has no checksum of its own: what reads as one is an
 * entry (1) if the index's record there has the id it starts, or if its
 * checksum holds, or if the index knows an id it starts (a damaged copy
 * the index moved on from: rare, so looked up in the index itself).  Else
 * (0) it is a damaged header, or bytes that look like one.
 */
static int
is_entry(struct scan *s, const struct dos_pack_scan *ps)
{
	struct dos_oid oid;
	const struct rec *r;
	int rc;

	if (ps->entry.id_size == DOS_RAWSZ || ps->what != DOS_PACK_ENTRY)
		return 1;
	if ((rc = rec_at(s->f, s->p, ps->offset, &r)) < 0)
		return rc;
	if ((r != NULL && dos_pack_entry_is(&ps->entry, &r->oid)) ||
	    dos_pack_scan_entry_ok(ps))
		return 1;
	/* A group holds no id: a damaged one is one the index points into. */
	if (ps->entry.flags & DOS_ENTRY_GROUP)
		return r != NULL && r->e.member != 0;
	return indexed_id(s->f, &ps->entry, &oid);
}

/* One step of the walk: an entry, or what stands where one should. */
static int
scan_step(struct scan *s, struct dos_pack_scan *ps)
{
	struct ent *e;
	int rc;

	/* Before any entry goes to the workers. */
	s->p->version = ps->version;
	switch (ps->what) {
	case DOS_PACK_ENTRY:
	case DOS_PACK_PAST_END:
		if ((rc = is_entry(s, ps)) < 0)
			return rc;
		if (rc == 0)
			return skip_bad_header(s, ps);
		if ((rc = end_garbage(s, ps->offset)) < 0)
			return rc;
		if (ps->data == NULL)
			return submit_large(s, ps);
		if ((e = job_ent(s->j)) == NULL)
			return DOS_ENOMEM;
		s->j->base = ps->start;
		if ((rc = fill_ent(s->f, e, s->p, ps->offset, &ps->entry)) < 0 ||
		    ((e->flags & DOS_ENTRY_GROUP) && (rc = group_records(s->f,
		    s->p, ps->offset, s->j)) < 0))
			return rc;
		s->p->valid_end = ps->next;
		return 0;
	case DOS_PACK_BAD_HEADER:
		return skip_bad_header(s, ps);
	case DOS_PACK_NO_ROOM:
		/* Too short for a header: no entry. */
		if (s->garbage == NO_GARBAGE)
			s->garbage = ps->offset;
		return 0;
	case DOS_PACK_SHORT:
		/* The file shrank under the walk: unreadable, as on EIO. */
		return DOS_EIO;
	}
	return 0;
}

/*
 * Walk one pack front to back, in chunks of whole entries handed to the
 * workers.  A header that fails its checks starts bytes that are no entry;
 * the walk finds the next good header after them.  When the index has a
 * record at the damaged header, its sizes say where the entry ends.
 */
int
scan_pack(struct fsck *f, struct pack *p)
{
	struct scan s = { f, p, NO_GARBAGE, NULL, DOS_PACK_HEADER_SIZE };
	struct dos_pack_scan ps;
	unsigned char hdr[DOS_PACK_HEADER_SIZE];
	char path[32];
	unsigned version;
	int rc = 0, saved;

	snprintf(path, sizeof path, "packs/%u", p->num);
	if (!is_unfinished(p) &&
	    (pread(p->fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr ||
	    dos_pack_header_version(p->fd, &version) < 0)) {
		if ((rc = add_finding(f, K_BAD_PACK_HEADER, NULL, path, p->num,
		    0, "%s", "")) < 0)
			return rc;
	}
	p->valid_end = DOS_PACK_HEADER_SIZE;
	if ((rc = new_chunk(&s)) < 0)
		return rc;
	/* All of it up to the limit is committed: no torn tail to tell. */
	dos_pack_scan_begin(&ps, p->fd, p->limit, p->limit, s.j->buf,
	    CHUNK_SIZE);
	ps.refill = next_chunk;
	ps.refill_data = &s;
	while ((rc = dos_pack_scan_next(&ps)) > 0 &&
	    (rc = scan_step(&s, &ps)) == 0)
		;
	saved = errno;
	if (s.j->n > 0) {
		submit(f, s.j);
	} else {
		release_buffer(f, s.j->buf);
		free(s.j);
	}
	if (rc == DOS_EIO)
		return add_finding(f, K_UNREADABLE, NULL, path, p->num,
		    ps.offset, "offset=%llu: %s", (unsigned long long)ps.offset,
		    ps.what == DOS_PACK_SHORT ? "shorter than it was" :
		    strerror(saved));
	if (rc < 0)
		return rc;
	f->bytes_done += p->limit - s.done;
	progress(f, "checking packs", f->bytes_done, f->bytes_total);
	return end_garbage(&s, p->limit);
}

/*
 * Bytes past a pack's committed length (all of a pack without one) are
 * left by a killed writer only if they still are once the check is over:
 * a writer that started after the check began may have appended them (or
 * created the pack), and may have committed them since.
 */
static int
still_uncommitted(struct fsck *f, const struct pack *p)
{
	struct dos_index *ix;
	uint64_t committed;

	if (f->writer_active || writer_active(f))
		return 0;
	return dos_store_index(f->st, 0, &ix) < 0 ||
	    dos_index_get_pack_length(ix, p->num, &committed) < 0 ||
	    committed < p->size;
}

/*
 * Whether a writer changed the packs since they were measured: one is at
 * work, or was when the check began, a pack's committed length moved, or
 * a pack appeared.  Every change to the index holds packs/lock and moves a
 * committed length (or makes a pack), so when none of this happened, the
 * index did not change since the lengths were read either.
 */
static int
packs_moved_on(struct fsck *f)
{
	struct dos_index *ix;
	uint32_t *nums;
	uint64_t committed;
	size_t nr, i;
	int moved = 0, has;

	if (f->writer_active || writer_active(f))
		return 1;
	if (dos_store_index(f->st, 0, &ix) < 0 ||
	    dos_pack_list(f->st, &nums, &nr) < 0)
		return 1;
	moved = nr > 0 && nums[nr - 1] >= f->new_packs_from;
	free(nums);
	for (i = 0; i < f->packs_nr && !moved; i++) {
		struct pack *p = &f->packs[i];
		has = dos_index_get_pack_length(ix, p->num, &committed) == 0;
		moved = has != p->has_length || (has && committed != p->committed);
	}
	return moved;
}

/*
 * An entry that neither a record nor a later tombstone names was found
 * unindexed.  Unless the packs stayed as measured, a writer may have
 * packed it after the index was read and then deleted it, its tombstone
 * past what was scanned: this check cannot tell, and leaves it to the next.
 */
void
drop_unsure_unindexed(struct fsck *f)
{
	size_t i, kept = 0;

	for (i = 0; i < f->fs_nr && f->fs[i].kind != K_UNINDEXED; i++)
		;
	if (i == f->fs_nr || !packs_moved_on(f))
		return;
	for (i = 0; i < f->fs_nr; i++) {
		if (f->fs[i].kind == K_UNINDEXED) {
			free(f->fs[i].path);
			free(f->fs[i].detail);
		} else {
			f->fs[kept++] = f->fs[i];
		}
	}
	f->fs_nr = kept;
}

/*
 * Whether the next pack writer cleans what no commit covers in a pack: it
 * continues the newest pack, taking over an unfinished one and cutting
 * off a torn tail, unless the header is damaged (open_current_pack() in
 * pack-write.c).  Only then is it the trace of a killed writer, a notice;
 * anywhere else it stays until fsck --repair, and is a problem.
 */
static int
next_writer_cleans(const struct fsck *f, const struct pack *p)
{
	return p->num + 1 == f->new_packs_from &&
	    (is_unfinished(p) || dos_pack_check_header(p->fd) == 0);
}

/* The bytes of pack p from offset from on, which no commit covers. */
static int
uncommitted(struct fsck *f, const struct pack *p, enum kind kind,
    const char *path, uint64_t from, const char *detail)
{
	if (next_writer_cleans(f, p))
		return add_notice(f, kind, path, p->num, p->size - from, "%s",
		    detail);
	return add_finding(f, kind, NULL, path, p->num, from, "%s", detail);
}

/* Findings about each pack as a whole. */
int
check_pack_lengths(struct fsck *f)
{
	char path[32], detail[64];
	size_t i;
	int rc = 0;

	for (i = 0; i < f->packs_nr && rc == 0; i++) {
		struct pack *p = &f->packs[i];
		snprintf(path, sizeof path, "packs/%u", p->num);
		if (is_unfinished(p)) {
			snprintf(detail, sizeof detail, "length=%llu",
			    (unsigned long long)p->size);
			if (still_uncommitted(f, p))
				rc = uncommitted(f, p, K_UNFINISHED_PACK, path,
				    0, detail);
		} else if (!p->has_length) {
			if (f->index_present && f->index_ok &&
			    p->valid_end > DOS_PACK_HEADER_SIZE)
				rc = add_finding(f, K_NO_PACK_LENGTH, NULL, path,
				    p->num, 0, "%s", "");
		} else if (p->committed > p->size) {
			rc = add_finding(f, K_TRUNCATED_PACK, NULL, path, p->num,
			    0, "length=%llu committed=%llu",
			    (unsigned long long)p->size,
			    (unsigned long long)p->committed);
		} else if (p->committed < p->size && still_uncommitted(f, p)) {
			snprintf(detail, sizeof detail, "offset=%llu length=%llu",
			    (unsigned long long)p->committed,
			    (unsigned long long)(p->size - p->committed));
			rc = uncommitted(f, p, K_TORN_TAIL, path, p->committed,
			    detail);
		}
	}
	return rc;
}

/* Entries need their dictionary whole: a damaged one is a finding. */
int
check_dicts(struct fsck *f)
{
	unsigned char *buf;
	uint32_t *list;
	size_t nr, i, len;
	char path[32];
	int rc;

	if ((rc = dos_dict_list(f->st, &list, &nr)) < 0)
		return rc;
	for (i = 0; i < nr && rc == 0; i++) {
		rc = dos_dict_read(f->st, list[i], &buf, &len);
		free(buf);
		snprintf(path, sizeof path, "dicts/%u", list[i]);
		if (rc == DOS_ENODICT)
			rc = add_finding(f, K_BAD_DICT, NULL, path, 0, 0, "%s",
			    dos_dict_last_error());
	}
	free(list);
	return rc;
}
