#!/usr/bin/env bats
# dos init, config.json, and how every command chooses its container.
load helper

# config.json of container $1 with its container_id replaced by ID, after
# checking that the id is 32 lowercase hex digits.
config_of() {
	local id
	id=$(sed -n 's/^  "container_id": "\(.*\)",$/\1/p' "$1/config.json")
	[[ "$id" =~ ^[0-9a-f]{32}$ ]] || { echo "bad container_id '$id'" >&2; return 1; }
	sed "s/$id/ID/" "$1/config.json"
}

# The config.json dos init writes, with the given values.
expected_config() {
	cat <<EOF
{
  "container_version": 1,
  "loose_prefix_len": ${1:-2},
  "pack_size_target": ${2:-4294967296},
  "hash_type": "sha256",
  "container_id": "ID",
  "compression_algorithm": "${3:-zstd}",
  "dos_format": 1
}
EOF
}

# A minimal legacy disk-objectstore container in $1.
make_legacy() {
	mkdir -p "$1/loose" "$1/packs" "$1/sandbox" "$1/duplicates"
	cat >"$1/config.json" <<'EOF'
{"container_version": 1, "loose_prefix_len": 2, "pack_size_target": 4294967296, "hash_type": "sha256", "container_id": "c6b8314911744d43925b4a9089a477b3", "compression_algorithm": "zlib+1"}
EOF
}

# A listing of everything under $1 with types, modes and sizes.
snapshot() {
	(cd "$1" && find . -printf '%y %m %s %p\n' | sort)
}

# dos init $1 fails (128) with "fatal: $2" and leaves $1 exactly as it
# was, empty subdirectories included.
init_refuses() {
	local before
	before=$(snapshot "$1")
	run -128 --separate-stderr dos init "$1"
	[ "$output" = "" ]
	[ "$stderr" = "dos-init: fatal: $2" ]
	[ "$(snapshot "$1")" = "$before" ]
}

@test "init creates the directory and its parents, and says so" {
	run -0 --separate-stderr dos init a/b/c
	[ "$output" = "Initialized empty dos container in $BATS_TEST_TMPDIR/a/b/c/" ]
	[ "$stderr" = "" ]
	[ -d a/b/c/loose ]
	[ -d a/b/c/packs ]
	[ -d a/b/c/sandbox ]
	[ -f a/b/c/config.json ]
	[ -z "$(find a/b/c/loose a/b/c/packs a/b/c/sandbox -mindepth 1)" ]
}

@test "init prints the absolute, resolved path" {
	mkdir real
	ln -s real link
	run -0 --separate-stderr dos init link/./sub/../c
	[ "$output" = "Initialized empty dos container in $(cd real && pwd -P)/c/" ]
	run -0 --separate-stderr dos init "$BATS_TEST_TMPDIR/abs"
	[ "$output" = "Initialized empty dos container in $(cd abs && pwd -P)/" ]
}

@test "init in an existing empty directory" {
	mkdir empty
	run -0 --separate-stderr dos init empty
	[ "$output" = "Initialized empty dos container in $(cd empty && pwd -P)/" ]
	[ -f empty/config.json ]
}

@test "init -q prints nothing" {
	run -0 --separate-stderr dos init -q quiet
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ -f quiet/config.json ]
	run -0 --separate-stderr dos init --quiet quiet
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}

@test "init writes config.json with the default settings" {
	dos init -q c
	config_of c >actual
	expected_config >expect
	diff -u expect actual
	[ "$(stat -c %a c/config.json)" = 444 ]
	[ ! -e c/config.json.tmp ]
}

@test "each container gets its own id" {
	dos init -q one
	dos init -q two
	id1=$(grep container_id one/config.json)
	id2=$(grep container_id two/config.json)
	[ -n "$id1" ]
	[ "$id1" != "$id2" ]
}

@test "re-init of a container says so and changes nothing" {
	dos init -q c
	printf abc >abc
	dos --dir=c hash-object -w abc >/dev/null
	cp c/config.json config.before
	before=$(snapshot c)
	run -0 --separate-stderr dos init c
	[ "$output" = "Reinitialized existing dos container in $BATS_TEST_TMPDIR/c/" ]
	[ "$stderr" = "" ]
	cmp config.before c/config.json
	[ "$(snapshot c)" = "$before" ]
	run -0 --separate-stderr dos init -q c
	[ "$output" = "" ]
}

