/*
 * codec.c: per-object compression.  zstd is the default, zlib is kept for
 * legacy containers and for data it suits better, none for data that does
 * not shrink.  Small objects are compressed in one call; large ones are
 * streamed through fixed buffers in both directions.
 */
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>

#include "dos.h"

/* Compression must save at least this share to be worth a decode. */
#define WORTH_NUM 9
#define WORTH_DEN 10
/* Below this size the frame overhead eats any gain. */
#define MIN_COMPRESS_SIZE 64

/*
 * zlib 1, as the legacy store.  zstd 2, not zstd's own 3: on objects of a
 * few KiB level 3 finds nothing more (D1 of the benchmark: 0.1% larger)
 * and costs 1.4 times the time; on large objects it saves 0.3-0.5%.
 */
#define DEFAULT_ZSTD_LEVEL 2

static int
default_level(enum dos_codec codec, int level)
{
	if (level > 0)
		return level;
	return codec == DOS_CODEC_ZLIB ? 1 : DEFAULT_ZSTD_LEVEL;
}

/*
 * An object streamed at level 2, the default, gets a window of 8 MiB,
 * where level 2 has 1 MiB, and a hash table of 2^17 entries, not 2^16:
 * the benchmark's 195 large real files (binaries and archives of up to 8
 * MiB) took 506.57 MB instead of 509.49 MB, for 3% more CPU time (level
 * 3: 503.24 MB, for 40% more).  Smaller objects are compressed in one
 * call, with a window of their whole size already, and the larger table
 * found them nothing (0.1%).  A context that streamed an object goes on
 * to compress small ones: each object sets the parameters it needs.
 */
#define STREAM_WINDOW_LOG 23
#define STREAM_HASH_LOG 17

static void
zstd_window(struct dos_compressor *c, int streamed)
{
	int wide = streamed && c->level == DEFAULT_ZSTD_LEVEL;

	ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_windowLog,
	    wide ? STREAM_WINDOW_LOG : 0);
	ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_hashLog,
	    wide ? STREAM_HASH_LOG : 0);
}

size_t
dos_codec_bound(enum dos_codec codec, size_t len)
{
	switch (codec) {
	case DOS_CODEC_ZSTD:
		return ZSTD_compressBound(len);
	case DOS_CODEC_ZLIB:
		return compressBound((uLong)len);
	case DOS_CODEC_NONE:
		break;
	}
	return len;
}

/*
 * Data that is already compressed or random does not shrink again.  Not
 * zip: its archives often store their members as they are (a JDK's
 * jmods and ct.sym, lib.zip of license texts), and the benchmark's large
 * real files were 3 MB larger than git's for not trying them; the trial
 * tells.
 */
static int
looks_compressed(const unsigned char *p, size_t len)
{
	static const struct {
		const char *magic;
		size_t len;
	} magics[] = {
		{ "\x28\xb5\x2f\xfd", 4 },	/* zstd */
		{ "\x1f\x8b", 2 },		/* gzip */
		{ "\x89PNG", 4 },
		{ "\xff\xd8\xff", 3 },		/* JPEG */
		{ "\xfd" "7zXZ", 5 },		/* xz */
		{ "BZh", 3 },
	};
	size_t i;

	for (i = 0; i < sizeof magics / sizeof *magics; i++)
		if (len >= magics[i].len &&
		    memcmp(p, magics[i].magic, magics[i].len) == 0)
			return 1;
	return 0;
}

int
dos_codec_worth_trying(const void *buf, size_t len)
{
	return len >= MIN_COMPRESS_SIZE && !looks_compressed(buf, len);
}

int
dos_codec_pays(size_t raw, size_t stored)
{
	return stored * WORTH_DEN <= raw * WORTH_NUM;
}

int
dos_parse_compress_mode(const char *s, int allow_keep, int *mode)
{
	if (strcmp(s, "auto") == 0)
		*mode = DOS_COMPRESS_AUTO;
	else if (strcmp(s, "always") == 0 || strcmp(s, "yes") == 0)
		*mode = DOS_COMPRESS_ALWAYS;
	else if (strcmp(s, "never") == 0 || strcmp(s, "no") == 0)
		*mode = DOS_COMPRESS_NEVER;
	else if (allow_keep && strcmp(s, "keep") == 0)
		*mode = DOS_COMPRESS_KEEP;
	else
		return DOS_EINVAL;
	return 0;
}

int
dos_compressor_init(struct dos_compressor *c, enum dos_codec codec, int level)
{
	memset(c, 0, sizeof *c);
	c->codec = codec;
	c->level = default_level(codec, level);
	if (codec == DOS_CODEC_ZSTD) {
		if ((c->zstd = ZSTD_createCCtx()) == NULL)
			return DOS_ENOMEM;
		ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_compressionLevel, c->level);
		/*
		 * The entry names the dictionary: the frame need not, and
		 * its 4 bytes are much on an object of 200.
		 */
		ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_dictIDFlag, 0);
	}
	return 0;
}

