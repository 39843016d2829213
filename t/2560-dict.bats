#!/usr/bin/env bats
# zstd dictionaries for small objects (dos-container(5), DICTIONARIES): a
# pack writer that packs enough small objects trains dicts/1 and
# compresses the rest against it; the objects read back, fsck checks the
# dictionary, a damaged or missing one is an error that names it and is
# never used, repack and gc keep it, export writes its objects whole.
load helper

# 5,000 small objects packed in one run: the first 4,096 are the sample,
# the rest use dicts/1.  ids holds their ids in pack order, paths "id
# path", and $FIRST and $LAST are the first and the last packed.
packed_with_dict() {
	json_objects 5000 json
	ls json | sed 's|^|json/|' |
	    dos hash-object -w --stdin-paths --with-path >paths || return 1
	dos pack -q || return 1
	dos cat-object --batch-all-objects --batch-check='%(offset) %(objectname)' >offsets || return 1
	sort -n offsets | cut -d' ' -f2 >ids
	FIRST=$(head -1 ids)
	LAST=$(tail -1 ids)
}

# The file object $1 was stored from.
path_of() {
	grep "^$1"$'\t' paths | cut -f2
}

# Every object of ids reads back, verified, one by one and in a batch.
all_intact() {
	local id
	while read -r id; do
		dos cat-object --verify "$id" >out || return 1
		[ "$(sha256_of out)" = "$id" ] || return 1
		cmp out "$(path_of "$id")" || return 1
	done < <(sed -n '1p;4090,4110p;$p' ids)
	dos cat-object --batch --verify <ids >batch || return 1
	[ "$(grep -c '^[0-9a-f]\{64\} [0-9]*$' batch)" -eq 5000 ]
}

@test "small objects past the sample are packed against dicts/1 and read back" {
	packed_with_dict
	[ -f "$DOS_DIR/dicts/1" ]
	[ "$(stat -c %a "$DOS_DIR/dicts/1")" = 444 ]
	run -0 ls "$DOS_DIR/dicts"
	[ "$output" = 1 ]
	# Without a dictionary (so stored raw: zstd alone saves too
	# little), and zstd with one (bit 3).
	[ "$(tag_of "$FIRST")" = $((0xd0)) ]
	[ "$(tag_of "$LAST")" = $((0xda)) ]
	all_intact
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
	# The next writer uses it, and trains no other.
	printf '{"uuid": "later", "node_type": "data.core.int.Int.", "label": "run later"}' >later
	later=$(dos hash-object -w --to-pack later)
	[ "$(tag_of "$later")" = $((0xda)) ]
	run -0 ls "$DOS_DIR/dicts"
	[ "$output" = 1 ]
	run -0 dos cat-object --verify "$later"
	[ "$output" = "$(cat later)" ]
}

@test "the dictionary pays: the objects after the sample take less room" {
	packed_with_dict
	with=$(($(stat -c %s "$DOS_DIR/packs/0") - $(offset_of "$(sed -n 4097p ids)")))
	# The same 904 objects packed in a run too short to train.
	sed -n '4097,$p' ids >after
	while read -r id; do
		path_of "$id"
	done <after >after-paths
	dos init -q plain
	dos -d plain hash-object -w --to-pack --stdin-paths <after-paths >/dev/null
	[ ! -e plain/dicts ]
	without=$(($(stat -c %s plain/packs/0) - 16))
	[ "$with" -lt $((without * 3 / 4)) ]
}

