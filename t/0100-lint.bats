#!/usr/bin/env bats
# t/lint-tests, the check that every test line can fail: what it finds and
# what it leaves alone.

load helper

lint() {
	"$BATS_TEST_DIRNAME/lint-tests" "$@"
}

# Bats reads "@test" at the start of a line even in a heredoc: the sample
# files say TEST, made @test here.
at_test() {
	sed -i 's/^TEST /@test /' "$1"
}

@test "lint finds chained checks, negated commands and pipelines from dos" {
	cat >bad.bats <<-'EOF'
	TEST "t" {
		[ -e a ] && [ -e b ]
		dos init -q x && [ -d x ]
		[[ $x = y ]] && [[ $y = z ]]
		for f in a b; do [ -e "$f" ] && [ -s "$f" ]; done
		! grep -q x file
		if true; then ! kill -0 1; fi
		dos ls | sort >out
		n=$(DOS_DIR=x dos-ls | wc -l)
		[ "$(dos cat-object "$id" |
		    sha256sum)" = x ]
		"$DOS_EXEC_PATH/dos-ls" --loose |
		    head -1
		bash -c 'dos ls | head -1'
	}
	EOF
	cat >bad.bash <<-'EOF'
	helper() {
		[ -e a ] && [ -e b ]
		set -o pipefail
		[ "$(dos ls | sort)" = x ]
	}
	oneline() { dos ls | sort; }
	EOF
	at_test bad.bats
	run -1 --separate-stderr lint bad.bats bad.bash
	[ "$output" = 'bad.bats:2: check chained with &&: [ -e a ] && [ -e b ]
bad.bats:3: check chained with &&: dos init -q x && [ -d x ]
bad.bats:4: check chained with &&: [[ $x = y ]] && [[ $y = z ]]
bad.bats:5: check chained with &&: for f in a b; do [ -e "$f" ] && [ -s "$f" ]; done
bad.bats:6: negated command: ! grep -q x file
bad.bats:7: negated command: if true; then ! kill -0 1; fi
bad.bats:8: pipeline drops the status of dos: dos ls | sort >out
bad.bats:9: pipeline drops the status of dos: n=$(DOS_DIR=x dos-ls | wc -l)
bad.bats:10: pipeline drops the status of dos: [ "$(dos cat-object "$id" |
bad.bats:10: substitution drops the status of dos: [ "$(dos cat-object "$id" |
bad.bats:12: pipeline drops the status of dos: "$DOS_EXEC_PATH/dos-ls" --loose |
bad.bats:14: pipeline drops the status of dos: bash -c '"'"'dos ls | head -1'"'"'
bad.bash:2: check chained with &&: [ -e a ] && [ -e b ]
bad.bash:4: pipeline drops the status of dos: [ "$(dos ls | sort)" = x ]
bad.bash:4: substitution drops the status of dos: [ "$(dos ls | sort)" = x ]
bad.bash:6: pipeline drops the status of dos: oneline() { dos ls | sort; }' ]
	[ "$stderr" = "" ]
}

@test "lint finds substitutions of dos in tests, declarations and arguments" {
	cat >bad.bats <<-'EOF'
	TEST "t" {
		[ "$(dos cat-object "$id")" = abc ]
		[[ $(dos ls --loose) = "" ]]
		[ `dos ls` = x ]
		if [ "$(dos ls)" = "" ]; then :; fi
		echo "$(dos ls)" >out
		cmp text <(dos cat-object "$id")
		for id in $(dos ls); do :; done
		flip $(( $(dos cat-object --batch-check='%(offset)' <<<"$id") + 7 ))
		a=$(dos ls) b=$(dos ls --packed)
	}
	EOF
	cat >bad.bash <<-'EOF'
	helper() {
		local n=$(dos ls)
		export ID=$(dos hash-object -w f)
		declare -r S="$(dos cat-object -s "$ID")"
		x=$(echo "$(dos ls)")
	}
	EOF
	at_test bad.bats
	run -1 --separate-stderr lint bad.bats bad.bash
	[ "$output" = 'bad.bats:2: substitution drops the status of dos: [ "$(dos cat-object "$id")" = abc ]
bad.bats:3: substitution drops the status of dos: [[ $(dos ls --loose) = "" ]]
bad.bats:4: substitution drops the status of dos: [ `dos ls` = x ]
bad.bats:5: substitution drops the status of dos: if [ "$(dos ls)" = "" ]; then :; fi
bad.bats:6: substitution drops the status of dos: echo "$(dos ls)" >out
bad.bats:7: substitution drops the status of dos: cmp text <(dos cat-object "$id")
bad.bats:8: substitution drops the status of dos: for id in $(dos ls); do :; done
bad.bats:9: substitution drops the status of dos: flip $(( $(dos cat-object --batch-check='"'"'%(offset)'"'"' <<<"$id") + 7 ))
bad.bats:10: substitution drops the status of dos: a=$(dos ls) b=$(dos ls --packed)
bad.bash:2: substitution drops the status of dos: local n=$(dos ls)
bad.bash:3: substitution drops the status of dos: export ID=$(dos hash-object -w f)
bad.bash:4: substitution drops the status of dos: declare -r S="$(dos cat-object -s "$ID")"
bad.bash:5: substitution drops the status of dos: x=$(echo "$(dos ls)")' ]
	[ "$stderr" = "" ]
}

@test "lint leaves alone conditions, handled failures, pipefail and strings" {
	cat >good.bats <<-'EOF'
	# [ -e a ] && [ -e b ] in a comment; dos ls | sort
	USAGE='usage: dos ls [--loose | --packed]
	  ! [ a ] && [ b ]'

	TEST "t" {
		[ -e a ]
		[ -e b ]
		if [ -e a ] && [ -e b ]; then :; fi
		while [ -e a ] &&
		    [ -e b ]; do :; done
		[ -e a ] && rm a
		[ -e a ] && [ -e b ] || echo missing
		! grep -q x file || false
		run ! grep -q x file
		[ "$output" = "dos ls [--loose | --packed] && [ x ]" ]
		ls | dos hash-object -w --stdin-paths
		bash -c 'dos ls | head -1; echo "${PIPESTATUS[0]}"'
		bash -c "set -o pipefail; dos ls | head -1"
		x=$([ -e a ] && echo 0 || echo 1)
		cat >script <<-EOS
		! dos ls | sort && [ x ]
		EOS
		set -o pipefail
		dos ls | sort >out
		n=$(dos ls | wc -l)
		x=$(dos ls)
		x="$(dos cat-object "$(sha256_of f)")"
		y=`dos ls`
		help=$(dos --help) || return
		run -0 dos cat-object "$(sha256_of f)"
		[ "$(sha256_of out)" = "$id" ]
	}

	TEST "u" {
		[ -e a ] && [ -e b ] ||
		    false
	}
	EOF
	run -0 --separate-stderr lint good.bats
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}

@test "the tests themselves pass the lint" {
	run -0 --separate-stderr lint
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}
