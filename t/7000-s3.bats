#!/usr/bin/env bats
# Remotes on S3-compatible object storage (issue 19): dos remote, push,
# evict and reads of evicted packs, against a real server (OpenStack
# Swift's s3api on 127.0.0.1, t/s3/start-s3), started once for the file.
# Each test pushes under a prefix of its own in the one bucket.
load helper

setup_file() {
	export S3_DIR="$BATS_FILE_TMPDIR/s3"
	if ! "$BATS_TEST_DIRNAME/s3/start-s3" "$S3_DIR" >"$BATS_FILE_TMPDIR/s3.env" \
	    2>"$BATS_FILE_TMPDIR/s3.log"; then
		# Only a server that cannot be installed skips the file.
		grep -q 'missing packages\|apt-get install failed' \
		    "$BATS_FILE_TMPDIR/s3.log"
		touch "$BATS_FILE_TMPDIR/no-s3"
	fi
}

teardown_file() {
	"$BATS_TEST_DIRNAME/s3/stop-s3" --rm "$BATS_FILE_TMPDIR/s3" 2>/dev/null
	return 0
}

setup() {
	if [ -e "$BATS_FILE_TMPDIR/no-s3" ]; then
		skip "no S3 server: $(tail -1 "$BATS_FILE_TMPDIR/s3.log")"
	fi
	# shellcheck disable=SC1091
	. "$BATS_FILE_TMPDIR/s3.env"
	export AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY"
	export AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_REGION="$S3_REGION"
	unset AWS_ENDPOINT_URL AWS_PROFILE AWS_SESSION_TOKEN
	PREFIX="t$BATS_TEST_NUMBER-$$"
	cd "$BATS_TEST_TMPDIR" || return 1
	export DOS_DIR="$BATS_TEST_TMPDIR/store"
	dos init -q "$DOS_DIR"
	dos config pack_size_target 64k
}

# $1 objects of ~3 KB, packed into packs of 64 KiB; their ids in ids.
store_packed() {
	local i
	mkdir -p data
	for i in $(seq 1 "$1"); do
		{ echo "object $i"; head -c 3000 /dev/urandom | base64; } >"data/$i"
	done
	seq 1 "$1" | sed 's|^|data/|' | dos hash-object -w --to-pack --stdin-paths >ids
}

# Kill a clone of the remote into copy at point $1; cloned again, it
# lists what first-ls does, and fsck finds it whole.
clone_killed_again() {
	run env DOS_FAULT="kill:$1" dos clone -q "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
	[ "$status" -eq 137 ]
	dos clone -q "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
	DOS_DIR=copy dos ls >actual
	cmp first-ls actual
	DOS_DIR=copy dos fsck -q
}

add_origin() {
	dos remote add origin "s3://$S3_BUCKET/$PREFIX" --endpoint "$S3_ENDPOINT"
}

# $1 tiny objects in packs of 16 KiB, pushed to origin; their ids in ids.
push_tiny() {
	dos config pack_size_target 16k
	mkdir data
	seq 1 "$1" | awk '{ print "object " $1 > ("data/" $1) }'
	seq 1 "$1" | sed 's|^|data/|' | dos hash-object -w --to-pack --stdin-paths >ids
	add_origin
	dos push -q
}

# curl, signed, to the server: s3curl <key below the bucket> <curl options...>
s3curl() {
	local key=$1
	shift
	printf 'machine 127.0.0.1 login %s password %s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" \
	    >"$BATS_TEST_TMPDIR/netrc"
	curl -sf --netrc-file "$BATS_TEST_TMPDIR/netrc" --aws-sigv4 "aws:amz:$S3_REGION:s3" \
	    "$@" "$S3_ENDPOINT/$S3_BUCKET/$key"
}

@test "remote add, list and remove keep remotes in config.json, never credentials" {
	add_origin
	dos remote add second "s3://$S3_BUCKET/other/prefix/" --region eu-west-1 \
	    --endpoint https://s3.example.org
	run -0 dos remote
	[ "$output" = "$(printf 'origin\nsecond')" ]
	run -0 dos remote -v
	[ "${lines[1]}" = "$(printf 'second\ts3://test/other/prefix\tendpoint=https://s3.example.org\tregion=eu-west-1')" ]
	run -1 grep -c -e "$AWS_SECRET_ACCESS_KEY" -e tester "$DOS_DIR/config.json"
	run -128 dos remote add origin "s3://$S3_BUCKET/x"
	[ "$output" = "dos-remote: fatal: remote 'origin' already exists" ]
	dos remote remove second
	run -0 dos remote
	[ "$output" = origin ]
	run -128 dos remote remove second
	[ "$output" = "dos-remote: fatal: no remote 'second'" ]
	dos config pack_size_target 128k
	run -0 dos remote
	[ "$output" = origin ]
}

@test "remote add refuses bad URLs, and plain http to another machine unless allowed" {
	run -129 dos remote add x "http://$S3_BUCKET/p"
	[[ "${lines[0]}" == *"is not s3://<bucket>[/<prefix>]"* ]]
	run -129 dos remote add x "s3://Bad_Bucket/p"
	run -129 dos remote add x "s3://bucket/a//b"
	run -128 dos remote add x s3://bucket/p --endpoint http://s3.example.org
	[ "$output" = "dos-remote: fatal: http://s3.example.org: plain http to another machine; use https, or allow it explicitly" ]
	dos remote add x s3://bucket/p --endpoint http://s3.example.org --allow-http
	dos remote add y s3://bucket/p --endpoint http://localhost:9000
	run -0 dos remote -v
	[ "${lines[0]}" = "$(printf 'x\ts3://bucket/p\tendpoint=http://s3.example.org\tallow-http')" ]
}

@test "push uploads the sealed packs once, with their indexes, and records them" {
	store_packed 60
	add_origin
	nr=$(find "$DOS_DIR/packs" -name '[0-9]*' | wc -l)
	[ "$nr" -ge 3 ]
	run -0 dos push
	[[ "$output" == "pushed $((nr - 1)) of $((nr - 1)) sealed packs ("*") to origin" ]]
	run -0 ls "$DOS_DIR/remotes/origin"
	[ "$(echo "$output" | wc -l)" -eq $((nr - 1)) ]
	# what the server holds: each pack and its index
	netrc="$BATS_TEST_TMPDIR/netrc"
	printf 'machine 127.0.0.1 login %s password %s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$netrc"
	curl -sf --netrc-file "$netrc" --aws-sigv4 "aws:amz:$S3_REGION:s3" \
	    -H "x-amz-content-sha256: $EMPTY_OID" -o remote-0 "$S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/0"
	cmp remote-0 "$DOS_DIR/packs/0"
	curl -sf --netrc-file "$netrc" --aws-sigv4 "aws:amz:$S3_REGION:s3" \
	    -H "x-amz-content-sha256: $EMPTY_OID" -o remote-0.idx "$S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/0.idx"
	[ "$(head -c 7 remote-0.idx)" = DOSPIDX ]
	run -0 dos push
	[ "$output" = "origin is up to date ($((nr - 1)) sealed packs)" ]
}

