/*
 * s3.c: a small client of S3-compatible object storage, through libcurl.
 *
 * libcurl signs every request (CURLOPT_AWS_SIGV4); this file adds what
 * S3 servers want besides: x-amz-content-sha256, the real SHA-256 of a
 * body (which the server checks against what arrives), path-style URLs,
 * query strings already canonical (libcurl signs them as written), and
 * retries with backoff for what is transient (5xx, a refused or timed out
 * connection).  Credentials come from the environment or the AWS
 * credentials file, as the AWS tools read them, and are never kept
 * anywhere else.  The message of the last failure names the endpoint,
 * the key and the HTTP status (dos_s3_last_error).
 *
 * libcurl is loaded when the first remote is opened (dlopen), not linked:
 * dos runs most commands in itself, and loading libcurl with what it
 * needs (TLS, HTTP/2, IDN, Kerberos, LDAP...) at every start would cost
 * every call more than the command itself, for the few calls that meet an
 * evicted pack.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "dos.h"

#define ATTEMPTS 5
#define FIRST_BACKOFF_MS 100
#define CONNECT_TIMEOUT_S 10L
#define STALL_TIMEOUT_S 30L
#define BODY_KEEP 4096		/* of an error's or a listing's body, at first */
#define LIST_BODY_MAX (16 << 20)
#define IO_CHUNK (1 << 20)
/* Bodies from this size go up in parts (S3 takes at most 5 GiB at once). */
#define MULTIPART_MIN ((uint64_t)128 << 20)
#define PART_SIZE ((uint64_t)32 << 20)
#define PART_XML 192		/* of one part in the completion's body */

/* The functions of libcurl this file calls, once loaded. */
static struct libcurl {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} lc;

static const struct {
	const char *name;
	size_t at;
} lc_symbols[] = {
	{ "curl_global_init", offsetof(struct libcurl, global_init) },
	{ "curl_easy_init", offsetof(struct libcurl, easy_init) },
	{ "curl_easy_cleanup", offsetof(struct libcurl, easy_cleanup) },
	{ "curl_easy_reset", offsetof(struct libcurl, easy_reset) },
	{ "curl_easy_setopt", offsetof(struct libcurl, easy_setopt) },
	{ "curl_easy_perform", offsetof(struct libcurl, easy_perform) },
	{ "curl_easy_strerror", offsetof(struct libcurl, easy_strerror) },
	{ "curl_slist_append", offsetof(struct libcurl, slist_append) },
	{ "curl_slist_free_all", offsetof(struct libcurl, slist_free_all) },
};

static pthread_once_t lc_once = PTHREAD_ONCE_INIT;
static char lc_error[256];	/* why it could not be loaded, or "" */

