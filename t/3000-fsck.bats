#!/usr/bin/env bats
# dos fsck: containers damaged in every way, the exact reports and exit
# statuses, and --repair restoring every object that still had a good copy.
load helper

# A small mixed data set, stored and packed; ids in ids, "<id> <path>" in
# manifest.
make_packed() {
	mkdir -p data
	printf abc >data/abc
	seq 1 3000 >data/text
	seq 1 200000 >data/big
	head -c 5000 /dev/urandom >data/rand
	printf 'hello\n' >data/hello
	: >data/empty
	(cd data && for f in *; do echo "$(sha256_of "$f") data/$f"; done) |
	    sort >manifest
	cut -d' ' -f1 manifest >ids
	dos hash-object -w data/* >/dev/null
	dos pack -q
}

id_of() {
	sha256_of "data/$1"
}

# Every object of the manifest reads back, verified.
all_intact() {
	local id path
	while read -r id path; do
		dos cat-object --verify "$id" >read_back && [ "$(sha256_of read_back)" = "$id" ] || {
			echo "object $id ($path) does not read back" >&2
			return 1
		}
	done <manifest
}

@test "a clean container: nothing on stdout, a summary on stderr, exit 0" {
	make_packed
	dos hash-object -w /dev/null >/dev/null
	run -0 --separate-stderr dos fsck
	[ "$output" = "" ]
	[ "$stderr" = "dos fsck: no problems found" ]
	run -0 --separate-stderr dos fsck -q
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	run -0 --separate-stderr dos fsck --quick --jobs=1
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "an empty container is clean" {
	run -0 --separate-stderr dos fsck
	[ "$output" = "" ]
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "progress of the pack bytes checked, on a terminal or with --progress; -q silences it" {
	make_packed
	DOS_PROGRESS_INTERVAL=0 run -0 --separate-stderr dos fsck --progress
	local size='[0-9.]+ (bytes|KiB|MiB)'
	[[ "${stderr_lines[0]}" =~ ^$'\r'"checking packs: "$size" of "$size" ("[0-9]+"%)" ]]
	[[ "${stderr_lines[0]}" =~ $'\r'"checking packs: "$size", done."\ *$ ]]
	[ "${stderr_lines[1]}" = "dos fsck: no problems found" ]
	# On a terminal a finding starts a line of its own.
	id=$(id_of text)
	off=$(offset_of "$id")
	flip "$DOS_DIR/packs/0" $((off + 64 + 5))
	DOS_PROGRESS_INTERVAL=0 script -qec "dos fsck --jobs=1" /dev/null >tty.out || true
	run -0 grep -c "^crc-mismatch $id pack 0 offset=$off"$'\r$' tty.out
	run -0 grep -c -E $'\rchecking packs: [0-9.]+ (bytes|KiB|MiB), done. *\r$' tty.out
	script -qec "dos fsck -q" /dev/null >tty.out || true
	run -1 grep -c 'checking packs' tty.out
	script -qec "dos fsck --no-progress" /dev/null >tty.out || true
	run -1 grep -c 'checking packs' tty.out
	run -0 grep -c '^dos fsck: 2 problems' tty.out
}

@test "a flipped byte in a packed entry's data: crc-mismatch and lost, exit 3" {
	make_packed
	id=$(id_of text)
	off=$(offset_of "$id")
	flip "$DOS_DIR/packs/0" $((off + 64 + 5))
	run -3 --separate-stderr dos fsck
	[ "$output" = "crc-mismatch $id pack 0 offset=$off
lost $id" ]
	[ "$stderr" = "dos fsck: 2 problems (1 crc-mismatch, 1 lost)" ]
	# Quick mode sees it too: it checks CRCs.
	run -3 --separate-stderr dos fsck --quick
	# The same report whatever the parallelism.
	dos fsck --jobs=1 >one || true
	dos fsck --jobs=4 >four || true
	diff -u one four
	# Nothing to heal it from: repair keeps the damaged copy, still lost.
	run -3 --separate-stderr dos fsck --repair
	[ "$output" = "crc-mismatch $id pack 0 offset=$off
lost $id" ]
}

@test "a flipped byte in a raw-stored entry is a crc-mismatch in both modes" {
	make_packed
	id=$(id_of rand)
	off=$(offset_of "$id")
	flip "$DOS_DIR/packs/0" $((off + 64 + 4000))
	for mode in --full --quick; do
		run -3 --separate-stderr dos fsck $mode
		[ "$output" = "crc-mismatch $id pack 0 offset=$off
lost $id" ]
	done
}

@test "a damaged packed object is healed from a good loose copy" {
	make_packed
	id=$(id_of text)
	off=$(offset_of "$id")
	flip "$DOS_DIR/packs/0" $((off + 64 + 5))
	mkdir -p "$DOS_DIR/loose/${id:0:2}"
	cp data/text "$(loose_path "$id")"
	run -1 --separate-stderr dos fsck
	[ "$output" = "crc-mismatch $id pack 0 offset=$off" ]
	run -0 --separate-stderr dos fsck --repair
	[ "$output" = "" ]
	[[ "$stderr" = *"healed $id packed again from loose/${id:0:2}/${id:2}"* ]]
	rm "$(loose_path "$id")"
	run -0 dos cat-object --batch-check='%(storage) %(pack)' <<<"$id"
	[ "$output" = "packed 0" ]
	all_intact
	# The damaged entry stays, as garbage repack can reclaim.
	run -0 dos fsck -q
}

@test "a flipped byte in a pack entry header: bad-header, exit 6" {
	make_packed
	id=$(id_of text)
	off=$(offset_of "$id")
	flip "$DOS_DIR/packs/0" $((off + 10))
	run -6 --separate-stderr dos fsck
	[ "$output" = "bad-header $id pack 0 offset=$off
lost $id" ]
	# Every other object is still checked and intact.
	grep -v "$id" manifest >rest && mv rest manifest
	all_intact
}

@test "a damaged pack header" {
	make_packed
	flip "$DOS_DIR/packs/0" 2
	run -4 --separate-stderr dos fsck
	[ "$output" = "bad-pack-header packs/0" ]
}

@test "a flipped byte in a loose file; --repair moves it aside, the packed copy wins" {
	make_packed
	id=$(id_of abc)
	mkdir -p "$DOS_DIR/loose/${id:0:2}"
	printf abd >"$(loose_path "$id")"
	run -1 --separate-stderr dos fsck
	[ "$output" = "hash-mismatch $id loose/${id:0:2}/${id:2}" ]
	# Loose-only damage with no other copy is lost as well.
	printf 'only loose\n' >only
	oid=$(dos hash-object -w only)
	printf 'only lost\n' >"$(loose_path "$oid")"
	run -3 --separate-stderr dos fsck --loose
	[ "${lines[*]}" = "hash-mismatch $oid loose/${oid:0:2}/${oid:2} lost $oid hash-mismatch $id loose/${id:0:2}/${id:2}" ] ||
	[ "$(printf '%s\n' "${lines[@]}" | sort)" = "$(printf '%s\n' "hash-mismatch $oid loose/${oid:0:2}/${oid:2}" "lost $oid" "hash-mismatch $id loose/${id:0:2}/${id:2}" | sort)" ]
	run -2 --separate-stderr dos fsck --repair
	[ "$output" = "lost $oid" ]
	[ -f "$DOS_DIR/lost-found/$id" ]
	[ -f "$DOS_DIR/lost-found/$oid" ]
	[ "$(cat "$DOS_DIR/lost-found/$oid")" = "only lost" ]
	run -0 --separate-stderr dos cat-object "$id"
	[ "$output" = abc ]
	run -0 dos fsck -q
}

@test "a symbolic link where a loose object should be" {
	mkdir -p "$DOS_DIR/loose/ab"
	ln -s /etc/passwd "$DOS_DIR/loose/ab/$(printf 'c%.0s' {1..62})"
	id=ab$(printf 'c%.0s' {1..62})
	run -3 --separate-stderr dos fsck
	[ "$output" = "bad-file $id loose/ab/${id:2} not a regular file
lost $id" ]
}

@test "a truncated pack: truncated-pack, out-of-bounds, lost; --repair cuts and keeps the rest" {
	make_packed
	size=$(stat -c %s "$DOS_DIR/packs/0")
	# Cut the pack inside the data of its last entry.
	dos cat-object --batch-all-objects --batch-check='%(offset) %(objectname)' >entries
	last=$(sort -n entries | tail -1 | cut -d' ' -f2)
	loff=$(offset_of "$last")
	truncate -s $((size - 3)) "$DOS_DIR/packs/0"
	run -2 --separate-stderr dos fsck
	ldisk=$(dos cat-object --batch-check='%(objectsize:disk)' <<<"$last")
	[ "${lines[0]}" = "truncated-pack packs/0 length=$((size - 3)) committed=$size" ]
	[ "${lines[1]}" = "out-of-bounds $last pack 0 offset=$loff length=$ldisk" ]
	[ "${lines[2]}" = "lost $last" ]
	[ "${#lines[@]}" -eq 3 ]
	run -2 --separate-stderr dos fsck --repair
	[ "$output" = "lost $last" ]
	[[ "$stderr" = *"cut-tail packs/0 offset=$loff length=$((size - 3 - loff))"* ]]
	grep -v "$last" manifest >rest && mv rest manifest
	all_intact
	run -0 dos fsck -q
}

@test "a deleted pack: missing-pack, missing and lost for each object" {
	make_packed
	rm "$DOS_DIR/packs/0"
	run -2 --separate-stderr dos fsck
	[ "${lines[0]}" = "missing-pack packs/0" ]
	[ "$(grep -c '^missing ' <<<"$output")" -eq 6 ]
	[ "$(grep -c '^lost ' <<<"$output")" -eq 6 ]
	[ "$stderr" = "dos fsck: 13 problems (1 missing-pack, 6 missing, 6 lost)" ]
	# Repair drops the records but still lists the lost objects.
	run -2 --separate-stderr dos fsck --repair
	[ "$(sed 's/ .*//' <<<"$output" | sort -u)" = lost ]
	[ "${#lines[@]}" -eq 6 ]
	run -0 dos fsck -q
}

