#!/usr/bin/env bats
# The dos dispatcher: exec path, help, version, unknown commands, and the
# options every program shares (-h, --version, bad options).
load helper

# A dos-<name> script in dir that prints who it is, its arguments and the
# container it was given, and exits with status $3 (default 0).
make_script() {
	mkdir -p "$1"
	cat >"$1/dos-$2" <<EOF
#!/bin/sh
echo "$2 in $1: \$# args: \$*"
echo "DOS_DIR=\${DOS_DIR-unset}"
exit ${3:-0}
EOF
	chmod +x "$1/dos-$2"
}

# The usage text of each program, exactly as -h prints it.
usage_of() {
	case $1 in
	dos) cat <<'EOF' ;;
usage: dos [-d <container> | --dir=<container>] [--exec-path[=<dir>]]
           [-h | --help] [--version] <command> [<args>]
EOF
	init) cat <<'EOF' ;;
usage: dos init [-q] [--compression=<algo>[:<level>]] [--pack-size-target=<size>]
                [--loose-prefix-len=<n>] [<directory>]
EOF
	hash-object) cat <<'EOF' ;;
usage: dos hash-object [-w [--to-pack]] [--stdin] [--] <file>...
   or: dos hash-object [-w [--to-pack]] --stdin-paths [-z] [--with-path] [--keep-going] [--[no-]progress]
   or: dos hash-object [-w [--to-pack]] --recursive [-z] [--keep-going] [--] <directory>...
EOF
	cat-object) cat <<'EOF' ;;
usage: dos cat-object [--verify] [--cache-size=<size>] <object>
   or: dos cat-object (-e | -s) <object>
   or: dos cat-object (--batch | --batch-check)[=<format>] [--buffer] [-z] [--verify]
   or: dos cat-object (--batch | --batch-check)[=<format>] --batch-all-objects [--unordered] [-z] [--verify]
   or: dos cat-object --batch-command[=<format>] [--buffer] [-z] [--verify]
EOF
	esac
}

@test "dos --version prints the version" {
	run -0 dos --version
	[ "$output" = "dos version 0.1.0" ]
}

@test "dos version prints the same as dos --version" {
	run -0 --separate-stderr dos version
	[ "$output" = "dos version 0.1.0" ]
	[ "$stderr" = "" ]
}

@test "each program answers --version" {
	for cmd in init hash-object cat-object; do
		run -0 --separate-stderr dos "$cmd" --version
		[ "$output" = "dos version 0.1.0" ]
		run -0 --separate-stderr "dos-$cmd" --version
		[ "$output" = "dos version 0.1.0" ]
	done
}

@test "dos runs dos-<command>" {
	run -0 --separate-stderr dos hash-object --stdin <<<''
	[ "$output" = "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b" ]
}

@test "dos --help lists the commands on stdout" {
	run -0 --separate-stderr dos --help
	[ "$stderr" = "" ]
	usage_of dos >expect
	printf '%s\n' "${lines[@]:0:2}" >actual
	diff -u expect actual
	[ "${lines[2]}" = "The dos commands are:" ]
	[[ "${lines[3]}" =~ ^\ \ \ init\ +[a-z] ]]
	[[ "${lines[4]}" =~ ^\ \ \ hash-object\ +[a-z] ]]
	[[ "${lines[5]}" =~ ^\ \ \ cat-object\ +[a-z] ]]
}

@test "dos -h is dos --help" {
	run -0 dos --help
	expect=$output
	run -0 dos -h
	[ "$output" = "$expect" ]
}

@test "dos help without a command is dos --help" {
	run -0 dos --help
	expect=$output
	run -0 --separate-stderr dos help
	[ "$output" = "$expect" ]
	[ "$stderr" = "" ]
}

@test "dos without a command prints the help and exits 1" {
	run -0 dos --help
	expect=$output
	run -1 --separate-stderr dos
	[ "$output" = "$expect" ]
}

@test "dos --help lists other dos-* programs on the path" {
	make_script "$BATS_TEST_TMPDIR/bin" foo
	PATH="$BATS_TEST_TMPDIR/bin:$PATH" run -0 --separate-stderr dos --help
	[ "${lines[-3]}" = "other commands on the exec path:" ]
	[ "${lines[-2]}" = "   foo" ]
}

@test "an unknown command is exit 1 with a clear message" {
	run -1 dos no-such-command
	[ "$output" = "dos: 'no-such-command' is not a dos command. See 'dos --help'." ]
}

@test "an unknown command prints nothing on stdout" {
	run -1 --separate-stderr dos no-such-command arg
	[ "$output" = "" ]
	[ "$stderr" = "dos: 'no-such-command' is not a dos command. See 'dos --help'." ]
}

