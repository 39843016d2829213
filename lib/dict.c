/*
 * dict.c: zstd dictionaries for small objects.
 *
 * Objects of a few hundred bytes barely shrink one by one: zstd has
 * nothing to match them against.  A dictionary trained on a sample of a
 * container's small objects gives it that, and the entries compressed
 * against one name it (pack.c).  Dictionaries live in dicts/<n>, written
 * once, durably, by the pack writer, and never changed or removed: an
 * entry that needs one may be in any pack.  Each file carries the id of
 * its container and the SHA-256 of the dictionary, so that a damaged or
 * foreign dictionary is an error, never bytes decoded wrong.
 *
 * A writer (struct dos_dicts) compresses with the container's newest
 * dictionary; when there is none, it samples the small objects it packs,
 * within a fixed budget, trains one when the sample is large enough,
 * keeps it only if it pays on the sample, and then uses it for the rest.
 * Readers load each dictionary once per store and keep it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <zstd.h>

#include "dos.h"

#define DICT_MAGIC "DOSDICT"
/* Magic, number, size, container id (hex), SHA-256 of the dictionary. */
#define DICT_HEADER (8 + 4 + 4 + 32 + DOS_RAWSZ)
#define DICT_SIZE_MAX (1 << 20)
/* What a dictionary is trained to: zstd's own default size. */
#define DICT_CAPACITY (110 * 1024)
/* The sample: at most this many bytes of small objects... */
#define SAMPLE_BUDGET (4 << 20)
/* ...and training starts once it holds this many objects or is full. */
#define SAMPLE_OBJECTS 4096
/* Fewer than this and a dictionary learns nothing general. */
#define SAMPLE_MIN_OBJECTS 256
/*
 * Kept only if the sample, compressed with it, shrinks by this share, and
 * by more than the dictionary's own size.  The size is not counted in the
 * share: the dictionary serves every object packed after, not the sample
 * alone (D1's at gc --aggressive's level saves 12.5% of the sample, 7%
 * with its 110 KiB counted against 4 MiB of sample).
 */
#define PAYS_NUM 9
#define PAYS_DEN 10
/* Dictionaries one store keeps for its readers, at most. */
#define LOADED_MAX 64
/*
 * A writer at DOS_AGGRESSIVE_LEVEL (gc --aggressive's 12) or above
 * compresses each object against a dictionary twice, at HARD_DICT_LEVEL
 * (or its own level if higher) and at FAST_DICT_LEVEL, and keeps the
 * smaller.  With a dictionary zstd sizes its parameters for the
 * dictionary, not for the small object, and below 15 they match only 4
 * bytes or more: at 12 a dictionary made D1 (3-byte matches) 8% larger
 * than none, at 15 12% smaller.  But the optimal parser of 15 and up
 * does worse than 3 on some objects: of 10,000 JSON records of 150 bytes,
 * 30% came out smaller at 3 (the smaller of both: 73.1 bytes each, 75.2
 * at 15 alone, 77.0 at 3, 80.1 at 12), and of t/2560-dict.bats' records
 * 87%.  Level 15 takes about twice the time of 12 on D1, cold data
 * only, and is 1% larger than 19 in three quarters of its time; 3 adds a
 * tenth of that.
 */
#define HARD_DICT_LEVEL 15
#define FAST_DICT_LEVEL 3

enum sampling { SAMPLING, DONE };

struct dos_dicts {
	struct dos_store *st;
	int level;
	struct dos_dict dict;		/* number 0 until there is one */
	const struct dos_dict *current;	/* &dict once usable (atomic) */
	pthread_mutex_t lock;		/* of the sample */
	int state;			/* enum sampling (atomic) */
	unsigned char *sample;
	size_t *sizes;
	size_t sample_len, nr;
	/* Why the trained dictionary was not stored ("" if it was). */
	char failure[160];
};

static __thread char last_error[128];

const char *
dos_dict_last_error(void)
{
	return last_error;
}

static int
fail(uint32_t number, const char *what)
{
	snprintf(last_error, sizeof last_error, "dictionary dicts/%u %s",
	    number, what);
	return DOS_ENODICT;
}

static int
sha256(const void *buf, size_t len, struct dos_oid *sum)
{
	struct dos_hasher h;
	int rc;

	if ((rc = dos_hasher_init(&h)) < 0)
		return rc;
	if ((rc = dos_hasher_update(&h, buf, len)) == 0)
		rc = dos_hasher_final(&h, sum);
	dos_hasher_release(&h);
	return rc;
}

