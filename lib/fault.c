/*
 * fault.c: the steps of the write paths that change what a crash leaves
 * behind, and a fault-injection hook in each, for crash tests.
 *
 * Writing object or pack data, fsync(2), fdatasync(2), syncfs(2),
 * creating, renaming, linking and unlinking a file of the container, and
 * committing an index transaction all go through a dos_step_*() function
 * (or dos_fault_before/after around a step made by Berkeley DB), which
 * reaches one point before the system call and one after it succeeded.
 * While DOS_FAULT and DOS_FAULT_LOG are unset, a point costs one branch.
 * dos-container(5) lists the points.
 *
 * DOS_FAULT (read once, documented in dos(7)) chooses the Nth point:
 *
 *   kill:N       the process sends itself SIGKILL there: kill -9 at
 *                exactly that instant;
 *   eio:N        the step fails with EIO (enospc:N: ENOSPC, enomem:N:
 *                ENOMEM) as if the system call had: before it, the call
 *                is not made; after it, its effect stays but the failure
 *                is reported;
 *   powerloss:N  what a power cut there would lose is undone first (see
 *                below), then SIGKILL;
 *   stop:N       the process stops itself (SIGSTOP) there until a
 *                SIGCONT, so that a test can act between two steps.
 *
 * Any other value makes every step fail with EINVAL, so that a mistyped
 * setting cannot pass for a test that found nothing.  DOS_FAULT_LOG names
 * a file that gets a line "N before|after <point>" per point reached, so
 * a test can enumerate the points of an operation.
 *
 * The power-loss model, which lives only in the process that writes:
 *
 *   - What the container held when the process started is durable:
 *     earlier processes are not modelled.
 *   - A file's data is durable up to its length at its last fsync or
 *     fdatasync, or syncfs of its file system; bytes written after that
 *     are lost.  This is the worst case of ext4 data=ordered, which may
 *     keep any part of them but never garbage.  The write paths only
 *     append past what was synced, so overwrites are not modelled.
 *   - Cutting a file shorter is durable at once; the write paths only
 *     cut bytes no committed index record covers.
 *   - A new name (a created file or directory, the target of a rename or
 *     link) or a removed one (unlink) is durable once the directory that
 *     holds it is fsynced, or on syncfs; until then it is undone.  A
 *     rename is atomic (one journal transaction) and becomes durable with
 *     its target's directory.
 *   - Berkeley DB makes a transaction durable when its commit returns
 *     (the log is written synchronously); the files inside index/ are
 *     its business and left alone.
 *
 * To undo an unlink, or a rename over an existing file, the removed file
 * is first kept under a hidden link ".dos-powerloss-<pid>-<n>" in its
 * directory, which goes away once the removal is durable or the process
 * exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dos.h"

enum fault_state {
	FAULT_UNREAD,		/* DOS_FAULT not looked at yet */
	FAULT_OFF,
	FAULT_ON,
};

enum fault_action {
	ACT_NONE,		/* only DOS_FAULT_LOG */
	ACT_KILL,
	ACT_FAIL,
	ACT_POWERLOSS,
	ACT_STOP,
	ACT_INVALID,		/* DOS_FAULT could not be parsed */
};

static struct {
	enum fault_state state;
	enum fault_action action;
	unsigned long target, reached;
	int error;		/* ACT_FAIL */
	int logfd;
} fault = { FAULT_UNREAD, ACT_NONE, 0, 0, 0, -1 };
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;

enum step_op {
	OP_WRITE,
	OP_TRUNCATE,
	OP_SYNC,		/* fsync or fdatasync of a file or directory */
	OP_SYNCFS,
	OP_CREATE,		/* a file, or with is_dir a directory */
	OP_RENAME,
	OP_LINK,
	OP_UNLINK,
	OP_OTHER,		/* a step of Berkeley DB's */
};

struct step {
	const char *point;
	enum step_op op;
	int fd;			/* WRITE, TRUNCATE, SYNC */
	uint64_t length;	/* TRUNCATE */
	int dirfd, dirfd2;	/* CREATE, UNLINK: dirfd/name; RENAME, LINK: */
	const char *name, *name2;	/* dirfd/name to dirfd2/name2 */
	int is_dir, replace, existed;
	char *saved;		/* power loss: a link to what the step removes */
	int locked;		/* fault_lock is held from before to after */
};

