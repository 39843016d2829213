#!/usr/bin/env bats
# Containers crafted to attack: ids that are paths, symbolic links that
# lead out of the container, pack entries and index records with sizes
# and offsets that lie, hostile config.json files and legacy rows.  dos
# must refuse or report, never read or write outside the container, and
# keep its memory bounded; every test checks the files outside.
load helper

ABC_REST=${ABC_OID:2}

# A directory outside the container, with a file named like the loose
# file of "abc" and one more, to prove they are never touched.
make_outside() {
	OUTSIDE=$BATS_TEST_TMPDIR/outside
	mkdir "$OUTSIDE"
	printf 'not for dos\n' >"$OUTSIDE/$ABC_REST"
	printf 'secret\n' >"$OUTSIDE/file"
	outside_state >"$BATS_TEST_TMPDIR/outside.before"
}

outside_state() {
	(cd "$OUTSIDE" && find . -printf '%p %y %s %m %T@\n' | sort &&
	    cat "$ABC_REST" file)
}

outside_unchanged() {
	outside_state >"$BATS_TEST_TMPDIR/outside.after"
	diff -u "$BATS_TEST_TMPDIR/outside.before" "$BATS_TEST_TMPDIR/outside.after"
}

# Run a command; fail if its peak resident memory exceeded 100 MiB.
bounded() {
	local status=0
	/usr/bin/time -o "$BATS_TEST_TMPDIR/rss" -f %M "$@" || status=$?
	[ "$(tail -n 1 "$BATS_TEST_TMPDIR/rss")" -lt 102400 ]
	return "$status"
}

@test "ids that are paths or of the wrong length are refused on the command line" {
	make_outside
	printf abc | dos hash-object -w --stdin >/dev/null
	for id in ../../outside/file "$ABC_OID/.." "${ABC_OID:0:2}/../../../outside/file" \
	    "${ABC_OID}0" "ba78/../$ABC_REST"; do
		run -128 dos cat-object "$id"
		[ "$output" = "dos-cat-object: fatal: not a valid object name '$id'" ]
		run -128 dos cat-object -s "$id"
		[ "$output" = "dos-cat-object: fatal: not a valid object name '$id'" ]
		run -128 dos rm "$id"
		[ "$output" = "dos-rm: fatal: not a full object id: '$id'" ]
	done
	run -128 dos rm "${ABC_OID:0:63}"
	[ "$output" = "dos-rm: fatal: not a full object id: '${ABC_OID:0:63}'" ]
	run -0 dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	outside_unchanged
}

@test "ids that are paths or of the wrong length are missing on batch stdin" {
	make_outside
	printf abc | dos hash-object -w --stdin >/dev/null
	printf '%s\n' ../../outside/file "$ABC_OID/.." "${ABC_OID}0" "$ABC_OID" \
	    >names
	cat >expect <<-EOF
	../../outside/file missing
	$ABC_OID/.. missing
	${ABC_OID}0 missing
	$ABC_OID 3
	EOF
	run -0 dos cat-object --batch-check <names
	[ "$output" = "$(cat expect)" ]
	run -0 dos cat-object --batch <names
	[ "$output" = "$(cat expect; echo abc)" ]
	sed 's/^/contents /' names >commands
	run -0 dos cat-object --batch-command <commands
	[ "$output" = "$(cat expect; echo abc)" ]
	tr '\n' '\0' <names >names.z
	run -0 dos cat-object --batch-check -z <names.z
	[ "$output" = "$(tr '\n' '\0' <expect)" ]
	outside_unchanged
}