void
dos_compressor_release(struct dos_compressor *c)
{
	if (c->zstd != NULL)
		ZSTD_freeCCtx(c->zstd);
	if (c->zlib != NULL) {
		deflateEnd(c->zlib);
		free(c->zlib);
	}
	free(c->spare);
	memset(c, 0, sizeof *c);
}

int
dos_compress(struct dos_compressor *c, void *dst, size_t dst_len,
    const void *src, size_t len, size_t *out)
{
	uLongf zlen = (uLongf)dst_len;
	const struct dos_dict *dict;
	size_t n;

	c->dict = 0;
	switch (c->codec) {
	case DOS_CODEC_ZSTD:
		/* What the writer may learn a dictionary from. */
		dos_dicts_offer(c->dicts, src, len);
		dict = len <= DOS_DICT_OBJECT_MAX ? dos_dicts_current(c->dicts) :
		    NULL;
		ZSTD_CCtx_reset(c->zstd, ZSTD_reset_session_only);
		zstd_window(c, 0);
		if (dict != NULL) {
			c->dict = dict->number;
			return dos_dict_compress(dict, c->zstd, dst, dst_len,
			    src, len, &c->spare, out);
		}
		ZSTD_CCtx_refCDict(c->zstd, NULL);
		n = ZSTD_compress2(c->zstd, dst, dst_len, src, len);
		if (ZSTD_isError(n))
			return DOS_EINVAL;
		*out = n;
		return 0;
	case DOS_CODEC_ZLIB:
		if (compress2(dst, &zlen, src, (uLong)len, c->level) != Z_OK)
			return DOS_EINVAL;
		*out = zlen;
		return 0;
	case DOS_CODEC_NONE:
		break;
	}
	return DOS_EINVAL;
}

int
dos_compress_group(struct dos_compressor *c, void *dst, void *scratch,
    size_t dst_len, const void *src, size_t len, size_t *out)
{
	const struct dos_dict *dict;
	size_t n, with;
	int rc;

	/* Not offered for training: a group is no object. */
	if (c->codec != DOS_CODEC_ZSTD)
		return dos_compress(c, dst, dst_len, src, len, out);
	c->dict = 0;
	ZSTD_CCtx_reset(c->zstd, ZSTD_reset_session_only);
	zstd_window(c, 0);
	ZSTD_CCtx_refCDict(c->zstd, NULL);
	n = ZSTD_compress2(c->zstd, dst, dst_len, src, len);
	if (ZSTD_isError(n))
		return DOS_EINVAL;
	*out = n;
	/* A dictionary helps a group's first members, not always the whole. */
	dict = len <= DOS_DICT_INPUT_MAX ? dos_dicts_current(c->dicts) : NULL;
	if (dict == NULL)
		return 0;
	if ((rc = dos_dict_compress(dict, c->zstd, scratch, dst_len, src, len,
	    &c->spare, &with)) < 0)
		return rc;
	if (with < n) {
		memcpy(dst, scratch, with);
		*out = with;
		c->dict = dict->number;
	}
	return 0;
}

int
dos_compress_stream_begin(struct dos_compressor *c)
{
	switch (c->codec) {
	case DOS_CODEC_ZSTD:
		/* Large objects go without: the dictionary is for small ones. */
		ZSTD_CCtx_reset(c->zstd, ZSTD_reset_session_only);
		ZSTD_CCtx_refCDict(c->zstd, NULL);
		zstd_window(c, 1);
		return 0;
	case DOS_CODEC_ZLIB:
		if (c->zlib == NULL) {
			if ((c->zlib = calloc(1, sizeof(z_stream))) == NULL)
				return DOS_ENOMEM;
			if (deflateInit(c->zlib, c->level) != Z_OK) {
				free(c->zlib);
				c->zlib = NULL;
				return DOS_ENOMEM;
			}
			return 0;
		}
		return deflateReset(c->zlib) == Z_OK ? 0 : DOS_EINVAL;
	case DOS_CODEC_NONE:
		break;
	}
	return DOS_EINVAL;
}

int
dos_compress_stream(struct dos_compressor *c, const void *src, size_t len,
    int last, dos_sink_fn *sink, void *data)
{
	unsigned char out[1 << 16];
	ZSTD_inBuffer in = { src, len, 0 };
	ZSTD_outBuffer ob;
	z_stream *z = c->zlib;
	size_t left;
	int rc, zrc;

	if (c->codec == DOS_CODEC_ZSTD) {
		do {
			ob = (ZSTD_outBuffer){ out, sizeof out, 0 };
			left = ZSTD_compressStream2(c->zstd, &ob, &in,
			    last ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(left))
				return DOS_EINVAL;
			if (ob.pos > 0 && (rc = sink(data, out, ob.pos)) < 0)
				return rc;
		} while (last ? left != 0 : in.pos < in.size);
		return 0;
	}
	z->next_in = (Bytef *)(uintptr_t)src;
	z->avail_in = (uInt)len;
	do {
		z->next_out = out;
		z->avail_out = sizeof out;
		zrc = deflate(z, last ? Z_FINISH : Z_NO_FLUSH);
		if (zrc == Z_STREAM_ERROR)
			return DOS_EINVAL;
		if (sizeof out - z->avail_out > 0 &&
		    (rc = sink(data, out, sizeof out - z->avail_out)) < 0)
			return rc;
	} while (last ? zrc != Z_STREAM_END : z->avail_in > 0 || z->avail_out == 0);
	return 0;
}

