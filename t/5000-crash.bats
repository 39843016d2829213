#!/usr/bin/env bats
# Crash tests: the fault points of the write paths (DOS_FAULT, see dos(7)),
# and every writing operation killed with SIGKILL at a sample of its
# points.  After each kill, every object acknowledged before it reads
# back right, dos fsck finds nothing but leftovers that are cleaned, and
# the operation runs again to completion (t/crash.bash).  t/stress/crash
# kills at every point and at random times.
load helper
load crash

# Kill points tried per operation here.
SAMPLE=6

@test "DOS_FAULT_LOG lists the points of a loose write in protocol order" {
	printf abc >abc
	DOS_FAULT_LOG=points dos hash-object -w abc >out
	[ "$(cat out)" = "$ABC_OID" ]
	cat >expect <<-'EOF'
	1 before loose-temp-create
	2 after loose-temp-create
	3 before loose-temp-write
	4 after loose-temp-write
	5 before loose-temp-fsync
	6 after loose-temp-fsync
	7 before loose-rename
	8 before loose-shard-mkdir
	9 after loose-shard-mkdir
	10 before loose-rename
	11 after loose-rename
	12 before loose-shard-fsync
	13 after loose-shard-fsync
	14 before loose-dir-fsync
	15 after loose-dir-fsync
	EOF
	diff -u expect points
}

@test "kill:N dies at point N: before the rename, only a temp file is left" {
	printf abc >abc
	run -137 --separate-stderr env DOS_FAULT=kill:10 dos hash-object -w abc
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ ! -e "$(loose_path "$ABC_OID")" ]
	[ -d "$DOS_DIR/loose/ba" ]
	run -0 ls "$DOS_DIR/sandbox"
	[[ $output =~ ^obj-[0-9]+-0-[0-9a-f]{8}$ ]]
	# A leftover the next dos gc removes: a notice, no problem.
	run -0 --separate-stderr dos fsck -q
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	run -0 dos hash-object -w abc
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
}

@test "kill:N after the rename: the object is stored, its id not printed" {
	printf abc >abc
	run -137 --separate-stderr env DOS_FAULT=kill:11 dos hash-object -w abc
	[ "$output" = "" ]
	[ "$(cat "$(loose_path "$ABC_OID")")" = abc ]
	[ -z "$(ls "$DOS_DIR/sandbox")" ]
	run -0 dos fsck -q
	[ "$output" = "" ]
}

@test "a point past the last one changes nothing" {
	printf abc >abc
	run -0 --separate-stderr env DOS_FAULT=kill:16 dos hash-object -w abc
	[ "$output" = "$ABC_OID" ]
}

@test "an unknown DOS_FAULT makes every step fail" {
	printf abc >abc
	for v in bogus kill: kill:0 kill:x eio:-1 powerloss:3x; do
		run -128 --separate-stderr env DOS_FAULT=$v dos hash-object -w abc
		[ "$output" = "" ]
		[ "$stderr" = "dos-hash-object: fatal: unable to store 'abc': Invalid argument" ]
	done
	# Reading is no step.
	run -0 env DOS_FAULT=bogus dos cat-object --batch-check </dev/null
}

@test "an init killed after creating config.json.tmp runs again as a user" {
	command -v setpriv >/dev/null || skip "no setpriv"
	DOS_FAULT_LOG=points dos init -q probe
	n=$(grep -m1 ' after config-create$' points | cut -d' ' -f1)
	# Not as root, who may write a read-only file; the programs go where
	# the user can reach them.
	as=()
	mkdir bin c
	cp "$(command -v dos)" "$(command -v dos-init)" bin/
	if [ "$(id -u)" -eq 0 ]; then
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
		chown 65534:65534 c
		chmod -R a+rX "$BATS_TEST_TMPDIR"
		chmod a+x "$BATS_TEST_TMPDIR/.." "$BATS_TEST_TMPDIR/../.." 2>/dev/null || true
	fi
	user() {
		"${as[@]}" env PATH="$BATS_TEST_TMPDIR/bin:$PATH" \
		    DOS_EXEC_PATH="$BATS_TEST_TMPDIR/bin" "$@"
	}
	run -137 user env DOS_FAULT=kill:$n dos init -q c
	[ -e c/config.json.tmp ]
	[ ! -e c/config.json ]
	run -0 user dos init -q c
	[ -e c/config.json ]
	[ ! -e c/config.json.tmp ]
}

@test "hash-object -w, one object, killed at its points" {
	crash_tries hash "$BATS_TEST_TMPDIR/w" kill "$SAMPLE"
}

@test "hash-object -w --stdin-paths, a batch, killed at its points" {
	crash_tries hash-batch "$BATS_TEST_TMPDIR/w" kill "$SAMPLE"
}

@test "hash-object -w --to-pack, killed at its points" {
	crash_tries hash-pack "$BATS_TEST_TMPDIR/w" kill "$SAMPLE"
}

@test "pack, killed at its points" {
	crash_tries pack "$BATS_TEST_TMPDIR/w" kill "$SAMPLE"
}

@test "repack, killed at its points" {
	crash_tries repack "$BATS_TEST_TMPDIR/w" kill "$SAMPLE"
}

@test "rm, killed at its points" {
	crash_tries rm "$BATS_TEST_TMPDIR/w" kill "$SAMPLE"
}

@test "gc, killed at its points" {
	crash_tries gc "$BATS_TEST_TMPDIR/w" kill "$SAMPLE"
}

@test "gc --aggressive, killed at its points" {
	crash_tries gc-aggressive "$BATS_TEST_TMPDIR/w" kill "$SAMPLE"
}

@test "migrate, killed at its points" {
	crash_tries migrate "$BATS_TEST_TMPDIR/w" kill "$SAMPLE"
}
