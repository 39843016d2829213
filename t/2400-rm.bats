#!/usr/bin/env bats
# dos rm: loose, packed and doubly stored objects, missing ids, dry runs,
# --stdin and -z, bad ids and usage errors, and objects stored again after
# their removal.
load helper

XYZ_OID=3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282
ZERO_OID=0000000000000000000000000000000000000000000000000000000000000000
USAGE='usage: dos rm [-n | --dry-run] [-q | -v] [--[no-]progress] [--ignore-missing] [--no-wait]
              (--stdin [-z] | [--] <object>...)'

# Storage and pack of one object ("missing" if there is none).
where() {
	dos cat-object --batch-check='%(storage) %(pack)' <<<"$1"
}

# Byte size of a file.
size_of() {
	stat -c %s "$1"
}

# Hex of bytes [$2, $2 + $3) of file $1.
hex_at() {
	xxd -p -s "$2" -l "$3" "$1" | tr -d '\n'
}

# Three objects: abc loose, xyz packed, a longer text packed.
three_objects() {
	printf abc >abc
	printf xyz >xyz
	seq 1 500 >text
	TEXT_OID=$(sha256_of text)
	dos hash-object -w abc >/dev/null
	dos hash-object -w --to-pack xyz text >/dev/null
}

# Every object in $@ reads back with the content of the file of that name.
intact() {
	local f
	for f in "$@"; do
		dos cat-object "$(sha256_of "$f")" >out.$$ || return 1
		cmp "$f" out.$$ || return 1
	done
}

@test "rm of a loose object removes its file, prints nothing, exits 0" {
	three_objects
	[ -f "$(loose_path "$ABC_OID")" ]
	run -0 --separate-stderr dos rm "$ABC_OID"
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ ! -e "$(loose_path "$ABC_OID")" ]
	[ "$(where "$ABC_OID")" = "$ABC_OID missing" ]
	run -1 dos cat-object -e "$ABC_OID"
	intact xyz text
}

@test "rm of a packed object appends a tombstone entry and drops the record" {
	three_objects
	pack="$DOS_DIR/packs/0"
	before=$(size_of "$pack")
	run -0 --separate-stderr dos rm "$XYZ_OID"
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	# One format-2 entry header, no data: the tag (codec none, tombstone),
	# raw size 0, the whole binary id, the checksum.
	[ "$(size_of "$pack")" -eq $((before + TOMBSTONE_SIZE)) ]
	[ "$(hex_at "$pack" "$before" 2)" = "d400" ]
	[ "$(hex_at "$pack" $((before + 2)) 32)" = "$XYZ_OID" ]
	[ "$(where "$XYZ_OID")" = "$XYZ_OID missing" ]
	run -1 dos cat-object -e "$XYZ_OID"
	intact abc text
	# Listings no longer show it.
	dos cat-object --batch-all-objects --batch-check='%(objectname)' >all
	printf '%s\n' "$ABC_OID" "$TEXT_OID" | sort >expect
	diff -u expect all
}

@test "rm of an object stored both loose and packed removes both copies" {
	printf abc >abc
	dos hash-object -w abc >/dev/null
	dos pack -q --keep-loose
	[ -f "$(loose_path "$ABC_OID")" ]
	[ "$(where "$ABC_OID")" = "packed 0" ]
	run -0 --separate-stderr dos rm -v "$ABC_OID"
	[ "$output" = "removed $ABC_OID" ]
	[ "$stderr" = "" ]
	[ ! -e "$(loose_path "$ABC_OID")" ]
	[ "$(where "$ABC_OID")" = "$ABC_OID missing" ]
}

@test "rm of a missing id: exit 1, the other ids are still removed" {
	three_objects
	run -1 --separate-stderr dos rm -v "$ZERO_OID" "$ABC_OID"
	[ "$output" = "removed $ABC_OID" ]
	[ "$stderr" = "dos-rm: error: object '$ZERO_OID' not found" ]
	[ "$(where "$ABC_OID")" = "$ABC_OID missing" ]
	# Removing it again: now it is missing too.
	run -1 --separate-stderr dos rm "$ABC_OID"
	[ "$output" = "" ]
	[ "$stderr" = "dos-rm: error: object '$ABC_OID' not found" ]
	intact xyz text
}

@test "rm in a container that never packed anything: not found" {
	run -1 --separate-stderr dos rm "$ABC_OID"
	[ "$output" = "" ]
	[ "$stderr" = "dos-rm: error: object '$ABC_OID' not found" ]
}

@test "rm --ignore-missing: missing ids are no error" {
	three_objects
	run -0 --separate-stderr dos rm --ignore-missing -v "$ZERO_OID" "$XYZ_OID"
	[ "$output" = "removed $XYZ_OID" ]
	[ "$stderr" = "" ]
	[ "$(where "$XYZ_OID")" = "$XYZ_OID missing" ]
}

