#!/usr/bin/env bats
# dos repack and dos gc: reclaiming the space of removed objects, the
# threshold, recompression, damaged entries, the pack lock, repacks killed
# at random moments, and gc's cleaning of sandbox/.
load helper

REPACK_USAGE='usage: dos repack [-q] [--[no-]progress]
                  [--compress=(keep | auto | always | never | <codec>:<level>)]
                  [--threshold=<percent>] [--no-wait]'
GC_USAGE='usage: dos gc [-q] [--[no-]progress] [--aggressive] [--no-wait]'

# Byte size of a file.
size_of() {
	stat -c %s "$1"
}

# The pack files, by number, on one line.
packs() {
	(cd "$DOS_DIR/packs" && ls | grep -E '^[0-9]+$' | sort -n | tr '\n' ' ')
}

# Total bytes of the pack files.
pack_bytes() {
	local p n=0
	for p in $(packs); do
		n=$((n + $(size_of "$DOS_DIR/packs/$p")))
	done
	echo "$n"
}

# $1 objects "object 0001\n"... (12 bytes each, stored raw: 26 bytes in a
# pack, with a 14-byte header), written straight to packs; their ids in
# ids, in order.
packed_objects() {
	mkdir -p data
	for i in $(seq -f '%04g' 1 "$1"); do
		printf 'object %s\n' "$i" >data/$i
	done
	seq -f 'data/%04g' 1 "$1" | dos hash-object -w --to-pack --stdin-paths >ids
}

# Every id in $1 reads back with its content; the ids in $2 are missing.
check_objects() {
	local live=$1 gone=$2
	awk '{ print $1 }' "$live" >live_ids.$$
	dos cat-object --batch <live_ids.$$ >actual.$$
	cmp "$live.batch" actual.$$ || return 1
	if [ -n "$gone" ] && [ -s "$gone" ]; then
		dos cat-object --batch-check <"$gone" >status.$$ || return 1
		[ "$(sed 's/^[0-9a-f]* //' status.$$ | sort -u)" = missing ] || return 1
	fi
	# Nothing else is listed, nothing removed comes back.
	dos cat-object --batch-all-objects --batch-check='%(objectname)' >all.$$
	sort "$live" | diff -u - all.$$
}

# Split ids into live (kept) and gone (every $1-th), removing gone, and
# write the expected --batch output of the live ones into live.batch.
remove_every() {
	awk -v n="$1" 'NR % n == 0' ids >gone
	awk -v n="$1" 'NR % n != 0' ids >live
	make_batch live
	dos rm --stdin <gone
}

# live.batch: the --batch records of the ids in live (objects of
# packed_objects, whose content is "object NNNN\n").
make_batch() {
	awk 'NR == FNR { num[$1] = FNR; next }
	    { printf "%s 12\nobject %04d\n\n", $1, num[$1] }' ids "$1" >"$1.batch"
}

# 3000 objects in packs of 32 KiB, every third removed (remove_every), in
# a container of its own, for the kill tests.
removals_in_small_packs() {
	dos init -q --pack-size-target=32k "$BATS_TEST_TMPDIR/small"
	export DOS_DIR="$BATS_TEST_TMPDIR/small"
	packed_objects 3000
	remove_every 3
	check_objects live gone
}

# Run a command, killed with SIGKILL after a random 0 to $1 hundredths of
# a second unless it ended first.
kill_within() {
	local max=$1 pid
	shift
	"$@" 2>/dev/null &
	pid=$!
	sleep "0.$(printf '%02d' $((RANDOM % max)))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" || true
}

# The ids a rebuild of the index from the packs alone would give, by the
# first 8 bytes that format-2 entries hold of them: walk each pack (in
# pack number order) entry by entry until the end or a header that is not
# whole; an entry sets its id, a tombstone (tag bit 2) deletes it.
rebuilt_ids() {
	local p
	for p in $(packs); do
		xxd -p -c 1 "$DOS_DIR/packs/$p" | awk -v pack="$p" '
		function hexval(s,   i, v) {
			v = 0
			for (i = 1; i <= length(s); i++)
				v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
			return v
		}
		function varint(   v, m, c) {
			v = 0
			m = 1
			do {
				c = hexval(b[pos++])
				v += (c % 128) * m
				m *= 128
			} while (c >= 128 && pos < n)
			return v
		}
		{ b[NR - 1] = $1 }
		END {
			n = NR
			off = 16
			while (off < n) {
				tag = hexval(b[off])
				if (int(tag / 16) != 13)
					break
				pos = off + 1
				stored = varint()
				if (tag % 4 != 0)
					stored = varint()
				tomb = int(tag / 4) % 2
				end = pos + (tomb ? 32 : 8) + 4 + stored
				if (end > n)
					break
				id = ""
				for (i = 0; i < 8; i++)
					id = id b[pos + i]
				print pack, tomb, id
				off = end
			}
		}'
	done | awk '$2 == 1 { delete set[$3]; next } { set[$3] = 1 }
	    END { for (id in set) print id }' | sort
}

