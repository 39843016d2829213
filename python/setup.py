"""Build the Python package dos: the extension dos._dos on libdos.

make python runs this with Debian's python3 (see python/README.md); the
library comes as a static archive built with -fPIC, DOS_LIBDOS, so that
the extension carries the storage code it uses and needs no libdos.so.
"""

import os

from setuptools import Extension, setup

here = os.path.dirname(os.path.abspath(__file__))
libdos = os.environ.get('DOS_LIBDOS', os.path.join(here, '..', 'build', 'pic', 'libdos.a'))

setup(
    name='dos',
    version=os.environ.get('DOS_VERSION', '0.1.0'),
    description='A content-addressed disk object store; Container is a drop-in for disk_objectstore',
    packages=['dos'],
    ext_modules=[
        Extension(
            'dos._dos',
            sources=['_dos.c'],
            include_dirs=[os.path.join(here, '..', 'lib'), os.path.join(here, '..', 'include')],
            define_macros=[('_GNU_SOURCE', None), ('_FILE_OFFSET_BITS', '64')],
            extra_compile_args=['-std=c99', '-Wall', '-Wextra', '-Wno-unused-parameter',
                                '-Wno-missing-field-initializers', '-pthread'],
            extra_objects=[libdos],
            libraries=['db', 'zstd', 'z', 'deflate', 'jansson', 'crypto'],
            extra_link_args=['-pthread'],
        )
    ],
)
