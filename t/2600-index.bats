#!/usr/bin/env bats
# The index (dos-container(5), THE INDEX): lookups after many insertions
# and removals, dos gc filling its pages again, records at the limits of
# every field, and an index of format 1 (made before the index was
# compressed) still read and written, and rebuilt in format 2.
load helper

# Objects "object N\n" for N from $1 to $2, written straight to packs by
# one hash-object (batches of records in random id order); their ids are
# appended to ids.
pack_objects() {
	mkdir -p data
	for i in $(seq "$1" "$2"); do
		printf 'object %s\n' "$i" >data/$i
	done
	seq "$1" "$2" | sed 's|^|data/|' | dos hash-object -w --to-pack --stdin-paths >>ids
}

# Every id of $1 is found with its size (9 to 12 bytes), every id of $2
# is missing, and dos ls lists the ids of $1 and no others.
check_index() {
	dos cat-object --batch-check <"$1" >found
	[ "$(awk '$2 < 9 || $2 > 12' found | wc -l)" -eq 0 ] || return 1
	[ "$(wc -l <found)" -eq "$(wc -l <"$1")" ] || return 1
	dos cat-object --batch-check <"$2" >gone_found
	[ "$(grep -cv ' missing$' gone_found)" -eq 0 ] || return 1
	dos ls >listed
	sort "$1" | diff -u - listed
}

# The size of index/objects.db.
index_size() {
	stat -c %s "$DOS_DIR/index/objects.db"
}

# Replace index/ with one as dos made it before format 2: objects.db not
# compressed, each value the 32 bytes of format 1 (pack, codec, 3 zero
# bytes, offset, stored size, raw size, big-endian), and no environment
# (as after a checkpoint when the region files are gone).
to_format_1() {
	db5.3_dump "$DOS_DIR/index/objects.db" >objects.dump
	db5.3_dump "$DOS_DIR/index/packs.db" >packs.dump
	python3 - objects.dump >objects.load <<-'PY'
	import struct, sys
	lines = open(sys.argv[1]).read().split('\n')
	body = lines[lines.index('HEADER=END') + 1:lines.index('DATA=END')]
	print('VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END')
	def varints(b):
	    v = shift = 0
	    for c in b:
	        v |= (c & 0x7f) << shift
	        shift += 7
	        if not c & 0x80:
	            yield v
	            v = shift = 0
	for key, val in zip(body[0::2], body[1::2]):
	    packcodec, offset, stored, zz = varints(bytes.fromhex(val.strip()))
	    raw = (stored + (~(zz >> 1) if zz & 1 else zz >> 1)) % 2**64
	    rec = struct.pack('>IB3xQQQ', packcodec >> 2, packcodec & 3, offset,
	                      stored, raw)
	    print(key)
	    print(' ' + rec.hex())
	print('DATA=END')
	PY
	rm -rf "$DOS_DIR/index"
	mkdir "$DOS_DIR/index"
	db5.3_load -f objects.load "$DOS_DIR/index/objects.db"
	db5.3_load -f packs.dump "$DOS_DIR/index/packs.db"
}

@test "lookups are right after many insertions and removals" {
	pack_objects 1 3000
	awk 'NR % 3 == 0' ids >gone
	dos rm -q --stdin <gone
	pack_objects 3001 4500
	grep -vxFf gone ids >live
	check_index live gone
	dos fsck -q
	# Removed ids packed again come back.
	head -n 100 gone >back
	grep -xFf back ids >/dev/null
	for i in $(seq 3 3 300); do
		echo "data/$i"
	done | dos hash-object -w --to-pack --stdin-paths >again
	diff -u back again
	cat back >>live
	tail -n +101 gone >gone_still
	check_index live gone_still
}

@test "many lookups at once answer each id as a lookup of it alone would" {
	# 14,000 objects (about 40 leaves of the index), every 7th removed.
	mkdir data
	awk 'BEGIN { for (i = 1; i <= 14000; i++) {
		f = "data/" i; printf "object %d\n", i >f; close(f) } }'
	seq 1 14000 | sed 's|^|data/|' | dos hash-object -w --to-pack --stdin-paths >ids
	awk 'NR % 7 == 0' ids >gone
	dos rm -q --stdin <gone
	# What each id answers: "object N\n" is 8 bytes and the digits of N.
	seq 1 14000 | awk '{ print length($0) + 8 }' | paste -d' ' ids - |
	    grep -vFf gone >sizes
	python3 -c 'import hashlib
for i in range(2000): print(hashlib.sha256(b"absent %d" % i).hexdigest())' >absent
	# Every id at once (bulk reads: the ids are dense), and every 50th
	# among many never stored (one by one: too few found in what a bulk
	# read brings), each with ids removed, never stored and asked twice,
	# in random order: each is one round, sorted, and split in two halves
	# looked up apart.
	{ cat ids; head -n 300 absent; head -n 500 ids; } |
	    shuf --random-source=<(yes) >dense
	{ awk 'NR % 50 == 0' ids; cat absent; awk 'NR % 100 == 0' ids; } |
	    shuf --random-source=<(yes) >sparse
	for input in dense sparse; do
		awk 'NR == FNR { size[$1] = $2; next }
		    { print $1, ($1 in size ? size[$1] : "missing") }' sizes "$input" >expected
		dos cat-object --batch-check --buffer <"$input" >answered
		diff -u expected answered
	done
}

