#!/usr/bin/env bats
# The first hour with dos (issue 20): an installed tree that finds its
# commands and pages, help without installed pages, errors that say what
# to do, a lost index never taken for an empty store, closed standard
# streams, docs that list every command, and no empty shards after pack.
load helper

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd -P)

PACK_USAGE='usage: dos pack [-q] [--[no-]progress] [--compress=(auto | always | never)]
                [--keep-loose] [--no-wait]'
NOT_A_CONTAINER_HINT="hint: choose a container with --dir=<dir> or DOS_DIR=<dir>, or make one with 'dos init <dir>'"
LOST_INDEX_HINT="hint: rebuild the index from the packs with 'dos fsck --repair'"

# A man(1) in fakeman/ that fails as man-db does for a page it lacks
# ("fail"), or that prints its arguments and succeeds ("echo").
fake_man() {
	mkdir -p fakeman
	if [ "$1" = fail ]; then
		printf '#!/bin/sh\necho "No manual entry for $*" >&2\nexit 16\n' >fakeman/man
	else
		printf '#!/bin/sh\necho "man $*"\n' >fakeman/man
	fi
	chmod +x fakeman/man
}

# The tree installed under prefix $1 runs its commands and finds its
# pages, with nothing but it and the system on PATH.
check_install() {
	local prefix=$1 c=$BATS_TEST_TMPDIR/c-$2
	run -0 --separate-stderr env -i PATH="$prefix/bin:/usr/bin:/bin" dos init "$c"
	[ "$output" = "Initialized empty dos container in $c/" ]
	[ "$stderr" = "" ]
	run -0 --separate-stderr env -i PATH="$prefix/bin:/usr/bin:/bin" dos --exec-path
	[ "$output" = "$prefix/libexec/dos" ]
	run -0 --separate-stderr env -i PATH="$BATS_TEST_TMPDIR/fakeman:$prefix/bin:/usr/bin:/bin" \
	    dos help pack
	[ "$output" = "man -l $prefix/share/man/man1/dos-pack.1" ]
	run -0 --separate-stderr env -i PATH="$BATS_TEST_TMPDIR/fakeman:/usr/bin:/bin" \
	    "$prefix/libexec/dos/dos-pack" --help
	[ "$output" = "man -l $prefix/share/man/man1/dos-pack.1" ]
}

@test "make, then make install with any PREFIX or DESTDIR: dos finds its commands and pages" {
	b=$BATS_TEST_TMPDIR/build
	fake_man echo
	# make install first, which builds for the PREFIX it installs into.
	run -0 make -C "$TOP" -s -j2 BUILD="$b" PREFIX="$BATS_TEST_TMPDIR/first" install
	check_install "$BATS_TEST_TMPDIR/first" first
	# Then, the build done, make install into another PREFIX, and a
	# staged one (DESTDIR), as packagers do; the first is gone, so that
	# nothing can be found there.
	rm -r "$BATS_TEST_TMPDIR/first"
	run -0 make -C "$TOP" -s BUILD="$b" PREFIX="$BATS_TEST_TMPDIR/second" install
	check_install "$BATS_TEST_TMPDIR/second" second
	run -0 make -C "$TOP" -s BUILD="$b" PREFIX=/opt/dos DESTDIR="$BATS_TEST_TMPDIR/stage" install
	check_install "$BATS_TEST_TMPDIR/stage/opt/dos" stage
}

@test "help from the build directory shows the pages of the source tree" {
	fake_man echo
	PATH="$PWD/fakeman:$PATH" run -0 --separate-stderr dos help pack
	[ "$output" = "man -l $TOP/man/dos-pack.1" ]
	PATH="$PWD/fakeman:$PATH" run -0 --separate-stderr dos pack --help
	[ "$output" = "man -l $TOP/man/dos-pack.1" ]
	PATH="$PWD/fakeman:$PATH" run -0 --separate-stderr dos help container
	[ "$output" = "man -l $TOP/man/dos-container.5" ]
	PATH="$PWD/fakeman:$PATH" run -0 --separate-stderr dos help dos
	[ "$output" = "man -l $TOP/man/dos.1" ]
}

@test "when man fails, dos help <command> and --help print the usage" {
	fake_man fail
	PATH="$PWD/fakeman:$PATH" run -0 --separate-stderr dos help pack
	[ "$output" = "$PACK_USAGE" ]
	[ "$stderr" = "No manual entry for -l $TOP/man/dos-pack.1" ]
	PATH="$PWD/fakeman:$PATH" run -0 --separate-stderr dos pack --help
	[ "$output" = "$PACK_USAGE" ]
	[ "$stderr" = "No manual entry for -l $TOP/man/dos-pack.1" ]
	PATH="$PWD/fakeman:$PATH" run -1 --separate-stderr dos help no-such-command
	[ "$output" = "" ]
	[ "$stderr" = "dos: 'no-such-command' is not a dos command. See 'dos --help'." ]
	PATH="$PWD/fakeman:$PATH" run -0 --separate-stderr dos help dos
	[ "${lines[0]}" = "usage: dos [-d <container> | --dir=<container>] [--exec-path[=<dir>]]" ]
}