@test "a command name containing a slash is refused, not run" {
	make_script "$BATS_TEST_TMPDIR/sub" evil
	run -1 --separate-stderr dos "$BATS_TEST_TMPDIR/sub/dos-evil"
	[ "$output" = "" ]
	[ "$stderr" = "dos: '$BATS_TEST_TMPDIR/sub/dos-evil' is not a dos command. See 'dos --help'." ]
	cd "$BATS_TEST_TMPDIR"
	run -1 --separate-stderr dos ../"$(basename "$BATS_TEST_TMPDIR")"/sub/evil
	[ "$output" = "" ]
	[[ "$stderr" = *"is not a dos command. See 'dos --help'." ]]
	# Even when the name would resolve against an exec path directory.
	run -1 --separate-stderr dos --exec-path="$BATS_TEST_TMPDIR" sub/evil
	[ "$output" = "" ]
	[ "$stderr" = "dos: 'sub/evil' is not a dos command. See 'dos --help'." ]
}

@test "an empty command name is refused" {
	run -1 --separate-stderr dos ''
	[ "$output" = "" ]
	[ "$stderr" = "dos: '' is not a dos command. See 'dos --help'." ]
}

@test "dos --exec-path prints the exec path" {
	DOS_EXEC_PATH=/some/where run -0 --separate-stderr dos --exec-path
	[ "$output" = "/some/where" ]
	DOS_EXEC_PATH=/some/where run -0 --separate-stderr dos --exec-path=/else --exec-path
	[ "$output" = "/else" ]
}

