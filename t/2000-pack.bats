#!/usr/bin/env bats
# dos pack, hash-object --to-pack, reading packed objects, damaged packs,
# and writers killed in the middle.
load helper

CHECK_FMT='%(objectname) %(objectsize) %(storage) %(pack) %(compression)'

# Every regular file under loose/ (there must be none after a pack).
loose_files() {
	(cd "$DOS_DIR/loose" && find . -type f | sort)
}

# The --batch record of a file's content under id $1: "<id> <size>\n<bytes>\n".
batch_record() {
	printf '%s %s\n' "$1" "$(stat -c %s "$2")"
	cat "$2"
	printf '\n'
}

# The expected --batch output for a manifest ("<id>  <path>" lines, as
# sha256sum prints them), in manifest order.
expected_batch() {
	local id path
	while read -r id path; do
		batch_record "$id" "$path"
	done <"$1"
}

# Every id in the manifest reads back (one process per id) with its content.
all_intact() {
	local id path
	while read -r id path; do
		dos cat-object "$id" >read_back && [ "$(sha256_of read_back)" = "$id" ] || {
			echo "object $id ($path) does not read back" >&2
			return 1
		}
	done <"$1"
}

# A small mixed data set in data/, its manifest in manifest (sorted by id).
make_data() {
	mkdir -p data
	: >data/empty
	printf abc >data/abc
	printf '0123456789' >data/ten
	printf 'a\0b\nc\r\n\377' >data/bin
	seq 1 3000 >data/text
	head -c 5000 /dev/urandom >data/rand
	(cd data && sha256sum empty abc ten bin text rand) |
	    sed 's|  |  data/|' | sort >manifest
}

# $1 objects of one line each, "$2 <i> <random> <random>", in data/1 ..
# data/$1; their paths in input order in paths, their ids in the same
# order in ids, and the --batch record of each in records.
make_line_objects() {
	local i
	mkdir data
	for i in $(seq 1 "$1"); do
		printf '%s %d %d %d\n' "$2" "$i" "$RANDOM" "$RANDOM" >data/$i
	done
	seq 1 "$1" | sed 's|^|data/|' >paths
	xargs sha256sum <paths | cut -d' ' -f1 >ids
	xargs cat <paths | paste -d' ' ids - |
	    awk '{ id = $1; sub(/^[^ ]* /, ""); printf "%s %d\n%s\n\n", id, length($0) + 1, $0 }' >records
}

# hash-object -w --to-pack of the paths of make_line_objects, run to the
# end: every id printed in input order, every object read back.
to_pack_all() {
	run -0 --separate-stderr dos hash-object -w --to-pack --stdin-paths <paths
	[ "$stderr" = "" ]
	printf '%s\n' "$output" >actual_ids
	diff -u ids actual_ids
	dos cat-object --batch <ids >actual
	cmp records actual
}

