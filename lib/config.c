/* config.c: config.json, read and written with jansson. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sys/random.h>

#include "dos.h"

#define CONFIG_MAX_BYTES (64 * 1024)

int
dos_config_init(struct dos_config *cfg)
{
	unsigned char raw[16];
	static const char digits[] = "0123456789abcdef";
	int i;

	memset(cfg, 0, sizeof *cfg);
	cfg->version = DOS_CONTAINER_VERSION;
	cfg->loose_prefix_len = DOS_DEFAULT_PREFIX_LEN;
	cfg->pack_size_target = DOS_DEFAULT_PACK_SIZE;
	cfg->codec = DOS_CODEC_ZSTD;
	cfg->level = 0;
	cfg->remote_cache_size = DOS_REMOTE_CACHE_AUTO;
	/* The kernel's: OpenSSL's generator would load its providers. */
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return DOS_EIO;
	for (i = 0; i < 16; i++) {
		cfg->id[2 * i] = digits[raw[i] >> 4];
		cfg->id[2 * i + 1] = digits[raw[i] & 15];
	}
	cfg->id[32] = '\0';
	return 0;
}

const char *
dos_codec_name(enum dos_codec codec)
{
	switch (codec) {
	case DOS_CODEC_NONE:
		return "none";
	case DOS_CODEC_ZLIB:
		return "zlib";
	case DOS_CODEC_ZSTD:
		return "zstd";
	}
	return "unknown";
}

int
dos_codec_parse(const char *spec, enum dos_codec *codec, int *level)
{
	const char *sep = strpbrk(spec, ":+");
	size_t namelen = sep != NULL ? (size_t)(sep - spec) : strlen(spec);
	char *end;
	long lv = 0;
	int max;

	if (namelen == 4 && strncmp(spec, "none", 4) == 0) {
		*codec = DOS_CODEC_NONE;
		max = 0;
	} else if (namelen == 4 && strncmp(spec, "zlib", 4) == 0) {
		*codec = DOS_CODEC_ZLIB;
		max = 9;
	} else if (namelen == 4 && strncmp(spec, "zstd", 4) == 0) {
		*codec = DOS_CODEC_ZSTD;
		max = 22;
	} else {
		return DOS_EINVAL;
	}
	if (sep != NULL) {
		errno = 0;
		lv = strtol(sep + 1, &end, 10);
		if (sep[1] == '\0' || *end != '\0' || errno != 0 ||
		    lv < 1 || lv > max)
			return DOS_EINVAL;
	}
	*level = (int)lv;
	return 0;
}

void
dos_codec_format(const struct dos_config *cfg, char *buf, size_t size)
{
	if (cfg->level > 0)
		snprintf(buf, size, "%s:%d", dos_codec_name(cfg->codec),
		    cfg->level);
	else
		snprintf(buf, size, "%s", dos_codec_name(cfg->codec));
}

int
dos_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return DOS_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return DOS_EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	default:
		return DOS_EINVAL;
	}
	if (shift != 0 && end[1] != '\0')
		return DOS_EINVAL;
	if (v > (UINT64_MAX >> shift))
		return DOS_EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* Take an integer member; 0 if absent (*present says which). */
static int
get_int(json_t *root, const char *key, long long min, long long max,
    long long *out, int *present)
{
	json_t *v = json_object_get(root, key);

	*present = v != NULL;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return DOS_EBADCONFIG;
	*out = json_integer_value(v);
	if (*out < min || *out > max)
		return DOS_EBADCONFIG;
	return 0;
}

static int
parse_config(json_t *root, struct dos_config *cfg)
{
	json_t *v;
	long long n;
	int present;
	const char *s;

	if (!json_is_object(root))
		return DOS_EBADCONFIG;
	/* Only dos writes dos_format; its absence marks a legacy config. */
	v = json_object_get(root, "dos_format");
	if (v == NULL)
		return DOS_ENOTCONTAINER;
	if (!json_is_integer(v) ||
	    json_integer_value(v) < DOS_CONTAINER_VERSION ||
	    json_integer_value(v) > DOS_CONTAINER_VERSION_GROUPS)
		return DOS_EBADCONFIG;
	memset(cfg, 0, sizeof *cfg);
	cfg->version = (int)json_integer_value(v);

	if (get_int(root, "loose_prefix_len", 0, DOS_MAX_PREFIX_LEN, &n,
	    &present) < 0 || !present)
		return DOS_EBADCONFIG;
	cfg->loose_prefix_len = (int)n;
	if (get_int(root, "pack_size_target", 1, INT64_MAX, &n,
	    &present) < 0 || !present)
		return DOS_EBADCONFIG;
	cfg->pack_size_target = (uint64_t)n;

	v = json_object_get(root, "hash_type");
	if (!json_is_string(v) || strcmp(json_string_value(v), "sha256") != 0)
		return DOS_EBADCONFIG;
	v = json_object_get(root, "container_id");
	if (!json_is_string(v))
		return DOS_EBADCONFIG;
	s = json_string_value(v);
	if (strlen(s) != 32 || !dos_is_hex(s, 32))
		return DOS_EBADCONFIG;
	memcpy(cfg->id, s, 33);
	v = json_object_get(root, "compression_algorithm");
	if (!json_is_string(v) ||
	    dos_codec_parse(json_string_value(v), &cfg->codec, &cfg->level) < 0)
		return DOS_EBADCONFIG;
	/* Absent, it is sized for the machine when a read needs it. */
	if (get_int(root, "remote_cache_size", 0, INT64_MAX, &n,
	    &present) < 0)
		return DOS_EBADCONFIG;
	cfg->remote_cache_size = present ? (uint64_t)n : DOS_REMOTE_CACHE_AUTO;
	return 0;
}

