#!/usr/bin/env python3
"""The Python section of make bench: dos.Container next to the legacy
disk_objectstore.Container, on the same machine and the same data.

usage: python.py --scratch DIR --out OUT.md [--legacy SRC] [--n N]
                 [--big-mib M] [--reps R]

SRC is a folder holding the legacy package disk_objectstore (extracted
by python/legacy/extract); without it, or if it cannot be imported, the
legacy column holds the figures of ../shared/docs/legacy-bench.md,
measured earlier on a machine of this kind.  dos is imported from the
python/ folder of this repository (make python builds it).

Every figure runs in a fresh interpreter per package, on N objects of
1-4 KiB (half random bytes, half words, from a fixed seed) written by
add_objects_to_pack into a fresh container per run, and one object of
M MiB of random bytes, written to a pack and read back through a stream
in 1 MiB reads by a fresh interpreter per run, whose peak RSS above what
it held before the stream was opened is the stream's memory.  Each
figure is the median of R timed runs after an untimed warm-up.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DOS_PATH = os.path.join(os.path.dirname(HERE), 'python')

# Legacy figures measured earlier (legacy-bench.md: 20,000 objects of
# 1-4 KiB, one 256 MiB object), used when legacy cannot run here.
LEGACY_CONST = {
    'add': 46354,
    'content': 110430,
    'streams': 128518,
    'has': 165225,
    'validate': 116352,
    'big': 15973,
}

# key, operation, unit, target ratio against legacy (None: an absolute
# target, checked in rows())
ROWS = [
    ('add', 'add_objects_to_pack, fresh container (dos: durable)', 'obj/s', 2),
    ('content', 'get_objects_content, packed', 'obj/s', 3),
    ('streams', 'get_objects_stream_and_meta + read(), packed', 'obj/s', 3),
    ('has', 'has_objects', 'obj/s', 3),
    ('validate', 'validate, packed', 'obj/s', 2),
    ('big', 'get_object_stream of the big object, packed, 1 MiB reads', 'MB/s', None),
]
BIG_MBS = 1000          # target for the big stream, MB/s
BIG_RSS_MIB = 32        # and its memory above the interpreter


def small_objects(n):
    """n contents of 1-4 KiB, half random bytes, half words, from a fixed
    seed: the same on every run and for both packages."""
    rng = random.Random(17)
    words = [bytes(rng.choice(b'abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 9)))
             for _ in range(2000)]
    out = []
    for i in range(n):
        size = rng.randint(1024, 4096)
        if i % 2:
            data = rng.randbytes(size)
        else:
            parts, total = [], 0
            while total < size:
                w = rng.choice(words)
                parts.append(w)
                total += len(w) + 1
            data = b' '.join(parts)[:size]
        # A counter in front: every content distinct.
        out.append(b'%d ' % i + data)
    return out


def load(pkg):
    """The Container class of pkg ('dos' or 'legacy')."""
    if pkg == 'dos':
        from dos import Container  # pylint: disable=import-outside-toplevel
    else:
        from disk_objectstore import Container  # pylint: disable=import-outside-toplevel
    return Container


def timed(fn):
    """[wall seconds, CPU seconds of the process, all threads]"""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return [time.perf_counter() - t0, time.process_time() - c0]


def worker_small(pkg, scratch, n, reps):
    """Times of every small-object figure: {key: [[wall, CPU] of run 1..R]}."""
    Container = load(pkg)
    contents = small_objects(n)
    times = {key: [] for key in ('add', 'content', 'streams', 'has', 'validate')}
    container = None
    for run in range(reps + 1):
        if container is not None:
            container.close()
        container = Container(os.path.join(scratch, f'{pkg}-small-{run}'))
        container.init_container(clear=True)
        keys = []
        t = timed(lambda: keys.extend(container.add_objects_to_pack(contents)))
        if run:
            times['add'].append(t)
    got = container.get_objects_content(keys)
    if len(got) != len(set(keys)) or any(got[k] != c for k, c in zip(keys, contents)):
        raise SystemExit(f'{pkg}: get_objects_content returned other bytes')

    def streams():
        with container.get_objects_stream_and_meta(keys) as triplets:
            for _, stream, _ in triplets:
                stream.read()

    def validate():
        issues = container.validate()
        if any(getattr(issues, f) for f in ('invalid_hashes_loose', 'invalid_hashes_packed',
                                            'invalid_sizes_packed')):
            raise SystemExit(f'{pkg}: validate found problems: {issues}')

    def has():
        if not all(container.has_objects(keys)):
            raise SystemExit(f'{pkg}: has_objects misses objects')

    figures = [('content', lambda: container.get_objects_content(keys)), ('streams', streams),
               ('has', has), ('validate', validate)]
    for key, fn in figures:
        for run in range(reps + 1):
            t = timed(fn)
            if run:
                times[key].append(t)
    container.close()
    return times


def worker_big_write(pkg, scratch, path):
    """Write the big object to a pack of a fresh container; its key."""
    Container = load(pkg)
    container = Container(os.path.join(scratch, f'{pkg}-big'))
    container.init_container(clear=True)
    with open(path, 'rb') as stream:
        key = container.add_streamed_object_to_pack(stream)
    container.close()
    return key


def vm_kib(field):
    with open('/proc/self/status', encoding='ascii') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


def worker_big_read(pkg, scratch, key):
    """[[wall, CPU] seconds, bytes read, peak RSS KiB above the RSS before
    the stream]."""
    Container = load(pkg)
    container = Container(os.path.join(scratch, f'{pkg}-big'))
    container.get_object_meta(key)  # opened, as a program would have it
    before = vm_kib('VmRSS')
    total = 0

    def read():
        nonlocal total
        with container.get_object_stream(key) as stream:
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)

    t = timed(read)
    peak = vm_kib('VmHWM') - before
    container.close()
    return [t, total, peak]


def run_worker(pkg, legacy, *args):
    """Run this file as a worker for pkg in a fresh interpreter; what it
    prints (JSON)."""
    env = dict(os.environ)
    env['PYTHONPATH'] = DOS_PATH if pkg == 'dos' else legacy
    cmd = [sys.executable, os.path.abspath(__file__), '--worker', pkg] + [str(a) for a in args]
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True).stdout
    return json.loads(out)


def legacy_usable(legacy):
    if not legacy:
        return 'no legacy source given'
    probe = subprocess.run([sys.executable, '-c', 'import disk_objectstore'],
                           env=dict(os.environ, PYTHONPATH=legacy),
                           stderr=subprocess.PIPE, check=False)
    if probe.returncode:
        return 'cannot import disk_objectstore: ' + probe.stderr.decode().strip().splitlines()[-1]
    return None


def rate(quantity, times):
    """(median, min, max) rate of quantity over wall times, and the median
    rate over CPU times."""
    walls = [quantity / wall for wall, _ in times]
    cpus = [quantity / max(cpu, 1e-9) for _, cpu in times]
    return (statistics.median(walls), min(walls), max(walls)), statistics.median(cpus)


def measure(pkg, legacy, args, big_path):
    """{key: ((median rate, min, max), CPU rate)}, and the stream's peak
    RSS MiB."""
    n = args.n
    times = run_worker(pkg, legacy, 'small', args.scratch, n, args.reps)
    rates = {key: rate(n, ts) for key, ts in times.items()}
    key = run_worker(pkg, legacy, 'big-write', args.scratch, big_path)
    reads = [run_worker(pkg, legacy, 'big-read', args.scratch, key) for _ in range(args.reps + 1)][1:]
    if any(size != args.big_mib << 20 for _, size, _ in reads):
        raise SystemExit(f'{pkg}: the big stream did not give {args.big_mib} MiB')
    rates['big'] = rate((args.big_mib << 20) / 1e6, [t for t, _, _ in reads])
    return rates, max(peak for _, _, peak in reads) / 1024


def fmt(rate):
    med, lo, hi = rate
    return f'{med:,.0f} ({lo:,.0f}-{hi:,.0f})'


def report(args, dos, dos_rss, legacy, legacy_rss, why_not):
    out = ['## Python: dos.Container against the legacy disk_objectstore.Container', '']
    if why_not:
        out.append(f'- legacy: figures of legacy-bench.md, measured earlier (constant): {why_not}')
    else:
        out.append('- legacy: disk_objectstore from its source, run in this run on the same data')
    out.append(f'- data: {args.n} objects of 1-4 KiB (half random, half words); one object '
               f'of {args.big_mib} MiB of random bytes; median of {args.reps} run(s) after a warm-up')
    out.append('- dos packs are durable (fsync before the index commits); legacy does not fsync '
               'its packs on Linux')
    out.append('- targets are on wall time; "CPU" is the same work per CPU second of the process (all its '
               'threads), which the load of a shared machine changes less')
    out.append('')
    out.append('| operation | dos | legacy | dos/legacy | CPU: dos, legacy, dos/legacy | target | met? |')
    out.append('|---|---|---|---|---|---|---|')
    for key, op, unit, target in ROWS:
        (dos_wall, dos_cpu), (legacy_wall, legacy_cpu) = dos[key], legacy[key]
        ratio = dos_wall[0] / legacy_wall[0]
        if legacy_cpu is None:
            cpu = f'{dos_cpu:,.0f}, -, -'
        else:
            cpu = f'{dos_cpu:,.0f}, {legacy_cpu:,.0f}, {dos_cpu / legacy_cpu:.2f}x'
        if target is None:
            ok = dos_wall[0] >= BIG_MBS and dos_rss < BIG_RSS_MIB
            tgt = f'>= {BIG_MBS} MB/s, < {BIG_RSS_MIB} MiB above the interpreter'
            extra = f', +{dos_rss:.1f} MiB' if dos_rss is not None else ''
            lextra = f', +{legacy_rss:.1f} MiB' if legacy_rss is not None else ''
        else:
            ok = ratio >= target
            tgt = f'>= {target}x legacy'
            extra = lextra = ''
        out.append(f'| {op} | {fmt(dos_wall)} {unit}{extra} | {fmt(legacy_wall)} {unit}{lextra} '
                   f'| {ratio:.2f}x | {cpu} | {tgt} | {"met" if ok else "MISSED"} |')
    return '\n'.join(out) + '\n'


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--worker':
        pkg, what, scratch = sys.argv[2:5]
        if what == 'small':
            result = worker_small(pkg, scratch, int(sys.argv[5]), int(sys.argv[6]))
        elif what == 'big-write':
            result = worker_big_write(pkg, scratch, sys.argv[5])
        else:
            result = worker_big_read(pkg, scratch, sys.argv[5])
        json.dump(result, sys.stdout)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scratch', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--legacy', default='')
    parser.add_argument('--n', type=int, default=20000)
    parser.add_argument('--big-mib', type=int, default=256)
    parser.add_argument('--reps', type=int, default=3)
    args = parser.parse_args()
    os.makedirs(args.scratch, exist_ok=True)
    big_path = os.path.join(args.scratch, 'big.bin')
    with open(big_path, 'wb') as f:
        for _ in range(args.big_mib):
            f.write(os.urandom(1 << 20))
    why_not = legacy_usable(args.legacy)
    sys.stderr.write('  python: dos\n')
    dos, dos_rss = measure('dos', args.legacy, args, big_path)
    if why_not:
        legacy = {key: ((v, v, v), None) for key, v in LEGACY_CONST.items()}
        legacy_rss = None
    else:
        sys.stderr.write('  python: legacy\n')
        legacy, legacy_rss = measure('legacy', args.legacy, args, big_path)
    text = report(args, dos, dos_rss, legacy, legacy_rss, why_not)
    with open(args.out, 'w', encoding='utf8') as f:
        f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
