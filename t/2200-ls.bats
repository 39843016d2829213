#!/usr/bin/env bats
# dos ls: every object once, sorted or in storage order, loose and packed.
load helper

TEXT_OID=2e57c67a8bbe706a08d6638ec67da02b67b3743ae7d35948cbcf8d1f45cae0a5
HELLO_OID=2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824

# abc (3 bytes), the empty object and text (13893 bytes) in files.
make_files() {
	printf abc >abc
	: >empty
	seq 1 3000 >text
	printf hello >hello
}

# dos ls, and dos ls $1, list text, abc and empty, sorted by id.
lists_the_three_sorted() {
	dos ls >actual
	printf '%s\n' "$TEXT_OID" "$ABC_OID" "$EMPTY_OID" >expect
	diff -u expect actual
	dos ls "$1" >actual
	diff -u expect actual
}

@test "an empty container lists nothing" {
	for opts in "" -l --loose --packed --unordered "-l --unordered -z"; do
		run -0 --separate-stderr dos ls $opts
		[ "$output" = "" ]
		[ "$stderr" = "" ]
	done
}

@test "loose objects are listed sorted by id, with sizes under -l" {
	make_files
	dos hash-object -w text empty abc >/dev/null
	lists_the_three_sorted --loose
	dos ls -l >actual
	cat >expect <<-EOF
	$TEXT_OID 13893 loose -
	$ABC_OID 3 loose -
	$EMPTY_OID 0 loose -
	EOF
	diff -u expect actual
	run -0 --separate-stderr dos ls --packed
	[ "$output" = "" ]
}

@test "packed objects are listed with their pack and offset" {
	make_files
	pack_in_order abc empty text
	[ -z "$(find "$DOS_DIR/loose" -type f)" ]
	lists_the_three_sorted --packed
	dos ls -l >actual
	cat >expect <<-EOF
	$TEXT_OID 13893 packed 0:47
	$ABC_OID 3 packed 0:16
	$EMPTY_OID 0 packed 0:33
	EOF
	diff -u expect actual
	dos ls -l --packed >actual
	diff -u expect actual
	run -0 --separate-stderr dos ls --loose
	[ "$output" = "" ]
}

@test "--unordered lists loose objects first, then the packs front to back" {
	make_files
	pack_in_order abc empty text
	dos hash-object -w hello >/dev/null
	dos ls --unordered -l >actual
	cat >expect <<-EOF
	$HELLO_OID 5 loose -
	$ABC_OID 3 packed 0:16
	$EMPTY_OID 0 packed 0:33
	$TEXT_OID 13893 packed 0:47
	EOF
	diff -u expect actual
	dos ls --unordered --packed >actual
	printf '%s\n' "$ABC_OID" "$EMPTY_OID" "$TEXT_OID" >expect
	diff -u expect actual
	dos ls --unordered --loose >actual
	printf '%s\n' "$HELLO_OID" >expect
	diff -u expect actual
	# The same objects as the sorted listing.
	dos ls >sorted
	dos ls --unordered --packed >packed
	sort actual packed >unordered
	diff -u sorted unordered
}

@test "loose and packed objects merge into one sorted listing" {
	make_files
	pack_in_order abc text
	dos hash-object -w empty hello >/dev/null
	dos ls -l >actual
	cat >expect <<-EOF
	$HELLO_OID 5 loose -
	$TEXT_OID 13893 packed 0:33
	$ABC_OID 3 packed 0:16
	$EMPTY_OID 0 loose -
	EOF
	diff -u expect actual
	dos ls --loose >actual
	printf '%s\n' "$HELLO_OID" "$EMPTY_OID" >expect
	diff -u expect actual
	dos ls --packed >actual
	printf '%s\n' "$TEXT_OID" "$ABC_OID" >expect
	diff -u expect actual
}

@test "an object both loose and packed is listed once: loose, or packed under --packed" {
	make_files
	dos hash-object -w abc >/dev/null
	dos pack -q --compress=never --keep-loose
	[ -f "$(loose_path "$ABC_OID")" ]
	for opts in "" --unordered; do
		run -0 --separate-stderr dos ls -l $opts
		[ "$output" = "$ABC_OID 3 loose -" ]
		run -0 --separate-stderr dos ls -l --loose $opts
		[ "$output" = "$ABC_OID 3 loose -" ]
		run -0 --separate-stderr dos ls -l --packed $opts
		[ "$output" = "$ABC_OID 3 packed 0:16" ]
	done
}

