# crash.bash: the writing operations of the crash tests, each with a
# container made for it, and the checks that follow a crash.  Loaded by
# t/5000-crash.bats, t/5100-powerloss.bats, t/5300-ioerror.bats and the
# stress parts t/stress/crash and t/stress/powerloss; dos must be on PATH.
#
# A scenario lives in a work directory W: W/base is the container before
# the operation (W/legacy the source of a migration), W/c the copy the
# operation runs on, W/out and W/err its output, W/expect the ids that
# must be readable at every moment, W/final those that must be readable
# once the operation has completed, W/gone those that must stay deleted
# and W/targets those that must be deleted once it has completed.

CRASH_OPS="hash hash-batch hash-pack pack repack rm gc gc-aggressive migrate"
CRASH_FIXTURE="$(cd "$(dirname "${BASH_SOURCE[0]}")" &&
    pwd)/fixtures/legacy/15_edge_states"

# Findings of dos fsck that a killed writer may leave: none, as what it
# leaves (a tail of the newest pack that no commit covers, the newest pack
# cut short in its creation, its temp files) is a notice, no finding,
# since the next writer or dos gc cleans it.
CRASH_LEFTOVERS=""
# Steps whose failure is ignored: cleaning up a temp file or a pack tail
# that the next writer or dos gc cleans anyway.
CRASH_CLEANUP_POINTS="loose-temp-unlink pack-drop-truncate config-tmp-unlink"

# Small packs, so that writers roll over to new ones.
crash_init() {
	dos init -q --pack-size-target=256k "$1"
}

# Ids of files, one per line.
crash_ids() {
	local f
	for f in "$@"; do
		sha256sum <"$f" | cut -d' ' -f1
	done
}

# The input files: empty, small (base64, compressible a little), text
# (compressible), big (1.5 MiB random: streamed, stored raw) and big2
# (1.2 MiB text: streamed and compressed).
crash_files() {
	local i
	mkdir -p "$1"
	: >"$1/empty"
	for i in 1 2 3 4 5; do
		head -c $((i * 900)) /dev/urandom | base64 >"$1/small$i"
	done
	seq 1 40000 >"$1/text"
	head -c 1572864 /dev/urandom >"$1/big"
	seq 1000000 1170000 | head -c 1258291 >"$1/big2"
}

# crash_setup OP W: the scenario of OP in W.
crash_setup() {
	local op=$1 w=$2 f=$2/files
	rm -rf "$w"
	mkdir -p "$w"
	crash_files "$f"
	: >"$w/expect"
	: >"$w/gone"
	: >"$w/targets"
	if [ "$op" = migrate ]; then
		mkdir "$w/legacy"
		tar -xf "$CRASH_FIXTURE/container.tar" -C "$w/legacy"
		tail -n +2 "$CRASH_FIXTURE/manifest.tsv" | cut -f2 >"$w/final"
		return
	fi
	crash_init "$w/base"
	(
	export DOS_DIR="$w/base"
	case $op in
	hash)
		echo "$f/text" >"$w/list"
		;;
	hash-batch)
		dos hash-object -w "$f/small1" >"$w/expect"
		printf '%s\n' "$f/small1" "$f/small2" "$f/small3" "$f/empty" \
		    "$f/small4" "$f/small2" "$f/text" >"$w/list"
		;;
	hash-pack)
		dos hash-object -w "$f/small1" >"$w/expect"
		dos hash-object -w --to-pack "$f/small2" >>"$w/expect"
		printf '%s\n' "$f/small1" "$f/small2" "$f/small3" "$f/big" \
		    "$f/text" "$f/small4" "$f/big2" "$f/empty" >"$w/list"
		;;
	pack)
		dos hash-object -w --to-pack "$f/small1" >"$w/expect"
		dos hash-object -w "$f"/small[2-5] "$f/text" "$f/big" \
		    "$f/big2" "$f/empty" >>"$w/expect"
		;;
	repack)
		dos hash-object -w --to-pack "$f"/small[1-5] "$f/text" "$f/big" \
		    "$f/big2" "$f/empty" >/dev/null
		crash_ids "$f/small2" "$f/text" "$f/big" >"$w/gone"
		dos rm --stdin <"$w/gone"
		crash_ids "$f/small1" "$f"/small[3-5] "$f/big2" "$f/empty" \
		    >"$w/expect"
		;;
	rm)
		dos hash-object -w --to-pack "$f/small1" "$f/small2" \
		    "$f/text" >/dev/null
		dos hash-object -w "$f/small5" "$f/empty" >/dev/null
		dos pack -q --keep-loose
		dos hash-object -w "$f/small3" "$f/small4" "$f/big" >/dev/null
		# Packed, loose, both, packed, loose.
		crash_ids "$f/small1" "$f/small3" "$f/small5" "$f/text" \
		    "$f/big" >"$w/targets"
		cp "$w/targets" "$w/list"
		crash_ids "$f/small2" "$f/small4" "$f/empty" >"$w/expect"
		;;
	gc | gc-aggressive)
		dos hash-object -w --to-pack "$f/small1" "$f/small2" "$f/text" \
		    "$f/big" >/dev/null
		# Enough dead bytes for gc to repack.
		crash_ids "$f/small2" "$f/big" >"$w/gone"
		dos rm --stdin <"$w/gone"
		dos hash-object -w "$f/small3" "$f/small4" "$f/big2" >/dev/null
		crash_ids "$f/small1" "$f/text" "$f/small3" "$f/small4" \
		    "$f/big2" >"$w/expect"
		touch -d '2 days ago' "$w/base/sandbox/obj-1-0-0badf00d"
		;;
	esac
	)
	case $op in
	hash*)
		xargs -d '\n' sha256sum <"$w/list" | cut -d' ' -f1 |
		    cat - "$w/expect" | sort -u >"$w/final"
		;;
	*)
		cp "$w/expect" "$w/final"
		;;
	esac
}

