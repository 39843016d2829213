/*
 * cli.h: the command layer of libdos (lib/cli.c, lib/main.c), the only
 * code that prints diagnostics or calls exit().  Commands use it to turn
 * the storage library's DOS_E* codes into messages and exit statuses;
 * every cmd/<name>.c includes it, and no other file of lib/ may.
 */
#ifndef DOS_CLI_H
#define DOS_CLI_H

#include "dos.h"

extern const char *dos_progname;	/* "dos-cat-object" */

/* "<prog>: fatal: <msg>" on stderr, exit 128. */
void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* "<prog>: error: <msg>", returns -1. */
int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The usage lines on stderr (prefixed by msg if not NULL), exit 129. */
void dos_usage(const char *const *usage, const char *msg, ...)
    __attribute__((noreturn));
void *xmalloc(size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);

/*
 * Options every command takes.  Add DOS_COMMON_OPTIONS to a getopt_long
 * table and send unknown cases to dos_common_option(), which handles -h
 * (usage on stdout, exit 0), --help (the man page), --version, --dir
 * (sets dos_dir) and bad options (usage, exit 129).
 */
enum {
	DOS_OPT_HELP = 0x1000,
	DOS_OPT_VERSION,
	DOS_OPT_DIR,
	DOS_OPT_PROGRESS,
	DOS_OPT_NO_PROGRESS,
	DOS_OPT_CACHE_SIZE,
	DOS_OPT_FIRST_LOCAL	/* commands number their long options from here */
};
#define DOS_COMMON_OPTIONS \
	{ "help", no_argument, NULL, DOS_OPT_HELP }, \
	{ "version", no_argument, NULL, DOS_OPT_VERSION }, \
	{ "dir", required_argument, NULL, DOS_OPT_DIR }
extern const char *dos_dir;
void dos_common_option(int opt, const char *const *usage);
/*
 * --progress and --no-progress of a command that shows progress: add
 * DOS_PROGRESS_OPTIONS to its table, and dos_common_option() sets
 * dos_show_progress, which starts as whether stderr is a terminal; the
 * command clears it for -q.  The last of them given decides.
 */
#define DOS_PROGRESS_OPTIONS \
	{ "progress", no_argument, NULL, DOS_OPT_PROGRESS }, \
	{ "no-progress", no_argument, NULL, DOS_OPT_NO_PROGRESS }
extern int dos_show_progress;
/*
 * --cache-size=<size> of a command that reads objects, whose packs may be
 * evicted to a remote: add DOS_CACHE_OPTIONS to its table, and
 * dos_common_option() takes the size (0: no cache), which
 * dos_open_or_die() gives the store in place of config.json's
 * remote_cache_size.
 */
#define DOS_CACHE_OPTIONS \
	{ "cache-size", required_argument, NULL, DOS_OPT_CACHE_SIZE }
/*
 * Show the man page (dos-pack, dos, ...) and return 0 when man(1) did;
 * -1 when there is no such page or no man, for the caller to fall back
 * on a usage.  The page is looked for in the share/man of the prefix the
 * program runs from, then in the source tree it was built from (an
 * uninstalled program), then where man looks.
 */
int dos_show_man(const char *page);
/*
 * Run argv[0] (found on PATH) with argv and wait for it: its standard
 * output into *out (NUL-terminated, to free) unless out is NULL, its
 * output and errors nowhere when quiet.  Its wait status, or -1 if it
 * could not be started (errno says why).
 */
int dos_run(char *const argv[], int quiet, char **out);
/*
 * The prefix the running program is installed under, found from its own
 * path as git's RUNTIME_PREFIX does: <prefix>/bin/dos or
 * <prefix>/libexec/dos/dos-<name>; NULL when it runs from elsewhere (the
 * build directory).
 */
const char *dos_runtime_prefix(void);

/*
 * --jobs=<n>: 1 to DOS_MAX_JOBS threads, or usage and exit 129; the
 * default is the number of online processors.
 */
#define DOS_MAX_JOBS 256
int dos_parse_jobs(const char *arg, const char *const *usage);
int dos_default_jobs(void);

/*
 * The progress of a long command on stderr, the one way every command
 * shows it: "<what>: <n>[ of <total> (<pct>%)][, <bytes>][, <rate>/s]
 * [, <m:ss> left]", redrawn in place at most every DOS_PROGRESS_INTERVAL
 * seconds, ended by "<what>: <n>, done." and a newline.  A count starts
 * when what changes, or at dos_progress_start(), which gives the total
 * (0: unknown) and whether the count is of bytes (shown in KiB, MiB...).
 * dos_progress_bytes() adds the bytes done beside a count of items.  A
 * diagnostic printed meanwhile starts on a line of its own.  Commands
 * show it on a terminal (isatty(2)) or with --progress, never with -q or
 * --no-progress.
 */
#define DOS_PROGRESS_INTERVAL 0.25
void dos_progress_start(const char *what, uint64_t total, int in_bytes);
void dos_progress_bytes(const char *what, uint64_t bytes);
void dos_progress(const char *what, uint64_t n);
void dos_progress_done(const char *what, uint64_t n);
/*
 * The progress of a library call that goes through phases, each counting
 * bytes (a dos_fsck_progress_fn, a dos_remote_progress_fn): a line for
 * each, ended when the next starts or at dos_progress_phases_done().
 */
void dos_progress_phase(const char *phase, uint64_t done, uint64_t total,
    void *data);
void dos_progress_phases_done(void);
/*
 * Have maintenance (dos_pack_loose, dos_repack) show its progress as the
 * count what.
 */
void dos_maint_show_progress(struct dos_maint *m, const char *what);
/* End a progress line drawn, so that what is printed next starts a line. */
void dos_progress_break(void);

