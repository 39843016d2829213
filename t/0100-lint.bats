#!/usr/bin/env bats
# t/lint-tests, the check that every test line can fail: what it finds and
# what it leaves alone.

load helper

lint() {
	"$BATS_TEST_DIRNAME/lint-tests" "$@"
}

# The sample files and the lint's expected output on them are fixtures,
# so that no sample line stands in a test body here.
fixtures=$BATS_TEST_DIRNAME/fixtures/lint

@test "lint finds chained checks, negated commands and pipelines from dos" {
	cp "$fixtures/chains-bad.bats.in" bad.bats
	cp "$fixtures/chains-bad.bash.in" bad.bash
	run -1 --separate-stderr lint bad.bats bad.bash
	expected=$(cat "$fixtures/chains.out")
	[ "$output" = "$expected" ]
	[ "$stderr" = "" ]
}

@test "lint finds substitutions of dos in tests, declarations and arguments" {
	cp "$fixtures/subst-bad.bats.in" bad.bats
	cp "$fixtures/subst-bad.bash.in" bad.bash
	run -1 --separate-stderr lint bad.bats bad.bash
	expected=$(cat "$fixtures/subst.out")
	[ "$output" = "$expected" ]
	[ "$stderr" = "" ]
}

@test "lint leaves alone conditions, handled failures, pipefail and strings" {
	cp "$fixtures/good.bats.in" good.bats
	run -0 --separate-stderr lint good.bats
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}

@test "the tests themselves pass the lint" {
	run -0 --separate-stderr lint
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}
