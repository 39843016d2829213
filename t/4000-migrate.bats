#!/usr/bin/env bats
# dos migrate: legacy disk-objectstore containers into dos.  The fixtures
# in t/fixtures/legacy/ were written by the legacy Python code; each has a
# manifest.tsv computed from the original bytes.
load helper

FIXTURES="$BATS_TEST_DIRNAME/fixtures/legacy"

# Unpack fixture $1 into ./$1 (the container is ./$1/container).
unpack() {
	mkdir -p "$1" && tar -xf "$FIXTURES/$1/container.tar" -C "$1"
}

# "<sha256> <size>" of every manifest object, minus the damaged ones.
expected_objects() {
	local bad="$FIXTURES/$1/expected_bad.tsv"
	tail -n +2 "$FIXTURES/$1/manifest.tsv" |
	    if [ -f "$bad" ]; then grep -v -F -f <(tail -n +2 "$bad"); else cat; fi |
	    awk '{ print $2, $3 }' | sort
}

# Every object of dos container $1, re-hashed, as "<id> <size>".
actual_objects() {
	local -
	set -o pipefail
	dos --dir="$1" cat-object --batch-check --batch-all-objects --verify |
	    sort
}

# Checksums of every file below $1, to prove it did not change.
tree_sums() {
	(cd "$1" && find . -type f -exec sha256sum {} + | sort -k2)
}

# A hand-made legacy container at $1 with loose_prefix_len $2 and the
# four-key config of disk-objectstore 0.3/0.4.
make_legacy() {
	mkdir -p "$1/loose" "$1/packs" "$1/sandbox" "$1/duplicates"
	printf '{"container_version": 1, "loose_prefix_len": %d, "pack_size_target": 4294967296, "hash_type": "sha256"}' \
	    "$2" >"$1/config.json"
	sqlite3 "$1/packs.idx" 'PRAGMA journal_mode=wal;
	    CREATE TABLE db_object (id INTEGER NOT NULL,
	    hashkey VARCHAR NOT NULL, compressed BOOLEAN NOT NULL,
	    size INTEGER NOT NULL, "offset" INTEGER NOT NULL,
	    length INTEGER NOT NULL, pack_id INTEGER NOT NULL, PRIMARY KEY (id));
	    CREATE UNIQUE INDEX ix_db_object_hashkey ON db_object (hashkey);' \
	    >/dev/null
}

# Append file $3 to pack $2 of container $1 as raw, zlib or zstd ($4).
add_packed() {
	local pack="$1/packs/$2" key size offset payload=$BATS_TEST_TMPDIR/payload
	key=$(sha256_of "$3")
	size=$(stat -c %s "$3")
	offset=$(stat -c %s "$pack" 2>/dev/null || echo 0)
	case $4 in
	raw) cp "$3" "$payload" ;;
	zlib) python3 -c 'import sys, zlib
sys.stdout.buffer.write(zlib.compress(open(sys.argv[1], "rb").read(), 1))' \
	    "$3" >"$payload" ;;
	zstd) zstd -q -c "$3" >"$payload" ;;
	esac
	cat "$payload" >>"$pack"
	sqlite3 "$1/packs.idx" "INSERT INTO db_object (hashkey, compressed,
	    size, \"offset\", length, pack_id) VALUES ('$key',
	    $([ "$4" = raw ] && echo 0 || echo 1), $size, $offset,
	    $(stat -c %s "$payload"), $2)"
}

# Append file $3 to pack $2 of container $1 as zstd frames, one for
# each half of the file.
add_packed_frames() {
	local pack="$1/packs/$2" key size offset half payload=$BATS_TEST_TMPDIR/payload
	key=$(sha256_of "$3")
	size=$(stat -c %s "$3")
	half=$((size / 2))
	offset=$(stat -c %s "$pack" 2>/dev/null || echo 0)
	{ head -c "$half" "$3" | zstd -q -c; tail -c +"$((half + 1))" "$3" | zstd -q -c; } >"$payload"
	cat "$payload" >>"$pack"
	sqlite3 "$1/packs.idx" "INSERT INTO db_object (hashkey, compressed,
	    size, \"offset\", length, pack_id) VALUES ('$key', 1, $size,
	    $offset, $(stat -c %s "$payload"), $2)"
}