@test "evict removes pushed packs only; reads fetch and check their objects" {
	store_packed 60
	add_origin
	dos cat-object --batch <ids >expected
	run -0 dos push --evict
	[[ "${lines[1]}" == "evicted ${lines[0]:7:1} packs ("*" KiB); 0 sealed packs are not on origin" ]]
	run -0 dos push --evict
	[ "${lines[1]}" = "evicted 0 packs (0 bytes); 0 sealed packs are not on origin" ]
	[ "$(find "$DOS_DIR/packs" -name '[0-9]*' | wc -l)" -eq 1 ]
	dos cat-object --batch <ids >actual
	cmp expected actual
	first=$(head -1 ids)
	dos cat-object "$first" >one
	[ "$(sha256_of one)" = "$first" ]
	dos ls >listed
	[ "$(wc -l <listed)" -eq 60 ]
	# more objects still go to the local, newest pack
	echo new | dos hash-object -w --to-pack --stdin >new-id
	run -0 dos cat-object "$(cat new-id)"
	[ "$output" = new ]
	# a remote holding the only copy of packs cannot be removed
	run -128 dos remote remove origin
	[ "$output" = "dos-remote: fatal: remote 'origin' holds packs evicted from '$DOS_DIR'; it is their only copy" ]
}

@test "a damaged remote copy is an error, never output" {
	store_packed 30
	add_origin
	dos push -q --evict
	first=$(head -1 ids)
	# the same pack with one byte flipped, uploaded over the remote one
	netrc="$BATS_TEST_TMPDIR/netrc"
	printf 'machine 127.0.0.1 login %s password %s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$netrc"
	curl -sf --netrc-file "$netrc" --aws-sigv4 "aws:amz:$S3_REGION:s3" \
	    -H "x-amz-content-sha256: $EMPTY_OID" -o pack0 "$S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/0"
	size=$(stat -c %s pack0)
	printf '\x55' | dd of=pack0 bs=1 seek=$((size - 10)) conv=notrunc status=none
	curl -sf --netrc-file "$netrc" --aws-sigv4 "aws:amz:$S3_REGION:s3" \
	    -H "x-amz-content-sha256: $(sha256_of pack0)" -T pack0 "$S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/0"
	run -1 --separate-stderr dos cat-object --batch <ids
	[[ "$stderr" =~ ^"dos-cat-object: error: object '"([0-9a-f]{64})"' is corrupt"$ ]]
	bad=${BASH_REMATCH[1]}
	grep -c "^$bad [0-9]" <<<"$output" >count || true
	[ "$(cat count)" = 0 ]
	grep -qx "$bad corrupt" <<<"$output"
	run -128 --separate-stderr dos cat-object "$bad"
	[ -z "$output" ]
	[ "$stderr" = "dos-cat-object: fatal: object '$bad' is corrupt" ]
}

@test "wrong credentials: push fails naming the endpoint and the status, records nothing" {
	store_packed 30
	add_origin
	AWS_SECRET_ACCESS_KEY=wrong run -128 dos push
	[ "$output" = "dos-push: fatal: unable to push '$DOS_DIR' to origin (s3://$S3_BUCKET/$PREFIX): HEAD $S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/0: HTTP 403" ]
	[ ! -e "$DOS_DIR/remotes/origin/0" ]
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	run -128 dos push
	[[ "$output" == *"no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them to ~/.aws/credentials" ]]
	# the credentials file, as the AWS tools read it
	printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	    "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >credentials
	AWS_SHARED_CREDENTIALS_FILE=$PWD/credentials run -0 dos push
	[[ "$output" == "pushed "* ]]
}

@test "a push killed at any step never records a pack the server does not hold" {
	store_packed 30
	add_origin
	cp -a "$DOS_DIR" pristine
	DOS_FAULT_LOG=points dos push -q
	n=$(grep -c before points)
	i=1
	while [ "$i" -le "$n" ]; do
		rm -rf "$DOS_DIR" copy
		cp -a pristine "$DOS_DIR"
		# a prefix of its own: what this push alone left there
		dos remote remove origin
		dos remote add origin "s3://$S3_BUCKET/$PREFIX-$i" --endpoint "$S3_ENDPOINT"
		run env DOS_FAULT="kill:$i" dos push -q
		[ "$status" -eq 137 ]
		# a clone of what is there reads back all it lists, as pushed
		dos clone -q "s3://$S3_BUCKET/$PREFIX-$i" copy --endpoint "$S3_ENDPOINT"
		DOS_DIR=copy dos ls >listed
		DOS_DIR=copy dos cat-object --batch <listed >actual
		dos cat-object --batch <listed >expected
		cmp expected actual
		# each pack recorded is on the server, whole: evict checks that
		dos push -q --evict
		dos cat-object --batch <ids >/dev/null
		i=$((i + 3))
	done
}