@test "a deleted index: missing-index; --repair rebuilds it and every object reads" {
	make_packed
	rm -rf "$DOS_DIR/index"
	run -8 --separate-stderr dos fsck
	[ "$output" = "missing-index index packs.db does not exist" ]
	run -0 --separate-stderr dos fsck --repair
	[ "$output" = "" ]
	[[ "$stderr" = *"rebuilt-index index 6 objects"* ]]
	[ ! -e "$DOS_DIR/index.new" ]
	all_intact
	run -0 --separate-stderr dos fsck
	# The rebuilt index is a normal one: packing goes on in pack 0.
	printf 'more\n' >more
	dos hash-object -w --to-pack more >/dev/null
	run -0 dos cat-object --batch-check='%(pack)' <<<"$(sha256_of more)"
	[ "$output" = 0 ]
	run -0 dos fsck -q
}

@test "a corrupt index: index-error; --repair rebuilds it" {
	make_packed
	head -c 16384 /dev/urandom >"$DOS_DIR/index/objects.db"
	run -8 --separate-stderr dos fsck
	[[ "${lines[0]}" = "index-error index "* ]]
	run -0 --separate-stderr dos fsck --repair
	[[ "$stderr" = *"rebuilt-index index 6 objects"* ]]
	all_intact
}

