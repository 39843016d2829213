#!/usr/bin/env bats
# Whole trees in and out: dos hash-object --recursive writes a manifest,
# dos restore writes its files back, never outside the directory.
load helper

# A tree with the names that break naive scripts, an empty file, an empty
# directory, a large file (streamed, not read whole) and a symbolic link.
make_tree() {
	mkdir -p src/sub/deep src/emptydir
	printf 'a\n' >src/a
	printf 'space' >"src/with space"
	printf 'newline' >"src/new"$'\n'"line"
	printf 'latin1' >src/$'caf\xe9'
	printf 'dash' >src/-dash
	: >src/sub/empty
	seq 1 100000 >src/sub/deep/big
	ln -s a src/link
}

# The manifest of make_tree, as --recursive prints it: name order.
expected_manifest() {
	local f
	for f in src/-dash src/a src/$'caf\xe9' "src/new"$'\n'"line" \
	    src/sub/deep/big src/sub/empty "src/with space"; do
		printf '%s\t' "$(sha256_of "$f")"
		case $f in
		*$'\n'*) printf '"src/new\\nline"\n' ;;
		*) printf '%s\n' "$f" ;;
		esac
	done
}

# Nothing but what is listed is in directory $1 (no temp file left).
# NUL-separated, as names may hold newlines.
only_in() {
	local dir=$1
	shift
	(cd "$dir" && find . -mindepth 1 -print0) | LC_ALL=C sort -z >found
	: >listed
	if [ $# -gt 0 ]; then
		printf '%s\0' "$@" | LC_ALL=C sort -z >listed
	fi
	cmp found listed
}

@test "--recursive prints the manifest of a tree, skipping what is no file" {
	make_tree
	run -0 --separate-stderr dos hash-object -w --recursive src
	[ "$output" = "$(expected_manifest)" ]
	[ "$stderr" = "dos-hash-object: warning: skipping 'src/link': not a regular file" ]
	run -0 dos cat-object "$(sha256_of src/sub/deep/big)"
	[ "$output" = "$(cat src/sub/deep/big)" ]
}

@test "--recursive never blocks on a FIFO; an operand that is a file, or a link to one, is hashed" {
	mkdir src
	printf 'a\n' >src/a
	mkfifo src/fifo
	ln -s src/a alink
	run -0 --separate-stderr timeout 10 dos hash-object --recursive src alink src/a
	[ "$output" = "$(printf '%s\tsrc/a\n%s\talink\n%s\tsrc/a' "$(sha256_of src/a)" "$(sha256_of src/a)" "$(sha256_of src/a)")" ]
	[ "$stderr" = "dos-hash-object: warning: skipping 'src/fifo': not a regular file" ]
}

@test "--recursive of a missing directory is fatal (128), or an error skipped with --keep-going (1)" {
	mkdir src
	printf 'a\n' >src/a
	run -128 --separate-stderr dos hash-object --recursive missing src
	[ "$output" = "" ]
	[ "$stderr" = "dos-hash-object: fatal: could not read 'missing': No such file or directory" ]
	run -1 --separate-stderr dos hash-object --recursive --keep-going missing src
	[ "$output" = "$(printf '%s\tsrc/a' "$(sha256_of src/a)")" ]
	[ "$stderr" = "dos-hash-object: error: could not read 'missing': No such file or directory" ]
}

@test "--recursive -z is the same as find -print0 | --stdin-paths -z --with-path" {
	make_tree
	rm src/link
	dos hash-object --recursive -z src >recz
	find src -type f -print0 | LC_ALL=C sort -z >list0
	dos hash-object --stdin-paths -z --with-path <list0 >pathsz
	cmp recz pathsz
	[ "$(tr -cd '\0' <recz | wc -c)" -eq 7 ]
}

@test "round trip of a tree with odd names: every file back, byte for byte; empty directories are not kept" {
	make_tree
	dos hash-object -w --recursive src >manifest 2>/dev/null
	run -0 --separate-stderr dos restore manifest out
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	rm -r src/link src/emptydir
	diff -r src out/src
	only_in out ./src ./src/-dash ./src/a ./src/$'caf\xe9' "./src/new"$'\n'"line" \
	    ./src/sub ./src/sub/deep ./src/sub/deep/big ./src/sub/empty "./src/with space"
}

@test "round trip from packs, with -z, the manifest on stdin and paths below ." {
	make_tree
	rm src/link
	rm -r src/emptydir
	(cd src && dos hash-object -w --to-pack --recursive -z .) >manifest0
	[ -z "$(ls "$DOS_DIR/loose")" ]
	run -0 --separate-stderr dos restore -z out <manifest0
	[ "$stderr" = "" ]
	diff -r src out
}

@test "an existing file is refused, the others written; --force replaces it" {
	make_tree
	rm src/link
	dos hash-object -w --recursive src >manifest
	mkdir -p out/src/sub
	printf 'mine' >out/src/a
	mkdir out/src/sub/empty
	run -1 --separate-stderr dos restore manifest out
	[ "$stderr" = "dos-restore: error: 'src/a' exists (use --force to replace it)
dos-restore: error: 'src/sub/empty' exists (use --force to replace it)" ]
	[ "$(cat out/src/a)" = "mine" ]
	cmp src/with\ space out/src/with\ space
	run -1 --separate-stderr dos restore --force manifest out
	[ "$stderr" = "dos-restore: error: 'src/sub/empty' is a directory" ]
	cmp src/a out/src/a
	rmdir out/src/sub/empty
	run -0 --separate-stderr dos restore -f manifest out
	[ "$stderr" = "" ]
	rm -r src/emptydir
	diff -r src out/src
}

@test "paths that would lead outside the directory are refused" {
	printf 'x' >x
	id=$(dos hash-object -w x)
	mkdir -p out/sub outside
	printf '%s\t%s\n' "$id" /tmp/abs "$id" ../up "$id" sub/../../up2 \
	    "$id" .. "$id" sub/ "$id" sub/. "$id" ./ok >manifest
	run -1 --separate-stderr dos restore manifest out
	[ "$stderr" = "dos-restore: error: '/tmp/abs': refusing a path that leads outside the directory
dos-restore: error: '../up': refusing a path that leads outside the directory
dos-restore: error: 'sub/../../up2': refusing a path that leads outside the directory
dos-restore: error: '..': refusing a path that leads outside the directory
dos-restore: error: 'sub/': refusing a path that leads outside the directory
dos-restore: error: 'sub/.': refusing a path that leads outside the directory" ]
	[ ! -e /tmp/abs ]
	[ ! -e up ]
	only_in out ./ok ./sub
	[ "$(cat out/ok)" = x ]
}

@test "a symbolic link or a file in the way is refused, never followed" {
	printf 'x' >x
	id=$(dos hash-object -w x)
	mkdir -p out outside
	ln -s ../outside out/link
	printf 'file' >out/file
	printf '%s\t%s\n' "$id" link/x "$id" file/x "$id" link >manifest
	run -1 --separate-stderr dos restore manifest out
	[ "$stderr" = "dos-restore: error: 'link/x': a symbolic link is in the way
dos-restore: error: 'file/x': a file is in the way of a directory
dos-restore: error: 'link' exists (use --force to replace it)" ]
	only_in outside
	# --force replaces the link itself, not what it points to.
	run -1 --separate-stderr dos restore -f manifest out
	[ "$(cat out/link)" = x ]
	[ ! -L out/link ]
	only_in outside
}

@test "a damaged object fails naming it, and leaves no file, whole or partial" {
	printf 'good' >good
	seq 1 5000 >bad
	good=$(dos hash-object -w good)
	bad=$(dos hash-object -w bad)
	printf 'X' | dd of="$(loose_path "$bad")" bs=1 seek=100 conv=notrunc status=none
	printf '%s\t%s\n' "$bad" d/bad "$good" d/good >manifest
	run -1 --separate-stderr dos restore manifest out
	[ "$stderr" = "dos-restore: error: 'd/bad': object $bad: stored data is corrupt" ]
	only_in out ./d ./d/good
}

@test "a damaged large packed object, streamed, leaves no file either" {
	seq 1 100000 >big
	big=$(dos hash-object -w --to-pack big)
	off=$(dos cat-object --batch-check='%(offset)' <<<"$big")
	printf '\xff' | dd of="$DOS_DIR/packs/0" bs=1 seek=$((off + 64 + 1000)) conv=notrunc status=none
	printf '%s\tbig\n' "$big" >manifest
	run -1 --separate-stderr dos restore manifest out
	[ "$stderr" = "dos-restore: error: 'big': object $big: stored data is corrupt" ]
	only_in out
}

@test "a missing object is an error, the others are restored" {
	printf 'x' >x
	id=$(dos hash-object -w x)
	printf '%s\t%s\n' "$ABC_OID" missing "$id" there >manifest
	run -1 --separate-stderr dos restore manifest out
	[ "$stderr" = "dos-restore: error: 'missing': object $ABC_OID: no such object" ]
	only_in out ./there
}

@test "a malformed manifest stops restore (128)" {
	printf 'x' >x
	id=$(dos hash-object -w x)
	printf '%s %s\n' "$id" spaced >manifest
	run -128 --separate-stderr dos restore manifest out
	[ "$stderr" = "dos-restore: fatal: bad manifest line (not <id> TAB <path>): '$id spaced'" ]
	printf '%s\t"bad\\q"\n' "$id" >manifest
	run -128 --separate-stderr dos restore manifest out
	[ "$stderr" = "dos-restore: fatal: manifest line is badly quoted: $id	\"bad\\q\"" ]
	printf '%s\t"nul\\000byte"\n' "$id" >manifest
	run -128 --separate-stderr dos restore manifest out
	[ "$stderr" = "dos-restore: fatal: manifest line is badly quoted: $id	\"nul\\000byte\"" ]
	run -128 --separate-stderr dos restore nonexistent out
	[ "$stderr" = "dos-restore: fatal: could not open 'nonexistent': No such file or directory" ]
	only_in out
}

@test "usage errors (129)" {
	usage_error restore "which directory?"
	usage_error restore "too many arguments" a b c
	usage_error hash-object "can't use --recursive with --stdin-paths" --recursive --stdin-paths
	usage_error hash-object "can't use --recursive with --stdin" --recursive --stdin
	usage_error hash-object "which directory?" --recursive
}