/* ---- the power-loss model ---- */

/* A file written since it was last synced. */
struct dirty_file {
	dev_t dev;
	ino_t ino;
	char *path;
	uint64_t synced;	/* its durable length */
};

/* A name created or removed since its directory was last synced. */
struct name_change {
	enum step_op op;
	dev_t dev;		/* the directory that holds the name */
	ino_t ino;
	char *path, *path2, *saved;
	int is_dir;
};

static struct {
	struct dirty_file *files;
	size_t nfiles, afiles;
	struct name_change *changes;
	size_t nchanges, achanges;
	unsigned long nsaved;
} model;

/* Absolute path of name below dirfd, malloc'ed. */
static char *
abs_path(int dirfd, const char *name)
{
	char proc[64], dir[4096], *path;
	ssize_t n;

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", dirfd);
	if ((n = readlink(proc, dir, sizeof dir - 1)) < 0)
		return NULL;
	dir[n] = '\0';
	if (name == NULL)
		return strdup(dir);
	if ((path = malloc((size_t)n + strlen(name) + 2)) != NULL)
		sprintf(path, "%s/%s", dir, name);
	return path;
}

static int
parent_of(const char *path, dev_t *dev, ino_t *ino)
{
	char *dir = strdup(path), *slash;
	struct stat sb;
	int rc = -1;

	if (dir != NULL && (slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if (stat(*dir != '\0' ? dir : "/", &sb) == 0) {
			*dev = sb.st_dev;
			*ino = sb.st_ino;
			rc = 0;
		}
	}
	free(dir);
	return rc;
}

static void
forget_file(size_t i)
{
	free(model.files[i].path);
	model.files[i] = model.files[--model.nfiles];
}

/* A write to fd: remember how much of it was durable before. */
static void
track_write(int fd)
{
	struct dirty_file *f;
	struct stat sb;
	size_t i;
	char *path;

	if (fstat(fd, &sb) < 0)
		return;
	for (i = 0; i < model.nfiles; i++)
		if (model.files[i].dev == sb.st_dev && model.files[i].ino == sb.st_ino)
			return;
	if ((path = abs_path(fd, NULL)) == NULL)
		return;
	f = dos_grow(model.files, model.nfiles, &model.afiles, sizeof *f, 64);
	if (f == NULL) {
		free(path);
		return;
	}
	model.files = f;
	f[model.nfiles++] = (struct dirty_file){ sb.st_dev, sb.st_ino, path,
	    (uint64_t)sb.st_size };
}

static void
track_truncate(int fd, uint64_t length)
{
	struct stat sb;
	size_t i;

	if (fstat(fd, &sb) < 0)
		return;
	for (i = 0; i < model.nfiles; i++)
		if (model.files[i].dev == sb.st_dev && model.files[i].ino == sb.st_ino &&
		    model.files[i].synced > length)
			model.files[i].synced = length;
}

/* Names of dirty files follow renames and unlinks. */
static void
rename_dirty(const char *from, const char *to)
{
	size_t i;
	char *copy;

	for (i = 0; i < model.nfiles; i++) {
		if (strcmp(model.files[i].path, from) != 0 ||
		    (copy = strdup(to)) == NULL)
			continue;
		free(model.files[i].path);
		model.files[i].path = copy;
	}
}

/* The change is durable or undone: a kept link goes, if still there. */
static void
drop_change(struct name_change *c)
{
	if (c->saved != NULL)
		unlink(c->saved);
	free(c->path);
	free(c->path2);
	free(c->saved);
}

/* Everything in the directory fd is now durable, or everything at all. */
static void
make_durable(int fd, int everything)
{
	struct stat sb;
	size_t i, kept;

	if (!everything && fstat(fd, &sb) < 0)
		return;
	if (!everything && !S_ISDIR(sb.st_mode)) {
		for (i = 0; i < model.nfiles; i++)
			if (model.files[i].dev == sb.st_dev &&
			    model.files[i].ino == sb.st_ino)
				forget_file(i--);
		return;
	}
	while (everything && model.nfiles > 0)
		forget_file(0);
	for (i = kept = 0; i < model.nchanges; i++) {
		if (everything || (model.changes[i].dev == sb.st_dev &&
		    model.changes[i].ino == sb.st_ino))
			drop_change(&model.changes[i]);
		else
			model.changes[kept++] = model.changes[i];
	}
	model.nchanges = kept;
}

static void
record_change(struct step *s)
{
	struct name_change c = { s->op, 0, 0, NULL, NULL, s->saved, s->is_dir };
	struct name_change *grown;

	s->saved = NULL;
	if (s->op == OP_RENAME || s->op == OP_LINK) {
		c.path = abs_path(s->dirfd, s->name);
		c.path2 = abs_path(s->dirfd2, s->name2);
		if (c.path == NULL || c.path2 == NULL ||
		    parent_of(c.path2, &c.dev, &c.ino) < 0)
			goto drop;
		if (s->op == OP_RENAME)
			rename_dirty(c.path, c.path2);
	} else {
		c.path = abs_path(s->dirfd, s->name);
		if (c.path == NULL || parent_of(c.path, &c.dev, &c.ino) < 0)
			goto drop;
		if (s->op == OP_UNLINK && c.saved != NULL)
			rename_dirty(c.path, c.saved);
	}
	grown = dos_grow(model.changes, model.nchanges, &model.achanges,
	    sizeof *grown, 64);
	if (grown == NULL)
		goto drop;
	model.changes = grown;
	model.changes[model.nchanges++] = c;
	return;
drop:
	drop_change(&c);
}

/* Before a step that removes a name: keep the file under a hidden link. */
static void
keep_removed(struct step *s)
{
	int dirfd = s->op == OP_UNLINK ? s->dirfd : s->dirfd2;
	const char *name = s->op == OP_UNLINK ? s->name : s->name2;
	char *victim, *slash, *saved;
	struct stat sb;

	if ((victim = abs_path(dirfd, name)) == NULL)
		return;
	if (lstat(victim, &sb) == 0 && !S_ISDIR(sb.st_mode) &&
	    (slash = strrchr(victim, '/')) != NULL &&
	    (saved = malloc(strlen(victim) + 64)) != NULL) {
		snprintf(saved, strlen(victim) + 64, "%.*s/.dos-powerloss-%ld-%lu",
		    (int)(slash - victim), victim, (long)getpid(), ++model.nsaved);
		if (link(victim, saved) == 0)
			s->saved = saved;
		else
			free(saved);
	}
	free(victim);
}

/* Before the system call: what the model must know of the state before. */
static void
prepare(struct step *s)
{
	if (s->op == OP_WRITE)
		track_write(s->fd);
	else if (s->op == OP_UNLINK || (s->op == OP_RENAME && s->replace))
		keep_removed(s);
	else if (s->op == OP_CREATE)
		s->existed = faccessat(s->dirfd, s->name, F_OK,
		    AT_SYMLINK_NOFOLLOW) == 0;
}

/* After it: what it changed. */
static void
record(struct step *s)
{
	switch (s->op) {
	case OP_TRUNCATE:
		track_truncate(s->fd, s->length);
		break;
	case OP_SYNC:
		make_durable(s->fd, 0);
		break;
	case OP_SYNCFS:
		make_durable(-1, 1);
		break;
	case OP_CREATE:
		if (!s->existed)
			record_change(s);
		break;
	case OP_RENAME:
	case OP_LINK:
	case OP_UNLINK:
		record_change(s);
		break;
	case OP_WRITE:
	case OP_OTHER:
		break;
	}
}

/* Undo what is not durable, newest first, and die as the power did. */
static void __attribute__((noreturn))
lose_power(void)
{
	struct name_change *c;
	struct stat sb;
	size_t i;

	for (i = 0; i < model.nfiles; i++)
		if (stat(model.files[i].path, &sb) == 0 &&
		    sb.st_ino == model.files[i].ino &&
		    (uint64_t)sb.st_size > model.files[i].synced)
			(void)!truncate(model.files[i].path,
			    (off_t)model.files[i].synced);
	while (model.nchanges > 0) {
		c = &model.changes[model.nchanges - 1];
		switch (c->op) {
		case OP_CREATE:
			if (c->is_dir)
				dos_remove_tree(AT_FDCWD, c->path);
			else
				unlink(c->path);
			break;
		case OP_RENAME:
			rename(c->path2, c->path);
			break;
		case OP_LINK:
			unlink(c->path2);
			break;
		default:
			break;
		}
		/* The removed file comes back, so its link is not kept. */
		if (c->saved != NULL && rename(c->saved,
		    c->op == OP_UNLINK ? c->path : c->path2) == 0) {
			free(c->saved);
			c->saved = NULL;
		}
		drop_change(c);
		model.nchanges--;
	}
	kill(getpid(), SIGKILL);
	abort();
}

/* A normal exit: the removals happened, the kept links go. */
static void
drop_kept_links(void)
{
	size_t i;

	for (i = 0; i < model.nchanges; i++)
		if (model.changes[i].saved != NULL)
			unlink(model.changes[i].saved);
}

/* ---- the hook ---- */

static void
read_settings(void)
{
	const char *spec = getenv("DOS_FAULT"), *log = getenv("DOS_FAULT_LOG");
	static const struct {
		const char *name;
		enum fault_action action;
		int error;
	} actions[] = {
		{ "kill:", ACT_KILL, 0 },
		{ "eio:", ACT_FAIL, EIO },
		{ "enospc:", ACT_FAIL, ENOSPC },
		{ "enomem:", ACT_FAIL, ENOMEM },
		{ "powerloss:", ACT_POWERLOSS, 0 },
		{ "stop:", ACT_STOP, 0 },
	};
	char *end;
	size_t i, len;

	fault.state = FAULT_OFF;
	if (log != NULL && *log != '\0') {
		fault.logfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0666);
		fault.state = FAULT_ON;
	}
	if (spec == NULL || *spec == '\0')
		return;
	fault.state = FAULT_ON;
	fault.action = ACT_INVALID;
	for (i = 0; i < sizeof actions / sizeof *actions; i++) {
		len = strlen(actions[i].name);
		if (strncmp(spec, actions[i].name, len) != 0)
			continue;
		errno = 0;
		fault.target = strtoul(spec + len, &end, 10);
		if (errno == 0 && *end == '\0' && fault.target > 0 &&
		    spec[len] >= '0' && spec[len] <= '9') {
			fault.action = actions[i].action;
			fault.error = actions[i].error;
		}
	}
	if (fault.action == ACT_POWERLOSS)
		atexit(drop_kept_links);
}