@test "a shard of loose/ that is a symbolic link is never followed" {
	make_outside
	ln -s "$OUTSIDE" "$DOS_DIR/loose/ba"
	run -128 dos cat-object "$ABC_OID"
	[ "$output" = "dos-cat-object: fatal: object '$ABC_OID' is corrupt" ]
	run -128 dos cat-object -s "$ABC_OID"
	[ "$output" = "dos-cat-object: fatal: object '$ABC_OID' is corrupt" ]
	run -1 dos cat-object -e ba78
	[ "$output" = "" ]
	run -0 dos ls
	[ "$output" = "" ]
	printf abc >abc
	run -128 dos hash-object -w abc
	[ "$output" = "dos-hash-object: fatal: unable to store objects in '$DOS_DIR': Too many levels of symbolic links" ]
	run -128 dos rm "$ABC_OID"
	[ "$output" = "dos-rm: fatal: unable to remove 'ba/$ABC_REST': Too many levels of symbolic links" ]
	run -0 dos pack
	[ "$output" = "packed 0 objects (0 bytes -> 0 bytes) into pack 0" ]
	run -16 dos fsck -q
	[ "$output" = "bad-name loose/ba symbolic link" ]
	run -0 --separate-stderr dos fsck --repair
	[ "$stderr" = "dos fsck: moved loose/ba to lost-found/ba
dos fsck: no problems found" ]
	[ "$(readlink "$DOS_DIR/lost-found/ba")" = "$OUTSIDE" ]
	outside_unchanged
}

@test "a loose object that is a symbolic link is never read; a write replaces the link" {
	make_outside
	mkdir "$DOS_DIR/loose/ba"
	ln -s "$OUTSIDE/$ABC_REST" "$(loose_path "$ABC_OID")"
	run -128 dos cat-object "$ABC_OID"
	[ "$output" = "dos-cat-object: fatal: object '$ABC_OID' is corrupt" ]
	run -128 dos cat-object -s "$ABC_OID"
	[ "$output" = "dos-cat-object: fatal: object '$ABC_OID' is corrupt" ]
	printf abc >abc
	run -0 dos hash-object -w abc
	[ "$output" = "$ABC_OID" ]
	[ -f "$(loose_path "$ABC_OID")" ]
	[ ! -L "$(loose_path "$ABC_OID")" ]
	run -0 dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	ln -sf "$OUTSIDE/file" "$(loose_path "$ABC_OID")"
	run -0 dos rm "$ABC_OID"
	[ ! -e "$(loose_path "$ABC_OID")" ]
	[ ! -L "$(loose_path "$ABC_OID")" ]
	outside_unchanged
}

@test "loose/, sandbox/, packs/ or index/ as a symbolic link: the container is refused" {
	local dir
	make_outside
	printf abc >abc
	for dir in loose sandbox packs index; do
		rm -rf "$DOS_DIR/$dir"
		ln -s "$OUTSIDE" "$DOS_DIR/$dir"
		run -128 dos cat-object -e "$ABC_OID"
		[ "$output" = "dos-cat-object: fatal: unable to open container '$DOS_DIR': Too many levels of symbolic links" ]
		run -128 dos hash-object -w --to-pack abc
		[ "$output" = "dos-hash-object: fatal: unable to open container '$DOS_DIR': Too many levels of symbolic links" ]
		run -128 dos pack
		[ "$output" = "dos-pack: fatal: unable to open container '$DOS_DIR': Too many levels of symbolic links" ]
		rm "$DOS_DIR/$dir"
		mkdir "$DOS_DIR/$dir"
	done
	outside_unchanged
}

@test "a pack or packs/lock that is a symbolic link is never followed" {
	make_outside
	printf abc >abc
	ln -s "$OUTSIDE/file" "$DOS_DIR/packs/0"
	run -128 dos hash-object -w --to-pack abc
	[ "$output" = "dos-hash-object: fatal: unable to write to the packs of '$DOS_DIR': Too many levels of symbolic links" ]
	rm "$DOS_DIR/packs/0"
	dos hash-object -w --to-pack abc >/dev/null
	ln -sf "$OUTSIDE/file" "$DOS_DIR/packs/0"
	run -128 dos cat-object "$ABC_OID"
	[ "$output" = "dos-cat-object: fatal: unable to read object '$ABC_OID': Too many levels of symbolic links" ]
	run -128 dos repack
	[ "$output" = "dos-repack: fatal: unable to write to the packs of '$DOS_DIR': Too many levels of symbolic links" ]
	rm "$DOS_DIR/packs/0" "$DOS_DIR/packs/lock"
	ln -s "$OUTSIDE/file" "$DOS_DIR/packs/lock"
	for cmd in pack repack gc; do
		run -128 dos $cmd
		[ "$output" = "dos-$cmd: fatal: unable to write to the packs of '$DOS_DIR': Too many levels of symbolic links" ]
	done
	run -128 dos fsck --repair
	[ "$output" = "dos-fsck: fatal: unable to check '$DOS_DIR': Too many levels of symbolic links" ]
	outside_unchanged
}

@test "a symbolic link or a DB_CONFIG in index/ is refused; fsck --repair replaces the index" {
	make_outside
	printf abc | dos hash-object -w --to-pack --stdin >/dev/null
	mv "$DOS_DIR/index/objects.db" "$OUTSIDE/objects.db"
	ln -s "$OUTSIDE/objects.db" "$DOS_DIR/index/objects.db"
	outside_state >"$BATS_TEST_TMPDIR/outside.before"
	run -128 dos cat-object "$ABC_OID"
	[ "$output" = "dos-cat-object: fatal: unable to read object '$ABC_OID': refusing to follow the symbolic link 'index/objects.db'" ]
	run -128 dos hash-object -w --to-pack --stdin <<<"more"
	[ "$output" = "dos-hash-object: fatal: unable to write to the packs of '$DOS_DIR': refusing to follow the symbolic link 'index/objects.db'" ]
	run -8 --separate-stderr dos fsck
	[ "$output" = "index-error index refusing to follow the symbolic link 'index/objects.db'" ]
	[ "$stderr" = "dos fsck: 1 problem (1 index-error)" ]
	run -0 dos fsck --repair
	run -0 dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	outside_unchanged

	printf 'set_lg_dir %s\nset_data_dir %s\n' "$OUTSIDE" "$OUTSIDE" \
	    >"$DOS_DIR/index/DB_CONFIG"
	run -128 dos cat-object "$ABC_OID"
	[ "$output" = "dos-cat-object: fatal: unable to read object '$ABC_OID': refusing 'index/DB_CONFIG', which would configure the index" ]
	run -128 dos hash-object -w --to-pack --stdin <<<"more"
	[ "$output" = "dos-hash-object: fatal: unable to write to the packs of '$DOS_DIR': refusing 'index/DB_CONFIG', which would configure the index" ]
	run -0 dos fsck --repair
	run -0 dos cat-object "$ABC_OID"
	[ "$output" = abc ]
	outside_unchanged
}

@test "symbolic links in sandbox/ are removed, never followed" {
	make_outside
	ln -s "$OUTSIDE/file" "$DOS_DIR/sandbox/obj-1-0-00000000"
	touch -h -d '3 days ago' "$DOS_DIR/sandbox/obj-1-0-00000000"
	printf abc >abc
	run -0 dos hash-object -w abc
	[ "$output" = "$ABC_OID" ]
	run -0 dos gc
	[ "$output" = "packed 1 object, removed 0 packs (0 bytes reclaimed), removed 1 stale temp file" ]
	[ -z "$(ls -A "$DOS_DIR/sandbox")" ]
	outside_unchanged
}

@test "huge sizes in a pack entry header: reads fail, memory stays bounded" {
	local huge=4611686018427387904
	add_entry "$DOS_DIR/packs/0" "$ABC_OID" 0 $huge 3 abc
	index_put "$ABC_OID" 0 0 16 3 $huge
	index_put --pack-length 0 83
	run -0 bounded dos cat-object -s "$ABC_OID"
	[ "$output" = $huge ]
	# Past 1 MiB objects stream: the damage is found at their end.
	run -128 bounded dos cat-object "$ABC_OID"
	[ "$output" = "abcdos-cat-object: fatal: object '$ABC_OID' is corrupt" ]
	run -3 bounded dos fsck -q
	[ "$output" = "size-mismatch $ABC_OID pack 0 offset=16 expected=$huge actual=3
lost $ABC_OID" ]
	# Format 2 cannot say raw sizes other than the stored size of raw
	# bytes: the entry is not converted, and its pack is kept.
	run -1 bounded dos repack -q --threshold=0
	[ "$output" = "dos-repack: error: object '$ABC_OID': packed copy is corrupt; pack kept" ]
	run -3 bounded dos fsck -q
}

@test "a stored size that wraps around: no over-read, and pack scans end" {
	local wraps=18446744073709551606 oid
	# 64 + stored wraps to 54: a reader that trusted the sum read 54
	# bytes and then handed out memory past them (under AddressSanitizer,
	# a crash; see t/helpers/forged-entry.py).
	oid=$(python3 "$BATS_TEST_DIRNAME/helpers/forged-entry.py" \
	    "$DOS_DIR/packs/0" $wraps)
	index_put "$oid" 0 0 16 $wraps $wraps
	run -128 bounded dos cat-object "$oid"
	[ "$output" = "dos-cat-object: fatal: object '$oid' is corrupt" ]

	# 64 + stored wraps to 0: a scan that trusted it would stand still.
	rm -rf "$DOS_DIR"
	dos init -q "$DOS_DIR"
	add_entry "$DOS_DIR/packs/0" "$ABC_OID" 0 3 18446744073709551552 abc
	index_put "$ABC_OID" 0 0 16 18446744073709551552 3
	index_put --pack-length 0 83
	run -0 timeout 60 dos cat-object --batch-check --batch-all-objects --unordered
	[ "$output" = "$ABC_OID 3" ]
	run -1 timeout 60 dos repack -q --threshold=0
	[ "$output" = "dos-repack: error: packs/0: damaged entry header at offset 16; pack kept" ]
	run -0 --separate-stderr timeout 60 dos count-objects
	[ "$stderr" = "dos-count-objects: warning: 1 pack could not be read to the end; run 'dos fsck' for details" ]
}

# Make the index record of "abc", packed, say $1 (pack codec offset
# stored raw); then reads fail, fsck says $3 and exits $2, and memory
# stays bounded all along.
bad_record() {
	rm -rf "$DOS_DIR"
	dos init -q "$DOS_DIR"
	printf abc | dos hash-object -w --to-pack --stdin >/dev/null
	index_put "$ABC_OID" $1
	run -128 bounded dos cat-object "$ABC_OID"
	[ "$output" = "dos-cat-object: fatal: object '$ABC_OID' is corrupt" ]
	run -0 bounded dos cat-object --batch-check --batch-all-objects
	run -0 bounded dos cat-object --batch-check --batch-all-objects --unordered
	run -0 bounded dos count-objects
	run -0 bounded dos repack -q --threshold=0
	run "-$2" bounded dos fsck -q
	[ "$output" = "$3" ]
}

@test "index records past the end of a pack or naming no pack: reads fail, memory stays bounded" {
	local at="$ABC_OID pack 0 offset=16"
	bad_record "0 0 100000 3 3" 2 \
	    "out-of-bounds $ABC_OID pack 0 offset=100000 length=17"
	bad_record "0 0 18446744073709551615 3 3" 8 \
	    "bad-record $ABC_OID pack 0 offset=18446744073709551615 no entry of this object there"
	bad_record "0 0 16 1000000 3" 8 "bad-record $at the entry there has other sizes"
	bad_record "0 0 16 3 1000000" 8 "bad-record $at the entry there has other sizes"
	bad_record "0 2 16 3 3" 8 "bad-record $at the entry there has other sizes"
	bad_record "4294967294 0 16 3 3" 2 "missing-pack packs/4294967294
missing $ABC_OID pack 4294967294 offset=16
lost $ABC_OID"
}

@test "a config.json that is huge, deeply nested, a link, a FIFO or wrong is refused" {
	make_outside
	cp "$DOS_DIR/config.json" good.json
	python3 -c 'import json, sys
c = json.load(open("good.json")); c["padding"] = "x" * 70000
print(json.dumps(c))' >"$DOS_DIR/config.json"
	run -128 dos cat-object -e "$ABC_OID"
	[ "$output" = "dos-cat-object: fatal: invalid config.json in '$DOS_DIR'" ]
	python3 -c 'print("{\"dos_format\": 1, \"x\": " + "[" * 30000 + "]" * 30000 + "}")' \
	    >"$DOS_DIR/config.json"
	run -128 dos cat-object -e "$ABC_OID"
	[ "$output" = "dos-cat-object: fatal: invalid config.json in '$DOS_DIR'" ]
	for bad in '"loose_prefix_len": 9' '"loose_prefix_len": -1' \
	    '"pack_size_target": 0' '"pack_size_target": 9223372036854775808' \
	    '"compression_algorithm": "zstd:99"' '"container_id": "../../outside/x"' \
	    '"hash_type": "sha1"' '"dos_format": 3'; do
		python3 -c 'import json, sys
c = json.load(open("good.json")); c.update(json.loads("{" + sys.argv[1] + "}"))
print(json.dumps(c))' "$bad" >"$DOS_DIR/config.json"
		run -128 dos cat-object -e "$ABC_OID"
		[ "$output" = "dos-cat-object: fatal: invalid config.json in '$DOS_DIR'" ]
	done
	cp good.json "$OUTSIDE/config.json"
	outside_state >"$BATS_TEST_TMPDIR/outside.before"
	ln -sf "$OUTSIDE/config.json" "$DOS_DIR/config.json"
	run -128 dos cat-object -e "$ABC_OID"
	[ "$output" = "dos-cat-object: fatal: unable to open container '$DOS_DIR': Too many levels of symbolic links" ]
	rm "$DOS_DIR/config.json"
	mkfifo "$DOS_DIR/config.json"
	run -128 timeout 60 dos cat-object -e "$ABC_OID"
	[ "$output" = "dos-cat-object: fatal: invalid config.json in '$DOS_DIR'" ]
	outside_unchanged
}

# A legacy container at ./legacy with the rows given as SQL values.
make_legacy() {
	mkdir -p legacy/loose legacy/packs
	printf '{"container_version": 1, "loose_prefix_len": 2, "pack_size_target": 4294967296, "hash_type": "sha256"}' \
	    >legacy/config.json
	printf hello >legacy/packs/0
	sqlite3 legacy/packs.idx "CREATE TABLE db_object (id INTEGER NOT NULL,
	    hashkey VARCHAR NOT NULL, compressed BOOLEAN NOT NULL,
	    size INTEGER NOT NULL, \"offset\" INTEGER NOT NULL,
	    length INTEGER NOT NULL, pack_id INTEGER NOT NULL, PRIMARY KEY (id));
	    $(printf 'INSERT INTO db_object VALUES (%s);\n' "$@")"
}

# A hand-made index without rowids is read sorted, as a whole.
@test "a legacy index without real rowids migrates every row" {
	local a b
	a=$(printf hello | sha256sum | cut -c1-64)
	b=$(printf hell | sha256sum | cut -c1-64)
	mkdir -p legacy/loose legacy/packs
	printf '{"container_version": 1, "loose_prefix_len": 2, "pack_size_target": 4294967296, "hash_type": "sha256"}' \
	    >legacy/config.json
	printf hello >legacy/packs/0
	sqlite3 legacy/packs.idx "CREATE TABLE db_object (hashkey VARCHAR
	    PRIMARY KEY, compressed BOOLEAN NOT NULL, size INTEGER NOT NULL,
	    \"offset\" INTEGER NOT NULL, length INTEGER NOT NULL,
	    pack_id INTEGER NOT NULL) WITHOUT ROWID;
	    INSERT INTO db_object VALUES ('$a', 0, 5, 0, 5, 0);
	    INSERT INTO db_object VALUES ('$b', 0, 4, 0, 4, 0);"
	run -0 --separate-stderr dos migrate legacy new
	[[ "$stderr" = "dos-migrate: migrated 2 objects (9 bytes), "* ]]
	run -0 dos --dir=new cat-object --batch-check --batch-all-objects
	[ "$output" = "$(printf '%s 4\n%s 5' "$b" "$a" | sort)" ]
}

