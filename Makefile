# dos: a content-addressed disk object store.  See README.md.

# The one place of the version is the public header.
VERSION := $(shell sed -n 's/^#define DOS_VERSION "\(.*\)"$$/\1/p' include/dos/dos.h)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/dos
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include

# Where objects and programs are built; the sanitizer builds use others.
BUILD ?= build

CC ?= cc
CFLAGS ?= -O2 -g
override CFLAGS += -std=c99 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes \
	-Iinclude -Ilib -I$(BUILD)
# dos fsck checks with worker threads.
override CFLAGS += -pthread
# Each function in a section of its own, and the sections no program
# calls dropped from it: what a program loads at every start is only its
# own code (see the dispatcher's rule below).
override CFLAGS += -ffunction-sections -fdata-sections
override LDFLAGS += -Wl,--gc-sections
ifeq ($(WERROR),1)
override CFLAGS += -Werror
endif
LDLIBS = -ldb -lzstd -lz -ldeflate -ljansson -lcrypto

# The one list of commands: each is cmd/<name>.c, whose cmd_<name>() is
# built into dos and, alone, as dos-<name>, documented in man/dos-<name>.1.
CMDS = init hash-object cat-object pack rm repack gc ls count-objects fsck \
	status migrate config backup export import restore remote push clone
# Commands dos runs as programs rather than in itself: dos-migrate alone
# links SQLite, which every call of dos would otherwise load.
EXTERNAL_CMDS = migrate
BUILTIN_CMDS = $(filter-out $(EXTERNAL_CMDS),$(CMDS))

LIBSRC = lib/backup.c lib/batch.c lib/cli.c lib/codec.c lib/config.c lib/count.c lib/dict.c lib/err.c \
	lib/fault.c lib/fsck.c lib/fsck-cross.c lib/fsck-remote.c lib/fsck-repair.c lib/fsck-scan.c \
	lib/extsort.c lib/fsck-verify.c lib/fsutil.c lib/grow.c \
	lib/index.c lib/input.c lib/journal.c lib/loose.c lib/main.c lib/maint.c lib/object.c lib/oid.c \
	lib/index-backup.c lib/index-bulk.c lib/index-walk.c \
	lib/pack.c lib/pack-write.c lib/quote.c lib/remote.c lib/remote-cache.c lib/remote-read.c lib/s3.c \
	lib/store.c lib/stored.c lib/transfer.c lib/tree.c
LIBSRC += lib/legacy.c lib/legacy-copy.c lib/legacy-migrate.c
LIBOBJ = $(LIBSRC:lib/%.c=$(BUILD)/lib/%.o)
PROGS = $(BUILD)/dos $(CMDS:%=$(BUILD)/dos-%)
MANPAGES = man/dos.1 $(CMDS:%=man/dos-%.1) man/dos-container.5 man/dos-export.5 \
	man/dos.7 man/libdos.3

# libdos as installed for other programs: the storage library without the
# command layer (cli, main) and the legacy reader (only dos-migrate needs
# it, and SQLite), compiled again as position-independent code in
# $(BUILD)/pic for both libdos.so and libdos.a.  The shared library
# exports what include/dos/dos.h declares (the only symbols its hidden
# default leaves visible), versioned DOS_0.1 by lib/libdos.map.
SOVERSION = 0
SHLIB = libdos.so.$(VERSION)
PICSRC = $(filter-out lib/cli.c lib/main.c lib/legacy%,$(LIBSRC))
PICOBJ = $(PICSRC:lib/%.c=$(BUILD)/pic/lib/%.o)
LIBDOS_LIBS = -ldb -lzstd -lz -ldeflate -ljansson -lcrypto -pthread
SHLIB_LDFLAGS = -shared -Wl,-soname,libdos.so.$(SOVERSION) \
	-Wl,--version-script=lib/libdos.map -Wl,--no-undefined

all: $(PROGS) $(BUILD)/pic/$(SHLIB) $(BUILD)/pic/libdos.a \
	$(BUILD)/pic/libs.private

# Each object depends on the headers it includes: lib/dos.h, the storage
# library's (with its public part, include/dos/dos.h), and lib/cli.h, the
# command layer's (cmd/ and its lib/ files).
$(BUILD)/lib/%.o: lib/%.c lib/dos.h include/dos/dos.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/pic/lib/%.o: lib/%.c lib/dos.h include/dos/dos.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