static void
load_libcurl(void)
{
	void *h, *f;
	size_t i;

	if ((h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(lc_error, sizeof lc_error,
		    "remotes need libcurl: %s", dlerror());
		return;
	}
	for (i = 0; i < sizeof lc_symbols / sizeof *lc_symbols; i++) {
		if ((f = dlsym(h, lc_symbols[i].name)) == NULL) {
			snprintf(lc_error, sizeof lc_error,
			    "libcurl.so.4 lacks %s", lc_symbols[i].name);
			return;
		}
		/* POSIX: a function's address fits a void *, and back. */
		memcpy((char *)&lc + lc_symbols[i].at, &f, sizeof f);
	}
	/* Not thread-safe, hence here, once. */
	if (lc.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		snprintf(lc_error, sizeof lc_error,
		    "libcurl could not be initialised");
}

static const char empty_sha256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct dos_s3 {
	CURL *curl;
	pthread_mutex_t lock;	/* one request at a time on the handle */
	char *endpoint;		/* scheme://host[:port], no slash at the end */
	char *bucket, *prefix;	/* prefix: "" or ending in '/' */
	char *key_id, *secret, *token;
	char sigv4[128];
};

/* What a request sends and where its answer goes. */
struct exchange {
	const char *method;
	const char *key;	/* below the prefix; NULL: the bucket */
	const char *query;	/* canonical, without '?'; may be NULL */
	const char *sha256;	/* of the body; NULL: of none */
	const char *meta_sha256;	/* stored with the object, if not NULL */
	const char *range;	/* "bytes=a-b", or NULL */
	/* The body sent: len bytes of in_buf, or of fd from off. */
	const char *in_buf;
	int in_fd;
	uint64_t in_off, in_len, in_pos;
	/* The answer: into out or to out_fn (at most out_size), else to out_fd. */
	unsigned char *out;
	dos_s3_body_fn *out_fn;
	void *out_data;
	size_t out_size, out_len;
	int out_fd, overflow;
	/* The whole answer into a growing buffer (listings, errors). */
	char *body;
	size_t body_len, body_alloc, body_max;
	/* From the answer's headers. */
	char got_sha256[DOS_HEXSZ + 1];
	char etag[128];
	uint64_t content_length;
	long status;
};

/* ---- credentials and endpoint ---- */

static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/*
 * The keys of profile $AWS_PROFILE (else "default") of
 * $AWS_SHARED_CREDENTIALS_FILE (else ~/.aws/credentials).
 */
static int
read_credentials_file(struct dos_s3 *s3)
{
	const char *profile = getenv("AWS_PROFILE"), *file, *home;
	char path[4096], line[1024], *l, *eq, *k, *v, **slot;
	int in_profile = 0;
	FILE *f;

	if (profile == NULL || *profile == '\0')
		profile = "default";
	if ((file = getenv("AWS_SHARED_CREDENTIALS_FILE")) == NULL) {
		if ((home = getenv("HOME")) == NULL)
			return 0;
		snprintf(path, sizeof path, "%s/.aws/credentials", home);
		file = path;
	}
	if ((f = fopen(file, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		l = trim(line);
		if (*l == '[') {
			l++;
			if ((eq = strchr(l, ']')) != NULL)
				*eq = '\0';
			in_profile = strcmp(trim(l), profile) == 0;
			continue;
		}
		if (!in_profile || (eq = strchr(l, '=')) == NULL)
			continue;
		*eq = '\0';
		k = trim(l);
		v = trim(eq + 1);
		slot = strcmp(k, "aws_access_key_id") == 0 ? &s3->key_id :
		    strcmp(k, "aws_secret_access_key") == 0 ? &s3->secret :
		    strcmp(k, "aws_session_token") == 0 ? &s3->token : NULL;
		if (slot != NULL && *slot == NULL &&
		    (*slot = strdup(v)) == NULL) {
			fclose(f);
			return DOS_ENOMEM;
		}
	}
	fclose(f);
	return 0;
}

static int
find_credentials(struct dos_s3 *s3)
{
	const char *id = getenv("AWS_ACCESS_KEY_ID");
	const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = getenv("AWS_SESSION_TOKEN");
	int rc;

	if (id != NULL && *id != '\0' && secret != NULL) {
		if ((s3->key_id = strdup(id)) == NULL ||
		    (s3->secret = strdup(secret)) == NULL ||
		    (token != NULL && (s3->token = strdup(token)) == NULL))
			return DOS_ENOMEM;
		return 0;
	}
	if ((rc = read_credentials_file(s3)) < 0)
		return rc;
	if (s3->key_id == NULL || s3->secret == NULL) {
		dos_s3_set_error("no credentials: set AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY, or write them to ~/.aws/credentials");
		return DOS_EREMOTE;
	}
	return 0;
}

/* Whether host (of an http:// URL) is this machine. */
static int
is_loopback(const char *host, size_t len)
{
	return (len >= 4 && strncmp(host, "127.", 4) == 0) ||
	    (len == 9 && strncmp(host, "localhost", 9) == 0) ||
	    (len == 5 && strncmp(host, "[::1]", 5) == 0);
}

int
dos_s3_check_endpoint(const char *endpoint, int allow_http)
{
	const char *host, *end;

	if (strncmp(endpoint, "https://", 8) == 0)
		return endpoint[8] != '\0' ? 0 : DOS_EINVAL;
	if (strncmp(endpoint, "http://", 7) != 0) {
		dos_s3_set_error("%s: not an http:// or https:// URL", endpoint);
		return DOS_EINVAL;
	}
	host = endpoint + 7;
	if (*host == '[')
		end = strchr(host, ']') != NULL ? strchr(host, ']') + 1 : host;
	else
		end = host + strcspn(host, ":/");
	if (end == host) {
		dos_s3_set_error("%s: no host", endpoint);
		return DOS_EINVAL;
	}
	if (!allow_http && !is_loopback(host, (size_t)(end - host))) {
		dos_s3_set_error("%s: plain http to another machine; use https, or "
		    "allow it explicitly", endpoint);
		return DOS_EINVAL;
	}
	return 0;
}

int
dos_s3_open(const struct dos_s3_params *p, struct dos_s3 **out)
{
	const char *region = p->region, *endpoint = p->endpoint;
	char def[256];
	struct dos_s3 *s3;
	size_t n;
	int rc;

	*out = NULL;
	if (region == NULL || *region == '\0')
		region = getenv("AWS_REGION");
	if (region == NULL || *region == '\0')
		region = getenv("AWS_DEFAULT_REGION");
	if (region == NULL || *region == '\0')
		region = "us-east-1";
	if (endpoint == NULL || *endpoint == '\0')
		endpoint = getenv("AWS_ENDPOINT_URL");
	if (endpoint == NULL || *endpoint == '\0') {
		snprintf(def, sizeof def, "https://s3.%s.amazonaws.com", region);
		endpoint = def;
	}
	if ((rc = dos_s3_check_endpoint(endpoint, p->allow_http)) < 0)
		return DOS_EREMOTE;
	pthread_once(&lc_once, load_libcurl);
	if (lc_error[0] != '\0') {
		dos_s3_set_error("%s", lc_error);
		return DOS_EREMOTE;
	}
	if ((s3 = calloc(1, sizeof *s3)) == NULL)
		return DOS_ENOMEM;
	pthread_mutex_init(&s3->lock, NULL);
	n = strlen(p->prefix);
	if ((s3->endpoint = strdup(endpoint)) == NULL ||
	    (s3->bucket = strdup(p->bucket)) == NULL ||
	    (s3->prefix = malloc(n + 2)) == NULL ||
	    (s3->curl = lc.easy_init()) == NULL) {
		dos_s3_close(s3);
		return DOS_ENOMEM;
	}
	n = strlen(s3->endpoint);
	while (n > 0 && s3->endpoint[n - 1] == '/')
		s3->endpoint[--n] = '\0';
	strcpy(s3->prefix, p->prefix);
	if (s3->prefix[0] != '\0' &&
	    s3->prefix[strlen(s3->prefix) - 1] != '/')
		strcat(s3->prefix, "/");
	snprintf(s3->sigv4, sizeof s3->sigv4, "aws:amz:%s:s3", region);
	if ((rc = find_credentials(s3)) < 0) {
		dos_s3_close(s3);
		return rc;
	}
	*out = s3;
	return 0;
}

static void
forget(char *secret)
{
	if (secret != NULL) {
		memset(secret, 0, strlen(secret));
		free(secret);
	}
}

void
dos_s3_close(struct dos_s3 *s3)
{
	if (s3 == NULL)
		return;
	if (s3->curl != NULL)
		lc.easy_cleanup(s3->curl);
	pthread_mutex_destroy(&s3->lock);
	free(s3->endpoint);
	free(s3->bucket);
	free(s3->prefix);
	forget(s3->key_id);
	forget(s3->secret);
	forget(s3->token);
	free(s3);
}

const char *
dos_s3_endpoint(const struct dos_s3 *s3)
{
	return s3->endpoint;
}

/* ---- requests ---- */

static size_t
send_body(char *buf, size_t size, size_t nitems, void *data)
{
	struct exchange *x = data;
	size_t want = size * nitems;
	ssize_t n;

	if (want > x->in_len - x->in_pos)
		want = (size_t)(x->in_len - x->in_pos);
	if (want == 0)
		return 0;
	if (x->in_buf != NULL) {
		memcpy(buf, x->in_buf + x->in_pos, want);
		x->in_pos += want;
		return want;
	}
	do
		n = pread(x->in_fd, buf, want, (off_t)(x->in_off + x->in_pos));
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return CURL_READFUNC_ABORT;	/* the file shrank under us */
	x->in_pos += (uint64_t)n;
	return (size_t)n;
}

static int
rewind_body(void *data, curl_off_t offset, int origin)
{
	struct exchange *x = data;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->in_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->in_pos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int
keep_body(struct exchange *x, const char *buf, size_t len)
{
	size_t want;
	char *grown;

	if (x->body_len + len > x->body_max)
		return -1;
	if (x->body_len + len + 1 > x->body_alloc) {
		want = x->body_alloc > 0 ? x->body_alloc : BODY_KEEP;
		while (want < x->body_len + len + 1)
			want *= 2;
		if ((grown = realloc(x->body, want)) == NULL)
			return -1;
		x->body = grown;
		x->body_alloc = want;
	}
	memcpy(x->body + x->body_len, buf, len);
	x->body_len += len;
	x->body[x->body_len] = '\0';
	return 0;
}

static size_t
receive_body(char *buf, size_t size, size_t nitems, void *data)
{
	struct exchange *x = data;
	size_t len = size * nitems;

	/* A failure's body is its explanation, never the data asked for. */
	if (x->status >= 300 || (x->out == NULL && x->out_fn == NULL &&
	    x->out_fd < 0)) {
		if (keep_body(x, buf, len) < 0 && x->status < 300)
			return 0;
		return len;
	}
	if (x->out != NULL || x->out_fn != NULL) {
		if (len > x->out_size - x->out_len) {
			x->overflow = 1;
			return 0;
		}
		if (x->out != NULL)
			memcpy(x->out + x->out_len, buf, len);
		else
			x->out_fn(x->out_data, x->out_len, buf, len);
		x->out_len += len;
		return len;
	}
	if (dos_write_all(x->out_fd, buf, len) < 0)
		return 0;
	x->out_len += len;
	return len;
}

/* The status line comes first: it says where the body goes. */
static size_t
receive_header(char *buf, size_t size, size_t nitems, void *data)
{
	struct exchange *x = data;
	size_t len = size * nitems, n;
	static const char meta[] = "x-amz-meta-sha256:";
	static const char length[] = "content-length:";
	static const char etag[] = "etag:";
	unsigned long long ull;
	int code;

	if (len > 9 && strncmp(buf, "HTTP/", 5) == 0 &&
	    sscanf(buf, "HTTP/%*s %d", &code) == 1)
		x->status = code;
	else if (len > sizeof length - 1 &&
	    strncasecmp(buf, length, sizeof length - 1) == 0 &&
	    sscanf(buf + sizeof length - 1, " %llu", &ull) == 1)
		x->content_length = ull;
	else if (len > sizeof etag - 1 &&
	    strncasecmp(buf, etag, sizeof etag - 1) == 0 &&
	    sscanf(buf + sizeof etag - 1, " %127s", x->etag) == 1)
		;
	else if (len > sizeof meta - 1 &&
	    strncasecmp(buf, meta, sizeof meta - 1) == 0) {
		n = sizeof meta - 1;
		while (n < len && buf[n] == ' ')
			n++;
		if (len - n >= DOS_HEXSZ) {
			memcpy(x->got_sha256, buf + n, DOS_HEXSZ);
			x->got_sha256[DOS_HEXSZ] = '\0';
		}
	}
	return len;
}

/* The text of <tag>...</tag> in an XML body, into out; 0 if absent. */
static int
xml_value(const char *body, const char *tag, char *out, size_t size)
{
	char open[64], close_[64];
	const char *a, *b;
	size_t n;

	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close_, sizeof close_, "</%s>", tag);
	if (body == NULL || (a = strstr(body, open)) == NULL)
		return 0;
	a += strlen(open);
	if ((b = strstr(a, close_)) == NULL)
		return 0;
	n = (size_t)(b - a) < size - 1 ? (size_t)(b - a) : size - 1;
	memcpy(out, a, n);
	out[n] = '\0';
	return 1;
}

static int
transient(CURLcode cc, long status)
{
	if (cc == CURLE_OK)
		return status >= 500 || status == 429;
	return cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT ||
	    cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
	    cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE;
}

static void
backoff(int attempt)
{
	struct timespec ts;
	long ms = FIRST_BACKOFF_MS << attempt;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
set_request(struct dos_s3 *s3, struct exchange *x, const char *url,
    struct curl_slist *headers)
{
	CURL *c = s3->curl;

	lc.easy_reset(c);
	lc.easy_setopt(c, CURLOPT_URL, url);
	lc.easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
	/* Apart: tempauth's access keys hold a colon. */
	lc.easy_setopt(c, CURLOPT_USERNAME, s3->key_id);
	lc.easy_setopt(c, CURLOPT_PASSWORD, s3->secret);
	lc.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	lc.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	lc.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	lc.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	lc.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, STALL_TIMEOUT_S);
	lc.easy_setopt(c, CURLOPT_HEADERFUNCTION, receive_header);
	lc.easy_setopt(c, CURLOPT_HEADERDATA, x);
	lc.easy_setopt(c, CURLOPT_WRITEFUNCTION, receive_body);
	lc.easy_setopt(c, CURLOPT_WRITEDATA, x);
	if (x->in_fd >= 0 || x->in_buf != NULL) {
		lc.easy_setopt(c, CURLOPT_UPLOAD, 1L);
		lc.easy_setopt(c, CURLOPT_READFUNCTION, send_body);
		lc.easy_setopt(c, CURLOPT_READDATA, x);
		lc.easy_setopt(c, CURLOPT_SEEKFUNCTION, rewind_body);
		lc.easy_setopt(c, CURLOPT_SEEKDATA, x);
		lc.easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)x->in_len);
		lc.easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, (long)IO_CHUNK);
	}
	if (strcmp(x->method, "HEAD") == 0)
		lc.easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(x->method, "GET") != 0 && strcmp(x->method, "PUT") != 0)
		lc.easy_setopt(c, CURLOPT_CUSTOMREQUEST, x->method);
	if (strcmp(x->method, "GET") == 0)
		lc.easy_setopt(c, CURLOPT_BUFFERSIZE, (long)CURL_MAX_READ_SIZE);
}