/*
 * The dictionary bytes of dicts/<number>, checked: *buf (malloc'ed)
 * holds *len of them.  DOS_ENODICT, with the message saying what is
 * wrong, for a file that is missing or not that dictionary.
 */
int
dos_dict_read(struct dos_store *st, uint32_t number, unsigned char **buf,
    size_t *len)
{
	unsigned char *p;
	struct dos_oid sum;
	struct stat sb;
	char name[32];
	ssize_t n;
	size_t size;
	int fd, rc;

	*buf = NULL;
	snprintf(name, sizeof name, "dicts/%u", number);
	if ((fd = dos_open_beneath(st->dirfd, name, O_RDONLY, 0)) < 0)
		return errno == ENOENT || errno == ENOTDIR ?
		    fail(number, "is missing") : errno == ELOOP ?
		    fail(number, "is not a regular file") : DOS_EIO;
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return DOS_EIO;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size < DICT_HEADER ||
	    sb.st_size > DICT_HEADER + DICT_SIZE_MAX) {
		close(fd);
		return fail(number, "is damaged (not a dictionary file)");
	}
	size = (size_t)sb.st_size;
	if ((p = malloc(size)) == NULL) {
		close(fd);
		return DOS_ENOMEM;
	}
	n = dos_read_full(fd, p, size);
	close(fd);
	if (n < 0) {
		free(p);
		return DOS_EIO;
	}
	if ((size_t)n != size || memcmp(p, DICT_MAGIC, 8) != 0 ||
	    dos_get_le32(p + 8) != number ||
	    dos_get_le32(p + 12) != size - DICT_HEADER) {
		free(p);
		return fail(number, "is damaged (bad header)");
	}
	if (memcmp(p + 16, st->cfg.id, 32) != 0) {
		free(p);
		return fail(number, "belongs to another container");
	}
	if ((rc = sha256(p + DICT_HEADER, size - DICT_HEADER, &sum)) < 0) {
		free(p);
		return rc;
	}
	if (memcmp(sum.hash, p + 16 + 32, DOS_RAWSZ) != 0) {
		free(p);
		return fail(number, "is damaged (checksum mismatch)");
	}
	memmove(p, p + DICT_HEADER, size - DICT_HEADER);
	*buf = p;
	*len = size - DICT_HEADER;
	return 0;
}

int
dos_dict_list(struct dos_store *st, uint32_t **list, size_t *nr)
{
	return dos_list_numbered(st->dirfd, "dicts", list, nr);
}

/* ---- readers ---- */

int
dos_store_dict(struct dos_store *st, uint32_t number,
    const struct dos_dict **out)
{
	struct dos_dict *d = NULL, *grown;
	unsigned char *buf;
	size_t i, len;
	int rc = 0;

	pthread_mutex_lock(&st->dicts_lock);
	for (i = 0; i < st->dicts_nr; i++)
		if (st->dicts[i].number == number) {
			*out = &st->dicts[i];
			pthread_mutex_unlock(&st->dicts_lock);
			return 0;
		}
	/*
	 * Decoders hold on to what they were given: a dictionary stays
	 * until the store is released, and a store loads only so many.
	 */
	if (st->dicts_nr == LOADED_MAX) {
		rc = fail(number, "is one too many for this process");
		goto out;
	}
	if (st->dicts == NULL &&
	    (st->dicts = calloc(LOADED_MAX, sizeof *st->dicts)) == NULL) {
		rc = DOS_ENOMEM;
		goto out;
	}
	if ((rc = dos_dict_read(st, number, &buf, &len)) < 0)
		goto out;
	grown = st->dicts;
	d = &grown[st->dicts_nr];
	d->number = number;
	d->cdict = d->cdict_fast = NULL;
	d->ddict = ZSTD_createDDict(buf, len);
	free(buf);
	if (d->ddict == NULL) {
		rc = fail(number, "is damaged (not a zstd dictionary)");
		goto out;
	}
	st->dicts_nr++;
	*out = d;
out:
	pthread_mutex_unlock(&st->dicts_lock);
	return rc;
}

void
dos_store_dicts_release(struct dos_store *st)
{
	while (st->dicts_nr > 0)
		ZSTD_freeDDict(st->dicts[--st->dicts_nr].ddict);
	free(st->dicts);
	st->dicts = NULL;
}