int
dos_config_json(int dirfd, json_t **root)
{
	struct stat sb;
	char *buf;
	ssize_t n;
	int fd;

	fd = openat(dirfd, "config.json",
	    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? DOS_ENOTCONTAINER : DOS_EIO;
	/* A FIFO or a device would have dos wait or read forever. */
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return DOS_EBADCONFIG;
	}
	if ((buf = malloc(CONFIG_MAX_BYTES + 1)) == NULL) {
		close(fd);
		return DOS_ENOMEM;
	}
	n = dos_read_full(fd, buf, CONFIG_MAX_BYTES + 1);
	close(fd);
	if (n < 0) {
		free(buf);
		return DOS_EIO;
	}
	*root = n <= CONFIG_MAX_BYTES ?
	    json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL) : NULL;
	free(buf);
	return *root != NULL ? 0 : DOS_EBADCONFIG;
}

int
dos_config_read(int dirfd, struct dos_config *cfg)
{
	json_t *root;
	int rc;

	if ((rc = dos_config_json(dirfd, &root)) < 0)
		return rc;
	rc = parse_config(root, cfg);
	json_decref(root);
	return rc;
}

/*
 * root as config.json: indented by two spaces, with a newline, into
 * config.json.tmp, synced and renamed over config.json, and the
 * directory synced: a reader sees the old file or the new, never a part.
 */
static int
write_root(int dirfd, json_t *root)
{
	char *text;
	size_t len;
	int fd, rc, saved;
	const char *tmp = "config.json.tmp";

	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text == NULL)
		return DOS_ENOMEM;
	/* A killed writer's file is read-only: it goes first. */
	if (dos_step_unlink("config-tmp-unlink", dirfd, tmp) < 0 &&
	    errno != ENOENT)
		fd = -1;
	else
		fd = dos_step_create("config-create", dirfd, tmp,
		    O_WRONLY | O_EXCL, 0444);
	if (fd < 0) {
		free(text);
		return DOS_EIO;
	}
	len = strlen(text);
	rc = dos_step_pwrite("config-write", fd, text, len, 0) < 0 ||
	    dos_step_pwrite("config-write", fd, "\n", 1, len) < 0 ||
	    dos_step_fsync("config-fsync", fd) < 0 ? DOS_EIO : 0;
	free(text);
	if (close(fd) < 0 && rc == 0)
		rc = DOS_EIO;
	if (rc == 0 && dos_step_rename("config-rename", dirfd, tmp, dirfd,
	    "config.json", 0) < 0)
		rc = DOS_EIO;
	if (rc == 0)
		rc = dos_fsync_dir("config-dir-fsync", dirfd, ".");
	if (rc < 0) {
		saved = errno;
		dos_step_unlink("config-tmp-unlink", dirfd, tmp);
		errno = saved;
	}
	return rc;
}

int
dos_config_write(int dirfd, const struct dos_config *cfg)
{
	char codec[32];
	json_t *root;
	int rc;

	dos_codec_format(cfg, codec, sizeof codec);
	root = json_pack("{s:i, s:i, s:I, s:s, s:s, s:s, s:i}",
	    "container_version", DOS_CONTAINER_VERSION,
	    "loose_prefix_len", cfg->loose_prefix_len,
	    "pack_size_target", (json_int_t)cfg->pack_size_target,
	    "hash_type", "sha256",
	    "container_id", cfg->id,
	    "compression_algorithm", codec,
	    "dos_format", cfg->version);
	if (root == NULL)
		return DOS_ENOMEM;
	rc = write_root(dirfd, root);
	json_decref(root);
	return rc;
}

/*
 * In the order of config.json.  container_version is not one: dos writes
 * it for the legacy format and never reads it.
 */
const struct dos_setting dos_settings[] = {
	{ "loose_prefix_len", DOS_SETTING_PREFIX_LEN,
	    "the loose objects already stored are found by it" },
	{ "pack_size_target", DOS_SETTING_PACK_SIZE, NULL },
	{ "hash_type", DOS_SETTING_HASH,
	    "object ids are SHA-256, the only hash dos knows" },
	{ "container_id", DOS_SETTING_ID,
	    "it names the container for its whole life" },
	{ "compression_algorithm", DOS_SETTING_COMPRESSION, NULL },
	{ "dos_format", DOS_SETTING_FORMAT,
	    "it is the format of the container's layout" },
	{ "remote_cache_size", DOS_SETTING_REMOTE_CACHE, NULL },
	{ NULL, 0, NULL }
};

