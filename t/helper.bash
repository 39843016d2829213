# Shared setup for the bats suite: each test gets a fresh container in its
# own temp directory, exported as DOS_DIR, and runs the built programs
# (t/run puts them first on PATH).  The stress parts in t/stress source it
# too, outside bats, for the helpers below setup().
if type bats_require_minimum_version >/dev/null 2>&1; then
	bats_require_minimum_version 1.5.0
fi

# SHA-256 known answers.
EMPTY_OID=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
ABC_OID=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export DOS_DIR="$BATS_TEST_TMPDIR/store"
	dos init -q "$DOS_DIR"
}

# A passed test's files go at once: a run of the whole suite would keep
# every test's containers, gigabytes of them, until it ends.  A failed
# test's stay, to be looked at.
teardown() {
	[ -n "${BATS_TEST_COMPLETED:-}" ] || return 0
	chmod -R u+w "$BATS_TEST_TMPDIR" 2>/dev/null
	rm -rf "${BATS_TEST_TMPDIR:?}"/* "$BATS_TEST_TMPDIR"/.[!.]* 2>/dev/null
	return 0
}

# The loose path of an object in the default layout.
loose_path() {
	echo "$DOS_DIR/loose/${1:0:2}/${1:2}"
}

# sha256sum of a file, id only.  Read from stdin: sha256sum escapes odd
# file names in its output, which would spoil the id.
sha256_of() {
	sha256sum <"$1" | cut -d' ' -f1
}

# Helpers for tests that run writers and readers at once.  The expected
# answer of `dos cat-object --batch` for object <id> is kept in
# records/<id> ("<id> <size>\n<contents>\n"), so that a reader's output
# can be compared byte for byte with what was written.

# Record the files listed in $1 (one path a line); print their ids, in
# order.  A record is renamed into place, so a reader never sees half.
add_records() {
	local id size path
	mkdir -p records
	xargs -d '\n' sha256sum <"$1" | cut -d' ' -f1 >"$1.ids"
	xargs -d '\n' stat -c %s <"$1" | paste -d' ' "$1.ids" - | paste -d' ' - "$1" |
	while read -r id size path; do
		{ printf '%s %s\n' "$id" "$size"; cat "$path"; echo; } >"records/$id.$BASHPID"
		mv "records/$id.$BASHPID" "records/$id"
	done
	cat "$1.ids"
	rm "$1.ids"
}

# The expected --batch output for the ids listed in $1.
expected_for() {
	sed 's|^|records/|' "$1" | xargs -r cat
}

# Feed the paths listed in $1 to a writer in chunks of $2 (default 25),
# pausing between chunks so that the writer answers as it goes.
feed() {
	local chunk=${2:-25} n=0 p
	while read -r p; do
		printf '%s\n' "$p"
		n=$((n + 1))
		[ $((n % chunk)) -ne 0 ] || sleep 0.04
	done <"$1"
}

# The ids acknowledged so far by writers whose output goes to out.*:
# whole lines only, as a writer may be in the middle of one.
acknowledged() {
	local f n
	for f in out.*; do
		# A writer's file may go away meanwhile.
		n=$({ wc -l <"$f"; } 2>/dev/null) || continue
		head -n "$n" "$f" 2>/dev/null
	done
}

# Overwrite the byte at offset $2 of file $1 with its complement.
flip() {
	local old
	old=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((255 - old)))" |
	    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# Bytes of the varint of $1: 7 bits a byte.
varint_size() {
	local n=$1 v=1
	while [ "$n" -ge 128 ]; do
		n=$((n >> 7))
		v=$((v + 1))
	done
	echo "$v"
}

# The header of a format-2 entry of $1 raw bytes, stored compressed in $2
# bytes if given: a tag, the sizes, 8 bytes of the id, the checksum.
entry_header() {
	echo $((1 + $(varint_size "$1") + ${2:+$(varint_size "$2")} + 8 + 4))
}

# A format-2 tombstone: a tag, size 0, the whole id, the checksum.
TOMBSTONE_SIZE=38

# Pack the objects in the files named, one by one and uncompressed, so
# that the layout is known: abc, empty and text (t/2200, t/2300) land
# at 16, 16 + 14 + 3 = 33 and 33 + 14 = 47.
pack_in_order() {
	local f
	for f in "$@"; do
		dos hash-object -w "$f" >/dev/null
		dos pack -q --compress=never
	done
}

# Start a --to-pack writer (pid in holder) that holds packs/lock until
# stop_holder closes its input, fd 7.
start_holder() {
	mkfifo paths
	dos hash-object -w --to-pack --stdin-paths <paths >holder.out 2>holder.err 3>&- &
	holder=$!
	exec 7>paths
	# It holds the lock once it has answered its first path.
	printf 'held\n' >held
	printf 'held\n' >&7
	for _ in $(seq 1 100); do
		[ -s "$DOS_DIR/packs/lock" ] &&
		    [ "$(cat "$DOS_DIR/packs/lock")" = "$holder" ] && break
		sleep 0.05
	done
	[ "$(cat "$DOS_DIR/packs/lock")" = "$holder" ]
}

stop_holder() {
	exec 7>&-
	wait "$holder"
}

# Wait until process $1 stops itself (DOS_FAULT=stop:N); fails after 5 s.
wait_stopped() {
	local _
	for _ in $(seq 100); do
		[ "$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat")" != T ] || return 0
		sleep 0.05
	done
	return 1
}

# dos $1 --no-wait ${@:2} while start_holder's writer holds the lock:
# exit 75, nothing done or printed but who holds it.
lock_refused() {
	local cmd=$1
	shift
	run -75 --separate-stderr dos "$cmd" --no-wait "$@"
	[ "$output" = "" ]
	[ "$stderr" = "dos-$cmd: error: pack lock held by pid $holder (dos-hash-object)" ]
}

# dos <command> with the arguments after $2 is a usage error: exit 129,
# nothing on stdout, "error: $2" on stderr, then the usage.
usage_error() {
	local cmd=$1 msg=$2
	shift 2
	run -129 --separate-stderr dos "$cmd" "$@" </dev/null
	[ "$output" = "" ]
	[ "${stderr%%$'\n'*}" = "dos-$cmd: error: $msg" ]
	[[ "$stderr" = *$'\n'"usage: dos $cmd "* ]]
}

# Object $1 reads as corrupt: fatal (128) alone, an error in --batch.
reads_as_corrupt() {
	run -128 --separate-stderr dos cat-object "$1"
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: object '$1' is corrupt" ]
	run -1 --separate-stderr dos cat-object --batch <<<"$1"
	[ "$output" = "$1 corrupt" ]
	[ "$stderr" = "dos-cat-object: error: object '$1' is corrupt" ]
}

# For tests that talk to dos cat-object as the coprocess CAT: the next
# line it answers, within 5 seconds, is $1.
cat_answers() {
	local line
	read -t 5 -r line <&"${CAT[0]}"
	[ "$line" = "$1" ]
}

# Close the input of the coprocess CAT; it exits 0.
cat_finish() {
	local pid=$CAT_PID
	exec {CAT[1]}>&-
	wait "$pid"
}

# The SYNOPSIS line of the man page $1, as mandoc renders it.
man_synopsis() {
	mandoc -Tascii -O width=300 "$BATS_TEST_DIRNAME/../man/$1.1" |
	    col -b | sed -n '/^SYNOPSIS/{n;p;}' | sed 's/^ *//; s/  */ /g'
}

