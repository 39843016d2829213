/*
 * index.c: fuzz the records of the index.  A template container holds a
 * valid pack of a few objects; for each input a copy of it gets an
 * index/objects.db and index/packs.db made of the input's records (of
 * any length, pointing anywhere), and every reader of the container
 * then runs on it (with MODE_WRITE also fsck --repair and a repack).
 *
 * Input: a mode byte (MODE_COMPRESSED: objects.db compressed, so that
 * its values are read as records of format 2, else of format 1), then
 * records, each a tag byte and its bytes:
 *   0ksvvvvv  an objects.db record; k: its key is the id of template
 *             object v % 4 (else 32 key bytes follow); s: a length byte
 *             and that many value bytes follow (else 32)
 *   1s......  a packs.db record; s: key and value lengths as bytes
 *             (else 4 and 8), then the key and value bytes
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <db.h>

#include "fuzz.h"

enum {
	MODE_WRITE = 1 << 0,
	MODE_COMPRESSED = 1 << 1,
};

#define TEMPLATE_OBJECTS 4

static struct dos_oid template_oids[TEMPLATE_OBJECTS];
static uint8_t *template_pack;
static size_t template_pack_len;

static void
make_template(const char *dir)
{
	static char big[8192], noise[3000];
	char path[4200];
	FILE *fp;
	long n;
	size_t i;

	for (i = 0; i < sizeof big; i++)
		big[i] = "compressible "[i % 13];
	for (i = 0; i < sizeof noise; i++)
		noise[i] = (char)(i * 2654435761u >> 13);
	fuzz_new_container(dir);
	fuzz_store(dir, "a small object", 14, 1, &template_oids[0]);
	fuzz_store(dir, big, sizeof big, 1, &template_oids[1]);
	fuzz_store(dir, noise, sizeof noise, 1, &template_oids[2]);
	fuzz_store(dir, "a fourth object", 15, 1, &template_oids[3]);
	snprintf(path, sizeof path, "%s/packs/0", dir);
	if ((fp = fopen(path, "rb")) == NULL || fseek(fp, 0, SEEK_END) < 0 ||
	    (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) < 0 ||
	    (template_pack = malloc((size_t)n)) == NULL ||
	    fread(template_pack, 1, (size_t)n, fp) != (size_t)n)
		fuzz_die("read '%s'", path);
	fclose(fp);
	template_pack_len = (size_t)n;
}

/* A new database file of the index, made without the environment. */
static DB *
open_db(const char *dir, const char *name, int compressed)
{
	char path[4200];
	DB *db;

	snprintf(path, sizeof path, "%s/index/%s", dir, name);
	if (db_create(&db, NULL, 0) != 0 ||
	    (compressed && db->set_bt_compress(db, NULL, NULL) != 0) ||
	    db->open(db, NULL, path, NULL, DB_BTREE, DB_CREATE, 0666) != 0)
		fuzz_die("create '%s'", path);
	return db;
}

static void
put(DB *db, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
	DBT k, v;

	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)klen;
	v.data = (void *)(uintptr_t)val;
	v.size = (u_int32_t)vlen;
	if (db->put(db, NULL, &k, &v, 0) != 0)
		fuzz_die("put");
}

/* Records from p[0..end); stops at the first incomplete one. */
static void
write_records(DB *objects, DB *packs, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *key;
	size_t klen, vlen;
	unsigned tag;

	while (p < end) {
		tag = *p++;
		if (tag & 0x80) {
			klen = 4;
			vlen = 8;
			if (tag & 0x40) {
				if (end - p < 2)
					return;
				klen = p[0];
				vlen = p[1];
				p += 2;
			}
			if ((size_t)(end - p) < klen + vlen)
				return;
			put(packs, p, klen, p + klen, vlen);
			p += klen + vlen;
			continue;
		}
		key = template_oids[(tag & 0x1f) % TEMPLATE_OBJECTS].hash;
		klen = DOS_RAWSZ;
		if (!(tag & 0x40)) {
			if (end - p < DOS_RAWSZ)
				return;
			key = p;
			p += DOS_RAWSZ;
		}
		vlen = 32;
		if (tag & 0x20) {
			if (end - p < 1)
				return;
			vlen = *p++;
		}
		if ((size_t)(end - p) < vlen)
			return;
		put(objects, key, klen, p, vlen);
		p += vlen;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char template[4096], dir[4096];
	char path[4200];
	DB *objects, *packs;

	if (size == 0)
		return 0;
	if (template[0] == '\0') {
		make_template(fuzz_path(template, sizeof template, "template"));
		fuzz_path(dir, sizeof dir, "container");
	}
	fuzz_new_container(dir);
	snprintf(path, sizeof path, "%s/packs/0", dir);
	fuzz_write_file(path, template_pack, template_pack_len);
	snprintf(path, sizeof path, "%s/index", dir);
	fuzz_mkdir(path);
	objects = open_db(dir, "objects.db", data[0] & MODE_COMPRESSED);
	packs = open_db(dir, "packs.db", 0);
	write_records(objects, packs, data + 1, data + size);
	if (objects->close(objects, 0) != 0 || packs->close(packs, 0) != 0)
		fuzz_die("close the databases");
	fuzz_exercise_store(dir, data[0] & MODE_WRITE);
	return 0;
}
