/* dos-migrate: copy a legacy disk-objectstore container into dos. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char *const migrate_usage[] = {
	"dos migrate [-q | -v] [--[no-]progress] [-n | --dry-run] [--into]",
	"            [--keep-compression] [--jobs=<n>] [--map=<file>]",
	"            <legacy-dir> <new-dir>",
	NULL
};

enum {
	OPT_INTO = DOS_OPT_FIRST_LOCAL,
	OPT_MAP,
	OPT_KEEP_COMPRESSION,
	OPT_JOBS,
};

static const struct option migrate_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "into", no_argument, NULL, OPT_INTO },
	{ "map", required_argument, NULL, OPT_MAP },
	{ "keep-compression", no_argument, NULL, OPT_KEEP_COMPRESSION },
	{ "jobs", required_argument, NULL, OPT_JOBS },
	DOS_PROGRESS_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

#define PROGRESS "migrating objects"

/*
 * Objects are made durable in batches of this many objects or bytes, as
 * dos pack does; an interrupted run loses at most one batch of work.  The
 * records go to the journal (dos_pack_writer_defer), not into an index
 * transaction, so a batch is not held to DOS_INDEX_TXN_RECORDS: larger,
 * it costs fewer fdatasync(2)s.
 */
#define BATCH_OBJECTS (64 * 1024)
#define BATCH_BYTES (64ULL << 20)

/* Keys the final check looks up in one pass over the index. */
#define CHECK_BATCH 4096

/* Old key to new id, for sha1 sources. */
struct map_entry {
	char key[DOS_LEGACY_MAX_KEY + 1];
	struct dos_oid oid;
};

struct migration {
	struct dos_store store;		/* not open: nothing to look in */
	struct dos_legacy_options opts;	/* opts.writer NULL: a dry run */
	int dry_run, sha1, quiet, verbose;
	uint64_t done;			/* objects looked at, for progress */
	char problems[512];		/* bad copies of the current object */
	char **failed;			/* keys with no good copy */
	size_t nfailed, failed_alloc;
	struct map_entry *map;
	size_t nmap, map_alloc;
	uint64_t missing;		/* after the run, not at the destination */
	FILE *mapfp;
	/* Keys of the final check waiting to be looked up together. */
	char (*check_keys)[DOS_LEGACY_MAX_KEY + 1];
	struct dos_oid *check_oids;
	size_t ncheck;
	/*
	 * How far the run got, recorded in the marker after each commit
	 * (tracked: the marker is this migration's, of a sha256 source)
	 * until an object is lost: a resumed run must try it again.
	 */
	const char *source;
	int tracked, frozen;
	struct dos_migration_progress progress;
	uint64_t seen;			/* objects offered so far */
	char seen_key[DOS_LEGACY_MAX_KEY + 1];	/* the last of them */
	/*
	 * What an interrupted run recorded: the objects before resume.done
	 * are skipped unread, provided the source is the same, which the
	 * key of the last of them checks (checked once it did; stale once
	 * it did not).
	 */
	struct dos_migration_progress resume;
	int checked, stale;
};

/*
 * Record in the marker that what progress covers is committed, and by
 * which commit: the current pack and its committed length.
 */
static int
record_progress(struct migration *m)
{
	struct dos_index *ix;
	int rc;

	if (!m->tracked || m->frozen || m->progress.done == 0)
		return 0;
	m->progress.pack = dos_pack_writer_pack(m->opts.writer);
	if ((rc = dos_store_index(&m->store, 0, &ix)) < 0 ||
	    (rc = dos_index_get_pack_length(ix, m->progress.pack,
	    &m->progress.length)) < 0)
		return rc;
	return dos_store_mark_migration(&m->store, m->source, &m->progress);
}

/* Make everything written so far durable. */
static int
store_commit(struct migration *m)
{
	int rc;

	if (m->opts.writer == NULL)
		return 0;
	if ((rc = dos_pack_writer_flush(m->opts.writer)) < 0)
		return rc;
	return record_progress(m);
}

