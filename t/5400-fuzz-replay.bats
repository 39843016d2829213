#!/usr/bin/env bats
# The kept fuzz inputs, t/fuzz/corpus/<target>/ (the seeds and every input
# that once found a bug), replayed through each fuzz target of t/fuzz/
# without libFuzzer.  Under the sanitizer build of CI this is where a bug
# found by fuzzing would come back: a sanitizer report fails the replay,
# and so do an allocation over 256 MiB and a hang (the timeout is only
# there so that a hang fails the test instead of stopping the suite).

load helper

replay() {
	local corpus="$BATS_TEST_DIRNAME/fuzz/corpus/$1" n

	n=$(find "$corpus" -type f | wc -l)
	[ "$n" -gt 0 ]
	mkdir "$BATS_TEST_TMPDIR/tmp"
	TMPDIR="$BATS_TEST_TMPDIR/tmp" \
	    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}max_allocation_size_mb=256" \
	    run -0 timeout 900 "$DOS_EXEC_PATH/t/fuzz-replay-$1" "$corpus"
	[ "$output" = "$n inputs replayed" ]
	# The target's containers went with it.
	run -0 ls -A "$BATS_TEST_TMPDIR/tmp"
	[ "$output" = "" ]
}

@test "fuzz inputs of config.json replay cleanly" {
	replay config
}

@test "fuzz inputs of the batch protocol replay cleanly" {
	replay batch
}

@test "fuzz inputs of pack files replay cleanly" {
	replay pack
}

@test "fuzz inputs of index records replay cleanly" {
	replay index
}

@test "fuzz inputs of legacy containers replay cleanly" {
	replay legacy
}

@test "fuzz inputs of dos export streams replay cleanly" {
	replay transfer
}
