/*
 * fuzz.h: what the fuzz targets in t/fuzz/ share.  Each target defines
 * LLVMFuzzerTestOneInput(); it is linked either with libFuzzer (make
 * fuzz) or with t/fuzz/replay.c, which feeds it the kept corpus (the
 * normal test suite).  Targets build their containers in a private
 * temporary directory, removed at exit.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "dos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The set-up of a target failed: not a finding, so stop loudly. */
void fuzz_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* The target's private directory (made on first use), and name in it. */
const char *fuzz_dir(void);
/* fuzz_dir()/name, in a static buffer of the caller's choosing. */
char *fuzz_path(char *buf, size_t size, const char *name);

void fuzz_write_file(const char *path, const void *buf, size_t len);
void fuzz_mkdir(const char *path);
/* rm -rf, without following symbolic links. */
void fuzz_remove_tree(const char *path);

/* A fresh, empty dos container at path (whatever was there is gone). */
void fuzz_new_container(const char *path);

/* Store buf as one object with a pack writer (packed) or loose. */
void fuzz_store(const char *container, const void *buf, size_t len,
    int packed, struct dos_oid *oid);

/* Read an object to its end, as cat-object does; errors are expected. */
void fuzz_read_object(struct dos_store *st, const struct dos_oid *oid);

/*
 * Run every reader of a container on it: object info and contents of
 * each object in both listing orders, the counts, the listing and a
 * read-only fsck.  With write, then an fsck --repair and a repack, each
 * followed by reading every object again.
 */
void fuzz_exercise_store(const char *container, int write);

/* Little-endian integers from fuzz input. */
uint64_t fuzz_le64(const uint8_t *p);

#endif