@test "kill -9 during a push of large packs, then push again" {
	dos config pack_size_target 4m
	mkdir -p data
	for i in 1 2 3 4 5 6; do
		head -c 3000000 /dev/urandom >"data/$i"
	done
	ls data/* | dos hash-object -w --to-pack --stdin-paths >ids
	add_origin
	dos push -q &
	pid=$!
	sleep 0.3
	# The push may be over already on a quick machine: the kills at each
	# fault point are the test above; here any moment will do.
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" || true
	dos push -q --evict
	dos push -q
	dos push -q --evict
	dos cat-object --batch <ids >/dev/null
}

@test "a pack of 128 MiB or more goes up in parts, and reads back" {
	dos config pack_size_target 130m
	mkdir -p data
	for i in $(seq 1 14); do
		head -c 10000000 /dev/urandom >"data/$i"
	done
	ls data/* | dos --dir "$DOS_DIR" hash-object -w --to-pack --stdin-paths >ids
	rm -r data
	dos hash-object -w --to-pack "$BATS_TEST_FILENAME" >>ids
	add_origin
	[ "$(stat -c %s "$DOS_DIR/packs/0")" -gt 134217728 ]
	dos push -q --evict
	[ ! -e "$DOS_DIR/packs/0" ]
	grep -c "PUT /$S3_BUCKET/$PREFIX/packs/0%3FpartNumber%3D5%26uploadId" "$S3_DIR/log/proxy-server.log"
	while read -r id; do
		dos cat-object "$id" >one
		[ "$(sha256_of one)" = "$id" ]
	done <ids
}

@test "clone builds an index from the pack indexes and reads objects from the remote" {
	store_packed 60
	add_origin
	dos push -q
	run -0 dos clone "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
	[[ "$output" == "cloned s3://$S3_BUCKET/$PREFIX into copy: "*" objects in "*" packs ("*"), read from origin when needed" ]]
	DOS_DIR=copy dos ls >cloned
	[ "$(wc -l <cloned)" -gt 40 ]
	# everything but the newest, unpushed pack of the original
	dos cat-object --batch <cloned >expected
	DOS_DIR=copy dos cat-object --batch <cloned >actual
	cmp expected actual
	[ "$(find copy/packs -name '[0-9]*' | wc -l)" -eq 1 ]
	run -0 env DOS_DIR=copy dos remote -v
	[ "$output" = "$(printf 'origin\ts3://%s/%s\tendpoint=%s' "$S3_BUCKET" "$PREFIX" "$S3_ENDPOINT")" ]
	# the clone's own objects go to a pack numbered after the remote's
	echo mine | DOS_DIR=copy dos hash-object -w --to-pack --stdin >mine
	run -0 env DOS_DIR=copy dos cat-object "$(cat mine)"
	[ "$output" = mine ]
	DOS_DIR=copy dos cat-object --batch <cloned >actual
	cmp expected actual
	# again into the clone, or into the container that pushed: nothing
	# to do; not into a container without that remote
	run -0 dos clone "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
	[ "$output" = "'copy' has s3://$S3_BUCKET/$PREFIX already, as origin" ]
	dos ls >before
	run -0 dos clone "s3://$S3_BUCKET/$PREFIX" "$DOS_DIR" --endpoint "$S3_ENDPOINT"
	[ "$output" = "'$DOS_DIR' has s3://$S3_BUCKET/$PREFIX already, as origin" ]
	dos ls >after
	cmp before after
	run -128 dos clone "s3://$S3_BUCKET/$PREFIX-other" copy --endpoint "$S3_ENDPOINT"
	[ "$output" = "dos-clone: fatal: 'copy' exists and is not an empty directory" ]
	# nor from nothing
	run -0 dos clone "s3://$S3_BUCKET/$PREFIX-none" empty --endpoint "$S3_ENDPOINT"
	[ "$output" = "cloned s3://$S3_BUCKET/$PREFIX-none into empty: 0 objects in 0 packs (0 bytes), read from origin when needed" ]
}

@test "kill -9 during a clone; a clone again elsewhere is whole" {
	store_packed 60
	add_origin
	dos push -q
	DOS_FAULT_LOG=points dos clone -q "s3://$S3_BUCKET/$PREFIX" first --endpoint "$S3_ENDPOINT"
	n=$(grep -c before points)
	run env DOS_FAULT="kill:$((n / 2))" dos clone -q "s3://$S3_BUCKET/$PREFIX" second --endpoint "$S3_ENDPOINT"
	[ "$status" -eq 137 ]
	dos clone -q "s3://$S3_BUCKET/$PREFIX" third --endpoint "$S3_ENDPOINT"
	DOS_DIR=first dos ls >a
	DOS_DIR=third dos ls >b
	cmp a b
	DOS_DIR=third dos cat-object --batch <b >/dev/null
}

@test "clone killed at any step of its index, run again, is whole" {
	# More records than a transaction of a load holds (4,096), in
	# several packs, sorted in many runs (DOS_SORT_MEMORY).
	push_tiny 6000
	[ "$(ls "$DOS_DIR/remotes/origin" | wc -l)" -gt 2 ]
	export DOS_SORT_MEMORY=4096
	DOS_FAULT_LOG=points dos clone -q "s3://$S3_BUCKET/$PREFIX" first --endpoint "$S3_ENDPOINT"
	DOS_DIR=first dos ls >first-ls
	[ "$(wc -l <first-ls)" -gt 5000 ]
	grep -q "before index-build-rename" points
	n=$(grep -c before points)
	i=1
	while [ "$i" -le "$n" ]; do
		rm -rf copy
		clone_killed_again "$i"
		i=$((i + 7))
	done
	DOS_DIR=copy dos cat-object --batch <first-ls >actual
	dos cat-object --batch <first-ls >expected
	cmp expected actual
}

@test "a clone killed once its objects.db is in place loads into it, through the log; killed at each commit of that, run again, is whole" {
	push_tiny 6000
	export DOS_SORT_MEMORY=4096
	DOS_FAULT_LOG=points dos clone -q "s3://$S3_BUCKET/$PREFIX" first --endpoint "$S3_ENDPOINT"
	DOS_DIR=first dos ls >first-ls
	# the points after the packs are recorded come in one order: the
	# first commit is the first after objects.db is built
	i=$(awk '$2 == "before" && $3 == "index-commit" { print $1; exit }' points)
	run env DOS_FAULT="kill:$i" dos clone -q "s3://$S3_BUCKET/$PREFIX" partial --endpoint "$S3_ENDPOINT"
	[ "$status" -eq 137 ]
	[ -e partial/index/objects.db ]
	# not whole: its own pack, made last, is not there
	run -0 find partial/packs -name '[0-9]*'
	[ -z "$output" ]
	cp -a partial logged
	DOS_FAULT_LOG=load dos clone -q "s3://$S3_BUCKET/$PREFIX" logged --endpoint "$S3_ENDPOINT"
	DOS_DIR=logged dos ls >actual
	cmp first-ls actual
	run -1 grep -c index-build load
	awk '$2 == "before" && $3 == "index-commit" { print $1 }' load >commits
	[ "$(wc -l <commits)" -gt 3 ]
	while read -r i; do
		rm -rf copy
		cp -a partial copy
		clone_killed_again "$i"
	done <commits
}

@test "a clone killed as its objects.db goes into index/ has recorded every pack the index points into" {
	dos config pack_size_target 16k
	store_packed 60
	add_origin
	dos push -q
	DOS_FAULT_LOG=points dos clone -q "s3://$S3_BUCKET/$PREFIX" first --endpoint "$S3_ENDPOINT"
	i=$(awk '$2 == "after" && $3 == "index-build-rename" { print $1; exit }' points)
	[ -n "$i" ]
	run env DOS_FAULT="kill:$i" dos clone -q "s3://$S3_BUCKET/$PREFIX" partial --endpoint "$S3_ENDPOINT"
	[ "$status" -eq 137 ]
	[ -e partial/index/objects.db ]
	ls first/remotes/origin >expected
	[ "$(wc -l <expected)" -gt 5 ]
	ls partial/remotes/origin >actual
	cmp expected actual
}

@test "clone reads a push's index of its packs, and the own indexes of packs no push index names; without push indexes, the same" {
	store_packed 60
	add_origin
	dos push -q
	first=$(ls "$DOS_DIR/remotes/origin" | sort -n | head -1)
	last=$(ls "$DOS_DIR/remotes/origin" | sort -n | tail -1)
	[ "$last" -gt "$first" ]
	s3curl "$PREFIX/packs/$first-$last.idx" -H "x-amz-content-sha256: $EMPTY_OID" -o push-index
	# a second push, killed before its push index (if it has one): the
	# own indexes of its packs alone
	mv ids ids-first
	store_packed 40
	dos push -q
	top=$(ls "$DOS_DIR/remotes/origin" | sort -n | tail -1)
	[ "$top" -gt "$last" ]
	if [ "$top" -gt "$((last + 1))" ]; then
		s3curl "$PREFIX/packs/$((last + 1))-$top.idx" -H "x-amz-content-sha256: $EMPTY_OID" -X DELETE
	fi
	# the GETs of the clone: the one push index, then the own indexes of
	# the second push's packs
	grep "GET /$S3_BUCKET/$PREFIX/" "$S3_DIR/log/proxy-server.log" >before || true
	dos clone -q "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
	grep "GET /$S3_BUCKET/$PREFIX/" "$S3_DIR/log/proxy-server.log" >after
	run -0 grep -c "GET /$S3_BUCKET/$PREFIX/packs/[0-9]*\.idx" after
	[ "$output" -eq "$((top - last))" ]
	run -0 grep -c "GET /$S3_BUCKET/$PREFIX/packs/$first-$last\.idx" after
	[ "$output" -eq "$(($(grep -c "packs/$first-$last\.idx" before) + 1))" ]
	DOS_DIR=copy dos ls >cloned
	# every object of the pushed packs: all but those of the newest pack
	dos cat-object --batch-all-objects --batch-check='%(objectname) %(pack)' >all
	awk -v top="$top" '$2 <= top { print $1 }' all | LC_ALL=C sort >expected
	cmp expected cloned
	ls "$DOS_DIR/remotes/origin" >expected
	ls copy/remotes/origin >actual
	cmp expected actual
	for p in $(ls "$DOS_DIR/remotes/origin"); do
		cmp "$DOS_DIR/remotes/origin/$p" "copy/remotes/origin/$p"
	done
	# a remote an older push wrote: the packs' own indexes alone
	s3curl "$PREFIX/packs/$first-$last.idx" -H "x-amz-content-sha256: $EMPTY_OID" -X DELETE
	dos clone -q "s3://$S3_BUCKET/$PREFIX" old --endpoint "$S3_ENDPOINT"
	DOS_DIR=old dos ls >actual
	cmp cloned actual
	DOS_DIR=old dos cat-object --batch <cloned >actual
	DOS_DIR=copy dos cat-object --batch <cloned >expected
	cmp expected actual
}

@test "a damaged pack index or push index fails a clone, naming it, with nothing indexed; restored, a clone again is whole" {
	store_packed 60
	add_origin
	dos push -q
	dos clone -q "s3://$S3_BUCKET/$PREFIX" first --endpoint "$S3_ENDPOINT"
	last=$(ls "$DOS_DIR/remotes/origin" | sort -n | tail -1)
	for key in "packs/0-$last.idx" packs/1.idx; do
		s3curl "$PREFIX/$key" -H "x-amz-content-sha256: $EMPTY_OID" -o idx
		cp idx damaged
		printf '\x55' | dd of=damaged bs=1 seek=100 conv=notrunc status=none
		s3curl "$PREFIX/$key" -H "x-amz-content-sha256: $(sha256_of damaged)" -T damaged
		rm -rf copy
		run -128 --separate-stderr dos clone "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
		[ "$stderr" = "dos-clone: fatal: unable to clone s3://$S3_BUCKET/$PREFIX into 'copy': $S3_ENDPOINT: $key: not a valid pack index" ]
		run -0 env DOS_DIR=copy dos ls
		[ -z "$output" ]
		s3curl "$PREFIX/$key" -H "x-amz-content-sha256: $(sha256_of idx)" -T idx
		dos clone -q "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
		DOS_DIR=first dos ls >expected
		DOS_DIR=copy dos ls >actual
		cmp expected actual
		# packs/1.idx is read once no push index names pack 1
		s3curl "$PREFIX/packs/0-$last.idx" -H "x-amz-content-sha256: $EMPTY_OID" -X DELETE
	done
}

@test "fsck knows evicted packs; --remote checks them there; --full reads their objects back" {
	store_packed 60
	add_origin
	dos push -q --evict
	run -0 --separate-stderr dos fsck
	[ -z "$output" ]
	[ "$stderr" = "dos fsck: no problems found" ]
	run -0 --separate-stderr dos fsck --remote --full
	[ -z "$output" ]
	# a damaged copy under the SHA-256 push stored: only a read finds it
	s3curl "$PREFIX/packs/0" -H "x-amz-content-sha256: $EMPTY_OID" -o pack0
	size=$(stat -c %s pack0)
	printf '\x55' | dd of=pack0 bs=1 seek=$((size - 10)) conv=notrunc status=none
	sha=$(cut -d' ' -f2 "$DOS_DIR/remotes/origin/0")
	s3curl "$PREFIX/packs/0" -H "x-amz-content-sha256: $(sha256_of pack0)" \
	    -H "x-amz-meta-sha256: $sha" -T pack0
	run -0 --separate-stderr dos fsck --remote
	[ -z "$output" ]
	run -1 --separate-stderr dos fsck --remote --full
	[[ "$output" =~ ^"remote-corrupt "[0-9a-f]{64}" pack 0 offset="[0-9]+$ ]]
	[ "$stderr" = "dos fsck: 1 problem (1 remote-corrupt)" ]
	# the same without that SHA-256, and a pack gone
	s3curl "$PREFIX/packs/0" -H "x-amz-content-sha256: $(sha256_of pack0)" -T pack0
	s3curl "$PREFIX/packs/1" -H "x-amz-content-sha256: $EMPTY_OID" -X DELETE
	run -2 --separate-stderr dos fsck --remote --full
	[ "${lines[0]}" = "remote-damaged packs/0 on origin: $size bytes of SHA-256 (none stored), not $size of $sha" ]
	[ "${lines[1]}" = "remote-missing packs/1 on origin: HEAD $S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/1: HTTP 404" ]
	[ "${#lines[@]}" -eq 2 ]
	# without --remote, nothing of that is looked at
	run -0 dos fsck -q
	AWS_SECRET_ACCESS_KEY=wrong run -128 --separate-stderr dos fsck --remote
	[ "$stderr" = "dos-fsck: fatal: unable to check '$DOS_DIR': HEAD $S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/0: HTTP 403" ]
}

@test "count-objects counts evicted packs as remote; repack and gc leave them alone and say so" {
	store_packed 60
	add_origin
	dos push -q --evict
	evicted=$(ls "$DOS_DIR/remotes/origin" | wc -l)
	dos ls -l >listed
	remote=$(grep -vc " packed $(ls "$DOS_DIR/packs" | grep -v lock):" listed)
	run -0 --separate-stderr dos count-objects
	[[ "$output" == "0 loose objects, 60 packed objects ($remote on remotes), "*" kilobytes" ]]
	[ -z "$stderr" ]
	run -0 --separate-stderr dos count-objects -v
	[ "${lines[10]}" = "remote: $remote" ]
	[ "${lines[11]}" = "remote-packs: $evicted" ]
	[[ "${lines[12]}" == "size-remote: "* ]]
	[ -z "$stderr" ]
	# objects deleted, from the local pack and from an evicted one
	grep " packed 0:" listed | head -2 | cut -d' ' -f1 >gone
	grep -v " packed [01]:" listed | head -2 | cut -d' ' -f1 >>gone
	dos rm -q --stdin <gone
	grep -vxFf gone ids >kept
	dos cat-object --batch <kept >expected
	run -0 dos repack
	[ "${lines[1]}" = "left $evicted packs on remotes alone: evicted, they are read from there" ]
	run -0 dos gc
	[ "${lines[1]}" = "left $evicted packs on remotes alone: evicted, they are read from there" ]
	run -0 dos gc --aggressive
	[ "${lines[1]}" = "left $evicted packs on remotes alone: evicted, they are read from there" ]
	run -0 dos gc -q
	[ -z "$output" ]
	dos cat-object --batch <kept >actual
	cmp expected actual
	[ "$(ls "$DOS_DIR/remotes/origin" | wc -l)" -eq "$evicted" ]
	run -0 --separate-stderr dos fsck --remote --full
	[ -z "$output" ]
	run -0 --separate-stderr dos count-objects
	[ -z "$stderr" ]
}

@test "clone --fetch-all downloads every pack, checked; remote fetch brings evicted packs back" {
	store_packed 60
	add_origin
	dos push -q --evict
	run -0 --separate-stderr dos clone --fetch-all "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
	[[ "${lines[0]}" == "cloned s3://$S3_BUCKET/$PREFIX into copy: "*" objects in "*" packs ("*"), fetching them from origin" ]]
	[[ "${lines[1]}" == "fetched "*" packs ("*") from origin" ]]
	[ -z "$stderr" ]
	for f in "$DOS_DIR"/remotes/origin/*; do
		n=${f##*/}
		[ "$(sha256_of "copy/packs/$n")" = "$(cut -d' ' -f2 "$f")" ]
	done
	DOS_DIR=copy dos ls >cloned
	DOS_DIR=copy dos cat-object --batch <cloned >actual
	dos cat-object --batch <cloned >expected
	cmp expected actual
	run -0 --separate-stderr env DOS_DIR=copy dos fsck --remote --full
	[ -z "$output" ]
	run -0 env DOS_DIR=copy dos count-objects
	[[ "$output" != *"on remotes"* ]]
	# the pushing container gets its packs back, and they read locally
	run -0 dos remote fetch -q
	[ -z "$output" ]
	for f in "$DOS_DIR"/remotes/origin/*; do
		[ -e "$DOS_DIR/packs/${f##*/}" ]
	done
	run -0 dos remote fetch
	[ "$output" = "fetched 0 packs (0 bytes) from origin" ]
	run -0 dos fsck -q --remote
	# a remote copy that is not what was pushed is not fetched
	dos push -q --evict
	s3curl "$PREFIX/packs/0" -H "x-amz-content-sha256: $EMPTY_OID" -o pack0
	printf '\x55' | dd of=pack0 bs=1 seek=100 conv=notrunc status=none
	s3curl "$PREFIX/packs/0" -H "x-amz-content-sha256: $(sha256_of pack0)" -T pack0
	run -128 dos remote fetch
	[ "$output" = "dos-remote: fatal: unable to fetch the packs of '$DOS_DIR' from origin (s3://$S3_BUCKET/$PREFIX): $S3_ENDPOINT: packs/0 is not the pack pushed ($(stat -c %s pack0) bytes of SHA-256 $(cut -d' ' -f2 "$DOS_DIR/remotes/origin/0"))" ]
	[ ! -e "$DOS_DIR/packs/0" ]
	[ -z "$(ls "$DOS_DIR/sandbox")" ]
}

