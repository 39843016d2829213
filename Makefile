# dos: a content-addressed disk object store.  See README.md.

VERSION = 0.1.0

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/dos
MANDIR ?= $(PREFIX)/share/man

# Where objects and programs are built; the sanitizer builds use others.
BUILD ?= build

CC ?= cc
CFLAGS ?= -O2 -g
override CFLAGS += -std=c99 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes \
	-Ilib -I$(BUILD)
# dos fsck checks with worker threads.
override CFLAGS += -pthread
ifeq ($(WERROR),1)
override CFLAGS += -Werror
endif
LDLIBS = -ldb -lzstd -lz -ljansson -lcrypto

# The one list of commands: each is cmd/<name>.c, built as dos-<name>,
# documented in man/dos-<name>.1.
CMDS = init hash-object cat-object pack rm repack gc ls count-objects fsck \
	status migrate config

LIBSRC = lib/batch.c lib/cli.c lib/codec.c lib/config.c lib/count.c lib/err.c \
	lib/fault.c lib/fsck.c lib/fsck-cross.c lib/fsck-repair.c lib/fsck-scan.c \
	lib/fsck-verify.c lib/fsutil.c lib/grow.c \
	lib/index.c lib/input.c lib/loose.c lib/main.c lib/maint.c lib/object.c lib/oid.c \
	lib/pack.c lib/pack-write.c lib/quote.c lib/store.c
LIBSRC += lib/legacy.c lib/legacy-copy.c lib/legacy-migrate.c
LIBOBJ = $(LIBSRC:lib/%.c=$(BUILD)/lib/%.o)
PROGS = $(BUILD)/dos $(CMDS:%=$(BUILD)/dos-%)
MANPAGES = man/dos.1 $(CMDS:%=man/dos-%.1) man/dos-container.5 man/dos.7

all: $(PROGS)

# Each object depends on the headers it includes: lib/dos.h, the storage
# library's, and lib/cli.h, the command layer's (cmd/ and its lib/ files).
$(BUILD)/lib/%.o: lib/%.c lib/dos.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# The files of dos fsck, and those of the legacy reader, share a private
# header each.
$(filter $(BUILD)/lib/fsck%,$(LIBOBJ)): lib/fsck-int.h
$(filter $(BUILD)/lib/legacy%,$(LIBOBJ)): lib/legacy-int.h
$(BUILD)/lib/cli.o $(BUILD)/lib/main.o: lib/cli.h
# An uninstalled program shows the pages of the tree it was built from.
$(BUILD)/lib/cli.o: override CFLAGS += -DDOS_SOURCE_MANDIR='"$(CURDIR)/man"'

$(BUILD)/cmd/%.o: cmd/%.c lib/dos.h lib/cli.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/cmd/dos.o: cmd/dos.c lib/dos.h lib/cli.h $(BUILD)/command-list.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DLIBEXECDIR='"$(LIBEXECDIR)"' -c -o $@ cmd/dos.c

$(BUILD)/command-list.h: Makefile $(CMDS:%=man/dos-%.1)
	@mkdir -p $(@D)
	for c in $(CMDS); do \
		printf '\t{ "%s", "%s" },\n' "$$c" \
		    "$$(sed -n 's/^\.Nd //p' man/dos-$$c.1)"; \
	done >$@

$(BUILD)/libdos.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

$(BUILD)/dos-%: $(BUILD)/cmd/%.o $(BUILD)/libdos.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libdos.a $(LDLIBS)

# Only dos-migrate reads legacy containers (lib/legacy*.c): SQLite stays
# out of every other program.
$(BUILD)/dos-migrate: LDLIBS += -lsqlite3

$(BUILD)/dos: $(BUILD)/cmd/dos.o $(BUILD)/libdos.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libdos.a $(LDLIBS)

# Programs only the tests run, built by make test (see t/): the helpers
# of t/helpers/, and each fuzz target of t/fuzz/ linked with a driver
# that replays its kept inputs.
TEST_HELPERS = index-put
FUZZ_TARGETS = config batch pack index legacy
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

demo: deps
	$(MAKE) all
	contrib/demo $(BUILD)

bench: deps
	$(MAKE) all
	bench/run $(BUILD)

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

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man7
	cp $(BUILD)/dos $(DESTDIR)$(BINDIR)/dos
	cp $(CMDS:%=$(BUILD)/dos-%) $(DESTDIR)$(LIBEXECDIR)/
	cp $(filter %.1,$(MANPAGES)) $(DESTDIR)$(MANDIR)/man1/
	cp $(filter %.5,$(MANPAGES)) $(DESTDIR)$(MANDIR)/man5/
	cp $(filter %.7,$(MANPAGES)) $(DESTDIR)$(MANDIR)/man7/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dos
	rm -rf $(DESTDIR)$(LIBEXECDIR)
	rm -f $(MANPAGES:man/%=$(DESTDIR)$(MANDIR)/man*/%)

clean:
	rm -rf build build-*

.PHONY: all testprogs fuzzers fuzz-build fuzz deps docs print-cmds lint test demo bench \
	stress install uninstall clean
# Keep the objects make builds on the way to a program.
.PRECIOUS: $(BUILD)/lib/%.o $(BUILD)/cmd/%.o
