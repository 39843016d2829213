/* oid.c: object ids (SHA-256) and the streaming hasher. */
#include <string.h>

#include <openssl/evp.h>

#include "dos.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
dos_is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (hexval((unsigned char)s[i]) < 0)
			return 0;
	return 1;
}

int
dos_oid_from_hex(struct dos_oid *oid, const char *hex, size_t len)
{
	size_t i;

	if (len != DOS_HEXSZ || !dos_is_hex(hex, len))
		return DOS_EBADID;
	for (i = 0; i < DOS_RAWSZ; i++)
		oid->hash[i] = (unsigned char)(hexval((unsigned char)hex[2 * i]) << 4 |
		    hexval((unsigned char)hex[2 * i + 1]));
	return 0;
}

char *
dos_oid_to_hex(const struct dos_oid *oid, char out[DOS_HEXSZ + 1])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < DOS_RAWSZ; i++) {
		out[2 * i] = digits[oid->hash[i] >> 4];
		out[2 * i + 1] = digits[oid->hash[i] & 15];
	}
	out[DOS_HEXSZ] = '\0';
	return out;
}

int
dos_oid_cmp(const struct dos_oid *a, const struct dos_oid *b)
{
	return memcmp(a->hash, b->hash, DOS_RAWSZ);
}

int
dos_hasher_init(struct dos_hasher *h)
{
	if ((h->ctx = EVP_MD_CTX_new()) == NULL)
		return DOS_ENOMEM;
	return dos_hasher_reset(h);
}

int
dos_hasher_reset(struct dos_hasher *h)
{
	return EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1 ?
	    0 : DOS_ENOMEM;
}

int
dos_hasher_update(struct dos_hasher *h, const void *buf, size_t len)
{
	return EVP_DigestUpdate(h->ctx, buf, len) == 1 ? 0 : DOS_ENOMEM;
}

int
dos_hasher_final(struct dos_hasher *h, struct dos_oid *oid)
{
	unsigned int len = DOS_RAWSZ;

	return EVP_DigestFinal_ex(h->ctx, oid->hash, &len) == 1 ?
	    0 : DOS_ENOMEM;
}

void
dos_hasher_release(struct dos_hasher *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}
