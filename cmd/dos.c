/*
 * dos: the dispatcher.  "dos <command> <args>" runs a built-in command in
 * this process, as git runs its builtins: its cmd_<command>(), the same
 * function that is the whole of the program dos-<command>, which it runs
 * under that name.  Any other command is the program dos-<command> found
 * on the exec path: --exec-path, $DOS_EXEC_PATH, libexec/dos beside the
 * bin/ that holds this dos (so that an installed tree works wherever it
 * was installed or moved), the libexec directory given at build time,
 * then $PATH, so any dos-foo program on PATH is "dos foo".
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#ifndef LIBEXECDIR
#define LIBEXECDIR "/usr/local/libexec/dos"
#endif

static const char *const dos_usage_lines[] = {
	"dos [-d <container> | --dir=<container>] [--exec-path[=<dir>]]",
	"    [-h | --help] [--version] <command> [<args>]",
	NULL
};

/*
 * Built from the Makefile's CMDS and each man page's .Nd line: the
 * commands built into dos, and those it runs as programs (the Makefile's
 * EXTERNAL_CMDS).
 */
#define BUILTIN_COMMAND(name, fn, summary) int fn(int, char **);
#define EXTERNAL_COMMAND(name, fn, summary)
#include "command-list.h"
#undef BUILTIN_COMMAND
#undef EXTERNAL_COMMAND

static const struct {
	const char *name, *summary;
	int (*fn)(int, char **);	/* NULL: run as a program */
} commands[] = {
#define BUILTIN_COMMAND(name, fn, summary) { name, summary, fn },
#define EXTERNAL_COMMAND(name, fn, summary) { name, summary, NULL },
#include "command-list.h"
};

static const char *exec_path_opt;

/* <prefix>/libexec/dos of the prefix we run from, if it is a directory. */
static const char *
runtime_libexec(void)
{
	static char dir[4096];
	const char *prefix = dos_runtime_prefix();
	struct stat sb;

	if (prefix == NULL)
		return NULL;
	snprintf(dir, sizeof dir, "%s/libexec/dos", prefix);
	return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) ? dir : NULL;
}

/* The first directory of the exec path. */
static const char *
exec_path(void)
{
	const char *env = getenv("DOS_EXEC_PATH");

	if (exec_path_opt != NULL)
		return exec_path_opt;
	if (env != NULL && *env != '\0')
		return env;
	if (runtime_libexec() != NULL)
		return runtime_libexec();
	return LIBEXECDIR;
}

/* PATH with the exec path in front, for us and our children. */
static void
setup_path(void)
{
	const char *dirs[] = { exec_path_opt, getenv("DOS_EXEC_PATH"),
	    runtime_libexec(), LIBEXECDIR, getenv("PATH") };
	size_t i, len = 1, off = 0;
	char *path;

	for (i = 0; i < sizeof dirs / sizeof *dirs; i++)
		if (dirs[i] != NULL)
			len += strlen(dirs[i]) + 1;
	path = xmalloc(len);
	path[0] = '\0';
	for (i = 0; i < sizeof dirs / sizeof *dirs; i++)
		if (dirs[i] != NULL && *dirs[i] != '\0')
			off += (size_t)snprintf(path + off, len - off, "%s%s",
			    off > 0 ? ":" : "", dirs[i]);
	if (setenv("PATH", path, 1) < 0)
		die("unable to set PATH");
	free(path);
}

