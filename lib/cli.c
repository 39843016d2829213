/*
 * cli.c: the command layer.  Everything that prints a diagnostic, writes
 * records to stdout or exits lives here, so the rest of lib/ can stay a
 * library.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char *dos_progname = "dos";
const char *dos_dir;
int dos_show_progress;

/*
 * The progress line of the command, if it shows one: what it counts (in
 * bytes or not), the total when known (0: unknown), bytes when counted
 * beside items, and when it started and was last drawn.  shown: the line
 * is on stderr, without its newline; width: its length.
 */
static struct {
	const char *what;
	uint64_t total, bytes, n;
	double start, drawn;
	int in_bytes, shown, width;
} progress;
static double interval;		/* seconds between redraws */

void
dos_progress_break(void)
{
	if (progress.shown)
		fputc('\n', stderr);
	progress.shown = 0;
}

static void
vreport(const char *level, const char *fmt, va_list ap)
{
	char msg[4096];

	vsnprintf(msg, sizeof msg, fmt, ap);
	fflush(stdout);
	dos_progress_break();
	fprintf(stderr, "%s: %s: %s\n", dos_progname, level, msg);
}

void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("fatal", fmt, ap);
	va_end(ap);
	exit(128);
}

int
error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("error", fmt, ap);
	va_end(ap);
	return -1;
}

void
warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("warning", fmt, ap);
	va_end(ap);
}

static void
print_usage(FILE *fp, const char *const *usage)
{
	int i;

	/* A line starting with a blank continues the one above it. */
	for (i = 0; usage[i] != NULL; i++)
		fprintf(fp, "%s %s\n", i == 0 ? "usage:" :
		    usage[i][0] == ' ' ? "      " : "   or:", usage[i]);
}

void
dos_usage(const char *const *usage, const char *msg, ...)
{
	va_list ap;

	if (msg != NULL) {
		va_start(ap, msg);
		vreport("error", msg, ap);
		va_end(ap);
	}
	print_usage(stderr, usage);
	exit(129);
}

int
dos_default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > DOS_MAX_JOBS ? DOS_MAX_JOBS : (int)n;
}

int
dos_parse_jobs(const char *arg, const char *const *usage)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || errno != 0 || n < 1 ||
	    n > DOS_MAX_JOBS)
		dos_usage(usage, "invalid --jobs '%s'", arg);
	return (int)n;
}

static double
seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A new count starts when what changes. */
static void
progress_for(const char *what)
{
	if (progress.what != NULL && strcmp(progress.what, what) == 0)
		return;
	progress.what = what;
	progress.total = progress.bytes = progress.n = 0;
	progress.in_bytes = 0;
	progress.start = progress.drawn = seconds_now();
	/* The tests redraw at every call, to see every line (dos(7)). */
	interval = getenv("DOS_PROGRESS_INTERVAL") != NULL ?
	    atof(getenv("DOS_PROGRESS_INTERVAL")) : DOS_PROGRESS_INTERVAL;
}

void
dos_progress_start(const char *what, uint64_t total, int in_bytes)
{
	progress.what = NULL;
	progress_for(what);
	progress.total = total;
	progress.in_bytes = in_bytes;
}

void
dos_progress_bytes(const char *what, uint64_t bytes)
{
	progress_for(what);
	progress.bytes = bytes;
}

/* A count as the progress line shows it: bytes in KiB, MiB, ... */
static void
progress_count(char *buf, size_t size, uint64_t v)
{
	if (progress.in_bytes)
		dos_human_size(buf, size, v);
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
}