static int
add_header(struct curl_slist **list, const char *name, const char *value)
{
	char line[512];
	struct curl_slist *l;

	snprintf(line, sizeof line, "%s: %s", name, value);
	if ((l = lc.slist_append(*list, line)) == NULL)
		return DOS_ENOMEM;
	*list = l;
	return 0;
}

/*
 * Run x, again while it fails in a way that may pass: 0 with x->status
 * (any status: the caller says which it wants), or DOS_EREMOTE when no
 * answer came.
 */
static int
exchange(struct dos_s3 *s3, struct exchange *x)
{
	struct curl_slist *headers = NULL;
	char url[2048];
	CURLcode cc = CURLE_OK;
	int attempt, rc = 0;

	snprintf(url, sizeof url, "%s/%s%s%s%s%s%s", s3->endpoint, s3->bucket,
	    x->key != NULL ? "/" : "", x->key != NULL ? s3->prefix : "",
	    x->key != NULL ? x->key : "", x->query != NULL ? "?" : "",
	    x->query != NULL ? x->query : "");
	if (add_header(&headers, "x-amz-content-sha256",
	    x->sha256 != NULL ? x->sha256 : empty_sha256) < 0 ||
	    (x->meta_sha256 != NULL &&
	    add_header(&headers, "x-amz-meta-sha256", x->meta_sha256) < 0) ||
	    (x->range != NULL && add_header(&headers, "Range", x->range) < 0) ||
	    (s3->token != NULL &&
	    add_header(&headers, "x-amz-security-token", s3->token) < 0)) {
		lc.slist_free_all(headers);
		return DOS_ENOMEM;
	}
	pthread_mutex_lock(&s3->lock);
	for (attempt = 0; attempt < ATTEMPTS; attempt++) {
		if (attempt > 0)
			backoff(attempt - 1);
		x->in_pos = 0;
		x->status = 0;
		x->content_length = 0;
		x->got_sha256[0] = x->etag[0] = '\0';
		x->out_len = x->body_len = 0;
		x->overflow = 0;
		if (x->out_fd >= 0 && (ftruncate(x->out_fd, 0) < 0 ||
		    lseek(x->out_fd, 0, SEEK_SET) < 0)) {
			cc = CURLE_WRITE_ERROR;
			break;
		}
		set_request(s3, x, url, headers);
		cc = lc.easy_perform(s3->curl);
		if (!transient(cc, x->status))
			break;
	}
	pthread_mutex_unlock(&s3->lock);
	lc.slist_free_all(headers);
	if (cc == CURLE_WRITE_ERROR && x->overflow) {
		dos_s3_set_error("%s %s: the answer is longer than asked for", x->method,
		    url);
		rc = DOS_ECORRUPT;
	} else if (cc != CURLE_OK) {
		dos_s3_set_error("%s %s: %s", x->method, url, lc.easy_strerror(cc));
		rc = DOS_EREMOTE;
	}
	if (rc == 0 && x->status >= 300) {
		char code[128] = "", message[256] = "";

		xml_value(x->body, "Code", code, sizeof code);
		xml_value(x->body, "Message", message, sizeof message);
		dos_s3_set_error("%s %s: HTTP %ld%s%s%s%s", x->method, url, x->status,
		    code[0] != '\0' ? " " : "", code,
		    message[0] != '\0' ? ": " : "", message);
	}
	return rc;
}

