#!/usr/bin/env bats
# The external sort (lib/extsort.c), alone and under dos fsck and dos
# count-objects: a sort made to write many runs by a tiny DOS_SORT_MEMORY
# gives exactly what a sort in memory gives.
load helper

sort_check() {
	"$DOS_EXEC_PATH/t/sort-check" "$DOS_DIR" "$@"
}

sandbox_empty() {
	[ -z "$(ls -A "$DOS_DIR/sandbox")" ]
}

@test "a sort hands out every record once, in order, equal ones as added, again after a rewind" {
	run -0 sort_check 0 1
	[ "$output" = "0 records, 0 keys" ]
	run -0 sort_check 1 1
	[ "$output" = "1 records, 1 keys" ]
	run -0 sort_check 20000 37
	[ "$output" = "20000 records, 37 keys" ]
	sandbox_empty
}

@test "a sort in many runs gives what a sort in memory gives, and leaves no file" {
	# 16-byte records: 2 a run (the least), 3 a run, and 2,048 a run.
	for mem in 1 100 65536; do
		run -0 env DOS_SORT_MEMORY="$mem" "$DOS_EXEC_PATH/t/sort-check" \
		    "$DOS_DIR" 20000 37
		[ "$output" = "20000 records, 37 keys" ]
	done
	# Keys mostly distinct: the runs' order alone decides.
	run -0 sort_check 3001 100000
	mem=$output
	run -0 env DOS_SORT_MEMORY=100 "$DOS_EXEC_PATH/t/sort-check" \
	    "$DOS_DIR" 3001 100000
	[ "$output" = "$mem" ]
	sandbox_empty
}

@test "a sort that may not write sandbox/ writes its runs in TMPDIR" {
	command -v setpriv >/dev/null || skip "no setpriv"
	mkdir bin tmp
	cp "$DOS_EXEC_PATH/t/sort-check" bin/
	chmod -R a+rX,go-w "$BATS_TEST_TMPDIR"
	chmod a+x "$BATS_TEST_TMPDIR/.." "$BATS_TEST_TMPDIR/../.." 2>/dev/null || true
	chmod a+w tmp
	# Root can write anything: sort as nobody; others lose write access.
	as=()
	if [ "$(id -u)" -eq 0 ]; then
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	else
		chmod a-w "$DOS_DIR/sandbox"
	fi
	run -1 "${as[@]}" env DOS_SORT_MEMORY=100 TMPDIR="$PWD/none" \
	    bin/sort-check "$DOS_DIR" 1000 10
	run -0 "${as[@]}" env DOS_SORT_MEMORY=100 TMPDIR="$PWD/tmp" \
	    bin/sort-check "$DOS_DIR" 1000 10
	[ "$output" = "1000 records, 10 keys" ]
	[ -z "$(ls -A tmp)" ]
	chmod u+w "$DOS_DIR/sandbox"
	sandbox_empty
}

# 300 objects in a pack, then damaged in every way the cross-check of
# fsck tells: a deletion and a copy stored again after it, a record
# pointing at another object's entry, a record of a pack that is not
# there, an entry the index lost, a damaged entry header and damaged data.
make_damaged() {
	local i one two three four five size
	mkdir data
	for i in $(seq 1 300); do
		printf 'object %d\n' "$i" >"data/$i"
	done
	dos hash-object -w data/* >/dev/null
	dos pack -q
	one=$(sha256_of data/1)
	two=$(sha256_of data/2)
	three=$(sha256_of data/3)
	four=$(sha256_of data/4)
	five=$(sha256_of data/5)
	dos rm "$one" >/dev/null
	dos hash-object -w --to-pack data/1 >/dev/null
	index_put "$two" 0 0 "$(offset_of "$three")" 9 9
	index_put "$(printf 'gone\n' | sha256sum | cut -d' ' -f1)" 7 0 12 5 5
	printf 'unindexed\n' >data/unindexed
	add_entry "$DOS_DIR/packs/0" "$(sha256_of data/unindexed)" 0 10 10 \
	    'unindexed
'
	size=$(stat -c %s "$DOS_DIR/packs/0")
	index_put --pack-length 0 "$size"
	# Its tag, and a byte of its data.
	flip "$DOS_DIR/packs/0" "$(offset_of "$four")"
	flip "$DOS_DIR/packs/0" $(( $(offset_of "$five") + $(entry_header 9) + 3 ))
}

# Run dos $@ in memory and then in runs of 2 records (5,000 runs of the
# 10,000 records or so): the same output, errors and status.
same_in_runs() {
	local status=0
	dos "$@" >mem.out 2>mem.err || status=$?
	echo "$status" >mem.status
	status=0
	DOS_SORT_MEMORY=1 dos "$@" >runs.out 2>runs.err || status=$?
	echo "$status" >runs.status
	diff -u mem.out runs.out
	diff -u mem.err runs.err
	diff -u mem.status runs.status
}

@test "fsck in many runs finds exactly what fsck in memory finds" {
	make_damaged
	same_in_runs fsck
	# Every kind of finding of the merge is among them.
	for kind in bad-record missing-pack missing unindexed bad-header \
	    crc-mismatch lost; do
		grep -q "^$kind " mem.out
	done
	[ "$(cat mem.status)" != 0 ]
	same_in_runs fsck --quick
	same_in_runs fsck --jobs=1 --index
	same_in_runs count-objects -v
	grep -q '^garbage: [1-9]' mem.out
	sandbox_empty
}

# Repair the container $1 with DOS_SORT_MEMORY=$2 (empty: unset), then
# rebuild its index from the packs alone; what it said and what it then
# holds go to repair.$2.
repair_both_ways() {
	local status=0
	{
		DOS_DIR=$1 DOS_SORT_MEMORY=$2 dos fsck --repair 2>&1 || status=$?
		echo "status $status"
		DOS_DIR=$1 dos ls -l
		rm -rf "$1/index"
		status=0
		DOS_DIR=$1 DOS_SORT_MEMORY=$2 dos fsck --repair 2>&1 || status=$?
		echo "status $status"
		DOS_DIR=$1 dos ls -l
	} >"repair.$2"
}

@test "fsck --repair in many runs repairs exactly as in memory" {
	make_damaged
	cp -a "$DOS_DIR" runs
	repair_both_ways "$DOS_DIR" ""
	repair_both_ways "$PWD/runs" 1
	diff -u repair. repair.1
	grep -q '^dos fsck: set-record ' repair.
	grep -q '^dos fsck: rebuilt-index index ' repair.
	grep -q '^status 7$' repair.
	sandbox_empty
	[ -z "$(ls -A runs/sandbox)" ]
}
