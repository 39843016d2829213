#!/usr/bin/env bats
# dos count-objects and dos status: counts, sizes and garbage.
load helper

# abc (3 bytes), the empty object and text (13893 bytes): 13896 bytes.
make_files() {
	printf abc >abc
	: >empty
	seq 1 3000 >text
}

# Bytes the files of index/ take on the disk (512-byte blocks).
index_bytes() {
	find "$DOS_DIR/index" -type f -printf '%b\n' |
	    awk '{ n += $1 } END { print n * 512 }'
}

# count-objects -v with the size-index line, which depends on the file
# system, checked against the disk and then blanked.
count_v() {
	dos count-objects -v "$@" >raw
	want=$(index_bytes)
	got=$(sed -n 's/^size-index: //p' raw)
	if [ "$*" = "" ]; then
		[ "$got" -eq $(((want + 1023) / 1024)) ]
	fi
	sed 's/^size-index: .*/size-index: X/' raw
}

@test "an empty container: no objects, no bytes" {
	run -0 --separate-stderr dos count-objects
	[ "$output" = "0 loose objects, 0 packed objects, 0 kilobytes" ]
	[ "$stderr" = "" ]
	dos count-objects -v >actual
	cat >expect <<-EOF
	loose: 0
	size-loose: 0
	packed: 0
	packs: 0
	size-pack: 0
	size-packed-raw: 0
	size-index: 0
	prune-packable: 0
	garbage: 0
	size-garbage: 0
	EOF
	diff -u expect actual
	dos count-objects -v -H >actual
	cat >expect <<-EOF
	loose: 0
	size-loose: 0 bytes
	packed: 0
	packs: 0
	size-pack: 0 bytes
	size-packed-raw: 0 bytes
	size-index: 0 bytes
	prune-packable: 0
	garbage: 0
	size-garbage: 0 bytes
	EOF
	diff -u expect actual
	run -0 dos count-objects -H
	[ "$output" = "0 loose objects, 0 packed objects, 0 bytes" ]
}

@test "loose objects: counted, sizes in KiB rounded up" {
	make_files
	dos hash-object -w abc empty text >/dev/null
	run -0 --separate-stderr dos count-objects
	[ "$output" = "3 loose objects, 0 packed objects, 14 kilobytes" ]
	dos count-objects -v >actual
	cat >expect <<-EOF
	loose: 3
	size-loose: 14
	packed: 0
	packs: 0
	size-pack: 0
	size-packed-raw: 0
	size-index: 0
	prune-packable: 0
	garbage: 0
	size-garbage: 0
	EOF
	diff -u expect actual
	run -0 dos count-objects --human-readable
	[ "$output" = "3 loose objects, 0 packed objects, 13.6 KiB" ]
	rm -r "$DOS_DIR/loose"/*
	printf a >a
	dos hash-object -w a >/dev/null
	run -0 dos count-objects
	[ "$output" = "1 loose object, 0 packed objects, 1 kilobyte" ]
}

@test "packed objects: pack files, raw bytes and the index" {
	make_files
	pack_in_order abc empty text
	run -0 --separate-stderr dos count-objects
	[ "$output" = "0 loose objects, 3 packed objects, 14 kilobytes" ]
	[ "$stderr" = "" ]
	# 16 + 14 + 14 + 15 + 13896 bytes of pack (the text's size takes two
	# bytes of its header).
	[ "$(stat -c %s "$DOS_DIR/packs/0")" -eq 13955 ]
	count_v >actual
	cat >expect <<-EOF
	loose: 0
	size-loose: 0
	packed: 3
	packs: 1
	size-pack: 14
	size-packed-raw: 14
	size-index: X
	prune-packable: 0
	garbage: 0
	size-garbage: 0
	EOF
	diff -u expect actual
	count_v -H >actual
	cat >expect <<-EOF
	loose: 0
	size-loose: 0 bytes
	packed: 3
	packs: 1
	size-pack: 13.6 KiB
	size-packed-raw: 13.6 KiB
	size-index: X
	prune-packable: 0
	garbage: 0
	size-garbage: 0 bytes
	EOF
	diff -u expect actual
}

@test "loose and packed: an object in both counts in both and as prune-packable" {
	make_files
	pack_in_order text
	dos hash-object -w abc >/dev/null
	dos pack -q --compress=never --keep-loose
	dos hash-object -w empty >/dev/null
	run -0 --separate-stderr dos count-objects
	[ "$output" = "2 loose objects, 2 packed objects, 14 kilobytes" ]
	count_v >actual
	cat >expect <<-EOF
	loose: 2
	size-loose: 1
	packed: 2
	packs: 1
	size-pack: 14
	size-packed-raw: 14
	size-index: X
	prune-packable: 1
	garbage: 0
	size-garbage: 0
	EOF
	diff -u expect actual
	# dos pack removes the loose copy without packing it again.
	dos pack -q
	count_v -H >actual
	cat >expect <<-EOF
	loose: 0
	size-loose: 0 bytes
	packed: 3
	packs: 1
	size-pack: 13.6 KiB
	size-packed-raw: 13.6 KiB
	size-index: X
	prune-packable: 0
	garbage: 0
	size-garbage: 0 bytes
	EOF
	diff -u expect actual
}

@test "garbage: deleted objects, their tombstones and a torn tail" {
	make_files
	pack_in_order abc empty
	dos rm -q "$ABC_OID"
	# The dead entry (14 + 3 bytes) and the tombstone (38 bytes).
	count_v -H >actual
	cat >expect <<-EOF
	loose: 0
	size-loose: 0 bytes
	packed: 1
	packs: 1
	size-pack: 85 bytes
	size-packed-raw: 0 bytes
	size-index: X
	prune-packable: 0
	garbage: 2
	size-garbage: 55 bytes
	EOF
	diff -u expect actual
	# Bytes no commit covers: what a killed writer leaves.
	head -c 100 /dev/zero >>"$DOS_DIR/packs/0"
	run -0 --separate-stderr dos count-objects -v
	[ "$stderr" = "" ]
	[ "${lines[8]}" = "garbage: 3" ]
	[ "${lines[9]}" = "size-garbage: 1" ]
	run -0 dos count-objects -v -H
	[ "${lines[9]}" = "size-garbage: 155 bytes" ]
}

@test "a damaged pack and a missing pack are reported on stderr" {
	make_files
	pack_in_order abc empty text
	# The tag of the empty object's entry.
	printf Z | dd of="$DOS_DIR/packs/0" bs=1 seek=33 conv=notrunc 2>/dev/null
	run -0 --separate-stderr dos count-objects
	[ "$output" = "0 loose objects, 3 packed objects, 14 kilobytes" ]
	[ "$stderr" = "dos-count-objects: warning: 1 pack could not be read to the end; run 'dos fsck' for details" ]
	rm "$DOS_DIR/packs/0"
	run -0 --separate-stderr dos count-objects
	[ "$output" = "0 loose objects, 3 packed objects, 0 kilobytes" ]
	[ "$stderr" = "dos-count-objects: warning: 3 packed objects are in missing packs" ]
}

@test "count-objects: usage errors exit 129, outside a container 128" {
	run -129 --separate-stderr dos count-objects extra
	[ "$output" = "" ]
	[ "$stderr" = "dos-count-objects: error: too many arguments
usage: dos count-objects [-v] [-H | --human-readable]" ]
	run -129 --separate-stderr dos count-objects --json
	[ "$output" = "" ]
	mkdir notastore
	run -128 --separate-stderr dos count-objects --dir=notastore
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "dos-count-objects: fatal: not a dos container: 'notastore'" ]
}

@test "status: the configuration, then the count-objects -v -H block" {
	make_files
	pack_in_order abc empty text
	printf hello >hello
	dos hash-object -w hello >/dev/null
	id=$(sed -n 's/.*"container_id": "\(.*\)".*/\1/p' "$DOS_DIR/config.json")
	run -0 --separate-stderr dos status
	[ "$stderr" = "" ]
	printf '%s\n' "${lines[@]}" | sed 's/^size-index: .*/size-index: X/' >actual
	cat >expect <<-EOF
	path: $(realpath "$DOS_DIR")
	id: $id
	version: 1
	compression: zstd
	pack-size-target: 4.0 GiB
	loose-prefix-len: 2
	loose: 1
	size-loose: 5 bytes
	packed: 3
	packs: 1
	size-pack: 13.6 KiB
	size-packed-raw: 13.6 KiB
	size-index: X
	prune-packable: 0
	garbage: 0
	size-garbage: 0 bytes
	EOF
	diff -u expect actual
	dos count-objects -v -H >block
	sed -i 's/^size-index: .*/size-index: X/' block
	tail -n +7 actual | diff -u block -
}

