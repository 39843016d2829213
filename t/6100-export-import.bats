#!/usr/bin/env bats
# dos export and dos import: round trips (ids, contents and codecs kept,
# fsck clean), duplicates, --since markers, ids from stdin, --from, a
# pipe, streams cut short or damaged, objects damaged at the source, the
# pack lock, and usage errors.
load helper

XYZ_OID=3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282
ZERO_OID=0000000000000000000000000000000000000000000000000000000000000000
EXPORT_USAGE='usage: dos export [-q] [--[no-]progress] [--marker-file=<file>] [--cache-size=<size>]'
IMPORT_USAGE='usage: dos import [-q] [--[no-]progress] [--no-wait] [<file>]'

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export DOS_DIR="$BATS_TEST_TMPDIR/store"
	dos init -q "$DOS_DIR"
	dos init -q dest
	ID=$(sed -n 's/.*"container_id": *"\([0-9a-f]*\)".*/\1/p' "$DOS_DIR/config.json")
}

# abc loose, xyz packed: 6 bytes in all.
two_objects() {
	printf abc >abc
	printf xyz >xyz
	dos hash-object -w abc >/dev/null
	dos hash-object -w --to-pack xyz >/dev/null
}

# Ids, sizes and codecs of every object of container $1.
listing() {
	dos --dir="$1" cat-object --batch-all-objects \
	    --batch-check='%(objectname) %(objectsize) %(compression)'
}

# dos export with the arguments after $1, the stream going to file $1.
export_to() {
	local file=$1
	shift
	dos export "$@" >"$file"
}

# dos fsck finds no problem in dest.
dest_is_clean() {
	run -0 dos --dir=dest fsck
	[ "$output" = "dos fsck: no problems found" ]
}