# A legacy container at $2 of $1 distinct objects of 1 to 4 KiB, text
# and random, every 7th one loose (bench/mklegacy writes it).
make_many() {
	python3 - "$1" files <<-'PY'
	import os, random, sys
	n, d = int(sys.argv[1]), sys.argv[2]
	rnd = random.Random(5)
	os.makedirs(d)
	for i in range(n):
	    size = rnd.randrange(1024, 4096)
	    if i % 3:
	        data = ("%d " % i * size).encode()[:size]
	    else:
	        data = str(i).encode() + rnd.randbytes(size)
	    with open(os.path.join(d, "f%05d" % i), "wb") as f:
	        f.write(data)
	PY
	find files -type f | sort >files.list
	"$BATS_TEST_DIRNAME/../bench/mklegacy" --loose-every=7 files.list "$2" >/dev/null
}

# "<id> <compression> <disk size>" of every object of dos container $1.
storage() {
	dos --dir="$1" cat-object --batch-all-objects \
	    --batch-check='%(objectname) %(compression) %(objectsize:disk)'
}

# Store file $3 loose in container $1 with prefix length $2.
add_loose() {
	local key
	key=$(sha256_of "$3")
	if [ "$2" -eq 0 ]; then
		cp "$3" "$1/loose/$key"
	else
		mkdir -p "$1/loose/${key:0:$2}"
		cp "$3" "$1/loose/${key:0:$2}/${key:$2}"
	fi
}

@test "every fixture migrates and matches its manifest" {
	local n status
	for n in 12_sha1 13_wal_uncheckpointed 14_repack_interrupted \
	    15_edge_states 99_corrupted; do
		unpack "$n"
		status=0
		dos migrate -q --map="$n.map" "$n/container" "$n.dos" \
		    >"$n.failed" || status=$?
		[ "$status" -eq "$([ "$n" = 99_corrupted ] && echo 1 || echo 0)" ]
		expected_objects "$n" >expect
		actual_objects "$n.dos" >actual
		diff -u expect actual
		[ ! -e "$n.dos/migrating" ] || [ "$n" = 99_corrupted ]
	done
}

@test "index rows out of (pack, offset) order are read sorted from the first on" {
	local c=99_corrupted/container
	unpack 99_corrupted
	# Pack 6's rows first, reversed: the second comes before the first.
	sqlite3 "$c/packs.idx" 'UPDATE db_object SET id = -id WHERE pack_id = 6'
	run -1 --separate-stderr dos migrate "$c" new
	[[ "$stderr" == *"migrated 126 objects"* ]]
	expected_objects 99_corrupted >expect
	actual_objects new >actual
	diff -u expect actual
	dos --dir=new cat-object --batch-all-objects --unordered \
	    --batch-check='%(objectname)' >stored
	sqlite3 "$c/packs.idx" "SELECT hashkey FROM (
	    SELECT hashkey, 0 AS k, 0 AS p, 0 AS o FROM
	        (SELECT hashkey FROM db_object ORDER BY rowid LIMIT 1)
	    UNION ALL SELECT hashkey, 1, pack_id, \"offset\" FROM
	        (SELECT * FROM db_object ORDER BY rowid LIMIT -1 OFFSET 1))
	    ORDER BY k, p, o" >rows
	# Packed copies are stored in the order they are read.
	grep -Fxf stored rows >expect
	[ "$(wc -l <expect)" -gt 90 ]
	head -n "$(wc -l <expect)" stored >actual
	diff -u expect actual
}

@test "the source is not modified, WAL included" {
	local n
	for n in 13_wal_uncheckpointed 14_repack_interrupted 15_edge_states \
	    99_corrupted; do
		unpack "$n"
		tree_sums "$n/container" >"$n.before"
		run dos migrate -q "$n/container" "$n.dos"
		tree_sums "$n/container" >"$n.after"
		diff -u "$n.before" "$n.after"
	done
	grep -q 'packs.idx-wal$' 13_wal_uncheckpointed.after
	grep -q 'packs.idx-shm$' 13_wal_uncheckpointed.after
}

