/*
 * batch.c: the batch protocol of dos cat-object: its --batch-command
 * lines parsed, and its requests answered in the order they came.
 *
 * Requests are answered together, in rounds: the info requests of a
 * round with one bulk index lookup (much cheaper than a search per name),
 * its contents requests by worker threads.  The store's thread looks each
 * object up and opens it as it is added, which reads a small packed
 * object's stored bytes; the workers decode and check them (decoding
 * small zstd frames is most of the cost) into the round's slots; the
 * store's thread hands the answers out in input order as they are done.
 * An object too large for a slot, or not read whole when opened, is
 * streamed by the caller in its turn.  The workers use no store but
 * for the decompressors their readers take and give back.
 *
 * A container with a remote may have evicted packs, whose reads are
 * ranged GETs of milliseconds each.  There the store's thread only looks
 * each contents request up as it comes, noting what of an evicted pack
 * its open will read, for rounds of many more requests; the answer
 * fetches all of that at once (dos_remote_prefetch: in parallel,
 * neighbours merged, which the longer rounds make near), then opens and
 * answers the objects slot by slot as above.  What a round fetches is
 * bounded by a count and a sum of bytes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dos.h"

/*
 * Requests answered together, at most.  A round's info requests are
 * looked up in id order, so each index leaf they fall in is read once a
 * round: at 10^7 objects (27,000 leaves of ~370 records) a round of 2^16
 * random ids read 0.37 leaves an id, copied from the page cache into
 * Berkeley DB's cache, 40% of the time; a round of 2^18 reads 0.1, and
 * looks 10^6 ids up in 2.3 s of CPU time instead of 3.6.  Its arrays
 * are only touched as requests come: 50 MiB more for a long
 * --batch-check --buffer, nothing for short inputs or --batch rounds.
 */
#define ROUND_REQUESTS (1 << 18)
/* Room for their text: full ids with a short rest, or one longest line. */
#define ROUND_ARENA (ROUND_REQUESTS * (DOS_HEXSZ + 16) + DOS_INPUT_MAX_RECORD)
/* Listed requests need no lookup: their rounds stay small. */
#define ROUND_LISTED 65536
#define ROUND_READS 256		/* objects read together, at most */
#define SLOT_MAX (64 * 1024)	/* largest object read by a worker */
#define READ_STEP 8		/* slots a worker takes at a time */
#define READ_PUBLISH 32		/* slots opened before the workers hear */
#define ROUND_PENDING 16384	/* with a remote: objects looked up ahead */
#define ROUND_FETCH_MAX (32 << 20)	/* bytes of evicted packs, about */

enum dos_batch_command
dos_batch_parse_command(const char *line, size_t len, const char **arg,
    size_t *arg_len)
{
	size_t cmd_len;

	*arg = NULL;
	*arg_len = 0;
	if (len == 0)
		return DOS_BATCH_EMPTY;
	if (line[0] == ' ' || line[0] == '\t')
		return DOS_BATCH_LEADING_BLANK;
	cmd_len = strcspn(line, " ");
	if (cmd_len < len) {
		*arg = line + cmd_len + 1;
		*arg_len = len - cmd_len - 1;
	}
	if (cmd_len == 5 && strncmp(line, "flush", 5) == 0)
		return *arg != NULL ? DOS_BATCH_FLUSH_ARGS : DOS_BATCH_FLUSH;
	if ((cmd_len == 8 && strncmp(line, "contents", 8) == 0) ||
	    (cmd_len == 4 && strncmp(line, "info", 4) == 0)) {
		if (*arg == NULL || **arg == '\0')
			return DOS_BATCH_NO_ARGS;
		return cmd_len == 8 ? DOS_BATCH_CONTENTS : DOS_BATCH_INFO;
	}
	return DOS_BATCH_UNKNOWN;
}

/*
 * Split a request line[0..len) into the object name (its first *name_len
 * bytes) and, with want_rest, the rest of the line after the blanks that
 * end the name; without, the whole line is the name.
 */
static void
split_request(const char *line, size_t len, int want_rest,
    size_t *name_len, const char **rest, size_t *rest_len)
{
	const char *r = line + len;

	*name_len = len;
	if (want_rest) {
		*name_len = strcspn(line, " \t");
		if (*name_len > len)
			*name_len = len;
		r = line + *name_len;
		r += strspn(r, " \t");
	}
	*rest = r;
	*rest_len = len - (size_t)(r - line);
}

