/*
 * remote.c: a container's packs on S3-compatible object storage.
 *
 * A remote is a bucket and a prefix, named in config.json's "remotes"
 * member (with the endpoint and region to use, never credentials).  Below
 * the prefix, packs/<n> is sealed pack n (one the writer no longer
 * appends to: every pack but the newest) up to its committed length,
 * packs/<n>.idx what a clone needs of it (see write_pack_index), and
 * packs/<first>-<last>.idx the same of all the packs of one push, in one
 * file (write_combined), which a clone reads instead.  Here,
 * remotes/<name>/<n> records that pack n is on remote name, written only
 * once the server confirmed both uploads and a HEAD agreed with what was
 * sent: "<length> <sha256> <version of its entries>".  Only a pack so
 * recorded is ever evicted from packs/, and a read of a pack that is not
 * in packs/ (pack.c) finds its record and fetches the bytes it needs by
 * ranged GETs, which the reader checks as it checks a local pack's: that
 * side, below the pack reader, is remote-read.c's; this file, above the
 * pack writer, pushes, evicts, clones and fetches evicted packs back.
 *
 * Over 1,300 lines: push writes and clone reads the same index files,
 * whose format is this file's alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "dos.h"

#define PIDX_MAGIC "DOSPIDX"
#define PIDX_VERSION 1
#define PIDX_HEADER_SIZE 64
#define PIDX_RECORD_SIZE (DOS_RAWSZ + 1 + 3 * 8)
#define PIDX_BUF (64 * 1024)
#define PIDX_RECS (PIDX_BUF / PIDX_RECORD_SIZE)	/* records read at once */
/* The index of the packs of a push (see write_combined). */
#define CIDX_VERSION 2
#define CIDX_RECORD_MAX (DOS_RAWSZ + 1 + DOS_INDEX_ENTRY_MAX)
#define CIDX_RECORD_MIN (DOS_RAWSZ + 1 + 4)

/* ---- names and config.json ---- */

struct find {
	const char *name;
	struct dos_remote *r;
	int found;
};

static int
find_cb(const struct dos_remote *r, void *data)
{
	struct find *f = data;

	if (f->name == NULL || strcmp(f->name, r->name) == 0) {
		*f->r = *r;
		f->found++;
	}
	return 0;
}

int
dos_remote_find(struct dos_store *st, const char *name, struct dos_remote *r)
{
	struct find f = { name, r, 0 };
	int rc;

	if ((rc = dos_remote_each(st, find_cb, &f)) < 0)
		return rc;
	/* Without a name, the only remote there is. */
	return f.found == 1 ? 0 : f.found == 0 ? DOS_ENOTFOUND : DOS_EAMBIGUOUS;
}

/* Change remotes under packs/lock, so that no other change undoes it. */
static int
set_remotes(struct dos_store *st, json_t *remotes)
{
	int lockfd, rc;

	rc = dos_pack_lock(st, 0, &lockfd, NULL);
	if (rc == 0)
		rc = dos_config_set_member(st->dirfd, "remotes", remotes);
	else
		json_decref(remotes);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}

int
dos_remote_add(struct dos_store *st, const struct dos_remote *r)
{
	json_t *remotes, *obj;
	int rc;

	if (!dos_remote_name_ok(r->name))
		return DOS_EINVAL;
	if ((remotes = dos_remotes_json(st->dirfd, &rc)) == NULL)
		return rc;
	if (json_object_get(remotes, r->name) != NULL) {
		json_decref(remotes);
		return DOS_EEXIST;
	}
	obj = json_pack("{s:s}", "url", r->url);
	if (obj == NULL ||
	    (r->endpoint[0] != '\0' && json_object_set_new(obj, "endpoint",
	    json_string(r->endpoint)) < 0) ||
	    (r->region[0] != '\0' && json_object_set_new(obj, "region",
	    json_string(r->region)) < 0) ||
	    (r->allow_http && json_object_set_new(obj, "allow_http",
	    json_true()) < 0) ||
	    json_object_set_new(remotes, r->name, obj) < 0) {
		json_decref(remotes);
		return DOS_ENOMEM;
	}
	return set_remotes(st, remotes);
}

/*
 * A pack pushed, then removed from packs/ by a repack, is no longer the
 * container's: the index has no length for it, and its record is stale.
 */