@test "99_corrupted: exactly the damaged objects fail, with what is wrong" {
	unpack 99_corrupted
	run -1 --separate-stderr dos migrate 99_corrupted/container new
	# Legacy containers keep no record of loose objects, so a deleted
	# loose file (9d0a...) cannot be noticed.
	tail -n +2 "$FIXTURES/99_corrupted/expected_bad.tsv" |
	    grep -v '^9d0a16d8b279' | sort >expect
	printf '%s\n' "$output" | cut -d' ' -f1 | sort >actual
	diff -u expect actual
	[ "$(grep -c ' pack/2:missing$' <<<"$output")" -eq 19 ]
	grep -qx '3cdba20b37ee0f6ee54b1999d1b52cb50be72190703e8ef500baed22d3b782a0 pack/1:hash-mismatch' <<<"$output"
	grep -qx 'd2fd291786e0d727245e1ae998a6c5b58969cf562ae0e0793cb62a5df1f88b23 pack/4:corrupt' <<<"$output"
	grep -qx '1ac93c6d3b11f931b636c1298992bb2a80f725578a2412cc7c67fec4b13e0fac pack/7:truncated' <<<"$output"
	grep -qx 'ef9d1c71171b8b7601f79c4767b45aa1926ea3c8ebccb33ac7d06adb99ccd979 loose:hash-mismatch' <<<"$output"
	grep -q 'migrated 126 objects.* 23 failed' <<<"$stderr"
	actual_objects new >actual
	[ "$(wc -l <actual)" -eq 126 ]
}

@test "13_wal_uncheckpointed: rows that live only in the WAL migrate" {
	unpack 13_wal_uncheckpointed
	[ "$(sqlite3 'file:13_wal_uncheckpointed/container/packs.idx?immutable=1' \
	    'SELECT count(*) FROM db_object')" -eq 100 ]
	run -0 dos migrate -q 13_wal_uncheckpointed/container new
	actual_objects new >actual
	[ "$(wc -l <actual)" -eq 160 ]
}

@test "14_repack_interrupted: objects are read from pack -1, deleted ones stay deleted" {
	unpack 14_repack_interrupted
	[ ! -e 14_repack_interrupted/container/packs/0 ]
	run -0 dos migrate -q 14_repack_interrupted/container new
	actual_objects new >actual
	[ "$(wc -l <actual)" -eq 110 ]
	tail -n +2 "$FIXTURES/14_repack_interrupted/deleted.tsv" | cut -f1 >deleted
	[ -s deleted ]
	run -0 dos --dir=new cat-object --batch-check <deleted
	run -1 grep -qv ' missing$' <<<"$output"
}

@test "12_sha1: objects are re-keyed to sha256 and the map says how" {
	unpack 12_sha1
	run -129 dos migrate 12_sha1/container new
	[[ "$output" == *"--map=<file>"* ]]
	run -0 dos migrate -q --map=ids 12_sha1/container new
	tail -n +2 "$FIXTURES/12_sha1/manifest.tsv" | awk '{ print $1, $2 }' |
	    sort >expect
	sort ids >actual
	diff -u expect actual
	run -0 --separate-stderr dos migrate -q --map=- 12_sha1/container new2
	sort <<<"$output" >actual
	diff -u expect actual
}

@test "15_edge_states: duplicates/ repairs a bad packed copy" {
	local key=a9966deb109a606cbcc9368094f365e62a29ae3616f11e125e0909d5f21581b4 off
	unpack 15_edge_states
	chmod -R u+w 15_edge_states/container
	off=$(sqlite3 15_edge_states/container/packs.idx \
	    "SELECT \"offset\" + length / 2 FROM db_object WHERE hashkey = '$key'")
	printf '\377' | dd of=15_edge_states/container/packs/0 bs=1 seek="$off" \
	    conv=notrunc status=none
	run -0 --separate-stderr dos migrate 15_edge_states/container new
	[ -z "$output" ]
	[[ "$stderr" == *"$key: bad copies (pack/0:"*"migrated the duplicate copy"* ]]
	# The recovered object is one of those migrated, bytes included.
	[[ "$stderr" == *"migrated 71 objects (908052 bytes), 0 already present, 2 extra copies skipped, 1 recovered from a second copy, 0 failed"* ]]
	expected_objects 15_edge_states >expect
	actual_objects new >actual
	diff -u expect actual
}

@test "a dry run verifies everything and writes nothing" {
	unpack 99_corrupted
	run -1 --separate-stderr dos migrate -n 99_corrupted/container new
	[ ! -e new ]
	[ "$(wc -l <<<"$output")" -eq 23 ]
	[[ "$stderr" == *"would migrate 126 objects"* ]]
	run -1 dos migrate -n --into 99_corrupted/container "$DOS_DIR"
	actual_objects "$DOS_DIR" >actual
	[ ! -s actual ]
}

