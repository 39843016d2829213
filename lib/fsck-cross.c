/*
 * fsck-cross.c: the cross-check of dos fsck.  The pack entries (sorted by
 * id), the index records and the loose objects are merged by id, and each
 * id's group says what is wrong: damage in a copy that matters, a record
 * that points at no entry, an entry the index lost, an object with no
 * good copy left.  Repair walks the same merge.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsck-int.h"

/* ---- the cross-check ---- */

static int
cmp_ent(const void *pa, const void *pb)
{
	const struct ent *a = pa, *b = pb;
	int c = dos_oid_cmp(&a->oid, &b->oid);

	if (c != 0)
		return c;
	if (a->pack != b->pack)
		return a->pack < b->pack ? -1 : 1;
	return a->offset < b->offset ? -1 : a->offset > b->offset;
}

int
cmp_loose(const void *pa, const void *pb)
{
	return dos_oid_cmp(&((const struct loose *)pa)->oid,
	    &((const struct loose *)pb)->oid);
}

static const char *
why_text(const struct ent *e)
{
	switch (e->why) {
	case WHY_TRUNCATED:
		return "the stream ends early";
	case WHY_TRAILING:
		return "data after the end of the stream";
	case WHY_TOMBSTONE:
		return "a tombstone that holds data";
	}
	return "undecodable";
}

/* The finding for one damaged entry. */
static int
report_ent(struct fsck *f, const struct ent *e)
{
	unsigned long long off = (unsigned long long)e->offset;

	switch ((enum ent_status)e->status) {
	case ENT_OK:
		return 0;
	case ENT_CRC:
		return add_finding(f, K_CRC, &e->oid, NULL, e->pack, e->offset,
		    "pack %u offset=%llu", e->pack, off);
	case ENT_CORRUPT:
		return add_finding(f, K_CORRUPT, &e->oid, NULL, e->pack,
		    e->offset, "pack %u offset=%llu %s: %s", e->pack, off,
		    dos_codec_name((enum dos_codec)e->codec), why_text(e));
	case ENT_SIZE:
		return add_finding(f, K_SIZE, &e->oid, NULL, e->pack, e->offset,
		    "pack %u offset=%llu expected=%llu actual=%llu", e->pack, off,
		    (unsigned long long)e->raw, (unsigned long long)e->actual);
	case ENT_HASH:
		return add_finding(f, K_HASH, &e->oid, NULL, e->pack, e->offset,
		    "pack %u offset=%llu", e->pack, off);
	case ENT_BOUNDS:
		return add_finding(f, K_OUT_OF_BOUNDS, &e->oid, NULL, e->pack,
		    e->offset, "pack %u offset=%llu length=%llu", e->pack, off,
		    (unsigned long long)(e->header_size + e->stored));
	case ENT_BAD_HEADER:
		return add_finding(f, K_BAD_HEADER, &e->oid, NULL, e->pack,
		    e->offset, "pack %u offset=%llu", e->pack, off);
	case ENT_IO:
		return add_finding(f, K_UNREADABLE, &e->oid, NULL, e->pack,
		    e->offset, "pack %u offset=%llu: %s", e->pack, off,
		    strerror((int)e->actual));
	}
	return 0;
}

static int
report_loose(struct fsck *f, const struct loose *l)
{
	char name[DOS_HEXSZ + 2];

	dos_loose_name(f->st, &l->oid, name, sizeof name);
	switch ((enum loose_status)l->status) {
	case LOOSE_HASH:
		return add_finding(f, K_HASH, &l->oid, NULL, 0, 0, "loose/%s",
		    name);
	case LOOSE_BAD_FILE:
		return add_finding(f, K_BAD_FILE, &l->oid, NULL, 0, 0,
		    "loose/%s not a regular file", name);
	case LOOSE_IO:
		return add_finding(f, K_UNREADABLE, &l->oid, NULL, 0, 0,
		    "loose/%s: %s", name, strerror(l->err));
	default:
		return 0;
	}
}

