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
