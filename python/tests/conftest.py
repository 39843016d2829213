"""Fixtures of the tests of the Python package dos (make python-test)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# The package as make python builds it, in place.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dos  # noqa: E402


@pytest.fixture
def container(tmp_path):
    """A new, empty container (zlib+1, as legacy makes them)."""
    cont = dos.Container(tmp_path / 'container')
    cont.init_container()
    yield cont
    cont.close()


@pytest.fixture
def dos_cli():
    """Run a dos command on a container: dos_cli(folder, 'pack', ...)."""
    if shutil.which('dos') is None:
        pytest.fail('the dos programs are not on PATH: run the tests with make python-test')

    def run(folder, *args, stdin=None, check=True):
        env = dict(os.environ, DOS_DIR=str(folder))
        proc = subprocess.run(['dos', *args], input=stdin, capture_output=True, env=env, check=False)
        if check:
            assert proc.returncode == 0, proc.stderr.decode()
        return proc

    return run


class Progress:
    """A legacy progress callback that checks the init/update/close protocol."""

    def __init__(self):
        self.current = None
        self.done = []

    def callback(self, action, value):
        if action == 'init':
            assert self.current is None, 'init before the previous close'
            assert set(value) == {'total', 'description'}
            self.current = {'start_value': value, 'value': 0}
        elif action == 'update':
            self.current['value'] += value
        elif action == 'close':
            assert value is None
            self.done.append(self.current)
            self.current = None
        else:
            raise AssertionError(f'unknown action {action}')


@pytest.fixture
def progress():
    return Progress()