struct request {
	const char *input;	/* in the arena */
	size_t name_len;
	const char *rest;
	size_t rest_len;
	int contents;		/* else only its info */
	int listed;		/* its info known: in listed[], not infos[] */
	int rc;			/* of resolving the name (and opening) */
	size_t at;		/* its infos[], listed[], pending[] or slot[] */
};

struct slot {
	struct dos_oid oid;
	struct dos_object_info info;	/* when opened */
	struct dos_reader r;
	int open;		/* r is open */
	int by_worker;		/* read into buf (and closed) by a worker */
	int done;		/* the worker is finished with it */
	int read_rc;		/* 0, or why reading it failed */
	size_t len;
	char buf[SLOT_MAX];
};

struct dos_batch {
	struct dos_store *st;
	unsigned read_flags;
	int want_rest;
	dos_batch_fn *fn;
	void *data;
	size_t used;		/* bytes of the arena */
	size_t nr;		/* requests queued */
	size_t infos_nr;	/* infos[] of those resolved */
	char arena[ROUND_ARENA];
	struct request req[ROUND_REQUESTS];
	struct dos_object_info infos[ROUND_REQUESTS];	/* of info requests */
	int info_rc[ROUND_REQUESTS];
	size_t listed_nr;
	struct dos_object_info listed[ROUND_LISTED];	/* known, from a listing */
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	int quit;
	int waiting;		/* the store's thread waits for a slot */
	size_t opened;		/* slots opened (the store's thread's count) */
	size_t handed;		/* slots handed out to the workers */
	size_t next;		/* the first slot no worker took */
	pthread_t *threads;
	int workers;
	struct slot slot[ROUND_READS];
	/* With a remote: contents requests to open at the answer. */
	int prefetch;
	size_t pending_nr, fetch_nr;
	uint64_t fetch_bytes;
	struct dos_object_info pending[ROUND_PENDING];
	struct dos_pack_range fetch[ROUND_PENDING];	/* of evicted packs */
};

/* Closed at once: its decompressor goes to the next object decoded. */
static void
read_slot(struct slot *sl)
{
	ssize_t n;

	while ((n = dos_reader_read(&sl->r, sl->buf + sl->len,
	    SLOT_MAX - sl->len)) > 0)
		sl->len += (size_t)n;
	if (n < 0)
		sl->read_rc = (int)n;
	dos_reader_close(&sl->r);
	sl->open = 0;
}

/* Hand the slots opened so far to the workers. */
static void
publish(struct dos_batch *b)
{
	pthread_mutex_lock(&b->lock);
	b->handed = b->opened;
	pthread_cond_broadcast(&b->work);
	pthread_mutex_unlock(&b->lock);
}