/* "<what>: <n>[ of <total> (<pct>%)][, <bytes>][, <rate>/s][, <eta> left]" */
static void
draw_progress(double now)
{
	char line[256], n[32], total[32], size[32];
	double secs = now - progress.start, rate;
	unsigned long long left;
	int len;

	progress_count(n, sizeof n, progress.n);
	len = snprintf(line, sizeof line, "%s: %s", progress.what, n);
	if (progress.total > 0) {
		progress_count(total, sizeof total, progress.total);
		len += snprintf(line + len, sizeof line - len, " of %s (%u%%)",
		    total, (unsigned)(progress.n >= progress.total ? 100 :
		    (double)progress.n * 100 / progress.total));
	}
	if (progress.bytes > 0) {
		dos_human_size(size, sizeof size, progress.bytes);
		len += snprintf(line + len, sizeof line - len, ", %s", size);
	}
	/* A rate over less than a second says little. */
	rate = secs >= 1 ? progress.n / secs : 0;
	if (rate >= 1) {
		progress_count(n, sizeof n, (uint64_t)rate);
		len += snprintf(line + len, sizeof line - len, ", %s/s", n);
	}
	if (rate >= 1 && progress.total > progress.n) {
		left = (unsigned long long)((progress.total - progress.n) / rate);
		len += snprintf(line + len, sizeof line - len,
		    ", %llu:%02llu left", left / 60, left % 60);
	}
	/* Blank what is left of a longer line drawn before. */
	fprintf(stderr, "\r%s%*s", line, progress.width > len ?
	    progress.width - len : 0, "");
	progress.width = len;
	progress.drawn = now;
	progress.shown = 1;
}

void
dos_progress(const char *what, uint64_t n)
{
	double now;

	progress_for(what);
	progress.n = n;
	/* A clock read is cheap (vDSO); a redraw a few times a second. */
	now = seconds_now();
	if (now - progress.drawn >= interval)
		draw_progress(now);
}

void
dos_progress_done(const char *what, uint64_t n)
{
	char count[32];
	int len;

	progress_for(what);
	progress_count(count, sizeof count, n);
	len = fprintf(stderr, "\r%s: %s, done.", what, count) - 1;
	fprintf(stderr, "%*s\n", progress.width > len ? progress.width - len :
	    0, "");
	progress.shown = 0;
	progress.what = NULL;
	progress.width = 0;
}

/* The phase dos_progress_phase() shows, and how far it got. */
static const char *phase_shown;
static uint64_t phase_done;

void
dos_progress_phase(const char *phase, uint64_t done, uint64_t total,
    void *data)
{
	if (phase_shown == NULL || strcmp(phase_shown, phase) != 0) {
		if (phase_shown != NULL)
			dos_progress_done(phase_shown, phase_done);
		dos_progress_start(phase, total, 1);
		phase_shown = phase;
	}
	phase_done = done;
	dos_progress(phase, done);
}

void
dos_progress_phases_done(void)
{
	if (phase_shown != NULL)
		dos_progress_done(phase_shown, phase_done);
	phase_shown = NULL;
}

static const char *maint_what;

static void
maint_progress(void *data, uint64_t done)
{
	dos_progress(maint_what, done);
}

void
dos_maint_show_progress(struct dos_maint *m, const char *what)
{
	maint_what = what;
	m->progress = maint_progress;
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		die("out of memory allocating %zu bytes", size);
	return p;
}

void *
xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		die("out of memory allocating %zu bytes", size);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		die("out of memory");
	return p;
}

/* The tree's man/, where an uninstalled program finds its pages. */
#ifndef DOS_SOURCE_MANDIR
#define DOS_SOURCE_MANDIR "man"
#endif

const char *
dos_runtime_prefix(void)
{
	static const char *const subdirs[] = { "/bin", "/libexec/dos" };
	static char prefix[4096];
	static int done;
	ssize_t n;
	char *slash;
	size_t i, len, sublen;

	if (done)
		return prefix[0] != '\0' ? prefix : NULL;
	done = 1;
	n = readlink("/proc/self/exe", prefix, sizeof prefix - 1);
	prefix[n > 0 ? n : 0] = '\0';
	if ((slash = strrchr(prefix, '/')) == NULL) {
		prefix[0] = '\0';
		return NULL;
	}
	*slash = '\0';
	len = strlen(prefix);
	for (i = 0; i < sizeof subdirs / sizeof *subdirs; i++) {
		sublen = strlen(subdirs[i]);
		if (len >= sublen &&
		    strcmp(prefix + len - sublen, subdirs[i]) == 0) {
			prefix[len - sublen] = '\0';
			return prefix;
		}
	}
	prefix[0] = '\0';
	return NULL;
}