@test "status --json: one object, numbers in bytes" {
	dos init -q --compression=zlib:6 --pack-size-target=1m \
	    --loose-prefix-len=3 other
	export DOS_DIR=$PWD/other
	make_files
	pack_in_order abc empty text
	printf hello >hello
	dos hash-object -w hello >/dev/null
	id=$(sed -n 's/.*"container_id": "\(.*\)".*/\1/p' "$DOS_DIR/config.json")
	dos status --json >out.json
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for k, v in d.items():
    print("%s=%s %s" % (k, v, type(v).__name__))
' out.json | sed 's/^size_index=[0-9]* int$/size_index=X int/' >actual
	cat >expect <<-EOF
	path=$DOS_DIR str
	id=$id str
	version=1 int
	compression=zlib:6 str
	pack_size_target=1048576 int
	loose_prefix_len=3 int
	loose=1 int
	size_loose=5 int
	packed=3 int
	packs=1 int
	size_pack=13955 int
	size_packed_raw=13896 int
	size_index=X int
	prune_packable=0 int
	garbage=0 int
	size_garbage=0 int
	EOF
	diff -u expect actual
	[ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["size_index"])' <out.json)" -eq "$(index_bytes)" ]
}

@test "status: usage errors exit 129, outside a container 128" {
	run -129 --separate-stderr dos status extra
	[ "$output" = "" ]
	[ "$stderr" = "dos-status: error: too many arguments
usage: dos status [--json]" ]
	run -129 --separate-stderr dos status -v
	[ "$output" = "" ]
	mkdir notastore
	run -128 --separate-stderr dos status --dir=notastore
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "dos-status: fatal: not a dos container: 'notastore'" ]
	run -128 --separate-stderr dos status --json --dir=notastore
	[ "$output" = "" ]
}

@test "the usages match the man page synopses" {
	[ "$(man_synopsis dos-count-objects)" = "dos count-objects [-v] [-H | --human-readable]" ]
	[ "$(man_synopsis dos-status)" = "dos status [--json]" ]
}