@test "re-init with the options the container already has is fine" {
	dos init -q --compression=zlib:3 --pack-size-target=1m --loose-prefix-len=3 c
	cp c/config.json config.before
	run -0 --separate-stderr dos init --compression=zlib:3 --pack-size-target=1024k --loose-prefix-len=3 c
	[ "$output" = "Reinitialized existing dos container in $BATS_TEST_TMPDIR/c/" ]
	cmp config.before c/config.json
}

@test "re-init with conflicting options is fatal and changes nothing" {
	dos init -q c
	cp c/config.json config.before
	run -128 --separate-stderr dos init --compression=zlib c
	[ "$output" = "" ]
	[ "$stderr" = "dos-init: fatal: 'c' already uses compression 'zstd', not 'zlib'" ]
	run -128 --separate-stderr dos init --compression=zstd:3 c
	[ "$stderr" = "dos-init: fatal: 'c' already uses compression 'zstd', not 'zstd:3'" ]
	run -128 --separate-stderr dos init --pack-size-target=1g c
	[ "$output" = "" ]
	[ "$stderr" = "dos-init: fatal: 'c' already has pack-size-target 4294967296" ]
	run -128 --separate-stderr dos init --loose-prefix-len=3 c
	[ "$output" = "" ]
	[ "$stderr" = "dos-init: fatal: 'c' already has loose-prefix-len 2" ]
	cmp config.before c/config.json
}

@test "init refuses a non-empty directory that is not a container" {
	mkdir -p d/packs d/sandbox
	echo precious >d/notes.txt
	init_refuses d "'d' exists and is not an empty directory"
}

@test "init refuses a directory whose layout directories are not empty" {
	mkdir -p d/loose/ab
	run -128 --separate-stderr dos init d
	[ "$stderr" = "dos-init: fatal: 'd' exists and is not an empty directory" ]
	[ -d d/loose/ab ]
	[ ! -e d/config.json ]
}

@test "init finishes what an interrupted init left behind" {
	mkdir -p d/loose d/sandbox
	run -0 --separate-stderr dos init d
	[ "$output" = "Initialized empty dos container in $BATS_TEST_TMPDIR/d/" ]
	[ -d d/packs ]
	[ -f d/config.json ]
}

@test "init refuses a path that is a file" {
	echo x >file
	run -128 --separate-stderr dos init file
	[ "$output" = "" ]
	[ "$stderr" = "dos-init: fatal: unable to create container 'file': Not a directory" ]
	run -128 --separate-stderr dos init file/sub
	[ "$stderr" = "dos-init: fatal: unable to create container 'file/sub': Not a directory" ]
	[ "$(cat file)" = x ]
}

@test "init refuses a legacy container and points to dos migrate" {
	make_legacy legacy
	init_refuses legacy "'legacy' is a legacy disk-objectstore container"$'\n'"hint: copy it into a dos container with 'dos migrate <legacy-dir> <new-dir>'"
}

@test "other commands refuse a legacy container" {
	make_legacy legacy
	run -128 --separate-stderr dos --dir=legacy cat-object -e "$EMPTY_OID"
	[ "${stderr_lines[0]}" = "dos-cat-object: fatal: 'legacy' is a legacy disk-objectstore container" ]
	run -128 --separate-stderr dos -d legacy hash-object -w /dev/null
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "dos-hash-object: fatal: 'legacy' is a legacy disk-objectstore container" ]
	[ -z "$(find legacy/loose legacy/sandbox -mindepth 1)" ]
}

@test "init refuses a container with a broken config.json" {
	mkdir bad
	echo '{' >bad/config.json
	run -128 --separate-stderr dos init bad
	[ "$stderr" = "dos-init: fatal: 'bad' has an invalid config.json" ]
	run -128 --separate-stderr dos --dir=bad cat-object -e "$EMPTY_OID"
	[ "$stderr" = "dos-cat-object: fatal: invalid config.json in 'bad'" ]
}

