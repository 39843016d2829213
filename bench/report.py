#!/usr/bin/env python3
"""Turn the raw results of bench/run into the report and the chart.

usage: report.py RUNDIR OUT.md OUT.png

RUNDIR/results.tsv: key, items, bytes, median s, min s, max s, peak RSS KiB,
status (items == 'rate' for figures parsed from a tool: median, min, max are
then MB/s).  RUNDIR/meta.tsv: key, value.
"""
import os
import subprocess
import sys

MiB = 1024.0


def load(run):
    res, meta = {}, {}
    with open(os.path.join(run, 'results.tsv')) as f:
        for line in f:
            k, items, nbytes, med, tmin, tmax, rss, st = line.rstrip('\n').split('\t')
            res[k] = dict(items=items, bytes=nbytes, med=float(med), min=float(tmin),
                          max=float(tmax), rss=int(rss), status=st)
    with open(os.path.join(run, 'meta.tsv')) as f:
        for line in f:
            k, _, v = line.rstrip('\n').partition('\t')
            meta[k] = v
    return res, meta


class Fig:
    """A rate: median, min, max in `unit` (items/s or MB/s)."""

    def __init__(self, med, lo, hi, unit, rss=0, status='ok', note=''):
        self.med, self.lo, self.hi, self.unit = med, lo, hi, unit
        self.rss, self.status, self.note = rss, status, note

    def text(self, spread=True):
        if self.status != 'ok':
            return 'FAILED (%s)' % self.status
        s = '%s %s' % (num(self.med), self.unit)
        if spread and self.lo != self.hi:
            s += ' (%s-%s)' % (num(self.lo), num(self.hi))
        return s


def num(v):
    if v is None:
        return '-'
    if v >= 100:
        return '{:,.0f}'.format(v)
    if v >= 10:
        return '%.1f' % v
    return '%.2f' % v


def fig(res, key, mode, unit_items='obj/s'):
    """mode 'items' -> items/s, 'MB' -> MB/s."""
    r = res.get(key)
    if r is None:
        return None
    if r['items'] == 'rate':
        return Fig(r['med'], r['min'], r['max'], 'MB/s', r['rss'], r['status'])
    if r['med'] <= 0:
        return Fig(0, 0, 0, unit_items, r['rss'], r['status'])
    q = float(r['items']) if mode == 'items' else float(r['bytes']) / 1e6
    u = unit_items if mode == 'items' else 'MB/s'
    return Fig(q / r['med'], q / r['max'], q / r['min'], u, r['rss'], r['status'])


def const(v, unit, note):
    return Fig(v, v, v, unit, note=note)


