/*
 * fsck-cross.c: the cross-check of dos fsck.  The pack entries and the
 * index records (both streamed out of external sorts by id) and the loose
 * objects are merged by id, and each
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

int
cmp_ent(const void *pa, const void *pb)
{
	const struct ent *a = pa, *b = pb;
	int c = dos_oid_cmp(&a->oid, &b->oid);

	if (c == 0)
		c = dos_cmp_place(a->pack, a->offset, b->pack, b->offset);
	if (c == 0 && a->member != b->member)
		c = a->member < b->member ? -1 : 1;
	return c;
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
	case WHY_GROUP:
		return "a group whose table and sizes do not add up";
	}
	return "undecodable";
}

/*
 * The finding for one damaged entry: of an object, or of a group entry
 * (whose objects are not known), named by its pack.  A member of a group
 * is where its group is, and which member.
 */
static int
report_ent(struct fsck *f, const struct ent *e)
{
	const struct dos_oid *oid = &e->oid;
	char where[80], pack[32], *path = NULL;

	snprintf(where, sizeof where, "pack %u offset=%llu", e->pack,
	    (unsigned long long)e->offset);
	if (e->member != 0)
		snprintf(where + strlen(where), sizeof where - strlen(where),
		    " member=%u", e->member - 1);
	else if (e->flags & DOS_ENTRY_GROUP) {
		oid = NULL;
		snprintf(pack, sizeof pack, "packs/%u", e->pack);
		path = pack;
	}
	switch ((enum ent_status)e->status) {
	case ENT_OK:
		return 0;
	case ENT_CRC:
		return add_finding(f, K_CRC, oid, path, e->pack, e->offset,
		    "%s", where);
	case ENT_CORRUPT:
		return add_finding(f, K_CORRUPT, oid, path, e->pack, e->offset,
		    "%s %s: %s", where,
		    dos_codec_name((enum dos_codec)e->codec), why_text(e));
	case ENT_SIZE:
		return add_finding(f, K_SIZE, oid, path, e->pack, e->offset,
		    "%s expected=%llu actual=%llu", where,
		    (unsigned long long)e->raw, (unsigned long long)e->actual);
	case ENT_HASH:
		return add_finding(f, K_HASH, oid, path, e->pack, e->offset,
		    "%s", where);
	case ENT_BOUNDS:
		return add_finding(f, K_OUT_OF_BOUNDS, oid, path, e->pack,
		    e->offset, "%s length=%llu", where,
		    (unsigned long long)(e->header_size + e->stored));
	case ENT_BAD_HEADER:
		return add_finding(f, K_BAD_HEADER, oid, path, e->pack,
		    e->offset, "%s", where);
	case ENT_IO:
		return add_finding(f, K_UNREADABLE, oid, path, e->pack,
		    e->offset, "%s: %s", where, strerror((int)e->actual));
	case ENT_NO_DICT:
		return add_finding(f, K_MISSING_DICT, oid, path, e->pack,
		    e->offset, "%s needs dicts/%u", where, e->dict);
	}
	return 0;
}

/* The damaged group entries no record points into: no object to name. */
int
report_bad_groups(struct fsck *f)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < f->bad_groups_nr && rc == 0; i++)
		rc = report_ent(f, &f->bad_groups[i]);
	return rc;
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

/*
 * A member whose id bytes its hash does not start: it is no object (its
 * id is not known), only damage.
 */
int
ent_unknown(const struct ent *e)
{
	return e->member != 0 && e->partial;
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
		    g->ents[i].member == g->rec->e.member &&
		    !(g->ents[i].flags & DOS_ENTRY_TOMBSTONE))
			return &g->ents[i];
	return NULL;
}

/*
 * Whether a record says what its entry does.  A member's stored size is
 * its share of its group's bytes, which its record does not hold.
 */