# Row 8's offset is text: SQLite would read it as 0 (and sort it last,
# which once made the migration read before its buffer).
@test "a legacy container with hostile rows migrates what is good, nothing outside" {
	local hello hell x y z
	make_outside
	hello=$(printf hello | sha256sum | cut -c1-64)
	hell=$(printf hell | sha256sum | cut -c1-64)
	x=$(printf x | sha256sum | cut -c1-64)
	y=$(printf y | sha256sum | cut -c1-64)
	z=$(printf z | sha256sum | cut -c1-64)
	make_legacy "1, '$hello', 0, 5, 0, 5, 0" \
	    "2, '../../outside/file', 0, 7, 0, 7, 0" \
	    "3, '${ABC_OID:0:62}/..', 0, 3, 0, 3, 0" \
	    "4, '$ABC_OID', 0, 3, -1, 3, 0" \
	    "5, '$x', 0, 1, 9223372036854775807, 1, 0" \
	    "6, '$y', 0, -5, 0, 1, 0" \
	    "7, '$z', 1, 1, 0, 9223372036854775807, -1" \
	    "8, '$hell', 0, 4, '../..', 4, 0"
	ln -s "$OUTSIDE/file" legacy/packs/-1
	run -1 --separate-stderr dos migrate legacy new
	# Rows 1-3 come in rowid order; row 4 is out of (pack, offset) order,
	# so it and the rows after it come sorted.
	[ "$output" = "../../outside/file pack/0:bad-row
${ABC_OID:0:61}... pack/0:bad-row
$z pack/-1:unreadable
$ABC_OID pack/0:bad-row
$y pack/0:bad-row
$x pack/0:unreadable
$hell pack/0:bad-row" ]
	[[ "$stderr" = "dos-migrate: migrated 1 objects (5 bytes), 0 already present, 0 extra copies skipped, 0 recovered from a second copy, 7 failed, in "* ]]
	run -0 dos --dir=new cat-object --batch-check --batch-all-objects
	[ "$output" = "$hello 5" ]
	outside_unchanged
}

@test "a legacy container whose packs.idx, loose/ or packs/ is a symbolic link is refused" {
	local what
	make_outside
	make_legacy "1, '$ABC_OID', 0, 3, 0, 3, 0"
	cp legacy/packs.idx "$OUTSIDE/packs.idx"
	outside_state >"$BATS_TEST_TMPDIR/outside.before"
	for what in packs.idx loose packs; do
		mv "legacy/$what" "saved-$what"
		ln -s "$OUTSIDE/$([ $what = packs.idx ] && echo packs.idx)" "legacy/$what"
		run -128 dos migrate legacy new
		[ "$output" = "dos-migrate: fatal: unable to open 'legacy': Too many levels of symbolic links" ]
		[ ! -e new ]
		rm "legacy/$what"
		mv "saved-$what" "legacy/$what"
	done
	outside_unchanged
}

@test "a container without packs/ is checked and listed (no wild free)" {
	printf abc | dos hash-object -w --stdin >/dev/null
	rmdir "$DOS_DIR/packs"
	run -32 --separate-stderr dos fsck
	[ "$output" = "bad-layout packs No such file or directory" ]
	run -0 dos cat-object --batch-check --batch-all-objects --unordered
	[ "$output" = "$ABC_OID 3" ]
}