# A container with one packed object (abc) and one loose (the empty
# object), whose index/ is then removed.
lost_index() {
	printf abc | dos hash-object -w --stdin >/dev/null
	dos pack -q
	dos hash-object -w /dev/null >/dev/null
	rm -r "$DOS_DIR/index"
}

@test "packs without an index: every command says so and stops" {
	lost_index
	fatal="fatal: '$DOS_DIR' has packs but no index/: it was lost, or not copied with them"
	run -128 --separate-stderr dos ls
	[ "$output" = "" ]
	[ "$stderr" = "dos-ls: $fatal"$'\n'"$LOST_INDEX_HINT" ]
	run -128 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: $fatal"$'\n'"$LOST_INDEX_HINT" ]
	run -128 --separate-stderr dos count-objects -v
	[ "$output" = "" ]
	[ "$stderr" = "dos-count-objects: $fatal"$'\n'"$LOST_INDEX_HINT" ]
	printf new >new
	run -128 --separate-stderr dos hash-object -w --to-pack new
	[ "$output" = "" ]
	[ "$stderr" = "dos-hash-object: $fatal"$'\n'"$LOST_INDEX_HINT" ]
	run -128 --separate-stderr dos pack
	[ "$output" = "" ]
	[ "$stderr" = "dos-pack: $fatal"$'\n'"$LOST_INDEX_HINT" ]
	# Nothing was written: still one pack of one object, and no index.
	[ "$(ls "$DOS_DIR/packs")" = "0"$'\n'"lock" ]
	[ ! -e "$DOS_DIR/index" ]
}

@test "dos fsck --repair rebuilds a lost index from the packs" {
	lost_index
	run -8 --separate-stderr dos fsck
	[ "$output" = "missing-index index packs.db does not exist" ]
	[ "$stderr" = "dos fsck: 1 problem (1 missing-index)" ]
	run -0 --separate-stderr dos fsck --repair
	[ "$output" = "" ]
	[ "$stderr" = "dos fsck: rebuilt-index index 1 objects"$'\n'"dos fsck: no problems found" ]
	run -0 --separate-stderr dos ls
	[ "$output" = "$ABC_OID"$'\n'"$EMPTY_OID" ]
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
}

@test "a container with no packs and no index is a valid empty store" {
	run -0 --separate-stderr dos ls
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	run -1 --separate-stderr dos cat-object -e "$ABC_OID"
	[ "$stderr" = "" ]
	run -0 --separate-stderr dos count-objects
	[ "$stderr" = "" ]
	printf abc >abc
	run -0 --separate-stderr dos hash-object -w --to-pack abc
	[ "$output" = "$ABC_OID" ]
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
}

@test "not a dos container: the hint names --dir, DOS_DIR and dos init" {
	mkdir empty
	run -128 --separate-stderr dos ls --dir=empty
	[ "$stderr" = "dos-ls: fatal: not a dos container: 'empty'"$'\n'"$NOT_A_CONTAINER_HINT" ]
	cd empty
	DOS_DIR= run -128 --separate-stderr dos status
	[ "$output" = "" ]
	[ "$stderr" = "dos-status: fatal: not a dos container: '.'"$'\n'"$NOT_A_CONTAINER_HINT" ]
}

@test "a legacy container: every command points at dos migrate" {
	mkdir -p legacy/loose legacy/packs legacy/sandbox
	echo '{"container_version": 1, "loose_prefix_len": 2, "pack_size_target": 4294967296, "hash_type": "sha256", "container_id": "c6b8314911744d43925b4a9089a477b3", "compression_algorithm": "zlib+1"}' >legacy/config.json
	hint="hint: copy it into a dos container with 'dos migrate <legacy-dir> <new-dir>'"
	for cmd in ls fsck count-objects status init; do
		run -128 --separate-stderr dos --dir=legacy "$cmd"
		[ "$output" = "" ]
		[ "$stderr" = "dos-$cmd: fatal: 'legacy' is a legacy disk-objectstore container"$'\n'"$hint" ]
	done
}

@test "a short id says how many hex digits it needs" {
	for name in abc ba7 0; do
		run -128 --separate-stderr dos cat-object -s "$name"
		[ "$stderr" = "dos-cat-object: fatal: not a valid object name '$name': a short id needs at least 4 hex digits" ]
	done
	# Not hex: no prefix at all.
	run -128 --separate-stderr dos cat-object xyz
	[ "$stderr" = "dos-cat-object: fatal: not a valid object name 'xyz'" ]
}