@test "sorted rounds find every id while writers split, rewrite and merge pages" {
	# 8,000 objects kept (with the others, about 40 leaves under one
	# internal page), looked up again and again in rounds (--buffer:
	# sorted, read from the index's pages, in two halves) while one
	# writer adds 3,000 more in batches (splitting leaves, rewriting
	# runs) and another removes 4,000 others in two batches, each
	# followed by dos gc (merging and freeing leaves): every kept id is
	# found each time.
	pack_objects 1 12000
	head -n 8000 ids >kept
	tail -n 4000 ids >doomed
	# What each id answers: "object N\n" is 8 bytes and the digits of N.
	seq 1 8000 | awk '{ print length($0) + 8 }' | paste -d' ' kept - >expected
	(
		for first in 12001 13001 14001; do
			pack_objects "$first" $((first + 999))
		done
		touch added
	) &
	adder=$!
	(
		split -l 2000 doomed doomed.
		for batch in doomed.*; do
			dos rm -q --stdin <"$batch"
			dos gc -q
		done
		touch removed
	) &
	remover=$!
	rounds=0
	while [ ! -e added ] || [ ! -e removed ]; do
		kill -0 "$adder" 2>/dev/null || [ -e added ]
		kill -0 "$remover" 2>/dev/null || [ -e removed ]
		dos cat-object --batch-check --buffer <kept >answered
		diff -u expected answered
		rounds=$((rounds + 1))
	done
	wait "$adder"
	wait "$remover"
	[ "$rounds" -ge 2 ]
	grep -vxFf doomed ids >live
	dos cat-object --batch-check --buffer <live >found
	[ "$(grep -c ' missing$' found)" -eq 0 ]
	[ "$(wc -l <found)" -eq 11000 ]
	dos cat-object --batch-check --buffer <doomed >gone
	[ "$(grep -cv ' missing$' gone)" -eq 0 ]
}

@test "dos gc fills the index's pages again and gives back the space" {
	pack_objects 1 6000
	awk 'NR % 4 != 0' ids >gone
	grep -vxFf gone ids >live
	dos rm -q --stdin <gone
	before=$(index_size)
	dos gc -q
	after=$(index_size)
	[ "$after" -lt "$before" ]
	check_index live gone
	dos fsck -q
}

@test "records keep the largest pack number, offset and sizes" {
	big=18446744073709551615
	a=$(printf a | sha256sum | cut -d' ' -f1)
	b=$(printf b | sha256sum | cut -d' ' -f1)
	"$DOS_EXEC_PATH/t/index-put" "$DOS_DIR" "$a" 4294967295 2 "$big" "$big" 5
	"$DOS_EXEC_PATH/t/index-put" "$DOS_DIR" "$b" 0 1 16 5 "$big"
	run dos cat-object --batch-check <<<"$a"
	[ "$output" = "$a 5" ]
	run dos cat-object --batch-check <<<"$b"
	[ "$output" = "$b $big" ]
	run dos fsck
	[ "$status" -ne 0 ]
	[[ "$output" == *"missing $a pack 4294967295 offset=$big"* ]]
}

@test "an index of format 1 is read and written as it is, and rebuilt in format 2" {
	pack_objects 1 300
	dos cat-object --batch <ids >expected
	to_format_1
	run db5.3_stat -d "$DOS_DIR/index/objects.db"
	[ "$status" -eq 0 ]
	[[ "$output" != *compressed* ]]
	dos cat-object --batch <ids >actual
	cmp expected actual
	# New records go into it in format 1, beside the old ones.
	pack_objects 301 400
	head -n 50 ids >gone
	dos rm -q --stdin <gone
	grep -vxFf gone ids >live
	check_index live gone
	dos fsck -q
	run db5.3_stat -d "$DOS_DIR/index/objects.db"
	[[ "$output" != *compressed* ]]
	# Rebuilt from the packs, it is compressed.
	rm -rf "$DOS_DIR/index"
	dos fsck -q --repair
	run db5.3_stat -d "$DOS_DIR/index/objects.db"
	[ "$status" -eq 0 ]
	[[ "$output" == *compressed* ]]
	check_index live gone
}

@test "dos gc killed at random moments (repacking, compacting) loses nothing" {
	pack_objects 1 8000
	awk 'NR % 4 != 0' ids >gone
	grep -vxFf gone ids >live
	dos rm -q --stdin <gone
	for delay in 0.05 0.1 0.2 0.3; do
		dos gc -q &
		sleep "$delay"
		kill -9 $! 2>/dev/null || true
		wait $! || true
		check_index live gone
	done
	dos gc -q
	check_index live gone
	dos fsck -q
}

@test "a writer waiting on the lock of a process killed meanwhile goes on" {
	echo first | dos hash-object -w --to-pack --stdin >/dev/null
	# A transaction that wrote the committed length of pack 0 holds its
	# page while a writer of pack 0 waits for it, until it is killed.
	hold_txn "$DOS_DIR" --pack-length 0 100
	echo second >second
	dos hash-object -w --to-pack second >written &
	ends_after_holder_killed $!
	dos hash-object second >expected
	cmp expected written
	dos fsck -q
	run -0 dos count-objects
	[[ "$output" == *" 2 packed objects"* ]]
}
