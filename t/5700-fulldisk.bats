#!/usr/bin/env bats
# A full disk: every write path on a small tmpfs and a small loop-mounted
# ext4 that a filler file has filled (t/fulldisk.bash says what each case
# checks; t/stress/fulldisk runs many more fill levels).  Mounting needs
# root, as in CI; elsewhere these tests are skipped.
load helper
FD_FIXTURES="$BATS_TEST_DIRNAME/fixtures/legacy"
load fulldisk

setup() {
	local why
	why=$(fd_cannot_mount)
	[ -z "$why" ] || skip "$why"
	cd "$BATS_TEST_TMPDIR" || return 1
	export DOS_DIR="$BATS_TEST_TMPDIR/mnt/store"
}

teardown() {
	cd "$BATS_TEST_TMPDIR" && fd_umount
}

# Operation $1 on both file systems, with nothing left and with $2 KiB,
# about half of what it needs (t/stress/fulldisk measures it, and tries
# many more levels).
both_levels() {
	local fs
	for fs in $FD_FILESYSTEMS; do
		fd_case "$1" "$fs" 0
		fd_case "$1" "$fs" "$2"
	done
}

@test "init on a full disk" {
	both_levels init 2
}

@test "hash-object -w of one large object on a full disk" {
	fd_make_data big
	both_levels loose 768
}

@test "hash-object -w --stdin-paths on a full disk" {
	fd_make_data
	both_levels loose-paths 160
}

@test "hash-object -w --to-pack on a full disk" {
	fd_make_data big
	both_levels to-pack 2100
}

@test "pack on a full disk" {
	fd_make_data
	both_levels pack 1200
}

@test "repack on a full disk" {
	fd_make_data
	both_levels repack 60
}

@test "migrate on a full disk" {
	fd_make_legacy
	both_levels migrate 1500
}

@test "the index growing on a full disk" {
	fd_make_data
	fd_make_tiny 300
	for fs in $FD_FILESYSTEMS; do
		fd_case index "$fs" 0
	done
}

# The bugs the cases found, each shown on its own.

@test "a writer that dies on a full disk leaves the index readable while the disk is full" {
	fd_make_data big
	fd_mount tmpfs
	dos init -q "$DOS_DIR"
	dos hash-object -w --to-pack --stdin-paths <data.list >/dev/null
	fd_fill 0
	run -128 --separate-stderr dos hash-object -w --to-pack data/big
	[ "$stderr" = "dos-hash-object: fatal: unable to store 'data/big': No space left on device" ]
	# No recovery needed, which could not write: the packed objects read.
	head -n 3 data.ids >ids
	run -0 --separate-stderr dos cat-object --batch-check <ids
	[ "$output" = "$(sed 's|^|records/|' ids | xargs -n 1 head -n 1)" ]
	# What it appended is the torn tail of an interrupted writer: a notice.
	run -0 --separate-stderr dos fsck
	[ "$output" = "" ]
	[[ "$stderr" = "dos fsck: notice: a torn tail of an interrupted writer ("*") past the committed length of packs/0; the next pack writer cuts it off"* ]]
}

@test "creating the index on a full disk is an error, not a SIGBUS" {
	fd_make_data
	fd_mount ext4
	dos init -q "$DOS_DIR"
	dos hash-object -w --stdin-paths <data.list >/dev/null
	fd_fill 0
	run -128 --separate-stderr dos pack -q
	[[ "$stderr" = "dos-pack: fatal: unable to write to the packs of '$DOS_DIR': "*"No space left on device" ]]
	run -0 --separate-stderr dos cat-object --batch-check <data.ids
	rm mnt/filler
	run -0 dos pack -q
	run -0 dos fsck -q
}

@test "the index's region files have blocks for all they can grow to, so a full disk never means SIGBUS" {
	fd_make_data
	fd_make_tiny 1500
	fd_mount ext4
	dos init -q "$DOS_DIR"
	dos hash-object -w --to-pack data/1 >/dev/null
	# The cache's region is mapped at 1.3 times 16 MiB; a few pages of it
	# are in use.
	[ "$(du -k "$DOS_DIR/index/__db.003" | cut -f1)" -ge 20480 ]
	[ "$(stat -c %s "$DOS_DIR/index/__db.003")" -lt 1048576 ]
	# Filling the cache on a full disk: the log's writes fail, cleanly.
	fd_fill 0
	run -128 --separate-stderr dos hash-object -w --to-pack --stdin-paths <tiny.list
	[[ "$stderr" = "dos-hash-object: fatal: "*"No space left on device" ]]
	rm mnt/filler
	run -0 dos hash-object -w --to-pack --stdin-paths <tiny.list
	[ "$output" = "$(cat tiny.ids)" ]
	run -0 dos fsck -q
}

@test "hash-object -w on a full disk blames the disk, not its input, even with --keep-going" {
	fd_make_data big
	fd_mount tmpfs
	dos init -q "$DOS_DIR"
	fd_fill 0
	run -128 --separate-stderr dos hash-object -w data/big
	[ "$stderr" = "dos-hash-object: fatal: unable to store 'data/big': No space left on device" ]
	run -128 --separate-stderr dos hash-object -w --keep-going --stdin-paths <data.list
	[ "$output" = "" ]
	[[ "$stderr" = "dos-hash-object: fatal: unable to store 'data/"*"': No space left on device" ]]
}

@test "a loose writer that dies on a full disk leaves no temp file behind" {
	fd_make_data
	fd_mount ext4
	dos init -q "$DOS_DIR"
	# Room for a few objects' data, none for the shard directories.
	fd_fill 40
	run -128 --separate-stderr dos hash-object -w --stdin-paths <data.list
	[ -z "$(ls "$DOS_DIR/sandbox")" ]
	run -0 dos fsck -q
}

@test "a repack on a full disk leaves no pack file that is no pack" {
	fd_make_data
	fd_mount tmpfs
	fd_prep_repack
	fd_fill 0
	run -128 --separate-stderr dos repack -q --threshold=0
	[[ "$stderr" = "dos-repack: fatal: unable to repack '$DOS_DIR': No space left on device" ]]
	[ ! -e "$DOS_DIR/packs/1" ]
	run -0 dos fsck -q
}
