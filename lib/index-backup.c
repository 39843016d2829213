/*
 * index-backup.c: the index's hot copy for dos backup: Berkeley DB's hot
 * backup into the backup, with a recovery of the copy that makes it an
 * index dos opens as after a clean close.  Apart from index.c because it
 * works on a second environment, the copy's, not the index's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <db.h>

#include "index-int.h"

/*
 * A backup checkpoints first when more than this much log came since the
 * last checkpoint: its copy's recovery replays at most this much.
 */
#define BACKUP_CHECKPOINT_KBYTES 256
/* The index's copy leaves out blocks of zeros this long (copy_write). */
#define COPY_BLOCK 4096

/* fn with each record of packs.db, in pack order. */
static int
for_each_pack(DB *packs, dos_index_pack_fn *fn, void *data)
{
	unsigned char k[4], v[8];
	DBC *c;
	DBT key, val;
	int ret, rc = 0;

	memset(&key, 0, sizeof key);
	memset(&val, 0, sizeof val);
	key.data = k;
	key.ulen = sizeof k;
	key.flags = DB_DBT_USERMEM;
	val.data = v;
	val.ulen = sizeof v;
	val.flags = DB_DBT_USERMEM;
	if ((ret = packs->cursor(packs, NULL, &c, 0)) != 0)
		return index_db_error(ret);
	while (rc == 0 && (ret = c->get(c, &key, &val, DB_NEXT)) == 0) {
		if (key.size != sizeof k || val.size != sizeof v)
			rc = DOS_ECORRUPT;
		else
			rc = fn(index_get_u32(k), index_get_u64(v), data);
	}
	if (rc == 0 && ret != DB_NOTFOUND)
		rc = index_db_error(ret);
	c->close(c);
	return rc;
}

/*
 * Whether the log of env holds a checkpoint after the one at ckp, as far
 * as it goes now; also when that cannot be told.  Checkpoint records are
 * told by their type, the first word of a record, read from the one at
 * ckp.
 */
static int
checkpoint_after(DB_ENV *env, DB_LSN ckp)
{
	DB_LOGC *logc;
	DBT rec;
	u_int32_t type;
	int ret, found = 1;

	if (env->log_cursor(env, &logc, 0) != 0)
		return 1;
	memset(&rec, 0, sizeof rec);
	ret = logc->get(logc, &ckp, &rec, DB_SET);
	if (ret == 0 && rec.size >= sizeof type) {
		memcpy(&type, rec.data, sizeof type);
		while ((ret = logc->get(logc, &ckp, &rec, DB_NEXT)) == 0 &&
		    rec.size >= sizeof type && memcmp(rec.data, &type,
		    sizeof type) != 0)
			;
		found = ret != DB_NOTFOUND;
	}
	logc->close(logc, 0);
	return found;
}

/* A file of the index's copy, written by Berkeley DB's hot backup. */
struct copy_file {
	int fd;
	u_int32_t log;		/* a log file's number, 0 for a database */
	uint64_t end;		/* its length: the end of what was written */
};

static int
copy_open(DB_ENV *env, const char *name, const char *dir, void **handle)
{
	struct copy_file *f;
	char path[4096];
	int saved;

	if ((f = calloc(1, sizeof *f)) == NULL)
		return ENOMEM;
	if (strncmp(name, "log.", 4) == 0)
		f->log = (u_int32_t)strtoul(name + 4, NULL, 10);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0666)) < 0) {
		saved = errno;
		free(f);
		return saved;
	}
	*handle = f;
	return 0;
}

static int
zero_block(const u_int8_t *p, size_t len)
{
	static const u_int8_t zeros[COPY_BLOCK];

	return memcmp(p, zeros, len) == 0;
}

/*
 * A log file's blocks of zeros are left out, holes in the copy: the
 * environment makes a log file full size when it starts one, so most of
 * the newest one is.
 */
static int
copy_write(DB_ENV *env, u_int32_t gigs, u_int32_t off, u_int32_t size,
    u_int8_t *buf, void *handle)
{
	struct copy_file *f = handle;
	uint64_t at = ((uint64_t)gigs << 30) + off;
	size_t from = 0, to, n;

	while (from < size) {
		n = size - from < COPY_BLOCK ? size - from : COPY_BLOCK;
		if (f->log != 0 && zero_block(buf + from, n)) {
			from += n;
			continue;
		}
		for (to = from + n; to < size; to += n) {
			n = size - to < COPY_BLOCK ? size - to : COPY_BLOCK;
			if (f->log != 0 && zero_block(buf + to, n))
				break;
		}
		if (dos_step_pwrite("backup-index-write", f->fd, buf + from,
		    to - from, at + from) < 0)
			return errno;
		from = to;
	}
	if (at + size > f->end)
		f->end = at + size;
	return 0;
}

/*
 * The copy's length set, and its writing back started: it goes on while
 * the rest of the backup is made, which syncs it before the backup is
 * complete.  The copy of the log file the environment writes now ends
 * where its log does: bytes past that were never written, and recovering
 * the copy would write zeros there.
 */