# dos, or with CRASH_TIMEOUT set, dos killed with SIGKILL after that many
# seconds if it has not finished (kills by timing).
crash_dos() {
	if [ -n "${CRASH_TIMEOUT:-}" ]; then
		timeout -s KILL "$CRASH_TIMEOUT" dos "$@"
	else
		dos "$@"
	fi
}

# crash_command OP W: run OP on W/c.
crash_command() {
	case $1 in
	hash) crash_dos hash-object -w "$(cat "$2/list")" ;;
	hash-batch) crash_dos hash-object -w --stdin-paths <"$2/list" ;;
	hash-pack) crash_dos hash-object -w --to-pack --stdin-paths <"$2/list" ;;
	pack) crash_dos pack -q ;;
	repack) crash_dos repack -q ;;
	rm) crash_dos rm -v --ignore-missing --stdin <"$2/list" ;;
	gc) crash_dos gc -q ;;
	gc-aggressive) crash_dos gc -q --aggressive ;;
	migrate) crash_dos migrate -q "$2/legacy/container" "$2/c" ;;
	esac
}

# crash_run OP W [VAR=value...]: OP on W/c with those variables set, its
# stdout going to W/out through a pipe (so that ids are written as they
# are acknowledged), stderr to W/err; returns OP's status.
crash_run() {
	local op=$1 w=$2
	shift 2
	(
	export DOS_DIR="$w/c" "$@"
	crash_command "$op" "$w" 2>"$w/err" | cat >"$w/out"
	exit "${PIPESTATUS[0]}"
	)
}

# crash_reset OP W: W/c as it was before OP, nothing acknowledged yet.
crash_reset() {
	rm -rf "$2/c"
	[ "$1" = migrate ] || cp -a "$2/base" "$2/c"
	: >"$2/acked"
	: >"$2/removed"
}

# crash_points OP W: run OP once from its base, listing its fault points
# into W/points ("N before|after <point>"); prints how many there are.
crash_points() {
	local op=$1 w=$2
	crash_reset "$op" "$w"
	rm -f "$w/points"
	if ! crash_run "$op" "$w" DOS_FAULT_LOG="$w/points"; then
		echo "$op: failed without a fault:" >&2
		cat "$w/err" >&2
		return 1
	fi
	wc -l <"$w/points"
}

# crash_verify FILE: FILE holds a --batch stream of objects; hash each
# again and print the id of every one whose bytes hash to it, and "bad
# <line>" for the others; return 1 if there was any.  (head -c reads no
# more than it is asked for, and read gives back what it read too far.)
crash_verify() {
	local oid size rest nl bad=0
	while read -r oid size rest; do
		if [ -n "$rest" ] || [[ ! $size =~ ^[0-9]+$ ]]; then
			echo "bad $oid $size $rest"
			bad=1
			continue
		fi
		if [ "$(head -c "$size" | sha256sum | cut -d' ' -f1)" != "$oid" ] ||
		    ! IFS= read -r nl || [ -n "$nl" ]; then
			echo "bad $oid reads back wrong"
			return 1
		fi
		echo "$oid"
	done <"$1"
	return "$bad"
}

# Add what the last run of OP acknowledged to W/acked (ids stored, as
# printed by hash-object) and W/removed (ids removed, as printed by rm -v).
crash_acked() {
	case $1 in
	hash*) cut -c1-64 "$2/out" >>"$2/acked" ;;
	rm) sed -n 's/^removed //p' "$2/out" >>"$2/removed" ;;
	esac
}

