/*
 * index.c: the Berkeley DB index of packed objects.
 *
 * index/ is a transactional Berkeley DB environment holding two B-trees:
 * objects.db maps a 32-byte object id to where its pack entry is, and
 * packs.db maps a pack number to the length of the pack that committed
 * transactions cover (bytes past it are the torn tail of a killed writer).
 *
 * Every process opens the environment with DB_REGISTER | DB_RECOVER: the
 * first process to open it after another died inside it runs recovery,
 * so a kill -9 at any instant never leaves an environment that needs a
 * person (the failure Subversion's BDB users knew as a "wedged"
 * repository).  Processes still inside it then get DB_RUNRECOVERY; they
 * close their handles, reopen and retry.  A user who cannot write index/
 * (another account, a read-only mount) opens objects.db directly,
 * read-only and without the environment; writers checkpoint after each
 * command, so that file is current whenever no writer is active.
 *
 * Readers use DB_READ_UNCOMMITTED and never wait for a writer: every
 * record a writer puts points at pack bytes it has already made durable,
 * so an uncommitted record is never a dangling one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <db.h>

#include "dos.h"

#define INDEX_CACHE_BYTES (32U << 20)
#define RECORD_SIZE 32
/* Checkpoint when this much log has been written since the last one. */
#define CHECKPOINT_KBYTES (16 * 1024)
#define LOCK_TIMEOUT_USEC 2000000
#define GET_TRIES 3
/* Keys read per cursor visit by dos_index_walk. */
#define WALK_CHUNK 1024

struct dos_index {
	DB_ENV *env;		/* NULL when opened read-only without it */
	DB *objects, *packs;
	DB_TXN *txn;
	char *home;
	int writable;
};

static char last_db_error[512];

static void
remember_error(const DB_ENV *env, const char *prefix, const char *msg)
{
	snprintf(last_db_error, sizeof last_db_error, "%s", msg);
}

const char *
dos_index_last_error(void)
{
	return last_db_error;
}

/* Berkeley DB returns errno values or its own negative codes. */
static int
db_error(int ret)
{
	if (ret == 0)
		return 0;
	if (ret == DB_NOTFOUND || ret == DB_KEYEMPTY)
		return DOS_ENOTFOUND;
	if (ret > 0) {
		errno = ret;
		return DOS_EIO;
	}
	if (ret == DB_RUNRECOVERY)
		return DOS_ERECOVER;
	if (ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED)
		return DOS_EBUSY;
	snprintf(last_db_error, sizeof last_db_error, "%s", db_strerror(ret));
	return DOS_EINDEX;
}

