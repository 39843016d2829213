# Shared setup for the bats suite: each test gets a fresh container in its
# own temp directory, exported as DOS_DIR, and runs the built programs
# (t/run puts them first on PATH).
bats_require_minimum_version 1.5.0

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