def main(run, out_md, out_png):
    res, meta = load(run)
    have = lambda feat: meta.get(feat) == 'yes'
    fsck_state = meta.get('fsck_state', 'packed')
    legacy = 'legacy (measured earlier, constant)'
    rows = []

    def row(op, dos, mode, peer=None, peer_label='', limit=None, limit_label='',
            target='', check=None, rss_max=None, needs=None, unit='obj/s', dos_note='',
            short=None, chart_limit=False):
        d = fig(res, dos, mode, unit) if isinstance(dos, str) else dos
        if isinstance(peer, str):
            p = fig(res, peer, mode, unit)
        else:
            p = peer
        lim = fig(res, limit, 'MB' if limit and limit.startswith('lim_sha') or
                  (limit or '').startswith('lim_z') or (limit or '').startswith('lim_dd') else mode, unit) \
            if isinstance(limit, str) else limit
        rows.append(dict(op=op, dos=d, peer=p, peer_label=peer_label, lim=lim,
                         limit_label=limit_label, target=target, check=check,
                         rss_max=rss_max, needs=needs, mode=mode, dos_note=dos_note,
                         dos_key=dos if isinstance(dos, str) else None,
                         short=short or op, chart_limit=chart_limit))

    # -------------------------------------------------------------- ingest
    ing = 'ingest D1 loose, durable (batched fsync)'
    row(ing, 'dos_ingest', 'items', 'git_ingest_fsync',
        'git hash-object -w, core.fsync=loose-object (fsync per object)',
        'lim_sf_batch', '2 KiB files, temp+rename, batched sync',
        '>= 4x git fsync=loose-object', ('ratio', 4), unit='files/s', short='ingest loose\\nvs git fsync')
    row(ing, 'dos_ingest', 'items', const(1500, 'files/s', legacy),
        legacy + ': loose add, fsync', None, '', '>= 8x legacy (1,500 files/s)', ('ratio', 8),
        unit='files/s', short='ingest loose\\nvs legacy')
    row(ing, 'dos_ingest', 'items', 'git_ingest_batch',
        'git hash-object -w, core.fsync=loose-object, fsyncMethod=batch',
        None, '', '(info)', unit='files/s', short='ingest loose\\nvs git batch fsync')
    row(ing, 'dos_ingest', 'items', 'git_ingest_nofsync',
        'git hash-object -w, default config (loose objects NOT fsynced)',
        'lim_sf_none', '2 KiB files, temp+rename, no fsync', '(info)', unit='files/s', short='ingest loose\\nvs git no fsync')
    row('ingest D1 straight to packs, durable', 'dos_topack', 'items', 'git_ingest_batch',
        'git hash-object -w, fsync=loose-object, batch', 'lim_sha256_1c',
        'SHA-256, 1 core', '>= 25,000 files/s', ('abs', 25000), needs='to_pack',
        unit='files/s', short='to-pack ingest\\nvs git batch fsync')
    # ---------------------------------------------------- trees in and out
    row('restore D1 from packs (dos restore), verified', 'dos_restore', 'items', 'tar_x',
        'tar -x of the same files', None, '', '>= 50% of tar -x', ('ratio', 0.5),
        needs='restore', unit='files/s', short='restore D1\\nvs tar -x')
    # --------------------------------------------------------- single calls
    calls = 'single calls (one process each, through dos): '
    row(calls + 'hash-object -w of a small file, durable', 'dos_call_hash', 'items',
        'git_call_hash', 'git hash-object -w, default config (NOT fsynced)', None, '',
        '(info: dos syncs twice a call)', None, unit='calls/s', short='hash-object -w call\\nvs git')
    for m, what, peer in (('e', 'cat-object -e', 'git cat-file -e'),
                          ('s', 'cat-object -s', 'git cat-file -s'),
                          ('cat', 'cat-object <id>', 'git cat-file -p')):
        row(calls + what + ', packed', 'dos_call_' + m, 'items', 'git_call_' + m,
            peer + ' (packed)', None, '', '>= 1x git', ('ratio', 1), needs='pack',
            unit='calls/s', short=what + ' call\\nvs git')
    # --------------------------------------------------------- large object
    d3mib = int(meta.get('d3', '1 file, 0 bytes').split(', ')[1].split()[0]) >> 20
    row('D3 (1 x %d MiB) store, durable' % d3mib, 'dos_d3_store', 'MB', 'cp_d3', 'cp + sync FILE (fsync)',
        'lim_dd_fsync', 'dd of D3 conv=fsync', '>= 800 MB/s; RSS < 16 MiB', ('abs', 800),
        rss_max=16, short='D3 store\\nvs cp+sync')
    row('D3 (1 x %d MiB) read back, verified (to /dev/null)' % d3mib, 'dos_d3_read', 'MB', 'cat_d3',
        'cat FILE >/dev/null', 'lim_sha256_1c', 'SHA-256, 1 core',
        '>= 1,400 MB/s; RSS < 16 MiB', ('abs', 1400), rss_max=16, short='D3 read\\nvs cat')
    # --------------------------------------------------------- loose reads
    row('read loose: cat-object --batch --buffer', 'dos_batch_loose', 'items',
        'git_batch_loose', 'git cat-file --batch --buffer (loose)', 'lim_sf_read',
        'open+read+close of the files', '(none)', short='loose --batch\\nvs git')
    row('read loose: --batch-check --buffer', 'dos_check_loose', 'items', 'git_check_loose',
        'git cat-file --batch-check --buffer (loose)', None, '', '(none)', short='loose --batch-check\\nvs git')
    row('read loose: --batch-all-objects --unordered --batch', 'dos_all_loose', 'items',
        'git_all_loose', 'git cat-file, same mode (loose)', 'lim_sf_read',
        'open+read+close of the files', '(none)', short='loose all-objects\\nvs git')
    # ---------------------------------------------------------------- pack
    # The peers keep the loose files: the --keep-loose rows compare like with
    # like; the full dos pack also removes them, bounded by unlink.
    git_pack = 'git pack-objects --window=0 (keeps loose objects; pack fsynced, git default)'
    legacy_pack = legacy + ': pack_all_loose(compress=False), keeps loose files, NOT fsynced'
    keep = 'pack D1, loose files kept (dos pack --keep-loose), durable'
    row(keep, 'dos_pack_keep', 'items', 'git_pack', git_pack, 'lim_zstd2_4K_c',
        'zstd -2 on 4 KiB blocks, 1 core', '>= 4x git; RSS < 64 MiB', ('ratio', 4),
        rss_max=64, needs='pack', short='pack D1 keep-loose\\nvs git')
    row(keep, 'dos_pack_keep', 'items', const(24900, 'obj/s', legacy), legacy_pack, None, '',
        '>= 2x legacy (24,900 obj/s)', ('ratio', 2), needs='pack',
        short='pack D1 keep-loose\\nvs legacy')
    full = 'pack D1 (loose -> packs, durable, loose files removed)'
    removal = fig(res, 'lim_unlink_16', 'items', 'files/s')
    removal_label = 'small files removed, 16 threads, like dos pack'
    # The targets compare with peers that keep the loose files (the
    # rows above); removing them too is shown against the same peers, and
    # against legacy pack_all_loose + clean_storage (legacy-bench.md: 0.803 s
    # + 2.192 s for 20,000 objects), as information.
    row(full, 'dos_pack', 'items', 'git_pack', git_pack, removal, removal_label,
        '(info); RSS < 64 MiB', None, rss_max=64, needs='pack',
        short='pack D1 removing loose\\nvs git')
    row(full, 'dos_pack', 'items', const(6680, 'obj/s', legacy),
        legacy + ': pack_all_loose + clean_storage (removes them), NOT fsynced', removal,
        removal_label, '(info)', None, needs='pack',
        short='pack D1 removing loose\\nvs legacy')
    sz_d, sz_g = meta.get('size_dos_pack'), meta.get('size_git_pack')
    if have('pack') and sz_d and sz_g:
        row('stored size D1 packed (MB, lower is better)', const(int(sz_d) / 1e6, 'MB', ''),
            'MB', const(int(sz_g) / 1e6, 'MB', ''), "git pack + idx (dos: packs + index *.db, without the BDB environment)", None, '',
            "<= git's pack", ('ratio_le', 1.0), needs='pack',
            short='stored size\\ngit / dos (inverted)')
    else:
        row('stored size D1 packed (MB, lower is better)', None, 'MB', None, "git pack + idx",
            needs='pack', target="<= git's pack")
    row('read packed: cat-object --batch --buffer', 'dos_batch_pack', 'items',
        'git_batch_pack', 'git cat-file --batch --buffer (packed)', 'lim_zstd2_4K_d',
        'zstd -2 decompress, 4 KiB blocks, 1 core', '>= 3x git', ('ratio', 3), needs='pack', short='packed --batch\\nvs git')
    row('read packed: --batch-check --buffer', 'dos_check_pack', 'items', 'git_check_pack',
        'git cat-file --batch-check --buffer (packed)', None, '', '>= 1x git', ('ratio', 1),
        needs='pack', short='packed --batch-check\\nvs git')
    row('read packed: --batch-all-objects --unordered --batch', 'dos_all_pack', 'items',
        'git_all_pack', 'git cat-file, same mode (packed)', 'lim_zstd2_4K_d',
        'zstd -2 decompress, 4 KiB blocks, 1 core', '(none)', needs='pack', short='packed all-objects\\nvs git')
    # -------------------------------------------------------- export/import
    xport = 'dos export | dos import of D1 (packed) into a new container, durable'
    row(xport, 'dos_xport', 'items', 'git_bundle',
        'git bundle create + git bundle unbundle of the same objects (one tree)', None, '',
        '>= 2x git', ('ratio', 2), needs='export', short='export|import\\nvs git bundle')
    row(xport, 'dos_xport', 'items', 'dos_pack', 'dos pack of the same objects (loose -> packs)',
        None, '', '>= 50% of dos pack', ('ratio', 0.5), needs='export',
        short='export|import\\nvs dos pack')
    # ----------------------------------------------------------------- fsck
    row('fsck D1 (%s), full' % fsck_state, 'dos_fsck_d1', 'items', 'git_fsck',
        'git fsck --full (packed)', 'lim_sha256_2c', 'SHA-256, 2 cores', '>= 5x git fsck --full',
        ('ratio', 5), needs='fsck', short='fsck D1\\nvs git')
    row('fsck D1 (%s), full' % fsck_state, 'dos_fsck_d1', 'items',
        const(116000, 'obj/s', legacy), legacy + ': validate', None, '',
        '>= 3x legacy (116,000 obj/s)', ('ratio', 3), needs='fsck', short='fsck D1\\nvs legacy')
    row('fsck D2 (%s), full' % meta.get('d2', '?'), 'dos_fsck_d2', 'MB', None, '', 'lim_sha256_2c',
        'SHA-256, 2 cores', ">= 70% of 2 cores' SHA-256", ('limit', 0.70), needs='fsck',
        short='fsck D2\\nvs SHA-256 2 cores', chart_limit=True)
    # --------------------------------------------------------------- backup
    row('backup of the D1 container, first (a full copy, synced)', 'dos_backup_full', 'items',
        'cp_bk', 'cp -a of the container + sync', None, '', '(info)', needs='backup',
        short='backup\\nvs cp -a')
    row('backup after 1%% of D1 new, incremental (%s)' % meta.get('backup_incr_bytes', '?'),
        'dos_backup_incr', 'items', 'dos_backup_full', 'the first backup', None, '',
        '<= 20% of the first backup\'s time', ('ratio', 5), needs='backup',
        short='backup incremental\\nvs first')
    # -------------------------------------------------------------- migrate
    row('migrate legacy D1 (zlib+1 packs) -> dos', 'dos_migrate', 'items', 'dos_fsck_mig',
        'dos fsck of the migrated container', 'lim_sha256_2c', 'SHA-256, 2 cores',
        '>= 50% of dos fsck; RSS < 64 MiB', ('ratio', 0.5), rss_max=64, needs='migrate', short='migrate\\nvs dos fsck')
    if 'dos_migrate_keep' in res:
        row('migrate legacy D1, --keep-compression (zlib entries kept, still hashed)',
            'dos_migrate_keep', 'items', 'dos_fsck_migk',
            'dos fsck of the migrated container', 'lim_sha256_2c', 'SHA-256, 2 cores',
            '>= 50% of dos fsck; RSS < 64 MiB', ('ratio', 0.5), rss_max=64, needs='migrate',
            short='migrate keep\\nvs dos fsck')

    # ------------------------------------------------------------------- S3
    row('S3: random --batch of %s objects of evicted packs (%s)' % (meta.get('s3_random_n', '?'),
        meta.get('s3_evicted', '?')), 'dos_s3_random', 'items', 'dos_s3_random_local',
        'the same from local packs', None, '', '>= 2,000 obj/s', ('abs', 2000), needs='s3',
        short='S3 random --batch\\nvs local')
    row('S3: --batch-all-objects --unordered --batch, evicted packs', 'dos_s3_all', 'items',
        'dos_s3_all_local', 'the same, local packs', None, '', '>= 50% of local', ('ratio', 0.5),
        needs='s3', short='S3 all-objects\\nvs local')
    row('S3: dos clone of D1 (the index ready)', 'dos_s3_clone', 'items', 'curl_s3_get',
        'curl GET of every evicted pack, one at a time', None, '', "<= 20% of the download's time",
        ('ratio', 5), needs='s3', short='S3 clone\\nvs download')
    row('S3: dos push of D2 (%s), verified' % meta.get('s3_pushed', '?'), 'dos_s3_push', 'MB',
        'curl_s3_put', 'curl --aws-sigv4 PUT of the same packs, one at a time (payload not hashed)',
        None, '', ">= 80% of curl's PUT", ('ratio', 0.8), needs='s3',
        short='S3 push\\nvs curl PUT')

    # A run of some rows only (BENCH_ONLY) shows those it measured.
    if meta.get('only'):
        rows = [r for r in rows if r['dos'] is not None]

    # ------------------------------------------------------------ evaluate
    for r in rows:
        d, p, lim = r['dos'], r['peer'], r['lim']
        r['ratio'] = r['lratio'] = None
        r['met'] = ''
        if r['needs'] and not have(r['needs']):
            r['dos_text'] = 'n/a (not built yet)'
            r['met'] = 'n/a'
            continue
        if d is None:
            r['dos_text'] = 'not measured'
            r['met'] = 'n/a'
            continue
        r['dos_text'] = d.text()
        ok = d.status == 'ok'
        if p is not None and p.status == 'ok' and ok and p.med > 0:
            r['ratio'] = d.med / p.med
        if lim is not None and lim.status == 'ok' and ok and lim.med > 0:
            if lim.unit == 'MB/s' and d.unit != 'MB/s' and r['dos_key']:
                k = res[r['dos_key']]
                dm = float(k['bytes']) / 1e6 / k['med']
            else:
                dm = d.med
            r['lratio'] = dm / lim.med
        c = r['check']
        if c is None:
            r['met'] = '' if ok else 'no'
            continue
        kind, val = c
        good = {'ratio': r['ratio'] is not None and r['ratio'] >= val,
                'ratio_le': r['ratio'] is not None and r['ratio'] <= val,
                'abs': ok and d.med >= val,
                'limit': r['lratio'] is not None and r['lratio'] >= val}[kind]
        if r['rss_max'] and ok and d.rss:
            good = good and d.rss / MiB < r['rss_max']
        r['met'] = 'yes' if good and ok else 'no'

    def rss_text(r):
        d = r['dos']
        if d is None or r['met'] == 'n/a' or not d.rss:
            return '-'
        return '%.1f MiB' % (d.rss / MiB)

    def ratio_text(v):
        return '-' if v is None else ('%.2fx' % v)

    out = []
    w = out.append
    smoke = meta.get('smoke') == '1'
    w('# dos benchmark%s' % (' (SMOKE RUN: tiny sizes, 1 run, figures meaningless)' if smoke else ''))
    w('')
    w('- machine: %s; %s' % (meta.get('machine', '?'), meta.get('kernel', '')))
    w('- file system of the scratch dir: %s' % meta.get('fs', '?'))
    w('- load average (1, 5, 15 min) at start: %s, at end: %s (other processes share this '
      'machine: figures above 2 cores of load are noisy)' % (meta.get('load_start', '?'),
                                                         meta.get('load_end', '?')))
    w('- dos %s; %s; %s' % (meta.get('dos', '?'), meta.get('git', ''), meta.get('date', '')))
    w('- data: D1 %s; D2 %s; D3 %s' % (meta.get('d1'), meta.get('d2'), meta.get('d3')))
    w('- each figure: median of %s timed run(s) after one untimed warm-up, (min-max) in '
      'brackets; fresh trees for every run, nothing deleted between timed runs; page cache '
      '**warm** for every read (re-read just before timing); peak RSS by /usr/bin/time.'
      % meta.get('reps'))
    w('- durability: dos loose ingest, to-pack ingest, D3 store and pack are durable (fsync, '
      'as the commands promise); git with core.fsync=loose-object fsyncs each object (batch: '
      'one sync per batch); git hash-object by default does NOT fsync loose objects; '
      'git pack-objects fsyncs its pack (core.fsync default); cp + sync fsyncs the copy; '
      'legacy pack figures were NOT fsynced.  dos pack removes the loose files it packed '
      '(--keep-loose keeps them); git pack-objects and legacy pack_all_loose keep them '
      '(git prune-packed removes them separately).')
    w('- ratio dos/peer: > 1 means dos is faster (for the size row: smaller is better). '
      'Ratio to limit: dos figure / the machine limit named in the row.')
    w('')
    w('| operation | dos | peer | peer figure | dos/peer | dos/limit (limit) | dos peak RSS | target | met? |')
    w('|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        p = r['peer']
        ptxt = '-' if p is None else (p.text() if r['met'] != 'n/a' or p.status != 'ok' or True else '')
        ltxt = '-'
        if r['lim'] is not None:
            ltxt = '%s (%s: %s)' % (ratio_text(r['lratio']), r['limit_label'],
                                     r['lim'].text(spread=False))
        w('| %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            r['op'], r['dos_text'], r['peer_label'] or '-', ptxt, ratio_text(r['ratio']),
            ltxt, rss_text(r), r['target'], r['met'] or '-'))
    w('')
    out.extend(sizes_section(run, meta))
    w('## Machine limits measured in this run')
    w('')
    w('| limit | figure | notes |')
    w('|---|---|---|')
    lims = [
        ('lim_sha256_1c', 'SHA-256, openssl speed -evp sha256, 1 MiB buffers, 1 core', 'MB'),
        ('lim_sha256_2c', 'SHA-256, same, openssl speed -multi 2 (2 cores)', 'MB'),
        ('lim_sha256_4k', 'SHA-256, 4 KiB buffers, 1 core', 'MB'),
        ('lim_zstd1_1M_c', 'zstd -b1 compress, 1 MiB blocks (blob-mixed)', 'MB'),
        ('lim_zstd1_1M_d', 'zstd -b1 decompress, 1 MiB blocks', 'MB'),
        ('lim_zstd2_1M_c', 'zstd -b2 compress, 1 MiB blocks (dos default level)', 'MB'),
        ('lim_zstd2_1M_d', 'zstd -b2 decompress, 1 MiB blocks', 'MB'),
        ('lim_zstd3_1M_c', 'zstd -b3 compress, 1 MiB blocks', 'MB'),
        ('lim_zstd3_1M_d', 'zstd -b3 decompress, 1 MiB blocks', 'MB'),
        ('lim_zstd2_4K_c', 'zstd -b2 compress, 4 KiB blocks', 'MB'),
        ('lim_zstd2_4K_d', 'zstd -b2 decompress, 4 KiB blocks', 'MB'),
        ('lim_zlib1_c', 'zlib level 1 compress (python3 zlib module = C zlib), 1 MiB chunks', 'MB'),
        ('lim_zlib1_d', 'zlib level 1 decompress', 'MB'),
        ('lim_zlib6_c', 'zlib level 6 compress, 1 MiB chunks', 'MB'),
        ('lim_zlib6_d', 'zlib level 6 decompress', 'MB'),
        ('lim_dd_fsync', 'sequential write of D3 (warm), dd bs=1M conv=fsync (durable)', 'MB'),
        ('lim_dd_zero_fsync', 'sequential write of zeros, dd bs=1M conv=fsync (durable)', 'MB'),
        ('lim_sf_none', 'small files 2 KiB, temp + rename, no fsync (not durable)', 'items'),
        ('lim_sf_file', 'small files 2 KiB, fsync per file + dirs at end (durable)', 'items'),
        ('lim_sf_batch', 'small files 2 KiB, batches of 512: syncfs, rename, fsync dirs (durable)', 'items'),
        ('lim_sf_read', 'small files read back (D1 unique files, open+read+close, warm)', 'items'),
        ('lim_unlink_1', 'small files 2 KiB removed (the trees above), 1 thread', 'items'),
        ('lim_unlink_16', 'small files 2 KiB removed, 16 threads taking chunks of 64 (as dos pack does)',
         'items'),
    ]
    notes = {
        'lim_zstd1_1M_c': 'ratio x%s' % meta.get('zstd1_1M_ratio', '?'),
        'lim_zstd2_1M_c': 'ratio x%s' % meta.get('zstd2_1M_ratio', '?'),
        'lim_zstd3_1M_c': 'ratio x%s' % meta.get('zstd3_1M_ratio', '?'),
        'lim_zstd2_4K_c': 'ratio x%s' % meta.get('zstd2_4K_ratio', '?'),
        'lim_zlib1_c': 'ratio x%.3f' % float(meta.get('zlib1_ratio', 'nan')),
        'lim_zlib6_c': 'ratio x%.3f' % float(meta.get('zlib6_ratio', 'nan')),
    }
    for k, label, mode in lims:
        f = fig(res, k, mode, 'files/s')
        if f is not None:
            w('| %s | %s | %s |' % (label, f.text(), notes.get(k, '')))
    w('')
    w('## Every timed command')
    w('')
    w('| key | median s | min-max s | peak RSS | status |')
    w('|---|---|---|---|---|')
    for k, r in res.items():
        if r['items'] == 'rate':
            continue
        w('| %s | %.3f | %.3f-%.3f | %.1f MiB | %s |' % (k, r['med'], r['min'], r['max'],
                                                       r['rss'] / MiB, r['status']))
    w('')
    w('## Checks and notes')
    w('')
    for k in ('check_ingest_ids', 'check_batch_bytes', 'check_batch_pack_bytes',
              'check_d3_roundtrip', 'fsck_state', 'size_dos_pack', 'size_git_pack',
              'size_dos_env', 'files_dos_after_pack', 'files_dos_keep_loose', 'check_unlink',
              'check_s3_random', 'check_s3_all', 'check_s3_push'):
        if k in meta:
            w('- %s: %s' % (k, meta[k]))
    missing = [f for f in ('pack', 'to_pack', 'fsck', 'migrate') if not have(f)]
    if missing:
        w('- not built yet (rows show n/a): %s' % ', '.join(missing))
    failed = [k for k, r in res.items() if r['status'] != 'ok']
    for k in failed:
        err = os.path.join(run, 'log', k + '.err')
        tail = ''
        if os.path.exists(err):
            with open(err, errors='replace') as f:
                tail = ' / '.join(l.strip() for l in f.readlines()[-3:])
        w('- FAILED %s (%s): %s' % (k, res[k]['status'], tail))
    w('- run took %s s; trees in %s (%s)' % (meta.get('duration_s'), meta.get('run'),
                                           meta.get('run_size')))
    text = '\n'.join(out) + '\n'
    os.makedirs(os.path.dirname(os.path.abspath(out_md)), exist_ok=True)
    with open(out_md + '.tmp', 'w') as f:
        f.write(text)
    os.replace(out_md + '.tmp', out_md)
    sys.stdout.write(text)
    chart(rows, run, out_png, smoke)
    sys.stderr.write('report written to %s and %s\n' % (out_md, out_png))
    return 0