static int
copy_close(DB_ENV *env, const char *name, void *handle)
{
	struct copy_file *f = handle;
	DB_LOG_STAT *stat;
	int ret = 0;

	if (f == NULL)
		return 0;	/* not opened */
	if (f->log != 0 && (ret = env->log_stat(env, &stat, 0)) == 0) {
		if (f->log == stat->st_cur_file && f->end > stat->st_cur_offset)
			f->end = stat->st_cur_offset;
		free(stat);
	}
	if (ret == 0 && dos_step_truncate("backup-index-truncate", f->fd,
	    f->end) < 0)
		ret = errno;
	(void)sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (close(f->fd) < 0 && ret == 0)
		ret = errno;
	free(f);
	return ret;
}

/*
 * Berkeley DB's syncs of the index's copy, while this thread recovers and
 * reads it, are left out: the backup syncs each file of it once, with the
 * rest of the backup, before it names the backup complete (and removes
 * one left incomplete).  Meanwhile every other sync Berkeley DB makes, of
 * any environment in any thread, is this fdatasync(2), as by default but
 * for one thing: a failed one is not tried again (a second one can
 * succeed when the data is lost).
 */
static __thread int in_copy;

static int
sync_unless_copy(int fd)
{
	if (in_copy)
		return 0;
	while (fdatasync(fd) < 0)
		if (errno != EINTR)
			return errno;
	return 0;
}

/*
 * The environment is checkpointed first unless little log came since its
 * last checkpoint, which every writer makes when it closes it (as
 * db_hotbackup -c does, but only then): otherwise the copy gets, and its
 * recovery reads, every log since the last checkpoint, up to
 * CHECKPOINT_KBYTES of them.
 * Berkeley DB's hot backup copies the database files, then the log files,
 * keeping the environment from removing logs meanwhile; recovering the
 * copy from those logs brings it to the last transaction they hold.
 * Normal recovery starts from the last checkpoint in the logs copied,
 * which is right when that is the one made before the database files
 * were copied (every change before it is in them); one made after (a
 * process that closed the index meanwhile) may name changes that the
 * files copied lack, and then only catastrophic recovery, which reads
 * every log copied from its start, is right.  That reads and replays
 * every database open and close in them, one pair per process that
 * wrote since the oldest log began: when the environment's log holds no
 * checkpoint after the one made here, no copy of it does, and the normal
 * recovery reads only what came since.  The recovery runs in private
 * memory and checkpoints, and the copy keeps the log file that
 * checkpoint is in (the others go): its pages name places in that log,
 * so the first dos to open it recovers from the checkpoint, which finds
 * nothing to do, as after any clean close.  (Giving the pages log
 * sequence numbers of zero instead, to leave two database files alone,
 * rewrote every page of the copy: most of the time of a backup that
 * copied little else.)
 */
int
dos_index_backup(struct dos_index *ix, const char *target,
    dos_index_pack_fn *fn, void *data)
{
	DB_ENV *env;
	DB_TXN_STAT *stat;
	DB_LSN ckp;
	DB *packs = NULL;
	const char *recovery;
	u_int32_t recover;
	int ret, rc = 0;

	if (ix->env == NULL) {
		snprintf(index_last_db_error, sizeof index_last_db_error,
		    "the index cannot be backed up without write access to it");
		return DOS_EINDEX;
	}
	index_forget_error();
	if ((ret = ix->env->txn_checkpoint(ix->env, BACKUP_CHECKPOINT_KBYTES,
	    0, 0)) != 0 || (ret = ix->env->txn_stat(ix->env, &stat, 0)) != 0)
		return index_db_error(ret);
	/* This one, or one another process made since, before the copy. */
	ckp = stat->st_last_ckp;
	free(stat);
	if (dos_fault_before("backup-index-copy") < 0)
		return DOS_EIO;
	if ((ret = ix->env->set_backup_callbacks(ix->env, copy_open,
	    copy_write, copy_close)) != 0 ||
	    (ret = ix->env->backup(ix->env, target, 0)) != 0)
		return index_db_error(ret);
	if (dos_fault_after("backup-index-copy") < 0)
		return DOS_EIO;
	if (checkpoint_after(ix->env, ckp)) {
		recover = DB_RECOVER_FATAL;
		recovery = "backup-index-recover-fatal";
	} else {
		recover = DB_RECOVER;
		recovery = "backup-index-recover";
	}
	if (dos_fault_before(recovery) < 0)
		return DOS_EIO;
	if ((ret = db_env_create(&env, 0)) != 0)
		return index_db_error(ret);
	env->set_errcall(env, index_remember_error);
	db_env_set_func_fsync(sync_unless_copy);
	in_copy = 1;
	ret = env->open(env, target, DB_CREATE | DB_INIT_MPOOL | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_TXN | DB_PRIVATE | recover, 0666);
	if (ret == 0 && dos_fault_after(recovery) < 0)
		rc = DOS_EIO;
	if (ret == 0 && rc == 0 && (ret = db_create(&packs, env, 0)) == 0)
		ret = packs->open(packs, NULL, "packs.db", NULL, DB_BTREE,
		    DB_RDONLY, 0);
	if (ret == 0 && rc == 0)
		rc = for_each_pack(packs, fn, data);
	if (packs != NULL)
		packs->close(packs, 0);
	if (ret == 0 && rc == 0)
		ret = env->log_archive(env, NULL, DB_ARCH_REMOVE);
	env->close(env, 0);
	in_copy = 0;
	db_env_set_func_fsync(NULL);
	return ret != 0 ? index_db_error(ret) : rc;
}