# The first 8 bytes of the ids in $1, as rebuilt_ids gives them.
id_starts() {
	cut -c1-16 "$1" | sort
}

@test "repack after rm shrinks the packs, every live object intact" {
	packed_objects 100
	remove_every 2
	# 100 entries of 26 bytes and 50 tombstones of 38 bytes.
	[ "$(packs)" = "0 " ]
	[ "$(size_of "$DOS_DIR/packs/0")" -eq $((16 + 100 * 26 + 50 * TOMBSTONE_SIZE)) ]
	run -0 --separate-stderr dos repack
	[ "$output" = "" ]
	# 50 * 26 bytes of dead entries and their 50 * 38 bytes of tombstones,
	# which no older pack needs: 3.1 KiB.
	[ "$stderr" = "repacked 50 objects, removed 1 pack, reclaimed 3.1 KiB" ]
	[ "$(packs)" = "1 " ]
	# Only the live entries: no older pack needs the tombstones.
	[ "$(size_of "$DOS_DIR/packs/1")" -eq $((16 + 50 * 26)) ]
	check_objects live gone
	[ "$(rebuilt_ids)" = "$(id_starts live)" ]
	dos cat-object --batch-check='%(pack)' <live >packs_of
	[ "$(sort -u packs_of)" = 1 ]
}

@test "repack converges: a second repack after rm leaves the packs alone" {
	packed_objects 100
	remove_every 2
	dos repack -q
	cp "$DOS_DIR/packs/1" pack1
	run -0 --separate-stderr dos repack
	[ "$stderr" = "repacked 0 objects, removed 0 packs, reclaimed 0 bytes" ]
	[ "$(packs)" = "1 " ]
	cmp pack1 "$DOS_DIR/packs/1"
	run -0 --separate-stderr dos gc
	[ "$stderr" = "packed 0 objects, removed 0 packs (0 bytes reclaimed), removed 0 stale temp files" ]
	[ "$(packs)" = "1 " ]
}

@test "a removed object stays missing after repack, whatever the mode" {
	packed_objects 30
	remove_every 3
	for mode in keep auto always never; do
		run -0 --separate-stderr dos repack --threshold=0 --compress=$mode
		check_objects live gone
		[ "$(rebuilt_ids)" = "$(id_starts live)" ]
	done
}

@test "a tombstone outlives the pack it was written in while an older copy remains" {
	# Pack 0: objects 1-157; pack 1: objects 158-160 (the target rolls
	# over).
	dos init -q --pack-size-target=4k "$BATS_TEST_TMPDIR/small"
	export DOS_DIR="$BATS_TEST_TMPDIR/small"
	packed_objects 160
	[ "$(packs)" = "0 1 " ]
	dos cat-object --batch-check='%(pack)' <ids >packs_of
	[ "$(uniq -c packs_of | awk '{ print $1 }' | tr '\n' ' ')" = "157 3 " ]
	# Object 1 lives in pack 0, its tombstone goes into pack 1; then pack 1
	# is rewritten (most of it removed), pack 0 is left alone.
	sed -n '1p;159,160p' ids >gone
	sed -n '2,158p' ids >live
	make_batch live
	dos rm --stdin <gone
	run -0 --separate-stderr dos repack
	# 2 * 26 bytes.
	[ "$stderr" = "repacked 1 object, removed 1 pack, reclaimed 52 bytes" ]
	[ "$(packs)" = "0 2 " ]
	check_objects live gone
	# Pack 0 still holds object 1; a rebuilt index must not revive it.
	[ "$(rebuilt_ids)" = "$(id_starts live)" ]
}

@test "re-adding a removed object after a repack, and repacking again" {
	packed_objects 20
	remove_every 2
	dos repack -q
	# Object 2 again, loose and then packed.
	run -0 dos hash-object -w data/0002
	[ "$output" = "$(sed -n 2p ids)" ]
	dos pack -q
	sed -n '2p' ids >readded
	awk 'NR % 2 == 1 || NR == 2' ids >live
	awk 'NR % 2 == 0 && NR != 2' ids >gone
	make_batch live
	check_objects live gone
	dos repack -q --threshold=0 --compress=never
	check_objects live gone
	[ "$(rebuilt_ids)" = "$(id_starts live)" ]
}

