#!/usr/bin/env bats
# I/O errors: EIO and ENOSPC injected at the steps of every writing
# operation (DOS_FAULT=eio:N, enospc:N, see dos(7)).  Each failure gives a
# message with the system's reason and exit 1 or 128 (a failed clean-up
# of a temp file may pass unnoticed); no id is printed for an object not
# stored, nothing reads back wrong, fsck finds only leftovers it cleans,
# and the operation then runs to completion (t/crash.bash).
load helper
load crash

# Points tried per operation and error.
SAMPLE=5

@test "a full disk while writing a loose object: a clear error, no temp file" {
	printf abc >abc
	seq 1 1000 >text
	dos init -q probe
	DOS_DIR=probe DOS_FAULT_LOG=points dos hash-object -w abc text >/dev/null
	n=$(grep ' before loose-temp-write$' points | sed -n '2s/ .*//p')
	run -128 --separate-stderr env DOS_FAULT=enospc:$n dos hash-object -w abc text
	[ "$output" = "" ]
	[ "$stderr" = "dos-hash-object: fatal: unable to store 'text': No space left on device" ]
	[ -z "$(ls -A "$DOS_DIR/sandbox")" ]
	run -0 dos fsck -q
	[ "$output" = "" ]
}

@test "a batch whose commit fails prints no id and leaves no temp file" {
	printf abc >abc
	: >empty
	dos init -q probe
	printf '%s\n' abc empty >list
	DOS_DIR=probe DOS_FAULT_LOG=points dos hash-object -w --stdin-paths <list >/dev/null
	n=$(grep -m1 ' before loose-temps-syncfs$' points | cut -d' ' -f1)
	run -128 --separate-stderr env DOS_FAULT=eio:$n dos hash-object -w --stdin-paths <list
	[ "$output" = "" ]
	[ "$stderr" = "dos-hash-object: fatal: unable to store objects in '$DOS_DIR': Input/output error" ]
	[ -z "$(ls -A "$DOS_DIR/sandbox")" ]
	run -1 dos cat-object -e "$ABC_OID"
}

@test "a batch that outgrows the index's lock table fails naming it, and changes nothing" {
	# DOS_INDEX_LOCKS=100 makes a table that one batch of 4,000 new
	# objects outgrows (Berkeley DB keeps at least 100 locks) once they
	# land on more than 100 leaf pages: a compressed page holds hundreds
	# of records, so 40,000 are packed first.
	mkdir base files
	awk 'BEGIN { for (i = 1; i <= 40000; i++) { f = "base/" i; print "base " i >f; close(f) } }'
	seq 1 40000 | sed 's|^|base/|' | dos hash-object -w --to-pack --stdin-paths >/dev/null
	for i in $(seq 1 4000); do echo "object $i" >files/$i; done
	printf 'files/%s\n' $(seq 1 4000) | dos hash-object -w --stdin-paths >/dev/null
	# The table's size is set when the regions are made: without them
	# (no process is in the environment), the next process makes them.
	rm "$DOS_DIR"/index/__db.*
	run -128 --separate-stderr env DOS_INDEX_LOCKS=100 dos pack -q
	[ "$output" = "" ]
	[ "$stderr" = "dos-pack: fatal: unable to pack '$DOS_DIR': BDB2055 Lock table is out of available lock entries" ]
	# Nothing was committed, the environment needs no recovery, and the
	# same table gives the same answer (no crash, no "recovered" retry).
	run -0 --separate-stderr dos ls --packed
	[ "${#lines[@]}" -eq 40000 ]
	run -0 --separate-stderr dos ls --loose
	[ "${#lines[@]}" -eq 4000 ]
	run -128 --separate-stderr dos pack -q
	[ "$stderr" = "dos-pack: fatal: unable to pack '$DOS_DIR': BDB2055 Lock table is out of available lock entries" ]
	run -0 dos hash-object files/7
	run -0 dos cat-object "$output"
	[ "$output" = "object 7" ]
}

@test "a batch of the largest size fits the lock table made for it" {
	mkdir files
	for i in $(seq 1 4096); do echo "object $i" >files/$i; done
	printf 'files/%s\n' $(seq 1 4096) | dos hash-object -w --stdin-paths >/dev/null
	DOS_FAULT_LOG=log dos pack -q
	# One transaction for the new pack, one for the batch.
	[ "$(grep -c ' before index-commit$' log)" -eq 2 ]
	run -0 --separate-stderr dos ls --packed
	[ "${#lines[@]}" -eq 4096 ]
	run -0 dos fsck -q
	[ "$output" = "" ]
}

@test "DOS_INDEX_LOCKS that is not a number of locks is refused" {
	printf abc >abc
	dos hash-object -w abc >/dev/null
	run -128 --separate-stderr env DOS_INDEX_LOCKS=many dos pack -q
	[ "$stderr" = "dos-pack: fatal: unable to write to the packs of '$DOS_DIR': DOS_INDEX_LOCKS is not a positive number of locks" ]
}