@test "an interrupted migration continues where it stopped" {
	unpack 13_wal_uncheckpointed
	run -0 dos migrate -q 13_wal_uncheckpointed/container new
	# What a run killed after some batches leaves: the marker, and only
	# part of the objects.
	realpath 13_wal_uncheckpointed/container >new/migrating
	DOS_DIR=new dos cat-object --batch-all-objects --batch-check='%(objectname)' >listed
	head -40 listed >gone
	DOS_DIR=new dos rm --stdin <gone
	actual_objects new >actual
	[ "$(wc -l <actual)" -eq 120 ]
	run -0 --separate-stderr dos migrate 13_wal_uncheckpointed/container new
	[[ "$stderr" == *"migrated 40 objects"*"120 already present"* ]]
	[ ! -e new/migrating ]
	expected_objects 13_wal_uncheckpointed >expect
	actual_objects new >actual
	diff -u expect actual
}

@test "a migration killed with SIGKILL can be run again to completion" {
	unpack 14_repack_interrupted
	dos migrate -q 14_repack_interrupted/container new &
	kill -9 $! 2>/dev/null || true
	wait $! || true
	run -0 dos migrate -q 14_repack_interrupted/container new
	expected_objects 14_repack_interrupted >expect
	actual_objects new >actual
	diff -u expect actual
}

@test "the index copy that a killed migration left is removed by the next" {
	unpack 13_wal_uncheckpointed
	unpack 14_repack_interrupted
	mkdir tmp
	# Killed at its first step: its copy of the index is made by then.
	TMPDIR=$PWD/tmp run -137 env DOS_FAULT=kill:1 \
	    dos migrate -q 13_wal_uncheckpointed/container new
	[ "$(cd tmp && echo dos-migrate-*/packs.idx-wal)" != 'dos-migrate-*/packs.idx-wal' ]
	# Also by the migration of another source.
	TMPDIR=$PWD/tmp run -0 dos migrate -q 14_repack_interrupted/container new2
	[ "$(ls -A tmp)" = "" ]
}

@test "a copy is kept while its process lives or holds it locked" {
	unpack 14_repack_interrupted
	mkdir tmp
	# No process has a number above pid_max; this shell is alive.
	gone=$(($(cat /proc/sys/kernel/pid_max) + 1))
	for d in "$gone-AbC123" "$((gone + 1))-AbC123" "$$-AbC123" x; do
		mkdir "tmp/dos-migrate-$d"
		cp 14_repack_interrupted/container/packs.idx "tmp/dos-migrate-$d"
	done
	# As a migration in another pid namespace would hold its own.
	flock "tmp/dos-migrate-$((gone + 1))-AbC123" -c 'touch locked; sleep 60' &
	locker=$!
	while [ ! -e locked ]; do sleep 0.1; done
	TMPDIR=$PWD/tmp run -0 dos migrate -q 14_repack_interrupted/container new
	kill "$locker"
	[ "$(ls tmp | sort)" = "$(printf 'dos-migrate-%s\n' "$((gone + 1))-AbC123" \
	    "$$-AbC123" x | sort)" ]
}

# The number of the first fault point "<when> <name>" ($1) of migrating
# 15_edge_states (see DOS_FAULT in dos(7)).
migrate_point() {
	rm -rf probe points
	DOS_FAULT_LOG=points dos migrate -q 15_edge_states/container probe
	grep -m1 " $1\$" points | cut -d' ' -f1
}

@test "a migration killed while it writes its marker can be run again" {
	unpack 15_edge_states
	n=$(migrate_point "before migrate-marker-write")
	run -137 env DOS_FAULT=kill:$n dos migrate -q 15_edge_states/container new
	[ ! -e new/migrating ]
	run -0 dos migrate -q 15_edge_states/container new
	[ ! -e new/migrating ]
	[ ! -e new/migrating.tmp ]
	expected_objects 15_edge_states >expect
	actual_objects new >actual
	diff -u expect actual
}

# The number of the first point "<when> <name>" ($2) of migrating
# 15_edge_states that comes after the first point $1.
migrate_point_after() {
	rm -rf probe points
	DOS_FAULT_LOG=points dos migrate -q 15_edge_states/container probe
	awk -v first=" $1" -v then=" $2" '
	    !seen && substr($0, length($0) - length(first) + 1) == first { seen = 1 }
	    seen && substr($0, length($0) - length(then) + 1) == then { print $1; exit }
	' points
}

# Container $1 holds every object of 15_edge_states and fsck finds
# nothing wrong.
holds_edge_states() {
	run -0 dos --dir="$1" fsck -q
	[ "$output" = "" ]
	expected_objects 15_edge_states >expect
	actual_objects "$1" >actual
	diff -u expect actual
}

