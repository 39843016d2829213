#!/usr/bin/env bats
# Power loss: the fsync protocol of dos-container(5) as the system calls
# show it (strace), the power-loss model of DOS_FAULT=powerloss:N (which
# undoes what is not durable yet, then kills), and every writing
# operation cut at a sample of its points with the checks of
# t/crash.bash.  t/stress/powerloss cuts at every point.
load helper
load crash

# Points tried per operation here.
SAMPLE=5

TRACED=fsync,fdatasync,syncfs,rename,renameat,renameat2,link,linkat,unlink,unlinkat,write

# Run a command under strace into trace, with pids, descriptor numbers,
# the container's path (C) and the numbers of temp file names taken out.
# (LeakSanitizer cannot work under ptrace.)
traced() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    strace -f -y -qq -o trace.raw -e trace="$TRACED" "$@" | cat >out
	# The ids go to a pipe, as to a caller; strace exits as its program.
	[ "${PIPESTATUS[0]}" -eq 0 ]
	sed -E -e 's/^[0-9]+ +//' -e 's/[0-9]+</</g' -e "s#$DOS_DIR#C#g" \
	    -e 's/obj-[0-9]+-([0-9]+)-[0-9a-f]{8}/obj-\1/g' trace.raw >trace
}

# The syscalls of the trace that the protocol is about (Berkeley DB's
# own files aside), one per line, a pipe's number taken out.
protocol_steps() {
	grep -v -e '^write(<C/' -e '<C/index/[_op]' trace | grep -v '^+++' |
	    sed -E 's/pipe:\[[0-9]+\]/pipe:[N]/'
}

# The protocol steps of the trace are the lines on stdin, and they follow
# the protocol.
protocol_steps_are() {
	protocol_steps >actual
	diff -u - actual
	check_protocol
}