@test "repack --threshold: packs with fewer dead bytes are left alone" {
	packed_objects 100
	remove_every 20
	cp "$DOS_DIR/packs/0" pack0
	# 5 dead entries of 100: well under the default 20%.
	run -0 --separate-stderr dos repack
	[ "$stderr" = "repacked 0 objects, removed 0 packs, reclaimed 0 bytes" ]
	[ "$(packs)" = "0 " ]
	cmp pack0 "$DOS_DIR/packs/0"
	run -0 --separate-stderr dos repack --threshold=50
	[ "$stderr" = "repacked 0 objects, removed 0 packs, reclaimed 0 bytes" ]
	cmp pack0 "$DOS_DIR/packs/0"
	run -0 --separate-stderr dos repack --threshold=3
	# 5 * 26 bytes, and 5 * 38 bytes of tombstones no older pack needs.
	[ "$stderr" = "repacked 95 objects, removed 1 pack, reclaimed 320 bytes" ]
	[ "$(packs)" = "1 " ]
	check_objects live gone
}

@test "repack rewrites only the packs past the threshold" {
	dos init -q --pack-size-target=4k "$BATS_TEST_TMPDIR/small"
	export DOS_DIR="$BATS_TEST_TMPDIR/small"
	packed_objects 30
	# 15 of pack 0 go (their tombstones land in pack 0 too), then more
	# objects fill pack 0 (135 objects) and start pack 1 (65), which has
	# no dead bytes.
	sed -n '1,15p' ids >gone
	dos rm --stdin <gone
	mv ids ids0
	for i in $(seq -f '%04g' 31 200); do printf 'object %s\n' "$i" >data/$i; done
	seq -f 'data/%04g' 31 200 | dos hash-object -w --to-pack --stdin-paths >ids1
	cat ids0 ids1 >ids
	[ "$(packs)" = "0 1 " ]
	sed 1,15d ids >live
	make_batch live
	cp "$DOS_DIR/packs/1" pack1
	dos cat-object --batch-check='%(pack)' <live >packs_of
	n0=$(grep -c '^0$' packs_of)
	run -0 --separate-stderr dos repack
	[ "$n0" -eq 120 ]
	# 15 * 26 bytes, and their 15 tombstones of 38 bytes.
	[ "$stderr" = "repacked 120 objects, removed 1 pack, reclaimed 960 bytes" ]
	[ "$(packs)" = "1 2 " ]
	cmp pack1 "$DOS_DIR/packs/1"
	check_objects live gone
	[ "$(rebuilt_ids)" = "$(id_starts live)" ]
}

@test "repack --compress=always, never, auto and keep" {
	seq 1 3000 >text
	printf abc >abc
	TEXT_OID=$(sha256_of text)
	dos hash-object -w --to-pack text abc >/dev/null
	fmt='%(objectname) %(compression)'
	comp() {
		printf '%s\n' "$TEXT_OID" "$ABC_OID" | dos cat-object --batch-check="$fmt"
	}
	[ "$(comp)" = "$(printf '%s zstd\n%s none' "$TEXT_OID" "$ABC_OID")" ]
	# A --compress other than keep rewrites every pack, dead bytes or not.
	run -0 --separate-stderr dos repack --compress=never
	[ "$stderr" = "repacked 2 objects, removed 1 pack, reclaimed 0 bytes" ]
	[ "$(comp)" = "$(printf '%s none\n%s none' "$TEXT_OID" "$ABC_OID")" ]
	[ "$(packs)" = "1 " ]
	run -0 --separate-stderr dos repack --compress=always
	[ "$(comp)" = "$(printf '%s zstd\n%s zstd' "$TEXT_OID" "$ABC_OID")" ]
	[ "$(packs)" = "2 " ]
	# keep copies entries as they are stored: abc stays compressed.
	run -0 --separate-stderr dos repack --compress=keep --threshold=0
	[ "$stderr" = "repacked 0 objects, removed 0 packs, reclaimed 0 bytes" ]
	[ "$(comp)" = "$(printf '%s zstd\n%s zstd' "$TEXT_OID" "$ABC_OID")" ]
	run -0 --separate-stderr dos repack --compress=auto
	[ "$(comp)" = "$(printf '%s zstd\n%s none' "$TEXT_OID" "$ABC_OID")" ]
	# The synonyms of dos pack.
	run -0 --separate-stderr dos repack --compress=no
	[ "$(comp)" = "$(printf '%s none\n%s none' "$TEXT_OID" "$ABC_OID")" ]
	run -0 --separate-stderr dos repack --compress=yes
	[ "$(comp)" = "$(printf '%s zstd\n%s zstd' "$TEXT_OID" "$ABC_OID")" ]
	dos cat-object "$TEXT_OID" >text.out
	cmp text text.out
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
}

