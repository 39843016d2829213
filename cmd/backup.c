/* dos-backup: a consistent, incremental backup of a container in use. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

static const char *const backup_usage[] = {
	"dos backup [-q] [--[no-]progress] [--keep=<n>] (<directory> | <host>:<directory>)",
	NULL
};

enum {
	OPT_KEEP = DOS_OPT_FIRST_LOCAL,
};

static const struct option backup_options[] = {
	{ "quiet", no_argument, NULL, 'q' },
	{ "keep", required_argument, NULL, OPT_KEEP },
	DOS_PROGRESS_OPTIONS,
	DOS_COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

#define PROGRESS "backing up files"

static struct dos_store store = DOS_STORE_INIT;
static char stage[PATH_MAX];	/* the staging tree of a remote backup */

/* Loose objects and packs, and their bytes, copied or linked. */
static void
show_progress(const struct dos_backup_stats *s, void *data)
{
	dos_progress_bytes(PROGRESS, s->bytes_copied + s->bytes_linked);
	dos_progress(PROGRESS, s->objects + s->packs);
}

/* Back up into dest (a staging tree with flags DOS_BACKUP_STAGE). */
static int
backup(const char *dest, unsigned flags, unsigned long keep, char *made,
    size_t size, struct dos_backup_stats *s)
{
	int rc;

	memset(s, 0, sizeof *s);
	if (dos_show_progress)
		s->progress = show_progress;
	rc = dos_backup(&store, dest, flags, (unsigned)keep, made, size, s);
	if (dos_show_progress)
		dos_progress_done(PROGRESS, s->objects + s->packs);
	return rc;
}

/* host:path, as scp and rsync take it: a colon before any slash. */
static int
is_remote(const char *dest)
{
	const char *colon = strchr(dest, ':'), *slash = strchr(dest, '/');

	return colon != NULL && colon != dest && (slash == NULL || colon < slash);
}

