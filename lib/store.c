/* store.c: opening and creating containers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "dos.h"

/* The directories of a container, created by dos_store_create(). */
static const char *const layout_dirs[] = { "loose", "packs", "sandbox", NULL };

const char *
dos_store_default_path(const char *dir)
{
	const char *env;

	if (dir != NULL)
		return dir;
	if ((env = getenv("DOS_DIR")) != NULL && *env != '\0')
		return env;
	return ".";
}

const char *
dos_store_path(const struct dos_store *st)
{
	return st->path;
}

const struct dos_config *
dos_store_config(const struct dos_store *st)
{
	return &st->cfg;
}

void
dos_store_on_lock_wait(struct dos_store *st, dos_lock_wait_fn *fn,
    void *data)
{
	st->lock_wait = fn;
	st->lock_wait_data = data;
}

int
dos_store_is_open(const struct dos_store *st)
{
	return st->dirfd >= 0;
}

int
dos_store_index(struct dos_store *st, int writable, struct dos_index **ix)
{
	int rc;

	if (st->index != NULL && (st->index_writable || !writable)) {
		*ix = st->index;
		return 0;
	}
	dos_index_close(st->index);
	st->index = NULL;
	if ((rc = dos_index_open(st, writable, &st->index)) < 0)
		return rc;
	st->index_writable = writable;
	*ix = st->index;
	return 0;
}

/*
 * 1 if the container has packs and no index: one that lost it (a backup
 * or copy that skipped index/), which taken for an empty index would say
 * its packed objects do not exist, and to which a writer would add packs
 * indexed alone.  The packs are listed before the index is looked for:
 * a writer makes the index before its first pack, so once a pack is
 * there, the index is too.
 */
static int
index_lost(int container)
{
	struct dirent *e;
	struct stat sb;
	uint32_t n;
	int rc, packs = 0;
	DIR *d;

	if ((rc = dos_opendir(container, "packs", &d)) < 0 || d == NULL)
		return rc;
	/* A pack is a regular file: a link there is no pack (nor followed). */
	while (!packs && (e = readdir(d)) != NULL)
		packs = dos_parse_pack_name(e->d_name, &n) == 0 &&
		    fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode);
	closedir(d);
	return packs && !dos_index_exists(container);
}

void
dos_store_release(struct dos_store *st)
{
	struct dos_remote_conn *c;
	size_t i, k;

	dos_index_close(st->index);
	st->index = NULL;
	for (i = 0; i < st->packfds_nr; i++)
		if (st->packfds[i].fd >= 0)
			close(st->packfds[i].fd);
	/* Here, not in remote-read.c, which is the store's reader. */
	for (i = 0; i < st->remote_conns_nr; i++) {
		c = &st->remote_conns[i];
		dos_s3_close(c->s3);
		for (k = 0; k < DOS_REMOTE_FETCHERS; k++)
			dos_s3_close(c->fetch_s3[k]);
		free(c->win);
		free(c->ranges);
		free(c->gets);
		free(c->arena);
	}
	free(st->remote_conns);
	st->remote_conns = NULL;
	st->remote_conns_nr = 0;
	dos_remote_cache_close(st);
	free(st->packfds);
	st->packfds = NULL;
	st->packfds_nr = st->packfds_alloc = 0;
	while (st->spare_decs_nr > 0) {
		dos_decompressor_release(st->spare_decs[--st->spare_decs_nr]);
		free(st->spare_decs[st->spare_decs_nr]);
	}
	free(st->spare_decs);
	st->spare_decs = NULL;
	st->spare_decs_alloc = 0;
	dos_store_dicts_release(st);
	free(st->group.buf);
	st->group.buf = NULL;
	if (st->dirfd >= 0)
		close(st->dirfd);
	if (st->loosefd >= 0)
		close(st->loosefd);
	if (st->tmpfd >= 0)
		close(st->tmpfd);
	free(st->path);
	st->path = NULL;
	st->dirfd = st->loosefd = st->tmpfd = -1;
}

