#!/usr/bin/env bats
# t/run, the suite's driver, given a bats that prints what a run could:
# its verdict must hold the whole plan and bats' own status.

load helper

# A copy of t/run in top/t, whose "bats" (first on PATH, in top/build)
# prints $1 and exits $2.
fake_run() {
	mkdir -p top/t top/build
	cp "$BATS_TEST_DIRNAME/run" top/t/run
	printf '#!/bin/sh\nprintf "%%s\\n" "%s"\nexit %s\n' "$1" "$2" >top/build/bats
	chmod +x top/build/bats
	run top/t/run
}

@test "t/run passes a full plan of ok results" {
	fake_run '1..2
ok 1 a
ok 2 b' 0
	[ "$status" -eq 0 ]
	[ "$output" = "1..2
ok 1 a
ok 2 b
2 passed, 0 failed" ]
	[ "$(cat top/build/test.tap)" = "1..2
ok 1 a
ok 2 b" ]
}

@test "t/run fails on a failed test" {
	fake_run '1..2
ok 1 a
not ok 2 b' 1
	[ "$status" -eq 1 ]
	[ "${lines[-2]}" = "t/run: bats exited with status 1" ]
	[ "${lines[-1]}" = "1 passed, 1 failed" ]
}

@test "t/run fails when bats stops short of its plan, counting the rest as failed" {
	fake_run '1..5
ok 1 a
ok 2 b' 0
	[ "$status" -eq 1 ]
	[ "${lines[-2]}" = "t/run: bats planned 5 tests but reported 2" ]
	[ "${lines[-1]}" = "2 passed, 3 failed" ]
}

@test "t/run fails without a plan" {
	fake_run 'ok 1 a' 0
	[ "$status" -eq 1 ]
	[ "${lines[-2]}" = "t/run: no TAP plan (1..N) from bats" ]
	[ "${lines[-1]}" = "1 passed, 1 failed" ]
}

@test "t/run fails when bats fails, even after a full plan" {
	fake_run '1..1
ok 1 a' 2
	[ "$status" -eq 1 ]
	[ "${lines[-2]}" = "t/run: bats exited with status 2" ]
	[ "${lines[-1]}" = "1 passed, 1 failed" ]
}