@test "the rebuild honours tombstones and later copies" {
	make_packed
	gone=$(id_of abc)
	dos rm "$gone" >/dev/null 2>&1
	run -0 dos fsck -q
	rm -rf "$DOS_DIR/index"
	run -0 --separate-stderr dos fsck --repair
	run -1 dos cat-object -e "$gone"
	grep -v "$gone" manifest >rest && mv rest manifest
	all_intact
}

@test "a torn tail left by a killed writer is a notice; --repair cuts it" {
	make_packed
	size=$(stat -c %s "$DOS_DIR/packs/0")
	head -c 100 /dev/urandom >>"$DOS_DIR/packs/0"
	run -0 --separate-stderr dos fsck
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "dos fsck: notice: a torn tail of an interrupted writer (100 bytes) past the committed length of packs/0; the next pack writer cuts it off" ]
	run -0 --separate-stderr dos fsck --repair
	[[ "$stderr" = *"cut-tail packs/0 offset=$size length=100"* ]]
	[ "$(stat -c %s "$DOS_DIR/packs/0")" -eq "$size" ]
}

@test "a pack whose creation was cut short: unfinished-pack; --repair removes it" {
	make_packed
	# Killed before the header was written, or before its length was
	# committed: no record in packs.db.  The next writer takes over the
	# newest (a notice), never packs/1 (a problem).
	: >"$DOS_DIR/packs/1"
	head -c 16 "$DOS_DIR/packs/0" >"$DOS_DIR/packs/2"
	run -4 --separate-stderr dos fsck
	[ "$output" = "unfinished-pack packs/1 length=0" ]
	[ "${stderr_lines[0]}" = "dos fsck: notice: an unfinished pack of an interrupted writer (16 bytes) in packs/2; the next pack writer takes it over" ]
	run -0 --separate-stderr dos fsck --repair
	[ "$stderr" = "dos fsck: removed packs/1
dos fsck: removed packs/2
dos fsck: no problems found" ]
	[ ! -e "$DOS_DIR/packs/1" ]
	[ ! -e "$DOS_DIR/packs/2" ]
	all_intact
	run -0 dos hash-object -w --to-pack data/abc
	run -0 dos fsck -q
}

@test "a damaged header healed from loose leaves garbage for repack" {
	make_packed
	id=$(id_of text)
	off=$(offset_of "$id")
	disk=$(dos cat-object --batch-check='%(objectsize:disk)' <<<"$id")
	flip "$DOS_DIR/packs/0" $((off + 1))
	mkdir -p "$DOS_DIR/loose/${id:0:2}"
	cp data/text "$(loose_path "$id")"
	run -4 --separate-stderr dos fsck --packs
	[ "$output" = "bad-header $id pack 0 offset=$off" ]
	# Healed; the index no longer says what the damaged bytes were.
	run -4 --separate-stderr dos fsck --repair
	[ "$output" = "garbage packs/0 offset=$off length=$disk" ]
	rm "$(loose_path "$id")"
	all_intact
}

@test "temp files of dead writers are stale; live ones and an unheld lock are not" {
	sh -c 'echo $$' >deadpid
	dead=$(cat deadpid)
	: >"$DOS_DIR/sandbox/obj-$dead-0-0badf00d"
	: >"$DOS_DIR/sandbox/obj-$$-0-12345678"
	: >"$DOS_DIR/sandbox/obj-$$-1-12345678"
	touch -d '2 days ago' "$DOS_DIR/sandbox/obj-$$-1-12345678"
	echo 99999 >"$DOS_DIR/packs/lock"
	# Notices, which dos gc cleans: no problem.
	run -0 --separate-stderr dos fsck
	[ "$output" = "" ]
	[ "$stderr" = "dos fsck: notice: 2 temp files of interrupted writers (0 bytes) in sandbox/; the next dos gc removes them
dos fsck: no problems found" ]
	# --repair removes them (in the order sandbox/ lists them).
	run -0 --separate-stderr dos fsck --repair
	sorted=$(sort <<<"$stderr")
	[ "$sorted" = "dos fsck: no problems found
dos fsck: removed sandbox/obj-$$-1-12345678
dos fsck: removed sandbox/obj-$dead-0-0badf00d" ]
	[ -e "$DOS_DIR/sandbox/obj-$$-0-12345678" ]
	[ ! -e "$DOS_DIR/sandbox/obj-$dead-0-0badf00d" ]
}

@test "stray names in loose/ are bad-name; --repair moves them to lost-found/" {
	printf x >"$DOS_DIR/loose/stray"
	mkdir -p "$DOS_DIR/loose/ab"
	printf y >"$DOS_DIR/loose/ab/NOTHEX"
	run -16 --separate-stderr dos fsck
	[ "$output" = "bad-name loose/ab/NOTHEX file
bad-name loose/stray file" ]
	run -0 --separate-stderr dos fsck --repair
	[ "$(cat "$DOS_DIR/lost-found/stray")" = x ]
	[ "$(cat "$DOS_DIR/lost-found/ab-NOTHEX")" = y ]
	# --packs does not look at the loose area.
	printf x >"$DOS_DIR/loose/stray"
	run -0 dos fsck -q --packs --index
}

@test "-z ends findings with NUL" {
	printf x >"$DOS_DIR/loose/stray"
	run -16 sh -c 'dos fsck -z -q >out'
	[ "$(tr '\0' '@' <out)" = "bad-name loose/stray file@" ]
}

@test "fsck of a container it cannot write works and changes nothing" {
	command -v setpriv >/dev/null || skip "no setpriv"
	make_packed
	printf x >"$DOS_DIR/loose/stray"
	# The programs go where the other user can reach them, wherever the
	# build tree is.
	mkdir bin
	cp "$(command -v dos)" "$(command -v dos-fsck)" bin/
	chmod -R a+rX,go-w "$BATS_TEST_TMPDIR"
	chmod a+x "$BATS_TEST_TMPDIR/.." "$BATS_TEST_TMPDIR/../.." 2>/dev/null || true
	# Root can write anything: check as nobody; others lose write access.
	as=()
	if [ "$(id -u)" -eq 0 ]; then
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	else
		chmod -R a-w "$DOS_DIR"
	fi
	(cd "$DOS_DIR" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >before
	run -16 --separate-stderr "${as[@]}" env PATH="$BATS_TEST_TMPDIR/bin:$PATH" \
	    DOS_EXEC_PATH="$BATS_TEST_TMPDIR/bin" DOS_DIR="$DOS_DIR" dos fsck
	[ "$output" = "bad-name loose/stray file" ]
	(cd "$DOS_DIR" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >after
	chmod -R u+w "$DOS_DIR"
	diff -u before after
}

@test "fsck changes nothing without --repair" {
	make_packed
	id=$(id_of text)
	flip "$DOS_DIR/packs/0" $(( $(offset_of "$id") + 70 ))
	printf x >"$DOS_DIR/loose/stray"
	(cd "$DOS_DIR" && find . -path ./index -prune -o -type f -print0 |
	    sort -z | xargs -0 sha256sum) >before
	run -19 dos fsck
	(cd "$DOS_DIR" && find . -path ./index -prune -o -type f -print0 |
	    sort -z | xargs -0 sha256sum) >after
	diff -u before after
}

@test "usage errors exit 129" {
	run -129 dos fsck extra
	run -129 dos fsck --jobs=0
	run -129 dos fsck --repair --loose
	run -0 dos fsck -h
	[[ "$output" = "usage: dos fsck "* ]]
}

@test "the usage matches the man page synopsis" {
	run -0 dos fsck -h
	[[ "$output" = *"[--repair]"* ]]
	man_synopsis=$(sed -n '/^\.Sh SYNOPSIS/,/^\.Sh/p' "$BATS_TEST_DIRNAME/../man/dos-fsck.1")
	for opt in "Fl q" "Fl z" progress quick full loose packs index jobs repair; do
		[[ "$man_synopsis" = *"$opt"* ]]
	done
}