static int
status_rc(const struct exchange *x)
{
	if (x->status == 404)
		return DOS_ENOTFOUND;
	return x->status >= 200 && x->status < 300 ? 0 : DOS_EREMOTE;
}

static void
exchange_init(struct exchange *x, const char *method, const char *key)
{
	memset(x, 0, sizeof *x);
	x->method = method;
	x->key = key;
	x->in_fd = x->out_fd = -1;
	x->body_max = BODY_KEEP;
}

int
dos_sha256_range(int fd, uint64_t off, uint64_t len, char hex[DOS_HEXSZ + 1])
{
	struct dos_hasher h;
	struct dos_oid oid;
	unsigned char *buf;
	ssize_t n;
	size_t want;
	int rc;

	if ((buf = malloc(IO_CHUNK)) == NULL)
		return DOS_ENOMEM;
	if ((rc = dos_hasher_init(&h)) < 0) {
		free(buf);
		return rc;
	}
	while (len > 0) {
		want = len < IO_CHUNK ? (size_t)len : IO_CHUNK;
		do
			n = pread(fd, buf, want, (off_t)off);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			rc = n < 0 ? DOS_EIO : DOS_ECORRUPT;
			break;
		}
		if ((rc = dos_hasher_update(&h, buf, (size_t)n)) < 0)
			break;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	if (rc == 0 && (rc = dos_hasher_final(&h, &oid)) == 0)
		dos_oid_to_hex(&oid, hex);
	dos_hasher_release(&h);
	free(buf);
	return rc;
}