@test "the compression spellings init accepts" {
	for spec in zstd zstd:1 zstd:19 zstd:22 zlib zlib:1 zlib:9 none; do
		dos init -q --compression="$spec" "c-$spec"
		config_of "c-$spec" >actual
		expected_config 2 4294967296 "$spec" >expect
		diff -u expect actual
	done
}

@test "the legacy spelling zlib+1 is understood" {
	dos init -q --compression=zlib+1 c
	config_of c >actual
	expected_config 2 4294967296 zlib:1 >expect
	diff -u expect actual
	# It is the same setting as zlib:1, so re-init with it agrees.
	run -0 dos init -q --compression=zlib:1 c
	run -0 dos init -q --compression=zlib+1 c
}

@test "bad compression specs are usage errors and create nothing" {
	for spec in '' gzip ZSTD zstd: zstd:0 zstd:23 zstd:x zstd:1x zlib:10 zlib+ none:1 'zstd 3' zstd:-1; do
		run -129 --separate-stderr dos init --compression="$spec" new
		[ "$output" = "" ]
		[ "${stderr%%$'\n'*}" = "dos-init: error: invalid compression '$spec'" ]
		[[ "$stderr" = *$'\n''usage: dos init '* ]]
		[ ! -e new ]
	done
}

@test "--loose-prefix-len 0 to 8 is stored and used for the layout" {
	printf abc >abc
	for n in 0 1 2 3 4 5 6 7 8; do
		dos init -q --loose-prefix-len="$n" "c$n"
		config_of "c$n" >actual
		expected_config "$n" >expect
		diff -u expect actual
		run -0 --separate-stderr dos --dir="c$n" hash-object -w abc
		[ "$output" = "$ABC_OID" ]
		if [ "$n" -eq 0 ]; then
			want="c0/loose/$ABC_OID"
		else
			want="c$n/loose/${ABC_OID:0:n}/${ABC_OID:n}"
		fi
		[ "$(cd "c$n" && find loose -type f)" = "${want#c$n/}" ]
		[ "$(cat "$want")" = abc ]
		run -0 --separate-stderr dos --dir="c$n" cat-object "$ABC_OID"
		[ "$output" = abc ]
		run -0 --separate-stderr dos --dir="c$n" cat-object "${ABC_OID:0:6}"
		[ "$output" = abc ]
	done
}

@test "bad --loose-prefix-len values are usage errors" {
	for n in 9 -1 x '' 2x 64; do
		run -129 --separate-stderr dos init --loose-prefix-len="$n" new
		[ "$output" = "" ]
		[ "${stderr%%$'\n'*}" = "dos-init: error: loose-prefix-len must be 0 to 8, not '$n'" ]
		[ ! -e new ]
	done
}

@test "--pack-size-target takes bytes or a k/m/g suffix" {
	for spec in 5:5 1k:1024 1K:1024 2m:2097152 2M:2097152 3g:3221225472 \
	    3G:3221225472 4096:4096 9223372036854775807:9223372036854775807; do
		dos init -q --pack-size-target="${spec%%:*}" "p${spec%%:*}"
		config_of "p${spec%%:*}" >actual
		expected_config 2 "${spec#*:}" >expect
		diff -u expect actual
	done
}

@test "bad --pack-size-target values are usage errors" {
	for spec in 0 0k -1 k 1t 1kb 1.5g ' 1' 9223372036854775808 18446744073709551616 17179869184g; do
		run -129 --separate-stderr dos init --pack-size-target="$spec" new
		[ "$output" = "" ]
		[ "${stderr%%$'\n'*}" = "dos-init: error: invalid pack size '$spec'" ]
		[ ! -e new ]
	done
}

@test "init takes at most one directory" {
	run -129 --separate-stderr dos init one two
	[ "$output" = "" ]
	[ "${stderr%%$'\n'*}" = "dos-init: error: too many arguments" ]
	[ ! -e one ]
	[ ! -e two ]
}