@test "repack of an empty container has nothing to do" {
	run -0 --separate-stderr dos repack
	[ "$output" = "" ]
	[ "$stderr" = "repacked 0 objects, removed 0 packs, reclaimed 0 bytes" ]
}

@test "gc and repack with nothing to do leave the packs alone, run after run" {
	for i in 1 2 3; do
		run -0 --separate-stderr dos gc
		[ "$stderr" = "packed 0 objects, removed 0 packs (0 bytes reclaimed), removed 0 stale temp files" ]
		[ "$(packs)" = "0 " ]
	done
	run -0 --separate-stderr dos repack
	[ "$stderr" = "repacked 0 objects, removed 0 packs, reclaimed 0 bytes" ]
	[ "$(packs)" = "0 " ]
	# Objects then go into that pack.
	packed_objects 3
	dos cat-object --batch-check='%(pack)' <ids >packs_of
	[ "$(sort -u packs_of)" = 0 ]
}

@test "repack -q prints nothing" {
	packed_objects 10
	remove_every 2
	run -0 --separate-stderr dos repack -q
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ "$(packs)" = "1 " ]
}

@test "repack and gc show progress on a terminal or with --progress; -q silences it" {
	packed_objects 30
	DOS_PROGRESS_INTERVAL=0 run -0 --separate-stderr dos repack --progress --compress=auto
	progress_counts "repacking objects" 30 "${stderr_lines[0]}"
	[ "${stderr_lines[1]}" = "repacked 30 objects, removed 1 pack, reclaimed 0 bytes" ]
	printf 'loose %s\n' 1 2 3 >more
	run -0 dos hash-object -w more
	# --aggressive repacks first: loose objects join the new packs.
	DOS_PROGRESS_INTERVAL=0 run -0 --separate-stderr dos gc --aggressive --progress
	progress_counts "repacking objects" 30 "${stderr_lines[0]}"
	progress_counts "packing objects" 1 "${stderr_lines[1]}"
	[ "${stderr_lines[2]}" = "packed 1 object, removed 1 pack (0 bytes reclaimed), removed 0 stale temp files" ]
	# On a terminal by default, only at the end here: nothing to move.
	script -qec "dos gc" /dev/null >tty.out
	run -0 grep -c $'^\rpacking objects: 0, done.\r$' tty.out
	run -0 grep -c $'^\rrepacking objects: 0, done.\r$' tty.out
	script -qec "dos repack --no-progress" /dev/null >tty.out
	run -1 grep -c 'objects: ' tty.out
	script -qec "dos gc -q" /dev/null >tty.out
	[ ! -s tty.out ]
	# Not on a pipe, unless asked.
	run -0 --separate-stderr dos gc
	[ "$stderr" = "packed 0 objects, removed 0 packs (0 bytes reclaimed), removed 0 stale temp files" ]
}

@test "repack usage errors exit 129" {
	run -129 --separate-stderr dos repack --compress=bogus
	[ "$output" = "" ]
	[ "$stderr" = "$(printf "dos-repack: error: invalid --compress 'bogus'\n%s" "$REPACK_USAGE")" ]
	for t in 101 -1 abc '' 5%; do
		run -129 --separate-stderr dos repack --threshold="$t"
		[ "$stderr" = "$(printf "dos-repack: error: --threshold takes a percentage, not '%s'\n%s" "$t" "$REPACK_USAGE")" ]
	done
	for c in zstd zstd:0 zstd:23 zlib:10 none zstd:x; do
		run -129 --separate-stderr dos repack --compress="$c"
		[ "$stderr" = "$(printf "dos-repack: error: invalid --compress '%s'\n%s" "$c" "$REPACK_USAGE")" ]
	done
	run -129 --separate-stderr dos repack extra
	[ "$stderr" = "$(printf 'dos-repack: error: too many arguments\n%s' "$REPACK_USAGE")" ]
	run -0 --separate-stderr dos repack -h
	[ "$output" = "$REPACK_USAGE" ]
	run -129 --separate-stderr dos gc extra
	[ "$stderr" = "$(printf 'dos-gc: error: too many arguments\n%s' "$GC_USAGE")" ]
	run -129 --separate-stderr dos gc --bogus
	[ "$stderr" = "$(printf "dos-gc: unrecognized option '--bogus'\n%s" "$GC_USAGE")" ]
	run -0 --separate-stderr dos gc -h
	[ "$output" = "$GC_USAGE" ]
}

