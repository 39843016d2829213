#!/usr/bin/env bats
# dos config: get, set and list a container's settings.
load helper

# The container id of $DOS_DIR, after checking it is 32 lowercase hex.
container_id() {
	local id
	id=$(sed -n 's/^  "container_id": "\(.*\)",$/\1/p' "$DOS_DIR/config.json")
	[[ "$id" =~ ^[0-9a-f]{32}$ ]] || { echo "bad container_id '$id'" >&2; return 1; }
	echo "$id"
}

# config.json as dos writes it, with the given compression and size.
expected_config() {
	cat <<EOF
{
  "container_version": 1,
  "loose_prefix_len": 2,
  "pack_size_target": ${2:-4294967296},
  "hash_type": "sha256",
  "container_id": "$ID",
  "compression_algorithm": "${1:-zstd}",
  "dos_format": 1
}
EOF
}

# Replace config.json (read-only) with the text on stdin.
write_config() {
	chmod u+w "$DOS_DIR/config.json"
	cat >"$DOS_DIR/config.json"
	chmod a-w "$DOS_DIR/config.json"
}

# dos config "$@" is refused with exit 1, "error: $1" on stderr, and
# config.json is left as it was.
refused() {
	local msg=$1
	shift
	cp "$DOS_DIR/config.json" before.json
	run -1 --separate-stderr dos config "$@"
	[ "$output" = "" ]
	[ "$stderr" = "dos-config: error: $msg" ]
	cmp before.json "$DOS_DIR/config.json"
}

# dos config $1 $2 is a usage error for an invalid value ($3 describes
# the valid ones), and config.json is left as it was.
invalid_value() {
	cp "$DOS_DIR/config.json" before.json
	usage_error config "invalid $1 '$2': $3" "$1" "$2"
	cmp before.json "$DOS_DIR/config.json"
}