static int
store_commit_if_full(struct migration *m)
{
	if (dos_pack_writer_pending(m->opts.writer) >= BATCH_OBJECTS ||
	    dos_pack_writer_pending_bytes(m->opts.writer) >= BATCH_BYTES)
		return store_commit(m);
	return 0;
}

static void
count_done(struct migration *m)
{
	m->done++;
	if (dos_show_progress)
		dos_progress(PROGRESS, m->done);
}

/* ---- the callbacks of dos_legacy_migrate() ---- */

/*
 * 1 if the destination has oid with this size (any size if UINT64_MAX).
 * The index first: after a migration nearly everything is there.  A
 * packer indexes an object before it unlinks its loose file, so one that
 * is neither indexed nor loose is looked up in the index again.
 */
static int
have_object(struct migration *m, const struct dos_oid *oid, uint64_t size)
{
	struct dos_index_entry e;
	struct dos_index *ix;
	int rc;

	if (!dos_store_is_open(&m->store))
		return 0;
	if ((rc = dos_store_index(&m->store, 0, &ix)) < 0)
		return rc;
	rc = dos_index_get(ix, oid, &e);
	if (rc == DOS_ENOTFOUND) {
		rc = dos_loose_stat(&m->store, oid, &e.raw_size);
		if (rc == DOS_ENOTFOUND)
			rc = dos_index_get(ix, oid, &e);
	}
	if (rc == DOS_ENOTFOUND || rc == DOS_ECORRUPT)
		return 0;
	if (rc < 0)
		return rc;
	return size == UINT64_MAX || e.raw_size == size;
}

static int
sink_want(void *data, const struct dos_legacy_object *obj)
{
	struct migration *m = data;
	struct dos_oid oid;
	int rc;

	/* A sha1 key says nothing about the new id: read it again. */
	if (m->sha1)
		return 1;
	m->seen = obj->seq + 1;
	strcpy(m->seen_key, obj->key);
	if (obj->seq < m->resume.done) {
		if (obj->seq == m->resume.done - 1) {
			m->checked = strcmp(obj->key, m->resume.key) == 0;
			m->stale = !m->checked;
			if (m->stale)
				return DOS_EINVAL;
		}
		count_done(m);
		return 0;
	}
	if (m->opts.fresh)
		return 1;
	dos_oid_from_hex(&oid, obj->key, DOS_HEXSZ);
	rc = have_object(m, &oid, obj->where == DOS_LEGACY_PACKED ?
	    obj->size : UINT64_MAX);
	if (rc > 0)
		count_done(m);
	return rc < 0 ? rc : !rc;
}

static void
describe_copy(const struct dos_legacy_object *obj, char *buf, size_t size)
{
	switch (obj->where) {
	case DOS_LEGACY_PACKED:
		snprintf(buf, size, "pack/%lld", (long long)obj->pack_id);
		break;
	case DOS_LEGACY_LOOSE:
		snprintf(buf, size, "loose");
		break;
	case DOS_LEGACY_DUPLICATE:
		snprintf(buf, size, "duplicate");
		break;
	}
}

static void
sink_bad_copy(void *data, const struct dos_legacy_object *obj,
    enum dos_legacy_problem problem)
{
	struct migration *m = data;
	size_t len = strlen(m->problems);
	char where[32];

	describe_copy(obj, where, sizeof where);
	snprintf(m->problems + len, sizeof m->problems - len, "%s%s:%s",
	    len > 0 ? " " : "", where, dos_legacy_problem_name(problem));
	if (m->verbose)
		warning("%s: %s copy is %s%s%s", obj->key, where,
		    dos_legacy_problem_name(problem),
		    obj->sys_errno != 0 ? ": " : "",
		    obj->sys_errno != 0 ? strerror(obj->sys_errno) : "");
}