static void
log_point(const char *when, const char *point)
{
	char line[160];
	int n;

	if (fault.logfd < 0)
		return;
	n = snprintf(line, sizeof line, "%lu %s %s\n", fault.reached, when,
	    point);
	if (n > 0 && (size_t)n < sizeof line)
		(void)!write(fault.logfd, line, (size_t)n);
}

/*
 * The one hook: every point of every step comes here, with fault_lock
 * held (pack's unlink threads reach points at once).  0 to go on, or -1
 * with errno set for an injected failure.
 */
static int
reach(struct step *s, int after)
{
	if (fault.action == ACT_INVALID) {
		errno = EINVAL;
		return -1;
	}
	if (after && fault.action == ACT_POWERLOSS)
		record(s);
	fault.reached++;
	log_point(after ? "after" : "before", s->point);
	if (fault.reached != fault.target)
		return 0;
	switch (fault.action) {
	case ACT_KILL:
		kill(getpid(), SIGKILL);
		abort();
	case ACT_POWERLOSS:
		lose_power();
	case ACT_FAIL:
		errno = fault.error;
		return -1;
	case ACT_STOP:
		raise(SIGSTOP);
		return 0;
	default:
		return 0;
	}
}

/*
 * Before the system call of a step.  Under the power-loss model the lock
 * is kept until step_end(), so that no other thread changes anything
 * between the model's record and the call.
 */
