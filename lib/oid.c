/* oid.c: object ids (SHA-256) and the streaming hasher. */
#include <stdlib.h>
#include <string.h>

/*
 * OpenSSL's SHA-256 functions, not its EVP layer: the first EVP call
 * loads openssl.cnf and sets up its providers, 1-2 ms of every program
 * that hashes, more than hashing a small file takes; and the providers'
 * tables made every dos 100 page faults slower to start.  These run the
 * same assembly (SHA-NI, AVX2).  Deprecated in OpenSSL 3.0, not removed.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "dos.h"

/* Value of each hex digit, -1 for any other byte. */
static const signed char hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};
/* The table stores value + 1 so that every other byte is 0 by default. */
#define HEXVAL(c) (hexval[(unsigned char)(c)] - 1)

int
dos_is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (HEXVAL(s[i]) < 0)
			return 0;
	return 1;
}

/* Digits as dos and the legacy code write names: lower-case only. */
static const unsigned char lower_hex[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
};

int
dos_is_lower_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!lower_hex[(unsigned char)s[i]])
			return 0;
	return 1;
}

int
dos_oid_from_hex(struct dos_oid *oid, const char *hex, size_t len)
{
	size_t i;
	int hi, lo, bad = 0;

	if (len != DOS_HEXSZ)
		return DOS_EBADID;
	/* One test at the end, not one per digit: ids are hex far more often. */
	for (i = 0; i < DOS_RAWSZ; i++) {
		hi = HEXVAL(hex[2 * i]);
		lo = HEXVAL(hex[2 * i + 1]);
		bad |= hi | lo;
		oid->hash[i] = (unsigned char)((unsigned)hi << 4 | (unsigned)lo);
	}
	return bad < 0 ? DOS_EBADID : 0;
}

/* The two digits of each byte value. */
#define DIGIT_PAIRS(hi) \
	{ hi, '0' }, { hi, '1' }, { hi, '2' }, { hi, '3' }, \
	{ hi, '4' }, { hi, '5' }, { hi, '6' }, { hi, '7' }, \
	{ hi, '8' }, { hi, '9' }, { hi, 'a' }, { hi, 'b' }, \
	{ hi, 'c' }, { hi, 'd' }, { hi, 'e' }, { hi, 'f' }
static const char hexpairs[256][2] = {
	DIGIT_PAIRS('0'), DIGIT_PAIRS('1'), DIGIT_PAIRS('2'), DIGIT_PAIRS('3'),
	DIGIT_PAIRS('4'), DIGIT_PAIRS('5'), DIGIT_PAIRS('6'), DIGIT_PAIRS('7'),
	DIGIT_PAIRS('8'), DIGIT_PAIRS('9'), DIGIT_PAIRS('a'), DIGIT_PAIRS('b'),
	DIGIT_PAIRS('c'), DIGIT_PAIRS('d'), DIGIT_PAIRS('e'), DIGIT_PAIRS('f'),
};

char *
dos_oid_to_hex(const struct dos_oid *oid, char out[DOS_HEXSZ + 1])
{
	size_t i;

	for (i = 0; i < DOS_RAWSZ; i++)
		memcpy(out + 2 * i, hexpairs[oid->hash[i]], 2);
	out[DOS_HEXSZ] = '\0';
	return out;
}

int
dos_oid_cmp(const struct dos_oid *a, const struct dos_oid *b)
{
	return memcmp(a->hash, b->hash, DOS_RAWSZ);
}

unsigned
dos_oid_bucket_bits(size_t n)
{
	unsigned bits = 0;

	while (bits < 16 && ((size_t)1 << bits) < n)
		bits++;
	return bits;
}

unsigned
dos_oid_bucket(const struct dos_oid *oid, unsigned bits)
{
	return (unsigned)(oid->hash[0] << 8 | oid->hash[1]) >> (16 - bits);
}

int
dos_oid_list_push(struct dos_oid_list *l, const struct dos_oid *oid)
{
	struct dos_oid *grown;

	grown = dos_grow(l->oids, l->nr, &l->alloc, sizeof *grown, 1024);
	if (grown == NULL)
		return DOS_ENOMEM;
	l->oids = grown;
	l->oids[l->nr++] = *oid;
	return 0;
}

int
dos_hasher_init(struct dos_hasher *h)
{
	if ((h->ctx = malloc(sizeof(SHA256_CTX))) == NULL)
		return DOS_ENOMEM;
	return dos_hasher_reset(h);
}

int
dos_hasher_reset(struct dos_hasher *h)
{
	return SHA256_Init(h->ctx) == 1 ? 0 : DOS_ENOMEM;
}

int
dos_hasher_update(struct dos_hasher *h, const void *buf, size_t len)
{
	return SHA256_Update(h->ctx, buf, len) == 1 ? 0 : DOS_ENOMEM;
}

int
dos_hasher_final(struct dos_hasher *h, struct dos_oid *oid)
{
	return SHA256_Final(oid->hash, h->ctx) == 1 ? 0 : DOS_ENOMEM;
}

void
dos_hasher_release(struct dos_hasher *h)
{
	free(h->ctx);
	h->ctx = NULL;
}
