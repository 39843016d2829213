#!/usr/bin/env bats
# dos backup (issue 18): consistent backups of a container in use, each a
# valid container, incremental by hard links, never complete-looking when
# interrupted, one at a time into a directory.
load helper

USAGE='usage: dos backup [-q] [--[no-]progress] [--keep=<n>] (<directory> | <host>:<directory>)'

# $1 objects "obj <tag> <i>" and 4000 random bytes each, stored with hash-object $2...;
# their ids appended to ids.
store_objects() {
	local n=$1 tag=$2 i
	shift 2
	mkdir -p data
	for i in $(seq 1 "$n"); do
		{ echo "obj $tag $i"; head -c 4000 /dev/urandom; } >"data/$tag.$i"
	done
	seq 1 "$n" | sed "s|^|data/$tag.|" | dos hash-object -w "$@" --stdin-paths >>ids
}

# The backup at $1 is a clean container holding every id of file $2,
# with the same contents as the container.
holds() {
	local backup=$1 want=$2
	dos -d "$backup" fsck -q
	dos cat-object --batch <"$want" >expected.$$
	dos -d "$backup" cat-object --batch <"$want" >actual.$$
	cmp expected.$$ actual.$$
}

inode() {
	stat -c %i "$1"
}

@test "a backup is a clean container with every object, and prints its path" {
	store_objects 5 packed --to-pack
	store_objects 3 loose
	run -0 --separate-stderr dos backup backups
	[[ "$output" =~ ^backups/[0-9]{8}T[0-9]{6}Z$ ]]
	[ "$stderr" = "backed up 3 loose objects and 2 packs: ${stderr#*packs: }" ]
	[[ "$stderr" = *" copied, 0 bytes linked to the previous backup" ]]
	holds "$output" ids
	run -0 dos ls
	local all=$output
	run -0 dos -d backups/2* ls
	[ "$output" = "$all" ]
	# Nothing but the backup and the lock in the directory.
	run -0 ls -A backups
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[1]}" = lock ]
	# The backup is a container like any other: written to, it stays clean.
	run -0 dos -d backups/2* hash-object -w --to-pack data/loose.1
	run -0 dos -d backups/2* fsck -q
}

@test "an empty container, and one never packed, back up" {
	run -0 --separate-stderr dos backup -q b1
	[ "$stderr" = "" ]
	run -0 dos -d "$output" fsck -q
	store_objects 2 loose
	run -0 dos backup -q b2
	holds "$output" ids
}

