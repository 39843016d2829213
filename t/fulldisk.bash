# Full-disk cases, for t/5700-fulldisk.bats and t/stress/fulldisk (which
# source t/helper.bash first): a write path of dos run on a small file
# system that a filler file has filled up, leaving a chosen number of KiB.
#
# A case (fd_case) checks that the command either completes or fails with
# the status its manual gives for an I/O error (128) and "No space left on
# device" on stderr; that every id it printed reads back byte for byte and
# no input object reads back wrong (each is intact or missing); that fsck
# finds nothing, or only leftovers that fsck --repair or the next writer
# clean (stale-temp, torn-tail); and that once the filler is deleted the
# same command completes and fsck is clean.  Problems go to stdout, one a
# line; the status is 1 if there was one.

# The file systems cases run on.
FD_FILESYSTEMS="tmpfs ext4"
# Their size, in MiB: room for the index (about 68 MiB, most of it the
# cache's and the lock table's, see "THE INDEX" in dos-container(5)) and
# the data.
FD_MIB=128
# The operations, each fd_op_<name> below.
FD_OPS="init loose loose-paths to-pack pack repack migrate index"

# Why small file systems cannot be mounted here, or nothing if they can.
fd_cannot_mount() {
	local dir err
	dir=$(mktemp -d) || return 0
	if ! err=$(mount -t tmpfs -o size=1m tmpfs "$dir" 2>&1); then
		rmdir "$dir"
		echo "cannot mount a tmpfs (tests run as root in CI): ${err:-mount failed}"
		return 0
	fi
	umount "$dir"
	rmdir "$dir"
	if ! command -v mkfs.ext4 >/dev/null || ! command -v losetup >/dev/null; then
		echo "mkfs.ext4 or losetup missing (packages e2fsprogs and mount)"
	fi
}

# Mount a new file system of type $1 (tmpfs or ext4) on ./mnt.
fd_mount() {
	mkdir -p mnt
	case $1 in
	tmpfs)
		mount -t tmpfs -o "size=${FD_MIB}m" tmpfs mnt
		;;
	ext4)
		# No blocks reserved for root: full is full, for root too.
		rm -f mnt.img
		truncate -s "${FD_MIB}M" mnt.img &&
		    mkfs.ext4 -q -F -m 0 mnt.img &&
		    mount -o loop mnt.img mnt
		;;
	esac
}

fd_umount() {
	if mountpoint -q mnt; then
		umount mnt 2>/dev/null || umount -l mnt
	fi
	rm -f mnt.img
}

# Fill the file system up, then give back $1 KiB.
fd_fill() {
	# dd ends on ENOSPC, which is the point.
	dd if=/dev/zero of=mnt/filler bs=64k 2>/dev/null || true
	sync -f mnt
	truncate -s "-${1}K" mnt/filler
	sync -f mnt
}

# Free KiB on the file system.
fd_free() {
	df -k --output=avail mnt | tail -n 1 | tr -d ' '
}