@test "clone --fetch-all killed at any step, run again, ends whole" {
	store_packed 60
	add_origin
	dos push -q
	DOS_FAULT_LOG=points dos clone -q --fetch-all "s3://$S3_BUCKET/$PREFIX" first --endpoint "$S3_ENDPOINT"
	DOS_DIR=first dos ls >first-ls
	n=$(grep -c before points)
	[ "$n" -gt 20 ]
	i=1
	while [ "$i" -le "$n" ]; do
		rm -rf copy
		run env DOS_FAULT="kill:$i" dos clone -q --fetch-all "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
		[ "$status" -eq 137 ]
		dos clone -q --fetch-all "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
		for f in "$DOS_DIR"/remotes/origin/*; do
			cmp "$DOS_DIR/packs/${f##*/}" "copy/packs/${f##*/}"
		done
		DOS_DIR=copy dos ls >actual
		cmp first-ls actual
		DOS_DIR=copy dos fsck -q
		i=$((i + 2))
	done
}

@test "push and clone show their progress when asked, never with -q" {
	store_packed 60
	add_origin
	run -0 --separate-stderr dos push --progress
	[[ "$stderr" == *"pushing packs: "*" KiB, done." ]]
	dos push -q --evict
	run -0 --separate-stderr dos clone --progress --fetch-all "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
	[[ "$stderr" == *"indexing packs: "*", done."*"fetching packs: "*" KiB, done." ]]
	run -0 --separate-stderr dos clone -q --progress --fetch-all "s3://$S3_BUCKET/$PREFIX" quiet --endpoint "$S3_ENDPOINT"
	[ -z "$output" ]
	[ -z "$stderr" ]
	# not on a pipe unless asked
	run -0 --separate-stderr dos clone "s3://$S3_BUCKET/$PREFIX" piped --endpoint "$S3_ENDPOINT"
	[ -z "$stderr" ]
	run -0 --separate-stderr dos remote fetch --progress
	[[ "$stderr" == *"fetching packs: "*", done." ]]
}