$(filter $(BUILD)/pic/lib/fsck%,$(PICOBJ)): lib/fsck-int.h
$(filter $(BUILD)/pic/lib/index%,$(PICOBJ)): lib/index-int.h

$(BUILD)/pic/$(SHLIB): $(PICOBJ) lib/libdos.map
	$(CC) $(CFLAGS) $(LDFLAGS) $(SHLIB_LDFLAGS) -o $@ $(PICOBJ) \
	    $(LIBDOS_LIBS)

$(BUILD)/pic/libdos.a: $(PICOBJ)
	rm -f $@
	$(AR) rcs $@ $(PICOBJ)

# A static link needs the libraries libdos uses, and the LDFLAGS its
# objects were built with (a sanitizer's runtime): dos.pc's Libs.private.
$(BUILD)/pic/libs.private: $(PICOBJ)
	echo '$(strip $(LDFLAGS) $(LIBDOS_LIBS))' >$@

# The files of dos fsck, those of the index, and those of the legacy
# reader, share a private header each.
$(filter $(BUILD)/lib/fsck%,$(LIBOBJ)): lib/fsck-int.h
$(filter $(BUILD)/lib/index%,$(LIBOBJ)): lib/index-int.h
$(filter $(BUILD)/lib/legacy%,$(LIBOBJ)): lib/legacy-int.h
$(BUILD)/lib/cli.o $(BUILD)/lib/main.o: lib/cli.h
# dos export and dos import, and their fuzz target, share the stream's.
$(BUILD)/lib/transfer.o $(BUILD)/cmd/export.o $(BUILD)/cmd/import.o \
    $(BUILD)/t/fuzz-replay-transfer $(BUILD)/fuzz-transfer: lib/transfer.h
# An uninstalled program shows the pages of the tree it was built from.
$(BUILD)/lib/cli.o: override CFLAGS += -DDOS_SOURCE_MANDIR='"$(CURDIR)/man"'

$(BUILD)/cmd/%.o: cmd/%.c lib/dos.h include/dos/dos.h lib/cli.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/cmd/dos.o: cmd/dos.c lib/dos.h include/dos/dos.h lib/cli.h \
    $(BUILD)/command-list.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DLIBEXECDIR='"$(LIBEXECDIR)"' -c -o $@ cmd/dos.c

$(BUILD)/command-list.h: Makefile $(CMDS:%=man/dos-%.1)
	@mkdir -p $(@D)
	for c in $(CMDS); do \
		case " $(EXTERNAL_CMDS) " in \
		*" $$c "*) kind=EXTERNAL_COMMAND ;; \
		*) kind=BUILTIN_COMMAND ;; \
		esac; \
		printf '%s("%s", cmd_%s, "%s")\n' "$$kind" "$$c" \
		    "$$(echo "$$c" | tr - _)" \
		    "$$(sed -n 's/^\.Nd //p' man/dos-$$c.1)"; \
	done >$@

$(BUILD)/libdos.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

# dos-<name> alone: lib/main.c's main() calls cmd_main, which is
# cmd_<name> here.
$(BUILD)/dos-%: $(BUILD)/cmd/%.o $(BUILD)/libdos.a
	$(CC) $(CFLAGS) $(LDFLAGS) -Wl,--defsym=cmd_main=cmd_$(subst -,_,$*) \
	    -o $@ $< $(BUILD)/libdos.a $(LDLIBS)

# Only dos-migrate reads legacy containers (lib/legacy*.c): SQLite stays
# out of every other program.
$(BUILD)/dos-migrate: LDLIBS += -lsqlite3

# dos runs the built-in commands in itself (cmd/dos.c), so that a call
# of "dos <command>" is one exec, not two.  Its libraries are linked
# statically: loading libcrypto and libdb dynamically (symbol lookup and
# relocation) took 1.5-2 ms of every call, more than the command itself.
$(BUILD)/dos: $(BUILD)/cmd/dos.o $(BUILTIN_CMDS:%=$(BUILD)/cmd/%.o) \
    $(BUILD)/libdos.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(BUILD)/libdos.a \
	    -Wl,-Bstatic $(LDLIBS) -Wl,-Bdynamic