/* The index of the command called name in commands[], or -1. */
static int
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof commands / sizeof *commands; i++)
		if (strcmp(commands[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Other dos-* programs on the path (contrib scripts, local additions). */
static void
list_other_commands(void)
{
	char *path = xstrdup(getenv("PATH") ? getenv("PATH") : ""), *dir, *save;
	char seen[64][64];
	int nseen = 0, i, dup, header = 0;
	struct dirent *e;
	struct stat sb;
	DIR *d;

	for (dir = strtok_r(path, ":", &save); dir != NULL;
	    dir = strtok_r(NULL, ":", &save)) {
		if ((d = opendir(dir)) == NULL)
			continue;
		while ((e = readdir(d)) != NULL) {
			const char *name = e->d_name + 4;
			if (strncmp(e->d_name, "dos-", 4) != 0 || find_command(name) >= 0 ||
			    strlen(name) >= sizeof seen[0] || nseen == 64)
				continue;
			if (fstatat(dirfd(d), e->d_name, &sb, 0) < 0 ||
			    !S_ISREG(sb.st_mode) || !(sb.st_mode & 0111))
				continue;
			for (dup = 0, i = 0; i < nseen; i++)
				dup |= strcmp(seen[i], name) == 0;
			if (dup)
				continue;
			strcpy(seen[nseen++], name);
			if (!header)
				printf("\nother commands on the exec path:\n");
			header = 1;
			printf("   %s\n", name);
		}
		closedir(d);
	}
	free(path);
}

static int
print_help(void)
{
	size_t i;
	int k;

	for (k = 0; dos_usage_lines[k] != NULL; k++)
		printf("%s %s\n", k == 0 ? "usage:" : "      ", dos_usage_lines[k]);
	printf("\nThe dos commands are:\n");
	for (i = 0; i < sizeof commands / sizeof *commands; i++)
		printf("   %-15s %s\n", commands[i].name, commands[i].summary);
	list_other_commands();
	printf("\nSee 'dos help <command>' for the manual of one command, "
	    "and dos(7) for the concepts.\n");
	return 0;
}

static int
run_command(const char *name, int argc, char **argv)
{
	char *prog;
	size_t len;
	int cmd;

	if (strchr(name, '/') != NULL || name[0] == '\0' || name[0] == '-') {
		fprintf(stderr, "dos: '%s' is not a dos command. "
		    "See 'dos --help'.\n", name);
		return 1;
	}
	len = strlen(name) + 5;
	prog = xmalloc(len);
	snprintf(prog, len, "dos-%s", name);
	argv[0] = prog;
	if ((cmd = find_command(name)) >= 0 && commands[cmd].fn != NULL) {
		/*
		 * Under the name the program would have: in messages, and in
		 * /proc/<pid>/comm, which names the holder of a lock.
		 */
		dos_progname = prog;
		prctl(PR_SET_NAME, prog, 0, 0, 0);
		return commands[cmd].fn(argc, argv);
	}
	execvp(prog, argv);
	if (errno == ENOENT) {
		fprintf(stderr, "dos: '%s' is not a dos command. "
		    "See 'dos --help'.\n", name);
		free(prog);
		return 1;
	}
	die("cannot run '%s': %s", prog, strerror(errno));
}

int
cmd_main(int argc, char **argv)
{
	const char *arg, *dir = NULL;
	char page[256], dash_h[] = "-h", *help_argv[] = { NULL, dash_h, NULL };
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		arg = argv[i];
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			setup_path();
			return print_help();
		} else if (strcmp(arg, "--version") == 0) {
			printf("dos version %s\n", DOS_VERSION);
			return 0;
		} else if (strcmp(arg, "-d") == 0 || strcmp(arg, "--dir") == 0) {
			if (++i == argc)
				dos_usage(dos_usage_lines, "'%s' needs a directory", arg);
			dir = argv[i];
		} else if (strncmp(arg, "--dir=", 6) == 0) {
			dir = arg + 6;
		} else if (strcmp(arg, "--exec-path") == 0) {
			printf("%s\n", exec_path());
			return 0;
		} else if (strncmp(arg, "--exec-path=", 12) == 0) {
			exec_path_opt = arg + 12;
			if (setenv("DOS_EXEC_PATH", exec_path_opt, 1) < 0)
				die("unable to set DOS_EXEC_PATH");
		} else if (strcmp(arg, "--") == 0) {
			i++;
			break;
		} else {
			dos_usage(dos_usage_lines, "unknown option '%s'", arg);
		}
	}
	if (i == argc) {
		print_help();
		return 1;
	}
	if (dir != NULL && setenv("DOS_DIR", dir, 1) < 0)
		die("unable to set DOS_DIR");
	setup_path();

	if (strcmp(argv[i], "version") == 0) {
		printf("dos version %s\n", DOS_VERSION);
		return 0;
	}
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 == argc)
			return print_help();
		snprintf(page, sizeof page, "dos-%s", argv[i + 1]);
		if (strcmp(argv[i + 1], "dos") == 0)
			snprintf(page, sizeof page, "dos");
		if (dos_show_man(page) == 0)
			return 0;
		/* No page, or no man(1): the usage is better than nothing. */
		if (strcmp(argv[i + 1], "dos") == 0)
			return print_help();
		return run_command(argv[i + 1], 2, help_argv);
	}
	return run_command(argv[i], argc - i, argv + i);
}