@test "rm -n and --dry-run print what would go and change nothing" {
	three_objects
	before=$(size_of "$DOS_DIR/packs/0")
	run -0 --separate-stderr dos rm -n "$ABC_OID" "$XYZ_OID"
	[ "$output" = "$(printf 'would remove %s\n' "$ABC_OID" "$XYZ_OID")" ]
	[ "$stderr" = "" ]
	run -0 --separate-stderr dos rm --dry-run -v "$TEXT_OID"
	[ "$output" = "would remove $TEXT_OID" ]
	[ "$(size_of "$DOS_DIR/packs/0")" -eq "$before" ]
	[ -f "$(loose_path "$ABC_OID")" ]
	[ "$(where "$ABC_OID")" = "loose -" ]
	[ "$(where "$XYZ_OID")" = "packed 0" ]
	intact abc xyz text
	# A missing id is reported as by a real run.
	run -1 --separate-stderr dos rm -n "$ZERO_OID" "$ABC_OID"
	[ "$output" = "would remove $ABC_OID" ]
	[ "$stderr" = "dos-rm: error: object '$ZERO_OID' not found" ]
	run -0 --separate-stderr dos rm -n --ignore-missing "$ZERO_OID"
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}

@test "rm -v prints removed <id> in input order; -q and the default print nothing" {
	three_objects
	run -0 --separate-stderr dos rm -v "$TEXT_OID" "$ABC_OID"
	[ "$output" = "$(printf 'removed %s\n' "$TEXT_OID" "$ABC_OID")" ]
	[ "$stderr" = "" ]
	run -0 --separate-stderr dos rm -q "$XYZ_OID"
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ "$(where "$XYZ_OID")" = "$XYZ_OID missing" ]
}

@test "rm accepts ids in upper case and prints them in lower case" {
	three_objects
	upper=$(tr a-f A-F <<<"$ABC_OID")
	run -0 --separate-stderr dos rm -v "$upper"
	[ "$output" = "removed $ABC_OID" ]
	[ "$(where "$ABC_OID")" = "$ABC_OID missing" ]
}

@test "rm -- ends the options" {
	three_objects
	run -0 --separate-stderr dos rm -v -- "$ABC_OID"
	[ "$output" = "removed $ABC_OID" ]
}

@test "rm --stdin reads one id per line" {
	three_objects
	printf '%s\n' "$ABC_OID" "$XYZ_OID" "$ZERO_OID" >ids
	run -1 --separate-stderr dos rm --stdin -v <ids
	[ "$output" = "$(printf 'removed %s\n' "$ABC_OID" "$XYZ_OID")" ]
	[ "$stderr" = "dos-rm: error: object '$ZERO_OID' not found" ]
	[ "$(where "$ABC_OID")" = "$ABC_OID missing" ]
	[ "$(where "$XYZ_OID")" = "$XYZ_OID missing" ]
	intact text
	# Empty input removes nothing and succeeds.
	run -0 --separate-stderr dos rm --stdin </dev/null
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}

@test "rm --stdin -z: NUL-terminated ids in, NUL-terminated records out" {
	three_objects
	printf '%s\0' "$ABC_OID" "$TEXT_OID" | dos rm --stdin -z -v >out
	printf 'removed %s\0' "$ABC_OID" "$TEXT_OID" >expect
	cmp expect out
	printf '%s\0' "$XYZ_OID" | dos rm --stdin -z -n >out
	printf 'would remove %s\0' "$XYZ_OID" >expect
	cmp expect out
	[ "$(where "$ABC_OID")" = "$ABC_OID missing" ]
	[ "$(where "$TEXT_OID")" = "$TEXT_OID missing" ]
	intact xyz
}

@test "rm of many objects from --stdin, loose and packed" {
	mkdir data
	for i in $(seq 1 300); do echo "object $i" >data/$i; done
	seq 1 150 | sed 's|^|data/|' | dos hash-object -w --stdin-paths >loose_ids
	seq 151 300 | sed 's|^|data/|' | dos hash-object -w --to-pack --stdin-paths >packed_ids
	# Every other one of each goes.
	cat loose_ids packed_ids | awk 'NR % 2' >gone
	cat loose_ids packed_ids | awk '!(NR % 2)' | sort >kept
	run -0 --separate-stderr dos rm --stdin <gone
	[ "$output" = "" ]
	dos cat-object --batch-all-objects --batch-check='%(objectname)' >all
	diff -u kept all
	dos cat-object --batch-check <gone >status
	[ "$(sed 's/^[0-9a-f]* //' status | sort -u)" = missing ]
	# The others read back intact.
	seq 2 2 300 >kept_nums
	sed 's|^|data/|' kept_nums | dos hash-object --stdin-paths >kept_ids
	paste -d' ' kept_ids kept_nums |
	    awk '{ printf "%s %d\nobject %s\n\n", $1, length("object " $2) + 1, $2 }' >expect
	dos cat-object --batch <kept_ids >actual
	cmp expect actual
}