# Killed at point $1, then $2 after it: the journal is left, fsck says
# so and nothing else, and the migration run again completes.
killed_with_journal() {
	local n
	n=$(migrate_point_after "$1" "$2")
	[ -n "$n" ]
	run -137 env DOS_FAULT=kill:$n dos migrate -q 15_edge_states/container new
	[ -e new/index-journal ]
	run -0 --separate-stderr dos --dir=new fsck -q
	[ "$output" = "" ]
	run -0 dos migrate -q 15_edge_states/container new
	[ ! -e new/index-journal ]
	[ ! -e new/migrating ]
	holds_edge_states new
}

@test "a migration killed with records journaled, not committed, can be run again" {
	unpack 15_edge_states
	killed_with_journal "after journal-create" "after journal-fdatasync"
}

@test "a migration killed with records committed, not indexed, can be run again" {
	unpack 15_edge_states
	killed_with_journal "after journal-fdatasync" "after index-commit"
}

@test "a migration killed while it loads its journal can be run again" {
	unpack 15_edge_states
	killed_with_journal "after journal-fdatasync" "before journal-unlink"
}

@test "a journal load waiting on the lock of a process killed meanwhile completes" {
	unpack 15_edge_states
	n=$(migrate_point_after "after journal-fdatasync" "after index-commit")
	run -137 env DOS_FAULT=kill:$n dos migrate -q 15_edge_states/container new
	[ -e new/index-journal ]
	# A transaction holding the page the journal's records go to, as a
	# dos fsck stopped with SIGTERM once did: the load's wait for it ends
	# at the lock timeout, and the load is done again.
	hold_txn new "$(printf '%064d' 1)" 0 0 16 1 1
	dos migrate -q 15_edge_states/container new &
	ends_after_holder_killed $!
	[ ! -e new/index-journal ]
	holds_edge_states new
}

@test "the next pack writer indexes what a killed migration journaled" {
	unpack 15_edge_states
	n=$(migrate_point_after "after journal-fdatasync" "after index-commit")
	run -137 env DOS_FAULT=kill:$n dos migrate -q 15_edge_states/container new
	run -0 --separate-stderr dos --dir=new fsck
	[[ "$stderr" == *"notice: index records of a migration"*"in index-journal"* ]]
	run -0 dos --dir=new count-objects
	[[ "$output" == *" 0 packed objects"* ]]
	printf abc | dos --dir=new hash-object -w --to-pack --stdin
	[ ! -e new/index-journal ]
	run -0 dos --dir=new count-objects
	[[ "$output" == *" 72 packed objects"* ]]
	run -0 dos --dir=new fsck -q
	[ "$output" = "" ]
}

# Killed right after it recorded its progress, the migration of
# 15_edge_states left at ./new.
killed_after_progress() {
	local n
	n=$(migrate_point_after "after index-commit" "after migrate-dir-fsync")
	[ -n "$n" ]
	run -137 env DOS_FAULT=kill:$n dos migrate -q 15_edge_states/container new
	grep -q '^progress 71 ' new/migrating
}

@test "a resumed migration skips what the interrupted one recorded as done" {
	unpack 15_edge_states
	killed_after_progress
	run -0 --separate-stderr dos migrate -v 15_edge_states/container new
	[[ "$stderr" == *"continuing after the 71 objects an interrupted run finished; none after them is looked up"* ]]
	[[ "$stderr" == *"migrated 0 objects"*"71 already present"* ]]
	[ ! -e new/migrating ]
	holds_edge_states new
}

@test "a resumed migration looks everything up if either side changed" {
	unpack 15_edge_states
	killed_after_progress
	cp -a new new2
	# The source: its last object recorded is another.
	sed -i 's/^\(progress [0-9 ]*\)[0-9a-f]/\10/' new/migrating
	run -0 --separate-stderr dos migrate 15_edge_states/container new
	[[ "$stderr" == *"changed since the interrupted run: looking up every object"* ]]
	[[ "$stderr" == *"migrated 0 objects"*"71 already present"* ]]
	# The destination: an object removed after the progress was recorded.
	expected_objects 15_edge_states >expect
	gone=$(head -1 expect | cut -d' ' -f1)
	dos --dir=new2 rm "$gone"
	run -0 --separate-stderr dos migrate -v 15_edge_states/container new2
	[[ "$stderr" != *"continuing after"* ]]
	[[ "$stderr" == *"migrated 1 objects"*"70 already present"* ]]
	holds_edge_states new
	holds_edge_states new2
}