# Programs only the tests run, built by make test (see t/): the helpers
# of t/helpers/, and each fuzz target of t/fuzz/ linked with a driver
# that replays its kept inputs.
TEST_HELPERS = index-put sort-check
FUZZ_TARGETS = config batch pack index legacy transfer
TESTPROGS = $(TEST_HELPERS:%=$(BUILD)/t/%) \
	$(FUZZ_TARGETS:%=$(BUILD)/t/fuzz-replay-%)

testprogs: $(TESTPROGS)

$(BUILD)/t/%: t/helpers/%.c $(BUILD)/libdos.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libdos.a $(LDLIBS)

$(BUILD)/t/fuzz-replay-%: t/fuzz/%.c t/fuzz/replay.c t/fuzz/common.c \
    t/fuzz/fuzz.h $(BUILD)/libdos.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -It/fuzz $(LDFLAGS) -o $@ t/fuzz/$*.c t/fuzz/replay.c \
	    t/fuzz/common.c $(BUILD)/libdos.a $(LDLIBS) -lsqlite3

# The same targets built by clang with libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer, the library with them, in $(BUILD)-fuzz;
# make fuzz runs each for FUZZ_SECONDS (see t/stress/fuzz).
FUZZ_CFLAGS = -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_SECONDS ?= 60

fuzzers: $(FUZZ_TARGETS:%=$(BUILD)/fuzz-%)

$(BUILD)/fuzz-%: t/fuzz/%.c t/fuzz/common.c t/fuzz/fuzz.h $(BUILD)/libdos.a
	$(CC) $(CFLAGS) -It/fuzz -fsanitize=fuzzer -o $@ t/fuzz/$*.c \
	    t/fuzz/common.c $(BUILD)/libdos.a $(LDLIBS) -lsqlite3

fuzz-build:
	@.ci/deps fuzz
	$(MAKE) BUILD=$(BUILD)-fuzz CC=clang CFLAGS="$(FUZZ_CFLAGS)" fuzzers

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) t/stress/fuzz $(BUILD)

# Debian packages the build, the tests and the demo need; installed with
# apt-get when run as root, otherwise the command to run is printed.
deps:
	@.ci/deps

# README's table of commands and dos(1)'s list, from CMDS and the pages.
docs:
	tools/command-docs $(CMDS)

# The commands, for the tests.
print-cmds:
	@echo $(CMDS)

lint:
	mandoc -Tlint -W warning $(MANPAGES)
	tools/command-docs --check $(CMDS)
	t/lint-tests

test: deps
	$(MAKE) all testprogs
	$(MAKE) lint
	t/layers $(BUILD)
	t/run $(BUILD)
	$(MAKE) python-test

# The Python package dos (python/, see python/README.md), built in place
# by Debian's Python: its extension dos._dos links the -fPIC libdos.a of
# $(BUILD)/pic, the one make install installs.  python-test runs its
# pytest tests, with the programs of $(BUILD) on PATH for those that mix
# Python and the CLI.
PYTHON ?= /usr/bin/python3
PYTHONDIR ?= $(PREFIX)/lib/python3/dist-packages

# --force: build_ext relinks only when _dos.c changes, not libdos.a.
python: $(BUILD)/pic/libdos.a
	cd python && DOS_LIBDOS=$(CURDIR)/$(BUILD)/pic/libdos.a \
	    DOS_VERSION=$(VERSION) $(PYTHON) setup.py -q build_ext --inplace \
	    --force --build-temp $(CURDIR)/$(BUILD)/pic/python

python-test: all python
	cd python && PATH=$(CURDIR)/$(BUILD):$$PATH \
	    DOS_EXEC_PATH=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q tests

# The legacy package's own test suite against dos.Container, from its
# source (python/legacy/run-suite; not part of make test: it needs that
# source and takes minutes).
python-legacy-test: all python
	PYTHON=$(PYTHON) python/legacy/run-suite $(BUILD)

demo: deps
	$(MAKE) all
	contrib/demo $(BUILD)

bench: deps
	$(MAKE) all python
	PYTHON=$(PYTHON) bench/run $(BUILD)

# Every command on a container of N small objects (default 10^7) migrated
# from a generated legacy container, with issue 14's figures; bench/scale
# says what else it takes (SCRATCH, LEGACY, ...).  Not part of CI, which
# runs bench/scale --smoke (10^5 objects).
bench-scale: deps
	$(MAKE) all $(BUILD)/bench/mklegacy-scale
	$(if $(N),N=$(N)) bench/scale $(BUILD)