static int
evicted_of(struct dos_store *st, const char *remote, uint32_t **packs,
    size_t *nr)
{
	char dir[96], name[64];
	struct dos_index *ix;
	struct stat sb;
	uint64_t length;
	size_t i, kept = 0;
	int rc;

	snprintf(dir, sizeof dir, "remotes/%s", remote);
	if ((rc = dos_store_index(st, 0, &ix)) < 0 ||
	    (rc = dos_list_numbered(st->dirfd, dir, packs, nr)) < 0)
		return rc;
	for (i = 0; i < *nr && rc == 0; i++) {
		snprintf(name, sizeof name, "packs/%u", (*packs)[i]);
		if (fstatat(st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (errno != ENOENT)
			rc = DOS_EIO;
		else if ((rc = dos_index_get_pack_length(ix, (*packs)[i],
		    &length)) == 0)
			(*packs)[kept++] = (*packs)[i];
		else if (rc == DOS_ENOTFOUND)
			rc = 0;
	}
	if (rc < 0) {
		free(*packs);
		*packs = NULL;
		kept = 0;
	}
	*nr = kept;
	return rc;
}

struct evicted {
	struct dos_store *st;
	uint32_t *packs;
	size_t nr;
};

static int
add_evicted(const struct dos_remote *r, void *data)
{
	struct evicted *ev = data;
	uint32_t *packs, *grown;
	size_t nr;
	int rc;

	if ((rc = evicted_of(ev->st, r->name, &packs, &nr)) < 0)
		return rc;
	grown = realloc(ev->packs, (ev->nr + nr + 1) * sizeof *grown);
	if (grown == NULL) {
		free(packs);
		return DOS_ENOMEM;
	}
	if (nr > 0)
		memcpy(grown + ev->nr, packs, nr * sizeof *packs);
	ev->packs = grown;
	ev->nr += nr;
	free(packs);
	return 0;
}

int
dos_remote_evicted(struct dos_store *st, const char *remote, uint32_t **packs,
    size_t *nr)
{
	struct evicted ev = { st, NULL, 0 };
	size_t i, n = 0;
	int rc;

	if (remote != NULL)
		return evicted_of(st, remote, packs, nr);
	*packs = NULL;
	*nr = 0;
	if ((rc = dos_remote_each(st, add_evicted, &ev)) < 0) {
		free(ev.packs);
		return rc;
	}
	/* A pack on two remotes is one pack. */
	if (ev.nr > 1)
		dos_pack_list_sort(ev.packs, ev.nr);
	for (i = 0; i < ev.nr; i++)
		if (n == 0 || ev.packs[n - 1] != ev.packs[i])
			ev.packs[n++] = ev.packs[i];
	*packs = ev.packs;
	*nr = n;
	return 0;
}

/* Whether remotes/<name>/ records a pack that packs/ no longer has. */
static int
holds_evicted(struct dos_store *st, const char *remote)
{
	uint32_t *packs;
	size_t nr;
	int rc;

	rc = dos_remote_evicted(st, remote, &packs, &nr);
	free(packs);
	return rc < 0 ? rc : nr > 0;
}

int
dos_remote_remove(struct dos_store *st, const char *name)
{
	char dir[96];
	json_t *remotes;
	int rc;

	if ((remotes = dos_remotes_json(st->dirfd, &rc)) == NULL)
		return rc;
	if (json_object_del(remotes, name) < 0) {
		json_decref(remotes);
		return DOS_ENOTFOUND;
	}
	/* Its packs would be lost to the container. */
	if ((rc = holds_evicted(st, name)) != 0) {
		json_decref(remotes);
		return rc < 0 ? rc : DOS_EBUSY;
	}
	if ((rc = set_remotes(st, remotes)) < 0)
		return rc;
	snprintf(dir, sizeof dir, "remotes/%s", name);
	dos_remove_tree(st->dirfd, dir);
	return 0;
}

/* ---- records of pushed packs ---- */

static int
make_dir(int dirfd, const char *name)
{
	if (dos_step_mkdir("remote-mkdir", dirfd, name, 0777) < 0 &&
	    errno != EEXIST)
		return DOS_EIO;
	return 0;
}

/* Written whole to sandbox/, synced, then renamed into place and synced. */
static int
write_record(struct dos_store *st, const char *remote, uint32_t pack,
    const struct dos_remote_record *rec)
{
	char dir[96], name[128], tmp[64], text[160];
	int fd, rc, len;

	snprintf(dir, sizeof dir, "remotes/%s", remote);
	if ((rc = make_dir(st->dirfd, "remotes")) < 0 ||
	    (rc = make_dir(st->dirfd, dir)) < 0)
		return rc;
	len = snprintf(text, sizeof text, "%llu %s %u\n",
	    (unsigned long long)rec->length, rec->sha256, rec->version);
	if ((fd = dos_temp_create(st, "remote-record-create", O_WRONLY, tmp,
	    sizeof tmp)) < 0)
		return DOS_EIO;
	rc = dos_step_pwrite("remote-record-write", fd, text, (size_t)len,
	    0) < 0 || dos_step_fsync("remote-record-fsync", fd) < 0 ?
	    DOS_EIO : 0;
	close(fd);
	snprintf(name, sizeof name, "%s/%u", dir, pack);
	if (rc == 0 && dos_step_rename("remote-record-rename", st->tmpfd, tmp,
	    st->dirfd, name, 0) < 0)
		rc = DOS_EIO;
	if (rc == 0)
		return dos_fsync_dir("remote-record-dir-fsync", st->dirfd, dir);
	dos_step_unlink("remote-record-unlink", st->tmpfd, tmp);
	return rc;
}

/* ---- the per-pack index ---- */

struct out {
	int fd;
	unsigned char *buf;
	size_t len;
	uint64_t off;
	struct dos_hasher h;
};

static int
out_flush(struct out *o)
{
	if (o->len > 0 && dos_step_pwrite("remote-index-write", o->fd, o->buf,
	    o->len, o->off) < 0)
		return DOS_EIO;
	o->off += o->len;
	o->len = 0;
	return 0;
}

/* Bytes of the file, hashed unless they are the hash itself. */
static int
out_write(struct out *o, const void *data, size_t len, int hash)
{
	int rc;

	if (hash && dos_hasher_update(&o->h, data, len) < 0)
		return DOS_ENOMEM;
	if (o->len + len > PIDX_BUF && (rc = out_flush(o)) < 0)
		return rc;
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	return 0;
}

/*
 * The codec byte of a pack index record of a group's member, which holds
 * its number in the group where others hold the stored size.
 */
#define PIDX_MEMBER 3

/* The 57-byte record of a pack's index (write_pack_index). */
static void
encode_record(unsigned char *p, const struct dos_index_record *r)
{
	memcpy(p, r->oid.hash, DOS_RAWSZ);
	p[DOS_RAWSZ] = r->entry.member != 0 ? PIDX_MEMBER :
	    (unsigned char)r->entry.codec;
	dos_put_le64(p + DOS_RAWSZ + 1, r->entry.offset);
	dos_put_le64(p + DOS_RAWSZ + 9, r->entry.member != 0 ?
	    r->entry.member - 1 : r->entry.stored_size);
	dos_put_le64(p + DOS_RAWSZ + 17, r->entry.raw_size);
}

/*
 * The packs a push uploads, and their records, for the index of them all
 * it uploads last (write_combined).
 */
struct combined {
	struct dos_sort *sort;	/* the records, as struct dos_index_record */
	unsigned char *hdrs;	/* the header of each pack's index */
	size_t nr, alloc;
	uint64_t records;
};

/* A record of pack index o, and of the combined index c. */
static int
add_record(struct out *o, struct combined *c, const struct dos_oid *oid,
    const struct dos_index_entry *e)
{
	unsigned char r[PIDX_RECORD_SIZE];
	struct dos_index_record ir;
	int rc;

	ir.oid = *oid;
	ir.entry = *e;
	encode_record(r, &ir);
	if ((rc = out_write(o, r, sizeof r, 1)) < 0 ||
	    (rc = dos_sort_add(c->sort, &ir)) < 0)
		return rc;
	c->records++;
	return 0;
}

/*
 * The records of the members of the group entry pe at offset of pack that
 * the index locates there: the group is decoded for their id bytes.
 * *buf (DOS_GROUP_RAW_MAX bytes) and dec are made on first use.
 */
static int
add_members(struct dos_store *st, struct dos_index *ix, uint32_t pack,
    int packfd, uint64_t offset, const struct dos_pack_entry *pe,
    struct dos_decompressor *dec, unsigned char **buf, struct out *o,
    struct combined *c)
{
	struct dos_index_entry e;
	struct dos_group_member m;
	struct dos_group g;
	struct dos_oid oid;
	uint32_t i;
	int rc;

	if (*buf == NULL && (*buf = malloc(DOS_GROUP_RAW_MAX)) == NULL)
		return DOS_ENOMEM;
	if ((rc = dos_group_read(st, pack, packfd, offset, pe, dec, *buf,
	    &g)) < 0)
		return rc;
	for (i = 0; i < g.members; i++) {
		(void)dos_group_member(&g, i, &m);
		rc = dos_pack_member_id(ix, pack, offset, &m, i, &oid, &e);
		if (rc == DOS_ENOTFOUND)
			continue;	/* deleted, or moved on */
		if (rc < 0 || (rc = add_record(o, c, &oid, &e)) < 0)
			return rc;
	}
	return 0;
}

/*
 * packs/<n>.idx: a 64-byte header ("DOSPIDX" NUL, its version, the pack's
 * number, committed length and entries' version as 32, 32, 64 and 32-bit
 * little-endian numbers, 4 zero bytes, then the SHA-256 of the pack), one
 * 57-byte record for each object the index locates in the pack (its id,
 * codec, offset, stored and raw sizes; a member's codec PIDX_MEMBER and
 * its number instead of the stored size), and the SHA-256 of all that.
 * Written to fd; its length into *len.  The header and the records go to
 * c too.
 */
static int
write_pack_index(struct dos_store *st, struct dos_index *ix, uint32_t pack,
    int packfd, const struct dos_remote_record *rec, int fd, uint64_t *len,
    struct combined *c)
{
	unsigned char *grown, *group = NULL;
	unsigned char hdr[PIDX_HEADER_SIZE], *win;
	struct dos_decompressor dec;
	struct dos_index_entry e;
	struct dos_pack_scan s;
	struct dos_oid sum, oid;
	struct out o = { fd, NULL, 0, 0, { 0 } };
	int rc;

	memset(hdr, 0, sizeof hdr);
	memcpy(hdr, PIDX_MAGIC, 8);
	dos_put_le64(hdr + 8, PIDX_VERSION | (uint64_t)pack << 32);
	dos_put_le64(hdr + 16, rec->length);
	dos_put_le64(hdr + 24, rec->version);
	dos_oid_from_hex(&sum, rec->sha256, DOS_HEXSZ);
	memcpy(hdr + 32, sum.hash, DOS_RAWSZ);
	dos_decompressor_init(&dec);
	if ((o.buf = malloc(PIDX_BUF)) == NULL ||
	    (win = malloc(DOS_PACK_SCAN_WINDOW)) == NULL) {
		free(o.buf);
		return DOS_ENOMEM;
	}
	if ((grown = dos_grow(c->hdrs, c->nr, &c->alloc, sizeof hdr,
	    16)) == NULL) {
		rc = DOS_ENOMEM;
		goto out;
	}
	c->hdrs = grown;
	memcpy(c->hdrs + c->nr++ * sizeof hdr, hdr, sizeof hdr);
	if ((rc = dos_hasher_init(&o.h)) < 0 ||
	    (rc = out_write(&o, hdr, sizeof hdr, 1)) < 0)
		goto out;
	dos_pack_scan_begin(&s, packfd, rec->length, rec->length, win,
	    DOS_PACK_SCAN_WINDOW);
	while ((rc = dos_pack_scan_next(&s)) > 0) {
		if (s.verdict != DOS_PACK_OK) {
			rc = DOS_ECORRUPT;
			break;
		}
		if (s.entry.flags & DOS_ENTRY_TOMBSTONE)
			continue;
		if (s.entry.flags & DOS_ENTRY_GROUP) {
			if ((rc = add_members(st, ix, pack, packfd, s.offset,
			    &s.entry, &dec, &group, &o, c)) < 0)
				break;
			continue;
		}
		rc = dos_pack_entry_id(ix, pack, s.offset, &s.entry, &oid, &e);
		if (rc == DOS_ENOTFOUND)
			continue;	/* an older copy, or deleted */
		if (rc < 0 || (rc = add_record(&o, c, &oid, &e)) < 0)
			break;
	}
	if (rc == 0 && (rc = dos_hasher_final(&o.h, &sum)) == 0 &&
	    (rc = out_write(&o, sum.hash, DOS_RAWSZ, 0)) == 0 &&
	    (rc = out_flush(&o)) == 0)
		*len = o.off;
out:
	dos_hasher_release(&o.h);
	dos_decompressor_release(&dec);
	free(group);
	free(win);
	free(o.buf);
	return rc;
}

/* ---- push and evict ---- */

/*
 * The server checked each body against its SHA-256; a HEAD then says it
 * keeps what was sent.
 */
static int
check_remote(struct dos_s3 *s3, const char *key, uint64_t length,
    const char *sha256)
{
	char got[DOS_HEXSZ + 1];
	uint64_t size;
	int rc;

	if ((rc = dos_s3_head(s3, key, &size, got)) < 0)
		return rc;
	if (size != length || strcmp(got, sha256) != 0) {
		dos_s3_set_error("%s: %s holds %llu bytes of SHA-256 '%s', not "
		    "%llu of %s", dos_s3_endpoint(s3), key,
		    (unsigned long long)size, got, (unsigned long long)length,
		    sha256);
		return DOS_EREMOTE;
	}
	return 0;
}

/*
 * Whether pack is to be pushed to r (0: it is there already, or the index
 * lost it and there is nothing to clone), and its length.  A record of
 * another length is of another pack that had the number (packs/ was
 * emptied, say): this one is not on r, and push_pack finds the other.
 */
static int
to_push(struct dos_store *st, struct dos_index *ix, const struct dos_remote *r,
    uint32_t pack, uint64_t *length)
{
	struct dos_remote_record rec;
	int rc, recorded;

	recorded = dos_remote_read_record(st, r->name, pack, &rec) == 0;
	rc = dos_index_get_pack_length(ix, pack, length);
	if (rc == DOS_ENOTFOUND)
		return 0;
	return rc < 0 ? rc : !recorded || rec.length != *length;
}

/*
 * Whether key is on the server already (1: with these bytes, from a push
 * killed before its record), or 0: not there.  A key of other bytes is
 * never overwritten: a clone may be reading it.
 */
static int
already_there(struct dos_s3 *s3, const char *key, int fd, uint64_t length,
    char *sha256)
{
	char got[DOS_HEXSZ + 1];
	uint64_t size;
	int rc;

	if ((rc = dos_s3_head(s3, key, &size, got)) < 0)
		return rc == DOS_ENOTFOUND ? 0 : rc;
	if (size == length &&
	    (rc = dos_sha256_range(fd, 0, length, sha256)) < 0)
		return rc;
	if (size == length && strcmp(got, sha256) == 0)
		return 1;
	dos_s3_set_error("%s: %s holds another pack, of %llu bytes of SHA-256 "
	    "'%s': the pack of that number here (%llu bytes) is not pushed "
	    "over it", dos_s3_endpoint(s3), key, (unsigned long long)size, got,
	    (unsigned long long)length);
	return DOS_EREMOTE;
}

/*
 * What the pushers share.  The lock is over the members below it and over
 * the store's index, open packs and records and the push index gathered,
 * which one thread at a time uses; uploads run outside it, one connection
 * a pusher.
 */
struct push {
	struct dos_store *st;
	struct dos_index *ix;
	const struct dos_remote *r;
	const uint32_t *packs;
	size_t nr;
	uint64_t total;		/* bytes to push, for the progress */
	dos_remote_progress_fn *progress;
	void *data;
	struct dos_push_stats *stats;
	struct combined combined;	/* what write_pack_index adds */
	pthread_mutex_t lock;
	size_t next;		/* the next of packs to push */
	int rc;			/* the failure of the first pack that failed */
	size_t failed;		/* which of packs that was */
	char error[256];	/* what the server said of it */
};

/* Pack p of the packs to push, if the remote lacks it; locked. */
static int
push_pack(struct push *p, struct dos_s3 *s3, uint32_t pack)
{
	struct dos_remote_record rec;
	char key[64], tmp[64], isha[DOS_HEXSZ + 1];
	uint64_t ilen = 0;
	struct stat sb;
	int rc, fd, ifd = -1;

	if ((rc = to_push(p->st, p->ix, p->r, pack, &rec.length)) <= 0 ||
	    (rc = dos_store_pack(p->st, pack, &fd, &rec.version)) < 0)
		return rc;
	if (fstat(fd, &sb) < 0)
		return DOS_EIO;
	if ((uint64_t)sb.st_size < rec.length)
		return DOS_ECORRUPT;
	pthread_mutex_unlock(&p->lock);
	snprintf(key, sizeof key, "packs/%u", pack);
	if ((rc = already_there(s3, key, fd, rec.length, rec.sha256)) == 0)
		rc = dos_s3_put(s3, key, fd, rec.length, rec.sha256);
	if (rc >= 0)
		rc = check_remote(s3, key, rec.length, rec.sha256);
	pthread_mutex_lock(&p->lock);
	if (rc < 0)
		return rc;
	/* Unnamed at once: nothing to clean up after a kill. */
	if ((ifd = dos_temp_create(p->st, "remote-index-create", O_RDWR, tmp,
	    sizeof tmp)) < 0 || dos_step_unlink("remote-index-unlink",
	    p->st->tmpfd, tmp) < 0)
		rc = DOS_EIO;
	else
		rc = write_pack_index(p->st, p->ix, pack, fd, &rec, ifd,
		    &ilen, &p->combined);
	if (rc == 0) {
		pthread_mutex_unlock(&p->lock);
		snprintf(key, sizeof key, "packs/%u.idx", pack);
		if ((rc = dos_s3_put(s3, key, ifd, ilen, isha)) == 0)
			rc = check_remote(s3, key, ilen, isha);
		pthread_mutex_lock(&p->lock);
	}
	if (ifd >= 0)
		close(ifd);
	if (rc < 0 || (rc = write_record(p->st, p->r->name, pack, &rec)) < 0)
		return rc;
	p->stats->packs++;
	p->stats->bytes += rec.length;
	if (p->progress != NULL)
		p->progress("pushing packs", p->stats->bytes, p->total,
		    p->data);
	return 0;
}

/* One connection's pushes, until none is left or one failed. */
static void *
push_packs(void *arg)
{
	struct push *p = arg;
	struct dos_s3 *s3 = NULL;
	size_t i = SIZE_MAX;	/* no pack tried: a failure to connect */
	int rc = dos_remote_connect(p->r, &s3);

	pthread_mutex_lock(&p->lock);
	while (rc == 0 && p->rc == 0 && p->next < p->nr) {
		i = p->next++;
		p->stats->sealed++;
		rc = push_pack(p, s3, p->packs[i]);
	}
	/*
	 * The error message is this thread's.  Of failures at once (a full
	 * bucket fails them all), the first pack's is told, whichever
	 * thread saw its own first.
	 */
	if (rc < 0 && (p->rc == 0 || i < p->failed)) {
		p->rc = rc;
		p->failed = i;
		snprintf(p->error, sizeof p->error, "%s", dos_s3_last_error());
	}
	pthread_mutex_unlock(&p->lock);
	dos_s3_close(s3);
	return NULL;
}

/*
 * packs/<first>-<last>.idx, first and last the lowest and highest numbers
 * of the packs of c (a push's, two or more): a 64-byte header ("DOSPIDX"
 * NUL, its version 2 and the number of packs as 32-bit, then the number
 * of records as 64-bit little-endian numbers, 40 zero bytes), the header
 * of each pack's own index in pack order, then a record for each object
 * of those indexes, in id order (its id, then the length of its entry,
 * one byte, and the entry as objects.db holds it: four varints, 42 bytes
 * in all for most, where 61 of fixed fields made the GET a third longer),
 * and the SHA-256 of all that: what
 * a clone reads in one GET for those packs, where the GETs of their own
 * indexes cost the server about the same time each, whatever their size.
 */
static int
compare_headers(const void *a, const void *b)
{
	uint32_t x = dos_get_le32((const unsigned char *)a + 12);
	uint32_t y = dos_get_le32((const unsigned char *)b + 12);

	return x < y ? -1 : x > y;
}

static int
write_combined(struct dos_store *st, struct dos_s3 *s3, struct combined *c)
{
	unsigned char hdr[PIDX_HEADER_SIZE], r[CIDX_RECORD_MAX];
	struct dos_index_record ir;
	size_t n;
	struct dos_oid sum;
	struct out o = { -1, NULL, 0, 0, { 0 } };
	char key[64], tmp[64], sha[DOS_HEXSZ + 1];
	int rc, more;

	if (c->nr < 2)
		return 0;
	/* The pushers added them as their packs went up, in any order. */
	qsort(c->hdrs, c->nr, PIDX_HEADER_SIZE, compare_headers);
	memset(hdr, 0, sizeof hdr);
	memcpy(hdr, PIDX_MAGIC, 8);
	dos_put_le64(hdr + 8, CIDX_VERSION | (uint64_t)c->nr << 32);
	dos_put_le64(hdr + 16, c->records);
	if ((rc = dos_sort_finish(c->sort)) < 0)
		return rc;
	if ((o.buf = malloc(PIDX_BUF)) == NULL)
		return DOS_ENOMEM;
	if ((o.fd = dos_temp_create(st, "remote-index-create", O_RDWR, tmp,
	    sizeof tmp)) < 0) {
		free(o.buf);
		return DOS_EIO;
	}
	if ((rc = dos_hasher_init(&o.h)) == 0 &&
	    (rc = out_write(&o, hdr, sizeof hdr, 1)) == 0)
		rc = out_write(&o, c->hdrs, c->nr * PIDX_HEADER_SIZE, 1);
	while (rc == 0 && (more = dos_sort_next(c->sort, &ir)) != 0) {
		if ((rc = more) < 0)
			break;
		memcpy(r, ir.oid.hash, DOS_RAWSZ);
		n = dos_index_encode_entry(r + DOS_RAWSZ + 1, &ir.entry);
		r[DOS_RAWSZ] = (unsigned char)n;
		rc = out_write(&o, r, DOS_RAWSZ + 1 + n, 1);
	}
	if (rc == 0 && (rc = dos_hasher_final(&o.h, &sum)) == 0 &&
	    (rc = out_write(&o, sum.hash, DOS_RAWSZ, 0)) == 0)
		rc = out_flush(&o);
	snprintf(key, sizeof key, "packs/%u-%u.idx",
	    dos_get_le32(c->hdrs + 12),
	    dos_get_le32(c->hdrs + (c->nr - 1) * PIDX_HEADER_SIZE + 12));
	if (rc == 0 && (rc = dos_s3_put(s3, key, o.fd, o.off, sha)) == 0)
		rc = check_remote(s3, key, o.off, sha);
	dos_hasher_release(&o.h);
	close(o.fd);
	dos_step_unlink("remote-index-unlink", st->tmpfd, tmp);
	free(o.buf);
	return rc;
}

/* Every pack but the newest, which the writer may still append to. */
static int
sealed_packs(struct dos_store *st, uint32_t **packs, size_t *nr)
{
	int rc;

	if ((rc = dos_pack_list(st, packs, nr)) < 0)
		return rc;
	if (*nr > 0)
		(*nr)--;
	return 0;
}

/*
 * Pushers at once: a request's round trip, the hashing of a pack and the
 * server's own work on one upload overlap another's transfer.
 */
#define PUSHERS 3

int
dos_remote_push(struct dos_store *st, const struct dos_remote *r,
    dos_remote_progress_fn *progress, void *data,
    struct dos_push_stats *stats)
{
	struct push p = { st, NULL, r, NULL, 0, 0, progress, data, stats,
	    { NULL, NULL, 0, 0, 0 }, PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, "" };
	pthread_t th[PUSHERS];
	struct dos_s3 *s3;
	uint32_t *packs = NULL;
	uint64_t length;
	size_t i, started;
	int rc = 0;

	memset(stats, 0, sizeof *stats);
	if ((rc = dos_store_index(st, 0, &p.ix)) < 0 ||
	    (rc = sealed_packs(st, &packs, &p.nr)) < 0)
		return rc;
	p.packs = packs;
	/* The bytes to go, for the progress. */
	for (i = 0; i < p.nr && progress != NULL && rc >= 0; i++)
		if ((rc = to_push(st, p.ix, r, packs[i], &length)) > 0)
			p.total += length;
	if (rc >= 0)
		rc = dos_sort_open(st, sizeof(struct dos_index_record),
		    dos_index_record_cmp, DOS_SORT_BUDGET, &p.combined.sort);
	for (started = 0; rc >= 0 && started < PUSHERS &&
	    started < p.nr; started++)
		if (pthread_create(&th[started], NULL, push_packs, &p) != 0)
			break;
	/* No thread: the pushes are run here. */
	if (rc >= 0 && started == 0)
		push_packs(&p);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (p.error[0] != '\0')
		dos_s3_set_error("%s", p.error);
	/* Last: every pack it names is on the remote, and recorded. */
	if (rc >= 0 && (rc = p.rc) == 0 && p.combined.nr >= 2 &&
	    (rc = dos_remote_connect(r, &s3)) == 0) {
		rc = write_combined(st, s3, &p.combined);
		dos_s3_close(s3);
	}
	dos_sort_close(p.combined.sort);
	free(p.combined.hdrs);
	free(packs);
	return rc;
}

int
dos_remote_evict(struct dos_store *st, const struct dos_remote *r,
    struct dos_evict_stats *stats)
{
	struct dos_remote_record rec;
	struct dos_index *ix;
	struct dos_s3 *s3 = NULL;
	uint32_t *packs = NULL;
	uint64_t committed;
	struct stat sb;
	size_t nr = 0, i;
	char key[64], name[64];
	int rc, lockfd;

	memset(stats, 0, sizeof *stats);
	/* No repack or gc moves entries out of a pack while it goes. */
	if ((rc = dos_pack_lock(st, 0, &lockfd, NULL)) < 0 ||
	    (rc = dos_store_index(st, 0, &ix)) < 0 ||
	    (rc = sealed_packs(st, &packs, &nr)) < 0)
		goto out;
	for (i = 0; i < nr; i++) {
		if ((rc = dos_remote_read_record(st, r->name, packs[i], &rec)) ==
		    DOS_ENOTFOUND) {
			rc = 0;
			stats->kept++;
			continue;
		}
		if (rc < 0)
			break;
		snprintf(name, sizeof name, "packs/%u", packs[i]);
		/* Unchanged since the push, by the index and by the file. */
		if ((rc = dos_index_get_pack_length(ix, packs[i],
		    &committed)) < 0 || fstatat(st->dirfd, name, &sb,
		    AT_SYMLINK_NOFOLLOW) < 0 || committed != rec.length ||
		    (uint64_t)sb.st_size != rec.length) {
			if (rc == DOS_ENOTFOUND || rc == 0)
				rc = 0;
			stats->kept++;
			if (rc < 0)
				break;
			continue;
		}
		if (s3 == NULL && (rc = dos_remote_connect(r, &s3)) < 0)
			break;
		snprintf(key, sizeof key, "packs/%u", packs[i]);
		if ((rc = check_remote(s3, key, rec.length, rec.sha256)) < 0)
			break;
		if (dos_step_unlink("remote-evict-unlink", st->dirfd,
		    name) < 0 ||
		    (rc = dos_fsync_dir("remote-evict-fsync", st->dirfd,
		    "packs")) < 0) {
			rc = DOS_EIO;
			break;
		}
		stats->evicted++;
		stats->bytes += rec.length;
	}
out:
	dos_s3_close(s3);
	free(packs);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}

/* ---- clone ---- */

/* An index on the remote: a pack's own (first == last), or a push's. */
struct listed {
	uint32_t first, last;
	uint64_t size;
};

struct pack_list {
	struct listed *packs;	/* the packs' own indexes, in pack order */
	size_t nr, alloc;
	struct listed *pushes;	/* the push indexes read, in pack order */
	size_t pushes_nr, pushes_alloc;
	uint64_t bytes;		/* of the indexes to read */
};

static int
list_index_cb(const char *key, uint64_t size, void *data)
{
	struct pack_list *l = data;
	struct listed *grown, **v;
	char name[32], *dash;
	size_t n = strlen(key), *nr, *alloc;
	uint32_t first, last;

	if (n < 11 || n - 4 >= sizeof name || strncmp(key, "packs/", 6) != 0 ||
	    strcmp(key + n - 4, ".idx") != 0)
		return 0;
	memcpy(name, key + 6, n - 10);
	name[n - 10] = '\0';
	if ((dash = strchr(name, '-')) != NULL)
		*dash = '\0';
	if (dos_parse_pack_name(name, &first) < 0 || (dash != NULL &&
	    (dos_parse_pack_name(dash + 1, &last) < 0 || last <= first)))
		return 0;
	v = dash != NULL ? &l->pushes : &l->packs;
	nr = dash != NULL ? &l->pushes_nr : &l->nr;
	alloc = dash != NULL ? &l->pushes_alloc : &l->alloc;
	if ((grown = dos_grow(*v, *nr, alloc, sizeof *grown, 64)) == NULL)
		return DOS_ENOMEM;
	*v = grown;
	grown[*nr].first = first;
	grown[*nr].last = dash != NULL ? last : first;
	grown[(*nr)++].size = size;
	return 0;
}

static int
listed_cmp(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->last < y->last ? -1 : x->last > y->last;
}

/* bsearch(3) order of a pack number among ranges that do not overlap. */
static int
range_cmp(const void *key, const void *elem)
{
	uint32_t pack = *(const uint32_t *)key;
	const struct listed *x = elem;

	return pack < x->first ? -1 : pack > x->last;
}

/* The push index of l whose packs' numbers pack is among, or -1. */
static ssize_t
covering(const struct pack_list *l, uint32_t pack)
{
	const struct listed *at;

	if (l->pushes_nr == 0)
		return -1;
	at = bsearch(&pack, l->pushes, l->pushes_nr, sizeof *at, range_cmp);
	return at == NULL ? -1 : at - l->pushes;
}

/* Where pack's own index is in l, or -1. */
static ssize_t
find_listed(const struct pack_list *l, uint32_t pack)
{
	struct listed key = { pack, pack, 0 }, *at;

	if (l->nr == 0)
		return -1;
	at = bsearch(&key, l->packs, l->nr, sizeof key, listed_cmp);
	return at == NULL ? -1 : at - l->packs;
}

/*
 * In pack order; of push indexes whose packs' numbers overlap (pushes of
 * one container never make them), the first.  Only the packs' own
 * indexes that none of them covers count for the bytes to read.
 */
static void
choose_indexes(struct pack_list *l)
{
	size_t i, kept = 0;

	/* Arrays not yet allocated are null, which qsort(3) may not get. */
	if (l->nr > 1)
		qsort(l->packs, l->nr, sizeof *l->packs, listed_cmp);
	if (l->pushes_nr > 1)
		qsort(l->pushes, l->pushes_nr, sizeof *l->pushes, listed_cmp);
	for (i = 0; i < l->pushes_nr; i++)
		if (kept == 0 || l->pushes[i].first > l->pushes[kept - 1].last)
			l->pushes[kept++] = l->pushes[i];
	l->pushes_nr = kept;
	l->bytes = 0;
	for (i = 0; i < l->pushes_nr; i++)
		l->bytes += l->pushes[i].size;
	for (i = 0; i < l->nr; i++)
		if (covering(l, l->packs[i].first) < 0)
			l->bytes += l->packs[i].size;
}

/* Whether the len bytes of fd end with the SHA-256 of those before. */
static int
check_sum(int fd, uint64_t len, unsigned char *buf)
{
	struct dos_hasher h;
	struct dos_oid sum, oid;
	uint64_t off, n, body = len - DOS_RAWSZ;
	int rc;

	if ((rc = dos_hasher_init(&h)) < 0)
		return rc;
	for (off = 0; off < body && rc == 0; off += n) {
		n = body - off < PIDX_BUF ? body - off : PIDX_BUF;
		if (pread(fd, buf, (size_t)n, (off_t)off) != (ssize_t)n)
			rc = DOS_EIO;
		else
			rc = dos_hasher_update(&h, buf, (size_t)n);
	}
	if (rc == 0)
		rc = dos_hasher_final(&h, &oid);
	dos_hasher_release(&h);
	if (rc < 0)
		return rc;
	if (pread(fd, sum.hash, DOS_RAWSZ, (off_t)body) != DOS_RAWSZ)
		return DOS_EIO;
	return memcmp(sum.hash, oid.hash, DOS_RAWSZ) == 0 ? 0 : DOS_ECORRUPT;
}

/* The header of pack's own index, into *rec. */
static int
parse_pack_header(const unsigned char *hdr, uint32_t pack,
    struct dos_remote_record *rec)
{
	struct dos_oid sum;

	if (memcmp(hdr, PIDX_MAGIC, 8) != 0 ||
	    dos_get_le64(hdr + 8) != (PIDX_VERSION | (uint64_t)pack << 32) ||
	    dos_get_le64(hdr + 16) < DOS_PACK_HEADER_SIZE)
		return DOS_ECORRUPT;
	rec->length = dos_get_le64(hdr + 16);
	rec->version = (unsigned)dos_get_le64(hdr + 24);
	memcpy(sum.hash, hdr + 32, DOS_RAWSZ);
	dos_oid_to_hex(&sum, rec->sha256);
	return 0;
}

/* A record of an entry that lies within its pack of length len. */
static int
check_record(const struct dos_index_record *r, uint64_t len)
{
	if (r->entry.codec > DOS_CODEC_ZSTD || r->entry.offset >= len ||
	    r->entry.stored_size > len - r->entry.offset)
		return DOS_ECORRUPT;
	return 0;
}

/*
 * The record read from the 57 bytes p of a pack index (encode_record),
 * of pack: DOS_ECORRUPT unless its entry lies within the pack's len bytes.
 */
static int
decode_record(struct dos_index_record *r, const unsigned char *p,
    uint32_t pack, uint64_t len)
{
	uint64_t third = dos_get_le64(p + DOS_RAWSZ + 9);

	memcpy(r->oid.hash, p, DOS_RAWSZ);
	r->entry.pack = pack;
	r->entry.offset = dos_get_le64(p + DOS_RAWSZ + 1);
	r->entry.raw_size = dos_get_le64(p + DOS_RAWSZ + 17);
	if (p[DOS_RAWSZ] == PIDX_MEMBER) {
		if (third >= DOS_GROUP_MEMBERS_MAX)
			return DOS_ECORRUPT;
		r->entry.codec = DOS_CODEC_NONE;
		r->entry.stored_size = 0;
		r->entry.member = (uint32_t)third + 1;
	} else {
		r->entry.codec = (enum dos_codec)p[DOS_RAWSZ];
		r->entry.stored_size = third;
		r->entry.member = 0;
	}
	return p[DOS_RAWSZ] > PIDX_MEMBER ? DOS_ECORRUPT :
	    check_record(r, len);
}

/*
 * Read the pack index in fd (len bytes) twice through buf: first to check
 * its SHA-256, then to add its records to the sort s through recs
 * (PIDX_RECS of them).
 */
static int
sort_pack(struct dos_sort *s, int fd, uint64_t len, uint32_t pack,
    struct dos_remote_record *rec, unsigned char *buf,
    struct dos_index_record *recs, uint64_t *objects)
{
	unsigned char hdr[PIDX_HEADER_SIZE], *p;
	uint64_t body, nrec, i;
	size_t want, k;
	int rc;

	if (len < PIDX_HEADER_SIZE + DOS_RAWSZ ||
	    (len - PIDX_HEADER_SIZE - DOS_RAWSZ) % PIDX_RECORD_SIZE != 0)
		return DOS_ECORRUPT;
	body = len - DOS_RAWSZ;
	if ((rc = check_sum(fd, len, buf)) < 0)
		return rc;
	if (pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
		return DOS_EIO;
	if ((rc = parse_pack_header(hdr, pack, rec)) < 0)
		return rc;
	nrec = (body - PIDX_HEADER_SIZE) / PIDX_RECORD_SIZE;
	for (i = 0; i < nrec; i += want) {
		want = nrec - i < PIDX_RECS ? (size_t)(nrec - i) : PIDX_RECS;
		if (pread(fd, buf, want * PIDX_RECORD_SIZE, (off_t)(PIDX_HEADER_SIZE +
		    i * PIDX_RECORD_SIZE)) != (ssize_t)(want * PIDX_RECORD_SIZE))
			return DOS_EIO;
		for (k = 0, p = buf; k < want; k++, p += PIDX_RECORD_SIZE)
			if ((rc = decode_record(&recs[k], p, pack,
			    rec->length)) < 0)
				return rc;
		for (k = 0; k < want; k++)
			if ((rc = dos_sort_add(s, &recs[k])) < 0)
				return rc;
		*objects += want;
	}
	return 0;
}

/*
 * The pack indexes of a clone, fetched DOS_REMOTE_FETCHERS at a time
 * (a GET takes the server a few milliseconds whatever its size: one after
 * another, they took most of a clone's time), each checked and sorted in
 * turn, while the caller records each pack sorted: first the push
 * indexes, then the packs' own indexes, but those of the packs a push
 * index read names.
 */
struct index_fetch {
	struct dos_store *st;
	const struct dos_remote *r;
	const struct pack_list *l;
	struct dos_remote_record *got;	/* of each pack of l */
	unsigned char *sorted;	/* whether got[i] is there */
	unsigned char *pushed;	/* whether push index i is read */
	struct dos_sort *sort;
	dos_remote_progress_fn *progress;
	void *data;
	struct dos_clone_stats *stats;
	pthread_mutex_t lock;	/* over all below, sort, sorted and stats */
	pthread_cond_t more;	/* a pack is sorted, or a thread failed */
	size_t next;		/* the next index to fetch: pushes first */
	uint64_t done;		/* bytes of the indexes sorted */
	int rc;			/* the first failure */
	char error[256];	/* what the server said of it */
};

/*
 * Read push index c of f->l, as sort_pack reads a pack's (buf, recs),
 * and mark its packs sorted.
 */
static int
sort_push(struct index_fetch *f, int fd, uint64_t len, size_t c,
    unsigned char *buf, struct dos_index_record *recs)
{
	const struct listed *push = &f->l->pushes[c];
	unsigned char hdr[PIDX_HEADER_SIZE];
	struct dos_remote_record rec;
	struct dos_index_record *r;
	uint64_t npacks, nrec, i, off, end;
	size_t want, k, n, have = 0, pos = 0;
	ssize_t at;
	uint32_t pack, prev = 0;
	int rc;

	if (len < PIDX_HEADER_SIZE + DOS_RAWSZ ||
	    pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
		return DOS_ECORRUPT;
	npacks = dos_get_le32(hdr + 12);
	nrec = dos_get_le64(hdr + 16);
	if (memcmp(hdr, PIDX_MAGIC, 8) != 0 ||
	    dos_get_le32(hdr + 8) != CIDX_VERSION || npacks < 2 ||
	    len < PIDX_HEADER_SIZE * (1 + npacks) + DOS_RAWSZ ||
	    nrec > (len - PIDX_HEADER_SIZE * (1 + npacks) - DOS_RAWSZ) /
	    CIDX_RECORD_MIN)
		return DOS_ECORRUPT;
	if ((rc = check_sum(fd, len, buf)) < 0)
		return rc;
	/* Its packs, each one whose own index is listed, in order. */
	for (i = 0; i < npacks; i++) {
		off = PIDX_HEADER_SIZE * (1 + i);
		if (pread(fd, hdr, sizeof hdr, (off_t)off) != (ssize_t)sizeof hdr)
			return DOS_EIO;
		pack = dos_get_le32(hdr + 12);
		if ((i > 0 && pack <= prev) || pack < push->first ||
		    pack > push->last || (at = find_listed(f->l, pack)) < 0 ||
		    (rc = parse_pack_header(hdr, pack, &rec)) < 0)
			return DOS_ECORRUPT;
		f->got[at] = rec;
		prev = pack;
	}
	/* The records, of varying length, read through buf. */
	off = PIDX_HEADER_SIZE * (1 + npacks);
	end = len - DOS_RAWSZ;
	for (i = 0; i < nrec; i += want) {
		for (want = 0; want < PIDX_RECS && i + want < nrec; want++) {
			if (have - pos < CIDX_RECORD_MAX && off < end) {
				memmove(buf, buf + pos, have - pos);
				have -= pos;
				pos = 0;
				n = end - off < PIDX_BUF - have ?
				    (size_t)(end - off) : PIDX_BUF - have;
				if (pread(fd, buf + have, n, (off_t)off) !=
				    (ssize_t)n)
					return DOS_EIO;
				have += n;
				off += n;
			}
			r = &recs[want];
			if (have - pos < DOS_RAWSZ + 1 ||
			    (k = buf[pos + DOS_RAWSZ]) > have - pos - DOS_RAWSZ -
			    1 || dos_index_decode_entry(buf + pos + DOS_RAWSZ + 1,
			    k, &r->entry) < 0)
				return DOS_ECORRUPT;
			memcpy(r->oid.hash, buf + pos, DOS_RAWSZ);
			pos += DOS_RAWSZ + 1 + k;
			/* A pack of its own: got is set by its header alone. */
			if (r->entry.pack < push->first ||
			    r->entry.pack > push->last ||
			    (at = find_listed(f->l, r->entry.pack)) < 0 ||
			    f->got[at].length == 0 ||
			    check_record(r, f->got[at].length) < 0)
				return DOS_ECORRUPT;
		}
		for (k = 0; k < want; k++)
			if ((rc = dos_sort_add(f->sort, &recs[k])) < 0)
				return rc;
		f->stats->objects += want;
	}
	if (off != end || pos != have)
		return DOS_ECORRUPT;
	for (i = 0; i < npacks; i++) {
		off = PIDX_HEADER_SIZE * (1 + i);
		if (pread(fd, hdr, sizeof hdr, (off_t)off) != (ssize_t)sizeof hdr)
			return DOS_EIO;
		f->sorted[find_listed(f->l, dos_get_le32(hdr + 12))] = 1;
	}
	f->pushed[c] = 1;
	return 0;
}

/* One connection's fetches. */
struct index_fetcher {
	struct index_fetch *f;
	int fd;			/* an unnamed temp file the GETs go to */
	pthread_t th;
	int started;		/* th is running fetch_indexes */
};

/*
 * The key of index k of f->l to fetch (pushes first), or "" when it need
 * not be: a pack's own index that the push index covering it had.
 */
static void
next_key(struct index_fetch *f, size_t k, char *key, size_t size)
{
	const struct pack_list *l = f->l;
	ssize_t c;
	size_t i;

	if (k < l->pushes_nr) {
		snprintf(key, size, "packs/%u-%u.idx", l->pushes[k].first,
		    l->pushes[k].last);
		return;
	}
	i = k - l->pushes_nr;
	if ((c = covering(l, l->packs[i].first)) >= 0) {
		/* Fetched before any pack's: read by now, or being read. */
		while (!f->pushed[c] && f->rc == 0)
			pthread_cond_wait(&f->more, &f->lock);
		if (f->sorted[i] || f->rc != 0) {
			key[0] = '\0';
			return;
		}
	}
	snprintf(key, size, "packs/%u.idx", l->packs[i].first);
}

static void *
fetch_indexes(void *arg)
{
	struct index_fetcher *w = arg;
	struct index_fetch *f = w->f;
	const struct pack_list *l = f->l;
	struct dos_index_record *recs;
	struct dos_s3 *s3 = NULL;
	unsigned char *buf;
	struct stat sb;
	char key[64];
	size_t k, i;
	int rc = 0;

	buf = malloc(PIDX_BUF);
	recs = malloc(PIDX_RECS * sizeof *recs);
	if (buf == NULL || recs == NULL)
		rc = DOS_ENOMEM;
	else
		rc = dos_remote_connect(f->r, &s3);
	pthread_mutex_lock(&f->lock);
	while (rc == 0 && f->rc == 0 && f->next < l->pushes_nr + l->nr) {
		k = f->next++;
		next_key(f, k, key, sizeof key);
		if (key[0] == '\0')
			continue;
		pthread_mutex_unlock(&f->lock);
		if ((rc = dos_s3_get_fd(s3, key, w->fd)) == 0 &&
		    fstat(w->fd, &sb) < 0)
			rc = DOS_EIO;
		pthread_mutex_lock(&f->lock);
		if (rc < 0 || f->rc < 0)
			break;
		if (k < l->pushes_nr) {
			rc = sort_push(f, w->fd, (uint64_t)sb.st_size, k, buf,
			    recs);
		} else {
			i = k - l->pushes_nr;
			if ((rc = sort_pack(f->sort, w->fd,
			    (uint64_t)sb.st_size, l->packs[i].first, &f->got[i],
			    buf, recs, &f->stats->objects)) == 0)
				f->sorted[i] = 1;
		}
		if (rc < 0)
			break;
		f->done += (uint64_t)sb.st_size;
		if (f->progress != NULL)
			f->progress("indexing packs", f->done, l->bytes,
			    f->data);
		pthread_cond_broadcast(&f->more);
	}
	if (rc == DOS_ECORRUPT) {
		dos_s3_set_error("%s: %s: not a valid pack index",
		    dos_s3_endpoint(s3), key);
		rc = DOS_EREMOTE;
	}
	/* The error message is this thread's: the first one is kept. */
	if (rc < 0 && f->rc == 0) {
		f->rc = rc;
		snprintf(f->error, sizeof f->error, "%s", dos_s3_last_error());
	}
	pthread_cond_broadcast(&f->more);
	pthread_mutex_unlock(&f->lock);
	/* Freeing what it held takes milliseconds: here, not on the caller. */
	close(w->fd);
	w->fd = -1;
	dos_s3_close(s3);
	free(recs);
	free(buf);
	return NULL;
}

/* Start the fetchers of w (n of them, their fds -1), or fetch here. */
static int
start_fetchers(struct dos_store *st, struct index_fetch *f,
    struct index_fetcher *w, size_t n)
{
	char tmp[64];
	size_t k;

	for (k = 0; k < n; k++) {
		w[k].f = f;
		if ((w[k].fd = dos_temp_create(st, "remote-index-create",
		    O_RDWR, tmp, sizeof tmp)) < 0)
			return DOS_EIO;
		/* Unnamed from now on: nothing to clean up after a kill. */
		if (dos_step_unlink("remote-index-unlink", st->tmpfd, tmp) < 0)
			return DOS_EIO;
	}
	for (k = 0; k < n; k++) {
		if (pthread_create(&w[k].th, NULL, fetch_indexes, &w[k]) != 0)
			break;
		w[k].started = 1;
	}
	/* No thread: the fetches are run here. */
	if (n > 0 && k == 0)
		fetch_indexes(&w[0]);
	return 0;
}

/*
 * Stop the fetchers of w (a failure of the caller's, rc, stops them at
 * their next pack), and wait for them: the first failure, the fetchers'
 * with what the server said, or the caller's.
 */
static int
stop_fetchers(struct index_fetch *f, struct index_fetcher *w, size_t n,
    int rc)
{
	size_t k;

	pthread_mutex_lock(&f->lock);
	if (rc < 0 && f->rc == 0)
		f->rc = rc;
	pthread_mutex_unlock(&f->lock);
	for (k = 0; k < n; k++) {
		if (w[k].started)
			pthread_join(w[k].th, NULL);
		if (w[k].fd >= 0)
			close(w[k].fd);
	}
	if (f->error[0] != '\0')
		dos_s3_set_error("%s", f->error);
	return f->rc;
}

/*
 * Record each pack of f->l as held by the remote once its index is read,
 * in a thread of its own: its syncs wait for the disk while the fetches,
 * then the index, go on (temp files are named from an atomic counter).
 */
static void *
record_packs(void *arg)
{
	struct index_fetch *f = arg;
	const struct pack_list *l = f->l;
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < l->nr && rc == 0; i++) {
		while (!f->sorted[i] && f->rc == 0)
			pthread_cond_wait(&f->more, &f->lock);
		if ((rc = f->sorted[i] ? 0 : f->rc) < 0)
			break;
		pthread_mutex_unlock(&f->lock);
		rc = write_record(f->st, f->r->name, l->packs[i].first,
		    &f->got[i]);
		pthread_mutex_lock(&f->lock);
		if (rc == 0) {
			f->stats->packs++;
			f->stats->bytes += f->got[i].length;
		}
	}
	if (rc < 0 && f->rc == 0)
		f->rc = rc;
	pthread_cond_broadcast(&f->more);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/*
 * Commit the length of every pack of l, unsynced: the load's last
 * commit, or the own pack's, waits for the disk and so makes it durable.
 */
static int
commit_lengths(struct dos_index *ix, const struct pack_list *l,
    const struct dos_remote_record *got)
{
	size_t i;
	int rc;

	if ((rc = dos_index_begin(ix)) < 0)
		return rc;
	for (i = 0, rc = 0; i < l->nr && rc == 0; i++)
		rc = dos_index_set_pack_length(ix, l->packs[i].first,
		    got[i].length);
	if (rc == 0)
		return dos_index_commit_nosync(ix);
	dos_index_abort(ix);
	return rc;
}

/*
 * The container's own packs come after the remote's: packs/<n> must never
 * be made again for an n the index already places objects in.  An empty
 * pack, durable and known to the index, is where its writer continues.
 */
static int
start_own_pack(struct dos_store *st, struct dos_index *ix, uint32_t pack)
{
	unsigned char hdr[DOS_PACK_HEADER_SIZE];
	char name[32];
	int fd, rc;

	snprintf(name, sizeof name, "packs/%u", pack);
	dos_pack_encode_header(hdr);
	if ((fd = dos_step_create("pack-create", st->dirfd, name,
	    O_RDWR | O_EXCL, 0666)) < 0)
		return DOS_EIO;
	rc = dos_step_pwrite("pack-new-header-write", fd, hdr, sizeof hdr,
	    0) < 0 || dos_step_fdatasync("pack-new-fdatasync", fd) < 0 ?
	    DOS_EIO : 0;
	close(fd);
	if (rc == 0)
		rc = dos_fsync_dir("packs-fsync", st->dirfd, "packs");
	if (rc == 0 && (rc = dos_index_begin(ix)) == 0) {
		if ((rc = dos_index_set_pack_length(ix, pack,
		    DOS_PACK_HEADER_SIZE)) == 0)
			rc = dos_index_commit(ix);
		else
			dos_index_abort(ix);
	}
	return rc;
}

/*
 * The index of a new container from the pack indexes of l: all their
 * records, sorted by id across packs, go into the empty index in id
 * order, so that each leaf is written once and full, where a pack's
 * records at a time scattered over the whole tree and rewrote its pages
 * (and logged them) many times over.  The index is empty, so objects.db
 * is built whole outside the environment, without a log (which cost as
 * much as the tree), before the environment is first opened; a clone run
 * again after a kill finds it, whole, or none.  An objects.db there
 * already (made by a run killed after it) is loaded into as any index
 * is, records put again where they are.  Each pack is recorded as held
 * by r before the index points into it.  A copy of an object in two
 * packs: either is right.
 */
static int
index_packs(struct dos_store *st, const struct dos_remote *r,
    const struct pack_list *l, dos_remote_progress_fn *progress, void *data,
    struct dos_clone_stats *stats)
{
	struct index_fetcher w[DOS_REMOTE_FETCHERS];
	struct index_fetch f;
	struct dos_index *ix = NULL;
	pthread_t recorder;
	char tmp[64];
	size_t k, n;
	int rc, built = 0, recording = 0, placing = 0;

	memset(&f, 0, sizeof f);
	memset(w, 0, sizeof w);
	for (k = 0; k < DOS_REMOTE_FETCHERS; k++)
		w[k].fd = -1;
	n = l->pushes_nr + l->nr < DOS_REMOTE_FETCHERS ?
	    l->pushes_nr + l->nr : DOS_REMOTE_FETCHERS;
	f.st = st;
	f.r = r;
	f.l = l;
	f.progress = progress;
	f.data = data;
	f.stats = stats;
	pthread_mutex_init(&f.lock, NULL);
	pthread_cond_init(&f.more, NULL);
	if ((f.got = calloc(l->nr + 1, sizeof *f.got)) == NULL ||
	    (f.sorted = calloc(l->nr + 1, 1)) == NULL ||
	    (f.pushed = calloc(l->pushes_nr + 1, 1)) == NULL)
		rc = DOS_ENOMEM;
	else if ((rc = dos_sort_open(st, sizeof(struct dos_index_record),
	    dos_index_record_cmp, DOS_SORT_BUDGET, &f.sort)) == 0)
		rc = start_fetchers(st, &f, w, n);
	if (rc == 0)
		recording = pthread_create(&recorder, NULL, record_packs,
		    &f) == 0;
	/* Meanwhile, the index's environment, which no thread uses. */
	if (rc == 0)
		rc = dos_index_prepare(st);
	rc = stop_fetchers(&f, w, n, rc);
	/* No thread: the packs are recorded here, all fetched. */
	if (rc == 0 && !recording)
		record_packs(&f);
	/*
	 * objects.db is built while they are recorded, and put in place
	 * and made the index by the environment only once they are.
	 */
	if (rc == 0 && (rc = dos_sort_finish(f.sort)) == 0 &&
	    (rc = built = dos_journal_build_index(st, f.sort, tmp,
	    sizeof tmp)) == 0)
		placing = 1;
	if (recording)
		pthread_join(recorder, NULL);
	if (rc >= 0 && f.rc < 0)
		rc = f.rc;
	/* In index/ only once every pack it points into is recorded. */
	if (placing)
		rc = dos_journal_place_index(st, tmp, rc);
	if (rc >= 0 && (rc = dos_store_index(st, 1, &ix)) == 0 &&
	    (rc = commit_lengths(ix, l, f.got)) == 0 && built == 1)
		rc = dos_journal_put_sorted(ix, f.sort);
	if (rc == 0)
		rc = start_own_pack(st, ix, l->nr > 0 ?
		    l->packs[l->nr - 1].first + 1 : 0);
	pthread_cond_destroy(&f.more);
	pthread_mutex_destroy(&f.lock);
	dos_sort_close(f.sort);
	free(f.pushed);
	free(f.sorted);
	free(f.got);
	return rc;
}

/* r added to st, or there already (a clone run again). */
static int
add_again(struct dos_store *st, const struct dos_remote *r)
{
	struct dos_remote had;
	int rc;

	if ((rc = dos_remote_add(st, r)) != DOS_EEXIST)
		return rc;
	if ((rc = dos_remote_find(st, r->name, &had)) < 0)
		return rc;
	return strcmp(had.url, r->url) == 0 ? 0 : DOS_EEXIST;
}

int
dos_remote_clone(struct dos_store *st, const struct dos_remote *r,
    dos_remote_progress_fn *progress, void *data,
    struct dos_clone_stats *stats)
{
	struct pack_list l = { NULL, 0, 0, NULL, 0, 0, 0 };
	struct dos_s3 *s3 = NULL;
	uint32_t *own = NULL;
	size_t nown = 0;
	int rc;

	memset(stats, 0, sizeof *stats);
	/*
	 * The container's own pack is made last: once there, a clone run
	 * again has nothing to do (its index may have changed since).
	 */
	if ((rc = add_again(st, r)) < 0 ||
	    (rc = dos_pack_list(st, &own, &nown)) < 0)
		goto out;
	if (nown > 0) {
		stats->done_before = 1;
		goto out;
	}
	if ((rc = dos_remote_connect(r, &s3)) < 0 ||
	    (rc = dos_s3_list(s3, "packs/", list_index_cb, &l)) < 0)
		goto out;
	choose_indexes(&l);
	rc = index_packs(st, r, &l, progress, data, stats);
out:
	free(own);
	free(l.pushes);
	free(l.packs);
	dos_s3_close(s3);
	return rc;
}

/* ---- fetch ---- */

/*
 * Pack n from the remote into sandbox/, checked against its record (its
 * length and SHA-256), synced, then renamed into packs/ under the pack
 * lock, never over a pack there.  A kill leaves at most a temp file,
 * which gc removes, and the pack still evicted.
 */
static int
fetch_pack(struct dos_store *st, struct dos_s3 *s3, uint32_t pack,
    const struct dos_remote_record *rec)
{
	char key[64], name[64], tmp[64], sha[DOS_HEXSZ + 1];
	struct stat sb;
	int rc, fd, lockfd = -1, renamed = 0;

	snprintf(key, sizeof key, "packs/%u", pack);
	if ((fd = dos_temp_create(st, "remote-fetch-create", O_RDWR, tmp,
	    sizeof tmp)) < 0)
		return DOS_EIO;
	if ((rc = dos_s3_get_fd(s3, key, fd)) == 0)
		rc = fstat(fd, &sb) < 0 ? DOS_EIO :
		    (uint64_t)sb.st_size != rec->length ? DOS_ECORRUPT :
		    dos_sha256_range(fd, 0, rec->length, sha);
	if (rc == 0 && strcmp(sha, rec->sha256) != 0)
		rc = DOS_ECORRUPT;
	if (rc == DOS_ECORRUPT) {
		dos_s3_set_error("%s: %s is not the pack pushed (%llu bytes of "
		    "SHA-256 %s)", dos_s3_endpoint(s3), key,
		    (unsigned long long)rec->length, rec->sha256);
		rc = DOS_EREMOTE;
	}
	if (rc == 0 && dos_step_fsync("remote-fetch-fsync", fd) < 0)
		rc = DOS_EIO;
	close(fd);
	if (rc == 0 && (rc = dos_pack_lock(st, 0, &lockfd, NULL)) == 0) {
		snprintf(name, sizeof name, "packs/%u", pack);
		/* One there already was fetched meanwhile. */
		if (dos_step_rename("remote-fetch-rename", st->tmpfd, tmp,
		    st->dirfd, name, RENAME_NOREPLACE) == 0) {
			renamed = 1;
			rc = dos_fsync_dir("remote-fetch-dir-fsync", st->dirfd,
			    "packs");
		} else if (errno != EEXIST) {
			rc = DOS_EIO;
		}
	}
	if (lockfd >= 0)
		close(lockfd);
	if (!renamed)
		dos_step_unlink("remote-fetch-unlink", st->tmpfd, tmp);
	return rc;
}

int
dos_remote_fetch(struct dos_store *st, const struct dos_remote *r,
    dos_remote_progress_fn *progress, void *data,
    struct dos_fetch_stats *stats)
{
	struct dos_remote_record rec;
	struct dos_s3 *s3 = NULL;
	uint32_t *packs;
	uint64_t total = 0;
	size_t nr, i;
	int rc;

	memset(stats, 0, sizeof *stats);
	if ((rc = dos_remote_evicted(st, r->name, &packs, &nr)) < 0)
		return rc;
	for (i = 0; i < nr && rc == 0; i++)
		if ((rc = dos_remote_read_record(st, r->name, packs[i],
		    &rec)) == 0)
			total += rec.length;
	if (rc == 0 && nr > 0)
		rc = dos_remote_connect(r, &s3);
	for (i = 0; i < nr && rc == 0; i++) {
		if ((rc = dos_remote_read_record(st, r->name, packs[i],
		    &rec)) < 0 ||
		    (rc = fetch_pack(st, s3, packs[i], &rec)) < 0)
			break;
		stats->packs++;
		stats->bytes += rec.length;
		if (progress != NULL)
			progress("fetching packs", stats->bytes, total, data);
	}
	dos_s3_close(s3);
	free(packs);
	return rc;
}
