#!/usr/bin/env bats
# Crash tests: the fault points of the write paths (DOS_FAULT, see dos(7)).
load helper

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
	run -16 dos fsck -q
	[[ $output =~ ^stale-temp\ sandbox/obj-[0-9]+-0-[0-9a-f]{8}\ process\ [0-9]+\ is\ gone$ ]]
	run -0 dos hash-object -w abc
	[ "$(dos cat-object "$ABC_OID")" = abc ]
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
