#!/usr/bin/env bats
# dos cat-object: single-object modes, the batch protocol, damaged objects.
load helper

ZERO_OID=0000000000000000000000000000000000000000000000000000000000000000
# sha256("270") and sha256("1877") share the prefix d8d17.
AMB1=d8d1790737d57ac4fe91a2c0a28087c0a97c81f5dc6b19d5e4aec20c08bb95ae
AMB2=d8d1713dc581651249161742dc814f8368913d77c6f08041e79df7a7fe73750b

# abc and the empty object, stored.
store_basic() {
	printf abc >abc
	: >empty
	dos hash-object -w abc empty >/dev/null
}

store_ambiguous() {
	printf 270 >a1
	printf 1877 >a2
	run -0 --separate-stderr dos hash-object -w a1 a2
	[ "$output" = "$AMB1"$'\n'"$AMB2" ]
}

# dos cat-object -e $2 exits $1 and prints nothing, on stdout or stderr.
exists_silently() {
	run -"$1" --separate-stderr dos cat-object -e "$2"
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}

# Make a loose object writable, for damaging it.
unprotect() {
	chmod u+w "$(loose_path "$1")"
}

@test "cat-object prints the exact content" {
	store_basic
	head -c 200000 /dev/urandom >rand
	printf 'a\0b\r\n\n' >bin
	rand=$(dos hash-object -w rand)
	bin=$(dos hash-object -w bin)
	run -0 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	[ "$stderr" = "" ]
	dos cat-object "$rand" >out
	cmp rand out
	dos cat-object "$bin" >out
	cmp bin out
	dos cat-object "$EMPTY_OID" >out
	[ ! -s out ]
}

@test "cat-object -s prints the size" {
	store_basic
	run -0 --separate-stderr dos cat-object -s "$ABC_OID"
	[ "$output" = 3 ]
	[ "$stderr" = "" ]
	run -0 --separate-stderr dos cat-object -s "$EMPTY_OID"
	[ "$output" = 0 ]
	run -0 --separate-stderr dos cat-object -s ba78
	[ "$output" = 3 ]
}

@test "cat-object -e: 0 when present, 1 when absent, silently" {
	store_basic
	exists_silently 0 "$ABC_OID"
	exists_silently 0 ba78
	exists_silently 1 "$ZERO_OID"
	exists_silently 1 ffff
}

@test "cat-object -e with a name that is not an object name is fatal" {
	for name in xyz1 "${ABC_OID}0" "" "ba78 " g000; do
		run -128 --separate-stderr dos cat-object -e "$name"
		[ "$output" = "" ]
		[ "$stderr" = "dos-cat-object: fatal: not a valid object name '$name'" ]
	done
}

@test "a missing object is fatal in single mode" {
	store_basic
	run -128 --separate-stderr dos cat-object "$ZERO_OID"
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: object '$ZERO_OID' not found" ]
	run -128 --separate-stderr dos cat-object -s ffff
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: object 'ffff' not found" ]
	run -128 --separate-stderr dos cat-object ba7
	[ "$stderr" = "dos-cat-object: fatal: not a valid object name 'ba7': a short id needs at least 4 hex digits" ]
}

@test "prefixes of at least 4 hex digits, in either case" {
	store_basic
	for name in ba78 BA78 bA78 ba7816bf "${ABC_OID^^}" "${ABC_OID:0:63}"; do
		run -0 --separate-stderr dos cat-object "$name"
		[ "$output" = abc ]
	done
}

@test "an ambiguous prefix: fatal in single mode, 'ambiguous' in batch" {
	store_ambiguous
	for opt in '' -s -e; do
		run -128 --separate-stderr dos cat-object $opt d8d17
		[ "$output" = "" ]
		[ "$stderr" = "dos-cat-object: fatal: short object id 'd8d17' is ambiguous" ]
	done
	run -0 --separate-stderr dos cat-object d8d179
	[ "$output" = 270 ]
	run -0 --separate-stderr dos cat-object D8D171
	[ "$output" = 1877 ]
	printf '%s\n' d8d1 D8D17 d8d179 >in
	run -0 --separate-stderr dos cat-object --batch-check <in
	printf '%s\n' "d8d1 ambiguous" "D8D17 ambiguous" "$AMB1 3" >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	[ "$stderr" = "" ]
	run -0 --separate-stderr dos cat-object --batch <in
	printf '%s\n' "d8d1 ambiguous" "D8D17 ambiguous" "$AMB1 3" 270 >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
}