@test "a bucket shared by two containers under neighbouring prefixes: each sees only its own packs" {
	store_packed 30
	dos remote add origin "s3://$S3_BUCKET/$PREFIX/a" --endpoint "$S3_ENDPOINT"
	dos push -q --evict
	mv ids ids-a
	rm -r data
	other="$BATS_TEST_TMPDIR/other"
	dos init -q "$other"
	DOS_DIR=$other dos config pack_size_target 64k
	DOS_DIR=$other store_packed 40
	DOS_DIR=$other dos remote add origin "s3://$S3_BUCKET/$PREFIX/ab" --endpoint "$S3_ENDPOINT"
	DOS_DIR=$other dos push -q --evict
	dos clone -q "s3://$S3_BUCKET/$PREFIX/a" copy-a --endpoint "$S3_ENDPOINT"
	dos clone -q "s3://$S3_BUCKET/$PREFIX/ab" copy-b --endpoint "$S3_ENDPOINT"
	DOS_DIR=copy-a dos ls >listed-a
	DOS_DIR=copy-b dos ls >listed-b
	dos ls >own-a
	DOS_DIR=$other dos ls >own-b
	# every object a clone lists is one of its container's, none of the other's
	[ "$(grep -cxFf own-a listed-a)" -eq "$(wc -l <listed-a)" ]
	[ "$(grep -cxFf own-b listed-b)" -eq "$(wc -l <listed-b)" ]
	run -1 grep -xFf listed-b own-a
	run -1 grep -xFf listed-a own-b
	DOS_DIR=copy-a dos cat-object --batch <listed-a >a-clone
	dos cat-object --batch <listed-a >a-own
	cmp a-own a-clone
	DOS_DIR=copy-b dos cat-object --batch <listed-b >b-clone
	DOS_DIR=$other dos cat-object --batch <listed-b >b-own
	cmp b-own b-clone
	run -0 --separate-stderr dos fsck --remote --full
	[ -z "$output" ]
	run -0 --separate-stderr env DOS_DIR="$other" dos fsck --remote --full
	[ -z "$output" ]
}

