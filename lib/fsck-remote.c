/*
 * fsck-remote.c: the packs evicted to remotes (remote.c), which the rest
 * of the check does not read.  Their records are no missing data: the
 * cross-check asks is_evicted().  With DOS_FSCK_REMOTE, each such pack is
 * on its remote with the length and SHA-256 its record says (a HEAD: the
 * server stored the SHA-256 it checked the upload against), and with
 * DOS_FSCK_REMOTE_OBJECTS every object the index places in one is read
 * back whole, through the reader and its ranged GETs, as any read of an
 * evicted pack is.  Those reads go in pack order (the records sorted by
 * an external sort), so that each pack is fetched front to back in
 * windows, and through one fixed buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck-int.h"

#define READ_BUF (64 * 1024)

/*
 * f->evicted.  A bad config.json or a lost index are findings of their
 * own (check_layout(), load_index()): no pack is evicted then.
 */
int
load_evicted(struct fsck *f)
{
	int rc = dos_remote_evicted(f->st, NULL, &f->evicted, &f->evicted_nr);

	return rc == DOS_ENOMEM ? rc : 0;
}

int
is_evicted(const struct fsck *f, uint32_t pack)
{
	return dos_pack_list_find(f->evicted, f->evicted_nr, pack) != NULL;
}

/* ---- the packs, by HEAD ---- */

struct heads {
	struct fsck *f;
	unsigned char *bad;	/* of each of f->evicted: missing or damaged */
};

static int
check_pack(struct heads *h, struct dos_s3 *s3, const struct dos_remote *r,
    size_t i, const struct dos_remote_record *rec)
{
	char key[32], sha[DOS_HEXSZ + 1];
	uint32_t pack = h->f->evicted[i];
	uint64_t size;
	int rc;

	snprintf(key, sizeof key, "packs/%u", pack);
	rc = dos_s3_head(s3, key, &size, sha);
	if (rc == DOS_ENOTFOUND)
		rc = add_finding(h->f, K_REMOTE_MISSING, NULL, key, pack, 0,
		    "on %s: %s", r->name, dos_s3_last_error());
	else if (rc == 0 && (size != rec->length ||
	    strcmp(sha, rec->sha256) != 0))
		rc = add_finding(h->f, K_REMOTE_DAMAGED, NULL, key, pack, 0,
		    "on %s: %llu bytes of SHA-256 %s, not %llu of %s",
		    r->name, (unsigned long long)size, sha[0] != '\0' ? sha :
		    "(none stored)", (unsigned long long)rec->length,
		    rec->sha256);
	else
		return rc;
	if (rc == 0)
		h->bad[i] = 1;
	return rc;
}

/* The evicted packs that remote r records. */
static int
check_remote_packs(const struct dos_remote *r, void *data)
{
	struct heads *h = data;
	struct dos_remote_record rec;
	struct dos_s3 *s3 = NULL;
	size_t i;
	int rc = 0;

	for (i = 0; i < h->f->evicted_nr && rc == 0; i++) {
		rc = dos_remote_read_record(h->f->st, r->name, h->f->evicted[i],
		    &rec);
		if (rc == DOS_ENOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc == 0 && s3 == NULL)
			rc = dos_remote_connect(r, &s3);
		if (rc == 0)
			rc = check_pack(h, s3, r, i, &rec);
	}
	dos_s3_close(s3);
	return rc;
}

/* ---- the objects, read back ---- */

struct place {
	uint32_t pack;
	uint64_t offset, stored;
	struct dos_oid oid;
};

static int
cmp_place(const void *pa, const void *pb)
{
	const struct place *a = pa, *b = pb;

	if (a->pack != b->pack)
		return a->pack < b->pack ? -1 : 1;
	return a->offset < b->offset ? -1 : a->offset > b->offset;
}

struct walk {
	struct fsck *f;
	const struct heads *h;
	struct dos_sort *sort;
	uint64_t total;
};

static int
add_place(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	struct walk *w = data;
	const uint32_t *at;
	struct place p;

	/* Not the packs a HEAD found missing or damaged: reported already. */
	at = dos_pack_list_find(w->f->evicted, w->f->evicted_nr, e->pack);
	if (at == NULL || w->h->bad[at - w->f->evicted])
		return 0;
	memset(&p, 0, sizeof p);
	p.pack = e->pack;
	p.offset = e->offset;
	p.stored = e->stored_size;
	p.oid = *oid;
	w->total += e->stored_size;
	return dos_sort_add(w->sort, &p);
}

/*
 * Read the object at p to its end.  One the index moved on from meanwhile
 * is not this pack's to check.
 */
static int
read_back(struct fsck *f, const struct place *p, unsigned char *buf)
{
	struct dos_reader r;
	ssize_t n;
	int rc;

	rc = dos_reader_open(f->st, &p->oid, DOS_READ_VERIFY, &r);
	if (rc == DOS_ENOTFOUND)
		return 0;
	if (rc == 0 && (r.info.storage != DOS_STORAGE_PACKED ||
	    r.info.pack != p->pack || r.info.offset != p->offset)) {
		dos_reader_close(&r);
		return 0;
	}
	if (rc == 0) {
		while ((n = dos_reader_read(&r, buf, READ_BUF)) > 0)
			;
		rc = (int)n;
		dos_reader_close(&r);
	}
	if (rc == DOS_ECORRUPT)
		return add_finding(f, K_REMOTE_CORRUPT, &p->oid, NULL, p->pack,
		    p->offset, "pack %u offset=%llu", p->pack,
		    (unsigned long long)p->offset);
	return rc;
}

static int
check_remote_objects(struct fsck *f, const struct heads *h)
{
	struct walk w = { f, h, NULL, 0 };
	struct dos_index *ix;
	struct place p;
	unsigned char *buf;
	uint64_t done = 0;
	int rc;

	if ((rc = dos_store_index(f->st, 0, &ix)) < 0 ||
	    (rc = dos_sort_open(f->st, sizeof p, cmp_place, DOS_SORT_BUDGET,
	    &w.sort)) < 0)
		return rc;
	if ((buf = malloc(READ_BUF)) == NULL) {
		dos_sort_close(w.sort);
		return DOS_ENOMEM;
	}
	if ((rc = dos_index_walk(ix, "", 0, add_place, &w)) == 0 &&
	    (rc = dos_sort_finish(w.sort)) == 0) {
		while ((rc = dos_sort_next(w.sort, &p)) > 0) {
			if ((rc = read_back(f, &p, buf)) < 0)
				break;
			done += p.stored;
			if (f->o->progress != NULL)
				f->o->progress("checking remote objects", done,
				    w.total, f->o->data);
		}
	}
	free(buf);
	dos_sort_close(w.sort);
	return rc;
}

int
check_remote(struct fsck *f)
{
	struct heads h = { f, NULL };
	int rc;

	if (f->evicted_nr == 0)
		return 0;
	if ((h.bad = calloc(f->evicted_nr, 1)) == NULL)
		return DOS_ENOMEM;
	rc = dos_remote_each(f->st, check_remote_packs, &h);
	if (rc == 0 && (f->o->flags & DOS_FSCK_REMOTE_OBJECTS))
		rc = check_remote_objects(f, &h);
	free(h.bad);
	return rc;
}