const struct dos_setting *
dos_setting_find(const char *key)
{
	const struct dos_setting *s;

	for (s = dos_settings; s->key != NULL; s++)
		if (strcmp(s->key, key) == 0)
			return s;
	return NULL;
}

void
dos_setting_format(const struct dos_setting *s, const struct dos_config *cfg,
    char *buf, size_t size)
{
	switch (s->which) {
	case DOS_SETTING_PREFIX_LEN:
		snprintf(buf, size, "%d", cfg->loose_prefix_len);
		break;
	case DOS_SETTING_PACK_SIZE:
		snprintf(buf, size, "%llu",
		    (unsigned long long)cfg->pack_size_target);
		break;
	case DOS_SETTING_HASH:
		snprintf(buf, size, "sha256");
		break;
	case DOS_SETTING_ID:
		snprintf(buf, size, "%s", cfg->id);
		break;
	case DOS_SETTING_COMPRESSION:
		dos_codec_format(cfg, buf, size);
		break;
	case DOS_SETTING_FORMAT:
		snprintf(buf, size, "%d", cfg->version);
		break;
	case DOS_SETTING_REMOTE_CACHE:
		if (cfg->remote_cache_size == DOS_REMOTE_CACHE_AUTO)
			snprintf(buf, size, "auto");
		else
			snprintf(buf, size, "%llu",
			    (unsigned long long)cfg->remote_cache_size);
		break;
	}
}

int
dos_setting_parse(const struct dos_setting *s, const char *value,
    struct dos_config *cfg)
{
	uint64_t size;

	switch (s->which) {
	case DOS_SETTING_PACK_SIZE:
		/* config.json holds it as a signed JSON integer. */
		if (dos_parse_size(value, &size) < 0 || size == 0 ||
		    size > INT64_MAX)
			return DOS_EINVAL;
		cfg->pack_size_target = size;
		return 0;
	case DOS_SETTING_COMPRESSION:
		return dos_codec_parse(value, &cfg->codec, &cfg->level);
	case DOS_SETTING_REMOTE_CACHE:
		if (strcmp(value, "auto") == 0)
			size = DOS_REMOTE_CACHE_AUTO;
		else if (dos_parse_size(value, &size) < 0 || size > INT64_MAX)
			return DOS_EINVAL;
		cfg->remote_cache_size = size;
		return 0;
	default:
		return DOS_EINVAL;
	}
}

int
dos_config_set(int dirfd, const struct dos_setting *s,
    const struct dos_config *cfg)
{
	char buf[32];
	json_t *v;
	int rc;

	if (s->fixed != NULL)
		return DOS_EINVAL;
	if (s->which == DOS_SETTING_PACK_SIZE) {
		v = json_integer((json_int_t)cfg->pack_size_target);
	} else if (s->which == DOS_SETTING_REMOTE_CACHE) {
		/* auto is the member's absence. */
		if (cfg->remote_cache_size == DOS_REMOTE_CACHE_AUTO) {
			rc = dos_config_set_member(dirfd, s->key, NULL);
			return rc == DOS_ENOTFOUND ? 0 : rc;
		}
		v = json_integer((json_int_t)cfg->remote_cache_size);
	} else {
		dos_codec_format(cfg, buf, sizeof buf);
		v = json_string(buf);
	}
	return dos_config_set_member(dirfd, s->key, v);
}

int
dos_config_allow_groups(int dirfd, struct dos_config *cfg)
{
	json_t *v;
	int rc;

	if (cfg->version >= DOS_CONTAINER_VERSION_GROUPS)
		return 0;
	/* NULL would remove the member: the container would be no more. */
	if ((v = json_integer(DOS_CONTAINER_VERSION_GROUPS)) == NULL)
		return DOS_ENOMEM;
	rc = dos_config_set_member(dirfd, "dos_format", v);
	if (rc == 0)
		cfg->version = DOS_CONTAINER_VERSION_GROUPS;
	return rc;
}

int
dos_config_set_member(int dirfd, const char *key, json_t *value)
{
	struct dos_config now;
	json_t *root;
	int rc;

	if ((rc = dos_config_json(dirfd, &root)) < 0) {
		json_decref(value);
		return rc;
	}
	/* What is written back must have been valid: nothing else changes. */
	if ((rc = parse_config(root, &now)) == 0) {
		if (value == NULL)
			rc = json_object_del(root, key) < 0 ? DOS_ENOTFOUND : 0;
		else
			rc = json_object_set_new(root, key, value) < 0 ?
			    DOS_ENOMEM : 0;
		value = NULL;
		if (rc == 0)
			rc = write_root(dirfd, root);
	}
	json_decref(value);
	json_decref(root);
	return rc;
}