@test "repack keeps a pack with a damaged entry, reports it, moves the rest" {
	packed_objects 10
	remove_every 10
	bad=$(sed -n 5p ids)
	# Flip a data byte of entry 5.
	printf X | dd of="$DOS_DIR/packs/0" bs=1 seek=$((16 + 4 * 26 + 14)) conv=notrunc 2>/dev/null
	run -1 --separate-stderr dos repack --threshold=0
	[ "$stderr" = "$(printf "dos-repack: error: object '%s': packed copy is corrupt; pack kept\nrepacked 8 objects, removed 0 packs, reclaimed 0 bytes" "$bad")" ]
	[ "$(packs)" = "0 1 " ]
	grep -v "$bad" live >good
	make_batch good
	dos cat-object --batch <good >actual
	cmp good.batch actual
	run -0 --separate-stderr dos cat-object --batch-check='%(pack)' <<<"$bad"
	[ "$output" = 0 ]
	run -128 dos cat-object "$bad"
}

@test "repack reports a pack whose entry header is damaged and keeps it" {
	packed_objects 10
	remove_every 10
	# Flip a byte of entry 5's header (inside its id).
	printf X | dd of="$DOS_DIR/packs/0" bs=1 seek=$((16 + 4 * 26 + 5)) conv=notrunc 2>/dev/null
	run -1 --separate-stderr dos repack --threshold=0
	[[ "$stderr" = *"pack kept"* ]]
	[ -e "$DOS_DIR/packs/0" ]
	# The intact entries after the damaged header are readable.
	sed -n '6,9p' ids >after
	make_batch after
	dos cat-object --batch <after >actual
	cmp after.batch actual
}

@test "repack stops on a write error while moving the entries past a damaged header" {
	mkdir data
	for i in $(seq -f '%04g' 1 6); do
		printf 'object %s\n' "$i" >data/$i
	done
	# Past the writer's 1 MiB buffer: written while the index is walked.
	head -c 2000000 /dev/urandom >data/0007
	seq -f 'data/%04g' 1 7 | dos hash-object -w --to-pack --stdin-paths >ids
	# Dead bytes, for --threshold=0 to rewrite the pack.
	dos rm "$(head -1 ids)"
	# Flip a byte of entry 3's header (inside its id).
	printf X | dd of="$DOS_DIR/packs/0" bs=1 seek=$((16 + 2 * 26 + 5)) conv=notrunc 2>/dev/null
	cp -a "$DOS_DIR" probe
	run -1 env DOS_DIR=probe DOS_FAULT_LOG=points dos repack -q --threshold=0
	n=$(grep -m1 ' before pack-write$' points | cut -d' ' -f1)
	run -128 --separate-stderr env DOS_FAULT=eio:$n dos repack -q --threshold=0
	[ "$stderr" = "$(printf "dos-repack: error: packs/0: damaged entry header at offset 68; pack kept\ndos-repack: fatal: unable to repack '%s': Input/output error" "$DOS_DIR")" ]
}

@test "kill -9 of repack at random moments: every live object intact, the next repack finishes" {
	removals_in_small_packs
	modes=(always never)
	for round in 1 2 3 4 5; do
		kill_within 20 dos repack --compress="${modes[round % 2]}"
		check_objects live gone
		[ "$(rebuilt_ids)" = "$(id_starts live)" ]
		run -0 --separate-stderr dos repack --threshold=0
		[[ "$stderr" = repacked\ * ]]
		check_objects live gone
		[ "$(rebuilt_ids)" = "$(id_starts live)" ]
	done
	# The space of the removed objects is gone for good.
	[ "$(pack_bytes)" -lt $(((3000 - 1000) * 26 + 1000 * TOMBSTONE_SIZE + 16 * $(packs | wc -w) + 3 * 32 * 1024)) ]
}

@test "--no-wait while another process holds the pack lock: exit 75, nothing done" {
	packed_objects 10
	id=$(sed -n 2p ids)
	start_holder
	lock_refused rm "$id"
	lock_refused repack --compress=never
	lock_refused gc
	# A dry run needs no lock.
	run -0 --separate-stderr dos rm -n --no-wait "$id"
	[ "$output" = "would remove $id" ]
	stop_holder
	[ "$(packs)" = "0 " ]
	run -0 --separate-stderr dos cat-object "$id"
	[ "$output" = "object 0002" ]
}

@test "without --no-wait, rm, repack and gc wait for the lock" {
	packed_objects 10
	id=$(sed -n 2p ids)
	start_holder
	# Not holding the fifo open themselves (fd 7), nor bats' fd 3.
	dos rm -v "$id" >rm.out 7>&- 3>&- &
	rm_pid=$!
	dos gc -q 7>&- 3>&- &
	gc_pid=$!
	dos repack -q --compress=never 7>&- 3>&- &
	repack_pid=$!
	sleep 0.5
	kill -0 "$rm_pid"
	kill -0 "$gc_pid"
	kill -0 "$repack_pid"
	run -0 --separate-stderr dos cat-object "$id"
	[ "$output" = "object 0002" ]
	stop_holder
	wait "$rm_pid"
	wait "$gc_pid"
	wait "$repack_pid"
	[ "$(cat rm.out)" = "removed $id" ]
	run -0 --separate-stderr dos cat-object --batch-check <<<"$id"
	[ "$output" = "$id missing" ]
	run -0 --separate-stderr dos cat-object "$(sha256_of held)"
	[ "$output" = held ]
}