/* Open the container chosen by --dir/$DOS_DIR/cwd, or die. */
void dos_open_or_die(struct dos_store *st, unsigned flags);
/*
 * The options that describe a remote (dos remote add, dos clone): add
 * DOS_REMOTE_OPTIONS to the table and give dos_remote_option() those
 * cases (it returns 0 for others); then dos_remote_spec_or_die() takes
 * the name and URL, and checks it all.
 */
enum {
	DOS_OPT_ENDPOINT = DOS_OPT_FIRST_LOCAL + 0x100,
	DOS_OPT_REGION,
	DOS_OPT_ALLOW_HTTP
};
#define DOS_REMOTE_OPTIONS \
	{ "endpoint", required_argument, NULL, DOS_OPT_ENDPOINT }, \
	{ "region", required_argument, NULL, DOS_OPT_REGION }, \
	{ "allow-http", no_argument, NULL, DOS_OPT_ALLOW_HTTP }
int dos_remote_option(int opt, struct dos_remote *r,
    const char *const *usage);
void dos_remote_spec_or_die(struct dos_remote *r, const char *name,
    const char *url, const char *const *usage);
/*
 * Fetch the packs evicted to r (dos_remote_fetch), with the progress
 * unless dos_show_progress is 0, and say how many unless quiet; or die.
 */
void dos_fetch_or_die(struct dos_store *st, const struct dos_remote *r,
    int quiet);
/* The remote called name (NULL: the only one) of st, or die. */
void dos_remote_or_die(struct dos_store *st, const char *name,
    struct dos_remote *r);
/*
 * The fatal error for a container at path that dos_store_open() or
 * dos_store_create() refused with rc, with a hint of what to do when
 * there is one (a legacy container, a lost index, no container).
 */
void dos_die_open(const char *path, int rc) __attribute__((noreturn));
/*
 * The exit status of a command whose --no-wait found packs/lock held:
 * sysexits.h's EX_TEMPFAIL (try again later), which no command uses for
 * anything else.
 */
#define DOS_EXIT_LOCKED 75
/*
 * Take the pack lock with a pack writer, or die; a busy lock under
 * DOS_PACK_NOWAIT is "pack lock held by pid N (name)" and exit
 * DOS_EXIT_LOCKED.
 */
struct dos_pack_writer *dos_lock_packs(struct dos_store *st, unsigned flags,
    enum dos_compress_mode mode);
/*
 * Close a writer of dos_lock_packs() after its last flush, with a warning
 * first if a dictionary it trained could not be stored.
 */
void dos_unlock_packs(struct dos_pack_writer *w);
/*
 * When stderr is a terminal, "<prog>: waiting for the pack lock held by
 * pid N (name)..." once before waiting for it; commands call this unless
 * -q was given.
 */
void dos_tell_lock_waits(struct dos_store *st);
/*
 * After repack or gc, unless -q: the packs evicted to remotes (dos push
 * --evict), which they neither read nor rewrite, on stderr.
 */
void dos_tell_evicted(struct dos_store *st);
/* After the options of a command that takes no arguments: any left is a
 * usage error (exit 129). */
void dos_no_arguments(int argc, const char *const *usage);
/*
 * dos_pack_loose() and dos_repack() (with harder, dos_repack_harder(),
 * mode unused), or die.
 */
void dos_pack_loose_or_die(struct dos_store *st, struct dos_pack_writer *w,
    int keep_loose, const struct dos_maint *m);
void dos_repack_or_die(struct dos_store *st, struct dos_pack_writer *w,
    enum dos_compress_mode mode, unsigned threshold, int harder,
    const struct dos_maint *m, struct dos_repack_stats *stats);
/* dos_seal_packs(), or die. */
void dos_seal_packs_or_die(struct dos_store *st, struct dos_pack_writer *w,
    uint32_t first);

/*
 * dos count-objects and dos status: dos_count_objects(), or die; the
 * counts, a "key: value" line each on stdout (sizes as dos_format_size()
 * has them); the warnings that go with them, on stderr.
 */
void dos_count_or_die(struct dos_store *st, struct dos_counts *c);
void dos_print_count_fields(const struct dos_count_field *f, int human);
void dos_warn_counts(const struct dos_counts *c);

/*
 * Records on stdout.  In unbuffered mode every record is written with
 * write(2) as soon as it is complete (coprocess use); otherwise stdio
 * buffers them.  Write errors are fatal; EPIPE ends the process quietly
 * with SIGPIPE.
 */
void dos_out_set_buffered(int buffered);
void dos_out_write(const void *buf, size_t len);
void dos_out_flush(void);
/* Flush after each record when stdout is not a regular file (git's rule). */
int dos_stdout_is_pipe(void);
/*
 * A pipe's buffer raised from 64 KiB to 1 MiB, if fd is one (and the
 * system allows it): a stream between two processes then goes in fewer
 * and larger writes and reads, and each side waits on the other less.
 */
void dos_widen_pipe(int fd);

/* A struct dos_maint problem callback: an error line (ending in errno's
 * text for DOS_EIO); data is an int status set to 1. */
void dos_report_problem(void *data, const struct dos_oid *oid, int code,
    const char *what);
/* "1.5 MiB"-style size for people (1024-based; plain bytes below 1 KiB). */
void dos_human_size(char *buf, size_t size, uint64_t bytes);
/* dos_human_size() if human, else KiB rounded up (never 0 for a size that
 * is not), as count-objects has them. */
void dos_format_size(char *buf, size_t size, uint64_t bytes, int human);

/* ---- lib/main.c ---------------------------------------------------------- */

/*
 * main() calls this: cmd/dos.c's in dos, and in dos-<name> the
 * cmd_<name>() of cmd/<name>.c under this name (see the Makefile).
 */
int cmd_main(int argc, char **argv);

#endif