@test "progress on a terminal, or with --progress; never with -q or --no-progress" {
	store_objects 5 packed --to-pack
	store_objects 3 loose
	# 3 loose objects, then pack 0 and pack 1 the backup sealed.
	DOS_PROGRESS_INTERVAL=0 run -0 --separate-stderr dos backup --progress b1
	progress_counts "backing up files" 5 "${stderr_lines[0]}"
	[ "${stderr_lines[1]}" = "backed up 3 loose objects and 2 packs: ${stderr_lines[1]#*packs: }" ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	run -0 --separate-stderr dos backup --progress -q b2
	[ "$stderr" = "" ]
	run -0 --separate-stderr dos backup b3
	[ "${#stderr_lines[@]}" -eq 1 ]
	# Standard error a terminal: progress by default, --no-progress off.
	DOS_PROGRESS_INTERVAL=1000 run -0 script -qec "dos backup -q b4 2>&1 >/dev/null; dos backup b5 2>&1 >/dev/null" /dev/null
	[ "${output%%$'\n'*}" = $'\rbacking up files: 5, done.\r' ]
	run -0 script -qec "dos backup --no-progress b6 2>&1 >/dev/null" /dev/null
	[ "${output:0:10}" = "backed up " ]
}

@test "the next backup links what did not change and copies the rest" {
	store_objects 30 first --to-pack
	store_objects 2 loose
	run -0 dos backup -q backups
	local one=$output
	# The backup sealed pack 0: objects packed since went into pack 1.
	store_objects 3 second --to-pack
	store_objects 1 more
	run -0 dos cat-object --batch-check='%(pack)' <<<"$(tail -n 2 ids | head -n 1)"
	[ "$output" = 1 ]
	run -0 --separate-stderr dos backup backups
	local two=$output
	[ "$one" != "$two" ]
	# Its index keeps the log file its last checkpoint is in, the one its
	# pages name: it opens by recovering from that checkpoint.
	run -0 ls "$two/index"
	[[ "$output" = $'log.'[0-9]*$'\nobjects.db\npacks.db' ]]
	[ "${#lines[@]}" -eq 3 ]
	holds "$two" ids
	# The sealed pack and the old loose files are the same files.
	[ "$(inode "$one/packs/0")" = "$(inode "$two/packs/0")" ]
	local id
	id=$(sed -n 31p ids)
	[ "$(inode "$one/loose/${id:0:2}/${id:2}")" = "$(inode "$two/loose/${id:0:2}/${id:2}")" ]
	# The pack written since was copied: about 3 objects' bytes.
	[ "$(inode "$one/packs/1")" != "$(inode "$two/packs/1")" ]
	# Copied: pack 1, sealed now, the empty pack 2 after it, and one
	# loose object.
	[[ "$stderr" = "backed up 3 loose objects and 3 packs: 1"[0-9].[0-9]" KiB copied, "*" linked to the previous backup" ]]
	# Restored by copying it back, the incremental backup is a clean
	# container, which stays clean when written to.
	cp -a "$two" restored
	holds restored ids
	echo "new since the restore" >new.txt
	run -0 dos -d restored hash-object -w --to-pack new.txt
	run -0 dos -d restored fsck -q
	# Nothing written since: the third backup copies nothing, the packs
	# (the empty newest one stays as it is) and loose files are links.
	run -0 --separate-stderr dos backup --keep=2 backups
	local three=$output
	[[ "$stderr" = "backed up 3 loose objects and 3 packs: 0 bytes copied, "*" linked to the previous backup" ]]
	[ "$(inode "$two/packs/1")" = "$(inode "$three/packs/1")" ]
	[ "$(inode "$two/packs/2")" = "$(inode "$three/packs/2")" ]
	# --keep=2 left the newest two.
	run -0 ls backups
	[ "$output" = "$(printf '%s\n%s\nlock' "${two#backups/}" "${three#backups/}")" ]
	holds "$three" ids
}

@test "config.json is linked to the previous backup's, copied once changed" {
	store_objects 2 loose
	run -0 dos backup -q backups
	local one=$output
	run -0 --separate-stderr dos backup backups
	local two=$output
	[ "$(inode "$one/config.json")" = "$(inode "$two/config.json")" ]
	[[ "$stderr" = *": 0 bytes copied, "* ]]
	# A setting of the same length changed: the same size, other bytes.
	run -0 dos config pack_size_target 2000000000
	run -0 dos backup -q backups
	local three=$output
	[ "$(inode "$two/config.json")" != "$(inode "$three/config.json")" ]
	cmp "$DOS_DIR/config.json" "$three/config.json"
	run -0 dos -d "$three" config pack_size_target
	[ "$output" = 2000000000 ]
	holds "$three" ids
}

# The fault points "before|after backup-index-recover*" in file $1.
recoveries() {
	awk '$3 ~ /^backup-index-recover/ { print $2, $3 }' "$1"
}

@test "the index copy recovers from the checkpoint before it; from all its log after another one" {
	store_objects 20 first --to-pack
	run -0 dos backup -q backups
	# No checkpoint after the copy: it recovers from the last one before.
	store_objects 3 second --to-pack
	DOS_FAULT_LOG=$PWD/points.1 run -0 dos backup -q backups
	holds "$output" ids
	run -0 recoveries points.1
	[ "$output" = $'before backup-index-recover\nafter backup-index-recover' ]
	# Another process checkpoints after the index was copied (a writer
	# closing it): the copy is recovered from all its log.  The backup
	# stops right after the copy, as the one above passed the same points.
	local n pid
	n=$(awk '$2 == "after" && $3 == "backup-index-copy" { print $1; exit }' points.1)
	[ -n "$n" ]
	store_objects 3 third --to-pack
	DOS_FAULT=stop:$n DOS_FAULT_LOG=$PWD/points.2 dos backup -q backups >made &
	pid=$!
	wait_stopped "$pid"
	echo "stored while the backup waits" >during.txt
	run -0 dos hash-object -w --to-pack during.txt
	kill -CONT "$pid"
	wait "$pid"
	run -0 recoveries points.2
	[ "$output" = $'before backup-index-recover-fatal\nafter backup-index-recover-fatal' ]
	run -0 ls "$(cat made)/index"
	[[ "$output" = $'log.'[0-9]*$'\nobjects.db\npacks.db' ]]
	holds "$(cat made)" ids
}

@test "a backup checkpoints the index only when much was logged since its last checkpoint" {
	store_objects 20 first --to-pack
	run -0 dos backup -q backups
	run -0 db5.3_printlog -h "$DOS_DIR/index"
	local before
	before=$(grep -c __txn_ckp <<<"$output")
	# Nothing was logged since the first backup's checkpoint at close:
	# the second makes only its own at close.
	run -0 dos backup -q backups
	run -0 db5.3_printlog -h "$DOS_DIR/index"
	[ "$(grep -c __txn_ckp <<<"$output")" -eq $((before + 1)) ]
}

@test "the index copy's log file ends where the log does, without the zeros past it" {
	store_objects 20 first --to-pack
	run -0 dos backup -q backups
	holds backups/2* ids
	local logs copies
	logs=("$DOS_DIR"/index/log.*)
	copies=(backups/2*/index/log.*)
	[ "${#logs[@]}" -eq 1 ]
	[ "${#copies[@]}" -eq 1 ]
	[ "${logs[0]##*/}" = "${copies[0]##*/}" ]
	# The environment makes a log file full size (1 MiB) when it starts
	# one; the copy holds what was logged, and its recovery's checkpoint.
	[ "$(stat -c %s "${logs[0]}")" -gt 1000000 ]
	[ "$(stat -c %s "${copies[0]}")" -lt 100000 ]
	[ "$(du -k "${copies[0]}" | cut -f1)" -lt 100 ]
}

@test "strace: a backup syncs each of its files once, all before it is named complete" {
	store_objects 20 first --to-pack
	run -0 dos backup -q backups
	store_objects 3 second --to-pack
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    run -0 strace -f -y -qq -o trace -e trace=fsync,fdatasync,renameat dos backup -q backups
	local name=${output##*/}
	holds "$output" ids
	# Each file of the index's copy synced once (Berkeley DB's own syncs
	# as it recovers the copy left out), the new pack and the one the
	# backup sealed, and the backup's directories.
	grep -o "sync([0-9]*<[^>]*/$name\.partial[^>]*>" trace |
	    sed -E -e 's/^.*\.partial//' -e 's/>$//' -e 's/^$/./' \
	    -e 's/log\.[0-9]+$/log.N/' | LC_ALL=C sort >synced
	run -0 cat synced
	[ "$output" = "$(printf '%s\n' . /index /index/log.N /index/objects.db /index/packs.db /loose /packs /packs/1 /packs/2)" ]
	# All of them before the rename, which the sync of the directory follows.
	run -0 awk -v name="$name" '
		index($0, name ".partial") && /sync\(/ { last = NR }
		/^[0-9]+ +renameat\(/ && index($0, name) { renamed = NR }
		renamed && NR > renamed && /fsync\(/ && !index($0, name) { dir = NR }
		END { print (last < renamed && renamed < dir) ? "in order" : "out of order" }' trace
	[ "$output" = "in order" ]
}

@test "backups while writers, packers and repacks run: each complete and clean" {
	store_objects 40 base --to-pack
	store_objects 10 baseloose
	cp ids before
	(
		for round in 1 2 3 4 5 6; do
			store_objects 20 "w$round"
			dos pack -q
			store_objects 10 "p$round" --to-pack
			head -n 5 ids | tail -n 1 | dos rm -q --ignore-missing --stdin
			dos repack -q --threshold=0
		done
	) >writer.out 2>&1 &
	local writer=$! b
	for i in 1 2 3 4 5; do
		run -0 dos backup -q backups
		b=$output
		# Every object stored before it began is there, except the one
		# removed meanwhile, which may or may not be.
		sed -n '1,4p;6,$p' before >want
		holds "$b" want
	done
	wait "$writer"
	run -0 cat writer.out
	[ "$output" = "" ]
}

@test "a backup killed at any moment never looks complete; the next one cleans up" {
	store_objects 50 base --to-pack
	store_objects 20 loose
	run -0 dos backup -q backups
	local first=$output b
	for delay in 0.01 0.03 0.05 0.08 0.12; do
		dos backup -q backups >/dev/null 2>&1 &
		sleep "$delay"
		kill -9 $! 2>/dev/null || true
		wait $! || true
		# Whatever is there under a backup's name is complete.
		for b in backups/2*; do
			case $b in
			*.partial) continue ;;
			esac
			holds "$b" ids
		done
	done
	run -0 dos backup -q backups
	holds "$output" ids
	run -0 find backups -maxdepth 1 -name '*.partial'
	[ "$output" = "" ]
	[ -d "$first" ]
}

@test "one backup into a directory at a time: exit 75" {
	mkdir backups
	exec 8>backups/lock
	flock 8
	run -75 --separate-stderr dos backup backups
	[ "$output" = "" ]
	[ "$stderr" = "dos-backup: error: another backup into 'backups' is running" ]
	exec 8>&-
	run -0 dos backup -q backups
}

# An ssh that runs the command here, as the remote shell would; rsync
# runs it too.  Each call is logged.
fake_ssh() {
	mkdir -p bin
	printf '#!/bin/sh\necho "$*" >>"%s/ssh.log"\nshift\nexec sh -c "$*"\n' \
	    "$BATS_TEST_TMPDIR" >bin/ssh
	chmod +x bin/ssh
	export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

@test "host:directory: backups over ssh and rsync, linked to the newest there" {
	fake_ssh
	# A container never packed has no index to send.
	run -0 dos backup -q "elsewhere:$BATS_TEST_TMPDIR/empty"
	run -0 dos -d "${output#elsewhere:}" fsck -q
	store_objects 10 packed --to-pack
	store_objects 2 loose
	run -0 --separate-stderr dos backup "elsewhere:$BATS_TEST_TMPDIR/far away"
	[[ "$output" =~ ^elsewhere:$BATS_TEST_TMPDIR/far\ away/[0-9]{8}T[0-9]{6}Z$ ]]
	local one=${output#elsewhere:}
	[ "$stderr" = "backed up 2 loose objects and 2 packs to elsewhere" ]
	holds "$one" ids
	store_objects 2 more --to-pack
	run -0 dos backup -q "elsewhere:$BATS_TEST_TMPDIR/far away"
	local two=${output#elsewhere:}
	holds "$two" ids
	[ "$(inode "$one/packs/0")" = "$(inode "$two/packs/0")" ]
	[ "$(inode "$one/packs/1")" != "$(inode "$two/packs/1")" ]
	# The staging tree is gone from sandbox/, and gc has nothing to do.
	run -0 ls -A "$DOS_DIR/sandbox"
	[ "$output" = "" ]
	run -0 dos backup -q --keep=1 "elsewhere:$BATS_TEST_TMPDIR/far away"
	local three=${output#elsewhere:}
	run -0 ls "$BATS_TEST_TMPDIR/far away"
	[ "$output" = "${three##*/}" ]
	holds "$three" ids
	# A transfer that fails: exit 128, nothing left here.
	printf '#!/bin/sh\nexit 12\n' >bin/rsync
	chmod +x bin/rsync
	run -128 --separate-stderr dos backup "elsewhere:$BATS_TEST_TMPDIR/far away"
	[ "$stderr" = "dos-backup: fatal: rsync failed (exit status 12)" ]
	run -0 ls -A "$DOS_DIR/sandbox"
	[ "$output" = "" ]
}

@test "gc removes the staging tree of a remote backup that was killed" {
	mkdir -p "$DOS_DIR/sandbox/obj-999999999-backup/20261207T000000Z/packs"
	echo x >"$DOS_DIR/sandbox/obj-999999999-backup/20261207T000000Z/packs/0"
	run -0 --separate-stderr dos gc
	[ "$stderr" = "packed 0 objects, removed 0 packs (0 bytes reclaimed), removed 1 stale temp file" ]
	run -0 ls -A "$DOS_DIR/sandbox"
	[ "$output" = "" ]
}

@test "usage errors exit 129; a failure exits 128 and leaves nothing" {
	run -129 --separate-stderr dos backup
	[ "$stderr" = "dos-backup: error: no backup directory
$USAGE" ]
	run -129 --separate-stderr dos backup a b
	[ "$stderr" = "dos-backup: error: too many arguments
$USAGE" ]
	run -129 --separate-stderr dos backup --keep=0 a
	[ "$stderr" = "dos-backup: error: --keep takes a number of backups from 1, not '0'
$USAGE" ]
	run -0 dos backup -h
	[ "$output" = "$USAGE" ]
	# A directory that cannot be written.
	store_objects 2 loose
	mkdir ro
	chmod 555 ro
	if [ "$(id -u)" -ne 0 ]; then
		run -128 --separate-stderr dos backup ro
		[[ "$stderr" = "dos-backup: fatal: unable to back up '$DOS_DIR' into 'ro': "* ]]
	fi
	# A file where the directory should be.
	: >file
	run -128 --separate-stderr dos backup file
	[ "$stderr" = "dos-backup: fatal: unable to back up '$DOS_DIR' into 'file': Not a directory" ]
}