/* Run x and free what it kept: 0 for a 2xx status. */
static int
run(struct dos_s3 *s3, struct exchange *x)
{
	int rc;

	if ((rc = exchange(s3, x)) == 0)
		rc = status_rc(x);
	/* A 200 may still carry an error (CompleteMultipartUpload). */
	if (rc == 0 && x->body != NULL && strstr(x->body, "<Error>") != NULL) {
		dos_s3_set_error("%s %s: %s", x->method, x->key, x->body);
		rc = DOS_EREMOTE;
	}
	free(x->body);
	x->body = NULL;
	return rc;
}

static int
sha256_hex(const void *buf, size_t len, char hex[DOS_HEXSZ + 1])
{
	struct dos_hasher h;
	struct dos_oid oid;
	int rc;

	if ((rc = dos_hasher_init(&h)) == 0 &&
	    (rc = dos_hasher_update(&h, buf, len)) == 0 &&
	    (rc = dos_hasher_final(&h, &oid)) == 0)
		dos_oid_to_hex(&oid, hex);
	dos_hasher_release(&h);
	return rc;
}

/* The parts of a multipart upload of id, and its completion. */
static int
put_parts(struct dos_s3 *s3, const char *key, int fd, uint64_t len,
    const char *id)
{
	uint64_t off, parts = (len + PART_SIZE - 1) / PART_SIZE, i;
	char query[1100], sha[DOS_HEXSZ + 1], *xml;
	struct exchange x;
	size_t n = 0, size = (size_t)parts * PART_XML + 128;
	int rc = 0;

	if ((xml = malloc(size)) == NULL)
		return DOS_ENOMEM;
	n += (size_t)snprintf(xml, size, "<CompleteMultipartUpload>");
	for (i = 0; i < parts && rc == 0; i++) {
		off = i * PART_SIZE;
		exchange_init(&x, "PUT", key);
		x.in_fd = fd;
		x.in_off = off;
		x.in_len = len - off < PART_SIZE ? len - off : PART_SIZE;
		snprintf(query, sizeof query, "partNumber=%llu&uploadId=%s",
		    (unsigned long long)i + 1, id);
		x.query = query;
		x.sha256 = sha;
		if ((rc = dos_sha256_range(fd, off, x.in_len, sha)) < 0 ||
		    (rc = run(s3, &x)) < 0)
			break;
		n += (size_t)snprintf(xml + n, size - n, "<Part><PartNumber>"
		    "%llu</PartNumber><ETag>%s</ETag></Part>",
		    (unsigned long long)i + 1, x.etag);
	}
	if (rc == 0) {
		n += (size_t)snprintf(xml + n, size - n,
		    "</CompleteMultipartUpload>");
		exchange_init(&x, "POST", key);
		snprintf(query, sizeof query, "uploadId=%s", id);
		x.query = query;
		x.in_buf = xml;
		x.in_len = n;
		x.sha256 = sha;
		if ((rc = sha256_hex(xml, n, sha)) == 0)
			rc = run(s3, &x);
	}
	free(xml);
	return rc;
}