@test "a resumed migration killed at any point can be run again" {
	unpack 15_edge_states
	# Nothing committed: the resumed run does all the work.
	n=$(migrate_point_after "after journal-fdatasync" "before index-commit")
	run -137 env DOS_FAULT=kill:$n dos migrate -q 15_edge_states/container killed
	cp -a killed resumed
	DOS_FAULT_LOG=resumed-points dos migrate -q --into 15_edge_states/container resumed
	# The resumed run killed at each step of its commits in turn.
	grep -E ' (pack|journal|index|migrate-marker|migrate-dir)-' resumed-points |
	    cut -d' ' -f1 >steps
	[ "$(wc -l <steps)" -gt 30 ]
	while read -r i; do
		rm -rf new && cp -a killed new
		run -137 env DOS_FAULT=kill:$i dos migrate -q --into 15_edge_states/container new
		run -0 dos migrate -q 15_edge_states/container new
		holds_edge_states new
	done <steps
}

@test "a migration killed after it finished can be run again" {
	unpack 15_edge_states
	n=$(migrate_point "after migrate-marker-unlink")
	run -137 env DOS_FAULT=kill:$n dos migrate -q 15_edge_states/container new
	[ ! -e new/migrating ]
	run -0 --separate-stderr dos migrate 15_edge_states/container new
	[[ "$stderr" == *"migrated 0 objects"*"71 already present"* ]]
	expected_objects 15_edge_states >expect
	actual_objects new >actual
	diff -u expect actual
	# Not when an object of the source is missing.
	dos --dir=new rm "$(head -1 expect | cut -d' ' -f1)"
	run -128 dos migrate 15_edge_states/container new
	[[ "$output" == *"already holds objects"* ]]
}

@test "--into adds to an existing container, skipping what it has" {
	unpack 14_repack_interrupted
	echo hello >hello
	dos hash-object -w hello >/dev/null
	run -0 --separate-stderr dos migrate --into 14_repack_interrupted/container "$DOS_DIR"
	run -0 --separate-stderr dos migrate --into 14_repack_interrupted/container "$DOS_DIR"
	[[ "$stderr" == *"migrated 0 objects"*"110 already present"* ]]
	actual_objects "$DOS_DIR" >actual
	[ "$(wc -l <actual)" -eq 111 ]
}

@test "the destination must be new, empty or the same unfinished migration" {
	unpack 14_repack_interrupted
	mkdir full && echo x >full/file
	run -128 dos migrate 14_repack_interrupted/container full
	[[ "$output" == *"'full' is not empty"* ]]
	echo hello >hello
	dos hash-object -w hello >/dev/null
	run -128 dos migrate 14_repack_interrupted/container "$DOS_DIR"
	[[ "$output" == *"already holds objects"* ]]
	run -128 dos migrate --into 14_repack_interrupted/container full
	[[ "$output" == *"not a dos container"* ]]
	run -0 dos migrate -q 14_repack_interrupted/container "$BATS_TEST_TMPDIR/empty"
}

@test "what is not a legacy container is refused" {
	mkdir plain
	run -128 dos migrate plain new
	[[ "$output" == *"not a legacy disk-objectstore container: 'plain'"* ]]
	run -128 dos migrate "$DOS_DIR" new
	[[ "$output" == *"a dos container already"* ]]
	make_legacy proto 2
	echo '{"container_version": 1, "loose_prefix_len": 2, "pack_prefix_len": 2}' \
	    >proto/config.json
	run -128 dos migrate proto new
	[[ "$output" == *"prototype format"* ]]
	[ ! -e new ]
}

@test "rsdos zstd entries, zlib and raw ones, flat loose objects, an old config" {
	make_legacy old 0
	head -c 300000 /dev/urandom >big
	seq 1 100000 >text
	printf '' >empty
	echo loose-only >loose1
	add_packed old 0 big raw
	add_packed old 0 text zstd
	add_packed old 0 empty zlib
	seq 5 70000 >text2
	add_packed old 1 text2 zlib
	add_loose old 0 loose1
	add_loose old 0 text
	touch old/packs/1.lock old/sandbox/leftover
	run -0 --separate-stderr dos migrate old new
	[[ "$stderr" == *"migrated 5 objects"*"1 extra copies skipped"* ]]
	for f in big text empty loose1 text2; do
		echo "$(sha256_of "$f") $(stat -c %s "$f")"
	done | sort >expect
	actual_objects new >actual
	diff -u expect actual
}