/* Entries from this one on are not deleted: none after a tombstone. */
size_t
live_from(const struct group *g)
{
	size_t i, from = 0;

	for (i = 0; i < g->n; i++)
		if (g->ents[i].flags & DOS_ENTRY_TOMBSTONE)
			from = i + 1;
	return from;
}

int
ent_good(const struct ent *e)
{
	return e->status == ENT_OK && !(e->flags & DOS_ENTRY_TOMBSTONE);
}

/* The entry the record points at, if there is one. */
struct ent *
rec_target(const struct group *g)
{
	size_t i;

	if (g->rec == NULL)
		return NULL;
	for (i = 0; i < g->n; i++)
		if (g->ents[i].pack == g->rec->e.pack &&
		    g->ents[i].offset == g->rec->e.offset &&
		    !(g->ents[i].flags & DOS_ENTRY_TOMBSTONE))
			return &g->ents[i];
	return NULL;
}

/*
 * An entry at or past what was scanned of its pack (its committed length
 * when measured) was appended by a writer at work during the check, whose
 * record was read before the writer committed it.  Fine while the writer
 * is still at work, or once its batch is committed.
 */
/* The bytes of the entry a record describes, header included. */
static uint64_t
rec_length(const struct pack *p, const struct dos_index_entry *e)
{
	return dos_pack_header_size(p->version, e->codec, 0, e->raw_size,
	    e->stored_size) + e->stored_size;
}

static int
appended_during_check(struct fsck *f, const struct dos_index_entry *e)
{
	struct pack *p = find_pack(f, e->pack);
	struct dos_index *ix;
	uint64_t committed;

	if (p == NULL || e->offset < p->limit || e->offset >= p->size)
		return 0;
	if (f->writer_active || writer_active(f))
		return 1;
	return dos_store_index(f->st, 0, &ix) == 0 &&
	    dos_index_get_pack_length(ix, p->num, &committed) == 0 &&
	    e->offset + rec_length(p, e) <= committed;
}

/* Why a record is wrong, or NULL if it points at its entry. */
static const char *
rec_problem(struct fsck *f, const struct group *g, enum kind *kind)
{
	const struct rec *r = g->rec;
	struct ent *t = rec_target(g);
	struct pack *p = find_pack(f, r->e.pack);

	*kind = K_BAD_RECORD;
	if (t != NULL)
		return t->codec != r->e.codec || t->raw != r->e.raw_size ||
		    t->stored != r->e.stored_size ?
		    "the entry there has other sizes" : NULL;
	if (p == NULL) {
		*kind = K_MISSING;
		return "";
	}
	if (appended_during_check(f, &r->e))
		return NULL;
	if (r->e.offset + rec_length(p, &r->e) > p->size ||
	    r->e.stored_size > p->size) {
		*kind = K_OUT_OF_BOUNDS;
		return "";
	}
	return "no entry of this object there";
}

/*
 * Is the record still what it was?  A writer, packer or collector at work
 * while the check ran may have changed it; only a record that did not
 * change is reported.
 */
static int
rec_unchanged(struct fsck *f, const struct dos_oid *oid,
    const struct dos_index_entry *was)
{
	struct dos_index_entry now;
	struct dos_index *ix;
	int rc;

	if (dos_store_index(f->st, 0, &ix) < 0)
		return 1;
	rc = dos_index_get(ix, oid, &now);
	if (was == NULL)
		return rc == DOS_ENOTFOUND;
	return rc == 0 && now.pack == was->pack && now.offset == was->offset;
}