@test "dos --exec-path without \$DOS_EXEC_PATH prints the install libexec directory" {
	run -0 --separate-stderr env -u DOS_EXEC_PATH dos --exec-path
	[[ "$output" = /*/libexec/dos ]]
	[ "${#lines[@]}" -eq 1 ]
}

@test "dos --exec-path=DIR finds dos-<command> in DIR" {
	make_script "$BATS_TEST_TMPDIR/xp" foo
	run -0 --separate-stderr dos --exec-path="$BATS_TEST_TMPDIR/xp" foo a 'b c'
	[ "${lines[0]}" = "foo in $BATS_TEST_TMPDIR/xp: 2 args: a b c" ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "\$DOS_EXEC_PATH finds dos-<command>" {
	make_script "$BATS_TEST_TMPDIR/xp" foo
	DOS_EXEC_PATH="$BATS_TEST_TMPDIR/xp" run -0 --separate-stderr dos foo x
	[ "${lines[0]}" = "foo in $BATS_TEST_TMPDIR/xp: 1 args: x" ]
}

@test "a dos-<command> script on PATH becomes dos <command>" {
	make_script "$BATS_TEST_TMPDIR/bin" foo
	PATH="$BATS_TEST_TMPDIR/bin:$PATH" run -0 --separate-stderr dos foo -x --y=z
	[ "${lines[0]}" = "foo in $BATS_TEST_TMPDIR/bin: 2 args: -x --y=z" ]
}

@test "the exec path order is --exec-path, \$DOS_EXEC_PATH, then PATH" {
	make_script "$BATS_TEST_TMPDIR/opt" foo
	make_script "$BATS_TEST_TMPDIR/env" foo
	make_script "$BATS_TEST_TMPDIR/bin" foo
	export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
	DOS_EXEC_PATH="$BATS_TEST_TMPDIR/env" run -0 dos --exec-path="$BATS_TEST_TMPDIR/opt" foo
	[ "${lines[0]}" = "foo in $BATS_TEST_TMPDIR/opt: 0 args: " ]
	DOS_EXEC_PATH="$BATS_TEST_TMPDIR/env" run -0 dos foo
	[ "${lines[0]}" = "foo in $BATS_TEST_TMPDIR/env: 0 args: " ]
	DOS_EXEC_PATH= run -0 dos foo
	[ "${lines[0]}" = "foo in $BATS_TEST_TMPDIR/bin: 0 args: " ]
}

@test "the built-in commands are found through the exec path alone" {
	build=$(dirname "$(command -v dos)")
	PATH=/usr/bin:/bin DOS_EXEC_PATH="$build" run -0 --separate-stderr \
	    "$build/dos" hash-object --stdin </dev/null
	[ "$output" = "$EMPTY_OID" ]
	PATH=/usr/bin:/bin run -0 --separate-stderr \
	    "$build/dos" --exec-path="$build" hash-object --stdin </dev/null
	[ "$output" = "$EMPTY_OID" ]
}

@test "the exit status of the command is the exit status of dos" {
	make_script "$BATS_TEST_TMPDIR/xp" fail 3
	run -3 dos --exec-path="$BATS_TEST_TMPDIR/xp" fail
	run -1 dos cat-object -e "$EMPTY_OID"
}

@test "a dos-<command> that cannot be executed is fatal" {
	make_script "$BATS_TEST_TMPDIR/xp" noexec
	chmod -x "$BATS_TEST_TMPDIR/xp/dos-noexec"
	run -128 --separate-stderr dos --exec-path="$BATS_TEST_TMPDIR/xp" noexec
	[ "$output" = "" ]
	[ "$stderr" = "dos: fatal: cannot run 'dos-noexec': Permission denied" ]
}

@test "dos -d DIR sets the container for the command" {
	make_script "$BATS_TEST_TMPDIR/xp" foo
	run -0 dos --exec-path="$BATS_TEST_TMPDIR/xp" -d /the/dir foo
	[ "${lines[1]}" = "DOS_DIR=/the/dir" ]
	run -0 dos --exec-path="$BATS_TEST_TMPDIR/xp" --dir=/other foo
	[ "${lines[1]}" = "DOS_DIR=/other" ]
	run -0 dos --exec-path="$BATS_TEST_TMPDIR/xp" --dir /third foo
	[ "${lines[1]}" = "DOS_DIR=/third" ]
}

@test "dos -d DIR and --dir=DIR choose the container of a real command" {
	dos hash-object -w "$BATS_TEST_TMPDIR/store/config.json" >/dev/null
	dos init -q other
	printf abc >abc
	unset DOS_DIR
	run -0 --separate-stderr dos -d other hash-object -w abc
	[ "$output" = "$ABC_OID" ]
	[ -f "other/loose/ba/${ABC_OID:2}" ]
	# Not the shard: the id of config.json starts with ba 1 time in 256.
	[ ! -e "store/loose/ba/${ABC_OID:2}" ]
	run -0 --separate-stderr dos --dir=other cat-object "$ABC_OID"
	[ "$output" = "abc" ]
	run -1 dos --dir="$BATS_TEST_TMPDIR/store" cat-object -e "$ABC_OID"
	# The dispatcher's -d overrides $DOS_DIR.
	DOS_DIR="$BATS_TEST_TMPDIR/store" run -0 dos -d other cat-object -e "$ABC_OID"
}

@test "dos -d without a directory is a usage error" {
	run -129 --separate-stderr dos -d
	[ "$output" = "" ]
	{ echo "dos: error: '-d' needs a directory"; usage_of dos; } >expect
	printf '%s\n' "$stderr" >actual
	diff -u expect actual
}

@test "an unknown dispatcher option is exit 129 with the usage on stderr" {
	run -129 --separate-stderr dos --bogus init
	[ "$output" = "" ]
	{ echo "dos: error: unknown option '--bogus'"; usage_of dos; } >expect
	printf '%s\n' "$stderr" >actual
	diff -u expect actual
}

@test "-h on each program prints its usage on stdout and exits 0" {
	for cmd in init hash-object cat-object; do
		usage_of "$cmd" >expect
		run -0 --separate-stderr dos "$cmd" -h
		[ "$stderr" = "" ]
		printf '%s\n' "$output" >actual
		diff -u expect actual
		run -0 --separate-stderr "dos-$cmd" -h
		printf '%s\n' "$output" >actual
		diff -u expect actual
	done
}

@test "-h works outside a container and writes nothing" {
	unset DOS_DIR
	mkdir empty && cd empty
	for cmd in init hash-object cat-object; do
		run -0 --separate-stderr dos "$cmd" -h
	done
	[ -z "$(ls -A)" ]
}

@test "a bad option on each program is exit 129 with the usage on stderr" {
	for cmd in init hash-object cat-object; do
		{ echo "dos-$cmd: unrecognized option '--bogus'"; usage_of "$cmd"; } >expect
		run -129 --separate-stderr dos "$cmd" --bogus
		[ "$output" = "" ]
		printf '%s\n' "$stderr" >actual
		diff -u expect actual
		{ echo "dos-$cmd: invalid option -- 'Y'"; usage_of "$cmd"; } >expect
		run -129 --separate-stderr "dos-$cmd" -Y
		[ "$output" = "" ]
		printf '%s\n' "$stderr" >actual
		diff -u expect actual
	done
}

@test "an option missing its argument is exit 129" {
	{ echo "dos-init: option '--compression' requires an argument"; usage_of init; } >expect
	run -129 --separate-stderr dos init --compression
	[ "$output" = "" ]
	printf '%s\n' "$stderr" >actual
	diff -u expect actual
	run -129 --separate-stderr dos cat-object --dir
	[ "$output" = "" ]
	[ "${stderr%%$'\n'*}" = "dos-cat-object: option '--dir' requires an argument" ]
}

# The commands dos --help lists.
listed_commands() {
	local help
	help=$(dos --help) || return
	sed -n '/^The dos commands are:$/,/^$/s/^   \([a-z-]*\) .*/\1/p' <<<"$help"
}

@test "every listed command answers -h, --version and a bad option" {
	cmds=$(listed_commands)
	[[ "$cmds" = *init*hash-object*cat-object* ]]
	for cmd in $cmds; do
		run -0 --separate-stderr dos "$cmd" -h
		[ "$stderr" = "" ]
		[[ "${lines[0]}" = "usage: dos $cmd "* ]]
		usage=$output
		run -0 --separate-stderr dos "$cmd" --version
		[ "$output" = "dos version 0.1.0" ]
		run -129 --separate-stderr dos "$cmd" --no-such-option
		[ "$output" = "" ]
		[ "$stderr" = "dos-$cmd: unrecognized option '--no-such-option'"$'\n'"$usage" ]
	done
}