static void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put_u64(unsigned char *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

static uint64_t
get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

/* Record layout: pack, codec, 3 spare bytes, offset, stored, raw. */
static void
encode_entry(unsigned char *rec, const struct dos_index_entry *e)
{
	memset(rec, 0, RECORD_SIZE);
	put_u32(rec, e->pack);
	rec[4] = (unsigned char)e->codec;
	put_u64(rec + 8, e->offset);
	put_u64(rec + 16, e->stored_size);
	put_u64(rec + 24, e->raw_size);
}

static int
decode_entry(const unsigned char *rec, size_t len, struct dos_index_entry *e)
{
	if (len != RECORD_SIZE || rec[4] > DOS_CODEC_ZSTD)
		return DOS_ECORRUPT;
	e->pack = get_u32(rec);
	e->codec = (enum dos_codec)rec[4];
	e->offset = get_u64(rec + 8);
	e->stored_size = get_u64(rec + 16);
	e->raw_size = get_u64(rec + 24);
	return 0;
}

static void
close_handles(struct dos_index *ix)
{
	if (ix->txn != NULL)
		ix->txn->abort(ix->txn);
	ix->txn = NULL;
	if (ix->objects != NULL)
		ix->objects->close(ix->objects, 0);
	if (ix->packs != NULL)
		ix->packs->close(ix->packs, 0);
	ix->objects = ix->packs = NULL;
	if (ix->env != NULL) {
		if (ix->writable)
			ix->env->txn_checkpoint(ix->env, 0, 0, 0);
		ix->env->close(ix->env, 0);
	}
	ix->env = NULL;
}

static int
open_db(struct dos_index *ix, DB **dbp, const char *name, int create)
{
	char path[4096];
	u_int32_t flags = DB_THREAD | DB_READ_UNCOMMITTED;
	int ret;

	if ((ret = db_create(dbp, ix->env, 0)) != 0)
		return db_error(ret);
	(*dbp)->set_errcall(*dbp, remember_error);
	if (ix->env == NULL) {
		snprintf(path, sizeof path, "%s/%s", ix->home, name);
		ret = (*dbp)->open(*dbp, NULL, path, NULL, DB_BTREE,
		    DB_RDONLY | DB_THREAD, 0);
	} else {
		if (create)
			flags |= DB_CREATE | DB_AUTO_COMMIT;
		ret = (*dbp)->open(*dbp, NULL, name, NULL, DB_BTREE, flags, 0666);
	}
	if (ret != 0) {
		(*dbp)->close(*dbp, 0);
		*dbp = NULL;
		return db_error(ret);
	}
	return 0;
}

static int
open_env(struct dos_index *ix)
{
	u_int32_t flags = DB_CREATE | DB_INIT_MPOOL | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_TXN | DB_REGISTER | DB_RECOVER | DB_THREAD;
	int ret;

	if ((ret = db_env_create(&ix->env, 0)) != 0)
		return db_error(ret);
	ix->env->set_errcall(ix->env, remember_error);
	ix->env->set_cachesize(ix->env, 0, INDEX_CACHE_BYTES, 1);
	ix->env->log_set_config(ix->env, DB_LOG_AUTO_REMOVE, 1);
	ix->env->set_lk_detect(ix->env, DB_LOCK_DEFAULT);
	/*
	 * A process killed while holding a lock never releases it; waiting
	 * for it ends after this long, and the caller reopens and retries.
	 */
	ix->env->set_timeout(ix->env, LOCK_TIMEOUT_USEC, DB_SET_LOCK_TIMEOUT);
	ret = ix->env->open(ix->env, ix->home, flags, 0666);
	if (ret != 0) {
		ix->env->close(ix->env, 0);
		ix->env = NULL;
		return db_error(ret);
	}
	return 0;
}

static int
open_all(struct dos_index *ix)
{
	int rc;

	rc = open_env(ix);
	if (rc == DOS_EIO && !ix->writable &&
	    (errno == EACCES || errno == EROFS || errno == EPERM))
		rc = 0;		/* read-only: the database files alone */
	if (rc < 0)
		return rc;
	if ((rc = open_db(ix, &ix->objects, "objects.db", ix->writable)) < 0 ||
	    (rc = open_db(ix, &ix->packs, "packs.db", ix->writable)) < 0)
		close_handles(ix);
	return rc;
}

int
dos_index_open(struct dos_store *st, int writable, struct dos_index **out)
{
	struct dos_index *ix;
	size_t len = strlen(st->path) + sizeof "/index";
	int rc;

	if ((ix = calloc(1, sizeof *ix)) == NULL ||
	    (ix->home = malloc(len)) == NULL) {
		free(ix);
		return DOS_ENOMEM;
	}
	snprintf(ix->home, len, "%s/index", st->path);
	ix->writable = writable;
	if (writable && mkdirat(st->dirfd, "index", 0777) < 0 && errno != EEXIST) {
		rc = DOS_EIO;
		goto fail;
	}
	if (!writable && faccessat(st->dirfd, "index/objects.db", F_OK, 0) < 0) {
		/* Nothing was ever packed: an empty index. */
		*out = ix;
		return 0;
	}
	if ((rc = open_all(ix)) < 0)
		goto fail;
	*out = ix;
	return 0;
fail:
	free(ix->home);
	free(ix);
	return rc;
}

void
dos_index_close(struct dos_index *ix)
{
	if (ix == NULL)
		return;
	close_handles(ix);
	free(ix->home);
	free(ix);
}

/* Another process died and recovery ran: start over with new handles. */
int
dos_index_reopen(struct dos_index *ix)
{
	close_handles(ix);
	return open_all(ix);
}

static int
get_entry(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e, u_int32_t flags)
{
	unsigned char rec[RECORD_SIZE];
	DBT key, val;
	int ret, rc, tries;

	if (ix->objects == NULL)
		return DOS_ENOTFOUND;
	if (ix->txn != NULL || ix->env == NULL)
		flags = 0;
	for (tries = 1; ; tries++) {
		memset(&key, 0, sizeof key);
		memset(&val, 0, sizeof val);
		key.data = (void *)(uintptr_t)oid->hash;
		key.size = DOS_RAWSZ;
		val.data = rec;
		val.ulen = sizeof rec;
		val.flags = DB_DBT_USERMEM;
		ret = ix->objects->get(ix->objects, ix->txn, &key, &val, flags);
		if (ret == 0)
			return decode_entry(rec, val.size, e);
		rc = db_error(ret);
		if ((rc != DOS_ERECOVER && rc != DOS_EBUSY) || tries == GET_TRIES ||
		    ix->txn != NULL)
			return rc;
		if ((rc = dos_index_reopen(ix)) < 0)
			return rc;
	}
}

int
dos_index_get(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e)
{
	return get_entry(ix, oid, e, DB_READ_UNCOMMITTED);
}

int
dos_index_get_committed(struct dos_index *ix, const struct dos_oid *oid,
    struct dos_index_entry *e)
{
	return get_entry(ix, oid, e, 0);
}

int
dos_index_begin(struct dos_index *ix)
{
	int ret;

	if (!ix->writable || ix->env == NULL || ix->txn != NULL)
		return DOS_EINVAL;
	ret = ix->env->txn_begin(ix->env, NULL, &ix->txn, 0);
	if (ret == DB_RUNRECOVERY && dos_index_reopen(ix) == 0)
		ret = ix->env->txn_begin(ix->env, NULL, &ix->txn, 0);
	return ret == 0 ? 0 : db_error(ret);
}

int
dos_index_put(struct dos_index *ix, const struct dos_oid *oid,
    const struct dos_index_entry *e)
{
	unsigned char rec[RECORD_SIZE];
	DBT key, val;

	encode_entry(rec, e);
	memset(&key, 0, sizeof key);
	memset(&val, 0, sizeof val);
	key.data = (void *)(uintptr_t)oid->hash;
	key.size = DOS_RAWSZ;
	val.data = rec;
	val.size = sizeof rec;
	return db_error(ix->objects->put(ix->objects, ix->txn, &key, &val, 0));
}

int
dos_index_del(struct dos_index *ix, const struct dos_oid *oid)
{
	DBT key;

	memset(&key, 0, sizeof key);
	key.data = (void *)(uintptr_t)oid->hash;
	key.size = DOS_RAWSZ;
	return db_error(ix->objects->del(ix->objects, ix->txn, &key, 0));
}

int
dos_index_set_pack_length(struct dos_index *ix, uint32_t pack,
    uint64_t length)
{
	unsigned char k[4], v[8];
	DBT key, val;

	put_u32(k, pack);
	put_u64(v, length);
	memset(&key, 0, sizeof key);
	memset(&val, 0, sizeof val);
	key.data = k;
	key.size = sizeof k;
	val.data = v;
	val.size = sizeof v;
	return db_error(ix->packs->put(ix->packs, ix->txn, &key, &val, 0));
}

int
dos_index_get_pack_length(struct dos_index *ix, uint32_t pack,
    uint64_t *length)
{
	unsigned char k[4], v[8];
	DBT key, val;
	int ret;

	if (ix->packs == NULL)
		return DOS_ENOTFOUND;
	put_u32(k, pack);
	memset(&key, 0, sizeof key);
	memset(&val, 0, sizeof val);
	key.data = k;
	key.size = sizeof k;
	val.data = v;
	val.ulen = sizeof v;
	val.flags = DB_DBT_USERMEM;
	ret = ix->packs->get(ix->packs, ix->txn, &key, &val, 0);
	if (ret != 0)
		return db_error(ret);
	if (val.size != sizeof v)
		return DOS_ECORRUPT;
	*length = get_u64(v);
	return 0;
}

int
dos_index_del_pack_length(struct dos_index *ix, uint32_t pack)
{
	unsigned char k[4];
	DBT key;

	put_u32(k, pack);
	memset(&key, 0, sizeof key);
	key.data = k;
	key.size = sizeof k;
	return db_error(ix->packs->del(ix->packs, ix->txn, &key, 0));
}

int
dos_index_commit(struct dos_index *ix)
{
	int ret;

	if (ix->txn == NULL)
		return DOS_EINVAL;
	ret = ix->txn->commit(ix->txn, 0);
	ix->txn = NULL;
	if (ret != 0)
		return db_error(ret);
	ix->env->txn_checkpoint(ix->env, CHECKPOINT_KBYTES, 0, 0);
	return 0;
}

void
dos_index_abort(struct dos_index *ix)
{
	if (ix->txn != NULL)
		ix->txn->abort(ix->txn);
	ix->txn = NULL;
}

struct walk_item {
	struct dos_oid oid;
	struct dos_index_entry entry;
};

/*
 * Read up to WALK_CHUNK entries from *start on (after it when skip is
 * set) into items.  The cursor is closed before the caller sees them, so
 * a reader that dies while printing (SIGPIPE in a pipeline) never holds a
 * lock a writer would wait for.
 */
static int
walk_chunk(struct dos_index *ix, unsigned char *start, int skip,
    struct walk_item *items, size_t *nr)
{
	unsigned char rec[RECORD_SIZE], keybuf[DOS_RAWSZ];
	DBC *cur;
	DBT key, val;
	u_int32_t op;
	int ret, rc = 0;

	*nr = 0;
	if ((ret = ix->objects->cursor(ix->objects, ix->txn, &cur,
	    ix->txn != NULL || ix->env == NULL ? 0 : DB_READ_UNCOMMITTED)) != 0)
		return db_error(ret);
	memset(&key, 0, sizeof key);
	memset(&val, 0, sizeof val);
	memcpy(keybuf, start, sizeof keybuf);
	key.data = keybuf;
	key.size = DOS_RAWSZ;
	key.ulen = sizeof keybuf;
	key.flags = DB_DBT_USERMEM;
	val.data = rec;
	val.ulen = sizeof rec;
	val.flags = DB_DBT_USERMEM;
	for (op = DB_SET_RANGE; *nr < WALK_CHUNK; op = DB_NEXT) {
		ret = cur->get(cur, &key, &val, op);
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = db_error(ret);
			break;
		}
		if (key.size != DOS_RAWSZ) {
			rc = DOS_ECORRUPT;
			break;
		}
		if (skip && op == DB_SET_RANGE && memcmp(keybuf, start, DOS_RAWSZ) == 0)
			continue;
		memcpy(items[*nr].oid.hash, keybuf, DOS_RAWSZ);
		if ((rc = decode_entry(rec, val.size, &items[*nr].entry)) < 0)
			break;
		(*nr)++;
	}
	cur->close(cur);
	return rc;
}