static int
check_group(struct fsck *f, struct group *g)
{
	unsigned long long off;
	struct ent *t;
	const char *why;
	enum kind kind;
	size_t i, from = live_from(g);
	int rc = 0, live, good = 0;

	t = rec_target(g);
	/*
	 * Damage matters in the entry the index points at, or in entries
	 * that may be the object's only copy; the others are garbage that
	 * repack drops anyway.
	 */
	for (i = 0; i < g->n && rc == 0; i++)
		if (&g->ents[i] == t || (g->rec == NULL && i >= from))
			rc = report_ent(f, &g->ents[i]);
	if (g->loose != NULL && rc == 0)
		rc = report_loose(f, g->loose);
	if (rc < 0)
		return rc;
	live = g->rec != NULL || (g->loose != NULL &&
	    g->loose->status != LOOSE_GONE);
	for (i = from; i < g->n; i++)
		good |= ent_good(&g->ents[i]);
	if (t != NULL)
		good |= ent_good(t);
	if (g->loose != NULL)
		good |= g->loose->status == LOOSE_OK ||
		    g->loose->status == LOOSE_UNCHECKED;
	if (f->what & DOS_FSCK_WHAT_INDEX) {
		if (g->rec != NULL &&
		    (why = rec_problem(f, g, &kind)) != NULL &&
		    rec_unchanged(f, g->oid, &g->rec->e)) {
			off = (unsigned long long)g->rec->e.offset;
			if (kind == K_OUT_OF_BOUNDS)
				rc = add_finding(f, kind, g->oid, NULL,
				    g->rec->e.pack, g->rec->e.offset,
				    "pack %u offset=%llu length=%llu",
				    g->rec->e.pack, off, (unsigned long long)
				    rec_length(find_pack(f, g->rec->e.pack),
				    &g->rec->e));
			else
				rc = add_finding(f, kind, g->oid, NULL,
				    g->rec->e.pack, g->rec->e.offset,
				    "pack %u offset=%llu%s%s", g->rec->e.pack, off,
				    *why != '\0' ? " " : "", why);
		} else if (g->rec == NULL && from < g->n && f->index_present &&
		    f->index_ok && !(g->ents[g->n - 1].flags &
		    DOS_ENTRY_TOMBSTONE) && rec_unchanged(f, g->oid, NULL)) {
			/* A live entry the index lost. */
			live = 1;
			off = (unsigned long long)g->ents[g->n - 1].offset;
			rc = add_finding(f, K_UNINDEXED, g->oid, NULL,
			    g->ents[g->n - 1].pack, g->ents[g->n - 1].offset,
			    "pack %u offset=%llu", g->ents[g->n - 1].pack, off);
		}
	}
	/* A record that changed meanwhile points at a copy made since. */
	if (rc == 0 && live && !good && (g->rec == NULL ||
	    (rec_unchanged(f, g->oid, &g->rec->e) &&
	    !appended_during_check(f, &g->rec->e))))
		rc = add_finding(f, K_LOST, g->oid, NULL, 0, 0, "%s", "");
	for (i = 0; i < g->n; i++)
		if (&g->ents[i] != t) {
			f->stats.garbage_entries++;
			f->stats.garbage_bytes += g->ents[i].header_size +
			    g->ents[i].stored;
		}
	if (live)
		f->stats.objects++;
	return rc;
}

/*
 * Sort entries by id, then pack and offset, without qsort's n log n
 * comparisons: an in-place bucket sort on the ids' buckets, then an
 * insertion sort (see dos_oid_bucket_bits).
 */
static int
sort_ents(struct ent *v, size_t n)
{
	unsigned bits = dos_oid_bucket_bits(n), b, k;
	size_t *start, *next, i, j;
	struct ent tmp;

	if ((start = calloc(2 * ((size_t)1 << bits) + 1, sizeof *start)) == NULL)
		return DOS_ENOMEM;
	next = start + ((size_t)1 << bits) + 1;
	for (i = 0; i < n; i++)
		start[dos_oid_bucket(&v[i].oid, bits) + 1]++;
	for (b = 0; b < (1U << bits); b++) {
		start[b + 1] += start[b];
		next[b] = start[b];
	}
	/* Each entry is swapped straight into its bucket. */
	for (b = 0; b < (1U << bits); b++)
		while (next[b] < start[b + 1]) {
			k = dos_oid_bucket(&v[next[b]].oid, bits);
			if (k == b) {
				next[b]++;
				continue;
			}
			tmp = v[next[k]];
			v[next[k]++] = v[next[b]];
			v[next[b]] = tmp;
		}
	free(start);
	for (j = 1; j < n; j++) {
		if (cmp_ent(&v[j - 1], &v[j]) <= 0)
			continue;
		tmp = v[j];
		for (i = j; i > 0 && cmp_ent(&v[i - 1], &tmp) > 0; i--)
			v[i] = v[i - 1];
		v[i] = tmp;
	}
	return 0;
}

