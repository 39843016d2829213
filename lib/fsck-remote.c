/*
 * fsck-remote.c: the packs evicted to remotes (remote.c), which the rest
 * of the check does not read.  Their records are no missing data: the
 * cross-check asks is_evicted().  With DOS_FSCK_REMOTE, each such pack is
 * on its remote with the length and SHA-256 its record says (a HEAD: the
 * server stored the SHA-256 it checked the upload against), and with
 * DOS_FSCK_REMOTE_OBJECTS every object the index places in one is read
 * back whole, through the reader and its ranged GETs, as any read of an
 * evicted pack is, but never from remote-cache/.  Those reads go in pack
 * order (the records sorted by an external sort), so that each pack is
 * fetched front to back in windows, and through one fixed buffer.
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

struct read_back {
	struct fsck *f;
	const struct heads *h;
	unsigned char *buf;
	uint64_t done, total;
};

/*
 * Read the object of an evicted pack to its end, where the listing found
 * it: the listing is in storage order, so the reads of a pack go front
 * to back.
 */
static int
read_back(const struct dos_object_info *info, void *data)
{
	struct read_back *rb = data;
	struct fsck *f = rb->f;
	const uint32_t *at;
	struct dos_reader r;
	ssize_t n;
	int rc;

	/* Not the packs a HEAD found missing or damaged: reported already. */
	at = dos_pack_list_find(f->evicted, f->evicted_nr, info->pack);
	if (at == NULL || rb->h->bad[at - f->evicted])
		return 0;
	rc = dos_reader_open_listed(f->st, info, DOS_READ_VERIFY, &r);
	if (rc == DOS_ENOTFOUND)
		return 0;
	if (rc == 0) {
		while ((n = dos_reader_read(&r, rb->buf, READ_BUF)) > 0)
			;
		rc = (int)n;
		dos_reader_close(&r);
	}
	if (rc == DOS_ECORRUPT)
		rc = add_finding(f, K_REMOTE_CORRUPT, &info->oid, NULL,
		    info->pack, info->offset, "pack %u offset=%llu", info->pack,
		    (unsigned long long)info->offset);
	rb->done += info->disk_size;
	if (rc == 0 && f->o->progress != NULL)
		f->o->progress("checking remote objects", rb->done, rb->total,
		    f->o->data);
	return rc;
}

static int
check_remote_objects(struct fsck *f, const struct heads *h)
{
	struct read_back rb = { f, h, NULL, 0, 0 };
	struct dos_index *ix;
	uint64_t len;
	size_t i;
	int rc;

	/* The remote's bytes are checked, not the copies of remote-cache/. */
	if ((rc = dos_store_index(f->st, 0, &ix)) < 0 ||
	    (rc = dos_remote_cache_set_bound(f->st, 0)) < 0)
		return rc;
	for (i = 0; i < f->evicted_nr; i++)
		if (!h->bad[i] && dos_index_get_pack_length(ix, f->evicted[i],
		    &len) == 0)
			rb.total += len;
	if ((rb.buf = malloc(READ_BUF)) == NULL)
		return DOS_ENOMEM;
	rc = dos_for_each_object(f->st, DOS_ITER_PACKED | DOS_ITER_UNORDERED,
	    read_back, &rb);
	free(rb.buf);
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