@test "--keep-compression stores compressed copies as they are, verified" {
	local f key id codec disk pack offset length
	make_legacy old 2
	seq 1 2000 >small
	seq 1 300000 >wide		# over 1 MiB decoded, streamed
	seq 1 1000000 >huge		# over 1 MiB stored too
	seq 1 3000 >frame
	seq 1 4000 >frames
	seq 1 200000 >bigframes
	head -c 5000 /dev/urandom >noise
	head -c 3000 /dev/urandom >raw
	printf '' >empty
	echo loose-only >loose1
	add_packed old 0 small zlib
	add_packed old 0 wide zlib
	add_packed old 0 huge zlib
	add_packed old 0 frame zstd
	add_packed_frames old 0 frames
	add_packed_frames old 0 bigframes
	add_packed old 0 noise zlib
	add_packed old 0 raw raw
	add_packed old 0 empty zlib
	add_loose old 2 loose1
	run -0 --separate-stderr dos migrate --keep-compression old new
	[[ "$stderr" == *"migrated 10 objects"*" 0 failed"* ]]
	# zlib and single zstd frames as they were; several frames, what
	# does not save 10% (the random bytes, the empty object's 8 bytes)
	# and raw copies raw.
	{
		for f in small wide huge; do echo "$(sha256_of $f) zlib"; done
		echo "$(sha256_of frame) zstd"
		for f in frames bigframes noise raw empty loose1; do
			echo "$(sha256_of $f) none"
		done
	} | sort >expect
	storage new >storage
	cut -d' ' -f1,2 storage | sort >actual
	diff -u expect actual
	# Each kept entry holds the very bytes of the legacy pack.
	for f in small wide huge frame; do
		key=$(sha256_of $f)
		read -r offset length < <(sqlite3 -separator ' ' old/packs.idx \
		    "SELECT \"offset\", length FROM db_object WHERE hashkey = '$key'")
		read -r id codec disk < <(grep "^$key " storage)
		hdr=$(entry_header "$(wc -c <$f)" "$length")
		[ "$disk" -eq $((length + hdr)) ]
		# Streamed: its header was written before the sizes were known,
		# wide (sizes in 10-byte varints).
		case $f in wide | huge) hdr=$((1 + 10 + 10 + 8 + 4)) ;; esac
		new_place=$(dos --dir=new cat-object \
		    --batch-check='%(pack) %(offset)' <<<"$key")
		read -r pack offset_new <<<"$new_place"
		tail -c +$((offset + 1)) old/packs/0 | head -c "$length" >legacy.bytes
		tail -c +$((offset_new + hdr + 1)) new/packs/$pack | head -c "$length" >dos.bytes
		cmp legacy.bytes dos.bytes
	done
	# Object by object, the content is what was put in.
	for f in small wide huge frame frames bigframes noise raw empty loose1; do
		key=$(sha256_of $f)
		dos --dir=new cat-object "$key" >content
		cmp content $f
		[ "$(sha256_of content)" = "$key" ]
	done
	run -0 --separate-stderr dos --dir=new fsck
	[ -z "$output" ]
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "any number of jobs migrates to the same packs, output and order" {
	local jobs
	make_many 3000 many
	unpack 99_corrupted
	# A copy recovered from duplicates/ goes through the writer's own
	# compression, between the entries the workers made.
	unpack 15_edge_states
	chmod -R u+w 15_edge_states/container
	printf '\377' | dd of=15_edge_states/container/packs/0 bs=1 \
	    seek="$(sqlite3 15_edge_states/container/packs.idx \
	    "SELECT \"offset\" + length / 2 FROM db_object WHERE hashkey = \
	    'a9966deb109a606cbcc9368094f365e62a29ae3616f11e125e0909d5f21581b4'")" \
	    conv=notrunc status=none
	for jobs in 1 2 5; do
		dos migrate --jobs=$jobs 15_edge_states/container edge-$jobs \
		    >edge-$jobs.err 2>&1
		sed -i 's/ in [0-9.]* s$//' edge-$jobs.err
		dos migrate --jobs=$jobs many new-$jobs 2>err-$jobs
		dos migrate --keep-compression --jobs=$jobs many keep-$jobs
		run -1 --separate-stderr dos migrate --jobs=$jobs \
		    99_corrupted/container bad-$jobs
		printf '%s\n' "$output" >bad-$jobs.out
		sed 's/ in [0-9.]* s$//' <<<"$stderr" >bad-$jobs.err
		# Kept or not, every copy is verified.
		run -1 dos migrate -q --keep-compression --jobs=$jobs \
		    99_corrupted/container bad-keep-$jobs
		diff -u bad-$jobs.out - <<<"$output"
		sed -i 's/ in [0-9.]* s$//' err-$jobs
	done
	[ "$(wc -l <bad-1.out)" -eq 23 ]
	grep -q 'migrated 3000 objects' err-1
	grep -q '1 recovered from a second copy' edge-1.err
	for jobs in 2 5; do
		diff -r -x lock edge-1/packs edge-$jobs/packs
		diff -u edge-1.err edge-$jobs.err
		diff -r -x lock new-1/packs new-$jobs/packs
		diff -r -x lock keep-1/packs keep-$jobs/packs
		diff -r -x lock bad-1/packs bad-$jobs/packs
		diff -u err-1 err-$jobs
		diff -u bad-1.out bad-$jobs.out
		diff -u bad-1.err bad-$jobs.err
	done
	storage new-1 | cut -d' ' -f1 | sort >ids
	storage keep-1 | cut -d' ' -f1 | sort >keep-ids
	diff -u ids keep-ids
	[ "$(wc -l <ids)" -eq 3000 ]
	dos --dir=new-5 fsck -q
	dos --dir=keep-5 fsck -q
}