int
dos_store_open(struct dos_store *st, const char *path, unsigned flags)
{
	int rc, i, fd;

	path = dos_store_default_path(path);
	if ((st->path = strdup(path)) == NULL)
		return DOS_ENOMEM;
	st->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		rc = errno == ENOENT || errno == ENOTDIR ?
		    DOS_ENOTCONTAINER : DOS_EIO;
		goto fail;
	}
	if ((rc = dos_config_read(st->dirfd, &st->cfg)) < 0) {
		if (dos_is_legacy_container(st->dirfd))
			rc = DOS_ELEGACY;
		goto fail;
	}
	st->loosefd = dos_open_subdir(st->dirfd, "loose");
	st->tmpfd = dos_open_subdir(st->dirfd, "sandbox");
	if (st->loosefd < 0 || st->tmpfd < 0) {
		rc = errno == ENOENT ? DOS_ENOTCONTAINER : DOS_EIO;
		goto fail;
	}
	/*
	 * Packs and the index are reached by path below the container:
	 * neither directory may be a symbolic link out of it.
	 */
	for (i = 0; i < 2; i++) {
		fd = dos_open_subdir(st->dirfd, i ? "index" : "packs");
		if (fd >= 0) {
			close(fd);
		} else if (errno == ELOOP) {
			rc = DOS_EIO;
			goto fail;
		}
	}
	if (!(flags & DOS_OPEN_LOST_INDEX) &&
	    (rc = index_lost(st->dirfd)) != 0) {
		rc = rc > 0 ? DOS_ENOINDEX : rc;
		goto fail;
	}
	return 0;
fail:
	{
		int saved = errno;
		dos_store_release(st);
		errno = saved;
	}
	return rc;
}

int
dos_store_new(const char *path, unsigned flags, struct dos_store **st)
{
	static const struct dos_store init = DOS_STORE_INIT;
	int rc;

	if ((*st = malloc(sizeof **st)) == NULL)
		return DOS_ENOMEM;
	**st = init;
	if ((rc = dos_store_open(*st, path, flags)) < 0) {
		free(*st);
		*st = NULL;
	}
	return rc;
}

void
dos_store_free(struct dos_store *st)
{
	if (st == NULL)
		return;
	dos_store_release(st);
	pthread_mutex_destroy(&st->spare_decs_lock);
	pthread_mutex_destroy(&st->dicts_lock);
	free(st);
}

int
dos_is_legacy_container(int dirfd)
{
	json_t *root;
	int rc, legacy;

	rc = dos_config_json(dirfd, &root);
	if (rc == DOS_ENOTCONTAINER)
		return faccessat(dirfd, "packs.idx", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	if (rc < 0)
		return 0;
	legacy = json_is_object(root) &&
	    json_object_get(root, "dos_format") == NULL &&
	    (json_object_get(root, "container_version") != NULL ||
	    json_object_get(root, "pack_prefix_len") != NULL);
	json_decref(root);
	return legacy;
}

/* 1 if name in dirfd is a directory with no entries, 0 if not, -1 on error. */
static int
is_empty_subdir(int dirfd, const char *name)
{
	DIR *d;
	struct dirent *e;
	int fd, empty = 1;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR || errno == ELOOP ? 0 : -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while (empty && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	return empty;
}

/*
 * A directory init may use: empty, or what an init killed before it wrote
 * config.json left behind (the layout directories, still empty).  It is
 * only looked at: a directory init refuses must be left as it was.
 */
static int
is_empty_or_partial_init(int dirfd)
{
	DIR *d;
	struct dirent *e;
	int fd, ok = 1, i, known;

	if ((fd = dup(dirfd)) < 0 || (d = fdopendir(fd)) == NULL)
		return -1;
	while (ok && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, "config.json.tmp") == 0)
			continue;
		known = 0;
		for (i = 0; layout_dirs[i] != NULL; i++)
			if (strcmp(e->d_name, layout_dirs[i]) == 0)
				known = 1;
		if (!known)
			ok = 0;
		else if ((ok = is_empty_subdir(dirfd, e->d_name)) < 0)
			break;
	}
	closedir(d);
	return ok;
}

int
dos_store_make_layout(int dirfd)
{
	int i;

	for (i = 0; layout_dirs[i] != NULL; i++)
		if (dos_step_mkdir("init-mkdir", dirfd, layout_dirs[i], 0777) < 0 &&
		    errno != EEXIST)
			return -1;
	return 0;
}

int
dos_store_create(const char *path, const struct dos_config *cfg,
    struct dos_config *existing)
{
	int dirfd, rc, empty;