static void query_encode(const char *s, char *out, size_t size);

/*
 * Up in parts, each with its own SHA-256; the whole file's is stored with
 * the object.  A failed upload is aborted, so that its parts do not stay.
 */
static int
put_multipart(struct dos_s3 *s3, const char *key, int fd, uint64_t len,
    const char *sha256)
{
	char id[512], eid[1024], query[1100], saved[sizeof query + 768];
	struct exchange x;
	int rc;

	exchange_init(&x, "POST", key);
	x.query = "uploads=";
	x.meta_sha256 = sha256;
	x.in_buf = "";
	if ((rc = exchange(s3, &x)) == 0)
		rc = status_rc(&x);
	if (rc == 0 && !xml_value(x.body, "UploadId", id, sizeof id)) {
		dos_s3_set_error("POST %s%s?uploads: no UploadId in the answer",
		    s3->prefix, key);
		rc = DOS_EREMOTE;
	}
	free(x.body);
	if (rc < 0)
		return rc;
	query_encode(id, eid, sizeof eid);
	if ((rc = put_parts(s3, key, fd, len, eid)) < 0) {
		snprintf(saved, sizeof saved, "%s", dos_s3_last_error());
		exchange_init(&x, "DELETE", key);
		snprintf(query, sizeof query, "uploadId=%s", eid);
		x.query = query;
		run(s3, &x);
		dos_s3_set_error("%s", saved);
	}
	return rc;
}