@test "a read error of the input is not a write error" {
	printf abc >abc
	mkdir dir
	run -128 --separate-stderr dos hash-object -w dir
	[ "$stderr" = "dos-hash-object: fatal: could not read 'dir': Is a directory" ]
	run -1 --separate-stderr dos hash-object -w --keep-going --stdin-paths < <(printf 'dir\nabc\n')
	[ "$output" = "$ABC_OID" ]
	[ "$stderr" = "dos-hash-object: error: could not read 'dir': Is a directory" ]
}

@test "init: a failed rename of config.json is reported with its reason" {
	DOS_FAULT_LOG=points dos init -q probe
	n=$(grep -m1 ' after config-rename$' points | cut -d' ' -f1)
	run -128 env DOS_FAULT=eio:$n dos init c
	[ "$output" = "dos-init: fatal: unable to create container 'c': Input/output error" ]
}

@test "pack: a loose copy that cannot be removed is reported with the reason" {
	printf abc >abc
	dos hash-object -w abc >/dev/null
	cp -a "$DOS_DIR" probe
	DOS_DIR=probe DOS_FAULT_LOG=points dos pack -q
	n=$(grep -m1 ' before pack-loose-unlink$' points | cut -d' ' -f1)
	run -1 --separate-stderr env DOS_FAULT=eio:$n dos pack -q
	[ "$stderr" = "dos-pack: error: object '$ABC_OID': unable to remove loose copy: Input/output error" ]
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	run -0 dos pack -q
	[ ! -e "$(loose_path "$ABC_OID")" ]
}

@test "a batch committed beside the next whose sync or commit fails: its error, none of its ids" {
	mkdir data
	for i in $(seq 1 5000); do
		printf 'eio object %d\n' "$i" >data/$i
	done
	seq 1 5000 | sed 's|^|data/|' >paths
	(cd data && seq 1 5000 | xargs sha256sum) | cut -d' ' -f1 >ids
	dos init -q probe
	DOS_DIR=probe DOS_FAULT_LOG=points dos hash-object -w --to-pack --stdin-paths <paths >/dev/null
	# The first batch's sync and commit, made by a thread of the writer
	# (the first commit makes the pack).
	grep -E ' (pack-fdatasync|index-commit)$' points | sed -n '3,6p' |
	    cut -d' ' -f1 >faults
	[ "$(wc -l <faults)" -eq 4 ]
	while read -r n; do
		rm -rf "$DOS_DIR" && dos init -q "$DOS_DIR"
		run -128 --separate-stderr env DOS_FAULT=eio:$n dos hash-object -w --to-pack --stdin-paths <paths
		[ "$output" = "" ]
		[ "$stderr" = "dos-hash-object: fatal: unable to write pack 0: Input/output error" ]
		run -0 --separate-stderr dos fsck -q
		[ "$output" = "" ]
		run -0 --separate-stderr dos hash-object -w --to-pack --stdin-paths <paths
		printf '%s\n' "$output" >actual
		diff -u ids actual
	done <faults
}

@test "hash-object -w, one object, with I/O errors" {
	crash_tries hash "$BATS_TEST_TMPDIR/w" eio "$SAMPLE"
	crash_tries hash "$BATS_TEST_TMPDIR/w" enospc "$SAMPLE"
}

@test "hash-object -w --stdin-paths, a batch, with I/O errors" {
	crash_tries hash-batch "$BATS_TEST_TMPDIR/w" eio "$SAMPLE"
	crash_tries hash-batch "$BATS_TEST_TMPDIR/w" enospc "$SAMPLE"
}

@test "hash-object -w --to-pack with I/O errors" {
	crash_tries hash-pack "$BATS_TEST_TMPDIR/w" eio "$SAMPLE"
	crash_tries hash-pack "$BATS_TEST_TMPDIR/w" enospc "$SAMPLE"
}

@test "pack with I/O errors" {
	crash_tries pack "$BATS_TEST_TMPDIR/w" eio "$SAMPLE"
	crash_tries pack "$BATS_TEST_TMPDIR/w" enospc "$SAMPLE"
}

@test "repack with I/O errors" {
	crash_tries repack "$BATS_TEST_TMPDIR/w" eio "$SAMPLE"
	crash_tries repack "$BATS_TEST_TMPDIR/w" enospc "$SAMPLE"
}

@test "rm with I/O errors" {
	crash_tries rm "$BATS_TEST_TMPDIR/w" eio "$SAMPLE"
	crash_tries rm "$BATS_TEST_TMPDIR/w" enospc "$SAMPLE"
}

@test "gc with I/O errors" {
	crash_tries gc "$BATS_TEST_TMPDIR/w" eio "$SAMPLE"
	crash_tries gc "$BATS_TEST_TMPDIR/w" enospc "$SAMPLE"
}

@test "gc --aggressive with I/O errors" {
	crash_tries gc-aggressive "$BATS_TEST_TMPDIR/w" eio "$SAMPLE"
	crash_tries gc-aggressive "$BATS_TEST_TMPDIR/w" enospc "$SAMPLE"
}

@test "migrate with I/O errors" {
	crash_tries migrate "$BATS_TEST_TMPDIR/w" eio "$SAMPLE"
	crash_tries migrate "$BATS_TEST_TMPDIR/w" enospc "$SAMPLE"
}