/* ---- writers ---- */

/*
 * dicts/<number> from the dictionary bytes, as every file of the
 * container is made: a temporary file, synced, renamed into place, the
 * directory synced.  Done before any entry names it.
 */
int
dos_dict_write(struct dos_store *st, uint32_t number, const void *dict,
    size_t len)
{
	unsigned char hdr[DICT_HEADER];
	struct dos_oid sum;
	char tmp[48], name[32];
	int fd, rc, saved, made;

	if ((rc = sha256(dict, len, &sum)) < 0)
		return rc;
	memcpy(hdr, DICT_MAGIC, 8);
	dos_put_le32(hdr + 8, number);
	dos_put_le32(hdr + 12, (uint32_t)len);
	memcpy(hdr + 16, st->cfg.id, 32);
	memcpy(hdr + 48, sum.hash, DOS_RAWSZ);
	made = dos_step_mkdir("dicts-mkdir", st->dirfd, "dicts", 0777) == 0;
	if (!made && errno != EEXIST)
		return DOS_EIO;
	if (made && (rc = dos_fsync_dir("container-fsync", st->dirfd, ".")) < 0)
		return rc;
	snprintf(tmp, sizeof tmp, "dicts/%u.tmp", number);
	snprintf(name, sizeof name, "dicts/%u", number);
	/* A killed writer's file is read-only: it goes first. */
	if (dos_step_unlink("dict-tmp-unlink", st->dirfd, tmp) < 0 &&
	    errno != ENOENT)
		return DOS_EIO;
	fd = dos_step_create("dict-create", st->dirfd, tmp, O_WRONLY | O_EXCL,
	    0444);
	if (fd < 0)
		return DOS_EIO;
	rc = dos_step_pwrite("dict-write", fd, hdr, sizeof hdr, 0) < 0 ||
	    dos_step_pwrite("dict-write", fd, dict, len, sizeof hdr) < 0 ||
	    dos_step_fsync("dict-fsync", fd) < 0 ? DOS_EIO : 0;
	if (close(fd) < 0 && rc == 0)
		rc = DOS_EIO;
	if (rc == 0 && dos_step_rename("dict-rename", st->dirfd, tmp,
	    st->dirfd, name, 0) < 0)
		rc = DOS_EIO;
	if (rc == 0)
		rc = dos_fsync_dir("dicts-fsync", st->dirfd, "dicts");
	if (rc < 0) {
		saved = errno;
		dos_step_unlink("dict-tmp-unlink", st->dirfd, tmp);
		errno = saved;
	}
	return rc;
}

/* The level a writer at level compresses at against a dictionary. */
static int
dict_level(int level)
{
	return level >= DOS_AGGRESSIVE_LEVEL && level < HARD_DICT_LEVEL ?
	    HARD_DICT_LEVEL : level;
}

/*
 * The CDicts of dictionary bytes for a writer at d's level: *made's
 * cdict, and its cdict_fast if it compresses hard.  DOS_ENOMEM, both
 * NULL, if they cannot be made.
 */
static int
make_cdicts(const struct dos_dicts *d, const void *dict, size_t len,
    struct dos_dict *made)
{
	int hard = d->level >= DOS_AGGRESSIVE_LEVEL;

	made->cdict = ZSTD_createCDict(dict, len, dict_level(d->level));
	made->cdict_fast = hard ?
	    ZSTD_createCDict(dict, len, FAST_DICT_LEVEL) : NULL;
	if (made->cdict != NULL && (!hard || made->cdict_fast != NULL))
		return 0;
	ZSTD_freeCDict(made->cdict);
	ZSTD_freeCDict(made->cdict_fast);
	made->cdict = made->cdict_fast = NULL;
	return DOS_ENOMEM;
}

/* From now on, encoding threads compress small objects with made's. */
static void
publish(struct dos_dicts *d, uint32_t number, const struct dos_dict *made)
{
	d->dict.cdict = made->cdict;
	d->dict.cdict_fast = made->cdict_fast;
	d->dict.number = number;
	__atomic_store_n(&d->current, &d->dict, __ATOMIC_RELEASE);
}

