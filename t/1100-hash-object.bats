#!/usr/bin/env bats
# dos hash-object: ids, inputs, quoting, failures, and what -w stores.
load helper

# Everything under the container, with inode, mode, size and mtime.
# (Directories without their mtime: a write through the sandbox changes it.)
snapshot_store() {
	(cd "$DOS_DIR" && find . -type d -printf 'd %i %m %p\n' -o -printf '%y %i %m %s %T@ %p\n' | sort)
}

# The sandbox must be empty after every run, good or bad.
sandbox_is_empty() {
	[ -z "$(find "$DOS_DIR/sandbox" -mindepth 1)" ]
}

@test "known answers: the empty object and abc" {
	: >empty
	printf abc >abc
	run -0 --separate-stderr dos hash-object empty
	[ "$output" = "$EMPTY_OID" ]
	[ "$output" = "$(sha256_of empty)" ]
	run -0 --separate-stderr dos hash-object abc
	[ "$output" = "$ABC_OID" ]
	[ "$output" = "$(sha256_of abc)" ]
	[ "$stderr" = "" ]
}

@test "the id is the sha256 of the raw bytes, for binary and larger content" {
	head -c 300000 /dev/urandom >rand
	printf 'a\0b\nc\r\n\377' >bin
	run -0 --separate-stderr dos hash-object rand bin
	[ "${lines[0]}" = "$(sha256_of rand)" ]
	[ "${lines[1]}" = "$(sha256_of bin)" ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "one id per file, in argument order, repeats included" {
	: >empty
	printf abc >abc
	run -0 --separate-stderr dos hash-object abc empty abc abc empty
	printf '%s\n' "$ABC_OID" "$EMPTY_OID" "$ABC_OID" "$ABC_OID" "$EMPTY_OID" >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
}

@test "--stdin and - hash standard input" {
	run -0 --separate-stderr dos hash-object --stdin < <(printf abc)
	[ "$output" = "$ABC_OID" ]
	run -0 --separate-stderr dos hash-object - < <(printf abc)
	[ "$output" = "$ABC_OID" ]
	run -0 --separate-stderr dos hash-object --stdin </dev/null
	[ "$output" = "$EMPTY_OID" ]
	# After --, - still means standard input; ./- is the file.
	run -0 --separate-stderr dos hash-object -- - < <(printf abc)
	[ "$output" = "$ABC_OID" ]
	: >-
	run -0 --separate-stderr dos hash-object ./- < <(printf abc)
	[ "$output" = "$EMPTY_OID" ]
}

@test "--stdin comes first, then the files in order" {
	: >empty
	run -0 --separate-stderr dos hash-object --stdin empty < <(printf abc)
	printf '%s\n' "$ABC_OID" "$EMPTY_OID" >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
}

@test "--stdin-paths: one id per line, in input order" {
	: >empty
	printf abc >abc
	mkdir sub
	printf 'x\n' >sub/x
	printf '%s\n' abc empty sub/x "$BATS_TEST_TMPDIR/abc" abc >list
	run -0 --separate-stderr dos hash-object --stdin-paths <list
	printf '%s\n' "$ABC_OID" "$EMPTY_OID" "$(sha256_of sub/x)" "$ABC_OID" "$ABC_OID" >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	[ "$stderr" = "" ]
}

@test "--stdin-paths: a last line without a newline and CRLF lines count" {
	printf abc >abc
	: >empty
	run -0 --separate-stderr dos hash-object --stdin-paths < <(printf 'abc\r\nempty')
	printf '%s\n' "$ABC_OID" "$EMPTY_OID" >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	run -0 --separate-stderr dos hash-object --stdin-paths </dev/null
	[ "$output" = "" ]
}

@test "--stdin-paths -z: NUL-terminated paths and ids" {
	printf abc >abc
	printf x >$'new\nline'
	printf y >'"quoted"'
	printf 'abc\0new\nline\0"quoted"\0' >list
	dos hash-object --stdin-paths -z <list >actual
	printf '%s\0' "$ABC_OID" "$(sha256_of $'new\nline')" "$(sha256_of '"quoted"')" >expect
	cmp expect actual
}

@test "--with-path prints id, tab, path" {
	printf abc >abc
	: >'sp ace'
	printf '%s\n' abc 'sp ace' >list
	run -0 --separate-stderr dos hash-object --stdin-paths --with-path <list
	printf '%s\t%s\n' "$ABC_OID" abc "$EMPTY_OID" 'sp ace' >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	run -0 --separate-stderr dos hash-object --with-path abc
	[ "$output" = "$ABC_OID	abc" ]
}

@test "--with-path C-quotes odd names without -z" {
	printf 1 >$'a\tb'
	printf 2 >$'new\nline'
	printf 3 >'q"uote'
	printf 4 >'back\slash'
	printf 5 >$'\001ctl'
	printf 6 >$'cr\r'
	printf 7 >$'del\177'
	printf 8 >$'\xc3\xa9t\xc3\xa9'
	printf '%s\n' '"a\tb"' '"new\nline"' '"q\"uote"' '"back\\slash"' '"\001ctl"' \
	    '"cr\r"' '"del\177"' $'\xc3\xa9t\xc3\xa9' >list
	run -0 --separate-stderr dos hash-object --stdin-paths --with-path <list
	{
		printf '%s\t%s\n' "$(sha256_of $'a\tb')" '"a\tb"'
		printf '%s\t%s\n' "$(sha256_of $'new\nline')" '"new\nline"'
		printf '%s\t%s\n' "$(sha256_of 'q"uote')" '"q\"uote"'
		printf '%s\t%s\n' "$(sha256_of 'back\slash')" '"back\\slash"'
		printf '%s\t%s\n' "$(sha256_of $'\001ctl')" '"\001ctl"'
		printf '%s\t%s\n' "$(sha256_of $'cr\r')" '"cr\r"'
		printf '%s\t%s\n' "$(sha256_of $'del\177')" '"del\177"'
		printf '%s\t%s\n' "$(sha256_of $'\xc3\xa9t\xc3\xa9')" $'\xc3\xa9t\xc3\xa9'
	} >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
}

@test "--with-path -z prints names verbatim" {
	printf 1 >$'a\tb'
	printf 2 >$'new\nline'
	printf 3 >'q"uote'
	printf 'a\tb\0new\nline\0q"uote\0' >list
	dos hash-object --stdin-paths -z --with-path <list >actual
	printf '%s\t%s\0' "$(sha256_of $'a\tb')" $'a\tb' "$(sha256_of $'new\nline')" $'new\nline' \
	    "$(sha256_of 'q"uote')" 'q"uote' >expect
	cmp expect actual
}

@test "quoted input lines are unquoted; -z takes them literally" {
	printf 1 >$'a\tb'
	printf 2 >'"a\tb"'
	run -0 --separate-stderr dos hash-object --stdin-paths < <(printf '"a\\tb"\n')
	[ "$output" = "$(sha256_of $'a\tb')" ]
	dos hash-object --stdin-paths -z < <(printf '"a\\tb"\0') >actual
	printf '%s\0' "$(sha256_of '"a\tb"')" >expect
	cmp expect actual
	# Octal escapes make any byte.
	printf 3 >$'\xc3\xa9'
	run -0 --separate-stderr dos hash-object --stdin-paths < <(printf '"\\303\\251"\n')
	[ "$output" = "$(sha256_of $'\xc3\xa9')" ]
}

@test "a badly quoted line is fatal, after the ids before it" {
	printf abc >abc
	for bad in '"open' '"a\qb"' '"a"b' '"\12"' '"\'; do
		run -128 --separate-stderr dos hash-object --stdin-paths < <(printf 'abc\n%s\nabc\n' "$bad")
		[ "$output" = "$ABC_OID" ]
		[ "$stderr" = "dos-hash-object: fatal: line is badly quoted: $bad" ]
	done
}

@test "a path with a NUL byte needs -z" {
	printf abc >abc
	run -128 --separate-stderr dos hash-object --stdin-paths < <(printf 'abc\nab\0c\nabc\n')
	[ "$output" = "$ABC_OID" ]
	[ "$stderr" = "dos-hash-object: fatal: path contains a NUL byte: 'ab' (use -z)" ]
}

@test "a missing file: stop at the first failure, exit 128, ids before it printed" {
	printf abc >abc
	: >empty
	run -128 --separate-stderr dos hash-object abc nope empty
	[ "$output" = "$ABC_OID" ]
	[ "$stderr" = "dos-hash-object: fatal: could not open 'nope' for reading: No such file or directory" ]
	run -128 --separate-stderr dos hash-object --stdin-paths < <(printf 'abc\nempty\nnope\nabc\n')
	printf '%s\n' "$ABC_OID" "$EMPTY_OID" >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	[ "$stderr" = "dos-hash-object: fatal: could not open 'nope' for reading: No such file or directory" ]
	run -128 --separate-stderr dos hash-object nope
	[ "$output" = "" ]
}

@test "an empty path line is a missing file" {
	printf abc >abc
	run -128 --separate-stderr dos hash-object --stdin-paths < <(printf 'abc\n\nabc\n')
	[ "$output" = "$ABC_OID" ]
	[ "$stderr" = "dos-hash-object: fatal: could not open '' for reading: No such file or directory" ]
}

@test "an unreadable file (chmod 000) is fatal" {
	[ "$(id -u)" -ne 0 ] || skip "root can read any file"
	printf abc >abc
	printf secret >secret
	chmod 000 secret
	run -128 --separate-stderr dos hash-object abc secret abc
	[ "$output" = "$ABC_OID" ]
	[ "$stderr" = "dos-hash-object: fatal: could not open 'secret' for reading: Permission denied" ]
	run -128 --separate-stderr dos hash-object -w abc secret
	[ "$output" = "$ABC_OID" ]
	sandbox_is_empty
}

@test "a file that opens but cannot be read is fatal" {
	[ -r /proc/self/mem ] || skip "no /proc/self/mem"
	printf abc >abc
	# Reading /proc/self/mem at offset 0 fails with EIO, even for root.
	run -128 --separate-stderr dos hash-object abc /proc/self/mem abc
	[ "$output" = "$ABC_OID" ]
	[ "$stderr" = "dos-hash-object: fatal: could not read '/proc/self/mem': Input/output error" ]
	run -128 --separate-stderr dos hash-object -w abc /proc/self/mem abc
	[ "$output" = "$ABC_OID" ]
	[ "$stderr" = "dos-hash-object: fatal: could not read '/proc/self/mem': Input/output error" ]
	sandbox_is_empty
}

@test "a directory is fatal, with and without -w" {
	printf abc >abc
	mkdir dir
	run -128 --separate-stderr dos hash-object abc dir
	[ "$output" = "$ABC_OID" ]
	[ "$stderr" = "dos-hash-object: fatal: could not read 'dir': Is a directory" ]
	run -128 --separate-stderr dos hash-object -w --stdin-paths < <(printf 'abc\ndir\n')
	[ "$output" = "$ABC_OID" ]
	[ "$stderr" = "dos-hash-object: fatal: could not read 'dir': Is a directory" ]
	sandbox_is_empty
	# What was printed is stored.
	[ "$(cat "$(loose_path "$ABC_OID")")" = abc ]
}

@test "-w: the failing input and everything after it is not stored" {
	printf abc >abc
	printf later >later
	run -128 --separate-stderr dos hash-object -w --stdin-paths < <(printf 'abc\nnope\nlater\n')
	[ "$output" = "$ABC_OID" ]
	[ -f "$(loose_path "$ABC_OID")" ]
	[ ! -e "$(loose_path "$(sha256_of later)")" ]
	sandbox_is_empty
}

@test "--keep-going: report, skip, go on, exit 1" {
	printf abc >abc
	: >empty
	mkdir dir
	run -1 --separate-stderr dos hash-object --keep-going abc nope empty dir abc
	printf '%s\n' "$ABC_OID" "$EMPTY_OID" "$ABC_OID" >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	cat >expect <<'EOF'
dos-hash-object: error: could not open 'nope' for reading: No such file or directory
dos-hash-object: error: could not read 'dir': Is a directory
EOF
	printf '%s\n' "$stderr" >actual
	diff -u expect actual
}

@test "--keep-going --stdin-paths --with-path -w stores the good ones" {
	printf abc >abc
	: >empty
	run -1 --separate-stderr dos hash-object -w --stdin-paths --with-path --keep-going \
	    < <(printf 'abc\nnope\nempty\n')
	printf '%s\t%s\n' "$ABC_OID" abc "$EMPTY_OID" empty >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	[ "$stderr" = "dos-hash-object: error: could not open 'nope' for reading: No such file or directory" ]
	[ -f "$(loose_path "$ABC_OID")" ]
	[ -f "$(loose_path "$EMPTY_OID")" ]
	sandbox_is_empty
}

@test "--keep-going with nothing wrong exits 0" {
	printf abc >abc
	run -0 --separate-stderr dos hash-object --keep-going --stdin-paths < <(printf 'abc\n')
	[ "$output" = "$ABC_OID" ]
	[ "$stderr" = "" ]
}

@test "option conflicts are usage errors (129)" {
	printf abc >abc
	usage_error hash-object "multiple --stdin arguments are not supported" --stdin --stdin
	usage_error hash-object "can't use --stdin-paths with --stdin" --stdin-paths --stdin
	usage_error hash-object "can't use --stdin-paths with --stdin" --stdin --stdin-paths
	usage_error hash-object "can't specify files with --stdin-paths" --stdin-paths abc
	usage_error hash-object "can't specify files with --stdin-paths" --stdin-paths -- -
	usage_error hash-object "-z needs --stdin-paths or --recursive" -z abc
	usage_error hash-object "nothing to hash"
	usage_error hash-object "nothing to hash" -w
	sandbox_is_empty
}

@test "without -w no container is needed and nothing is written" {
	printf abc >abc
	before=$(snapshot_store)
	run -0 --separate-stderr dos hash-object abc
	[ "$output" = "$ABC_OID" ]
	[ "$(snapshot_store)" = "$before" ]
	unset DOS_DIR
	mkdir elsewhere && cd elsewhere
	run -0 --separate-stderr dos hash-object ../abc
	[ "$output" = "$ABC_OID" ]
	[ -z "$(ls -A)" ]
	DOS_DIR=/nonexistent run -0 --separate-stderr dos hash-object --stdin-paths <<<../abc
	[ "$output" = "$ABC_OID" ]
	run -0 --separate-stderr dos hash-object --dir=/nonexistent ../abc
	[ "$output" = "$ABC_OID" ]
}

@test "-w stores a read-only loose file with the exact content" {
	printf abc >abc
	: >empty
	head -c 100000 /dev/urandom >rand
	rand=$(sha256_of rand)
	run -0 --separate-stderr dos hash-object -w abc empty rand
	printf '%s\n' "$ABC_OID" "$EMPTY_OID" "$rand" >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	[ "$stderr" = "" ]
	for f in abc empty rand; do
		oid=$(sha256_of "$f")
		path="$DOS_DIR/loose/${oid:0:2}/${oid:2}"
		[ -f "$path" ]
		[ ! -L "$path" ]
		[ "$(stat -c %a "$path")" = 444 ]
		cmp "$f" "$path"
	done
	[ "$(cd "$DOS_DIR/loose" && find . -type f | sort)" = "$(printf './%s/%s\n' \
	    "${ABC_OID:0:2}" "${ABC_OID:2}" "${EMPTY_OID:0:2}" "${EMPTY_OID:2}" \
	    "${rand:0:2}" "${rand:2}" | sort)" ]
	sandbox_is_empty
}

@test "-w --stdin stores standard input" {
	run -0 --separate-stderr dos hash-object -w --stdin < <(printf abc)
	[ "$output" = "$ABC_OID" ]
	[ "$(cat "$(loose_path "$ABC_OID")")" = abc ]
	sandbox_is_empty
}

@test "storing an existing object does not rewrite it" {
	printf abc >abc
	dos hash-object -w abc >/dev/null
	path=$(loose_path "$ABC_OID")
	touch -h -d @1000000000 "$path"
	before=$(snapshot_store)
	run -0 --separate-stderr dos hash-object -w abc abc
	[ "${lines[0]}" = "$ABC_OID" ]
	[ "${lines[1]}" = "$ABC_OID" ]
	run -0 --separate-stderr dos hash-object -w --stdin-paths <<<abc
	[ "$output" = "$ABC_OID" ]
	[ "$(stat -c %Y "$path")" = 1000000000 ]
	[ "$(snapshot_store)" = "$before" ]
	sandbox_is_empty
}

@test "a truncated loose copy is replaced by a re-add" {
	printf 'some content\n' >f
	oid=$(dos hash-object -w f)
	path=$(loose_path "$oid")
	chmod u+w "$path"
	truncate -s 4 "$path"
	chmod 444 "$path"
	run -0 --separate-stderr dos hash-object -w f
	[ "$output" = "$oid" ]
	cmp f "$path"
	[ "$(stat -c %a "$path")" = 444 ]
	sandbox_is_empty
	run -0 --separate-stderr dos cat-object "$oid"
	[ "$output" = "some content" ]
}

@test "an empty loose copy of a non-empty object is replaced by a re-add" {
	printf abc >abc
	mkdir -p "$DOS_DIR/loose/ba"
	: >"$(loose_path "$ABC_OID")"
	run -0 --separate-stderr dos hash-object -w abc
	cmp abc "$(loose_path "$ABC_OID")"
	sandbox_is_empty
}

@test "--loose-prefix-len=0 stores loose/<64 hex>" {
	dos init -q --loose-prefix-len=0 flat
	printf abc >abc
	run -0 --separate-stderr dos --dir=flat hash-object -w abc
	[ "$output" = "$ABC_OID" ]
	[ "$(cd flat/loose && find . | sort)" = "$(printf '.\n./%s\n' "$ABC_OID")" ]
	cmp abc "flat/loose/$ABC_OID"
	run -0 --separate-stderr dos --dir=flat cat-object --batch-check <<<"$ABC_OID"
	[ "$output" = "$ABC_OID 3" ]
}

@test "-w across batch boundaries: 4200 files, ids in order, all stored" {
	mkdir many
	for i in $(seq 1 4200); do
		printf 'file %d\n' "$i" >"many/$i"
	done
	# Every tenth file repeats an earlier one's content.
	for i in $(seq 10 10 4200); do
		printf 'file %d\n' "$((i - 5))" >"many/$i"
	done
	seq 1 4200 | sed 's,^,many/,' >list
	(cd many && seq 1 4200 | xargs sha256sum) | cut -d' ' -f1 >expect
	dos hash-object -w --stdin-paths <list >actual
	diff -u expect actual
	[ "$(find "$DOS_DIR/loose" -type f | wc -l)" -eq "$(sort -u expect | wc -l)" ]
	dos cat-object --batch-check='%(objectname)' <expect >check
	diff -u expect check
	sandbox_is_empty
}

@test "the pipeline find | hash-object -w --stdin-paths | cat-object --batch-check" {
	mkdir -p data/a/b data/c
	: >data/empty
	printf abc >data/a/abc
	head -c 5000 /dev/urandom >data/a/b/rand
	seq 1 10000 >data/c/seq
	printf 'with space' >'data/c/sp ace'
	cp data/a/abc data/c/dup
	run -0 --separate-stderr bash -c 'set -o pipefail
	    find data -type f | dos hash-object -w --stdin-paths | dos cat-object --batch-check'
	[ "$stderr" = "" ]
	printf '%s\n' "$output" >actual
	find data -type f | while IFS= read -r f; do
		echo "$(sha256_of "$f") $(stat -c %s "$f")"
	done >expect
	[ "$(wc -l <expect)" -eq 6 ]
	diff -u expect actual
	sandbox_is_empty
}

@test "--stdin-paths answers each path at once: it works as a coprocess" {
	printf abc >abc
	: >empty
	coproc HASH { dos hash-object -w --stdin-paths 2>&1; }
	echo "$BATS_TEST_TMPDIR/abc" >&"${HASH[1]}"
	read -t 5 -r line <&"${HASH[0]}"
	[ "$line" = "$ABC_OID" ]
	# Durable and in place by the time its id is printed.
	cmp abc "$(loose_path "$ABC_OID")"
	echo "$BATS_TEST_TMPDIR/empty" >&"${HASH[1]}"
	read -t 5 -r line <&"${HASH[0]}"
	[ "$line" = "$EMPTY_OID" ]
	[ -f "$(loose_path "$EMPTY_OID")" ]
	pid=$HASH_PID
	exec {HASH[1]}>&-
	wait "$pid"
	sandbox_is_empty
}

@test "--stdin-paths -z --with-path also answers at once" {
	printf abc >abc
	coproc HASH { dos hash-object --stdin-paths -z --with-path 2>&1; }
	printf 'abc\0' >&"${HASH[1]}"
	read -t 5 -r -d '' line <&"${HASH[0]}"
	[ "$line" = "$ABC_OID	abc" ]
	pid=$HASH_PID
	exec {HASH[1]}>&-
	wait "$pid"
}

@test "ids go to a regular file in full when stdout is a file" {
	printf abc >abc
	printf 'abc\n%.0s' $(seq 1 100) | dos hash-object --stdin-paths >out
	[ "$(wc -l <out)" -eq 100 ]
	[ "$(sort -u out)" = "$ABC_OID" ]
}

@test "a write error on stdout is fatal" {
	[ -w /dev/full ] || skip "no /dev/full"
	printf abc >abc
	run -128 --separate-stderr bash -c 'dos hash-object abc >/dev/full'
	[ "$stderr" = "dos-hash-object: fatal: write failure on standard output: No space left on device" ]
}

@test "--stdin-paths shows progress with --progress, or when only stderr is a terminal" {
	for i in 1 2 3 4 5 6 7; do echo "$i" >"f$i"; done
	ls f? >paths
	DOS_PROGRESS_INTERVAL=0 run -0 --separate-stderr dos hash-object -w --progress --stdin-paths <paths
	[ "${#lines[@]}" -eq 7 ]
	progress_counts "hashing files" 7 "$stderr"
	run -0 --separate-stderr dos hash-object --stdin-paths --progress --no-progress <paths
	[ "$stderr" = "" ]
	# Only --stdin-paths counts files.
	run -0 --separate-stderr dos hash-object --progress f1 f2
	[ "$stderr" = "" ]
	# Standard error a terminal: progress, unless the ids go there too.
	DOS_PROGRESS_INTERVAL=1000 run -0 script -qec "dos hash-object --stdin-paths <paths 2>&1 >/dev/null" /dev/null
	[ "$output" = $'\rhashing files: 7, done.\r' ]
	run -0 dos hash-object f7
	local last=$output
	run -0 script -qec "dos hash-object --stdin-paths <paths" /dev/null
	[ "${#lines[@]}" -eq 7 ]
	[ "${lines[6]}" = "$last"$'\r' ]
}

@test "a 3 GiB sparse object round-trips through -w and cat-object" {
	avail=$(df -Pk "$BATS_TEST_TMPDIR" | awk 'NR == 2 { print $4 }')
	[ "$avail" -gt $((8 * 1024 * 1024)) ] || skip "needs 8 GiB free"
	truncate -s 3G big
	printf 'needle' | dd of=big bs=1 seek=2000000000 conv=notrunc status=none
	printf 'end' | dd of=big bs=1 seek=$((3 * 1024 * 1024 * 1024 - 3)) conv=notrunc status=none
	# sha256sum of this content: 3 GiB of zeros, "needle" at 2e9, "end" last.
	# (Known in advance: sha256sum runs at ~200 MB/s, too slow to run here.)
	known=4bab930b1a18cdb69dd8659daf1148d9ba2e5a098e77fa64330132a3f2d1cf5b
	run -0 --separate-stderr dos hash-object -w big
	[ "$output" = "$known" ]
	[ "$stderr" = "" ]
	path=$(loose_path "$known")
	[ "$(stat -c %s "$path")" -eq 3221225472 ]
	# Read back and compared byte for byte with the (sparse, cheap) original.
	run -0 --separate-stderr bash -c "set -o pipefail; dos cat-object $known | cmp - big"
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	run -0 --separate-stderr dos cat-object -s "$known"
	[ "$output" = 3221225472 ]
	sandbox_is_empty
	rm -f big "$path"
}