@test "init without a directory uses --dir, then \$DOS_DIR, then the current directory" {
	DOS_DIR="$BATS_TEST_TMPDIR/env" run -0 --separate-stderr dos init
	[ "$output" = "Initialized empty dos container in $BATS_TEST_TMPDIR/env/" ]
	DOS_DIR="$BATS_TEST_TMPDIR/env" run -0 --separate-stderr dos init --dir=opt
	[ "$output" = "Initialized empty dos container in $BATS_TEST_TMPDIR/opt/" ]
	DOS_DIR="$BATS_TEST_TMPDIR/env" run -0 --separate-stderr dos -d disp init
	[ "$output" = "Initialized empty dos container in $BATS_TEST_TMPDIR/disp/" ]
	mkdir cwd && cd cwd
	unset DOS_DIR
	run -0 --separate-stderr dos init
	[ "$output" = "Initialized empty dos container in $BATS_TEST_TMPDIR/cwd/" ]
	DOS_DIR= run -0 --separate-stderr dos init
	[ "$output" = "Reinitialized existing dos container in $BATS_TEST_TMPDIR/cwd/" ]
	[ -f "$BATS_TEST_TMPDIR/env/config.json" ]
	[ -f "$BATS_TEST_TMPDIR/opt/config.json" ]
	[ -f "$BATS_TEST_TMPDIR/disp/config.json" ]
	[ -f "$BATS_TEST_TMPDIR/cwd/config.json" ]
}

@test "an explicit directory wins over --dir and \$DOS_DIR" {
	DOS_DIR="$BATS_TEST_TMPDIR/env" run -0 --separate-stderr dos init --dir=opt arg
	[ "$output" = "Initialized empty dos container in $BATS_TEST_TMPDIR/arg/" ]
	[ ! -e env ]
	[ ! -e opt ]
}

@test "commands use --dir, then \$DOS_DIR, then the current directory" {
	for c in opt env cwd; do
		dos init -q "$c"
		printf '%s' "$c" >"$c.txt"
		dos --dir="$c" hash-object -w "$c.txt" >/dev/null
	done
	opt=$(dos hash-object opt.txt)
	env=$(dos hash-object env.txt)
	cwd=$(dos hash-object cwd.txt)
	export DOS_DIR="$BATS_TEST_TMPDIR/env"
	cd cwd
	run -0 dos cat-object --dir=../opt -e "$opt"
	run -1 dos cat-object --dir=../opt -e "$env"
	run -0 dos --dir=../opt cat-object -e "$opt"
	run -0 dos cat-object -e "$env"
	run -1 dos cat-object -e "$cwd"
	DOS_DIR= run -0 dos cat-object -e "$cwd"
	unset DOS_DIR
	run -0 dos cat-object -e "$cwd"
	run -1 dos cat-object -e "$env"
}

@test "commands outside a container: not a dos container, exit 128" {
	mkdir empty
	echo x >file
	for dir in empty nonexistent file "$BATS_TEST_TMPDIR/empty"; do
		run -128 --separate-stderr dos cat-object --dir="$dir" -e "$EMPTY_OID"
		[ "$output" = "" ]
		[ "${stderr_lines[0]}" = "dos-cat-object: fatal: not a dos container: '$dir'" ]
		DOS_DIR="$dir" run -128 --separate-stderr dos cat-object --batch-check </dev/null
		[ "${stderr_lines[0]}" = "dos-cat-object: fatal: not a dos container: '$dir'" ]
		DOS_DIR="$dir" run -128 --separate-stderr dos hash-object -w file
		[ "$output" = "" ]
		[ "${stderr_lines[0]}" = "dos-hash-object: fatal: not a dos container: '$dir'" ]
	done
	unset DOS_DIR
	cd empty
	run -128 --separate-stderr dos cat-object "$EMPTY_OID"
	[ "${stderr_lines[0]}" = "dos-cat-object: fatal: not a dos container: '.'" ]
	[ -z "$(ls -A)" ]
}

@test "a directory with the layout but no config.json is not a container" {
	mkdir -p d/loose d/packs d/sandbox
	run -128 --separate-stderr dos --dir=d cat-object -e "$EMPTY_OID"
	[ "${stderr_lines[0]}" = "dos-cat-object: fatal: not a dos container: 'd'" ]
}

@test "a container missing a layout directory is not a container" {
	dos init -q c
	rmdir c/sandbox
	run -128 --separate-stderr dos --dir=c hash-object -w /dev/null
	[ "${stderr_lines[0]}" = "dos-hash-object: fatal: not a dos container: 'c'" ]
}
