#!/usr/bin/env bats
# dos fsck from cron: what a killed writer leaves (its temp files in
# sandbox/, the torn tail or the unfinished pack of the newest pack) is a
# notice, which -q silences and which never fails the check, as the next
# writer or dos gc cleans it; the same bytes where no writer will clean
# them are still problems.
load helper

# The byte sizes of the files $@, added up.
bytes_of() {
	stat -c %s "$@" | awk '{ n += $1 } END { print n }'
}

# packs/0 with one object, its size in size, and 100 bytes past it.
pack_with_torn_tail() {
	seq 1 1000 >s
	dos hash-object -w --to-pack s >/dev/null
	size=$(stat -c %s "$DOS_DIR/packs/0")
	head -c 100 /dev/urandom >>"$DOS_DIR/packs/0"
}

# The check from cron passes and says nothing.
cron_check_passes() {
	run -0 --separate-stderr dos fsck -q
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}

@test "hash-object -w killed mid-batch: its temp files are a notice, fsck -q is silent" {
	seq 1 100 >a
	seq 1 200 >b
	seq 1 300 >c
	# Killed once the batch is written to sandbox/, before any rename.
	run -137 --separate-stderr env DOS_FAULT_LOG=points DOS_FAULT=kill:13 \
	    dos hash-object -w a b c
	[ "$(tail -1 points)" = "13 before loose-temps-syncfs" ]
	run -0 ls "$DOS_DIR/sandbox"
	[ "${#lines[@]}" -eq 3 ]
	[ "$(bytes_of "$DOS_DIR"/sandbox/*)" -eq 2076 ]
	cron_check_passes
	run -0 --separate-stderr dos fsck
	[ "$output" = "" ]
	[ "$stderr" = "dos fsck: notice: 3 temp files of interrupted writers (2.0 KiB) in sandbox/; the next dos gc removes them
dos fsck: no problems found" ]
	run -0 --separate-stderr dos gc -q
	run -0 --separate-stderr dos fsck
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "a temp file of a dead writer and an old one: one notice with their size" {
	sh -c 'echo $$' >deadpid
	dead=$(cat deadpid)
	head -c 1048576 /dev/zero >"$DOS_DIR/sandbox/obj-$dead-0-0badf00d"
	head -c 524288 /dev/zero >"$DOS_DIR/sandbox/obj-$$-1-12345678"
	touch -d '2 days ago' "$DOS_DIR/sandbox/obj-$$-1-12345678"
	# A live writer's temp file is nothing.
	: >"$DOS_DIR/sandbox/obj-$$-0-12345678"
	cron_check_passes
	run -0 --separate-stderr dos fsck --loose
	[ "$output" = "" ]
	[ "$stderr" = "dos fsck: notice: 2 temp files of interrupted writers (1.5 MiB) in sandbox/; the next dos gc removes them
dos fsck: no problems found" ]
	rm "$DOS_DIR/sandbox/obj-$$-1-12345678"
	run -0 --separate-stderr dos fsck
	[ "$stderr" = "dos fsck: notice: 1 temp file of an interrupted writer (1.0 MiB) in sandbox/; the next dos gc removes it
dos fsck: no problems found" ]
}

@test "--to-pack killed before its commit: the torn tail is a notice until the next writer cuts it" {
	printf abc >abc
	seq 1 100 >s
	dos hash-object -w --to-pack abc >/dev/null
	size=$(stat -c %s "$DOS_DIR/packs/0")
	# Killed with its batch in the pack, synced, but not committed.
	run -137 --separate-stderr env DOS_FAULT_LOG=points DOS_FAULT=kill:9 \
	    dos hash-object -w --to-pack s
	[ "$(tail -1 points)" = "9 after pack-fdatasync" ]
	torn=$(($(stat -c %s "$DOS_DIR/packs/0") - size))
	[ "$torn" -gt 0 ]
	cron_check_passes
	run -0 --separate-stderr dos fsck
	[ "$output" = "" ]
	[ "$stderr" = "dos fsck: notice: a torn tail of an interrupted writer ($torn bytes) past the committed length of packs/0; the next pack writer cuts it off
dos fsck: no problems found" ]
	run -0 dos hash-object -w --to-pack s
	run -0 --separate-stderr dos fsck
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "pack killed mid-write: a notice; --repair cuts the tail as the next writer would" {
	seq 1 100 >a
	seq 1 200 >b
	dos hash-object -w a b >/dev/null
	# Killed with its entries written after the new pack's header.
	run -137 --separate-stderr env DOS_FAULT_LOG=points DOS_FAULT=kill:20 \
	    dos pack -q
	[ "$(tail -1 points)" = "20 after pack-write" ]
	torn=$(($(stat -c %s "$DOS_DIR/packs/0") - 16))
	[ "$torn" -gt 0 ]
	cron_check_passes
	run -0 --separate-stderr dos fsck --packs
	[ "$stderr" = "dos fsck: notice: a torn tail of an interrupted writer ($torn bytes) past the committed length of packs/0; the next pack writer cuts it off
dos fsck: no problems found" ]
	run -0 --separate-stderr dos fsck --repair
	[ "$output" = "" ]
	[ "$stderr" = "dos fsck: cut-tail packs/0 offset=16 length=$torn
dos fsck: no problems found" ]
	[ "$(stat -c %s "$DOS_DIR/packs/0")" -eq 16 ]
	run -0 --separate-stderr dos pack -q
	run -0 --separate-stderr dos fsck
	[ "$stderr" = "dos fsck: no problems found" ]
}

@test "a pack whose creation was cut short is a notice when it is the newest" {
	printf abc >abc
	dos hash-object -w --to-pack abc >/dev/null
	head -c 16 "$DOS_DIR/packs/0" >"$DOS_DIR/packs/1"
	cron_check_passes
	run -0 --separate-stderr dos fsck
	[ "$output" = "" ]
	[ "$stderr" = "dos fsck: notice: an unfinished pack of an interrupted writer (16 bytes) in packs/1; the next pack writer takes it over
dos fsck: no problems found" ]
}

@test "bytes past the committed length that no writer will cut are still a problem" {
	pack_with_torn_tail
	# The next writer takes over packs/1 and never comes back to packs/0.
	head -c 16 "$DOS_DIR/packs/0" >"$DOS_DIR/packs/1"
	run -4 --separate-stderr dos fsck -q
	[ "$output" = "torn-tail packs/0 offset=$size length=100" ]
	[ "$stderr" = "" ]
	run -4 --separate-stderr dos fsck
	[ "$output" = "torn-tail packs/0 offset=$size length=100" ]
	[ "$stderr" = "dos fsck: notice: an unfinished pack of an interrupted writer (16 bytes) in packs/1; the next pack writer takes it over
dos fsck: 1 problem (1 torn-tail)" ]
}

@test "a torn tail of a pack with a damaged header is a problem: no writer continues that pack" {
	pack_with_torn_tail
	printf X | dd of="$DOS_DIR/packs/0" bs=1 seek=0 conv=notrunc status=none
	run -4 --separate-stderr dos fsck
	[ "$output" = "bad-pack-header packs/0
torn-tail packs/0 offset=$size length=100" ]
	[ "$stderr" = "dos fsck: 2 problems (1 bad-pack-header, 1 torn-tail)" ]
}
