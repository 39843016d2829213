#!/usr/bin/env bats
# Group entries (dos-container(5), Group entries): gc --aggressive puts
# small objects together into group entries and makes config.json say
# dos_format 2 first; a grouped container reads as the same objects
# ungrouped, every way; a damaged group, or a record that names another
# member, fails the read; gc --aggressive killed at its steps loses
# nothing.
load helper

# $1 small JSON objects packed as dos pack writes them, their ids in
# ids, a copy of the container as plain/, then gc --aggressive; in order
# the ids and sizes in the plain pack's order, which is the order gc
# took them in: the first ones are the first members of the first group.
grouped_and_plain() {
	json_objects "$1" json
	ls json | sed 's|^|json/|' | dos hash-object -w --stdin-paths >ids ||
	    return 1
	dos pack -q || return 1
	cp -a "$DOS_DIR" plain
	dos cat-object --batch-all-objects \
	    --batch-check='%(offset) %(objectname) %(objectsize)' >offsets ||
	    return 1
	sort -n offsets | cut -d' ' -f2,3 >order
	dos gc --aggressive -q
}

# Object $1's entry is a group: tag 0xe0 in the high nibble.
grouped() {
	[ $(($(tag_of "$1") & 0xf0)) = $((0xe0)) ]
}

# The answers of dos cat-object with these options to the ids, in the
# container and in plain/, are the same.
same_answers() {
	dos cat-object "$@" <ids >grouped.out || return 1
	dos -d plain cat-object "$@" <ids >plain.out || return 1
	cmp grouped.out plain.out
}

@test "gc --aggressive puts small objects into groups, and config.json says dos_format 2" {
	json_objects 600 json
	ls json | sed 's|^|json/|' | dos hash-object -w --stdin-paths >ids
	# A larger object is an entry of its own.
	head -c 6000 /dev/zero | tr '\0' x >large
	large=$(dos hash-object -w large)
	dos pack -q
	grep -q '"dos_format": 1$' "$DOS_DIR/config.json"
	run -0 dos config dos_format
	[ "$output" = 1 ]
	plain=$(du -sb "$DOS_DIR/packs" | cut -f1)
	run -0 --separate-stderr dos gc --aggressive
	grep -q '"dos_format": 2$' "$DOS_DIR/config.json"
	run -0 dos config dos_format
	[ "$output" = 2 ]
	grouped "$(head -1 ids)"
	grouped "$(tail -1 ids)"
	[ $(($(tag_of "$large") & 0xf0)) = $((0xd0)) ]
	# 600 objects of ~150 bytes: a few groups, less than half the bytes.
	[ "$(du -sb "$DOS_DIR/packs" | cut -f1)" -lt $((plain / 2)) ]
	run -0 dos cat-object "$large"
	[ "$output" = "$(cat large)" ]
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "a grouped container reads as the same objects ungrouped, every way" {
	grouped_and_plain 3000
	grouped "$(sed -n 1500p ids)"
	id=$(sed -n 2p ids)
	run -0 dos cat-object --verify "$id"
	[ "$output" = "$(cat json/00001.json)" ]
	same_answers --batch
	same_answers --batch --verify
	same_answers --batch-check
	same_answers --batch-check='%(objectname) %(objectsize)'
	same_answers --batch --batch-all-objects
	same_answers --batch --batch-all-objects --verify
	dos ls >grouped.ls
	dos -d plain ls >plain.ls
	cmp grouped.ls plain.ls
	dos export -q >all.dosx
	dos init -q copy
	run -0 dos -d copy import all.dosx
	dos -d copy cat-object --batch --batch-all-objects --verify >copy.out
	dos -d plain cat-object --batch --batch-all-objects --verify >plain.out
	cmp copy.out plain.out
}

@test "a damaged group fails the reads of its members, naming the damage, and gives none of their bytes" {
	grouped_and_plain 300
	id=$(sed -n '1s/ .*//p' order)
	other=$(sed -n '2s/ .*//p' order)
	grouped "$id"
	[ "$(offset_of "$id")" = "$(offset_of "$other")" ]
	# A byte of the stored bytes, past the header.
	pack=$(dos cat-object --batch-check='%(pack)' <<<"$id")
	off=$(offset_of "$id")
	flip "$DOS_DIR/packs/$pack" $((off + 40))
	reads_as_corrupt "$id"
	reads_as_corrupt "$other"
}

@test "a record that names another member of the group fails the read" {
	grouped_and_plain 300
	read -r first size < <(sed -n 1p order)
	grouped "$first"
	pack=$(dos cat-object --batch-check='%(pack)' <<<"$first")
	off=$(offset_of "$first")
	put_member() {
		"$DOS_EXEC_PATH/t/index-put" --member "$1" "$DOS_DIR" "$first" \
		    "$pack" 0 "$off" 0 "$size"
	}
	put_member 0
	dos -d plain cat-object "$first" >expected
	run -0 dos cat-object --verify "$first"
	[ "$output" = "$(cat expected)" ]
	put_member 1
	reads_as_corrupt "$first"
	put_member 4000
	reads_as_corrupt "$first"
}

@test "gc --aggressive killed at each of its steps: every object intact, fsck clean, the next run finishes" {
	json_objects 400 json
	ls json | sed 's|^|json/|' | dos hash-object -w --stdin-paths >ids
	dos pack -q
	dos cat-object --batch <ids >expected
	cp -a "$DOS_DIR" base
	kill_steps dos gc --aggressive -q >steps
	for i in $(cat steps); do
		killed_at "$i" dos gc --aggressive -q
		dos cat-object --batch --verify <ids >got
		cmp expected got
		# A torn tail or an unfinished pack at most: notices.
		run -0 --separate-stderr dos fsck --quick
		[ "${stderr_lines[-1]}" = "dos fsck: no problems found" ]
		[ "$(grep -vc '^dos fsck: notice: ' <<<"$stderr")" = 1 ]
		run -0 dos gc --aggressive -q
		grouped "$(head -1 ids)"
		dos cat-object --batch --verify <ids >got
		cmp expected got
	done
}