@test "progress on a terminal, or when asked; -q silences it" {
	local key
	# Only the last line, unless a run asks for every one.
	export DOS_PROGRESS_INTERVAL=1000
	unpack 14_repack_interrupted
	run -0 --separate-stderr dos migrate -q --progress \
	    14_repack_interrupted/container new
	[ "$stderr" = $'\rmigrating objects: 110, done.' ]
	run -0 --separate-stderr dos migrate --progress -q \
	    14_repack_interrupted/container new2
	[ -z "$stderr" ]
	make_many 2100 many
	DOS_PROGRESS_INTERVAL=0 run -0 --separate-stderr dos migrate -q --progress many new3
	progress_counts "migrating objects" 2100 "$stderr"
	# A warning does not run on from the progress line.
	key=$(cd many/loose && find . -type f | head -1 | tr -d './')
	chmod -R u+w many/loose
	echo damage >"many/loose/${key:0:2}/${key:2}"
	DOS_PROGRESS_INTERVAL=0 run -1 --separate-stderr dos migrate -v --progress many new8
	[ "$output" = "$key loose:hash-mismatch" ]
	[[ "$stderr" = *$'migrating objects: 1'*$'\ndos-migrate: warning: '"$key: loose copy is hash-mismatch"$'\n'* ]]
	[[ "$stderr" = *$'\rmigrating objects: 2100, done.\n'* ]]
	# Not a terminal: no progress.
	run -0 --separate-stderr dos migrate 14_repack_interrupted/container new4
	[[ "$stderr" != *"migrating objects"* ]]
	# A terminal: progress, unless -q or --no-progress.
	script -qec "dos migrate 14_repack_interrupted/container new5" /dev/null >tty.out
	grep -q $'migrating objects: 110, done.\r$' tty.out
	grep -q 'migrated 110 objects' tty.out
	script -qec "dos migrate -q 14_repack_interrupted/container new6" /dev/null >tty.out
	[ ! -s tty.out ]
	script -qec "dos migrate --no-progress 14_repack_interrupted/container new7" /dev/null >tty.out
	run -1 grep -q 'migrating objects' tty.out
}

@test "usage errors exit 129" {
	run -129 dos migrate
	run -129 dos migrate only-one
	run -129 dos migrate a b c
	run -129 dos migrate -q -v a b
	run -129 dos migrate --no-such-option a b
	run -129 --separate-stderr dos migrate --jobs=0 a b
	[ "${stderr_lines[0]}" = "dos-migrate: error: invalid --jobs '0'" ]
	run -129 dos migrate --jobs=257 a b
	run -129 dos migrate --jobs=2x a b
	run -129 dos migrate --jobs= a b
	run -0 dos migrate -h
	[ "$output" = "usage: dos migrate [-q | -v] [--[no-]progress] [-n | --dry-run] [--into]
                   [--keep-compression] [--jobs=<n>] [--map=<file>]
                   <legacy-dir> <new-dir>" ]
}

@test "the usage matches the man page synopsis" {
	local usage synopsis
	set -o pipefail
	usage=$(dos migrate -h | sed 's/^usage: //' | tr -s ' \n' '  ' | tr -d '<>')
	synopsis=$(man_synopsis dos-migrate)
	[ "${usage% }" = "$synopsis" ]
}