static int
sink_migrated(void *data, const struct dos_legacy_object *obj,
    const struct dos_oid *oid)
{
	struct migration *m = data;
	char where[32];

	if (m->problems[0] != '\0' && !m->quiet) {
		describe_copy(obj, where, sizeof where);
		warning("%s: bad copies (%s); migrated the %s copy", obj->key,
		    m->problems, where);
	}
	m->problems[0] = '\0';
	count_done(m);
	if (m->dry_run)
		return 0;
	if (m->sha1) {
		if (m->nmap == m->map_alloc) {
			m->map_alloc = m->map_alloc ? 2 * m->map_alloc : 1024;
			m->map = xrealloc(m->map, m->map_alloc * sizeof *m->map);
		}
		strcpy(m->map[m->nmap].key, obj->key);
		m->map[m->nmap++].oid = *oid;
	}
	/* Objects reach the pack in order: those before it are done too. */
	m->progress.done = obj->seq + 1;
	strcpy(m->progress.key, obj->key);
	return store_commit_if_full(m);
}

static void
sink_lost(void *data, const struct dos_legacy_object *obj)
{
	struct migration *m = data;
	char line[DOS_LEGACY_MAX_KEY + sizeof m->problems + 2];
	int n;

	n = snprintf(line, sizeof line, "%s %s\n", obj->key,
	    m->problems[0] != '\0' ? m->problems : "unreadable");
	dos_out_write(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
	m->problems[0] = '\0';
	if (m->nfailed == m->failed_alloc) {
		m->failed_alloc = m->failed_alloc ? 2 * m->failed_alloc : 64;
		m->failed = xrealloc(m->failed,
		    m->failed_alloc * sizeof *m->failed);
	}
	m->failed[m->nfailed++] = xstrdup(obj->key);
	m->frozen = 1;
	count_done(m);
}

static const struct dos_legacy_sink migrate_sink = {
	sink_want, sink_migrated, sink_bad_copy, sink_lost,
};

/* ---- the final check ---- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_map(const void *a, const void *b)
{
	return strcmp(((const struct map_entry *)a)->key,
	    ((const struct map_entry *)b)->key);
}

static int
is_failed(struct migration *m, const char *key)
{
	return m->nfailed > 0 && bsearch(&key, m->failed, m->nfailed,
	    sizeof *m->failed, cmp_str) != NULL;
}

/* The new id of a legacy key, or NULL if it was not migrated. */
static const struct dos_oid *
new_id(struct migration *m, const char *key, struct dos_oid *buf)
{
	struct map_entry probe, *e;

	if (!m->sha1) {
		dos_oid_from_hex(buf, key, DOS_HEXSZ);
		return buf;
	}
	snprintf(probe.key, sizeof probe.key, "%s", key);
	if (m->nmap == 0)
		return NULL;
	e = bsearch(&probe, m->map, m->nmap, sizeof *m->map, cmp_map);
	return e != NULL ? &e->oid : NULL;
}

/* A key found at the destination (present) or not: say so. */
static void
report_key(struct migration *m, const char *key, const struct dos_oid *oid,
    int present)
{
	char hex[DOS_HEXSZ + 1];

	if (!present) {
		m->missing++;
		error("%s: not found in the destination after migrating", key);
	} else if (m->mapfp != NULL &&
	    fprintf(m->mapfp, "%s %s\n", key, dos_oid_to_hex(oid, hex)) < 0) {
		die("unable to write the map: %s", strerror(errno));
	}
}

/*
 * Look up the keys waiting, which are in order, in one pass over the
 * index; those not indexed may still be loose.
 */
static int
check_waiting(struct migration *m)
{
	struct dos_index_entry *entries;
	struct dos_index *ix;
	unsigned char *found;
	size_t i;
	int rc;

	if (m->ncheck == 0)
		return 0;
	entries = xmalloc(m->ncheck * sizeof *entries);
	found = xmalloc(m->ncheck);
	if ((rc = dos_store_index(&m->store, 0, &ix)) == 0)
		rc = dos_index_get_sorted(ix, m->check_oids, m->ncheck, entries,
		    found);
	for (i = 0; rc >= 0 && i < m->ncheck; i++) {
		rc = found[i] ? 1 : have_object(m, &m->check_oids[i], UINT64_MAX);
		if (rc >= 0)
			report_key(m, m->check_keys[i], &m->check_oids[i], rc);
	}
	free(entries);
	free(found);
	m->ncheck = 0;
	return rc < 0 ? rc : 0;
}

/* Every source key is at the destination, or was reported as failed. */
static int
check_key(const char *key, enum dos_legacy_where where, void *data)
{
	struct migration *m = data;
	struct dos_oid buf;
	const struct dos_oid *oid;
	int rc;

	if (is_failed(m, key))
		return 0;
	/* Indexed sha256 keys come in order: they wait to go together. */
	if (!m->sha1 && where == DOS_LEGACY_PACKED) {
		if (m->check_keys == NULL) {
			m->check_keys = xmalloc(CHECK_BATCH * sizeof *m->check_keys);
			m->check_oids = xmalloc(CHECK_BATCH * sizeof *m->check_oids);
		}
		strcpy(m->check_keys[m->ncheck], key);
		dos_oid_from_hex(&m->check_oids[m->ncheck], key, DOS_HEXSZ);
		return ++m->ncheck == CHECK_BATCH ? check_waiting(m) : 0;
	}
	if ((rc = check_waiting(m)) < 0)
		return rc;
	oid = new_id(m, key, &buf);
	rc = oid != NULL ? have_object(m, oid, UINT64_MAX) : 0;
	if (rc < 0)
		return rc;
	report_key(m, key, oid, rc);
	return 0;
}

/* ---- the destination ---- */

/* 1 if the container has no object at all. */
static int
stop_at_first(const struct dos_object_info *info, void *data)
{
	return 1;
}

/* Stops at the first key of the source missing from the destination. */
static int
stop_at_missing(const char *key, enum dos_legacy_where where, void *data)
{
	struct dos_oid oid;
	int rc;

	dos_oid_from_hex(&oid, key, DOS_HEXSZ);
	rc = have_object(data, &oid, UINT64_MAX);
	return rc < 0 ? rc : !rc;
}

/*
 * A new container at dest, or the one an interrupted run of the same
 * migration left there.
 */
static void
create_destination(struct migration *m, const char *dest, const char *source,
    struct dos_legacy *lg)
{
	struct dos_config cfg, existing;
	char marker[PATH_MAX + 2];
	int rc, stored, missing;

	if (dos_config_init(&cfg) < 0)
		die("unable to generate a container id");
	rc = dos_store_create(dest, &cfg, &existing);
	if (rc == DOS_EEXIST)
		die("'%s' is not empty (use --into to add to a dos container)",
		    dest);
	if (rc == DOS_ELEGACY)
		die("'%s' is a legacy container, not a destination", dest);
	if (rc < 0)
		die("unable to create '%s': %s", dest, dos_strerror(rc));
	if ((rc = dos_store_open(&m->store, dest, DOS_OPEN_WRITE)) < 0)
		die("unable to open '%s': %s", dest, dos_strerror(rc));
	if (dos_store_migration_source(&m->store, marker, sizeof marker) == 0) {
		if (strcmp(marker, source) != 0)
			die("'%s' holds an unfinished migration of another "
			    "container", dest);
	} else {
		stored = dos_for_each_object(&m->store, DOS_ITER_UNORDERED,
		    stop_at_first, NULL);
		/*
		 * Objects but no marker: another container's, unless it has
		 * every object of the source, as when a migration finished
		 * and was killed before it could exit; it is checked again
		 * (not as a fresh destination: every object is looked up).
		 */
		missing = stored;
		if (stored > 0 && !m->sha1)
			missing = dos_legacy_for_each_key(lg, stop_at_missing, m);
		if (stored < 0 || missing < 0)
			die("unable to read '%s': %s", dest,
			    dos_strerror(stored < 0 ? stored : missing));
		if (missing > 0)
			die("'%s' already holds objects (use --into to add "
			    "to it)", dest);
		m->opts.fresh = stored == 0;
		if (dos_store_mark_migration(&m->store, source, NULL) < 0)
			die("unable to write '%s/" DOS_MIGRATION_MARKER "': %s",
			    dest, strerror(errno));
	}
}

static void
open_destination(struct migration *m, const char *dest, int into)
{
	struct stat sb;
	int rc;

	if (into || (m->dry_run && stat(dest, &sb) == 0)) {
		rc = dos_store_open(&m->store, dest, m->dry_run ? 0 :
		    DOS_OPEN_WRITE);
		if (rc == DOS_ENOTCONTAINER && !into)
			return;	/* a dry run: whether it is empty is moot */
		if (rc == DOS_ENOTCONTAINER || rc == DOS_EBADCONFIG)
			die("not a dos container: '%s'", dest);
		if (rc < 0)
			die("unable to open '%s': %s", dest, dos_strerror(rc));
	}
}

/*
 * 1 if the packs are as the commit p names left them: nothing was
 * committed after it but, perhaps, the next pack's header.
 */
static int
unchanged_since(struct migration *m, const struct dos_migration_progress *p)
{
	uint32_t pack = dos_pack_writer_pack(m->opts.writer);
	struct dos_index *ix;
	uint64_t length;

	if (dos_store_index(&m->store, 0, &ix) < 0 ||
	    dos_index_get_pack_length(ix, p->pack, &length) < 0 ||
	    length != p->length)
		return 0;
	if (pack == p->pack)
		return 1;
	return pack == p->pack + 1 &&
	    dos_index_get_pack_length(ix, pack, &length) == 0 &&
	    length == DOS_PACK_HEADER_SIZE;
}

/*
 * Record progress in the marker if it is this migration's, and continue
 * where an interrupted run got if nothing was committed since: anything
 * else that wrote the packs (dos rm, say, or this migration killed
 * between a commit and its record) may have changed what is there, and
 * every object is looked up as before.  If the migration also began in
 * an empty container, the objects after that point are not there: none
 * needs looking up.
 */
static void
take_progress(struct migration *m)
{
	char marker[PATH_MAX + 2];

	if (m->sha1 ||
	    dos_store_migration_source(&m->store, marker, sizeof marker) < 0 ||
	    strcmp(marker, m->source) != 0)
		return;
	m->tracked = 1;
	m->progress.fresh = m->opts.fresh;
	if (dos_store_migration_progress(&m->store, m->source,
	    &m->resume) < 0 || !unchanged_since(m, &m->resume)) {
		m->resume.done = 0;
		return;
	}
	if (m->resume.fresh)
		m->opts.fresh = m->progress.fresh = 1;
}

/* ---- reporting ---- */

static double
seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
summary(const struct migration *m, const struct dos_legacy_stats *s,
    double secs)
{
	fprintf(stderr, "%s: %s %llu objects (%llu bytes), "
	    "%llu already present, %llu extra copies skipped, "
	    "%llu recovered from a second copy, %llu failed, in %.1f s\n",
	    dos_progname, m->dry_run ? "would migrate" : "migrated",
	    (unsigned long long)s->objects, (unsigned long long)s->bytes,
	    (unsigned long long)s->present,
	    (unsigned long long)s->extra_copies,
	    (unsigned long long)s->recovered,
	    (unsigned long long)s->failed, secs);
}

int
cmd_migrate(int argc, char **argv)
{
	struct migration m;
	struct dos_legacy *lg;
	struct dos_index *ix;
	struct dos_legacy_stats stats;
	const struct dos_legacy_config *cfg;
	const char *why, *map_path = NULL, *source, *dest;
	char *abs_source;
	struct timespec t0;
	int opt, into = 0, rc;

	memset(&m, 0, sizeof m);
	m.store = (struct dos_store)DOS_STORE_INIT;
	m.opts.jobs = dos_default_jobs();
	while ((opt = getopt_long(argc, argv, "+hqvn", migrate_options,
	    NULL)) != -1) {
		switch (opt) {
		case 'q':
			m.quiet = 1;
			dos_show_progress = 0;
			break;
		case 'v':
			m.verbose = 1;
			break;
		case 'n':
			m.dry_run = 1;
			break;
		case OPT_INTO:
			into = 1;
			break;
		case OPT_MAP:
			map_path = optarg;
			break;
		case OPT_KEEP_COMPRESSION:
			m.opts.keep_compression = 1;
			break;
		case OPT_JOBS:
			m.opts.jobs = dos_parse_jobs(optarg, migrate_usage);
			break;
		default:
			dos_common_option(opt, migrate_usage);
		}
	}
	argc -= optind;
	argv += optind;
	if (m.quiet && m.verbose)
		dos_usage(migrate_usage, "-q and -v are mutually exclusive");
	if (argc != 2)
		dos_usage(migrate_usage, argc < 2 ?
		    "a legacy container and a destination are needed" :
		    "too many arguments");
	source = argv[0];
	dest = argv[1];
	clock_gettime(CLOCK_MONOTONIC, &t0);

	rc = dos_legacy_open(source, &lg, &why);
	if (rc == DOS_ENOTCONTAINER)
		die("not a legacy disk-objectstore container: '%s' (%s)",
		    source, why);
	if (rc == DOS_EBADCONFIG)
		die("cannot migrate '%s': %s", source, why);
	if (rc < 0)
		die("unable to open '%s': %s", source, dos_strerror(rc));
	cfg = dos_legacy_get_config(lg);
	m.sha1 = cfg->hash == DOS_LEGACY_SHA1;
	if (m.sha1 && map_path == NULL && !m.dry_run)
		dos_usage(migrate_usage, "'%s' has sha1 keys: --map=<file> "
		    "must record their new ids", source);
	if (m.verbose)
		fprintf(stderr, "%s: '%s': %s keys, loose_prefix_len %d, "
		    "container_id '%s'\n", dos_progname, source,
		    m.sha1 ? "sha1" : "sha256", cfg->loose_prefix_len,
		    cfg->container_id);

	if ((abs_source = realpath(source, NULL)) == NULL)
		die("unable to resolve '%s': %s", source, strerror(errno));
	if (m.dry_run)
		open_destination(&m, dest, into);
	else if (into)
		open_destination(&m, dest, into);
	else
		create_destination(&m, dest, abs_source, lg);
	if (!m.quiet)
		dos_tell_lock_waits(&m.store);
	/*
	 * Records put in random id order cost a leaf of the index each,
	 * which at 10^7 objects is a page read and written: they are put in
	 * id order at the end instead (lib/journal.c).
	 */
	if (!m.dry_run) {
		m.opts.writer = dos_lock_packs(&m.store, 0,
		    m.opts.keep_compression ? DOS_COMPRESS_NEVER :
		    DOS_COMPRESS_AUTO);
		if ((rc = dos_pack_writer_defer(m.opts.writer)) < 0)
			die("unable to write '%s/" DOS_JOURNAL "': %s", dest,
			    dos_strerror(rc));
		m.source = abs_source;
		take_progress(&m);
		if (m.verbose && m.resume.done > 0)
			fprintf(stderr, "%s: continuing after the %llu objects "
			    "an interrupted run finished%s\n", dos_progname,
			    (unsigned long long)m.resume.done, m.opts.fresh ?
			    "; none after them is looked up" : "");
	}

	dos_out_set_buffered(!dos_stdout_is_pipe());
	rc = dos_legacy_migrate(lg, &m.opts, &migrate_sink, &m, &stats);
	if (rc == 0 && m.resume.done > 0 && !m.checked)
		m.stale = 1;	/* the source ends before that point */
	if (m.stale) {
		/* Only skipped so far: nothing was stored. */
		if (!m.quiet)
			warning("'%s' changed since the interrupted run: "
			    "looking up every object", source);
		m.resume.done = 0;
		m.opts.fresh = m.progress.fresh = 0;
		m.stale = 0;
		m.done = 0;
		rc = dos_legacy_migrate(lg, &m.opts, &migrate_sink, &m, &stats);
	}
	/* All offered are done: present, stored or lost. */
	if (rc == 0 && !m.dry_run) {
		m.progress.done = m.seen;
		strcpy(m.progress.key, m.seen_key);
		if ((rc = store_commit(&m)) == 0)
			rc = dos_pack_writer_load_journal(m.opts.writer);
	}
	/*
	 * The records went in in id order; the index already held some if
	 * this continues an earlier run, which leaves its pages two thirds
	 * full: filled now, the index is half as large, and the check below
	 * reads it faster (dos-container(5)).
	 */
	if (rc == 0 && !m.dry_run && dos_index_exists(m.store.dirfd) &&
	    (rc = dos_store_index(&m.store, 1, &ix)) == 0)
		rc = dos_index_compact(ix);
	if (rc < 0)
		die("migration of '%s' stopped: %s", source, dos_strerror(rc));
	if (dos_show_progress)
		dos_progress_done(PROGRESS, m.done);
	dos_out_flush();

	if (!m.dry_run) {
		if (m.nfailed > 0)
			qsort(m.failed, m.nfailed, sizeof *m.failed, cmp_str);
		if (m.nmap > 0)
			qsort(m.map, m.nmap, sizeof *m.map, cmp_map);
		if (map_path != NULL && strcmp(map_path, "-") == 0)
			m.mapfp = stdout;
		else if (map_path != NULL &&
		    (m.mapfp = fopen(map_path, "w")) == NULL)
			die("unable to create '%s': %s", map_path,
			    strerror(errno));
		if ((rc = dos_legacy_for_each_key(lg, check_key, &m)) < 0 ||
		    (rc = check_waiting(&m)) < 0)
			die("unable to check '%s' against '%s': %s", dest,
			    source, dos_strerror(rc));
		if (m.mapfp != NULL && m.mapfp != stdout && fclose(m.mapfp) != 0)
			die("unable to write '%s': %s", map_path,
			    strerror(errno));
		/* Something skipped is not there: look everything up next time. */
		if (m.missing > 0 && m.tracked &&
		    dos_store_mark_migration(&m.store, abs_source, NULL) < 0)
			die("unable to write '%s/" DOS_MIGRATION_MARKER "': %s",
			    dest, strerror(errno));
		if (m.missing > 0)
			die("%llu objects of '%s' are missing from '%s'",
			    (unsigned long long)m.missing, source, dest);
		if (m.verbose)
			fprintf(stderr, "%s: every object of '%s' is in '%s'\n",
			    dos_progname, source, dest);
		/* Done, as far as the source allows: no more resuming. */
		if (!into && m.nfailed == 0 &&
		    dos_store_unmark_migration(&m.store) < 0)
			die("unable to remove '%s/" DOS_MIGRATION_MARKER "': %s",
			    dest, strerror(errno));
	}
	if (!m.quiet)
		summary(&m, &stats, seconds_since(&t0));

	dos_unlock_packs(m.opts.writer);
	dos_store_release(&m.store);
	dos_legacy_close(lg);
	free(abs_source);
	while (m.nfailed > 0)
		free(m.failed[--m.nfailed]);
	free(m.failed);
	free(m.map);
	free(m.check_keys);
	free(m.check_oids);
	return stats.failed > 0 ? 1 : 0;
}
