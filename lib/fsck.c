/*
 * fsck.c: verify a whole container and repair what can be repaired; this
 * file holds the findings, their order and report, and one whole check
 * (fsck-int.h lists the files that hold the rest).
 *
 * A check reads everything once and keeps going after every problem:
 * the loose files (each hashed against its name), every pack front to
 * back in large sequential reads (each entry's header, CRC-32, decoding,
 * raw size and, in full mode, SHA-256), and then the index against what
 * the packs hold, by a merge of the index (walked in id order) with the
 * pack entries sorted by id, so the hot loop never looks anything up.
 * Records and entries go through external sorts (extsort.c), which spill
 * to sandbox/ beyond their memory budget: memory does not grow with the
 * number of objects (only with the loose ones, and the findings).
 *
 * The packs are read by the calling thread, which cuts them into chunks
 * of whole entries; worker threads verify the chunks and the loose files.
 * Workers only fill in the status of entries they were handed, and every
 * finding is made afterwards by the calling thread and sorted, so the
 * report is the same whatever the parallelism.  Findings go to a callback:
 * the library never prints.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsck-int.h"

/* ---- findings ---- */

static const struct {
	const char *name;
	unsigned cls;
} kinds[K_NR] = {
	[K_BAD_LAYOUT] = { "bad-layout", DOS_FSCK_LAYOUT },
	[K_MISSING_INDEX] = { "missing-index", DOS_FSCK_INDEX },
	[K_INDEX_ERROR] = { "index-error", DOS_FSCK_INDEX },
	[K_NO_PACK_LENGTH] = { "no-pack-length", DOS_FSCK_INDEX },
	[K_MISSING_PACK] = { "missing-pack", DOS_FSCK_MISSING },
	[K_TRUNCATED_PACK] = { "truncated-pack", DOS_FSCK_MISSING },
	[K_BAD_PACK_HEADER] = { "bad-pack-header", DOS_FSCK_PACK },
	[K_BAD_DICT] = { "bad-dictionary", DOS_FSCK_PACK },
	[K_GARBAGE] = { "garbage", DOS_FSCK_PACK },
	[K_TORN_TAIL] = { "torn-tail", DOS_FSCK_PACK },
	[K_UNFINISHED_PACK] = { "unfinished-pack", DOS_FSCK_PACK },
	[K_UNREADABLE] = { "unreadable", DOS_FSCK_OBJECT },
	[K_BAD_NAME] = { "bad-name", DOS_FSCK_LOOSE },
	[K_STALE_TEMP] = { "stale-temp", DOS_FSCK_LOOSE },
	[K_BAD_FILE] = { "bad-file", DOS_FSCK_OBJECT },
	[K_HASH] = { "hash-mismatch", DOS_FSCK_OBJECT },
	[K_SIZE] = { "size-mismatch", DOS_FSCK_OBJECT },
	[K_CRC] = { "crc-mismatch", DOS_FSCK_OBJECT },
	[K_CORRUPT] = { "corrupt", DOS_FSCK_OBJECT },
	[K_BAD_HEADER] = { "bad-header", DOS_FSCK_PACK },
	[K_OUT_OF_BOUNDS] = { "out-of-bounds", DOS_FSCK_MISSING },
	[K_MISSING] = { "missing", DOS_FSCK_MISSING },
	[K_MISSING_DICT] = { "missing-dictionary", DOS_FSCK_MISSING },
	[K_BAD_RECORD] = { "bad-record", DOS_FSCK_INDEX },
	[K_UNINDEXED] = { "unindexed", DOS_FSCK_INDEX },
	[K_LOST] = { "lost", DOS_FSCK_MISSING },
	[K_JOURNAL] = { "journal", DOS_FSCK_INDEX },
	[K_REMOTE_MISSING] = { "remote-missing", DOS_FSCK_MISSING },
	[K_REMOTE_DAMAGED] = { "remote-damaged", DOS_FSCK_MISSING },
	[K_REMOTE_CORRUPT] = { "remote-corrupt", DOS_FSCK_OBJECT },
};

static int
vadd_finding(struct fsck *f, enum kind kind, const struct dos_oid *oid,
    const char *path, uint32_t pack, uint64_t offset, const char *fmt,
    va_list ap)
{
	struct finding *fd, *grown;
	char *detail = NULL;

	grown = dos_grow(f->fs, f->fs_nr, &f->fs_alloc, sizeof *grown, 64);
	if (grown == NULL)
		return DOS_ENOMEM;
	f->fs = grown;
	if (vasprintf(&detail, fmt, ap) < 0)
		detail = NULL;
	if (detail == NULL)
		return DOS_ENOMEM;
	fd = &f->fs[f->fs_nr];
	memset(fd, 0, sizeof *fd);
	fd->kind = kind;
	fd->has_oid = oid != NULL;
	if (oid != NULL)
		fd->oid = *oid;
	if (path != NULL && (fd->path = strdup(path)) == NULL) {
		free(detail);
		return DOS_ENOMEM;
	}
	fd->pack = pack;
	fd->offset = offset;
	fd->detail = detail;
	f->fs_nr++;
	return 0;
}

