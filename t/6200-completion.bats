#!/usr/bin/env bats
# Shell completion (issue 18): contrib/completion/dos.bash completes
# commands, their options and option values from the programs' own usage,
# object ids from `dos ls`, and config keys; zsh runs the same code
# through bashcompinit; make install puts both where the shells look.
load helper

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd -P)

# The candidates bash would offer for the command line "$@", the last
# word being the one under the cursor, one a line.
complete_line() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMPREPLY=()
	_dos_complete
	printf '%s\n' "${COMPREPLY[@]}"
}

# The same under zsh, through its bash-completion emulation.
zsh_complete_line() {
	zsh -fc '
	autoload -U compinit && compinit -u -D
	autoload -U +X bashcompinit && bashcompinit
	source "$1/contrib/completion/dos.bash"
	shift
	emulate -L sh
	setopt kshglob noshglob braceexpand
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	_dos_complete
	printf "%s\n" "${COMPREPLY[@]}"' zsh "$TOP" "$@"
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export DOS_DIR="$BATS_TEST_TMPDIR/store"
	dos init -q "$DOS_DIR"
	source "$TOP/contrib/completion/dos.bash"
}

@test "the commands, from dos -h, and help" {
	run -0 make -s -C "$TOP" print-cmds
	local expected
	expected=$(printf '%s\n' $output help)
	run -0 complete_line dos ''
	[ "$output" = "$expected" ]
	run -0 complete_line dos co
	[ "$output" = "$(printf 'count-objects\nconfig')" ]
	run -0 complete_line dos -d "$DOS_DIR" rep
	[ "$output" = repack ]
	run -0 complete_line dos help ha
	[ "$output" = hash-object ]
}

@test "a command's options from its usage, --[no-]x as both, '=' kept" {
	run -0 complete_line dos pack --
	[ "$output" = "$(printf '%s\n' --compress= --keep-loose --no-progress \
	    --no-wait --progress)" ]
	run -0 complete_line dos rm -
	[ "$output" = "$(printf '%s\n' --dry-run --ignore-missing --no-progress \
	    --no-wait --progress --stdin -n -q -v -z)" ]
	run -0 complete_line dos --dir="$DOS_DIR" fsck --q
	[ "$output" = --quick ]
}

@test "the values a usage lists in parentheses" {
	run -0 complete_line dos repack --compress=
	[ "$output" = "$(printf '%s\n' keep auto always never)" ]
	run -0 complete_line dos pack --compress=a
	[ "$output" = "$(printf '%s\n' auto always)" ]
	run -0 complete_line dos init --compression=
	[ "$output" = "" ]
}

@test "object ids of the container the command line names, from a started id" {
	local other=$BATS_TEST_TMPDIR/other
	run -0 dos hash-object -w --stdin <<<abc
	local id=$output
	run -0 dos init -q "$other"
	run -0 dos -d "$other" hash-object -w --stdin <<<xyz
	local other_id=$output
	run -0 complete_line dos cat-object "${id:0:3}"
	[ "$output" = "$id" ]
	run -0 complete_line dos rm "${other_id:0:3}"
	[ "$output" = "" ]
	run -0 complete_line dos -d "$other" rm "${other_id:0:3}"
	[ "$output" = "$other_id" ]
	run -0 complete_line dos --dir="$other" cat-object "${other_id:0:5}"
	[ "$output" = "$other_id" ]
	# Nothing is listed before an id is started.
	run -0 complete_line dos cat-object ''
	[ "$output" = "" ]
}

@test "config keys, and directories after -d" {
	run -0 complete_line dos config com
	[ "$output" = compression_algorithm ]
	mkdir -p dir1/sub file-not-dir
	rmdir file-not-dir
	touch file1
	run -0 complete_line dos -d di
	[ "$output" = dir1 ]
}

@test "zsh completes the same through bashcompinit" {
	run -0 dos hash-object -w --stdin <<<abc
	local id=$output
	run -0 zsh_complete_line dos repack --compress=
	[ "$output" = "$(printf '%s\n' keep auto always never)" ]
	run -0 zsh_complete_line dos cat-object "${id:0:4}"
	[ "$output" = "$id" ]
	run -0 zsh_complete_line dos rm --d
	[ "${lines[0]}" = --dry-run ]
}

@test "make install puts the bash and zsh completions where the shells look" {
	local p=$BATS_TEST_TMPDIR/prefix
	run -0 make -C "$TOP" -s PREFIX=/usr/x DESTDIR="$p" install-completion
	run -0 cmp "$TOP/contrib/completion/dos.bash" \
	    "$p/usr/x/share/bash-completion/completions/dos"
	run -0 grep -c /usr/x/share/bash-completion/completions/dos \
	    "$p/usr/x/share/zsh/site-functions/_dos"
	[ "$output" = 1 ]
	# compinit finds it by its #compdef line.
	run -0 zsh -fc 'fpath=("$1" $fpath); autoload -U compinit &&
	    compinit -u -D && print -r -- $_comps[dos]' zsh \
	    "$p/usr/x/share/zsh/site-functions"
	[ "$output" = _dos ]
	run -0 make -C "$TOP" -s PREFIX=/usr/x DESTDIR="$p" uninstall
	[ ! -e "$p/usr/x/share/bash-completion/completions/dos" ]
	[ ! -e "$p/usr/x/share/zsh/site-functions/_dos" ]
}
