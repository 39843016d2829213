#!/usr/bin/env bats
# libdos for other programs (issue 17): make install puts the shared and
# static library, <dos/dos.h> and dos.pc into a DESTDIR tree, against
# which contrib/libdos-example.c is built with pkg-config and run; the
# shared library exports the functions of the public header and nothing
# else.
load helper

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd -P)
PREFIX=/usr/local
TEXT='hello, libdos'
TEXT_OID=4bf4980197e3c2b22d8328a5b42f307b18bdaad0d8d7a40a5f3b84903df4fbe2

# make install of the build under test into root/ (DESTDIR), and
# pkg-config looking there.
install_libdos() {
	root=$BATS_TEST_TMPDIR/root
	lib=$root$PREFIX/lib
	run -0 make -C "$TOP" -s BUILD="$DOS_EXEC_PATH" PREFIX="$PREFIX" \
	    DESTDIR="$root" install
	export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
}

# What the example prints for $TEXT.
example_output() {
	printf '%s %s\n%s' "$TEXT_OID" "${#TEXT}" "$TEXT"
}

@test "make install puts libdos.so.0, libdos.a, dos/dos.h and dos.pc under PREFIX in DESTDIR" {
	install_libdos
	[ -f "$lib/libdos.so.0.1.0" ]
	[ "$(readlink "$lib/libdos.so.0")" = libdos.so.0.1.0 ]
	[ "$(readlink "$lib/libdos.so")" = libdos.so.0.1.0 ]
	[ -f "$lib/libdos.a" ]
	cmp "$TOP/include/dos/dos.h" "$root$PREFIX/include/dos/dos.h"
	[ -f "$root$PREFIX/share/man/man3/libdos.3" ]
	run -0 --separate-stderr pkg-config --modversion dos
	[ "$output" = 0.1.0 ]
	run -0 --separate-stderr readelf -d "$lib/libdos.so.0.1.0"
	[[ "$output" == *"Library soname: [libdos.so.0]"* ]]
	run -0 make -C "$TOP" -s BUILD="$DOS_EXEC_PATH" PREFIX="$PREFIX" \
	    DESTDIR="$root" uninstall
	run -0 find "$root" ! -type d
	[ "$output" = "" ]
}

@test "libdos.so exports the functions dos/dos.h declares, versioned DOS_0.1, and nothing else" {
	install_libdos
	run -0 --separate-stderr nm -D --defined-only "$lib/libdos.so.0.1.0"
	printf '%s\n' "$output" >symbols
	# Every symbol is a function of version DOS_0.1, or the version.
	run -1 grep -v -e ' T dos_[a-z0-9_]*@@DOS_0\.1$' -e ' A DOS_0\.1$' symbols
	[ "$output" = "" ]
	sed -n 's/.* T \(.*\)@@DOS_0\.1$/\1/p' symbols | sort >exported
	# The declarations of the header: a line that starts with a type and
	# goes on to a function's name.
	sed -n '/^typedef/d; s/^[a-z][^(]*[ *]\(dos_[a-z0-9_]*\)(.*/\1/p' \
	    "$TOP/include/dos/dos.h" | sort >declared
	[ -s declared ]
	diff declared exported
	# The library's own functions stay inside it.
	run -1 grep -x -e dos_store_open -e dos_index_get -e dos_die exported
}

@test "contrib/libdos-example, built with pkg-config against the installed tree, stores and reads back an object through libdos.so" {
	install_libdos
	cflags=$(pkg-config --cflags dos)
	libs=$(pkg-config --libs dos)
	run -0 cc -o example "$TOP/contrib/libdos-example.c" $cflags $libs
	run -0 --separate-stderr objdump -p example
	[[ "$output" == *"NEEDED               libdos.so.0"* ]]
	# A library built with a sanitizer brings its runtime (make test
	# runs under one too), which then comes after the program's own
	# libraries: it may.
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
	LD_LIBRARY_PATH=$lib run -0 --separate-stderr ./example new "$TEXT"
	[ "$output" = "$(example_output)" ]
	[ "$stderr" = "" ]
	# The container it made is one for dos, which finds the object.
	run -0 --separate-stderr dos --dir=new cat-object "$TEXT_OID"
	[ "$output" = "$TEXT" ]
	# In the container of the test, made by dos init, where dos has
	# packed the object already.
	printf %s "$TEXT" >text
	run -0 dos hash-object -w text
	run -0 dos pack -q
	LD_LIBRARY_PATH=$lib run -0 --separate-stderr ./example "$DOS_DIR" "$TEXT"
	[ "$output" = "$(example_output)" ]
	run -0 --separate-stderr dos fsck
}

@test "contrib/libdos-example links statically with pkg-config --static" {
	install_libdos
	cflags=$(pkg-config --cflags dos)
	libs=$(pkg-config --static --libs dos)
	# libdos from libdos.a, the libraries it uses as the system has them.
	run -0 cc -o example "$TOP/contrib/libdos-example.c" $cflags \
	    ${libs/-ldos/-Wl,-Bstatic -ldos -Wl,-Bdynamic}
	run -0 --separate-stderr objdump -p example
	[[ "$output" != *libdos* ]]
	run -0 --separate-stderr ./example new "$TEXT"
	[ "$output" = "$(example_output)" ]
	[ "$stderr" = "" ]
	run -0 --separate-stderr dos --dir=new cat-object "$TEXT_OID"
	[ "$output" = "$TEXT" ]
}