# Importing stream $1 into dest stores xyz, and reports abc damaged.
only_xyz_imported_from() {
	run -1 --separate-stderr dos --dir=dest import "$1"
	[ "$stderr" = "dos-import: error: object $ABC_OID not stored: its bytes do not match its id
imported 1 object (3 bytes), 0 already present, 1 damaged" ]
	run -0 dos --dir=dest ls
	[ "$output" = "$XYZ_OID" ]
	dest_is_clean
}

# The marker of the store now: its newest pack is 0.
marker() {
	echo "$ID:0:$(stat -c %s "$DOS_DIR/packs/0")"
}

@test "export then import copies every object: ids, contents, fsck clean" {
	two_objects
	run -0 --separate-stderr export_to s --marker-file=m
	[ "$output" = "" ]
	[ "$stderr" = "exported 2 objects (6 bytes), marker $(marker)" ]
	[ "$(cat m)" = "$(marker)" ]
	run -0 --separate-stderr dos --dir=dest import s
	[ "$output" = "" ]
	[ "$stderr" = "imported 2 objects (6 bytes), 0 already present" ]
	run -0 dos --dir=dest cat-object "$ABC_OID"
	[ "$output" = abc ]
	run -0 dos --dir=dest cat-object "$XYZ_OID"
	[ "$output" = xyz ]
	dest_is_clean
	# Straight into packs: nothing loose.
	run -0 dos --dir=dest ls --loose
	[ "$output" = "" ]
}

@test "compressed objects keep their codec, small and streamed ones" {
	seq 1 500 >text
	seq 1 2000000 >large
	dos hash-object -w --to-pack text large >/dev/null
	listing "$DOS_DIR" >before
	grep -q ' zstd$' before
	dos export -q >s
	dos --dir=dest import -q <s
	listing dest >after
	cmp before after
	run -0 dos --dir=dest cat-object "$(sha256_of large)"
	[ "$output" = "$(cat large)" ]
	dest_is_clean
}

@test "packed objects keep their codec, none too; loose ones are compressed" {
	dos init -q --compression=none raw
	seq 1 500 >packed
	seq 1 600 >loose
	dos --dir=raw hash-object -w --to-pack packed >/dev/null
	dos --dir=raw hash-object -w loose >/dev/null
	dos --dir=raw export -q >s
	dos --dir=dest import -q s
	run -0 listing dest
	# In id order: loose, then packed.
	[ "$output" = "$(sha256_of loose) 2292 zstd
$(sha256_of packed) 1892 none" ]
}

@test "objects already present are skipped" {
	two_objects
	dos export -q >s
	dos --dir=dest hash-object -w abc >/dev/null
	run -0 --separate-stderr dos --dir=dest import s
	[ "$stderr" = "imported 1 object (3 bytes), 1 already present" ]
	run -0 --separate-stderr dos --dir=dest import s
	[ "$stderr" = "imported 0 objects (0 bytes), 2 already present" ]
	dest_is_clean
}

@test "export | import through a pipe, and from a file named -" {
	two_objects
	set -o pipefail
	dos export -q | dos --dir=dest import -q
	[ "${PIPESTATUS[0]}" = 0 ]
	listing "$DOS_DIR" >before
	listing dest >after
	cmp before after
	dos export -q >s
	run -0 --separate-stderr dos --dir=dest import - <s
	[ "$stderr" = "imported 0 objects (0 bytes), 2 already present" ]
}

@test "--since sends only what was stored after the marker" {
	two_objects
	dos export -q --marker-file=m >s
	dos --dir=dest import -q s
	since=$(cat m)
	# Nothing new: the loose abc only (loose objects always go).
	run -0 --separate-stderr export_to s1 --since="$since"
	[ "$stderr" = "exported 1 object (3 bytes), marker $since" ]
	seq 1 100 >new
	dos hash-object -w new >/dev/null
	dos pack -q
	dos export -q --since="$since" >s2
	run -0 --separate-stderr dos --dir=dest import s2
	# abc, packed since, comes again.
	[ "$stderr" = "imported 1 object (292 bytes), 1 already present" ]
	listing "$DOS_DIR" >before
	listing dest >after
	cmp before after
}

@test "a marker of another container, ahead of it, or no marker, is refused" {
	two_objects
	other=0123456789abcdef0123456789abcdef
	run -128 --separate-stderr dos export --since="$other:0:16"
	[ "$output" = "" ]
	[ "$stderr" = "dos-export: fatal: marker '$other:0:16' is of another container (this one is $ID)" ]
	run -128 --separate-stderr dos export --since="$ID:1:0"
	[ "$stderr" = "dos-export: fatal: marker '$ID:1:0' is ahead of this container: its packs were replaced since" ]
	run -128 --separate-stderr dos export --since="$(marker)0"
	[ "$stderr" = "dos-export: fatal: marker '$(marker)0' is ahead of this container: its packs were replaced since" ]
	usage_error export "not a marker: '$ID:0'" --since="$ID:0"
	usage_error export "not a marker: '$ID:01:0'" --since="$ID:01:0"
}

@test "--stdin exports the objects named, in their order; unknown names exit 1" {
	two_objects
	printf '%s\n' "$XYZ_OID" "${ABC_OID:0:8}" >ids
	run -0 --separate-stderr export_to s --stdin <ids
	[ "$stderr" = "exported 2 objects (6 bytes)" ]
	dos --dir=dest import -q s
	run -0 dos --dir=dest ls
	[ "$output" = "$(printf '%s\n' "$ABC_OID" "$XYZ_OID" | sort)" ]
	printf '%s\n' "$ZERO_OID" nothex "$ABC_OID" >ids2
	run -1 --separate-stderr export_to s2 --stdin <ids2
	[ "$stderr" = "dos-export: error: '$ZERO_OID': no such object
dos-export: error: 'nothex': not a valid object name
exported 1 object (3 bytes)" ]
	printf '%s\0' "$ABC_OID" >ids3
	run -0 --separate-stderr export_to s3 --stdin -z <ids3
	[ "$stderr" = "exported 1 object (3 bytes)" ]
}

@test "--from copies another container directly" {
	two_objects
	seq 1 500 >text
	dos hash-object -w --to-pack text >/dev/null
	run -0 --separate-stderr dos --dir=dest import --from="$DOS_DIR"
	[ "$stderr" = "imported 3 objects (1.9 KiB), 0 already present" ]
	listing "$DOS_DIR" >before
	listing dest >after
	cmp before after
	run -0 --separate-stderr dos --dir=dest import --from="$DOS_DIR"
	[ "$stderr" = "imported 0 objects (0 bytes), 3 already present" ]
	run -128 --separate-stderr dos --dir=dest import --from=nowhere
	[ "${stderr%%$'\n'*}" = "dos-import: fatal: not a dos container: 'nowhere'" ]
}

@test "a stream cut short keeps every whole object and names what was lost" {
	two_objects
	dos export -q >s
	# Header 16, abc's record 64 + 3 + 8, then xyz's header and 1 byte.
	head -c $((16 + 75 + 64 + 1)) s >cut
	run -1 --separate-stderr dos --dir=dest import cut
	[ "$output" = "" ]
	[ "$stderr" = "dos-import: error: cut is cut short at byte 156, in object $XYZ_OID: that object and any after it are lost
imported 1 object (3 bytes), 0 already present" ]
	run -0 dos --dir=dest ls
	[ "$output" = "$ABC_OID" ]
	# Cut between records: the end record is missing.
	head -c $((16 + 75 + 75)) s >cut2
	run -1 --separate-stderr dos --dir=dest import <cut2
	[ "$stderr" = "dos-import: error: the stream is cut short at byte 166, after 2 objects: any after them are lost
imported 1 object (3 bytes), 1 already present" ]
	dest_is_clean
}

@test "a damaged byte in an object is never stored; the rest is" {
	two_objects
	dos export -q >s
	# The first byte of abc's data.
	printf 'X' | dd of=s bs=1 seek=$((16 + 64)) conv=notrunc 2>/dev/null
	only_xyz_imported_from s
}

@test "packed bytes that match their checksum but not their id are never stored" {
	two_objects
	dos pack -q
	dos export -q >s
	# abc's bytes made abd's, and the checksum after them made theirs:
	# only the hash, checked in the writer's threads, tells.
	python3 - s <<'EOF'
import struct, sys, zlib
path = sys.argv[1]
b = bytearray(open(path, 'rb').read())
data = b.index(b'abc', 16)
b[data + 2] = ord('d')
b[data + 3:data + 7] = struct.pack('>I', zlib.crc32(b[data:data + 3]))
open(path, 'wb').write(b)
EOF
	only_xyz_imported_from s
}

@test "a damaged record header ends the stream; an end that miscounts is told" {
	two_objects
	dos export -q >s
	cp s s2
	printf 'X' | dd of=s bs=1 seek=$((16 + 75 + 30)) conv=notrunc 2>/dev/null
	run -1 --separate-stderr dos --dir=dest import s
	[ "$stderr" = "dos-import: error: s is damaged at byte 91, after 1 object: the rest of it is lost
imported 1 object (3 bytes), 0 already present" ]
	printf 'junk' >>s2
	run -1 --separate-stderr dos --dir=dest import s2
	[ "$stderr" = "dos-import: error: s2 goes on after its end, at byte 230
imported 1 object (3 bytes), 1 already present" ]
}

@test "an object damaged at the source is sent marked so and never stored" {
	seq 1 500 >text
	dos hash-object -w --to-pack text >/dev/null
	oid=$(sha256_of text)
	# Its header: 1,892 raw bytes stored in 128 to 16,383 (sizes of 2
	# bytes each, as for 1,000).
	local hdr
	hdr=$(entry_header 1892 1000)
	stored=$(($(stat -c %s "$DOS_DIR/packs/0") - 16 - hdr))
	# A byte of its stored data, after the pack and entry headers.
	printf 'X' | dd of="$DOS_DIR/packs/0" bs=1 seek=$((16 + hdr + 20)) conv=notrunc 2>/dev/null
	run -1 --separate-stderr export_to s
	[ "$stderr" = "dos-export: error: object $oid could not be read (stored data is corrupt); sent marked damaged
exported 1 object (${stored} bytes), marker $(marker)" ]
	run -1 --separate-stderr dos --dir=dest import s
	[ "$stderr" = "dos-import: error: object $oid not stored: it was damaged at the source
imported 0 objects (0 bytes), 0 already present, 1 damaged" ]
	run -0 dos --dir=dest ls
	[ "$output" = "" ]
}

@test "import of what is no stream is fatal" {
	printf 'hello' >notes
	run -128 --separate-stderr dos import notes
	[ "$stderr" = "dos-import: fatal: notes is not a dos export stream" ]
	run -128 --separate-stderr dos import </dev/null
	[ "$stderr" = "dos-import: fatal: the stream is not a dos export stream" ]
	run -128 --separate-stderr dos import missing-file
	[ "$stderr" = "dos-import: fatal: unable to open 'missing-file': No such file or directory" ]
}

@test "import waits for the pack lock, or exits 75 with --no-wait" {
	two_objects
	dos export -q >s
	export DOS_DIR="$BATS_TEST_TMPDIR/dest"
	start_holder
	lock_refused import "$BATS_TEST_TMPDIR/s"
	stop_holder
	run -0 --separate-stderr dos import "$BATS_TEST_TMPDIR/s"
	[ "$stderr" = "imported 2 objects (6 bytes), 0 already present" ]
}

@test "usage: -h, bad options and operands" {
	run -0 dos export -h
	[ "${output%%$'\n'*}" = "$EXPORT_USAGE" ]
	run -0 dos import -h
	[ "${output%%$'\n'*}" = "$IMPORT_USAGE" ]
	usage_error export "--since and --stdin exclude each other" --stdin --since="$ID:0:0"
	usage_error export "-z needs --stdin" -z
	usage_error export "--marker-file needs a whole or --since export" --stdin --marker-file=m
	usage_error import "too many arguments" a b
	usage_error import "too many arguments" --from=x a
	[ "$(man_synopsis dos-export)" = "dos export [-q] [--[no-]progress] [--marker-file=file] [--cache-size=size] [--since=marker | --stdin [-z]]" ]
	[ "$(man_synopsis dos-import)" = "dos import [-q] [--[no-]progress] [--no-wait] [file]" ]
}

@test "progress on a terminal, or with --progress; never with -q or --no-progress" {
	mkdir files
	for i in $(seq 1 1000); do echo "$i" >"files/$i"; done
	find files -type f | dos hash-object -w --stdin-paths >/dev/null
	DOS_PROGRESS_INTERVAL=0 run -0 --separate-stderr export_to s --progress
	progress_counts "exporting objects" 1000 "${stderr_lines[0]}"
	[ "${stderr_lines[1]}" = "exported 1000 objects (3.8 KiB), marker $ID:0:0" ]
	run -0 --separate-stderr export_to s2 --progress -q
	[ "$stderr" = "" ]
	run -0 --separate-stderr export_to s3
	[ "$stderr" = "exported 1000 objects (3.8 KiB), marker $ID:0:0" ]
	cmp s s2
	# Standard error a terminal: progress by default, --no-progress off.
	DOS_PROGRESS_INTERVAL=1000 run -0 script -qec "dos --dir=dest import s" /dev/null
	[ "$output" = $'\rimporting objects: 1000, done.\r\nimported 1000 objects (3.8 KiB), 0 already present\r' ]
	run -0 script -qec "dos --dir=dest import --no-progress s" /dev/null
	[ "$output" = $'imported 0 objects (0 bytes), 1000 already present\r' ]
}
