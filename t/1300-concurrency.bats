#!/usr/bin/env bats
# Several writers at once: the same and different objects, every object
# intact afterwards, no temp file left behind.
load helper

# Every loose file re-hashes to its name, is read-only, and nothing else
# is in loose/ or sandbox/.  Prints the ids found, sorted.
check_store() {
	local bad
	[ -z "$(find "$DOS_DIR/sandbox" -mindepth 1)" ] || { echo "sandbox not empty" >&2; return 1; }
	[ -z "$(find "$DOS_DIR/loose" -mindepth 1 ! -type f ! -type d)" ] || return 1
	[ -z "$(find "$DOS_DIR/loose" -type f ! -perm 444)" ] || { echo "writable object" >&2; return 1; }
	(cd "$DOS_DIR/loose" && find . -type f | sed 's,^\./,,' | sort | xargs -r sha256sum) >sums
	bad=$(awk '{ name = $2; gsub("/", "", name); if (name != $1) print $2 }' sums)
	[ -z "$bad" ] || { echo "damaged: $bad" >&2; return 1; }
	cut -d' ' -f1 sums | sort
}

@test "8 writers over overlapping file sets: all exit 0, every object intact" {
	mkdir files
	# 400 files; every seventh has the content of another, so the same
	# object also arrives under different names.
	for i in $(seq 1 400); do
		printf 'object %d\n%0*d\n' "$((i % 7 == 0 ? i / 7 : i))" "$((i % 50 * 20))" 0 >"files/$i"
	done
	# Writer k takes 200 files starting at 50k (wrapping), half of them
	# in reverse order, so the sets overlap and collide in both orders.
	for k in $(seq 0 7); do
		for j in $(seq 0 199); do
			echo "files/$(((50 * k + j) % 400 + 1))"
		done >"list$k"
		if [ $((k % 2)) -eq 1 ]; then
			tac "list$k" >tmp
			mv tmp "list$k"
		fi
	done
	pids=()
	for k in $(seq 0 7); do
		dos hash-object -w --stdin-paths <"list$k" >"out$k" 2>"err$k" &
		pids+=($!)
	done
	for k in $(seq 0 7); do
		rc=0
		wait "${pids[k]}" || rc=$?
		[ "$rc" -eq 0 ] || { echo "writer $k exited $rc: $(cat "err$k")"; false; }
		[ ! -s "err$k" ]
		# Each writer printed the right id for each of its inputs, in order.
		xargs sha256sum <"list$k" | cut -d' ' -f1 >"expect$k"
		diff -u "expect$k" "out$k"
	done
	check_store >stored
	(cd files && sha256sum -- *) | cut -d' ' -f1 | sort -u >expect
	diff -u expect stored
	[ "$(wc -l <stored)" -gt 300 ]
	# And dos reads every one back, verified.
	run -0 --separate-stderr dos cat-object --batch-all-objects --batch-check='%(objectname)'
	printf '%s\n' "$output" | diff -u expect -
	dos cat-object --batch --batch-all-objects >/dev/null
}

@test "8 writers storing the same objects at the same moment" {
	head -c 2000000 /dev/urandom >big
	printf abc >abc
	: >empty
	big=$(sha256_of big)
	for i in $(seq 1 50); do echo "small $i" >"s$i"; done
	printf '%s\n' big abc empty s[0-9]* >list
	xargs sha256sum <list | cut -d' ' -f1 >expect
	pids=()
	for k in $(seq 0 7); do
		dos hash-object -w --stdin-paths <list >"out$k" 2>"err$k" &
		pids+=($!)
	done
	for k in $(seq 0 7); do
		rc=0
		wait "${pids[k]}" || rc=$?
		[ "$rc" -eq 0 ]
		[ ! -s "err$k" ]
		diff -u expect "out$k"
	done
	check_store >stored
	sort -u expect | diff -u - stored
	cmp big "$(loose_path "$big")"
}

@test "writers and readers at once: readers never see a partial object" {
	mkdir files
	for i in $(seq 1 100); do
		head -c $((i * 3000)) /dev/zero | tr '\0' "$(printf '\\%03o' $((i % 200 + 32)))" >"files/$i"
	done
	(cd files && sha256sum -- *) | cut -d' ' -f1 >ids
	pids=()
	for k in 0 1 2 3; do
		ls -d files/* | dos hash-object -w --stdin-paths >/dev/null 2>"werr$k" &
		pids+=($!)
	done
	# Readers ask for every id while the writers run: each answer is a
	# complete, verified object or 'missing', never corrupt.
	for k in 0 1 2 3; do
		dos cat-object --batch <ids >"read$k" 2>"rerr$k" &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "$pid"
	done
	for k in 0 1 2 3; do
		[ ! -s "werr$k" ]
		[ ! -s "rerr$k" ]
		[ "$(grep -c ' corrupt$' "read$k")" -eq 0 ]
	done
	check_store >stored
	sort ids | diff -u - stored
}
