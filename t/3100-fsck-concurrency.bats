#!/usr/bin/env bats
# dos fsck and listings while other processes change the container: what
# changed while they ran is neither reported nor missed.  The command is
# stopped at exact points by strace (signal injection), the other process
# does its work, and the command goes on.
load helper

# Start program $1 with the arguments after $3 under strace, stopped by
# SIGSTOP right after the calls of system call $2 numbered $3 (for
# example 1..2); its output goes to traced.out and traced.err, and the
# job's pid to traced_job.
start_traced() {
	local prog=$1 call=$2 when=$3
	shift 3
	# LeakSanitizer cannot work under ptrace.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    strace -f -o trace -e trace="$call" \
	    -e inject="$call":signal=SIGSTOP:when="$when" \
	    "$prog" "$@" >traced.out 2>traced.err 3>&- &
	traced_job=$!
}

# Wait until the traced program is stopped for the $1-th time; print its
# pid.
stopped() {
	local i
	for i in $(seq 1 100); do
		if [ "$(grep -cs 'stopped by SIGSTOP' trace)" -ge "$1" ] 2>/dev/null; then
			awk '/stopped by SIGSTOP/ { pid = $1 } END { print pid }' trace
			return 0
		fi
		sleep 0.1
	done
	echo "the traced program did not stop" >&2
	return 1
}

# Two objects packed in pack 0, $kept and $gone; gone removed, so that a
# repack with --threshold=0 moves kept into pack 1 and deletes pack 0.
pack_kept_and_gone() {
	printf 'kept\n' >kept
	printf 'gone\n' >gone
	kept=$(dos hash-object -w kept)
	gone=$(dos hash-object -w gone)
	dos pack -q
	dos rm "$gone"
}

# Repack everything: kept moves into pack 1 and pack 0 goes.
repack_kept_away() {
	dos repack -q --threshold=0
	[ ! -e "$DOS_DIR/packs/0" ]
	run -0 dos cat-object --batch-check='%(objectname) %(pack)' <<<"$kept"
	[ "$output" = "$kept 1" ]
}

# Wait for fsck to end; it found nothing.
fsck_clean() {
	local rc=0
	wait "$traced_job" || rc=$?
	cat traced.out traced.err
	[ "$rc" -eq 0 ]
	[ ! -s traced.out ]
	[ ! -s traced.err ]
}

@test "an object that a repack moves while fsck runs is not reported lost" {
	pack_kept_and_gone
	# Stopped once it has read the index (kept is in pack 0) and listed
	# the packs, before it opens them.
	start_traced dos-fsck getdents64 2 -q
	pid=$(stopped 1)
	repack_kept_away
	kill -CONT "$pid"
	fsck_clean
}

@test "what a writer appends while fsck measures a pack is no torn tail" {
	printf 'packed\n' >packed
	printf 'loose\n' >loose
	dos hash-object -w --to-pack packed >/dev/null
	dos hash-object -w loose >/dev/null
	size=$(stat -c %s "$DOS_DIR/packs/0")
	mkfifo big
	# Stopped right after it opened pack 0, before it measures it; no
	# writer was at work when it started.
	start_traced dos-fsck openat2 1..2 -q
	pid=$(stopped 1)
	# A writer appends the first part of a large object to pack 0, past
	# the committed length, and waits for the rest.
	dos hash-object -w --to-pack --stdin <big >big.id 3>&- &
	writer=$!
	exec {feed}>big
	head -c 3000000 /dev/urandom >&"$feed"
	for i in $(seq 1 100); do
		[ "$(stat -c %s "$DOS_DIR/packs/0")" -le "$size" ] || break
		sleep 0.1
	done
	[ "$(stat -c %s "$DOS_DIR/packs/0")" -gt "$size" ]
	# fsck measures pack 0 longer than committed, and stops again when it
	# opens the loose object; meanwhile the writer commits and exits.
	kill -CONT "$pid"
	pid=$(stopped 2)
	exec {feed}>&-
	wait "$writer"
	kill -CONT "$pid"
	fsck_clean
	run -0 dos fsck -q
}

@test "an object packed and removed while fsck runs is not reported unindexed" {
	printf 'packed\n' >packed
	printf 'loose\n' >loose
	printf 'passing\n' >passing
	dos hash-object -w --to-pack packed >/dev/null
	dos hash-object -w loose >/dev/null
	# Stopped right after it opened pack 0, before it measures it; it has
	# read the index already.
	start_traced dos-fsck openat2 1..2 -q
	pid=$(stopped 1)
	# An object the index it read does not have is packed into pack 0,
	# within the length fsck measures next ...
	id=$(dos hash-object -w --to-pack passing)
	kill -CONT "$pid"
	# ... and removed once fsck has measured it, before it compares the
	# pack with the index: its tombstone lies past what fsck scans.
	pid=$(stopped 2)
	dos rm "$id"
	kill -CONT "$pid"
	fsck_clean
	run -0 dos fsck -q
}

@test "an object that a repack moves while an unordered listing reads it is listed once, and read" {
	pack_kept_and_gone
	# Stopped once it listed the index, at its first open of a pack.
	start_traced dos-cat-object openat2 1 --batch-all-objects --unordered \
	    --batch
	pid=$(stopped 1)
	# The repack moves kept into pack 1 and deletes pack 0.
	repack_kept_away
	kill -CONT "$pid"
	wait "$traced_job"
	[ "$(cat traced.out)" = "$kept 5
kept" ]
	[ ! -s traced.err ]
}