int
dos_s3_put(struct dos_s3 *s3, const char *key, int fd, uint64_t len,
    char sha256[DOS_HEXSZ + 1])
{
	struct exchange x;
	int rc;

	if ((rc = dos_sha256_range(fd, 0, len, sha256)) < 0)
		return rc;
	if (len >= MULTIPART_MIN)
		return put_multipart(s3, key, fd, len, sha256);
	exchange_init(&x, "PUT", key);
	x.sha256 = x.meta_sha256 = sha256;
	x.in_fd = fd;
	x.in_len = len;
	if ((rc = exchange(s3, &x)) == 0)
		rc = status_rc(&x);
	free(x.body);
	return rc;
}

/*
 * The GET of bytes [off, off + len) of key, x saying where they go; *got
 * says how many came.
 */
static int
get_range(struct dos_s3 *s3, const char *key, uint64_t off, size_t len,
    struct exchange *x, size_t *got)
{
	char range[64];
	int rc;

	*got = 0;
	if (len == 0)
		return 0;
	snprintf(range, sizeof range, "bytes=%llu-%llu",
	    (unsigned long long)off, (unsigned long long)(off + len - 1));
	x->range = range;
	x->out_size = len;
	if ((rc = exchange(s3, x)) == 0)
		rc = status_rc(x);
	/* 200 instead of 206 would be the whole object, not the range. */
	if (rc == 0 && x->status != 206 && !(x->status == 200 && off == 0)) {
		dos_s3_set_error("GET %s%s: HTTP %ld to a range request", s3->prefix,
		    key, x->status);
		rc = DOS_ECORRUPT;
	}
	*got = x->out_len;
	free(x->body);
	return rc;
}