@test "gc packs loose objects and removes stale temp files of dead writers" {
	printf abc >abc
	seq 1 1000 >text
	printf xyz >xyz
	dos hash-object -w abc text xyz >ids
	# A writer that died, and a live one whose file is fresh.
	sleep 0 &
	dead=$!
	wait "$dead"
	run -1 kill -0 "$dead"
	sb="$DOS_DIR/sandbox"
	printf partial >"$sb/obj-$dead-0-deadbeef"
	printf partial >"$sb/obj-$$-0-deadbeef"
	# A live writer's file older than a day is stale too.
	printf partial >"$sb/obj-$$-1-cafebabe"
	touch -d '2 days ago' "$sb/obj-$$-1-cafebabe"
	run -0 --separate-stderr dos gc
	[ "$output" = "" ]
	[ "$stderr" = "packed 3 objects, removed 0 packs (0 bytes reclaimed), removed 2 stale temp files" ]
	[ "$(ls "$sb")" = "obj-$$-0-deadbeef" ]
	[ "$(cd "$DOS_DIR/loose" && find . -type f)" = "" ]
	dos cat-object --batch-check='%(storage) %(pack)' <ids >where
	[ "$(sort -u where)" = "packed 0" ]
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	dos cat-object "$(sed -n 2p ids)" >text.out
	cmp text text.out
	# Nothing left to do.
	run -0 --separate-stderr dos gc -q
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ "$(ls "$sb")" = "obj-$$-0-deadbeef" ]
}

@test "gc repacks packs past 20% dead bytes, not below" {
	packed_objects 100
	remove_every 20
	cp "$DOS_DIR/packs/0" pack0
	run -0 --separate-stderr dos gc
	[ "$stderr" = "packed 0 objects, removed 0 packs (0 bytes reclaimed), removed 0 stale temp files" ]
	cmp pack0 "$DOS_DIR/packs/0"
	awk 'NR % 20 != 0 && NR % 3 == 0' ids >more
	dos rm --stdin <more
	cat more >>gone
	grep -v -x -F -f more live >live2
	mv live2 live
	make_batch live
	run -0 --separate-stderr dos gc
	# 5 + 32 dead entries of 26 bytes and their tombstones of 38.
	[ "$stderr" = "packed 0 objects, removed 1 pack (2.3 KiB reclaimed), removed 0 stale temp files" ]
	[ "$(packs)" = "1 " ]
	check_objects live gone
}

@test "gc --aggressive repacks every unsealed pack, recompressed when that pays" {
	seq 1 3000 >text
	printf abc >abc
	TEXT_OID=$(sha256_of text)
	dos hash-object -w --to-pack text abc >/dev/null
	dos repack -q --compress=never
	run -0 --separate-stderr dos cat-object --batch-check='%(compression)' <<<"$TEXT_OID"
	[ "$output" = none ]
	printf xyz | dos hash-object -w --stdin >/dev/null
	run -0 --separate-stderr dos gc --aggressive
	[ "$stderr" = "packed 1 object, removed 1 pack (0 bytes reclaimed), removed 0 stale temp files" ]
	run -0 --separate-stderr dos cat-object --batch-check='%(compression)' <<<"$TEXT_OID"
	[ "$output" = zstd ]
	run -0 --separate-stderr dos cat-object --batch-check='%(compression)' <<<"$ABC_OID"
	[ "$output" = none ]
	dos cat-object "$TEXT_OID" >text.out
	cmp text text.out
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	run -0 --separate-stderr dos cat-object 3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282
	[ "$output" = xyz ]
}

# The seal in the header of pack $1: "1 <codec> <level>" (codec 2: zstd),
# or "0 0 0".
seal_of() {
	od -An -tu1 -j12 -N3 "$DOS_DIR/packs/$1" | awk '{ print $1, $2, $3 }'
}

# Stored bytes of the objects in ids.
disk_size() {
	dos cat-object --batch-check='%(objectsize:disk)' <ids >disk_sizes
	awk '{ n += $1 } END { print n }' disk_sizes
}