int
dos_dicts_open(struct dos_store *st, int level, struct dos_dicts **out)
{
	struct dos_dicts *d;
	struct dos_dict made;
	unsigned char *buf;
	uint32_t *list, newest;
	size_t nr, len;
	int rc;

	if ((d = calloc(1, sizeof *d)) == NULL)
		return DOS_ENOMEM;
	d->st = st;
	d->level = level;
	pthread_mutex_init(&d->lock, NULL);
	*out = d;
	if ((rc = dos_dict_list(st, &list, &nr)) < 0)
		return rc;
	if (nr == 0) {
		free(list);
		return 0;
	}
	/*
	 * The newest one.  Damaged, it is not used, and no other is trained
	 * in its place: fsck reports it, and its entries need it back.
	 */
	d->state = DONE;
	newest = list[nr - 1];
	free(list);
	rc = dos_dict_read(st, newest, &buf, &len);
	if (rc == DOS_ENODICT)
		return 0;
	if (rc < 0)
		return rc;
	rc = make_cdicts(d, buf, len, &made);
	free(buf);
	if (rc < 0)
		return rc;
	publish(d, newest, &made);
	return 0;
}

void
dos_dicts_close(struct dos_dicts *d)
{
	if (d == NULL)
		return;
	ZSTD_freeCDict(d->dict.cdict);
	ZSTD_freeCDict(d->dict.cdict_fast);
	free(d->sample);
	free(d->sizes);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

const struct dos_dict *
dos_dicts_current(struct dos_dicts *d)
{
	return d == NULL ? NULL : __atomic_load_n(&d->current,
	    __ATOMIC_ACQUIRE);
}

/* A hard writer's two tries are made here, for codec.c and train(). */
int
dos_dict_compress(const struct dos_dict *dict, void *cc, void *dst,
    size_t dst_len, const void *src, size_t len, void **spare, size_t *out)
{
	size_t n, fast;

	ZSTD_CCtx_reset(cc, ZSTD_reset_session_only);
	ZSTD_CCtx_refCDict(cc, dict->cdict);
	n = ZSTD_compress2(cc, dst, dst_len, src, len);
	if (ZSTD_isError(n))
		return DOS_EINVAL;
	if (dict->cdict_fast != NULL) {
		if (*spare == NULL && (*spare =
		    malloc(ZSTD_compressBound(DOS_DICT_INPUT_MAX))) == NULL)
			return DOS_ENOMEM;
		ZSTD_CCtx_reset(cc, ZSTD_reset_session_only);
		ZSTD_CCtx_refCDict(cc, dict->cdict_fast);
		fast = ZSTD_compress2(cc, *spare,
		    ZSTD_compressBound(DOS_DICT_INPUT_MAX), src, len);
		if (ZSTD_isError(fast))
			return DOS_EINVAL;
		if (fast < n) {
			memcpy(dst, *spare, fast);
			n = fast;
		}
	}
	*out = n;
	return 0;
}

/* The sample's compressed size, with dict or without (NULL). */
static int
sample_cost(const struct dos_dicts *d, ZSTD_CCtx *cc,
    const struct dos_dict *dict, unsigned char *out, size_t out_size,
    void **spare, size_t *total)
{
	const unsigned char *p = d->sample;
	size_t i, n;
	int rc;

	*total = 0;
	ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, d->level);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_dictIDFlag, 0);
	for (i = 0; i < d->nr; p += d->sizes[i++]) {
		if (dict != NULL)
			rc = dos_dict_compress(dict, cc, out, out_size, p,
			    d->sizes[i], spare, &n);
		else if (ZSTD_isError(n = ZSTD_compress2(cc, out, out_size, p,
		    d->sizes[i])))
			rc = DOS_EINVAL;
		else
			rc = 0;
		if (rc < 0)
			return rc;
		*total += n < d->sizes[i] ? n : d->sizes[i];
	}
	return 0;
}

/*
 * What rc of a failed training means, made at once, in the thread whose
 * errno tells (err.c's dos_strerror is above this layer).
 */
static const char *
why(int rc)
{
	if (rc == DOS_EIO)
		return strerror(errno);
	return rc == DOS_ENOMEM ? strerror(ENOMEM) : "zstd failed";
}

/*
 * Train from the sample, and keep the dictionary if it pays (PAYS_NUM).
 * Whether or not, the writer samples no more.
 */