int
dos_s3_get(struct dos_s3 *s3, const char *key, uint64_t off, size_t len,
    void *buf, size_t *got)
{
	struct exchange x;

	exchange_init(&x, "GET", key);
	x.out = buf;
	return get_range(s3, key, off, len, &x, got);
}

int
dos_s3_get_each(struct dos_s3 *s3, const char *key, uint64_t off,
    size_t len, dos_s3_body_fn *fn, void *data, size_t *got)
{
	struct exchange x;

	exchange_init(&x, "GET", key);
	x.out_fn = fn;
	x.out_data = data;
	return get_range(s3, key, off, len, &x, got);
}

int
dos_s3_get_fd(struct dos_s3 *s3, const char *key, int fd)
{
	struct exchange x;
	int rc;

	exchange_init(&x, "GET", key);
	x.out_fd = fd;
	if ((rc = exchange(s3, &x)) == 0)
		rc = status_rc(&x);
	free(x.body);
	return rc;
}

int
dos_s3_head(struct dos_s3 *s3, const char *key, uint64_t *size,
    char sha256[DOS_HEXSZ + 1])
{
	struct exchange x;
	int rc;

	exchange_init(&x, "HEAD", key);
	if ((rc = exchange(s3, &x)) == 0)
		rc = status_rc(&x);
	if (rc == 0) {
		*size = x.content_length;
		memcpy(sha256, x.got_sha256, sizeof x.got_sha256);
	}
	free(x.body);
	return rc;
}

/* s percent-encoded as SigV4 wants a query value: all but A-Za-z0-9-._~ */
static void
query_encode(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s != '\0' && n + 4 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL) {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	out[n] = '\0';
}

int
dos_s3_list(struct dos_s3 *s3, const char *under, dos_s3_list_fn *fn,
    void *data)
{
	char full[1024], prefix[3072], token[1024] = "", etoken[3072];
	char query[8192], key[1024], size[32];
	const char *p, *end;
	struct exchange x;
	size_t plen = strlen(s3->prefix);
	int rc;

	snprintf(full, sizeof full, "%s%s", s3->prefix, under);
	query_encode(full, prefix, sizeof prefix);
	do {
		/* Names in order, as signed. */
		query_encode(token, etoken, sizeof etoken);
		snprintf(query, sizeof query, "%s%s%slist-type=2&prefix=%s",
		    token[0] != '\0' ? "continuation-token=" : "", etoken,
		    token[0] != '\0' ? "&" : "", prefix);
		exchange_init(&x, "GET", NULL);
		x.query = query;
		x.body_max = LIST_BODY_MAX;
		if ((rc = exchange(s3, &x)) == 0)
			rc = status_rc(&x);
		for (p = x.body; rc == 0 && p != NULL &&
		    (p = strstr(p, "<Contents>")) != NULL; p = end) {
			if ((end = strstr(p, "</Contents>")) == NULL)
				break;
			if (!xml_value(p, "Key", key, sizeof key) ||
			    !xml_value(p, "Size", size, sizeof size) ||
			    strncmp(key, s3->prefix, plen) != 0)
				continue;
			rc = fn(key + plen, strtoull(size, NULL, 10), data);
		}
		token[0] = '\0';
		if (rc == 0 && x.body != NULL &&
		    strstr(x.body, "<IsTruncated>true") != NULL &&
		    !xml_value(x.body, "NextContinuationToken", token,
		    sizeof token)) {
			dos_s3_set_error("GET %s/%s: a truncated listing without a "
			    "continuation token", s3->endpoint, s3->bucket);
			rc = DOS_EREMOTE;
		}
		free(x.body);
	} while (rc == 0 && token[0] != '\0');
	return rc;
}