# $1 text objects of 2-5 KiB (pseudo-random words: zstd -12 stores them
# in a fifth less than zstd -2), written straight to packs; their ids in
# ids.
text_objects() {
	mkdir -p text
	for i in $(seq 1 "$1"); do
		awk -v s="$i" 'BEGIN {
			srand(s)
			for (l = 0; l < 60 + s % 40; l++) {
				printf "%s %d:", rand() < 0.5 ? "alpha" : "omega",
				    int(rand() * 1000)
				for (w = 0; w < 6; w++)
					printf " %s", substr("the quick brown fox jumps over lazy dogs and cats",
					    1 + int(rand() * 30), 4 + int(rand() * 5))
				print ""
			}
		}' >text/$i
	done
	seq -f 'text/%g' 1 "$1" | dos hash-object -w --to-pack --stdin-paths >ids
}

@test "gc --aggressive compresses packs with zstd -12 and seals them; the next run leaves them alone" {
	text_objects 200
	before=$(disk_size)
	printf xyz | dos hash-object -w --stdin >/dev/null
	run -0 --separate-stderr dos gc --aggressive
	[ "$output" = "" ]
	[ "$stderr" = "packed 1 object, removed 1 pack (0 bytes reclaimed), removed 0 stale temp files" ]
	# Pack 1 holds it all, sealed; pack 2 is new and empty, for writers.
	[ "$(packs)" = "1 2 " ]
	[ "$(seal_of 1)" = "1 2 12" ]
	[ "$(seal_of 2)" = "0 0 0" ]
	[ "$(size_of "$DOS_DIR/packs/2")" -eq 16 ]
	after=$(disk_size)
	[ "$after" -lt $((before * 90 / 100)) ]
	dos cat-object --batch-check='%(pack)' <ids >packs_of
	[ "$(sort -u packs_of)" = 1 ]
	run -0 --separate-stderr dos cat-object 3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282
	[ "$output" = xyz ]
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
	# Sealed at that level: left alone, byte for byte.
	cp "$DOS_DIR/packs/1" pack1.copy
	run -0 --separate-stderr dos gc --aggressive
	[ "$stderr" = "packed 0 objects, removed 0 packs (0 bytes reclaimed), removed 0 stale temp files" ]
	[ "$(packs)" = "1 2 " ]
	cmp pack1.copy "$DOS_DIR/packs/1"
	# New objects go to pack 2, never into the sealed pack.
	printf 'new one\n' >new
	dos hash-object -w --to-pack new >new_id
	run -0 dos cat-object --batch-check='%(pack)' <new_id
	[ "$output" = 2 ]
	cmp pack1.copy "$DOS_DIR/packs/1"
	# The next aggressive run recompresses only pack 2.
	run -0 --separate-stderr dos gc --aggressive
	[ "$stderr" = "packed 0 objects, removed 1 pack (0 bytes reclaimed), removed 0 stale temp files" ]
	[ "$(packs)" = "1 3 4 " ]
	[ "$(seal_of 3)" = "1 2 12" ]
	cmp pack1.copy "$DOS_DIR/packs/1"
	for i in 1 77 200; do
		dos cat-object "$(sed -n ${i}p ids)" >out
		cmp "text/$i" out
	done
}