@test "wrong credentials: clone fails naming the endpoint and the status; run again, it clones" {
	store_packed 30
	add_origin
	dos push -q
	AWS_SECRET_ACCESS_KEY=wrong run -128 --separate-stderr dos clone "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
	[[ "$stderr" == "dos-clone: fatal: unable to clone s3://$S3_BUCKET/$PREFIX into 'copy': GET $S3_ENDPOINT/$S3_BUCKET"*": HTTP 403"* ]]
	[ -z "$output" ]
	run -0 dos clone "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
	[[ "$output" == "cloned s3://$S3_BUCKET/$PREFIX into copy: "* ]]
	DOS_DIR=copy dos ls >cloned
	[ "$(wc -l <cloned)" -gt 20 ]
}

@test "a pushed pack that repack removed is not evicted: not fetched, counted or checked" {
	store_packed 60
	add_origin
	dos push -q
	dos ls -l >listed
	grep " packed 0:" listed | cut -d' ' -f1 >gone
	dos rm -q --stdin <gone
	run -0 dos repack
	[ "${#lines[@]}" -eq 1 ]
	[ ! -e "$DOS_DIR/packs/0" ]
	[ -e "$DOS_DIR/remotes/origin/0" ]
	run -0 dos remote fetch
	[ "$output" = "fetched 0 packs (0 bytes) from origin" ]
	[ ! -e "$DOS_DIR/packs/0" ]
	run -0 dos count-objects
	[[ "$output" != *"on remotes"* ]]
	run -0 --separate-stderr dos fsck --remote --full
	[ -z "$output" ]
	dos remote remove origin
}

@test "fsck --repair keeps the records of evicted packs" {
	store_packed 60
	add_origin
	dos push -q --evict
	dos cat-object --batch <ids >expected
	# a finding, so that the repair walks every record
	echo stray >"$DOS_DIR/loose/stray"
	run -16 --separate-stderr dos fsck
	[ "$output" = "bad-name loose/stray file" ]
	run -0 --separate-stderr dos fsck --repair
	[ -z "$output" ]
	[[ "$stderr" != *dropped-record* ]]
	dos cat-object --batch <ids >actual
	cmp expected actual
	run -0 --separate-stderr dos fsck --remote --full
	[ -z "$output" ]
}

# An object's pack, from the index.
pack_of() {
	dos cat-object --batch-check='%(pack)' <<<"$1"
}

@test "batch reads of evicted packs, fetched together, answer as local reads, in input order" {
	store_packed 200
	add_origin
	# shuffled, an id twice, a missing one and a prefix among them
	{ shuf --random-source=<(yes) ids; head -3 ids; echo "$EMPTY_OID"; head -1 ids | cut -c1-12; tail -5 ids; } >input
	dos cat-object --batch <input >expected
	dos cat-object --batch-all-objects --unordered --batch >expected-all
	dos push -q --evict
	[ "$(find "$DOS_DIR/packs" -name '[0-9]*' | wc -l)" -eq 1 ]
	dos cat-object --batch <input >actual
	cmp expected actual
	dos cat-object --batch --buffer <input >actual
	cmp expected actual
	dos cat-object --batch='%(objectname) %(objectsize) %(pack)' <input >actual
	[ "$(grep -c ' missing$' actual)" -eq 1 ]
	dos cat-object --batch-all-objects --unordered --batch >actual-all
	cmp expected-all actual-all
	# each line answered before the next is read, without --buffer
	coproc reader { dos cat-object --batch; }
	pid=$reader_PID
	for id in $(head -3 ids); do
		size=$(dos cat-object -s "$id")
		echo "$id" >&"${reader[1]}"
		read -r line <&"${reader[0]}"
		[ "$line" = "$id $size" ]
		head -c "$size" <&"${reader[0]}" >/dev/null
		read -r line <&"${reader[0]}"
	done
	exec {reader[1]}>&-
	wait "$pid"
}

@test "a pack deleted in the bucket: a batch reports its GET and status, after the objects before it" {
	store_packed 100
	add_origin
	dos push -q --evict
	first=$(head -1 ids)
	last=$(sed -n 50p ids)
	gone=$(pack_of "$last")
	[ "$(pack_of "$first")" != "$gone" ]
	[ ! -e "$DOS_DIR/packs/$gone" ]
	s3curl "$PREFIX/packs/$gone" -H "x-amz-content-sha256: $EMPTY_OID" -X DELETE
	{ echo "$first"; echo "$last"; echo "$first"; } >input
	st=0
	dos cat-object --batch <input >out 2>err || st=$?
	[ "$st" -eq 128 ]
	[ "$(cat err)" = "dos-cat-object: fatal: unable to read '$last': GET $S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/$gone: HTTP 404 NoSuchKey: The specified key does not exist." ]
	# the object before it, whole, and nothing of it
	dos cat-object --batch <<<"$first" >expected
	cmp expected out
}

@test "a full bucket: push fails naming the endpoint and the status, records and evicts nothing; with room, it completes" {
	store_packed 60
	nr=$(find "$DOS_DIR/packs" -name '[0-9]*' | wc -l)
	# a bucket of its own whose quota (Swift's container_quotas, set with
	# Swift's API) is smaller than a pack
	curl -sf -D auth -o /dev/null -H "X-Auth-User: $S3_ACCESS_KEY" \
	    -H "X-Auth-Key: $S3_SECRET_KEY" "$S3_ENDPOINT/auth/v1.0"
	tr -d '\r' <auth >auth.txt
	token=$(sed -n 's/^X-Auth-Token: //p' auth.txt)
	storage=$(sed -n 's/^X-Storage-Url: //p' auth.txt)
	bucket=full-$BATS_TEST_NUMBER-$$
	curl -sf -X PUT -H "X-Auth-Token: $token" -H "X-Container-Meta-Quota-Bytes: 10000" "$storage/$bucket"
	dos remote add full "s3://$bucket/$PREFIX" --endpoint "$S3_ENDPOINT"
	run -128 dos push --evict full
	[ "$output" = "dos-push: fatal: unable to push '$DOS_DIR' to full (s3://$bucket/$PREFIX): PUT $S3_ENDPOINT/$bucket/$PREFIX/packs/0: HTTP 400 EntityTooLarge: Upload exceeds quota." ]
	[ ! -e "$DOS_DIR/remotes/full" ]
	[ "$(find "$DOS_DIR/packs" -name '[0-9]*' | wc -l)" -eq "$nr" ]
	run -128 dos push full
	[ ! -e "$DOS_DIR/remotes/full" ]
	run -0 --separate-stderr dos fsck
	[ "$stderr" = "dos fsck: no problems found" ]
	# room again: the push completes, and only then are packs evicted
	curl -sf -X POST -H "X-Auth-Token: $token" -H "X-Remove-Container-Meta-Quota-Bytes: 1" "$storage/$bucket"
	run -0 dos push --evict full
	[[ "${lines[0]}" == "pushed $((nr - 1)) of $((nr - 1)) sealed packs ("*") to full" ]]
	[ "$(find "$DOS_DIR/remotes/full" -type f | wc -l)" -eq $((nr - 1)) ]
	[ "$(find "$DOS_DIR/packs" -name '[0-9]*' | wc -l)" -eq 1 ]
	dos cat-object --batch <ids >actual
	[ "$(grep -c '^[0-9a-f]\{64\} [0-9]*$' actual)" -eq 60 ]
}