@test "--batch-check: '<oid> <size>' per name, in input order" {
	store_basic
	printf '%s\n' "$ABC_OID" "$EMPTY_OID" ba78 "$ABC_OID" >in
	run -0 --separate-stderr dos cat-object --batch-check <in
	printf '%s\n' "$ABC_OID 3" "$EMPTY_OID 0" "$ABC_OID 3" "$ABC_OID 3" >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	[ "$stderr" = "" ]
}

@test "--batch: info line, contents, LF" {
	store_basic
	printf '%s\n' "$ABC_OID" "$EMPTY_OID" "$ZERO_OID" ba78 >in
	dos cat-object --batch <in >actual
	printf '%s\n' "$ABC_OID 3" abc "$EMPTY_OID 0" "" "$ZERO_OID missing" "$ABC_OID 3" abc >expect
	cmp expect actual
}

@test "--batch streams a large object exactly" {
	head -c 3000000 /dev/urandom >big
	oid=$(dos hash-object -w big)
	echo "$oid" | dos cat-object --batch >actual
	{ echo "$oid 3000000"; cat big; echo; } >expect
	cmp expect actual
	dos cat-object "$oid" >out
	cmp big out
}

@test "'<input> missing' for absent and unresolvable names, exit 0" {
	store_basic
	printf '%s\n' "$ZERO_OID" ffff '' nothex abc ba7 "${ABC_OID}00" "$ABC_OID" 'ba78 x' >in
	run -0 --separate-stderr dos cat-object --batch-check <in
	cat >expect <<EOF
$ZERO_OID missing
ffff missing
 missing
nothex missing
abc missing
ba7 missing
${ABC_OID}00 missing
$ABC_OID 3
ba78 x missing
EOF
	printf '%s\n' "$output" >actual
	diff -u expect actual
	[ "$stderr" = "" ]
	dos cat-object --batch <in >actual
	{ sed '8,$d' expect; printf '%s\n' "$ABC_OID 3" abc "ba78 x missing"; } >expect2
	cmp expect2 actual
}

@test "custom formats expand every atom" {
	store_basic
	fmt='%(objectname) %(objectsize) %(objectsize:disk) %(storage) %(pack) %(offset) %(compression) [%(rest)]'
	printf '%s\n' "$ABC_OID  the rest	of it" "ba78" "$ZERO_OID and more" >in
	run -0 --separate-stderr dos cat-object --batch-check="$fmt" <in
	cat >expect <<EOF
$ABC_OID 3 3 loose - - none [the rest	of it]
$ABC_OID 3 3 loose - - none []
$ZERO_OID missing
EOF
	printf '%s\n' "$output" >actual
	diff -u expect actual
}

@test "a custom format is copied literally around the atoms" {
	store_basic
	run -0 --separate-stderr dos cat-object --batch-check='<%(objectsize)> 100% (x) %(objectname)!' <<<"$ABC_OID"
	[ "$output" = "<3> 100% (x) $ABC_OID!" ]
	run -0 --separate-stderr dos cat-object --batch-check='constant' <<<"$ABC_OID"
	[ "$output" = "constant" ]
	dos cat-object --batch='%(objectsize)' <<<"$ABC_OID" >actual
	printf '3\nabc\n' >expect
	cmp expect actual
}

@test "without %(rest) the whole line is the name" {
	store_basic
	run -0 --separate-stderr dos cat-object --batch-check <<<"$ABC_OID x"
	[ "$output" = "$ABC_OID x missing" ]
	run -0 --separate-stderr dos cat-object --batch-check='%(objectname) %(rest)' <<<"$ABC_OID x"
	[ "$output" = "$ABC_OID x" ]
}

@test "an unknown format atom is fatal" {
	store_basic
	for fmt in '%(objecttype)' '%(objectname) %(bogus)' '%(objectname'; do
		run -128 --separate-stderr dos cat-object --batch-check="$fmt" <<<"$ABC_OID"
		[ "$output" = "" ]
		[[ "$stderr" = "dos-cat-object: fatal: unknown format element: %("* ]]
	done
	run -128 --separate-stderr dos cat-object --batch='%(bogus)' <<<"$ABC_OID"
	[ "$stderr" = "dos-cat-object: fatal: unknown format element: %(bogus)" ]
}