static int
step_begin(struct step *s)
{
	if (fault.state == FAULT_OFF)
		return 0;
	pthread_once(&fault_once, read_settings);
	if (fault.state == FAULT_OFF)
		return 0;
	pthread_mutex_lock(&fault_lock);
	if (reach(s, 0) < 0) {
		pthread_mutex_unlock(&fault_lock);
		return -1;
	}
	if (fault.action == ACT_POWERLOSS && s->op != OP_OTHER) {
		prepare(s);
		s->locked = 1;
	} else {
		pthread_mutex_unlock(&fault_lock);
	}
	return 0;
}

/* After it: the point if it succeeded (ok), else what it prepared goes. */
static int
step_end(struct step *s, int ok)
{
	int rc = -1, saved = errno;

	if (fault.state == FAULT_OFF)
		return ok ? 0 : -1;
	if (!s->locked)
		pthread_mutex_lock(&fault_lock);
	if (ok) {
		rc = reach(s, 1);
	} else if (s->saved != NULL) {
		unlink(s->saved);
		free(s->saved);
		s->saved = NULL;
	}
	pthread_mutex_unlock(&fault_lock);
	if (!ok)
		errno = saved;
	return rc;
}

int
dos_fault_before(const char *point)
{
	struct step s = { .point = point, .op = OP_OTHER };

	return step_begin(&s);
}