int
dos_run(char *const argv[], int quiet, char **out)
{
	size_t len = 0, alloc = 256;
	int fds[2], status, fd;
	ssize_t n;
	pid_t pid;

	if (out != NULL && pipe(fds) < 0)
		return -1;
	fflush(stdout);
	if ((pid = fork()) < 0) {
		if (out != NULL) {
			close(fds[0]);
			close(fds[1]);
		}
		return -1;
	}
	if (pid == 0) {
		if (quiet && (fd = open("/dev/null", O_WRONLY)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (out != NULL) {
			dup2(fds[1], 1);
			close(fds[0]);
			close(fds[1]);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "%s: unable to run %s: %s\n", dos_progname,
		    argv[0], strerror(errno));
		_exit(127);
	}
	if (out != NULL) {
		close(fds[1]);
		*out = xmalloc(alloc);
		while ((n = read(fds[0], *out + len, alloc - len - 1)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break;
			len += (size_t)n;
			if (alloc - len == 1)
				*out = xrealloc(*out, alloc *= 2);
		}
		(*out)[len] = '\0';
		close(fds[0]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

/* Run man with args, its output where ours goes; 0 if it succeeded. */
static int
run_man(const char *const *args, int quiet)
{
	int status = dos_run((char *const *)args, quiet, NULL);

	return status >= 0 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* The file of page (section 1, 5 or 7) under dir, in buf, if there is one. */
static int
find_page(char *buf, size_t size, const char *dir, int with_subdirs,
    const char *page)
{
	static const char sections[] = "157";
	int i, n;

	for (i = 0; sections[i] != '\0'; i++) {
		if (with_subdirs)
			n = snprintf(buf, size, "%s/man%c/%s.%c", dir,
			    sections[i], page, sections[i]);
		else
			n = snprintf(buf, size, "%s/%s.%c", dir, page,
			    sections[i]);
		if (n > 0 && (size_t)n < size && access(buf, R_OK) == 0)
			return 0;
	}
	return -1;
}

int
dos_show_man(const char *page)
{
	const char *prefix = dos_runtime_prefix();
	const char *local[] = { "man", "-l", NULL, NULL };
	const char *named[] = { "man", NULL, NULL };
	const char *where[] = { "man", "-w", NULL, NULL };
	char dir[4096], file[4096];

	if (prefix != NULL) {
		snprintf(dir, sizeof dir, "%s/share/man", prefix);
		if (find_page(file, sizeof file, dir, 1, page) == 0) {
			local[2] = file;
			return run_man(local, 0);
		}
	}
	if (find_page(file, sizeof file, DOS_SOURCE_MANDIR, 0, page) == 0) {
		local[2] = file;
		return run_man(local, 0);
	}
	/* Asked first, so that a missing page is our usage, not man's error. */
	where[2] = named[1] = page;
	if (run_man(where, 1) < 0)
		return -1;
	return run_man(named, 0);
}

/* --cache-size, for dos_open_or_die(). */
static uint64_t cache_size;
static int cache_size_given;

void
dos_common_option(int opt, const char *const *usage)
{
	switch (opt) {
	case 'h':
		print_usage(stdout, usage);
		exit(0);
	case DOS_OPT_HELP:
		if (dos_show_man(dos_progname) == 0)
			exit(0);
		/* No page, or no man(1): the usage is better than nothing. */
		print_usage(stdout, usage);
		exit(0);
	case DOS_OPT_VERSION:
		printf("dos version %s\n", DOS_VERSION);
		exit(0);
	case DOS_OPT_DIR:
		dos_dir = optarg;
		return;
	case DOS_OPT_PROGRESS:
	case DOS_OPT_NO_PROGRESS:
		dos_show_progress = opt == DOS_OPT_PROGRESS;
		return;
	case DOS_OPT_CACHE_SIZE:
		if (dos_parse_size(optarg, &cache_size) < 0)
			dos_usage(usage, "invalid --cache-size '%s': a number "
			    "of bytes, with k, m or g for KiB, MiB or GiB",
			    optarg);
		cache_size_given = 1;
		return;
	default:
		/* getopt_long has already said what was wrong. */
		print_usage(stderr, usage);
		exit(129);
	}
}

/* A fatal error and, on a line of its own, what to do about it. */
static void __attribute__((noreturn))
die_hint(const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("fatal", fmt, ap);
	va_end(ap);
	fprintf(stderr, "hint: %s\n", hint);
	exit(128);
}

void
dos_die_open(const char *path, int rc)
{
	if (rc == DOS_ENOTCONTAINER)
		die_hint("choose a container with --dir=<dir> or DOS_DIR=<dir>, "
		    "or make one with 'dos init <dir>'",
		    "not a dos container: '%s'", path);
	if (rc == DOS_ELEGACY)
		die_hint("copy it into a dos container with "
		    "'dos migrate <legacy-dir> <new-dir>'",
		    "'%s' is a legacy disk-objectstore container", path);
	if (rc == DOS_ENOINDEX)
		die_hint("rebuild the index from the packs with 'dos fsck --repair'",
		    "'%s' has packs but no index/: it was lost, or not copied "
		    "with them", path);
	if (rc == DOS_EBADCONFIG)
		die("invalid config.json in '%s'", path);
	die("unable to open container '%s': %s", path, dos_strerror(rc));
}

void
dos_open_or_die(struct dos_store *st, unsigned flags)
{
	const char *path = dos_store_default_path(dos_dir);
	int rc = dos_store_open(st, path, flags);

	if (rc < 0)
		dos_die_open(path, rc);
	if (cache_size_given &&
	    (rc = dos_remote_cache_set_bound(st, cache_size)) < 0)
		die("%s", dos_strerror(rc));
}

int
dos_remote_option(int opt, struct dos_remote *r, const char *const *usage)
{
	switch (opt) {
	case DOS_OPT_ENDPOINT:
		if (strlen(optarg) >= sizeof r->endpoint)
			dos_usage(usage, "endpoint too long");
		strcpy(r->endpoint, optarg);
		return 1;
	case DOS_OPT_REGION:
		if (strlen(optarg) >= sizeof r->region)
			dos_usage(usage, "region too long");
		strcpy(r->region, optarg);
		return 1;
	case DOS_OPT_ALLOW_HTTP:
		r->allow_http = 1;
		return 1;
	}
	return 0;
}

void
dos_remote_spec_or_die(struct dos_remote *r, const char *name,
    const char *url, const char *const *usage)
{
	if (dos_remote_parse_url(url, r) < 0)
		dos_usage(usage, "'%s' is not s3://<bucket>[/<prefix>] "
		    "(bucket: a-z 0-9 . -; prefix: A-Z a-z 0-9 . _ - /)", url);
	if (strlen(name) >= sizeof r->name)
		dos_usage(usage, "the name '%s' is too long", name);
	strcpy(r->name, name);
	if (r->endpoint[0] != '\0' &&
	    dos_s3_check_endpoint(r->endpoint, r->allow_http) < 0)
		die("%s", dos_s3_last_error());
}

void
dos_fetch_or_die(struct dos_store *st, const struct dos_remote *r, int quiet)
{
	struct dos_fetch_stats fs;
	char size[32];
	int rc;

	rc = dos_remote_fetch(st, r, dos_show_progress ? dos_progress_phase :
	    NULL, NULL, &fs);
	dos_progress_phases_done();
	if (rc < 0)
		die("unable to fetch the packs of '%s' from %s (%s): %s",
		    dos_store_path(st), r->name, r->url, dos_strerror(rc));
	if (!quiet) {
		dos_human_size(size, sizeof size, fs.bytes);
		printf("fetched %llu pack%s (%s) from %s\n",
		    (unsigned long long)fs.packs, fs.packs == 1 ? "" : "s",
		    size, r->name);
	}
}

void
dos_remote_or_die(struct dos_store *st, const char *name,
    struct dos_remote *r)
{
	int rc = dos_remote_find(st, name, r);

	if (rc == DOS_ENOTFOUND && name != NULL)
		die("no remote '%s' in '%s'; 'dos remote' lists them", name,
		    dos_store_path(st));
	if (rc == DOS_ENOTFOUND)
		die("'%s' has no remote; add one with 'dos remote add'",
		    dos_store_path(st));
	if (rc == DOS_EAMBIGUOUS)
		die("'%s' has several remotes: name one", dos_store_path(st));
	if (rc < 0)
		die("unable to read the remotes of '%s': %s",
		    dos_store_path(st), dos_strerror(rc));
}

/* "pid 1234 (dos-pack)": the holder of a lock, for people. */
static void
lock_holder_name(char *buf, size_t size, long pid)
{
	char path[64], comm[64];
	size_t len = 0;
	FILE *fp;

	snprintf(path, sizeof path, "/proc/%ld/comm", pid);
	if ((fp = fopen(path, "r")) != NULL) {
		len = fread(comm, 1, sizeof comm - 1, fp);
		fclose(fp);
	}
	while (len > 0 && comm[len - 1] == '\n')
		len--;
	comm[len] = '\0';
	if (len > 0)
		snprintf(buf, size, "pid %ld (%s)", pid, comm);
	else
		snprintf(buf, size, "pid %ld", pid);
}

static void
say_lock_wait(void *data, long holder)
{
	char who[96];

	lock_holder_name(who, sizeof who, holder);
	dos_progress_break();
	fprintf(stderr, "%s: waiting for the pack lock held by %s...\n",
	    dos_progname, who);
}

void
dos_tell_lock_waits(struct dos_store *st)
{
	if (isatty(2))
		dos_store_on_lock_wait(st, say_lock_wait, NULL);
}

void
dos_tell_evicted(struct dos_store *st)
{
	uint32_t *packs;
	size_t nr;
	int rc;

	if ((rc = dos_remote_evicted(st, NULL, &packs, &nr)) < 0) {
		warning("unable to list the packs evicted to remotes: %s",
		    dos_strerror(rc));
		return;
	}
	free(packs);
	if (nr > 0)
		fprintf(stderr, "left %zu pack%s on remotes alone: evicted, "
		    "they are read from there\n", nr, nr == 1 ? "" : "s");
}

struct dos_pack_writer *
dos_lock_packs(struct dos_store *st, unsigned flags,
    enum dos_compress_mode mode)
{
	struct dos_pack_writer *w;
	char who[96];
	long holder;
	int rc;

	rc = dos_pack_writer_open(st, flags, mode, &w, &holder);
	if (rc == DOS_EBUSY) {
		lock_holder_name(who, sizeof who, holder);
		error("pack lock held by %s", who);
		dos_store_release(st);
		exit(DOS_EXIT_LOCKED);
	}
	if (rc < 0)
		die("unable to write to the packs of '%s': %s",
		    dos_store_path(st), dos_strerror(rc));
	return w;
}

void
dos_unlock_packs(struct dos_pack_writer *w)
{
	const char *why;

	/* Nothing is lost, but the room the dictionary saves is. */
	if (w != NULL && (why = dos_pack_writer_dict_failure(w)) != NULL)
		warning("%s; small objects were packed without it", why);
	dos_pack_writer_close(w);
}

void
dos_no_arguments(int argc, const char *const *usage)
{
	if (optind != argc)
		dos_usage(usage, "too many arguments");
}

void
dos_pack_loose_or_die(struct dos_store *st, struct dos_pack_writer *w,
    int keep_loose, const struct dos_maint *m)
{
	int rc = dos_pack_loose(st, w, keep_loose, m);

	if (rc < 0)
		die("unable to pack '%s': %s", dos_store_path(st),
		    dos_strerror(rc));
}

void
dos_repack_or_die(struct dos_store *st, struct dos_pack_writer *w,
    enum dos_compress_mode mode, unsigned threshold, int harder,
    const struct dos_maint *m, struct dos_repack_stats *stats)
{
	int rc = harder ?
	    dos_repack_harder(st, w, threshold, m, stats) :
	    dos_repack(st, w, mode, threshold, m, stats);

	if (rc < 0)
		die("unable to repack '%s': %s", dos_store_path(st),
		    dos_strerror(rc));
}

void
dos_seal_packs_or_die(struct dos_store *st, struct dos_pack_writer *w,
    uint32_t first)
{
	int rc = dos_seal_packs(st, w, first);

	if (rc < 0)
		die("unable to seal the packs of '%s': %s",
		    dos_store_path(st), dos_strerror(rc));
}

void
dos_count_or_die(struct dos_store *st, struct dos_counts *c)
{
	int rc = dos_count_objects(st, c);

	if (rc < 0)
		die("unable to count objects in '%s': %s", dos_store_path(st),
		    dos_strerror(rc));
}

void
dos_print_count_fields(const struct dos_count_field *f, int human)
{
	char size[32];
	int i;

	for (i = 0; i < DOS_COUNT_FIELDS; i++) {
		if (f[i].is_size)
			dos_format_size(size, sizeof size, f[i].value, human);
		else
			snprintf(size, sizeof size, "%llu",
			    (unsigned long long)f[i].value);
		printf("%s: %s\n", f[i].key, size);
	}
}

void
dos_warn_counts(const struct dos_counts *c)
{
	if (c->damaged_packs > 0)
		warning("%llu %s could not be read to the end; "
		    "run 'dos fsck' for details",
		    (unsigned long long)c->damaged_packs,
		    c->damaged_packs == 1 ? "pack" : "packs");
	if (c->missing > 0)
		warning("%llu packed %s in missing packs",
		    (unsigned long long)c->missing,
		    c->missing == 1 ? "object is" : "objects are");
}

/* ---- records on stdout ---- */

static int out_buffered = 1;

static void
out_failed(void)
{
	if (errno == EPIPE) {
		/* The reader went away: end as a pipeline expects. */
		signal(SIGPIPE, SIG_DFL);
		raise(SIGPIPE);
	}
	die("write failure on standard output: %s", strerror(errno));
}

void
dos_out_set_buffered(int buffered)
{
	out_buffered = buffered;
}

void
dos_out_write(const void *buf, size_t len)
{
	if (out_buffered) {
		if (len > 0 && fwrite(buf, 1, len, stdout) != len)
			out_failed();
		return;
	}
	if (fflush(stdout) != 0 || dos_write_all(1, buf, len) < 0)
		out_failed();
}

void
dos_out_flush(void)
{
	if (fflush(stdout) != 0)
		out_failed();
}

void
dos_widen_pipe(int fd)
{
	/* Not a pipe, or over /proc/sys/fs/pipe-max-size: left as it is. */
	(void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

int
dos_stdout_is_pipe(void)
{
	struct stat sb;

	return fstat(1, &sb) < 0 || !S_ISREG(sb.st_mode);
}

void
dos_report_problem(void *data, const struct dos_oid *oid, int code,
    const char *what)
{
	char hex[DOS_HEXSZ + 1];
	const char *sep = code == DOS_EIO ? ": " : "";
	const char *why = code == DOS_EIO ? dos_strerror(code) : "";

	if (oid != NULL)
		error("object '%s': %s%s%s", dos_oid_to_hex(oid, hex), what,
		    sep, why);
	else
		error("%s%s%s", what, sep, why);
	*(int *)data = 1;
}

void
dos_human_size(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

void
dos_format_size(char *buf, size_t size, uint64_t bytes, int human)
{
	if (human)
		dos_human_size(buf, size, bytes);
	else
		snprintf(buf, size, "%llu",
		    (unsigned long long)(bytes / 1024 + (bytes % 1024 != 0)));
}