int
dos_index_walk(struct dos_index *ix, const char *prefix, size_t plen,
    dos_index_fn *fn, void *data)
{
	unsigned char start[DOS_RAWSZ];
	char hex[DOS_HEXSZ + 1];
	struct walk_item *items;
	struct dos_oid first;
	size_t nr, i;
	int rc = 0, skip = 0, tries = 0, done = 0;

	if (ix->objects == NULL)
		return 0;
	/* Start at the smallest id with this hex prefix. */
	memset(hex, '0', DOS_HEXSZ);
	memcpy(hex, prefix, plen);
	if (dos_oid_from_hex(&first, hex, DOS_HEXSZ) < 0)
		return DOS_EBADID;
	memcpy(start, first.hash, DOS_RAWSZ);
	if ((items = malloc(WALK_CHUNK * sizeof *items)) == NULL)
		return DOS_ENOMEM;
	while (!done) {
		rc = walk_chunk(ix, start, skip, items, &nr);
		if ((rc == DOS_ERECOVER || rc == DOS_EBUSY) && ++tries < GET_TRIES) {
			if ((rc = dos_index_reopen(ix)) < 0)
				break;
			continue;
		}
		if (rc < 0)
			break;
		done = nr < WALK_CHUNK;
		for (i = 0; i < nr; i++) {
			if (plen > 0 && strncmp(dos_oid_to_hex(&items[i].oid, hex),
			    prefix, plen) != 0) {
				done = 1;
				break;
			}
			if ((rc = fn(&items[i].oid, &items[i].entry, data)) != 0) {
				done = 1;
				break;
			}
		}
		if (nr > 0)
			memcpy(start, items[nr - 1].oid.hash, DOS_RAWSZ);
		skip = 1;
	}
	free(items);
	return rc;
}