@test "gc --aggressive moves a sealed pack with dead bytes as it is stored" {
	text_objects 200
	run -0 dos gc -q --aggressive
	[ "$(seal_of 1)" = "1 2 12" ]
	sed -n '1,10p' ids >gone
	sed -n '11,$p' ids >live
	fmt='%(objectname) %(objectsize:disk) %(compression)'
	dos cat-object --batch-check="$fmt" <live >sizes.before
	dos rm --stdin <gone
	# Pack 1 with dead bytes, pack 2 with the tombstones.
	run -0 --separate-stderr dos gc --aggressive
	[[ "$stderr" = "packed 0 objects, removed 2 packs ("*" reclaimed), removed 0 stale temp files" ]]
	[ "$(packs)" = "3 4 " ]
	[ "$(seal_of 3)" = "1 2 12" ]
	# Copied, not recompressed: the same stored bytes.
	dos cat-object --batch-check="$fmt" <live >sizes.after
	diff -u sizes.before sizes.after
	run -0 dos cat-object --batch-check <gone
	[ "$(awk '{ print $2 }' <<<"$output" | sort -u)" = missing ]
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "repack --compress=<codec>:<level> recompresses unless sealed at that level or higher" {
	text_objects 100
	run -0 --separate-stderr dos repack --compress=zstd:12
	[ "$stderr" = "repacked 100 objects, removed 1 pack, reclaimed 0 bytes" ]
	[ "$(packs)" = "1 2 " ]
	[ "$(seal_of 1)" = "1 2 12" ]
	twelve=$(disk_size)
	# Lower or the same: nothing to gain, nothing done.
	for c in zstd:3 zstd:12; do
		run -0 --separate-stderr dos repack --compress="$c"
		[ "$stderr" = "repacked 0 objects, removed 0 packs, reclaimed 0 bytes" ]
		[ "$(packs)" = "1 2 " ]
	done
	# Higher: recompressed and sealed again.
	run -0 --separate-stderr dos repack --compress=zstd:19
	[ "$stderr" = "repacked 100 objects, removed 1 pack, reclaimed 0 bytes" ]
	[ "$(packs)" = "2 3 " ]
	[ "$(seal_of 2)" = "1 2 19" ]
	[ "$(disk_size)" -le "$twelve" ]
	# gc --aggressive compresses at 12: a pack sealed at 19 stays as it is.
	cp "$DOS_DIR/packs/2" pack2.copy
	run -0 --separate-stderr dos gc --aggressive
	[ "$stderr" = "packed 0 objects, removed 0 packs (0 bytes reclaimed), removed 0 stale temp files" ]
	cmp pack2.copy "$DOS_DIR/packs/2"
	# Another codec: recompressed with it.
	run -0 --separate-stderr dos repack --compress=zlib:9
	[ "$stderr" = "repacked 100 objects, removed 1 pack, reclaimed 0 bytes" ]
	[ "$(seal_of 3)" = "1 1 9" ]
	dos cat-object --batch-check='%(compression)' <ids >codecs
	[ "$(sort -u codecs)" = zlib ]
	# The container's own codec is unchanged: new objects get zstd -2.
	run -0 dos config compression_algorithm
	[ "$output" = zstd ]
	# keep moves a sealed pack as it is, and the new pack is not sealed.
	run -0 --separate-stderr dos repack --compress=keep --threshold=0
	[ "$stderr" = "repacked 0 objects, removed 0 packs, reclaimed 0 bytes" ]
	for i in 1 50 100; do
		dos cat-object "$(sed -n ${i}p ids)" >out
		cmp "text/$i" out
	done
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "gc --aggressive in a container without compression stores raw and seals" {
	dos init -q --compress=none "$BATS_TEST_TMPDIR/raw"
	export DOS_DIR="$BATS_TEST_TMPDIR/raw"
	text_objects 20
	run -0 --separate-stderr dos gc --aggressive
	[ "$stderr" = "packed 0 objects, removed 1 pack (0 bytes reclaimed), removed 0 stale temp files" ]
	[ "$(seal_of 1)" = "1 0 0" ]
	dos cat-object --batch-check='%(compression)' <ids >codecs
	[ "$(sort -u codecs)" = none ]
	run -0 --separate-stderr dos gc --aggressive
	[ "$stderr" = "packed 0 objects, removed 0 packs (0 bytes reclaimed), removed 0 stale temp files" ]
}

@test "while gc --aggressive runs, readers read and loose writers write" {
	text_objects 600
	dos cat-object --batch <ids >expected
	dos gc -q --aggressive &
	gc=$!
	n=0
	# At least once, and as long as the gc runs.
	while :; do
		dos cat-object --batch <ids >out
		cmp expected out
		n=$((n + 1))
		printf 'written during gc %04d\n' "$n" | dos hash-object -w --stdin >>new_ids
		kill -0 "$gc" 2>/dev/null || break
	done
	wait "$gc"
	run -0 dos cat-object --batch-check='%(objectname) %(objectsize)' <new_ids
	[ "$(awk '{ print $2 }' <<<"$output" | sort -u)" = 23 ]
	[ "$(wc -l <new_ids)" -eq "$n" ]
	run -0 --separate-stderr dos fsck --full
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "kill -9 of gc --aggressive at random moments: every live object intact, the next run finishes" {
	removals_in_small_packs
	for round in 1 2 3 4 5; do
		# Loose objects too, packed by the run: live from now on.
		id=$(printf 'loose %s\n' "$round" | dos hash-object -w --stdin)
		echo "$id" >>live
		printf '%s 8\nloose %s\n\n' "$id" "$round" >>live.batch
		kill_within 30 dos gc --aggressive
		check_objects live gone
		run -0 --separate-stderr dos gc --aggressive
		[[ "$stderr" = packed\ * ]]
		check_objects live gone
		[ "$(rebuilt_ids)" = "$(id_starts live)" ]
		run -0 --separate-stderr dos fsck
		[ "$stderr" = "dos fsck: no problems found" ]
	done
	# Every pack but the newest (empty) one is sealed.
	for p in $(packs); do
		[ "$p" = "$(packs | awk '{ print $NF }')" ] && continue
		[ "$(seal_of "$p")" = "1 2 12" ]
	done
	# And a last run has nothing to do.
	run -0 --separate-stderr dos gc --aggressive
	[ "$stderr" = "packed 0 objects, removed 0 packs (0 bytes reclaimed), removed 0 stale temp files" ]
}