/* s quoted for a POSIX shell. */
static char *
shell_quote(const char *s)
{
	char *q = xmalloc(4 * strlen(s) + 3), *p = q;

	*p++ = '\'';
	for (; *s != '\0'; s++) {
		if (*s == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else
			*p++ = *s;
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}

/*
 * Run argv, its standard output into *out (NUL-terminated) when out is
 * not NULL; die unless it exits 0.
 */
static void
run(char *const argv[], char **out)
{
	int status = dos_run(argv, 0, out);

	if (status < 0)
		die("unable to run %s: %s", argv[0], strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (*stage != '\0')
			dos_remove_tree(AT_FDCWD, stage);
		die("%s failed (%s %d)", argv[0], WIFEXITED(status) ?
		    "exit status" : "signal", WIFEXITED(status) ?
		    WEXITSTATUS(status) : WTERMSIG(status));
	}
}

/*
 * A backup to another machine: made on this one as a staging tree in the
 * container's sandbox/, of links to the container's own files but for the
 * index and the newest pack's committed bytes, sent by rsync linking what
 * the newest backup there holds, then renamed there.
 */
static void
backup_remote(const char *dest, unsigned long keep, int quiet)
{
	struct dos_backup_stats s;
	const char *colon = strchr(dest, ':'), *path = colon + 1, *p;
	char made[PATH_MAX], *host, *qpath, *cmd, *list, *name;
	char newest[32] = "", prune[160] = "", *link = NULL, *target;
	char *index_from, *index_to;
	char *ssh[4], *rsync[8];
	int rc, i = 0;

	if ((host = strndup(dest, (size_t)(colon - dest))) == NULL)
		die("out of memory");
	qpath = shell_quote(*path != '\0' ? path : ".");
	/* The directory there, without what interrupted backups left. */
	if (asprintf(&cmd, "mkdir -p -- %s && cd -- %s && rm -rf -- ./*.partial"
	    " && ls", qpath, qpath) < 0)
		die("out of memory");
	ssh[0] = "ssh", ssh[1] = host, ssh[2] = cmd, ssh[3] = NULL;
	run(ssh, &list);
	free(cmd);
	for (p = strtok(list, "\n"); p != NULL; p = strtok(NULL, "\n"))
		if (strlen(p) == 16 && p[8] == 'T' && p[15] == 'Z' &&
		    strspn(p, "0123456789TZ") == 16 && strcmp(p, newest) > 0)
			snprintf(newest, sizeof newest, "%s", p);
	free(list);

	snprintf(stage, sizeof stage, "%s/sandbox/obj-%ld-backup",
	    dos_store_path(&store), (long)getpid());
	/*
	 * Backups are named after the newest one beside them: an empty stand-in
	 * for the newest there makes this one's name come after it.
	 */
	if (*newest != '\0' && asprintf(&cmd, "%s/%s", stage, newest) > 0) {
		if (dos_mkdir_p(cmd, 0777) < 0)
			die("unable to create '%s': %s", cmd, strerror(errno));
		free(cmd);
	}
	rc = backup(stage, DOS_BACKUP_STAGE, 0, made, sizeof made, &s);
	if (rc < 0) {
		dos_remove_tree(AT_FDCWD, stage);
		die("unable to back up '%s': %s", dos_store_path(&store),
		    rc == DOS_EINDEX ? dos_index_last_error() : dos_strerror(rc));
	}
	if ((name = strdup(strrchr(made, '/') + 1)) == NULL ||
	    asprintf(&target, "%s:%s%s%s.partial/", host, path,
	    *path != '\0' && path[strlen(path) - 1] != '/' ? "/" : "",
	    name) < 0 || (*newest != '\0' &&
	    asprintf(&link, "--link-dest=../%s", newest) < 0))
		die("out of memory");
	strcat(made, "/");	/* rsync: the directory's contents */
	/*
	 * Loose files and packs never change under their names but by
	 * growing, so rsync's check of size and time finds the unchanged
	 * ones; the index's files are new copies whose size and time may
	 * match the last ones', so they go after, always sent.
	 */
	rsync[i++] = "rsync";
	rsync[i++] = "-a";
	rsync[i++] = "--protect-args";
	rsync[i++] = "--exclude=/index/";
	if (link != NULL)
		rsync[i++] = link;
	rsync[i++] = made;
	rsync[i++] = target;
	rsync[i] = NULL;
	run(rsync, NULL);
	if (asprintf(&index_from, "%sindex/", made) < 0 ||
	    asprintf(&index_to, "%sindex/", target) < 0)
		die("out of memory");
	rsync[3] = "--ignore-times";
	rsync[4] = index_from;
	rsync[5] = index_to;
	rsync[6] = NULL;
	if (access(index_from, F_OK) == 0)	/* something was ever packed */
		run(rsync, NULL);
	/* Complete and durable there, then under its name; then --keep. */
	if (keep > 0)
		snprintf(prune, sizeof prune, " && ls | grep -E "
		    "'^[0-9]{8}T[0-9]{6}Z$' | sort | head -n -%lu | "
		    "while read -r b; do rm -rf -- \"$b\"; done", keep);
	if (asprintf(&cmd, "cd -- %s && sync && mv -T -- %s.partial %s && sync%s",
	    qpath, name, name, prune) < 0)
		die("out of memory");
	ssh[2] = cmd;
	run(ssh, NULL);
	dos_remove_tree(AT_FDCWD, stage);
	*stage = '\0';
	printf("%s:%s%s%s\n", host, path, *path != '\0' &&
	    path[strlen(path) - 1] != '/' ? "/" : "", name);
	if (!quiet)
		fprintf(stderr, "backed up %llu loose object%s and %llu pack%s "
		    "to %s\n", (unsigned long long)s.objects,
		    s.objects == 1 ? "" : "s", (unsigned long long)s.packs,
		    s.packs == 1 ? "" : "s", host);
	free(cmd);
	free(name);
	free(target);
	free(index_from);
	free(index_to);
	free(link);
	free(qpath);
	free(host);
}

int
cmd_backup(int argc, char **argv)
{
	struct dos_backup_stats s;
	char made[PATH_MAX], copied[32], linked[32], *end;
	unsigned long keep = 0;
	int opt, quiet = 0, rc;

	while ((opt = getopt_long(argc, argv, "+hq", backup_options,
	    NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			dos_show_progress = 0;
			break;
		case OPT_KEEP:
			errno = 0;
			keep = strtoul(optarg, &end, 10);
			if (*optarg < '1' || *optarg > '9' || *end != '\0' ||
			    errno != 0 || keep > 1000000)
				dos_usage(backup_usage, "--keep takes a number of "
				    "backups from 1, not '%s'", optarg);
			break;
		default:
			dos_common_option(opt, backup_usage);
		}
	}
	if (argc - optind != 1)
		dos_usage(backup_usage, argc - optind == 0 ?
		    "no backup directory" : "too many arguments");

	dos_open_or_die(&store, DOS_OPEN_WRITE);
	if (is_remote(argv[optind])) {
		backup_remote(argv[optind], keep, quiet);
		dos_store_release(&store);
		return 0;
	}
	rc = backup(argv[optind], 0, keep, made, sizeof made, &s);
	if (rc == DOS_EBUSY) {
		error("another backup into '%s' is running", argv[optind]);
		dos_store_release(&store);
		exit(DOS_EXIT_LOCKED);
	}
	if (rc < 0)
		die("unable to back up '%s' into '%s': %s", dos_store_path(&store),
		    argv[optind], rc == DOS_EINDEX ? dos_index_last_error() :
		    dos_strerror(rc));
	printf("%s\n", made);
	if (!quiet) {
		dos_human_size(copied, sizeof copied, s.bytes_copied);
		dos_human_size(linked, sizeof linked, s.bytes_linked);
		fprintf(stderr, "backed up %llu loose object%s and %llu pack%s: "
		    "%s copied, %s linked to the previous backup\n",
		    (unsigned long long)s.objects, s.objects == 1 ? "" : "s",
		    (unsigned long long)s.packs, s.packs == 1 ? "" : "s",
		    copied, linked);
	}
	dos_store_release(&store);
	return 0;
}
