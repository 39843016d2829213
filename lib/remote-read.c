/*
 * remote-read.c: what a container knows of its remotes, for reading:
 * their names in config.json, the records of the packs they hold, and
 * the bytes of an evicted pack, fetched by ranged GET (pack.c reads a
 * pack that is not in packs/ through here).  Pushing, evicting and
 * cloning, above the pack writer, are remote.c's; the layout of both is
 * in its opening comment.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "dos.h"

/* Bytes of an evicted pack a sequential read fetches ahead. */
#define READ_WINDOW (256 * 1024)

int
dos_remote_name_ok(const char *name)
{
	size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

	return n > 0 && n < sizeof ((struct dos_remote *)0)->name &&
	    name[n] == '\0' && name[0] != '.';
}

int
dos_remote_parse_url(const char *url, struct dos_remote *r)
{
	const char *b, *slash;
	size_t blen, plen;

	if (strncmp(url, "s3://", 5) != 0 || strlen(url) >= sizeof r->url)
		return DOS_EINVAL;
	b = url + 5;
	slash = strchr(b, '/');
	blen = slash != NULL ? (size_t)(slash - b) : strlen(b);
	if (blen < 3 || blen >= sizeof r->bucket ||
	    strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") < blen)
		return DOS_EINVAL;
	memcpy(r->bucket, b, blen);
	r->bucket[blen] = '\0';
	r->prefix[0] = '\0';
	if (slash != NULL) {
		/* Keys are then safe in a URL as they are. */
		plen = strlen(slash + 1);
		if (strspn(slash + 1, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") < plen ||
		    strstr(slash + 1, "//") != NULL || slash[1] == '/')
			return DOS_EINVAL;
		memcpy(r->prefix, slash + 1, plen + 1);
		while (plen > 0 && r->prefix[plen - 1] == '/')
			r->prefix[--plen] = '\0';
	}
	snprintf(r->url, sizeof r->url, "s3://%s%s%s", r->bucket,
	    r->prefix[0] != '\0' ? "/" : "", r->prefix);
	return 0;
}

static void
copy_string(json_t *obj, const char *key, char *out, size_t size)
{
	const char *s = json_string_value(json_object_get(obj, key));

	snprintf(out, size, "%s", s != NULL ? s : "");
}

static int
remote_from_json(const char *name, json_t *obj, struct dos_remote *r)
{
	memset(r, 0, sizeof *r);
	if (!json_is_object(obj) || !dos_remote_name_ok(name) ||
	    dos_remote_parse_url(json_string_value(json_object_get(obj,
	    "url")) != NULL ? json_string_value(json_object_get(obj, "url")) :
	    "", r) < 0)
		return DOS_EBADCONFIG;
	snprintf(r->name, sizeof r->name, "%s", name);
	copy_string(obj, "endpoint", r->endpoint, sizeof r->endpoint);
	copy_string(obj, "region", r->region, sizeof r->region);
	r->allow_http = json_is_true(json_object_get(obj, "allow_http"));
	return 0;
}

/* config.json's remotes, a new reference, or NULL (and *rc) */
json_t *
dos_remotes_json(int dirfd, int *rc)
{
	json_t *root, *remotes;

	if ((*rc = dos_config_json(dirfd, &root)) < 0)
		return NULL;
	remotes = json_object_get(root, "remotes");
	if (remotes != NULL && !json_is_object(remotes)) {
		*rc = DOS_EBADCONFIG;
		remotes = NULL;
	} else {
		remotes = remotes != NULL ? json_deep_copy(remotes) :
		    json_object();
		*rc = remotes != NULL ? 0 : DOS_ENOMEM;
	}
	json_decref(root);
	return remotes;
}

int
dos_remote_each(struct dos_store *st, dos_remote_fn *fn, void *data)
{
	struct dos_remote r;
	const char *name;
	json_t *remotes, *v;
	int rc;

	if ((remotes = dos_remotes_json(st->dirfd, &rc)) == NULL)
		return rc;
	json_object_foreach(remotes, name, v) {
		if ((rc = remote_from_json(name, v, &r)) < 0 ||
		    (rc = fn(&r, data)) != 0)
			break;
	}
	json_decref(remotes);
	return rc < 0 ? rc : 0;
}

int
dos_remote_read_record(struct dos_store *st, const char *remote, uint32_t pack,
    struct dos_remote_record *rec)
{
	char name[128], buf[160];
	ssize_t n;
	int fd;

	snprintf(name, sizeof name, "remotes/%s/%u", remote, pack);
	if ((fd = dos_open_beneath(st->dirfd, name, O_RDONLY, 0)) < 0)
		return errno == ENOENT || errno == ENOTDIR ? DOS_ENOTFOUND :
		    DOS_EIO;
	n = dos_read_full(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return DOS_EIO;
	buf[n] = '\0';
	if (sscanf(buf, "%" SCNu64 " %64s %u", &rec->length, rec->sha256,
	    &rec->version) != 3 || strlen(rec->sha256) != DOS_HEXSZ)
		return DOS_ECORRUPT;
	return 0;
}

int
dos_remote_connect(const struct dos_remote *r, struct dos_s3 **s3)
{
	struct dos_s3_params p = { r->endpoint, r->region, r->bucket,
	    r->prefix, r->allow_http };

	return dos_s3_open(&p, s3);
}

static int
add_conn(const struct dos_remote *r, void *data)
{
	struct dos_store *st = data;
	struct dos_remote_conn *grown;

	grown = realloc(st->remote_conns, (st->remote_conns_nr + 1) *
	    sizeof *grown);
	if (grown == NULL)
		return DOS_ENOMEM;
	st->remote_conns = grown;
	memset(&grown[st->remote_conns_nr], 0, sizeof *grown);
	grown[st->remote_conns_nr].remote = *r;
	st->remote_conns_nr++;
	return 0;
}

/* The remote whose record holds pack, with that record. */
static int
find_pack(struct dos_store *st, uint32_t pack, struct dos_remote_conn **c,
    struct dos_remote_record *rec)
{
	size_t i;
	int rc;

	if (st->remote_conns == NULL &&
	    (rc = dos_remote_each(st, add_conn, st)) < 0)
		return rc;
	for (i = 0; i < st->remote_conns_nr; i++) {
		rc = dos_remote_read_record(st, st->remote_conns[i].remote.name, pack,
		    rec);
		if (rc == 0) {
			*c = &st->remote_conns[i];
			return 0;
		}
		if (rc != DOS_ENOTFOUND)
			return rc;
	}
	return DOS_ENOTFOUND;
}

int
dos_remote_pack_version(struct dos_store *st, uint32_t pack,
    unsigned *version)
{
	struct dos_remote_conn *c;
	struct dos_remote_record rec;
	int rc;

	if ((rc = find_pack(st, pack, &c, &rec)) < 0)
		return rc;
	*version = rec.version;
	return 0;
}

static ssize_t
read_done(struct dos_remote_conn *c, uint32_t pack, uint64_t off, size_t n)
{
	c->last_pack = pack;
	c->last_off = off;
	c->last_end = off + n;
	return (ssize_t)n;
}

ssize_t
dos_remote_pread(struct dos_store *st, uint32_t pack, void *buf, size_t len,
    uint64_t off)
{
	struct dos_remote_conn *c;
	struct dos_remote_record rec;
	char key[64];
	size_t got, want;
	int rc;

	if ((rc = find_pack(st, pack, &c, &rec)) < 0)
		return rc == DOS_ENOTFOUND ? DOS_ECORRUPT : rc;
	if (off >= rec.length)
		return 0;
	if (len > rec.length - off)
		len = (size_t)(rec.length - off);
	if (c->win != NULL && c->win_pack == pack && off >= c->win_off &&
	    off + len <= c->win_off + c->win_len) {
		memcpy(buf, c->win + (off - c->win_off), len);
		return read_done(c, pack, off, len);
	}
	if (c->s3 == NULL && (rc = dos_remote_connect(&c->remote, &c->s3)) < 0)
		return rc;
	snprintf(key, sizeof key, "packs/%u", pack);
	/*
	 * A small read that goes on from within the last one takes a
	 * window: one request costs milliseconds whatever its size, and
	 * what follows is read next (the rest of an object, the objects in
	 * pack order).  Random reads fetch just what they need.
	 */
	if (len >= READ_WINDOW || pack != c->last_pack || off <= c->last_off ||
	    off > c->last_end) {
		if ((rc = dos_s3_get(c->s3, key, off, len, buf, &got)) < 0)
			return rc == DOS_ENOTFOUND ? DOS_EREMOTE : rc;
		return read_done(c, pack, off, got);
	}
	if (c->win == NULL && (c->win = malloc(READ_WINDOW)) == NULL)
		return DOS_ENOMEM;
	c->win_len = 0;
	want = rec.length - off < READ_WINDOW ? (size_t)(rec.length - off) :
	    READ_WINDOW;
	if ((rc = dos_s3_get(c->s3, key, off, want, c->win, &got)) < 0)
		return rc == DOS_ENOTFOUND ? DOS_EREMOTE : rc;
	c->win_pack = pack;
	c->win_off = off;
	c->win_len = got;
	if (len > got)
		len = got;
	memcpy(buf, c->win, len);
	return read_done(c, pack, off, len);
}

int
dos_remote_pack_record(struct dos_store *st, uint32_t pack,
    struct dos_remote_record *rec)
{
	struct dos_remote_conn *c;

	return find_pack(st, pack, &c, rec);
}