SIZE_SETS = (('d1', 'D1 (generated files of 1-4 KiB)'),
             ('corpus', 'real corpus (/usr/share/doc, /usr/include, /usr/lib/python3)'),
             ('big', 'large real files (/usr/lib, /usr/bin, /var/cache/apt/archives)'))
SIZE_STORES = (('dos', 'dos, default (hash-object -w --to-pack: packs + index)'),
               ('dos_aggressive', 'dos after gc --aggressive'),
               ('git_window0', 'git pack-objects --window=0 (pack + idx)'),
               ('git_repack_ad', 'git repack -a -d (pack + idx, blobs only)'),
               ('restic', 'restic backup (repository)'),
               ('tar_zstd19', 'tar \\| zstd -19 -T0 (floor)'))
# Issue 15's figures: (set, dos store, peer store, at most this many
# times the peer's bytes).
SIZE_TARGETS = (('d1', 'dos', 'git_window0', 1.1),
                ('corpus', 'dos', 'git_window0', 1.0),
                ('big', 'dos', 'git_window0', 1.0),
                ('d1', 'dos_aggressive', 'git_window0', 1.0),
                ('corpus', 'dos_aggressive', 'git_repack_ad', 1.0))


def sizes_section(run, meta):
    """The stored-size tables of bench/sizes, with issue 15's targets."""
    path = os.path.join(run, 'sizes.tsv')
    if not os.path.exists(path):
        return []
    rows = {}
    with open(path) as f:
        for line in f:
            dset, store, nbytes, secs, st = line.rstrip('\n').split('\t')
            rows[dset, store] = (int(nbytes), float(secs), st)
    out = ['## Stored size of each data set', '',
           'Each store once, timed (wall s); files of distinct contents only.  dos: packs '
           'and index `*.db`, without the Berkeley DB environment; git repack -a -d: '
           'without the one tree and commit that make the blobs reachable.', '']
    for dset, label in SIZE_SETS:
        raw = meta.get('sizes_' + dset, '0 files, 0 bytes')
        raw_bytes = int(raw.split(', ')[1].split()[0])
        out += ['### %s: %s' % (label, raw), '',
                '| store | stored MB | / raw | / git --window=0 | time s |',
                '|---|---|---|---|---|']
        git0 = rows.get((dset, 'git_window0'), (0, 0, ''))[0]
        for store, slabel in SIZE_STORES:
            r = rows.get((dset, store))
            if r is None:
                continue
            nbytes, secs, st = r
            if st != 'ok':
                out.append('| %s | %s | - | - | - |' % (slabel, 'n/a (%s)' % st))
                continue
            out.append('| %s | %s | %s | %s | %s |' % (
                slabel, '{:,.1f}'.format(nbytes / 1e6),
                '%.3f' % (nbytes / raw_bytes) if raw_bytes else '-',
                '%.3f' % (nbytes / git0) if git0 else '-', num(secs)))
        out.append('')
    out += ['### Targets of issue 15', '', '| target | figure | met? |', '|---|---|---|']
    names = dict(SIZE_STORES)
    for dset, store, peer, most in SIZE_TARGETS:
        d, p = rows.get((dset, store)), rows.get((dset, peer))
        what = '%s: %s <= %sx %s' % (dset, names[store], num(most), names[peer])
        if d is None or p is None or d[2] != 'ok' or p[2] != 'ok' or not p[0]:
            out.append('| %s | n/a | - |' % what)
            continue
        ratio = d[0] / p[0]
        out.append('| %s | %.3fx | %s |' % (what, ratio, 'met' if ratio <= most else 'missed'))
    d, p = rows.get(('corpus', 'dos_aggressive')), rows.get(('corpus', 'git_repack_ad'))
    what = 'corpus: time of dos gc --aggressive <= time of git repack -a -d'
    if d is None or p is None or d[2] != 'ok' or p[2] != 'ok' or not p[1]:
        out.append('| %s | n/a | - |' % what)
    else:
        out.append('| %s | %.2fx (%s s, %s s) | %s |' % (
            what, d[1] / p[1], num(d[1]), num(p[1]), 'met' if d[1] <= p[1] else 'missed'))
    out.append('')
    return out


