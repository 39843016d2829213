"""dos.Container beside the dos commands: containers made by one read by
the other, and Python working while dos pack and dos hash-object run on
the same container."""

import hashlib
import os
import subprocess
import threading

import dos
from dos import ObjectType


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_cli_container_read_from_python(tmp_path, dos_cli):
    folder = tmp_path / 'c'
    dos_cli(tmp_path, 'init', '-q', '--compression=zstd', str(folder))
    files = []
    for i in range(5):
        path = tmp_path / f'f{i}'
        path.write_bytes(f'file {i}'.encode() * (i + 1))
        files.append(path)
    out = dos_cli(folder, 'hash-object', '-w', *map(str, files[:3])).stdout.decode().split()
    dos_cli(folder, 'pack', '-q')
    out += dos_cli(folder, 'hash-object', '-w', *map(str, files[3:])).stdout.decode().split()
    cont = dos.Container(folder)
    assert cont.is_initialised
    assert cont.compression_algorithm == 'zstd'
    assert out == [sha(f.read_bytes()) for f in files]
    assert cont.get_objects_content(out) == {k: f.read_bytes() for k, f in zip(out, files)}
    assert [cont.get_object_meta(k).type for k in out] == [ObjectType.PACKED] * 3 + [ObjectType.LOOSE] * 2
    assert cont.count_objects().packed == 3
    assert cont.validate().is_valid()
    cont.close()


def test_python_container_read_from_cli(tmp_path, dos_cli):
    folder = tmp_path / 'c'
    cont = dos.Container(folder)
    cont.init_container(compression_algorithm='zlib+9')
    loose = cont.add_object(b'loose from python')
    packed = cont.add_objects_to_pack([b'packed from python' * 100], compress=True)[0]
    assert dos_cli(folder, 'cat-object', loose).stdout == b'loose from python'
    assert dos_cli(folder, 'cat-object', packed).stdout == b'packed from python' * 100
    assert dos_cli(folder, 'cat-object', '-s', packed).stdout.strip() == b'1800'
    dos_cli(folder, 'fsck')
    dos_cli(folder, 'pack', '-q')
    assert cont.get_object_meta(loose).type == ObjectType.PACKED
    assert dos_cli(folder, 'config', 'compression_algorithm').stdout.strip() in (b'zlib:9', b'zlib+9')
    dos_cli(folder, 'rm', packed)
    assert not cont.has_object(packed)
    dos_cli(folder, 'gc', '-q')
    assert cont.get_object_content(loose) == b'loose from python'
    cont.close()


def test_legacy_container_is_refused(tmp_path):
    folder = tmp_path / 'legacy'
    for sub in ('loose', 'packs', 'sandbox', 'duplicates'):
        (folder / sub).mkdir(parents=True)
    (folder / 'config.json').write_text(
        '{"container_version": 1, "loose_prefix_len": 2, "pack_size_target": 4294967296,'
        ' "hash_type": "sha256", "container_id": "0123456789abcdef0123456789abcdef",'
        ' "compression_algorithm": "zlib+1"}'
    )
    (folder / 'packs.idx').write_bytes(b'')
    cont = dos.Container(folder)
    try:
        cont.count_objects()
    except dos.DosError as exc:
        assert 'legacy' in str(exc)
    else:
        raise AssertionError('a legacy container was opened')


def test_concurrent_with_dos_pack_and_hash_object(tmp_path, dos_cli):
    """Python adds and reads objects while dos pack and dos hash-object -w
    run in loops on the same container: every object stays readable."""
    folder = tmp_path / 'c'
    cont = dos.Container(folder)
    cont.init_container()
    stop = threading.Event()
    failures = []
    env = dict(os.environ, DOS_DIR=str(folder))
    cli_data = tmp_path / 'cli'
    cli_data.mkdir()
    cli_files = []
    for i in range(40):
        path = cli_data / str(i)
        path.write_bytes(b'from the cli %d' % i)
        cli_files.append(str(path))

    def run_cli():
        rounds = 0
        while not stop.is_set() or rounds < 2:
            for args in (['pack', '-q'], ['hash-object', '-w', *cli_files[rounds % 4 :: 4]]):
                proc = subprocess.run(['dos', *args], env=env, capture_output=True, check=False)
                if proc.returncode != 0:
                    failures.append(proc.stderr.decode())
            rounds += 1

    cli = threading.Thread(target=run_cli)
    cli.start()
    keys = {}
    try:
        for i in range(150):
            data = os.urandom(64) + b'%d' % i
            key = cont.add_object(data) if i % 2 else cont.add_objects_to_pack([data])[0]
            keys[key] = data
            probe = list(keys)[i // 2]
            assert cont.get_object_content(probe) == keys[probe]
            if i % 50 == 0:
                cont.pack_all_loose(clean_loose_per_pack=True)
    finally:
        stop.set()
        cli.join()
    assert not failures
    dos_cli(folder, 'hash-object', '-w', *cli_files)
    assert cont.get_objects_content(list(keys)) == keys
    assert cont.has_objects([sha(open(f, 'rb').read()) for f in cli_files]) == [True] * 40
    assert cont.validate().is_valid()
    dos_cli(folder, 'fsck')
    cont.close()
