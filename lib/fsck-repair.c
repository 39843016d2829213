/*
 * fsck-repair.c: dos fsck --repair.  Under packs/lock, stray loose names
 * go to lost-found/ and stale temp files go; the index is patched, or
 * rebuilt from the packs and swapped in; torn pack tails are cut off; and
 * damaged packed copies with a good loose one are packed again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsck-int.h"


/* ---- repair ---- */

static void
note(struct fsck *f, const char *kind, const char *subject, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
note(struct fsck *f, const char *kind, const char *subject, const char *fmt,
    ...)
{
	struct dos_fsck_finding out;
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	out.kind = kind;
	out.cls = 0;
	out.subject = subject;
	out.detail = detail;
	out.bytes = 0;
	if (f->o->repaired != NULL)
		f->o->repaired(&out, f->o->data);
}

/* Move a file of the container into lost-found/, under a free name. */
static int
move_aside(struct fsck *f, const char *path, const char *base)
{
	char dest[512];
	int i;

	if (mkdirat(f->st->dirfd, "lost-found", 0777) < 0 && errno != EEXIST)
		return DOS_EIO;
	for (i = 0; i < 1000; i++) {
		if (i == 0)
			snprintf(dest, sizeof dest, "lost-found/%s", base);
		else
			snprintf(dest, sizeof dest, "lost-found/%s.%d", base, i);
		if (renameat2(f->st->dirfd, path, f->st->dirfd, dest,
		    RENAME_NOREPLACE) == 0) {
			note(f, "moved", path, "to %s", dest);
			return dos_fsync_dir("fsck-lost-found-fsync", f->st->dirfd,
			    "lost-found");
		}
		if (errno != EEXIST)
			return errno == ENOENT ? 0 : DOS_EIO;
	}
	errno = EEXIST;
	return DOS_EIO;
}

/* Stray names in loose/ go aside; stale temp files go. */
static int
repair_loose_area(struct repair *rp)
{
	struct fsck *f = rp->f;
	char base[512], *p;
	size_t i;
	int rc = 0;

	for (i = 0; i < f->fs_nr && rc == 0; i++) {
		const struct finding *fd = &f->fs[i];
		if (fd->kind == K_BAD_NAME) {
			snprintf(base, sizeof base, "%s", fd->path + strlen("loose/"));
			for (p = base; *p != '\0'; p++)
				if (*p == '/')
					*p = '-';
			rc = move_aside(f, fd->path, base);
		} else if (fd->kind == K_STALE_TEMP) {
			if (unlinkat(f->st->dirfd, fd->path, 0) == 0)
				note(f, "removed", fd->path, "%s", "");
			else if (errno != ENOENT)
				rc = DOS_EIO;
		}
	}
	return rc;
}

/* Put the puts held, and commit the transaction. */
static int
index_commit(struct repair *rp)
{
	int rc;

	rc = dos_index_put_sorted(rp->ix, rp->puts, rp->puts_nr);
	rp->puts_nr = 0;
	rp->txn_nr = 0;
	return rc < 0 ? rc : dos_index_commit(rp->ix);
}

/* Room in a transaction for one more record: a full one is committed. */
static int
index_txn(struct repair *rp)
{
	int rc;

	if (rp->txn_nr == DOS_INDEX_TXN_RECORDS &&
	    (rc = index_commit(rp)) < 0)
		return rc;
	if (rp->txn_nr == 0 && (rc = dos_index_begin(rp->ix)) < 0)
		return rc;
	rp->txn_nr++;
	return 0;
}

static int
index_put_entry(struct repair *rp, const struct dos_oid *oid,
    const struct dos_index_entry *ie)
{
	int rc;

	if ((rc = index_txn(rp)) < 0)
		return rc;
	rp->puts[rp->puts_nr].oid = *oid;
	rp->puts[rp->puts_nr++].entry = *ie;
	return 0;
}

/* The record of an entry; a member's has no stored size (dos.h). */
static int
index_put(struct repair *rp, const struct dos_oid *oid, const struct ent *e)
{
	struct dos_index_entry ie = { e->pack, (enum dos_codec)e->codec,
	    e->offset, e->member != 0 ? 0 : e->stored, e->raw, e->member };

	return index_put_entry(rp, oid, &ie);
}

static int
index_del(struct repair *rp, const struct dos_oid *oid)
{
	int rc;

	if ((rc = index_txn(rp)) < 0)
		return rc;
	rc = dos_index_del(rp->ix, oid);
	return rc == DOS_ENOTFOUND ? 0 : rc;
}

/*
 * The record an id should have: its last good entry after its last
 * tombstone; failing that, the damaged entry its record points at, or its
 * last entry with a sound header, so a damaged object stays listed (and
 * reported) instead of silently vanishing.
 */
static struct ent *
wanted(const struct group *g)
{
	struct ent *t = rec_target(g), *damaged = NULL;
	size_t i, from = live_from(g);

	for (i = g->n; i > from; i--)
		if (ent_good(&g->ents[i - 1]))
			return &g->ents[i - 1];
	if (t != NULL && t >= &g->ents[from] && t->status != ENT_BOUNDS)
		return t;
	for (i = g->n; i > from; i--)
		if (g->ents[i - 1].status != ENT_BAD_HEADER &&
		    g->ents[i - 1].status != ENT_BOUNDS &&
		    !ent_unknown(&g->ents[i - 1]) &&
		    !(g->ents[i - 1].flags & DOS_ENTRY_TOMBSTONE)) {
			damaged = &g->ents[i - 1];
			break;
		}
	return damaged;
}

static int
repair_group(struct fsck *f, struct group *g, void *data)
{
	struct repair *rp = data;
	struct ent *w = wanted(g), *t = rec_target(g);
	char hex[DOS_HEXSZ + 1], path[DOS_HEXSZ + 16];
	int loose_good = g->loose != NULL && (g->loose->status == LOOSE_OK ||
	    g->loose->status == LOOSE_UNCHECKED);
	int packed_good = w != NULL && ent_good(w);
	int live = g->rec != NULL || w != NULL || (g->loose != NULL &&
	    g->loose->status != LOOSE_GONE);
	int rc;

	dos_oid_to_hex(g->oid, hex);
	if (g->loose != NULL && (g->loose->status == LOOSE_HASH ||
	    g->loose->status == LOOSE_BAD_FILE)) {
		/* Readers look loose first: a damaged file hides the pack. */
		memcpy(path, "loose/", 6);
		dos_loose_name(f->st, g->oid, path + 6, sizeof path - 6);
		if ((rc = move_aside(f, path, hex)) < 0)
			return rc;
	}
	/* A record into a pack evicted to a remote stays as it is. */
	if (w == NULL && g->rec != NULL && find_pack(f, g->rec->e.pack) ==
	    NULL && is_evicted(f, g->rec->e.pack)) {
		if (!rp->rebuild)
			return 0;
		rp->records++;
		return index_put_entry(rp, g->oid, &g->rec->e);
	}
	if (live && !packed_good && !loose_good &&
	    (rc = dos_oid_list_push(&rp->lost, g->oid)) < 0)
		return rc;
	if (w != NULL && !packed_good && loose_good) {
		/* The good loose copy goes into the pack again. */
		if ((rc = dos_oid_list_push(&rp->heal, g->oid)) < 0)
			return rc;
		w = NULL;
	}
	if (w == NULL) {
		if (g->rec == NULL)
			return 0;
		if (!rp->rebuild && (rc = index_del(rp, g->oid)) < 0)
			return rc;
		note(f, "dropped-record", hex, "pack %u offset=%llu",
		    g->rec->e.pack, (unsigned long long)g->rec->e.offset);
		return 0;
	}
	if (!rp->rebuild && w == t && rec_matches(t, &g->rec->e))
		return 0;
	if ((rc = index_put(rp, g->oid, w)) < 0)
		return rc;
	rp->records++;
	if (!rp->rebuild)
		note(f, "set-record", hex, "pack %u offset=%llu", w->pack,
		    (unsigned long long)w->offset);
	return 0;
}

/*
 * A fresh index is built in index.new/index, a complete environment of
 * its own that no other process knows, and then swapped with index/ in
 * one atomic renameat2(RENAME_EXCHANGE): every process opening the index
 * sees the old one or the new one, never a mixture.  A crash before the
 * swap leaves index/ as it was (and index.new/, removed by the next
 * repair); a crash after it leaves the new index in place.  The index can
 * always be rebuilt from the packs, so no crash loses anything.
 */
static int
open_new_index(struct repair *rp, struct dos_store *tmp)
{
	struct fsck *f = rp->f;
	size_t len = strlen(f->st->path) + sizeof "/index.new";
	int rc;

	dos_remove_tree(f->st->dirfd, "index.new");
	if (mkdirat(f->st->dirfd, "index.new", 0777) < 0)
		return DOS_EIO;
	/* dos_index_open() makes <path>/index: give it index.new/ as path. */
	if ((tmp->path = malloc(len)) == NULL)
		return DOS_ENOMEM;
	snprintf(tmp->path, len, "%s/index.new", f->st->path);
	tmp->dirfd = openat(f->st->dirfd, "index.new", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (tmp->dirfd < 0)
		return DOS_EIO;
	if ((rc = dos_index_open(tmp, 1, &rp->ix)) < 0)
		return rc;
	return 0;
}

static int
swap_in_index(struct repair *rp)
{
	struct fsck *f = rp->f;
	int rc;

	rc = renameat2(f->st->dirfd, "index.new/index", f->st->dirfd, "index",
	    RENAME_EXCHANGE);
	if (rc < 0 && errno == ENOENT)
		rc = renameat2(f->st->dirfd, "index.new/index", f->st->dirfd,
		    "index", RENAME_NOREPLACE);
	if (rc < 0 ||
	    dos_fsync_dir("fsck-index-swap-fsync", f->st->dirfd, ".") < 0)
		return DOS_EIO;
	dos_remove_tree(f->st->dirfd, "index.new");
	return 0;
}

/* Each pack's committed length, and its torn tail cut off. */
static int
repair_pack_lengths(struct repair *rp)
{
	struct fsck *f = rp->f;
	struct dos_remote_record rec;
	char path[32];
	uint64_t want;
	size_t i;
	int rc = 0, fd;

	/* A fresh index keeps the lengths of the packs evicted to remotes. */
	for (i = 0; rp->rebuild && i < f->evicted_nr && rc == 0; i++)
		if ((rc = dos_remote_pack_record(f->st, f->evicted[i],
		    &rec)) == 0 && (rc = index_txn(rp)) == 0)
			rc = dos_index_set_pack_length(rp->ix, f->evicted[i],
			    rec.length);
	for (i = 0; i < f->packs_nr && rc == 0; i++) {
		struct pack *p = &f->packs[i];
		snprintf(path, sizeof path, "packs/%u", p->num);
		if (is_unfinished(p)) {
			/* It holds nothing: removed, not given a length. */
			if (unlinkat(f->st->dirfd, path, 0) < 0 && errno != ENOENT)
				return DOS_EIO;
			note(f, "removed", path, "%s", "");
			continue;
		}
		want = p->valid_end;
		if (!rp->rebuild && p->has_length && p->committed <= p->size)
			want = p->committed;
		if (rp->rebuild || !p->has_length || p->committed != want) {
			if ((rc = index_txn(rp)) < 0 ||
			    (rc = dos_index_set_pack_length(rp->ix, p->num,
			    want)) < 0)
				break;
			if (!rp->rebuild)
				note(f, "set-length", path, "%llu",
				    (unsigned long long)want);
		}
		if (p->size <= want)
			continue;
		p->committed = want;
		fd = dos_open_beneath(f->st->dirfd, path, O_RDWR, 0);
		if (fd < 0)
			return DOS_EIO;
		if (ftruncate(fd, (off_t)want) < 0 || fdatasync(fd) < 0)
			rc = DOS_EIO;
		close(fd);
		if (rc == 0)
			note(f, "cut-tail", path, "offset=%llu length=%llu",
			    (unsigned long long)want,
			    (unsigned long long)(p->size - want));
	}
	return rc;
}

static int
repair_index(struct repair *rp)
{
	struct fsck *f = rp->f;
	struct dos_store tmp = DOS_STORE_INIT;
	int rc;

	/* The store's read-only handles must not outlive the old index. */
	dos_index_close(f->st->index);
	f->st->index = NULL;
	if ((rp->puts = malloc(DOS_INDEX_TXN_RECORDS * sizeof *rp->puts)) ==
	    NULL)
		return DOS_ENOMEM;
	rp->puts_nr = 0;
	if (rp->rebuild)
		rc = open_new_index(rp, &tmp);
	else
		rc = dos_store_index(f->st, 1, &rp->ix);
	if (rc == 0)
		rc = merge(f, repair_group, rp);
	/* Lengths after records: a truncated tail is never pointed at. */
	if (rc == 0)
		rc = repair_pack_lengths(rp);
	if (rc == 0 && rp->txn_nr > 0)
		rc = index_commit(rp);
	free(rp->puts);
	rp->puts = NULL;
	if (rc < 0 && rp->ix != NULL)
		dos_index_abort(rp->ix);
	if (rp->rebuild) {
		dos_index_close(rp->ix);
		if (rc == 0)
			rc = swap_in_index(rp);
		if (rc == 0)
			note(f, "rebuilt-index", "index", "%llu objects",
			    (unsigned long long)rp->records);
		free(tmp.path);
		if (tmp.dirfd >= 0)
			close(tmp.dirfd);
	}
	rp->ix = NULL;
	return rc;
}

/* Damaged packed copies with a good loose one: pack the loose one again. */
static int
heal(struct repair *rp)
{
	struct fsck *f = rp->f;
	struct dos_pack_writer *w;
	char name[DOS_HEXSZ + 2], hex[DOS_HEXSZ + 1];
	struct dos_oid got;
	long holder;
	size_t i;
	int rc, fd, existed;

	if (rp->heal.nr == 0)
		return 0;
	/*
	 * The writer takes packs/lock too; this process holds it already,
	 * which POSIX locks allow.  Closing the writer drops our lock with
	 * it, so it is taken again afterwards.
	 */
	if ((rc = dos_pack_writer_open(f->st, 0, DOS_COMPRESS_AUTO, &w,
	    &holder)) < 0)
		return rc;
	for (i = 0; i < rp->heal.nr && rc == 0; i++) {
		dos_loose_name(f->st, &rp->heal.oids[i], name, sizeof name);
		fd = dos_open_beneath(f->st->loosefd, name, O_RDONLY, 0);
		if (fd < 0) {
			rc = DOS_EIO;
			break;
		}
		rc = dos_pack_writer_add_fd(w, fd, &rp->heal.oids[i],
		    DOS_PACK_ADD_NO_DEDUP, &got, &existed);
		close(fd);
		if (rc == 0)
			note(f, "healed", dos_oid_to_hex(&rp->heal.oids[i], hex),
			    "packed again from loose/%s", name);
	}
	if (rc == 0)
		rc = dos_pack_writer_flush(w);
	dos_pack_writer_close(w);
	dos_index_close(f->st->index);
	f->st->index = NULL;
	close(rp->lockfd);
	rp->lockfd = -1;
	if (rc == 0)
		rc = dos_pack_lock(f->st, 0, &rp->lockfd, NULL);
	return rc;
}

int
repair(struct repair *rp)
{
	struct fsck *f = rp->f;
	size_t i;
	int rc;

	if ((rc = repair_loose_area(rp)) < 0)
		return rc;
	rp->rebuild = !f->index_ok;
	for (i = 0; i < f->fs_nr; i++)
		if (f->fs[i].kind == K_MISSING_INDEX ||
		    f->fs[i].kind == K_NO_PACK_LENGTH)
			rp->rebuild = 1;
	if ((rc = repair_index(rp)) < 0)
		return rc;
	return heal(rp);
}
