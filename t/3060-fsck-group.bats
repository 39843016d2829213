#!/usr/bin/env bats
# Group entries (dos-container(5)) under fsck, the rebuild of the index and
# repack: a group yields a record per member, tombstones after it delete
# only their member, each kind of damage is found with its finding and
# never read as data, and rm, gc and repack keep exactly the live members,
# also when killed.  Groups are made by hand here (t/helpers/group-entry.py,
# zlib), damaged ones included, and by gc --aggressive.
load helper

GROUP_ENTRY="$BATS_TEST_DIRNAME/helpers/group-entry.py"

# The index made again from the packs alone; the repair's report in repair.
rebuild() {
	rm -r "$DOS_DIR/index"
	mkdir "$DOS_DIR/index"
	dos fsck --repair >repair 2>&1 || true
}

# One ordinary object ($plain, in packs/0) and four small ones m0..m3 as
# one group entry at offset 16 of packs/1, written with the options given
# to group-entry.py, then whatever entries "$GROUP_AFTER" appends; the
# index rebuilt from the packs.  ids: the members' ids, in member order.
grouped() {
	local i
	for i in 0 1 2 3; do
		printf 'member %s of a group of small objects\n' "$i" >m$i
		sha256_of m$i
	done >ids
	printf 'an ordinary object\n' >plain
	plain=$(dos hash-object -w --to-pack plain)
	head -c 16 "$DOS_DIR/packs/0" >"$DOS_DIR/packs/1"
	python3 "$GROUP_ENTRY" "$@" m0 m1 m2 m3 >>"$DOS_DIR/packs/1"
	${GROUP_AFTER:-true}
	rebuild
}

# The id of member $1.
member() {
	sed -n "$(($1 + 1))p" ids
}

# Every member but those named reads back as it was, verified.
members_intact() {
	local i
	for i in 0 1 2 3; do
		case " $* " in *" $i "*) continue ;; esac
		dos cat-object --verify "$(member "$i")" >out || return 1
		cmp out m$i || return 1
	done
}