# Check that $3, a progress line drawn for every object
# (DOS_PROGRESS_INTERVAL=0), counted $1 from 1 to $2 and ended done:
# "\r$1: 1[, ...]\r$1: 2[, ...]...\r$1: $2, done.", each draw padded with
# blanks over the longer one before it.
progress_counts() {
	local what=$1 n=$2 i piece
	local -a pieces
	[ "${3:0:1}" = $'\r' ]
	IFS=$'\r' read -ra pieces <<<"${3:1}"
	[ "${#pieces[@]}" -eq $((n + 1)) ]
	for ((i = 1; i <= n; i++)); do
		piece=${pieces[i - 1]%%,*}
		[ "${piece%"${piece##*[! ]}"}" = "$what: $i" ]
	done
	piece=${pieces[n]}
	[ "${piece%"${piece##*[! ]}"}" = "$what: $n, done." ]
}

# Append to pack $1 an entry for id $2 with codec $3, raw size $4,
# stored size $5 and stored bytes $6, with valid checksums, in the pack's
# format; a new pack is made in format 1.
add_entry() {
	python3 - "$@" <<'EOF'
import struct, sys, zlib
path, oid, codec, raw, stored, data = sys.argv[1:7]
codec, raw, stored, data = int(codec), int(raw), int(stored), data.encode()
def varint(n):
    out = b''
    while n >= 128:
        out += bytes([n & 127 | 128])
        n >>= 7
    return out + bytes([n])
with open(path, 'ab+') as f:
    f.seek(0)
    head = f.read(16)
    if not head:
        head = b'DOSPACK\0' + struct.pack('<II', 1, 0)
        f.write(head)
    if struct.unpack('<I', head[8:12])[0] == 2:
        hdr = bytes([0xd0 | codec]) + varint(raw) + \
            (varint(stored) if codec else b'') + bytes.fromhex(oid)[:8]
        f.write(hdr + struct.pack('<I', zlib.crc32(data, zlib.crc32(hdr))) + data)
    else:
        hdr = b'DOSe' + bytes([codec, 0, 64, 0]) + \
            struct.pack('<QQ', raw, stored) + bytes.fromhex(oid) + \
            struct.pack('<I', zlib.crc32(data))
        f.write(hdr + struct.pack('<I', zlib.crc32(hdr)) + data)
EOF
}

index_put() {
	"$DOS_EXEC_PATH/t/index-put" "$DOS_DIR" "$@"
}

# index-put --hold with these arguments (the container first) in the
# background, pid in txn_holder, once its transaction holds its locks.
hold_txn() {
	"$DOS_EXEC_PATH/t/index-put" --hold "$@" >txn-held &
	txn_holder=$!
	for _ in $(seq 100); do
		[ -s txn-held ] && break
		sleep 0.1
	done
	[ -s txn-held ]
}

# Stop hold_txn's process with SIGTERM while process $1 waits for one of
# its locks: $1 must end within 10 s (the lock timeout is 2 s), or it is
# killed and the test fails.
ends_after_holder_killed() {
	sleep 0.5
	kill -TERM "$txn_holder"
	wait "$txn_holder" || true
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1"
		false
	fi
	wait "$1"
}

# The offset of object $1 in its pack.
offset_of() {
	dos cat-object --batch-check='%(offset)' <<<"$1"
}

# $1 small JSON objects (80-200 bytes, alike as metadata records are)
# as files of the directory $2, from the seed $3 (default 7).
json_objects() {
	mkdir -p "$2"
	awk -v n="$1" -v dir="$2" -v seed="${3:-7}" 'BEGIN {
		srand(seed)
		split("data.core.int.Int. data.core.dict.Dict. process.calculation.", kinds)
		for (i = 0; i < n; i++) {
			f = sprintf("%s/%05d.json", dir, i)
			printf("{\"uuid\": \"%08x-%04x\", \"node_type\": \"%s\", " \
			    "\"attributes\": {\"value\": %d, \"ctime\": " \
			    "\"2024-%02d-%02dT00:00\"}, \"label\": \"run %d\"}",
			    int(rand() * 2^31), i, kinds[1 + int(rand() * 3)],
			    int(rand() * 10^6), 1 + int(rand() * 12),
			    1 + int(rand() * 28), i) > f
			close(f)
		}
	}'
}

# The tag byte of object $1's entry, in decimal.
tag_of() {
	local pack off
	pack=$(dos cat-object --batch-check='%(pack)' <<<"$1") || return 1
	off=$(offset_of "$1") || return 1
	od -An -tu1 -j "$off" -N1 "$DOS_DIR/packs/$pack" | tr -d ' '
}

# The fault steps to kill "$@" at, from a run of it that logs them (in
# points): every step of a short run, or 25 spread over a long one.
kill_steps() {
	local n
	DOS_FAULT_LOG=points "$@" || return 1
	n=$(wc -l <points)
	[ "$n" -gt 20 ] || return 1
	seq 1 $(((n + 24) / 25)) "$n"
}

# The container base/ as $DOS_DIR again, and "${@:2}" run there killed
# at fault step $1: it must die of it.
killed_at() {
	rm -rf "$DOS_DIR"
	cp -a base "$DOS_DIR"
	run env DOS_FAULT=kill:"$1" "${@:2}"
	[ "$status" -eq 137 ]
}
