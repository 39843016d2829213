/*
 * extsort.c: sorting more fixed-size records than memory should hold.
 *
 * Records collect in a buffer of at most the memory budget.  While they
 * fit, they are sorted there and handed out from there.  When the buffer
 * fills, it is sorted and written out as a run to one temp file in
 * sandbox/; at the end the runs are merged with a heap, each read through
 * its own share of the budget.  Memory stays within about the budget
 * whatever the number of records; the temp file holds them all once.
 *
 * The temp file is unlinked as soon as it is made, so it goes with the
 * process however that ends; only a process killed between the two
 * steps leaves it, under a name that says its pid, for gc to remove.  A
 * process that may not write the container (fsck of a read-only one)
 * makes it in $TMPDIR instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dos.h"

#define READ_MAX (1U << 20)	/* bytes read from one run at a time */

struct run {
	uint64_t start, end;	/* where it lies in the temp file */
	uint64_t next;		/* its first byte not yet read */
	unsigned char *buf;
	size_t pos, len;	/* the records of buf not yet handed out */
};

struct dos_sort {
	struct dos_store *st;
	size_t recsize;
	dos_sort_cmp_fn *cmp;
	size_t cap;		/* records the buffer may hold */
	unsigned char *buf;
	size_t nr, alloc;
	int fd;			/* the temp file, once a run is written */
	uint64_t written;
	struct run *runs;
	size_t runs_nr, runs_alloc;
	size_t *heap;		/* runs by their next record, least first */
	size_t heap_nr;
	size_t pos;		/* in memory: the next record of buf */
	size_t readsize;	/* bytes of each run's read buffer */
	int finished;
};

/* The budget, or DOS_SORT_MEMORY when set (documented in dos(7)). */
static size_t
memory_budget(size_t budget)
{
	const char *env = getenv("DOS_SORT_MEMORY");
	size_t n;
	char trail;

	if (env == NULL || sscanf(env, "%zu%c", &n, &trail) != 1 || n == 0)
		return budget;
	return n;
}

int
dos_sort_open(struct dos_store *st, size_t recsize, dos_sort_cmp_fn *cmp,
    size_t budget, struct dos_sort **out)
{
	struct dos_sort *s;

	*out = NULL;
	if (recsize == 0)
		return DOS_EINVAL;
	if ((s = calloc(1, sizeof *s)) == NULL)
		return DOS_ENOMEM;
	s->st = st;
	s->recsize = recsize;
	s->cmp = cmp;
	/*
	 * Half the budget holds records, as qsort may take as much again
	 * (glibc's sorts a copy); two at least, or a run would hold one.
	 */
	s->cap = memory_budget(budget) / 2 / recsize;
	if (s->cap < 2)
		s->cap = 2;
	s->fd = -1;
	*out = s;
	return 0;
}

static int
is_sorted(const struct dos_sort *s)
{
	size_t i;

	for (i = 1; i < s->nr; i++)
		if (s->cmp(s->buf + (i - 1) * s->recsize,
		    s->buf + i * s->recsize) > 0)
			return 0;
	return 1;
}

/* Records that come sorted (an index walk) skip qsort's n log n. */
static void
sort_buffer(struct dos_sort *s)
{
	if (s->nr > 1 && !is_sorted(s))
		qsort(s->buf, s->nr, s->recsize, s->cmp);
}