# The findings of dos fsck on W/c other than the kinds allowed ($3).
crash_fsck_findings() {
	local w=$1 allowed=$2 kind rest status=0
	dos --dir="$w/c" fsck -q --jobs=1 >"$w/fsck" 2>"$w/fsck.err" || status=$?
	if [ "$status" -ge 64 ]; then
		echo "fsck could not run: $(cat "$w/fsck.err")"
		return
	fi
	while read -r kind rest; do
		case " $allowed " in
		*" $kind "*) ;;
		*) echo "$kind $rest" ;;
		esac
	done <"$w/fsck"
}

# crash_check OP W PHASE: the state of W/c after a crash (PHASE crash:
# acknowledged ids readable, removed ones gone, only leftovers) or after
# the operation completed (PHASE final, which repairs the leftovers and
# wants a clean fsck).  Prints every problem found; returns 1 if any.
crash_check() {
	local op=$1 w=$2 phase=$3 problems
	problems=$(
	set +e
	if [ "$op" = migrate ] && [ "$phase" = crash ] &&
	    [ ! -e "$w/c/config.json" ]; then
		exit 0	# killed before the destination was a container
	fi
	dos --dir="$w/c" cat-object --batch --batch-all-objects >"$w/batch" \
	    2>"$w/batch.err" ||
	    echo "cat-object failed: $(cat "$w/batch.err")"
	crash_verify "$w/batch" >"$w/good" || grep '^bad' "$w/good"
	sort -o "$w/good" "$w/good"
	if [ "$phase" = crash ]; then
		sort -u "$w/expect" "$w/acked" >"$w/need"
		sort -u "$w/gone" "$w/removed" >"$w/dead"
	else
		sort -u "$w/final" >"$w/need"
		sort -u "$w/gone" "$w/targets" >"$w/dead"
	fi
	comm -23 "$w/need" "$w/good" | sed 's/^/not readable: /'
	comm -12 "$w/dead" "$w/good" | sed 's/^/deleted but readable: /'
	if [ "$phase" = crash ]; then
		crash_fsck_findings "$w" "$CRASH_LEFTOVERS"
	else
		crash_fsck_findings "$w" ""
		if [ -s "$w/fsck" ]; then
			dos --dir="$w/c" fsck -q --repair >/dev/null 2>&1
			crash_fsck_findings "$w" ""
		fi
	fi
	)
	[ -z "$problems" ] && return 0
	printf '%s\n' "$problems" | sed "s/^/$op $phase: /" >&2
	return 1
}

# The point a fault spec (kill:N...) fell on, from the log of its run.
crash_point_name() {
	if [ -n "$2" ] && [ -e "$1" ]; then
		sed -n "${2##*:}p" "$1" | cut -d' ' -f2-
	fi
}

# crash_fault OP W SPEC: OP on W/c as it is with DOS_FAULT=SPEC (kill:N,
# powerloss:N, eio:N or enospc:N; "" for no fault, killed by timing with
# CRASH_TIMEOUT set), then the checks after a crash.  Returns 0 when OP
# crashed or failed as it should and the checks passed, 2 when it ran to
# completion without reaching the fault (a run after a crash has fewer
# points, and the pack writer's threads may make it roll over to a new
# pack at another moment), 1 after printing what went wrong.
crash_fault() {
	local op=$1 w=$2 spec=$3 status=0 point errno
	rm -f "$w/run-points"
	crash_run "$op" "$w" ${spec:+DOS_FAULT="$spec" \
	    DOS_FAULT_LOG="$w/run-points"} || status=$?
	point=$(crash_point_name "$w/run-points" "$spec")
	crash_acked "$op" "$w"
	case $status:$spec in
	0:*)
		[ -z "$point" ] ||
		    [[ $spec = e* && " $CRASH_CLEANUP_POINTS " = *" ${point#* } "* ]] ||
		    { echo "$op $spec ($point): exit 0" >&2; return 1; }
		[ -n "$point" ] || return 2
		;;
	137:kill:* | 137:powerloss:* | 137:)
		;;
	1:e* | 128:e*)
		errno="Input/output error"
		[ "${spec%%:*}" = enospc ] && errno="No space left on device"
		if ! grep -q "^dos-[a-z-]*: [a-z]*: .*$errno" "$w/err"; then
			echo "$op $spec ($point): no '$errno' message:" \
			    "$(cat "$w/err")" >&2
			return 1
		fi
		;;
	*)
		echo "$op $spec ($point): exit $status: $(cat "$w/err")" >&2
		return 1
		;;
	esac
	crash_check "$op" "$w" crash
}

# crash_finish OP W: OP again without a fault, then the final checks.
crash_finish() {
	if ! crash_run "$1" "$2"; then
		echo "$1: the next run failed: $(cat "$2/err")" >&2
		return 1
	fi
	crash_acked "$1" "$2"
	crash_check "$1" "$2" final
}