/* Gather the entries of every job, sorted by id, then pack and offset. */
int
gather(struct fsck *f, struct all_ents *a)
{
	struct job *j, *next;
	size_t n = 0;

	for (j = f->done; j != NULL; j = j->next)
		if (j->type != JOB_LOOSE)
			n += j->n;
	if ((a->v = malloc((n + 1) * sizeof *a->v)) == NULL)
		return DOS_ENOMEM;
	a->n = 0;
	for (j = f->done; j != NULL; j = next) {
		next = j->next;
		if (j->type != JOB_LOOSE && j->n > 0) {
			memcpy(a->v + a->n, j->ents, j->n * sizeof *j->ents);
			a->n += j->n;
		}
		free(j->ents);
		free(j);
	}
	f->done = NULL;
	return sort_ents(a->v, a->n);
}

/* Merge the entries, the records and the loose objects by id. */
int
merge(struct fsck *f, struct all_ents *a, group_fn *fn, void *data)
{
	size_t ie = 0, ir = 0, il = 0;
	const struct dos_oid *min;
	struct group g;
	int rc = 0;

	while (rc == 0 && (ie < a->n || ir < f->recs_nr || il < f->loose_nr)) {
		min = NULL;
		if (ie < a->n)
			min = &a->v[ie].oid;
		if (ir < f->recs_nr && (min == NULL ||
		    dos_oid_cmp(&f->recs[ir].oid, min) < 0))
			min = &f->recs[ir].oid;
		if (il < f->loose_nr && (min == NULL ||
		    dos_oid_cmp(&f->loose[il].oid, min) < 0))
			min = &f->loose[il].oid;
		memset(&g, 0, sizeof g);
		g.oid = min;
		g.ents = &a->v[ie];
		while (ie < a->n && dos_oid_cmp(&a->v[ie].oid, min) == 0) {
			ie++;
			g.n++;
		}
		if (ir < f->recs_nr && dos_oid_cmp(&f->recs[ir].oid, min) == 0)
			g.rec = &f->recs[ir++];
		if (il < f->loose_nr && dos_oid_cmp(&f->loose[il].oid, min) == 0)
			g.loose = &f->loose[il++];
		rc = fn(f, &g, data);
	}
	return rc;
}

int
check_group_cb(struct fsck *f, struct group *g, void *data)
{
	return check_group(f, g);
}

/*
 * Whether a record of by_off[from..to) still points where it did: a
 * repack deletes a pack once it has moved every record out of it, maybe
 * while the check ran.
 */
static int
pack_still_used(struct fsck *f, size_t from, size_t to)
{
	const struct rec *r;

	for (; from < to; from++) {
		r = &f->recs[f->by_off[from]];
		if (rec_unchanged(f, &r->oid, &r->e))
			return 1;
	}
	return 0;
}

int
check_missing_packs(struct fsck *f)
{
	uint32_t num;
	size_t i, end;
	char path[32];
	int rc;

	/* Usually every record's pack is there, and nothing need be sorted. */
	for (i = 0; i < f->recs_nr; i++)
		if (find_pack(f, f->recs[i].e.pack) == NULL)
			break;
	if (i == f->recs_nr)
		return 0;
	/*
	 * Records in pack order, so that each pack's are together: each
	 * missing pack is looked at once, however many packs the index names.
	 */
	if ((rc = sort_by_off(f)) < 0)
		return rc;
	for (i = 0; i < f->recs_nr && rc == 0; i = end) {
		num = f->recs[f->by_off[i]].e.pack;
		for (end = i + 1; end < f->recs_nr &&
		    f->recs[f->by_off[end]].e.pack == num; end++)
			;
		if (find_pack(f, num) != NULL)
			continue;
		snprintf(path, sizeof path, "packs/%u", num);
		if (faccessat(f->st->dirfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
		    !pack_still_used(f, i, end))
			continue;	/* created, or emptied and deleted, meanwhile */
		rc = add_finding(f, K_MISSING_PACK, NULL, path, num, 0, "%s", "");
	}
	return rc;
}