@test "a dictionary that cannot be written is reported; its objects are packed without it" {
	# A directory where its temporary file goes: the write fails.
	mkdir -p "$DOS_DIR/dicts/1.tmp"
	json_objects 5000 json
	ls json | sed 's|^|json/|' |
	    dos hash-object -w --stdin-paths --with-path >paths
	run -0 --separate-stderr dos pack -q
	[ "$stderr" = "dos-pack: warning: unable to write dictionary dicts/1: Is a directory; small objects were packed without it" ]
	[ ! -e "$DOS_DIR/dicts/1" ]
	dos cat-object --batch-all-objects --batch-check='%(offset) %(objectname)' >offsets
	sort -n offsets | cut -d' ' -f2 >ids
	LAST=$(tail -1 ids)
	tag=$(tag_of "$LAST")
	# No entry names a dictionary (bit 3).
	[ $((tag & 8)) -eq 0 ]
	all_intact
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "a damaged dictionary is reported by fsck and never used" {
	packed_with_dict
	chmod u+w "$DOS_DIR/dicts/1"
	flip "$DOS_DIR/dicts/1" 5000
	run -128 --separate-stderr dos cat-object "$LAST"
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: unable to read object '$LAST': dictionary dicts/1 is damaged (checksum mismatch)" ]
	run -128 --separate-stderr dos cat-object --batch <<<"$LAST"
	[ "$output" = "" ]
	[[ "$stderr" = *"dictionary dicts/1 is damaged (checksum mismatch)" ]]
	# Objects packed without it are still read.
	run -0 dos cat-object --verify "$FIRST"
	[ "$output" = "$(cat "$(path_of "$FIRST")")" ]
	# A damaged pack (4) and missing objects (2).
	run -6 --separate-stderr dos fsck
	[ "${lines[0]}" = "bad-dictionary dicts/1 dictionary dicts/1 is damaged (checksum mismatch)" ]
	[ "$(grep -c "^missing-dictionary $LAST pack 0 offset=$(offset_of "$LAST") needs dicts/1\$" <<<"$output")" = 1 ]
	# The object that completed the sample and those after it, less
	# those the writer's other threads compressed while it trained.
	n=$(grep -c '^missing-dictionary ' <<<"$output")
	[ "$n" -ge 600 ]
	[ "$n" -le 905 ]
	# The writer does not use it either: new objects go without.
	printf '{"uuid": "later", "node_type": "data.core.int.Int.", "label": "run later"}' >later
	later=$(dos hash-object -w --to-pack later)
	[ "$(tag_of "$later")" = $((0xd0)) ]
}

@test "a dictionary of another container is refused" {
	packed_with_dict
	dos init -q other
	cp -r json other-json
	dos -d other hash-object -w --recursive other-json >/dev/null
	dos -d other pack -q
	[ -f other/dicts/1 ]
	chmod u+w "$DOS_DIR/dicts/1"
	cp other/dicts/1 "$DOS_DIR/dicts/1"
	run -128 --separate-stderr dos cat-object "$LAST"
	[ "$stderr" = "dos-cat-object: fatal: unable to read object '$LAST': dictionary dicts/1 belongs to another container" ]
	run -6 dos fsck
	[ "${lines[0]}" = "bad-dictionary dicts/1 dictionary dicts/1 belongs to another container" ]
}

@test "a removed dictionary: reads fail naming it, a loose copy is still read" {
	packed_with_dict
	rm -f "$DOS_DIR/dicts/1"
	run -128 --separate-stderr dos cat-object "$LAST"
	[ "$stderr" = "dos-cat-object: fatal: unable to read object '$LAST': dictionary dicts/1 is missing" ]
	run -2 dos fsck
	[ "$(grep -c "^missing-dictionary $LAST pack 0 offset=$(offset_of "$LAST") needs dicts/1\$" <<<"$output")" = 1 ]
	# The object that completed the sample and those after it, less
	# those the writer's other threads compressed while it trained.
	n=$(grep -c '^missing-dictionary ' <<<"$output")
	[ "$n" -ge 600 ]
	[ "$n" -le 905 ]
	# --repair keeps the records, for the dictionary to come back.
	run -2 dos fsck --repair
	run -128 --separate-stderr dos cat-object "$LAST"
	[ "$stderr" = "dos-cat-object: fatal: unable to read object '$LAST': dictionary dicts/1 is missing" ]
	# A loose copy (which a writer would not make, the object being
	# packed) is read instead.
	mkdir -p "$(dirname "$(loose_path "$LAST")")"
	cp "$(path_of "$LAST")" "$(loose_path "$LAST")"
	run -0 dos cat-object --verify "$LAST"
	[ "$output" = "$(cat "$(path_of "$LAST")")" ]
}

@test "repack and gc keep the dictionary and the entries that need it" {
	packed_with_dict
	sed -n '1,2000p' ids >doomed
	run -0 dos rm --stdin <doomed
	run -0 dos repack
	run -0 dos gc
	[ -f "$DOS_DIR/dicts/1" ]
	[ "$(tag_of "$LAST")" = $((0xda)) ]
	run -0 dos repack --compress=always
	[ "$(tag_of "$LAST")" = $((0xda)) ]
	# Recompressed, the objects of the sample get it too.
	[ "$(tag_of "$(sed -n 3000p ids)")" = $((0xda)) ]
	sed -n '2001,$p' ids >kept
	while read -r id; do
		dos cat-object --verify "$id" >/dev/null || exit 1
	done < <(sed -n '1p;2000p;$p' kept)
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "gc --aggressive keeps the smaller of each object against the dictionary at 3 and at 15" {
	packed_with_dict
	run -0 dos repack --compress=zstd:3
	at3=$(stat -c %s "$DOS_DIR/packs/1")
	run -0 dos gc --aggressive
	run -0 ls "$DOS_DIR/dicts"
	[ "$output" = 1 ]
	# Compressed once at 12, in groups, they took less room than at 3.
	hard=$(stat -c %s "$DOS_DIR/packs/2")
	[ "$hard" -lt "$at3" ]
	# Groups of zstd, against the dictionary where it helped.
	[ $(($(tag_of "$FIRST") & 0xf3)) = $((0xe2)) ]
	[ $(($(tag_of "$LAST") & 0xf3)) = $((0xe2)) ]
	all_intact
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "export writes objects decoded: an import needs no dictionary" {
	packed_with_dict
	dos export -q >all.dosx
	dos init -q copy
	run -0 dos -d copy import all.dosx
	rm -rf "$DOS_DIR"
	dos -d copy cat-object --batch --verify <ids >batch
	[ "$(grep -c '^[0-9a-f]\{64\} [0-9]*$' batch)" -eq 5000 ]
	run -0 --separate-stderr dos -d copy fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "no dictionary for containers compressed otherwise, or few objects" {
	json_objects 5000 json
	dos init -q --compression=zlib zl
	dos -d zl hash-object -w --to-pack --recursive json >/dev/null
	[ ! -e zl/dicts ]
	json_objects 1000 few 8
	dos hash-object -w --to-pack --recursive few >/dev/null
	[ ! -e "$DOS_DIR/dicts" ]
	run -0 --separate-stderr dos hash-object -w --to-pack --recursive json
	[ -f "$DOS_DIR/dicts/1" ]
}

@test "the index rebuilds from packs whose entries need the dictionary" {
	packed_with_dict
	rm -rf "$DOS_DIR/index"
	mkdir "$DOS_DIR/index"
	run -0 dos fsck --repair
	all_intact
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
}