@test "CRLF input lines lose their CR" {
	store_basic
	run -0 --separate-stderr dos cat-object --batch-check < <(printf '%s\r\n' "$ABC_OID" ba78 nope)
	printf '%s\n' "$ABC_OID 3" "$ABC_OID 3" "nope missing" >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
}

@test "-z: NUL-terminated names and records" {
	store_basic
	printf '%s\0' "$ABC_OID" '' "new
line" ba78 >in
	dos cat-object --batch-check -z <in >actual
	printf '%s\0' "$ABC_OID 3" " missing" "new
line missing" "$ABC_OID 3" >expect
	cmp expect actual
	dos cat-object --batch -z <in >actual
	printf '%s\0' "$ABC_OID 3" abc " missing" "new
line missing" "$ABC_OID 3" abc >expect
	cmp expect actual
}

@test "--buffer gives the same output" {
	store_basic
	for i in $(seq 1 200); do
		printf '%s\n' "$ABC_OID" nope "$EMPTY_OID"
	done >in
	dos cat-object --batch <in >plain
	dos cat-object --batch --buffer <in >buffered
	cmp plain buffered
	[ "$(wc -l <plain)" -eq 1000 ]
	dos cat-object --batch-check --buffer <in >buffered
	dos cat-object --batch-check <in >plain
	cmp plain buffered
}

@test "--batch-check --buffer answers more names than a round holds, in input order" {
	store_basic
	printf one >p1
	printf three >p3
	run -0 --separate-stderr dos hash-object -w --to-pack p1 p3
	p1=${lines[0]} p3=${lines[1]}
	# 300,000 names: more than a round (2^18), packed, loose and absent.
	awk -v p1="$p1" -v p3="$p3" -v a="$ABC_OID" 'BEGIN {
		for (i = 0; i < 300000; i++) {
			k = (i * 7) % 5
			print (k == 0 ? p1 : k == 1 ? p3 : k == 2 ? a : k == 3 ? "nope" : p1 i)
		}
	}' >in
	awk -v p1="$p1" -v p3="$p3" -v a="$ABC_OID" '{
		print $0 ($0 == p1 ? " 3" : $0 == p3 ? " 5" : $0 == a ? " 3" : " missing")
	}' in >expect
	dos cat-object --batch-check --buffer <in >actual
	cmp expect actual
}

@test "--batch-command: contents and info" {
	store_basic
	printf '%s\n' "info $ABC_OID" "contents ba78" "info nope" "contents $EMPTY_OID" "info " >in
	sed -i '$d' in
	dos cat-object --batch-command <in >actual
	printf '%s\n' "$ABC_OID 3" "$ABC_OID 3" abc "nope missing" "$EMPTY_OID 0" "" >expect
	cmp expect actual
	dos cat-object --batch-command='%(objectsize) %(objectname)' <in >actual
	printf '%s\n' "3 $ABC_OID" "3 $ABC_OID" abc "nope missing" "0 $EMPTY_OID" "" >expect
	cmp expect actual
}

@test "--batch-command --buffer: flush" {
	store_basic
	printf '%s\n' "info $ABC_OID" flush "contents $ABC_OID" flush "info nope" >in
	dos cat-object --batch-command --buffer <in >actual
	printf '%s\n' "$ABC_OID 3" "$ABC_OID 3" abc "nope missing" >expect
	cmp expect actual
}

@test "--batch-command: each protocol error is fatal after the earlier replies" {
	store_basic
	check() {
		local line=$1 msg=$2
		shift 2
		run -128 --separate-stderr dos cat-object --batch-command "$@" \
		    < <(printf 'info %s\n%s\ninfo %s\n' "$ABC_OID" "$line" "$ABC_OID")
		[ "$output" = "$ABC_OID 3" ]
		[ "$stderr" = "dos-cat-object: fatal: $msg" ]
	}
	check '' 'empty command in input'
	check ' info x' "whitespace before command: ' info x'"
	check '	info x' "whitespace before command: '	info x'"
	check 'bogus' "unknown command: 'bogus'"
	check 'bogus arg' "unknown command: 'bogus arg'"
	check 'infox y' "unknown command: 'infox y'"
	check 'info' 'info requires arguments'
	check 'info ' 'info requires arguments'
	check 'contents' 'contents requires arguments'
	check 'flush x' 'flush takes no arguments'
	check 'flush x' 'flush takes no arguments' --buffer
	check 'flush' 'flush is only for --buffer mode'
	check 'bogus' "unknown command: 'bogus'" --buffer
}