static int
train(struct dos_dicts *d)
{
	ZDICT_fastCover_params_t params;
	size_t size, plain, with, cap;
	unsigned char *dict = NULL, *out = NULL;
	struct dos_dict made = { 0, NULL, NULL, NULL };
	void *spare = NULL;
	ZSTD_CCtx *cc = NULL;
	uint32_t *list, number;
	size_t nr;
	int rc;

	if (d->nr < SAMPLE_MIN_OBJECTS)
		return 0;
	/* A dictionary much larger than a tenth of its sample overfits. */
	cap = d->sample_len / 10 < DICT_CAPACITY ? d->sample_len / 10 :
	    DICT_CAPACITY;
	memset(&params, 0, sizeof params);
	params.k = 200;
	params.d = 8;
	params.f = 20;
	params.steps = 4;
	params.accel = 2;
	params.zParams.compressionLevel = dict_level(d->level);
	rc = DOS_ENOMEM;
	if ((dict = malloc(cap)) == NULL ||
	    (out = malloc(ZSTD_compressBound(DOS_DICT_OBJECT_MAX))) == NULL ||
	    (cc = ZSTD_createCCtx()) == NULL)
		goto out;
	rc = 0;
	size = ZDICT_trainFromBuffer_fastCover(dict, cap, d->sample, d->sizes,
	    (unsigned)d->nr, params);
	if (ZDICT_isError(size))
		goto out;	/* a sample zstd cannot learn from */
	if ((rc = make_cdicts(d, dict, size, &made)) < 0 ||
	    (rc = sample_cost(d, cc, NULL, out,
	    ZSTD_compressBound(DOS_DICT_OBJECT_MAX), &spare, &plain)) < 0 ||
	    (rc = sample_cost(d, cc, &made, out,
	    ZSTD_compressBound(DOS_DICT_OBJECT_MAX), &spare, &with)) < 0)
		goto out;
	if (with * PAYS_DEN > plain * PAYS_NUM || with + size >= plain)
		goto out;
	if ((rc = dos_dict_list(d->st, &list, &nr)) < 0)
		goto out;
	number = nr > 0 ? list[nr - 1] + 1 : 1;
	free(list);
	if ((rc = dos_dict_write(d->st, number, dict, size)) < 0) {
		/* errno is this thread's: the message is made now. */
		snprintf(d->failure, sizeof d->failure, "unable to write "
		    "dictionary dicts/%u: %s", number, why(rc));
		goto out;
	}
	publish(d, number, &made);
	made.cdict = made.cdict_fast = NULL;
out:
	ZSTD_freeCDict(made.cdict);
	ZSTD_freeCDict(made.cdict_fast);
	ZSTD_freeCCtx(cc);
	free(spare);
	free(dict);
	free(out);
	return rc;
}

void
dos_dicts_offer(struct dos_dicts *d, const void *raw, size_t len)
{
	int complete, rc;

	if (d == NULL || len > DOS_DICT_OBJECT_MAX ||
	    __atomic_load_n(&d->state, __ATOMIC_ACQUIRE) != SAMPLING)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->state != SAMPLING) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	if (d->sample == NULL &&
	    ((d->sample = malloc(SAMPLE_BUDGET)) == NULL ||
	    (d->sizes = malloc(SAMPLE_OBJECTS * sizeof *d->sizes)) == NULL))
		d->nr = 0;	/* no memory to learn with: pack without */
	else if (d->sample_len + len <= SAMPLE_BUDGET) {
		memcpy(d->sample + d->sample_len, raw, len);
		d->sample_len += len;
		d->sizes[d->nr++] = len;
	}
	complete = d->sample == NULL || d->sizes == NULL ||
	    d->nr == SAMPLE_OBJECTS ||
	    d->sample_len + DOS_DICT_OBJECT_MAX > SAMPLE_BUDGET;
	if (complete)
		__atomic_store_n(&d->state, DONE, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&d->lock);
	/*
	 * The thread that completed the sample trains, at once, while the
	 * others go on without: the writer's threads encode well ahead of
	 * what it appends.  A dictionary that cannot be made (no memory, a
	 * write that failed) is only room not saved, as no entry names it,
	 * but the writer's caller is told (dos_dicts_failure).
	 */
	if (complete) {
		if ((rc = train(d)) < 0 && d->failure[0] == '\0')
			snprintf(d->failure, sizeof d->failure, "unable to "
			    "train a dictionary: %s", why(rc));
		free(d->sample);
		free(d->sizes);
		d->sample = NULL;
		d->sizes = NULL;
	}
}

const char *
dos_dicts_failure(const struct dos_dicts *d)
{
	return d == NULL || d->failure[0] == '\0' ? NULL : d->failure;
}