@test "-z ends every record with a NUL" {
	make_files
	pack_in_order abc
	dos hash-object -w empty >/dev/null
	dos ls -z >actual
	printf '%s\0' "$ABC_OID" "$EMPTY_OID" >expect
	cmp expect actual
	dos ls -z -l >actual
	printf '%s\0' "$ABC_OID 3 packed 0:16" "$EMPTY_OID 0 loose -" >expect
	cmp expect actual
	dos ls -z --unordered >actual
	printf '%s\0' "$EMPTY_OID" "$ABC_OID" >expect
	cmp expect actual
}

@test "objects of a missing pack are still listed, in both orders" {
	make_files
	pack_in_order abc empty
	rm "$DOS_DIR/packs/0"
	dos ls >actual
	printf '%s\n' "$ABC_OID" "$EMPTY_OID" >expect
	diff -u expect actual
	dos ls --unordered -l >actual
	printf '%s\n' "$ABC_OID 3 packed 0:16" "$EMPTY_OID 0 packed 0:33" >expect
	diff -u expect actual
}

@test "--unordered lists objects past a damaged entry header last" {
	make_files
	pack_in_order abc empty text
	# Damage the header of the entry at 33 (the empty object), in the id.
	printf Z | dd of="$DOS_DIR/packs/0" bs=1 seek=38 conv=notrunc 2>/dev/null
	dos ls --unordered >actual
	printf '%s\n' "$ABC_OID" "$TEXT_OID" "$EMPTY_OID" >expect
	diff -u expect actual
}

@test "--unordered lists objects past the end of a pack cut short last, and --batch reports them" {
	make_files
	pack_in_order abc empty text
	# Cut where the text entry starts: short of the committed length.
	truncate -s 47 "$DOS_DIR/packs/0"
	dos ls --unordered -l >actual
	cat >expect <<-EOF
	$ABC_OID 3 packed 0:16
	$EMPTY_OID 0 packed 0:33
	$TEXT_OID 13893 packed 0:47
	EOF
	diff -u expect actual
	run -1 --separate-stderr dos cat-object --batch-all-objects --unordered --batch
	printf '%s\n' "$ABC_OID 3" abc "$EMPTY_OID 0" "" "$TEXT_OID corrupt" >expect
	printf '%s\n' "$output" >actual
	diff -u expect actual
	[ "$stderr" = "dos-cat-object: error: object '$TEXT_OID' is corrupt" ]
}

@test "deleted objects are not listed" {
	make_files
	pack_in_order abc empty
	dos rm -q "$ABC_OID"
	for opts in "" --unordered --packed; do
		run -0 --separate-stderr dos ls $opts
		[ "$output" = "$EMPTY_OID" ]
	done
}

@test "a reader that goes away ends dos ls quietly" {
	# More than a pipe holds, so that dos ls meets EPIPE.
	mkdir files
	for i in $(seq 1 2000); do echo "$i" >"files/$i"; done
	ls -d files/* | dos hash-object -w --stdin-paths >/dev/null
	run --separate-stderr bash -c 'dos ls | head -1; echo "${PIPESTATUS[0]}" >&2'
	[ "${#output}" -eq 64 ]
	[ "$stderr" = 141 ]
}

@test "usage errors exit 129" {
	run -129 --separate-stderr dos ls --loose --packed
	[ "$output" = "" ]
	[ "$stderr" = "dos-ls: error: --loose and --packed are incompatible
usage: dos ls [--loose | --packed] [-l] [-z] [--unordered]" ]
	run -129 --separate-stderr dos ls extra
	[ "$stderr" = "dos-ls: error: too many arguments
usage: dos ls [--loose | --packed] [-l] [-z] [--unordered]" ]
	run -129 --separate-stderr dos ls --no-such-option
	[ "$output" = "" ]
	run -0 --separate-stderr dos ls -h
	[ "$output" = "usage: dos ls [--loose | --packed] [-l] [-z] [--unordered]" ]
}

@test "outside a container: exit 128" {
	mkdir notastore
	run -128 --separate-stderr dos ls --dir=notastore
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "dos-ls: fatal: not a dos container: 'notastore'" ]
}

@test "the usage matches the man page synopsis" {
	[ "$(man_synopsis dos-ls)" = "dos ls [--loose | --packed] [-l] [-z] [--unordered]" ]
}