static void *
read_worker(void *arg)
{
	struct dos_batch *b = arg;
	size_t from, to, k;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (!b->quit && b->next == b->handed)
			pthread_cond_wait(&b->work, &b->lock);
		if (b->quit)
			break;
		from = b->next;
		to = b->handed - from > READ_STEP ? from + READ_STEP : b->handed;
		b->next = to;
		pthread_mutex_unlock(&b->lock);
		for (k = from; k < to; k++)
			if (b->slot[k].by_worker)
				read_slot(&b->slot[k]);
		pthread_mutex_lock(&b->lock);
		for (k = from; k < to; k++)
			b->slot[k].done = 1;
		if (b->waiting)
			pthread_cond_signal(&b->done);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* Slot sl read, by a worker or (with none) here. */
static void
slot_wait(struct dos_batch *b, struct slot *sl)
{
	if (b->workers == 0) {
		if (sl->by_worker)
			read_slot(sl);
		return;
	}
	pthread_mutex_lock(&b->lock);
	b->waiting = 1;
	while (!sl->done)
		pthread_cond_wait(&b->done, &b->lock);
	b->waiting = 0;
	pthread_mutex_unlock(&b->lock);
}

/* What request req of the round gets, once its slot is read. */
static void
fill_answer(struct dos_batch *b, const struct request *req,
    struct dos_batch_answer *a)
{
	struct slot *sl;

	memset(a, 0, sizeof *a);
	a->input = req->input;
	a->name_len = req->name_len;
	a->rest = req->rest;
	a->rest_len = req->rest_len;
	a->contents = req->contents;
	a->rc = req->rc;
	if (req->listed && !req->contents) {
		a->info = b->listed[req->at];
		return;
	}
	if (!req->contents) {
		a->info = b->infos[req->at];
		if (a->rc == 0)
			a->rc = b->info_rc[req->at];
		return;
	}
	sl = &b->slot[req->at];
	if (a->rc < 0) {
		a->info.oid = sl->oid;
		return;
	}
	a->info = sl->info;
	if (!sl->by_worker) {
		a->reader = &sl->r;
		return;
	}
	a->read_rc = sl->read_rc;
	a->data = sl->buf;
	a->len = sl->len;
}

/*
 * Answer requests [from, to) of the round, whose objects are open in the
 * slots; rc: a refusal before, after which they are only closed.
 */
static int
answer_opened(struct dos_batch *b, size_t from, size_t to, int rc)
{
	struct dos_batch_answer a;
	struct request *req;
	size_t k;

	if (b->workers > 0 && b->handed < b->opened)
		publish(b);
	for (k = from; k < to; k++) {
		req = &b->req[k];
		if (req->contents)
			slot_wait(b, &b->slot[req->at]);
		if (rc == 0) {
			fill_answer(b, req, &a);
			a.last = k + 1 == b->nr;
			rc = b->fn(&a, b->data);
		}
		if (req->contents && b->slot[req->at].open) {
			dos_reader_close(&b->slot[req->at].r);
			b->slot[req->at].open = 0;
		}
	}
	pthread_mutex_lock(&b->lock);
	b->handed = b->next = 0;
	pthread_mutex_unlock(&b->lock);
	b->opened = 0;
	return rc;
}

/* The next slot, for request req, with nothing read yet. */
static struct slot *
take_slot(struct dos_batch *b, struct request *req)
{
	struct slot *sl;

	req->at = b->opened;
	sl = &b->slot[b->opened++];
	sl->done = 0;
	sl->len = 0;
	sl->read_rc = 0;
	sl->open = sl->by_worker = 0;
	return sl;
}

/* Open sl's object, listed (in full) or found by sl->oid. */
static int
open_slot(struct dos_batch *b, struct slot *sl,
    const struct dos_object_info *listed)
{
	int rc;

	if (listed != NULL)
		rc = dos_reader_open_listed(b->st, listed, b->read_flags, &sl->r);
	else
		rc = dos_reader_open(b->st, &sl->oid, b->read_flags, &sl->r);
	sl->open = rc == 0;
	sl->info = sl->r.info;
	sl->by_worker = sl->open && sl->info.size <= SLOT_MAX &&
	    dos_reader_detachable(&sl->r);
	return rc;
}

/*
 * With a remote: fetch what the round's objects read of evicted packs,
 * then open and answer them a slotful at a time.
 */
static int
answer_pending(struct dos_batch *b)
{
	const struct dos_object_info *info;
	struct request *req;
	struct slot *sl;
	size_t from = 0, k;
	int rc = 0;

	/* Had that failed, each open would read its own. */
	if (b->fetch_nr > 0)
		dos_remote_prefetch(b->st, b->fetch, b->fetch_nr);
	for (k = 0; k < b->nr; k++) {
		req = &b->req[k];
		if (!req->contents)
			continue;
		if (b->opened == ROUND_READS) {
			rc = answer_opened(b, from, k, rc);
			from = k;
		}
		info = &b->pending[req->at];
		sl = take_slot(b, req);
		sl->oid = info->oid;
		if (req->rc == 0)
			req->rc = open_slot(b, sl, info);
	}
	rc = answer_opened(b, from, b->nr, rc);
	dos_remote_prefetch_drop(b->st);
	b->pending_nr = b->fetch_nr = 0;
	b->fetch_bytes = 0;
	return rc;
}

int
dos_batch_answer(struct dos_batch *b)
{
	size_t k;
	int rc;

	if (b->infos_nr > 0 && (rc = dos_object_info_many(b->st, b->infos,
	    b->info_rc, b->infos_nr)) < 0)
		for (k = 0; k < b->infos_nr; k++)
			b->info_rc[k] = rc;
	rc = b->prefetch ? answer_pending(b) : answer_opened(b, 0, b->nr, 0);
	b->nr = b->infos_nr = b->listed_nr = b->used = 0;
	return rc;
}

/*
 * With a remote: where the object of contents request req is, and what
 * of an evicted pack its open will read.
 */
static void
add_pending(struct dos_batch *b, struct request *req,
    const struct dos_object_info *listed)
{
	struct dos_object_info *info = &b->pending[b->pending_nr];
	struct dos_oid oid;
	unsigned version;
	int fd;

	req->at = b->pending_nr++;
	if (listed != NULL)
		*info = *listed;
	else if ((req->rc = dos_resolve(b->st, req->input, req->name_len,
	    &oid)) == 0)
		req->rc = dos_object_info(b->st, &oid, info);
	if (req->rc == 0 && info->storage == DOS_STORAGE_PACKED &&
	    dos_store_pack(b->st, info->pack, &fd, &version) == 0 && fd < 0) {
		dos_reader_first_range(info, &b->fetch[b->fetch_nr]);
		b->fetch_bytes += b->fetch[b->fetch_nr++].len;
	}
}

/*
 * Queue request line[0..len), of the object listed as *listed if not
 * NULL: neither resolved nor looked up then.
 */
static int
add_request(struct dos_batch *b, const char *line, size_t len,
    const struct dos_object_info *listed, int contents)
{
	struct request *req = &b->req[b->nr];
	struct slot *sl;

	if (len > DOS_INPUT_MAX_RECORD)
		return DOS_EINVAL;
	memcpy(b->arena + b->used, line, len);
	b->arena[b->used + len] = '\0';
	req->input = b->arena + b->used;
	b->used += len + 1;
	split_request(req->input, len, b->want_rest, &req->name_len,
	    &req->rest, &req->rest_len);
	req->contents = contents;
	req->listed = listed != NULL;
	req->rc = 0;
	if (!contents && listed != NULL) {
		req->at = b->listed_nr;
		b->listed[b->listed_nr++] = *listed;
	} else if (!contents) {
		req->at = b->infos_nr;
		req->rc = dos_resolve(b->st, req->input, req->name_len,
		    &b->infos[b->infos_nr].oid);
		if (req->rc == 0)
			b->infos_nr++;
	} else if (b->prefetch) {
		add_pending(b, req, listed);
	} else {
		sl = take_slot(b, req);
		if (listed != NULL)
			sl->oid = listed->oid;
		else
			req->rc = dos_resolve(b->st, req->input, req->name_len,
			    &sl->oid);
		if (req->rc == 0)
			req->rc = open_slot(b, sl, listed);
		if (b->workers > 0 && b->opened - b->handed == READ_PUBLISH)
			publish(b);
	}
	b->nr++;
	if (b->nr == ROUND_REQUESTS || b->opened == ROUND_READS ||
	    b->listed_nr == ROUND_LISTED ||
	    b->pending_nr == ROUND_PENDING || b->fetch_bytes >= ROUND_FETCH_MAX ||
	    b->used + DOS_INPUT_MAX_RECORD + 1 > ROUND_ARENA)
		return dos_batch_answer(b);
	return 0;
}

int
dos_batch_add(struct dos_batch *b, const char *line, size_t len,
    int contents)
{
	return add_request(b, line, len, NULL, contents);
}

int
dos_batch_add_listed(struct dos_batch *b, const struct dos_object_info *info,
    int contents)
{
	char hex[DOS_HEXSZ + 1];

	/* A loose listing has no size without a stat: look it up. */
	return add_request(b, dos_oid_to_hex(&info->oid, hex), DOS_HEXSZ,
	    info->storage == DOS_STORAGE_PACKED ? info : NULL, contents);
}

int
dos_batch_new(struct dos_store *st, unsigned read_flags, int want_rest,
    int jobs, dos_batch_fn *fn, void *data, struct dos_batch **bp)
{
	struct dos_batch *b;
	int i;

	/* Large, but its pages are only touched as requests come. */
	if ((b = calloc(1, sizeof *b)) == NULL)
		return DOS_ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->work, NULL);
	pthread_cond_init(&b->done, NULL);
	b->st = st;
	b->read_flags = read_flags;
	b->want_rest = want_rest;
	b->fn = fn;
	b->data = data;
	b->prefetch = dos_remote_any(st);
	*bp = b;
	if (jobs > 1 && (b->threads = malloc((size_t)jobs *
	    sizeof *b->threads)) == NULL)
		return DOS_ENOMEM;
	/* One job: the store's thread reads every object itself. */
	for (i = 0; jobs > 1 && i < jobs; i++) {
		if (pthread_create(&b->threads[i], NULL, read_worker, b) != 0)
			break;
		b->workers++;
	}
	return 0;
}

void
dos_batch_free(struct dos_batch *b)
{
	size_t k;
	int i;

	if (b == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	b->quit = 1;
	pthread_cond_broadcast(&b->work);
	pthread_mutex_unlock(&b->lock);
	for (i = 0; i < b->workers; i++)
		pthread_join(b->threads[i], NULL);
	/* Requests never answered still hold their objects open. */
	for (k = 0; k < ROUND_READS; k++)
		if (b->slot[k].open)
			dos_reader_close(&b->slot[k].r);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->work);
	pthread_cond_destroy(&b->done);
	free(b->threads);
	free(b);
}