static int
write_all(int fd, const unsigned char *p, size_t len, uint64_t off)
{
	ssize_t n;

	while (len > 0) {
		if ((n = pwrite(fd, p, len, (off_t)off)) < 0) {
			if (errno == EINTR)
				continue;
			return DOS_EIO;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* The temp file, made and unlinked at once (see the top). */
static int
open_temp(struct dos_sort *s)
{
	const char *dir = getenv("TMPDIR");
	char name[PATH_MAX];

	s->fd = dos_temp_create(s->st, "sort-temp-create", O_RDWR, name,
	    sizeof name);
	if (s->fd >= 0)
		return dos_step_unlink("sort-temp-unlink", s->st->tmpfd,
		    name) < 0 ? DOS_EIO : 0;
	if (errno != EACCES && errno != EPERM && errno != EROFS)
		return DOS_EIO;
	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	snprintf(name, sizeof name, "%s/dos-sort-XXXXXX", dir);
	if ((s->fd = mkostemp(name, O_CLOEXEC)) < 0 || unlink(name) < 0)
		return DOS_EIO;
	return 0;
}

/* The buffer, sorted, becomes the next run of the temp file. */
static int
spill(struct dos_sort *s)
{
	struct run *grown;
	size_t len = s->nr * s->recsize;
	int rc;

	if (s->fd < 0 && (rc = open_temp(s)) < 0)
		return rc;
	grown = dos_grow(s->runs, s->runs_nr, &s->runs_alloc, sizeof *grown, 16);
	if (grown == NULL)
		return DOS_ENOMEM;
	s->runs = grown;
	sort_buffer(s);
	if ((rc = write_all(s->fd, s->buf, len, s->written)) < 0)
		return rc;
	memset(&s->runs[s->runs_nr], 0, sizeof s->runs[s->runs_nr]);
	s->runs[s->runs_nr].start = s->written;
	s->runs[s->runs_nr].end = s->written + len;
	s->runs_nr++;
	s->written += len;
	s->nr = 0;
	return 0;
}

int
dos_sort_add(struct dos_sort *s, const void *rec)
{
	unsigned char *grown;
	size_t bytes;
	int rc;

	if (s->finished)
		return DOS_EINVAL;
	if (s->nr == s->cap && (rc = spill(s)) < 0)
		return rc;
	if (s->nr == s->alloc) {
		/* Grown as needed: a small sort never takes the budget. */
		s->alloc = s->alloc == 0 ? 1024 : s->alloc * 2;
		if (s->alloc > s->cap)
			s->alloc = s->cap;
		bytes = s->alloc * s->recsize;
		if ((grown = realloc(s->buf, bytes)) == NULL)
			return DOS_ENOMEM;
		s->buf = grown;
	}
	memcpy(s->buf + s->nr * s->recsize, rec, s->recsize);
	s->nr++;
	return 0;
}

/* Read the next records of run r into its buffer; its len is 0 at its end. */
static int
refill(struct dos_sort *s, struct run *r)
{
	uint64_t left = r->end - r->next;
	size_t want = left < s->readsize ? (size_t)left : s->readsize;
	ssize_t n;

	r->pos = r->len = 0;
	while (r->len < want) {
		n = pread(s->fd, r->buf + r->len, want - r->len,
		    (off_t)(r->next + r->len));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* the temp file shrank */
			return DOS_EIO;
		}
		r->len += (size_t)n;
	}
	r->next += r->len;
	return 0;
}

static int
run_less(struct dos_sort *s, size_t a, size_t b)
{
	const struct run *x = &s->runs[a], *y = &s->runs[b];
	int c = s->cmp(x->buf + x->pos, y->buf + y->pos);

	/* Equal records come out in the order they went in. */
	return c < 0 || (c == 0 && a < b);
}

static void
sift_down(struct dos_sort *s, size_t i)
{
	size_t least, l, tmp;

	for (;;) {
		least = i;
		l = 2 * i + 1;
		if (l < s->heap_nr && run_less(s, s->heap[l], s->heap[least]))
			least = l;
		if (l + 1 < s->heap_nr &&
		    run_less(s, s->heap[l + 1], s->heap[least]))
			least = l + 1;
		if (least == i)
			return;
		tmp = s->heap[i];
		s->heap[i] = s->heap[least];
		s->heap[least] = tmp;
		i = least;
	}
}

/* Every run read again from its start, the heap made anew. */
static int
start_merge(struct dos_sort *s)
{
	size_t i;
	int rc;

	s->heap_nr = 0;
	for (i = 0; i < s->runs_nr; i++) {
		struct run *r = &s->runs[i];
		r->next = r->start;
		if ((rc = refill(s, r)) < 0)
			return rc;
		if (r->len > 0)
			s->heap[s->heap_nr++] = i;
	}
	for (i = s->heap_nr / 2; i > 0; i--)
		sift_down(s, i - 1);
	return 0;
}

int
dos_sort_finish(struct dos_sort *s)
{
	size_t i;
	int rc;

	if (s->finished)
		return DOS_EINVAL;
	s->finished = 1;
	if (s->runs_nr == 0) {
		sort_buffer(s);
		return 0;
	}
	if (s->nr > 0 && (rc = spill(s)) < 0)
		return rc;
	free(s->buf);
	s->buf = NULL;
	s->alloc = 0;
	/* The runs share the buffer's room: whole records, one at least. */
	s->readsize = s->cap * s->recsize / s->runs_nr;
	if (s->readsize > READ_MAX)
		s->readsize = READ_MAX;
	s->readsize -= s->readsize % s->recsize;
	if (s->readsize < s->recsize)
		s->readsize = s->recsize;
	if ((s->heap = calloc(s->runs_nr, sizeof *s->heap)) == NULL)
		return DOS_ENOMEM;
	for (i = 0; i < s->runs_nr; i++)
		if ((s->runs[i].buf = malloc(s->readsize)) == NULL)
			return DOS_ENOMEM;
	return start_merge(s);
}

int
dos_sort_next(struct dos_sort *s, void *rec)
{
	struct run *r;
	int rc;

	if (!s->finished)
		return DOS_EINVAL;
	if (s->runs_nr == 0) {
		if (s->pos == s->nr)
			return 0;
		memcpy(rec, s->buf + s->pos++ * s->recsize, s->recsize);
		return 1;
	}
	if (s->heap_nr == 0)
		return 0;
	r = &s->runs[s->heap[0]];
	memcpy(rec, r->buf + r->pos, s->recsize);
	r->pos += s->recsize;
	if (r->pos == r->len) {
		if ((rc = refill(s, r)) < 0)
			return rc;
		if (r->len == 0)
			s->heap[0] = s->heap[--s->heap_nr];
	}
	sift_down(s, 0);
	return 1;
}

int
dos_sort_rewind(struct dos_sort *s)
{
	if (!s->finished)
		return DOS_EINVAL;
	s->pos = 0;
	return s->runs_nr == 0 ? 0 : start_merge(s);
}

void
dos_sort_close(struct dos_sort *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->runs_nr; i++)
		free(s->runs[i].buf);
	free(s->runs);
	free(s->heap);
	free(s->buf);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}