@test "--batch-all-objects lists every object once, sorted, ignoring stdin" {
	store_basic
	store_ambiguous
	run -0 --separate-stderr dos cat-object --batch-all-objects --batch-check <<<"$ZERO_OID"
	printf '%s\n' "$ABC_OID 3" "$AMB2 4" "$AMB1 3" "$EMPTY_OID 0" >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	dos cat-object --batch-all-objects --batch >actual
	printf '%s\n' "$ABC_OID 3" abc "$AMB2 4" 1877 "$AMB1 3" 270 "$EMPTY_OID 0" "" >expect
	cmp expect actual
}

@test "--batch-all-objects --unordered lists the same set" {
	mkdir files
	for i in $(seq 1 60); do echo "$i" >"files/$i"; done
	dos hash-object -w files/* >/dev/null
	dos cat-object --batch-all-objects --batch-check='%(objectname)' >sorted
	dos cat-object --batch-all-objects --unordered --batch-check='%(objectname)' >unordered
	[ "$(wc -l <sorted)" -eq 60 ]
	sort sorted | cmp - sorted
	sort unordered | cmp - sorted
	(cd files && sha256sum *) | cut -d' ' -f1 | sort | cmp - sorted
}

@test "--batch-all-objects in an empty container prints nothing" {
	run -0 --separate-stderr dos cat-object --batch-all-objects --batch
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}

@test "option misuse is a usage error (129)" {
	store_basic
	usage_error cat-object 'only one batch option may be specified' --batch --batch-check
	usage_error cat-object 'only one batch option may be specified' --batch-command --batch
	usage_error cat-object 'batch modes take no arguments' --batch "$ABC_OID"
	usage_error cat-object 'batch modes take no arguments' --batch-check=x "$ABC_OID"
	usage_error cat-object "'-e' is incompatible with batch mode" -e --batch
	usage_error cat-object "'-s' is incompatible with batch mode" -s --batch-check
	usage_error cat-object "'--buffer' requires a batch mode" --buffer "$ABC_OID"
	usage_error cat-object "'-z' requires a batch mode" -z "$ABC_OID"
	usage_error cat-object "'--batch-all-objects' requires a batch mode" --batch-all-objects
	usage_error cat-object "'--unordered' requires --batch-all-objects" --unordered "$ABC_OID"
	usage_error cat-object "'--unordered' requires --batch-all-objects" --batch --unordered
	usage_error cat-object "'--batch-all-objects' cannot be used with --batch-command" --batch-command --batch-all-objects
	usage_error cat-object '-e and -s are incompatible' -e -s "$ABC_OID"
	usage_error cat-object 'an object name is required'
	usage_error cat-object 'too many arguments' "$ABC_OID" "$ABC_OID"
}

@test "a corrupted loose object: fatal in single mode, nothing on stdout" {
	store_basic
	unprotect "$ABC_OID"
	printf abd >"$(loose_path "$ABC_OID")"
	run -128 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: object '$ABC_OID' is corrupt" ]
	run -128 --separate-stderr dos cat-object ba78
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: object '$ABC_OID' is corrupt" ]
}

@test "a corrupted loose object: '<input> corrupt' in batch mode, exit 1" {
	store_basic
	unprotect "$ABC_OID"
	printf abd >"$(loose_path "$ABC_OID")"
	printf '%s\n' "$EMPTY_OID" ba78 "$EMPTY_OID" >in
	run -1 --separate-stderr dos cat-object --batch <in
	printf '%s\n' "$EMPTY_OID 0" "" "ba78 corrupt" "$EMPTY_OID 0" "" >expect
	rc=0
	dos cat-object --batch <in >actual 2>/dev/null || rc=$?
	[ "$rc" -eq 1 ]
	cmp expect actual
	[ "$stderr" = "dos-cat-object: error: object '$ABC_OID' is corrupt" ]
	run -1 --separate-stderr dos cat-object --batch-command <<<"contents $ABC_OID"
	[ "$output" = "$ABC_OID corrupt" ]
}

@test "a corrupted large object is fatal" {
	head -c 3000000 /dev/urandom >big
	oid=$(dos hash-object -w big)
	unprotect "$oid"
	flip "$(loose_path "$oid")" 2999000
	run -128 --separate-stderr dos cat-object "$oid"
	[ "${stderr##*$'\n'}" = "dos-cat-object: fatal: object '$oid' is corrupt" ]
	run -128 --separate-stderr dos cat-object --batch <<<"$oid"
	[ "${stderr##*$'\n'}" = "dos-cat-object: fatal: object '$oid' is corrupt" ]
}

@test "a truncated loose object is corrupt" {
	printf 'some content\n' >f
	oid=$(dos hash-object -w f)
	unprotect "$oid"
	truncate -s 5 "$(loose_path "$oid")"
	reads_as_corrupt "$oid"
	truncate -s 0 "$(loose_path "$oid")"
	run -128 --separate-stderr dos cat-object "$oid"
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: object '$oid' is corrupt" ]
}

@test "a loose object that is a symlink out of the container is refused" {
	store_basic
	path=$(loose_path "$ABC_OID")
	# The target even has the right content: only the symlink is wrong.
	printf abc >outside
	rm -f "$path"
	ln -s "$BATS_TEST_TMPDIR/outside" "$path"
	run -128 --separate-stderr dos cat-object "$ABC_OID"
	[ "$output" = "" ]
	[ "$stderr" = "dos-cat-object: fatal: object '$ABC_OID' is corrupt" ]
	run -1 --separate-stderr dos cat-object --batch <<<"$ABC_OID"
	[ "$output" = "$ABC_OID corrupt" ]
}

@test "a symlinked loose object is never opened" {
	store_basic
	path=$(loose_path "$ABC_OID")
	# Opening a FIFO for reading blocks until a writer comes: a reader
	# that followed the link would hang here.
	mkfifo fifo
	rm -f "$path"
	ln -s "$BATS_TEST_TMPDIR/fifo" "$path"
	run -128 --separate-stderr timeout 10 dos cat-object "$ABC_OID"
	[ "$output" = "" ]
	run -1 --separate-stderr timeout 10 dos cat-object --batch <<<"$ABC_OID"
	[ "$output" = "$ABC_OID corrupt" ]
	run -1 --separate-stderr timeout 10 dos cat-object --batch-check <<<"$ABC_OID"
	[ "$output" = "$ABC_OID corrupt" ]
}

@test "a closed pipe ends cat-object quietly (SIGPIPE)" {
	head -c 4000000 /dev/urandom >big
	oid=$(dos hash-object -w big)
	run -0 bash -c "dos cat-object $oid 2>err | head -c1 >/dev/null; echo \${PIPESTATUS[0]}"
	[ "$output" = 141 ]
	[ ! -s err ]
	run -0 bash -c "dos cat-object --batch-all-objects --batch 2>err | head -c1 >/dev/null; echo \${PIPESTATUS[0]}"
	[ "$output" = 141 ]
	[ ! -s err ]
	run -0 bash -c "yes $oid | head -100 | dos cat-object --batch 2>err | head -c1 >/dev/null; echo \${PIPESTATUS[2]}"
	[ "$output" = 141 ]
	[ ! -s err ]
}

@test "a write error on stdout is fatal" {
	[ -w /dev/full ] || skip "no /dev/full"
	store_basic
	run -128 --separate-stderr bash -c "dos cat-object $ABC_OID >/dev/full"
	[ "$stderr" = "dos-cat-object: fatal: write failure on standard output: No space left on device" ]
	run -128 --separate-stderr bash -c "dos cat-object --batch-check <<<$ABC_OID >/dev/full"
	[ "$stderr" = "dos-cat-object: fatal: write failure on standard output: No space left on device" ]
}

@test "--batch-check answers each name at once: it works as a coprocess" {
	store_basic
	coproc CAT { dos cat-object --batch-check 2>&1; }
	echo "$ABC_OID" >&"${CAT[1]}"
	cat_answers "$ABC_OID 3"
	echo nope >&"${CAT[1]}"
	cat_answers "nope missing"
	cat_finish
}

@test "--batch answers each name at once too" {
	store_basic
	coproc CAT { dos cat-object --batch 2>&1; }
	echo ba78 >&"${CAT[1]}"
	cat_answers "$ABC_OID 3"
	cat_answers abc
	cat_finish
}
