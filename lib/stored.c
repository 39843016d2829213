/*
 * stored.c: checking that an object's stored bytes are that object:
 * they decode, to its raw size exactly, and what they decode to hashes
 * to its id.  What dos import does to every object it is given, in the
 * calling thread for a large one, in a pack writer's threads for the
 * others.
 */
#include <stdlib.h>

#include "dos.h"

#define OUT_SIZE (256 * 1024)

int
dos_stored_check_init(struct dos_stored_check *c)
{
	int rc;

	dos_decompressor_init(&c->dec);
	if ((c->out = malloc(OUT_SIZE)) == NULL)
		return DOS_ENOMEM;
	if ((rc = dos_hasher_init(&c->hasher)) < 0) {
		free(c->out);
		c->out = NULL;
	}
	return rc;
}

void
dos_stored_check_release(struct dos_stored_check *c)
{
	dos_decompressor_release(&c->dec);
	if (c->out != NULL)
		dos_hasher_release(&c->hasher);
	free(c->out);
	c->out = NULL;
}

int
dos_stored_check_begin(struct dos_stored_check *c, enum dos_codec codec,
    uint64_t raw_size)
{
	int rc;

	c->codec = codec;
	c->raw = 0;
	c->raw_size = raw_size;
	if (codec != DOS_CODEC_NONE &&
	    (rc = dos_decompress_begin(&c->dec, codec)) < 0)
		return rc;
	return dos_hasher_reset(&c->hasher);
}

/* Decode stored bytes and hash what they decode to. */
int
dos_stored_check_feed(struct dos_stored_check *c, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t in_len, out_len;
	int rc;

	if (c->codec == DOS_CODEC_NONE) {
		c->raw += len;
		return c->raw > c->raw_size ? DOS_ECORRUPT :
		    dos_hasher_update(&c->hasher, p, len);
	}
	while (len > 0 || !c->dec.done) {
		in_len = len;
		out_len = OUT_SIZE;
		if ((rc = dos_decompress(&c->dec, p, &in_len, c->out,
		    &out_len)) < 0)
			return rc;
		if (out_len > c->raw_size - c->raw)
			return DOS_ECORRUPT;
		c->raw += out_len;
		if ((rc = dos_hasher_update(&c->hasher, c->out, out_len)) < 0)
			return rc;
		if (in_len == 0 && out_len == 0 && len > 0)
			return DOS_ECORRUPT;	/* the decoder is stuck */
		p += in_len;
		len -= in_len;
		/* Out of input, and the decoder has nothing more to give. */
		if (len == 0 && out_len == 0)
			break;
	}
	return 0;
}

/* All stored bytes are in: they must have decoded to oid, whole. */
int
dos_stored_check_end(struct dos_stored_check *c, const struct dos_oid *oid)
{
	struct dos_oid got;
	int rc;

	if ((c->codec != DOS_CODEC_NONE && !c->dec.done) ||
	    c->raw != c->raw_size)
		return DOS_ECORRUPT;
	if ((rc = dos_hasher_final(&c->hasher, &got)) < 0)
		return rc;
	return dos_oid_cmp(&got, oid) == 0 ? 0 : DOS_ECORRUPT;
}

int
dos_stored_check(struct dos_stored_check *c, enum dos_codec codec,
    uint64_t raw_size, const void *stored, size_t len,
    const struct dos_oid *oid)
{
	int rc;

	if ((rc = dos_stored_check_begin(c, codec, raw_size)) < 0 ||
	    (rc = dos_stored_check_feed(c, stored, len)) < 0)
		return rc;
	return dos_stored_check_end(c, oid);
}