@test "a rebuilt index has a record per member of a group; fsck finds it clean" {
	grouped
	grep -q "rebuilt-index index 5 objects" repair
	run -0 dos ls
	[ "$output" = "$( (cat ids; echo "$plain") | sort)" ]
	run -0 dos cat-object --batch-check='%(objectname) %(objectsize) %(pack) %(offset)' <ids
	[ "${lines[2]}" = "$(member 2) $(stat -c %s m2) 1 16" ]
	members_intact
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
	run -0 --separate-stderr dos fsck --quick
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "a tombstone after a group drops only its member on rebuild" {
	grouped
	dos rm "$(member 1)"
	rebuild
	grep -q "rebuilt-index index 4 objects" repair
	run -0 dos cat-object --batch-check <<<"$(member 1)"
	[ "$output" = "$(member 1) missing" ]
	members_intact 1
	run -0 --separate-stderr dos fsck
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "a flipped byte in a group: crc-mismatch for each object it holds, lost, never read" {
	grouped
	flip "$DOS_DIR/packs/1" 30
	run -3 --separate-stderr dos fsck
	[ "${#lines[@]}" -eq 8 ]
	for i in 0 1 2 3; do
		[[ "$output" = *"crc-mismatch $(member $i) pack 1 offset=16 member=$i"* ]]
		[[ "$output" = *"lost $(member $i)"* ]]
	done
	run -3 --separate-stderr dos fsck --quick
	run -128 --separate-stderr dos cat-object "$(member 2)"
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: object '$(member 2)' is corrupt" ]
}

@test "a damaged group no record points into is garbage, its members not indexed" {
	GROUP_AFTER="add_entry $DOS_DIR/packs/1 $(printf x | sha256sum | cut -c1-64) 0 1 1 x"
	grouped
	flip "$DOS_DIR/packs/1" 30
	rebuild
	grep -q "rebuilt-index index 2 objects" repair
	run -4 --separate-stderr dos fsck
	[ "$output" = "garbage packs/1 offset=16 length=$(($(stat -c %s "$DOS_DIR/packs/1") - 16 - 15))" ]
	run -0 dos cat-object --batch-check <<<"$(member 0)"
	[ "$output" = "$(member 0) missing" ]
}

@test "a group whose table's sizes do not add up: corrupt, none of its members indexed" {
	grouped --grow-size 2
	grep -q "rebuilt-index index 1 objects" repair
	run -1 --separate-stderr dos fsck
	[ "$output" = "corrupt packs/1 pack 1 offset=16 zlib: a group whose table and sizes do not add up" ]
	run -0 dos ls
	[ "$output" = "$plain" ]
}

@test "a member whose hash does not start with its id bytes: hash-mismatch, not indexed" {
	grouped --flip-id 3
	grep -q "rebuilt-index index 4 objects" repair
	bad=$(member 3)
	bad=$(printf '%02x' $((0x${bad:0:2} ^ 0xff)))${bad:2:14}000000000000000000000000000000000000000000000000
	run -1 --separate-stderr dos fsck --quick
	[ "$output" = "hash-mismatch $bad pack 1 offset=16 member=3" ]
	run -0 dos cat-object --batch-check <<<"$(member 3)"
	[ "$output" = "$(member 3) missing" ]
	members_intact 3
}

@test "records naming another member, one past the last, or a member of no group: bad-record" {
	grouped
	id=$(member 1)
	size=$(stat -c %s m1)
	for at in "2 1 16" "4 1 16" "0 0 16"; do
		set -- $at
		"$DOS_EXEC_PATH/t/index-put" --member "$1" "$DOS_DIR" "$id" "$2" 0 "$3" 0 "$size"
		run -8 --separate-stderr dos fsck
		[ "$output" = "bad-record $id pack $2 offset=$3 member=$1 no entry of this object there" ]
		run -0 --separate-stderr dos fsck --repair
		run -0 --separate-stderr dos fsck
		members_intact
	done
	# A record with another size.
	"$DOS_EXEC_PATH/t/index-put" --member 1 "$DOS_DIR" "$id" 1 0 16 0 $((size + 1))
	run -8 --separate-stderr dos fsck
	[ "$output" = "bad-record $id pack 1 offset=16 member=1 the entry there has other sizes" ]
	run -128 --separate-stderr dos cat-object "$id"
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: object '$id' is corrupt" ]
}

@test "rm, gc and repack of a group keep exactly the live members, byte for byte" {
	grouped
	dos rm "$(member 0)" "$(member 2)"
	run -0 --separate-stderr dos repack --threshold=0
	[[ "$stderr" = "repacked 2 objects, removed 1 pack, reclaimed "* ]]
	[ ! -e "$DOS_DIR/packs/1" ]
	members_intact 0 2
	run -0 dos cat-object --batch-check < <(member 0; member 2)
	[ "$output" = "$(printf '%s missing\n%s missing' "$(member 0)" "$(member 2)")" ]
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
	rebuild
	grep -q "rebuilt-index index 3 objects" repair
	members_intact 0 2
}

@test "repack keeps the pack of a damaged group, and every object it can read" {
	grouped
	flip "$DOS_DIR/packs/1" 30
	# Its tombstone, after the group, is dead: the pack is rewritten.
	dos rm "$(member 0)"
	run -1 --separate-stderr dos repack --threshold=0
	[ "$stderr" = "$(printf '%s\n%s' "dos-repack: error: packs/1: damaged group entry at offset 16; pack kept" "repacked 0 objects, removed 0 packs, reclaimed 0 bytes")" ]
	[ -e "$DOS_DIR/packs/1" ]
	run -3 --separate-stderr dos fsck
	run -0 dos cat-object "$plain"
	[ "$output" = "an ordinary object" ]
}

# $1 small JSON objects in json/ (json_objects), packed and then put into
# group entries by gc --aggressive.  list: "<id> <path>" of each;
# expected: what cat-object --batch gives for them, in that order.
aggressive_groups() {
	local id path
	json_objects "$1" json
	dos hash-object -w json/* >ids || return 1
	ls json/* | paste -d' ' ids - >list
	dos pack -q || return 1
	dos gc -q --aggressive || return 1
	while read -r id path; do
		printf '%s %s\n' "$id" "$(stat -c %s "$path")"
		cat "$path"
		echo
	done <list >expected
}

# The objects of list that are not in the file $1 read back as expected.
live_intact() {
	grep -vxF -f "$1" ids >live || return 1
	grep -F -f live expected >/dev/null || return 1
	dos cat-object --batch --verify <live >batch || return 1
	local id path
	while read -r id path; do
		grep -qxF "$id" live || continue
		printf '%s %s\n' "$id" "$(stat -c %s "$path")"
		cat "$path"
		echo
	done <list | cmp - batch
}

# The container as it was copied to base/.
restore_base() {
	rm -rf "$DOS_DIR"
	cp -a base "$DOS_DIR"
}

# Whether objects share the place of their entry: members of a group.
has_groups() {
	dos cat-object --batch-all-objects --batch-check='%(pack) %(offset)' >places || return 1
	sort places | uniq -d >shared
	[ -s shared ]
}

@test "gc --aggressive makes groups; an index rebuilt from their packs lists and reads the same" {
	aggressive_groups 600
	has_groups
	dos ls >ls.before
	rebuild
	grep -q "rebuilt-index index 600 objects" repair
	run -0 dos ls
	[ "$output" = "$(cat ls.before)" ]
	dos cat-object --batch --verify <ids >batch
	cmp batch expected
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "rm of members, gc and repack keep exactly the others, grouped; groups all live are left alone" {
	aggressive_groups 600
	packs=$(ls "$DOS_DIR/packs")
	run -0 --separate-stderr dos gc --aggressive
	[ "$stderr" = "packed 0 objects, removed 0 packs (0 bytes reclaimed), removed 0 stale temp files" ]
	run -0 --separate-stderr dos repack --threshold=0
	[ "$stderr" = "repacked 0 objects, removed 0 packs, reclaimed 0 bytes" ]
	[ "$(ls "$DOS_DIR/packs")" = "$packs" ]
	sed -n '1~3p' ids >gone
	dos rm $(cat gone)
	run -0 dos gc --aggressive
	has_groups
	live_intact gone
	run -0 dos cat-object --batch-check <gone
	[ "$(grep -c ' missing$' <<<"$output")" -eq 200 ]
	sed -n '2~3p' ids >>gone
	dos rm $(sed -n '2~3p' ids)
	run -0 dos repack --threshold=0
	live_intact gone
	# Regrouped at the repack's level, not spread into entries of one.
	has_groups
	run -0 dos cat-object --batch-all-objects --batch-check='%(objectname)'
	[ "$output" = "$(grep -vxF -f gone ids | sort)" ]
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
	rebuild
	grep -q "rebuilt-index index 200 objects" repair
	live_intact gone
}

@test "a repack of groups killed at each of its steps: every object reads, fsck finds nothing" {
	aggressive_groups 600
	sed -n '1~3p' ids >gone
	dos rm $(cat gone)
	cp -a "$DOS_DIR" base
	for cmd in "gc -q --aggressive" "repack -q --threshold=0"; do
		restore_base
		rm -f points
		steps=$(kill_steps dos $cmd)
		for i in $steps; do
			killed_at "$i" dos $cmd
			live_intact gone
			run -0 --separate-stderr dos fsck
			[ "${stderr_lines[-1]}" = "dos fsck: no problems found" ]
			run -0 dos $cmd
			live_intact gone
		done
	done
}
