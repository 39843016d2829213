#!/usr/bin/env bats
# Writers (loose and straight to packs), packers and readers at the same
# time: nothing acknowledged is lost, no reader ever sees wrong bytes.
load helper

# Files per writer.
FILES=250

# Make data/<writer>/<n>, one line each, of varied length.
make_writer_data() {
	local w=$1 i len pad
	mkdir -p data/$w
	for i in $(seq 1 $FILES); do
		len=$(((i * 97 + ${#w} * 13) % 3000))
		printf -v pad '%*s' "$len" ''
		printf '%s file %d %d%s\n' "$w" "$i" "$RANDOM" "${pad// /ab}" >data/$w/$i
	done
	seq 1 $FILES | sed "s|^|data/$w/|" >paths.$w
}

# Every id of ids.all was acknowledged, and --batch reads each back as
# recorded.  Leaves the ids in acked and all, their records in want.
all_acknowledged_intact() {
	acknowledged | sort -u >acked
	sort -u ids.all >all
	diff -u all acked
	expected_for acked >want
	dos cat-object --batch <acked >got
	cmp want got
}

# A writer: ids to out.<w> as acknowledged, exit status to rc.<w>.
writer() {
	local w=$1
	shift
	(
		set -o pipefail
		if feed paths.$w | timeout 60 dos hash-object -w "$@" --stdin-paths |
		    cat >out.$w; then
			echo 0 >rc.$w
		else
			echo $? >rc.$w
		fi
	) 3>&- &
}

# Read what is acknowledged until writers.done appears; any wrong byte,
# missing or corrupt object or failed read is recorded in fail.<r>.
reader() {
	local r=$1 n=0
	(
		while [ ! -e writers.done ] && [ $n -lt 1000 ]; do
			n=$((n + 1))
			acknowledged >snap.$r
			[ -s snap.$r ] || { sleep 0.02; continue; }
			if ! timeout 60 dos cat-object --batch <snap.$r >got.$r 2>err.$r; then
				echo "reader $r: cat-object failed: $(cat err.$r)" >>fail.$r
				continue
			fi
			expected_for snap.$r >want.$r
			if ! cmp -s want.$r got.$r; then
				echo "reader $r: wrong bytes in round $n" >>fail.$r
				cp got.$r bad-got.$r.$n
				cp want.$r bad-want.$r.$n
			fi
			echo "$(wc -l <snap.$r)" >>reads.$r
		done
	) 3>&- &
}

# Pack over and over until writers.done appears.
packer() {
	local k=$1 n=0
	shift
	(
		while [ ! -e writers.done ] && [ $n -lt 1000 ]; do
			n=$((n + 1))
			rc=0
			timeout 60 dos pack -q "$@" 2>err.pack.$k || rc=$?
			if [ $rc -eq 75 ] && [ "$*" = "--no-wait" ] &&
			    grep -qx 'dos-pack: error: pack lock held by pid [0-9]*\( (dos-[a-z-]*)\)\?' err.pack.$k; then
				echo busy >>packs.$k
			elif [ $rc -ne 0 ] || [ -s err.pack.$k ]; then
				echo "packer $k: exit $rc: $(cat err.pack.$k)" >>fail.pack.$k
			else
				echo ok >>packs.$k
			fi
			sleep 0.05
		done
	) 3>&- &
}

@test "loose writers, to-pack writers, packers and readers at the same time" {
	for w in loose1 loose2 loose3 loose4 topack1 topack2; do
		make_writer_data $w
		add_records paths.$w >>ids.all
	done
	# One large object (over 1 MiB, streamed) for each to-pack writer.
	for w in topack1 topack2; do
		{ printf 'big %s ' $w; head -c 1200000 /dev/zero | tr '\0' y; echo; } >data/$w/big
		echo data/$w/big >>paths.$w
		echo data/$w/big >big.$w
		add_records big.$w >>ids.all
	done
	# Some of the same content in two writers: dedup under concurrency.
	head -n 20 paths.loose1 >>paths.topack2
	head -n 20 paths.topack1 >>paths.loose3

	start=$SECONDS
	packer 1
	packer 2
	packer 3 --no-wait
	reader 1
	reader 2
	for w in loose1 loose2 loose3 loose4; do
		writer $w
	done
	writer topack1 --to-pack
	writer topack2 --to-pack
	# The writers are bounded by their timeout 60.
	while [ "$(ls rc.* 2>/dev/null | wc -l)" -lt 6 ] && [ $((SECONDS - start)) -lt 90 ]; do
		sleep 0.1
	done
	touch writers.done
	wait
	[ $((SECONDS - start)) -lt 90 ]

	# No process failed.
	for w in loose1 loose2 loose3 loose4 topack1 topack2; do
		[ "$(cat rc.$w)" = 0 ]
	done
	cat fail.* 2>/dev/null >failures || true
	[ ! -s failures ] || { cat failures; false; }
	# Everything was exercised: readers read, packers packed.
	[ -s reads.1 ]
	[ -s reads.2 ]
	[ "$(grep -c ok packs.1)" -ge 1 ]
	[ "$(grep -c ok packs.2)" -ge 1 ]

	# Every writer acknowledged every input, in order.
	for w in loose1 loose2 loose3 loose4 topack1 topack2; do
		xargs sha256sum <paths.$w | cut -d' ' -f1 >expect.$w
		diff -u expect.$w out.$w
	done
	# Every acknowledged object is intact, loose or packed.
	all_acknowledged_intact
	# A last pack leaves nothing loose, and everything still reads back.
	run -0 --separate-stderr timeout 60 dos pack -q
	[ -z "$(find "$DOS_DIR/loose" -type f)" ]
	dos cat-object --batch <acked >got
	cmp want got
	dos cat-object --batch-all-objects --batch-check='%(objectname)' >listed
	diff -u all listed
	dos cat-object --batch-all-objects --unordered --batch-check='%(objectname)' >listed
	sort -o listed listed
	diff -u all listed
	run -0 --separate-stderr dos cat-object --batch-all-objects --batch-check='%(storage)'
	[ "$(printf '%s\n' "$output" | sort -u)" = packed ]
}

@test "readers of packed objects while a packer appends and rolls packs" {
	rm -rf "$DOS_DIR"
	dos init -q --pack-size-target=64k "$DOS_DIR"
	for w in loose1 loose2; do
		make_writer_data $w
		add_records paths.$w >>ids.all
	done
	start=$SECONDS
	packer 1 --compress=never
	reader 1
	reader 2
	writer loose1
	writer loose2
	while [ "$(ls rc.* 2>/dev/null | wc -l)" -lt 2 ] && [ $((SECONDS - start)) -lt 90 ]; do
		sleep 0.1
	done
	touch writers.done
	wait
	[ "$(cat rc.loose1)" = 0 ]
	[ "$(cat rc.loose2)" = 0 ]
	cat fail.* 2>/dev/null >failures || true
	[ ! -s failures ] || { cat failures; false; }
	[ -s reads.1 ]
	[ -s reads.2 ]
	run -0 --separate-stderr timeout 60 dos pack -q
	# Several packs, and every object reads back.
	[ -e "$DOS_DIR/packs/1" ]
	all_acknowledged_intact
}

@test "a batch reader started before the first pack finds what is packed after" {
	printf 'hello\n' >hello
	id=$(dos hash-object -w hello)
	coproc CAT { dos cat-object --batch-check 2>&1; }
	# An absent object makes the reader look in the index, which does
	# not exist yet: nothing was ever packed.
	echo "$ABC_OID" >&"${CAT[1]}"
	cat_answers "$ABC_OID missing"
	[ ! -e "$DOS_DIR/index" ]
	dos pack -q
	[ ! -e "$(loose_path "$id")" ]
	# Names that arrive together are looked up together, then one alone.
	printf '%s\n%s\n' "$id" "$id" >&"${CAT[1]}"
	cat_answers "$id 6"
	cat_answers "$id 6"
	echo "$id" >&"${CAT[1]}"
	cat_answers "$id 6"
	cat_finish
}

@test "an index caught being created (objects.db, no packs.db yet) reads as empty" {
	# What a reader sees between the first pack writer's creation of
	# objects.db and of packs.db: made here by packing nothing, then
	# removing packs.db and the empty pack.
	dos pack -q
	rm "$DOS_DIR/index/packs.db" "$DOS_DIR/packs/0"
	run -0 --separate-stderr dos fsck
	[ "$output" = "" ]
	run -0 --separate-stderr dos cat-object --batch-check <<<"$ABC_OID"
	[ "$output" = "$ABC_OID missing" ]
	# The next writer completes the index.
	printf abc >abc
	dos hash-object -w --to-pack abc >/dev/null
	run -0 --separate-stderr dos cat-object --batch-check='%(objectname) %(storage)' <<<"$ABC_OID"
	[ "$output" = "$ABC_OID packed" ]
	run -0 dos fsck -q
}
