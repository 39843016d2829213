/*
 * journal.c: index records held back from the index, loaded in id order.
 *
 * Index records put in random id order cost a leaf each: once the index
 * is many times larger than its cache, every record reads a page and
 * writes it back, and migrating 10^7 objects went at a third of the
 * speed it could.  A writer that defers its records (dos migrate) makes
 * each batch's records durable in the journal, the file index-journal of
 * the container, before it commits the pack length that covers their
 * entries; at the end the journal is sorted by id (lib/extsort.c) and
 * put into the index in that order, so that each leaf is visited once
 * and filled.
 *
 * Until then the index lacks those objects.  A writer killed before it
 * loaded the journal leaves it behind, and the next pack writer loads it
 * first, before it cuts the torn tail: a record whose entry starts at or
 * past its pack's committed length belongs to a batch whose commit never
 * happened, and is dropped with that tail.  Loading again what was
 * loaded already puts the same records again, so a load killed midway is
 * simply done again.
 *
 * A record is 64 bytes, little-endian: the id, then pack (4), codec (1),
 * offset, stored size and raw size (8 each), and 3 bytes of zeros.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dos.h"

#define JOURNAL_RECORD 64
/* Records read or written at once. */
#define JOURNAL_CHUNK 4096
/*
 * The sort's memory: the journal's loader runs within dos migrate's
 * 128 MiB, next to the index cache; more runs cost little.
 */
#define JOURNAL_SORT_BUDGET (16U << 20)

static void
encode_record(unsigned char *p, const struct dos_index_record *r)
{
	memcpy(p, r->oid.hash, DOS_RAWSZ);
	dos_put_le32(p + 32, r->entry.pack);
	p[36] = (unsigned char)r->entry.codec;
	dos_put_le64(p + 37, r->entry.offset);
	dos_put_le64(p + 45, r->entry.stored_size);
	dos_put_le64(p + 53, r->entry.raw_size);
	memset(p + 61, 0, JOURNAL_RECORD - 61);
}

static void
decode_record(struct dos_index_record *r, const unsigned char *p)
{
	memset(r, 0, sizeof *r);
	memcpy(r->oid.hash, p, DOS_RAWSZ);
	r->entry.pack = dos_get_le32(p + 32);
	r->entry.codec = (enum dos_codec)p[36];
	r->entry.offset = dos_get_le64(p + 37);
	r->entry.stored_size = dos_get_le64(p + 45);
	r->entry.raw_size = dos_get_le64(p + 53);
}

int
dos_journal_open(struct dos_store *st, struct dos_journal *j)
{
	off_t end;

	j->fd = dos_step_create("journal-create", st->dirfd, DOS_JOURNAL,
	    O_WRONLY, 0644);
	if (j->fd < 0)
		return DOS_EIO;
	if ((end = lseek(j->fd, 0, SEEK_END)) < 0 ||
	    dos_step_fsync("journal-dir-fsync", st->dirfd) < 0) {
		dos_journal_close(j);
		return DOS_EIO;
	}
	/* A torn record of a killed writer is written over. */
	j->end = (uint64_t)end - (uint64_t)end % JOURNAL_RECORD;
	return 0;
}

int
dos_journal_write(struct dos_journal *j, const struct dos_index_record *recs,
    size_t n)
{
	unsigned char buf[JOURNAL_CHUNK * JOURNAL_RECORD];
	size_t i, k;

	for (i = 0; i < n; i += k) {
		for (k = 0; k < JOURNAL_CHUNK && i + k < n; k++)
			encode_record(buf + k * JOURNAL_RECORD, &recs[i + k]);
		if (dos_step_pwrite("journal-write", j->fd, buf,
		    k * JOURNAL_RECORD, j->end) < 0)
			return DOS_EIO;
		j->end += k * JOURNAL_RECORD;
	}
	return dos_step_fdatasync("journal-fdatasync", j->fd) < 0 ? DOS_EIO : 0;
}