def chart(rows, run, out_png, smoke):
    dat = os.path.join(run, 'chart.dat')
    n, top = 0, 1.0
    with open(dat, 'w') as f:
        for r in rows:
            v = r['lratio'] if r['chart_limit'] else r['ratio']
            if v is None or v <= 0:
                continue
            c = r['check']
            tgt = 'NaN'
            if c and c[0] in ('ratio', 'limit'):
                tgt = c[1]
            elif c and c[0] == 'ratio_le':
                v, tgt = 1.0 / v, 1.0 / c[1]
            top = max(top, v, float(tgt) if tgt != 'NaN' else 0)
            f.write('"%s" %.4f %s\n' % (r['short'].replace('"', "'"), v, tgt))
            n += 1
    if not n:
        return
    gp = """
set terminal pngcairo size %d,640 font "sans,9"
set output '%s'
set title "dos / peer, higher is better (stored size inverted: git / dos; fsck D2: dos / 2-core SHA-256)%s"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y 2
set yrange [0.05:%g]
set ylabel "ratio dos / peer (log scale)"
set xtics rotate by -40 left font "sans,8"
set grid ytics
set key top right
set arrow from graph 0, first 1 to graph 1, first 1 nohead lc rgb "black" lw 1.5
set bmargin 9
plot '%s' using 2:xtic(1) title "measured" lc rgb "#3070b0", \\
     '' using 3 title "target" lc rgb "#e0a030"
""" % (max(900, 70 * n), out_png, ' - SMOKE RUN' if smoke else '', top * 1.6, dat)
    try:
        subprocess.run(['gnuplot'], input=gp.encode(), check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.stderr.write('gnuplot failed: %s\n' % e)


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