@test "rm counts the ids it reads on a terminal or with --progress; -q silences it" {
	mkdir data
	for i in $(seq 1 40); do echo "object $i" >data/$i; done
	seq 1 20 | sed 's|^|data/|' | dos hash-object -w --stdin-paths >ids
	seq 21 40 | sed 's|^|data/|' | dos hash-object -w --to-pack --stdin-paths >>ids
	head -n 30 ids >gone
	DOS_PROGRESS_INTERVAL=0 run -0 --separate-stderr dos rm --progress --stdin <gone
	[ "$output" = "" ]
	progress_counts "removing objects" 30 "$stderr"
	# -v's lines start on a line of their own.
	DOS_PROGRESS_INTERVAL=0 run -1 --separate-stderr dos rm -v --progress "$(sed -n 31p ids)" "$ABC_OID"
	[ "$output" = "removed $(sed -n 31p ids)" ]
	[ "$stderr" = $'\rremoving objects: 1\rremoving objects: 2\n'"dos-rm: error: object '$ABC_OID' not found"$'\n\rremoving objects: 2, done.' ]
	script -qec "dos rm $(sed -n 32p ids)" /dev/null >tty.out
	run -0 grep -c $'^\rremoving objects: 1, done.\r$' tty.out
	script -qec "dos rm --no-progress $(sed -n 33p ids)" /dev/null >tty.out
	[ ! -s tty.out ]
	script -qec "dos rm -q $(sed -n 34p ids)" /dev/null >tty.out
	[ ! -s tty.out ]
	run -0 --separate-stderr dos rm "$(sed -n 35p ids)"
	[ "$stderr" = "" ]
	sed -n '36,40p' ids >kept
	dos cat-object --batch-all-objects --batch-check='%(objectname)' >all
	sort kept | diff -u - all
}

@test "rm refuses a short id: exit 128, nothing removed" {
	three_objects
	run -128 --separate-stderr dos rm "${ABC_OID:0:8}"
	[ "$output" = "" ]
	[ "$stderr" = "dos-rm: fatal: not a full object id: '${ABC_OID:0:8}'" ]
	[ "$(where "$ABC_OID")" = "loose -" ]
	run -128 --separate-stderr dos rm --stdin <<<"not-an-id"
	[ "$stderr" = "dos-rm: fatal: not a full object id: 'not-an-id'" ]
	run -128 --separate-stderr dos rm "${ABC_OID}0"
	[ "$stderr" = "dos-rm: fatal: not a full object id: '${ABC_OID}0'" ]
	intact abc xyz text
}

@test "rm usage errors exit 129" {
	run -129 --separate-stderr dos rm
	[ "$output" = "" ]
	[ "$stderr" = "$(printf 'dos-rm: error: no objects to remove\n%s' "$USAGE")" ]
	run -129 --separate-stderr dos rm --stdin "$ABC_OID"
	[ "$stderr" = "$(printf "dos-rm: error: can't give objects with --stdin\n%s" "$USAGE")" ]
	run -129 --separate-stderr dos rm -z "$ABC_OID"
	[ "$stderr" = "$(printf 'dos-rm: error: -z needs --stdin\n%s' "$USAGE")" ]
	run -129 --separate-stderr dos rm --bogus "$ABC_OID"
	[ "$stderr" = "$(printf "dos-rm: unrecognized option '--bogus'\n%s" "$USAGE")" ]
	run -0 --separate-stderr dos rm -h
	[ "$output" = "$USAGE" ]
	[ "$stderr" = "" ]
}

@test "rm outside a container is fatal" {
	mkdir empty
	run -128 --separate-stderr dos --dir=empty rm "$ABC_OID"
	[ "$output" = "" ]
	[[ "$stderr" = dos-rm:\ fatal:\ * ]]
}

@test "a removed object can be stored again, loose or packed" {
	three_objects
	dos rm "$ABC_OID" "$XYZ_OID"
	# Loose again.
	run -0 dos hash-object -w abc
	[ "$output" = "$ABC_OID" ]
	[ "$(where "$ABC_OID")" = "loose -" ]
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	# Packed again, after its tombstone.
	run -0 dos hash-object -w --to-pack xyz
	[ "$output" = "$XYZ_OID" ]
	[ "$(where "$XYZ_OID")" = "packed 0" ]
	run -0 --separate-stderr dos cat-object "$XYZ_OID"
	[ "$output" = xyz ]
	# A packed object removed, then packed from a loose copy.
	dos rm "$TEXT_OID"
	dos hash-object -w text >/dev/null
	run -0 --separate-stderr dos pack
	[ "$(where "$TEXT_OID")" = "packed 0" ]
	intact abc xyz text
	# And removed a second time.
	run -0 --separate-stderr dos rm -v "$XYZ_OID" "$TEXT_OID"
	[ "$output" = "$(printf 'removed %s\n' "$XYZ_OID" "$TEXT_OID")" ]
	[ "$(where "$XYZ_OID")" = "$XYZ_OID missing" ]
	[ "$(where "$TEXT_OID")" = "$TEXT_OID missing" ]
	intact abc
}

@test "rm through the dispatcher and with --dir" {
	three_objects
	cd /
	run -0 --separate-stderr dos --dir="$DOS_DIR" rm -v "$ABC_OID"
	[ "$output" = "removed $ABC_OID" ]
	unset DOS_DIR
	run -0 --separate-stderr dos-rm --dir="$BATS_TEST_TMPDIR/store" -v "$XYZ_OID"
	[ "$output" = "removed $XYZ_OID" ]
}