# The files of make_data, stored and then packed into packs/0.
make_packed_data() {
	make_data
	dos hash-object -w data/* >/dev/null
	dos pack -q
}

# Storage, pack and compression of one object.
where() {
	dos cat-object --batch-check='%(storage) %(pack) %(compression)' <<<"$1"
}

# Byte size of a file.
size_of() {
	stat -c %s "$1"
}

@test "dos pack moves every loose object into packs/0, contents intact" {
	make_data
	run -0 --separate-stderr dos hash-object -w data/*
	[ "$(loose_files | wc -l)" -eq 6 ]
	run -0 --separate-stderr dos pack
	[ "$output" = "" ]
	[[ "$stderr" =~ ^packed\ 6\ objects\ \(.*\ -\>\ .*\)\ into\ pack\ 0$ ]]
	[ "$(loose_files)" = "" ]
	[ "$(ls "$DOS_DIR/packs")" = "$(printf '0\nlock')" ]
	# The pack starts with its 16-byte header.
	[ "$(head -c 8 "$DOS_DIR/packs/0" | tr '\0' '@')" = "DOSPACK@" ]
	cut -d' ' -f1 manifest >ids
	run -0 --separate-stderr dos cat-object --batch-check="$CHECK_FMT" <ids
	while read -r id path; do
		case $path in
		data/text) c=zstd ;;
		*) c=none ;;
		esac
		echo "$id $(size_of "$path") packed 0 $c"
	done <manifest >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	all_intact manifest
}

@test "the summary counts raw and stored bytes exactly (--compress=never)" {
	printf abc >abc
	: >empty
	printf '0123456789' >ten
	dos hash-object -w abc empty ten >/dev/null
	run -0 --separate-stderr dos pack --compress=never
	[ "$output" = "" ]
	# 13 raw bytes; stored: the same plus a 14-byte header each.
	[ "$stderr" = "packed 3 objects (13 bytes -> 55 bytes) into pack 0" ]
	[ "$(size_of "$DOS_DIR/packs/0")" -eq $((16 + 55)) ]
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	run -0 --separate-stderr dos cat-object "$EMPTY_OID"
	[ "$output" = "" ]
}

@test "loose files of every size are packed whole; a corrupt one stays loose" {
	mkdir data
	# Files smaller than 64 KiB are read ahead into a buffer that starts
	# at 8 KiB and doubles; the others are streamed from the file.
	for n in 1 8191 8192 8193 20000 65535 65536 65537 200000; do
		seq 1 100000 | head -c $n >data/$n
	done
	(cd data && sha256sum *) | sed 's|  |  data/|' >manifest
	dos hash-object -w data/* >/dev/null
	printf 'small' >small
	seq 1 100000 >large
	small=$(dos hash-object -w small)
	large=$(dos hash-object -w large)
	for id in "$small" "$large"; do
		f="$DOS_DIR/loose/${id:0:2}/${id:2}"
		chmod u+w "$f"
		printf X | dd of="$f" bs=1 seek=3 conv=notrunc status=none
	done
	run -1 --separate-stderr dos pack -q
	[ "$output" = "" ]
	[ "$(printf '%s\n' "${stderr_lines[@]}" | sort)" = "$(printf \
	    "dos-pack: error: object '%s': loose copy is corrupt; left in place\n" \
	    "$small" "$large" | sort)" ]
	[ "$(loose_files)" = "$(printf './%s/%s\n' "${small:0:2}" "${small:2}" \
	    "${large:0:2}" "${large:2}" | sort)" ]
	while read -r id path; do
		[[ "$(where "$id")" = "packed 0 "* ]]
	done <manifest
	all_intact manifest
}

@test "-q is silent" {
	make_data
	dos hash-object -w data/* >/dev/null
	run -0 --separate-stderr dos pack -q
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ "$(loose_files)" = "" ]
	all_intact manifest
}

@test "--progress counts the objects, then says done" {
	local i
	mkdir data
	for i in $(seq 1 2500); do echo "$i" >data/$i; done
	ls data | sed 's|^|data/|' | dos hash-object -w --stdin-paths >/dev/null
	# Redrawn for each object here (DOS_PROGRESS_INTERVAL=0).
	DOS_PROGRESS_INTERVAL=0 run -0 --separate-stderr dos pack --progress
	progress_counts "packing objects" 2500 "${stderr_lines[0]}"
	[[ "${stderr_lines[1]}" = "packed 2500 objects ("*") into pack 0" ]]
	run -0 --separate-stderr dos pack -q --progress
	[ "$stderr" = $'\rpacking objects: 0, done.' ]
}

@test "--keep-loose keeps the loose files and packs them too" {
	make_data
	dos hash-object -w data/* >/dev/null
	loose_files >before
	run -0 --separate-stderr dos pack -q --keep-loose
	[ "$stderr" = "" ]
	loose_files >after
	diff -u before after
	[ "$(wc -l <after)" -eq 6 ]
	# The index is asked first: the packed copies answer, then and after.
	[ "$(where "$ABC_OID")" = "packed 0 none" ]
	rm -rf "$DOS_DIR/loose"/*
	[ "$(where "$ABC_OID")" = "packed 0 none" ]
	all_intact manifest
}

@test "running dos pack twice is harmless" {
	make_packed_data
	size=$(size_of "$DOS_DIR/packs/0")
	run -0 --separate-stderr dos pack
	[ "$output" = "" ]
	[ "$stderr" = "packed 0 objects (0 bytes -> 0 bytes) into pack 0" ]
	[ "$(size_of "$DOS_DIR/packs/0")" -eq "$size" ]
	[ "$(ls "$DOS_DIR/packs")" = "$(printf '0\nlock')" ]
	all_intact manifest
}

@test "objects written after a pack are appended to the same pack" {
	make_packed_data
	size=$(size_of "$DOS_DIR/packs/0")
	printf 'later one' >later1
	printf 'later two!' >later2
	dos hash-object -w later1 later2 >/dev/null
	run -0 --separate-stderr dos pack --compress=never
	[ "$stderr" = "packed 2 objects (19 bytes -> 47 bytes) into pack 0" ]
	[ "$(size_of "$DOS_DIR/packs/0")" -eq $((size + 47)) ]
	[ "$(ls "$DOS_DIR/packs")" = "$(printf '0\nlock')" ]
	[ "$(where "$(sha256_of later2)")" = "packed 0 none" ]
	sha256sum later1 later2 >>manifest
	all_intact manifest
}

@test "a small pack_size_target gives several packs, all objects readable" {
	rm -rf "$DOS_DIR"
	dos init -q --pack-size-target=64k "$DOS_DIR"
	mkdir data
	for i in $(seq 1 40); do
		head -c 5049 /dev/urandom >data/$i
	done
	(cd data && sha256sum *) | sed 's|  |  data/|' >manifest
	dos hash-object -w data/* >/dev/null
	run -0 --separate-stderr dos pack --compress=never
	# 5064 bytes an entry: a pack is full after 13 (16 + 13 * 5064 >= 64 KiB).
	[ "$stderr" = "packed 40 objects (197.2 KiB -> 197.8 KiB) into packs 0-3" ]
	[ "$(ls "$DOS_DIR/packs")" = "$(printf '0\n1\n2\n3\nlock')" ]
	for p in 0 1 2; do
		[ "$(size_of "$DOS_DIR/packs/$p")" -eq $((16 + 13 * 5064)) ]
	done
	[ "$(size_of "$DOS_DIR/packs/3")" -eq $((16 + 5064)) ]
	dos cat-object --batch-all-objects --batch-check='%(pack)' >packs_of
	sort packs_of | uniq -c | awk '{ print $2 ":" $1 }' >actual
	printf '%s\n' 0:13 1:13 2:13 3:1 >expect
	diff -u expect actual
	[ "$(loose_files)" = "" ]
	all_intact manifest
}

@test "compressed packs roll over where their bytes reach the target, the same each time" {
	rm -rf "$DOS_DIR"
	dos init -q --pack-size-target=64k "$DOS_DIR"
	mkdir data
	for i in $(seq 1 60); do
		seq "$i" 3 20000 >data/$i
	done
	dos hash-object -w data/* >/dev/null
	cp -a "$DOS_DIR" loose
	for run in 1 2 3 4 5; do
		rm -rf "$DOS_DIR" && cp -a loose "$DOS_DIR"
		dos pack -q
		# Objects waiting for a compressing thread must not count at
		# their raw size: every pack but the last reaches the target.
		(cd "$DOS_DIR/packs" && ls | grep -v lock | sort -n |
		    xargs stat -c '%n %s') >layout.$run
		head -n -1 layout.$run | while read -r pack size; do
			[ "$size" -ge 65536 ] || { echo "packs/$pack: $size" >&2; exit 1; }
		done
		diff -u layout.1 layout.$run
	done
}

@test "--compress=never and --compress=always" {
	seq 1 20000 >text
	printf '0123456789' >ten
	id=$(dos hash-object -w text)
	ten=$(dos hash-object -w ten)
	dos pack -q --compress=never
	[ "$(where "$id")" = "packed 0 none" ]
	[ "$(where "$ten")" = "packed 0 none" ]

	rm -rf "$DOS_DIR" && dos init -q "$DOS_DIR"
	dos hash-object -w text ten >/dev/null
	dos pack -q --compress=always
	[ "$(where "$id")" = "packed 0 zstd" ]
	[ "$(where "$ten")" = "packed 0 zstd" ]
	dos cat-object "$id" >out
	[ "$(sha256_of out)" = "$id" ]
	run -0 --separate-stderr dos cat-object "$ten"
	[ "$output" = 0123456789 ]
}

@test "--compress=auto: tiny and random objects stay raw, text is compressed" {
	printf '0123456789' >tiny
	seq 1 30000 | head -c 102400 >text
	head -c 102400 /dev/urandom >random
	dos hash-object -w tiny text random >/dev/null
	dos pack -q
	[ "$(where "$(sha256_of tiny)")" = "packed 0 none" ]
	[ "$(where "$(sha256_of text)")" = "packed 0 zstd" ]
	[ "$(where "$(sha256_of random)")" = "packed 0 none" ]
	# The compressed copy is smaller on disk; the raw ones are a header more.
	run -0 dos cat-object --batch-check='%(objectsize) %(objectsize:disk)' \
	    <<<"$(sha256_of text)"
	[ "${output% *}" -eq 102400 ]
	[ "${output#* }" -lt 51200 ]
	run -0 dos cat-object --batch-check='%(objectsize:disk)' <<<"$(sha256_of random)"
	[ "$output" -eq $((102400 + $(entry_header 102400))) ]
	sha256sum tiny text random >manifest
	all_intact manifest
}

@test "--compress=auto: gzip-like objects stay raw, zip archives are tried" {
	# Zip archives may hold their members uncompressed.
	{ printf 'PK\003\004'; seq 1 30000; } | head -c 102400 >stored.zip
	{ printf 'PK\003\004'; seq 1 400000; } >large.zip
	{ printf '\037\213'; seq 1 30000; } | head -c 102400 >not.gz
	dos hash-object -w stored.zip large.zip not.gz >/dev/null
	dos pack -q
	[ "$(where "$(sha256_of stored.zip)")" = "packed 0 zstd" ]
	[ "$(where "$(sha256_of large.zip)")" = "packed 0 zstd" ]
	[ "$(where "$(sha256_of not.gz)")" = "packed 0 none" ]
	sha256sum stored.zip large.zip not.gz >manifest
	all_intact manifest
}

@test "an object streamed at the default level finds repeats 2 MiB back" {
	seq 1 200000 | head -c 1048576 >repeats
	head -c 2097152 /dev/urandom >block
	cat block block >>repeats
	dos hash-object -w repeats >/dev/null
	dos pack -q
	[ "$(where "$(sha256_of repeats)")" = "packed 0 zstd" ]
	# Level 2's own window, 1 MiB, would store the random block twice.
	run -0 dos cat-object --batch-check='%(objectsize:disk)' \
	    <<<"$(sha256_of repeats)"
	[ "$output" -lt 3000000 ]
	sha256sum repeats >manifest
	all_intact manifest
}

@test "a container created with --compression=zlib packs with zlib" {
	rm -rf "$DOS_DIR"
	dos init -q --compression=zlib "$DOS_DIR"
	seq 1 30000 >text
	printf '0123456789' >tiny
	dos hash-object -w text tiny >/dev/null
	dos pack -q
	[ "$(where "$(sha256_of text)")" = "packed 0 zlib" ]
	[ "$(where "$(sha256_of tiny)")" = "packed 0 none" ]
	sha256sum text tiny >manifest
	all_intact manifest
}

@test "bad dos pack usage exits 129" {
	run -129 --separate-stderr dos pack --compress=bogus
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "dos-pack: error: invalid --compress 'bogus'" ]
	[ "${stderr_lines[1]}" = "usage: dos pack [-q] [--[no-]progress] [--compress=(auto | always | never)]" ]
	run -129 --separate-stderr dos pack extra
	[ "${stderr_lines[0]}" = "dos-pack: error: too many arguments" ]
	[ ! -e "$DOS_DIR/packs/0" ]
}

@test "--no-wait fails at once while another writer holds the lock" {
	printf abc >abc
	dos hash-object -w abc >/dev/null
	start_holder
	lock_refused pack
	# Nothing moved.
	[ "$(where "$ABC_OID")" = "loose - none" ]
	stop_holder
	[ "$(cat holder.out)" = "$(sha256_of held)" ]
	[ "$(cat holder.err)" = "" ]
	run -0 --separate-stderr dos pack --no-wait
	[ "$(where "$ABC_OID")" = "packed 0 none" ]
}

@test "without --no-wait a second packer waits, then proceeds" {
	printf abc >abc
	dos hash-object -w abc >/dev/null
	start_holder
	run -124 timeout 2 dos pack 7>&-
	[ "$(where "$ABC_OID")" = "loose - none" ]
	# Not a writer of the fifo: the holder must see its end.
	dos pack --compress=never >pack.out 2>pack.err 3>&- 7>&- &
	packer=$!
	sleep 0.3
	kill -0 "$packer"	# still waiting
	stop_holder
	for _ in $(seq 1 200); do
		kill -0 "$packer" 2>/dev/null || break
		sleep 0.1
	done
	wait "$packer"
	[ "$(cat pack.out)" = "" ]
	[ "$(cat pack.err)" = "packed 1 object (3 bytes -> 17 bytes) into pack 0" ]
	[ "$(where "$ABC_OID")" = "packed 0 none" ]
	[ "$(where "$(sha256_of held)")" = "packed 0 none" ]
}

@test "a holder killed with kill -9 does not block the next packer" {
	printf abc >abc
	dos hash-object -w abc >/dev/null
	start_holder
	kill -9 "$holder"
	wait "$holder" || true
	exec 7>&-
	run -0 --separate-stderr timeout 20 dos pack --no-wait
	[ "$output" = "" ]
	[ "$(where "$ABC_OID")" = "packed 0 none" ]
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	# What the holder acknowledged before it died is readable.
	if [ -s holder.out ]; then
		[ "$(cat holder.out)" = "$(sha256_of held)" ]
		run -0 --separate-stderr dos cat-object "$(sha256_of held)"
		[ "$output" = held ]
	fi
}

@test "hash-object -w --to-pack: ids are sha256sum, objects packed, never loose" {
	make_data
	run -0 --separate-stderr dos hash-object -w --to-pack data/*
	[ "$stderr" = "" ]
	(cd data && sha256sum *) | sed 's|  |  data/|' | cut -d' ' -f1 >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	[ "$(loose_files)" = "" ]
	[ "$(ls "$DOS_DIR/packs")" = "$(printf '0\nlock')" ]
	dos cat-object --batch-check='%(storage) %(pack)' <actual >where
	[ "$(sort -u where)" = "packed 0" ]
	all_intact manifest
}

@test "hash-object -w --to-pack --stdin and --stdin-paths" {
	run -0 --separate-stderr dos hash-object -w --to-pack --stdin < <(printf abc)
	[ "$output" = "$ABC_OID" ]
	[ "$(where "$ABC_OID")" = "packed 0 none" ]
	make_data
	ls data/* >list
	run -0 --separate-stderr dos hash-object -w --to-pack --stdin-paths <list
	[ "$stderr" = "" ]
	while read -r p; do sha256_of "$p"; done <list >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	[ "$(loose_files)" = "" ]
	all_intact manifest
}

@test "storing the same files again does not grow the pack" {
	make_data
	dos hash-object -w --to-pack data/* >first
	size=$(size_of "$DOS_DIR/packs/0")
	run -0 --separate-stderr dos hash-object -w --to-pack data/* data/abc
	printf '%s\n' "$output" | head -n 6 >again
	diff -u first again
	[ "${lines[6]}" = "$ABC_OID" ]
	[ "$(size_of "$DOS_DIR/packs/0")" -eq "$size" ]
	# Twice the same new file in one run is written once.
	printf 'twice' >twice
	dos hash-object -w --to-pack twice twice >/dev/null
	[ "$(size_of "$DOS_DIR/packs/0")" -eq $((size + 14 + 5)) ]
	# Neither does a dos pack after it.
	dos pack -q
	[ "$(size_of "$DOS_DIR/packs/0")" -eq $((size + 14 + 5)) ]
	all_intact manifest
}

@test "--to-pack over three batches: ids in order, repeats of the batch being committed stored once" {
	make_line_objects 9000 'batch object'
	# The first batch is sealed at its 4096th object and committed while
	# the next is read: the inputs after it repeat objects of it.
	{ head -n 4096 paths; sed -n '4096p;1p;2000p' paths; tail -n +4097 paths; } >list
	{ head -n 4096 ids; sed -n '4096p;1p;2000p' ids; tail -n +4097 ids; } >expect
	run -0 --separate-stderr dos hash-object -w --to-pack --stdin-paths <list
	[ "$stderr" = "" ]
	printf '%s\n' "$output" >actual
	diff -u expect actual
	dos cat-object --batch <ids >actual
	cmp records actual
	# Stored once each: the pack the same objects make without repeats.
	dos init -q once
	dos --dir=once hash-object -w --to-pack --stdin-paths <paths >/dev/null
	[ "$(size_of "$DOS_DIR/packs/0")" -eq "$(size_of once/packs/0)" ]
	run -0 --separate-stderr dos fsck
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "--to-pack does not write content already stored loose" {
	printf abc >abc
	printf 'new' >new
	dos hash-object -w abc >/dev/null
	run -0 --separate-stderr dos hash-object -w --to-pack abc new
	[ "${lines[0]}" = "$ABC_OID" ]
	[ "${lines[1]}" = "$(sha256_of new)" ]
	[ "$(where "$ABC_OID")" = "loose - none" ]
	[ "$(where "$(sha256_of new)")" = "packed 0 none" ]
	# Only the new object is in the pack.
	[ "$(size_of "$DOS_DIR/packs/0")" -eq $((16 + 14 + 3)) ]
}

@test "--to-pack without -w is a usage error (129)" {
	printf abc >abc
	run -129 --separate-stderr dos hash-object --to-pack abc
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "dos-hash-object: error: --to-pack needs -w" ]
	[ ! -e "$DOS_DIR/packs/0" ]
}

@test "--batch prints packed objects byte for byte, large ones included" {
	make_data
	head -c 1500000 /dev/urandom >data/big-random
	seq 1 300000 >data/big-text
	(cd data && sha256sum *) | sed 's|  |  data/|' >manifest
	dos hash-object -w data/* >/dev/null
	dos pack -q
	[ "$(loose_files)" = "" ]
	[ "$(where "$(sha256_of data/big-text)")" = "packed 0 zstd" ]
	[ "$(where "$(sha256_of data/big-random)")" = "packed 0 none" ]
	expected_batch manifest >expect
	cut -d' ' -f1 manifest | dos cat-object --batch >actual
	cmp expect actual
	cut -d' ' -f1 manifest | dos cat-object --batch --verify >actual
	cmp expect actual
	# Straight to packs, the same.
	rm -rf "$DOS_DIR" && dos init -q "$DOS_DIR"
	dos hash-object -w --to-pack data/* >/dev/null
	cut -d' ' -f1 manifest | dos cat-object --batch >actual
	cmp expect actual
	all_intact manifest
}

@test "--batch-all-objects is sorted; --unordered gives the same set" {
	make_data
	dos hash-object -w data/* >/dev/null
	dos pack -q
	printf 'loose one' >l1
	printf 'loose two' >l2
	dos hash-object -w l1 l2 >/dev/null
	{ cut -d' ' -f1 manifest; sha256_of l1; sha256_of l2; } | sort >expect
	run -0 --separate-stderr dos cat-object --batch-all-objects --batch-check='%(objectname)'
	printf '%s\n' "$output" >actual
	diff -u expect actual
	run -0 --separate-stderr dos cat-object --batch-all-objects --unordered \
	    --batch-check='%(objectname)'
	[ "${#lines[@]}" -eq 8 ]
	printf '%s\n' "$output" | sort >actual
	diff -u expect actual
	# And with contents.
	{ cat manifest; sha256sum l1 l2; } | sort >all
	expected_batch all >expect
	dos cat-object --batch-all-objects --batch >actual
	cmp expect actual
}

@test "--batch-check of 70,000 names (more than one lookup chunk) answers each in input order" {
	make_data
	dos hash-object -w --to-pack data/* >/dev/null
	dos hash-object -w data/text >/dev/null	# also loose
	printf 'loose only\n' >lone
	lone=$(dos hash-object -w lone)
	# Every 997th name is a stored object (packed, loose, or both), the
	# rest are ids nothing has; a short and a bad name in the middle.
	awk -v lone="$lone" 'NR == FNR { ids[n++] = $1; next }
	    END {
		ids[n++] = lone
		for (i = 1; i <= 70000; i++) {
			if (i == 40000) { print "abc"; continue }
			if (i == 40001) { print "not-hex!"; continue }
			if (i % 997 == 0) { print ids[(i / 997) % n]; continue }
			printf "%064x\n", i
		}
	    }' manifest /dev/null >names
	while read -r name; do
		case $name in
		0000*|abc|not-hex!) echo "$name missing" ;;
		*)
			size=$(dos cat-object -s "$name")
			echo "$name $size"
			;;
		esac
	done < <(awk 'NR % 997 == 0 || NR == 40000 || NR == 40001 || NR <= 3' names) >expect.some
	run -0 --separate-stderr dos cat-object --batch-check <names
	[ "$stderr" = "" ]
	[ "${#lines[@]}" -eq 70000 ]
	awk 'NR % 997 == 0 || NR == 40000 || NR == 40001 || NR <= 3' <<<"$output" >actual.some
	diff -u expect.some actual.some
	# Unbuffered and buffered give the same answers.
	dos cat-object --batch-check --buffer <names >buffered
	diff -u <(printf '%s\n' "$output") buffered
}

@test "--batch of more names than a read chunk: every kind of object, in input order, buffered or not" {
	make_data
	seq 1 30000 >data/big			# compressed, too large for a worker
	head -c 200000 /dev/urandom >data/bigrand	# raw, read in pieces
	dos hash-object -w --to-pack data/* >/dev/null
	seq 1 500 >lone
	seq 1 20000 >lonebig
	dos hash-object -w lone lonebig >/dev/null
	head -c 3000 /dev/urandom >dam
	dam=$(dos hash-object -w --to-pack dam)
	[ "$(where "$dam")" = "packed 0 none" ]
	pack="$DOS_DIR/packs/0"
	off=$(dos cat-object --batch-check='%(offset)' <<<"$dam")
	flip_byte_at $((off + $(entry_header 3000) + 7))
	text=$(sha256_of data/text)
	# The answer to each name, and 1,000 names cycling through them.
	mkdir rec
	for f in data/* lone lonebig; do
		batch_record "$(sha256_of "$f")" "$f" >"rec/$(sha256_of "$f")"
	done
	printf '%s corrupt\n' "$dam" >"rec/$dam"
	printf '%064d missing\n' 0 >"rec/$(printf '%064d' 0)"
	batch_record "${text:0:12}" data/text | sed "1s/^${text:0:12}/$text/" >"rec/${text:0:12}"
	ls rec >kinds
	awk 'NR == FNR { k[n++] = $1; next } END {
		for (i = 0; i < 1000; i++) print k[(i * 7) % n] }' kinds /dev/null >names
	while read -r name; do cat "rec/$name"; done <names >expect
	rc=0
	dos cat-object --batch <names >actual 2>err || rc=$?
	[ "$rc" -eq 1 ]
	cmp expect actual
	[ "$(sort -u err)" = "dos-cat-object: error: object '$dam' is corrupt" ]
	[ "$(wc -l <err)" -eq "$(grep -c "^$dam\$" names)" ]
	rc=0
	dos cat-object --batch --buffer <names >buffered 2>/dev/null || rc=$?
	[ "$rc" -eq 1 ]
	cmp expect buffered
	# --batch-all-objects goes the same way.
	rm "rec/$dam" "rec/$(printf '%064d' 0)" "rec/${text:0:12}"
	cat rec/* >expect.all
	rc=0
	dos cat-object --batch-all-objects --batch >all 2>/dev/null || rc=$?
	[ "$rc" -eq 1 ]
	grep -av "^$dam corrupt\$" all >all.good
	cmp expect.all all.good
}

@test "prefixes of packed objects resolve; ambiguous across loose and packed" {
	make_data
	dos hash-object -w data/* >/dev/null
	dos pack -q
	id=$(sha256_of data/text)
	run -0 --separate-stderr dos cat-object "${id:0:4}"
	[ "$output" = "$(cat data/text)" ]
	run -0 --separate-stderr dos cat-object -s "${id:0:10}"
	[ "$output" = "$(size_of data/text)" ]
	run -0 --separate-stderr dos cat-object --batch-check <<<"${id:0:6}"
	[ "$output" = "$id $(size_of data/text)" ]
	# x305 and x465 both hash to 58deb...; one loose, one packed.
	printf 'x305\n' >a
	printf 'x465\n' >b
	dos hash-object -w --to-pack a >/dev/null
	dos hash-object -w b >/dev/null
	[ "$(where "$(sha256_of a)")" = "packed 0 none" ]
	[ "$(where "$(sha256_of b)")" = "loose - none" ]
	run -128 --separate-stderr dos cat-object 58deb
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: short object id '58deb' is ambiguous" ]
	run -0 --separate-stderr dos cat-object --batch-check <<<58deb
	[ "$output" = "58deb ambiguous" ]
	a=$(sha256_of a)
	run -0 --separate-stderr dos cat-object "${a:0:8}"
	[ "$output" = x305 ]
}

@test "-s, -e and --verify on packed objects" {
	make_data
	dos hash-object -w data/* >/dev/null
	dos pack -q
	while read -r id path; do
		run -0 --separate-stderr dos cat-object -s "$id"
		[ "$output" = "$(size_of "$path")" ]
		run -0 --separate-stderr dos cat-object -e "$id"
		[ "$output" = "" ]
		[ "$stderr" = "" ]
		dos cat-object --verify "$id" >out
		cmp "$path" out
	done <manifest
	missing=$(printf 'not here' | sha256sum | cut -d' ' -f1)
	run -1 --separate-stderr dos cat-object -e "$missing"
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	run -128 --separate-stderr dos cat-object -s "$missing"
	[ "$stderr" = "dos-cat-object: fatal: object '$missing' not found" ]
}

# Pack the data set with --compress=never and note where $id's entry is.
pack_for_damage() {
	make_data
	dos hash-object -w data/* >/dev/null
	dos pack -q --compress=never
	id=$(sha256_of data/ten)
	off=$(dos cat-object --batch-check='%(offset)' <<<"$id")
	pack="$DOS_DIR/packs/0"
}

flip_byte_at() {
	printf '\xff' | dd of="$pack" bs=1 seek="$1" conv=notrunc 2>/dev/null
}

# All objects of the manifest but $id still read back.
others_intact() {
	grep -v "^$id " manifest >others
	all_intact others
}

@test "a flipped byte in a packed object's data: corrupt, never silent" {
	pack_for_damage
	flip_byte_at $((off + 14 + 3))
	run -128 --separate-stderr dos cat-object "$id"
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: object '$id' is corrupt" ]
	run -128 --separate-stderr dos cat-object --verify "$id"
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: object '$id' is corrupt" ]
	run -1 --separate-stderr dos cat-object --batch <<<"$id"
	[ "$output" = "$id corrupt" ]
	[ "$stderr" = "dos-cat-object: error: object '$id' is corrupt" ]
	# The neighbours are fine, in the same batch too.
	abc=$(sha256_of data/abc)
	run -1 --separate-stderr dos cat-object --batch < <(printf '%s\n' "$abc" "$id" "$abc")
	[ "$output" = "$(printf '%s 3\nabc\n%s corrupt\n%s 3\nabc' "$abc" "$id" "$abc")" ]
	others_intact
}

@test "a flipped byte in a packed entry's header: corrupt" {
	pack_for_damage
	cp "$pack" pack.copy
	# Inside the id, then inside the size.
	flip_byte_at $((off + 5))
	run -128 --separate-stderr dos cat-object "$id"
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: object '$id' is corrupt" ]
	run -1 --separate-stderr dos cat-object --batch <<<"$id"
	[ "$output" = "$id corrupt" ]
	others_intact
	cp pack.copy "$pack"
	run -0 --separate-stderr dos cat-object "$id"
	[ "$output" = 0123456789 ]
	flip_byte_at $((off + 1))
	run -128 --separate-stderr dos cat-object "$id"
	[ "$stderr" = "dos-cat-object: fatal: object '$id' is corrupt" ]
	others_intact
}

@test "a damaged packed entry with a loose copy beside it: the loose copy answers" {
	pack_for_damage
	flip_byte_at $((off + 5))
	run -128 --separate-stderr dos cat-object "$id"
	[ "$stderr" = "dos-cat-object: fatal: object '$id' is corrupt" ]
	# A loose copy (as --keep-loose leaves, or put back by hand).
	mkdir -p "$(dirname "$(loose_path "$id")")"
	cp data/ten "$(loose_path "$id")"
	run -0 --separate-stderr dos cat-object "$id"
	[ "$output" = 0123456789 ]
	[ "$stderr" = "" ]
	run -0 --separate-stderr dos cat-object --batch <<<"$id"
	[ "$output" = "$(printf '%s 10\n0123456789' "$id")" ]
}

@test "a truncated pack: objects past the cut are corrupt, earlier ones fine" {
	pack_for_damage
	# Cut inside the header of the fourth entry.
	dos cat-object --batch-all-objects --batch-check='%(offset) %(objectname)' >entries
	sort -n -o entries entries
	cut_at=$(($(sed -n 4p entries | cut -d' ' -f1) + 8))
	truncate -s "$cut_at" "$pack"
	head -n 3 entries | cut -d' ' -f2 >good
	tail -n 3 entries | cut -d' ' -f2 >bad
	grep -F -f good manifest >good.manifest
	[ "$(wc -l <good.manifest)" -eq 3 ]
	all_intact good.manifest
	while read -r oid; do
		run -128 --separate-stderr dos cat-object "$oid"
		[ "$output" = "" ]
		[ "$stderr" = "dos-cat-object: fatal: object '$oid' is corrupt" ]
	done <bad
	# --batch-check answers from the index and does not read the pack.
	run -0 --separate-stderr dos cat-object --batch-all-objects --batch-check='%(objectname)'
	[ "${#lines[@]}" -eq 6 ]
	run -1 --separate-stderr dos cat-object --batch-all-objects --batch
	grep ' corrupt$' <<<"$output" | cut -d' ' -f1 >actual
	sort bad >expect
	diff -u expect actual
	for oid in $(sort bad); do echo "dos-cat-object: error: object '$oid' is corrupt"; done >expect
	printf '%s\n' "$stderr" >actual
	diff -u expect actual
}

@test "after a truncated pack, new objects are still written and read" {
	pack_for_damage
	size=$(size_of "$pack")
	truncate -s $((size - 3)) "$pack"
	printf 'new after damage' >new
	run -0 --separate-stderr dos hash-object -w --to-pack new
	run -0 --separate-stderr dos cat-object "$(sha256_of new)"
	[ "$output" = "new after damage" ]
	printf 'new loose' >new2
	dos hash-object -w new2 >/dev/null
	run -0 --separate-stderr dos pack -q
	run -0 --separate-stderr dos cat-object "$(sha256_of new2)"
	[ "$output" = "new loose" ]
}

@test "--unordered over a truncated pack lists the same objects as sorted" {
	pack_for_damage
	dos cat-object --batch-all-objects --batch-check='%(offset) %(objectname)' >entries
	sort -n -o entries entries
	truncate -s $(($(sed -n 4p entries | cut -d' ' -f1) + 8)) "$pack"
	dos cat-object --batch-all-objects --batch-check='%(objectname)' >sorted
	[ "$(wc -l <sorted)" -eq 6 ]
	run --separate-stderr dos cat-object --batch-all-objects --unordered --batch-check='%(objectname)'
	printf '%s\n' "$output" | sort >unordered
	# An export must not skip damaged objects silently.
	diff -u sorted unordered
	run -1 --separate-stderr dos cat-object --batch-all-objects --unordered --batch
	[ "$(grep -c ' corrupt$' <<<"$output")" -eq 3 ]
}

@test "a missing pack file: its objects are corrupt (128)" {
	pack_for_damage
	rm "$pack"
	reads_as_corrupt "$id"
	# It still exists as far as -e is concerned (fsck judges damage).
	run -0 dos cat-object -e "$id"
	# Listings still name every object, and --batch reports each one.
	cut -d' ' -f1 manifest >expect
	run -0 --separate-stderr dos cat-object --batch-all-objects --batch-check='%(objectname)'
	printf '%s\n' "$output" >actual
	diff -u expect actual
	run -0 --separate-stderr dos cat-object --batch-all-objects --unordered --batch-check='%(objectname)'
	printf '%s\n' "$output" | sort >actual
	diff -u expect actual
	run -1 --separate-stderr dos cat-object --batch-all-objects --batch
	sed 's/$/ corrupt/' expect >expect.corrupt
	printf '%s\n' "$output" >actual
	diff -u expect.corrupt actual
}

@test "an index deleted by hand: readers stop and say so until it is rebuilt" {
	pack_for_damage
	rm -rf "$DOS_DIR/index"
	run -128 --separate-stderr dos cat-object "$id"
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "dos-cat-object: fatal: '$DOS_DIR' has packs but no index/: it was lost, or not copied with them" ]
	run -128 --separate-stderr dos cat-object --batch <<<"$id"
	[ "$output" = "" ]
	run -0 --separate-stderr dos fsck --repair
	dos cat-object "$id" >read_back
	[ "$(sha256_of read_back)" = "$id" ]
}

@test "an index deleted by hand: writers refuse, and the pack data stays" {
	pack_for_damage
	cp "$pack" pack.copy
	rm -rf "$DOS_DIR/index"
	printf 'after' >after
	run -128 --separate-stderr dos hash-object -w after
	run -128 --separate-stderr dos pack -q
	run -128 --separate-stderr dos hash-object -w --to-pack data/abc
	cmp pack.copy "$pack"
	[ ! -e "$DOS_DIR/index" ]
}

@test "kill -9 of hash-object --to-pack at random moments loses nothing acknowledged" {
	make_line_objects 2000 'crash test object'
	# Where each record ends.
	awk '{ h = $0; getline c; getline
	    end += length(h) + 1 + length(c) + 1 + 1; print end }' records >ends
	[ "$(tail -n 1 ends)" -eq "$(size_of records)" ]
	split -l 100 paths chunk.
	for round in 1 2 3 4 5; do
		rm -rf "$DOS_DIR" && dos init -q "$DOS_DIR"
		# Pauses in the input make the writer commit and answer often.
		# (Its answers go to a file: a fifo's reader would wait forever
		# for a writer killed before it opened its end.)
		for c in chunk.*; do cat "$c"; sleep 0.02; done |
		    dos hash-object -w --to-pack --stdin-paths >out 2>err 3>&- &
		writer=$!
		sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
		kill -9 "$writer" 2>/dev/null || true
		wait "$writer" || true
		# Only whole lines count as acknowledged.
		n=$(wc -l <out)
		head -n "$n" out >acked
		head -n "$n" ids >expect_ids
		diff -u expect_ids acked
		if [ "$n" -gt 0 ]; then
			head -c "$(sed -n "${n}p" ends)" records >expect
			dos cat-object --batch <acked >actual
			cmp expect actual
		fi
		# The next writer simply works and finishes the job.
		to_pack_all
		[ "$(loose_files)" = "" ]
	done
}

@test "hash-object -w --to-pack killed while a batch commits beside the next loses nothing acknowledged" {
	make_line_objects 9000 'sealed batch object'
	# The syncs and commits of the first two batches, which a thread
	# makes while the next batch is read (the first commit makes the
	# pack).
	DOS_FAULT_LOG=points dos hash-object -w --to-pack --stdin-paths <paths >/dev/null
	grep -E ' (pack-fdatasync|index-commit)$' points | sed -n '3,10p' |
	    cut -d' ' -f1 >kills
	[ "$(wc -l <kills)" -eq 8 ]
	while read -r n; do
		rm -rf "$DOS_DIR" && dos init -q "$DOS_DIR"
		status=0
		DOS_FAULT=kill:$n dos hash-object -w --to-pack --stdin-paths \
		    <paths >out 2>err || status=$?
		[ "$status" -eq 137 ]
		[ "$(cat err)" = "" ]
		# What was printed was committed: whole lines, in input order.
		acked=$(wc -l <out)
		head -n "$acked" out >acked_ids
		head -n "$acked" ids >expect_ids
		diff -u expect_ids acked_ids
		head -n "$acked" ids | dos cat-object --batch >actual
		head -n "$((3 * acked))" records >expect
		cmp expect actual
		run -0 --separate-stderr dos fsck -q
		[ "$output" = "" ]
		to_pack_all
	done <kills
}

@test "kill -9 of dos pack at random moments: every object still reads, the next pack finishes" {
	make_line_objects 1000 'pack kill object'
	for round in 1 2 3; do
		rm -rf "$DOS_DIR" && dos init -q "$DOS_DIR"
		dos hash-object -w --stdin-paths <paths >/dev/null
		dos pack -q 3>&- &
		packer=$!
		sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
		kill -9 "$packer" 2>/dev/null || true
		wait "$packer" || true
		dos cat-object --batch <ids >actual
		cmp records actual
		run -0 --separate-stderr timeout 20 dos pack -q --no-wait
		[ "$stderr" = "" ]
		[ "$(loose_files)" = "" ]
		dos cat-object --batch <ids >actual
		cmp records actual
	done
}
