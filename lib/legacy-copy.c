/*
 * legacy-copy.c: verifying one copy of a legacy object, as the migration
 * reads it: its stored bytes are decoded (zlib, or zstd frames under the
 * same flag), counted against the recorded size and hashed against the
 * key.  One verifier per thread holds the decoders and digests.
 */
#include <stdlib.h>
#include <string.h>

#include "legacy-int.h"

static const unsigned char zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

/* ---- the verifier of a thread ---- */

int
verifier_init(struct verifier *v, const struct dos_legacy *lg)
{
	memset(v, 0, sizeof *v);
	v->md = lg->md;
	if ((v->key_md = EVP_MD_CTX_new()) == NULL ||
	    (v->zd = ZSTD_createDCtx()) == NULL ||
	    (v->buf = malloc(SMALL_MAX + 1)) == NULL ||
	    (lg->cfg.hash == DOS_LEGACY_SHA1 && dos_hasher_init(&v->id_md) < 0) ||
	    inflateInit(&v->zs) != Z_OK)
		return DOS_ENOMEM;
	v->zs_ready = 1;
	return 0;
}

void
verifier_release(struct verifier *v)
{
	EVP_MD_CTX_free(v->key_md);
	if (v->id_md.ctx != NULL)
		dos_hasher_release(&v->id_md);
	if (v->zs_ready)
		inflateEnd(&v->zs);
	ZSTD_freeDCtx(v->zd);
	dos_compressor_release(&v->comp);
	free(v->buf);
	memset(v, 0, sizeof *v);
}

/* ---- one copy ---- */

int
copy_bad(struct copy *c, enum dos_legacy_problem problem)
{
	c->problem = problem;
	return COPY_BAD;
}

/*
 * Start verifying a copy whose stored bytes begin with head[0..n):
 * rsdos stores zstd frames under the same "compressed" flag as zlib
 * streams, so the magic number tells them apart.
 */
int
copy_begin(struct copy *c, struct verifier *v, int compressed,
    const unsigned char *head, size_t n, uint64_t expect_size)
{
	memset(c, 0, sizeof *c);
	c->v = v;
	c->expect_size = expect_size;
	c->problem = DOS_LEGACY_CORRUPT;
	if (!compressed)
		c->codec = DOS_CODEC_NONE;
	else if (n >= sizeof zstd_magic && memcmp(head, zstd_magic,
	    sizeof zstd_magic) == 0)
		c->codec = DOS_CODEC_ZSTD;
	else
		c->codec = DOS_CODEC_ZLIB;
	if (EVP_DigestInit_ex(v->key_md, v->md, NULL) != 1 ||
	    (v->id_md.ctx != NULL && dos_hasher_reset(&v->id_md) < 0) ||
	    (c->codec == DOS_CODEC_ZLIB && inflateReset(&v->zs) != Z_OK))
		return DOS_ENOMEM;
	if (c->codec == DOS_CODEC_ZSTD)
		ZSTD_DCtx_reset(v->zd, ZSTD_reset_session_only);
	return 0;
}

/* Decoded bytes of the object: count, hash, pass on. */
static int
emit(struct copy *c, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	/* A bad stream must not run on past the recorded size. */
	if (len > c->expect_size - c->count)
		return copy_bad(c, DOS_LEGACY_SIZE_MISMATCH);
	c->count += len;
	if (EVP_DigestUpdate(c->v->key_md, buf, len) != 1 ||
	    (c->v->id_md.ctx != NULL &&
	    dos_hasher_update(&c->v->id_md, buf, len) < 0))
		return DOS_ENOMEM;
	return c->w != NULL ? dos_pack_writer_write(c->w, buf, len) : 0;
}

/*
 * Where the decoder writes next.  In memory the whole object stays in
 * v->buf, one byte longer than the largest size that fits, so that a
 * stream longer than its recorded size is caught by emit().
 */
static unsigned char *
out_room(struct copy *c, size_t *room)
{
	if (!c->in_memory) {
		*room = SMALL_MAX;
		return c->v->buf;
	}
	*room = SMALL_MAX + 1 - (size_t)c->count;
	return c->v->buf + c->count;
}

