#!/usr/bin/env bats
# Pack formats 1 and 2 side by side: a container written by a dos of
# format 1 (t/fixtures/format1/, made by the dos of main at 1faa0c4: raw,
# compressed and streamed entries, small JSON objects, a tombstone, a
# loose object) is read, written to and converted by repack and gc, also
# when killed at the steps of the conversion; damage to a format-2
# header or checksum is reported by fsck and never read.
load helper

FORMAT1="$BATS_TEST_DIRNAME/fixtures/format1"

# The fixture as $DOS_DIR; its index is rebuilt from its packs, as it is
# not part of the fixture.
format1_container() {
	rm -rf "$DOS_DIR"
	tar xf "$FORMAT1/container.tar"
	mv container "$DOS_DIR"
	mkdir "$DOS_DIR/index"
	run -0 dos fsck --repair
	cut -f1 "$FORMAT1/manifest.tsv" >ids
}

# The version a pack's header says.
pack_version() {
	od -An -tu4 -j 8 -N 4 "$DOS_DIR/packs/$1" | tr -d ' '
}

# Every object of the fixture reads back, verified, one by one and in a
# batch; the deleted one stays missing.
fixture_intact() {
	local id
	while read -r id; do
		dos cat-object --verify "$id" >out || return 1
		[ "$(sha256_of out)" = "$id" ] || return 1
	done <ids
	dos cat-object --batch <ids >batch || return 1
	[ "$(grep -c '^[0-9a-f]\{64\} [0-9]*$' batch)" -eq "$(wc -l <ids)" ] || return 1
	dos cat-object --batch-check <"$FORMAT1/deleted" >deleted || return 1
	[ "$(cat deleted)" = "$(cat "$FORMAT1/deleted") missing" ]
	dos cat-object --batch-all-objects --batch-check='%(objectname)' >all
	sort ids | diff -u - all
}

@test "a format-1 container reads as it is, and its index rebuilds" {
	format1_container
	[ "$(pack_version 0)" = 1 ]
	fixture_intact
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
	run -0 dos ls --unordered
	[ "$(printf '%s\n' "$output" | sort)" = "$(sort ids)" ]
	run -0 --separate-stderr dos count-objects -v
	# The deleted object's entry and its tombstone.
	[ "${lines[8]}" = "garbage: 2" ]
}

@test "writing to a format-1 container starts a format-2 pack beside it" {
	format1_container
	printf 'new after format 1\n' >new
	new=$(dos hash-object -w --to-pack new)
	[ "$(ls "$DOS_DIR/packs")" = "$(printf '0\n1\nlock')" ]
	[ "$(pack_version 0)" = 1 ]
	[ "$(pack_version 1)" = 2 ]
	run -0 dos cat-object "$new"
	[ "$output" = "new after format 1" ]
	echo "$new" >>ids
	# Deleting an object of the old pack writes a format-2 tombstone.
	gone=$(sed -n 1p ids)
	dos rm "$gone"
	sed -i 1d ids
	fixture_intact
	run -0 --separate-stderr dos fsck
	[ "$stderr" = "dos fsck: no problems found" ]
	# Both packs rebuild the same index: the tombstone holds.
	rm -r "$DOS_DIR/index"
	mkdir "$DOS_DIR/index"
	run -0 dos fsck --repair
	run -0 dos cat-object --batch-check <<<"$gone"
	[ "$output" = "$gone missing" ]
	fixture_intact
}

@test "repack and gc convert format-1 packs to format 2, dead bytes or not" {
	format1_container
	size1=$(stat -c %s "$DOS_DIR/packs/0")
	# Far below any threshold: converted all the same.
	run -0 --separate-stderr dos repack --threshold=100
	[[ "$stderr" = "repacked 55 objects, removed 1 pack, reclaimed "* ]]
	[ "$(ls "$DOS_DIR/packs")" = "$(printf '1\nlock')" ]
	[ "$(pack_version 1)" = 2 ]
	[ "$(stat -c %s "$DOS_DIR/packs/1")" -lt "$size1" ]
	fixture_intact
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
	# Nothing left to convert.
	run -0 --separate-stderr dos repack
	[ "$stderr" = "repacked 0 objects, removed 0 packs, reclaimed 0 bytes" ]
	format1_container
	run -0 --separate-stderr dos gc
	[ ! -e "$DOS_DIR/packs/0" ]
	for p in $(ls "$DOS_DIR/packs" | grep -v lock); do
		[ "$(pack_version "$p")" = 2 ]
	done
	fixture_intact
}

@test "a conversion killed at each of its steps: nothing lost, the next one finishes" {
	format1_container
	cp -a "$DOS_DIR" base
	kill_steps dos repack -q >steps
	for i in $(cat steps); do
		killed_at "$i" dos repack -q
		fixture_intact
		run -0 dos repack -q
		[ "$(ls "$DOS_DIR/packs" | grep -v lock | tail -1)" != 0 ]
		[ "$(pack_version "$(ls "$DOS_DIR/packs" | grep -v lock | tail -1)")" = 2 ]
		fixture_intact
		run -0 --separate-stderr dos fsck
		[ "$stderr" = "dos fsck: no problems found" ]
	done
}

# A container of format 2 with small objects, and the offset of one.
format2_small() {
	for i in 1 2 3; do printf 'small object %s\n' "$i" >s$i; done
	dos hash-object -w --to-pack s1 s2 s3 >ids
	id=$(sed -n 2p ids)
	off=$(dos cat-object --batch-check='%(offset)' <<<"$id")
	pack="$DOS_DIR/packs/0"
}

@test "format 2: a damaged id, size or checksum is reported by fsck and never read" {
	format2_small
	cp "$pack" pack.copy
	# An uncompressed entry of 15 bytes: tag, size, 8 bytes of the id
	# (from 2), the checksum (from 10), the data (from 14).
	[ "$(od -An -tx1 -j "$off" -N 2 "$pack" | tr -d ' ')" = d00f ]
	for at in 3 1 11 16; do
		cp pack.copy "$pack"
		flip "$pack" $((off + at))
		run -128 --separate-stderr dos cat-object "$id"
		[ "$stderr" = "dos-cat-object: fatal: object '$id' is corrupt" ]
		run -1 --separate-stderr dos cat-object --batch <<<"$id"
		[ "$output" = "$id corrupt" ]
		run --separate-stderr dos fsck
		[ "$status" -ne 0 ]
		[[ "$output" = *" $id pack 0 offset=$off"* ]]
		[[ "$output" = *"lost $id"* ]]
		# The neighbours are fine.
		run -0 dos cat-object "$(sed -n 3p ids)"
		[ "$output" = "small object 3" ]
	done
}

@test "format 2: an index rebuilt from the packs has the whole ids back" {
	format2_small
	printf 'deleted\n' >gone
	gone=$(dos hash-object -w --to-pack gone)
	dos rm "$gone"
	rm -r "$DOS_DIR/index"
	mkdir "$DOS_DIR/index"
	run -0 --separate-stderr dos fsck --repair
	[[ "$stderr" = *"rebuilt-index index 3 objects"* ]]
	dos cat-object --batch-all-objects --batch-check='%(objectname)' >all
	sort ids | diff -u - all
	run -0 dos cat-object --batch-check <<<"$gone"
	[ "$output" = "$gone missing" ]
	run -0 dos cat-object "$id"
	[ "$output" = "small object 2" ]
}