	if (dos_mkdir_p(path, 0777) < 0)
		return DOS_EIO;
	if ((dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return DOS_EIO;
	rc = dos_config_read(dirfd, existing);
	if (rc == 0) {
		close(dirfd);
		return 1;
	}
	if (dos_is_legacy_container(dirfd)) {
		close(dirfd);
		return DOS_ELEGACY;
	}
	if (rc != DOS_ENOTCONTAINER || faccessat(dirfd, "config.json", F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0) {
		close(dirfd);
		return rc == DOS_ENOTCONTAINER ? DOS_EEXIST : rc;
	}
	empty = is_empty_or_partial_init(dirfd);
	if (empty <= 0) {
		close(dirfd);
		return empty < 0 ? DOS_EIO : DOS_EEXIST;
	}
	/* The directories must be durable before the config names them. */
	if (dos_store_make_layout(dirfd) < 0 ||
	    dos_step_fsync("init-fsync", dirfd) < 0) {
		rc = DOS_EIO;
		goto out;
	}
	rc = dos_config_write(dirfd, cfg);
out:
	{
		int saved = errno;
		close(dirfd);
		errno = saved;
	}
	return rc;
}

/* ---- the marker of an unfinished migration ---- */

#define MIGRATION_MARKER_TMP DOS_MIGRATION_MARKER ".tmp"

/*
 * The marker's text, up to size - 1 bytes, NUL-terminated; DOS_ENOTFOUND
 * if there is none.
 */
static int
read_marker(struct dos_store *st, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = openat(st->dirfd, DOS_MIGRATION_MARKER, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? DOS_ENOTFOUND : DOS_EIO;
	n = dos_read_full(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return DOS_EIO;
	buf[n] = '\0';
	return 0;
}

int
dos_store_migration_source(struct dos_store *st, char *buf, size_t size)
{
	int rc;

	if ((rc = read_marker(st, buf, size)) < 0)
		return rc;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

#define PROGRESS_FORMAT "progress %" SCNu64 " %" SCNu32 " %" SCNu64 " %d %64s"

int
dos_store_migration_progress(struct dos_store *st, const char *source,
    struct dos_migration_progress *p)
{
	char buf[PATH_MAX + 256], *line;
	size_t len = strlen(source);
	int rc;

	if ((rc = read_marker(st, buf, sizeof buf)) < 0)
		return rc;
	/* Another source's progress, or a marker written before progress. */
	if (strncmp(buf, source, len) != 0 || buf[len] != '\n')
		return DOS_ENOTFOUND;
	line = buf + len + 1;
	if (sscanf(line, PROGRESS_FORMAT, &p->done, &p->pack, &p->length,
	    &p->fresh, p->key) != 5 || strlen(p->key) != DOS_HEXSZ ||
	    p->done == 0)
		return DOS_ENOTFOUND;
	return 0;
}

/* Written whole and renamed into place: a killed run leaves no half. */
static int
write_marker(struct dos_store *st, const char *text, size_t len)
{
	int fd = -1, rc = 0;

	/* A killed run's file is read-only: it goes first. */
	if (dos_step_unlink("migrate-marker-unlink", st->dirfd,
	    MIGRATION_MARKER_TMP) == 0 || errno == ENOENT)
		fd = dos_step_create("migrate-marker-create", st->dirfd,
		    MIGRATION_MARKER_TMP, O_WRONLY | O_EXCL, 0444);
	if (fd < 0)
		return DOS_EIO;
	if (dos_step_pwrite("migrate-marker-write", fd, text, len, 0) < 0 ||
	    dos_step_fsync("migrate-marker-fsync", fd) < 0 ||
	    dos_step_rename("migrate-marker-rename", st->dirfd,
	    MIGRATION_MARKER_TMP, st->dirfd, DOS_MIGRATION_MARKER, 0) < 0 ||
	    dos_step_fsync("migrate-dir-fsync", st->dirfd) < 0)
		rc = DOS_EIO;
	{
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return rc;
}

int
dos_store_mark_migration(struct dos_store *st, const char *source,
    const struct dos_migration_progress *p)
{
	char buf[PATH_MAX + 256];
	int n;

	if (p == NULL)
		n = snprintf(buf, sizeof buf, "%s\n", source);
	else
		n = snprintf(buf, sizeof buf, "%s\nprogress %" PRIu64 " %"
		    PRIu32 " %" PRIu64 " %d %s\n", source, p->done, p->pack,
		    p->length, p->fresh, p->key);
	if (n < 0 || (size_t)n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return DOS_EIO;
	}
	return write_marker(st, buf, (size_t)n);
}

int
dos_store_unmark_migration(struct dos_store *st)
{
	if (dos_step_unlink("migrate-marker-unlink", st->dirfd,
	    DOS_MIGRATION_MARKER) < 0 ||
	    dos_step_fsync("migrate-dir-fsync", st->dirfd) < 0)
		return DOS_EIO;
	return 0;
}