int
dos_fault_after(const char *point)
{
	struct step s = { .point = point, .op = OP_OTHER };

	return step_end(&s, 1);
}

/* ---- the steps ---- */

int
dos_step_pwrite(const char *point, int fd, const void *buf, size_t len,
    uint64_t offset)
{
	struct step s = { .point = point, .op = OP_WRITE, .fd = fd };
	const char *p = buf;
	ssize_t n;

	if (step_begin(&s) < 0)
		return -1;
	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return step_end(&s, 0);
		}
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return step_end(&s, 1);
}

int
dos_step_truncate(const char *point, int fd, uint64_t length)
{
	struct step s = { .point = point, .op = OP_TRUNCATE, .fd = fd,
	    .length = length };

	if (step_begin(&s) < 0)
		return -1;
	return step_end(&s, ftruncate(fd, (off_t)length) == 0);
}

/* A step that makes what fd holds durable: fsync, fdatasync or syncfs. */
static int
sync_step(const char *point, enum step_op op, int fd, int (*sync)(int))
{
	struct step s = { .point = point, .op = op, .fd = fd };

	if (step_begin(&s) < 0)
		return -1;
	return step_end(&s, sync(fd) == 0);
}

int
dos_step_fsync(const char *point, int fd)
{
	return sync_step(point, OP_SYNC, fd, fsync);
}

int
dos_fsync_dir(const char *point, int dirfd, const char *path)
{
	int fd, rc = 0, saved;

	fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return DOS_EIO;
	if (dos_step_fsync(point, fd) < 0)
		rc = DOS_EIO;
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
dos_step_fdatasync(const char *point, int fd)
{
	return sync_step(point, OP_SYNC, fd, fdatasync);
}

int
dos_step_syncfs(const char *point, int fd)
{
	return sync_step(point, OP_SYNCFS, fd, syncfs);
}

int
dos_step_create(const char *point, int dirfd, const char *name, int flags,
    mode_t mode)
{
	struct step s = { .point = point, .op = OP_CREATE, .dirfd = dirfd,
	    .name = name };
	int fd, saved;

	if (step_begin(&s) < 0)
		return -1;
	fd = dos_open_beneath(dirfd, name, flags | O_CREAT, mode);
	if (step_end(&s, fd >= 0) < 0) {
		if (fd >= 0) {
			saved = errno;
			close(fd);
			errno = saved;
		}
		return -1;
	}
	return fd;
}

int
dos_step_mkdir(const char *point, int dirfd, const char *name, mode_t mode)
{
	struct step s = { .point = point, .op = OP_CREATE, .dirfd = dirfd,
	    .name = name, .is_dir = 1 };

	if (step_begin(&s) < 0)
		return -1;
	return step_end(&s, mkdirat(dirfd, name, mode) == 0);
}

int
dos_step_rename(const char *point, int fromfd, const char *from, int tofd,
    const char *to, unsigned flags)
{
	struct step s = { .point = point, .op = OP_RENAME, .dirfd = fromfd,
	    .name = from, .dirfd2 = tofd, .name2 = to,
	    .replace = !(flags & RENAME_NOREPLACE) };

	if (step_begin(&s) < 0)
		return -1;
	return step_end(&s, renameat2(fromfd, from, tofd, to, flags) == 0);
}

int
dos_step_link(const char *point, int fromfd, const char *from, int tofd,
    const char *to)
{
	struct step s = { .point = point, .op = OP_LINK, .dirfd = fromfd,
	    .name = from, .dirfd2 = tofd, .name2 = to };

	if (step_begin(&s) < 0)
		return -1;
	return step_end(&s, linkat(fromfd, from, tofd, to, 0) == 0);
}

int
dos_step_unlink(const char *point, int dirfd, const char *name)
{
	struct step s = { .point = point, .op = OP_UNLINK, .dirfd = dirfd,
	    .name = name };

	if (step_begin(&s) < 0)
		return -1;
	return step_end(&s, unlinkat(dirfd, name, 0) == 0);
}
