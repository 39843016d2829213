#!/usr/bin/env bats
# The concurrency soak (t/stress/soak, run long by make stress), short: a
# few seconds, one writer of each kind and one reader.  And that it sees
# what it is there to see: wrong bytes and a command that hangs.
load helper

# Run the soak on the programs in $1 for 4 seconds.
soak() {
	run --separate-stderr env STRESS_SECONDS=4 SOAK_WRITERS=1 SOAK_READERS=1 \
	    TMPDIR="$BATS_TEST_TMPDIR" "$BATS_TEST_DIRNAME/stress/soak" "$1"
	printf '%s\n' "$output" "$stderr"
}

# A build directory in fake/ whose dos-$1 is the script on stdin.  dos
# runs its built-in commands in itself, so fake/dos is a script that runs
# fake/dos-$1 for "dos $1" (the soak gives no option before a command).
fake_build() {
	mkdir fake
	ln -s "$DOS_EXEC_PATH"/dos-* fake/
	rm "fake/dos-$1"
	cat >"fake/dos-$1"
	cat >fake/dos <<SCRIPT
#!/bin/sh
if [ "\$1" = "$1" ]; then
	shift
	exec "$PWD/fake/dos-$1" "\$@"
fi
exec "$DOS_EXEC_PATH/dos" "\$@"
SCRIPT
	chmod +x "fake/dos-$1" fake/dos
}

@test "a short soak: every operation succeeds, every worker works, nothing is left" {
	soak "$DOS_EXEC_PATH"
	[ "$status" -eq 0 ]
	[[ "${lines[-1]}" =~ ^soak\ operations:\ ([0-9]+)\ tried,\ 0\ failed$ ]]
	# At least one operation of each of the 9 workers and the 6 checks.
	[ "${BASH_REMATCH[1]}" -ge 15 ]
	[[ "${lines[-2]}" =~ ^soak\ duration:\ [0-9]+\ s,\ 9\ processes\ looping\ at\ once$ ]]
	[ "$stderr" = "" ]
	[ -z "$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name 'dos-soak.*')" ]
}

@test "the soak sees a reader that gets wrong bytes" {
	fake_build cat-object <<SCRIPT
#!/bin/sh
case " \$* " in
*" --batch "*) "$DOS_EXEC_PATH/dos-cat-object" "\$@" | tr 0 1; exit ;;
esac
exec "$DOS_EXEC_PATH/dos-cat-object" "\$@"
SCRIPT
	soak fake
	[ "$status" -eq 1 ]
	[[ "${lines[-1]}" =~ ^soak\ operations:\ [0-9]+\ tried,\ [1-9][0-9]*\ failed$ ]]
	[[ "$output" = *"FAIL cat-object --batch"*": wrong bytes, kept in bad."* ]]
	[[ "$output" = *"FAIL after the soak: not every acknowledged object reads back intact: exit 0"* ]]
	[[ "${lines[-3]}" = "work directory kept: $BATS_TEST_TMPDIR/dos-soak."* ]]
}

@test "the soak sees a command that hangs" {
	fake_build fsck <<'SCRIPT'
#!/bin/sh
exec sleep 60
SCRIPT
	SOAK_COMMAND_SECONDS=1 soak fake
	[ "$status" -eq 1 ]
	# Other commands may be slower than 1 second on a busy machine too.
	[[ "$output" = *"killed by the timeout:"* ]]
	grep -qx 'fsck: dos fsck -q --quick' <<<"$output"
	[[ "$output" = *"FAIL after the soak: fsck: timed out, killed after 1 s"* ]]
}