static int
inflate_input(struct copy *c, const unsigned char *in, size_t len)
{
	z_stream *zs = &c->v->zs;
	unsigned char *out;
	size_t room;
	int zrc, rc;

	if (c->done)
		return copy_bad(c, DOS_LEGACY_TRAILING);
	zs->next_in = (unsigned char *)in;
	zs->avail_in = (uInt)len;
	do {
		out = out_room(c, &room);
		zs->next_out = out;
		zs->avail_out = (uInt)room;
		zrc = inflate(zs, Z_NO_FLUSH);
		if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR)
			return copy_bad(c, DOS_LEGACY_CORRUPT);
		if ((rc = emit(c, out, room - zs->avail_out)) != 0)
			return rc;
		if (zrc == Z_STREAM_END) {
			c->done = 1;
			return zs->avail_in > 0 ?
			    copy_bad(c, DOS_LEGACY_TRAILING) : 0;
		}
		if (zrc == Z_BUF_ERROR && zs->avail_in > 0)
			return copy_bad(c, DOS_LEGACY_CORRUPT);
	} while (zs->avail_in > 0 || zs->avail_out == 0);
	return 0;
}

/* zstd input; the legacy reader accepts frames one after another. */
static int
zstd_input(struct copy *c, const unsigned char *in, size_t len)
{
	ZSTD_inBuffer zin = { in, len, 0 };
	ZSTD_outBuffer zout;
	size_t zrc, room;
	int rc;

	do {
		if (c->done && zin.pos < zin.size)
			c->multi_frame = 1;
		zout.dst = out_room(c, &room);
		zout.size = room;
		zout.pos = 0;
		zrc = ZSTD_decompressStream(c->v->zd, &zout, &zin);
		if (ZSTD_isError(zrc))
			return copy_bad(c, DOS_LEGACY_CORRUPT);
		if ((rc = emit(c, zout.dst, zout.pos)) != 0)
			return rc;
		c->done = zrc == 0;
	} while (zin.pos < zin.size || zout.pos == zout.size);
	return 0;
}

/* Stored bytes of the copy, in order. */
int
copy_feed(struct copy *c, const unsigned char *in, size_t len)
{
	switch (c->codec) {
	case DOS_CODEC_ZLIB:
		return inflate_input(c, in, len);
	case DOS_CODEC_ZSTD:
		return zstd_input(c, in, len);
	case DOS_CODEC_NONE:
		break;
	}
	return emit(c, in, len);
}

/*
 * Every stored byte was fed: is the copy whole, of its recorded size and
 * does it hash to its key?  If so, *oid gets its dos id.
 */
int
copy_end(struct copy *c, const char *key, struct dos_oid *oid)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen, i;

	if (c->codec != DOS_CODEC_NONE && !c->done)
		return copy_bad(c, DOS_LEGACY_CORRUPT);
	if (c->count != c->expect_size)
		return copy_bad(c, DOS_LEGACY_SIZE_MISMATCH);
	if (EVP_DigestFinal_ex(c->v->key_md, digest, &dlen) != 1)
		return DOS_ENOMEM;
	if (2 * (size_t)dlen != strlen(key))
		return copy_bad(c, DOS_LEGACY_HASH_MISMATCH);
	for (i = 0; i < dlen; i++)
		if (key[2 * i] != digits[digest[i] >> 4] ||
		    key[2 * i + 1] != digits[digest[i] & 15])
			return copy_bad(c, DOS_LEGACY_HASH_MISMATCH);
	/* A sha256 key is the id; a sha1 one says nothing about it. */
	if (c->v->id_md.ctx != NULL)
		return dos_hasher_final(&c->v->id_md, oid);
	memcpy(oid->hash, digest, DOS_RAWSZ);
	return 0;
}

/*
 * With --keep-compression a compressed copy is stored as it is: the
 * zlib streams of the legacy code are RFC 1950 streams, as dos's zlib
 * codec reads them, and rsdos's zstd is dos's when it is a single frame.
 * Stored bytes that do not save dos's 10% are no better than the raw
 * bytes, which are then stored instead.
 */
int
keepable(enum dos_codec codec, uint64_t raw, uint64_t stored)
{
	return codec != DOS_CODEC_NONE && dos_codec_pays(raw, stored);
}