# The steps of the protocol in the trace by name, a repeat of one folded:
# directories and pack data synced, commits (Berkeley DB syncing its log),
# ids printed.
protocol_tokens() {
	awk '
	/^fsync\(<C\/index>\)/ { t = "index-dir" }
	/^fsync\(<C>\)/ { t = "container-dir" }
	/^fdatasync\(<C\/packs\/[0-9]+>\)/ { t = "pack-data" }
	/^fsync\(<C\/packs>\)/ { t = "packs-dir" }
	/^f(data)?sync\(<C\/index\/log\./ { t = "commit" }
	/^write\(<pipe:/ { t = "print" }
	t != "" && t != last { print t; last = t }
	{ t = "" }' trace
}

# Check the trace against the protocol of dos-container(5); print the
# first step that breaks it.
check_protocol() {
	awk '
	function fail(why) { printf "line %d: %s: %s\n", NR, why, $0; bad = 1; exit 1 }
	/^fsync\(<C\/sandbox\/obj-/ { split($0, a, /[<>]/); tsync[a[2]] = 1; next }
	/^syncfs\(/ { syncfs = NR; next }
	/^renameat2\(<C\/sandbox>, "obj-[0-9]+", <C\/loose>.* = 0$/ {
		split($0, a, "\""); if (!tsync["C/sandbox/" a[2]] && !syncfs)
			fail("published before its data was synced")
		renamed = NR; next }
	/^fsync\(<C\/loose[>\/]/ { loosedir = NR; next }
	/^fsync\(<C\/index>\)/ { indexdir = NR; next }
	/^fsync\(<C>\)/ { container = NR; next }
	/^fdatasync\(<C\/packs\/[0-9]+>\)/ {
		if (!indexdir || !container) fail("pack data before the index is durable")
		packsync = NR; next }
	/^fsync\(<C\/packs>\)/ { if (!packsync) fail("new pack named before its header was synced"); next }
	/^f(data)?sync\(<C\/index\/log\./ { commit = NR; next }
	/^unlinkat\(<C\/loose[>\/]/ {
		if (!packsync || commit < packsync) fail("loose copy removed before its packed copy was committed")
		unlinked = NR; next }
	/^write\(<pipe:/ {
		if (renamed > acked && loosedir < renamed && syncfs < renamed) fail("id printed before its directory entry was synced")
		if (packsync > acked && commit < packsync) fail("id printed before its batch was committed")
		if (unlinked > acked && syncfs < unlinked) fail("removal printed before it was synced")
		acked = NR; next }
	' trace
}

@test "strace: hash-object -w of one object follows the protocol" {
	printf abc >abc
	traced dos hash-object -w abc
	[ "$(cat out)" = "$ABC_OID" ]
	protocol_steps_are <<-'EOF'
	fsync(<C/sandbox/obj-0>) = 0
	renameat2(<C/sandbox>, "obj-0", <C/loose>, "ba/7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", RENAME_NOREPLACE) = -1 ENOENT (No such file or directory)
	renameat2(<C/sandbox>, "obj-0", <C/loose>, "ba/7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", RENAME_NOREPLACE) = 0
	fsync(<C/loose/ba>) = 0
	fsync(<C/loose>) = 0
	write(<pipe:[N]>, "ba7816bf8f01cfea414140de5dae2223"..., 65) = 65
	EOF
}

@test "strace: hash-object -w of an object already stored syncs its entry before the answer" {
	printf abc >abc
	dos hash-object -w abc >/dev/null
	# The writer that stored it may not have synced its entry yet.
	traced dos hash-object -w abc
	[ "$(cat out)" = "$ABC_OID" ]
	protocol_steps_are <<-'EOF'
	unlinkat(<C/sandbox>, "obj-0", 0) = 0
	fsync(<C/loose/ba>) = 0
	fsync(<C/loose>) = 0
	write(<pipe:[N]>, "ba7816bf8f01cfea414140de5dae2223"..., 65) = 65
	EOF
}

@test "strace: hash-object -w of a batch follows the protocol" {
	printf abc >abc
	: >empty
	printf '%s\n' abc empty | traced dos hash-object -w --stdin-paths
	printf '%s\n' "$ABC_OID" "$EMPTY_OID" | diff -u - out
	protocol_steps_are <<-'EOF'
	syncfs(<C/sandbox>) = 0
	renameat2(<C/sandbox>, "obj-0", <C/loose>, "ba/7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", RENAME_NOREPLACE) = -1 ENOENT (No such file or directory)
	renameat2(<C/sandbox>, "obj-0", <C/loose>, "ba/7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", RENAME_NOREPLACE) = 0
	renameat2(<C/sandbox>, "obj-1", <C/loose>, "e3/b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", RENAME_NOREPLACE) = -1 ENOENT (No such file or directory)
	renameat2(<C/sandbox>, "obj-1", <C/loose>, "e3/b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", RENAME_NOREPLACE) = 0
	syncfs(<C/loose>) = 0
	write(<pipe:[N]>, "ba7816bf8f01cfea414140de5dae2223"..., 130) = 130
	EOF
}

@test "strace: hash-object -w --to-pack follows the protocol" {
	seq 1 1000 >a
	seq 2 2000 >b
	printf '%s\n' a b | traced dos hash-object -w --to-pack --stdin-paths
	[ "$(wc -l <out)" -eq 2 ]
	check_protocol
	protocol_tokens >actual
	# Berkeley DB creates the index; index/ and its entry are synced; the
	# new pack's header, then packs/, then its length committed; the
	# batch synced, committed, printed; a checkpoint as the index closes.
	cat >expect <<-'EOF'
	commit
	index-dir
	container-dir
	pack-data
	packs-dir
	commit
	pack-data
	commit
	print
	commit
	EOF
	diff -u expect actual
}

@test "strace: pack removes loose files only after the commit" {
	seq 1 1000 >a
	seq 2 2000 >b
	dos hash-object -w a b >/dev/null
	traced dos pack -q
	check_protocol
	# The two files; then the shards they leave empty go (AT_REMOVEDIR).
	[ "$(grep -E '^unlinkat\(<C/loose[>/]' trace | grep -vc AT_REMOVEDIR)" -eq 2 ]
}

@test "strace: rm prints a removal only after the commit and the sync" {
	seq 1 1000 >a
	seq 2 2000 >b
	dos hash-object -w --to-pack a >/dev/null
	dos hash-object -w b >/dev/null
	traced dos rm -v "$(sha256_of a)" "$(sha256_of b)"
	check_protocol
	[ "$(grep -Ec '^unlinkat\(<C/loose[>/]' trace)" -eq 1 ]
	[ "$(grep -c '^removed ' out)" -eq 2 ]
}

@test "the protocol check catches a step out of order" {
	printf 'fdatasync(<C/index/log.0000000001>) = 0\nunlinkat(<C/loose>, "ab/cd", 0) = 0\n' >trace
	run -1 check_protocol
	[ "$output" = 'line 2: loose copy removed before its packed copy was committed: unlinkat(<C/loose>, "ab/cd", 0) = 0' ]
	printf 'renameat2(<C/sandbox>, "obj-0", <C/loose>, "ab/cd", RENAME_NOREPLACE) = 0\nwrite(<pipe:[1]>, "ab", 65) = 65\n' >trace
	run -1 check_protocol
	[ "$output" = 'line 1: published before its data was synced: renameat2(<C/sandbox>, "obj-0", <C/loose>, "ab/cd", RENAME_NOREPLACE) = 0' ]
}

# The number of the first point "<when> <name>" ($1) that the command
# after it reaches, from a run on a copy of the container.
point_of() {
	local want=$1
	shift
	rm -rf probe points
	cp -a "$DOS_DIR" probe
	DOS_DIR=$BATS_TEST_TMPDIR/probe DOS_FAULT_LOG=points "$@" >/dev/null
	grep -m1 " $want\$" points | cut -d' ' -f1
}

@test "power loss before the shard directory is synced: no trace of the object" {
	printf abc >abc
	n=$(point_of "after loose-rename" dos hash-object -w abc)
	run -137 --separate-stderr env DOS_FAULT=powerloss:$n dos hash-object -w abc
	[ "$output" = "" ]
	[ ! -e "$DOS_DIR/loose/ba" ]
	[ -z "$(ls -A "$DOS_DIR/sandbox")" ]
	run -0 dos fsck -q
	[ "$output" = "" ]
}

@test "power loss before loose/ is synced: the new shard directory is lost" {
	printf abc >abc
	n=$(point_of "after loose-shard-fsync" dos hash-object -w abc)
	run -137 env DOS_FAULT=powerloss:$n dos hash-object -w abc
	[ ! -e "$DOS_DIR/loose/ba" ]
	n=$(point_of "after loose-dir-fsync" dos hash-object -w abc)
	run -137 env DOS_FAULT=powerloss:$n dos hash-object -w abc
	[ "$(cat "$(loose_path "$ABC_OID")")" = abc ]
	run -0 dos fsck -q
	[ "$output" = "" ]
}

@test "power loss cuts the pack bytes written since the last sync" {
	printf abc >abc
	seq 1 5000 >text
	dos hash-object -w --to-pack abc >/dev/null
	size=$(stat -c %s "$DOS_DIR/packs/0")
	n=$(point_of "after pack-write" dos hash-object -w --to-pack text)
	run -137 env DOS_FAULT=powerloss:$n dos hash-object -w --to-pack text
	[ "$(stat -c %s "$DOS_DIR/packs/0")" -eq "$size" ]
	run -0 dos fsck -q
	[ "$output" = "" ]
}

@test "power loss after the first commit into a new index keeps the index" {
	printf abc >abc
	n=$(point_of "after index-commit" dos hash-object -w --to-pack abc)
	run -137 env DOS_FAULT=powerloss:$n dos hash-object -w --to-pack abc
	[ -e "$DOS_DIR/index/objects.db" ]
	run -0 dos fsck -q
	[ "$output" = "" ]
}

@test "power loss before rm's sync brings the loose copy back" {
	printf abc >abc
	dos hash-object -w abc >/dev/null
	n=$(point_of "after rm-loose-unlink" dos rm "$ABC_OID")
	run -137 --separate-stderr env DOS_FAULT=powerloss:$n dos rm -v "$ABC_OID"
	[ "$output" = "" ]
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	[ -z "$(find "$DOS_DIR" -name '.dos-powerloss-*')" ]
	run -0 dos rm -v "$ABC_OID"
	[ "$output" = "removed $ABC_OID" ]
}

@test "hash-object -w, one object, power cut at its points" {
	crash_tries hash "$BATS_TEST_TMPDIR/w" powerloss "$SAMPLE"
}

@test "hash-object -w --stdin-paths, a batch, power cut at its points" {
	crash_tries hash-batch "$BATS_TEST_TMPDIR/w" powerloss "$SAMPLE"
}

@test "hash-object -w --to-pack, power cut at its points" {
	crash_tries hash-pack "$BATS_TEST_TMPDIR/w" powerloss "$SAMPLE"
}

@test "pack, power cut at its points" {
	crash_tries pack "$BATS_TEST_TMPDIR/w" powerloss "$SAMPLE"
}

@test "repack, power cut at its points" {
	crash_tries repack "$BATS_TEST_TMPDIR/w" powerloss "$SAMPLE"
}

@test "rm, power cut at its points" {
	crash_tries rm "$BATS_TEST_TMPDIR/w" powerloss "$SAMPLE"
}

@test "gc, power cut at its points" {
	crash_tries gc "$BATS_TEST_TMPDIR/w" powerloss "$SAMPLE"
}

@test "gc --aggressive, power cut at its points" {
	crash_tries gc-aggressive "$BATS_TEST_TMPDIR/w" powerloss "$SAMPLE"
}

@test "migrate, power cut at its points" {
	crash_tries migrate "$BATS_TEST_TMPDIR/w" powerloss "$SAMPLE"
}