@test "closed standard streams are /dev/null, never a descriptor of ours" {
	# Not through run, whose own pipe would take the closed fd 0.
	dos hash-object -w --stdin <&- >out 2>err
	[ "$(cat out)" = "$EMPTY_OID" ]
	[ "$(cat err)" = "" ]
	printf abc >abc
	dos hash-object -w abc >&-
	[ -f "$(loose_path "$ABC_OID")" ]
	printf new >new
	dos hash-object -w new <&- >&- 2>&-
	[ -f "$(loose_path "$(sha256_of new)")" ]
	run -0 --separate-stderr dos fsck
	[ "$output" = "" ]
}

@test "README and dos(1) list every command dos --help lists" {
	help=$(dos --help)
	cmds=$(sed -n '/^The dos commands are:$/,/^$/s/^   \([a-z-]*\) .*/\1/p' <<<"$help")
	[ "$(wc -w <<<"$cmds")" -ge 12 ]
	for cmd in $cmds; do
		grep -qF "| \`dos $cmd\` |" "$TOP/README.md"
		grep -qx ".It Xr dos-$cmd 1" "$TOP/man/dos.1"
		grep -qx ".Xr dos-$cmd 1 ," "$TOP/man/dos.1"
	done
	run -1 grep -n "as they are added\|when that command is added" "$TOP/man/dos.1" "$TOP/man/dos.7"
}

@test "the command docs check fails when a command is missing" {
	mkdir -p tree/man tree/tools
	cp "$TOP/README.md" tree/
	cp "$TOP"/man/*.1 tree/man/
	cp "$TOP/tools/command-docs" tree/tools/
	cmds=$(make -C "$TOP" -s --no-print-directory print-cmds)
	cd tree
	run -0 --separate-stderr tools/command-docs --check $cmds
	[ "$stderr" = "" ]
	grep -v '^| `dos fsck` |' README.md >README.new
	mv README.new README.md
	run -1 --separate-stderr tools/command-docs --check $cmds
	[ "$stderr" = "command-docs: README.md does not list the commands of the Makefile: run make docs" ]
	cp "$TOP/README.md" README.md
	grep -vx '.Xr dos-ls 1 ,' man/dos.1 >dos.new
	mv dos.new man/dos.1
	run -1 --separate-stderr tools/command-docs --check $cmds
	[ "$stderr" = "command-docs: man/dos.1 does not list the commands of the Makefile: run make docs" ]
	run -0 --separate-stderr tools/command-docs $cmds
	run -0 --separate-stderr tools/command-docs --check $cmds
}

@test "pack removes the loose shard directories it emptied" {
	for i in $(seq 1 20); do
		echo "$i" | dos hash-object -w --stdin >/dev/null
	done
	mkdir "$DOS_DIR/loose/ab"
	dos pack -q
	run -0 find "$DOS_DIR/loose" -mindepth 1
	[ "$output" = "" ]
}

# The state of process $1 (R, S, T for stopped...).
@test "a writer whose new shard pack removed makes it again" {
	printf abc >abc
	# The point right after the writer made the shard of abc's object.
	dos init -q scratch
	DOS_DIR=scratch DOS_FAULT_LOG=$PWD/points dos hash-object -w abc >/dev/null
	n=$(awk '$2 == "after" && $3 == "loose-shard-mkdir" { print $1; exit }' points)
	[ -n "$n" ]
	DOS_FAULT=stop:$n dos hash-object -w abc >out 2>err &
	pid=$!
	wait_stopped "$pid"
	[ -d "$DOS_DIR/loose/${ABC_OID:0:2}" ]
	dos pack -q
	[ ! -e "$DOS_DIR/loose/${ABC_OID:0:2}" ]
	kill -CONT "$pid"
	wait "$pid"
	[ "$(cat out)" = "$ABC_OID" ]
	[ "$(cat err)" = "" ]
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	run -0 --separate-stderr dos fsck
}

@test "loose writers beside packers that remove shards never fail" {
	for k in 0 1 2 3; do
		mkdir "files$k"
		for i in $(seq 1 150); do
			echo "writer $k object $i" >"files$k/$i"
		done
		ls -d "$PWD/files$k"/* >"list$k"
	done
	pids=()
	for k in 0 1 2 3; do
		feed "list$k" 10 | dos hash-object -w --stdin-paths >"out.$k" 2>"err.$k" &
		pids+=($!)
	done
	packs=0
	while kill -0 "${pids[@]}" 2>/dev/null; do
		dos pack -q
		packs=$((packs + 1))
	done
	for pid in "${pids[@]}"; do
		wait "$pid"
	done
	[ "$packs" -gt 1 ]
	cat err.* >errs
	[ ! -s errs ]
	[ "$(cat out.* | wc -l)" -eq 600 ]
	dos pack -q
	run -0 find "$DOS_DIR/loose" -mindepth 1
	[ "$output" = "" ]
	cat out.* | dos cat-object --batch-check >checked
	[ "$(grep -c missing checked)" -eq 0 ]
	run -0 --separate-stderr dos fsck
}