# crash_try OP W SPEC: OP from its base with DOS_FAULT=SPEC, the checks
# after the crash, OP again and the final checks.
crash_try() {
	local rc=0
	crash_reset "$1" "$2"
	crash_fault "$1" "$2" "$3" || rc=$?
	[ "$rc" -eq 1 ] && return 1
	crash_finish "$1" "$2"
}

# crash_sample N MAX: the numbers 1..N, or MAX of them spread evenly.
crash_sample() {
	local n=$1 max=$2 i
	if [ "$n" -le "$max" ]; then
		seq 1 "$n"
		return
	fi
	for ((i = 0; i < max; i++)); do
		echo $((1 + i * (n - 1) / (max - 1)))
	done
}

# crash_tries OP W MODE SAMPLE: the scenario of OP in W with the fault
# MODE (kill, powerloss, eio or enospc) at SAMPLE of its points, spread
# evenly; stops at the first failure.
crash_tries() {
	local op=$1 w=$2 mode=$3 n i
	crash_setup "$op" "$w"
	n=$(crash_points "$op" "$w") || return 1
	if [ "$n" -lt 10 ]; then
		echo "$op: only $n fault points" >&2
		return 1
	fi
	for i in $(crash_sample "$n" "$4"); do
		crash_try "$op" "$w" "$mode:$i" || return 1
	done
}

# crash_chain OP W SPEC MODE USEC: from OP's base, OP with the fault SPEC
# and up to two runs more that MODE crashes too (at a random point of
# those W/points lists, or with kill also after a random part of the
# USEC microseconds a run takes), then OP to completion.  Counts the
# crashes in CRASH_TRIED; returns 1 if anything failed.
crash_chain() {
	local op=$1 w=$2 spec=$3 mode=$4 usec=$5 n rc left delay
	n=$(wc -l <"$w/points")
	crash_reset "$op" "$w"
	for left in 2 1 0; do
		rc=0
		if [ "$spec" = timed ]; then
			delay=$((RANDOM * usec / 32768))
			CRASH_TIMEOUT=$(printf '%d.%06d' $((delay / 1000000)) \
			    $((delay % 1000000))) crash_fault "$op" "$w" "" || rc=$?
		else
			crash_fault "$op" "$w" "$spec" || rc=$?
		fi
		[ "$rc" -eq 2 ] && break
		CRASH_TRIED=$((CRASH_TRIED + 1))
		[ "$rc" -eq 0 ] || return 1
		[ "$left" -gt 0 ] || break
		spec=$mode:$((1 + RANDOM % n))
		if [ "$mode" = kill ] && [ $((RANDOM % 2)) -eq 0 ]; then
			spec=timed
		fi
	done
	crash_finish "$op" "$w"
}

# crash_stress BUILD MODE LABEL: a stress part, with the programs of
# BUILD, for STRESS_SECONDS (default 300).  Round after round, with new
# input files each round, a chain of crashes (crash_chain) starts at each
# point of each operation, in a random order over all of them.  Prints
# "LABEL: N tried, M failed" last, N counting crashes; returns 1 if
# anything failed, keeping the work directory.
crash_stress() {
	local mode=$2 label=$3 deadline failed=0 work op job jobs n t0
	local -A usec
	export PATH="$(cd "$1" && pwd):$PATH" DOS_EXEC_PATH="$(cd "$1" && pwd)"
	unset DOS_DIR
	CRASH_TRIED=0
	deadline=$((SECONDS + ${STRESS_SECONDS:-300}))
	work=$(mktemp -d "${TMPDIR:-/tmp}/dos-stress-$mode.XXXXXX")
	while [ "$SECONDS" -lt "$deadline" ]; do
		jobs=
		for op in $CRASH_OPS; do
			crash_setup "$op" "$work/$op"
			t0=${EPOCHREALTIME/./}
			if ! n=$(crash_points "$op" "$work/$op"); then
				failed=$((failed + 1))
				continue
			fi
			usec[$op]=$((${EPOCHREALTIME/./} - t0))
			jobs="$jobs $(seq -f "$op:%g" 1 "$n")"
		done
		for job in $(printf '%s\n' $jobs | shuf); do
			[ "$SECONDS" -lt "$deadline" ] || break
			op=${job%:*}
			if ! crash_chain "$op" "$work/$op" "$mode:${job#*:}" "$mode" \
			    "${usec[$op]}"; then
				failed=$((failed + 1))
				cp -a "$work/$op" "$work/failed-$failed-$op"
			fi
		done
		echo "$label so far: $CRASH_TRIED tried, $failed failed"
	done
	[ "$failed" -eq 0 ] && rm -rf "$work"
	[ "$failed" -eq 0 ] || echo "what failed is kept in $work" >&2
	echo "$label: $CRASH_TRIED tried, $failed failed"
	[ "$failed" -eq 0 ]
}