# Input files in data/, listed in data.list, their records (see
# add_records) made and their ids in data.ids: 40 of 8 KiB of varied
# compressibility and, with $1, one of 1.5 MiB (streamed when packed).
fd_make_data() {
	local i
	mkdir -p data
	for i in $(seq 1 40); do
		if [ $((i % 2)) -eq 0 ]; then
			head -c 8192 /dev/urandom >"data/$i"
		else
			{ echo "file $i"; seq 1 1600; } | head -c 8192 >"data/$i"
		fi
	done
	[ -z "${1-}" ] || head -c 1572864 /dev/urandom >data/big
	ls -d data/* >data.list
	add_records data.list >data.ids
}

# $1 objects of a few bytes in tiny/, listed in tiny.list, whose records
# and log fill the index about as fast as their entries fill the pack.
fd_make_tiny() {
	local i
	mkdir -p tiny
	for i in $(seq 1 "$1"); do
		echo "$i" >"tiny/$i"
	done
	ls -d tiny/* >tiny.list
	add_records tiny.list >tiny.ids
}

# The records of the legacy fixture's objects, from a migration onto a
# disk with room; their ids in legacy.ids.
fd_make_legacy() {
	local id
	mkdir -p legacy
	tar -xf "$FD_FIXTURES/15_edge_states/container.tar" -C legacy
	dos migrate -q legacy/container reference >/dev/null
	dos --dir=reference cat-object --batch-all-objects --batch-check='%(objectname)' >legacy.ids
	mkdir -p records
	while read -r id; do
		{
			dos --dir=reference cat-object --batch-check <<<"$id"
			dos --dir=reference cat-object "$id"
			echo
		} >"records/$id"
	done <legacy.ids
}

# The operations.  fd_prep_<op> makes the container (before the disk is
# filled), fd_op_<op> runs the command (stdout and stderr as given), and
# fd_ids_<op> lists the ids of every object it may store.
fd_prep_init() { :; }
fd_op_init() { dos init -q mnt/store; }
fd_ids_init() { :; }

fd_prep_loose() { dos init -q mnt/store; }
fd_op_loose() { dos hash-object -w data/big; }
fd_ids_loose() { tail -n 1 data.ids; }

fd_prep_loose_paths() { dos init -q mnt/store; }
fd_op_loose_paths() { dos hash-object -w --stdin-paths <data.list; }
fd_ids_loose_paths() { cat data.ids; }

fd_prep_to_pack() { dos init -q mnt/store; }
fd_op_to_pack() { dos hash-object -w --to-pack --stdin-paths <data.list; }
fd_ids_to_pack() { cat data.ids; }

fd_prep_pack() {
	dos init -q mnt/store
	dos hash-object -w --stdin-paths <data.list >/dev/null
}
fd_op_pack() { dos pack -q; }
fd_ids_pack() { cat data.ids; }

# Half the objects removed from the packs, so that repack rewrites them.
fd_prep_repack() {
	dos init -q mnt/store
	dos hash-object -w --to-pack --stdin-paths <data.list >/dev/null
	sed -n '1~2p' data.ids | dos rm --stdin
}
fd_op_repack() { dos repack -q --threshold=0; }
fd_ids_repack() { sed -n '2~2p' data.ids; }

# The index growing: tiny objects straight to a pack, committed 100 at a
# time, in a container whose index exists already.
fd_prep_index() {
	dos init -q mnt/store
	dos hash-object -w --to-pack data/1 >/dev/null
}
fd_op_index() { feed tiny.list 100 | dos hash-object -w --to-pack --stdin-paths; }
fd_ids_index() { cat tiny.ids; }

fd_prep_migrate() { :; }
fd_op_migrate() { dos migrate -q legacy/container mnt/store; }
fd_ids_migrate() { cat legacy.ids; }

# The KiB operation $1 takes on file system $2 when there is room: what
# it uses, or for a repack, which gives space back, the size of the packs
# it rewrites.
fd_need() {
	local op=${1//-/_} before need
	fd_mount "$2" || return 1
	export DOS_DIR="$PWD/mnt/store"
	"fd_prep_$op"
	sync -f mnt
	before=$(fd_free)
	"fd_op_$op" >/dev/null 2>&1
	sync -f mnt
	need=$((before - $(fd_free)))
	[ "$need" -gt 0 ] || need=$(du -sk mnt/store/packs | cut -f1)
	echo "$need"
	fd_umount
}

# One case: operation $1 on file system $2 with $3 KiB left.  Run in a
# directory with the inputs (fd_make_data big, fd_make_legacy).
fd_case() {
	local op=${1//-/_} fs=$2 kib=$3 rc=0 problems=0 what="$1 on $2 with $3 KiB free"
	export DOS_DIR="$PWD/mnt/store"

	problem() {
		echo "$what: $*"
		problems=$((problems + 1))
	}

	fd_mount "$fs" || { echo "$what: cannot mount"; return 1; }
	"fd_prep_$op" || problem "preparing failed"
	fd_fill "$kib"
	"fd_ids_$op" >case.ids
	"fd_op_$op" >case.out 2>case.err || rc=$?
	fd_check_outcome "$rc" >case.problems
	while read -r line; do problem "$line"; done <case.problems
	rm mnt/filler
	if [ "$rc" -ne 0 ]; then
		rc=0
		"fd_op_$op" >case.out 2>case.err || rc=$?
		[ "$rc" -eq 0 ] ||
		    problem "once space was freed: exit $rc: $(head -c 300 case.err)"
		fd_check_outcome "$rc" >case.problems
		while read -r line; do
			problem "once space was freed: $line"
		done <case.problems
	fi
	fd_umount
	[ "$problems" -eq 0 ]
}

# The checks after one run of an operation that exited $1: problems on
# stdout.  A run that exited 0 must leave every object stored and fsck
# clean; one that failed only what is described above.
fd_check_outcome() {
	local rc=$1 got
	if [ "$rc" -ne 0 ]; then
		[ "$rc" -eq 128 ] || echo "exit $rc, not 128: $(head -c 300 case.err)"
		grep -q 'No space left on device' case.err ||
		    echo "stderr does not say 'No space left on device': $(head -c 300 case.err)"
		! grep -q "could not read '" case.err ||
		    echo "stderr blames an input: $(head -c 300 case.err)"
	fi
	[ -e mnt/store/config.json ] || return 0
	# Every input reads back exactly or is missing; after a success none
	# is missing, and every id printed is an input's and reads back.
	dos cat-object --batch-check <case.ids >check 2>read.err ||
	    echo "cat-object --batch-check: exit $? $(head -c 300 read.err)"
	sed -n 's/ missing$//p' check >missing.ids
	grep -v ' missing$' check | cut -d' ' -f1 >present.ids
	expected_for present.ids >want
	dos cat-object --batch <present.ids >got 2>read.err ||
	    echo "cat-object --batch: exit $? $(head -c 300 read.err)"
	cmp -s want got || echo "objects do not read back exactly"
	[ "$rc" -ne 0 ] || [ ! -s missing.ids ] ||
	    echo "$(wc -l <missing.ids) objects missing after a success"
	grep -vxF -f present.ids case.out >lost.ids || true
	[ ! -s lost.ids ] ||
	    echo "$(wc -l <lost.ids) ids printed do not read back, such as $(head -n 1 lost.ids)"
	# fsck: clean, or after a failure only leftovers that are cleaned.
	got=0
	dos fsck -q >fsck.out 2>&1 || got=$?
	if [ "$rc" -eq 0 ] && [ "$got" -ne 0 ]; then
		echo "fsck after a success: exit $got: $(head -c 300 fsck.out | tr '\n' ' ')"
	elif [ "$got" -ne 0 ] && grep -qv '^\(stale-temp\|torn-tail\) ' fsck.out; then
		echo "fsck: exit $got: $(head -c 300 fsck.out | tr '\n' ' ')"
	fi
}