void
dos_journal_close(struct dos_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

/*
 * Sort the records whose entries a commit covers.  Batches come in pack
 * order, so the committed length is looked up once a pack.
 */
static int
sort_committed(struct dos_index *ix, int fd, struct dos_sort *s)
{
	unsigned char *buf;
	struct dos_index_record r;
	uint64_t committed = 0;
	uint32_t pack = 0;
	ssize_t n;
	size_t i;
	int rc = 0, known = 0;

	if ((buf = malloc(JOURNAL_CHUNK * JOURNAL_RECORD)) == NULL)
		return DOS_ENOMEM;
	while (rc == 0 &&
	    (n = dos_read_full(fd, buf, JOURNAL_CHUNK * JOURNAL_RECORD)) > 0) {
		for (i = 0; rc == 0 && i + JOURNAL_RECORD <= (size_t)n;
		    i += JOURNAL_RECORD) {
			decode_record(&r, buf + i);
			if (!known || r.entry.pack != pack) {
				pack = r.entry.pack;
				known = 1;
				rc = dos_index_get_pack_length(ix, pack,
				    &committed);
				if (rc == DOS_ENOTFOUND) {
					committed = 0;
					rc = 0;
				}
			}
			if (rc == 0 && r.entry.offset < committed)
				rc = dos_sort_add(s, &r);
		}
	}
	if (rc == 0 && n < 0)
		rc = DOS_EIO;
	free(buf);
	return rc;
}

typedef int put_batch_fn(void *arg, const struct dos_index_record *recs,
    size_t n, int last);

/*
 * The records of s, sorted, in batches of at most DOS_INDEX_TXN_RECORDS
 * to put (the last one said so); of records of one id, the last.
 */
static int
put_batches(struct dos_sort *s, put_batch_fn *put, void *arg)
{
	struct dos_index_record *recs, next;
	size_t n = 0;
	int rc = 0, more;

	if ((recs = malloc(DOS_INDEX_TXN_RECORDS * sizeof *recs)) == NULL)
		return DOS_ENOMEM;
	do {
		if ((more = dos_sort_next(s, &next)) < 0) {
			rc = more;
			break;
		}
		if (more && n > 0 && dos_oid_cmp(&recs[n - 1].oid,
		    &next.oid) == 0) {
			recs[n - 1] = next;
			continue;
		}
		if (n == DOS_INDEX_TXN_RECORDS || (!more && n > 0)) {
			if ((rc = put(arg, recs, n, !more)) < 0)
				break;
			n = 0;
		}
		if (more)
			recs[n++] = next;
		rc = 0;
	} while (more);
	free(recs);
	return rc;
}

/*
 * Only the last commit waits for the disk: the log is written in order,
 * so it makes the others durable too, and a load killed before it is
 * done again whole from the journal.
 */
static int
put_committed(void *arg, const struct dos_index_record *recs, size_t n,
    int last)
{
	struct dos_index *ix = arg;
	int rc;

	if ((rc = dos_index_begin(ix)) < 0)
		return rc;
	if ((rc = dos_index_put_sorted(ix, recs, n)) < 0 ||
	    (rc = last ? dos_index_commit(ix) :
	    dos_index_commit_nosync(ix)) < 0)
		dos_index_abort(ix);
	return rc;
}

int
dos_journal_put_sorted(struct dos_index *ix, struct dos_sort *s)
{
	return put_batches(s, put_committed, ix);
}

static int
put_built(void *arg, const struct dos_index_record *recs, size_t n, int last)
{
	return dos_index_build_put(arg, recs, n);
}

/*
 * Built in sandbox/, under a temp file's name (into tmp), so that a
 * process killed meanwhile leaves a file gc removes; put in place by
 * dos_journal_place_index, whole, never over an objects.db there.  The
 * first writer to open the index syncs index/ and its entry before it
 * commits anything (dos_index_open).
 */
int
dos_journal_build_index(struct dos_store *st, struct dos_sort *s, char *tmp,
    size_t size)
{
	struct dos_index *b = NULL;
	char *path;
	size_t len;
	int fd, rc, closed, built = 0;

	if (faccessat(st->dirfd, "index/objects.db", F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno != ENOENT || (dos_step_mkdir("index-mkdir", st->dirfd,
	    "index", 0777) < 0 && errno != EEXIST))
		return DOS_EIO;
	/* A name no other file has: Berkeley DB creates the file. */
	if ((fd = dos_temp_create(st, "index-build-create", O_WRONLY, tmp,
	    size)) < 0)
		return DOS_EIO;
	close(fd);
	if (dos_step_unlink("index-build-unlink", st->tmpfd, tmp) < 0)
		return DOS_EIO;
	len = strlen(st->path) + sizeof "/sandbox/" + strlen(tmp);
	if ((path = malloc(len)) == NULL)
		return DOS_ENOMEM;
	snprintf(path, len, "%s/sandbox/%s", st->path, tmp);
	if ((rc = dos_index_build_open(path, &b)) == 0) {
		built = 1;
		rc = put_batches(s, put_built, b);
		closed = dos_index_build_close(b, rc == 0);
		if (rc == 0)
			rc = closed;
	}
	if (rc < 0 && built)
		dos_step_unlink("index-build-unlink", st->tmpfd, tmp);
	free(path);
	return rc;
}

int
dos_journal_place_index(struct dos_store *st, const char *tmp, int rc)
{
	if (rc == 0 && dos_step_rename("index-build-rename", st->tmpfd, tmp,
	    st->dirfd, "index/objects.db", RENAME_NOREPLACE) < 0)
		rc = DOS_EIO;
	if (rc < 0)
		dos_step_unlink("index-build-unlink", st->tmpfd, tmp);
	return rc;
}

/* Sort the journal's committed records and put them; 1 if there is none. */
static int
load(struct dos_store *st, struct dos_index *ix)
{
	struct dos_sort *s = NULL;
	int fd, rc;

	fd = openat(st->dirfd, DOS_JOURNAL, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : DOS_EIO;
	if ((rc = dos_sort_open(st, sizeof(struct dos_index_record),
	    dos_index_record_cmp, JOURNAL_SORT_BUDGET, &s)) == 0 &&
	    (rc = sort_committed(ix, fd, s)) == 0 &&
	    (rc = dos_sort_finish(s)) == 0)
		rc = dos_journal_put_sorted(ix, s);
	dos_sort_close(s);
	close(fd);
	return rc;
}

/*
 * A load that another process's death or lock held too long stopped is
 * done again whole: the recovery that reopening may run can lose the
 * transactions it committed without waiting for the disk.
 */
int
dos_journal_load(struct dos_store *st, struct dos_index *ix)
{
	int rc, tries;

	for (tries = 1; (rc = load(st, ix)) < 0 &&
	    dos_index_again(ix, &rc, tries); tries++)
		continue;
	if (rc != 0)
		return rc < 0 ? rc : 0;
	/* Gone for good before anything else changes the index. */
	if (dos_step_unlink("journal-unlink", st->dirfd, DOS_JOURNAL) < 0 ||
	    dos_step_fsync("journal-dir-fsync", st->dirfd) < 0)
		return DOS_EIO;
	return 0;
}