@test "config --list shows every setting of a new container, in the file's order" {
	ID=$(container_id)
	run -0 --separate-stderr dos config --list
	[ "$output" = "loose_prefix_len=2
pack_size_target=4294967296
hash_type=sha256
container_id=$ID
compression_algorithm=zstd
dos_format=1
remote_cache_size=auto" ]
	[ "$stderr" = "" ]
	run -0 --separate-stderr dos config -l
	[ "${lines[3]}" = "container_id=$ID" ]
}

@test "config KEY prints one value" {
	ID=$(container_id)
	dos init -q --loose-prefix-len=0 --compression=zlib:6 \
	    --pack-size-target=64k other
	run -0 --separate-stderr dos --dir=other config loose_prefix_len
	[ "$output" = "0" ]
	[ "$stderr" = "" ]
	run -0 dos --dir=other config pack_size_target
	[ "$output" = "65536" ]
	run -0 dos --dir=other config compression_algorithm
	[ "$output" = "zlib:6" ]
	run -0 dos config hash_type
	[ "$output" = "sha256" ]
	run -0 dos config container_id
	[ "$output" = "$ID" ]
	run -0 dos config dos_format
	[ "$output" = "1" ]
}

@test "config KEY VALUE changes compression_algorithm and nothing else" {
	ID=$(container_id)
	run -0 --separate-stderr dos config compression_algorithm zstd:19
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	run -0 dos config compression_algorithm
	[ "$output" = "zstd:19" ]
	expected_config zstd:19 >want
	diff -u want "$DOS_DIR/config.json"
	run -0 dos config compression_algorithm none
	expected_config none >want
	diff -u want "$DOS_DIR/config.json"
	run -0 dos config compression_algorithm zlib
	expected_config zlib >want
	diff -u want "$DOS_DIR/config.json"
	[ "$(stat -c %a "$DOS_DIR/config.json")" = 444 ]
	[ ! -e "$DOS_DIR/config.json.tmp" ]
}

@test "config takes the legacy zlib+N spelling, stores and prints zlib:N" {
	ID=$(container_id)
	run -0 dos config compression_algorithm zlib+6
	run -0 dos config compression_algorithm
	[ "$output" = "zlib:6" ]
	expected_config zlib:6 >want
	diff -u want "$DOS_DIR/config.json"
	# A legacy value already in the file is printed the dos way, and
	# kept as it is when another setting changes.
	expected_config zlib+3 | write_config
	run -0 dos config compression_algorithm
	[ "$output" = "zlib:3" ]
	run -0 dos config pack_size_target 1m
	expected_config zlib+3 1048576 >want
	diff -u want "$DOS_DIR/config.json"
}

@test "config pack_size_target takes init's sizes and stores bytes" {
	ID=$(container_id)
	run -0 dos config pack_size_target 512m
	run -0 dos config pack_size_target
	[ "$output" = "536870912" ]
	run -0 dos config pack_size_target 3K
	run -0 dos config pack_size_target
	[ "$output" = "3072" ]
	run -0 dos config pack_size_target 1
	run -0 dos config pack_size_target 9223372036854775807
	expected_config zstd 9223372036854775807 >want
	diff -u want "$DOS_DIR/config.json"
}

@test "a change keeps the members dos does not know, and container_version" {
	ID=$(container_id)
	cat >want <<EOF
{
  "container_version": 7,
  "loose_prefix_len": 2,
  "note": "kept",
  "pack_size_target": 4294967296,
  "hash_type": "sha256",
  "container_id": "$ID",
  "compression_algorithm": "zstd:4",
  "dos_format": 1,
  "extra": [
    1,
    2
  ]
}
EOF
	sed 's/"zstd:4"/"zstd"/' want | write_config
	run -0 dos config compression_algorithm zstd:4
	diff -u want "$DOS_DIR/config.json"
	run -0 dos config --list
	[ "${lines[4]}" = "compression_algorithm=zstd:4" ]
	[ "${#lines[@]}" = 7 ]
}

@test "config refuses a key that is not a setting, with exit 1" {
	refused "'compression' is not a setting; 'dos config --list' shows them" \
	    compression
	refused "'compression' is not a setting; 'dos config --list' shows them" \
	    compression zstd
	refused "'container_version' is not a setting; 'dos config --list' shows them" \
	    container_version
	refused "'' is not a setting; 'dos config --list' shows them" ''
}

@test "config refuses to change a setting fixed at creation, and says why" {
	refused "'loose_prefix_len' cannot be changed: the loose objects already stored are found by it" \
	    loose_prefix_len 3
	refused "'hash_type' cannot be changed: object ids are SHA-256, the only hash dos knows" \
	    hash_type sha256
	refused "'container_id' cannot be changed: it names the container for its whole life" \
	    container_id 0123456789abcdef0123456789abcdef
	refused "'dos_format' cannot be changed: it is the format of the container's layout" \
	    dos_format 1
}

@test "config refuses an invalid compression as a usage error" {
	local why='none, zlib[:1-9] or zstd[:1-22]'
	invalid_value compression_algorithm zstd:23 "$why"
	invalid_value compression_algorithm zstd:0 "$why"
	invalid_value compression_algorithm zlib:10 "$why"
	invalid_value compression_algorithm zlib: "$why"
	invalid_value compression_algorithm zlib:x "$why"
	invalid_value compression_algorithm none:1 "$why"
	invalid_value compression_algorithm gzip "$why"
	invalid_value compression_algorithm ZSTD "$why"
	invalid_value compression_algorithm '' "$why"
}

@test "config refuses an invalid pack size as a usage error" {
	local why='a number of bytes above 0, with k, m or g for KiB, MiB or GiB'
	invalid_value pack_size_target 0 "$why"
	invalid_value pack_size_target -1 "$why"
	invalid_value pack_size_target 1x "$why"
	invalid_value pack_size_target 1kk "$why"
	invalid_value pack_size_target 1t "$why"
	invalid_value pack_size_target '' "$why"
	invalid_value pack_size_target 9223372036854775808 "$why"
	invalid_value pack_size_target 8589934592g "$why"
}

@test "remote_cache_size: a size, 0 for no cache, or auto, the member's absence" {
	run -0 dos config remote_cache_size
	[ "$output" = auto ]
	dos config remote_cache_size 64m
	run -0 dos config remote_cache_size
	[ "$output" = 67108864 ]
	run -0 grep -c '"remote_cache_size": 67108864' "$DOS_DIR/config.json"
	dos config remote_cache_size 0
	run -0 dos config remote_cache_size
	[ "$output" = 0 ]
	dos config remote_cache_size auto
	run -0 dos config remote_cache_size
	[ "$output" = auto ]
	run -1 grep -c remote_cache_size "$DOS_DIR/config.json"
	dos config remote_cache_size auto
	run -1 grep -c remote_cache_size "$DOS_DIR/config.json"
	local why='auto, or a number of bytes, with k, m or g for KiB, MiB or GiB'
	invalid_value remote_cache_size -1 "$why"
	invalid_value remote_cache_size 1x "$why"
	invalid_value remote_cache_size '' "$why"
	invalid_value remote_cache_size 9223372036854775808 "$why"
}

@test "config usage errors" {
	usage_error config "a key or --list is needed"
	usage_error config "--list takes no arguments" --list compression_algorithm
	usage_error config "too many arguments" compression_algorithm zstd extra
	run -129 --separate-stderr dos config --bogus
	[ "$output" = "" ]
	[[ "$stderr" = *$'\n'"usage: dos config <key>"* ]]
}

@test "config -h prints the usage, which matches the man page synopsis" {
	run -0 --separate-stderr dos config -h
	[ "$output" = "usage: dos config <key>
   or: dos config <key> <value>
   or: dos config -l | --list" ]
	[ "$stderr" = "" ]
	set -o pipefail
	usage=$(dos config -h | sed 's/^usage: //; s/^   or: //' | tr -d '<>')
	synopsis=$(mandoc -Tascii -O width=300 "$BATS_TEST_DIRNAME/../man/dos-config.1" |
	    col -b | sed -n '/^SYNOPSIS/,/^$/p' | sed '1d; $d; s/^ *//')
	[ "$usage" = "$synopsis" ]
}

@test "config outside a container, or with an invalid config.json, is fatal" {
	local hint="hint: choose a container with --dir=<dir> or DOS_DIR=<dir>, or make one with 'dos init <dir>'"
	mkdir empty
	run -128 --separate-stderr dos --dir=empty config --list
	[ "$output" = "" ]
	[ "$stderr" = "dos-config: fatal: not a dos container: 'empty'"$'\n'"$hint" ]
	run -128 --separate-stderr dos --dir=empty config compression_algorithm zlib
	[ "$stderr" = "dos-config: fatal: not a dos container: 'empty'"$'\n'"$hint" ]
	[ ! -e empty/config.json ]
	echo '{"dos_format": 1}' | write_config
	run -128 --separate-stderr dos config compression_algorithm
	[ "$stderr" = "dos-config: fatal: invalid config.json in '$DOS_DIR'" ]
	run -128 --separate-stderr dos config compression_algorithm zlib
	[ "$output" = "" ]
	[ "$stderr" = "dos-config: fatal: invalid config.json in '$DOS_DIR'" ]
	[ "$(cat "$DOS_DIR/config.json")" = '{"dos_format": 1}' ]
}

@test "in a container the user may only read, config reads and does not change" {
	# Root can write anything: check as nobody; others lose write access.
	as=()
	mkdir bin
	cp "$(command -v dos)" "$(command -v dos-config)" bin/
	chmod -R a+rX,go-w "$BATS_TEST_TMPDIR"
	chmod a+x "$BATS_TEST_TMPDIR/.." "$BATS_TEST_TMPDIR/../.." 2>/dev/null || true
	if [ "$(id -u)" -eq 0 ]; then
		command -v setpriv >/dev/null || skip "no setpriv"
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	else
		chmod -R a-w "$DOS_DIR"
	fi
	user() {
		"${as[@]}" env PATH="$BATS_TEST_TMPDIR/bin:$PATH" \
		    DOS_EXEC_PATH="$BATS_TEST_TMPDIR/bin" DOS_DIR="$DOS_DIR" "$@"
	}
	cp "$DOS_DIR/config.json" before.json
	run -0 --separate-stderr user dos config compression_algorithm
	[ "$output" = "zstd" ]
	run -128 --separate-stderr user dos config compression_algorithm zlib
	[ "$output" = "" ]
	[ "$stderr" = "dos-config: fatal: unable to set compression_algorithm in '$DOS_DIR': Permission denied" ]
	chmod -R u+w "$DOS_DIR"
	cmp before.json "$DOS_DIR/config.json"
	[ ! -e "$DOS_DIR/config.json.tmp" ]
}

@test "config waits for the pack lock before it changes anything" {
	start_holder
	dos config compression_algorithm zlib:6 >setter.out 2>setter.err 3>&- 7>&- &
	setter=$!
	sleep 0.5
	kill -0 "$setter"
	run -0 dos config compression_algorithm
	[ "$output" = "zstd" ]
	stop_holder
	wait "$setter"
	[ "$(cat setter.out setter.err)" = "" ]
	run -0 dos config compression_algorithm
	[ "$output" = "zlib:6" ]
}

@test "two changes at once both land" {
	# Not i: bats' run sets that.
	for level in 1 2 3 4 5 6 7 8 9 10; do
		dos config compression_algorithm zstd:$level &
		a=$!
		dos config pack_size_target ${level}m &
		b=$!
		wait "$a"
		wait "$b"
		run -0 dos config compression_algorithm
		[ "$output" = "zstd:$level" ]
		run -0 dos config pack_size_target
		[ "$output" = "$((level * 1048576))" ]
	done
}

# 100 changes of compression_algorithm and pack_size_target, each
# followed by a read of every setting.
keep_changing() {
	local n lines
	for n in $(seq 0 99); do
		dos config compression_algorithm zlib:$((n % 9 + 1))
		dos config pack_size_target $((n % 4 + 1))00k
		lines=$(dos config --list)
		[ "$(wc -l <<<"$lines")" = 7 ]
	done
}

@test "changes during a pack are never torn, and the packs read back" {
	mkdir files
	for n in $(seq 1 300); do
		seq "$n" $((n + 3000)) >"files/$n"
	done
	for f in files/*; do echo "$f"; done >list
	dos init -q --pack-size-target=64k c
	export DOS_DIR=$BATS_TEST_TMPDIR/c
	keep_changing 3>&- &
	changer=$!
	# Ten pack writers, one after the other, while the settings change.
	for start in $(seq 1 30 300); do
		sed -n "$start,$((start + 29))p" list |
		    dos hash-object -w --to-pack --stdin-paths >>packed.ids
		run -0 dos config --list
		[ "${#lines[@]}" = 7 ]
	done
	wait "$changer"
	for f in files/*; do sha256_of "$f"; done >want.ids
	diff -u want.ids packed.ids
	run -0 --separate-stderr dos fsck
	[ "$output" = "" ]
	[ "$stderr" = "dos fsck: no problems found" ]
	run -0 dos cat-object --batch-check='%(objectname)' <packed.ids
	diff -u packed.ids - <<<"$output"
}

# The objects of files a, b and c and how they are stored: a and b with
# codec $1 in pack $3, c with codec $2 in pack $4 (default $3).
stored_as() {
	{
		echo "$(sha256_of a) $1 $3"
		echo "$(sha256_of b) $1 $3"
		echo "$(sha256_of c) $2 ${4:-$3}"
	} | sort
}

@test "a change takes effect for new packs and for repack" {
	seq 1 20000 >a
	seq 5 30000 >b
	seq 7 40000 >c
	dos hash-object -w a b >/dev/null
	dos pack -q
	run -0 dos config compression_algorithm zlib:6
	dos hash-object -w --to-pack c >/dev/null
	stored_as zstd zlib 0 >want
	dos cat-object --batch-all-objects \
	    --batch-check='%(objectname) %(compression) %(pack)' >have
	diff -u want have
	# keep copies the entries as they are stored.
	run -0 dos repack -q --threshold=0
	dos cat-object --batch-all-objects \
	    --batch-check='%(objectname) %(compression) %(pack)' >have
	diff -u want have
	run -0 dos repack -q --compress=auto
	stored_as zlib zlib 1 >want
	dos cat-object --batch-all-objects \
	    --batch-check='%(objectname) %(compression) %(pack)' >have
	diff -u want have
	run -0 dos config pack_size_target 1
	printf x | dos hash-object -w --to-pack --stdin >/dev/null
	printf y | dos hash-object -w --to-pack --stdin >/dev/null
	run -0 ls "$DOS_DIR/packs"
	[ "$output" = "1
2
3
lock" ]
}

# config_crash MODE: dos config killed (kill, powerloss) or failed (eio)
# at each of its fault points leaves config.json either as it was or as
# asked, never anything else, and the next change succeeds.
config_crash() {
	local mode=$1 n point rc
	ID=$(container_id)
	cp -a "$DOS_DIR" base
	rm -f points
	DOS_FAULT_LOG=$BATS_TEST_TMPDIR/points dos --dir=base config compression_algorithm zlib:6
	n=$(wc -l <points)
	[ "$n" -ge 10 ]
	expected_config zstd >old
	expected_config zlib:6 >new
	for point in $(seq 1 "$n"); do
		rm -rf c
		cp -a base c
		rc=0
		DOS_FAULT=$mode:$point dos --dir=c config compression_algorithm zlib:6 \
		    2>err || rc=$?
		case $mode in
		eio)
			[ "$rc" = 128 ]
			[[ "$(cat err)" = "dos-config: fatal: unable to set compression_algorithm in 'c': "* ]]
			;;
		*)
			[ "$rc" = 137 ]
			;;
		esac
		cmp -s old c/config.json || cmp new c/config.json
		[ "$(stat -c %a c/config.json)" = 444 ]
		run -0 dos --dir=c config --list
		run -0 dos --dir=c config compression_algorithm zlib:6
		cmp new c/config.json
		[ ! -e c/config.json.tmp ]
	done
}

@test "config killed at any point leaves the old or the new config.json" {
	config_crash kill
}

@test "config cut by a power loss at any point leaves the old or the new config.json" {
	config_crash powerloss
}

@test "config failing at any step leaves the old or the new config.json" {
	config_crash eio
}