@test "packs/ emptied: new packs never take the numbers of pushed ones, and push sees them" {
	store_packed 60
	add_origin
	dos push -q
	pushed=$(ls "$DOS_DIR/remotes/origin" | sort -n | tail -1)
	s3curl "$PREFIX/packs/0" -H "x-amz-content-sha256: $EMPTY_OID" -o before-0
	# every object gone, and every pack file with them
	dos rm --stdin <ids
	dos gc -q
	find "$DOS_DIR/packs" -name '[0-9]*' -delete
	mkdir data2
	for i in $(seq 1 60); do
		{ echo "new object $i"; head -c 3000 /dev/urandom | base64; } >"data2/$i"
	done
	seq 1 60 | sed 's|^|data2/|' | dos hash-object -w --to-pack --stdin-paths >ids2
	dos cat-object --batch-check='%(pack)' <ids2 >packs2
	[ "$(sort -n packs2 | head -1)" -gt "$pushed" ]
	run -0 dos push --evict
	[[ "${lines[0]}" == "pushed "*" to origin" ]]
	[ "${lines[0]}" != "origin is up to date"* ]
	dos cat-object --batch <ids2 >actual
	[ "$(grep -c '^[0-9a-f]\{64\} [0-9]*$' actual)" -eq 60 ]
	# the remote's pack 0 is the one pushed first
	s3curl "$PREFIX/packs/0" -H "x-amz-content-sha256: $EMPTY_OID" -o after-0
	cmp before-0 after-0
}

@test "push never writes over a remote pack of other bytes, and never takes it for its own" {
	store_packed 30
	add_origin
	dos push -q
	s3curl "$PREFIX/packs/0" -H "x-amz-content-sha256: $EMPTY_OID" -o before-0
	# another container, whose packs have the same numbers, on the same prefix
	export DOS_DIR=$BATS_TEST_TMPDIR/other
	dos init -q "$DOS_DIR"
	dos config pack_size_target 64k
	rm -r data
	store_packed 30
	add_origin
	run -128 dos push --evict
	[[ "$output" == "dos-push: fatal: unable to push '$DOS_DIR' to origin (s3://$S3_BUCKET/$PREFIX): $S3_ENDPOINT: packs/0 holds another pack, of $(stat -c %s before-0) bytes of SHA-256 '"*"': the pack of that number here ("*" bytes) is not pushed over it" ]]
	[ ! -e "$DOS_DIR/remotes/origin/0" ]
	[ -e "$DOS_DIR/packs/0" ]
	s3curl "$PREFIX/packs/0" -H "x-amz-content-sha256: $EMPTY_OID" -o after-0
	cmp before-0 after-0
	# a record of another pack under the number of one not pushed (as a
	# container from before new packs skipped pushed numbers may have):
	# not taken for this one
	export DOS_DIR=$BATS_TEST_TMPDIR/store
	last=$(find "$DOS_DIR/packs" -name '[0-9]*' -printf '%f\n' | sort -n | tail -1)
	seq 1 30 | sed 's|^|data/|' | dos hash-object -w --to-pack --stdin-paths >/dev/null
	[ -e "$DOS_DIR/packs/$((last + 1))" ]
	echo "1234 $EMPTY_OID 2" >"$DOS_DIR/remotes/origin/$last"
	run -0 dos push
	[[ "$output" == "pushed "*" to origin" ]]
	run -0 cut -d' ' -f1 "$DOS_DIR/remotes/origin/$last"
	[ "$output" = "$(stat -c %s "$DOS_DIR/packs/$last")" ]
}

# remote-cache/<sha256 of the pack of $1>.<block>, the block of it that holds
# offset 0 (each pack here is one block)
cached_block() {
	local pack
	pack=$(pack_of "$1")
	echo "$DOS_DIR/remote-cache/$(cut -d' ' -f2 "$DOS_DIR/remotes/origin/$pack").0"
}

# The bytes of the blocks in remote-cache/.
cache_bytes() {
	find "$DOS_DIR/remote-cache" -name '*.[0-9]*' -printf '%s\n' | awk '{ n += $1 } END { print n + 0 }'
}

@test "packs of group entries are pushed, evicted, read from the remote and cloned as the same objects" {
	json_objects 600 json
	ls json | sed 's|^|json/|' | dos hash-object -w --stdin-paths >ids
	dos pack -q
	dos gc --aggressive -q
	[ $(($(tag_of "$(head -1 ids)") & 0xf0)) = $((0xe0)) ]
	pack=$(dos cat-object --batch-check='%(pack)' <<<"$(head -1 ids)")
	dos cat-object --batch <ids >expected
	add_origin
	dos push -q --evict
	# Read from the remote: the pack of the groups is evicted.
	[ -e "$DOS_DIR/remotes/origin/$pack" ]
	[ ! -e "$DOS_DIR/packs/$pack" ]
	dos cat-object --batch --verify <ids >actual
	cmp expected actual
	dos clone -q "s3://$S3_BUCKET/$PREFIX" copy --endpoint "$S3_ENDPOINT"
	DOS_DIR=copy dos cat-object --batch --verify <ids >cloned
	cmp expected cloned
	run -0 --separate-stderr dos fsck --remote --full
	[ -z "$output" ]
}

@test "reads of evicted packs keep their blocks in remote-cache/: read again, no request is made" {
	store_packed 60
	add_origin
	dos cat-object --batch <ids >expected
	dos push -q --evict
	[ ! -e "$DOS_DIR/remote-cache" ]
	dos cat-object --batch <ids >actual
	cmp expected actual
	# every block is here now: wrong credentials would fail any GET
	AWS_SECRET_ACCESS_KEY=wrong dos cat-object --batch <ids >actual
	cmp expected actual
	first=$(head -1 ids)
	AWS_SECRET_ACCESS_KEY=wrong dos cat-object "$first" >one
	cmp "data/1" one
	AWS_SECRET_ACCESS_KEY=wrong dos cat-object --batch-all-objects --unordered --batch >actual-all
	[ "$(grep -c '^[0-9a-f]\{64\} [0-9]*$' actual-all)" -eq 60 ]
	bytes=$(cache_bytes)
	[ "$bytes" -gt 0 ]
	run -0 dos count-objects -v
	[ "${lines[-1]}" = "remote-cache: $(((bytes + 1023) / 1024))" ]
	# a pack not read yet: the cache cannot answer, the server says why
	rm -r "$DOS_DIR/remote-cache"
	AWS_SECRET_ACCESS_KEY=wrong run -128 dos cat-object "$first"
	[[ "$output" == "dos-cat-object: fatal: unable to read object '$first': GET $S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/"*": HTTP 403 SignatureDoesNotMatch"* ]]
	# with --cache-size=0, nothing is kept
	rm -r "$DOS_DIR/remote-cache"
	dos cat-object --cache-size=0 --batch <ids >actual
	cmp expected actual
	[ ! -e "$DOS_DIR/remote-cache" ]
}