int
add_finding(struct fsck *f, enum kind kind, const struct dos_oid *oid,
    const char *path, uint32_t pack, uint64_t offset, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vadd_finding(f, kind, oid, path, pack, offset, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * The trace of a killed writer that the next writer or dos gc cleans:
 * reported, with the space it holds, but no problem (of no class), so a
 * check from cron does not fail on an interrupted command.
 */
int
add_notice(struct fsck *f, enum kind kind, const char *path, uint32_t pack,
    uint64_t bytes, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vadd_finding(f, kind, NULL, path, pack, 0, fmt, ap);
	va_end(ap);
	if (rc == 0) {
		f->fs[f->fs_nr - 1].notice = 1;
		f->fs[f->fs_nr - 1].bytes = bytes;
	}
	return rc;
}

/* Compare with runs of digits taken as numbers: packs/9 before packs/10. */
static int
natcmp(const char *a, const char *b)
{
	size_t la, lb;
	int c;

	while (*a != '\0' && *b != '\0') {
		if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
			while (*a == '0' && a[1] >= '0' && a[1] <= '9')
				a++;
			while (*b == '0' && b[1] >= '0' && b[1] <= '9')
				b++;
			la = strspn(a, "0123456789");
			lb = strspn(b, "0123456789");
			if (la != lb)
				return la < lb ? -1 : 1;
			if ((c = strncmp(a, b, la)) != 0)
				return c;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return *a == *b ? 0 : *a == '\0' ? -1 : 1;
}

/* Container paths first, then objects by id; then kind, pack, offset. */
static int
cmp_finding(const void *pa, const void *pb)
{
	const struct finding *a = pa, *b = pb;
	int c;

	if (a->has_oid != b->has_oid)
		return a->has_oid - b->has_oid;
	c = a->has_oid ? dos_oid_cmp(&a->oid, &b->oid) : natcmp(a->path, b->path);
	if (c != 0)
		return c;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if ((c = dos_cmp_place(a->pack, a->offset, b->pack, b->offset)) != 0)
		return c;
	return strcmp(a->detail, b->detail);
}

static void
free_findings(struct fsck *f)
{
	size_t i;

	for (i = 0; i < f->fs_nr; i++) {
		free(f->fs[i].path);
		free(f->fs[i].detail);
	}
	free(f->fs);
	f->fs = NULL;
	f->fs_nr = f->fs_alloc = 0;
}
/* ---- one whole check ---- */

static void
reset_check(struct fsck *f)
{
	dos_sort_close(f->ents);
	f->ents = NULL;
	dos_sort_close(f->recs);
	f->recs = NULL;
	dos_sort_close(f->by_off);
	f->by_off = NULL;
	f->off_has = 0;
	free(f->loose);
	f->loose = NULL;
	f->loose_nr = f->loose_alloc = 0;
	free(f->bad_groups);
	f->bad_groups = NULL;
	f->bad_groups_nr = f->bad_groups_alloc = 0;
	close_packs(f);
	free(f->evicted);
	f->evicted = NULL;
	f->evicted_nr = 0;
	free_findings(f);
}

static int
check(struct fsck *f)
{
	size_t i;
	int rc, jobs = f->o->jobs > 0 ? f->o->jobs : 1;

	memset(&f->stats, 0, sizeof f->stats);
	f->writer_active = writer_active(f);
	if ((rc = check_layout(f)) < 0)
		return rc;
	/* The index first: lengths read later cover every record. */
	if ((rc = load_index(f)) < 0)
		return rc;
	if ((rc = open_packs(f)) < 0 || (rc = load_evicted(f)) < 0)
		return rc;
	if ((f->what & DOS_FSCK_WHAT_PACKS) && (rc = check_dicts(f)) < 0)
		return rc;
	if ((rc = list_loose(f)) < 0)
		return rc;
	if ((f->what & DOS_FSCK_WHAT_LOOSE) && (rc = check_sandbox(f)) < 0)
		return rc;
	if ((rc = check_journal(f)) < 0)
		return rc;
	if (!f->index_present && f->index_ok) {
		for (i = 0; i < f->packs_nr; i++)
			if (f->packs[i].size > DOS_PACK_HEADER_SIZE)
				break;
		if (i < f->packs_nr && (rc = add_finding(f, K_MISSING_INDEX,
		    NULL, "index", 0, 0, "packs.db does not exist")) < 0)
			return rc;
	}
	f->bytes_total = 0;
	f->bytes_done = 0;
	for (i = 0; i < f->packs_nr; i++)
		f->bytes_total += f->packs[i].limit;
	if ((rc = dos_sort_open(f->st, sizeof(struct ent), cmp_ent,
	    DOS_SORT_BUDGET, &f->ents)) < 0)
		return rc;
	if ((rc = start_workers(f, jobs)) < 0) {
		stop_workers(f);
		return rc;
	}
	if (f->what & DOS_FSCK_WHAT_LOOSE)
		rc = run_loose_jobs(f);
	for (i = 0; i < f->packs_nr && rc == 0; i++)
		rc = scan_pack(f, &f->packs[i]);
	stop_workers(f);
	if (rc == 0)
		rc = f->ents_rc;
	if (rc < 0 || (rc = dos_sort_finish(f->ents)) < 0 ||
	    (rc = report_bad_groups(f)) < 0)
		return rc;
	f->stats.packs = f->packs_nr;
	f->stats.loose = f->loose_nr;
	for (i = 0; i < f->packs_nr; i++)
		f->stats.bytes += f->packs[i].limit;
	if (f->loose_nr > 1)
		qsort(f->loose, f->loose_nr, sizeof *f->loose, cmp_loose);
	if ((f->what & DOS_FSCK_WHAT_PACKS) && (rc = check_pack_lengths(f)) < 0)
		return rc;
	if ((rc = merge(f, check_group_cb, NULL)) < 0)
		return rc;
	drop_unsure_unindexed(f);
	if (f->o->flags & DOS_FSCK_REMOTE)
		return check_remote(f);
	return 0;
}

/* Sort, report, and OR the classes of the problems together. */
static unsigned
report_all(struct fsck *f)
{
	struct dos_fsck_finding out;
	char hex[DOS_HEXSZ + 1];
	unsigned mask = 0;
	size_t i;

	if (f->fs_nr > 1)
		qsort(f->fs, f->fs_nr, sizeof *f->fs, cmp_finding);
	for (i = 0; i < f->fs_nr; i++) {
		const struct finding *fd = &f->fs[i];
		if (i > 0 && cmp_finding(fd, &f->fs[i - 1]) == 0)
			continue;
		out.kind = kinds[fd->kind].name;
		out.cls = fd->notice ? 0 : kinds[fd->kind].cls;
		out.subject = fd->has_oid ? dos_oid_to_hex(&fd->oid, hex) :
		    fd->path;
		out.detail = fd->detail;
		out.bytes = fd->bytes;
		mask |= out.cls;
		if (!fd->notice)
			f->stats.problems++;
		if (f->o->report != NULL)
			f->o->report(&out, f->o->data);
	}
	return mask;
}


int
dos_fsck(struct dos_store *st, const struct dos_fsck_options *opts,
    struct dos_fsck_stats *stats)
{
	struct fsck f;
	struct repair rp;
	size_t i;
	int rc = 0, repairing = opts->flags & DOS_FSCK_REPAIR;

	memset(&f, 0, sizeof f);
	memset(&rp, 0, sizeof rp);
	rp.f = &f;
	rp.lockfd = -1;
	f.st = st;
	f.o = opts;
	f.what = opts->what != 0 ? opts->what : DOS_FSCK_WHAT_LOOSE |
	    DOS_FSCK_WHAT_PACKS | DOS_FSCK_WHAT_INDEX;
	if (repairing)
		f.what = DOS_FSCK_WHAT_LOOSE | DOS_FSCK_WHAT_PACKS |
		    DOS_FSCK_WHAT_INDEX;
	f.full = !(opts->flags & DOS_FSCK_QUICK);
	/* Nothing else appends to packs or writes the index while we repair. */
	if (repairing && (rc = dos_pack_lock(st, 0, &rp.lockfd, NULL)) < 0)
		goto out;
	rc = check(&f);
	if (rc == 0 && repairing && f.fs_nr > 0) {
		rc = repair(&rp);
		reset_check(&f);
		if (rc == 0)
			rc = check(&f);
		for (i = 0; i < rp.lost.nr && rc == 0; i++)
			rc = add_finding(&f, K_LOST, &rp.lost.oids[i], NULL, 0,
			    0, "%s", "");
	}
	if (rc == 0) {
		rc = (int)report_all(&f);
		if (stats != NULL)
			*stats = f.stats;
	}
out:
	reset_check(&f);
	free(rp.heal.oids);
	free(rp.lost.oids);
	if (rp.lockfd >= 0)
		close(rp.lockfd);
	return rc;
}