int
rec_matches(const struct ent *t, const struct dos_index_entry *e)
{
	return t->codec == e->codec && t->raw == e->raw_size &&
	    (t->member != 0 || t->stored == e->stored_size);
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
		return rec_matches(t, &r->e) ? NULL :
		    "the entry there has other sizes";
	if (p == NULL) {
		*kind = K_MISSING;
		/* Read from its remote; --remote checks it there. */
		return is_evicted(f, r->e.pack) ? NULL : "";
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

/*
 * A record that did not change names a pack that is not there: unless it
 * was made meanwhile, the pack is missing.  Each such record reports it;
 * report_all() keeps one.
 */
static int
report_missing_pack(struct fsck *f, uint32_t num)
{
	char path[32];

	snprintf(path, sizeof path, "packs/%u", num);
	if (faccessat(f->st->dirfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	return add_finding(f, K_MISSING_PACK, NULL, path, num, 0, "%s", "");
}

static int
check_group(struct fsck *f, struct group *g)
{
	unsigned long long off;
	struct ent *t;
	const char *why;
	char member[24] = "";
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
	if (g->rec != NULL && find_pack(f, g->rec->e.pack) == NULL &&
	    is_evicted(f, g->rec->e.pack))
		good = 1;
	if (g->loose != NULL)
		good |= g->loose->status == LOOSE_OK ||
		    g->loose->status == LOOSE_UNCHECKED;
	if (f->what & DOS_FSCK_WHAT_INDEX) {
		if (g->rec != NULL &&
		    (why = rec_problem(f, g, &kind)) != NULL &&
		    rec_unchanged(f, g->oid, &g->rec->e)) {
			off = (unsigned long long)g->rec->e.offset;
			if (g->rec->e.member != 0)
				snprintf(member, sizeof member, " member=%u",
				    g->rec->e.member - 1);
			if (kind == K_MISSING &&
			    (rc = report_missing_pack(f, g->rec->e.pack)) < 0)
				return rc;
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
				    "pack %u offset=%llu%s%s%s", g->rec->e.pack,
				    off, member, *why != '\0' ? " " : "", why);
		} else if (g->rec == NULL && from < g->n && f->index_present &&
		    f->index_ok && !(g->ents[g->n - 1].flags &
		    DOS_ENTRY_TOMBSTONE) && !ent_unknown(&g->ents[g->n - 1]) &&
		    rec_unchanged(f, g->oid, NULL)) {
			/*
			 * A live entry the index lost, unless the journal may
			 * hold its record.
			 */
			live = 1;
			off = (unsigned long long)g->ents[g->n - 1].offset;
			if (!f->journal)
				rc = add_finding(f, K_UNINDEXED, g->oid, NULL,
				    g->ents[g->n - 1].pack,
				    g->ents[g->n - 1].offset,
				    "pack %u offset=%llu",
				    g->ents[g->n - 1].pack, off);
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

/* The next record of s into rec; *has says whether there was one. */
static int
next_of(struct dos_sort *s, void *rec, int *has)
{
	*has = dos_sort_next(s, rec);
	return *has < 0 ? *has : 0;
}

/*
 * Merge the entries, the records and the loose objects by id; the sorts
 * start again from their beginning, so repair walks the same merge.  Only
 * the entries of one id are held at a time.
 */
int
merge(struct fsck *f, group_fn *fn, void *data)
{
	struct ent e, *v = NULL, *grown;
	struct rec r, rec;
	struct dos_oid min;
	const struct dos_oid *m;
	size_t il = 0, alloc = 0;
	struct group g;
	int rc, has_e = 0, has_r = 0;

	if ((rc = dos_sort_rewind(f->ents)) < 0 ||
	    (rc = dos_sort_rewind(f->recs)) < 0 ||
	    (rc = next_of(f->ents, &e, &has_e)) < 0 ||
	    (rc = next_of(f->recs, &r, &has_r)) < 0)
		return rc;
	while (rc == 0 && (has_e || has_r || il < f->loose_nr)) {
		m = NULL;
		if (has_e)
			m = &e.oid;
		if (has_r && (m == NULL || dos_oid_cmp(&r.oid, m) < 0))
			m = &r.oid;
		if (il < f->loose_nr && (m == NULL ||
		    dos_oid_cmp(&f->loose[il].oid, m) < 0))
			m = &f->loose[il].oid;
		min = *m;
		memset(&g, 0, sizeof g);
		g.oid = &min;
		while (rc == 0 && has_e && dos_oid_cmp(&e.oid, &min) == 0) {
			grown = dos_grow(v, g.n, &alloc, sizeof *grown, 16);
			if (grown == NULL) {
				rc = DOS_ENOMEM;
				break;
			}
			v = grown;
			v[g.n] = e;
			/* Without --packs only the entry headers were checked. */
			if (!(f->what & DOS_FSCK_WHAT_PACKS) &&
			    e.status != ENT_BAD_HEADER && e.status != ENT_BOUNDS)
				v[g.n].status = ENT_OK;
			g.n++;
			rc = next_of(f->ents, &e, &has_e);
		}
		g.ents = v;
		if (rc == 0 && has_r && dos_oid_cmp(&r.oid, &min) == 0) {
			rec = r;
			g.rec = &rec;
			rc = next_of(f->recs, &r, &has_r);
		}
		if (il < f->loose_nr && dos_oid_cmp(&f->loose[il].oid, &min) == 0)
			g.loose = &f->loose[il++];
		if (rc == 0)
			rc = fn(f, &g, data);
	}
	free(v);
	return rc;
}

int
check_group_cb(struct fsck *f, struct group *g, void *data)
{
	return check_group(f, g);
}