# The generator of a legacy container of millions of small objects, for
# measuring dos at scale (issue 14); not built by all.
$(BUILD)/bench/mklegacy-scale: bench/mklegacy-scale.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -lsqlite3 -lcrypto -lm

# The rate of index lookups of present ids, for the same measurements.
$(BUILD)/bench/lookup: bench/lookup.c $(BUILD)/libdos.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libdos.a $(LDLIBS)

# Every stress part in t/stress/ (crash, power loss, ...), about ten
# minutes in all (STRESS_SECONDS per part), then a summary table.
stress: deps
	$(MAKE) all
	t/stress/run $(BUILD)

# make install WITH_PYTHON=1 installs the Python package too.
install: all install-completion $(if $(filter 1,$(WITH_PYTHON)),install-python)
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
	    $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/dos
	cp $(BUILD)/dos $(DESTDIR)$(BINDIR)/dos
	cp $(CMDS:%=$(BUILD)/dos-%) $(DESTDIR)$(LIBEXECDIR)/
	cp $(BUILD)/pic/$(SHLIB) $(BUILD)/pic/libdos.a $(DESTDIR)$(LIBDIR)/
	ln -sf $(SHLIB) $(DESTDIR)$(LIBDIR)/libdos.so.$(SOVERSION)
	ln -sf $(SHLIB) $(DESTDIR)$(LIBDIR)/libdos.so
	cp include/dos/dos.h $(DESTDIR)$(INCLUDEDIR)/dos/
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' \
	    'includedir=$(INCLUDEDIR)' '' 'Name: dos' \
	    'Description: content-addressed disk object store library' \
	    'Version: $(VERSION)' 'Cflags: -I$${includedir}' \
	    'Libs: -L$${libdir} -ldos' \
	    "Libs.private: $$(cat $(BUILD)/pic/libs.private)" \
	    >$(DESTDIR)$(LIBDIR)/pkgconfig/dos.pc
	cp $(filter %.1,$(MANPAGES)) $(DESTDIR)$(MANDIR)/man1/
	cp $(filter %.3,$(MANPAGES)) $(DESTDIR)$(MANDIR)/man3/
	cp $(filter %.5,$(MANPAGES)) $(DESTDIR)$(MANDIR)/man5/
	cp $(filter %.7,$(MANPAGES)) $(DESTDIR)$(MANDIR)/man7/

# bash and zsh completion; the zsh one runs the bash one from where it is
# installed.
install-completion:
	mkdir -p $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	cp contrib/completion/dos.bash $(DESTDIR)$(BASHCOMPDIR)/dos
	sed 's|@BASH_COMPLETION@|$(BASHCOMPDIR)/dos|' contrib/completion/_dos \
	    >$(DESTDIR)$(ZSHCOMPDIR)/_dos

install-python: python
	mkdir -p $(DESTDIR)$(PYTHONDIR)/dos
	cp python/dos/*.py python/dos/_dos*.so $(DESTDIR)$(PYTHONDIR)/dos/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dos
	rm -rf $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(INCLUDEDIR)/dos \
	    $(DESTDIR)$(PYTHONDIR)/dos
	rm -f $(DESTDIR)$(LIBDIR)/$(SHLIB) \
	    $(DESTDIR)$(LIBDIR)/libdos.so.$(SOVERSION) \
	    $(DESTDIR)$(LIBDIR)/libdos.so $(DESTDIR)$(LIBDIR)/libdos.a \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/dos.pc
	rm -f $(MANPAGES:man/%=$(DESTDIR)$(MANDIR)/man*/%)
	rm -f $(DESTDIR)$(BASHCOMPDIR)/dos $(DESTDIR)$(ZSHCOMPDIR)/_dos

clean:
	rm -rf build build-*
	rm -f python/dos/_dos*.so

.PHONY: all testprogs fuzzers fuzz-build fuzz deps docs print-cmds lint test demo bench \
	bench-scale stress install install-completion uninstall clean python \
	python-test python-legacy-test install-python
# Keep the objects make builds on the way to a program.
.PRECIOUS: $(BUILD)/lib/%.o $(BUILD)/pic/lib/%.o $(BUILD)/cmd/%.o