int
dos_decompressor_init(struct dos_decompressor *d)
{
	memset(d, 0, sizeof *d);
	return 0;
}

void
dos_decompressor_release(struct dos_decompressor *d)
{
	if (d->zstd != NULL)
		ZSTD_freeDCtx(d->zstd);
	if (d->zlib != NULL) {
		inflateEnd(d->zlib);
		free(d->zlib);
	}
	memset(d, 0, sizeof *d);
}

int
dos_decompress_begin(struct dos_decompressor *d, enum dos_codec codec)
{
	return dos_decompress_begin_dict(d, codec, NULL);
}

int
dos_decompress_begin_dict(struct dos_decompressor *d, enum dos_codec codec,
    const struct dos_dict *dict)
{
	if (dict != NULL && codec != DOS_CODEC_ZSTD)
		return DOS_EINVAL;
	d->codec = codec;
	d->done = codec == DOS_CODEC_NONE;
	d->streaming = 0;
	switch (codec) {
	case DOS_CODEC_ZSTD:
		if (d->zstd == NULL && (d->zstd = ZSTD_createDCtx()) == NULL)
			return DOS_ENOMEM;
		ZSTD_DCtx_reset(d->zstd, ZSTD_reset_session_only);
		/* A decompressor reused keeps no dictionary of the last. */
		ZSTD_DCtx_refDDict(d->zstd, dict != NULL ? dict->ddict : NULL);
		return 0;
	case DOS_CODEC_ZLIB:
		if (d->zlib == NULL) {
			if ((d->zlib = calloc(1, sizeof(z_stream))) == NULL)
				return DOS_ENOMEM;
			if (inflateInit(d->zlib) != Z_OK) {
				free(d->zlib);
				d->zlib = NULL;
				return DOS_ENOMEM;
			}
			return 0;
		}
		return inflateReset(d->zlib) == Z_OK ? 0 : DOS_EINVAL;
	case DOS_CODEC_NONE:
		return 0;
	}
	return DOS_EINVAL;
}

int
dos_decompress(struct dos_decompressor *d, const void *src, size_t *src_len,
    void *dst, size_t *dst_len)
{
	ZSTD_inBuffer in = { src, *src_len, 0 };
	ZSTD_outBuffer out = { dst, *dst_len, 0 };
	z_stream *z = d->zlib;
	unsigned long long size;
	size_t left, frame;
	int zrc;

	if (d->done) {
		/* Bytes after the end of the stream are damage. */
		*dst_len = 0;
		return *src_len > 0 ? DOS_ECORRUPT : 0;
	}
	if (d->codec == DOS_CODEC_ZSTD && !d->streaming) {
		/*
		 * A whole frame at hand and room for all it holds: decode it
		 * in one call, which for small objects is much faster than
		 * the stream (no copy through the window buffer).
		 */
		frame = ZSTD_findFrameCompressedSize(src, *src_len);
		size = ZSTD_getFrameContentSize(src, *src_len);
		if (!ZSTD_isError(frame) && size <= *dst_len) {
			left = ZSTD_decompressDCtx(d->zstd, dst, *dst_len, src, frame);
			if (ZSTD_isError(left) || left != size)
				return DOS_ECORRUPT;
			d->done = 1;
			*src_len = frame;
			*dst_len = left;
			return 0;
		}
	}
	d->streaming = 1;
	if (d->codec == DOS_CODEC_ZSTD) {
		left = ZSTD_decompressStream(d->zstd, &out, &in);
		if (ZSTD_isError(left))
			return DOS_ECORRUPT;
		d->done = left == 0;
		*src_len = in.pos;
		*dst_len = out.pos;
		return 0;
	}
	z->next_in = (Bytef *)(uintptr_t)src;
	z->avail_in = (uInt)*src_len;
	z->next_out = dst;
	z->avail_out = (uInt)*dst_len;
	zrc = inflate(z, Z_NO_FLUSH);
	if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR)
		return DOS_ECORRUPT;
	d->done = zrc == Z_STREAM_END;
	*src_len -= z->avail_in;
	*dst_len -= z->avail_out;
	return 0;
}

uint32_t
dos_crc32_combine(uint32_t crc1, uint32_t crc2, uint64_t len2)
{
	return (uint32_t)crc32_combine(crc1, crc2, (z_off_t)len2);
}

/*
 * libdeflate's CRC-32 folds with the CPU's carry-less multiply where it
 * has one: zlib's table-driven crc32() ran at about 1.5 GB/s, and checking
 * the stored bytes of every small object read was a fifth of its time.
 */
uint32_t
dos_crc32(uint32_t crc, const void *buf, size_t len)
{
	return libdeflate_crc32(crc, buf, len);
}