@test "--cache-size and remote_cache_size bound remote-cache/; the least recently used blocks go" {
	store_packed 200
	add_origin
	dos push -q --evict
	nr=$(ls "$DOS_DIR/remotes/origin" | wc -l)
	[ "$nr" -ge 6 ]
	run -0 dos config remote_cache_size
	[ "$output" = auto ]
	# three blocks of about 64 KiB fit, not four
	dos cat-object --cache-size=200k --batch <ids >/dev/null
	[ "$(cache_bytes)" -le 204800 ]
	[ "$(cache_bytes)" -gt 0 ]
	# an object of each of packs 0 to 3, read in turn, the first again
	# before the fourth: the second and third go, the oldest
	dos cat-object --batch-check='%(objectname) %(pack)' <ids >packs
	awk '$2 < 4 && !seen[$2]++ { print $1 }' packs >firsts
	[ "$(wc -l <firsts)" -eq 4 ]
	rm -r "$DOS_DIR/remote-cache"
	for i in 1 2 3 1 4; do
		dos cat-object --cache-size=200k "$(sed -n "${i}p" firsts)" >/dev/null
	done
	[ -e "$(cached_block "$(sed -n 1p firsts)")" ]
	[ ! -e "$(cached_block "$(sed -n 2p firsts)")" ]
	[ ! -e "$(cached_block "$(sed -n 3p firsts)")" ]
	[ -e "$(cached_block "$(sed -n 4p firsts)")" ]
	# the setting, in config.json; the option wins over it
	dos config remote_cache_size 100k
	run -0 dos config remote_cache_size
	[ "$output" = 102400 ]
	dos cat-object --batch <ids >/dev/null
	[ "$(cache_bytes)" -le 102400 ]
	[ "$(cache_bytes)" -gt 0 ]
	dos cat-object --cache-size=1m --batch <ids >/dev/null
	[ "$(cache_bytes)" -gt 204800 ]
	[ "$(cache_bytes)" -le 1048576 ]
	dos config remote_cache_size auto
	run -0 dos config remote_cache_size
	[ "$output" = auto ]
	run -1 grep -c remote_cache_size "$DOS_DIR/config.json"
	run -129 dos cat-object --cache-size=-1 "$(head -1 ids)"
	[ "${lines[0]}" = "dos-cat-object: error: invalid --cache-size '-1': a number of bytes, with k, m or g for KiB, MiB or GiB" ]
}

@test "remote-cache/ shared by readers at once stays within its bound; a killed writer's leftovers go" {
	store_packed 200
	add_origin
	dos cat-object --batch <ids >expected
	dos push -q --evict
	for n in 1 2 3; do
		dos cat-object --cache-size=200k --batch <ids >"actual-$n" &
		eval "pid$n=\$!"
	done
	wait "$pid1"
	wait "$pid2"
	wait "$pid3"
	cmp expected actual-1
	cmp expected actual-2
	cmp expected actual-3
	[ "$(cache_bytes)" -le 204800 ]
	# as a reader killed mid-block leaves them: a temp file, a count high
	sleep 1000 &
	dead=$!
	kill -9 "$dead"
	wait "$dead" || true
	echo partial >"$DOS_DIR/remote-cache/tmp.$dead.0"
	echo 99999999 >"$DOS_DIR/remote-cache/ledger"
	rm -f "$(cached_block "$(head -1 ids)")"
	dos cat-object --cache-size=200k "$(head -1 ids)" >one
	cmp data/1 one
	[ ! -e "$DOS_DIR/remote-cache/tmp.$dead.0" ]
	[ "$(cat "$DOS_DIR/remote-cache/ledger")" -eq "$(cache_bytes)" ]
}

@test "a damaged or cut block in remote-cache/ is fetched again, never output" {
	store_packed 30
	first=$(head -1 ids)
	add_origin
	dos push -q --evict
	dos cat-object "$first" >one
	block=$(cached_block "$first")
	cp "$block" good
	chmod u+w "$block"
	printf '\x55' | dd of="$block" bs=1 seek=100 conv=notrunc status=none
	run -1 cmp -s good "$block"
	dos cat-object "$first" >again
	cmp one again
	cmp good "$block"
	# damaged, and the server cannot be asked: an error, not a byte
	chmod u+w "$block"
	printf '\x55' | dd of="$block" bs=1 seek=100 conv=notrunc status=none
	AWS_SECRET_ACCESS_KEY=wrong run -128 --separate-stderr dos cat-object "$first"
	[ -z "$output" ]
	[[ "$stderr" == "dos-cat-object: fatal: unable to read object '$first': GET $S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/"*": HTTP 403 SignatureDoesNotMatch"* ]]
	# cut short, as by a crash: the same
	head -c 1000 good >"$block"
	AWS_SECRET_ACCESS_KEY=wrong run -128 --separate-stderr dos cat-object --batch <<<"$first"
	[ -z "$output" ]
	dos cat-object --batch <<<"$first" >batch
	[ "$(head -1 batch)" = "$first $(stat -c %s data/1)" ]
	cmp good "$block"
}

# Last: it stops the server.
@test "the server stopped mid-read: reads fail naming the endpoint, never print a whole object" {
	head -c 20000000 /dev/urandom >big
	big=$(dos hash-object -w --to-pack big)
	store_packed 30
	add_origin
	dos push -q --evict
	[ ! -e "$DOS_DIR/packs/0" ]
	mkfifo pipe
	dos cat-object "$big" >pipe 2>err &
	pid=$!
	# the reader blocks on the full pipe, in the middle of the object
	exec 5<pipe
	sleep 0.5
	"$BATS_TEST_DIRNAME/s3/stop-s3" "$S3_DIR" 2>/dev/null
	cat <&5 >got
	exec 5<&-
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 128 ]
	[ "$(stat -c %s got)" -lt 20000000 ]
	[[ "$(cat err)" == *"GET $S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/0: Couldn't connect to server" ]]
	first=$(head -1 ids)
	run -128 --separate-stderr dos cat-object "$first"
	[ -z "$output" ]
	[[ "$stderr" == *"GET $S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/"*": Couldn't connect to server" ]]
	# a batch: every GET in flight fails, the first answer says why, at once
	run -128 --separate-stderr timeout 60 dos cat-object --batch <ids
	[ -z "$output" ]
	[[ "$stderr" == "dos-cat-object: fatal: unable to read '$first': GET $S3_ENDPOINT/$S3_BUCKET/$PREFIX/packs/"*": Couldn't connect to server" ]]
}
