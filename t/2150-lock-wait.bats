#!/usr/bin/env bats
# Waiting for packs/lock: on a terminal a command says once who holds it
# before it waits, silently otherwise or with -q; with --no-wait a held
# lock is exit status 75 in every command, which no other failure uses.
load helper

# Wait until file $1 is not empty: a waiter has said it waits.
wait_for_output() {
	for _ in $(seq 1 100); do
		[ -s "$1" ] && break
		sleep 0.05
	done
	[ -s "$1" ]
}

# Run "$2" in the background on a pseudo-terminal (its stdout and
# stderr), what it writes there going to $1.tty; its pid in $1_pid.  Not
# holding the holder's fifo (fd 7) or bats' fd 3.
on_terminal() {
	script -qec "$2" /dev/null </dev/null >"$1.tty" 7>&- 3>&- &
	eval "$1_pid=\$!"
}

# What the command run by on_terminal $1 wrote, without carriage returns.
terminal_text() {
	tr -d '\r' <"$1.tty"
}

@test "--no-wait with the lock held: exit 75, who holds it, in every command" {
	printf abc >abc
	dos hash-object -w abc >/dev/null
	start_holder
	lock_refused pack
	lock_refused repack
	lock_refused gc
	lock_refused rm "$ABC_OID"
	stop_holder
	# What was 1 before stays 1: an id not found.
	run -1 --separate-stderr dos rm --no-wait "$EMPTY_OID"
	[ "$stderr" = "dos-rm: error: object '$EMPTY_OID' not found" ]
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
}

@test "on a terminal, a writer says once who holds the lock, then waits" {
	printf abc >abc
	dos hash-object -w abc >/dev/null
	printf def >def
	start_holder
	on_terminal pack 'dos pack --no-progress'
	on_terminal fsck 'dos fsck --repair --no-progress'
	on_terminal hash 'dos hash-object -w --to-pack def'
	wait_for_output pack.tty
	wait_for_output fsck.tty
	wait_for_output hash.tty
	[ "$(terminal_text pack)" = "dos-pack: waiting for the pack lock held by pid $holder (dos-hash-object)..." ]
	[ "$(terminal_text fsck)" = "dos-fsck: waiting for the pack lock held by pid $holder (dos-hash-object)..." ]
	[ "$(terminal_text hash)" = "dos-hash-object: waiting for the pack lock held by pid $holder (dos-hash-object)..." ]
	stop_holder
	wait "$pack_pid"
	wait "$fsck_pid"
	wait "$hash_pid"
	[ "$(terminal_text pack)" = "dos-pack: waiting for the pack lock held by pid $holder (dos-hash-object)...
packed 1 object (3 bytes -> 17 bytes) into pack 0" ]
	[ "$(terminal_text fsck)" = "dos-fsck: waiting for the pack lock held by pid $holder (dos-hash-object)...
dos fsck: no problems found" ]
	[ "$(terminal_text hash)" = "dos-hash-object: waiting for the pack lock held by pid $holder (dos-hash-object)...
$(sha256_of def)" ]
}

@test "no word of the wait with -q on a terminal, or when stderr is no terminal" {
	printf abc >abc
	dos hash-object -w abc >/dev/null
	start_holder
	on_terminal gc 'dos gc -q'
	dos rm -v "$ABC_OID" >rm.out 2>rm.err 7>&- 3>&- &
	rm_pid=$!
	sleep 0.5
	# Both wait, and have said nothing.
	kill -0 "$gc_pid"
	kill -0 "$rm_pid"
	[ "$(terminal_text gc)" = "" ]
	[ "$(cat rm.err)" = "" ]
	stop_holder
	wait "$gc_pid"
	wait "$rm_pid"
	[ "$(terminal_text gc)" = "" ]
	[ "$(cat rm.out)" = "removed $ABC_OID" ]
	[ "$(cat rm.err)" = "" ]
}
